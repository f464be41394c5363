"""``keras.Function``: a graph of symbolic tensors, called as a function.

::

    a = sn.Input((3,), name="a")
    b = sn.Input((3,), name="b")
    h = sn.layers.Dense(4)(a) + b
    fn = sn.Function(inputs={"a": a, "b": b}, outputs=[sn.ops.sigmoid(h), h])
    y, h_value = fn({"a": xa, "b": xb})

Keras' ``Function`` (``keras/src/ops/function.py``) is what a functional model is made of,
without the model: no weights of its own to track, no ``fit``, no ``Layer`` API. Its graph is
the same as :class:`~scratchnet.functional.Functional`'s: the :class:`Node` s recorded when layers
(and ``sn.ops``, which become layers on KerasTensors) were called, from ``inputs`` to
``outputs``. Calling it runs those nodes in order on arrays, in inference mode (``training``
False), and returns the outputs in the structure they were given (a tensor, a list, a dict,
nested). Called on KerasTensors, it records its layer calls again from them (their weights
shared), so it joins a larger graph.

``inputs`` may also be tensors in the middle of a graph (``h`` above): the graph then starts
there, and what made them is not part of it, as in Keras.
"""

from __future__ import annotations

import numpy as np

from scratchnet import config, kernels, tree
from scratchnet.functional import _layers_in_keras_order, _unique_names, graph_nodes, replay_graph, run_node
from scratchnet.layers.input_layer import ConstantLayer, KerasTensor
from scratchnet.layers.merging import _Elementwise


class Function:
    """``keras.Function(inputs, outputs, name=None)``: ``inputs`` and ``outputs`` are KerasTensors
    or nested structures of them (lists, tuples, dicts); every output must be computable from
    the inputs alone. ``function(x)``: ``x`` in the structure of ``inputs``, arrays in place of
    the tensors. Attributes: :attr:`inputs`, :attr:`outputs` (flat lists), :attr:`operations`
    (the layers and operations of the graph, in Keras' order), ``name``."""

    def __init__(self, inputs, outputs, name: str | None = None):
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"Function: expected name to be a non-empty string, received {name!r}")
        self.name = name or _auto_name()
        self._inputs_struct = inputs
        self._outputs_struct = outputs
        self._inputs = tree.flatten(inputs)
        self._outputs = tree.flatten(outputs)
        if not self._inputs:
            raise ValueError(f"`inputs` argument cannot be empty. Received:\ninputs={inputs}\n"
                             f"outputs={outputs}")
        if not self._outputs:
            raise ValueError(f"`outputs` argument cannot be empty. Received:\ninputs={inputs}\n"
                             f"outputs={outputs}")
        for arg, flat in (("inputs", self._inputs), ("outputs", self._outputs)):
            for t in flat:
                if not isinstance(t, KerasTensor) or t.node is None:
                    raise ValueError(f"Function: every value in `{arg}` must be a KerasTensor made by "
                                     "sn.Input(...) or a layer or op call on one; received "
                                     f"{t!r} of type {type(t).__name__}")
        self._nodes = graph_nodes(self._inputs, self._outputs, owner="Function")
        self._operations = _layers_in_keras_order(self._inputs, self._outputs, self._nodes)
        _unique_names(self._operations)  # (scratchnet's default names repeat: dense, dense_1, ...)

    @property
    def inputs(self) -> list[KerasTensor]:
        """The symbolic inputs, as a flat list."""
        return self._inputs

    @property
    def outputs(self) -> list[KerasTensor]:
        """The symbolic outputs, as a flat list."""
        return self._outputs

    @property
    def operations(self) -> list:
        """The graph's layers and operations (the Inputs first), as Keras orders them."""
        return list(self._operations)

    def __call__(self, inputs):
        """The outputs for ``inputs`` (arrays, or KerasTensors), in the structure of ``outputs``."""
        self._check_inputs(inputs)
        flat = tree.flatten(inputs)
        if all(isinstance(x, KerasTensor) for x in flat):
            new = replay_graph(dict(zip(self._inputs, flat, strict=True)), self._outputs)
            return tree.pack_sequence_as(self._outputs_struct, new)
        values: dict[KerasTensor, np.ndarray] = {}
        masks: dict[KerasTensor, np.ndarray | None] = {}
        for t, x in zip(self._inputs, flat, strict=True):
            values[t] = kernels.to_backend(_as_input_array(x, t))
        batch = len(values[self._inputs[0]]) if values[self._inputs[0]].ndim else 1
        for node in self._nodes:
            if all(out in values for out in node.all_outputs):
                continue  # an input (an Input, or a tensor the Function starts from)
            if isinstance(node.layer, ConstantLayer):  # an array a traced call() made
                values[node.output] = kernels.to_backend(node.layer.batch(batch))
                continue
            training = False if node.training is None else node.training
            run_node(node, values, masks, training, for_backward=False)
        results = [kernels.to_numpy(values[t]) for t in self._outputs]
        return tree.pack_sequence_as(self._outputs_struct, results)

    def compute_output_spec(self, inputs):
        """Keras' ``Function.compute_output_spec`` (``keras/src/ops/function.py``): the outputs
        as new KerasTensors (shape and dtype, no graph behind them), in the structure of
        ``outputs``, for KerasTensors ``inputs`` in the structure of the Function's inputs,
        checked as a call checks them.

        Inputs of the Function's own shapes get the outputs' shapes (Keras' shortcut). Otherwise
        the new shapes go through the graph node by node: each layer's output has the batch size
        Keras' layer would give it (:func:`_output_batch_size`), and the per-sample shape and
        dtype of the graph's tensor. Keras works every axis through each operation; a scratchnet
        layer is built once, for one per-sample shape, so an axis other than the batch that the
        Function leaves None stays None (``docs/parity-notes.md``); and it computes in the
        Input's dtype, as a call does."""
        self._check_inputs(inputs)
        flat = tree.flatten(inputs)
        if all(tuple(x.shape) == tuple(ref.shape) for x, ref in zip(flat, self._inputs, strict=True)):
            return tree.pack_sequence_as(self._outputs_struct,
                                         [KerasTensor(t.shape, t.dtype) for t in self._outputs])
        shapes = {id(ref): tuple(x.shape) for x, ref in zip(flat, self._inputs, strict=True)}
        for node in self._nodes:
            if all(id(t) in shapes for t in node.all_outputs):
                continue  # an input (an Input, or a tensor the Function starts from)
            if not node.inputs:  # a constant a traced call() made: its own shape
                shapes.update((id(t), tuple(t.shape)) for t in node.all_outputs)
                continue
            batch = _output_batch_size(node.layer, [shapes[id(t)] for t in node.inputs])
            shapes.update((id(t), (batch, *t.shape[1:])) for t in node.all_outputs)
        return tree.pack_sequence_as(self._outputs_struct,
                                     [KerasTensor(shapes[id(t)], t.dtype) for t in self._outputs])

    def compute_output_shape(self, input_shape):
        """Keras' ``Function.compute_output_shape``: :meth:`compute_output_spec` for inputs of
        the shapes in ``input_shape`` (one shape tuple, or a structure of them like ``inputs``)
        and the Function's input dtypes; returns the output shapes in the structure of
        ``outputs``."""
        specs = tree.map_shape_structure(lambda shape: KerasTensor(tuple(shape)), input_shape)
        for spec, ref in zip(tree.flatten(specs), self._inputs, strict=False):
            spec.dtype = ref.dtype
        out = self.compute_output_spec(specs)
        return tree.pack_sequence_as(self._outputs_struct, [t.shape for t in tree.flatten(out)])

    def _check_inputs(self, inputs) -> None:
        """Keras' ``_assert_input_compatibility``: the structure of ``inputs``, each rank, and
        each axis both sides know."""
        try:
            tree.assert_same_structure(inputs, self._inputs_struct)
        except (ValueError, TypeError):
            raise ValueError("Function was called with an invalid input structure. Expected input "
                             f"structure: {self._inputs_struct}\nReceived input structure: "
                             f"{inputs}") from None
        for x, ref in zip(tree.flatten(inputs), self._inputs, strict=True):
            shape = tuple(x.shape) if isinstance(x, KerasTensor) else np.shape(x)
            if len(shape) != len(ref.shape) or any(d is not None and r is not None and d != r
                                                   for d, r in zip(shape, ref.shape, strict=True)):
                raise ValueError(f"{type(self).__name__} was passed incompatible inputs. For input "
                                 f"'{ref.name}', expected shape {ref.shape}, but received instead a "
                                 f"tensor with shape {shape}.")

    def __repr__(self) -> str:
        return f"<Function name={self.name!r}>"


def _output_batch_size(layer, input_shapes: list[tuple]) -> int | None:
    """The batch size of a call's output for inputs of ``input_shapes``, as the Keras layer's
    ``compute_output_shape`` gives it: an elementwise merge (``Add``, ``Multiply``, ... and the
    ``ops.add`` operations) the size its inputs agree on, None if they give none or differ
    (``layers/merging/base_merge.py``; ``ops.operation_utils.broadcast_shapes`` likewise); any
    other layer its first input's (``Concatenate``, ``Dot``, ``Dense``, an RNN called with
    ``initial_state``, ...)."""
    if isinstance(layer, _Elementwise):
        sizes = {shape[0] for shape in input_shapes} - {None}
        return sizes.pop() if len(sizes) == 1 else None
    return input_shapes[0][0]


def _auto_name() -> str:
    n = config.get_uid("function")
    return "function" if n == 1 else f"function_{n - 1}"


def _as_input_array(x, tensor: KerasTensor) -> np.ndarray:
    """``x`` as the array an input of ``tensor``'s dtype reads: numbers become the Input's float
    type when it is one (the type a scratchnet layer computes in); ids and strings stay."""
    x = x if kernels.is_device_array(x) else np.asarray(x)
    if tensor.dtype.startswith("float") and x.dtype.kind in "biuf":
        return x.astype(tensor.dtype, copy=False)
    return x
