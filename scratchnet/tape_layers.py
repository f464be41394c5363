"""Layers written the Keras way: weights made with ``add_weight`` and used in ``call``.

::

    class Linear(sn.Layer):                 # keras.Layer, import changed
        def __init__(self, units=32):
            super().__init__()
            self.units = units

        def build(self, input_shape):       # Keras' signature: the input's shape, batch axis first
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal")
            self.b = self.add_weight(shape=(self.units,), initializer="zeros")

        def call(self, inputs):
            return sn.ops.matmul(inputs, self.w) + self.b

scratchnet's own layers write their backward pass by hand; this one has none, and ``call`` is
the user's code. So it runs by the gradient tape (:mod:`scratchnet.autodiff`), as ``Lambda``
does: in training, ``call`` receives a traced input, and each weight attribute (``self.w``)
holds a traced copy of the weight's value for the length of the call; every NumPy or ``sn.ops``
operation writes a line on the tape, and the backward pass reads the tape from the end to give
``dL/dx`` and each weight's gradient. Where no backward pass follows (``predict``), ``call`` runs
on plain arrays.

A layer whose ``call`` only calls other layers (keras.io's ``TransformerBlock``) is traced into a
graph of those layers instead (:mod:`scratchnet.subclassing`); a layer with weights of its own
that also calls weighted layers is refused (the tape does not go into other layers' hand-written
backward passes): give the weights a layer of their own.

Non-trainable weights stay :class:`~scratchnet.layers.base.Parameter` objects during the call, so
Keras' ``self.total.assign_add(ops.sum(x, axis=0))`` updates them (their value, not a gradient).
``self.add_loss(rate * ops.mean(x))`` adds a term to the training loss; the backward pass seeds it
with ``dL/dterm = 1``, so its gradient reaches the input and the weights along with the output's.
"""

from __future__ import annotations

import numpy as np

from scratchnet.autodiff import Tape, Traced
from scratchnet.layers.base import DictOutputs, Layer, Parameter
from scratchnet.scopes import StatelessScope, SymbolicScope


def build_keras_style(layer: Layer, input_shape: tuple, rng: np.random.Generator):
    """``ensure_built`` of a layer whose ``build`` has Keras' signature: run it (it sees
    ``(None, *input_shape)``, and its ``add_weight`` calls draw from ``rng``), then find the output
    shape as the layer runs: by the tape with weights of its own, as a graph of layers without."""
    several = isinstance(input_shape, list) and input_shape and isinstance(input_shape[0], tuple | list)
    batch_shape = [(None, *s) for s in input_shape] if several else (None, *input_shape)
    layer._build_rng = rng
    try:
        layer.build(batch_shape)
    finally:
        layer._build_rng = None
    from scratchnet.variables import adopt_variables

    adopt_variables(layer)  # self.w = sn.Variable(...) in __init__ or build: a weight, as in Keras
    if hasattr(layer, "state_size"):  # a recurrent cell: RNN runs its call step by step (TapeCell)
        sizes = layer.state_size if isinstance(layer.state_size, list | tuple) else [layer.state_size]
        return (int(getattr(layer, "output_size", None) or sizes[0]),)
    if layer._runs_call() and not (layer.params or layer.non_trainable_params):
        from scratchnet.subclassing import build_composite, tracked_layers

        if tracked_layers(layer):  # made of layers, made in build()
            return build_composite(layer, input_shape, rng)
    if not layer._runs_call():
        raise ValueError(f'Layer "{layer.name}" ({type(layer).__name__}): a build(input_shape) in Keras\' '
                         "form needs a call(inputs) beside it (a layer with its own forward and "
                         "backward builds with build(input_shape, rng) and returns its output shape)")
    return build_taped(layer, input_shape)


def build_taped(layer: Layer, input_shape):
    """Mark ``layer`` as run by the tape and return its output shape: ``compute_output_shape``
    if the layer defines it (Keras' form, batch axis included), else the shape ``call`` gives on
    a batch of two zero samples."""
    from scratchnet.subclassing import tracked_layers

    held = [sub.name for sub in tracked_layers(layer)]
    if held:
        raise ValueError(f'Layer "{layer.name}" ({type(layer).__name__}) has weights of its own and holds '
                         f"the layers {held}: scratchnet runs a layer's own weights by the gradient "
                         "tape, which does not go into other layers' hand-written backward passes. Give "
                         "the weights a layer of their own, and call both from a layer made of layers "
                         "(or a subclassed model)")
    layer._taped = True
    several = isinstance(input_shape, list)
    compute = getattr(type(layer), "compute_output_shape", None)
    if compute is not None:
        shape = compute(layer, [(None, *s) for s in input_shape] if several else (None, *input_shape))
        if isinstance(shape, dict):  # a dict of outputs: a shape each, by sorted key (DictOutputs)
            layer._call_structure = DictOutputs(shape)
            return [tuple(s[1:]) for s in layer._call_structure.flatten(shape)]
        if isinstance(shape, list | tuple) and shape and isinstance(shape[0], list | tuple):
            layer._call_structure = type(shape)  # several outputs: a shape each
            return [tuple(s[1:]) for s in shape]
        return tuple(shape[1:])
    # Run call on a batch of two zero samples; an axis of unknown size (None) is tried at two
    # sizes, and an output axis that follows it is unknown too.
    unknown = any(None in s for s in input_shape) if several else None in input_shape
    probes = []  # per probe, the shape of each output (one output: a list of one)
    for size in (2, 3) if unknown else (2,):
        def zeros(shape, size=size):
            return np.zeros((2, *(size if d is None else d for d in shape)), dtype=_float_dtype(layer))

        probe = [zeros(s) for s in input_shape] if several else zeros(input_shape)
        # a call(inputs, mask=None) that uses its mask (TemporalSoftmax) is probed with one that
        # keeps every step, as Keras traces it with the input's mask tensor
        probe_mask = np.ones(probe.shape[:2], bool) if not several and probe.ndim >= 2 else None
        layer._pending_losses = []  # (an add_loss of the probe is dropped)
        try:
            # Keras infers the output in a StatelessScope and a SymbolicScope: an assign in call
            # changes nothing, and code asking in_symbolic_scope() knows it is a trial
            with np.errstate(all="ignore"), StatelessScope(), SymbolicScope():
                y = _call(layer, probe, training=False, mask=probe_mask)
        finally:
            layer._pending_losses = None
            layer.clear_activity()
        # a call returning a tuple or list of tensors (TemporalSplit's ops.split), or a dict of
        # them (by sorted key, as Keras flattens it): several outputs
        layer._call_structure = DictOutputs(y) if isinstance(y, dict) else \
            type(y) if isinstance(y, list | tuple) else None
        ys = [_plain(v) for v in _flat_outputs(y)]
        for out in ys:
            if out.ndim == 0 or out.shape[0] != 2:
                given = [a.shape for a in probe] if several else probe.shape
                raise ValueError(f'Layer "{layer.name}" ({type(layer).__name__}): call must keep the '
                                 f"batch axis first: on a batch of shape {given} it returned shape "
                                 f"{out.shape}")
        probes.append([out.shape[1:] for out in ys])
    shapes = [_known_axes(layer, input_shape, [p[k] for p in probes]) for k in range(len(probes[0]))]
    return shapes if layer._call_structure is not None else shapes[0]


def _known_axes(layer: Layer, input_shape, shapes: list) -> tuple:
    """One output's shape from its shapes at each probe size: None on an axis that changed."""
    if len({len(shape) for shape in shapes}) > 1:
        raise ValueError(f'Layer "{layer.name}" ({type(layer).__name__}): the rank of call\'s output '
                         f"depends on the size of an unknown axis of its input {input_shape}")
    return tuple(None if len({shape[k] for shape in shapes}) > 1 else shapes[0][k]
                 for k in range(len(shapes[0])))


def forward_taped(layer: Layer, x, training: bool, mask=None):
    """Run ``call``; on the tape when a backward pass will follow (the layer's ``dL/dx`` or a
    trainable weight's gradient is wanted). ``mask``: the input's padding mask, for a
    ``call(inputs, mask=None)`` (a constant: no gradient goes to it)."""
    trainable = list(layer.params.values()) if layer.trainable else []
    record = layer.for_backward and (layer.compute_input_grad or bool(trainable))
    layer.clear_activity()  # add_loss terms are this call's
    layer._pending_losses = []
    try:
        if not record:
            layer._taped_call = None
            return _plain_outputs(_call(layer, _own_copy(x), training, mask=mask))
        tape = Tape(f'Layer "{layer.name}" ({type(layer).__name__})')
        watched_x = [tape.watch(a) for a in x] if isinstance(x, list | tuple) else tape.watch(x)
        traced = {id(p): tape.watch(p.value) for p in trainable}
        output = _call(layer, watched_x, training, traced, mask)
        layer._taped_call = (tape, watched_x, trainable, traced, output, layer._pending_losses)
        return _plain_outputs(output)
    finally:
        layer._pending_losses = None


def backward_taped(layer: Layer, dy):
    """``dL/dx`` and each trainable weight's gradient, from the tape of the last forward pass.
    A ``call`` that returned several tensors takes ``dy`` as a list, one gradient per output
    (None for an output no loss reads)."""
    if getattr(layer, "_taped_call", None) is None and not layer.compute_input_grad \
            and not (layer.trainable and layer.params):
        return None  # nothing wanted: forward_taped recorded no tape (a weightless layer on the inputs)
    if getattr(layer, "_taped_call", None) is None:
        raise RuntimeError(f'Layer "{layer.name}": backward called without a recorded forward pass (the '
                           "last forward was an inference one)")
    tape, watched_x, trainable, traced, output, added = layer._taped_call
    outputs = _flat_outputs(output)
    if len(outputs) > 1 or isinstance(output, list | tuple):  # several: each seeded with its own gradient
        if not isinstance(dy, list | tuple) or len(dy) != len(outputs):
            raise ValueError(f'Layer "{layer.name}": its call returned {len(outputs)} tensors, so backward '
                             f"expects a list of {len(outputs)} gradients (None for an unused one), "
                             f"received {type(dy).__name__}")
        seeds = list(zip(outputs, dy, strict=True))
    else:
        seeds = [(outputs[0], dy)]
    if layer.loss_seed != 0:  # add_loss: dL/dterm = 1 (Layer.loss_seed under a compute_loss override)
        seeds += [(loss, np.full_like(loss.value, layer.loss_seed)) for loss in added]
    inputs = list(watched_x) if isinstance(watched_x, list) else [watched_x]
    grads = tape.gradients(seeds, [*inputs, *(traced[id(p)] for p in trainable)])
    for param, grad in zip(trainable, grads[len(inputs):], strict=True):
        param.grad = grad
    if not layer.trainable:  # a frozen layer's weights: no gradient
        for param in layer.params.values():
            param.grad = np.zeros_like(param.value)
    if not layer.compute_input_grad:
        return None
    return grads[:len(inputs)] if isinstance(watched_x, list) else grads[0]


def _call(layer: Layer, x, training: bool, traced: dict | None = None, mask=None):
    """``layer.call(x)`` with each trainable weight attribute replaced, for the length of the
    call, by its traced copy (``traced``: id(Parameter) -> Traced) or by its plain value; lists
    and tuples of weights too. The attributes are given back afterwards. A ``call`` with a
    ``mask`` argument gets ``mask`` (None when the input carries none, as in Keras)."""
    from scratchnet.subclassing import call_takes

    def swap(value):
        if isinstance(value, Parameter) and any(value is p for p in layer.params.values()):
            return traced[id(value)] if traced is not None and id(value) in traced else value.value
        if isinstance(value, list | tuple) and any(isinstance(v, Parameter) for v in value):
            return type(value)(swap(v) for v in value)
        return value

    held = dict(vars(layer))
    replaced = {name: swap(value) for name, value in held.items()}
    replaced = {name: value for name, value in replaced.items() if value is not held[name]}
    kwargs = {"training": bool(training)} if call_takes(layer, "training") else {}
    if call_takes(layer, "mask"):
        kwargs["mask"] = mask
    from scratchnet.layers.input_layer import on_arrays

    try:
        vars(layer).update(replaced)
        with on_arrays():  # (its shape probes run inside a traced call: that batch size is not theirs)
            if getattr(layer, "_spread_inputs", False):  # called as layer(a, b): call(a, b)
                return layer.call(*x, **kwargs)
            return layer.call(x, **kwargs)
    finally:
        vars(layer).update({name: held[name] for name in replaced})


def _own_copy(x):
    """The input(s) copied: Keras' tensors are immutable, so a ``call`` that writes ``inputs -= m``
    (keras.io's Antirectifier) rebinds its name and leaves the caller's tensor as it was; on a
    plain array the same line writes in place, into the previous layer's output (which a skip
    connection may read again) or the caller's ``predict`` data. (On the tape, ``Traced``'s
    in-place operators return new values.)"""
    if isinstance(x, list | tuple):
        return type(x)(np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in x)
    return np.array(x, copy=True) if isinstance(x, np.ndarray) else x


def _flat_outputs(value) -> list:
    """What ``call`` returned, as a list: a list's or tuple's items, a dict's values by sorted
    key (:class:`~scratchnet.layers.base.DictOutputs`), or the one output."""
    if isinstance(value, dict):
        return DictOutputs(value).flatten(value)
    return list(value) if isinstance(value, list | tuple) else [value]


def _plain_outputs(value):
    """What ``call`` returned as plain arrays: one, or a list of them for several outputs (a
    dict's by sorted key; a dict of one: its array)."""
    if isinstance(value, dict) and len(value) == 1:
        return _plain(next(iter(value.values())))
    if isinstance(value, dict):
        return [_plain(v) for v in _flat_outputs(value)]
    return [_plain(v) for v in value] if isinstance(value, list | tuple) else _plain(value)


def _plain(value):
    return value.value if isinstance(value, Traced) else np.asarray(value)


def _float_dtype(layer: Layer):
    weights = layer.weights
    return weights[0].value.dtype if weights else np.float32
