"""The Keras half of the main job: the plain-Keras twin, started from scratchnet's initial weights.

Kept apart so that the rest of the demo runs without TensorFlow installed.
"""

from __future__ import annotations

import os

import numpy as np


def import_keras():
    """Import Keras (TensorFlow backend) made deterministic, or return ``None`` if it is missing.

    oneDNN changes float32 rounding, so it is switched off before TensorFlow is first imported.
    TensorFlow's C++ log is limited to fatal messages: ``fit`` and ``predict`` on NumPy arrays make
    tf.data print harmless "NodeDef mentions attribute" errors that would bury the table.
    """
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") in ("", "0", "1", "2"):
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    try:
        import keras
        import tensorflow as tf
    except ImportError:
        return None
    tf.config.experimental.enable_op_determinism()
    return keras


def build_keras_twin(keras, initial_weights: list[np.ndarray], image_size: int, learning_rate: float,
                     seed: int):
    """``tfnet.models.rps_cnn`` with scratchnet's initial weights, compiled like the scratchnet
    model: Adam with the same learning rate, sparse cross-entropy on the softmax output."""
    import tfnet.models

    keras.utils.set_random_seed(seed)  # dropout masks and Keras' shuffling
    model = tfnet.models.rps_cnn((image_size, image_size, 3))
    model.set_weights(initial_weights)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(),
                  metrics=["accuracy"], jit_compile=False)
    return model
