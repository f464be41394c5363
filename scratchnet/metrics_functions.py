"""Keras' metric functions: ``keras.metrics.binary_accuracy(y_true, y_pred)`` and the others,
each returning one value per sample (or per element), not reduced, in ``floatx``.

``compile(metrics=[sn.metrics.sparse_categorical_accuracy])`` takes them as Keras does: any
function ``fn(y_true, y_pred)`` is wrapped in :class:`MeanMetricWrapper` (the weighted mean of its
values over every batch) and logged under the function's ``__name__``. ``keras.metrics`` also
re-exports the loss functions (``mean_squared_error``, ...): they are
:mod:`scratchnet.losses`' functions, the same objects.

Formulas (``keras/src/metrics/accuracy_metrics.py``):

- ``binary_accuracy = (y_true == cast(y_pred > threshold))``, ranks matched first (Keras'
  ``squeeze_or_expand_to_same_rank``); ``threshold = 0.5``.
- ``categorical_accuracy = (argmax(y_true) == argmax(y_pred))`` on the last axis.
- ``sparse_categorical_accuracy = (y_true == argmax(y_pred))``; labels ``(N,)`` or ``(N, 1)``; a
  trailing axis of 1 is dropped from the result.
- ``top_k_categorical_accuracy``: ``argmax(y_true)`` among the ``k`` highest scores
  (``tf.math.in_top_k``: ties at the boundary count); ``sparse_top_k_categorical_accuracy`` the
  same with integer labels, or with ``from_sorted_ids=True`` the label among ``y_pred[:, :k]``.
"""

from __future__ import annotations

import numpy as np

from scratchnet import config, kernels
from scratchnet.losses import (
    binary_crossentropy,
    binary_focal_crossentropy,
    categorical_crossentropy,
    categorical_focal_crossentropy,
    categorical_hinge,
    hinge,
    huber,
    kl_divergence,
    log_cosh,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    poisson,
    same_rank,
    sparse_categorical_crossentropy,
    squared_hinge,
)
from scratchnet.metrics import MeanMetric
from scratchnet.metrics_classification import in_top_k
from scratchnet.metrics_regression import concordance_correlation, pearson_correlation


def _array(x, dtype=None) -> np.ndarray:
    return np.asarray(kernels.to_numpy(x), dtype=dtype)


def _floatx(matches: np.ndarray) -> np.ndarray:
    return matches.astype(config.floatx())


def binary_accuracy(y_true, y_pred, threshold: float = 0.5) -> np.ndarray:
    """Per element, 1 where ``y_true == (y_pred > threshold)`` (labels compared exactly)."""
    y_pred = _array(y_pred)
    y_true = _array(y_true)
    y_true, y_pred = same_rank(y_true, y_pred)
    predicted = (y_pred > np.asarray(threshold, dtype=y_pred.dtype)).astype(y_true.dtype)
    return _floatx(y_true == predicted)


def categorical_accuracy(y_true, y_pred) -> np.ndarray:
    """Per sample, 1 where the one-hot label's class (``argmax``, first maximum) is the predicted
    class."""
    y_true = np.argmax(_array(y_true), axis=-1)
    y_pred = _array(y_pred)
    original_shape = y_true.shape
    reshape = y_true.ndim == y_pred.ndim
    if reshape:  # one-hot labels of one rank more than usual: Keras squeezes a last axis
        y_true = np.squeeze(y_true, -1)
    matches = _floatx(np.argmax(y_pred, axis=-1) == y_true)
    return matches.reshape(original_shape) if reshape else matches


def sparse_categorical_accuracy(y_true, y_pred) -> np.ndarray:
    """Per sample, 1 where the integer label is the predicted class; labels ``(N,)`` or ``(N, 1)``."""
    y_pred = _array(y_pred)
    y_true = _array(y_true, y_pred.dtype)
    original_shape = y_true.shape
    reshape = y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1
    if reshape:
        y_true = np.squeeze(y_true, -1)
    matches = _floatx(np.argmax(y_pred, axis=-1).astype(y_true.dtype) == y_true)
    if reshape:
        matches = matches.reshape(original_shape)
    if matches.ndim > 1 and matches.shape[-1] == 1:
        matches = np.squeeze(matches, -1)
    return matches


def _flatten_for_top_k(y_true: np.ndarray, y_pred: np.ndarray):
    """Keras flattens predictions to ``(-1, K)`` and labels to ``(-1,)``; the result takes the
    labels' shape back."""
    if y_pred.ndim > 2:
        y_pred = y_pred.reshape(-1, y_pred.shape[-1])  # (..., K) -> (M, K)
    return y_true.reshape(-1), y_pred, y_true.shape


def top_k_categorical_accuracy(y_true, y_pred, k: int = 5) -> np.ndarray:
    """Per sample, 1 where the one-hot label's class is among the ``k`` highest scores."""
    y_pred = _array(y_pred)
    labels = np.argmax(_array(y_true, y_pred.dtype), axis=-1)
    flat, y_pred, shape = _flatten_for_top_k(labels, y_pred)
    return _floatx(in_top_k(flat.astype(np.int32), y_pred, k)).reshape(shape)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k: int = 5,
                                      from_sorted_ids: bool = False) -> np.ndarray:
    """Per sample, 1 where the integer label is among the ``k`` highest scores (or, with
    ``from_sorted_ids=True``, among the first ``k`` ids of ``y_pred``)."""
    y_pred = _array(y_pred)
    y_true = _array(y_true, y_pred.dtype if from_sorted_ids else np.int32)
    flat, y_pred, shape = _flatten_for_top_k(y_true, y_pred)
    if from_sorted_ids:
        matches = np.any(flat[:, None] == y_pred[:, :k], axis=1)
    else:
        matches = in_top_k(flat, y_pred, k)
    return _floatx(matches).reshape(shape)


class MeanMetricWrapper(MeanMetric):
    """Keras' ``MeanMetricWrapper(fn, name=None, dtype=None, **kwargs)``: the weighted mean of
    ``fn(y_true, y_pred, **kwargs)`` over every batch (:class:`MeanMetric`'s rules)."""

    def __init__(self, fn, name: str | None = None, dtype=None, **kwargs):
        if not callable(fn):
            raise TypeError(f"MeanMetricWrapper: expected fn to be a function fn(y_true, y_pred), "
                            f"received {fn!r}")
        self.fn, self.fn_kwargs = fn, kwargs
        super().__init__(name or getattr(fn, "__name__", "mean_metric_wrapper"))

    def values(self, y_true, y_pred):
        return kernels.to_numpy(self.fn(y_true, y_pred, **self.fn_kwargs))


FUNCTIONS = (binary_accuracy, categorical_accuracy, sparse_categorical_accuracy,
             top_k_categorical_accuracy, sparse_top_k_categorical_accuracy, binary_crossentropy,
             categorical_crossentropy, sparse_categorical_crossentropy, mean_squared_error,
             mean_absolute_error, mean_absolute_percentage_error, mean_squared_logarithmic_error,
             kl_divergence, poisson, hinge, squared_hinge, categorical_hinge, log_cosh, huber,
             binary_focal_crossentropy, categorical_focal_crossentropy, pearson_correlation,
             concordance_correlation)
BY_NAME = {fn.__name__: fn for fn in FUNCTIONS}
