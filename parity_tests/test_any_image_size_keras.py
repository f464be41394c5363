"""Images of any size (``Input((None, None, C))``) and 1-D signals of any length against Keras 3.15.

- Models built for unknown sizes: the same output shapes as Keras' (``None`` kept, a known axis
  kept), the same parameter counts, and at two image sizes every output (check_forward), the loss
  and every gradient (check_loss_and_grads); then SGD (momentum) steps on batches that alternate
  between the two sizes (check_trajectory): Conv2D (each padding, strides, dilation) with the
  poolings, Conv2DTranspose, DepthwiseConv2D and SeparableConv2D, the 1-D depthwise, separable,
  upsampling, padding and cropping layers, ZeroPadding2D/UpSampling2D/Cropping2D, Rescaling,
  Resizing and CenterCrop, the normalization layers, global pooling; a functional graph merging
  two branches (Add, Multiply, Concatenate). UpSampling2D(interpolation="bilinear"): forward and
  gradients only (Keras 3.15.1 fails to train it once its train function is retraced with None).
- The augmentation layers pass images of any size through unchanged at inference, as Keras'.
- The refused case: Keras refuses the same model (Flatten then Dense, a weight of unknown size).
- Files both ways: a Keras ``.keras``/``.h5`` file with ``batch_shape [null, null, null, 1]`` loads
  in scratchnet and scratchnet's opens in Keras, with the same predictions at two sizes;
  ``tfnet.from_keras`` keeps the None too.

Tolerances (driver.py): FORWARD_RTOL for outputs and losses, GRAD_RTOL for gradients,
TRAJECTORY_RTOL for weights after training.
"""

import json
import zipfile

import keras
import numpy as np
import pytest

import scratchnet as sn
import tfnet
from parity_tests.driver import (
    FORWARD_RTOL,
    GRAD_RTOL,
    assert_close,
    check_forward,
    check_loss_and_grads,
    check_trajectory,
    make_twins,
    random_weights,
)

L = sn.layers
C = 3
SIZES = ((9, 11), (12, 10))


def _models():
    """``name -> (layers maker taking a layers module, sample shape)``."""
    yield "conv2d_pooling", lambda M: [
        M.Conv2D(4, 3, padding="same", activation="relu"), M.MaxPooling2D(2, padding="same"),
        M.Conv2D(4, (2, 3), strides=2, activation="relu"), M.AveragePooling2D(2, strides=1, padding="same"),
        M.Conv2D(3, 2, dilation_rate=2, padding="same")], (None, None, C)
    yield "conv2d_transpose", lambda M: [
        M.Conv2DTranspose(3, 3, strides=2, padding="same", activation="relu"),
        M.Conv2DTranspose(2, 2, strides=2, output_padding=1)], (None, None, C)
    yield "depthwise_separable", lambda M: [
        M.DepthwiseConv2D(3, depth_multiplier=2, padding="same", activation="relu"),
        M.SeparableConv2D(4, 2, strides=2), M.DepthwiseConv2D(2, dilation_rate=2)], (None, None, C)
    yield "conv1d_family", lambda M: [
        M.DepthwiseConv1D(3, depth_multiplier=2, padding="same"), M.SeparableConv1D(4, 3, strides=2),
        M.UpSampling1D(3), M.ZeroPadding1D((1, 2)), M.Cropping1D((2, 1))], (None, C)
    yield "reshaping", lambda M: [
        M.Conv2D(3, 1), M.ZeroPadding2D(((1, 2), (0, 3))), M.UpSampling2D((2, 1)),
        M.Cropping2D(((2, 1), (1, 1))), M.UpSampling2D(2), M.Conv2D(2, 2)], (None, None, C)
    yield "preprocessing", lambda M: [M.Rescaling(0.5, offset=-0.25), M.Conv2D(3, 1), M.Resizing(5, 4),
                                      M.Conv2D(2, 2)], (None, None, C)
    yield "center_crop", lambda M: [M.Conv2D(3, 1), M.CenterCrop(6, 5), M.Conv2D(2, 3)], (None, None, C)
    yield "normalization_global", lambda M: [
        M.Conv2D(6, 3, padding="same", use_bias=False), M.BatchNormalization(), M.LayerNormalization(),
        M.GroupNormalization(3), M.Activation("gelu"), M.GlobalAveragePooling2D(), M.Dense(3)], \
        (None, None, C)
    yield "known_width", lambda M: [M.Conv2D(4, 3, strides=2, padding="same"), M.MaxPooling2D(2),
                                    M.Conv2DTranspose(2, 3, strides=2), M.GlobalMaxPooling2D()], \
        (None, 9, C)


MODELS = {name: rest for name, *rest in _models()}


def _x(shape, size, seed):
    spatial = size if len(shape) == 3 else size[:1]
    spatial = tuple(n if d is None else d for n, d in zip(spatial, shape[:-1], strict=False))
    return np.random.default_rng(seed).standard_normal((4, *spatial, shape[-1])).astype(np.float32)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_unknown_size_models_match_keras(name):
    make, shape = MODELS[name]
    model = sn.Sequential([L.Input(shape), *make(L)], seed=0)
    kmodel = keras.Sequential([keras.Input(shape), *make(keras.layers)])
    assert model.output_shape == kmodel.output_shape
    assert [layer.output_shape for layer in model.layers] == \
        [layer.output.shape[1:] for layer in kmodel.layers]
    assert model.count_params() == kmodel.count_params()
    random_weights(model, seed=1, scale=0.4)
    for layer in model.layers:  # a variance is positive
        if isinstance(layer, L.BatchNormalization):
            layer.moving_variance.value[...] = np.abs(layer.moving_variance.value) + 0.5
    twins = make_twins(model, loss=sn.losses.MeanSquaredError(),
                       optimizer=sn.optimizers.SGD(0.01, momentum=0.9))
    assert twins.keras.input_shape == (None, *shape)
    batches = []
    for seed, size in enumerate(SIZES):
        x = _x(shape, size, seed)
        y = np.random.default_rng(seed + 10).standard_normal(model.predict(x, verbose=0).shape)
        batches.append((x, y.astype(np.float32)))
    for x, y in batches:
        check_forward(twins, x)
        check_loss_and_grads(twins, x, y)
    check_trajectory(twins, batches, steps=4)  # the sizes alternate


def test_bilinear_upsampling_of_unknown_sizes_matches_keras():
    """Forward and gradients only: Keras 3.15.1's train function, retraced for a second image size
    with None there, fails inside UpSampling2D(interpolation="bilinear") (its resize uses the
    symbolic size as a Python bool), so no training trajectory here."""
    def make(M):
        return [M.Conv2D(3, 1), M.UpSampling2D((2, 3), interpolation="bilinear"), M.Conv2D(2, 2)]

    model = sn.Sequential([L.Input((None, None, C)), *make(L)], seed=0)
    kmodel = keras.Sequential([keras.Input((None, None, C)), *make(keras.layers)])
    assert model.output_shape == kmodel.output_shape
    random_weights(model, seed=3, scale=0.4)
    twins = make_twins(model, loss=sn.losses.MeanSquaredError())
    for seed, size in enumerate(SIZES):
        x = _x((None, None, C), size, seed)
        y = np.random.default_rng(seed).standard_normal(model.predict(x, verbose=0).shape).astype(np.float32)
        check_forward(twins, x)
        check_loss_and_grads(twins, x, y)


def test_a_graph_of_unknown_sizes_merging_branches_matches_keras():
    def build(M, Input, Model):
        inputs = Input((None, None, 2))
        a = M.Conv2D(4, 3, padding="same")(inputs)
        b = M.DepthwiseConv2D(3, depth_multiplier=2, padding="same")(inputs)
        merged = M.Concatenate()([M.Add()([a, b]), M.Multiply()([a, b])])
        return Model(inputs, M.Conv2D(1, 1)(M.Activation("relu")(merged)))

    model = build(L, sn.Input, sn.Model)
    kmodel = build(keras.layers, keras.Input, keras.Model)
    assert model.output_shape == kmodel.output_shape == (None, None, None, 1)
    random_weights(model, seed=2, scale=0.4)
    twins = make_twins(model, loss=sn.losses.MeanSquaredError(), optimizer=sn.optimizers.Adam(0.01))
    batches = []
    for seed, size in enumerate(SIZES):
        x = _x((None, None, 2), size, seed)
        batches.append((x, np.random.default_rng(seed).standard_normal((*x.shape[:3], 1)).astype(np.float32)))
    for x, y in batches:
        check_forward(twins, x)
        check_loss_and_grads(twins, x, y)
    check_trajectory(twins, batches, steps=4)


def test_augmentation_layers_pass_any_size_through_at_inference_as_keras():
    def make(M):
        return [M.RandomFlip(), M.RandomRotation(0.2), M.RandomZoom(0.2), M.RandomTranslation(0.1, 0.1),
                M.RandomContrast(0.2), M.RandomBrightness(0.2), M.Dropout(0.5), M.SpatialDropout2D(0.5)]

    model = sn.Sequential([L.Input((None, None, C)), *make(L)])
    kmodel = keras.Sequential([keras.Input((None, None, C)), *make(keras.layers)])
    assert model.output_shape == kmodel.output_shape == (None, None, None, C)
    crop = sn.Sequential([L.Input((None, None, C)), L.RandomCrop(5, 4)])
    kcrop = keras.Sequential([keras.Input((None, None, C)), keras.layers.RandomCrop(5, 4)])
    assert crop.output_shape == kcrop.output_shape == (None, 5, 4, C)
    for seed, size in enumerate(SIZES):
        x = _x((None, None, C), size, seed)
        assert_close(model.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL, "augmentation")
        # (RandomCrop's inference output: Keras 3.15.1 returns the input uncropped, against its own
        # output shape; scratchnet crops as Keras documents, see RandomCrop's docstring)
        assert crop.predict(x, verbose=0).shape == (4, 5, 4, C)


def test_keras_refuses_the_same_model():
    def make(M):
        return [M.Input((None, None, 3)), M.Conv2D(2, 3), M.Flatten(), M.Dense(3)]

    with pytest.raises(ValueError, match="Shapes used to initialize variables must be fully-defined"):
        keras.Sequential(make(keras.layers))
    with pytest.raises(ValueError, match="shapes used to initialize variables must be fully-defined"):
        sn.Sequential(make(L))


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_files_with_unknown_sizes_go_both_ways(suffix, tmp_path):
    kmodel = keras.Sequential([keras.Input((None, None, 1)),
                               keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
                               keras.layers.SeparableConv2D(4, 3, padding="same"),
                               keras.layers.Conv2DTranspose(2, 3, strides=2, padding="same"),
                               keras.layers.Cropping2D(1)])
    kmodel.save(tmp_path / f"keras{suffix}")
    if suffix == ".keras":
        config = json.loads(zipfile.ZipFile(tmp_path / "keras.keras").read("config.json"))
        assert config["config"]["layers"][0]["config"]["batch_shape"] == [None, None, None, 1]
    model = sn.load_model(tmp_path / f"keras{suffix}")
    assert model.input_shape == (None, None, None, 1) and model.output_shape == (None, None, None, 2)
    converted = tfnet.from_keras(kmodel)
    assert converted.input_shape == (None, None, None, 1)
    model.save(tmp_path / f"scratch{suffix}")
    back = keras.saving.load_model(tmp_path / f"scratch{suffix}")
    assert back.input_shape == (None, None, None, 1)
    for seed, size in enumerate(SIZES):
        x = _x((None, None, 1), size, seed)
        expected = kmodel.predict(x, verbose=0)
        assert_close(model.predict(x, verbose=0), expected, FORWARD_RTOL, "Keras' file")
        assert_close(converted.predict(x, verbose=0), expected, FORWARD_RTOL, "from_keras")
        assert_close(back.predict(x, verbose=0), expected, FORWARD_RTOL, "scratchnet's file")


@pytest.mark.parametrize("op, channels", [("depth_to_space", 18), ("space_to_depth", 2)])
def test_the_shuffle_ops_and_their_gradients_equal_keras(op, channels):
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 6, 9, channels)).astype(np.float32)
    ours, theirs = getattr(sn.ops, op)(x, 3), np.asarray(getattr(keras.ops, op)(x, 3))
    np.testing.assert_array_equal(ours, theirs)  # values only move: exactly equal
    inputs = sn.Input((None, None, channels))
    layer = sn.Model(inputs, getattr(sn.ops, op)(inputs, 3)).layers[-1]
    w = rng.standard_normal(ours.shape).astype(np.float32)
    tx = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(tx)
        loss = tf.reduce_sum(w * getattr(keras.ops, op)(tx, 3))
    layer.forward(x)
    np.testing.assert_array_equal(layer.backward(w), tape.gradient(loss, tx).numpy())


def test_a_sub_pixel_cnn_of_unknown_sizes_matches_keras(tmp_path):
    """keras.io's ESPCN in small: Conv2D layers and ops.depth_to_space on Input((None, None, 1)):
    forward, gradients and Adam steps at two sizes, tfnet both ways, .keras files both ways."""
    def build(M, ops, Input, Model):
        inputs = Input((None, None, 1))
        x = M.Conv2D(8, 5, padding="same", activation="relu", kernel_initializer="orthogonal")(inputs)
        x = M.Conv2D(4, 3, padding="same", activation="relu")(x)
        return Model(inputs, ops.depth_to_space(M.Conv2D(4, 3, padding="same")(x), 2))

    model = build(L, sn.ops, sn.Input, sn.Model)
    kmodel = build(keras.layers, keras.ops, keras.Input, keras.Model)
    assert model.output_shape == kmodel.output_shape == (None, None, None, 1)
    # Keras' model.layers lists layers only (the op is an Operation); scratchnet's has the op's node
    kinds = [type(layer).__name__ for layer in kmodel.layers] + ["DepthToSpace"]
    assert [type(layer).__name__ for layer in model.layers] == kinds
    random_weights(model, seed=4, scale=0.4)
    twins = make_twins(model, loss=sn.losses.MeanSquaredError(), optimizer=sn.optimizers.Adam(0.01))
    batches = []
    for seed, size in enumerate(SIZES):
        x = _x((None, None, 1), size, seed)
        y = np.random.default_rng(seed).standard_normal((4, 2 * size[0], 2 * size[1], 1))
        batches.append((x, y.astype(np.float32)))
    for x, y in batches:
        check_forward(twins, x)
        check_loss_and_grads(twins, x, y)
    check_trajectory(twins, batches, steps=4)
    x = batches[0][0]
    back = tfnet.from_keras(twins.keras)
    assert back.output_shape == (None, None, None, 1)
    assert_close(back.predict(x, verbose=0), twins.keras.predict(x, verbose=0), FORWARD_RTOL, "from_keras")
    model.save(tmp_path / "scratch.keras")
    config = json.loads(zipfile.ZipFile(tmp_path / "scratch.keras").read("config.json"))
    assert config["config"]["layers"][-1]["module"] == "keras.src.ops.nn"  # Keras' own spec of the op
    assert_close(keras.saving.load_model(tmp_path / "scratch.keras").predict(x, verbose=0),
                 model.predict(x, verbose=0), FORWARD_RTOL, "scratchnet's file in Keras")
    twins.keras.save(tmp_path / "keras.keras")
    assert_close(sn.load_model(tmp_path / "keras.keras").predict(x, verbose=0),
                 twins.keras.predict(x, verbose=0), FORWARD_RTOL, "Keras' file in scratchnet")


def _upscaler_class(lib):
    class Upscaler(lib.Model):
        """Fully convolutional, subclassed: its input shape comes from the first batch."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.conv = lib.layers.Conv2D(4, 3, padding="same", activation="relu")
            self.pool = lib.layers.MaxPooling2D()
            self.up = lib.layers.Conv2DTranspose(1, 2, strides=2)

        def call(self, x):
            return self.up(self.pool(self.conv(x)))

    return Upscaler


def test_a_subclassed_model_retraces_for_a_new_size_as_keras():
    """Built by a first batch of 8x8 images, trained a step; then a 12x6 batch: Keras retraces its
    step with the same weights, and so does scratchnet. Predictions and SGD steps at the new size
    and back at the first one agree."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x8, x12 = (rng.standard_normal(s).astype(np.float32) for s in ((4, 8, 8, 1), (4, 12, 6, 1)))
    model, kmodel = _upscaler_class(sn)(), _upscaler_class(keras)()
    for m in (model, kmodel):
        m.compile(optimizer=(sn if m is model else keras).optimizers.SGD(0.05), loss="mse")
    model.predict(x8, verbose=0)
    kmodel.predict(x8, verbose=0)
    kmodel.set_weights(random_weights(model, seed=5, scale=0.4).get_weights())
    for x in (x8, x12, x12, x8):  # 8x8, then a size never seen, then back
        assert_close(model.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL, "predict")
        loss = model.train_on_batch(x, x)
        kloss = kmodel.train_on_batch(x, x)
        assert_close(loss, kloss, FORWARD_RTOL, "train_on_batch loss")
        for w, kw in zip(model.get_weights(), kmodel.get_weights(), strict=True):
            assert_close(w, kw, GRAD_RTOL, "weights after a step")
    assert model.input_shape == (None, None, None, 1)
    assert tf.executing_eagerly()
