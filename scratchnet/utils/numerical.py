"""``keras.utils.to_categorical`` (class ids to one-hot rows) and ``normalize``."""

from __future__ import annotations

import numbers

import numpy as np


def to_categorical(x, num_classes: int | None = None) -> np.ndarray:
    """One-hot rows for the class ids ``x``: ``out[..., k] = 1.0`` where ``x[...] == k``.

    ``x``: integers in ``[0, num_classes)``, any shape; a last axis of size 1 is dropped first, as
    Keras does (``(N, 1)`` labels give ``(N, num_classes)``). ``num_classes`` defaults to
    ``max(x) + 1``. Returns float64, as ``keras.utils.to_categorical`` does for NumPy input.
    Keras would truncate 1.5 to 1, wrap -1 round to the last class and fail deep in NumPy for
    ids past the end; here each is a ValueError naming the value.
    """
    ids = np.asarray(x)
    if ids.dtype.kind == "b" or ids.dtype.kind not in "iuf":
        raise TypeError(f"to_categorical: expected integer class ids, received an array of dtype "
                        f"{ids.dtype}")
    if ids.size == 0:
        raise ValueError(f"to_categorical: expected at least one class id, received shape {ids.shape}")
    if ids.dtype.kind == "f":
        if not np.all(np.isfinite(ids)) or np.any(ids != np.round(ids)):
            bad = ids[~np.isfinite(ids) | (ids != np.round(ids))].reshape(-1)[0]
            raise ValueError(f"to_categorical: expected integer class ids, received the value {bad}")
    ids = ids.astype(np.int64)
    shape = ids.shape[:-1] if ids.ndim > 1 and ids.shape[-1] == 1 else ids.shape
    ids = ids.reshape(-1)
    if num_classes is None:
        num_classes = int(ids.max()) + 1
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) \
            or num_classes <= 0:
        raise ValueError(f"to_categorical: expected num_classes to be a positive integer, "
                         f"received {num_classes!r}")
    if ids.min() < 0 or ids.max() >= num_classes:
        bad = ids[(ids < 0) | (ids >= num_classes)][0]
        raise ValueError(f"to_categorical: class id {bad} is outside [0, {num_classes - 1}] "
                         f"(num_classes={num_classes})")
    categorical = np.zeros((ids.size, int(num_classes)))  # (N, K), float64 as Keras
    categorical[np.arange(ids.size), ids] = 1.0
    return categorical.reshape(shape + (int(num_classes),))


def normalize(x, axis: int = -1, order: int = 2) -> np.ndarray:
    """``keras.utils.normalize``: ``x`` divided by its ``order``-norm along ``axis``
    (``np.linalg.norm``), a norm of 0 left as 1 so an all-zero row stays zeros. (Keras 3.15 turns
    ``axis=0`` into -1 with ``axis or -1``, dividing by the wrong norms or failing; here axis 0 is
    axis 0.)"""
    x = np.asarray(x)
    if x.dtype.kind not in "iuf" or x.dtype.kind == "b":
        raise TypeError(f"normalize: expected a numeric array, received dtype {x.dtype}")
    if x.ndim == 0:
        raise ValueError("normalize: expected an array with at least one axis, received a scalar")
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral) or not -x.ndim <= axis < x.ndim:
        raise ValueError(f"normalize: expected axis to be an integer in [{-x.ndim}, {x.ndim - 1}], "
                         f"received {axis!r}")
    norm = np.atleast_1d(np.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    return x / np.expand_dims(norm, axis)
