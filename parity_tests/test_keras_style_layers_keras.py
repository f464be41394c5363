"""Layers written the Keras way (``build(input_shape)``, ``add_weight(shape=..., ...)``, ``call``
with ``ops``), the same class body run by Keras 3.15 and by scratchnet (the import swapped): the
outputs (FORWARD_RTOL), the gradients through the tape (GRAD_RTOL), a fit of a few epochs
(TRAJECTORY_RTOL), a layer made of such layers, Keras' non-trainable running total, and `.keras`
files both ways with custom_objects. The examples follow Keras' guide "Making new layers and
models via subclassing". Without Keras: tests/test_keras_style_layers.py."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import scratchnet as sn
from parity_tests.driver import FORWARD_RTOL, GRAD_RTOL, TRAJECTORY_RTOL, assert_close


def linear_class(lib):
    """The guide's ``Linear`` layer, for ``lib`` = keras or scratchnet."""

    class Linear(lib.Layer):
        def __init__(self, units=32, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal",
                                     trainable=True, name="w")
            self.b = self.add_weight(shape=(self.units,), initializer="zeros", trainable=True, name="b")

        def call(self, inputs):
            return lib.ops.matmul(inputs, self.w) + self.b

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    return Linear


def mlp_block_class(lib):
    """The guide's ``MLPBlock``: a layer made of three Linear layers."""
    Linear = linear_class(lib)

    class MLPBlock(lib.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.linear_1 = Linear(8)
            self.linear_2 = Linear(6)
            self.linear_3 = Linear(1)

        def call(self, inputs):
            x = lib.ops.relu(self.linear_1(inputs))
            x = lib.ops.tanh(self.linear_2(x))
            return self.linear_3(x)

    return MLPBlock


def antirectifier_class(lib):
    """keras.io's ``Antirectifier``: its ``call`` writes ``inputs -= ...`` (a new tensor in Keras)."""

    class Antirectifier(lib.layers.Layer):
        def __init__(self, initializer="he_normal", **kwargs):
            super().__init__(**kwargs)
            self.initializer = lib.initializers.get(initializer)

        def build(self, input_shape):
            output_dim = input_shape[-1]
            self.kernel = self.add_weight(shape=(output_dim * 2, output_dim), initializer=self.initializer,
                                          name="kernel", trainable=True)

        def call(self, inputs):
            inputs -= lib.ops.mean(inputs, axis=-1, keepdims=True)
            pos = lib.ops.relu(inputs)
            neg = lib.ops.relu(-inputs)
            concatenated = lib.ops.concatenate([pos, neg], axis=-1)
            return lib.ops.matmul(concatenated, self.kernel)

        def get_config(self):
            base_config = super().get_config()
            config = {"initializer": lib.initializers.serialize(self.initializer)}
            return dict(list(base_config.items()) + list(config.items()))

    return Antirectifier


def _model(lib, make_layer, seed=0):
    inputs = lib.Input((5,))
    return lib.Model(inputs, lib.layers.Dense(3)(make_layer()(inputs)))


def _same_weights(model, kmodel, seed=0):
    rng = np.random.default_rng(seed)
    weights = [rng.normal(0, 0.4, w.shape).astype(np.float32) for w in kmodel.get_weights()]
    kmodel.set_weights(weights)
    model.set_weights(weights)


@pytest.mark.parametrize("which", ["linear", "mlp_block", "antirectifier"])
def test_forward_gradients_and_fit_match_keras(which):
    make = {"linear": lambda lib: (lambda: linear_class(lib)(4)),
            "mlp_block": lambda lib: (lambda: mlp_block_class(lib)()),
            "antirectifier": lambda lib: (lambda: antirectifier_class(lib)())}[which]
    model, kmodel = _model(sn, make(sn)), _model(keras, make(keras))
    assert [w.shape for w in model.get_weights()] == [tuple(w.shape) for w in kmodel.get_weights()]
    _same_weights(model, kmodel)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(16, 5)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    assert_close(model.predict(x, verbose=0), np.asarray(kmodel(x)), FORWARD_RTOL, "forward")

    loss = sn.losses.SparseCategoricalCrossentropy(from_logits=True)
    kloss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    with tf.GradientTape() as tape:
        value = kloss(y, kmodel(x, training=True))
    kgrads = tape.gradient(value, kmodel.trainable_weights)
    model.compile(optimizer=sn.optimizers.Adam(0.01), loss=loss)
    _, grads = model.loss_and_grads(x, y)
    for param, g, kg in zip(model.trainable_weights, grads, kgrads, strict=True):
        assert_close(g, np.asarray(kg), GRAD_RTOL, f'gradient of "{param.name}"')

    kmodel.compile(optimizer=keras.optimizers.Adam(0.01), loss=kloss)
    history = model.fit(x, y, epochs=3, batch_size=4, shuffle=False, verbose=0)
    khistory = kmodel.fit(x, y, epochs=3, batch_size=4, shuffle=False, verbose=0)
    assert_close(history.history["loss"], khistory.history["loss"], TRAJECTORY_RTOL, "losses")
    for param, kw in zip(model.weights, kmodel.get_weights(), strict=True):
        assert_close(param.value, kw, TRAJECTORY_RTOL, f'"{param.name}" after 12 Adam steps')


def test_weights_made_in_init_and_a_running_total():
    """The guide's first Linear (weights made in __init__, the input size given) and its
    ComputeSum (a non-trainable weight that call() adds to with assign_add)."""
    def classes(lib):
        class Linear(lib.Layer):
            def __init__(self, units=4, input_dim=5):
                super().__init__()
                self.w = self.add_weight(shape=(input_dim, units), initializer="random_normal")
                self.b = self.add_weight(shape=(units,), initializer="zeros")

            def call(self, inputs):
                return lib.ops.matmul(inputs, self.w) + self.b

        class ComputeSum(lib.Layer):
            def __init__(self, input_dim):
                super().__init__()
                self.total = self.add_weight(initializer="zeros", shape=(input_dim,), trainable=False)

            def call(self, inputs):
                self.total.assign_add(lib.ops.sum(inputs, axis=0))
                return self.total

        return Linear, ComputeSum

    (Linear, ComputeSum), (KLinear, KComputeSum) = classes(sn), classes(keras)
    layer, klayer = Linear(), KLinear()
    klayer.set_weights(layer.get_weights())
    x = np.random.default_rng(2).normal(size=(3, 5)).astype(np.float32)
    assert_close(layer(x), np.asarray(klayer(x)), FORWARD_RTOL, "Linear from __init__")
    # Keras' automatic names (its layer and variable counters are global: compare the pattern)
    assert [p.name for p in layer.weights] == ["linear/variable", "linear/variable_1"]
    assert [w.path.split("/")[1].rstrip("_0123456789") for w in klayer.weights] == ["variable"] * 2
    counter, kcounter = ComputeSum(2), KComputeSum(2)
    ones = np.ones((2, 2), np.float32)
    for _ in range(2):
        out, kout = counter(ones), kcounter(ones)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(kout))
    np.testing.assert_array_equal(np.asarray(out), [4.0, 4.0])
    assert len(counter.trainable_weights) == len(kcounter.trainable_weights) == 0
    assert len(counter.non_trainable_weights) == len(kcounter.non_trainable_weights) == 1


def test_keras_files_both_ways(tmp_path):
    KLinear = keras.saving.register_keras_serializable(package="guide")(linear_class(keras))
    Linear = linear_class(sn)
    kmodel = _model(keras, lambda: KLinear(4))
    model = _model(sn, lambda: Linear(4))
    _same_weights(model, kmodel)
    x = np.random.default_rng(3).normal(size=(4, 5)).astype(np.float32)
    kmodel.save(tmp_path / "k.keras")
    back = sn.load_model(tmp_path / "k.keras", custom_objects={"guide>Linear": Linear})
    assert_close(back.predict(x, verbose=0), np.asarray(kmodel(x)), FORWARD_RTOL, "Keras -> sn")
    model.save(tmp_path / "s.keras")
    kback = keras.saving.load_model(tmp_path / "s.keras", custom_objects={"Linear": KLinear})
    assert_close(np.asarray(kback(x)), model.predict(x, verbose=0), FORWARD_RTOL, "sn -> Keras")


def test_add_loss_joins_the_loss_as_in_keras():
    """The guide's ActivityRegularizationLayer (``self.add_loss(rate * ops.mean(inputs))``) and a
    Linear that adds an L2 term of its own weight: losses of 3 epochs of SGD and the weights."""
    def classes(lib):
        class ActivityRegularizationLayer(lib.Layer):
            def __init__(self, rate=1e-2):
                super().__init__()
                self.rate = rate

            def call(self, inputs):
                self.add_loss(self.rate * lib.ops.mean(inputs))
                return inputs

        class PenalizedLinear(linear_class(lib)):
            def call(self, inputs):
                self.add_loss(0.05 * lib.ops.sum(self.w * self.w))
                return super().call(inputs)

        return ActivityRegularizationLayer, PenalizedLinear

    def model(lib):
        Activity, Penalized = classes(lib)
        inputs = lib.Input((5,))
        x = Activity(0.1)(Penalized(4)(inputs))
        return lib.Model(inputs, lib.layers.Dense(2)(x))

    ours, theirs = model(sn), model(keras)
    _same_weights(ours, theirs)
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(12, 5)).astype(np.float32), rng.integers(0, 2, 12)
    ours.compile(optimizer=sn.optimizers.SGD(0.1),
                 loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    theirs.compile(optimizer=keras.optimizers.SGD(0.1),
                   loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = ours.fit(x, y, epochs=3, batch_size=4, shuffle=False, verbose=0)
    khistory = theirs.fit(x, y, epochs=3, batch_size=4, shuffle=False, verbose=0)
    assert_close(history.history["loss"], khistory.history["loss"], TRAJECTORY_RTOL, "losses")
    for param, kw in zip(ours.weights, theirs.get_weights(), strict=True):
        assert_close(param.value, kw, TRAJECTORY_RTOL, f'"{param.name}" after 9 SGD steps')
    assert_close(ours.evaluate(x, y, verbose=0), theirs.evaluate(x, y, verbose=0), FORWARD_RTOL,
                 "evaluate (the terms join it too)")


def test_keras_rnn_docstring_cell_with_keras_build():
    """keras.layers.RNN's docstring cell, written for Keras (``build(self, input_shape)``), in an
    RNN layer: outputs and 6 Adam steps against Keras."""
    def cell_class(lib):
        class MinimalRNNCell(lib.Layer):
            def __init__(self, units, **kwargs):
                super().__init__(**kwargs)
                self.units = units
                self.state_size = units

            def build(self, input_shape):
                self.kernel = self.add_weight(shape=(input_shape[-1], self.units),
                                              initializer="uniform", name="kernel")
                self.recurrent_kernel = self.add_weight(shape=(self.units, self.units),
                                                        initializer="uniform", name="recurrent_kernel")

            def call(self, inputs, states):
                prev_output = states[0]
                h = lib.ops.matmul(inputs, self.kernel)
                output = h + lib.ops.matmul(prev_output, self.recurrent_kernel)
                return output, [output]

        return MinimalRNNCell

    def model(lib):
        inputs = lib.Input((4, 3))
        return lib.Model(inputs, lib.layers.Dense(2)(lib.layers.RNN(cell_class(lib)(5))(inputs)))

    ours, theirs = model(sn), model(keras)
    _same_weights(ours, theirs)
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(8, 4, 3)).astype(np.float32), rng.integers(0, 2, 8)
    assert_close(ours.predict(x, verbose=0), np.asarray(theirs(x)), FORWARD_RTOL, "forward")
    for m, opt, loss in ((ours, sn.optimizers.Adam(0.01), sn.losses.SparseCategoricalCrossentropy(True)),
                         (theirs, keras.optimizers.Adam(0.01),
                          keras.losses.SparseCategoricalCrossentropy(True))):
        m.compile(optimizer=opt, loss=loss)
        m.fit(x, y, epochs=3, batch_size=4, shuffle=False, verbose=0)
    for param, kw in zip(ours.weights, theirs.get_weights(), strict=True):
        assert_close(param.value, kw, TRAJECTORY_RTOL, f'"{param.name}" after 6 Adam steps')


def test_a_layer_called_on_a_list_of_tensors_as_in_keras():
    """A Keras-style layer of two inputs (``call([a, b])``, ``build`` given a list of shapes), as
    the VAE example's Sampling layer is called: outputs, both inputs' gradients and 6 Adam steps."""
    def model(lib):
        class Gate(lib.Layer):
            def build(self, input_shape):
                self.w = self.add_weight(shape=(input_shape[1][-1],), initializer="ones", name="w")

            def call(self, inputs):
                a, b = inputs
                return a * lib.ops.sigmoid(b * self.w)

        inputs = lib.Input((5,))
        a, b = lib.layers.Dense(3)(inputs), lib.layers.Dense(3)(inputs)
        return lib.Model(inputs, lib.layers.Dense(2)(Gate()([a, b])))

    ours, theirs = model(sn), model(keras)
    _same_weights(ours, theirs)
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(8, 5)).astype(np.float32), rng.integers(0, 2, 8)
    assert_close(ours.predict(x, verbose=0), np.asarray(theirs(x)), FORWARD_RTOL, "forward")
    for m, opt, loss in ((ours, sn.optimizers.Adam(0.01), sn.losses.SparseCategoricalCrossentropy(True)),
                         (theirs, keras.optimizers.Adam(0.01),
                          keras.losses.SparseCategoricalCrossentropy(True))):
        m.compile(optimizer=opt, loss=loss)
        m.fit(x, y, epochs=3, batch_size=4, shuffle=False, verbose=0)
    for param, kw in zip(ours.weights, theirs.get_weights(), strict=True):
        assert_close(param.value, kw, TRAJECTORY_RTOL, f'"{param.name}" after 6 Adam steps')


def variable_layer_classes(lib):
    """Layers that make their weights with ``keras.Variable`` set as attributes (in ``__init__``
    and in ``build``), which Keras tracks as the layer's weights."""

    class Scale(lib.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.alpha = lib.Variable(initializer=np.float32(1.5), name="alpha")
            self.calls = lib.Variable(0.0, trainable=False, name="calls")

        def build(self, input_shape):
            self.w = lib.Variable(initializer="glorot_uniform", shape=(input_shape[-1], 4), name="w")

        def call(self, inputs):
            self.calls.assign_add(1.0)
            return lib.ops.tanh(lib.ops.matmul(inputs, self.w)) * self.alpha

    return Scale


def test_keras_variables_set_as_attributes_are_weights_as_in_keras():
    """``self.alpha = keras.Variable(...)`` in __init__ and ``self.w = keras.Variable(...)`` in
    build become the layer's weights in both frameworks (the same counts, shapes, trainability and
    order), and train the same: forward (FORWARD_RTOL), gradients (GRAD_RTOL), 12 Adam steps
    (TRAJECTORY_RTOL)."""
    def model_of(lib):
        inputs = lib.Input((5,))
        return lib.Model(inputs, lib.layers.Dense(3)(variable_layer_classes(lib)(name="scale")(inputs)))

    model, kmodel = model_of(sn), model_of(keras)
    shapes = [(w.shape, w.trainable) for w in model.layers[1].weights]
    assert shapes == [(tuple(w.shape), w.trainable) for w in kmodel.layers[1].weights]
    assert shapes == [((), True), ((5, 4), True), ((), False)]  # trainable first, as Keras lists
    assert [p.name for p in model.layers[1].weights] == ["scale/alpha", "scale/w", "scale/calls"]
    # Keras' path of a variable made in __init__ lacks the layer's name (made outside its name
    # scope); scratchnet names every weight "<layer>/<name>", the key of its optimizer state,
    # which must not collide across layers (docs/parity-notes.md)
    assert [w.path for w in kmodel.layers[1].weights] == ["alpha", "scale/w", "calls"]
    _same_weights(model, kmodel)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(16, 5)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    assert_close(model.predict(x, verbose=0), np.asarray(kmodel(x)), FORWARD_RTOL, "forward")
    loss = sn.losses.SparseCategoricalCrossentropy(from_logits=True)
    kloss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    with tf.GradientTape() as tape:
        value = kloss(y, kmodel(x, training=True))
    kgrads = tape.gradient(value, kmodel.trainable_weights)
    model.compile(optimizer=sn.optimizers.Adam(0.01), loss=loss)
    _, grads = model.loss_and_grads(x, y)  # aligned with model.weights: keep the trainable ones
    grads = [g for param, g in zip(model.weights, grads, strict=True) if param.trainable]
    for param, g, kg in zip(model.trainable_weights, grads, kgrads, strict=True):
        assert_close(g, np.asarray(kg), GRAD_RTOL, f'gradient of "{param.name}"')
    kmodel.compile(optimizer=keras.optimizers.Adam(0.01), loss=kloss)
    model.fit(x, y, epochs=3, batch_size=4, shuffle=False, verbose=0)
    kmodel.fit(x, y, epochs=3, batch_size=4, shuffle=False, verbose=0)
    for param, kw in zip(model.trainable_weights, kmodel.trainable_weights, strict=True):
        assert_close(param.value, np.asarray(kw), TRAJECTORY_RTOL, f'"{param.name}" after 12 Adam steps')


def test_standalone_variables_as_keras_makes_them():
    """``keras.Variable`` on its own: dtype inference, shapes, paths under ``name_scope``,
    assignment and arithmetic, as Keras 3 gives them."""
    for lib in (sn, keras):
        with lib.name_scope("outer"):
            with lib.name_scope("inner"):
                scoped = lib.Variable(np.zeros(2, np.float32), name="v")
        made = {
            "array64": lib.Variable(np.ones((2, 3))),
            "int": lib.Variable(3),
            "float": lib.Variable(2.5),
            "list": lib.Variable([1.0, 2.0]),
            "init": lib.Variable("ones", shape=(2,), dtype="float32", trainable=False),
            "dtype": lib.Variable(1, dtype="float32"),
        }
        seen = {key: (str(np.asarray(v).dtype), tuple(v.shape), v.trainable, np.asarray(v).tolist())
                for key, v in made.items()}
        made["list"].assign(made["list"] * 3)
        made["init"].assign_sub(np.ones(2, np.float32))
        seen["after"] = (np.asarray(made["list"]).tolist(), np.asarray(made["init"]).tolist(),
                         np.asarray(made["list"] + 1).tolist())
        seen["path"] = scoped.path
        if lib is sn:
            ours = seen
    assert ours == seen
    assert ours["path"] == "outer/inner/v"


def test_variable_errors_name_the_problem():
    with pytest.raises(ValueError, match="the `shape` argument should be specified"):
        sn.Variable("zeros")
    with pytest.raises(ValueError, match=r"initial value has shape \(2,\), which does not match the "
                                         r"shape argument \(3,\)"):
        sn.Variable([1.0, 2.0], shape=(3,))
    with pytest.raises(TypeError, match="expected a numeric initial value"):
        sn.Variable(["a", "b"])
    with pytest.raises(ValueError, match=r"device: 'gpu:0' is not where the '(numpy|numba)' backend "
                                         r"computes \(the CPU\)"):
        sn.device("gpu:0")
