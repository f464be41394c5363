"""The reshaping, activation, normalization, merging, masking and noise layers (UpSampling,
ZeroPadding, Cropping, RepeatVector, Permute, ELU, PReLU, Identity, LayerNormalization, Maximum,
Minimum, Masking, SpatialDropout, GaussianNoise, GaussianDropout): every backward pass against
float64 finite differences (tests/gradcheck.py, REL_TOL 1e-6), what the noise layers draw in
training, and a clear error for each bad argument or input. Keras parity:
parity_tests/test_layers_more_keras.py."""

import numpy as np
import pytest

import scratchnet as sn
from tests.gradcheck import REL_TOL, check_layer, numeric_grad, rel_error

L = sn.layers



def _randomize(layer, rng):
    for p in layer.weights:  # PReLU's zeros and LayerNormalization's ones would hide mistakes
        p.value[...] = rng.standard_normal(p.value.shape)


IMAGE_LAYERS = {  # on (2, 4, 5, 3)
    "elu": lambda: L.ELU(alpha=0.6),
    "prelu": lambda: L.PReLU(),
    "prelu_shared": lambda: L.PReLU(shared_axes=[1, 2]),
    "identity": lambda: L.Identity(),
    "upsampling2d_nearest": lambda: L.UpSampling2D((2, 3)),
    "upsampling2d_bilinear": lambda: L.UpSampling2D((3, 2), interpolation="bilinear"),
    "zeropadding2d": lambda: L.ZeroPadding2D(((1, 0), (2, 3))),
    "cropping2d": lambda: L.Cropping2D(((1, 2), (0, 3))),
    "permute": lambda: L.Permute((2, 3, 1)),
    "layernorm": lambda: L.LayerNormalization(),
    "layernorm_two_axes": lambda: L.LayerNormalization(axis=[1, 3]),
    "layernorm_no_center_no_scale": lambda: L.LayerNormalization(center=False, scale=False),
}
SEQUENCE_LAYERS = {  # on (2, 5, 3)
    "upsampling1d": lambda: L.UpSampling1D(3),
    "zeropadding1d": lambda: L.ZeroPadding1D((0, 2)),
    "cropping1d": lambda: L.Cropping1D((2, 1)),
    "layernorm_steps": lambda: L.LayerNormalization(axis=1),
}


@pytest.mark.parametrize("case", sorted(IMAGE_LAYERS))
def test_image_layers_match_finite_differences(case, float64):
    rng = np.random.default_rng(0)
    layer = IMAGE_LAYERS[case]()
    x = rng.standard_normal((2, 4, 5, 3))
    layer.ensure_built(x.shape[1:], rng)
    _randomize(layer, rng)
    check_layer(layer, x, rng)


@pytest.mark.parametrize("case", sorted(SEQUENCE_LAYERS))
def test_sequence_layers_match_finite_differences(case, float64):
    rng = np.random.default_rng(1)
    layer = SEQUENCE_LAYERS[case]()
    x = rng.standard_normal((2, 5, 3))
    layer.ensure_built(x.shape[1:], rng)
    _randomize(layer, rng)
    check_layer(layer, x, rng)


def test_repeat_vector_matches_finite_differences(float64):
    rng = np.random.default_rng(2)
    check_layer(L.RepeatVector(4), rng.standard_normal((3, 5)), rng)


@pytest.mark.parametrize("cls", [L.Maximum, L.Minimum])
def test_maximum_minimum_gradients_and_ties(cls, float64):
    """Away from ties the gradient is the finite difference; on a tie it goes to the first input."""
    rng = np.random.default_rng(3)
    xs = [rng.standard_normal((2, 4)), rng.standard_normal((2, 4)), rng.standard_normal((2, 1))]
    layer = cls()
    layer.ensure_built([x.shape[1:] for x in xs])
    w = rng.standard_normal((2, 4))
    layer.forward(xs)
    grads = layer.backward(w)
    for x, g in zip(xs, grads, strict=True):
        numeric = numeric_grad(lambda: float(np.sum(w * layer.forward(xs))), x)
        assert rel_error(g, numeric) < REL_TOL
    tied = [np.array([[1.0, 2.0]]), np.array([[1.0, 2.0]])]
    layer = cls()
    layer.ensure_built([(2,), (2,)])
    layer.forward(tied)
    first, second = layer.backward(np.array([[3.0, 4.0]]))
    np.testing.assert_array_equal(first, [[3.0, 4.0]])
    np.testing.assert_array_equal(second, [[0.0, 0.0]])


def test_maximum_propagates_nan_as_tensorflow():
    out = L.Maximum()([np.array([[np.nan, 1.0]]), np.array([[0.0, np.nan]])])
    assert np.isnan(out).all()


def test_layer_normalization_normalizes_each_sample_alone():
    """Mean 0 and variance 1/(1 + eps/var) per sample, whatever the other samples of the batch."""
    rng = np.random.default_rng(4)
    x = rng.normal(3.0, 2.0, size=(4, 6, 5)).astype(np.float32)
    layer = L.LayerNormalization(epsilon=1e-6)
    y = layer(x)
    np.testing.assert_allclose(y.mean(axis=-1), 0.0, atol=1e-6)
    np.testing.assert_allclose(y.var(axis=-1), 1.0, atol=1e-4)
    np.testing.assert_array_equal(layer(x[:1]), y[:1])  # the batch does not matter
    assert layer(x, training=True).tolist() == y.tolist()  # nor does training
    assert [p.shape for p in layer.weights] == [(5,), (5,)]
    assert [p.shape for p in L.LayerNormalization(axis=[1, 2]).weights] == []  # not built yet
    two = L.LayerNormalization(axis=[1, 2])
    two(x)
    assert [p.shape for p in two.weights] == [(6, 5), (6, 5)]


def test_masking_zeroes_masked_steps_and_their_gradients():
    """(Not a finite-difference case: moving a masked value by h unmasks its step, a jump.)"""
    x = np.array([[[0.5, 0.5], [1.0, 0.5], [0.5, 0.5]]], np.float32)
    layer = L.Masking(mask_value=0.5)
    y = layer(x)
    np.testing.assert_array_equal(y, [[[0, 0], [1.0, 0.5], [0, 0]]])
    np.testing.assert_array_equal(layer.compute_mask(x), [[False, True, False]])
    np.testing.assert_array_equal(layer.backward(np.full((1, 3, 2), 2.0, np.float32)),
                                  [[[0, 0], [2, 2], [0, 0]]])


def test_masking_hands_its_mask_to_a_recurrent_layer():
    """An all-zero step keeps the LSTM's state: a sequence padded at the end gives the output of
    the same sequence without the padding."""
    rng = np.random.default_rng(5)
    short = rng.standard_normal((1, 3, 2)).astype(np.float32)
    padded = np.concatenate([short, np.zeros((1, 2, 2), np.float32)], axis=1)
    lstm = L.LSTM(4)
    model = sn.Sequential([L.Input((5, 2)), L.Masking(), lstm], seed=0)
    alone = sn.Sequential([L.Input((3, 2)), L.LSTM(4)], seed=0)
    alone.set_weights(model.get_weights())
    np.testing.assert_allclose(model.predict(padded, verbose=0), alone.predict(short, verbose=0),
                               rtol=1e-6)


def test_spatial_dropout_drops_whole_channels_and_keeps_the_mean():
    x = np.ones((400, 3, 4, 8), np.float32)
    layer = L.SpatialDropout2D(0.25, seed=0)
    y = layer(x, training=True)
    per_map = y.reshape(400, 12, 8)
    assert (per_map == per_map[:, :1]).all()  # every pixel of a feature map shares its fate
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.75)}
    assert abs((y[:, 0, 0] == 0).mean() - 0.25) < 0.02  # 3200 draws: 0.25 +- 4.5 sigma
    np.testing.assert_array_equal(layer.backward(np.ones_like(y)), y)
    np.testing.assert_array_equal(layer(x), x)  # inference: the identity
    seq = L.SpatialDropout1D(0.5, seed=1)(np.ones((50, 6, 4), np.float32), training=True)
    assert (seq == seq[:, :1]).all()


def test_gaussian_noise_and_dropout_statistics():
    x = np.full((200, 500), 2.0, np.float32)
    noise = L.GaussianNoise(0.5, seed=0)
    y = noise(x, training=True)
    assert abs(y.mean() - 2.0) < 0.01 and abs(y.std() - 0.5) < 0.01
    np.testing.assert_array_equal(noise.backward(x), x)
    dropout = L.GaussianDropout(0.2, seed=0)
    y = dropout(x, training=True)
    stddev = np.sqrt(0.2 / 0.8)
    assert abs(y.mean() - 2.0) < 0.01 and abs(y.std() - 2.0 * stddev) < 0.01
    np.testing.assert_array_equal(dropout.backward(np.ones_like(x)), y / 2.0)
    for layer in (noise, dropout):
        np.testing.assert_array_equal(layer(x), x)  # inference: the identity


def test_noise_layers_repeat_with_their_seed():
    x = np.ones((3, 4, 4, 2), np.float32)
    for make in (lambda: L.GaussianNoise(0.3, seed=7), lambda: L.GaussianDropout(0.3, seed=7),
                 lambda: L.SpatialDropout2D(0.5, seed=7)):
        np.testing.assert_array_equal(make()(x, training=True), make()(x, training=True))


def test_numpy_and_numba_backends_agree():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((4, 6, 6, 2)).astype(np.float32)
    y = rng.integers(0, 3, 4)

    def model():
        return sn.Sequential([L.Input((6, 6, 2)), L.ZeroPadding2D(1), L.Conv2D(3, 3), L.PReLU(),
                              L.UpSampling2D(interpolation="bilinear"), L.Cropping2D(2),
                              L.LayerNormalization(axis=[1, 2, 3]), L.ELU(), L.Flatten(), L.Dense(3)],
                             seed=0)

    results = []
    for backend in ("numpy", "numba"):
        sn.set_backend(backend)
        try:
            m = model()
            m.compile(optimizer="adam", loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
            results.append([m.train_step(x, y)["loss"] for _ in range(3)])
        finally:
            sn.set_backend("numpy")
    np.testing.assert_allclose(results[0], results[1], rtol=1e-5)


def test_keras_aliases():
    assert L.MaxPool2D is L.MaxPooling2D and L.AvgPool2D is L.AveragePooling2D
    assert L.GlobalAvgPool1D is L.GlobalAveragePooling1D and L.GlobalMaxPool2D is L.GlobalMaxPooling2D
    assert L.maximum([np.ones((1, 2)), np.zeros((1, 2))]).tolist() == [[1.0, 1.0]]
    assert L.minimum([np.ones((1, 2)), np.zeros((1, 2))]).tolist() == [[0.0, 0.0]]


def test_default_names_are_keras():
    assert L.PReLU().name == "p_re_lu" and L.UpSampling2D().name == "up_sampling2d"
    assert L.ZeroPadding1D().name == "zero_padding1d" and L.SpatialDropout2D(0.1).name == "spatial_dropout2d"


def test_backend_module_has_keras_names():
    sn.backend.clear_session()
    assert sn.backend.floatx() == "float32" and sn.backend.epsilon() == 1e-7
    assert sn.backend.image_data_format() == "channels_last"
    assert sn.backend.backend() == sn.get_backend()


# ------------------------------------------------------------------- errors
@pytest.mark.parametrize("make, pattern", [
    (lambda: L.UpSampling2D(interpolation="bicubic"), "interpolation"),
    (lambda: L.UpSampling2D((2, 0)), "size"),
    (lambda: L.UpSampling1D(0), "size"),
    (lambda: L.UpSampling2D(data_format="channels_first"), "channels-last"),
    (lambda: L.ZeroPadding2D(((1, 2, 3), (1, 1))), "padding"),
    (lambda: L.ZeroPadding1D(-1), "padding"),
    (lambda: L.Cropping2D("a"), "cropping"),
    (lambda: L.RepeatVector(0), "n"),
    (lambda: L.Permute((1, 3)), "dims"),
    (lambda: L.ELU(alpha=float("nan")), "alpha"),
    (lambda: L.PReLU(shared_axes=[0]), "shared_axes"),
    (lambda: L.PReLU(alpha_constraint="nope"), "alpha_constraint"),
    (lambda: L.LayerNormalization(epsilon=0), "epsilon"),
    (lambda: L.LayerNormalization(rms_scaling=True), "rms_scaling"),
    (lambda: L.LayerNormalization(gamma_constraint="nope"), "gamma_constraint"),
    (lambda: L.GaussianNoise(-1.0), "stddev"),
    (lambda: L.GaussianDropout(1.0), "rate"),
    (lambda: L.SpatialDropout1D(1.5), "rate"),
    (lambda: L.Masking("zero"), "mask_value"),
])
def test_bad_arguments_name_themselves(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()


def test_layer_normalization_axis_must_be_ints():
    with pytest.raises(TypeError, match="axis"):
        L.LayerNormalization(axis="last")


@pytest.mark.parametrize("layer, shape, pattern", [
    (lambda: L.UpSampling2D(), (5, 3), r"expected ndim=4"),
    (lambda: L.Cropping1D((3, 3)), (5, 2), "at least one step"),
    (lambda: L.Cropping2D(((2, 2), (0, 0))), (4, 4, 1), "at least one row"),
    (lambda: L.RepeatVector(2), (3, 4), r"expected ndim=2"),
    (lambda: L.Permute((2, 1)), (3, 4, 5), r"expected ndim=3"),
    (lambda: L.SpatialDropout2D(0.2), (3, 4), r"expected ndim=4"),
    (lambda: L.LayerNormalization(axis=3), (3, 4), "out of bounds"),
    (lambda: L.PReLU(shared_axes=[3]), (3, 4), "out of range"),
    (lambda: L.Masking(), (4,), "steps, features"),
])
def test_wrong_input_shapes_name_the_layer(layer, shape, pattern):
    with pytest.raises(ValueError, match=pattern):
        sn.Sequential([L.Input(shape), layer()])


def test_a_model_input_of_the_wrong_shape_names_the_layer():
    model = sn.Sequential([L.Input((4, 4, 1)), L.UpSampling2D(), L.Flatten(), L.Dense(2)])
    with pytest.raises(ValueError, match=r"expected shape=\(None, 4, 4, 1\)"):
        model.predict(np.zeros((2, 5, 4, 1), np.float32), verbose=0)


# ------------------------------------------------------------------- Conv2DTranspose
def _paint(x, kernel, bias, strides, dilation, pads, out_hw):
    """Conv2DTranspose's definition as loops: each input pixel paints kernel[a, b] @ x[n, i, j]
    onto the output at (i*sh + a*dh - top, j*sw + b*dw - left); cells outside are dropped."""
    n, h, w, _ = x.shape
    kh, kw, f, _ = kernel.shape
    (sh, sw), (dh, dw), ((top, _), (left, _)) = strides, dilation, pads
    out = np.zeros((n, *out_hw, f))
    for i in range(h):
        for j in range(w):
            for a in range(kh):
                for b in range(kw):
                    r, c = i * sh + a * dh - top, j * sw + b * dw - left
                    if 0 <= r < out_hw[0] and 0 <= c < out_hw[1]:
                        out[:, r, c, :] += x[:, i, j, :] @ kernel[a, b].T
    return out + bias


TRANSPOSE_CASES = {
    "valid": dict(filters=3, kernel_size=3),
    "valid_strides_output_padding": dict(filters=2, kernel_size=3, strides=2, output_padding=1),
    "same_strides": dict(filters=2, kernel_size=3, strides=(2, 3), padding="same"),
    "same_even_kernel_output_padding": dict(filters=2, kernel_size=4, strides=2, padding="same",
                                            output_padding=1),
    "dilated": dict(filters=2, kernel_size=3, dilation_rate=2),
    "dilated_same": dict(filters=2, kernel_size=(3, 2), dilation_rate=(2, 3), padding="same"),
}


@pytest.mark.parametrize("case", sorted(TRANSPOSE_CASES))
def test_conv2d_transpose_paints_and_matches_finite_differences(case, float64):
    rng = np.random.default_rng(7)
    layer = L.Conv2DTranspose(**TRANSPOSE_CASES[case])
    x = rng.standard_normal((2, 4, 3, 3))
    layer.ensure_built(x.shape[1:], rng)
    _randomize(layer, rng)
    expected = _paint(x, layer.kernel.value, layer.bias.value, layer.strides, layer.dilation_rate,
                      layer.pads, layer.out_hw)
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-12, atol=1e-12)
    check_layer(layer, x, rng)


def test_conv2d_transpose_output_shapes_are_keras():
    """Keras' compute_conv_transpose_output_shape, on a 5x4 input."""
    for kwargs, shape in [(dict(kernel_size=3), (7, 6)), (dict(kernel_size=3, strides=2), (11, 9)),
                          (dict(kernel_size=2, strides=3), (15, 12)),  # output_padding: max(e, s) - e = 1
                          (dict(kernel_size=3, strides=2, output_padding=1), (12, 10)),
                          (dict(kernel_size=3, strides=2, padding="same"), (10, 8)),
                          (dict(kernel_size=3, strides=2, padding="same", output_padding=1), (10, 8)),
                          (dict(kernel_size=3, dilation_rate=2), (9, 8))]:
        layer = L.Conv2DTranspose(2, **kwargs)
        assert layer(np.zeros((1, 5, 4, 1), np.float32)).shape == (1, *shape, 2), kwargs


def test_conv2d_transpose_errors():
    with pytest.raises(ValueError, match="output_padding"):
        L.Conv2DTranspose(2, 3, strides=2, output_padding=2)
    with pytest.raises(ValueError, match="padding"):
        L.Conv2DTranspose(2, 3, padding="causal")
    with pytest.raises(ValueError, match="does not map back"):  # TensorFlow refuses it too
        sn.Sequential([L.Input((4, 4, 1)), L.Conv2DTranspose(2, 2, strides=3, padding="same",
                                                             output_padding=0)])
    with pytest.raises(ValueError, match=r"expected ndim=4"):
        sn.Sequential([L.Input((4, 4)), L.Conv2DTranspose(2, 3)])


@pytest.mark.parametrize("cls", [L.GlobalAveragePooling1D, L.GlobalMaxPooling1D])
@pytest.mark.parametrize("keepdims", [False, True])
def test_channels_first_global_pooling_1d(cls, keepdims, float64):
    """(N, C, L) pooled over its last axis, as the channels-last layer on the transposed input."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 3, 5))
    layer = cls(data_format="channels_first", keepdims=keepdims)
    y = layer(x)
    expected = cls(keepdims=keepdims)(x.swapaxes(1, 2))
    np.testing.assert_array_equal(y, expected.swapaxes(1, 2) if keepdims else expected)
    check_layer(cls(data_format="channels_first", keepdims=keepdims), x, rng)


def test_channels_first_pooling_refuses_a_mask_and_2d():
    layer = L.GlobalAveragePooling1D(data_format="channels_first")
    layer(np.zeros((1, 2, 3)))
    with pytest.raises(ValueError, match="channels_first"):
        layer.forward(np.zeros((1, 2, 3)), mask=np.ones((1, 3), bool))
    with pytest.raises(ValueError, match="channels_last"):
        L.GlobalAveragePooling2D(data_format="channels_first")
