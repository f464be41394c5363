"""``keras.datasets.cifar10``: 32x32 colour images of 10 classes, read from Keras' cache.

Labels: 0 airplane, 1 automobile, 2 bird, 3 cat, 4 deer, 5 dog, 6 frog, 7 horse, 8 ship, 9 truck.
Where the files live: :mod:`scratchnet.datasets.cifar`.
"""

from __future__ import annotations

import numpy as np

from scratchnet.datasets.cifar import BatchFiles, channels_last, load_batch

ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"


def load_data():
    """``(x_train, y_train), (x_test, y_test)``, as Keras: ``x`` uint8 ``(N, 32, 32, 3)``, ``y``
    uint8 ``(N, 1)``; the train set is ``data_batch_1`` to ``data_batch_5`` in order (Keras
    expects 10,000 images in each; scratchnet concatenates batches of any size), the test set
    ``test_batch``."""
    files = BatchFiles("cifar-10-batches-py-target", "cifar-10-batches-py",
                       ("cifar-10-batches-py-target_archive", "cifar-10-batches-py.tar.gz",
                        "cifar-10-python.tar.gz"), ORIGIN, "cifar10.load_data")
    parts = [load_batch(files.read(f"data_batch_{i}")) for i in range(1, 6)]
    x_train = np.concatenate([x for x, _ in parts]).astype("uint8")
    y_train = np.concatenate([np.asarray(y) for _, y in parts]).astype("uint8")
    x_test, y_test = load_batch(files.read("test_batch"))
    y_train = np.reshape(y_train, (len(y_train), 1))
    y_test = np.reshape(y_test, (len(y_test), 1))
    x_train = channels_last(x_train)
    x_test = channels_last(x_test)
    x_test = x_test.astype(x_train.dtype)
    y_test = y_test.astype(y_train.dtype)
    return (x_train, y_train), (x_test, y_test)
