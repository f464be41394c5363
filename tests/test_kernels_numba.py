"""The Numba kernels compute what the NumPy references compute.

Tolerances: in float32 the two backends add the same products in different orders (BLAS blocks
and chunking versus the reference's single product), and a sum of K float32 terms can move by
about ``K * 6e-8`` of the sum of their magnitudes. With K <= 150 in these sweeps that is below
``1e-5`` of the largest sum of magnitudes, so the convolution sweeps compare with ``rtol=1e-5`` and
``atol=1e-5 * max(sum of |terms|)`` (the reference run on the absolute values: :func:`_magnitude`),
the other kernels with ``atol=1e-5 * max|ref|``. (An output whose terms cancel is far smaller
than they are; where every output of a small random case does, 1e-5 of the largest output can be
less than one rounding of the terms: tests/test_direct_conv.py met such a case.)
In float64 the same argument gives ``1e-12``. Max-pooling does no arithmetic in the forward pass,
so it must match exactly (ties included); its backward adds at most a few integer-valued
gradients, which float32 adds exactly.
"""

from __future__ import annotations

import inspect
import os
import subprocess
import sys

import numba  # a hard dependency: a failed import fails these tests instead of skipping them
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchnet as sn
from scratchnet import kernels
from scratchnet.kernels import bias as bias_ref
from scratchnet.kernels import conv as conv_ref
from scratchnet.kernels import dense as dense_ref
from scratchnet.kernels import numba_kernels as nb
from scratchnet.kernels import optimizer_steps as optimizer_ref
from scratchnet.kernels import pooling as pool_ref

SWEEP = settings(max_examples=40, deadline=None)
TOL = {np.float32: 1e-5, np.float64: 1e-12}


def assert_close(actual, reference, dtype, magnitude=None):
    """``atol``: the tolerance times the largest value of ``magnitude`` (sums of the terms'
    magnitudes), or of the reference when not given."""
    tol = TOL[dtype]
    assert actual.dtype == reference.dtype and actual.shape == reference.shape
    bound = reference if magnitude is None else magnitude
    scale = float(np.abs(bound).max()) if bound.size else 0.0
    np.testing.assert_allclose(actual, reference, rtol=tol, atol=tol * scale)


def _magnitude(reference, *args):
    """``reference(*args)`` on the absolute values of the array arguments: each output's sum of
    the magnitudes of its terms (or a tuple of them)."""
    return reference(*[np.abs(a) if isinstance(a, np.ndarray) else a for a in args])


@st.composite
def conv_cases(draw):
    """A padded input, kernel and output gradient for a random convolution geometry."""
    n = draw(st.integers(1, 3))
    c, f = draw(st.integers(1, 5)), draw(st.integers(1, 6))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    # Keras forbids strides > 1 together with dilation > 1.
    dh, dw = (1, 1) if max(sh, sw) > 1 else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    oh, ow = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    # Rows the last window leaves unread (up to stride - 1) must be ignored.
    hp = (oh - 1) * sh + (kh - 1) * dh + 1 + draw(st.integers(0, sh - 1))
    wp = (ow - 1) * sw + (kw - 1) * dw + 1 + draw(st.integers(0, sw - 1))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return {
        "xpad": rng.standard_normal((n, hp, wp, c)).astype(dtype),
        "kernel": rng.standard_normal((kh, kw, c, f)).astype(dtype),
        "bias": rng.standard_normal(f).astype(dtype),
        "dy": rng.standard_normal((n, oh, ow, f)).astype(dtype),
        "strides": (sh, sw), "dilation": (dh, dw), "out_hw": (oh, ow), "dtype": dtype,
    }


@SWEEP
@given(conv_cases())
def test_conv2d_forward_matches_reference(case):
    args = (case["xpad"], case["kernel"], case["strides"], case["dilation"], case["out_hw"])
    assert_close(nb.conv2d_forward(*args), conv_ref.conv2d_forward(*args), case["dtype"],
                 _magnitude(conv_ref.conv2d_forward, *args))


@SWEEP
@given(conv_cases())
def test_conv2d_bias_relu_forward_matches_reference(case):
    args = (case["xpad"], case["kernel"], case["bias"], case["strides"], case["dilation"],
            case["out_hw"])
    z, a = nb.conv2d_bias_relu_forward(*args)
    z_ref, a_ref = bias_ref.conv2d_bias_relu_forward(*args)
    magnitude = _magnitude(bias_ref.conv2d_bias_relu_forward, *args)[0]
    assert_close(z, z_ref, case["dtype"], magnitude)
    assert_close(a, a_ref, case["dtype"], magnitude)
    np.testing.assert_array_equal(a, np.maximum(z, 0))
    # The a-only kernel (ReLU written over z, Conv2D's forward): the same bits as a, in both
    # backends, and so within the float32 tolerance of the reference.
    np.testing.assert_array_equal(nb.conv2d_bias_relu(*args), a)
    np.testing.assert_array_equal(bias_ref.conv2d_bias_relu(*args), a_ref)


@SWEEP
@given(conv_cases())
def test_conv2d_backward_kernel_matches_reference(case):
    kernel_hw = case["kernel"].shape[:2]
    args = (case["xpad"], case["dy"], kernel_hw, case["strides"], case["dilation"])
    assert_close(nb.conv2d_backward_kernel(*args), conv_ref.conv2d_backward_kernel(*args),
                 case["dtype"], _magnitude(conv_ref.conv2d_backward_kernel, *args))


@SWEEP
@given(conv_cases())
def test_conv2d_backward_input_matches_reference(case):
    args = (case["dy"], case["kernel"], case["strides"], case["dilation"], case["xpad"].shape[1:3])
    assert_close(nb.conv2d_backward_input(*args), conv_ref.conv2d_backward_input(*args),
                 case["dtype"], _magnitude(conv_ref.conv2d_backward_input, *args))


@SWEEP
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3),
       st.integers(1, 4), st.integers(1, 4), st.integers(1, 3), st.integers(0, 2**32 - 1))
def test_maxpool2d_matches_reference_exactly_with_ties(ph, pw, sh, sw, oh, ow, c, seed):
    """Integer values from a range of 3 make ties in almost every window: the first maximum in
    row-major order must win in both backends, and gradients (integers too) must add exactly."""
    rng = np.random.default_rng(seed)
    hp, wp = (oh - 1) * sh + ph, (ow - 1) * sw + pw
    xpad = rng.integers(-1, 2, (2, hp, wp, c)).astype(np.float32)
    xpad[0, 0, 0, 0] = -np.inf  # a padded cell, as "same" padding makes them
    xpad[1, 0, 0, 0] = np.nan  # NaN never wins, next to a -inf or not
    xpad[1, min(1, hp - 1), 0, 0] = -np.inf
    y, argmax = nb.maxpool2d_forward(xpad, (ph, pw), (sh, sw), (oh, ow))
    y_ref, argmax_ref = pool_ref.maxpool2d_forward(xpad, (ph, pw), (sh, sw), (oh, ow))
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(argmax, argmax_ref)
    assert y.dtype == y_ref.dtype and argmax.dtype == argmax_ref.dtype
    dy = rng.integers(-3, 4, y.shape).astype(np.float32)
    np.testing.assert_array_equal(
        nb.maxpool2d_backward(dy, argmax, (ph, pw), (sh, sw), (hp, wp)),
        pool_ref.maxpool2d_backward(dy, argmax_ref, (ph, pw), (sh, sw), (hp, wp)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("c", [1, 3, 4, 16])
def test_the_compiled_constant_paths_match_the_reference(c, dtype, rng):
    """The twins compile the usual 3x3, stride-1 kernel (and 1 or 3 channels) with the sizes as
    constants: a code path of its own, which the random sweeps above rarely draw."""
    xpad = rng.standard_normal((3, 7, 9, c)).astype(dtype)
    kernel = rng.standard_normal((3, 3, c, 5)).astype(dtype)
    bias = rng.standard_normal(5).astype(dtype)
    dy = rng.standard_normal((3, 5, 7, 5)).astype(dtype)
    one, out_hw = (1, 1), (5, 7)
    assert_close(nb.conv2d_forward(xpad, kernel, one, one, out_hw),
                 conv_ref.conv2d_forward(xpad, kernel, one, one, out_hw), dtype)
    z, a = nb.conv2d_bias_relu_forward(xpad, kernel, bias, one, one, out_hw)
    z_ref, a_ref = bias_ref.conv2d_bias_relu_forward(xpad, kernel, bias, one, one, out_hw)
    assert_close(z, z_ref, dtype)
    assert_close(a, a_ref, dtype)
    assert_close(nb.conv2d_backward_kernel(xpad, dy, (3, 3), one, one),
                 conv_ref.conv2d_backward_kernel(xpad, dy, (3, 3), one, one), dtype)
    assert_close(nb.conv2d_backward_input(dy, kernel, one, one, (7, 9)),
                 conv_ref.conv2d_backward_input(dy, kernel, one, one, (7, 9)), dtype)


@pytest.mark.parametrize("hp, wp", [(6, 8), (7, 9)])  # (7, 9): a last row and column no window reads
def test_the_2x2_pooling_path_matches_the_reference_with_ties_nan_and_inf(hp, wp, rng):
    """2x2 windows with stride 2 (Keras' default) run a code path of their own."""
    xpad = rng.integers(-1, 2, (3, hp, wp, 5)).astype(np.float32)  # ties in most windows
    xpad[0, 0, 0, :] = np.nan  # NaN never wins (as in the reference: NaN > y is false)
    xpad[0, 0:2, 2:4, 1] = np.nan  # a window of NaN only gives the lowest value at offset 0
    xpad[1, 0:2, 0:2, 2] = -np.inf  # a window of padding only
    out_hw = (hp // 2, wp // 2)
    y, argmax = nb.maxpool2d_forward(xpad, (2, 2), (2, 2), out_hw)
    y_ref, argmax_ref = pool_ref.maxpool2d_forward(xpad, (2, 2), (2, 2), out_hw)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(argmax, argmax_ref)
    assert y[0, 0, 1, 1] == np.finfo(np.float32).min and argmax[0, 0, 1, 1] == 0
    assert y[1, 0, 0, 2] == np.finfo(np.float32).min and argmax[1, 0, 0, 2] == 0


@SWEEP
@given(st.lists(st.integers(1, 40), min_size=1, max_size=4), st.integers(0, 2**32 - 1))
def test_bias_grad_matches_reference(shape, seed):
    """The twin adds in float64 and rounds once: within one float32 step of the exact sum. The
    reference adds in float32, whose rounding is bounded by the sizes of the terms, not of the sum
    (a sum that nearly cancels, 0.003 from 39 terms near 1, was 5.7e-5 of itself off): compared at
    1e-5 of the sum of |dz| in each column."""
    dz = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    axes = tuple(range(dz.ndim - 1))
    exact = dz.astype(np.float64).sum(axis=axes)
    got = nb.bias_grad(dz)
    assert got.dtype == np.float32 and got.shape == exact.shape
    np.testing.assert_allclose(got, exact, rtol=2.0**-23, atol=1e-12)
    sizes = np.abs(dz).astype(np.float64).sum(axis=axes)
    assert np.all(np.abs(bias_ref.bias_grad(dz) - exact) <= 1e-5 * sizes)


@SWEEP
@given(st.lists(st.integers(1, 6), min_size=1, max_size=3), st.integers(1, 7), st.integers(1, 7),
       st.booleans(), st.sampled_from([np.float32, np.float64]), st.integers(0, 2**32 - 1))
def test_matmul_matches_reference(lead, k, m, transposed, dtype, seed):
    """Dense's products, including the transposed views its backward pass multiplies."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((*lead, k)).astype(dtype)
    b = rng.standard_normal((m, k)).astype(dtype).T if transposed else \
        rng.standard_normal((k, m)).astype(dtype)
    assert_close(nb.matmul(a, b), dense_ref.matmul(a, b), dtype)
    a2 = a.reshape(-1, k)
    assert_close(nb.matmul(a2.T, a2), dense_ref.matmul(a2.T, a2), dtype)


def test_numba_matmul_hands_big_products_to_the_reference_pieces(monkeypatch):
    """A product the reference cuts into row pieces runs there (every core); the rest is one call
    of Numba's single-threaded BLAS. Either way, the product."""
    monkeypatch.setattr(conv_ref, "THREADS", 2)
    monkeypatch.setattr(dense_ref, "MIN_PIECE_MACS", 1000)
    calls = []
    monkeypatch.setattr(dense_ref, "matmul", lambda a, b: calls.append(a.shape) or a @ b)
    rng = np.random.default_rng(3)
    big, small, b = (rng.standard_normal(s).astype(np.float32) for s in ((40, 30), (1, 30), (30, 20)))
    assert_close(nb.matmul(big, b), big @ b, np.float32)  # 20 rows a piece x 30 x 20 = 12000 >= 1000
    assert calls == [(40, 30)]
    assert_close(nb.matmul(small, b), small @ b, np.float32)  # one row: one piece, Numba's call
    assert calls == [(40, 30)]


def test_the_winograd_filter_transforms_run_with_numpy_blas_on_one_thread(monkeypatch):
    """The filter transform and its gradient are NumPy products between Numba's parallel loops:
    with BLAS' threads awake there, they would spin on the cores the next loops need (a talk_cnn
    step 201 -> 256 ms). Each runs with every BLAS library at one thread, and the counts come
    back after it."""
    from scratchnet.kernels import winograd as winograd_ref

    libraries = conv_ref._blas_libraries()
    own = [lib.num_threads for lib in libraries]
    for lib in libraries:  # two threads each, so that "one inside" means something on any machine
        lib.set_num_threads(2)
    monkeypatch.setattr(conv_ref, "_blas_users", 0)
    seen = []

    def recorded(name, fn):
        def call(*args):
            seen.append((name, [lib.num_threads for lib in conv_ref._blas_libraries()]))
            return fn(*args)
        return call

    for name in ("filter_transform", "filter_gradient"):
        monkeypatch.setattr(winograd_ref, name, recorded(name, getattr(winograd_ref, name)))
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 10, 10, 8)).astype(np.float32)
    k = rng.standard_normal((3, 3, 8, 16)).astype(np.float32)
    dy = rng.standard_normal((2, 8, 8, 16)).astype(np.float32)
    try:
        nb.winograd4_conv2d_forward(x, k, (1, 1), (1, 1), (8, 8))
        nb.winograd4_conv2d_backward_kernel(x, dy, (3, 3), (1, 1), (1, 1))
        nb.winograd4_conv2d_backward_input(dy, k, (1, 1), (1, 1), (10, 10))
        after = [lib.num_threads for lib in libraries]
    finally:
        for lib, threads in zip(libraries, own, strict=True):
            lib.set_num_threads(threads)
    assert [name for name, _ in seen] == ["filter_transform", "filter_gradient", "filter_transform"]
    assert all(threads == [1] * len(libraries) for _, threads in seen)
    assert after == [2] * len(libraries)


def test_numba_twins_have_the_reference_signatures():
    reference = kernels._numpy_table()
    assert set(reference) == set(kernels.KERNEL_NAMES)
    for name in kernels.KERNEL_NAMES:
        twin_params = inspect.signature(getattr(nb, name)).parameters
        reference_params = inspect.signature(reference[name]).parameters
        assert list(twin_params) == list(reference_params), name


def test_backend_switch_points_the_kernels_at_the_twins():
    sn.set_backend("numba")
    assert sn.get_backend() == "numba"
    assert kernels._impl["conv2d_forward"] is nb.conv2d_forward
    sn.set_backend("numpy")
    assert kernels._impl["conv2d_forward"] is conv_ref.conv2d_forward
    with pytest.raises(ValueError, match="expected one of"):
        sn.set_backend("cuda")


def test_outputs_are_fresh_arrays_not_the_reused_scratch_buffers(rng):
    """Chunk buffers are reused between calls; what a kernel returns must never be one of them."""
    xpad = rng.standard_normal((2, 6, 6, 3)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, 3, 4)).astype(np.float32)
    first = nb.conv2d_forward(xpad, kernel, (1, 1), (1, 1), (4, 4))
    kept = first.copy()
    nb.conv2d_forward(xpad * 2, kernel, (1, 1), (1, 1), (4, 4))
    np.testing.assert_array_equal(first, kept)


def _conv_pool_model(padding, strides, seed=3):
    return sn.Sequential([
        sn.layers.Input((18, 17, 2)),
        sn.layers.Conv2D(4, 3, padding=padding, activation="relu"),
        sn.layers.MaxPooling2D(2, strides=strides, padding=padding),
        sn.layers.Conv2D(3, (2, 3), strides=strides, padding=padding),
        sn.layers.Conv2D(3, 2, dilation_rate=2, padding=padding, activation="relu"),
        sn.layers.Flatten(),
        sn.layers.Dense(3),
    ], seed=seed)


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("strides", [1, 2])
def test_layers_give_the_same_loss_and_gradients_on_both_backends(padding, strides, rng):
    x = rng.standard_normal((5, 18, 17, 2)).astype(np.float32)
    y = rng.integers(0, 3, 5)
    results = {}
    for backend in ("numpy", "numba"):
        sn.set_backend(backend)
        model = _conv_pool_model(padding, strides)
        model.compile(optimizer="adam",
                      loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
        results[backend] = model.loss_and_grads(x, y)
    (loss_np, grads_np), (loss_nb, grads_nb) = results["numpy"], results["numba"]
    np.testing.assert_allclose(loss_nb, loss_np, rtol=1e-6)
    for g_nb, g_np in zip(grads_nb, grads_np, strict=True):
        assert_close(g_nb, g_np, np.float32)


def test_training_a_few_steps_gives_the_same_weights_on_both_backends(rng):
    """Ten Adam steps of a small convnet: per-step differences are float32 rounding (1e-7 of a
    gradient), and Adam's step is ``lr * m / (sqrt(v) + eps)``, so weights agree to ~1e-6."""
    x = rng.random((16, 12, 12, 3)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    weights = {}
    # im2col in both: the twins against their reference. The Numba backend's own choice for the
    # RGB layer ("direct", other sums in other orders) is checked against im2col over a training
    # run in tests/test_direct_conv.py (10 Adam steps here moved one weight by 2.2e-5).
    before = kernels.get_conv_algorithm()
    kernels.set_conv_algorithm("im2col")
    try:
        for backend in ("numpy", "numba"):
            sn.set_backend(backend)
            model = sn.models.small_cnn(input_shape=(12, 12, 3), seed=0)
            model.compile(optimizer=sn.optimizers.Adam(learning_rate=1e-2),
                          loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
            model.fit(x, y, batch_size=8, epochs=5, shuffle=True, verbose=0)
            weights[backend] = model.get_weights()
    finally:
        kernels.set_conv_algorithm(before)
    for w_nb, w_np in zip(weights["numba"], weights["numpy"], strict=True):
        np.testing.assert_allclose(w_nb, w_np, rtol=1e-5, atol=1e-5)
    assert not np.allclose(weights["numba"][0], sn.models.small_cnn((12, 12, 3), seed=0)
                           .get_weights()[0])  # it did train


def test_numba_disable_jit_runs_the_twins_as_plain_python():
    """The documented way to step into a Numba kernel with a debugger."""
    code = (
        "import numpy as np, numba\n"
        "from scratchnet.kernels import numba_kernels as nb, conv as ref, pooling as pref\n"
        "assert numba.config.DISABLE_JIT\n"
        "assert not hasattr(nb._im2col, 'py_func')  # a plain Python function\n"
        "assert nb.vector_bits() == 0  # nothing compiled\n"
        "rng = np.random.default_rng(0)\n"
        "x = rng.standard_normal((1, 5, 5, 2)).astype(np.float32)\n"
        "k = rng.standard_normal((2, 2, 2, 3)).astype(np.float32)\n"
        "np.testing.assert_allclose(nb.conv2d_forward(x, k, (1, 1), (1, 1), (4, 4)),\n"
        "                           ref.conv2d_forward(x, k, (1, 1), (1, 1), (4, 4)), rtol=1e-5)\n"
        "y, arg = nb.maxpool2d_forward(x, (2, 2), (2, 2), (2, 2))\n"
        "np.testing.assert_array_equal(y, pref.maxpool2d_forward(x, (2, 2), (2, 2), (2, 2))[0])\n"
        "print('ok')\n"
    )
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


@SWEEP
@given(st.lists(st.integers(1, 40), min_size=1, max_size=4), st.integers(0, 2**32 - 1))
def test_relu_backward_bias_grad_matches_reference(shape, seed):
    """``dz`` is a product by 1 or 0, so it must match exactly; ``db`` is a sum (float32, 1e-5)."""
    rng = np.random.default_rng(seed)
    da = rng.standard_normal(shape).astype(np.float32)
    z = rng.standard_normal(shape).astype(np.float32)
    z.reshape(-1)[::7] = 0.0  # exactly 0: no gradient, as Keras
    dz, db = nb.relu_backward_bias_grad(da, z)
    dz_ref, db_ref = bias_ref.relu_backward_bias_grad(da, z)
    np.testing.assert_array_equal(dz, dz_ref)
    assert dz.dtype == dz_ref.dtype and db.dtype == db_ref.dtype
    assert_close(db, db_ref, np.float32)


def test_bias_grad_does_not_depend_on_the_thread_count():
    dz = np.random.default_rng(0).standard_normal((32, 30, 30, 16)).astype(np.float32)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = nb.bias_grad(dz)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = nb.bias_grad(dz)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(one, many)


@pytest.mark.parametrize("pool", [(2, 2), (3, 2)])
def test_maxpool2d_backward_zeroes_the_cells_no_window_covers(pool):
    """Side-by-side windows (stride = pool) on an input they do not tile: the last rows and columns
    belong to no window and must get 0 (the fast path does not start from a zeroed array)."""
    rng = np.random.default_rng(0)
    xpad = rng.standard_normal((2, 7, 9, 3)).astype(np.float32)
    out_hw = (7 // pool[0], 9 // pool[1])
    for _ in range(3):  # fresh arrays may reuse the memory of earlier ones (garbage in np.empty)
        y, argmax = nb.maxpool2d_forward(xpad, pool, pool, out_hw)
        dy = rng.standard_normal(y.shape).astype(np.float32)
        np.testing.assert_array_equal(nb.maxpool2d_backward(dy, argmax, pool, pool, (7, 9)),
                                      pool_ref.maxpool2d_backward(dy, argmax, pool, pool, (7, 9)))


# ------------------------------------------------------------------ Winograd F(2x2, 3x3) twins


@st.composite
def winograd_cases(draw):
    """3x3, stride 1: up to 12 images and 12x12 outputs, so the chunks of tile rows number several
    (and both parity passes of the input gradient run), odd sizes included."""
    n, oh, ow = draw(st.integers(1, 12)), draw(st.integers(1, 12)), draw(st.integers(1, 12))
    c, f = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return {"xpad": rng.standard_normal((n, oh + 2, ow + 2, c)).astype(dtype),
            "kernel": rng.standard_normal((3, 3, c, f)).astype(dtype),
            "bias": rng.standard_normal(f).astype(dtype),
            "dy": rng.standard_normal((n, oh, ow, f)).astype(dtype), "out_hw": (oh, ow), "dtype": dtype}


@SWEEP
@given(winograd_cases())
def test_winograd_twins_match_the_reference(case):
    from scratchnet.kernels import winograd as wg_ref

    one, xpad, kernel, dy = (1, 1), case["xpad"], case["kernel"], case["dy"]
    pairs = [
        (nb.winograd_conv2d_forward(xpad, kernel, one, one, case["out_hw"]),
         wg_ref.winograd_conv2d_forward(xpad, kernel, one, one, case["out_hw"])),
        (nb.winograd_conv2d_backward_kernel(xpad, dy, (3, 3), one, one),
         wg_ref.winograd_conv2d_backward_kernel(xpad, dy, (3, 3), one, one)),
        (nb.winograd_conv2d_backward_input(dy, kernel, one, one, xpad.shape[1:3]),
         wg_ref.winograd_conv2d_backward_input(dy, kernel, one, one, xpad.shape[1:3])),
    ]
    z, a = nb.winograd_conv2d_bias_relu_forward(xpad, kernel, case["bias"], one, one, case["out_hw"])
    z_ref, a_ref = wg_ref.winograd_conv2d_bias_relu_forward(xpad, kernel, case["bias"], one, one,
                                                            case["out_hw"])
    pairs += [(z, z_ref), (a, a_ref)]
    # the a-only kernels (Conv2D's forward): the same bits as a, in both backends
    args = (xpad, kernel, case["bias"], one, one, case["out_hw"])
    np.testing.assert_array_equal(nb.winograd_conv2d_bias_relu(*args), a)
    np.testing.assert_array_equal(wg_ref.winograd_conv2d_bias_relu(*args), a_ref)
    for got, want in pairs:
        assert_close(got, want, case["dtype"])


@SWEEP
@given(winograd_cases())
def test_winograd4_twins_match_the_reference(case):
    """F(4x4, 3x3): the twin and the reference round differently (the reference's 6x6 transforms
    are matrix products), so they agree to the F(4x4, 3x3) tolerances of tests/test_winograd.py
    (float32: 6e-6 of the largest value forward and for dL/dx, 1.5e-5 for dL/dK; measured up to
    1.4e-6 forward, 6e-7 dL/dx, 3.9e-6 dL/dK)."""
    from scratchnet.kernels import winograd as wg_ref

    one, xpad, kernel, dy = (1, 1), case["xpad"], case["kernel"], case["dy"]
    float32 = case["dtype"] == np.float32
    pairs = [
        (nb.winograd4_conv2d_forward(xpad, kernel, one, one, case["out_hw"]),
         wg_ref.winograd4_conv2d_forward(xpad, kernel, one, one, case["out_hw"]), 6e-6),
        (nb.winograd4_conv2d_backward_input(dy, kernel, one, one, xpad.shape[1:3]),
         wg_ref.winograd4_conv2d_backward_input(dy, kernel, one, one, xpad.shape[1:3]), 6e-6),
        (nb.winograd4_conv2d_backward_kernel(xpad, dy, (3, 3), one, one),
         wg_ref.winograd4_conv2d_backward_kernel(xpad, dy, (3, 3), one, one), 1.5e-5),
    ]
    for got, want, tol32 in pairs:
        tol = tol32 if float32 else 1e-12
        assert got.dtype == want.dtype == case["dtype"] and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(want).max())
    y = pairs[0][0]
    args = (xpad, kernel, case["bias"], one, one, case["out_hw"])
    z, a = nb.winograd4_conv2d_bias_relu_forward(*args)
    np.testing.assert_array_equal(z, y + case["bias"])  # the same sums, then the bias
    np.testing.assert_array_equal(a, np.maximum(z, 0))
    np.testing.assert_array_equal(nb.winograd4_conv2d_bias_relu(*args), a)


@pytest.mark.parametrize("prefix", ["winograd_", "winograd4_"])
def test_winograd_kernel_grad_does_not_depend_on_the_thread_count(prefix):
    grad = getattr(nb, prefix + "conv2d_backward_kernel")
    rng = np.random.default_rng(0)
    xpad = rng.standard_normal((16, 12, 12, 8)).astype(np.float32)
    dy = rng.standard_normal((16, 10, 10, 8)).astype(np.float32)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = grad(xpad, dy, (3, 3), (1, 1), (1, 1))
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = grad(xpad, dy, (3, 3), (1, 1), (1, 1))
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(one, many)


def test_the_numba_backend_uses_winograd_in_wide_layers_and_matches_numpy(rng):
    """A talk_cnn-like model (two 64-filter 3x3 convs, the second with a 12x12 output): the Numba backend runs
    the direct loops in the RGB conv and Winograd in the second, the NumPy backend im2col; loss
    and gradients agree at the same tolerances as the other layers here."""
    x, y = rng.random((4, 30, 30, 3), dtype=np.float32), rng.integers(0, 3, 4)
    results = {}
    for backend in ("numpy", "numba"):
        sn.set_backend(backend)
        model = sn.models.rps_cnn((30, 30, 3), filters=(64, 64), dense_units=8, dropout=0.0)
        model.compile(optimizer="adam", loss=sn.losses.SparseCategoricalCrossentropy())
        results[backend] = model.loss_and_grads(x, y)
        assert [layer.conv_algorithm for layer in model.layers if hasattr(layer, "conv_algorithm")] \
            == (["direct", "winograd4"] if backend == "numba" else ["im2col", "im2col"])
    (loss_np, grads_np), (loss_nb, grads_nb) = results["numpy"], results["numba"]
    np.testing.assert_allclose(loss_nb, loss_np, rtol=1e-6)
    for g_nb, g_np in zip(grads_nb, grads_np, strict=True):
        assert_close(g_nb, g_np, np.float32)


def test_relu_backward_bias_grad_on_large_arrays_is_blocked_and_thread_count_free():
    """Above ``RELU_GRAD_PARALLEL_VALUES`` the rows are cut into blocks for the threads; the result
    is the reference's, and the same bits whatever the thread count."""
    rng = np.random.default_rng(0)
    shape = (9, 61, 41, 48)  # 1.08 M values: the blocked path
    assert np.prod(shape) >= nb.RELU_GRAD_PARALLEL_VALUES
    da = rng.standard_normal(shape).astype(np.float32)
    z = rng.standard_normal(shape).astype(np.float32)
    dz_ref, db_ref = bias_ref.relu_backward_bias_grad(da, z)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        dz_one, db_one = nb.relu_backward_bias_grad(da, z)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        dz_many, db_many = nb.relu_backward_bias_grad(da, z)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(dz_one, dz_ref)
    np.testing.assert_array_equal(dz_many, dz_ref)
    np.testing.assert_array_equal(db_one, db_many)
    assert_close(db_many, db_ref, np.float32)


def test_conv2d_bias_relu_dispatch_keeps_only_the_activation():
    # kernels.conv2d_bias_relu picks the a-only kernel of the algorithm; both equal the a of the
    # z-and-a kernel bit for bit (the same pass, the ReLU written over z).
    rng = np.random.default_rng(3)
    xpad = rng.standard_normal((3, 9, 8, 4)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, 4, 5)).astype(np.float32)
    bias = rng.standard_normal(5).astype(np.float32)
    sn.set_backend("numba")
    try:
        for algorithm in kernels.CONV_ALGORITHMS:
            a = kernels.conv2d_bias_relu(xpad, kernel, bias, (1, 1), (1, 1), (7, 6), algorithm)
            _, want = kernels.conv2d_bias_relu_forward(xpad, kernel, bias, (1, 1), (1, 1), (7, 6),
                                                       algorithm)
            np.testing.assert_array_equal(a, want)
    finally:
        sn.set_backend(os.environ.get("SCRATCHNET_BACKEND") or "numba")


VECTOR_WIDTH_PROBE = (
    "import os, json\n"
    "from numba.core import codegen\n"
    "host = codegen.get_host_cpu_features()\n"
    "from scratchnet.kernels import numba_kernels as nb\n"
    "print(json.dumps({'avx512': '+avx512f' in host.split(','), 'bits': nb.vector_bits(),\n"
    "                  'features': os.environ.get('NUMBA_CPU_FEATURES')}))\n"
)


def _probe(code: str, unset, **env_vars) -> dict:
    """Run ``code`` in a fresh Python without the variables ``unset(name)`` picks, plus
    ``env_vars``; the JSON it prints last."""
    import json

    env = {k: v for k, v in os.environ.items() if not unset(k)}
    env.update(env_vars)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def _vector_width_probe(**env_vars):
    return _probe(VECTOR_WIDTH_PROBE, lambda name: name.startswith("NUMBA_CPU_"), **env_vars)


def test_avx512_hosts_get_512_bit_vectors():
    """Where the CPU has AVX-512, the kernels are compiled without LLVM's 256-bit preference (the
    Intel models' tuning) and use the 512-bit registers; the setting does not stay in the
    environment, where processes started from this one (on another host, perhaps) would inherit it."""
    probe = _vector_width_probe()
    assert probe["features"] is None
    if probe["avx512"]:
        assert probe["bits"] == 512
    else:
        assert probe["bits"] in (128, 256)


CODE_GENERATOR_PROBE = (
    "import json, re, numba\n"
    "import numpy as np\n"
    "from scratchnet.kernels import numba_kernels as nb\n"
    "@numba.njit(fastmath={'contract'})\n"
    "def taps(x, g, out):\n"
    "    acc = nb._stack_empty(16, x.dtype)\n"
    "    for ch in range(16):\n"
    "        acc[ch] = 0\n"
    "    for t in range(x.shape[0]):\n"
    "        for ch in range(16):  # a constant 16: unrolled, then packed by the SLP vectorizer only\n"
    "            acc[ch] += g * x[t, ch]\n"
    "    for ch in range(16):\n"
    "        out[ch] = acc[ch]\n"
    "taps(np.ones((4, 16), np.float32), np.float32(2), np.zeros(16, np.float32))\n"
    "asm = ''.join(taps.inspect_asm().values())\n"
    "packed = bool(re.search(r'v(fmadd\\w*|mul|add)ps', asm))\n"
    "print(json.dumps({'slp': numba.config.SLP_VECTORIZE, 'packed': packed,\n"
    "                  'priority': numba.config.THREADING_LAYER_PRIORITY}))\n"
)


def _code_generator_probe(**env_vars):
    return _probe(CODE_GENERATOR_PROBE, lambda name: name in (
        "NUMBA_SLP_VECTORIZE", "NUMBA_THREADING_LAYER", "NUMBA_THREADING_LAYER_PRIORITY"), **env_vars)


def test_the_slp_vectorizer_packs_a_loop_over_16_channels_unless_the_user_turns_it_off():
    """Importing the kernels turns on LLVM's SLP vectorizer (Numba leaves it off), which makes the
    16 multiply-adds of an unrolled channel loop vector instructions (the winners' loops of the
    inner Conv2D -> MaxPooling2D pairs need it); NUMBA_SLP_VECTORIZE=0 set by the user wins and
    leaves them scalar. And OpenMP stays first among the threading layers after the code
    generator's setup (config.reload_config() had put TBB first again)."""
    default = _code_generator_probe()
    assert default["slp"] == 1 and default["packed"]
    assert default["priority"][0] == "omp"
    off = _code_generator_probe(NUMBA_SLP_VECTORIZE="0")
    assert off["slp"] == 0 and not off["packed"]


def test_a_user_choice_of_cpu_wins():
    """NUMBA_CPU_NAME set by the user (here Numba's portable "generic" x86-64: SSE2, no AVX) is left
    as it is: no features added, no vector register wider than 128 bits."""
    probe = _vector_width_probe(NUMBA_CPU_NAME="generic")
    assert probe["features"] is None
    assert probe["bits"] == 128


@SWEEP
@given(st.lists(st.integers(1, 60), min_size=1, max_size=3), st.sampled_from([np.float32, np.float64]),
       st.booleans(), st.integers(0, 2**32 - 1))
def test_adam_update_matches_reference_bit_for_bit(shape, dtype, amsgrad, seed):
    """The same operations in the same order and type: the same bits, NaN and inf included, in
    the vectorized loop's body and in its remainder (1 to 216,000 elements)."""
    rng = np.random.default_rng(seed)
    shape = tuple(shape)
    w, grad, m = (rng.standard_normal(shape).astype(dtype) for _ in range(3))
    v = np.abs(rng.standard_normal(shape)).astype(dtype)
    v.reshape(-1)[::11] = 0.0  # sqrt(0) + epsilon
    grad.reshape(-1)[::13] = np.nan
    grad.reshape(-1)[5::17] = np.inf
    v_hat = np.abs(rng.standard_normal(shape)).astype(dtype) if amsgrad else None
    f = np.dtype(dtype).type
    scalars = (f(1e-3 * 0.3), f(0.1), f(1 - 0.999), f(1e-7))
    ours = [a.copy() for a in (w, m, v)] + [None if v_hat is None else v_hat.copy()]
    ref = [a.copy() for a in (w, m, v)] + [None if v_hat is None else v_hat.copy()]
    with np.errstate(invalid="ignore"):  # inf - inf (AMSGrad runs the reference), as intended
        nb.adam_update(ours[0], grad, ours[1], ours[2], ours[3], *scalars)
        optimizer_ref.adam_update(ref[0], grad, ref[1], ref[2], ref[3], *scalars)
    for a, b in zip(ours, ref, strict=True):
        if a is not None:
            np.testing.assert_array_equal(a, b)
    assert not np.array_equal(ours[0], w, equal_nan=True)  # it did update


def test_adam_update_sends_odd_inputs_to_the_reference():
    """A non-contiguous weight (a transposed view) or a float64 gradient for a float32 weight run
    the NumPy reference, and so still give its bits."""
    rng = np.random.default_rng(0)
    base = rng.standard_normal((40, 30)).astype(np.float32)
    for w, grad in ((base.T, rng.standard_normal((30, 40)).astype(np.float32)),
                    (base.copy(), rng.standard_normal((40, 30)))):
        m, v = np.zeros_like(w), np.ones_like(w)
        ours = [w.copy(), m.copy(), v.copy()]
        ref = [w.copy(), m.copy(), v.copy()]
        scalars = (np.float32(1e-3), np.float32(0.1), np.float32(1e-3), np.float32(1e-7))
        nb.adam_update(ours[0], grad, ours[1], ours[2], None, *scalars)
        optimizer_ref.adam_update(ref[0], grad, ref[1], ref[2], None, *scalars)
        for a, b in zip(ours, ref, strict=True):
            np.testing.assert_array_equal(a, b)
