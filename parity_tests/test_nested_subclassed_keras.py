"""A subclassed model inside a Sequential model (or called on a tensor of a functional model), and
padding masks through a Sequential model holding a functional model, against Keras 3.15.

Keras keeps a subclassed ``keras.Model`` as ONE entry of the outer ``model.layers`` (a model is a
layer there); scratchnet places it through its layer view (``subclassing.ModelAsLayer``, one
entry on the model's own layers), so ``weights``, ``get_weights``, the summary's row and counts,
``fit`` and ``trainable = False`` come out as Keras', and ``.keras`` files of a registered class
load across libraries (``docs/subclassing.md``, "A subclassed model in an outer model")."""

import keras
import numpy as np
import pytest

import scratchnet as sn
from parity_tests.driver import FORWARD_RTOL, GRAD_RTOL, TRAJECTORY_RTOL, assert_close, same_start
from parity_tests.test_nested_sequential_keras import param_counts


def block_class(lib):
    """One registered subclassed model in ``lib`` (``keras`` or ``sn``): a Dense, a
    BatchNormalization (so the training mode matters, and the weights hold non-trainable moving
    statistics), a list of two Dense layers (a container in Keras' weights file) and a head."""
    layers = lib.layers

    @lib.saving.register_keras_serializable(package="nested_subclassed_parity")
    class Block(lib.Model):
        def __init__(self, units=5, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.hidden = layers.Dense(units, activation="relu", name="hidden")
            self.norm = layers.BatchNormalization(name="norm")
            self.stack = [layers.Dense(units, activation="tanh", name="stack_a"),
                          layers.Dense(units, name="stack_b")]
            self.head = layers.Dense(3, name="head")

        def call(self, inputs, training=False):
            x = self.norm(self.hidden(inputs), training=training)
            for layer in self.stack:
                x = layer(x)
            return self.head(x)

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    return Block


def weight_names(weights) -> list[str]:
    """``layer/weight`` of each weight: the last two parts of Keras' path
    (``outer/block/hidden/kernel``) and of scratchnet's name (``block/hidden/kernel``)."""
    return ["/".join(getattr(w, "path", w.name).split("/")[-2:]) for w in weights]


BLOCK = {sn: block_class(sn), keras: block_class(keras)}


def sequential_with_block(M, frozen: bool = False):
    block = BLOCK[M](name="block")
    if frozen:
        block.trainable = False
    return M.Sequential([M.Input((6,)), block, M.layers.Dense(2, name="out")], name="outer")


def functional_with_block(M):
    inputs = M.Input((6,))
    h = BLOCK[M](name="block")(inputs)
    return M.Model(inputs, M.layers.Dense(2, name="out")(h), name="outer")


def data(n: int = 8, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 6)).astype(np.float32), rng.normal(size=(n, 2)).astype(np.float32)


@pytest.mark.parametrize("make", [sequential_with_block, functional_with_block])
def test_a_subclassed_model_in_an_outer_model_has_keras_entries_weights_summary_and_outputs(make):
    model, kmodel = make(sn), make(keras)
    assert [type(e).__name__ for e in kmodel.layers][-2:] == ["Block", "Dense"]
    assert [la.name for la in model.layers][-2:] == [la.name for la in kmodel.layers][-2:] == ["block", "out"]
    assert model.get_layer("block").nested_model.name == "block"
    assert weight_names(model.weights) == weight_names(kmodel.weights)
    same_start(model, kmodel)
    for got, want in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    x, _ = data()
    assert_close(model.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL,
                 f"forward through the nested subclassed model ({make.__name__})")
    assert_close(model(x, training=True), kmodel(x, training=True), FORWARD_RTOL,
                 "training-mode forward (the BatchNormalization's batch statistics)")
    summary = model.summary(print_fn=None)
    assert "block (Block)" in summary
    trainable = sum(int(np.prod(w.shape)) for w in kmodel.trainable_weights)
    assert param_counts(summary) == (trainable, kmodel.count_params() - trainable) == (131, 10)


@pytest.mark.parametrize("freeze", ["never", "before_adding", "after_adding"])
def test_fit_trains_the_nested_subclassed_model_as_keras_and_trainable_false_freezes_it(freeze):
    """Adam, two epochs of two batches: the epochs' losses and every weight as Keras' from the
    same start; frozen (before or after it joins the model), the subclassed model keeps every
    weight bit for bit (its BatchNormalization runs in inference mode) and the head trains."""
    models = []
    for M in (sn, keras):
        model = sequential_with_block(M, frozen=freeze == "before_adding")
        if freeze == "after_adding":
            model.get_layer("block").trainable = False
        model.compile(optimizer=M.optimizers.Adam(0.01), loss="mse")
        models.append(model)
    model, kmodel = models
    same_start(model, kmodel)
    start = model.get_weights()
    assert weight_names(model.trainable_weights) == weight_names(kmodel.trainable_weights)
    trainable = sum(int(np.prod(w.shape)) for w in kmodel.trainable_weights)
    assert param_counts(model.summary(print_fn=None)) == (trainable, kmodel.count_params() - trainable)
    x, y = data()
    history = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    khistory = kmodel.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    assert_close(history.history["loss"], khistory.history["loss"], GRAD_RTOL, "the epochs' losses")
    for got, want in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        assert_close(got, want, TRAJECTORY_RTOL, f"weights after fit (block frozen: {freeze})")
    n_block = len(model.get_layer("block").weights)
    if freeze == "never":
        assert not np.array_equal(model.get_weights()[0], start[0])
    else:
        for got, before in zip(model.get_weights()[:n_block], start[:n_block], strict=True):
            np.testing.assert_array_equal(got, before)
    assert not np.array_equal(model.get_weights()[-2], start[-2])  # the head trained


def test_fit_through_a_subclassed_model_called_on_a_tensor_matches_keras():
    model, kmodel = functional_with_block(sn), functional_with_block(keras)
    for M, m in ((sn, model), (keras, kmodel)):
        m.compile(optimizer=M.optimizers.SGD(0.05), loss="mse")
    same_start(model, kmodel, seed=3)
    x, y = data(seed=1)
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    kmodel.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    for got, want in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        assert_close(got, want, TRAJECTORY_RTOL, "weights after one SGD epoch")


def test_keras_files_of_a_sequential_holding_a_subclassed_model_load_in_both(tmp_path):
    """Both write the registered class with its config (``"registered_name":
    "nested_subclassed_parity>Block"``) and its weights by attribute (``layers/block/hidden/vars``,
    the list as ``layers/block/stack/dense``): each library loads the other's file with its
    predictions, weights and frozen flag; weights files go both ways."""
    model, kmodel = sequential_with_block(sn, frozen=True), sequential_with_block(keras)
    same_start(model, kmodel, seed=4)
    x, _ = data(4, seed=6)
    want = model.predict(x, verbose=0)
    model.save(tmp_path / "s.keras")
    kloaded, loaded = keras.models.load_model(tmp_path / "s.keras"), sn.load_model(tmp_path / "s.keras")
    assert [type(e).__name__ for e in kloaded.layers] == ["Block", "Dense"]
    assert not kloaded.layers[0].trainable and not loaded.get_layer("block").trainable
    for other in (kloaded, loaded):
        assert_close(other.predict(x, verbose=0), want, FORWARD_RTOL, f"{type(other).__module__} loading it")
        for got, expected in zip(other.get_weights(), model.get_weights(), strict=True):
            np.testing.assert_array_equal(got, expected)
    # Keras revives the class with trainable=False before its __init__ makes the layers, which stay
    # trainable (keras/src/layers/layer.py: the flag reaches only the layers it has then), so its
    # loaded model trains the block; scratchnet's keeps it frozen (docs/parity-notes.md)
    assert weight_names(loaded.trainable_weights) == ["out/kernel", "out/bias"]
    assert len(kloaded.trainable_weights) == len(loaded.weights) - 2  # (all but the moving statistics)

    kmodel.save(tmp_path / "k.keras")  # Keras' file into scratchnet
    mine = sn.load_model(tmp_path / "k.keras")
    assert mine.get_layer("block").trainable
    for got, expected in zip(mine.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_array_equal(got, expected)
    assert_close(mine.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL,
                 "scratchnet loading Keras' file")

    model.save_weights(tmp_path / "s.weights.h5")
    twin = sequential_with_block(keras)
    twin.load_weights(tmp_path / "s.weights.h5")
    for got, expected in zip(twin.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, expected)
    kmodel.save_weights(tmp_path / "k.weights.h5")
    again = sequential_with_block(sn)
    again.load_weights(tmp_path / "k.weights.h5")
    for got, expected in zip(again.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_array_equal(got, expected)


def test_keras_files_of_a_functional_model_calling_a_subclassed_model_load_in_both(tmp_path):
    """The subclassed model as one node of a functional model: its layer entry is the model's
    class and config, its weights by attribute; each library loads either file."""
    model, kmodel = functional_with_block(sn), functional_with_block(keras)
    same_start(model, kmodel, seed=5)
    x, _ = data(4, seed=7)
    want = kmodel.predict(x, verbose=0)
    model.save(tmp_path / "s.keras")
    kmodel.save(tmp_path / "k.keras")
    for loaded in (keras.models.load_model(tmp_path / "s.keras"), sn.load_model(tmp_path / "s.keras"),
                   sn.load_model(tmp_path / "k.keras")):
        assert [la.name for la in loaded.layers][1:] == ["block", "out"]
        assert_close(loaded.predict(x, verbose=0), want, FORWARD_RTOL,
                     f"{type(loaded).__module__} loading it")
        for got, expected in zip(loaded.get_weights(), kmodel.get_weights(), strict=True):
            np.testing.assert_array_equal(got, expected)


# ---------------------------------------------------------------------- padding masks
def masked_model(M, case: str, mask_zero: bool = True):
    """A Sequential model holding a functional base, a padding mask crossing the boundary:
    ``"into"``: Embedding(mask_zero=True) before a base whose first layer (an LSTM) reads the mask;
    ``"out_of"``: a base that starts with Embedding(mask_zero=True), an LSTM after it;
    ``"through"``: the mask into a base (LSTM returning sequences) and on out of it to a
    GlobalAveragePooling1D."""
    L = M.layers
    ids = M.Input((5,), dtype="int32")
    if case == "into":
        i = M.Input((5, 4))
        base = M.Model(i, L.LSTM(3, name="lstm")(i), name="base")
        return M.Sequential([ids, L.Embedding(10, 4, mask_zero=mask_zero, name="embed"), base,
                             L.Dense(2, name="out")])
    if case == "out_of":
        i = M.Input((5,), dtype="int32")
        h = L.Dense(3, name="proj")(L.Embedding(10, 4, mask_zero=mask_zero, name="embed")(i))
        base = M.Model(i, h, name="base")
        return M.Sequential([ids, base, L.LSTM(3, name="lstm"), L.Dense(2, name="out")])
    i = M.Input((5, 4))
    h = L.Dense(3, name="proj")(L.LSTM(3, return_sequences=True, name="lstm")(i))
    base = M.Model(i, h, name="base")
    return M.Sequential([ids, L.Embedding(10, 4, mask_zero=mask_zero, name="embed"), base,
                         L.GlobalAveragePooling1D(name="pool"), L.Dense(2, name="out")])


def check_masked_models_match(model, kmodel, unmasked, seed: int, what: str) -> None:
    """Outputs of ``model`` (scratchnet) and ``kmodel`` (Keras) from the same start, then every
    weight after one SGD epoch; ``unmasked`` (the same model without the mask, given the same
    weights) must differ, so the mask did its part."""
    same_start(model, kmodel, seed=seed)
    x = np.array([[1, 2, 3, 0, 0], [4, 5, 0, 0, 0], [1, 1, 1, 1, 1], [0, 0, 2, 3, 0]], dtype="int32")
    y = np.random.default_rng(seed + 1).normal(size=(4, 2)).astype(np.float32)
    want = kmodel.predict(x, verbose=0)
    assert_close(model.predict(x, verbose=0), want, FORWARD_RTOL, f"masked forward ({what})")
    unmasked.set_weights(model.get_weights())
    assert np.abs(unmasked.predict(x, verbose=0) - want).max() > 1e-3  # (the mask did its part)
    for M, m in ((sn, model), (keras, kmodel)):
        m.compile(optimizer=M.optimizers.SGD(0.1), loss="mse")
    model.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0)
    kmodel.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0)
    for got, wanted in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        assert_close(got, wanted, TRAJECTORY_RTOL, f"weights after one epoch ({what})")


@pytest.mark.parametrize("case", ["into", "out_of", "through"])
def test_a_padding_mask_crosses_a_functional_model_in_a_sequential_model_as_in_keras(case):
    """Outputs, and every weight after one SGD epoch, as Keras' from the same start; the mask
    matters (the same ids without it give other outputs)."""
    check_masked_models_match(masked_model(sn, case), masked_model(keras, case),
                              masked_model(sn, case, mask_zero=False), seed=7, what=case)


def recurrent_class(lib):
    """A subclassed model whose ``call`` starts with an LSTM (the mask's reader), returning
    sequences or the last step."""

    class Recurrent(lib.Model):
        def __init__(self, sequences=False, **kwargs):
            super().__init__(**kwargs)
            self.lstm = lib.layers.LSTM(3, return_sequences=sequences, name="lstm")
            self.proj = lib.layers.Dense(3, name="proj")

        def call(self, inputs):
            return self.proj(self.lstm(inputs))

    return Recurrent


RECURRENT = {sn: recurrent_class(sn), keras: recurrent_class(keras)}


def masked_subclassed_model(M, sequences: bool, mask_zero: bool = True):
    L = M.layers
    tail = [L.GlobalAveragePooling1D(name="pool")] if sequences else []
    return M.Sequential([M.Input((5,), dtype="int32"), L.Embedding(10, 4, mask_zero=mask_zero, name="embed"),
                         RECURRENT[M](sequences=sequences, name="rnn"), *tail, L.Dense(2, name="out")])


@pytest.mark.parametrize("sequences", [False, True])
def test_a_padding_mask_reaches_the_layers_of_a_nested_subclassed_model_as_in_keras(sequences):
    """Keras' inner LSTM reads the mask the input tensor carries (and warns that the model "will
    destroy the mask information", which it does not); with ``sequences`` the model's output
    keeps the LSTM's mask, which the pooling after it reads. Outputs and one SGD epoch."""
    check_masked_models_match(masked_subclassed_model(sn, sequences),
                              masked_subclassed_model(keras, sequences),
                              masked_subclassed_model(sn, sequences, mask_zero=False), seed=9,
                              what=f"sequences={sequences}")
