"""The direct convolution: its NumPy reference (``scratchnet/kernels/direct.py``) computes what
im2col computes, and its Numba twins (``numba_kernels.direct_*``) compute what the reference does.

Tolerances, relative to the largest value of the result (``atol = TOL * max|reference|``):
- reference against im2col (``kernels/conv.py``), float64: ``1e-12``. Both are exact sums of the
  same products in different orders (KH*KW products of C terms against one product of KH*KW*C).
- Numba twins against the reference, float32: ``1e-5``, float64: ``1e-12``. The twins add the same
  K = KH*KW*C products per output in another order and with fused multiply-adds (one rounding per
  step), and the kernel gradient adds N*OH*OW products in 16 lanes or in bands of rows; a sum of
  K float32 terms can
  move by about ``K * 6e-8`` of the sum of their magnitudes, below 1e-5 of the largest value for
  these sizes (the same bound as ``tests/test_kernels_numba.py``). Measured: 1e-7 to 4e-7.

The random geometries of the hypothesis sweeps scale ``atol`` by the largest *sum of magnitudes*
instead (the same passes run on ``|x|``, ``|K|``, ``|bias|``, ``|dy|``), which is what that bound
is relative to: an output whose terms cancel can be far smaller than the terms, and when every
output does (one example had a single positive ReLU output of 0.0045 from terms of about 1, the
rest zero), float32's roundings of the terms (2e-7 there) exceed 1e-5 of the largest output.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numba
import numpy as np
import pytest
from hypothesis import given, settings

import scratchnet as sn
from scratchnet import kernels
from scratchnet.kernels import conv as im2col_ref
from scratchnet.kernels import direct as ref
from scratchnet.kernels import numba_kernels as nb
from tests.gradcheck import check_layer
from tests.test_kernels_numba import conv_cases

TOL = {np.float32: 1e-5, np.float64: 1e-12}
ONE = (1, 1)
SWEEP = settings(max_examples=40, deadline=None)


@pytest.fixture(autouse=True)
def _restore_backend_and_algorithm():
    backend, algorithm = kernels.get_backend(), kernels.get_conv_algorithm()
    yield
    kernels.set_backend(backend)
    kernels.set_conv_algorithm(algorithm)


def assert_close(actual, reference, dtype, magnitude=None):
    """``atol``: ``TOL`` times the largest value of ``magnitude`` (the sums of the terms'
    magnitudes, :func:`_magnitudes`), or of the reference when not given."""
    assert actual.dtype == reference.dtype and actual.shape == reference.shape
    bound = reference if magnitude is None else magnitude
    scale = float(np.abs(bound).max()) if bound.size else 0.0
    np.testing.assert_allclose(actual, reference, rtol=TOL[dtype], atol=TOL[dtype] * scale)


def _passes(module, prefix, case):
    """forward, (z, a) of the bias + ReLU forward, a alone, dL/dK and dL/dx of one case."""
    xpad, kernel, bias, dy = case["xpad"], case["kernel"], case["bias"], case["dy"]
    geometry = (case["strides"], case["dilation"])
    return [
        getattr(module, prefix + "conv2d_forward")(xpad, kernel, *geometry, case["out_hw"]),
        *getattr(module, prefix + "conv2d_bias_relu_forward")(xpad, kernel, bias, *geometry, case["out_hw"]),
        getattr(module, prefix + "conv2d_bias_relu")(xpad, kernel, bias, *geometry, case["out_hw"]),
        getattr(module, prefix + "conv2d_backward_kernel")(xpad, dy, kernel.shape[:2], *geometry),
        getattr(module, prefix + "conv2d_backward_input")(dy, kernel, *geometry, xpad.shape[1:3]),
    ]


def _magnitudes(case):
    """The reference's passes on the absolute values of the case: for each output, the sum of the
    magnitudes of the terms it adds up (the scale of its float32 rounding)."""
    absolute = dict(case, **{name: np.abs(case[name]) for name in ("xpad", "kernel", "bias", "dy")})
    return _passes(ref, "", absolute)


def _im2col_passes(case):
    from scratchnet.kernels import bias as bias_ref

    xpad, kernel, bias, dy = case["xpad"], case["kernel"], case["bias"], case["dy"]
    geometry = (case["strides"], case["dilation"])
    return [
        im2col_ref.conv2d_forward(xpad, kernel, *geometry, case["out_hw"]),
        *bias_ref.conv2d_bias_relu_forward(xpad, kernel, bias, *geometry, case["out_hw"]),
        bias_ref.conv2d_bias_relu(xpad, kernel, bias, *geometry, case["out_hw"]),
        im2col_ref.conv2d_backward_kernel(xpad, dy, kernel.shape[:2], *geometry),
        im2col_ref.conv2d_backward_input(dy, kernel, *geometry, xpad.shape[1:3]),
    ]


def _case(rng, n, oh, ow, c, f, dtype, kernel_hw=(3, 3), strides=ONE, dilation=ONE):
    (kh, kw), (sh, sw), (dh, dw) = kernel_hw, strides, dilation
    hp, wp = (oh - 1) * sh + (kh - 1) * dh + 1, (ow - 1) * sw + (kw - 1) * dw + 1
    return {
        "xpad": rng.standard_normal((n, hp, wp, c)).astype(dtype),
        "kernel": (rng.standard_normal((kh, kw, c, f)) / np.sqrt(kh * kw * c)).astype(dtype),
        "bias": rng.standard_normal(f).astype(dtype),
        "dy": rng.standard_normal((n, oh, ow, f)).astype(dtype),
        "strides": strides, "dilation": dilation, "out_hw": (oh, ow), "dtype": dtype,
    }


# ----------------------------------------------------------------------- the NumPy reference


@SWEEP
@given(conv_cases())
def test_reference_equals_im2col(case):
    """Any kernel size, stride and dilation (1-3 each), rows the last window leaves unread."""
    for got, want, magnitude in zip(_passes(ref, "", case), _im2col_passes(case), _magnitudes(case),
                                    strict=True):
        assert_close(got, want, case["dtype"], magnitude)


def test_reference_on_the_benchmark_shapes_in_float64(rng):
    for hw, c, f in [(32, 3, 16), (15, 16, 32), (14, 32, 64)]:
        case = _case(rng, 2, hw - 2, hw - 2, c, f, np.float64)
        for got, want in zip(_passes(ref, "", case), _im2col_passes(case), strict=True):
            assert_close(got, want, np.float64)


def test_reference_golden_values():
    """One 3x3 image, one 2x2 kernel of ones: each output is the sum of its 2x2 window."""
    x = np.arange(9.0).reshape(1, 3, 3, 1)
    k = np.ones((2, 2, 1, 1))
    np.testing.assert_array_equal(ref.conv2d_forward(x, k, ONE, ONE, (2, 2))[0, :, :, 0],
                                  [[8.0, 12.0], [20.0, 24.0]])
    dy = np.ones((1, 2, 2, 1))
    np.testing.assert_array_equal(ref.conv2d_backward_input(dy, k, ONE, ONE, (3, 3))[0, :, :, 0],
                                  [[1, 2, 1], [2, 4, 2], [1, 2, 1]])  # windows covering each cell
    np.testing.assert_array_equal(ref.conv2d_backward_kernel(x, dy, (2, 2), ONE, ONE)[:, :, 0, 0],
                                  [[8.0, 12.0], [20.0, 24.0]])


# ----------------------------------------------------------------------- the Numba twins

# (C, F): every compiled path -- "planar" with 3 channels (27 taps per loop) and with 1, 2, 4;
# "filters inner" with 16, 32 and 64 filters, with the kernel gradient's channel blocks of 3, 4, 8
# and the leftovers (12 = 8 + 4, 9 = 8 + 1); and shapes that run the im2col twins (5 -> 7, 6 -> 16
# for dL/dK, 16 -> 48).
SPECIALISED = [(3, 16), (3, 64), (3, 32), (1, 8), (2, 5), (4, 7), (16, 64), (32, 64), (16, 32), (8, 16),
               (12, 32), (9, 16), (6, 16), (5, 7), (16, 48)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("c, f", SPECIALISED)
def test_twins_match_the_reference_on_every_compiled_path(c, f, dtype, rng):
    for n, oh, ow in [(3, 7, 9), (1, 1, 1), (2, 12, 5)]:  # odd sizes, a single pixel, tall
        case = _case(rng, n, oh, ow, c, f, dtype)
        for got, want in zip(_passes(nb, "direct_", case), _passes(ref, "", case), strict=True):
            assert_close(got, want, dtype)


def test_twins_on_a_band_cut_image(rng):
    """Large outputs are computed in bands of rows (DIRECT_BAND_BYTES): the bands meet exactly."""
    case = _case(rng, 2, 70, 66, 3, 16, np.float32)
    assert 68 * 16 * 4 * 70 > nb.DIRECT_BAND_BYTES  # sums of 70 rows of Wp = 68: more than one band
    for got, want in zip(_passes(nb, "direct_", case), _passes(ref, "", case), strict=True):
        assert_close(got, want, np.float32)


@SWEEP
@given(conv_cases())
def test_twins_match_the_reference_on_any_geometry(case):
    """Strides, dilations and kernel sizes other than 3x3 / 1 / 1 run the im2col twins."""
    for got, want, magnitude in zip(_passes(nb, "direct_", case), _passes(ref, "", case), _magnitudes(case),
                                    strict=True):
        assert_close(got, want, case["dtype"], magnitude)


@pytest.mark.parametrize("c, f", [(3, 16), (16, 64)])
def test_nan_and_negative_zero_pass_through_relu_as_in_numpy(c, f, rng):
    case = _case(rng, 2, 5, 6, c, f, np.float32)
    case["xpad"][0, 2, 3, 0] = np.nan  # NaN in every output whose window reads it
    z, a = nb.direct_conv2d_bias_relu_forward(case["xpad"], case["kernel"], case["bias"], ONE, ONE, (5, 6))
    z_ref, a_ref = ref.conv2d_bias_relu_forward(case["xpad"], case["kernel"], case["bias"], ONE, ONE,
                                                (5, 6))
    assert np.isnan(a).sum() == np.isnan(a_ref).sum() > 0
    np.testing.assert_array_equal(np.isnan(a), np.isnan(a_ref))
    np.testing.assert_array_equal(np.isnan(z), np.isnan(z_ref))
    assert_close(np.nan_to_num(a), np.nan_to_num(a_ref), np.float32)


def _run_twice(threads_first, threads_second, fn):
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(threads_first)
        first = fn()
        numba.set_num_threads(threads_second)
        second = fn()
    finally:
        numba.set_num_threads(before)
    return first, second


def test_the_rgb_loops_give_the_bits_of_the_general_loops(rng):
    """The RGB loops (3 channels, rows of at least a block: ``_direct_forward_rgb`` and its pooled
    twin) add the same products in the same order as the general "filters inner" loops: an RGB
    image gives the bits of the same image with a fourth channel of zeros, which runs the general
    loops (``v + 0*k`` is ``v``)."""
    for f in nb.DIRECT_FILTERS_INNER:
        assert 9 >= nb.RGB_PIXELS[f] and 8 >= nb.RGB_POOLED_PIXELS[f]  # the cases below take them
        for ow in (9, 26):  # full pixel blocks and a shorter one at the row's end
            case = _case(rng, 2, 6, ow, 3, f, np.float32)
            x4 = np.concatenate([case["xpad"], np.zeros_like(case["xpad"][..., :1])], axis=-1)
            k4 = np.concatenate([case["kernel"], np.ones_like(case["kernel"][:, :, :1])], axis=2)
            geometry = (ONE, ONE, case["out_hw"])
            rgb = nb.direct_conv2d_forward(case["xpad"], case["kernel"], *geometry)
            general = nb.direct_conv2d_forward(x4, k4, *geometry)
            np.testing.assert_array_equal(rgb.view(np.int32), general.view(np.int32))
            pooled = (case["bias"], ONE, ONE, case["out_hw"], (3, ow // 2), True)
            rgb = nb.direct_conv2d_bias_relu_maxpool2x2(case["xpad"], case["kernel"], *pooled)
            general = nb.direct_conv2d_bias_relu_maxpool2x2(x4, k4, *pooled)
            for got, want in zip(rgb, general, strict=True):
                np.testing.assert_array_equal(got, want)


def test_the_planar_kernel_gradient_reads_no_dropped_position(rng):
    """The planar loops run over rows ``Wp`` wide and drop the last ``Wp - OW`` positions. An input
    NaN that only those positions would read (the last column, for the taps with ``b < 2``) does
    not reach dL/dK, as in the reference; the taps that read it do get NaN."""
    assert nb._direct_kernel_gradient_kind(2, 5) == "planar"
    case = _case(rng, 2, 5, 6, 2, 5, np.float32)
    x, dy = case["xpad"], case["dy"]
    x[1, :, -1, 0] = np.nan
    got = nb.direct_conv2d_backward_kernel(x, dy, (3, 3), ONE, ONE)
    want = ref.conv2d_backward_kernel(x, dy, (3, 3), ONE, ONE)
    finite = np.isfinite(want)
    assert not finite[:, 2, 0].any() and finite[:, :2].all()
    np.testing.assert_array_equal(np.isfinite(got), finite)
    assert_close(np.where(finite, got, 0), np.where(finite, want, 0), np.float32)


def test_the_rgb_kernel_gradient_sums_in_bands(rng):
    """The RGB kernel gradient (16, 32 filters; 64 on AVX2) adds band sums of about DIRECT_RGB_BAND_PIXELS
    products: on 16 images of 64x64 it stays within 1e-6 of the exact (float64) sum, relative to
    its largest value (measured 3.5e-7-4.4e-7 on 256 images; one running sum per image, 3844
    products, measured 1.4e-6)."""
    for f in nb.RGB_GRAD_FILTERS:
        case = _case(rng, 16, 62, 62, 3, f, np.float32)
        x, dy = case["xpad"], case["dy"]
        exact = im2col_ref.conv2d_backward_kernel(x.astype(np.float64), dy.astype(np.float64),
                                                  (3, 3), ONE, ONE)
        got = nb.direct_conv2d_backward_kernel(x, dy, (3, 3), ONE, ONE)
        assert nb._direct_kernel_gradient_kind(3, f) == "rgb"
        assert np.abs(got - exact).max() <= 1e-6 * np.abs(exact).max()


@pytest.mark.parametrize("c, f", [(3, 16), (3, 32), (3, 64), (1, 64), (16, 64), (16, 32)])
def test_twins_do_not_depend_on_the_thread_count_and_repeat_bit_for_bit(c, f, rng):
    case = _case(rng, 13, 9, 11, c, f, np.float32)  # 13 images: chunks of unequal sizes
    most = numba.config.NUMBA_NUM_THREADS
    one, many = _run_twice(1, most, lambda: _passes(nb, "direct_", case))
    again, _ = _run_twice(most, most, lambda: _passes(nb, "direct_", case))
    for a, b, c_ in zip(one, many, again, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(b, c_)


def test_numba_disable_jit_runs_the_direct_twins_as_plain_python():
    """The stack arrays of the compiled loops are plain ``np.empty`` arrays without the JIT."""
    code = (
        "import numpy as np, numba\n"
        "from scratchnet.kernels import numba_kernels as nb, direct as ref\n"
        "assert numba.config.DISABLE_JIT\n"
        "rng = np.random.default_rng(0)\n"
        "for c, f, w in [(3, 4, 5), (1, 64, 5), (3, 16, 12)]:  # planar, filters inner, RGB\n"
        "    x = rng.standard_normal((1, 4, w, c))\n"
        "    k = rng.standard_normal((3, 3, c, f))\n"
        "    dy = rng.standard_normal((1, 2, w - 2, f))\n"
        "    np.testing.assert_allclose(nb.direct_conv2d_forward(x, k, (1, 1), (1, 1), (2, w - 2)),\n"
        "                               ref.conv2d_forward(x, k, (1, 1), (1, 1), (2, w - 2)), rtol=1e-12)\n"
        "    np.testing.assert_allclose(nb.direct_conv2d_backward_kernel(x, dy, (3, 3), (1, 1), (1, 1)),\n"
        "                               ref.conv2d_backward_kernel(x, dy, (3, 3), (1, 1), (1, 1)),\n"
        "                               rtol=1e-12)\n"
        "print('ok')\n"
    )
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


# ----------------------------------------------------------------------- choosing it


def test_set_conv_algorithm_forces_direct_where_it_applies():
    for backend in ("numpy", "numba"):
        sn.set_backend(backend)
        kernels.set_conv_algorithm("direct")
        assert kernels.conv2d_algorithm((3, 3, 16, 32), ONE, ONE) == "direct"
        assert kernels.conv2d_algorithm((3, 3, 64, 64), ONE, ONE) == "direct"
        assert kernels.conv2d_algorithm((3, 3, 16, 32), (2, 2), ONE) == "im2col"
        assert kernels.conv2d_algorithm((3, 3, 16, 32), ONE, (2, 2)) == "im2col"
        assert kernels.conv2d_algorithm((5, 5, 16, 32), ONE, ONE) == "im2col"
    sn.set_backend("numpy")
    kernels.set_conv_algorithm("auto")
    assert kernels.conv2d_algorithm((3, 3, 3, 16), ONE, ONE) == "im2col"  # the readable reference


def test_the_numba_backend_runs_direct_where_it_measured_faster():
    sn.set_backend("numba")
    for c, f in [(3, 16), (3, 64), (1, 8), (16, 64), (16, 32), (8, 16)]:  # see the rule
        assert kernels.conv2d_algorithm((3, 3, c, f), ONE, ONE) == "direct"
    assert kernels.conv2d_algorithm((3, 3, 16, 48), ONE, ONE) == "im2col"
    assert kernels.conv2d_algorithm((3, 3, 64, 64), ONE, ONE) == "winograd4"
    assert kernels.conv2d_algorithm((3, 3, 32, 64), ONE, ONE) == "winograd4"
    assert kernels.conv2d_algorithm((3, 3, 3, 16), (2, 2), ONE) == "im2col"
    kernels.set_conv_algorithm("im2col")
    assert kernels.conv2d_algorithm((3, 3, 3, 16), ONE, ONE) == "im2col"


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("filters, channels, padding, activation", [
    (4, 3, "valid", "relu"), (64, 2, "same", None), (3, 6, "same", "tanh")])
def test_forced_direct_layer_passes_finite_differences(backend, filters, channels, padding, activation,
                                                       rng):
    """float64: dL/dx, dL/dkernel and dL/dbias against central differences, on the planar loops,
    the filters-inner loops and the im2col fallback (6 channels, 3 filters)."""
    sn.set_backend(backend)
    kernels.set_conv_algorithm("direct")
    sn.config.set_floatx("float64")
    layer = sn.layers.Conv2D(filters, 3, padding=padding, activation=activation)
    check_layer(layer, rng.standard_normal((2, 5, 6, channels)), rng)
    assert layer.conv_algorithm == "direct"


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_training_with_direct_matches_im2col(backend, rng):
    """A small convnet (3 -> 16 -> 64 filters, pools, Dense), trained 4 Adam steps from the same
    weights: the weights agree to float32 rounding (1e-4 of each weight's largest value, as the
    trajectory parity tests), and the layers say which algorithm they ran."""
    sn.set_backend(backend)
    x, y = rng.random((8, 20, 20, 3), dtype=np.float32), rng.integers(0, 3, 8)
    weights = {}
    for algorithm in ("im2col", "direct"):
        kernels.set_conv_algorithm(algorithm)
        model = sn.models.rps_cnn((20, 20, 3), filters=(16, 64), dense_units=8, dropout=0.0)
        model.compile(optimizer="adam", loss=sn.losses.SparseCategoricalCrossentropy())
        for _ in range(4):
            model.train_step(x, y)
        convs = [layer for layer in model.layers if isinstance(layer, sn.layers.Conv2D)]
        assert [layer.conv_algorithm for layer in convs] == [algorithm, algorithm]
        weights[algorithm] = model.get_weights()
    start = sn.models.rps_cnn((20, 20, 3), filters=(16, 64), dense_units=8, dropout=0.0).get_weights()
    assert not np.allclose(weights["direct"][0], start[0])  # it did train
    for w, w_ref in zip(weights["direct"], weights["im2col"], strict=True):
        np.testing.assert_allclose(w, w_ref, rtol=1e-4, atol=1e-4 * np.abs(w_ref).max())
