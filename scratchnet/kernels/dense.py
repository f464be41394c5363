"""The matrix product of the Dense layer, NumPy reference (NumPy's BLAS)."""

from __future__ import annotations

import numpy as np

from scratchnet.kernels import conv

# A product of fewer multiply-adds a piece stays in one piece (about 0.3 ms on one core here):
# small_cnn's Dense products at batch 32 took 0.94 ms a step in two pieces, 0.23 ms in one.
MIN_PIECE_MACS = 1 << 24


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b``: ``(..., K) @ (K, M) -> (..., M)``.

    Each row of the product is one row of ``a`` times ``b``, so the rows are cut into one piece a
    thread (:func:`~scratchnet.kernels.conv.each_piece`, BLAS on one thread inside each): the
    same dot products, on every core, without BLAS' own threads.
    """
    a2 = a.reshape(-1, a.shape[-1])  # (rows, K); a view for the layers' C-contiguous or .T arrays
    y = np.empty((a2.shape[0], b.shape[-1]), dtype=np.result_type(a, b))  # (rows, M)
    rows = max(1, -(-len(a2) // conv.THREADS))  # rows a piece
    if rows * a2.shape[1] * b.shape[-1] < MIN_PIECE_MACS:
        rows = max(1, len(a2))  # too little work to share: one piece
    conv.each_piece(lambda r: np.matmul(a2[r], b, out=y[r]),
                    [slice(start, start + rows) for start in range(0, len(a2), rows)])
    return y.reshape(a.shape[:-1] + (b.shape[-1],))
