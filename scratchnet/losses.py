"""Losses, each with its value and its gradient, as Keras computes them.

Every loss returns per-sample values from ``forward`` and reduces them with Keras' default
``sum_over_batch_size``: the mean over the batch (``sum / N``, ``N`` the number of per-sample
values). ``backward`` returns ``dL/dy_pred`` of that mean. ``EPSILON = 1e-7`` is Keras'
``backend.epsilon()``, used to clip probabilities.

The softmax trap: in Keras a probability tensor made by a softmax remembers its logits, and a
cross-entropy with ``from_logits=False`` silently takes the logits path (no clipping). A
``Sequential`` whose last layer ends in softmax does the same here, through :meth:`Loss.logits_twin`.
Keras tags a sigmoid's output the same way, so a final sigmoid does too: the categorical
cross-entropies then read its input as softmax logits, and ``BinaryCrossentropy`` reads the input
of a final sigmoid (or softmax) as sigmoid logits, exactly as Keras computes them. The rule holds
whatever ``from_logits`` says: with ``from_logits=True`` after a softmax or sigmoid, Keras warns
and reads the logits too (``_get_logits`` in ``keras/src/backend/tensorflow/nn.py``).

String names resolve as ``keras.losses.get`` resolves them: the function name
(``"binary_crossentropy"``), the class name (``"BinaryCrossentropy"``) and Keras' short aliases
(``"bce"``, ``"mae"``, ``"mse"``, ``"kld"``, ``"mape"``, ``"msle"`` and their upper-case forms).

Beyond the cross-entropies: regression losses (``MeanSquaredError``, ``MeanAbsoluteError``,
``Huber``, ``MeanSquaredLogarithmicError``, ``MeanAbsolutePercentageError``, ``LogCosh``,
``CosineSimilarity``), probabilistic ones (``KLDivergence``, ``Poisson``) and the hinge family
(``Hinge``, ``SquaredHinge``, ``CategoricalHinge``) and the focal cross-entropies
(``BinaryFocalCrossentropy``, ``CategoricalFocalCrossentropy``), each with Keras' epsilon and
clipping.
"""

from __future__ import annotations

import numpy as np

from scratchnet import config, kernels
from scratchnet.activations import Sigmoid, log_softmax, softmax

EPSILON = 1e-7

_sigmoid = Sigmoid().forward  # the overflow-free two-branch sigmoid


class Loss:
    """Base class: subclass and implement ``forward`` (per-sample) and ``backward`` (of the mean)."""

    name = "loss"

    def __init__(self, *, reduction: str = "sum_over_batch_size", name: str | None = None,
                 dtype=None):
        """Keras' arguments of every loss: ``name`` (default: the function's name),
        ``reduction`` (only Keras' default, the mean over the batch, which ``backward`` is
        written for) and ``dtype`` (only the float type in use)."""
        where = type(self).__name__
        if reduction != "sum_over_batch_size":
            raise ValueError(f"{where}: scratchnet implements only Keras' default "
                             "reduction='sum_over_batch_size' (the mean over the batch); "
                             f"received reduction={reduction!r}")
        if name is not None:
            if not isinstance(name, str) or not name:
                raise ValueError(f"{where}: expected name to be a non-empty string, received "
                                 f"{name!r}")
            self.name = name  # this loss object's; the class keeps the function's name
        if dtype is not None and str(dtype) != config.dtype():
            raise ValueError(f"{where}: expected dtype None or {config.dtype()!r} (the float type "
                             f"in use), received {dtype!r}")

    @property
    def function_name(self) -> str:
        """The loss function's name whatever ``name=`` says (``"sparse_categorical_crossentropy"``):
        what decides which accuracy ``metrics=["accuracy"]`` means."""
        return type(self).name

    def __call__(self, y_true, y_pred, sample_weight=None) -> float:
        """The reduced loss, as a Keras loss object returns it: ``sum(l * w) / size(l * w)``
        (Keras' ``sum_over_batch_size``; ``w = 1`` without ``sample_weight``). On traced values (a
        model's ``compute_loss`` override, scratchnet/custom_loss.py) a traced scalar."""
        from scratchnet.autodiff import Traced

        if isinstance(y_pred, Traced) or isinstance(y_true, Traced):
            return self._traced_call(y_true, y_pred, sample_weight)
        y_true, y_pred = self.check(y_true, np.asarray(y_pred))
        return reduce_weighted(self.forward(y_true, y_pred), sample_weight)

    def _traced_call(self, y_true, y_pred, sample_weight):
        """The reduced loss as one line on the gradient tape: its rule gives ``dL/dy_pred`` from
        :meth:`backward` (weighted, as :func:`weighted_loss_and_grad`), and, for a traced
        ``y_true`` (a teacher's softened prediction), ``dL/dy_true`` from :meth:`backward_true`."""
        from scratchnet.autodiff import Traced
        from scratchnet.model import weighted_loss_and_grad

        traced = [t for t in (y_true, y_pred) if isinstance(t, Traced)]
        true_value = y_true.value if isinstance(y_true, Traced) else y_true
        pred_value = y_pred.value if isinstance(y_pred, Traced) else np.asarray(y_pred)
        labels, pred_value = self.check(true_value, pred_value)
        loss, dpred = weighted_loss_and_grad(self, labels, pred_value, sample_weight)
        inputs = []
        if isinstance(y_pred, Traced):
            inputs.append((y_pred, lambda dy: dy * dpred))
        if isinstance(y_true, Traced):
            if sample_weight is not None:
                raise NotImplementedError(f'loss "{self.name}": the gradient with respect to y_true '
                                          "with sample_weight is not implemented")
            dtrue = self.backward_true(labels, pred_value)
            inputs.append((y_true, lambda dy: dy * dtrue))
        value = np.asarray(loss, dtype=pred_value.dtype)
        return traced[0].tape.record(value, inputs)

    def backward_true(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        """``d mean(values) / d y_true``, for a loss whose target is itself computed (a teacher's
        prediction in knowledge distillation). Defined by the losses that need it."""
        raise NotImplementedError(f'loss "{self.name}": the gradient with respect to y_true (a traced '
                                  "target) is not implemented")

    def check(self, y_true, y_pred):
        """Validate and convert labels; return ``(y_true, y_pred)`` ready for forward/backward."""
        y_true = np.asarray(y_true)
        return y_true.astype(y_pred.dtype, copy=False), y_pred

    def forward(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        """The per-sample values; by default ``call(y_true, y_pred)``, a subclass's Keras-style
        ``call`` written with ``sn.ops``."""
        if type(self).call is Loss.call:
            raise NotImplementedError(f"{type(self).__name__} must implement call(y_true, y_pred), or "
                                      "forward and backward")
        return np.asarray(self.call(y_true, y_pred))

    def backward(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        """``d mean(values) / d y_pred``; by default from the gradient tape (scratchnet.autodiff)
        following ``call`` on a traced ``y_pred``."""
        if type(self).call is Loss.call:
            raise NotImplementedError(f"{type(self).__name__} must implement call(y_true, y_pred), or "
                                      "forward and backward")
        from scratchnet.autodiff import Tape, Traced

        tape = Tape(f'loss "{self.name}"')
        traced = tape.watch(y_pred)
        values = self.call(y_true, traced)
        size = values.size if isinstance(values, Traced) else np.size(values)
        dy = np.full(np.shape(values), 1.0 / size, dtype=y_pred.dtype)
        return tape.gradient(values, traced, dy)

    def call(self, y_true, y_pred):
        """Keras' ``Loss.call``: a subclass may write the values with ``sn.ops`` instead of
        ``forward`` and ``backward``."""
        raise NotImplementedError

    def logits_twin(self, activation: str = "softmax") -> Loss | None:
        """The same loss reading logits, if Keras switches to it after a final softmax or sigmoid
        (its ``_keras_logits`` rule: every cross-entropy, ``from_logits`` True or False); else None.
        ``activation``: the final layer's ("softmax" or "sigmoid"), for a loss that also reads the
        probabilities themselves (BinaryFocalCrossentropy)."""
        return None

    def get_config(self) -> dict:
        """Constructor arguments; ``name`` only when it is not the function's name."""
        return {"name": self.name} if self.name != type(self).name else {}


class SparseCategoricalCrossentropy(Loss):
    """Cross-entropy against integer labels ``y`` of shape ``(N,)`` (or ``(N, 1)``).

    ``from_logits=True``: ``loss = logsumexp(z) - z_y``; ``dL/dz = (softmax(z) - onehot(y)) / N``.
    ``from_logits=False``: ``p = clip(p, eps, 1 - eps)``, ``loss = -log p_y + log sum_k p_k``
    (Keras does not renormalise); the gradient is zero where the clip was active.
    Keras' version has no ``label_smoothing``.
    """

    name = "sparse_categorical_crossentropy"

    def __init__(self, from_logits: bool = False, *, reduction: str = "sum_over_batch_size",
                 name: str | None = None, dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype)
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

    def logits_twin(self, activation="softmax"):
        return SparseCategoricalCrossentropy(from_logits=True)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits}


class CategoricalCrossentropy(Loss):
    """Cross-entropy against one-hot (or soft) labels ``y`` of the same shape as the prediction.

    ``label_smoothing = s`` first spreads ``s`` of each row over the ``K`` classes:
    ``y = y (1 - s) + s / K``.
    ``from_logits=True``: ``loss = logsumexp(z) * sum(y) - sum(y * z)``;
    ``dL/dz = (softmax(z) * sum(y) - y) / N``.
    ``from_logits=False``: ``q = p / sum(p)``, ``q = clip(q, eps, 1 - eps)``, ``loss = -sum(y log q)``.
    """

    name = "categorical_crossentropy"

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, *,
                 reduction: str = "sum_over_batch_size", name: str | None = None, dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype)
        self.from_logits = bool(from_logits)
        self.label_smoothing = check_label_smoothing(label_smoothing, type(self).__name__)

    def check(self, y_true, y_pred):
        return dense_labels(y_true, y_pred, self.name), y_pred

    def smoothed(self, y_true, y_pred):
        """The targets after label smoothing: ``y (1 - s) + s / K``."""
        y_true = kernels.xp_of(y_pred).asarray(y_true)
        if self.label_smoothing:
            y_true = y_true * (1 - self.label_smoothing) + self.label_smoothing / y_true.shape[-1]
        return y_true

    def forward(self, y_true, y_pred):
        y_true = self.smoothed(y_true, y_pred)
        if self.from_logits:
            return -np.sum(y_true * log_softmax(y_pred), axis=-1)
        q = y_pred / np.sum(y_pred, axis=-1, keepdims=True)
        return -np.sum(y_true * np.log(np.clip(q, EPSILON, 1 - EPSILON)), axis=-1)

    def backward(self, y_true, y_pred):
        n = int(np.prod(y_pred.shape[:-1]))
        y_true = self.smoothed(y_true, y_pred)
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

    def logits_twin(self, activation="softmax"):
        return CategoricalCrossentropy(from_logits=True, label_smoothing=self.label_smoothing)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing}


class BinaryCrossentropy(Loss):
    """Binary cross-entropy of targets ``y`` in ``[0, 1]`` against probabilities ``p`` or logits
    ``z`` of the same shape (a ``(N,)`` target for a ``(N, 1)`` output is read as ``(N, 1)``).

    ``label_smoothing = s`` first moves the targets towards 1/2: ``y = y (1 - s) + s / 2``.
    Per element, then averaged over the last axis (``D`` entries) for the per-sample value:

    ``from_logits=True``: ``l = max(z, 0) - z y + log(1 + exp(-|z|))``, the overflow-free form of
    ``-y log sigmoid(z) - (1 - y) log(1 - sigmoid(z))``; ``dl/dz = sigmoid(z) - y``.
    ``from_logits=False``: ``p = clip(p, eps, 1 - eps)``, ``l = -(y log p + (1 - y) log(1 - p))``;
    ``dl/dp = -y / p + (1 - y) / (1 - p)``, zero where the clip was active.
    ``backward`` divides by ``D N``: the loss is the mean over every element.
    """

    name = "binary_crossentropy"

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, *,
                 reduction: str = "sum_over_batch_size", name: str | None = None, dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype)
        self.from_logits = bool(from_logits)
        self.label_smoothing = check_label_smoothing(label_smoothing, type(self).__name__)

    def check(self, y_true, y_pred):
        return dense_labels(y_true, y_pred, self.name, one_hot=False), y_pred

    def smoothed(self, y_true, y_pred):
        """The targets after label smoothing: ``y (1 - s) + s / 2``."""
        y_true = kernels.xp_of(y_pred).asarray(y_true)
        if self.label_smoothing:
            y_true = y_true * (1 - self.label_smoothing) + 0.5 * self.label_smoothing
        return y_true

    def forward(self, y_true, y_pred):
        y = self.smoothed(y_true, y_pred)
        if self.from_logits:
            z = y_pred
            losses = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
        else:
            p = np.clip(y_pred, EPSILON, 1 - EPSILON)
            losses = -(y * np.log(p) + (1 - y) * np.log(1 - p))
        return np.mean(losses, axis=-1)

    def backward(self, y_true, y_pred):
        y = self.smoothed(y_true, y_pred)
        if self.from_logits:
            grad = _sigmoid(y_pred) - y
        else:
            p = np.clip(y_pred, EPSILON, 1 - EPSILON)
            inside = (y_pred >= EPSILON) & (y_pred <= 1 - EPSILON)
            grad = (-y / p + (1 - y) / (1 - p)) * inside
        return (grad / y_pred.size).astype(y_pred.dtype, copy=False)  # size = D N

    def backward_true(self, y_true, y_pred):
        """``dL/dy``, for targets that are themselves computed (keras.io's ``LogisticEndpoint``
        takes them as a model input): ``dl/dy = -z`` from logits, ``-(log p - log(1 - p))`` from
        probabilities (clipped as in ``forward``), times ``1 - s`` for label smoothing, over ``D N``."""
        if self.from_logits:
            grad = -y_pred
        else:
            p = np.clip(y_pred, EPSILON, 1 - EPSILON)
            grad = -(np.log(p) - np.log(1 - p))
        return (grad * (1 - self.label_smoothing) / y_pred.size).astype(y_pred.dtype, copy=False)

    def logits_twin(self, activation="softmax"):
        return BinaryCrossentropy(from_logits=True, label_smoothing=self.label_smoothing)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing}


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


class MeanAbsoluteError(Loss):
    """``loss = mean(|y_pred - y|)`` over the last axis; ``dL/dy_pred = sign(y_pred - y) / (D N)``
    (0 where ``y_pred == y``, as TensorFlow's ``abs`` gradient)."""

    name = "mean_absolute_error"

    def check(self, y_true, y_pred):
        return dense_labels(y_true, y_pred, self.name, one_hot=False), y_pred

    def forward(self, y_true, y_pred):
        y_true = kernels.xp_of(y_pred).asarray(y_true)
        return np.mean(np.abs(y_pred - y_true), axis=-1)

    def backward(self, y_true, y_pred):
        y_true = kernels.xp_of(y_pred).asarray(y_true)
        return (np.sign(y_pred - y_true) / y_pred.size).astype(y_pred.dtype, copy=False)


class Huber(Loss):
    """Quadratic near the target, linear far from it. With ``e = y_pred - y``, per element

    ``l = e^2 / 2`` where ``|e| <= delta``, else ``l = delta |e| - delta^2 / 2``;

    the per-sample value is the mean of ``l`` over the last axis. ``dl/de = e`` where
    ``|e| <= delta``, else ``delta sign(e)``; ``backward`` divides by ``D N``.
    """

    name = "huber"

    def __init__(self, delta: float = 1.0, *, reduction: str = "sum_over_batch_size",
                 name: str | None = None, dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype)
        if isinstance(delta, bool) or not isinstance(delta, int | float) or not delta >= 0:
            raise ValueError(f"Huber: expected delta to be a number >= 0, received delta={delta!r}")
        self.delta = float(delta)

    def check(self, y_true, y_pred):
        return dense_labels(y_true, y_pred, self.name, one_hot=False), y_pred

    def forward(self, y_true, y_pred):
        e = y_pred - kernels.xp_of(y_pred).asarray(y_true)
        small = np.abs(e) <= self.delta
        losses = np.where(small, 0.5 * e**2, self.delta * np.abs(e) - 0.5 * self.delta**2)
        return np.mean(losses, axis=-1).astype(y_pred.dtype, copy=False)

    def backward(self, y_true, y_pred):
        e = y_pred - kernels.xp_of(y_pred).asarray(y_true)
        grad = np.where(np.abs(e) <= self.delta, e, self.delta * np.sign(e))
        return (grad / y_pred.size).astype(y_pred.dtype, copy=False)

    def get_config(self):
        return {**super().get_config(), "delta": self.delta}



# ----------------------------------------------------------------------------- probabilistic
class KLDivergence(Loss):
    """Kullback-Leibler divergence of the predicted distribution from the target one.

    Both are clipped into ``[eps, 1]`` first (Keras' ``kl_divergence``): ``y = clip(y, eps, 1)``,
    ``p = clip(p, eps, 1)``; per sample ``loss = sum(y log(y / p))`` over the last axis (a sum,
    not a mean). ``dL/dp = -y / p / N``, zero where the clip of ``p`` was active (``N`` samples).
    """

    name = "kl_divergence"

    def check(self, y_true, y_pred):
        return dense_labels(y_true, y_pred, self.name, one_hot=False), y_pred

    def forward(self, y_true, y_pred):
        y = np.clip(kernels.xp_of(y_pred).asarray(y_true), EPSILON, 1)
        p = np.clip(y_pred, EPSILON, 1)
        return np.sum(y * np.log(y / p), axis=-1).astype(y_pred.dtype, copy=False)

    def backward(self, y_true, y_pred):
        n = int(np.prod(y_pred.shape[:-1]))
        y = np.clip(kernels.xp_of(y_pred).asarray(y_true), EPSILON, 1)
        p = np.clip(y_pred, EPSILON, 1)
        inside = (y_pred >= EPSILON) & (y_pred <= 1)  # TensorFlow's clip passes the bounds
        return (-y / p * inside / n).astype(y_pred.dtype, copy=False)

    def backward_true(self, y_true, y_pred):
        """``dL/dy = (log(y / p) + 1) / N``, zero where the clip of ``y`` was active: the gradient
        a teacher's softened prediction gets (Keras' knowledge-distillation example)."""
        n = int(np.prod(y_pred.shape[:-1]))
        y = np.clip(y_true, EPSILON, 1)
        p = np.clip(y_pred, EPSILON, 1)
        inside = (y_true >= EPSILON) & (y_true <= 1)
        return ((np.log(y / p) + 1) * inside / n).astype(y_pred.dtype, copy=False)


class Poisson(Loss):
    """``loss = mean(p - y log(p + eps))`` over the last axis, for count targets ``y`` and
    predicted rates ``p`` (Keras adds ``eps = 1e-7`` inside the log and does not clip: a
    negative ``p`` gives NaN, in Keras too). ``dL/dp = (1 - y / (p + eps)) / (D N)``.
    """

    name = "poisson"

    def check(self, y_true, y_pred):
        return dense_labels(y_true, y_pred, self.name, one_hot=False), y_pred

    def forward(self, y_true, y_pred):
        y = kernels.xp_of(y_pred).asarray(y_true)
        eps = y_pred.dtype.type(EPSILON)
        return np.mean(y_pred - y * np.log(y_pred + eps), axis=-1)

    def backward(self, y_true, y_pred):
        y = kernels.xp_of(y_pred).asarray(y_true)
        eps = y_pred.dtype.type(EPSILON)
        return ((1 - y / (y_pred + eps)) / y_pred.size).astype(y_pred.dtype, copy=False)


# ----------------------------------------------------------------------------- regression
class MeanSquaredLogarithmicError(Loss):
    """Squared error of ``log(1 + x)``, each side first raised to at least ``eps``:

    ``a = log(max(p, eps) + 1)``, ``b = log(max(y, eps) + 1)``, ``loss = mean((a - b)^2)`` over
    the last axis; ``dL/dp = 2 (a - b) / (max(p, eps) + 1) / (D N)`` where ``p >= eps``, else 0
    (at ``p == eps`` the gradient passes, as TensorFlow's ``maximum`` gives it to ``p``).
    """

    name = "mean_squared_logarithmic_error"

    def check(self, y_true, y_pred):
        return dense_labels(y_true, y_pred, self.name, one_hot=False), y_pred

    def _logs(self, y_true, y_pred):
        eps = y_pred.dtype.type(EPSILON)
        y = kernels.xp_of(y_pred).asarray(y_true)
        return np.log(np.maximum(y_pred, eps) + 1), np.log(np.maximum(y, eps) + 1)

    def forward(self, y_true, y_pred):
        first_log, second_log = self._logs(y_true, y_pred)
        return np.mean(np.square(first_log - second_log), axis=-1)

    def backward(self, y_true, y_pred):
        first_log, second_log = self._logs(y_true, y_pred)
        eps = y_pred.dtype.type(EPSILON)
        grad = 2 * (first_log - second_log) / (np.maximum(y_pred, eps) + 1) * (y_pred >= eps)
        return (grad / y_pred.size).astype(y_pred.dtype, copy=False)


class MeanAbsolutePercentageError(Loss):
    """``loss = 100 mean(|(y - p) / max(|y|, eps)|)`` over the last axis (a target of 0 divides by
    ``eps = 1e-7``, so its error is huge, as in Keras); ``dL/dp = 100 sign(p - y) / max(|y|, eps)
    / (D N)`` (0 where ``p == y``)."""

    name = "mean_absolute_percentage_error"

    def check(self, y_true, y_pred):
        return dense_labels(y_true, y_pred, self.name, one_hot=False), y_pred

    def forward(self, y_true, y_pred):
        y = kernels.xp_of(y_pred).asarray(y_true)
        diff = np.abs((y - y_pred) / np.maximum(np.abs(y), y_pred.dtype.type(EPSILON)))
        return 100 * np.mean(diff, axis=-1)

    def backward(self, y_true, y_pred):
        y = kernels.xp_of(y_pred).asarray(y_true)
        scale = np.maximum(np.abs(y), y_pred.dtype.type(EPSILON))
        return (100 * np.sign(y_pred - y) / scale / y_pred.size).astype(y_pred.dtype, copy=False)


class LogCosh(Loss):
    """``loss = mean(log(cosh(e)))`` over the last axis, ``e = p - y``, computed as Keras writes it
    without overflow: ``log(cosh(e)) = e + softplus(-2e) - log(2)``.
    ``dL/dp = (1 - 2 sigmoid(-2e)) / (D N)``, which is ``tanh(e) / (D N)``, written as TensorFlow
    differentiates Keras' formula (``softplus' = sigmoid``) so the float32 rounding is the same.
    """

    name = "log_cosh"

    def check(self, y_true, y_pred):
        return dense_labels(y_true, y_pred, self.name, one_hot=False), y_pred

    def forward(self, y_true, y_pred):
        e = y_pred - kernels.xp_of(y_pred).asarray(y_true)
        z = -2 * e
        softplus = np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))  # log(1 + exp(z)), stable
        return np.mean(e + softplus - y_pred.dtype.type(np.log(2.0)), axis=-1)

    def backward(self, y_true, y_pred):
        e = y_pred - kernels.xp_of(y_pred).asarray(y_true)
        grad = 1 - 2 * _sigmoid(-2 * e)
        return (grad / y_pred.size).astype(y_pred.dtype, copy=False)


class CosineSimilarity(Loss):
    """Minus the cosine of the angle between target and prediction along the last axis.

    Keras' L2 normalisation: ``n(x) = x * min(1 / sqrt(sum(x^2)), 1 / eps)`` (a zero vector stays
    zero); per sample ``loss = -sum(n(y) * n(p))``, from -1 (same direction) to 1.
    With ``t = n(y)``, ``q = n(p)`` and ``r = 1 / ||p||``:
    ``dL/dp = -r (t - q (t . q)) / N``; where ``||p|| <= eps`` the scale ``1 / eps`` is a
    constant and ``dL/dp = -t / eps / N``.
    Only ``axis=-1`` (Keras' default, and all that Keras' saved config keeps).
    """

    name = "cosine_similarity"

    def __init__(self, axis: int = -1, *, reduction: str = "sum_over_batch_size",
                 name: str | None = None, dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype)
        if isinstance(axis, bool) or axis != -1:
            raise ValueError(f"CosineSimilarity: scratchnet supports only axis=-1 (the features "
                             f"axis), received axis={axis!r}")
        self.axis = -1

    def check(self, y_true, y_pred):
        return dense_labels(y_true, y_pred, self.name, one_hot=False), y_pred

    @staticmethod
    def _inverse_norm(x):
        """``min(1 / sqrt(sum(x^2)), 1 / eps)`` along the last axis, and where it was clipped."""
        f = x.dtype.type
        square_sum = np.sum(np.square(x), axis=-1, keepdims=True)
        with np.errstate(divide="ignore"):  # a zero vector: 1 / 0 = inf, then clipped
            inv_norm = f(1) / np.sqrt(square_sum)
        limit = f(1 / EPSILON)
        return np.minimum(inv_norm, limit), inv_norm > limit

    def forward(self, y_true, y_pred):
        y = kernels.xp_of(y_pred).asarray(y_true)
        t = y * self._inverse_norm(y)[0]
        q = y_pred * self._inverse_norm(y_pred)[0]
        return -np.sum(t * q, axis=-1)

    def backward(self, y_true, y_pred):
        n = int(np.prod(y_pred.shape[:-1]))
        y = kernels.xp_of(y_pred).asarray(y_true)
        t = y * self._inverse_norm(y)[0]
        r, clipped = self._inverse_norm(y_pred)
        q = y_pred * r
        grad = np.where(clipped, -t * r, -r * (t - q * np.sum(t * q, axis=-1, keepdims=True)))
        return (grad / n).astype(y_pred.dtype, copy=False)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


# ----------------------------------------------------------------------------- hinge
def hinge_labels(y: np.ndarray) -> np.ndarray:
    """Keras' ``convert_binary_labels_to_hinge``: if every label of the batch is 0 or 1, map them
    to -1 and 1 (``2y - 1``); otherwise (labels already -1/1) leave them as they are."""
    if np.all((y == 0) | (y == 1)):
        return 2 * y - 1
    return y


class Hinge(Loss):
    """Maximum-margin loss for labels ``y`` in {-1, 1} (or {0, 1}, mapped to them per batch):

    ``m = 1 - y p``, ``loss = mean(max(m, 0))`` over the last axis;
    ``dL/dp = -y / (D N)`` where ``m >= 0`` (TensorFlow's ``maximum`` gives a tie to ``m``), else 0.
    """

    name = "hinge"

    def check(self, y_true, y_pred):
        return dense_labels(y_true, y_pred, self.name, one_hot=False), y_pred

    def forward(self, y_true, y_pred):
        y = hinge_labels(kernels.xp_of(y_pred).asarray(y_true))
        return np.mean(np.maximum(1 - y * y_pred, 0), axis=-1)

    def backward(self, y_true, y_pred):
        y = hinge_labels(kernels.xp_of(y_pred).asarray(y_true))
        grad = -y * (1 - y * y_pred >= 0)
        return (grad / y_pred.size).astype(y_pred.dtype, copy=False)


class SquaredHinge(Loss):
    """``m = 1 - y p``, ``loss = mean(max(m, 0)^2)`` over the last axis, labels as :class:`Hinge`;
    ``dL/dp = -2 y max(m, 0) / (D N)``."""

    name = "squared_hinge"

    def check(self, y_true, y_pred):
        return dense_labels(y_true, y_pred, self.name, one_hot=False), y_pred

    def forward(self, y_true, y_pred):
        y = hinge_labels(kernels.xp_of(y_pred).asarray(y_true))
        return np.mean(np.square(np.maximum(1 - y * y_pred, 0)), axis=-1)

    def backward(self, y_true, y_pred):
        y = hinge_labels(kernels.xp_of(y_pred).asarray(y_true))
        grad = -2 * y * np.maximum(1 - y * y_pred, 0)
        return (grad / y_pred.size).astype(y_pred.dtype, copy=False)


class CategoricalHinge(Loss):
    """Multi-class hinge for one-hot targets ``y`` (Crammer-Singer):

    ``pos = sum(y p)``, ``neg = max((1 - y) p)`` over the last axis,
    ``loss = max(neg - pos + 1, 0)`` per sample. Where ``neg - pos + 1 >= 0``:
    ``dL/dp = ((1 - y) s - y) / N`` with ``s`` 1 at the entry that gives ``neg``; ties share it
    equally (TensorFlow's ``reduce_max`` gradient), e.g. ``1/2`` each for two equal maxima.
    """

    name = "categorical_hinge"

    def check(self, y_true, y_pred):
        return dense_labels(y_true, y_pred, self.name, one_hot=False), y_pred

    def forward(self, y_true, y_pred):
        y = kernels.xp_of(y_pred).asarray(y_true)
        pos = np.sum(y * y_pred, axis=-1)
        neg = np.max((1 - y) * y_pred, axis=-1)
        return np.maximum(neg - pos + 1, 0).astype(y_pred.dtype, copy=False)

    def backward(self, y_true, y_pred):
        n = int(np.prod(y_pred.shape[:-1]))
        y = kernels.xp_of(y_pred).asarray(y_true)
        pos = np.sum(y * y_pred, axis=-1, keepdims=True)
        others = (1 - y) * y_pred
        neg = np.max(others, axis=-1, keepdims=True)
        share = (others == neg) / np.sum(others == neg, axis=-1, keepdims=True)  # ties split
        active = neg - pos + 1 >= 0
        grad = ((1 - y) * share - y) * active
        return (grad / n).astype(y_pred.dtype, copy=False)

class BinaryFocalCrossentropy(Loss):
    """Binary cross-entropy that down-weights the examples already classified well (Lin et al.,
    2017): each element's cross-entropy ``bce`` is multiplied by ``(1 - p_t)**gamma``, where
    ``p_t = y p + (1 - y)(1 - p)`` is the probability given to the true label, and, with
    ``apply_class_balancing=True``, by ``alpha`` for a positive target and ``1 - alpha`` for a
    negative one. Per element, then averaged over the last axis::

        y   = y (1 - s) + s / 2                      (label_smoothing = s)
        p   = sigmoid(z)                             (from_logits=True; else p = y_pred)
        bce = BinaryCrossentropy's element loss      (from the logits when there are logits)
        l   = w * (1 - p_t)**gamma * bce,   w = y alpha + (1 - y)(1 - alpha) or 1

    As in Keras, ``p_t`` uses ``p`` unclipped while ``bce`` clips it to ``[eps, 1 - eps]`` when it
    reads probabilities. Backward, with ``f = (1 - p_t)**gamma`` and
    ``df/dp = -gamma (1 - p_t)**(gamma - 1) (2y - 1)``::

        dl/dp = w (df/dp * bce + f * dbce/dp)        dbce/dp = -y/p + (1 - y)/(1 - p) (0 where clipped)
        dl/dz = w (df/dp * p (1 - p) * bce + f * (p - y))          (through the logits)

    divided by the ``D N`` elements, the loss being their mean. After a final sigmoid Keras reads
    ``bce`` from the layer's logits, and ``p`` is the layer's output; after a final softmax ``bce``
    reads the softmax's input as sigmoid logits while ``p`` is the softmax itself (its
    ``_keras_logits`` rule): :meth:`logits_twin` does the same.
    """

    name = "binary_focal_crossentropy"

    def __init__(self, apply_class_balancing: bool = False, alpha: float = 0.25, gamma: float = 2.0,
                 from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1, *,
                 reduction: str = "sum_over_batch_size", name: str | None = None, dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype)
        where = type(self).__name__
        if axis != -1 or isinstance(axis, bool):
            raise ValueError(f"{where}: scratchnet implements axis=-1 (the mean over the last axis); "
                             f"received axis={axis!r}")
        self.apply_class_balancing = bool(apply_class_balancing)
        self.alpha = _focal_number(alpha, "alpha", where)
        self.gamma = _focal_number(gamma, "gamma", where)
        self.from_logits = bool(from_logits)
        self.label_smoothing = check_label_smoothing(label_smoothing, where)
        self.axis = -1
        self.probabilities = "sigmoid"  # how logits become p (a twin after a softmax: "softmax")

    def check(self, y_true, y_pred):
        return dense_labels(y_true, y_pred, self.name, one_hot=False), y_pred

    def _parts(self, y_true, y_pred):
        """``(y, p, bce, dbce, f, df/dp, w)`` per element; ``dbce`` is d bce / d (the input)."""
        y = kernels.xp_of(y_pred).asarray(y_true)
        if self.label_smoothing:
            y = y * (1 - self.label_smoothing) + 0.5 * self.label_smoothing
        if self.from_logits:
            z = y_pred
            p = softmax(z) if self.probabilities == "softmax" else _sigmoid(z)
            bce = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
            dbce = _sigmoid(z) - y
        else:
            p = y_pred
            clipped = np.clip(p, EPSILON, 1 - EPSILON)
            bce = -(y * np.log(clipped) + (1 - y) * np.log(1 - clipped))
            dbce = (-y / clipped + (1 - y) / (1 - clipped)) * ((p >= EPSILON) & (p <= 1 - EPSILON))
        p_t = y * p + (1 - y) * (1 - p)
        f = np.power(1 - p_t, y_pred.dtype.type(self.gamma))
        df = -self.gamma * np.power(1 - p_t, y_pred.dtype.type(self.gamma - 1)) * (2 * y - 1) \
            if self.gamma else np.zeros_like(p)
        w = y * self.alpha + (1 - y) * (1 - self.alpha) if self.apply_class_balancing else 1
        return y, p, bce, dbce, f, df, w

    def forward(self, y_true, y_pred):
        _, _, bce, _, f, _, w = self._parts(y_true, y_pred)
        return np.mean(w * f * bce, axis=-1)

    def backward(self, y_true, y_pred):
        _, p, bce, dbce, f, df, w = self._parts(y_true, y_pred)
        if not self.from_logits:
            grad = w * (df * bce + f * dbce)
        elif self.probabilities == "sigmoid":
            grad = w * (df * p * (1 - p) * bce + f * dbce)
        else:  # p = softmax(z): dL/dz_j = p_j (a_j - sum_k a_k p_k), a = dL/dp
            a = w * df * bce
            grad = p * (a - np.sum(a * p, axis=-1, keepdims=True)) + w * f * dbce
        return (grad / y_pred.size).astype(y_pred.dtype, copy=False)  # size = D N

    def logits_twin(self, activation="softmax"):
        twin = BinaryFocalCrossentropy(self.apply_class_balancing, self.alpha, self.gamma,
                                       from_logits=True, label_smoothing=self.label_smoothing)
        twin.probabilities = activation if activation in ("softmax", "sigmoid") else "sigmoid"
        return twin

    def get_config(self):
        return {**super().get_config(), "apply_class_balancing": self.apply_class_balancing,
                "alpha": self.alpha, "gamma": self.gamma, "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis}


class CategoricalFocalCrossentropy(Loss):
    """Categorical cross-entropy that down-weights well-classified examples (Lin et al., 2017)::

        y   = y (1 - s) + s / K                      (label_smoothing = s)
        p   = softmax(z)                             (from_logits=True; else p = y_pred)
        q   = clip(p / sum(p), eps, 1 - eps)
        l   = sum over classes of alpha * (1 - q)**gamma * (-y log q)

    Unlike the binary loss, the modulating factor uses the clipped ``q``, and there is no class
    balancing switch: ``alpha`` multiplies every class. Backward, per class, with ``ce = -y log q``::

        dl/dq   = alpha * (-gamma (1 - q)**(gamma - 1) * ce - (1 - q)**gamma * y / q)   (0 where clipped)
        dl/dp_j = (dl/dq_j - sum_k dl/dq_k q_k) / sum(p)                 (through q = p / sum p)
        dl/dz   = p * (dl/dp - sum_k dl/dp_k p_k)                        (through the softmax)

    divided by the ``N`` samples. A final softmax layer is differentiated through as any layer:
    Keras' focal loss does not read its logits.
    """

    name = "categorical_focal_crossentropy"

    def __init__(self, alpha: float = 0.25, gamma: float = 2.0, from_logits: bool = False,
                 label_smoothing: float = 0.0, axis: int = -1, *,
                 reduction: str = "sum_over_batch_size", name: str | None = None, dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype)
        where = type(self).__name__
        if axis != -1 or isinstance(axis, bool):
            raise ValueError(f"{where}: scratchnet implements axis=-1 (the classes on the last axis); "
                             f"received axis={axis!r}")
        self.alpha = _focal_number(alpha, "alpha", where)
        self.gamma = _focal_number(gamma, "gamma", where)
        self.from_logits = bool(from_logits)
        self.label_smoothing = check_label_smoothing(label_smoothing, where)
        self.axis = -1

    def check(self, y_true, y_pred):
        return dense_labels(y_true, y_pred, self.name), y_pred

    def _parts(self, y_true, y_pred):
        y = kernels.xp_of(y_pred).asarray(y_true)
        if self.label_smoothing:
            y = y * (1 - self.label_smoothing) + self.label_smoothing / y.shape[-1]
        p = softmax(y_pred) if self.from_logits else y_pred
        total = np.sum(p, axis=-1, keepdims=True)
        q = p / total
        clipped = np.clip(q, EPSILON, 1 - EPSILON)
        return y, p, total, q, clipped, -y * np.log(clipped)

    def forward(self, y_true, y_pred):
        _, _, _, _, clipped, ce = self._parts(y_true, y_pred)
        gamma = y_pred.dtype.type(self.gamma)
        return np.sum(self.alpha * np.power(1 - clipped, gamma) * ce, axis=-1)

    def backward(self, y_true, y_pred):
        y, p, total, q, clipped, ce = self._parts(y_true, y_pred)
        gamma = y_pred.dtype.type(self.gamma)
        d_factor = -self.gamma * np.power(1 - clipped, gamma - 1) if self.gamma else 0
        dq = self.alpha * (d_factor * ce - np.power(1 - clipped, gamma) * y / clipped)
        dq = dq * ((q >= EPSILON) & (q <= 1 - EPSILON))
        grad = (dq - np.sum(dq * q, axis=-1, keepdims=True)) / total  # dL/dp
        if self.from_logits:
            grad = p * (grad - np.sum(grad * p, axis=-1, keepdims=True))
        n = int(np.prod(y_pred.shape[:-1]))
        return (grad / n).astype(y_pred.dtype, copy=False)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "gamma": self.gamma,
                "from_logits": self.from_logits, "label_smoothing": self.label_smoothing,
                "axis": self.axis}


def _focal_number(value, arg: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ValueError(f"{where}: expected {arg} to be a number >= 0, received {arg}={value!r}")
    return float(value)


def reduce_weighted(values, sample_weight=None) -> float:
    """Keras' ``sum_over_batch_size`` with sample weights: ``sum(l * w) / size(l * w)``.

    ``w`` of shape ``(N,)`` weights per-sample values of shape ``(N, ...)``; a ``w`` one axis
    longer (or shorter) than ``l`` with a last axis of 1 is squeezed (or expanded), as Keras does.
    Note the divisor counts every value, not the sum of the weights.
    """
    values = np.asarray(kernels.to_numpy(values), dtype=np.float64)
    if sample_weight is not None:
        weight = np.asarray(kernels.to_numpy(sample_weight), dtype=np.float64)
        values, weight = same_rank(values, weight)
        values = values * weight
    if values.ndim == 0:
        return float(values)
    return float(values.sum() / values.size) if values.size else 0.0


class ComputeLossOverride(Loss):
    """What ``compile(loss=None)`` records for a model whose class overrides Keras'
    ``compute_loss(x, y, y_pred, sample_weight)`` (scratchnet/custom_loss.py): that method is the
    loss; this one only hands the targets over as given, for it and the metrics to read."""

    name = "compute_loss"

    def check(self, y_true, y_pred):
        return np.asarray(y_true), y_pred

    def forward(self, y_true, y_pred):
        raise RuntimeError("ComputeLossOverride: the model's compute_loss computes the loss")

    def get_config(self):
        return {}


class AddedLossesOnly(Loss):
    """What ``compile(optimizer)`` with no loss records, as Keras allows: the model's own terms
    (``add_loss`` in a layer's ``call``, regularizers: ``model.losses``) are the whole loss, so
    the targets add nothing, ``0`` per sample, and no gradient (the guide's
    ``ActivityRegularizationLayer`` model trained by ``compile(optimizer="adam")``). A model
    without such terms raises Keras' "No loss to compute" at its first step."""

    name = "loss"

    def check(self, y_true, y_pred):
        return (None if y_true is None else np.asarray(y_true)), y_pred

    def forward(self, y_true, y_pred):
        return np.zeros(len(y_pred), dtype=y_pred.dtype)

    def backward(self, y_true, y_pred):
        return np.zeros_like(y_pred)

    def get_config(self):
        return {}


class LossFunctionWrapper(Loss):
    """A loss given as a function, ``compile(loss=my_loss)`` with ``def my_loss(y_true, y_pred)``
    written with ``sn.ops`` (as keras.io's custom losses), as Keras' ``LossFunctionWrapper``: the
    two brought to the same rank (:func:`same_rank`), the function's values averaged. Its gradient
    comes from the tape following the function on a traced ``y_pred`` (:meth:`Loss.backward`)."""

    name = "loss_function_wrapper"

    def __init__(self, fn, reduction: str = "sum_over_batch_size", name: str | None = None, dtype=None,
                 **kwargs):
        if not callable(fn):
            saved = (" (a function's name read from a saved model: the function is Python code, which "
                     "scratchnet neither writes nor runs from files; load the model with compile=False "
                     "and compile it again with the function)") if isinstance(fn, str) else ""
            raise ValueError(f"LossFunctionWrapper: expected fn to be a function of (y_true, y_pred), "
                             f"received {fn!r}{saved}")
        super().__init__(reduction=reduction, name=name or getattr(fn, "__name__", None), dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true, y_pred):
        y_true, y_pred = same_rank(np.asarray(y_true), y_pred)
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self) -> dict:
        """The function by name only (as a description: no file holds its code)."""
        return {**super().get_config(), "fn": getattr(self.fn, "__name__", repr(self.fn)), **self._fn_kwargs}


def same_rank(x1: np.ndarray, x2: np.ndarray, expand_rank_1: bool = True):
    """Keras' ``squeeze_or_expand_to_same_rank``: when the ranks differ by one and the longer one
    ends in an axis of 1, drop that axis (or, if the other is 1-D, give it that axis instead)."""
    if x1.ndim == x2.ndim + 1 and x1.shape[-1] == 1:
        if x2.ndim == 1 and expand_rank_1:
            x2 = x2[..., None]
        else:
            x1 = x1[..., 0]
    elif x2.ndim == x1.ndim + 1 and x2.shape[-1] == 1:
        if x1.ndim == 1 and expand_rank_1:
            x1 = x1[..., None]
        else:
            x2 = x2[..., 0]
    return x1, x2


def check_label_smoothing(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValueError(f"{where}: expected label_smoothing to be a number in [0, 1], received "
                         f"label_smoothing={value!r}")
    return float(value)


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
    """Targets of the same shape as the predictions (one-hot rows for categorical losses).

    As Keras does, targets of shape ``(N,)`` for predictions of shape ``(N, 1)`` get that last axis.
    """
    y = np.asarray(y_true)
    if y.dtype.kind not in "biuf":
        raise TypeError(f"{where}: expected numeric targets, received dtype {y.dtype}")
    if y_pred.shape[-1:] == (1,) and y.shape == y_pred.shape[:-1]:
        y = y[..., None]  # (N,) -> (N, 1)
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


# Dice, Tversky, the generalised cross-entropy, Circle and CTC live in a file of their own; they
# build on the helpers above, so they are imported here, after them.
from scratchnet.losses_more import (  # noqa: E402, F401  (keras.losses names)
    CTC,
    CategoricalGeneralizedCrossEntropy,
    Circle,
    Dice,
    Tversky,
    categorical_generalized_cross_entropy,
    circle,
    ctc,
    dice,
    tversky,
)

_CLASSES = (SparseCategoricalCrossentropy, CategoricalCrossentropy, BinaryCrossentropy,
            MeanSquaredError, MeanAbsoluteError, Huber, KLDivergence, Poisson,
            MeanSquaredLogarithmicError, MeanAbsolutePercentageError, LogCosh, CosineSimilarity,
            Hinge, SquaredHinge, CategoricalHinge, BinaryFocalCrossentropy,
            CategoricalFocalCrossentropy, Dice, Tversky, CategoricalGeneralizedCrossEntropy, Circle, CTC)
# keras.losses.get's names: each function's name, each class's name, and Keras' aliases.
_REGISTRY: dict[str, type[Loss]] = {cls.name: cls for cls in _CLASSES}
_REGISTRY.update({cls.__name__: cls for cls in _CLASSES})
_REGISTRY.update({"bce": BinaryCrossentropy, "BCE": BinaryCrossentropy,
                  "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
                  "mse": MeanSquaredError, "MSE": MeanSquaredError,
                  "kld": KLDivergence, "KLD": KLDivergence,
                  "mape": MeanAbsolutePercentageError, "MAPE": MeanAbsolutePercentageError,
                  "msle": MeanSquaredLogarithmicError, "MSLE": MeanSquaredLogarithmicError})


def _function_form(cls: type[Loss]):
    """Keras' loss functions (``keras.losses.mean_squared_error(y_true, y_pred)``): the per-sample
    losses, not reduced, computed by the class of the same name; ``compile(loss=fn)`` takes one."""

    def loss_function(y_true, y_pred, **kwargs):
        loss = cls(**kwargs)
        y_true, y_pred = loss.check(y_true, np.asarray(y_pred))
        return loss.forward(y_true, y_pred)

    loss_function.__name__ = loss_function.__qualname__ = cls.name
    loss_function.__doc__ = f"Per-sample ``{cls.__name__}`` losses (keyword arguments: its own)."
    return loss_function


sparse_categorical_crossentropy = _function_form(SparseCategoricalCrossentropy)
categorical_crossentropy = _function_form(CategoricalCrossentropy)
binary_crossentropy = _function_form(BinaryCrossentropy)
mean_squared_error = _function_form(MeanSquaredError)
mean_absolute_error = _function_form(MeanAbsoluteError)
huber = _function_form(Huber)
kl_divergence = _function_form(KLDivergence)
poisson = _function_form(Poisson)
mean_squared_logarithmic_error = _function_form(MeanSquaredLogarithmicError)
mean_absolute_percentage_error = _function_form(MeanAbsolutePercentageError)
log_cosh = _function_form(LogCosh)
cosine_similarity = _function_form(CosineSimilarity)
hinge = _function_form(Hinge)
squared_hinge = _function_form(SquaredHinge)
categorical_hinge = _function_form(CategoricalHinge)
binary_focal_crossentropy = _function_form(BinaryFocalCrossentropy)
categorical_focal_crossentropy = _function_form(CategoricalFocalCrossentropy)
_FUNCTIONS = (sparse_categorical_crossentropy, categorical_crossentropy, binary_crossentropy,
              mean_squared_error, mean_absolute_error, huber, kl_divergence, poisson,
              mean_squared_logarithmic_error, mean_absolute_percentage_error, log_cosh,
              cosine_similarity, hinge, squared_hinge, categorical_hinge, binary_focal_crossentropy,
              categorical_focal_crossentropy, dice, tversky, circle, ctc)
# Names keras.losses.get does not know (Keras 3.15.1 leaves them out of its table); deserialize
# still reads them.
_NOT_IN_KERAS_GET = ("categorical_generalized_cross_entropy", "CategoricalGeneralizedCrossEntropy")


def get(identifier) -> Loss:
    """A loss object from a name (as ``keras.losses.get`` resolves it), one of the loss functions
    above (``compile(loss=sn.losses.mean_squared_error)``) or a ``Loss`` instance."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str) and identifier in _REGISTRY and identifier not in _NOT_IN_KERAS_GET:
        return _REGISTRY[identifier]()
    if any(identifier is fn for fn in _FUNCTIONS):
        return _REGISTRY[identifier.__name__]()
    if callable(identifier) and not isinstance(identifier, type):
        return LossFunctionWrapper(identifier)  # a function of the user's: def my_loss(y_true, y_pred)
    raise ValueError(
        f"compile: unknown loss {identifier!r}; expected one of "
        f"{sorted(set(_REGISTRY) - set(_NOT_IN_KERAS_GET))} or a "
        "scratchnet.losses.Loss instance"
    )


def serialize(loss) -> dict:
    """``keras.losses.serialize``: a loss object in Keras' form (``{"module": "keras.losses",
    "class_name": ..., "config": {"name", "reduction", ...}, "registered_name": None}``), one of
    the loss functions as Keras writes a function (``{"module": "builtins", "class_name":
    "function", "config": "mean_squared_error", ...}``)."""
    from scratchnet.saving_keras import _loss_spec

    if any(loss is fn for fn in _FUNCTIONS):
        return {"module": "builtins", "class_name": "function", "config": loss.__name__,
                "registered_name": "function"}
    if not isinstance(loss, Loss):
        raise ValueError(f"losses.serialize: expected a scratchnet.losses.Loss or one of the loss "
                         f"functions of scratchnet.losses, received {loss!r:.200}")
    return _loss_spec(loss)


def deserialize(config, custom_objects: dict | None = None):
    """``keras.losses.deserialize``: the loss that :func:`serialize` (or Keras) wrote; a loss
    function's form gives the function, a name the loss :func:`get` gives. Also reads
    scratchnet's earlier ``{"name": "categorical_crossentropy", "config": {...}}`` (older ``.npz``
    files)."""
    from scratchnet.saving_keras import _loss_from_keras

    if custom_objects:
        raise ValueError("losses.deserialize: scratchnet does not take custom_objects; received "
                         f"{sorted(custom_objects)}")
    if isinstance(config, str):
        return get(config)
    if isinstance(config, dict) and "class_name" not in config and config.get("name") in _REGISTRY:
        return _REGISTRY[config["name"]](**(config.get("config") or {}))  # scratchnet's earlier form
    if isinstance(config, dict) and config.get("class_name") == "function":
        fn = next((fn for fn in _FUNCTIONS if fn.__name__ == config.get("config")), None)
        if fn is None:
            raise ValueError(f"losses.deserialize: unknown loss function {config.get('config')!r}; "
                             f"expected one of {sorted(fn.__name__ for fn in _FUNCTIONS)}")
        return fn
    try:
        return _loss_from_keras(config, "losses.deserialize")
    except (TypeError, ValueError) as err:
        raise ValueError(f"losses.deserialize: {err}") from None
