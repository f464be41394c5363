"""OneHotIoU, OneHotMeanIoU, the metric functions keras.metrics adds to the loss functions
(binary/categorical focal cross-entropy, pearson/concordance correlation) and
keras.metrics.serialize/deserialize, against Keras 3.15.1 (FORWARD_RTOL)."""

import keras
import numpy as np
import pytest

import scratchnet as sn
from parity_tests.driver import FORWARD_RTOL, assert_close

M = sn.metrics
RNG = 11


def _batches(rng, shape=(6, 4)):
    for _ in range(2):
        y = np.eye(shape[-1], dtype="f4")[rng.integers(0, shape[-1], shape[:-1])]
        p = rng.random(shape).astype("f4")
        yield y, p, rng.integers(0, 3, shape[:-1]).astype("f4")


@pytest.mark.parametrize("kwargs", [
    {"num_classes": 4, "target_class_ids": [0, 2]},
    {"num_classes": 4, "target_class_ids": [1], "dtype": "float32"},
    {"num_classes": 4, "target_class_ids": [0, 1, 3], "ignore_class": 2},
])
def test_one_hot_iou(kwargs):
    ours, theirs = M.OneHotIoU(**kwargs), keras.metrics.OneHotIoU(**kwargs)
    for y, p, w in _batches(np.random.default_rng(RNG)):
        ours.update(y, p, sample_weight=w)
        theirs.update_state(y, p, sample_weight=w)
    assert_close(ours.result(), float(theirs.result()), FORWARD_RTOL, "OneHotIoU")


@pytest.mark.parametrize("kwargs", [{"num_classes": 4}, {"num_classes": 4, "dtype": "float32"},
                                    {"num_classes": 4, "sparse_y_pred": True}])
def test_one_hot_mean_iou(kwargs):
    ours, theirs = M.OneHotMeanIoU(**kwargs), keras.metrics.OneHotMeanIoU(**kwargs)
    rng = np.random.default_rng(RNG)
    for y, p, _ in _batches(rng, (3, 5, 4)):
        if kwargs.get("sparse_y_pred"):
            p = rng.integers(0, 4, (3, 5))
        ours.update(y, p)
        theirs.update_state(y, p)
    assert_close(ours.result(), float(theirs.result()), FORWARD_RTOL, "OneHotMeanIoU")


@pytest.mark.parametrize("metric", [
    M.OneHotIoU(3, [0, 2], name="iou", ignore_class=1), M.OneHotMeanIoU(5, dtype="float32"),
    M.pearson_correlation, M.binary_focal_crossentropy],
    ids=["onehot_iou", "onehot_mean_iou", "pearson_function", "focal_function"])
def test_serialize_as_keras_and_back(metric):
    spec = M.serialize(metric)
    if isinstance(metric, M.Metric):
        kmetric = keras.metrics.deserialize(spec)
        assert type(kmetric).__name__ == type(metric).__name__
        kspec = keras.metrics.serialize(kmetric)
        assert kspec["class_name"] == spec["class_name"]
        for key, value in spec["config"].items():
            assert kspec["config"][key] == value, key
        assert M.deserialize(kspec).get_config() == metric.get_config()
    else:  # Keras 3.15.1 writes a function so, but its own deserialize misreads it as a class
        assert spec == keras.metrics.serialize(getattr(keras.metrics, metric.__name__))
        assert M.deserialize(spec) is metric
        assert M.deserialize(metric.__name__) is metric


@pytest.mark.parametrize("name", ["binary_focal_crossentropy", "categorical_focal_crossentropy",
                                  "pearson_correlation", "concordance_correlation"])
def test_metric_functions(name):
    rng = np.random.default_rng(RNG)
    y = (rng.random((5, 4)) > 0.5).astype("f4") if "focal" in name else rng.normal(size=(5, 4)).astype("f4")
    p = rng.uniform(0.05, 0.95, (5, 4)).astype("f4")
    assert getattr(M, name) is getattr(sn.losses, name, getattr(M, name))
    assert_close(getattr(M, name)(y, p), np.asarray(getattr(keras.metrics, name)(y, p)),
                 FORWARD_RTOL, name)
    if "correlation" in name:
        assert_close(getattr(M, name)(y, p, axis=0), np.asarray(getattr(keras.metrics, name)(y, p, axis=0)),
                     FORWARD_RTOL, f"{name} axis=0")


def test_metric_function_in_compile_logs_as_keras():
    rng = np.random.default_rng(RNG)
    x = rng.normal(size=(8, 3)).astype("f4")
    y = rng.normal(size=(8, 2)).astype("f4")
    model = sn.Sequential([sn.layers.Input((3,)), sn.layers.Dense(2)], seed=0)
    model.compile(optimizer="sgd", loss="mse", metrics=[M.pearson_correlation])
    kmodel = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    kmodel.set_weights(model.get_weights())
    kmodel.compile(optimizer="sgd", loss="mse", metrics=[keras.metrics.pearson_correlation])
    ours = model.evaluate(x, y, verbose=0, return_dict=True)
    theirs = kmodel.evaluate(x, y, verbose=0, return_dict=True)
    assert set(ours) == set(theirs)
    assert_close(ours["pearson_correlation"], theirs["pearson_correlation"], FORWARD_RTOL, "logged")
