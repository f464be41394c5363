"""BinaryFocalCrossentropy and CategoricalFocalCrossentropy against Keras 3.15.1: per-sample values
and the reduced loss to FORWARD_RTOL, the gradient of the reduced loss to GRAD_RTOL (on
probabilities that reach the clip, on logits, with sample weights); through whole models whose last
layer is a sigmoid or a softmax, where Keras reads the binary loss's cross-entropy from the
layer's logits and its focal factor from the layer's output (the loss and every weight gradient to
the same tolerances, then ten SGD steps to TRAJECTORY_RTOL); the string names; configs both ways
and .keras files both ways. Finite differences: tests/test_focal_losses.py."""

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
    check_trajectory,
    make_twins,
)

L = sn.layers
LOSSES = sn.losses
RNG_SEED = 17

BINARY = {
    "default": lambda: LOSSES.BinaryFocalCrossentropy(),
    "balanced_smoothed": lambda: LOSSES.BinaryFocalCrossentropy(
        apply_class_balancing=True, alpha=0.4, gamma=1.5, label_smoothing=0.1),
    "logits": lambda: LOSSES.BinaryFocalCrossentropy(from_logits=True, gamma=3.0),
    "logits_balanced_gamma_0": lambda: LOSSES.BinaryFocalCrossentropy(
        from_logits=True, apply_class_balancing=True, gamma=0.0),
}
CATEGORICAL = {
    "default": lambda: LOSSES.CategoricalFocalCrossentropy(),
    "smoothed": lambda: LOSSES.CategoricalFocalCrossentropy(alpha=0.5, gamma=1.0, label_smoothing=0.2),
    "logits": lambda: LOSSES.CategoricalFocalCrossentropy(from_logits=True),
    "logits_gamma_0": lambda: LOSSES.CategoricalFocalCrossentropy(from_logits=True, gamma=0.0),
}


@pytest.mark.parametrize("case", sorted(BINARY))
def test_binary_values_and_gradients(case):
    loss = BINARY[case]()
    rng = np.random.default_rng(RNG_SEED)
    y = (rng.random((6, 3)) > 0.5).astype(np.float32)
    if loss.from_logits:
        p = (rng.normal(size=(6, 3)) * 3).astype(np.float32)
    else:
        p = rng.random((6, 3)).astype(np.float32)
        p[0, 0], p[1, 1], p[2, 2] = 1e-9, 1.0, 0.0  # beyond the clip on both sides
    check_loss(loss, y, p, sample_weight=rng.random(6).astype(np.float32))


@pytest.mark.parametrize("case", sorted(CATEGORICAL))
def test_categorical_values_and_gradients(case):
    loss = CATEGORICAL[case]()
    rng = np.random.default_rng(RNG_SEED)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 6)]
    if loss.from_logits:
        p = (rng.normal(size=(6, 3)) * 3).astype(np.float32)
    else:
        p = (rng.random((6, 3)) + 0.05).astype(np.float32)  # rows that do not sum to 1
        p[0] = [1.0, 0.0, 0.0]  # q reaches the clip
    check_loss(loss, y, p, sample_weight=rng.random(6).astype(np.float32))


def _model(units, activation):
    return sn.Sequential([L.Input((4,)), L.Dense(6, activation="tanh"),
                          L.Dense(units, activation=activation)], seed=0)


@pytest.mark.parametrize("loss, activation, targets", [
    (lambda: LOSSES.BinaryFocalCrossentropy(), "sigmoid", "binary"),
    (lambda: LOSSES.BinaryFocalCrossentropy(apply_class_balancing=True, gamma=1.0), "sigmoid", "binary"),
    (lambda: LOSSES.BinaryFocalCrossentropy(), "softmax", "onehot"),
    (lambda: LOSSES.BinaryFocalCrossentropy(from_logits=True), None, "binary"),
    (lambda: LOSSES.CategoricalFocalCrossentropy(), "softmax", "onehot"),
    (lambda: LOSSES.CategoricalFocalCrossentropy(from_logits=True, gamma=1.0), None, "onehot"),
], ids=["binary_after_sigmoid", "binary_balanced_after_sigmoid", "binary_after_softmax",
        "binary_logits", "categorical_after_softmax", "categorical_logits"])
def test_through_a_model_and_ten_sgd_steps(loss, activation, targets):
    """After a final sigmoid or softmax Keras' binary focal loss takes its cross-entropy from the
    layer's logits (its _keras_logits rule) and its focal factor from the layer's output."""
    rng = np.random.default_rng(RNG_SEED)
    x = rng.standard_normal((12, 4)).astype("f4")
    y = (rng.integers(0, 2, (12, 3)) if targets == "binary"
         else np.eye(3)[rng.integers(0, 3, 12)]).astype("f4")
    model = _model(3, activation)
    model.compile(optimizer=sn.optimizers.SGD(0.5), loss=loss())
    kmodel = tfnet.to_keras(model)
    loss_s, grads_s = model.loss_and_grads(x, y)
    loss_k, grads_k = tfnet.loss_and_grads(kmodel, x, y)
    assert_close(loss_s, loss_k, FORWARD_RTOL, "loss")
    for g_s, g_k in zip(grads_s, grads_k, strict=True):
        assert_close(g_s, g_k, GRAD_RTOL, "gradient")
    twins = make_twins(_model(3, activation), loss=loss(), optimizer=sn.optimizers.SGD(0.5))
    check_trajectory(twins, [(x[:6], y[:6]), (x[6:], y[6:])], 10)


@pytest.mark.parametrize("name", ["binary_focal_crossentropy", "BinaryFocalCrossentropy",
                                  "categorical_focal_crossentropy", "CategoricalFocalCrossentropy"])
def test_every_name_means_the_same_loss_in_keras(name):
    rng = np.random.default_rng(RNG_SEED)
    y = np.eye(3, dtype="f4")[rng.integers(0, 3, 6)]
    p = rng.uniform(0.05, 1, (6, 3)).astype("f4")
    theirs = keras.losses.get(name)
    theirs = theirs if not isinstance(theirs, keras.losses.Loss) else type(theirs)(reduction=None)
    ours = LOSSES.get(name)
    assert_close(ours.forward(*ours.check(y, p)), np.asarray(theirs(y, p)), FORWARD_RTOL, name)


@pytest.mark.parametrize("loss", [BINARY["balanced_smoothed"](), CATEGORICAL["smoothed"](),
                                  BINARY["logits"]()], ids=lambda loss: loss.name)
def test_loss_maps_both_ways(loss):
    kloss = tfnet.convert.loss_to_keras(loss)
    assert type(kloss).__name__ == type(loss).__name__
    kconfig = kloss.get_config()
    for key, value in loss.get_config().items():
        assert kconfig[key] == value, key
    back = tfnet.convert.loss_from_keras(kloss)
    assert type(back) is type(loss) and back.get_config() == loss.get_config()


@pytest.mark.parametrize("make_loss", [BINARY["balanced_smoothed"], CATEGORICAL["smoothed"]],
                         ids=["binary", "categorical"])
def test_keras_files_both_ways(make_loss, tmp_path):
    rng = np.random.default_rng(RNG_SEED)
    x = rng.standard_normal((8, 4)).astype("f4")
    y = np.eye(3, dtype="f4")[rng.integers(0, 3, 8)]
    model = _model(3, "softmax")
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
