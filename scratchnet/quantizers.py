"""``keras.quantizers``: the arithmetic of post-training quantization, in NumPy.

Abs-max ("symmetric") int8 quantization, what ``model.quantize("int8")`` runs on every Dense,
EinsumDense and Embedding (``keras/src/quantizers/quantizers.py``)::

    scale = value_range[1] / (max(|x|, over axis) + epsilon)      (127 / (amax + 1e-7) for int8)
    q     = clip(round(x * scale), value_range[0], value_range[1])  as int8   (round: half to even)
    x    ~= q / scale                                               (dequantized)

so the largest magnitude along ``axis`` becomes +-127 and every other value a whole number of
``1 / scale`` steps. A quantized Dense keeps ``q`` of its kernel (reduced over the input axis, one
scale per unit) and quantizes its inputs the same way at each call (one scale per row)::

    y = (q_x @ q_W) / (scale_x * scale_W) + bias                 (the product in exact integers)

``quantize("int4")`` (Dense, EinsumDense, Embedding) uses the range ``[-8, 7]``, weights only,
either one scale per unit or (Keras' default, ``block_size=128``) a scale and a zero point per
group of input rows (:func:`abs_max_quantize_grouped_with_zero_point`), the values packed two a
byte (:func:`pack_int4`).

Also here: float8 scaling (:func:`compute_float8_scale`, :func:`compute_float8_amax_history`,
:func:`quantize_and_dequantize`), :func:`fake_quant_with_min_max_vars` (TensorFlow's fake-quant
op), :func:`pack_int4` / :func:`unpack_int4` (two int4 values per byte), the
:class:`Quantizer` / :class:`AbsMaxQuantizer` classes and the quantization configs
(:class:`Int8QuantizationConfig`, ...) that ``quantize(config=...)`` takes.

GPTQ and AWQ (``GPTQConfig``, ``AWQConfig``) are calibration algorithms that run a data set
through the model layer by layer and solve for the quantized weights; scratchnet does not have
them, and their names raise ``NotImplementedError`` saying so.
"""

from __future__ import annotations

import inspect
import math
import re

import numpy as np

from scratchnet import kernels
from scratchnet.dtype_policies import QUANTIZATION_MODES

_EPSILON = 1e-7  # keras.backend.epsilon(), Keras' default at import time


def _float_array(x, where: str) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype.kind == "f":
        return x
    if x.dtype.kind in "iub":
        from scratchnet import config

        return x.astype(config.floatx())
    raise TypeError(f"{where}: expected an array of numbers, received dtype {x.dtype}")


def abs_max_quantize(inputs, axis, value_range=(-127, 127), dtype="int8", epsilon=_EPSILON,
                     to_numpy=False):
    """``(q, scale)``: ``inputs`` quantized with one abs-max scale per slice along ``axis``::

        scale = value_range[1] / (max(|inputs|, axis, keepdims) + epsilon)   (inputs' float type)
        q     = clip(round(inputs * scale), *value_range).astype(dtype)

    ``axis``: an int or a tuple of ints, the axes reduced (``scale`` keeps them as size 1).
    ``to_numpy`` is accepted for Keras' signature (scratchnet always computes in NumPy).
    Returns ``q`` (``inputs``' shape, ``dtype``) and ``scale``.
    """
    del to_numpy  # (Keras: compute on the host to save device memory; here where x lives)
    # a GPU array (a layer's call on the cupy backend) stays there: NumPy's functions dispatch to CuPy
    x = inputs if kernels.is_device_array(inputs) else _float_array(inputs, "abs_max_quantize")
    f = x.dtype.type
    axis = tuple(axis) if isinstance(axis, list | tuple) else axis
    amax = np.max(np.abs(x), axis=axis, keepdims=True)
    scale = f(value_range[1]) / (amax + f(epsilon))
    q = np.clip(np.round(x * scale), value_range[0], value_range[1]).astype(dtype)
    return q, scale


def abs_max_quantize_grouped_with_zero_point(inputs, block_size, value_range=(-8, 7), dtype="int8",
                                             epsilon=_EPSILON, to_numpy=False):
    """Asymmetric quantization of a 2-D ``(input_dim, output_dim)`` array in groups of
    ``block_size`` rows (the last group zero-padded), each group with its own scale and zero
    point per column::

        scale = (max - min + epsilon) / (qmax - qmin)          zero = clip(round(-min / scale) + qmin)
        q     = clip(round(x / scale) + zero, qmin, qmax)

    Returns ``(q, scale, zero)``, the last two ``(ceil(input_dim / block_size), output_dim)``
    (``zero`` int8), as Keras' NumPy path computes them."""
    del to_numpy
    x = _float_array(inputs, "abs_max_quantize_grouped_with_zero_point")
    if x.ndim != 2:
        raise ValueError("abs_max_quantize_grouped_with_zero_point: expected a 2-D (input_dim, "
                         f"output_dim) array, received shape {x.shape}")
    input_dim, output_dim = x.shape
    n_groups = math.ceil(input_dim / block_size)
    qmin, qmax = value_range
    padded = np.concatenate([x, np.zeros((n_groups * block_size - input_dim, output_dim), x.dtype)])
    groups = padded.reshape(n_groups, block_size, output_dim)  # (groups, block, out)
    low = np.min(groups, axis=1, keepdims=True)
    high = np.max(groups, axis=1, keepdims=True)
    scale = np.divide(np.subtract(high, low) + epsilon, qmax - qmin)
    zero = np.clip(np.round(np.divide(-low, scale)) + qmin, qmin, qmax)
    q = np.clip(np.round(np.divide(groups, scale)) + zero, qmin, qmax).astype(dtype)
    q = q.reshape(n_groups * block_size, output_dim)[:input_dim]
    return q, np.squeeze(scale, axis=1).astype(x.dtype), np.squeeze(zero, axis=1).astype("int8")


def fake_quant_with_min_max_vars(inputs, min_vals, max_vals, num_bits=8, narrow_range=False,
                                 axis=None):
    """Quantize to ``num_bits`` levels between ``min_vals`` and ``max_vals`` and back (TensorFlow's
    ``fake_quant_with_min_max_vars``, what Keras runs on its TensorFlow backend). The range is
    first "nudged" so that 0.0 is exactly representable::

        qmin, qmax = (1 if narrow_range else 0), 2**num_bits - 1
        scale      = (max - min) / (qmax - qmin)        inv_scale = (qmax - qmin) / (max - min)
        zero       = round_half_away(qmin - min / scale), clipped to [qmin, qmax]
        nudged_min = (qmin - zero) * scale              nudged_max = (qmax - zero) * scale
        y = floor((clip(x, nudged_min, nudged_max) - nudged_min) * inv_scale
                  - floor(-nudged_min * inv_scale + 0.5) + 0.5) * scale

    ``axis``: None for one range (scalars ``min_vals``/``max_vals``), else the axis the per-channel
    ranges run along. Computed in float32, as TensorFlow's op; returns ``inputs``' dtype.
    (Forward only: its gradient passes ``dy`` where ``nudged_min <= x <= nudged_max``.)
    """
    x = _float_array(inputs, "fake_quant_with_min_max_vars")
    dtype = x.dtype
    x = x.astype(np.float32)
    low = np.asarray(min_vals, dtype=np.float32)
    high = np.asarray(max_vals, dtype=np.float32)
    if axis is None:
        low, high = low.reshape(()), high.reshape(())
    else:
        axis = axis % x.ndim
        shape = [1] * x.ndim
        shape[axis] = -1
        low, high = low.reshape(shape), high.reshape(shape)  # broadcast along the channel axis
    qmin = np.float32(1 if narrow_range else 0)
    qmax = np.float32((1 << int(num_bits)) - 1)
    scale = (high - low) / (qmax - qmin)
    inv_scale = (qmax - qmin) / (high - low)
    zero_from_min = qmin - low / scale
    zero = np.clip(np.sign(zero_from_min) * np.floor(np.abs(zero_from_min) + np.float32(0.5)),
                   qmin, qmax)  # std::round: half away from zero
    nudged_min = (qmin - zero) * scale
    nudged_max = (qmax - zero) * scale
    quant_zero = np.floor(-nudged_min * inv_scale + np.float32(0.5))
    shifted = np.clip(x, nudged_min, nudged_max) - nudged_min
    y = np.floor(shifted * inv_scale - quant_zero + np.float32(0.5)) * scale
    return y.astype(dtype)


def compute_float8_scale(amax, scale, dtype_max, margin=0):
    """The next float8 scale from the running abs-max ``amax`` (Transformer Engine's rule)::

        new = 1 / ((dtype_max / amax) / 2**margin)   where amax > 0 and finite, else ``scale``
    """
    amax = np.asarray(amax)
    scale = np.asarray(scale)
    f = np.result_type(amax.dtype, scale.dtype, np.float32).type
    reciprocal = f(1) / scale.astype(f)
    with np.errstate(divide="ignore", invalid="ignore"):
        sf = (f(dtype_max) / amax.astype(f)) / f(2 ** margin)
    sf = np.where(amax > 0.0, sf, reciprocal)
    sf = np.where(np.isfinite(amax), sf, reciprocal)
    return (f(1) / sf).astype(f)


def compute_float8_amax_history(x, amax_history):
    """``amax_history`` rolled one step left, ``max(|x|)`` written at position 0."""
    history = np.asarray(amax_history)
    new = np.roll(history, shift=-1).copy()
    new[0] = np.max(np.abs(np.asarray(x))).astype(history.dtype)
    return new


def quantize_and_dequantize(inputs, scale, quantized_dtype, compute_dtype):
    """``cast(clip(inputs / scale, -max, max), quantized_dtype) * scale`` in ``compute_dtype``:
    the rounding a float8 (``"float8_e4m3fn"``, ``"float8_e5m2"``) cast makes. Needs the
    ``ml_dtypes`` package for the float8 types."""
    try:
        import ml_dtypes
    except ImportError as err:  # pragma: no cover (installed with TensorFlow and JAX)
        raise ImportError("quantize_and_dequantize needs the ml_dtypes package for float8 "
                          "types (pip install ml_dtypes)") from err
    qtype = np.dtype(getattr(ml_dtypes, quantized_dtype)) if isinstance(quantized_dtype, str) \
        else np.dtype(quantized_dtype)
    cdtype = np.dtype(compute_dtype)
    qmax = cdtype.type(float(ml_dtypes.finfo(qtype).max))
    s = np.asarray(scale).astype(cdtype)
    x = np.clip(np.asarray(inputs) / s, -qmax, qmax).astype(qtype)
    return x.astype(cdtype) * s


def pack_int4(arr, axis=0, dtype="int8"):
    """Two int4 values (``[-8, 7]``) per byte along ``axis``: the even row in the low nibble, the
    odd row in the high one (an odd length is padded with a 0 row). Returns ``(packed,
    packed_shape, orig_len)``."""
    if dtype not in ("int8", "uint8"):
        raise ValueError(f"Expected dtype to be 'int8' or 'uint8', but got '{dtype}'.")
    arr = np.asarray(arr)
    if arr.dtype != np.dtype(dtype):
        raise TypeError(f"Expected {dtype} tensor for packing, got {arr.dtype}.")
    axis = axis + arr.ndim if axis < 0 else axis
    rows = np.moveaxis(arr, axis, 0)  # the packed axis first
    n = rows.shape[0]
    if n % 2 == 1:
        rows = np.concatenate([rows, np.zeros((1,) + rows.shape[1:], dtype=rows.dtype)])
    mask = np.array(0x0F, dtype=dtype)
    low = np.bitwise_and(rows[::2], mask)
    high = np.bitwise_and(rows[1::2], mask)
    packed = np.bitwise_or(low, np.left_shift(high, np.array(4, dtype=dtype))).astype(dtype)
    packed = np.moveaxis(packed, 0, axis)
    return packed, tuple(packed.shape), n


def unpack_int4(packed, orig_len, axis=0, dtype="int8"):
    """The inverse of :func:`pack_int4`: low nibble, then high nibble, each ``(v ^ 8) - 8`` to
    get the sign back (for ``dtype="int8"``), the padding row dropped."""
    if dtype not in ("int8", "uint8"):
        raise ValueError(f"Expected dtype to be 'int8' or 'uint8', but got '{dtype}'.")
    packed = np.asarray(packed)
    if packed.dtype not in (np.int8, np.uint8):
        raise TypeError(f"Expected int8 or uint8 tensor for unpacking, got {packed.dtype}")
    axis = axis + packed.ndim if axis < 0 else axis
    rows = np.moveaxis(packed, axis, 0)
    mask = np.array(0x0F, dtype=packed.dtype)
    low = np.bitwise_and(rows, mask)
    high = np.bitwise_and(np.right_shift(rows, np.array(4, dtype=packed.dtype)), mask)
    if dtype == "int8":
        eight = np.array(8, dtype=packed.dtype)
        low, high = np.bitwise_xor(low, eight) - eight, np.bitwise_xor(high, eight) - eight
    stacked = np.stack([low.astype(dtype), high.astype(dtype)], axis=1)  # (n/2, 2, ...)
    unpacked = stacked.reshape((-1,) + rows.shape[1:])[:orig_len]
    return np.moveaxis(unpacked, 0, axis)


class Quantizer:
    """Base class: ``q, scale = quantizer(x)``. ``output_dtype`` is the quantized type."""

    def __init__(self, output_dtype="int8"):
        self.output_dtype = output_dtype

    def __call__(self, x):
        return x

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def get_config(self) -> dict:
        raise NotImplementedError(f"{self} does not implement get_config()")


class AbsMaxQuantizer(Quantizer):
    """:func:`abs_max_quantize` as an object: ``AbsMaxQuantizer(axis=0)(kernel)`` gives the
    int8 kernel and its scales (one per column). ``axis`` (deprecated in Keras: give it at the
    call) defaults to -1 at the call."""

    def __init__(self, axis=None, value_range=(-127, 127), epsilon=_EPSILON, output_dtype="int8"):
        Quantizer.__init__(self, output_dtype=output_dtype)
        self.axis = None if axis is None else (axis,) if isinstance(axis, int) else tuple(axis)
        self.value_range = value_range
        self.epsilon = epsilon
        if output_dtype == "int8" and (value_range[0] < -128 or value_range[1] > 127):
            raise ValueError("Quantizer with output_dtype='int8' requires value_range to be within "
                             f"the interval [-128, 127]. Received: value_range={value_range}")

    def __call__(self, x, axis=None, to_numpy=False):
        axis = self.axis if axis is None else axis
        return abs_max_quantize(x, -1 if axis is None else axis, self.value_range,
                                self.output_dtype, self.epsilon, to_numpy)

    def get_config(self) -> dict:
        config = {"value_range": self.value_range, "epsilon": self.epsilon,
                  "output_dtype": self.output_dtype}
        if self.axis is not None:
            config["axis"] = self.axis
        return config


class QuantizationConfig:
    """Base of the configs ``quantize(config=...)`` takes: which quantizer makes the weights and
    which the inputs (None: the mode's default; an activation quantizer of None: weights only)."""

    def __init__(self, weight_quantizer=None, activation_quantizer=None):
        self.weight_quantizer = weight_quantizer
        self.activation_quantizer = activation_quantizer

    @property
    def mode(self) -> str:
        raise NotImplementedError("Subclasses must implement this property. Do not instantiate "
                                  "QuantizationConfig directly.")

    def get_config(self) -> dict:
        return {"weight_quantizer": serialize(self.weight_quantizer),
                "activation_quantizer": serialize(self.activation_quantizer)}

    @classmethod
    def from_config(cls, config: dict):
        return cls(weight_quantizer=deserialize(config.get("weight_quantizer")),
                   activation_quantizer=deserialize(config.get("activation_quantizer")))

    @staticmethod
    def weight_quantizer_or_default(config, default):
        if config is not None and config.weight_quantizer is not None:
            return config.weight_quantizer
        return default

    @staticmethod
    def activation_quantizer_or_default(config, default):
        return config.activation_quantizer if config is not None else default


class Int8QuantizationConfig(QuantizationConfig):
    """``mode="int8"``; the activation quantizer defaults to ``AbsMaxQuantizer()`` (per row)."""

    def __init__(self, weight_quantizer=None, activation_quantizer="default"):
        if isinstance(activation_quantizer, str) and activation_quantizer == "default":
            activation_quantizer = AbsMaxQuantizer()
        super().__init__(weight_quantizer, activation_quantizer)
        if self.weight_quantizer is not None and self.weight_quantizer.output_dtype != "int8":
            raise ValueError("Int8QuantizationConfig requires a weight_quantizer with "
                             f"output_dtype='int8'. Received: "
                             f"output_dtype={self.weight_quantizer.output_dtype}")

    @property
    def mode(self) -> str:
        return "int8"


class Int4QuantizationConfig(QuantizationConfig):
    """``mode="int4"`` (what Dense, EinsumDense and Embedding quantize to).
    ``block_size``: rows per group (sub-channel), or None / -1 for one scale per column."""

    def __init__(self, weight_quantizer=None, activation_quantizer="default", block_size=128):
        if isinstance(activation_quantizer, str) and activation_quantizer == "default":
            activation_quantizer = None  # weight-only by default for int4
        super().__init__(weight_quantizer, activation_quantizer)
        if block_size is not None and block_size != -1 and block_size <= 0:
            raise ValueError("block_size must be None, -1, or a positive integer. Received: "
                             f"block_size={block_size}")
        self.block_size = block_size
        if block_size is not None and block_size > 0 and (
                self.weight_quantizer is not None or self.activation_quantizer is not None):
            raise ValueError("Int4 sub-channel quantization (block_size > 0) does not support custom "
                             "quantizers. Either set block_size to None or -1 for per-channel "
                             "quantization, or remove the custom quantizer arguments. Received: "
                             f"block_size={block_size}")

    @property
    def mode(self) -> str:
        return "int4"

    def get_config(self) -> dict:
        return {**super().get_config(), "block_size": self.block_size}

    @classmethod
    def from_config(cls, config: dict):
        return cls(weight_quantizer=deserialize(config.get("weight_quantizer")),
                   activation_quantizer=deserialize(config.get("activation_quantizer")),
                   block_size=config.get("block_size", None))


class Float8QuantizationConfig(QuantizationConfig):
    """``mode="float8"`` (Keras' config; scratchnet's layers quantize to int8 only)."""

    def __init__(self):
        super().__init__(None, None)

    @property
    def mode(self) -> str:
        return "float8"

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict):
        return cls()


_CALIBRATION = ("{name} is Keras' {algo} calibration: it runs a calibration data set through the "
                "model block by block and solves for the quantized weights. scratchnet does not "
                "implement it; model.quantize('int8') is the post-training quantization it has.")


class GPTQConfig:
    """Keras' GPTQ configuration: not implemented in scratchnet (raises on construction)."""

    def __init__(self, *args, **kwargs):
        raise NotImplementedError(_CALIBRATION.format(name="GPTQConfig", algo="GPTQ"))


class AWQConfig:
    """Keras' AWQ configuration: not implemented in scratchnet (raises on construction)."""

    def __init__(self, *args, **kwargs):
        raise NotImplementedError(_CALIBRATION.format(name="AWQConfig", algo="AWQ"))


_CLASSES = {cls.__name__: cls for cls in (Quantizer, AbsMaxQuantizer, QuantizationConfig,
                                          Int8QuantizationConfig, Int4QuantizationConfig,
                                          Float8QuantizationConfig, GPTQConfig, AWQConfig)}
_CLASSES.update({re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower(): cls
                 for name, cls in list(_CLASSES.items())})


def serialize(quantizer) -> dict | None:
    """Keras' form: ``{"module": "keras.quantizers", "class_name": ..., "config": ...,
    "registered_name": None}`` (None stays None)."""
    if quantizer is None:
        return None
    config = quantizer.get_config()
    config = {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}
    return {"module": "keras.quantizers", "class_name": type(quantizer).__name__, "config": config,
            "registered_name": None}


def deserialize(config, custom_objects=None):
    """The quantizer or config :func:`serialize` (or Keras) wrote; None stays None."""
    if config is None:
        return None
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Could not interpret quantizer identifier: {config}")
    cls = (custom_objects or {}).get(config["class_name"]) or _CLASSES.get(config["class_name"])
    if cls is None:
        raise ValueError(f"Unknown quantizer class {config['class_name']!r}; known: "
                         f"{sorted(n for n in _CLASSES if n[0].isupper())}")
    inner = dict(config.get("config") or {})
    if "value_range" in inner:
        inner["value_range"] = tuple(inner["value_range"])
    if "axis" in inner and isinstance(inner["axis"], list):
        inner["axis"] = tuple(inner["axis"])
    return cls.from_config(inner)


def get(identifier, **kwargs):
    """A quantizer from None, a config dict, a class name (``"AbsMaxQuantizer"`` or
    ``"abs_max_quantizer"``: the class made with ``kwargs``' arguments, as Keras) or an object."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        obj = deserialize(identifier)
    elif isinstance(identifier, str):
        obj = _CLASSES.get(identifier, None)
    else:
        obj = identifier
    if callable(obj):
        if inspect.isclass(obj):
            obj = obj(kwargs)  # (Keras passes the kwargs dict as the first argument, as here)
        return obj
    raise ValueError(f"Could not interpret quantizer identifier: {identifier}")


def validate_and_resolve_config(mode, config):
    """Keras' ``quantize(mode, config)`` rules: a mode alone gets its default config, a config
    names its mode, the two must agree; errors in Keras' words."""
    if isinstance(config, str):
        mode, config = config, None
    _validate_mode(mode)
    if config is None:
        defaults = {"int8": Int8QuantizationConfig, "int4": Int4QuantizationConfig,
                    "float8": Float8QuantizationConfig}
        if mode in defaults:
            return defaults[mode]()
        if mode == "gptq":
            raise ValueError("For GPTQ, you must pass a `GPTQConfig` object in the `config` argument.")
        if mode == "awq":
            raise ValueError("For AWQ, you must pass an `AWQConfig` object in the `config` argument.")
        raise ValueError("You must provide either `mode` or `config` to `quantize`.")
    if not isinstance(config, QuantizationConfig):
        raise ValueError("Argument `config` must be an instance of `QuantizationConfig`. "
                         f"Received: config={config} (of type {type(config)})")
    if mode is not None and config.mode != mode:
        raise ValueError(f"Contradictory arguments: mode='{mode}' but config.mode='{config.mode}'")
    _validate_mode(config.mode)
    return config


def _validate_mode(mode) -> None:
    if mode is not None and mode not in QUANTIZATION_MODES:
        raise ValueError("Invalid quantization mode. "
                         f"Expected one of {QUANTIZATION_MODES}. Received: mode={mode}")


__all__ = ["Quantizer", "AbsMaxQuantizer", "QuantizationConfig", "Int8QuantizationConfig",
           "Int4QuantizationConfig", "Float8QuantizationConfig", "GPTQConfig", "AWQConfig",
           "abs_max_quantize", "abs_max_quantize_grouped_with_zero_point", "compute_float8_scale",
           "compute_float8_amax_history", "quantize_and_dequantize", "fake_quant_with_min_max_vars",
           "pack_int4", "unpack_int4", "serialize", "deserialize", "get"]


def block_size_for_layer(layer, config):
    """Keras' ``get_block_size_for_layer`` for int4: the config's ``block_size``, else the one an
    ``Int4DTypePolicy`` names (``"int4/128_from_float32"``: 128; -1 means None), else None (one
    scale per output unit)."""
    from scratchnet.dtype_policies import Int4DTypePolicy

    if isinstance(config, Int4QuantizationConfig):
        return config.block_size
    policy = getattr(layer, "_quantized_policy", None)
    if isinstance(policy, Int4DTypePolicy):
        return None if policy.block_size == -1 else policy.block_size
    return None


def config_argument(value, where: str):
    """A layer's ``quantization_config=`` argument: None, a :class:`QuantizationConfig`, or its
    serialized form (what a saved quantized layer's config holds)."""
    if isinstance(value, dict):
        value = deserialize(value)
    if value is not None and not isinstance(value, QuantizationConfig):
        raise ValueError(f"{where}: expected quantization_config to be None or a "
                         f"QuantizationConfig, received {value!r}")
    return value
