"""Merging layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot (Keras'
``layers/merging``).

A merging layer is called on a LIST of tensors and returns one. Its ``forward(xs)`` takes the list;
its ``backward(dy)`` returns the list of gradients, one per input. ``input_shape`` is the list of
the inputs' shapes (no batch axis).
"""

from __future__ import annotations

import numbers

import numpy as np

from scratchnet import config, kernels
from scratchnet.layers.base import Layer, shape_matches

EPSILON = 1e-7  # keras.config.epsilon(): Dot(normalize=True)'s floor on 1/||x||


class Merge(Layer):
    """Base of the merging layers: the list protocol, building on a list of shapes."""

    min_inputs = 1

    def ensure_built(self, input_shape, rng=None):
        if not self.built:
            kind = type(self).__name__
            if not isinstance(input_shape, list | tuple) or not input_shape \
                    or not all(isinstance(s, tuple | list) for s in input_shape):
                raise ValueError(f"A `{kind}` layer should be called on a list of inputs. "
                                 f"Received: input_shape={input_shape}")
            if len(input_shape) < self.min_inputs:
                raise ValueError(f"A `{kind}` layer should be called on a list of at least "
                                 f"{self.min_inputs} inputs. Received: input_shape="
                                 f"{_batched(input_shape)}")
        return super().ensure_built(input_shape, rng)  # (Layer's: a list of shapes kept as one)

    def check_input(self, xs) -> None:
        if len(xs) != len(self.input_shape) or not all(
                shape_matches(x.shape[1:], s) for x, s in zip(xs, self.input_shape, strict=True)):
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: '
                             f"expected shape={_batched(self.input_shape)}, found "
                             f"shape={[tuple(x.shape) for x in xs]}")
        if len({x.shape[0] for x in xs}) > 1:
            raise ValueError("Cannot merge tensors with different batch sizes. Received tensors "
                             f"with shapes {[tuple(x.shape) for x in xs]}")

    def __call__(self, xs, training: bool = False):
        from scratchnet.layers.input_layer import call_symbolic, is_symbolic

        if is_symbolic(xs):
            return call_symbolic(self, xs)
        if not isinstance(xs, list | tuple):
            raise ValueError(f"A `{type(self).__name__}` layer should be called on a list of "
                             f"inputs. Received: inputs={xs!r}")
        xs = [np.asarray(x).astype(config.dtype(), copy=False) for x in xs]
        if not self.built:
            self.ensure_built([x.shape[1:] for x in xs])
        self.check_input(xs)
        return kernels.to_numpy(self.forward([kernels.to_backend(x) for x in xs], training))


class _Elementwise(Merge):
    """Inputs of one shape, or shapes that broadcast (a 1 against n), as Keras allows."""

    def build(self, input_shape, rng):
        out = input_shape[0]
        for shape in input_shape[1:]:
            out = _broadcast(out, shape)
        return out

    def _unbroadcast(self, grad, i: int):
        """Sum ``grad`` (output-shaped) over the axes input ``i`` was broadcast along."""
        shape = (grad.shape[0],) + tuple(self.input_shape[i])
        while grad.ndim > len(shape):
            grad = grad.sum(axis=1)
        for axis, n in enumerate(shape):
            if n == 1 and grad.shape[axis] != 1:
                grad = grad.sum(axis=axis, keepdims=True)
        return grad


class Add(_Elementwise):
    """``y = x_1 + x_2 + ... + x_k``. Backward: every input gets ``dy``."""

    def forward(self, xs, training=False):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out

    def backward(self, dy):
        return [self._unbroadcast(dy, i) for i in range(len(self.input_shape))]


class Subtract(_Elementwise):
    """``y = x_1 - x_2`` (exactly two inputs). Backward: ``dx_1 = dy``, ``dx_2 = -dy``."""

    min_inputs = 2

    def build(self, input_shape, rng):
        if len(input_shape) != 2:
            raise ValueError("A `Subtract` layer should be called on exactly 2 inputs. "
                             f"Received: input_shape={_batched(input_shape)}")
        return super().build(input_shape, rng)

    def forward(self, xs, training=False):
        return xs[0] - xs[1]

    def backward(self, dy):
        return [self._unbroadcast(dy, 0), self._unbroadcast(-dy, 1)]


class Multiply(_Elementwise):
    """``y = x_1 * x_2 * ... * x_k`` elementwise. Backward: ``dx_i = dy * prod_{j != i} x_j``."""

    def forward(self, xs, training=False):
        self.xs = xs
        out = xs[0]
        for x in xs[1:]:
            out = out * x
        return out

    def backward(self, dy):
        grads = []
        for i in range(len(self.xs)):
            g = dy
            for j, x in enumerate(self.xs):
                if j != i:
                    g = g * x
            grads.append(self._unbroadcast(g, i))
        return grads


class Average(_Elementwise):
    """``y = (x_1 + ... + x_k) / k``. Backward: every input gets ``dy / k``."""

    def forward(self, xs, training=False):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out / len(xs)

    def backward(self, dy):
        k = len(self.input_shape)
        return [self._unbroadcast(dy / k, i) for i in range(k)]


class Maximum(_Elementwise):
    """``y = max(x_1, ..., x_k)`` elementwise, taken pairwise left to right as Keras does.
    Backward: ``dy`` goes to the input that holds the maximum; on a tie, to the first of them
    (TensorFlow's ``maximum`` gradient takes ``x >= y`` for its first argument)."""

    pick = staticmethod(np.greater_equal)  # where the running result keeps its value
    combine = staticmethod(np.maximum)  # (a NaN on either side gives NaN, as in TensorFlow)

    def forward(self, xs, training=False):
        self.winner = np.zeros(np.broadcast_shapes(*(x.shape for x in xs)), dtype=np.int8)
        out = xs[0]
        for i, x in enumerate(xs[1:], start=1):
            keeps = self.pick(out, x)  # the running result wins its ties
            self.winner = np.where(keeps, self.winner, np.int8(i))
            out = self.combine(out, x)
        return out

    def backward(self, dy):
        zero = dy.dtype.type(0)
        return [self._unbroadcast(np.where(self.winner == i, dy, zero), i)
                for i in range(len(self.input_shape))]


class Minimum(Maximum):
    """``y = min(x_1, ..., x_k)`` elementwise; backward as :class:`Maximum`, ties to the first."""

    pick = staticmethod(np.less_equal)
    combine = staticmethod(np.minimum)


class Concatenate(Merge):
    """Join the inputs along ``axis`` (default -1, the features). All other axes must match.

    Input shapes ``(N, ..., d_i, ...)``; output ``(N, ..., sum_i d_i, ...)``.
    Backward: ``dy`` is cut back into the pieces, ``dx_i = dy[..., start_i:start_i + d_i, ...]``.
    """

    def __init__(self, axis: int = -1, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise ValueError(f"Concatenate: expected axis to be an integer, received {axis!r}")
        self.axis = int(axis)

    def build(self, input_shape, rng):
        rank = len(input_shape[0]) + 1  # with the batch axis
        error = ("A `Concatenate` layer requires inputs with matching shapes except for the "
                 f"concatenation axis. Received: input_shape={_batched(input_shape)}")
        if any(len(s) + 1 != rank for s in input_shape):
            raise ValueError(error)
        if not -rank <= self.axis < rank:
            raise ValueError(f"Concatenate: axis {self.axis} is out of range for inputs of rank "
                             f"{rank} (batch axis included): expected -{rank} <= axis < {rank}. "
                             f"Received: input_shape={_batched(input_shape)}")
        axis = self.axis % rank
        if axis == 0:
            raise ValueError(f"Concatenate: cannot concatenate along the batch axis (axis={self.axis})")
        self._axis = axis  # with the batch axis counted
        rest = {tuple(d for a, d in enumerate(s, start=1) if a != axis) for s in input_shape}
        if len(rest) != 1:
            raise ValueError(error)
        out = list(input_shape[0])
        out[axis - 1] = sum(s[axis - 1] for s in input_shape)
        return tuple(out)

    def forward(self, xs, training=False):
        return kernels.xp_of(xs[0]).concatenate(xs, axis=self._axis)

    def backward(self, dy):
        sizes = [s[self._axis - 1] for s in self.input_shape]
        cuts = np.cumsum(sizes)[:-1]
        return kernels.xp_of(dy).split(dy, cuts, axis=self._axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class Dot(Merge):
    """Keras' ``batch_dot``: for each sample, the dot product of ``x_1`` and ``x_2`` over
    ``axes`` (one int for both, or a pair). With ``normalize=True`` each input is first
    L2-normalized along its axis, ``x_hat = x * min(1/||x||, 1/eps)`` (cosine similarity).

    ``(N, d) . (N, d)`` gives ``(N, 1)``; ``(N, a, d) . (N, b, d)`` with ``axes=2`` gives
    ``(N, a, b)``: the remaining axes of ``x_1`` then those of ``x_2``.

    Forward, with both inputs' dot axes moved last and the rest flattened, ``X (N, P, d)``,
    ``Y (N, Q, d)``: ``out = X @ Y^T`` ``(N, P, Q)``. Backward: ``dX = dout @ Y``,
    ``dY = dout^T @ X``; through the normalization ``dx = r * (dx_hat - x_hat * sum(dx_hat * x_hat))``
    with ``r = 1/||x||`` (just ``dx_hat / eps`` where the floor is active).
    """

    min_inputs = 2

    def __init__(self, axes, normalize: bool = False, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        if isinstance(axes, bool) or not isinstance(axes, numbers.Integral | list | tuple):
            raise TypeError("Invalid type for argument `axes`: it should be a list or an int. "
                            f"Received: axes={axes}")
        if isinstance(axes, list | tuple):
            if len(axes) != 2:
                raise ValueError("Invalid format for argument `axes`: it should contain two "
                                 f"elements. Received: axes={axes}")
            if not all(isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in axes):
                raise ValueError("Invalid format for argument `axes`: list elements should be "
                                 f"integers. Received: axes={axes}")
        self.axes = axes if isinstance(axes, numbers.Integral) else list(axes)
        self.normalize = bool(normalize)

    def build(self, input_shape, rng):
        if len(input_shape) != 2:
            raise ValueError("A `Dot` layer should be called on a list of 2 inputs. "
                             f"Received: input_shape={_batched(input_shape)}")
        s1, s2 = (None,) + tuple(input_shape[0]), (None,) + tuple(input_shape[1])
        for a, s in zip([self.axes] * 2 if isinstance(self.axes, numbers.Integral) else self.axes,
                        (s1, s2), strict=True):
            if not -len(s) <= a < len(s):
                raise ValueError(f"Dot: axis {a} is out of range for an input of rank {len(s)} "
                                 f"(batch axis included): expected -{len(s)} <= axis < {len(s)}. "
                                 f"Full input shapes: {s1}, {s2}")
        if isinstance(self.axes, numbers.Integral):
            axes = [self.axes % len(s1), self.axes % len(s2)] if self.axes < 0 else [self.axes] * 2
        else:
            axes = [a % len(s) if a < 0 else a for a, s in zip(self.axes, (s1, s2), strict=True)]
        if 0 in axes:
            raise ValueError("Cannot perform batch_dot over axis 0 (the batch axis)")
        if s1[axes[0]] != s2[axes[1]]:
            raise ValueError(f"Incompatible input shapes: axis values {s1[axes[0]]} (at axis "
                             f"{axes[0]}) != {s2[axes[1]]} (at axis {axes[1]}). Full input "
                             f"shapes: {s1}, {s2}")
        self._axes = axes
        rest = [d for a, d in enumerate(s1[1:], 1) if a != axes[0]] + \
            [d for a, d in enumerate(s2[1:], 1) if a != axes[1]]
        return tuple(rest) if rest else (1,)

    def forward(self, xs, training=False):
        xp = kernels.xp_of(xs[0])
        self.moved = []  # each input with its dot axis last: (N, ..., d)
        self.inv_norms = []
        flat = []
        for x, axis in zip(xs, self._axes, strict=True):
            x = xp.moveaxis(x, axis, -1)  # (N, ..., d)
            inv = None
            if self.normalize:
                inv = xp.minimum(1.0 / xp.sqrt(xp.sum(x * x, axis=-1, keepdims=True)), 1.0 / EPSILON)
                x = x * inv
            self.moved.append(x)
            self.inv_norms.append(inv)
            flat.append(x.reshape(x.shape[0], -1, x.shape[-1]))  # (N, P, d)
        self.flat = flat
        out = flat[0] @ xp.swapaxes(flat[1], 1, 2)  # (N, P, Q)
        return out.reshape((out.shape[0],) + self.output_shape)

    def backward(self, dy):
        xp = kernels.xp_of(dy)
        n = dy.shape[0]
        x1, x2 = self.flat
        dout = dy.reshape(n, x1.shape[1], x2.shape[1])  # (N, P, Q)
        grads_flat = [dout @ x2, xp.swapaxes(dout, 1, 2) @ x1]  # (N, P, d), (N, Q, d)
        grads = []
        for g, moved, inv, axis in zip(grads_flat, self.moved, self.inv_norms, self._axes,
                                       strict=True):
            g = g.reshape(moved.shape)  # (N, ..., d)
            if inv is not None:  # back through x_hat = x * r
                active = inv < 1.0 / EPSILON
                along = g - moved * xp.sum(g * moved, axis=-1, keepdims=True)
                g = xp.where(active, inv * along, g / EPSILON)
            grads.append(xp.moveaxis(g, -1, axis))
        return grads

    def get_config(self):
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


def _broadcast(shape1, shape2) -> tuple:
    """Keras' elementwise merge shape: right-aligned, a 1 stretches to the other size."""
    if len(shape1) < len(shape2):
        shape1, shape2 = shape2, shape1
    out = list(shape1[:len(shape1) - len(shape2)])
    for a, b in zip(shape1[len(shape1) - len(shape2):], shape2, strict=True):
        if a != b and 1 not in (a, b):
            raise ValueError("Inputs have incompatible shapes. Received shapes "
                             f"{(None,) + tuple(shape1)} and {(None,) + tuple(shape2)}")
        out.append(b if a == 1 else a)  # (a size unknown until run time, None, against 1 stays None)
    return tuple(out)


def _batched(shapes) -> list:
    return [(None,) + tuple(s) for s in shapes]


# Keras' function forms (the functional-API guide writes ``layers.concatenate([a, b])``): each
# makes the layer and calls it on the list of inputs.
def add(inputs, **kwargs):
    """``Add(**kwargs)(inputs)``."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """``Subtract(**kwargs)(inputs)``."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """``Multiply(**kwargs)(inputs)``."""
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """``Average(**kwargs)(inputs)``."""
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis: int = -1, **kwargs):
    """``Concatenate(axis=axis, **kwargs)(inputs)``."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs, axes=-1, normalize: bool = False, **kwargs):
    """``Dot(axes=axes, normalize=normalize, **kwargs)(inputs)``."""
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)
