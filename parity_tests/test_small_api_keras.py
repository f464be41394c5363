"""Small Keras API behaviours, each run in both libraries: ``initializers.get(None)`` (and its
regularizer, constraint and activation twins), re-compiling with ``metrics=None`` (Keras keeps
the metrics), and ``serialize_keras_object`` of a registered and of a plain function."""

import keras
import numpy as np
import pytest

import scratchnet as sn
from parity_tests.driver import TRAJECTORY_RTOL, assert_close


# ---------------------------------------------------------------------------- get(None)
@pytest.mark.parametrize("module", ["initializers", "regularizers", "constraints"])
def test_get_none_is_none_as_in_keras(module):
    assert getattr(keras, module).get(None) is None
    assert getattr(sn, module).get(None) is None


def test_activations_get_none_is_linear_as_in_keras():
    z = np.array([[-2.0, 0.5, 3.0]], dtype="float32")
    np.testing.assert_array_equal(np.asarray(keras.activations.get(None)(z)), z)
    np.testing.assert_array_equal(sn.activations.get(None)(z), z)


# ---------------------------------------------------------------------------- compile(metrics=None)
def _recompiled_run(lib):
    """fit with metrics=["mae"], compile again with metrics=None (and a new optimizer), fit
    again: history keys, evaluate's dict and the weights after both fits."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(12, 3)).astype("float32")
    y = rng.normal(size=(12, 1)).astype("float32")
    model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(1, name="d")])
    model.set_weights([rng.normal(0, 0.5, (3, 1)).astype("float32"), np.zeros(1, "float32")])
    model.compile(lib.optimizers.SGD(0.05), "mse", metrics=["mae"])
    first = model.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0).history
    model.compile(lib.optimizers.SGD(0.05), "mse", metrics=None)
    second = model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0,
                       validation_data=(x, y)).history
    evaluated = model.evaluate(x, y, verbose=0, return_dict=True)
    return first, second, evaluated, model.get_weights()


def test_compile_again_with_metrics_none_keeps_the_metrics_as_keras():
    first, second, evaluated, weights = _recompiled_run(sn)
    kfirst, ksecond, kevaluated, kweights = _recompiled_run(keras)
    assert sorted(kfirst) == sorted(first) == ["loss", "mae"]
    assert sorted(ksecond) == sorted(second) == ["loss", "mae", "val_loss", "val_mae"]
    assert sorted(kevaluated) == sorted(evaluated) == ["loss", "mae"]
    for key in ksecond:
        assert_close(second[key], ksecond[key], TRAJECTORY_RTOL, f"history {key!r}")
    for w, kw in zip(weights, kweights, strict=True):
        assert_close(w, kw, TRAJECTORY_RTOL, "weights after both fits")


def test_compile_again_with_new_metrics_replaces_them_as_keras():
    for lib in (sn, keras):
        model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(1)])
        model.compile("sgd", "mse", metrics=["mae"])
        model.compile("sgd", "mse", metrics=["mse"])
        x = np.ones((4, 3), "float32")
        history = model.fit(x, np.ones((4, 1), "float32"), epochs=1, verbose=0).history
        assert sorted(history) == ["loss", "mse"], lib.__name__


def test_subclassed_model_compiled_twice_before_it_is_built_keeps_the_metrics():
    """The second compile comes before the first batch builds the model (scratchnet keeps the
    compile arguments until then): Keras' kept metrics all the same."""
    for lib in (sn, keras):
        class Net(lib.Model):
            def __init__(self, layers=lib.layers):
                super().__init__()
                self.dense = layers.Dense(1)

            def call(self, inputs):
                return self.dense(inputs)

        model = Net()
        model.compile("sgd", "mse", metrics=["mae"])
        model.compile("sgd", "mse")
        x = np.ones((4, 3), "float32")
        history = model.fit(x, np.ones((4, 1), "float32"), epochs=1, verbose=0).history
        assert sorted(history) == ["loss", "mae"], lib.__name__


# ---------------------------------------------------------------------------- functions
def _triple(x):
    return x * 3.0


def _plain(x):
    return x + 1.0


@keras.saving.register_keras_serializable(package="my_package")
def k_registered(x):
    return x * 2.0


@sn.saving.register_keras_serializable(package="my_package")
def sn_registered(x):
    return x * 2.0


def test_serialize_a_registered_function_as_keras():
    """Keras writes every function under the public class ``function`` (module "builtins",
    ``registered_name`` "function"), the registered name as its config."""
    kspec = keras.saving.serialize_keras_object(k_registered)
    spec = sn.saving.serialize_keras_object(sn_registered)
    assert kspec == {"module": "builtins", "class_name": "function",
                     "config": "my_package>k_registered", "registered_name": "function"}
    assert spec == {**kspec, "config": "my_package>sn_registered"}
    assert keras.saving.deserialize_keras_object(kspec) is k_registered
    assert sn.saving.deserialize_keras_object(spec) is sn_registered


def test_serialize_a_plain_function_as_keras():
    kspec = keras.saving.serialize_keras_object(_plain)
    spec = sn.saving.serialize_keras_object(_plain)
    assert spec == kspec == {"module": "builtins", "class_name": "function", "config": "_plain",
                             "registered_name": "function"}
    # found again among the custom objects, and with Keras' TypeError without them
    assert keras.saving.deserialize_keras_object(kspec, custom_objects={"_plain": _plain}) is _plain
    assert sn.saving.deserialize_keras_object(spec, custom_objects={"_plain": _plain}) is _plain
    with sn.saving.custom_object_scope({"_plain": _plain}):
        assert sn.saving.deserialize_keras_object(spec) is _plain
    for lib in (keras, sn):
        with pytest.raises(TypeError, match="Could not locate function '_plain'"):
            lib.saving.deserialize_keras_object(kspec)


def test_a_function_serialized_by_keras_deserializes_in_scratchnet_and_back():
    kspec = keras.saving.serialize_keras_object(_triple)
    assert sn.saving.deserialize_keras_object(kspec, custom_objects={"_triple": _triple}) is _triple
    spec = sn.saving.serialize_keras_object(_triple)
    assert keras.saving.deserialize_keras_object(spec, custom_objects={"_triple": _triple}) is _triple


def test_builtin_functions_serialize_as_before():
    for name in ("relu", "tanh"):
        assert sn.saving.serialize_keras_object(getattr(sn.activations, name)) == \
            keras.saving.serialize_keras_object(getattr(keras.activations, name))
