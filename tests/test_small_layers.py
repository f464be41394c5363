"""UnitNormalization, GroupNormalization, AlphaDropout, CenterCrop, Conv1DTranspose,
ActivityRegularization and RMSNormalization: every backward pass against float64 finite differences
(tests/gradcheck.py, REL_TOL 1e-6), AlphaDropout's training formula and statistics, CenterCrop's
crop, resize and single images, and a clear error for each bad argument or input. Keras parity:
parity_tests/test_small_layers_keras.py; the activity penalty: tests/test_activity_regularization.py."""

import numpy as np
import pytest

import scratchnet as sn
from tests.gradcheck import REL_TOL, check_layer, numeric_grad, rel_error

L = sn.layers


def _randomize(layer, rng):
    for p in layer.weights:  # gamma's ones and beta's zeros would hide mistakes
        p.value[...] = rng.standard_normal(p.value.shape)


IMAGE_LAYERS = {  # on (2, 5, 6, 4)
    "unit_norm": lambda: L.UnitNormalization(),
    "unit_norm_rows_cols": lambda: L.UnitNormalization(axis=[1, 2]),
    "unit_norm_rows": lambda: L.UnitNormalization(axis=1),
    "group_norm_2": lambda: L.GroupNormalization(2),
    "group_norm_1": lambda: L.GroupNormalization(1, epsilon=0.1),
    "group_norm_instance": lambda: L.GroupNormalization(-1, center=False),
    "group_norm_rows": lambda: L.GroupNormalization(5, axis=1, scale=False),
    "group_norm_cols_neg": lambda: L.GroupNormalization(3, axis=-2),
    "center_crop": lambda: L.CenterCrop(3, 3),
    "center_crop_taller": lambda: L.CenterCrop(7, 4),  # smaller than the target: resized
    "center_crop_larger": lambda: L.CenterCrop(8, 9),
    "activity_regularization": lambda: L.ActivityRegularization(0.1, 0.2),
    "rms_norm": lambda: L.RMSNormalization(),
    "rms_norm_last_three": lambda: L.RMSNormalization(axis=[1, 2, 3], epsilon=0.1),
}
SEQUENCE_LAYERS = {  # on (2, 5, 3)
    "conv1d_transpose": lambda: L.Conv1DTranspose(2, 3),
    "conv1d_transpose_strided_same": lambda: L.Conv1DTranspose(2, 3, strides=2, padding="same"),
    "conv1d_transpose_output_padding": lambda: L.Conv1DTranspose(2, 2, strides=3, output_padding=2),
    "conv1d_transpose_dilated": lambda: L.Conv1DTranspose(2, 3, dilation_rate=2, activation="tanh"),
    "conv1d_transpose_dilated_same": lambda: L.Conv1DTranspose(3, 2, dilation_rate=3, padding="same"),
    "conv1d_transpose_no_bias": lambda: L.Conv1DTranspose(2, 4, strides=2, use_bias=False),
    "group_norm_sequence": lambda: L.GroupNormalization(3),
    "unit_norm_steps": lambda: L.UnitNormalization(axis=[1, 2]),
    "rms_norm_steps_features": lambda: L.RMSNormalization(axis=[-2, -1]),
}


@pytest.mark.parametrize("case", sorted(IMAGE_LAYERS))
def test_image_layers_match_finite_differences(case, float64):
    rng = np.random.default_rng(0)
    layer = IMAGE_LAYERS[case]()
    x = rng.standard_normal((2, 5, 6, 4))
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


# ------------------------------------------------------------------- UnitNormalization
def test_unit_normalization_gives_unit_vectors_and_keeps_zeros():
    x = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0], [1e-13, 0.0, 0.0]], np.float32)
    layer = L.UnitNormalization()
    y = layer(x)
    np.testing.assert_allclose(y[0], [0.6, 0.8, 0.0], rtol=1e-6)
    np.testing.assert_array_equal(y[1], [0.0, 0.0, 0.0])  # min(rsqrt(0) = inf, 1e12): 0 * 1e12
    # a norm below epsilon: scaled by 1/epsilon (= 1e12), not to length 1
    np.testing.assert_allclose(y[2], [np.float32(1e-13) * np.float32(1e12), 0, 0], rtol=1e-6)
    # where the bound holds, the gradient is dy / epsilon; elsewhere the tangent projection
    dx = layer.backward(np.ones_like(x))
    np.testing.assert_allclose(dx[1], [1e12] * 3, rtol=1e-6)
    np.testing.assert_allclose(dx[0], 0.2 * (np.ones(3) - y[0] * y[0].sum()), rtol=1e-5, atol=1e-7)


def test_unit_normalization_over_two_axes():
    x = np.random.default_rng(2).normal(size=(3, 4, 5)).astype(np.float32)
    y = L.UnitNormalization(axis=[1, 2])(x)
    np.testing.assert_allclose(np.sqrt((y.astype(np.float64) ** 2).sum(axis=(1, 2))), 1.0, rtol=1e-6)


# ------------------------------------------------------------------- GroupNormalization
def test_group_normalization_normalizes_each_group_of_each_sample():
    x = np.random.default_rng(3).normal(2.0, 3.0, size=(2, 4, 4, 6)).astype(np.float64)
    y = L.GroupNormalization(3, epsilon=1e-12)(x)
    groups = y.reshape(2, 16, 3, 2)  # (N, H*W, G, C/G)
    np.testing.assert_allclose(groups.mean(axis=(1, 3)), 0.0, atol=1e-6)
    np.testing.assert_allclose(groups.var(axis=(1, 3)), 1.0, rtol=1e-6)
    # groups=1 is LayerNormalization over every non-batch axis
    np.testing.assert_allclose(L.GroupNormalization(1)(x), L.LayerNormalization(axis=[1, 2, 3])(x),
                               rtol=1e-6)


def test_group_normalization_minus_one_is_instance_normalization():
    layer = L.GroupNormalization(-1)
    sn.Sequential([L.Input((5, 8)), layer])
    assert layer.groups == 8 and layer.get_config()["groups"] == 8  # as Keras' config after build
    assert [p.name for p in layer.weights] == ["group_normalization/gamma", "group_normalization/beta"]
    assert layer.gamma.shape == layer.beta.shape == (8,)


# ------------------------------------------------------------------- AlphaDropout
ALPHA_P = -1.6732632423543772 * 1.0507009873554805


def test_alpha_dropout_formula_values_and_gradient():
    rate = 0.3
    a = ((1 - rate) * (1 + rate * ALPHA_P ** 2)) ** -0.5
    b = -a * ALPHA_P * rate
    x = np.random.default_rng(4).normal(size=(50, 40)).astype(np.float32)
    layer = L.AlphaDropout(rate, seed=1)
    y = layer(x, training=True)
    kept = np.isclose(y, np.float32(a) * x + np.float32(b), rtol=0, atol=1e-6)
    dropped = y == np.float32(a) * np.float32(ALPHA_P) + np.float32(b)
    assert (kept | dropped).all() and not (kept & dropped).any()
    np.testing.assert_array_equal(y[kept], (np.float32(a) * x + np.float32(b))[kept])
    assert abs(dropped.mean() - rate) < 0.03  # 2000 draws: 0.3 +- 3 sigma
    dy = np.random.default_rng(5).normal(size=y.shape).astype(np.float32)
    np.testing.assert_array_equal(layer.backward(dy), dy * (np.float32(a) * kept.astype(np.float32)))
    np.testing.assert_array_equal(layer(x), x)  # inference: the identity
    np.testing.assert_array_equal(layer.backward(dy), dy)


def test_alpha_dropout_keeps_selu_statistics():
    x = np.random.default_rng(6).normal(size=(400, 500)).astype(np.float32)  # SELU's fixed point
    y = L.AlphaDropout(0.2, seed=2)(x, training=True)
    assert abs(y.mean()) < 0.01 and abs(y.std() - 1.0) < 0.01  # 200000 values: +- ~5 sigma


def test_alpha_dropout_noise_shape_and_seed():
    x = np.ones((30, 6, 4), np.float32)
    layer = L.AlphaDropout(0.5, noise_shape=(None, 1, 4), seed=3)
    y = layer(x, training=True)
    assert (y == y[:, :1]).all()  # one draw per sample and channel, shared by the steps
    assert len(np.unique(y)) == 2
    again = L.AlphaDropout(0.5, noise_shape=(None, 1, 4), seed=3)(x, training=True)
    np.testing.assert_array_equal(y, again)
    assert L.AlphaDropout(0.0)(x, training=True) is not None
    np.testing.assert_array_equal(L.AlphaDropout(0.0)(x, training=True), x)


# ------------------------------------------------------------------- CenterCrop
def test_center_crop_takes_the_middle_and_single_images():
    x = np.arange(2 * 7 * 6 * 1, dtype=np.float32).reshape(2, 7, 6, 1)
    layer = L.CenterCrop(3, 2)
    np.testing.assert_array_equal(layer(x), x[:, 2:5, 2:4])
    np.testing.assert_array_equal(layer(x[0]), x[0, 2:5, 2:4])  # one (H, W, C) image, as Keras
    odd = L.CenterCrop(2, 3)(x)  # (7 - 2) // 2 = 2 rows above, (6 - 3) // 2 = 1 column left
    np.testing.assert_array_equal(odd, x[:, 2:4, 1:4])
    dx = layer.backward(np.ones((2, 3, 2, 1), np.float32))
    assert dx.shape == x.shape and dx.sum() == 12 and (dx[:, 2:5, 2:4] == 1).all()


def test_center_crop_of_a_smaller_image_resizes_like_smart_resize():
    x = np.random.default_rng(7).random((2, 4, 6, 3)).astype(np.float32)
    y = L.CenterCrop(6, 3)(x)  # taller than the image: crop the centre 4 x 2, then resize to 6 x 3
    expected = L.Resizing(6, 3)(x[:, :, 2:4])
    np.testing.assert_array_equal(y, expected)
    same_ratio = L.CenterCrop(8, 12)(x)  # the whole image, upsampled
    np.testing.assert_array_equal(same_ratio, L.Resizing(8, 12)(x))


# ------------------------------------------------------------------- Conv1DTranspose
def _paint(x, kernel, bias, s, d, before, out):
    """The docstring's definition, one input step at a time."""
    n, length, _ = x.shape
    k, filters, _ = kernel.shape
    z = np.zeros((n, out, filters))
    for i in range(length):
        for a in range(k):
            t = i * s + a * d - before
            if 0 <= t < out:
                z[:, t] += x[:, i] @ kernel[a].T
    return z + bias


@pytest.mark.parametrize("kwargs", [
    dict(filters=2, kernel_size=3),
    dict(filters=3, kernel_size=3, strides=2, padding="same"),
    dict(filters=2, kernel_size=2, strides=3, output_padding=1),
    dict(filters=2, kernel_size=3, dilation_rate=2, padding="same"),
    dict(filters=1, kernel_size=4, strides=2, padding="same", output_padding=1),
])
def test_conv1d_transpose_paints_as_defined(kwargs, float64):
    rng = np.random.default_rng(8)
    layer = L.Conv1DTranspose(**kwargs)
    x = rng.standard_normal((2, 5, 3))
    layer.ensure_built(x.shape[1:], rng)
    _randomize(layer, rng)
    out_length, (before, _) = layer._plan(x.shape[1])
    expected = _paint(x, layer.kernel.value, layer.bias.value, layer.strides[0], layer.dilation_rate[0],
                      before, out_length)
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-12, atol=1e-12)


def test_conv1d_transpose_output_lengths_are_keras():
    # Keras 3.15.1 on a (None, 7, 3) input: compute_conv_transpose_output_shape
    for kwargs, length in [(dict(kernel_size=3), 9), (dict(kernel_size=3, strides=2), 15),
                           (dict(kernel_size=3, strides=2, padding="same"), 14),
                           (dict(kernel_size=2, strides=3), 21),
                           (dict(kernel_size=3, strides=2, padding="same", output_padding=0), 13),
                           (dict(kernel_size=3, dilation_rate=2), 11)]:
        model = sn.Sequential([L.Input((7, 3)), L.Conv1DTranspose(4, **kwargs)])
        assert model.output_shape == (None, length, 4), kwargs
    layer = L.Conv1DTranspose(4, 3)
    sn.Sequential([L.Input((7, 3)), layer])
    assert layer.kernel.shape == (3, 4, 3)  # (k, filters, in_channels), Keras' layout


# ------------------------------------------------------------------- names, configs, errors
def test_default_names_and_configs_rebuild():
    layers = [L.UnitNormalization(axis=[1, 2]), L.GroupNormalization(4, epsilon=0.01, center=False),
              L.AlphaDropout(0.2, noise_shape=(None, 1, 3), seed=4), L.CenterCrop(2, 3),
              L.Conv1DTranspose(3, 2, strides=2, output_padding=1, activation="relu"),
              L.ActivityRegularization(l1=0.5), L.RMSNormalization(axis=[-2, -1], epsilon=1e-3)]
    names = ["unit_normalization", "group_normalization", "alpha_dropout", "center_crop",
             "conv1d_transpose", "activity_regularization", "rms_normalization"]
    for layer, name in zip(layers, names, strict=True):
        assert layer.name == name
        config = layer.get_config()
        assert type(layer)(**config).get_config() == config
    policy = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
              "registered_name": None}  # Keras' Layer.get_config entries: trainable, dtype
    assert layers[5].get_config() == {"name": "activity_regularization", "trainable": True,
                                      "dtype": policy, "l1": 0.5, "l2": 0.0}
    assert layers[2].get_config()["noise_shape"] == (None, 1, 3)  # as given, as Keras keeps it
    assert layers[6].get_config() == {"name": "rms_normalization", "trainable": True, "dtype": policy,
                                      "axis": [-2, -1], "epsilon": 1e-3}


@pytest.mark.parametrize("make, pattern", [
    (lambda: L.UnitNormalization(axis="last"), "axis"),
    (lambda: L.GroupNormalization(0), "groups"),
    (lambda: L.GroupNormalization(-2), "groups"),
    (lambda: L.GroupNormalization(2, epsilon=0), "epsilon"),
    (lambda: L.GroupNormalization(2, axis=[1]), "axis"),
    (lambda: L.GroupNormalization(2, gamma_constraint="max_nrm"), "gamma_constraint"),
    (lambda: L.GroupNormalization(2, center="yes"), "center"),
    (lambda: L.AlphaDropout(1.0), "rate"),
    (lambda: L.AlphaDropout(-0.1), "rate"),
    (lambda: L.AlphaDropout(0.1, noise_shape=(None, 0)), "noise_shape"),
    (lambda: L.CenterCrop(0, 3), "height"),
    (lambda: L.CenterCrop(3, 2.5), "width"),
    (lambda: L.CenterCrop(3, 3, data_format="channels_first"), "channels-last"),
    (lambda: L.Conv1DTranspose(2, 3, output_padding=1), "output_padding"),
    (lambda: L.Conv1DTranspose(2, 3, strides=2, output_padding=2), "output_padding"),
    (lambda: L.Conv1DTranspose(0, 3), "filters"),
    (lambda: L.Conv1DTranspose(2, 3, padding="causal"), "padding"),
    (lambda: L.ActivityRegularization(l1=-1.0), "l1"),
    (lambda: L.ActivityRegularization(activity_regularizer="l2"), "activity_regularizer"),
    (lambda: L.RMSNormalization(axis=None), "axis"),
    (lambda: L.RMSNormalization(epsilon=-1.0), "epsilon"),
])
def test_bad_arguments_name_themselves(make, pattern):
    with pytest.raises((ValueError, TypeError), match=pattern):
        make()


@pytest.mark.parametrize("layer, shape, pattern", [
    (lambda: L.UnitNormalization(axis=3), (3, 4), "out of bounds"),
    (lambda: L.GroupNormalization(4), (3, 6), r"number of groups \(4\) must be a multiple"),
    (lambda: L.GroupNormalization(8), (3, 6), r"number of groups \(8\) cannot be more"),
    (lambda: L.GroupNormalization(2, axis=3), (3, 4), "out of bounds"),
    (lambda: L.CenterCrop(2, 2), (3, 4), r"expected ndim=4"),
    (lambda: L.Conv1DTranspose(2, 3), (3, 4, 5), r"expected ndim=3"),
    (lambda: L.AlphaDropout(0.2, noise_shape=(None, 1)), (3, 4), "noise_shape"),
    (lambda: L.RMSNormalization(axis=1), (3, 4), r"axes \[1\], which are not the last ones"),
    (lambda: L.RMSNormalization(axis=[1, 3]), (3, 4, 5), "not the last ones"),
    (lambda: L.RMSNormalization(axis=3), (3, 4), "out of bounds"),
    (lambda: L.RMSNormalization(), (3, None), "must be known"),
])
def test_wrong_input_shapes_name_the_layer(layer, shape, pattern):
    with pytest.raises(ValueError, match=pattern):
        sn.Sequential([L.Input(shape), layer()])


def test_numpy_and_numba_backends_agree():
    x = np.random.default_rng(9).normal(size=(3, 6, 2)).astype(np.float32)

    def run():
        layer = L.Conv1DTranspose(3, 3, strides=2, padding="same")
        model = sn.Sequential([L.Input((6, 2)), layer, L.GroupNormalization(3), L.Flatten(),
                               L.Dense(2)], seed=0)
        model.compile(optimizer="sgd", loss="mse")
        loss, grads = model.loss_and_grads(x, np.ones((3, 2), np.float32))
        return loss, grads

    sn.set_backend("numpy")
    loss_np, grads_np = run()
    sn.set_backend("numba")
    loss_nb, grads_nb = run()
    assert loss_np == pytest.approx(loss_nb, rel=1e-6)
    for a, b in zip(grads_np, grads_nb, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_group_normalization_gradient_through_a_model_is_finite_differences(float64):
    """GroupNormalization inside a model, gamma and beta included, by the model's own loss."""
    rng = np.random.default_rng(10)
    model = sn.Sequential([L.Input((4, 6)), L.GroupNormalization(2), L.Flatten(), L.Dense(3)], seed=0)
    model.compile(optimizer="sgd", loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.set_weights([rng.standard_normal(w.shape) for w in model.get_weights()])
    x, y = rng.standard_normal((5, 4, 6)), np.arange(5) % 3
    _, grads = model.loss_and_grads(x, y)
    for param, grad in zip(model.weights, grads, strict=True):
        numeric = numeric_grad(lambda: model.loss_and_grads(x, y)[0], param.value)
        assert rel_error(grad, numeric) < REL_TOL, param.name
