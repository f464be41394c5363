"""SimpleRNN, LSTM, GRU and Bidirectional (scratchnet/layers/recurrent.py): backpropagation
through time against float64 finite differences (tests/gradcheck.py, REL_TOL 1e-6) for every
cell, return_sequences both ways, go_backwards, padding masks and each merge mode; and what a
user meets around them: shapes, the forget gate's bias, dropout masks fixed over time, errors."""

import numpy as np
import pytest

import scratchnet as sn
from tests.gradcheck import check_layer

L = sn.layers
CELLS = {"SimpleRNN": L.SimpleRNN, "LSTM": L.LSTM, "GRU": L.GRU}


@pytest.fixture
def float64():
    sn.config.set_floatx("float64")
    yield
    sn.config.set_floatx("float32")


def _sequences(n=3, steps=4, features=2, seed=0):
    return np.random.default_rng(seed).standard_normal((n, steps, features))


def _random_biases(layer, rng):
    for p in layer.weights:  # zeros would hide a bias gradient that goes nowhere
        if "bias" in p.name:
            p.value[...] = rng.standard_normal(p.value.shape) * 0.5


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("cell", list(CELLS))
def test_backpropagation_through_time_matches_finite_differences(cell, go_backwards, return_sequences,
                                                                 float64):
    rng = np.random.default_rng(1)
    layer = CELLS[cell](3, return_sequences=return_sequences, go_backwards=go_backwards)
    x = _sequences()
    layer.ensure_built(x.shape[1:], rng)
    _random_biases(layer, rng)
    check_layer(layer, x, rng)


class _Masked(L.Layer):
    """The layer under test, handed a fixed padding mask (as an Embedding(mask_zero=True) would)."""

    def __init__(self, inner, mask):
        super().__init__()
        self.inner, self.mask = inner, mask

    def build(self, input_shape, rng):
        shape = self.inner.ensure_built(input_shape, rng)
        self.params = {p.name: p for p in self.inner.weights}
        _random_biases(self.inner, rng)
        return shape

    def forward(self, x, training=False):
        return self.inner.forward(x, training=training, mask=self.mask)

    def backward(self, dy):
        return self.inner.backward(dy)


MASK = np.array([[True, True, True, True], [True, True, False, False], [False, True, True, False]])


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("cell", list(CELLS))
def test_masked_steps_keep_the_state_and_their_gradient_is_right(cell, return_sequences, float64):
    rng = np.random.default_rng(2)
    layer = _Masked(CELLS[cell](3, return_sequences=return_sequences), MASK)
    x = _sequences()
    check_layer(layer, x, rng)
    out = layer.forward(x)
    if return_sequences:  # a padded step's output is the state carried through it
        np.testing.assert_array_equal(out[1, 2], out[1, 1])
        np.testing.assert_array_equal(out[1, 3], out[1, 1])
        np.testing.assert_array_equal(out[2, 0], 0.0)
    # padding at the end changes nothing: the last state is the one after the last real step
    short = CELLS[cell](3, return_sequences=False)
    short.ensure_built((2, 2), rng)
    short.set_weights(layer.inner.get_weights())
    last = layer.inner.forward(x, mask=MASK) if not return_sequences else None
    if last is not None:
        np.testing.assert_allclose(last[1], short.forward(x[1:2, :2])[0], rtol=1e-12)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional_matches_finite_differences(merge_mode, return_sequences, float64):
    rng = np.random.default_rng(3)
    layer = L.Bidirectional(L.LSTM(3, return_sequences=return_sequences), merge_mode=merge_mode)
    x = _sequences()
    layer.ensure_built(x.shape[1:], rng)
    _random_biases(layer, rng)
    check_layer(layer, x, rng)


def test_bidirectional_with_a_mask_zeroes_padded_outputs_and_keeps_its_gradient(float64):
    rng = np.random.default_rng(4)
    layer = _Masked(L.Bidirectional(L.GRU(2, return_sequences=True)), MASK)
    x = _sequences()
    check_layer(layer, x, rng)
    out = layer.forward(x)
    np.testing.assert_array_equal(out[1, 2:], 0.0)  # Keras' zero_output_for_mask under Bidirectional


def test_bidirectional_is_a_forward_and_a_time_reversed_layer():
    rng = np.random.default_rng(5)
    bi = L.Bidirectional(L.SimpleRNN(2, return_sequences=True), name="bi")
    x = _sequences().astype(np.float32)
    bi.ensure_built(x.shape[1:], rng)
    forward, backward = L.SimpleRNN(2, return_sequences=True), L.SimpleRNN(2, return_sequences=True)
    for layer, source in ((forward, bi.forward_layer), (backward, bi.backward_layer)):
        layer.ensure_built(x.shape[1:], rng)
        layer.set_weights(source.get_weights())
    expected = np.concatenate([forward.forward(x), backward.forward(x[:, ::-1])[:, ::-1]], axis=-1)
    np.testing.assert_array_equal(bi.forward(x), expected)
    assert [p.name for p in bi.weights] == [
        "bi/forward_simple_rnn/kernel", "bi/forward_simple_rnn/recurrent_kernel",
        "bi/forward_simple_rnn/bias",
        "bi/backward_simple_rnn/kernel", "bi/backward_simple_rnn/recurrent_kernel",
        "bi/backward_simple_rnn/bias"]


def test_two_bidirectional_layers_keep_apart_in_a_model_and_its_optimizer():
    # both wrap a layer called "lstm": the weights' names still differ, as Keras' variable paths do
    for make in (lambda layers: sn.Sequential([L.Input((5, 2)), *layers, L.Dense(1)], seed=0),
                 lambda layers: _functional(layers)):
        model = make([L.Bidirectional(L.LSTM(3, return_sequences=True)), L.Bidirectional(L.LSTM(3))])
        names = [p.name for p in model.weights]
        assert len(set(names)) == len(names), names
        assert "bidirectional_1/forward_lstm/kernel" in names
        model.compile(optimizer=sn.optimizers.SGD(0.1, momentum=0.9), loss="mse")
        history = model.fit(_sequences(n=4, steps=5, features=2).astype(np.float32), np.ones((4, 1)),
                            epochs=2, verbose=0).history
        assert np.isfinite(history["loss"]).all()


def _functional(layers):
    x = inputs = sn.Input((5, 2))
    for layer in layers:
        x = layer(x)
    return sn.Model(inputs, L.Dense(1)(x))


def test_shapes_weights_and_the_forget_gate_bias():
    for cell, gates in (("SimpleRNN", 1), ("LSTM", 4), ("GRU", 3)):
        model = sn.Sequential([L.Input((5, 2)), CELLS[cell](4)], seed=0)
        kernel, recurrent, bias = model.get_weights()
        assert kernel.shape == (2, gates * 4) and recurrent.shape == (4, gates * 4)
        assert bias.shape == ((2, 12) if cell == "GRU" else (gates * 4,))
        np.testing.assert_allclose(recurrent.T @ recurrent if gates == 1 else recurrent @ recurrent.T,
                                   np.eye(4), atol=1e-5)  # orthogonal rows (or columns)
        assert model.output_shape == (None, 4)
    lstm_bias = sn.Sequential([L.Input((5, 2)), L.LSTM(3)], seed=0).get_weights()[2]
    np.testing.assert_array_equal(lstm_bias, [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    sequences = sn.Sequential([L.Input((5, 2)), L.GRU(4, return_sequences=True)], seed=0)
    assert sequences.output_shape == (None, 5, 4)


def test_dropout_masks_are_one_per_batch_the_same_at_every_step():
    layer = L.SimpleRNN(3, dropout=0.5, recurrent_dropout=0.5, seed=1, return_sequences=True)
    x = np.ones((2, 6, 4), np.float32)
    layer.ensure_built(x.shape[1:], np.random.default_rng(0))
    layer.forward(x, training=True)
    assert layer.x_keep.shape == (2, 4) and set(np.unique(layer.x_keep)) <= {0.0, 2.0}
    dropped = layer.x_steps  # every step's input dropped by the same mask
    np.testing.assert_array_equal(dropped, np.broadcast_to(dropped[:, :1], dropped.shape))
    layer.forward(x, training=False)
    assert layer.x_keep is None and layer.h_keep is None


def test_the_nlp_course_model_trains():
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 50, (32, 10))
    labels = (ids[:, 0] > 25).astype(np.float32)  # the first word decides: the LSTM must remember it
    model = sn.Sequential([L.Input((10,), dtype="int32"), L.Embedding(50, 8),
                           L.Bidirectional(L.LSTM(8)), L.Dense(8, activation="relu"),
                           L.Dense(1, activation="sigmoid")], seed=0)
    model.compile(optimizer=sn.optimizers.Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(ids, labels, epochs=30, verbose=0).history
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["accuracy"][-1] >= 0.9


@pytest.mark.parametrize("make, message", [
    (lambda: L.LSTM(0), r'LSTM "lstm": expected units to be a positive integer, received 0'),
    (lambda: L.GRU(2, dropout=1.0), r"expected dropout to be a float in \[0, 1\), received 1.0"),
    (lambda: L.Bidirectional(L.LSTM(2, return_state=True), backward_layer=L.LSTM(2, go_backwards=True)),
     "need the same return_state, received True and False"),
    (lambda: L.LSTM(2, kernel_constraint="nope"), "kernel_constraint: unknown constraint"),
    (lambda: L.Bidirectional(L.Dense(2)), r'Bidirectional "bidirectional": expected a recurrent layer'),
    (lambda: L.Bidirectional(L.LSTM(2), merge_mode="first"), "expected merge_mode to be one of"),
    (lambda: L.Bidirectional(L.LSTM(2), backward_layer=L.LSTM(2)), "different go_backwards values"),
])
def test_bad_arguments_are_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_a_sequence_of_the_wrong_rank_is_an_error():
    with pytest.raises(ValueError, match=r'LSTM "lstm": expected inputs of shape \(batch, steps, features\), '
                                         r"received \(None, 5\)"):
        sn.Sequential([L.Input((5,)), L.LSTM(2)])


def test_npz_round_trip_keeps_every_layer_and_weight(tmp_path):
    model = sn.Sequential([L.Input((5, 2)),
                           L.Bidirectional(L.LSTM(3, return_sequences=True), merge_mode="sum"),
                           L.GRU(2, go_backwards=True, dropout=0.1), L.Dense(1)], seed=0)
    model.compile(optimizer="adam", loss="mse")
    model.save(tmp_path / "m.npz")
    again = sn.load_model(tmp_path / "m.npz")
    x = _sequences(steps=5, features=2).astype(np.float32)
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
    assert again.layers[0].merge_mode == "sum"
    assert again.layers[1].go_backwards and again.layers[1].dropout == 0.1


def test_weights_are_c_ordered_whatever_the_initializer_returns():
    """Orthogonal builds its matrix as q.T (Fortran order); a recurrent kernel kept that way made
    every step's h @ R slower (16.7 us against 9.0 for (32, 64) @ (64, 256) in float32, measured on
    an idle machine). add_weight stores every weight in C order."""
    for layer in (L.LSTM(8), L.GRU(8), L.SimpleRNN(8), L.Dense(8, kernel_initializer="orthogonal")):
        sn.Sequential([L.Input((5, 3)), layer])
        for p in layer.weights:
            assert p.value.flags.c_contiguous, (layer.name, p.name)
