"""Checks on Keras' bounding-box dict ``{"boxes": ..., "labels": ...}`` for the layers that take
one (Keras' ``validate_bounding_boxes`` and ``densify_bounding_boxes``, without ragged tensors:
lists of per-image lists are padded instead)."""

from __future__ import annotations

import numpy as np


def validate_bounding_boxes(bounding_boxes, where: str = "bounding_boxes") -> None:
    """Raise a ``ValueError`` unless ``bounding_boxes`` is a dict with ``"boxes"`` and
    ``"labels"`` whose ranks fit: boxes ``(N, 4)`` with labels rank 1 or 2, or boxes
    ``(batch, N, 4)`` with labels rank 2 or 3 (lists: the same length)."""
    if not isinstance(bounding_boxes, dict) or "labels" not in bounding_boxes \
            or "boxes" not in bounding_boxes:
        received = sorted(bounding_boxes) if isinstance(bounding_boxes, dict) \
            else type(bounding_boxes).__name__
        raise ValueError(f"{where}: expected `bounding_boxes` to be a dict with keys 'boxes' and "
                         f"'labels'; received {received}")
    boxes, labels = bounding_boxes["boxes"], bounding_boxes["labels"]
    if isinstance(boxes, list):
        if not isinstance(labels, list):
            raise ValueError(f"{where}: if bounding_boxes['boxes'] is a list, then "
                             "bounding_boxes['labels'] must also be a list; received "
                             f"{type(labels).__name__}")
        if len(boxes) != len(labels):
            raise ValueError(f"{where}: bounding_boxes['boxes'] and bounding_boxes['labels'] must "
                             f"have the same length; received {len(boxes)} and {len(labels)}")
        return
    boxes_rank, labels_rank = np.ndim(boxes), np.ndim(labels)
    expected = {2: (1, 2), 3: (2, 3)}
    if boxes_rank not in expected:
        raise ValueError(f"{where}: expected bounding_boxes['boxes'] to have rank 2 or 3, with shape "
                         "(num_boxes, 4) or (batch_size, num_boxes, 4); received "
                         f"bounding_boxes['boxes'].shape={np.shape(boxes)}")
    if labels_rank not in expected[boxes_rank]:
        raise ValueError(f"{where}: found bounding_boxes['boxes'].shape={np.shape(boxes)} and "
                         f"expected bounding_boxes['labels'] to have rank {expected[boxes_rank][0]} "
                         f"or {expected[boxes_rank][1]}; received "
                         f"bounding_boxes['labels'].shape={np.shape(labels)}")


def _pad_list(boxes: list, labels: list, max_boxes: int, box_value, label_value):
    added = max_boxes - len(boxes)
    boxes = list(boxes[:max_boxes]) + [[box_value] * 4] * max(added, 0)
    labels = list(labels[:max_boxes]) + [label_value] * max(added, 0)
    return boxes, labels


def densify_bounding_boxes(bounding_boxes, is_batched: bool = False, max_boxes: int | None = None,
                           boxes_default_value=0, labels_default_value=-1,
                           where: str = "bounding_boxes") -> dict:
    """A new dict with ``"boxes"`` as a float32 array and ``"labels"`` as an array. Batched lists
    of per-image lists (a different number of boxes each) are padded to the longest (or cut to
    ``max_boxes``) with ``boxes_default_value`` boxes and ``labels_default_value`` labels."""
    validate_bounding_boxes(bounding_boxes, where)
    boxes, labels = bounding_boxes["boxes"], bounding_boxes["labels"]
    result = dict(bounding_boxes)
    if is_batched and isinstance(boxes, list) and boxes and isinstance(boxes[0], list | np.ndarray) \
            and np.ndim(boxes[0]) == 2:
        longest = max(len(b) for b in boxes) if max_boxes is None else max_boxes
        padded = [_pad_list(list(b), list(np.asarray(l).tolist()), longest, boxes_default_value,
                            labels_default_value) for b, l in zip(boxes, labels, strict=True)]
        result["boxes"] = np.asarray([np.asarray(b, dtype=np.float32).reshape(-1, 4)
                                      for b, _ in padded], dtype=np.float32)
        result["labels"] = np.asarray([l for _, l in padded], dtype=np.int32)
        return result
    result["boxes"] = np.asarray(boxes, dtype=np.float32)
    result["labels"] = np.asarray(labels)
    return result


__all__ = ["densify_bounding_boxes", "validate_bounding_boxes"]
