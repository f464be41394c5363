"""Keras 3.15's layers that mix or cut images: MixUp, CutMix, RandomErasing.

Split as the other augmentation layers (:mod:`scratchnet.layers.augmentation`):
``get_random_transformation(images)`` draws with Keras' keys, ``transform_images(images,
transformation)`` applies the draw; active in training only, the input unchanged at inference.
Called on a batch of images (as in a Sequential model) they change the images only: as in Keras,
they mix the labels (and masks) too when called on a dict ``{"images": ..., "labels": ...}``
(:mod:`scratchnet.layers.augmentation_data`); :meth:`MixUp.transform_labels` and
:meth:`CutMix.transform_labels` give the labels that go with a draw. Data is channels-last ``(N, H, W, C)``.

Backward: every output pixel is a weighted sum of input pixels of the batch, so ``dx`` gathers
``dy`` back along the same weights (TensorFlow's gradient of ``take`` and ``where``).
"""

from __future__ import annotations

import numpy as np

from scratchnet.layers.augmentation import (
    _as_given,
    _base_factor,
    _check_value_range,
    _is_number,
    _RandomImageLayer,
)
from scratchnet.layers.augmentation_boxes import mix_boxes


def _box_masks(shape, x0, x1, y0, y1) -> np.ndarray:
    """Keras' ``_generate_batch_mask``: ``(N, H, W, C)`` True where
    ``x0 <= column < x1`` and ``y0 <= row < y1`` (one box per image, float bounds)."""
    _, h, w, c = shape
    grid_y, grid_x = np.meshgrid(np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32),
                                 indexing="ij")
    grid_x, grid_y = grid_x[None, :, :, None], grid_y[None, :, :, None]
    x0, x1, y0, y1 = (v[:, None, None, None] for v in (x0, x1, y0, y1))
    masks = (grid_x >= x0) & (grid_x < x1) & (grid_y >= y0) & (grid_y < y1)  # (N, H, W, 1)
    return np.repeat(masks, c, axis=-1)


def _crop_bounds(rng, n: int, length: int, ratio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keras' ``_compute_crop_bounds``: a span of ``ratio · length`` at ``U[0, 1) · (length -
    span)``, in float32."""
    span = (ratio * np.float32(length)).astype(np.float32)
    start = rng.random(n).astype(np.float32) * (np.float32(length) - span)
    return start, start + span


class MixUp(_RandomImageLayer):
    """Blend each image with another of the batch, as ``keras.layers.MixUp``::

        y[i] = w[i] · x[i] + (1 - w[i]) · x[p[i]]

    with ``p`` a random permutation of the batch and ``w[i] ~ Beta(alpha, alpha)`` (drawn in that
    order; Keras' transformation ``{"mix_weight": (N,), "permutation_order": (N,)}``). ``alpha``
    (default 0.2) is not checked, as in Keras. Labels go with ``transform_labels``:
    ``w · labels + (1 - w) · labels[p]``.

    Backward: ``dx[i] = w[i] dy[i] + Σ_{j: p[j] = i} (1 - w[j]) dy[j]``.
    """

    def __init__(self, alpha=0.2, data_format: str | None = None, seed: int | None = None,
                 name: str | None = None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, name=name, **kwargs)
        self.alpha = alpha

    def get_random_transformation(self, images, training=True):
        n = len(images)
        order = self.rng.permutation(n).astype(np.int64)
        weight = self.rng.beta(self.alpha, self.alpha, n).astype(np.float32)
        return {"mix_weight": weight, "permutation_order": order}

    def _draw(self, dtype):
        w = np.asarray(self.transformation["mix_weight"]).astype(dtype).reshape(-1, 1, 1, 1)
        return w, np.asarray(self.transformation["permutation_order"], dtype=np.int64)

    def transform_images(self, images, transformation, training=True):
        self.transformation = transformation if training else None
        if self.transformation is None:
            return images
        w, order = self._draw(images.dtype)
        return w * images + (1 - w) * images[order]

    def backward_images(self, dy):
        w, order = self._draw(dy.dtype)
        dx = w * dy
        np.add.at(dx, order, (1 - w) * dy)  # x[order[j]] fed y[j]
        return dx

    def transform_labels(self, labels, transformation, training=True):
        """Keras' labels for the draw: ``w · labels + (1 - w) · labels[p]``."""
        if not training or transformation is None:
            return labels
        w = np.asarray(transformation["mix_weight"]).reshape(-1, 1)
        order = np.asarray(transformation["permutation_order"], dtype=np.int64)
        return w * labels + (1 - w) * labels[order]

    def transform_segmentation_masks(self, segmentation_masks, transformation, training=True):
        """Keras' masks for the draw, mixed as the images: ``w · m + (1 - w) · m[p]``."""
        if not training or transformation is None:
            return segmentation_masks
        w = np.asarray(transformation["mix_weight"]).reshape(-1, 1, 1, 1)
        order = np.asarray(transformation["permutation_order"], dtype=np.int64)
        return w * segmentation_masks + (1 - w) * segmentation_masks[order]

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True):
        """Each image's boxes and those of the image mixed into it, ``(N, 2B, 4)``
        (:func:`~scratchnet.layers.augmentation_boxes.mix_boxes`)."""
        if not training or transformation is None:
            return bounding_boxes
        return mix_boxes(bounding_boxes, transformation["permutation_order"])

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


class CutMix(_RandomImageLayer):
    """Paste a box of another image of the batch into each image, as ``keras.layers.CutMix``.

    The draws, in Keras' order: one ``a ~ U[lower, upper) + 1e-6`` for the batch (``factor`` in
    ``[0, 1]``, default 1.0, a number ``f`` means ``(0, f)``), ``λ[i] ~ Beta(a, a)``; the box
    sides ``r = sqrt(1 - λ)`` times the width and the height, placed at ``U[0, 1) · (W - r W)``
    (all images' x first, then y); then a permutation ``p`` of the batch. Keras' transformation
    ``{"permutation_order", "batch_masks": (N, H, W, C) bool, "mix_weight": (N, 1, 1, 1)}``, the
    mix weight recomputed from the box: ``1 - box area / (H W)``::

        y[i] = x[p[i]] inside the box of image i, x[i] elsewhere

    Labels go with ``transform_labels``: ``mix_weight · labels + (1 - mix_weight) · labels[p]``.
    Backward: ``dy`` outside the boxes to the image itself, inside them to image ``p[i]``.
    """

    def __init__(self, factor=1.0, seed: int | None = None, data_format: str | None = None,
                 name: str | None = None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, name=name, **kwargs)
        self.factor = _base_factor(factor, (0, 1), "factor", self.where)

    def get_random_transformation(self, images, training=True):
        n, h, w, _ = images.shape
        a = np.float32(self.rng.uniform(self.factor[0], self.factor[1])) + np.float32(1e-6)
        weight = self.rng.beta(a, a, n).astype(np.float32)
        ratio = np.sqrt(np.float32(1) - weight)
        x0, x1 = _crop_bounds(self.rng, n, w, ratio)
        y0, y1 = _crop_bounds(self.rng, n, h, ratio)
        masks = _box_masks(images.shape, x0, x1, y0, y1)
        area = ((x1 - x0) * (y1 - y0)).reshape(-1, 1, 1, 1)  # (N, 1, 1, 1), as Keras' weight
        mix_weight = (1 - area / np.float32(w * h)).astype(np.float32)
        order = self.rng.permutation(n).astype(np.int32)
        return {"permutation_order": order, "batch_masks": masks, "mix_weight": mix_weight}

    def transform_images(self, images, transformation, training=True):
        self.transformation = transformation if training else None
        if self.transformation is None:
            return images
        masks = np.asarray(transformation["batch_masks"], dtype=bool)
        order = np.asarray(transformation["permutation_order"], dtype=np.int64)
        return np.where(masks, images[order], images)

    def backward_images(self, dy):
        masks = np.asarray(self.transformation["batch_masks"], dtype=bool)
        order = np.asarray(self.transformation["permutation_order"], dtype=np.int64)
        dx = np.where(masks, 0, dy).astype(dy.dtype)
        np.add.at(dx, order, np.where(masks, dy, 0).astype(dy.dtype))
        return dx

    def transform_labels(self, labels, transformation, training=True):
        """Keras' labels for the draw: ``w · labels + (1 - w) · labels[p]``, ``w`` the mix weight."""
        if not training or transformation is None:
            return labels
        w = np.asarray(transformation["mix_weight"]).reshape(-1, 1)
        order = np.asarray(transformation["permutation_order"], dtype=np.int64)
        return w * labels + (1 - w) * labels[order]

    def transform_segmentation_masks(self, segmentation_masks, transformation, training=True):
        """The image's cut: inside each box the mask of image ``p[i]``. Keras passes the masks
        through ``transform_images``, whose ``(N, H, W, C)`` boxes broadcast a one-channel mask to
        the images' C channels; scratchnet keeps the mask's own channels (all of the boxes'
        channels are alike)."""
        if not training or transformation is None:
            return segmentation_masks
        masks = np.asarray(transformation["batch_masks"], dtype=bool)[..., :1]  # (N, H, W, 1)
        order = np.asarray(transformation["permutation_order"], dtype=np.int64)
        return np.where(masks, segmentation_masks[order], segmentation_masks)

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True):
        """Keras 3.15.1's CutMix raises NotImplementedError for boxes; so does scratchnet."""
        raise NotImplementedError(f"{self.where}: CutMix does not transform bounding boxes "
                                  "(keras.layers.CutMix does not either); leave 'bounding_boxes' "
                                  "out of the dict")

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


class RandomErasing(_RandomImageLayer):
    """Erase a random box of each image, as ``keras.layers.RandomErasing``.

    The draws, in Keras' order: ``(sx, sy) ~ U[scale[0], scale[1])`` per image (``scale`` in
    ``[0, 1]``, default ``(0.02, 0.33)``; a number ``s`` means ``(0, s)``), the box sides
    ``sqrt(sx) · W`` and ``sqrt(sy) · H`` placed at ``U[0, 1) · (W - side)`` (x for all images,
    then y); ``p ~ U[lower, upper)`` and ``t ~ U[0, 1)`` per image (``factor`` in ``[0, 1]``,
    default 1.0, a number ``f`` means ``(0, f)``): the image is erased where ``t < p``. The fill:
    ``fill_value`` (a number, or three numbers, one per channel) or, with ``None`` (the default),
    ``N(0, 1) · value_range[1]`` per pixel; either clipped to ``value_range`` (as given, default
    ``(0, 255)``), so with the default range about half the noise is 0.
    Keras' transformation ``{"apply_erasing": (N,), "batch_masks": (N, H, W, C),
    "fill_value": (N, H, W, C)}``::

        y = fill_value inside the box of an erased image, x elsewhere

    Backward: ``dy`` where the pixel was kept, 0 where it was erased.
    """

    def __init__(self, factor=1.0, scale=(0.02, 0.33), fill_value=None, value_range=(0, 255),
                 seed: int | None = None, data_format: str | None = None, name: str | None = None,
                 **kwargs):
        super().__init__(seed=seed, data_format=data_format, name=name, **kwargs)
        self.factor = _base_factor(factor, (0, 1), "factor", self.where)
        self.scale = _base_factor(scale, (0, 1), "scale", self.where)
        if fill_value is not None and not _is_number(fill_value) and not (
                isinstance(fill_value, tuple | list) and len(fill_value) == 3
                and all(_is_number(v) for v in fill_value)):
            raise ValueError(f"{self.where}: expected fill_value to be None, a number or a list "
                             f"of three numbers, received {fill_value!r}")
        _check_value_range(value_range, self.where)
        self.fill_value = _as_given(fill_value)
        self.value_range = _as_given(value_range)

    def get_random_transformation(self, images, training=True):
        n, h, w, _ = images.shape
        sides = np.sqrt(self.rng.uniform(self.scale[0], self.scale[1], (n, 2)).astype(np.float32))
        x0, x1 = _crop_bounds(self.rng, n, w, sides[:, 0])
        y0, y1 = _crop_bounds(self.rng, n, h, sides[:, 1])
        masks = _box_masks(images.shape, x0, x1, y0, y1)
        p = self.rng.uniform(self.factor[0], self.factor[1], n).astype(np.float32)
        t = self.rng.random(n).astype(np.float32)
        if self.fill_value is None:
            fill = self.rng.standard_normal(images.shape).astype(images.dtype) * \
                images.dtype.type(self.value_range[1])
        else:
            fill = np.broadcast_to(np.asarray(self.fill_value, dtype=images.dtype), images.shape)
        fill = np.clip(fill, self.value_range[0], self.value_range[1]).astype(images.dtype)
        return {"apply_erasing": t < p, "batch_masks": masks, "fill_value": fill}

    def _erased(self):
        masks = np.asarray(self.transformation["batch_masks"], dtype=bool)
        apply = np.asarray(self.transformation["apply_erasing"], dtype=bool)[:, None, None, None]
        return masks & apply

    def transform_images(self, images, transformation, training=True):
        self.transformation = transformation if training else None
        if self.transformation is None:
            return images
        fill = np.asarray(transformation["fill_value"]).astype(images.dtype)
        return np.where(self._erased(), fill, images)

    def backward_images(self, dy):
        return np.where(self._erased(), 0, dy).astype(dy.dtype)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "scale": self.scale,
                "fill_value": self.fill_value, "value_range": self.value_range}
