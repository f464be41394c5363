"""SGD and Adam, one formula a line, as Keras 3 writes them (``keras/src/optimizers/``).

An optimizer keeps its state in ``self.state``, a dict keyed by parameter name
(``"dense/kernel"``), and ``iterations``, the number of updates applied so far (0 before the
first). ``apply(params)`` runs, in Keras' order: gradient clipping (``clipnorm`` per tensor,
``global_clipnorm``, or ``clipvalue``) -> weight decay ``w -= w * weight_decay * lr`` -> the
update -> ``iterations += 1``. A learning rate may be a float or a schedule: a callable that
receives the 0-based ``iterations`` and returns the rate.
"""

from __future__ import annotations

import numbers

import numpy as np

from scratchnet.layers.base import Parameter


class Optimizer:
    name = "optimizer"

    def __init__(self, learning_rate=0.001, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None):
        where = type(self).__name__
        if callable(learning_rate):
            self.learning_rate = learning_rate
        else:
            self.learning_rate = _non_negative(learning_rate, "learning_rate", where)
        self.weight_decay = None if weight_decay is None else _non_negative(
            weight_decay, "weight_decay", where)
        if sum(v is not None for v in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(f"{where}: only one of clipnorm, clipvalue and global_clipnorm can "
                             f"be set, received clipnorm={clipnorm}, clipvalue={clipvalue}, "
                             f"global_clipnorm={global_clipnorm}")
        self.clipnorm = None if clipnorm is None else _positive(clipnorm, "clipnorm", where)
        self.clipvalue = None if clipvalue is None else _positive(clipvalue, "clipvalue", where)
        self.global_clipnorm = None if global_clipnorm is None else _positive(
            global_clipnorm, "global_clipnorm", where)
        self.iterations = 0
        self.state: dict[str, np.ndarray] = {}

    def current_learning_rate(self) -> float:
        if callable(self.learning_rate):
            return float(self.learning_rate(self.iterations))
        return self.learning_rate

    def apply(self, params: list[Parameter]) -> None:
        """Update every parameter in place from its ``grad``."""
        grads = self.clip([p.grad for p in params])
        lr = self.current_learning_rate()
        for param, grad in zip(params, grads, strict=True):
            if self.weight_decay:
                dtype = param.value.dtype.type
                param.value -= param.value * dtype(self.weight_decay) * dtype(lr)
            self.update(param, grad, lr)
        self.iterations += 1

    def clip(self, grads: list[np.ndarray]) -> list[np.ndarray]:
        if self.clipnorm is not None:
            return [_clip_by_norm(g, self.clipnorm) for g in grads]
        if self.global_clipnorm is not None:
            norm = np.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in grads))
            scale = self.global_clipnorm / max(norm, self.global_clipnorm)
            return [g * g.dtype.type(scale) for g in grads]
        if self.clipvalue is not None:
            return [np.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        return grads

    def update(self, param: Parameter, grad: np.ndarray, lr: float) -> None:
        raise NotImplementedError

    def slot(self, param: Parameter, slot: str) -> np.ndarray:
        """The state array ``slot`` for ``param``, created as zeros on first use."""
        key = f"{param.name}/{slot}"
        if key not in self.state:
            self.state[key] = np.zeros_like(param.value)
        return self.state[key]

    def get_config(self) -> dict:
        lr = self.learning_rate
        if callable(lr):
            raise ValueError(f"{type(self).__name__}: a callable learning_rate cannot be saved")
        return {"learning_rate": lr, "weight_decay": self.weight_decay,
                "clipnorm": self.clipnorm, "clipvalue": self.clipvalue,
                "global_clipnorm": self.global_clipnorm}


class SGD(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum. Velocity ``v`` starts at 0.

    plain:    ``w <- w - lr * g``
    momentum: ``v <- momentum * v - lr * g``;  ``w <- w + v``
    nesterov: ``v <- momentum * v - lr * g``;  ``w <- w + momentum * v - lr * g``
    """

    name = "sgd"

    def __init__(self, learning_rate=0.01, momentum: float = 0.0, nesterov: bool = False,
                 **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        if isinstance(momentum, bool) or not isinstance(momentum, numbers.Real) \
                or not 0 <= momentum <= 1:
            raise ValueError(f"SGD: expected momentum to be a float in [0, 1], received {momentum!r}")
        self.momentum = float(momentum)
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

    name = "adam"

    def __init__(self, learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, amsgrad: bool = False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        for arg, value in (("beta_1", beta_1), ("beta_2", beta_2)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
                raise ValueError(f"Adam: expected {arg} to be a float in [0, 1), received {value!r}")
        self.beta_1, self.beta_2 = float(beta_1), float(beta_2)
        self.epsilon = _positive(epsilon, "epsilon", "Adam")
        self.amsgrad = bool(amsgrad)

    def update(self, param, grad, lr):
        w = param.value
        f = w.dtype.type  # compute in the parameter's precision
        m = self.slot(param, "m")
        v = self.slot(param, "v")
        t = f(self.iterations + 1)
        beta_1, beta_2 = f(self.beta_1), f(self.beta_2)
        alpha = f(lr) * np.sqrt(f(1) - np.power(beta_2, t)) / (f(1) - np.power(beta_1, t))
        m += (grad - m) * (f(1) - beta_1)
        v += (np.square(grad) - v) * (f(1) - beta_2)
        if self.amsgrad:
            v_hat = self.slot(param, "v_hat")
            np.maximum(v_hat, v, out=v_hat)
            v = v_hat
        w -= (m * alpha) / (np.sqrt(v) + f(self.epsilon))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


def _clip_by_norm(g: np.ndarray, clipnorm: float) -> np.ndarray:
    """``g * clipnorm / max(||g||, clipnorm)``: unchanged if the norm is within ``clipnorm``."""
    norm = float(np.sqrt(np.sum(np.square(g, dtype=np.float64))))
    return g * g.dtype.type(clipnorm / max(norm, clipnorm))


def _positive(value, arg: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0 \
            or not np.isfinite(value):
        raise ValueError(f"{where}: expected {arg} to be a positive float, received {value!r}")
    return float(value)


def _non_negative(value, arg: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0 \
            or not np.isfinite(value):
        raise ValueError(f"{where}: expected {arg} to be a finite float >= 0, received {value!r}")
    return float(value)


_REGISTRY: dict[str, type[Optimizer]] = {"sgd": SGD, "adam": Adam}


def get(identifier) -> Optimizer:
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _REGISTRY:
        return _REGISTRY[identifier.lower()]()
    raise ValueError(
        f"compile: unknown optimizer {identifier!r}; expected one of {sorted(_REGISTRY)} or a "
        "scratchnet.optimizers.Optimizer instance"
    )


def serialize(opt: Optimizer) -> dict:
    return {"name": opt.name, "config": opt.get_config()}


def deserialize(spec: dict) -> Optimizer:
    return _REGISTRY[spec["name"]](**spec["config"])
