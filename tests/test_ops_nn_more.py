"""More of ``keras.ops.nn`` without Keras: tape gradients against float64 finite differences
(tests/gradcheck.py, REL_TOL 1e-6), ``conv_transpose`` against the Conv2DTranspose layer (dilated
too, which TensorFlow's CPU kernel refuses), ``fold`` as the transpose of ``unfold``, errors."""

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.autodiff import Tape
from tests.gradcheck import REL_TOL, numeric_grad, rel_error

O = sn.ops
R = np.random.default_rng(23)
K = R.normal(size=(2, 3, 2, 3))  # (kh, kw, out, in)
DW, PW = R.normal(size=(2, 3, 3, 1)), R.normal(size=(1, 1, 3, 2))  # depthwise (kh, kw, in, 1), pointwise

FUNCTIONS = {  # f(x), x of shape (1, 4, 5, 3)
    "conv_transpose": lambda x: O.conv_transpose(x, K, strides=2, padding="same"),
    "conv_transpose_dilated": lambda x: O.conv_transpose(x, K, dilation_rate=(2, 1)),
    "separable_conv": lambda x: O.separable_conv(x, DW, PW, strides=2),
    "adaptive_average_pool": lambda x: O.adaptive_average_pool(x, (3, 2)),
    "adaptive_max_pool": lambda x: O.adaptive_max_pool(x, (3, 4)),
    "psnr": lambda x: O.psnr(x, np.zeros((1, 4, 5, 3)), 2.0),
    "unfold": lambda x: O.unfold(O.moveaxis(x, -1, 1), (2, 3), dilation=(1, 2), padding=1),
    "fold": lambda x: O.fold(O.reshape(x, (1, 12, 5)), (2, 6), 2),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_tape_gradient_matches_finite_differences(name, float64):
    function = FUNCTIONS[name]
    x = R.standard_normal((1, 4, 5, 3))
    w = np.random.default_rng(1).standard_normal(np.shape(function(x)))
    tape = Tape("test")
    traced = tape.watch(x)
    analytic = tape.gradient(function(traced), traced, w)
    numeric = numeric_grad(lambda: float(np.sum(w * np.asarray(function(x)))), x)
    assert np.any(numeric != 0)
    assert rel_error(analytic, numeric) < REL_TOL, rel_error(analytic, numeric)


@pytest.mark.parametrize("strides, padding, dilation", [(2, "valid", 1), (1, "same", 2), ((2, 1), "same", 1)])
def test_conv_transpose_is_the_layers_formula(strides, padding, dilation, float64):
    x = R.standard_normal((2, 4, 5, 3))
    layer = sn.layers.Conv2DTranspose(2, (2, 3), strides=strides, padding=padding, dilation_rate=dilation,
                                      use_bias=False)
    layer.ensure_built(x.shape[1:], R)
    layer.kernel.value[...] = K
    ours = O.conv_transpose(x, K, strides=strides, padding=padding, dilation_rate=dilation)
    np.testing.assert_allclose(ours, layer.forward(x), rtol=1e-12, atol=1e-12)
    first = O.conv_transpose(np.moveaxis(x, -1, 1), K, strides=strides, padding=padding,
                             dilation_rate=dilation, data_format="channels_first")
    np.testing.assert_allclose(np.moveaxis(first, 1, -1), layer.forward(x), rtol=1e-12, atol=1e-12)


def test_fold_is_the_transpose_of_unfold(float64):
    x, cols = R.standard_normal((2, 3, 5, 6)), R.standard_normal((2, 3 * 4, 12))
    args = dict(kernel_size=2, dilation=1, padding=1, stride=2)
    # <unfold(x), cols> == <x, fold(cols)> for every x and cols: the two are each other's transpose
    assert np.isclose(np.sum(O.unfold(x, **args) * cols), np.sum(x * O.fold(cols, (5, 6), **args)))
    ones = O.fold(O.unfold(np.ones((1, 1, 3, 3)), 2), (3, 3), 2)
    np.testing.assert_array_equal(ones[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])  # windows per pixel


@pytest.mark.parametrize("call, message", [
    (lambda: O.conv_transpose(np.ones((1, 4, 4, 2)), K), "input channels"),
    (lambda: O.adaptive_max_pool(np.ones((4, 2)), 2), "rank 3, 4 or 5"),
    (lambda: O.unfold(np.ones((2, 3, 4)), 2), "4-D"),
    (lambda: O.fold(np.ones((1, 4, 3)), (3, 3), 2), "expected 4 windows"),
])
def test_bad_arguments_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()
