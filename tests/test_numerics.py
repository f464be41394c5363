"""Numerical edge cases: huge logits, saturated sigmoids, and a guard that stops on NaN."""

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.activations import Sigmoid, log_softmax, softmax

L = sn.layers


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_and_log_softmax_with_huge_logits(dtype):
    z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        p = softmax(z)
        logp = log_softmax(z)
    np.testing.assert_allclose(p[0], [1, 0, 0])
    np.testing.assert_allclose(p[1], [1 / 3] * 3, rtol=1e-6)
    assert logp[0, 0] == 0 and logp[0, 1] == pytest.approx(-2e4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_from_huge_logits_is_finite(dtype):
    loss = sn.losses.SparseCategoricalCrossentropy(from_logits=True)
    z = np.array([[1e4, -1e4]], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        assert loss(np.array([1]), z) == pytest.approx(2e4)
        grad = loss.backward(np.array([1]), z)
    np.testing.assert_allclose(grad, [[1, -1]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_never_overflows(dtype):
    z = np.array([-1e4, -100.0, 0.0, 100.0, 1e4], dtype=dtype)
    with np.errstate(over="raise"):
        a = Sigmoid().forward(z)
    assert a.dtype == dtype
    np.testing.assert_allclose(a[[0, 2, 4]], [0, 0.5, 1])


def test_terminate_on_nan_stops_an_exploding_run(capsys):
    model = sn.Sequential([L.Input((2,)), L.Dense(3, activation="relu"), L.Dense(1)], seed=0)
    model.compile(optimizer=sn.optimizers.SGD(1e6), loss="mse")  # a learning rate that explodes
    x = np.ones((8, 2), np.float32)
    y = np.full((8, 1), 1e3, np.float32)
    guard = sn.callbacks.TerminateOnNaN()
    with np.errstate(over="ignore", invalid="ignore"):
        history = model.fit(x, y, epochs=50, batch_size=2, verbose=0, callbacks=[guard])
    assert len(history.history["loss"]) < 50
    assert "optimizer step" in guard.message and "loss inf" in guard.message
    assert "TerminateOnNaN" in capsys.readouterr().err


def test_terminate_on_nan_names_the_first_layer_with_a_non_finite_gradient():
    model = sn.Sequential([L.Input((2,)), L.Flatten(), L.Dense(3, activation="relu"), L.Dense(1)],
                          seed=0)
    model.compile(optimizer=sn.optimizers.SGD(0.01), loss="mse")
    model.layers[1].kernel.value[0, :] = np.inf  # a weight that diverged
    guard = sn.callbacks.TerminateOnNaN()
    with np.errstate(over="ignore", invalid="ignore"):
        history = model.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=3, verbose=0,
                            callbacks=[guard])
    assert len(history.history["loss"]) == 1
    assert 'layer "dense"' in guard.message and "batch 0" in guard.message
