"""``keras.InputSpec``: what a layer declares about its inputs, checked on every call.

A custom layer sets ``self.input_spec = InputSpec(ndim=4, axes={-1: 3})`` (in ``__init__`` or
``build``); calling it on a tensor of another rank, channel count, shape or dtype then raises
Keras' error, naming the layer and what it expected, before any arithmetic runs.
"""

from __future__ import annotations

from scratchnet.backend_dtypes import standardize_dtype


class InputSpec:
    """``keras.InputSpec(dtype=None, shape=None, ndim=None, max_ndim=None, min_ndim=None,
    axes=None, allow_last_axis_squeeze=False, name=None, optional=False)``.

    ``shape`` includes the batch axis (``None`` fits any size) and sets ``ndim``; ``axes`` maps
    an axis (negative counts from the end) to its required size. ``allow_last_axis_squeeze``
    ignores a trailing axis of size 1 on either side when comparing ``shape``.
    """

    def __init__(self, dtype=None, shape=None, ndim=None, max_ndim=None, min_ndim=None, axes=None,
                 allow_last_axis_squeeze=False, name=None, optional=False):
        self.dtype = standardize_dtype(dtype) if dtype is not None else None
        if shape is not None:
            self.shape = tuple(None if d is None else int(d) for d in shape)
            self.ndim = len(self.shape)
        else:
            self.shape, self.ndim = None, ndim
        self.max_ndim, self.min_ndim = max_ndim, min_ndim
        self.name, self.optional = name, optional
        self.allow_last_axis_squeeze = allow_last_axis_squeeze
        try:
            axes = axes or {}
            self.axes = {int(k): axes[k] for k in axes}
        except (ValueError, TypeError) as err:
            raise TypeError(f"Argument `axes` must be a dict with integer keys. Received: axes={axes}") \
                from err
        if self.axes and (self.ndim is not None or self.max_ndim is not None):
            max_dim = (self.ndim if self.ndim else self.max_ndim) - 1
            if max(self.axes) > max_dim:
                raise ValueError(f"Axis {max(self.axes)} is greater than the maximum allowed value: "
                                 f"{max_dim}")

    def __repr__(self) -> str:
        parts = [f"{key}={value}" for key, value in (
            ("dtype", self.dtype), ("shape", self.shape), ("ndim", self.ndim),
            ("max_ndim", self.max_ndim), ("min_ndim", self.min_ndim), ("axes", self.axes)) if value]
        return f"InputSpec({', '.join(parts)})"

    def get_config(self) -> dict:
        return {"dtype": self.dtype, "shape": self.shape, "ndim": self.ndim, "max_ndim": self.max_ndim,
                "min_ndim": self.min_ndim, "axes": self.axes, "optional": self.optional}

    @classmethod
    def from_config(cls, config: dict) -> InputSpec:
        return cls(**config)


def assert_input_compatibility(input_spec, inputs, layer_name: str) -> None:
    """Raise Keras' ``ValueError`` if ``inputs`` (an array, a KerasTensor or a list of them, with
    their batch axis) break ``input_spec`` (one InputSpec or a list, one per input)."""
    if not input_spec:
        return
    specs = list(input_spec) if isinstance(input_spec, list | tuple) else [input_spec]
    if isinstance(inputs, dict) and all(spec is not None and spec.name for spec in specs):
        names = [spec.name for spec in specs]
        missing = [name for name in names if name not in inputs]
        if missing:
            raise ValueError(f'Missing data for input "{missing[0]}". You passed a data dictionary with '
                             f"keys {list(inputs)}. Expected the following keys: {names}")
        inputs = [inputs[name] for name in names]
    inputs = list(inputs) if isinstance(inputs, list | tuple) else [inputs]
    if len(inputs) != len(specs):
        raise ValueError(f'Layer "{layer_name}" expects {len(specs)} input(s), but it received '
                         f"{len(inputs)} input tensors.")
    for index, (x, spec) in enumerate(zip(inputs, specs, strict=True)):
        if spec is None or (x is None and spec.optional):
            continue
        if not hasattr(x, "shape"):
            raise ValueError(f"Inputs to a layer should be tensors. Got '{x}' (of type {type(x)}) as "
                             f"input for layer '{layer_name}'.")
        shape = tuple(None if d is None else int(d) for d in x.shape)
        ndim = len(shape)
        where = (f"Input {index} with name '{spec.name}' of layer '{layer_name}' is incompatible with "
                 "the layer")
        if spec.ndim is not None and not spec.allow_last_axis_squeeze and ndim != spec.ndim:
            raise ValueError(f"{where}: expected ndim={spec.ndim}, found ndim={ndim}. Full shape "
                             f"received: {shape}")
        if spec.max_ndim is not None and ndim > spec.max_ndim:
            raise ValueError(f"{where}: expected max_ndim={spec.max_ndim}, found ndim={ndim}")
        if spec.min_ndim is not None and ndim < spec.min_ndim:
            raise ValueError(f"{where}: expected min_ndim={spec.min_ndim}, found ndim={ndim}. Full "
                             f"shape received: {shape}")
        if spec.dtype is not None and x.dtype is not None and standardize_dtype(x.dtype) != spec.dtype:
            raise ValueError(f"{where}: expected dtype={spec.dtype}, found "
                             f"dtype={standardize_dtype(x.dtype)}")
        for axis, value in spec.axes.items():
            if value is not None and shape[axis] not in (value, None):
                raise ValueError(f"{where}: expected axis {axis} of input shape to have value {value}, "
                                 f"but received input with shape {shape}")
        if spec.shape is not None:
            spec_shape = spec.shape
            if spec.allow_last_axis_squeeze:
                shape = shape[:-1] if shape and shape[-1] == 1 else shape
                spec_shape = spec_shape[:-1] if spec_shape and spec_shape[-1] == 1 else spec_shape
            for spec_dim, dim in zip(spec_shape, shape, strict=False):
                if spec_dim is not None and dim is not None and spec_dim != dim:
                    raise ValueError(f"{where}: expected shape={spec.shape}, found shape={shape}")


class _Shaped:
    """A stand-in tensor with a shape (batch axis first) and no dtype."""

    def __init__(self, shape):
        self.shape, self.dtype = shape, None


def assert_shape_compatibility(input_spec, sample_shape, layer_name: str) -> None:
    """The rank, axes and shape rules of ``input_spec`` for inputs of ``sample_shape`` (no batch
    axis; a list of them for several inputs), as a layer is built (Sequential builds its layers
    from shapes alone). The dtype rule is checked when the layer is called."""
    several = isinstance(sample_shape, list) and all(isinstance(s, tuple | list) for s in sample_shape)
    shapes = sample_shape if several else [sample_shape]
    stand_ins = [_Shaped((None, *s)) for s in shapes]
    assert_input_compatibility(input_spec, stand_ins if several else stand_ins[0], layer_name)
