"""keras.io's guide "Working with RNNs", the sections that parity_tests/test_recurrent*_keras.py
and test_rnn_cells_keras.py do not already cover, run in both libraries on small seeded data:

- ``summary()`` of a Sequential given no input shape (Keras lists ``?`` and ``0 (unbuilt)``),
  and of a built Embedding -> GRU(return_sequences) -> SimpleRNN -> Dense stack;
- an encoder-decoder whose encoder returns its states (``return_state=True``): the summary row
  lists the three output shapes, as Keras' does; outputs with the same weights;
- cross-batch statefulness called eagerly (``layer(paragraph)`` three times, ``reset_states``),
  and ``layer.states`` handed to a new layer as ``initial_state``;
- ``Bidirectional(..., input_shape=...)`` as the first layer of a Sequential;
- the "cuDNN" section without the GPU: ``RNN(LSTMCell(u))`` gives ``LSTM(u)``'s numbers with the
  same weights, and a model of it with BatchNormalization trains with SGD as Keras' does;
- the nested-input cell: Keras 3.15 itself fails on the guide's program, and scratchnet refuses
  a state of more than one axis with a clear error.

Tolerances (driver.py): outputs FORWARD_RTOL, losses and weights after training TRAJECTORY_RTOL.
"""

import keras
import numpy as np
import pytest

import scratchnet as sn
from parity_tests.driver import FORWARD_RTOL, TRAJECTORY_RTOL, assert_close


def _rows(text: str, names: list[str]) -> list[str]:
    """The summary line of each layer named (the first line that starts with it)."""
    lines = [line.strip("│ ") for line in text.splitlines()]
    return [next(line for line in lines if line.startswith(name + " ")) for name in names]


def _counts(model) -> list[int]:
    return [layer.count_params() for layer in model.layers]


def _keras_summary(model) -> str:
    lines = []
    model.summary(print_fn=lambda line, **kwargs: lines.append(line))
    return "\n".join(lines)


def _unbuilt(K):
    model = K.Sequential(name="unbuilt")
    for layer in (K.layers.Embedding(50, 8, name="emb"), K.layers.LSTM(6, name="lstm"),
                  K.layers.Dense(3, name="head")):
        model.add(layer)
    return model


def test_summary_of_an_unbuilt_sequential_lists_its_layers_as_keras():
    ours, theirs = _unbuilt(sn).summary(print_fn=None), _keras_summary(_unbuilt(keras))
    names = ["emb (Embedding)", "lstm (LSTM)", "head (Dense)"]
    for row, krow in zip(_rows(ours, names), _rows(theirs, names), strict=True):
        assert row.split() == krow.replace("│", " ").split()  # name, "?", "0 (unbuilt)"
        assert "?" in row.split() and row.endswith("0 (unbuilt)")
    assert "Total params: 0" in ours and "Total params: 0" in theirs


def _stack(K, **seed):
    return K.Sequential([K.Input((5,), dtype="int32"), K.layers.Embedding(30, 8),
                         K.layers.GRU(6, return_sequences=True), K.layers.SimpleRNN(5),
                         K.layers.Dense(3)], **seed)


def test_a_built_stack_has_keras_shapes_counts_and_outputs():
    ours, theirs = _stack(sn, seed=0), _stack(keras)
    assert _counts(ours) == _counts(theirs)
    assert [tuple(layer.output.shape) for layer in ours.layers] == \
        [tuple(layer.output.shape) for layer in theirs.layers]
    ours.set_weights(theirs.get_weights())
    ids = np.random.default_rng(0).integers(0, 30, (4, 5))
    assert_close(ours.predict(ids, verbose=0), theirs.predict(ids, verbose=0), FORWARD_RTOL, "stack")


def _encoder_decoder(K):
    enc_in = K.Input((None,))
    _, h, c = K.layers.LSTM(8, return_state=True, name="encoder")(K.layers.Embedding(20, 8)(enc_in))
    dec_in = K.Input((None,))
    dec = K.layers.LSTM(8, name="decoder")(K.layers.Embedding(25, 8)(dec_in), initial_state=[h, c])
    return K.Model([enc_in, dec_in], K.layers.Dense(4)(dec))


def test_encoder_decoder_summary_and_outputs():
    ours, theirs = _encoder_decoder(sn), _encoder_decoder(keras)
    row, krow = _rows(ours.summary(print_fn=None), ["encoder (LSTM)"])[0], \
        _rows(_keras_summary(theirs), ["encoder (LSTM)"])[0]
    assert "[(None, 8), (None, 8), (None, 8)]" in row
    assert krow.replace("│", " ").split()[2:4] == ["[(None,", "8),"]  # Keras wraps the same list
    assert ours.count_params() == theirs.count_params() == 160 + 200 + 2 * 544 + 36
    ours.set_weights(theirs.get_weights())
    rng = np.random.default_rng(1)
    x = [rng.integers(0, 20, (3, 4)), rng.integers(0, 25, (3, 6))]
    assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), FORWARD_RTOL, "seq2seq")


def test_cross_batch_statefulness_called_eagerly_and_states_reused():
    rng = np.random.default_rng(2)
    paragraphs = [rng.random((4, 5, 3)).astype("float32") for _ in range(3)]
    theirs, ours = keras.layers.LSTM(6, stateful=True), sn.layers.LSTM(6, stateful=True)
    k_outs = [np.asarray(theirs(p)) for p in paragraphs[:2]]
    k_states = [np.asarray(s) for s in theirs.states]
    ours(paragraphs[0])
    ours.reset_states()
    ours.set_weights(theirs.get_weights())
    outs = [ours(p) for p in paragraphs[:2]]
    for out, k_out in zip(outs, k_outs, strict=True):
        assert_close(out, k_out, FORWARD_RTOL, "stateful output")
    for s, ks in zip(ours.states, k_states, strict=True):
        assert_close(s, ks, FORWARD_RTOL, "carried state")
    # the states as the initial state of a new layer (the guide's "RNN state reuse")
    k_new, new = keras.layers.LSTM(6), sn.layers.LSTM(6)
    k_out3 = np.asarray(k_new(paragraphs[2], initial_state=theirs.states))
    new(paragraphs[2])
    new.set_weights(k_new.get_weights())
    assert_close(new(paragraphs[2], initial_state=ours.states), k_out3, FORWARD_RTOL, "reused states")
    theirs.reset_states()
    ours.reset_states()
    for s, ks in zip(ours.states, theirs.states, strict=True):
        np.testing.assert_array_equal(np.asarray(s), np.asarray(ks))
        assert not np.asarray(s).any()


def _bidirectional(K, **seed):
    model = K.Sequential(**seed)
    model.add(K.layers.Bidirectional(K.layers.LSTM(6, return_sequences=True), input_shape=(5, 4)))
    model.add(K.layers.Bidirectional(K.layers.LSTM(3)))
    model.add(K.layers.Dense(2))
    return model


@pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`")  # both warn, as Keras
def test_bidirectional_with_input_shape_in_a_sequential():
    ours, theirs = _bidirectional(sn, seed=0), _bidirectional(keras)
    assert _counts(ours) == _counts(theirs)
    assert ours.output_shape == theirs.output_shape == (None, 2)
    ours.set_weights(theirs.get_weights())
    x = np.random.default_rng(3).standard_normal((3, 5, 4)).astype("float32")
    assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), FORWARD_RTOL, "Bidirectional")


def _rows_model(K, generic: bool):
    layer = K.layers.RNN(K.layers.LSTMCell(8)) if generic else K.layers.LSTM(8)
    return K.Sequential([K.Input((None, 7)), layer, K.layers.BatchNormalization(), K.layers.Dense(10)])


def test_rnn_of_an_lstm_cell_is_lstm_and_trains_as_keras():
    rng = np.random.default_rng(4)
    x = rng.random((16, 7, 7)).astype("float32")  # image rows as steps: MNIST's layout, scaled down
    y = rng.integers(0, 10, 16)
    theirs = _rows_model(keras, generic=False)
    ours_layer, ours_cell = _rows_model(sn, generic=False), _rows_model(sn, generic=True)
    for model in (ours_layer, ours_cell):
        model.set_weights(theirs.get_weights())
    k_pred = np.asarray(theirs.predict_on_batch(x[:1]))
    for model in (ours_layer, ours_cell):
        assert_close(model.predict_on_batch(x[:1]), k_pred, FORWARD_RTOL, "predict_on_batch")
        assert int(np.argmax(model.predict_on_batch(x[:1]), axis=1)[0]) == int(np.argmax(k_pred, axis=1)[0])
    histories = []
    for K, model in ((keras, theirs), (sn, ours_layer), (sn, ours_cell)):
        model.compile(loss=K.losses.SparseCategoricalCrossentropy(from_logits=True), optimizer="sgd",
                      metrics=["accuracy"])
        histories.append(model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history)
    for history, model in zip(histories[1:], (ours_layer, ours_cell), strict=True):
        assert_close(history["loss"], histories[0]["loss"], TRAJECTORY_RTOL, "epoch losses")
        assert history["accuracy"] == pytest.approx(histories[0]["accuracy"])
        for w, kw in zip(model.get_weights(), theirs.get_weights(), strict=True):
            assert_close(w, kw, TRAJECTORY_RTOL, "weights after 8 SGD steps")


def test_a_cell_with_a_two_axis_state_is_refused_clearly():
    class PairCell(sn.layers.Layer):
        def __init__(self, **kwargs):
            self.state_size = [(3,), (2, 4)]
            self.output_size = [(3,), (2, 4)]
            super().__init__(**kwargs)

        def call(self, inputs, states):
            return inputs, states

    with pytest.raises(ValueError, match=r"state_size=\[\(3,\), \(2, 4\)\]"):
        sn.layers.RNN(PairCell())(sn.Input((None, 5)))
