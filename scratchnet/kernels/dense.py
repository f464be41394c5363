"""The matrix product of the Dense layer, NumPy reference (NumPy's BLAS)."""

from __future__ import annotations

import numpy as np


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b``: ``(..., K) @ (K, M) -> (..., M)``."""
    return a @ b
