"""scratchnet.layers.operations: the ``ops.add`` / ``ops.multiply`` nodes Keras' builders make with
tensor arithmetic (MobileNetV3's ``ReLU(6.0)(x + 3.0) * (1.0 / 6.0)``, ConvNeXt's ``inputs + y``).
Values, finite differences in float64 (a constant, two tensors, broadcasting), their place in a
functional model (in ``model.operations`` and the summary, not in ``model.layers`` or the
weights), training through them, and errors."""

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.layers import operations
from tests.gradcheck import numeric_grad, rel_error

L = sn.layers


def _check_gradients(op, xs, rng):
    """``op.backward`` against central differences of ``sum(w * op(xs))`` for every tensor."""
    y = op.forward(xs if isinstance(xs, list) else xs)
    w = rng.normal(size=y.shape)

    def loss():
        return float(np.sum(w * op.forward(xs)))

    loss()
    grads = op.backward(w)
    for x, grad in zip(xs if isinstance(xs, list) else [xs], grads if isinstance(xs, list) else [grads],
                       strict=True):
        assert grad.shape == x.shape
        assert rel_error(grad, numeric_grad(loss, x)) < 1e-6


def test_constant_operands_as_keras_computes_them(rng):
    """``x + 3.0`` and ``x * (1/6)``: the constant rounded to the data's type first, as Keras
    converts a Python float (so ``x * float32(1/6)`` exactly)."""
    x = rng.normal(size=(2, 3, 4)).astype("float32")
    add, mul = operations.Add(constant=3.0), operations.Multiply(constant=1.0 / 6.0)
    add.ensure_built(x.shape[1:])
    mul.ensure_built(x.shape[1:])
    np.testing.assert_array_equal(add.forward(x), x + np.float32(3.0))
    np.testing.assert_array_equal(mul.forward(x), x * np.float32(1.0 / 6.0))
    assert mul.forward(x).dtype == np.float32


@pytest.mark.parametrize("cls", [operations.Add, operations.Multiply])
def test_gradients_match_finite_differences(cls, float64, rng):
    op = cls(constant=-0.7)
    x = rng.normal(size=(2, 3, 4))
    op.ensure_built(x.shape[1:])
    _check_gradients(op, x, rng)
    op = cls()  # two tensors, the second broadcast along the spatial axes (a squeeze-and-excitation)
    a, b = rng.normal(size=(2, 3, 3, 4)), rng.normal(size=(2, 1, 1, 4))
    op.ensure_built([a.shape[1:], b.shape[1:]])
    _check_gradients(op, [a, b], rng)


def test_operations_are_nodes_not_layers():
    """In a functional model: run and listed by ``model.operations`` and the summary (Keras'
    ``add (Add)`` rows), left out of ``model.layers``, the weights and the parameter count."""
    inputs = sn.Input((4, 4, 2))
    x = L.Conv2D(2, 1, name="conv")(inputs)
    gate = L.ReLU(6.0)(operations.add(x, 3.0))
    gate = operations.multiply(gate, 1.0 / 6.0)
    out = operations.add(inputs, gate, name="residual")
    model = sn.Model(inputs, out)
    assert [type(layer).__name__ for layer in model.layers] == ["InputLayer", "Conv2D", "ReLU"]
    assert [type(op).__name__ for op in model.operations] == ["InputLayer", "Conv2D", "Add", "ReLU",
                                                              "Multiply", "Add"]
    assert model.operations[-1].name == "residual"
    assert len(model.weights) == 2 and model.count_params() == 6
    x_in = np.random.default_rng(0).normal(size=(2, 4, 4, 2)).astype("float32")
    conv = model.get_layer("conv")
    z = conv(x_in)
    expected = x_in + np.minimum(np.maximum(z + np.float32(3.0), 0), 6) * np.float32(1.0 / 6.0)
    np.testing.assert_allclose(model.predict(x_in, verbose=0), expected, rtol=1e-6)
    text = model.summary(print_fn=None)
    assert "add (Add)" in text and "multiply (Multiply)" in text and "residual (Add)" in text
    assert "Total params: 6" in text


def test_a_model_trains_through_operations(rng):
    sn.utils.set_random_seed(0)
    inputs = sn.Input((3,))
    h = L.Dense(3, name="d")(inputs)
    out = L.Dense(1, name="out")(operations.add(inputs, operations.multiply(h, 0.5)))
    model = sn.Model(inputs, out)
    model.compile(optimizer=sn.optimizers.SGD(0.05), loss="mse")
    x = rng.normal(size=(32, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(x, y, epochs=20, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert all(not np.array_equal(b, a) for b, a in zip(before, model.get_weights(), strict=True))


def test_errors():
    with pytest.raises(TypeError, match=r'Add operation "a": expected the second operand to be a KerasTensor '
                                        r"or a finite number, received 'x'"):
        operations.Add(constant="x", name="a")
    with pytest.raises(TypeError, match="expected the first operand to be a KerasTensor"):
        operations.add(np.zeros((2, 3)), 1.0)
    op = operations.Multiply(name="m")
    with pytest.raises(ValueError, match=r"A `Multiply` layer should be called on a list of at least 2"):
        op.ensure_built([(3,)])
    with pytest.raises(ValueError, match=r'Multiply operation "m": expected 2 operands, received 3'):
        op.ensure_built([(3,), (3,), (3,)])
