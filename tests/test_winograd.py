"""Winograd F(2x2, 3x3) (``scratchnet/kernels/winograd.py``) computes the direct convolution.

Tolerances, relative to the largest value of the result (``atol = TOL * max|direct|``):
- float64: ``1e-12``. Measured: up to 1.4e-15 on talk_cnn's shapes.
- float32: ``2e-6``. Measured against the direct im2col product on talk_cnn's shapes: up to
  5.6e-7 forward, 5.1e-7 for dL/dx, 8.2e-7 for dL/dK (the module docstring has the table); both
  algorithms are off from the exact result by about the same amount. The parity tests against
  TensorFlow keep their own tolerances (1e-5 forward, 1e-4 gradients) on the Numba backend, which
  runs Winograd for the wide layers; ``test_forced_winograd_layers_match_tensorflow_tolerances``
  checks that margin here without TensorFlow.

Winograd F(4x4, 3x3) (``winograd4_*``) rounds more: ``TOL4``, float32 ``6e-6`` for the forward
pass and dL/dx, ``TOL4_KERNEL`` ``1.5e-5`` for dL/dK. Measured on talk_cnn's shapes against the
exact result, as a fraction of the largest value: forward 1.7e-6-3.3e-6 (F(2x2, 3x3)
1.6e-7-4.4e-7, the im2col product 1.9e-7-5.9e-7; against the float32 im2col product
1.8e-6-3.3e-6), dL/dx 1.6e-6-2.7e-6, dL/dK 2.7e-6-4.3e-6 on the 64+ channel layers and 8.1e-6 on
the 3-channel first layer (the largest sum: 150x150 images, the most tiles); on 32-channel shapes
1.8e-6-2.3e-6, 1.3e-6-1.8e-6 and 2.6e-6-3.3e-6. The Numba twin against
the NumPy reference (each rounds its own way): up to 1.4e-6 forward, 6e-7 dL/dx, 3.9e-6 dL/dK.
The parity tests' tolerances (1e-5 forward, 1e-4 gradients) stay above all of these. float64: up
to 1.4e-14, so ``1e-12`` as above.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchnet as sn
from scratchnet import kernels
from scratchnet.kernels import conv as direct
from scratchnet.kernels import winograd as wg
from tests.gradcheck import REL_TOL, check_layer

TOL = {np.float32: 2e-6, np.float64: 1e-12}
TOL4 = {np.float32: 6e-6, np.float64: 1e-12}
TOL4_KERNEL = {np.float32: 1.5e-5, np.float64: 1e-12}
ONE = (1, 1)


@pytest.fixture(autouse=True)
def _restore_conv_algorithm():
    before = kernels.get_conv_algorithm()
    yield
    kernels.set_conv_algorithm(before)


def assert_close(actual, reference, dtype, tol=TOL):
    assert actual.dtype == reference.dtype == dtype and actual.shape == reference.shape
    scale = float(np.abs(reference).max())
    np.testing.assert_allclose(actual, reference, rtol=tol[dtype], atol=tol[dtype] * scale)


def _case(rng, n, oh, ow, c, f, dtype):
    xpad = rng.standard_normal((n, oh + 2, ow + 2, c)).astype(dtype)
    kernel = (rng.standard_normal((3, 3, c, f)) * np.sqrt(6 / (9 * (c + f)))).astype(dtype)
    dy = rng.standard_normal((n, oh, ow, f)).astype(dtype)
    return xpad, kernel, dy


def _all_three(module, prefix, xpad, kernel, dy):
    oh, ow = dy.shape[1:3]
    return (getattr(module, prefix + "conv2d_forward")(xpad, kernel, ONE, ONE, (oh, ow)),
            getattr(module, prefix + "conv2d_backward_input")(dy, kernel, ONE, ONE, xpad.shape[1:3]),
            getattr(module, prefix + "conv2d_backward_kernel")(xpad, dy, (3, 3), ONE, ONE))


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 3), oh=st.integers(1, 9), ow=st.integers(1, 9), c=st.integers(1, 5),
       f=st.integers(1, 5), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2**32 - 1))
def test_reference_equals_the_direct_convolution(n, oh, ow, c, f, dtype, seed):
    """Forward, dL/dx and dL/dK, odd and even output sizes (odd ones pad a half tile)."""
    xpad, kernel, dy = _case(np.random.default_rng(seed), n, oh, ow, c, f, dtype)
    for got, want in zip(_all_three(wg, "winograd_", xpad, kernel, dy),
                         _all_three(direct, "", xpad, kernel, dy), strict=True):
        assert_close(got, want, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, hw, c, f", [(1, 74, 64, 64), (2, 36, 64, 128), (2, 17, 128, 128),
                                         (1, 150, 3, 64)])
def test_reference_on_talk_cnn_shapes(n, hw, c, f, dtype):
    xpad, kernel, dy = _case(np.random.default_rng(hw), n, hw - 2, hw - 2, c, f, dtype)
    for got, want in zip(_all_three(wg, "winograd_", xpad, kernel, dy),
                         _all_three(direct, "", xpad, kernel, dy), strict=True):
        assert_close(got, want, dtype)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 3), oh=st.integers(1, 13), ow=st.integers(1, 13), c=st.integers(1, 5),
       f=st.integers(1, 5), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2**32 - 1))
def test_f4x4_equals_the_direct_convolution(n, oh, ow, c, f, dtype, seed):
    """F(4x4, 3x3): forward, dL/dx and dL/dK, output sizes that are and are not multiples of 4
    (the rest padded to a tile)."""
    xpad, kernel, dy = _case(np.random.default_rng(seed), n, oh, ow, c, f, dtype)
    for got, want, tol in zip(_all_three(wg, "winograd4_", xpad, kernel, dy),
                              _all_three(direct, "", xpad, kernel, dy), (TOL4, TOL4, TOL4_KERNEL),
                              strict=True):
        assert_close(got, want, dtype, tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, hw, c, f", [(1, 74, 64, 64), (2, 36, 64, 128), (2, 17, 128, 128),
                                         (1, 150, 3, 64)])
def test_f4x4_on_talk_cnn_shapes(n, hw, c, f, dtype):
    xpad, kernel, dy = _case(np.random.default_rng(hw), n, hw - 2, hw - 2, c, f, dtype)
    for got, want, tol in zip(_all_three(wg, "winograd4_", xpad, kernel, dy),
                              _all_three(direct, "", xpad, kernel, dy), (TOL4, TOL4, TOL4_KERNEL),
                              strict=True):
        assert_close(got, want, dtype, tol)


def test_f4x4_gradients_are_the_transposes_of_its_forward(rng):
    """``<conv(x), dy> = <x, dL/dx> = <K, dL/dK>`` for the same F(4x4, 3x3) steps (float64): the
    gradients are the forward's transposes, not merely close to the direct convolution's."""
    xpad, kernel, dy = _case(rng, 2, 9, 6, 3, 4, np.float64)
    y, dx, dk = _all_three(wg, "winograd4_", xpad, kernel, dy)
    assert np.isclose(np.vdot(y, dy), np.vdot(xpad, dx), rtol=1e-12)
    assert np.isclose(np.vdot(y, dy), np.vdot(kernel, dk), rtol=1e-12)


def test_bias_relu_forward_is_conv_plus_bias_then_relu(rng):
    xpad, kernel, _ = _case(rng, 2, 5, 4, 3, 4, np.float64)
    bias = rng.standard_normal(4)
    z, a = wg.winograd_conv2d_bias_relu_forward(xpad, kernel, bias, ONE, ONE, (5, 4))
    np.testing.assert_array_equal(z, wg.winograd_conv2d_forward(xpad, kernel, ONE, ONE, (5, 4)) + bias)
    np.testing.assert_array_equal(a, np.maximum(z, 0))


@pytest.mark.parametrize("m", [2, 4])
def test_transforms_compute_the_correlation(m):
    """A^T [(G g G^T) . (B^T d B)] A is the m x m correlation of an (m + 2) x (m + 2) tile with a
    3x3 kernel, for F(2x2, 3x3)'s textbook matrices and F(4x4, 3x3)'s."""
    rng = np.random.default_rng(0)
    Bt, Gm, At = wg.TILE_MATRICES[m]
    d, g = rng.standard_normal((m + 2, m + 2)), rng.standard_normal((3, 3))
    y = At @ ((Gm @ g @ Gm.T) * (Bt @ d @ Bt.T)) @ At.T
    direct_y = [[np.sum(d[i:i + 3, j:j + 3] * g) for j in range(m)] for i in range(m)]
    np.testing.assert_allclose(y, direct_y, rtol=1e-13, atol=1e-13)


def test_padding_rows_reach_no_kept_output():
    """Row 3 of a tile feeds only output row 1 (its coefficients toward row 0 are exact zeros), so
    what fills the rows past an odd edge leaves the kept row 0 unchanged, to the bit."""
    rng = np.random.default_rng(1)
    d, g = rng.standard_normal((4, 4)), rng.standard_normal((3, 3))
    u = wg.G @ g @ wg.G.T
    y = wg.A_T @ (u * (wg.B_T @ d @ wg.B_T.T)) @ wg.A_T.T
    d[3] = 1e30
    y_far = wg.A_T @ (u * (wg.B_T @ d @ wg.B_T.T)) @ wg.A_T.T
    np.testing.assert_array_equal(y_far[0], y[0])
    assert np.all(np.abs(y_far[1]) > 1e20)


@pytest.mark.parametrize("name, call", [
    ("winograd_conv2d_forward", lambda x, k: wg.winograd_conv2d_forward(x, k, (2, 2), ONE, (2, 2))),
    ("winograd_conv2d_forward", lambda x, k: wg.winograd_conv2d_forward(x, k[:2], ONE, ONE, (3, 4))),
    ("winograd_conv2d_backward_kernel",
     lambda x, k: wg.winograd_conv2d_backward_kernel(x, np.ones((1, 2, 2, 2)), (3, 3), ONE, (2, 2))),
    ("winograd_conv2d_backward_input",
     lambda x, k: wg.winograd_conv2d_backward_input(np.ones((1, 4, 4, 2)), k, ONE, (2, 1), (6, 6))),
])
def test_other_shapes_are_refused(name, call):
    x, k = np.ones((1, 6, 6, 3)), np.ones((3, 3, 3, 2))
    with pytest.raises(ValueError, match=name + r": Winograd F\(2x2, 3x3\) needs a 3x3 kernel"):
        call(x, k)


@pytest.mark.parametrize("module", ["reference", "numba"])
@pytest.mark.parametrize("name, call, received", [
    ("winograd4_conv2d_forward", lambda impl, x, k: impl.winograd4_conv2d_forward(x, k, (2, 2), ONE, (2, 2)),
     r"received kernel \(3, 3\), strides \(2, 2\)"),
    ("winograd4_conv2d_backward_kernel",
     lambda impl, x, k: impl.winograd4_conv2d_backward_kernel(x, np.ones((1, 2, 2, 2)), (3, 3), ONE, (2, 2)),
     r"received kernel \(3, 3\), strides \(1, 1\), dilation \(2, 2\)"),
    ("winograd4_conv2d_backward_input",
     lambda impl, x, k: impl.winograd4_conv2d_backward_input(np.ones((1, 4, 4, 2)), k[:2], ONE, ONE, (6, 6)),
     r"received kernel \(2, 3\), strides \(1, 1\)"),
])
def test_f4x4_refuses_other_shapes_by_name(module, name, call, received):
    if module == "numba":
        from scratchnet.kernels import numba_kernels as impl
    else:
        impl = wg
    x, k = np.ones((1, 6, 6, 3)), np.ones((3, 3, 3, 2))
    with pytest.raises(ValueError, match=name + r": Winograd F\(4x4, 3x3\) needs a 3x3 kernel with "
                                         r"strides \(1, 1\).*" + received):
        call(impl, x, k)


def test_set_conv_algorithm_checks_its_argument():
    valid = r"\('auto', 'im2col', 'winograd', 'winograd4', 'direct'\)"
    with pytest.raises(ValueError, match=rf"expected one of {valid}, received 'fft'"):
        kernels.set_conv_algorithm("fft")
    with pytest.raises(ValueError, match="expected algorithm in"):
        kernels.conv2d_forward(np.ones((1, 3, 3, 1)), np.ones((3, 3, 1, 1)), ONE, ONE, (1, 1),
                               algorithm="fft")


def test_the_numpy_backend_runs_im2col_unless_forced():
    sn.set_backend("numpy")
    assert kernels.conv2d_algorithm((3, 3, 64, 64), ONE, ONE) == "im2col"
    kernels.set_conv_algorithm("winograd")
    assert kernels.conv2d_algorithm((3, 3, 64, 64), ONE, ONE) == "winograd"
    assert kernels.conv2d_algorithm((3, 3, 64, 64), (2, 2), ONE) == "im2col"  # where it applies only
    assert kernels.conv2d_algorithm((5, 5, 64, 64), ONE, ONE) == "im2col"
    kernels.set_conv_algorithm("winograd4")
    assert kernels.conv2d_algorithm((3, 3, 64, 64), ONE, ONE) == "winograd4"


def test_the_numba_backend_runs_winograd_on_wide_3x3_layers():
    sn.set_backend("numba")
    wide = kernels.WINOGRAD_MIN_CHANNELS
    assert wide == 32
    assert kernels.conv2d_algorithm((3, 3, wide, wide), ONE, ONE) == "winograd4"  # F(4x4, 3x3)
    assert kernels.conv2d_algorithm((3, 3, 3, wide), ONE, ONE) == "direct"  # RGB input: Winograd slower
    assert kernels.conv2d_algorithm((3, 3, 32, 64), ONE, ONE) == "winograd4"  # rps_cnn's third layer
    assert kernels.conv2d_algorithm((3, 3, 16, 64), ONE, ONE) == "direct"  # 64 filters, 16 channels
    assert kernels.conv2d_algorithm((3, 3, 16, 48), ONE, ONE) == "im2col"
    small = kernels.WINOGRAD_MIN_OUTPUT
    assert small == 12  # outputs of fewer rows or columns: the direct loops or im2col
    assert kernels.conv2d_algorithm((3, 3, 32, 64), ONE, ONE, (small, small)) == "winograd4"
    assert kernels.conv2d_algorithm((3, 3, 64, 64), ONE, ONE, (small - 1, 30)) == "direct"
    assert kernels.conv2d_algorithm((3, 3, 32, 64), ONE, ONE, (4, 4)) == "direct"  # digits_cnn
    assert kernels.conv2d_algorithm((3, 3, 64, 48), ONE, ONE, (30, small - 1)) == "im2col"
    assert kernels.conv2d_algorithm((3, 3, wide, wide), (2, 2), ONE) == "im2col"
    assert kernels.conv2d_algorithm((3, 3, wide, wide), ONE, (2, 2)) == "im2col"
    kernels.set_conv_algorithm("im2col")
    assert kernels.conv2d_algorithm((3, 3, wide, wide), ONE, ONE) == "im2col"


@pytest.mark.parametrize("avx512", [True, False])
def test_the_choice_is_the_same_for_predict_and_training_with_any_vector_width(monkeypatch, avx512):
    sn.set_backend("numba")
    monkeypatch.setattr(kernels._numba_module(), "has_512_bit_vectors", lambda: avx512)
    assert kernels.conv2d_algorithm((3, 3, 16, 32), ONE, ONE, (29, 29)) == "direct"
    assert kernels.conv2d_algorithm((3, 3, 3, 16), ONE, ONE, (62, 62)) == "direct"
    assert kernels.conv2d_algorithm((3, 3, 32, 64), ONE, ONE, (12, 12)) == "winograd4"
    model = sn.Sequential([sn.layers.Input((16, 16, 16)), sn.layers.Conv2D(32, 3, activation="relu"),
                           sn.layers.MaxPooling2D(), sn.layers.Flatten(), sn.layers.Dense(2)], seed=0)
    x = np.random.default_rng(0).random((4, 16, 16, 16), dtype=np.float32)
    predicted = model.predict(x, verbose=0)
    assert model.layers[0].conv_algorithm == "direct"
    np.testing.assert_array_equal(model(x), predicted)
    np.testing.assert_array_equal(model.forward(x, training=True), predicted)  # the same loops


def test_the_direct_loops_blocks_of_sums_fit_the_vector_registers():
    # Each block keeps px * f float32 sums in vector registers: at most 8 of AVX2's 16 (128 or more
    # spilled to memory there), 8-12 of AVX-512's 32 (numba_kernels, FI_PX16 and RGB_PX16).
    sn.set_backend("numba")
    nk = kernels._numba_module()
    bits, most = (512, 12) if nk.has_512_bit_vectors() else (256, 8)
    blocks = {16: (nk.FI_PX16, nk.RGB_PX16), 32: (nk.FI_PX32, nk.RGB_PX32),
              64: (nk.FI_PX64, nk.RGB_PX64, nk.RGB_POOLED_PX64)}
    for f, pixels in blocks.items():
        for px in pixels:
            assert 1 <= px and px * f * 32 <= most * bits, (f, px)
    # The RGB kernel gradient's passes: 9 sums per kernel row and filter, at most 9 of AVX2's 16
    # registers (27 x 16 spilled there), 27 of AVX-512's 32; the passes tile the rows and filters.
    most = 27 if bits == 512 else 9
    passes = {16: (nk.RGB_GRAD_ROWS16, nk.RGB_GRAD_WIDTH16), 32: (nk.RGB_GRAD_ROWS32, nk.RGB_GRAD_WIDTH32),
              64: (nk.RGB_GRAD_ROWS64, nk.RGB_GRAD_WIDTH64)}
    for f, (rows, width) in passes.items():
        assert 3 % rows == 0 and f % width == 0 and 9 * rows * width * 32 <= most * bits, (f, rows, width)
    assert set(nk.RGB_GRAD_FILTERS) <= set(passes)
    # 64 filters take these passes only where the filters-inner loops' 3 x 64 sums a tap would not
    # fit (24 of AVX2's 16 registers; 12 of AVX-512's 32)
    registers = 32 if bits == 512 else 16
    assert (64 in nk.RGB_GRAD_FILTERS) == (3 * 64 * 32 > registers * bits)


def test_has_512_bit_vectors_reads_the_cpu_features(monkeypatch):
    sn.set_backend("numba")
    nk = kernels._numba_module()
    nk.has_512_bit_vectors.cache_clear()
    monkeypatch.setenv("NUMBA_CPU_FEATURES", "+avx,+avx2,+avx512f,+fma")
    assert nk.has_512_bit_vectors()
    nk.has_512_bit_vectors.cache_clear()
    monkeypatch.setenv("NUMBA_CPU_FEATURES", "+avx,+avx2,-avx512f,+fma")
    assert not nk.has_512_bit_vectors()
    nk.has_512_bit_vectors.cache_clear()


def test_the_layer_and_the_profiler_say_which_algorithm_ran(rng):
    sn.set_backend("numba")
    model = sn.Sequential([sn.layers.Input((16, 16, 3)),
                           sn.layers.Conv2D(64, 3, activation="relu"),
                           sn.layers.Conv2D(64, 3, padding="same", activation="relu"),
                           sn.layers.Flatten(), sn.layers.Dense(2)], seed=0)
    model.compile(optimizer="sgd", loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = rng.random((4, 16, 16, 3), dtype=np.float32), rng.integers(0, 2, 4)
    with sn.profiler.Profiler(model) as prof:
        model.train_step(x, y)
    assert [layer.conv_algorithm for layer in model.layers[:2]] == ["direct", "winograd4"]
    rows = {r["name"]: r for r in prof.rows()}
    assert rows[model.layers[1].name]["algorithm"] == "winograd4"
    assert "algorithm" not in rows[model.layers[3].name]  # Dense
    assert f"{model.layers[1].name} [winograd4]" in prof.table()
    assert f"{model.layers[0].name} [direct]" in prof.table()


@pytest.mark.parametrize("algorithm", ["winograd", "winograd4"])
@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("padding, activation", [("valid", "relu"), ("same", None), ("same", "tanh")])
def test_forced_winograd_layer_passes_finite_differences(backend, padding, activation, algorithm, rng):
    sn.set_backend(backend)
    kernels.set_conv_algorithm(algorithm)
    sn.config.set_floatx("float64")
    layer = sn.layers.Conv2D(3, 3, padding=padding, activation=activation)
    x = rng.standard_normal((2, 5, 6, 2))
    check_layer(layer, x, rng)  # dL/dx, dL/dkernel and dL/dbias against central differences
    assert layer.conv_algorithm == algorithm
    assert REL_TOL <= 1e-6


@pytest.mark.parametrize("algorithm", ["winograd", "winograd4"])
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_forced_winograd_layers_match_tensorflow_tolerances(backend, algorithm, rng):
    """A model of talk_cnn's kind (3x3 convs, pools) gives the im2col loss and gradients within the
    parity tolerances (1e-5 forward, 1e-4 gradients) in float32: the margin those tests rely on."""
    sn.set_backend(backend)
    model = sn.models.rps_cnn((22, 22, 3), filters=(8, 16), dense_units=16, dropout=0.0)
    model.compile(optimizer="adam", loss=sn.losses.SparseCategoricalCrossentropy())
    x, y = rng.random((6, 22, 22, 3), dtype=np.float32), rng.integers(0, 3, 6)
    kernels.set_conv_algorithm("im2col")
    loss_ref, grads_ref = model.loss_and_grads(x, y)
    kernels.set_conv_algorithm(algorithm)
    loss, grads = model.loss_and_grads(x, y)
    convs = [layer for layer in model.layers if isinstance(layer, sn.layers.Conv2D)]
    assert [layer.conv_algorithm for layer in convs] == [algorithm, algorithm]
    np.testing.assert_allclose(loss, loss_ref, rtol=1e-5)
    for g, g_ref in zip(grads, grads_ref, strict=True):
        np.testing.assert_allclose(g, g_ref, rtol=1e-4, atol=1e-4 * np.abs(g_ref).max())


def test_numba_winograd_is_the_same_bits_run_to_run(rng):
    from scratchnet.kernels import numba_kernels as nb

    xpad, kernel, dy = _case(rng, 11, 9, 7, 8, 6, np.float32)
    for prefix in ("winograd_", "winograd4_"):
        first = _all_three(nb, prefix, xpad, kernel, dy)
        second = _all_three(nb, prefix, xpad, kernel, dy)
        for a, b in zip(first, second, strict=True):
            np.testing.assert_array_equal(a, b)
