"""The fused ReLU -> max-pool backward equals the unfused kernels it replaces.

``relu_maxpool2d_backward_bias_grad(dy, y, argmax, ...)`` must give the ``dz`` of
``relu_backward_bias_grad(maxpool2d_backward(dy, argmax, ...), a)`` exactly (zeros may differ in
sign, which ``assert_array_equal`` ignores) and its bias gradient within float32 rounding of a sum
(``rtol=1e-5``; the fused kernel sums in float64 per image, the references in float32 pairwise).
"""

from __future__ import annotations

import numpy as np
import pytest

from scratchnet.kernels import bias as bias_ref
from scratchnet.kernels import numba_kernels as nb
from scratchnet.kernels import pooling as pool_ref


def _case(seed, n, h, w, f, pool, with_nan=False):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, h, w, f)).astype(np.float32)
    z[rng.random(z.shape) < 0.2] = 0.0  # ties among zeros: the first one wins
    if with_nan:
        z[0, :2, :2, 0] = np.nan  # a window of NaN only: the pooled value is -inf
    a = np.maximum(z, 0)
    oh, ow = (h - pool) // pool + 1, (w - pool) // pool + 1
    y, argmax = pool_ref.maxpool2d_forward(a, (pool, pool), (pool, pool), (oh, ow))
    dy = rng.standard_normal(y.shape).astype(np.float32)
    return a, y, argmax, dy


@pytest.mark.parametrize("shape", [(2, 8, 8, 5), (3, 7, 9, 4), (1, 148, 148, 8)])
@pytest.mark.parametrize("pool", [2, 3])
@pytest.mark.parametrize("impl", ["numpy", "numba"])
def test_fused_relu_maxpool_backward_equals_the_unfused_kernels(shape, pool, impl):
    n, h, w, f = shape
    a, y, argmax, dy = _case(0, n, h, w, f, pool, with_nan=True)
    window = (pool, pool)
    da = pool_ref.maxpool2d_backward(dy, argmax, window, window, (h, w))
    dz_want, db_want = bias_ref.relu_backward_bias_grad(da, a)
    fused = pool_ref if impl == "numpy" else nb
    dz, db = fused.relu_maxpool2d_backward_bias_grad(dy, y, argmax, window, window, (h, w))
    assert dz.dtype == db.dtype == np.float32
    np.testing.assert_array_equal(dz, dz_want)
    np.testing.assert_allclose(db, db_want, rtol=1e-5, atol=1e-5 * np.abs(dz_want).sum(axis=(0, 1, 2)).max())
