"""Making TensorFlow compute the same numbers every run (PARITY.md, "Making TensorFlow
deterministic for comparison").

``TF_ENABLE_ONEDNN_OPTS=0`` only works if it is set before TensorFlow is imported (and importing
``tfnet`` imports TensorFlow), so set it in the environment (``tasks.py`` does) or in
``os.environ`` first thing, as ``parity_tests/conftest.py`` does.
"""

from __future__ import annotations

import os

import keras
import tensorflow as tf

# tfnet/__init__ imported TensorFlow just before this line: this is the setting it saw.
_ONEDNN_OFF = os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "0"


def onednn_disabled() -> bool:
    """True when TensorFlow was imported with oneDNN's float32 rewrites switched off."""
    return _ONEDNN_OFF


def make_deterministic(seed: int = 0) -> None:
    """Seed Python, NumPy and TensorFlow, and make TensorFlow's ops deterministic.

    Raises ``RuntimeError`` if TensorFlow was imported with oneDNN on: its fused float32 kernels
    round differently and the comparison would measure oneDNN, not scratchnet.
    """
    if not onednn_disabled():
        raise RuntimeError("TensorFlow was imported with oneDNN optimisations on; set "
                           "TF_ENABLE_ONEDNN_OPTS=0 before anything imports TensorFlow")
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
