"""The matrix product of the Dense layer, NumPy reference (NumPy's BLAS)."""

from __future__ import annotations

import numpy as np

from scratchnet.kernels import conv

# A product of fewer multiply-adds a piece stays in one piece. Handing a piece to another core
# costs 100-200 microseconds here (the idle core has to wake up; OpenBLAS' own threads spin instead,
# which is why they win on small products): (256, 784) @ (784, 128), 26 million multiply-adds,
# took 217 us with BLAS' two threads, 396 in one piece on one thread and 374 in two pieces.
# Above this size the pieces win: talk_cnn's (256, 6272) @ (6272, 512) 15.1 -> 6.9 ms against one
# single-threaded call.
MIN_PIECE_MACS = 1 << 24


def row_pieces(rows: int, k: int, m: int) -> list[slice]:
    """The rows of an ``(rows, K) @ (K, M)`` product cut into one piece a thread
    (``conv.THREADS``), or one piece when a piece would be under ``MIN_PIECE_MACS``."""
    step = max(1, -(-rows // conv.THREADS))  # rows a piece
    if step * k * m < MIN_PIECE_MACS:
        step = max(1, rows)  # too little work to share
    return [slice(start, start + step) for start in range(0, rows, step)]


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b``: ``(..., K) @ (K, M) -> (..., M)``.

    Each row of the product is one row of ``a`` times ``b``, so the rows are cut into one piece a
    thread (:func:`row_pieces`, :func:`~scratchnet.kernels.conv.each_piece`, BLAS on one thread
    inside each): the same dot products, on every core, without BLAS' own threads.
    """
    a2 = a.reshape(-1, a.shape[-1])  # (rows, K); a view for the layers' C-contiguous or .T arrays
    y = np.empty((a2.shape[0], b.shape[-1]), dtype=np.result_type(a, b))  # (rows, M)
    conv.each_piece(lambda r: np.matmul(a2[r], b, out=y[r]), row_pieces(*a2.shape, b.shape[-1]))
    return y.reshape(a.shape[:-1] + (b.shape[-1],))
