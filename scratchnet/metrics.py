"""Metrics accumulated over an epoch, as Keras' stateful metrics are.

Each metric takes batches with ``update(y_true, y_pred, sample_weight=None)`` (Keras' name,
``update_state``, works too), reports with ``result()``, and ``reset()`` starts a new epoch.

Most metrics are means of per-sample values (Keras' ``MeanMetricWrapper``): a batch adds
``sum(w * v)`` to ``total`` and ``sum(w)`` to ``count`` (``w = 1`` per sample without weights),
and ``result() = total / count``. ``Precision`` and ``Recall`` count weighted true and false
positives (and negatives) instead.

Names resolve as Keras' ``compile`` resolves them (``keras/src/trainers/compile_utils.py``):
``"accuracy"``/``"acc"`` (any case) pick their variant from the shapes -- one output unit ->
binary, integer labels (a sparse loss) -> sparse categorical, else categorical; every other name
goes through ``keras.metrics.get`` (snake-case or class name, ``"mae"``, ``"mse"``, ...). The
metric then logs under the string it was given (``"acc"`` logs as ``"acc"``, ``"mae"`` as
``"mae"``); a metric object logs under its ``name``.

Top-k accuracy, the F-scores and IoU live in ``metrics_classification.py``; RMSE, R2 and the
running means of the other losses (MAPE, MSLE, log-cosh, cosine, KL, Poisson, hinge) in
``metrics_regression.py``. All are importable from here and registered below.
"""

from __future__ import annotations

import numpy as np

from scratchnet import activations, kernels, losses
from scratchnet.losses import same_rank

NEG_INF = -1e10  # Keras' stand-in for -inf when top_k masks predictions


class Metric:
    """Base class: ``update`` adds a batch, ``result`` reports, ``reset`` starts over.

    A subclass writes either ``values(y_true, y_pred)``, the per-sample values, which the base
    class averages with their weights as ``MeanMetric`` describes, or its own
    ``update(y_true, y_pred, sample_weight=None)`` and ``result()`` (as ``Precision`` does).

    A subclass written the Keras way works too (keras.io's "Training & evaluation" guide): its
    ``__init__`` makes state with ``self.add_variable(shape, initializer, name=...)`` (or
    ``add_weight``), and it overrides Keras' ``update_state``, ``result`` (which may return a
    variable) and ``reset_state``. ``fit``/``evaluate`` call those three names, whose defaults here
    lead to ``update`` and ``reset``; as in Keras (``keras/src/metrics/metric.py``), the default
    ``reset_state`` also sets every variable to zeros.
    """

    name = "metric"

    def __init__(self, name: str | None = None, dtype=None):
        self.name = name or self.name
        self._variables: list = []
        self.reset()

    @property
    def variables(self) -> list:
        """The state made with :meth:`add_variable`, in order of making (Keras' ``variables``)."""
        return list(getattr(self, "_variables", []))

    def add_variable(self, shape, initializer, dtype=None, aggregation: str = "sum", name=None):
        """A non-trainable :class:`scratchnet.Variable` of this metric, named
        ``"<metric>/<name>"`` (Keras' ``Metric.add_variable``; ``aggregation`` concerns
        distribution strategies and is accepted for the signature)."""
        from scratchnet.variables import Variable, name_scope

        if "_variables" not in vars(self):
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() in __init__ before "
                               "add_variable")
        with name_scope(self.name.replace("/", ">")):
            variable = Variable(initializer, shape=shape, dtype=dtype, trainable=False,
                                aggregation=aggregation, name=name)
        self._variables.append(variable)
        return variable

    def add_weight(self, shape=(), initializer=None, dtype=None, name=None):
        """Keras' alias of :meth:`add_variable`."""
        return self.add_variable(shape=shape, initializer=initializer, dtype=dtype, name=name)

    def reset(self) -> None:
        self.total = 0.0
        self.count = 0.0
        for variable in getattr(self, "_variables", []):
            variable.assign(np.zeros(variable.shape, variable.dtype))

    def result(self):
        return self.total / self.count if self.count else 0.0

    # Keras' names for the same two steps (what fit and evaluate call).
    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        self.update(y_true, y_pred, sample_weight)

    def reset_state(self) -> None:
        self.reset()

    def __call__(self, *args, **kwargs):
        """Add one batch and return the result so far (Keras' ``metric(y_true, y_pred)``)."""
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict:
        return {"name": self.name}

    def values(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        """Values with a leading batch axis (per sample, or per element); subclasses implement this."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement values(y_true, y_pred) (per-sample values) or "
            "override update(y_true, y_pred, sample_weight=None)")

    def update(self, y_true, y_pred, sample_weight=None) -> None:
        y_true, y_pred = kernels.to_numpy(y_true), kernels.to_numpy(y_pred)  # from the GPU, if there
        values = self.values(np.asarray(y_true), np.asarray(y_pred))
        self.add_values(values, sample_weight)

    def add_values(self, values, sample_weight=None) -> None:
        """Add per-sample ``values`` with their weights, as Keras' ``Mean.update_state`` does."""
        v = np.asarray(values, dtype=np.float64)
        if sample_weight is None:
            per_sample = v.reshape(v.shape[0], -1).mean(axis=1) if v.ndim > 1 else v  # (N,) or ()
            self.total += float(per_sample.sum())
            self.count += float(v.shape[0]) if v.ndim else 1.0
            return
        w = np.asarray(kernels.to_numpy(sample_weight), dtype=np.float64)
        v, w = same_rank(v, w)
        if v.ndim > w.ndim:
            v = v.mean(axis=tuple(range(w.ndim, v.ndim)))  # to the weights' shape
        w = np.broadcast_to(w, v.shape)
        weighted = v * w
        if weighted.ndim > 1:
            weighted = weighted.mean(axis=tuple(range(1, weighted.ndim)))  # (N,)
            w = w.mean(axis=tuple(range(1, w.ndim)))
        self.total += float(weighted.sum())
        self.count += float(w.sum())


class MeanMetric(Metric):
    """The weighted mean of per-sample values ``v`` (Keras' ``MeanMetricWrapper``).

    Without weights every sample counts 1: ``result = sum(v) / N`` over every batch seen.
    With ``sample_weight`` ``w`` (shape ``(N,)``, or ``(N, 1)``, or per element):
    ``result = sum(w * v) / sum(w)``. Values with more axes than ``w`` are first averaged over
    the extra axes, and ``w`` is broadcast over them.
    """


class Mean(MeanMetric):
    """The (weighted) running mean of values, e.g. the batch losses weighted by batch size."""

    name = "mean"

    def update_value(self, value: float, weight: float) -> None:
        """Add one value counted ``weight`` times: ``total += value * weight``, ``count += weight``."""
        self.total += float(value) * weight
        self.count += float(weight)

    def update(self, values, sample_weight=None) -> None:  # Keras' Mean.update_state(values, sample_weight)
        self.add_values(kernels.to_numpy(values), sample_weight)

    def update_state(self, values, sample_weight=None) -> None:
        self.update(values, sample_weight)


class Sum(Metric):
    """The (weighted) running sum of values (Keras' ``Sum``): values with more axes than the
    weights are first summed over the extra axes, then ``total += sum(w * v)``."""

    name = "sum"

    def __init__(self, name: str | None = None, dtype=None):
        super().__init__(name)

    def reset(self) -> None:
        self.total = 0.0

    def result(self):
        return self.total

    def update(self, values, sample_weight=None) -> None:  # Keras' Sum.update_state(values, sample_weight)
        v = np.asarray(kernels.to_numpy(values), dtype=np.float64)
        if sample_weight is not None:
            w = np.asarray(kernels.to_numpy(sample_weight), dtype=np.float64)
            v, w = same_rank(v, w)
            if v.ndim > w.ndim:
                v = v.sum(axis=tuple(range(w.ndim, v.ndim)))  # to the weights' shape
            v = v * np.broadcast_to(w, v.shape)
        self.total += float(v.sum())

    def update_state(self, values, sample_weight=None) -> None:
        self.update(values, sample_weight)


class SparseCategoricalAccuracy(MeanMetric):
    """1 where ``argmax(y_pred) == y_true`` (the first maximum wins a tie, as in Keras); labels
    ``(N,)`` or ``(N, 1)``."""

    name = "sparse_categorical_accuracy"

    def values(self, y_true, y_pred):
        if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
            y_true = y_true.reshape(y_true.shape[:-1])
        return np.argmax(y_pred, axis=-1) == y_true


class CategoricalAccuracy(MeanMetric):
    """1 where ``argmax(y_pred) == argmax(y_true)`` (one-hot labels)."""

    name = "categorical_accuracy"

    def values(self, y_true, y_pred):
        return np.argmax(y_pred, axis=-1) == np.argmax(y_true, axis=-1)


class BinaryAccuracy(MeanMetric):
    """Per element, 1 where ``y_true == (y_pred > threshold)``, ``threshold = 0.5``: labels are
    compared exactly, so a soft label like 0.3 never matches (Keras' rule)."""

    name = "binary_accuracy"

    def __init__(self, name: str | None = None, threshold: float = 0.5):
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise TypeError(f"BinaryAccuracy: expected threshold to be a number, received "
                            f"threshold={threshold!r}")
        self.threshold = float(threshold)
        super().__init__(name)

    def values(self, y_true, y_pred):
        y_true, y_pred = same_rank(y_true, y_pred)
        predicted = (y_pred > np.asarray(self.threshold, y_pred.dtype)).astype(y_true.dtype)
        return y_true == predicted

    def get_config(self):
        return {"name": self.name, "threshold": self.threshold}


class MeanAbsoluteError(MeanMetric):
    """Per sample ``mean(|y_pred - y_true|)`` over the last axis."""

    name = "mean_absolute_error"

    def values(self, y_true, y_pred):
        y_true, y_pred = same_rank(y_true.astype(y_pred.dtype), y_pred)
        return np.mean(np.abs(y_pred - y_true), axis=-1)


class MeanSquaredError(MeanMetric):
    """Per sample ``mean((y_pred - y_true)^2)`` over the last axis."""

    name = "mean_squared_error"

    def values(self, y_true, y_pred):
        y_true, y_pred = same_rank(y_true.astype(y_pred.dtype), y_pred)
        return np.mean((y_pred - y_true) ** 2, axis=-1)


def confusion_inputs(where: str, y_true, y_pred, sample_weight=None):
    """Labels and predictions as float32 of one shape (Keras' rank fix first), and the sample
    weights at that rank (None without), for the metrics that count confusion cells."""
    y_true = np.asarray(kernels.to_numpy(y_true)).astype(np.float32)
    y_pred = np.asarray(kernels.to_numpy(y_pred)).astype(np.float32)
    y_pred, y_true = same_rank(y_pred, y_true)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{where}: expected y_true of the same shape as y_pred {y_pred.shape}, "
                         f"received shape {y_true.shape}")
    weight = None
    if sample_weight is not None:
        weight = np.asarray(kernels.to_numpy(sample_weight), dtype=np.float32)[..., None]
        _, weight = same_rank(y_true, weight, expand_rank_1=False)
    return y_true, y_pred, weight


def _divide_no_nan(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a / b``, 0 where ``b`` is 0 (``ops.divide_no_nan``)."""
    safe = np.where(b != 0, b, 1)
    return np.where(b != 0, a / safe, 0).astype(a.dtype)


class _ConfusionMetric(Metric):
    """Weighted counts of true/false positives and negatives, one per threshold.

    Every element of ``y_pred`` (float32, as Keras casts it) is a prediction: positive where
    ``y_pred > threshold``; every nonzero ``y_true`` is a positive label. ``top_k`` keeps only the
    ``k`` largest predictions of each row (the others become ``-1e10``; the default threshold is
    then ``-1e10`` too); ``class_id`` keeps one column. A sample's weight counts for each of its
    elements.
    """

    def __init__(self, thresholds=None, top_k: int | None = None, class_id: int | None = None,
                 name: str | None = None):
        where = type(self).__name__
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
            raise ValueError(f"{where}: expected top_k to be a positive integer or None, received "
                             f"top_k={top_k!r}")
        if class_id is not None and (isinstance(class_id, bool) or not isinstance(class_id, int)):
            raise ValueError(f"{where}: expected class_id to be an integer or None, received "
                             f"class_id={class_id!r}")
        self.init_thresholds = thresholds
        self.top_k = top_k
        self.class_id = class_id
        if thresholds is None:
            self.thresholds = [0.5 if top_k is None else NEG_INF]
        else:
            listed = list(thresholds) if isinstance(thresholds, list | tuple) else [thresholds]
            bad = [t for t in listed if t is None or isinstance(t, bool) or not 0 <= t <= 1]
            if bad or not listed:
                raise ValueError(f"{where}: threshold values must be in [0, 1], received "
                                 f"thresholds={thresholds!r}")
            self.thresholds = [float(t) for t in listed]
        super().__init__(name)

    def reset(self) -> None:
        zeros = np.zeros(len(self.thresholds))
        self.true_positives, self.false_positives = zeros.copy(), zeros.copy()
        self.false_negatives, self.true_negatives = zeros.copy(), zeros.copy()

    def update(self, y_true, y_pred, sample_weight=None) -> None:
        where = type(self).__name__
        y_true, y_pred, weight = confusion_inputs(where, y_true, y_pred, sample_weight)
        if self.top_k is not None:
            y_pred = top_k_only(y_pred, self.top_k)
        if self.class_id is not None:
            if y_pred.ndim == 1:
                raise ValueError(f"{where}: with class_id, y_pred must be 2D (num_samples, "
                                 f"num_classes), received shape {y_pred.shape}")
            y_true, y_pred = y_true[..., self.class_id, None], y_pred[..., self.class_id, None]
        thresholds = np.asarray(self.thresholds, dtype=np.float32)
        predicted = y_pred.reshape(1, -1) > thresholds[:, None]  # (T, elements)
        actual = (y_true != 0).reshape(1, -1)  # (1, elements)
        w = 1.0 if weight is None else np.broadcast_to(weight, y_pred.shape).reshape(1, -1)
        self.true_positives += np.sum((actual & predicted) * w, axis=1)
        self.false_positives += np.sum((~actual & predicted) * w, axis=1)
        self.false_negatives += np.sum((actual & ~predicted) * w, axis=1)
        self.true_negatives += np.sum((~actual & ~predicted) * w, axis=1)

    def ratio(self, numerator: np.ndarray, denominator: np.ndarray):
        """``numerator / denominator`` (0 where that is 0/0); a float for one threshold."""
        safe = np.where(denominator > 0, denominator, 1.0)
        value = np.where(denominator > 0, numerator / safe, 0.0)
        return float(value[0]) if len(self.thresholds) == 1 else value

    def get_config(self):
        return {"name": self.name, "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class Precision(_ConfusionMetric):
    """``precision = TP / (TP + FP)``: of the predicted positives, the share that are positive."""

    name = "precision"

    def result(self):
        return self.ratio(self.true_positives, self.true_positives + self.false_positives)


class Recall(_ConfusionMetric):
    """``recall = TP / (TP + FN)``: of the positive labels, the share predicted positive."""

    name = "recall"

    def result(self):
        return self.ratio(self.true_positives, self.true_positives + self.false_negatives)


class _Count(_ConfusionMetric):
    """One of the four counts, weighted (Keras' ``TruePositives(thresholds=None)`` and its three
    siblings, which the imbalanced-data lesson lists): a float for one threshold (0.5 by default),
    an array for several."""

    count_of = ""

    def __init__(self, thresholds=None, name: str | None = None, dtype=None):
        super().__init__(thresholds=thresholds, name=name)

    def result(self):
        counts = getattr(self, self.count_of)
        return float(counts[0]) if len(self.thresholds) == 1 else counts.copy()

    def get_config(self):
        return {"name": self.name, "thresholds": self.init_thresholds}


class TruePositives(_Count):
    name, count_of = "true_positives", "true_positives"


class FalsePositives(_Count):
    name, count_of = "false_positives", "false_positives"


class TrueNegatives(_Count):
    name, count_of = "true_negatives", "true_negatives"


class FalseNegatives(_Count):
    name, count_of = "false_negatives", "false_negatives"


def bucket_counts(p, true_w, false_w, num_thresholds: int, with_epsilon: bool = True):
    """Weighted true and false positives at the evenly spaced thresholds ``t_i = i / (T - 1)``,
    counted Keras' way: prediction ``p`` (in [0, 1]) falls in bucket ``b = ceil(p (T - 1)) - 1``
    and is positive at every threshold up to ``b``; a reversed running sum of the per-bucket
    weights gives ``TP[i]`` and ``FP[i]``. A ``p`` of exactly 0 has ``b = -1``: with AUC's
    thresholds (``with_epsilon``: the first is ``-1e-7``) it goes to bucket 0, positive at the
    first threshold; else (thresholds from 0, as SensitivityAtSpecificity's) it is positive
    nowhere, as Keras' ``segment_sum`` drops a negative bucket."""
    buckets = (np.ceil(p * np.float32(num_thresholds - 1)) - 1).astype(int)
    if with_epsilon:
        buckets = np.maximum(buckets, 0)
    else:
        true_w, false_w, buckets = true_w[buckets >= 0], false_w[buckets >= 0], buckets[buckets >= 0]
    tp = np.bincount(buckets, true_w, num_thresholds)[::-1].cumsum()[::-1]
    fp = np.bincount(buckets, false_w, num_thresholds)[::-1].cumsum()[::-1]
    return tp, fp


def add_threshold_counts(metric, y_true, p, weight, num_thresholds: int, thresholds=None,
                         with_epsilon: bool = True) -> None:
    """Add a batch's weighted confusion counts, one per threshold, to ``metric``'s
    ``true_positives``, ``false_positives``, ``false_negatives`` and ``true_negatives`` (float32,
    as Keras keeps them). ``p`` in [0, 1]; a nonzero ``y_true`` is a positive label. Without
    ``thresholds``: Keras' buckets at ``num_thresholds`` evenly spaced ones (:func:`bucket_counts`);
    with them, positive where ``p > threshold``."""
    weight = np.broadcast_to(np.float32(1.0) if weight is None else weight, p.shape).reshape(-1)
    positive = (y_true != 0).reshape(-1).astype(np.float32)
    true_w, false_w = positive * weight, (1 - positive) * weight
    p = p.reshape(-1)
    if thresholds is None:
        tp, fp = bucket_counts(p, true_w, false_w, num_thresholds, with_epsilon)
    else:
        predicted = p[None, :] > np.asarray(thresholds, dtype=np.float32)[:, None]  # (T, elements)
        tp, fp = (predicted * true_w).sum(axis=1), (predicted * false_w).sum(axis=1)
    metric.true_positives += tp.astype(np.float32)
    metric.false_positives += fp.astype(np.float32)
    metric.false_negatives += (true_w.sum() - tp).astype(np.float32)
    metric.true_negatives += (false_w.sum() - fp).astype(np.float32)


class AUC(Metric):
    """Area under the ROC curve (``curve="ROC"``) or the precision-recall curve (``"PR"``), from
    weighted confusion counts at ``num_thresholds`` thresholds, as ``keras.metrics.AUC`` computes
    it (the imbalanced-data lesson's ``AUC(name="auc")`` and ``AUC(name="prc", curve="PR")``).

    Thresholds ``t_0 = -1e-7, t_i = i / (T - 1), t_{T-1} = 1 + 1e-7``; a prediction ``p`` (clipped
    to [0, 1]; ``sigmoid`` first with ``from_logits``) counts as positive at every ``t_i < p``.
    Keras counts them by buckets: ``b = max(ceil(p * (T - 1)) - 1, 0)``, the weights summed per
    bucket, then a reversed running sum gives ``TP[i]`` and ``FP[i]`` (float32, as Keras).
    Given ``thresholds=[...]`` instead, each one is compared directly.

    ROC: ``x = FP / (FP + TN)``, ``y = TP / (TP + FN)``; PR: ``x = recall``, ``y = precision``.
    The area is ``sum_i (x_i - x_{i+1}) * h_i`` with ``h_i`` the mean (``"interpolation"``), min
    (``"minoring"``) or max (``"majoring"``) of ``y_i, y_{i+1}``; PR with ``"interpolation"`` uses
    Keras' closed form of Davis & Goadrich's interpolation instead (:meth:`interpolate_pr_auc`).
    """

    name = "auc"

    def __init__(self, num_thresholds: int = 200, curve: str = "ROC",
                 summation_method: str = "interpolation", name: str | None = None, dtype=None,
                 thresholds=None, multi_label: bool = False, num_labels=None, label_weights=None,
                 from_logits: bool = False):
        if str(curve).upper() not in ("ROC", "PR"):
            raise ValueError(f"AUC: expected curve to be 'ROC' or 'PR' (scratchnet has no "
                             f"'PRGAIN'), received curve={curve!r}")
        if summation_method not in ("interpolation", "minoring", "majoring"):
            raise ValueError(f"AUC: expected summation_method to be 'interpolation', 'minoring' or "
                             f"'majoring', received summation_method={summation_method!r}")
        if multi_label or num_labels is not None or label_weights is not None:
            raise ValueError("AUC: scratchnet computes one AUC over all the predictions; "
                             "multi_label, num_labels and label_weights are not implemented")
        if thresholds is not None:
            listed = sorted(float(t) for t in thresholds)
            if not listed or any(not 0 <= t <= 1 for t in listed):
                raise ValueError(f"AUC: threshold values must be in [0, 1], received "
                                 f"thresholds={thresholds!r}")
            self.num_thresholds = len(listed) + 2
            inner = listed
        else:
            if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, int) \
                    or num_thresholds <= 1:
                raise ValueError(f"AUC: argument `num_thresholds` must be an integer > 1, "
                                 f"received num_thresholds={num_thresholds!r}")
            self.num_thresholds = num_thresholds
            inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
        self.init_thresholds = thresholds
        self.thresholds = np.array([-1e-7] + inner + [1.0 + 1e-7], dtype=np.float32)
        self.curve = str(curve).upper()
        self.summation_method = summation_method
        self.from_logits = bool(from_logits)
        super().__init__(name)

    def reset(self) -> None:
        zeros = np.zeros(self.num_thresholds, dtype=np.float32)
        self.true_positives, self.false_positives = zeros.copy(), zeros.copy()
        self.true_negatives, self.false_negatives = zeros.copy(), zeros.copy()

    def update(self, y_true, y_pred, sample_weight=None) -> None:
        y_true, y_pred, weight = confusion_inputs("AUC", y_true, y_pred, sample_weight)
        if self.from_logits:
            y_pred = activations.Sigmoid().forward(y_pred)  # the overflow-safe sigmoid
        add_threshold_counts(self, y_true, np.clip(y_pred, 0.0, 1.0), weight, self.num_thresholds,
                             None if self.init_thresholds is None else self.thresholds)

    def interpolate_pr_auc(self) -> float:
        """Keras' closed form: precision varies as ``(TP_A + slope (P - P_A)) / P`` within each
        interval, ``P = TP + FP``; its integral over recall, summed over the intervals."""
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _divide_no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        both = (p[:-1] > 0) & (p[1:] > 0)
        ratio = np.where(both, _divide_no_nan(p[:-1], np.maximum(p[1:], 0)), np.float32(1))
        increments = _divide_no_nan(slope * (dtp + intercept * np.log(ratio)),
                                    np.maximum(tp[1:] + fn[1:], 0))
        return float(increments.sum())

    def result(self) -> float:
        tp, fp, tn, fn = (self.true_positives, self.false_positives, self.true_negatives,
                          self.false_negatives)
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self.interpolate_pr_auc()
        recall = _divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _divide_no_nan(fp, fp + tn), recall
        else:
            x, y = recall, _divide_no_nan(tp, tp + fp)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / np.float32(2)
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return float(((x[:-1] - x[1:]) * heights).sum())

    def get_config(self):
        """Keras' ``AUC.get_config`` (keras/src/metrics/confusion_metrics.py): ``thresholds``
        only when they were given (then ``num_thresholds`` counts them and the two ends)."""
        config = {"name": self.name, "num_thresholds": self.num_thresholds, "curve": self.curve,
                  "summation_method": self.summation_method, "multi_label": False,
                  "num_labels": None, "label_weights": None, "from_logits": self.from_logits}
        if self.init_thresholds is not None:
            config["thresholds"] = [float(t) for t in self.init_thresholds]
        return config


class Accuracy(MeanMetric):
    """1 where the prediction equals the label exactly (``keras.metrics.Accuracy``: for
    predictions that already are classes; ``metrics=["accuracy"]`` in ``compile`` picks the binary,
    sparse or categorical accuracy instead, as Keras does)."""

    name = "accuracy"

    def values(self, y_true, y_pred):
        y_true, y_pred = same_rank(y_true.astype(y_pred.dtype), y_pred)
        return (y_true == y_pred).astype(np.float32)


class _LossMetric(MeanMetric):
    """The running mean of a loss function's per-sample values (Keras' ``MeanMetricWrapper``
    around ``binary_crossentropy`` and its two siblings): the loss a metric reports is computed
    from ``y_pred`` as given, with the metric's own ``from_logits``."""

    loss_class = None

    def __init__(self, name: str | None = None, dtype=None, axis: int = -1, **loss_kwargs):
        if axis != -1:
            raise ValueError(f"{type(self).__name__}: scratchnet computes cross-entropies over the "
                             f"last axis only (axis=-1), received axis={axis!r}")
        self.loss = self.loss_class(**loss_kwargs)
        super().__init__(name)

    def values(self, y_true, y_pred):
        y_true, y_pred = self.loss.check(y_true, y_pred)
        return self.loss.forward(y_true, y_pred)

    def get_config(self):
        return {"name": self.name, **{k: v for k, v in self.loss.get_config().items() if k != "name"}}


class BinaryCrossentropy(_LossMetric):
    name, loss_class = "binary_crossentropy", losses.BinaryCrossentropy

    def __init__(self, name: str | None = None, dtype=None, from_logits: bool = False,
                 label_smoothing: float = 0):
        super().__init__(name, from_logits=from_logits, label_smoothing=label_smoothing)
        self.label_smoothing = label_smoothing  # as given, for the config

    def get_config(self):
        """Keras' ``BinaryCrossentropy.get_config`` (keras/src/metrics/probabilistic_metrics.py)."""
        return {"name": self.name, "from_logits": self.loss.from_logits,
                "label_smoothing": self.label_smoothing}


class CategoricalCrossentropy(_LossMetric):
    name, loss_class = "categorical_crossentropy", losses.CategoricalCrossentropy

    def __init__(self, name: str | None = None, dtype=None, from_logits: bool = False,
                 label_smoothing: float = 0, axis: int = -1):
        super().__init__(name, axis=axis, from_logits=from_logits, label_smoothing=label_smoothing)
        self.label_smoothing = label_smoothing  # as given, for the config

    def get_config(self):
        """Keras' ``CategoricalCrossentropy.get_config`` (keras/src/metrics/probabilistic_metrics.py)."""
        return {"name": self.name, "from_logits": self.loss.from_logits,
                "label_smoothing": self.label_smoothing, "axis": -1}


class SparseCategoricalCrossentropy(_LossMetric):
    name, loss_class = "sparse_categorical_crossentropy", losses.SparseCategoricalCrossentropy

    def __init__(self, name: str | None = None, dtype=None, from_logits: bool = False,
                 ignore_class=None, axis: int = -1):
        if ignore_class is not None:
            raise ValueError(f"SparseCategoricalCrossentropy: ignore_class is not implemented in "
                             f"scratchnet; expected None, received ignore_class={ignore_class!r}")
        super().__init__(name, axis=axis, from_logits=from_logits)

    def get_config(self):
        """Keras' ``SparseCategoricalCrossentropy.get_config``
        (keras/src/metrics/probabilistic_metrics.py)."""
        return {"name": self.name, "from_logits": self.loss.from_logits, "ignore_class": None, "axis": -1}


def top_k_only(x: np.ndarray, k: int) -> np.ndarray:
    """Keep the ``k`` largest entries of each row (ties: the lower index, as ``tf.math.top_k``);
    the others become ``NEG_INF``."""
    top = np.argsort(-x, axis=-1, kind="stable")[..., :k]
    mask = np.zeros_like(x)
    np.put_along_axis(mask, top, 1.0, axis=-1)
    return x * mask + NEG_INF * (1 - mask)


# The rest of Keras' common metrics live in two files of their own; they build on the classes
# above, so they are imported here, after them.
from scratchnet.metrics_classification import (  # noqa: E402
    BinaryIoU,
    F1Score,
    FBetaScore,
    IoU,
    MeanIoU,
    OneHotIoU,
    OneHotMeanIoU,
    PrecisionAtRecall,
    RecallAtPrecision,
    SensitivityAtSpecificity,
    SparseTopKCategoricalAccuracy,
    SpecificityAtSensitivity,
    TopKCategoricalAccuracy,
)
from scratchnet.metrics_functions import (  # noqa: E402, F401  (Keras' keras.metrics functions)
    MeanMetricWrapper,
    binary_accuracy,
    binary_crossentropy,
    binary_focal_crossentropy,
    categorical_accuracy,
    categorical_crossentropy,
    categorical_focal_crossentropy,
    categorical_hinge,
    concordance_correlation,
    hinge,
    huber,
    kl_divergence,
    log_cosh,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    pearson_correlation,
    poisson,
    sparse_categorical_accuracy,
    sparse_categorical_crossentropy,
    sparse_top_k_categorical_accuracy,
    squared_hinge,
    top_k_categorical_accuracy,
)
from scratchnet.metrics_regression import (  # noqa: E402
    CategoricalHinge,
    ConcordanceCorrelation,
    CosineSimilarity,
    Hinge,
    KLDivergence,
    LogCoshError,
    MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError,
    PearsonCorrelation,
    Poisson,
    R2Score,
    RootMeanSquaredError,
    SquaredHinge,
)

CLASSES = (SparseCategoricalAccuracy, CategoricalAccuracy, BinaryAccuracy, MeanAbsoluteError,
           MeanSquaredError, Precision, Recall, TruePositives, FalsePositives, TrueNegatives,
           FalseNegatives, BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy,
           AUC, TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, RootMeanSquaredError,
           MeanAbsolutePercentageError, MeanSquaredLogarithmicError, LogCoshError, CosineSimilarity,
           KLDivergence, Poisson, Hinge, SquaredHinge, CategoricalHinge, R2Score, FBetaScore, F1Score,
           IoU, MeanIoU, OneHotIoU, OneHotMeanIoU, BinaryIoU,
           SensitivityAtSpecificity, SpecificityAtSensitivity, PrecisionAtRecall, RecallAtPrecision,
           PearsonCorrelation, ConcordanceCorrelation)
# keras.metrics.get's names: the class names, their snake-case forms (Keras' to_snake_case:
# "io_u", "f_beta_score", "log_cosh_error"; not the default names "logcosh" and "fbeta_score"),
# and Keras' short aliases. IoU and MeanIoU need num_classes, so, as in Keras, their names fail
# at compile time.
NAMES: dict[str, type[Metric]] = {cls.name: cls for cls in CLASSES}
NAMES.update({cls.__name__: cls for cls in CLASSES})
NAMES.update({"log_cosh_error": LogCoshError, "f_beta_score": FBetaScore})
del NAMES["logcosh"], NAMES["fbeta_score"]
NAMES.update({"mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
               "mse": MeanSquaredError, "MSE": MeanSquaredError,
               "mape": MeanAbsolutePercentageError, "MAPE": MeanAbsolutePercentageError,
               "msle": MeanSquaredLogarithmicError, "MSLE": MeanSquaredLogarithmicError})
ALIASES = ("accuracy", "acc")  # compared case-insensitively, as Keras does


def _is_accuracy(identifier) -> bool:
    return isinstance(identifier, str) and identifier.lower() in ALIASES


def _is_function(identifier) -> bool:
    """A function ``fn(y_true, y_pred)`` (not a Metric class, which Keras also refuses)."""
    return callable(identifier) and not isinstance(identifier, type | Metric)


def _unknown(identifier) -> ValueError:
    return ValueError(
        f"compile: unknown metric {identifier!r}; expected 'accuracy', 'acc' or one of "
        f"{sorted(NAMES)}, a scratchnet.metrics.Metric instance or a function fn(y_true, y_pred)"
    )


def validate(identifier) -> None:
    """Raise at compile time for a metric name ``get`` would not know, or one whose class cannot
    be built without arguments (``"io_u"``: Keras raises then too)."""
    if not (isinstance(identifier, Metric) or _is_accuracy(identifier) or _is_function(identifier)
            or (isinstance(identifier, str) and identifier in NAMES)):
        raise _unknown(identifier)
    if isinstance(identifier, str) and identifier in NAMES:
        try:
            NAMES[identifier]()
        except TypeError as error:
            raise ValueError(f"compile: metric {identifier!r} ({NAMES[identifier].__name__}) needs "
                             f"arguments; pass an instance instead ({error})") from None


def get(identifier, loss_name: str, output_units: int) -> Metric:
    """Resolve a metric as Keras' ``compile`` does; a name becomes the metric's (log) name.

    ``"accuracy"`` (or ``"acc"``): one output unit -> ``BinaryAccuracy``; a sparse loss (integer
    labels, one rank less than the output) -> ``SparseCategoricalAccuracy``; else
    ``CategoricalAccuracy``.
    """
    if isinstance(identifier, Metric):
        return identifier
    if _is_function(identifier):  # Keras wraps it, named after the function
        return MeanMetricWrapper(identifier, name=identifier.__name__)
    if _is_accuracy(identifier):
        if output_units == 1:
            return BinaryAccuracy(name=identifier)
        if loss_name == "sparse_categorical_crossentropy":
            return SparseCategoricalAccuracy(name=identifier)
        return CategoricalAccuracy(name=identifier)
    if isinstance(identifier, str) and identifier in NAMES:
        return NAMES[identifier](name=identifier)
    raise _unknown(identifier)


def serialize(metric) -> dict:
    """``keras.metrics.serialize``: a metric object as Keras writes it in a ``.keras`` file
    (``{"module": "keras.metrics", "class_name": ..., "config": ...}``), a metric function by its
    name (``"class_name": "function"``)."""
    from scratchnet.saving_keras import _metric_to_keras

    if not isinstance(metric, Metric) and not _is_function(metric):
        raise ValueError(f"metrics.serialize: expected a scratchnet.metrics.Metric or a metric "
                         f"function, received {metric!r}")
    return _metric_to_keras(metric)


def deserialize(config, custom_objects=None):
    """``keras.metrics.deserialize``: the metric object (or function) that :func:`serialize`'s
    dictionary, or Keras', describes; a name gives the class or function of that name."""
    from scratchnet.metrics_functions import BY_NAME
    from scratchnet.saving_keras import _metric_from_keras

    if custom_objects:
        raise ValueError("metrics.deserialize: scratchnet does not take custom_objects; received "
                         f"{sorted(custom_objects)}")
    if isinstance(config, str):
        if config in BY_NAME:
            return BY_NAME[config]
        if config in NAMES:
            return NAMES[config]
        raise _unknown(config)
    return _metric_from_keras(config, "metrics.deserialize")
