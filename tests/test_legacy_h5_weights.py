"""Legacy HDF5 weights (:mod:`scratchnet.saving_h5`) without Keras: files laid out as Keras 2's
``save_weights("w.h5")`` and the pretrained Keras Applications files (``layer_names`` on the root,
one group per layer with ``weight_names`` like ``conv2d_1/kernel:0``) load by the order of the
layers that have weights, or by name; the weights inside a full-model ``.h5`` load the same way;
functional models round-trip through full-model ``.h5`` files; every bad file or argument gets a
clear error and leaves the model as it was. parity_tests/test_legacy_h5_keras.py checks the same
against Keras' own reader and writer."""

import warnings

import h5py
import numpy as np
import pytest

import scratchnet as sn

L = sn.layers


def _model(seed=0):
    """Conv2D, BatchNormalization without gamma (as InceptionV3's, scale=False), a layer without
    weights, Dense."""
    return sn.Sequential([L.Input((5, 5, 2)), L.Conv2D(3, 3, name="conv2d_1"),
                          L.BatchNormalization(scale=False, name="batch_normalization_1"),
                          L.Flatten(name="flatten_1"), L.Dense(2, name="dense_1")], seed=seed)


def _keras2_file(path, layers, chunks=1, version=b"2.2.4"):
    """A Keras 2 weights file: ``layers`` is ``[(name, [(weight name, array), ...]), ...]``;
    ``chunks`` > 1 splits layer_names into layer_names0, layer_names1, ... as Keras does for long
    lists."""
    names = [name.encode() for name, _ in layers]
    with h5py.File(path, "w") as f:
        if chunks == 1:
            f.attrs["layer_names"] = names
        else:
            for i, part in enumerate(np.array_split(np.array(names), chunks)):
                f.attrs[f"layer_names{i}"] = part
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = version
        for name, weights in layers:
            group = f.create_group(name)
            group.attrs["weight_names"] = [w.encode() for w, _ in weights]
            for weight_name, value in weights:
                group[weight_name] = value


def _arrays(model, seed):
    rng = np.random.default_rng(seed)
    return [(rng.random(w.shape) + 0.5).astype(np.float32) for w in model.get_weights()]


def _keras2_layers(values, prefix=""):
    kernel, bias, beta, mean, var, dense_k, dense_b = values
    return [(f"{prefix}conv2d_1",
             [(f"{prefix}conv2d_1/kernel:0", kernel), (f"{prefix}conv2d_1/bias:0", bias)]),
            (f"{prefix}batch_normalization_1",
             [(f"{prefix}batch_normalization_1/beta:0", beta),
              (f"{prefix}batch_normalization_1/moving_mean:0", mean),
              (f"{prefix}batch_normalization_1/moving_variance:0", var)]),
            (f"{prefix}flatten_1", []),
            (f"{prefix}dense_1",
             [(f"{prefix}dense_1/kernel:0", dense_k), (f"{prefix}dense_1/bias:0", dense_b)])]


def _assert_weights(model, values):
    for got, want in zip(model.get_weights(), values, strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("chunks", [1, 2])
def test_a_keras2_weights_file_loads_by_layer_order(tmp_path, chunks):
    """Names need not match (the file's layers are "x_conv2d_1", ...): the k-th saved layer with
    weights goes to the k-th layer with weights."""
    model = _model()
    values = _arrays(model, 1)
    _keras2_file(tmp_path / "w.h5", _keras2_layers(values, prefix="x_"), chunks=chunks)
    model.load_weights(tmp_path / "w.h5")
    _assert_weights(model, values)
    x = np.random.default_rng(2).random((2, 5, 5, 2)).astype(np.float32)
    twin = _model(seed=5)
    twin.set_weights(values)
    np.testing.assert_array_equal(model.predict(x, verbose=0), twin.predict(x, verbose=0))


def test_the_hdf5_suffix_and_sn_saving_load_weights(tmp_path):
    model = _model()
    values = _arrays(model, 3)
    _keras2_file(tmp_path / "w.hdf5", _keras2_layers(values))
    sn.saving.load_weights(model, tmp_path / "w.hdf5")
    _assert_weights(model, values)


def test_the_weights_of_a_full_model_h5_file(tmp_path):
    source = _model(seed=1)
    source.set_weights(_arrays(source, 4))
    with pytest.warns(UserWarning, match="legacy HDF5"):
        source.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5") as f:  # Keras' layout: the legacy order, an empty top level
        assert list(f["model_weights/top_level_model_weights"].attrs["weight_names"]) == []
        names = [n.decode() if isinstance(n, bytes) else str(n)
                 for n in f["model_weights/batch_normalization_1"].attrs["weight_names"]]
        assert [n.split("/")[-1] for n in names] == ["beta", "moving_mean", "moving_variance"]
    model = _model(seed=2)
    model.load_weights(tmp_path / "m.h5")
    _assert_weights(model, source.get_weights())


def test_a_frozen_layer_keeps_the_legacy_order(tmp_path):
    """A frozen layer's weights are all non-trainable: trainable + non-trainable is still kernel,
    bias (Keras' _legacy_weights)."""
    model = _model()
    model.layers[0].trainable = False
    values = _arrays(model, 5)
    _keras2_file(tmp_path / "w.h5", _keras2_layers(values))
    model.load_weights(tmp_path / "w.h5")
    _assert_weights(model, values)


def test_by_name_loads_the_layers_of_the_same_name(tmp_path):
    model = _model()
    start = model.get_weights()
    values = _arrays(model, 6)
    layers = _keras2_layers(values)
    layers[0] = ("some_other_conv", layers[0][1])  # no layer of that name: ignored
    layers.append(("not_in_model", [("not_in_model/kernel:0", np.ones((9, 9), np.float32))]))
    _keras2_file(tmp_path / "w.h5", layers)
    with pytest.raises(ValueError, match="Layer count mismatch"):  # by order: 4 layers, 3 in the model
        model.load_weights(tmp_path / "w.h5")
    model.load_weights(tmp_path / "w.h5", by_name=True)
    _assert_weights(model, start[:2] + values[2:])


def test_by_name_mismatches_raise_or_are_skipped_with_warnings(tmp_path):
    model = _model()
    start = model.get_weights()
    values = _arrays(model, 7)
    layers = _keras2_layers(values)
    layers[0] = ("conv2d_1", layers[0][1][:1])  # one weight, the layer has two
    layers[3] = ("dense_1", [("dense_1/kernel:0", np.ones((4, 2), np.float32)), layers[3][1][1]])
    _keras2_file(tmp_path / "w.h5", layers)
    with pytest.raises(ValueError, match=r"w\.h5': Weight count mismatch for layer #0 \(named "
                                         r"conv2d_1\)\. Layer expects 2 weight\(s\)\. Received 1"):
        model.load_weights(tmp_path / "w.h5", by_name=True)
    _assert_weights(model, start)  # nothing loaded
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.load_weights(tmp_path / "w.h5", by_name=True, skip_mismatch=True)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 2
    assert "mismatch in number of weights" in messages[0]
    assert "Weight expects shape (27, 2). Received saved weight with shape (4, 2)" in messages[1]
    # conv2d_1 skipped, the batch norm loaded, dense_1's kernel skipped and its bias loaded
    _assert_weights(model, start[:2] + values[2:5] + [start[5], values[6]])


def test_order_loading_errors_name_the_layer_and_change_nothing(tmp_path):
    model = _model()
    start = model.get_weights()
    values = _arrays(model, 8)
    layers = _keras2_layers(values)
    layers[1] = (layers[1][0], layers[1][1][1:])  # batch norm without beta
    _keras2_file(tmp_path / "count.h5", layers)
    with pytest.raises(ValueError, match=r"Weight count mismatch for layer #1 \(named "
                                         r"batch_normalization_1 in the current model, "
                                         r"batch_normalization_1 in the save file\)\. Layer expects 3"):
        model.load_weights(tmp_path / "count.h5")
    layers = _keras2_layers(values)
    layers[3] = ("dense_1", [("dense_1/kernel:0", np.ones((4, 2), np.float32)), layers[3][1][1]])
    _keras2_file(tmp_path / "shape.h5", layers)
    with pytest.raises(ValueError, match=r"Shape mismatch in layer #2 \(named dense_1\) for weight "
                                         r"dense_1/kernel\. Weight expects shape \(27, 2\)\. Received"):
        model.load_weights(tmp_path / "shape.h5")
    _assert_weights(model, start)
    with pytest.warns(UserWarning, match=r"Skipping loading weights for layer #2 \(named dense_1\)"):
        model.load_weights(tmp_path / "shape.h5", skip_mismatch=True)  # Keras 3 allows it by order
    _assert_weights(model, values[:5] + [start[5], values[6]])
    values[0][0, 0, 0, 0] = np.nan
    _keras2_file(tmp_path / "nan.h5", _keras2_layers(values))
    with pytest.raises(ValueError, match=r"nan\.h5' holds a weight with NaN"):
        model.load_weights(tmp_path / "nan.h5")


def test_bad_files_and_arguments(tmp_path):
    model = _model()
    with pytest.raises(FileNotFoundError, match=r"no file at.*missing\.h5"):
        model.load_weights(tmp_path / "missing.h5")
    (tmp_path / "junk.h5").write_bytes(b"not an HDF5 file")
    with pytest.raises(ValueError, match=r"junk\.h5' is not a readable HDF5 file"):
        model.load_weights(tmp_path / "junk.h5")
    with h5py.File(tmp_path / "empty.h5", "w"):
        pass
    with pytest.raises(ValueError, match=r"empty\.h5': Layer count mismatch .* expected 3 layers, "
                                         r"found 0 saved layers"):
        model.load_weights(tmp_path / "empty.h5")
    model.save_weights(tmp_path / "w.weights.h5")
    (tmp_path / "renamed.h5").write_bytes((tmp_path / "w.weights.h5").read_bytes())
    with pytest.raises(ValueError, match=r"Keras 3's \.weights\.h5 layout"):
        model.load_weights(tmp_path / "renamed.h5")
    _keras2_file(tmp_path / "hole.h5", _keras2_layers(_arrays(model, 9)))
    with h5py.File(tmp_path / "hole.h5", "r+") as f:
        del f["dense_1/dense_1/bias:0"]
    with pytest.raises(ValueError, match=r"layer 'dense_1' names weight 'dense_1/bias:0' but holds no"):
        model.load_weights(tmp_path / "hole.h5")
    with pytest.raises(ValueError, match=r"`by_name` only supports loading legacy '\.h5' or '\.hdf5'"):
        model.load_weights(tmp_path / "w.weights.h5", by_name=True)
    with pytest.raises(TypeError, match=r"expected skip_mismatch to be True or False, received 'yes'"):
        model.load_weights(tmp_path / "w.weights.h5", skip_mismatch="yes")
    with pytest.raises(ValueError, match=r"Invalid keyword arguments: \{'by_nmae': True\}"):
        model.load_weights(tmp_path / "w.weights.h5", by_nmae=True)
    with pytest.raises(ValueError, match=r"The filename must end in `\.weights\.h5`\. Received: "
                                         r"filepath=.*w\.h5"):
        model.save_weights(tmp_path / "w.h5")  # Keras 3 writes no legacy weights file either
    with pytest.raises(ValueError, match="not yet been built"):
        sn.Sequential([L.Dense(2)]).load_weights(tmp_path / "hole.h5")


# ----------------------------------------------------------------------------- functional .h5
def _functional():
    """Two inputs, two outputs, a shared layer, a Sequential used as a layer (scratchnet lists its
    layers one by one), compiled with per-output losses, loss weights and metrics."""
    left, right = sn.Input((4,), name="left"), sn.Input((3,), name="right")
    shared = L.Dense(3, activation="tanh", name="shared")
    joined = L.Concatenate(name="joined")([shared(left), shared(L.Dense(4, name="widen")(right))])
    block = sn.Sequential([L.Dense(5, activation="relu", name="hidden"),
                           L.BatchNormalization(name="norm")], name="block")
    hidden = block(joined)
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


def test_a_functional_model_round_trips_through_h5(tmp_path):
    model, x, y = _functional()
    model.fit(x, y, epochs=2, batch_size=3, verbose=0, shuffle=False)
    with pytest.warns(UserWarning, match="legacy HDF5"):
        model.save(tmp_path / "f.h5")
    saved = model.get_weights()
    loaded = sn.load_model(tmp_path / "f.h5")
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    assert loaded.input_names == model.input_names
    _assert_weights(loaded, model.get_weights())
    for ours, theirs in zip(loaded.predict(x, verbose=0), model.predict(x, verbose=0), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    assert list(loaded.loss_weights) == [0.5, 1.0]
    assert loaded.optimizer.iterations == model.optimizer.iterations == 4
    model.train_step(x, y)  # the same optimizer state: the same next step
    loaded.train_step(x, y)
    _assert_weights(loaded, model.get_weights())
    uncompiled = sn.load_model(tmp_path / "f.h5", compile=False)
    assert not uncompiled.compiled
    other, _, _ = _functional()
    other.load_weights(tmp_path / "f.h5")  # its weights, by layer order
    _assert_weights(other, saved)


def test_an_h5_file_of_an_unknown_model_class(tmp_path):
    model = _model()
    with pytest.warns(UserWarning, match="legacy HDF5"):
        model.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "r+") as f:
        f.attrs["model_config"] = '{"class_name": "MyModel", "config": {}}'
    with pytest.raises(ValueError, match=r"holds a model of class 'MyModel'; scratchnet reads legacy "
                                         r"HDF5 files of Sequential and functional models"):
        sn.load_model(tmp_path / "m.h5")


def test_skip_mismatch_in_a_weights_h5_file(tmp_path):
    """Keras' rule for .weights.h5 and .keras files: each layer's group that does not fit is
    skipped (the weights before its first misfit loaded), one warning lists them."""
    source = sn.Sequential([L.Input((4,)), L.Dense(3), L.BatchNormalization(), L.Dense(2)], seed=1)
    source.set_weights([w + 1 for w in source.get_weights()])
    source.save_weights(tmp_path / "w.weights.h5")
    target = sn.Sequential([L.Input((4,)), L.Dense(3), L.BatchNormalization(), L.Dense(5)], seed=2)
    start = target.get_weights()
    with pytest.raises(ValueError, match=r"layers/dense_1/vars/0 \(dense_1/kernel\) has shape \(3, 2\), "
                                         r"the model expects \(3, 5\)"):
        target.load_weights(tmp_path / "w.weights.h5")
    _assert_weights(target, start)
    with pytest.warns(UserWarning, match=r"A total of 1 objects could not be loaded\. Example error "
                                         r"message for object layer \"dense_1\""):
        target.load_weights(tmp_path / "w.weights.h5", skip_mismatch=True)
    _assert_weights(target, source.get_weights()[:6] + start[6:])
    target = sn.Sequential([L.Input((4,)), L.Dense(3), L.BatchNormalization(),
                            L.Dense(2, use_bias=False)], seed=3)
    start = target.get_weights()
    with pytest.warns(UserWarning, match=r"expected 1 variables, but received 2"):
        target.load_weights(tmp_path / "w.weights.h5", skip_mismatch=True)
    _assert_weights(target, source.get_weights()[:6] + start[6:])
