"""``keras.datasets.fashion_mnist``: Zalando's clothing images, read from Keras' cache.

``load_data()`` reads the four gzip'd IDX files Keras downloads into
``$KERAS_HOME/datasets/fashion-mnist/`` (``train-labels-idx1-ubyte.gz``,
``train-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz``) as
Keras does: labels after an 8-byte header, images after a 16-byte header reshaped to
``(len(labels), 28, 28)``; all ``uint8``. Labels: 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress,
4 Coat, 5 Sandal, 6 Shirt, 7 Sneaker, 8 Bag, 9 Ankle boot.
"""

from __future__ import annotations

import gzip
import os

import numpy as np

from scratchnet.datasets.keras_cache import ORIGIN, cached_file

FILES = ("train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz")


def _read(path, offset: int) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def load_data():
    """``(x_train, y_train), (x_test, y_test)``: ``(60000, 28, 28)``, ``(60000,)``,
    ``(10000, 28, 28)``, ``(10000,)``, ``uint8``."""
    subdir = os.path.join("datasets", "fashion-mnist")
    paths = [cached_file(f, ORIGIN + f, "fashion_mnist.load_data", subdir) for f in FILES]
    y_train = _read(paths[0], 8)
    x_train = _read(paths[1], 16).reshape(len(y_train), 28, 28)
    y_test = _read(paths[2], 8)
    x_test = _read(paths[3], 16).reshape(len(y_test), 28, 28)
    return (x_train, y_train), (x_test, y_test)
