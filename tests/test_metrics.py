"""Metrics in scratchnet alone: weighted means as Keras' MeanMetricWrapper reduces them,
Precision and Recall, Keras' names (and the log keys they give), golden values from Keras 3.15.1's
docstring examples, and bad-input errors."""

import numpy as np
import pytest

import scratchnet as sn
from scratchnet import metrics

L = sn.layers


# ----------------------------------------------------------------------------- golden values
def test_binary_accuracy_keras_examples():
    y, p = [[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]]
    m = metrics.BinaryAccuracy()
    m.update(y, p)
    assert m.result() == pytest.approx(0.75)
    m.reset()
    m.update(y, p, sample_weight=[1, 0, 0, 1])
    assert m.result() == pytest.approx(0.5)


def test_binary_accuracy_compares_labels_exactly():
    """Keras casts (y_pred > threshold) to the label's dtype and tests equality: a soft label
    0.3 matches neither 0 nor 1."""
    m = metrics.BinaryAccuracy()
    m.update(np.array([[0.3], [1.0]]), np.array([[0.1], [0.9]]))
    assert m.result() == pytest.approx(0.5)
    m = metrics.BinaryAccuracy(threshold=0.95)
    m.update(np.array([[1], [1]]), np.array([[0.9], [0.99]]))
    assert m.result() == pytest.approx(0.5)


def test_categorical_and_sparse_accuracy_keras_examples():
    p = [[0.1, 0.9, 0.8], [0.05, 0.95, 0]]
    for m, y in ((metrics.CategoricalAccuracy(), [[0, 0, 1], [0, 1, 0]]),
                 (metrics.SparseCategoricalAccuracy(), [[2], [1]]),
                 (metrics.SparseCategoricalAccuracy(), [2, 1])):
        m.update(y, p)
        assert m.result() == pytest.approx(0.5)
        m.reset()
        m.update(y, p, sample_weight=[0.7, 0.3])
        assert m.result() == pytest.approx(0.3)


def test_mean_absolute_and_squared_error():
    m = metrics.MeanAbsoluteError()
    m.update([[0, 1], [0, 0]], [[1, 1], [0, 0]])
    assert m.result() == pytest.approx(0.25)  # Keras' docstring
    m.reset()
    m.update([[0, 1], [0, 0]], [[1, 1], [0, 0]], sample_weight=[1, 0])
    assert m.result() == pytest.approx(0.5)
    m = metrics.MeanSquaredError()
    m.update([[0, 1], [0, 0]], [[1, 1], [0, 0]])
    assert m.result() == pytest.approx(0.25)


def test_precision_keras_examples():
    m = metrics.Precision()
    m.update([0, 1, 1, 1], [1, 0, 1, 1])
    assert m.result() == pytest.approx(2 / 3)
    m.reset()
    m.update([0, 1, 1, 1], [1, 0, 1, 1], sample_weight=[0, 0, 1, 0])
    assert m.result() == pytest.approx(1.0)
    m = metrics.Precision(top_k=2)  # ties: the first two
    m.update([0, 0, 1, 1], [1, 1, 1, 1])
    assert m.result() == 0.0
    m = metrics.Precision(top_k=4)
    m.update([0, 0, 1, 1], [1, 1, 1, 1])
    assert m.result() == pytest.approx(0.5)


def test_recall_keras_examples():
    m = metrics.Recall()
    m.update([0, 1, 1, 1], [1, 0, 1, 1])
    assert m.result() == pytest.approx(2 / 3)
    m.reset()
    m.update([0, 1, 1, 1], [1, 0, 1, 1], sample_weight=[0, 0, 1, 0])
    assert m.result() == pytest.approx(1.0)


def test_precision_class_id_and_several_thresholds():
    y = np.array([[1, 0, 0], [0, 1, 0], [0, 1, 0], [1, 0, 0]])
    p = np.array([[0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.1, 0.8, 0.1], [0.4, 0.4, 0.2]])
    m = metrics.Precision(class_id=0)  # column 0: predicted positive in rows 0, 1; TP row 0
    m.update(y, p)
    assert m.result() == pytest.approx(0.5)
    m = metrics.Recall(thresholds=[0.1, 0.5, 0.9])
    m.update(y, p)  # 4 positives: > 0.1 all four, > 0.5 rows 0 and 2, > 0.9 none
    np.testing.assert_allclose(m.result(), [1.0, 0.5, 0.0])


def test_empty_metrics_report_zero():
    for m in (metrics.BinaryAccuracy(), metrics.Precision(), metrics.Recall(), metrics.Mean()):
        assert m.result() == 0.0


# ----------------------------------------------------------------------------- weighting rule
def test_weighted_mean_is_sum_w_v_over_sum_w_across_batches():
    rng = np.random.default_rng(0)
    m = metrics.MeanAbsoluteError()
    batches = [(rng.standard_normal((n, 3)), rng.standard_normal((n, 3)), rng.uniform(0, 2, n))
               for n in (4, 7, 1)]
    for y, p, w in batches:
        m.update(y, p, sample_weight=w)
    v = np.concatenate([np.abs(p - y).mean(axis=-1) for y, p, _ in batches])
    w = np.concatenate([w for _, _, w in batches])
    assert m.result() == pytest.approx(np.sum(w * v) / np.sum(w), rel=1e-12)


def test_unweighted_mean_counts_samples_not_elements():
    """Per-sample values first (the mean over each sample's elements), then their mean."""
    m = metrics.BinaryAccuracy()
    m.update(np.array([[1, 1, 1, 1]]), np.array([[0.9, 0.9, 0.9, 0.1]]))  # 0.75
    m.update(np.array([[1], [1]]), np.array([[0.9], [0.9]]))  # 1, 1
    assert m.result() == pytest.approx((0.75 + 1 + 1) / 3)


def test_weights_per_element_and_as_a_column():
    m = metrics.BinaryAccuracy()
    y, p = np.array([[1, 0], [1, 1]]), np.array([[0.9, 0.9], [0.1, 0.9]])
    m.update(y, p, sample_weight=np.array([[1.0], [3.0]]))  # (N, 1) weights: per sample
    assert m.result() == pytest.approx((1 * 0.5 + 3 * 0.5) / 4)
    m.reset()
    m.update(y, p, sample_weight=np.array([[1.0, 0.0], [0.0, 2.0]]))  # per element
    assert m.result() == pytest.approx(1.0)


def test_update_state_and_reset_state_are_keras_aliases():
    m = metrics.CategoricalAccuracy()
    m.update_state([[0, 1]], [[0.2, 0.8]], sample_weight=[2.0])
    assert m.result() == 1.0
    m.reset_state()
    assert m.result() == 0.0


def test_mean_tracks_a_weighted_running_mean():
    m = metrics.Mean(name="loss")
    m.update_value(1.0, 2)
    m.update_value(4.0, 1)
    assert m.name == "loss" and m.result() == pytest.approx(2.0)
    m = metrics.Mean()
    m.update([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])  # Keras' docstring
    assert m.result() == pytest.approx(2.0)


# ----------------------------------------------------------------------------- names
@pytest.mark.parametrize("name, cls", [
    ("binary_accuracy", metrics.BinaryAccuracy), ("BinaryAccuracy", metrics.BinaryAccuracy),
    ("categorical_accuracy", metrics.CategoricalAccuracy),
    ("sparse_categorical_accuracy", metrics.SparseCategoricalAccuracy),
    ("SparseCategoricalAccuracy", metrics.SparseCategoricalAccuracy),
    ("mae", metrics.MeanAbsoluteError), ("MAE", metrics.MeanAbsoluteError),
    ("mean_absolute_error", metrics.MeanAbsoluteError),
    ("mse", metrics.MeanSquaredError), ("mean_squared_error", metrics.MeanSquaredError),
    ("precision", metrics.Precision), ("Precision", metrics.Precision), ("recall", metrics.Recall),
])
def test_names_resolve_as_keras_and_log_under_the_given_string(name, cls):
    metrics.validate(name)
    m = metrics.get(name, "binary_crossentropy", 1)
    assert type(m) is cls and m.name == name


@pytest.mark.parametrize("loss_name, units, cls", [
    ("binary_crossentropy", 1, metrics.BinaryAccuracy),
    ("mean_squared_error", 1, metrics.BinaryAccuracy),
    ("sparse_categorical_crossentropy", 1, metrics.BinaryAccuracy),  # the output width comes first
    ("sparse_categorical_crossentropy", 4, metrics.SparseCategoricalAccuracy),
    ("categorical_crossentropy", 4, metrics.CategoricalAccuracy),
    ("binary_crossentropy", 4, metrics.CategoricalAccuracy),  # Keras' rule, shapes only
])
@pytest.mark.parametrize("alias", ["accuracy", "acc", "Accuracy", "ACC"])
def test_accuracy_picks_its_variant_like_keras_compile(alias, loss_name, units, cls):
    m = metrics.get(alias, loss_name, units)
    assert type(m) is cls and m.name == alias


def test_metric_objects_keep_their_names():
    m = metrics.Precision(thresholds=0.7, name="p70")
    assert metrics.get(m, "binary_crossentropy", 1) is m and m.name == "p70"
    assert metrics.Recall().name == "recall" and metrics.MeanAbsoluteError().name == "mean_absolute_error"


def test_fit_logs_keras_names():
    model = sn.Sequential([L.Input((3,)), L.Dense(1, activation="sigmoid")], seed=0)
    model.compile("sgd", "binary_crossentropy",
                  metrics=["acc", "mae", "precision", metrics.Recall(name="rec"), "BinaryAccuracy"])
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((10, 3)).astype("f4"), rng.integers(0, 2, 10)
    history = model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    assert set(history.history) == {"loss", "acc", "mae", "precision", "rec", "BinaryAccuracy"}
    assert history.history["acc"] == history.history["BinaryAccuracy"]


# ----------------------------------------------------------------------------- errors
def test_unknown_metric_lists_the_valid_names():
    with pytest.raises(ValueError, match="unknown metric 'f1'") as info:
        metrics.validate("f1")
    for name in ("'accuracy'", "'mae'", "'precision'", "'recall'", "'binary_accuracy'"):
        assert name in str(info.value)
    with pytest.raises(ValueError, match="unknown metric"):
        metrics.get("f1", "mse", 1)


@pytest.mark.parametrize("make, words", [
    (lambda: metrics.Precision(thresholds=1.5), ["Precision", "[0, 1]", "1.5"]),
    (lambda: metrics.Recall(thresholds=[0.2, -1]), ["Recall", "[0, 1]", "-1"]),
    (lambda: metrics.Precision(top_k=0), ["Precision", "top_k", "0"]),
    (lambda: metrics.Recall(class_id="a"), ["Recall", "class_id", "'a'"]),
])
def test_bad_arguments(make, words):
    with pytest.raises(ValueError) as info:
        make()
    for word in words:
        assert word in str(info.value)


def test_mismatched_shapes_and_class_id_on_a_vector():
    with pytest.raises(ValueError, match=r"Precision: expected y_true of the same shape"):
        metrics.Precision().update(np.zeros((2, 3)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="class_id"):
        metrics.Recall(class_id=0).update([1, 0], [0.9, 0.1])
