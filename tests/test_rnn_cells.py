"""The cell API (scratchnet/layers/rnn_cells.py, rnn.py): ``RNN(LSTMCell(n))`` is ``LSTM(n)`` (the
same step function), backpropagation through time of ``RNN(cell)``, of stacked cells, of a user's
cell (the gradient tape) and of ``Bidirectional(merge_mode=None)`` against float64 finite
differences (tests/gradcheck.py, REL_TOL 1e-6), with masks and initial states; configs, files,
dropout, and the errors a user meets."""

import numpy as np
import pytest

import scratchnet as sn
from tests.gradcheck import REL_TOL, check_layer, numeric_grad, rel_error

L = sn.layers
CELLS = {"SimpleRNN": L.SimpleRNNCell, "LSTM": L.LSTMCell, "GRU": L.GRUCell}
MASK = np.array([[True, True, True, True], [True, True, False, False], [False, True, True, False]])


@pytest.fixture
def float64():
    sn.config.set_floatx("float64")
    yield
    sn.config.set_floatx("float32")


def _sequences(n=3, steps=4, features=2, seed=0):
    return np.random.default_rng(seed).standard_normal((n, steps, features))


def _random_weights(layer, rng, scale=0.5):
    for p in layer.weights:
        p.value[...] = rng.standard_normal(p.value.shape) * scale


class MinimalRNNCell(sn.layers.Layer):
    """Keras' RNN docstring's cell, with ``build(input_shape, rng)`` as scratchnet layers."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape, rng):
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units), "glorot_uniform", rng)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, self.units), "orthogonal",
                                                rng)
        return (self.units,)

    def call(self, inputs, states):
        output = np.tanh(sn.ops.matmul(inputs, self.kernel) + sn.ops.matmul(states[0], self.recurrent_kernel))
        return output, [output]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class _WithStates(sn.layers.Layer):
    """A layer called with a mask and initial states, returning the sum of its outputs weighted."""

    def __init__(self, inner, mask=None, states=None):
        super().__init__()
        self.inner, self.mask, self.states = inner, mask, states

    def build(self, input_shape, rng):
        shape = self.inner.ensure_built(input_shape, rng)
        self.params = dict(self.inner.params)
        return shape

    def forward(self, x, training=False):
        out = self.inner.forward(x, training=training, mask=self.mask, initial_state=self.states)
        return out[0] if isinstance(out, list) else out

    def backward(self, dy):
        if getattr(self.inner, "return_state", False):
            dy = [dy] + [None] * self.inner.n_states
        dx = self.inner.backward(dy)
        return dx[0] if isinstance(dx, list) else dx


# ------------------------------------------------------------------ one formula, two loops
@pytest.mark.parametrize("cell", list(CELLS))
def test_rnn_of_a_cell_is_the_layer_with_the_same_weights(cell):
    rng = np.random.default_rng(0)
    x = _sequences(features=3).astype(np.float32)
    layer = getattr(L, cell)(4, return_sequences=True, return_state=True, go_backwards=True)
    rnn = L.RNN(CELLS[cell](4), return_sequences=True, return_state=True, go_backwards=True)
    layer.ensure_built((4, 3), rng)
    rnn.ensure_built((4, 3), rng)
    _random_weights(layer, rng)
    rnn.set_weights(layer.get_weights())
    states = [rng.standard_normal((3, 4)).astype(np.float32) for _ in range(rnn.n_states)]
    outs = layer.forward(x, mask=MASK, initial_state=states)
    rnn_outs = rnn.forward(x, mask=MASK, initial_state=states)
    for a, b in zip(outs, rnn_outs, strict=True):
        np.testing.assert_array_equal(a, b)  # the same function, the same float32 numbers
    dys = [rng.standard_normal(o.shape).astype(np.float32) for o in outs]
    for a, b in zip(layer.backward(dys), rnn.backward(dys), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for p, q in zip(layer.weights, rnn.weights, strict=True):
        np.testing.assert_allclose(p.grad, q.grad, rtol=1e-5, atol=1e-6)  # summed in another order
    assert [p.name for p in rnn.weights] == [f"rnn/{rnn.cell.name}/{n}"
                                             for n in ("kernel", "recurrent_kernel", "bias")]


def test_the_layers_use_the_cells_step_functions():
    assert L.LSTM.cell_step is L.LSTMCell.cell_step
    assert L.LSTM.cell_step_backward is L.LSTMCell.cell_step_backward
    assert L.GRU.cell_step is L.GRUCell.cell_step and L.SimpleRNN.cell_step is L.SimpleRNNCell.cell_step
    # and the arguments, weights and dropout masks: one base class
    for layer, cell in ((L.LSTM, L.LSTMCell), (L.GRU, L.GRUCell), (L.SimpleRNN, L.SimpleRNNCell)):
        assert layer.build_weights is cell.build_weights and layer.__init__ is cell.__init__


# ------------------------------------------------------------------ finite differences
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("return_sequences, go_backwards", [(False, False), (True, True)])
@pytest.mark.parametrize("cell", list(CELLS))
def test_rnn_of_each_cell_matches_finite_differences(cell, return_sequences, go_backwards, masked, float64):
    rng = np.random.default_rng(1)
    rnn = L.RNN(CELLS[cell](3), return_sequences=return_sequences, go_backwards=go_backwards)
    layer = _WithStates(rnn, MASK if masked else None)
    x = _sequences()
    layer.ensure_built(x.shape[1:], rng)
    _random_weights(rnn, rng)
    check_layer(layer, x, rng)


@pytest.mark.parametrize("cell", ["stacked", "minimal"])
def test_stacked_and_users_cells_match_finite_differences(cell, float64):
    rng = np.random.default_rng(2)
    made = [L.LSTMCell(3), L.SimpleRNNCell(2), L.GRUCell(3)] if cell == "stacked" else MinimalRNNCell(3)
    rnn = L.RNN(made, return_sequences=True, zero_output_for_mask=True)
    layer = _WithStates(rnn, MASK)
    x = _sequences()
    layer.ensure_built(x.shape[1:], rng)
    _random_weights(rnn, rng)
    check_layer(layer, x, rng)


@pytest.mark.parametrize("cell", ["LSTM", "minimal"])
def test_gradients_reach_the_initial_states(cell, float64):
    rng = np.random.default_rng(3)
    rnn = L.RNN(L.LSTMCell(3) if cell == "LSTM" else MinimalRNNCell(3), return_state=True)
    x = _sequences()
    rnn.ensure_built(x.shape[1:], rng)
    _random_weights(rnn, rng)
    states = [rng.standard_normal((3, 3)) for _ in range(rnn.n_states)]
    ws = [rng.standard_normal((3, 3)) for _ in range(1 + rnn.n_states)]

    def loss():
        outs = rnn.forward(x, mask=MASK, initial_state=states)
        return float(sum(np.sum(w * o) for w, o in zip(ws, outs, strict=True)))

    rnn.forward(x, mask=MASK, initial_state=states)
    dx, *dstates = rnn.backward(ws)
    assert rel_error(dx, numeric_grad(loss, x)) < REL_TOL
    for s, ds in zip(states, dstates, strict=True):
        assert rel_error(ds, numeric_grad(loss, s)) < REL_TOL


@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional_without_merge_matches_finite_differences(return_sequences, float64):
    rng = np.random.default_rng(4)
    layer = L.Bidirectional(L.GRU(3, return_sequences=return_sequences), merge_mode=None)
    x = _sequences()
    layer.ensure_built(x.shape[1:], rng)
    _random_weights(layer, rng)
    wf, wb = rng.standard_normal(layer.forward(x)[0].shape), rng.standard_normal(layer.forward(x)[1].shape)

    def loss():
        yf, yb = layer.forward(x, mask=MASK)
        return float(np.sum(wf * yf) + np.sum(wb * yb))

    yf, yb = layer.forward(x, mask=MASK)
    dx = layer.backward([wf, wb])
    assert rel_error(dx, numeric_grad(loss, x)) < REL_TOL
    analytic = {name: p.grad.copy() for name, p in layer.params.items()}
    for name, p in layer.params.items():
        assert rel_error(analytic[name], numeric_grad(loss, p.value)) < REL_TOL, name
    assert layer.get_config()["merge_mode"] is None


# ------------------------------------------------------------------ what a user meets
def test_a_cell_runs_one_step_and_keeps_keras_state_structure():
    x = np.ones((2, 3), np.float32)
    out, states = L.LSTMCell(4)(x, [np.zeros((2, 4)), np.zeros((2, 4))])
    assert out.shape == (2, 4) and len(states) == 2 and states[0] is out
    out, state = L.GRUCell(4)(x, np.zeros((2, 4)))
    assert isinstance(state, np.ndarray) and state.shape == (2, 4)
    assert L.LSTMCell(4).state_size == [4, 4] and L.GRUCell(5).state_size == 5
    assert L.StackedRNNCells([L.LSTMCell(2), L.GRUCell(3)]).state_size == [[2, 2], 3]
    assert [s.shape for s in L.LSTMCell(4).get_initial_state(batch_size=6)] == [(6, 4), (6, 4)]


def test_dropout_is_drawn_per_sequence_in_training_only():
    x = _sequences(n=4, steps=5, features=3).astype(np.float32)
    rnn = L.RNN(L.LSTMCell(3, dropout=0.5, recurrent_dropout=0.5, seed=1))
    rnn.ensure_built(x.shape[1:], np.random.default_rng(0))
    np.testing.assert_array_equal(rnn.forward(x), rnn.forward(x))
    trained = rnn.forward(x, training=True)
    assert rnn.cell.x_keep is not None and set(np.unique(rnn.cell.x_keep)) == {0.0, 2.0}
    assert not np.allclose(trained, rnn.forward(x))


def test_a_model_of_cells_trains_saves_and_loads(tmp_path):
    model = sn.Sequential([L.Input((5, 2)), L.RNN([L.LSTMCell(4), L.LSTMCell(3)], return_sequences=True),
                           L.RNN(MinimalRNNCell(3)), L.Dense(1)], seed=0)
    model.compile(optimizer="adam", loss="mse")
    x = _sequences(n=8, steps=5).astype(np.float32)
    y = x.sum(axis=(1, 2))[:, None]
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=30, verbose=0)
    assert model.evaluate(x, y, verbose=0) < before
    assert [p.name for p in model.layers[0].weights][3] == "rnn/stacked_rnn_cells/lstm_cell_1/kernel"
    for suffix in (".npz", ".keras"):
        model.save(tmp_path / f"m{suffix}")
        again = sn.load_model(tmp_path / f"m{suffix}", custom_objects={"MinimalRNNCell": MinimalRNNCell})
        np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
        assert isinstance(again.layers[1].cell, MinimalRNNCell)


def test_rnn_config_round_trip_nests_the_cell():
    rnn = L.RNN(L.GRUCell(3, dropout=0.25), return_sequences=True, go_backwards=True)
    config = rnn.get_config()
    assert config["cell"]["class_name"] == "GRUCell" and config["cell"]["config"]["dropout"] == 0.25
    again = L.RNN(**config)
    assert isinstance(again.cell, L.GRUCell) and again.get_config() == config
    stacked = L.RNN([L.SimpleRNNCell(2), L.LSTMCell(3)])
    again = L.RNN(**stacked.get_config())
    assert [type(c) for c in again.cell.cells] == [L.SimpleRNNCell, L.LSTMCell]


def test_summary_counts_the_cells_weights():
    model = sn.Sequential([L.Input((4, 5)), L.RNN([L.SimpleRNNCell(2), L.LSTMCell(3)])])
    assert model.count_params() == 88  # Keras: (5*2 + 2*2 + 2) + 4 * (2*3 + 3*3 + 3)
    text = model.summary(print_fn=None)
    assert "rnn (RNN)" in text and "(None, 3)" in text and "88" in text


@pytest.mark.parametrize("make, message", [
    (lambda: L.LSTMCell(0), r'LSTMCell "lstm_cell": expected units to be a positive integer, received 0'),
    (lambda: L.SimpleRNNCell(2, recurrent_dropout=1.5),
     r"expected recurrent_dropout to be a float in \[0, 1\)"),
    (lambda: L.RNN(L.Dense(2)), r'RNN "rnn": expected a cell \(a layer with state_size'),
    (lambda: L.RNN([L.LSTMCell(2), L.GRUCell(2)], return_state=True), "return_state=True with a stack"),
    (lambda: L.StackedRNNCells([]), "expected a non-empty list of cells"),
    (lambda: L.Bidirectional(L.LSTM(2), merge_mode="first"), "expected merge_mode to be one of"),
])
def test_bad_arguments_are_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_inputs_and_states_are_errors():
    cell = L.LSTMCell(3)
    with pytest.raises(ValueError, match=r'"lstm_cell": expected inputs of shape \(batch, features\)'):
        cell(np.ones((2, 4, 5)))
    with pytest.raises(ValueError, match=r"expected 2 state\(s\), received 1"):
        cell(np.ones((2, 5)), [np.zeros((2, 3))])
    with pytest.raises(ValueError, match=r"expected each state of shape \(2, 3\)"):
        cell(np.ones((2, 5)), [np.zeros((2, 4)), np.zeros((2, 3))])
    with pytest.raises(ValueError, match=r"expected inputs of shape \(batch, 5\), received \(2, 6\)"):
        cell(np.ones((2, 6)))
    with pytest.raises(ValueError, match=r"a cell runs one step on arrays; .* keras.layers.RNN\(cell\)"):
        cell(sn.Input((5,)))
    with pytest.raises(ValueError, match=r'RNN "rnn": expected inputs of shape \(batch, steps, features\)'):
        sn.Sequential([L.Input((5,)), L.RNN(L.LSTMCell(2))])
    rnn = L.RNN(L.LSTMCell(2))
    with pytest.raises(ValueError, match=r"expected initial_state to be a list of 2 state\(s\)"):
        rnn(np.ones((1, 3, 4)), initial_state=[np.zeros((1, 2))])
    with pytest.raises(ValueError, match=r"initial_state with a stack of cells"):
        L.RNN([L.LSTMCell(2)])(np.ones((1, 3, 4)), initial_state=[np.zeros((1, 2))] * 2)


def test_bidirectional_without_merge_is_refused_in_a_sequential_model():
    with pytest.raises(ValueError, match=r'layer "bidirectional" returns 2 outputs \(merge_mode=None'):
        sn.Sequential([L.Input((3, 2)), L.Bidirectional(L.LSTM(2), merge_mode=None), L.Dense(1)])


def test_a_users_cell_that_breaks_its_promises_gets_a_clear_error():
    class BadCell(MinimalRNNCell):
        def call(self, inputs, states):
            return states[0], [states[0], states[0]]

    with pytest.raises(ValueError, match=r'cell "bad_cell" \(BadCell\): call returned 2 new state\(s\), '
                                         r"its state_size declares 1"):
        L.RNN(BadCell(2))(np.ones((1, 3, 4)))
    cell = MinimalRNNCell(2)
    cell.state_size = "two"
    with pytest.raises(ValueError, match=r"has state_size='two'; scratchnet's RNN takes an int"):
        L.RNN(cell)
