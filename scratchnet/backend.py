"""Keras' ``keras.backend`` names that course programs call (``tf.keras.backend.clear_session()``
before each new model, ``keras.backend.floatx()``): the same functions as :mod:`scratchnet.config`
and :func:`scratchnet.utils.clear_session`, under the module name those programs use."""

from scratchnet.backend_dtypes import is_float_dtype, is_int_dtype, result_type, standardize_dtype
from scratchnet.config import floatx, get_uid, set_floatx
from scratchnet.losses import EPSILON
from scratchnet.utils import clear_session


def epsilon() -> float:
    """Keras' fuzz factor, ``1e-7``: the constant the losses clip probabilities with."""
    return EPSILON


def set_epsilon(value: float) -> None:
    """Keras' ``set_epsilon``. scratchnet's losses, metrics and layers are written with Keras'
    default ``1e-7`` as a constant (each formula shows its number), so only that value is
    accepted; another is refused rather than silently ignored."""
    if isinstance(value, bool) or not isinstance(value, int | float) or float(value) != EPSILON:
        raise ValueError(f"set_epsilon: scratchnet computes with Keras' default epsilon {EPSILON} "
                         f"everywhere and cannot change it; received {value!r}")


def image_data_format() -> str:
    """Always ``"channels_last"``: scratchnet's images are NHWC, Keras' default."""
    return "channels_last"


def set_image_data_format(data_format: str) -> None:
    """Keras' ``set_image_data_format``: scratchnet's layers are channels-last only, so
    ``"channels_last"`` is accepted and ``"channels_first"`` refused (Keras' own check first:
    anything else is not a data format at all)."""
    data_format = str(data_format).lower()
    if data_format not in {"channels_first", "channels_last"}:
        raise ValueError("The `data_format` argument must be one of {'channels_first', "
                         f"'channels_last'}}. Received: data_format={data_format}")
    if data_format == "channels_first":
        raise ValueError("set_image_data_format: scratchnet's images are channels_last (NHWC) in "
                         "every layer; channels_first is not supported. Transpose your arrays "
                         "instead: x.transpose(0, 2, 3, 1)")


def is_keras_tensor(x) -> bool:
    """True for a symbolic tensor (``sn.Input(...)`` and the layer outputs built from it)."""
    from scratchnet.layers.input_layer import KerasTensor

    return isinstance(x, KerasTensor)


def backend() -> str:
    """The array library scratchnet computes with (``"numpy"``, ``"numba"`` or ``"cupy"``)."""
    from scratchnet.kernels import get_backend
    return get_backend()


__all__ = ["clear_session", "get_uid", "floatx", "set_floatx", "epsilon", "image_data_format", "backend",
           "set_epsilon", "set_image_data_format", "is_keras_tensor", "standardize_dtype",
           "is_float_dtype", "is_int_dtype", "result_type"]
