"""The rest of ``keras.ops.numpy`` for :mod:`scratchnet.ops`: statistics (quantiles, the NaN-skipping
reductions, histograms), elementwise and bitwise functions, complex parts, and shape functions.

As in ``ops.py``, each is one NumPy definition that works on arrays and on the tape's traced
arrays: where it is made of ``sort``, ``take_along_axis``, ``np.where``, ``np.sum`` ... its gradient
follows from theirs (``median``'s goes to the middle value(s), ``nanmean``'s to the cells that
are not NaN). Integer results and counts are int32, float results float32 for integer inputs,
as Keras on TensorFlow.
"""

from __future__ import annotations

import builtins
import math

import numpy as np

import scratchnet.ops as o
from scratchnet import config
from scratchnet.autodiff import Traced


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    return tuple(sorted(a % ndim for a in (axis if isinstance(axis, tuple | list) else (axis,))))


def _keep(out, x_ndim, axes, keepdims):
    """``out`` (reduced over ``axes``) with those axes back as size 1 when ``keepdims``."""
    if not keepdims:
        return out
    for a in axes:
        out = np.expand_dims(out, a)
    return out


# ----------------------------------------------------------------------------- quantiles
def _gathered(sorted_y, index):
    """``sorted_y[..., index]`` for an integer array ``index`` (any shape), as ``index.shape +
    sorted_y.shape[:-1]``: q's axes first, as Keras (and NumPy) put them."""
    out = sorted_y[..., np.asarray(index).reshape(-1)]  # (..., Q)
    out = o.moveaxis(out, -1, 0) if out.ndim > 1 else out
    return np.reshape(out, np.shape(index) + tuple(sorted_y.shape[:-1]))


def _quantile_sorted(sorted_y, d, q, method: str):
    """The ``q`` quantile of each row of ``sorted_y`` (the last axis, its first ``d`` cells the
    data), as TensorFlow computes it: position ``(d - 1) q``; ``"linear"`` between the cells on
    either side, with TensorFlow's choice of the pair (``hi = ceil``, ``lo = max(hi - 1, 0)``) so the
    gradient lands where TensorFlow puts it."""
    q = np.asarray(q, dtype=np.float64)
    exact = (d - 1) * q

    def index(rounding):
        return np.clip(rounding(exact).astype(np.int64), 0, np.maximum(d - 1, 0))

    if method == "lower":
        return _gathered(sorted_y, index(np.floor))
    if method == "higher":
        return _gathered(sorted_y, index(np.ceil))
    if method == "nearest":
        return _gathered(sorted_y, index(np.round))
    if method == "midpoint":
        return 0.5 * (_gathered(sorted_y, index(np.floor)) + _gathered(sorted_y, index(np.ceil)))
    if method != "linear":
        raise ValueError("Invalid value for `method`. Expected one of 'linear', 'lower', 'higher', "
                         f"'midpoint', 'nearest'. Received: method={method}")
    hi = index(np.ceil)
    lo = np.maximum(hi - 1, 0)
    hi = np.minimum(lo + 1, d - 1)
    fraction = (hi - exact).astype(sorted_y.dtype)
    fraction = np.reshape(fraction, fraction.shape + (1,) * (sorted_y.ndim - 1))
    return _gathered(sorted_y, hi) * (1 - fraction) + _gathered(sorted_y, lo) * fraction


def _to_rows(x, axis):
    """``x`` with the ``axis`` axes moved last and flattened into one: ``(others..., n)``."""
    axes = _axes(axis, x.ndim)
    others = [a for a in range(x.ndim) if a not in axes]
    y = np.transpose(x, others + list(axes))
    return np.reshape(y, tuple(x.shape[a] for a in others) + (-1,)), axes


def quantile(x, q, axis=None, method="linear", keepdims=False):
    """The ``q``-th quantile(s) (``q`` in ``[0, 1]``, a number or a 1-D array whose axis comes
    first) over ``axis`` (all axes when None): sort, then read position ``(n - 1) q`` (see
    ``_quantile_sorted``). A NaN anywhere in a row gives NaN."""
    x = o._floating(x)
    rows, axes = _to_rows(x, axis)
    out = _quantile_sorted(o.sort(rows, axis=-1), rows.shape[-1], q, method)
    nan_rows = np.any(np.isnan(o._plain(rows)), axis=-1)
    out = np.where(np.broadcast_to(nan_rows, out.shape[np.ndim(q):]), np.nan, out) if nan_rows.any() else out
    if keepdims:
        for a in axes:
            out = np.expand_dims(out, a + np.ndim(q))
    return out


def percentile(x, q, axis=None, method="linear", keepdims=False):
    """``quantile(x, q / 100)``."""
    return quantile(x, np.asarray(q, dtype=np.float32) / np.float32(100.0), axis=axis, method=method,
                    keepdims=keepdims)


def median(x, axis=None, keepdims=False):
    """``quantile(x, 0.5)``: the middle value, or the mean of the two middle values."""
    return quantile(x, 0.5, axis=axis, keepdims=keepdims)


def nanquantile(x, q, axis=None, method="linear", keepdims=False):
    """:func:`quantile` of the values that are not NaN (NaN where a row has none): NumPy's sort
    puts NaN last, so each row's first ``n_valid`` sorted cells are its data."""
    x = o._floating(x)
    rows, axes = _to_rows(x, axis)
    valid = np.sum(~np.isnan(o._plain(rows)), axis=-1)  # (others...)
    out = _quantile_sorted(o.sort(rows, axis=-1), valid, q, method) if rows.ndim == 1 else None
    if out is None:  # one row at a time: each has its own count of valid cells
        flat = np.reshape(rows, (-1, rows.shape[-1]))
        per_row = [_quantile_sorted(o.sort(flat[i], axis=-1), int(n), q, method)
                   for i, n in enumerate(valid.reshape(-1))]
        out = np.reshape(np.stack(per_row, axis=-1), np.shape(q) + rows.shape[:-1])
    empty = np.broadcast_to(valid == 0, out.shape[np.ndim(q):])
    out = np.where(empty, np.nan, out) if empty.any() else out
    if keepdims:
        for a in axes:
            out = np.expand_dims(out, a + np.ndim(q))
    return out


def nanpercentile(x, q, axis=None, method="linear", keepdims=False):
    return nanquantile(x, np.asarray(q, dtype=np.float32) / np.float32(100.0), axis=axis, method=method,
                       keepdims=keepdims)


def nanmedian(x, axis=None, keepdims=False):
    return nanquantile(x, 0.5, axis=axis, keepdims=keepdims)


# ----------------------------------------------------------------------------- NaN-skipping reductions
def _nan_mask(x):
    return np.isnan(o._plain(x)) if o._plain(x).dtype.kind in "fc" else np.zeros(np.shape(x), bool)


def nansum(x, axis=None, keepdims=False):
    """The sum with NaN counted as 0."""
    x = o._array(x)
    return o.sum(np.where(_nan_mask(x), 0, x), axis=axis, keepdims=keepdims)


def nanprod(x, axis=None, keepdims=False):
    """The product with NaN counted as 1."""
    x = o._array(x)
    return o.prod(np.where(_nan_mask(x), 1, x), axis=axis, keepdims=keepdims)


def nanmean(x, axis=None, keepdims=False):
    """``nansum / (number of cells not NaN)``; integers give float32."""
    x = o._floating(x)
    count = np.sum(~_nan_mask(x), axis=axis, keepdims=keepdims).astype(x.dtype)
    return np.sum(np.where(_nan_mask(x), 0, x), axis=axis, keepdims=keepdims) / count


def nanvar(x, axis=None, keepdims=False):
    """``mean((x - nanmean)^2)`` over the cells that are not NaN."""
    x = o._floating(x)
    centred = np.where(_nan_mask(x), 0, x - nanmean(x, axis=axis, keepdims=True))
    count = np.sum(~_nan_mask(x), axis=axis, keepdims=keepdims).astype(x.dtype)
    return np.sum(centred * centred, axis=axis, keepdims=keepdims) / count


def nanstd(x, axis=None, keepdims=False):
    return np.sqrt(nanvar(x, axis=axis, keepdims=keepdims))


def _nan_extreme(x, axis, keepdims, function, fill):
    x = o._array(x)
    if x.dtype.kind not in "fc":
        return function(x, axis=axis, keepdims=keepdims)
    mask = _nan_mask(x)
    out = function(np.where(mask, fill, x), axis=axis, keepdims=keepdims)
    all_nan = np.all(mask, axis=axis, keepdims=keepdims)
    return np.where(all_nan, np.nan, out) if np.any(all_nan) else out


def nanmax(x, axis=None, keepdims=False):
    """The maximum of the cells that are not NaN (NaN if all are)."""
    return _nan_extreme(x, axis, keepdims, o.max, -np.inf)


def nanmin(x, axis=None, keepdims=False):
    """The minimum of the cells that are not NaN (NaN if all are)."""
    return _nan_extreme(x, axis, keepdims, o.min, np.inf)


def _nan_arg(x, axis, keepdims, function, fill):
    x = o._plain(o._array(x))
    if x.dtype.kind not in "fc":
        return function(x, axis=axis, keepdims=keepdims)
    mask = np.isnan(x)
    out = function(np.where(mask, fill, x), axis=axis, keepdims=keepdims)
    return np.where(np.all(mask, axis=axis, keepdims=keepdims), -1, out).astype(np.int32)


def nanargmax(x, axis=None, keepdims=False):
    """The index of the largest value that is not NaN (-1 where all are NaN), int32."""
    return _nan_arg(x, axis, keepdims, o.argmax, -np.inf)


def nanargmin(x, axis=None, keepdims=False):
    return _nan_arg(x, axis, keepdims, o.argmin, np.inf)


def nancumsum(x, axis=None, dtype=None):
    """The running sum with NaN counted as 0."""
    x = o._array(x)
    return o.cumsum(np.where(_nan_mask(x), 0, x), axis=axis, dtype=dtype)


def nancumprod(x, axis=None, dtype=None):
    """The running product with NaN counted as 1."""
    x = o._array(x)
    return o.cumprod(np.where(_nan_mask(x), 1, x), axis=axis, dtype=dtype)


# ----------------------------------------------------------------------------- more statistics
def ptp(x, axis=None, keepdims=False):
    """Peak to peak: ``max - min`` along ``axis``."""
    x = o._array(x)
    return o.max(x, axis=axis, keepdims=keepdims) - o.min(x, axis=axis, keepdims=keepdims)


def histogram(x, bins=10, range=None):  # noqa: A002 (Keras' name)
    """``(counts, edges)``: ``bins`` equal bins from ``min(x)`` to ``max(x)`` (or ``range``),
    each value in the bin ``searchsorted(inner edges, x, "right")`` (the last bin closed), values
    outside ``range`` dropped; counts in ``x``'s dtype, as Keras."""
    x = o._plain(o._array(x))
    if x.ndim != 1:
        raise ValueError(f"Input tensor must be 1-dimensional. Received: input.shape={x.shape}")
    if not isinstance(bins, int) or bins < 1:
        raise ValueError(f"Argument `bins` should be a non-negative integer. Received: bins={bins}")
    low, high = (np.min(x), np.max(x)) if range is None else range
    x = x[(x >= low) & (x <= high)]
    edges = np.linspace(np.float64(low), np.float64(high), bins + 1).astype(np.float32).astype(x.dtype)
    which = np.searchsorted(edges[1:-1], x, side="right")
    return np.bincount(which, minlength=bins).astype(x.dtype), edges


def bincount(x, weights=None, minlength=0, sparse=False):
    """``out[i]`` = how many times ``i`` occurs in ``x`` (or the sum of their ``weights``); a 2-D
    ``x`` counts each row. int32 counts, or the weights' dtype."""
    if sparse:
        raise ValueError("sn.ops.bincount: sparse=True is not supported (scratchnet has no sparse "
                         "tensors); received sparse=True")
    x = o._plain(o._array(x)).astype(np.int64)
    if x.ndim not in (1, 2):
        raise ValueError(f"sn.ops.bincount: expected a 1-D or 2-D input, received shape {x.shape}")
    length = builtins.max(int(x.max()) + 1 if x.size else 0, minlength)
    w = None if weights is None else o._plain(o._array(weights))
    dtype = np.int32 if w is None else (w.dtype if w.dtype in (np.int32, np.float32, np.float64)
                                        else np.result_type(w.dtype, np.int32))
    if x.ndim == 1:
        return np.bincount(x, weights=w, minlength=length).astype(dtype)
    return np.stack([np.bincount(r, weights=None if w is None else w[i], minlength=length)
                     for i, r in enumerate(x)]).astype(dtype)


def corrcoef(x):
    """The correlation of each pair of rows: ``cov / outer(std, std)``, ``cov`` from the centred
    rows over ``n - 1``, clipped to ``[-1, 1]``."""
    x = o._floating(x)
    centred = x - np.mean(x, axis=-1, keepdims=True)
    cov = np.matmul(centred, np.swapaxes(centred, -1, -2)) / (x.shape[-1] - 1)
    std = np.sqrt(o.diagonal(cov))
    return np.clip(cov / o.outer(std, std), -1.0, 1.0)


def correlate(x1, x2, mode="valid"):
    """``out[k] = sum_n x1[n + k] x2[n]`` of two 1-D arrays (NumPy's ``correlate``): ``"valid"``
    where they overlap fully, ``"same"`` the length of the longer, ``"full"`` every overlap."""
    if mode not in ("valid", "same", "full"):
        raise ValueError(f"mode must be one of 'valid', 'same', or 'full'. Received: mode={mode}")
    x1, x2 = o._floating(x1), o._floating(x2)
    n, m = x1.shape[0], x2.shape[0]
    padded = np.pad(x1, (m - 1, m - 1))  # 'full': every shift where they overlap
    windows = padded[np.arange(n + m - 1)[:, None] + np.arange(m)[None, :]]  # (n + m - 1, m)
    full = np.sum(windows * x2, axis=-1)
    if mode == "full":
        return full
    if mode == "same":
        # centred as Keras on TensorFlow: (min(n, m) - 1) // 2 cells cut from the front (NumPy
        # cuts n // 2 when the shorter array, of even length n, comes first)
        start = (builtins.min(n, m) - 1) // 2
        return full[start:start + builtins.max(n, m)]
    lo, hi = builtins.min(n, m) - 1, builtins.max(n, m)
    return full[lo:hi]


def trapezoid(y, x=None, dx=1.0, axis=-1):
    """The trapezoid rule: ``sum((y[i] + y[i + 1]) / 2 * (x[i + 1] - x[i]))`` along ``axis``."""
    y = o.moveaxis(o._floating(y), axis, -1)
    spacing = np.float32(dx) if x is None else o.moveaxis(o.diff(o._floating(x), axis=axis), axis, -1)
    return np.sum(0.5 * (y[..., 1:] + y[..., :-1]) * spacing, axis=-1)


def cdist(x, y):
    """The Euclidean distance between each row of ``x`` and each of ``y``: ``out[..., i, j] =
    sqrt(sum_k (x[..., i, k] - y[..., j, k])^2)``."""
    x, y = o._floating(x), o._floating(y)
    if x.ndim < 2 or y.ndim < 2:
        raise ValueError("`cdist` inputs must have rank >= 2")
    if x.shape[-1] != y.shape[-1]:
        raise ValueError("Last dimension of inputs to `cdist` must match")
    difference = np.expand_dims(x, -2) - np.expand_dims(y, -3)
    return np.sqrt(np.sum(difference * difference, axis=-1))


# ----------------------------------------------------------------------------- elementwise
def _integer(x):
    x = o._plain(o._array(x))
    if x.dtype.kind not in "iub":
        raise TypeError(f"sn.ops: bitwise operations need integer or boolean inputs, received dtype "
                        f"{x.dtype}")
    return x


def bitwise_and(x, y):
    return np.bitwise_and(_integer(x), _integer(y))


def bitwise_or(x, y):
    return np.bitwise_or(_integer(x), _integer(y))


def bitwise_xor(x, y):
    return np.bitwise_xor(_integer(x), _integer(y))


def bitwise_invert(x):
    """``~x``: every bit flipped (``-x - 1`` for signed integers)."""
    return np.invert(_integer(x))


bitwise_not = bitwise_invert


def bitwise_left_shift(x, y):
    """``x << y``."""
    return np.left_shift(_integer(x), _integer(y))


def bitwise_right_shift(x, y):
    """``x >> y`` (the sign kept for signed integers)."""
    return np.right_shift(_integer(x), _integer(y))


left_shift, right_shift = bitwise_left_shift, bitwise_right_shift


def gcd(x1, x2):
    return np.gcd(_integer(x1), _integer(x2))


def lcm(x1, x2):
    return np.lcm(_integer(x1), _integer(x2))


def fmod(x1, x2):
    """``x1 - trunc(x1 / x2) * x2``: the remainder with the sign of ``x1`` (C's ``fmod``; ``mod``
    takes the sign of ``x2``)."""
    x1, x2 = o._array(x1), o._array(x2)
    return x1 - np.trunc(o._plain(x1) / o._plain(x2)).astype(np.result_type(x1.dtype, x2.dtype)) * x2


def fmax(x1, x2):
    """The larger of the two, a NaN ignored when the other is a number."""
    x1, x2 = o._floating(x1), o._floating(x2)
    return np.where(np.isnan(o._plain(x2)), x1, np.where(np.isnan(o._plain(x1)), x2, np.maximum(x1, x2)))


def fmin(x1, x2):
    """The smaller of the two, a NaN ignored when the other is a number."""
    x1, x2 = o._floating(x1), o._floating(x2)
    return np.where(np.isnan(o._plain(x2)), x1, np.where(np.isnan(o._plain(x1)), x2, np.minimum(x1, x2)))


def fabs(x):
    """``|x|`` as a float."""
    return np.abs(o._floating(x))


def _values_only(what: str, *inputs):
    """Refuse a traced input to an op scratchnet has no gradient for (rather than return a
    constant, which would silently drop the gradient)."""
    for x in inputs:
        if isinstance(x, Traced):
            raise TypeError(f"{x.tape.where}: ops.{what} has no gradient in scratchnet; compute it "
                            "outside the differentiated function")


def heaviside(x1, x2):
    """0 for ``x1 < 0``, ``x2`` at 0, 1 for ``x1 > 0`` (as ``where``: no gradient to ``x1``, ``dy``
    to ``x2`` where ``x1 == 0``)."""
    x1, x2 = o._floating(x1), o._floating(x2)
    step = o._plain(x1)
    dtype = np.result_type(step.dtype, x2.dtype)
    return np.where(step < 0, np.zeros((), dtype), np.where(step > 0, np.ones((), dtype), x2))


def i0(x):
    """The modified Bessel function of the first kind, order 0 (``np.i0``); its derivative is
    ``i1(x)``, recorded on the tape."""
    import scipy.special

    x = o._floating(x)
    value = o._plain(x)
    return o._recorded(np.i0(value).astype(value.dtype),
                       (x, lambda dy: (dy * scipy.special.i1(value)).astype(value.dtype)))


def sinc(x):
    """``sin(pi x) / (pi x)``, 1 at 0 (where the quotient is replaced, so no NaN reaches the gradient)."""
    x = o._floating(x)
    zero = o._plain(x) == 0
    pi_x = np.where(zero, 1.0, x * np.pi)
    return np.where(zero, 1.0, np.sin(pi_x) / pi_x)


def signbit(x):
    """True where the sign bit is set (negative numbers, -0.0, -inf)."""
    return np.signbit(o._plain(o._array(x)))


def ldexp(x1, x2):
    """``x1 * 2^x2`` (``x2`` an integer)."""
    x2 = _integer(x2)
    x1 = o._floating(x1)
    return x1 * np.exp2(x2).astype(x1.dtype)


def nextafter(x1, x2):
    """The next float after ``x1`` towards ``x2``. No gradient."""
    _values_only("nextafter", x1, x2)
    x1, x2 = o._plain(o._floating(x1)), o._plain(o._floating(x2))
    return np.nextafter(x1, x2.astype(x1.dtype))


def isin(x1, x2, assume_unique=False, invert=False):
    """True where an element of ``x1`` is among those of ``x2`` (False with ``invert``)."""
    return np.isin(o._plain(o._array(x1)), o._plain(o._array(x2)), invert=invert)


def isreal(x):
    """True where the imaginary part is 0 (everywhere, for real arrays)."""
    return np.isreal(o._plain(o._array(x)))


def real(x):
    """The real part (a real array itself, so its gradient passes, as TensorFlow's)."""
    x = o._array(x)
    if x.dtype.kind != "c":
        return x
    _values_only("real of a complex array", x)
    return np.real(x)


def imag(x):
    """The imaginary part (zeros of a real array, a constant)."""
    x = o._array(x)
    if x.dtype.kind != "c":
        return np.zeros(x.shape, x.dtype)
    _values_only("imag of a complex array", x)
    return np.imag(x)


def conj(x):
    """The complex conjugate (a real array as it is)."""
    x = o._array(x)
    return np.conj(x) if not isinstance(x, Traced) and x.dtype.kind == "c" else x


conjugate = conj


def angle(x):
    """The argument of each complex number, ``arctan2(imag, real)`` (0 or pi for reals)."""
    _values_only("angle", x)
    x = o._plain(o._array(x))
    if x.dtype.kind != "c":
        x = x.astype(config.floatx()) if x.dtype.kind != "f" else x
    return np.angle(x).astype(np.real(x).dtype)


def polar(abs_, angle):
    """``abs * (cos(angle) + i sin(angle))``, complex."""
    _values_only("polar", abs_, angle)
    r, theta = o._plain(o._floating(abs_)), o._plain(o._floating(angle))
    return (r * np.cos(theta) + 1j * r * np.sin(theta)).astype(np.result_type(r.dtype, np.complex64))


def view_as_complex(x):
    """A ``(..., 2)`` real array as complex ``real + i imag``."""
    _values_only("view_as_complex", x)
    x = o._plain(o._floating(x))
    if x.shape[-1] != 2:
        raise ValueError(f"Last dimension of input must be size 2 (real and imaginary). Received shape: "
                         f"{x.shape}")
    return (x[..., 0] + 1j * x[..., 1]).astype(np.result_type(x.dtype, np.complex64))


def view_as_real(x):
    """A complex array as ``(..., 2)`` of its real and imaginary parts."""
    _values_only("view_as_real", x)
    x = o._plain(o._array(x))
    return np.stack([np.real(x), np.imag(x)], axis=-1)


def view(x, dtype=None):
    """The same bytes read as ``dtype`` (``ndarray.view``): the last axis rescaled by the size ratio."""
    _values_only("view", x)
    x = o._plain(o._array(x))
    return x if dtype is None else x.view(np.dtype(dtype))


# ----------------------------------------------------------------------------- shapes
def array_split(x, indices_or_sections, axis=0):
    """Like ``split``, but ``n`` sections need not divide the axis: the first ``size % n`` are one
    longer."""
    x = o._array(x)
    if not isinstance(indices_or_sections, int) or indices_or_sections < 1:
        raise ValueError("Argument `indices_or_sections` must be of type `int` and >= 1. Received: "
                         f"indices_or_sections={indices_or_sections}")
    size = x.shape[axis]
    n = indices_or_sections
    lengths = [size // n + 1] * (size % n) + [size // n] * (n - size % n)
    cuts = np.cumsum(lengths)[:-1].tolist()
    return o.split(x, cuts, axis=axis)


def _split_along(x, indices_or_sections, axis, what, minimum):
    x = o._array(x)
    if x.ndim < minimum:
        raise ValueError(f"sn.ops.{what}: expected an input of at least {minimum} dimensions, received "
                         f"shape {x.shape}")
    return o.split(x, indices_or_sections, axis=axis)


def hsplit(x, indices_or_sections):
    """Split along axis 1 (axis 0 of a 1-D array)."""
    return _split_along(x, indices_or_sections, 0 if np.ndim(x) == 1 else 1, "hsplit", 1)


def vsplit(x, indices_or_sections):
    return _split_along(x, indices_or_sections, 0, "vsplit", 2)


def dsplit(x, indices_or_sections):
    return _split_along(x, indices_or_sections, 2, "dsplit", 3)


def dstack(xs):
    """Stacked along axis 2 (1-D ``(n,)`` as ``(1, n, 1)``, 2-D ``(m, n)`` as ``(m, n, 1)``)."""
    def at_least_3d(x):
        x = o._array(x)
        if x.ndim == 0:
            return np.reshape(x, (1, 1, 1))
        if x.ndim == 1:
            return np.reshape(x, (1, -1, 1))
        return np.reshape(x, x.shape + (1,)) if x.ndim == 2 else x
    return np.concatenate([at_least_3d(x) for x in xs], axis=2)


def diagflat(x, k=0):
    """The flattened ``x`` on diagonal ``k`` of a square matrix."""
    return o.diag(o.ravel(x), k=k)


def kron(x1, x2):
    """The Kronecker product: block ``(i, j)`` is ``x1[i, j] * x2`` (for any number of axes)."""
    x1, x2 = o._array(x1), o._array(x2)
    nd = builtins.max(x1.ndim, x2.ndim)
    x1 = np.reshape(x1, (1,) * (nd - x1.ndim) + x1.shape)
    x2 = np.reshape(x2, (1,) * (nd - x2.ndim) + x2.shape)
    outer = np.reshape(x1, [d for n in x1.shape for d in (n, 1)]) * np.reshape(
        x2, [d for n in x2.shape for d in (1, n)])  # (a0, b0, a1, b1, ...)
    return np.reshape(outer, tuple(a * b for a, b in zip(x1.shape, x2.shape, strict=True)))


def cross(x1, x2, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """The cross product of 3-vectors (or 2-vectors, taking z = 0) along the given axes."""
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = o.moveaxis(o._array(x1), axisa, -1), o.moveaxis(o._array(x2), axisb, -1)
    for v, name in ((a, "x1"), (b, "x2")):
        if v.shape[-1] not in (2, 3):
            raise ValueError(f"sn.ops.cross: expected vectors of 2 or 3 components along the axis of "
                             f"{name}, received {v.shape[-1]}")
    if a.shape[-1] == 2 and b.shape[-1] == 2:
        return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]

    def parts(v):
        return (v[..., 0], v[..., 1], v[..., 2] if v.shape[-1] == 3 else 0 * v[..., 0])
    (a0, a1, a2), (b0, b1, b2) = parts(a), parts(b)
    out = np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)
    return o.moveaxis(out, -1, axisc)


def vander(x, N=None, increasing=False):  # noqa: N803 (Keras' name)
    """Columns ``x^(N-1), ..., x, 1`` (or ``1, x, ...`` if ``increasing``); ``N = len(x)`` when None."""
    x = o._array(x)
    if x.ndim != 1:
        raise ValueError(f"Input tensor must be 1-dimensional. Received: x.shape={x.shape}")
    n = x.shape[0] if N is None else N
    powers = np.arange(n) if increasing else np.arange(n - 1, -1, -1)
    return np.power(x[:, None], powers.astype(x.dtype))


def vdot(x1, x2):
    """The dot product of the flattened arrays (the first conjugated if complex)."""
    return o.sum(conj(o.ravel(x1)) * o.ravel(x2))


def unique(x, sorted=True, return_index=False, return_inverse=False, return_counts=False,  # noqa: A002
           axis=None, size=None, fill_value=None):
    """The distinct values (rows along ``axis``), sorted, as ``np.unique``; ``size`` pads with
    ``fill_value`` (the smallest value when None) or cuts to that many. Indices int32."""
    x = o._plain(o._array(x))
    values, index, inverse, counts = np.unique(x, return_index=True, return_inverse=True,
                                               return_counts=True, axis=axis)
    if size is not None:
        along = 0 if axis is None else axis
        n = values.shape[along]
        if n >= size:
            cut = (slice(None),) * along + (slice(0, size),)
            values, index, counts = values[cut], index[:size], counts[:size]
        else:
            fill = np.min(values) if fill_value is None else fill_value
            pad = [(0, 0)] * values.ndim
            pad[along] = (0, size - n)
            values = np.pad(values, pad, constant_values=fill)
            index, counts = np.pad(index, (0, size - n)), np.pad(counts, (0, size - n))
    results = [values]
    if return_index:
        results.append(index.astype(np.int32))
    if return_inverse:
        results.append(np.reshape(inverse, x.shape if axis is None else (-1,)).astype(np.int32))
    if return_counts:
        results.append(counts.astype(np.int32))
    return results[0] if len(results) == 1 else tuple(results)


def argpartition(x, kth, axis=-1):
    """Indices that put the ``kth`` smallest in place ``kth``, the smaller before, the larger
    after, as Keras on TensorFlow orders them: the ``kth + 1`` smallest (``top_k`` of ``-x``,
    smallest first), then the rest largest first. int32."""
    x = o._plain(o._array(x)).astype(np.int32)
    if axis is None:
        x, axis = x.reshape(-1), -1
    x = np.swapaxes(x, axis, -1)
    n = x.shape[-1]
    k = int(np.clip(kth, 0, n - 1))
    bottom = np.argsort(x, axis=-1, kind="stable")[..., :k + 1]
    rest = np.ones(x.shape, bool)
    np.put_along_axis(rest, bottom, False, axis=-1)
    masked = np.where(rest, x, 0)  # as TensorFlow: the taken cells zeroed, then the largest first
    top = np.argsort(-masked, axis=-1, kind="stable")[..., :n - k - 1]
    return np.swapaxes(np.concatenate([bottom, top], axis=-1), -1, axis).astype(np.int32)


def unravel_index(indices, shape):
    """The coordinates of each flat index in an array of ``shape``: a tuple, one array per axis."""
    if None in shape:
        raise ValueError(f"`shape` argument cannot contain `None`. Received: shape={shape}")
    indices = o._plain(o._array(indices))
    return tuple(c.astype(indices.dtype) for c in np.unravel_index(indices, shape))


def logspace(start, stop, num=50, endpoint=True, base=10, dtype=None, axis=0):
    """``base ** linspace(start, stop, num)``."""
    exponents = o.linspace(start, stop, num=num, endpoint=endpoint, dtype=dtype, axis=axis)
    return np.power(np.asarray(base, exponents.dtype), exponents)


def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    """``num`` values from ``start`` to ``stop`` in a geometric progression: ``sign(start) *
    10 ** linspace(log10|start|, log10|stop|)``, as Keras computes it."""
    dtype = np.dtype(dtype or config.floatx())
    log_start = np.log(np.abs(np.asarray(start)).astype(dtype))
    log_stop = np.log(np.abs(np.asarray(stop)).astype(dtype))
    log_base = np.log(np.asarray(10.0, dtype))
    out = logspace(log_start / log_base, log_stop / log_base, num=num, endpoint=endpoint, dtype=dtype,
                   axis=axis)
    return out * np.sign(np.asarray(start, dtype))


def rearrange(tensor, pattern, **axes_lengths):
    """einops' ``rearrange``: ``"b h w c -> b (h w) c"`` (axes named by words, grouped by
    parentheses on either side), as a reshape, a transpose and a reshape; ``axes_lengths`` give
    the sizes of axes split on the left (``"b (h w) -> b h w", h=2``)."""
    def parse(side):
        groups, current = [], None
        for token in side.replace("(", " ( ").replace(")", " ) ").split():
            if token == "(":
                current = []
            elif token == ")":
                groups.append(current)
                current = None
            elif current is not None:
                current.append(token)
            else:
                groups.append([token])
        return groups
    if "->" not in pattern:
        raise ValueError(f"Pattern must contain '->'. Received: pattern={pattern}")
    left, right = (parse(s) for s in pattern.split("->"))
    x = o._array(tensor)
    if len(left) != x.ndim:
        raise ValueError(f"Number of axes in pattern ({len(left)}) does not match tensor's rank ({x.ndim})")
    sizes = dict(axes_lengths)
    for group, n in zip(left, x.shape, strict=True):
        unknown = [a for a in group if a not in sizes]
        known = math.prod(sizes[a] for a in group if a in sizes)
        if len(unknown) == 1:
            sizes[unknown[0]] = n // known
    names = [a for g in left for a in g]
    x = np.reshape(x, [sizes[a] for a in names])
    x = np.transpose(x, [names.index(a) for g in right for a in g])
    return np.reshape(x, [math.prod(sizes[a] for a in g) for g in right])
