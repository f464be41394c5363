"""sn.utils.bounding_boxes on hand-computed values and bad inputs (parity with Keras:
parity_tests/test_bounding_boxes_keras.py)."""

import numpy as np
import pytest

import scratchnet as sn

SB = sn.utils.bounding_boxes
BOX = np.array([[10.0, 20.0, 30.0, 60.0]])  # xyxy: left 10, top 20, right 30, bottom 60

GOLDEN = {  # the box above in each format, image 100 high and 50 wide
    "xyxy": [10, 20, 30, 60],
    "yxyx": [20, 10, 60, 30],
    "xywh": [10, 20, 20, 40],
    "center_xywh": [20, 40, 20, 40],
    "center_yxhw": [40, 20, 40, 20],
    "rel_xyxy": [0.2, 0.2, 0.6, 0.6],
    "rel_yxyx": [0.2, 0.2, 0.6, 0.6],
    "rel_xywh": [0.2, 0.2, 0.4, 0.4],
    "rel_center_xywh": [0.4, 0.4, 0.4, 0.4],
}


@pytest.mark.parametrize("fmt", sorted(GOLDEN))
def test_golden_formats_both_ways(fmt):
    there = SB.convert_format(BOX, "xyxy", fmt, height=100, width=50)
    np.testing.assert_allclose(there, [GOLDEN[fmt]], rtol=1e-6)
    back = SB.convert_format(there, fmt, "xyxy", height=100, width=50)
    np.testing.assert_allclose(back, BOX, rtol=1e-6)


def test_dict_is_copied_not_changed():
    data = {"boxes": BOX, "labels": np.array([3]), "extra": "kept"}
    out = SB.convert_format(data, "xyxy", "xywh")
    assert out is not data and data["boxes"] is BOX and out["extra"] == "kept"
    np.testing.assert_allclose(out["boxes"], [GOLDEN["xywh"]])


def test_iou_golden_values():
    a = np.array([[0.0, 0.0, 10.0, 10.0]])
    b = np.array([[5.0, 5.0, 15.0, 15.0], [20.0, 20.0, 30.0, 30.0], [0.0, 0.0, 10.0, 10.0]])
    np.testing.assert_allclose(SB.compute_iou(a, b, "xyxy"), [[25 / 175, 0.0, 1.0]], rtol=1e-6)
    # centres 5 apart on each axis, enclosing box 15 x 15: ciou = iou - 50 / 450 (same shape: v = 0)
    np.testing.assert_allclose(SB.compute_ciou(a[0], b[0], "xyxy"), 25 / 175 - 50 / 450, rtol=1e-5)


def test_clip_marks_empty_boxes():
    data = {"boxes": np.array([[-5.0, -5.0, 5.0, 5.0], [60.0, 0.0, 70.0, 5.0]]),
            "labels": np.array([1, 2])}
    out = SB.clip_to_image_size(data, height=50, width=50)
    np.testing.assert_allclose(out["boxes"], [[0, 0, 5, 5], [50, 0, 50, 5]])
    np.testing.assert_array_equal(out["labels"], [1, -1])


def test_densify_pads_ragged_lists():
    data = {"boxes": [[[0, 0, 1, 1]], [[0, 0, 2, 2], [1, 1, 3, 3]]], "labels": [[4], [5, 6]]}
    out = SB.densify_bounding_boxes(data, is_batched=True)
    assert out["boxes"].shape == (2, 2, 4) and out["boxes"].dtype == np.float32
    np.testing.assert_array_equal(out["boxes"][0, 1], [0, 0, 0, 0])
    np.testing.assert_array_equal(out["labels"], [[4, -1], [5, 6]])


@pytest.mark.parametrize("call, error, words", [
    (lambda: SB.convert_format(BOX, 3, "xyxy"), TypeError, "source"),
    (lambda: SB.convert_format(BOX, "xyxy", "cxcywh"), ValueError, "target='cxcywh'"),
    (lambda: SB.convert_format(np.zeros((2, 3)), "xyxy", "xywh"), ValueError, r"\(2, 3\)"),
    (lambda: SB.convert_format(np.float32(1.0), "xyxy", "xywh"), ValueError, r"shape=\(\)"),
    (lambda: SB.convert_format({"labels": [1]}, "xyxy", "xywh"), ValueError, "'boxes'"),
    (lambda: SB.clip_to_image_size(BOX, 10, 10), TypeError, "dict"),
    (lambda: SB.affine_transform(np.zeros((1, 2, 3, 4)), 0, 0, 0, 1, 0, 0, 5, 5), ValueError,
     "batch_size"),
    (lambda: SB.compute_iou(np.zeros((1, 1, 1, 4)), BOX, "xyxy"), ValueError, "boxes1"),
    (lambda: SB.encode_box_to_deltas(BOX, BOX, "xyxy", "xyxy", image_shape=(5, 5)), ValueError,
     "image_shape"),
    (lambda: SB.decode_deltas_to_boxes({"a": BOX}, {"b": BOX}, "xyxy", "xyxy"), ValueError, "'a'"),
    (lambda: SB.validate_bounding_boxes({"boxes": np.zeros((2, 4)), "labels": np.zeros((1, 1, 2))}),
     ValueError, "rank 1 or 2"),
    (lambda: SB.validate_bounding_boxes({"boxes": [[0, 0, 1, 1]], "labels": [1, 2]}), ValueError,
     "same length"),
])
def test_errors_name_argument_and_received(call, error, words):
    with pytest.raises(error, match=words):
        call()
