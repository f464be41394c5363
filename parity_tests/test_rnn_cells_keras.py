"""Keras 3.15's cell API against scratchnet: ``SimpleRNNCell``, ``LSTMCell``, ``GRUCell`` one step
at a time, ``RNN(cell)`` over sequences (masks, ``go_backwards``, ``return_sequences``,
``return_state``, ``initial_state``), ``RNN([cells])`` / ``StackedRNNCells``, a user's cell
(the ``MinimalRNNCell`` of Keras' RNN docstring) whose backward pass the tape works out, and
``Bidirectional(merge_mode=None)``.

Each: outputs and states (FORWARD_RTOL); for ``L = sum_k w_k * out_k`` the gradients with
respect to the input, the initial states and every weight against tf.GradientTape (GRAD_RTOL);
optimizer steps and ``fit`` side by side (TRAJECTORY_RTOL / GRAD_RTOL); ``.keras`` (and ``.h5``
for Sequential models) files both ways, the weight paths Keras writes, ``tfnet`` conversion both
ways, and the summary's shapes and parameter counts.
"""

import json
import zipfile

import h5py
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
    check_round_trip,
    check_trajectory,
)

L = sn.layers
STEPS, FEATURES, UNITS, BATCH = 6, 3, 4, 5
MASK = np.array([[True] * 6, [True] * 4 + [False] * 2, [False] + [True] * 4 + [False],
                 [True] * 2 + [False] * 4, [True] * 5 + [False]])
CELLS = ["SimpleRNNCell", "LSTMCell", "GRUCell"]


# ------------------------------------------------------------------ the user's cell, twice
class MinimalRNNCell(sn.layers.Layer):
    """Keras' RNN docstring's cell, written for scratchnet (build takes the model's rng)."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape, rng):
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units), "uniform", rng)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, self.units), "uniform", rng)
        return (self.units,)

    def call(self, inputs, states):
        prev_output = states[0]
        h = sn.ops.matmul(inputs, self.kernel)
        output = h + sn.ops.matmul(prev_output, self.recurrent_kernel)
        return sn.ops.tanh(output), [output]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class TwoStateCell(sn.layers.Layer):
    """A cell with ``state_size`` a list: a running sum beside the state."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = [units, units]

    def build(self, input_shape, rng):
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units), "glorot_uniform", rng)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, self.units),
                                                "orthogonal", rng)
        return (self.units,)

    def call(self, inputs, states):
        h, total = states
        h = sn.ops.tanh(sn.ops.matmul(inputs, self.kernel) + sn.ops.matmul(h, self.recurrent_kernel))
        total = total + h * h
        return h * total, [h, total]


class Keras:
    """The Keras twins of the cells above, under the same class names (Keras names a cell's
    weights after its class: rnn/minimal_rnn_cell/kernel)."""

    class MinimalRNNCell(keras.layers.Layer):
        """The same cell in Keras (its docstring's, with a tanh on the output)."""

        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.state_size = units

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="uniform",
                                          name="kernel")
            self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), initializer="uniform",
                                                    name="recurrent_kernel")

        def call(self, inputs, states):
            prev_output = states[0]
            h = keras.ops.matmul(inputs, self.kernel)
            output = h + keras.ops.matmul(prev_output, self.recurrent_kernel)
            return keras.ops.tanh(output), [output]

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    class TwoStateCell(keras.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.state_size = [units, units]

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")
            self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), name="recurrent_kernel")

        def call(self, inputs, states):
            h, total = states
            h = keras.ops.tanh(keras.ops.matmul(inputs, self.kernel)
                               + keras.ops.matmul(h, self.recurrent_kernel))
            total = total + h * h
            return h * total, [h, total]


# ------------------------------------------------------------------ helpers
def _random_weights(layer, seed):
    rng = np.random.default_rng(seed)
    for p in layer.weights:
        p.value[...] = (rng.standard_normal(p.value.shape) * 0.4).astype(p.value.dtype)


def _twin_rnn(layer, seed, kcell=None, **kwargs):
    """``layer`` built with random weights and its Keras twin (tfnet, or RNN(kcell, ...))."""
    layer.ensure_built((STEPS, FEATURES), np.random.default_rng(seed))
    _random_weights(layer, seed + 1)
    klayer = tfnet.convert.layer_to_keras(layer) if kcell is None else keras.layers.RNN(kcell, **kwargs)
    klayer.build((None, STEPS, FEATURES))
    klayer.set_weights(layer.get_weights())
    return layer, klayer


def _compare_with_tape(layer, klayer, x, states, mask, seed):
    """Forward (every output) and the gradients of sum_k w_k * out_k: input, states, weights."""
    outs = layer.forward(x, mask=mask, initial_state=states if states else None)
    outs = outs if isinstance(outs, list) else [outs]
    rng = np.random.default_rng(seed)
    ws = [rng.standard_normal(o.shape).astype(np.float32) for o in outs]
    grads = layer.backward(ws if len(ws) > 1 else ws[0])
    grads = grads if isinstance(grads, list) else [grads]

    xt, st = tf.constant(x), [tf.constant(s) for s in states]
    with tf.GradientTape() as tape:
        tape.watch([xt, *st])
        kwargs = {"initial_state": st} if states else {}
        kouts = klayer(xt, mask=None if mask is None else tf.constant(mask), **kwargs)
        kouts = list(kouts) if isinstance(kouts, list | tuple) else [kouts]
        loss = tf.add_n([tf.reduce_sum(w * o) for w, o in zip(ws, kouts, strict=True)])
    kgrads = tape.gradient(loss, [xt, *st, *klayer.weights])
    for k, (o, ko) in enumerate(zip(outs, kouts, strict=True)):
        assert_close(o, ko.numpy(), FORWARD_RTOL, f"output {k}")
    assert len(grads) == 1 + len(states)
    for what, g, kg in zip(["x"] + [f"initial state {k}" for k in range(len(states))], grads,
                           kgrads[:1 + len(states)], strict=True):
        assert_close(g, kg.numpy(), GRAD_RTOL, f"gradient with respect to {what}")
    for p, kg in zip(layer.weights, kgrads[1 + len(states):], strict=True):
        assert np.abs(p.grad).max() > 0
        assert_close(p.grad, kg.numpy(), GRAD_RTOL, f"gradient of {p.name}")


def _data(seed=2, n=BATCH):
    return np.random.default_rng(seed).standard_normal((n, STEPS, FEATURES)).astype(np.float32)


# ------------------------------------------------------------------ one step of a cell
@pytest.mark.parametrize("cell", CELLS)
def test_one_step_of_each_cell_matches_keras(cell):
    c = getattr(L, cell)(UNITS)
    c.ensure_built((FEATURES,), np.random.default_rng(0))
    _random_weights(c, 1)
    kc = getattr(keras.layers, cell)(UNITS)
    kc.build((None, FEATURES))
    kc.set_weights(c.get_weights())
    rng = np.random.default_rng(2)
    x = rng.standard_normal((BATCH, FEATURES)).astype(np.float32)
    states = [rng.standard_normal((BATCH, UNITS)).astype(np.float32) for _ in c.state_sizes]
    out, new_states = c(x, states)
    kout, knew = kc(x, states)
    assert_close(out, kout.numpy(), FORWARD_RTOL, "output")
    assert len(new_states) == len(knew)
    for s, ks in zip(new_states, knew, strict=True):
        assert_close(s, ks.numpy(), FORWARD_RTOL, "new state")
    assert c.state_size == kc.state_size and c.output_size == kc.output_size
    assert [s.shape for s in c.get_initial_state(7)] == [tuple(s.shape) for s in kc.get_initial_state(7)]


def test_a_single_state_not_in_a_list_comes_back_alone_as_in_keras():
    c = L.SimpleRNNCell(UNITS)
    kc = keras.layers.SimpleRNNCell(UNITS)
    x, h = np.ones((2, FEATURES), np.float32), np.zeros((2, UNITS), np.float32)
    c(x, h)
    kc(x, h)
    kc.set_weights(c.get_weights())
    out, state = c(x, h)
    kout, kstate = kc(x, h)
    assert isinstance(state, np.ndarray) and not isinstance(kstate, list | tuple)
    assert_close(state, kstate.numpy(), FORWARD_RTOL, "state")


@pytest.mark.parametrize("cell", CELLS)
def test_cell_configs_are_keras_configs(cell):
    kwargs = dict(units=3, use_bias=False, dropout=0.25, recurrent_dropout=0.5, seed=7)
    c = getattr(L, cell)(**kwargs)
    kc = getattr(keras.layers, cell)(**kwargs)
    ours, theirs = c.get_config(), kc.get_config()
    for key in ("units", "activation", "use_bias", "dropout", "recurrent_dropout", "seed",
                "recurrent_activation", "unit_forget_bias", "reset_after"):
        assert ours.get(key) == theirs.get(key), key
    assert set(ours) - {"name"} <= set(theirs)
    again = type(c)(**c.get_config())
    assert again.get_config() == ours


# ------------------------------------------------------------------ RNN(cell) over a sequence
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("return_sequences, go_backwards", [(False, False), (True, False), (True, True)])
@pytest.mark.parametrize("cell", CELLS)
def test_rnn_of_each_cell_matches_keras_with_states_and_gradients(cell, return_sequences, go_backwards,
                                                                   masked):
    layer, klayer = _twin_rnn(L.RNN(getattr(L, cell)(UNITS), return_sequences=return_sequences,
                                    go_backwards=go_backwards, return_state=True), 1)
    assert [w.path for w in klayer.weights] == [p.name for p in layer.weights]
    rng = np.random.default_rng(3)
    states = [rng.standard_normal((BATCH, UNITS)).astype(np.float32) for _ in layer.state_sizes]
    _compare_with_tape(layer, klayer, _data(), states, MASK if masked else None, 4)


@pytest.mark.parametrize("cell", CELLS)
def test_rnn_without_states_and_zero_output_for_mask_matches_keras(cell):
    layer, klayer = _twin_rnn(L.RNN(getattr(L, cell)(UNITS), return_sequences=True,
                                    zero_output_for_mask=True, unroll=True), 5)
    _compare_with_tape(layer, klayer, _data(6), [], MASK, 7)


@pytest.mark.parametrize("masked", [False, True])
def test_stacked_cells_match_keras(masked):
    cells = [L.SimpleRNNCell(3), L.LSTMCell(UNITS), L.GRUCell(2)]
    layer, klayer = _twin_rnn(L.RNN(cells, return_sequences=True), 8)
    assert isinstance(klayer.cell, keras.layers.StackedRNNCells)
    assert [w.path for w in klayer.weights] == [p.name for p in layer.weights]
    assert layer.cell.state_size == klayer.cell.state_size == [3, [UNITS, UNITS], 2]
    _compare_with_tape(layer, klayer, _data(9), [], MASK if masked else None, 10)


def test_a_stacked_rnn_cells_object_matches_keras_going_backwards():
    stack = L.StackedRNNCells([L.LSTMCell(3), L.LSTMCell(2)])
    layer, klayer = _twin_rnn(L.RNN(stack, go_backwards=True), 11)
    _compare_with_tape(layer, klayer, _data(12), [], None, 13)


@pytest.mark.parametrize("masked", [False, True])
def test_a_users_cell_matches_keras(masked):
    layer, klayer = _twin_rnn(L.RNN(MinimalRNNCell(UNITS, name="minimal_rnn_cell"), return_sequences=True,
                                    return_state=True, name="rnn"), 14,
                              kcell=Keras.MinimalRNNCell(UNITS, name="minimal_rnn_cell"),
                              return_sequences=True, return_state=True, name="rnn")
    assert [w.path for w in klayer.weights] == [p.name for p in layer.weights]
    rng = np.random.default_rng(15)
    states = [rng.standard_normal((BATCH, UNITS)).astype(np.float32)]
    _compare_with_tape(layer, klayer, _data(16), states, MASK if masked else None, 17)


def test_a_users_cell_with_two_states_matches_keras():
    layer, klayer = _twin_rnn(L.RNN(TwoStateCell(UNITS), return_state=True, go_backwards=True), 18,
                              kcell=Keras.TwoStateCell(UNITS), return_state=True, go_backwards=True)
    rng = np.random.default_rng(19)
    states = [rng.standard_normal((BATCH, UNITS)).astype(np.float32) * 0.5 for _ in range(2)]
    _compare_with_tape(layer, klayer, _data(20), states, MASK, 21)


# ------------------------------------------------------------------ training side by side
def _sequential(cell_or_cells, seed=22):
    sn.utils.set_random_seed(seed)
    return sn.Sequential([L.Input((STEPS, FEATURES)), L.RNN(cell_or_cells, return_sequences=True),
                          L.RNN(L.GRUCell(3)), L.Dense(2)], seed=seed)


@pytest.mark.parametrize("cells", ["lstm", "stacked"])
def test_adam_steps_and_fit_match_keras(cells):
    made = L.LSTMCell(UNITS) if cells == "lstm" else [L.SimpleRNNCell(3), L.LSTMCell(UNITS)]
    model = _sequential(made)
    model.compile(optimizer=sn.optimizers.Adam(0.01), loss="mse")
    twins = Twins(model, tfnet.to_keras(model))
    x, y = _data(23, n=12), np.random.default_rng(24).standard_normal((12, 2)).astype(np.float32)
    check_forward(twins, x)
    check_loss_and_grads(twins, x, y)
    check_trajectory(twins, [(x[:6], y[:6]), (x[6:], y[6:])], steps=6)
    history = model.fit(x, y, epochs=3, batch_size=4, shuffle=False, verbose=0).history
    khistory = twins.keras.fit(x, y, epochs=3, batch_size=4, shuffle=False, verbose=0).history
    assert_close(np.array(history["loss"]), np.array(khistory["loss"]), GRAD_RTOL, "history loss")
    for w, kw in zip(model.get_weights(), twins.keras.get_weights(), strict=True):
        assert_close(w, kw, TRAJECTORY_RTOL, "weights after fit")


def _custom_twins(seed=25):
    sn.utils.set_random_seed(seed)
    model = sn.Sequential([L.Input((STEPS, FEATURES)), L.RNN(MinimalRNNCell(UNITS)), L.Dense(1)], seed=seed)
    _random_weights(model.layers[0], seed)
    model.compile(optimizer=sn.optimizers.SGD(0.05), loss="mse")
    kmodel = keras.Sequential([keras.Input((STEPS, FEATURES)), keras.layers.RNN(Keras.MinimalRNNCell(UNITS)),
                               keras.layers.Dense(1)])
    kmodel.set_weights(model.get_weights())
    kmodel.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    return Twins(model, kmodel)


def test_a_users_cell_trains_by_fit_as_in_keras():
    twins = _custom_twins()
    x, y = _data(26, n=8), np.random.default_rng(27).standard_normal((8, 1)).astype(np.float32)
    check_forward(twins, x)
    check_loss_and_grads(twins, x, y)
    check_trajectory(twins, [(x[:4], y[:4]), (x[4:], y[4:])], steps=5)
    before = [w.copy() for w in twins.scratch.get_weights()]
    history = twins.scratch.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0).history
    khistory = twins.keras.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0).history
    assert_close(np.array(history["loss"]), np.array(khistory["loss"]), GRAD_RTOL, "history loss")
    for w, kw, b in zip(twins.scratch.get_weights(), twins.keras.get_weights(), before, strict=True):
        assert not np.array_equal(w, b)
        assert_close(w, kw, TRAJECTORY_RTOL, "weights after fit")


# ------------------------------------------------------------------ files, conversion, summary
def _weight_paths(path) -> list[str]:
    with zipfile.ZipFile(path) as z, h5py.File(z.open("model.weights.h5")) as f:
        found = []
        f.visititems(lambda name, item: found.append(name) if isinstance(item, h5py.Dataset) else None)
    return sorted(found)


def _cell_spec(path, layer_index=0):
    config = json.loads(zipfile.ZipFile(path).read("config.json"))
    return config["config"]["layers"][layer_index + 1]["config"]["cell"]


@pytest.mark.parametrize("cells", ["gru", "stacked"])
def test_keras_files_both_ways(tmp_path, cells):
    made = L.GRUCell(UNITS) if cells == "gru" else [L.SimpleRNNCell(3), L.LSTMCell(UNITS), L.LSTMCell(2)]
    model = _sequential(made)
    model.compile(optimizer="adam", loss="mse")
    x, y = _data(28, n=8), np.ones((8, 2), np.float32)
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "ours.keras")
    kmodel = keras.models.load_model(tmp_path / "ours.keras")
    assert_close(kmodel.predict(x, verbose=0), model.predict(x, verbose=0), FORWARD_RTOL, "Keras reads ours")
    kmodel.save(tmp_path / "theirs.keras")
    assert _weight_paths(tmp_path / "ours.keras") == _weight_paths(tmp_path / "theirs.keras")
    ours, theirs = _cell_spec(tmp_path / "ours.keras"), _cell_spec(tmp_path / "theirs.keras")
    assert ours["class_name"] == theirs["class_name"]
    assert set(ours["config"]) <= set(theirs["config"])  # (None regularizers are left out)
    for key, value in ours["config"].items():
        if key == "cells":  # StackedRNNCells: the same cells, in order
            assert [(c["class_name"], c["config"]["units"]) for c in value] == \
                [(c["class_name"], c["config"]["units"]) for c in theirs["config"]["cells"]]
        elif key != "name" and not key.endswith("_initializer"):
            assert value == theirs["config"][key], key
    again = sn.load_model(tmp_path / "theirs.keras")
    assert type(again.layers[0].cell) is type(model.layers[0].cell)
    for w, kw in zip(again.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_array_equal(w, kw)
    assert_close(again.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL, "we read Keras'")


def test_h5_files_both_ways(tmp_path):
    model = _sequential([L.LSTMCell(3), L.GRUCell(2)])
    x = _data(29, n=4)
    model.save(tmp_path / "ours.h5")
    kmodel = keras.models.load_model(tmp_path / "ours.h5", compile=False)
    assert_close(kmodel.predict(x, verbose=0), model.predict(x, verbose=0), FORWARD_RTOL, "Keras reads ours")
    kmodel.save(tmp_path / "theirs.h5")
    again = sn.load_model(tmp_path / "theirs.h5", compile=False)
    for w, kw in zip(again.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_array_equal(w, kw)


def test_a_users_cell_in_keras_files_both_ways(tmp_path):
    twins = _custom_twins(30)
    x = _data(31, n=4)
    twins.scratch.save(tmp_path / "ours.keras")
    kmodel = keras.models.load_model(tmp_path / "ours.keras",
                                     custom_objects={"MinimalRNNCell": Keras.MinimalRNNCell})
    assert_close(kmodel.predict(x, verbose=0), twins.scratch.predict(x, verbose=0), FORWARD_RTOL,
                 "Keras reads ours")
    twins.keras.save(tmp_path / "theirs.keras")
    again = sn.load_model(tmp_path / "theirs.keras",
                          custom_objects={"MinimalRNNCell": MinimalRNNCell})
    assert_close(again.predict(x, verbose=0), twins.keras.predict(x, verbose=0), FORWARD_RTOL,
                 "we read Keras'")


@pytest.mark.parametrize("cells", ["simple", "lstm", "stacked"])
def test_conversion_both_ways_and_summary(cells):
    made = {"simple": L.SimpleRNNCell(UNITS, activation="relu", use_bias=False),
            "lstm": L.LSTMCell(UNITS, unit_forget_bias=False),
            "stacked": [L.GRUCell(3), L.SimpleRNNCell(2)]}[cells]
    model = _sequential(made)
    kmodel = check_round_trip(model)
    for layer, klayer in zip(model.layers, kmodel.layers, strict=True):
        assert layer.count_params() == klayer.count_params()
        assert (None, *layer.output_shape) == tuple(klayer.output.shape)
    assert type(tfnet.from_keras(kmodel).layers[0].cell).__name__ == type(model.layers[0].cell).__name__


# ------------------------------------------------------------------ Bidirectional(merge_mode=None)
@pytest.mark.parametrize("return_sequences, return_state", [(False, False), (True, False), (True, True)])
@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_bidirectional_without_merge_returns_both_directions_as_keras(cell, return_sequences, return_state):
    layer = L.Bidirectional(getattr(L, cell)(UNITS, return_sequences=return_sequences,
                                             return_state=return_state), merge_mode=None)
    layer.ensure_built((STEPS, FEATURES), np.random.default_rng(32))
    _random_weights(layer, 33)
    klayer = tfnet.convert.layer_to_keras(layer)
    klayer.build((None, STEPS, FEATURES))
    klayer.set_weights(layer.get_weights())
    assert klayer.merge_mode is None
    states = []
    if return_state:
        rng = np.random.default_rng(34)
        states = [rng.standard_normal((BATCH, UNITS)).astype(np.float32) for _ in range(layer.n_states)]
    _compare_with_tape(layer, klayer, _data(35), states, MASK, 36)


def test_a_model_on_both_directions_trains_and_saves_as_keras(tmp_path):
    sn.utils.set_random_seed(37)
    inputs = sn.Input((STEPS, FEATURES))
    forward, backward = L.Bidirectional(L.LSTM(UNITS, return_sequences=True), merge_mode=None)(inputs)
    outputs = L.Dense(1)(L.GlobalAveragePooling1D()(L.Subtract()([forward, backward])))
    model = sn.Model(inputs, outputs)
    model.compile(optimizer=sn.optimizers.Adam(0.01), loss="mse")
    twins = Twins(model, tfnet.to_keras(model))
    x, y = _data(38, n=8), np.random.default_rng(39).standard_normal((8, 1)).astype(np.float32)
    check_forward(twins, x)
    check_loss_and_grads(twins, x, y)
    check_trajectory(twins, [(x[:4], y[:4]), (x[4:], y[4:])], steps=4)
    model.save(tmp_path / "ours.keras")
    kmodel = keras.models.load_model(tmp_path / "ours.keras")
    assert_close(kmodel.predict(x, verbose=0), model.predict(x, verbose=0), FORWARD_RTOL, "Keras reads ours")
    kmodel.save(tmp_path / "theirs.keras")
    again = sn.load_model(tmp_path / "theirs.keras")
    assert again.layers[1].merge_mode is None
    assert_close(again.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL, "we read Keras'")
    back = tfnet.from_keras(kmodel)
    assert_close(back.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL, "from_keras")


def test_an_encoder_decoder_of_cells_passes_its_states_as_keras(tmp_path):
    """RNN(LSTMCell, return_state=True) hands its states to a decoder RNN(LSTMCell) in a graph:
    forward, every gradient (the encoder's only through the states), steps, files both ways."""
    sn.utils.set_random_seed(40)
    encoder_in, decoder_in = sn.Input((STEPS, FEATURES)), sn.Input((4, 2))
    _, h, c = L.RNN(L.LSTMCell(UNITS), return_state=True)(encoder_in)
    decoded = L.RNN(L.LSTMCell(UNITS), return_sequences=True)(decoder_in, initial_state=[h, c])
    model = sn.Model([encoder_in, decoder_in], L.Dense(1)(decoded))
    model.compile(optimizer=sn.optimizers.Adam(0.01), loss="mse")
    twins = Twins(model, tfnet.to_keras(model))
    rng = np.random.default_rng(41)
    x = [_data(42, n=6), rng.standard_normal((6, 4, 2)).astype(np.float32)]
    y = rng.standard_normal((6, 4, 1)).astype(np.float32)
    check_forward(twins, x)
    _, grads = check_loss_and_grads(twins, x, y)
    assert np.abs(grads[0]).max() > 0  # the encoder's kernel learns through the states
    check_trajectory(twins, [([a[:3] for a in x], y[:3]), ([a[3:] for a in x], y[3:])], steps=4)
    model.save(tmp_path / "ours.keras")
    kmodel = keras.models.load_model(tmp_path / "ours.keras")
    assert_close(kmodel.predict(x, verbose=0), model.predict(x, verbose=0), FORWARD_RTOL, "Keras reads ours")
    kmodel.save(tmp_path / "theirs.keras")
    again = sn.load_model(tmp_path / "theirs.keras")
    assert_close(again.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL, "we read Keras'")
