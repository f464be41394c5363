"""Regression metrics, and the running means of the regression, probabilistic and hinge losses.

Most are Keras' ``MeanMetricWrapper`` around a loss function: per sample the loss of
:mod:`scratchnet.losses` (same epsilon, clipping and label rules), averaged over every batch
seen with its weights (``total += sum(w v)``, ``count += sum(w)``, ``result = total / count``).
``RootMeanSquaredError`` is the square root of such a mean, and ``R2Score`` keeps its own sums.
``PearsonCorrelation`` and ``ConcordanceCorrelation`` average a correlation computed along the
last axis of each batch.
Each class has Keras' name, default ``name`` (``LogCoshError`` logs as ``"logcosh"``) and config.
"""

from __future__ import annotations

import warnings

import numpy as np

from scratchnet import kernels, losses
from scratchnet.losses import same_rank
from scratchnet.metrics import MeanMetric, Metric, _LossMetric


class RootMeanSquaredError(MeanMetric):
    """``sqrt(mean((y_pred - y_true)^2))``: the squared errors are averaged as every mean metric
    (per sample over the last axes, then weighted over the samples of every batch), and the
    square root is taken of the running mean."""

    name = "root_mean_squared_error"

    def __init__(self, name: str | None = None, dtype=None):
        super().__init__(name)

    def values(self, y_true, y_pred):
        y_true, y_pred = same_rank(y_true.astype(y_pred.dtype), y_pred)
        if y_true.shape != y_pred.shape:
            raise ValueError(f"RootMeanSquaredError: expected y_true of the same shape as y_pred "
                             f"{y_pred.shape}, received shape {y_true.shape}")
        return np.square(y_pred - y_true)

    def result(self):
        return float(np.sqrt(super().result()))


class _PlainLossMetric(_LossMetric):
    """A loss mean whose Keras config is only ``name`` (and ``dtype``)."""

    def __init__(self, name: str | None = None, dtype=None):
        super().__init__(name)

    def get_config(self):
        return {"name": self.name}


class MeanAbsolutePercentageError(_PlainLossMetric):
    """Per sample ``100 mean(|(y - p) / max(|y|, eps)|)`` (``losses.MeanAbsolutePercentageError``)."""

    name, loss_class = "mean_absolute_percentage_error", losses.MeanAbsolutePercentageError


class MeanSquaredLogarithmicError(_PlainLossMetric):
    """Per sample ``mean((log(max(p, eps) + 1) - log(max(y, eps) + 1))^2)``."""

    name, loss_class = "mean_squared_logarithmic_error", losses.MeanSquaredLogarithmicError


class LogCoshError(_PlainLossMetric):
    """Per sample ``mean(log(cosh(p - y)))`` (``losses.LogCosh``); Keras names it ``"logcosh"``."""

    name, loss_class = "logcosh", losses.LogCosh


class CosineSimilarity(_PlainLossMetric):
    """Per sample ``sum(n(y) n(p))``, the cosine of the angle between target and prediction
    (``n`` Keras' L2 normalisation): minus ``losses.CosineSimilarity``. Only ``axis=-1``."""

    name, loss_class = "cosine_similarity", losses.CosineSimilarity

    def __init__(self, name: str | None = None, dtype=None, axis: int = -1):
        if isinstance(axis, bool) or axis != -1:
            raise ValueError(f"CosineSimilarity: scratchnet supports only axis=-1 (the features "
                             f"axis), received axis={axis!r}")
        super().__init__(name)

    def values(self, y_true, y_pred):
        return -super().values(y_true, y_pred)


class KLDivergence(_PlainLossMetric):
    """Per sample ``sum(y log(y / p))``, both clipped into ``[eps, 1]`` (``losses.KLDivergence``)."""

    name, loss_class = "kl_divergence", losses.KLDivergence


class Poisson(_PlainLossMetric):
    """Per sample ``mean(p - y log(p + eps))`` (``losses.Poisson``)."""

    name, loss_class = "poisson", losses.Poisson


class Hinge(_PlainLossMetric):
    """Per sample ``mean(max(1 - y p, 0))``, labels 0/1 mapped to -1/1 per batch (``losses.Hinge``)."""

    name, loss_class = "hinge", losses.Hinge


class SquaredHinge(_PlainLossMetric):
    """Per sample ``mean(max(1 - y p, 0)^2)`` (``losses.SquaredHinge``)."""

    name, loss_class = "squared_hinge", losses.SquaredHinge


class CategoricalHinge(_PlainLossMetric):
    """Per sample ``max(max((1 - y) p) - sum(y p) + 1, 0)`` (``losses.CategoricalHinge``)."""

    name, loss_class = "categorical_hinge", losses.CategoricalHinge


class R2Score(Metric):
    """The coefficient of determination per output column, from weighted sums over every batch.

    For inputs ``(N, D)`` and weights ``w`` (``(N,)`` broadcast over the columns; 1 without),
    per column: ``S = sum(w y)``, ``Q = sum(w y^2)``, ``R = sum(w (y - p)^2)``, ``C = sum(w)``;
    then ``total = Q - S^2 / C`` and ``r2 = 1 - R / total`` (an infinite ``r2`` becomes 0, a 0/0
    stays NaN, as in Keras). ``class_aggregation``: ``"uniform_average"`` (the mean over the
    columns), ``"variance_weighted_average"`` (weighted by ``total``) or None (one per column).
    ``num_regressors = k > 0`` gives the adjusted score ``1 - (1 - r2)(n - 1) / (n - k - 1)``
    with ``n`` the number of elements seen (Keras counts ``y_true.size``); Keras warns and keeps
    the plain score when ``k >= n - 1``.
    """

    name = "r2_score"
    AGGREGATIONS = (None, "uniform_average", "variance_weighted_average")

    def __init__(self, class_aggregation: str | None = "uniform_average", num_regressors: int = 0,
                 name: str | None = None, dtype=None):
        if class_aggregation not in self.AGGREGATIONS:
            raise ValueError(f"R2Score: invalid value for argument `class_aggregation`. Expected one "
                             f"of {self.AGGREGATIONS}. Received: class_aggregation={class_aggregation!r}")
        if isinstance(num_regressors, bool) or not isinstance(num_regressors, int) \
                or num_regressors < 0:
            raise ValueError(f"R2Score: invalid value for argument `num_regressors`. Expected an "
                             f"integer >= 0. Received: num_regressors={num_regressors!r}")
        self.class_aggregation = class_aggregation
        self.num_regressors = num_regressors
        self.sums = None  # (4, D) float32: S, Q, R, C per column, once the first batch sets D
        super().__init__(name)

    def reset(self) -> None:
        if self.sums is not None:
            self.sums = np.zeros_like(self.sums)  # Keras keeps the columns it was built with
        self.num_samples = 0.0

    def update(self, y_true, y_pred, sample_weight=None) -> None:
        y_true = np.asarray(kernels.to_numpy(y_true), dtype=np.float32)
        y_pred = np.asarray(kernels.to_numpy(y_pred), dtype=np.float32)
        y_true, y_pred = same_rank(y_true, y_pred)
        if y_true.ndim != 2 or y_pred.ndim != 2 or y_true.shape != y_pred.shape:
            raise ValueError(f"R2Score expects 2D inputs with shape (batch_size, output_dim). "
                             f"Received input shapes: y_pred.shape={y_pred.shape} and "
                             f"y_true.shape={y_true.shape}.")
        columns = y_pred.shape[1]
        if self.sums is None:
            self.sums = np.zeros((4, columns), dtype=np.float32)
        elif self.sums.shape[1] != columns:
            raise ValueError(f"R2Score: expected {self.sums.shape[1]} output columns as in the "
                             f"first batch, received y_pred.shape={y_pred.shape}")
        w = np.float32(1) if sample_weight is None else \
            np.asarray(kernels.to_numpy(sample_weight), dtype=np.float32)
        if w.ndim == 1:
            w = w[:, None]  # (N, 1): one weight per row
        w = np.broadcast_to(w, y_true.shape)
        self.sums[0] += np.sum(y_true * w, axis=0)
        self.sums[1] += np.sum(y_true * (y_true * w), axis=0)
        self.sums[2] += np.sum(np.square(y_true - y_pred) * w, axis=0)
        self.sums[3] += np.sum(w, axis=0)
        self.num_samples += y_true.size

    def result(self):
        if self.sums is None:
            raise ValueError("R2Score: no data yet; call update_state(y_true, y_pred) first")
        total_sum, squared_sum, residual, count = self.sums
        with np.errstate(divide="ignore", invalid="ignore"):
            total = squared_sum - total_sum * (total_sum / count)
            raw = 1 - residual / total
            raw = np.where(np.isinf(raw), np.float32(0), raw).astype(np.float32)
            if self.class_aggregation == "uniform_average":
                score = np.mean(raw)
            elif self.class_aggregation == "variance_weighted_average":
                score = np.sum(total * raw) / np.sum(total)
            else:
                score = raw
        n, k = self.num_samples, self.num_regressors
        if k != 0:
            if k >= n - 1:
                warnings.warn("R2Score: more independent predictors than datapoints (or as many "
                              "as n - 1) in the adjusted R2 score; falling back to the standard "
                              "R2 score.", stacklevel=2)
            else:
                score = 1 - (1 - score) * np.float32(n - 1) / np.float32(n - k - 1)
        return score.astype(np.float32) if self.class_aggregation is None else float(score)

    def get_config(self):
        return {"name": self.name, "class_aggregation": self.class_aggregation,
                "num_regressors": self.num_regressors}


class _Correlation(MeanMetric):
    """A correlation of ``y_true`` and ``y_pred`` along ``axis`` (Keras: ``-1`` only here), one
    value per row, averaged over every row seen with Keras' ``Mean`` weighting. For 1-D targets
    and predictions (``(N,)``, or ``(N, 1)`` against ``(N,)``) the last axis is the batch: one
    value per batch."""

    def __init__(self, name: str | None = None, dtype=None, axis: int = -1):
        if axis != -1 or isinstance(axis, bool):
            raise ValueError(f"{type(self).__name__}: scratchnet implements axis=-1, received "
                             f"axis={axis!r}")
        self.axis = -1
        super().__init__(name)

    def inputs(self, y_true, y_pred):
        y_pred = np.asarray(y_pred, dtype=np.float32)
        y_true, y_pred = same_rank(np.asarray(y_true, dtype=np.float32), y_pred)
        if y_true.shape != y_pred.shape:
            raise ValueError(f"{type(self).__name__}: expected y_true of the same shape as y_pred "
                             f"{y_pred.shape}, received shape {y_true.shape}")
        return y_true, y_pred

    def update(self, y_true, y_pred, sample_weight=None) -> None:
        values = self.values(*self.inputs(kernels.to_numpy(y_true), kernels.to_numpy(y_pred)))
        if values.ndim == 0 and sample_weight is not None:  # one value for the whole batch
            values = np.broadcast_to(values, np.shape(kernels.to_numpy(sample_weight)))
        self.add_values(values, sample_weight)

    def get_config(self):
        return {"name": self.name, "axis": self.axis}


def _correlation_inputs(y_true, y_pred):
    y_pred = np.asarray(kernels.to_numpy(y_pred))
    if y_pred.dtype.kind != "f":
        y_pred = y_pred.astype(np.float32)
    return same_rank(np.asarray(kernels.to_numpy(y_true), dtype=y_pred.dtype), y_pred)


def pearson_correlation(y_true, y_pred, axis: int = -1) -> np.ndarray:
    """``keras.metrics.pearson_correlation``: along ``axis``, with ``a = y - mean(y)`` and
    ``b = p - mean(p)``, ``mean((a / std(a)) * (b / std(b)))`` (population standard deviations:
    a constant row gives NaN, as in Keras)."""
    y_true, y_pred = _correlation_inputs(y_true, y_pred)
    a = y_true - np.mean(y_true, axis=axis, keepdims=True)
    b = y_pred - np.mean(y_pred, axis=axis, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = a / np.std(a, axis=axis, keepdims=True)
        b = b / np.std(b, axis=axis, keepdims=True)
    return np.mean(a * b, axis=axis)


def concordance_correlation(y_true, y_pred, axis: int = -1) -> np.ndarray:
    """``keras.metrics.concordance_correlation``, Lin's coefficient as Keras 3.15 writes it, along
    ``axis``::

        mean(2 (y - mean(p)) (p - mean(p)) / (var(y) + var(p) + (mean(y) - mean(p))**2 + eps))

    (Keras centres ``y`` on the *predictions'* mean in the numerator; so does this.)"""
    y_true, y_pred = _correlation_inputs(y_true, y_pred)
    y_mean = np.mean(y_true, axis=axis, keepdims=True)
    p_mean = np.mean(y_pred, axis=axis, keepdims=True)
    y_var = np.var(y_true - y_mean, axis=axis, keepdims=True)
    p_var = np.var(y_pred - p_mean, axis=axis, keepdims=True)
    covar = (y_true - p_mean) * (y_pred - p_mean)
    norm = y_var + p_var + np.square(y_mean - p_mean)
    return np.mean(2 * covar / (norm + y_pred.dtype.type(losses.EPSILON)), axis=axis)


class PearsonCorrelation(_Correlation):
    """``keras.metrics.PearsonCorrelation()``: :func:`pearson_correlation` per row."""

    name = "pearson_correlation"

    def values(self, y_true, y_pred):
        return pearson_correlation(y_true, y_pred)


class ConcordanceCorrelation(_Correlation):
    """``keras.metrics.ConcordanceCorrelation()``: :func:`concordance_correlation` per row."""

    name = "concordance_correlation"

    def values(self, y_true, y_pred):
        return concordance_correlation(y_true, y_pred)


CLASSES = (RootMeanSquaredError, MeanAbsolutePercentageError, MeanSquaredLogarithmicError,
           LogCoshError, CosineSimilarity, KLDivergence, Poisson, Hinge, SquaredHinge,
           CategoricalHinge, R2Score, PearsonCorrelation, ConcordanceCorrelation)
