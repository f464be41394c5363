"""Adaptive pooling against Keras 3.15 (its TensorFlow two-pools-and-a-gather form): outputs to
FORWARD_RTOL, the loss and every gradient through them to GRAD_RTOL, Adam steps to
TRAJECTORY_RTOL (same weights and batches, parity_tests/driver.py), shapes, configs and default
names, and to_keras/from_keras round trips. Finite differences: tests/test_adaptive_pooling.py;
.keras files both ways: parity_tests/test_keras_format.py."""

import keras
import pytest

import scratchnet as sn
from parity_tests.driver import assert_parity, check_round_trip, layer_model, random_data, random_weights

L = sn.layers
SCCE = sn.losses.SparseCategoricalCrossentropy

CASES = {  # layer name, output_size, input shape (no batch)
    "avg1d_shrink": ("AdaptiveAveragePooling1D", 3, (7, 2)),
    "max1d_overlapping": ("AdaptiveMaxPooling1D", 5, (7, 2)),
    "avg1d_grow": ("AdaptiveAveragePooling1D", 9, (4, 2)),
    "max1d_grow": ("AdaptiveMaxPooling1D", 6, (4, 2)),
    "avg2d": ("AdaptiveAveragePooling2D", (3, 4), (7, 10, 2)),
    "max2d": ("AdaptiveMaxPooling2D", (5, 3), (7, 10, 2)),
    "avg2d_grow": ("AdaptiveAveragePooling2D", 4, (3, 5, 1)),
    "max3d": ("AdaptiveMaxPooling3D", (2, 3, 2), (5, 7, 4, 2)),
    "avg3d": ("AdaptiveAveragePooling3D", 2, (5, 7, 4, 2)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_forward(case):
    name, size, shape = CASES[case]
    x, _ = random_data(shape, n=3)
    assert_parity(layer_model(getattr(L, name)(size), shape), x)


@pytest.mark.parametrize("case", sorted(CASES))
def test_gradients_and_adam_steps(case):
    """A Dense before the pooling, so the pooling's input gradient reaches a weight."""
    name, size, shape = CASES[case]
    x, y = random_data(shape, n=8)
    model = random_weights(sn.Sequential([
        L.Input(shape), L.Dense(3, activation="tanh"), getattr(L, name)(size), L.Flatten(), L.Dense(4)],
        seed=0))
    assert_parity(model, x, y, loss=SCCE(from_logits=True), optimizer=sn.optimizers.Adam(0.01),
                  steps=5, batch_size=4)


@pytest.mark.parametrize("case", sorted(CASES))
def test_shapes_configs_and_names_match_keras(case):
    name, size, shape = CASES[case]
    layer, klayer = getattr(L, name)(size), getattr(keras.layers, name)(size)
    model = sn.Sequential([L.Input(shape), layer])
    kmodel = keras.Sequential([keras.Input(shape), klayer])
    assert model.output_shape == kmodel.output_shape
    # Keras' whole dict, name aside (a tuple is not a list: == tells them apart)
    config = {k: v for k, v in layer.get_config().items() if k != "name"}
    assert config == {k: v for k, v in klayer.get_config().items() if k != "name"}
    assert layer.name.rstrip("_0123456789") == klayer.name.rstrip("_0123456789")


def test_round_trip():
    model = random_weights(sn.Sequential([
        L.Input((6, 5, 2)), L.AdaptiveMaxPooling2D((4, 3)), L.Reshape((12, 2)),
        L.AdaptiveAveragePooling1D(5), L.Flatten(), L.Dense(2)], seed=1))
    check_round_trip(model)
