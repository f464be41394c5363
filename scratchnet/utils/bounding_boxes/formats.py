"""The bounding-box formats of ``keras.utils.bounding_boxes``, one string each.

A box is 4 numbers on the last axis of an array ``(..., 4)`` (``(N, 4)`` unbatched,
``(batch, N, 4)`` batched):

=====================  ==========================================================
``"xyxy"``             ``[left, top, right, bottom]`` in pixels
``"yxyx"``             ``[top, left, bottom, right]`` in pixels
``"xywh"``             ``[left, top, width, height]`` in pixels
``"center_xywh"``      ``[center_x, center_y, width, height]`` in pixels
``"center_yxhw"``      ``[center_y, center_x, height, width]`` in pixels
``"rel_xyxy"``         ``"xyxy"`` divided by the image's width (x) and height (y)
``"rel_yxyx"``         ``"yxyx"`` likewise
``"rel_xywh"``         ``"xywh"`` likewise
``"rel_center_xywh"``  ``"center_xywh"`` likewise
=====================  ==========================================================

Format names are case-insensitive, as in Keras.
"""

from __future__ import annotations

SUPPORTED_FORMATS = (
    "xyxy",
    "yxyx",
    "xywh",
    "center_xywh",
    "center_yxhw",
    "rel_xyxy",
    "rel_yxyx",
    "rel_xywh",
    "rel_center_xywh",
)


def check_format(fmt, argument: str, where: str = "convert_format()") -> str:
    """``fmt`` lower-cased if it is one of :data:`SUPPORTED_FORMATS`, else a ``ValueError``
    (a ``TypeError`` for a non-string) naming the argument, the formats and what was received."""
    if not isinstance(fmt, str):
        raise TypeError(f"{where}: expected `{argument}` to be a format string, one of "
                        f"{SUPPORTED_FORMATS}; received {argument}={fmt!r} of type {type(fmt).__name__}")
    lowered = fmt.lower()
    if lowered not in SUPPORTED_FORMATS:
        raise ValueError(f"{where}: invalid `{argument}` format. Supported formats: "
                         f"{SUPPORTED_FORMATS}; received {argument}={fmt!r}")
    return lowered
