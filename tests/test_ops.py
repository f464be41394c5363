"""``sn.ops`` (scratchnet/ops.py): Keras' names over NumPy, inside a ``Lambda`` in training through
the gradient tape; every differentiable one against float64 finite differences (tests/gradcheck.py,
REL_TOL 1e-6). Values against keras.ops: parity_tests/test_ops_keras.py."""

import numpy as np
import pytest

import scratchnet as sn
from tests.gradcheck import check_layer

O = sn.ops

FUNCTIONS = {
    "sigmoid": lambda x: O.sigmoid(x * 3.0),
    "softmax": lambda x: O.softmax(x * 2.0),
    "softmax_axis0": lambda x: O.softmax(x, axis=0),
    "relu_square": lambda x: O.relu(x) + O.square(x),
    "clip_where": lambda x: O.where(x > 0, O.clip(x, -0.3, 0.4), O.exp(x)),
    "reductions": lambda x: O.mean(x, axis=-1, keepdims=True) * O.sum(x, axis=1, keepdims=True),
    "shapes": lambda x: O.concatenate([O.expand_dims(x, -1), O.expand_dims(O.tanh(x), -1)], axis=-1),
    "stack_transpose": lambda x: O.transpose(O.stack([x, O.abs(x) + 0.1], axis=0), (1, 0, 2)),
    "maximum_minimum": lambda x: O.maximum(x, 0.1) - O.minimum(x, -0.2) + O.sqrt(O.abs(x) + 1.0),
    "log_power": lambda x: O.log1p(O.square(x)) + O.power(O.abs(x) + 1.0, 1.5),
    "matmul": lambda x: O.matmul(x, O.transpose(x)),
    "cast_keeps_the_tape": lambda x: O.cast(x, "float64") * 2.0,
}



@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_ops_in_a_lambda_match_finite_differences(name, float64):
    rng = np.random.default_rng(0)
    layer = sn.layers.Lambda(FUNCTIONS[name])
    check_layer(layer, rng.standard_normal((3, 4)), rng, training=True)


def test_sigmoid_and_softmax_do_not_overflow():
    big = np.array([[-1000.0, 0.0, 1000.0]], np.float32)
    np.testing.assert_array_equal(O.sigmoid(big), [[0.0, 0.5, 1.0]])
    np.testing.assert_allclose(O.softmax(big), [[0.0, 0.0, 1.0]])


def test_an_op_the_tape_does_not_know_is_named():
    layer = sn.layers.Lambda(lambda x: np.diff(x, axis=1))
    layer.ensure_built((3,))
    with pytest.raises(TypeError, match="diff"):
        layer.forward(np.ones((2, 3), np.float32), training=True)


def test_arange_and_shape_as_keras():
    assert O.arange(4).dtype == np.int32 and O.arange(0.0, 1.0, 0.5).tolist() == [0.0, 0.5]
    assert O.arange(2, 8, 3).tolist() == [2, 5] and O.shape(np.zeros((2, 3))) == (2, 3)
    assert O.zeros((2,)).dtype == np.float32
