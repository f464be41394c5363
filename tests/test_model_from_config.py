"""``Model.get_config`` / ``Model.from_config`` and ``Sequential.from_config`` (Keras' names): a
functional model's config is Keras' (layers with inbound nodes, input and output layers), and
from_config rebuilds the same graph with fresh weights; a user's layer whose get_config leaves
out super()'s entries is written as it is, so its class can be called with it. Parity with Keras:
parity_tests/test_guide_functional_api_keras.py."""

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.saving_keras import model_config


class Scale(sn.layers.Layer):
    """A user's layer whose get_config returns its constructor argument only."""

    def __init__(self, units=3):
        super().__init__()
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="ones")

    def call(self, inputs):
        return sn.ops.matmul(inputs, self.w)

    def get_config(self):
        return {"units": self.units}


def two_branch():
    inputs = sn.Input((4,), name="x")
    a = sn.layers.Dense(3, name="a")(inputs)
    b = sn.layers.Dense(3, activation="relu", name="b")(inputs)
    return sn.Model(inputs, [sn.layers.add([a, b], name="sum"), b], name="two")


def test_functional_config_has_keras_keys_and_rebuilds_the_graph():
    model = two_branch()
    config = model.get_config()
    assert sorted(config) == ["input_layers", "layers", "name", "output_layers", "trainable"]
    assert [spec["name"] for spec in config["layers"]] == ["x", "a", "b", "sum"]
    assert config["output_layers"] == [["sum", 0, 0], ["b", 0, 0]]
    back = sn.Model.from_config(config)
    assert back.name == "two" and [layer.name for layer in back.layers] == ["x", "a", "b", "sum"]
    back.set_weights(model.get_weights())
    x = np.random.default_rng(0).normal(size=(2, 4)).astype("float32")
    for out, expected in zip(back.predict(x, verbose=0), model.predict(x, verbose=0), strict=True):
        np.testing.assert_array_equal(out, expected)
    assert back.get_config() == config


def test_a_user_layer_config_is_written_as_it_is():
    inputs = sn.Input((2,))
    model = sn.Model(inputs, Scale(5)(inputs))
    spec = model.get_config()["layers"][1]
    assert spec["config"] == {"units": 5} and spec["class_name"] == "Scale"
    back = sn.Model.from_config(model.get_config(), custom_objects={"Scale": Scale})
    np.testing.assert_array_equal(back.predict(np.ones((1, 2), "float32"), verbose=0), [[2.0] * 5])
    with pytest.raises(ValueError, match="Scale"):
        sn.Model.from_config(model.get_config())  # the class is not known without custom_objects


def test_sequential_from_config_reads_its_own_config_and_keras():
    model = sn.Sequential([sn.Input((3,)), sn.layers.Dense(2, name="d")], name="stack")
    for config in (model.get_config(), model_config(model)["config"]):
        back = sn.Sequential.from_config(config)
        assert isinstance(back, sn.Sequential) and back.name == "stack"
        assert [w.shape for w in back.get_weights()] == [(3, 2), (2,)]
    unbuilt = sn.Sequential.from_config(sn.Sequential([sn.layers.Dense(2)]).get_config())
    assert len(unbuilt.layers) == 1 and not unbuilt.layers[0].weights  # no input shape: not built
    with pytest.raises(ValueError, match="'name' and 'layers'"):
        sn.Sequential.from_config({"layers": []})


def test_from_config_of_a_subclassed_model_calls_the_class():
    class Scaled(sn.Model):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, inputs):
            return inputs * self.factor

    assert Scaled.from_config({"factor": 3.0, "name": "s"}).factor == 3.0
    with pytest.raises(TypeError, match="from_config"):
        sn.Model.from_config("not a dict")
