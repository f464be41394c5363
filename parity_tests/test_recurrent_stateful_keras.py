"""``stateful=True`` against Keras 3.15: the same program written once for both libraries (``lib``
is ``keras`` or ``scratchnet``), a model on ``Input(batch_size=B)`` whose recurrent layer carries
its states from batch to batch.

- ``predict`` over several batches, called twice (the second call continues from the first's
  states): every output and the carried states after it, at FORWARD_RTOL; then
  ``reset_state()`` and the first batch again.
- ``fit`` with ``shuffle=False`` for two epochs, the states carried across the steps and the
  epochs: the history (GRAD_RTOL), the weights and the states after it (TRAJECTORY_RTOL).
- ``.keras`` files both ways: the batch size is kept, the states are not (Keras keeps them in
  variables it does not save: a file Keras wrote after a predict loads with zero states).
- The error of a graph without a batch size, in both.
"""

import keras
import numpy as np
import pytest

import scratchnet as sn
from parity_tests.driver import FORWARD_RTOL, GRAD_RTOL, TRAJECTORY_RTOL, assert_close

B, T, F = 3, 4, 2


def _recurrent(lib, kind):
    layers = lib.layers
    return {
        "SimpleRNN": lambda: layers.SimpleRNN(3, stateful=True),
        "LSTM": lambda: layers.LSTM(3, stateful=True, return_sequences=True),
        "GRU": lambda: layers.GRU(3, stateful=True, go_backwards=True),
        "RNN": lambda: layers.RNN(layers.LSTMCell(3), stateful=True),
        "stacked": lambda: layers.RNN([layers.SimpleRNNCell(2), layers.GRUCell(3)], stateful=True),
        "Bidirectional": lambda: layers.Bidirectional(layers.LSTM(2, stateful=True)),
        "ConvLSTM1D": lambda: layers.ConvLSTM1D(2, 2, stateful=True),
    }[kind]()


def _model(lib, kind):
    shape = (T, 3, 1) if kind == "ConvLSTM1D" else (T, F)
    inp = lib.layers.Input(shape, batch_size=B)
    out = lib.layers.Dense(1)(lib.layers.Flatten()(_recurrent(lib, kind)(inp)))
    return lib.Model(inp, out)


def _twins(kind):
    model, kmodel = _model(sn, kind), _model(keras, kind)
    rng = np.random.default_rng(0)
    for p in model.weights:  # biases too, so every term counts
        p.value[...] = (0.4 * rng.standard_normal(p.value.shape)).astype(p.value.dtype)
    kmodel.set_weights(model.get_weights())
    return model, kmodel


def _states(model, index=1):
    """The carried states of the model's recurrent layer, flat (Keras nests a stack's per cell)."""
    return [np.asarray(s) for s in keras.tree.flatten(model.layers[index].states)]


def _data(kind, n=3, seed=1):
    shape = (T, 3, 1) if kind == "ConvLSTM1D" else (T, F)
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n * B, *shape)).astype("float32"), rng.standard_normal((n * B, 1)).astype(
        "float32")


KINDS = ["SimpleRNN", "LSTM", "GRU", "RNN", "stacked", "Bidirectional", "ConvLSTM1D"]


@pytest.mark.parametrize("kind", KINDS)
def test_predict_carries_the_states_as_keras(kind):
    model, kmodel = _twins(kind)
    x, _ = _data(kind)
    for call in ("first", "second (continues)"):
        assert_close(model.predict(x, batch_size=B, verbose=0), kmodel.predict(x, batch_size=B, verbose=0),
                     FORWARD_RTOL, f"{kind}: predict, {call} call")
        for s, ks in zip(_states(model), _states(kmodel), strict=True):
            assert_close(s, ks, FORWARD_RTOL, f"{kind}: states after the {call} call")
    model.layers[1].reset_state()
    if kind == "stacked":  # Keras 3.15's reset_state fails on a stack's nested states: zero them here
        with pytest.raises(AttributeError, match="'ListWrapper' object has no attribute 'assign'"):
            kmodel.layers[1].reset_state()
        for v in keras.tree.flatten(kmodel.layers[1].states):
            v.assign(np.zeros(v.shape, "float32"))
    else:
        kmodel.layers[1].reset_state()
    assert all(not s.any() for s in _states(model))
    first = model.predict(x[:B], batch_size=B, verbose=0)
    assert_close(first, kmodel.predict(x[:B], batch_size=B, verbose=0), FORWARD_RTOL, f"{kind}: after reset")


@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU", "stacked", "Bidirectional", "ConvLSTM1D"])
def test_fit_carries_the_states_across_steps_and_epochs_as_keras(kind):
    model, kmodel = _twins(kind)
    x, y = _data(kind)
    model.compile(sn.optimizers.Adam(learning_rate=0.01), "mse")
    kmodel.compile(keras.optimizers.Adam(learning_rate=0.01), "mse")
    history = model.fit(x, y, batch_size=B, epochs=2, shuffle=False, verbose=0).history
    khistory = kmodel.fit(x, y, batch_size=B, epochs=2, shuffle=False, verbose=0).history
    assert_close(np.array(history["loss"]), np.array(khistory["loss"]), GRAD_RTOL, f"{kind}: history")
    for w, kw in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        assert_close(w, kw, TRAJECTORY_RTOL, f"{kind}: weights after 2 epochs")
    for s, ks in zip(_states(model), _states(kmodel), strict=True):
        assert_close(s, ks, TRAJECTORY_RTOL, f"{kind}: states after fit")


def test_keras_files_keep_the_batch_size_and_not_the_states(tmp_path):
    kmodel = keras.Sequential([keras.Input(batch_shape=(B, T, F)), keras.layers.GRU(3, stateful=True),
                               keras.layers.Dense(1)])
    x, _ = _data("GRU", n=2)
    kmodel.predict(x, batch_size=B, verbose=0)
    assert np.abs(_states(kmodel, 0)[0]).max() > 0
    kmodel.save(tmp_path / "theirs.keras")
    kloaded = keras.models.load_model(tmp_path / "theirs.keras")
    assert not _states(kloaded, 0)[0].any()  # Keras does not save the states
    ours = sn.load_model(tmp_path / "theirs.keras")
    gru = ours.layers[0]
    assert gru.stateful and gru.batch_size == B and not gru.states[0].any()
    assert gru.get_config()["stateful"] == kloaded.layers[0].get_config()["stateful"] is True
    for _ in range(2):  # twice: the states carry over in both
        assert_close(ours.predict(x, batch_size=B, verbose=0), kloaded.predict(x, batch_size=B, verbose=0),
                     FORWARD_RTOL, "we read Keras' file")
    ours.save(tmp_path / "ours.keras")
    theirs = keras.models.load_model(tmp_path / "ours.keras")
    assert theirs.input_shape == (B, T, F) and theirs.layers[0].stateful
    ours.layers[0].reset_state()
    assert_close(theirs.predict(x, batch_size=B, verbose=0), ours.predict(x, batch_size=B, verbose=0),
                 FORWARD_RTOL, "Keras reads ours")


def test_a_graph_without_a_batch_size_is_refused_by_both():
    message = "When using `stateful=True` in a RNN, the batch size must be static"
    for lib in (sn, keras):
        with pytest.raises(ValueError, match=message):
            inp = lib.layers.Input((T, F))
            lib.layers.LSTM(2, stateful=True)(inp)


def test_a_declared_batch_size_shows_in_shapes_and_summary_as_in_keras():
    """Keras prints the batch size an Input declares (a stateful model's) where it prints None
    otherwise: input_shape, output_shape and the summary's Output Shape column."""
    def build(lib):
        inputs = lib.Input((4, 2), batch_size=3)
        return lib.Model(inputs, lib.layers.Dense(1)(lib.layers.LSTM(5, stateful=True)(inputs)))

    model, kmodel = build(sn), build(keras)
    assert model.input_shape == tuple(kmodel.input_shape) == (3, 4, 2)
    assert model.output_shape == tuple(kmodel.output_shape) == (3, 1)
    text = model.summary(print_fn=None)
    assert "(3, 5)" in text and "(3, 1)" in text
    seq = sn.Sequential([sn.Input((4, 2), batch_size=3), sn.layers.LSTM(5, stateful=True)])
    assert seq.output_shape == (3, 5) and "(3, 5)" in seq.summary(print_fn=None)
    clone = sn.models.clone_model(seq)
    assert clone.output_shape == (3, 5)  # the clone keeps the declared batch size, as Keras'


@pytest.mark.parametrize("kind", KINDS)
def test_tfnet_converters_keep_stateful_and_the_batch_size(kind):
    """``tfnet.to_keras`` / ``from_keras`` of a stateful model (functional and Sequential): the twin
    is stateful on the same declared batch size (before, the flag was dropped and a stateful layer
    would have restarted every batch), and carries its states as the original does: two predict
    calls in a row at FORWARD_RTOL."""
    import tfnet

    model = _twins(kind)[0]
    shape = (T, 3, 1) if kind == "ConvLSTM1D" else (T, F)
    sequential = sn.Sequential([sn.layers.Input(shape, batch_size=B), _recurrent(sn, kind),
                                sn.layers.Flatten(), sn.layers.Dense(1)], seed=0)
    x, _ = _data(kind)
    for original in (model, sequential):
        kmodel = tfnet.to_keras(original)
        assert kmodel.inputs[0].shape[0] == B
        klayer = next(layer for layer in kmodel.layers if hasattr(layer, "reset_state"))
        assert getattr(klayer, "stateful", None) or klayer.forward_layer.stateful
        back = tfnet.from_keras(kmodel)
        assert back.input_shape == (B, *shape)
        for call in ("first", "second (continues)"):
            expected = original.predict(x, batch_size=B, verbose=0)
            assert_close(kmodel.predict(x, batch_size=B, verbose=0), expected, FORWARD_RTOL,
                         f"{kind}: to_keras twin, {call} predict")
            assert_close(back.predict(x, batch_size=B, verbose=0), expected, FORWARD_RTOL,
                         f"{kind}: from_keras round trip, {call} predict")
