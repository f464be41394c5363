"""Element-wise activations: the value and the gradient each one sends back.

Each activation is a small object with ``forward(z) -> a`` and ``backward(z, a, da) -> dz``,
where ``z`` is the input, ``a`` the output and ``da = dL/da``. Formulas as in Keras:

- ``relu(z) = max(z, 0)``; gradient ``da * (z > 0)`` (zero at exactly 0).
- ``sigmoid(z) = 1 / (1 + exp(-z))``; gradient ``da * a * (1 - a)``.
- ``tanh(z)``; gradient ``da * (1 - a**2)``.
- ``softmax(z) = exp(z - max z) / sum exp(z - max z)`` on the last axis;
  gradient ``a * (da - sum(da * a))``.
- ``linear(z) = z``; gradient ``da``.
"""

from __future__ import annotations

import numpy as np


class Activation:
    """Base class; ``name`` is what ``get(name)`` and ``Dense(activation=name)`` accept."""

    name = "base"

    def forward(self, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, z: np.ndarray, a: np.ndarray, da: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.name


class Linear(Activation):
    name = "linear"

    def forward(self, z):
        return z

    def backward(self, z, a, da):
        return da


class ReLU(Activation):
    name = "relu"

    def forward(self, z):
        return np.maximum(z, 0)

    def backward(self, z, a, da):
        return da * (z > 0)


class Sigmoid(Activation):
    name = "sigmoid"

    def forward(self, z):
        # Two branches so exp never overflows: exp(-z) for z >= 0, exp(z) for z < 0.
        e = np.exp(-np.abs(z))
        return np.where(z >= 0, 1 / (1 + e), e / (1 + e)).astype(z.dtype, copy=False)

    def backward(self, z, a, da):
        return da * a * (1 - a)


class Tanh(Activation):
    name = "tanh"

    def forward(self, z):
        return np.tanh(z)

    def backward(self, z, a, da):
        return da * (1 - a * a)


class Softmax(Activation):
    name = "softmax"

    def forward(self, z):
        return softmax(z)

    def backward(self, z, a, da):
        return a * (da - np.sum(da * a, axis=-1, keepdims=True))


def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """``exp(z - max z) / sum exp(z - max z)``: subtracting the max keeps ``exp`` finite."""
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """``z - logsumexp(z)``, computed stably."""
    shifted = z - np.max(z, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


_REGISTRY: dict[str, type[Activation]] = {
    cls.name: cls for cls in (Linear, ReLU, Sigmoid, Tanh, Softmax)
}


def get(identifier: str | Activation | None, where: str = "activation") -> Activation:
    """Resolve ``None``, a name such as ``"relu"``, or an :class:`Activation` instance."""
    if identifier is None:
        return Linear()
    if isinstance(identifier, Activation):
        return identifier
    if isinstance(identifier, str) and identifier in _REGISTRY:
        return _REGISTRY[identifier]()
    raise ValueError(
        f"{where}: unknown activation {identifier!r}; expected one of {sorted(_REGISTRY)} "
        "or an scratchnet.activations.Activation"
    )
