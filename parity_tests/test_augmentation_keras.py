"""Issue 13's augmentation layers against Keras 3.15 (TensorFlow backend).

Keras' random draws come from TensorFlow's RNG, which NumPy cannot reproduce, so the transform
math is compared where the draw is fixed: a fixed factor (``RandomRotation((a, a))``,
``RandomZoom((z, z))``, ``RandomTranslation((t, t), (u, u))``, ``RandomBrightness((b, b))``)
through the whole layer, and a given transformation dict (Keras' keys, one different draw per
image) through ``transform_images`` on both sides. Every fill_mode and interpolation, odd and
even image sizes, outputs to FORWARD_RTOL. At inference both are the identity. Where the layer's
gradient is TensorFlow's (flip, brightness, contrast), it is compared to GRAD_RTOL; the
geometric layers' gradient is not TensorFlow's (see test_tensorflow_warp_gradient_is_not_the_
transpose), and tests/test_augmentation.py checks ours by finite differences.
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
    layer_model,
    make_twins,
)

L = sn.layers
FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = ("bilinear", "nearest")
SHAPES = ((7, 9, 2), (6, 6, 1))  # odd and even sizes: the centre on a pixel and between pixels


def images(shape, n=3, seed=0, low=0.0, high=255.0):
    return np.random.default_rng(seed).uniform(low, high, size=(n, *shape)).astype(np.float32)


def forward_parity(layer, shape, x=None):
    """The layer alone in a model, through tfnet.to_keras, in training mode (fixed factors make
    both sides deterministic); and the identity at inference on both sides."""
    x = images(shape) if x is None else x
    twins = make_twins(layer_model(layer, shape))
    check_forward(twins, x, training=True)
    np.testing.assert_array_equal(twins.scratch(x, training=False), x)
    np.testing.assert_array_equal(np.asarray(twins.keras(x, training=False)), x)
    return twins


# ------------------------------------------------------------------- fixed factors, whole layer
@pytest.mark.parametrize("fill_mode", FILL_MODES)
@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("turn", [0.1, -0.3, 0.25, 0.5, 0.7, -1.0])
def test_rotation(turn, shape, interpolation, fill_mode):
    forward_parity(L.RandomRotation((turn, turn), fill_mode=fill_mode, interpolation=interpolation,
                                    fill_value=17.0), shape)


@pytest.mark.parametrize("fill_mode", FILL_MODES)
@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("zoom", [(0.3, None), (-0.4, None), (0.5, -0.25), (1.0, 0.2)])
def test_zoom(zoom, shape, interpolation, fill_mode):
    height, width = zoom
    forward_parity(L.RandomZoom((height, height), None if width is None else (width, width),
                                fill_mode=fill_mode, interpolation=interpolation,
                                fill_value=-3.0), shape)


@pytest.mark.parametrize("fill_mode", FILL_MODES)
@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("shift", [(0.2, -0.3), (-0.5, 0.5), (1 / 3, 0.0), (1.0, -0.9)])
def test_translation(shift, shape, interpolation, fill_mode):
    dy, dx = shift
    forward_parity(L.RandomTranslation((dy, dy), (dx, dx), fill_mode=fill_mode,
                                       interpolation=interpolation, fill_value=0.5), shape)


@pytest.mark.parametrize("delta", [0.1, -0.2, 0.9])
@pytest.mark.parametrize("value_range", [(0, 255), (255, 0), (0.0, 1.0)])
def test_brightness(delta, value_range):
    high = max(value_range)
    forward_parity(L.RandomBrightness((delta, delta), value_range=value_range), (5, 4, 3),
                   x=images((5, 4, 3), high=high))


# ------------------------------------------------------------------- given draws, per image
def keras_transform(klayer, x, transformation):
    return np.asarray(klayer.transform_images(tf.constant(x), transformation, training=True))


@pytest.mark.parametrize("mode", ["horizontal", "vertical", "horizontal_and_vertical"])
def test_flip_given_draws(mode):
    x = images((4, 5, 2), n=4)
    flips = np.array([True, False, True, False]).reshape(4, 1, 1, 1)
    layer = L.RandomFlip(mode)
    layer.ensure_built(x.shape[1:])
    ours = layer.transform_images(x, {"flips": flips})
    theirs = keras_transform(keras.layers.RandomFlip(mode), x,
                             {"flips": flips, "input_shape": x.shape})
    assert_close(ours, theirs, FORWARD_RTOL, f"RandomFlip({mode!r})")
    assert not np.array_equal(ours[0], x[0]) and np.array_equal(ours[1], x[1])


@pytest.mark.parametrize("fill_mode", FILL_MODES)
@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_zoom_given_draws(interpolation, fill_mode):
    x = images((8, 7, 2), n=3)
    draw = {"height_zoom": np.array([[0.6], [1.0], [1.7]], np.float32),
            "width_zoom": np.array([[1.3], [0.75], [1.7]], np.float32)}
    kwargs = dict(fill_mode=fill_mode, interpolation=interpolation, fill_value=9.0)
    layer = L.RandomZoom(0.5, 0.5, **kwargs)
    layer.ensure_built(x.shape[1:])
    theirs = keras_transform(keras.layers.RandomZoom(0.5, 0.5, **kwargs), x, draw)
    assert_close(layer.transform_images(x, draw), theirs, FORWARD_RTOL, "RandomZoom")


@pytest.mark.parametrize("fill_mode", FILL_MODES)
@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_translation_given_draws(interpolation, fill_mode):
    x = images((6, 9, 3), n=3)
    draw = {"translations": np.array([[2.5, -1.0], [-7.25, 3.5], [12.0, -6.0]], np.float32)}
    kwargs = dict(fill_mode=fill_mode, interpolation=interpolation, fill_value=9.0)
    layer = L.RandomTranslation(0.5, 0.5, **kwargs)
    layer.ensure_built(x.shape[1:])
    theirs = keras_transform(keras.layers.RandomTranslation(0.5, 0.5, **kwargs), x,
                             {**draw, "input_shape": x.shape})
    assert_close(layer.transform_images(x, draw), theirs, FORWARD_RTOL, "RandomTranslation")


@pytest.mark.parametrize("value_range", [(0, 255), (100, 160)])
def test_contrast_given_draws(value_range):
    x = images((5, 6, 3), n=3)
    draw = {"contrast_factor": np.array([0.5, 1.0, 1.8], np.float32).reshape(3, 1, 1, 1)}
    layer = L.RandomContrast(0.5, value_range=value_range)
    layer.ensure_built(x.shape[1:])
    theirs = keras_transform(keras.layers.RandomContrast(0.5, value_range=value_range), x, draw)
    assert_close(layer.transform_images(x, draw), theirs, FORWARD_RTOL, "RandomContrast")


def test_brightness_given_draws():
    x = images((5, 6, 3), n=3, high=1.0)
    draw = {"rgb_delta": np.array([-0.3, 0.05, 0.6], np.float32).reshape(3, 1, 1, 1)}
    layer = L.RandomBrightness(0.5, value_range=(0, 1))
    layer.ensure_built(x.shape[1:])
    theirs = keras_transform(keras.layers.RandomBrightness(0.5, value_range=(0, 1)), x, draw)
    assert_close(layer.transform_images(x, draw), theirs, FORWARD_RTOL, "RandomBrightness")


# ------------------------------------------------------------------- gradients (linear layers)
def keras_input_grad(klayer, x, transformation, w):
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        loss = tf.reduce_sum(klayer.transform_images(xt, transformation, training=True) * w)
    return tape.gradient(loss, xt).numpy()


@pytest.mark.parametrize("case", ["flip", "contrast", "brightness"])
def test_input_gradient_matches_tensorflow(case):
    x = images((5, 6, 2), n=3)
    w = np.random.default_rng(1).normal(size=x.shape).astype(np.float32)
    factor = np.array([0.5, 1.0, 1.8], np.float32).reshape(3, 1, 1, 1)
    layer, klayer, draw = {
        "flip": (L.RandomFlip(), keras.layers.RandomFlip(),
                 {"flips": np.array([True, False, True]).reshape(3, 1, 1, 1)}),
        "contrast": (L.RandomContrast(0.5, value_range=(20, 230)),
                     keras.layers.RandomContrast(0.5, value_range=(20, 230)),
                     {"contrast_factor": factor}),
        "brightness": (L.RandomBrightness(0.5), keras.layers.RandomBrightness(0.5),
                       {"rgb_delta": np.array([-60, 5, 90], np.float32).reshape(3, 1, 1, 1)}),
    }[case]
    layer.ensure_built(x.shape[1:])
    layer.transform_images(x, draw)
    ours = layer.backward_images(w)
    theirs = keras_input_grad(klayer, x, {**draw, "input_shape": x.shape}, w)
    assert_close(ours, theirs, GRAD_RTOL, f"{case}: dL/dx")


def test_tensorflow_warp_gradient_is_not_the_transpose():
    """TensorFlow's gradient of ImageProjectiveTransformV3 warps dy by the inverse transform: not
    the transpose of the bilinear sampling, so it is not the derivative (a Keras surprise).
    scratchnet returns the transpose; the finite differences in tests/ check it."""
    x = images((6, 6, 1), n=1)
    w = np.random.default_rng(2).normal(size=x.shape).astype(np.float32)
    layer = L.RandomZoom((0.5, 0.5))
    layer.ensure_built(x.shape[1:])
    draw = {"height_zoom": np.array([[1.5]], np.float32), "width_zoom": np.array([[1.5]], np.float32)}
    layer.transform_images(x, draw)
    ours = layer.backward_images(w)
    theirs = keras_input_grad(keras.layers.RandomZoom((0.5, 0.5)), x, draw, w)
    # The transpose is exact: <w, T x> == <T^T w, x> for the linear map T.
    y = layer.transform_images(x, draw)
    np.testing.assert_allclose(np.sum(w * y), np.sum(ours * x), rtol=1e-5)
    assert not np.allclose(ours, theirs, rtol=1e-2)


# ------------------------------------------------------------------- inside training
def test_fixed_augmentation_in_front_of_a_model_trains_like_keras():
    """Fixed factors in front of a small network: the loss, every gradient and 5 SGD steps
    (train_step against train_on_batch, both in training mode) agree. RandomContrast((-0.5, 0.5))
    is Keras' way of fixing the contrast factor: it draws from [1 - (-0.5), 1 + 0.5] = {1.5}."""
    x = images((6, 6, 2), n=8, high=1.0)
    y = np.arange(8) % 3
    model = sn.Sequential([
        L.Input((6, 6, 2)), L.RandomRotation((0.1, 0.1)), L.RandomZoom((-0.2, -0.2), (0.1, 0.1)),
        L.RandomTranslation((0.25, 0.25), (-0.1, -0.1), fill_mode="constant"),
        L.RandomContrast((-0.5, 0.5), value_range=(0, 1)),
        L.RandomBrightness((0.05, 0.05), value_range=(0, 1)),
        L.Flatten(), L.Dense(3),
    ], seed=0)
    assert_parity(model, x, y, loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True),
                  optimizer=sn.optimizers.SGD(0.1), steps=5, batch_size=4)


# ------------------------------------------------------------------- conversion and .keras files
ALL_LAYERS = [
    lambda: L.RandomFlip("horizontal", seed=3),
    lambda: L.RandomRotation(0.2, fill_mode="constant", fill_value=1.5, seed=4),
    lambda: L.RandomZoom((-0.2, 0.3), 0.1, interpolation="nearest"),
    lambda: L.RandomTranslation(0.1, (-0.2, 0.0), fill_mode="wrap"),
    lambda: L.RandomContrast(0.3, value_range=(0, 1)),
    lambda: L.RandomBrightness((-0.1, 0.2), value_range=(0, 1)),
]


@pytest.mark.parametrize("make", ALL_LAYERS, ids=lambda m: type(m()).__name__)
def test_to_keras_and_back_keep_the_config(make):
    layer = make()
    klayer = tfnet.to_keras(layer_model(layer, (8, 8, 3))).layers[0]
    assert type(klayer).__name__ == type(layer).__name__
    kconfig = klayer.get_config()
    for key, value in layer.get_config().items():
        if key != "name":
            assert kconfig[key] == value or list(kconfig[key]) == list(value), key
    back = tfnet.from_keras(tfnet.to_keras(layer_model(make(), (8, 8, 3)))).layers[0]
    assert type(back) is type(layer)
    assert {k: v for k, v in back.get_config().items() if k != "name"} == \
        {k: v for k, v in layer.get_config().items() if k != "name"}


def test_keras_files_round_trip(tmp_path):
    """A scratchnet model with every augmentation layer saved as .keras: Keras loads it with the
    same configs and its prediction (augmentation off) equals ours; and back."""
    model = sn.Sequential([L.Input((8, 8, 3))] + [make() for make in ALL_LAYERS] +
                          [L.Flatten(), L.Dense(3)], seed=0)
    x = images((8, 8, 3), n=2, high=1.0)
    model.save(tmp_path / "aug.keras")
    kmodel = keras.models.load_model(tmp_path / "aug.keras")
    assert [type(k).__name__ for k in kmodel.layers] == [type(s).__name__ for s in model.layers]
    for layer, klayer in zip(model.layers[:6], kmodel.layers[:6], strict=True):
        kconfig = klayer.get_config()
        for key, value in layer.get_config().items():
            assert kconfig[key] == value or list(kconfig[key]) == list(value), (layer.name, key)
    assert_close(model.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL,
                 "prediction after .keras save")
    kmodel.save(tmp_path / "back.keras")
    loaded = sn.load_model(tmp_path / "back.keras")
    assert [layer.get_config() for layer in loaded.layers[:6]] == \
        [layer.get_config() for layer in model.layers[:6]]


# ------------------------------------------------------------------- RandomCrop
@pytest.mark.parametrize("shape, target, draw", [((7, 9, 2), (4, 5), (2, 3)), ((7, 9, 2), (4, 5), (3, 4)),
                                                 ((6, 6, 1), (3, 3), (0, 2))])
def test_random_crop_given_a_place(shape, target, draw):
    """Training, input larger than the target: Keras' slice at a given (top, left), and its
    gradient (TensorFlow's: the cropped cells get dy)."""
    x = images(shape)
    layer = L.RandomCrop(*target)
    layer.ensure_built(x.shape[1:])
    klayer = keras.layers.RandomCrop(*target)
    theirs = keras_transform(klayer, x, draw)
    assert_close(layer.transform_images(x, draw), theirs, FORWARD_RTOL, "RandomCrop")
    w = np.random.default_rng(3).normal(size=theirs.shape).astype(np.float32)
    assert_close(layer.backward_images(w), keras_input_grad(klayer, x, draw, w), GRAD_RTOL,
                 "RandomCrop dL/dx")


@pytest.mark.parametrize("shape, target", [((4, 6, 2), (4, 4)), ((2, 3, 1), (4, 5)), ((6, 3, 2), (4, 4)),
                                           ((5, 5, 1), (5, 7))])
def test_random_crop_of_an_input_not_larger_than_the_target(shape, target):
    """Not larger on both sides: Keras' centred place (no draw: ours equals its transformation),
    its slice cut at the edge, resized where it is not the target's size; and the gradient."""
    x = images(shape)
    layer = L.RandomCrop(*target)
    layer.ensure_built(x.shape[1:])
    klayer = keras.layers.RandomCrop(*target)
    draw = tuple(int(v) for v in klayer.get_random_transformation(tf.constant(x), training=True))
    assert layer.get_random_transformation(x) == draw
    theirs = keras_transform(klayer, x, draw)
    assert theirs.shape == (len(x), *target, shape[2])
    assert_close(layer.transform_images(x, draw), theirs, FORWARD_RTOL, "RandomCrop, resized")
    w = np.random.default_rng(4).normal(size=theirs.shape).astype(np.float32)
    assert_close(layer.backward_images(w), keras_input_grad(klayer, x, draw, w), GRAD_RTOL,
                 "RandomCrop, resized: dL/dx")


def test_random_crop_at_inference_where_keras_returns_the_input():
    """Keras 3.15.1's RandomCrop returns its input unchanged at inference, against its docstring
    ("the input will be resized and cropped so as to return the largest possible window in the
    image that matches the target aspect ratio") and its own output shape, so a Keras model with
    it trains and then fails in predict. scratchnet does what the docstring says: the centred
    window, resized, which is Keras' own Resizing(crop_to_aspect_ratio=True). Pinned both ways, so
    that a Keras that changes shows here."""
    x = images((6, 8, 2))
    klayer = keras.layers.RandomCrop(4, 4)
    np.testing.assert_array_equal(np.asarray(klayer(x, training=False)), x)
    want = np.asarray(keras.layers.Resizing(4, 4, crop_to_aspect_ratio=True)(x))
    layer = L.RandomCrop(4, 4)
    assert_close(layer(x, training=False), want, FORWARD_RTOL, "RandomCrop at inference")
    kmodel = keras.Sequential([keras.Input((6, 8, 2)), keras.layers.RandomCrop(4, 4), keras.layers.Flatten(),
                               keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 32"):
        kmodel.predict(x, verbose=0)


def test_random_crop_converts_and_saves_with_its_config(tmp_path):
    layer = L.RandomCrop(4, 5, seed=9)
    klayer = tfnet.to_keras(layer_model(layer, (8, 8, 3))).layers[0]
    assert isinstance(klayer, keras.layers.RandomCrop)
    assert (klayer.height, klayer.width, klayer.seed) == (4, 5, 9)
    back = tfnet.from_keras(tfnet.to_keras(layer_model(L.RandomCrop(4, 5, seed=9), (8, 8, 3)))).layers[0]
    assert {k: v for k, v in back.get_config().items() if k != "name"} == \
        {k: v for k, v in layer.get_config().items() if k != "name"}
    model = sn.Sequential([L.Input((8, 8, 3)), L.RandomCrop(4, 5, seed=9), L.Flatten(), L.Dense(2)], seed=0)
    model.save(tmp_path / "crop.keras")
    kmodel = keras.models.load_model(tmp_path / "crop.keras")
    assert (kmodel.layers[0].height, kmodel.layers[0].width) == (4, 5)
    np.testing.assert_array_equal(kmodel.layers[-1].get_weights()[0], model.layers[-1].kernel.value)


def test_augmentation_at_a_functional_models_start_is_off_in_predict_as_in_keras():
    """keras.io's image classification from scratch puts RandomFlip and RandomRotation at the
    model's start: Keras' predict and evaluate leave the images alone (the model's
    training=False wins over the layers' call default), fit augments. scratchnet gave a new
    answer at each predict before (examples/keras_io/image_classification_from_scratch.py)."""
    x = np.random.default_rng(0).random((3, 8, 8, 2)).astype(np.float32)

    def model(M):
        inputs = M.Input((8, 8, 2))
        y = M.layers.RandomRotation(0.2)(M.layers.RandomFlip("horizontal")(inputs))
        return M.Model(inputs, M.layers.Flatten()(y))

    for m in (model(sn), model(keras)):
        for _ in range(2):
            np.testing.assert_array_equal(np.asarray(m.predict(x, verbose=0)), x.reshape(3, -1))
        np.testing.assert_array_equal(np.asarray(m(x, training=False)), x.reshape(3, -1))
    trained = model(sn).forward([x], training=True)
    assert not np.allclose(np.asarray(trained), x.reshape(3, -1))
    assert not np.allclose(np.asarray(model(keras)(x, training=True)), x.reshape(3, -1))
