"""``keras.utils`` / ``keras.saving`` / ``keras.models`` / ``keras.backend`` helpers against
Keras 3.15.1: the object registry (a registered custom layer saved by one library and loaded by
the other without ``custom_objects``), ``serialize_keras_object`` / ``deserialize_keras_object``,
``clone_model``, ``to_json`` / ``model_from_json``, ``split_dataset``, the sample-weight tuples,
``array_to_img`` / ``save_img``, ``Progbar``'s averages and the dtype rules.

Tolerances: predictions of the same weights to FORWARD_RTOL; everything else is exact (configs,
splits, pixels, dtype names).
"""

import json

import keras
import numpy as np
import pytest
from keras import ops

import scratchnet as sn
import tfnet
from parity_tests.driver import FORWARD_RTOL, assert_close
from scratchnet.utils import serialization

RNG = np.random.default_rng(5)


# ----------------------------------------------------------------------------- registry
class Scale(sn.layers.Layer):
    """``y = x * gamma``, one learnt factor per feature (docs/custom-layers.md)."""

    def build(self, input_shape, rng):
        self.gamma = self.add_weight("gamma", (input_shape[-1],), "ones", rng)
        return tuple(input_shape)

    def forward(self, x, training=False):
        self.x = x
        return x * self.gamma.value

    def backward(self, dy):
        self.gamma.grad = np.sum(self.x * dy, axis=tuple(range(dy.ndim - 1)))
        return dy * self.gamma.value


class KerasScale(keras.layers.Layer):
    def build(self, input_shape):
        self.gamma = self.add_weight(name="gamma", shape=(input_shape[-1],), initializer="ones")

    def call(self, x):
        return ops.multiply(x, self.gamma)


@pytest.fixture
def registered():
    """Both classes registered as "MyLayers>Scale" in their library's registry, then removed."""
    KerasScale.__name__ = "Scale"
    sn.saving.register_keras_serializable(package="MyLayers")(Scale)
    keras.saving.register_keras_serializable(package="MyLayers")(KerasScale)
    yield
    sn.saving.get_custom_objects().pop("MyLayers>Scale")
    serialization._GLOBAL_CUSTOM_NAMES.pop(Scale)
    keras.saving.get_custom_objects().pop("MyLayers>Scale")
    from keras.src.saving import object_registration

    object_registration.GLOBAL_CUSTOM_NAMES.pop(KerasScale)


def _scale_models():
    model = sn.Sequential([sn.layers.Input((3,)), sn.layers.Dense(4), Scale(name="scale")], seed=0)
    model.set_weights([*model.get_weights()[:2], np.array([0.5, -2.0, 3.0, 1.5], "f4")])
    kmodel = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), KerasScale(name="scale")])
    kmodel.set_weights(model.get_weights())
    return model, kmodel


def test_registered_names_as_keras(registered):
    assert sn.saving.get_registered_name(Scale) == keras.saving.get_registered_name(KerasScale) \
        == "MyLayers>Scale"
    assert sn.saving.get_registered_object("MyLayers>Scale") is Scale
    assert keras.saving.get_registered_object("MyLayers>Scale") is KerasScale
    assert sn.utils.get_registered_name(sn.layers.Dense) == keras.utils.get_registered_name(
        keras.layers.Dense) == "Dense"
    assert sn.saving.get_registered_object("nope") is keras.saving.get_registered_object("nope") is None


def test_registered_layer_saves_and_loads_both_ways_without_custom_objects(tmp_path, registered):
    model, kmodel = _scale_models()
    x = RNG.standard_normal((5, 3)).astype("f4")
    expected = np.asarray(kmodel(x))
    model.save(tmp_path / "ours.keras")
    loaded_k = keras.saving.load_model(tmp_path / "ours.keras")
    assert type(loaded_k.layers[1]) is KerasScale
    assert_close(loaded_k.predict(x, verbose=0), expected, FORWARD_RTOL, "Keras loads scratchnet's")
    kmodel.save(tmp_path / "theirs.keras")
    loaded = sn.load_model(tmp_path / "theirs.keras")
    assert type(loaded.layers[1]) is Scale
    assert_close(loaded.predict(x, verbose=0), expected, FORWARD_RTOL, "scratchnet loads Keras'")
    ours = json.loads(sn.models.model_from_json(model.to_json()).to_json())["config"]["layers"][2]
    theirs = json.loads(kmodel.to_json())["config"]["layers"][2]
    assert ours["class_name"] == theirs["class_name"] == "Scale"
    assert ours["registered_name"] == theirs["registered_name"] == "MyLayers>Scale"


def test_unregistered_custom_layer_needs_custom_objects_or_a_scope(tmp_path):
    model, _ = _scale_models()
    model.save(tmp_path / "m.keras")
    with pytest.raises(ValueError, match="'Scale'"):
        sn.load_model(tmp_path / "m.keras")
    with sn.utils.custom_object_scope({"Scale": Scale}):
        assert type(sn.load_model(tmp_path / "m.keras").layers[1]) is Scale
    assert type(sn.load_model(tmp_path / "m.keras", custom_objects={"Scale": Scale}).layers[1]) is Scale


def test_custom_object_scopes_replace_not_merge_as_keras():
    for lib in (keras.saving, sn.saving):
        with lib.custom_object_scope({"A": 1}):
            with lib.CustomObjectScope({"B": 2}):
                inner = (lib.get_registered_object("A"), lib.get_registered_object("B"))
            outer = (lib.get_registered_object("A"), lib.get_registered_object("B"))
        assert inner == (None, 2) and outer == (1, None), lib.__name__
        assert lib.get_registered_object("A") is None
        assert lib.get_registered_object("X", custom_objects={"X": 3}) == 3


# ----------------------------------------------------------------------------- serialization
def _twin_objects():
    return [
        (sn.initializers.GlorotUniform(), keras.initializers.GlorotUniform()),
        (sn.initializers.RandomNormal(stddev=0.3), keras.initializers.RandomNormal(stddev=0.3)),
        (sn.losses.MeanSquaredError(), keras.losses.MeanSquaredError()),
        (sn.losses.BinaryCrossentropy(from_logits=True), keras.losses.BinaryCrossentropy(from_logits=True)),
        (sn.metrics.BinaryAccuracy(threshold=0.7), keras.metrics.BinaryAccuracy(threshold=0.7)),
        (sn.activations.relu, keras.activations.relu),
        (sn.activations.celu, keras.activations.celu),
        (sn.metrics.sparse_categorical_accuracy, keras.metrics.sparse_categorical_accuracy),
        (np.arange(6, dtype="float32").reshape(2, 3), np.arange(6, dtype="float32").reshape(2, 3)),
        ({"a": [1, 2.5, "x", None]}, {"a": [1, 2.5, "x", None]}),
    ]


@pytest.mark.parametrize("pair", _twin_objects(), ids=lambda p: type(p[0]).__name__)
def test_serialize_keras_object_as_keras(pair):
    """Functions, arrays and plain values serialize exactly as Keras; an object's dict (which
    leaves out some of Keras' default entries) deserializes in Keras to its twin's config, and
    Keras' dict deserializes in scratchnet to the same object."""
    ours, theirs = pair
    spec = sn.utils.serialize_keras_object(ours)
    kspec = keras.saving.serialize_keras_object(theirs)
    if hasattr(ours, "get_config"):
        assert {k: spec[k] for k in ("module", "class_name", "registered_name")} == \
            {k: kspec[k] for k in ("module", "class_name", "registered_name")}
        assert keras.saving.deserialize_keras_object(spec).get_config() == theirs.get_config()
        back = sn.utils.deserialize_keras_object(kspec)
        assert type(back) is type(ours) and back.get_config() == ours.get_config()
        return
    assert spec == kspec
    back = sn.utils.deserialize_keras_object(spec)
    if isinstance(ours, np.ndarray):
        np.testing.assert_array_equal(back, ours)
        assert back.dtype == ours.dtype
    elif isinstance(ours, dict):
        assert back == ours
    else:
        assert back is ours


def test_serialize_layer_and_optimizer_as_keras():
    model = sn.Sequential([sn.layers.Input((3,)), sn.layers.Dense(4, activation="tanh", name="d")],
                          seed=0)
    model.compile(sn.optimizers.Adam(0.125), "mse")  # a learning rate float32 holds exactly
    kmodel = tfnet.to_keras(model)
    for ours, theirs in ((model.layers[0], kmodel.layers[0]), (model.optimizer, kmodel.optimizer)):
        spec = sn.utils.serialize_keras_object(ours)
        assert keras.saving.deserialize_keras_object(spec).get_config() == theirs.get_config()
        back = sn.utils.deserialize_keras_object(keras.saving.serialize_keras_object(theirs))
        assert type(back) is type(ours) and back.get_config() == ours.get_config()
    with pytest.raises(TypeError, match="serialize_keras_object: cannot serialize"):
        sn.utils.serialize_keras_object(object())
    with pytest.raises(ValueError, match="could not locate class 'Nope'"):
        sn.utils.deserialize_keras_object({"module": "mine", "class_name": "Nope", "config": {},
                                           "registered_name": "Nope"})


# ----------------------------------------------------------------------------- models
def _functional():
    a = sn.Input((4,), name="a")
    h = sn.layers.Dense(5, activation="relu", name="h")(a)
    shared = sn.layers.Dense(5, name="shared")
    out = sn.layers.Dense(2, name="out")(sn.layers.Concatenate()([shared(h), shared(shared(h))]))
    return sn.Model(a, out, name="net")


def _sequential():
    return sn.Sequential([sn.layers.Input((6,)), sn.layers.Dense(4, activation="relu"),
                          sn.layers.Dropout(0.2), sn.layers.Dense(2)], seed=2, name="seq")


def _layers(kmodel) -> list:
    """A Keras model's layer configs, the automatic input-layer name left out (Keras counts)."""
    layers = json.loads(kmodel.to_json())["config"]["layers"]
    for spec in layers:
        if spec["class_name"] == "InputLayer" and spec["config"]["name"].startswith("input_layer"):
            spec["config"].pop("name")
            spec.pop("name", None)
    return layers


@pytest.mark.parametrize("make", [_sequential, _functional])
def test_clone_model_same_architecture_fresh_weights_as_keras(make):
    model = make()
    kmodel = tfnet.to_keras(model)
    clone = sn.models.clone_model(model)
    kclone = keras.models.clone_model(kmodel)
    assert json.loads(clone.to_json())["config"] == json.loads(model.to_json())["config"]
    assert _layers(tfnet.to_keras(clone)) == _layers(kclone)
    assert not clone.compiled and not kclone.compiled
    assert [w.shape for w in clone.get_weights()] == [w.shape for w in kclone.get_weights()]
    assert not all(np.array_equal(a, b) for a, b in zip(clone.get_weights(), model.get_weights(),
                                                         strict=True))
    clone.set_weights(model.get_weights())
    x = RNG.standard_normal((3, *model.input_shape[1:])).astype("f4")
    assert_close(clone.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL, "clone")


def test_clone_function_and_input_tensors():
    model = _sequential()
    clone = sn.models.clone_model(
        model, clone_function=lambda layer: sn.layers.Dropout(0.5, name=layer.name)
        if isinstance(layer, sn.layers.Dropout) else layer.__class__(**layer.get_config()))
    assert clone.layers[1].rate == 0.5
    wider = sn.models.clone_model(model, input_tensors=sn.Input((6,)))
    assert wider.input_shape == (None, 6)
    f = _functional()
    refed = sn.models.clone_model(f, input_tensors=[sn.Input((4,), name="new_input")])
    assert refed.input_names == ["new_input"] and len(refed.layers) == len(f.layers)
    with pytest.raises(ValueError, match="clone_model: expected a Sequential or functional model"):
        class Sub(sn.Model):
            def call(self, x):
                return x
        sn.models.clone_model(Sub())


@pytest.mark.parametrize("make", [_sequential, _functional])
def test_to_json_and_model_from_json_both_ways(make):
    model = make()
    model.compile(sn.optimizers.SGD(0.1), "mse", metrics=["mae"])
    kmodel = tfnet.to_keras(model)
    ours, theirs = json.loads(model.to_json()), json.loads(kmodel.to_json())
    assert ours["class_name"] == theirs["class_name"]
    x = RNG.standard_normal((3, *model.input_shape[1:])).astype("f4")
    from_ours = keras.models.model_from_json(model.to_json())
    assert _layers(from_ours) == _layers(kmodel)
    assert from_ours.get_compile_config() == kmodel.get_compile_config()
    from_ours.set_weights(model.get_weights())
    from_theirs = sn.models.model_from_json(kmodel.to_json())
    assert from_theirs.compiled and from_theirs.metric_names == ["mae"]
    from_theirs.set_weights(model.get_weights())
    assert_close(from_theirs.predict(x, verbose=0), from_ours.predict(x, verbose=0), FORWARD_RTOL,
                 "model_from_json")
    with pytest.raises(ValueError, match="model_from_json: expected the JSON text"):
        sn.models.model_from_json("{not json")


def test_save_model_and_weights_functions(tmp_path):
    model = _sequential()
    sn.models.save_model(model, tmp_path / "m.keras")
    kmodel = keras.saving.load_model(tmp_path / "m.keras")
    with pytest.raises(FileExistsError):
        sn.saving.save_model(model, tmp_path / "m.keras", overwrite=False)
    keras.saving.save_weights(kmodel, tmp_path / "k.weights.h5") if hasattr(keras.saving, "save_weights") \
        else kmodel.save_weights(tmp_path / "k.weights.h5")
    fresh = _sequential()
    fresh.set_weights([w * 0 for w in fresh.get_weights()])
    sn.saving.load_weights(fresh, tmp_path / "k.weights.h5")
    for a, b in zip(fresh.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    sn.saving.save_weights(model, tmp_path / "s.weights.h5")
    keras.saving.load_weights(kmodel, tmp_path / "s.weights.h5")


# ----------------------------------------------------------------------------- data helpers
@pytest.mark.parametrize("args", [(1,), ((1, 2),), ([1, 2],), (1, 2), (1, 2, 3), (1, None, 3)])
def test_pack_and_unpack_as_keras(args):
    assert sn.utils.pack_x_y_sample_weight(*args) == keras.utils.pack_x_y_sample_weight(*args)
    packed = keras.utils.pack_x_y_sample_weight(*args)
    assert sn.utils.unpack_x_y_sample_weight(packed) == keras.utils.unpack_x_y_sample_weight(packed)


def _as_arrays(ds, structure):
    """A tf.data split back as the arrays scratchnet returns."""
    rows = list(ds.as_numpy_iterator())
    if structure == "array":
        return np.stack(rows)
    return tuple(np.stack(column) for column in zip(*rows, strict=True))


SPLITS = [{"left_size": 0.8}, {"right_size": 3}, {"left_size": 4, "right_size": 5},
          {"left_size": 0.3, "right_size": 0.5}, {"left_size": 0.7, "shuffle": True, "seed": 7},
          {"right_size": 0.25, "shuffle": True, "seed": 123}]


@pytest.mark.parametrize("kwargs", SPLITS)
@pytest.mark.parametrize("structure", ["array", "tuple", "list"])
def test_split_dataset_as_keras(kwargs, structure):
    x = np.arange(26 * 3, dtype="float32").reshape(26, 3)
    y = np.arange(26)
    data = {"array": x, "tuple": (x, y), "list": [x, y]}[structure]
    ours = sn.utils.split_dataset(data, **kwargs)
    theirs = keras.utils.split_dataset(data, **kwargs)
    for part, kpart in zip(ours, theirs, strict=True):
        expected = _as_arrays(kpart, "array" if structure == "array" else "tuple")
        if structure == "array":
            np.testing.assert_array_equal(part, expected)
        else:
            assert isinstance(part, tuple) and len(part) == 2
            for a, b in zip(part, expected, strict=True):
                np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kwargs", [{}, {"left_size": 0}, {"left_size": 1.5}, {"left_size": 30},
                                    {"left_size": 0.6, "right_size": 0.6}, {"left_size": "a"},
                                    {"left_size": 20, "right_size": 10}])
def test_split_dataset_errors_as_keras(kwargs):
    x = np.zeros((26, 2))
    with pytest.raises((ValueError, TypeError)) as theirs:
        keras.utils.split_dataset(x, **kwargs)
    with pytest.raises(type(theirs.value)) as ours:
        sn.utils.split_dataset(x, **kwargs)
    assert str(ours.value).split(".")[0].split(":")[0].replace(" ", "") == \
        str(theirs.value).split(".")[0].split(":")[0].replace(" ", "")


@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("scale", [True, False])
def test_array_to_img_and_save_img_as_keras(tmp_path, channels, scale):
    x = RNG.uniform(-1, 300 if channels == 1 and not scale else 255, (5, 7, channels)).astype("f4")
    ours, theirs = sn.utils.array_to_img(x, scale=scale), keras.utils.array_to_img(x, scale=scale)
    assert ours.mode == theirs.mode and ours.size == theirs.size
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    if ours.mode == "I":  # 32-bit grayscale: Pillow cannot write it as PNG, for either
        with pytest.raises(OSError, match="cannot write mode I"):
            keras.utils.save_img(tmp_path / "b.png", x, scale=scale)
        with pytest.raises(OSError, match="cannot write mode I"):
            sn.utils.save_img(tmp_path / "a.png", x, scale=scale)
        return
    sn.utils.save_img(tmp_path / "a.png", x, scale=scale)
    keras.utils.save_img(tmp_path / "b.png", x, scale=scale)
    np.testing.assert_array_equal(np.asarray(sn.utils.load_img(tmp_path / "a.png")),
                                  np.asarray(keras.utils.load_img(tmp_path / "b.png")))
    with pytest.raises(ValueError, match="Expected image array to have rank 3"):
        sn.utils.array_to_img(x[0])


def test_progbar_averages_as_keras(capsys):
    updates = [(1, [("loss", 0.5), ("acc", 0.25)]), (3, [("loss", 0.25), ("acc", 0.75)]),
               (4, [("loss", 0.125), ("acc", 0.5)]), (6, [("loss", 0.0625), ("acc", 1.0)])]
    for verbose in (0, 1, 2):
        ours = sn.utils.Progbar(8, verbose=verbose, stateful_metrics=["acc"])
        theirs = keras.utils.Progbar(8, verbose=verbose, stateful_metrics=["acc"])
        for current, values in updates:
            ours.update(current, values)
            theirs.update(current, values)
            assert ours._values == theirs._values and ours._seen_so_far == theirs._seen_so_far
        ours.add(2, [("loss", 1.0)])
        theirs.add(2, [("loss", 1.0)])
        assert ours._values == theirs._values  # the final update keeps the last value, as Keras
    printed = capsys.readouterr().out
    assert "8/8" in printed and "loss: 1.0000" in printed


def test_get_source_inputs():
    a, b = sn.Input((3,), name="a"), sn.Input((3,), name="b")
    h = sn.layers.Dense(2)(a)
    out = sn.layers.Add()([h, sn.layers.Dense(2)(sn.layers.Add()([a, b]))])
    assert sn.utils.get_source_inputs(out) == [a, b]
    assert sn.utils.get_source_inputs(a) == [a]
    ka, kb = keras.Input((3,)), keras.Input((3,))
    kout = keras.layers.Add()([keras.layers.Dense(2)(ka), keras.layers.Dense(2)(keras.layers.Add()(
        [ka, kb]))])
    assert [t is s for t, s in zip(keras.utils.get_source_inputs(kout), [ka, kb], strict=True)] == \
        [True, True]


# ----------------------------------------------------------------------------- backend
DTYPES = ["bool", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64",
          "bfloat16", "float16", "float32", "float64", int, float, None]


@pytest.mark.parametrize("a", DTYPES, ids=str)
def test_result_type_as_keras(a):
    for b in DTYPES:
        try:
            expected = keras.backend.result_type(a, b)
        except ValueError:
            with pytest.raises(ValueError):
                sn.backend.result_type(a, b)
            continue
        assert sn.backend.result_type(a, b) == expected, (a, b)
    assert sn.backend.result_type(a) == keras.backend.result_type(a)
    assert sn.backend.result_type() == keras.backend.result_type()


@pytest.mark.parametrize("dtype", ["float32", np.float64, np.dtype("int8"), int, float, bool, None,
                                   "uint16", "bfloat16", "string"], ids=str)
def test_dtype_helpers_as_keras(dtype):
    assert sn.backend.standardize_dtype(dtype) == keras.backend.standardize_dtype(dtype)
    assert sn.utils.standardize_dtype(dtype) == keras.utils.standardize_dtype(dtype)
    assert sn.backend.is_float_dtype(dtype) == keras.backend.is_float_dtype(dtype)
    assert sn.backend.is_int_dtype(dtype) == keras.backend.is_int_dtype(dtype)
    with pytest.raises(ValueError, match="Invalid dtype: complex256"):
        sn.backend.standardize_dtype("complex256")


def test_backend_settings_and_keras_tensors():
    assert sn.backend.is_keras_tensor(sn.Input((3,))) and keras.backend.is_keras_tensor(keras.Input((3,)))
    assert not sn.backend.is_keras_tensor(np.zeros(3)) and not keras.backend.is_keras_tensor(np.zeros(3))
    assert sn.utils.is_keras_tensor(sn.layers.Dense(2)(sn.Input((3,))))
    sn.backend.set_image_data_format("channels_last")
    sn.backend.set_epsilon(keras.backend.epsilon())
    assert sn.backend.epsilon() == keras.backend.epsilon()
    with pytest.raises(ValueError, match="channels_first is not supported"):
        sn.backend.set_image_data_format("channels_first")
    with pytest.raises(ValueError, match="must be one of"):
        keras.backend.set_image_data_format("nhwc")
    with pytest.raises(ValueError, match="must be one of"):
        sn.backend.set_image_data_format("nhwc")
    with pytest.raises(ValueError, match="set_epsilon: scratchnet computes with Keras' default"):
        sn.backend.set_epsilon(1e-5)
