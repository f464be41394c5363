"""scikit-learn's bundled handwritten digits (real data, 1,797 images of 8x8 pixels)."""

from __future__ import annotations

import numpy as np

from scratchnet import config

TEST_FRACTION = 0.2


def load_digits(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Digits as ``x (N, 8, 8, 1)`` float in [0, 1] and ``y (N,)`` int64 labels 0-9.

    The split is fixed and stratified (``TEST_FRACTION`` of each class, chosen with seed 0), so
    ``"train"`` and ``"test"`` never share an image.
    """
    if split not in ("train", "test"):
        raise ValueError(f"load_digits: expected split 'train' or 'test', received {split!r}")
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    x = (bunch.images / 16.0).astype(config.floatx())[..., None]  # (N, 8, 8, 1)
    y = bunch.target.astype(np.int64)
    rng = np.random.default_rng(0)
    test = np.zeros(len(y), dtype=bool)
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        test[rng.choice(members, size=round(len(members) * TEST_FRACTION), replace=False)] = True
    keep = test if split == "test" else ~test
    return x[keep], y[keep]
