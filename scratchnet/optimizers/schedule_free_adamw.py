"""ScheduleFreeAdamW, as Keras 3's ``keras/src/optimizers/schedule_free_adamw.py``."""

from __future__ import annotations

import numbers

import numpy as np

from scratchnet.optimizers.base import Optimizer, _fraction, _positive


class ScheduleFreeAdamW(Optimizer):
    """Schedule-Free AdamW (Defazio et al., 2024): no learning-rate schedule, an average instead.

    Three sequences per weight: ``z`` (slot ``momentum``, where the gradient steps land),
    ``x`` (the running average of the ``z``), and ``y``, the model's weight itself, an
    interpolation of the two. With ``t = iterations + 1``::

        lr  <- lr * min(t / warmup_steps, 1)                    (only with warmup_steps > 0)
        v   <- v + (g**2 - v) * (1 - beta_2)                    (slot ``velocity``)
        z   <- z - lr * g / (sqrt(v / (1 - beta_2**t)) + epsilon)
        x   =  (y - (1 - beta_1) * z) / beta_1                  (recovered, not stored)
        x   <- (1 - 1/t) * x + (1/t) * z                        (the average of z_1 .. z_t)
        y   <- (1 - beta_1) * z + beta_1 * x                    (the new weight)

    All in the parameter's dtype. As in Keras 3.15.1, the model holds ``y`` in training and in
    ``evaluate``/``predict`` alike: nothing swaps ``x`` in for evaluation (the reference
    implementation's ``optimizer.eval()``), so the numbers are Keras'. Weight decay
    (``weight_decay=``) is the base optimizer's, on ``y`` before the step.

    Two Keras quirks matched. ``x`` is recovered from the *updated* ``z``: Keras keeps
    ``momentum_old = momentum.value``, which in TensorFlow is the variable itself, not a copy of
    its value, so it reads the value after ``z``'s update. And ``z`` starts at 0, not at the
    weight: Keras' ``build`` copies the weights into it, but ``fit`` and ``train_on_batch``
    build the optimizer while tracing their ``tf.function``, where that copy is lost, so Keras'
    default training starts from ``z = 0`` (its first step then sets every weight to about
    ``-lr * sign(g)``); only an eager run (``run_eagerly=True``, a hand-written loop) starts from
    the weights. scratchnet gives the default's numbers.
    """

    def __init__(self, learning_rate=0.0025, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-8, warmup_steps: int = 0, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        where = "ScheduleFreeAdamW"
        self.beta_1 = _fraction(beta_1, "beta_1", where)
        if self.beta_1 == 0:  # x is recovered by dividing by beta_1
            raise ValueError(f"{where}: expected beta_1 to be a float in (0, 1], received {beta_1!r}")
        self.beta_2 = _fraction(beta_2, "beta_2", where, upper_open=True)
        self.epsilon = _positive(epsilon, "epsilon", where)
        if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, numbers.Integral) \
                or warmup_steps < 0:
            raise ValueError(f"{where}: expected warmup_steps to be an integer >= 0, received "
                             f"{warmup_steps!r}")
        self.warmup_steps = int(warmup_steps)

    def update(self, param, grad, lr):
        y = param.value
        f = y.dtype.type  # compute in the parameter's precision
        t = f(self.iterations + 1)
        beta_1, beta_2 = f(self.beta_1), f(self.beta_2)
        lr = f(lr)
        if self.warmup_steps > 0:
            lr = lr * np.minimum(t / f(self.warmup_steps), f(1))
        z = self.slot(param, "momentum")
        v = self.slot(param, "velocity")
        v += (np.square(grad) - v) * (f(1) - beta_2)
        denom = np.sqrt(v / (f(1) - np.power(beta_2, t))) + f(self.epsilon)
        z -= lr * grad / denom
        weight = f(1) / t
        x = (y - (f(1) - beta_1) * z) / beta_1  # (Keras' z_old is the variable: the new z)
        x = (f(1) - weight) * x + weight * z
        y[...] = (f(1) - beta_1) * z + beta_1 * x

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "warmup_steps": self.warmup_steps}
