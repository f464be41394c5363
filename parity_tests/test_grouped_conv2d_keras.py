"""``Conv2D(groups=...)`` against Keras 3.15 (ConvNeXt's 7x7 convolutions are ``groups=channels``):
each layer's output to FORWARD_RTOL; its input and weight gradients against tf.GradientTape to
GRAD_RTOL; a model around it, its loss, every gradient and five Adam steps to TRAJECTORY_RTOL;
to_keras/from_keras round trips; and a ``.keras`` file both ways. Same weights and batches on both
sides (parity_tests/driver.py). (TensorFlow runs grouped convolutions on the CPU through XLA.)"""

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
SHAPE = (7, 8, 6)  # (H, W, C)

CASES = {
    "groups_2": lambda: L.Conv2D(4, 3, groups=2),
    "groups_3_same_relu": lambda: L.Conv2D(6, 3, padding="same", groups=3, activation="relu"),
    "depthwise_7x7_same": lambda: L.Conv2D(6, 7, padding="same", groups=6),  # ConvNeXt's
    "groups_2_strided_same": lambda: L.Conv2D(4, 2, strides=2, padding="same", groups=2),
    "groups_6_multiplier_2_dilated": lambda: L.Conv2D(12, 2, dilation_rate=2, groups=6, use_bias=False),
    "groups_3_strided_valid_tanh": lambda: L.Conv2D(3, (2, 3), strides=(2, 1), groups=3, activation="tanh"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_forward(case):
    x, _ = random_data(SHAPE, n=3)
    twins = assert_parity(random_weights(layer_model(CASES[case](), SHAPE)), x * 2)
    assert twins.keras.layers[-1].groups == twins.scratch.layers[-1].groups > 1


@pytest.mark.parametrize("case", sorted(CASES))
def test_input_and_weight_gradients_against_the_tape(case):
    """d(sum(dy * layer(x))) by the layer's backward and by tf.GradientTape on Keras' twin."""
    model = random_weights(layer_model(CASES[case](), SHAPE))
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


@pytest.mark.parametrize("case", ["groups_3_same_relu", "depthwise_7x7_same"])
def test_gradients_and_adam_steps(case):
    """A Conv2D before the grouped one (so its input gradient feeds a kernel's), the loss and
    every gradient, then five Adam steps on two batches."""
    x, y = random_data(SHAPE, n=8)
    model = random_weights(sn.Sequential([
        L.Input(SHAPE), L.Conv2D(6, 2, padding="same", activation="tanh"), CASES[case](),
        L.Flatten(), L.Dense(4)], seed=0), scale=0.3)
    assert_parity(model, x / 4, y, loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True),
                  optimizer=sn.optimizers.Adam(0.01), steps=5, batch_size=4)


def test_round_trip_and_config():
    model = random_weights(layer_model(L.Conv2D(6, 3, padding="same", groups=3), SHAPE))
    kmodel = check_round_trip(model)
    assert kmodel.layers[-1].get_config()["groups"] == 3
    assert model.layers[-1].get_config()["groups"] == 3
    assert L.Conv2D(4, 3).get_config()["groups"] == keras.layers.Conv2D(4, 3).get_config()["groups"] == 1


def test_keras_files_both_ways(tmp_path):
    """scratchnet writes a .keras file Keras loads, and loads the one Keras writes, with the same
    predictions; the kernel keeps Keras' (KH, KW, C / groups, filters) layout."""
    model = random_weights(sn.Sequential([L.Input(SHAPE), L.Conv2D(6, 7, padding="same", groups=6),
                                          L.Conv2D(4, 3, groups=2, activation="relu")], seed=1))
    x, _ = random_data(SHAPE, n=2, seed=3)
    path = str(tmp_path / "scratchnet.keras")
    model.save(path)
    kmodel = keras.saving.load_model(path)
    assert [layer.groups for layer in kmodel.layers] == [6, 2]
    assert kmodel.layers[0].kernel.shape == (7, 7, 1, 6)
    expected = model.predict(x, verbose=0)
    assert_close(kmodel.predict(x, verbose=0), expected, FORWARD_RTOL, "Keras loading scratchnet's file")
    kpath = str(tmp_path / "keras.keras")
    kmodel.save(kpath)
    again = sn.load_model(kpath)
    assert [layer.groups for layer in again.layers] == [6, 2]
    assert_close(again.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL,
                 "scratchnet loading Keras' file")
