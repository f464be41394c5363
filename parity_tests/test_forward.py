"""Forward outputs of every layer, alone and in stacks, agree with Keras to FORWARD_RTOL (1e-5)."""

import numpy as np
import pytest

import scratchnet as sn
import tfnet
from parity_tests.driver import assert_parity, layer_model, make_twins, random_biases

L = sn.layers


def images(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


@pytest.mark.parametrize("activation", ["linear", "relu", "sigmoid", "tanh", "softmax"])
def test_dense_each_activation(activation):
    model = random_biases(layer_model(L.Dense(7, activation=activation), (5,)))
    assert_parity(model, images((6, 5)))


def test_dense_on_rank_3_input_acts_on_the_last_axis():
    assert_parity(random_biases(layer_model(L.Dense(3), (4, 5))), images((2, 4, 5)))


@pytest.mark.parametrize("layer", [L.Activation("relu"), L.Activation("sigmoid"),
                                   L.Activation("tanh"), L.Activation("linear"),
                                   L.Activation("softmax"), L.Softmax()], ids=repr)
def test_activation_layers(layer):
    x = images((4, 3, 6)) * 5
    x[0, 0, :3] = 0.0  # relu at exactly 0
    assert_parity(layer_model(layer, (3, 6)), x)


CONV_CASES = {
    "valid": dict(filters=4, kernel_size=3),
    "same": dict(filters=4, kernel_size=3, padding="same"),
    "odd_same_padding": dict(filters=3, kernel_size=4, strides=2, padding="same"),
    "odd_same_rectangular": dict(filters=2, kernel_size=(2, 3), strides=(3, 2), padding="same"),
    "strides_larger_than_kernel": dict(filters=3, kernel_size=2, strides=3),
    "strides_larger_than_kernel_same": dict(filters=3, kernel_size=2, strides=(4, 3), padding="same"),
    "dilation": dict(filters=3, kernel_size=3, dilation_rate=2),
    "dilation_same": dict(filters=3, kernel_size=(3, 2), dilation_rate=(2, 3), padding="same"),
    "no_bias_relu": dict(filters=5, kernel_size=1, use_bias=False, activation="relu"),
    "kernel_covers_input": dict(filters=2, kernel_size=(9, 8)),
}


@pytest.mark.parametrize("case", sorted(CONV_CASES))
def test_conv2d(case):
    model = random_biases(layer_model(L.Conv2D(**CONV_CASES[case]), (9, 8, 3)))
    assert_parity(model, images((2, 9, 8, 3)))


POOL_CASES = {
    "default": dict(),
    "same_odd": dict(pool_size=2, padding="same"),
    "same_3x3_stride_2": dict(pool_size=3, strides=2, padding="same"),
    "overlapping": dict(pool_size=(3, 2), strides=(1, 2)),
    "strides_larger_than_pool": dict(pool_size=2, strides=3),
    "strides_larger_than_pool_same": dict(pool_size=(2, 1), strides=(3, 4), padding="same"),
}


@pytest.mark.parametrize("case", sorted(POOL_CASES))
def test_max_pooling2d(case):
    assert_parity(layer_model(L.MaxPooling2D(**POOL_CASES[case]), (7, 9, 2)), images((3, 7, 9, 2)))


def test_max_pooling_same_padding_never_picks_the_padding():
    x = np.full((1, 5, 5, 1), -5.0, dtype=np.float32)
    twins = assert_parity(layer_model(L.MaxPooling2D(2, padding="same"), (5, 5, 1)), x)
    assert np.all(twins.scratch(x) == -5.0)


def test_max_pooling_ties_on_integer_images():
    x = np.random.default_rng(0).integers(0, 3, size=(2, 6, 6, 2)).astype(np.float32)
    assert_parity(layer_model(L.MaxPooling2D(3, strides=1), (6, 6, 2)), x)


def test_flatten_is_c_order_of_nhwc():
    x = images((2, 3, 4, 5))
    twins = assert_parity(layer_model(L.Flatten(), (3, 4, 5)), x)
    np.testing.assert_array_equal(twins.scratch(x)[1, (2 * 4 + 1) * 5 + 3], x[1, 2, 1, 3])


def test_dropout_is_identity_at_inference():
    x = images((4, 10))
    twins = assert_parity(layer_model(L.Dropout(0.5), (10,)), x)
    np.testing.assert_array_equal(twins.scratch(x), x)


def test_dropout_in_training_keeps_or_scales_like_keras():
    """The masks come from different generators; what must agree is what a mask does: each
    output is 0 or x / (1 - rate), and about ``rate`` of them are 0."""
    x = np.abs(images((200, 50))) + 0.5
    twins = make_twins(layer_model(L.Dropout(0.3, seed=1), (50,)))
    for out in (twins.scratch(x, training=True), np.asarray(twins.keras(x, training=True))):
        kept = out != 0
        np.testing.assert_allclose(out[kept], x[kept] / 0.7, rtol=1e-6)
        assert abs(1 - kept.mean() - 0.3) < 0.02


@pytest.mark.parametrize("name, shape", [("digits_cnn", (8, 8, 1)), ("digits_mlp", (8, 8, 1)),
                                         ("small_cnn", (32, 32, 3))])
def test_named_model_stacks(name, shape):
    model = random_biases(getattr(sn.models, name)())
    assert_parity(model, np.random.default_rng(0).random((4, *shape), dtype=np.float32))


def test_rps_stack_with_dropout_and_softmax():
    model = random_biases(sn.models.rps_cnn((32, 32, 3), filters=(4, 8), dense_units=16))
    assert_parity(model, np.random.default_rng(0).random((3, 32, 32, 3), dtype=np.float32))


def test_predict_on_digits_matches_keras(digits):
    x, _ = digits
    model = sn.models.digits_cnn()
    kmodel = tfnet.to_keras(model)
    np.testing.assert_allclose(model.predict(x[:300], batch_size=64),
                               kmodel.predict(x[:300], batch_size=64, verbose=0),
                               rtol=1e-5, atol=1e-5 * np.abs(kmodel.predict(x[:300], verbose=0)).max())
