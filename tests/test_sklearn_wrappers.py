"""``sn.wrappers`` (scikit-learn estimators around a model, Keras 3's ``keras.wrappers``) without
Keras: target encoding and decoding, fresh models on every fit, scikit-learn's cloning,
``cross_val_score``, ``GridSearchCV`` and ``Pipeline``, and the errors.
parity_tests/test_sklearn_wrappers_keras.py compares the numbers and messages with Keras'."""

import subprocess
import sys

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import scratchnet as sn
from scratchnet.wrappers import SKLearnClassifier, SKLearnRegressor, SKLearnTransformer

L = sn.layers
QUIET = {"verbose": 0, "shuffle": False, "batch_size": 8}


def _model(X, y, hidden=6, loss="categorical_crossentropy", activation="softmax"):
    model = sn.Sequential([L.Input((X.shape[1],)), L.Dense(hidden, activation="tanh"),
                           L.Dense(y.shape[1], activation=activation)], seed=0)
    model.compile(optimizer=sn.optimizers.Adam(0.05), loss=loss)
    return model


def _regression_model(X, y):
    return _model(X, y, loss="mse", activation=None)


def _blobs(n=24, seed=0):
    """Three well separated clusters, labelled with strings."""
    rng = np.random.default_rng(seed)
    labels = np.array(["low", "mid", "high"])[np.arange(n) % 3]
    centers = {"low": -3.0, "mid": 0.0, "high": 3.0}
    X = np.array([[centers[c], -centers[c]] for c in labels]) + 0.3 * rng.normal(size=(n, 2))
    return X, labels


def test_import_scratchnet_does_not_import_sklearn_until_wrappers_is_used():
    code = ("import sys, scratchnet as sn; a = 'sklearn' in sys.modules; sn.wrappers.SKLearnClassifier; "
            "print(a, 'sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


def test_the_classifier_encodes_labels_and_decodes_predictions():
    X, y = _blobs()
    seen = {}

    def model(X, y):
        seen["y"] = y
        return _model(X, y)

    clf = SKLearnClassifier(model, fit_kwargs={"epochs": 30, **QUIET}).fit(X, y)
    np.testing.assert_array_equal(clf.classes_, ["high", "low", "mid"])  # sorted, as np.unique
    assert seen["y"].shape == (24, 3)  # one-hot, columns in the order of classes_
    np.testing.assert_array_equal(seen["y"].argmax(axis=1), np.searchsorted(clf.classes_, y))
    scores = clf.decision_function(X)
    assert scores.shape == (24, 3)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[scores.argmax(axis=1)])
    assert clf.score(X, y) == 1.0  # separable: every label right
    assert len(clf.history_.history["loss"]) == 30
    assert not hasattr(clf, "predict_proba")  # Keras' wrapper has decision_function only


def test_the_regressor_reshapes_a_1d_target_and_back():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(20, 3))
    y = X @ np.array([0.5, -1.0, 0.25])
    reg = SKLearnRegressor(_regression_model, fit_kwargs={"epochs": 60, **QUIET}).fit(X, y)
    assert reg.model_.output_shape == (None, 1)
    assert reg.predict(X).shape == (20,)
    assert reg.score(X, y) > 0.9  # R^2 of a linear target


def test_a_model_instance_is_cloned_and_compiled_on_every_fit():
    X, y = _blobs()
    given = _model(X, np.zeros((1, 3)))
    clf = SKLearnClassifier(given, warm_start=True)  # Keras never reads warm_start
    clf.fit(X, y, **QUIET)
    first = clf.model_
    assert first is not given and first.compiled
    assert type(first.optimizer) is type(given.optimizer) and type(first.loss) is type(given.loss)
    clf.fit(X, y, **QUIET)
    assert clf.model_ is not first
    uncompiled = sn.Sequential([L.Input((2,)), L.Dense(3)])
    with pytest.raises(RuntimeError, match="Given model needs to be compiled, and have a loss and an "
                                           "optimizer"):
        SKLearnClassifier(uncompiled).fit(X, y)


def test_fit_arguments_win_over_fit_kwargs_without_changing_them():
    X, y = _blobs()
    fit_kwargs = {"epochs": 3, **QUIET}
    clf = SKLearnClassifier(_model, fit_kwargs=fit_kwargs)
    clf.fit(X, y, epochs=2)
    assert len(clf.history_.history["loss"]) == 2
    assert fit_kwargs["epochs"] == 3
    clf.fit(X, y)
    assert len(clf.history_.history["loss"]) == 3


def test_scikit_learn_clone_get_params_and_cross_validation():
    X, y = _blobs(30)
    clf = SKLearnClassifier(_model, model_kwargs={"hidden": 4}, fit_kwargs={"epochs": 2})
    assert clf.get_params() == {"model": _model, "warm_start": False, "model_kwargs": {"hidden": 4},
                                "fit_kwargs": {"epochs": 2}}
    copied = clone(clf)
    assert copied.model_kwargs == {"hidden": 4} and copied.fit_kwargs is None  # Keras drops it
    scores = cross_val_score(clf, X, y, cv=3, params={"epochs": 30, **QUIET})
    assert scores.shape == (3,) and np.all(scores == 1.0)
    search = GridSearchCV(clf, {"model_kwargs": [{"hidden": 2}, {"hidden": 6}]}, cv=2)
    search.fit(X, y, epochs=20, **QUIET)
    assert search.best_params_["model_kwargs"] in ({"hidden": 2}, {"hidden": 6})


def test_pipelines():
    X, y = _blobs(30, seed=2)
    pipe = make_pipeline(StandardScaler(), SKLearnClassifier(_model, fit_kwargs={"epochs": 30, **QUIET}))
    assert pipe.fit(X, y).score(X, y) == 1.0
    codes = np.searchsorted(np.array(["high", "low", "mid"]), y).astype(float)  # a numeric target
    embed = SKLearnTransformer(_regression_model, fit_kwargs={"epochs": 30, **QUIET})
    pipe = make_pipeline(StandardScaler(), embed, LogisticRegression())
    pipe.fit(X, codes)
    assert pipe.named_steps["sklearntransformer"].transform(X).shape == (30, 1)
    assert pipe.score(X, codes) > 0.6


def test_errors():
    X, y = _blobs()
    with pytest.raises(ValueError, match="Only binary and multiclass target types are supported. "
                                         "Target type: continuous"):
        SKLearnClassifier(_model).fit(X, np.linspace(0, 1, 24))
    with pytest.raises(ValueError, match="Classifier can't train when only one class is present"):
        SKLearnClassifier(_model).fit(X, np.array(["a"] * 24))
    with pytest.raises(ValueError, match="Unknown label type"):
        SKLearnRegressor(_regression_model).fit(X, np.array([{"a": 1}] * 24, dtype=object))
    with pytest.raises(TypeError, match=r"SKLearnRegressor: expected model to be a compiled "
                                        r"scratchnet model or a function returning one, received 3"):
        SKLearnRegressor(3).fit(X, y == "low")
    with pytest.raises(ValueError, match="is not fitted yet"):
        SKLearnTransformer(_regression_model).transform(X)
    reg = SKLearnRegressor(_regression_model, fit_kwargs=QUIET).fit(X, X[:, 0])
    with pytest.raises(ValueError, match="X has 3 features, but SKLearnRegressor is expecting 2"):
        reg.predict(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"y should be a 1d array, got an array of shape \(24, 2\)"):
        SKLearnRegressor(_regression_model).fit(X, X)
