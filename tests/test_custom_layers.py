"""Subclassing sn.layers.Layer: the input_dtype rule, PoincareNormalize, and the docs' examples."""

import numpy as np
import pytest

import scratchnet as sn


class _TableLookup(sn.layers.Layer):
    """Reads integer ids and returns ``table[ids]``: a layer whose input must not become float."""

    input_dtype = "int32"

    def __init__(self, name=None):
        super().__init__(name=name)
        self.table = np.array([10.5, 20.5, 30.5])
        self.seen_dtype = None

    def build(self, input_shape, rng):
        return tuple(input_shape)

    def forward(self, x, training=False):
        self.seen_dtype = x.dtype
        return self.table[x].astype(sn.config.floatx())

    def backward(self, dy):
        return None


class _Echo(sn.layers.Layer):
    def forward(self, x, training=False):
        self.seen_dtype = x.dtype
        return x

    def backward(self, dy):
        return dy


def test_layer_with_input_dtype_gets_ids_uncast_in_sequential_and_call():
    model = sn.Sequential([_TableLookup(), sn.layers.Dense(1, kernel_initializer="ones")], seed=0)
    ids = np.array([[0, 2], [1, 1]], dtype=np.int64)
    out = model.predict(ids)
    assert model.layers[0].seen_dtype == np.int64
    np.testing.assert_allclose(out, [[41.0], [41.0]])
    layer = _TableLookup()
    np.testing.assert_allclose(layer(ids), [[10.5, 30.5], [20.5, 20.5]])
    assert layer.seen_dtype == np.int64


def test_float_layers_still_cast_and_reject_strings():
    model = sn.Sequential([_Echo()])
    model(np.array([[1, 2]], dtype=np.int64))
    assert model.layers[0].seen_dtype == np.float32
    layer = _Echo()
    layer(np.array([[1, 2]], dtype=np.int64))
    assert layer.seen_dtype == np.float32
    with pytest.raises(TypeError, match="numeric array"):
        model(np.array([["a", "b"]]))
