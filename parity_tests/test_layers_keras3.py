"""Issue 13's pooling, Conv1D, Rescaling and Resizing layers against Keras 3.15: every layer's
output to FORWARD_RTOL, the loss and every gradient through them to GRAD_RTOL, 10 SGD steps
(train_step against train_on_batch, and fit against fit) to TRAJECTORY_RTOL, and to_keras /
from_keras round trips. Same weights and batches on both sides (parity_tests/driver.py)."""

import keras
import numpy as np
import pytest

import scratchnet as sn
import tfnet
from parity_tests.driver import (
    GRAD_RTOL,
    TRAJECTORY_RTOL,
    assert_close,
    assert_parity,
    check_round_trip,
    layer_model,
    make_twins,
    random_biases,
    random_data,
)

L = sn.layers
SCCE = sn.losses.SparseCategoricalCrossentropy



# ------------------------------------------------------------------- forward, layer alone
IMAGE_LAYERS = {
    "avg2d_default": lambda: L.AveragePooling2D(2),
    "avg2d_same_odd": lambda: L.AveragePooling2D(2, padding="same"),
    "avg2d_same_3x3_stride_2": lambda: L.AveragePooling2D(3, strides=2, padding="same"),
    "avg2d_overlapping": lambda: L.AveragePooling2D((3, 2), strides=(1, 2)),
    "avg2d_strides_larger_same": lambda: L.AveragePooling2D((2, 1), strides=(3, 4), padding="same"),
    "global_avg2d": lambda: L.GlobalAveragePooling2D(),
    "global_avg2d_keepdims": lambda: L.GlobalAveragePooling2D(keepdims=True),
    "global_max2d": lambda: L.GlobalMaxPooling2D(),
    "global_max2d_keepdims": lambda: L.GlobalMaxPooling2D(keepdims=True),
    "rescaling": lambda: L.Rescaling(1 / 255),
    "rescaling_per_channel": lambda: L.Rescaling([0.5, -2.0], offset=[1.0, -1.0]),
    "resize_up": lambda: L.Resizing(11, 13),
    "resize_down": lambda: L.Resizing(4, 5),
    "resize_nearest_up": lambda: L.Resizing(10, 14, interpolation="nearest"),
    "resize_nearest_down": lambda: L.Resizing(3, 4, interpolation="nearest"),
    "resize_crop": lambda: L.Resizing(5, 5, crop_to_aspect_ratio=True),
    "resize_crop_nearest": lambda: L.Resizing(4, 8, crop_to_aspect_ratio=True,
                                              interpolation="nearest"),
    "resize_pad": lambda: L.Resizing(6, 6, pad_to_aspect_ratio=True, fill_value=0.25),
    "resize_pad_tall": lambda: L.Resizing(9, 4, pad_to_aspect_ratio=True),
}


@pytest.mark.parametrize("case", sorted(IMAGE_LAYERS))
def test_image_layer_forward(case):
    x, _ = random_data((7, 9, 2), n=3)
    assert_parity(layer_model(IMAGE_LAYERS[case](), (7, 9, 2)), x * 3)


@pytest.mark.parametrize(("scale", "offset"), [
    (1 / 127.5, -1.0),  # MobileNetV3's: Python floats, rounded to float32 on the way
    ([1 / 3, 1 / 7], 0.1),  # a list of Python floats too
    (np.float64(1 / 127.5), np.array([0.1, 1 / 3])),  # NumPy values keep float64
    (np.array([1 / 3, 1 / 7], dtype=np.float32), 2),  # a float32 array; an int
], ids=["python_floats", "list", "numpy_float64", "numpy_float32_and_int"])
def test_rescaling_in_float64_casts_scale_and_offset_as_keras(scale, offset):
    """In float64 Keras' ``backend.cast(self.scale, dtype)`` is ``tf.cast``, which first makes a
    tensor of a Python float with no dtype (float32), then casts it: ``Rescaling(1 / 127.5)``
    multiplies by ``float32(1 / 127.5)``. The outputs and the input gradient agree bit for bit."""
    import tensorflow as tf

    x = np.random.default_rng(3).uniform(0, 255, (3, 4, 2))
    klayer = keras.layers.Rescaling(scale, offset=offset, dtype="float64")
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        ky = klayer(xt)
    dy = np.random.default_rng(4).normal(size=x.shape)
    kdx = tape.gradient(ky, xt, output_gradients=tf.constant(dy)).numpy()
    layer = L.Rescaling(scale, offset=offset)
    layer.ensure_built((4, 2))
    np.testing.assert_array_equal(layer.forward(x, training=True), ky.numpy())
    np.testing.assert_array_equal(layer.backward(dy), kdx)
    again = L.Rescaling(**{k: v for k, v in layer.get_config().items() if k in ("scale", "offset")})
    again.ensure_built((4, 2))
    if not isinstance(scale, np.ndarray | np.generic) and not isinstance(offset, np.ndarray):
        np.testing.assert_array_equal(again.forward(x), ky.numpy())  # the config keeps the rule


SEQUENCE_LAYERS = {
    "maxpool1d_default": lambda: L.MaxPooling1D(),
    "maxpool1d_same_odd": lambda: L.MaxPooling1D(2, padding="same"),
    "maxpool1d_overlapping_same": lambda: L.MaxPooling1D(3, strides=2, padding="same"),
    "maxpool1d_strides_larger": lambda: L.MaxPooling1D(2, strides=3),
    "avg1d": lambda: L.AveragePooling1D(3),
    "avg1d_same_overlapping": lambda: L.AveragePooling1D(3, strides=2, padding="same"),
    "global_avg1d": lambda: L.GlobalAveragePooling1D(),
    "global_avg1d_keepdims": lambda: L.GlobalAveragePooling1D(keepdims=True),
    "global_max1d": lambda: L.GlobalMaxPooling1D(),
    "global_max1d_keepdims": lambda: L.GlobalMaxPooling1D(keepdims=True),
    # channels_first: (N, C, L) pooled over its last axis (Keras' time-series Transformer example)
    "global_avg1d_channels_first": lambda: L.GlobalAveragePooling1D(data_format="channels_first"),
    "global_avg1d_channels_first_keepdims": lambda: L.GlobalAveragePooling1D(
        data_format="channels_first", keepdims=True),
    "global_max1d_channels_first": lambda: L.GlobalMaxPooling1D(data_format="channels_first"),
    "global_max1d_channels_first_keepdims": lambda: L.GlobalMaxPooling1D(
        data_format="channels_first", keepdims=True),
}


@pytest.mark.parametrize("case", sorted(SEQUENCE_LAYERS))
def test_sequence_layer_forward(case):
    x, _ = random_data((11, 3), n=3)
    assert_parity(layer_model(SEQUENCE_LAYERS[case](), (11, 3)), x)


def test_max_pooling_1d_same_padding_never_picks_the_padding():
    x = np.full((1, 5, 2), -5.0, dtype=np.float32)
    twins = assert_parity(layer_model(L.MaxPooling1D(2, padding="same"), (5, 2)), x)
    assert np.all(twins.scratch(x) == -5.0)


LOW = np.finfo(np.float32).min  # -3.4028235e+38


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_max_pooling_windows_of_nan_and_inf_pool_and_route_as_keras(backend, padding):
    """TensorFlow starts every max-pooling window from the lowest finite float32, so a window of
    NaN or -inf pools to -3.4028235e+38 (not -inf), and NaN never wins; the gradient goes to the
    first maximum, or to the window's first cell when nothing is above -inf. Bit for bit, both
    backends, the layer called directly (predict refuses NaN inputs)."""
    import tensorflow as tf

    sn.set_backend(backend)
    nan, inf = np.nan, np.inf
    x = np.array([[nan, nan, -inf, -inf, -inf, LOW, 1.0],
                  [nan, nan, -inf, -inf, LOW, -inf, nan],
                  [2.0, nan, -inf, -5.0, 0.0, -0.0, -inf],
                  [nan, nan, nan, -inf, -0.0, 0.0, nan],
                  [LOW, -inf, 3.0, 3.0, nan, nan, -inf]], dtype=np.float32)[None, :, :, None]
    layer = layer_model(L.MaxPooling2D(2, padding=padding), x.shape[1:]).layers[0]
    y = layer.forward(x, training=True)
    keras_layer = keras.layers.MaxPooling2D(2, padding=padding)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        keras_y = keras_layer(xt)
    dy = np.arange(1, keras_y.shape.num_elements() + 1, dtype=np.float32).reshape(keras_y.shape)
    keras_dx = tape.gradient(keras_y, xt, output_gradients=tf.constant(dy)).numpy()
    np.testing.assert_array_equal(y.view(np.uint32), keras_y.numpy().view(np.uint32))
    # valid: the NaN window, the -inf window and the -inf/LOW one; same adds four at the edges
    assert (y == LOW).sum() == {"valid": 3, "same": 7}[padding]
    np.testing.assert_array_equal(layer.backward(dy), keras_dx)


CONV1D_CASES = {
    "valid": dict(filters=4, kernel_size=3),
    "same_odd": dict(filters=3, kernel_size=4, strides=2, padding="same"),
    "strides_larger_than_kernel": dict(filters=3, kernel_size=2, strides=3),
    "dilation_same": dict(filters=3, kernel_size=3, dilation_rate=2, padding="same"),
    "causal": dict(filters=3, kernel_size=3, padding="causal", activation="relu"),
    "causal_dilated": dict(filters=2, kernel_size=2, dilation_rate=3, padding="causal"),
    "causal_strided": dict(filters=2, kernel_size=3, strides=2, padding="causal"),
    "no_bias_tanh": dict(filters=5, kernel_size=1, use_bias=False, activation="tanh"),
}


@pytest.mark.parametrize("case", sorted(CONV1D_CASES))
def test_conv1d_forward(case):
    x, _ = random_data((11, 3), n=2)
    assert_parity(random_biases(layer_model(L.Conv1D(**CONV1D_CASES[case]), (11, 3))), x)


# ------------------------------------------------------------------- gradients through a stack
@pytest.mark.parametrize("case", sorted(IMAGE_LAYERS))
def test_image_layer_gradients(case):
    """A Conv2D before the layer under test, so its input gradient (dL/dx) is checked too."""
    x, y = random_data((7, 9, 2))
    model = random_biases(sn.Sequential([
        L.Input((7, 9, 2)), L.Conv2D(2, 2, padding="same", activation="tanh"),
        IMAGE_LAYERS[case](), L.Flatten(), L.Dense(4)], seed=0))
    assert_parity(model, x, y, loss=SCCE(from_logits=True))


@pytest.mark.parametrize("case", sorted(SEQUENCE_LAYERS))
def test_sequence_layer_gradients(case):
    x, y = random_data((11, 3))
    model = random_biases(sn.Sequential([
        L.Input((11, 3)), L.Conv1D(3, 2, activation="tanh"), SEQUENCE_LAYERS[case](),
        L.Flatten(), L.Dense(4)], seed=0))
    assert_parity(model, x, y, loss=SCCE(from_logits=True))


@pytest.mark.parametrize("case", sorted(CONV1D_CASES))
def test_conv1d_gradients_through_a_stack(case):
    x, y = random_data((11, 3))
    model = random_biases(sn.Sequential([
        L.Input((11, 3)), L.Conv1D(2, 1, activation="tanh"), L.Conv1D(**CONV1D_CASES[case]),
        L.Flatten(), L.Dense(4)], seed=0))
    assert_parity(model, x, y, loss=SCCE(from_logits=True))


TIE_CASES = {
    "maxpool1d_overlapping": lambda: L.MaxPooling1D(3, strides=1),
    "maxpool1d_same": lambda: L.MaxPooling1D(2, padding="same"),
    "global_max1d": lambda: L.GlobalMaxPooling1D(),
}


@pytest.mark.parametrize("case", sorted(TIE_CASES))
def test_max_pools_1d_ties_with_integer_sequences_and_kernels(case):
    """Integer inputs through integer kernels: many equal maxima. MaxPooling1D gives a window's
    gradient to its first maximum, GlobalMaxPooling1D splits it evenly (reduce_max's gradient)."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 3, size=(4, 9, 1)).astype(np.float32)
    y = rng.integers(0, 3, size=4)
    model = sn.Sequential([L.Input((9, 1)), L.Conv1D(2, 2, padding="same", activation="relu"),
                           TIE_CASES[case](), L.Flatten(), L.Dense(3)], seed=0)
    weights = model.get_weights()
    weights[0] = rng.integers(-1, 2, size=weights[0].shape).astype(np.float32)
    weights[1] = np.array([1.0, 0.0], np.float32)
    model.set_weights(weights)
    twins = assert_parity(model, x, y, loss=SCCE(from_logits=True))
    features = twins.scratch.layers[0](x)
    assert features.size > len(np.unique(features)) * 5, "the case must have ties"


def test_global_max_pooling_2d_tie_splits_the_gradient_evenly():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 2, size=(4, 4, 5, 1)).astype(np.float32)
    y = rng.integers(0, 3, size=4)
    model = sn.Sequential([L.Input((4, 5, 1)), L.Conv2D(2, 2, padding="same", activation="relu"),
                           L.GlobalMaxPooling2D(), L.Dense(3)], seed=0)
    weights = model.get_weights()
    weights[0] = np.ones_like(weights[0])
    model.set_weights(weights)
    assert_parity(model, x, y, loss=SCCE(from_logits=True))


# ------------------------------------------------------------------- training
def image_model():
    return random_biases(sn.Sequential([
        L.Input((12, 10, 3)), L.Rescaling(1 / 255), L.Resizing(8, 8),
        L.Conv2D(4, 3, padding="same", activation="relu"), L.AveragePooling2D(2, padding="same"),
        L.Conv2D(6, 3, padding="same", activation="relu"), L.GlobalAveragePooling2D(),
        L.Dense(3)], seed=0))


def sequence_model():
    return random_biases(sn.Sequential([
        L.Input((16, 4)), L.Conv1D(6, 3, padding="causal", activation="relu"),
        L.MaxPooling1D(2), L.AveragePooling1D(2, padding="same"),
        L.Conv1D(4, 2, padding="same", activation="tanh"), L.GlobalMaxPooling1D(), L.Dense(3)],
        seed=0))


def training_data(name, n=24, seed=0):
    rng = np.random.default_rng(seed)
    if name == "image":
        x = rng.uniform(0, 255, size=(n, 12, 10, 3)).astype(np.float32)
    else:
        x = rng.normal(size=(n, 16, 4)).astype(np.float32)
    return x, rng.integers(0, 3, n)


MODELS = {"image": image_model, "sequence": sequence_model}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_ten_sgd_steps_agree_step_by_step(name):
    x, y = training_data(name)
    assert_parity(MODELS[name](), x, y, loss=SCCE(from_logits=True),
                  optimizer=sn.optimizers.SGD(0.05, momentum=0.9), steps=10, batch_size=8)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_ten_step_fit_agrees(name):
    """Keras' fit against scratchnet's: 2 epochs of 5 batches (the last one partial), in order."""
    x, y = training_data(name, n=36)
    twins = make_twins(MODELS[name](), loss=SCCE(from_logits=True),
                       optimizer=sn.optimizers.SGD(0.05, momentum=0.9))
    kwargs = dict(epochs=2, batch_size=8, shuffle=False, verbose=0)
    history_s = twins.scratch.fit(x, y, **kwargs).history
    history_k = twins.keras.fit(x, y, **kwargs).history
    assert twins.scratch.optimizer.iterations == int(twins.keras.optimizer.iterations) == 10
    assert_close(history_s["loss"], history_k["loss"], GRAD_RTOL, "history['loss'] per epoch")
    for param, wk in zip(twins.scratch.params, twins.keras.get_weights(), strict=True):
        assert_close(param.value, wk, TRAJECTORY_RTOL, f'"{param.name}" after the fit')


# ------------------------------------------------------------------- conversion
def every_new_layer_models():
    return {
        "image": sn.Sequential([
            L.Input((12, 10, 3)), L.Rescaling([0.5, 1.0, 2.0], offset=-1.0),
            L.Resizing(9, 9, interpolation="nearest", crop_to_aspect_ratio=True),
            L.Resizing(6, 8, pad_to_aspect_ratio=True, fill_value=0.5),
            L.AveragePooling2D((2, 3), strides=(1, 2), padding="same"),
            L.GlobalMaxPooling2D(keepdims=True), L.GlobalAveragePooling2D(), L.Dense(2),
        ], seed=1, name="image"),
        "sequence": sn.Sequential([
            L.Input((20, 3)),
            L.Conv1D(4, 3, padding="causal", dilation_rate=2, activation="relu",
                     kernel_initializer="he_uniform", bias_initializer="ones"),
            L.Conv1D(3, 2, strides=2, padding="same", use_bias=False),
            L.MaxPooling1D(3, strides=1, padding="same"), L.AveragePooling1D(2),
            L.GlobalAveragePooling1D(keepdims=True), L.GlobalMaxPooling1D(), L.Dense(2),
        ], seed=2, name="sequence"),
    }


@pytest.mark.parametrize("name", sorted(every_new_layer_models()))
def test_round_trip_copies_weights_and_configs_exactly(name):
    check_round_trip(random_biases(every_new_layer_models()[name]))


def test_a_keras_built_model_converts_and_agrees():
    kmodel = keras.Sequential([
        keras.Input((10, 3)), keras.layers.Conv1D(4, 3, padding="causal", activation="relu"),
        keras.layers.MaxPooling1D(), keras.layers.AveragePooling1D(2, padding="same"),
        keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(2)])
    model = tfnet.from_keras(kmodel)
    x = np.random.default_rng(0).normal(size=(4, 10, 3)).astype(np.float32)
    assert_close(model.predict(x, verbose=0), kmodel.predict(x, verbose=0), 1e-5, "predictions")


@pytest.mark.parametrize("klayer, shape, pattern", [
    (keras.layers.AveragePooling2D(2, data_format="channels_first", name="p"), (6, 8, 4),
     r'"p" sets data_format=.channels_first.'),
    (keras.layers.Conv1D(4, 3, groups=2, name="c"), (6, 4), r'"c" sets groups=2'),
    (keras.layers.Resizing(4, 4, antialias=True, name="r"), (6, 8, 4), r'"r" sets antialias=True'),
    (keras.layers.Resizing(4, 4, interpolation="bicubic", name="r"), (6, 8, 4),
     r"interpolation 'bicubic' is not implemented in scratchnet"),
])
def test_from_keras_refuses_options_scratchnet_lacks(klayer, shape, pattern):
    kmodel = keras.Sequential([keras.Input(shape), klayer])
    with pytest.raises(ValueError, match=pattern):
        tfnet.from_keras(kmodel)
