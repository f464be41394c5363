"""``sn.ops`` against ``keras.ops``: each function's value on arrays (FORWARD_RTOL), Keras'
argument names and defaults, and a ``Lambda`` written with ``ops`` that runs under both libraries
with the import changed, its gradients through the tape against TensorFlow's (GRAD_RTOL)."""

import keras
import numpy as np
import pytest

import scratchnet as sn
from parity_tests.driver import FORWARD_RTOL, assert_close, assert_parity

RNG = np.random.default_rng(0)
X = RNG.normal(size=(3, 4)).astype(np.float32)
Y = RNG.normal(size=(3, 4)).astype(np.float32)
P = np.abs(X) + 0.5

CASES = {
    "abs": lambda o: o.abs(X), "add": lambda o: o.add(X, Y), "subtract": lambda o: o.subtract(X, Y),
    "multiply": lambda o: o.multiply(X, Y), "divide": lambda o: o.divide(X, P),
    "negative": lambda o: o.negative(X), "power": lambda o: o.power(P, 1.5),
    "square": lambda o: o.square(X), "sqrt": lambda o: o.sqrt(P), "exp": lambda o: o.exp(X),
    "expm1": lambda o: o.expm1(X), "log": lambda o: o.log(P), "log1p": lambda o: o.log1p(P),
    "tanh": lambda o: o.tanh(X), "sin": lambda o: o.sin(X), "cos": lambda o: o.cos(X),
    "sign": lambda o: o.sign(X), "floor": lambda o: o.floor(X * 3), "ceil": lambda o: o.ceil(X * 3),
    "maximum": lambda o: o.maximum(X, Y), "minimum": lambda o: o.minimum(X, Y),
    "matmul": lambda o: o.matmul(X, Y.T), "clip": lambda o: o.clip(X, -0.5, 0.5),
    "where": lambda o: o.where(X > 0, X, Y), "sigmoid": lambda o: o.sigmoid(X * 20),
    "relu": lambda o: o.relu(X), "softmax": lambda o: o.softmax(X * 30),
    "softmax_axis0": lambda o: o.softmax(X, axis=0), "sum": lambda o: o.sum(X, axis=1),
    "sum_keepdims": lambda o: o.sum(X, axis=0, keepdims=True), "mean": lambda o: o.mean(X),
    "mean_axis": lambda o: o.mean(X, axis=-1, keepdims=True), "prod": lambda o: o.prod(P, axis=0),
    "expand_dims": lambda o: o.expand_dims(X, -1), "squeeze": lambda o: o.squeeze(X[:, :1], axis=1),
    "reshape": lambda o: o.reshape(X, (4, 3)), "transpose": lambda o: o.transpose(X),
    "swapaxes": lambda o: o.swapaxes(X[None], 0, 2), "concatenate": lambda o: o.concatenate([X, Y], axis=1),
    "stack": lambda o: o.stack([X, Y], axis=1), "broadcast_to": lambda o: o.broadcast_to(X[:1], (5, 4)),
    "cast": lambda o: o.cast(X * 10, "int32"), "zeros": lambda o: o.zeros((2, 3)),
    "ones": lambda o: o.ones((2,)), "zeros_like": lambda o: o.zeros_like(X),
    "full_like": lambda o: o.full_like(X, 2.5), "arange": lambda o: o.arange(5),
    "arange_floats": lambda o: o.arange(0.0, 2.0, 0.5), "arange_start_stop": lambda o: o.arange(2, 7, 2),
    "greater": lambda o: o.greater(X, Y), "logical_and": lambda o: o.logical_and(X > 0, Y > 0),
    "isnan": lambda o: o.isnan(X), "equal": lambda o: o.equal(X, X),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_values_and_dtypes_equal_keras_ops(case):
    ours = np.asarray(CASES[case](sn.ops))
    theirs = keras.ops.convert_to_numpy(CASES[case](keras.ops))
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype, (ours.dtype, theirs.dtype)
    if ours.dtype.kind == "f":
        assert_close(ours, theirs, FORWARD_RTOL, case)
    else:
        np.testing.assert_array_equal(ours, theirs)


def test_shape_is_a_tuple():
    assert sn.ops.shape(X) == tuple(keras.ops.shape(X)) == (3, 4)


def lambda_model(m):
    """A program written once: ``m`` is ``keras`` or ``scratchnet``."""
    return m.Sequential([
        m.Input((6,)),
        m.layers.Lambda(lambda x: m.ops.expand_dims(x, axis=-1)),
        m.layers.Conv1D(3, 2, activation="tanh"),
        m.layers.Lambda(lambda x: m.ops.concatenate([m.ops.sigmoid(x), m.ops.relu(x) * 2.0], axis=-1)),
        m.layers.Lambda(lambda x: m.ops.mean(x, axis=1)),
        m.layers.Dense(3),
        m.layers.Lambda(lambda x: m.ops.softmax(x)),
    ])


def test_a_lambda_written_with_ops_runs_in_both_and_agrees():
    model = lambda_model(sn)
    kmodel = lambda_model(keras)
    kmodel.set_weights(model.get_weights())
    x = RNG.normal(size=(5, 6)).astype(np.float32)
    assert_close(model.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL, "predictions")


def test_ops_gradients_through_the_tape_agree_with_tensorflow():
    """Gradients of a Lambda made of ops, in a stack, against Keras' Lambda of the same function
    (tfnet carries an operator-and-ops-free function; here both sides get their own ops)."""
    model = sn.Sequential([sn.layers.Input((4,)), sn.layers.Dense(4, activation="tanh"),
                           sn.layers.Lambda(lambda x: sn.ops.sigmoid(x) * sn.ops.clip(x, -0.2, 0.3)
                                            + sn.ops.square(x)),
                           sn.layers.Dense(3)], seed=0)
    x, y = RNG.normal(size=(4, 4)).astype(np.float32), np.array([0, 1, 2, 1])
    loss = sn.losses.SparseCategoricalCrossentropy(from_logits=True)
    with pytest.raises(ValueError, match="Lambda"):  # sn.ops functions have no Keras twin to copy
        assert_parity(model, x, y, loss=loss)
    kmodel = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, activation="tanh"),
                               keras.layers.Lambda(lambda x: keras.ops.sigmoid(x)
                                                   * keras.ops.clip(x, -0.2, 0.3) + keras.ops.square(x)),
                               keras.layers.Dense(3)])
    kmodel.set_weights(model.get_weights())
    kmodel.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.compile(optimizer="sgd", loss=loss)
    import tfnet
    loss_s, grads_s = model.loss_and_grads(x, y)
    loss_k, grads_k = tfnet.loss_and_grads(kmodel, x, y)
    assert_close(loss_s, loss_k, FORWARD_RTOL, "loss")
    for gs, gk in zip(grads_s, grads_k, strict=True):
        assert_close(gs, gk, 1e-4, "gradient")
