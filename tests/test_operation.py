"""``sn.Operation`` (scratchnet/operation.py): a subclass writes ``call`` with ops; on arrays it is
its call, on KerasTensors a node whose backward pass comes from the gradient tape."""

import numpy as np
import pytest

import scratchnet as sn
from tests.gradcheck import REL_TOL, numeric_grad, rel_error

L = sn.layers


class Swish(sn.Operation):
    def __init__(self, beta=1.0, name=None):
        super().__init__(name=name)
        self.beta = beta

    def call(self, x):
        return x * sn.ops.sigmoid(self.beta * x)


class WeightedSum(sn.Operation):
    """Two tensors and a keyword value; its output shape declared."""

    def call(self, a, b, alpha=0.5):
        return a * alpha + sn.ops.tanh(b) * (1.0 - alpha)

    def compute_output_spec(self, a, b, alpha=0.5):
        return sn.KerasTensor(a.shape, a.dtype)


def test_on_arrays_an_operation_is_its_call():
    x = np.linspace(-2, 2, 6).reshape(2, 3)
    np.testing.assert_allclose(Swish(2.0)(x), x / (1 + np.exp(-2 * x)), rtol=1e-12)


def test_in_a_graph_it_is_an_operation_node_with_the_shape_found():
    a = sn.Input((None, 3))
    y = Swish(name="swish")(a)
    assert y.shape == (None, None, 3)
    model = sn.Model(a, L.Dense(2)(y))
    assert [type(op).__name__ for op in model.operations] == ["InputLayer", "Swish", "Dense"]
    assert "swish" not in [layer.name for layer in model.layers]


def test_gradients_through_operations_match_finite_differences():
    sn.config.set_floatx("float64")
    sn.utils.set_random_seed(0)
    a, b = sn.Input((3,)), sn.Input((3,))
    h = WeightedSum()(L.Dense(3)(a), Swish(1.5)(b), alpha=0.25)
    model = sn.Model([a, b], L.Dense(1)(h))
    model.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(1)
    x = [rng.standard_normal((4, 3)), rng.standard_normal((4, 3))]
    y = rng.standard_normal((4, 1))
    _, grads = model.loss_and_grads(x, y)

    def loss():
        return float(np.mean((model.predict(x, verbose=0) - y) ** 2))

    for grad, param in zip(grads, model.weights, strict=True):  # (get_weights order)
        assert rel_error(grad, numeric_grad(loss, param.value)) < REL_TOL


def test_a_function_runs_an_operation():
    a = sn.Input((4,))
    fn = sn.Function(a, Swish()(a))
    x = np.arange(8.0).reshape(2, 4) - 3
    np.testing.assert_allclose(fn(x), Swish()(x).astype(np.float32), rtol=1e-6)


def test_bad_names_and_calls_are_refused():
    with pytest.raises(ValueError, match="cannot contain character `/`"):
        Swish(name="a/b")
    with pytest.raises(ValueError, match="every positional argument must be a KerasTensor"):
        WeightedSum()(sn.Input((3,)), np.ones((1, 3)))
    with pytest.raises(NotImplementedError):
        sn.Operation()(np.ones(2))
