"""The 3-D layers (volumes, videos): Conv3D, Conv3DTranspose, MaxPooling3D, AveragePooling3D,
GlobalAveragePooling3D, GlobalMaxPooling3D, UpSampling3D, ZeroPadding3D, Cropping3D and
SpatialDropout3D. Every backward pass against float64 finite differences (tests/gradcheck.py,
REL_TOL 1e-6), each forward pass against its docstring's definition written as plain loops,
MaxPooling3D's tie rule, configs, Keras' aliases and default names, .keras and .h5 round trips, the
Numba backend, and a clear error for each bad argument or input. Keras parity:
parity_tests/test_volume_layers_keras.py."""

import itertools

import numpy as np
import pytest

import scratchnet as sn
from tests.gradcheck import check_layer

L = sn.layers
SHAPE = (2, 4, 5, 6, 3)  # (N, D, H, W, C)


def _randomize(layer, rng):
    for p in layer.weights:  # a zero bias would hide a bias bug
        p.value[...] = rng.standard_normal(p.value.shape)


LAYERS = {
    "conv3d": lambda: L.Conv3D(2, 3),
    "conv3d_same_strided": lambda: L.Conv3D(4, (2, 3, 2), strides=(1, 2, 2), padding="same"),
    "conv3d_dilated": lambda: L.Conv3D(2, 2, dilation_rate=(1, 2, 2), activation="tanh"),
    "conv3d_dilated_same": lambda: L.Conv3D(2, 3, dilation_rate=2, padding="same"),
    "conv3d_groups": lambda: L.Conv3D(6, 2, groups=3, padding="same", activation="relu"),
    "conv3d_no_bias": lambda: L.Conv3D(3, (1, 2, 3), strides=2, use_bias=False),
    "conv3d_transpose": lambda: L.Conv3DTranspose(2, 3),
    "conv3d_transpose_strided_same": lambda: L.Conv3DTranspose(2, 3, strides=2, padding="same"),
    "conv3d_transpose_output_padding": lambda: L.Conv3DTranspose(2, 2, strides=(1, 2, 3),
                                                                 output_padding=(0, 1, 2)),
    "conv3d_transpose_dilated": lambda: L.Conv3DTranspose(2, 2, dilation_rate=2, activation="tanh"),
    "conv3d_transpose_dilated_same": lambda: L.Conv3DTranspose(3, 2, dilation_rate=(1, 2, 3), padding="same"),
    "max_pool3d": lambda: L.MaxPooling3D(),
    "max_pool3d_same_overlapping": lambda: L.MaxPooling3D((2, 3, 2), strides=1, padding="same"),
    "max_pool3d_strided_same": lambda: L.MaxPooling3D(3, strides=2, padding="same"),
    "avg_pool3d": lambda: L.AveragePooling3D(2),
    "avg_pool3d_same": lambda: L.AveragePooling3D((3, 2, 4), strides=(2, 1, 3), padding="same"),
    "global_avg_pool3d": lambda: L.GlobalAveragePooling3D(),
    "global_avg_pool3d_keepdims": lambda: L.GlobalAveragePooling3D(keepdims=True),
    "global_max_pool3d": lambda: L.GlobalMaxPooling3D(),
    "global_max_pool3d_keepdims": lambda: L.GlobalMaxPooling3D(keepdims=True),
    "up_sampling3d": lambda: L.UpSampling3D((2, 1, 3)),
    "zero_padding3d": lambda: L.ZeroPadding3D(((1, 0), (2, 1), (0, 3))),
    "cropping3d": lambda: L.Cropping3D(((1, 0), (2, 1), (0, 3))),
}


@pytest.mark.parametrize("case", sorted(LAYERS))
def test_layers_match_finite_differences(case, float64):
    rng = np.random.default_rng(0)
    layer = LAYERS[case]()
    x = rng.standard_normal(SHAPE)
    layer.ensure_built(x.shape[1:], rng)
    _randomize(layer, rng)
    check_layer(layer, x, rng)


def test_spatial_dropout3d_gradient_is_its_mask(float64):
    layer = L.SpatialDropout3D(0.4, seed=2)
    layer.ensure_built(SHAPE[1:], np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal(SHAPE)
    y = layer.forward(x, training=True)
    dx = layer.backward(np.ones_like(y))
    assert set(np.unique(dx)) == {0.0, 1 / 0.6}
    np.testing.assert_allclose(y, x * dx, rtol=1e-15)  # y = x * mask / (1 - rate), read backwards


# ------------------------------------------------------------------- the definitions as loops
def _conv3d_loops(xpad, kernel, bias, strides, dilation, out_shape, groups):
    """The Conv3D docstring's sum, one output cell at a time."""
    n, (od, oh, ow), filters = xpad.shape[0], out_shape, kernel.shape[-1]
    cg, fg = kernel.shape[3], filters // groups
    z = np.zeros((n, od, oh, ow, filters))
    for i, j, k in itertools.product(range(od), range(oh), range(ow)):
        for a, b, e in itertools.product(*(range(s) for s in kernel.shape[:3])):
            cell = xpad[:, i * strides[0] + a * dilation[0], j * strides[1] + b * dilation[1],
                        k * strides[2] + e * dilation[2]]  # (N, C)
            for f in range(filters):
                g = f // fg
                z[:, i, j, k, f] += cell[:, g * cg:(g + 1) * cg] @ kernel[a, b, e, :, f]
    return z + bias


@pytest.mark.parametrize("kwargs", [
    dict(filters=2, kernel_size=3),
    dict(filters=4, kernel_size=(2, 3, 2), strides=(1, 2, 2), padding="same"),
    dict(filters=2, kernel_size=2, dilation_rate=(2, 1, 2), padding="same"),
    dict(filters=6, kernel_size=2, groups=3),
])
def test_conv3d_is_its_definition(kwargs, float64):
    rng = np.random.default_rng(3)
    layer = L.Conv3D(**kwargs)
    x = rng.standard_normal(SHAPE)
    layer.ensure_built(x.shape[1:], rng)
    _randomize(layer, rng)
    xpad = np.pad(x, ((0, 0), *layer.pads, (0, 0)))
    expected = _conv3d_loops(xpad, layer.kernel.value, layer.bias.value, layer.strides,
                             layer.dilation_rate, layer.out_shape, layer.groups)
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-12, atol=1e-12)


def test_conv3d_groups_are_separate_convolutions(float64):
    """groups=2: the first half of the filters sees only the first half of the channels."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 4, 4, 4, 4))
    grouped = L.Conv3D(6, 2, groups=2)
    grouped.ensure_built(x.shape[1:], rng)
    _randomize(grouped, rng)
    y = grouped.forward(x)
    for g in range(2):
        alone = L.Conv3D(3, 2)
        alone.ensure_built((4, 4, 4, 2), rng)
        alone.kernel.value[...] = grouped.kernel.value[..., 3 * g:3 * g + 3]
        alone.bias.value[...] = grouped.bias.value[3 * g:3 * g + 3]
        np.testing.assert_allclose(y[..., 3 * g:3 * g + 3], alone.forward(x[..., 2 * g:2 * g + 2]),
                                   rtol=1e-12)
    assert grouped.kernel.shape == (2, 2, 2, 2, 6)  # (KD, KH, KW, C / groups, filters)


def test_conv3d_transpose_paints_as_defined(float64):
    rng = np.random.default_rng(5)
    layer = L.Conv3DTranspose(2, (2, 3, 2), strides=(2, 1, 2), padding="same")
    x = rng.standard_normal((2, 3, 2, 3, 3))
    layer.ensure_built(x.shape[1:], rng)
    _randomize(layer, rng)
    (front, _), (top, _), (left, _) = layer.pads
    z = np.zeros((2, *layer.out_shape, 2))
    for i, j, k in itertools.product(range(3), range(2), range(3)):
        for a, b, e in itertools.product(range(2), range(3), range(2)):
            t = (i * 2 + a - front, j + b - top, k * 2 + e - left)
            if all(0 <= v < n for v, n in zip(t, layer.out_shape, strict=True)):
                z[:, t[0], t[1], t[2]] += x[:, i, j, k] @ layer.kernel.value[a, b, e].T
    np.testing.assert_allclose(layer.forward(x), z + layer.bias.value, rtol=1e-12, atol=1e-12)
    assert layer.out_shape == (6, 2, 6) and layer.kernel.shape == (2, 3, 2, 2, 3)


def test_pooling_is_its_definition():
    x = np.random.default_rng(6).standard_normal((2, 5, 4, 6, 3)).astype(np.float32)
    y = L.MaxPooling3D((2, 3, 2), strides=(2, 1, 3))(x)
    expected = np.stack([np.stack([np.stack([
        x[:, 2 * i:2 * i + 2, j:j + 3, 3 * k:3 * k + 2].max(axis=(1, 2, 3)) for k in range(2)], 1)
        for j in range(2)], 1) for i in range(2)], 1)
    np.testing.assert_array_equal(y, expected)
    avg = L.AveragePooling3D(2)(x)
    np.testing.assert_allclose(avg, x[:, :4].reshape(2, 2, 2, 2, 2, 3, 2, 3).mean(axis=(2, 4, 6)),
                               rtol=1e-6)


def test_max_pooling3d_gives_every_tied_maximum_the_whole_gradient():
    """TensorFlow's MaxPool3DGrad: unlike MaxPooling2D (first maximum only), each cell equal to its
    window's maximum receives the window's whole dy."""
    x = np.zeros((1, 2, 2, 2, 1), np.float32)
    x[0, 0, 0, 0, 0] = x[0, 1, 1, 1, 0] = 1.0
    layer = L.MaxPooling3D()
    layer(x)
    np.testing.assert_array_equal(layer.backward(np.ones((1, 1, 1, 1, 1), np.float32)).ravel(),
                                  [1, 0, 0, 0, 0, 0, 0, 1])
    zeros = L.MaxPooling3D(2, strides=1)
    zeros(np.zeros((1, 3, 3, 3, 1), np.float32))
    dx = zeros.backward(np.ones((1, 2, 2, 2, 1), np.float32))[0, ..., 0]
    assert dx[1, 1, 1] == 8 and dx[0, 0, 0] == 1 and dx[0, 1, 1] == 4  # windows covering each cell
    near = np.zeros((1, 2, 2, 2, 1), np.float32)
    near[0, 0, 1, 1, 0], near[0, 1, 1, 0, 0], near[0, 1, 0, 0, 0] = 0.134, 0.13399, 0.1339
    layer(near)  # within 1e-5 of the maximum: a maximum too (TensorFlow's CPU kernel)
    np.testing.assert_array_equal(layer.backward(np.ones((1, 1, 1, 1, 1), np.float32)).ravel(),
                                  [0, 0, 0, 1, 0, 0, 1, 0])


def test_same_padding_never_wins_or_counts():
    minus = -np.ones((1, 3, 3, 3, 2), np.float32)
    np.testing.assert_array_equal(L.MaxPooling3D(2, padding="same")(minus), -np.ones((1, 2, 2, 2, 2)))
    np.testing.assert_array_equal(L.AveragePooling3D(2, padding="same")(-minus), np.ones((1, 2, 2, 2, 2)))


def test_moving_layers_values():
    x = np.arange(2 * 2 * 3 * 1 * 2, dtype=np.float32).reshape(2, 2, 3, 1, 2)
    up = L.UpSampling3D((2, 1, 3))(x)
    assert up.shape == (2, 4, 3, 3, 2)
    np.testing.assert_array_equal(up[:, 1::2, :, 2::3], x)
    padded = L.ZeroPadding3D(1)(x)
    assert padded.shape == (2, 4, 5, 3, 2) and padded.sum() == x.sum() and padded[:, 0].sum() == 0
    np.testing.assert_array_equal(L.Cropping3D(((0, 0), (1, 1), (0, 0)))(x), x[:, :, 1:2])
    np.testing.assert_array_equal(L.Cropping3D(1)(padded), x)
    np.testing.assert_array_equal(L.GlobalMaxPooling3D()(x), x.max(axis=(1, 2, 3)))
    assert L.GlobalAveragePooling3D(keepdims=True)(x).shape == (2, 1, 1, 1, 2)


def test_spatial_dropout3d_drops_whole_channels():
    x = np.ones((20, 3, 4, 5, 8), np.float32)
    layer = L.SpatialDropout3D(0.5, seed=0)
    sn.Sequential([L.Input(x.shape[1:]), layer])
    y = layer(x, training=True)
    per_channel = y.reshape(20, -1, 8)
    assert (per_channel == per_channel[:, :1]).all()  # a whole volume kept or dropped
    assert set(np.unique(y)) == {0.0, 2.0} and 0.3 < (y == 0).mean() < 0.7
    np.testing.assert_array_equal(layer(x), x)  # inference: the identity


# ------------------------------------------------------------------- names, configs, aliases
def test_aliases_names_and_configs_rebuild():
    assert L.Convolution3D is L.Conv3D and L.Convolution3DTranspose is L.Conv3DTranspose
    assert L.MaxPool3D is L.MaxPooling3D and L.AvgPool3D is L.AveragePooling3D
    assert L.GlobalAvgPool3D is L.GlobalAveragePooling3D and L.GlobalMaxPool3D is L.GlobalMaxPooling3D
    layers = [L.Conv3D(4, 3, strides=2, padding="same", groups=2, activation="relu",
                       kernel_regularizer="l2"),
              L.Conv3DTranspose(3, 2, strides=2, output_padding=1), L.MaxPooling3D(), L.AveragePooling3D(3),
              L.GlobalAveragePooling3D(keepdims=True), L.GlobalMaxPooling3D(), L.UpSampling3D(),
              L.ZeroPadding3D(), L.Cropping3D(), L.SpatialDropout3D(0.2, seed=1)]
    names = ["conv3d", "conv3d_transpose", "max_pooling3d", "average_pooling3d",
             "global_average_pooling3d", "global_max_pooling3d", "up_sampling3d", "zero_padding3d",
             "cropping3d", "spatial_dropout3d"]
    for layer, name in zip(layers, names, strict=True):
        assert layer.name == name
        config = layer.get_config()
        assert type(layer)(**config).get_config() == config
    assert layers[0].get_config()["groups"] == 2 and layers[0].get_config()["kernel_size"] == (3, 3, 3)
    assert layers[7].get_config()["padding"] == ((1, 1), (1, 1), (1, 1))
    assert L.ZeroPadding3D((1, 2, 3)).padding == ((1, 1), (2, 2), (3, 3))
    assert layers[2].get_config()["strides"] == (2, 2, 2)


def test_summary_shapes_and_parameter_counts():
    model = sn.Sequential([L.Input((8, 8, 8, 2)), L.Conv3D(4, 3, groups=2), L.MaxPool3D(),
                           L.Conv3DTranspose(3, 2, strides=2), L.GlobalAvgPool3D(), L.Dense(2)])
    assert [layer.output_shape for layer in model.layers] == [
        (6, 6, 6, 4), (3, 3, 3, 4), (6, 6, 6, 3), (3,), (2,)]
    assert model.count_params() == (27 * 1 * 4 + 4) + (8 * 3 * 4 + 3) + (3 * 2 + 2)


# ------------------------------------------------------------------- saving, backends
def _volume_model():
    model = sn.Sequential([
        L.Input((4, 6, 6, 1)), L.Conv3D(4, 3, padding="same", activation="relu"), L.MaxPool3D(2),
        L.ZeroPadding3D(1), L.Cropping3D(((1, 1), (0, 1), (1, 0))), L.UpSampling3D((1, 2, 1)),
        L.Conv3D(4, 2, groups=2, strides=(1, 2, 1)), L.AveragePooling3D(1),
        L.Conv3DTranspose(2, 2, strides=2, padding="same"), L.SpatialDropout3D(0.1, seed=3),
        L.GlobalMaxPooling3D(keepdims=True), L.GlobalAveragePooling3D(), L.Dense(3)],
        seed=4, name="volumes")
    model.compile(optimizer=sn.optimizers.Adam(0.01),
                  loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(5).standard_normal((6, 4, 6, 6, 1)).astype(np.float32)
    return model, x, np.arange(6) % 3


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_save_and_load_round_trip(suffix, tmp_path):
    model, x, y = _volume_model()
    model.fit(x, y, epochs=2, batch_size=3, verbose=0, shuffle=False)
    if suffix == ".h5":
        with pytest.warns(UserWarning, match="legacy HDF5"):
            model.save(tmp_path / f"m{suffix}")
    else:
        model.save(tmp_path / f"m{suffix}")
    loaded = sn.load_model(tmp_path / f"m{suffix}")
    assert loaded.get_config()["layers"] == model.get_config()["layers"]
    for a, b in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_numpy_and_numba_backends_agree():
    """The Numba backend has no 3-D kernels: these layers run their NumPy loops there too."""
    def run():
        model, x, y = _volume_model()
        return model.loss_and_grads(x, y)

    sn.set_backend("numpy")
    loss_np, grads_np = run()
    sn.set_backend("numba")
    loss_nb, grads_nb = run()
    assert loss_np == pytest.approx(loss_nb, rel=1e-6)
    for a, b in zip(grads_np, grads_nb, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------- errors
@pytest.mark.parametrize("make, pattern", [
    (lambda: L.Conv3D(0, 3), "filters"),
    (lambda: L.Conv3D(2, (3, 3)), "kernel_size"),
    (lambda: L.Conv3D(2, 3, padding="causal"), "padding"),
    (lambda: L.Conv3D(2, 3, strides=2, dilation_rate=2), "dilation_rate"),
    (lambda: L.Conv3D(3, 3, groups=2), "groups"),
    (lambda: L.Conv3D(2, 3, groups=0), "groups"),
    (lambda: L.Conv3D(2, 3, data_format="channels_first"), "data_format"),
    (lambda: L.Conv3D(2, 3, kernel_initializer="glorot_unicorn"), "kernel_initializer"),
    (lambda: L.Conv3DTranspose(2, 3, output_padding=1), "output_padding"),
    (lambda: L.Conv3DTranspose(2, 3, strides=2, output_padding=(1, 1)), "output_padding"),
    (lambda: L.MaxPooling3D((2, 2)), "pool_size"),
    (lambda: L.AveragePooling3D(2, padding="full"), "padding"),
    (lambda: L.GlobalAveragePooling3D(keepdims="yes"), "keepdims"),
    (lambda: L.GlobalMaxPooling3D(data_format="channels_first"), "data_format"),
    (lambda: L.UpSampling3D((2, 0, 2)), "size"),
    (lambda: L.ZeroPadding3D((1, 2)), "padding"),
    (lambda: L.ZeroPadding3D(-1), "padding"),
    (lambda: L.Cropping3D(((1, 1), (1, 1), (1, -1))), "cropping"),
    (lambda: L.SpatialDropout3D(1.5), "rate"),
    (lambda: L.SpatialDropout3D(0.5, data_format="channels_first"), "data_format"),
])
def test_bad_arguments_name_themselves(make, pattern):
    with pytest.raises((ValueError, TypeError), match=pattern):
        make()


@pytest.mark.parametrize("layer, shape, pattern", [
    (lambda: L.Conv3D(2, 3), (5, 5, 3), r"expected ndim=5"),
    (lambda: L.Conv3D(2, 3), (2, 5, 5, 3), r"does not fit"),
    (lambda: L.Conv3D(4, 2, groups=2), (4, 4, 4, 3), r"divisible by the number of groups"),
    (lambda: L.Conv3D(2, 2), (None, 4, 4, 3), r"fixed depth, height and width"),
    (lambda: L.Conv3DTranspose(2, 3), (4, 4, 3), r"expected ndim=5"),
    (lambda: L.MaxPooling3D(3), (2, 4, 4, 1), r"does not fit"),
    (lambda: L.AveragePooling3D(2), (4, 4, 1), r"expected ndim=5"),
    (lambda: L.GlobalMaxPooling3D(), (4, 4, 1), r"expected ndim=5"),
    (lambda: L.UpSampling3D(), (4, 4, 1), r"expected ndim=5"),
    (lambda: L.ZeroPadding3D(), (4, 4, 1), r"expected ndim=5"),
    (lambda: L.Cropping3D(((1, 1), (0, 0), (0, 0))), (2, 4, 4, 1), r"smaller than"),
    (lambda: L.SpatialDropout3D(0.2), (4, 4, 1), r"expected ndim=5"),
])
def test_wrong_input_shapes_name_the_layer(layer, shape, pattern):
    with pytest.raises(ValueError, match=pattern):
        sn.Sequential([L.Input(shape), layer()])
