"""The NumPy reference kernels' fast forms against plain formulas.

The convolutions work through the batch in pieces of images (``conv.CHUNK_BYTES``); these tests
make the pieces small (one image, two images, a last piece shorter than the others) and compare
with the same call in one piece and with the formula written out in float64. The bias gradient
sums in two steps; ReLU's gradient goes piece by piece: its ``dz`` must be exactly
``da * (z > 0)``, NaN and the sign of zeros included.
"""

from __future__ import annotations

import numpy as np
import pytest

from scratchnet.kernels import bias as bias_ref
from scratchnet.kernels import conv as conv_ref
from scratchnet.kernels import pooling as pool_ref


def conv_formula(xpad, kernel, strides, dilation, out_hw):
    """``y[n, i, j, o] = sum_{a, b, c} xpad[n, i*sh + a*dh, j*sw + b*dw, c] * K[a, b, c, o]`` in float64."""
    kh, kw, _, _ = kernel.shape
    (sh, sw), (dh, dw), (oh, ow) = strides, dilation, out_hw
    x, k = xpad.astype(np.float64), kernel.astype(np.float64)
    y = 0
    for a in range(kh):
        for b in range(kw):
            cells = x[:, a * dh:a * dh + (oh - 1) * sh + 1:sh, b * dw:b * dw + (ow - 1) * sw + 1:sw, :]
            y = y + cells @ k[a, b]  # (N, OH, OW, C) @ (C, F)
    return y


def _conv_case(seed, n, h, w, c, f, kernel_hw=(3, 3), strides=(1, 1), dilation=(1, 1)):
    rng = np.random.default_rng(seed)
    kh, kw = kernel_hw
    (sh, sw), (dh, dw) = strides, dilation
    oh = (h - (kh - 1) * dh - 1) // sh + 1
    ow = (w - (kw - 1) * dw - 1) // sw + 1
    x = rng.standard_normal((n, h, w, c)).astype(np.float32)
    k = rng.standard_normal((kh, kw, c, f)).astype(np.float32)
    dy = rng.standard_normal((n, oh, ow, f)).astype(np.float32)
    return x, k, dy, (oh, ow)


CONV_CASES = [
    # (n, h, w, c, f, kernel_hw, strides, dilation)
    (5, 9, 8, 3, 4, (3, 3), (1, 1), (1, 1)),
    (7, 11, 10, 5, 6, (3, 2), (2, 1), (1, 1)),
    (4, 12, 13, 2, 3, (3, 3), (1, 2), (2, 1)),
    (3, 7, 7, 16, 8, (1, 1), (1, 1), (1, 1)),
    (3, 6, 3, 2, 3, (3, 3), (1, 1), (1, 1)),  # one output column: fewer pixels than kernel columns
    (2, 9, 10, 3, 2, (2, 3), (1, 1), (1, 2)),  # dilated columns: im2col's and col2im's plain loops
]
# bytes of work per piece: 1 byte (one image a piece), two images' worth, the default, everything
PIECES = ["one", "two", "default", "all"]


def _set_pieces(monkeypatch, pieces, per_image):
    """Both piece sizes (matrix products and passes) to one image, two, their defaults, or all."""
    for name in ("CHUNK_BYTES", "PASS_CHUNK_BYTES"):
        budget = {"one": 1, "two": 2 * per_image, "default": getattr(conv_ref, name), "all": 1 << 62}
        monkeypatch.setattr(conv_ref, name, budget[pieces])


@pytest.mark.parametrize("case", CONV_CASES)
@pytest.mark.parametrize("pieces", PIECES)
def test_conv_kernels_in_pieces_match_the_formula(monkeypatch, case, pieces):
    n, h, w, c, f, khw, strides, dilation = case
    x, k, dy, out_hw = _conv_case(0, n, h, w, c, f, khw, strides, dilation)
    per_image = out_hw[0] * out_hw[1] * khw[0] * khw[1] * c * 4
    _set_pieces(monkeypatch, pieces, per_image)
    if pieces == "two":
        assert len(conv_ref.cols_chunks(x, khw, out_hw)) == -(-n // 2)  # the last piece is shorter

    y = conv_ref.conv2d_forward(x, k, strides, dilation, out_hw)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, conv_formula(x, k, strides, dilation, out_hw), rtol=1e-5, atol=1e-5)

    # dL/dK and dL/dxpad from the formula: y is linear in K and in x, so the gradient of
    # sum(y * dy) is exact in float64 by its definition
    x64, dy64 = x.astype(np.float64), dy.astype(np.float64)
    (sh, sw), (dh, dw), (oh, ow) = strides, dilation, out_hw
    dk_want = np.zeros(k.shape)
    dx_want = np.zeros(x.shape)
    for a in range(khw[0]):
        for b in range(khw[1]):
            rows = slice(a * dh, a * dh + (oh - 1) * sh + 1, sh)
            cols = slice(b * dw, b * dw + (ow - 1) * sw + 1, sw)
            dk_want[a, b] = np.einsum("nijc,nijo->co", x64[:, rows, cols], dy64)
            dx_want[:, rows, cols] += dy64 @ k[a, b].astype(np.float64).T
    dk = conv_ref.conv2d_backward_kernel(x, dy, khw, strides, dilation)
    dx = conv_ref.conv2d_backward_input(dy, k, strides, dilation, (h, w))
    assert dk.dtype == dx.dtype == np.float32
    np.testing.assert_allclose(dk, dk_want, rtol=1e-5, atol=1e-5 * np.abs(dk_want).max())
    np.testing.assert_allclose(dx, dx_want, rtol=1e-5, atol=1e-5 * np.abs(dx_want).max())


@pytest.mark.parametrize("case", CONV_CASES)
def test_pieces_give_the_same_rows_as_one_piece(monkeypatch, case):
    """Forward rows and dL/dx are per-image results: in pieces or not, the same up to the last bit
    that BLAS may round differently for another matrix height."""
    n, h, w, c, f, khw, strides, dilation = case
    x, k, dy, out_hw = _conv_case(1, n, h, w, c, f, khw, strides, dilation)
    monkeypatch.setattr(conv_ref, "CHUNK_BYTES", 1 << 62)
    whole = (conv_ref.conv2d_forward(x, k, strides, dilation, out_hw),
             conv_ref.conv2d_backward_input(dy, k, strides, dilation, (h, w)),
             conv_ref.conv2d_backward_kernel(x, dy, khw, strides, dilation))
    monkeypatch.setattr(conv_ref, "CHUNK_BYTES", 1)
    pieces = (conv_ref.conv2d_forward(x, k, strides, dilation, out_hw),
              conv_ref.conv2d_backward_input(dy, k, strides, dilation, (h, w)),
              conv_ref.conv2d_backward_kernel(x, dy, khw, strides, dilation))
    for got, want in zip(pieces, whole, strict=True):
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-6 * np.abs(want).max())


def test_kernels_repeat_bit_for_bit():
    x, k, dy, out_hw = _conv_case(2, 9, 20, 20, 8, 16)
    b = np.linspace(-1, 1, 16, dtype=np.float32)

    def run():
        a = bias_ref.conv2d_bias_relu(x, k, b, (1, 1), (1, 1), out_hw)
        dz, db = bias_ref.relu_backward_bias_grad(dy, a)
        return (a, dz, db, conv_ref.conv2d_backward_kernel(x, dz, (3, 3), (1, 1), (1, 1)),
                conv_ref.conv2d_backward_input(dz, k, (1, 1), (1, 1), (20, 20)))

    for first, second in zip(run(), run(), strict=True):
        np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("pieces", PIECES)
def test_conv_bias_relu_matches_the_formula_and_passes_nan(monkeypatch, pieces):
    x, k, _, out_hw = _conv_case(3, 6, 10, 9, 4, 5)
    x[2, 3, 4, 1] = np.nan  # reaches a 3x3 block of outputs of image 2, every filter
    _set_pieces(monkeypatch, pieces, out_hw[0] * out_hw[1] * 9 * 4 * 4)
    b = np.array([0.5, -0.5, 0.0, 2.0, -3.0], dtype=np.float32)
    z_want = conv_formula(x, k, (1, 1), (1, 1), out_hw) + b
    a_want = np.where(np.isnan(z_want), np.nan, np.maximum(z_want, 0))  # ReLU passes NaN through
    z, a = bias_ref.conv2d_bias_relu_forward(x, k, b, (1, 1), (1, 1), out_hw)
    a_only = bias_ref.conv2d_bias_relu(x, k, b, (1, 1), (1, 1), out_hw)
    assert z.dtype == a.dtype == a_only.dtype == np.float32
    assert np.isnan(a_only).sum() == 9 * 5
    np.testing.assert_allclose(z, z_want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(a, a_want, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(a_only, a)


@pytest.mark.parametrize("shape", [(7, 5), (6, 11, 4), (5, 9, 7, 16), (300, 13, 12, 3)])
def test_bias_grad_matches_the_float64_sum(shape):
    dz = np.random.default_rng(4).standard_normal(shape).astype(np.float32)
    db = bias_ref.bias_grad(dz)
    want = dz.astype(np.float64).sum(axis=tuple(range(dz.ndim - 1)))
    assert db.dtype == np.float32 and db.shape == (shape[-1],)
    np.testing.assert_allclose(db, want, rtol=1e-5, atol=1e-6 * np.abs(dz).sum(axis=0).max())


@pytest.mark.parametrize("pieces", PIECES)
@pytest.mark.parametrize("shape", [(9, 6, 5, 4), (13, 3)])
def test_relu_backward_is_exactly_da_times_mask(monkeypatch, pieces, shape):
    rng = np.random.default_rng(5)
    da = rng.standard_normal(shape).astype(np.float32)
    z = rng.standard_normal(shape).astype(np.float32)
    z.flat[:6] = [0.0, -0.0, np.nan, np.inf, -np.inf, 1e-45]  # the edges of z > 0
    da.flat[:12] = [-1.0, -2.0, -3.0, 4.0, -5.0, 6.0, np.nan, np.nan, -0.0, 0.0, np.inf, -np.inf]
    z.flat[6:12] = [1.0, -1.0, 1.0, 1.0, -1.0, -1.0]  # NaN in da: kept where z > 0 and NaN * 0 otherwise
    _set_pieces(monkeypatch, pieces, da[:1].nbytes)
    with np.errstate(invalid="ignore"):  # inf * 0 is NaN, as intended
        dz, db = bias_ref.relu_backward_bias_grad(da, z)
        want = da * (z > 0)
    assert dz.dtype == db.dtype == np.float32
    np.testing.assert_array_equal(dz, want)  # NaN where want has NaN
    np.testing.assert_array_equal(np.signbit(dz), np.signbit(want))  # -0.0 where da * 0 gives -0.0
    finite = np.where(np.isfinite(want), want, 0).astype(np.float64)
    bad = ~np.isfinite(want).reshape(-1, shape[-1]).all(axis=0)
    want_db = finite.sum(axis=tuple(range(len(shape) - 1)))
    np.testing.assert_allclose(db[~bad], want_db[~bad], rtol=1e-5, atol=1e-5)
    assert not np.isfinite(db[bad]).any()


# ------------------------------------------------------------------------------------ max-pool


def maxpool_formula(xpad, pool_size, strides, out_hw, floor):
    """Window by window: ``y`` the largest non-NaN value, at least ``floor`` (the input type's
    lowest finite value, where TensorFlow starts a window), ``argmax`` the offset ``a * PW + b``
    of the first cell (row-major) above all before it, scanning from ``-inf`` (0 when none is)."""
    (ph, pw), (sh, sw), (oh, ow) = pool_size, strides, out_hw
    n, _, _, c = xpad.shape
    y = np.full((n, oh, ow, c), -np.inf)
    argmax = np.zeros((n, oh, ow, c), dtype=np.int64)
    for i in range(oh):
        for j in range(ow):
            window = xpad[:, i * sh:i * sh + ph, j * sw:j * sw + pw, :].reshape(n, ph * pw, c)
            for k in range(ph * pw):
                better = window[:, k] > y[:, i, j]  # strictly: the first maximum wins; NaN never
                y[:, i, j] = np.where(better, window[:, k], y[:, i, j])
                argmax[:, i, j] = np.where(better, k, argmax[:, i, j])
    return np.maximum(y, floor), argmax


def maxpool_backward_formula(dy, argmax, pool_size, strides, padded_hw):
    """``dxpad[n, i*sh + a, j*sw + b, c] += dy[n, i, j, c]`` for the winning offset ``a*PW + b``."""
    (_, pw), (sh, sw) = pool_size, strides
    n, oh, ow, c = dy.shape
    dxpad = np.zeros((n,) + tuple(padded_hw) + (c,))
    ni, ii, jj, cc = np.indices(dy.shape)
    a, b = np.divmod(argmax.astype(np.int64), pw)
    np.add.at(dxpad, (ni, ii * sh + a, jj * sw + b, cc), dy.astype(np.float64))
    return dxpad


POOL_CASES = [
    # (n, h, w, c, pool_size, strides, padding "same" with -inf)
    (5, 8, 8, 3, (2, 2), (2, 2), False),
    (4, 9, 7, 2, (2, 2), (2, 2), False),  # odd sizes: the last row / column is read by no window
    (3, 9, 9, 4, (3, 3), (2, 2), False),  # overlapping windows: gradients add up
    (3, 10, 11, 2, (2, 2), (3, 3), False),  # gaps between windows
    (3, 7, 8, 3, (2, 3), (1, 2), False),
    (4, 7, 7, 3, (2, 2), (2, 2), True),  # "same": one row and column of -inf padding
]


def _pool_case(seed, n, h, w, c, pool_size, strides, same):
    rng = np.random.default_rng(seed)
    x = rng.integers(-3, 4, (n, h, w, c)).astype(np.float32)  # small integers: many ties
    x[0, :3, :3, 0] = np.nan  # NaN never wins; a window of NaN only
    x[1, :2, :2, :] = -np.inf  # a window of -inf only: offset 0
    x[1, 2, 2, 0], x[1, 3, 3, 0] = np.nan, -np.inf  # NaN and -inf mixed
    low = np.finfo(np.float32).min  # a window whose maximum is the lowest value: offset 1
    x[1, 2:4, 0:2, 1] = [[-np.inf, low], [low, -np.inf]]
    x[2 % n, 1, 1, :] = -0.0  # -0.0 and 0.0 tie: the first wins
    if same:
        x = np.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)), constant_values=-np.inf)
    (ph, pw), (sh, sw) = pool_size, strides
    out_hw = ((x.shape[1] - ph) // sh + 1, (x.shape[2] - pw) // sw + 1)
    return x, out_hw


@pytest.mark.parametrize("case", POOL_CASES)
@pytest.mark.parametrize("pieces", PIECES)
def test_maxpool_matches_the_window_formula(monkeypatch, case, pieces):
    n, h, w, c, pool_size, strides, same = case
    x, out_hw = _pool_case(6, n, h, w, c, pool_size, strides, same)
    _set_pieces(monkeypatch, pieces, x[:1].nbytes)
    y, argmax = pool_ref.maxpool2d_forward(x, pool_size, strides, out_hw)
    y_want, argmax_want = maxpool_formula(x.astype(np.float64), pool_size, strides, out_hw,
                                          np.finfo(np.float32).min)
    assert y.dtype == np.float32 and argmax.dtype == pool_ref.argmax_dtype(pool_size)
    np.testing.assert_array_equal(y, y_want)
    np.testing.assert_array_equal(argmax, argmax_want)
    np.testing.assert_array_equal(pool_ref.maxpool2d_values(x, pool_size, strides, out_hw), y)

    dy = np.random.default_rng(7).standard_normal(y.shape).astype(np.float32)
    dx = pool_ref.maxpool2d_backward(dy, argmax, pool_size, strides, x.shape[1:3])
    dx_want = maxpool_backward_formula(dy, argmax_want, pool_size, strides, x.shape[1:3])
    assert dx.dtype == np.float32
    np.testing.assert_allclose(dx, dx_want, rtol=1e-6, atol=1e-6)  # sums of up to 4 float32 values
    if strides[0] >= pool_size[0] and strides[1] >= pool_size[1]:
        np.testing.assert_array_equal(dx, dx_want)  # no overlap: each cell gets one value or 0


def test_maxpool_backward_keeps_nan_in_its_window():
    """A NaN in dy goes to the winning cell only; the other cells of its window stay 0."""
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    y, argmax = pool_ref.maxpool2d_forward(x, (2, 2), (2, 2), (2, 2))
    dy = np.array([np.nan, -0.0, 1.0, 2.0], dtype=np.float32).reshape(1, 2, 2, 1)
    dx = pool_ref.maxpool2d_backward(dy, argmax, (2, 2), (2, 2), (4, 4))
    assert np.isnan(dx).sum() == 1 and np.isnan(dx[0, 1, 1, 0])
    assert (dx[0, :2, :2, 0][~np.isnan(dx[0, :2, :2, 0])] == 0).all()
    assert dx[0, 1, 3, 0] == 0 and not np.signbit(dx[0, 1, 3, 0])  # 0.0 + (-0.0): +0.0, as before


def test_maxpool_backward_zeros_are_positive_with_a_finite_dy():
    """The finite path (``dy * won``) gives the same +0.0 as ``0.0 + np.where(won, dy, 0)``."""
    x = np.arange(32, dtype=np.float32).reshape(2, 4, 4, 1)
    _, argmax = pool_ref.maxpool2d_forward(x, (2, 2), (2, 2), (2, 2))
    dy = np.array([-0.0, -1.0, -2.0, -3.0] * 2, dtype=np.float32).reshape(2, 2, 2, 1)
    dx = pool_ref.maxpool2d_backward(dy, argmax, (2, 2), (2, 2), (4, 4))
    want = maxpool_backward_formula(dy, argmax, (2, 2), (2, 2), (4, 4))
    np.testing.assert_array_equal(dx, want)
    assert not np.signbit(dx[dx == 0]).any()


@pytest.mark.parametrize("threads", [1, 2])
def test_numpy_backend_training_repeats_bit_for_bit(monkeypatch, threads):
    """Two runs of the same steps on the NumPy backend, in pieces of two images, on one thread or
    two (conv.each_piece): the same weights."""
    import scratchnet as sn
    from scratchnet import kernels
    from scratchnet.models import rps_cnn

    previous = kernels.get_backend()
    sn.set_backend("numpy")
    try:
        monkeypatch.setattr(conv_ref, "THREADS", threads)
        _set_pieces(monkeypatch, "two", 40_000)
        rng = np.random.default_rng(8)
        x = rng.random((6, 32, 32, 3), dtype=np.float32)
        y = rng.integers(0, 3, 6)
        runs = []
        for _ in range(2):
            model = rps_cnn((32, 32, 3), seed=3)
            model.compile(optimizer="adam", loss=sn.losses.SparseCategoricalCrossentropy())
            for _ in range(2):
                model.train_step(x, y)
            runs.append(model.get_weights())
    finally:
        sn.set_backend(previous)
    for first, second in zip(runs[0], runs[1], strict=True):
        np.testing.assert_array_equal(first, second)


def test_conv2d_into_refuses_an_output_it_cannot_write_in_place():
    x, k, _, out_hw = _conv_case(9, 2, 6, 6, 2, 4)
    y = np.empty((2,) + out_hw + (8,), dtype=np.float32)[..., ::2]  # a strided view
    with pytest.raises(ValueError, match="C-contiguous"):
        conv_ref.conv2d_into(y, x, k, (1, 1), (1, 1))


# ------------------------------------------------------------------------------ threads
# conv.each_piece hands the pieces to conv.THREADS threads; these tests set THREADS themselves,
# so they run the same on a machine of any core count.


def _blas_thread_counts() -> list[int]:
    import threadpoolctl

    return [lib.num_threads for lib in threadpoolctl.ThreadpoolController().lib_controllers
            if lib.user_api == "blas"]


@pytest.mark.parametrize("threads", [2, 3])
def test_each_piece_returns_results_in_order_from_this_thread_and_helpers(monkeypatch, threads):
    import threading

    monkeypatch.setattr(conv_ref, "THREADS", threads)
    started = threading.Barrier(threads, timeout=10)

    def work(piece):
        if piece < threads:
            started.wait()  # the first pieces can only finish if they run at the same time
        return piece * 10, threading.current_thread().name

    results = conv_ref.each_piece(work, list(range(7)))
    assert [r for r, _ in results] == [0, 10, 20, 30, 40, 50, 60]
    names = {name for _, name in results}  # this thread and the pool's helper took turns
    helpers = {name for name in names if name.startswith("scratchnet-piece")}
    assert len(helpers) == threads - 1 and names - helpers <= {threading.current_thread().name}


def test_each_piece_holds_blas_at_one_thread_and_gives_its_count_back(monkeypatch):
    monkeypatch.setattr(conv_ref, "THREADS", 2)
    before = _blas_thread_counts()
    inside = conv_ref.each_piece(lambda _: _blas_thread_counts(), [0, 1, 2])
    assert inside == [[1] * len(before)] * 3
    assert _blas_thread_counts() == before

    def fails(piece):
        raise ValueError(f"piece {piece} failed")

    with pytest.raises(ValueError, match=r"piece [01] failed"):  # whichever thread raised first
        conv_ref.each_piece(fails, [0, 1])
    assert _blas_thread_counts() == before  # an error in a piece leaves BLAS as it was


def test_each_piece_from_several_threads_gives_blas_its_count_back(monkeypatch):
    """The mirrored strategy's replicas call the kernels from threads of their own, at once."""
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(conv_ref, "THREADS", 2)
    before = _blas_thread_counts()
    a = np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32)

    def replica(seed):
        return [conv_ref.each_piece(lambda r: float((a[r] @ a).sum()), [slice(0, 32), slice(32, 64)])
                for _ in range(50)]

    with ThreadPoolExecutor(3) as replicas:
        totals = list(replicas.map(replica, range(3)))
    assert totals[0] == totals[1] == totals[2]
    assert _blas_thread_counts() == before


def test_each_piece_runs_in_the_callers_thread_under_a_debugger_or_inside_a_piece(monkeypatch):
    import sys
    import threading

    monkeypatch.setattr(conv_ref, "THREADS", 2)
    caller = threading.current_thread().name
    where = lambda _: threading.current_thread().name  # noqa: E731
    previous = sys.gettrace()
    sys.settrace(lambda frame, event, arg: None)  # what bdb, pdb and IDE debuggers install
    try:
        assert conv_ref.each_piece(where, [0, 1, 2]) == [caller] * 3
    finally:
        sys.settrace(previous)
    # a piece that cuts its own work into pieces runs them itself: it never waits for the pool
    nested = conv_ref.each_piece(lambda _: (where(_), conv_ref.each_piece(where, [0, 1, 2])), [0, 1, 2, 3])
    for outer, inner in nested:
        assert inner == [outer] * 3


def test_kernels_give_the_same_bits_on_threads_and_under_a_debugger(monkeypatch):
    """Stepping through a kernel (the pieces one after another, in the caller's thread) gives the
    bits the threads give: the pieces depend on THREADS only."""
    import sys

    monkeypatch.setattr(conv_ref, "THREADS", 2)
    _set_pieces(monkeypatch, "two", 20 * 20 * 9 * 8 * 4)
    x, k, dy, out_hw = _conv_case(4, 9, 22, 22, 8, 16)
    b = np.linspace(-1, 1, 16, dtype=np.float32)

    def run():
        a = bias_ref.conv2d_bias_relu(x, k, b, (1, 1), (1, 1), out_hw)
        dz, db = bias_ref.relu_backward_bias_grad(dy, a)
        y, argmax = pool_ref.maxpool2d_forward(a, (2, 2), (2, 2), (10, 10))
        return (a, dz, db, y, argmax, pool_ref.maxpool2d_backward(y, argmax, (2, 2), (2, 2), out_hw),
                conv_ref.conv2d_backward_kernel(x, dz, (3, 3), (1, 1), (1, 1)),
                conv_ref.conv2d_backward_input(dz, k, (1, 1), (1, 1), (22, 22)))

    threaded = run()
    previous = sys.gettrace()
    sys.settrace(lambda frame, event, arg: None)
    try:
        stepped = run()
    finally:
        sys.settrace(previous)
    for got, want in zip(stepped, threaded, strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_image_chunks_give_every_thread_a_piece_of_enough_work(monkeypatch, threads):
    monkeypatch.setattr(conv_ref, "THREADS", threads)
    big = conv_ref.MIN_PIECE_BYTES  # an image of that much work: every image may be a piece
    pieces = conv_ref.image_chunks(32, big // 4, conv_ref.CHUNK_BYTES)  # 8 MiB of work in all
    assert len(pieces) >= threads and sum(p.stop - p.start for p in pieces) == 32
    assert [p.start for p in pieces] == sorted({p.start for p in pieces})  # in order, no overlap
    small = conv_ref.image_chunks(32, 1000, conv_ref.CHUNK_BYTES)  # 32 KB in all: not worth sharing
    assert small == [slice(0, 32)]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape", [(300, 700), (7, 300, 700), (700,), (0, 700)])
def test_matmul_in_row_pieces_is_the_product(monkeypatch, threads, shape):
    from scratchnet.kernels import dense as dense_ref

    monkeypatch.setattr(conv_ref, "THREADS", threads)
    monkeypatch.setattr(dense_ref, "MIN_PIECE_MACS", 1)  # pieces even for these small products
    rng = np.random.default_rng(5)
    a = rng.standard_normal(shape).astype(np.float32)
    b = rng.standard_normal((700, 90)).astype(np.float32)
    want = a.astype(np.float64) @ b.astype(np.float64)
    for operand in (a, np.asfortranarray(a)):
        got = dense_ref.matmul(operand, b)
        assert got.shape == want.shape and got.dtype == np.float32
        # float32 dot products of 700 terms: each within 1e-5 of the largest |value|
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * max(1.0, np.abs(want).max(initial=0)))
    if a.ndim == 2 and len(a):
        got = dense_ref.matmul(a.T, rng.standard_normal((300, 40)).astype(np.float32))  # x^T @ dz
        assert got.shape == (700, 40)


@pytest.mark.parametrize("value, threads", [("3", 3), ("1", 1), ("", None), ("0", "error"), ("two", "error")])
def test_numpy_threads_come_from_the_environment(value, threads):
    """``SCRATCHNET_NUMPY_THREADS`` sets ``conv.THREADS`` at import; a bad value names itself."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, SCRATCHNET_NUMPY_THREADS=value)
    run = subprocess.run([sys.executable, "-c", "from scratchnet.kernels import conv; print(conv.THREADS)"],
                         env=env, capture_output=True, text=True)
    if threads == "error":
        assert run.returncode != 0
        want = f"SCRATCHNET_NUMPY_THREADS: expected a whole number of threads, 1 or more, received '{value}'"
        assert want in run.stderr
    elif threads is None:  # unset or empty: the cores this process may run on
        assert run.returncode == 0 and int(run.stdout) == len(os.sched_getaffinity(0))
    else:
        assert run.returncode == 0 and int(run.stdout) == threads


def test_each_piece_sees_a_debugger_on_sys_monitoring(monkeypatch):
    """From Python 3.12 a debugger may hold sys.monitoring's debugger slot and set no trace
    function; the pieces then run in the debugged thread all the same (a stand-in slot here)."""
    import sys
    import threading
    import types

    monkeypatch.setattr(conv_ref, "THREADS", 2)
    slots = {0: None}
    monitoring = types.SimpleNamespace(DEBUGGER_ID=0, get_tool=lambda tool: slots[tool])
    monkeypatch.setattr(sys, "monitoring", monitoring, raising=False)
    where = lambda _: threading.current_thread().name  # noqa: E731
    caller = threading.current_thread().name
    slots[0] = "a debugger"
    assert conv_ref.each_piece(where, [0, 1, 2, 3]) == [caller] * 4
    slots[0] = None  # the slot free: the helpers take pieces again
    started = threading.Barrier(2, timeout=10)
    assert len(set(conv_ref.each_piece(lambda p: started.wait() if p < 2 else where(p), [0, 1]))) == 2
