"""MaxNumBoundingBoxes against Keras 3.15.1: the boxes dict cut and padded (batched, one image,
more and fewer boxes than max_number, another fill_value), what passes unchanged, the output
shapes, in a model (forward, gradients and Adam steps through it, the identity there), the config,
summary, conversion both ways and Keras' errors."""

import keras
import numpy as np
import pytest

import scratchnet as sn
import tfnet
from parity_tests.driver import FORWARD_RTOL, assert_parity, check_round_trip

L = sn.layers


def detection_data(batch, n, seed=0):
    rng = np.random.default_rng(seed)
    shape = (batch, 8, 10, 3) if batch else (8, 10, 3)
    lead = (batch, n) if batch else (n,)
    corner = rng.uniform(0, 6, lead + (2,))
    boxes = np.concatenate([corner, corner + rng.uniform(1, 3, lead + (2,))], axis=-1)
    return {"images": rng.integers(0, 255, shape).astype(np.uint8),
            "bounding_boxes": {"boxes": boxes, "labels": rng.integers(0, 5, lead)},
            "labels": rng.integers(0, 2, (batch,) if batch else ()),
            "segmentation_masks": rng.integers(0, 3, shape[:-1] + (1,))}


def copy_data(data):
    return {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}


@pytest.mark.parametrize("batch", [3, 0])
@pytest.mark.parametrize("n, max_number, fill_value", [(5, 8, -1), (7, 4, -1), (4, 4, 0), (6, 9, -7)])
def test_boxes_cut_and_padded_as_keras(batch, n, max_number, fill_value):
    data = detection_data(batch, n, seed=n + max_number)
    ours = L.MaxNumBoundingBoxes(max_number, fill_value, bounding_box_format="xyxy")(copy_data(data))
    theirs = keras.layers.MaxNumBoundingBoxes(max_number, fill_value, bounding_box_format="xyxy")(
        copy_data(data))
    assert sorted(ours) == sorted(theirs)
    for key in ("boxes", "labels"):
        mine, keras_out = ours["bounding_boxes"][key], np.asarray(theirs["bounding_boxes"][key])
        assert mine.shape == keras_out.shape and mine.dtype == keras_out.dtype, key
        np.testing.assert_array_equal(mine, keras_out)
    for key in ("images", "labels", "segmentation_masks"):
        assert ours[key].dtype == np.asarray(theirs[key]).dtype, key
        np.testing.assert_array_equal(ours[key], np.asarray(theirs[key]))
    assert (ours["bounding_boxes"]["labels"][..., n:] == fill_value).all()


def test_images_alone_and_output_shapes_as_keras():
    images = np.random.default_rng(1).integers(0, 255, (2, 5, 5, 3)).astype(np.uint8)
    layer = L.MaxNumBoundingBoxes(6)
    klayer = keras.layers.MaxNumBoundingBoxes(6)
    for x in (images, images[0]):
        ours, theirs = layer(x), np.asarray(klayer(x))
        assert ours.dtype == theirs.dtype == np.uint8
        np.testing.assert_array_equal(ours, theirs)
    shapes = {"images": (None, 5, 5, 3), "bounding_boxes": {"boxes": (None, 7, 4), "labels": (None, 7)}}
    ours = layer.compute_output_shape(dict(shapes))
    theirs = klayer.compute_output_shape({"images": (None, 5, 5, 3),
                                          "bounding_boxes": dict(shapes["bounding_boxes"])})
    assert ours == theirs
    assert layer.compute_output_shape((None, 5, 5, 3)) == klayer.compute_output_shape((None, 5, 5, 3))


def test_in_a_model_forward_gradients_and_adam_steps_as_keras():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(6, 6, 6, 3)).astype(np.float32)
    y = rng.integers(0, 3, 6)
    model = sn.Sequential([L.Input((6, 6, 3)), L.Conv2D(2, 3), L.MaxNumBoundingBoxes(10),
                           L.Flatten(), L.Dense(3)], seed=3)
    assert_parity(model, x, y, loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True),
                  optimizer=sn.optimizers.Adam(0.01), steps=4, batch_size=3)


def test_config_summary_and_conversion_both_ways():
    layer = L.MaxNumBoundingBoxes(5, fill_value=-2, bounding_box_format="yxyx")
    klayer = keras.layers.MaxNumBoundingBoxes(5, fill_value=-2, bounding_box_format="yxyx")
    ours, theirs = layer.get_config(), klayer.get_config()
    assert {k: v for k, v in ours.items() if k not in ("name", "fill_value")} == \
        {k: v for k, v in theirs.items() if k != "name"}
    assert ours["fill_value"] == -2  # Keras leaves it out of its config (docs/parity-notes.md)
    assert L.MaxNumBoundingBoxes(**ours).get_config() == ours
    back = tfnet.convert.layer_from_keras(tfnet.convert.layer_to_keras(layer))
    assert back.get_config() == ours
    assert tfnet.convert.layer_to_keras(layer).fill_value == -2
    model = sn.Sequential([L.Input((4, 4, 2)), L.MaxNumBoundingBoxes(3), L.Flatten(), L.Dense(2)], seed=4)
    kmodel = check_round_trip(model)
    summary = model.summary(print_fn=None)
    lines = []
    kmodel.summary(print_fn=lines.append)
    assert "(None, 4, 4, 2)" in summary and "MaxNumBoundingBoxes" in summary
    assert "MaxNumBoundingBoxes" in "\n".join(lines)


def test_errors_as_keras():
    data = detection_data(2, 3)
    no_labels = copy_data(data)
    del no_labels["bounding_boxes"]["labels"]
    for layer, bad, pattern in [(L.MaxNumBoundingBoxes(4), data, "bounding box format"),
                                (L.MaxNumBoundingBoxes(4, bounding_box_format="xyxy"), no_labels,
                                 "'boxes' and 'labels'"),
                                (L.MaxNumBoundingBoxes(4, bounding_box_format="xyxy"),
                                 {"images": np.zeros((5, 5))}, "rank 3")]:
        klayer = keras.layers.MaxNumBoundingBoxes(4, bounding_box_format=layer.bounding_box_format)
        with pytest.raises(ValueError):
            klayer(copy_data(bad))
        with pytest.raises(ValueError, match=pattern):
            layer(copy_data(bad))
    with pytest.raises(KeyError):
        keras.layers.MaxNumBoundingBoxes(4).compute_output_shape(
            {"bounding_boxes": {"boxes": (None, 3, 4), "labels": (None, 3), "scores": (None, 3)}})
    with pytest.raises(KeyError, match="scores"):
        L.MaxNumBoundingBoxes(4).compute_output_shape(
            {"bounding_boxes": {"boxes": (None, 3, 4), "labels": (None, 3), "scores": (None, 3)}})
    assert FORWARD_RTOL  # (the numbers above are compared exactly)
