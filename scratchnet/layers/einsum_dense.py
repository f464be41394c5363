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

from scratchnet import initializers as inits
from scratchnet import kernels
from scratchnet.layers.base import ActivatedLayer, constraint_config, regularizer_config, weight_args
from scratchnet.layers.core import _init_name

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

    ``lora_rank`` and quantization are not implemented.
    """

    supports_masking = True

    def __init__(self, equation: str, output_shape, activation=None, bias_axes: str | None = None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, lora_rank=None, lora_alpha=None, name: str | None = None,
                 **kwargs):
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
        split_equation(equation, where)  # (checked against the input's rank at build)
        self.kernel = self.bias = None
        self.explicit = equation
        self.x = None

    def build(self, input_shape, rng):
        where = f'Layer "{self.name}" (EinsumDense)'
        shapes = analyze_equation(self.equation, self.bias_axes, (None, *input_shape),
                                  self.partial_output_shape, where)
        self.explicit = shapes["explicit"]
        init = EinsumFans(inits.get(self.kernel_initializer), shapes["input_axes"],
                         shapes["output_axes"])
        self.kernel = self.add_weight("kernel", shapes["kernel"], init, rng,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        if shapes["bias"] is not None:
            self.bias = self.add_weight("bias", tuple(shapes["bias"]), self.bias_initializer, rng,
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)
        return shapes["output"][1:]

    def forward(self, x, training=False):
        self.x = x
        z = kernels.xp_of(x).einsum(self.explicit, x, self.kernel.value, optimize=True)
        if self.bias is not None:
            z = z + self.bias.value
        return self.activate(z)

    def backward_preactivation(self, dz):
        xp = kernels.xp_of(dz)
        operands, out_spec = self.explicit.split("->")
        in_spec, k_spec = operands.split(",")
        self.kernel.grad = xp.einsum(f"{in_spec},{out_spec}->{k_spec}", self.x, dz, optimize=True)
        if self.bias is not None:
            lead = dz.ndim - self.bias.value.ndim
            grad = dz.sum(axis=tuple(range(lead)))
            ones = tuple(i for i, d in enumerate(self.bias.value.shape) if d == 1)
            self.bias.grad = grad.sum(axis=ones, keepdims=True)
        if not self.compute_input_grad:
            return None
        kept = "".join(c for c in in_spec if c in out_spec or c in k_spec)
        dx = xp.einsum(f"{out_spec},{k_spec}->{kept}", dz, self.kernel.value, optimize=True)
        # an input axis summed away in the forward product: every value along it counted alike
        dx = dx.reshape([self.x.shape[i] if c in kept else 1 for i, c in enumerate(in_spec)])
        return xp.broadcast_to(dx, self.x.shape).copy()

    def get_config(self):
        return {**super().get_config(), "output_shape": list(self.partial_output_shape),
                "equation": self.equation, "bias_axes": self.bias_axes,
                "kernel_initializer": _init_name(self.kernel_initializer),
                "bias_initializer": _init_name(self.bias_initializer),
                **regularizer_config(self, "kernel_regularizer", "bias_regularizer"),
                **constraint_config(self, "kernel_constraint", "bias_constraint")}

