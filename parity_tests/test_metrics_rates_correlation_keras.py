"""SensitivityAtSpecificity, SpecificityAtSensitivity, PrecisionAtRecall, RecallAtPrecision,
PearsonCorrelation and ConcordanceCorrelation against Keras 3.15.1: results after two batches (with
and without sample weights, with class_id, with 1, 7 and 200 thresholds, predictions of exactly 0,
0.5 and 1) equal Keras' to 1e-6 absolute (rates of float32 counts), and so do the counts (see the
test for the weighted sums' bound); configs, default names and conversion both ways; and the
value a compiled model logs after evaluate."""

import keras
import numpy as np
import pytest

import scratchnet as sn
import tfnet

M = sn.metrics
RATES = [("SensitivityAtSpecificity", 0.5), ("SpecificityAtSensitivity", 0.7),
         ("PrecisionAtRecall", 0.4), ("RecallAtPrecision", 0.5), ("RecallAtPrecision", 0.99)]
OPTIONS = [{}, {"num_thresholds": 7}, {"class_id": 1}, {"num_thresholds": 1}]


def _batches(seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random((50, 3)) > 0.6).astype(np.float32)
    p = rng.random((50, 3)).astype(np.float32)
    p[0, 0], p[1, 1], p[2, 2] = 0.0, 1.0, 0.5  # on the thresholds
    return y, p, rng.random(50).astype(np.float32)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("options", OPTIONS,
                         ids=lambda o: "-".join(f"{k}{v}" for k, v in o.items()) or "default")
@pytest.mark.parametrize("name, value", RATES, ids=[f"{n}{v}" for n, v in RATES])
def test_rate_at_rate_equals_keras(name, value, options, weighted):
    y, p, w = _batches()
    ours, theirs = getattr(M, name)(value, **options), getattr(keras.metrics, name)(value, **options)
    for metric in (ours, theirs):
        metric.update_state(y, p, sample_weight=w if weighted else None)
        metric.update_state(y[:20], p[:20] * 0.9)
    assert ours.result() == pytest.approx(float(theirs.result()), abs=1e-6)
    # Unweighted counts are whole numbers, equal exactly. Weighted ones are float32 sums of up to
    # 70 weights below 1 that TensorFlow adds in its own order (and FN = total - TP): they may
    # differ by about 70 * 2**-24 * 35 = 1.5e-4 (a count near 0 may even come out -2e-6).
    atol = 2e-4 if weighted else 0.0
    for counts in ("true_positives", "false_positives", "true_negatives", "false_negatives"):
        np.testing.assert_allclose(getattr(ours, counts), np.asarray(getattr(theirs, counts)),
                                   rtol=1e-6, atol=atol)


@pytest.mark.parametrize("name", ["PearsonCorrelation", "ConcordanceCorrelation"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_correlations_equal_keras(name, weighted):
    rng = np.random.default_rng(1)
    y, p, w = rng.normal(size=(8, 5)), rng.normal(size=(8, 5)), rng.random(8)
    ours, theirs = getattr(M, name)(), getattr(keras.metrics, name)()
    for metric in (ours, theirs):
        metric.update_state(y, p, sample_weight=w if weighted else None)
        metric.update_state(2 * y, p + 1)
    assert ours.result() == pytest.approx(float(theirs.result()), rel=1e-5)


def test_correlation_along_a_batch_of_single_values_is_nan_as_in_keras():
    """(N,) targets against (N, 1) predictions become (N, 1) each: one value per row, whose
    standard deviation is 0; Keras reports NaN (Pearson) and 0 (Concordance), and so does
    scratchnet."""
    rng = np.random.default_rng(2)
    y, p = rng.normal(size=(8,)), rng.normal(size=(8, 1))
    for name in ("PearsonCorrelation", "ConcordanceCorrelation"):
        ours, theirs = getattr(M, name)(), getattr(keras.metrics, name)()
        ours.update_state(y, p)
        theirs.update_state(y, p)
        np.testing.assert_array_equal(ours.result(), float(theirs.result()))


@pytest.mark.parametrize("make, kmake", [
    (lambda: M.SensitivityAtSpecificity(0.3, num_thresholds=50, class_id=2),
     lambda: keras.metrics.SensitivityAtSpecificity(0.3, num_thresholds=50, class_id=2)),
    (lambda: M.RecallAtPrecision(0.8), lambda: keras.metrics.RecallAtPrecision(0.8)),
    (lambda: M.PearsonCorrelation(), lambda: keras.metrics.PearsonCorrelation()),
    (lambda: M.ConcordanceCorrelation(name="ccc"), lambda: keras.metrics.ConcordanceCorrelation(name="ccc")),
])
def test_configs_names_and_conversion(make, kmake):
    ours, theirs = make(), kmake()
    kconfig = theirs.get_config()
    for key, value in ours.get_config().items():
        if key != "name":
            assert kconfig[key] == value, key
    assert ours.name == theirs.name.rstrip("_0123456789") or ours.name == theirs.name
    back = tfnet.convert._metric_from_keras(tfnet.convert._metric_to_keras(ours))
    assert type(back) is type(ours) and back.get_config() == ours.get_config()


def test_a_compiled_model_logs_what_keras_logs():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 4)).astype(np.float32)
    y = (x[:, :1] + 0.5 * rng.normal(size=(40, 1)) > 0).astype(np.float32)
    model = sn.Sequential([sn.layers.Input((4,)), sn.layers.Dense(1, activation="sigmoid")], seed=0)
    model.compile(optimizer="sgd", loss="binary_crossentropy",
                  metrics=[M.SensitivityAtSpecificity(0.5, name="sens"),
                           M.PrecisionAtRecall(0.6, num_thresholds=20, name="prec")])
    kmodel = tfnet.to_keras(model)
    ours = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    theirs = kmodel.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    for key in ("sens", "prec"):
        assert ours[key] == pytest.approx(theirs[key], abs=1e-6), key
