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

import numpy as np
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
                            "differentiate (write x = x * 2, not x *= 2)")
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
    def unbroadcast(dy):
        g = rule(dy)
        extra = g.ndim - len(shape)
        if extra > 0:
            g = g.sum(axis=tuple(range(extra)))  # axes the input did not have
        axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
        return g.sum(axis=axes, keepdims=True) if axes else g  # axes of size 1, broadcast
    return unbroadcast


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

NO_GRADIENT = {np.greater, np.greater_equal, np.less, np.less_equal, np.equal, np.not_equal,
               np.sign, np.floor, np.ceil, np.rint, np.trunc, np.isnan, np.isinf, np.isfinite,
               np.logical_and, np.logical_or, np.logical_not}


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


def _no_out(tape, name, out, kwargs):
    if out is not None or kwargs:
        raise TypeError(f"{tape.where}: np.{name} with {sorted(kwargs) or ['out']} is not something "
                        "scratchnet can differentiate; call it without")


FUNCTION_RULES = {
    np.sum: _sum, np.mean: _mean, np.reshape: _reshape, np.expand_dims: _expand_dims,
    np.squeeze: _squeeze, np.transpose: _transpose, np.swapaxes: _swapaxes,
    np.concatenate: _concatenate, np.stack: _stack, np.clip: _clip, np.where: _where,
}


# Functions whose result does not depend on the input's values: constants to the tape.
CONSTANT_FUNCTIONS = {np.ones_like, np.zeros_like, np.full_like, np.empty_like, np.shape, np.ndim, np.size}


def known_operations() -> str:
    """The operations the tape can differentiate, for error messages."""
    ufuncs = sorted(f.__name__ for f in UFUNC_RULES)
    functions = sorted(f.__name__ for f in FUNCTION_RULES)
    return ("operators + - * / ** @ and indexing, methods .reshape .transpose .T .squeeze .sum .mean "
            f".astype, np.{', np.'.join(ufuncs)}, np.{', np.'.join(functions)}")
