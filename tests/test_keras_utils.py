"""keras.utils / keras.saving / keras.models helpers without Keras: the registry and loading
without custom_objects (.keras, .h5, .npz), clone_model, to_json/model_from_json, split_dataset,
the sample-weight tuples, images, Progbar, get_source_inputs and the dtype rules. Against Keras:
parity_tests/test_keras_utils_keras.py."""

import json

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.utils import serialization


class Twice(sn.layers.Layer):
    """``y = 2 x``, no weights."""

    def build(self, input_shape, rng):
        return tuple(input_shape)

    def forward(self, x, training=False):
        return 2 * x

    def backward(self, dy):
        return 2 * dy


@pytest.fixture
def registered_twice():
    sn.utils.register_keras_serializable(package="Mine", name="Doubler")(Twice)
    yield
    sn.utils.get_custom_objects().pop("Mine>Doubler")
    serialization._GLOBAL_CUSTOM_NAMES.pop(Twice)


def _model():
    return sn.Sequential([sn.layers.Input((3,)), sn.layers.Dense(2), Twice()], seed=0)


@pytest.mark.parametrize("suffix", [".keras", ".h5", ".npz"])
def test_registered_layer_loads_without_custom_objects(tmp_path, registered_twice, suffix):
    model = _model()
    assert sn.saving.get_registered_name(Twice) == "Mine>Doubler"
    assert sn.saving.get_registered_object("Mine>Doubler") is Twice
    path = tmp_path / f"m{suffix}"
    model.save(path)
    loaded = sn.load_model(path)
    assert type(loaded.layers[1]) is Twice
    x = np.ones((2, 3), "f4")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    if suffix == ".keras":
        spec = sn.utils.serialize_keras_object(model.layers[1])
        assert spec["registered_name"] == "Mine>Doubler" and spec["module"] == __name__


def test_unregistered_layer_is_named_and_scopes_supply_it(tmp_path):
    model = _model()
    model.save(tmp_path / "m.keras")
    with pytest.raises(ValueError, match=r"uses layer class 'Twice'"):
        sn.load_model(tmp_path / "m.keras")
    with sn.saving.CustomObjectScope({"Twice": Twice}):
        assert type(sn.load_model(tmp_path / "m.keras").layers[1]) is Twice
        with sn.saving.custom_object_scope({}):  # an inner scope replaces the outer one
            assert sn.utils.get_registered_object("Twice") is None
    assert sn.utils.get_registered_object("Twice") is None


def test_register_refuses_a_class_without_get_config():
    class NoConfig:
        pass

    with pytest.raises(ValueError, match="Cannot register a class that does not have a get_config"):
        sn.utils.register_keras_serializable()(NoConfig)
    assert sn.utils.get_registered_name(NoConfig) == "NoConfig"


def _functional():
    a = sn.Input((4,), name="a")
    shared = sn.layers.Dense(4, name="shared")
    out = sn.layers.Dense(1, name="out")(shared(shared(a)))
    return sn.Model(a, out)


def test_clone_model_fresh_weights_same_architecture():
    model = _model()
    model.layers[0].trainable = False
    model.compile("sgd", "mse")
    clone = sn.models.clone_model(model)
    assert not clone.compiled and clone.layers[0].trainable is False
    assert [layer.get_config() for layer in clone.layers] == [layer.get_config()
                                                               for layer in model.layers]
    assert not np.array_equal(clone.get_weights()[0], model.get_weights()[0])
    f = _functional()
    fc = sn.models.clone_model(f)
    assert len(fc.get_weights()) == len(f.get_weights()) == 4  # the shared layer stays one layer
    assert fc.layers[1] is not f.layers[1]
    assert json.loads(fc.to_json())["config"]["layers"] == json.loads(f.to_json())["config"]["layers"]


def test_clone_model_errors():
    with pytest.raises(ValueError, match="expected clone_function to be a function"):
        sn.models.clone_model(_model(), clone_function=3)
    with pytest.raises(ValueError, match="does not take call_function"):
        sn.models.clone_model(_model(), call_function=print)
    with pytest.raises(ValueError, match="a Sequential model takes one input tensor"):
        sn.models.clone_model(_model(), input_tensors=[sn.Input((3,)), sn.Input((3,))])
    with pytest.raises(ValueError, match=r"expected input_tensors to be 1 tensor\(s\) made by sn.Input"):
        sn.models.clone_model(_functional(), input_tensors=np.zeros(3))


def test_to_json_round_trip_and_errors():
    model = sn.Sequential([sn.layers.Input((3,)), sn.layers.Dense(2, activation="celu")], seed=1)
    model.compile(sn.optimizers.Adam(0.5), "mse", metrics=[sn.metrics.binary_accuracy])
    back = sn.models.model_from_json(model.to_json(indent=2))
    assert back.compiled and back.metric_names == [sn.metrics.binary_accuracy]
    assert back.optimizer.get_config() == model.optimizer.get_config()
    assert back.layers[0].get_config() == model.layers[0].get_config()
    with pytest.raises(ValueError, match=r'to_json: model "sequential" is not built yet'):
        sn.Sequential([sn.layers.Dense(2)]).to_json()


def test_split_dataset_sizes_shuffle_and_errors():
    x, y = np.arange(10), np.arange(10) * 10
    left, right = sn.utils.split_dataset((x, y), left_size=0.6)
    np.testing.assert_array_equal(left[0], np.arange(6))
    np.testing.assert_array_equal(right[1], np.arange(6, 10) * 10)
    a, b = sn.utils.split_dataset(x, left_size=3, right_size=2, shuffle=True, seed=1)
    c, d = sn.utils.split_dataset(x, left_size=3, right_size=2, shuffle=True, seed=1)
    np.testing.assert_array_equal(a, c)
    assert len(a) == 3 and len(b) == 2 and not set(a) & set(b)
    with pytest.raises(ValueError, match="At least one of the `left_size` or `right_size`"):
        sn.utils.split_dataset(x)
    with pytest.raises(ValueError, match="different lengths"):
        sn.utils.split_dataset((x, y[:5]), left_size=0.5)
    with pytest.raises(TypeError, match="scratchnet has no tf.data"):
        sn.utils.split_dataset("abc", left_size=0.5)


def test_pack_unpack_and_images(tmp_path):
    assert sn.utils.unpack_x_y_sample_weight((1, 2)) == (1, 2, None)
    with pytest.raises(ValueError, match=r"Data is expected to be in format `x`, `\(x,\)`"):
        sn.utils.unpack_x_y_sample_weight((1, 2, 3, 4))
    img = sn.utils.array_to_img(np.array([[[0.0], [1.0]]]))
    assert img.mode == "L" and np.asarray(img).tolist() == [[0, 255]]
    with pytest.raises(ValueError, match="Unsupported channel number: 2"):
        sn.utils.array_to_img(np.zeros((2, 2, 2)))
    with pytest.warns(UserWarning, match="JPEG format does not support RGBA"):
        sn.utils.save_img(tmp_path / "x.jpg", np.ones((4, 4, 4)))
    assert (tmp_path / "x.jpg").stat().st_size > 0


def test_progbar_prints_keras_style_line(capsys):
    bar = sn.utils.Progbar(4, verbose=2)
    bar.update(2, [("loss", 0.5)])
    bar.update(4, [("loss", 0.25)])
    out = capsys.readouterr().out
    assert out.startswith("4/4 - ") and out.rstrip().endswith("loss: 0.2500")
    bar = sn.utils.Progbar(None, verbose=1)
    bar.add(3, [("acc", 0.25)])
    assert "3/Unknown" in capsys.readouterr().out and bar._values["acc"] == [0.75, 3]


def test_get_source_inputs_and_dtype_rules():
    a = sn.Input((2,))
    assert sn.utils.get_source_inputs(sn.layers.Dense(1)(sn.layers.Dense(2)(a))) == [a]
    assert sn.utils.get_source_inputs(5) == 5
    assert sn.backend.result_type("int8", "uint8") == "int16"
    assert sn.backend.result_type("int32", float) == "float32"
    assert sn.backend.result_type("int32", "float16") == "float16"
    assert sn.backend.result_type(int, int) == "int32"
    with pytest.raises(ValueError, match="'string' is not a valid dtype for Keras type promotion"):
        sn.backend.result_type("string", "float32")
    with pytest.raises(ValueError, match="no implicit conversions from float8"):
        sn.backend.result_type("float8_e4m3fn", "float32")


def test_get_file_zip_and_unsafe_member(tmp_path, monkeypatch):
    import zipfile

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "datasets").mkdir()
    with zipfile.ZipFile(tmp_path / "datasets" / "cats_archive", "w") as zf:
        zf.writestr("cats/1.txt", "meow")
    folder = sn.utils.get_file("cats", origin="https://x.invalid/cats.zip", extract=True)
    assert folder == str(tmp_path / "datasets" / "cats")
    assert (tmp_path / "datasets" / "cats" / "cats" / "1.txt").read_text() == "meow"
    with zipfile.ZipFile(tmp_path / "datasets" / "bad_archive", "w") as zf:
        zf.writestr("../escape.txt", "x")
    with pytest.raises(ValueError, match=r"archive member '../escape.txt' would be written outside"):
        sn.utils.get_file("bad", origin="https://x.invalid/bad.zip", extract=True)
    assert not (tmp_path / "datasets" / "escape.txt").exists()
    with pytest.raises(ValueError, match='Please specify the "origin" argument'):
        sn.utils.get_file("x")
