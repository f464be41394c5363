"""The reshaping, activation, normalization, merging, masking and noise layers a Keras program
meets after the course's first models (Conv2DTranspose, UpSampling, ZeroPadding, Cropping, RepeatVector,
Permute, ELU, PReLU, Identity, LayerNormalization, Maximum, Minimum, Masking, SpatialDropout, GaussianNoise,
GaussianDropout) against Keras 3.15: every layer's output to FORWARD_RTOL, the loss and every
gradient through it to GRAD_RTOL, SGD and Adam steps to TRAJECTORY_RTOL, and to_keras/from_keras
round trips. Same weights and batches on both sides (parity_tests/driver.py)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import scratchnet as sn
import tfnet
from parity_tests.driver import (
    FORWARD_RTOL,
    assert_close,
    assert_parity,
    check_round_trip,
    layer_model,
    make_twins,
    random_data,
    random_weights,
)

L = sn.layers
SCCE = sn.losses.SparseCategoricalCrossentropy




# ------------------------------------------------------------------- each layer alone
IMAGE_LAYERS = {  # on (N, 5, 6, 3)
    "elu": lambda: L.ELU(),
    "elu_alpha": lambda: L.ELU(alpha=0.4),
    "prelu": lambda: L.PReLU(),
    "prelu_shared_rows_cols": lambda: L.PReLU(shared_axes=[1, 2]),
    "identity": lambda: L.Identity(),
    "upsampling2d_nearest": lambda: L.UpSampling2D(),
    "upsampling2d_nearest_2x3": lambda: L.UpSampling2D((2, 3)),
    "upsampling2d_bilinear": lambda: L.UpSampling2D(interpolation="bilinear"),
    "upsampling2d_bilinear_3x1": lambda: L.UpSampling2D((3, 1), interpolation="bilinear"),
    "zeropadding2d_int": lambda: L.ZeroPadding2D(2),
    "zeropadding2d_per_axis": lambda: L.ZeroPadding2D((1, 2)),
    "zeropadding2d_per_side": lambda: L.ZeroPadding2D(((0, 1), (3, 2))),
    "cropping2d_int": lambda: L.Cropping2D(1),
    "cropping2d_per_side": lambda: L.Cropping2D(((1, 2), (0, 3))),
    "permute": lambda: L.Permute((3, 1, 2)),
    "layernorm": lambda: L.LayerNormalization(),
    "layernorm_rows_cols": lambda: L.LayerNormalization(axis=[1, 2]),
    "layernorm_all_no_center": lambda: L.LayerNormalization(axis=(-3, -2, -1), center=False),
    "layernorm_no_scale_eps": lambda: L.LayerNormalization(scale=False, epsilon=0.5),
}
# Random in training (each library draws its own numbers): compared in inference, where each is
# the identity; tests/test_layers_more.py checks their training statistics.
NOISE_LAYERS = {
    "spatial_dropout1d": (lambda: L.SpatialDropout1D(0.5), (7, 3)),
    "spatial_dropout2d": (lambda: L.SpatialDropout2D(0.5), (5, 6, 3)),
    "gaussian_noise": (lambda: L.GaussianNoise(1.0), (5, 6, 3)),
    "gaussian_dropout": (lambda: L.GaussianDropout(0.3), (5, 6, 3)),
}

SEQUENCE_LAYERS = {  # on (N, 7, 3)
    "upsampling1d": lambda: L.UpSampling1D(3),
    "zeropadding1d": lambda: L.ZeroPadding1D((2, 1)),
    "cropping1d": lambda: L.Cropping1D((1, 3)),
    "permute_swap": lambda: L.Permute((2, 1)),
    "layernorm_steps": lambda: L.LayerNormalization(axis=1),
    "prelu_shared_steps": lambda: L.PReLU(shared_axes=1),
}

class _KerasOnly(keras.constraints.Constraint):
    """A constraint of the user's own, which scratchnet cannot know."""

    def __call__(self, w):
        return w



@pytest.mark.parametrize("case", sorted(IMAGE_LAYERS))
def test_image_layer_forward(case):
    x, _ = random_data((5, 6, 3), n=3)
    assert_parity(random_weights(layer_model(IMAGE_LAYERS[case](), (5, 6, 3))), x * 2)


@pytest.mark.parametrize("case", sorted(SEQUENCE_LAYERS))
def test_sequence_layer_forward(case):
    x, _ = random_data((7, 3), n=3)
    assert_parity(random_weights(layer_model(SEQUENCE_LAYERS[case](), (7, 3))), x * 2)


@pytest.mark.parametrize("case", sorted(NOISE_LAYERS))
def test_noise_layer_forward_in_inference(case):
    make, shape = NOISE_LAYERS[case]
    x, _ = random_data(shape, n=3)
    assert_parity(layer_model(make(), shape), x)


def test_repeat_vector_forward():
    x, _ = random_data((5,), n=3)
    assert_parity(layer_model(L.RepeatVector(4), (5,)), x)


# ------------------------------------------------------------------- gradients through a stack
@pytest.mark.parametrize("case", sorted(IMAGE_LAYERS))
def test_image_layer_gradients(case):
    """A Conv2D before the layer under test, so its input gradient (dL/dx) is checked too (with a
    tanh: a bias added per channel and then normalized over rows and columns has a gradient of
    exactly 0, which two libraries round to different tiny numbers)."""
    x, y = random_data((5, 6, 3))
    model = random_weights(sn.Sequential([
        L.Input((5, 6, 3)), L.Conv2D(3, 2, padding="same", activation="tanh"), IMAGE_LAYERS[case](),
        L.Flatten(),
        L.Dense(4)], seed=0))
    assert_parity(model, x, y, loss=SCCE(from_logits=True))


@pytest.mark.parametrize("case", sorted(SEQUENCE_LAYERS))
def test_sequence_layer_gradients(case):
    x, y = random_data((7, 3))
    model = random_weights(sn.Sequential([
        L.Input((7, 3)), L.Conv1D(3, 2, padding="same", activation="tanh"), SEQUENCE_LAYERS[case](),
        L.Flatten(),
        L.Dense(4)], seed=0))
    assert_parity(model, x, y, loss=SCCE(from_logits=True))


def test_repeat_vector_gradients_through_an_lstm():
    """The encoder-decoder shape: a vector repeated into a sequence a recurrent layer reads."""
    x, y = random_data((6,))
    model = random_weights(sn.Sequential([
        L.Input((6,)), L.Dense(5, activation="tanh"), L.RepeatVector(3),
        L.LSTM(4, return_sequences=True), L.Flatten(), L.Dense(4)], seed=0))
    assert_parity(model, x, y, loss=SCCE(from_logits=True))


def test_elu_and_prelu_at_exact_zeros_and_ties():
    """At x == 0 both pass no gradient through the negative branch, as TensorFlow's EluGrad (which
    branches on the output) and relu's gradient (0 at 0): integer inputs hit 0 exactly."""
    x = np.array([[-2.0, -1.0, 0.0, 1.0, 3.0, 0.0]], dtype=np.float32)
    for layer in (L.ELU(alpha=0.7), L.PReLU(alpha_initializer="ones")):
        model = layer_model(layer, (6,))
        if isinstance(layer, L.PReLU):
            model.set_weights([np.array([0.5, -1.5, 2.0, 0.3, 0.1, -0.2], np.float32)])
        klayer = tfnet.to_keras(model).layers[0]
        xt = tf.constant(x)
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(xt)
            ky = klayer(xt)
        dy = np.array([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]], dtype=np.float32)
        y = model.layers[0].forward(x, training=True)
        np.testing.assert_array_equal(y, ky.numpy())
        np.testing.assert_array_equal(model.layers[0].backward(dy),
                                      tape.gradient(ky, xt, output_gradients=tf.constant(dy)).numpy())


# ------------------------------------------------------------------- Conv2DTranspose
TRANSPOSE_CASES = {
    "valid": dict(filters=4, kernel_size=3),
    "valid_stride_2": dict(filters=3, kernel_size=3, strides=2),
    "valid_stride_2_output_padding": dict(filters=3, kernel_size=3, strides=2, output_padding=1),
    "valid_stride_larger_than_kernel": dict(filters=2, kernel_size=2, strides=3),
    "same": dict(filters=4, kernel_size=3, padding="same"),
    "same_stride_2": dict(filters=3, kernel_size=3, strides=2, padding="same", activation="relu"),
    "same_stride_2_output_padding": dict(filters=3, kernel_size=3, strides=2, padding="same",
                                         output_padding=1),
    "same_even_kernel_strides_2x3": dict(filters=2, kernel_size=(4, 2), strides=(2, 3), padding="same"),
    # (dilation_rate > 1: TensorFlow's CPU kernel refuses it, "Current CPU implementations do not
    # yet support dilation rates larger than 1"; tests/test_layers_more.py checks scratchnet's
    # against the painting loop and finite differences)
    "no_bias": dict(filters=3, kernel_size=(2, 3), strides=(1, 2), use_bias=False),
}


@pytest.mark.parametrize("case", sorted(TRANSPOSE_CASES))
def test_conv2d_transpose_forward(case):
    x, _ = random_data((5, 4, 3), n=2)
    layer = L.Conv2DTranspose(**TRANSPOSE_CASES[case])
    assert_parity(random_weights(layer_model(layer, (5, 4, 3))), x)


@pytest.mark.parametrize("case", sorted(TRANSPOSE_CASES))
def test_conv2d_transpose_gradients_through_a_stack(case):
    x, y = random_data((5, 4, 3))
    model = random_weights(sn.Sequential([
        L.Input((5, 4, 3)), L.Conv2D(3, 2, padding="same", activation="tanh"),
        L.Conv2DTranspose(**TRANSPOSE_CASES[case]), L.Flatten(), L.Dense(4)], seed=0))
    assert_parity(model, x, y, loss=SCCE(from_logits=True))


def test_an_autoencoder_trains_as_keras():
    """The Keras autoencoder example's shape: Conv2D with strides down, Conv2DTranspose up, a
    sigmoid image out, binary cross-entropy against the input itself; 10 Adam steps."""
    model = sn.Sequential([
        L.Input((8, 8, 1)), L.Conv2D(4, 3, strides=2, padding="same", activation="relu"),
        L.Conv2D(6, 3, strides=2, padding="same", activation="relu"),
        L.Conv2DTranspose(6, 3, strides=2, padding="same", activation="relu"),
        L.Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu"),
        L.Conv2D(1, 3, padding="same", activation="sigmoid")], seed=0)
    x = np.random.default_rng(0).random((16, 8, 8, 1)).astype(np.float32)
    assert_parity(model, x, x, loss=sn.losses.BinaryCrossentropy(), optimizer=sn.optimizers.Adam(0.01),
                  steps=10, batch_size=8)


# ------------------------------------------------------------------- Maximum and Minimum
@pytest.mark.parametrize("cls", [L.Maximum, L.Minimum])
def test_maximum_minimum_forward_gradients_and_ties(cls):
    """Three inputs, rounded to halves so that ties happen; Keras' gradient goes to the first of
    the tied inputs (TensorFlow's maximum gradient takes x >= y), and so does scratchnet's."""
    sn.utils.set_random_seed(3)
    inputs = sn.Input((6,))
    a = L.Dense(6, name="a")(inputs)
    b = L.Dense(6, name="b")(inputs)
    c = L.Dense(1, name="c")(inputs)  # (N, 1): broadcast against (N, 6), as Keras allows
    merged = cls()([a, b, c])
    model = sn.Model(inputs, L.Dense(3, name="out")(merged))
    rng = np.random.default_rng(0)
    model.set_weights([np.round(rng.normal(0, 1, w.shape) * 2) / 2 for w in model.get_weights()])
    x = np.array([[1, 0, 0, 1, 0, 0], [0, 1, 1, 0, 0, 1], [1, 1, 0, 0, 1, 0],
                  [0, 0, 0, 0, 0, 0]], dtype=np.float32)
    y = np.array([0, 1, 2, 1])
    merged_model = sn.Model(inputs, merged)
    values = np.stack([sn.Model(inputs, t)(x) + np.zeros((4, 6), np.float32) for t in (a, b, c)])
    picked = values.max(0) if cls is L.Maximum else values.min(0)
    assert ((values == picked).sum(0) > 1).any(), "the case should contain ties"
    np.testing.assert_array_equal(merged_model(x), picked)
    assert_parity(model, x, y, loss=SCCE(from_logits=True))


# ------------------------------------------------------------------- Masking
def test_masking_feeds_a_recurrent_layer_as_keras():
    """Sequences padded with all-zero steps at the end; Masking marks them, the LSTM keeps its
    state across them: outputs and gradients as Keras'. Without the mask both would differ."""
    x, y = random_data((6, 3), n=4)
    for n, length in enumerate((6, 4, 2, 5)):
        x[n, length:] = 0.0
    x[1, 1] = [0.0, 0.0, 0.0]  # a zero step inside a sequence is masked too
    model = random_weights(sn.Sequential([
        L.Input((6, 3)), L.Masking(), L.LSTM(4), L.Dense(3)], seed=0))
    assert_parity(model, x, y % 3, loss=SCCE(from_logits=True))
    unmasked = random_weights(sn.Sequential([L.Input((6, 3)), L.LSTM(4), L.Dense(3)], seed=0))
    assert not np.allclose(unmasked.predict(x, verbose=0), model.predict(x, verbose=0))


def test_masking_with_a_mask_value_and_return_sequences():
    x, y = random_data((5, 2), n=3)
    x[0, 3:] = -1.0
    x[2, :2] = -1.0
    model = random_weights(sn.Sequential([
        L.Input((5, 2)), L.Masking(mask_value=-1.0), L.GRU(3, return_sequences=True),
        L.GlobalAveragePooling1D(), L.Dense(3)], seed=0))
    assert_parity(model, x, y % 3, loss=SCCE(from_logits=True))


# ------------------------------------------------------------------- training
def decoder_model():
    """An autoencoder's decoder: Dense -> Reshape -> UpSampling2D -> Conv2D, with PReLU,
    LayerNormalization, padding and cropping."""
    return random_weights(sn.Sequential([
        L.Input((6,)), L.Dense(3 * 3 * 4), L.PReLU(), L.Reshape((3, 3, 4)),
        L.UpSampling2D(), L.ZeroPadding2D(1), L.Conv2D(4, 3, activation="elu"),
        L.UpSampling2D(interpolation="bilinear"), L.Cropping2D(((1, 0), (0, 1))),
        L.LayerNormalization(axis=[1, 2, 3]), L.Conv2D(2, 3), L.Flatten(), L.Dense(3)], seed=0))


def sequence_model():
    return random_weights(sn.Sequential([
        L.Input((8, 3)), L.ZeroPadding1D(1), L.Conv1D(4, 3), L.LayerNormalization(), L.ELU(),
        L.UpSampling1D(2), L.Cropping1D((2, 2)), L.Permute((2, 1)), L.PReLU(shared_axes=[2]),
        L.Flatten(), L.Dense(3)], seed=0))


def training_data(model, n=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, *model.input_shape[1:])).astype(np.float32)
    return x, rng.integers(0, 3, n)


@pytest.mark.parametrize("make", [decoder_model, sequence_model], ids=lambda f: f.__name__)
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_ten_steps_agree_step_by_step(make, optimizer):
    model = make()
    x, y = training_data(model)
    opt = sn.optimizers.SGD(0.05, momentum=0.9) if optimizer == "sgd" else sn.optimizers.Adam(0.01)
    assert_parity(model, x, y, loss=SCCE(from_logits=True), optimizer=opt, steps=10, batch_size=8)


def test_noise_layers_leave_training_to_the_rest_of_the_model():
    """In inference every noise layer is the identity, so a fitted model with them predicts as its
    Keras twin (the training draws differ: each library has its own generator)."""
    model = sn.Sequential([L.Input((6, 5, 2)), L.GaussianNoise(0.1), L.Conv2D(3, 2),
                           L.SpatialDropout2D(0.3), L.GaussianDropout(0.2), L.Flatten(), L.Dense(3)],
                          seed=0)
    x, y = training_data(model)
    twins = make_twins(model, loss=SCCE(from_logits=True))
    twins.scratch.fit(x, y, epochs=2, batch_size=8, verbose=0)
    twins.keras.set_weights(twins.scratch.get_weights())
    assert_close(twins.scratch.predict(x, verbose=0), twins.keras.predict(x, verbose=0),
                 FORWARD_RTOL, "predictions")


# ------------------------------------------------------------------- conversion
def every_new_layer_models():
    inputs = sn.Input((4,), name="features")
    a, b = L.Dense(3, name="a")(inputs), L.Dense(3, name="b")(inputs)
    merged = L.Concatenate()([L.Maximum()([a, b]), L.Minimum()([a, b])])
    return {
        "image": sn.Sequential([
            L.Input((6, 5, 2)), L.ZeroPadding2D(((1, 0), (2, 1))), L.Cropping2D((1, 2)),
            L.UpSampling2D((2, 1), interpolation="bilinear"), L.UpSampling2D(3),
            L.PReLU(alpha_initializer="ones", alpha_regularizer=sn.regularizers.L2(0.25),
                    shared_axes=[1, 2]),
            L.LayerNormalization(axis=[-2, -1], epsilon=1e-5, gamma_regularizer=sn.regularizers.L1(0.5)),
            L.ELU(alpha=0.2), L.Identity(), L.SpatialDropout2D(0.2, seed=3),
            L.GaussianNoise(0.1, seed=4), L.GaussianDropout(0.1, seed=5), L.Permute((2, 1, 3)),
            L.Conv2DTranspose(2, 3, strides=2, padding="same", output_padding=1, activation="relu",
                              kernel_initializer="he_uniform", kernel_regularizer=sn.regularizers.L2(0.5)),
            L.Flatten(), L.Dense(2)], seed=1, name="image"),
        "sequence": sn.Sequential([
            L.Input((9, 3)), L.ZeroPadding1D(2), L.Cropping1D((1, 2)), L.UpSampling1D(2),
            L.Masking(mask_value=0.5), L.SpatialDropout1D(0.1), L.LayerNormalization(center=False),
            L.LSTM(3), L.RepeatVector(2), L.Flatten(), L.Dense(2)], seed=2, name="sequence"),
        "merging": sn.Model(inputs, L.Dense(2)(merged), name="merging"),
    }


@pytest.mark.parametrize("name", sorted(every_new_layer_models()))
def test_round_trip_copies_weights_and_configs_exactly(name):
    check_round_trip(random_weights(every_new_layer_models()[name]))


def test_keras_configs_and_default_names_match():
    """get_config() holds Keras' argument names and values, and a layer's default name is Keras'
    ("p_re_lu", "up_sampling2d", ...): both are what .keras files carry."""
    pairs = [(L.UpSampling2D((2, 3), interpolation="bilinear"),
              keras.layers.UpSampling2D((2, 3), interpolation="bilinear")),
             (L.ZeroPadding2D(((1, 2), (3, 4))), keras.layers.ZeroPadding2D(((1, 2), (3, 4)))),
             (L.Cropping1D(2), keras.layers.Cropping1D(2)), (L.RepeatVector(4), keras.layers.RepeatVector(4)),
             (L.Permute((2, 1)), keras.layers.Permute((2, 1))), (L.ELU(0.5), keras.layers.ELU(0.5)),
             (L.Masking(2.0), keras.layers.Masking(2.0)), (L.PReLU(), keras.layers.PReLU()),
             (L.SpatialDropout2D(0.2), keras.layers.SpatialDropout2D(0.2)),
             (L.GaussianNoise(0.3, seed=1), keras.layers.GaussianNoise(0.3, seed=1)),
             (L.LayerNormalization(axis=[1, 2]), keras.layers.LayerNormalization(axis=[1, 2]))]
    for layer, klayer in pairs:
        # Keras' whole dict, name aside (a tuple is not a list: == tells them apart)
        config = {k: v for k, v in layer.get_config().items() if k != "name"}
        assert config == {k: v for k, v in klayer.get_config().items() if k != "name"}, type(layer).__name__
        assert layer.name.rstrip("_0123456789") == klayer.name.rstrip("_0123456789")


def test_keras_aliases_are_the_same_classes():
    assert L.MaxPool2D is L.MaxPooling2D and L.AvgPool1D is L.AveragePooling1D
    assert L.GlobalAvgPool2D is L.GlobalAveragePooling2D and L.GlobalMaxPool1D is L.GlobalMaxPooling1D
    for name in ("MaxPool1D", "MaxPool2D", "AvgPool1D", "AvgPool2D", "GlobalAvgPool1D",
                 "GlobalAvgPool2D", "GlobalMaxPool1D", "GlobalMaxPool2D"):
        assert getattr(keras.layers, name).__name__ == getattr(L, name).__name__


def test_every_public_layer_name_is_keras_name_for_the_same_class():
    """Each class scratchnet exports under a Keras name is, under every alias, the class Keras
    gives that name to (keras.layers.Convolution2D is Conv2D, so the .keras file says "Conv2D")."""
    classes = [name for name in L.__all__ if isinstance(getattr(L, name), type)
               and name not in ("Layer", "ActivatedLayer", "Parameter")]
    assert {"Convolution1D", "Convolution2D", "Convolution1DTranspose", "Convolution2DTranspose",
            "SeparableConvolution1D", "SeparableConvolution2D"} <= set(classes)
    for name in classes:
        assert getattr(keras.layers, name).__name__ == getattr(L, name).__name__, name
    for name in classes:
        same = [other for other in classes
                if getattr(keras.layers, other) is getattr(keras.layers, name)]
        assert all(getattr(L, other) is getattr(L, name) for other in same), (name, same)


@pytest.mark.parametrize("klayer, shape, pattern", [
    (lambda: keras.layers.UpSampling2D(interpolation="bicubic"), (4, 4, 1), "interpolation"),
    (lambda: keras.layers.LayerNormalization(gamma_constraint=_KerasOnly()), (4,), "gamma_constraint"),
    (lambda: keras.layers.PReLU(alpha_constraint=_KerasOnly()), (4,), "alpha_constraint"),
    (lambda: keras.layers.Conv2DTranspose(2, 3, kernel_constraint=_KerasOnly()), (4, 4, 1),
     "kernel_constraint"),
])
def test_from_keras_refuses_options_scratchnet_lacks(klayer, shape, pattern):
    kmodel = keras.Sequential([keras.Input(shape), klayer()])
    with pytest.raises(ValueError, match=pattern):
        tfnet.from_keras(kmodel)
