"""``sn.RematScope`` and ``sn.remat`` (scratchnet/remat.py): a rematerialized layer keeps only its
input between its forward and backward passes and runs its forward pass again, with the same
random draws, when the backward pass reaches it. Its results and gradients are bit for bit those
without rematerialization, and the memory held between the passes is smaller."""

import tracemalloc

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.remat import get_current_remat_mode

L = sn.layers


def _mlp(remat_mode=None, seed=3, **scope):
    """Dense, Dropout, GaussianNoise, BatchNormalization, Dense: every kind of kept array
    (pre-activations, a dropout mask, noise, normalised values) and two kinds of randomness."""
    def layers():
        return [L.Input((12,)), L.Dense(64, activation="relu"), L.Dropout(0.3, name="drop"),
                L.GaussianNoise(0.2), L.BatchNormalization(), L.Dense(64, activation="tanh", name="wide"),
                L.Dense(4, activation="softmax")]

    if remat_mode is None:
        model = sn.Sequential(layers(), seed=seed)
    else:
        with sn.RematScope(mode=remat_mode, **scope):
            model = sn.Sequential(layers(), seed=seed)
    model.compile(optimizer=sn.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    return model


def _data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 12)).astype(np.float32), rng.integers(0, 4, n)


def test_full_remat_gives_the_same_loss_and_gradients_bit_for_bit():
    plain, remat = _mlp(), _mlp("full")
    for a, b in zip(plain.get_weights(), remat.get_weights(), strict=True):
        assert np.array_equal(a, b)
    x, y = _data()
    for _ in range(2):  # the second call draws new dropout masks and noise, on both sides alike
        loss, grads = plain.loss_and_grads(x, y)
        rloss, rgrads = remat.loss_and_grads(x, y)
        assert loss == rloss
        for g, rg in zip(grads, rgrads, strict=True):
            assert np.array_equal(g, rg)
    # BatchNormalization's moving statistics moved once per forward pass, not again in the
    # recomputation
    for a, b in zip(plain.get_weights(), remat.get_weights(), strict=True):
        assert np.array_equal(a, b)


def test_training_with_remat_follows_the_same_trajectory():
    plain, remat = _mlp(), _mlp("full")
    x, y = _data(48)
    h = plain.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    rh = remat.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    assert h.history["loss"] == rh.history["loss"]
    for a, b in zip(plain.get_weights(), remat.get_weights(), strict=True):
        assert np.array_equal(a, b)


def test_a_rematerialized_layer_keeps_only_its_input_until_the_backward_pass():
    plain, remat = _mlp(), _mlp("full")
    x, _ = _data()
    plain.forward(x, training=True)
    remat.forward(x, training=True)
    dense, rdense = plain.layers[0], remat.layers[0]
    assert isinstance(dense.preactivation, np.ndarray) and rdense.preactivation is None
    assert all("_remat_saved" in vars(layer) for layer in remat.layers)
    assert not any("_remat_saved" in vars(layer) for layer in plain.layers)


def _bytes_held_after_forward(model, x):
    """Bytes allocated by a training forward pass and still held when it returns (what waits for
    the backward pass), by tracemalloc (NumPy reports its arrays to it)."""
    model.forward(x, training=True)  # a first pass: whatever is made once (generators, buffers)
    tracemalloc.start()
    try:
        y = model.forward(x, training=True)
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del y
    return held


def _attention_block(mode, seed=0):
    """A Transformer block's first half: attention, residual, LayerNormalization, Dense(gelu)."""
    sn.utils.set_random_seed(seed)
    with sn.RematScope(mode):
        a = sn.Input((16, 8))
        h = L.MultiHeadAttention(num_heads=4, key_dim=8, dropout=0.1)(a, a)
        h = L.LayerNormalization()(L.Add()([a, h]))
        out = L.Dense(8, activation="gelu")(h)
        model = sn.Model(a, out, seed=seed)
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_an_attention_block_rematerializes_exactly_and_holds_a_sixth_of_the_memory():
    plain, remat = _attention_block(None), _attention_block("full")
    rng = np.random.default_rng(4)
    x, y = (rng.standard_normal((64, 16, 8)).astype(np.float32) for _ in range(2))
    loss, grads = plain.loss_and_grads(x, y)  # (attention dropout: random draws recomputed alike)
    rloss, rgrads = remat.loss_and_grads(x, y)
    assert loss == rloss
    for g, rg in zip(grads, rgrads, strict=True):
        assert np.array_equal(g, rg)
    held, rheld = _bytes_held_after_forward(plain, [x]), _bytes_held_after_forward(remat, [x])
    # measured: 924 KB against 148 KB. The attention keeps its scores and their softmax (64 x 4
    # heads x 16 x 16 floats, 256 KiB each), the projected queries, keys and values, the dropout
    # mask; rematerialized, each layer keeps only its input.
    assert rheld < held / 4, (rheld, held)


def test_a_rematerialized_mlp_holds_less_memory_between_forward_and_backward():
    def build(mode):
        with sn.RematScope(mode):
            return sn.Sequential([L.Input((12,)), *(L.Dense(64, activation="tanh") for _ in range(3)),
                                  L.Dense(4)], seed=0)

    x, _ = _data(256)
    held, rheld = _bytes_held_after_forward(build(None), x), _bytes_held_after_forward(build("full"), x)
    # measured: 398 KB against 216 KB. A Dense(tanh) keeps z and tanh(z) (64 KiB each here);
    # rematerialized it keeps its input, the previous layer's output, which is held anyway.
    assert rheld < 0.6 * held, (rheld, held)


def test_list_of_layers_larger_than_and_activations_choose_the_layers():
    x, _ = _data()
    model = _mlp("list_of_layers", layer_names=["drop", "wide"])
    model.forward(x, training=True)
    assert {layer.name for layer in model.layers if "_remat_saved" in vars(layer)} == {"drop", "wide"}
    model = _mlp("larger_than", output_size_threshold=63)  # outputs of 64 values per sample, and 4
    model.forward(x, training=True)
    assert [("_remat_saved" in vars(layer)) for layer in model.layers] == [True] * 5 + [False]
    # Keras' "activations" rematerializes an activation function only; scratchnet's activations
    # keep nothing their layer does not keep anyway, so nothing changes
    model = _mlp("activations")
    model.forward(x, training=True)
    assert not any("_remat_saved" in vars(layer) for layer in model.layers)
    assert isinstance(model.layers[0].preactivation, np.ndarray)


def test_inference_keeps_nothing_to_recompute():
    model = _mlp("full")
    x, _ = _data()
    model.predict(x, verbose=0)
    assert not any("_remat_saved" in vars(layer) for layer in model.layers)


def test_the_mode_is_the_innermost_scope_open_when_the_layer_is_made():
    assert get_current_remat_mode() is None
    with sn.RematScope("full"):
        outer = L.Dense(2)
        with sn.RematScope(None):
            inner = L.Dense(2)
        assert get_current_remat_mode() == ("full", 1024, [])
        after = L.Dense(2)
    made_outside = L.Dense(2)
    assert outer._remat_mode.mode == "full" and after._remat_mode.mode == "full"
    assert inner._remat_mode.mode is None
    assert made_outside._remat_mode is None
    assert get_current_remat_mode() is None


def test_remat_scope_refuses_an_unknown_mode():
    with pytest.raises(ValueError, match="Invalid mode 'everything'"):
        sn.RematScope(mode="everything")


def test_a_functional_model_with_merges_and_a_shared_layer_rematerializes_exactly():
    def build(mode):
        sn.utils.set_random_seed(5)
        scope = sn.RematScope(mode) if mode else sn.RematScope(None)
        with scope:
            a = L.Input((6,))
            shared = L.Dense(8, activation="gelu")
            h1, h2 = shared(a), shared(L.Dense(6)(a))
            h = L.Add()([h1, L.Dropout(0.5)(h2)])
            out = L.Dense(3)(L.Concatenate()([h, h1]))
            model = sn.Model(a, out, seed=7)
        model.compile(optimizer="sgd", loss="mse")
        return model

    plain, remat = build(None), build("full")
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((10, 6)).astype(np.float32), rng.standard_normal((10, 3)).astype(np.float32)
    for a, b in zip(plain.get_weights(), remat.get_weights(), strict=True):
        assert np.array_equal(a, b)
    loss, grads = plain.loss_and_grads(x, y)
    rloss, rgrads = remat.loss_and_grads(x, y)
    assert loss == rloss
    for g, rg in zip(grads, rgrads, strict=True):
        assert np.array_equal(g, rg)


class Scaled(sn.Layer):
    """A layer written the Keras way, run by the gradient tape."""

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], 5), initializer="glorot_uniform")

    def call(self, x):
        h = sn.ops.tanh(sn.ops.matmul(x, self.w))
        return h * h + sn.ops.exp(-h)


def test_a_layer_run_by_the_tape_rematerializes_exactly():
    def build(mode):
        with sn.RematScope(mode):
            model = sn.Sequential([L.Input((4,)), Scaled(), L.Dense(2)], seed=11)
        model.compile(optimizer="sgd", loss="mse")
        return model

    plain, remat = build(None), build("full")
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((8, 4)).astype(np.float32), rng.standard_normal((8, 2)).astype(np.float32)
    loss, grads = plain.loss_and_grads(x, y)
    remat.forward(x, training=True)
    assert remat.layers[0]._taped_call is None  # the tape (every intermediate value) dropped
    rloss, rgrads = remat.loss_and_grads(x, y)
    assert loss == rloss
    for g, rg in zip(grads, rgrads, strict=True):
        assert np.array_equal(g, rg)


def test_a_stateful_layer_cannot_be_rematerialized():
    with sn.RematScope("full"):
        model = sn.Sequential([L.Input((3, 2), batch_size=4), L.SimpleRNN(3, stateful=True)], seed=0)
    with pytest.raises(ValueError, match="stateful"):
        model.forward(np.zeros((4, 3, 2), np.float32), training=True)


# ------------------------------------------------------------------ remat(f) on the tape
def _block(x):
    for _ in range(3):
        x = x + sn.ops.tanh(x) * 0.5
    return x * x


def test_remat_of_a_function_in_a_lambda_gives_the_same_gradients_with_one_tape_line():
    def build(function):
        model = sn.Sequential([L.Input((4,)), L.Dense(6), L.Lambda(function), L.Dense(2)], seed=4)
        model.compile(optimizer="sgd", loss="mse")
        return model

    plain, remat = build(_block), build(sn.remat(_block))
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((8, 4)).astype(np.float32), rng.standard_normal((8, 2)).astype(np.float32)
    loss, grads = plain.loss_and_grads(x, y)
    rloss, rgrads = remat.loss_and_grads(x, y)
    assert loss == rloss
    for g, rg in zip(grads, rgrads, strict=True):
        assert np.array_equal(g, rg)
    plain.forward(x, training=True)
    remat.forward(x, training=True)
    assert len(plain.layers[1]._tape.lines) == 10  # tanh, * 0.5 and + three times; x * x
    assert len(remat.layers[1]._tape.lines) == 1  # one line: the checkpoint


def test_remat_of_a_function_on_plain_arrays_is_the_function():
    x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    assert np.array_equal(sn.remat(_block)(x), _block(x))


class Checkpointed(sn.Layer):
    """A layer whose call checkpoints a block that reads a weight: passed as an argument."""

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], 3), initializer="glorot_uniform")
        self.block = sn.remat(self._block)

    def _block(self, x, w):
        h = sn.ops.matmul(x, w)
        return sn.ops.tanh(h) * h

    def call(self, x):
        return self.block(x, self.w)


class Unchecked(Checkpointed):
    def call(self, x):
        return self._block(x, self.w)


def test_remat_of_a_method_given_the_weight_gives_its_gradient():
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((6, 4)).astype(np.float32), rng.standard_normal((6, 3)).astype(np.float32)
    results = []
    for cls in (Unchecked, Checkpointed):
        model = sn.Sequential([L.Input((4,)), cls()], seed=9)
        model.compile(optimizer="sgd", loss="mse")
        results.append(model.loss_and_grads(x, y))
    (loss, grads), (rloss, rgrads) = results
    assert loss == rloss and np.array_equal(grads[0], rgrads[0])
    assert np.abs(grads[0]).sum() > 0


class ReadsWeightInside(sn.Layer):
    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], 3), initializer="glorot_uniform")
        self.block = sn.remat(lambda x: sn.ops.matmul(x, self.w))

    def call(self, x):
        return self.block(x)


def test_remat_refuses_a_function_that_reads_a_traced_weight_it_was_not_given():
    model = sn.Sequential([L.Input((4,)), ReadsWeightInside()], seed=0)
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(TypeError, match="pass it as an argument"):
        model.loss_and_grads(np.ones((2, 4), np.float32), np.ones((2, 3), np.float32))


def test_remat_refuses_what_is_not_callable():
    with pytest.raises(TypeError, match="expected a callable"):
        sn.remat(3)


def test_remat_of_a_layer_points_to_remat_scope():
    with pytest.raises(TypeError, match="RematScope"):
        sn.remat(L.Dense(2, name="big"))


class Block(sn.Layer):
    """A layer made of layers (traced into a graph of them): a residual Dense-Dropout-Dense."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.d1 = L.Dense(32, activation="tanh")
        self.drop = L.Dropout(0.2)
        self.d2 = L.Dense(8)

    def call(self, x, training=False):
        return x + self.d2(self.drop(self.d1(x), training=training))


def test_a_layer_made_of_layers_rematerializes_as_one():
    def build(mode):
        with sn.RematScope(mode):  # (its layers are made in the scope too)
            model = sn.Sequential([L.Input((8,)), Block(), Block(), L.Dense(2)], seed=3)
        model.compile(optimizer="sgd", loss="mse")
        return model

    plain, remat = build(None), build("full")
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((64, 8)).astype(np.float32), rng.standard_normal((64, 2)).astype(np.float32)
    for _ in range(2):
        loss, grads = plain.loss_and_grads(x, y)
        rloss, rgrads = remat.loss_and_grads(x, y)
        assert loss == rloss
        for g, rg in zip(grads, rgrads, strict=True):
            assert np.array_equal(g, rg)
    # the block keeps its input only; its own layers do not checkpoint themselves inside it
    held, rheld = _bytes_held_after_forward(plain, x), _bytes_held_after_forward(remat, x)
    assert rheld < held / 3, (rheld, held)  # measured: 76 KB against 17 KB
    assert not any("_remat_saved" in vars(sub) for sub in remat.layers[0]._sublayers)
