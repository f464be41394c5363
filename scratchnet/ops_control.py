"""``keras.ops``' control flow, custom gradients and segment reductions, for :mod:`scratchnet.ops`.

scratchnet runs eagerly, so each loop is a plain Python loop: ``scan`` calls ``f`` once per step
and stacks what it returns. Inside a gradient tape (a ``Lambda``, a traced ``call``) every step's
NumPy operations are recorded as they run, so the gradient of a loop is the tape read backwards
through all its steps (what TensorFlow's ``while_loop`` gradient computes). Structures of arrays
(tuples, lists, dicts) are carried with :mod:`scratchnet.tree`.
"""

from __future__ import annotations

import builtins

import numpy as np

from scratchnet import tree
from scratchnet.autodiff import Traced
from scratchnet.layers.input_layer import KerasTensor


def _plain(x):
    return x.value if isinstance(x, Traced) else np.asarray(x)


def _stack(values):
    """``np.stack`` of a list of arrays (traced or not): the tape knows ``np.stack``."""
    if builtins.any(isinstance(v, Traced) for v in values):
        return np.stack(values)
    return np.stack([np.asarray(v) for v in values])


def _callable(f, what: str, argument: str = "f"):
    if not callable(f):
        raise TypeError(f"ops.{what}: expected `{argument}` to be a callable, received {argument}={f!r}")


# ----------------------------------------------------------------------------- loops
def scan(f, init, xs=None, length=None, reverse=False, unroll=1):
    """``carry, y_t = f(carry, x_t)`` for each ``x_t`` along the first axis of ``xs`` (or
    ``length`` times with ``x_t = None``), last to first if ``reverse``. Returns the final carry
    and the ``y_t`` stacked along a new first axis (in the order of ``xs``). ``carry``, ``xs`` and
    ``y`` may be structures (tuples, dicts) of arrays, as ``jax.lax.scan``."""
    _callable(f, "scan")
    if not isinstance(unroll, bool) and (not isinstance(unroll, int) or unroll < 1):
        raise ValueError(f"`unroll` must be an positive integer or boolean. Received: unroll={unroll}")
    if xs is None and length is None:
        raise ValueError("Got no `xs` to scan over and `length` not provided.")
    xs_flat = [] if xs is None else tree.flatten(xs)
    n = int(length) if length is not None else len(xs_flat[0])
    order = range(n - 1, -1, -1) if reverse else range(n)
    carry, ys = init, []
    for i in order:
        x = None if xs is None else tree.pack_sequence_as(xs, [v[i] for v in xs_flat])
        carry, y = f(carry, x)
        ys.append(y)
    if reverse:
        ys.reverse()
    if not ys or ys[0] is None:
        return carry, None
    return carry, tree.map_structure(lambda *steps: _stack(list(steps)), *ys)


def map(f, xs):  # noqa: A001 (Keras' name)
    """``f`` applied to each slice along the first axis of ``xs`` (a structure too), the results
    stacked: ``stack([f(xs[0]), f(xs[1]), ...])``."""
    _callable(f, "map")
    return scan(lambda carry, x: (carry, f(x)), (), xs)[1]


def vectorized_map(function, elements):
    """``function`` on each slice along the first axis of ``elements`` (a list of arrays is
    sliced together: ``function([e[i] for e in elements])``), the results stacked."""
    _callable(function, "vectorized_map", "function")
    if isinstance(elements, list | tuple):
        n = len(elements[0])
        return _stack([function([e[i] for e in elements]) for i in range(n)])
    return _stack([function(elements[i]) for i in range(len(elements))])


def fori_loop(lower, upper, body_fun, init_val):
    """``val = body_fun(i, val)`` for ``i`` from ``lower`` to ``upper - 1``; returns ``val``."""
    _callable(body_fun, "fori_loop", "body_fun")
    val = init_val
    for i in range(int(_plain(lower)), int(_plain(upper))):
        val = body_fun(np.int32(i), val)
    return val


def while_loop(cond, body, loop_vars, maximum_iterations=None):
    """``loop_vars = body(*loop_vars)`` while ``cond(*loop_vars)`` (at most
    ``maximum_iterations`` times). A tuple or list of loop variables is unpacked into ``cond``
    and ``body`` and returned as a tuple; one variable is passed and returned as itself."""
    _callable(cond, "while_loop", "cond")
    _callable(body, "while_loop", "body")
    several = isinstance(loop_vars, tuple | list)
    values = tuple(loop_vars) if several else (loop_vars,)
    steps = 0
    while (maximum_iterations is None or steps < maximum_iterations) and bool(_plain(cond(*values))):
        out = body(*values)
        values = tuple(out) if several else (out,)
        if len(values) != (len(loop_vars) if several else 1):
            raise ValueError(f"ops.while_loop: body returned {len(values)} loop variables, expected "
                             f"{len(loop_vars) if several else 1} (as many as loop_vars)")
        steps += 1
    return values if several else values[0]


def switch(index, branches, *operands):
    """``branches[index](*operands)``, ``index`` clipped to ``[0, len(branches) - 1]`` (as Keras)."""
    i = int(np.clip(int(_plain(index)), 0, len(branches) - 1))
    return branches[i](*operands)


def associative_scan(f, elems, reverse=False, axis=0):
    """The running combination ``out[i] = f(out[i - 1], elems[i])`` along ``axis`` (``out[0] =
    elems[0]``), for an associative ``f`` (``ops.add`` gives ``cumsum``); last to first if
    ``reverse``. ``f`` receives slices that keep ``axis`` (length 1), as it would in the parallel
    prefix scan Keras runs; ``elems`` may be a structure of arrays of one length along ``axis``."""
    _callable(f, "associative_scan")
    flat = tree.flatten(elems)
    n = flat[0].shape[axis]
    if builtins.any(e.shape[axis] != n for e in flat[1:]):
        raise ValueError("Array inputs to associative_scan must have the same first dimension. "
                         f"(saw: {[e.shape for e in flat]})")

    def step(i):
        index = (slice(None),) * (axis % flat[0].ndim) + (slice(i, i + 1),)
        return [e[index] for e in flat]
    order = list(range(n - 1, -1, -1)) if reverse else list(range(n))
    running = step(order[0])
    outputs = [running]
    for i in order[1:]:
        combined = f(tree.pack_sequence_as(elems, running), tree.pack_sequence_as(elems, step(i)))
        running = tree.flatten(combined)
        outputs.append(running)
    if reverse:
        outputs.reverse()
    columns = [np.concatenate([o[k] for o in outputs], axis=axis) for k in range(len(flat))]
    return tree.pack_sequence_as(elems, columns)


def vectorize(pyfunc, *, excluded=None, signature=None):
    """``pyfunc`` made to work elementwise (or on the core dimensions of ``signature``, e.g.
    ``"(d,d)->(d)"``) over any leading axes, as ``np.vectorize``; it returns a function."""
    _callable(pyfunc, "vectorize", "pyfunc")
    vectorized = np.vectorize(pyfunc, excluded=excluded, signature=signature)

    def function(*args, **kwargs):
        for a in args:
            if isinstance(a, Traced):  # np.vectorize calls pyfunc on plain numbers: no tape
                raise TypeError(f"{a.tape.where}: ops.vectorize has no gradient in scratchnet (it calls "
                                "the function on plain numbers); use vectorized_map or map")
        return vectorized(*args, **kwargs)
    return function


# ----------------------------------------------------------------------------- gradients, types
def custom_gradient(f):
    """A function whose gradient is the one ``f`` gives: ``f(*args)`` returns ``(y, grad_fn)``,
    and ``grad_fn(dy)`` the gradient of each argument (a tuple for several), as
    ``tf.custom_gradient``. Inside a tape, ``f`` runs on the plain arrays (its own operations are
    not recorded) and one line is recorded whose rule is ``grad_fn``."""
    _callable(f, "custom_gradient")

    def function(*args):
        y, grad_fn = f(*[_plain(a) if isinstance(a, Traced) else a for a in args])
        traced = [(i, a) for i, a in enumerate(args) if isinstance(a, Traced)]
        if not traced:
            return y
        computed = {}

        def gradient_of(i):
            def rule(dy):
                if "grads" not in computed:
                    grads = grad_fn(dy)
                    computed["grads"] = list(grads) if isinstance(grads, tuple | list) else [grads]
                if len(computed["grads"]) != len(args):
                    raise ValueError(f"ops.custom_gradient: grad_fn returned {len(computed['grads'])} "
                                     f"gradients for {len(args)} arguments of {f.__name__}")
                return np.asarray(computed["grads"][i])
            return rule
        return traced[0][1].tape.record(np.asarray(y), [(a, gradient_of(i)) for i, a in traced])
    function.__name__ = getattr(f, "__name__", "custom_gradient")
    function.__doc__ = f.__doc__
    return function


def is_tensor(x) -> bool:
    """True for what scratchnet computes with in place of tensors: a NumPy array or scalar, a
    traced array (in a tape) or a KerasTensor."""
    return isinstance(x, np.ndarray | np.generic | Traced | KerasTensor)


def _limits(dtype: np.dtype):
    if dtype.kind == "b":
        return 0, 1
    info = np.iinfo(dtype) if dtype.kind in "iu" else np.finfo(dtype)
    return info.min, info.max


def saturate_cast(x, dtype):
    """``x`` cast to ``dtype`` after clipping to the range ``dtype`` can hold (256.0 to uint8 gives
    255, not the 0 a plain cast wraps to): the bounds are the tighter of the two dtypes' limits,
    nudged inside where the input dtype cannot hold the output's exactly, as Keras."""
    x = x if isinstance(x, Traced | np.ndarray | np.generic) else np.asarray(x)
    out_dtype, in_dtype = np.dtype(dtype), np.dtype(x.dtype)
    (in_min, in_max), (out_min, out_max) = _limits(in_dtype), _limits(out_dtype)
    low = np.asarray(np.maximum(in_min, out_min)).astype(in_dtype)
    if low < out_min:
        low = np.nextafter(low, 0, dtype=in_dtype)
    high = np.asarray(np.minimum(in_max, out_max)).astype(in_dtype)
    if high > out_max:
        high = np.nextafter(high, 0, dtype=in_dtype)
    return np.clip(x, low, high).astype(out_dtype)


# ----------------------------------------------------------------------------- segment reductions
def _segments(data, segment_ids, num_segments, sorted, what: str):  # noqa: A002 (Keras' name)
    if sorted and num_segments is not None:
        raise ValueError("Argument `num_segments` cannot be set when sorted is True when using the "
                         f"tensorflow backend.Received: num_segments={num_segments}, sorted={sorted}.")
    ids = _plain(segment_ids).astype(np.int64)
    if ids.ndim != 1 or ids.shape[0] != data.shape[0]:
        raise ValueError(f"ops.{what}: expected segment_ids of shape ({data.shape[0]},) (one per row of "
                         f"data), received shape {ids.shape}")
    n = int(ids.max()) + 1 if num_segments is None else int(num_segments)
    return ids, n


def _segment_extreme(data, segment_ids, num_segments, sorted, pick, empty, what):  # noqa: A002
    """``out[s] = pick(data[i] for segment_ids[i] == s)``; ``empty`` for a segment with no rows
    (TensorFlow's lowest/highest value of the dtype, or 1 for a product). The gradient of a max
    or min goes to the rows equal to it, shared when tied (as TensorFlow)."""
    data = data if isinstance(data, Traced | np.ndarray) else np.asarray(data, dtype=np.float32)
    ids, n = _segments(data, segment_ids, num_segments, sorted, what)
    value = _plain(data)
    out = np.full((n,) + value.shape[1:], empty(value.dtype), dtype=value.dtype)
    inside = (ids >= 0) & (ids < n)  # rows with an id outside [0, n) are dropped, as TensorFlow
    pick.at(out, ids[inside], value[inside])
    if not isinstance(data, Traced):
        return out
    from scratchnet.ops import _recorded

    rows = inside.reshape((-1,) + (1,) * (value.ndim - 1))  # (N, 1, ...): broadcast over a row
    picked = np.clip(ids, 0, n - 1)
    if pick is np.multiply:
        def rule(dy):  # d(prod)/d(x_i) = the product of the others, prod / x_i for nonzero x_i
            return np.where(rows, (dy * out)[picked] / value, 0).astype(value.dtype)
        return _recorded(out, (data, rule))
    winners = rows & (value == out[picked])
    counts = np.zeros_like(out)
    np.add.at(counts, ids[inside], winners[inside].astype(out.dtype))

    def share(dy):
        return np.where(winners, dy[picked] / np.maximum(counts[picked], 1), 0).astype(value.dtype)
    return _recorded(out, (data, share))


def _lowest(dtype):
    return np.iinfo(dtype).min if dtype.kind in "iu" else np.finfo(dtype).min


def _highest(dtype):
    return np.iinfo(dtype).max if dtype.kind in "iu" else np.finfo(dtype).max


def segment_max(data, segment_ids, num_segments=None, sorted=False):  # noqa: A002 (Keras' name)
    """``out[s] = max of data[i] with segment_ids[i] == s``; an empty segment holds the dtype's
    lowest value (TensorFlow's ``unsorted_segment_max``)."""
    return _segment_extreme(data, segment_ids, num_segments, sorted, np.maximum, _lowest, "segment_max")


def segment_min(data, segment_ids, num_segments=None, sorted=False):  # noqa: A002 (Keras' name)
    """``out[s] = min of data[i] with segment_ids[i] == s``; an empty segment holds the dtype's
    highest value."""
    return _segment_extreme(data, segment_ids, num_segments, sorted, np.minimum, _highest, "segment_min")


def segment_prod(data, segment_ids, num_segments=None, sorted=False):  # noqa: A002 (Keras' name)
    """``out[s] = product of data[i] with segment_ids[i] == s``; an empty segment holds 1."""
    return _segment_extreme(data, segment_ids, num_segments, sorted, np.multiply,
                            lambda dtype: 1, "segment_prod")
