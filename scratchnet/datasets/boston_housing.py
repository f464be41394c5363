"""``keras.datasets.boston_housing``: 506 Boston suburbs, 13 features, median price (k$), read
from Keras' cache (``$KERAS_HOME/datasets/boston_housing.npz``)."""

from __future__ import annotations

import numpy as np

from scratchnet.datasets.keras_cache import (
    ORIGIN,
    cached_file,
    check_fname,
    check_test_split,
    shuffled_split,
)


def load_data(path: str = "boston_housing.npz", test_split: float = 0.2, seed: int = 113):
    """``(x_train, y_train), (x_test, y_test)``: float64 ``x (N, 13)``, ``y (N,)``, shuffled with
    ``RandomState(seed)`` and split as Keras (:func:`keras_cache.shuffled_split`)."""
    check_test_split(test_split, "boston_housing.load_data")
    fname = check_fname(path, "boston_housing.load_data")
    with np.load(cached_file(fname, f"{ORIGIN}boston_housing.npz", "boston_housing.load_data"),
                 allow_pickle=False) as f:
        x, y = f["x"], f["y"]
    return shuffled_split(x, y, test_split, seed)
