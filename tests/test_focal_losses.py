"""BinaryFocalCrossentropy and CategoricalFocalCrossentropy in scratchnet alone: the gradients
against float64 finite differences of the reduced loss (tests/gradcheck.py, REL_TOL 1e-6), on
probabilities, on logits and through the logits of a final sigmoid or softmax; the special cases
that pin the formula (gamma = 0 is the plain cross-entropy times alpha); names, configs and bad
arguments. Keras parity: parity_tests/test_focal_losses_keras.py."""

import numpy as np
import pytest

import scratchnet as sn
from tests.gradcheck import REL_TOL, numeric_grad, rel_error

LOSSES = sn.losses

CASES = {
    "binary": lambda: LOSSES.BinaryFocalCrossentropy(),
    "binary_balanced_smoothed": lambda: LOSSES.BinaryFocalCrossentropy(
        apply_class_balancing=True, alpha=0.4, gamma=1.5, label_smoothing=0.1),
    "binary_logits": lambda: LOSSES.BinaryFocalCrossentropy(from_logits=True, gamma=3.0),
    "binary_twin_of_sigmoid": lambda: LOSSES.BinaryFocalCrossentropy(gamma=2.5).logits_twin("sigmoid"),
    "binary_twin_of_softmax": lambda: LOSSES.BinaryFocalCrossentropy(
        apply_class_balancing=True).logits_twin("softmax"),
    "categorical": lambda: LOSSES.CategoricalFocalCrossentropy(),
    "categorical_smoothed": lambda: LOSSES.CategoricalFocalCrossentropy(alpha=0.5, gamma=1.0,
                                                                        label_smoothing=0.2),
    "categorical_logits": lambda: LOSSES.CategoricalFocalCrossentropy(from_logits=True, gamma=2.5),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_backward_matches_finite_differences(case, float64):
    loss = CASES[case]()
    rng = np.random.default_rng(0)
    if case.startswith("binary"):
        y = (rng.random((5, 3)) > 0.5).astype(np.float64)
    else:
        y = np.eye(3)[rng.integers(0, 3, 5)]
    logits = loss.from_logits
    p = rng.normal(size=(5, 3)) * 2 if logits else rng.uniform(0.05, 0.95, (5, 3))
    analytic = loss.backward(y, p)
    numeric = numeric_grad(lambda: float(np.mean(loss.forward(y, p))), p)
    assert rel_error(analytic, numeric) < REL_TOL, rel_error(analytic, numeric)


def test_gamma_zero_is_cross_entropy_times_alpha():
    rng = np.random.default_rng(1)
    y = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 6)]
    p = rng.uniform(0.05, 1, (6, 4)).astype(np.float32)
    focal = LOSSES.CategoricalFocalCrossentropy(alpha=0.5, gamma=0.0)
    plain = LOSSES.CategoricalCrossentropy()
    np.testing.assert_allclose(focal(y, p), 0.5 * plain(y, p), rtol=1e-6)
    yb = (rng.random((6, 4)) > 0.5).astype(np.float32)
    np.testing.assert_allclose(LOSSES.BinaryFocalCrossentropy(gamma=0.0)(yb, p),
                               LOSSES.BinaryCrossentropy()(yb, p), rtol=1e-6)


def test_confident_right_answers_cost_almost_nothing():
    """p_t = 0.9: the factor (1 - 0.9)**2 = 0.01 shrinks the cross-entropy a hundredfold."""
    y, p = np.array([[1.0]], np.float32), np.array([[0.9]], np.float32)
    focal = LOSSES.BinaryFocalCrossentropy()(y, p)
    np.testing.assert_allclose(focal, 0.01 * -np.log(0.9), rtol=1e-5)


def test_names_and_configs():
    for cls, name in ((LOSSES.BinaryFocalCrossentropy, "binary_focal_crossentropy"),
                      (LOSSES.CategoricalFocalCrossentropy, "categorical_focal_crossentropy")):
        assert type(LOSSES.get(name)) is cls and type(LOSSES.get(cls.__name__)) is cls
        loss = cls(gamma=1.0, label_smoothing=0.1)
        assert type(loss)(**loss.get_config()).get_config() == loss.get_config()
        assert LOSSES.deserialize(LOSSES.serialize(loss)).get_config() == loss.get_config()
    assert LOSSES.binary_focal_crossentropy([[1.0, 0.0]], [[0.9, 0.2]]).shape == (1,)


@pytest.mark.parametrize("make, pattern", [
    (lambda: LOSSES.BinaryFocalCrossentropy(gamma=-1.0), "gamma"),
    (lambda: LOSSES.BinaryFocalCrossentropy(alpha="0.25"), "alpha"),
    (lambda: LOSSES.BinaryFocalCrossentropy(axis=1), "axis"),
    (lambda: LOSSES.CategoricalFocalCrossentropy(label_smoothing=2.0), "label_smoothing"),
    (lambda: LOSSES.CategoricalFocalCrossentropy(axis=0), "axis"),
])
def test_bad_arguments_name_themselves(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()


def test_bad_targets_name_the_loss():
    with pytest.raises(ValueError, match="categorical_focal_crossentropy.*shape"):
        LOSSES.CategoricalFocalCrossentropy()(np.array([0, 1]), np.full((2, 3), 1 / 3, np.float32))
