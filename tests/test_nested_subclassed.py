"""A subclassed model as an element of a Sequential model, or called on a tensor of a functional
model (``subclassing.ModelAsLayer``); Keras parity is parity_tests/test_nested_subclassed_keras.py."""

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.subclassing import ModelAsLayer

L = sn.layers


@sn.saving.register_keras_serializable(package="nested_subclassed_unit")
class Doubling(sn.Model):
    """A Dense, a second one, and ``training`` doubling the result (so the mode is seen)."""

    def __init__(self, units=3, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.first = L.Dense(units, activation="tanh", name="first")
        self.second = L.Dense(units, name="second")

    def call(self, inputs, training=False):
        y = self.second(self.first(inputs))
        return y * 2.0 if training else y

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class Unregistered(sn.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = L.Dense(2)

    def call(self, inputs):
        return self.dense(inputs)


def data(n: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 4)).astype(np.float32), rng.normal(size=(n, 2)).astype(np.float32)


def by_hand(block: Doubling, x, training: bool = False):
    w1, b1, w2, b2 = block.get_weights()
    y = np.tanh(x @ w1 + b1) @ w2 + b2
    return 2.0 * y if training else y


def test_a_subclassed_model_is_one_entry_of_a_sequential_model_on_its_own_weights():
    block = Doubling(name="block")
    model = sn.Sequential([sn.Input((4,)), block, L.Dense(2, name="out")], seed=0)
    entry = model.layers[0]
    assert isinstance(entry, ModelAsLayer) and entry.nested_model is block
    assert model.get_layer("block") is entry is block.as_layer()
    assert [la.name for la in model.layers] == ["block", "out"]
    assert [p.name for p in model.weights] == ["block/first/kernel", "block/first/bias",
                                               "block/second/kernel", "block/second/bias",
                                               "out/kernel", "out/bias"]
    assert all(a is b for a, b in zip(model.weights[:4], block.weights, strict=True))  # shared
    x, _ = data()
    w, b = model.get_weights()[-2:]
    np.testing.assert_allclose(model.predict(x, verbose=0), by_hand(block, x) @ w + b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model(x, training=True), by_hand(block, x, True) @ w + b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(block.predict(x, verbose=0), by_hand(block, x), rtol=1e-5, atol=1e-6)
    assert block.built and "first (Dense)" in block.summary(print_fn=None)  # built with the outer model
    summary = model.summary(print_fn=None)
    assert "block (Doubling)" in summary and "Total params: 35" in summary
    assert "ModelAsLayer" in repr(entry) and "Doubling" in repr(entry)


def test_a_sequential_model_without_input_builds_the_subclassed_model_on_its_first_batch():
    block = Doubling(name="block")
    model = sn.Sequential([block, L.Dense(2)], seed=1)
    assert not model.built
    x, _ = data()
    y = model.predict(x, verbose=0)
    assert model.built and y.shape == (6, 2) and block.get_weights()[0].shape == (4, 3)


def test_fit_trains_the_subclassed_model_and_trainable_false_freezes_it():
    x, y = data(8, seed=1)
    block = Doubling(name="block")
    model = sn.Sequential([sn.Input((4,)), block, L.Dense(2)], seed=2)
    model.compile("sgd", "mse")
    before = model.get_weights()
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    assert all(not np.array_equal(a, b) for a, b in zip(model.get_weights(), before, strict=True))
    block.trainable = False
    assert not model.get_layer("block").trainable
    assert [p.name for p in model.trainable_weights] == ["dense/kernel", "dense/bias"]
    assert len(model.non_trainable_weights) == 4
    assert "Non-trainable params: 27" in model.summary(print_fn=None)
    model.compile("sgd", "mse")
    frozen = block.get_weights()
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    for got, want in zip(block.get_weights(), frozen, strict=True):
        np.testing.assert_array_equal(got, want)
    model.get_layer("block").trainable = True  # the entry's flag is the model's
    assert block.trainable and len(model.trainable_weights) == 6


def test_the_loss_gradient_through_the_subclassed_model_matches_finite_differences():
    """dL/dw of every weight, by the backward pass and by central differences in float64."""
    sn.config.set_floatx("float64")
    try:
        block = Doubling(name="block")
        model = sn.Sequential([sn.Input((4,)), block, L.Dense(2)], seed=3)
        model.compile("sgd", "mse")
        rng = np.random.default_rng(4)
        x, y = rng.normal(size=(5, 4)), rng.normal(size=(5, 2))

        def loss() -> float:
            return float(np.mean((model(x, training=True) - y) ** 2))

        y_pred = model.forward(x, training=True)
        model.backward(2.0 * (y_pred - y) / y_pred.size)
        for param in model.weights:
            numeric = np.zeros_like(param.value)
            for index in np.ndindex(param.value.shape):
                keep = param.value[index]
                param.value[index] = keep + 1e-6
                up = loss()
                param.value[index] = keep - 1e-6
                down = loss()
                param.value[index] = keep
                numeric[index] = (up - down) / 2e-6
            np.testing.assert_allclose(param.grad, numeric, rtol=1e-6, atol=1e-9, err_msg=param.name)
    finally:
        sn.config.set_floatx("float32")


def test_a_subclassed_model_called_on_a_tensor_is_one_node_of_a_functional_model():
    block = Doubling(name="block")
    inputs = sn.Input((4,))
    model = sn.Model(inputs, L.Dense(2, name="out")(block(inputs)))
    assert [la.name for la in model.layers][1:] == ["block", "out"]
    assert "block (Doubling)" in model.summary(print_fn=None)
    x, y = data()
    w, b = model.get_weights()[-2:]
    np.testing.assert_allclose(model.predict(x, verbose=0), by_hand(block, x) @ w + b, rtol=1e-5, atol=1e-6)
    model.compile("sgd", "mse")
    before = block.get_weights()
    model.fit(x, y, epochs=1, verbose=0)
    assert not np.array_equal(block.get_weights()[0], before[0])
    fixed_block = Doubling(name="fixed")
    fixed = sn.Model(inputs, fixed_block(inputs, training=True))  # (held in every mode)
    np.testing.assert_allclose(fixed.predict(x, verbose=0), by_hand(fixed_block, x, True),
                               rtol=1e-5, atol=1e-6)
    square = Doubling(units=4, name="square")
    with pytest.raises(ValueError, match='layer "square" .* is made of layers and is called more than once'):
        sn.Model(inputs, square(square(inputs)))


def test_one_subclassed_model_in_two_sequential_models_shares_its_weights():
    block = Doubling(name="block")
    first = sn.Sequential([sn.Input((4,)), block, L.Dense(2)], seed=5)
    second = sn.Sequential([sn.Input((4,)), block], seed=6)
    x, _ = data()
    np.testing.assert_allclose(second.predict(x, verbose=0), by_hand(block, x), rtol=1e-5, atol=1e-6)
    assert first.weights[0] is second.weights[0]
    with pytest.raises(ValueError, match='layer "block" is already built'):
        sn.Sequential([sn.Input((5,)), block])  # (another input shape: not the same layer)


def test_a_keras_file_of_a_registered_subclassed_model_round_trips(tmp_path):
    block = Doubling(units=3, name="block")
    block.trainable = False
    model = sn.Sequential([sn.Input((4,)), block, L.Dense(2)], seed=7)
    model.compile("adam", "mse")
    x, y = data()
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = sn.load_model(tmp_path / "m.keras")
    entry = loaded.get_layer("block")
    assert isinstance(entry.nested_model, Doubling) and entry.nested_model.units == 3
    assert not entry.trainable and len(loaded.trainable_weights) == 2
    for got, want in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_a_file_of_an_unregistered_subclassed_model_saves_but_needs_the_class_to_load(tmp_path):
    model = sn.Sequential([sn.Input((4,)), Unregistered(name="plain"), L.Dense(1)], seed=8)
    model.save(tmp_path / "m.keras")
    with pytest.raises(ValueError, match=r"uses layer class 'Unregistered' \(layer \"plain\"\)"):
        sn.load_model(tmp_path / "m.keras")
    loaded = sn.load_model(tmp_path / "m.keras", custom_objects={"Unregistered": Unregistered})
    x, _ = data()
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_a_npz_file_is_refused_with_the_formats_that_hold_the_model(tmp_path):
    model = sn.Sequential([sn.Input((4,)), Doubling(name="block"), L.Dense(1)], seed=9)
    with pytest.raises(ValueError, match='holds the subclassed model "block", which a .npz file cannot'):
        model.save(tmp_path / "m.npz")


def test_clone_model_and_from_config_make_a_new_subclassed_model_from_its_config():
    block = Doubling(units=2, name="block")
    block.trainable = False
    model = sn.Sequential([sn.Input((4,)), block, L.Dense(1)], seed=10)
    for copy in (sn.models.clone_model(model), sn.Sequential.from_config(model.get_config())):
        entry = copy.get_layer("block")
        assert isinstance(entry.nested_model, Doubling) and entry.nested_model is not block
        assert entry.nested_model.units == 2 and not entry.trainable
        assert [w.shape for w in copy.get_weights()] == [w.shape for w in model.get_weights()]
        assert copy.predict(np.ones((2, 4), np.float32), verbose=0).shape == (2, 1)


def test_clone_model_of_a_functional_model_gives_the_clone_a_new_subclassed_model():
    inputs = sn.Input((4,))
    block = Doubling(name="block")
    model = sn.Model(inputs, L.Dense(2)(block(inputs)))
    copy = sn.models.clone_model(model)
    entry = copy.get_layer("block")
    assert isinstance(entry, ModelAsLayer) and isinstance(entry.nested_model, Doubling)
    assert entry.nested_model is not block and copy.weights[0] is not model.weights[0]
    copy.set_weights(model.get_weights())
    x, _ = data()
    np.testing.assert_allclose(copy.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


class AddsLoss(sn.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = L.Dense(2)

    def call(self, inputs):
        y = self.dense(inputs)
        self.add_loss(sn.ops.mean(sn.ops.square(y)))
        return y


def test_add_loss_in_the_call_of_a_nested_subclassed_model_is_refused_by_name():
    with pytest.raises(ValueError, match=r'model "adds" \(AddsLoss\): add_loss in call\(\) of a model placed '
                                         r"in another model .* is not implemented"):
        sn.Sequential([sn.Input((4,)), AddsLoss(name="adds"), L.Dense(1)])


def test_two_subclassed_models_of_default_names_are_numbered_as_layers_are():
    first, second = Doubling(), Doubling(units=2)
    model = sn.Sequential([sn.Input((4,)), first, second, L.Dense(1)], seed=11)
    assert [la.name for la in model.layers] == ["doubling", "doubling_1", "dense"]
    assert second.name == "doubling_1" and model.weights[4].name == "doubling_1/first/kernel"
    with pytest.raises(ValueError, match="Name 'mine' is already the name of a layer in this model"):
        sn.Sequential([sn.Input((4,)), Doubling(name="mine"), Doubling(name="mine")])
