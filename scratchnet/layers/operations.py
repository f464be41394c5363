"""Keras' *operations* in a functional graph: ``ops.add`` and ``ops.multiply`` nodes that are not layers.

Keras builders write some steps as tensor arithmetic: MobileNetV3's hard sigmoid
``ReLU(6.0)(x + 3.0) * (1.0 / 6.0)``, ConvNeXt's residual ``inputs + layer(x)``. On Keras tensors
those record ``keras.src.ops.numpy.Add`` and ``Multiply`` operations: nodes of the graph that
``model.summary()`` and the model's config list (``add (Add)``, ``multiply (Multiply)``) but that
are not layers, so ``model.layers``, ``get_weights`` and the weights files leave them out.

scratchnet's own arithmetic on KerasTensors (``x + 3.0``) records a ``Rescaling`` or ``Add``
*layer* (see ``KerasTensor.__add__``); the builders of ``sn.applications`` that must list Keras'
exact layers use :func:`add` and :func:`multiply` here instead. Each makes an :class:`Add` or
:class:`Multiply` node, a weightless layer with ``is_operation = True``, which a functional
model runs and differentiates like any node but keeps out of ``model.layers`` (it is in
``model.operations``, as in Keras).

The second operand is another KerasTensor (shapes broadcast, as ``keras.ops.add`` allows) or a
Python number, held by the operation and rounded to the data's type, as Keras converts it.
"""

from __future__ import annotations

import numbers

import numpy as np

from scratchnet.layers.base import Layer
from scratchnet.layers.merging import _Elementwise


class _Operation(_Elementwise):
    """``x1 <op> x2``: called on ``[x1, x2]`` (two tensors) or, with ``constant`` set, on ``x1``
    alone (``x2 = constant``)."""

    is_operation = True  # a node of the graph, not one of model.layers
    keras_module = "keras.src.ops.numpy"
    min_inputs = 2

    def __init__(self, constant: float | None = None, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        if constant is not None and (isinstance(constant, bool) or not isinstance(constant, numbers.Real)
                                     or not np.isfinite(constant)):
            raise TypeError(f'{type(self).__name__} operation "{self.name}": expected the second operand '
                            f"to be a KerasTensor or a finite number, received {constant!r}")
        self.constant = None if constant is None else float(constant)

    def ensure_built(self, input_shape, rng=None):
        if self.constant is None:
            return super().ensure_built(input_shape, rng)  # (the two-tensor checks of Merge)
        return Layer.ensure_built(self, input_shape, rng)

    def build(self, input_shape, rng):
        if self.constant is not None:
            return tuple(input_shape)
        if len(input_shape) != 2:
            raise ValueError(f'{type(self).__name__} operation "{self.name}": expected 2 operands, '
                             f"received {len(input_shape)}")
        return super().build(input_shape, rng)

    def __call__(self, xs, training: bool = False):
        if self.constant is None:
            return super().__call__(xs, training)
        return Layer.__call__(self, xs, training)

    def check_input(self, xs) -> None:
        if self.constant is None:
            super().check_input(xs)  # Merge's: a list of tensors of the built shapes
        else:
            Layer.check_input(self, xs)

    def _operands(self, xs):
        """``(x1, x2)``, the constant as a scalar of the data's type (Keras' conversion)."""
        if self.constant is None:
            return xs[0], xs[1]
        return xs, xs.dtype.type(self.constant)

    def get_config(self):
        config = super().get_config()
        return config if self.constant is None else {**config, "constant": self.constant}


class Add(_Operation):
    """``y = x1 + x2`` (``keras.ops.add``). Backward: ``dx1 = dy``, ``dx2 = dy`` (summed over the
    axes ``x2`` was broadcast along); nothing for a constant."""

    def forward(self, xs, training=False):
        x1, x2 = self._operands(xs)
        return x1 + x2

    def backward(self, dy):
        if self.constant is not None:
            return dy
        return [self._unbroadcast(dy, 0), self._unbroadcast(dy, 1)]


class Multiply(_Operation):
    """``y = x1 * x2`` (``keras.ops.multiply``). Backward: ``dx1 = dy * x2``, ``dx2 = dy * x1``
    (each summed over the axes it was broadcast along); ``dx1 = dy * c`` for a constant ``c``."""

    def forward(self, xs, training=False):
        x1, x2 = self._operands(xs)
        self._x1, self._x2 = x1, x2  # (N, ...) each, or x2 a scalar
        return x1 * x2

    def backward(self, dy):
        if self.constant is not None:
            return dy * self._x2
        return [self._unbroadcast(dy * self._x2, 0), self._unbroadcast(dy * self._x1, 1)]


def add(x1, x2, name: str | None = None):
    """``x1 + x2`` as Keras records it on Keras tensors: an ``Add`` operation (not a layer)."""
    return _apply(Add, x1, x2, name)


def multiply(x1, x2, name: str | None = None):
    """``x1 * x2`` as Keras records it on Keras tensors: a ``Multiply`` operation (not a layer)."""
    return _apply(Multiply, x1, x2, name)


def _apply(cls, x1, x2, name):
    from scratchnet.layers.input_layer import KerasTensor

    if not isinstance(x1, KerasTensor):
        raise TypeError(f"{cls.__name__.lower()}: expected the first operand to be a KerasTensor, "
                        f"received {type(x1).__name__}")
    if isinstance(x2, KerasTensor):
        return cls(name=name)([x1, x2])
    return cls(constant=x2, name=name)(x1)
