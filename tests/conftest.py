import numpy as np
import pytest

import scratchnet as sn


@pytest.fixture(autouse=True)
def _restore_globals():
    """Tests may change floatx or the backend; put them back afterwards."""
    floatx, backend = sn.config.floatx(), sn.get_backend()
    yield
    sn.config.set_floatx(floatx)
    sn.set_backend(backend)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
