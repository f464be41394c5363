"""``keras.ops`` names for the functions a ``Lambda`` (or any NumPy code) calls, so that a Keras
program's ``Lambda(lambda x: keras.ops.expand_dims(x, axis=-1))`` runs with the import changed.

Each is the NumPy function of the same meaning, called with Keras' argument names and defaults:
on arrays they compute what NumPy computes, and inside a ``Lambda`` in training they go through
the gradient tape (:mod:`scratchnet.autodiff`), which knows every function used here. Keras' ops
return tensors; these return NumPy arrays. ``shape`` returns a tuple, as Keras' does.

Numerics as Keras': ``sigmoid(x) = (tanh(x / 2) + 1) / 2`` (no overflow, and the tape's ``tanh``
rule gives its gradient); ``relu(x) = maximum(x, 0)``; ``softmax`` subtracts the maximum first.
"""

from __future__ import annotations

import builtins as _builtins
import math as _math
import types as _types

import numpy as np

from scratchnet import config
from scratchnet.autodiff import Traced
from scratchnet.layers.input_layer import (
    BatchlessTensor,
    KerasTensor,
    layer_constant,
    on_arrays,
    traced_batch_size,
)


def _dtype(dtype):
    return np.dtype(config.floatx() if dtype is None else dtype)


# ----------------------------------------------------------------------------- elementwise
abs = absolute = np.absolute  # noqa: A001 (Keras' name)
add, subtract, multiply, divide, true_divide = np.add, np.subtract, np.multiply, np.divide, np.true_divide
negative, power, square, sqrt = np.negative, np.power, np.square, np.sqrt
exp, expm1, log, log1p = np.exp, np.expm1, np.log, np.log1p
tanh, sin, cos, sign, floor, ceil = np.tanh, np.sin, np.cos, np.sign, np.floor, np.ceil
maximum, minimum, matmul = np.maximum, np.minimum, np.matmul
equal, not_equal, greater, greater_equal, less, less_equal = (
    np.equal, np.not_equal, np.greater, np.greater_equal, np.less, np.less_equal)
logical_and, logical_or, logical_not = np.logical_and, np.logical_or, np.logical_not
isnan, isinf, isfinite = np.isnan, np.isinf, np.isfinite
reciprocal = np.reciprocal


def clip(x, x_min, x_max):
    """``keras.ops.clip(x, x_min, x_max)``."""
    return np.clip(x, x_min, x_max)


def where(condition, x1=None, x2=None):
    """``keras.ops.where``: ``x1`` where ``condition``, else ``x2``."""
    return np.where(condition, x1, x2)


def sigmoid(x):
    """``1 / (1 + exp(-x))``, as ``(tanh(x / 2) + 1) / 2``: no overflow for large ``|x|``."""
    return (np.tanh(x * 0.5) + 1.0) * 0.5


def relu(x):
    return np.maximum(x, 0.0)


def softmax(x, axis=-1):
    """``exp(x - max) / sum(exp(x - max))`` along ``axis``. The maximum is a constant to the tape
    (the softmax does not depend on it, so neither does its gradient)."""
    shift = np.max(x.value if isinstance(x, Traced) else np.asarray(x), axis=axis, keepdims=True)
    e = np.exp(x - shift)
    return e / np.sum(e, axis=axis, keepdims=True)


# ----------------------------------------------------------------------------- reductions
def _integers_kept(x):
    """``x``, and the dtype a sum or product of it keeps, as Keras: int32 stays int32 (NumPy would
    widen it to int64), booleans count as int32."""
    x = _array(x)
    if x.dtype == bool:
        x = x.astype(np.int32)
    return x, (x.dtype if x.dtype.kind in "iu" else None)


def sum(x, axis=None, keepdims=False):  # noqa: A001 (Keras' name)
    x, dtype = _integers_kept(x)
    return np.sum(x, axis=axis, keepdims=keepdims, dtype=dtype)


def mean(x, axis=None, keepdims=False):
    """The mean; integers give float32, as Keras."""
    return np.mean(_floating(x), axis=axis, keepdims=keepdims)


def prod(x, axis=None, keepdims=False, dtype=None):
    x, kept = _integers_kept(x)
    return np.prod(x, axis=axis, keepdims=keepdims, dtype=kept if dtype is None else dtype)


# ----------------------------------------------------------------------------- shapes
def shape(x) -> tuple:
    """The shape; of a KerasTensor inside a traced ``call``, its batch size first: the data's
    in a trace for data (an eager call, a batch of ``fit``), None in one on ``Input`` s."""
    if isinstance(x, KerasTensor):
        return tuple(x.shape)
    return tuple(np.shape(x))


def ndim(x) -> int:
    if isinstance(x, KerasTensor):
        return x.ndim
    return int(np.ndim(x))


def size(x) -> int:
    return int(np.size(x))


def _checked_block(x, block_size, data_format, op: str) -> int:
    if data_format not in (None, "channels_last"):
        raise ValueError(f"ops.{op}: expected data_format='channels_last' (scratchnet keeps data "
                         f"channels-last), received {data_format!r}")
    if isinstance(block_size, bool) or not isinstance(block_size, int | np.integer) or block_size < 1:
        raise ValueError(f"ops.{op}: expected block_size to be a positive integer, received {block_size!r}")
    if len(shape(x)) != 4:
        raise ValueError(f"`{op}` requires a 4D input tensor. Received: x.shape={shape(x)}")
    return int(block_size)


def depth_to_space(x, block_size, data_format="channels_last"):
    """Keras' ``ops.depth_to_space`` (pixel shuffle): ``(N, H, W, C*b*b) -> (N, H*b, W*b, C)``,
    ``y[n, i*b + p, j*b + q, c] = x[n, i, j, (p*b + q)*C + c]``. On a KerasTensor (a functional
    graph, a traced ``call``) it records a ``DepthToSpace`` node (:mod:`scratchnet.layers.reshaping`),
    sizes of any image kept None."""
    from scratchnet.layers.reshaping import DepthToSpace
    from scratchnet.layers.reshaping import depth_to_space as shuffle

    b = _checked_block(x, block_size, data_format, "depth_to_space")
    if isinstance(x, KerasTensor):
        return DepthToSpace(b)(x)
    c = shape(x)[-1]
    if c % (b * b):
        raise ValueError(f"The number of channels ({c}) must be divisible by block_size**2 ({b * b}).")
    return shuffle(x if isinstance(x, Traced) else np.asarray(x), b)


def space_to_depth(x, block_size, data_format="channels_last"):
    """Keras' ``ops.space_to_depth``: ``(N, H, W, C) -> (N, H/b, W/b, C*b*b)``, the inverse of
    :func:`depth_to_space` (each ``b x b`` block of pixels into the channels)."""
    from scratchnet.layers.reshaping import SpaceToDepth
    from scratchnet.layers.reshaping import space_to_depth as unshuffle

    b = _checked_block(x, block_size, data_format, "space_to_depth")
    if isinstance(x, KerasTensor):
        return SpaceToDepth(b)(x)
    return unshuffle(x if isinstance(x, Traced) else np.asarray(x), b)


def expand_dims(x, axis):
    return np.expand_dims(x, axis)


def squeeze(x, axis=None):
    return np.squeeze(x, axis=axis)


def reshape(x, newshape):
    return np.reshape(x, newshape)


def transpose(x, axes=None):
    return np.transpose(x, axes)


def swapaxes(x, axis1, axis2):
    return np.swapaxes(x, axis1, axis2)


def concatenate(xs, axis=0):
    return np.concatenate(xs, axis=axis)


def stack(x, axis=0):
    return np.stack(x, axis=axis)


def broadcast_to(x, shape):
    return np.broadcast_to(x, shape)


# ----------------------------------------------------------------------------- making arrays
def cast(x, dtype):
    """``x`` as ``dtype`` (``x.astype``, which the tape knows)."""
    return x.astype(np.dtype(dtype))


def convert_to_tensor(x, dtype=None):
    """An array (Keras returns a tensor); a traced value stays traced."""
    if isinstance(x, Traced):
        return x if dtype is None else x.astype(np.dtype(dtype))
    return np.asarray(x, dtype=dtype)


def convert_to_numpy(x):
    return np.asarray(x)


def zeros(shape, dtype=None):
    return np.zeros(shape, dtype=_dtype(dtype))


def ones(shape, dtype=None):
    return np.ones(shape, dtype=_dtype(dtype))


def zeros_like(x, dtype=None):
    return np.zeros_like(x, dtype=dtype)


def ones_like(x, dtype=None):
    return np.ones_like(x, dtype=dtype)


def full_like(x, fill_value, dtype=None):
    return np.full_like(x, fill_value, dtype=dtype)


def arange(start, stop=None, step=None, dtype=None):
    """As ``keras.ops.arange``: integers stay int32 unless floats are given; ``step`` 1 when None."""
    step = 1 if step is None else step
    if dtype is None:
        values = (start, stop, step)
        dtype = "float32" if _builtins.any(isinstance(v, float) for v in values) else "int32"
    if stop is None:
        start, stop = 0, start
    return np.arange(start, stop, step, dtype=dtype)


# ============================================================================= more of keras.ops
# Each is one NumPy definition that works on arrays and on the tape's traced arrays alike: where
# NumPy's own function has a tape rule (np.max, np.cumsum, np.einsum, ...) it is called; the rest are
# written with indexing, np.where and the functions above, so their gradients follow. At the end of
# the file they are wrapped, like the ones above, to become layers on KerasTensors.

_builtin_slice, _builtin_any = _builtins.slice, _builtins.any  # the names are Keras' below


def _array(x):
    """``x`` as an array, as Keras' ``convert_to_tensor``: Python floats become float32 (floatx)
    and Python ints int32; arrays and traced arrays stay as they are."""
    if isinstance(x, Traced | np.ndarray | np.generic):
        return x
    if isinstance(x, list | tuple) and _builtin_any(isinstance(v, Traced) for v in x):
        return np.stack(x)  # a list of traced terms (ops.sum(self.losses) in compute_loss), packed
    a = np.asarray(x)
    if a.dtype == np.float64:
        return a.astype(config.floatx())
    if a.dtype == np.int64:
        return a.astype(np.int32)
    return a


def _floating(x):
    """``x`` for a function whose result is a float: integers and booleans become float32, as
    Keras' ``result_type(x.dtype, float)``."""
    x = _array(x)
    return x if x.dtype.kind in "fc" else x.astype(config.floatx())


def _plain(x):
    return x.value if isinstance(x, Traced) else np.asarray(x)


def _axis_tuple(axis, ndim: int) -> tuple:
    axes = axis if isinstance(axis, tuple | list) else (axis,)
    return tuple(int(a) % ndim for a in axes)


def _along(axis: int, ndim: int, index) -> tuple:
    """The index that applies ``index`` along ``axis`` and takes everything elsewhere."""
    return (_builtin_slice(None),) * (axis % ndim) + (index,)


# ----------------------------------------------------------------------------- reductions
def max(x, axis=None, keepdims=False, initial=None):  # noqa: A001 (Keras' name)
    """``keras.ops.max``: the largest value along ``axis`` (all axes when None). The gradient is
    shared equally among the cells equal to the maximum, as TensorFlow's."""
    result = np.max(_array(x), axis=axis, keepdims=keepdims)
    return result if initial is None else np.maximum(result, initial)


def min(x, axis=None, keepdims=False, initial=None):  # noqa: A001 (Keras' name)
    """``keras.ops.min``: the smallest value along ``axis``."""
    result = np.min(_array(x), axis=axis, keepdims=keepdims)
    return result if initial is None else np.minimum(result, initial)


def amax(x, axis=None, keepdims=False):
    return np.max(_array(x), axis=axis, keepdims=keepdims)


def amin(x, axis=None, keepdims=False):
    return np.min(_array(x), axis=axis, keepdims=keepdims)


def argmax(x, axis=None, keepdims=False):
    """The index of the largest value along ``axis`` (of the flattened array when None), int32;
    the first one on ties. No gradient."""
    return np.argmax(_plain(x), axis=axis, keepdims=keepdims).astype(np.int32)


def argmin(x, axis=None, keepdims=False):
    return np.argmin(_plain(x), axis=axis, keepdims=keepdims).astype(np.int32)


def all(x, axis=None, keepdims=False):  # noqa: A001 (Keras' name)
    return np.all(_plain(x), axis=axis, keepdims=keepdims)


def any(x, axis=None, keepdims=False):  # noqa: A001 (Keras' name)
    return np.any(_plain(x), axis=axis, keepdims=keepdims)


def var(x, axis=None, keepdims=False):
    """The variance, ``mean((x - mean(x))^2)`` along ``axis`` (divided by n, as Keras); integers
    give float32."""
    x = _floating(x)
    centred = x - np.mean(x, axis=axis, keepdims=True)
    return np.mean(centred * centred, axis=axis, keepdims=keepdims)


def std(x, axis=None, keepdims=False):
    """``sqrt(var(x))``."""
    return np.sqrt(var(x, axis=axis, keepdims=keepdims))


def logsumexp(x, axis=None, keepdims=False):
    """``log(sum(exp(x)))`` along ``axis``, as ``m + log(sum(exp(x - m)))`` with ``m`` the maximum
    (a constant to the tape; no overflow). Its gradient is ``softmax(x)``."""
    x = _floating(x)
    m = np.max(_plain(x), axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def cumsum(x, axis=None, dtype=None):
    """The running sum along ``axis`` (over the flattened array when None); booleans give int32."""
    x = _array(x)
    if x.dtype == bool:
        x = x.astype(np.int32)
    return np.cumsum(x, axis=axis, dtype=x.dtype if dtype is None else dtype)


def cumprod(x, axis=None, dtype=None):
    """The running product; TensorFlow's gradient ``reversed_cumsum(y * dy) / x``."""
    x = _array(x)
    if x.dtype == bool:
        x = x.astype(np.int32)
    return np.cumprod(x, axis=axis, dtype=x.dtype if dtype is None else dtype)


def count_nonzero(x, axis=None):
    """How many cells are not zero, int32."""
    return np.count_nonzero(_plain(x), axis=axis).astype(np.int32)


# ----------------------------------------------------------------------------- indexing
def _indices(indices):
    """Indices as an integer array (a float array of whole numbers, as from a cast input, too)."""
    indices = _plain(indices)
    return indices.astype(np.int32) if indices.dtype.kind == "f" else indices


def take(x, indices, axis=None):
    """``x`` indexed by ``indices`` along ``axis`` (the flattened ``x`` when None): ``x[..., indices]``.
    Gradient: each picked cell gets its ``dy`` (added up when picked twice)."""
    x = _array(x)
    if axis is None:
        x, axis = np.reshape(x, (-1,)), 0
    return x[_along(axis, x.ndim, _indices(indices))]


def take_along_axis(x, indices, axis=None):
    """``out[..., i, ...] = x[..., indices[..., i, ...], ...]`` along ``axis`` (``np.take_along_axis``),
    as fancy indexing, so the gradient follows: ``x`` and ``indices`` broadcast on the other axes."""
    x, indices = _array(x), _indices(indices)
    if axis is None:
        x, indices, axis = np.reshape(x, (-1,)), indices.reshape(-1), 0
    axis %= x.ndim
    index = tuple(indices if d == axis else np.arange(n).reshape([-1 if k == d else 1 for k in range(x.ndim)])
                  for d, n in enumerate(x.shape))
    return x[index]


def argsort(x, axis=-1):
    """The indices that sort ``x`` along ``axis``, int32, ties in their order (as TensorFlow)."""
    x = _plain(x)
    if axis is None:
        x, axis = x.reshape(-1), 0
    return np.argsort(x, axis=axis, kind="stable").astype(np.int32)


def sort(x, axis=-1):
    """``x`` sorted along ``axis``: ``take_along_axis(x, argsort(x))``, so each value's gradient
    goes back to where it came from."""
    x = _array(x)
    if axis is None:
        x, axis = np.reshape(x, (-1,)), 0
    return take_along_axis(x, argsort(x, axis=axis), axis=axis)


def top_k(x, k, sorted=True):  # noqa: A002 (Keras' name)
    """``(values, indices)`` of the ``k`` largest along the last axis, largest first (the lower
    index first on ties, as TensorFlow's ``top_k``); indices int32."""
    x = _array(x)
    indices = np.argsort(-_plain(x), axis=-1, kind="stable")[..., :k].astype(np.int32)
    return take_along_axis(x, indices, axis=-1), indices


def one_hot(x, num_classes, axis=-1, dtype=None, sparse=False):
    """A new axis of ``num_classes``: 1 at each index, 0 elsewhere (an index outside
    ``[0, num_classes)`` gives all zeros, as TensorFlow). Float32 unless ``dtype``."""
    if sparse:
        raise ValueError("sn.ops.one_hot: sparse=True is not supported (scratchnet has no sparse "
                         "tensors); received sparse=True")
    x = _indices(x)
    out = (x[..., None] == np.arange(num_classes)).astype(_dtype(dtype))
    return np.moveaxis(out, -1, axis)


def multi_hot(inputs, num_classes=None, axis=-1, dtype=None, sparse=False, **kwargs):
    """1 for each class that appears in a sample (the maximum of the one-hot vectors over a sample's
    indices: axis 1 of a batch, axis 0 of one sample)."""
    num_classes = kwargs.pop("num_tokens", num_classes)
    if num_classes is None:
        raise ValueError("sn.ops.multi_hot: expected num_classes (an int), received None")
    x = _indices(inputs)
    encoded = one_hot(x, num_classes, axis=axis, dtype=dtype, sparse=sparse)
    return np.max(encoded, axis=1 if x.ndim > 1 else 0)


def slice(inputs, start_indices, shape):  # noqa: A001 (Keras' name)
    """The block of ``shape`` starting at ``start_indices`` (a size of -1: to the end), as
    ``tf.slice``."""
    starts, sizes = np.asarray(start_indices).tolist(), np.asarray(shape).tolist()
    return _array(inputs)[tuple(_builtin_slice(s, None if n == -1 else s + n)
                                for s, n in zip(starts, sizes, strict=True))]


def get_item(x, key):
    """``x[key]``."""
    return _array(x)[key]


# ----------------------------------------------------------------------------- shape and building
def split(x, indices_or_sections, axis=0):
    """``x`` cut along ``axis`` into equal sections (an int, which must divide the axis) or at the
    given indices; a list of slices, so each piece's gradient goes to its place."""
    x = _array(x)
    n = x.shape[axis]
    if isinstance(indices_or_sections, int):
        if n % indices_or_sections:
            raise ValueError(f"sn.ops.split: the axis {axis} of size {n} does not divide into "
                             f"{indices_or_sections} equal sections; expected a divisor of {n}, "
                             f"received indices_or_sections={indices_or_sections}")
        step = n // indices_or_sections
        cuts = list(range(step, n, step))
    else:
        cuts = [int(i) for i in indices_or_sections]
    bounds = list(zip([0] + cuts, cuts + [n], strict=True))
    return [x[_along(axis, x.ndim, _builtin_slice(lo, hi))] for lo, hi in bounds]


def unstack(x, num=None, axis=0):
    """The slices along ``axis``, as a list (``num``, if given, must be that axis' size)."""
    x = _array(x)
    n = x.shape[axis]
    if num is not None and num != n:
        raise ValueError(f"sn.ops.unstack: expected num to be the size of axis {axis}, {n}; "
                         f"received num={num}")
    return [x[_along(axis, x.ndim, i)] for i in range(n)]


def tile(x, repeats):
    """``x`` repeated ``repeats`` times along each axis (``np.tile``); the gradient sums the copies."""
    return np.tile(_array(x), repeats)


def repeat(x, repeats, axis=None):
    """Each element repeated ``repeats`` times along ``axis`` (of the flattened ``x`` when None),
    as ``take`` of the repeated positions."""
    x = _array(x)
    if axis is None:
        x, axis = np.reshape(x, (-1,)), 0
    positions = np.repeat(np.arange(x.shape[axis]), repeats)
    return x[_along(axis, x.ndim, positions)]


def flip(x, axis=None):
    """``x`` reversed along ``axis`` (all axes when None)."""
    x = _array(x)
    axes = range(x.ndim) if axis is None else _axis_tuple(axis, x.ndim)
    index = [_builtin_slice(None)] * x.ndim
    for a in axes:
        index[a] = _builtin_slice(None, None, -1)
    return x[tuple(index)]


def roll(x, shift, axis=None):
    """``x`` shifted by ``shift`` along ``axis``, what falls off one end coming back at the other
    (of the flattened ``x`` when None): ``out[i] = x[(i - shift) % n]``."""
    x = _array(x)
    if axis is None:
        return np.reshape(roll(np.reshape(x, (-1,)), shift, axis=0), x.shape)
    shifts = shift if isinstance(shift, tuple | list) else (shift,) * len(_axis_tuple(axis, x.ndim))
    for s, a in zip(shifts, _axis_tuple(axis, x.ndim), strict=True):
        n = x.shape[a]
        x = x[_along(a, x.ndim, (np.arange(n) - s) % n)]
    return x


def pad(x, pad_width, mode="constant", constant_values=None):
    """``x`` padded by ``pad_width`` (``((before, after), ...)`` per axis, as NumPy): with
    ``constant_values`` (0 if None) or by ``reflect``/``symmetric`` copies of the edge."""
    x = _array(x)
    if constant_values is not None:
        if mode != "constant":
            raise ValueError("sn.ops.pad: constant_values is only for mode='constant'; received "
                             f"mode={mode!r} with constant_values={constant_values!r}")
        return np.pad(x, pad_width, mode="constant", constant_values=constant_values)
    return np.pad(x, pad_width, mode=mode)


def moveaxis(x, source, destination):
    """``x`` with axis ``source`` moved to ``destination`` (a transpose)."""
    x = _array(x)
    sources, destinations = _axis_tuple(source, x.ndim), _axis_tuple(destination, x.ndim)
    order = [a for a in range(x.ndim) if a not in sources]
    for d, s in sorted(zip(destinations, sources, strict=True)):
        order.insert(d, s)
    return np.transpose(x, order)


def ravel(x):
    return np.reshape(_array(x), (-1,))


def tril(x, k=0):
    """``x`` with the cells above diagonal ``k`` of the last two axes set to 0."""
    x = _array(x)
    return np.where(np.tri(x.shape[-2], x.shape[-1], k, dtype=bool), x, 0)


def triu(x, k=0):
    """``x`` with the cells below diagonal ``k`` of the last two axes set to 0."""
    x = _array(x)
    return np.where(np.tri(x.shape[-2], x.shape[-1], k - 1, dtype=bool), 0, x)


def eye(N, M=None, k=0, dtype=None):  # noqa: N803 (Keras' names)
    return np.eye(N, M, k, dtype=_dtype(dtype))


def identity(n, dtype=None):
    return np.eye(n, dtype=_dtype(dtype))


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    """``num`` evenly spaced values from ``start`` to ``stop`` (float32 unless ``dtype``)."""
    values, step = np.linspace(start, stop, num, endpoint=endpoint, retstep=True, axis=axis)
    values = values.astype(_dtype(dtype))
    return (values, step) if retstep else values


def full(shape, fill_value, dtype=None):
    """An array of ``shape`` filled with ``fill_value``, float32 unless ``dtype`` (as Keras, even
    for an int fill value)."""
    return np.full(shape, fill_value, dtype=_dtype(dtype))


def meshgrid(*x, indexing="xy"):
    """Coordinate grids, as ``np.meshgrid`` (``indexing`` ``"xy"`` or ``"ij"``)."""
    return list(np.meshgrid(*[_plain(v) for v in x], indexing=indexing))


def diag(x, k=0):
    """Of a 1-D ``x``: the matrix with ``x`` on diagonal ``k``; of a 2-D ``x``: its diagonal ``k``."""
    x = _array(x)
    if x.ndim == 2:
        rows = np.arange(np.max([0, -k]), np.min([x.shape[0], x.shape[1] - k]))
        return x[rows, rows + k]
    if x.ndim != 1:
        raise ValueError(f"sn.ops.diag: expected a 1-D or 2-D input, received shape {x.shape}")
    n = x.shape[0] + np.abs(k)
    i, j = np.indices((n, n))
    source = np.clip(i if k >= 0 else j, 0, x.shape[0] - 1)  # the element each cell would hold
    return np.where(j - i == k, x[source], 0)


def diagonal(x, offset=0, axis1=0, axis2=1):
    """Diagonal ``offset`` of the plane ``(axis1, axis2)``, as the last axis."""
    x = moveaxis(_array(x), (axis1, axis2), (-2, -1))
    rows = np.arange(np.max([0, -offset]), np.min([x.shape[-2], x.shape[-1] - offset]))
    return x[..., rows, rows + offset]


def trace(x, offset=0, axis1=0, axis2=1):
    """The sum of a diagonal (``sum(diagonal(x, offset, axis1, axis2), -1)``)."""
    return np.sum(diagonal(x, offset, axis1, axis2), axis=-1)


def select(condlist, choicelist, default=0):
    """``choicelist[i]`` where ``condlist[i]`` is the first true condition, else ``default``."""
    result = default
    for condition, choice in reversed(list(zip(condlist, choicelist, strict=True))):
        result = np.where(_plain(condition), choice, result)
    return result


def vstack(xs):
    """``xs`` concatenated along axis 0 (as Keras; unlike NumPy, 1-D arrays are joined end to end,
    not made rows)."""
    return np.concatenate([_array(x) for x in xs], axis=0)


def hstack(xs):
    """``xs`` side by side: along axis 1, or axis 0 for 1-D arrays."""
    return np.concatenate([_array(x) for x in xs], axis=0 if np.ndim(xs[0]) == 1 else 1)


def append(x1, x2, axis=None):
    """``x2`` after ``x1`` along ``axis`` (both flattened when None)."""
    if axis is None:
        return np.concatenate([ravel(x1), ravel(x2)], axis=0)
    return np.concatenate([_array(x1), _array(x2)], axis=axis)


def rot90(array, k=1, axes=(0, 1)):
    """``array`` turned by ``k`` quarter turns in the plane ``axes`` (from the first axis towards
    the second), as ``np.rot90``: a flip and a swap of the two axes."""
    x = _array(array)
    k %= 4
    a, b = _axis_tuple(axes, x.ndim)
    if k == 0:
        return x
    if k == 2:
        return flip(x, (a, b))
    order = np.arange(x.ndim)
    order[a], order[b] = b, a
    return np.transpose(flip(x, b), order) if k == 1 else flip(np.transpose(x, order), b)


# ----------------------------------------------------------------------------- math
def einsum(subscripts, *operands, **kwargs):
    """``np.einsum``: the gradient of each operand is the einsum of ``dy`` with the others."""
    return np.einsum(subscripts, *[_array(o) for o in operands], **kwargs)


def tensordot(x1, x2, axes=2):
    """The sum of products over ``axes`` (an int: the last ``axes`` of ``x1`` with the first of
    ``x2``; or two lists of axes), written as the einsum it is."""
    x1, x2 = _array(x1), _array(x2)
    if isinstance(axes, int):
        axes = (list(range(x1.ndim - axes, x1.ndim)), list(range(axes)))
    a1, a2 = ([a] if isinstance(a, int) else list(a) for a in axes)
    a1, a2 = [a % x1.ndim for a in a1], [a % x2.ndim for a in a2]
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    s1 = [next(letters) for _ in range(x1.ndim)]
    s2 = [next(letters) for _ in range(x2.ndim)]
    for i, j in zip(a1, a2, strict=True):
        s2[j] = s1[i]
    out = [c for i, c in enumerate(s1) if i not in a1] + [c for j, c in enumerate(s2) if j not in a2]
    return np.einsum(f"{''.join(s1)},{''.join(s2)}->{''.join(out)}", x1, x2)


def dot(x1, x2):
    """``np.dot``: a product for scalars, else the sum over the last axis of ``x1`` and the
    second-to-last of ``x2`` (its only axis if 1-D)."""
    x1, x2 = _array(x1), _array(x2)
    if x1.ndim == 0 or x2.ndim == 0:
        return x1 * x2
    return tensordot(x1, x2, axes=([-1], [-2 if x2.ndim > 1 else 0]))


def outer(x1, x2):
    """``out[i, j] = x1[i] * x2[j]`` of the flattened inputs."""
    return np.reshape(_array(x1), (-1, 1)) * np.reshape(_array(x2), (1, -1))


def inner(x1, x2):
    """The sum of products over the last axes (a product if either is a scalar)."""
    x1, x2 = _array(x1), _array(x2)
    if x1.ndim == 0 or x2.ndim == 0:
        return x1 * x2
    return tensordot(x1, x2, axes=([-1], [-1]))


def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002 (Keras' name)
    """``keras.ops.norm``: of a vector (``axis`` an int, or None on a 1-D ``x``) ``ord`` None/2 the
    Euclidean norm, ``inf``/``-inf`` the largest/smallest ``|x|``, 0 the count of non-zeros, else
    ``sum(|x|^ord)^(1/ord)``; of a matrix (``axis`` two axes) ``"fro"``/None the Frobenius norm,
    1/-1 the largest/smallest column sum of ``|x|``, ``inf``/``-inf`` the row sums, 2/-2/``"nuc"``
    from the singular values (no gradient). ``axis=None`` with ``ord=None``: all cells."""
    x = _floating(x)
    if axis is None:
        if ord is None:
            out = np.sqrt(np.sum(x * x))
            return np.reshape(out, (1,) * x.ndim) if keepdims else out
        axis = tuple(range(x.ndim))
    axes = _axis_tuple(axis, x.ndim)
    if len(axes) == 1:
        if ord is None or ord == 2:
            out = np.sqrt(np.sum(x * x, axis=axes, keepdims=keepdims))
        elif ord == np.inf:
            out = np.max(np.abs(x), axis=axes, keepdims=keepdims)
        elif ord == -np.inf:
            out = np.min(np.abs(x), axis=axes, keepdims=keepdims)
        elif ord == 0:
            out = np.sum(_plain(x) != 0, axis=axes, keepdims=keepdims).astype(x.dtype)
        else:
            out = np.power(np.sum(np.power(np.abs(x), ord), axis=axes, keepdims=keepdims), 1.0 / ord)
        return out
    if len(axes) != 2:
        raise ValueError(f"sn.ops.norm: expected axis to be an int or two axes, received axis={axis}")
    rows, cols = axes
    if ord in (None, "fro"):
        return np.sqrt(np.sum(x * x, axis=axes, keepdims=keepdims))
    if ord in (1, -1, np.inf, -np.inf):
        sums = np.sum(np.abs(x), axis=rows if ord in (1, -1) else cols, keepdims=True)
        out = (np.max if ord in (1, np.inf) else np.min)(sums, axis=axes, keepdims=True)
        return out if keepdims else np.squeeze(out, axis=axes)
    if ord in (2, -2, "nuc"):
        return np.linalg.norm(_plain(x), ord=ord, axis=axes, keepdims=keepdims).astype(x.dtype)
    raise ValueError(f"sn.ops.norm: expected ord None, 'fro', 'nuc', an int or inf for a matrix norm, "
                     f"received ord={ord!r}")


def rsqrt(x):
    """``1 / sqrt(x)``."""
    return np.reciprocal(np.sqrt(_floating(x)))


def normalize(x, axis=-1, order=2, epsilon=None):
    """``x / max(norm(x), epsilon)`` along ``axis``; for ``order=2`` Keras' form
    ``x * min(rsqrt(sum(x^2)), 1 / epsilon)`` (epsilon ``keras.config.epsilon()``, 1e-7)."""
    if not isinstance(order, int) or order < 1:
        raise ValueError(f"Argument `order` must be an int >= 1. Received: order={order}")
    x = _floating(x)
    epsilon = _EPSILON if epsilon is None else epsilon
    if order == 2:
        return x * np.minimum(rsqrt(np.sum(x * x, axis=axis, keepdims=True)), 1.0 / epsilon)
    return x / np.maximum(norm(x, ord=order, axis=axis, keepdims=True), epsilon)


def round(x, decimals=0):  # noqa: A001 (Keras' name)
    """To ``decimals`` places, halves to even (as TensorFlow); no gradient."""
    return np.round(_plain(x), decimals)


def mod(x1, x2):
    """``x1 - floor(x1 / x2) * x2`` (the sign of ``x2``, as Python's ``%``)."""
    return np.mod(_array(x1), _array(x2))


def floor_divide(x1, x2):
    """``floor(x1 / x2)``; no gradient."""
    return np.floor_divide(_array(x1), _array(x2))


def arctan2(x1, x2):
    """The angle of the point ``(x2, x1)``, in ``(-pi, pi]``."""
    return np.arctan2(_floating(x1), _floating(x2))


def sinh(x):
    return np.sinh(_floating(x))


def cosh(x):
    return np.cosh(_floating(x))


def tan(x):
    return np.tan(_floating(x))


def arcsin(x):
    return np.arcsin(_floating(x))


def arccos(x):
    return np.arccos(_floating(x))


def arctan(x):
    return np.arctan(_floating(x))


def erf(x):
    """The error function ``2/sqrt(pi) * integral_0^x exp(-t^2) dt`` (``scipy.special.erf``)."""
    import scipy.special

    return scipy.special.erf(_floating(x))


def log2(x):
    return np.log2(_floating(x))


def log10(x):
    return np.log10(_floating(x))


def exp2(x):
    return np.exp2(_floating(x))


def logaddexp(x1, x2):
    """``log(exp(x1) + exp(x2))`` without overflow."""
    return np.logaddexp(_floating(x1), _floating(x2))


def hypot(x1, x2):
    """``sqrt(x1^2 + x2^2)``."""
    return np.hypot(_floating(x1), _floating(x2))


def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    """``x`` with NaN replaced by ``nan``, +inf by ``posinf`` and -inf by ``neginf`` (the dtype's
    largest and smallest values when None); the gradient passes where ``x`` was finite."""
    x = _array(x)
    if x.dtype.kind not in "fc":
        return x
    info = np.finfo(x.dtype)
    value = _plain(x)
    x = np.where(np.isnan(value), nan, x)
    x = np.where(np.isposinf(value), info.max if posinf is None else posinf, x)
    return np.where(np.isneginf(value), info.min if neginf is None else neginf, x)


def divide_no_nan(x1, x2):
    """``x1 / x2``, and 0 where ``x2`` is 0 (no NaN or inf, and no gradient there)."""
    x1, x2 = _floating(x1), _floating(x2)
    zero = _plain(x2) == 0
    return np.where(zero, 0, x1 / np.where(zero, 1, x2))


def isclose(x1, x2, rtol=1e-5, atol=1e-8, equal_nan=False):
    return np.isclose(_plain(x1), _plain(x2), rtol=rtol, atol=atol, equal_nan=equal_nan)


def allclose(x1, x2, rtol=1e-5, atol=1e-8, equal_nan=False):
    return bool(np.allclose(_plain(x1), _plain(x2), rtol=rtol, atol=atol, equal_nan=equal_nan))


# ----------------------------------------------------------------------------- nn
_EPSILON = 1e-7  # keras.config.epsilon(): the normalizations' default epsilon, the losses' clip
_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772, 1.0507009873554805
_LARGE_NEGATIVE = -0.7 * float(np.finfo(np.float32).max)  # what Keras puts at masked attention logits


def gelu(x, approximate=True):
    """``x * P(X <= x)`` for a standard normal X: with ``approximate=True`` (Keras' default)
    ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``, else ``0.5 x (1 + erf(x / sqrt(2)))``."""
    x = _floating(x)
    if approximate:
        return 0.5 * x * (1.0 + np.tanh(_math.sqrt(2.0 / _math.pi) * (x + 0.044715 * x * x * x)))
    return 0.5 * x * (1.0 + erf(x / _math.sqrt(2.0)))


def silu(x):
    """``x * sigmoid(x)``."""
    return x * sigmoid(x)


swish = silu


def selu(x):
    """``scale * (x if x > 0 else alpha * (exp(x) - 1))``, Keras' alpha and scale."""
    x = _floating(x)
    return _SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * np.expm1(np.minimum(x, 0.0)))


def elu(x, alpha=1.0):
    """``x if x > 0 else alpha * (exp(x) - 1)`` (the unused branch kept finite, so is its gradient)."""
    x = _floating(x)
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def leaky_relu(x, negative_slope=0.2):
    """``x if x > 0 else negative_slope * x``."""
    x = _floating(x)
    return np.where(x > 0, x, negative_slope * x)


def relu6(x):
    """``min(max(x, 0), 6)``."""
    return np.clip(_floating(x), 0.0, 6.0)


def softplus(x):
    """``log(exp(x) + 1)``, as ``logaddexp(x, 0)`` (no overflow); its gradient is ``sigmoid(x)``."""
    return np.logaddexp(_floating(x), 0.0)


def softsign(x):
    """``x / (|x| + 1)``."""
    x = _floating(x)
    return x / (np.abs(x) + 1.0)


def hard_sigmoid(x):
    """``relu6(x + 3) / 6``: 0 below -3, 1 above 3, a line between."""
    return relu6(_floating(x) + 3.0) / 6.0


def hard_silu(x):
    """``x * hard_sigmoid(x)``."""
    return x * hard_sigmoid(x)


hard_swish = hard_silu


def log_softmax(x, axis=-1):
    """``x - logsumexp(x)`` along ``axis`` (with the maximum subtracted first)."""
    x = _floating(x)
    shifted = x - np.max(_plain(x), axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def log_sigmoid(x):
    """``log(sigmoid(x)) = -softplus(-x)``."""
    return -softplus(-_floating(x))


def moments(x, axes, keepdims=False, synchronized=False):
    """``(mean, variance)`` over ``axes``, as ``tf.nn.moments``: the variance is the mean of
    ``(x - mean)^2``."""
    x = _floating(x)
    axes = _axis_tuple(axes, x.ndim)
    mean_ = np.mean(x, axis=axes, keepdims=True)
    centred = x - mean_
    variance = np.mean(centred * centred, axis=axes, keepdims=keepdims)
    return (mean_ if keepdims else np.squeeze(mean_, axis=axes)), variance


def batch_normalization(x, mean, variance, axis, offset=None, scale=None, epsilon=1e-3):
    """``(x - mean) * scale / sqrt(variance + epsilon) + offset``, the statistics given along
    ``axis``; as ``tf.nn.batch_normalization``: ``x * inv + (offset - mean * inv)`` with
    ``inv = scale * rsqrt(variance + epsilon)``."""
    x = _floating(x)
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]

    def along(v):
        return None if v is None else np.reshape(_array(v), shape)
    mean, variance, offset, scale = along(mean), along(variance), along(offset), along(scale)
    inv = rsqrt(variance + epsilon)
    if scale is not None:
        inv = inv * scale
    return x * inv + ((offset if offset is not None else 0.0) - mean * inv)


def layer_normalization(x, gamma=None, beta=None, axis=-1, epsilon=None, **kwargs):
    """Each sample normalized over ``axis``: ``(x - mean) * rsqrt(var + epsilon) * gamma + beta``,
    computed as Keras: ``x * inv + (beta - mean * inv)`` with ``inv = rsqrt(var + epsilon) * gamma``;
    epsilon ``keras._EPSILON`` (1e-7) when None."""
    if kwargs.get("rms_scaling"):
        raise ValueError("sn.ops.layer_normalization: rms_scaling=True (deprecated in Keras) is not "
                         "supported; use sn.ops.rms_normalization")
    x = _floating(x)
    epsilon = _EPSILON if epsilon is None else epsilon
    axes = sorted(_axis_tuple(axis, x.ndim))
    shape = [x.shape[d] if d in axes else 1 for d in range(x.ndim)]

    def along(v):
        return v if v is None or axes == [x.ndim - 1] else np.reshape(_array(v), shape)
    gamma, beta = along(gamma), along(beta)
    mean_, variance = moments(x, axes=axes, keepdims=True)
    inv = rsqrt(variance + epsilon)
    if gamma is not None:
        inv = inv * gamma
    res = -mean_ * inv
    if beta is not None:
        res = res + beta
    return x * inv + res


def rms_normalization(x, scale=None, axis=-1, epsilon=None):
    """``x * rsqrt(mean(x^2) + epsilon) * scale`` along ``axis`` (epsilon 1e-7 when None)."""
    x = _floating(x)
    epsilon = _EPSILON if epsilon is None else epsilon
    axes = tuple(sorted(_axis_tuple(axis, x.ndim)))
    out = x * rsqrt(np.mean(x * x, axis=axes, keepdims=True) + epsilon)
    return out if scale is None else out * scale


def _same_shape(name, target, output):
    if np.ndim(target) != np.ndim(output) or _builtin_any(
            a != b for a, b in zip(np.shape(target), np.shape(output), strict=True)):
        raise ValueError(f"Arguments `target` and `output` must have the same shape. Received: "
                         f"target.shape={np.shape(target)}, output.shape={np.shape(output)} ({name})")


def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """``-sum(target * log(p))`` along ``axis``: from logits ``p = softmax(output)`` (as
    ``log_softmax``); else ``p = output / sum(output)`` clipped to ``[eps, 1 - eps]`` (1e-7)."""
    target, output = _floating(target), _floating(output)
    _same_shape("categorical_crossentropy", target, output)
    if from_logits:
        return -np.sum(target * log_softmax(output, axis=axis), axis=axis)
    p = np.clip(output / np.sum(output, axis=axis, keepdims=True), _EPSILON, 1.0 - _EPSILON)
    return -np.sum(target * np.log(p), axis=axis)


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """``-log(p[target])`` along ``axis``: from logits ``p = softmax(output)``; else the output
    clipped to ``[eps, 1 - eps]`` and its log taken as the logits of a softmax (as Keras on
    TensorFlow)."""
    output = _floating(output)
    target = _indices(target)
    if target.ndim == output.ndim and target.shape[-1] == 1:
        target = np.squeeze(target, axis=-1)
    logits = output if from_logits else np.log(np.clip(output, _EPSILON, 1.0 - _EPSILON))
    log_p = moveaxis(log_softmax(logits, axis=axis), axis, -1)
    return -take_along_axis(log_p, target[..., None], axis=-1)[..., 0]


def binary_crossentropy(target, output, from_logits=False):
    """``-(t log p + (1 - t) log(1 - p))`` per cell: from logits, TensorFlow's stable
    ``max(x, 0) - x t + log(1 + exp(-|x|))``; else ``p`` clipped to ``[eps, 1 - eps]``."""
    target, output = _floating(target), _floating(output)
    _same_shape("binary_crossentropy", target, output)
    if from_logits:
        return np.maximum(output, 0.0) - output * target + np.log1p(np.exp(-np.abs(output)))
    p = np.clip(output, _EPSILON, 1.0 - _EPSILON)
    return -(target * np.log(p) + (1.0 - target) * np.log(1.0 - p))


def dot_product_attention(query, key, value, bias=None, mask=None, scale=None, is_causal=False,
                          flash_attention=None, attn_logits_soft_cap=None):
    """``softmax(Q K^T * scale + bias) V`` per head, shapes ``(B, T, N, H)`` (query),
    ``(B, S, N, H)`` (key, value); ``scale`` ``1/sqrt(H)`` when None; where ``mask`` is False (or
    above the diagonal with ``is_causal``) the logit is Keras' large negative, -0.7 x float32 max."""
    if flash_attention:
        raise ValueError("sn.ops.dot_product_attention: flash_attention=True needs a GPU kernel; "
                         "scratchnet computes the plain formula (flash_attention=None or False)")
    if attn_logits_soft_cap is not None:
        raise ValueError("sn.ops.dot_product_attention: attn_logits_soft_cap is only for flash "
                         f"attention in Keras; received {attn_logits_soft_cap!r}")
    query, key, value = _floating(query), _floating(key), _floating(value)
    if scale is None:
        scale = 1.0 / np.sqrt(query.shape[-1]).astype(np.float32)
    logits = np.einsum("BTNH,BSNH->BNTS", query, key) * scale
    if bias is not None:
        logits = logits + _array(bias).astype(logits.dtype)
    keep = np.ones(logits.shape, dtype=bool)
    if mask is not None:
        keep = keep & _plain(mask).astype(bool)
    if is_causal:
        keep = keep & np.tri(logits.shape[-2], logits.shape[-1], dtype=bool)
    if mask is not None or is_causal:
        logits = np.where(keep, logits, _LARGE_NEGATIVE)
    return np.einsum("BNTS,BSNH->BTNH", softmax(logits, axis=-1), value)


# ----------------------------------------------------------------------------- more, less common
def _recorded(value, *pairs):
    """``value``, recorded on the tape when an input of ``pairs`` is traced: each pair is
    ``(input, rule)``, ``rule(dy)`` that input's gradient (for ops NumPy has no traceable form of)."""
    traced = [(x, rule) for x, rule in pairs if isinstance(x, Traced)]
    return traced[0][0].tape.record(value, traced) if traced else value


def stop_gradient(variable):
    """``variable`` as a constant: no gradient flows back through it."""
    return _plain(variable)


def average(x, axis=None, weights=None):
    """The mean along ``axis``, or ``sum(x * w) / sum(w)``; 1-D ``weights`` run along ``axis``."""
    x = _floating(x)
    if weights is None:
        return np.mean(x, axis=axis)
    weights = _floating(weights)
    if axis is not None and np.ndim(weights) != x.ndim:
        shape = [1] * x.ndim
        shape[axis] = -1
        weights = np.reshape(weights, shape)
    return np.sum(x * weights, axis=axis) / np.sum(weights * np.ones(x.shape, x.dtype), axis=axis)


def logical_xor(x1, x2):
    return np.logical_xor(_plain(x1), _plain(x2))


def trunc(x):
    """Towards zero; no gradient."""
    return np.trunc(_plain(x))


def isposinf(x):
    return np.isposinf(_plain(x))


def isneginf(x):
    return np.isneginf(_plain(x))


def arcsinh(x):
    return np.arcsinh(_floating(x))


def arccosh(x):
    return np.arccosh(_floating(x))


def arctanh(x):
    return np.arctanh(_floating(x))


def cbrt(x):
    return np.cbrt(_floating(x))


def deg2rad(x):
    return _floating(x) * (_math.pi / 180.0)


def rad2deg(x):
    return _floating(x) * (180.0 / _math.pi)


def logaddexp2(x1, x2):
    """``log2(2^x1 + 2^x2)``, as ``logaddexp(x1 ln 2, x2 ln 2) / ln 2``."""
    ln2 = _math.log(2.0)
    return np.logaddexp(_floating(x1) * ln2, _floating(x2) * ln2) / ln2


def erfc(x):
    """``1 - erf(x)``."""
    return 1.0 - erf(x)


def erfinv(x):
    """The inverse of ``erf`` (``scipy.special.erfinv``); gradient ``sqrt(pi) / 2 * exp(y^2)``."""
    import scipy.special

    x = _floating(x)
    y = scipy.special.erfinv(_plain(x))
    return _recorded(y, (x, lambda dy: dy * (_math.sqrt(_math.pi) / 2) * np.exp(y * y)))


def empty(shape, dtype=None):
    return np.zeros(shape, dtype=_dtype(dtype))


def empty_like(x, dtype=None):
    return np.zeros_like(_plain(x), dtype=dtype)


def copy(x):
    return np.array(x) if not isinstance(x, Traced) else x


def array(x, dtype=None):
    """A new array of ``x`` (Python floats float32, ints int32, as Keras)."""
    x = x.value if isinstance(x, Traced) else x
    return np.array(x, dtype=dtype) if dtype is not None else np.array(_array(x))


def tri(N, M=None, k=0, dtype=None):  # noqa: N803 (Keras' names)
    return np.tri(N, M, k, dtype=_dtype(dtype))


def fliplr(x):
    return flip(x, axis=1)


def flipud(x):
    return flip(x, axis=0)


def diff(a, n=1, axis=-1):
    """``a[1:] - a[:-1]`` along ``axis``, ``n`` times."""
    a = _array(a)
    for _ in range(n):
        size = a.shape[axis]
        later, earlier = _builtin_slice(1, size), _builtin_slice(0, size - 1)
        a = a[_along(axis, a.ndim, later)] - a[_along(axis, a.ndim, earlier)]
    return a


def nonzero(x):
    """The indices of the non-zero cells, one int32 array per axis."""
    return tuple(i.astype(np.int32) for i in np.nonzero(_plain(x)))


def searchsorted(sorted_sequence, values, side="left"):
    return np.searchsorted(_plain(sorted_sequence), _plain(values), side=side).astype(np.int32)


def digitize(x, bins):
    return np.digitize(_plain(x), _plain(bins)).astype(np.int32)


def in_top_k(targets, predictions, k):
    """For each row, whether the target's prediction is among the ``k`` largest: fewer than ``k``
    predictions are strictly larger (ties at the boundary count as in, as TensorFlow)."""
    predictions, targets = _plain(predictions), _indices(targets)
    target_values = np.take_along_axis(predictions, targets[:, None], axis=-1)
    return np.sum(predictions > target_values, axis=-1) < k


def cond(pred, true_fn, false_fn):
    """``true_fn()`` if ``pred`` else ``false_fn()`` (scratchnet runs eagerly)."""
    return true_fn() if bool(_plain(pred)) else false_fn()


def dtype(x) -> str:
    """The dtype's name (``"float32"``)."""
    return np.dtype(getattr(x, "dtype", np.asarray(x).dtype)).name


def celu(x, alpha=1.0):
    """``max(x, 0) + alpha * (exp(min(x, 0) / alpha) - 1)``."""
    x = _floating(x)
    return np.maximum(x, 0.0) + alpha * np.expm1(np.minimum(x, 0.0) / alpha)


def glu(x, axis=-1):
    """``a * sigmoid(b)``, ``a`` and ``b`` the two halves of ``x`` along ``axis``."""
    x = _floating(x)
    if x.shape[axis] % 2:
        raise ValueError(f"axis size must be divisible by 2. Received: x.shape={x.shape} with axis={axis}")
    a, b = split(x, 2, axis=axis)
    return a * sigmoid(b)


def hard_tanh(x):
    """``clip(x, -1, 1)``."""
    return np.clip(_floating(x), -1.0, 1.0)


def hard_shrink(x, threshold=0.5):
    """``x`` where ``|x| > threshold``, else 0."""
    x = _floating(x)
    return np.where(np.abs(_plain(x)) > threshold, x, 0.0)


def soft_shrink(x, threshold=0.5):
    """``x`` moved ``threshold`` towards 0, and 0 within ``threshold`` of it."""
    x = _floating(x)
    value = _plain(x)
    return np.where(value > threshold, x - threshold, np.where(value < -threshold, x + threshold, 0.0))


def tanh_shrink(x):
    """``x - tanh(x)``."""
    x = _floating(x)
    return x - np.tanh(x)


def squareplus(x, b=4):
    """``(x + sqrt(x^2 + b)) / 2``."""
    x = _floating(x)
    return (x + np.sqrt(x * x + b)) / 2


def sparse_plus(x):
    """0 below -1, ``x`` above 1, ``(x + 1)^2 / 4`` between."""
    x = _floating(x)
    value = _plain(x)
    return np.where(value <= -1, 0.0, np.where(value < 1, 0.25 * (x + 1.0) * (x + 1.0), x))


def sparse_sigmoid(x):
    """0 below -1, 1 above 1, ``(x + 1) / 2`` between."""
    x = _floating(x)
    value = _plain(x)
    return np.where(value <= -1, 0.0, np.where(value >= 1, 1.0, 0.5 * (x + 1.0)))


def threshold(x, threshold, default_value):
    """``x`` where ``x > threshold``, else ``default_value``."""
    x = _floating(x)
    return np.where(_plain(x) > threshold, x, default_value)


def scatter(indices, values, shape):
    """Zeros of ``shape`` with ``values`` added at ``indices`` (``(M, k)``: each row indexes the
    first ``k`` axes; repeated indices add up, as ``tf.scatter_nd``). Gradient: ``dy`` at the indices."""
    values = _array(values)
    where = tuple(_indices(indices).T)
    out = np.zeros(shape, dtype=values.dtype)
    np.add.at(out, where, _plain(values))
    return _recorded(out, (values, lambda dy: dy[where]))


def scatter_update(inputs, indices, updates, reduction=None):
    """``inputs`` with the cells (or slices) at ``indices`` replaced by ``updates``
    (``reduction="add"``: added to them). Gradient: ``updates`` get ``dy`` there, ``inputs`` the
    rest (all of it with ``"add"``)."""
    inputs, updates = _array(inputs), _array(updates)
    where = tuple(_indices(indices).T)
    out = np.array(_plain(inputs))
    if reduction is None:
        out[where] = _plain(updates)
    elif reduction == "add":
        np.add.at(out, where, _plain(updates))
    else:
        raise ValueError(f"sn.ops.scatter_update: expected reduction None or 'add', received {reduction!r}")
    kept = np.ones(out.shape, dtype=out.dtype)
    if reduction is None:
        kept[where] = 0
    return _recorded(out, (inputs, lambda dy: dy * kept), (updates, lambda dy: dy[where]))


def slice_update(inputs, start_indices, updates):
    """``inputs`` with the block at ``start_indices`` replaced by ``updates``."""
    inputs, updates = _array(inputs), _array(updates)
    block = tuple(_builtin_slice(int(s), int(s) + n) for s, n in zip(_plain(start_indices), np.shape(updates),
                                                                     strict=False))
    out = np.array(_plain(inputs))
    out[block] = _plain(updates)
    kept = np.ones(out.shape, dtype=out.dtype)
    kept[block] = 0
    return _recorded(out, (inputs, lambda dy: dy * kept), (updates, lambda dy: dy[block]))


def segment_sum(data, segment_ids, num_segments=None, sorted=False):  # noqa: A002 (Keras' name)
    """``out[s] = sum of data[i] with segment_ids[i] == s`` (``num_segments``: ``max(ids) + 1``
    when None). Gradient: ``dy[segment_ids]``."""
    data, ids = _array(data), _indices(segment_ids)
    n = int(ids.max()) + 1 if num_segments is None else int(num_segments)
    out = np.zeros((n,) + data.shape[1:], dtype=data.dtype)
    np.add.at(out, ids, _plain(data))
    return _recorded(out, (data, lambda dy: dy[ids]))


# ----------------------------------------------------------------------------- conv and pool
def _tuple(value, d: int, what: str) -> tuple:
    values = (value,) * d if isinstance(value, int) else tuple(value)
    if len(values) != d:
        raise ValueError(f"sn.ops: expected {what} to be an int or {d} ints for {d} spatial axes, "
                         f"received {what}={value!r}")
    return values


def _windows(x, window, strides, dilation, padding: str, pad_value=0.0):
    """The sliding windows of ``x`` (``(N, S..., C)``): shape ``(N, O..., K..., C)``, window
    ``(o..., k...)`` holding ``x[o * stride + k * dilation]`` (of ``x`` padded as TensorFlow pads:
    ``"same"`` gives ``O = ceil(S / stride)``, the extra cell after). Fancy indexing, so each
    cell's gradient is the sum over the windows it is in."""
    if padding not in ("valid", "same"):
        raise ValueError(f"sn.ops: expected padding 'valid' or 'same', received padding={padding!r}")
    d = x.ndim - 2
    sizes = x.shape[1:-1]
    spans = [(k - 1) * r + 1 for k, r in zip(window, dilation, strict=True)]
    if padding == "same":
        outs = [-(-n // t) for n, t in zip(sizes, strides, strict=True)]
        totals = [np.max([(o - 1) * t + span - n, 0])
                  for o, t, span, n in zip(outs, strides, spans, sizes, strict=True)]
        x = np.pad(x, [(0, 0)] + [(p // 2, p - p // 2) for p in totals] + [(0, 0)], constant_values=pad_value)
    else:
        outs = [(n - span) // t + 1 for n, span, t in zip(sizes, spans, strides, strict=True)]
    index = []
    for i, (o, k, t, r) in enumerate(zip(outs, window, strides, dilation, strict=True)):
        shape = [1] * (2 * d)
        shape[i], shape[d + i] = o, k
        index.append((np.arange(o)[:, None] * t + np.arange(k)[None, :] * r).reshape(shape))
    return x[(_builtin_slice(None), *index)]


def _channels_last(x, data_format):
    return x if data_format in (None, "channels_last") else moveaxis(x, 1, -1)


def _channels_back(y, data_format):
    return y if data_format in (None, "channels_last") else moveaxis(y, -1, 1)


def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """``keras.ops.conv``: ``out[n, o, f] = sum_{k, c} x[n, o * stride + k * dilation, c] *
    kernel[k, c, f]`` over 1, 2 or 3 spatial axes; kernel ``(K..., C_in, C_out)``; channels last
    unless ``data_format="channels_first"``. The windows, then a tensordot with the kernel."""
    x = _channels_last(_floating(inputs), data_format)
    kernel = _floating(kernel)
    d = x.ndim - 2
    strides, dilation_rate = _tuple(strides, d, "strides"), _tuple(dilation_rate, d, "dilation_rate")
    windows = _windows(x, kernel.shape[:d], strides, dilation_rate, padding)
    return _channels_back(tensordot(windows, kernel, axes=d + 1), data_format)


def depthwise_conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """Each input channel convolved with its own filters: kernel ``(K..., C, M)``, output
    ``C * M`` channels (channel ``c * M + m``)."""
    x = _channels_last(_floating(inputs), data_format)
    kernel = _floating(kernel)
    d = x.ndim - 2
    strides, dilation_rate = _tuple(strides, d, "strides"), _tuple(dilation_rate, d, "dilation_rate")
    windows = _windows(x, kernel.shape[:d], strides, dilation_rate, padding)
    o, k = "abc"[:d], "ijk"[:d]
    out = np.einsum(f"n{o}{k}c,{k}cm->n{o}cm", windows, kernel)
    return _channels_back(np.reshape(out, out.shape[:-2] + (-1,)), data_format)


def max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """The maximum of each window (``strides`` ``pool_size`` when None; ``"same"`` pads with -inf).
    The gradient goes to the window's maximum (shared if tied; TensorFlow picks one)."""
    x = _channels_last(_floating(inputs), data_format)
    d = x.ndim - 2
    window = _tuple(pool_size, d, "pool_size")
    strides = window if strides is None else _tuple(strides, d, "strides")
    windows = _windows(x, window, strides, (1,) * d, padding, pad_value=-np.inf)
    return _channels_back(np.max(windows, axis=tuple(range(d + 1, 2 * d + 1))), data_format)


def average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """The mean of each window; with ``"same"`` padding over the cells inside ``x`` only (as
    TensorFlow: the padding is not counted)."""
    x = _channels_last(_floating(inputs), data_format)
    d = x.ndim - 2
    window = _tuple(pool_size, d, "pool_size")
    strides = window if strides is None else _tuple(strides, d, "strides")
    axes = tuple(range(d + 1, 2 * d + 1))
    total = np.sum(_windows(x, window, strides, (1,) * d, padding), axis=axes)
    inside = np.ones((1,) + x.shape[1:-1] + (1,), x.dtype)
    count = np.sum(_windows(inside, window, strides, (1,) * d, padding), axis=axes)
    return _channels_back(total / count, data_format)


# ----------------------------------------------------------------------------- control flow, linalg, more
# Larger groups live in their own modules, each name copied here so that sn.ops has them all:
# loops, custom gradients and segment reductions in scratchnet/ops_control.py; linear algebra
# (keras.ops.linalg) in scratchnet/ops_linalg.py.
def _import_from(module_name: str, names: str) -> None:
    import importlib

    module = importlib.import_module(module_name)
    for n in names.split():
        globals()[n] = getattr(module, n)


_import_from("scratchnet.ops_control", """
    associative_scan custom_gradient fori_loop is_tensor map saturate_cast scan segment_max segment_min
    segment_prod switch vectorize vectorized_map while_loop""")
_import_from("scratchnet.ops_linalg", """
    cholesky cholesky_inverse det eig eigh inv jvp logdet lstsq lu_factor matrix_rank pinv qr slogdet
    solve solve_triangular svd""")
# statistics, elementwise, bitwise, complex parts and shapes of keras.ops.numpy
_NUMPY_MORE = """
    angle argpartition array_split bincount bitwise_and bitwise_invert bitwise_left_shift bitwise_not
    bitwise_or bitwise_right_shift bitwise_xor conj conjugate corrcoef correlate cross diagflat dsplit
    dstack fabs fmax fmin fmod gcd geomspace heaviside histogram hsplit i0 imag isin isreal kron lcm
    ldexp left_shift logspace median nanargmax nanargmin nancumprod nancumsum nanmax nanmean nanmedian
    nanmin nanpercentile nanprod nanquantile nanstd nansum nanvar nextafter percentile ptp quantile
    real right_shift signbit sinc trapezoid unique unravel_index vander vdot view vsplit"""
_import_from("scratchnet.ops_numpy_more", _NUMPY_MORE + " cdist polar rearrange view_as_complex view_as_real")
# Fourier transforms, STFT and windows (scratchnet/ops_signal.py)
_WINDOWS = " bartlett blackman hamming hanning kaiser"
_import_from("scratchnet.ops_signal", "extract_sequences fft fft2 ifft2 irfft istft rfft stft" + _WINDOWS)
# transposed and separable convolutions, adaptive pooling, psnr, fold/unfold (scratchnet/ops_nn_more.py)
_NN_MORE = " adaptive_average_pool adaptive_max_pool conv_transpose fold psnr separable_conv unfold"
_import_from("scratchnet.ops_nn_more", _NN_MORE)


# ----------------------------------------------------------------------------- in a traced call()
def _on_keras_tensors(function, name: str, outputs=None):
    """``function`` that, given KerasTensors (inside a subclassed model's or composite layer's
    traced ``call``, scratchnet.subclassing), records a layer instead of computing: for one
    tensor a ``Lambda`` running ``function`` (its backward from the gradient tape); for several,
    ``Add``, ``Subtract``, ``Multiply`` or ``Concatenate`` where that is the op, else an
    :class:`~scratchnet.layers.op_layer.OpLayer` (the function on the list, the tape's backward).
    ``outputs(args, kwargs)``: how many results a function of several returns (``split``,
    ``top_k``): each becomes its own layer. On arrays it is ``function``."""

    def wrapper(*args, **kwargs):
        tensors = _keras_tensors(args) + _keras_tensors(list(kwargs.values()))
        if not tensors:
            return function(*args, **kwargs)
        if (traced_batch_size() or 0) > 1 and name in _ELEMENTWISE:  # arrays made for the traced
            rank = _builtins.max(t.ndim for t in tensors)  # batch size, of the tensors' rank: batches
            args = _batches_as_tensors(args, rank)
            kwargs = {k: _batches_as_tensors(v, rank) for k, v in kwargs.items()}
            tensors = _keras_tensors(args) + _keras_tensors(list(kwargs.values()))
        # a BatchlessTensor stands for the batched tensors it is computed from
        batchless = any(isinstance(t, BatchlessTensor) for t in tensors)
        tensors = [b for t in tensors for b in (t.bases if isinstance(t, BatchlessTensor) else [t])]
        distinct = list({id(t): t for t in tensors}.values())
        if outputs is None and len(distinct) > 1 and not batchless \
                and name in ("add", "subtract", "multiply", "concatenate"):
            return _several(name, args, kwargs, distinct)

        def result(i):
            def apply(values):
                mapping = dict(zip([id(t) for t in distinct], values, strict=True))
                with on_arrays():  # (its shape probes run inside the trace)
                    out = function(*_substitute(args, mapping),
                                   **{k: _substitute(v, mapping) for k, v in kwargs.items()})
                return out if i is None else out[i]
            if outputs is None and name not in _IDENTITY_PROBE:
                shape = _batchless_shape(apply, distinct)
                if shape is not None:  # no batch axis in the result: a value for the whole batch
                    return BatchlessTensor(shape[0], shape[1], distinct, apply, name)
            if len(distinct) == 1:
                from scratchnet.layers.lambda_layer import Lambda

                shape = _identity_probe_shape(apply, distinct[0]) if name in _IDENTITY_PROBE else None
                return Lambda(lambda value: apply([value]), output_shape=shape,
                              name=_unique(f"{name}_lambda"))(distinct[0])
            from scratchnet.layers.op_layer import OpLayer

            layer = OpLayer(apply, name=_unique(name))
            layer._auto_name = True  # "multiply" beside a Multiply layer's: renamed as a default name
            return layer(distinct)

        if outputs is None:
            return result(None)
        return [result(i) for i in range(outputs(args, kwargs))]

    wrapper.__name__ = wrapper.__qualname__ = name
    wrapper.__doc__ = function.__doc__
    wrapper.__wrapped__ = function
    return wrapper


_NAMES_USED: dict[str, int] = {}
# square-matrix ops that a Lambda's zero probe would make fail (a singular matrix): their output
# shape is read from a batch of identity matrices instead
_IDENTITY_PROBE = {"inv", "det", "logdet", "slogdet", "solve", "solve_triangular", "cholesky",
                   "cholesky_inverse", "eigh", "lu_factor"}


def _identity_probe_shape(apply, tensor) -> tuple:
    shape = (2,) + tuple(d or 1 for d in tensor.shape[1:])
    probe = np.broadcast_to(np.eye(shape[-2], shape[-1], dtype=np.float32), shape).copy()
    return tuple(np.shape(apply([probe]))[1:])


def _batchless_shape(apply, tensors) -> tuple | None:
    """``(shape, dtype)`` of ``apply``'s result if it has no batch axis (its first axis does not
    follow the batch: ``ops.tensordot(u, v, 2)``, ``ops.sum(x)``), else None. Read from zero
    batches of 2 and 3 samples; an op that fails on them is left to its layer to report."""
    results = []
    for batch in (2, 3):
        probes = [np.zeros((batch,) + tuple(d or 1 for d in t.shape[1:]), dtype=t.dtype
                           if t.dtype not in ("string",) else object) for t in tensors]
        try:
            with np.errstate(all="ignore"):
                results.append(np.asarray(apply(probes)))
        except Exception:  # noqa: BLE001  (the layer's own probe raises the error worth reading)
            return None
    two, three = results
    if two.ndim >= 1 and three.ndim == two.ndim and (two.shape[0], three.shape[0]) == (2, 3):
        return None  # the batch axis first, as a layer's output
    shape = tuple(a if a == b else None for a, b in zip(two.shape, three.shape, strict=False)) \
        if two.ndim == three.ndim else tuple(two.shape)
    return shape, str(two.dtype)


def _unique(name: str) -> str:
    """``name``, then ``name_1``, ``name_2``, ...: each op's layer has its own name (a model refuses
    two layers of one given name), as Keras names its operations."""
    count = _NAMES_USED.get(name, 0)
    _NAMES_USED[name] = count + 1
    return name if count == 0 else f"{name}_{count}"


def _keras_tensors(values) -> list:
    found = []
    for value in values:
        if isinstance(value, KerasTensor):
            found.append(value)
        elif isinstance(value, list | tuple):
            found += _keras_tensors(value)
    return found


# elementwise ops (NumPy broadcasting): an array of the tensors' rank whose first axis is the
# traced batch size lines up with their batch axis, in Keras as here
_ELEMENTWISE = {"add", "subtract", "multiply", "divide", "true_divide", "maximum", "minimum", "power",
                "where", "equal", "not_equal", "greater", "greater_equal", "less", "less_equal",
                "logical_and", "logical_or", "logical_xor", "floor_divide", "mod"}


def _batches_as_tensors(value, rank: int):
    """``value`` (an elementwise op's argument; lists and tuples looked into) with each array of
    ``rank`` axes (two or more) whose first is the batch size of the call being traced
    (``ops.ones((ops.shape(x)[0], 4))`` in a trace for data) made a tensor of that batch
    (``input_layer.layer_constant``), so the op computes it sample by sample beside the call's
    tensors, as Keras' broadcasting does eagerly."""
    if isinstance(value, np.ndarray) and value.ndim == rank >= 2 and value.shape[0] == traced_batch_size():
        return layer_constant(value)
    if type(value) in (list, tuple):
        return type(value)(_batches_as_tensors(v, rank) for v in value)
    return value


def _substitute(value, mapping: dict):
    """``value`` with each KerasTensor in it (in lists and tuples too) replaced by its array (a
    BatchlessTensor's computed from its bases' arrays)."""
    if isinstance(value, BatchlessTensor):
        return value.apply([mapping[id(b)] for b in value.bases])
    if isinstance(value, KerasTensor):
        return mapping[id(value)]
    if isinstance(value, list | tuple):
        return type(value)(_substitute(v, mapping) for v in value)
    return value


def _several(name: str, args, kwargs, tensors):
    """An op on several KerasTensors that a merging layer computes."""
    from scratchnet.layers.merging import Add, Concatenate, Multiply, Subtract

    if name in ("add", "subtract", "multiply") and len(args) == 2 and not kwargs:
        return {"add": Add, "subtract": Subtract, "multiply": Multiply}[name]()(list(args))
    if name == "concatenate" and len(args) >= 1 and _builtins.all(isinstance(t, KerasTensor)
                                                                  for t in args[0]):
        axis = kwargs.get("axis", args[1] if len(args) > 1 else 0)
        if axis == 0:
            raise ValueError("ops.concatenate on KerasTensors along axis 0 (the batch) is not "
                             "supported in a traced call(); use axis=-1 or another feature axis")
        return Concatenate(axis=axis)(list(args[0]))
    from scratchnet.layers.op_layer import OpLayer

    def apply(values):
        mapping = dict(zip([id(t) for t in tensors], values, strict=True))
        return globals()[name].__wrapped__(*_substitute(args, mapping),
                                           **{k: _substitute(v, mapping) for k, v in kwargs.items()})
    return OpLayer(apply, name=_unique(name))(tensors)


def _count_split(args, kwargs):
    sections = kwargs.get("indices_or_sections", args[1] if len(args) > 1 else None)
    return sections if isinstance(sections, int) else len(sections) + 1


def _count_unstack(args, kwargs):
    x = args[0]
    num = kwargs.get("num", args[1] if len(args) > 1 else None)
    axis = kwargs.get("axis", args[2] if len(args) > 2 else 0)
    if num is None and x.shape[axis] is None:
        raise ValueError(f"sn.ops.unstack on a KerasTensor of shape {x.shape}: axis {axis} has no "
                         "known size; give num")
    return num if num is not None else x.shape[axis]


_TRACEABLE = ["abs", "absolute", "add", "subtract", "multiply", "divide", "true_divide", "negative",
              "power", "square", "sqrt", "exp", "expm1", "log", "log1p", "tanh", "sin", "cos",
              "maximum", "minimum", "matmul", "clip", "where", "sigmoid", "relu", "softmax", "sum",
              "mean", "prod", "expand_dims", "squeeze", "reshape", "transpose", "swapaxes",
              "concatenate", "stack", "broadcast_to", "cast", "reciprocal",
              # the ones added later
              "max", "min", "amax", "amin", "argmax", "argmin", "all", "any", "var", "std", "logsumexp",
              "cumsum", "cumprod", "count_nonzero", "take", "take_along_axis", "argsort", "sort",
              "one_hot", "multi_hot", "slice", "get_item", "tile", "repeat", "flip", "roll", "pad",
              "moveaxis", "ravel", "tril", "triu", "diag", "diagonal", "trace", "select", "vstack",
              "hstack", "append", "rot90", "einsum", "tensordot", "dot", "outer", "inner", "norm",
              "normalize", "rsqrt", "round", "mod", "floor_divide", "arctan2", "sinh", "cosh", "tan",
              "arcsin", "arccos", "arctan", "erf", "log2", "log10", "exp2", "logaddexp", "hypot",
              "nan_to_num", "divide_no_nan", "isclose", "gelu", "silu", "selu", "elu", "leaky_relu",
              "relu6", "softplus", "softsign", "hard_sigmoid", "hard_silu", "log_softmax", "log_sigmoid",
              "batch_normalization", "layer_normalization", "rms_normalization",
              "categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy",
              "dot_product_attention", "stop_gradient", "average", "logical_xor", "trunc", "isposinf",
              "isneginf", "arcsinh", "arccosh", "arctanh", "cbrt", "deg2rad", "rad2deg", "logaddexp2", "erfc",
              "erfinv", "copy", "fliplr", "flipud", "diff", "in_top_k", "celu", "glu", "hard_tanh",
              "hard_shrink", "soft_shrink", "tanh_shrink", "squareplus", "sparse_plus", "sparse_sigmoid",
              "threshold", "scatter", "scatter_update", "slice_update", "segment_sum", "sign", "floor",
              "conv", "depthwise_conv", "max_pool", "average_pool", "ceil", "equal", "not_equal", "greater",
              "greater_equal", "less", "less_equal", "logical_and",
              "logical_or", "logical_not", "isnan", "isinf", "isfinite"]
# the ones in ops_control, ops_linalg, ops_numpy_more, ops_signal and ops_nn_more that take arrays
_TRACEABLE += """
    saturate_cast segment_max segment_min segment_prod inv det logdet solve solve_triangular cholesky
    cholesky_inverse pinv matrix_rank lstsq median quantile percentile nanmedian nanquantile nanpercentile
    nansum nanprod nanmean nanvar nanstd nanmax nanmin nanargmax nanargmin nancumsum nancumprod ptp
    corrcoef correlate trapezoid bitwise_and bitwise_or bitwise_xor bitwise_invert bitwise_not
    bitwise_left_shift bitwise_right_shift left_shift right_shift gcd lcm fmod fmax fmin fabs heaviside
    i0 sinc signbit ldexp nextafter isin isreal real imag conj conjugate angle polar view_as_complex
    view_as_real diagflat dstack kron cross vander vdot rearrange cdist irfft istft extract_sequences
    conv_transpose separable_conv psnr adaptive_average_pool adaptive_max_pool fold unfold""".split()
_SEVERAL_OUTPUTS = {"split": _count_split, "unstack": _count_unstack, "top_k": lambda args, kwargs: 2,
                    "moments": lambda args, kwargs: 2,
                    **{name: (lambda args, kwargs: 2) for name in
                       "slogdet eigh eig qr lu_factor fft fft2 ifft2 rfft stft histogram".split()},
                    **{name: _count_split for name in ("array_split", "hsplit", "vsplit", "dsplit")}}
for _name in _TRACEABLE:
    globals()[_name] = _on_keras_tensors(globals()[_name], _name)
for _name, _count in _SEVERAL_OUTPUTS.items():
    globals()[_name] = _on_keras_tensors(globals()[_name], _name, outputs=_count)
swish, hard_swish = silu, hard_silu
del _name, _count


# ----------------------------------------------------------------------------- Keras' namespaces
def _namespace(name: str, names: str):
    """A module holding some of the functions above, as ``keras.ops.nn``, ``keras.ops.numpy`` and
    ``keras.ops.linalg`` hold them (the same function objects)."""
    module = _types.ModuleType(f"scratchnet.ops.{name}", f"``keras.ops.{name}``'s names that scratchnet has.")
    for n in names.split():
        setattr(module, n, globals()[n])
    return module


nn = _namespace("nn", """
    average_pool batch_normalization binary_crossentropy categorical_crossentropy celu conv
    depth_to_space depthwise_conv dot_product_attention elu gelu glu hard_shrink hard_sigmoid
    hard_silu hard_swish hard_tanh layer_normalization leaky_relu log_sigmoid log_softmax max_pool
    moments multi_hot normalize one_hot relu relu6 rms_normalization selu sigmoid silu soft_shrink
    softmax softplus softsign space_to_depth sparse_categorical_crossentropy sparse_plus
    sparse_sigmoid squareplus swish tanh_shrink threshold polar""" + _NN_MORE)
numpy = _namespace("numpy", """
    abs absolute add all allclose amax amin any append arange arccos arccosh arcsin arcsinh arctan
    arctan2 arctanh argmax argmin argsort array average broadcast_to cbrt ceil clip concatenate copy cos
    cosh count_nonzero cumprod cumsum deg2rad diag diagonal diff digitize divide divide_no_nan dot
    einsum empty empty_like equal exp exp2 expand_dims expm1 eye flip fliplr flipud floor floor_divide
    full full_like get_item greater greater_equal hstack hypot identity inner isclose isfinite isinf
    isnan isneginf isposinf less less_equal linspace log log10 log1p log2 logaddexp logaddexp2
    logical_and logical_not logical_or logical_xor matmul max maximum mean meshgrid min minimum mod
    moveaxis multiply nan_to_num ndim negative nonzero not_equal ones ones_like outer pad power prod
    rad2deg ravel reciprocal repeat reshape roll rot90 round searchsorted select sign sin sinh size sort
    split sqrt square squeeze stack std subtract sum swapaxes take take_along_axis tan tanh tensordot
    tile trace transpose tri tril triu true_divide trunc var vstack where zeros zeros_like
    slogdet vectorize""" + _NUMPY_MORE + _WINDOWS)
image = _types.ModuleType("scratchnet.ops.image", "``keras.ops.image``: scratchnet/ops_image.py.")
_image_module = __import__("scratchnet.ops_image", fromlist=["resize"])
for _name in _image_module.__all__:  # on KerasTensors each becomes a layer, as the ops above
    setattr(image, _name, _on_keras_tensors(getattr(_image_module, _name), _name))
del _name
linalg = _namespace("linalg", """
    cholesky cholesky_inverse det eig eigh inv jvp lstsq lu_factor matrix_rank norm pinv qr solve
    solve_triangular svd""")


# ----------------------------------------------------------------------------- sparsemax and CTC
# (NumPy functions from their own modules: scratchnet.activations_more, scratchnet.ctc)
from scratchnet.activations_more import sparsemax  # noqa: E402
from scratchnet.ctc import ctc_decode, ctc_loss  # noqa: E402

nn.sparsemax, nn.ctc_loss, nn.ctc_decode = sparsemax, ctc_loss, ctc_decode
