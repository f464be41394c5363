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

import numpy as np

from scratchnet import config
from scratchnet.autodiff import Traced
from scratchnet.layers.input_layer import KerasTensor


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
def sum(x, axis=None, keepdims=False):  # noqa: A001 (Keras' name)
    return np.sum(x, axis=axis, keepdims=keepdims)


def mean(x, axis=None, keepdims=False):
    return np.mean(x, axis=axis, keepdims=keepdims)


def prod(x, axis=None, keepdims=False, dtype=None):
    return np.prod(x, axis=axis, keepdims=keepdims, dtype=dtype)


# ----------------------------------------------------------------------------- shapes
def shape(x) -> tuple:
    """The shape; of a KerasTensor inside a traced ``call``, ``(None, ...)`` (the batch unknown)."""
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


def arange(start, stop=None, step=1, dtype=None):
    """As ``keras.ops.arange``: integers stay int32 unless floats are given."""
    if dtype is None:
        values = (start, stop, step)
        dtype = "float32" if any(isinstance(v, float) for v in values) else "int32"
    if stop is None:
        start, stop = 0, start
    return np.arange(start, stop, step, dtype=dtype)


# ----------------------------------------------------------------------------- in a traced call()
def _on_keras_tensors(function, name: str):
    """``function`` that, given a KerasTensor (inside a subclassed model's or composite layer's
    traced ``call``, scratchnet.subclassing), records a layer instead of computing: a ``Lambda``
    running ``function`` (its backward from the gradient tape) for one tensor; ``Add``,
    ``Subtract``, ``Multiply`` or ``Concatenate`` for several. On arrays it is ``function``."""

    def wrapper(*args, **kwargs):
        tensors = _keras_tensors(args) + _keras_tensors(list(kwargs.values()))
        if not tensors:
            return function(*args, **kwargs)
        distinct = list({id(t): t for t in tensors}.values())
        if len(distinct) == 1:
            from scratchnet.layers.lambda_layer import Lambda

            tensor = distinct[0]

            def apply(value):
                return function(*_substitute(args, tensor, value),
                                **{k: _substitute(v, tensor, value) for k, v in kwargs.items()})

            return Lambda(apply, name=f"{name}_lambda")(tensor)
        return _several(name, args, kwargs, distinct)

    wrapper.__name__ = wrapper.__qualname__ = name
    wrapper.__doc__ = function.__doc__
    wrapper.__wrapped__ = function
    return wrapper


def _keras_tensors(values) -> list:
    found = []
    for value in values:
        if isinstance(value, KerasTensor):
            found.append(value)
        elif isinstance(value, list | tuple):
            found += _keras_tensors(value)
    return found


def _substitute(value, tensor, array):
    if value is tensor:
        return array
    if isinstance(value, list | tuple):
        return type(value)(_substitute(v, tensor, array) for v in value)
    return value


def _several(name: str, args, kwargs, tensors):
    """An op on several KerasTensors: the layer that computes it, where scratchnet has one."""
    from scratchnet.layers.merging import Add, Concatenate, Multiply, Subtract

    if name in ("add", "subtract", "multiply") and len(args) == 2 and not kwargs:
        return {"add": Add, "subtract": Subtract, "multiply": Multiply}[name]()(list(args))
    if name == "concatenate" and len(args) >= 1 and all(isinstance(t, KerasTensor) for t in args[0]):
        axis = kwargs.get("axis", args[1] if len(args) > 1 else 0)
        if axis == 0:
            raise ValueError("ops.concatenate on KerasTensors along axis 0 (the batch) is not "
                             "supported in a traced call(); use axis=-1 or another feature axis")
        return Concatenate(axis=axis)(list(args[0]))
    raise TypeError(f"sn.ops.{name} on {len(tensors)} KerasTensors has no scratchnet layer in a "
                    "traced call() yet; use a layer for it (Add, Multiply, Concatenate, Dot, ...) "
                    "or a Lambda of one tensor")


_TRACEABLE = ["abs", "absolute", "add", "subtract", "multiply", "divide", "true_divide", "negative",
              "power", "square", "sqrt", "exp", "expm1", "log", "log1p", "tanh", "sin", "cos",
              "maximum", "minimum", "matmul", "clip", "where", "sigmoid", "relu", "softmax", "sum",
              "mean", "prod", "expand_dims", "squeeze", "reshape", "transpose", "swapaxes",
              "concatenate", "stack", "broadcast_to", "cast", "reciprocal"]
for _name in _TRACEABLE:
    globals()[_name] = _on_keras_tensors(globals()[_name], _name)
del _name
