"""``keras.utils.bounding_boxes``' converters in NumPy: :func:`convert_format` between the box
formats of :mod:`~scratchnet.utils.bounding_boxes.formats`, :func:`clip_to_image_size`,
:func:`affine_transform`, :func:`crop`, :func:`pad`, and the anchor-box codecs
:func:`encode_box_to_deltas` / :func:`decode_deltas_to_boxes`.

Every conversion goes through ``"xyxy"`` (``[left, top, right, bottom]`` in pixels), one small
function each way, written with Keras' own arithmetic order so float32 results agree bit for bit
or to the last ulp. Boxes are arrays ``(..., 4)``: unbatched ``(N, 4)`` or batched
``(batch, N, 4)``; :func:`convert_format` also takes Keras' dict ``{"boxes": ..., "labels": ...}``
and returns a new dict with the boxes converted (Keras writes into the dict it was given).
Results are NumPy arrays.
"""

from __future__ import annotations

import math

import numpy as np

from scratchnet.utils.bounding_boxes.formats import SUPPORTED_FORMATS, check_format

EPSILON = 1e-7  # keras.backend.epsilon()


def _split(boxes: np.ndarray) -> tuple[np.ndarray, ...]:
    """The 4 coordinates of ``(..., 4)`` boxes as 4 arrays ``(..., 1)`` (Keras' ``split``)."""
    return tuple(boxes[..., i:i + 1] for i in range(4))


def _join(*columns: np.ndarray) -> np.ndarray:
    return np.concatenate(columns, axis=-1)  # (..., 4)


def check_boxes(boxes, where: str, argument: str = "boxes") -> np.ndarray:
    """``boxes`` as an array whose last axis is 4, else a ``ValueError`` with its shape."""
    boxes = np.asarray(boxes)
    if boxes.ndim == 0 or boxes.shape[-1] != 4:
        raise ValueError(f"{where}: `{argument}` must be an array with the last dimension of 4, "
                         f"(num_boxes, 4) or (batch_size, num_boxes, 4); received "
                         f"{argument}.shape={boxes.shape}")
    return boxes


def boxes_of(bounding_boxes, where: str) -> np.ndarray:
    """``bounding_boxes["boxes"]`` of Keras' dict, with a clear error for anything else."""
    if not isinstance(bounding_boxes, dict):
        raise TypeError(f"{where}: expected `bounding_boxes` to be a dict with keys 'boxes' and "
                        f"'labels'; received {type(bounding_boxes).__name__}")
    if "boxes" not in bounding_boxes:
        raise ValueError(f"{where}: expected `bounding_boxes` to be a dict with keys 'boxes' and "
                         f"'labels'; received keys {sorted(bounding_boxes)}")
    return bounding_boxes["boxes"]


# --- to "xyxy" -----------------------------------------------------------------------------------
def _xyxy_to_xyxy(boxes, height=None, width=None):
    return boxes


def _yxyx_to_xyxy(boxes, height=None, width=None):
    y1, x1, y2, x2 = _split(boxes)
    return _join(x1, y1, x2, y2)


def _xywh_to_xyxy(boxes, height=None, width=None):
    x1, y1, w, h = _split(boxes)
    return _join(x1, y1, x1 + w, y1 + h)


def _center_xywh_to_xyxy(boxes, height=None, width=None):
    cx, cy, w, h = _split(boxes)
    half_w, half_h = w / 2.0, h / 2.0
    return _join(cx - half_w, cy - half_h, cx + half_w, cy + half_h)


def _center_yxhw_to_xyxy(boxes, height=None, width=None):
    cy, cx, h, w = _split(boxes)
    half_w, half_h = w / 2.0, h / 2.0
    return _join(cx - half_w, cy - half_h, cx + half_w, cy + half_h)


def _rel_xyxy_to_xyxy(boxes, height=None, width=None):
    x1, y1, x2, y2 = _split(boxes)
    return _join(x1 * width, y1 * height, x2 * width, y2 * height)


def _rel_yxyx_to_xyxy(boxes, height=None, width=None):
    y1, x1, y2, x2 = _split(boxes)
    return _join(x1 * width, y1 * height, x2 * width, y2 * height)


def _rel_xywh_to_xyxy(boxes, height=None, width=None):
    x1, y1, w, h = _split(boxes)
    return _join(x1 * width, y1 * height, (x1 + w) * width, (y1 + h) * height)


def _rel_center_xywh_to_xyxy(boxes, height=None, width=None):
    cx, cy, w, h = _split(boxes)
    half_w, half_h = w / 2.0, h / 2.0
    return _join((cx - half_w) * width, (cy - half_h) * height,
                 (cx + half_w) * width, (cy + half_h) * height)


# --- from "xyxy" ---------------------------------------------------------------------------------
def _xyxy_to_yxyx(boxes, height=None, width=None):
    x1, y1, x2, y2 = _split(boxes)
    return _join(y1, x1, y2, x2)


def _xyxy_to_xywh(boxes, height=None, width=None):
    x1, y1, x2, y2 = _split(boxes)
    return _join(x1, y1, x2 - x1, y2 - y1)


def _xyxy_to_center_xywh(boxes, height=None, width=None):
    x1, y1, x2, y2 = _split(boxes)
    cx = x1 + ((x2 - x1) / 2.0)
    cy = y1 + ((y2 - y1) / 2.0)
    return _join(cx, cy, x2 - x1, y2 - y1)


def _xyxy_to_center_yxhw(boxes, height=None, width=None):
    x1, y1, x2, y2 = _split(boxes)
    cx = x1 + ((x2 - x1) / 2.0)
    cy = y1 + ((y2 - y1) / 2.0)
    return _join(cy, cx, y2 - y1, x2 - x1)


def _xyxy_to_rel_xyxy(boxes, height=None, width=None):
    x1, y1, x2, y2 = _split(boxes)
    return _join(x1 / width, y1 / height, x2 / width, y2 / height)


def _xyxy_to_rel_yxyx(boxes, height=None, width=None):
    x1, y1, x2, y2 = _split(boxes)
    return _join(y1 / height, x1 / width, y2 / height, x2 / width)


def _xyxy_to_rel_xywh(boxes, height=None, width=None):
    x1, y1, x2, y2 = _split(boxes)
    return _join(x1 / width, y1 / height, (x2 - x1) / width, (y2 - y1) / height)


def _xyxy_to_rel_center_xywh(boxes, height=None, width=None):
    x1, y1, x2, y2 = _split(boxes)
    rel_cx = (x1 + ((x2 - x1) / 2.0)) / width
    rel_cy = (y1 + ((y2 - y1) / 2.0)) / height
    return _join(rel_cx, rel_cy, (x2 - x1) / width, (y2 - y1) / height)


TO_XYXY = {
    "xyxy": _xyxy_to_xyxy,
    "yxyx": _yxyx_to_xyxy,
    "xywh": _xywh_to_xyxy,
    "center_xywh": _center_xywh_to_xyxy,
    "center_yxhw": _center_yxhw_to_xyxy,
    "rel_xyxy": _rel_xyxy_to_xyxy,
    "rel_yxyx": _rel_yxyx_to_xyxy,
    "rel_xywh": _rel_xywh_to_xyxy,
    "rel_center_xywh": _rel_center_xywh_to_xyxy,
}
FROM_XYXY = {
    "xyxy": _xyxy_to_xyxy,
    "yxyx": _xyxy_to_yxyx,
    "xywh": _xyxy_to_xywh,
    "center_xywh": _xyxy_to_center_xywh,
    "center_yxhw": _xyxy_to_center_yxhw,
    "rel_xyxy": _xyxy_to_rel_xyxy,
    "rel_yxyx": _xyxy_to_rel_yxyx,
    "rel_xywh": _xyxy_to_rel_xywh,
    "rel_center_xywh": _xyxy_to_rel_center_xywh,
}


def convert_format(boxes, source, target, height=None, width=None, dtype="float32"):
    """Convert boxes from format ``source`` to format ``target``, as
    ``keras.utils.bounding_boxes.convert_format``.

    Formats (case-insensitive): ``"xyxy"``, ``"yxyx"``, ``"xywh"``, ``"center_xywh"``,
    ``"center_yxhw"`` in pixels; ``"rel_xyxy"``, ``"rel_yxyx"``, ``"rel_xywh"``,
    ``"rel_center_xywh"`` divided by the image's ``width`` (x values) and ``height`` (y values),
    which must then be given. The boxes go through ``"xyxy"``, e.g. ``xywh -> xyxy`` is
    ``[x, y, x + w, y + h]`` and ``xyxy -> center_xywh`` is
    ``[x1 + (x2 - x1) / 2, y1 + (y2 - y1) / 2, x2 - x1, y2 - y1]``; ``rel_* -> rel_*`` skips the
    scaling. Computed in ``dtype`` (default ``"float32"``).

    Args:
        boxes: array ``(..., 4)`` (``(N, 4)`` or ``(batch, N, 4)``), or a dict with ``"boxes"``
            (and ``"labels"``, kept as given): a new dict with the boxes converted is returned.
        source, target: format strings.
        height, width: the image's size (needed when either format is relative).
        dtype: the float type of the result.

    Returns:
        Boxes ``(..., 4)`` in ``target`` format (or the dict holding them).

    Raises:
        ValueError: last dimension not 4, an unknown format, or ``height``/``width`` missing
            for a relative format. TypeError: a format that is not a string.
    """
    if isinstance(boxes, dict):
        result = dict(boxes)
        result["boxes"] = convert_format(boxes_of(boxes, "convert_format()"), source, target,
                                         height=height, width=width, dtype=dtype)
        return result
    boxes = check_boxes(boxes, "convert_format()")
    source = check_format(source, "source")
    target = check_format(target, "target")
    if (source.startswith("rel_") or target.startswith("rel_")) and (height is None or width is None):
        raise ValueError("convert_format() must receive `height` and `width` transforming between "
                         f"relative and absolute formats; received source={source!r}, "
                         f"target={target!r}, but height={height} and width={width}")
    boxes = boxes.astype(dtype)
    if source == target:
        return boxes
    if width is not None:
        width = np.asarray(width).astype(dtype)
    if height is not None:
        height = np.asarray(height).astype(dtype)
    if source.startswith("rel_") and target.startswith("rel_"):  # no scaling between two rel_
        source = source.replace("rel_", "", 1)
        target = target.replace("rel_", "", 1)
    in_xyxy = TO_XYXY[source](boxes, height, width)
    return FROM_XYXY[target](in_xyxy, height, width)


def compute_area(boxes: np.ndarray) -> np.ndarray:
    """Areas ``(..., 1)`` of ``"xyxy"`` boxes: ``(x2 - x1) · (y2 - y1)``."""
    x1, y1, x2, y2 = _split(boxes)
    return (x2 - x1) * (y2 - y1)


def clip_to_image_size(bounding_boxes, height=None, width=None, bounding_box_format="xyxy"):
    """Clip boxes into the image, as ``keras.utils.bounding_boxes.clip_to_image_size``.

    In ``"xyxy"`` each x is clipped to ``[0, width]`` and each y to ``[0, height]``; in
    ``"rel_xyxy"`` all four to ``[0, 1]``. A box whose clipped area ``(x2 - x1) · (y2 - y1)`` is
    not positive gets label ``-1`` (where ``"labels"`` is given).

    Args:
        bounding_boxes: dict with ``"boxes"`` ``(N, 4)`` or ``(batch, N, 4)`` and optionally
            ``"labels"`` ``(N,)`` or ``(batch, N)``.
        height, width: the image size (needed for ``"xyxy"``).
        bounding_box_format: ``"xyxy"`` (default) or ``"rel_xyxy"``; Keras implements no other
            (``NotImplementedError``).

    Returns:
        A new dict with the clipped ``"boxes"`` and updated ``"labels"`` (other keys kept).
    """
    if bounding_box_format not in ("xyxy", "rel_xyxy"):
        raise NotImplementedError("clip_to_image_size(): only bounding_box_format 'xyxy' and "
                                  f"'rel_xyxy' are implemented (as in Keras); received "
                                  f"bounding_box_format={bounding_box_format!r}")
    if bounding_box_format == "xyxy" and (height is None or width is None):
        raise ValueError("clip_to_image_size(): `height` and `width` must be set if "
                         f"`format='xyxy'`; received height={height}, width={width}")
    boxes = check_boxes(boxes_of(bounding_boxes, "clip_to_image_size()"), "clip_to_image_size()")
    labels = bounding_boxes.get("labels", None)
    if bounding_box_format == "xyxy":
        high_x = np.asarray(width).astype(boxes.dtype)
        high_y = np.asarray(height).astype(boxes.dtype)
    else:
        high_x = high_y = 1.0
    x1, y1, x2, y2 = _split(boxes)
    boxes = _join(np.clip(x1, 0, high_x), np.clip(y1, 0, high_y),
                  np.clip(x2, 0, high_x), np.clip(y2, 0, high_y))
    if labels is not None:
        areas = np.squeeze(compute_area(boxes), axis=-1)
        labels = np.where(areas > 0, labels, -1)
    result = dict(bounding_boxes)
    result["boxes"] = boxes
    if labels is not None:
        result["labels"] = labels
    return result


def _per_image(value, batch_size: int, dtype) -> np.ndarray:
    """A number or a ``(batch,)`` array as ``(batch,)`` in ``dtype``."""
    value = np.asarray(value).astype(dtype)
    return np.broadcast_to(value.reshape(-1) if value.ndim else value, (batch_size,))


def inverse_affine_matrix(center_x, center_y, angle, translate_x, translate_y, scale, shear_x,
                          shear_y, height, width) -> np.ndarray:
    """Keras' ``_compute_inverse_affine_matrix`` (TensorFlow's ``_get_inverse_affine_matrix``):
    ``(batch, 3, 3)`` from ``(batch,)`` arrays, angles in degrees, translations and the centre
    as fractions of ``width - 1`` and ``height - 1``::

        θ = -angle, sx = -shear_x, sy = -shear_y (radians); cx = center_x (W - 1), ...
        a = cos(θ - sy) / cos(sy),   b = a tan(sx) + sin(θ)
        c = -sin(θ - sy) / cos(sy),  d = cos(θ) - c tan(sx)
        [[d s, -b s, cx - d s (cx + tx) + b s (cy + ty)],
         [-c s, a s, cy + c s (cx + tx) - a s (cy + ty)],
         [0, 0, 1]]
    """
    dtype = angle.dtype
    batch_size = angle.shape[0]
    angle, shear_x, shear_y = -angle, -shear_x, -shear_y
    cx = center_x * (width - 1)
    cy = center_y * (height - 1)
    rot = angle * (1.0 / 180.0 * math.pi)
    tx = -translate_x * (width - 1)
    ty = -translate_y * (height - 1)
    sx = shear_x * (1.0 / 180.0 * math.pi)
    sy = shear_y * (1.0 / 180.0 * math.pi)
    cos_sy = np.cos(sy)
    tan_sx = np.tan(sx)
    rot_minus_sy = rot - sy
    cx_plus_tx = cx + tx
    cy_plus_ty = cy + ty
    a = np.cos(rot_minus_sy) / cos_sy  # rotate and shear, without scaling
    b = a * tan_sx + np.sin(rot)
    c = -np.sin(rot_minus_sy) / cos_sy
    d = np.cos(rot) - c * tan_sx
    a0, a1 = d * scale, -b * scale  # inverted, with scale
    b0, b1 = -c * scale, a * scale
    a2 = cx - a0 * cx_plus_tx - a1 * cy_plus_ty
    b2 = cy - b0 * cx_plus_tx - b1 * cy_plus_ty
    zeros, ones = np.zeros(batch_size, dtype), np.ones(batch_size, dtype)
    matrix = np.stack([a0, a1, a2, b0, b1, b2, zeros, zeros, ones], axis=-1).astype(dtype)
    return matrix.reshape(batch_size, 3, 3)


def affine_transform(boxes, angle, translate_x, translate_y, scale, shear_x, shear_y, height, width,
                     center_x=None, center_y=None, bounding_box_format="xyxy"):
    """Move ``"xyxy"`` boxes through an affine transform, as
    ``keras.utils.bounding_boxes.affine_transform``.

    Each box's 4 corners ``(x1, y1), (x2, y1), (x2, y2), (x1, y2)`` go through the first two rows
    ``M[:2]`` of :func:`inverse_affine_matrix` (Keras' matrix, per image), ``p' = M[:2] [x, y, 1]``;
    the new box is the corners' bounding box ``[min x', min y', max x', max y']`` (unclipped).

    Args:
        boxes: ``(batch, N, 4)`` (or ``(N, 4)``, one image: a scratchnet extension, Keras reads the
            first axis as the batch).
        angle, shear_x, shear_y: degrees; translate_x, translate_y: fractions; scale: factor.
            Each a ``(batch,)`` array (Keras) or one number for all images; the matrix is computed
            in ``angle``'s float dtype (float32 for numbers).
        height, width: the image size. center_x, center_y: the centre as fractions (default 0.5).
        bounding_box_format: only ``"xyxy"`` (``NotImplementedError`` otherwise, as in Keras).

    Returns:
        Boxes with the shape of ``boxes``.
    """
    if bounding_box_format != "xyxy":
        raise NotImplementedError("affine_transform(): only bounding_box_format 'xyxy' is "
                                  f"implemented (as in Keras); received {bounding_box_format!r}")
    boxes = check_boxes(boxes, "affine_transform()")
    unbatched = boxes.ndim == 2
    if unbatched:
        boxes = boxes[None]  # (1, N, 4)
    if boxes.ndim != 3:
        raise ValueError("affine_transform(): expected `boxes` of shape (N, 4) or "
                         f"(batch_size, N, 4); received boxes.shape={boxes.shape}")
    batch_size, n_boxes = boxes.shape[:2]
    angle = np.asarray(angle)
    dtype = angle.dtype if np.issubdtype(angle.dtype, np.floating) else np.dtype("float32")
    angle, translate_x, translate_y, scale, shear_x, shear_y = (
        _per_image(v, batch_size, dtype)
        for v in (angle, translate_x, translate_y, scale, shear_x, shear_y))
    center_x = dtype.type(0.5) if center_x is None else np.asarray(center_x).astype(dtype)
    center_y = dtype.type(0.5) if center_y is None else np.asarray(center_y).astype(dtype)
    matrix = inverse_affine_matrix(center_x, center_y, angle, translate_x, translate_y, scale,
                                   shear_x, shear_y, height, width)
    boxes = boxes.astype(matrix.dtype)
    transposed = np.transpose(matrix[:, :2, :], (0, 2, 1))  # (B, 3, 2)
    x1, y1, x2, y2 = (boxes[..., i] for i in range(4))
    corners = np.stack([x1, y1, x2, y1, x2, y2, x1, y2], axis=-1)
    corners = corners.reshape(batch_size, n_boxes, 4, 2)  # (B, N, corner, xy)
    corners = np.concatenate([corners, np.ones((batch_size, n_boxes, 4, 1), corners.dtype)], axis=-1)
    moved = np.einsum("bnxy,byz->bnxz", corners, transposed)  # (B, N, 4, 2)
    outputs = np.concatenate([moved.min(axis=2), moved.max(axis=2)], axis=-1)  # (B, N, 4)
    return outputs[0] if unbatched else outputs


def crop(boxes, top, left, height, width, bounding_box_format="xyxy"):
    """Shift ``"xyxy"`` boxes into a crop window, as ``keras.utils.bounding_boxes.crop``::

        [clip(x1 - left, 0, width), clip(y1 - top, 0, height),
         clip(x2 - left, 0, width), clip(y2 - top, 0, height)]

    ``height`` or ``width`` ``None`` leaves that side unclipped above. Only ``"xyxy"``
    (``NotImplementedError`` otherwise, as in Keras). Shape ``(..., 4)`` in and out.
    """
    if bounding_box_format != "xyxy":
        raise NotImplementedError("crop(): only bounding_box_format 'xyxy' is implemented (as in "
                                  f"Keras); received {bounding_box_format!r}")
    x1, y1, x2, y2 = _split(check_boxes(boxes, "crop()"))
    return _join(np.clip(x1 - left, 0, width), np.clip(y1 - top, 0, height),
                 np.clip(x2 - left, 0, width), np.clip(y2 - top, 0, height))


def pad(boxes, top, left, height=None, width=None, bounding_box_format="xyxy"):
    """Shift ``"xyxy"`` boxes by the padding added above and left of the image, as
    ``keras.utils.bounding_boxes.pad``: ``[x1 + left, y1 + top, x2 + left, y2 + top]``
    (``height`` and ``width`` are not used, as in Keras). Only ``"xyxy"``. Shape ``(..., 4)``.
    """
    if bounding_box_format != "xyxy":
        raise NotImplementedError("pad(): only bounding_box_format 'xyxy' is implemented (as in "
                                  f"Keras); received {bounding_box_format!r}")
    x1, y1, x2, y2 = _split(check_boxes(boxes, "pad()"))
    return _join(x1 + left, y1 + top, x2 + left, y2 + top)


def _check_variance(variance, where: str):
    if variance is None:
        return None
    variance = np.asarray(variance, dtype=np.float32)
    if variance.ndim == 0 or variance.shape[-1] != 4:
        raise ValueError(f"{where}: `variance` must be length 4, got {variance}")
    return variance


def _image_size(image_shape, where: str):
    if image_shape is None:
        return None, None
    if len(image_shape) != 3:
        raise ValueError(f"{where}: expected `image_shape` to be (height, width, channels); "
                         f"received image_shape={image_shape}")
    height, width, _ = image_shape
    return height, width


def encode_box_to_deltas(anchors, boxes, anchor_format, box_format, encoding_format="center_yxhw",
                         variance=None, image_shape=None):
    """Boxes as offsets from anchors, as ``keras.utils.bounding_boxes.encode_box_to_deltas``.

    Anchors ``(N, 4)`` and boxes ``(N, 4)`` or ``(batch, N, 4)`` are converted to
    ``encoding_format`` (``"center_yxhw"``: ``[cy, cx, h, w]``, or ``"center_xywh"``); with
    ``a`` the anchor and ``b`` the box there, and sizes at least ``ε = 1e-7``::

        delta = [(b_center - a_center) / a_size, log(b_size / a_size)]   (then / variance)

    Returns deltas ``(..., 4)`` in the order of ``encoding_format``. ``image_shape``
    ``(height, width, channels)`` is needed for relative formats.
    """
    variance = _check_variance(variance, "encode_box_to_deltas()")
    if encoding_format not in ("center_xywh", "center_yxhw"):
        raise ValueError("encode_box_to_deltas(): `encoding_format` should be one of "
                         f"'center_xywh' or 'center_yxhw', got {encoding_format!r}")
    height, width = _image_size(image_shape, "encode_box_to_deltas()")
    encoded_anchors = convert_format(anchors, source=anchor_format, target=encoding_format,
                                     height=height, width=width)
    boxes = convert_format(boxes, source=box_format, target=encoding_format, height=height,
                           width=width)
    anchor_dimensions = np.maximum(encoded_anchors[..., 2:], np.float32(EPSILON))
    box_dimensions = np.maximum(boxes[..., 2:], np.float32(EPSILON))
    boxes_delta = np.concatenate([
        (boxes[..., :2] - encoded_anchors[..., :2]) / anchor_dimensions,
        np.log(box_dimensions / anchor_dimensions),
    ], axis=-1)
    if variance is not None:
        boxes_delta = boxes_delta / variance
    return boxes_delta


def decode_deltas_to_boxes(anchors, boxes_delta, anchor_format, box_format,
                           encoded_format="center_yxhw", variance=None, image_shape=None):
    """Boxes from offsets and anchors (the inverse of :func:`encode_box_to_deltas`), as
    ``keras.utils.bounding_boxes.decode_deltas_to_boxes``. With ``a`` the anchor in
    ``encoded_format`` and ``delta`` (times ``variance`` if given)::

        box = [delta_center · a_size + a_center, exp(delta_size) · a_size]

    then converted to ``box_format``. ``anchors`` and ``boxes_delta`` may be dicts of levels
    (same keys): a dict of decoded boxes is returned.
    """
    variance = _check_variance(variance, "decode_deltas_to_boxes()")
    if encoded_format not in ("center_xywh", "center_yxhw"):
        raise ValueError("decode_deltas_to_boxes(): `encoded_format` should be 'center_xywh' or "
                         f"'center_yxhw', but got {encoded_format!r}")
    height, width = _image_size(image_shape, "decode_deltas_to_boxes()")

    def decode_single_level(anchor, box_delta):
        encoded_anchor = convert_format(anchor, source=anchor_format, target=encoded_format,
                                        height=height, width=width)
        box_delta = np.asarray(box_delta)
        if variance is not None:
            box_delta = box_delta * variance
        box = np.concatenate([
            box_delta[..., :2] * encoded_anchor[..., 2:] + encoded_anchor[..., :2],
            np.exp(box_delta[..., 2:]) * encoded_anchor[..., 2:],
        ], axis=-1)
        return convert_format(box, source=encoded_format, target=box_format, height=height,
                              width=width)

    if isinstance(anchors, dict) and isinstance(boxes_delta, dict):
        missing = sorted(set(anchors) - set(boxes_delta), key=str)
        if missing:
            raise ValueError("decode_deltas_to_boxes(): `boxes_delta` must have the keys of "
                             f"`anchors`; missing {missing}")
        return {level: decode_single_level(anchor, boxes_delta[level])
                for level, anchor in anchors.items()}
    return decode_single_level(anchors, boxes_delta)


__all__ = ["SUPPORTED_FORMATS", "affine_transform", "clip_to_image_size", "convert_format", "crop",
           "decode_deltas_to_boxes", "encode_box_to_deltas", "pad"]
