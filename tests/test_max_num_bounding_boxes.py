"""MaxNumBoundingBoxes on its own (Keras parity: parity_tests/test_max_num_bounding_boxes_keras.py):
ragged lists, the identity and its gradient in a model, a .keras round trip, bad inputs."""

import numpy as np
import pytest

import scratchnet as sn
from tests.gradcheck import check_layer

L = sn.layers


def test_ragged_lists_are_padded_then_cut():
    data = {"images": np.zeros((2, 4, 4, 3)),
            "bounding_boxes": {"boxes": [[[0, 0, 1, 1]], [[0, 0, 2, 2], [1, 1, 3, 3], [2, 2, 3, 3]]],
                               "labels": [[4], [5, 6, 7]]}}
    out = L.MaxNumBoundingBoxes(2, bounding_box_format="xyxy")(data)["bounding_boxes"]
    # the lists are first densified as Keras densifies ragged boxes: zero boxes, labels -1
    np.testing.assert_array_equal(out["boxes"], [[[0, 0, 1, 1], [0, 0, 0, 0]],
                                                 [[0, 0, 2, 2], [1, 1, 3, 3]]])
    np.testing.assert_array_equal(out["labels"], [[4, -1], [5, 6]])
    assert isinstance(data["bounding_boxes"]["boxes"], list)  # the caller's dict is left alone


def test_identity_gradient_by_finite_differences(float64, rng):
    check_layer(L.MaxNumBoundingBoxes(3), rng.standard_normal((2, 3, 4, 2)), rng)


def test_keras_file_round_trip_keeps_fill_value(tmp_path):
    model = sn.Sequential([L.Input((4, 4, 2)), L.MaxNumBoundingBoxes(3, fill_value=-5,
                                                                     bounding_box_format="xywh"),
                           L.Flatten(), L.Dense(2)], seed=0)
    model.save(tmp_path / "m.keras")
    loaded = sn.load_model(tmp_path / "m.keras")
    assert loaded.layers[0].get_config() == model.layers[0].get_config()
    x = np.random.default_rng(0).normal(size=(2, 4, 4, 2)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("make, data, pattern", [
    (lambda: L.MaxNumBoundingBoxes(2.5 + 1j), None, "max_number"),
    (lambda: L.MaxNumBoundingBoxes(-1), None, "max_number >= 0"),
    (lambda: L.MaxNumBoundingBoxes(2, fill_value="x"), None, "fill_value"),
    (lambda: L.MaxNumBoundingBoxes(2, data_format="channels_first"), None, "channels_last"),
    (lambda: L.MaxNumBoundingBoxes(2, bounding_box_format="xyxy"), {"image": np.zeros((4, 4, 3))},
     "'images' key"),
    (lambda: L.MaxNumBoundingBoxes(2, bounding_box_format="xyxy"),
     {"images": np.zeros((1, 4, 4, 3)), "bounding_boxes": {"boxes": np.zeros((3, 4)),
                                                           "labels": np.zeros(3)}},
     r"\(batch_size, num_boxes, 4\)"),
    (lambda: L.MaxNumBoundingBoxes(2, bounding_box_format="xyxy"),
     {"images": np.zeros((1, 4, 4, 3)), "bounding_boxes": {"boxes": np.zeros((1, 3, 4)),
                                                           "labels": np.zeros((1, 2))}},
     "labels of shape"),
    (lambda: L.MaxNumBoundingBoxes(2), np.zeros((4, 4)), "rank 3"),
])
def test_bad_inputs_name_what_was_expected(make, data, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()(data)
