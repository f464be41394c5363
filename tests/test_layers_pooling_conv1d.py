"""Issue 13's pooling, Conv1D, Rescaling and Resizing layers on their own: float64 finite
differences for every gradient, hand-computed golden values, and the errors bad input gets."""

import numpy as np
import pytest

import scratchnet as sn
from tests.gradcheck import check_layer

L = sn.layers


@pytest.fixture(autouse=True)
def float64():
    sn.config.set_floatx("float64")


def _built(layer, shape):
    layer.ensure_built(shape, np.random.default_rng(0))
    return layer


def _column(values):
    """A (1, L, 1) sequence or a (1, H, W, 1) image from a list (of lists)."""
    return np.array(values, dtype=np.float64)[None, ..., None]


# ------------------------------------------------------------------- finite differences
POOL_CASES = [
    (L.AveragePooling2D, dict(pool_size=2), (2, 6, 6, 3)),
    (L.AveragePooling2D, dict(pool_size=2, padding="same"), (1, 5, 7, 2)),  # odd SAME padding
    (L.AveragePooling2D, dict(pool_size=3, strides=2, padding="same"), (2, 6, 7, 2)),  # overlap
    (L.AveragePooling2D, dict(pool_size=(2, 3), strides=(1, 2), padding="same"), (2, 5, 5, 1)),
    (L.AveragePooling2D, dict(pool_size=2, strides=3), (1, 8, 7, 2)),  # stride larger than pool
    (L.AveragePooling1D, dict(pool_size=3), (2, 8, 3)),
    (L.AveragePooling1D, dict(pool_size=3, strides=2, padding="same"), (2, 8, 3)),
    (L.AveragePooling1D, dict(pool_size=2, strides=1, padding="same"), (1, 5, 2)),
    (L.MaxPooling1D, dict(), (2, 8, 3)),
    (L.MaxPooling1D, dict(pool_size=3, strides=1), (2, 7, 2)),  # overlapping windows
    (L.MaxPooling1D, dict(pool_size=2, padding="same"), (2, 7, 2)),  # odd SAME padding
    (L.MaxPooling1D, dict(pool_size=3, strides=2, padding="same"), (1, 8, 2)),
]


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("cls, kwargs, shape", POOL_CASES,
                         ids=[f"{c.__name__}-{k}" for c, k, _ in POOL_CASES])
def test_windowed_pooling_gradients(backend, cls, kwargs, shape, rng):
    sn.set_backend(backend)
    check_layer(cls(**kwargs), rng.standard_normal(shape), rng)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("cls, shape", [
    (L.GlobalAveragePooling2D, (2, 4, 5, 3)), (L.GlobalAveragePooling1D, (3, 6, 2)),
    (L.GlobalMaxPooling2D, (2, 4, 5, 3)), (L.GlobalMaxPooling1D, (3, 6, 2)),
])
def test_global_pooling_gradients(cls, shape, keepdims, rng):
    check_layer(cls(keepdims=keepdims), rng.standard_normal(shape), rng)


CONV1D_CASES = [
    dict(filters=3, kernel_size=3),
    dict(filters=2, kernel_size=4, padding="same"),  # odd SAME padding: one more step at the end
    dict(filters=2, kernel_size=3, strides=2, padding="same"),
    dict(filters=2, kernel_size=2, strides=3),  # stride larger than kernel
    dict(filters=3, kernel_size=3, padding="causal"),
    dict(filters=2, kernel_size=3, dilation_rate=2, padding="causal"),
    dict(filters=2, kernel_size=3, strides=2, padding="causal"),
    dict(filters=2, kernel_size=2, dilation_rate=3, padding="same"),
    dict(filters=4, kernel_size=1, use_bias=False),
    dict(filters=2, kernel_size=3, activation="tanh"),
    dict(filters=2, kernel_size=3, activation="relu"),
]


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("kwargs", CONV1D_CASES, ids=[str(k) for k in CONV1D_CASES])
def test_conv1d_gradients(backend, kwargs, rng):
    sn.set_backend(backend)
    check_layer(L.Conv1D(**kwargs), rng.standard_normal((2, 9, 2)), rng)


@pytest.mark.parametrize("kwargs", [dict(scale=1 / 255), dict(scale=2.0, offset=-1.0),
                                    dict(scale=[0.5, -2.0, 3.0], offset=[1.0, 0.0, -1.0])])
def test_rescaling_gradients(kwargs, rng):
    check_layer(L.Rescaling(**kwargs), rng.standard_normal((2, 4, 5, 3)), rng)


RESIZE_CASES = [
    dict(height=9, width=7),  # up
    dict(height=3, width=4),  # down
    dict(height=5, width=11, interpolation="nearest"),
    dict(height=2, width=3, interpolation="nearest"),
    dict(height=4, width=4, crop_to_aspect_ratio=True),
    dict(height=3, width=8, crop_to_aspect_ratio=True, interpolation="nearest"),
    dict(height=4, width=4, pad_to_aspect_ratio=True, fill_value=0.5),
    dict(height=9, width=4, pad_to_aspect_ratio=True),
]


@pytest.mark.parametrize("kwargs", RESIZE_CASES, ids=[str(k) for k in RESIZE_CASES])
def test_resizing_gradients(kwargs, rng):
    check_layer(L.Resizing(**kwargs), rng.standard_normal((2, 6, 8, 2)), rng)


# ------------------------------------------------------------------- golden values
def test_average_pooling_same_padding_averages_only_the_real_cells():
    # 3x3 image 0..8, 2x2 windows, SAME: the right column and bottom row are padding
    pool = _built(L.AveragePooling2D(2, padding="same"), (3, 3, 1))
    y = pool.forward(_column([[0, 1, 2], [3, 4, 5], [6, 7, 8]]))[0, :, :, 0]
    # (0+1+3+4)/4, (2+5)/2, (6+7)/2, 8/1
    np.testing.assert_array_equal(y, [[2.0, 3.5], [6.5, 8.0]])
    dx = pool.backward(np.ones((1, 2, 2, 1)))[0, :, :, 0]
    np.testing.assert_array_equal(dx, [[0.25, 0.25, 0.5], [0.25, 0.25, 0.5], [0.5, 0.5, 1.0]])


def test_average_pooling_1d_same_and_overlapping_windows():
    pool = _built(L.AveragePooling1D(3, strides=2, padding="same"), (4, 1))
    # L=4, s=2: OL=2, total pad (2-1)*2+3-4 = 1, all after: windows [0,1,2] and [2,3,pad]
    y = pool.forward(_column([1, 2, 3, 7]))[0, :, 0]
    np.testing.assert_array_equal(y, [2.0, 5.0])
    dx = pool.backward(np.ones((1, 2, 1)))[0, :, 0]
    np.testing.assert_allclose(dx, [1 / 3, 1 / 3, 1 / 3 + 1 / 2, 1 / 2], rtol=1e-15)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_max_pooling_1d_tie_goes_to_the_first_maximum(backend):
    sn.set_backend(backend)
    pool = _built(L.MaxPooling1D(2, strides=1), (4, 1))
    y = pool.forward(_column([1, 3, 3, 2]))[0, :, 0]  # windows [1,3], [3,3], [3,2]
    np.testing.assert_array_equal(y, [3, 3, 3])
    dx = pool.backward(np.ones((1, 3, 1)))[0, :, 0]
    np.testing.assert_array_equal(dx, [0, 2, 1, 0])  # window [3,3] gives all to its first 3


def test_max_pooling_1d_same_padding_is_never_a_candidate():
    pool = _built(L.MaxPooling1D(2, padding="same"), (3, 1))
    np.testing.assert_array_equal(pool.forward(_column([-5, -5, -5]))[0, :, 0], [-5, -5])


@pytest.mark.parametrize("cls, x", [(L.GlobalMaxPooling1D, _column([1, 3, 3, 2])),
                                    (L.GlobalMaxPooling2D, _column([[1, 3], [3, 3]]))])
def test_global_max_pooling_splits_a_tie_evenly(cls, x):
    """TensorFlow's reduce_max gradient: dy / (number of maxima) to each maximum."""
    pool = _built(cls(), x.shape[1:])
    assert pool.forward(x).shape == (1, 1) and pool.forward(x)[0, 0] == 3
    dx = pool.backward(np.array([[6.0]]))
    np.testing.assert_array_equal(dx, np.where(x == 3, 6.0 / np.sum(x == 3), 0.0))


def test_global_average_pooling_keepdims_shapes_and_values():
    x = np.arange(24, dtype=np.float64).reshape(1, 2, 3, 4)
    pool = _built(L.GlobalAveragePooling2D(keepdims=True), (2, 3, 4))
    y = pool.forward(x)
    assert pool.output_shape == (1, 1, 4) and y.shape == (1, 1, 1, 4)
    np.testing.assert_array_equal(y[0, 0, 0], [10, 11, 12, 13])  # mean of c, c+4, ..., c+20
    np.testing.assert_array_equal(pool.backward(np.ones((1, 1, 1, 4))), np.full(x.shape, 1 / 6))
    pool1 = _built(L.GlobalAveragePooling1D(), (3, 2))
    np.testing.assert_array_equal(pool1.forward(np.array([[[1, 2], [3, 4], [8, 0]]], "f8")),
                                  [[4, 2]])


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_conv1d_causal_reads_only_the_past(backend):
    sn.set_backend(backend)
    conv = _built(L.Conv1D(1, 2, padding="causal"), (4, 1))
    assert conv.kernel.shape == (2, 1, 1)  # Keras' (k, in, filters)
    conv.kernel.value[:, 0, 0] = [1, 10]  # z[i] = 1 * x[i - 1] + 10 * x[i]
    conv.bias.value[...] = 0.5
    np.testing.assert_array_equal(conv.forward(_column([1, 2, 3, 4]))[0, :, 0],
                                  [10.5, 21.5, 32.5, 43.5])
    dx = conv.backward(np.ones((1, 4, 1)))[0, :, 0]
    np.testing.assert_array_equal(dx, [11, 11, 11, 10])  # the last step feeds no later output
    np.testing.assert_array_equal(conv.kernel.grad[:, 0, 0], [1 + 2 + 3, 1 + 2 + 3 + 4])


def test_conv1d_same_padding_and_dilation_sizes():
    conv = _built(L.Conv1D(2, 3, strides=2, padding="same"), (7, 3))
    assert conv.output_shape == (4, 2) and conv.pads == (1, 1)
    conv = _built(L.Conv1D(2, 3, dilation_rate=2), (7, 3))  # effective kernel 5
    assert conv.output_shape == (3, 2)
    conv = _built(L.Conv1D(2, 3, strides=2, padding="causal"), (7, 3))
    assert conv.output_shape == (4, 2) and conv.pads == (2, 0)


def test_rescaling_maps_pixels_to_minus_one_one():
    layer = _built(L.Rescaling(1 / 127.5, offset=-1), (3,))
    x = np.array([[0.0, 127.5, 255.0]])
    np.testing.assert_allclose(layer.forward(x.astype(np.float32)), [[-1, 0, 1]], atol=1e-7)
    # in float64 the Python float scale is rounded to float32 first, as Keras' tf.cast does
    scale = float(np.float32(1 / 127.5))
    np.testing.assert_array_equal(layer.forward(x), x * scale - 1)
    assert scale != 1 / 127.5 and layer.forward(x)[0, 1] != 0
    np.testing.assert_array_equal(layer.backward(np.ones((1, 3))), np.full((1, 3), scale))


def test_resizing_bilinear_uses_half_pixel_centres():
    # 3x4 image 0..11 to 5x3: source rows (i + .5) * 3/5 - .5 = -.2, .4, 1, 1.6, 2.2 (clamped),
    # source columns (j + .5) * 4/3 - .5 = 1/6, 1.5, 17/6; each row adds 4, each column 1.
    layer = _built(L.Resizing(5, 3), (3, 4, 1))
    y = layer.forward(np.arange(12, dtype=np.float64).reshape(1, 3, 4, 1))[0, :, :, 0]
    columns = np.array([1 / 6, 1.5, 17 / 6])
    expected = np.stack([columns + 4 * r for r in (0, 0.4, 1, 1.6, 2)])
    np.testing.assert_allclose(y, expected, rtol=1e-6)  # TF's float32 source coordinates


def test_resizing_nearest_picks_floor_of_the_half_pixel_centre():
    layer = _built(L.Resizing(5, 3, interpolation="nearest"), (3, 4, 1))
    y = layer.forward(np.arange(12, dtype=np.float64).reshape(1, 3, 4, 1))[0, :, :, 0]
    # rows floor((i + .5) * .6) = 0, 0, 1, 2, 2; columns floor((j + .5) * 4/3) = 0, 2, 3
    np.testing.assert_array_equal(y, [[0, 2, 3], [0, 2, 3], [4, 6, 7], [8, 10, 11], [8, 10, 11]])
    # 2 -> 3: (1 + .5) * 2/3 is 1 exactly in real numbers; TensorFlow's float32 also gives 1
    two = _built(L.Resizing(3, 1, interpolation="nearest"), (2, 1, 1))
    np.testing.assert_array_equal(two.forward(_column([[5], [7]]))[0, :, 0, 0], [5, 7, 7])


def test_resizing_crop_to_aspect_ratio_takes_the_centred_window():
    x = np.arange(54, dtype=np.float64).reshape(1, 6, 9, 1)
    layer = _built(L.Resizing(6, 6, crop_to_aspect_ratio=True), (6, 9, 1))
    # square target: the 6x6 window starting at column int(3 / 2) = 1; same size is a copy
    np.testing.assert_array_equal(layer.forward(x), x[:, :, 1:7])
    dx = layer.backward(np.ones((1, 6, 6, 1)))[0, :, :, 0]
    assert dx[:, 0].sum() == 0 and dx[:, 7:].sum() == 0 and np.all(dx[:, 1:7] == 1)


def test_resizing_pad_to_aspect_ratio_pads_half_the_difference_on_each_side():
    # 5x8 to a square: P = 8 rows, (8 - 5) // 2 = 1 row of fill on each side: 7 rows, as Keras
    x = np.arange(40, dtype=np.float64).reshape(1, 5, 8, 1)
    layer = _built(L.Resizing(7, 8, pad_to_aspect_ratio=True, fill_value=-1,
                              interpolation="nearest"), (5, 8, 1))
    y = layer.forward(x)[0, :, :, 0]
    np.testing.assert_array_equal(y[1:6], x[0, :, :, 0])
    assert np.all(y[0] == -1) and np.all(y[6] == -1)
    np.testing.assert_array_equal(layer.backward(np.ones((1, 7, 8, 1))), np.ones(x.shape))


# ------------------------------------------------------------------- bad input
@pytest.mark.parametrize("layer, shape, expected", [
    (L.AveragePooling2D(2), (5, 5), "ndim=4"),
    (L.AveragePooling1D(2), (5, 5, 1), "ndim=3"),
    (L.MaxPooling1D(), (5,), "ndim=3"),
    (L.GlobalAveragePooling2D(), (5, 3), "ndim=4"),
    (L.GlobalMaxPooling1D(), (5, 3, 2), "ndim=3"),
    (L.GlobalMaxPooling2D(), (5, 3), "ndim=4"),
    (L.GlobalAveragePooling1D(), (5,), "ndim=3"),
    (L.Conv1D(2, 3), (5, 5, 1), "ndim=3"),
    (L.Resizing(4, 4), (5, 5), "ndim=4"),
], ids=lambda v: type(v).__name__ if isinstance(v, L.Layer) else None)
def test_wrong_rank_names_the_layer_expected_and_received(layer, shape, expected):
    with pytest.raises(ValueError, match=rf'layer "{layer.name}".*expected {expected}.*found ndim'):
        layer.ensure_built(shape)


@pytest.mark.parametrize("layer, shape", [
    (L.AveragePooling2D(3), (2, 5, 1)),
    (L.AveragePooling1D(4), (3, 1)),
    (L.MaxPooling1D(4), (3, 2)),
    (L.Conv1D(2, 4), (3, 1)),
    (L.Conv1D(2, 3, dilation_rate=2), (4, 1)),
], ids=lambda v: type(v).__name__ if isinstance(v, L.Layer) else None)
def test_window_larger_than_the_input(layer, shape):
    with pytest.raises(ValueError, match=rf'"{layer.name}".*does not fit the input'):
        layer.ensure_built(shape)


def test_same_padding_pools_an_input_smaller_than_the_window():
    assert _built(L.AveragePooling2D(3, padding="same"), (2, 2, 1)).output_shape == (1, 1, 1)


@pytest.mark.parametrize("make, expected", [
    (lambda: L.AveragePooling2D(2, padding="full"),
     r"AveragePooling2D 'average_pooling2d': expected padding to be one of \('valid', 'same'\), "
     r"received 'full'"),
    (lambda: L.AveragePooling1D(2, padding="causal"),
     r"AveragePooling1D 'average_pooling1d': expected padding .*received 'causal'"),
    (lambda: L.MaxPooling1D(padding=None), r"MaxPooling1D 'max_pooling1d': expected padding"),
    (lambda: L.Conv1D(2, 3, padding="full"),
     r"Conv1D 'conv1d': expected padding to be one of \('valid', 'same', 'causal'\), "
     r"received 'full'"),
    (lambda: L.AveragePooling2D(0), r"expected pool_size to be a positive integer, received 0"),
    (lambda: L.AveragePooling2D((2, 2, 2)), r"expected pool_size to be an int or a tuple of 2"),
    (lambda: L.MaxPooling1D(2, strides=(1, 1)), r"expected strides to be an int or a tuple of 1"),
    (lambda: L.Conv1D(2, 3, strides=2, dilation_rate=2), r"strides > 1 not supported"),
    (lambda: L.Conv1D(0, 3), r"expected filters to be a positive integer, received 0"),
    (lambda: L.Conv1D(2, 3, groups=2), r"expected groups=1.*received groups=2"),
    (lambda: L.GlobalMaxPooling2D(data_format="channels_first"),
     r"GlobalMaxPooling2D .*expected data_format to be 'channels_last'.*received 'channels_first'"),
    (lambda: L.GlobalAveragePooling1D(keepdims="yes"), r"expected keepdims to be a bool"),
    (lambda: L.Resizing(0, 4), r"Resizing 'resizing': expected height to be a positive integer"),
    (lambda: L.Resizing(4, 4, interpolation="cubic"),
     r"expected interpolation to be one of \('bilinear', 'nearest', .*received 'cubic'"),
    (lambda: L.Resizing(4, 4, interpolation="bicubic"),
     r"interpolation 'bicubic' is not implemented in scratchnet; use one of"),
    (lambda: L.Resizing(4, 4, crop_to_aspect_ratio=True, pad_to_aspect_ratio=True),
     r"only one of pad_to_aspect_ratio and crop_to_aspect_ratio"),
    (lambda: L.Resizing(4, 4, antialias=True), r"antialias=True is not implemented"),
    (lambda: L.Resizing(4, 4, fill_mode="reflect"), r"expected fill_mode to be 'constant'"),
    (lambda: L.Rescaling("1/255"), r"Rescaling 'rescaling': expected scale to be a number"),
    (lambda: L.Rescaling(1.0, offset=None), r"expected offset to be a number"),
])
def test_bad_arguments_name_the_layer_what_was_expected_and_received(make, expected):
    with pytest.raises(ValueError, match=expected):
        make()


def test_rescaling_scale_must_broadcast_to_one_sample():
    with pytest.raises(ValueError, match=r'"rescaling": scale of shape \(2,\).*\(4, 3\)'):
        L.Rescaling([1.0, 2.0]).ensure_built((4, 3))


# ------------------------------------------------------------------- config and saving
ALL_NEW = [
    L.AveragePooling2D((2, 3), strides=1, padding="same"), L.AveragePooling1D(3),
    L.MaxPooling1D(padding="same"), L.GlobalAveragePooling2D(keepdims=True),
    L.GlobalAveragePooling1D(), L.GlobalMaxPooling2D(), L.GlobalMaxPooling1D(keepdims=True),
    L.Conv1D(4, 3, padding="causal", dilation_rate=2, activation="relu", use_bias=False),
    L.Rescaling([0.5, 2.0], offset=-1.0), L.Resizing(4, 5, interpolation="nearest",
                                                   crop_to_aspect_ratio=True),
]


@pytest.mark.parametrize("layer, shape", [
    (L.AveragePooling2D(2, padding="same"), (5, 5, 2)), (L.AveragePooling1D(2), (6, 2)),
    (L.MaxPooling1D(), (6, 2)), (L.GlobalAveragePooling2D(), (4, 4, 2)),
    (L.GlobalAveragePooling1D(keepdims=True), (6, 2)), (L.GlobalMaxPooling2D(), (4, 4, 2)),
    (L.GlobalMaxPooling1D(), (6, 2)), (L.Conv1D(3, 2, padding="causal"), (6, 2)),
    (L.Rescaling(1 / 255, offset=0.5), (4, 4, 2)), (L.Resizing(3, 7), (4, 4, 2)),
    (L.Resizing(5, 5, crop_to_aspect_ratio=True, interpolation="nearest"), (4, 6, 2)),
], ids=lambda v: type(v).__name__ if isinstance(v, L.Layer) else None)
def test_float32_in_float32_out(layer, shape, rng):
    """No float64 creeps in (an int count or a bool mask would promote it)."""
    sn.config.set_floatx("float32")
    x = rng.standard_normal((2, *shape)).astype(np.float32)
    layer.ensure_built(shape, rng)
    y = layer.forward(x)
    dx = layer.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == np.float32 and dx.shape == x.shape
    assert all(p.grad.dtype == np.float32 for p in layer.params.values())


@pytest.mark.parametrize("layer", ALL_NEW, ids=lambda v: type(v).__name__)
def test_get_config_makes_a_twin(layer):
    twin = type(layer)(**layer.get_config())
    assert twin.get_config() == layer.get_config()
    assert type(layer).__name__ in L.__all__


def test_a_model_of_the_new_layers_saves_and_loads(tmp_path, rng):
    model = sn.Sequential([
        L.Input((12, 10, 3)), L.Rescaling(1 / 255), L.Resizing(8, 8),
        L.AveragePooling2D(2, padding="same"), L.GlobalMaxPooling2D(keepdims=True),
        L.Flatten(), L.Dense(6),
    ], seed=0)
    x = rng.uniform(0, 255, size=(2, 12, 10, 3))
    model.save(tmp_path / "m.npz")
    loaded = sn.load_model(tmp_path / "m.npz")
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


# ------------------------------------------- predict/evaluate keep no argmax (Layer.for_backward)

@pytest.mark.parametrize("functional", [False, True])
def test_predict_pools_without_argmax_and_a_later_backward_is_refused(functional):
    """A forward pass that no backward pass follows (predict, evaluate) computes the window maxima
    alone; the same outputs, no argmax kept; a training step keeps it again, and so does the layer
    called by hand afterwards (``for_backward`` is False only during the model's call)."""
    before = sn.get_backend()
    sn.set_backend("numpy")  # the layers one by one (no Conv2D + pooling fusion)
    try:
        layers = [sn.layers.Conv2D(4, 3, activation="tanh"), sn.layers.MaxPooling2D(2),
                  sn.layers.Flatten(),
                  sn.layers.Dense(3, activation="softmax")]
        if functional:
            inputs = sn.Input((9, 8, 2))
            h = inputs
            for layer in layers:
                h = layer(h)
            model = sn.Model(inputs, h)
        else:
            model = sn.Sequential([sn.layers.Input((9, 8, 2))] + layers)
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        rng = np.random.default_rng(0)
        x, y = rng.standard_normal((5, 9, 8, 2)).astype(np.float32), rng.integers(0, 3, 5)
        pool = layers[1]
        trained_out = model.forward([x] if functional else x)  # for_backward=True: argmax kept
        assert pool.argmax is not None
        predicted = model.predict(x, verbose=0)
        np.testing.assert_array_equal(predicted, trained_out)
        assert pool.argmax is None and pool.for_backward is True
        with pytest.raises(RuntimeError, match=r"max_pooling2d\w*: backward after a forward pass that "
                                               r"kept no argmax"):
            pool.backward(np.ones((5, 3, 3, 4), np.float32))
        model.evaluate(x, y, verbose=0)
        assert pool.argmax is None
        model.train_step(x, y)
        assert pool.argmax is not None
        model.predict(x, verbose=0)
        out = pool.forward(layers[0].forward(x))  # by hand: everything kept
        assert pool.argmax is not None and out.shape == (5, 3, 3, 4)
    finally:
        sn.set_backend(before)
