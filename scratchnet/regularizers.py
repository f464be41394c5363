"""Weight penalties with Keras' names: ``Dense(64, kernel_regularizer=sn.regularizers.l2(0.001))``.

A regularizer turns a weight ``w`` into a number that joins the loss. Keras 3's ``compute_loss``
(``keras/src/trainers/trainer.py``) adds the penalty of every *trainable* weight that has one::

    total loss = data loss + sum over regularized weights w of R(w)

in ``fit`` (the ``loss`` it logs) and in ``evaluate`` alike, and the gradient of each weight gets
``dR/dw`` on top of the data gradient. The formulas (``keras/src/regularizers/regularizers.py``)::

    L1(l1):       R(w) = l1 * sum(|w|)          dR/dw = l1 * sign(w)     (0 at w = 0, as TensorFlow)
    L2(l2):       R(w) = l2 * sum(w ** 2)       dR/dw = l2 * (2 * w)
    L1L2(l1, l2): the sum of both
    OrthogonalRegularizer(factor, mode): the mean |cosine| between rows (or columns), see its class

``l1`` and ``l2`` are cast to the weight's dtype first (float32 by default), as Keras does.
The string names ``"l1"`` and ``"l2"`` mean a factor of 0.01; ``"l1l2"`` is ``L1L2()``, whose
factors are both 0.0. Those are Keras 3.15's strings and values; its docstring's ``"l1_l2"`` is
refused by Keras itself, and here with the names that work.

A penalty a learner writes herself subclasses :class:`Regularizer` and gives both ``__call__``
(the penalty) and ``gradient`` (its derivative): scratchnet has no automatic differentiation, so
a bare function such as ``lambda w: 0.01 * sum(w ** 2)`` is refused with that explanation.
"""

from __future__ import annotations

import math
import numbers

import numpy as np


class Regularizer:
    """Base class: ``__call__(w)`` is the penalty ``R(w)``, ``gradient(w)`` is ``dR/dw``."""

    def __call__(self, w):
        return w.dtype.type(0.0)

    def gradient(self, w):
        return np.zeros_like(w)

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict) -> Regularizer:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _factor(value, name: str) -> float:
    """Keras' check of ``l1``/``l2``: a finite, non-negative number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
            or value < 0:
        raise ValueError(f"Invalid value for argument {name}: expected a non-negative float. "
                         f"Received: {name}={value!r}")
    return float(value)


class L1L2(Regularizer):
    """``R(w) = l1 * sum(|w|) + l2 * sum(w ** 2)``; each part only when its factor is not 0."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _factor(0.0 if l1 is None else l1, "l1")
        self.l2 = _factor(0.0 if l2 is None else l2, "l2")

    def __call__(self, w):
        dtype = w.dtype.type
        penalty = dtype(0.0)
        if self.l1 != 0.0:
            penalty = penalty + dtype(self.l1) * np.abs(w).sum()
        if self.l2 != 0.0:
            penalty = penalty + dtype(self.l2) * np.square(w).sum()
        return penalty

    def gradient(self, w):
        dtype = w.dtype.type
        grad = np.zeros_like(w)
        if self.l1 != 0.0:
            grad = grad + dtype(self.l1) * np.sign(w)
        if self.l2 != 0.0:
            grad = grad + dtype(self.l2) * (2 * w)
        return grad

    def get_config(self) -> dict:
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """``R(w) = l1 * sum(|w|)``; Keras' default factor 0.01."""

    def __init__(self, l1=0.01):
        super().__init__(l1=0.01 if l1 is None else l1)
        # Keras' L1 holds its factor as a float32 tensor (ops.convert_to_tensor, in
        # keras/src/regularizers/regularizers.py): its config and a float64 penalty use the rounding
        self.l1 = float(np.float32(self.l1))

    def get_config(self) -> dict:
        return {"l1": self.l1}


class L2(L1L2):
    """``R(w) = l2 * sum(w ** 2)``; Keras' default factor 0.01."""

    def __init__(self, l2=0.01):
        super().__init__(l2=0.01 if l2 is None else l2)

    def get_config(self) -> dict:
        return {"l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """Pushes the rows (``mode="rows"``) or columns (``mode="columns"``) of a 2-D weight towards
    being orthogonal. For a ``Dense`` kernel ``(in, units)`` in rows mode: the ``in`` rows.

    With ``U`` the rows L2-normalised (Keras' ``normalize``: ``u = w * min(1 / ||w||, 1 / eps)``),
    ``P = U U^T`` their cosines, ``M`` the mask that drops the diagonal and ``r`` the number of rows::

        R(W)   = factor * 0.5 * sum(|P * M|) / (r (r - 1) / 2)
        dR/dU  = 2 G U,     G = factor / (r (r - 1)) * sign(P) * M        (TensorFlow: sign(0) = 0)
        dR/dw  = s (g - u (g . u))  per row, s = 1 / ||w||   (s = 1 / eps, a constant, when clipped)

    Columns mode is rows mode on ``W^T``. A single row gives ``0 / 0``: NaN, as in Keras.
    """

    def __init__(self, factor=0.01, mode: str = "rows"):
        # a float32 tensor in Keras (ops.convert_to_tensor), as L1's factor: rounded the same
        self.factor = float(np.float32(_factor(factor, "factor")))
        if mode not in ("rows", "columns"):
            raise ValueError(f'Invalid value for argument `mode`. Expected one of {{"rows", "columns"}}. '
                             f"Received: mode={mode!r}")
        self.mode = mode

    def _rows(self, w):
        if np.ndim(w) != 2:
            raise ValueError(f"Inputs to OrthogonalRegularizer must have rank 2. Received: "
                             f"inputs.shape={np.shape(w)}")
        return w if self.mode == "rows" else w.T

    @staticmethod
    def _unit_rows(w):
        """``(U, s, clipped)``: rows scaled by ``s = min(1 / ||w||, 1 / eps)``."""
        f = w.dtype.type
        with np.errstate(divide="ignore"):
            inv_norm = f(1) / np.sqrt(np.sum(np.square(w), axis=1, keepdims=True))
        limit = f(1 / 1e-7)
        return w * np.minimum(inv_norm, limit), np.minimum(inv_norm, limit), inv_norm > limit

    def __call__(self, w):
        rows = self._rows(w)
        f = rows.dtype.type
        u, _, _ = self._unit_rows(rows)
        r = rows.shape[0]
        off_diagonal = (u @ u.T) * (1 - np.eye(r, dtype=rows.dtype))
        with np.errstate(divide="ignore", invalid="ignore"):
            return f(self.factor) * f(0.5) * np.sum(np.abs(off_diagonal)) / f(r * (r - 1.0) / 2.0)

    def gradient(self, w):
        rows = self._rows(w)
        f = rows.dtype.type
        u, s, clipped = self._unit_rows(rows)
        r = rows.shape[0]
        mask = 1 - np.eye(r, dtype=rows.dtype)
        with np.errstate(divide="ignore", invalid="ignore"):
            g_p = f(self.factor) * f(0.5) / f(r * (r - 1.0) / 2.0) * np.sign(u @ u.T) * mask  # (r, r)
        g_u = (g_p + g_p.T) @ u  # (r, c): dR/dU
        along = np.sum(g_u * u, axis=1, keepdims=True)  # g . u per row
        grad = np.where(clipped, s * g_u, s * (g_u - u * along))
        return grad if self.mode == "rows" else grad.T

    def get_config(self) -> dict:
        return {"factor": self.factor, "mode": self.mode}


# Keras exports the classes under lower-case names too: ``regularizers.l2(0.001)`` is ``L2(0.001)``.
l1, l2, l1_l2, orthogonal_regularizer = L1, L2, L1L2, OrthogonalRegularizer
_REGISTRY = {"L1": L1, "L2": L2, "L1L2": L1L2, "l1": L1, "l2": L2, "l1l2": L1L2,
             "OrthogonalRegularizer": OrthogonalRegularizer,
             "orthogonal_regularizer": OrthogonalRegularizer}


def get(identifier, where: str = "regularizer") -> Regularizer | None:
    """``None``, a :class:`Regularizer`, a name (``"l2"``) or Keras' serialized form
    (``{"class_name": "L2", "config": {"l2": 0.01}, ...}``, what ``.keras`` files hold)."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str) and identifier in _REGISTRY:
        return _REGISTRY[identifier]()
    if isinstance(identifier, dict) and identifier.get("class_name") in _REGISTRY:
        try:
            return _REGISTRY[identifier["class_name"]].from_config(identifier.get("config") or {})
        except TypeError as err:
            raise ValueError(f"{where}: unreadable regularizer config {identifier!r:.200}: {err}") \
                from None
    if isinstance(identifier, type) and issubclass(identifier, Regularizer):
        return identifier()
    if callable(identifier):
        raise ValueError(
            f"{where}: expected one of {sorted(set(_REGISTRY))} or a sn.regularizers.Regularizer, "
            f"received {getattr(identifier, '__name__', identifier)!r}. scratchnet has no automatic "
            "differentiation: a penalty of your own subclasses sn.regularizers.Regularizer and "
            "defines both __call__(w) (the penalty) and gradient(w) (its derivative)")
    raise ValueError(f"{where}: unknown regularizer {identifier!r:.200}; expected None, one of "
                     f"{sorted(set(_REGISTRY))} or a sn.regularizers.Regularizer")


def serialize(regularizer: Regularizer | None) -> dict | None:
    """Keras' serialized form (the one ``.keras`` files hold), or None."""
    from scratchnet.utils import serialization

    if regularizer is None:
        return None
    return serialization.builtin_or_user_spec(regularizer, regularizer.get_config(),
                                              set(_REGISTRY.values()), "keras.regularizers")


def deserialize(config, custom_objects: dict | None = None) -> Regularizer | None:
    """``keras.regularizers.deserialize``: what :func:`get` reads, and a regularizer class of the
    user's, found among the registered objects or in ``custom_objects``."""
    from scratchnet.utils import serialization

    user_object = serialization._user_object_from_config(config, Regularizer, _REGISTRY, custom_objects)
    return user_object if user_object is not None else get(config, "regularizers.deserialize")
