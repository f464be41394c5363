"""Global settings, like ``keras.config``: the float type new weights and inputs use."""

from __future__ import annotations

import numpy as np

_FLOATX = "float32"
_ALLOWED = ("float32", "float64")


def floatx() -> str:
    """The default float type, ``"float32"`` unless :func:`set_floatx` changed it."""
    return _FLOATX


def set_floatx(value: str) -> None:
    """Set the float type for weights built and inputs cast from now on (like Keras)."""
    global _FLOATX
    if value not in _ALLOWED:
        raise ValueError(f"set_floatx: expected one of {_ALLOWED}, received {value!r}")
    _FLOATX = value


def dtype() -> np.dtype:
    """The NumPy dtype of :func:`floatx`."""
    return np.dtype(_FLOATX)


def dtype_policy():
    """The global dtype policy, ``DTypePolicy(floatx())`` (:mod:`scratchnet.dtype_policies`)."""
    from scratchnet import dtype_policies

    return dtype_policies.dtype_policy()


def set_dtype_policy(policy) -> None:
    """Set the global dtype policy: "float32" or "float64" (which sets :func:`set_floatx`); the
    mixed policies are refused (:mod:`scratchnet.dtype_policies` says why)."""
    from scratchnet import dtype_policies

    dtype_policies.set_dtype_policy(policy)


# ----------------------------------------------------------------------------- the rest of keras.config
# Each name as Keras has it. Some settings describe what scratchnet cannot change (the image
# layout, the fuzz factor the losses are written with): those accept Keras' default and refuse
# anything else, saying why, rather than pretend.

def epsilon() -> float:
    """Keras' fuzz factor, ``1e-7``."""
    from scratchnet.backend import epsilon as keras_epsilon

    return keras_epsilon()


def set_epsilon(value) -> None:
    """Only Keras' default ``1e-7``: scratchnet's formulas are written with it (see
    :func:`scratchnet.backend.set_epsilon`)."""
    from scratchnet.backend import set_epsilon as set_keras_epsilon

    set_keras_epsilon(value)


def image_data_format() -> str:
    """``"channels_last"``, the only layout scratchnet's layers have."""
    return "channels_last"


def set_image_data_format(data_format) -> None:
    """``"channels_last"`` accepted; ``"channels_first"`` refused (scratchnet's images are NHWC)."""
    from scratchnet.backend import set_image_data_format as set_format

    set_format(data_format)


def backend() -> str:
    """The array library scratchnet computes with: ``"numpy"``, ``"numba"`` or ``"cupy"``."""
    from scratchnet.kernels import get_backend

    return get_backend()


def set_backend(backend) -> None:
    """Switch scratchnet's kernels (``"numpy"``, ``"numba"``, ``"cupy"``; Keras' names
    ``"tensorflow"``, ``"jax"``, ``"torch"`` are not scratchnet's and are refused)."""
    from scratchnet.kernels import set_backend as set_kernels

    set_kernels(backend)


_MAX_EPOCHS: int | None = None
_MAX_STEPS_PER_EPOCH: int | None = None


def _limit(value, name: str):
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"set_{name}: expected a positive int or None, received {value!r}")
    return value


def set_max_epochs(max_epochs) -> None:
    """Cap the epochs of every ``fit`` (a debugging aid, as in Keras); None: no cap."""
    global _MAX_EPOCHS
    _MAX_EPOCHS = _limit(max_epochs, "max_epochs")


def max_epochs():
    """The cap :func:`set_max_epochs` set, or None."""
    return _MAX_EPOCHS


def set_max_steps_per_epoch(max_steps_per_epoch) -> None:
    """Cap the batches of each ``fit`` epoch (None: no cap)."""
    global _MAX_STEPS_PER_EPOCH
    _MAX_STEPS_PER_EPOCH = _limit(max_steps_per_epoch, "max_steps_per_epoch")


def max_steps_per_epoch():
    """The cap :func:`set_max_steps_per_epoch` set, or None."""
    return _MAX_STEPS_PER_EPOCH


def capped(epochs: int, steps_per_epoch):
    """``fit``'s ``epochs`` and ``steps_per_epoch`` within the caps, as Keras' trainer limits them."""
    if _MAX_EPOCHS and _MAX_EPOCHS < epochs:
        epochs = _MAX_EPOCHS
    if _MAX_STEPS_PER_EPOCH and (not steps_per_epoch or _MAX_STEPS_PER_EPOCH < steps_per_epoch):
        steps_per_epoch = _MAX_STEPS_PER_EPOCH
    return epochs, steps_per_epoch


_INTERACTIVE_LOGGING = True
_TRACEBACK_FILTERING = True
_FLASH_ATTENTION = None


def enable_interactive_logging() -> None:
    """Progress to stdout (a live bar with ``verbose=1``), the default."""
    global _INTERACTIVE_LOGGING
    _INTERACTIVE_LOGGING = True


def disable_interactive_logging() -> None:
    """Progress to Python's ``logging`` (logger ``"scratchnet"``, INFO), one line per epoch, as
    Keras sends it to absl logging: for logs that are not a terminal."""
    global _INTERACTIVE_LOGGING
    _INTERACTIVE_LOGGING = False


def is_interactive_logging_enabled() -> bool:
    return _INTERACTIVE_LOGGING


def enable_traceback_filtering() -> None:
    """Keras hides its own frames in tracebacks; scratchnet hides none (a learner steps through
    them), so this only records the setting."""
    global _TRACEBACK_FILTERING
    _TRACEBACK_FILTERING = True


def disable_traceback_filtering() -> None:
    global _TRACEBACK_FILTERING
    _TRACEBACK_FILTERING = False


def is_traceback_filtering_enabled() -> bool:
    return _TRACEBACK_FILTERING


def enable_flash_attention() -> None:
    """Refused: scratchnet has no flash-attention kernel (``ops.dot_product_attention`` computes
    the plain formula)."""
    raise ValueError("enable_flash_attention: scratchnet has no flash attention kernel; attention is "
                     "computed as softmax(Q K^T * scale) V")


def disable_flash_attention() -> None:
    global _FLASH_ATTENTION
    _FLASH_ATTENTION = False


def is_flash_attention_enabled():
    """None (Keras' default: decided per call) until :func:`disable_flash_attention`; never True."""
    return _FLASH_ATTENTION


def enable_unsafe_deserialization() -> None:
    """Keras lets ``load_model`` run code from a file after this; scratchnet never runs code from
    files (see :func:`scratchnet.saving.load_model`), so there is nothing to enable."""


def is_nnx_enabled() -> bool:
    """Flax NNX is a JAX feature: always False."""
    return False


# Keras' per-prefix counters (keras.backend.get_uid), restarted by clear_session.
_OBJECT_NAME_UIDS: dict[str, int] = {}


def get_uid(prefix: str = "") -> int:
    """``keras.backend.get_uid``: 1 the first time ``prefix`` is asked for, then 2, 3, ...
    (until :func:`scratchnet.utils.clear_session`)."""
    _OBJECT_NAME_UIDS[prefix] = _OBJECT_NAME_UIDS.get(prefix, 0) + 1
    return _OBJECT_NAME_UIDS[prefix]


def reset_uids() -> None:
    _OBJECT_NAME_UIDS.clear()
