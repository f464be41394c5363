"""Metrics accumulated over an epoch, as Keras' stateful metrics are.

Each metric counts per-sample values with ``update(y_true, y_pred)`` and reports their mean with
``result()``; ``reset()`` starts a new epoch. ``"accuracy"`` resolves as Keras resolves it, from
the shapes: integer labels -> sparse categorical, one output unit -> binary, else categorical.
"""

from __future__ import annotations

import numpy as np

from scratchnet import kernels


class Metric:
    name = "metric"

    def __init__(self, name: str | None = None):
        self.name = name or self.name
        self.reset()

    def reset(self) -> None:
        self.total = 0.0
        self.count = 0

    def values(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        """Per-sample values; subclasses implement this."""
        raise NotImplementedError

    def update(self, y_true, y_pred) -> None:
        y_true, y_pred = kernels.to_numpy(y_true), kernels.to_numpy(y_pred)  # from the GPU, if there
        v = np.asarray(self.values(y_true, y_pred), dtype=np.float64)
        self.total += float(v.sum())
        self.count += int(v.size)

    def result(self) -> float:
        return self.total / self.count if self.count else 0.0


class SparseCategoricalAccuracy(Metric):
    """1 where ``argmax(y_pred) == y_true`` (the first maximum wins a tie, as in Keras)."""

    name = "sparse_categorical_accuracy"

    def values(self, y_true, y_pred):
        if y_true.ndim == y_pred.ndim:
            y_true = y_true.reshape(y_true.shape[:-1])
        return np.argmax(y_pred, axis=-1) == y_true


class CategoricalAccuracy(Metric):
    """1 where ``argmax(y_pred) == argmax(y_true)``."""

    name = "categorical_accuracy"

    def values(self, y_true, y_pred):
        return np.argmax(y_pred, axis=-1) == np.argmax(y_true, axis=-1)


class BinaryAccuracy(Metric):
    """1 where ``(y_pred > threshold) == y_true``; ``threshold = 0.5``."""

    name = "binary_accuracy"

    def __init__(self, name: str | None = None, threshold: float = 0.5):
        self.threshold = threshold
        super().__init__(name)

    def values(self, y_true, y_pred):
        return np.mean((y_pred > self.threshold) == (y_true > 0.5), axis=-1)


class Mean(Metric):
    """Weighted running mean of scalars, e.g. batch losses weighted by batch size."""

    name = "mean"

    def update_value(self, value: float, weight: int) -> None:
        self.total += float(value) * weight
        self.count += int(weight)


_CLASSES = {cls.name: cls for cls in (SparseCategoricalAccuracy, CategoricalAccuracy,
                                      BinaryAccuracy)}
ALIASES = ("accuracy", "acc")


def validate(identifier) -> None:
    """Raise at compile time for a metric name ``get`` would not know."""
    if not (isinstance(identifier, Metric) or identifier in ALIASES or identifier in _CLASSES):
        raise ValueError(
            f"compile: unknown metric {identifier!r}; expected 'accuracy' or one of "
            f"{sorted(_CLASSES)} or a scratchnet.metrics.Metric instance"
        )


def get(identifier, loss_name: str, output_units: int) -> Metric:
    """Resolve a metric name; ``"accuracy"`` picks its variant from the loss and output width."""
    if isinstance(identifier, Metric):
        return identifier
    if identifier in ALIASES:
        if loss_name == "sparse_categorical_crossentropy":
            return SparseCategoricalAccuracy(name="accuracy")
        if output_units == 1:
            return BinaryAccuracy(name="accuracy")
        return CategoricalAccuracy(name="accuracy")
    if isinstance(identifier, str) and identifier in _CLASSES:
        return _CLASSES[identifier]()
    raise ValueError(
        f"compile: unknown metric {identifier!r}; expected 'accuracy' or one of "
        f"{sorted(_CLASSES)} or a scratchnet.metrics.Metric instance"
    )
