"""``activity_regularizer=`` and ``ActivityRegularization`` against Keras 3.15: Keras'
``Layer.__call__`` adds ``R(output) / batch size`` to ``layer.losses`` at every call, and
``compute_loss`` adds ``sum(model.losses)`` to the loss ``fit`` and ``evaluate`` report and
differentiate. Checked: ``model.losses`` value by value, the loss and every gradient of one batch,
Adam steps, whole fits (with a partial last batch and validation data) in Sequential and
functional models, configs, the converters and ``.keras`` files both ways.
Tolerances: driver.py (FORWARD_RTOL, GRAD_RTOL, TRAJECTORY_RTOL)."""

import keras
import numpy as np
import pytest

import scratchnet as sn
import tfnet
from parity_tests.driver import (
    FORWARD_RTOL,
    GRAD_RTOL,
    TRAJECTORY_RTOL,
    assert_close,
    assert_parity,
    check_round_trip,
    make_twins,
    random_data,
    random_weights,
)

L = sn.layers
R = sn.regularizers
SCCE = sn.losses.SparseCategoricalCrossentropy


def dense_model():
    """Every regularizer kind, a penalty on a final softmax (the loss reads its logits, the
    penalty its probabilities) and an ActivityRegularization layer (factors float32 holds)."""
    return sn.Sequential([
        L.Input((6,)), L.Dense(8, activation="relu", activity_regularizer=R.L1(2 ** -7)),
        L.ActivityRegularization(l1=0.001, l2=0.02),
        L.Dense(5, activation="tanh", activity_regularizer=R.L2(2 ** -4), kernel_regularizer=R.L2(2 ** -7)),
        L.Dense(3, activation="softmax", activity_regularizer=R.L1L2(2 ** -7, 2 ** -3))], seed=0)


def image_model():
    return sn.Sequential([
        L.Input((6, 6, 2)), L.Conv2D(3, 3, activation="relu", activity_regularizer=R.L2(0.01)),
        L.MaxPooling2D(), L.DepthwiseConv2D(2, activity_regularizer=R.L1(0.02)),
        L.BatchNormalization(activity_regularizer=R.L2(0.05)), L.Flatten(),
        L.Dense(3, activity_regularizer=R.L1(0.01))], seed=0)


def sequence_model():
    return sn.Sequential([
        L.Input((7,), dtype="int32"), L.Embedding(11, 4, activity_regularizer=R.L2(0.1)),
        L.Conv1D(4, 2, activity_regularizer=R.L1(0.02)),
        L.LSTM(4, return_sequences=True, activity_regularizer=R.L2(0.1)),
        L.GRU(3, activity_regularizer=R.L1L2(0.01, 0.05)),
        L.Dense(2, activity_regularizer=R.L2(0.02))], seed=0)


def _data(model, n=10, seed=0):
    if model.layers[0].input_dtype == "int32":
        rng = np.random.default_rng(seed)
        return rng.integers(0, 11, (n, 7)), rng.integers(0, 2, n)
    return random_data(model.input_shape[1:], n=n, classes=model.output_shape[-1], seed=seed)


@pytest.mark.parametrize("make", [dense_model, image_model, sequence_model], ids=lambda f: f.__name__)
def test_model_losses_loss_gradients_and_adam_steps_as_keras(make):
    model = random_weights(make(), scale=0.4)
    for layer in model.layers:  # a random variance below 0 would make inference NaN on both sides
        if isinstance(layer, L.BatchNormalization):
            layer.moving_variance.value[...] = np.abs(layer.moving_variance.value) + 0.5
    x, y = _data(model)
    # (SGD for the Embedding: Keras' Adam updates repeated ids sparsely, docs/parity-notes.md)
    optimizer = sn.optimizers.SGD(0.1) if make is sequence_model else sn.optimizers.Adam(0.01)
    twins = make_twins(model, loss=SCCE(from_logits=make is not dense_model), optimizer=optimizer)
    twins.scratch.forward(x, training=True)
    twins.keras(x, training=True)
    losses_s, losses_k = twins.scratch.losses, twins.keras.losses
    assert len(losses_s) == len(losses_k) >= 4
    for i, (penalty_s, penalty_k) in enumerate(zip(losses_s, losses_k, strict=True)):
        assert_close(penalty_s, np.asarray(penalty_k), FORWARD_RTOL, f"model.losses[{i}]")
    assert_parity(model, x, y, loss=SCCE(from_logits=make is not dense_model),
                  optimizer=type(optimizer)(**optimizer.get_config()), steps=6, batch_size=4)  # 4, 4, 2


def test_fit_and_evaluate_report_the_penalties_as_keras():
    model = random_weights(dense_model(), scale=0.4)
    x, y = random_data((6,), n=45, classes=3, seed=1)
    xv, yv = random_data((6,), n=13, classes=3, seed=2)
    twins = make_twins(model, loss=SCCE(), optimizer=sn.optimizers.SGD(0.05, momentum=0.9),
                       metrics=["accuracy"])
    kwargs = dict(epochs=3, batch_size=8, shuffle=False, verbose=0, validation_data=(xv, yv))
    history_s = twins.scratch.fit(x, y, **kwargs).history
    history_k = twins.keras.fit(x, y, **kwargs).history
    for key in ("loss", "val_loss", "accuracy"):
        assert_close(history_s[key], history_k[key], GRAD_RTOL, f"history[{key!r}]")
    for param, wk in zip(twins.scratch.weights, twins.keras.get_weights(), strict=True):
        assert_close(param.value, wk, TRAJECTORY_RTOL, f'"{param.name}" after the fit')
    loss_s = twins.scratch.evaluate(xv, yv, verbose=0)[0]
    assert_close(loss_s, twins.keras.evaluate(xv, yv, verbose=0)[0], FORWARD_RTOL, "evaluate loss")
    data_only = twins.scratch.evaluate_loss(yv, twins.scratch.predict(xv, verbose=0))
    assert loss_s > data_only + 0.01  # the penalties are in it


def functional_model():
    """Two inputs, a shared Dense called on both (two penalties), a regularized Add and
    ActivityRegularization on a branch. (Factors that float32 holds exactly, so that configs
    compare equal after a trip through Keras, which keeps a regularizer's factor in float32.)"""
    a, b = sn.Input((5,), name="a"), sn.Input((5,), name="b")
    shared = L.Dense(4, activation="tanh", activity_regularizer=R.L2(2 ** -3), name="shared")
    merged = L.Add(activity_regularizer=R.L1(2 ** -6))([shared(a), shared(b)])
    side = L.ActivityRegularization(l2=0.05)(L.Dense(4, activation="relu")(b))
    out = L.Dense(3, activity_regularizer=R.L1L2(2 ** -7, 2 ** -5))(L.Concatenate()([merged, side]))
    return sn.Model([a, b], out, name="two_inputs", seed=0)


def test_functional_model_fits_as_keras():
    model = random_weights(functional_model(), scale=0.5)
    rng = np.random.default_rng(3)
    x = [rng.normal(size=(30, 5)).astype(np.float32), rng.normal(size=(30, 5)).astype(np.float32)]
    y = rng.integers(0, 3, 30)
    twins = make_twins(model, loss=SCCE(from_logits=True), optimizer=sn.optimizers.Adam(0.01))
    twins.scratch(x), twins.keras(x)
    assert len(twins.scratch.losses) == len(twins.keras.losses) == 5
    for penalty_s, penalty_k in zip(twins.scratch.losses, twins.keras.losses, strict=True):
        assert_close(penalty_s, np.asarray(penalty_k), FORWARD_RTOL, "model.losses")
    loss_s, grads_s = twins.scratch.loss_and_grads(x, y)
    loss_k, grads_k = tfnet.loss_and_grads(twins.keras, x, y)
    assert_close(loss_s, loss_k, FORWARD_RTOL, "loss")
    for param, gs, gk in zip(twins.scratch.weights, grads_s, grads_k, strict=True):
        assert_close(gs, gk, GRAD_RTOL, f'gradient of "{param.name}"')
    kwargs = dict(epochs=3, batch_size=7, shuffle=False, verbose=0)
    history_s = twins.scratch.fit(x, y, **kwargs).history
    history_k = twins.keras.fit(x, y, **kwargs).history
    assert_close(history_s["loss"], history_k["loss"], GRAD_RTOL, "loss per epoch")
    for param, wk in zip(twins.scratch.weights, twins.keras.get_weights(), strict=True):
        assert_close(param.value, wk, TRAJECTORY_RTOL, f'"{param.name}" after the fit')


def test_configs_as_keras():
    for layer, klayer in [(L.Dense(2, activity_regularizer=R.L1L2(0.25, 0.5)),
                           keras.layers.Dense(2, activity_regularizer=keras.regularizers.L1L2(0.25, 0.5))),
                          (L.LSTM(2, activity_regularizer=R.L2(0.125)),
                           keras.layers.LSTM(2, activity_regularizer=keras.regularizers.L2(0.125)))]:
        assert layer.get_config()["activity_regularizer"] == klayer.get_config()["activity_regularizer"]
    assert "activity_regularizer" not in keras.layers.ActivityRegularization(0.5).get_config()
    assert "activity_regularizer" not in L.ActivityRegularization(0.5).get_config()


def test_converters_carry_it_both_ways():
    model = random_weights(functional_model())
    kmodel = tfnet.to_keras(model)
    shared = kmodel.get_layer("shared")
    assert isinstance(shared.activity_regularizer, keras.regularizers.L2)
    assert isinstance(kmodel.layers[-1].activity_regularizer, keras.regularizers.L1L2)
    back = tfnet.from_keras(kmodel)
    for original, copy in zip(model.layers, back.layers, strict=True):
        assert copy.get_config() == original.get_config()
    check_round_trip(random_weights(dense_model()))


def test_keras_files_both_ways(tmp_path):
    kmodel = keras.Sequential([
        keras.Input((6,)), keras.layers.Dense(4, activation="relu", activity_regularizer="l2"),
        keras.layers.ActivityRegularization(l1=0.01), keras.layers.Dense(3, activity_regularizer="l1")])
    kmodel.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = random_data((6,), n=8, classes=3)
    kmodel.save(tmp_path / "k.keras")
    model = sn.load_model(tmp_path / "k.keras")
    assert type(model.layers[0].activity_regularizer) is R.L2
    assert model.layers[1].l1 == 0.01
    model.predict(x, verbose=0)
    kmodel(x)
    for penalty_s, penalty_k in zip(model.losses, kmodel.losses, strict=True):
        assert_close(penalty_s, np.asarray(penalty_k), FORWARD_RTOL, "model.losses after loading")
    assert_close(model.evaluate(x, y, verbose=0), kmodel.evaluate(x, y, verbose=0), FORWARD_RTOL,
                 "evaluate loss after loading")
    model.save(tmp_path / "s.keras")
    again = keras.models.load_model(tmp_path / "s.keras")
    assert type(again.layers[0].activity_regularizer).__name__ == "L2"
    assert type(again.layers[2].activity_regularizer).__name__ == "L1"
    assert_close(again.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0), FORWARD_RTOL,
                 "evaluate loss in Keras")
