"""``sn.wrappers`` against ``keras.wrappers``: the same model function with the same initial
weights, wrapped in each, fitted on the same data (no shuffling) gives the same outputs within
the trajectory tolerance, the same labels, the same scikit-learn scores; the target handling
(label encoding, 1-D targets) and the errors are Keras'."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import wrappers as kw
from sklearn.model_selection import cross_val_score

import scratchnet as sn
from parity_tests.driver import TRAJECTORY_RTOL, assert_close

FIT = {"epochs": 3, "batch_size": 4, "shuffle": False, "verbose": 0}


def _initial_weights(n_in, n_out, seed):
    rng = np.random.default_rng(seed)
    return [rng.normal(scale=0.5, size=(n_in, 5)).astype(np.float32), np.zeros(5, np.float32),
            rng.normal(scale=0.5, size=(5, n_out)).astype(np.float32), np.zeros(n_out, np.float32)]


def _builder(lib, activation, loss, seed=0):
    """``model(X, y)`` in scratchnet (``lib`` = sn) or Keras (``lib`` = keras): Dense(5, tanh),
    Dense(y.shape[1]), fixed initial weights, Adam."""
    def model(X, y, learning_rate=0.05):
        net = lib.Sequential([lib.Input((X.shape[1],)), lib.layers.Dense(5, activation="tanh"),
                              lib.layers.Dense(y.shape[1], activation=activation)])
        net.set_weights(_initial_weights(X.shape[1], y.shape[1], seed))
        net.compile(optimizer=lib.optimizers.Adam(learning_rate), loss=loss)
        return net
    return model


def _data(seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(16, 3))
    return X, rng


@pytest.mark.parametrize("labels", [np.array(["cat", "dog", "emu"]), np.array([3, 7])],
                         ids=["three_strings", "two_ints"])
def test_classifier_as_keras(labels):
    X, rng = _data()
    y = labels[rng.integers(len(labels), size=16)]
    ours = sn.wrappers.SKLearnClassifier(_builder(sn, "softmax", "categorical_crossentropy"),
                                         model_kwargs={"learning_rate": 0.1}, fit_kwargs=FIT).fit(X, y)
    theirs = kw.SKLearnClassifier(_builder(keras, "softmax", "categorical_crossentropy"),
                                  model_kwargs={"learning_rate": 0.1}, fit_kwargs=FIT).fit(X, y)
    np.testing.assert_array_equal(ours.classes_, theirs.classes_)
    assert_close(ours.decision_function(X), theirs.decision_function(X), TRAJECTORY_RTOL,
                 "decision_function after 3 epochs")
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    assert ours.score(X, y) == theirs.score(X, y)
    assert_close(np.asarray(ours.history_.history["loss"]), np.asarray(theirs.history_.history["loss"]),
                 TRAJECTORY_RTOL, "loss per epoch")


def test_regressor_and_transformer_as_keras():
    X, rng = _data(2)
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=16)
    ours = sn.wrappers.SKLearnRegressor(_builder(sn, None, "mse"), fit_kwargs=FIT).fit(X, y)
    theirs = kw.SKLearnRegressor(_builder(keras, None, "mse"), fit_kwargs=FIT).fit(X, y)
    assert ours.predict(X).shape == theirs.predict(X).shape == (16,)  # 1-D again
    assert_close(ours.predict(X), theirs.predict(X), TRAJECTORY_RTOL, "predictions after 3 epochs")
    assert_close(ours.score(X, y), theirs.score(X, y), TRAJECTORY_RTOL, "R2")
    ours = sn.wrappers.SKLearnTransformer(_builder(sn, None, "mse"), fit_kwargs=FIT).fit(X, y)
    theirs = kw.SKLearnTransformer(_builder(keras, None, "mse"), fit_kwargs=FIT).fit(X, y)
    assert ours.transform(X).shape == theirs.transform(X).shape == (16, 1)
    assert_close(ours.transform(X), theirs.transform(X), TRAJECTORY_RTOL, "transform after 3 epochs")


def test_cross_val_score_as_keras():
    """cross_val_score clones the wrapper (dropping fit_kwargs, as Keras' __sklearn_clone__ does),
    so the fit options go through params=; each fold starts from the same initial weights."""
    X, rng = _data(3)
    y = np.array(["a", "b"])[(X[:, 0] > 0).astype(int)]
    params = {"epochs": 2, "batch_size": 4, "shuffle": False, "verbose": 0}
    ours = cross_val_score(sn.wrappers.SKLearnClassifier(_builder(sn, "softmax", "categorical_crossentropy")),
                           X, y, cv=2, params=params)
    theirs = cross_val_score(kw.SKLearnClassifier(_builder(keras, "softmax", "categorical_crossentropy")),
                             X, y, cv=2, params=params)
    np.testing.assert_array_equal(ours, theirs)


def _errors(wrappers, lib):
    """The message of each refusal, for ``wrappers`` (sn.wrappers or keras.wrappers)."""
    X, _ = _data(4)
    messages = []
    make = _builder(lib, "softmax", "categorical_crossentropy")
    cases = [
        lambda: wrappers.SKLearnClassifier(make).fit(X, np.linspace(0, 1, 16)),  # continuous
        lambda: wrappers.SKLearnClassifier(make).fit(X, np.zeros(16)),  # one class
        lambda: wrappers.SKLearnClassifier(make).predict(X),  # not fitted
        lambda: wrappers.SKLearnRegressor(_builder(lib, None, "mse"), fit_kwargs={"verbose": 0})
        .fit(X, X[:, 0]).predict(X[:, :2]),  # another number of features
        # a 2-D target: scikit-learn's check refuses it (Keras' wrappers never ask for several outputs)
        lambda: wrappers.SKLearnRegressor(make).fit(X, np.stack([X[:, 0], X[:, 1]], axis=1)),
        lambda: wrappers.SKLearnRegressor(lambda X, y: lib.Sequential([lib.Input((3,)),
                                                                      lib.layers.Dense(1)])).fit(X, X[:, 0]),
    ]
    for case in cases:
        with pytest.raises((ValueError, RuntimeError)) as info:
            case()
        messages.append((type(info.value).__name__, str(info.value)))
    return messages


def test_errors_as_keras():
    assert _errors(sn.wrappers, sn) == _errors(kw, keras)
