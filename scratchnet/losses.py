"""Losses, each with its value and its gradient, as Keras computes them.

Every loss returns per-sample values from ``forward`` and reduces them with Keras' default
``sum_over_batch_size``: the mean over the batch (``sum / N``, ``N`` the number of per-sample
values). ``backward`` returns ``dL/dy_pred`` of that mean. ``EPSILON = 1e-7`` is Keras'
``backend.epsilon()``, used to clip probabilities.

The softmax trap: in Keras a probability tensor made by a softmax remembers its logits, and a
cross-entropy with ``from_logits=False`` silently takes the logits path (no clipping). A
``Sequential`` whose last layer ends in softmax does the same here, through :meth:`Loss.logits_twin`.
Keras tags a sigmoid's output the same way, so a final sigmoid does too: its input is then read
as softmax logits, exactly as Keras computes it.
"""

from __future__ import annotations

import numpy as np

from scratchnet import kernels
from scratchnet.activations import log_softmax, softmax

EPSILON = 1e-7


class Loss:
    """Base class: subclass and implement ``forward`` (per-sample) and ``backward`` (of the mean)."""

    name = "loss"

    def __call__(self, y_true, y_pred) -> float:
        y_true, y_pred = self.check(y_true, np.asarray(y_pred))
        return float(np.mean(self.forward(y_true, y_pred)))

    def check(self, y_true, y_pred):
        """Validate and convert labels; return ``(y_true, y_pred)`` ready for forward/backward."""
        y_true = np.asarray(y_true)
        return y_true.astype(y_pred.dtype, copy=False), y_pred

    def forward(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def logits_twin(self) -> Loss | None:
        """The same loss reading logits, if Keras would switch to it after a softmax; else None."""
        return None

    def get_config(self) -> dict:
        return {}


class SparseCategoricalCrossentropy(Loss):
    """Cross-entropy against integer labels ``y`` of shape ``(N,)`` (or ``(N, 1)``).

    ``from_logits=True``: ``loss = logsumexp(z) - z_y``; ``dL/dz = (softmax(z) - onehot(y)) / N``.
    ``from_logits=False``: ``p = clip(p, eps, 1 - eps)``, ``loss = -log p_y + log sum_k p_k``
    (Keras does not renormalise); the gradient is zero where the clip was active.
    """

    name = "sparse_categorical_crossentropy"

    def __init__(self, from_logits: bool = False):
        self.from_logits = bool(from_logits)

    def check(self, y_true, y_pred):
        return sparse_labels(y_true, y_pred, self.name), y_pred

    def forward(self, y_true, y_pred):
        xp = kernels.xp_of(y_pred)  # numpy, or cupy when the predictions live on a GPU
        k = y_pred.shape[-1]
        flat = y_pred.reshape(-1, k)  # (N, K)
        rows = xp.arange(flat.shape[0])
        labels = xp.asarray(y_true).reshape(-1)
        if self.from_logits:
            losses = -log_softmax(flat)[rows, labels]
        else:
            p = np.clip(flat, EPSILON, 1 - EPSILON)
            losses = -np.log(p[rows, labels]) + np.log(p.sum(axis=-1))
        return losses.reshape(y_pred.shape[:-1])

    def backward(self, y_true, y_pred):
        k = y_pred.shape[-1]
        flat = y_pred.reshape(-1, k)  # (N, K)
        n = flat.shape[0]
        xp = kernels.xp_of(y_pred)
        onehot = xp.eye(k, dtype=flat.dtype)[xp.asarray(y_true).reshape(-1)]
        if self.from_logits:
            grad = softmax(flat) - onehot
        else:
            p = np.clip(flat, EPSILON, 1 - EPSILON)
            inside = (flat >= EPSILON) & (flat <= 1 - EPSILON)
            grad = (1 / p.sum(axis=-1, keepdims=True) - onehot / p) * inside
        return (grad / n).reshape(y_pred.shape).astype(y_pred.dtype, copy=False)

    def logits_twin(self):
        return None if self.from_logits else SparseCategoricalCrossentropy(from_logits=True)

    def get_config(self):
        return {"from_logits": self.from_logits}


class CategoricalCrossentropy(Loss):
    """Cross-entropy against one-hot (or soft) labels ``y`` of the same shape as the prediction.

    ``from_logits=True``: ``loss = logsumexp(z) * sum(y) - sum(y * z)``;
    ``dL/dz = (softmax(z) * sum(y) - y) / N``.
    ``from_logits=False``: ``q = p / sum(p)``, ``q = clip(q, eps, 1 - eps)``, ``loss = -sum(y log q)``.
    """

    name = "categorical_crossentropy"

    def __init__(self, from_logits: bool = False):
        self.from_logits = bool(from_logits)

    def check(self, y_true, y_pred):
        return dense_labels(y_true, y_pred, self.name), y_pred

    def forward(self, y_true, y_pred):
        y_true = kernels.xp_of(y_pred).asarray(y_true)
        if self.from_logits:
            return -np.sum(y_true * log_softmax(y_pred), axis=-1)
        q = y_pred / np.sum(y_pred, axis=-1, keepdims=True)
        return -np.sum(y_true * np.log(np.clip(q, EPSILON, 1 - EPSILON)), axis=-1)

    def backward(self, y_true, y_pred):
        n = int(np.prod(y_pred.shape[:-1]))
        y_true = kernels.xp_of(y_pred).asarray(y_true)
        if self.from_logits:
            grad = softmax(y_pred) * y_true.sum(axis=-1, keepdims=True) - y_true
        else:
            total = np.sum(y_pred, axis=-1, keepdims=True)
            q = y_pred / total
            inside = (q >= EPSILON) & (q <= 1 - EPSILON)
            dq = -y_true / np.clip(q, EPSILON, 1 - EPSILON) * inside  # dL/dq
            # q_k = p_k / S: dL/dp_j = (dL/dq_j - sum_k dL/dq_k * q_k) / S
            grad = (dq - np.sum(dq * q, axis=-1, keepdims=True)) / total
        return (grad / n).astype(y_pred.dtype, copy=False)

    def logits_twin(self):
        return None if self.from_logits else CategoricalCrossentropy(from_logits=True)

    def get_config(self):
        return {"from_logits": self.from_logits}


class MeanSquaredError(Loss):
    """``loss = mean((y_pred - y)^2)`` over the last axis; ``dL/dy_pred = 2 (y_pred - y) / (D N)``."""

    name = "mean_squared_error"

    def check(self, y_true, y_pred):
        return dense_labels(y_true, y_pred, self.name, one_hot=False), y_pred

    def forward(self, y_true, y_pred):
        y_true = kernels.xp_of(y_pred).asarray(y_true)
        return np.mean((y_pred - y_true) ** 2, axis=-1)

    def backward(self, y_true, y_pred):
        n = int(np.prod(y_pred.shape[:-1]))
        y_true = kernels.xp_of(y_pred).asarray(y_true)
        return (2 * (y_pred - y_true) / (y_pred.shape[-1] * n)).astype(y_pred.dtype, copy=False)


def sparse_labels(y_true, y_pred: np.ndarray, where: str) -> np.ndarray:
    """Integer class ids ``(N,)`` (``(N, 1)`` accepted) checked against ``K = y_pred.shape[-1]``."""
    y = np.asarray(y_true)
    if y.dtype.kind not in "iuf" or y.dtype == np.bool_:
        raise TypeError(f"{where}: expected integer class labels, received dtype {y.dtype}")
    if y.ndim == y_pred.ndim and y.shape[-1] == 1:
        y = y.reshape(y.shape[:-1])
    if y.shape != y_pred.shape[:-1]:
        hint = ""
        if y.shape == y_pred.shape:
            hint = " (these look like one-hot labels: use CategoricalCrossentropy)"
        raise ValueError(
            f"{where}: expected labels of shape {y_pred.shape[:-1]} (one class id per sample) "
            f"for predictions of shape {y_pred.shape}, received shape {y.shape}{hint}"
        )
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise ValueError(f"{where}: expected integer class labels, received non-integer values")
    k = y_pred.shape[-1]
    if y.size and (y.min() < 0 or y.max() >= k):
        bad = y[(y < 0) | (y >= k)].reshape(-1)[0].item()
        raise ValueError(
            f"{where}: received a label value of {bad!r} which is outside the valid range of "
            f"[0, {k - 1}] for {k} classes"
        )
    return y.astype(np.int64)


def dense_labels(y_true, y_pred: np.ndarray, where: str, one_hot: bool = True) -> np.ndarray:
    """Targets of the same shape as the predictions (one-hot rows for categorical losses)."""
    y = np.asarray(y_true)
    if y.dtype.kind not in "iuf":
        raise TypeError(f"{where}: expected numeric targets, received dtype {y.dtype}")
    if y.shape != y_pred.shape:
        hint = ""
        if one_hot and y.shape == y_pred.shape[:-1]:
            hint = " (these look like integer class ids: use SparseCategoricalCrossentropy)"
        raise ValueError(
            f"{where}: expected targets of shape {y_pred.shape} like the predictions, "
            f"received shape {y.shape}{hint}"
        )
    if not np.all(np.isfinite(y)):
        raise ValueError(f"{where}: targets contain NaN or infinity")
    return y.astype(y_pred.dtype, copy=False)


_REGISTRY: dict[str, type[Loss]] = {
    cls.name: cls for cls in (SparseCategoricalCrossentropy, CategoricalCrossentropy,
                              MeanSquaredError)
}
_REGISTRY["mse"] = MeanSquaredError


def get(identifier) -> Loss:
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str) and identifier in _REGISTRY:
        return _REGISTRY[identifier]()
    raise ValueError(
        f"compile: unknown loss {identifier!r}; expected one of {sorted(_REGISTRY)} or a "
        "scratchnet.losses.Loss instance"
    )


def serialize(loss: Loss) -> dict:
    return {"name": loss.name, "config": loss.get_config()}


def deserialize(spec: dict) -> Loss:
    return _REGISTRY[spec["name"]](**spec.get("config", {}))
