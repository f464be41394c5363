"""Nadam, as Keras 3's ``keras/src/optimizers/nadam.py``."""

from __future__ import annotations

import numpy as np

from scratchnet.optimizers.base import Optimizer, _fraction, _positive


class Nadam(Optimizer):
    """Adam with Nesterov momentum (Dozat, 2015), with Keras' momentum schedule ``u_t``.

    ``t = iterations + 1``
    ``u_t = beta_1 * (1 - 0.5 * 0.96**t)``,  ``u_next = beta_1 * (1 - 0.5 * 0.96**(t + 1))``
    ``u_product <- u_product * u_t``      once a step, shared by all parameters (starts at 1),
                                          so ``u_product = u_1 * u_2 * ... * u_t``
    ``m <- m + (g - m) * (1 - beta_1)``
    ``v <- v + (g**2 - v) * (1 - beta_2)``
    ``m_hat = u_next * m / (1 - u_product * u_next) + (1 - u_t) * g / (1 - u_product)``
    ``v_hat = v / (1 - beta_2**t)``
    ``w <- w - m_hat * lr / (sqrt(v_hat) + epsilon)``
    All in the parameter's dtype (float32 by default), as Keras. ``u_product`` is kept in
    ``state["u_product"]`` (Keras' ``_u_product`` variable), so it is saved with the rest.
    """

    def __init__(self, learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1 = _fraction(beta_1, "beta_1", "Nadam", upper_open=True)
        self.beta_2 = _fraction(beta_2, "beta_2", "Nadam", upper_open=True)
        self.epsilon = _positive(epsilon, "epsilon", "Nadam")

    def update_step(self, params, grads):
        """Advance the shared ``u_product`` once per update (in the first parameter's dtype),
        then step; under gradient accumulation only the updating calls advance it, as in Keras."""
        if params:
            f = params[0].value.dtype.type
            t = f(self.iterations + 1)
            u_product = self.state.get("u_product", f(1))
            self.state["u_product"] = u_product * f(self.beta_1) * (
                f(1) - f(0.5) * np.power(f(0.96), t))
        super().update_step(params, grads)

    def update(self, param, grad, lr):
        w = param.value
        f = w.dtype.type  # compute in the parameter's precision
        t = f(self.iterations + 1)
        beta_1, beta_2 = f(self.beta_1), f(self.beta_2)
        u_t = beta_1 * (f(1) - f(0.5) * np.power(f(0.96), t))
        u_next = beta_1 * (f(1) - f(0.5) * np.power(f(0.96), f(self.iterations + 2)))
        u_product = f(self.state["u_product"])
        u_product_next = u_product * u_next
        m = self.slot(param, "m")
        v = self.slot(param, "v")
        m += (grad - m) * (f(1) - beta_1)
        v += (np.square(grad) - v) * (f(1) - beta_2)
        m_hat = u_next * m / (f(1) - u_product_next) + (f(1) - u_t) * grad / (f(1) - u_product)
        v_hat = v / (f(1) - np.power(beta_2, t))
        w -= m_hat * f(lr) / (np.sqrt(v_hat) + f(self.epsilon))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}
