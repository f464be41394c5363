"""DepthwiseConv2D, SeparableConv2D, DepthwiseConv1D and SeparableConv1D against Keras 3.15: every
output to FORWARD_RTOL, the loss and every gradient through a stack to GRAD_RTOL (the layer's
input gradient included: a Conv2D sits before it), 10 SGD and Adam steps of a small MobileNet-style
model to TRAJECTORY_RTOL, to_keras/from_keras round trips with equal configs, and Keras' configs and
default names. Same weights and batches on both sides (parity_tests/driver.py).

Keras 3.15 runs ``strides > 1`` together with ``dilation_rate > 1`` for these layers (its TensorFlow
backend computes a stride-1 dilated convolution and keeps every s-th row and column), so those
cases are compared with Keras like the others. Unit tests and finite differences:
tests/test_depthwise.py."""

import keras
import numpy as np
import pytest

import scratchnet as sn
import tfnet
from parity_tests.driver import assert_parity, check_round_trip, layer_model, random_data, random_weights

L = sn.layers
SCCE = sn.losses.SparseCategoricalCrossentropy



class _KerasOnlyRegularizer(keras.regularizers.Regularizer):
    """A regularizer of the user's own (scratchnet has every built-in one)."""

    def __call__(self, x):
        return keras.ops.sum(x) * 0.0

    def get_config(self):
        return {}


class _KerasOnly(keras.constraints.Constraint):
    """A constraint of the user's own, which scratchnet cannot know."""

    def __call__(self, w):
        return w



DEPTHWISE_CASES = {  # DepthwiseConv2D on (N, 7, 6, 3)
    "valid": dict(kernel_size=3),
    "valid_multiplier_2": dict(kernel_size=3, depth_multiplier=2),
    "same": dict(kernel_size=3, padding="same", activation="relu"),
    "same_even_kernel_strides_2": dict(kernel_size=(4, 2), strides=2, padding="same",
                                       depth_multiplier=3),
    "valid_strides_2": dict(kernel_size=2, strides=2, depth_multiplier=2),
    "dilated_same": dict(kernel_size=(3, 2), dilation_rate=(2, 3), padding="same", depth_multiplier=2),
    "dilated_valid": dict(kernel_size=2, dilation_rate=2),
    "dilated_and_strided_same": dict(kernel_size=3, strides=2, dilation_rate=2, padding="same"),
    "dilated_and_strided_valid": dict(kernel_size=2, strides=(2, 1), dilation_rate=(1, 2),
                                      depth_multiplier=2),
    "no_bias_tanh": dict(kernel_size=(1, 3), use_bias=False, activation="tanh"),
}
SEPARABLE_CASES = {  # SeparableConv2D on (N, 7, 6, 3)
    "valid": dict(filters=4, kernel_size=3),
    "same_multiplier_2": dict(filters=5, kernel_size=3, padding="same", depth_multiplier=2,
                              activation="relu"),
    "same_strides_2": dict(filters=2, kernel_size=3, strides=2, padding="same"),
    "valid_even_kernel_strides_2": dict(filters=3, kernel_size=(2, 4), strides=2),
    "dilated_same": dict(filters=3, kernel_size=3, dilation_rate=2, padding="same", depth_multiplier=3),
    "dilated_and_strided_same": dict(filters=3, kernel_size=3, strides=2, dilation_rate=(2, 1),
                                     padding="same", depth_multiplier=2),
    "dilated_and_strided_unequal_valid": dict(filters=2, kernel_size=2, strides=(2, 1),
                                              dilation_rate=(2, 1)),
    "no_bias": dict(filters=2, kernel_size=(3, 1), use_bias=False),
}
# (Unequal strides without dilation, (2, 1) say, have no case above: TensorFlow's depthwise kernel
# refuses them, "Current implementation only supports equal length strides in the row and column
# dimensions", so Keras 3.15 fails when it calls the layer; with a dilation > 1 Keras takes another
# path, which runs them (the "dilated_and_strided" cases). scratchnet computes them; checked against
# the definition's loops and finite differences in tests/test_depthwise.py, and the refusal below.)
SEQUENCE_CASES = {  # the 1-D layers on (N, 9, 3)
    "depthwise1d_valid": lambda: L.DepthwiseConv1D(3),
    "depthwise1d_same_multiplier_2": lambda: L.DepthwiseConv1D(4, padding="same", depth_multiplier=2),
    "depthwise1d_strided_dilated": lambda: L.DepthwiseConv1D(2, strides=2, dilation_rate=3,
                                                             activation="relu"),
    "separable1d_valid": lambda: L.SeparableConv1D(4, 3),
    "separable1d_same_strides_2": lambda: L.SeparableConv1D(3, 3, strides=2, padding="same",
                                                            depth_multiplier=2),
    "separable1d_dilated_same": lambda: L.SeparableConv1D(2, 2, dilation_rate=2, padding="same",
                                                          use_bias=False),
}


# ------------------------------------------------------------------- forward
@pytest.mark.parametrize("case", sorted(DEPTHWISE_CASES))
def test_depthwise_conv2d_forward(case):
    x, _ = random_data((7, 6, 3), n=2)
    assert_parity(random_weights(layer_model(L.DepthwiseConv2D(**DEPTHWISE_CASES[case]), (7, 6, 3))), x)


@pytest.mark.parametrize("case", sorted(SEPARABLE_CASES))
def test_separable_conv2d_forward(case):
    x, _ = random_data((7, 6, 3), n=2)
    assert_parity(random_weights(layer_model(L.SeparableConv2D(**SEPARABLE_CASES[case]), (7, 6, 3))), x)


@pytest.mark.parametrize("case", sorted(SEQUENCE_CASES))
def test_sequence_layer_forward(case):
    x, _ = random_data((9, 3), n=2)
    assert_parity(random_weights(layer_model(SEQUENCE_CASES[case](), (9, 3))), x)


def test_output_channel_order_is_tensorflows():
    """Channel c's m-th kernel gives output channel c*M + m: a kernel that is 1 at (c, m) = (1, 0)
    and 0 elsewhere copies input channel 1 to output channel 1*3 + 0 = 3, in both frameworks."""
    model = layer_model(L.DepthwiseConv2D(1, depth_multiplier=3, use_bias=False), (2, 2, 2))
    kernel = np.zeros((1, 1, 2, 3), np.float32)
    kernel[0, 0, 1, 0] = 1.0
    model.set_weights([kernel])
    x, _ = random_data((2, 2, 2), n=1)
    expected = np.zeros((1, 2, 2, 6), np.float32)
    expected[..., 3] = x[..., 1]
    np.testing.assert_array_equal(model.predict(x, verbose=0), expected)
    np.testing.assert_array_equal(np.asarray(tfnet.to_keras(model)(x)), expected)


@pytest.mark.parametrize("klayer", [lambda: keras.layers.DepthwiseConv2D(3, strides=(2, 1)),
                                    lambda: keras.layers.SeparableConv2D(2, 3, strides=(1, 2))])
def test_tensorflow_refuses_unequal_strides_without_dilation(klayer):
    """The reason those cases have no parity test; if this starts failing, Keras runs them: add them."""
    import tensorflow as tf

    x, _ = random_data((7, 6, 3), n=1)
    with pytest.raises(tf.errors.InvalidArgumentError, match="equal length strides"):
        klayer()(x)


# ------------------------------------------------------------------- gradients through a stack
@pytest.mark.parametrize("case", sorted(DEPTHWISE_CASES))
def test_depthwise_conv2d_gradients_through_a_stack(case):
    x, y = random_data((7, 6, 3))
    model = random_weights(sn.Sequential([
        L.Input((7, 6, 3)), L.Conv2D(3, 2, padding="same", activation="tanh"),
        L.DepthwiseConv2D(**DEPTHWISE_CASES[case]), L.Flatten(), L.Dense(4)], seed=0))
    assert_parity(model, x, y, loss=SCCE(from_logits=True))


@pytest.mark.parametrize("case", sorted(SEPARABLE_CASES))
def test_separable_conv2d_gradients_through_a_stack(case):
    x, y = random_data((7, 6, 3))
    model = random_weights(sn.Sequential([
        L.Input((7, 6, 3)), L.Conv2D(3, 2, padding="same", activation="tanh"),
        L.SeparableConv2D(**SEPARABLE_CASES[case]), L.Flatten(), L.Dense(4)], seed=0))
    assert_parity(model, x, y, loss=SCCE(from_logits=True))


@pytest.mark.parametrize("case", sorted(SEQUENCE_CASES))
def test_sequence_layer_gradients_through_a_stack(case):
    x, y = random_data((9, 3))
    model = random_weights(sn.Sequential([
        L.Input((9, 3)), L.Conv1D(3, 2, padding="same", activation="tanh"), SEQUENCE_CASES[case](),
        L.Flatten(), L.Dense(4)], seed=0))
    assert_parity(model, x, y, loss=SCCE(from_logits=True))


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_gradients_on_both_cpu_backends(backend):
    """The depthwise loops are NumPy on both; the pointwise step runs the backend's Conv2D kernels."""
    sn.set_backend(backend)
    x, y = random_data((7, 6, 3))
    model = random_weights(sn.Sequential([
        L.Input((7, 6, 3)), L.DepthwiseConv2D(3, padding="same", depth_multiplier=2, activation="relu"),
        L.SeparableConv2D(4, 3, strides=2, padding="same"), L.Flatten(), L.Dense(4)], seed=0))
    assert_parity(model, x, y, loss=SCCE(from_logits=True))


# ------------------------------------------------------------------- training
def mobilenet_model():
    """MobileNet's block in small: a strided Conv2D stem, depthwise 3x3 -> BatchNormalization ->
    ReLU -> pointwise 1x1 Conv2D, a strided SeparableConv2D, global average pooling, a classifier."""
    return sn.Sequential([
        L.Input((12, 12, 3)), L.Conv2D(4, 3, strides=2, padding="same", activation="relu"),
        L.DepthwiseConv2D(3, padding="same", use_bias=False), L.BatchNormalization(),
        L.ReLU(max_value=6.0), L.Conv2D(6, 1, activation="relu"),
        L.SeparableConv2D(8, 3, strides=2, padding="same", depth_multiplier=2, activation="relu"),
        L.GlobalAveragePooling2D(), L.Dense(3)], seed=0)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_mobilenet_style_model_trains_as_keras(optimizer):
    model = mobilenet_model()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 12, 12, 3)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    opt = sn.optimizers.SGD(0.05, momentum=0.9) if optimizer == "sgd" else sn.optimizers.Adam(0.01)
    assert_parity(model, x, y, loss=SCCE(from_logits=True), optimizer=opt, steps=10, batch_size=8)


def test_a_separable_sequence_model_trains_as_keras():
    model = sn.Sequential([
        L.Input((10, 3)), L.SeparableConv1D(4, 3, padding="same", depth_multiplier=2, activation="relu"),
        L.DepthwiseConv1D(2, strides=2), L.GlobalAveragePooling1D(), L.Dense(3)], seed=0)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(16, 10, 3)).astype(np.float32)
    assert_parity(model, x, rng.integers(0, 3, 16), loss=SCCE(from_logits=True),
                  optimizer=sn.optimizers.Adam(0.01), steps=10, batch_size=8)


def test_regularizers_add_keras_penalty():
    """depthwise_, pointwise_ and bias_regularizer: the same loss and gradients as Keras'."""
    x, y = random_data((7, 6, 3))
    model = random_weights(sn.Sequential([
        L.Input((7, 6, 3)),
        L.DepthwiseConv2D(3, depthwise_regularizer=sn.regularizers.L2(0.1),
                          bias_regularizer=sn.regularizers.L1(0.2)),
        L.SeparableConv2D(2, 2, depthwise_regularizer=sn.regularizers.L1(0.05),
                          pointwise_regularizer=sn.regularizers.L2(0.3)),
        L.Flatten(), L.Dense(4)], seed=0))
    assert_parity(model, x, y, loss=SCCE(from_logits=True))


# ------------------------------------------------------------------- conversion
def conversion_models():
    return {
        "image": sn.Sequential([
            L.Input((8, 7, 3)),
            L.DepthwiseConv2D((3, 2), strides=2, padding="same", depth_multiplier=2,
                              activation="relu", depthwise_initializer="he_uniform",
                              bias_initializer="ones", depthwise_regularizer=sn.regularizers.L2(0.5)),
            L.SeparableConv2D(4, 3, dilation_rate=2, padding="same", depth_multiplier=3, use_bias=False,
                              pointwise_initializer="he_normal",
                              pointwise_regularizer=sn.regularizers.L1(0.25)),
            L.SeparableConv2D(2, 2, strides=2, dilation_rate=2, activation="tanh",
                              bias_regularizer=sn.regularizers.L2(0.1)),
            L.Flatten(), L.Dense(2)], seed=1, name="image"),
        "sequence": sn.Sequential([
            L.Input((9, 3)), L.DepthwiseConv1D(3, padding="same", depth_multiplier=2),
            L.SeparableConv1D(4, 2, strides=2, activation="relu"),
            L.DepthwiseConv1D(2, dilation_rate=2, use_bias=False), L.Flatten(), L.Dense(2)],
            seed=2, name="sequence"),
    }


@pytest.mark.parametrize("name", sorted(conversion_models()))
def test_round_trip_copies_weights_and_configs_exactly(name):
    model = random_weights(conversion_models()[name])
    kmodel = check_round_trip(model)
    for layer, klayer in zip(model.layers, kmodel.layers, strict=True):  # Keras' weight names
        assert [p.name.split("/")[-1] for p in layer.weights] == [v.name for v in klayer.weights]


def test_keras_configs_and_default_names_match():
    """get_config() holds Keras' argument names and values, and the default names are Keras'."""
    pairs = [
        (L.DepthwiseConv2D((3, 2), strides=2, padding="same", depth_multiplier=3, dilation_rate=1,
                           activation="relu", use_bias=False),
         keras.layers.DepthwiseConv2D((3, 2), strides=2, padding="same", depth_multiplier=3,
                                      activation="relu", use_bias=False)),
        (L.DepthwiseConv1D(4, dilation_rate=2), keras.layers.DepthwiseConv1D(4, dilation_rate=2)),
        (L.SeparableConv2D(5, 3, strides=(1, 2), depth_multiplier=2),
         keras.layers.SeparableConv2D(5, 3, strides=(1, 2), depth_multiplier=2)),
        (L.SeparableConv1D(2, 3, padding="same", activation="tanh"),
         keras.layers.SeparableConv1D(2, 3, padding="same", activation="tanh")),
    ]
    for layer, klayer in pairs:
        # Keras' whole dict, name aside (a tuple is not a list: == tells them apart)
        config = {k: v for k, v in layer.get_config().items() if k != "name"}
        assert config == {k: v for k, v in klayer.get_config().items() if k != "name"}, type(layer).__name__
        assert layer.name.rstrip("_0123456789") == klayer.name.rstrip("_0123456789")


@pytest.mark.parametrize("klayer, shape, pattern", [
    (lambda: keras.layers.DepthwiseConv2D(3, depthwise_constraint=_KerasOnly()), (5, 5, 2),
     "depthwise_constraint"),
    (lambda: keras.layers.SeparableConv2D(2, 3, pointwise_constraint=_KerasOnly()), (5, 5, 2),
     "pointwise_constraint"),
    (lambda: keras.layers.SeparableConv1D(2, 3, bias_constraint=_KerasOnly()), (5, 2), "bias_constraint"),
    (lambda: keras.layers.DepthwiseConv1D(
        3, activity_regularizer=_KerasOnlyRegularizer()), (5, 2), "_KerasOnlyRegularizer"),
])
def test_from_keras_refuses_options_scratchnet_lacks(klayer, shape, pattern):
    kmodel = keras.Sequential([keras.Input(shape), klayer()])
    with pytest.raises(ValueError, match=pattern):
        tfnet.from_keras(kmodel)
