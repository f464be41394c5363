"""Keras' legacy HDF5 full-model format (``model.save("m.h5")``, :mod:`scratchnet.saving_h5`)
without TensorFlow: a round trip keeps every weight, the compile settings and the optimizer's
state bit for bit (the next step is the same step), the file has Keras' layout, and bad files
and unsupported models get errors that say what to do. parity_tests/test_keras_format.py opens
these files in Keras and Keras' own files here."""

import json

import h5py
import numpy as np
import pytest

import scratchnet as sn

L = sn.layers


def _trained(optimizer="adam"):
    model = sn.Sequential([
        L.Input((8, 8, 3)), L.Conv2D(4, 3, activation="relu"), L.BatchNormalization(),
        L.MaxPooling2D(), L.Flatten(), L.Dropout(0.25, seed=1), L.Dense(3, activation="softmax"),
    ], seed=0, name="h5_model")
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x, y = rng.random((8, 8, 8, 3)).astype(np.float32), np.arange(8) % 3
    model.fit(x, y, epochs=2, batch_size=4, verbose=0, shuffle=False)
    return model, x, y


def _names(values):
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def _save(model, path):
    with pytest.warns(UserWarning, match=r"legacy HDF5 file \(\.h5\).*\.keras"):
        model.save(path)


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop", sn.optimizers.SGD(0.1, momentum=0.9)],
                         ids=["adam", "rmsprop", "sgd_momentum"])
def test_round_trip_keeps_weights_compile_settings_and_optimizer_state(optimizer, tmp_path):
    model, x, y = _trained(optimizer)
    _save(model, tmp_path / "m.h5")
    loaded = sn.load_model(tmp_path / "m.h5")
    assert loaded.name == model.name
    assert [layer.get_config() for layer in loaded.layers] == [layer.get_config() for layer in model.layers]
    for got, want in zip(loaded.weights, model.weights, strict=True):  # moving statistics too
        np.testing.assert_array_equal(got.value, want.value)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert type(loaded.optimizer) is type(model.optimizer)
    config, loaded_config = model.optimizer.get_config(), loaded.optimizer.get_config()
    # the learning rate comes back as Keras keeps it, a float32 variable (as from a .keras file)
    assert np.float32(loaded_config.pop("learning_rate")) == np.float32(config.pop("learning_rate"))
    assert loaded_config == config
    assert loaded.optimizer.iterations == model.optimizer.iterations == 4
    assert loaded.optimizer.state.keys() == model.optimizer.state.keys()
    for key, value in model.optimizer.state.items():
        np.testing.assert_array_equal(loaded.optimizer.state[key], value)
    assert type(loaded.loss) is type(model.loss) and loaded.metric_names == model.metric_names
    model.optimizer.learning_rate = loaded.optimizer.learning_rate  # the float32 value, on both
    for m in (model, loaded):
        m.get_layer("dropout").rng = np.random.default_rng(5)  # the same Dropout draws next step
    model.train_step(x, y)
    loaded.train_step(x, y)
    for got, want in zip(loaded.weights, model.weights, strict=True):
        np.testing.assert_array_equal(got.value, want.value)


def test_the_file_has_keras_layout(tmp_path):
    model, _, _ = _trained()
    _save(model, tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5") as f:
        assert f.attrs["keras_version"] == "3.15.1" and f.attrs["backend"] == "tensorflow"
        config = json.loads(f.attrs["model_config"])
        assert config["class_name"] == "Sequential"
        assert [spec["class_name"] for spec in config["config"]["layers"]] == [
            "InputLayer", "Conv2D", "BatchNormalization", "MaxPooling2D", "Flatten", "Dropout", "Dense"]
        training = json.loads(f.attrs["training_config"])
        assert training["optimizer_config"]["class_name"] == "Adam"
        assert training["loss"]["class_name"] == "SparseCategoricalCrossentropy"
        group = f["model_weights"]
        assert _names(group.attrs["layer_names"]) == [layer.name for layer in model.layers]
        names = _names(group["batch_normalization"].attrs["weight_names"])
        assert names == [f"h5_model/batch_normalization/{w}" for w in
                         ("gamma", "beta", "moving_mean", "moving_variance")]
        np.testing.assert_array_equal(group["conv2d"]["h5_model/conv2d/kernel"][()],
                                      model.layers[0].kernel.value)
        assert list(group["flatten"].attrs["weight_names"]) == []
        # iterations, learning rate, then Adam's m and v of each weight, interleaved as Keras does
        assert len(f["optimizer_weights"].attrs["weight_names"]) == 2 + 2 * len(model.params)


def test_an_untrained_and_an_uncompiled_model(tmp_path):
    model = sn.Sequential([L.Input((4,)), L.Dense(2)], seed=0)
    _save(model, tmp_path / "plain.h5")
    loaded = sn.load_model(tmp_path / "plain.h5")
    assert not loaded.compiled
    np.testing.assert_array_equal(loaded.get_weights()[0], model.get_weights()[0])
    model.compile("sgd", "mse")
    _save(model, tmp_path / "compiled.h5")
    assert sn.load_model(tmp_path / "compiled.h5").optimizer.iterations == 0
    assert not sn.load_model(tmp_path / "compiled.h5", compile=False).compiled


def test_what_the_h5_format_refuses(tmp_path):
    (tmp_path / "junk.h5").write_bytes(b"not an HDF5 file at all")
    with pytest.raises(ValueError, match=r"junk\.h5' is not a readable HDF5 file"):
        sn.load_model(tmp_path / "junk.h5")
    model = sn.Sequential([L.Input((4,)), L.Dense(2)], seed=0)
    model.save_weights(tmp_path / "w.weights.h5")
    (tmp_path / "w.h5").write_bytes((tmp_path / "w.weights.h5").read_bytes())
    with pytest.raises(ValueError, match=r"holds weights only \(no model_config\)"):
        sn.load_model(tmp_path / "w.h5")
    with pytest.raises(ValueError, match=r"a \.weights\.h5 file holds weights only"):
        sn.load_model(tmp_path / "w.weights.h5")
    with pytest.raises(FileNotFoundError, match="no file at"):
        sn.load_model(tmp_path / "missing.h5")
    _save(model, tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "r+") as f:  # a kernel of the wrong shape
        del f["model_weights/dense/sequential/dense/kernel"]
        f["model_weights/dense/sequential/dense/kernel"] = np.zeros((5, 2), np.float32)
    with pytest.raises(ValueError, match=r"m\.h5': Shape mismatch in layer #0 \(named dense\) for weight "
                                         r"dense/kernel\. Weight expects shape \(4, 2\)\. Received saved "
                                         r"weight with shape \(5, 2\)"):
        sn.load_model(tmp_path / "m.h5")
