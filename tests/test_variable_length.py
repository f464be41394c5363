"""Sequences of any length: ``Input((None, F))``, ``input_shape=(None, F)``, ``build((None, None, F))``,
and ``Bidirectional(..., return_state=True)``.

- A ``None`` axis stays ``None`` through shape inference (``output_shape``, the summary) while the
  weights are built from the known feature sizes.
- Every layer of a model built for unknown lengths computes, at each length, exactly what the same
  layers with the same weights compute when built for that fixed length (bit for bit): Embedding,
  the recurrent layers (states in and out), Bidirectional, Dense on 3-D inputs, TimeDistributed,
  Conv1D (each padding, strides, dilation), the 1-D poolings, Masking, Dropout, LayerNormalization,
  Activation, Reshape with -1, Conv1DTranspose, UnitNormalization, GroupNormalization,
  ActivityRegularization, MultiHeadAttention, Attention, AdditiveAttention, Concatenate and Add.
- fit on batches of different lengths (a generator, a PyDataset, arrays), predict on a new length.
- Refused, with the layer and the shape in the message: a weight whose size depends on an unknown
  axis (Flatten then Dense, an unknown feature axis), a batch that does not fit (Reshape to a fixed
  size, a kernel longer than the sequence).
- .keras, .h5 and .npz files keep the None (``batch_shape: [null, null, 8]``).
- Bidirectional's states: what it returns, their gradients and the initial states' against float64
  finite differences (tests/gradcheck.py, REL_TOL 1e-6); Keras' numbers are in
  parity_tests/test_variable_length_keras.py.
"""

import json
import zipfile

import numpy as np
import pytest

import scratchnet as sn
from tests.gradcheck import REL_TOL, numeric_grad, rel_error

L = sn.layers
F = 4


def _cases():
    """``name -> (layers maker, input sample shape with None, reads ids)``."""
    yield "embedding_lstm", lambda: [L.Embedding(12, 5), L.LSTM(3)], (None,), True
    yield "embedding_mask_gru", lambda: [L.Embedding(12, 5, mask_zero=True),
                                         L.GRU(3, return_sequences=True)], (None,), True
    yield "simple_rnn", lambda: [L.SimpleRNN(3, return_sequences=True, go_backwards=True)], (None, F), False
    yield "bidirectional", lambda: [L.Bidirectional(L.LSTM(3, return_sequences=True)), L.Dense(2)], \
        (None, F), False
    yield "dense_3d", lambda: [L.Dense(3, activation="relu"), L.Dense(2)], (None, F), False
    yield "time_distributed", lambda: [L.TimeDistributed(L.Dense(3))], (None, F), False
    for padding in ("valid", "same", "causal"):
        yield f"conv1d_{padding}", lambda p=padding: [L.Conv1D(3, 3, padding=p), L.Conv1D(2, 2, strides=2)], \
            (None, F), False
    yield "conv1d_dilated", lambda: [L.Conv1D(3, 2, dilation_rate=2)], (None, F), False
    yield "pooling", lambda: [L.MaxPooling1D(2), L.AveragePooling1D(2, strides=1, padding="same"),
                              L.GlobalAveragePooling1D()], (None, F), False
    yield "global_max", lambda: [L.GlobalMaxPooling1D(), L.Dense(2)], (None, F), False
    yield "masking", lambda: [L.Masking(0.0), L.LSTM(3)], (None, F), False
    yield "dropout_layernorm", lambda: [L.Dropout(0.5), L.LayerNormalization(), L.Activation("tanh")], \
        (None, F), False
    yield "reshape_minus_one", lambda: [L.Reshape((-1, 2)), L.Dense(2)], (None, F), False
    for padding in ("valid", "same"):
        yield f"conv1d_transpose_{padding}", lambda p=padding: [
            L.Conv1DTranspose(3, 3, strides=2, padding=p, activation="relu"), L.Conv1DTranspose(2, 2)], \
            (None, F), False
    yield "unit_group_normalization", lambda: [L.UnitNormalization(), L.GroupNormalization(2),
                                               L.ActivityRegularization(0.1)], (None, F), False


CASES = {name: (make, shape, ids) for name, make, shape, ids in _cases()}


def _data(shape, steps, ids, seed=0):
    rng = np.random.default_rng(seed)
    if ids:
        x = rng.integers(1, 12, (3, steps))
        x[1, -2:] = 0  # padding where a mask reads it
        return x
    x = rng.standard_normal((3, steps, *shape[1:])).astype(np.float32)
    x[1, -2:] = 0.0  # padded steps for Masking
    return x


@pytest.mark.parametrize("name", sorted(CASES))
def test_unknown_length_computes_what_a_fixed_length_does(name):
    make, shape, ids = CASES[name]
    dtype = "int64" if ids else None
    model = sn.Sequential([L.Input(shape, dtype=dtype), *make()], seed=0)
    assert model.input_shape == (None, *shape)
    assert model.output_shape[0] is None
    for steps in (6, 9):
        fixed = sn.Sequential([L.Input((steps, *shape[1:]), dtype=dtype), *make()], seed=1)
        fixed.set_weights(model.get_weights())
        x = _data(shape, steps, ids)
        np.testing.assert_array_equal(model.predict(x, verbose=0), fixed.predict(x, verbose=0))
        assert fixed.output_shape[1:] == tuple(d if d is not None else fixed.output_shape[i + 1]
                                               for i, d in enumerate(model.output_shape[1:]))


def test_none_stays_none_in_shapes_and_the_summary():
    model = sn.Sequential([L.Input((None, 8)), L.LSTM(64, return_sequences=True), L.Conv1D(16, 3),
                           L.GlobalMaxPooling1D(), L.Dense(2)])
    assert [layer.output_shape for layer in model.layers] == [(None, 64), (None, 16), (16,), (2,)]
    assert model.layers[0].kernel.shape == (8, 256)  # built from the known feature size
    lines = []
    model.summary(print_fn=lines.append)
    assert any("(None, None, 64)" in line for line in lines), lines
    assert model.count_params() == 8 * 256 + 64 * 256 + 256 + 3 * 64 * 16 + 16 + 16 * 2 + 2


@pytest.mark.parametrize("declare", ["input", "input_shape", "build"])
def test_the_three_ways_to_declare_an_unknown_length(declare):
    if declare == "input":
        model = sn.Sequential([L.Input((None, 3)), L.GRU(2)])
    elif declare == "input_shape":
        with pytest.warns(UserWarning, match="input_shape"):
            model = sn.Sequential([L.GRU(2, input_shape=(None, 3))])
    else:
        model = sn.Sequential([L.GRU(2)])
        model.build((None, None, 3))
    assert model.input_shape == (None, None, 3) and model.output_shape == (None, 2)
    for steps in (1, 4, 7):
        assert model.predict(np.ones((2, steps, 3)), verbose=0).shape == (2, 2)


def test_a_functional_graph_of_unknown_lengths():
    query, value = sn.Input((None, 6)), sn.Input((None, 5))
    attended = L.MultiHeadAttention(2, 3)(query, value)
    joined = L.Concatenate()([attended, query])
    summed = L.Add()([L.Dense(12)(joined), joined])
    out = L.TimeDistributed(L.Dense(2))(L.LayerNormalization()(summed))
    model = sn.Model([query, value], out)
    assert attended.shape == (None, None, 6) and joined.shape == (None, None, 12)
    assert model.output_shape == (None, None, 2)
    rng = np.random.default_rng(0)
    for tq, tv in ((3, 5), (7, 2)):
        x = [rng.standard_normal((2, tq, 6)), rng.standard_normal((2, tv, 5))]
        assert model.predict(x, verbose=0).shape == (2, tq, 2)


def test_attention_layers_take_unknown_lengths():
    query, value = sn.Input((None, 4)), sn.Input((None, 4))
    luong = L.Attention(use_scale=True)([query, value])
    bahdanau = L.AdditiveAttention()([query, value, value])
    model = sn.Model([query, value], L.Concatenate()([luong, bahdanau]), seed=0)
    assert luong.shape == (None, None, 4) and model.output_shape == (None, None, 8)
    rng = np.random.default_rng(1)
    for tq, tv in ((3, 5), (6, 2)):
        q, v = rng.standard_normal((2, tq, 4)), rng.standard_normal((2, tv, 4))
        fixed_q, fixed_v = sn.Input((tq, 4)), sn.Input((tv, 4))
        fixed = sn.Model([fixed_q, fixed_v], L.Concatenate()([
            L.Attention(use_scale=True)([fixed_q, fixed_v]),
            L.AdditiveAttention()([fixed_q, fixed_v, fixed_v])]))
        fixed.set_weights(model.get_weights())
        np.testing.assert_array_equal(model.predict([q, v], verbose=0), fixed.predict([q, v], verbose=0))


class _Lengths(sn.utils.PyDataset):
    """Batches of 4 sequences of ids, each batch its own length: 3, 5, 7."""

    def __len__(self):
        return 3

    def __getitem__(self, i):
        rng = np.random.default_rng(i)
        steps = 3 + 2 * i
        x = rng.integers(1, 20, (4, steps))
        return x, (x % 3)  # a label per step


def test_fit_on_batches_of_different_lengths_and_predict_a_new_one():
    model = sn.Sequential([L.Input((None,), dtype="int64"), L.Embedding(20, 8),
                           L.GRU(8, return_sequences=True), L.Dense(3)], seed=0)
    model.compile(sn.optimizers.Adam(0.05),
                  sn.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    history = model.fit(_Lengths(), epochs=15, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert model.predict(np.arange(1, 12)[None], verbose=0).shape == (1, 11, 3)  # a length never seen

    def batches():
        rng = np.random.default_rng(0)
        for steps in (4, 9, 6):
            x = rng.standard_normal((3, steps, 2)).astype(np.float32)
            yield x, x.sum(axis=(1, 2))[:, None]

    regression = sn.Sequential([L.Input((None, 2)), L.Conv1D(4, 3, padding="causal"),
                                L.GlobalAveragePooling1D(), L.Dense(1)], seed=0)
    regression.compile("sgd", "mse")
    assert len(regression.fit(batches(), epochs=1, verbose=0).history["loss"]) == 1
    x, y = np.ones((4, 5, 2), np.float32), np.ones((4, 1), np.float32)
    regression.fit(x, y, verbose=0)
    regression.fit(np.ones((4, 8, 2), np.float32), y, verbose=0, sample_weight=np.arange(4.0))


@pytest.mark.parametrize("make, message", [
    (lambda: sn.Sequential([L.Input((None, 8)), L.Flatten(), L.Dense(3)]),
     r'Layer "dense" \(Dense\): shapes used to initialize variables must be fully-defined \(no `None` '
     r"dimensions\); received shape=\(None, 3\) for weight 'kernel' \(for inputs of shape \(None, None\)\)"),
    (lambda: sn.Sequential([L.Input((None, None)), L.LSTM(3)]),
     r'Layer "lstm" \(LSTM\).*shape=\(None, 12\).*inputs of shape \(None, None, None\)'),
    (lambda: sn.Sequential([L.Input((5, None)), L.Conv1D(2, 3)]),
     r'Layer "conv1d" \(Conv1D\).*shape=\(3, None, 2\)'),
    (lambda: sn.Input((None, 0)), r"Input: expected every dimension of shape to be a positive integer, "
                                  r"received 0"),
])
def test_a_weight_of_unknown_size_is_refused_at_construction(make, message):
    with pytest.raises(ValueError, match=message):
        make()


class _Doubles(L.Layer):
    """A layer whose build does arithmetic on the length: it cannot plan an unknown one."""

    def build(self, input_shape, rng):
        return (input_shape[0] * 2, input_shape[1])


def test_a_layer_not_yet_taught_unknown_sizes_says_so():
    # scratchnet's own layers plan their output sizes batch by batch (tests/test_any_image_size.py);
    # a layer whose build needs the size says which layer and which shape
    layer = _Doubles()
    message = (rf'Layer "{layer.name}" \(_Doubles\) cannot be built for inputs of shape '
               rf"\(None, None, 4\): scratchnet's _Doubles needs the size")
    with pytest.raises(ValueError, match=message):
        sn.Sequential([L.Input((None, 4)), layer])


def test_a_batch_that_does_not_fit_is_refused_when_it_comes():
    reshape = sn.Sequential([L.Input((None, 8)), L.Reshape((16,))])
    assert reshape.output_shape == (None, 16)  # Keras accepts it: it fits sequences of 2 steps
    assert reshape.predict(np.ones((2, 2, 8)), verbose=0).shape == (2, 16)
    with pytest.raises(ValueError, match=r'Reshape "reshape": total size of the input, 24 \(shape '
                                         r"\(None, 3, 8\)\), cannot be arranged as target_shape=\(16,\)"):
        reshape.predict(np.ones((2, 3, 8)), verbose=0)
    conv = sn.Sequential([L.Input((None, 8)), L.Conv1D(3, 5)])
    with pytest.raises(ValueError, match=r'Layer "conv1d": the kernel \(5,\).*input of 3 steps'):
        conv.predict(np.ones((2, 3, 8)), verbose=0)
    with pytest.raises(ValueError, match=r"expected shape=\(None, None, 8\), found shape=\(2, 3, 7\)"):
        conv.predict(np.ones((2, 3, 7)), verbose=0)


@pytest.mark.parametrize("suffix", [".keras", ".h5", ".npz"])
def test_files_keep_the_unknown_length(suffix, tmp_path):
    model = sn.Sequential([L.Input((None, 8)), L.LSTM(4, return_sequences=True), L.Conv1D(2, 2)], seed=0)
    path = tmp_path / f"m{suffix}"
    model.save(path)
    if suffix == ".keras":
        config = json.loads(zipfile.ZipFile(path).read("config.json"))
        assert config["config"]["layers"][0]["config"]["batch_shape"] == [None, None, 8]
    loaded = sn.load_model(path)
    assert loaded.input_shape == (None, None, 8) and loaded.output_shape == (None, None, 2)
    for steps in (3, 10):
        x = np.random.default_rng(steps).standard_normal((2, steps, 8)).astype(np.float32)
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


# ---------------------------------------------------------------- Bidirectional(return_state)
@pytest.mark.parametrize("cell, n_states", [("LSTM", 4), ("GRU", 2), ("SimpleRNN", 2)])
def test_bidirectional_returns_the_output_then_forward_and_backward_states(cell, n_states):
    bidi = L.Bidirectional(getattr(L, cell)(3, return_state=True))
    x = np.random.default_rng(0).standard_normal((2, 5, 4)).astype(np.float32)
    out, *states = bidi(x)
    assert out.shape == (2, 6) and len(states) == n_states
    assert all(s.shape == (2, 3) for s in states)
    half = n_states // 2
    np.testing.assert_array_equal(out[:, :3], states[0])  # the forward layer's last h is its output
    np.testing.assert_array_equal(out[:, 3:], states[half])  # and the backward layer's
    inputs = sn.Input((None, 4))
    tensors = bidi(inputs)
    assert [t.shape for t in tensors] == [(None, 6)] + [(None, 3)] * n_states
    with pytest.raises(ValueError, match=r"expected initial_state to be a list of "
                                         rf"{n_states} states .*received 1"):
        bidi(x, initial_state=[np.zeros((2, 3))])
    with pytest.raises(ValueError, match=r'Sequential.add: layer "bidirectional.*" has return_state=True'):
        sn.Sequential([L.Input((5, 4)), L.Bidirectional(getattr(L, cell)(3, return_state=True))])


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_bidirectional_state_gradients_match_finite_differences(float64, cell, return_sequences, masked):
    rng = np.random.default_rng(3)
    bidi = L.Bidirectional(getattr(L, cell)(2, return_state=True, return_sequences=return_sequences),
                           merge_mode="sum")
    bidi.ensure_built((None, 3), rng)
    for p in bidi.weights:
        p.value[...] = rng.standard_normal(p.value.shape) * 0.5
    x = rng.standard_normal((3, 4, 3))
    states = [rng.standard_normal((3, 2)) for _ in range(bidi.n_states)]
    mask = np.array([[True] * 4, [True, True, False, False], [False, True, True, False]]) if masked else None
    outs = bidi.forward(x, mask=mask, initial_state=states)
    ws = [rng.standard_normal(o.shape) for o in outs]

    def loss():
        return float(sum(np.sum(w * o) for w, o in zip(ws, bidi.forward(x, mask=mask, initial_state=states),
                                                        strict=True)))

    loss()
    dx, *dstates = bidi.backward(ws)
    analytic = {"x": dx, **{f"state {k}": d for k, d in enumerate(dstates)},
                **{p.name: p.grad for p in bidi.weights}}
    arrays = {"x": x, **{f"state {k}": s for k, s in enumerate(states)},
              **{p.name: p.value for p in bidi.weights}}
    for what, array in arrays.items():
        error = rel_error(analytic[what], numeric_grad(loss, array))
        assert error < REL_TOL, f"{what}: relative error {error:.2e}"


def test_bidirectional_encoder_states_start_a_decoder_in_a_graph(tmp_path):
    encoder_inputs, decoder_inputs = sn.Input((None, 5)), sn.Input((None, 4))
    _, hf, cf, hb, cb = L.Bidirectional(L.LSTM(3, return_state=True))(encoder_inputs)
    h, c = L.Concatenate()([hf, hb]), L.Concatenate()([cf, cb])
    decoded = L.LSTM(6, return_sequences=True)(decoder_inputs, initial_state=[h, c])
    model = sn.Model([encoder_inputs, decoder_inputs], L.Dense(4, activation="softmax")(decoded))
    model.compile("adam", "categorical_crossentropy")
    rng = np.random.default_rng(0)
    for te, td in ((5, 3), (2, 6)):
        x = [rng.standard_normal((4, te, 5)), rng.standard_normal((4, td, 4))]
        y = np.eye(4)[rng.integers(0, 4, (4, td))]
        model.fit(x, y, verbose=0)
        assert model.predict(x, verbose=0).shape == (4, td, 4)
    path = tmp_path / "bidi.keras"
    model.save(path)
    loaded = sn.load_model(path)
    x = [rng.standard_normal((2, 7, 5)), rng.standard_normal((2, 3, 4))]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    # the bidirectional layer's own initial_state: its four states from another graph's tensors
    states = [sn.Input((3,)) for _ in range(4)]
    out = L.Bidirectional(L.LSTM(3, return_sequences=True))(encoder_inputs, initial_state=states)
    with_states = sn.Model([encoder_inputs, *states], out)
    arrays = [rng.standard_normal((2, 4, 5))] + [rng.standard_normal((2, 3)) for _ in range(4)]
    assert with_states.predict(arrays, verbose=0).shape == (2, 4, 6)
