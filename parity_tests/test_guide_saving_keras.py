"""keras.io's guides "Save, serialize, and export models" and "Customizing saving and
serialization": what the saving tests (test_keras_format.py, test_serialize_keras.py) do not
already cover, run in both libraries (``K`` is ``keras`` or ``scratchnet``) and across them: a
file one library writes, the other reads.

- ``save_own_variables``/``load_own_variables``: a layer that keeps state of its own beside its
  weights, saved under its own key in its group of ``model.weights.h5``.
- ``save_assets``/``load_assets``: a layer that writes a text file into its folder of the archive
  (``assets/<path>/``) and reads it back.
- The "custom layer and function" example: a plain function of ops as an activation, in a model
  rebuilt from its JSON inside a ``custom_object_scope``, by either library from either's JSON
  (``Model.from_config(model.get_config())`` in both: parity_tests/test_model_config_keras.py).
"""

import io
import json
import zipfile

import h5py
import keras
import numpy as np
import pytest

import scratchnet as sn
from parity_tests.driver import FORWARD_RTOL, TRAJECTORY_RTOL, assert_close

RNG = np.random.default_rng(5)
X = RNG.random((6, 4)).astype("float32")


def with_own_variables(K, name):
    """A Dense-like layer the Keras way whose ``stored`` array (not a weight) is saved with its
    weights under the key ``"variables"`` (the guide's ``LayerWithCustomVariables``)."""
    @K.saving.register_keras_serializable(package="guide_saving", name=name)
    class LayerWithCustomVariables(K.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.stored = np.linspace(0.5, 1.5, units).astype("float32")

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units),
                                          initializer="glorot_uniform", name="kernel")
            self.bias = self.add_weight(shape=(self.units,), initializer="ones", name="bias")

        def call(self, inputs):
            return (K.ops.matmul(inputs, self.kernel) + self.bias) * self.stored

        def save_own_variables(self, store):
            super().save_own_variables(store)
            store["variables"] = self.stored

        def load_own_variables(self, store):
            self.stored = np.asarray(store["variables"])
            for i, variable in enumerate(self.weights):
                variable.assign(store[f"{i}"])

        def get_config(self):
            return {**super().get_config(), "units": self.units}
    return LayerWithCustomVariables


@pytest.mark.parametrize("writer", ["keras", "scratchnet"])
def test_save_and_load_own_variables_across_libraries(writer, tmp_path):
    libraries = {"keras": keras, "scratchnet": sn}
    reader = "scratchnet" if writer == "keras" else "keras"
    layer_class = {name: with_own_variables(K, f"OwnVariables_{writer}")
                   for name, K in libraries.items()}
    K = libraries[writer]
    model = K.Sequential([K.Input((4,)), layer_class[writer](3, name="own")])
    model.layers[0].stored = np.array([2.0, -1.0, 0.25], "float32")  # state that is not a weight
    model.compile(optimizer="adam", loss="mean_squared_error")
    model.fit(X, RNG.random((6, 3)).astype("float32"), verbose=0, epochs=2)
    path = tmp_path / "custom_vars_model.keras"
    model.save(path)
    with zipfile.ZipFile(path) as archive, \
            h5py.File(io.BytesIO(archive.read("model.weights.h5"))) as f:
        assert sorted(f["layers/layer_with_custom_variables/vars"]) == ["0", "1", "variables"]
    restored = libraries[reader].models.load_model(str(path))
    np.testing.assert_array_equal(np.asarray(restored.layers[0].stored), [2.0, -1.0, 0.25])
    assert_close(restored.predict(X, verbose=0), model.predict(X, verbose=0), FORWARD_RTOL,
                 f"{reader} reading {writer}'s file")


def test_default_load_own_variables_counts_the_entries():
    for K in (sn, keras):
        layer = K.layers.Dense(2)
        layer(np.zeros((1, 3), "float32"))  # built by a first call
        store = {}
        layer.save_own_variables(store)
        assert sorted(store) == ["0", "1"]
        np.testing.assert_array_equal(np.asarray(store["0"]), np.asarray(layer.kernel))
        fresh = K.layers.Dense(2)
        fresh(np.zeros((1, 3), "float32"))
        fresh.load_own_variables(store)
        np.testing.assert_array_equal(np.asarray(fresh.kernel), np.asarray(layer.kernel))
        with pytest.raises(ValueError, match="expected 2 variables"):
            fresh.load_own_variables({"0": store["0"]})


def with_assets(K, name):
    """The guide's ``LayerWithCustomAssets``: a sentence written to ``vocabulary.txt``."""
    @K.saving.register_keras_serializable(package="guide_saving", name=name)
    class LayerWithCustomAssets(K.layers.Layer):
        def __init__(self, vocab=None, units=2, **kwargs):
            super().__init__(**kwargs)
            self.vocab = vocab
            self.units = units

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")

        def call(self, inputs):
            return K.ops.matmul(inputs, self.kernel)

        def save_assets(self, inner_path):
            with open(f"{inner_path}/vocabulary.txt", "w") as f:
                f.write(self.vocab)

        def load_assets(self, inner_path):
            with open(f"{inner_path}/vocabulary.txt") as f:
                self.vocab = f.read().replace("<unk>", "little")

        def get_config(self):
            return {**super().get_config(), "units": self.units}
    return LayerWithCustomAssets


@pytest.mark.parametrize("writer", ["keras", "scratchnet"])
def test_save_and_load_assets_across_libraries(writer, tmp_path):
    libraries = {"keras": keras, "scratchnet": sn}
    reader = "scratchnet" if writer == "keras" else "keras"
    layer_class = {name: with_assets(K, f"Assets_{writer}") for name, K in libraries.items()}
    K = libraries[writer]
    model = K.Sequential([K.Input((4,)), layer_class[writer](vocab="Mary had a <unk> lamb.",
                                                              units=5)])
    path = tmp_path / "custom_assets_model.keras"
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        assert "assets/layers/layer_with_custom_assets/vocabulary.txt" in archive.namelist()
    restored = libraries[reader].models.load_model(str(path))
    assert restored.layers[0].vocab == "Mary had a little lamb."
    assert_close(restored.predict(X, verbose=0), model.predict(X, verbose=0), FORWARD_RTOL,
                 f"{reader} reading {writer}'s file")


def custom_layer_and_function(K):
    """The guide's "custom layer and function example": a layer the Keras way and a plain
    function of ops as an activation."""
    class CustomLayer(K.layers.Layer):
        def __init__(self, units=32, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units),
                                     initializer="random_normal", trainable=True)
            self.b = self.add_weight(shape=(self.units,), initializer="random_normal",
                                     trainable=True)

        def call(self, inputs):
            return K.ops.matmul(inputs, self.w) + self.b

        def get_config(self):
            config = super().get_config()
            config.update({"units": self.units})
            return config

    def custom_activation(x):
        return K.ops.tanh(x) ** 2

    inputs = K.Input((4,))
    x = CustomLayer(5)(inputs)
    x = K.layers.Activation(custom_activation)(x)
    outputs = K.layers.Dense(2, activation=custom_activation)(x)
    return K.Model(inputs, outputs), {"CustomLayer": CustomLayer,
                                      "custom_activation": custom_activation}


def test_custom_layer_and_activation_function_through_json_and_scope():
    models, objects = {}, {}
    for K in (keras, sn):
        models[K.__name__], objects[K.__name__] = custom_layer_and_function(K)
    k = models["keras"]
    models["scratchnet"].set_weights(k.get_weights())
    assert_close(models["scratchnet"].predict(X, verbose=0), k.predict(X, verbose=0), FORWARD_RTOL,
                 "a function as the activation")
    config = json.loads(models["scratchnet"].to_json())["config"]["layers"]
    assert config[2]["config"]["activation"] == {"module": "builtins", "class_name": "function",
                                                 "config": "custom_activation",
                                                 "registered_name": "function"}
    for reader, K in (("keras", keras), ("scratchnet", sn)):
        for writer in ("keras", "scratchnet"):
            with K.utils.custom_object_scope(objects[reader]):
                rebuilt = K.models.model_from_json(models[writer].to_json())
            rebuilt.set_weights(k.get_weights())
            assert_close(rebuilt.predict(X, verbose=0), k.predict(X, verbose=0), FORWARD_RTOL,
                         f"{reader} rebuilding {writer}'s JSON")


def test_training_through_an_activation_function():
    models = {K.__name__: custom_layer_and_function(K)[0] for K in (keras, sn)}
    s, k = models["scratchnet"], models["keras"]
    s.set_weights(k.get_weights())
    y = RNG.random((6, 2)).astype("float32")
    for m in (s, k):
        m.compile(optimizer="sgd", loss="mse")
    hist_s = s.fit(X, y, batch_size=3, epochs=3, verbose=0, shuffle=False).history["loss"]
    hist_k = k.fit(X, y, batch_size=3, epochs=3, verbose=0, shuffle=False).history["loss"]
    assert_close(hist_s, hist_k, TRAJECTORY_RTOL, "losses")
    for ws, wk in zip(s.get_weights(), k.get_weights(), strict=True):
        assert_close(ws, wk, TRAJECTORY_RTOL, "weights after training")


def test_activation_function_serialized_as_keras():
    def custom_activation(x):
        return x * 2.0

    assert sn.activations.serialize(custom_activation) == keras.activations.serialize(custom_activation)
    assert sn.layers.Dense(2, activation=custom_activation).get_config()["activation"] == \
        keras.layers.Dense(2, activation=custom_activation).get_config()["activation"]
