"""States in and out of SimpleRNN, LSTM and GRU (scratchnet/layers/recurrent.py):
``return_state=True`` and ``initial_state=[h0, (c0)]``, Keras' encoder-decoder pattern.

Backpropagation through time against float64 finite differences (tests/gradcheck.py, REL_TOL
1e-6): gradients arriving at the returned states (and at the output, or at neither) reach every
weight and the input, and gradients flow back into the initial states (dL/dh0, dL/dc0), with and
without a padding mask, ``return_sequences`` and ``go_backwards``; then the same through a
functional encoder-decoder, where the encoder learns only through the decoder's initial state.
Also: what the layer returns, eagerly and in a graph, and the errors a user meets."""

import numpy as np
import pytest

import scratchnet as sn
from tests.gradcheck import REL_TOL, numeric_grad, rel_error

L = sn.layers
CELLS = {"SimpleRNN": L.SimpleRNN, "LSTM": L.LSTM, "GRU": L.GRU}
UNITS = 3
MASK = np.array([[True, True, True, True], [True, True, False, False], [False, True, True, False]])


def _layer(cell, rng, **kwargs):
    layer = CELLS[cell](UNITS, return_state=True, **kwargs)
    layer.ensure_built((4, 2), rng)
    for p in layer.weights:  # zeros would hide a bias gradient that goes nowhere
        if "bias" in p.name:
            p.value[...] = rng.standard_normal(p.value.shape) * 0.5
    return layer


def _check_states(layer, x, states, mask, rng, used=(True, True, True)):
    """``L = sum_k w_k * out_k`` over the outputs ``used`` (output, h, c): backward's dL/dx,
    dL/d(initial states) and dL/d(each weight) against central differences."""
    outs = layer.forward(x, mask=mask, initial_state=states)
    ws = [rng.standard_normal(o.shape) if u else None for o, u in zip(outs, used, strict=False)]

    def loss():
        outs = layer.forward(x, mask=mask, initial_state=states)
        return float(sum(np.sum(w * o) for w, o in zip(ws, outs, strict=True) if w is not None))

    layer.forward(x, mask=mask, initial_state=states)
    grads = layer.backward(ws)
    analytic = {name: p.grad.copy() for name, p in layer.params.items()}
    wrt = [("x", x)] + ([] if states is None else [(f"state {k}", s) for k, s in enumerate(states)])
    grads = [grads] if states is None else grads
    for (what, array), grad in zip(wrt, grads, strict=True):
        err = rel_error(grad, numeric_grad(loss, array))
        assert err < REL_TOL, (layer.name, what, err)
    for name, p in layer.params.items():
        err = rel_error(analytic[name], numeric_grad(loss, p.value))
        assert err < REL_TOL, (layer.name, name, err)


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("return_sequences, go_backwards", [(False, False), (True, False), (True, True)])
@pytest.mark.parametrize("cell", list(CELLS))
def test_gradients_through_returned_and_initial_states_match_finite_differences(
        cell, return_sequences, go_backwards, masked, float64):
    rng = np.random.default_rng(1)
    layer = _layer(cell, rng, return_sequences=return_sequences, go_backwards=go_backwards)
    x = rng.standard_normal((3, 4, 2))
    states = [rng.standard_normal((3, UNITS)) for _ in range(layer.n_states)]
    _check_states(layer, x, states, MASK if masked else None, rng)


@pytest.mark.parametrize("used", [(False, True, True), (True, False, False), (False, False, True)])
@pytest.mark.parametrize("cell", list(CELLS))
def test_outputs_nobody_reads_send_no_gradient(cell, used, float64):
    rng = np.random.default_rng(2)
    layer = _layer(cell, rng, return_sequences=True)
    x = rng.standard_normal((3, 4, 2))
    if not any(used[:layer.n_states + 1]):
        used = (True,) + used[1:]
    _check_states(layer, x, [rng.standard_normal((3, UNITS)) for _ in range(layer.n_states)], None, rng,
                  used=used)


@pytest.mark.parametrize("cell", list(CELLS))
def test_return_state_without_initial_state_returns_dx_alone(cell, float64):
    rng = np.random.default_rng(3)
    layer = _layer(cell, rng)
    _check_states(layer, rng.standard_normal((3, 4, 2)), None, MASK, rng)


@pytest.mark.parametrize("cell", list(CELLS))
def test_the_state_is_the_last_real_steps_and_zeros_start_like_no_state(cell):
    rng = np.random.default_rng(4)
    layer = _layer(cell, rng, return_sequences=True)
    x = rng.standard_normal((3, 4, 2)).astype(np.float32)
    out, h, *rest = layer.forward(x, mask=MASK)
    np.testing.assert_array_equal(h, out[:, -1])  # padded steps carried the last real state
    np.testing.assert_array_equal(h[1], out[1, 1])
    zeros = [np.zeros((3, UNITS), np.float32)] * layer.n_states
    again = layer.forward(x, mask=MASK, initial_state=zeros)
    for a, b in zip(again, [out, h, *rest], strict=True):
        np.testing.assert_array_equal(a, b)
    h0 = [np.ones((3, UNITS), np.float32)] * layer.n_states
    out0, h_0, *_ = layer.forward(x, mask=MASK, initial_state=h0)
    np.testing.assert_array_equal(out0[2, 0], 0.0)  # Keras: a leading padded step outputs zeros,
    assert not np.allclose(out0[2, 1], out[2, 1])  # though it carries h0 into the next step
    if cell == "LSTM":  # h = o * tanh(c)
        assert rest[0].shape == (3, UNITS) and not np.allclose(rest[0], h)


def test_an_eager_call_returns_arrays_and_takes_initial_states():
    layer = L.LSTM(2, return_state=True)
    x = np.random.default_rng(5).standard_normal((4, 3, 5))
    y, h, c = layer(x)
    assert y.shape == h.shape == c.shape == (4, 2) and y.dtype == np.float32
    np.testing.assert_array_equal(y, h)
    y2, h2, c2 = layer(x, initial_state=[h, c])
    assert not np.allclose(h2, h)
    plain = L.GRU(2)
    assert plain(x, initial_state=np.ones((4, 2))).shape == (4, 2)  # one state: an array is enough


def test_a_graph_node_with_several_outputs():
    a = sn.Input((3, 5))
    out = L.LSTM(2, return_state=True, name="enc")(a)
    assert [t.shape for t in out] == [(None, 2)] * 3 and [t.index for t in out] == [0, 1, 2]
    assert all(t.node is out[0].node for t in out)
    layer = out[0].node.layer
    assert layer.output == out  # Keras' layer.output: the list
    b = sn.Input((4, 1))
    seq, h = L.GRU(2, return_sequences=True, return_state=True)(b, initial_state=[out[1]])
    assert seq.shape == (None, 4, 2) and h.shape == (None, 2)
    model = sn.Model([a, b], [seq, out[2]])
    ys = model.predict([np.ones((2, 3, 5)), np.ones((2, 4, 1))], verbose=0)
    assert [y.shape for y in ys] == [(2, 4, 2), (2, 2)]
    assert "enc[0][1]" in str(model._summary_rows(model.layers)[1])


def _seq2seq(seed=0):
    sn.utils.set_random_seed(seed)
    encoder_inputs = sn.Input((5, 3))
    _, state_h, state_c = L.LSTM(4, return_state=True)(encoder_inputs)
    decoder_inputs = sn.Input((4, 2))
    decoder_outputs, _, _ = L.LSTM(4, return_sequences=True, return_state=True)(
        decoder_inputs, initial_state=[state_h, state_c])
    outputs = L.Dense(2)(decoder_outputs)
    return sn.Model([encoder_inputs, decoder_inputs], outputs)


def test_the_encoder_learns_through_the_decoders_initial_state(float64):
    rng = np.random.default_rng(6)
    model = _seq2seq()
    model.compile(optimizer="sgd", loss="mse")
    for p in model.weights:
        if "bias" in p.name:
            p.value[...] = rng.standard_normal(p.value.shape) * 0.3
    x = [rng.standard_normal((3, 5, 3)), rng.standard_normal((3, 4, 2))]
    y = rng.standard_normal((3, 4, 2))
    _, grads = model.loss_and_grads(x, y)
    for p, grad in zip(model.weights, grads, strict=True):
        numeric = numeric_grad(lambda: model.loss_and_grads(x, y)[0], p.value)
        assert rel_error(grad, numeric) < REL_TOL, (p.name, rel_error(grad, numeric))
    encoder = model.layers[2]
    assert encoder.name == "lstm" and np.abs(grads[0]).max() > 0  # the encoder's kernel moves


def test_saved_and_loaded_graphs_keep_the_state_connections(tmp_path):
    model = _seq2seq()
    x = [np.random.default_rng(7).standard_normal((2, 5, 3)), np.ones((2, 4, 2))]
    for name in ("m.keras", "m.npz"):
        model.save(tmp_path / name)
        again = sn.models.load_model(tmp_path / name)
        np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
        node = again.layers[3]._inbound_nodes[0]
        assert [(t.node.layer.name, t.index) for t in node.inputs] == [
            (model.input_names[1], 0), ("lstm", 1), ("lstm", 2)]


@pytest.mark.parametrize("call, message", [
    (lambda x: L.LSTM(2)(x, initial_state=[np.zeros((4, 2))]),
     r'LSTM "lstm": expected initial_state to be a list of 2 state\(s\) \[h, c\], each of shape '
     r"\(batch, 2\), received 1"),
    (lambda x: L.GRU(2)(x, initial_state=[np.zeros((4, 2))] * 2), "list of 1 state"),
    (lambda x: L.SimpleRNN(2)(x, initial_state=[np.zeros((4, 3))]),
     r"expected each initial state of shape \(4, 2\) \(batch, units\), received \(4, 3\)"),
    (lambda x: L.LSTM(2)(sn.Input((3, 5)), initial_state=[sn.Input((3,)), sn.Input((3,))]),
     r"expected each initial state of shape \(None, 2\), received \(None, 3\)"),
    (lambda x: L.LSTM(2)(sn.Input((3, 5)), initial_state=[np.zeros((4, 2))] * 2),
     "every tensor argument must be a KerasTensor"),
    (lambda x: sn.Sequential([L.Input((3, 5)), L.LSTM(2, return_state=True)]),
     r'Sequential.add: layer "lstm" has return_state=True'),
])
def test_bad_states_are_errors(call, message):
    x = np.zeros((4, 3, 5))
    with pytest.raises(ValueError, match=message):
        call(x)
