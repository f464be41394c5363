"""``model.get_config()`` / ``Model.from_config(config)`` in Keras' format, in both libraries.

Keras 3: ``Sequential.get_config()`` and a functional model's ``get_config()`` are the ``"config"``
entry of a ``.keras`` file's ``config.json``; ``keras.Model.from_config`` /
``keras.Sequential.from_config`` rebuild a model from it (the Functional API guide:
``config = model.get_config(); new_model = keras.Model.from_config(config)``). Here each model
is made in both libraries, the two configs compared as dicts, and each library rebuilds the
other's config: same layers and summary, and the same outputs once the weights are copied
(FORWARD_RTOL).

Known differences (docs/parity-notes.md), taken out before the dicts are compared by
:func:`without_known_differences`: the ``build_config`` Keras writes for a layer without weights,
and Keras' process-wide numbering of an ``InputLayer``'s default name (each layer's own config is
Keras', parity_tests/test_layer_configs_keras.py). A model nested in another is listed layer by layer in
scratchnet (its config has no nested ``Sequential``/``Functional`` entry); it still rebuilds
both ways.
"""

import copy
import json

import keras
import numpy as np
import pytest

import scratchnet as sn
from parity_tests.driver import FORWARD_RTOL, assert_close

RNG = np.random.default_rng(5)


def sequential(K):
    return K.Sequential([K.Input((4,)), K.layers.Dense(3, activation="relu", name="hidden"),
                         K.layers.Dropout(0.25, name="drop"), K.layers.Dense(2, name="out")],
                        name="stack")


def conv_sequential(K):
    return K.Sequential([K.Input((6, 6, 1), name="image"), K.layers.Conv2D(2, 3, name="conv"),
                         K.layers.MaxPooling2D(name="pool"), K.layers.Flatten(name="flat"),
                         K.layers.Dense(3, activation="softmax", name="probs")], name="cnn")


def functional_shared(K):
    """Two inputs, two outputs, a layer used twice (``shared``) and a merge."""
    a = K.Input((4,), name="a")
    b = K.Input((3,), name="b")
    shared = K.layers.Dense(3, name="shared")
    x = K.layers.Concatenate(name="merge")([shared(a), K.layers.Dense(3, name="from_b")(b)])
    first = K.layers.Dense(2, activation="sigmoid", name="first")(x)
    second = shared(K.layers.Dense(4, name="back_to_4")(x))
    return K.Model([a, b], [first, second], name="two_by_two")


def nested_sequential(K):
    inner = K.Sequential([K.layers.Dense(3, name="inner_1"), K.layers.Dense(3, name="inner_2")],
                         name="inner")
    return K.Sequential([K.Input((4,)), inner, K.layers.Dense(2, name="out")], name="outer")


def nested_functional(K):
    inner_input = K.Input((4,), name="inner_in")
    inner = K.Model(inner_input, K.layers.Dense(3, name="inner_dense")(inner_input), name="inner")
    a = K.Input((4,), name="a")
    return K.Model(a, K.layers.Dense(2, name="out")(inner(a)), name="outer")


COMPARED = {"sequential": sequential, "conv sequential": conv_sequential,
            "functional, two inputs and outputs, shared layer": functional_shared}
NESTED = {"nested sequential": nested_sequential, "nested functional": nested_functional}


def without_known_differences(sn_config, keras_config):
    """``keras_config`` less what scratchnet knowingly writes otherwise (module docstring): a
    weightless layer's build_config, an InputLayer's default name."""
    keras_config = copy.deepcopy(keras_config)
    for mine, theirs in zip(sn_config["layers"], keras_config["layers"], strict=True):
        if "build_config" in theirs and "build_config" not in mine:
            del theirs["build_config"]
        if theirs["class_name"] == "InputLayer" and theirs["config"]["name"].startswith("input_layer"):
            theirs["config"]["name"] = mine["config"]["name"]
    return keras_config


def as_json(config):
    return json.loads(json.dumps(config))


def rebuild(K, config):
    config = copy.deepcopy(config)  # (Keras' functional_from_config consumes the dict)
    return K.Model.from_config(config) if "input_layers" in config else K.Sequential.from_config(config)


def inputs_for(model_s):
    shapes = [tuple(t.shape[1:]) for t in model_s.inputs]
    arrays = [RNG.random((3, *shape)).astype("float32") for shape in shapes]
    return arrays if len(arrays) > 1 else arrays[0]


def summary_text(model):
    lines = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines)


def same_outputs(model_s, model_k, x):
    model_s.set_weights(model_k.get_weights())
    out_s, out_k = model_s.predict(x, verbose=0), model_k.predict(x, verbose=0)
    for a, b in zip(out_s if isinstance(out_s, list) else [out_s],
                    out_k if isinstance(out_k, list) else [out_k], strict=True):
        assert_close(a, b, FORWARD_RTOL, "output of the rebuilt model")


@pytest.mark.parametrize("name", list(COMPARED))
def test_get_config_is_keras_dict(name):
    s, k = COMPARED[name](sn), COMPARED[name](keras)
    config_s, config_k = as_json(s.get_config()), as_json(k.get_config())
    assert config_s == without_known_differences(config_s, config_k)


@pytest.mark.parametrize("name", list(COMPARED) + list(NESTED))
def test_each_library_rebuilds_the_others_config(name):
    build = {**COMPARED, **NESTED}[name]
    s, k = build(sn), build(keras)
    from_keras = rebuild(sn, as_json(k.get_config()))
    from_scratchnet = rebuild(keras, as_json(s.get_config()))
    again = rebuild(sn, as_json(s.get_config()))
    assert type(from_keras) is type(s) and type(again) is type(s)
    assert [layer.name for layer in again.layers] == [layer.name for layer in s.layers]
    assert summary_text(again) == summary_text(s)  # (fresh weights: the same counts)
    assert [w.shape for w in from_scratchnet.get_weights()] == [w.shape for w in k.get_weights()]
    x = inputs_for(s)
    same_outputs(from_keras, k, x)
    same_outputs(s, from_scratchnet, x)
    same_outputs(again, k, x)


def test_the_functional_api_guides_lines():
    """``config = model.get_config(); new_model = keras.Model.from_config(config)``, and
    ``clone_model``, in scratchnet, on a Keras model's config too."""
    model = functional_shared(sn)
    new_model = sn.Model.from_config(model.get_config())
    assert new_model.get_config() == model.get_config()
    clone = sn.models.clone_model(model)
    assert clone.get_config() == model.get_config()
    k = functional_shared(keras)
    assert as_json(sn.Model.from_config(as_json(k.get_config())).get_config()) == \
        as_json(model.get_config())


def test_unbuilt_sequential_config_lists_its_layers():
    s = sn.Sequential([sn.layers.Dense(3, name="a"), sn.layers.Dense(2, name="b")], name="later")
    k = keras.Sequential([keras.layers.Dense(3, name="a"), keras.layers.Dense(2, name="b")], name="later")
    config_s, config_k = as_json(s.get_config()), as_json(k.get_config())
    assert config_s == without_known_differences(config_s, config_k)
    rebuilt = sn.Sequential.from_config(config_k)
    assert [layer.name for layer in rebuilt.layers] == ["a", "b"] and not rebuilt.built


@pytest.mark.parametrize("K", [sn, keras], ids=["scratchnet", "keras"])
def test_bad_configs_are_refused(K):
    with pytest.raises(ValueError, match="'name' and 'layers'"):
        K.Sequential.from_config({"layers": []})

    class Subclassed(K.Model):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.dense = K.layers.Dense(units)

        def call(self, x):
            return self.dense(x)

    assert Subclassed.from_config({"units": 3, "name": "sub"}).units == 3  # cls(**config)
    with pytest.raises(TypeError, match="(?i)unable to revive"):
        Subclassed.from_config({"name": "no_units"})  # (units is required)
