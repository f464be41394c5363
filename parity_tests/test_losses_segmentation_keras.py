"""Dice, Tversky, CategoricalGeneralizedCrossEntropy and Circle against Keras 3.15.1: values
(FORWARD_RTOL) and the gradient of the reduced loss by TensorFlow's tape (GRAD_RTOL), Circle's
mean over the samples that have a positive pair only; ten SGD steps of a small model compiled with
each (TRAJECTORY_RTOL); the loss functions; the names; configs both ways and .keras files both
ways. Finite differences and errors: tests/test_losses_segmentation.py."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import scratchnet as sn
import tfnet
from parity_tests.driver import (
    FORWARD_RTOL,
    GRAD_RTOL,
    assert_close,
    check_loss,
    check_trajectory,
    make_twins,
)

L = sn.layers
LOSSES = sn.losses
RNG = 5

MASK_LOSSES = {
    "dice": lambda: LOSSES.Dice(),
    "dice_per_sample": lambda: LOSSES.Dice(axis=(1, 2)),
    "dice_last_axis": lambda: LOSSES.Dice(axis=-1),
    "tversky": lambda: LOSSES.Tversky(),
    "tversky_weighted": lambda: LOSSES.Tversky(alpha=0.7, beta=0.2, axis=(1, 2)),
}


@pytest.mark.parametrize("case", sorted(MASK_LOSSES))
def test_mask_losses_values_and_gradients(case):
    rng = np.random.default_rng(RNG)
    y = (rng.random((3, 4, 2)) > 0.5).astype("f4")
    p = rng.random((3, 4, 2)).astype("f4")
    weight = rng.random((3, 4) if case == "dice_last_axis" else 3).astype("f4")
    check_loss(MASK_LOSSES[case](), y, p, sample_weight=weight)


def test_generalized_cross_entropy_values_and_gradients():
    rng = np.random.default_rng(RNG)
    p = rng.uniform(0.05, 1, (6, 4)).astype("f4")
    y = rng.integers(0, 4, 6)
    for q in (0.5, 0.2, 0.9):
        check_loss(LOSSES.CategoricalGeneralizedCrossEntropy(q=q), y, p,
                   sample_weight=rng.random(6).astype("f4"))


def _unit(rng, n, d):
    x = rng.normal(size=(n, d)).astype("f4")
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("kwargs", [{}, {"gamma": 16.0, "margin": 0.25},
                                    {"remove_diagonal": False, "gamma": 4.0}])
def test_circle_values_and_gradients(kwargs):
    """Sample 3 has no other of its class: its loss is 0 and Keras' mask drops it from the mean."""
    rng = np.random.default_rng(RNG)
    x = _unit(rng, 6, 3)
    y = np.array([0, 1, 0, 2, 1, 1])
    ours = LOSSES.Circle(**kwargs)
    theirs = keras.losses.Circle(**kwargs)
    assert_close(LOSSES.circle(y, x, **kwargs), keras.losses.circle(y, x, **kwargs).numpy(),
                 FORWARD_RTOL, "circle per sample")
    variable = tf.Variable(x)
    with tf.GradientTape() as tape:
        mean_k = theirs(y, variable)
    assert_close(ours(y, x), float(mean_k), FORWARD_RTOL, "circle mean")
    assert_close(ours.backward(*ours.check(y, x)), tape.gradient(mean_k, variable).numpy(),
                 GRAD_RTOL, "circle gradient")


def test_circle_with_reference_embeddings():
    rng = np.random.default_rng(RNG)
    x, ref = _unit(rng, 4, 3), _unit(rng, 5, 3)
    y, ref_y = np.array([0, 1, 2, 1]), np.array([1, 0, 0, 2, 1])
    assert_close(LOSSES.circle(y, x, ref_labels=ref_y, ref_embeddings=ref, remove_diagonal=False),
                 keras.losses.circle(y, x, ref_labels=ref_y, ref_embeddings=ref,
                                     remove_diagonal=False).numpy(), FORWARD_RTOL, "circle refs")


@pytest.mark.parametrize("name, fn, kwargs", [
    ("dice", "dice", {"axis": (1,)}), ("tversky", "tversky", {"alpha": 0.3, "beta": 0.6}),
    ("gce", "categorical_generalized_cross_entropy", {"q": 0.3})])
def test_loss_functions(name, fn, kwargs):
    rng = np.random.default_rng(RNG)
    p = rng.uniform(0.05, 1, (5, 3)).astype("f4")
    y = rng.integers(0, 3, 5) if name == "gce" else (rng.random((5, 3)) > 0.5).astype("f4")
    assert_close(getattr(LOSSES, fn)(y, p, **kwargs), getattr(keras.losses, fn)(y, p, **kwargs).numpy(),
                 FORWARD_RTOL, fn)


def _model(units, activation, final=None):
    layers = [L.Input((4,)), L.Dense(6, activation="tanh"), L.Dense(units, activation=activation)]
    return sn.Sequential(layers + ([final] if final is not None else []), seed=0)


@pytest.mark.parametrize("make_loss, activation, targets", [
    (lambda: LOSSES.Dice(axis=(1,)), "sigmoid", "binary"),
    (lambda: LOSSES.Dice(), "sigmoid", "binary"),
    (lambda: LOSSES.Tversky(alpha=0.7, beta=0.3, axis=(1,)), "sigmoid", "binary"),
    (lambda: LOSSES.CategoricalGeneralizedCrossEntropy(q=0.7), "softmax", "sparse"),
    (lambda: LOSSES.Circle(gamma=8.0), None, "circle"),
], ids=["dice_per_sample", "dice_batch", "tversky", "gce_after_softmax", "circle"])
def test_ten_sgd_steps(make_loss, activation, targets):
    rng = np.random.default_rng(RNG)
    x = rng.standard_normal((12, 4)).astype("f4")
    if targets == "binary":
        y = rng.integers(0, 2, (12, 3)).astype("f4")
    elif targets == "sparse":
        y = rng.integers(0, 3, 12)
    else:
        y = np.array([0, 1, 2, 0, 1, 2, 0, 0, 1, 2, 2, 1])
    final = L.UnitNormalization() if targets == "circle" else None
    twins = make_twins(_model(3, activation, final), loss=make_loss(), optimizer=sn.optimizers.SGD(0.1))
    check_trajectory(twins, [(x[:6], y[:6]), (x[6:], y[6:])], 10)


@pytest.mark.parametrize("name", ["dice", "Dice", "tversky", "Tversky", "circle", "Circle"])
def test_names_resolve_as_in_keras(name):
    theirs = keras.losses.get(name)
    ours = LOSSES.get(name)
    kcls = theirs if isinstance(theirs, type) else type(theirs)
    if not issubclass(kcls, keras.losses.Loss):  # a function: Keras' compile wraps it
        assert ours.name == theirs.__name__
    else:
        assert type(ours).__name__ == kcls.__name__


@pytest.mark.parametrize("name", ["CategoricalGeneralizedCrossEntropy",
                                  "categorical_generalized_cross_entropy"])
def test_generalized_cross_entropy_has_no_name_in_keras(name):
    with pytest.raises(ValueError, match="identifier"):
        keras.losses.get(name)
    with pytest.raises(ValueError, match="unknown loss"):
        LOSSES.get(name)


@pytest.mark.parametrize("loss", [LOSSES.Dice(axis=(1, 2)), LOSSES.Tversky(alpha=0.2, beta=0.8),
                                  LOSSES.CategoricalGeneralizedCrossEntropy(q=0.25),
                                  LOSSES.Circle(gamma=30.0, margin=0.3, remove_diagonal=False)],
                         ids=lambda loss: loss.name)
def test_loss_maps_both_ways(loss):
    kloss = tfnet.convert.loss_to_keras(loss)
    assert type(kloss).__name__ == type(loss).__name__
    kconfig = kloss.get_config()
    for key, value in loss.get_config().items():
        assert kconfig[key] == value, key
    back = tfnet.convert.loss_from_keras(kloss)
    assert type(back) is type(loss) and back.get_config() == loss.get_config()


@pytest.mark.parametrize("make_loss, activation, targets", [
    (lambda: LOSSES.Dice(axis=(1,)), "sigmoid", "binary"),
    (lambda: LOSSES.Tversky(alpha=0.6, beta=0.4), "sigmoid", "binary"),
    (lambda: LOSSES.CategoricalGeneralizedCrossEntropy(q=0.4), "softmax", "sparse"),
    (lambda: LOSSES.Circle(gamma=10.0, margin=0.3), None, "circle")],
    ids=["dice", "tversky", "gce", "circle"])
def test_keras_files_both_ways(make_loss, activation, targets, tmp_path):
    rng = np.random.default_rng(RNG)
    x = rng.standard_normal((8, 4)).astype("f4")
    y = rng.integers(0, 2, (8, 3)).astype("f4") if targets == "binary" else rng.integers(0, 3, 8)
    if targets == "circle":
        y = np.array([0, 1, 2, 0, 1, 2, 1, 0])
    model = _model(3, activation, L.UnitNormalization() if targets == "circle" else None)
    model.compile(optimizer="adam", loss=make_loss())
    model.fit(x, y, epochs=2, batch_size=4, verbose=0, shuffle=False)
    model.save(tmp_path / "m.keras")
    kmodel = keras.models.load_model(tmp_path / "m.keras")
    assert type(kmodel.loss).__name__ == type(model.loss).__name__
    assert_close(model.evaluate(x, y, verbose=0), kmodel.evaluate(x, y, verbose=0), FORWARD_RTOL,
                 "loss after loading in Keras")
    kmodel.save(tmp_path / "k.keras")
    loaded = sn.load_model(tmp_path / "k.keras")
    assert loaded.loss.get_config() == model.loss.get_config()
