"""``keras.Operation``: a computation of ``sn.ops`` written as a class, that joins a graph.

::

    class Swish(sn.Operation):
        def __init__(self, beta=1.0, name=None):
            super().__init__(name=name)
            self.beta = beta

        def call(self, x):
            return x * sn.ops.sigmoid(self.beta * x)

        def compute_output_spec(self, x):            # optional: found by a trial call otherwise
            return sn.KerasTensor(x.shape, x.dtype)

    Swish()(np.ones((2, 3)))                          # on arrays: call, at once
    y = Swish(name="swish")(sn.Input((3,)))           # on KerasTensors: a node of the graph

On arrays an operation is its ``call``. On KerasTensors it records a node, as a layer does, and
a model or :class:`~scratchnet.function.Function` built on the graph runs it there: the forward
pass runs ``call`` on arrays watched by a gradient tape (:mod:`scratchnet.autodiff`), and the
backward pass plays the tape back, so no backward pass is written. An operation has no weights;
``model.operations`` lists it, ``model.layers`` does not (Keras' ``model.layers`` lists only
layers). Several tensors go to ``call`` as positional arguments (``Op()(a, b)`` calls
``call(a, b)``); other keyword arguments of the call are passed on to ``call`` as they are.
"""

from __future__ import annotations

import numpy as np

from scratchnet import config
from scratchnet.autodiff import Tape, Traced
from scratchnet.layers.base import Layer, _snake_case


class Operation(Layer):
    """``keras.Operation(name=None)``: subclass it and write ``call`` with ``sn.ops`` (or NumPy)
    operations; optionally ``compute_output_spec`` returning ``sn.KerasTensor(shape, dtype)``."""

    is_operation = True  # a node of the graph, not one of model.layers

    def __init__(self, name: str | None = None):
        if name is not None and (not isinstance(name, str) or "/" in name):
            raise ValueError("Argument `name` must be a string and cannot contain character `/`. "
                             f"Received: name={name!r} (of type {type(name)})")
        super().__init__(name=name or _snake_case(type(self).__name__))
        self._tape: Tape | None = None

    def call(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must implement call(...)")

    def __call__(self, *args, **kwargs):
        from scratchnet.layers.input_layer import KerasTensor, call_symbolic

        tensors = [a for a in args if isinstance(a, KerasTensor)]
        if not tensors:
            return self.call(*args, **kwargs)  # arrays: at once (traced ones inside a taped call)
        if len(tensors) != len(args):
            raise ValueError(f'Operation "{self.name}" ({type(self).__name__}): in a graph every '
                             "positional argument must be a KerasTensor; pass other values by "
                             f"keyword. Received: {args}")
        if any(isinstance(v, KerasTensor) for v in kwargs.values()):
            raise ValueError(f'Operation "{self.name}": pass KerasTensors as positional arguments, '
                             f"not by keyword (received {sorted(kwargs)})")
        spread = len(args) > 1
        if self._inbound_nodes and (spread, kwargs) != (self._spread, self._call_kwargs):
            raise ValueError(f'Operation "{self.name}" was called in a graph with {len(args)} tensor(s) '
                             f"and keywords {kwargs}, and before with other ones; scratchnet keeps one "
                             "set per operation: make one operation per kind of call")
        self._spread, self._call_kwargs = spread, dict(kwargs)
        return call_symbolic(self, list(args) if spread else args[0])

    def build(self, input_shape, rng):
        """The output shape for inputs of ``input_shape``: from ``compute_output_spec`` when the
        subclass writes one, else by a trial call on a batch of two zero samples."""
        from scratchnet.layers.input_layer import KerasTensor
        from scratchnet.scopes import StatelessScope, SymbolicScope

        shapes = input_shape if isinstance(input_shape, list) else [input_shape]
        if type(self).compute_output_spec is not Operation.compute_output_spec:
            specs = [KerasTensor((None, *s), config.floatx()) for s in shapes]
            out = self.compute_output_spec(*specs, **self._call_kwargs)
            if not isinstance(out, KerasTensor):
                raise ValueError(f'Operation "{self.name}": compute_output_spec must return one '
                                 f"KerasTensor in scratchnet; received {out!r}")
            return tuple(out.shape[1:])
        unknown = any(None in s for s in shapes)  # an axis of unknown size: tried at two sizes
        found = []
        for size in (2, 3) if unknown else (2,):
            probes = [np.zeros((2, *(size if d is None else d for d in s)), config.floatx()) for s in shapes]
            with np.errstate(all="ignore"), StatelessScope(), SymbolicScope():
                try:
                    y = np.asarray(self.call(*probes, **self._call_kwargs))
                except Exception as error:
                    raise type(error)(f"Could not automatically infer the output shape / dtype of "
                                      f"'{self.name}' (of type {type(self).__name__}). Either the "
                                      f"`{type(self).__name__}.call()` method is incorrect, or you need "
                                      "to implement the `compute_output_spec()` method. Error "
                                      f"encountered:\n\n{error}") from error
            if y.ndim == 0 or y.shape[0] != 2:
                raise ValueError(f'Operation "{self.name}": call must keep the batch axis first: on '
                                 f"batches of shapes {[p.shape for p in probes]} it returned shape {y.shape}")
            found.append(y.shape[1:])
        if len({len(shape) for shape in found}) > 1:
            raise ValueError(f'Operation "{self.name}": the rank of call\'s output depends on the size '
                             f"of an unknown axis of its input {input_shape}")
        return tuple(None if len({shape[k] for shape in found}) > 1 else found[0][k]
                     for k in range(len(found[0])))

    def compute_output_spec(self, *args, **kwargs):
        """Keras': the output's KerasTensor for input KerasTensors (override it, or leave the
        trial call of :meth:`build` to find the shape)."""
        raise NotImplementedError

    _spread = False  # called on several tensors: call(*tensors)
    _call_kwargs: dict = {}  # the call's other keyword values, passed on to call

    def forward(self, x, training: bool = False):
        """``call`` on the arrays; on a gradient tape when a backward pass will follow."""
        args = list(x) if self._spread else [x]
        kwargs = self._call_kwargs
        self._n_args = len(args)
        if not (self.for_backward and self.compute_input_grad):
            self._tape = None
            return np.asarray(self.call(*args, **kwargs))
        self._tape = Tape(f'Operation "{self.name}" ({type(self).__name__})')
        self._watched = [self._tape.watch(a) for a in args]
        self._output = self.call(*self._watched, **kwargs)
        return self._output.value if isinstance(self._output, Traced) else np.asarray(self._output)

    def backward(self, dy):
        """``dL/d(each input)``, from the tape of the last forward pass."""
        if not self.compute_input_grad:  # (the model asks for none: nothing before has weights)
            return [None] * self._n_args if self._spread else None
        if self._tape is None:
            raise RuntimeError(f'Operation "{self.name}": backward called without a recorded forward pass')
        grads = self._tape.gradients([(self._output, dy)], self._watched)
        return grads if self._spread else grads[0]
