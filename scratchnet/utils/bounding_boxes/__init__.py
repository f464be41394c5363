"""``keras.utils.bounding_boxes`` in NumPy: box format conversion, clipping, crop/pad/affine moves
of boxes, anchor deltas, IoU and CIoU. See docs/bounding-boxes.md.

Boxes are arrays ``(..., 4)`` (``(N, 4)`` for one image, ``(batch, N, 4)`` for a batch) in one of
the formats of :data:`SUPPORTED_FORMATS`; where Keras takes its dict
``{"boxes": ..., "labels": ...}`` so does scratchnet."""

from scratchnet.utils.bounding_boxes.converters import (
    affine_transform,
    clip_to_image_size,
    convert_format,
    crop,
    decode_deltas_to_boxes,
    encode_box_to_deltas,
    pad,
)
from scratchnet.utils.bounding_boxes.formats import SUPPORTED_FORMATS as SUPPORTED_FORMATS
from scratchnet.utils.bounding_boxes.iou import compute_ciou, compute_iou
from scratchnet.utils.bounding_boxes.validation import (  # for layers taking boxes (not Keras API)
    densify_bounding_boxes as densify_bounding_boxes,
)
from scratchnet.utils.bounding_boxes.validation import (
    validate_bounding_boxes as validate_bounding_boxes,
)

__all__ = ["affine_transform", "clip_to_image_size", "compute_ciou", "compute_iou", "convert_format",
           "crop", "decode_deltas_to_boxes", "encode_box_to_deltas", "pad"]
