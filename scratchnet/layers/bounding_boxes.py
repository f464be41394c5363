"""Keras 3.15's ``MaxNumBoundingBoxes``: a fixed number of boxes per image, for batching.

Object-detection data comes as Keras' dict ``{"images": ..., "bounding_boxes": {"boxes": ...,
"labels": ...}}`` (plus optional ``"labels"`` and ``"segmentation_masks"``). Images have a
different number of boxes each; this layer cuts or pads every image's boxes to ``max_number`` so
a batch is one array. Boxes are in any format of :mod:`scratchnet.utils.bounding_boxes` (the
layer does not look inside them) but, as in Keras, ``bounding_box_format`` must be named to pass
boxes at all.
"""

from __future__ import annotations

import numbers

import numpy as np

from scratchnet.layers._args import channels_last, check_rank
from scratchnet.layers.base import Layer
from scratchnet.utils.bounding_boxes.validation import densify_bounding_boxes

BOX_KEYS = ("boxes", "labels")


class MaxNumBoundingBoxes(Layer):
    """Cut or pad each image's boxes to ``max_number``, as ``keras.layers.MaxNumBoundingBoxes``::

        boxes[:, :max_number]   then padded with rows [fill, fill, fill, fill]
        labels[:, :max_number]  then padded with fill

    to ``(batch, max_number, 4)`` and ``(batch, max_number)`` (one image: ``(max_number, 4)`` and
    ``(max_number,)``). Boxes come out float32, labels in their own dtype; images, ``"labels"``
    and ``"segmentation_masks"`` pass unchanged. Called on images alone (as in a model) it is the
    identity: ``y = x``, backward ``dx = dy``.

    Args:
        max_number: boxes per image after the layer.
        fill_value: the padding of boxes and labels (default -1, what
            :func:`~scratchnet.utils.bounding_boxes.compute_iou`'s masking and Keras' drawing skip).
        bounding_box_format: the boxes' format; required (as in Keras) when the input has
            ``"bounding_boxes"``.
        data_format: ``"channels_last"`` only.

    Input: a dict ``{"images": (batch, H, W, C) or (H, W, C), "bounding_boxes": {"boxes":
    (batch, N, 4) or (N, 4), "labels": (batch, N) or (N,)}, ...}``, or images alone.
    Output: the same structure, with ``N`` replaced by ``max_number``. Returns a new dict (Keras
    writes into the one it is given).
    """

    def __init__(self, max_number, fill_value=-1, bounding_box_format: str | None = None,
                 data_format: str | None = None, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.where = f'MaxNumBoundingBoxes "{self.name}"'
        for argument, value in (("max_number", max_number), ("fill_value", fill_value)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ValueError(f"{self.where}: expected {argument} to be an integer, "
                                 f"received {value!r}")
        if int(max_number) < 0:
            raise ValueError(f"{self.where}: expected max_number >= 0, received {max_number!r}")
        self.max_number = int(max_number)
        self.fill_value = int(fill_value)
        self.bounding_box_format = bounding_box_format
        self.data_format = channels_last(data_format, self.where)

    # --- in a model: the images pass through ---------------------------------------------------
    def build(self, input_shape, rng):
        check_rank(self.name, input_shape, "(batch, height, width, channels)")
        return tuple(input_shape)

    def forward(self, x, training=False):
        return x

    def backward(self, dy):
        return dy

    def __call__(self, data, training: bool = True):
        """``layer(dict)`` pads the boxes; ``layer(images)`` returns the images (any dtype, as
        Keras keeps ``uint8`` images); ``layer(Input(...))`` joins a model's graph."""
        from scratchnet.layers.input_layer import is_symbolic

        if isinstance(data, dict):
            return self.transform_data(data)
        if is_symbolic(data):
            return super().__call__(data, training=training)
        images = np.asarray(data)
        self._is_batched(images)
        return images

    # --- the dict ----------------------------------------------------------------------------
    def _is_batched(self, images: np.ndarray) -> bool:
        if images.ndim not in (3, 4):
            raise ValueError(f"{self.where}: expected images to have rank 3 (single image) or 4 "
                             f"(batch of images); received images.shape={images.shape}")
        return images.ndim == 4

    def transform_data(self, data: dict) -> dict:
        """Keras' ``call`` on a dict: each entry through its ``transform_*`` method."""
        if "images" not in data:
            raise ValueError(f"{self.where}: expected a dict with an 'images' key (and "
                             f"'bounding_boxes', 'labels', 'segmentation_masks'); received keys "
                             f"{sorted(data)}")
        result = dict(data)
        images = np.asarray(data["images"])
        batched = self._is_batched(images)
        result["images"] = self.transform_images(images)
        if "bounding_boxes" in data:
            if not self.bounding_box_format:
                raise ValueError(f"{self.where}: you passed an input with a 'bounding_boxes' key, "
                                 "but you didn't specify a bounding box format. Pass a "
                                 "`bounding_box_format` argument to your MaxNumBoundingBoxes "
                                 "layer, e.g. `bounding_box_format='xyxy'`.")
            boxes = densify_bounding_boxes(data["bounding_boxes"], is_batched=batched, where=self.where)
            if batched:
                result["bounding_boxes"] = self.transform_bounding_boxes(boxes)
            else:
                batch = {k: (v[None] if k in BOX_KEYS else v) for k, v in boxes.items()}  # a batch of 1
                padded = self.transform_bounding_boxes(batch)
                result["bounding_boxes"] = {k: (v[0] if k in BOX_KEYS else v) for k, v in padded.items()}
        if "labels" in data:
            result["labels"] = self.transform_labels(np.asarray(data["labels"]))
        if "segmentation_masks" in data:
            result["segmentation_masks"] = self.transform_segmentation_masks(
                np.asarray(data["segmentation_masks"]))
        return result

    def transform_images(self, images, transformation=None, training=True):
        return images

    def transform_labels(self, labels, transformation=None, training=True):
        return labels

    def transform_segmentation_masks(self, segmentation_masks, transformation=None, training=True):
        return segmentation_masks

    def transform_bounding_boxes(self, bounding_boxes, transformation=None, training=True):
        """Boxes ``(batch, N, 4)`` and labels ``(batch, N)`` to ``max_number`` per image."""
        boxes = np.asarray(bounding_boxes["boxes"])
        labels = np.asarray(bounding_boxes["labels"])
        if boxes.ndim != 3 or boxes.shape[-1] != 4:
            raise ValueError(f"{self.where}: expected boxes of shape (batch_size, num_boxes, 4) "
                             f"for a batch of images; received boxes.shape={boxes.shape}")
        if labels.shape != boxes.shape[:2]:
            raise ValueError(f"{self.where}: expected labels of shape {boxes.shape[:2]} "
                             f"(batch_size, num_boxes) to go with boxes.shape={boxes.shape}; "
                             f"received labels.shape={labels.shape}")
        pad_size = max(self.max_number - boxes.shape[1], 0)
        boxes = np.pad(boxes[:, :self.max_number], ((0, 0), (0, pad_size), (0, 0)),
                       constant_values=self.fill_value)  # (batch, max_number, 4)
        labels = np.pad(labels[:, :self.max_number], ((0, 0), (0, pad_size)),
                        constant_values=self.fill_value)  # (batch, max_number)
        result = dict(bounding_boxes)
        result["boxes"] = boxes
        result["labels"] = labels
        return result

    def compute_output_shape(self, input_shape):
        """Keras': a dict of shapes gets ``max_number`` boxes; an image shape is kept."""
        if isinstance(input_shape, dict) and "bounding_boxes" in input_shape:
            extra_keys = set(input_shape["bounding_boxes"]) - set(BOX_KEYS)
            if extra_keys:
                raise KeyError(f"{self.where}: there are unsupported keys in `bounding_boxes`: "
                               f"{sorted(extra_keys)}. Only `boxes` and `labels` are supported.")
            boxes_shape = list(input_shape["bounding_boxes"]["boxes"])
            labels_shape = list(input_shape["bounding_boxes"]["labels"])
            boxes_shape[-2] = self.max_number  # (batch, N, 4) or (N, 4)
            labels_shape[-1] = self.max_number
            return {**input_shape, "bounding_boxes": {"boxes": boxes_shape, "labels": labels_shape}}
        return input_shape

    def get_config(self):
        config = {**super().get_config(), "data_format": self.data_format}
        if self.bounding_box_format is not None:
            config["bounding_box_format"] = self.bounding_box_format
        config["max_number"] = self.max_number
        # Keras' get_config leaves fill_value out (a .keras file of Keras' loses it); scratchnet
        # writes it only when it is not the default -1, so Keras' constructor takes it back and a
        # default layer's config is Keras' own (docs/parity-notes.md).
        if self.fill_value != -1:
            config["fill_value"] = self.fill_value
        return config
