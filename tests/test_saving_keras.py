"""The ``.keras`` writer and reader on their own (no Keras): round trips, Keras' layout, atomic
saves, and a clear refusal, naming the file, for every broken or foreign file."""

import io
import json
import os
import zipfile

import h5py
import numpy as np
import pytest

import scratchnet as sn
from scratchnet import saving_keras

L = sn.layers


def _trained(seed=1):
    rng = np.random.default_rng(0)
    x, y = rng.random((12, 6, 6, 2)).astype(np.float32), rng.integers(0, 3, 12)
    model = sn.Sequential([L.Input((6, 6, 2)), L.Conv2D(3, 2, padding="same", activation="relu"),
                           L.MaxPooling2D(2), L.Flatten(), L.Dense(4, activation="tanh"),
                           L.Dense(3, activation="softmax")], seed=seed, name="net")
    model.compile(optimizer=sn.optimizers.Adam(amsgrad=True),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    return model, x, y


@pytest.fixture
def saved(tmp_path):
    model, x, y = _trained()
    path = tmp_path / "m.keras"
    model.save(path)
    return model, x, y, path


def _members(path):
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def _rewrite(path, out, **changes):
    """A copy of the archive at ``path`` with members replaced (bytes) or removed (None)."""
    members = _members(path)
    for name, data in changes.items():
        name = name.replace("__", ".")
        if data is None:
            members.pop(name)
        else:
            members[name] = data
    with zipfile.ZipFile(out, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out


def _edit_weights(path, out, edit):
    """A copy whose model.weights.h5 went through ``edit(h5py.File)``."""
    buffer = io.BytesIO(_members(path)["model.weights.h5"])
    with h5py.File(buffer, "a") as f:
        edit(f)
    return _rewrite(path, out, model__weights__h5=buffer.getvalue())


def _edit_config(path, out, edit):
    config = json.loads(_members(path)["config.json"])
    edit(config)
    return _rewrite(path, out, config__json=json.dumps(config).encode())


# ----------------------------------------------------------------------------- round trips
def test_round_trip_restores_everything(saved):
    model, x, y, path = saved
    loaded = sn.load_model(path)
    assert loaded.get_config() == model.get_config()  # names, seed, input shape, layer configs
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.optimizer.get_config() == {**model.optimizer.get_config(),
                                             "learning_rate": float(np.float32(0.001))}
    assert loaded.optimizer.iterations == model.optimizer.iterations == 6
    assert loaded.optimizer.state.keys() == model.optimizer.state.keys()
    for key, value in model.optimizer.state.items():
        np.testing.assert_array_equal(loaded.optimizer.state[key], value)
    assert loaded.loss.name == model.loss.name and loaded.metric_names == ["accuracy"]
    # and training goes on exactly as it would have
    model.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    loaded.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_round_trip_of_lookup_embedding_and_encoding_layers(tmp_path):
    words = L.StringLookup()
    words.adapt(np.array(["a", "b", "b", "c"]))
    text = sn.Sequential([L.Input((2,), dtype="string"), words, L.Embedding(5, 3), L.Flatten(),
                          L.Dense(2)], seed=0)
    ids = sn.Sequential([L.Input((3,), dtype="int64"), L.IntegerLookup(vocabulary=[5, 7]),
                         L.CategoryEncoding(3, output_mode="count"), L.Dense(2),
                         L.Dropout(0.5, seed=4), L.Softmax()], seed=0)
    for model, x in ((text, np.array([["a", "z"], ["c", "b"]])), (ids, np.array([[5, 7, 1]]))):
        model.save(tmp_path / "m.keras")
        loaded = sn.load_model(tmp_path / "m.keras")
        assert not loaded.compiled
        np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
        assert loaded.layers[0].get_vocabulary() == model.layers[0].get_vocabulary()


def test_compile_false_skips_the_compile_config(saved):
    _, _, _, path = saved
    assert not sn.load_model(path, compile=False).compiled


def test_weights_h5_round_trip_and_optimizer_state(tmp_path):
    model, x, _ = _trained(seed=1)
    other, _, _ = _trained(seed=2)
    model.save_weights(tmp_path / "w.weights.h5")
    other.load_weights(tmp_path / "w.weights.h5")
    for a, b in zip(other.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert other.optimizer.iterations == model.optimizer.iterations
    model.save(tmp_path / "m.keras")
    fresh = sn.Sequential([L.Conv2D(3, 2, padding="same", activation="relu"), L.MaxPooling2D(2),
                           L.Flatten(), L.Dense(4, activation="tanh"),
                           L.Dense(3, activation="softmax")])
    fresh.build((6, 6, 2))
    fresh.load_weights(tmp_path / "m.keras")  # Keras also reads weights from a .keras file
    np.testing.assert_array_equal(fresh.predict(x), model.predict(x))


# ----------------------------------------------------------------------------- Keras' layout
def test_archive_layout_is_keras(saved):
    model, _, _, path = saved
    members = _members(path)
    assert set(members) == {"metadata.json", "config.json", "model.weights.h5"}
    assert json.loads(members["metadata.json"])["keras_version"] == saving_keras.KERAS_VERSION
    config = json.loads(members["config.json"])
    assert config["class_name"] == "Sequential" and config["module"] == "keras"
    layers = config["config"]["layers"]
    assert layers[0]["class_name"] == "InputLayer"
    assert layers[0]["config"]["batch_shape"] == [None, 6, 6, 2]
    assert [spec["class_name"] for spec in layers[1:]] == [
        "Conv2D", "MaxPooling2D", "Flatten", "Dense", "Dense"]
    dense = layers[4]["config"]
    assert dense["kernel_initializer"]["class_name"] == "GlorotUniform"
    assert dense["activation"] == "tanh" and dense["units"] == 4
    compile_config = config["compile_config"]
    assert compile_config["optimizer"]["class_name"] == "Adam"
    assert compile_config["optimizer"]["config"]["amsgrad"] is True
    assert compile_config["loss"]["class_name"] == "SparseCategoricalCrossentropy"
    assert compile_config["metrics"] == ["accuracy"]

    with h5py.File(io.BytesIO(members["model.weights.h5"]), "r") as f:
        assert f["vars"].attrs["name"] == "net"
        assert sorted(f["layers"]) == ["conv2d", "dense", "dense_1", "flatten", "max_pooling2d"]
        assert f["layers/dense_1/vars"].attrs["name"] == "dense_1"
        np.testing.assert_array_equal(f["layers/dense_1/vars/0"][()], model.layers[4].kernel.value)
        assert len(f["layers/max_pooling2d/vars"]) == 0
        opt = f["optimizer/vars"]
        assert opt["0"].dtype == np.int64 and int(opt["0"][()]) == 6
        assert np.float32(opt["1"][()]) == np.float32(0.001)
        n = len(model.params)  # m and v interleaved per variable, then all v_hat
        assert len(opt) == 2 + 3 * n
        np.testing.assert_array_equal(opt["2"][()], model.optimizer.state["conv2d/kernel/m"])
        np.testing.assert_array_equal(opt["3"][()], model.optimizer.state["conv2d/kernel/v"])
        np.testing.assert_array_equal(opt["4"][()], model.optimizer.state["conv2d/bias/m"])
        np.testing.assert_array_equal(opt[str(2 + 2 * n)][()],
                                      model.optimizer.state["conv2d/kernel/v_hat"])


def test_layer_paths_follow_keras_class_names():
    assert saving_keras.layer_paths(["Dense", "MaxPooling2D", "Dense", "Dense", "Conv2D"]) == [
        "layers/dense", "layers/max_pooling2d", "layers/dense_1", "layers/dense_2", "layers/conv2d"]
    assert saving_keras._snake_case("RMSprop") == "rm_sprop"
    assert saving_keras._snake_case("GlobalAveragePooling1D") == "global_average_pooling1d"
    assert saving_keras._snake_case("StringLookup") == "string_lookup"


def test_import_pulls_in_no_tensorflow():
    import subprocess
    import sys

    code = ("import sys, scratchnet, scratchnet.saving_keras; "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


# ----------------------------------------------------------------------------- atomic, dispatch
@pytest.mark.parametrize("name", ["m.keras", "m.weights.h5"])
def test_save_is_atomic_when_interrupted(tmp_path, monkeypatch, name):
    model, _, _ = _trained()
    path = tmp_path / name
    save = model.save if name.endswith(".keras") else model.save_weights
    save(path)
    before = path.read_bytes()

    def crash(fd):
        raise KeyboardInterrupt("power cut mid-save")

    monkeypatch.setattr(os, "fsync", crash)
    model.layers[0].kernel.value += 1
    with pytest.raises(KeyboardInterrupt):
        save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_save_dispatches_on_the_extension(tmp_path):
    model, _, _ = _trained()
    model.save(tmp_path / "m.npz")
    assert sn.load_model(tmp_path / "m.npz").get_config() == model.get_config()
    with pytest.warns(UserWarning, match="legacy HDF5"):
        model.save(tmp_path / "m.h5")  # Keras' legacy format (tests/test_saving_h5.py)
    assert sn.load_model(tmp_path / "m.h5").get_config() == model.get_config()
    for bad in ("m", "m.keras.tmp"):
        with pytest.raises(ValueError, match=r"\.keras.*\.npz.*\.h5.*" + bad.replace(".", r"\.")):
            model.save(tmp_path / bad)
    with pytest.raises(ValueError, match=r"\.keras.*\.npz.*\.h5.*m\.txt"):
        sn.load_model(tmp_path / "m.txt")


def test_save_weights_follows_keras_extension_rule(tmp_path):
    model, _, _ = _trained()
    with pytest.raises(ValueError, match=r"must end in `\.weights\.h5`.*w\.h5"):
        model.save_weights(tmp_path / "w.h5")
    with pytest.raises(ValueError, match=r"File format not supported.*w\.npz"):
        model.load_weights(tmp_path / "w.npz")
    with pytest.raises(FileNotFoundError, match=r"no file at.*w\.h5"):  # a legacy weights file
        model.load_weights(tmp_path / "w.h5")
    with pytest.raises(FileNotFoundError, match=r"nothere\.weights\.h5"):
        model.load_weights(tmp_path / "nothere.weights.h5")
    model.save_weights(tmp_path / "w.weights.h5")
    with pytest.raises(FileExistsError, match=r"w\.weights\.h5.*overwrite=False"):
        model.save_weights(tmp_path / "w.weights.h5", overwrite=False)


def test_unbuilt_models_are_refused(tmp_path):
    model = sn.Sequential([L.Dense(2)])
    with pytest.raises(ValueError, match="not yet been built"):
        model.save_weights(tmp_path / "w.weights.h5")
    with pytest.raises(ValueError, match="not yet been built"):
        model.load_weights(tmp_path / "w.weights.h5")
    with pytest.raises(ValueError, match="not built yet"):
        model.save(tmp_path / "m.keras")


# ----------------------------------------------------------------------------- broken and foreign
def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothere\.keras"):
        sn.load_model(tmp_path / "nothere.keras")


def test_truncated_archive(saved, tmp_path):
    data = saved[3].read_bytes()
    (tmp_path / "cut.keras").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut\.keras.*truncated or corrupt zip"):
        sn.load_model(tmp_path / "cut.keras")


def test_garbage_file(tmp_path):
    (tmp_path / "junk.keras").write_bytes(os.urandom(300))
    with pytest.raises(ValueError, match=r"junk\.keras.*truncated or corrupt"):
        sn.load_model(tmp_path / "junk.keras")


def test_missing_config(saved, tmp_path):
    path = _rewrite(saved[3], tmp_path / "noconfig.keras", config__json=None)
    with pytest.raises(ValueError, match=r"noconfig\.keras.*no config\.json"):
        sn.load_model(path)


def test_npz_file_named_keras(saved, tmp_path):
    saved[0].save(tmp_path / "m.npz")
    os.replace(tmp_path / "m.npz", tmp_path / "renamed.keras")
    with pytest.raises(ValueError, match=r"renamed\.keras.*rename it to \.npz"):
        sn.load_model(tmp_path / "renamed.keras")


def test_bad_json(saved, tmp_path):
    path = _rewrite(saved[3], tmp_path / "badjson.keras", config__json=b"{not json")
    with pytest.raises(ValueError, match=r"badjson\.keras.*corrupt config\.json \(not valid JSON\)"):
        sn.load_model(path)


def test_missing_weights_file(saved, tmp_path):
    path = _rewrite(saved[3], tmp_path / "noweights.keras", model__weights__h5=None)
    with pytest.raises(ValueError, match=r"noweights\.keras.*no model\.weights\.h5"):
        sn.load_model(path)


def test_corrupt_weights_file(saved, tmp_path):
    data = _members(saved[3])["model.weights.h5"]
    path = _rewrite(saved[3], tmp_path / "badh5.keras", model__weights__h5=data[:200])
    with pytest.raises(ValueError, match=r"badh5\.keras.*not a readable HDF5 file"):
        sn.load_model(path)


def test_missing_layer_weights(saved, tmp_path):
    path = _edit_weights(saved[3], tmp_path / "nodense.keras",
                         lambda f: f.__delitem__("layers/dense_1/vars/1"))
    with pytest.raises(ValueError, match=r'nodense\.keras.*layer "dense_1" expected 2 variables, '
                                         r"but received 1.*layers/dense_1/vars"):
        sn.load_model(path)
    path = _edit_weights(saved[3], tmp_path / "nolayer.keras",
                         lambda f: f.__delitem__("layers/conv2d"))
    with pytest.raises(ValueError, match=r"nolayer\.keras' has no weights for layer \"conv2d\""):
        sn.load_model(path)


def test_mismatched_weight_shape(saved, tmp_path):
    def edit(f):
        del f["layers/dense/vars/0"]
        f["layers/dense/vars/0"] = np.zeros((5, 4), np.float32)

    path = _edit_weights(saved[3], tmp_path / "shape.keras", edit)
    with pytest.raises(ValueError, match=r"shape\.keras.*layers/dense/vars/0 \(dense/kernel\) has "
                                         r"shape \(5, 4\), the model expects \(27, 4\)"):
        sn.load_model(path)


def test_mismatched_optimizer_variables(saved, tmp_path):
    path = _edit_weights(saved[3], tmp_path / "opt.keras",
                         lambda f: f.__delitem__(f"optimizer/vars/{len(f['optimizer/vars']) - 1}"))
    with pytest.raises(ValueError, match=r"opt\.keras.*optimizer Adam has 19 saved variables; the "
                                         r"model needs 20"):
        sn.load_model(path)
    assert sn.load_model(path, compile=False).predict(saved[1]).shape == (12, 3)


def test_legacy_h5_full_model_file(tmp_path):
    with h5py.File(tmp_path / "old.h5", "w") as f:
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential"})
        f.create_group("model_weights")
    with pytest.raises(ValueError, match=r"old\.h5': its model_config has no list of layers"):
        sn.load_model(tmp_path / "old.h5")
    os.replace(tmp_path / "old.h5", tmp_path / "old.keras")
    with pytest.raises(ValueError, match=r"old\.keras' is an HDF5 file.*legacy Keras HDF5 "
                                         r"full-model file.*give it the \.h5 extension"):
        sn.load_model(tmp_path / "old.keras")
    with pytest.raises(ValueError, match=r"weights\.h5.*model\.load_weights"):
        sn.load_model(tmp_path / "w.weights.h5")


def test_functional_config_without_a_graph_is_refused(saved, tmp_path):
    """Functional models load (tests/test_functional.py); one whose config names no outputs and
    no layer calls is refused, naming the file."""
    def edit(config):
        config["class_name"] = "Functional"
        input_name = config["config"]["layers"][0]["config"]["name"]  # (the Input's own name)
        config["config"]["input_layers"] = [[input_name, 0, 0]]

    path = _edit_config(saved[3], tmp_path / "func.keras", edit)
    with pytest.raises(ValueError, match=r"func\.keras'.*names no input_layers or output_layers"):
        sn.load_model(path)


def test_unknown_layer_class_is_refused_by_name(saved, tmp_path):
    def edit(config):
        config["config"]["layers"][2]["class_name"] = "TorchModuleWrapper"

    path = _edit_config(saved[3], tmp_path / "lstm.keras", edit)
    with pytest.raises(ValueError, match=r"lstm\.keras' uses layer class 'TorchModuleWrapper' \(layer "
                                         r"\"max_pooling2d\"\).*supported: \[.*'Conv2D'.*'Dense'"):
        sn.load_model(path)


def test_unsupported_keras_option_is_refused(saved, tmp_path):
    def edit(config):
        config["config"]["layers"][4]["config"]["lora_rank"] = 4

    path = _edit_config(saved[3], tmp_path / "reg.keras", edit)
    with pytest.raises(ValueError, match=r"reg\.keras': layer \"dense\" \(Dense\) sets "
                                         r"lora_rank=4.*supports only lora_rank=None"):
        sn.load_model(path)


def test_a_keras_constraint_is_read(saved, tmp_path):
    def edit(config):
        config["config"]["layers"][4]["config"]["kernel_constraint"] = {
            "module": "keras.constraints", "class_name": "MaxNorm",
            "config": {"max_value": 1.5, "axis": 0}, "registered_name": None}

    model = sn.load_model(_edit_config(saved[3], tmp_path / "maxnorm.keras", edit))
    constraint = model.get_layer("dense").kernel_constraint
    assert isinstance(constraint, sn.constraints.MaxNorm) and constraint.max_value == 1.5


def test_a_regularizer_scratchnet_lacks_is_refused_by_name(saved, tmp_path):
    def edit(config):
        config["config"]["layers"][4]["config"]["kernel_regularizer"] = {
            "module": "keras.regularizers", "class_name": "SpectralRegularizer",
            "config": {"factor": 0.01}, "registered_name": None}

    path = _edit_config(saved[3], tmp_path / "ortho.keras", edit)
    with pytest.raises(ValueError, match=r"ortho\.keras': layer \"dense\" \(Dense\) has a config "
                                         r"scratchnet cannot build: .*kernel_regularizer: unknown "
                                         r"regularizer .*SpectralRegularizer"):
        sn.load_model(path)


def test_a_bad_input_dimension_is_refused(saved, tmp_path):
    # None (null) is an axis of varying length and loads (tests/test_variable_length.py); 0 is not a size
    def edit(config):
        config["config"]["layers"][0]["config"]["batch_shape"] = [None, 0, 6, 2]

    path = _edit_config(saved[3], tmp_path / "zero.keras", edit)
    with pytest.raises(ValueError, match=r"zero\.keras.*not a list of positive integers and nulls"):
        sn.load_model(path)


def test_unknown_optimizer_is_refused(saved, tmp_path):
    def edit(config):
        config["compile_config"]["optimizer"]["class_name"] = "RAdam"  # scratchnet has none

    path = _edit_config(saved[3], tmp_path / "radam.keras", edit)
    with pytest.raises(ValueError, match=r"radam\.keras' \(compile_config\).*optimizer 'RAdam'.*"
                                         r"supported: \[.*'Adam'"):
        sn.load_model(path)


def test_failed_load_weights_changes_nothing(saved, tmp_path):
    model, _, _, path = saved
    model.save_weights(tmp_path / "w.weights.h5")
    with h5py.File(tmp_path / "w.weights.h5", "a") as f:
        del f["layers/dense_1/vars/1"]
    other, _, _ = _trained(seed=5)
    before = other.get_weights()
    with pytest.raises(ValueError, match=r'w\.weights\.h5.*layer "dense_1" expected 2 variables'):
        other.load_weights(tmp_path / "w.weights.h5")
    for a, b in zip(other.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)


def test_metric_objects_and_weighted_metrics_round_trip(tmp_path):
    model = sn.Sequential([L.Input((3,)), L.Dense(1, activation="sigmoid")], seed=0)
    model.compile(optimizer="adam", loss="binary_crossentropy",
                  metrics=[sn.metrics.Precision(thresholds=0.3), "accuracy"],
                  weighted_metrics=[sn.metrics.BinaryAccuracy(threshold=0.7)])
    model.save(tmp_path / "m.keras")
    loaded = sn.load_model(tmp_path / "m.keras")
    precision, accuracy = loaded.metric_names
    assert isinstance(precision, sn.metrics.Precision) and precision.get_config()["thresholds"] == 0.3
    assert accuracy == "accuracy"
    (weighted,) = loaded.weighted_metric_names
    assert isinstance(weighted, sn.metrics.BinaryAccuracy) and weighted.threshold == 0.7
    config = json.loads(_members(tmp_path / "m.keras")["config.json"])["compile_config"]
    assert config["metrics"][0]["class_name"] == "Precision"
    assert config["weighted_metrics"][0]["config"]["threshold"] == 0.7


def test_per_output_losses_are_refused(saved, tmp_path):
    def edit(config):
        config["compile_config"]["loss"] = {"out_a": "mse", "out_b": "mse"}

    path = _edit_config(saved[3], tmp_path / "multi.keras", edit)
    with pytest.raises(ValueError, match=r"multi\.keras' \(compile_config\).*one output and one loss"):
        sn.load_model(path)


class Scale(L.Layer):
    """A user's layer: ``y = x * factor``."""

    def __init__(self, factor=2.0, name=None):
        super().__init__(name=name)
        self.factor = factor

    def forward(self, x, training=False):
        return x * self.factor

    def backward(self, dy):
        return dy * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def test_custom_layers_need_custom_objects(tmp_path):
    model = sn.Sequential([L.Input((3,)), Scale(3.0), L.Dense(2)], seed=0)
    model.save(tmp_path / "m.keras")
    with pytest.raises(ValueError, match=r"m\.keras' uses layer class 'Scale'.*custom_objects"):
        sn.load_model(tmp_path / "m.keras")
    loaded = sn.load_model(tmp_path / "m.keras", custom_objects={"Scale": Scale})
    x = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.layers[0].factor == 3.0


def test_float64_models_keep_their_precision(tmp_path):
    sn.config.set_floatx("float64")  # the repository's conftest puts float32 back
    model = sn.Sequential([L.Input((3,)), L.Dense(2, activation="tanh")], seed=0)
    model.save(tmp_path / "m.keras")
    config = json.loads(_members(tmp_path / "m.keras")["config.json"])
    assert config["config"]["layers"][1]["config"]["dtype"]["config"]["name"] == "float64"
    loaded = sn.load_model(tmp_path / "m.keras")
    assert loaded.get_weights()[0].dtype == np.float64
    x = np.random.default_rng(0).random((4, 3))
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_mixed_precision_policy_is_refused(saved, tmp_path):
    def edit(config):
        config["config"]["layers"][1]["config"]["dtype"]["config"]["name"] = "mixed_float16"

    path = _edit_config(saved[3], tmp_path / "mixed.keras", edit)
    with pytest.raises(ValueError, match=r"mixed\.keras': layer \"conv2d\" \(Conv2D\) uses dtype "
                                         r"policy 'mixed_float16'"):
        sn.load_model(path)


def test_weights_without_an_input_shape_are_refused(saved, tmp_path):
    def edit(config):
        del config["config"]["layers"][0]  # the InputLayer
        del config["config"]["build_input_shape"]
        del config["build_config"]

    path = _edit_config(saved[3], tmp_path / "noshape.keras", edit)
    with pytest.raises(ValueError, match=r"noshape\.keras' holds layer weights but no input shape"):
        sn.load_model(path)


def test_initializer_arguments_round_trip(tmp_path):
    model = sn.Sequential([L.Input((3,)), L.Dense(2, kernel_initializer={
        "name": "uniform", "config": {"minval": -0.5, "maxval": 0.5}}, bias_initializer="ones")])
    model.save(tmp_path / "m.keras")
    config = json.loads(_members(tmp_path / "m.keras")["config.json"])["config"]["layers"][1]
    assert config["config"]["kernel_initializer"]["class_name"] == "RandomUniform"
    assert config["config"]["bias_initializer"]["class_name"] == "Ones"
    assert sn.load_model(tmp_path / "m.keras").get_config() == model.get_config()
