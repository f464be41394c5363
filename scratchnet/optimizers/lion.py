"""Lion, as Keras 3's ``keras/src/optimizers/lion.py``."""

from __future__ import annotations

import numbers

import numpy as np

from scratchnet.optimizers.base import Optimizer, _fraction


class Lion(Optimizer):
    """EvoLved Sign Momentum (Chen et al., 2023): every step has size ``lr`` in each coordinate.

    ``w <- w - lr * sign(beta_1 * m + (1 - beta_1) * g)``     (uses ``m`` before its update)
    ``m <- beta_2 * m + (1 - beta_2) * g``                      (slot ``m``, Keras' ``momentum``)
    ``m`` starts at 0. As in Keras, ``1 - beta_1`` is taken in float32 after rounding ``beta_1``
    to float32, and all of it in the parameter's dtype. Its weight decay (``weight_decay=``) is the
    base optimizer's ``w <- w - w * weight_decay * lr``; the paper suggests a decay 3-10 times
    AdamW's, with a learning rate 3-10 times smaller.
    """

    def __init__(self, learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.99, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        if isinstance(beta_1, bool) or not isinstance(beta_1, numbers.Real) or not 0 < beta_1 <= 1:
            raise ValueError("Lion: argument `beta_1` must be in the (0, 1] range. Otherwise, the "
                             f"optimizer degenerates to SignSGD. Received: beta_1={beta_1!r}")
        self.beta_1 = float(beta_1)
        self.beta_2 = _fraction(beta_2, "beta_2", "Lion")

    def update(self, param, grad, lr):
        w = param.value
        f = w.dtype.type  # compute in the parameter's precision
        beta_1, beta_2 = f(self.beta_1), f(self.beta_2)
        m = self.slot(param, "m")
        w -= f(lr) * np.sign(m * beta_1 + grad * (f(1) - beta_1))
        m[...] = m * beta_2 + grad * (f(1) - beta_2)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}
