"""Keras' ``keras.backend`` names that course programs call (``tf.keras.backend.clear_session()``
before each new model, ``keras.backend.floatx()``): the same functions as :mod:`scratchnet.config`
and :func:`scratchnet.utils.clear_session`, under the module name those programs use."""

from scratchnet.config import floatx, set_floatx
from scratchnet.losses import EPSILON
from scratchnet.utils import clear_session


def epsilon() -> float:
    """Keras' fuzz factor, ``1e-7``: the constant the losses clip probabilities with."""
    return EPSILON


def image_data_format() -> str:
    """Always ``"channels_last"``: scratchnet's images are NHWC, Keras' default."""
    return "channels_last"


def backend() -> str:
    """The array library scratchnet computes with (``"numpy"``, ``"numba"`` or ``"cupy"``)."""
    from scratchnet.kernels import get_backend
    return get_backend()


__all__ = ["clear_session", "floatx", "set_floatx", "epsilon", "image_data_format", "backend"]
