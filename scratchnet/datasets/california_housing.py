"""``keras.datasets.california_housing``: 20,640 California districts, 8 features, median house
value, read from Keras' cache (``$KERAS_HOME/datasets/california_housing.npz``)."""

from __future__ import annotations

import numpy as np

from scratchnet.datasets.keras_cache import (
    ORIGIN,
    cached_file,
    check_fname,
    check_test_split,
    shuffled_split,
)


def load_data(version: str = "large", path: str = "california_housing.npz", test_split: float = 0.2,
              seed: int = 113):
    """``(x_train, y_train), (x_test, y_test)``; ``version="small"`` keeps the first 600 rows
    before shuffling (Keras' small version), ``"large"`` all of them."""
    check_test_split(test_split, "california_housing.load_data")
    fname = check_fname(path, "california_housing.load_data")
    with np.load(cached_file(fname, f"{ORIGIN}california_housing.npz",
                             "california_housing.load_data"), allow_pickle=False) as f:
        x, y = f["x"], f["y"]
    if version == "small":
        x = x[:600]
        y = y[:600]
    elif version != "large":
        raise ValueError("california_housing.load_data: argument `version` must be one of 'small', "
                         f"'large'. Received: version={version}")
    return shuffled_split(x, y, test_split, seed)
