"""The Keras calls of keras.io's transfer-learning guide that scratchnet once lacked:
``layer.build((None, 4))`` (Keras' form, batch axis first) and freezing a model that a Sequential
was added to (its own ``trainable`` flag follows, as Keras' recursive setting does)."""

import numpy as np
import pytest

import scratchnet as sn

L = sn.layers


def test_build_in_keras_form_makes_the_weights_and_returns_none():
    dense = L.Dense(3)
    assert dense.build((None, 4)) is None
    assert dense.built and dense.input_shape == (4,) and dense.output_shape == (3,)
    assert [w.shape for w in dense.get_weights()] == [(4, 3), (3,)]
    norm = L.BatchNormalization()
    norm.build((None, 5, 2))
    assert [w.shape for w in norm.get_weights()] == [(2,)] * 4
    assert len(norm.trainable_weights) == 2 and len(norm.non_trainable_weights) == 2


def test_build_in_keras_form_then_call_uses_those_weights():
    dense = L.Dense(2)
    dense.build((None, 3))
    kernel, bias = dense.get_weights()
    x = np.arange(6, dtype="float32").reshape(2, 3)
    np.testing.assert_allclose(dense(x), x @ kernel + bias, rtol=1e-6)
    dense.build((None, 3))  # built already: nothing changes, as a second call would not
    np.testing.assert_array_equal(dense.get_weights()[0], kernel)


def test_build_of_a_layer_made_of_several_inputs_in_keras_form():
    add = L.Add()
    add.build([(None, 3), (None, 3)])
    assert add.built and add.output_shape == (3,)


def test_build_in_keras_form_refuses_a_shape_without_its_batch_axis():
    with pytest.raises(ValueError, match=r'Layer "dense_x" \(Dense\): build expects the input shape with '
                                         r"its batch axis first, such as \(None, 4\), received 4"):
        L.Dense(3, name="dense_x").build(4)


def test_scratchnets_own_build_form_is_unchanged():
    dense = L.Dense(3)
    assert dense.build((4,), np.random.default_rng(0)) == (3,)


def test_freezing_a_model_freezes_a_sequential_added_to_it():
    inner = sn.Sequential([sn.Input((3,)), L.Dense(3), L.Dense(3)])
    outer = sn.Sequential([sn.Input((3,)), inner, L.Dense(2)])
    outer.trainable = False
    assert inner.trainable is False and all(not layer.trainable for layer in inner.layers)
    assert len(outer.trainable_weights) == 0 and len(outer.non_trainable_weights) == 6
    outer.trainable = True
    assert inner.trainable is True and len(outer.trainable_weights) == 6


def test_super_build_in_a_keras_form_build_is_keras_base_build():
    class Scale(L.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")
            super().build(input_shape)  # Keras' idiom: the base build marks the layer built

        def call(self, inputs):
            return inputs * self.w

    layer = Scale()
    np.testing.assert_array_equal(layer(np.full((2, 3), 2.0, "float32")), np.full((2, 3), 2.0))
    assert layer.built and [w.shape for w in layer.get_weights()] == [(3,)]


def test_build_called_on_a_keras_style_layer_of_ones_own_builds_it_once():
    class Lin(L.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], 2), initializer="ones")

        def call(self, inputs):
            return sn.ops.matmul(inputs, self.w)

    layer = Lin()
    assert layer.build((None, 3)) is None
    assert layer.built and len(layer.weights) == 1
    np.testing.assert_array_equal(layer(np.ones((2, 3), "float32")), np.full((2, 2), 3.0))
    assert len(layer.weights) == 1  # the first call did not build it a second time
