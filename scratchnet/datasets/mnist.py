"""``keras.datasets.mnist``: LeCun's handwritten digits, read from Keras' cache (never downloaded).

``load_data()`` reads ``$KERAS_HOME/datasets/mnist.npz`` (``~/.keras/datasets/mnist.npz``), the
file ``keras.datasets.mnist.load_data()`` downloads, and returns what Keras returns:
``(x_train, y_train), (x_test, y_test)``, ``uint8`` arrays of shapes ``(60000, 28, 28)``,
``(60000,)``, ``(10000, 28, 28)``, ``(10000,)``; pixels 0-255, labels 0-9.
"""

from __future__ import annotations

import numpy as np

from scratchnet.datasets.keras_cache import ORIGIN, cached_file, check_fname


def load_data(path: str = "mnist.npz"):
    """The MNIST arrays from ``path``, a file name in Keras' dataset cache (Keras' argument)."""
    fname = check_fname(path, "mnist.load_data")
    npz = cached_file(fname, f"{ORIGIN}mnist.npz", "mnist.load_data")
    with np.load(npz, allow_pickle=False) as f:
        x_train, y_train = f["x_train"], f["y_train"]
        x_test, y_test = f["x_test"], f["y_test"]
    return (x_train, y_train), (x_test, y_test)
