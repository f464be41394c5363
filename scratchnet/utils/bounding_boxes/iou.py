"""``keras.utils.bounding_boxes``' overlap measures in NumPy: :func:`compute_iou` (a table of
intersection over union, every box against every box) and :func:`compute_ciou` (complete IoU,
box against matching box), with Keras' epsilons in the same places."""

from __future__ import annotations

import math

import numpy as np

from scratchnet.utils.bounding_boxes.converters import EPSILON, check_boxes, convert_format


def _area(boxes: np.ndarray) -> np.ndarray:
    """Areas ``(..., N)`` of ``"yxyx"`` boxes ``(..., N, 4)``."""
    y_min, x_min, y_max, x_max = (boxes[..., i] for i in range(4))
    return (y_max - y_min) * (x_max - x_min)


def _swap_last(a: np.ndarray) -> np.ndarray:
    """``(..., N, 1) -> (..., 1, N)``."""
    return np.swapaxes(a, -1, -2)


def _intersection(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """Intersection areas ``(M, N)`` or ``(batch, M, N)`` of ``"yxyx"`` boxes ``(…, M, 4)`` and
    ``(…, N, 4)``: ``max(0, min(y_max) - max(y_min)) · max(0, min(x_max) - max(x_min))``."""
    y_min1, x_min1, y_max1, x_max1 = (boxes1[..., i:i + 1] for i in range(4))  # (..., M, 1)
    y_min2, x_min2, y_max2, x_max2 = (_swap_last(boxes2[..., i:i + 1]) for i in range(4))  # (..., 1, N)
    height = np.minimum(y_max1, y_max2) - np.maximum(y_min1, y_min2)
    width = np.minimum(x_max1, x_max2) - np.maximum(x_min1, x_min2)
    zero = height.dtype.type(0)
    return np.maximum(zero, height) * np.maximum(zero, width)


def _check_rank(boxes, name: str, ranks: tuple[int, int]) -> np.ndarray:
    boxes = check_boxes(boxes, "compute_iou()", name)
    if boxes.ndim not in (2, 3):
        raise ValueError(f"compute_iou() expects {name} to be batched, or to be unbatched: "
                         f"expected len({name}.shape) 2 or 3; received len(boxes1.shape)={ranks[0]}, "
                         f"len(boxes2.shape)={ranks[1]}")
    return boxes


def compute_iou(boxes1, boxes2, bounding_box_format, use_masking=False, mask_val=-1, image_shape=None):
    """Pairwise intersection over union, as ``keras.utils.bounding_boxes.compute_iou``::

        iou[i, j] = |b1_i ∩ b2_j| / (|b1_i| + |b2_j| - |b1_i ∩ b2_j| + ε),   ε = 1e-7

    Shapes: ``(M, 4)`` and ``(N, 4)`` give ``(M, N)``; if either is batched ``(batch, ·, 4)`` the
    result is ``(batch, M, N)``. With ``use_masking``, a pair where either box has all 4
    coordinates (after conversion to ``"yxyx"``) below 0 gets ``mask_val`` (a padding box).

    Args:
        boxes1, boxes2: boxes in ``bounding_box_format`` (any format of
            :func:`~scratchnet.utils.bounding_boxes.convert_format`).
        use_masking: mask padding boxes (default ``False``). mask_val: their value (default -1).
        image_shape: ``(height, width, channels)``, needed for relative formats.
    """
    ranks = (np.ndim(boxes1), np.ndim(boxes2))
    boxes1 = _check_rank(boxes1, "boxes1", ranks)
    boxes2 = _check_rank(boxes2, "boxes2", ranks)
    if "rel" in bounding_box_format and image_shape is None:
        raise ValueError("compute_iou(): when using relative bounding box formats (e.g. "
                         "`rel_yxyx`) the `image_shape` argument must be provided; received "
                         f"image_shape={image_shape}")
    height, width = (None, None) if image_shape is None else tuple(image_shape)[:2]
    boxes1 = convert_format(boxes1, source=bounding_box_format, target="yxyx", height=height,
                            width=width)
    boxes2 = convert_format(boxes2, source=bounding_box_format, target="yxyx", height=height,
                            width=width)
    intersect_area = _intersection(boxes1, boxes2)  # (..., M, N)
    boxes1_area = _area(boxes1)[..., :, None]  # (..., M, 1)
    boxes2_area = _area(boxes2)[..., None, :]  # (..., 1, N)
    union_area = boxes1_area + boxes2_area - intersect_area
    res = intersect_area / (union_area + np.float32(EPSILON))
    if not use_masking:
        return res
    boxes1_mask = boxes1.max(axis=-1, keepdims=True) < 0.0  # (..., M, 1)
    boxes2_mask = _swap_last(boxes2.max(axis=-1, keepdims=True) < 0.0)  # (..., 1, N)
    background_mask = np.logical_or(boxes1_mask, boxes2_mask)
    return np.where(background_mask, res.dtype.type(mask_val), res)


def compute_ciou(boxes1, boxes2, bounding_box_format, image_shape=None):
    """Complete IoU of each box of ``boxes1`` with the matching box of ``boxes2`` (shapes
    ``(..., 4)``, broadcast), as ``keras.utils.bounding_boxes.compute_ciou``. In ``"xyxy"``, with
    ``w``, ``h`` the sides (``h`` plus ``ε = 1e-7``), ``ρ²`` the squared distance of the centres
    and ``c²`` the squared diagonal of the smallest box holding both (plus ``ε``)::

        iou   = I / (w1 h1 + w2 h2 - I + ε + ε)
        v     = 4 / π² · (arctan(w2 / h2) - arctan(w1 / h1))²
        alpha = v / (v - iou + (1 + ε))
        ciou  = iou - (ρ² / c² + v · alpha)

    Returns ``(...)``. Relative formats are refused (as in Keras, even with ``image_shape``).
    """
    if "rel" in bounding_box_format:
        raise ValueError("compute_ciou(): relative bounding box formats (e.g. `rel_yxyx`) are not "
                         "supported (Keras refuses them, `image_shape` or not); received "
                         f"bounding_box_format={bounding_box_format!r}, image_shape={image_shape}")
    height, width = (None, None) if image_shape is None else tuple(image_shape)[:2]
    boxes1 = convert_format(check_boxes(boxes1, "compute_ciou()", "boxes1"),
                            source=bounding_box_format, target="xyxy", height=height, width=width)
    boxes2 = convert_format(check_boxes(boxes2, "compute_ciou()", "boxes2"),
                            source=bounding_box_format, target="xyxy", height=height, width=width)
    eps = np.float32(EPSILON)
    x_min1, y_min1, x_max1, y_max1 = (boxes1[..., i] for i in range(4))
    x_min2, y_min2, x_max2, y_max2 = (boxes2[..., i] for i in range(4))
    width_1 = x_max1 - x_min1
    height_1 = y_max1 - y_min1 + eps
    width_2 = x_max2 - x_min2
    height_2 = y_max2 - y_min2 + eps
    zero = np.float32(0)
    intersection_area = (np.maximum(np.minimum(x_max1, x_max2) - np.maximum(x_min1, x_min2), zero)
                         * np.maximum(np.minimum(y_max1, y_max2) - np.maximum(y_min1, y_min2), zero))
    union_area = width_1 * height_1 + width_2 * height_2 - intersection_area + eps
    iou = intersection_area / (union_area + eps)
    convex_width = np.maximum(x_max1, x_max2) - np.minimum(x_min1, x_min2)
    convex_height = np.maximum(y_max1, y_max2) - np.minimum(y_min1, y_min2)
    convex_diagonal_squared = convex_width**2 + convex_height**2 + eps
    centers_distance_squared = (((x_min1 + x_max1) / 2 - (x_min2 + x_max2) / 2) ** 2
                                + ((y_min1 + y_max1) / 2 - (y_min2 + y_max2) / 2) ** 2)
    v = np.float32(4 / math.pi**2) * np.power(
        np.arctan(width_2 / height_2) - np.arctan(width_1 / height_1), 2)
    alpha = v / (v - iou + (1 + eps))
    return iou - (centers_distance_squared / convex_diagonal_squared + v * alpha)


__all__ = ["compute_ciou", "compute_iou"]
