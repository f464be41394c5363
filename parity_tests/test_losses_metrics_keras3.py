"""Keras 3's losses and metrics: scratchnet against Keras 3.15.1 on the same float32 arrays.

Losses: the per-sample values (Keras' ``reduction=None``) and the reduced loss to
``FORWARD_RTOL``, and the gradient of the reduced loss with respect to the prediction
(``tf.GradientTape`` on the Keras loss object) to ``GRAD_RTOL``, each relative to the largest Keras
magnitude (driver.assert_close). Inputs include the clip bounds (p = 0, 1, 1e-8) and extreme
logits (+-40). Whole models go through the driver: the sigmoid-logits rule (a final sigmoid or
softmax with ``BinaryCrossentropy(from_logits=False)``), a few optimizer steps, and losses named
by strings. Metrics: ``result()`` after several batches, with and without ``sample_weight``,
against Keras' metric objects, to ``FORWARD_RTOL`` (Keras accumulates in float32); and the names
Keras logs.
"""

import keras
import numpy as np
import pytest

import scratchnet as sn
import tfnet
from parity_tests.driver import (
    FORWARD_RTOL,
    GRAD_RTOL,
    assert_close,
    check_loss,
    check_loss_and_grads,
    check_trajectory,
    keras_loss,
    make_twins,
)

L = sn.layers
RNG_SEED = 7


def _probabilities(rng, shape):
    p = rng.uniform(0, 1, shape).astype("f4")
    edge = np.array([0.0, 1.0, 1e-8, 1 - 1e-8, 1e-7, 0.5], "f4")
    flat = p.reshape(-1)
    flat[: min(len(edge), flat.size)] = edge[: flat.size]
    return p


def _logits(rng, shape):
    z = (rng.standard_normal(shape) * 4).astype("f4")
    flat = z.reshape(-1)
    edge = np.array([40.0, -40.0, 0.0, 15.0, -15.0], "f4")
    flat[: min(len(edge), flat.size)] = edge[: flat.size]
    return z


SHAPES = [(8, 3), (8, 1), (4, 2, 3)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("loss", [sn.losses.BinaryCrossentropy(),
                                  sn.losses.BinaryCrossentropy(label_smoothing=0.1)],
                         ids=["plain", "smoothed"])
@pytest.mark.parametrize("soft", [False, True], ids=["binary", "soft"])
def test_binary_crossentropy_on_probabilities(loss, shape, soft):
    rng = np.random.default_rng(RNG_SEED)
    y = rng.uniform(0, 1, shape) if soft else rng.integers(0, 2, shape)
    check_loss(loss, y.astype("f4"), _probabilities(rng, shape))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_binary_crossentropy_on_extreme_logits(shape, smoothing):
    rng = np.random.default_rng(RNG_SEED)
    loss = sn.losses.BinaryCrossentropy(from_logits=True, label_smoothing=smoothing)
    check_loss(loss, rng.integers(0, 2, shape).astype("f4"), _logits(rng, shape))


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("smoothing", [0.1, 0.5])
def test_categorical_crossentropy_label_smoothing(from_logits, smoothing):
    rng = np.random.default_rng(RNG_SEED)
    loss = sn.losses.CategoricalCrossentropy(from_logits=from_logits, label_smoothing=smoothing)
    y = np.eye(4, dtype="f4")[rng.integers(0, 4, 8)]
    p = _logits(rng, (8, 4)) if from_logits else rng.uniform(0.01, 1, (8, 4)).astype("f4")
    check_loss(loss, y, p)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("loss", [sn.losses.MeanAbsoluteError(), sn.losses.Huber(),
                                  sn.losses.Huber(delta=0.3), sn.losses.MeanSquaredError()],
                         ids=lambda loss: f"{loss.name}{loss.get_config()}")
def test_regression_losses(loss, shape):
    """Some predictions equal their target exactly: |e|'s gradient there is 0 in both."""
    rng = np.random.default_rng(RNG_SEED)
    y = (rng.standard_normal(shape) * 2).astype("f4")
    p = (rng.standard_normal(shape) * 2).astype("f4")
    p.reshape(-1)[::5] = y.reshape(-1)[::5]
    check_loss(loss, y, p)


def test_binary_labels_as_a_vector_for_one_output():
    """y of shape (N,) for an (N, 1) prediction: Keras expands it; scratchnet's check too."""
    rng = np.random.default_rng(RNG_SEED)
    y, p = rng.integers(0, 2, 8).astype("f4"), _probabilities(rng, (8, 1))
    check_loss(sn.losses.BinaryCrossentropy(), y, p)


@pytest.mark.parametrize("weights", [np.array([1.0, 0.0, 2.5, 0.5]), np.array([[1.0], [0.0], [2.5],
                                                                                [0.5]])])
@pytest.mark.parametrize("loss", [sn.losses.BinaryCrossentropy(), sn.losses.Huber(),
                                  sn.losses.CategoricalCrossentropy(label_smoothing=0.1)],
                         ids=lambda loss: loss.name)
def test_sample_weight_reduction(loss, weights):
    rng = np.random.default_rng(RNG_SEED)
    y = np.eye(3, dtype="f4")[rng.integers(0, 3, 4)]
    p = rng.uniform(0.05, 0.95, (4, 3)).astype("f4")
    expected = float(keras_loss(loss)(y, p, sample_weight=weights))
    assert_close(loss(y, p, sample_weight=weights), expected, FORWARD_RTOL, "weighted loss")


# ----------------------------------------------------------------------------- whole models
def _model(units, activation, seed=0):
    return sn.Sequential([L.Input((4,)), L.Dense(6, activation="tanh"),
                          L.Dense(units, activation=activation)], seed=seed)


def _saturate(model, scale=40.0):
    """Last-layer weights big enough that some logits reach +-scale (the sigmoid saturates)."""
    weights = model.get_weights()
    weights[-2] = weights[-2] * scale
    model.set_weights(weights)
    return model


@pytest.mark.parametrize("activation", ["sigmoid", "softmax"])
@pytest.mark.parametrize("loss", [sn.losses.BinaryCrossentropy(),
                                  sn.losses.BinaryCrossentropy(label_smoothing=0.1)],
                         ids=["plain", "smoothed"])
def test_final_activation_hands_its_logits_to_binary_crossentropy(activation, loss):
    """Keras' ``_keras_logits`` rule: with saturated outputs and wrong labels, the loss is the
    large logits value, not the clipped -log(1e-7)-sized one; gradients flow (they would be 0
    through the clip)."""
    rng = np.random.default_rng(RNG_SEED)
    x = rng.standard_normal((8, 4)).astype("f4")
    model = _saturate(_model(3, activation))
    y = (model.predict(x) < 0.5).astype("f4")  # every label wrong
    twins = make_twins(model, loss=loss)
    value, grads = check_loss_and_grads(twins, x, y)
    if activation == "sigmoid":  # the same loss read from the probabilities, clipped: far smaller
        assert value > loss(y, model.predict(x)) + 1
    assert all(np.any(g != 0) for g in grads)


@pytest.mark.parametrize("activation", ["sigmoid", "softmax"])
@pytest.mark.parametrize("loss", [sn.losses.BinaryCrossentropy(from_logits=True),
                                  sn.losses.CategoricalCrossentropy(from_logits=True),
                                  sn.losses.SparseCategoricalCrossentropy(from_logits=True)],
                         ids=lambda loss: loss.name)
def test_from_logits_true_after_a_final_activation_still_reads_the_logits(activation, loss):
    """Keras warns and reads the tagged logits even when from_logits=True; so does scratchnet."""
    rng = np.random.default_rng(RNG_SEED)
    x = rng.standard_normal((8, 4)).astype("f4")
    labels = rng.integers(0, 3, 8)
    y = labels if loss.name.startswith("sparse") else np.eye(3, dtype="f4")[labels]
    twins = make_twins(_model(3, activation), loss=loss, optimizer=sn.optimizers.SGD(0.5))
    with pytest.warns(UserWarning, match="from_logits=True"):
        check_loss_and_grads(twins, x, y)
    with pytest.warns(UserWarning, match="from_logits=True"):
        check_trajectory(twins, [(x[:4], y[:4]), (x[4:], y[4:])], steps=3)


def test_one_sigmoid_unit_with_vector_labels_trains_like_keras():
    rng = np.random.default_rng(RNG_SEED)
    x = rng.standard_normal((12, 4)).astype("f4")
    y = rng.integers(0, 2, 12)
    twins = make_twins(_model(1, "sigmoid"), loss="binary_crossentropy",
                       optimizer=sn.optimizers.SGD(0.5))
    check_loss_and_grads(twins, x, y)
    check_trajectory(twins, [(x[:6], y[:6]), (x[6:], y[6:])], steps=6)


@pytest.mark.parametrize("loss, activation, target", [
    (sn.losses.MeanAbsoluteError(), None, "real"),
    (sn.losses.Huber(delta=0.5), None, "real"),
    (sn.losses.BinaryCrossentropy(from_logits=True), None, "binary"),
    (sn.losses.CategoricalCrossentropy(label_smoothing=0.2), "softmax", "onehot"),
], ids=lambda v: getattr(v, "name", str(v)))
def test_losses_through_a_model_and_a_few_steps(loss, activation, target):
    rng = np.random.default_rng(RNG_SEED)
    x = rng.standard_normal((12, 4)).astype("f4")
    y = {"real": rng.standard_normal((12, 3)), "binary": rng.integers(0, 2, (12, 3)),
         "onehot": np.eye(3)[rng.integers(0, 3, 12)]}[target].astype("f4")
    twins = make_twins(_model(3, activation), loss=loss, optimizer=sn.optimizers.SGD(0.1))
    check_loss_and_grads(twins, x, y)
    check_trajectory(twins, [(x[:6], y[:6]), (x[6:], y[6:])], steps=4)


@pytest.mark.parametrize("name", ["bce", "binary_crossentropy", "mae", "MAE", "huber", "Huber",
                                  "mean_absolute_error"])
def test_losses_named_by_strings_in_both_frameworks(name):
    """Keras compiles a function name (``"huber"``) into a LossFunctionWrapper; tfnet.loss_and_grads
    wraps it the same way, so (N,) labels for an (N, 1) output are expanded there too."""
    rng = np.random.default_rng(RNG_SEED)
    x = rng.standard_normal((8, 4)).astype("f4")
    y = rng.integers(0, 2, 8).astype("f4")
    model = _model(1, "sigmoid")
    model.compile(optimizer="sgd", loss=name)
    kmodel = tfnet.to_keras(model)
    kmodel.compile(optimizer="sgd", loss=name)  # the string itself, not the converted object
    loss_s, grads_s = model.loss_and_grads(x, y)
    loss_k, grads_k = tfnet.loss_and_grads(kmodel, x, y)
    assert_close(loss_s, loss_k, FORWARD_RTOL, f"loss {name!r}")
    for g_s, g_k in zip(grads_s, grads_k, strict=True):
        assert_close(g_s, g_k, GRAD_RTOL, f"gradient under loss {name!r}")


def test_loss_and_grads_sample_weight_matches_the_weighted_loss():
    rng = np.random.default_rng(RNG_SEED)
    x = rng.standard_normal((6, 4)).astype("f4")
    y = rng.integers(0, 2, (6, 3)).astype("f4")
    w = rng.uniform(0, 2, 6).astype("f4")
    model = _model(3, None)
    model.compile(optimizer="sgd", loss=sn.losses.BinaryCrossentropy(from_logits=True))
    kmodel = tfnet.to_keras(model)
    loss_k, _ = tfnet.loss_and_grads(kmodel, x, y, sample_weight=w)
    z = model.predict(x)  # a linear output: the logits
    assert_close(sn.losses.BinaryCrossentropy(from_logits=True)(y, z, sample_weight=w), loss_k,
                 FORWARD_RTOL, "weighted loss")


def test_loss_and_grads_returns_dense_arrays_for_an_embedding():
    """An Embedding's gradient is an IndexedSlices; loss_and_grads densifies it (repeated ids
    summed), so every gradient is a plain float32 array of its weight's shape."""
    ids = np.array([[1, 1, 4], [4, 1, 0]])
    y = np.array([0, 1])
    model = sn.Sequential([L.Embedding(6, 3), L.Flatten(), L.Dense(2)], seed=0)
    model.build((3,))
    model.compile("sgd", sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    kmodel = tfnet.to_keras(model)
    _, grads = tfnet.loss_and_grads(kmodel, ids, y)
    for g, w in zip(grads, model.get_weights(), strict=True):
        assert isinstance(g, np.ndarray) and g.dtype == np.float32 and g.shape == w.shape
    _, grads_s = model.loss_and_grads(ids, y)
    assert_close(grads_s[0], grads[0], GRAD_RTOL, "embedding table gradient")
    assert np.all(grads[0][[2, 3, 5]] == 0) and np.any(grads[0][1] != 0)


# ----------------------------------------------------------------------------- metrics
def _batches(kind, rng, n_batches=3):
    out = []
    for n in (5, 8, 3)[:n_batches]:
        if kind == "binary":
            y, p = rng.integers(0, 2, (n, 1)), rng.uniform(0, 1, (n, 1))
        elif kind == "multilabel":
            y, p = rng.integers(0, 2, (n, 4)), rng.uniform(0, 1, (n, 4))
        elif kind == "onehot":
            y, p = np.eye(4)[rng.integers(0, 4, n)], rng.uniform(0, 1, (n, 4))
        elif kind == "sparse":
            y, p = rng.integers(0, 4, n), rng.uniform(0, 1, (n, 4))
        elif kind == "sparse_column":
            y, p = rng.integers(0, 4, (n, 1)), rng.uniform(0, 1, (n, 4))
        else:
            y, p = rng.standard_normal((n, 3)), rng.standard_normal((n, 3))
        out.append((y.astype("f4"), p.astype("f4"), rng.uniform(0, 3, n).astype("f4")))
    return out


METRIC_CASES = [
    (lambda m: m.BinaryAccuracy(), "binary"),
    (lambda m: m.BinaryAccuracy(threshold=0.7), "multilabel"),
    (lambda m: m.CategoricalAccuracy(), "onehot"),
    (lambda m: m.SparseCategoricalAccuracy(), "sparse"),
    (lambda m: m.SparseCategoricalAccuracy(), "sparse_column"),
    (lambda m: m.MeanAbsoluteError(), "real"),
    (lambda m: m.MeanSquaredError(), "real"),
    (lambda m: m.Precision(), "binary"),
    (lambda m: m.Precision(), "multilabel"),
    (lambda m: m.Recall(), "multilabel"),
    (lambda m: m.Precision(thresholds=[0.2, 0.55, 0.9]), "multilabel"),
    (lambda m: m.Recall(thresholds=0.3), "binary"),
    (lambda m: m.Precision(top_k=2), "multilabel"),
    (lambda m: m.Recall(top_k=1), "onehot"),
    (lambda m: m.Precision(class_id=2), "onehot"),
    (lambda m: m.Recall(class_id=1, thresholds=0.4), "multilabel"),
]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("make, kind", METRIC_CASES,
                         ids=[f"{make(sn.metrics).name}-{make(sn.metrics).get_config()}-{kind}"
                              for make, kind in METRIC_CASES])
def test_metric_results_match_keras_over_several_batches(make, kind, weighted):
    rng = np.random.default_rng(RNG_SEED)
    ours, theirs = make(sn.metrics), make(keras.metrics)
    for y, p, w in _batches(kind, rng):
        ours.update(y, p, sample_weight=w if weighted else None)
        theirs.update_state(y, p, sample_weight=w if weighted else None)
        assert_close(ours.result(), np.asarray(theirs.result()), FORWARD_RTOL,
                     f"{ours.name} after a batch")
    ours.reset()
    theirs.reset_state()
    assert_close(ours.result(), np.asarray(theirs.result()), FORWARD_RTOL, f"{ours.name} after reset")


METRIC_NAMES = ["acc", "accuracy", "binary_accuracy", "BinaryAccuracy", "mae", "MAE",
                "mean_absolute_error", "mse", "mean_squared_error", "precision", "recall", "Recall"]


@pytest.mark.parametrize("units, loss", [(1, "binary_crossentropy"), (3, "categorical_crossentropy"),
                                         (3, "sparse_categorical_crossentropy")])
def test_compiled_metrics_log_and_evaluate_like_keras(units, loss):
    """Metric names as Keras logs them, and evaluate's values over several batches."""
    rng = np.random.default_rng(RNG_SEED)
    x = rng.standard_normal((14, 4)).astype("f4")
    labels = rng.integers(0, units if units > 1 else 2, 14)
    y = np.eye(units, dtype="f4")[labels] if loss == "categorical_crossentropy" else labels
    names = METRIC_NAMES
    if loss == "sparse_categorical_crossentropy":  # integer labels: Keras' MAE etc. would broadcast
        names = ["acc", "accuracy", "sparse_categorical_accuracy"]
    model = _model(units, "sigmoid" if units == 1 else "softmax")
    twins = make_twins(model, loss=loss, optimizer=sn.optimizers.SGD(0.0))
    twins.keras.compile(optimizer=keras.optimizers.SGD(0.0), loss=loss, metrics=names)
    model.compile(optimizer=sn.optimizers.SGD(0.0), loss=loss, metrics=names)
    assert_close(model.evaluate(x, y, batch_size=4, verbose=0),
                 twins.keras.evaluate(x, y, batch_size=4, verbose=0), FORWARD_RTOL, "evaluate")
    history_s = model.fit(x, y, batch_size=5, epochs=1, shuffle=False, verbose=0).history
    history_k = twins.keras.fit(x, y, batch_size=5, epochs=1, shuffle=False, verbose=0).history
    assert set(history_s) == set(history_k)
    for key in history_k:
        assert_close(history_s[key], history_k[key], FORWARD_RTOL, f"history[{key!r}]")


# ----------------------------------------------------------------------------- conversion
@pytest.mark.parametrize("loss", [sn.losses.BinaryCrossentropy(),
                                  sn.losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.2),
                                  sn.losses.CategoricalCrossentropy(label_smoothing=0.1),
                                  sn.losses.MeanAbsoluteError(), sn.losses.Huber(delta=2.5)],
                         ids=lambda loss: f"{loss.name}{loss.get_config()}")
def test_new_losses_convert_both_ways(loss):
    model = _model(3, None)
    model.compile(optimizer="sgd", loss=loss)
    kmodel = tfnet.to_keras(model)
    assert type(kmodel.loss).__name__ == type(loss).__name__
    back = tfnet.from_keras(kmodel)
    assert type(back.loss) is type(loss) and back.loss.get_config() == loss.get_config()


def test_metric_names_and_objects_convert_both_ways():
    metrics = ["acc", "mae", "precision", sn.metrics.Recall(thresholds=[0.3, 0.6], name="rec"),
               sn.metrics.BinaryAccuracy(threshold=0.7), sn.metrics.Precision(top_k=1, class_id=0)]
    model = _model(1, "sigmoid")
    model.compile(optimizer="sgd", loss="bce", metrics=metrics)
    kmodel = tfnet.to_keras(model)
    compiled = kmodel.get_compile_config()["metrics"]
    assert compiled[:3] == ["acc", "mae", "precision"]
    assert compiled[3]["class_name"] == "Recall" and compiled[3]["config"]["thresholds"] == [0.3, 0.6]
    assert compiled[4]["config"]["threshold"] == 0.7
    back = tfnet.from_keras(kmodel)
    assert back.metric_names[:3] == ["acc", "mae", "precision"]
    for ours, original in zip(back.metric_names[3:], metrics[3:], strict=True):
        assert type(ours) is type(original) and ours.get_config() == original.get_config()


def test_unmappable_metric_is_named():
    kmodel = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    class HalfMean(keras.metrics.Mean):  # a user's metric: Keras has every built-in one mapped
        pass

    kmodel.compile(optimizer="sgd", loss="mse", metrics=[HalfMean()])
    with pytest.raises(ValueError, match="metric HalfMean has no scratchnet equivalent"):
        tfnet.from_keras(kmodel)
    kmodel.compile(optimizer="sgd", loss="mse",  # AUC maps now (test_keras_course_names.py)
                   metrics=[keras.metrics.AUC(name="prc", curve="PR", thresholds=[0.3, 0.6])])
    auc = tfnet.from_keras(kmodel).metric_names[0]
    assert (type(auc).__name__, auc.name, auc.curve, auc.init_thresholds) == ("AUC", "prc", "PR",
                                                                            [0.3, 0.6])
