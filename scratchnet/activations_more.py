"""The rest of ``keras.activations``: Keras 3.15's newer element-wise activations, each with the
gradient TensorFlow's ops give it, and the two that are not element-wise (``glu``, ``threshold``:
functions only, as a layer's ``activation=`` cannot change the output shape or take arguments).

Formulas (``keras/src/backend/tensorflow/nn.py``), ``da = dL/da``:

- ``celu(z) = max(z, 0) + alpha * expm1(min(z, 0) / alpha)``, ``alpha = 1``; gradient
  ``da * ((z >= 0) + (z <= 0) * exp(min(z, 0) / alpha))``: TensorFlow's max and min both pass the
  gradient on at a tie, so at exactly 0 it is ``2 da``.
- ``hard_tanh(z) = clip(z, -1, 1)``; gradient ``da`` where ``-1 <= z <= 1`` (clip passes the ends).
- ``log_sigmoid(z) = -softplus(-z)``; gradient ``da * sigmoid(-z)``.
- ``squareplus(z) = (z + sqrt(z**2 + b)) / 2``, ``b = 4``; gradient ``da * (1 + z / sqrt(z**2 + b)) / 2``.
- ``sparse_plus(z) = 0`` for ``z <= -1``, ``(z + 1)**2 / 4`` for ``-1 < z < 1``, ``z`` above;
  gradient ``0``, ``da * (z + 1) / 2``, ``da``.
- ``sparse_sigmoid(z) = 0`` for ``z <= -1``, ``1`` for ``z >= 1``, ``(z + 1) / 2`` between;
  gradient ``da / 2`` strictly between.
- ``soft_shrink(z) = z - t`` above ``t``, ``z + t`` below ``-t``, else 0 (``t = 0.5``);
  ``hard_shrink(z) = z`` where ``|z| > t``, else 0; both have gradient ``da`` where ``|z| > t``.
- ``tanh_shrink(z) = z - tanh(z)``; gradient ``da * tanh(z)**2``.
- ``glu(x, axis=-1) = a * sigmoid(b)`` with ``a, b`` the two halves of ``axis`` (its size must be
  even); ``threshold(x, threshold, default_value) = x`` where ``x > threshold``, else
  ``default_value``.

- ``sparsemax(x, axis=-1)``: Keras 3.15's TensorFlow formula, whose threshold sums the
  cumulative sums of every supported entry (``[1.0, 1.2]`` gives ``[0, 0]``, not the paper's
  ``[0.4, 0.6]``); scratchnet computes Keras' numbers, see :class:`Sparsemax`.
"""

from __future__ import annotations

import numpy as np

from scratchnet.activations import Activation, _sigmoid, _softplus


def _f(z):
    return z.dtype.type


class CELU(Activation):
    name = "celu"
    alpha = 1.0

    def forward(self, z):
        f = _f(z)
        return np.maximum(z, f(0)) + f(self.alpha) * np.expm1(np.minimum(z, f(0)) / f(self.alpha))

    def backward(self, z, a, da):
        f = _f(z)
        return da * ((z >= 0) + (z <= 0) * np.exp(np.minimum(z, f(0)) / f(self.alpha)))


class HardTanh(Activation):
    name = "hard_tanh"

    def forward(self, z):
        return np.clip(z, -1, 1).astype(z.dtype, copy=False)

    def backward(self, z, a, da):
        return da * ((z >= -1) & (z <= 1))


class LogSigmoid(Activation):
    name = "log_sigmoid"

    def forward(self, z):
        return -_softplus(-z)

    def backward(self, z, a, da):
        return da * _sigmoid(-z)


class Squareplus(Activation):
    name = "squareplus"
    b = 4.0

    def forward(self, z):
        f = _f(z)
        return (z + np.sqrt(z * z + f(self.b))) / f(2)

    def backward(self, z, a, da):
        f = _f(z)
        return da * (f(1) + z / np.sqrt(z * z + f(self.b))) / f(2)


class SparsePlus(Activation):
    name = "sparse_plus"

    def forward(self, z):
        f = _f(z)
        return np.where(z <= -1, f(0), np.where(z < 1, f(0.25) * (z + f(1)) ** 2, z)).astype(z.dtype)

    def backward(self, z, a, da):
        f = _f(z)
        return np.where(z <= -1, f(0), np.where(z < 1, da * (z + f(1)) / f(2), da)).astype(da.dtype)


class SparseSigmoid(Activation):
    name = "sparse_sigmoid"

    def forward(self, z):
        f = _f(z)
        return np.where(z <= -1, f(0), np.where(z >= 1, f(1), f(0.5) * (z + f(1)))).astype(z.dtype)

    def backward(self, z, a, da):
        return da * ((z > -1) & (z < 1)) / da.dtype.type(2)


class SoftShrink(Activation):
    name = "soft_shrink"
    threshold = 0.5

    def forward(self, z):
        t = _f(z)(self.threshold)
        return np.where(z > t, z - t, np.where(z < -t, z + t, _f(z)(0))).astype(z.dtype)

    def backward(self, z, a, da):
        return da * (np.abs(z) > _f(z)(self.threshold))


class HardShrink(Activation):
    name = "hard_shrink"
    threshold = 0.5

    def forward(self, z):
        return np.where(np.abs(z) > _f(z)(self.threshold), z, _f(z)(0)).astype(z.dtype)

    def backward(self, z, a, da):
        return da * (np.abs(z) > _f(z)(self.threshold))


class TanhShrink(Activation):
    name = "tanh_shrink"

    def forward(self, z):
        return z - np.tanh(z)

    def backward(self, z, a, da):
        t = np.tanh(z)
        return da * t * t


class Sparsemax(Activation):
    """Sparsemax as Keras 3.15.1 computes it (TensorFlow backend), along the last axis.

    Sort each row descending (``z_(1) >= z_(2) >= ...``), ``C_r = z_(1) + ... + z_(r)``; the
    support is the ranks with ``z_(r) - (C_r - 1) / r > 0`` (``k`` of them, always the first).
    The paper's threshold (Martins & Astudillo, 2016) is ``(C_k - 1) / k``; Keras' sums *every*
    support rank's cumulative sum instead::

        tau = (sum over support ranks r of C_r  -  1) / k
        a   = max(z - tau, 0)

    which equals the paper's when ``k = 1`` but otherwise does not sum to 1 (``[0.5, 0.5, 0]``
    gives ``[0.25, 0.25, 0]``). scratchnet computes Keras' numbers. Backward (TensorFlow's
    gradient of that graph; the maximum passes it where ``z - tau >= 0``)::

        dtau/dz_i = (number of support ranks at or after z_i's rank) / k
        dz_i      = da_i [z_i - tau >= 0]  -  dtau/dz_i * sum_j da_j [z_j - tau >= 0]

    Ties are ranked by position (a lower index first), as TensorFlow's sort.
    """

    name = "sparsemax"

    @staticmethod
    def _parts(z):
        order = np.argsort(-z, axis=-1, kind="stable")  # descending; ties: lower index first
        ranked = np.take_along_axis(z, order, axis=-1)
        cumulative = np.cumsum(ranked, axis=-1)
        r = np.arange(1, z.shape[-1] + 1, dtype=z.dtype)
        support = ranked - (cumulative - 1) / r > 0
        k = np.sum(support, axis=-1, keepdims=True).astype(z.dtype)
        tau = (np.sum(np.where(support, cumulative, 0), axis=-1, keepdims=True) - 1) / k
        return order, support, k, tau

    def forward(self, z):
        _, _, _, tau = self._parts(z)
        return np.maximum(z - tau, 0)

    def backward(self, z, a, da):
        order, support, k, tau = self._parts(z)
        active = (z - tau >= 0).astype(z.dtype)
        after = np.flip(np.cumsum(np.flip(support, -1), axis=-1), -1)  # support ranks >= each rank
        dtau = np.empty_like(z)
        np.put_along_axis(dtau, order, after.astype(z.dtype) / k, axis=-1)  # back to positions
        return da * active - dtau * np.sum(da * active, axis=-1, keepdims=True)


CLASSES = (CELU, HardTanh, LogSigmoid, Squareplus, SparsePlus, SparseSigmoid, SoftShrink, HardShrink,
           TanhShrink, Sparsemax)


def _float(x) -> np.ndarray:
    x = np.asarray(x)
    return x if x.dtype.kind == "f" else x.astype(np.float32)


def celu(x, alpha: float = 1.0) -> np.ndarray:
    """``keras.activations.celu``: :class:`CELU` with its ``alpha``."""
    act = CELU()
    act.alpha = alpha
    return act.forward(_float(x))


def squareplus(x, b: float = 4) -> np.ndarray:
    """``keras.activations.squareplus``: :class:`Squareplus` with its ``b``."""
    act = Squareplus()
    act.b = b
    return act.forward(_float(x))


def soft_shrink(x, threshold: float = 0.5) -> np.ndarray:
    """``keras.activations.soft_shrink``: :class:`SoftShrink` with its ``threshold``."""
    act = SoftShrink()
    act.threshold = threshold
    return act.forward(_float(x))


def hard_shrink(x, threshold: float = 0.5) -> np.ndarray:
    """``keras.activations.hard_shrink``: :class:`HardShrink` with its ``threshold``."""
    act = HardShrink()
    act.threshold = threshold
    return act.forward(_float(x))


def hard_tanh(x) -> np.ndarray:
    return HardTanh().forward(_float(x))


def log_sigmoid(x) -> np.ndarray:
    return LogSigmoid().forward(_float(x))


def sparse_plus(x) -> np.ndarray:
    return SparsePlus().forward(_float(x))


def sparse_sigmoid(x) -> np.ndarray:
    return SparseSigmoid().forward(_float(x))


def tanh_shrink(x) -> np.ndarray:
    return TanhShrink().forward(_float(x))


def glu(x, axis: int = -1) -> np.ndarray:
    """``a * sigmoid(b)``, ``a`` and ``b`` the first and second half of ``axis``."""
    x = _float(x)
    if x.shape[axis] % 2 != 0:
        raise ValueError("glu: axis size must be divisible by 2. "
                         f"Received: x.shape={x.shape} with axis={axis}")
    a, b = np.split(x, 2, axis=axis)
    return a * _sigmoid(b)


def threshold(x, threshold, default_value) -> np.ndarray:
    """``x`` where ``x > threshold``, else ``default_value``."""
    x = _float(x)
    return np.where(x > threshold, x, np.asarray(default_value, dtype=x.dtype))


def sparsemax(x, axis: int = -1) -> np.ndarray:
    """``keras.activations.sparsemax`` / ``keras.ops.sparsemax``: :class:`Sparsemax` along
    ``axis``."""
    x = _float(x)
    if isinstance(axis, bool) or not isinstance(axis, int) or not -x.ndim <= axis < max(x.ndim, 1):
        raise ValueError(f"sparsemax: expected axis to be an int in [-{x.ndim}, {x.ndim}) for an input "
                         f"of shape {x.shape}, received axis={axis!r}")
    return np.moveaxis(Sparsemax().forward(np.moveaxis(x, axis, -1)), -1, axis)


FUNCTIONS = {sparsemax: Sparsemax, celu: CELU, squareplus: Squareplus, soft_shrink: SoftShrink,
             hard_shrink: HardShrink, hard_tanh: HardTanh, log_sigmoid: LogSigmoid, sparse_plus: SparsePlus,
             sparse_sigmoid: SparseSigmoid, tanh_shrink: TanhShrink}
NOT_ELEMENTWISE = {"glu": glu, "threshold": threshold}
