"""How a Sequential model learns its input shape, run in both libraries: built by its first call
on data (Keras' InputLayer then keeps that call's batch size: ``keras/src/models/sequential.py``
``build``), and started with a hand-built ``InputLayer``, ``Input`` or ``input_shape=`` given as
lists (Keras writes tuples in ``get_config()``)."""

import warnings

import keras
import numpy as np
import pytest

import scratchnet as sn
from parity_tests.driver import FORWARD_RTOL, assert_close
from parity_tests.test_guide_functional_api_keras import summary_rows

X = np.random.default_rng(0).normal(size=(10, 4)).astype("float32")
Y = np.random.default_rng(1).normal(size=(10, 2)).astype("float32")


def _stack(lib):
    model = lib.Sequential([lib.layers.Dense(3, name="d1"), lib.layers.Dense(2, name="d2")], name="stack")
    model.compile("sgd", "mse")
    return model


# each way an unbuilt model meets its first data: Keras' input_shape after it
FIRST_CALLS = {
    "call": (lambda m: m(X[:3]), (3, 4)),
    "predict_on_batch": (lambda m: m.predict_on_batch(X[:3]), (3, 4)),
    "predict": (lambda m: m.predict(X, batch_size=4, verbose=0), (4, 4)),  # its first batch
    "predict_default_batch": (lambda m: m.predict(X, verbose=0), (10, 4)),  # one batch of 32 or less
    "train_on_batch": (lambda m: m.train_on_batch(X[:3], Y[:3]), (3, 4)),
    "test_on_batch": (lambda m: m.test_on_batch(X[:3], Y[:3]), (3, 4)),
    "fit": (lambda m: m.fit(X, Y, batch_size=4, verbose=0), (None, 4)),  # traced for any batch
    "evaluate": (lambda m: m.evaluate(X, Y, batch_size=4, verbose=0), (None, 4)),
}


@pytest.mark.parametrize("how", sorted(FIRST_CALLS))
def test_first_call_on_data_sets_the_batch_axis_as_keras(how):
    first_call, expected = FIRST_CALLS[how]
    model, kmodel = _stack(sn), _stack(keras)
    first_call(model)
    first_call(kmodel)
    batch = expected[0]
    assert model.input_shape == kmodel.input_shape == expected
    assert model.output_shape == kmodel.output_shape == (batch, 2)
    assert [tuple(layer.output.shape) for layer in model.layers] == \
        [tuple(layer.output.shape) for layer in kmodel.layers] == [(batch, 3), (batch, 2)]
    assert summary_rows(model) == summary_rows(kmodel)
    config, kconfig = model.get_config(), kmodel.get_config()
    assert config["build_input_shape"] == kconfig["build_input_shape"] == expected
    assert config["layers"][0]["config"]["batch_shape"] == kconfig["layers"][0]["config"]["batch_shape"]


def test_model_built_by_a_call_runs_other_batch_sizes_and_saves_as_keras(tmp_path):
    """Built on a batch of 3, it still runs batches of 5 and trains on 4s in both libraries; its
    ``.keras`` file keeps the 3 and each library reads the other's."""
    model, kmodel = _stack(sn), _stack(keras)
    model(X[:3])
    kmodel(X[:3])
    kmodel.set_weights(model.get_weights())
    assert_close(model.predict(X[:5], verbose=0), kmodel.predict(X[:5], verbose=0), FORWARD_RTOL,
                 "predict on 5 after a build on 3")
    assert_close(model(X[:5]), np.asarray(kmodel(X[:5])), FORWARD_RTOL, "a call on 5")
    model.fit(X, Y, batch_size=4, verbose=0)
    kmodel.fit(X, Y, batch_size=4, verbose=0)
    assert model.input_shape == kmodel.input_shape == (3, 4)  # a later fit keeps it, as Keras
    model.save(tmp_path / "sn.keras")
    kmodel.save(tmp_path / "k.keras")
    for path in (tmp_path / "sn.keras", tmp_path / "k.keras"):
        loaded, kloaded = sn.models.load_model(path), keras.models.load_model(path)
        assert loaded.input_shape == kloaded.input_shape == (3, 4), path.name
        assert_close(loaded.predict(X[:5], verbose=0), kloaded.predict(X[:5], verbose=0), FORWARD_RTOL,
                     f"{path.name} loaded, predict on 5")
    clone, kclone = sn.models.clone_model(model), keras.models.clone_model(kmodel)
    assert clone.input_shape == kclone.input_shape == (3, 4)


# ---------------------------------------------------------------------------- a hand-built input
INPUT_FORMS = {
    "InputLayer(batch_shape=list)": lambda lib: [lib.layers.InputLayer(batch_shape=[None, 4], name="x")],
    "InputLayer(batch_shape=list, batch 5)": lambda lib: [lib.layers.InputLayer(batch_shape=[5, 4],
                                                                                 name="x")],
    "InputLayer(shape=list)": lambda lib: [lib.layers.InputLayer(shape=[4], name="x")],
    "Input(shape=list)": lambda lib: [lib.Input(shape=[4], name="x")],
    "Input(batch_shape=list)": lambda lib: [lib.Input(batch_shape=[None, 4], name="x")],
    "input_shape=list": lambda lib: [],
}


def _with_input(lib, form):
    first = {"input_shape": [4]} if form == "input_shape=list" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras' advice to use Input (scratchnet gives it too)
        layers = [*INPUT_FORMS[form](lib), lib.layers.Dense(2, name="d", **first)]
    return lib.Sequential(layers, name="m")


@pytest.mark.parametrize("form", sorted(INPUT_FORMS))
def test_sequential_with_a_hand_built_input_as_keras(form, tmp_path):
    model, kmodel = _with_input(sn, form), _with_input(keras, form)
    assert len(model.layers) == len(kmodel.layers) == 1  # the InputLayer is not among the layers
    assert model.input_shape == kmodel.input_shape
    assert model.output_shape == kmodel.output_shape
    config, kconfig = model.get_config(), kmodel.get_config()
    entry, kentry = config["layers"][0], kconfig["layers"][0]
    if form == "input_shape=list":  # Keras draws the InputLayer's name from its own counter
        entry["config"].pop("name"), kentry["config"].pop("name")
    assert entry == kentry
    assert type(entry["config"]["batch_shape"]) is type(kentry["config"]["batch_shape"]) is tuple
    assert config["build_input_shape"] == kconfig["build_input_shape"]
    assert type(config["build_input_shape"]) is tuple
    kmodel.set_weights(model.get_weights())
    batch = X[:5] if model.input_shape[0] == 5 else X[:3]
    assert_close(model.predict(batch, verbose=0), kmodel.predict(batch, verbose=0), FORWARD_RTOL, form)
    model.save(tmp_path / "m.keras")
    kloaded = keras.models.load_model(tmp_path / "m.keras")
    assert kloaded.input_shape == kmodel.input_shape
    assert_close(kloaded.predict(batch, verbose=0), kmodel.predict(batch, verbose=0), FORWARD_RTOL,
                 f"{form}: scratchnet's file loaded by Keras")
    rebuilt = sn.Sequential.from_config(kconfig)
    assert rebuilt.input_shape == kmodel.input_shape
    assert rebuilt.get_config()["layers"][0] == kconfig["layers"][0] or form == "input_shape=list"


def test_input_layer_batch_shape_as_keras():
    for args in ({"batch_shape": [None, 4]}, {"shape": [4]}, {"shape": [4], "batch_size": 2}):
        layer, klayer = sn.layers.InputLayer(**args), keras.layers.InputLayer(**args)
        assert layer.batch_shape == klayer.batch_shape
        assert type(layer.batch_shape) is type(klayer.batch_shape) is tuple
