"""Classification metrics beyond accuracy: top-k accuracy, F-scores, intersection-over-union and
the best rate at a required rate (SensitivityAtSpecificity, SpecificityAtSensitivity,
PrecisionAtRecall, RecallAtPrecision).

``TopKCategoricalAccuracy`` and ``SparseTopKCategoricalAccuracy`` are means of per-sample 0/1
values, like every accuracy; ``FBetaScore``/``F1Score`` keep weighted true/false positive and
false negative counts per class; ``IoU``, ``MeanIoU`` and ``BinaryIoU`` keep a weighted confusion
matrix. The arithmetic, the defaults and the configs are Keras 3.15's
(``keras/src/metrics/accuracy_metrics.py``, ``f_score_metrics.py``, ``iou_metrics.py``,
``confusion_metrics.py``).
"""

from __future__ import annotations

import warnings

import numpy as np

from scratchnet import kernels
from scratchnet.losses import EPSILON
from scratchnet.metrics import MeanMetric, Metric, _divide_no_nan, add_threshold_counts, confusion_inputs


def in_top_k(targets: np.ndarray, predictions: np.ndarray, k: int) -> np.ndarray:
    """``tf.math.in_top_k``: True where fewer than ``k`` classes score strictly higher than the
    target class. Ties at the boundary therefore all count as in the top k (scores ``[1, 1, 1, 1]``
    put every class in the top 2); a target out of ``[0, K)`` or with a NaN or infinite score is
    never in the top k.

    ``targets`` ``(...)`` integer class ids, ``predictions`` ``(..., K)`` scores; returns ``(...)``.
    """
    num_classes = predictions.shape[-1]
    valid = (targets >= 0) & (targets < num_classes)
    index = np.where(valid, targets, 0)[..., None]  # (..., 1)
    target_score = np.take_along_axis(predictions, index, axis=-1)  # (..., 1)
    higher = np.sum(predictions > target_score, axis=-1)  # (...)
    return valid & np.isfinite(target_score[..., 0]) & (higher < k)


def _check_k(where: str, k) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"{where}: expected k to be a positive integer, received k={k!r}")
    return int(k)


class TopKCategoricalAccuracy(MeanMetric):
    """1 where the class of the one-hot label (``argmax(y_true)``, the first maximum) is among the
    ``k`` highest predictions (:func:`in_top_k`, ties included), else 0; ``k = 5`` by default."""

    name = "top_k_categorical_accuracy"

    def __init__(self, k: int = 5, name: str | None = None, dtype=None):
        self.k = _check_k("TopKCategoricalAccuracy", k)
        super().__init__(name)

    def values(self, y_true, y_pred):
        if y_true.shape != y_pred.shape:
            hint = " (integer labels: use SparseTopKCategoricalAccuracy)" \
                if y_true.shape == y_pred.shape[:-1] else ""
            raise ValueError(f"TopKCategoricalAccuracy: expected one-hot y_true of the shape of "
                             f"y_pred {y_pred.shape}, received shape {y_true.shape}{hint}")
        labels = np.argmax(y_true.astype(y_pred.dtype), axis=-1)
        return in_top_k(labels, y_pred, self.k)

    def get_config(self):
        return {"name": self.name, "k": self.k}


class SparseTopKCategoricalAccuracy(MeanMetric):
    """1 where the integer label (cast to int32 as Keras does, so ``1.7`` is class 1) is among the
    ``k`` highest predictions (:func:`in_top_k`), else 0; labels ``(N,)`` or ``(N, 1)``.

    ``from_sorted_ids=True``: ``y_pred`` holds class ids sorted by score, best first; 1 where the
    label is one of the first ``k``.
    """

    name = "sparse_top_k_categorical_accuracy"

    def __init__(self, k: int = 5, name: str | None = None, dtype=None, from_sorted_ids: bool = False):
        self.k = _check_k("SparseTopKCategoricalAccuracy", k)
        self.from_sorted_ids = bool(from_sorted_ids)
        super().__init__(name)

    def values(self, y_true, y_pred):
        if y_true.ndim == y_pred.ndim and y_true.shape[-1:] == (1,):
            y_true = y_true[..., 0]  # (N, 1) -> (N,)
        if y_true.shape != y_pred.shape[:-1]:
            raise ValueError(f"SparseTopKCategoricalAccuracy: expected integer labels of shape "
                             f"{y_pred.shape[:-1]} for y_pred of shape {y_pred.shape}, received "
                             f"shape {y_true.shape}")
        if self.from_sorted_ids:
            labels = y_true.astype(y_pred.dtype)
            return np.any(labels[..., None] == y_pred[..., :self.k], axis=-1)
        return in_top_k(y_true.astype(np.int32), y_pred, self.k)

    def get_config(self):
        config = {"name": self.name, "k": self.k}
        if self.from_sorted_ids:
            config["from_sorted_ids"] = True
        return config


class FBetaScore(Metric):
    """The F-beta score per class, from weighted counts over every batch (float32, as Keras).

    Inputs ``(N, K)``. A prediction is positive where ``p > threshold``; with ``threshold=None``
    where ``p`` equals its row's maximum (ties: all of them) and ``|p| > 1e-9``. Labels are used as
    given (``y`` times the prediction counts a true positive). Per class (summed over everything
    for ``average="micro"``), with ``eps = 1e-7`` and weights ``w`` ``(N,)``:

    ``TP = sum(w y q)``, ``FP = sum(w (1 - y) q)``, ``FN = sum(w y (1 - q))``, ``S = sum(w y)``;
    ``P = TP / (TP + FP + eps)``, ``R = TP / (TP + FN + eps)``,
    ``F = (1 + b^2) P R / (b^2 P + R + eps)``.

    ``average``: None (one score per class), ``"micro"`` (one from the summed counts), ``"macro"``
    (the mean over classes), ``"weighted"`` (``sum(F S) / (sum(S) + eps)``).
    """

    name = "fbeta_score"
    AVERAGES = (None, "micro", "macro", "weighted")

    def __init__(self, average: str | None = None, beta: float = 1.0, threshold: float | None = None,
                 name: str | None = None, dtype=None):
        where = type(self).__name__
        if average not in self.AVERAGES:
            raise ValueError(f"{where}: invalid `average` argument value. Expected one of: "
                             f"{{None, 'micro', 'macro', 'weighted'}}. Received: average={average!r}")
        if not isinstance(beta, float):
            raise ValueError(f"{where}: invalid `beta` argument value. It should be a Python float. "
                             f"Received: beta={beta!r} of type {type(beta).__name__!r}")
        if beta <= 0.0:
            raise ValueError(f"{where}: invalid `beta` argument value. It should be > 0. "
                             f"Received: beta={beta!r}")
        if threshold is not None:
            if not isinstance(threshold, float):
                raise ValueError(f"{where}: invalid `threshold` argument value. It should be a "
                                 f"Python float. Received: threshold={threshold!r} of type "
                                 f"{type(threshold).__name__!r}")
            if not 0.0 < threshold <= 1.0:
                raise ValueError(f"{where}: invalid `threshold` argument value. It should verify "
                                 f"0 < threshold <= 1. Received: threshold={threshold!r}")
        self.average, self.beta, self.threshold = average, beta, threshold
        self.counts = None  # (4, K) or (4,) float32: TP, FP, FN, support; built by the first batch
        super().__init__(name)

    def reset(self) -> None:
        if self.counts is not None:
            self.counts = np.zeros_like(self.counts)

    def update(self, y_true, y_pred, sample_weight=None) -> None:
        where = type(self).__name__
        y_true = np.asarray(kernels.to_numpy(y_true), dtype=np.float32)
        y_pred = np.asarray(kernels.to_numpy(y_pred), dtype=np.float32)
        if y_true.ndim != 2 or y_pred.ndim != 2 or y_true.shape != y_pred.shape:
            raise ValueError(f"{where} expects 2D inputs with shape (batch_size, output_dim). "
                             f"Received input shapes: y_pred.shape={y_pred.shape} and "
                             f"y_true.shape={y_true.shape}.")
        classes = y_pred.shape[1]
        if self.counts is None:
            self.counts = np.zeros((4, classes) if self.average != "micro" else (4,), np.float32)
            self.classes = classes
        elif classes != self.classes and self.average != "micro":  # micro keeps scalars only
            raise ValueError(f"{where}: expected {self.classes} classes as in the first batch, "
                             f"received y_pred.shape={y_pred.shape}")
        if self.threshold is None:
            top = y_pred.max(axis=-1, keepdims=True)
            q = ((y_pred >= top) & (np.abs(y_pred) > 1e-9)).astype(np.float32)
        else:
            q = (y_pred > np.float32(self.threshold)).astype(np.float32)
        w = np.float32(1)
        if sample_weight is not None:
            w = np.asarray(kernels.to_numpy(sample_weight), dtype=np.float32)
            if w.shape != (len(y_true),):
                raise ValueError(f"{where}: expected sample_weight of shape ({len(y_true)},), one "
                                 f"per sample, received shape {w.shape}")
            w = w[:, None]  # (N, 1)
        axis = None if self.average == "micro" else 0
        for i, cells in enumerate((q * y_true, q * (1 - y_true), (1 - q) * y_true, y_true)):
            self.counts[i] += np.sum(cells * w, axis=axis)

    def result(self):
        if self.counts is None:
            raise ValueError(f"{type(self).__name__}: no data yet; call update_state(y_true, y_pred) "
                             "first")
        eps, b2 = np.float32(EPSILON), np.float32(self.beta ** 2)
        tp, fp, fn, support = self.counts
        precision = tp / (tp + fp + eps)
        recall = tp / (tp + fn + eps)
        score = precision * recall / (b2 * precision + recall + eps) * (1 + b2)
        if self.average == "weighted":
            return float(np.sum(score * (support / (np.sum(support) + eps))))
        if self.average is not None:
            return float(np.mean(score))
        return score.astype(np.float32)

    def get_config(self):
        return {"name": self.name, "average": self.average, "beta": self.beta,
                "threshold": self.threshold}


class F1Score(FBetaScore):
    """The F-beta score with ``beta = 1``: ``F1 = 2 P R / (P + R + eps)`` (see :class:`FBetaScore`)."""

    name = "f1_score"

    def __init__(self, average: str | None = None, threshold: float | None = None,
                 name: str | None = None, dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config


class IoU(Metric):
    """Intersection over union of chosen classes, from a weighted confusion matrix.

    Class ids (``argmax`` over ``axis`` first where ``sparse_y_true``/``sparse_y_pred`` is False)
    are flattened; a pair is counted only where both ids lie in ``[0, num_classes)`` and the label
    is not ``ignore_class``. ``cm[t, p] += w``. Per class ``c``:
    ``iou_c = cm[c, c] / (row_c + col_c - cm[c, c] + eps)``, and ``result`` is their sum over
    ``target_class_ids`` divided by the number of those classes that occur at all (``+ eps``).

    Keras' default ``dtype`` is ``"int64"``: ids and sample weights are then truncated toward
    zero before counting (``0.7`` is class 0, a weight of ``1.5`` counts 1, and ``-0.5`` becomes
    class 0); ``dtype="float32"`` keeps float weights and drops ``-0.5`` as out of range.
    """

    name = "io_u"
    keeps_dtype = True  # the dtype changes the counts, so configs read from Keras keep it

    def __init__(self, num_classes: int, target_class_ids, name: str | None = None, dtype=None,
                 ignore_class: int | None = None, sparse_y_true: bool = True,
                 sparse_y_pred: bool = True, axis: int = -1):
        where = type(self).__name__
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"{where}: expected num_classes to be a positive integer, received "
                             f"num_classes={num_classes!r}")
        ids = list(target_class_ids)
        if not ids or any(isinstance(c, bool) or not isinstance(c, int) or c < 0 for c in ids):
            raise ValueError(f"{where}: expected target_class_ids to be a non-empty list of class "
                             f"ids >= 0, received target_class_ids={target_class_ids!r}")
        if max(ids) >= num_classes:
            raise ValueError(f"{where}: target class id {max(ids)} is out of range, which is "
                             f"[0, {num_classes}).")
        self.dtype = str(np.dtype(dtype or "int64"))
        if np.dtype(self.dtype).kind not in "iuf":
            raise ValueError(f"{where}: expected an integer or float dtype, received dtype={dtype!r}")
        self.num_classes, self.target_class_ids = num_classes, ids
        self.ignore_class, self.axis = ignore_class, axis
        self.sparse_y_true, self.sparse_y_pred = bool(sparse_y_true), bool(sparse_y_pred)
        super().__init__(name)

    def reset(self) -> None:
        self.total_cm = np.zeros((self.num_classes, self.num_classes), dtype=self.dtype)

    def _in_dtype(self, x) -> np.ndarray:
        """``x`` in the metric's dtype (an integer dtype truncates toward zero, as a cast does)."""
        x = np.asarray(kernels.to_numpy(x))
        if np.dtype(self.dtype).kind in "iu" and x.dtype.kind == "f":
            x = np.trunc(x)
        return x.astype(self.dtype)

    def update(self, y_true, y_pred, sample_weight=None) -> None:
        y_true, y_pred = np.asarray(kernels.to_numpy(y_true)), np.asarray(kernels.to_numpy(y_pred))
        if not self.sparse_y_true:
            y_true = np.argmax(y_true, axis=self.axis)
        if not self.sparse_y_pred:
            y_pred = np.argmax(y_pred, axis=self.axis)
        y_true, y_pred = self._in_dtype(y_true).reshape(-1), self._in_dtype(y_pred).reshape(-1)
        if y_true.shape != y_pred.shape:
            raise ValueError(f"{type(self).__name__}: expected as many labels as predictions, "
                             f"received {y_true.size} labels and {y_pred.size} predictions")
        if getattr(sample_weight, "dtype", None) is not None and \
                np.dtype(sample_weight.dtype).kind == "f" and np.dtype(self.dtype).kind in "iu":
            warnings.warn(f"{type(self).__name__}: you are passing weight as `float`, but dtype is "
                          f"`int`. This may result in an incorrect weight due to type casting. "
                          f"Consider using integer weights.", stacklevel=2)  # as Keras warns
        w = self._in_dtype(1 if sample_weight is None else sample_weight).reshape(-1)
        if w.size not in (1, y_true.size):
            raise ValueError(f"{type(self).__name__}: expected sample_weight with one value per "
                             f"label ({y_true.size}), received {w.size} values")
        w = np.broadcast_to(w, y_true.shape)
        keep = (y_true >= 0) & (y_true < self.num_classes) & (y_pred >= 0) & (y_pred < self.num_classes)
        if self.ignore_class is not None:
            keep &= y_true != self.ignore_class
        cells = (y_true[keep].astype(np.int64), y_pred[keep].astype(np.int64))
        np.add.at(self.total_cm, cells, w[keep])

    def result(self) -> float:
        cm = self.total_cm
        true_positives = np.diag(cm)
        denominator = cm.sum(axis=0) + cm.sum(axis=1) - true_positives
        ids = self.target_class_ids
        true_positives = true_positives[ids].astype(np.float32)
        denominator = denominator[ids].astype(np.float32)
        valid = denominator > 1e-9
        iou = np.where(valid, true_positives / (denominator + np.float32(EPSILON)), np.float32(0))
        return float(np.sum(iou) / (np.float32(np.sum(valid)) + np.float32(EPSILON)))

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "num_classes": self.num_classes,
                "target_class_ids": self.target_class_ids, "ignore_class": self.ignore_class,
                "sparse_y_true": self.sparse_y_true, "sparse_y_pred": self.sparse_y_pred,
                "axis": self.axis}


class MeanIoU(IoU):
    """:class:`IoU` averaged over every class ``0 .. num_classes - 1`` that occurs."""

    name = "mean_io_u"

    def __init__(self, num_classes: int, name: str | None = None, dtype=None,
                 ignore_class: int | None = None, sparse_y_true: bool = True,
                 sparse_y_pred: bool = True, axis: int = -1):
        super().__init__(num_classes, list(range(num_classes)) if isinstance(num_classes, int) else [0],
                         name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=sparse_y_true, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        config = super().get_config()
        del config["target_class_ids"]
        return config


class OneHotIoU(IoU):
    """:class:`IoU` for one-hot labels: ``y_true`` always goes through ``argmax`` over ``axis``
    (``sparse_y_true`` is fixed to False), ``y_pred`` too unless ``sparse_y_pred=True``."""

    name = "one_hot_io_u"

    def __init__(self, num_classes: int, target_class_ids, name: str | None = None, dtype=None,
                 ignore_class: int | None = None, sparse_y_pred: bool = False, axis: int = -1):
        super().__init__(num_classes, target_class_ids, name=name, dtype=dtype,
                         ignore_class=ignore_class, sparse_y_true=False, sparse_y_pred=sparse_y_pred,
                         axis=axis)

    def get_config(self):
        config = super().get_config()
        del config["sparse_y_true"]
        return config


class OneHotMeanIoU(MeanIoU):
    """:class:`MeanIoU` for one-hot labels (``argmax`` over ``axis`` as :class:`OneHotIoU`)."""

    name = "one_hot_mean_io_u"

    def __init__(self, num_classes: int, name: str | None = None, dtype=None,
                 ignore_class: int | None = None, sparse_y_pred: bool = False, axis: int = -1):
        super().__init__(num_classes, name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=False, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        config = super().get_config()
        del config["sparse_y_true"]
        return config


class BinaryIoU(IoU):
    """:class:`IoU` of two classes: a prediction is class 1 where ``p >= threshold`` (compared in
    float32), else 0; labels are cast to the metric's dtype (so ``0.9`` is 0 with the default
    ``int64``). ``target_class_ids`` ``(0, 1)`` averages both classes' IoU."""

    name = "binary_io_u"

    def __init__(self, target_class_ids=(0, 1), threshold: float = 0.5, name: str | None = None,
                 dtype=None):
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise ValueError(f"BinaryIoU: expected threshold to be a number, received "
                             f"threshold={threshold!r}")
        self.threshold = threshold
        super().__init__(2, target_class_ids, name=name, dtype=dtype)

    def update(self, y_true, y_pred, sample_weight=None) -> None:
        y_pred = np.asarray(kernels.to_numpy(y_pred), dtype=np.float32)
        super().update(y_true, (y_pred >= np.float32(self.threshold)).astype(np.int64), sample_weight)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "target_class_ids": self.target_class_ids,
                "threshold": self.threshold}


class _RateAtRate(Metric):
    """The best of one rate over the thresholds where another reaches a required value
    (Keras' ``SensitivitySpecificityBase``). Weighted confusion counts are kept at ``T =
    num_thresholds`` thresholds ``0, 1/(T-1), ..., 1`` (Keras' buckets, as AUC counts them, but
    a prediction of exactly 0 is positive at no threshold; ``T = 1``: the one threshold 0.5,
    positive where ``p > 0.5``); then, with each rate a
    ``divide_no_nan`` of the counts at each threshold::

        result = max over thresholds where constrained >= value of dependent     (0 if none)

    ``class_id`` keeps one column of ``(N, classes)`` predictions.
    """

    value_arg = "value"

    def __init__(self, value, num_thresholds: int = 200, class_id: int | None = None,
                 name: str | None = None, dtype=None):
        where = type(self).__name__
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise ValueError(f"{where}: argument `{self.value_arg}` must be in the range [0, 1]. "
                             f"Received: {self.value_arg}={value!r}")
        if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, int) or num_thresholds <= 0:
            raise ValueError(f"{where}: argument `num_thresholds` must be an integer > 0. Received: "
                             f"num_thresholds={num_thresholds!r}")
        if class_id is not None and (isinstance(class_id, bool) or not isinstance(class_id, int)):
            raise ValueError(f"{where}: expected class_id to be an integer or None, received "
                             f"class_id={class_id!r}")
        self.value, self.num_thresholds, self.class_id = float(value), num_thresholds, class_id
        super().__init__(name)

    def reset(self) -> None:
        n = self.num_thresholds
        self.true_positives, self.false_positives = np.zeros(n, np.float32), np.zeros(n, np.float32)
        self.true_negatives, self.false_negatives = np.zeros(n, np.float32), np.zeros(n, np.float32)

    def update(self, y_true, y_pred, sample_weight=None) -> None:
        where = type(self).__name__
        y_true, y_pred, weight = confusion_inputs(where, y_true, y_pred, sample_weight)
        if self.class_id is not None:
            if y_pred.ndim < 2:
                raise ValueError(f"{where}: with class_id, y_pred must be 2D (num_samples, "
                                 f"num_classes), received shape {y_pred.shape}")
            if weight is not None:
                weight = np.broadcast_to(weight, y_pred.shape)[..., self.class_id]
            y_true, y_pred = y_true[..., self.class_id], y_pred[..., self.class_id]
        # (T = 1: the one threshold 0.5, compared directly; clipping to [0, 1] changes no p > 0.5)
        add_threshold_counts(self, y_true, np.clip(y_pred, 0.0, 1.0), weight, self.num_thresholds,
                             [0.5] if self.num_thresholds == 1 else None, with_epsilon=False)

    def rates(self) -> dict[str, np.ndarray]:
        tp, fp, tn, fn = (self.true_positives, self.false_positives, self.true_negatives,
                          self.false_negatives)
        return {"sensitivity": _divide_no_nan(tp, tp + fn), "specificity": _divide_no_nan(tn, tn + fp),
                "precision": _divide_no_nan(tp, tp + fp)}

    def best(self, constrained: np.ndarray, dependent: np.ndarray) -> float:
        """``max(where(constrained >= value, dependent, 0))``, 0 when nothing qualifies."""
        return float(np.max(np.where(constrained >= np.float32(self.value), dependent, 0), initial=0))

    def get_config(self):
        return {"name": self.name, "class_id": self.class_id, "num_thresholds": self.num_thresholds,
                self.value_arg: self.value}


class SensitivityAtSpecificity(_RateAtRate):
    """``keras.metrics.SensitivityAtSpecificity(specificity)``: the best sensitivity
    ``TP / (TP + FN)`` at a threshold whose specificity ``TN / (TN + FP)`` is at least
    ``specificity``."""

    name, value_arg = "sensitivity_at_specificity", "specificity"

    def __init__(self, specificity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(specificity, num_thresholds, class_id, name, dtype)

    def result(self):
        rates = self.rates()
        return self.best(rates["specificity"], rates["sensitivity"])


class SpecificityAtSensitivity(_RateAtRate):
    """``keras.metrics.SpecificityAtSensitivity(sensitivity)``: the best specificity at a
    threshold whose sensitivity is at least ``sensitivity``."""

    name, value_arg = "specificity_at_sensitivity", "sensitivity"

    def __init__(self, sensitivity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype)

    def result(self):
        rates = self.rates()
        return self.best(rates["sensitivity"], rates["specificity"])


class PrecisionAtRecall(_RateAtRate):
    """``keras.metrics.PrecisionAtRecall(recall)``: the best precision ``TP / (TP + FP)`` at a
    threshold whose recall (sensitivity) is at least ``recall``."""

    name, value_arg = "precision_at_recall", "recall"

    def __init__(self, recall, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(recall, num_thresholds, class_id, name, dtype)

    def result(self):
        rates = self.rates()
        return self.best(rates["sensitivity"], rates["precision"])


class RecallAtPrecision(_RateAtRate):
    """``keras.metrics.RecallAtPrecision(precision)``: the best recall at a threshold whose
    precision is at least ``precision`` (0 if no threshold reaches it)."""

    name, value_arg = "recall_at_precision", "precision"

    def __init__(self, precision, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(precision, num_thresholds, class_id, name, dtype)

    def result(self):
        rates = self.rates()
        return self.best(rates["precision"], rates["sensitivity"])


CLASSES = (TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, FBetaScore, F1Score, IoU, MeanIoU,
           OneHotIoU, OneHotMeanIoU, BinaryIoU, SensitivityAtSpecificity, SpecificityAtSensitivity,
           PrecisionAtRecall, RecallAtPrecision)
