"""The 3-D layers (Conv3D, Conv3DTranspose, MaxPooling3D, AveragePooling3D, GlobalAveragePooling3D,
GlobalMaxPooling3D, UpSampling3D, ZeroPadding3D, Cropping3D, SpatialDropout3D) against Keras 3.15:
every layer's output to FORWARD_RTOL; its input gradient and weight gradients against
tf.GradientTape to GRAD_RTOL; the loss and every gradient of a model around it and five Adam steps
to TRAJECTORY_RTOL; a small CT-scan classifier's SGD steps; MaxPooling3D's gradient on tied maxima;
configs, default names and aliases; summaries; to_keras/from_keras round trips. Same weights and
batches on both sides (parity_tests/driver.py). The .keras/.h5 files both ways: the "volumes" model
of parity_tests/test_keras_format.py."""

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
    check_round_trip,
    layer_model,
    random_data,
    random_weights,
)

L = sn.layers
SCCE = sn.losses.SparseCategoricalCrossentropy
SHAPE = (4, 5, 6, 3)  # (D, H, W, C)

LAYERS = {
    "conv3d": lambda: L.Conv3D(2, 3),
    "conv3d_same_strided": lambda: L.Conv3D(4, (2, 3, 2), strides=(1, 2, 2), padding="same"),
    "conv3d_strided_valid": lambda: L.Conv3D(3, 2, strides=(2, 1, 3), activation="relu"),
    "conv3d_dilated": lambda: L.Conv3D(2, 2, dilation_rate=(1, 2, 2), activation="tanh"),
    "conv3d_dilated_same": lambda: L.Conv3D(2, 3, dilation_rate=2, padding="same"),
    "conv3d_groups": lambda: L.Conv3D(6, 2, groups=3, padding="same", activation="relu"),
    "conv3d_no_bias": lambda: L.Conv3D(3, (1, 2, 3), use_bias=False),
    "conv3d_transpose": lambda: L.Conv3DTranspose(2, 3),
    "conv3d_transpose_strided_same": lambda: L.Conv3DTranspose(2, 3, strides=2, padding="same"),
    "conv3d_transpose_strided_valid": lambda: L.Conv3DTranspose(3, (2, 3, 2), strides=(2, 1, 3)),
    "conv3d_transpose_output_padding": lambda: L.Conv3DTranspose(2, 2, strides=(1, 2, 3),
                                                                 output_padding=(0, 1, 2)),
    "conv3d_transpose_same_output_padding": lambda: L.Conv3DTranspose(
        2, 3, strides=2, padding="same", output_padding=1, activation="relu", use_bias=False),
    "max_pool3d": lambda: L.MaxPooling3D(),
    "max_pool3d_same_overlapping": lambda: L.MaxPooling3D((2, 3, 2), strides=1, padding="same"),
    "max_pool3d_strided_same": lambda: L.MaxPooling3D(3, strides=2, padding="same"),
    "avg_pool3d": lambda: L.AveragePooling3D(2),
    "avg_pool3d_same": lambda: L.AveragePooling3D((3, 2, 4), strides=(2, 1, 3), padding="same"),
    "avg_pool3d_overlapping": lambda: L.AveragePooling3D(3, strides=1),
    "global_avg_pool3d": lambda: L.GlobalAveragePooling3D(),
    "global_avg_pool3d_keepdims": lambda: L.GlobalAveragePooling3D(keepdims=True),
    "global_max_pool3d": lambda: L.GlobalMaxPooling3D(),
    "global_max_pool3d_keepdims": lambda: L.GlobalMaxPooling3D(keepdims=True),
    "up_sampling3d": lambda: L.UpSampling3D((2, 1, 3)),
    "up_sampling3d_default": lambda: L.UpSampling3D(),
    "zero_padding3d": lambda: L.ZeroPadding3D(((1, 0), (2, 1), (0, 3))),
    "zero_padding3d_symmetric": lambda: L.ZeroPadding3D((1, 0, 2)),
    "cropping3d": lambda: L.Cropping3D(((1, 0), (2, 1), (0, 3))),
    "cropping3d_default": lambda: L.Cropping3D(),
    "spatial_dropout3d": lambda: L.SpatialDropout3D(0.5),
}
# Random in training (its draws are not TensorFlow's): compared in inference, and in training on
# Keras' own mask (test_spatial_dropout3d_training_on_keras_mask).
TRAINED = sorted(set(LAYERS) - {"spatial_dropout3d"})
# (Conv3DTranspose with dilation_rate > 1: TensorFlow's CPU kernel refuses it, "Current CPU
# implementation does not yet support dilation rates larger than 1" [Conv3DBackpropInputV2], as for
# Conv1DTranspose; tests/test_volume_layers.py checks scratchnet's against finite differences.)


@pytest.mark.parametrize("case", sorted(LAYERS))
def test_forward(case):
    x, _ = random_data(SHAPE, n=3)
    assert_parity(random_weights(layer_model(LAYERS[case](), SHAPE)), x * 2)


@pytest.mark.parametrize("case", sorted(LAYERS))
def test_input_and_weight_gradients_against_the_tape(case):
    """d(sum(dy * layer(x))) by the layer's backward and by tf.GradientTape on Keras' twin."""
    model = random_weights(layer_model(LAYERS[case](), SHAPE))
    layer = model.layers[-1]
    layer.compute_input_grad = True
    kmodel = tfnet.to_keras(model)
    x, _ = random_data(SHAPE, n=3, seed=1)
    dy = np.random.default_rng(2).normal(size=(3, *model.output_shape[1:])).astype(np.float32)
    variable = tf.Variable(x)
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(kmodel(variable, training=False) * dy)
    kgrads = tape.gradient(total, [variable, *kmodel.trainable_weights])
    layer.forward(x, training=False)
    assert_close(layer.backward(dy), kgrads[0].numpy(), GRAD_RTOL, f"{case}: dL/dx")
    assert len(layer.params) == len(kgrads) - 1
    for param, kgrad in zip(layer.params.values(), kgrads[1:], strict=True):
        assert_close(param.grad, kgrad.numpy(), GRAD_RTOL, f"{case}: dL/d{param.name}")


@pytest.mark.parametrize("case", TRAINED)
def test_gradients_and_adam_steps(case):
    """A Conv3D before the layer under test (so the layer's input gradient feeds its kernel's),
    the loss and every gradient, then five Adam steps on two batches. The inputs are scaled by
    1/4 so the tanh stays off its flat ends: near 1, float32 holds tanh's slope 1 - y^2 to a few
    bits only, and a global max picks exactly the most saturated cells (a gradient of rounding)."""
    x, y = random_data(SHAPE, n=8)
    x = x / 4
    model = random_weights(sn.Sequential([
        L.Input(SHAPE), L.Conv3D(3, 2, padding="same", activation="tanh"), LAYERS[case](),
        L.Flatten(), L.Dense(4)], seed=0))
    assert_parity(model, x, y, loss=SCCE(from_logits=True), optimizer=sn.optimizers.Adam(0.01),
                  steps=5, batch_size=4)


def test_a_small_ct_scan_classifier_trains_as_keras():
    """keras.io's CT-scan network in small: Conv3D + MaxPool3D + BatchNormalization blocks,
    GlobalAveragePooling3D, Dense, Dropout(0) (random in training otherwise); ten SGD steps.
    The convolutions have no bias: a bias before a BatchNormalization (through a max pooling,
    which commutes with adding a constant) has a zero gradient, rounding noise on both sides
    (test_batchnorm_keras.py; the keras.io program's own test keeps the biases)."""
    rng = np.random.default_rng(3)
    x = rng.random((8, 8, 8, 8, 1)).astype(np.float32)
    y = (np.arange(8) % 2).astype(np.float32)[:, None]
    model = sn.Sequential([
        L.Input((8, 8, 8, 1)), L.Conv3D(4, 3, activation="relu", use_bias=False), L.MaxPool3D(2),
        L.BatchNormalization(),
        L.Conv3D(8, 3, padding="same", activation="relu", use_bias=False), L.MaxPool3D(2),
        L.BatchNormalization(), L.GlobalAveragePooling3D(), L.Dense(8, activation="relu"),
        L.Dropout(0.0), L.Dense(1, activation="sigmoid")], seed=4)
    assert_parity(model, x, y, loss=sn.losses.BinaryCrossentropy(),
                  optimizer=sn.optimizers.SGD(0.05, momentum=0.9), steps=10, batch_size=4)


def test_a_3d_decoder_trains_as_keras():
    """Conv3D down, Conv3DTranspose and UpSampling3D up: ten Adam steps on MSE."""
    model = sn.Sequential([
        L.Input((4, 4, 4, 2)), L.Conv3D(4, 3, strides=2, padding="same", activation="relu"),
        L.Conv3DTranspose(4, 3, strides=2, padding="same", activation="relu"), L.AveragePooling3D(2),
        L.UpSampling3D(), L.Conv3D(2, 3, padding="same")], seed=0)
    x = np.random.default_rng(0).random((8, 4, 4, 4, 2)).astype(np.float32)
    assert_parity(model, x, x, loss=sn.losses.MeanSquaredError(), optimizer=sn.optimizers.Adam(0.01),
                  steps=10, batch_size=4)


@pytest.mark.parametrize("kwargs", [dict(pool_size=2), dict(pool_size=(2, 3, 2), strides=1, padding="same"),
                                    dict(pool_size=3, strides=2, padding="same")])
def test_max_pooling3d_tied_maxima_as_model_fit(kwargs):
    """Inputs of few distinct values (ties in most windows), the gradient as Keras' training step
    computes it, inside a tf.function: TensorFlow's MaxPool3DGrad gives each window's dy, whole, to
    every cell within 1e-5 of the maximum (with oneDNN off, as parity tests run TensorFlow:
    PARITY.md; oneDNN's own kernel, which a tf.function runs when it is on, gives it to the first
    maximum alone). Some cells are moved by less than 1e-5: near-ties."""
    x = np.random.default_rng(8).integers(0, 3, (2, 5, 6, 7, 3)).astype(np.float32)
    x[:, ::2] += np.float32(6e-6)  # within TensorFlow's 1e-5 of an integer maximum
    klayer = keras.layers.MaxPooling3D(**kwargs)
    dy = np.random.default_rng(9).normal(size=klayer.compute_output_shape(x.shape)).astype(np.float32)

    @tf.function
    def keras_gradient(v):
        with tf.GradientTape() as tape:
            tape.watch(v)
            total = tf.reduce_sum(klayer(v) * dy)
        return tape.gradient(total, v)

    layer = L.MaxPooling3D(**kwargs)
    assert_close(layer(x), np.asarray(klayer(x)), FORWARD_RTOL, "y")
    assert_close(layer.backward(dy), keras_gradient(tf.constant(x)).numpy(), GRAD_RTOL, "dL/dx")


def test_ct_like_volumes_with_uniform_regions_train_as_keras():
    """Air (exact zeros) and a clipped blob (exact ones) in each volume: after a convolution and a
    ReLU, whole max-pooling windows tie. SGD steps as in Keras' fit (every tied maximum of a
    window takes its whole gradient); biases before a BatchNormalization would be rounding noise
    (test_a_small_ct_scan_classifier_trains_as_keras); this model has no BatchNormalization."""
    rng = np.random.default_rng(10)
    x = rng.random((8, 8, 8, 8, 1)).astype(np.float32)
    x[:, :, :3] = 0.0
    x[1::2, 4:7, 4:7, 4:7] = 1.0
    y = (np.arange(8) % 2).astype(np.float32)[:, None]
    model = sn.Sequential([
        L.Input((8, 8, 8, 1)), L.Conv3D(4, 3, padding="same", activation="relu"), L.MaxPool3D(2),
        L.Conv3D(4, 3, padding="same", activation="relu"), L.MaxPool3D(2), L.GlobalAveragePooling3D(),
        L.Dense(1, activation="sigmoid")], seed=5)
    model.set_weights([w if w.ndim > 1 else np.full(w.shape, 0.05, w.dtype) for w in model.get_weights()])
    assert_parity(model, x, y, loss=sn.losses.BinaryCrossentropy(), optimizer=sn.optimizers.SGD(0.1),
                  steps=8, batch_size=4)


class _Draws:
    """A stand-in for the layer's Generator whose ``random`` returns 1.0 where ``keep`` and 0.0
    elsewhere, so the layer keeps exactly the channels Keras kept."""

    def __init__(self, keep):
        self.keep = keep

    def random(self, shape):
        assert tuple(shape) == self.keep.shape
        return self.keep.astype(np.float64)


def test_spatial_dropout3d_training_on_keras_mask():
    """TensorFlow's draws cannot be reproduced; Keras' training output shows which channels it
    kept (each whole volume kept, scaled by 1/(1 - rate), or zeroed). On that mask scratchnet's
    output is Keras' and its gradient TensorFlow's."""
    x = np.random.default_rng(6).uniform(0.5, 1.5, (16, 3, 4, 5, 6)).astype(np.float32)
    dy = np.random.default_rng(7).normal(size=x.shape).astype(np.float32)
    klayer = keras.layers.SpatialDropout3D(0.4, seed=3)
    variable = tf.Variable(x)
    with tf.GradientTape() as tape:
        yk = klayer(variable, training=True)
        total = tf.reduce_sum(yk * dy)
    yk, grad_k = yk.numpy(), tape.gradient(total, variable).numpy()
    dropped = yk == 0
    assert (dropped == dropped[:, :1, :1, :1, :]).all()  # whole channels, per sample
    assert 0.2 < dropped.mean() < 0.6
    layer = L.SpatialDropout3D(0.4)
    sn.Sequential([L.Input(x.shape[1:]), layer])
    layer.rng = _Draws(~dropped[:, :1, :1, :1, :])
    assert_close(layer.forward(x, training=True), yk, FORWARD_RTOL, "output on Keras' mask")
    assert_close(layer.backward(dy), grad_k, GRAD_RTOL, "gradient on Keras' mask")


# ------------------------------------------------------------------- configs, names, summaries
def test_keras_configs_default_names_and_aliases_match():
    pairs = [(L.Conv3D(4, 3, strides=2, padding="same", groups=2, activation="relu"),
              keras.layers.Conv3D(4, 3, strides=2, padding="same", groups=2, activation="relu")),
             (L.Conv3DTranspose(3, 2, strides=2, output_padding=1),
              keras.layers.Conv3DTranspose(3, 2, strides=2, output_padding=1)),
             (L.MaxPooling3D(), keras.layers.MaxPooling3D()),
             (L.AveragePooling3D(3, strides=(1, 2, 1)), keras.layers.AveragePooling3D(3, strides=(1, 2, 1))),
             (L.GlobalAveragePooling3D(keepdims=True), keras.layers.GlobalAveragePooling3D(keepdims=True)),
             (L.GlobalMaxPooling3D(), keras.layers.GlobalMaxPooling3D()),
             (L.UpSampling3D((1, 2, 3)), keras.layers.UpSampling3D((1, 2, 3))),
             (L.ZeroPadding3D(), keras.layers.ZeroPadding3D()),
             (L.ZeroPadding3D((1, 2, 3)), keras.layers.ZeroPadding3D((1, 2, 3))),
             (L.Cropping3D(((1, 0), (0, 2), (3, 1))), keras.layers.Cropping3D(((1, 0), (0, 2), (3, 1)))),
             (L.SpatialDropout3D(0.2, seed=1), keras.layers.SpatialDropout3D(0.2, seed=1))]

    def plain(value):
        return [plain(v) for v in value] if isinstance(value, tuple | list) else value

    for layer, klayer in pairs:
        kconfig = klayer.get_config()
        config = layer.get_config()
        for key, value in config.items():
            if key == "name" or key.endswith("_initializer"):
                continue
            assert plain(value) == plain(kconfig[key]), (type(layer).__name__, key)
        assert layer.name.rstrip("_0123456789") == klayer.name.rstrip("_0123456789")
    for alias in ("Convolution3D", "Convolution3DTranspose", "MaxPool3D", "AvgPool3D", "GlobalAvgPool3D",
                  "GlobalMaxPool3D"):
        assert getattr(L, alias).__name__ == getattr(keras.layers, alias).__name__


def test_summary_shapes_and_parameter_counts_are_keras():
    model = sn.Sequential([
        L.Input((8, 8, 8, 2)), L.Conv3D(4, 3, groups=2), L.MaxPool3D(), L.ZeroPadding3D(1),
        L.Conv3DTranspose(3, 2, strides=2), L.Cropping3D(1), L.AvgPool3D(2), L.UpSampling3D(),
        L.SpatialDropout3D(0.1), L.GlobalMaxPool3D(keepdims=True), L.GlobalAvgPool3D(), L.Dense(2)])
    kmodel = tfnet.to_keras(model)
    assert model.count_params() == kmodel.count_params()
    for layer, klayer in zip(model.layers, kmodel.layers, strict=True):
        assert (None, *layer.output_shape) == tuple(klayer.output.shape), layer.name
        assert layer.count_params() == klayer.count_params(), layer.name
    lines: list[str] = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    for klayer in kmodel.layers:
        assert f"{klayer.name} ({type(klayer).__name__})" in text
        assert str(tuple(klayer.output.shape)) in text


def test_round_trip_copies_weights_and_configs_exactly():
    model = random_weights(sn.Sequential([
        L.Input((6, 6, 6, 2)), L.Conv3D(4, 3, padding="same", groups=2, activation="relu",
                                        kernel_regularizer=sn.regularizers.L2(0.01)),
        L.MaxPool3D(2, padding="same"), L.AveragePooling3D(1), L.ZeroPadding3D((1, 0, 1)),
        L.Cropping3D(((0, 1), (1, 0), (0, 0))), L.UpSampling3D((2, 1, 1)), L.SpatialDropout3D(0.1, seed=2),
        L.Conv3DTranspose(2, 2, strides=(1, 2, 1), output_padding=(0, 1, 0), use_bias=False),
        L.GlobalMaxPooling3D(keepdims=True), L.GlobalAveragePooling3D(), L.Dense(2)], seed=1))
    check_round_trip(model)


@pytest.mark.parametrize("klayer, shape, pattern", [
    (lambda: keras.layers.Conv3D(2, 2, data_format="channels_first"), (1, 4, 4, 4), "data_format"),
    (lambda: keras.layers.MaxPooling3D(data_format="channels_first"), (1, 4, 4, 4), "data_format"),
    (lambda: keras.layers.GlobalAveragePooling3D(data_format="channels_first"), (1, 4, 4, 4),
     "data_format"),
])
def test_from_keras_refuses_options_scratchnet_lacks(klayer, shape, pattern):
    kmodel = keras.Sequential([keras.Input(shape), klayer()])
    with pytest.raises(ValueError, match=pattern):
        tfnet.from_keras(kmodel)
