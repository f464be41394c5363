"""The loss terms beyond the compiled loss: ``add_loss`` of any shape and its refusals, and an
``activity_regularizer`` on a layer of several outputs (Keras' comparison:
parity_tests/test_loss_surface_keras.py; compute_loss overrides: tests/test_custom_compute_loss.py)."""

import numpy as np
import pytest

import scratchnet as sn
from tests.gradcheck import REL_TOL, numeric_grad, rel_error


def _model_adding(term_of):
    class Adds(sn.Model):
        def __init__(self):
            super().__init__()
            self.dense = sn.layers.Dense(2)

        def call(self, x):
            y = self.dense(x)
            self.add_loss(term_of(y))
            return y
    return Adds()


@pytest.mark.parametrize("constant", [1.0, np.float32(1.0), np.ones(3, np.float32)],
                         ids=["python float", "numpy scalar", "numpy array"])
def test_add_loss_of_a_constant_in_a_models_call_is_refused_as_keras_refuses_it(constant):
    model = _model_adding(lambda y: constant)
    with pytest.raises(ValueError, match=r"adds.*`add_loss\(\)` can only be called.*on a tensor input"):
        model(np.ones((4, 3), np.float32))


def test_add_loss_of_no_number_in_a_layers_call_is_refused():
    class Constant(sn.layers.Layer):
        def call(self, x):
            self.add_loss(None)
            return x

    with pytest.raises(ValueError, match=r'"constant".*Received invalid value: None'):
        Constant(name="constant")(np.ones((4, 3), np.float32))


def test_a_per_sample_add_loss_term_is_listed_as_it_is_and_summed_into_the_loss():
    model = _model_adding(lambda y: 0.1 * sn.ops.sum(sn.ops.square(y), axis=-1))
    x = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
    y_pred = model(x)
    (term,) = model.losses
    np.testing.assert_allclose(term, 0.1 * np.sum(y_pred**2, axis=-1), rtol=1e-6)
    model.compile(optimizer=sn.optimizers.SGD(0.0), loss="mse")
    loss = model.evaluate(x, np.zeros((4, 2), np.float32), verbose=0)
    np.testing.assert_allclose(loss, np.mean(y_pred**2) + 0.1 * np.sum(y_pred**2), rtol=1e-5)


def test_a_per_sample_add_loss_terms_gradient_in_float64(rng):
    sn.config.set_floatx("float64")
    model = _model_adding(lambda y: 0.3 * sn.ops.abs(y) + sn.ops.square(y))  # a (batch, 2) term
    x = rng.standard_normal((5, 3))
    y = rng.standard_normal((5, 2))
    model.compile(optimizer="sgd", loss="mse")
    _, grads = model.loss_and_grads(x, y)
    for p, g in zip(model.weights, grads, strict=True):
        numeric = numeric_grad(lambda: model.loss_and_grads(x, y)[0], p.value)
        assert rel_error(g, numeric) < REL_TOL, p.name


def test_an_activity_penalty_on_each_output_of_an_lstm_in_float64(rng):
    """``LSTM(return_state=True)``: the output and both states penalized, the cell state read by no
    loss (its gradient is its penalty's alone): whole-model gradients against finite differences."""
    sn.config.set_floatx("float64")
    inputs = sn.Input((3, 2))
    out, h, _ = sn.layers.LSTM(4, return_state=True, activity_regularizer=sn.regularizers.L1L2(0.01, 0.1),
                               name="lstm")(inputs)
    model = sn.Model(inputs, sn.layers.Dense(2)(sn.layers.Concatenate()([out, h])))
    model.compile(optimizer="sgd", loss="mse")
    x = rng.standard_normal((5, 3, 2))
    y = rng.standard_normal((5, 2))
    model(x)
    assert len(model.losses) == 3
    _, grads = model.loss_and_grads(x, y)
    for p, g in zip(model.weights, grads, strict=True):
        numeric = numeric_grad(lambda: model.loss_and_grads(x, y)[0], p.value)
        assert rel_error(g, numeric) < REL_TOL, p.name
