"""Argument checks shared by the layer constructors (Keras' wording)."""

from __future__ import annotations

import numbers


def positive_int(value, arg: str, layer: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{layer}: expected {arg} to be a positive integer, received {value!r}")
    return int(value)


def int_tuple(value, n: int, arg: str, layer: str) -> tuple[int, ...]:
    """``3`` -> ``(3, 3)``; ``(2, 3)`` stays; anything else raises naming ``arg``."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value,) * n
    if not isinstance(value, tuple | list) or len(value) != n:
        raise ValueError(
            f"{layer}: expected {arg} to be an int or a tuple of {n} ints, received {value!r}"
        )
    return tuple(positive_int(v, arg, layer) for v in value)


def padding_mode(value, layer: str, allowed: tuple[str, ...] = ("valid", "same")) -> str:
    if not isinstance(value, str) or value.lower() not in allowed:
        raise ValueError(f"{layer}: expected padding to be one of {allowed}, received {value!r}")
    return value.lower()


def output_size_and_pads(n: int, k: int, s: int, d: int, padding: str) -> tuple[int, int, int]:
    """Output length and (pad before, pad after) along one axis, as TensorFlow computes them.

    Effective kernel ``e = (k - 1) * d + 1``. VALID: ``out = (n - e) // s + 1``, no padding.
    SAME: ``out = ceil(n / s)``, total pad ``P = max(0, (out - 1) * s + e - n)``, ``before = P // 2``
    and the odd cell goes after (bottom/right).
    """
    e = (k - 1) * d + 1
    if padding == "valid":
        return (n - e) // s + 1, 0, 0
    out = -(-n // s)
    total = max(0, (out - 1) * s + e - n)
    return out, total // 2, total - total // 2


def channels_last(value, layer: str) -> str:
    """Keras' ``data_format``: ``None`` means ``"channels_last"``, the only layout scratchnet has."""
    if value not in (None, "channels_last"):
        raise ValueError(f"{layer}: expected data_format to be 'channels_last' (or None), "
                         f"received {value!r}; scratchnet keeps data channels-last (NHWC)")
    return "channels_last"


def check_rank(layer_name: str, input_shape, axes: str) -> None:
    """Keras' error for an input of the wrong rank. ``axes`` names the expected axes, batch
    included, e.g. ``"(batch, height, width, channels)"``; ``input_shape`` excludes the batch."""
    ndim = axes.count(",") + 1
    if len(input_shape) + 1 != ndim:
        raise ValueError(
            f'Input 0 of layer "{layer_name}" is incompatible with the layer: expected ndim={ndim} '
            f"{axes}, found ndim={len(input_shape) + 1}. "
            f"Full shape received: {(None,) + tuple(input_shape)}"
        )


def window_args(layer, where: str, rank: int, kernel_size, strides, padding, dilation_rate,
                paddings: tuple[str, ...] = ("valid", "same"), strided_dilation: bool = False) -> None:
    """A convolution's window, checked and set on ``layer``: ``kernel_size``, ``strides``,
    ``dilation_rate`` as ``rank``-tuples of positive ints, ``padding`` one of ``paddings``.
    ``strided_dilation=False``: strides and dilation both above 1 raise, as Keras' Conv layers do."""
    layer.kernel_size = int_tuple(kernel_size, rank, "kernel_size", where)
    layer.strides = int_tuple(strides, rank, "strides", where)
    layer.padding = padding_mode(padding, where, allowed=paddings)
    layer.dilation_rate = int_tuple(dilation_rate, rank, "dilation_rate", where)
    if not strided_dilation and max(layer.strides) > 1 and max(layer.dilation_rate) > 1:
        raise ValueError(f"{where}: strides > 1 not supported in conjunction with dilation_rate > 1; "
                         f"received strides={layer.strides} and dilation_rate={layer.dilation_rate}")
