"""Sequences of any length (``Input((None, F))``) and ``Bidirectional(return_state=True)`` against
Keras 3.15.

- Models built for unknown lengths: the same output shapes as Keras' (``None`` kept), and at two
  different lengths every layer's output (check_forward), the loss and every gradient
  (check_loss_and_grads); then SGD (momentum) steps on batches that alternate between two lengths
  (check_trajectory): Embedding + LSTM, Conv1D (each padding) + pooling, Bidirectional GRU,
  Masking, LayerNormalization, Reshape with -1. (TimeDistributed's forward at any length is in
  tests/test_variable_length.py; Keras 3.15.1's own TimeDistributed computes wrong shapes in a
  train function retraced for a second length, see docs/text.md.)
- A functional graph of two inputs of their own lengths (MultiHeadAttention, Concatenate, Add,
  LayerNormalization): forward, gradients and 6 Adam steps at two pairs of lengths.
- The refused cases: Keras refuses the same models (a weight of unknown size) at construction.
- Files both ways: a Keras ``.keras``/``.h5`` file with ``batch_shape [null, null, 8]`` loads in
  scratchnet, and scratchnet's opens in Keras, with the same predictions at a new length;
  ``tfnet.from_keras`` keeps the None too.
- ``Bidirectional(LSTM/GRU/SimpleRNN(return_state=True))``: ``[output, forward states...,
  backward states...]`` and, for ``L = sum_k w_k * out_k``, the gradients of every weight, the
  input and the initial states (tf.GradientTape), with and without a padding mask and
  ``initial_state``; then an encoder-decoder whose Bidirectional encoder's states start the
  decoder, through the driver (forward, gradients, 8 Adam steps on two lengths), ``.keras`` files
  and tfnet both ways.

Tolerances (driver.py): FORWARD_RTOL for outputs and losses, GRAD_RTOL for gradients,
TRAJECTORY_RTOL for weights after training.
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
    assert_close,
    check_forward,
    check_loss_and_grads,
    check_trajectory,
    make_twins,
    random_weights,
)

L = sn.layers
F = 5


def _models():
    """``name -> (layers maker taking a layers module, sample shape, reads ids, loss, target)``;
    the target kind: "seq" (a vector per step), "last" (one vector per sequence)."""
    yield "embedding_lstm", lambda M: [M.Embedding(15, 6), M.LSTM(4, return_sequences=True), M.Dense(3)], \
        (None,), True, "seq"
    yield "conv1d_pooling", lambda M: [
        M.Conv1D(4, 3, padding="causal", activation="relu"), M.Conv1D(4, 2, padding="same", strides=2),
        M.MaxPooling1D(2, padding="same"), M.Conv1D(3, 2), M.GlobalAveragePooling1D(), M.Dense(3),
    ], (None, F), False, "last"
    # (Dense, not TimeDistributed(Dense): Keras 3.15.1's TimeDistributed, once train_on_batch
    # retraces for a second length, maps its layer over range(batch size) instead of the steps)
    yield "bidirectional_gru", lambda M: [M.Bidirectional(M.GRU(4, return_sequences=True)), M.Dense(3)], \
        (None, F), False, "seq"
    yield "masking_lstm", lambda M: [M.Masking(0.0), M.LSTM(4), M.Dense(3)], (None, F), False, "last"
    yield "layernorm_reshape", lambda M: [M.Dense(4), M.LayerNormalization(), M.Reshape((-1, 2)),
                                          M.AveragePooling1D(2), M.GlobalMaxPooling1D(), M.Dense(3)], \
        (None, F), False, "last"


MODELS = {name: rest for name, *rest in _models()}


def _batch(shape, steps, ids, target, seed):
    rng = np.random.default_rng(seed)
    if ids:
        x = rng.integers(1, 15, (4, steps))
    else:
        x = rng.standard_normal((4, steps, *shape[1:])).astype(np.float32)
        x[1, -2:] = 0.0  # padded steps, which Masking skips
    y = rng.standard_normal((4, steps, 3) if target == "seq" else (4, 3)).astype(np.float32)
    return x, y


@pytest.mark.parametrize("name", sorted(MODELS))
def test_unknown_length_models_match_keras(name):
    make, shape, ids, target = MODELS[name]
    dtype = "int64" if ids else None
    model = sn.Sequential([L.Input(shape, dtype=dtype), *make(L)], seed=0)
    kmodel = keras.Sequential([keras.Input(shape, dtype=dtype), *make(keras.layers)])
    assert model.output_shape == kmodel.output_shape
    assert [layer.output_shape for layer in model.layers] == \
        [layer.output.shape[1:] for layer in kmodel.layers]
    random_weights(model, seed=1, scale=0.4)
    # SGD with momentum: Adam on an Embedding with ids repeated in a batch differs (docs/parity-notes.md)
    twins = make_twins(model, loss=sn.losses.MeanSquaredError(),
                       optimizer=sn.optimizers.SGD(0.05, momentum=0.9))
    assert twins.keras.input_shape == (None, *shape)
    batches = [_batch(shape, steps, ids, target, seed) for seed, steps in enumerate((9, 6))]
    for x, y in batches:
        check_forward(twins, x)
        check_loss_and_grads(twins, x, y)
    check_trajectory(twins, batches, steps=6)  # the lengths alternate: 9, 6, 9, ...


@pytest.mark.parametrize("make", [
    lambda M: [M.Input((None, 8)), M.Flatten(), M.Dense(3)],
    lambda M: [M.Input((None, None)), M.LSTM(3)],
])
def test_keras_refuses_the_same_models(make):
    with pytest.raises(ValueError, match="Shapes used to initialize variables must be fully-defined"):
        keras.Sequential(make(keras.layers))
    with pytest.raises(ValueError, match="shapes used to initialize variables must be fully-defined"):
        sn.Sequential(make(L))


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_files_with_unknown_lengths_go_both_ways(suffix, tmp_path):
    kmodel = keras.Sequential([keras.Input((None, 8)), keras.layers.GRU(4, return_sequences=True),
                               keras.layers.Conv1D(3, 2, padding="causal"), keras.layers.Dense(2)])
    kmodel.save(tmp_path / f"keras{suffix}")
    if suffix == ".keras":
        config = json.loads(zipfile.ZipFile(tmp_path / "keras.keras").read("config.json"))
        assert config["config"]["layers"][0]["config"]["batch_shape"] == [None, None, 8]
    model = sn.load_model(tmp_path / f"keras{suffix}")
    assert model.input_shape == (None, None, 8)
    x = np.random.default_rng(0).standard_normal((3, 11, 8)).astype(np.float32)
    assert_close(model.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL, "Keras' file")
    converted = tfnet.from_keras(kmodel)
    assert converted.input_shape == (None, None, 8)
    assert_close(converted.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL, "from_keras")
    model.save(tmp_path / f"scratch{suffix}")
    back = keras.saving.load_model(tmp_path / f"scratch{suffix}")
    assert back.input_shape == (None, None, 8)
    x = x[:, :6]
    assert_close(model.predict(x, verbose=0), back.predict(x, verbose=0), FORWARD_RTOL, "scratchnet's file")


def _attention_block(M, Model):
    """MultiHeadAttention between two sequences of their own lengths, Concatenate on the features,
    Add, LayerNormalization, a Dense per step. (No attention biases: the key bias's true gradient
    is 0, rounding noise on both sides; test_attention_keras.py compares it against its kernel's.)"""
    query, value = M.Input((None, 6)), M.Input((None, 5))
    attended = M.MultiHeadAttention(2, 3, use_bias=False)(query, value)
    joined = M.Concatenate()([attended, query])
    summed = M.Add()([M.Dense(12)(joined), joined])
    return Model([query, value], M.Dense(3)(M.LayerNormalization()(summed)))


def test_an_attention_graph_of_unknown_lengths_matches_keras():
    sn.utils.set_random_seed(0)
    model = random_weights(_attention_block(L, sn.Model), seed=5, scale=0.4)
    assert model.output_shape == _attention_block(keras.layers, keras.Model).output_shape == (None, None, 3)
    twins = make_twins(model, loss=sn.losses.MeanSquaredError(), optimizer=sn.optimizers.Adam(0.01))
    rng = np.random.default_rng(6)
    batches = []
    for tq, tv in ((5, 8), (9, 3)):
        x = [rng.standard_normal((3, tq, 6)).astype(np.float32),
             rng.standard_normal((3, tv, 5)).astype(np.float32)]
        batches.append((x, rng.standard_normal((3, tq, 3)).astype(np.float32)))
    for x, y in batches:
        check_forward(twins, x)
        check_loss_and_grads(twins, x, y)
    check_trajectory(twins, batches, steps=6)


# ---------------------------------------------------------------- Bidirectional(return_state)
STATES_MASK = np.array([[True] * 6, [True] * 4 + [False] * 2, [False] + [True] * 5, [True] * 2 + [False] * 4])


@pytest.mark.parametrize("with_initial_state", [False, True])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("cell", ["SimpleRNN", "LSTM", "GRU"])
def test_bidirectional_states_and_their_gradients_match_keras(cell, return_sequences, masked,
                                                               with_initial_state):
    layer = L.Bidirectional(getattr(L, cell)(3, return_state=True, return_sequences=return_sequences))
    layer.ensure_built((None, 4), np.random.default_rng(1))
    rng = np.random.default_rng(2)
    for p in layer.weights:
        p.value[...] = rng.standard_normal(p.value.shape).astype(np.float32) * 0.5
    klayer = tfnet.convert.layer_to_keras(layer)
    klayer.build((None, None, 4))
    klayer.set_weights(layer.get_weights())
    x = rng.standard_normal((4, 6, 4)).astype(np.float32)
    states = [rng.standard_normal((4, 3)).astype(np.float32) for _ in range(layer.n_states)] \
        if with_initial_state else None
    mask = STATES_MASK if masked else None
    outs = layer.forward(x, mask=mask, initial_state=states)
    ws = [rng.standard_normal(o.shape).astype(np.float32) for o in outs]
    grads = layer.backward(ws)
    grads = grads if with_initial_state else [grads]

    xt, st = tf.constant(x), [tf.constant(s) for s in states or []]
    with tf.GradientTape() as tape:
        tape.watch([xt, *st])
        kouts = klayer(xt, initial_state=st or None, mask=None if mask is None else tf.constant(mask))
        loss = tf.add_n([tf.reduce_sum(w * o) for w, o in zip(ws, kouts, strict=True)])
    kgrads = tape.gradient(loss, [xt, *st, *klayer.weights])

    assert len(outs) == len(kouts) == 1 + layer.n_states
    for k, (o, ko) in enumerate(zip(outs, kouts, strict=True)):
        assert_close(o, ko.numpy(), FORWARD_RTOL, f"output {k} (0: output, then the states)")
    names = ["x"] + [f"initial state {k}" for k in range(len(st))] + [p.name for p in layer.weights]
    for what, g, kg in zip(names, grads + [p.grad for p in layer.weights], kgrads, strict=True):
        assert_close(g, kg.numpy(), GRAD_RTOL, f"gradient of {what}")


def _bidirectional_seq2seq(M, Model):
    """An encoder Bidirectional(LSTM(return_state=True)) whose four states, joined, start a decoder
    LSTM; both inputs of any length."""
    encoder_inputs, decoder_inputs = M.Input((None, 4)), M.Input((None, 3))
    _, hf, cf, hb, cb = M.Bidirectional(M.LSTM(3, return_state=True))(encoder_inputs)
    h, c = M.Concatenate()([hf, hb]), M.Concatenate()([cf, cb])
    decoded = M.LSTM(6, return_sequences=True)(decoder_inputs, initial_state=[h, c])
    return Model([encoder_inputs, decoder_inputs], M.Dense(3, activation="softmax")(decoded))


def test_bidirectional_encoder_decoder_matches_keras(tmp_path):
    sn.utils.set_random_seed(0)
    model = _bidirectional_seq2seq(L, sn.Model)
    random_weights(model, seed=3, scale=0.4)
    kmodel = _bidirectional_seq2seq(keras.layers, keras.Model)
    assert model.output_shape == kmodel.output_shape == (None, None, 3)
    twins = make_twins(model, loss=sn.losses.CategoricalCrossentropy(), optimizer=sn.optimizers.Adam(0.02))
    rng = np.random.default_rng(4)
    batches = []
    for te, td in ((6, 4), (3, 7)):
        x = [rng.standard_normal((5, te, 4)).astype(np.float32),
             rng.standard_normal((5, td, 3)).astype(np.float32)]
        batches.append((x, np.eye(3, dtype=np.float32)[rng.integers(0, 3, (5, td))]))
    for x, y in batches:
        check_forward(twins, x)
        check_loss_and_grads(twins, x, y)
    check_trajectory(twins, batches, steps=8)

    x = [rng.standard_normal((2, 9, 4)).astype(np.float32), rng.standard_normal((2, 2, 3)).astype(np.float32)]
    model.save(tmp_path / "bidi.keras")
    config = json.loads(zipfile.ZipFile(tmp_path / "bidi.keras").read("config.json"))
    bidi = next(spec for spec in config["config"]["layers"] if spec["class_name"] == "Bidirectional")
    assert bidi["config"]["layer"]["config"]["return_state"] is True
    loaded_k = keras.saving.load_model(tmp_path / "bidi.keras")
    assert_close(model.predict(x, verbose=0), loaded_k.predict(x, verbose=0), FORWARD_RTOL, ".keras in Keras")
    twins.keras.save(tmp_path / "keras_bidi.keras")
    loaded_s = sn.load_model(tmp_path / "keras_bidi.keras")
    assert_close(loaded_s.predict(x, verbose=0), twins.keras.predict(x, verbose=0), FORWARD_RTOL,
                 "Keras' .keras in scratchnet")
    back = tfnet.from_keras(twins.keras)
    assert_close(back.predict(x, verbose=0), twins.keras.predict(x, verbose=0), FORWARD_RTOL, "from_keras")
