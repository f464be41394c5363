"""Symbolic tensors: ``Input(shape)`` and what calling a layer on one records.

``Input((3,))`` returns a :class:`KerasTensor`: no numbers, only a shape ``(None, 3)`` (``None``
is the batch), a dtype, and the :class:`Node` that made it. Calling a layer on KerasTensors builds
the layer for their shapes and returns a new KerasTensor whose node remembers the layer and its
input tensors. Following ``tensor.node.inputs`` back from the outputs gives the whole graph;
``scratchnet.Model(inputs, outputs)`` (:mod:`scratchnet.functional`) walks it.

Inside a ``Sequential``, ``Input(shape)`` as the first entry declares the input shape, as in Keras.
"""

from __future__ import annotations

import contextlib
import numbers
import random
from dataclasses import dataclass, field

import numpy as np

from scratchnet import config
from scratchnet.layers._args import positive_int
from scratchnet.layers.base import Layer

_DTYPES = ("float32", "float64", "int32", "int64", "string", "bool")
_NAME_COUNTS: dict[str, int] = {}  # Keras gives unnamed inputs input_layer, input_layer_1, ...


class KerasTensor:
    """A symbolic tensor: ``shape`` (batch axis ``None`` first), ``dtype``, ``name``, and the
    ``node`` (layer call) that produced it. It holds no values. ``index``: which of the node's
    outputs it is (0 but for a layer with several outputs, ``LSTM(return_state=True)``: the
    output 0, then the states 1, 2), Keras' ``keras_history = [layer, node index, index]``."""

    def __init__(self, shape: tuple, dtype: str = "float32", name: str = "keras_tensor",
                 node: Node | None = None, index: int = 0):
        self.shape = tuple(shape)
        self.dtype = dtype
        self.name = name
        self.node = node
        self.index = index

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"

    def __array__(self, *args, **kwargs):
        raise TypeError(f"{self!r} is symbolic (no values): use it to build a scratchnet.Model, "
                        "or pass NumPy arrays to the model instead")

    # Arithmetic in a functional graph (``res = x + inputs``, ``outputs * 100``) records the layer
    # that computes it, so the graph stays made of layers that save, convert and train like any
    # other: two tensors -> Add / Subtract / Multiply (shapes broadcast as those layers allow); a
    # tensor and a number -> Rescaling(scale, offset), whose ``x * scale + offset`` is exactly
    # ``x + c``, ``x - c``, ``c - x``, ``x * c`` and ``-x`` in floating point. ``x / c`` becomes
    # ``x * (1/c)``, which can differ from a true division in the last bit.
    def __add__(self, other):
        return _arithmetic(self, other, "add")

    def __radd__(self, other):
        return _arithmetic(self, other, "add")

    def __sub__(self, other):
        return _arithmetic(self, other, "subtract")

    def __rsub__(self, other):
        return _arithmetic(self, other, "subtracted_from")

    def __mul__(self, other):
        return _arithmetic(self, other, "multiply")

    def __rmul__(self, other):
        return _arithmetic(self, other, "multiply")

    def __truediv__(self, other):
        return _arithmetic(self, other, "divide")

    def __neg__(self):
        return _arithmetic(self, -1.0, "multiply")

    def __getitem__(self, key):
        """``x[:, 0]`` in a traced ``call``: a ``Lambda`` layer taking the slice (the batch axis
        must stay whole: the Lambda checks it), named ``getitem_lambda``, ``getitem_lambda_1``,
        ... (keras.io's recommender slices ``inputs[:, 0]`` twice: two layers, two names)."""
        from scratchnet.layers.lambda_layer import Lambda
        from scratchnet.ops import _unique

        return Lambda(lambda value: value[key], name=_unique("getitem_lambda"))(self)


class BatchlessTensor(KerasTensor):
    """The result of an ``sn.ops`` function, in a traced ``call()``, that has no batch axis:
    ``ops.tensordot(u, v, 2)`` of two ``(B, E)`` batches is one number for the whole batch (its
    ``shape`` is ``()``), as in Keras, where the op sees the whole batch at once.

    A graph node hands each layer one sample per batch row, so such a value is not a node of its
    own: it is the function ``apply`` of the batched tensors it was computed from (``bases``),
    and the op that uses it next computes it again inside its own layer
    (``ops.tensordot(u, v, 2) + b`` becomes one layer of ``u``, ``v`` and ``b``, differentiated
    by the gradient tape). A layer cannot take it; an op that brings the batch back (adding a
    ``(B, 1)`` tensor) makes an ordinary KerasTensor again (scratchnet.ops._on_keras_tensors)."""

    def __init__(self, shape: tuple, dtype: str, bases: list, apply, op: str):
        super().__init__(shape, dtype, name=op)
        self.bases = bases  # the batched KerasTensors it is computed from
        self.apply = apply  # apply([array of each base]) -> this value
        self.op = op

    def __repr__(self) -> str:
        return f"<BatchlessTensor shape={self.shape}, dtype={self.dtype}, op={self.op}>"

    def __getitem__(self, key):
        from scratchnet import ops

        return ops.get_item(self, key)


@dataclass(eq=False)
class Node:
    """One call of ``layer`` on ``inputs`` that produced ``output``. ``inputs_as_list`` says the
    layer was given a list of tensors (a merging layer) rather than one tensor.

    ``outputs``: empty for a layer with one output (nearly all); for a layer with several
    (``LSTM(return_state=True)`` returns ``[output, h, c]``) all of them, in order, with
    ``output`` the first. :attr:`all_outputs` is the list either way.

    ``kwargs``: the call's keyword arguments, for a layer called on several tensors by position
    and keyword (``MultiHeadAttention(query, value, key=k, use_causal_mask=True)``,
    ``LSTM(x, initial_state=[h, c])``). A KerasTensor among them (or in a list given to a keyword)
    is also in ``inputs``, after the positional tensors and in the order of the keywords' names
    (Keras' ``tree.flatten`` order, which decides its ``model.layers`` order)."""

    layer: Layer
    inputs: list[KerasTensor]
    output: KerasTensor | None = None
    inputs_as_list: bool = False
    kwargs: dict = field(default_factory=dict)
    outputs: list[KerasTensor] = field(default_factory=list)
    training: bool | None = None  # layer(x, training=True/False) as written: overrides the model's
    # The call of a model on tensors this node was recorded by (its layer calls replayed into the
    # outer graph, functional.NestedCall), else None: Keras' one node of the nested model
    nested_call: object | None = None
    parents: list[Node] = field(init=False)

    def __post_init__(self):
        self.parents = [t.node for t in self.inputs]

    @property
    def all_outputs(self) -> list[KerasTensor]:
        """Every tensor this call made: ``outputs``, or ``[output]`` for a layer with one."""
        return self.outputs or [self.output]

    @property
    def several_args(self) -> bool:
        """Called as ``layer(a, b, ..., k=t)``: forward gets the positional arrays as a list and
        the keyword ones by name, backward returns one gradient per tensor in ``inputs``."""
        return not self.inputs_as_list and (len(self.inputs) > 1 or bool(self.kwargs))

    def call_arguments(self, values: dict) -> tuple[list, dict]:
        """``(positional arrays, keyword arguments)`` of this call, with ``values`` mapping each
        KerasTensor to its array (a keyword that is not a tensor is passed as it is)."""
        n_kw = sum(len(keyword_tensors(v)) for v in self.kwargs.values())
        args = [values[t] for t in self.inputs[:len(self.inputs) - n_kw]]
        kwargs = {k: _map_tensors(v, values) for k, v in self.kwargs.items()}
        return args, kwargs


def keyword_tensors(value) -> list[KerasTensor]:
    """The KerasTensors a keyword argument holds: itself, or those of a list (``initial_state``)."""
    if isinstance(value, KerasTensor):
        return [value]
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, KerasTensor)]
    return []


def _map_tensors(value, values: dict):
    """``value`` with each KerasTensor (alone or in a list) replaced by ``values[tensor]``."""
    if isinstance(value, KerasTensor):
        return values[value]
    if isinstance(value, list | tuple) and keyword_tensors(value):
        return [values[v] if isinstance(v, KerasTensor) else v for v in value]
    return value


class InputLayer(Layer):
    """The layer behind ``Input(shape)``: no weights; the model feeds it the data."""

    def __init__(self, shape=None, dtype: str | None = None, name: str | None = None,
                 batch_size: int | None = None, batch_shape=None, **kwargs):
        batch_shape = kwargs.pop("batch_input_shape", batch_shape)  # Keras' older name
        for arg in ("sparse", "ragged", "optional"):  # Keras' arguments, implemented at False only
            if kwargs.pop(arg, False) is not False:
                raise ValueError(f"Input: scratchnet implements only {arg}=False (Keras' argument)")
        if kwargs:
            raise TypeError(f"Input: unexpected argument(s) {sorted(kwargs)}")
        if batch_shape is not None:
            # Keras' batch_shape=(4, 10, 3): the batch size, then one sample's shape
            if shape is not None or batch_size is not None:
                raise ValueError("Input: pass either shape (and batch_size) or batch_shape, not both; "
                                 f"received shape={shape!r}, batch_size={batch_size!r}, "
                                 f"batch_shape={batch_shape!r}")
            if not isinstance(batch_shape, tuple | list) or len(batch_shape) < 2:
                raise ValueError("Input: expected batch_shape to be a tuple (batch, ...) of at least two "
                                 f"entries, received {batch_shape!r}")
            batch_size, shape = batch_shape[0], tuple(batch_shape[1:])
        if shape is None:
            raise ValueError("Input: You must pass a `shape` argument.")
        if batch_size is not None:
            batch_size = positive_int(batch_size, "batch_size", "Input")
        self.batch_size = batch_size  # None: any batch size (the usual case)
        if name is None:
            count = _NAME_COUNTS.get("input_layer", 0)
            _NAME_COUNTS["input_layer"] = count + 1
            name = "input_layer" if count == 0 else f"input_layer_{count}"
        super().__init__(name=name)
        if isinstance(shape, numbers.Integral):
            shape = (shape,)
        if not isinstance(shape, tuple | list) or not shape:
            raise ValueError(f"Input: expected shape to be a non-empty tuple, received {shape!r}")
        # None: an axis whose size varies from batch to batch (Input((None, 8)): sequences of
        # any length), as in Keras; every other axis a positive integer
        self.shape = tuple(None if d is None else positive_int(d, "every dimension of shape", "Input")
                           for d in shape)
        if dtype is not None and dtype not in _DTYPES:
            raise ValueError(f"Input: expected dtype to be one of {', '.join(_DTYPES)}; "
                             f"received {dtype!r}")
        self.dtype = dtype
        self.ensure_built(self.shape)
        tensor_dtype = dtype or config.floatx()
        tensor = KerasTensor((self.batch_size,) + self.shape, tensor_dtype, self.name)
        tensor.node = Node(self, [], tensor)
        self._inbound_nodes.append(tensor.node)  # self.output is this tensor

    @property
    def batch_shape(self) -> tuple:
        """Keras' ``InputLayer.batch_shape``: the batch size (None: any), then one sample's shape."""
        return (self.batch_size, *self.shape)

    def forward(self, x, training=False):
        return x

    def backward(self, dy):
        return dy

    def get_config(self):
        """Keras' ``InputLayer.get_config`` (keras/src/layers/core/input_layer.py): the batch shape
        (batch size first, None when any), the dtype's name, and its other arguments, all False
        here; no ``trainable`` (Keras' InputLayer takes none)."""
        return {"batch_shape": self.batch_shape, "dtype": self.dtype or config.floatx(),
                "sparse": False, "ragged": False, "name": self.name, "optional": False}


class ConstantLayer(InputLayer):
    """An array a traced ``call`` made itself (``positions = ops.arange(0, maxlen)``) and then gave
    to a layer: a graph input the model feeds itself. Its values are one sample's, the same for
    every sample: each forward pass repeats them along the batch axis (``np.broadcast_to``, no
    copy), so the layer reading them sees a batch like any other and its backward pass sums the
    gradient over the batch, as broadcasting does in Keras."""

    _auto_name = True  # a second constant of one call is renamed constant_layer_1, as an op's layer

    def __init__(self, value):
        value = np.asarray(value)
        if value.dtype.kind == "f":
            value = value.astype(config.floatx())
        dtype = {"f": config.floatx(), "b": "bool"}.get(value.dtype.kind, str(value.dtype))
        if dtype not in _DTYPES:
            raise TypeError(f"a constant of dtype {value.dtype} cannot join a traced graph")
        self.value = value
        super().__init__(value.shape or (1,), dtype=dtype, name="constant_layer")
        self.value = value.reshape(self.shape)

    def batch(self, n: int) -> np.ndarray:
        """The constant repeated for a batch of ``n`` samples: ``(n,) + value.shape``."""
        return np.broadcast_to(self.value, (n,) + self.value.shape)

    def get_config(self):
        return {**super().get_config(), "value": self.value.tolist()}


class RandomDrawLayer(ConstantLayer):
    """A random draw a traced ``call`` made for a batch of unknown size (keras.io's VAE
    ``Sampling``: ``random.normal(shape=(ops.shape(z_mean)[0], dim))``, the batch ``None`` while
    tracing): a graph input the model feeds itself, drawn afresh for each forward pass's batch,
    as Keras draws at each call. ``draw(shape)`` makes the array (:mod:`scratchnet.random`)."""

    def __init__(self, draw, sample_shape: tuple, dtype):
        super().__init__(np.zeros(sample_shape, dtype=dtype))
        self.draw = draw

    def batch(self, n: int) -> np.ndarray:
        """A fresh draw for a batch of ``n`` samples: ``(n,) + sample shape``."""
        return self.draw((n,) + self.value.shape)


def constant(value) -> KerasTensor:
    """The KerasTensor of an array used inside a traced ``call`` (see :class:`ConstantLayer`)."""
    return ConstantLayer(value).output


class BatchConstantLayer(ConstantLayer):
    """An array a ``call`` traced for a known batch size made with that size first
    (``ops.zeros((inputs.shape[0], units))`` with rows that differ): its rows are the samples'.
    The trace it belongs to runs batches of that size only (:func:`traced_batch_size`)."""

    def __init__(self, value):
        super().__init__(np.asarray(value)[0])
        self.rows = np.asarray(value).astype(self.value.dtype)

    def batch(self, n: int) -> np.ndarray:
        """The rows themselves: ``(n,) + sample shape``, for the batch size of its trace."""
        if n != len(self.rows):
            raise ValueError(f"a constant made for batches of {len(self.rows)} samples (a call traced "
                             f"for that batch size) cannot be fed a batch of {n}")
        return self.rows


def layer_constant(value) -> KerasTensor:
    """An array given to a layer inside a traced ``call``. Keras reads it as a whole tensor, batch
    axis first, whose result then broadcasts against the model's batch. One of two axes or more
    whose first is 1 (``ops.expand_dims(ops.arange(num_patches), axis=0)``, keras.io's ViT
    ``PatchEncoder``) is such a batch of one: its sample is ``value[0]``, repeated along the batch.
    In a ``call`` traced for a known batch size ``n`` (an eager call, a batch of ``fit``:
    :func:`traced_batch_size`), an array of two axes or more whose first is ``n`` is a batch too
    (``ops.zeros((inputs.shape[0], units))``, keras.io's ``CustomRNN``): one sample's value
    repeated if its rows are equal, else its rows (:class:`BatchConstantLayer`). Any other array
    is one sample's value (``ops.arange(maxlen)``, keras.io's ``TokenAndPositionEmbedding``,
    whose result broadcasts the same way)."""
    value = np.asarray(value)
    batch = traced_batch_size()
    if batch is not None and batch > 1 and value.ndim >= 2 and value.shape[0] == batch:
        if not np.all(value == value[:1]):
            return BatchConstantLayer(value).output
        value = value[:1]
    if value.ndim >= 2 and value.shape[0] == 1:
        value = value[0]
    return constant(value)


def Input(shape=None, batch_size: int | None = None, dtype: str | None = None,  # noqa: N802
          name: str | None = None, batch_shape=None, **kwargs) -> KerasTensor:
    """``keras.Input``: a symbolic tensor of shape ``(None,) + shape``, the start of a graph.
    ``batch_size=4`` (or ``batch_shape=(4, *shape)``) fixes the batch axis, ``(4,) + shape``, as a
    stateful RNN needs; the layers' outputs carry it on.

    ``Input((3,))`` returns a :class:`KerasTensor`; call layers on it, then
    ``scratchnet.Model(inputs, outputs)``. As the first entry of a ``Sequential`` it declares the
    shape of one sample. ``dtype`` (``"float32"``, ``"int64"``, ``"string"``, ...) is what the
    model's input reads; ``None`` means ``config.floatx()``.
    """
    return InputLayer(shape, dtype=dtype, name=name, batch_size=batch_size, batch_shape=batch_shape,
                      **kwargs).output


def is_symbolic(x) -> bool:
    """True for a KerasTensor, or a (possibly nested) list/tuple of them."""
    if isinstance(x, KerasTensor):
        return True
    return isinstance(x, list | tuple) and len(x) > 0 and all(is_symbolic(t) for t in x)


def call_symbolic(layer: Layer, x, training: bool | None = None) -> KerasTensor:
    """``layer(x)`` on KerasTensors: build the layer for their shapes (the first time), check
    the shapes (later times), and record a :class:`Node`. Returns the output KerasTensor.
    ``training``: a value written in the call (``Dropout(0.5)(x, training=True)``), which then
    holds whatever mode the model runs in, as in Keras; None follows the model."""
    from scratchnet.layers.input_spec import assert_input_compatibility

    assert_input_compatibility(getattr(layer, "input_spec", None), x, layer.name)  # keras.InputSpec
    as_list = isinstance(x, list | tuple)
    inputs = list(x) if as_list else [x]
    _refuse_batchless(layer, inputs)
    shapes = [t.shape[1:] for t in inputs]
    where = f'layer "{layer.name}" ({type(layer).__name__})'
    if not layer.built:
        build_shape = shapes if as_list else shapes[0]
        _check_rng()
        if layer._made_of_layers():  # it traces its call for the batch size of its inputs
            layer._trace_batch = _batch_size(inputs)
        try:
            output_shape = layer.ensure_built(build_shape, _GLOBAL["rng"])
        finally:
            layer.__dict__.pop("_trace_batch", None)
    else:
        expected = layer.input_shape
        given = [tuple(s) for s in shapes] if as_list else tuple(shapes[0])
        if _GLOBAL["relax"] and given != _as_tuples(expected):
            from scratchnet.subclassing import relax_layer

            relax_layer(layer, given)  # a retrace for new shapes: None where they differ
        elif not _compatible(given, expected):
            raise ValueError(
                f"Input 0 of {where} is incompatible with the layer: expected "
                f"shape={_with_batch(expected, as_list)}, found shape={_with_batch(given, as_list)}"
            )
        output_shape = layer.output_shape
    dtype = _output_dtype(layer, inputs)
    node = Node(layer, inputs, inputs_as_list=as_list,
                training=None if training is None else bool(training))
    if not hasattr(layer, "_inbound_nodes"):  # a subclass that skipped Layer.__init__
        layer._inbound_nodes = []
    output = _record_outputs(layer, node, output_shape, dtype)
    # Keras' x._keras_mask, to print (layers/masking.py); a call with several outputs: one each
    from scratchnet.layers.masking import symbolic_mask

    mask = symbolic_mask(layer, x, output)
    if isinstance(output, KerasTensor) and mask is not None:
        output._keras_mask = mask
    elif isinstance(output, list | tuple) and isinstance(mask, list):
        for tensor, tensor_mask in zip(output, mask, strict=True):
            if tensor_mask is not None:
                tensor._keras_mask = tensor_mask
    return output


def _refuse_batchless(layer: Layer, inputs: list) -> None:
    for t in inputs:
        if isinstance(t, BatchlessTensor):
            raise ValueError(f'layer "{layer.name}" ({type(layer).__name__}) cannot take {t!r}: it has '
                             "no batch axis (an op's result for the whole batch at once), and a layer "
                             "takes a batch of samples. Use it in another op that brings the batch "
                             "back (adding a tensor of shape (None, ...)), or keep the batch axis")


def _record_outputs(layer: Layer, node: Node, output_shape, dtype: str):
    """Give ``node`` its output KerasTensor, or (a layer with ``extra_output_shapes``, such as
    ``LSTM(return_state=True)``) its list of them; record the node; return what the call returns."""
    batch = _batch_size(node.inputs)
    meet = getattr(layer, "meet_batch_size", None)
    if meet is not None:  # a stateful RNN fixes its batch size here (and refuses None)
        meet(batch)
    node.output = KerasTensor((batch,) + tuple(output_shape), dtype, layer.name, node)
    extra = getattr(layer, "extra_output_shapes", None)
    extra = extra() if extra is not None else []
    if extra:
        node.outputs = [node.output] + [KerasTensor((batch,) + tuple(shape), dtype, layer.name, node, k)
                                        for k, shape in enumerate(extra, start=1)]
    layer._inbound_nodes.append(node)
    if not node.outputs:
        return layer._call_outputs(node.output)  # (a call returning a dict of one: that dict)
    # a Keras-style call returning a tuple (a dict) gives a tuple (a dict) of KerasTensors, as in Keras
    return layer._call_outputs(list(node.outputs))


def _batch_size(inputs: list) -> int | None:
    """The batch size the inputs of a call declare (``Input(batch_size=4)``), passed on to its
    outputs as Keras' shapes ``(4, ...)`` do; None (any size) unless one is declared."""
    sizes = {t.shape[0] for t in inputs if isinstance(t, KerasTensor) and t.shape and t.shape[0] is not None}
    return sizes.pop() if len(sizes) == 1 else None


def call_symbolic_args(layer: Layer, args: list, kwargs: dict, build_shapes):
    """``layer(*args, **kwargs)`` on KerasTensors (a layer called on several tensors, such as
    MultiHeadAttention, or ``LSTM(x, initial_state=[h, c])``): as :func:`call_symbolic`, with
    ``build_shapes(args, kwargs)`` giving the shape (or list of shapes) the layer builds for and
    checks. Records a :class:`Node` whose ``inputs`` are ``args`` then the tensors among
    ``kwargs`` (a list's in its order). Returns the output KerasTensor (a list of them for a
    layer with several outputs)."""
    for t in list(args) + [v for v in kwargs.values() if not isinstance(v, bool | np.bool_)]:
        items = list(t) if isinstance(t, list | tuple) and t else [t]
        if not all(isinstance(item, KerasTensor) for item in items):
            raise ValueError(f'layer "{layer.name}" ({type(layer).__name__}): in a functional '
                             f"graph every tensor argument must be a KerasTensor, received {t!r}")
    _refuse_batchless(layer, list(args) + [t for v in kwargs.values() for t in keyword_tensors(v)])
    shapes = _as_tuples(build_shapes(args, kwargs))
    if not layer.built:
        _check_rng()
        output_shape = layer.ensure_built(shapes, _GLOBAL["rng"])
    else:
        expected = _as_tuples(layer.input_shape)
        if _GLOBAL["relax"] and shapes != expected:
            from scratchnet.subclassing import relax_layer

            relax_layer(layer, shapes)  # a retrace for new shapes: None where they differ
        elif not _compatible(shapes, expected):
            several = isinstance(shapes, list)
            raise ValueError(f'Input 0 of layer "{layer.name}" ({type(layer).__name__}) is '
                             f"incompatible with the layer: expected shape "
                             f"{_with_batch(expected, several)}, found {_with_batch(shapes, several)}")
        output_shape = layer.output_shape
    inputs = list(args) + [t for k in sorted(kwargs) for t in keyword_tensors(kwargs[k])]
    node = Node(layer, inputs, kwargs=dict(kwargs))
    return _record_outputs(layer, node, output_shape, _output_dtype(layer, inputs))


def _compatible(given, expected) -> bool:
    """A later call's shape(s) fit those the layer was built for: the same rank, and the same
    size on every axis where both know it (``None``, a length that varies, fits any)."""
    if isinstance(expected, list):
        return isinstance(given, list) and len(given) == len(expected) and all(
            _compatible(tuple(g), tuple(e)) for g, e in zip(given, expected, strict=True))
    return len(given) == len(expected) and all(
        g is None or e is None or g == e for g, e in zip(given, expected, strict=True))


def _as_tuples(shapes):
    """A shape as a tuple, or a list of shapes as a list of tuples."""
    if isinstance(shapes, list) and shapes and isinstance(shapes[0], list | tuple):
        return [tuple(s) for s in shapes]
    return tuple(shapes)


def _arithmetic(tensor: KerasTensor, other, op: str) -> KerasTensor:
    """The layer call behind ``tensor <op> other`` (see ``KerasTensor.__add__``)."""
    from scratchnet.layers.image_preprocessing import Rescaling
    from scratchnet.layers.merging import Add, Multiply, Subtract

    if isinstance(tensor, BatchlessTensor) or isinstance(other, BatchlessTensor):
        from scratchnet import ops  # the op's layer computes the batchless value inside it

        if op == "subtracted_from":
            return ops.subtract(other, tensor)
        return getattr(ops, op)(tensor, other)
    if isinstance(other, KerasTensor):
        pair = {"add": (Add, [tensor, other]), "subtract": (Subtract, [tensor, other]),
                "subtracted_from": (Subtract, [other, tensor]),
                "multiply": (Multiply, [tensor, other])}.get(op)
        if pair is None:
            raise TypeError(f"{tensor!r} / {other!r}: dividing one KerasTensor by another has no "
                            "scratchnet layer; use Multiply with a reciprocal computed by a layer, "
                            "or a Lambda")
        return pair[0]()(pair[1])
    if isinstance(other, np.ndarray) and tracing():  # an array made in a traced call()
        batch = traced_batch_size()
        if batch is not None and batch > 1 and other.ndim == tensor.ndim and other.shape[0] == batch \
                and not np.all(other == other[:1]):  # rows of the batch the call is traced for
            rows = np.broadcast_to(other, (batch,) + tuple(tensor.shape[1:]))
            return _arithmetic(tensor, BatchConstantLayer(rows).output, op)
        if batch is not None and other.ndim == tensor.ndim and other.shape[0] == batch:
            other = other[:1]  # equal rows: one sample's value, repeated
        return _arithmetic(tensor, constant(_sample_value(other, tensor)), op)
    if isinstance(other, bool) or not isinstance(other, numbers.Real) or not np.isfinite(other):
        raise TypeError(f"{tensor!r}: arithmetic with {other!r} is not supported in a functional "
                        "graph; use another KerasTensor or a finite Python number")
    c = float(other)
    if op == "divide" and c == 0:
        raise ZeroDivisionError(f"{tensor!r} / 0")
    scale, offset = {"add": (1.0, c), "subtract": (1.0, -c), "subtracted_from": (-1.0, c),
                     "multiply": (c, 0.0),
                     "divide": (1.0 / c if c else 0.0, 0.0)}[op]  # (built whole: c may be 0 for +, -, *)
    # NumPy float64, not Python floats: Keras' `x + 0.1` on a float64 tensor adds 0.1 itself, where
    # a Python float given to Rescaling would be rounded to float32 first (keras_constant)
    return Rescaling(np.float64(scale), offset=np.float64(offset))(tensor)


def _sample_value(array: np.ndarray, tensor: KerasTensor) -> np.ndarray:
    """An array met in arithmetic with ``tensor`` as one sample's value: a leading batch axis of
    1 dropped, then broadcast to the sample shape (as NumPy's broadcasting would)."""
    if array.ndim == tensor.ndim and array.shape[0] == 1:
        array = array[0]
    return np.broadcast_to(array, tuple(tensor.shape[1:])).copy()


# "relax": > 0 while a subclassed model retraces its call for inputs of new shapes, when a built
# layer met with other shapes is rebuilt for both (scratchnet.subclassing.relax_layer)
# "batch": the batch size the innermost traced call runs for (None: any, the batch unknown)
_GLOBAL: dict = {"rng": None, "tracing": 0, "relax": 0, "batch": None}


def tracing() -> bool:
    """True while a subclassed model's or composite layer's ``call`` runs on KerasTensors
    (:mod:`scratchnet.subclassing`): arrays given to layers then join the graph as constants."""
    return _GLOBAL["tracing"] > 0


@contextlib.contextmanager
def on_arrays():
    """Code that runs on arrays while a call is traced (a taped layer's or a Lambda's function on
    its shape probes, batches of 2 and 3): the traced batch size is not theirs, so a draw or an
    array made there with its first axis of that size stays an array."""
    saved = _GLOBAL["batch"]
    _GLOBAL["batch"] = None
    try:
        yield
    finally:
        _GLOBAL["batch"] = saved


def traced_batch_size() -> int | None:
    """The batch size of the ``call`` being traced: an integer when it was traced for data (an
    eager call, a batch of ``fit``), so ``inputs.shape[0]`` is that size as in Keras' eager call;
    None outside a trace and in one on ``Input`` s (the batch unknown, as in Keras' functional
    construction)."""
    return _GLOBAL["batch"] if tracing() else None


def _check_rng() -> None:
    if _GLOBAL["rng"] is None:
        _GLOBAL["rng"] = np.random.default_rng()


def set_random_seed(seed: int) -> None:
    """``keras.utils.set_random_seed(seed)``: seeds scratchnet's global generator, which
    initializes layers built on symbolic tensors (``layer(Input(...))``) and gives every model
    made without a ``seed`` its own (initial weights, dropout, the batch order of ``fit``), and,
    as Keras' does, Python's ``random`` and NumPy's global ``np.random``
    (keras/src/utils/rng_utils.py): the same seed gives the same run."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"set_random_seed: expected seed to be an integer, received {seed!r}")
    _GLOBAL["rng"] = np.random.default_rng(int(seed))
    random.seed(int(seed))
    np.random.seed(int(seed))


def global_rng() -> np.random.Generator:
    """The generator :func:`set_random_seed` seeds (a fresh random one until it is called)."""
    _check_rng()
    return _GLOBAL["rng"]


def _output_dtype(layer: Layer, inputs: list[KerasTensor]) -> str:
    """Float layers output ``floatx``; a lookup layer outputs ids."""
    out = getattr(layer, "output_dtype", None)
    if isinstance(out, str):
        return out
    if isinstance(layer, InputLayer):
        return inputs[0].dtype
    return config.floatx()


def _with_batch(shape, as_list: bool):
    if as_list:
        return [(None,) + tuple(s) for s in shape]
    return (None,) + tuple(shape)
