"""Keras 3's dict inputs for the image preprocessing and augmentation layers.

Every augmentation layer (and Resizing, CenterCrop) also takes a dict, as Keras'
``BaseImagePreprocessingLayer.call`` does::

    layer({"images": (N, H, W, C),                      # required
           "labels": (N, K),                            # optional
           "bounding_boxes": {"boxes": (N, B, 4),       # optional, needs bounding_box_format
                              "labels": (N, B)},
           "segmentation_masks": (N, H, W, 1)})         # optional

and returns a dict with the same keys. One random draw is made from the images
(``get_random_transformation``) and applied to every part: ``transform_images``,
``transform_labels``, ``transform_bounding_boxes`` and ``transform_segmentation_masks``, so a
flip flips the image, its mask and its boxes alike. One sample (images ``(H, W, C)``, boxes
``(B, 4)``, ...) is handled by adding the batch axis and taking it away after.

What each kind of layer does with the parts (Keras 3.15.1's choices):

- geometric layers move masks with the image, sampled with ``"nearest"`` (no new label values),
  and boxes by the same map, then clip them to the image; a box left with no area gets label -1;
- colour layers (brightness, hue, blur, ...) change only the images;
- the mix layers mix labels (MixUp, CutMix) and masks (MixUp, CutMix) with the images.

A dict call is for data pipelines (``dataset.map(layer)``): it keeps no state for ``backward``.
"""

from __future__ import annotations

import numpy as np

DATA_KEYS = ("images", "labels", "bounding_boxes", "segmentation_masks")
BOX_FORMATS = ("xyxy", "yxyx", "xywh", "center_xywh", "center_yxhw",
               "rel_xyxy", "rel_yxyx", "rel_xywh", "rel_center_xywh")


def check_bounding_box_format(value, where: str):
    """``None`` (the layer takes no boxes) or one of Keras' box formats."""
    if value is not None and value not in BOX_FORMATS:
        raise ValueError(f"{where}: expected bounding_box_format to be None or one of "
                         f"{BOX_FORMATS}, received {value!r}")
    return value


def _check_keys(data: dict, where: str) -> None:
    unknown = [key for key in data if key not in DATA_KEYS]
    if unknown or "images" not in data:
        raise ValueError(f"{where}: expected a dict with the key 'images' and any of 'labels', "
                         f"'bounding_boxes', 'segmentation_masks', received keys {list(data)}")


def _boxes_dict(bounding_boxes, batched: bool, where: str) -> dict:
    """``{"boxes": float32 (N, B, 4), "labels": (N, B)}``, checked as Keras'
    ``validate_bounding_boxes`` does; one sample's ``(B, 4)`` gets a batch axis."""
    if not isinstance(bounding_boxes, dict) or "boxes" not in bounding_boxes \
            or "labels" not in bounding_boxes:
        raise ValueError(f"{where}: expected bounding_boxes to be a dict with keys 'boxes' and "
                         f"'labels', received {bounding_boxes!r}")
    try:
        boxes = np.asarray(bounding_boxes["boxes"], dtype=np.float32)
    except ValueError as err:  # a ragged list of lists
        raise ValueError(f"{where}: expected bounding_boxes['boxes'] to be an array of shape "
                         f"(batch, num_boxes, 4) (pad ragged lists, e.g. with -1), "
                         f"received a ragged list") from err
    labels = np.asarray(bounding_boxes["labels"])
    rank = 3 if batched else 2
    if boxes.ndim != rank or boxes.shape[-1] != 4:
        expected = "(batch, num_boxes, 4)" if batched else "(num_boxes, 4)"
        raise ValueError(f"{where}: expected bounding_boxes['boxes'] of shape {expected} to go "
                         f"with images of rank {rank + 1}, received shape {boxes.shape}")
    if labels.shape[:rank - 1] != boxes.shape[:rank - 1]:
        raise ValueError(f"{where}: expected bounding_boxes['labels'] to have one label per box, "
                         f"shape {boxes.shape[:rank - 1]}, received shape {labels.shape}")
    if not batched:
        boxes, labels = boxes[None], labels[None]
    return {**bounding_boxes, "boxes": boxes, "labels": labels}


def call_on_dict(layer, data: dict, training: bool) -> dict:
    """Keras' ``BaseImagePreprocessingLayer.call`` on a dict: one draw, every part transformed
    by it (see the module docstring)."""
    where = f"{type(layer).__name__} {layer.name!r}"
    _check_keys(data, where)
    images = np.asarray(data["images"])
    if images.ndim not in (3, 4):
        raise ValueError(f"{where}: expected data['images'] of rank 3 (one image) or 4 (a batch), "
                         f"received shape {images.shape}")
    batched = images.ndim == 4
    if "bounding_boxes" in data and layer.bounding_box_format is None:
        raise ValueError(f"{where}: you passed an input with a 'bounding_boxes' key, but you "
                         "didn't specify a bounding box format. Pass a `bounding_box_format` "
                         f"argument to your {type(layer).__name__} layer, e.g. "
                         "`bounding_box_format='xyxy'`.")
    boxes = _boxes_dict(data["bounding_boxes"], batched, where) if "bounding_boxes" in data else None

    def batch(x):
        x = np.asarray(x)
        return x if batched else x[None]

    def unbatch(x):
        return x if batched else x[0]

    x = batch(images)  # (N, H, W, C)
    masks = batch(data["segmentation_masks"]) if "segmentation_masks" in data else None
    if masks is not None and (masks.ndim != 4 or masks.shape[:3] != x.shape[:3]):
        raise ValueError(f"{where}: expected data['segmentation_masks'] of shape "
                         f"{x.shape[:3] + ('channels',)} (the images' batch, height and width), "
                         f"received shape {np.shape(data['segmentation_masks'])}")

    out = dict(data)
    # The images first: this builds the layer and makes (and keeps) the draw.
    out["images"] = unbatch(layer(x, training=training))
    layer.data_image_size = tuple(x.shape[1:3])  # what the boxes were drawn on
    transformation, active = layer.data_transformation(x, training)
    if boxes is not None:
        moved = layer.transform_bounding_boxes(boxes, transformation, training=active)
        out["bounding_boxes"] = {**moved, "boxes": unbatch(moved["boxes"]),
                                 "labels": unbatch(moved["labels"])}
    if "labels" in data:
        out["labels"] = unbatch(layer.transform_labels(batch(data["labels"]), transformation,
                                                       training=active))
    if masks is not None:
        out["segmentation_masks"] = unbatch(layer.transform_segmentation_masks(
            masks, transformation, training=active))
    return out


class ImageDataParts:
    """What the image layers share for dict inputs: the ``bounding_box_format`` argument and
    Keras' defaults for the parts: labels, boxes and masks unchanged (a colour layer's choice;
    a geometric layer overrides the boxes and masks)."""

    bounding_box_format: str | None = None
    data_image_size: tuple[int, int] | None = None  # (H, W) of the last dict call's images

    def box_image_size(self, transformation) -> tuple[int, int]:
        """``(H, W)`` of the images the boxes sit on: Keras' ``"input_shape"`` in the draw where
        it has one, else the last dict call's images, else the built input shape."""
        shape = transformation.get("input_shape") if isinstance(transformation, dict) else None
        if shape is not None:
            return int(shape[-3]), int(shape[-2])
        if self.data_image_size is not None:
            return self.data_image_size
        return int(self.input_shape[0]), int(self.input_shape[1])

    def data_transformation(self, images: np.ndarray, training: bool) -> tuple:
        """The draw the last call applied to ``images`` and whether it was applied."""
        transformation = getattr(self, "transformation", None)
        return transformation, transformation is not None

    def transform_labels(self, labels, transformation, training=True):
        return labels

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True):
        return bounding_boxes

    def transform_segmentation_masks(self, segmentation_masks, transformation, training=True):
        return segmentation_masks

    def box_config(self) -> dict:
        """Keras writes ``bounding_box_format`` into the config only when it is set."""
        if self.bounding_box_format is None:
            return {}
        return {"bounding_box_format": self.bounding_box_format}
