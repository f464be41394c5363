"""Keras' saving hooks (keras.io's "Customizing saving and serialization" guide) in scratchnet
alone: ``save_own_variables``/``load_own_variables`` and ``save_assets``/``load_assets``
overridden by a layer, through ``save``/``load_model`` (Sequential and functional) and
``save_weights``/``load_weights``. parity_tests/test_guide_saving_keras.py reads the same files
across the two libraries."""

import zipfile

import numpy as np
import pytest

import scratchnet as sn

RNG = np.random.default_rng(9)
X = RNG.random((5, 3)).astype("float32")


class Shifted(sn.layers.Layer):
    """A weight plus an offset that is not a weight, saved under its own key."""

    def __init__(self, units=2, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.offset = np.zeros(units, "float32")
        self.loaded_from = None

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")

    def call(self, inputs):
        return sn.ops.matmul(inputs, self.kernel) + self.offset

    def save_own_variables(self, store):
        super().save_own_variables(store)
        store["offset"] = self.offset

    def load_own_variables(self, store):
        self.loaded_from = sorted(store)
        self.offset = np.asarray(store["offset"])
        self.kernel.assign(store["0"])

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class Worded(sn.layers.Layer):
    def __init__(self, words="", **kwargs):
        super().__init__(**kwargs)
        self.words = words

    def call(self, inputs):
        return inputs

    def save_assets(self, inner_path):
        with open(f"{inner_path}/words.txt", "w") as f:
            f.write(self.words)
        with open(f"{inner_path}/count.txt", "w") as f:
            f.write(str(len(self.words.split())))

    def load_assets(self, inner_path):
        with open(f"{inner_path}/words.txt") as f:
            self.words = f.read().upper()


CUSTOM = {"Shifted": Shifted, "Worded": Worded}


def shifted_model(functional: bool):
    if functional:
        inputs = sn.Input((3,))
        model = sn.Model(inputs, Shifted(2, name="shifted")(inputs))
    else:
        model = sn.Sequential([sn.Input((3,)), Shifted(2, name="shifted")])
    model.layers[-1].offset = np.array([1.5, -2.0], "float32")
    return model


@pytest.mark.parametrize("functional", [False, True])
def test_own_variables_round_trip(functional, tmp_path):
    model = shifted_model(functional)
    model.save(tmp_path / "m.keras")
    restored = sn.models.load_model(tmp_path / "m.keras", custom_objects=CUSTOM)
    layer = restored.layers[-1]
    assert layer.loaded_from == ["0", "offset"]  # the hook got the whole group
    np.testing.assert_array_equal(layer.offset, [1.5, -2.0])
    np.testing.assert_allclose(restored.predict(X, verbose=0), model.predict(X, verbose=0), rtol=1e-6)


def test_own_variables_through_save_weights(tmp_path):
    model = shifted_model(functional=False)
    model.save_weights(tmp_path / "m.weights.h5")
    other = shifted_model(functional=False)
    other.layers[-1].offset = np.zeros(2, "float32")
    other.load_weights(tmp_path / "m.weights.h5")
    np.testing.assert_array_equal(other.layers[-1].offset, [1.5, -2.0])
    np.testing.assert_allclose(other.predict(X, verbose=0), model.predict(X, verbose=0), rtol=1e-6)


def test_default_hooks_save_and_load_every_weight():
    layer = sn.layers.BatchNormalization()
    layer(np.ones((2, 3), "float32"))
    store = {}
    layer.save_own_variables(store)
    assert sorted(store, key=int) == ["0", "1", "2", "3"]  # gamma, beta, moving mean, variance
    store["2"] = np.full(3, 4.0, "float32")
    layer.load_own_variables(store)
    np.testing.assert_array_equal(layer.get_weights()[2], [4.0, 4.0, 4.0])
    with pytest.raises(ValueError, match="expected 4 variables, but received 3"):
        layer.load_own_variables({k: store[k] for k in "012"})


def test_assets_round_trip(tmp_path):
    model = sn.Sequential([sn.Input((3,)), Worded("a few words", name="worded")])
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        assert sorted(n for n in archive.namelist() if n.startswith("assets/")) == [
            "assets/layers/worded/count.txt", "assets/layers/worded/words.txt"]
        assert archive.read("assets/layers/worded/count.txt") == b"3"
    restored = sn.models.load_model(tmp_path / "m.keras", custom_objects=CUSTOM)
    assert restored.layers[0].words == "A FEW WORDS"


# ------------------------------------------------------------------ a function as the activation
def squared_tanh(x):
    return sn.ops.tanh(x) ** 2


def test_function_activation_gradient_matches_finite_differences():
    from tests.gradcheck import numeric_grad, rel_error

    activation = sn.activations.get(squared_tanh)
    assert isinstance(activation, sn.activations.FunctionActivation)
    assert activation.name == "squared_tanh"
    z = RNG.normal(size=(3, 4))
    da = RNG.normal(size=(3, 4))
    expected = numeric_grad(lambda: float(np.sum(activation.forward(z) * da)), z)
    got = activation.backward(z, activation.forward(z), da)
    assert rel_error(got, expected) < 1e-6


def test_function_activation_found_by_name_in_a_scope_or_the_registry():
    with sn.utils.custom_object_scope({"squared_tanh": squared_tanh}):
        assert sn.activations.get("squared_tanh").fn is squared_tanh
        layer = sn.layers.Dense(2, activation={"module": "builtins", "class_name": "function",
                                               "config": "squared_tanh",
                                               "registered_name": "function"})
    assert layer.activation.fn is squared_tanh
    with pytest.raises(ValueError, match="unknown activation 'squared_tanh'"):
        sn.activations.get("squared_tanh")  # outside the scope


def test_function_activation_config_and_classes_still_refused():
    layer = sn.layers.Dense(2, activation=squared_tanh)
    assert layer.get_config()["activation"]["config"] == "squared_tanh"
    with pytest.raises(ValueError, match="unknown activation"):
        sn.layers.Dense(2, activation=sn.activations.ReLU)  # a class, not an activation
    constant = sn.activations.get(lambda x: np.ones(3))
    np.testing.assert_array_equal(constant.backward(np.zeros(3), None, np.ones(3)), np.zeros(3))


def test_activations_serialize_a_function_as_keras():
    expected = {"module": "builtins", "class_name": "function", "config": "squared_tanh",
                "registered_name": "function"}
    assert sn.activations.serialize(squared_tanh) == expected
    assert sn.activations.serialize(sn.activations.get(squared_tanh)) == expected
    assert sn.utils.serialize_keras_object(sn.activations.get(squared_tanh)) == expected
    assert sn.activations.serialize(sn.activations.relu) == "relu"


def test_another_frameworks_activation_function_is_refused():
    keras = pytest.importorskip("keras")
    with pytest.raises(ValueError, match="function of keras"):
        sn.layers.Dense(2, activation=keras.activations.relu)
