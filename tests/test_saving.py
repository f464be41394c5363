"""Saving loses nothing, and every broken file gets an error that names it."""

import json
import os
import re
import zipfile

import numpy as np
import pytest

import scratchnet as sn
from scratchnet import saving

L = sn.layers


def _trained(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.random((20, 5, 5, 2)).astype(np.float32), rng.integers(0, 3, 20)
    model = sn.Sequential([L.Input((5, 5, 2)), L.Conv2D(3, 2, padding="same", activation="relu"),
                           L.MaxPooling2D(2), L.Flatten(), L.Dropout(0.2),
                           L.Dense(3, activation="softmax")], seed=1)
    model.compile(optimizer=sn.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    return model, x, y


def test_round_trip_restores_everything(tmp_path):
    model, x, y = _trained(tmp_path)
    model.save(tmp_path / "m.npz")
    loaded = sn.load_model(tmp_path / "m.npz")
    assert loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert isinstance(loaded.optimizer, sn.optimizers.SGD) and loaded.optimizer.nesterov
    assert loaded.optimizer.iterations == model.optimizer.iterations == 6
    assert loaded.optimizer.state.keys() == model.optimizer.state.keys()
    assert loaded.loss.name == model.loss.name


def test_keras_safe_mode_argument_is_taken(tmp_path):
    model, x, _ = _trained(tmp_path)
    model.save(tmp_path / "m.npz")
    for safe_mode in (True, False):  # scratchnet never runs code from a file: both read it safely
        loaded = sn.load_model(tmp_path / "m.npz", safe_mode=safe_mode)
        np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    with pytest.raises(TypeError, match="safe_mode to be True or False"):
        sn.load_model(tmp_path / "m.npz", safe_mode="yes")


def test_file_holds_no_pickled_objects(tmp_path):
    model, _, _ = _trained(tmp_path)
    model.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as f:
        assert all(f[k].dtype != object for k in f.files)
        assert int(f["format_version"]) == saving.FORMAT_VERSION


def test_save_is_atomic_when_interrupted(tmp_path, monkeypatch):
    model, x, _ = _trained(tmp_path)
    path = tmp_path / "m.npz"
    model.save(path)
    before = path.read_bytes()

    def crash(fd):
        raise KeyboardInterrupt("power cut mid-save")

    monkeypatch.setattr(os, "fsync", crash)
    model.layers[0].kernel.value += 1  # the model changed; the new save dies half-way
    with pytest.raises(KeyboardInterrupt):
        model.save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]  # no temporary left behind
    sn.load_model(path)


def _write_variant(tmp_path, **changes):
    model, _, _ = _trained(tmp_path)
    model.save(tmp_path / "good.npz")
    with np.load(tmp_path / "good.npz") as f:
        arrays = {k: f[k] for k in f.files}
    for key, value in changes.items():
        if value is None:
            arrays.pop(key)
        else:
            arrays[key] = value
    path = tmp_path / "variant.npz"
    np.savez(path, **arrays)
    return path


def test_truncated_file(tmp_path):
    model, _, _ = _trained(tmp_path)
    model.save(tmp_path / "m.npz")
    data = (tmp_path / "m.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut\.npz.*(truncated or corrupt)"):
        sn.load_model(tmp_path / "cut.npz")


def test_garbage_file(tmp_path):
    (tmp_path / "junk.npz").write_bytes(os.urandom(300))
    with pytest.raises(ValueError, match=r"junk\.npz"):
        sn.load_model(tmp_path / "junk.npz")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothere\.npz"):
        sn.load_model(tmp_path / "nothere.npz")


def test_newer_format_version(tmp_path):
    path = _write_variant(tmp_path, format_version=np.array(saving.FORMAT_VERSION + 1))
    with pytest.raises(ValueError, match=r"variant\.npz.*format version 2.*upgrade"):
        sn.load_model(path)


def test_zip_that_is_not_a_model(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, a=np.zeros(3))
    with pytest.raises(ValueError, match=r"other\.npz.*not a scratchnet model file"):
        sn.load_model(path)


def test_missing_weight(tmp_path):
    with pytest.raises(ValueError, match=r"variant\.npz.*missing weight"):
        sn.load_model(_write_variant(tmp_path, weight_2=None))


def test_weight_of_wrong_shape(tmp_path):
    with pytest.raises(ValueError, match=r"variant\.npz.*conv2d/kernel"):
        sn.load_model(_write_variant(tmp_path, weight_0=np.zeros((1, 1))))


def test_corrupt_config(tmp_path):
    with pytest.raises(ValueError, match=r"variant\.npz.*corrupt config"):
        sn.load_model(_write_variant(tmp_path, config=np.array("{not json")))


def _config_variant(tmp_path, edit):
    """The good file with its JSON config changed by ``edit(cfg)`` (still valid JSON)."""
    model, _, _ = _trained(tmp_path)
    model.save(tmp_path / "good.npz")
    with np.load(tmp_path / "good.npz") as f:
        cfg = json.loads(str(f["config"]))
    edit(cfg)
    return _write_variant(tmp_path, config=np.array(json.dumps(cfg)))


@pytest.mark.parametrize("edit, fragment", [
    (lambda cfg: cfg["layers"][1].pop("class_name"), "KeyError: 'class_name'"),
    (lambda cfg: cfg["layers"][1].pop("config"), "KeyError: 'config'"),
    (lambda cfg: cfg["layers"].__setitem__(1, "Dense"), "TypeError: string indices"),
    (lambda cfg: cfg["compile"].pop("loss"), "KeyError: 'loss'"),
    (lambda cfg: cfg["compile"]["loss"].pop("class_name"), "losses.deserialize: loss {"),
])
def test_damaged_config_names_the_file(tmp_path, edit, fragment):
    # valid JSON of the wrong shape: a ValueError naming the file, never a bare KeyError/TypeError
    with pytest.raises(ValueError, match=r"load_model: '.*variant\.npz' has a damaged config") as info:
        sn.load_model(_config_variant(tmp_path, edit))
    assert fragment in str(info.value)


@pytest.mark.parametrize("key, value, fragment", [
    ("input_shape", "abc", "build: expected input_shape to be a non-empty tuple of positive integers or "
                           "None"),
    ("seed", "abc", "expected seed to be None or an integer >= 0, received 'abc'"),
])
def test_config_values_of_the_wrong_type(tmp_path, key, value, fragment):
    with pytest.raises(ValueError, match=re.escape(fragment)):
        sn.load_model(_config_variant(tmp_path, lambda cfg: cfg.__setitem__(key, value)))


@pytest.mark.parametrize("name", ["m.npz", "m.keras", "m.weights.h5"])
def test_saved_files_get_the_usual_permissions(tmp_path, name):
    # 0o666 less the umask, as open() gives; the temporary file of the atomic write is 0o600
    model, _, _ = _trained(tmp_path)
    old = os.umask(0o022)
    try:
        (model.save_weights if name.endswith(".weights.h5") else model.save)(tmp_path / name)
    finally:
        os.umask(old)
    assert oct(os.stat(tmp_path / name).st_mode & 0o777) == oct(0o644)


def test_nan_weights_are_named_as_nan_not_as_a_misfit(tmp_path):
    model, _, _ = _trained(tmp_path)
    model.save(tmp_path / "good.npz")
    with np.load(tmp_path / "good.npz") as f:
        kernel = f["weight_0"].copy()
    kernel.flat[0] = np.nan
    with pytest.raises(ValueError, match=r"holds a weight with NaN or infinity .*diverged.*"
                                         r'conv2d/kernel" contains NaN'):
        sn.load_model(_write_variant(tmp_path, weight_0=kernel))


def test_unknown_layer_class_is_never_resolved_by_name(tmp_path):
    model, _, _ = _trained(tmp_path)
    cfg = model._npz_config()  # (the .npz form: scratchnet's own)
    cfg["layers"][0]["class_name"] = "os.system"
    path = _write_variant(tmp_path, config=np.array(json.dumps(cfg)))
    with pytest.raises(ValueError, match=r"'os\.system'.*custom_objects"):
        sn.load_model(path)


def test_pickled_payload_is_refused(tmp_path):
    path = tmp_path / "pickle.npz"
    with zipfile.ZipFile(path, "w") as z:
        with z.open("config.npy", "w") as f:
            np.lib.format.write_array(f, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"pickle\.npz"):
        sn.load_model(path)


def test_npz_keeps_metric_arguments_and_weighted_metrics(tmp_path):
    """A metric object's arguments (threshold) and weighted_metrics survive the .npz round trip:
    the reloaded model evaluates to the same numbers with sample weights."""
    model = sn.Sequential([sn.layers.Input((3,)), sn.layers.Dense(1, activation="sigmoid")], seed=0)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"],
                  weighted_metrics=["accuracy", sn.metrics.BinaryAccuracy(threshold=0.3)])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 3)).astype("float32")
    y = (np.arange(8) % 2).astype("float32")[:, None]
    w = np.linspace(0.1, 2.0, 8)
    before = model.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)
    assert before["weighted_accuracy"] != before["accuracy"]  # the weights matter here
    model.save(tmp_path / "m.npz")
    loaded = sn.load_model(tmp_path / "m.npz")
    assert loaded.weighted_metrics[1].threshold == 0.3
    assert loaded.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True) == before


@pytest.mark.parametrize("metrics", [[], ["mae"]])
def test_a_compiled_one_output_functional_model_loads_from_npz(tmp_path, metrics):
    """Its metrics are saved per output ([[...]]); loading once passed that whole list to compile
    as the single output's metrics and failed with "unknown metric []"."""
    inputs = sn.Input((3,))
    model = sn.Model(inputs, sn.layers.Dense(2)(inputs))
    model.compile(optimizer="adam", loss="mse", metrics=metrics)
    x, y = np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32)
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "m.npz")
    loaded = sn.load_model(tmp_path / "m.npz")
    assert loaded.optimizer.iterations == 1
    assert loaded.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)
