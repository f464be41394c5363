"""Bounding boxes through the geometric image layers: Keras 3.15.1's ``transform_bounding_boxes``
of each layer, in NumPy.

Every function takes ``bounding_boxes = {"boxes": (N, B, 4), "labels": (N, B)}`` in the layer's
``bounding_box_format``, the layer's draw (the same one its images got) and the image size
``(h, w)`` before the layer, and returns a new dict in the same format. Each one follows the
same three steps as Keras::

    1. convert to "xyxy" pixels (or "rel_xyxy", where Keras works in fractions of the image);
    2. move the box corners the way the layer moves pixels;
    3. clip to the output image (a box left with no area gets label -1) and convert back.

The converters are :mod:`scratchnet.utils.bounding_boxes` (``keras.utils.bounding_boxes``).
Where Keras 3.15.1 gets a box wrong (RandomCrop subtracts the crop's top from x, RandomRotation
reads any format as "xyxy", RandomPerspective returns "xyxy" whatever the format, MixUp stacks the
labels along the batch), scratchnet does the evident intent; docs/parity-notes.md lists them.
"""

from __future__ import annotations

import numpy as np

from scratchnet.kernels import image_transform as it
from scratchnet.utils.bounding_boxes.converters import (
    affine_transform,
    clip_to_image_size,
    convert_format,
)


def _columns(boxes: np.ndarray) -> tuple[np.ndarray, ...]:
    """``(..., 4)`` -> four ``(..., 1)`` columns."""
    return tuple(boxes[..., i:i + 1] for i in range(4))


def _in(bounding_boxes, fmt: str, target: str, h, w) -> dict:
    return convert_format(dict(bounding_boxes), source=fmt, target=target, height=h, width=w)


def _out(bounding_boxes, fmt: str, source: str, h, w) -> dict:
    """Clip to the ``(h, w)`` image in ``source`` ("xyxy" or "rel_xyxy"), then convert to ``fmt``."""
    clipped = clip_to_image_size(bounding_boxes, height=h, width=w, bounding_box_format=source)
    return convert_format(clipped, source=source, target=fmt, height=h, width=w)


def flip_boxes(bounding_boxes, flips, mode: str, fmt: str, h: int, w: int) -> dict:
    """RandomFlip: in fractions of the image, ``[1 - x2, y1, 1 - x1, y2]`` (horizontal) and
    ``[x1, 1 - y2, x2, 1 - y1]`` (vertical), for the images whose ``flips`` is True."""
    boxes = _in(bounding_boxes, fmt, "rel_xyxy", h, w)
    flips = np.asarray(flips, dtype=bool).reshape(-1, 1, 1)  # (N, 1, 1)
    b = boxes["boxes"]
    if mode in ("horizontal", "horizontal_and_vertical"):
        x1, y1, x2, y2 = _columns(b)
        b = np.where(flips, np.concatenate([1 - x2, y1, 1 - x1, y2], axis=-1), b)
    if mode in ("vertical", "horizontal_and_vertical"):
        x1, y1, x2, y2 = _columns(b)
        b = np.where(flips, np.concatenate([x1, 1 - y2, x2, 1 - y1], axis=-1), b)
    # Keras clips these fractions as "xyxy" pixels (so only the labels of empty boxes change).
    boxes = clip_to_image_size({**boxes, "boxes": b}, height=h, width=w, bounding_box_format="xyxy")
    return convert_format(boxes, source="rel_xyxy", target=fmt, height=h, width=w)


def translate_boxes(bounding_boxes, translations, fmt: str, h: int, w: int) -> dict:
    """RandomTranslation: ``x + dx``, ``y + dy`` in pixels (``translations`` ``(N, 2)``:
    ``[dx, dy]``; the image's inverse map reads ``x - dx``)."""
    boxes = _in(bounding_boxes, fmt, "xyxy", h, w)
    transform = it.translation_transforms(np.asarray(translations, dtype=np.float32))  # (N, 8)
    w_shift = transform[:, 2:3, None]  # (N, 1, 1): where output x = 0 reads, -dx
    h_shift = transform[:, 5:6, None]
    x1, y1, x2, y2 = _columns(boxes["boxes"])
    moved = np.concatenate([x1 - w_shift, y1 - h_shift, x2 - w_shift, y2 - h_shift], axis=-1)
    return _out({**boxes, "boxes": moved}, fmt, "xyxy", h, w)


def rotate_boxes(bounding_boxes, angle, fmt: str, h: int, w: int) -> dict:
    """RandomRotation: each box's four corners turned by ``angle`` degrees about the image's
    centre (``affine_transform``), the new box their bounding box."""
    boxes = _in(bounding_boxes, fmt, "xyxy", h, w)
    angle = np.asarray(angle, dtype=np.float32).reshape(-1)
    n = len(angle)
    zeros, ones = np.zeros(n, np.float32), np.ones(n, np.float32)
    moved = affine_transform(boxes["boxes"], angle=angle, translate_x=zeros, translate_y=zeros,
                             scale=ones, shear_x=zeros, shear_y=zeros, height=h, width=w)
    return _out({**boxes, "boxes": moved}, fmt, "xyxy", h, w)


def zoom_boxes(bounding_boxes, width_zoom, height_zoom, fmt: str, h: int, w: int) -> dict:
    """RandomZoom: the output shows the input window from ``M (0, 0)`` to ``M (w, h)`` (``M`` the
    image's inverse map); boxes are clipped to that window and rescaled from it to the image."""
    boxes = _in(bounding_boxes, fmt, "xyxy", h, w)
    zooms = np.concatenate([np.asarray(width_zoom), np.asarray(height_zoom)], axis=1)  # (N, 2)
    t = it.zoom_transforms(zooms.astype(np.float32), h, w)  # (N, 8)
    w_start, h_start = t[:, 2:3], t[:, 5:6]  # (N, 1): where output (0, 0) reads
    w_end = t[:, 0:1] * w + w_start  # where output (w, h) reads
    h_end = t[:, 4:5] * h + h_start
    lo_x, lo_y, hi_x, hi_y = (v[:, :, None] for v in (w_start, h_start, w_end, h_end))  # (N, 1, 1)
    x1, y1, x2, y2 = _columns(boxes["boxes"])
    window = np.concatenate([np.clip(x1, lo_x, hi_x) - lo_x, np.clip(y1, lo_y, hi_y) - lo_y,
                             np.clip(x2, lo_x, hi_x) - lo_x, np.clip(y2, lo_y, hi_y) - lo_y], axis=-1)
    rel = convert_format({**boxes, "boxes": window}, source="xyxy", target="rel_xyxy",
                         height=hi_y - lo_y, width=hi_x - lo_x)
    rel = clip_to_image_size(rel, bounding_box_format="rel_xyxy")
    return convert_format(rel, source="rel_xyxy", target=fmt, height=h, width=w)


def shear_boxes(bounding_boxes, shear_factor, fmt: str, h: int, w: int) -> dict:
    """RandomShear, Keras' arithmetic in fractions of the image: with ``(sx, sy)`` per image,
    ``x - sx · y`` at the box's top or bottom edge and ``y - sy · x`` at its left or right edge,
    whichever keeps the sheared corners inside."""
    boxes = _in(bounding_boxes, fmt, "rel_xyxy", h, w)
    shear = np.asarray(shear_factor, dtype=np.float32)
    sx, sy = shear[:, 0:1], shear[:, 1:2]  # (N, 1)
    b = boxes["boxes"]
    x1, y1, x2, y2 = b[..., 0], b[..., 1], b[..., 2], b[..., 3]  # (N, B)
    x1 = np.where(sx < 0, x1 - sx * y1, x1 - sx * y2)
    x2 = np.where(sx < 0, x2 - sx * y2, x2 - sx * y1)
    y1_new = np.where(sy > 0, y1 - sy * x2, y1 - sy * x1)
    y2_new = np.where(sy > 0, y2 - sy * x1, y2 - sy * x2)
    moved = np.stack([x1, y1_new, x2, y2_new], axis=-1)
    return _out({**boxes, "boxes": moved}, fmt, "rel_xyxy", h, w)


def perspective_boxes(bounding_boxes, transformation: dict, fmt: str, h: int, w: int) -> dict:
    """RandomPerspective: the four corners of each box through the inverse of the image's
    homography (the image reads ``H p``, so a point ``q`` goes to ``H^-1 q``), the new box their
    bounding box, for the images the draw warps."""
    from scratchnet.layers.augmentation_more import homography

    boxes = _in(bounding_boxes, fmt, "xyxy", h, w)
    t = homography(transformation["start_points"], transformation["end_points"])  # (N, 8)
    matrix = np.concatenate([t, np.ones((len(t), 1), t.dtype)], axis=1).reshape(-1, 3, 3)
    inverse = np.linalg.inv(matrix).astype(np.float32)  # (N, 3, 3)
    x0, y0, x1, y1 = _columns(boxes["boxes"])
    xs, ys = [], []
    for x, y in ((x0, y0), (x1, y1), (x0, y1), (x1, y0)):
        points = np.concatenate([x, y, np.ones_like(x)], axis=-1)  # (N, B, 3)
        q = np.einsum("nij,nbj->nbi", inverse, points)  # (N, B, 3)
        xs.append(q[..., 0] / q[..., 2])
        ys.append(q[..., 1] / q[..., 2])
    xs, ys = np.stack(xs, axis=-1), np.stack(ys, axis=-1)  # (N, B, 4 corners)
    moved = np.stack([xs.min(-1), ys.min(-1), xs.max(-1), ys.max(-1)], axis=-1)
    applied = np.asarray(transformation["apply_perspective"], dtype=bool)[:, None, None]
    moved = np.where(applied, moved, boxes["boxes"])
    return _out({**boxes, "boxes": moved}, fmt, "xyxy", h, w)


def crop_boxes(bounding_boxes, window, size: tuple[int, int], fmt: str, h: int, w: int) -> dict:
    """A crop ``window = (top, left, rows, cols)`` of an ``(h, w)`` image, resized to
    ``size = (height, width)`` (RandomCrop, CenterCrop): ``x - left``, ``y - top``, clipped to
    the window, scaled by ``width / cols`` and ``height / rows``."""
    top, left, rows, cols = window
    height, width = size
    boxes = _in(bounding_boxes, fmt, "xyxy", h, w)
    x1, y1, x2, y2 = _columns(boxes["boxes"])
    sx, sy = np.float32(width / cols), np.float32(height / rows)
    moved = np.concatenate([(np.clip(x1, left, left + cols) - left) * sx,
                            (np.clip(y1, top, top + rows) - top) * sy,
                            (np.clip(x2, left, left + cols) - left) * sx,
                            (np.clip(y2, top, top + rows) - top) * sy], axis=-1)
    return _out({**boxes, "boxes": moved}, fmt, "xyxy", height, width)


def resize_boxes(bounding_boxes, mode: str, size: tuple[int, int], fmt: str, h: int, w: int) -> dict:
    """Resizing, Keras' arithmetic: ``mode`` "stretch" scales x by ``width / w`` and y by
    ``height / h``; "pad" scales both by ``r = min(height / h, width / w)`` and shifts by the
    padding ``(width - w r) // 2``, ``(height - h r) // 2``; "crop" scales to cover the target and
    shifts by the cut ``(new_width - width) // 2``, ``(new_height - height) // 2``. Boxes that were
    all 0 or all -1 (padding) stay all 0."""
    height, width = size
    padding = np.all(np.asarray(bounding_boxes["boxes"]) == -1, axis=-1) | \
        np.all(np.asarray(bounding_boxes["boxes"]) == 0, axis=-1)
    boxes = _in(bounding_boxes, fmt, "xyxy", h, w)
    b = boxes["boxes"]
    fh, fw = np.float32(h), np.float32(w)
    if mode == "pad":
        r = np.minimum(np.float32(height / fh), np.float32(width / fw))
        scale_x = scale_y = r
        shift_x, shift_y = -((width - fw * r) // 2), -((height - fh * r) // 2)
    elif mode == "crop":
        source, target = fw / fh, np.float32(width / height)
        new_width = np.float32(height * source if source > target else width)
        new_height = np.float32(height if source > target else width / source)
        scale_x, scale_y = new_width / fw, new_height / fh
        shift_x, shift_y = (new_width - width) // 2, (new_height - height) // 2
    else:
        scale_x, scale_y = np.float32(width / fw), np.float32(height / fh)
        shift_x = shift_y = np.float32(0)
    moved = np.stack([b[..., 0] * scale_x - shift_x, b[..., 1] * scale_y - shift_y,
                      b[..., 2] * scale_x - shift_x, b[..., 3] * scale_y - shift_y], axis=-1)
    moved = moved.astype(np.float32)
    clipped = clip_to_image_size({**boxes, "boxes": moved}, height=height, width=width)
    clipped["boxes"] = np.where(padding[..., None], np.float32(0), clipped["boxes"])
    return convert_format(clipped, source="xyxy", target=fmt, height=height, width=width)


def mix_boxes(bounding_boxes, permutation_order) -> dict:
    """MixUp: each image keeps its boxes and gets those of the image it was mixed with:
    ``(N, B, 4)`` -> ``(N, 2B, 4)``, labels ``(N, B)`` -> ``(N, 2B)``."""
    order = np.asarray(permutation_order, dtype=np.int64)
    boxes, labels = np.asarray(bounding_boxes["boxes"]), np.asarray(bounding_boxes["labels"])
    return {**bounding_boxes, "boxes": np.concatenate([boxes, boxes[order]], axis=1),
            "labels": np.concatenate([labels, labels[order]], axis=1)}
