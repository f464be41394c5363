"""Keras 3's other losses in scratchnet alone: KLDivergence, Poisson, MeanSquaredLogarithmicError,
MeanAbsolutePercentageError, LogCosh, CosineSimilarity, Hinge, SquaredHinge, CategoricalHinge.

Each per-sample value against the formula written out in float64 by hand, golden values (Keras
3.15.1's docstring examples and cases worked on paper), float64 finite differences of every
backward, the places where Keras' clips and ties decide the gradient, Keras' string names, saving,
and bad input."""

import numpy as np
import pytest

import scratchnet as sn
from scratchnet import losses
from tests.gradcheck import REL_TOL, numeric_grad, rel_error

L = sn.layers
EPS = 1e-7


# ----------------------------------------------------------------------------- float64 formulas
def _kl(y, p):
    y, p = np.clip(y, EPS, 1), np.clip(p, EPS, 1)
    return np.sum(y * np.log(y / p), axis=-1)


def _poisson(y, p):
    return np.mean(p - y * np.log(p + EPS), axis=-1)


def _msle(y, p):
    return np.mean((np.log1p(np.maximum(p, EPS)) - np.log1p(np.maximum(y, EPS))) ** 2, axis=-1)


def _mape(y, p):
    return 100 * np.mean(np.abs(y - p) / np.maximum(np.abs(y), EPS), axis=-1)


def _log_cosh(y, p):
    return np.mean(np.log(np.cosh(p - y)), axis=-1)


def _cosine(y, p):
    dot = np.sum(y * p, axis=-1)
    return -dot / (np.linalg.norm(y, axis=-1) * np.linalg.norm(p, axis=-1))


def _pm1(y):
    return 2 * y - 1 if np.all((y == 0) | (y == 1)) else y


def _hinge(y, p):
    return np.mean(np.maximum(1 - _pm1(y) * p, 0), axis=-1)


def _squared_hinge(y, p):
    return np.mean(np.maximum(1 - _pm1(y) * p, 0) ** 2, axis=-1)


def _categorical_hinge(y, p):
    return np.maximum(np.max((1 - y) * p, axis=-1) - np.sum(y * p, axis=-1) + 1, 0)


def _targets(kind, rng, shape):
    if kind == "prob":
        return rng.uniform(0.05, 1, shape)
    if kind == "counts":
        return rng.integers(0, 5, shape).astype(float)
    if kind == "positive":
        return rng.uniform(0.1, 3, shape)
    if kind == "binary":
        return rng.integers(0, 2, shape).astype(float)
    if kind == "pm1":
        return rng.choice([-1.0, 1.0], shape)
    if kind == "onehot":
        return np.eye(shape[-1])[rng.integers(0, shape[-1], shape[:-1])]
    return rng.standard_normal(shape) * 2


def _predictions(kind, rng, shape):
    if kind in ("prob", "positive"):
        return rng.uniform(0.05, 2, shape) if kind == "positive" else rng.uniform(0.05, 0.95, shape)
    return rng.standard_normal(shape) * 2


# (loss, float64 formula, targets, predictions)
CASES = [
    (losses.KLDivergence(), _kl, "prob", "prob"),
    (losses.Poisson(), _poisson, "counts", "positive"),
    (losses.MeanSquaredLogarithmicError(), _msle, "positive", "positive"),
    (losses.MeanAbsolutePercentageError(), _mape, "real", "real"),
    (losses.LogCosh(), _log_cosh, "real", "real"),
    (losses.CosineSimilarity(), _cosine, "real", "real"),
    (losses.Hinge(), _hinge, "binary", "real"),
    (losses.Hinge(), _hinge, "pm1", "real"),
    (losses.SquaredHinge(), _squared_hinge, "binary", "real"),
    (losses.SquaredHinge(), _squared_hinge, "pm1", "real"),
    (losses.CategoricalHinge(), _categorical_hinge, "onehot", "real"),
]
IDS = [f"{c[0].name}-{c[2]}" for c in CASES]


@pytest.mark.parametrize("shape", [(5, 3), (4, 2, 3), (6, 1)])
@pytest.mark.parametrize("loss, formula, targets, inputs", CASES, ids=IDS)
def test_forward_is_the_formula_in_float64(loss, formula, targets, inputs, shape, rng):
    y, p = loss.check(_targets(targets, rng, shape), _predictions(inputs, rng, shape))
    values = loss.forward(y, p)
    assert values.shape == shape[:-1]
    np.testing.assert_allclose(values, formula(y, p), rtol=1e-12, atol=1e-12)
    assert loss(y, p) == pytest.approx(float(np.mean(formula(y, p))), rel=1e-12)


@pytest.mark.parametrize("shape", [(5, 3), (4, 2, 3)])
@pytest.mark.parametrize("loss, formula, targets, inputs", CASES, ids=IDS)
def test_backward_is_the_gradient_of_the_mean(loss, formula, targets, inputs, shape, rng):
    """float64 central differences, away from the kinks (the hinges' margin 0, MAPE's p = y,
    the categorical hinge's tied maxima), which have tests of their own below."""
    y, p = loss.check(_targets(targets, rng, shape), _predictions(inputs, rng, shape))
    analytic = loss.backward(y, p)
    assert analytic.shape == p.shape and analytic.dtype == p.dtype
    numeric = numeric_grad(lambda: float(np.mean(loss.forward(y, p))), p)
    assert rel_error(analytic, numeric) < REL_TOL


# ----------------------------------------------------------------------------- golden values
def test_keras_docstring_examples():
    # LogCosh: keras.losses.log_cosh([[0., 1.], [0., 0.]], [[1., 1.], [0., 0.]]) -> 0.108
    value = losses.LogCosh()(np.array([[0.0, 1.0], [0.0, 0.0]]), np.array([[1.0, 1.0], [0.0, 0.0]]))
    assert value == pytest.approx(np.log(np.cosh(1.0)) / 4, rel=1e-12)
    assert value == pytest.approx(0.108, abs=5e-4)
    # MeanAbsolutePercentageError: [100, 200, 300] against [90, 210, 310] -> 6.111111
    value = losses.MeanAbsolutePercentageError()(np.array([[100.0, 200.0, 300.0]], "f4"),
                                                 np.array([[90.0, 210.0, 310.0]], "f4"))
    assert value == pytest.approx(6.111111, rel=1e-6)


def test_values_worked_on_paper():
    # KL: y = [0.5, 0.5], p = [0.25, 0.75]: 0.5 log 2 + 0.5 log(2/3) = 0.5 log(4/3)
    assert losses.KLDivergence()(np.array([[0.5, 0.5]]), np.array([[0.25, 0.75]])) == pytest.approx(
        0.5 * np.log(4 / 3), rel=1e-12)
    # Poisson: y = 2, p = 1: 1 - 2 log(1 + 1e-7)
    assert losses.Poisson()(np.array([[2.0]]), np.array([[1.0]])) == pytest.approx(
        1 - 2 * np.log1p(1e-7), rel=1e-12)
    # MSLE: y = e - 1, p = 0: (log 1 - log e)^2 = 1 (p = 0 is raised to 1e-7 first)
    assert losses.MeanSquaredLogarithmicError()(np.array([[np.e - 1]]), np.array([[0.0]])) == \
        pytest.approx((np.log1p(1e-7) - 1) ** 2, rel=1e-12)
    # CosineSimilarity: [1, 0] against [1, 1] is -cos 45 deg; opposite vectors give 1
    cos = losses.CosineSimilarity()
    assert cos(np.array([[1.0, 0.0]]), np.array([[1.0, 1.0]])) == pytest.approx(-np.sqrt(0.5))
    assert cos(np.array([[1.0, 2.0]]), np.array([[-2.0, -4.0]])) == pytest.approx(1.0)
    # Hinge: y = 1, p = 0.3 -> 0.7; y = -1, p = 0.3 -> 1.3; y = 1, p = 2 -> 0
    np.testing.assert_allclose(losses.Hinge().forward(np.array([[1.0], [-1.0], [1.0]]),
                                                      np.array([[0.3], [0.3], [2.0]])),
                               [0.7, 1.3, 0.0])
    # CategoricalHinge: pos = 0.2, neg = max(0.5, 0.3) = 0.5: 0.5 - 0.2 + 1 = 1.3
    assert losses.CategoricalHinge()(np.array([[0.0, 1.0, 0.0]]), np.array([[0.5, 0.2, 0.3]])) == \
        pytest.approx(1.3)


def test_kl_divergence_clips_both_sides_into_eps_1():
    """y = 0 becomes 1e-7 (a tiny term, not 0 * log 0 = NaN); p = 0 becomes 1e-7 and p = 2
    becomes 1; where p was clipped the gradient is 0, at the bounds themselves it is not."""
    kl = losses.KLDivergence()
    y = np.array([[0.0, 1.0, 0.5, 0.25]])
    p = np.array([[0.3, 0.0, 2.0, 1e-7]])
    expected = 1e-7 * np.log(1e-7 / 0.3) + np.log(1 / 1e-7) + 0.5 * np.log(0.5) \
        + 0.25 * np.log(0.25 / 1e-7)
    assert kl.forward(y, p)[0] == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(kl.backward(y, p), [[-1e-7 / 0.3, 0.0, 0.0, -0.25 / 1e-7]])
    assert kl.backward(y, np.array([[0.3, 1.0, 1.0, 0.5]]))[0, 1] == -1.0  # p = 1: passes


def test_msle_gradient_stops_below_eps_and_passes_at_it():
    msle = losses.MeanSquaredLogarithmicError()
    y = np.array([[1.0, 1.0, 1.0]])
    grad = msle.backward(y, np.array([[-3.0, 0.0, 1e-7]]))
    assert grad[0, 0] == 0.0 and grad[0, 1] == 0.0
    expected = 2 * (np.log1p(1e-7) - np.log(2.0)) / (1 + 1e-7) / 3
    assert grad[0, 2] == pytest.approx(expected, rel=1e-12)  # TensorFlow's maximum: tie to p


def test_mape_divides_a_zero_target_by_eps():
    mape = losses.MeanAbsolutePercentageError()
    assert mape(np.array([[0.0]]), np.array([[1e-3]])) == pytest.approx(100 * 1e-3 / 1e-7)
    np.testing.assert_allclose(mape.backward(np.array([[0.0, -2.0]]), np.array([[1e-3, -2.0]])),
                               [[100 / 1e-7 / 2, 0.0]])  # sign(0) = 0 where p == y


def test_log_cosh_stays_finite_for_large_errors_and_its_gradient_is_tanh():
    log_cosh = losses.LogCosh()
    y = np.zeros((1, 3), "f4")
    p = np.array([[100.0, -100.0, 0.5]], "f4")
    values = log_cosh.forward(y, p)
    assert np.isfinite(values).all()
    assert values[0] == pytest.approx((2 * (100 - np.log(2)) + np.log(np.cosh(0.5))) / 3, rel=1e-6)
    np.testing.assert_allclose(log_cosh.backward(y, p), np.tanh(p.astype("f8")) / 3, rtol=1e-6)


def test_cosine_similarity_of_a_zero_vector_is_zero_and_its_gradient_uses_the_clip():
    """Keras' normalise multiplies by min(1 / ||x||, 1 / eps): a zero prediction gives loss 0 and
    gradient -n(y) / eps (the clipped scale is a constant); a zero target gives 0 and 0."""
    cos = losses.CosineSimilarity()
    y = np.array([[3.0, 4.0], [0.0, 0.0]])
    p = np.array([[0.0, 0.0], [1.0, 2.0]])
    np.testing.assert_array_equal(cos.forward(y, p), [0.0, 0.0])
    np.testing.assert_allclose(cos.backward(y, p), [[-0.6e7 / 2, -0.8e7 / 2], [0.0, 0.0]])
    # a tiny prediction (norm below eps) follows the same rule: its loss is -n(y) . p / eps
    tiny = np.array([[1e-8, 0.0]])
    assert cos.forward(y[:1], tiny)[0] == pytest.approx(-0.6 * 1e-8 / 1e-7)


def test_hinge_maps_binary_labels_to_plus_minus_one_per_batch():
    hinge, p = losses.Hinge(), np.array([[0.3, -0.8], [1.5, 0.1]])
    binary = np.array([[1.0, 0.0], [0.0, 1.0]])
    np.testing.assert_array_equal(hinge.forward(binary, p), hinge.forward(2 * binary - 1, p))
    # a batch that is not all 0/1 is used as it is: here a 0 label makes a margin of 1
    mixed = np.array([[1.0, 0.0], [-1.0, 1.0]])
    np.testing.assert_allclose(hinge.forward(mixed, p), [(0.7 + 1.0) / 2, (2.5 + 0.9) / 2])


def test_hinge_gradient_at_a_margin_of_exactly_zero_is_minus_y():
    """TensorFlow's maximum(m, 0) gives a tie to m: at y p = 1 the gradient is -y / (D N), not 0;
    the squared hinge's is 0 there (2 max(m, 0) = 0)."""
    y, p = np.array([[1.0, -1.0, 1.0]]), np.array([[1.0, -1.0, 3.0]])
    np.testing.assert_allclose(losses.Hinge().backward(y, p), [[-1 / 3, 1 / 3, 0.0]])
    np.testing.assert_array_equal(losses.SquaredHinge().backward(y, p), [[0.0, 0.0, 0.0]])


def test_categorical_hinge_splits_the_gradient_between_tied_maxima():
    """TensorFlow's reduce_max gradient: equal maxima share it. neg = max(0.4, 0.4, 0.1) with
    y on class 0: dL/dp = ([0, 1/2, 1/2, 0] - [1, 0, 0, 0]); with a margin below 0, all zero."""
    ch = losses.CategoricalHinge()
    y = np.array([[1.0, 0.0, 0.0, 0.0]])
    np.testing.assert_allclose(ch.backward(y, np.array([[0.2, 0.4, 0.4, 0.1]])),
                               [[-1.0, 0.5, 0.5, 0.0]])
    np.testing.assert_array_equal(ch.backward(y, np.array([[3.0, 0.4, 0.4, 0.1]])), np.zeros((1, 4)))
    # a margin of exactly 0 (neg - pos + 1 == 0) still passes the gradient (maximum's tie rule)
    np.testing.assert_allclose(ch.backward(y, np.array([[1.5, 0.5, 0.0, 0.0]])),
                               [[-1.0, 1.0, 0.0, 0.0]])


def test_sample_weight_reduces_as_sum_over_batch_size():
    y, p = np.array([[0.2, 0.8], [0.5, 0.5]]), np.array([[0.4, 0.6], [0.9, 0.1]])
    values = _kl(y, p)
    assert losses.KLDivergence()(y, p, sample_weight=np.array([2.0, 0.0])) == pytest.approx(
        2 * values[0] / 2)


# ----------------------------------------------------------------------------- whole models
@pytest.mark.parametrize("loss, last, targets", [
    ("kl_divergence", "softmax", "prob"),
    ("poisson", "softplus", "counts"),
    ("msle", "softplus", "positive"),
    ("log_cosh", None, "real"),
    ("cosine_similarity", "tanh", "real"),
    ("squared_hinge", "tanh", "binary"),
    ("categorical_hinge", None, "onehot"),
])
def test_whole_model_gradients_in_float64(loss, last, targets, rng):
    """A final softmax does not switch these losses to its logits (only cross-entropies do)."""
    sn.config.set_floatx("float64")
    model = sn.Sequential([L.Input((4,)), L.Dense(5, activation="tanh"), L.Dense(3, activation=last)],
                          seed=0)
    model.compile(optimizer="sgd", loss=loss)
    x = rng.standard_normal((6, 4))
    y = _targets(targets, rng, (6, 3))
    if targets == "prob":
        y = y / y.sum(axis=-1, keepdims=True)
    value, grads = model.loss_and_grads(x, y)
    assert value == pytest.approx(model.loss(y, model.predict(x, verbose=0)), rel=1e-12)
    for p, g in zip(model.params, grads, strict=True):
        numeric = numeric_grad(lambda: model.loss_and_grads(x, y)[0], p.value)
        assert rel_error(g, numeric) < REL_TOL, p.name


# ----------------------------------------------------------------------------- names and saving
KERAS_NAMES = {
    losses.KLDivergence: ["kl_divergence", "KLDivergence", "kld", "KLD"],
    losses.Poisson: ["poisson", "Poisson"],
    losses.MeanSquaredLogarithmicError: ["mean_squared_logarithmic_error",
                                         "MeanSquaredLogarithmicError", "msle", "MSLE"],
    losses.MeanAbsolutePercentageError: ["mean_absolute_percentage_error",
                                         "MeanAbsolutePercentageError", "mape", "MAPE"],
    losses.LogCosh: ["log_cosh", "LogCosh"],
    losses.CosineSimilarity: ["cosine_similarity", "CosineSimilarity"],
    losses.Hinge: ["hinge", "Hinge"],
    losses.SquaredHinge: ["squared_hinge", "SquaredHinge"],
    losses.CategoricalHinge: ["categorical_hinge", "CategoricalHinge"],
}


@pytest.mark.parametrize("cls", list(KERAS_NAMES), ids=lambda c: c.__name__)
def test_string_names_and_function_forms(cls, rng):
    for name in KERAS_NAMES[cls]:
        assert type(losses.get(name)) is cls
    loss = cls()
    assert loss.name == KERAS_NAMES[cls][0]  # Keras' default name is the function's
    function = getattr(losses, loss.name)
    assert function.__name__ == loss.name and type(losses.get(function)) is cls
    y, p = rng.uniform(0.1, 1, (4, 3)), rng.uniform(0.1, 1, (4, 3))
    np.testing.assert_array_equal(function(y, p), loss.forward(*loss.check(y, p)))
    model = sn.Sequential([L.Input((3,)), L.Dense(3)], seed=0)
    model.compile(optimizer="sgd", loss=KERAS_NAMES[cls][-1])
    assert type(model.loss) is cls


def test_logcosh_without_underscore_is_not_a_keras_name():
    """keras.losses.get("logcosh") fails in Keras 3.15.1 (only "log_cosh" and "LogCosh")."""
    with pytest.raises(ValueError, match="unknown loss 'logcosh'"):
        losses.get("logcosh")


@pytest.mark.parametrize("cls", list(KERAS_NAMES), ids=lambda c: c.__name__)
@pytest.mark.parametrize("suffix", [".npz", ".keras"])
def test_compiled_loss_survives_save_and_load(cls, suffix, tmp_path):
    model = sn.Sequential([L.Input((3,)), L.Dense(3, activation="sigmoid")], seed=0)
    loss = cls(name="my_loss")
    model.compile(optimizer="adam", loss=loss)
    x = np.random.default_rng(0).uniform(0, 1, (4, 3)).astype("f4")
    y = np.eye(3, dtype="f4")[[0, 1, 2, 0]]
    model.train_step(x, y)
    model.save(tmp_path / f"m{suffix}")
    loaded = sn.load_model(tmp_path / f"m{suffix}")
    assert type(loaded.loss) is cls and loaded.loss.get_config() == loss.get_config()
    assert loaded.loss.name == "my_loss"
    assert loaded.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)


def test_cosine_similarity_config_keeps_axis():
    loss = losses.CosineSimilarity()
    assert loss.get_config() == {"axis": -1}
    back = losses.deserialize(losses.serialize(loss))
    assert type(back) is losses.CosineSimilarity and back.get_config() == loss.get_config()


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("make, exc, words", [
    (lambda: losses.KLDivergence()(np.ones((2, 3)), np.ones((2, 4))), ValueError,
     ["kl_divergence", "(2, 4)", "(2, 3)"]),
    (lambda: losses.Poisson()(np.array([["a", "b"]]), np.ones((1, 2))), TypeError,
     ["poisson", "numeric"]),
    (lambda: losses.LogCosh()(np.array([[np.nan, 1.0]]), np.ones((1, 2))), ValueError,
     ["log_cosh", "NaN"]),
    (lambda: losses.Hinge()(np.ones((3,)), np.ones((3, 2))), ValueError, ["hinge", "(3, 2)", "(3,)"]),
    (lambda: losses.CategoricalHinge()(np.ones((2, 2, 1)), np.ones((2, 2))), ValueError,
     ["categorical_hinge", "(2, 2, 1)"]),
    (lambda: losses.CosineSimilarity(axis=0), ValueError, ["CosineSimilarity", "axis=-1", "axis=0"]),
    (lambda: losses.MeanAbsolutePercentageError(reduction="sum"), ValueError,
     ["MeanAbsolutePercentageError", "reduction", "'sum'"]),
    (lambda: losses.SquaredHinge(name=""), ValueError, ["SquaredHinge", "name", "''"]),
    (lambda: losses.MeanSquaredLogarithmicError(dtype="float16"), ValueError,
     ["MeanSquaredLogarithmicError", "dtype", "float16"]),
    (lambda: losses.KLDivergence(from_logits=True), TypeError, ["from_logits"]),
])
def test_bad_input_gets_a_clear_error(make, exc, words):
    with pytest.raises(exc) as info:
        make()
    for word in words:
        assert word in str(info.value), (word, str(info.value))
