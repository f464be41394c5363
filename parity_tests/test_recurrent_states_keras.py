"""States in and out of SimpleRNN, LSTM and GRU against Keras 3.15: ``return_state=True`` and
``initial_state=[h0, (c0)]``, and keras.io's character-level sequence-to-sequence model built of
them (an encoder LSTM whose final states start a decoder LSTM).

- One layer, the same weights on both sides: the output and the returned states, and, for
  ``L = sum_k w_k * out_k``, the gradients with respect to every weight, the input and the
  initial states (tf.GradientTape on Keras' side), with and without a padding mask (Keras' rule:
  the returned state is that after the last real step) and ``go_backwards``.
- The seq2seq model (fixed lengths, small sizes) through the driver: forward, loss, gradients of
  every weight (the encoder's come only through the decoder's initial state), 10 Adam steps,
  ``fit``'s history, ``.keras`` files both ways (inbound nodes naming ``["lstm", 0, 1]`` and
  ``["lstm", 0, 2]``, as Keras writes them) and ``to_keras``/``from_keras``.

Tolerances (driver.py): FORWARD_RTOL for outputs and losses, GRAD_RTOL for gradients and
per-epoch losses, TRAJECTORY_RTOL for weights after training.
"""

import json
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf

import scratchnet as sn
import tfnet
from parity_tests.driver import (
    FORWARD_RTOL,
    GRAD_RTOL,
    TRAJECTORY_RTOL,
    Twins,
    assert_close,
    check_forward,
    check_loss_and_grads,
    check_trajectory,
)

L = sn.layers
STEPS, FEATURES, UNITS, BATCH = 6, 3, 4, 5
MASK = np.array([[True] * 6, [True] * 4 + [False] * 2, [False] + [True] * 4 + [False],
                 [True] * 2 + [False] * 4, [True] * 5 + [False]])


def _twin_layers(cell, seed, **kwargs):
    layer = getattr(L, cell)(UNITS, return_state=True, **kwargs)
    layer.ensure_built((STEPS, FEATURES), np.random.default_rng(seed))
    rng = np.random.default_rng(seed + 1)
    for p in layer.weights:
        if "bias" in p.name:
            p.value[...] = rng.standard_normal(p.value.shape).astype(np.float32) * 0.3
    klayer = tfnet.convert.layer_to_keras(layer)
    klayer.build((None, STEPS, FEATURES))
    klayer.set_weights(layer.get_weights())
    return layer, klayer


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("return_sequences, go_backwards", [(False, False), (True, False), (False, True)])
@pytest.mark.parametrize("cell", ["SimpleRNN", "LSTM", "GRU"])
def test_states_and_their_gradients_match_keras(cell, return_sequences, go_backwards, masked):
    layer, klayer = _twin_layers(cell, 1, return_sequences=return_sequences, go_backwards=go_backwards)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((BATCH, STEPS, FEATURES)).astype(np.float32)
    states = [rng.standard_normal((BATCH, UNITS)).astype(np.float32) for _ in range(layer.n_states)]
    mask = MASK if masked else None
    outs = layer.forward(x, mask=mask, initial_state=states)
    ws = [rng.standard_normal(o.shape).astype(np.float32) for o in outs]
    grads = layer.backward(ws)

    xt, st = tf.constant(x), [tf.constant(s) for s in states]
    with tf.GradientTape() as tape:
        tape.watch([xt, *st])
        kouts = klayer(xt, initial_state=st, mask=None if mask is None else tf.constant(mask))
        loss = tf.add_n([tf.reduce_sum(w * o) for w, o in zip(ws, kouts, strict=True)])
    kgrads = tape.gradient(loss, [xt, *st, *klayer.weights])

    for k, (o, ko) in enumerate(zip(outs, kouts, strict=True)):
        assert_close(o, ko.numpy(), FORWARD_RTOL, f"output {k} (0: output, then the states)")
    for what, g, kg in zip(["x"] + [f"initial state {k}" for k in range(len(states))], grads,
                           kgrads, strict=False):
        assert_close(g, kg.numpy(), GRAD_RTOL, f"gradient with respect to {what}")
    for p, kg in zip(layer.weights, kgrads[1 + len(states):], strict=True):
        assert_close(p.grad, kg.numpy(), GRAD_RTOL, f"gradient of {p.name}")


@pytest.mark.parametrize("cell", ["SimpleRNN", "LSTM", "GRU"])
def test_a_model_whose_states_come_from_another_input_matches_keras(cell):
    """States made by a Dense layer, returned states as model outputs: every weight's gradient
    (the Dense layer's come only through dL/dh0, dL/dc0)."""
    sn.utils.set_random_seed(3)
    x_in, z_in = sn.Input((STEPS, FEATURES)), sn.Input((2,))
    n_states = 2 if cell == "LSTM" else 1
    states = [L.Dense(UNITS, activation="tanh")(z_in) for _ in range(n_states)]
    out, *returned = getattr(L, cell)(UNITS, return_sequences=True, return_state=True)(
        x_in, initial_state=states)
    model = sn.Model([x_in, z_in], [L.Dense(1)(out), *returned])
    model.compile(optimizer="sgd", loss="mse")
    twins = Twins(model, tfnet.to_keras(model))
    rng = np.random.default_rng(4)
    x = [rng.standard_normal((BATCH, STEPS, FEATURES)).astype(np.float32),
         rng.standard_normal((BATCH, 2)).astype(np.float32)]
    y = [rng.standard_normal((BATCH, STEPS, 1)).astype(np.float32)] + [
        rng.standard_normal((BATCH, UNITS)).astype(np.float32) for _ in returned]
    check_forward(twins, x)
    check_loss_and_grads(twins, x, y)


# ------------------------------------------------------------------ keras.io's seq2seq model
ENCODER_STEPS, DECODER_STEPS, ENCODER_TOKENS, DECODER_TOKENS, LATENT = 5, 4, 6, 5, 8


def _seq2seq(seed=5):
    sn.utils.set_random_seed(seed)
    encoder_inputs = sn.Input((ENCODER_STEPS, ENCODER_TOKENS))
    encoder = L.LSTM(LATENT, return_state=True)
    _, state_h, state_c = encoder(encoder_inputs)
    decoder_inputs = sn.Input((DECODER_STEPS, DECODER_TOKENS))
    decoder_lstm = L.LSTM(LATENT, return_sequences=True, return_state=True)
    decoder_outputs, _, _ = decoder_lstm(decoder_inputs, initial_state=[state_h, state_c])
    decoder_outputs = L.Dense(DECODER_TOKENS, activation="softmax")(decoder_outputs)
    return sn.Model([encoder_inputs, decoder_inputs], decoder_outputs)


def _one_hot_data(n=12, seed=6):
    rng = np.random.default_rng(seed)
    eye_in, eye_out = np.eye(ENCODER_TOKENS, dtype=np.float32), np.eye(DECODER_TOKENS, dtype=np.float32)
    encoder = eye_in[rng.integers(0, ENCODER_TOKENS, (n, ENCODER_STEPS))]
    target_ids = rng.integers(0, DECODER_TOKENS, (n, DECODER_STEPS))
    decoder = np.zeros((n, DECODER_STEPS, DECODER_TOKENS), np.float32)  # teacher forcing: shifted
    decoder[:, 1:] = eye_out[target_ids[:, :-1]]
    decoder[:, 0, 0] = 1
    return [encoder, decoder], eye_out[target_ids]


def _compiled_twins():
    model = _seq2seq()
    model.compile(optimizer=sn.optimizers.Adam(0.01), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    return Twins(model, tfnet.to_keras(model))


def test_the_seq2seq_model_forward_gradients_and_adam_steps_match_keras():
    twins = _compiled_twins()
    x, y = _one_hot_data()
    assert [w.shape for w in twins.keras.get_weights()] == [w.shape for w in twins.scratch.get_weights()]
    check_forward(twins, x)
    _, grads = check_loss_and_grads(twins, x, y)
    assert np.abs(grads[0]).max() > 0  # the encoder's kernel learns through the initial state
    check_trajectory(twins, [([a[:6] for a in x], y[:6]), ([a[6:] for a in x], y[6:])], steps=10)


def test_the_seq2seq_model_fits_as_keras():
    twins = _compiled_twins()
    x, y = _one_hot_data(n=20, seed=7)
    history = twins.scratch.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0).history
    khistory = twins.keras.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0).history
    for key in ("loss", "accuracy"):
        assert_close(np.array(history[key]), np.array(khistory[key]), GRAD_RTOL, f"history {key}")
    for w, kw in zip(twins.scratch.get_weights(), twins.keras.get_weights(), strict=True):
        assert_close(w, kw, TRAJECTORY_RTOL, "weights after 3 epochs")


def _inbound_refs(path) -> dict:
    """``{layer name: [[keras_history of each tensor it reads], ...]}`` from a .keras file."""
    config = json.loads(zipfile.ZipFile(path).read("config.json"))

    def refs(value):
        if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
            return [value["config"]["keras_history"]]
        if isinstance(value, list):
            return [r for v in value for r in refs(v)]
        if isinstance(value, dict):
            return [r for k in sorted(value) for r in refs(value[k])]
        return []

    return {spec["name"]: [refs(node) for node in spec["inbound_nodes"]]
            for spec in config["config"]["layers"]}


def test_seq2seq_files_and_conversion_both_ways(tmp_path):
    twins = _compiled_twins()
    model, kmodel = twins.scratch, twins.keras
    x, y = _one_hot_data()
    model.fit(x, y, epochs=1, batch_size=6, shuffle=False, verbose=0)  # optimizer slots to save too
    model.save(tmp_path / "ours.keras")
    theirs = keras.models.load_model(tmp_path / "ours.keras")
    assert_close(theirs.predict(x, verbose=0), model.predict(x, verbose=0), FORWARD_RTOL, "Keras reads ours")
    theirs.save(tmp_path / "theirs.keras")
    refs = _inbound_refs(tmp_path / "theirs.keras")
    assert refs == _inbound_refs(tmp_path / "ours.keras")
    assert refs["lstm_1"] == [[[model.input_names[1], 0, 0], ["lstm", 0, 1], ["lstm", 0, 2]]]
    again = sn.load_model(tmp_path / "theirs.keras")
    for w, kw in zip(again.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_array_equal(w, kw)
    assert_close(again.predict(x, verbose=0), theirs.predict(x, verbose=0), FORWARD_RTOL, "we read Keras'")
    npz = tmp_path / "ours.npz"
    model.save(npz)
    np.testing.assert_array_equal(sn.load_model(npz).predict(x, verbose=0), model.predict(x, verbose=0))

    kmodel.set_weights(model.get_weights())
    back = tfnet.from_keras(kmodel)
    assert [type(layer).__name__ for layer in back.layers] == ["InputLayer", "InputLayer", "LSTM", "LSTM",
                                                              "Dense"]
    for w, kw in zip(back.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_array_equal(w, kw)
    assert_close(back.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL, "from_keras")


def test_an_inference_encoder_of_the_states_alone_matches_keras():
    """keras.io's inference set-up: ``Model(encoder_inputs, [state_h, state_c])`` sharing the
    trained encoder, two outputs from one layer call."""
    model = _seq2seq()
    encoder = model.layers[2]
    encoder_model = sn.Model(model.inputs[0], encoder.output[1:])
    kmodel = tfnet.to_keras(encoder_model)
    x, _ = _one_hot_data()
    for out, kout in zip(encoder_model.predict(x[0], verbose=0), kmodel.predict(x[0], verbose=0),
                         strict=True):
        assert_close(out, kout, FORWARD_RTOL, "encoder states")
