"""The colour, mixing and warping augmentation layers against Keras 3.15.1 (TensorFlow backend):
RandomGrayscale, RandomHue, RandomSaturation, RandomColorDegeneration, RandomColorJitter,
RandomInvert, Solarization, AutoContrast, RandomPosterization, RandomSharpness, RandomShear,
RandomErasing, RandomGaussianBlur, MixUp, CutMix, Equalization, RandomPerspective.

Keras draws from TensorFlow's RNG, which NumPy cannot reproduce, so the transforms are compared
where the draw is fixed: a given transformation dict (Keras' keys, different values per image;
often Keras' own draw) through ``transform_images`` on both sides, and whole layers whose factors
fix the draw. Our draws are compared with Keras' in structure (keys, shapes, dtypes, ranges);
tests/test_augmentation_more.py checks their distributions. Gradients: TensorFlow's where it has
one (GRAD_RTOL); the layers it has none for raise (tests/). Inference: what Keras returns.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import scratchnet as sn
import tfnet
from parity_tests.driver import (
    FORWARD_RTOL,
    GRAD_RTOL,
    assert_close,
    assert_parity,
    check_forward,
    make_twins,
)

L = sn.layers
FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = ("bilinear", "nearest")


def images(shape=(7, 6, 3), n=4, seed=0, low=0.0, high=255.0):
    return np.random.default_rng(seed).uniform(low, high, size=(n, *shape)).astype(np.float32)


def numpy_dict(transformation):
    if isinstance(transformation, dict):
        return {k: np.asarray(v) for k, v in transformation.items() if k != "input_shape"}
    return np.asarray(transformation)


def built(layer, x):
    layer.ensure_built(x.shape[1:], np.random.default_rng(0))
    return layer


def keras_transform(klayer, x, transformation):
    return np.asarray(klayer.transform_images(tf.constant(x), transformation, training=True))


def compare(layer, klayer, x, draw, what):
    ours = built(layer, x).transform_images(x, draw)
    theirs = keras_transform(klayer, x, draw)
    assert_close(ours, theirs, FORWARD_RTOL, what)
    return ours, theirs


def keras_input_grad(klayer, x, transformation, w):
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        loss = tf.reduce_sum(klayer.transform_images(xt, transformation, training=True) * w)
    return tape.gradient(loss, xt).numpy()


BOOLS = np.array([True, False, True, True])


# ------------------------------------------------------------------- colour: given draws
@pytest.mark.parametrize("channels", [3, 1])
def test_grayscale(channels):
    x = images((5, 6, channels))
    draw = BOOLS.reshape(4, 1, 1, 1)
    ours, _ = compare(L.RandomGrayscale(), keras.layers.RandomGrayscale(), x, draw, "RandomGrayscale")
    if channels == 3:
        assert np.all(ours[0, ..., 0] == ours[0, ..., 2]) and np.array_equal(ours[1], x[1])


@pytest.mark.parametrize("value_range", [(0, 255), (0, 1), (-1, 1), (255, 0)])
def test_hue(value_range):
    lo, hi = sorted(value_range)
    x = images(low=lo, high=hi)
    # near 0, across the wrap at 0 and 1, and the extremes Keras can draw (+-0.5)
    draw = {"factor": np.array([0.01, -0.35, 0.5, -0.5], np.float32)}
    compare(L.RandomHue(0.5, value_range=value_range), keras.layers.RandomHue(0.5, value_range=value_range),
            x, draw, f"RandomHue {value_range}")


def test_hue_of_grey_and_saturated_pixels():
    """Pixels where TensorFlow's rgb_to_hsv takes its special branches: grey (range 0), black
    (V = 0), pure and equal-maximum colours (r == g == V)."""
    x = np.array([[[0, 0, 0], [128, 128, 128], [255, 0, 0], [255, 255, 0]],
                  [[0, 255, 255], [10, 200, 200], [0, 0, 255], [255, 0, 255]]], np.float32)[None]
    x = np.repeat(x, 2, axis=0)
    draw = {"factor": np.array([0.2, -0.45], np.float32)}
    compare(L.RandomHue(0.9), keras.layers.RandomHue(0.9), x, draw, "RandomHue special pixels")
    sat = {"factor": np.array([0.0, 3.0], np.float32)}
    compare(L.RandomSaturation(0.9), keras.layers.RandomSaturation(0.9), x, sat,
            "RandomSaturation special pixels")


@pytest.mark.parametrize("value_range", [(0, 255), (0, 1)])
def test_saturation(value_range):
    """The factor ``g / (1 - g + 1e-7)``: 0 (grey), below and above 1; with value_range (0, 255)
    the saturation is clipped to [0, 255], so above 1 the colours leave the range (Keras)."""
    x = images(high=max(value_range))
    draw = {"factor": np.array([0.0, 0.4, 1.0, 3.5], np.float32)}
    ours, _ = compare(L.RandomSaturation(0.9, value_range=value_range),
                      keras.layers.RandomSaturation(0.9, value_range=value_range), x, draw,
                      f"RandomSaturation {value_range}")
    if value_range == (0, 255):
        assert ours[3].min() < 0  # Keras does not clip S to 1 here: colours below 0
    assert np.allclose(ours[0], ours[0, ..., :1], rtol=1e-6)  # factor 0: grey


@pytest.mark.parametrize("value_range", [(0, 255), (40, 200)])
def test_color_degeneration(value_range):
    x = images()
    draw = {"factor": np.array([0.0, 0.3, -0.8, 1.0], np.float32).reshape(4, 1, 1, 1)}
    compare(L.RandomColorDegeneration(0.9, value_range=value_range),
            keras.layers.RandomColorDegeneration(0.9, value_range=value_range), x, draw,
            f"RandomColorDegeneration {value_range}")


@pytest.mark.parametrize("value_range", [(0, 255), (0, 1), (-1, 1)])
def test_invert(value_range):
    x = images(low=value_range[0], high=value_range[1])
    draw = {"apply_inversion": BOOLS}
    compare(L.RandomInvert(value_range=value_range), keras.layers.RandomInvert(value_range=value_range),
            x, draw, f"RandomInvert {value_range}")


@pytest.mark.parametrize("value_range", [(0, 255), (0, 1), (-1, 1)])
def test_solarization(value_range):
    x = images(low=value_range[0], high=value_range[1])
    draw = {"additions": np.array([0, 20, 100, 255], np.float32).reshape(4, 1, 1, 1),
            "thresholds": np.array([0, 128, 60, 254], np.float32).reshape(4, 1, 1, 1)}
    compare(L.Solarization(0.5, 0.5, value_range=value_range),
            keras.layers.Solarization(0.5, 0.5, value_range=value_range), x, draw,
            f"Solarization {value_range}")


@pytest.mark.parametrize("value_range", [(0, 255), (0, 1), (-1, 1)])
def test_auto_contrast(value_range):
    """Per image and channel; a flat channel stays as it is (Keras' NaN rule)."""
    lo, hi = value_range
    x = images(low=lo + 0.2 * (hi - lo), high=lo + 0.7 * (hi - lo))
    x[1, ..., 2] = lo + 0.5 * (hi - lo)  # a flat channel
    x[2, ..., 0] = lo  # flat at 0
    ours, _ = compare(L.AutoContrast(value_range), keras.layers.AutoContrast(value_range), x, None,
                      f"AutoContrast {value_range}")
    np.testing.assert_array_equal(ours[1, ..., 2], x[1, ..., 2])


@pytest.mark.parametrize("value_range", [(0, 255), (0, 1), (-1, 1)])
def test_posterization(value_range):
    x = images(low=value_range[0], high=value_range[1])
    draw = {"shift_factor": np.array([0, 3, 5, 7], np.uint8)}
    compare(L.RandomPosterization(8, value_range=value_range),
            keras.layers.RandomPosterization(8, value_range=value_range), x, draw,
            f"RandomPosterization {value_range}")


@pytest.mark.parametrize("value_range", [(0, 255), (30, 220)])
def test_sharpness(value_range):
    x = images()
    draw = {"factor": np.array([0.0, 0.3, 0.5, 1.0], np.float32)}
    compare(L.RandomSharpness(1.0, value_range=value_range),
            keras.layers.RandomSharpness(1.0, value_range=value_range), x, draw,
            f"RandomSharpness {value_range}")


def test_color_jitter_is_keras_steps_in_order():
    """Keras' RandomColorJitter draws inside transform_images; its steps are its own
    RandomBrightness, RandomContrast, RandomSaturation and RandomHue, so the same draws through
    those, in that order, must give ours."""
    x = images(high=1.0)
    kwargs = dict(value_range=(0, 1), brightness_factor=0.2, contrast_factor=0.3,
                  saturation_factor=(0.3, 0.7), hue_factor=0.2)
    layer = built(L.RandomColorJitter(**kwargs, seed=3), x)
    draw = layer.get_random_transformation(x)
    assert set(draw) == {"brightness", "contrast", "saturation", "hue"}
    ours = layer.transform_images(x, draw)
    klayer = keras.layers.RandomColorJitter(**kwargs)
    klayer.build(x.shape)
    theirs = tf.constant(x)
    for key, step in [("brightness", klayer.random_brightness), ("contrast", klayer.random_contrast),
                      ("saturation", klayer.random_saturation), ("hue", klayer.random_hue)]:
        theirs = step.transform_images(theirs, draw[key])
    assert_close(ours, np.asarray(theirs), FORWARD_RTOL, "RandomColorJitter")
    assert not np.allclose(ours, x)


# ------------------------------------------------------------------- mixing: given draws
def test_mixup():
    x = images()
    draw = {"mix_weight": np.array([0.1, 0.5, 0.93, 1.0], np.float32),
            "permutation_order": np.array([2, 0, 3, 1])}
    compare(L.MixUp(), keras.layers.MixUp(), x, draw, "MixUp")
    labels = np.eye(4, dtype=np.float32)
    layer = L.MixUp()
    np.testing.assert_allclose(layer.transform_labels(labels, draw),
                               keras.layers.MixUp().transform_labels(tf.constant(labels), draw),
                               rtol=1e-6)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cutmix_with_keras_draw(seed):
    x = images((7, 9, 2))
    klayer = keras.layers.CutMix(seed=seed)
    draw = numpy_dict(klayer.get_random_transformation(tf.constant(x)))
    ours = built(L.CutMix(), x).get_random_transformation(x)
    assert {k: (v.shape, v.dtype) for k, v in ours.items()} == \
        {k: (v.shape, v.dtype) for k, v in draw.items()}
    compare(L.CutMix(), klayer, x, draw, "CutMix")
    labels = np.eye(4, dtype=np.float32)
    np.testing.assert_allclose(L.CutMix().transform_labels(labels, draw),
                               klayer.transform_labels(tf.constant(labels), draw), rtol=1e-6)


@pytest.mark.parametrize("kwargs", [{}, {"fill_value": 17.0, "value_range": (0, 100)},
                                    {"fill_value": (1, 2, 300), "scale": 0.5},
                                    {"factor": 0.5, "value_range": (0, 1)}], ids=str)
def test_erasing_with_keras_draw(kwargs):
    x = images()
    klayer = keras.layers.RandomErasing(seed=5, **kwargs)
    draw = numpy_dict(klayer.get_random_transformation(tf.constant(x)))
    ours = built(L.RandomErasing(**kwargs), x).get_random_transformation(x)
    assert {k: (v.shape, v.dtype) for k, v in ours.items()} == \
        {k: (v.shape, v.dtype) for k, v in draw.items()}
    if "fill_value" in kwargs:  # the fill is not random then: equal to Keras'
        np.testing.assert_array_equal(ours["fill_value"], draw["fill_value"])
    compare(L.RandomErasing(**kwargs), klayer, x, draw, f"RandomErasing {kwargs}")


# ------------------------------------------------------------------- warping and filters
@pytest.mark.parametrize("fill_mode", FILL_MODES)
@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_shear(interpolation, fill_mode):
    x = images((7, 6, 2))
    draw = {"shear_factor": np.array([[0.3, -0.2], [-0.5, 0.1], [0.0, 0.45], [1.0, -1.0]], np.float32)}
    kwargs = dict(interpolation=interpolation, fill_mode=fill_mode, fill_value=3.0)
    compare(L.RandomShear(0.5, 0.5, **kwargs), keras.layers.RandomShear(0.5, 0.5, **kwargs), x, draw,
            f"RandomShear {kwargs}")


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("seed", [1, 2])
def test_perspective_with_keras_draw(seed, interpolation):
    x = images((7, 6, 3))
    klayer = keras.layers.RandomPerspective(factor=0.7, scale=0.6, interpolation=interpolation,
                                            fill_value=5.0, seed=seed)
    draw = numpy_dict(klayer.get_random_transformation(tf.constant(x)))
    layer = built(L.RandomPerspective(factor=0.7, scale=0.6, interpolation=interpolation,
                                      fill_value=5.0), x)
    ours = layer.get_random_transformation(x)
    assert {k: (v.shape, v.dtype) for k, v in ours.items()} == \
        {k: (v.shape, v.dtype) for k, v in draw.items()}
    compare(layer, klayer, x, draw, "RandomPerspective")
    from keras.src.backend.tensorflow.image import compute_homography_matrix
    theirs = compute_homography_matrix(tf.constant(draw["start_points"]), tf.constant(draw["end_points"]))
    assert_close(L.augmentation_more.homography(draw["start_points"], draw["end_points"]),
                 np.asarray(theirs), FORWARD_RTOL, "homography")


@pytest.mark.parametrize("kernel_size", [3, 5, (3, 5), (5, 3)], ids=str)
@pytest.mark.parametrize("value_range", [(0, 255), (20, 200)])
def test_gaussian_blur(kernel_size, value_range):
    x = images((7, 6, 2))
    draw = {"should_apply_blur": BOOLS, "blur_factor": np.array([0.7, 0.3], np.float32)}
    compare(L.RandomGaussianBlur(kernel_size=kernel_size, value_range=value_range),
            keras.layers.RandomGaussianBlur(kernel_size=kernel_size, value_range=value_range), x, draw,
            f"RandomGaussianBlur {kernel_size}")


@pytest.mark.parametrize("value_range", [(0, 255), (0, 1), (-1, 1)])
@pytest.mark.parametrize("bins", [256, 16, 2])
def test_equalization(value_range, bins):
    """One histogram per channel over the whole batch, as Keras 3.15.1 does."""
    lo, hi = value_range
    x = images(low=lo, high=lo + 0.6 * (hi - lo))
    x[..., 1] = lo + 0.25 * (hi - lo)  # one bin only: the channel stays
    ours, _ = compare(L.Equalization(value_range, bins=bins),
                      keras.layers.Equalization(value_range, bins=bins), x, None,
                      f"Equalization {value_range} bins={bins}")
    whole = keras_transform(keras.layers.Equalization(value_range, bins=bins), x[:1], None)
    assert bins == 2 or not np.allclose(whole, ours[:1])  # batch-wide, not per image


# ------------------------------------------------------------------- whole layers, fixed draws
FIXED = {
    "grayscale": lambda: L.RandomGrayscale(1.0),
    "saturation": lambda: L.RandomSaturation((0.3, 0.3)),
    "degeneration": lambda: L.RandomColorDegeneration((0.4, 0.4)),
    "invert": lambda: L.RandomInvert((1.0, 1.0)),
    "solarization": lambda: L.Solarization(),
    "auto_contrast": lambda: L.AutoContrast(),
    "posterization": lambda: L.RandomPosterization((3, 3)),
    "sharpness": lambda: L.RandomSharpness((0.9, 0.9)),
    "blur": lambda: L.RandomGaussianBlur((1.0, 1.0), sigma=(0.6, 0.6)),
    "equalization": lambda: L.Equalization(),
    "jitter": lambda: L.RandomColorJitter(brightness_factor=(0.1, 0.1), contrast_factor=(-0.5, 0.5),
                                          saturation_factor=(0.6, 0.6)),
}


@pytest.mark.parametrize("case", FIXED)
def test_fixed_layers_through_tfnet(case):
    """The layer alone, through tfnet.to_keras, in training (the factors fix the draw); at
    inference what Keras returns (the input, except AutoContrast, which Keras applies always)."""
    x = images((6, 5, 3), n=3)
    twins = make_twins(in_a_model(FIXED[case](), x.shape[1:]))
    if case == "equalization":  # Keras' model skips it (test_keras_model_skips_equalization)
        assert_close(twins.scratch.layers[0].forward(x, training=True),
                     np.asarray(twins.keras.layers[0](x, training=True)), FORWARD_RTOL, case)
    else:
        check_forward(twins, x, training=True)
    ours, theirs = twins.scratch(x, training=False), np.asarray(twins.keras(x, training=False))
    assert_close(ours, theirs, FORWARD_RTOL, f"{case} at inference")
    assert np.array_equal(ours, x.reshape(3, -1)) == (case != "auto_contrast")


def in_a_model(layer, shape):
    """The layer after Input and before a Flatten: Keras 3.15.1's Equalization returns its input
    KerasTensor itself as its symbolic output, which Keras then calls a cycle where it is the
    last layer or follows another one (test_keras_equalization_is_a_cycle_after_a_layer)."""
    return sn.Sequential([L.Input(shape), layer, L.Flatten()], seed=0)


def test_keras_equalization_is_a_cycle_after_a_layer():
    """Pinned Keras behaviour, so that a Keras that changes shows here."""
    with pytest.raises(ValueError, match="is part of a cycle"):
        keras.Sequential([keras.Input((6, 5, 3)), keras.layers.Rescaling(1.0), keras.layers.Equalization(),
                          keras.layers.Flatten()])


def test_keras_model_skips_equalization(tmp_path):
    """Keras 3.15.1's Equalization gives its input KerasTensor back as its symbolic output, so a
    Keras model built with it leaves it out of the graph: the model returns the images untouched
    even in training, where the layer alone equalizes them; and Keras cannot load a .keras file
    that holds one. scratchnet's layer does in a model what it does alone, and its files load in
    scratchnet. Pinned both ways, so that a Keras that changes shows here."""
    x = images((6, 5, 3), n=3)
    kmodel = keras.Sequential([keras.Input((6, 5, 3)), keras.layers.Equalization(), keras.layers.Flatten()])
    np.testing.assert_array_equal(np.asarray(kmodel(x, training=True)), x.reshape(3, -1))
    alone = np.asarray(kmodel.layers[0](x, training=True))
    assert not np.allclose(alone, x)
    model = in_a_model(L.Equalization(), (6, 5, 3))
    assert_close(model(x, training=True), alone.reshape(3, -1), FORWARD_RTOL, "Equalization in a model")
    model.save(tmp_path / "eq.keras")
    with pytest.raises((ValueError, TypeError), match="cycle"):
        keras.models.load_model(tmp_path / "eq.keras")
    loaded = sn.load_model(tmp_path / "eq.keras")
    assert loaded.layers[0].get_config() == model.layers[0].get_config()


def test_keras_shear_cannot_reload_its_own_config():
    """Keras 3.15.1's RandomShear(0.2) writes x_factor=(-0.2, 0.2) and refuses that on loading;
    scratchnet's takes it, so both frameworks' files load here."""
    config = keras.layers.RandomShear(0.2).get_config()
    with pytest.raises((ValueError, TypeError), match="should be a number"):
        keras.layers.RandomShear.from_config(config)
    layer = L.RandomShear(**{k: v for k, v in config.items() if k not in ("name", "trainable", "dtype")})
    assert layer.x_factor == (-0.2, 0.2)


# ------------------------------------------------------------------- gradients
GRAD_CASES = {
    "grayscale": (lambda: L.RandomGrayscale(), lambda: keras.layers.RandomGrayscale(),
                  BOOLS.reshape(4, 1, 1, 1)),
    "degeneration": (lambda: L.RandomColorDegeneration(0.9, value_range=(30, 220)),
                     lambda: keras.layers.RandomColorDegeneration(0.9, value_range=(30, 220)),
                     {"factor": np.array([0.2, -0.7, 0.9, 0.5], np.float32).reshape(4, 1, 1, 1)}),
    "invert": (lambda: L.RandomInvert(), lambda: keras.layers.RandomInvert(),
               {"apply_inversion": BOOLS}),
    "solarization": (lambda: L.Solarization(0.5, 0.5, value_range=(0, 1)),
                     lambda: keras.layers.Solarization(0.5, 0.5, value_range=(0, 1)),
                     {"additions": np.array([0, 20, 100, 240], np.float32).reshape(4, 1, 1, 1),
                      "thresholds": np.array([0, 128, 60, 254], np.float32).reshape(4, 1, 1, 1)}),
    "sharpness": (lambda: L.RandomSharpness(1.0, value_range=(20, 230)),
                  lambda: keras.layers.RandomSharpness(1.0, value_range=(20, 230)),
                  {"factor": np.array([0.0, 0.3, 0.5, 1.0], np.float32)}),
    "mixup": (lambda: L.MixUp(), lambda: keras.layers.MixUp(),
              {"mix_weight": np.array([0.1, 0.5, 0.93, 0.2], np.float32),
               "permutation_order": np.array([2, 0, 3, 1])}),
    "blur": (lambda: L.RandomGaussianBlur(kernel_size=(3, 5), value_range=(20, 230)),
             lambda: keras.layers.RandomGaussianBlur(kernel_size=(3, 5), value_range=(20, 230)),
             {"should_apply_blur": BOOLS, "blur_factor": np.array([0.7, 0.4], np.float32)}),
}


@pytest.mark.parametrize("case", GRAD_CASES)
def test_input_gradient_matches_tensorflow(case):
    make, make_keras, draw = GRAD_CASES[case]
    x = images()
    w = np.random.default_rng(1).normal(size=x.shape).astype(np.float32)
    layer = built(make(), x)
    layer.transform_images(x, draw)
    ours = layer.backward_images(w)
    assert_close(ours, keras_input_grad(make_keras(), x, draw, w), GRAD_RTOL, f"{case}: dL/dx")


@pytest.mark.parametrize("case", ["cutmix", "erasing"])
def test_box_gradients_match_tensorflow(case):
    x = images((7, 9, 2))
    klayer = keras.layers.CutMix(seed=4) if case == "cutmix" else keras.layers.RandomErasing(seed=4)
    draw = numpy_dict(klayer.get_random_transformation(tf.constant(x)))
    layer = built(L.CutMix() if case == "cutmix" else L.RandomErasing(), x)
    layer.transform_images(x, draw)
    w = np.random.default_rng(2).normal(size=x.shape).astype(np.float32)
    assert_close(layer.backward_images(w), keras_input_grad(klayer, x, draw, w), GRAD_RTOL,
                 f"{case}: dL/dx")


def test_jitter_gradient_matches_tensorflow_through_keras_steps():
    x = images(high=1.0)
    kwargs = dict(value_range=(0, 1), brightness_factor=0.2, contrast_factor=0.3)
    layer = built(L.RandomColorJitter(**kwargs, seed=3), x)
    draw = layer.get_random_transformation(x)
    layer.transform_images(x, draw)
    w = np.random.default_rng(3).normal(size=x.shape).astype(np.float32)
    klayer = keras.layers.RandomColorJitter(**kwargs)
    klayer.build(x.shape)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = klayer.random_contrast.transform_images(
            klayer.random_brightness.transform_images(xt, draw["brightness"]), draw["contrast"])
        loss = tf.reduce_sum(y * w)
    assert_close(layer.backward_images(w), tape.gradient(loss, xt).numpy(), GRAD_RTOL, "jitter dL/dx")


# ------------------------------------------------------------------- inside training
def test_fixed_augmentations_in_front_of_a_model_train_like_keras():
    """Layers whose factors fix the draw in front of a small network: the loss, every gradient
    and 4 Adam steps (train_step against train_on_batch, augmenting on both sides) agree."""
    x = images((6, 6, 3), n=8, high=1.0)
    y = np.arange(8) % 3
    model = sn.Sequential([
        L.Input((6, 6, 3)), L.AutoContrast((0, 1)), L.RandomGrayscale(1.0),
        L.RandomColorDegeneration((0.3, 0.3), value_range=(0, 1)),
        L.RandomSharpness((0.8, 0.8), value_range=(0, 1)), L.RandomInvert((1.0, 1.0), value_range=(0, 1)),
        L.RandomGaussianBlur((1.0, 1.0), sigma=(0.5, 0.5), value_range=(0, 1)),
        L.Solarization(value_range=(0, 1)), L.Conv2D(2, 3), L.Flatten(), L.Dense(3),
    ], seed=0)
    assert_parity(model, x, y, loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True),
                  optimizer=sn.optimizers.Adam(0.01), steps=4, batch_size=4)


# ------------------------------------------------------------------- draws: Keras' structure
DRAWS = {
    "grayscale": (lambda: L.RandomGrayscale(0.5), lambda: keras.layers.RandomGrayscale(0.5)),
    "hue": (lambda: L.RandomHue(0.4), lambda: keras.layers.RandomHue(0.4)),
    "saturation": (lambda: L.RandomSaturation(0.4), lambda: keras.layers.RandomSaturation(0.4)),
    "degeneration": (lambda: L.RandomColorDegeneration(0.4),
                     lambda: keras.layers.RandomColorDegeneration(0.4)),
    "invert": (lambda: L.RandomInvert(0.5), lambda: keras.layers.RandomInvert(0.5)),
    "solarization": (lambda: L.Solarization(0.3, 0.6), lambda: keras.layers.Solarization(0.3, 0.6)),
    "posterization": (lambda: L.RandomPosterization(6), lambda: keras.layers.RandomPosterization(6)),
    "sharpness": (lambda: L.RandomSharpness(0.4), lambda: keras.layers.RandomSharpness(0.4)),
    "shear": (lambda: L.RandomShear(0.3, 0.2), lambda: keras.layers.RandomShear(0.3, 0.2)),
    "blur": (lambda: L.RandomGaussianBlur(0.5), lambda: keras.layers.RandomGaussianBlur(0.5)),
    "mixup": (lambda: L.MixUp(), lambda: keras.layers.MixUp()),
}


@pytest.mark.parametrize("case", DRAWS)
def test_draws_have_keras_keys_shapes_and_dtypes(case):
    x = images()
    ours = built(DRAWS[case][0](), x).get_random_transformation(x)
    theirs = numpy_dict(DRAWS[case][1]().get_random_transformation(tf.constant(x)))
    if isinstance(theirs, dict):
        assert set(ours) == set(theirs)
        for key in theirs:
            assert np.asarray(ours[key]).shape == theirs[key].shape, key
            assert np.asarray(ours[key]).dtype == theirs[key].dtype, key
    else:
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype


# ------------------------------------------------------------------- configs, conversion, files
ALL_LAYERS = [
    lambda: L.RandomGrayscale(0.3),
    lambda: L.RandomHue((0.1, 0.4), value_range=(0, 1), seed=2),
    lambda: L.RandomSaturation(0.3, value_range=(1, 0), seed=3),
    lambda: L.RandomColorDegeneration((0.1, 0.5), value_range=(0, 1)),
    lambda: L.RandomColorJitter(value_range=(0, 1), brightness_factor=0.1, contrast_factor=(0.1, 0.3),
                                saturation_factor=0.4, hue_factor=0.2, seed=4),
    lambda: L.RandomInvert(0.4, value_range=(0, 1), seed=5),
    lambda: L.Solarization((0.1, 0.2), 0.5, value_range=(0, 1), seed=6),
    lambda: L.AutoContrast((0, 1)),
    lambda: L.RandomPosterization((2, 6), value_range=(0, 1), seed=7),
    lambda: L.RandomSharpness(0.3, value_range=(0, 1)),
    lambda: L.RandomShear((0.0, 0.2), (0.1, 0.3), fill_mode="constant", fill_value=0.5, seed=8),
    lambda: L.RandomErasing(0.5, scale=(0.1, 0.2), fill_value=0.25, value_range=(0, 1), seed=9),
    lambda: L.RandomGaussianBlur(0.5, kernel_size=5, sigma=(0.2, 0.8), value_range=(0, 1)),
    lambda: L.MixUp(0.4, seed=10),
    lambda: L.CutMix((0.2, 0.9), seed=11),
    lambda: L.Equalization((0, 1), bins=64),  # not in the .keras test: Keras cannot load it
    lambda: L.RandomPerspective(0.5, scale=0.3, interpolation="nearest", fill_value=1.0, seed=12),
]


def _same(a, b):
    if isinstance(a, tuple | list) and isinstance(b, tuple | list):
        return list(a) == list(b)
    return a == b


@pytest.mark.parametrize("make", ALL_LAYERS, ids=lambda m: type(m()).__name__)
def test_configs_are_keras_configs_and_convert_both_ways(make):
    layer = make()
    klayer = tfnet.to_keras(in_a_model(layer, (8, 8, 3))).layers[0]
    assert type(klayer).__name__ == type(layer).__name__
    kconfig = {k: v for k, v in klayer.get_config().items() if k not in ("name", "trainable")}
    config = {k: v for k, v in layer.get_config().items() if k not in ("name", "trainable")}
    assert set(config) == set(kconfig)
    for key, value in config.items():
        assert _same(kconfig[key], value), (key, kconfig[key], value)
    back = tfnet.from_keras(tfnet.to_keras(in_a_model(make(), (8, 8, 3)))).layers[0]
    assert type(back) is type(layer)
    assert {k: v for k, v in back.get_config().items() if k != "name"} == \
        {k: v for k, v in layer.get_config().items() if k != "name"}


def test_keras_files_round_trip(tmp_path):
    """Every layer in one scratchnet model saved as .keras: Keras loads it with the same configs
    and the same predictions (the inactive layers pass the images, AutoContrast stretches them on
    both sides), and a summary of the same shapes and parameter count; and back."""
    makes = [make for make in ALL_LAYERS if type(make()).__name__ != "Equalization"]
    model = sn.Sequential([L.Input((8, 8, 3))] + [make() for make in makes] +
                          [L.Flatten(), L.Dense(3)], seed=0)
    x = images((8, 8, 3), n=2, high=1.0)
    model.save(tmp_path / "aug.keras")
    kmodel = keras.models.load_model(tmp_path / "aug.keras")
    n = len(makes)
    assert [type(k).__name__ for k in kmodel.layers] == [type(s).__name__ for s in model.layers]
    for layer, klayer in zip(model.layers[:n], kmodel.layers[:n], strict=True):
        kconfig = klayer.get_config()
        for key, value in layer.get_config().items():
            assert _same(kconfig[key], value), (layer.name, key)
    assert_close(model.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL,
                 "prediction after .keras save")
    assert model.count_params() == kmodel.count_params()
    assert [(None, *layer.output_shape) for layer in model.layers] == \
        [tuple(k.output.shape) for k in kmodel.layers]
    kmodel.save(tmp_path / "back.keras")
    loaded = sn.load_model(tmp_path / "back.keras")
    assert [layer.get_config() for layer in loaded.layers[:n]] == \
        [layer.get_config() for layer in model.layers[:n]]
    assert_close(loaded.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL,
                 "prediction after loading Keras' file")


# ------------------------------------------------------------------- RandAugment and AugMix
def nested_numpy(transformation):
    """Keras' nested draw as NumPy (lists of chains, dicts by layer name, strings kept)."""
    if isinstance(transformation, dict):
        return {k: nested_numpy(v) for k, v in transformation.items() if k != "input_shape"}
    if isinstance(transformation, list | tuple):
        return [nested_numpy(v) for v in transformation]
    if isinstance(transformation, str) or transformation is None:
        return transformation
    return np.asarray(transformation)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("kwargs", [{}, {"num_ops": 3, "factor": 0.8, "interpolation": "nearest"},
                                    {"value_range": (0, 1), "factor": (0.2, 0.4)}], ids=str)
def test_rand_augment_with_keras_draw(kwargs, seed):
    """Keras' own draw (which layers, and every layer's draw) through both."""
    x = images(high=max(kwargs.get("value_range", (0, 255))))
    klayer = keras.layers.RandAugment(seed=seed, **kwargs)
    klayer.build(x.shape)
    draw = nested_numpy(klayer.get_random_transformation(tf.constant(x)))
    layer = built(L.RandAugment(**kwargs), x)
    ours = layer.get_random_transformation(x)
    assert set(ours["transforms"]) == set(draw["transforms"])
    assert ours["layer_idxes"].shape == draw["layer_idxes"].shape
    assert ours["layer_idxes"].dtype == draw["layer_idxes"].dtype
    compare(layer, klayer, x, draw, f"RandAugment {kwargs} ops {draw['layer_idxes']}")


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("kwargs", [{}, {"all_ops": False, "num_chains": 2, "chain_depth": 4, "alpha": 0.5},
                                    {"value_range": (0, 1), "factor": 0.6, "interpolation": "nearest"}],
                         ids=str)
def test_aug_mix_with_keras_draw(kwargs, seed):
    x = images(high=max(kwargs.get("value_range", (0, 255))))
    klayer = keras.layers.AugMix(seed=seed, **kwargs)
    klayer.build(x.shape)
    draw = nested_numpy(klayer.get_random_transformation(tf.constant(x)))
    layer = built(L.AugMix(**kwargs), x)
    ours = layer.get_random_transformation(x)
    assert set(ours) == set(draw) and ours["chain_mixing_weights"].shape == draw["chain_mixing_weights"].shape
    assert len(ours["chain_transforms"]) == len(draw["chain_transforms"])
    compare(layer, klayer, x, draw, f"AugMix {kwargs}")


def test_policies_convert_and_save_both_ways(tmp_path):
    makes = [lambda: L.RandAugment(value_range=(0, 1), num_ops=3, factor=(0.1, 0.6), seed=3),
             lambda: L.AugMix(value_range=(0, 1), num_chains=2, chain_depth=2, factor=0.4, alpha=0.7,
                              all_ops=False, interpolation="nearest", seed=4)]
    for make in makes:
        layer = make()
        klayer = tfnet.to_keras(in_a_model(layer, (8, 8, 3))).layers[0]
        kconfig = {k: v for k, v in klayer.get_config().items() if k not in ("name", "trainable")}
        config = {k: v for k, v in layer.get_config().items() if k not in ("name", "trainable")}
        assert set(config) == set(kconfig) and all(_same(kconfig[k], v) for k, v in config.items())
        back = tfnet.from_keras(tfnet.to_keras(in_a_model(make(), (8, 8, 3)))).layers[0]
        assert back.get_config() == {**layer.get_config(), "name": back.name}
    model = sn.Sequential([L.Input((8, 8, 3))] + [make() for make in makes] + [L.Flatten(), L.Dense(2)],
                          seed=0)
    x = images((8, 8, 3), n=2, high=1.0)
    model.save(tmp_path / "p.keras")
    kmodel = keras.models.load_model(tmp_path / "p.keras")
    assert_close(model.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL, "predictions")
    kmodel.save(tmp_path / "k.keras")
    loaded = sn.load_model(tmp_path / "k.keras")
    assert [layer.get_config() for layer in loaded.layers[:2]] == \
        [layer.get_config() for layer in model.layers[:2]]


# ------------------------------------------------------------------- Pipeline
def test_pipeline_of_fixed_layers_through_tfnet_and_inside_training():
    """A Pipeline of fixed-draw layers, in training: its output equals Keras' Pipeline's; behind a
    Conv2D, the loss, every gradient (dL/dw through the Pipeline's backward) and 4 Adam steps
    equal Keras'; at inference it passes the images."""
    x = images((6, 6, 3), n=8, high=1.0)
    y = np.arange(8) % 3

    def pipeline():
        return L.Pipeline([L.RandomInvert((1.0, 1.0), value_range=(-50, 50)),
                           L.RandomColorDegeneration((0.3, 0.3), value_range=(-50, 50)),
                           L.RandomSharpness((0.8, 0.8), value_range=(-50, 50)),
                           L.RandomTranslation((0.1, 0.1), (-0.2, -0.2), fill_mode="constant")])

    twins = make_twins(in_a_model(pipeline(), (6, 6, 3)))
    check_forward(twins, x, training=True)
    assert type(twins.keras.layers[0]).__name__ == "Pipeline"
    np.testing.assert_array_equal(twins.scratch(x, training=False), x.reshape(8, -1))
    model = sn.Sequential([L.Input((6, 6, 3)), L.Conv2D(3, 3, padding="same"), pipeline(),
                           L.Flatten(), L.Dense(3)], seed=0)
    assert_parity(model, x, y, loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True),
                  optimizer=sn.optimizers.Adam(0.01), steps=4, batch_size=4)


def test_pipeline_files_summary_and_conversion_both_ways(tmp_path):
    def make():
        return L.Pipeline([L.RandomFlip("horizontal", seed=1), L.RandomGrayscale(0.5),
                           L.AutoContrast((0, 1)), L.RandomErasing(value_range=(0, 1), seed=2)],
                          name="augment")

    model = sn.Sequential([L.Input((8, 8, 3)), make(), L.Flatten(), L.Dense(2)], seed=0)
    x = images((8, 8, 3), n=2, high=1.0)
    model.save(tmp_path / "p.keras")
    kmodel = keras.models.load_model(tmp_path / "p.keras")
    kpipe = kmodel.layers[0]
    assert isinstance(kpipe, keras.layers.Pipeline) and kpipe.name == "augment"
    assert [type(k).__name__ for k in kpipe.layers] == [type(s).__name__ for s in model.layers[0].layers]
    for layer, klayer in zip(model.layers[0].layers, kpipe.layers, strict=True):
        kconfig = klayer.get_config()
        assert all(_same(kconfig[k], v) for k, v in layer.get_config().items()), layer.name
    assert_close(model.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL, "predictions")
    assert model.count_params() == kmodel.count_params()
    assert tuple(kpipe.output.shape) == (None, *model.layers[0].output_shape)
    kmodel.save(tmp_path / "k.keras")
    loaded = sn.load_model(tmp_path / "k.keras")
    assert loaded.layers[0].get_config() == model.layers[0].get_config()
    back = tfnet.from_keras(tfnet.to_keras(model)).layers[0]
    assert back.get_config() == model.layers[0].get_config()


INFERENCE = ALL_LAYERS + [lambda: L.RandAugment(), lambda: L.AugMix(value_range=(0, 1)),
                          lambda: L.Pipeline([L.RandomInvert(), L.AutoContrast()])]


@pytest.mark.parametrize("make", INFERENCE, ids=lambda m: type(m()).__name__)
def test_inference_returns_what_keras_returns(make):
    """Each layer called with training=False on both sides: the images (AutoContrast: stretched,
    as Keras)."""
    x = images((6, 5, 3), n=3, high=1.0)
    layer = make()
    klayer = tfnet.convert.layer_to_keras(layer)
    ours = layer(x, training=False)
    assert_close(ours, np.asarray(klayer(x, training=False)), FORWARD_RTOL, type(layer).__name__)
    contrast = isinstance(layer, L.AutoContrast | L.Pipeline)  # the Pipeline holds an AutoContrast
    assert np.array_equal(ours, x) != contrast
