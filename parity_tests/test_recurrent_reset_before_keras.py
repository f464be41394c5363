"""``GRU(reset_after=False)`` and ``GRUCell(reset_after=False)`` (Keras 2's GRU: the reset gate
before the recurrent product, one ``(3U,)`` bias) against Keras 3.15 on twins with the same
weights: outputs and the gradients of every weight and the input (``tfnet`` twins and the
driver's ``loss_and_grads``), with ``return_sequences``, ``go_backwards``, a padding mask and
``Bidirectional``; states in and out against ``tf.GradientTape``; one cell step; Adam steps with
``fit``; ``.keras`` files both ways.

Tolerances (driver.py): FORWARD_RTOL for outputs and losses, GRAD_RTOL for gradients and per-epoch
losses, TRAJECTORY_RTOL for weights after training.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import scratchnet as sn
import tfnet
from parity_tests.driver import FORWARD_RTOL, GRAD_RTOL, TRAJECTORY_RTOL, assert_close

L = sn.layers
STEPS, FEATURES, UNITS = 5, 3, 4


def _random_weights(model, seed=0):
    rng = np.random.default_rng(seed)
    model.set_weights([(0.5 * rng.standard_normal(w.shape)).astype(w.dtype) for w in model.get_weights()])
    return model


def _check(model, x, y):
    model.compile(optimizer="sgd", loss="mse")
    kmodel = tfnet.to_keras(model)
    assert [w.shape for w in kmodel.get_weights()] == [w.shape for w in model.get_weights()]
    assert_close(model.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL, "outputs")
    loss, grads = model.loss_and_grads(x, y)
    kloss, kgrads = tfnet.loss_and_grads(kmodel, x, y)
    assert_close(loss, kloss, FORWARD_RTOL, "loss")
    for g, kg, p in zip(grads, kgrads, model.weights, strict=True):
        assert_close(g, kg, GRAD_RTOL, f"gradient of {p.name}")


@pytest.mark.parametrize("layer", ["GRU", "RNN(GRUCell)", "Bidirectional"])
@pytest.mark.parametrize("return_sequences, go_backwards", [(False, False), (True, False), (False, True)])
def test_outputs_and_gradients_match_keras(layer, return_sequences, go_backwards):
    kwargs = dict(return_sequences=return_sequences, go_backwards=go_backwards)
    made = {"GRU": lambda: L.GRU(UNITS, reset_after=False, **kwargs),
            "RNN(GRUCell)": lambda: L.RNN(L.GRUCell(UNITS, reset_after=False), **kwargs),
            "Bidirectional": lambda: L.Bidirectional(L.GRU(UNITS, reset_after=False, **kwargs))}[layer]()
    model = _random_weights(sn.Sequential([L.Input((STEPS, FEATURES)), made, L.Flatten(), L.Dense(2)],
                                          seed=1))
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, STEPS, FEATURES)).astype(np.float32)
    _check(model, x, rng.standard_normal((4, 2)).astype(np.float32))


def test_a_padding_mask_is_honoured_as_keras_does():
    model = _random_weights(sn.Sequential([L.Input((STEPS,), dtype="int32"),
                                           L.Embedding(9, 3, mask_zero=True),
                                           L.GRU(UNITS, reset_after=False, return_sequences=True),
                                           L.GlobalAveragePooling1D(), L.Dense(2)], seed=3))
    ids = np.random.default_rng(4).integers(1, 9, (4, STEPS))
    for row, length in enumerate([5, 3, 1, 4]):
        ids[row, length:] = 0
    _check(model, ids, np.random.default_rng(5).standard_normal((4, 2)).astype(np.float32))


@pytest.mark.parametrize("use_bias", [True, False])
def test_states_in_and_out_and_their_gradients_match_keras(use_bias):
    layer = L.GRU(UNITS, reset_after=False, return_state=True, return_sequences=True, use_bias=use_bias)
    layer.ensure_built((STEPS, FEATURES), np.random.default_rng(6))
    _random_weights(layer, 7)
    klayer = keras.layers.GRU(UNITS, reset_after=False, return_state=True, return_sequences=True,
                              use_bias=use_bias)
    klayer.build((None, STEPS, FEATURES))
    klayer.set_weights(layer.get_weights())
    rng = np.random.default_rng(8)
    x = rng.standard_normal((3, STEPS, FEATURES)).astype(np.float32)
    h0 = rng.standard_normal((3, UNITS)).astype(np.float32)
    y, h = layer.forward(x, initial_state=[h0])
    wy, wh = rng.standard_normal(y.shape).astype(np.float32), rng.standard_normal(h.shape).astype(np.float32)
    dx, dh0 = layer.backward([wy, wh])
    xt, ht = tf.constant(x), tf.constant(h0)
    with tf.GradientTape() as tape:
        tape.watch([xt, ht])
        ky, kh = klayer(xt, initial_state=[ht])
        loss = tf.reduce_sum(wy * ky) + tf.reduce_sum(wh * kh)
    kdx, kdh0, *kgrads = tape.gradient(loss, [xt, ht, *klayer.weights])
    assert_close(y, ky.numpy(), FORWARD_RTOL, "output")
    assert_close(h, kh.numpy(), FORWARD_RTOL, "state")
    assert_close(dx, kdx.numpy(), GRAD_RTOL, "dL/dx")
    assert_close(dh0, kdh0.numpy(), GRAD_RTOL, "dL/dh0")
    for p, kg in zip(layer.weights, kgrads, strict=True):
        assert_close(p.grad, kg.numpy(), GRAD_RTOL, f"gradient of {p.name}")


def test_one_cell_step_matches_keras():
    cell = L.GRUCell(UNITS, reset_after=False)
    kcell = keras.layers.GRUCell(UNITS, reset_after=False)
    rng = np.random.default_rng(9)
    x, h = rng.standard_normal((2, FEATURES)).astype(np.float32), rng.standard_normal((2, UNITS)).astype(
        np.float32)
    cell(x, [h])
    kcell(x, [h])
    _random_weights(cell, 10)
    kcell.set_weights(cell.get_weights())
    assert [w.shape for w in kcell.get_weights()] == [(FEATURES, 3 * UNITS), (UNITS, 3 * UNITS), (3 * UNITS,)]
    out, [state] = cell(x, [h])
    kout, [kstate] = kcell(x, [h])
    assert_close(out, kout.numpy(), FORWARD_RTOL, "output")
    assert_close(state, kstate.numpy(), FORWARD_RTOL, "state")
    assert cell.get_config()["reset_after"] is kcell.get_config()["reset_after"] is False


def test_fit_with_adam_matches_keras():
    model = _random_weights(sn.Sequential([L.Input((STEPS, FEATURES)), L.GRU(UNITS, reset_after=False),
                                           L.Dense(1)], seed=11))
    model.compile(optimizer=sn.optimizers.Adam(learning_rate=0.02), loss="mse")
    kmodel = tfnet.to_keras(model)
    kmodel.compile(optimizer=keras.optimizers.Adam(learning_rate=0.02), loss="mse")
    rng = np.random.default_rng(12)
    x = rng.standard_normal((12, STEPS, FEATURES)).astype(np.float32)
    y = rng.standard_normal((12, 1)).astype(np.float32)
    history = model.fit(x, y, epochs=3, batch_size=4, shuffle=False, verbose=0).history
    khistory = kmodel.fit(x, y, epochs=3, batch_size=4, shuffle=False, verbose=0).history
    assert_close(np.array(history["loss"]), np.array(khistory["loss"]), GRAD_RTOL, "history")
    for w, kw in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        assert_close(w, kw, TRAJECTORY_RTOL, "weights after 3 epochs")


def test_keras_files_both_ways(tmp_path):
    kmodel = keras.Sequential([keras.Input((STEPS, FEATURES)), keras.layers.GRU(UNITS, reset_after=False),
                               keras.layers.Dense(1)])
    x = np.random.default_rng(13).standard_normal((3, STEPS, FEATURES)).astype(np.float32)
    kmodel.save(tmp_path / "theirs.keras")
    ours = sn.load_model(tmp_path / "theirs.keras")
    assert ours.layers[0].reset_after is False and ours.layers[0].bias.value.shape == (3 * UNITS,)
    assert_close(ours.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL, "we read Keras'")
    ours.save(tmp_path / "ours.keras")
    theirs = keras.models.load_model(tmp_path / "ours.keras")
    assert theirs.layers[0].cell.reset_after is False
    assert_close(theirs.predict(x, verbose=0), ours.predict(x, verbose=0), FORWARD_RTOL, "Keras reads ours")
    back = tfnet.from_keras(kmodel)
    assert back.layers[0].reset_after is False
