"""Dict inputs of the image layers ({"images", "labels", "bounding_boxes", "segmentation_masks"}):
boxes and masks follow the image, labels are left or mixed, and bad dicts get clear errors.
parity_tests/test_augmentation_dict_keras.py compares the numbers with Keras."""

import numpy as np
import pytest

import scratchnet as sn

L = sn.layers


def square_image(h=12, w=12, top=2, left=3, rows=3, cols=4, n=2, channels=3):
    """Black images with one bright ``rows x cols`` square; its box in "xyxy"."""
    x = np.zeros((n, h, w, channels), np.float32)
    x[:, top:top + rows, left:left + cols] = 255.0
    box = np.array([left, top, left + cols, top + rows], np.float32)
    return x, np.tile(box, (n, 1, 1)), np.ones((n, 1), np.int32)


def bright_box(image):
    """The "xyxy" box around an image's bright pixels."""
    rows, cols = np.nonzero(image[..., 0] > 127)
    return np.array([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1], np.float32)


def call(layer, x, boxes, box_labels, **extra):
    return layer({"images": x, "bounding_boxes": {"boxes": boxes, "labels": box_labels}, **extra})


# ------------------------------------------------------------------- boxes follow the image
def test_flip_moves_the_box_with_the_square():
    x, boxes, labels = square_image()
    layer = L.RandomFlip("horizontal_and_vertical", bounding_box_format="xyxy")
    layer.ensure_built(x.shape[1:], np.random.default_rng(0))
    draw = {"flips": np.array([True, False]).reshape(2, 1, 1, 1)}
    y = layer.transform_images(x, draw)
    out = layer.transform_bounding_boxes({"boxes": boxes, "labels": labels}, draw)
    for i in range(2):  # (through fractions of the image: float32 rounding)
        np.testing.assert_allclose(out["boxes"][i, 0], bright_box(y[i]), atol=1e-5)
    np.testing.assert_allclose(out["boxes"][0, 0], [12 - 7, 12 - 5, 12 - 3, 12 - 2], atol=1e-5)


@pytest.mark.parametrize("fmt", ["xyxy", "rel_xyxy", "center_xywh", "yxyx"])
def test_translation_moves_the_box_with_the_square(fmt):
    x, boxes, labels = square_image()
    convert = sn.utils.bounding_boxes.convert_format
    layer = L.RandomTranslation((0.25, 0.25), (-0.25, -0.25), fill_mode="constant",
                                interpolation="nearest", bounding_box_format=fmt)
    out = call(layer, x, convert(boxes, "xyxy", fmt, height=12, width=12), labels)
    got = convert(out["bounding_boxes"]["boxes"], fmt, "xyxy", height=12, width=12)
    for i in range(2):
        np.testing.assert_allclose(got[i, 0], bright_box(out["images"][i]), atol=1e-5)
    np.testing.assert_allclose(got[0, 0], [0, 5, 4, 8], atol=1e-5)  # 3 down, 3 left: cut at x = 0


def test_rotation_by_90_keeps_the_box_around_the_square():
    """A quarter turn of a square image: Keras' box maths turns corners about the pixel-index
    centre ((W - 1) / 2), the pixels about the same centre, so the box is the square's, shifted
    by at most one pixel (edges vs centres)."""
    x, boxes, labels = square_image()
    layer = L.RandomRotation((0.25, 0.25), fill_mode="constant", interpolation="nearest",
                             bounding_box_format="xyxy")
    out = call(layer, x, boxes, labels)
    for i in range(2):
        square = bright_box(out["images"][i])
        np.testing.assert_allclose(out["bounding_boxes"]["boxes"][i, 0], square, atol=1.0 + 1e-5)
        assert np.prod(square[2:] - square[:2]) == 12  # the 3 x 4 square, turned
    width, height = np.diff(out["bounding_boxes"]["boxes"][0, 0].reshape(2, 2), axis=0)[0]
    np.testing.assert_allclose([width, height], [3, 4], atol=1e-5)  # turned: 4 wide -> 4 high


def test_zoom_in_grows_the_box_with_the_square():
    x, boxes, labels = square_image(top=4, left=4, rows=4, cols=4)
    layer = L.RandomZoom((-0.5, -0.5), interpolation="nearest", bounding_box_format="xyxy")
    out = call(layer, x, boxes, labels)
    got = out["bounding_boxes"]["boxes"][0, 0]
    np.testing.assert_allclose(got[2:] - got[:2], [8, 8], atol=1e-5)  # twice as large
    np.testing.assert_allclose(got, bright_box(out["images"][0]), atol=1.0)


def test_a_box_pushed_out_of_the_image_gets_label_minus_one():
    x, boxes, labels = square_image(left=0, cols=2)
    layer = L.RandomTranslation(0.0, (-0.5, -0.5), fill_mode="constant", bounding_box_format="xyxy")
    out = call(layer, x, boxes, labels)
    np.testing.assert_array_equal(out["bounding_boxes"]["labels"], -1)
    np.testing.assert_array_equal(out["bounding_boxes"]["boxes"][..., [0, 2]], 0.0)


def test_random_crop_clips_boxes_to_the_crop():
    """scratchnet clips at the crop's far edges too (Keras 3.15.1 does not, and swaps x and y)."""
    x, boxes, labels = square_image(top=1, left=6, rows=4, cols=5)
    layer = L.RandomCrop(6, 8, bounding_box_format="xyxy")
    layer.ensure_built(x.shape[1:], np.random.default_rng(0))
    out = layer.transform_bounding_boxes({"boxes": boxes, "labels": labels}, (2, 1))
    np.testing.assert_array_equal(out["boxes"][0, 0], [5, 0, 8, 3])
    crop = layer.transform_images(x, (2, 1))
    np.testing.assert_array_equal(out["boxes"][0, 0], bright_box(crop[0]))


def test_random_crop_at_inference_moves_masks_and_boxes_with_the_centred_window():
    x, boxes, labels = square_image(h=8, w=12, top=2, left=5, rows=3, cols=2)
    masks = (x[..., :1] > 0).astype(np.float32)
    layer = L.RandomCrop(4, 4, bounding_box_format="xyxy")
    out = layer({"images": x, "segmentation_masks": masks,
                 "bounding_boxes": {"boxes": boxes, "labels": labels}}, training=False)
    assert out["images"].shape == (2, 4, 4, 3) and out["segmentation_masks"].shape == (2, 4, 4, 1)
    np.testing.assert_allclose(out["bounding_boxes"]["boxes"][0, 0], [1.5, 1, 2.5, 2.5])  # 8x8 window
    np.testing.assert_array_equal(out["segmentation_masks"] * 255, out["images"][..., :1])


@pytest.mark.parametrize("make", [
    lambda: L.Resizing(6, 6, bounding_box_format="xyxy", interpolation="nearest"),
    lambda: L.CenterCrop(8, 8, bounding_box_format="xyxy"),
], ids=["Resizing", "CenterCrop"])
def test_resizing_and_center_crop_move_the_box_with_the_square(make):
    x, boxes, labels = square_image(top=4, left=4, rows=4, cols=2)
    out = call(make(), x, boxes, labels)
    np.testing.assert_allclose(out["bounding_boxes"]["boxes"][0, 0], bright_box(out["images"][0]))


def test_mixup_keeps_both_images_boxes():
    x, boxes, labels = square_image(n=3)
    labels = np.array([[1], [2], [3]], np.int32)
    out = call(L.MixUp(bounding_box_format="xyxy", seed=0), x, boxes, labels,
               labels=np.eye(3, dtype=np.float32))
    assert out["bounding_boxes"]["boxes"].shape == (3, 2, 4)
    second = out["bounding_boxes"]["labels"][:, 1]
    assert sorted(second.tolist()) == [1, 2, 3]  # each image got its partner's box
    np.testing.assert_allclose(out["labels"].sum(axis=1), 1.0, rtol=1e-6)  # mixed one-hot rows


def test_rand_augment_moves_boxes_through_each_chosen_layer_in_turn():
    x, boxes, labels = square_image()
    layer = L.RandAugment(num_ops=2, factor=(0.25, 0.25), bounding_box_format="xyxy")
    layer.ensure_built(x.shape[1:], np.random.default_rng(0))
    draw = layer.get_random_transformation(x)
    draw["layer_idxes"] = np.array([2, 2], np.int32)  # random_rotation twice: half a turn
    out = layer.transform_bounding_boxes({"boxes": boxes, "labels": labels}, draw)
    once = layer.ops["random_rotation"]
    once.bounding_box_format = "xyxy"
    rotation = draw["transforms"]["random_rotation"]
    twice = once.transform_bounding_boxes(once.transform_bounding_boxes(
        {"boxes": boxes, "labels": labels}, rotation), rotation)
    np.testing.assert_allclose(out["boxes"], twice["boxes"], rtol=1e-6)


# ------------------------------------------------------------------- masks follow the image
@pytest.mark.parametrize("make", [
    lambda: L.RandomFlip(seed=1),
    lambda: L.RandomRotation(0.3, fill_mode="constant", interpolation="nearest", seed=2),
    lambda: L.RandomZoom(0.4, 0.3, fill_mode="constant", interpolation="nearest", seed=3),
    lambda: L.RandomTranslation(0.3, 0.3, fill_mode="wrap", interpolation="nearest", seed=4),
    lambda: L.RandomShear(0.4, 0.4, fill_mode="constant", interpolation="nearest", seed=5),
    lambda: L.RandomPerspective(interpolation="nearest", seed=6),
    lambda: L.RandomElasticTransform(scale=(0.5, 0.5), interpolation="nearest", fill_mode="constant",
                                     seed=7),
    lambda: L.RandomCrop(7, 9, seed=8),
    lambda: L.CenterCrop(7, 9),
    lambda: L.Resizing(6, 5, interpolation="nearest"),
    lambda: L.Resizing(6, 5, interpolation="nearest", crop_to_aspect_ratio=True),
    lambda: L.Resizing(6, 5, interpolation="nearest", pad_to_aspect_ratio=True),
    lambda: L.CutMix(seed=2),
    lambda: L.MixUp(seed=3),
], ids=["flip", "rotation", "zoom", "translation", "shear", "perspective", "elastic", "crop",
        "center_crop", "resizing", "resizing_crop", "resizing_pad", "cutmix", "mixup"])
def test_mask_moves_with_the_image(make):
    """A 0/255 image and its 0/1 mask through one draw: the mask is still the image's bright part."""
    rng = np.random.default_rng(0)
    x = np.repeat((rng.random((3, 12, 14, 1)) > 0.5).astype(np.float32) * 255, 3, axis=-1)
    masks = (x[..., :1] > 0).astype(np.float32)
    out = make()({"images": x, "segmentation_masks": masks})
    assert out["segmentation_masks"].shape == out["images"].shape[:3] + (1,)
    np.testing.assert_allclose(out["segmentation_masks"] * 255, out["images"][..., :1], rtol=1e-6)
    assert not np.array_equal(out["images"], x) or out["images"].shape != x.shape


def test_integer_masks_keep_their_dtype_and_labels():
    x = np.random.default_rng(0).uniform(0, 255, (2, 9, 9, 3)).astype(np.float32)
    masks = np.random.default_rng(1).integers(0, 5, (2, 9, 9, 1)).astype(np.int32)
    out = L.RandomRotation(0.2, interpolation="bilinear", seed=0)({"images": x, "segmentation_masks": masks})
    assert out["segmentation_masks"].dtype == np.int32
    assert set(np.unique(out["segmentation_masks"])) <= set(range(5))  # nearest: no new values


@pytest.mark.parametrize("make", [
    lambda: L.RandomBrightness(0.3), lambda: L.RandomContrast(0.3), lambda: L.RandomHue(0.3),
    lambda: L.RandomGrayscale(1.0), lambda: L.RandomSaturation(0.3), lambda: L.Solarization(0.5),
    lambda: L.RandomColorJitter(brightness_factor=0.2), lambda: L.RandomGaussianBlur(),
    lambda: L.Equalization(), lambda: L.AutoContrast(), lambda: L.RandomErasing(),
    lambda: L.RandomPosterization(4), lambda: L.RandomSharpness(0.3), lambda: L.RandomInvert(),
    lambda: L.RandomColorDegeneration(0.3),
], ids=lambda m: type(m()).__name__)
def test_colour_layers_leave_labels_boxes_and_masks(make):
    x, boxes, labels = square_image()
    masks = np.random.default_rng(0).integers(0, 3, (2, 12, 12, 1)).astype(np.float32)
    layer = make()
    layer.bounding_box_format = "xyxy"
    one_hot = np.eye(2, dtype=np.float32)
    out = call(layer, x, boxes, labels, segmentation_masks=masks, labels=one_hot)
    np.testing.assert_array_equal(out["segmentation_masks"], masks)
    np.testing.assert_array_equal(out["bounding_boxes"]["boxes"], boxes)
    np.testing.assert_array_equal(out["bounding_boxes"]["labels"], labels)
    np.testing.assert_array_equal(out["labels"], one_hot)


def test_inference_leaves_every_part():
    x, boxes, labels = square_image()
    masks = (x[..., :1] > 0).astype(np.float32)
    out = call(L.RandomRotation(0.4, bounding_box_format="xyxy"), x, boxes, labels,
               segmentation_masks=masks)
    assert not np.array_equal(out["segmentation_masks"], masks)
    out = L.RandomRotation(0.4, bounding_box_format="xyxy")(
        {"images": x, "segmentation_masks": masks, "bounding_boxes": {"boxes": boxes, "labels": labels}},
        training=False)
    np.testing.assert_array_equal(out["images"], x)
    np.testing.assert_array_equal(out["segmentation_masks"], masks)
    np.testing.assert_array_equal(out["bounding_boxes"]["boxes"], boxes)


def test_one_sample_dict():
    x, boxes, labels = square_image(n=1)
    layer = L.RandomTranslation((0.25, 0.25), 0.0, fill_mode="constant", bounding_box_format="xyxy")
    out = layer({"images": x[0], "bounding_boxes": {"boxes": boxes[0], "labels": labels[0]},
                 "segmentation_masks": (x[0, ..., :1] > 0).astype(np.float32)})
    assert out["images"].shape == (12, 12, 3) and out["segmentation_masks"].shape == (12, 12, 1)
    assert out["bounding_boxes"]["boxes"].shape == (1, 4)
    np.testing.assert_allclose(out["bounding_boxes"]["boxes"][0], [3, 5, 7, 8])


def test_the_same_draw_for_images_and_masks_across_calls():
    """Each call draws anew, and within a call images and masks share the draw."""
    x = np.repeat((np.random.default_rng(0).random((4, 10, 10, 1)) > 0.5).astype(np.float32) * 255, 3, -1)
    layer = L.RandomRotation(0.5, interpolation="nearest", fill_mode="constant", seed=3)
    first = layer({"images": x, "segmentation_masks": x[..., :1] / 255})
    second = layer({"images": x, "segmentation_masks": x[..., :1] / 255})
    assert not np.array_equal(first["images"], second["images"])
    for out in (first, second):
        np.testing.assert_array_equal(out["segmentation_masks"] * 255, out["images"][..., :1])


# ------------------------------------------------------------------- errors and config
def test_bad_dict_keys():
    x, _, _ = square_image()
    with pytest.raises(ValueError, match=r"RandomFlip .*'images'.*received keys \['images', 'masks'\]"):
        L.RandomFlip()({"images": x, "masks": x})
    with pytest.raises(ValueError, match=r"key 'images'.*received keys \['labels'\]"):
        L.RandomFlip()({"labels": np.eye(2)})


def test_boxes_need_a_bounding_box_format():
    x, boxes, labels = square_image()
    for layer in (L.RandomFlip(), L.Resizing(4, 4), L.RandomBrightness(0.1)):
        with pytest.raises(ValueError, match=r"didn't specify a bounding box format.*"
                                             rf"{type(layer).__name__} layer.*bounding_box_format='xyxy'"):
            call(layer, x, boxes, labels)


def test_bad_bounding_box_format_and_bad_boxes():
    with pytest.raises(ValueError, match=r"RandomFlip .*bounding_box_format to be None or one of .*'xyxy'"
                                         r".*received 'xyz'"):
        L.RandomFlip(bounding_box_format="xyz")
    with pytest.raises(ValueError, match="Resizing .*received 'XYXY'"):
        L.Resizing(3, 3, bounding_box_format="XYXY")
    x, boxes, labels = square_image()
    layer = L.RandomFlip(bounding_box_format="xyxy")
    with pytest.raises(ValueError, match=r"bounding_boxes to be a dict with keys 'boxes' and 'labels'"):
        layer({"images": x, "bounding_boxes": {"boxes": boxes}})
    with pytest.raises(ValueError, match=r"shape \(batch, num_boxes, 4\).*received shape \(2, 4\)"):
        call(layer, x, boxes[:, 0], labels)
    with pytest.raises(ValueError, match=r"one label per box, shape \(2, 1\), received shape \(2, 3\)"):
        call(layer, x, boxes, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="ragged"):
        call(layer, x, [[[0, 0, 1, 1]], [[0, 0, 1, 1], [1, 1, 2, 2]]], [[1], [1, 2]])


def test_bad_masks_and_images():
    x, _, _ = square_image()
    with pytest.raises(ValueError, match=r"segmentation_masks'\] of shape \(2, 12, 12, 'channels'\).*"
                                         r"received shape \(2, 10, 12, 1\)"):
        L.RandomFlip()({"images": x, "segmentation_masks": np.zeros((2, 10, 12, 1))})
    with pytest.raises(ValueError, match=r"images'\] of rank 3 .* or 4 .*received shape \(12, 12\)"):
        L.RandomFlip()({"images": x[0, ..., 0]})


def test_layers_that_move_no_boxes_say_so():
    x, boxes, labels = square_image()
    with pytest.raises(NotImplementedError, match="CutMix .*does not transform bounding boxes"):
        call(L.CutMix(bounding_box_format="xyxy"), x, boxes, labels)
    with pytest.raises(NotImplementedError, match="RandomElasticTransform .*elastic warp"):
        call(L.RandomElasticTransform(bounding_box_format="xyxy"), x, boxes, labels)


def test_config_and_deserialize_keep_the_format():
    for layer in (L.RandomZoom(0.2, bounding_box_format="center_xywh"),
                  L.CenterCrop(3, 3, bounding_box_format="xyxy"),
                  L.RandomShear(0.2, bounding_box_format="rel_xyxy")):
        config = layer.get_config()
        back = L.deserialize(L.serialize(layer))
        assert back.bounding_box_format == layer.bounding_box_format == config["bounding_box_format"]
    assert "bounding_box_format" not in L.RandomZoom(0.2).get_config()


def test_pipeline_passes_the_dict_through_its_layers():
    x, boxes, labels = square_image()
    masks = (x[..., :1] > 0).astype(np.float32)
    pipe = L.Pipeline([L.RandomFlip(bounding_box_format="xyxy", seed=0),
                       L.RandomTranslation((0.25, 0.25), 0.0, fill_mode="constant", interpolation="nearest",
                                           bounding_box_format="xyxy"),
                       L.RandomBrightness((0.0, 0.0), bounding_box_format="xyxy")])
    out = pipe({"images": x, "segmentation_masks": masks,
                "bounding_boxes": {"boxes": boxes, "labels": labels}})
    for i in range(2):
        np.testing.assert_allclose(out["bounding_boxes"]["boxes"][i, 0], bright_box(out["images"][i]),
                                   atol=1e-5)
    np.testing.assert_array_equal(out["segmentation_masks"] * 255, out["images"][..., :1])


def test_a_model_still_takes_plain_images():
    """The dict path is for data pipelines; a model's layers still take arrays, with backward."""
    model = sn.Sequential([L.Input((6, 6, 1)), L.RandomFlip(bounding_box_format="xyxy"), L.Flatten(),
                           L.Dense(2)], seed=0)
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(0).random((4, 6, 6, 1)).astype(np.float32)
    history = model.fit(x, np.zeros((4, 2), np.float32), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
