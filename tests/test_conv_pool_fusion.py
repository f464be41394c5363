"""Conv2D(activation="relu") -> MaxPooling2D run as one call (``Conv2D.forward_pooled``).

On the Numba backend a Sequential model hands such a pair to one call that pools each chunk of
the convolution's output while it is in cache and never keeps the whole activation. It must give
the numbers of the two layers run one after the other: the forward values and every weight
gradient are the same kernels on the same data; the only change is where the bias gradient's
float64 sum is cut into partial sums (per image, against per block of rows), which rounds to the
same float32 or to a neighbour. Hence ``rtol=1e-6`` on gradients and on weights after a few Adam
steps (float32 has 24 bits: 6e-8 per rounding, a few roundings apart), exact equality on the
forward pass.

One more difference, for a pair inside a model on the direct loops (its dL/dx is needed): the
fused backward computes dL/dx as a forward pass over the padded dz
(``direct_conv2d_backward_relu_maxpool2x2``), and with 16k input channels both its dL/dx and its
dL/dK as sums over the windows' winning cells only, the same float32 sums in another order. The layers
below then get gradients a few roundings apart (measured 3.3e-7 of the largest value), and Adam,
which divides by ``sqrt(v)``, turns such differences in the smallest gradients into weight
differences of 1e-4 within three steps. Those models compare one step's gradients, and weights
trained by SGD, whose step is linear in the gradient.
"""

from __future__ import annotations

import numpy as np
import pytest

import scratchnet as sn
from scratchnet import kernels
from scratchnet.kernels import pooling as pool_ref


@pytest.fixture
def numba_backend():
    before = kernels.get_backend()
    sn.set_backend("numba")
    yield
    kernels.set_conv_pool_fusion(True)
    sn.set_backend(before)


def _model(pool_padding="valid", activation="relu", seed=3, input_shape=(21, 20, 3)):
    return sn.Sequential([
        sn.layers.Input(input_shape),
        sn.layers.Conv2D(8, 3, activation=activation),
        sn.layers.MaxPooling2D(2, padding=pool_padding),
        sn.layers.Conv2D(16, 3, padding="same", activation="relu"),
        sn.layers.MaxPooling2D(3, strides=2),  # overlapping windows
        sn.layers.Flatten(),
        sn.layers.Dense(3, activation="softmax"),
    ], seed=seed)


def _data(n=12, shape=(21, 20, 3), seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n,) + shape).astype(np.float32), rng.integers(0, 3, n)


def _train(model, x, y, steps=3, optimizer=None):
    model.compile(optimizer=optimizer or sn.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    for _ in range(steps):
        model.train_step(x, y)
    return model


def test_fused_pairs_are_detected_and_show_in_the_profiler(numba_backend):
    model = _model()
    x, y = _data()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with sn.profiler.Profiler(model) as prof:
        model.train_step(x, y)
    conv1, pool1, conv2, pool2 = model.layers[:4]
    assert conv1.pooled[0] is pool1 and pool1.fused_into is conv1
    assert conv2.pooled[0] is pool2 and pool2.fused_into is conv2
    assert conv1.activated is None  # the (N, 19, 18, 8) activation is not kept
    assert conv1.pooled[2].dtype == np.int8  # argmax: one byte per pooled cell
    table = prof.table()
    assert f"conv2d [{conv1.conv_algorithm}] (fused with max_pooling2d)" in table
    rows = {r["name"]: r for r in prof.rows()}
    assert rows["conv2d"]["forward"] > 0 and rows["conv2d"]["backward"] > 0
    assert rows["max_pooling2d"]["total"] == 0  # its time is in the convolution's row


def test_fused_training_equals_the_layers_one_by_one(numba_backend):
    x, y = _data()
    kernels.set_conv_pool_fusion(False)
    plain = _train(_model(), x, y)
    assert plain.layers[0].pooled is None and plain.layers[1].fused_into is None
    kernels.set_conv_pool_fusion(True)
    fused = _train(_model(), x, y)
    assert fused.layers[0].pooled is not None
    for want, got in zip(plain.get_weights(), fused.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    # the same forward pass, bit for bit (the same kernels on the same weights)
    np.testing.assert_array_equal(fused.predict(x, verbose=0), fused(x))
    kernels.set_conv_pool_fusion(False)
    unfused_out = fused.predict(x, verbose=0)
    kernels.set_conv_pool_fusion(True)
    np.testing.assert_array_equal(fused.predict(x, verbose=0), unfused_out)


def test_fused_gradients_equal_the_numpy_reference_in_float64(numba_backend):
    """float64 end to end: the fused Numba path against the unfused NumPy layers (whose
    gradients tests/test_gradients.py checks by finite differences), to 1e-12."""
    sn.config.set_floatx("float64")
    try:
        x, y = _data()
        x = x.astype(np.float64)
        grads = {}
        for backend in ("numpy", "numba"):
            sn.set_backend(backend)
            model = _model(seed=7)
            model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
            loss, g = model.loss_and_grads(x, y)
            grads[backend] = (loss, g)
            assert (model.layers[0].pooled is not None) == (backend == "numba")
        assert grads["numba"][0] == pytest.approx(grads["numpy"][0], rel=1e-12)
        for want, got in zip(grads["numpy"][1], grads["numba"][1], strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    finally:
        sn.config.set_floatx("float32")


def test_predict_keeps_no_argmax_and_a_later_backward_is_refused(numba_backend):
    model = _model()
    x, y = _data()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.predict(x, verbose=0)
    assert model.layers[0].pooled[2] is None
    with pytest.raises(RuntimeError, match="conv2d: backward after a forward_pooled"):
        model.layers[0].backward(np.zeros((12, 9, 9, 8), np.float32))
    model.train_step(x, y)  # a training step keeps it again
    assert model.layers[0].pooled[2] is not None


@pytest.mark.parametrize("case", ["numpy backend", "fusion off", "tanh", "padded pooling",
                                  "pool is the output"])
def test_pairs_that_are_not_fused(numba_backend, case):
    model = _model()
    if case == "numpy backend":
        sn.set_backend("numpy")
    elif case == "fusion off":
        kernels.set_conv_pool_fusion(False)
    elif case == "tanh":
        model = _model(activation="tanh")
    elif case == "padded pooling":  # 19x18 output, "same" 2x2 pooling pads the odd row
        model = _model(pool_padding="same")
    elif case == "pool is the output":
        model = sn.Sequential([sn.layers.Input((8, 8, 1)), sn.layers.Conv2D(2, 3, activation="relu"),
                               sn.layers.MaxPooling2D(2)])
    x = np.random.default_rng(1).standard_normal((4,) + model.input_shape[1:]).astype(np.float32)
    out = model(x)
    assert model.layers[0].pooled is None and model.layers[1].fused_into is None
    assert model.layers[0].activated is not None
    assert out.shape[0] == 4


def test_a_layer_called_alone_after_a_fused_pass_runs_unfused(numba_backend):
    model = _model()
    x, y = _data()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.train_step(x, y)
    conv, pool = model.layers[:2]
    a = conv.forward(x, training=True)  # the layer on its own: its plain output
    assert conv.pooled is None and a.shape == (12, 19, 18, 8)
    pooled = pool.forward(a, training=True)
    assert pool.fused_into is None
    np.testing.assert_array_equal(pooled, pool_ref.maxpool2d_values(a, (2, 2), (2, 2), (9, 9)))
    dx = pool.backward(np.ones_like(pooled))
    assert dx.shape == a.shape and conv.backward(dx) is None  # the first layer: no input gradient


def test_set_conv_pool_fusion_checks_its_argument():
    with pytest.raises(TypeError, match=r"set_conv_pool_fusion: expected True or False, received 'yes'"):
        kernels.set_conv_pool_fusion("yes")


@pytest.mark.parametrize("window, strides", [((2, 2), (2, 2)), ((3, 3), (2, 2)), ((2, 3), (1, 2))])
def test_the_fused_kernel_equals_conv_then_pool(numba_backend, window, strides):
    rng = np.random.default_rng(2)
    xpad = rng.standard_normal((5, 17, 16, 4)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, 4, 6)).astype(np.float32)
    bias = rng.standard_normal(6).astype(np.float32)
    out_hw = (15, 14)
    pool_hw = tuple((o - w) // s + 1 for o, w, s in zip(out_hw, window, strides, strict=True))
    a = kernels.conv2d_bias_relu(xpad, kernel, bias, (1, 1), (1, 1), out_hw)
    want_y, want_arg = kernels.maxpool2d_forward(a, window, strides, pool_hw)
    old = kernels.CONV_POOL_CHUNK_BYTES
    kernels.CONV_POOL_CHUNK_BYTES = 1  # one image per thread a chunk: several chunks
    try:
        y, arg = kernels.conv2d_bias_relu_maxpool(xpad, kernel, bias, (1, 1), (1, 1), out_hw,
                                                  window, strides, pool_hw)
        y_only, none = kernels.conv2d_bias_relu_maxpool(xpad, kernel, bias, (1, 1), (1, 1), out_hw,
                                                        window, strides, pool_hw, with_argmax=False)
    finally:
        kernels.CONV_POOL_CHUNK_BYTES = old
    np.testing.assert_array_equal(y, want_y)
    np.testing.assert_array_equal(arg, want_arg)
    np.testing.assert_array_equal(y_only, want_y)
    assert none is None


# ------------------------------------------------ 2x2 pooling inside the convolution's own loops

def _bits(a):
    """The array's bit patterns: NaN payloads and the sign of zero compared too."""
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint64)


def _assert_trained_alike(plain, fused, x):
    """Weights after training without and with fusion to rtol 1e-6 (see the top); the fused
    model's forward pass, fusion off and on, bit for bit."""
    for want, got in zip(plain.get_weights(), fused.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    kernels.set_conv_pool_fusion(False)
    unfused_out = fused.predict(x, verbose=0)
    kernels.set_conv_pool_fusion(True)
    np.testing.assert_array_equal(_bits(fused.predict(x, verbose=0)), _bits(unfused_out))


def _pair_data(shape, filters, dtype, seed):
    """Random input with the values that test a max-pooling: NaN inputs, a filter whose outputs
    are all 0 after the ReLU (every window a four-way tie), one whose outputs are all exactly 0
    before it (zero kernel and bias: a tie of zeros, some of them -0.0 from 0 * negative)."""
    rng = np.random.default_rng(seed)
    xpad = rng.standard_normal(shape).astype(dtype)
    xpad[0, 1, 2, 0] = np.nan
    kernel = rng.standard_normal((3, 3, shape[3], filters)).astype(dtype)
    bias = rng.standard_normal(filters).astype(dtype)
    bias[1] = -1e3  # ReLU makes every output of filter 1 zero
    kernel[..., 2], bias[2] = 0, 0  # filter 2: zero sums
    return xpad, kernel, bias


@pytest.mark.parametrize("algorithm, channels, filters", [
    ("direct", 3, 16), ("direct", 3, 64), ("direct", 5, 32), ("direct", 16, 32), ("direct", 32, 64),
    ("direct", 3, 8),  # "planar" loops: the twin runs the two passes
    ("winograd", 8, 6), ("winograd", 64, 64), ("winograd", 3, 16),
    ("winograd4", 8, 6), ("winograd4", 64, 64), ("winograd4", 3, 16),
])
@pytest.mark.parametrize("out_hw", [(12, 10), (13, 11)])  # odd: the last row and column are dropped
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pooling_inside_the_convolution_loops_gives_the_bits_of_conv_then_pool(
        numba_backend, algorithm, channels, filters, out_hw, dtype):
    from scratchnet.kernels import numba_kernels as nb

    xpad, kernel, bias = _pair_data((5, out_hw[0] + 2, out_hw[1] + 2, channels), filters, dtype, seed=4)
    pool_hw = (out_hw[0] // 2, out_hw[1] // 2)
    a = kernels.conv2d_bias_relu(xpad, kernel, bias, (1, 1), (1, 1), out_hw, algorithm)
    want_y, want_arg = kernels.maxpool2d_forward(a, (2, 2), (2, 2), pool_hw)
    twin = getattr(nb, algorithm + "_conv2d_bias_relu_maxpool2x2")
    y, arg = twin(xpad, kernel, bias, (1, 1), (1, 1), out_hw, pool_hw, True)
    y_only, none = twin(xpad, kernel, bias, (1, 1), (1, 1), out_hw, pool_hw, False)
    assert y.shape == (5,) + pool_hw + (filters,) and y.dtype == dtype and arg.dtype == np.int8
    np.testing.assert_array_equal(_bits(y), _bits(want_y))
    np.testing.assert_array_equal(arg, want_arg)
    np.testing.assert_array_equal(_bits(y_only), _bits(want_y))
    assert none is None
    # the special values did occur (a window of NaN only pools to the lowest finite value, as in
    # TensorFlow: NaN never wins a window)
    assert (want_y[0, 0, 0] == np.finfo(dtype).min).all() and (want_y[1:, ..., 1] == 0).all()
    # the dispatcher sends this pair to the twin (the loops above), a 3x3 window to the chunks
    assert kernels._pools_in_kernel(algorithm, kernel.shape, (1, 1), (1, 1), (2, 2), (2, 2)) == \
        (algorithm.startswith("winograd") or filters in (16, 32, 64))
    assert not kernels._pools_in_kernel(algorithm, kernel.shape, (1, 1), (1, 1), (3, 3), (2, 2))
    y2, arg2 = kernels.conv2d_bias_relu_maxpool(xpad, kernel, bias, (1, 1), (1, 1), out_hw, (2, 2),
                                                (2, 2), pool_hw, algorithm)
    np.testing.assert_array_equal(_bits(y2), _bits(want_y))
    np.testing.assert_array_equal(arg2, want_arg)


@pytest.mark.parametrize("algorithm", ["direct", "winograd", "winograd4"])
def test_the_pooled_twins_match_their_numpy_references(numba_backend, algorithm):
    """The NumPy references (the two steps: kernels/direct.py, kernels/winograd.py) against the
    Numba twins, float64: the same up to rounding (1e-12), the same window winners."""
    from scratchnet.kernels import direct as direct_ref
    from scratchnet.kernels import numba_kernels as nb
    from scratchnet.kernels import winograd as winograd_ref

    reference = {"direct": direct_ref.conv2d_bias_relu_maxpool2x2,
                 "winograd": winograd_ref.winograd_conv2d_bias_relu_maxpool2x2,
                 "winograd4": winograd_ref.winograd4_conv2d_bias_relu_maxpool2x2}[algorithm]
    rng = np.random.default_rng(5)
    xpad = rng.standard_normal((3, 11, 12, 16))
    kernel = rng.standard_normal((3, 3, 16, 32))
    bias = rng.standard_normal(32)
    for with_argmax in (True, False):
        want_y, want_arg = reference(xpad, kernel, bias, (1, 1), (1, 1), (9, 10), (4, 5), with_argmax)
        y, arg = getattr(nb, algorithm + "_conv2d_bias_relu_maxpool2x2")(
            xpad, kernel, bias, (1, 1), (1, 1), (9, 10), (4, 5), with_argmax)
        np.testing.assert_allclose(y, want_y, rtol=1e-12, atol=1e-12)
        if with_argmax:
            np.testing.assert_array_equal(arg, want_arg)
        else:
            assert arg is None and want_arg is None


def test_a_model_whose_pairs_pool_inside_the_loops_trains_as_the_layers_one_by_one(numba_backend):
    """Both kinds of pair in one model (direct with 16 filters, Winograd at 64 channels), with and
    without fusion: one step's gradients bit for bit down to the direct pair inside the model, its
    bias included, and to 1e-6 of their largest value for its kernel and below it (with 16 input
    channels it sums both gradients over the windows' winners, in another order, see the top); weights
    trained by SGD to rtol 1e-6; the forward passes bit for bit. The first pair (RGB, no dL/dx
    needed) takes the backward without dz, the inner direct pair the one with dz padded for dL/dx."""
    def model():
        return sn.Sequential([
            sn.layers.Input((54, 53, 3)),
            sn.layers.Conv2D(16, 3, activation="relu"),  # direct: 52x51 -> pooled 26x25
            sn.layers.MaxPooling2D(2),
            sn.layers.Conv2D(64, 3, padding="same", activation="relu"),  # direct, 64 filters
            sn.layers.MaxPooling2D(2),
            sn.layers.Conv2D(64, 3, padding="same", activation="relu"),  # Winograd (64 -> 64, 13x12)
            sn.layers.MaxPooling2D(2),
            sn.layers.Flatten(),
            sn.layers.Dense(3, activation="softmax"),
        ], seed=11)

    x, y = _data(n=10, shape=(54, 53, 3))
    grads = {}
    for fuse in (False, True):
        kernels.set_conv_pool_fusion(fuse)
        one_step = model()
        one_step.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        grads[fuse] = one_step.loss_and_grads(x, y)[1]
    for i, (want, got) in enumerate(zip(grads[False], grads[True], strict=True)):
        if i < 3:  # the inner pair's kernel, and the first layer's kernel and bias below it
            assert np.abs(got - want).max() <= 1e-6 * np.abs(want).max()
        else:
            np.testing.assert_array_equal(_bits(got), _bits(want))
    kernels.set_conv_pool_fusion(False)
    plain = _train(model(), x, y, optimizer=sn.optimizers.SGD(1e-2))
    kernels.set_conv_pool_fusion(True)
    calls = []
    names = ("direct_conv2d_backward_kernel_relu_maxpool2x2", "direct_conv2d_backward_relu_maxpool2x2")
    twins = {name: kernels._impl[name] for name in names}

    def recorded(name):
        return lambda *args: calls.append((name, args[1].shape)) or twins[name](*args)

    for name in names:
        kernels._impl[name] = recorded(name)
    try:
        fused = _train(model(), x, y, optimizer=sn.optimizers.SGD(1e-2))
    finally:
        kernels._impl.update(twins)
    # once a step each: the first layer's backward without dz, the inner direct pair's with dz padded
    assert calls == [(names[1], (10, 13, 12, 64)), (names[0], (10, 26, 25, 16))] * 3
    algorithms = [layer.conv_algorithm for layer in fused.layers[0:6:2]]
    assert algorithms == ["direct", "direct", "winograd4"]
    for conv in fused.layers[0:6:2]:
        assert kernels._pools_in_kernel(conv.conv_algorithm, conv.kernel.value.shape, conv.strides,
                                        conv.dilation_rate, (2, 2), (2, 2))
        assert conv.pooled is not None and conv.pooled[2].dtype == np.int8
    _assert_trained_alike(plain, fused, x)


@pytest.mark.parametrize("c, f, hw", [(3, 16, (23, 20)), (3, 32, (22, 25)), (3, 16, (6, 7)),
                                       (4, 16, (9, 8)), (3, 64, (8, 9)), (3, 64, (40, 43)),
                                       (8, 16, (17, 12))])
def test_the_first_layer_backward_without_dz_gives_the_bits_of_the_two_steps(numba_backend, c, f, hw):
    """``direct_conv2d_backward_kernel_relu_maxpool2x2`` (a first layer's (dL/dK, dL/dbias), each
    value of dz made inside the loops for RGB with 16 or 32 filters, a band of dz at a time for the
    "filters inner" loops (64 filters, or 8+ channels; (40, 43) with 64 filters: two bands); other
    shapes (4 channels, 16 filters: planar): the two steps) against
    ``relu_maxpool2d_backward_bias_grad`` then ``direct_conv2d_backward_kernel``: the same bits,
    odd sizes (a row and a column no window covers) and NaN in such a column included; and the
    NumPy reference, float64, to 1e-12."""
    from scratchnet.kernels import direct as direct_ref
    from scratchnet.kernels import numba_kernels as nb

    rng = np.random.default_rng(c * f)
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal((9,) + hw + (c,)).astype(dtype)
        x[1, :, -1, 0] = np.nan  # read only by the last output column, which no window covers
        k = (rng.standard_normal((3, 3, c, f)) / 5).astype(dtype)
        b = (rng.standard_normal(f) / 10).astype(dtype)
        conv_hw = (hw[0] - 2, hw[1] - 2)
        pooled_hw = (conv_hw[0] // 2, conv_hw[1] // 2)
        y, argmax = nb.direct_conv2d_bias_relu_maxpool2x2(x, k, b, (1, 1), (1, 1), conv_hw, pooled_hw, True)
        dy = rng.standard_normal(y.shape).astype(dtype)
        args = (x, dy, y, argmax, (3, 3), (1, 1), (1, 1), conv_hw)
        dk, db = nb.direct_conv2d_backward_kernel_relu_maxpool2x2(*args)
        dz, want_db = nb.relu_maxpool2d_backward_bias_grad(dy, y, argmax, (2, 2), (2, 2), conv_hw)
        want_dk = nb.direct_conv2d_backward_kernel(x, dz, (3, 3), (1, 1), (1, 1))
        np.testing.assert_array_equal(_bits(dk), _bits(want_dk))
        np.testing.assert_array_equal(_bits(db), _bits(want_db))
        if dtype is np.float64:
            ref_dk, ref_db = direct_ref.conv2d_backward_kernel_relu_maxpool2x2(*args)
            finite = np.isfinite(ref_dk)
            assert np.array_equal(finite, np.isfinite(dk))  # the NaN reaches the same sums
            np.testing.assert_allclose(dk[finite], ref_dk[finite], rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(db, ref_db, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("c, f, hw", [(16, 32, (23, 20)), (16, 32, (9, 8)), (16, 64, (10, 11)),
                                       (16, 8, (11, 12)), (32, 64, (12, 13)), (64, 16, (7, 10)),
                                       (8, 32, (9, 9)), (3, 64, (8, 9))])
@pytest.mark.parametrize("winners", [True, False])
def test_the_inner_pair_backward_against_the_three_twins_and_the_reference(numba_backend, monkeypatch,
                                                                           c, f, hw, winners):
    """``direct_conv2d_backward_relu_maxpool2x2`` (an inner pair's (dL/dK, dL/dbias, dL/dxpad))
    against ``relu_maxpool2d_backward_bias_grad`` then the kernel-gradient and input-gradient twins,
    on each of its paths: "winners" (a multiple of 16 input channels: both gradients summed over
    the windows' winning cells, ``_backward_from_winners``; ``winners=False`` switches it off),
    "forward" (dz written inside a border of zeros, dL/dx run as the forward loops: 16, 32 or 64
    input channels) or "twins" (the three twins one after the other). dL/dbias is always the same
    bits; dL/dK the same bits except on "winners"; where the sums run in another order, within
    1e-6 of the largest value (float32 roundings: measured up to 4e-7); the NumPy reference in
    float64 to 1e-12. Odd sizes: a row or a column no window covers, whose dz is zero (and the
    border around dz too, else dL/dx would be far off)."""
    from scratchnet.kernels import direct as direct_ref
    from scratchnet.kernels import numba_kernels as nb

    if not winners:
        monkeypatch.setattr(nb, "WINNERS_BLOCK", 10**9)  # no layer has a multiple of 10**9 channels
    rng = np.random.default_rng(c * f + hw[0])
    conv_hw = (hw[0] - 2, hw[1] - 2)
    pooled_hw = (conv_hw[0] // 2, conv_hw[1] // 2)
    if winners and c % 16 == 0:
        path = "winners"
    else:
        path = "forward" if nb._backward_input_by_forward_loops((3, 3, c, f), hw, conv_hw) else "twins"
    assert path == "twins" or c % 16 == 0
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal((9,) + hw + (c,)).astype(dtype)
        k = (rng.standard_normal((3, 3, c, f)) / 5).astype(dtype)
        b = (rng.standard_normal(f) / 10).astype(dtype)
        y, argmax = nb.direct_conv2d_bias_relu_maxpool2x2(x, k, b, (1, 1), (1, 1), conv_hw, pooled_hw, True)
        dy = rng.standard_normal(y.shape).astype(dtype)
        args = (x, dy, y, argmax, k, (1, 1), (1, 1), conv_hw)
        dk, db, dxpad = nb.direct_conv2d_backward_relu_maxpool2x2(*args)
        dz, want_db = nb.relu_maxpool2d_backward_bias_grad(dy, y, argmax, (2, 2), (2, 2), conv_hw)
        want_dk = nb.direct_conv2d_backward_kernel(x, dz, (3, 3), (1, 1), (1, 1))
        want_dx = nb.direct_conv2d_backward_input(dz, k, (1, 1), (1, 1), hw)
        assert dk.shape == k.shape and dxpad.shape == x.shape and dk.dtype == dxpad.dtype == dtype
        np.testing.assert_array_equal(_bits(db), _bits(want_db))
        if path == "winners":
            winners = nb._backward_from_winners(x, dy, y, argmax, k)
            for got, want in zip((dk, db, dxpad), winners, strict=True):
                np.testing.assert_array_equal(_bits(got), _bits(want))  # that path ran
            assert np.abs(dk - want_dk).max() <= 1e-6 * np.abs(want_dk).max()
        else:
            np.testing.assert_array_equal(_bits(dk), _bits(want_dk))
        if path == "twins":
            np.testing.assert_array_equal(_bits(dxpad), _bits(want_dx))
        else:
            assert np.abs(dxpad - want_dx).max() <= 1e-6 * np.abs(want_dx).max()
        if dtype is np.float64:
            for got, want in zip((dk, db, dxpad), direct_ref.conv2d_backward_relu_maxpool2x2(*args),
                                 strict=True):
                np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("c, f, hw", [(16, 32, (15, 15)), (32, 8, (8, 9)), (4, 8, (9, 10)), (3, 5, (6, 7))])
def test_the_gradients_from_the_winners_are_the_dense_gradients(c, f, hw):
    """The NumPy formula of the winners' sums (``direct.conv2d_backward_relu_maxpool2x2_from_winners``:
    each window's gradient read from its winning cell, stride-2 slices of xpad) equals the dense
    one (dz made, then the two gradients), in float64 to 1e-12, odd sizes included; and so does the
    Numba twin where it runs it (a multiple of 16 input channels)."""
    from scratchnet.kernels import direct as direct_ref
    from scratchnet.kernels import numba_kernels as nb

    rng = np.random.default_rng(c + f)
    conv_hw = (hw[0] - 2, hw[1] - 2)
    pooled_hw = (conv_hw[0] // 2, conv_hw[1] // 2)
    x = rng.standard_normal((4,) + hw + (c,))
    k = rng.standard_normal((3, 3, c, f)) / 5
    b = rng.standard_normal(f) / 10 - np.sqrt(9 * c) / 5  # about the largest of a window's 4 sums
    y, argmax = direct_ref.conv2d_bias_relu_maxpool2x2(x, k, b, (1, 1), (1, 1), conv_hw, pooled_hw, True)
    assert 0.2 < (y > 0).mean() < 0.95  # some windows' gradients stop at the ReLU
    args = (x, rng.standard_normal(y.shape), y, argmax, k, (1, 1), (1, 1), conv_hw)
    want = direct_ref.conv2d_backward_relu_maxpool2x2(*args)
    got = direct_ref.conv2d_backward_relu_maxpool2x2_from_winners(*args)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)
    if c % nb.WINNERS_BLOCK == 0:
        for g, w in zip(nb._backward_from_winners(x, args[1], y, argmax, k), want, strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("where", ["input", "kernel"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_nan_or_inf_in_the_input_or_kernel_takes_the_dense_loops(numba_backend, monkeypatch, where, bad):
    """Skipping the zeros of dz would hide a NaN: in the dense sums a zero times an infinity (or a
    NaN) is NaN, as in the NumPy reference and in TensorFlow. So an input image or a kernel holding
    a NaN or an infinity sends the inner pair's backward to the dense loops: the same bits as with
    the winners' loops switched off, and NaN wherever the float64 reference has it (for a kernel's
    NaN, a few border cells of dL/dx more: the dense loops compute dL/dx as a forward pass over dz
    with its border of zeros, and multiply those zeros by the kernel too)."""
    from scratchnet.kernels import direct as direct_ref
    from scratchnet.kernels import numba_kernels as nb

    rng = np.random.default_rng(7)
    hw, conv_hw, pooled_hw = (11, 12), (9, 10), (4, 5)
    x = rng.standard_normal((5,) + hw + (16,))
    k = rng.standard_normal((3, 3, 16, 32)) / 5
    b = rng.standard_normal(32) / 10
    y, argmax = nb.direct_conv2d_bias_relu_maxpool2x2(x, k, b, (1, 1), (1, 1), conv_hw, pooled_hw, True)
    if where == "input":
        x[2, 10, 0, 3] = bad  # read only by output cells no window's winner is (row 8 of 9)
    else:
        k[1, 1, 5, 7] = bad
    args = (x, rng.standard_normal(y.shape), y, argmax, k, (1, 1), (1, 1), conv_hw)
    got = nb.direct_conv2d_backward_relu_maxpool2x2(*args)
    assert (nb._backward_from_winners(*args[:5]) is None) == (where == "input")
    monkeypatch.setattr(nb, "WINNERS_BLOCK", 10**9)  # no layer has a multiple of 10**9 channels
    dense = nb.direct_conv2d_backward_relu_maxpool2x2(*args)
    for g, d, ref in zip(got, dense, direct_ref.conv2d_backward_relu_maxpool2x2(*args), strict=True):
        np.testing.assert_array_equal(_bits(g), _bits(d))
        if where == "input":
            np.testing.assert_array_equal(np.isnan(g), np.isnan(ref))
        else:
            assert np.all(np.isnan(g) >= np.isnan(ref))  # every NaN of the reference, and a few more
    assert np.isnan(got[0 if where == "input" else 2]).any()  # dL/dK or dL/dx: zeros of dz times it


def test_numba_disable_jit_runs_the_pooled_twins_as_plain_python():
    """Stepping into the pooled loops with a debugger (``NUMBA_DISABLE_JIT=1``) runs them as Python,
    with the same results as the NumPy references."""
    import os
    import subprocess
    import sys

    code = (
        "import numpy as np, numba\n"
        "from scratchnet.kernels import numba_kernels as nb, direct, winograd\n"
        "assert numba.config.DISABLE_JIT\n"
        "rng = np.random.default_rng(0)\n"
        "x = rng.standard_normal((2, 7, 6, 3))\n"
        "k = rng.standard_normal((3, 3, 3, 16))\n"
        "b = rng.standard_normal(16)\n"
        "for twin, ref in [(nb.direct_conv2d_bias_relu_maxpool2x2, direct.conv2d_bias_relu_maxpool2x2),\n"
        "                  (nb.winograd_conv2d_bias_relu_maxpool2x2,\n"
        "                   winograd.winograd_conv2d_bias_relu_maxpool2x2)]:\n"
        "    y, a = twin(x, k, b, (1, 1), (1, 1), (5, 4), (2, 2), True)\n"
        "    y_ref, a_ref = ref(x, k, b, (1, 1), (1, 1), (5, 4), (2, 2), True)\n"
        "    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)\n"
        "    np.testing.assert_array_equal(a, a_ref)\n"
        "dy = rng.standard_normal(y.shape)\n"
        "args = (x, dy, y, a, (3, 3), (1, 1), (1, 1), (5, 4))\n"
        "for got, want in zip(nb.direct_conv2d_backward_kernel_relu_maxpool2x2(*args),\n"
        "                     direct.conv2d_backward_kernel_relu_maxpool2x2(*args)):\n"
        "    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)\n"
        "x, k, b = x[:, :, :, :1].repeat(16, 3), k[:, :, :1, :].repeat(16, 2), b  # 16 input channels\n"
        "y, a = nb.direct_conv2d_bias_relu_maxpool2x2(x, k, b, (1, 1), (1, 1), (5, 4), (2, 2), True)\n"
        "args = (x, rng.standard_normal(y.shape), y, a, k, (1, 1), (1, 1), (5, 4))\n"
        "for got, want in zip(nb.direct_conv2d_backward_relu_maxpool2x2(*args),\n"
        "                     direct.conv2d_backward_relu_maxpool2x2(*args)):\n"
        "    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)\n"
        "print('ok')\n"
    )
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


# ------------------------------------------------------------------------------ functional models

def _functional(branch=False, pool_is_output=False, shared=False, seed=5):
    """Conv2D(relu) -> MaxPooling2D in a functional model; ``branch``: the convolution's output is
    also read by another layer; ``pool_is_output``: the pooling is a model output;
    ``shared``: the convolution is called twice."""
    sn.utils.set_random_seed(seed)  # the layers take their initial weights as they are called
    inputs = sn.Input((14, 13, 3))
    conv = sn.layers.Conv2D(16, 3, activation="relu")
    h = conv(inputs)
    pooled = sn.layers.MaxPooling2D(2)(h)
    flat = sn.layers.Flatten()(pooled)
    if branch:
        flat = sn.layers.Concatenate()([flat, sn.layers.Flatten()(h)])
    if shared:
        again = sn.layers.Flatten()(sn.layers.MaxPooling2D(4)(conv(inputs)))
        flat = sn.layers.Concatenate()([flat, again])
    out = sn.layers.Dense(3, activation="softmax")(flat)
    return sn.Model(inputs, [out, pooled] if pool_is_output else out)


def test_a_functional_model_fuses_a_conv_pool_pair_and_trains_as_the_layers_one_by_one(numba_backend):
    x, y = _data(n=6, shape=(14, 13, 3))
    kernels.set_conv_pool_fusion(False)
    plain = _train(_functional(), x, y)
    kernels.set_conv_pool_fusion(True)
    fused = _train(_functional(), x, y)
    conv, pool = fused.layers[1], fused.layers[2]
    assert conv.pooled is not None and pool.fused_into is conv and conv.activated is None
    assert plain.layers[1].pooled is None and plain.layers[2].fused_into is None
    _assert_trained_alike(plain, fused, x)
    assert conv.pooled[2] is None  # predict keeps no argmax


@pytest.mark.parametrize("case", ["branch", "pool is an output", "shared convolution"])
def test_functional_pairs_that_are_not_fused(numba_backend, case):
    model = _functional(branch=case == "branch", pool_is_output=case == "pool is an output",
                        shared=case == "shared convolution")
    x, y = _data(n=4, shape=(14, 13, 3))
    model.forward([x])
    conv, pool = model.layers[1], model.layers[2]
    assert conv.pooled is None and pool.fused_into is None and conv.activated is not None
    assert model._pool_after == {}


def test_predict_pieces_count_only_the_outputs_a_forward_pass_holds(numba_backend):
    """``predict`` cuts a batch into pieces by its largest layer output (PREDICT_PIECE_BYTES); a
    Conv2D that runs with its max-pooling never holds its output, so it is not counted (talk_cnn
    at batch 256: pieces of 143 images instead of 35, predict 386 -> 361 ms). Without fusion it is."""
    for model, fused in ((_model(), (0, 2)), (_functional(), (1,))):
        convs = [model.layers[i] for i in fused]
        model.PREDICT_PIECE_BYTES = 4 * 3 * max(int(np.prod(c.output_shape)) for c in convs)
        held = max(int(np.prod(layer.output_shape)) for layer in model.layers
                   if getattr(layer, "output_shape", None) is not None and layer not in convs)
        assert model._outputs_pooled_in_place() == set(convs)
        assert model._predict_piece_rows() == model.PREDICT_PIECE_BYTES // (4 * held) > 3
        kernels.set_conv_pool_fusion(False)
        assert model._outputs_pooled_in_place() == set()
        assert model._predict_piece_rows() == 3
        kernels.set_conv_pool_fusion(True)
