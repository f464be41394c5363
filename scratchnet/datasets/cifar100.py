"""``keras.datasets.cifar100``: 32x32 colour images of 100 fine classes in 20 coarse ones, read
from Keras' cache (where: :mod:`scratchnet.datasets.cifar`)."""

from __future__ import annotations

import numpy as np

from scratchnet.datasets.cifar import BatchFiles, channels_last, load_batch

ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"


def load_data(label_mode: str = "fine"):
    """``(x_train, y_train), (x_test, y_test)``: ``x`` uint8 ``(N, 32, 32, 3)``, ``y`` ``(N, 1)``
    holding the ``"fine"`` (0-99) or ``"coarse"`` (0-19) labels. As Keras, the labels keep the
    pickle's integer type (int64), unlike CIFAR-10's uint8."""
    if label_mode not in ["fine", "coarse"]:
        raise ValueError('cifar100.load_data: `label_mode` must be one of `"fine"`, `"coarse"`. '
                         f"Received: label_mode={label_mode}.")
    files = BatchFiles("cifar-100-python-target", "cifar-100-python",
                       ("cifar-100-python-target_archive", "cifar-100-python.tar.gz"), ORIGIN,
                       "cifar100.load_data")
    x_train, y_train = load_batch(files.read("train"), label_key=f"{label_mode}_labels")
    x_test, y_test = load_batch(files.read("test"), label_key=f"{label_mode}_labels")
    y_train = np.reshape(y_train, (len(y_train), 1))
    y_test = np.reshape(y_test, (len(y_test), 1))
    return (channels_last(x_train), y_train), (channels_last(x_test), y_test)
