"""Dict inputs of the image layers against Keras 3.15.1 (TensorFlow backend): segmentation masks
and bounding boxes moved by the same draw as the images.

As in test_augmentation_keras.py, the draw is pinned where NumPy cannot reproduce TensorFlow's
RNG: a factor that leaves no choice (``RandomRotation((a, a))``, ``RandomZoom((z, z))``,
``RandomTranslation((t, t), (u, u))``), a layer with no randomness (Resizing, CenterCrop, a
RandomCrop of a smaller image) through the whole dict call on both sides; and a given draw (Keras'
keys, one value per image) through ``transform_segmentation_masks`` and
``transform_bounding_boxes`` on both sides. Everything to FORWARD_RTOL. Where Keras 3.15.1 gets a
box wrong (RandomCrop swaps x and y offsets, RandomRotation ignores the format) the cases stay
where both readings agree (top == left, "xyxy") and docs/parity-notes.md says what differs.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import scratchnet as sn
from parity_tests.driver import FORWARD_RTOL, assert_close

L = sn.layers
FILL_MODES = ("reflect", "wrap", "constant", "nearest")
FORMATS = ("xyxy", "center_xywh", "rel_yxyx", "xywh")


def images(shape=(8, 10, 3), n=3, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, size=(n, *shape)).astype(np.float32)


def masks(shape=(8, 10), n=3, seed=1):
    return np.random.default_rng(seed).integers(0, 4, size=(n, *shape, 1)).astype(np.float32)


def boxes_xyxy(n=3, h=8, w=10, b=4, seed=2):
    """Boxes inside an ``(h, w)`` image, labels 0..5."""
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(0, w, (n, b, 2)), axis=-1)
    y = np.sort(rng.uniform(0, h, (n, b, 2)), axis=-1)
    boxes = np.stack([x[..., 0], y[..., 0], x[..., 1], y[..., 1]], axis=-1).astype(np.float32)
    return boxes, rng.integers(0, 6, (n, b)).astype(np.int32)


def in_format(boxes, fmt, h, w):
    return sn.utils.bounding_boxes.convert_format(boxes, "xyxy", fmt, height=h, width=w)


def data(x, m, boxes, labels):
    return {"images": x, "segmentation_masks": m, "bounding_boxes": {"boxes": boxes, "labels": labels}}


def keras_data(d):
    """Fresh tensors for Keras (its call writes into the dict)."""
    return {"images": tf.constant(d["images"]), "segmentation_masks": tf.constant(d["segmentation_masks"]),
            "bounding_boxes": {"boxes": tf.constant(d["bounding_boxes"]["boxes"]),
                               "labels": tf.constant(d["bounding_boxes"]["labels"])}}


def compare_outputs(ours, theirs, what, parts=("images", "segmentation_masks")):
    for key in parts:
        assert_close(ours[key], np.asarray(theirs[key]), FORWARD_RTOL, f"{what}: {key}")
    assert_close(ours["bounding_boxes"]["boxes"], np.asarray(theirs["bounding_boxes"]["boxes"]),
                 FORWARD_RTOL, f"{what}: boxes")
    np.testing.assert_array_equal(ours["bounding_boxes"]["labels"],
                                  np.asarray(theirs["bounding_boxes"]["labels"]), err_msg=what)


def whole_call(layer, klayer, shape=(8, 10, 3), fmt="xyxy", what="", parts=("images", "segmentation_masks")):
    x, m = images(shape), masks(shape[:2])
    boxes, labels = boxes_xyxy(h=shape[0], w=shape[1])
    d = data(x, m, in_format(boxes, fmt, *shape[:2]), labels)
    ours = layer(d, training=True)
    theirs = klayer(keras_data(d), training=True)
    compare_outputs(ours, theirs, what or type(layer).__name__, parts)
    return ours


# ------------------------------------------------------------------- fixed factors, whole dict
@pytest.mark.parametrize("fill_mode", FILL_MODES)
@pytest.mark.parametrize("turn", [0.1, -0.25, 0.5])
def test_rotation_dict(turn, fill_mode):
    kwargs = dict(fill_mode=fill_mode, fill_value=2.0, bounding_box_format="xyxy")
    whole_call(L.RandomRotation((turn, turn), **kwargs), keras.layers.RandomRotation((turn, turn), **kwargs),
               what=f"RandomRotation({turn}, {fill_mode})")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("fill_mode", FILL_MODES)
@pytest.mark.parametrize("zoom", [(0.3, None), (-0.4, None), (0.5, -0.25)])
def test_zoom_dict(zoom, fill_mode, fmt):
    height, width = zoom
    kwargs = dict(fill_mode=fill_mode, fill_value=2.0, bounding_box_format=fmt)
    args = ((height, height), None if width is None else (width, width))
    whole_call(L.RandomZoom(*args, **kwargs), keras.layers.RandomZoom(*args, **kwargs), fmt=fmt,
               what=f"RandomZoom{args} {fill_mode} {fmt}")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("fill_mode", FILL_MODES)
@pytest.mark.parametrize("shift", [(0.2, -0.3), (-0.5, 0.5)])
def test_translation_dict(shift, fill_mode, fmt):
    dy, dx = shift
    kwargs = dict(fill_mode=fill_mode, fill_value=2.0, bounding_box_format=fmt)
    whole_call(L.RandomTranslation((dy, dy), (dx, dx), **kwargs),
               keras.layers.RandomTranslation((dy, dy), (dx, dx), **kwargs), fmt=fmt,
               what=f"RandomTranslation{shift} {fill_mode} {fmt}")


# ------------------------------------------------------------------- no randomness, whole dict
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("mode", ["stretch", "crop", "pad"])
@pytest.mark.parametrize("target", [(4, 5), (6, 3), (12, 12)], ids=str)
def test_resizing_dict(target, mode, fmt):
    kwargs = dict(crop_to_aspect_ratio=mode == "crop", pad_to_aspect_ratio=mode == "pad",
                  bounding_box_format=fmt)
    if mode == "pad":
        kwargs["fill_value"] = 1.0
    whole_call(L.Resizing(*target, **kwargs), keras.layers.Resizing(*target, **kwargs), fmt=fmt,
               what=f"Resizing{target} {mode} {fmt}")


def test_resizing_keeps_padding_boxes_at_zero():
    """Keras keeps the all-0 and all -1 boxes (a padded batch's fillers) at 0 after resizing."""
    x, m = images(), masks()
    boxes, labels = boxes_xyxy()
    boxes[:, 1] = 0.0
    boxes[:, 2] = -1.0
    labels[:, 1:3] = -1
    d = data(x, m, boxes, labels)
    kwargs = dict(pad_to_aspect_ratio=True, bounding_box_format="xyxy")
    ours = L.Resizing(5, 5, **kwargs)(d)
    compare_outputs(ours, keras.layers.Resizing(5, 5, **kwargs)(keras_data(d)), "Resizing fillers")
    np.testing.assert_array_equal(ours["bounding_boxes"]["boxes"][:, 1:3], 0.0)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("target", [(4, 6), (5, 7), (8, 10), (12, 4), (10, 12)], ids=str)
def test_center_crop_dict(target, fmt):
    whole_call(L.CenterCrop(*target, bounding_box_format=fmt),
               keras.layers.CenterCrop(*target, bounding_box_format=fmt), fmt=fmt,
               what=f"CenterCrop{target} {fmt}")


# ------------------------------------------------------------------- given draws, per image
def keras_masks(klayer, m, draw):
    return np.asarray(klayer.transform_segmentation_masks(tf.constant(m), draw, training=True))


def keras_boxes(klayer, boxes, labels, draw):
    out = klayer.transform_bounding_boxes({"boxes": tf.constant(boxes), "labels": tf.constant(labels)},
                                          draw, training=True)
    return np.asarray(out["boxes"]), np.asarray(out["labels"])


def compare_parts(layer, klayer, draw, keras_draw, fmt="xyxy", shape=(8, 10, 3), what=""):
    """Masks and boxes through ``transform_*`` with one given draw on both sides."""
    x, m = images(shape), masks(shape[:2])
    boxes, labels = boxes_xyxy(h=shape[0], w=shape[1])
    boxes = in_format(boxes, fmt, *shape[:2])
    layer.ensure_built(x.shape[1:], np.random.default_rng(0))
    ours_m = layer.transform_segmentation_masks(m, draw)
    assert_close(ours_m, keras_masks(klayer, m, keras_draw), FORWARD_RTOL, f"{what}: masks")
    ours = layer.transform_bounding_boxes({"boxes": boxes, "labels": labels}, draw)
    theirs_boxes, theirs_labels = keras_boxes(klayer, boxes, labels, keras_draw)
    assert_close(ours["boxes"], theirs_boxes, FORWARD_RTOL, f"{what}: boxes")
    np.testing.assert_array_equal(ours["labels"], theirs_labels, err_msg=what)
    return ours_m, ours


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("mode", ["horizontal", "vertical", "horizontal_and_vertical"])
def test_flip_given_draws(mode, fmt):
    flips = np.array([True, False, True]).reshape(3, 1, 1, 1)
    m, out = compare_parts(L.RandomFlip(mode, bounding_box_format=fmt),
                           keras.layers.RandomFlip(mode, bounding_box_format=fmt), {"flips": flips},
                           {"flips": flips, "input_shape": (3, 8, 10, 3)}, fmt=fmt, what=f"RandomFlip {mode}")
    assert not np.array_equal(m[0], masks()[0]) and np.array_equal(m[1], masks()[1])


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("fill_mode", FILL_MODES)
def test_shear_given_draws(fill_mode, fmt):
    draw = {"shear_factor": np.array([[0.3, -0.2], [-0.5, 0.1], [0.0, 0.45]], np.float32)}
    kwargs = dict(fill_mode=fill_mode, fill_value=3.0, bounding_box_format=fmt)
    compare_parts(L.RandomShear(0.5, 0.5, **kwargs), keras.layers.RandomShear(0.5, 0.5, **kwargs), draw,
                  {**draw, "input_shape": (3, 8, 10, 3)}, fmt=fmt, what=f"RandomShear {fill_mode}")


@pytest.mark.parametrize("seed", [1, 2])
def test_perspective_with_keras_draw(seed):
    """Keras returns RandomPerspective's boxes in "xyxy" whatever the format: "xyxy" here."""
    x = images()
    kwargs = dict(factor=0.7, scale=0.6, fill_value=5.0, bounding_box_format="xyxy")
    klayer = keras.layers.RandomPerspective(seed=seed, **kwargs)
    keras_draw = klayer.get_random_transformation(tf.constant(x))
    draw = {k: np.asarray(v) for k, v in keras_draw.items() if k != "input_shape"}
    assert draw["apply_perspective"].any()
    compare_parts(L.RandomPerspective(**kwargs), klayer, draw, keras_draw, what="RandomPerspective")


@pytest.mark.parametrize("place", [(0, 0), (2, 2), (3, 3)], ids=str)
def test_random_crop_given_a_place(place):
    """Masks at any place; boxes where Keras 3.15.1's arithmetic is right: it subtracts the crop's
    top from x and its left from y (so top == left here), and it does not clip a box to the
    crop's far edges (so the boxes lie inside the crop here). tests/ checks the clipping."""
    x, m = images(), masks()
    layer = L.RandomCrop(5, 6, bounding_box_format="xyxy")
    layer.ensure_built(x.shape[1:], np.random.default_rng(0))
    klayer = keras.layers.RandomCrop(5, 6, bounding_box_format="xyxy")
    assert_close(layer.transform_segmentation_masks(m, place), keras_masks(klayer, m, place),
                 FORWARD_RTOL, "RandomCrop masks")
    boxes, labels = boxes_xyxy(h=5, w=5)
    boxes = boxes + np.float32(place[0])  # inside the crop
    ours = layer.transform_bounding_boxes({"boxes": boxes, "labels": labels}, place)
    theirs_boxes, theirs_labels = keras_boxes(klayer, boxes, labels, place)
    assert_close(ours["boxes"], theirs_boxes, FORWARD_RTOL, f"RandomCrop at {place}: boxes")
    np.testing.assert_array_equal(ours["labels"], theirs_labels)


def test_random_crop_of_a_smaller_image_masks():
    """Smaller than the target: Keras' centred window resized (bilinear) on masks too."""
    x, m = images((4, 6, 3)), masks((4, 6))
    layer = L.RandomCrop(5, 5)
    klayer = keras.layers.RandomCrop(5, 5)
    ours = layer({"images": x, "segmentation_masks": m})
    theirs = klayer({"images": tf.constant(x), "segmentation_masks": tf.constant(m)})
    compare = ("images", "segmentation_masks")
    for key in compare:
        assert_close(ours[key], np.asarray(theirs[key]), FORWARD_RTOL, f"RandomCrop smaller: {key}")


def test_mixup_boxes_and_labels():
    """MixUp stacks each image's boxes with its partner's, ``(N, 2B, 4)``, as Keras; and mixes the
    labels. (Keras stacks the box labels along the batch, ``(2N, B)``, against its boxes;
    scratchnet along the boxes, ``(N, 2B)``: docs/parity-notes.md.)"""
    boxes, labels = boxes_xyxy()
    draw = {"mix_weight": np.array([0.2, 0.7, 0.5], np.float32),
            "permutation_order": np.array([2, 0, 1], np.int32)}
    layer = L.MixUp(bounding_box_format="xyxy")
    klayer = keras.layers.MixUp(bounding_box_format="xyxy")
    ours = layer.transform_bounding_boxes({"boxes": boxes, "labels": labels}, draw)
    theirs_boxes, theirs_labels = keras_boxes(klayer, boxes, labels, draw)
    assert_close(ours["boxes"], theirs_boxes, FORWARD_RTOL, "MixUp boxes")
    assert theirs_labels.shape == (6, 4) and ours["labels"].shape == (3, 8)
    np.testing.assert_array_equal(ours["labels"], np.concatenate([labels, labels[[2, 0, 1]]], axis=1))
    one_hot = np.eye(3, dtype=np.float32)
    assert_close(layer.transform_labels(one_hot, draw),
                 np.asarray(klayer.transform_labels(tf.constant(one_hot), draw)), FORWARD_RTOL,
                 "MixUp labels")


def test_cutmix_masks_with_keras_draw():
    x = images((8, 10, 1))
    m = masks()
    klayer = keras.layers.CutMix(seed=3)
    keras_draw = klayer.get_random_transformation(tf.constant(x))
    draw = {k: np.asarray(v) for k, v in keras_draw.items()}
    layer = L.CutMix()
    layer.ensure_built(x.shape[1:], np.random.default_rng(0))
    assert_close(layer.transform_segmentation_masks(m, draw), keras_masks(klayer, m, keras_draw),
                 FORWARD_RTOL, "CutMix masks")


@pytest.mark.parametrize("picks", [(0, 2), (1, 2), (0, 1)], ids=str)
def test_rand_augment_boxes_and_masks_with_keras_draw(picks):
    """Keras' own draw for every sub-layer, the picks set to geometric layers in Keras' list order
    (where its box order and scratchnet's agree: docs/parity-notes.md)."""
    x, m = images(), masks()
    boxes, labels = boxes_xyxy()
    klayer = keras.layers.RandAugment(num_ops=2, factor=0.3, bounding_box_format="xyxy", seed=4)
    keras_draw = klayer.get_random_transformation(tf.constant(x))
    keras_draw["layer_idxes"] = tf.constant(picks, tf.int32)
    draw = {"layer_idxes": np.array(picks, np.int32),
            "transforms": {name: ({k: np.asarray(v) for k, v in t.items()} if isinstance(t, dict) else t)
                           for name, t in keras_draw["transforms"].items()}}
    layer = L.RandAugment(num_ops=2, factor=0.3, bounding_box_format="xyxy")
    layer.ensure_built(x.shape[1:], np.random.default_rng(0))
    ours = layer.transform_bounding_boxes({"boxes": boxes, "labels": labels}, draw)
    theirs_boxes, theirs_labels = keras_boxes(klayer, boxes, labels, keras_draw)
    assert_close(ours["boxes"], theirs_boxes, FORWARD_RTOL, f"RandAugment {picks}: boxes")
    np.testing.assert_array_equal(ours["labels"], theirs_labels)
    assert_close(layer.transform_segmentation_masks(m, draw), keras_masks(klayer, m, keras_draw),
                 FORWARD_RTOL, f"RandAugment {picks}: masks")


@pytest.mark.parametrize("make", [
    lambda **k: (L.RandomBrightness((0.1, 0.1), **k), keras.layers.RandomBrightness((0.1, 0.1), **k)),
    lambda **k: (L.RandomContrast((-0.5, 0.5), **k), keras.layers.RandomContrast((-0.5, 0.5), **k)),
    lambda **k: (L.RandomInvert(1.0, **k), keras.layers.RandomInvert(1.0, **k)),
    lambda **k: (L.Solarization(threshold_factor=(0.5, 0.5), **k),
                 keras.layers.Solarization(threshold_factor=(0.5, 0.5), **k)),
], ids=["brightness", "contrast", "invert", "solarization"])
def test_color_layers_pass_boxes_and_masks_through(make):
    layer, klayer = make(bounding_box_format="xyxy")  # the images' draws are each side's own
    ours = whole_call(layer, klayer, what=type(layer).__name__, parts=("segmentation_masks",))
    np.testing.assert_array_equal(ours["segmentation_masks"], masks())
    np.testing.assert_array_equal(ours["bounding_boxes"]["boxes"], boxes_xyxy()[0])


def test_keras_grayscale_cannot_take_a_dict():
    """Keras 3.15.1's RandomGrayscale reads the dict as the images and fails; scratchnet's takes
    it like the other colour layers (tests/ checks it). Pinned, so that a Keras that changes
    shows here."""
    d = keras_data(data(images(), masks(), *boxes_xyxy()))
    with pytest.raises(AttributeError, match="shape"):
        keras.layers.RandomGrayscale(1.0, bounding_box_format="xyxy")(d)
    out = L.RandomGrayscale(1.0, bounding_box_format="xyxy")(data(images(), masks(), *boxes_xyxy()))
    np.testing.assert_array_equal(out["segmentation_masks"], masks())


def test_config_carries_bounding_box_format_both_ways():
    for layer, klayer in [(L.RandomFlip(bounding_box_format="rel_xyxy"),
                           keras.layers.RandomFlip(bounding_box_format="rel_xyxy")),
                          (L.Resizing(4, 4, bounding_box_format="yxyx"),
                           keras.layers.Resizing(4, 4, bounding_box_format="yxyx")),
                          (L.CenterCrop(4, 4, bounding_box_format="xywh"),
                           keras.layers.CenterCrop(4, 4, bounding_box_format="xywh"))]:
        config = layer.get_config()
        assert config["bounding_box_format"] == klayer.get_config()["bounding_box_format"]
        assert type(klayer).from_config(config).bounding_box_format == layer.bounding_box_format
        back = L.deserialize(keras.layers.serialize(klayer))
        assert type(back) is type(layer) and back.bounding_box_format == layer.bounding_box_format
    assert "bounding_box_format" not in L.RandomFlip().get_config()
    assert "bounding_box_format" not in keras.layers.RandomFlip().get_config()


def test_keras_files_keep_the_format_both_ways(tmp_path):
    model = sn.Sequential([L.Input((8, 8, 3)), L.RandomFlip(bounding_box_format="xyxy", seed=1),
                           L.Resizing(4, 4, bounding_box_format="center_xywh"), L.Flatten(), L.Dense(2)],
                          seed=0)
    model.save(tmp_path / "boxes.keras")
    kmodel = keras.models.load_model(tmp_path / "boxes.keras")
    assert [k.bounding_box_format for k in kmodel.layers[:2]] == ["xyxy", "center_xywh"]
    kmodel.save(tmp_path / "back.keras")
    loaded = sn.load_model(tmp_path / "back.keras")
    assert [layer.bounding_box_format for layer in loaded.layers[:2]] == ["xyxy", "center_xywh"]
    x = images((8, 8, 3), n=2)
    assert_close(loaded.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL, "predict")


def _numpy_tree(value):
    if isinstance(value, dict):
        return {k: _numpy_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_numpy_tree(v) for v in value]
    if isinstance(value, str) or value is None:
        return value
    return np.asarray(value)


@pytest.mark.parametrize("seed", [0, 5])
def test_aug_mix_masks_with_keras_draw(seed):
    """Each chain's layers' mask transforms, mixed by the images' weights (Keras' draw)."""
    import random

    random.seed(seed)  # Keras picks AugMix's layers with Python's random
    x, m = images(), masks()
    klayer = keras.layers.AugMix(seed=seed)
    keras_draw = klayer.get_random_transformation(tf.constant(x))
    layer = L.AugMix()
    layer.ensure_built(x.shape[1:], np.random.default_rng(0))
    ours = layer.transform_segmentation_masks(m, _numpy_tree(keras_draw))
    assert_close(ours, keras_masks(klayer, m, keras_draw), FORWARD_RTOL, "AugMix masks")
    assert not np.allclose(ours, m)  # the chains moved the masks


def test_keras_passes_unknown_keys_through():
    """Keras leaves a key it does not know as it is; scratchnet refuses it (tests/)."""
    x = images()
    out = keras.layers.RandomFlip()({"images": tf.constant(x), "masks": tf.constant(x)})
    np.testing.assert_array_equal(np.asarray(out["masks"]), x)
    with pytest.raises(ValueError, match="received keys"):
        L.RandomFlip()({"images": x, "masks": x})
