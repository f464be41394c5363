"""A ``keras.random.SeedGenerator`` held by a layer, run in both libraries: its state variable is
in ``variables`` and ``non_trainable_variables`` (Keras' ``Layer.variables``,
keras/src/layers/layer.py), not in ``weights``, ``get_weights()``, ``summary()``'s counts or the
``.keras`` file's weights (keras/src/random/seed_generator.py)."""

import zipfile

import h5py
import keras
import numpy as np

import scratchnet as sn
from parity_tests.driver import FORWARD_RTOL, assert_close
from parity_tests.test_guide_functional_api_keras import summary_rows

X = np.random.default_rng(0).normal(size=(6, 4)).astype("float32")


def _model(lib):
    class SeededNoise(lib.layers.Layer):
        """The Keras docstring's layer: a SeedGenerator as an attribute (noise only in training)."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.seed_generator = lib.random.SeedGenerator(1337)

        def call(self, inputs, training=False):
            if training:
                return inputs + lib.random.normal(lib.ops.shape(inputs), seed=self.seed_generator)
            return inputs

    return lib.Sequential([lib.Input((4,)), lib.layers.Dense(3, name="d"), SeededNoise(name="noise"),
                           lib.layers.BatchNormalization(name="bn")], name="m")


def _described(variables) -> list:
    """Each variable's last name part, shape, dtype and trainable flag."""
    return [(v.name.split("/")[-1], tuple(v.shape), str(v.dtype), bool(v.trainable)) for v in variables]


def test_seed_generator_state_is_a_variable_not_a_weight_as_keras():
    model, kmodel = _model(sn), _model(keras)
    assert _described(model.variables) == _described(kmodel.variables)
    assert [name for name, *_ in _described(model.variables)] == [
        "kernel", "bias", "seed_generator_state", "gamma", "beta", "moving_mean", "moving_variance"]
    assert _described(model.non_trainable_variables) == _described(kmodel.non_trainable_variables)
    assert len(model.non_trainable_variables) == 3
    assert _described(model.trainable_variables) == _described(kmodel.trainable_variables)
    assert _described(model.weights) == _described(kmodel.weights)
    assert len(model.weights) == len(model.get_weights()) == len(kmodel.get_weights()) == 6
    noise, knoise = model.layers[1], kmodel.layers[1]
    assert _described(noise.variables) == _described(knoise.variables) == [
        ("seed_generator_state", (2,), "int64", False)]
    assert _described(noise.non_trainable_variables) == _described(knoise.non_trainable_variables)
    assert noise.weights == [] and knoise.weights == []
    np.testing.assert_array_equal(np.asarray(noise.variables[0]), np.asarray(knoise.variables[0]))
    assert summary_rows(model) == summary_rows(kmodel)
    for m in (model, kmodel):  # a frozen layer: all its variables are non-trainable
        m.layers[0].trainable = False
    # (the names, shapes and dtypes: Keras also sets a frozen variable's own trainable flag)
    assert [d[:3] for d in _described(model.non_trainable_variables)] == \
        [d[:3] for d in _described(kmodel.non_trainable_variables)]
    assert len(model.non_trainable_variables) == 5


def test_the_state_advances_with_each_draw_and_stays_out_of_files(tmp_path):
    model, kmodel = _model(sn), _model(keras)
    state, kstate = model.layers[1].seed_generator.state, kmodel.layers[1].seed_generator.state

    def assert_state(expected):
        np.testing.assert_array_equal(np.asarray(state), np.asarray(kstate))
        np.testing.assert_array_equal(np.asarray(state), expected)

    assert_state([1337, 0])  # the trial call that built the model drew nothing (a StatelessScope)
    model(X, training=True)
    kmodel(X, training=True)
    assert_state([1337, 1])  # one draw: the counter moves on by one
    model.predict(X, verbose=0)
    kmodel.predict(X, verbose=0)
    assert_state([1337, 1])  # inference draws nothing
    kmodel.set_weights(model.get_weights())
    assert_close(model.predict(X, verbose=0), kmodel.predict(X, verbose=0), FORWARD_RTOL, "inference")
    model.set_weights(kmodel.get_weights())  # get_weights / set_weights: the weights alone
    for m, name in ((model, "sn.keras"), (kmodel, "k.keras")):
        m.save(tmp_path / name)
        with zipfile.ZipFile(tmp_path / name) as archive, archive.open("model.weights.h5") as f, \
                h5py.File(f) as h5:
            assert len(h5["layers/seeded_noise/vars"]) == 0, name  # Keras saves no seed state
            assert len(h5["layers/batch_normalization/vars"]) == 4, name
    kloaded = keras.models.load_model(tmp_path / "sn.keras",
                                      custom_objects={"SeededNoise": type(kmodel.layers[1])})
    assert_close(kloaded.predict(X, verbose=0), kmodel.predict(X, verbose=0), FORWARD_RTOL,
                 "scratchnet's file loaded by Keras")


def test_stateless_call_takes_and_returns_the_seed_state_as_keras():
    """``stateless_call``'s non-trainable values include the seed state, as Keras': the call
    returns it moved on by the draw and leaves the generator's own state as it was."""
    results = []
    for lib in (sn, keras):
        model = _model(lib)
        state = model.layers[1].seed_generator.state
        trainable = [np.asarray(v) for v in model.trainable_variables]
        non_trainable = [np.asarray(v) for v in model.non_trainable_variables]
        _, new_state = model.stateless_call(trainable, non_trainable, X, training=True)
        results.append(([np.asarray(v).dtype for v in new_state], np.asarray(new_state[0]),
                         np.asarray(state)))
    (dtypes, new_seed, kept), (kdtypes, knew_seed, kkept) = results
    assert len(dtypes) == len(kdtypes) == 3 and dtypes[0] == kdtypes[0] == np.int64
    np.testing.assert_array_equal(new_seed, knew_seed)
    np.testing.assert_array_equal(new_seed, [1337, 1])
    np.testing.assert_array_equal(kept, kkept)
    np.testing.assert_array_equal(kept, [1337, 0])
