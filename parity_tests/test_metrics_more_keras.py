"""The metrics added after the first set, against Keras 3.15.1's metric objects.

Each case feeds the same float32 batches (three of them, sizes 5, 8, 3) to a scratchnet metric and
to ``keras.metrics.<SameName>(<same arguments>)``, with and without ``sample_weight``, and compares
``result()`` after every batch and after ``reset_state`` to ``FORWARD_RTOL`` (Keras accumulates in
float32, scratchnet mostly in float64). The batches hold what trips metrics up: tied and
quantised scores (top-k's ``in_top_k`` boundary, F-score's row maximum), all-zero rows, zero
targets, -1/1 hinge labels, class ids out of range and fractional (IoU's int64 casts).

Then compiled models: ``fit`` history and ``evaluate`` (with weighted metrics) against the Keras
twin with the same weights; conversion of every metric both ways through tfnet; and ``.keras``
files whose compile config lists them, saved by one framework and evaluated by the other.
"""

import warnings

import keras
import numpy as np
import pytest

import scratchnet as sn
import tfnet
from parity_tests.driver import FORWARD_RTOL, assert_close, make_twins

L = sn.layers
RNG_SEED = 11


def _data(kind, rng, n):
    """One batch ``(y, p)`` of the given kind, float32."""
    if kind == "onehot_ties":
        y, p = np.eye(5)[rng.integers(0, 5, n)], rng.integers(0, 3, (n, 5)) / 2
        p[0] = 0  # a flat row: every class ties
    elif kind == "sparse_ties":
        y, p = rng.integers(0, 5, n), rng.integers(0, 3, (n, 5)) / 2
        y[-1] = 5  # out of range: never in the top k
    elif kind == "sparse_column_ties":
        y, p = rng.integers(0, 5, (n, 1)), rng.integers(0, 4, (n, 5)) / 3
    elif kind == "sorted_ids":
        y, p = rng.integers(0, 6, n), np.argsort(rng.random((n, 6)), axis=-1)
    elif kind == "regression":
        y, p = rng.standard_normal((n, 3)), rng.standard_normal((n, 3))
    elif kind == "positive":
        y, p = rng.uniform(0, 2, (n, 3)), rng.uniform(0, 2, (n, 3))
        y[0, 0], p[1, 1] = 0, 0
    elif kind == "prob":
        y, p = rng.dirichlet(np.ones(4), n), rng.dirichlet(np.ones(4), n)
        y[0], p[1, :2] = 0, 0  # a zero target row, zero probabilities
    elif kind == "binary":
        y, p = rng.integers(0, 2, (n, 1)), rng.uniform(0, 1, (n, 1))
    elif kind == "hinge_pm1":
        y, p = rng.choice([-1, 1], (n, 2)), rng.standard_normal((n, 2))
    elif kind == "multilabel":
        y, p = rng.integers(0, 2, (n, 4)), rng.integers(0, 5, (n, 4)) / 4
        p[0] = 0  # nothing predicted in this row without a threshold
    elif kind == "segmentation":
        y, p = rng.integers(-1, 5, (n, 3)), rng.integers(0, 8, (n, 3)) / 2  # -1, 4: out of range
    else:
        raise ValueError(kind)
    return y.astype("f4"), p.astype("f4")


METRIC_CASES = [
    ("TopKCategoricalAccuracy", {"k": 2}, "onehot_ties"),
    ("TopKCategoricalAccuracy", {}, "onehot_ties"),
    ("TopKCategoricalAccuracy", {"k": 1}, "onehot_ties"),
    ("SparseTopKCategoricalAccuracy", {"k": 2}, "sparse_ties"),
    ("SparseTopKCategoricalAccuracy", {"k": 1}, "sparse_column_ties"),
    ("SparseTopKCategoricalAccuracy", {"k": 3, "from_sorted_ids": True}, "sorted_ids"),
    ("RootMeanSquaredError", {}, "regression"),
    ("MeanAbsolutePercentageError", {}, "positive"),
    ("MeanSquaredLogarithmicError", {}, "positive"),
    ("LogCoshError", {}, "regression"),
    ("CosineSimilarity", {}, "regression"),
    ("CosineSimilarity", {}, "prob"),
    ("KLDivergence", {}, "prob"),
    ("Poisson", {}, "positive"),
    ("Hinge", {}, "binary"),
    ("Hinge", {}, "hinge_pm1"),
    ("SquaredHinge", {}, "binary"),
    ("SquaredHinge", {}, "hinge_pm1"),
    ("CategoricalHinge", {}, "onehot_ties"),
    ("R2Score", {}, "regression"),
    ("R2Score", {"class_aggregation": None}, "positive"),
    ("R2Score", {"class_aggregation": "variance_weighted_average", "num_regressors": 2}, "regression"),
    ("F1Score", {}, "multilabel"),
    ("F1Score", {"average": "macro", "threshold": 0.5}, "multilabel"),
    ("F1Score", {"average": "micro"}, "onehot_ties"),
    ("F1Score", {"average": "weighted", "threshold": 0.3}, "multilabel"),
    ("FBetaScore", {"beta": 2.0, "threshold": 0.5}, "multilabel"),
    ("FBetaScore", {"beta": 0.5, "average": "weighted"}, "onehot_ties"),
    ("IoU", {"num_classes": 4, "target_class_ids": [0, 2]}, "segmentation"),
    ("MeanIoU", {"num_classes": 4}, "segmentation"),
    ("MeanIoU", {"num_classes": 4, "dtype": "float32", "ignore_class": 2}, "segmentation"),
    ("MeanIoU", {"num_classes": 5, "sparse_y_true": False, "sparse_y_pred": False}, "onehot_ties"),
    ("BinaryIoU", {}, "binary"),
    ("BinaryIoU", {"target_class_ids": [1], "threshold": 0.7, "dtype": "float32"}, "binary"),
]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("name, kwargs, kind", METRIC_CASES,
                         ids=[f"{n}-{k}-{d}" for n, k, d in METRIC_CASES])
def test_results_match_keras_batch_by_batch(name, kwargs, kind, weighted):
    rng = np.random.default_rng(RNG_SEED)
    ours, theirs = getattr(sn.metrics, name)(**kwargs), getattr(keras.metrics, name)(**kwargs)
    for n in (5, 8, 3):
        y, p = _data(kind, rng, n)
        per_pixel = kind == "segmentation"  # IoU flattens the ids: one weight for each
        w = rng.uniform(0, 3, y.shape if per_pixel else n).astype("f4") if weighted else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # IoU: "float weights with an int dtype" (tests/)
            ours.update_state(y, p, sample_weight=w)
            theirs.update_state(y, p, sample_weight=w)
        assert_close(ours.result(), np.asarray(theirs.result()), FORWARD_RTOL, f"{name} after a batch")
    ours.reset_state()
    theirs.reset_state()
    if name != "R2Score":  # R2Score's result after reset_state is NaN in both (tests/ checks ours)
        assert_close(ours.result(), np.asarray(theirs.result()), FORWARD_RTOL, f"{name} after reset")
    iou = name in ("IoU", "MeanIoU", "BinaryIoU")
    config = {k: v for k, v in theirs.get_config().items() if k != "dtype" or iou}
    if iou:  # Keras numbers a second unnamed IoU "io_u_1"; scratchnet keeps "io_u"
        config["name"] = config["name"].rsplit("_", 1)[0] if config["name"][-1].isdigit() \
            else config["name"]
    assert ours.get_config() == config


def test_sum_matches_keras():
    rng = np.random.default_rng(RNG_SEED)
    ours, theirs = sn.metrics.Sum(), keras.metrics.Sum()
    for shape in ((5,), (4, 3), (6, 2, 2)):
        values, w = rng.standard_normal(shape).astype("f4"), rng.uniform(0, 2, shape[0]).astype("f4")
        ours.update_state(values, sample_weight=w)
        theirs.update_state(values, sample_weight=w)
        ours.update_state(values)
        theirs.update_state(values)
        assert_close(ours.result(), float(theirs.result()), FORWARD_RTOL, "Sum")


@pytest.mark.parametrize("name", ["top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy",
                                  "root_mean_squared_error", "mape", "MSLE", "log_cosh_error",
                                  "cosine_similarity", "kl_divergence", "poisson", "hinge",
                                  "squared_hinge", "categorical_hinge", "r2_score", "f1_score",
                                  "f_beta_score", "binary_io_u", "LogCoshError", "R2Score"])
def test_names_resolve_to_the_same_class_as_keras_metrics_get(name):
    assert type(sn.metrics.get(name, "mse", 3)).__name__ == type(keras.metrics.get(name)).__name__


# ----------------------------------------------------------------------------- compiled models
def _model(units, activation, seed=3):
    return sn.Sequential([L.Input((4,)), L.Dense(6, activation="tanh"),
                          L.Dense(units, activation=activation)], seed=seed)


def _fit_cases():
    """Unnamed IoU objects would log as "mean_io_u_1" and so on in Keras (a global counter), so
    they get names here."""
    rng = np.random.default_rng(RNG_SEED)
    x = rng.standard_normal((14, 4)).astype("f4")
    classes = rng.integers(0, 5, 14)
    return [
        ("regression", 3, None, "mse", rng.standard_normal((14, 3)).astype("f4"),
         lambda m: ["root_mean_squared_error", "mape", "log_cosh_error", m.R2Score(),
                    m.CosineSimilarity(name="cos"), "msle",
                    m.R2Score(class_aggregation=None, name="r2_columns")], x),
        ("onehot", 5, "softmax", "categorical_crossentropy", np.eye(5, dtype="f4")[classes],
         lambda m: [m.TopKCategoricalAccuracy(k=2, name="top2"), "top_k_categorical_accuracy",
                    m.F1Score(average="macro"), "f1_score", "categorical_hinge", m.KLDivergence(),
                    m.MeanIoU(num_classes=5, sparse_y_true=False, sparse_y_pred=False,
                              name="miou")], x),
        ("sparse", 5, "softmax", "sparse_categorical_crossentropy", classes,
         lambda m: [m.SparseTopKCategoricalAccuracy(k=2, name="top2"),
                    "sparse_top_k_categorical_accuracy"], x),
        ("binary", 1, "sigmoid", "binary_crossentropy",
         rng.integers(0, 2, (14, 1)).astype("f4"),
         lambda m: ["hinge", "squared_hinge", m.BinaryIoU(threshold=0.4, name="biou"), "poisson",
                    m.F1Score(average="micro", threshold=0.5), m.FBetaScore(beta=2.0,
                                                                            average="weighted")], x),
    ]


@pytest.mark.filterwarnings("ignore:.*passing weight as `float`, but dtype is `int`")  # both warn
@pytest.mark.parametrize("case", _fit_cases(), ids=lambda c: c[0])
def test_fit_history_and_weighted_evaluate_match_keras(case):
    _, units, activation, loss, y, make_metrics, x = case
    model = _model(units, activation)
    twins = make_twins(model, loss=loss, optimizer=sn.optimizers.SGD(0.1),
                       metrics=make_metrics(sn.metrics))
    kmodel = twins.keras
    assert [m["class_name"] for m in kmodel.get_compile_config()["metrics"] if isinstance(m, dict)] \
        == [type(m).__name__ for m in make_metrics(sn.metrics) if not isinstance(m, str)]
    history_s = model.fit(x, y, batch_size=5, epochs=2, shuffle=False, verbose=0).history
    history_k = kmodel.fit(x, y, batch_size=5, epochs=2, shuffle=False, verbose=0).history
    assert set(history_s) == set(history_k)
    for key in history_k:
        assert_close(history_s[key], history_k[key], FORWARD_RTOL, f"history[{key!r}]")

    # weighted_metrics see the sample weights; the same metrics unweighted do not
    w = np.random.default_rng(1).uniform(0, 2, len(x)).astype("f4")
    model.compile(optimizer=sn.optimizers.SGD(0.1), loss=loss, metrics=make_metrics(sn.metrics),
                  weighted_metrics=make_metrics(sn.metrics))
    kmodel.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss, metrics=make_metrics(keras.metrics),
                   weighted_metrics=make_metrics(keras.metrics), jit_compile=False)
    logs_s = model.evaluate(x, y, sample_weight=w, batch_size=4, verbose=0, return_dict=True)
    logs_k = kmodel.evaluate(x, y, sample_weight=w, batch_size=4, verbose=0, return_dict=True)
    assert set(logs_s) == set(logs_k)
    for key in logs_k:
        assert_close(logs_s[key], logs_k[key], FORWARD_RTOL, f"evaluate()[{key!r}]")


# ----------------------------------------------------------------------------- conversion, saving
ALL_OBJECTS = [
    sn.metrics.TopKCategoricalAccuracy(k=3, name="top3"), sn.metrics.SparseTopKCategoricalAccuracy(),
    sn.metrics.SparseTopKCategoricalAccuracy(k=2, from_sorted_ids=True),
    sn.metrics.RootMeanSquaredError(), sn.metrics.MeanAbsolutePercentageError(),
    sn.metrics.MeanSquaredLogarithmicError(), sn.metrics.LogCoshError(), sn.metrics.CosineSimilarity(),
    sn.metrics.KLDivergence(), sn.metrics.Poisson(), sn.metrics.Hinge(), sn.metrics.SquaredHinge(),
    sn.metrics.CategoricalHinge(), sn.metrics.R2Score(class_aggregation=None, num_regressors=1),
    sn.metrics.F1Score(average="weighted", threshold=0.4), sn.metrics.FBetaScore(beta=0.5),
    sn.metrics.IoU(num_classes=3, target_class_ids=[1]), sn.metrics.MeanIoU(num_classes=3),
    sn.metrics.MeanIoU(num_classes=3, dtype="float32", ignore_class=0, sparse_y_true=False),
    sn.metrics.BinaryIoU(target_class_ids=[1], threshold=0.3),
]


@pytest.mark.parametrize("metric", ALL_OBJECTS, ids=lambda m: f"{type(m).__name__}-{m.name}")
def test_metric_objects_convert_both_ways(metric):
    model = _model(3, "softmax")
    model.compile(optimizer="sgd", loss="mse", metrics=[metric])
    kmodel = tfnet.to_keras(model)
    compiled = kmodel.get_compile_config()["metrics"][0]
    assert compiled["class_name"] == type(metric).__name__
    expected = {**metric.get_config(), "dtype": compiled["config"]["dtype"]}
    assert compiled["config"] == expected
    back = tfnet.from_keras(kmodel).metric_names[0]
    assert type(back) is type(metric) and back.get_config() == metric.get_config()


def test_metric_names_convert_both_ways():
    names = ["top_k_categorical_accuracy", "root_mean_squared_error", "mape", "log_cosh_error",
             "r2_score", "kl_divergence", "squared_hinge", "binary_io_u"]
    model = _model(3, "softmax")
    model.compile(optimizer="sgd", loss="mse", metrics=names)
    kmodel = tfnet.to_keras(model)
    assert kmodel.get_compile_config()["metrics"] == names
    assert tfnet.from_keras(kmodel).metric_names == names


def _saved_model():
    model = sn.Sequential([L.Input((4,)), L.Dense(5, activation="tanh"),
                           L.Dense(3, activation="softmax")], seed=5, name="more_metrics")
    model.compile(optimizer=sn.optimizers.SGD(0.1), loss="categorical_crossentropy",
                  metrics=["top_k_categorical_accuracy", sn.metrics.TopKCategoricalAccuracy(k=1),
                           "root_mean_squared_error", sn.metrics.F1Score(average="macro"),
                           sn.metrics.R2Score(), "kl_divergence", "log_cosh_error",
                           sn.metrics.MeanIoU(num_classes=3, sparse_y_true=False,
                                              sparse_y_pred=False),
                           sn.metrics.IoU(num_classes=3, target_class_ids=[0, 2], dtype="float32",
                                          sparse_y_true=False, sparse_y_pred=False, name="iou02")],
                  weighted_metrics=[sn.metrics.CategoricalHinge(), "mape",
                                    sn.metrics.FBetaScore(beta=2.0, average="micro")])
    rng = np.random.default_rng(4)
    x = rng.standard_normal((12, 4)).astype("f4")
    y = np.eye(3, dtype="f4")[rng.integers(0, 3, 12)]
    return model, x, y, rng.uniform(0, 2, 12).astype("f4")


def test_keras_files_with_the_new_metrics_go_across_both_ways(tmp_path):
    model, x, y, w = _saved_model()
    model.save(tmp_path / "m.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kmodel = keras.models.load_model(tmp_path / "m.keras")
    expected = model.evaluate(x, y, sample_weight=w, batch_size=5, verbose=0, return_dict=True)
    got = kmodel.evaluate(x, y, sample_weight=w, batch_size=5, verbose=0, return_dict=True)
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert_close(value, got[key], FORWARD_RTOL, f"evaluate()[{key!r}] after loading in Keras")

    kmodel.save(tmp_path / "k.keras")
    loaded = sn.load_model(tmp_path / "k.keras")
    assert [m if isinstance(m, str) else (type(m).__name__, m.get_config())
            for m in loaded.metric_names] == \
        [m if isinstance(m, str) else (type(m).__name__, m.get_config()) for m in model.metric_names]
    again = loaded.evaluate(x, y, sample_weight=w, batch_size=5, verbose=0, return_dict=True)
    for key, value in expected.items():
        assert_close(again[key], value, 1e-6, f"evaluate()[{key!r}] after the round trip")
