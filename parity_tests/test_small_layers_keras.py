"""UnitNormalization, GroupNormalization, AlphaDropout, CenterCrop, Conv1DTranspose,
ActivityRegularization and RMSNormalization against Keras 3.15: every layer's output to
FORWARD_RTOL, the loss and every gradient through it to GRAD_RTOL, Adam steps to TRAJECTORY_RTOL,
AlphaDropout's training arithmetic on Keras' own draws, CenterCrop on single images and on images
smaller than the target, configs and default names, and to_keras/from_keras round trips. Same
weights and batches on both sides (parity_tests/driver.py); the activity penalty:
test_activity_regularization_keras.py."""

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

IMAGE_LAYERS = {  # on (N, 5, 6, 4)
    "unit_norm": lambda: L.UnitNormalization(),
    "unit_norm_rows_cols": lambda: L.UnitNormalization(axis=[1, 2]),
    "unit_norm_rows": lambda: L.UnitNormalization(axis=-3),
    "group_norm_2": lambda: L.GroupNormalization(2),
    "group_norm_1_eps": lambda: L.GroupNormalization(1, epsilon=0.1),
    "group_norm_instance_no_center": lambda: L.GroupNormalization(-1, center=False),
    "group_norm_rows_no_scale": lambda: L.GroupNormalization(5, axis=1, scale=False),
    "group_norm_cols": lambda: L.GroupNormalization(3, axis=-2),
    "center_crop": lambda: L.CenterCrop(3, 3),
    "center_crop_odd": lambda: L.CenterCrop(2, 5),
    "center_crop_taller_resizes": lambda: L.CenterCrop(7, 4),
    "center_crop_larger_resizes": lambda: L.CenterCrop(8, 9),
    "activity_regularization": lambda: L.ActivityRegularization(0.01, 0.02),
    "rms_norm": lambda: L.RMSNormalization(),
    "rms_norm_last_three_eps": lambda: L.RMSNormalization(axis=[-3, -2, -1], epsilon=0.1),
}
SEQUENCE_LAYERS = {  # on (N, 7, 3)
    # (dilation_rate > 1: TensorFlow's CPU kernel refuses it, "Current CPU implementations do not
    # yet support dilation rates larger than 1"; tests/test_small_layers.py checks scratchnet's
    # against the painting loop and finite differences)
    "conv1d_transpose": lambda: L.Conv1DTranspose(3, 3),
    "conv1d_transpose_strided": lambda: L.Conv1DTranspose(3, 3, strides=2),
    "conv1d_transpose_same_strided": lambda: L.Conv1DTranspose(3, 3, strides=2, padding="same"),
    "conv1d_transpose_output_padding": lambda: L.Conv1DTranspose(2, 2, strides=3, output_padding=2),
    "conv1d_transpose_same_output_padding": lambda: L.Conv1DTranspose(2, 4, strides=2, padding="same",
                                                                      output_padding=1),
    "conv1d_transpose_relu_no_bias": lambda: L.Conv1DTranspose(2, 3, activation="relu", use_bias=False),
    "group_norm_steps": lambda: L.GroupNormalization(3),
    "unit_norm_steps": lambda: L.UnitNormalization(axis=1),
    "rms_norm_steps_features": lambda: L.RMSNormalization(axis=[1, 2]),
}


@pytest.mark.parametrize("case", sorted(IMAGE_LAYERS))
def test_image_layer_forward(case):
    x, _ = random_data((5, 6, 4), n=3)
    assert_parity(random_weights(layer_model(IMAGE_LAYERS[case](), (5, 6, 4))), x * 2)


@pytest.mark.parametrize("case", sorted(SEQUENCE_LAYERS))
def test_sequence_layer_forward(case):
    x, _ = random_data((7, 3), n=3)
    assert_parity(random_weights(layer_model(SEQUENCE_LAYERS[case](), (7, 3))), x * 2)


@pytest.mark.parametrize("case", sorted(IMAGE_LAYERS))
def test_image_layer_gradients_and_adam_steps(case):
    """A Conv2D before the layer under test, so its input gradient (dL/dx) is checked too; then
    five Adam steps on two batches."""
    x, y = random_data((5, 6, 4), n=8)
    model = random_weights(sn.Sequential([
        L.Input((5, 6, 4)), L.Conv2D(4, 2, padding="same", activation="tanh"), IMAGE_LAYERS[case](),
        L.Flatten(), L.Dense(4)], seed=0))
    assert_parity(model, x, y, loss=SCCE(from_logits=True), optimizer=sn.optimizers.Adam(0.01),
                  steps=5, batch_size=4)


@pytest.mark.parametrize("case", sorted(SEQUENCE_LAYERS))
def test_sequence_layer_gradients_and_adam_steps(case):
    x, y = random_data((7, 3), n=8)
    model = random_weights(sn.Sequential([
        L.Input((7, 3)), L.Conv1D(3, 2, padding="same", activation="tanh"), SEQUENCE_LAYERS[case](),
        L.Flatten(), L.Dense(4)], seed=0))
    assert_parity(model, x, y, loss=SCCE(from_logits=True), optimizer=sn.optimizers.Adam(0.01),
                  steps=5, batch_size=4)


def test_a_1d_decoder_trains_as_keras():
    """Conv1D down, Conv1DTranspose up, GroupNormalization between: 10 Adam steps on MSE."""
    model = sn.Sequential([
        L.Input((8, 2)), L.Conv1D(4, 3, strides=2, padding="same", activation="relu"),
        L.GroupNormalization(2), L.Conv1DTranspose(4, 3, strides=2, padding="same", activation="relu"),
        L.Conv1DTranspose(2, 3, padding="same")], seed=0)
    x = np.random.default_rng(0).random((16, 8, 2)).astype(np.float32)
    assert_parity(model, x, x, loss=sn.losses.MeanSquaredError(), optimizer=sn.optimizers.Adam(0.01),
                  steps=10, batch_size=8)


# ------------------------------------------------------------------- UnitNormalization's bound
def test_unit_normalization_at_zero_and_tiny_vectors_as_keras():
    x = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0], [1e-13, -2e-13, 0.0], [1e-3, 0.0, 2e-3]],
                 np.float32)
    layer, klayer = L.UnitNormalization(), keras.layers.UnitNormalization()
    variable = tf.Variable(x)
    dy = np.array([[1.0, 2.0, 3.0]] * 4, np.float32)
    with tf.GradientTape() as tape:
        yk = klayer(variable)
        total = tf.reduce_sum(yk * dy)
    y = layer(x)
    assert_close(y, yk.numpy(), FORWARD_RTOL, "UnitNormalization output")
    grad_k = tape.gradient(total, variable).numpy()
    dx = layer.backward(dy)
    for row in range(4):  # rows of very different scales (1e12 where the bound holds)
        assert_close(dx[row], grad_k[row], GRAD_RTOL, f"UnitNormalization gradient, row {row}")


# ------------------------------------------------------------------- AlphaDropout
class _Draws:
    """A stand-in for the layer's Generator whose ``random`` returns 1.0 where ``keep`` and 0.0
    elsewhere, so the layer keeps exactly what Keras kept."""

    def __init__(self, keep):
        self.keep = keep

    def random(self, shape):
        assert tuple(shape) == self.keep.shape
        return self.keep.astype(np.float64)


@pytest.mark.parametrize("rate, noise_shape", [(0.3, None), (0.1, (None, 1, 4)), (0.5, None)])
def test_alpha_dropout_training_arithmetic_on_keras_draws(rate, noise_shape):
    """TensorFlow's draws cannot be reproduced; Keras' output shows which values it kept (a kept
    value is a*x + b, a dropped one the constant a*alpha' + b). On that mask scratchnet's
    arithmetic gives Keras' output, and its gradient TensorFlow's."""
    x = np.random.default_rng(1).normal(size=(20, 6, 4)).astype(np.float32)
    klayer = keras.layers.AlphaDropout(rate, noise_shape=noise_shape, seed=3)
    variable = tf.Variable(x)
    dy = np.random.default_rng(2).normal(size=x.shape).astype(np.float32)
    with tf.GradientTape() as tape:
        yk = klayer(variable, training=True)
        total = tf.reduce_sum(yk * dy)
    yk, grad_k = yk.numpy(), tape.gradient(total, variable).numpy()
    layer = L.AlphaDropout(rate, noise_shape=noise_shape)
    sn.Sequential([L.Input((6, 4)), layer])
    dropped_value = np.float32(layer.a) * np.float32(layer.alpha_p) + np.float32(layer.b)
    dropped = yk == dropped_value
    assert 0 < dropped.mean() < 1
    keep = ~dropped if noise_shape is None else ~dropped[:, :1, :]
    if noise_shape is not None:
        assert (dropped == dropped[:, :1, :]).all()  # Keras shares the draw along the steps too
    layer.rng = _Draws(keep)
    y = layer.forward(x, training=True)
    assert_close(y, yk, FORWARD_RTOL, "AlphaDropout training output on Keras' mask")
    assert_close(layer.backward(dy), grad_k, GRAD_RTOL, "AlphaDropout gradient on Keras' mask")


def test_alpha_dropout_statistics_as_keras():
    x = np.random.default_rng(4).normal(size=(400, 500)).astype(np.float32)
    yk = keras.layers.AlphaDropout(0.2, seed=1)(x, training=True).numpy()
    y = L.AlphaDropout(0.2, seed=1)(x, training=True)
    for out in (y, yk):
        assert abs(out.mean()) < 0.01 and abs(out.std() - 1.0) < 0.01
    assert abs((y == y.min()).mean() - (yk == yk.min()).mean()) < 0.005  # the share dropped


def test_alpha_dropout_is_the_identity_at_inference():
    x, _ = random_data((6, 4), n=3)
    assert_parity(layer_model(L.AlphaDropout(0.4, seed=2), (6, 4)), x)


# ------------------------------------------------------------------- CenterCrop
@pytest.mark.parametrize("height, width", [(3, 2), (6, 2), (9, 11), (4, 4)])
def test_center_crop_single_images_as_keras(height, width):
    image = np.random.default_rng(5).random((5, 4, 3)).astype(np.float32)
    expected = keras.layers.CenterCrop(height, width)(image).numpy()
    assert_close(L.CenterCrop(height, width)(image), expected, FORWARD_RTOL, "one image")


# ------------------------------------------------------------------- configs, names, trips
def test_keras_configs_and_default_names_match():
    pairs = [(L.UnitNormalization(axis=[1, 2]), keras.layers.UnitNormalization(axis=[1, 2])),
             (L.UnitNormalization(), keras.layers.UnitNormalization()),
             (L.GroupNormalization(4, axis=-2, epsilon=0.01, center=False),
              keras.layers.GroupNormalization(4, axis=-2, epsilon=0.01, center=False)),
             (L.AlphaDropout(0.2, noise_shape=(None, 1, 3), seed=4),
              keras.layers.AlphaDropout(0.2, noise_shape=(None, 1, 3), seed=4)),
             (L.CenterCrop(2, 3), keras.layers.CenterCrop(2, 3)),
             (L.Conv1DTranspose(3, 2, strides=2, output_padding=1, activation="relu"),
              keras.layers.Conv1DTranspose(3, 2, strides=2, output_padding=1, activation="relu")),
             (L.ActivityRegularization(l1=0.5, l2=0.25), keras.layers.ActivityRegularization(0.5, 0.25)),
             (L.RMSNormalization(axis=[-2, -1], epsilon=1e-3),
              keras.layers.RMSNormalization(axis=[-2, -1], epsilon=1e-3))]
    for layer, klayer in pairs:
        # Keras' whole dict, name aside (a tuple is not a list: == tells them apart)
        config = {k: v for k, v in layer.get_config().items() if k != "name"}
        assert config == {k: v for k, v in klayer.get_config().items() if k != "name"}, type(layer).__name__
        assert layer.name.rstrip("_0123456789") == klayer.name.rstrip("_0123456789")


def test_group_normalization_minus_one_builds_to_keras_config():
    layer, klayer = L.GroupNormalization(-1), keras.layers.GroupNormalization(-1)
    sn.Sequential([L.Input((3, 6)), layer])
    klayer.build((None, 3, 6))
    assert layer.get_config()["groups"] == klayer.get_config()["groups"] == 6
    assert [w.shape for w in layer.get_weights()] == [tuple(w.shape) for w in klayer.get_weights()]


def test_rms_normalization_builds_to_keras_config_and_weights():
    """Keras' build turns ``axis`` into a sorted list; its files carry that form."""
    for axis in (-1, [-1, -2]):
        layer, klayer = L.RMSNormalization(axis=axis), keras.layers.RMSNormalization(axis=axis)
        sn.Sequential([L.Input((3, 6)), layer])
        klayer.build((None, 3, 6))
        assert layer.get_config()["axis"] == klayer.get_config()["axis"]
        assert [(w.name, tuple(w.shape)) for w in klayer.weights] == [
            (p.name.split("/")[-1], p.shape) for p in layer.weights]


def test_round_trip_copies_weights_and_configs_exactly():
    model = random_weights(sn.Sequential([
        L.Input((9, 8, 4)), L.CenterCrop(7, 6), L.GroupNormalization(2, gamma_regularizer="l2"),
        L.UnitNormalization(axis=[1, 2]), L.AlphaDropout(0.1, noise_shape=(None, 1, 1, 4), seed=1),
        L.Reshape((42, 4)), L.Conv1DTranspose(3, 3, strides=2, padding="same", output_padding=1,
                                              kernel_regularizer=sn.regularizers.L1(0.5)),
        L.ActivityRegularization(0.1, 0.2), L.GroupNormalization(-1, center=False, epsilon=1e-4),
        L.RMSNormalization(epsilon=1e-5), L.Flatten(), L.Dense(2)], seed=1))
    kmodel = check_round_trip(model)
    assert [type(k).__name__ for k in kmodel.layers][:4] == ["CenterCrop", "GroupNormalization",
                                                             "UnitNormalization", "AlphaDropout"]


@pytest.mark.parametrize("klayer, shape, pattern", [
    (lambda: keras.layers.CenterCrop(2, 2, data_format="channels_first"), (1, 4, 4), "data_format"),
])
def test_from_keras_refuses_options_scratchnet_lacks(klayer, shape, pattern):
    kmodel = keras.Sequential([keras.Input(shape), klayer()])
    with pytest.raises(ValueError, match=pattern):
        tfnet.from_keras(kmodel)
