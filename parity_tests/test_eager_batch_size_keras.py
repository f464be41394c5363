"""Eager calls see the real batch size, as in Keras (scratchnet/subclassing.py).

keras.io's functional-API guide calls its first ``CustomRNN`` layer eagerly on a batch of one and
makes the recurrent state from ``inputs.shape[0]``. scratchnet traces a layer's (or subclassed
model's) ``call``; a trace for data (an eager call, a batch of ``fit``) now runs on inputs of that
batch size, so ``inputs.shape[0]`` and ``ops.shape(x)[0]`` are integers there, with a trace per
batch size met. Calls on KerasTensors keep the unknown batch size, as Keras' functional
construction does (and both libraries refuse ``ops.zeros((None, units))`` there).
"""

import keras
import numpy as np
import pytest

import scratchnet as sn
from parity_tests.driver import FORWARD_RTOL, TRAJECTORY_RTOL, assert_close, same_start

UNITS, STEPS, FEATURES = 8, 6, 5


def custom_rnn(lib, seen: list):
    """The guide's CustomRNN, in this file's words: a state of zeros for the batch, two tanh
    projections per time step, and a functional classifier on the stacked outputs. ``seen``
    collects the batch size ``call`` reads."""
    ops = lib.ops
    sequence = lib.Input((None, UNITS))
    pooled = lib.layers.GlobalAveragePooling1D(name="pool")(sequence)
    classifier = lib.Model(sequence, lib.layers.Dense(1, name="score")(pooled), name="classifier")

    class CustomRNN(lib.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.units = UNITS
            self.projection_1 = lib.layers.Dense(UNITS, activation="tanh", name="projection_1")
            self.projection_2 = lib.layers.Dense(UNITS, activation="tanh", name="projection_2")
            self.classifier = classifier

        def call(self, inputs):
            seen.append(inputs.shape[0])
            state = ops.zeros((inputs.shape[0], self.units))
            outputs = []
            for t in range(inputs.shape[1]):
                step = self.projection_1(inputs[:, t, :]) + self.projection_2(state)
                state = step
                outputs.append(step)
            return self.classifier(ops.stack(outputs, axis=1))

    return CustomRNN(name="custom_rnn")


def test_custom_rnn_called_eagerly_equals_keras():
    seen, kseen = [], []
    layer, klayer = custom_rnn(sn, seen), custom_rnn(keras, kseen)
    first = layer(np.zeros((1, STEPS, FEATURES), "float32"))
    kfirst = klayer(np.zeros((1, STEPS, FEATURES), "float32"))
    assert np.shape(first) == tuple(kfirst.shape) == (1, 1)
    assert seen == [1] and set(kseen) == {1}  # an integer batch size, not None
    assert [w.shape for w in layer.get_weights()] == [tuple(w.shape) for w in klayer.get_weights()]
    rng = np.random.default_rng(5)
    weights = [rng.normal(0, 0.4, w.shape).astype("float32") for w in klayer.get_weights()]
    klayer.set_weights(weights)
    layer.set_weights(weights)  # set after the first trace: the traced graph reads the new weights
    for batch in (1, 3, 1, 2):  # a trace per batch size, kept for the next call of that size
        x = rng.normal(size=(batch, STEPS, FEATURES)).astype("float32")
        assert_close(layer(x), np.asarray(klayer(x)), FORWARD_RTOL, f"CustomRNN, batch of {batch}")
    assert seen == [1, 3, 2]


def test_custom_rnn_on_a_keras_tensor_fails_in_both():
    """Functional construction: the batch size is unknown (None), and ``ops.zeros((None, 8))``
    fails in Keras too; scratchnet's error names the layer and the tracing."""
    with pytest.raises(TypeError, match="custom_rnn"):
        custom_rnn(keras, [])(keras.Input((STEPS, FEATURES)))
    with pytest.raises(TypeError, match='layer "custom_rnn".*could not be traced.*batch size is unknown'):
        custom_rnn(sn, [])(sn.Input((STEPS, FEATURES)))


def state_model(lib, static: bool):
    """A subclassed model whose call makes a state of ones for the batch, from
    ``ops.shape(x)[0]`` (or ``x.shape[0]`` with ``static``), as a recurrent state is made."""
    ops = lib.ops

    class StateModel(lib.Model):
        def __init__(self):
            super().__init__(name="state_model")
            self.hidden = lib.layers.Dense(4, activation="tanh", name="hidden")
            self.out = lib.layers.Dense(1, name="out")

        def call(self, x):
            batch = x.shape[0] if static else ops.shape(x)[0]
            state = ops.ones((batch, 4))
            return self.out(self.hidden(x) * state + 0.5 * state)

    return StateModel()


def fit_alike(model, kmodel, x, y, optimizer) -> None:
    """Both compiled with ``optimizer(lib)`` and MSE, fit 2 epochs in batches of 4 (10 samples:
    a last batch of 2) without shuffling: losses per epoch and weights at TRAJECTORY_RTOL."""
    for m, lib in ((model, sn), (kmodel, keras)):
        m.compile(optimizer(lib), "mse")
    history = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    khistory = kmodel.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    assert_close(history["loss"], khistory["loss"], TRAJECTORY_RTOL, "loss per epoch")
    for w, kw in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        assert_close(w, kw, TRAJECTORY_RTOL, "weights after fit")


def test_model_with_the_batch_size_in_call_trains_with_fit_as_keras():
    """fit with batches of 4 on 10 samples (the last batch has 2): each batch size gets its
    trace in scratchnet; Keras computes ops.shape(x)[0] as it runs. Weights after 2 epochs."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(10, 3)).astype("float32")
    y = rng.normal(size=(10, 1)).astype("float32")
    model, kmodel = state_model(sn, False), state_model(keras, False)
    model(x[:2])
    kmodel(x[:2])
    same_start(model, kmodel)
    fit_alike(model, kmodel, x, y, lambda lib: lib.optimizers.SGD(0.05))
    assert_close(model.predict(x, batch_size=3, verbose=0), kmodel.predict(x, batch_size=3, verbose=0),
                 FORWARD_RTOL, "predict in batches of 3 (and a last one of 1)")


def test_model_reading_x_shape_called_eagerly_equals_keras():
    """``x.shape[0]`` is an integer in an eager call in both libraries. (Keras' fit traces its
    step for an unknown batch size, where ``ops.ones((None, 4))`` fails; scratchnet's fit traces
    each batch size, so it trains there too: tests/test_eager_batch_size.py.)"""
    rng = np.random.default_rng(8)
    model, kmodel = state_model(sn, True), state_model(keras, True)
    model(np.zeros((2, 3), "float32"))
    kmodel(np.zeros((2, 3), "float32"))
    same_start(model, kmodel)
    for batch in (5, 2):
        x = rng.normal(size=(batch, 3)).astype("float32")
        assert_close(model(x), np.asarray(kmodel(x)), FORWARD_RTOL, f"x.shape[0] model, batch {batch}")


def test_rows_that_differ_along_the_batch_equal_keras():
    """An array made with the batch size whose rows differ (a per-sample offset,
    ``ops.arange(batch)``) is a batch of constants, each sample its own row."""
    def build(lib):
        ops = lib.ops

        class Offsets(lib.layers.Layer):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.dense = lib.layers.Dense(3, name="dense")

            def call(self, inputs):
                offsets = ops.reshape(ops.cast(ops.arange(inputs.shape[0]), "float32"), (-1, 1))
                rows = ops.tile(offsets, (1, 2))  # (batch, 2)
                return self.dense(rows) + self.dense(inputs) * offsets

        return Offsets(name="offsets")

    layer, klayer = build(sn), build(keras)
    rng = np.random.default_rng(9)
    x = rng.normal(size=(4, 2)).astype("float32")
    layer(x)
    klayer(x)
    weights = [rng.normal(0, 0.5, w.shape).astype("float32") for w in klayer.get_weights()]
    layer.set_weights(weights)
    klayer.set_weights(weights)
    for batch in (4, 3):
        x = rng.normal(size=(batch, 2)).astype("float32")
        assert_close(layer(x), np.asarray(klayer(x)), FORWARD_RTOL, f"per-sample rows, batch {batch}")


def test_layer_made_of_layers_with_its_state_trains_in_a_model_as_keras():
    """A recurrent layer made of layers (its state from ``ops.shape(inputs)[0]``) inside a
    subclassed model, trained with fit on batches of 4 and a last one of 2: the layer is traced
    for each batch size as the model is. Weights after 2 epochs."""
    def build(lib):
        ops = lib.ops

        class Recurrent(lib.layers.Layer):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.projection_1 = lib.layers.Dense(UNITS, activation="tanh", name="projection_1")
                self.projection_2 = lib.layers.Dense(UNITS, activation="tanh", name="projection_2")

            def call(self, inputs):
                state = ops.zeros((ops.shape(inputs)[0], UNITS))
                for t in range(STEPS):
                    state = self.projection_1(inputs[:, t, :]) + self.projection_2(state)
                return state

        class Net(lib.Model):
            def __init__(self):
                super().__init__(name="net")
                self.recurrent = Recurrent(name="recurrent")
                self.out = lib.layers.Dense(1, name="out")

            def call(self, x):
                return self.out(self.recurrent(x))

        return Net()

    rng = np.random.default_rng(11)
    x = rng.normal(size=(10, STEPS, FEATURES)).astype("float32")
    y = rng.normal(size=(10, 1)).astype("float32")
    model, kmodel = build(sn), build(keras)
    model(x[:1])
    kmodel(x[:1])
    same_start(model, kmodel)
    fit_alike(model, kmodel, x, y, lambda lib: lib.optimizers.Adam(0.01))
