"""Make TensorFlow deterministic before anything imports it (PARITY.md).

``TF_ENABLE_ONEDNN_OPTS=0`` must be in the environment before TensorFlow is imported: oneDNN's
fused float32 kernels round differently. If TensorFlow was already imported with oneDNN on (by
something collected earlier), every parity test errors and says so rather than compare the
wrong thing.
"""

import os
import sys

_TF_IMPORTED_BEFORE = "tensorflow" in sys.modules
_ONEDNN_BEFORE = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import pytest  # noqa: E402

import scratchnet as sn  # noqa: E402
from tfnet.testing import make_deterministic  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _deterministic_tensorflow():
    if _TF_IMPORTED_BEFORE and _ONEDNN_BEFORE != "0":
        raise RuntimeError("TensorFlow was imported before parity_tests/conftest.py with oneDNN "
                           "on; run with TF_ENABLE_ONEDNN_OPTS=0 in the environment")
    make_deterministic(0)


@pytest.fixture(autouse=True)
def _same_keras_seed():
    """Same TensorFlow/Keras seeds for every test (floatx and the backend are restored by the
    repository's conftest.py)."""
    keras.utils.set_random_seed(1234)


@pytest.fixture(scope="session")
def digits():
    """sklearn's digits (real data): a fixed training slice, in order."""
    x, y = sn.datasets.load_digits("train")
    return x, y
