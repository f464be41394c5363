"""Layers written the Keras way (``build(input_shape)``, ``add_weight(shape=...)``, ``call`` with
``ops``/NumPy) without Keras: the tape's gradients against float64 finite differences
(tests/gradcheck.py, REL_TOL 1e-6) for the layer's input and weights, as a model's first layer
and inside a layer made of layers; weights made in ``__init__``; a running total by
``assign_add``; ``add_weight``'s Keras spellings and defaults; saving; and the errors. Keras
parity: parity_tests/test_keras_style_layers_keras.py."""

import numpy as np
import pytest

import scratchnet as sn
from tests.gradcheck import REL_TOL, numeric_grad, rel_error

L = sn.layers
ops = sn.ops


class Linear(sn.Layer):
    def __init__(self, units=4, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal", name="w")
        self.b = self.add_weight(shape=(self.units,), initializer="random_normal", name="b")

    def call(self, inputs):
        return np.tanh(ops.matmul(inputs, self.w) + self.b) * 2.0

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class Gated(sn.Layer):
    """Two weight lists, a training branch, and a weight used twice."""

    def build(self, input_shape):
        self.ws = [self.add_weight(shape=(input_shape[-1], 3)), self.add_weight(shape=(input_shape[-1], 3))]
        self.scale = self.add_weight(shape=(), initializer="ones")

    def call(self, inputs, training=False):
        gate = 1 / (1 + np.exp(-(inputs @ self.ws[0])))
        out = gate * (inputs @ self.ws[1]) * self.scale + self.scale
        return out * 0.5 if training else out


class Antirectifier(sn.Layer):
    """keras.io's Antirectifier: ``inputs -= ...`` in ``call``, which on Keras' immutable tensors
    makes a new tensor (the caller's is unchanged)."""

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(2 * input_shape[-1], input_shape[-1]), initializer="he_normal")

    def call(self, inputs):
        inputs -= ops.mean(inputs, axis=-1, keepdims=True)
        inputs *= 1.5
        return ops.matmul(ops.concatenate([ops.relu(inputs), ops.relu(-inputs)], axis=-1), self.kernel)


@pytest.mark.parametrize("make", [lambda: Linear(3), lambda: Gated(), lambda: Antirectifier()])
def test_tape_gradients_match_finite_differences(make, float64):
    rng = np.random.default_rng(0)
    layer = make()
    x = rng.standard_normal((4, 5))
    layer.ensure_built((5,), rng)
    for training in (False, True):
        y = layer.forward(x, training=training)
        w = rng.standard_normal(y.shape)
        layer.forward(x, training=training)
        dx = layer.backward(w)

        def loss(w=w, training=training):
            return float(np.sum(w * layer.forward(x, training=training)))

        assert rel_error(dx, numeric_grad(loss, x)) < REL_TOL
        analytic = {name: p.grad.copy() for name, p in layer.params.items()}
        for name, p in layer.params.items():
            assert rel_error(analytic[name], numeric_grad(loss, p.value)) < REL_TOL, name


def test_in_place_operators_in_call_leave_the_callers_tensor_alone():
    """``inputs -= m`` in call: the layer's input is read again by the skip connection, in training
    (on the tape) and in predict (plain arrays), and the data given to predict stays as it was."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 4)).astype(np.float32)
    inputs = sn.Input((4,))
    model = sn.Model(inputs, L.Add()([Antirectifier()(inputs), inputs]), seed=0)
    kept = x.copy()
    out = model.predict(x, verbose=0)
    np.testing.assert_array_equal(x, kept)
    layer = model.layers[1]
    expected = layer.forward(x, training=False) + x
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    np.testing.assert_allclose(model(x, training=True), expected, rtol=1e-6)


def test_first_layer_trains_and_predict_needs_no_tape():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 5)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    model = sn.Sequential([L.Input((5,)), Linear(8), L.Dense(2)], seed=0)
    before = model.layers[0].w.numpy()
    model.compile(optimizer=sn.optimizers.Adam(0.05),
                  loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    history = model.fit(x, y, epochs=10, batch_size=16, verbose=0)
    assert not np.array_equal(model.layers[0].w.numpy(), before)  # its weights moved (no dL/dx wanted)
    assert history.history["loss"][-1] < history.history["loss"][0] and history.history["accuracy"][-1] > 0.9
    model.predict(x, verbose=0)
    assert model.layers[0]._taped_call is None  # inference: call ran on plain arrays


def test_a_layer_made_of_keras_style_layers():
    class Block(sn.Layer):
        def __init__(self):
            super().__init__()
            self.one, self.two = Linear(6), Linear(3)

        def call(self, inputs):
            return self.two(ops.relu(self.one(inputs)))

    rng = np.random.default_rng(2)
    block = Block()
    x = rng.standard_normal((3, 5)).astype(np.float32)
    y = block(x)
    one, two = block.one, block.two
    expected = np.tanh(np.maximum(np.tanh(x @ one.w.numpy() + one.b.numpy()) * 2, 0) @ two.w.numpy()
                       + two.b.numpy()) * 2
    np.testing.assert_allclose(y, expected, rtol=1e-5)
    assert [p.name for p in block.weights] == ["block/linear/w", "block/linear/b", "block/linear_1/w",
                                               "block/linear_1/b"]


def test_weights_in_init_a_running_total_and_keras_defaults():
    class Counter(sn.Layer):
        def __init__(self):
            super().__init__()
            self.total = self.add_weight(shape=(2,), initializer="zeros", trainable=False)
            self.w = self.add_weight((2, 2), "ones")  # Keras' positional (shape, initializer)

        def call(self, inputs):
            self.total.assign_add(ops.sum(inputs, axis=0))
            return inputs @ self.w + self.total

    layer = Counter()
    assert [p.name for p in layer.weights] == ["counter/variable_1", "counter/variable"]  # trainable first
    ones = np.ones((3, 2), np.float32)
    layer(ones)
    out = layer(ones)
    np.testing.assert_array_equal(layer.total.numpy(), [6.0, 6.0])
    np.testing.assert_array_equal(out, np.full((3, 2), 8.0))
    default = sn.Layer()
    param = default.add_weight(shape=(3, 4))  # Keras' default initializer: glorot_uniform
    limit = np.sqrt(6 / 7)
    assert param.shape == (3, 4) and np.all(np.abs(param.value) <= limit) and param.value.std() > 0


def test_config_files_and_summary(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 5)).astype(np.float32)
    model = sn.Sequential([L.Input((5,)), Linear(3, name="lin"), L.Dense(2)], seed=0)
    model.compile(optimizer="adam", loss="mse")
    for suffix in (".keras", ".npz"):
        model.save(tmp_path / f"m{suffix}")
        back = sn.load_model(tmp_path / f"m{suffix}", custom_objects={"Linear": Linear})
        np.testing.assert_array_equal(back.predict(x, verbose=0), model.predict(x, verbose=0))
    lines = []
    model.summary(print_fn=lines.append)
    assert any("lin (Linear)" in line and "18" in line for line in lines)


@pytest.mark.parametrize("make, error, match", [
    (lambda layer: layer.add_weight(shape=(2,), dtype="float16"), ValueError, "dtype='float16'"),
    (lambda layer: layer.add_weight(shape=(2,), colour="red"), TypeError, "colour"),
    (lambda layer: layer.add_weight(shape=(None, 2)), ValueError, "fully-defined"),
    (lambda layer: layer.add_weight(shape=(2,), initializer="nope"), ValueError, "initializer"),
])
def test_add_weight_errors(make, error, match):
    with pytest.raises(error, match=match):
        make(sn.Layer(name="plain"))


def test_own_weights_beside_weighted_layers_is_refused():
    class Mixed(sn.Layer):
        def __init__(self):
            super().__init__()
            self.dense = L.Dense(3)

        def build(self, input_shape):
            self.scale = self.add_weight(shape=(), initializer="ones")

        def call(self, inputs):
            return self.dense(inputs) * self.scale

    with pytest.raises(ValueError, match="has weights of its own and holds the layers"):
        Mixed()(np.ones((2, 4), np.float32))


def test_call_must_keep_the_batch_axis():
    class Total(sn.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],))

        def call(self, inputs):
            return ops.sum(inputs * self.w)

    with pytest.raises(ValueError, match="keep the batch axis"):
        Total()(np.ones((2, 4), np.float32))


def test_a_layer_of_two_inputs_matches_finite_differences(float64):
    class Sampling(sn.Layer):
        """The VAE example's layer, with a fixed epsilon (its draw is not what is checked)."""

        def __init__(self, epsilon):
            super().__init__()
            self.epsilon = epsilon

        def call(self, inputs):
            z_mean, z_log_var = inputs
            return z_mean + ops.exp(0.5 * z_log_var) * self.epsilon

    rng = np.random.default_rng(4)
    mean, log_var = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    layer = Sampling(rng.standard_normal((1, 2)))  # (one draw for the batch: the probe has 2 rows)
    layer.ensure_built([(2,), (2,)], rng)
    assert layer.output_shape == (2,)
    w = rng.standard_normal((3, 2))
    layer.forward([mean, log_var])
    d_mean, d_log_var = layer.backward(w)

    def loss():
        return float(np.sum(w * layer.forward([mean, log_var])))

    assert rel_error(d_mean, numeric_grad(loss, mean)) < REL_TOL
    assert rel_error(d_log_var, numeric_grad(loss, log_var)) < REL_TOL
    inputs = sn.Input((2,))
    out = Sampling(np.ones((1, 2)))([sn.layers.Dense(2)(inputs), sn.layers.Dense(2)(inputs)])
    assert sn.Model(inputs, out).predict(np.ones((4, 2), np.float32), verbose=0).shape == (4, 2)
