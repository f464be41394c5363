"""EinsumDense (Keras 3.15's): a Dense layer whose product is any two-operand einsum.

``EinsumDense("abc,cd->abd", output_shape=(None, 64), bias_axes="d")`` is ``Dense(64)`` on each
step of a sequence; ``"abc,cde->abde"`` projects each step to ``(heads, size)`` as
MultiHeadAttention's projections do. The equation names the input's axes (the batch first), the
kernel's and the output's, one letter per axis; ``...`` stands for axes the equation leaves out,
at the left (``"...b,bc->...c"``) or at the right (``"ab...,bc->ac..."``).

Read :func:`analyze_equation` for how the kernel's and the bias's shapes follow from the equation
(Keras' rules, written out), :meth:`EinsumDense.forward` for the product and
:meth:`EinsumDense.backward_preactivation` for its gradients, which are einsums too: the same
letters, with the roles of the operands exchanged.
"""

from __future__ import annotations

import math
import re
import string

import numpy as np

from scratchnet import initializers as inits
from scratchnet import kernels, quantizers
from scratchnet.layers.base import (
    ActivatedLayer,
    constraint_config,
    float_dtype,
    initializer_config,
    quantization_config,
    regularizer_config,
    weight_args,
)

# Initializers whose draws are scaled by the kernel's fans (Keras' VarianceScaling family).
_FAN_SCALED = ("glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform",
               "lecun_normal", "variance_scaling")


def split_equation(equation: str, where: str) -> tuple[str, str, str, str | None]:
    """``(input letters, kernel letters, output letters, where the "..." is)`` of one of Keras'
    three forms: ``"ab,bc->ac"`` (None), ``"...b,bc->...c"`` ("left"), ``"ab...,bc->ac..."``
    ("right")."""
    text = equation.replace("...", "0")
    forms = (("([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)", None),
             ("0([a-zA-Z]+),([a-zA-Z]+)->0([a-zA-Z]+)", "left"),
             ("([a-zA-Z]{2,})0,([a-zA-Z]+)->([a-zA-Z]+)0", "right"))
    for pattern, elided_side in forms:
        match = re.fullmatch(pattern, text)
        if match:
            return (*match.groups(), elided_side)
    raise ValueError(f"{where}: invalid einsum equation {equation!r}; expected the form "
                     "'[X],[Y]->[Z]', '...[X],[Y]->...[Z]' or '[X]...,[Y]->[Z]...' with letters "
                     "for X, Y and Z")


def analyze_equation(equation: str, bias_axes, input_shape, output_shape, where: str) -> dict:
    """The shapes Keras 3.15's ``_analyze_einsum_string`` derives, for an input of ``input_shape``
    (the batch axis first):

    - ``output``: the whole output shape: ``output_shape`` (the axes the equation names, batch
      excluded) with the batch axis put first and the elided axes (``...``) taken from the input;
      an axis given as ``None`` stays unknown, even where the input knows it (Keras' shapes too);
    - ``kernel``: each kernel letter's size, from the output axis of that letter if it has one, else
      from the input's; ``input_axes``/``output_axes`` say which kernel axes are which (their
      products are the fans a Glorot or He initializer scales by);
    - ``bias``: the output's axes from the first letter of ``bias_axes`` to the end, each the
      output's size if its letter is in ``bias_axes`` and 1 otherwise (1s too for axes elided at
      the right), so it broadcasts against the output;
    - ``explicit``: the equation with ``...`` replaced by letters for the elided axes, which the
      gradients need.
    """
    in_spec, k_spec, out_spec, elided_side = split_equation(equation, where)
    input_shape = tuple(input_shape)
    elided = len(input_shape) - len(in_spec)
    if elided < 0 or (elided_side is None and elided != 0):
        raise ValueError(f"{where}: the equation {equation!r} names {len(in_spec)} input axes, the "
                         f"batch axis included; received an input of shape {input_shape}")
    named = len(out_spec) if elided_side == "left" else len(out_spec) - 1  # (the batch's letter)
    if len(output_shape) != named:
        raise ValueError(f"{where}: expected output_shape to give the {named} output axes the "
                         f"equation {equation!r} names besides the batch axis, received "
                         f"output_shape={tuple(output_shape)}")
    spare = iter(c for c in string.ascii_letters if c not in in_spec + k_spec + out_spec)
    extra = "".join(next(spare) for _ in range(elided))
    output = [input_shape[0], *output_shape]
    if elided_side == "left":  # "...b,bc->...c": the batch axis is among the elided ones
        output[1:1] = input_shape[1:elided]
        explicit = f"{extra}{in_spec},{k_spec}->{extra}{out_spec}"
        in_axis = {c: elided + i for i, c in enumerate(in_spec)}
        out_axis = {c: elided + i for i, c in enumerate(out_spec)}
    else:
        output += list(input_shape[len(in_spec):])
        explicit = f"{in_spec}{extra},{k_spec}->{out_spec}{extra}"
        in_axis = {c: i for i, c in enumerate(in_spec)}
        out_axis = {c: i for i, c in enumerate(out_spec)}
    for c in in_spec:
        if c in out_axis and output[out_axis[c]] is not None \
                and output[out_axis[c]] != input_shape[in_axis[c]]:
            raise ValueError(f"{where}: input shape and output shape do not match at shared "
                             f"dimension {c!r}: input shape is {input_shape[in_axis[c]]}, output "
                             f"shape is {output[out_axis[c]]}")
    for c in out_spec:
        if c not in in_spec and c not in k_spec:
            raise ValueError(f"{where}: dimension {c!r} of the output {out_spec!r} is in neither the "
                             f"input spec {in_spec!r} nor the weight spec {k_spec!r}")
    kernel, input_axes, output_axes = [], [], []
    for i, c in enumerate(k_spec):
        if c in out_axis:
            kernel.append(output[out_axis[c]])
            output_axes.append(i)
        elif c in in_axis:
            kernel.append(input_shape[in_axis[c]])
            input_axes.append(i)
        else:
            raise ValueError(f"{where}: weight dimension {c!r} is in neither the input spec "
                             f"{in_spec!r} nor the output spec {out_spec!r}; the weight must be "
                             "fully specified")
    bias = None
    if bias_axes is not None:
        for c in bias_axes:
            if c not in out_spec:
                raise ValueError(f"{where}: bias dimension {c!r} was requested, but is not part of "
                                 f"the output spec {out_spec!r}")
        first = min(out_spec.index(c) for c in bias_axes)
        bias = [output[out_axis[c]] if c in bias_axes else 1 for c in out_spec[first:]]
        if elided_side == "right":
            bias += [1] * elided
    return {"output": tuple(output), "kernel": tuple(kernel), "bias": bias,
            "input_axes": input_axes, "output_axes": output_axes, "explicit": explicit}


def quantization_axes(explicit: str) -> dict:
    """What int8 quantization needs from the equation (``...`` already letters), Keras 3.15's
    ``_analyze_quantization_info`` written out, for the input (``"input"``) and the kernel
    (``"kernel"``) alike:

    - ``reduced``: the axes whose letter is not in the output (summed by the einsum): abs-max runs
      over them, one scale per slice of the others;
    - ``transpose``/``expand``/``squeeze``: how that keepdims scale is laid out so it broadcasts
      against the output (transpose to the output's letter order, the reduced axes set in the
      place of output axes the tensor lacks, 1s added for the rest, or dropped where none is left).
    """
    operands, out_spec = explicit.split("->")
    in_spec, k_spec = operands.split(",")
    layout = {}
    for role, spec in (("input", in_spec), ("kernel", k_spec)):
        reduced = [i for i, c in enumerate(spec) if c not in out_spec]
        expand = [i for i, c in enumerate(out_spec) if c not in spec]
        transpose = [spec.index(c) for c in out_spec if c in spec]
        squeeze, index = [], None
        for axis in reduced:  # each reduced axis fills an output axis the tensor lacks, if any is left
            if expand:
                index = expand.pop(0)
            else:
                squeeze.append(axis)  # (Keras then inserts at the last index used, as here)
            if index is None:  # (Keras 3.15 fails here too, with an UnboundLocalError)
                raise ValueError(f"EinsumDense: cannot quantize the equation {explicit!r}: the {role} "
                                 "sums an axis but the output has no axis the {role} lacks")
            transpose.insert(index, axis)
        layout[role] = {"reduced": reduced, "transpose": transpose, "expand": expand,
                        "squeeze": squeeze}
    return layout


def int4_kernel_matrix(kernel_shape, reduced) -> tuple[int, int]:
    """``(rows, columns)``: the 2-D matrix Keras' int4 EinsumDense reshapes its kernel to, rows the
    product of the axes the einsum sums (``reduced``), columns the product of the others. (Keras
    reshapes without moving axes, so where a summed axis is not first, say ``"abc,dc->abd"``'s
    ``(d, c)`` kernel, a "column" mixes both axes; the values round-trip all the same.)"""
    rows = math.prod(d for i, d in enumerate(kernel_shape) if i in reduced)
    columns = math.prod(d for i, d in enumerate(kernel_shape) if i not in reduced)
    return int(rows), int(columns)


def scale_for_output(scale, layout: dict):
    """A keepdims abs-max scale laid out to broadcast against the einsum's output (Keras'
    ``_adjust_scale_for_quant``): transpose, then expand, then squeeze."""
    if layout["transpose"]:
        scale = scale.transpose(layout["transpose"])
    if layout["expand"]:
        scale = kernels.xp_of(scale).expand_dims(scale, axis=tuple(layout["expand"]))
    if layout["squeeze"]:
        scale = kernels.xp_of(scale).squeeze(scale, axis=tuple(layout["squeeze"]))
    return scale


def scale_for_kernel(scale, layout: dict):
    """The inverse of :func:`scale_for_output` for the kernel's scale (Keras'
    ``_adjust_scale_for_dequant``): it broadcasts against the kernel again."""
    xp = kernels.xp_of(scale)
    if layout["squeeze"]:
        scale = xp.expand_dims(scale, axis=tuple(layout["squeeze"]))
    if layout["expand"]:
        scale = xp.squeeze(scale, axis=tuple(layout["expand"]))
    if layout["transpose"]:
        scale = scale.transpose(sorted(range(len(layout["transpose"])),
                                       key=layout["transpose"].__getitem__))
    return scale


class EinsumFans(inits.Initializer):
    """The kernel initializer as Keras 3.15's EinsumDense applies it: a VarianceScaling-family
    initializer takes its fans from the kernel axes the input and the output own
    (``fan_in = prod(kernel[input_axes])``, ``fan_out = prod(kernel[output_axes])``); each value is
    drawn alike, so a ``(fan_in, fan_out)`` matrix of draws reshaped to the kernel has Keras'
    distribution. Any other initializer draws for the kernel's shape."""

    def __init__(self, inner: inits.Initializer, input_axes, output_axes):
        self.inner, self.input_axes, self.output_axes = inner, input_axes, output_axes
        self.name = inner.name

    def __call__(self, shape, dtype, rng):
        if self.inner.name not in _FAN_SCALED or getattr(self.inner, "input_axes", None) is not None:
            return self.inner(shape, dtype, rng)
        matrix = (math.prod(shape[a] for a in self.input_axes),
                  math.prod(shape[a] for a in self.output_axes))
        return self.inner(matrix, dtype, rng).reshape(shape)


class EinsumDense(ActivatedLayer):
    """``keras.layers.EinsumDense(equation, output_shape, activation=None, bias_axes=None, ...)``::

        z = einsum(equation, x, kernel) + bias        y = activation(z)

    ``output_shape``: the output's axes named in the equation, without the batch axis (an int for
    one); ``None`` for an axis the input fixes (a sequence's length). The kernel's shape follows
    from the equation (:func:`analyze_equation`), and so does the bias's (``bias_axes``: the output
    letters that get a bias; None, no bias).

    Backward, with ``dz = dL/dz`` and the equation written ``"in,k->out"`` (``...`` made letters)::

        dL/dkernel = einsum("in,out->k", x, dz)
        dL/dx      = einsum("out,k->in", dz, kernel)    (an input axis in neither out nor k was
                                                         summed away: dL/dx is the same along it)
        dL/dbias   = dz summed over the axes the bias broadcasts along

    ``quantize("int8")`` (Keras' post-training quantization, :mod:`scratchnet.quantizers`): the
    kernel becomes int8 with one ``kernel_scale`` per slice of its output axes (abs-max over the
    axes the einsum sums), and each call quantizes its input over the summed axes::

        z = einsum(q_x, q_kernel) / (scale_x * kernel_scale) + bias     (the einsum in integers)

    with both scales laid out to broadcast against the output (:func:`quantization_axes`).
    ``quantize("int4")``: the kernel reshaped to ``(rows, columns)`` (:func:`int4_kernel_matrix`),
    quantized over ``[-8, 7]`` per column or per group of ``block_size`` rows with a zero point,
    packed two values a byte; each call dequantizes it and runs the float einsum.
    Backward: no kernel gradient; ``dL/dx`` as above with the dequantized kernel
    (:meth:`_dequantized_kernel`); the bias still trains. ``lora_rank`` is not implemented.
    """

    supports_masking = True

    def __init__(self, equation: str, output_shape, activation=None, bias_axes: str | None = None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, lora_rank=None, lora_alpha=None, quantization_config=None,
                 name: str | None = None, **kwargs):
        super().__init__(activation=activation, name=name, **kwargs)
        where = f"EinsumDense {self.name!r}"
        if not isinstance(equation, str):
            raise TypeError(f"{where}: expected equation to be a string such as 'ab,bc->ac', "
                            f"received {equation!r}")
        shape = [output_shape] if isinstance(output_shape, int) else output_shape
        if isinstance(shape, tuple | list) and all(
                d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0) for d in shape):
            self.partial_output_shape = tuple(shape)
        else:
            raise ValueError(f"{where}: expected output_shape to be a positive int or a tuple of "
                             f"positive ints and None, received output_shape={output_shape!r}")
        if bias_axes is not None and not isinstance(bias_axes, str):
            raise TypeError(f"{where}: expected bias_axes to be None or a string of output letters, "
                            f"received bias_axes={bias_axes!r}")
        for arg, value in (("lora_rank", lora_rank), ("lora_alpha", lora_alpha)):
            if value is not None:
                raise ValueError(f"{where}: scratchnet does not implement {arg}={value!r} (Keras' "
                                 "LoRA); leave it None")
        self.equation, self.bias_axes = equation, bias_axes
        weight_args(self, where, kernel_initializer=kernel_initializer,
                    bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                    bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
                    bias_constraint=bias_constraint)
        self.quantization_config = quantizers.config_argument(quantization_config, where)
        split_equation(equation, where)  # (checked against the input's rank at build)
        self.kernel = self.bias = None
        self.explicit = equation
        self.x = None

    def build(self, input_shape, rng):
        where = f'Layer "{self.name}" (EinsumDense)'
        shapes = analyze_equation(self.equation, self.bias_axes, (None, *input_shape),
                                  self.partial_output_shape, where)
        self.explicit = shapes["explicit"]
        if self.quantization_mode is None:
            init = EinsumFans(inits.get(self.kernel_initializer), shapes["input_axes"],
                              shapes["output_axes"])
            self.kernel = self.add_weight("kernel", shapes["kernel"], init, rng,
                                          regularizer=self.kernel_regularizer,
                                          constraint=self.kernel_constraint)
        if shapes["bias"] is not None:
            self.bias = self.add_weight("bias", tuple(shapes["bias"]), self.bias_initializer, rng,
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)
        if self.quantization_mode is not None:  # made with dtype="int8_from_float32" (a saved one)
            self._quantized_build(shapes["kernel"], self.quantization_mode, self.quantization_config)
            self._is_quantized = True
        return shapes["output"][1:]

    def _quantized_build(self, kernel_shape, mode, config) -> None:
        """Keras' ``_int8_build`` / ``_int4_build``: the quantized weights, non-trainable, as zeros
        and ones (a load or :meth:`_quantize_weights` fills them), and the inputs' quantizer.

        int8: an int8 ``kernel`` of the float kernel's shape and a ``kernel_scale`` laid out
        against the output (:func:`quantization_axes`); inputs quantized by default. int4: the
        kernel flattened to ``(rows, columns)`` (rows: the axes the einsum sums, columns: the
        others; a plain reshape, as Keras') and packed two values a byte along the columns,
        ``(rows, ceil(columns / 2))``; ``kernel_scale`` ``(columns,)`` with ``block_size`` None/-1,
        else ``(groups, columns)`` with ``kernel_zero`` (int8) and ``g_idx`` (each row's group);
        weights only by default."""
        if mode not in ("int8", "int4"):
            raise self._unsupported_quantization(mode, ("int8", "int4"))
        self.quantization_layout = quantization_axes(self.explicit)
        float_type = float_dtype(self.weights)
        if mode == "int8":
            self.inputs_quantizer = quantizers.QuantizationConfig.activation_quantizer_or_default(
                config, quantizers.AbsMaxQuantizer())
            keepdims = [1 if i in self.quantization_layout["kernel"]["reduced"] else d
                        for i, d in enumerate(kernel_shape)]
            scale_shape = scale_for_output(np.ones(keepdims), self.quantization_layout["kernel"]).shape
            self.kernel = self._quantized_weight("kernel", np.zeros(kernel_shape, np.int8))
            self.kernel_scale = self._quantized_weight("kernel_scale", np.ones(scale_shape, float_type))
            return
        # int4: Keras' _int4_build
        self.inputs_quantizer = quantizers.QuantizationConfig.activation_quantizer_or_default(
            config, None)
        self.original_kernel_shape = tuple(kernel_shape)
        rows, columns = int4_kernel_matrix(kernel_shape, self.quantization_layout["kernel"]["reduced"])
        self.block_size = quantizers.block_size_for_layer(self, config)
        if self.block_size == -1:
            self.block_size = None
        self.kernel = self._quantized_weight("kernel", np.zeros((rows, (columns + 1) // 2), np.int8))
        if self.block_size is None:
            self.kernel_scale = self._quantized_weight("kernel_scale", np.ones((columns,), float_type))
            return
        groups = math.ceil(rows / self.block_size)
        self.kernel_scale = self._quantized_weight("kernel_scale", np.ones((groups, columns), float_type))
        self.kernel_zero = self._quantized_weight("kernel_zero", np.zeros((groups, columns), np.int8))
        self.g_idx = self._quantized_weight(
            "g_idx", (np.arange(rows) // self.block_size).astype(np.float32))

    def _quantize_weights(self, mode, config, type_check):
        """``quantize("int8")``: abs-max over the kernel axes the einsum sums, the scale laid out
        against the output; the float kernel gives way to the int8 one and ``kernel_scale``.
        ``"int4"`` (Keras' ``quantize``): the kernel reshaped to ``(rows, columns)``, then one
        abs-max scale per column over ``[-8, 7]`` (``block_size`` None or -1; Keras'
        ``abs_max_quantize``, not the config's weight quantizer) or a scale and a zero point per
        group of ``block_size`` rows
        (:func:`~scratchnet.quantizers.abs_max_quantize_grouped_with_zero_point`), packed two
        values a byte along the columns."""
        if type_check and type(self) is not EinsumDense:
            super()._quantize_weights(mode, config, type_check)
        if mode not in ("int8", "int4"):
            raise self._unsupported_quantization(mode, ("int8", "int4"))
        self.quantization_config = config
        layout = quantization_axes(self.explicit)["kernel"]
        kernel = kernels.to_numpy(self.kernel.value)
        zero = None
        if mode == "int8":
            weight_quantizer = quantizers.QuantizationConfig.weight_quantizer_or_default(
                config, quantizers.AbsMaxQuantizer(axis=layout["reduced"]))
            q, scale = weight_quantizer(kernel, to_numpy=True)
            scale = scale_for_output(scale, layout)
        else:
            flat = kernel.reshape(int4_kernel_matrix(kernel.shape, layout["reduced"]))  # (rows, columns)
            block_size = getattr(config, "block_size", None)
            if block_size is None or block_size == -1:
                q, scale = quantizers.abs_max_quantize(flat, axis=0, value_range=(-8, 7), to_numpy=True)
                scale = np.squeeze(scale, axis=0)  # (columns,)
            else:  # (groups, columns) scales and zero points
                q, scale, zero = quantizers.abs_max_quantize_grouped_with_zero_point(
                    flat, block_size=block_size)
            q = quantizers.pack_int4(q, axis=-1)[0]  # (rows, ceil(columns / 2))
        del self.params["kernel"]
        self._quantized_build(kernel.shape, mode, config)
        self.kernel.value[...] = q
        self.kernel_scale.value[...] = scale
        if zero is not None:
            self.kernel_zero.value[...] = zero
        self._set_quantized_policy(mode, getattr(self, "block_size", None))

    def forward(self, x, training=False):
        self.x = x
        xp = kernels.xp_of(x)
        if self.quantization_mode == "int8":
            z = self._int8_einsum(x)
        elif self.quantization_mode == "int4":
            z = self._int4_einsum(x)
        else:
            z = xp.einsum(self.explicit, x, self.kernel.value, optimize=True)
        if self.bias is not None:
            z = z + self.bias.value
        return self.activate(z)

    def _int8_einsum(self, x):
        """``einsum(q_x, q_kernel) / (scale_x * kernel_scale)``, Keras' ``_int8_call`` (with no
        inputs quantizer, weights only: ``einsum(x, q_kernel) / kernel_scale``)."""
        xp = kernels.xp_of(x)
        if self.inputs_quantizer is None:
            z = xp.einsum(self.explicit, x, self.kernel.value.astype(x.dtype), optimize=True)
            return z / self.kernel_scale.value
        layout = self.quantization_layout["input"]
        q_x, scale_x = self.inputs_quantizer(x, axis=tuple(layout["reduced"]))
        z = xp.einsum(self.explicit, q_x.astype(np.int32), self.kernel.value.astype(np.int32))
        return z.astype(x.dtype) / (scale_for_output(scale_x, layout) * self.kernel_scale.value)

    def _int4_einsum(self, x):
        """Keras' ``_int4_call``: the kernel dequantized first (:meth:`_dequantized_kernel`), then
        ``einsum(x, kernel)``; per column with an inputs quantizer,
        ``einsum(q_x, kernel) / scale_x`` (the scale of ``x`` laid out against the output)."""
        xp = kernels.xp_of(x)
        kernel = self._dequantized_kernel(x.dtype)  # the float kernel's shape
        if self.block_size is not None or self.inputs_quantizer is None:
            return xp.einsum(self.explicit, x, kernel, optimize=True)
        layout = self.quantization_layout["input"]
        q_x, scale_x = self.inputs_quantizer(x, axis=tuple(layout["reduced"]))
        z = xp.einsum(self.explicit, q_x.astype(x.dtype), kernel, optimize=True)
        return z / scale_for_output(scale_x, layout)

    def _dequantized_kernel(self, dtype):
        """The float kernel a quantized EinsumDense stands for (its gradient's): int8
        ``q / kernel_scale`` (the scale laid out against the kernel again); int4 the unpacked
        ``(rows, columns)`` values ``q / kernel_scale`` per column, or ``(q - zero[g]) * scale[g]``
        per group (Keras' ``dequantize_with_sz_map``), reshaped to the kernel's shape."""
        if self.quantization_mode == "int8":
            return self.kernel.value.astype(dtype) / scale_for_kernel(
                self.kernel_scale.value, self.quantization_layout["kernel"])
        xp = kernels.xp_of(self.kernel.value)
        columns = self.kernel_scale.value.shape[-1]
        q = xp.asarray(quantizers.unpack_int4(kernels.to_numpy(self.kernel.value), columns, axis=-1))
        if self.block_size is None:
            flat = q.astype(dtype) / self.kernel_scale.value  # (rows, columns)
        else:
            groups = self.g_idx.value.astype(np.int32)  # each row's group
            zero = self.kernel_zero.value[groups].astype(self.kernel_scale.value.dtype)
            flat = ((q - zero) * self.kernel_scale.value[groups]).astype(dtype)
        return flat.reshape(self.original_kernel_shape)

    def backward_preactivation(self, dz):
        xp = kernels.xp_of(dz)
        operands, out_spec = self.explicit.split("->")
        in_spec, k_spec = operands.split(",")
        kernel = self.kernel.value
        if self.quantization_mode is not None:  # Keras' custom gradient: none for the int kernel
            kernel = self._dequantized_kernel(dz.dtype)
        else:
            self.kernel.grad = xp.einsum(f"{in_spec},{out_spec}->{k_spec}", self.x, dz, optimize=True)
        if self.bias is not None:
            lead = dz.ndim - self.bias.value.ndim
            grad = dz.sum(axis=tuple(range(lead)))
            ones = tuple(i for i, d in enumerate(self.bias.value.shape) if d == 1)
            self.bias.grad = grad.sum(axis=ones, keepdims=True)
        if not self.compute_input_grad:
            return None
        kept = "".join(c for c in in_spec if c in out_spec or c in k_spec)
        dx = xp.einsum(f"{out_spec},{k_spec}->{kept}", dz, kernel, optimize=True)
        # an input axis summed away in the forward product: every value along it counted alike
        dx = dx.reshape([self.x.shape[i] if c in kept else 1 for i, c in enumerate(in_spec)])
        return xp.broadcast_to(dx, self.x.shape).copy()

    def get_config(self):
        return {**super().get_config(), "output_shape": self.partial_output_shape,
                "equation": self.equation, "bias_axes": self.bias_axes,
                "kernel_initializer": initializer_config(self.kernel_initializer),
                "bias_initializer": initializer_config(self.bias_initializer),
                **regularizer_config(self, "kernel_regularizer", "bias_regularizer", "activity_regularizer"),
                **constraint_config(self, "kernel_constraint", "bias_constraint"),
                **quantization_config(self)}

    def keras_weight_groups(self):
        """A quantized EinsumDense is saved in Keras' ``variable_serialization_spec`` order:
        kernel, bias, kernel_scale (int4 per group: then kernel_zero and g_idx; its ``weights``
        list the trainable bias first)."""
        weights = self.weights
        if self.quantization_mode is not None:  # kernel, bias, kernel_scale (kernel_zero, g_idx)
            quantized = list(self.non_trainable_params.values())
            weights = quantized[:1] + ([self.bias] if self.bias is not None else []) + quantized[1:]
        return [("vars", self.name, weights)]

