"""DepthwiseConv2D, SeparableConv2D, DepthwiseConv1D and SeparableConv1D: the forward pass against
the definition written as loops, every backward pass (each weight and the input) against float64
finite differences (tests/gradcheck.py, REL_TOL 1e-6), the numba backend against the numpy one,
and a clear error for each bad argument or input. Keras parity: parity_tests/test_depthwise_keras.py."""

import numpy as np
import pytest

import scratchnet as sn
from tests.gradcheck import check_layer

L = sn.layers



def _randomize(layer, rng):
    for p in layer.weights:  # a zero bias would hide a bias added to the wrong channel
        p.value[...] = rng.standard_normal(p.value.shape)


def _pads(n, k, s, d, padding):
    """TensorFlow's rule, written out again: SAME pads ``(out - 1)*s + e - n`` in all, the odd
    cell after."""
    e = (k - 1) * d + 1
    if padding == "valid":
        return (0, 0)
    total = max(0, (-(-n // s) - 1) * s + e - n)
    return (total // 2, total - total // 2)


def _depthwise_loops(x, kernel, strides, dilation, padding):
    """The definition: ``u[n, i, j, c*M + m] = sum_{a,b} xpad[n, i*sh + a*dh, j*sw + b*dw, c] *
    kernel[a, b, c, m]``, one loop per index (x ``(N, H, W, C)``, kernel ``(KH, KW, C, M)``)."""
    n, h, w, c = x.shape
    kh, kw, _, m = kernel.shape
    (sh, sw), (dh, dw) = strides, dilation
    pads = (_pads(h, kh, sh, dh, padding), _pads(w, kw, sw, dw, padding))
    xpad = np.pad(x, ((0, 0), *pads, (0, 0)))
    oh = (xpad.shape[1] - (kh - 1) * dh - 1) // sh + 1
    ow = (xpad.shape[2] - (kw - 1) * dw - 1) // sw + 1
    out = np.zeros((n, oh, ow, c * m))
    for i in range(oh):
        for j in range(ow):
            for ch in range(c):
                for k in range(m):
                    for a in range(kh):
                        for b in range(kw):
                            out[:, i, j, ch * m + k] += (xpad[:, i * sh + a * dh, j * sw + b * dw, ch]
                                                         * kernel[a, b, ch, k])
    return out


def _expected(layer, x):
    """The layer's output from the loops (a 1-D layer as a one-row image)."""
    one_d = x.ndim == 3
    x4 = x[:, None] if one_d else x
    as_2d = (lambda t: (1, *t)) if one_d else tuple
    if isinstance(layer, L.SeparableConv2D):
        k4 = layer.depthwise_kernel.value[None] if one_d else layer.depthwise_kernel.value
        u = _depthwise_loops(x4, k4, as_2d(layer.strides), as_2d(layer.dilation_rate), layer.padding)
        pointwise = layer.pointwise_kernel.value.reshape(u.shape[-1], layer.filters)
        z = np.einsum("nijk,kf->nijf", u, pointwise)
    else:
        k4 = layer.kernel.value[None] if one_d else layer.kernel.value
        z = _depthwise_loops(x4, k4, as_2d(layer.strides), as_2d(layer.dilation_rate), layer.padding)
    if layer.use_bias:
        z = z + layer.bias.value
    z = z[:, 0] if one_d else z
    return layer.activation.forward(z)


IMAGE_CASES = {  # on (2, 7, 6, 3)
    "depthwise_valid": lambda: L.DepthwiseConv2D(3),
    "depthwise_same_multiplier_2": lambda: L.DepthwiseConv2D(3, padding="same", depth_multiplier=2),
    "depthwise_same_even_kernel_strides_2x3": lambda: L.DepthwiseConv2D(
        (4, 2), strides=(2, 3), padding="same", depth_multiplier=3, activation="tanh"),
    "depthwise_valid_strides_3x1": lambda: L.DepthwiseConv2D((2, 3), strides=(3, 1)),
    "depthwise_dilated_same": lambda: L.DepthwiseConv2D((3, 2), dilation_rate=(2, 3), padding="same"),
    "depthwise_dilated_and_strided": lambda: L.DepthwiseConv2D(
        2, strides=(2, 1), dilation_rate=(2, 3), depth_multiplier=2, padding="same"),
    "depthwise_no_bias": lambda: L.DepthwiseConv2D((1, 3), use_bias=False, depth_multiplier=2),
    "separable_valid": lambda: L.SeparableConv2D(4, 3),
    "separable_same_multiplier_3": lambda: L.SeparableConv2D(2, 3, padding="same", depth_multiplier=3,
                                                             activation="tanh"),
    "separable_strides_2x1": lambda: L.SeparableConv2D(3, (2, 3), strides=(2, 1), padding="same"),
    "separable_dilated_and_strided": lambda: L.SeparableConv2D(
        2, 2, strides=2, dilation_rate=2, depth_multiplier=2),
    "separable_no_bias": lambda: L.SeparableConv2D(3, (3, 1), use_bias=False),
}
SEQUENCE_CASES = {  # on (2, 9, 3)
    "depthwise1d_valid": lambda: L.DepthwiseConv1D(3),
    "depthwise1d_same_multiplier_2_strides_2": lambda: L.DepthwiseConv1D(
        4, strides=2, padding="same", depth_multiplier=2),
    "depthwise1d_dilated_and_strided": lambda: L.DepthwiseConv1D(2, strides=3, dilation_rate=2,
                                                                 activation="tanh"),
    "separable1d_valid": lambda: L.SeparableConv1D(4, 3),
    "separable1d_same_strides_2": lambda: L.SeparableConv1D(2, 3, strides=2, padding="same",
                                                            depth_multiplier=3),
    "separable1d_dilated_no_bias": lambda: L.SeparableConv1D(3, 2, dilation_rate=3, use_bias=False),
}
ALL_CASES = {**{k: (v, (7, 6, 3)) for k, v in IMAGE_CASES.items()},
             **{k: (v, (9, 3)) for k, v in SEQUENCE_CASES.items()}}


@pytest.mark.parametrize("case", sorted(ALL_CASES))
def test_forward_is_the_definition_and_backward_matches_finite_differences(case, float64):
    make, shape = ALL_CASES[case]
    rng = np.random.default_rng(3)
    layer = make()
    x = rng.standard_normal((2, *shape))
    layer.ensure_built(shape, rng)
    _randomize(layer, rng)
    np.testing.assert_allclose(layer.forward(x), _expected(layer, x), rtol=1e-12, atol=1e-12)
    check_layer(layer, x, rng)  # every weight and the input


def test_weights_have_keras_names_shapes_and_order():
    dw = L.DepthwiseConv2D((3, 2), depth_multiplier=4, name="dw")
    dw.ensure_built((7, 6, 3))
    assert [(p.name, p.shape) for p in dw.weights] == [("dw/kernel", (3, 2, 3, 4)), ("dw/bias", (12,))]
    sep = L.SeparableConv2D(5, 3, depth_multiplier=2, name="sep")
    sep.ensure_built((7, 6, 3))
    assert [(p.name, p.shape) for p in sep.weights] == [
        ("sep/depthwise_kernel", (3, 3, 3, 2)), ("sep/pointwise_kernel", (1, 1, 6, 5)), ("sep/bias", (5,))]
    sep1 = L.SeparableConv1D(5, 3, depth_multiplier=2, use_bias=False, name="sep1")
    sep1.ensure_built((9, 3))
    assert [(p.name, p.shape) for p in sep1.weights] == [
        ("sep1/depthwise_kernel", (3, 3, 2)), ("sep1/pointwise_kernel", (1, 6, 5))]
    dw1 = L.DepthwiseConv1D(4, depth_multiplier=2)
    assert dw1.name.startswith("depthwise_conv1d") and dw.count_params() == 3 * 2 * 3 * 4 + 12


def test_output_shapes():
    """Keras' compute_conv_output_shape on a 7x6 input (and 9 steps)."""
    for kwargs, shape in [(dict(kernel_size=3), (5, 4, 3)), (dict(kernel_size=3, strides=2), (3, 2, 3)),
                          (dict(kernel_size=3, strides=2, padding="same"), (4, 3, 3)),
                          (dict(kernel_size=3, dilation_rate=2, depth_multiplier=2), (3, 2, 6)),
                          (dict(kernel_size=2, strides=2, dilation_rate=2, padding="same"), (4, 3, 3))]:
        assert L.DepthwiseConv2D(**kwargs)(np.zeros((1, 7, 6, 3), np.float32)).shape == (1, *shape)
        sep = L.SeparableConv2D(5, **kwargs)(np.zeros((1, 7, 6, 3), np.float32))
        assert sep.shape == (1, *shape[:2], 5)
    assert L.DepthwiseConv1D(3, strides=2, depth_multiplier=2)(np.zeros((1, 9, 3))).shape == (1, 4, 6)
    assert L.SeparableConv1D(2, 4, padding="same")(np.zeros((1, 9, 3))).shape == (1, 9, 2)


def test_output_channel_c_times_m_plus_m():
    """Input channel c's m-th kernel lands on output channel c*M + m (TensorFlow's order)."""
    layer = L.DepthwiseConv2D(1, depth_multiplier=3, use_bias=False)
    layer.ensure_built((2, 2, 2))
    kernel = np.zeros((1, 1, 2, 3), np.float32)
    kernel[0, 0, 1, 2] = 1.0  # c = 1, m = 2 -> channel 5
    layer.set_weights([kernel])
    x = np.random.default_rng(0).standard_normal((1, 2, 2, 2)).astype(np.float32)
    y = layer(x)
    np.testing.assert_array_equal(y[..., 5], x[..., 1])
    assert not np.any(y[..., :5])


@pytest.mark.parametrize("case", sorted(ALL_CASES))
def test_numba_backend_gives_the_numpy_backends_numbers(case):
    """The depthwise loops are NumPy on both; the pointwise product is the backend's Conv2D kernel."""
    pytest.importorskip("numba")
    make, shape = ALL_CASES[case]
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, *shape)).astype(np.float32)
    results = []
    for backend in ("numpy", "numba"):
        sn.set_backend(backend)
        layer = make()
        layer.ensure_built(shape, np.random.default_rng(0))
        _randomize(layer, np.random.default_rng(1))
        y = layer.forward(x)
        dx = layer.backward(np.ones_like(y))
        results.append([y, dx] + [p.grad for p in layer.weights])
    for a, b in zip(*results, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(a).max())


def test_get_config_makes_a_twin():
    for layer in (L.DepthwiseConv2D((3, 2), strides=2, padding="same", depth_multiplier=2,
                                    activation="relu", depthwise_initializer="he_uniform",
                                    depthwise_regularizer=sn.regularizers.L2(0.1)),
                  L.SeparableConv1D(4, 3, dilation_rate=2, use_bias=False,
                                    pointwise_initializer="ones",
                                    pointwise_regularizer=sn.regularizers.L1(0.2))):
        twin = type(layer)(**layer.get_config())
        assert twin.get_config() == layer.get_config()


def test_regularizers_join_the_losses():
    layer = L.SeparableConv2D(2, 2, depthwise_regularizer=sn.regularizers.L2(0.5),
                              pointwise_regularizer=sn.regularizers.L1(0.25))
    layer.ensure_built((4, 4, 2))
    expected = (0.5 * np.sum(layer.depthwise_kernel.value ** 2)
                + 0.25 * np.sum(np.abs(layer.pointwise_kernel.value)))
    np.testing.assert_allclose(sum(layer.losses), expected, rtol=1e-6)


@pytest.mark.parametrize("make, pattern", [
    (lambda: L.DepthwiseConv2D(0), "kernel_size"),
    (lambda: L.DepthwiseConv2D((3, 3, 3)), "kernel_size"),
    (lambda: L.DepthwiseConv2D(3, strides=0), "strides"),
    (lambda: L.DepthwiseConv2D(3, padding="causal"), "padding"),
    (lambda: L.DepthwiseConv1D(3, padding="causal"), "padding"),
    (lambda: L.DepthwiseConv2D(3, depth_multiplier=0), "depth_multiplier"),
    (lambda: L.DepthwiseConv2D(3, depth_multiplier=1.5), "depth_multiplier"),
    (lambda: L.DepthwiseConv2D(3, dilation_rate=(1, 0)), "dilation_rate"),
    (lambda: L.DepthwiseConv2D(3, data_format="channels_first"), "data_format"),
    (lambda: L.DepthwiseConv2D(3, depthwise_constraint="nope"), "depthwise_constraint"),
    (lambda: L.DepthwiseConv1D(3, bias_constraint="nope"), "bias_constraint"),
    (lambda: L.SeparableConv2D(0, 3), "filters"),
    (lambda: L.SeparableConv2D(2, 3, pointwise_constraint="nope"), "pointwise_constraint"),
    (lambda: L.SeparableConv1D(2, (3, 3)), "kernel_size"),
    (lambda: L.SeparableConv2D(2, 3, pointwise_initializer="no_such_init"), "pointwise_initializer"),
    (lambda: L.DepthwiseConv2D(3, depthwise_regularizer="no_such_penalty"), "depthwise_regularizer"),
    (lambda: L.DepthwiseConv2D(3, groups=2), "Unrecognized keyword arguments"),
])
def test_bad_arguments_raise_naming_the_argument(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()


def test_bad_input_shapes_raise():
    with pytest.raises(ValueError, match=r"expected ndim=4"):
        sn.Sequential([L.Input((6, 3)), L.DepthwiseConv2D(3)])
    with pytest.raises(ValueError, match=r"expected ndim=3"):
        sn.Sequential([L.Input((6, 6, 3)), L.SeparableConv1D(2, 3)])
    with pytest.raises(ValueError, match="does not fit"):
        sn.Sequential([L.Input((4, 6, 3)), L.DepthwiseConv2D(3, dilation_rate=2)])
    with pytest.raises(ValueError, match="does not fit"):
        sn.Sequential([L.Input((2, 3)), L.SeparableConv1D(2, 3)])
    model = sn.Sequential([L.Input((5, 5, 2)), L.SeparableConv2D(2, 3)])
    with pytest.raises(ValueError, match=r"expected shape=\(None, 5, 5, 2\)"):
        model.predict(np.zeros((1, 5, 5, 3), np.float32), verbose=0)
    with pytest.raises(ValueError, match="expects shape"):
        model.layers[0].set_weights([np.zeros((3, 3, 2, 2)), np.zeros((1, 1, 2, 2)), np.zeros(2)])


def test_a_small_model_learns(float64):
    """Depthwise and separable layers in a model that fit() drives: the loss goes down."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 8, 8, 2))
    y = (x[..., 0].mean((1, 2)) > 0).astype(int)
    model = sn.Sequential([L.Input((8, 8, 2)), L.DepthwiseConv2D(3, depth_multiplier=2, activation="relu"),
                           L.SeparableConv2D(4, 3, strides=2, padding="same", activation="relu"),
                           L.GlobalAveragePooling2D(), L.Dense(2)], seed=0)
    model.compile(optimizer=sn.optimizers.Adam(0.02),
                  loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, epochs=40, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.25 * history.history["loss"][0]


def test_a_model_saves_and_loads_npz(tmp_path):
    model = sn.Sequential([L.Input((6, 6, 2)), L.DepthwiseConv2D(3, depth_multiplier=2, padding="same"),
                           L.SeparableConv2D(3, 2, strides=2), L.Reshape((-1, 3)),
                           L.DepthwiseConv1D(2), L.SeparableConv1D(2, 2, depth_multiplier=2),
                           L.Flatten(), L.Dense(2)], seed=0)
    x = np.random.default_rng(0).random((2, 6, 6, 2)).astype(np.float32)
    model.save(tmp_path / "m.npz")
    loaded = sn.load_model(tmp_path / "m.npz")
    assert [layer.get_config() for layer in loaded.layers] == [layer.get_config() for layer in model.layers]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
