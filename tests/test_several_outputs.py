"""Keras-style layers whose ``call`` returns several tensors, without Keras: the tape's and a traced
layer's gradients with one upstream gradient per output (None for an unused one) against float64
finite differences (tests/gradcheck.py); a subclassed model's ``self.add_loss`` in ``call`` and
its errors. Keras parity: parity_tests/test_several_outputs_keras.py."""

import numpy as np
import pytest

import scratchnet as sn
from tests.gradcheck import REL_TOL, numeric_grad, rel_error

L = sn.layers
ops = sn.ops


class TwoHeads(sn.Layer):
    """Weights of its own (run by the tape) and a tuple of two outputs of different shapes."""

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], 3), initializer="random_normal", name="w")

    def call(self, inputs):
        h = ops.tanh(ops.matmul(inputs, self.w))
        return h, ops.sum(h * inputs[:, :3], axis=-1, keepdims=True) * 2.0


class Heads(sn.Layer):
    """A layer made of layers returning a list of three tensors (the VAE Encoder's form)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.a = L.Dense(3, activation="tanh")
        self.b = L.Dense(2)

    def call(self, inputs):
        h = self.a(inputs)
        return [h, self.b(h), h * 3.0]


@pytest.mark.parametrize("make, structure", [(TwoHeads, tuple), (Heads, list)])
def test_gradients_of_several_outputs_match_finite_differences(make, structure, float64):
    rng = np.random.default_rng(0)
    layer = make()
    x = rng.standard_normal((4, 5))
    eager = layer(x)
    assert type(eager) is structure
    ys = layer.forward(x, training=True)
    weights = [rng.standard_normal(y.shape) for y in ys]
    for unused in (None, 1):  # every output read, then one that no loss reads (its gradient None)
        ws = [None if k == unused else w for k, w in enumerate(weights)]
        layer.forward(x, training=True)
        dx = layer.backward(ws)

        def loss(ws=ws):
            return float(sum(np.sum(w * y) for w, y in zip(ws, layer.forward(x, training=True), strict=True)
                             if w is not None))

        assert rel_error(dx, numeric_grad(loss, x)) < REL_TOL
        params = [p for p in layer.weights if p.trainable]
        analytic = [p.grad.copy() for p in params]
        for p, grad in zip(params, analytic, strict=True):
            assert rel_error(grad, numeric_grad(loss, p.value)) < REL_TOL, p.name


def test_a_functional_model_reads_each_output():
    inputs = sn.Input((5,))
    h, s = TwoHeads(name="heads")(inputs)
    assert isinstance((h, s), tuple) and h.shape == (None, 3) and s.shape == (None, 1)
    model = sn.Model(inputs, [h, s])
    out = model.predict(np.ones((2, 5), np.float32), verbose=0)
    assert [o.shape for o in out] == [(2, 3), (2, 1)]
    rows = {row[0]: row for row in model._summary_rows(model.layers)[1]}
    assert rows["heads (TwoHeads)"][1] == "[(None, 3), (None, 1)]"


class WithLoss(sn.Model):
    def __init__(self, term="mean", **kwargs):
        super().__init__(**kwargs)
        self.dense = L.Dense(2)
        self.term = term

    def call(self, inputs):
        y = self.dense(inputs)
        if self.term == "mean":
            self.add_loss(0.5 * ops.mean(ops.square(y)))
        elif self.term == "input":  # no weight before it: a constant term, no gradient
            self.add_loss(ops.mean(inputs))
        else:
            self.add_loss(y)  # a tensor of the batch, not a scalar
        return y


def test_add_loss_in_a_subclassed_models_call_joins_the_loss_and_gradient():
    model = WithLoss()
    x = np.random.default_rng(1).standard_normal((4, 3)).astype("float32")
    y = model(x)
    assert len(model.losses) == 1
    np.testing.assert_allclose(model.losses[0], 0.5 * np.mean(np.square(y)), rtol=1e-6)
    model.compile(sn.optimizers.SGD(0.1), loss="mse")
    kernel, bias = model.get_weights()
    y = x @ kernel + bias
    history = model.fit(x, np.zeros_like(y), epochs=1, batch_size=4, verbose=0).history
    # loss = mse(0, y) + 0.5 * mean(y^2) = 1.5 * mean(y^2); its gradient 3 * x^T y / y.size
    np.testing.assert_allclose(history["loss"][0], 1.5 * np.mean(np.square(y)), rtol=1e-5)
    np.testing.assert_allclose(model.get_weights()[0], kernel - 0.1 * 3 * x.T @ y / y.size, rtol=1e-5,
                               atol=1e-6)


def test_an_add_loss_term_of_the_input_alone_adds_to_the_loss_only():
    model = WithLoss(term="input")
    x = np.random.default_rng(2).standard_normal((4, 3)).astype("float32")
    model.compile(sn.optimizers.SGD(0.1), loss="mse")
    model(x)
    kernel, bias = model.get_weights()
    y = x @ kernel + bias
    history = model.fit(x, np.zeros_like(y), epochs=1, batch_size=4, verbose=0).history
    np.testing.assert_allclose(history["loss"][0], np.mean(np.square(y)) + np.mean(x), rtol=1e-5)
    np.testing.assert_allclose(model.get_weights()[0], kernel - 0.1 * 2 * x.T @ y / y.size, rtol=1e-5,
                               atol=1e-6)


def test_add_loss_errors_name_the_model():
    model = WithLoss(term="tensor")  # a tensor of the batch: listed as it is, as Keras lists it
    y = model(np.ones((2, 3), np.float32))
    np.testing.assert_array_equal(model.losses[0], y)
    with pytest.raises(ValueError, match="inside the model's call"):
        WithLoss().add_loss(1.0)
