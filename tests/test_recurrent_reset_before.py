"""``GRU(reset_after=False)`` and ``GRUCell(reset_after=False)`` (scratchnet/layers/rnn_cells.py
``_GRUStep``): float64 finite differences of the layer and of ``RNN(GRUCell)`` (masks, initial
states, ``go_backwards``, no bias), the two loops agreeing, the weights' shapes, a hand-computed
step, configs, files and ``summary()``. Keras' numbers: parity_tests/test_recurrent_reset_before_keras.py."""

import numpy as np
import pytest

import scratchnet as sn
from tests.gradcheck import check_layer
from tests.test_rnn_cells import _WithStates

L = sn.layers
MASK = np.array([[True] * 4, [True, True, False, False], [False, True, True, True]])


@pytest.fixture
def float64():
    sn.config.set_floatx("float64")
    yield
    sn.config.set_floatx("float32")


def _sequences(n=3, steps=4, features=2, seed=0):
    return np.random.default_rng(seed).standard_normal((n, steps, features))


def _random_weights(layer, rng):
    for p in layer.weights:
        p.value[...] = 0.5 * rng.standard_normal(p.value.shape)


@pytest.mark.parametrize("wrap", ["GRU", "RNN"])
@pytest.mark.parametrize("masked, states", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("return_sequences, go_backwards", [(False, False), (True, True)])
def test_gradients_match_finite_differences(wrap, masked, states, return_sequences, go_backwards, float64):
    rng = np.random.default_rng(1)
    kwargs = dict(return_sequences=return_sequences, go_backwards=go_backwards, return_state=states)
    inner = L.GRU(3, reset_after=False, **kwargs) if wrap == "GRU" else \
        L.RNN(L.GRUCell(3, reset_after=False), **kwargs)
    h0 = [rng.standard_normal((3, 3))] if states else None
    layer = _WithStates(inner, MASK if masked else None, h0)
    x = _sequences()
    layer.ensure_built(x.shape[1:], rng)
    _random_weights(inner, rng)
    check_layer(layer, x, rng)


def test_without_bias_matches_finite_differences(float64):
    rng = np.random.default_rng(2)
    layer = L.GRU(2, reset_after=False, use_bias=False, return_sequences=True)
    x = _sequences()
    layer.ensure_built(x.shape[1:], rng)
    _random_weights(layer, rng)
    check_layer(layer, x, rng)
    assert [w.shape for w in layer.get_weights()] == [(2, 6), (2, 6)]  # no bias


def test_the_layer_and_rnn_of_the_cell_agree_and_the_bias_is_one_row():
    rng = np.random.default_rng(3)
    x = _sequences(features=3).astype(np.float32)
    layer = L.GRU(4, reset_after=False, return_sequences=True)
    rnn = L.RNN(L.GRUCell(4, reset_after=False), return_sequences=True)
    layer.ensure_built((4, 3), rng)
    rnn.ensure_built((4, 3), rng)
    assert [w.shape for w in layer.get_weights()] == [(3, 12), (4, 12), (12,)]
    assert layer.count_params() == 3 * (3 * 4 + 4 * 4 + 4)  # Keras' count for reset_after=False
    _random_weights(layer, rng)
    rnn.set_weights(layer.get_weights())
    np.testing.assert_allclose(rnn(x), layer(x), rtol=1e-6, atol=1e-7)


def test_one_step_by_hand():
    cell = L.GRUCell(2, reset_after=False)
    x, h = np.array([[1.0, -1.0]], "float32"), np.array([[0.5, -0.5]], "float32")
    cell(x, [h])
    k = np.arange(12, dtype="float32").reshape(2, 6) / 10 - 0.5
    r = np.arange(12, dtype="float32").reshape(2, 6)[::-1] / 20 - 0.3
    b = np.linspace(-0.3, 0.3, 6).astype("float32")
    cell.set_weights([k, r, b])

    def sigmoid(a):
        return 1 / (1 + np.exp(-a))

    xw = x @ k + b
    z = sigmoid(xw[:, :2] + h @ r[:, :2])
    reset = sigmoid(xw[:, 2:4] + h @ r[:, 2:4])
    hh = np.tanh(xw[:, 4:] + (reset * h) @ r[:, 4:])  # the reset gate before the product
    out, [state] = cell(x, [h])
    np.testing.assert_allclose(out, z * h + (1 - z) * hh, rtol=1e-6)
    np.testing.assert_array_equal(out, state)


@pytest.mark.parametrize("make", [lambda: L.GRU(3, reset_after=False, return_sequences=True),
                                  lambda: L.GRUCell(3, reset_after=False),
                                  lambda: L.Bidirectional(L.GRU(3, reset_after=False))])
def test_configs_round_trip(make):
    layer = make()
    config = layer.get_config()
    again = type(layer)(**config)
    assert again.get_config() == config
    inner = again.forward_layer if isinstance(again, L.Bidirectional) else again
    assert inner.reset_after is False


@pytest.mark.parametrize("suffix", [".keras", ".npz", ".h5"])
def test_files_round_trip(tmp_path, suffix):
    model = sn.Sequential([L.Input((4, 2)), L.GRU(3, reset_after=False), L.Dense(1)], seed=4)
    model.layers[0].bias.value[...] = np.linspace(-1, 1, 9)
    x = _sequences().astype(np.float32)
    if suffix == ".h5":
        with pytest.warns(UserWarning, match="legacy HDF5"):
            model.save(tmp_path / f"m{suffix}")
    else:
        model.save(tmp_path / f"m{suffix}")
    loaded = sn.load_model(tmp_path / f"m{suffix}")
    assert loaded.layers[0].reset_after is False
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_summary_line():
    model = sn.Sequential([L.Input((4, 2)), L.GRU(3, reset_after=False)])
    text = model.summary(print_fn=None)
    assert "gru (GRU)" in text and "(None, 3)" in text and "54" in text  # 3 * (2*3 + 3*3 + 3), Keras' count
