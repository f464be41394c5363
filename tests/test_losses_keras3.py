"""Keras 3's losses in scratchnet alone: BinaryCrossentropy, MeanAbsoluteError, Huber, label
smoothing; golden values (Keras 3.15.1's docstring examples and hand-computed cases), float64
finite differences of every backward, Keras' string names and the sigmoid-logits rule."""

import numpy as np
import pytest

import scratchnet as sn
from scratchnet import losses
from tests.gradcheck import REL_TOL, numeric_grad, rel_error

L = sn.layers


# ----------------------------------------------------------------------------- golden values
def test_binary_crossentropy_golden_values():
    """Keras' docstring example: per-sample [0.916, 0.714]; Keras 3.15.1 prints 0.91629076,
    0.7135582 and reduces them to 0.8149245."""
    y = np.array([[0, 1], [0, 0]], "f4")
    p = np.array([[0.6, 0.4], [0.4, 0.6]], "f4")
    bce = losses.BinaryCrossentropy()
    np.testing.assert_allclose(bce.forward(*bce.check(y, p)), [0.91629076, 0.7135582], rtol=1e-6)
    assert bce(y, p) == pytest.approx(0.8149245, rel=1e-6)
    # label_smoothing=0.2: targets 0.1 and 0.9 (Keras: 0.7946512)
    assert losses.BinaryCrossentropy(label_smoothing=0.2)(y, p) == pytest.approx(0.7946512, rel=1e-6)


def test_binary_crossentropy_clips_probabilities_in_float32_like_keras():
    """p = 0 against 1 and p = 1 against 0: -log(1e-7) = 16.118 and -log(1 - 0.99999988) =
    15.942 in float32 (1 - 1e-7 rounds to 0.99999988): Keras 3.15.1 gives 16.03024."""
    bce = losses.BinaryCrossentropy()
    assert bce(np.array([[1.0, 0.0]], "f4"), np.array([[0.0, 1.0]], "f4")) == pytest.approx(
        16.03024, rel=1e-6)
    y, p = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])
    np.testing.assert_array_equal(bce.backward(y, p), np.zeros((1, 2)))  # the clip was active


def test_binary_crossentropy_from_logits_is_exact_at_extreme_logits():
    """z = 40 against 0 is 40 (not the clipped 16.1); z = 0 and 2 against 0 give
    (log 2 + 2 + log(1 + e^-2)) / 2 = 1.4100376 (Keras 3.15.1)."""
    bce = losses.BinaryCrossentropy(from_logits=True)
    y = np.array([[0, 1], [0, 0]], "f4")
    z = np.array([[40.0, -40.0], [0.0, 2.0]], "f4")
    np.testing.assert_allclose(bce.forward(y, z), [40.0, 1.4100376], rtol=1e-6)
    expected = (1 / (1 + np.exp(-z.astype("f8"))) - y) / 4
    np.testing.assert_allclose(bce.backward(y, z), expected, rtol=1e-6)


def test_mean_absolute_error_and_huber_golden_values():
    # Keras' docstring examples: MAE 0.5666667, Huber 0.155.
    mae = losses.MeanAbsoluteError()
    assert mae(np.array([[1.0, 0.3, 1.0]]), np.array([[1.9, 0.3, 1.8]])) == pytest.approx(0.5666667)
    huber = losses.Huber()
    assert huber(np.array([[0, 1], [0, 0]]), np.array([[0.6, 0.4], [0.4, 0.6]])) == pytest.approx(0.155)
    # delta = 0.5, errors 0.2 and -2: (0.5 * 0.04 + (0.5 * 2 - 0.125)) / 2 = 0.4475
    assert losses.Huber(delta=0.5)(np.array([[0.0, 3.0]]), np.array([[0.2, 1.0]])) == pytest.approx(0.4475)
    np.testing.assert_allclose(losses.Huber(delta=0.5).backward(np.array([[0.0, 3.0]]),
                                                                np.array([[0.2, 1.0]])),
                               [[0.2 / 2, -0.5 / 2]])


def test_categorical_crossentropy_label_smoothing_golden_value():
    """s = 0.3 over 3 classes: targets [0.1, 0.8, 0.1]; Keras 3.15.1 gives 0.6765423."""
    cce = losses.CategoricalCrossentropy(label_smoothing=0.3)
    value = cce(np.array([[0, 1, 0]]), np.array([[0.2, 0.7, 0.1]]))
    assert value == pytest.approx(-(0.1 * np.log(0.2) + 0.8 * np.log(0.7) + 0.1 * np.log(0.1)))
    assert value == pytest.approx(0.6765423, rel=1e-6)


def test_sample_weight_reduces_as_keras_sum_over_batch_size():
    """sum(l * w) / N, not / sum(w)."""
    y = np.array([[0, 1], [0, 0]], "f4")
    p = np.array([[0.6, 0.4], [0.4, 0.6]], "f4")
    value = losses.BinaryCrossentropy()(y, p, sample_weight=np.array([1.0, 0.5]))
    assert value == pytest.approx((0.91629076 + 0.5 * 0.7135582) / 2, rel=1e-6)


# ----------------------------------------------------------------------------- gradients
def _targets(kind, rng, shape):
    if kind == "binary":
        return rng.integers(0, 2, size=shape).astype(float)
    if kind == "soft":
        return rng.uniform(0, 1, size=shape)
    if kind == "onehot":
        return np.eye(shape[-1])[rng.integers(0, shape[-1], size=shape[:-1])]
    return rng.standard_normal(shape)


GRAD_CASES = [
    (losses.BinaryCrossentropy(), "binary", "probabilities"),
    (losses.BinaryCrossentropy(), "soft", "probabilities"),
    (losses.BinaryCrossentropy(label_smoothing=0.1), "binary", "probabilities"),
    (losses.BinaryCrossentropy(from_logits=True), "soft", "logits"),
    (losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.3), "binary", "logits"),
    (losses.CategoricalCrossentropy(label_smoothing=0.2), "onehot", "probabilities"),
    (losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2), "onehot", "logits"),
    (losses.MeanAbsoluteError(), "real", "logits"),
    (losses.Huber(), "real", "logits"),
    (losses.Huber(delta=0.3), "real", "logits"),
]


@pytest.mark.parametrize("shape", [(5, 3), (4, 2, 3), (6, 1)])
@pytest.mark.parametrize("loss, targets, inputs", GRAD_CASES,
                         ids=[f"{c[0].name}-{c[0].get_config()}-{c[1]}" for c in GRAD_CASES])
def test_backward_is_the_gradient_of_the_mean(loss, targets, inputs, shape, rng):
    """float64 central differences; probabilities stay away from the clip bounds, and errors
    away from the kinks of |e| (MAE) and |e| = delta (Huber)."""
    if inputs == "probabilities":
        y_pred = rng.uniform(0.05, 0.95, size=shape)
    else:
        y_pred = rng.standard_normal(shape) * 2
    y, y_pred = loss.check(_targets(targets, rng, shape), y_pred)
    if loss.name in ("mean_absolute_error", "huber"):
        e = y_pred - y
        delta = getattr(loss, "delta", 0.0)
        y_pred = np.where(np.abs(np.abs(e) - delta) < 1e-3, y_pred + 0.01, y_pred)
    analytic = loss.backward(y, y_pred)
    assert analytic.shape == y_pred.shape
    assert loss.forward(y, y_pred).shape == y_pred.shape[:-1]
    numeric = numeric_grad(lambda: float(np.mean(loss.forward(y, y_pred))), y_pred)
    assert rel_error(analytic, numeric) < REL_TOL


@pytest.mark.parametrize("last, loss", [
    ("sigmoid", losses.BinaryCrossentropy()),  # reads the sigmoid's logits (Keras' rule)
    ("softmax", losses.BinaryCrossentropy(label_smoothing=0.1)),  # the softmax's, as sigmoid logits
    ("sigmoid", losses.BinaryCrossentropy(from_logits=True)),
    (None, losses.MeanAbsoluteError()),
    ("tanh", losses.Huber(delta=0.5)),
])
def test_whole_model_gradients_in_float64(last, loss, rng):
    sn.config.set_floatx("float64")
    model = sn.Sequential([L.Input((4,)), L.Dense(5, activation="tanh"), L.Dense(3, activation=last)],
                          seed=0)
    model.compile(optimizer="sgd", loss=loss)
    x = rng.standard_normal((6, 4))
    y = rng.integers(0, 2, size=(6, 3)).astype(float)
    _, grads = model.loss_and_grads(x, y)
    for p, g in zip(model.params, grads, strict=True):
        numeric = numeric_grad(lambda: model.loss_and_grads(x, y)[0], p.value)
        assert rel_error(g, numeric) < REL_TOL, p.name


# ----------------------------------------------------------------------------- the logits rule
@pytest.mark.parametrize("loss", [losses.BinaryCrossentropy(), losses.BinaryCrossentropy(
    label_smoothing=0.2), losses.CategoricalCrossentropy(label_smoothing=0.1)])
def test_logits_twin_keeps_label_smoothing(loss):
    twin = loss.logits_twin()
    assert type(twin) is type(loss) and twin.from_logits
    assert twin.label_smoothing == loss.label_smoothing
    assert twin.logits_twin().get_config() == twin.get_config()  # from_logits=True reads them too


@pytest.mark.parametrize("activation", ["softmax", "sigmoid"])
@pytest.mark.parametrize("loss, y", [
    (losses.SparseCategoricalCrossentropy(from_logits=True), np.array([1])),
    (losses.CategoricalCrossentropy(from_logits=True), np.array([[0.0, 1.0]])),
])
def test_from_logits_true_after_a_final_softmax_or_sigmoid_still_reads_the_logits(activation, loss, y):
    """Keras 3.15.1 warns ("received from_logits=True, but the output argument was produced by a
    ... activation") and reads the logits z = [3.25, 0]: logsumexp(z) - z_1 = 3.288041, not the
    softmax cross-entropy of the probabilities (1.259 after softmax, 0.951 after sigmoid)."""
    model = sn.Sequential([L.Input((2,)), L.Dense(2, activation=activation, use_bias=False)], seed=0)
    model.set_weights([np.array([[3.0, -1.0], [0.5, 2.0]], "f4")])
    model.compile(optimizer="sgd", loss=loss)
    assert model.evaluate(np.array([[1.0, 0.5]], "f4"), y, verbose=0) == pytest.approx(3.288041, rel=1e-6)


@pytest.mark.parametrize("loss", [losses.MeanAbsoluteError(), losses.Huber(), losses.MeanSquaredError()])
def test_regression_losses_have_no_logits_twin(loss):
    assert loss.logits_twin() is None


def test_final_sigmoid_with_binary_crossentropy_reads_the_logits():
    """z = +-40 with the wrong label: Keras' loss is 40 (sigmoid logits), not the clipped
    16.03; and the gradient with respect to z is sigmoid(z) - y, not 0 (the clip's)."""
    model = sn.Sequential([L.Input((1,)), L.Dense(2, activation="sigmoid", use_bias=False)], seed=0)
    model.set_weights([np.array([[40.0, -40.0]], "f4")])
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    x, y = np.array([[1.0]], "f4"), np.array([[0.0, 1.0]], "f4")
    loss, grads = model.loss_and_grads(x, y)
    assert loss == pytest.approx(40.0, rel=1e-6)
    np.testing.assert_allclose(grads[0], [[0.5, -0.5]], rtol=1e-6)  # x (sigmoid(z) - y) / 2
    assert model.evaluate(x, y, verbose=0) == pytest.approx(40.0, rel=1e-6)
    plain = sn.Sequential([L.Input((1,)), L.Dense(2, use_bias=False), L.Activation("sigmoid")], seed=0)
    plain.set_weights(model.get_weights())
    plain.compile(optimizer="sgd", loss="bce")  # an Activation layer is tagged the same way
    assert plain.evaluate(x, y, verbose=0) == pytest.approx(40.0, rel=1e-6)


def test_binary_labels_as_a_vector_for_one_output_unit():
    """Keras expands y of shape (N,) to (N, 1) for an (N, 1) output; so does check."""
    model = sn.Sequential([L.Input((3,)), L.Dense(1, activation="sigmoid")], seed=0)
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).standard_normal((8, 3)).astype("f4")
    y = np.array([0, 1, 1, 0, 1, 0, 0, 1])
    assert model.evaluate(x, y, verbose=0) == pytest.approx(model.evaluate(x, y[:, None], verbose=0))


# ----------------------------------------------------------------------------- names and errors
KERAS_NAMES = {
    "binary_crossentropy": losses.BinaryCrossentropy, "BinaryCrossentropy": losses.BinaryCrossentropy,
    "bce": losses.BinaryCrossentropy, "BCE": losses.BinaryCrossentropy,
    "categorical_crossentropy": losses.CategoricalCrossentropy,
    "CategoricalCrossentropy": losses.CategoricalCrossentropy,
    "sparse_categorical_crossentropy": losses.SparseCategoricalCrossentropy,
    "SparseCategoricalCrossentropy": losses.SparseCategoricalCrossentropy,
    "mean_squared_error": losses.MeanSquaredError, "MeanSquaredError": losses.MeanSquaredError,
    "mse": losses.MeanSquaredError, "MSE": losses.MeanSquaredError,
    "mean_absolute_error": losses.MeanAbsoluteError, "MeanAbsoluteError": losses.MeanAbsoluteError,
    "mae": losses.MeanAbsoluteError, "MAE": losses.MeanAbsoluteError,
    "huber": losses.Huber, "Huber": losses.Huber,
}


@pytest.mark.parametrize("name", sorted(KERAS_NAMES))
def test_names_resolve_as_keras_losses_get(name):
    loss = losses.get(name)
    assert type(loss) is KERAS_NAMES[name]
    assert loss.get_config() == KERAS_NAMES[name]().get_config()  # Keras' defaults


def test_defaults_are_keras_defaults():
    assert losses.BinaryCrossentropy().get_config() == {"from_logits": False, "label_smoothing": 0.0}
    assert losses.CategoricalCrossentropy().get_config() == {"from_logits": False,
                                                             "label_smoothing": 0.0}
    assert losses.Huber().get_config() == {"delta": 1.0}


def test_unknown_loss_lists_the_valid_names():
    with pytest.raises(ValueError, match="unknown loss 'no_such_loss'") as info:
        losses.get("no_such_loss")
    for name in ("binary_crossentropy", "huber", "mae", "MeanAbsoluteError"):
        assert repr(name) in str(info.value)


@pytest.mark.parametrize("make, words", [
    (lambda: losses.BinaryCrossentropy(label_smoothing=1.5), ["BinaryCrossentropy", "label_smoothing",
                                                              "[0, 1]", "1.5"]),
    (lambda: losses.CategoricalCrossentropy(label_smoothing=-0.1), ["CategoricalCrossentropy",
                                                                    "-0.1"]),
    (lambda: losses.Huber(delta=-1), ["Huber", "delta", ">= 0", "-1"]),
    (lambda: losses.Huber(delta="1"), ["Huber", "delta", "'1'"]),
])
def test_bad_arguments_say_which_and_what(make, words):
    with pytest.raises(ValueError) as info:
        make()
    for word in words:
        assert word in str(info.value)


def test_bad_targets_are_rejected():
    bce = losses.BinaryCrossentropy()
    with pytest.raises(ValueError, match=r"binary_crossentropy: expected targets of shape \(2, 3\)"):
        bce(np.zeros((2, 2)), np.full((2, 3), 0.5))
    with pytest.raises(TypeError, match="numeric targets"):
        losses.Huber()(np.array([["a"]]), np.zeros((1, 1)))
    with pytest.raises(ValueError, match="NaN"):
        losses.MeanAbsoluteError()(np.array([[np.nan]]), np.zeros((1, 1)))


@pytest.mark.parametrize("loss", [losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1),
                                  losses.CategoricalCrossentropy(label_smoothing=0.2),
                                  losses.MeanAbsoluteError(), losses.Huber(delta=2.5)])
def test_serialize_round_trip(loss):
    back = losses.deserialize(losses.serialize(loss))
    assert type(back) is type(loss) and back.get_config() == loss.get_config()


def test_old_categorical_crossentropy_configs_still_load():
    back = losses.deserialize({"name": "categorical_crossentropy", "config": {"from_logits": True}})
    assert back.from_logits and back.label_smoothing == 0.0


# ----------------------------------------------------------------------------- on "the device"
@pytest.fixture
def fake_gpu_backend(monkeypatch):
    """tests/fake_gpu.py's stand-in for CuPy, as tests/test_gpu_plumbing.py installs it."""
    from tests import fake_gpu

    fake_gpu.install(monkeypatch)


@pytest.mark.parametrize("last, loss", [
    ("sigmoid", losses.BinaryCrossentropy(label_smoothing=0.1)),
    (None, losses.BinaryCrossentropy(from_logits=True)),
    ("sigmoid", losses.MeanAbsoluteError()),
    (None, losses.Huber(delta=0.5)),
    ("softmax", losses.CategoricalCrossentropy(label_smoothing=0.2)),
], ids=lambda v: getattr(v, "name", str(v)))
def test_new_losses_and_metrics_run_on_the_device_as_on_the_host(fake_gpu_backend, last, loss):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 4)).astype("f4")
    y = np.eye(3, dtype="f4")[rng.integers(0, 3, 6)]

    def run():
        model = sn.Sequential([L.Input((4,)), L.Dense(3, activation=last)], seed=0)
        model.compile(optimizer="sgd", loss=loss, metrics=["acc", "mae", "precision", "recall"])
        return model.loss_and_grads(x, y), model.evaluate(x, y, batch_size=4, verbose=0), model

    (value, grads), evaluated, model = run()
    from tests.fake_gpu import FakeGPUArray

    assert all(isinstance(p.value, FakeGPUArray) for p in model.params)
    assert all(type(g) is np.ndarray for g in grads)
    sn.set_backend("numpy")
    (ref_value, ref_grads), ref_evaluated, _ = run()
    assert value == pytest.approx(ref_value, rel=1e-6)
    for g, r in zip(grads, ref_grads, strict=True):
        np.testing.assert_allclose(g, r, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(evaluated, ref_evaluated, rtol=1e-6)
