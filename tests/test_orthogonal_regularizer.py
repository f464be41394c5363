"""OrthogonalRegularizer without Keras: its gradient against central differences in float64, a
golden value, names, configs and errors. Keras parity: parity_tests/test_orthogonal_regularizer_keras.py."""

import numpy as np
import pytest

import scratchnet as sn
from tests.gradcheck import REL_TOL, numeric_grad, rel_error

R = sn.regularizers


@pytest.mark.parametrize("mode", ["rows", "columns"])
@pytest.mark.parametrize("shape", [(4, 3), (2, 5)])
def test_gradient_finite_differences(mode, shape):
    w = np.random.default_rng(0).normal(size=shape)
    reg = R.OrthogonalRegularizer(0.7, mode)
    numeric = numeric_grad(lambda: float(reg(w)), w)
    assert rel_error(reg.gradient(w), numeric) < REL_TOL


def test_golden_values():
    reg = R.OrthogonalRegularizer(factor=1.0)
    assert reg(np.eye(3)) == 0.0  # orthogonal rows
    # two rows at 45 degrees: one pair, |cos| = 1/sqrt(2); 0.5 * (2 / sqrt(2)) / 1
    np.testing.assert_allclose(reg(np.array([[1.0, 0.0], [1.0, 1.0]])), 1 / np.sqrt(2), rtol=1e-12)
    np.testing.assert_allclose(R.OrthogonalRegularizer(1.0, "columns")(np.array([[1.0, 1.0], [0.0, 1.0]])),
                               1 / np.sqrt(2), rtol=1e-12)


def test_names_config_and_layers():
    assert R.orthogonal_regularizer is R.OrthogonalRegularizer
    assert isinstance(R.get("orthogonal_regularizer"), R.OrthogonalRegularizer)
    reg = R.get({"class_name": "OrthogonalRegularizer", "config": {"factor": 0.1, "mode": "columns"}})
    # the factor in float32, as Keras holds it (a float32 tensor)
    assert reg.get_config() == {"factor": float(np.float32(0.1)), "mode": "columns"}
    assert R.deserialize(R.serialize(reg)).get_config() == reg.get_config()
    layer = sn.layers.Dense(3, kernel_regularizer="orthogonal_regularizer")
    assert isinstance(layer.kernel_regularizer, R.OrthogonalRegularizer)


def test_fit_lowers_the_penalty():
    rng = np.random.default_rng(2)
    model = sn.Sequential([sn.layers.Input((3,)),
                           sn.layers.Dense(4, kernel_regularizer=R.OrthogonalRegularizer(1.0))], seed=0)
    model.compile(optimizer=sn.optimizers.SGD(0.5), loss="mse")
    x = rng.normal(size=(8, 3)).astype("f4")
    before = float(model.losses[0])
    model.fit(x, np.zeros((8, 4), "f4"), epochs=5, verbose=0)
    assert float(model.losses[0]) < before


@pytest.mark.parametrize("kwargs, match", [
    ({"factor": -1.0}, "factor"), ({"factor": "a"}, "factor"), ({"mode": "diagonal"}, "mode"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        R.OrthogonalRegularizer(**kwargs)


def test_rank_other_than_two_is_refused():
    with pytest.raises(ValueError, match=r"must have rank 2. Received: inputs.shape=\(2, 2, 2\)"):
        R.OrthogonalRegularizer()(np.ones((2, 2, 2)))
