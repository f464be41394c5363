"""Dice, Tversky, CategoricalGeneralizedCrossEntropy and Circle without Keras: each ``backward``
against central differences of the mean of ``forward`` in float64, golden values, configs, the
names, and the errors. Keras parity: parity_tests/test_losses_segmentation_keras.py."""

import numpy as np
import pytest

import scratchnet as sn
from tests.gradcheck import REL_TOL, numeric_grad, rel_error

LOSSES = sn.losses


def _gradcheck(loss, y, p):
    y, p = loss.check(y, p)

    def mean():
        return float(np.mean(loss.forward(y, p)))

    analytic = loss.backward(y, p)
    numeric = numeric_grad(mean, p)
    assert rel_error(analytic, numeric) < REL_TOL, rel_error(analytic, numeric)


@pytest.mark.parametrize("loss", [LOSSES.Dice(), LOSSES.Dice(axis=(1, 2)), LOSSES.Dice(axis=-1),
                                  LOSSES.Tversky(), LOSSES.Tversky(alpha=0.8, beta=0.1, axis=(1, 2)),
                                  LOSSES.Tversky(alpha=0.3, beta=0.9, axis=1)],
                         ids=lambda loss: f"{loss.name}-{loss.get_config()}")
def test_mask_losses_finite_differences(loss):
    rng = np.random.default_rng(0)
    y = (rng.random((3, 4, 2)) > 0.5).astype(np.float64)
    _gradcheck(loss, y, rng.random((3, 4, 2)))


@pytest.mark.parametrize("q", [0.1, 0.5, 0.9])
def test_generalized_cross_entropy_finite_differences(q):
    rng = np.random.default_rng(1)
    _gradcheck(LOSSES.CategoricalGeneralizedCrossEntropy(q=q), rng.integers(0, 3, 5),
               rng.uniform(0.1, 1, (5, 3)))


@pytest.mark.parametrize("kwargs", [{}, {"gamma": 5.0, "margin": 0.1}, {"remove_diagonal": False}])
def test_circle_finite_differences(kwargs):
    """Labels with a singleton class (sample 2): it is left out of the mean, but its embedding is
    still every other sample's negative."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(6, 3))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    _gradcheck(LOSSES.Circle(**kwargs), np.array([0, 1, 3, 0, 1, 1]), x)


def test_golden_values():
    """Keras' docstring example for dice, and small cases by hand."""
    y = np.array([[[[1.0], [1.0]], [[0.0], [0.0]]], [[[1.0], [1.0]], [[0.0], [0.0]]]], "f4")
    p = np.array([[[[0.0], [1.0]], [[0.0], [1.0]]], [[[0.4], [0.0]], [[0.0], [0.9]]]], "f4")
    np.testing.assert_allclose(LOSSES.dice(y, p, axis=(1, 2, 3)), [0.5, 0.75757575], rtol=1e-6)
    np.testing.assert_allclose(LOSSES.Dice()(y, p), 0.6164384, rtol=1e-6)
    # tversky: I = 1, A = sum(y (1 - p)) = 1, B = sum((1 - y) p) = 1 -> 1 - 1 / (1 + 0.25 + 0.5)
    one = np.array([[1.0, 1.0, 0.0]], "f4")
    guess = np.array([[1.0, 0.0, 1.0]], "f4")
    np.testing.assert_allclose(LOSSES.tversky(one, guess, alpha=0.25, beta=0.5),
                               1 - 1 / 1.75, rtol=1e-6)
    # gce: (1 - 0.25**0.5) / 0.5 = 1
    np.testing.assert_allclose(
        LOSSES.categorical_generalized_cross_entropy([1], np.array([[0.75, 0.25]]), q=0.5), [1.0])


def test_circle_mean_counts_only_samples_with_positives():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5, 2))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = np.array([0, 0, 1, 2, 1])  # sample 3 alone in its class
    raw = LOSSES.circle(y, x)
    assert raw[3] == 0 and np.all(np.delete(raw, 3) > 0)
    np.testing.assert_allclose(LOSSES.Circle()(y, x), raw.sum() / 4, rtol=1e-12)
    assert LOSSES.Circle()(np.array([0, 1, 2, 3, 4]), x) == 0.0  # no positive pair at all


@pytest.mark.parametrize("loss", [LOSSES.Dice(axis=(1, 2)), LOSSES.Tversky(0.1, 0.9, name="tv"),
                                  LOSSES.CategoricalGeneralizedCrossEntropy(q=0.3),
                                  LOSSES.Circle(gamma=10.0, margin=0.2, remove_diagonal=False)],
                         ids=lambda loss: loss.name)
def test_config_round_trip(loss):
    again = type(loss)(**loss.get_config())
    assert again.get_config() == loss.get_config()
    spec = LOSSES.serialize(loss)
    assert LOSSES.deserialize(spec).get_config() == loss.get_config()


@pytest.mark.parametrize("name, cls", [("dice", LOSSES.Dice), ("Tversky", LOSSES.Tversky),
                                       ("circle", LOSSES.Circle)])
def test_names(name, cls):
    assert type(LOSSES.get(name)) is cls


def test_compiled_fit_decreases_dice():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(32, 4)).astype("f4")
    y = (x[:, :2] > 0).astype("f4")
    model = sn.Sequential([sn.layers.Input((4,)), sn.layers.Dense(2, activation="sigmoid")], seed=0)
    model.compile(optimizer=sn.optimizers.Adam(0.05), loss=LOSSES.Dice(axis=-1))
    history = model.fit(x, y, epochs=5, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


@pytest.mark.parametrize("make, match", [
    (lambda: LOSSES.Dice(axis="x"), "axis"),
    (lambda: LOSSES.Tversky(alpha="a"), "alpha"),
    (lambda: LOSSES.Tversky(beta=float("nan")), "beta"),
    (lambda: LOSSES.CategoricalGeneralizedCrossEntropy(q=1.0), r"q in the open interval \(0, 1\)"),
    (lambda: LOSSES.CategoricalGeneralizedCrossEntropy(q=0), "received q=0"),
    (lambda: LOSSES.Circle(gamma=None), "gamma"),
    (lambda: LOSSES.Circle(remove_diagonal=1), "remove_diagonal"),
    (lambda: LOSSES.Dice(reduction="sum"), "reduction"),
])
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_inputs():
    p = np.random.default_rng(5).random((4, 3))
    with pytest.raises(ValueError, match="axis 3 is out of range"):
        LOSSES.Dice(axis=3)(np.ones((4, 3)), p)
    with pytest.raises(ValueError, match="expected targets of shape"):
        LOSSES.Tversky()(np.ones((4, 2)), p)
    with pytest.raises(ValueError, match="NaN"):
        LOSSES.Dice()(np.full((4, 3), np.nan), p)
    with pytest.raises(ValueError, match=r"pass them flat"):
        LOSSES.CategoricalGeneralizedCrossEntropy()(np.zeros((4, 1), int), p)
    with pytest.raises(ValueError, match="outside the valid range"):
        LOSSES.CategoricalGeneralizedCrossEntropy()(np.array([0, 1, 2, 3]), p)
    with pytest.raises(ValueError, match="one integer label per embedding"):
        LOSSES.Circle()(np.zeros(3, int), p)
    with pytest.raises(ValueError, match="embeddings of shape"):
        LOSSES.Circle()(np.zeros(4, int), p[..., None])
    with pytest.raises(ValueError, match="integer labels"):
        LOSSES.Circle()(np.array([0.5, 1, 2, 3]), p)


def test_fit_refuses_sample_weight_for_batch_coupled_losses():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(6, 4)).astype("f4")
    model = sn.Sequential([sn.layers.Input((4,)), sn.layers.Dense(3), sn.layers.UnitNormalization()],
                          seed=0)
    model.compile(optimizer="sgd", loss=LOSSES.Circle())
    with pytest.raises(ValueError, match="sample_weight is not supported"):
        model.train_on_batch(x, np.array([0, 1, 0, 1, 2, 2]), sample_weight=np.ones(6, "f4"))
    model.compile(optimizer="sgd", loss=LOSSES.Dice())
    with pytest.raises(ValueError, match="sample_weight is not supported"):
        model.train_on_batch(x, np.ones((6, 3), "f4"), sample_weight=np.ones(6, "f4"))
