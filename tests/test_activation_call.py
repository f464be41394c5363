"""``activations.get(name)`` returns a callable, as Keras' returns a function (keras.io's custom
``MyDense`` stores it and calls it in ``call``): on arrays, on the gradient tape of a custom
layer, and on KerasTensors."""

import numpy as np

import scratchnet as sn


def test_an_activation_object_applied_to_an_array():
    z = np.array([[1.0, -2.0, 0.5]], "float32")
    np.testing.assert_allclose(sn.activations.get("relu")(z), [[1.0, 0.0, 0.5]])
    e = np.exp(z - z.max())
    np.testing.assert_allclose(sn.activations.get("softmax")(z), e / e.sum(), rtol=1e-6)
    assert sn.activations.get("sigmoid")(np.array([0])).dtype == np.float32  # ints as float32
    np.testing.assert_array_equal(sn.activations.get(None)(z), z)


def test_an_activation_object_in_a_custom_layers_call_trains():
    class Squash(sn.layers.Layer):
        def __init__(self):
            super().__init__()
            self.activation = sn.activations.get("tanh")

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], 1), initializer="ones")

        def call(self, inputs):
            return self.activation(sn.ops.matmul(inputs, self.w))

    model = sn.Sequential([sn.Input((2,)), Squash()])
    model.compile(optimizer=sn.optimizers.SGD(0.1), loss="mse")
    x = np.array([[0.5, -0.25]], "float32")
    loss, grads = model.loss_and_grads(x, np.zeros((1, 1), "float32"))
    a = np.tanh(0.25)
    np.testing.assert_allclose(grads[0], 2 * a * (1 - a**2) * x.T, rtol=1e-5)  # d(a^2)/dw


def test_an_activation_object_on_a_keras_tensor_is_an_activation_layer():
    inputs = sn.Input((3,))
    outputs = sn.activations.get("relu")(inputs)
    model = sn.Model(inputs, outputs)
    assert type(model.layers[-1]).__name__ == "Activation"
    np.testing.assert_array_equal(model.predict(np.array([[-1.0, 2.0, 0.0]], "float32"), verbose=0),
                                  [[0.0, 2.0, 0.0]])
