"""Global settings, like ``keras.config``: the float type new weights and inputs use."""

from __future__ import annotations

import numpy as np

_FLOATX = "float32"
_ALLOWED = ("float32", "float64")


def floatx() -> str:
    """The default float type, ``"float32"`` unless :func:`set_floatx` changed it."""
    return _FLOATX


def set_floatx(value: str) -> None:
    """Set the float type for weights built and inputs cast from now on (like Keras)."""
    global _FLOATX
    if value not in _ALLOWED:
        raise ValueError(f"set_floatx: expected one of {_ALLOWED}, received {value!r}")
    _FLOATX = value


def dtype() -> np.dtype:
    """The NumPy dtype of :func:`floatx`."""
    return np.dtype(_FLOATX)


def dtype_policy():
    """The global dtype policy, ``DTypePolicy(floatx())`` (:mod:`scratchnet.dtype_policies`)."""
    from scratchnet import dtype_policies

    return dtype_policies.dtype_policy()


def set_dtype_policy(policy) -> None:
    """Set the global dtype policy: "float32" or "float64" (which sets :func:`set_floatx`); the
    mixed policies are refused (:mod:`scratchnet.dtype_policies` says why)."""
    from scratchnet import dtype_policies

    dtype_policies.set_dtype_policy(policy)
