"""EinsumDense: the backward pass against float64 finite differences (tests/gradcheck.py, REL_TOL
1e-6) for each of Keras' three equation forms, bias shapes, an input axis summed away; the shapes
the equation gives the kernel, the bias and the output; the fans its initializer scales by; and a
clear error for each bad argument or input. Keras parity: parity_tests/test_einsum_dense_keras.py."""

import numpy as np
import pytest

import scratchnet as sn
from tests.gradcheck import check_layer

L = sn.layers

CASES = {  # equation, output_shape, bias_axes, input shape (no batch)
    "dense": ("ab,bc->ac", 4, "c", (3,)),
    "per_step": ("abc,cd->abd", (None, 4), "d", (5, 3)),
    "left_ellipsis": ("...b,bc->...c", 4, "c", (5, 3)),
    "left_ellipsis_rank2": ("...b,bc->...c", 2, None, (3,)),
    "heads": ("abc,cde->abde", (None, 2, 3), "de", (4, 3)),
    "heads_bias_last": ("abc,cde->abde", (4, 2, 3), "e", (4, 3)),
    "right_ellipsis": ("ab...,bc->ac...", (3,), "c", (4, 2, 2)),
    "summed_input_axis": ("abc,cd->ad", (2,), "d", (5, 3)),
    "contract_two_axes": ("abcd,cde->abe", (None, 3), None, (4, 2, 3)),
    "kernel_shares_batchless_axis": ("abc,bcd->abd", (3, 2), "bd", (3, 4)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_backward_matches_finite_differences(case, float64):
    equation, output_shape, bias_axes, shape = CASES[case]
    rng = np.random.default_rng(0)
    layer = L.EinsumDense(equation, output_shape, bias_axes=bias_axes, activation="tanh")
    x = rng.standard_normal((2, *shape))
    layer.ensure_built(x.shape[1:], rng)
    for p in layer.weights:  # the zeros bias would hide a bias bug
        p.value[...] = rng.standard_normal(p.value.shape)
    check_layer(layer, x, rng)


@pytest.mark.parametrize("equation, output_shape, bias_axes, shape, kernel, bias, output", [
    ("ab,bc->ac", 64, "c", (32,), (32, 64), (64,), (None, 64)),
    ("abc,cd->abd", (None, 64), "d", (32, 128), (128, 64), (64,), (None, None, 64)),
    ("...b,bc->...c", 64, "c", (32, 128), (128, 64), (64,), (None, 32, 64)),
    ("abc,cde->abde", (None, 2, 8), "de", (7, 16), (16, 2, 8), (2, 8), (None, None, 2, 8)),
    ("abc,cde->abde", (7, 2, 8), "d", (7, 16), (16, 2, 8), (2, 1), (None, 7, 2, 8)),
    ("ab...,bc->ac...", (5,), "c", (3, 4, 6), (3, 5), (5, 1, 1), (None, 5, 4, 6)),
    ("abc,cd->ad", (5,), None, (9, 3), (3, 5), None, (None, 5)),
])
def test_shapes_follow_the_equation_as_in_keras(equation, output_shape, bias_axes, shape, kernel,
                                                bias, output):
    """The shapes Keras 3.15's docstring examples and _analyze_einsum_string give."""
    layer = L.EinsumDense(equation, output_shape, bias_axes=bias_axes)
    model = sn.Sequential([L.Input(shape), layer])
    assert layer.kernel.shape == kernel
    assert (layer.bias.shape if layer.bias is not None else None) == bias
    assert model.output_shape == output
    y = model.predict(np.ones((2, *shape), np.float32), verbose=0)
    assert y.shape == (2, *[d if d is not None else s for d, s in zip(output[1:], (*shape, *shape),
                                                                        strict=False)])


def test_a_dense_equation_is_dense():
    """``EinsumDense("ab,bc->ac", n, bias_axes="c")`` computes Dense(n)'s numbers."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 5)).astype(np.float32)
    dense = sn.Sequential([L.Input((5,)), L.Dense(4, activation="relu")], seed=1)
    einsum = sn.Sequential([L.Input((5,)), L.EinsumDense("ab,bc->ac", 4, "relu", bias_axes="c")], seed=1)
    weights = [rng.normal(size=w.shape).astype(np.float32) for w in dense.get_weights()]
    dense.set_weights(weights)
    einsum.set_weights(weights)
    np.testing.assert_allclose(einsum.predict(x, verbose=0), dense.predict(x, verbose=0), rtol=1e-6)


def test_glorot_draws_scale_by_the_input_and_output_axes():
    """Keras hands a VarianceScaling initializer the kernel's input and output axes: for a
    (16, 4, 8) projection fan_in = 16, fan_out = 32 (a conv kernel's rule would give 128 and
    256), so glorot_uniform's limit is sqrt(6 / 48)."""
    layer = L.EinsumDense("abc,cde->abde", (None, 4, 8))
    sn.Sequential([L.Input((5, 16)), layer], seed=0)
    limit = np.sqrt(6 / (16 + 32))
    values = layer.kernel.value
    assert np.abs(values).max() <= limit
    assert np.abs(values).max() > 0.95 * limit  # 512 uniform draws reach near the limit
    assert abs(values.std() - limit / np.sqrt(3)) < 0.1 * limit / np.sqrt(3)


def test_config_rebuilds_the_layer():
    layer = L.EinsumDense("abc,cde->abde", (None, 2, 3), activation="relu", bias_axes="de",
                          kernel_regularizer="l2", bias_constraint="non_neg", name="proj")
    config = layer.get_config()
    assert config["output_shape"] == (None, 2, 3) and config["equation"] == "abc,cde->abde"
    assert config["bias_axes"] == "de" and config["activation"] == "relu"
    assert L.EinsumDense(**config).get_config() == config
    assert L.EinsumDense("ab,bc->ac", 3).name == "einsum_dense"


@pytest.mark.parametrize("make, pattern", [
    (lambda: L.EinsumDense("ab->ac", 3), "invalid einsum equation"),
    (lambda: L.EinsumDense("ab,bc,cd->ad", 3), "invalid einsum equation"),
    (lambda: L.EinsumDense(3, 3), "equation"),
    (lambda: L.EinsumDense("ab,bc->ac", 0), "output_shape"),
    (lambda: L.EinsumDense("ab,bc->ac", "8"), "output_shape"),
    (lambda: L.EinsumDense("ab,bc->ac", 3, bias_axes=1), "bias_axes"),
    (lambda: L.EinsumDense("ab,bc->ac", 3, lora_rank=2), "lora_rank"),
    (lambda: L.EinsumDense("ab,bc->ac", 3, kernel_initializer="glorot"), "kernel_initializer"),
])
def test_bad_arguments_name_themselves(make, pattern):
    with pytest.raises((ValueError, TypeError), match=pattern):
        make()


@pytest.mark.parametrize("layer, shape, pattern", [
    (lambda: L.EinsumDense("abc,cd->abd", (None, 4)), (5,), "names 3 input axes"),
    (lambda: L.EinsumDense("ab,bc->ac", (3, 4)), (5,), "expected output_shape to give the 1"),
    (lambda: L.EinsumDense("abc,cd->abd", (6, 4)), (5, 3), "do not match at shared dimension 'b'"),
    (lambda: L.EinsumDense("ab,bc->ae", 3), (5,), "dimension 'e' of the output"),
    (lambda: L.EinsumDense("ab,bcz->ac", 3), (5,), "weight dimension 'z'"),
    (lambda: L.EinsumDense("ab,bc->ac", 3, bias_axes="z"), (5,), "bias dimension 'z'"),
    (lambda: L.EinsumDense("abc,cde->abde", (None, None, 3)), (4, 5), "fully-defined"),
])
def test_wrong_inputs_and_shapes_name_the_layer(layer, shape, pattern):
    with pytest.raises(ValueError, match=pattern):
        sn.Sequential([L.Input(shape), layer()])
