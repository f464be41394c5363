"""sparsemax without Keras: finite differences in float64 (away from the kinks), golden values of
Keras' formula, names and errors. Keras parity: parity_tests/test_sparsemax_keras.py."""

import numpy as np
import pytest

import scratchnet as sn
from tests.gradcheck import REL_TOL, numeric_grad, rel_error


def test_finite_differences():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(4, 6)) * 2
    act = sn.activations.get("sparsemax")
    w = rng.normal(size=z.shape)
    analytic = act.backward(z, act.forward(z), w)
    numeric = numeric_grad(lambda: float(np.sum(w * act.forward(z))), z)
    assert rel_error(analytic, numeric) < REL_TOL


def test_golden_values_of_keras_formula():
    f = sn.activations.sparsemax
    np.testing.assert_allclose(f(np.array([[1.0, 0.0, 0.0]])), [[1.0, 0.0, 0.0]])  # k = 1: the paper's
    # k = 2: tau = (C_1 + C_2 - 1) / 2 = (0.5 + 1 - 1) / 2 = 0.25
    np.testing.assert_allclose(f(np.array([[0.5, 0.5, 0.0]])), [[0.25, 0.25, 0.0]])
    np.testing.assert_allclose(f(np.array([[1.0, 1.2]])), [[0.0, 0.0]])
    # axis 0: column [1, 3] has k = 1 (tau = 2); column [0, 0] has k = 2, tau = (0 + 0 - 1) / 2
    np.testing.assert_allclose(f(np.array([[1.0, 0.0], [3.0, 0.0]]), axis=0), [[0.0, 0.5], [1.0, 0.5]])


def test_names_and_layer():
    assert sn.activations.get("sparsemax").name == "sparsemax"
    assert sn.activations.serialize(sn.activations.sparsemax) == "sparsemax"
    layer = sn.layers.Dense(3, activation=sn.activations.sparsemax)
    assert layer.activation.name == "sparsemax"
    assert sn.ops.nn.sparsemax is sn.ops.sparsemax is sn.activations.sparsemax


@pytest.mark.parametrize("axis", [2, -3, 1.0, True])
def test_bad_axis(axis):
    with pytest.raises(ValueError, match="sparsemax: expected axis"):
        sn.activations.sparsemax(np.ones((2, 3)), axis=axis)
