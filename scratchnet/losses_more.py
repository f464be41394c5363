"""Keras' segmentation, noisy-label, metric-learning and sequence losses: ``Dice``, ``Tversky``,
``CategoricalGeneralizedCrossEntropy``, ``Circle`` and ``CTC`` (whose recursion lives in
:mod:`scratchnet.ctc`), each a readable NumPy forward with a hand-written gradient of the mean.

Formulas as ``keras/src/losses/losses.py`` computes them (``eps = 1e-7``, ``backend.epsilon()``):

- ``dice = 1 - 2 sum(y p) / (sum(y) + sum(p) + eps)``, the sums over ``axis`` (None: everything,
  one value for the whole batch);
- ``tversky = 1 - I / (I + alpha A + beta B + eps)`` with ``I = sum(y p)``,
  ``A = sum(y (1 - p))`` and ``B = sum((1 - y) p)``. Keras calls ``A`` "fp" and ``B`` "fn"
  although ``A`` counts the missed positives: ``alpha`` weights the false negatives here;
- ``categorical_generalized_cross_entropy = (1 - p_y**q) / q`` for integer labels ``y``;
- ``circle``: see :func:`circle`.
"""

from __future__ import annotations

import numpy as np

from scratchnet import ctc as ctc_ops
from scratchnet import kernels
from scratchnet.losses import EPSILON, Loss, dense_labels, same_rank, sparse_labels


def _axis(axis, where: str):
    """``None``, an int or a tuple of ints (a list, as a ``.keras`` file stores a tuple)."""
    if axis is None:
        return None
    if isinstance(axis, list | tuple) and all(isinstance(a, int) and not isinstance(a, bool)
                                              for a in axis) and axis:
        return tuple(axis)
    if isinstance(axis, int) and not isinstance(axis, bool):
        return axis
    raise ValueError(f"{where}: expected axis to be None, an int or a tuple of ints, received "
                     f"axis={axis!r}")


def _check_axis(axis, ndim: int, where: str) -> None:
    axes = () if axis is None else axis if isinstance(axis, tuple) else (axis,)
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"{where}: axis {a} is out of range for predictions of rank {ndim}")


def _couples(axis) -> bool:
    return axis is None or 0 in (axis if isinstance(axis, tuple) else (axis,))


def _n_values(axis, shape) -> int:
    """How many values the loss has after summing ``shape`` over ``axis``."""
    if axis is None:
        return 1
    axes = {a % len(shape) for a in (axis if isinstance(axis, tuple) else (axis,))}
    return int(np.prod([d for i, d in enumerate(shape) if i not in axes]))


class Dice(Loss):
    """Overlap loss for segmentation masks: with ``y`` the target mask and ``p`` the prediction,
    summed over ``axis`` (``None``: the whole batch, a single value)::

        S   = sum(y) + sum(p) + eps,   I = sum(y p)
        l   = 1 - 2 I / S
        dl/dp = -(2 y / S - 2 I / S**2)          (then / the number of values, for the mean)

    Shapes: ``y`` like ``p``; with ``axis=(1, 2, 3)`` on ``(N, H, W, C)`` one value per sample.
    """

    name = "dice"

    def __init__(self, reduction: str = "sum_over_batch_size", name: str | None = None, axis=None,
                 dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype)
        self.axis = _axis(axis, type(self).__name__)

    def check(self, y_true, y_pred):
        _check_axis(self.axis, y_pred.ndim, type(self).__name__)
        return dense_labels(y_true, y_pred, self.name, one_hot=False), y_pred

    def _sums(self, y, p):
        s = np.sum(y, axis=self.axis, keepdims=True) + np.sum(p, axis=self.axis, keepdims=True)
        return np.sum(y * p, axis=self.axis, keepdims=True), s + p.dtype.type(EPSILON)

    def forward(self, y_true, y_pred):
        y = kernels.xp_of(y_pred).asarray(y_true)
        intersection, total = self._sums(y, y_pred)
        values = 1 - 2 * intersection / total
        return np.squeeze(values, axis=self.axis) if self.axis is not None else values.reshape(())

    def backward(self, y_true, y_pred):
        y = kernels.xp_of(y_pred).asarray(y_true)
        intersection, total = self._sums(y, y_pred)
        grad = -(2 * y / total - 2 * intersection / np.square(total))
        return (grad / _n_values(self.axis, y_pred.shape)).astype(y_pred.dtype, copy=False)

    @property
    def couples_samples(self) -> bool:
        """Whether a value sums over the batch axis (``axis`` None or holding 0)."""
        return _couples(self.axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class Tversky(Loss):
    """Dice with separate weights for the two kinds of error (Salehi et al., 2017)::

        I = sum(y p),   A = sum(y (1 - p)),   B = sum((1 - y) p)        (over ``axis``)
        T = I + alpha A + beta B + eps
        l = 1 - I / T
        dl/dp = -(y T - I (y - alpha y + beta (1 - y))) / T**2

    ``alpha = beta = 0.5`` gives Dice. As in Keras, ``alpha`` multiplies ``A`` (what Keras names
    ``fp``), the target mass the prediction missed.
    """

    name = "tversky"

    def __init__(self, alpha: float = 0.5, beta: float = 0.5, reduction: str = "sum_over_batch_size",
                 name: str | None = None, axis=None, dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype)
        where = type(self).__name__
        for arg, value in (("alpha", alpha), ("beta", beta)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
                raise ValueError(f"{where}: expected {arg} to be a number, received {arg}={value!r}")
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.axis = _axis(axis, where)

    def check(self, y_true, y_pred):
        _check_axis(self.axis, y_pred.ndim, type(self).__name__)
        return dense_labels(y_true, y_pred, self.name, one_hot=False), y_pred

    def _parts(self, y, p):
        intersection = np.sum(y * p, axis=self.axis, keepdims=True)
        missed = np.sum((1 - p) * y, axis=self.axis, keepdims=True)
        extra = np.sum(p * (1 - y), axis=self.axis, keepdims=True)
        total = intersection + missed * p.dtype.type(self.alpha) + extra * p.dtype.type(self.beta)
        return intersection, total + p.dtype.type(EPSILON)

    def forward(self, y_true, y_pred):
        y = kernels.xp_of(y_pred).asarray(y_true)
        intersection, total = self._parts(y, y_pred)
        values = 1 - intersection / total
        return np.squeeze(values, axis=self.axis) if self.axis is not None else values.reshape(())

    def backward(self, y_true, y_pred):
        y = kernels.xp_of(y_pred).asarray(y_true)
        intersection, total = self._parts(y, y_pred)
        d_total = y - self.alpha * y + self.beta * (1 - y)  # dT/dp
        grad = -(y * total - intersection * d_total) / np.square(total)
        return (grad / _n_values(self.axis, y_pred.shape)).astype(y_pred.dtype, copy=False)

    @property
    def couples_samples(self) -> bool:
        return _couples(self.axis)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "beta": self.beta, "axis": self.axis}


class CategoricalGeneralizedCrossEntropy(Loss):
    """Noise-robust cross-entropy (Zhang & Sabuncu, 2018) for integer labels ``y`` ``(N,)`` and
    probabilities ``p`` ``(N, K)``, between cross-entropy (``q -> 0``) and MAE (``q = 1``)::

        l     = (1 - p_y**q) / q
        dl/dp = -p_y**(q - 1) at the label's entry, 0 elsewhere      (then / N)

    No clipping, as in Keras: ``p_y = 0`` gives an infinite gradient. Labels of shape ``(N, 1)``
    are refused: Keras one-hot encodes them to ``(N, 1, K)``, which broadcasts against ``(N, K)``
    into an ``(N, N)`` table of every sample's prediction at every sample's label.
    """

    name = "categorical_generalized_cross_entropy"

    def __init__(self, q: float = 0.5, reduction: str = "sum_over_batch_size", name: str | None = None,
                 dtype=None):
        if isinstance(q, bool) or not isinstance(q, int | float) or not 0 < q < 1:
            raise ValueError(f"CategoricalGeneralizedCrossEntropy: expected q in the open interval "
                             f"(0, 1), received q={q!r}")
        super().__init__(reduction=reduction, name=name, dtype=dtype)
        self.q = float(q)

    def check(self, y_true, y_pred):
        y = np.asarray(y_true)
        if y_pred.ndim < 2 or y.shape != y_pred.shape[:-1]:
            raise ValueError(f"{self.name}: expected integer labels of shape {y_pred.shape[:-1]} "
                             f"(one class id per sample) for predictions of shape {y_pred.shape}, "
                             f"received shape {y.shape} (Keras broadcasts labels of shape (N, 1) "
                             "into an (N, N) table; pass them flat)")
        return sparse_labels(y, y_pred, self.name), y_pred

    def _p(self, y_true, y_pred):
        return np.take_along_axis(y_pred, y_true[..., None], axis=-1)[..., 0]

    def forward(self, y_true, y_pred):
        q = y_pred.dtype.type(self.q)
        return (1 - np.power(self._p(y_true, y_pred), q)) / q

    def backward(self, y_true, y_pred):
        q = y_pred.dtype.type(self.q)
        grad = np.zeros_like(y_pred)
        with np.errstate(divide="ignore"):  # p_y = 0: an infinite slope, as in Keras
            slope = -np.power(self._p(y_true, y_pred), q - 1)
        np.put_along_axis(grad, y_true[..., None], slope[..., None], axis=-1)
        return (grad / y_true.size).astype(y_pred.dtype, copy=False)

    def get_config(self):
        return {**super().get_config(), "q": self.q}


def _circle_parts(labels, x, ref_labels, ref, remove_diagonal, gamma, margin):
    """Everything Circle's value and gradient need, for queries ``x`` ``(N, D)`` against
    references ``ref`` ``(M, D)``. See :func:`circle` for the formulas."""
    f = x.dtype.type
    labels = np.asarray(labels).reshape(-1, 1)
    ref_labels = np.asarray(ref_labels).reshape(1, -1)
    positive = labels == ref_labels  # (N, M)
    negative = ~positive
    if remove_diagonal:
        positive = positive & ~np.eye(positive.shape[0], positive.shape[1], dtype=bool)
    raw_d = 1 - x @ ref.T  # (N, M): cosine distances of unit vectors
    d = np.maximum(raw_d, 0)
    raw_wp = (f(margin) + d) * positive
    raw_wn = (f(1 + margin) - d) * negative
    wp, wn = np.maximum(raw_wp, 0), np.maximum(raw_wn, 0)
    sp = -f(gamma) * wp * (f(margin) - d)  # the positives' scaled scores
    sn = f(gamma) * wn * (f(1 - margin) - d)  # the negatives'
    return dict(positive=positive, negative=negative, raw_d=raw_d, d=d, raw_wp=raw_wp,
                raw_wn=raw_wn, wp=wp, wn=wn, sp=sp, sn=sn)


def _masked_logsumexp(s, mask):
    """``log sum_j exp(s_ij)`` over the entries of ``mask`` per row (``-inf`` for an empty row),
    and the softmax weights of those entries (0 elsewhere, 0 for an empty row)."""
    masked = np.where(mask, s, -np.inf)
    top = np.max(masked, axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0)  # an empty row: no shift
    e = np.exp(masked - top)  # exp(-inf) = 0 off the mask
    total = np.sum(e, axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        lse = np.log(total) + top
        weights = np.where(total > 0, e / total, 0)
    return lse[:, 0], weights


def _softplus(z):
    with np.errstate(over="ignore"):
        return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def circle(y_true, y_pred, ref_labels=None, ref_embeddings=None, remove_diagonal: bool = True,
           gamma: float = 80, margin: float = 0.4) -> np.ndarray:
    """Circle loss (Sun et al., 2020) of unit embeddings ``y_pred`` ``(N, D)`` with integer labels
    ``y_true`` ``(N,)``, against references (default: the batch itself). One value per query::

        d    = max(1 - x r^T, 0)                         (N, M) cosine distances
        w_p  = max(m + d, 0)  on same-label pairs         (the diagonal left out: remove_diagonal)
        w_n  = max(1 + m - d, 0) on the other pairs
        s_p  = -gamma w_p (m - d),   s_n = gamma w_n (1 - m - d)
        l    = softplus(logsumexp(s_p over positives) + logsumexp(s_n over negatives))

    A query without positives gets ``l = 0``; the loss class leaves such rows out of the mean.
    """
    x = np.asarray(y_pred)
    if x.dtype.kind != "f":
        x = x.astype(np.float32)
    labels = np.asarray(y_true).astype(np.int64).reshape(-1)
    ref = x if ref_embeddings is None else np.asarray(ref_embeddings, dtype=x.dtype)
    ref_labels = labels if ref_labels is None else np.asarray(ref_labels).astype(np.int64).reshape(-1)
    parts = _circle_parts(labels, x, ref_labels, ref, remove_diagonal, gamma, margin)
    lse_p, _ = _masked_logsumexp(parts["sp"], parts["positive"])
    lse_n, _ = _masked_logsumexp(parts["sn"], parts["negative"])
    with np.errstate(invalid="ignore"):
        return _softplus(lse_p + lse_n).astype(x.dtype, copy=False)


class Circle(Loss):
    """Circle loss between integer labels ``(N,)`` and L2-normalised embeddings ``(N, D)``, each
    sample compared with every other of the batch (:func:`circle` has the formula).

    Keras marks each sample's loss with a mask ``l > 0`` and ``sum_over_batch_size`` then divides
    by the number of such samples, not by ``N``: a sample with no other of its class drops out of
    the mean. ``forward`` returns the values already scaled by ``N / valid`` (Keras' mask weight),
    so that their mean is that loss.

    Backward: with ``G = dL/dS`` for the similarities ``S = X X^T`` (through ``d = max(1 - S, 0)``,
    the weights, both logsumexps and the softplus), ``dL/dX = (G + G^T) X``: every embedding is a
    query and a reference. For the same reason a per-sample ``sample_weight`` cannot weight the
    gradient row by row, and ``fit`` refuses one.
    """

    name = "circle"
    couples_samples = True  # each value depends on the whole batch (see Model's weighted gradient)

    def __init__(self, gamma: float = 80.0, margin: float = 0.4, remove_diagonal: bool = True,
                 reduction: str = "sum_over_batch_size", name: str | None = None, dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype)
        for arg, value in (("gamma", gamma), ("margin", margin)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
                raise ValueError(f"Circle: expected {arg} to be a number, received {arg}={value!r}")
        if not isinstance(remove_diagonal, bool):
            raise ValueError(f"Circle: expected remove_diagonal to be True or False, received "
                             f"{remove_diagonal!r}")
        self.gamma = float(gamma)
        self.margin = float(margin)
        self.remove_diagonal = remove_diagonal

    def check(self, y_true, y_pred):
        y = np.asarray(y_true)
        if y_pred.ndim != 2:
            raise ValueError(f"{self.name}: expected embeddings of shape (batch, dim), received shape "
                             f"{y_pred.shape}")
        y, _ = same_rank(y, y_pred[:, 0], expand_rank_1=False)  # (N, 1) -> (N,)
        if y.shape != (y_pred.shape[0],):
            raise ValueError(f"{self.name}: expected one integer label per embedding, shape "
                             f"({y_pred.shape[0]},), received shape {np.shape(y_true)}")
        if y.dtype.kind not in "iuf" or (y.dtype.kind == "f" and np.any(y != np.round(y))):
            raise ValueError(f"{self.name}: expected integer labels, received {y.dtype} values")
        return y.astype(np.int64), y_pred

    def _raw(self, y_true, y_pred):
        return circle(y_true, y_pred, remove_diagonal=self.remove_diagonal, gamma=self.gamma,
                      margin=self.margin)

    def forward(self, y_true, y_pred):
        values = self._raw(y_true, y_pred)
        valid = np.count_nonzero(values > 0)
        scale = values.size / valid if valid else 0.0  # Keras' divide_no_nan(total, valid)
        return np.where(values > 0, values * values.dtype.type(scale), 0).astype(values.dtype)

    def backward(self, y_true, y_pred):
        f = y_pred.dtype.type
        gamma, m = f(self.gamma), f(self.margin)
        p = _circle_parts(y_true, y_pred, y_true, y_pred, self.remove_diagonal, self.gamma,
                          self.margin)
        lse_p, soft_p = _masked_logsumexp(p["sp"], p["positive"])
        lse_n, soft_n = _masked_logsumexp(p["sn"], p["negative"])
        with np.errstate(invalid="ignore"):
            values = _softplus(lse_p + lse_n)
        valid = np.count_nonzero(values > 0)
        if not valid:
            return np.zeros_like(y_pred)
        # dL/dl_i: 1/valid for each counted sample; softplus' slope is the sigmoid
        with np.errstate(invalid="ignore", over="ignore"):
            slope = np.where(values > 0, 1 / (1 + np.exp(-(lse_p + lse_n))), 0) / f(valid)
        slope = slope[:, None]  # (N, 1)
        # through s_p = -gamma w_p (m - d) and s_n = gamma w_n (1 - m - d) to d; TensorFlow's
        # maximum passes the gradient on ties (x >= 0)
        dwp = (p["raw_wp"] >= 0) * p["positive"]
        dwn = -1.0 * (p["raw_wn"] >= 0) * p["negative"]
        dsp_dd = -gamma * (dwp * (m - p["d"]) - p["wp"])
        dsn_dd = gamma * (dwn * (f(1) - m - p["d"]) - p["wn"])
        dd = slope * (soft_p * dsp_dd + soft_n * dsn_dd)  # (N, N): dL/dd
        ds = -dd * (p["raw_d"] >= 0)  # d = max(1 - S, 0)
        return ((ds + ds.T) @ y_pred).astype(y_pred.dtype, copy=False)

    def get_config(self):
        return {**super().get_config(), "gamma": self.gamma, "margin": self.margin,
                "remove_diagonal": self.remove_diagonal}


class CTC(Loss):
    """Connectionist Temporal Classification loss for integer label sequences ``y_true``
    ``(N, L)`` against logits ``y_pred`` ``(N, T, C)`` (not softmaxed), as ``keras.losses.CTC``:

    - class 0 is the blank, so the labels are ``1 .. C - 1``, and each row's label length is its
      number of non-zero entries (pad the rows with 0 at the end);
    - every one of the ``T`` frames is read (``output_length = T``);
    - per sequence ``l = -log p(labels | logits)`` (:func:`scratchnet.ctc.ctc_loss` has the
      alpha-beta recursion), and the gradient ``softmax(logits) - occupancy``, / N for the mean.
    """

    name = "ctc"

    def __init__(self, reduction: str = "sum_over_batch_size", name: str | None = None, dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype)

    def check(self, y_true, y_pred):
        y = np.asarray(y_true)
        if y.ndim != 2:
            raise ValueError("ctc: targets y_true are expected to be a tensor of shape (batch_size, "
                             f"max_length) in integer format. Received: y_true.shape={y.shape}")
        if y_pred.ndim != 3:
            raise ValueError("ctc: logits y_pred are expected to be a tensor of shape (batch_size, "
                             f"max_length, num_classes). Received: y_pred.shape={y_pred.shape}")
        self._lengths(y, y_pred)  # labels, lengths and ranges checked once, here
        return y, y_pred

    @staticmethod
    def _lengths(y, y_pred):
        label_length = np.sum(y != 0, axis=-1)
        output_length = np.full(y_pred.shape[0], y_pred.shape[1])
        ctc_ops._check(y, y_pred, label_length, output_length, 0, "ctc")
        return label_length, output_length

    def forward(self, y_true, y_pred):
        label_length, output_length = self._lengths(y_true, y_pred)
        return ctc_ops.ctc_loss(y_true, y_pred, label_length, output_length, mask_index=0)

    def backward(self, y_true, y_pred):
        label_length, output_length = self._lengths(y_true, y_pred)
        grad = ctc_ops.ctc_loss_gradient(y_true, y_pred, label_length, output_length, mask_index=0)
        return (grad / y_pred.shape[0]).astype(y_pred.dtype, copy=False)


def ctc(y_true, y_pred) -> np.ndarray:
    """``keras.losses.ctc``: :class:`CTC`'s per-sequence values."""
    loss = CTC()
    return loss.forward(*loss.check(y_true, np.asarray(y_pred)))


def dice(y_true, y_pred, axis=None) -> np.ndarray:
    """``keras.losses.dice``: :class:`Dice`'s values, not reduced."""
    loss = Dice(axis=axis)
    return loss.forward(*loss.check(y_true, np.asarray(y_pred)))


def tversky(y_true, y_pred, alpha: float = 0.5, beta: float = 0.5, axis=None) -> np.ndarray:
    """``keras.losses.tversky``: :class:`Tversky`'s values, not reduced."""
    loss = Tversky(alpha=alpha, beta=beta, axis=axis)
    return loss.forward(*loss.check(y_true, np.asarray(y_pred)))


def categorical_generalized_cross_entropy(y_true, y_pred, q: float) -> np.ndarray:
    """``keras.losses.categorical_generalized_cross_entropy``: per-sample values (``q`` required,
    as in Keras)."""
    loss = CategoricalGeneralizedCrossEntropy(q=q)
    return loss.forward(*loss.check(y_true, np.asarray(y_pred)))
