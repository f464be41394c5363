"""sparsemax against Keras 3.15.1 (TensorFlow backend): keras.activations.sparsemax and
keras.ops.sparsemax on several axes (FORWARD_RTOL), the gradient by TensorFlow's tape (GRAD_RTOL),
Dense(activation="sparsemax") through ten SGD steps (TRAJECTORY_RTOL) and the converters. Keras'
threshold is not the paper's (docs/parity-notes.md); these tests pin Keras' numbers."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import scratchnet as sn
import tfnet
from parity_tests.driver import FORWARD_RTOL, GRAD_RTOL, assert_close, check_trajectory, make_twins


def _inputs():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 3, 5)).astype("f4")
    x[0, 0] = [0.5, 0.5, 0.0, -1.0, 0.5]  # ties
    x[1, 1] = [1.0, 1.2, 0.0, 0.0, 0.0]
    return x


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_values(axis):
    x = _inputs()
    assert_close(sn.activations.sparsemax(x, axis=axis),
                 keras.activations.sparsemax(x, axis=axis).numpy(), FORWARD_RTOL, "activation")
    assert_close(sn.ops.sparsemax(x, axis=axis), keras.ops.sparsemax(x, axis=axis).numpy(),
                 FORWARD_RTOL, "ops")
    assert sn.ops.nn.sparsemax is sn.ops.sparsemax


def test_gradient():
    x = _inputs()
    upstream = np.random.default_rng(1).normal(size=x.shape).astype("f4")
    variable = tf.Variable(x)
    with tf.GradientTape() as tape:
        out = keras.activations.sparsemax(variable)
        total = tf.reduce_sum(out * upstream)
    act = sn.activations.get("sparsemax")
    ours = act.backward(x, act.forward(x), upstream)
    assert_close(ours, tape.gradient(total, variable).numpy(), GRAD_RTOL, "gradient")


def test_dense_with_sparsemax_ten_sgd_steps():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(12, 4)).astype("f4")
    y = np.eye(5, dtype="f4")[rng.integers(0, 5, 12)]
    model = sn.Sequential([sn.layers.Input((4,)), sn.layers.Dense(5, activation="sparsemax")], seed=0)
    twins = make_twins(model, loss="mse", optimizer=sn.optimizers.SGD(0.5))
    assert twins.keras.layers[0].activation is keras.activations.sparsemax
    check_trajectory(twins, [(x[:6], y[:6]), (x[6:], y[6:])], 10)
    assert tfnet.from_keras(twins.keras).layers[0].activation.name == "sparsemax"
