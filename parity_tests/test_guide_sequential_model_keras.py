"""Keras' developer guide "The Sequential model" (keras.io/guides/sequential_model), section by
section, as the same small programs in Keras 3.15 and in scratchnet (the import changed): a
Sequential model equals its layers called in turn, ``layers`` / ``add`` / ``pop`` / ``name``, a
layer with no weights until called, an unbuilt model (no weights, a summary of unbuilt layers),
``Input`` versus ``input_shape=``, ``summary()`` between ``add`` calls, feature extraction from
``layer.output`` and ``get_layer(name).output``, and freezing all layers but the last before a
fit (TRAJECTORY_RTOL from the same start weights). docs/keras-guides.md lists what runs and what
is out of scope (a pretrained functional base placed in a Sequential model)."""

import warnings

import keras
import numpy as np
import pytest

import scratchnet as sn
from parity_tests.driver import FORWARD_RTOL, TRAJECTORY_RTOL, assert_close
from parity_tests.test_guide_functional_api_keras import assert_same_summary, summary_rows

LIBS = pytest.mark.parametrize("lib", [keras, sn], ids=["keras", "scratchnet"])


def three_dense(lib, named=True):
    L = lib.layers
    names = ("layer1", "layer2", "layer3") if named else (None, None, None)
    return [L.Dense(2, activation="relu", name=names[0]), L.Dense(3, activation="relu", name=names[1]),
            L.Dense(4, name=names[2])]


# ---------------------------------------------------------------------------- a stack of layers
def test_a_sequential_model_is_its_layers_called_in_turn_equal_keras():
    x = np.random.default_rng(0).normal(size=(3, 3)).astype("float32")
    model, kmodel = sn.Sequential(three_dense(sn)), keras.Sequential(three_dense(keras))
    y, ky = model(x), kmodel(x)  # built by the call
    assert [layer.name for layer in model.layers] == [layer.name for layer in kmodel.layers]
    model.set_weights(kmodel.get_weights())
    assert_close(model(x), np.asarray(kmodel(x)), FORWARD_RTOL, "Sequential")
    layers = three_dense(sn)
    for layer, klayer in zip(layers, kmodel.layers, strict=True):
        layer(np.zeros((1, klayer.kernel.shape[0]), "float32"))
        layer.set_weights(klayer.get_weights())
    assert_close(layers[2](layers[1](layers[0](x))), np.asarray(kmodel(x)), FORWARD_RTOL,
                 "layer3(layer2(layer1(x)))")
    assert np.shape(y) == tuple(ky.shape) == (3, 4)


@LIBS
def test_layers_add_pop_and_name(lib):
    model = lib.Sequential()
    for layer in three_dense(lib, named=False):
        model.add(layer)
    assert len(model.layers) == 3
    popped = model.pop()
    assert isinstance(popped, lib.layers.Dense) and popped.units == 4
    assert len(model.layers) == 2
    named = lib.Sequential(name="my_sequential")
    named.add(lib.layers.Dense(2, name="layer1"))
    assert named.name == "my_sequential" and named.layers[0].name == "layer1"
    with pytest.raises(ValueError, match="unique names"):
        named.add(lib.layers.Dense(3, name="layer1"))


# ---------------------------------------------------------------------------- input shape
def test_weights_appear_when_a_layer_or_model_first_sees_data_as_in_keras():
    layer, klayer = sn.layers.Dense(3), keras.layers.Dense(3)
    assert layer.weights == [] and klayer.weights == []
    layer(np.ones((1, 4), "float32"))
    klayer(np.ones((1, 4), "float32"))
    assert [tuple(w.shape) for w in layer.weights] == [tuple(w.shape) for w in klayer.weights] == [
        (4, 3), (3,)]
    model, kmodel = sn.Sequential(three_dense(sn)), keras.Sequential(three_dense(keras))
    assert list(model.weights) == list(kmodel.weights) == []
    assert summary_rows(model) == summary_rows(kmodel) == (
        [("layer1 (Dense)", "?", "0 (unbuilt)"), ("layer2 (Dense)", "?", "0 (unbuilt)"),
         ("layer3 (Dense)", "?", "0 (unbuilt)")],
        ["Total params: 0", "Trainable params: 0", "Non-trainable params: 0"])
    for m in (model, kmodel):
        with pytest.raises(AttributeError, match="no defined output shape"):
            _ = m.output_shape
    model(np.ones((1, 4), "float32"))
    kmodel(np.ones((1, 4), "float32"))
    assert len(model.weights) == len(kmodel.weights) == 6
    # built by a call on one sample: both summaries show that batch size ("(1, 2)")
    (rows, totals), (krows, ktotals) = summary_rows(model), summary_rows(kmodel)
    assert rows == krows
    assert [shape for _, shape, _ in rows] == ["(1, 2)", "(1, 3)", "(1, 4)"]
    assert totals == ktotals == ["Total params: 35", "Trainable params: 35", "Non-trainable params: 0"]


def test_input_first_or_input_shape_argument_give_the_same_summary_as_keras():
    def with_input(lib):
        model = lib.Sequential()
        model.add(lib.Input(shape=(4,)))
        model.add(lib.layers.Dense(2, activation="relu", name="d"))
        return model

    def with_argument(lib):
        model = lib.Sequential()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.add(lib.layers.Dense(2, activation="relu", input_shape=(4,), name="d"))
        assert any("input_shape" in str(w.message) for w in caught)  # Keras' advice, in both
        return model

    for make in (with_input, with_argument):
        model, kmodel = make(sn), make(keras)
        assert [layer.name for layer in model.layers] == [layer.name for layer in kmodel.layers] == ["d"]
        assert len(model.weights) == len(kmodel.weights) == 2
        assert tuple(model.output_shape) == tuple(kmodel.output_shape) == (None, 2)
        assert_same_summary(model, kmodel)


def test_summary_between_add_calls_equal_keras():
    """The guide's debugging loop: add convolutions and poolings, print the summary, go on."""
    def start(lib):
        model = lib.Sequential(name="growing")
        model.add(lib.Input(shape=(50, 50, 3)))
        model.add(lib.layers.Conv2D(4, 5, strides=2, activation="relu", name="c1"))
        model.add(lib.layers.Conv2D(4, 3, activation="relu", name="c2"))
        model.add(lib.layers.MaxPooling2D(3, name="p1"))
        return model

    def finish(lib, model):
        model.add(lib.layers.Conv2D(4, 3, activation="relu", name="c3"))
        model.add(lib.layers.MaxPooling2D(2, name="p2"))
        model.add(lib.layers.GlobalMaxPooling2D(name="gmp"))
        model.add(lib.layers.Dense(10, name="logits"))

    model, kmodel = start(sn), start(keras)
    assert_same_summary(model, kmodel)
    assert summary_rows(model)[0][-1] == ("p1 (MaxPooling2D)", "(None, 7, 7, 4)", "0")
    finish(sn, model)
    finish(keras, kmodel)
    assert_same_summary(model, kmodel)
    model.set_weights(kmodel.get_weights())
    x = np.random.default_rng(1).random((2, 50, 50, 3)).astype("float32")
    assert_close(model.predict(x, verbose=0), np.asarray(kmodel(x)), FORWARD_RTOL, "the finished stack")


# ---------------------------------------------------------------------------- feature extraction
def conv_stack(lib):
    return lib.Sequential([
        lib.Input(shape=(20, 20, 3)),
        lib.layers.Conv2D(4, 5, strides=2, activation="relu", name="first"),
        lib.layers.Conv2D(4, 3, activation="relu", name="my_intermediate_layer"),
        lib.layers.Conv2D(4, 3, activation="relu", name="last"),
    ])


def test_feature_extraction_from_a_sequential_model_equal_keras():
    model, kmodel = conv_stack(sn), conv_stack(keras)
    model.set_weights(kmodel.get_weights())
    x = np.random.default_rng(2).random((1, 20, 20, 3)).astype("float32")
    every = sn.Model(inputs=model.inputs, outputs=[layer.output for layer in model.layers])
    kevery = keras.Model(inputs=kmodel.inputs, outputs=[layer.output for layer in kmodel.layers])
    out, kout = every(x), kevery(x)
    assert [np.shape(o) for o in out] == [tuple(o.shape) for o in kout] == [
        (1, 8, 8, 4), (1, 6, 6, 4), (1, 4, 4, 4)]
    for o, ko in zip(out, kout, strict=True):
        assert_close(o, np.asarray(ko), FORWARD_RTOL, "every layer's output")
    one = sn.Model(inputs=model.inputs, outputs=model.get_layer(name="my_intermediate_layer").output)
    kone = keras.Model(inputs=kmodel.inputs, outputs=kmodel.get_layer(name="my_intermediate_layer").output)
    assert_close(one(x), np.asarray(kone(x)), FORWARD_RTOL, "one intermediate layer's output")


# ---------------------------------------------------------------------------- transfer learning
def test_freezing_all_but_the_last_layer_trains_only_it_as_in_keras():
    def stack(lib):
        return lib.Sequential([lib.Input(shape=(12,)), lib.layers.Dense(8, activation="relu"),
                               lib.layers.Dense(8, activation="relu"), lib.layers.Dense(5)])

    model, kmodel = stack(sn), stack(keras)
    model.set_weights(kmodel.get_weights())
    start = [w.copy() for w in kmodel.get_weights()]
    for m in (model, kmodel):
        for layer in m.layers[:-1]:
            layer.trainable = False
    assert len(model.trainable_weights) == len(kmodel.trainable_weights) == 2
    assert len(model.non_trainable_weights) == len(kmodel.non_trainable_weights) == 4
    assert summary_rows(model)[1] == summary_rows(kmodel)[1] == [
        "Total params: 221", "Trainable params: 45", "Non-trainable params: 176"]
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(16, 12)).astype("float32"), rng.integers(0, 5, 16)
    for lib, m in ((sn, model), (keras, kmodel)):
        m.compile(optimizer=lib.optimizers.Adam(0.01),
                  loss=lib.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    khistory = kmodel.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    assert_close(history["loss"], khistory["loss"], TRAJECTORY_RTOL, "losses")
    for i, (w, kw, w0) in enumerate(zip(model.get_weights(), kmodel.get_weights(), start, strict=True)):
        assert_close(w, kw, TRAJECTORY_RTOL, f"weight {i} after 8 Adam steps")
        assert np.array_equal(w, w0) == (i < 4)  # the frozen layers kept their weights
