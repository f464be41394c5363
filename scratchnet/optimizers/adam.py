"""Adam and AdamW, as Keras 3's ``keras/src/optimizers/adam.py`` and ``adamw.py``."""

from __future__ import annotations

import numpy as np

from scratchnet import kernels
from scratchnet.optimizers.base import Optimizer, _fraction, _positive


class Adam(Optimizer):
    """Adam with Keras' "epsilon hat" form: bias correction folded into the step size ``alpha``.

    ``t = iterations + 1``
    ``alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)``
    ``m <- m + (g - m) * (1 - beta_1)``
    ``v <- v + (g**2 - v) * (1 - beta_2)``
    ``v_hat <- max(v_hat, v)``, and ``v_hat`` replaces ``v`` below   (only with ``amsgrad=True``)
    ``w <- w - (m * alpha) / (sqrt(v) + epsilon)``
    All in the parameter's dtype (float32 by default), as Keras computes it.
    """

    def __init__(self, learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, amsgrad: bool = False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        where = type(self).__name__
        self.beta_1 = _fraction(beta_1, "beta_1", where, upper_open=True)
        self.beta_2 = _fraction(beta_2, "beta_2", where, upper_open=True)
        self.epsilon = _positive(epsilon, "epsilon", where)
        self.amsgrad = bool(amsgrad)

    def update(self, param, grad, lr):
        w = param.value
        f = w.dtype.type  # compute in the parameter's precision
        m = self.slot(param, "m")
        v = self.slot(param, "v")
        v_hat = self.slot(param, "v_hat") if self.amsgrad else None
        t = f(self.iterations + 1)
        beta_1, beta_2 = f(self.beta_1), f(self.beta_2)
        alpha = f(lr) * np.sqrt(f(1) - np.power(beta_2, t)) / (f(1) - np.power(beta_1, t))
        # m, v (and v_hat) and w updated in place, one formula a line: kernels/optimizer_steps.py
        kernels.adam_update(w, grad, m, v, v_hat, alpha, f(1 - self.beta_1), f(1 - self.beta_2),
                            f(self.epsilon))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019).

    Before each Adam step, with the same ``lr`` (scheduled or not):
    ``w <- w - w * weight_decay * lr``
    then the Adam update above. The decay is the base optimizer's ``weight_decay`` step, so in
    Keras 3 (and here) ``AdamW(weight_decay=x)`` computes exactly what ``Adam(weight_decay=x)``
    does; AdamW only makes it the default (0.004) and refuses ``None``.
    """

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7, amsgrad: bool = False, **kwargs):
        if weight_decay is None:
            raise ValueError("AdamW: argument `weight_decay` must be a float. "
                             "Received: weight_decay=None")
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                         epsilon=epsilon, amsgrad=amsgrad, weight_decay=weight_decay, **kwargs)
