"""Weight initializers with Keras' names, defaults and fan rules, drawn from a NumPy Generator.

Fans (``keras/src/initializers/random_initializers.py``): for a 2-D shape ``(in, out)``,
``fan_in = in`` and ``fan_out = out``; for a conv kernel ``(kh, kw, in, out)`` the receptive field
``rf = kh * kw`` multiplies both: ``fan_in = in * rf``, ``fan_out = out * rf``.
TensorFlow's random streams cannot be reproduced in NumPy: parity tests copy weights instead.
"""

from __future__ import annotations

import math

import numpy as np


def compute_fans(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


class Initializer:
    name = "base"

    def __call__(self, shape, dtype, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}


class Zeros(Initializer):
    name = "zeros"

    def __call__(self, shape, dtype, rng):
        return np.zeros(shape, dtype=dtype)


class Ones(Initializer):
    name = "ones"

    def __call__(self, shape, dtype, rng):
        return np.ones(shape, dtype=dtype)


class Constant(Initializer):
    """Every entry ``value``: a number, or an array that broadcasts to the weight's shape (the
    imbalanced-data lesson's ``Constant(np.log([pos / neg]))`` for an output bias), cast to the
    weight's dtype, as ``keras.initializers.Constant``."""

    name = "constant"

    def __init__(self, value=0.0):
        if isinstance(value, dict) and value.get("class_name") == "__numpy__":  # Keras' saved array
            value = (value.get("config") or {}).get("value")
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"Constant: expected value to be a number or an array of numbers, "
                             f"received {value!r:.100}") from None
        if not np.all(np.isfinite(array)):
            raise ValueError(f"Constant: expected a finite value, received {value!r:.100}")
        self.value = array

    def __call__(self, shape, dtype, rng):
        try:
            return np.broadcast_to(self.value.astype(dtype), shape).copy()
        except ValueError:
            raise ValueError(f"Constant: a value of shape {self.value.shape} does not broadcast to "
                             f"the weight's shape {tuple(shape)}") from None

    def get_config(self):
        return {"value": float(self.value) if self.value.ndim == 0 else self.value.tolist()}


class RandomUniform(Initializer):
    """``U(minval, maxval)``; Keras' defaults are ``-0.05, 0.05``."""

    name = "uniform"

    def __init__(self, minval: float = -0.05, maxval: float = 0.05):
        if not maxval > minval:
            raise ValueError(f"RandomUniform: expected maxval > minval, received {minval}, {maxval}")
        self.minval, self.maxval = float(minval), float(maxval)

    def __call__(self, shape, dtype, rng):
        return rng.uniform(self.minval, self.maxval, size=shape).astype(dtype)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval}


class GlorotUniform(Initializer):
    """``U(-l, l)`` with ``l = sqrt(6 / (fan_in + fan_out))``."""

    name = "glorot_uniform"

    def __call__(self, shape, dtype, rng):
        fan_in, fan_out = compute_fans(shape)
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, size=shape).astype(dtype)


class GlorotNormal(Initializer):
    """Truncated normal (cut at 2 stddev) with ``stddev = sqrt(2 / (fan_in + fan_out)) / .8796``."""

    name = "glorot_normal"

    def __call__(self, shape, dtype, rng):
        fan_in, fan_out = compute_fans(shape)
        return _truncated_normal(shape, math.sqrt(2.0 / (fan_in + fan_out)), dtype, rng)


class HeNormal(Initializer):
    """Truncated normal (cut at 2 stddev) with ``stddev = sqrt(2 / fan_in) / .8796``."""

    name = "he_normal"

    def __call__(self, shape, dtype, rng):
        fan_in, _ = compute_fans(shape)
        return _truncated_normal(shape, math.sqrt(2.0 / fan_in), dtype, rng)


class HeUniform(Initializer):
    """``U(-l, l)`` with ``l = sqrt(6 / fan_in)``."""

    name = "he_uniform"

    def __call__(self, shape, dtype, rng):
        fan_in, _ = compute_fans(shape)
        limit = math.sqrt(6.0 / fan_in)
        return rng.uniform(-limit, limit, size=shape).astype(dtype)


class Orthogonal(Initializer):
    """A matrix with orthonormal rows or columns (Keras' default ``recurrent_initializer``): the QR
    decomposition of a standard normal matrix, its ``Q`` with the signs of ``R``'s diagonal (so
    every orthogonal matrix is as likely), times ``gain``. A shape of more than two axes is
    flattened to ``(prod(shape[:-1]), shape[-1])`` first, as Keras does."""

    name = "orthogonal"

    def __init__(self, gain: float = 1.0, seed=None):
        self.gain = float(gain)

    def __call__(self, shape, dtype, rng):
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = rng.standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))  # make Q unique: R's diagonal positive
        if rows < cols:
            q = q.T
        return (self.gain * q[:rows, :cols]).reshape(shape).astype(dtype)

    def get_config(self) -> dict:
        return {"gain": self.gain}


# Keras' VarianceScaling divides by the stddev of a standard normal truncated to [-2, 2].
_TRUNCATED_STDDEV = 0.87962566103423978


def _truncated_normal(shape, target_stddev, dtype, rng):
    stddev = target_stddev / _TRUNCATED_STDDEV
    values = rng.normal(0.0, stddev, size=shape)
    outside = np.abs(values) > 2 * stddev
    while np.any(outside):  # redraw the tails, as a truncated normal does
        values[outside] = rng.normal(0.0, stddev, size=int(outside.sum()))
        outside = np.abs(values) > 2 * stddev
    return values.astype(dtype)


_REGISTRY: dict[str, type[Initializer]] = {
    cls.name: cls
    for cls in (Zeros, Ones, Constant, RandomUniform, GlorotUniform, GlorotNormal, HeNormal, HeUniform,
                Orthogonal)
}
_REGISTRY["random_uniform"] = RandomUniform


def get(identifier, where: str = "initializer") -> Initializer:
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str) and identifier in _REGISTRY:
        return _REGISTRY[identifier]()
    if isinstance(identifier, dict) and identifier.get("name") in _REGISTRY:
        return deserialize(identifier)
    raise ValueError(
        f"{where}: unknown initializer {identifier!r}; expected one of {sorted(_REGISTRY)}"
    )


def serialize(init: Initializer) -> dict:
    return {"name": init.name, "config": init.get_config()}


def deserialize(spec) -> Initializer:
    if isinstance(spec, str):
        return get(spec)
    return _REGISTRY[spec["name"]](**spec.get("config", {}))
