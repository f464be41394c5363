"""``stateful=True`` (scratchnet/layers/recurrent.py ``_Stateful``): the states one batch ends with
start the next, for SimpleRNN, LSTM, GRU, RNN(cell), a stack of cells, ConvLSTM and Bidirectional;
``reset_state()``; the batch size fixed by ``Input(batch_size=...)``/``batch_shape`` and Keras'
two errors; finite differences (float64) of a batch that starts from carried states (no gradient
flows into the batch before); configs and files (the batch size is kept, the states are not).
Keras' own numbers: parity_tests/test_recurrent_stateful_keras.py."""

import numpy as np
import pytest

import scratchnet as sn
from tests.gradcheck import REL_TOL, numeric_grad, rel_error

L = sn.layers
B, T, F = 3, 4, 2

MAKERS = {
    "SimpleRNN": lambda **kw: L.SimpleRNN(3, **kw),
    "LSTM": lambda **kw: L.LSTM(3, **kw),
    "GRU": lambda **kw: L.GRU(3, **kw),
    "RNN": lambda **kw: L.RNN(L.LSTMCell(3), **kw),
    "stacked": lambda **kw: L.RNN([L.SimpleRNNCell(2), L.GRUCell(3)], **kw),
}


@pytest.fixture
def float64():
    sn.config.set_floatx("float64")
    yield
    sn.config.set_floatx("float32")


def _batches(n=3, seed=0, shape=(B, T, F)):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(sn.config.floatx()) for _ in range(n)]


def _random_weights(layer, seed=1):
    rng = np.random.default_rng(seed)
    for p in layer.weights:
        p.value[...] = 0.5 * rng.standard_normal(p.value.shape)


@pytest.mark.parametrize("kind", list(MAKERS))
def test_each_batch_starts_from_the_states_the_last_one_left(kind):
    stateful, plain = MAKERS[kind](stateful=True), MAKERS[kind](return_state=kind != "stacked")
    xs = _batches()
    stateful(xs[0])
    plain.ensure_built(xs[0].shape[1:])
    plain.set_weights(stateful.get_weights())
    stateful.reset_state()
    states = None
    for x in xs:
        y = stateful(x)
        if kind == "stacked":  # no return_state with a stack: the states are the layer's to read
            expected = y
        else:
            expected, *states = plain(x, initial_state=states)
            for s, carried in zip(states, stateful.states, strict=True):
                np.testing.assert_array_equal(carried, s)
        np.testing.assert_array_equal(y, expected)
    assert all(np.abs(s).max() > 0 for s in stateful.states)
    stateful.reset_state()
    assert all(not s.any() for s in stateful.states)
    # after reset_state, the first batch gives again what it gave from zeros
    fresh = MAKERS[kind]()
    fresh.ensure_built(xs[0].shape[1:])
    fresh.set_weights(stateful.get_weights())
    np.testing.assert_array_equal(stateful(xs[0]), fresh(xs[0]))


def test_a_layer_that_is_not_stateful_ignores_reset_and_starts_from_zeros():
    layer = L.LSTM(2)
    x = _batches(1)[0]
    y = layer(x)
    layer.reset_state()
    layer.reset_states()  # Keras' older name
    np.testing.assert_array_equal(layer(x), y)
    assert layer.states is None and layer.get_config()["stateful"] is False


def test_a_stateful_model_carries_states_over_predict_and_fit_calls():
    inp = L.Input((T, F), batch_size=B)
    model = sn.Model(inp, L.Dense(1)(L.GRU(3, stateful=True)(inp)))
    gru = model.layers[1]
    assert gru.batch_size == B and [s.shape for s in gru.states] == [(B, 3)]
    x = np.concatenate(_batches(2))
    first = model.predict(x, batch_size=B, verbose=0)
    again = model.predict(x, batch_size=B, verbose=0)
    assert not np.allclose(first, again)  # the second call continued from the first's states
    gru.reset_state()
    np.testing.assert_array_equal(model.predict(x, batch_size=B, verbose=0), first)
    model.compile("sgd", "mse")
    model.fit(x, np.zeros((2 * B, 1), "float32"), batch_size=B, shuffle=False, epochs=1, verbose=0)
    assert np.abs(gru.states[0]).max() > 0


def test_input_batch_size_and_batch_shape():
    a, b = L.Input((T, F), batch_size=B), L.Input(batch_shape=(B, T, F))
    assert a.shape == b.shape == (B, T, F)
    assert L.Input((T, F)).shape == (None, T, F)
    c = L.Input(batch_input_shape=(2, 5))  # Keras' older keyword
    assert c.shape == (2, 5)
    y = L.Dense(4)(L.Dense(2)(a))
    assert y.shape == (B, T, 4)  # the batch axis carries on through the graph
    layer = a.node.layer
    again = L.InputLayer(**layer.get_config())
    assert again.batch_size == B and again.shape == (T, F)


@pytest.mark.parametrize("make, message", [
    (lambda: sn.Model(i := L.Input((T, F)), L.LSTM(2, stateful=True)(i)),
     r'LSTM "lstm.*": When using `stateful=True` in a RNN, the batch size must be static'),
    (lambda: sn.Sequential([L.Input((T, F)), L.SimpleRNN(2, stateful=True)]),
     "the batch size must be static"),
    (lambda: L.Input((T, F), batch_size=0), "Input: expected batch_size to be a positive integer"),
    (lambda: L.Input((T, F), batch_shape=(B, T, F)), "pass either shape .* or batch_shape"),
    (lambda: L.Input(batch_shape=(B,)), "expected batch_shape to be a tuple"),
    (lambda: L.Input(), "You must pass a `shape` argument"),
])
def test_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_another_batch_size_is_refused_as_keras_refuses_it():
    layer = L.LSTM(2, stateful=True)
    x = _batches(1, shape=(B, T, F))[0]
    layer(x)
    with pytest.raises(ValueError, match=r"must be the same as the batch size of the initial state. \n"
                                         rf"- Expected batch size: {B}\n- Received batch size: 2"):
        layer(x[:2])
    inp = L.Input((T, F), batch_size=B)
    model = sn.Model(inp, L.SimpleRNN(2, stateful=True)(inp))
    with pytest.raises(ValueError, match="Received batch size: 1"):
        model.predict(np.concatenate([x, x[:1]]), batch_size=B, verbose=0)  # a last partial batch


def test_bidirectional_carries_both_directions_states():
    bi = L.Bidirectional(L.LSTM(2, stateful=True))
    xs = _batches(2)
    bi(xs[0])
    assert bi.stateful and len(bi.states) == 4
    carried = [s.copy() for s in bi.states]
    y = bi(xs[1])
    plain = L.Bidirectional(L.LSTM(2, return_state=True))
    plain.ensure_built(xs[0].shape[1:])
    plain.set_weights(bi.get_weights())
    expected, *_ = plain(xs[1], initial_state=carried)
    np.testing.assert_array_equal(y, expected)
    bi.reset_state()
    assert not any(s.any() for s in bi.states)
    with pytest.raises(AttributeError, match="Layer must be stateful"):
        L.Bidirectional(L.GRU(2)).reset_state()


@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU", "stacked", "conv"])
def test_a_batch_from_carried_states_matches_finite_differences(kind, float64):
    """The gradient of a batch's loss with respect to the weights and the batch's inputs, the
    carried states held fixed (they are data from the batch before: truncated BPTT)."""
    if kind == "conv":
        layer, shape = L.ConvLSTM1D(2, 2, stateful=True, return_sequences=True), (2, 3, 4, 1)
    else:
        layer, shape = MAKERS[kind](stateful=True, return_sequences=True), (B, T, F)
    x0, x1 = _batches(2, shape=shape)
    layer(x0)
    _random_weights(layer)
    layer.reset_state()
    layer(x0)  # states to carry into x1
    carried = [s.copy() for s in layer.states]
    w = np.random.default_rng(3).standard_normal(layer(x1).shape)

    def loss():
        layer.states = [s.copy() for s in carried]
        return float(np.sum(w * layer.forward(x1)))

    loss()
    dx = layer.backward(w)
    grads = [p.grad.copy() for p in layer.weights]
    assert rel_error(dx, numeric_grad(loss, x1)) < REL_TOL
    for p, g in zip(layer.weights, grads, strict=True):
        assert rel_error(g, numeric_grad(loss, p.value)) < REL_TOL, p.name


@pytest.mark.parametrize("kind", ["LSTM", "RNN", "conv"])
def test_configs_keep_stateful(kind):
    layer = L.ConvLSTM2D(2, 2, stateful=True) if kind == "conv" else MAKERS[kind](stateful=True)
    config = layer.get_config()
    assert config["stateful"] is True
    again = type(layer).from_config(config) if hasattr(type(layer), "from_config") else type(layer)(**config)
    assert again.stateful and again.get_config() == config


@pytest.mark.parametrize("suffix", [".keras", ".npz"])
@pytest.mark.parametrize("functional", [False, True])
def test_files_keep_the_batch_size_but_not_the_states(tmp_path, suffix, functional):
    if functional:
        inp = L.Input((T, F), batch_size=B)
        model = sn.Model(inp, L.Dense(1)(L.LSTM(3, stateful=True)(inp)))
    else:
        model = sn.Sequential([L.Input(batch_shape=(B, T, F)), L.LSTM(3, stateful=True), L.Dense(1)])
    x = np.concatenate(_batches(2))
    model.predict(x, batch_size=B, verbose=0)
    lstm = next(layer for layer in model.layers if isinstance(layer, L.LSTM))
    assert np.abs(lstm.states[0]).max() > 0
    model.save(tmp_path / f"m{suffix}")
    loaded = sn.load_model(tmp_path / f"m{suffix}")
    again = next(layer for layer in loaded.layers if isinstance(layer, L.LSTM))
    assert again.stateful and again.batch_size == B
    assert all(not s.any() for s in again.states)  # saved files hold weights, not states
    lstm.reset_state()
    np.testing.assert_array_equal(loaded.predict(x, batch_size=B, verbose=0),
                                  model.predict(x, batch_size=B, verbose=0))
