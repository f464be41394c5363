"""Keras 3.15's random image augmentation layers: RandomFlip, RandomRotation, RandomZoom,
RandomTranslation, RandomContrast, RandomBrightness, RandomCrop.

Each one is active only in training (``forward(x, training=True)``) and returns ``x`` unchanged
at inference, so ``predict`` and ``evaluate`` see the real images (RandomCrop, whose output is
smaller, crops the centre there instead). In training it draws one
random transformation per image from its own seeded Generator (``seed``, or drawn from the
model's seed in ``build``, like Dropout), so every step sees new draws and a run is repeatable.

Each step is split as in Keras, so a learner (and a test) can fix the draw:
``get_random_transformation(images)`` returns a dict with Keras' keys (``"flips"``, ``"angle"``,
``"height_zoom"``, ``"translations"``, ``"contrast_factor"``, ``"rgb_delta"``) and
``transform_images(images, transformation)`` applies it. The geometric layers build an affine
transform per image and sample the image through it: the NumPy in
:mod:`scratchnet.kernels.image_transform` (inverse mapping, fill mode, bilinear sampling).

Like Keras' layers, calling one directly (``layer(x)``) augments: Keras' ``call`` defaults to
``training=True``. Data is channels-last ``(N, H, W, C)``. Called on Keras' dict
``{"images", "labels", "bounding_boxes", "segmentation_masks"}`` a layer moves every part with
one draw (:mod:`scratchnet.layers.augmentation_data`; the box maths in
:mod:`scratchnet.layers.augmentation_boxes`).
"""

from __future__ import annotations

import numbers

import numpy as np

from scratchnet import kernels
from scratchnet.kernels import image_transform as it
from scratchnet.layers import augmentation_boxes as boxes
from scratchnet.layers._args import channels_last, check_rank, positive_int
from scratchnet.layers.augmentation_data import ImageDataParts, call_on_dict, check_bounding_box_format
from scratchnet.layers.base import Layer
from scratchnet.layers.image_preprocessing import (
    _bilinear_matrix,
    _crop_window,
    resize_by_matrices,
    resize_by_matrices_backward,
)

FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")


def call_default_training(x, training: bool | None) -> bool | None:
    """``training`` for a layer whose Keras ``call`` defaults to ``training=True`` (augmentation,
    Pipeline): True on arrays when not given; on KerasTensors (or while a ``call`` is traced)
    what was written, None meaning "the model's mode"."""
    from scratchnet.layers.input_layer import is_symbolic, tracing

    if training is None and not is_symbolic(x) and not tracing():
        return True
    return training


class _RandomImageLayer(ImageDataParts, Layer):
    """What the six layers share: the seeded Generator, the rank check, identity at inference,
    and the split of ``forward`` into a random draw and a deterministic transform; and Keras'
    dict inputs (:mod:`scratchnet.layers.augmentation_data`), with ``bounding_box_format``."""

    def __init__(self, seed: int | None = None, data_format: str | None = None,
                 name: str | None = None, bounding_box_format: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.where = f"{type(self).__name__} {self.name!r}"
        self.bounding_box_format = check_bounding_box_format(bounding_box_format, self.where)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise ValueError(f"{self.where}: expected seed to be an integer or None, "
                             f"received {seed!r}")
        self.seed = None if seed is None else int(seed)
        self.data_format = channels_last(data_format, self.where)
        self.rng: np.random.Generator | None = None
        self.transformation: dict | None = None  # the last draw applied (None at inference)

    def build(self, input_shape, rng):
        check_rank(self.name, input_shape, "(batch, height, width, channels)")
        self.rng = self.random_generator(rng)
        return tuple(input_shape)

    def __call__(self, x, training: bool | None = None):
        """``layer(x)`` on arrays augments, as in Keras (its ``call`` defaults to
        ``training=True``); ``layer({"images": ..., ...})`` transforms every part alike. On a
        KerasTensor, without ``training=`` written in the call, the model's mode decides at each
        run (Keras: the outer call's ``training`` wins over the signature's default), so
        ``predict`` and ``evaluate`` leave the images as they are."""
        if isinstance(x, dict):
            return call_on_dict(self, x, training=bool(call_default_training(x, training)))
        return super().__call__(x, training=call_default_training(x, training))

    def forward(self, x, training=False):
        if not training:
            self.transformation = None
            return x
        host = kernels.to_numpy(x)  # the transforms are NumPy; a GPU batch comes back after
        transformation = self.get_random_transformation(host, training=True)
        y = self.transform_images(host, transformation, training=True)
        return kernels.to_backend(y) if kernels.is_device_array(x) else y

    def backward(self, dy):
        if self.transformation is None:
            return dy
        dx = self.backward_images(kernels.to_numpy(dy))
        return kernels.to_backend(dx) if kernels.is_device_array(dy) else dx

    # --- what each layer defines -------------------------------------------------------------
    def get_random_transformation(self, images: np.ndarray, training: bool = True) -> dict | None:
        raise NotImplementedError

    def transform_images(self, images: np.ndarray, transformation: dict | None,
                         training: bool = True) -> np.ndarray:
        raise NotImplementedError

    def backward_images(self, dy: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def get_config(self):
        return {**super().get_config(), "seed": self.seed, "data_format": self.data_format,
                **self.box_config()}


class RandomFlip(_RandomImageLayer):
    """Flip each image with probability 1/2, as ``keras.layers.RandomFlip``.

    ``mode``: ``"horizontal"`` (left-right, ``y[n, i, j] = x[n, i, W-1-j]``), ``"vertical"``
    (top-bottom, ``y[n, i, j] = x[n, H-1-i, j]``) or ``"horizontal_and_vertical"`` (the default).
    One draw per image, ``flip = u <= 0.5`` with ``u ~ U[0, 1)``; in
    ``"horizontal_and_vertical"`` mode the same draw flips both axes, so an image is either
    turned by 180 degrees or left alone (Keras 3 does this; Keras 2 drew each axis apart).

    Input and output ``(N, H, W, C)``. Backward: the same flip of ``dy`` (a flip is its own
    transpose).
    """

    def __init__(self, mode: str = "horizontal_and_vertical", seed: int | None = None,
                 data_format: str | None = None, name: str | None = None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, name=name, **kwargs)
        if mode not in FLIP_MODES:
            raise ValueError(f"{self.where}: expected mode to be one of {FLIP_MODES}, "
                             f"received {mode!r}")
        self.mode = mode

    def get_random_transformation(self, images, training=True):
        if not training:
            return None
        u = self.rng.random((len(images), 1, 1, 1))
        return {"flips": u <= 0.5}  # (N, 1, 1, 1) bool

    def transform_images(self, images, transformation, training=True):
        self.transformation = transformation if training else None
        if self.transformation is None:
            return images
        return self._flip(images, np.asarray(transformation["flips"], dtype=bool))

    def _flip(self, images, flips):
        out = images
        if self.mode in ("horizontal", "horizontal_and_vertical"):
            out = np.where(flips, out[:, :, ::-1, :], out)  # columns reversed where flips
        if self.mode in ("vertical", "horizontal_and_vertical"):
            out = np.where(flips, out[:, ::-1, :, :], out)  # rows reversed where flips
        return out

    def backward_images(self, dy):
        return self._flip(dy, np.asarray(self.transformation["flips"], dtype=bool))

    def transform_segmentation_masks(self, segmentation_masks, transformation, training=True):
        """The image's flips."""
        if not training or transformation is None:
            return segmentation_masks
        return self._flip(segmentation_masks, np.asarray(transformation["flips"], dtype=bool))

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True):
        """The image's flips (:func:`~scratchnet.layers.augmentation_boxes.flip_boxes`)."""
        if not training or transformation is None:
            return bounding_boxes
        return boxes.flip_boxes(bounding_boxes, transformation["flips"], self.mode,
                                self.bounding_box_format, *self.box_image_size(transformation))

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


class _AffineLayer(_RandomImageLayer):
    """Rotation, zoom and translation: an affine transform per image, then sampling
    (:mod:`scratchnet.kernels.image_transform`). Backward: the transpose of the sampling."""

    def __init__(self, fill_mode: str = "reflect", interpolation: str = "bilinear",
                 seed: int | None = None, fill_value: float = 0.0, data_format: str | None = None,
                 name: str | None = None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, name=name, **kwargs)
        if fill_mode not in it.FILL_MODES:
            raise ValueError(f"{self.where}: expected fill_mode to be one of {it.FILL_MODES}, "
                             f"received {fill_mode!r}")
        if interpolation not in it.INTERPOLATIONS:
            raise ValueError(f"{self.where}: expected interpolation to be one of "
                             f"{it.INTERPOLATIONS}, received {interpolation!r}")
        if isinstance(fill_value, bool) or not isinstance(fill_value, numbers.Real):
            raise ValueError(f"{self.where}: expected fill_value to be a number, "
                             f"received {fill_value!r}")
        self.fill_mode = fill_mode
        self.interpolation = interpolation
        self.fill_value = fill_value
        self.plan: it.Sampling | None = None

    def affine_transforms(self, transformation: dict, images: np.ndarray) -> np.ndarray:
        """The ``(N, 8)`` transforms of a draw (each layer's own formula)."""
        raise NotImplementedError

    def transform_images(self, images, transformation, training=True):
        self.transformation = transformation if training else None
        if self.transformation is None:
            self.plan = None
            return images
        transforms = self.affine_transforms(transformation, images)  # (N, 8)
        self.plan = it.sampling(transforms, images.shape, self.interpolation, self.fill_mode)
        return it.sample(images, self.plan, self.fill_value)

    def backward_images(self, dy):
        return it.sample_backward(dy, self.plan)

    def transform_segmentation_masks(self, segmentation_masks, transformation, training=True):
        """The image's map, sampled with "nearest" (Keras' default for masks: a mask keeps its
        label values), the layer's fill_mode and fill_value."""
        if not training or transformation is None:
            return segmentation_masks
        masks = np.asarray(segmentation_masks)
        plan = it.sampling(self.affine_transforms(transformation, masks), masks.shape, "nearest",
                           self.fill_mode)
        return it.sample(masks.astype(np.float32), plan, self.fill_value).astype(masks.dtype)

    def get_config(self):
        return {**super().get_config(), "fill_mode": self.fill_mode,
                "interpolation": self.interpolation, "fill_value": self.fill_value}


class RandomRotation(_AffineLayer):
    """Rotate each image by a random angle about its centre, as ``keras.layers.RandomRotation``.

    ``factor``: a fraction of a full turn; a number ``f`` means ``(-|f|, |f|)``, a pair
    ``(lower, upper)`` is used as given (sorted). Each image turns by
    ``angle = U[lower, upper) * 360`` degrees, positive counter-clockwise;
    ``RandomRotation((a, a))`` always turns by ``360 a``. The output pixel ``(x, y)`` reads the
    input at (:func:`~scratchnet.kernels.image_transform.rotation_transforms`)::

        x_in = cos θ · (x - cx) - sin θ · (y - cy) + cx,   cx = (W - 1) / 2
        y_in = sin θ · (x - cx) + cos θ · (y - cy) + cy,   cy = (H - 1) / 2

    then ``fill_mode`` ("reflect" by default, "wrap", "constant" with ``fill_value``,
    "nearest") and ``interpolation`` ("bilinear" by default, "nearest").
    Input and output ``(N, H, W, C)``. Backward: the transpose of the sampling.
    """

    def __init__(self, factor, fill_mode: str = "reflect", interpolation: str = "bilinear",
                 seed: int | None = None, fill_value: float = 0.0, data_format: str | None = None,
                 name: str | None = None, **kwargs):
        super().__init__(fill_mode=fill_mode, interpolation=interpolation, seed=seed,
                         fill_value=fill_value, data_format=data_format, name=name, **kwargs)
        self.factor = _base_factor(factor, (-1, 1), "factor", self.where)

    def get_random_transformation(self, images, training=True):
        if not training:
            return None
        lower, upper = self.factor
        angle = self.rng.uniform(lower * 360.0, upper * 360.0, size=len(images))
        return {"angle": angle.astype(np.float32)}  # (N,) degrees

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True):
        """The corners turned with the image
        (:func:`~scratchnet.layers.augmentation_boxes.rotate_boxes`)."""
        if not training or transformation is None:
            return bounding_boxes
        return boxes.rotate_boxes(bounding_boxes, transformation["angle"], self.bounding_box_format,
                                  *self.box_image_size(transformation))

    def affine_transforms(self, transformation, images):
        _, h, w, _ = images.shape
        return it.rotation_transforms(transformation["angle"], h, w)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


class RandomZoom(_AffineLayer):
    """Zoom each image in or out about its centre, as ``keras.layers.RandomZoom``.

    ``height_factor``, ``width_factor``: a number ``f`` means ``(-|f|, |f|)``, a pair
    ``(lower, upper)`` is used as given (sorted); each value in ``(-1, 1]``. Each image draws
    ``zy = 1 + U[lower, upper)`` (and ``zx`` from ``width_factor``; ``width_factor=None`` keeps
    the aspect ratio: ``zx = zy``). A positive factor zooms *out* (the picture shrinks), a
    negative one in. The output pixel ``(x, y)`` reads the input at
    (:func:`~scratchnet.kernels.image_transform.zoom_transforms`)::

        x_in = zx · x + (W - 1) / 2 · (1 - zx),   y_in = zy · y + (H - 1) / 2 · (1 - zy)

    then ``fill_mode`` and ``interpolation`` as in :class:`RandomRotation`.
    Input and output ``(N, H, W, C)``. Backward: the transpose of the sampling.
    """

    def __init__(self, height_factor, width_factor=None, fill_mode: str = "reflect",
                 interpolation: str = "bilinear", seed: int | None = None,
                 fill_value: float = 0.0, data_format: str | None = None,
                 name: str | None = None, **kwargs):
        super().__init__(fill_mode=fill_mode, interpolation=interpolation, seed=seed,
                         fill_value=fill_value, data_format=data_format, name=name, **kwargs)
        self.height_factor = _as_given(height_factor)
        self.height_lower, self.height_upper = _symmetric_factor(
            height_factor, "height_factor", self.where, include_minus_one=False)
        self.width_factor = _as_given(width_factor)
        if width_factor is not None:
            self.width_lower, self.width_upper = _symmetric_factor(
                width_factor, "width_factor", self.where, include_minus_one=False)

    def get_random_transformation(self, images, training=True):
        if not training:
            return None
        n = len(images)
        height_zoom = self.rng.uniform(1.0 + self.height_lower, 1.0 + self.height_upper, (n, 1))
        if self.width_factor is None:
            width_zoom = height_zoom
        else:
            width_zoom = self.rng.uniform(1.0 + self.width_lower, 1.0 + self.width_upper, (n, 1))
        return {"height_zoom": height_zoom.astype(np.float32),
                "width_zoom": width_zoom.astype(np.float32)}  # (N, 1) each

    def affine_transforms(self, transformation, images):
        _, h, w, _ = images.shape
        zooms = np.concatenate([transformation["width_zoom"], transformation["height_zoom"]],
                               axis=1)  # (N, 2): [zx, zy]
        return it.zoom_transforms(zooms, h, w)

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True):
        """Clipped to the zoomed window, then rescaled
        (:func:`~scratchnet.layers.augmentation_boxes.zoom_boxes`)."""
        if not training or transformation is None:
            return bounding_boxes
        return boxes.zoom_boxes(bounding_boxes, transformation["width_zoom"],
                                transformation["height_zoom"], self.bounding_box_format,
                                *self.box_image_size(transformation))

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor,
                "width_factor": self.width_factor}


class RandomTranslation(_AffineLayer):
    """Shift each image by a random fraction of its size, as ``keras.layers.RandomTranslation``.

    ``height_factor``, ``width_factor``: a number ``f`` means ``(-|f|, |f|)``, a pair
    ``(lower, upper)`` is used as given (sorted); each value in ``[-1, 1]``. Each image shifts
    down by ``dy = U[lower, upper) · H`` pixels and right by ``dx = U[...) · W`` (negative: up,
    left). The output pixel ``(x, y)`` reads the input at ``(x - dx, y - dy)``
    (:func:`~scratchnet.kernels.image_transform.translation_transforms`), then ``fill_mode``
    ("reflect" by default, although Keras' docstring says "constant") and ``interpolation``.
    Input and output ``(N, H, W, C)``. Backward: the transpose of the sampling.
    """

    def __init__(self, height_factor, width_factor, fill_mode: str = "reflect",
                 interpolation: str = "bilinear", seed: int | None = None,
                 fill_value: float = 0.0, data_format: str | None = None,
                 name: str | None = None, **kwargs):
        super().__init__(fill_mode=fill_mode, interpolation=interpolation, seed=seed,
                         fill_value=fill_value, data_format=data_format, name=name, **kwargs)
        self.height_factor = _as_given(height_factor)
        self.height_lower, self.height_upper = _symmetric_factor(
            height_factor, "height_factor", self.where, include_minus_one=True)
        self.width_factor = _as_given(width_factor)
        self.width_lower, self.width_upper = _symmetric_factor(
            width_factor, "width_factor", self.where, include_minus_one=True)

    def get_random_transformation(self, images, training=True):
        if not training:
            return None
        n, h, w, _ = images.shape
        # Drawn in float32 and scaled by the size in float32, as Keras does.
        shift_y = self.rng.uniform(self.height_lower, self.height_upper, (n, 1)).astype(np.float32)
        shift_x = self.rng.uniform(self.width_lower, self.width_upper, (n, 1)).astype(np.float32)
        translations = np.concatenate([shift_x * np.float32(w), shift_y * np.float32(h)], axis=1)
        return {"translations": translations}  # (N, 2): [dx, dy] in pixels

    def affine_transforms(self, transformation, images):
        return it.translation_transforms(transformation["translations"])

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True):
        """Shifted with the image (:func:`~scratchnet.layers.augmentation_boxes.translate_boxes`)."""
        if not training or transformation is None:
            return bounding_boxes
        return boxes.translate_boxes(bounding_boxes, transformation["translations"],
                                     self.bounding_box_format, *self.box_image_size(transformation))

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor,
                "width_factor": self.width_factor}


class RandomContrast(_RandomImageLayer):
    """Scale each image's deviation from its per-channel mean, as ``keras.layers.RandomContrast``::

        m[n, c] = mean over (H, W) of x[n, :, :, c]
        z = (x - m) · f + m,     y = clip(z, value_range[0], value_range[1])

    with one ``f ~ U[1 - lower, 1 + upper)`` per image. ``factor``: a pair ``(lower, upper)``
    (``factor[0] <= 1``, ``factor[1] >= 0``), or a number ``g`` in ``[0, 1]``, which Keras 3.15
    turns into ``(0, g)``: ``RandomContrast(0.2)`` draws ``f`` from ``[1, 1.2)`` and never
    lowers the contrast. ``value_range`` (default ``(0, 255)``) is only the clip range.

    Input and output ``(N, H, W, C)``. Backward, with ``g = dy · [lo <= z <= hi]``:
    ``dx = f · g + (1 - f) · mean over (H, W) of g``.
    """

    def __init__(self, factor, value_range=(0, 255), seed: int | None = None,
                 name: str | None = None, data_format: str | None = None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, name=name, **kwargs)
        self.factor = _base_factor(factor, (0, 1), "factor", self.where)
        _check_value_range(value_range, self.where)
        self.value_range = _as_given(value_range)  # not sorted, as in Keras
        self.passed: np.ndarray | None = None  # where the clip let the gradient through

    def get_random_transformation(self, images, training=True):
        if not training:
            return None
        lower, upper = self.factor
        factor = self.rng.uniform(1.0 - lower, 1.0 + upper, (len(images), 1, 1, 1))
        return {"contrast_factor": factor.astype(images.dtype)}  # (N, 1, 1, 1)

    def transform_images(self, images, transformation, training=True):
        self.transformation = transformation if training else None
        if self.transformation is None:
            return images
        f = np.asarray(transformation["contrast_factor"]).astype(images.dtype)
        mean = images.mean(axis=1, keepdims=True).mean(axis=2, keepdims=True)  # (N, 1, 1, C)
        z = (images - mean) * f + mean
        lo, hi = self.value_range
        self.passed = (z >= lo) & (z <= hi)  # where the clip lets the gradient through
        return np.clip(z, lo, hi).astype(images.dtype, copy=False)

    def backward_images(self, dy):
        f = np.asarray(self.transformation["contrast_factor"]).astype(dy.dtype)
        g = dy * self.passed
        return f * g + (1 - f) * g.mean(axis=(1, 2), keepdims=True)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}


class RandomBrightness(_RandomImageLayer):
    """Add a random brightness offset to each image, as ``keras.layers.RandomBrightness``::

        delta = U[lower, upper) · (value_range[1] - value_range[0])      (one per image)
        y = clip(x + delta, value_range[0], value_range[1])

    ``factor``: a number ``f`` in ``[-1, 1]`` means ``(-|f|, |f|)``; a pair is used as given
    (sorted). -1 turns an image black, +1 white. ``value_range`` (default ``(0, 255)``) is
    sorted and kept as a list, as Keras does; use ``(0, 1)`` after ``Rescaling(1 / 255)``.

    Input and output ``(N, H, W, C)``. Backward: ``dx = dy · [lo <= x + delta <= hi]``.
    """

    def __init__(self, factor, value_range=(0, 255), seed: int | None = None,
                 name: str | None = None, data_format: str | None = None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, name=name, **kwargs)
        self.factor = _base_factor(factor, (-1, 1), "factor", self.where)
        _check_value_range(value_range, self.where)
        self.value_range = sorted(value_range)
        self.passed: np.ndarray | None = None  # where the clip let the gradient through

    def get_random_transformation(self, images, training=True):
        if not training:
            return None
        lower, upper = self.factor
        u = self.rng.uniform(lower, upper, (len(images), 1, 1, 1)).astype(np.float32)
        span = np.float32(self.value_range[1] - self.value_range[0])
        return {"rgb_delta": u * span}  # (N, 1, 1, 1), float32 as in Keras

    def transform_images(self, images, transformation, training=True):
        self.transformation = transformation if training else None
        if self.transformation is None:
            return images
        z = images + np.asarray(transformation["rgb_delta"]).astype(images.dtype)
        lo, hi = self.value_range
        self.passed = (z >= lo) & (z <= hi)  # where the clip lets the gradient through
        return np.clip(z, lo, hi).astype(images.dtype, copy=False)

    def backward_images(self, dy):
        return dy * self.passed

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}



class RandomCrop(_RandomImageLayer):
    """Crop each batch to ``(height, width)`` at a random place, as ``keras.layers.RandomCrop``.

    Training, input larger than the target on both sides: one place for the whole batch (Keras'
    ``transformation = (top, left)``, ``top = int(u * (H - height + 1))``, ``u ~ U[0, 1)``,
    ``left`` alike), and ``y = x[:, top:top + height, left:left + width, :]``. Training, an input
    not larger on both sides: Keras' centred place instead (``top = int((H - rows) / 2)`` with
    ``rows = min(max(int(W * height / width), 1), H)``, ``left`` alike), the same slice, cut at the
    image's edge, then resized to ``(height, width)`` (bilinear, as ``Resizing``) where it is not
    that size already.

    Inference (``training=False``: ``predict``, ``evaluate``): the largest centred window of the
    target's aspect ratio, resized to ``(height, width)`` (``Resizing(height, width,
    crop_to_aspect_ratio=True)``), as Keras' documentation says. Keras 3.15.1 itself returns the
    input unchanged there, which contradicts its own output shape: a Keras model with RandomCrop
    before a Dense layer trains and then fails in ``predict`` (checked in parity_tests). Called
    on a dict, masks and boxes follow the images in both cases.

    Input ``(N, H, W, C)``, output ``(N, height, width, C)``. Backward: ``dy`` back to the cells
    the crop read (through the resize's transpose, ``A_h^T dy A_w``, where it resized); the
    others get 0.
    """

    def __init__(self, height: int, width: int, seed: int | None = None, data_format: str | None = None,
                 name: str | None = None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, name=name, **kwargs)
        self.height = positive_int(height, "height", self.where)
        self.width = positive_int(width, "width", self.where)
        self.plan: tuple | None = None  # (top, left, rows, cols, a_h, a_w) of the last crop

    def build(self, input_shape, rng):
        super().build(input_shape, rng)
        return (self.height, self.width, input_shape[2])

    def forward(self, x, training=False):
        if training:
            return super().forward(x, training=True)
        host = kernels.to_numpy(x)  # inference: the centred window of the target's aspect ratio
        self.transformation = None
        top, left, rows, cols = _crop_window(host.shape[1], host.shape[2], self.height, self.width)
        y = self._crop(host, top, left, rows, cols)
        return kernels.to_backend(y) if kernels.is_device_array(x) else y

    def get_random_transformation(self, images, training=True):
        h, w = images.shape[1:3]
        if training and h > self.height and w > self.width:
            top = int(self.rng.random() * (h - self.height + 1))
            left = int(self.rng.random() * (w - self.width + 1))
            return top, left
        top, left, _, _ = _crop_window(h, w, self.height, self.width)  # Keras' centred place
        return top, left

    def transform_images(self, images, transformation, training=True):
        self.transformation = transformation if training else None
        if self.transformation is None:
            return images
        return self._crop(images, *self._window(transformation, *images.shape[1:3]))

    def _crop(self, images, top, left, rows, cols):
        """``images[:, top:top + rows, left:left + cols]``, resized to ``(height, width)`` unless
        it is that size; remembers the plan for ``backward``."""
        x = images[:, top:top + rows, left:left + cols, :]  # (N, rows, cols, C)
        if (rows, cols) == (self.height, self.width):
            self.plan = (top, left, rows, cols, None, None)
            return x.copy()
        a_h, a_w = _bilinear_matrix(rows, self.height), _bilinear_matrix(cols, self.width)
        self.plan = (top, left, rows, cols, a_h, a_w)
        return resize_by_matrices(x, a_h, a_w)  # (N, height, width, C)

    def data_transformation(self, images, training):
        """Training: the draw. Inference: ``{"window": (top, left, rows, cols)}``, the centred
        window ``forward`` cut and resized, so that masks and boxes follow the images there too."""
        if training:
            return self.transformation, True
        return {"window": _crop_window(images.shape[1], images.shape[2], self.height, self.width)}, True

    def _window(self, transformation, h: int, w: int) -> tuple[int, int, int, int]:
        """``(top, left, rows, cols)`` of a draw (Keras' slice, cut at the image's edge)."""
        if isinstance(transformation, dict):
            return tuple(transformation["window"])
        top, left = (int(v) for v in transformation)
        return top, left, min(self.height, h - top), min(self.width, w - left)

    def transform_segmentation_masks(self, segmentation_masks, transformation, training=True):
        """The image's crop (Keras': ``transform_images`` on the masks, so a resize is bilinear)."""
        if not training or transformation is None:
            return segmentation_masks
        masks = np.asarray(segmentation_masks, dtype=np.float32)
        plan = self.plan  # the images' plan stays for backward
        out = self._crop(masks, *self._window(transformation, *masks.shape[1:3]))
        self.plan = plan
        return out

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True):
        """Into the image's crop window, scaled where it was resized
        (:func:`~scratchnet.layers.augmentation_boxes.crop_boxes`)."""
        if not training or transformation is None:
            return bounding_boxes
        h, w = self.box_image_size(transformation)
        return boxes.crop_boxes(bounding_boxes, self._window(transformation, h, w),
                                (self.height, self.width), self.bounding_box_format, h, w)

    def backward_images(self, dy):
        top, left, rows, cols, a_h, a_w = self.plan
        if a_h is not None:  # the resize's transpose first
            dy = resize_by_matrices_backward(dy, a_h, a_w)  # (N, rows, cols, C)
        dx = np.zeros((len(dy),) + tuple(self.input_shape), dtype=dy.dtype)  # (N, H, W, C)
        dx[:, top:top + rows, left:left + cols, :] = dy  # the cells outside the crop get nothing
        return dx

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}

# ------------------------------------------------------------------ argument checks (Keras' rules)
def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _base_factor(factor, bounds: tuple[int, int], arg: str, where: str) -> tuple:
    """Keras' ``BaseImagePreprocessingLayer._set_factor``: a number ``f`` in ``bounds`` becomes
    ``(max(-|f|, low), |f|)``; a pair is sorted, and refused only if ``pair[0] > high`` or
    ``pair[1] < low`` (Keras checks no more than that)."""
    low, high = bounds
    error = ValueError(f"{where}: expected {arg} to be a number in [{low}, {high}] or a pair "
                       f"of numbers (lower, upper) with lower <= {high} and upper >= {low}, "
                       f"received {factor!r}")
    if isinstance(factor, tuple | list):
        if len(factor) != 2 or not all(_is_number(v) for v in factor):
            raise error
        if factor[0] > high or factor[1] < low:
            raise error
        return tuple(sorted(factor))
    if not _is_number(factor) or not low <= factor <= high:
        raise error
    factor = abs(factor)
    return (max(-factor, low), factor)


def _symmetric_factor(factor, arg: str, where: str, include_minus_one: bool) -> tuple:
    """RandomZoom's and RandomTranslation's ``_set_factor``: a number ``f`` becomes
    ``(-|f|, |f|)``, a pair is sorted; every value in ``(-1, 1]`` (zoom) or ``[-1, 1]`` (shift)."""
    interval = "[-1, 1]" if include_minus_one else "(-1, 1]"

    def in_range(v) -> bool:
        return _is_number(v) and (-1 <= v if include_minus_one else -1 < v) and v <= 1

    error = ValueError(f"{where}: expected {arg} to be a number in {interval} or a pair of "
                       f"numbers in {interval}, received {factor!r}")
    if isinstance(factor, tuple | list):
        if len(factor) != 2 or not all(in_range(v) for v in factor):
            raise error
        lower, upper = sorted(factor)
        return lower, upper
    if not in_range(factor):
        raise error
    return -abs(factor), abs(factor)


def _as_given(value):
    """A number as given; a pair as a tuple (a .keras file's JSON brings it back as a list)."""
    return tuple(value) if isinstance(value, list) else value


def _check_value_range(value_range, where: str) -> None:
    if not isinstance(value_range, tuple | list) or len(value_range) != 2 or \
            not all(_is_number(v) for v in value_range):
        raise ValueError(f"{where}: expected value_range to be a list or tuple of two numbers "
                         f"(low, high), received {value_range!r}")
