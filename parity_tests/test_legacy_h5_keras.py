"""Legacy HDF5 files (``.h5``) against Keras 3's own reader and writer
(``keras/src/legacy/saving/legacy_h5_format.py``):

- weights files written by Keras' legacy writer (``save_weights_to_hdf5_group``, what Keras 2's
  ``save_weights("w.h5")`` wrote) load into scratchnet by layer order for models that together use
  every layer kind scratchnet has, and give Keras' predictions (FORWARD 1e-5); Keras reads the
  weights of scratchnet's full-model ``.h5`` files the same way;
- ``by_name=True`` and ``skip_mismatch=True`` leave the same weights as Keras, with the same
  number of warnings, and both refuse the same mismatches;
- functional models (several inputs and outputs, a shared layer, compiled and trained) in
  full-model ``.h5`` files, both ways: weights bit for bit, predictions, compile settings, and the
  step after loading equals Keras'.
"""

from __future__ import annotations

import warnings

import h5py
import keras
import numpy as np
import pytest
from keras.src.legacy.saving import legacy_h5_format

import scratchnet as sn
import tfnet
from parity_tests.driver import FORWARD_RTOL, TRAJECTORY_RTOL, assert_close
from parity_tests.test_keras_format import (
    MODELS,
    RANDOM_IN_TRAINING,
    _attention_model,
    _keras_input,
    _luong_bahdanau_model,
    _merging_model,
    _predict_keras,
    _rnn_cells_model,
)

L = sn.layers


def _keras_weights_file(kmodel, path):
    """A legacy weights file as Keras writes one: root attributes layer_names, backend and
    keras_version, one group per layer with its weight_names."""
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, kmodel)


def _other_weights(model, seed):
    """Weights unlike the model's own (positive where a variance must be)."""
    rng = np.random.default_rng(seed)
    return [(rng.random(w.shape) + 0.5).astype(w.dtype) if w.dtype.kind == "f" else w
            for w in model.get_weights()]


@pytest.mark.parametrize("make", MODELS, ids=lambda f: f.__name__.strip("_"))
def test_keras_legacy_weights_load_by_order(make, tmp_path):
    """Dense, Conv*, BatchNormalization, Embedding, LSTM/GRU/SimpleRNN, Bidirectional,
    DepthwiseConv, SeparableConv, ... (every layer of MODELS): Keras' legacy order is each layer's
    trainable weights, then its non-trainable ones; scratchnet reads them into the same places."""
    model, x, _ = make()
    kmodel = tfnet.to_keras(model)
    kmodel.set_weights(_other_weights(model, 1))
    tfnet.structured.refresh_statistics(kmodel)  # Keras' Normalization: set_weights needs this
    _keras_weights_file(kmodel, tmp_path / "k.h5")
    model.load_weights(tmp_path / "k.h5")
    for ws, wk in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_array_equal(ws, wk)
    assert_close(model.predict(x, verbose=0), _predict_keras(kmodel, x), FORWARD_RTOL, "predictions")


@pytest.mark.parametrize("make", [m for m in MODELS if m.__name__ != "_reviews_model"],
                         ids=lambda f: f.__name__.strip("_"))
def test_keras_reads_the_weights_of_scratchnet_h5_files(make, tmp_path):
    """``kmodel.load_weights("m.h5")`` on a scratchnet full-model file: Keras finds the layers'
    weights under model_weights in its legacy order. (The reviews model's tf-idf vocabulary has no
    place in an .h5 file: scratchnet refuses to write it.)"""
    model, x, _ = make()
    kmodel = tfnet.to_keras(model)
    model.set_weights(_other_weights(model, 2))
    with pytest.warns(UserWarning, match="legacy HDF5"):
        model.save(tmp_path / "m.h5")
    kmodel.load_weights(tmp_path / "m.h5")
    for wk, ws in zip(kmodel.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(wk, ws)


def _by_name_models():
    """A file's model and a model that shares some of its layer names: "a" fits, "b" has other
    shapes, "c" has a different number of weights (no bias), "d" is new."""
    source = sn.Sequential([L.Input((4,)), L.Dense(3, name="a"), L.Dense(2, name="b"),
                            L.Dense(2, name="c")], seed=3)
    target = sn.Sequential([L.Input((4,)), L.Dense(3, name="a"), L.Dense(5, name="b"),
                            L.Dense(2, name="c", use_bias=False), L.Dense(1, name="d")], seed=4)
    return source, target


def _load_both(target, path, **kwargs):
    """Load ``path`` into ``target`` and into its Keras twin; their weights and warning counts."""
    kmodel = tfnet.to_keras(target)
    with warnings.catch_warnings(record=True) as ours:
        warnings.simplefilter("always")
        target.load_weights(path, **kwargs)
    with warnings.catch_warnings(record=True) as theirs:
        warnings.simplefilter("always")
        kmodel.load_weights(path, **kwargs)
    # (NumPy's DeprecationWarnings from inside Keras are not load warnings)
    return kmodel, [str(w.message) for w in ours if w.category is UserWarning], \
        [str(w.message) for w in theirs if w.category is UserWarning]


def test_by_name_and_skip_mismatch_do_what_keras_does(tmp_path):
    source, target = _by_name_models()
    _keras_weights_file(tfnet.to_keras(source), tmp_path / "w.h5")
    with pytest.raises(ValueError, match="Shape mismatch in layer #1 \\(named b\\)"):
        tfnet.to_keras(target).load_weights(tmp_path / "w.h5", by_name=True)
    before = target.get_weights()
    with pytest.raises(ValueError, match="Shape mismatch in layer #1 \\(named b\\)"):
        target.load_weights(tmp_path / "w.h5", by_name=True)
    for now, then in zip(target.get_weights(), before, strict=True):  # nothing half loaded
        np.testing.assert_array_equal(now, then)
    kmodel, ours, theirs = _load_both(target, tmp_path / "w.h5", by_name=True, skip_mismatch=True)
    assert len(ours) == len(theirs) == 3  # b's kernel and bias, c's count
    assert "mismatch in number of weights" in ours[2] and "mismatch in number of weights" in theirs[2]
    for ws, wk in zip(target.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_array_equal(ws, wk)
    np.testing.assert_array_equal(target.get_layer("a").get_weights()[0],
                                  source.get_layer("a").get_weights()[0])


def test_order_loading_with_skip_mismatch_does_what_keras_does(tmp_path):
    """Without by_name Keras 3 still honours skip_mismatch for shapes (Keras 2 refused it), but a
    different number of layers or of weights in a layer is always an error."""
    source = sn.Sequential([L.Input((4,)), L.Dense(3), L.Dense(2), L.Dense(2)], seed=3)
    target = sn.Sequential([L.Input((4,)), L.Dense(3), L.Dense(5), L.Dense(2)], seed=4)
    _keras_weights_file(tfnet.to_keras(source), tmp_path / "w.h5")
    kmodel, ours, theirs = _load_both(target, tmp_path / "w.h5", skip_mismatch=True)
    assert len(ours) == len(theirs) == 3  # the second layer's kernel and bias, the third's kernel
    for ws, wk in zip(target.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_array_equal(ws, wk)
    short = sn.Sequential([L.Input((4,)), L.Dense(3), L.Dense(2)], seed=5)
    for loader in (short, tfnet.to_keras(short)):
        with pytest.raises(ValueError, match="Layer count mismatch.*expected 2 layers, found 3"):
            loader.load_weights(tmp_path / "w.h5", skip_mismatch=True)


# ----------------------------------------------------------------------------- functional .h5
def _two_heads_model():
    """Two inputs, two outputs, a layer shared by both branches, per-output losses, loss weights
    and metrics, BatchNormalization's moving statistics."""
    left, right = sn.Input((4,), name="left"), sn.Input((3,), name="right")
    shared = L.Dense(3, activation="tanh", name="shared")
    joined = L.Concatenate(name="joined")([shared(left), shared(L.Dense(4, name="widen")(right))])
    hidden = L.BatchNormalization(name="norm")(L.Dense(5, activation="relu", name="hidden")(joined))
    model = sn.Model([left, right], [L.Dense(1, name="score")(hidden),
                                     L.Dense(3, activation="softmax", name="kind")(hidden)],
                     name="two_heads")
    sn.utils.set_random_seed(5)
    model.compile(optimizer=sn.optimizers.Adam(0.01),
                  loss=["mse", "sparse_categorical_crossentropy"], loss_weights=[0.5, 1.0],
                  metrics=[["mae"], ["accuracy"]])
    rng = np.random.default_rng(6)
    x = [rng.normal(size=(6, 4)).astype(np.float32), rng.normal(size=(6, 3)).astype(np.float32)]
    y = [rng.normal(size=(6, 1)).astype(np.float32), np.arange(6) % 3]
    return model, x, y


FUNCTIONAL = [_two_heads_model, _merging_model, _attention_model, _luong_bahdanau_model,
              _rnn_cells_model]


def _predictions(outputs):
    return [np.asarray(o) for o in outputs] if isinstance(outputs, list | tuple) else [np.asarray(outputs)]


@pytest.mark.parametrize("make", FUNCTIONAL, ids=lambda f: f.__name__.strip("_"))
def test_scratchnet_functional_h5_opens_in_keras(make, tmp_path):
    model, x, y = make()
    model.fit(x, y, epochs=2, batch_size=3, verbose=0, shuffle=False)
    with pytest.warns(UserWarning, match="legacy HDF5"):
        model.save(tmp_path / "m.h5")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kmodel = keras.models.load_model(tmp_path / "m.h5")
    assert [layer.name for layer in kmodel.layers] == [layer.name for layer in model.layers]
    for wk, ws in zip(kmodel.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(wk, ws)
    for ours, theirs in zip(_predictions(model.predict(x, verbose=0)),
                            _predictions(kmodel(_keras_input(x), training=False)), strict=True):
        assert_close(ours, theirs, FORWARD_RTOL, "predictions")
    assert type(kmodel.optimizer).__name__ == type(model.optimizer).__name__
    assert int(kmodel.optimizer.iterations) == model.optimizer.iterations > 0


@pytest.mark.parametrize("make", FUNCTIONAL[:3], ids=lambda f: f.__name__.strip("_"))
def test_keras_functional_h5_opens_in_scratchnet(make, tmp_path):
    """Keras' file of the twin, trained one step: the same graph, weights bit for bit, the same
    compile settings, and one more step from the loaded optimizer state is Keras' next step.
    (The recurrent graphs' Keras steps are slow; their .keras twins, the same config and
    optimizer layout, are in test_keras_format.py.)"""
    model, x, y = make()
    kmodel = tfnet.to_keras(model)
    kmodel.fit(_keras_input(x), y, epochs=1, batch_size=6, verbose=0, shuffle=False)
    kmodel.save(tmp_path / "k.h5")
    loaded = sn.load_model(tmp_path / "k.h5")
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    for ws, wk in zip(loaded.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_array_equal(ws, wk)
    for ours, theirs in zip(_predictions(loaded.predict(x, verbose=0)),
                            _predictions(kmodel(_keras_input(x), training=False)), strict=True):
        assert_close(ours, theirs, FORWARD_RTOL, "predictions")
    assert type(loaded.optimizer) is type(model.optimizer)
    assert loaded.optimizer.iterations == int(kmodel.optimizer.iterations) > 0
    assert list(loaded.loss_weights or []) == list(model.loss_weights or [])
    loaded.reset_metrics()
    loaded.train_step(x, y)
    kmodel.train_on_batch(_keras_input(x), y)
    for param, wk in zip(loaded.weights, kmodel.get_weights(), strict=True):
        assert_close(param.value, wk, TRAJECTORY_RTOL, f'"{param.name}" after the step after loading')


def test_random_layers_are_not_in_functional_list():
    """The functional models here train deterministically (no Dropout or augmentation), so the
    step after loading is comparable."""
    for make in FUNCTIONAL:
        model, _, _ = make()
        assert not any(isinstance(layer, RANDOM_IN_TRAINING) for layer in model.layers)


# ----------------------------------------------------------------------------- nested Sequential
def _keras_nested_model():
    """A Keras functional model holding a Sequential as one layer (Dense, BatchNormalization,
    Dense: its legacy .h5 order, all trainable weights then the moving statistics, is not
    layer by layer), compiled and trained."""
    keras.utils.set_random_seed(21)
    inputs = keras.Input((3,), name="features")
    block = keras.Sequential([keras.layers.Dense(4, activation="relu", name="inner_a"),
                              keras.layers.BatchNormalization(name="inner_norm"),
                              keras.layers.Dense(3, name="inner_b")], name="block")
    outputs = keras.layers.Dense(1, name="head")(block(keras.layers.Dense(5, name="stem")(inputs)))
    kmodel = keras.Model(inputs, outputs, name="nested")
    kmodel.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    rng = np.random.default_rng(22)
    x, y = rng.normal(size=(6, 3)).astype(np.float32), rng.normal(size=(6, 1)).astype(np.float32)
    kmodel.fit(x, y, epochs=2, batch_size=3, verbose=0, shuffle=False)
    return kmodel, x, y


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_keras_functional_with_a_nested_sequential_opens_in_scratchnet(suffix, tmp_path):
    """scratchnet lists the nested Sequential's layers one by one (as when it is built in
    scratchnet) and finds their weights where Keras keeps them: one .h5 group in the legacy order,
    or layers/sequential/layers/... in a .keras file."""
    kmodel, x, y = _keras_nested_model()
    kmodel.save(tmp_path / f"k{suffix}")
    loaded = sn.load_model(tmp_path / f"k{suffix}")
    assert [layer.name for layer in loaded.layers] == ["features", "stem", "inner_a", "inner_norm",
                                                      "inner_b", "head"]
    for ws, wk in zip(loaded.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_array_equal(ws, wk)
    assert_close(loaded.predict(x, verbose=0), _predict_keras(kmodel, x), FORWARD_RTOL, "predictions")
    loaded.set_weights([np.zeros_like(w) for w in loaded.get_weights()])
    kmodel.save(tmp_path / "weights_source.h5")
    loaded.load_weights(tmp_path / "weights_source.h5")  # by order, the nested group as one layer
    for ws, wk in zip(loaded.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_array_equal(ws, wk)
    # written again by scratchnet, the model is flat: its own files read back into it
    loaded.save_weights(tmp_path / "again.weights.h5")
    with pytest.warns(UserWarning, match="legacy HDF5"):
        loaded.save(tmp_path / "again.h5")
    for again in ("again.weights.h5", "again.h5"):
        loaded.set_weights([np.zeros_like(w) for w in loaded.get_weights()])
        loaded.load_weights(tmp_path / again)
        for ws, wk in zip(loaded.get_weights(), kmodel.get_weights(), strict=True):
            np.testing.assert_array_equal(ws, wk)
    loaded.train_step(x, y)
    kmodel.train_on_batch(x, y)
    for param, wk in zip(loaded.weights, kmodel.get_weights(), strict=True):
        assert_close(param.value, wk, TRAJECTORY_RTOL, f'"{param.name}" after the step after loading')


def test_scratchnet_functional_with_a_nested_sequential_opens_in_keras(tmp_path):
    """Built in scratchnet, the nested Sequential is its layers one by one: the .h5 file is a flat
    functional model, which Keras loads with the same weights and predictions."""
    inputs = sn.Input((3,), name="features")
    block = sn.Sequential([L.Dense(4, activation="relu", name="inner_a"),
                           L.BatchNormalization(name="inner_norm"), L.Dense(3, name="inner_b")],
                          name="block")
    model = sn.Model(inputs, L.Dense(1, name="head")(block(L.Dense(5, name="stem")(inputs))))
    model.compile(optimizer=sn.optimizers.Adam(0.01), loss="mse")
    x = np.random.default_rng(23).normal(size=(6, 3)).astype(np.float32)
    model.fit(x, x[:, :1], epochs=2, batch_size=3, verbose=0, shuffle=False)
    with pytest.warns(UserWarning, match="legacy HDF5"):
        model.save(tmp_path / "m.h5")
    kmodel = keras.models.load_model(tmp_path / "m.h5")
    for wk, ws in zip(kmodel.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(wk, ws)
    assert_close(model.predict(x, verbose=0), _predict_keras(kmodel, x), FORWARD_RTOL, "predictions")


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_keras_sequential_inside_a_sequential_opens_in_scratchnet(suffix, tmp_path):
    """The image-classification tutorial's ``Sequential([data_augmentation, ...])``: Keras' file
    keeps the inner Sequential as one layer; scratchnet loads its layers one by one, with Keras'
    weights, predictions and next step. (No bias before the batch norm: its gradient is zero up
    to round-off, nothing to compare.)"""
    keras.utils.set_random_seed(24)
    inner = keras.Sequential([keras.layers.Rescaling(1 / 255.0), keras.layers.Conv2D(2, 3, use_bias=False),
                              keras.layers.BatchNormalization()], name="preprocess")
    kmodel = keras.Sequential([keras.Input((6, 6, 3)), inner, keras.layers.Flatten(),
                               keras.layers.Dense(2)], name="outer")
    kmodel.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    rng = np.random.default_rng(25)
    x = rng.uniform(0, 255, size=(4, 6, 6, 3)).astype(np.float32)
    y = rng.normal(size=(4, 2)).astype(np.float32)
    kmodel.fit(x, y, epochs=1, batch_size=2, verbose=0, shuffle=False)
    kmodel.save(tmp_path / f"k{suffix}")
    loaded = sn.load_model(tmp_path / f"k{suffix}")
    assert [type(layer).__name__ for layer in loaded.layers] == ["Rescaling", "Conv2D",
                                                                "BatchNormalization", "Flatten", "Dense"]
    for ws, wk in zip(loaded.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_array_equal(ws, wk)
    assert_close(loaded.predict(x, verbose=0), _predict_keras(kmodel, x), FORWARD_RTOL, "predictions")
    assert loaded.optimizer.iterations == int(kmodel.optimizer.iterations) == 2
    loaded.train_step(x, y)
    kmodel.train_on_batch(x, y)
    for param, wk in zip(loaded.weights, kmodel.get_weights(), strict=True):
        assert_close(param.value, wk, TRAJECTORY_RTOL, f'"{param.name}" after the step after loading')


# ----------------------------------------------------------------------------- .weights.h5
def test_skip_mismatch_in_weights_h5_files_does_what_keras_does(tmp_path):
    """Not legacy, but the same argument: in a .weights.h5 file Keras skips each layer whose
    weights do not fit (another shape, another count) and warns once."""
    source = sn.Sequential([L.Input((4,)), L.Dense(3), L.BatchNormalization(), L.Dense(2),
                            L.Dense(2)], seed=3)
    source.set_weights(_other_weights(source, 7))
    source.save_weights(tmp_path / "w.weights.h5")
    target = sn.Sequential([L.Input((4,)), L.Dense(3), L.BatchNormalization(), L.Dense(5),
                            L.Dense(2, use_bias=False)], seed=4)
    kmodel, ours, theirs = _load_both(target, tmp_path / "w.weights.h5", skip_mismatch=True)
    assert len(ours) == len(theirs) == 1
    assert "A total of 2 objects could not be loaded" in ours[0]
    assert "A total of 2 objects could not be loaded" in theirs[0]
    for ws, wk in zip(target.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_array_equal(ws, wk)
    np.testing.assert_array_equal(target.get_weights()[0], source.get_weights()[0])
