"""SGD, as Keras 3's ``keras/src/optimizers/sgd.py``."""

from __future__ import annotations

from scratchnet.optimizers.base import Optimizer, _fraction


class SGD(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum. Velocity ``v`` starts at 0.

    plain:    ``w <- w - lr * g``
    momentum: ``v <- momentum * v - lr * g``;  ``w <- w + v``
    nesterov: ``v <- momentum * v - lr * g``;  ``w <- w + momentum * v - lr * g``
    """

    def __init__(self, learning_rate=0.01, momentum: float = 0.0, nesterov: bool = False,
                 **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.momentum = _fraction(momentum, "momentum", "SGD")
        self.nesterov = bool(nesterov)

    def update(self, param, grad, lr):
        w = param.value
        lr = w.dtype.type(lr)
        if self.momentum == 0:
            w -= grad * lr
            return
        mu = w.dtype.type(self.momentum)
        v = self.slot(param, "momentum")
        v[...] = v * mu - grad * lr
        if self.nesterov:
            w += v * mu - grad * lr
        else:
            w += v

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}
