"""A gradient tape over NumPy: how a ``Lambda`` layer's function gets a backward pass.

Every other layer of scratchnet has its backward pass written out by hand. A ``Lambda`` layer runs
a function the user wrote (``lambda x: x * 100.0``), so its backward pass has to be worked out from
what the function did. This is how TensorFlow's ``GradientTape`` and every autodiff library do it,
in its simplest form:

1. **Record.** The function receives a :class:`Traced` array instead of the input. Each NumPy
   operation on it (``*``, ``np.exp``, ``x[:, 0]``, ``np.expand_dims``, ...) computes its result
   with NumPy as usual and writes one line on the :class:`Tape`: which traced values went in,
   which came out, and the rule that turns the gradient of the output into the gradient of each
   input (its "vector-Jacobian product", for ``y = a * b``: ``da = dy * b``, ``db = dy * a``).
2. **Play back.** Given ``dL/dy`` for the function's result, :meth:`Tape.gradient` reads the
   tape from the last line to the first, applies each rule, and adds up what arrives at each
   value (a value used twice, as in ``x * x``, gets both contributions). What arrives at the input
   is ``dL/dx``.

The rules follow TensorFlow's gradients where a choice exists: ``maximum(a, b)`` sends the
gradient to ``a`` where ``a >= b``; ``clip`` passes it where the value was inside the bounds, ends
included; ``abs`` multiplies by ``sign(a)`` (0 at 0); comparisons, ``sign``, ``floor`` and
``round`` have no gradient (their results are plain arrays, constants to the tape).

Only the operations in :data:`UFUNC_RULES` and :data:`FUNCTION_RULES` (and the array methods
below) are known; any other raises a ``TypeError`` that names it, rather than a wrong gradient.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.special
from numpy.lib.mixins import NDArrayOperatorsMixin


class Tape:
    """The record of one call of a function: each line ``(output, [(input, rule), ...])``."""

    def __init__(self, where: str):
        self.where = where  # who runs the function, for error messages: 'Lambda "scale"'
        self.lines: list[tuple[Traced, list]] = []

    def watch(self, x: np.ndarray) -> Traced:
        """``x`` as a traced value: what the function receives instead of ``x``."""
        return Traced(np.asarray(x), self)

    def record(self, value: np.ndarray, inputs: list) -> Traced:
        """A new traced value made from ``inputs``: a list of ``(traced input, rule)``, where
        ``rule(dy)`` is the gradient reaching that input from ``dy``, the gradient of the new value."""
        out = Traced(value, self)
        self.lines.append((out, inputs))
        return out

    def gradient(self, output, watched: Traced, dy: np.ndarray) -> np.ndarray:
        """``dL/d(watched)``, given ``dy = dL/d(output)``: the tape read backwards (zeros when
        ``output`` did not come from ``watched``, a constant or a plain array)."""
        return self.gradients([(output, dy)], [watched])[0]

    def gradients(self, seeds: list, watched: list) -> list[np.ndarray]:
        """``dL/dw`` for each ``w`` in ``watched``, given ``seeds``: pairs ``(output, dL/d(output))``
        (several outputs, as a recurrent cell's output and new states; one value seeded twice
        gets both). The tape is read once, backwards."""
        grads: dict[int, np.ndarray] = {}
        for output, dy in seeds:
            if isinstance(output, Traced) and dy is not None:
                grads[id(output)] = dy if id(output) not in grads else grads[id(output)] + dy
        for out, inputs in reversed(self.lines):
            g = grads.pop(id(out), None)
            if g is None:
                continue  # this value did not lead to the output
            for value, rule in inputs:
                contribution = rule(g)
                grads[id(value)] = contribution if id(value) not in grads else grads[id(value)] + contribution
        found = []
        for w in watched:
            dw = grads.get(id(w))
            found.append(np.zeros_like(w.value) if dw is None else dw.astype(w.value.dtype, copy=False))
        return found


class Traced(NDArrayOperatorsMixin):
    """An array whose NumPy operations are recorded on a :class:`Tape`.

    ``NDArrayOperatorsMixin`` turns ``a * b``, ``-a``, ``a ** 2``, ``a > 0`` ... into NumPy's ufuncs,
    which arrive at :meth:`__array_ufunc__`; functions such as ``np.expand_dims`` arrive at
    :meth:`__array_function__`. Both compute on the plain arrays and record the rule."""

    __array_priority__ = 100  # ndarray (op) Traced gives the Traced's operation, not ndarray's

    def __init__(self, value: np.ndarray, tape: Tape):
        self.value = value
        self.tape = tape

    # what a function may read, as from an ndarray
    shape = property(lambda self: self.value.shape)
    ndim = property(lambda self: self.value.ndim)
    dtype = property(lambda self: self.value.dtype)
    size = property(lambda self: self.value.size)

    def __len__(self) -> int:
        return len(self.value)

    def __repr__(self) -> str:
        return f"Traced(shape={self.shape}, dtype={self.dtype})"

    def __array__(self, dtype=None, copy=None):
        # np.asarray(x) would drop the tape: a gradient computed afterwards would miss every step
        # taken on the plain array. Refuse, and say why.
        raise TypeError(f"{self.tape.where}: the function turned its traced input into a plain array "
                        "(np.asarray, np.array, float(...) or an operation scratchnet does not know), "
                        "so the backward pass could not follow it. Use NumPy operations on the input "
                        f"itself; known: {known_operations()}")

    def __float__(self):
        self.__array__()  # the same error: a Python number leaves the tape

    __int__ = __float__

    # --------------------------------------------------------------- ufuncs: + - * / ** exp ...
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__" or kwargs.get("out") is not None:
            name = ufunc.__name__
            what = f"np.{name}.{method}" if method != "__call__" else f"in-place np.{name}"
            raise TypeError(f"{self.tape.where}: the function uses {what}, which scratchnet cannot "
                            "differentiate (write x = np.multiply(x, 2), not np.multiply(x, 2, out=x))")
        if kwargs:  # where=, dtype=, casting=: rules written for the plain call would be wrong
            raise TypeError(f"{self.tape.where}: the function calls np.{ufunc.__name__} with "
                            f"{sorted(kwargs)}, which scratchnet cannot differentiate; call it without")
        values = [_plain(a) for a in inputs]
        result = ufunc(*values)
        if ufunc in NO_GRADIENT:
            return result  # a comparison, sign, floor ...: a constant to the tape
        rule = UFUNC_RULES.get(ufunc)
        if rule is None:
            raise TypeError(f"{self.tape.where}: the function uses np.{ufunc.__name__}, which scratchnet "
                            f"cannot differentiate; known: {known_operations()}")
        grads = rule(result, *values)  # one gradient rule per input
        return self.tape.record(result, [(a, _unbroadcast_rule(g, a.shape))
                                         for a, g in zip(inputs, grads, strict=True)
                                         if isinstance(a, Traced)])

    # ----------------------------------------------------- functions: np.expand_dims, np.sum ...
    def __array_function__(self, func, types, args, kwargs):
        if func in CONSTANT_FUNCTIONS:  # np.ones_like(x), np.shape(x): no gradient flows through
            return func(*[_plain(a) for a in args], **kwargs)
        rule = FUNCTION_RULES.get(func)
        if rule is None:
            raise TypeError(f"{self.tape.where}: the function calls np.{func.__name__}, which scratchnet "
                            f"cannot differentiate; known: {known_operations()}")
        return rule(self.tape, *args, **kwargs)

    # ------------------------------------------------------------ methods, as on an ndarray
    def __getitem__(self, index):
        index = _plain_index(index)
        shape, dtype = self.shape, self.dtype

        def rule(dy):
            dx = np.zeros(shape, dtype=np.result_type(dtype, dy))
            np.add.at(dx, index, dy)  # a cell picked twice (x[[0, 0]]) gets both gradients
            return dx
        return self.tape.record(self.value[index], [(self, rule)])

    def reshape(self, *shape, order="C"):
        return _reshape(self.tape, self, shape[0] if len(shape) == 1 else shape, order)

    def transpose(self, *axes):
        return _transpose(self.tape, self, axes[0] if len(axes) == 1 else (axes or None))

    T = property(lambda self: _transpose(self.tape, self, None))

    def squeeze(self, axis=None):
        return _squeeze(self.tape, self, axis)

    def sum(self, axis=None, keepdims=False, dtype=None):
        return _sum(self.tape, self, axis, dtype, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False, dtype=None):
        return _mean(self.tape, self, axis, dtype, keepdims=keepdims)

    def astype(self, dtype, copy=True):
        from_dtype = self.dtype
        return self.tape.record(self.value.astype(dtype), [(self, lambda dy: dy.astype(from_dtype))])

    # ---------------------------------------------- x -= y: a new value, as a Keras tensor does
    # A backend tensor is immutable, so in Keras ``inputs -= ops.mean(inputs, ...)`` (keras.io's
    # Antirectifier) makes a new tensor and rebinds the name; the caller's tensor is unchanged.
    # The same here: each in-place operator returns the out-of-place result, recorded as usual.
    def __iadd__(self, other):
        return self + other

    def __isub__(self, other):
        return self - other

    def __imul__(self, other):
        return self * other

    def __itruediv__(self, other):
        return self / other

    def __ipow__(self, other):
        return self**other

    def __imatmul__(self, other):
        return self @ other


def _plain(a):
    """The array inside a :class:`Traced`; anything else as it is."""
    return a.value if isinstance(a, Traced) else a


def _plain_index(index):
    """An index with any traced part made plain (indices carry no gradient)."""
    if isinstance(index, tuple):
        return tuple(_plain(i) for i in index)
    return _plain(index)


def _unbroadcast_rule(rule, shape):
    """``rule``, then summed back to ``shape``: an input that NumPy broadcast (a bias of shape
    ``(F,)`` added to ``(N, F)``) receives the sum of the gradients of every copy of it."""
    return lambda dy: _unbroadcast(rule(dy), shape)


def _unbroadcast(g, shape):
    """The gradient ``g`` of a broadcast result, summed back to the input's ``shape``."""
    extra = g.ndim - len(shape)
    if extra > 0:
        g = g.sum(axis=tuple(range(extra)))  # axes the input did not have
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g  # axes of size 1, broadcast


# ------------------------------------------------------------------ the rules for NumPy's ufuncs
# Each takes (y, *inputs) and returns one rule a input: rule(dy) -> the gradient for that input
# before broadcasting is undone. y is the result.

def _mask(condition, dy):
    return dy * condition.astype(dy.dtype)


UFUNC_RULES = {
    np.add: lambda y, a, b: (lambda dy: dy, lambda dy: dy),
    np.subtract: lambda y, a, b: (lambda dy: dy, lambda dy: -dy),
    np.multiply: lambda y, a, b: (lambda dy: dy * b, lambda dy: dy * a),
    np.true_divide: lambda y, a, b: (lambda dy: dy / b, lambda dy: -dy * a / b / b),
    np.negative: lambda y, a: (lambda dy: -dy,),
    np.positive: lambda y, a: (lambda dy: dy,),
    # d(a ** b)/da = b * a ** (b - 1); d/db = y * log(a), taken as 0 where a <= 0 (as TensorFlow)
    np.power: lambda y, a, b: (lambda dy: dy * b * np.power(a, b - 1),
                               lambda dy: dy * y * np.where(a > 0, np.log(np.where(a > 0, a, 1)), 0)),
    np.square: lambda y, a: (lambda dy: dy * 2 * a,),
    np.sqrt: lambda y, a: (lambda dy: dy * 0.5 / y,),
    np.exp: lambda y, a: (lambda dy: dy * y,),
    np.log: lambda y, a: (lambda dy: dy / a,),
    np.log1p: lambda y, a: (lambda dy: dy / (1 + a),),
    np.expm1: lambda y, a: (lambda dy: dy * (y + 1),),
    np.tanh: lambda y, a: (lambda dy: dy * (1 - y * y),),
    np.sin: lambda y, a: (lambda dy: dy * np.cos(a),),
    np.cos: lambda y, a: (lambda dy: -dy * np.sin(a),),
    np.absolute: lambda y, a: (lambda dy: dy * np.sign(a),),
    np.reciprocal: lambda y, a: (lambda dy: -dy * y * y,),
    # ties: the first argument gets the gradient, as TensorFlow's maximum and minimum
    np.maximum: lambda y, a, b: (lambda dy: _mask(a >= b, dy), lambda dy: _mask(a < b, dy)),
    np.minimum: lambda y, a, b: (lambda dy: _mask(a <= b, dy), lambda dy: _mask(a > b, dy)),
    np.matmul: lambda y, a, b: (lambda dy: dy @ np.swapaxes(b, -1, -2),
                                lambda dy: np.swapaxes(a, -1, -2) @ dy),
}
UFUNC_RULES[np.divide] = UFUNC_RULES[np.true_divide]

# more of sn.ops' elementwise functions (the derivative of each, as TensorFlow's gradients)
UFUNC_RULES.update({
    np.sinh: lambda y, a: (lambda dy: dy * np.cosh(a),),
    np.cosh: lambda y, a: (lambda dy: dy * np.sinh(a),),
    np.tan: lambda y, a: (lambda dy: dy * (1 + y * y),),
    np.arcsin: lambda y, a: (lambda dy: dy / np.sqrt(1 - a * a),),
    np.arccos: lambda y, a: (lambda dy: -dy / np.sqrt(1 - a * a),),
    np.arctan: lambda y, a: (lambda dy: dy / (1 + a * a),),
    np.arcsinh: lambda y, a: (lambda dy: dy / np.sqrt(a * a + 1),),
    np.arccosh: lambda y, a: (lambda dy: dy / np.sqrt(a * a - 1),),
    np.arctanh: lambda y, a: (lambda dy: dy / (1 - a * a),),
    np.cbrt: lambda y, a: (lambda dy: dy / (3 * y * y),),
    # atan2(a, b): d/da = b / (a^2 + b^2), d/db = -a / (a^2 + b^2)
    np.arctan2: lambda y, a, b: (lambda dy: dy * b / (a * a + b * b), lambda dy: -dy * a / (a * a + b * b)),
    np.log2: lambda y, a: (lambda dy: dy / (a * np.log(2.0).astype(a.dtype)),),
    np.log10: lambda y, a: (lambda dy: dy / (a * np.log(10.0).astype(a.dtype)),),
    np.exp2: lambda y, a: (lambda dy: dy * y * np.log(2.0).astype(y.dtype),),
    # log(e^a + e^b): d/da = e^(a - y), d/db = e^(b - y)
    np.logaddexp: lambda y, a, b: (lambda dy: dy * np.exp(a - y), lambda dy: dy * np.exp(b - y)),
    np.hypot: lambda y, a, b: (lambda dy: dy * a / y, lambda dy: dy * b / y),
    # a mod b = a - floor(a / b) * b (TensorFlow's floormod gradient)
    np.remainder: lambda y, a, b: (lambda dy: dy, lambda dy: -dy * np.floor(a / b)),
    scipy.special.erf: lambda y, a: (lambda dy: dy * (2 / math.sqrt(math.pi)) * np.exp(-a * a),),
})

NO_GRADIENT = {np.greater, np.greater_equal, np.less, np.less_equal, np.equal, np.not_equal,
               np.sign, np.floor, np.ceil, np.rint, np.trunc, np.isnan, np.isinf, np.isfinite,
               np.logical_and, np.logical_or, np.logical_not, np.logical_xor, np.floor_divide, np.isposinf,
               np.isneginf}


# ------------------------------------------------------------ the rules for NumPy's functions
# Each takes (tape, *args, **kwargs) as the NumPy function does, computes and records.

def _normalized_axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, tuple | list) else (axis,)
    return tuple(int(a) % ndim for a in axes)


def _sum(tape, a, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
    _no_out(tape, "sum", out, kwargs)
    shape, axes = a.shape, _normalized_axes(axis, a.ndim)

    def rule(dy):  # every summed cell gets the gradient of its sum
        kept = dy if keepdims else np.expand_dims(dy, axes)
        return np.broadcast_to(kept, shape)
    return tape.record(np.sum(a.value, axis=axis, dtype=dtype, keepdims=keepdims), [(a, rule)])


def _mean(tape, a, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
    _no_out(tape, "mean", out, kwargs)
    shape, axes = a.shape, _normalized_axes(axis, a.ndim)
    count = int(np.prod([shape[i] for i in axes]))

    def rule(dy):  # the mean's gradient, shared equally among the cells it averaged
        kept = dy if keepdims else np.expand_dims(dy, axes)
        return np.broadcast_to(kept / count, shape)
    return tape.record(np.mean(a.value, axis=axis, dtype=dtype, keepdims=keepdims), [(a, rule)])


def _reshape(tape, a, shape, order="C", **kwargs):
    _no_out(tape, "reshape", None, kwargs)
    before = a.shape
    return tape.record(np.reshape(a.value, shape, order=order),
                       [(a, lambda dy: np.reshape(dy, before, order=order))])


def _expand_dims(tape, a, axis):
    axes = _normalized_axes(axis, a.ndim + (len(axis) if isinstance(axis, tuple | list) else 1))
    return tape.record(np.expand_dims(a.value, axis), [(a, lambda dy: np.squeeze(dy, axis=axes))])


def _squeeze(tape, a, axis=None):
    before = a.shape
    return tape.record(np.squeeze(a.value, axis=axis), [(a, lambda dy: np.reshape(dy, before))])


def _transpose(tape, a, axes=None):
    inverse = None if axes is None else np.argsort(axes)
    return tape.record(np.transpose(a.value, axes), [(a, lambda dy: np.transpose(dy, inverse))])


def _swapaxes(tape, a, axis1, axis2):
    return tape.record(np.swapaxes(a.value, axis1, axis2),
                       [(a, lambda dy: np.swapaxes(dy, axis1, axis2))])


def _concatenate(tape, arrays, axis=0, out=None, **kwargs):
    _no_out(tape, "concatenate", out, kwargs)
    arrays = list(arrays)
    ends = np.cumsum([np.shape(_plain(a))[axis] for a in arrays])[:-1]
    value = np.concatenate([_plain(a) for a in arrays], axis=axis)
    def piece(i):  # input i gets its own slice of the gradient
        return lambda dy: np.split(dy, ends, axis=axis)[i]
    return tape.record(value, [(a, piece(i)) for i, a in enumerate(arrays) if isinstance(a, Traced)])


def _stack(tape, arrays, axis=0, out=None, **kwargs):
    _no_out(tape, "stack", out, kwargs)
    arrays = list(arrays)
    value = np.stack([_plain(a) for a in arrays], axis=axis)
    def piece(i):  # input i gets its own slice of the gradient
        return lambda dy: np.take(dy, i, axis=axis)
    return tape.record(value, [(a, piece(i)) for i, a in enumerate(arrays) if isinstance(a, Traced)])


def _clip(tape, a, a_min=None, a_max=None, out=None, **kwargs):
    _no_out(tape, "clip", out, kwargs)
    lo, hi = _plain(a_min), _plain(a_max)
    inside = np.ones(a.shape, dtype=bool)
    if lo is not None:
        inside &= a.value >= lo
    if hi is not None:
        inside &= a.value <= hi
    # the bounds themselves get no gradient here (constants, as in every Keras model seen)
    return tape.record(np.clip(a.value, lo, hi), [(a, lambda dy: _mask(inside, dy))])


def _where(tape, condition, x, y):
    cond = np.asarray(_plain(condition), dtype=bool)
    value = np.where(cond, _plain(x), _plain(y))
    inputs = []
    if isinstance(x, Traced):
        inputs.append((x, _unbroadcast_rule(lambda dy: _mask(np.broadcast_to(cond, dy.shape), dy), x.shape)))
    if isinstance(y, Traced):
        inputs.append((y, _unbroadcast_rule(lambda dy: _mask(~np.broadcast_to(cond, dy.shape), dy), y.shape)))
    return tape.record(value, inputs)


def _max(tape, a, axis=None, out=None, keepdims=False, **kwargs):
    """``np.max``: as TensorFlow's ``reduce_max`` gradient, ``dy`` shared equally among the cells
    equal to the maximum (ties split it)."""
    return _extreme(tape, np.max, "max", a, axis, out, keepdims, kwargs)


def _min(tape, a, axis=None, out=None, keepdims=False, **kwargs):
    return _extreme(tape, np.min, "min", a, axis, out, keepdims, kwargs)


def _extreme(tape, function, name, a, axis, out, keepdims, kwargs):
    _no_out(tape, name, out, kwargs)
    axes = _normalized_axes(axis, a.ndim)
    value = function(a.value, axis=axis, keepdims=keepdims)
    kept = value if keepdims else np.expand_dims(value, axes)
    chosen = (a.value == kept).astype(a.dtype)
    chosen /= np.sum(chosen, axis=axes, keepdims=True)

    def rule(dy):
        return chosen * (dy if keepdims else np.expand_dims(dy, axes))
    return tape.record(value, [(a, rule)])


def _prod(tape, a, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
    """``np.prod``: each cell's gradient is the product of the others (the cells before it times
    the cells after it, exclusive cumulative products, as TensorFlow: right where a cell is 0)."""
    _no_out(tape, "prod", out, kwargs)
    axes = _normalized_axes(axis, a.ndim)
    rest = [i for i in range(a.ndim) if i not in axes]
    moved = np.transpose(a.value, rest + list(axes))
    flat = moved.reshape(moved.shape[:len(rest)] + (-1,))
    ones = np.ones(flat.shape[:-1] + (1,), dtype=flat.dtype)
    before = np.cumprod(np.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
    after = np.cumprod(np.concatenate([ones, flat[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    others = np.transpose((before * after).reshape(moved.shape), np.argsort(rest + list(axes)))

    def rule(dy):
        return others * (dy if keepdims else np.expand_dims(dy, axes))
    return tape.record(np.prod(a.value, axis=axis, dtype=dtype, keepdims=keepdims), [(a, rule)])


def _cumsum(tape, a, axis=None, dtype=None, out=None):
    """``np.cumsum``: the gradient of cell i is the sum of ``dy`` from i to the end (a reversed
    cumulative sum). ``axis=None`` runs over the flattened array."""
    _no_out(tape, "cumsum", out, {})
    shape = a.shape
    value = np.cumsum(a.value, axis=axis, dtype=dtype)
    along = 0 if axis is None else axis

    def rule(dy):
        return np.flip(np.cumsum(np.flip(dy, along), along), along).reshape(shape)
    return tape.record(value, [(a, rule)])


def _cumprod(tape, a, axis=None, dtype=None, out=None):
    """``np.cumprod``: TensorFlow's gradient, ``reversed_cumsum(y * dy) / x`` (not finite where x is 0)."""
    _no_out(tape, "cumprod", out, {})
    shape, x = a.shape, a.value
    value = np.cumprod(x, axis=axis, dtype=dtype)
    along = 0 if axis is None else axis

    def rule(dy):
        summed = np.flip(np.cumsum(np.flip(value * dy, along), along), along)
        return (summed / x.reshape(value.shape)).reshape(shape)
    return tape.record(value, [(a, rule)])


def _broadcast_to(tape, array, shape, subok=False):
    return tape.record(np.broadcast_to(array.value, shape),
                       [(array, _unbroadcast_rule(lambda dy: dy, array.shape))])


def _tile(tape, A, reps):
    """``np.tile``: each cell's gradient is the sum of ``dy`` over its copies."""
    reps = (reps,) if np.ndim(reps) == 0 else tuple(reps)
    n = max(len(reps), A.ndim)
    reps = (1,) * (n - len(reps)) + reps
    shape = (1,) * (n - A.ndim) + A.shape
    before = A.shape

    def rule(dy):  # dy as (reps_0, n_0, reps_1, n_1, ...), summed over the reps axes
        split = dy.reshape([d for pair in zip(reps, shape, strict=True) for d in pair])
        return split.sum(axis=tuple(range(0, 2 * n, 2))).reshape(before)
    return tape.record(np.tile(A.value, reps), [(A, rule)])


def _pad(tape, array, pad_width, mode="constant", **kwargs):
    """``np.pad``: with ``mode="constant"`` the gradient is ``dy`` without the padding; the other
    modes (``reflect``, ``symmetric``) copy cells, each gets the sum over its copies."""
    widths = np.broadcast_to(np.asarray(pad_width, dtype=int), (array.ndim, 2))
    if mode == "constant":
        inner = tuple(slice(lo, lo + n) for (lo, _), n in zip(widths, array.shape, strict=True))
        return tape.record(np.pad(array.value, widths, mode=mode, **kwargs), [(array, lambda dy: dy[inner])])
    # which input cell each output cell copies, per axis: the padding applied to the positions
    index = np.ix_(*[np.pad(np.arange(n), w, mode=mode) for n, w in zip(array.shape, widths, strict=True)])
    return array[index]


def _einsum(tape, subscripts, *operands, **kwargs):
    """``np.einsum``: the gradient of each operand is the einsum of ``dy`` with the other operands,
    written to that operand's subscripts (an index only that operand has is broadcast back)."""
    if not isinstance(subscripts, str):
        raise TypeError(f"{tape.where}: np.einsum with operands given as lists is not differentiable "
                        "here; give the subscripts as a string")
    plain = [_plain(o) for o in operands]
    inputs, output = _explicit_subscripts(subscripts, [np.ndim(p) for p in plain])
    if any(len(set(s)) != len(s) for s in inputs):
        raise TypeError(f"{tape.where}: np.einsum with an index repeated in one operand ({subscripts!r}, "
                        "a diagonal) is not differentiable here")
    value = np.einsum(f"{','.join(inputs)}->{output}", *plain, **kwargs)

    def rule(i):
        others = [s for j, s in enumerate(inputs) if j != i]
        target = "".join(c for c in inputs[i] if c in set(output).union(*others))
        only_here = [k for k, c in enumerate(inputs[i]) if c not in target]  # summed in operand i only

        def grad(dy):
            g = np.einsum(f"{','.join([output] + others)}->{target}", dy,
                          *[p for j, p in enumerate(plain) if j != i])
            if only_here:  # dy reaches every cell summed over such an index
                g = np.expand_dims(g, only_here)
            return _unbroadcast(np.broadcast_to(g, np.broadcast_shapes(g.shape, np.shape(plain[i]))),
                                np.shape(plain[i]))
        return grad
    return tape.record(value, [(o, rule(i)) for i, o in enumerate(operands) if isinstance(o, Traced)])


def _explicit_subscripts(subscripts: str, ndims: list) -> tuple[list, str]:
    """``"ij,jk"`` and ``"...ij,...jk->...ik"`` as explicit letters: ``(["ij", "jk"], "ik")``."""
    subscripts = subscripts.replace(" ", "")
    left, arrow, output = subscripts.partition("->")
    inputs = left.split(",")
    used = set(subscripts) - set(".,->")
    free = iter(c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" if c not in used)
    most = max([nd - len(s.replace("...", "")) for s, nd in zip(inputs, ndims, strict=True) if "..." in s],
               default=0)
    ellipsis_letters = "".join(next(free) for _ in range(most))
    for k, (s, nd) in enumerate(zip(inputs, ndims, strict=True)):
        if "..." in s:
            count = nd - len(s.replace("...", ""))
            inputs[k] = s.replace("...", ellipsis_letters[most - count:])
    if not arrow:  # implicit: the letters seen once, in order
        letters = "".join(inputs)
        output = ellipsis_letters + "".join(sorted(c for c in set(letters) if letters.count(c) == 1
                                                   and c not in ellipsis_letters))
    else:
        output = output.replace("...", ellipsis_letters)
    return inputs, output


def _no_out(tape, name, out, kwargs):
    if out is not None or kwargs:
        raise TypeError(f"{tape.where}: np.{name} with {sorted(kwargs) or ['out']} is not something "
                        "scratchnet can differentiate; call it without")


FUNCTION_RULES = {
    np.sum: _sum, np.mean: _mean, np.reshape: _reshape, np.expand_dims: _expand_dims,
    np.squeeze: _squeeze, np.transpose: _transpose, np.swapaxes: _swapaxes,
    np.concatenate: _concatenate, np.stack: _stack, np.clip: _clip, np.where: _where,
    np.max: _max, np.amax: _max, np.min: _min, np.amin: _min, np.prod: _prod, np.cumsum: _cumsum,
    np.cumprod: _cumprod, np.broadcast_to: _broadcast_to, np.tile: _tile, np.pad: _pad,
    np.einsum: _einsum,
}


# Functions whose result does not depend on the input's values: constants to the tape.
CONSTANT_FUNCTIONS = {np.ones_like, np.zeros_like, np.full_like, np.empty_like, np.shape, np.ndim, np.size,
                      # integer or boolean results, or steps (round): no gradient, as in TensorFlow
                      np.argmax, np.argmin, np.argsort, np.count_nonzero, np.all, np.any, np.round,
                      np.around, np.isclose, np.allclose, np.nonzero, np.searchsorted, np.digitize}


def known_operations() -> str:
    """The operations the tape can differentiate, for error messages."""
    ufuncs = sorted(f.__name__ for f in UFUNC_RULES)
    functions = sorted(f.__name__ for f in FUNCTION_RULES)
    return ("operators + - * / ** @ and indexing, methods .reshape .transpose .T .squeeze .sum .mean "
            f".astype, np.{', np.'.join(ufuncs)}, np.{', np.'.join(functions)}")
