"""OrthogonalRegularizer against Keras 3.15.1: the penalty (FORWARD_RTOL) and its gradient by
TensorFlow's tape (GRAD_RTOL) in both modes, ten SGD steps of a model whose Dense kernel carries
it (TRAJECTORY_RTOL), the converters and .keras files both ways. Finite differences and errors:
tests/test_orthogonal_regularizer.py."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import scratchnet as sn
import tfnet
from parity_tests.driver import FORWARD_RTOL, GRAD_RTOL, assert_close, check_trajectory, make_twins

R = sn.regularizers


@pytest.mark.parametrize("kwargs", [{}, {"factor": 0.5, "mode": "columns"}, {"factor": 2.0}])
@pytest.mark.parametrize("shape", [(5, 3), (3, 6)])
def test_penalty_and_gradient(kwargs, shape):
    rng = np.random.default_rng(0)
    w = rng.normal(size=shape).astype("f4")
    ours, theirs = R.OrthogonalRegularizer(**kwargs), keras.regularizers.OrthogonalRegularizer(**kwargs)
    assert ours.get_config() == pytest.approx(theirs.get_config())
    variable = tf.Variable(w)
    with tf.GradientTape() as tape:
        penalty = theirs(variable)
    assert ours(w).dtype == np.float32
    assert_close(ours(w), penalty.numpy(), FORWARD_RTOL, "penalty")
    assert_close(ours.gradient(w), tape.gradient(penalty, variable).numpy(), GRAD_RTOL, "gradient")


def _model(regularizer):
    return sn.Sequential([sn.layers.Input((4,)), sn.layers.Dense(5, activation="tanh",
                                                                kernel_regularizer=regularizer),
                          sn.layers.Dense(2)], seed=0)


@pytest.mark.parametrize("mode", ["rows", "columns"])
def test_ten_sgd_steps(mode):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(12, 4)).astype("f4")
    y = rng.normal(size=(12, 2)).astype("f4")
    twins = make_twins(_model(R.OrthogonalRegularizer(0.3, mode)), loss="mse",
                       optimizer=sn.optimizers.SGD(0.1))
    assert isinstance(twins.keras.layers[0].kernel_regularizer, keras.regularizers.OrthogonalRegularizer)
    check_trajectory(twins, [(x[:6], y[:6]), (x[6:], y[6:])], 10)
    back = tfnet.from_keras(twins.keras)
    assert back.layers[0].kernel_regularizer.get_config() == pytest.approx({"factor": 0.3, "mode": mode})


def test_keras_files_both_ways(tmp_path):
    model = _model(R.orthogonal_regularizer(factor=0.2, mode="columns"))
    model.compile(optimizer="sgd", loss="mse")
    model.save(tmp_path / "s.keras")
    kmodel = keras.models.load_model(tmp_path / "s.keras")
    kreg = kmodel.layers[0].kernel_regularizer
    assert isinstance(kreg, keras.regularizers.OrthogonalRegularizer)
    assert kreg.get_config() == pytest.approx({"factor": 0.2, "mode": "columns"})
    for penalty_s, penalty_k in zip(model.losses, kmodel.losses, strict=True):
        assert_close(penalty_s, penalty_k.numpy(), FORWARD_RTOL, "model.losses in Keras")
    kmodel.save(tmp_path / "k.keras")
    loaded = sn.load_model(tmp_path / "k.keras")
    assert loaded.layers[0].kernel_regularizer.get_config() == pytest.approx(kreg.get_config())
