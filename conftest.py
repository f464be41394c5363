"""Repository-wide pytest settings."""

import os
import sys

import numpy as np
import pytest
from hypothesis import settings

import scratchnet as sn

# CI runs the property tests with a fixed example sequence, so a red CI is reproducible; a local
# run explores new examples each time.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _restore_globals():
    """Tests may change floatx or the backend; put them back afterwards. Figures a test left open
    are closed, so no test sees another's (pyplot keeps them per process)."""
    floatx, backend = sn.config.floatx(), sn.get_backend()
    yield
    sn.config.set_floatx(floatx)
    sn.set_backend(backend)
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close("all")


@pytest.fixture
def float64():
    """The test runs with float64 weights and arrays (``sn.config.set_floatx``), so that finite
    differences can be compared tightly (tests/gradcheck.py); _restore_globals puts float32 back."""
    sn.config.set_floatx("float64")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
