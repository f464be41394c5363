"""Optimizer trajectories: 20+ steps of SGD, momentum, Nesterov, Adam and AMSGrad (and the
clipping and weight-decay options) from the same weights on the same batches; after every step
every weight agrees with Keras' train_on_batch to TRAJECTORY_RTOL (1e-4)."""

import numpy as np
import pytest

import scratchnet as sn
import tfnet
from parity_tests.driver import check_trajectory, make_twins, random_biases

L = sn.layers
SCCE = sn.losses.SparseCategoricalCrossentropy
STEPS = 24


def small_convnet(seed=0):
    return random_biases(sn.Sequential([
        L.Input((8, 8, 1)),
        L.Conv2D(4, 3, padding="same", activation="relu"),
        L.MaxPooling2D(2),
        L.Flatten(),
        L.Dense(16, activation="tanh"),
        L.Dense(10),
    ], seed=seed))


def batches(digits, batch_size=16, n=56):
    """56 samples in batches of 16: the last batch is partial (8), as in fit."""
    x, y = digits
    return [(x[i:min(i + batch_size, n)], y[i:min(i + batch_size, n)]) for i in range(0, n, batch_size)]


OPTIMIZERS = {
    "sgd": lambda: sn.optimizers.SGD(0.1),
    "momentum": lambda: sn.optimizers.SGD(0.05, momentum=0.9),
    "nesterov": lambda: sn.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    "adam": lambda: sn.optimizers.Adam(0.005),
    "amsgrad": lambda: sn.optimizers.Adam(0.005, beta_1=0.8, beta_2=0.99, amsgrad=True),
    "adam_epsilon": lambda: sn.optimizers.Adam(0.01, epsilon=1e-3),
    "sgd_clipnorm": lambda: sn.optimizers.SGD(0.1, momentum=0.5, clipnorm=0.5),
    "sgd_clipvalue": lambda: sn.optimizers.SGD(0.1, clipvalue=0.05),
    "adam_global_clipnorm": lambda: sn.optimizers.Adam(0.005, global_clipnorm=0.5),
    "adam_weight_decay": lambda: sn.optimizers.Adam(0.005, weight_decay=0.1),
    "sgd_weight_decay": lambda: sn.optimizers.SGD(0.1, weight_decay=0.05),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_trajectory(name, digits):
    twins = make_twins(small_convnet(), loss=SCCE(from_logits=True), optimizer=OPTIMIZERS[name]())
    start = twins.scratch.get_weights()
    losses = check_trajectory(twins, batches(digits), STEPS)
    assert len(losses) == STEPS and twins.scratch.optimizer.iterations == STEPS
    # The weights really moved: the comparison is not of two copies of the start.
    now = twins.scratch.get_weights()
    moved = max(float(np.max(np.abs(w - w0))) for w, w0 in zip(now, start, strict=True))
    assert moved > 1e-3


def test_softmax_last_model_with_probabilities_loss_trains_like_keras(digits):
    """The trap again, over a trajectory: a final softmax with SCCE on probabilities."""
    model = small_convnet()
    model.layers[-1].activation = sn.activations.get("softmax")
    twins = make_twins(model, loss=SCCE(), optimizer=sn.optimizers.Adam(0.005))
    check_trajectory(twins, batches(digits), 20)


def test_one_hot_labels_trajectory(digits):
    onehot = [(x, np.eye(10, dtype=np.float32)[y]) for x, y in batches(digits)]
    twins = make_twins(small_convnet(), loss=sn.losses.CategoricalCrossentropy(from_logits=True),
                       optimizer=sn.optimizers.SGD(0.05, momentum=0.9, nesterov=True))
    check_trajectory(twins, onehot, 20)


def test_gradient_tape_train_step_matches_train_on_batch_and_scratchnet(digits):
    """tfnet.train_step (the readable GradientTape step) walks the same path as Keras'
    compiled step and as scratchnet's train_step, and reports the same running logs."""
    model = small_convnet()
    model.compile(optimizer=sn.optimizers.Adam(0.005),
                  loss=SCCE(from_logits=True), metrics=["accuracy"])
    tape_model, compiled_model = tfnet.to_keras(model), tfnet.to_keras(model)
    model.reset_metrics()
    tape_model.reset_metrics()
    for x, y in batches(digits):
        logs_s = model.train_step(x, y)
        logs_t = tfnet.train_step(tape_model, x, y)
        compiled_model.train_on_batch(x, y)
        assert logs_t["loss"] == pytest.approx(logs_s["loss"], rel=1e-5)
        assert logs_t["accuracy"] == pytest.approx(logs_s["accuracy"], abs=1e-7)
    for ws, wt, wc in zip(model.get_weights(), tape_model.get_weights(),
                          compiled_model.get_weights(), strict=True):
        np.testing.assert_allclose(wt, wc, rtol=1e-4, atol=1e-4 * np.abs(wc).max())
        np.testing.assert_allclose(ws, wt, rtol=1e-4, atol=1e-4 * np.abs(wt).max())
