"""Layers that only move values around: UpSampling1D/2D/3D, ZeroPadding1D/2D/3D, Cropping1D/2D/3D,
RepeatVector and Permute (Keras' ``layers/reshaping``). None has a weight.

Each backward pass is the forward pass read backwards: where forward copies a value to several
places, backward adds the gradients of those places; where forward drops a value (cropping),
its gradient is 0; where forward adds zeros (padding), backward drops their gradients.
Shapes are channels-last, as everywhere in scratchnet: ``(N, steps, C)``, ``(N, H, W, C)`` and
``(N, D, H, W, C)``.
"""

from __future__ import annotations

import numbers

import numpy as np

from scratchnet.layers._args import channels_last, check_rank, positive_int
from scratchnet.layers.base import Layer
from scratchnet.layers.image_preprocessing import (
    _bilinear_matrix,
    resize_by_matrices,
    resize_by_matrices_backward,
)


class UpSampling1D(Layer):
    """``keras.layers.UpSampling1D(size=2)``: repeat each step ``size`` times along the time axis,
    ``(N, T, C) -> (N, T*size, C)``. Backward: each step's gradient is the sum over its copies."""

    def __init__(self, size: int = 2, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.size = positive_int(size, "size", f'UpSampling1D "{self.name}"')

    def build(self, input_shape, rng):
        check_rank(self.name, input_shape, "(batch, steps, channels)")
        steps, channels = input_shape
        return (None if steps is None else steps * self.size, channels)

    def forward(self, x, training=False):
        return np.repeat(x, self.size, axis=1)  # step t lands on t*size, ..., t*size + size-1

    def backward(self, dy):
        n, steps, channels = dy.shape
        return dy.reshape(n, steps // self.size, self.size, channels).sum(axis=2)

    def get_config(self):
        return {**super().get_config(), "size": self.size}


class UpSampling2D(Layer):
    """``keras.layers.UpSampling2D(size=(2, 2), interpolation="nearest")``: make each image
    ``size[0]`` times taller and ``size[1]`` times wider, ``(N, H, W, C) -> (N, H*s0, W*s1, C)``.

    ``"nearest"`` repeats each pixel into an ``s0 x s1`` block (Keras' ``ops.repeat``); backward sums
    each block's gradients. ``"bilinear"`` is Resizing's bilinear formula to ``(H*s0, W*s1)``
    (TensorFlow's ``tf.image.resize`` without antialiasing, as Keras calls it), written as one matrix
    per axis, ``y[n] = A_h @ x[n] @ A_w^T``; backward is ``A_h^T @ dy[n] @ A_w``. Keras' other
    interpolations (bicubic, lanczos, ...) are not implemented and raise an error.
    """

    INTERPOLATIONS = ("nearest", "bilinear")

    def __init__(self, size=(2, 2), data_format=None, interpolation: str = "nearest",
                 name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        where = f'UpSampling2D "{self.name}"'
        self.size = _int_tuple(size, 2, "size", where, minimum=1)
        self.data_format = channels_last(data_format, where)
        if not isinstance(interpolation, str) or interpolation.lower() not in self.INTERPOLATIONS:
            raise ValueError(f"{where}: expected interpolation to be one of {self.INTERPOLATIONS} "
                             f"(scratchnet implements these of Keras' choices), received "
                             f"interpolation={interpolation!r}")
        self.interpolation = interpolation.lower()
        self.a_h = self.a_w = None  # bilinear: the (H*s0, H) and (W*s1, W) matrices

    def build(self, input_shape, rng):
        check_rank(self.name, input_shape, "(batch, height, width, channels)")
        height, width, channels = input_shape  # None: images of any size
        if self.interpolation == "bilinear" and None not in (height, width):
            self._bilinear_plan(height, width)
        return (*(None if n is None else n * s for n, s in zip((height, width), self.size, strict=True)),
                channels)

    def _bilinear_plan(self, height: int, width: int) -> None:
        """The two bilinear matrices for ``(height, width)`` images (again for each new size)."""
        self.a_h = _bilinear_matrix(height, height * self.size[0])
        self.a_w = _bilinear_matrix(width, width * self.size[1])

    def forward(self, x, training=False):
        if self.interpolation == "bilinear":
            if self.a_h is None or (self.a_h.shape[1], self.a_w.shape[1]) != x.shape[1:3]:
                self._bilinear_plan(*x.shape[1:3])  # (built with None there)
            return resize_by_matrices(x, kernels_array(self.a_h, x), kernels_array(self.a_w, x))
        return np.repeat(np.repeat(x, self.size[0], axis=1), self.size[1], axis=2)

    def backward(self, dy):
        if self.interpolation == "bilinear":
            return resize_by_matrices_backward(dy, kernels_array(self.a_h, dy),
                                               kernels_array(self.a_w, dy))
        n, height, width, channels = dy.shape
        s0, s1 = self.size
        blocks = dy.reshape(n, height // s0, s0, width // s1, s1, channels)
        return blocks.sum(axis=(2, 4))  # each pixel: the sum over its s0 x s1 block

    def get_config(self):
        return {**super().get_config(), "size": tuple(self.size), "data_format": self.data_format,
                "interpolation": self.interpolation}


class ZeroPadding1D(Layer):
    """``keras.layers.ZeroPadding1D(padding=1)``: add ``padding[0]`` zero steps before and
    ``padding[1]`` after (an int pads both sides alike). Backward: the middle of ``dy``."""

    def __init__(self, padding=1, data_format=None, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        where = f'ZeroPadding1D "{self.name}"'
        self.padding = _int_tuple(padding, 2, "padding", where, minimum=0)
        self.data_format = channels_last(data_format, where)

    def build(self, input_shape, rng):
        check_rank(self.name, input_shape, "(batch, steps, channels)")
        steps = input_shape[0]
        return (None if steps is None else steps + sum(self.padding), input_shape[1])

    def forward(self, x, training=False):
        return np.pad(x, ((0, 0), self.padding, (0, 0)))

    def backward(self, dy):
        before, after = self.padding
        return dy[:, before:dy.shape[1] - after]

    def get_config(self):
        return {**super().get_config(), "padding": tuple(self.padding), "data_format": self.data_format}


class ZeroPadding2D(Layer):
    """``keras.layers.ZeroPadding2D(padding=(1, 1))``: a border of zeros around each image.
    ``padding`` is an int (every side), ``(rows, cols)`` (top and bottom get ``rows``, left and right
    ``cols``) or ``((top, bottom), (left, right))``. Backward: the middle of ``dy``."""

    def __init__(self, padding=(1, 1), data_format=None, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        where = f'ZeroPadding2D "{self.name}"'
        self.padding = _two_sides_per_axis(padding, "padding", where)
        self.data_format = channels_last(data_format, where)

    def build(self, input_shape, rng):
        check_rank(self.name, input_shape, "(batch, height, width, channels)")
        (top, bottom), (left, right) = self.padding
        height, width, channels = input_shape  # None: images of any size, None out
        return (None if height is None else height + top + bottom,
                None if width is None else width + left + right, channels)

    def forward(self, x, training=False):
        return np.pad(x, ((0, 0), *self.padding, (0, 0)))

    def backward(self, dy):
        (top, bottom), (left, right) = self.padding
        return dy[:, top:dy.shape[1] - bottom, left:dy.shape[2] - right]

    def get_config(self):
        return {**super().get_config(), "padding": tuple(tuple(p) for p in self.padding),
                "data_format": self.data_format}


class Cropping1D(Layer):
    """``keras.layers.Cropping1D(cropping=(1, 1))``: drop ``cropping[0]`` steps at the start and
    ``cropping[1]`` at the end. Backward: ``dy`` in the middle, zeros for the dropped steps."""

    def __init__(self, cropping=(1, 1), name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.cropping = _int_tuple(cropping, 2, "cropping", f'Cropping1D "{self.name}"', minimum=0)

    def build(self, input_shape, rng):
        check_rank(self.name, input_shape, "(batch, steps, channels)")
        self._check_size(input_shape)  # None: any number of steps, checked batch by batch
        steps = None if input_shape[0] is None else input_shape[0] - sum(self.cropping)
        return (steps, input_shape[1])

    def _check_size(self, shape) -> None:
        if shape[0] is not None and shape[0] - sum(self.cropping) <= 0:
            raise ValueError(f'Cropping1D "{self.name}": cropping={self.cropping} must leave at '
                             f"least one step, received input shape {(None, *shape)}")

    def forward(self, x, training=False):
        self._check_size(x.shape[1:])
        start, end = self.cropping
        return x[:, start:x.shape[1] - end]

    def backward(self, dy):
        return np.pad(dy, ((0, 0), self.cropping, (0, 0)))

    def get_config(self):
        return {**super().get_config(), "cropping": tuple(self.cropping)}


class Cropping2D(Layer):
    """``keras.layers.Cropping2D(cropping=((0, 0), (0, 0)))``: cut a border off each image;
    ``cropping`` takes ZeroPadding2D's three forms. Backward: ``dy`` padded back with zeros."""

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, name: str | None = None,
                 **kwargs):
        super().__init__(name=name, **kwargs)
        where = f'Cropping2D "{self.name}"'
        self.cropping = _two_sides_per_axis(cropping, "cropping", where)
        self.data_format = channels_last(data_format, where)

    def build(self, input_shape, rng):
        check_rank(self.name, input_shape, "(batch, height, width, channels)")
        (top, bottom), (left, right) = self.cropping
        height, width, channels = input_shape  # None: images of any size, checked batch by batch
        self._check_size(input_shape)
        return (None if height is None else height - top - bottom,
                None if width is None else width - left - right, channels)

    def _check_size(self, shape) -> None:
        (top, bottom), (left, right) = self.cropping
        height, width, _ = shape
        if (height is not None and height - top - bottom <= 0) or \
                (width is not None and width - left - right <= 0):
            raise ValueError(f'Cropping2D "{self.name}": cropping={self.cropping} must leave at '
                             f"least one row and one column, received input shape "
                             f"{(None, *shape)}")

    def forward(self, x, training=False):
        self._check_size(x.shape[1:])
        (top, bottom), (left, right) = self.cropping
        return x[:, top:x.shape[1] - bottom, left:x.shape[2] - right]

    def backward(self, dy):
        return np.pad(dy, ((0, 0), *self.cropping, (0, 0)))

    def get_config(self):
        return {**super().get_config(), "cropping": tuple(tuple(c) for c in self.cropping),
                "data_format": self.data_format}


class UpSampling3D(Layer):
    """``keras.layers.UpSampling3D(size=(2, 2, 2))``: repeat each voxel of ``(N, D, H, W, C)`` into
    an ``s0 x s1 x s2`` block (Keras' ``ops.repeat`` along each axis, nearest neighbour only),
    ``-> (N, D*s0, H*s1, W*s2, C)``. Backward: each voxel's gradient is the sum over its block."""

    def __init__(self, size=(2, 2, 2), data_format=None, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        where = f'UpSampling3D "{self.name}"'
        self.size = _int_tuple(size, 3, "size", where, minimum=1)
        self.data_format = channels_last(data_format, where)

    def build(self, input_shape, rng):
        check_rank(self.name, input_shape, "(batch, depth, height, width, channels)")
        *spatial, channels = input_shape
        return (*(None if n is None else n * s for n, s in zip(spatial, self.size, strict=True)),
                channels)

    def forward(self, x, training=False):
        for axis, s in enumerate(self.size, start=1):
            x = np.repeat(x, s, axis=axis)  # cell t lands on t*s, ..., t*s + s-1
        return x

    def backward(self, dy):
        n, depth, height, width, channels = dy.shape
        s0, s1, s2 = self.size
        blocks = dy.reshape(n, depth // s0, s0, height // s1, s1, width // s2, s2, channels)
        return blocks.sum(axis=(2, 4, 6))  # each voxel: the sum over its s0 x s1 x s2 block

    def get_config(self):
        return {**super().get_config(), "size": tuple(self.size), "data_format": self.data_format}


class ZeroPadding3D(Layer):
    """``keras.layers.ZeroPadding3D(padding=((1, 1), (1, 1), (1, 1)))``: zeros around each volume.
    ``padding`` is an int (every side), ``(d, h, w)`` (both sides of each axis alike) or
    ``((front, back), (top, bottom), (left, right))``. Backward: the middle of ``dy``."""

    def __init__(self, padding=((1, 1), (1, 1), (1, 1)), data_format=None, name: str | None = None,
                 **kwargs):
        super().__init__(name=name, **kwargs)
        where = f'ZeroPadding3D "{self.name}"'
        self.padding = _sides_per_axis(padding, 3, "padding", where)
        self.data_format = channels_last(data_format, where)

    def build(self, input_shape, rng):
        check_rank(self.name, input_shape, "(batch, depth, height, width, channels)")
        *spatial, channels = input_shape
        return (*(None if n is None else n + sum(p) for n, p in zip(spatial, self.padding, strict=True)),
                channels)

    def forward(self, x, training=False):
        return np.pad(x, ((0, 0), *self.padding, (0, 0)))

    def backward(self, dy):
        return dy[(slice(None), *(slice(before, n - after) for (before, after), n
                                  in zip(self.padding, dy.shape[1:4], strict=True)))]

    def get_config(self):
        return {**super().get_config(), "padding": tuple(tuple(p) for p in self.padding),
                "data_format": self.data_format}


class Cropping3D(Layer):
    """``keras.layers.Cropping3D(cropping=((1, 1), (1, 1), (1, 1)))``: cut a border off each volume;
    ``cropping`` takes ZeroPadding3D's three forms. Backward: ``dy`` padded back with zeros."""

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), data_format=None, name: str | None = None,
                 **kwargs):
        super().__init__(name=name, **kwargs)
        where = f'Cropping3D "{self.name}"'
        self.cropping = _sides_per_axis(cropping, 3, "cropping", where)
        self.data_format = channels_last(data_format, where)

    def build(self, input_shape, rng):
        check_rank(self.name, input_shape, "(batch, depth, height, width, channels)")
        *spatial, channels = input_shape
        if any(n is not None and sum(c) >= n for n, c in zip(spatial, self.cropping, strict=True)):
            raise ValueError(f'Cropping3D "{self.name}": values in cropping should be smaller than the '
                             f"corresponding spatial dimension of the input (cropping must leave at "
                             f"least one cell along each axis); received cropping={self.cropping}, "
                             f"input shape {(None, *input_shape)}")
        return (*(None if n is None else n - sum(c) for n, c in zip(spatial, self.cropping, strict=True)),
                channels)

    def forward(self, x, training=False):
        return x[(slice(None), *(slice(before, n - after) for (before, after), n
                                 in zip(self.cropping, x.shape[1:4], strict=True)))]

    def backward(self, dy):
        return np.pad(dy, ((0, 0), *self.cropping, (0, 0)))

    def get_config(self):
        return {**super().get_config(), "cropping": tuple(tuple(c) for c in self.cropping),
                "data_format": self.data_format}


class RepeatVector(Layer):
    """``keras.layers.RepeatVector(n)``: ``(N, F) -> (N, n, F)``, the same vector at every step (an
    encoder's summary handed to each step of a decoder). Backward: the sum over the ``n`` steps."""

    def __init__(self, n: int, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.n = positive_int(n, "n", f'RepeatVector "{self.name}"')

    def build(self, input_shape, rng):
        check_rank(self.name, input_shape, "(batch, features)")
        return (self.n, input_shape[0])

    def forward(self, x, training=False):
        return np.repeat(x[:, None, :], self.n, axis=1)

    def backward(self, dy):
        return dy.sum(axis=1)

    def get_config(self):
        return {**super().get_config(), "n": self.n}


class Permute(Layer):
    """``keras.layers.Permute(dims)``: reorder the axes of each sample; ``dims`` counts from 1 (the
    batch axis stays first), so ``Permute((2, 1))`` swaps steps and channels. Backward: ``dy`` put
    back by the inverse permutation."""

    def __init__(self, dims, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        if not isinstance(dims, tuple | list) or not all(
                isinstance(d, numbers.Integral) and not isinstance(d, bool) for d in dims) \
                or sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(f'Permute "{self.name}": expected dims to be a permutation of '
                             f"1, ..., rank (the batch axis, 0, is not permuted), received "
                             f"dims={dims!r}")
        self.dims = tuple(int(d) for d in dims)

    def build(self, input_shape, rng):
        check_rank(self.name, input_shape, "(batch" + ", axis" * len(self.dims) + ")")
        return tuple(input_shape[d - 1] for d in self.dims)

    def forward(self, x, training=False):
        return np.transpose(x, (0, *self.dims))

    def backward(self, dy):
        return np.transpose(dy, np.argsort((0, *self.dims)))

    def get_config(self):
        return {**super().get_config(), "dims": tuple(self.dims)}


# ------------------------------------------------------------------------------------- helpers
def kernels_array(matrix: np.ndarray, like):
    """``matrix`` where ``like`` lives (a CuPy array on the GPU backend), in ``like``'s type."""
    from scratchnet import kernels

    return kernels.xp_of(like).asarray(matrix)  # (resize_by_matrices casts it to like's type)


def _int_tuple(value, n: int, arg: str, where: str, minimum: int) -> tuple[int, ...]:
    """An int (used for every entry) or ``n`` ints, each ``>= minimum``, as a tuple."""
    values = (value,) * n if isinstance(value, numbers.Integral) and not isinstance(value, bool) \
        else value
    if not isinstance(values, tuple | list) or len(values) != n or not all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= minimum
            for v in values):
        raise ValueError(f"{where}: expected {arg} to be an integer >= {minimum} or a tuple of {n} "
                         f"such integers, received {arg}={value!r}")
    return tuple(int(v) for v in values)


def _two_sides_per_axis(value, arg: str, where: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """ZeroPadding2D/Cropping2D's ``int | (rows, cols) | ((top, bottom), (left, right))``."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value, value)
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise ValueError(f"{where}: expected {arg} to be an int, a tuple of 2 ints or a tuple of 2 "
                         f"tuples of 2 ints ((top, bottom), (left, right)), received {arg}={value!r}")
    return (_int_tuple(value[0], 2, f"{arg}[0]", where, minimum=0),
            _int_tuple(value[1], 2, f"{arg}[1]", where, minimum=0))


def _sides_per_axis(value, n: int, arg: str, where: str) -> tuple[tuple[int, int], ...]:
    """ZeroPadding3D/Cropping3D's ``int | (d, h, w) | ((front, back), (top, bottom), (left, right))``
    for ``n`` axes: each axis's ``(before, after)``, integers >= 0."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value,) * n
    if not isinstance(value, tuple | list) or len(value) != n:
        raise ValueError(f"{where}: expected {arg} to be an int, a tuple of {n} ints or a tuple of "
                         f"{n} tuples of 2 ints ((front, back), (top, bottom), (left, right)), "
                         f"received {arg}={value!r}")
    return tuple(_int_tuple(v, 2, f"{arg}[{axis}]", where, minimum=0) for axis, v in enumerate(value))
class _BlockShuffle(Layer):
    """What ``ops.depth_to_space`` (:class:`DepthToSpace`) and ``ops.space_to_depth``
    (:class:`SpaceToDepth`) record on a KerasTensor in a functional graph or a traced ``call``:
    Keras' pixel shuffle, the sub-pixel convolution's last step (ESPCN). Not public layers: Keras
    records the op itself, under the op's name, which these default names are.

    depth_to_space, ``b = block_size``: ``(N, H, W, C*b*b) -> (N, H*b, W*b, C)``::

        y[n, i*b + p, j*b + q, c] = x[n, i, j, (p*b + q)*C + c]

    (Keras' reshape to ``(N, H, W, b, b, C)``, transpose to ``(N, H, b, W, b, C)``, reshape;
    TensorFlow's "DCR" order.) space_to_depth is the same map read the other way. Each moves every
    value once, so each one's backward is the other applied to ``dy``. Sizes of any image
    (``None``) stay ``None``.
    """

    inverse = False
    keras_module = "keras.src.ops.nn"  # where Keras' file says the op's class lives

    def __init__(self, block_size: int, data_format=None, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.block_size = positive_int(block_size, "block_size", f"ops.{self.name}")
        self.data_format = channels_last(data_format, f"ops.{self.name}")

    def build(self, input_shape, rng):
        check_rank(self.name, input_shape, "(batch, height, width, channels)")
        h, w, c = input_shape
        b = self.block_size
        if self.inverse:
            return (None if h is None else h // b, None if w is None else w // b, c * b * b)
        if c % (b * b):
            raise ValueError(f"The number of channels ({c}) must be divisible by block_size**2 ({b * b}).")
        return (None if h is None else h * b, None if w is None else w * b, c // (b * b))

    def forward(self, x, training=False):
        return (space_to_depth if self.inverse else depth_to_space)(x, self.block_size)

    def backward(self, dy):
        return (depth_to_space if self.inverse else space_to_depth)(dy, self.block_size)

    def get_config(self):
        return {**super().get_config(), "block_size": self.block_size, "data_format": self.data_format}

    def keras_saved_config(self, config: dict) -> dict:
        """Keras' op config: its name, block_size and data_format (no trainable, no dtype)."""
        return {"name": config["name"], "block_size": self.block_size, "data_format": self.data_format}


class DepthToSpace(_BlockShuffle):
    """``ops.depth_to_space`` in a graph: ``(N, H, W, C*b*b) -> (N, H*b, W*b, C)``."""


class SpaceToDepth(_BlockShuffle):
    """``ops.space_to_depth`` in a graph: ``(N, H, W, C) -> (N, H/b, W/b, C*b*b)``."""

    inverse = True


def depth_to_space(x: np.ndarray, b: int) -> np.ndarray:
    """``(N, H, W, C*b*b) -> (N, H*b, W*b, C)``, as Keras' NumPy backend computes it."""
    n, h, w, c = x.shape
    blocks = x.reshape(n, h, w, b, b, c // (b * b))  # (N, H, W, b, b, C)
    return blocks.transpose(0, 1, 3, 2, 4, 5).reshape(n, h * b, w * b, c // (b * b))  # (N, H, b, W, b, C)


def space_to_depth(x: np.ndarray, b: int) -> np.ndarray:
    """``(N, H, W, C) -> (N, H/b, W/b, C*b*b)``, depth_to_space's inverse (Keras' NumPy backend)."""
    n, h, w, c = x.shape
    if h % b or w % b:
        raise ValueError(f"space_to_depth: the input's height {h} and width {w} must be multiples of "
                         f"block_size={b}")
    blocks = x.reshape(n, h // b, b, w // b, b, c)  # (N, H/b, b, W/b, b, C)
    return blocks.transpose(0, 1, 3, 2, 4, 5).reshape(n, h // b, w // b, c * b * b)  # (N, H/b, W/b, b, b, C)
