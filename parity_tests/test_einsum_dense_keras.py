"""EinsumDense against Keras 3.15: each equation form's output to FORWARD_RTOL, the loss and every
gradient through it to GRAD_RTOL, Adam steps to TRAJECTORY_RTOL (same weights and batches on both
sides, parity_tests/driver.py), the shapes Keras gives the kernel, the bias and the output, configs
and default names, and to_keras/from_keras round trips. Finite differences and errors:
tests/test_einsum_dense.py; .keras files both ways: parity_tests/test_keras_format.py."""

import keras
import numpy as np
import pytest

import scratchnet as sn
import tfnet
from parity_tests.driver import assert_parity, check_round_trip, layer_model, random_data, random_weights

L = sn.layers
SCCE = sn.losses.SparseCategoricalCrossentropy

CASES = {  # equation, output_shape, bias_axes, input shape (no batch)
    "dense": ("ab,bc->ac", 4, "c", (6,)),
    "per_step": ("abc,cd->abd", (None, 4), "d", (5, 3)),
    "left_ellipsis": ("...b,bc->...c", 4, "c", (5, 3)),
    "heads": ("abc,cde->abde", (None, 2, 3), "de", (5, 3)),
    "heads_bias_last": ("abc,cde->abde", (5, 2, 3), "e", (5, 3)),
    "right_ellipsis": ("ab...,bc->ac...", (3,), "c", (4, 2, 2)),
    "summed_input_axis": ("abc,cd->ad", (4,), "d", (5, 3)),
    "contract_two_axes": ("abcd,cde->abe", (None, 3), None, (4, 2, 3)),
    "kernel_shares_an_axis": ("abc,bcd->abd", (5, 2), "bd", (5, 3)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_forward(case):
    equation, output_shape, bias_axes, shape = CASES[case]
    x, _ = random_data(shape, n=3)
    layer = L.EinsumDense(equation, output_shape, bias_axes=bias_axes, activation="tanh")
    assert_parity(random_weights(layer_model(layer, shape)), x * 2)


@pytest.mark.parametrize("case", sorted(CASES))
def test_gradients_and_adam_steps(case):
    """A Dense before the layer under test, so its input gradient is checked too (the sequence's
    length given where the case leaves it None: Flatten then Dense needs it, in Keras too)."""
    equation, output_shape, bias_axes, shape = CASES[case]
    if not isinstance(output_shape, int):
        output_shape = tuple(shape[0] if d is None else d for d in output_shape)
    x, y = random_data(shape, n=8)
    model = random_weights(sn.Sequential([
        L.Input(shape), L.Dense(shape[-1], activation="tanh"),
        L.EinsumDense(equation, output_shape, bias_axes=bias_axes, activation="relu"),
        L.Flatten(), L.Dense(4)], seed=0))
    assert_parity(model, x, y, loss=SCCE(from_logits=True), optimizer=sn.optimizers.Adam(0.01),
                  steps=5, batch_size=4)


@pytest.mark.parametrize("case", sorted(CASES))
def test_shapes_and_summary_match_keras(case):
    equation, output_shape, bias_axes, shape = CASES[case]
    model = sn.Sequential([L.Input(shape), L.EinsumDense(equation, output_shape, bias_axes=bias_axes)])
    kmodel = keras.Sequential([keras.Input(shape),
                               keras.layers.EinsumDense(equation, output_shape, bias_axes=bias_axes)])
    assert [w.shape for w in model.get_weights()] == [tuple(w.shape) for w in kmodel.get_weights()]
    assert model.output_shape == kmodel.output_shape
    assert model.count_params() == kmodel.count_params()
    assert [p.name.split("/")[-1] for p in model.weights] == [w.name for w in kmodel.weights]


def test_configs_and_default_names_match():
    kwargs = {"activation": "relu", "bias_axes": "de", "kernel_regularizer": "l2",
              "bias_constraint": "non_neg"}
    layer = L.EinsumDense("abc,cde->abde", (None, 2, 3), **kwargs)
    klayer = keras.layers.EinsumDense("abc,cde->abde", (None, 2, 3), **kwargs)
    # Keras' whole dict, name aside (a tuple is not a list: == tells them apart)
    config = {k: v for k, v in layer.get_config().items() if k != "name"}
    assert config == {k: v for k, v in klayer.get_config().items() if k != "name"}
    assert layer.name.rstrip("_0123456789") == klayer.name.rstrip("_0123456789")


def test_round_trip_copies_weights_and_configs_exactly():
    model = random_weights(sn.Sequential([
        L.Input((5, 6)), L.EinsumDense("abc,cde->abde", (None, 2, 3), bias_axes="de"),
        L.Reshape((5, 6)), L.EinsumDense("...b,bc->...c", 4, activation="relu", bias_axes="c",
                                         kernel_regularizer=sn.regularizers.L2(0.5)),
        L.EinsumDense("abc,cd->ad", (2,)), L.Dense(2)], seed=1))
    kmodel = check_round_trip(model)
    assert [type(k).__name__ for k in kmodel.layers][:2] == ["EinsumDense", "Reshape"]


def test_from_keras_refuses_lora():
    kmodel = keras.Sequential([keras.Input((4,)), keras.layers.EinsumDense("ab,bc->ac", 3, lora_rank=2)])
    with pytest.raises(ValueError, match="lora_rank"):
        tfnet.from_keras(kmodel)


def test_a_projection_model_trains_as_keras():
    """Keras' docstring examples stacked: a per-step projection to (heads, size), back to features
    with two contracted axes, then a sequence summary; ten Adam steps on MSE."""
    model = sn.Sequential([
        L.Input((6, 4)), L.EinsumDense("abc,cde->abde", (None, 2, 3), activation="tanh", bias_axes="de"),
        L.EinsumDense("abcd,cde->abe", (None, 4), bias_axes="e"), L.LayerNormalization(),
        L.EinsumDense("abc,cd->ad", (2,), bias_axes="d")], seed=0)
    rng = np.random.default_rng(0)
    x = rng.random((16, 6, 4)).astype(np.float32)
    y = rng.random((16, 2)).astype(np.float32)
    assert_parity(model, x, y, loss=sn.losses.MeanSquaredError(), optimizer=sn.optimizers.Adam(0.01),
                  steps=10, batch_size=8)
