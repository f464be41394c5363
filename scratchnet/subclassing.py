"""Subclassing: Keras models and layers whose ``call`` is made of other layers.

::

    class MLP(sn.Model):                      # or sn.layers.Layer, for a layer made of layers
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.hidden = sn.layers.Dense(32, activation="relu")
            self.dropout = sn.layers.Dropout(0.5)
            self.out = sn.layers.Dense(10)

        def call(self, inputs, training=False):
            x = self.hidden(inputs)
            x = self.dropout(x, training=training)
            return self.out(x)

**Tracing.** scratchnet writes every backward pass by hand, layer by layer, so it does not run
``call`` on arrays. Once the input shape is known (the first batch of ``fit``, ``build``, or a
first ``model(x)``), ``call`` runs once (per batch size: below) on symbolic inputs (:class:`KerasTensor` s, as
``keras.Input`` gives): each layer call records a node, exactly as when a functional model is
written by hand, and the recorded graph is what ``fit``, ``predict`` and the backward pass run
(:class:`scratchnet.functional.Functional`). If ``call`` takes ``training``, it is traced twice,
with ``training=False`` and ``training=True``, on the same layers (the same weights): a Python
``if training:`` and ``Dropout(...)(x, training=training)`` then do what they say. Python code in
``call`` (``if``, ``for``, printing) runs at trace time only, as in a Keras functional model or a
``tf.function``; what runs at every step is the layers. So ``call`` may use layers, arithmetic on
tensors (``x + y``, ``x * 2.0``), ``sn.ops`` functions (``ops.shape``; ``ops.arange`` and other
arrays become constants, repeated along the batch), but not NumPy on a tensor or ``.numpy()``:
those raise an error naming the model.

**The batch size.** A trace for data (a call on arrays, a batch of ``fit``, ``evaluate`` or
``predict``) runs on inputs of the data's batch size, so ``inputs.shape[0]`` and
``ops.shape(x)[0]`` are integers in ``call``, as in Keras' eager call (keras.io's ``CustomRNN``
makes its state with ``ops.zeros((inputs.shape[0], units))``); a batch of another size gets a
trace of its own, on the same layers, and the last :data:`MAX_BATCH_TRACES` sizes are kept
(:func:`composite_graphs`, :meth:`Subclassed._use_batch`). A trace on ``Input`` s (a layer in a
functional model, ``build(input_shape)``) keeps the batch unknown (None), as Keras' functional
construction does, and serves every batch size.

Layers are found as Keras finds them: the model's (or layer's) attributes, in the order they were
first assigned, looking into lists, tuples and dicts; a ``Sequential`` attribute counts as its
layers. ``model.weights`` / ``get_weights()`` follow that order, each layer's own weights first,
as Keras' ``Layer.weights`` does. Layers must be made in ``__init__`` (one made in ``call`` would
be a new layer, with new weights, at each trace): a weighted layer found in the graph but not
among the attributes is refused.
"""

from __future__ import annotations

import inspect

import numpy as np

from scratchnet import config, custom_loss
from scratchnet import losses as losses_mod
from scratchnet import optimizers as optimizers_mod
from scratchnet.functional import Functional, _unique_names
from scratchnet.layers.base import DictOutputs, Layer, _snake_case
from scratchnet.layers.input_layer import _GLOBAL, BatchlessTensor, Input, KerasTensor, global_rng
from scratchnet.model import Model

# What each traced graph holds; a subclassed model takes these from the graph of the mode it runs.
_GRAPH_ATTRS = ("inputs", "outputs", "_nodes", "_shared", "_needs_input_grad", "_pool_after",
                "_outputs_is_list", "_inputs_struct", "input_names", "output_names", "_loss_nodes",
                "_output_keys")
_NOT_TRACKED = {"_call_graphs", "_sublayers", "_inbound_nodes", "_graph", "_active_graph",
                "_caches", "_graph_losses", "_batch_graphs", "_batch_traces",
                "_layer_view"} | set(_GRAPH_ATTRS)
# How many batch sizes a layer or model keeps a trace of (the oldest is dropped beyond): fit and
# predict meet two (the batch size and the last, smaller batch), as TensorFlow retraces a step
MAX_BATCH_TRACES = 8


def call_takes(owner, argument: str) -> bool:
    """Whether ``owner.call`` has a parameter called ``argument`` (``training``, ``mask``)."""
    try:
        return argument in inspect.signature(owner.call).parameters
    except (TypeError, ValueError):
        return False


def tracked_layers(owner) -> list[Layer]:
    """The layers among ``owner``'s attributes, in the order the attributes were first assigned
    (Keras' tracking order); lists, tuples and dicts are looked into, a model counts as its
    layers. Each layer once."""
    found: list[Layer] = []
    seen: set[int] = set()

    def visit(value) -> None:
        if isinstance(value, Layer):
            if id(value) not in seen:
                seen.add(id(value))
                found.append(value)
        elif isinstance(value, Model) and value is not owner:
            for layer in value.layers:
                visit(layer)
        elif isinstance(value, list | tuple):
            for item in value:
                visit(item)
        elif isinstance(value, dict):
            for item in value.values():
                visit(item)

    for key, value in vars(owner).items():
        if key not in _NOT_TRACKED:
            visit(value)
    return found


def symbolic_like(x, where: str, batch_size: int | None = None):
    """KerasTensors standing for the data ``x``: an array, a list/tuple of arrays (several
    inputs) or a dict of them (inputs named by the keys), each ``(batch_size,) + sample shape``
    (``None``: any batch size) and of the data's dtype (floats as ``floatx``)."""
    if isinstance(x, dict):
        return {key: _input_like(value, key, where, batch_size) for key, value in x.items()}
    if isinstance(x, list | tuple) and x and all(hasattr(v, "shape") for v in x):
        return [_input_like(value, f"input_layer_{k}" if k else "input_layer", where, batch_size)
                for k, value in enumerate(x)]
    return _input_like(x, "input_layer", where, batch_size)


def data_batch_size(x) -> int | None:
    """The number of samples in the data ``x`` (an array, a list or dict of them), None if it
    has none or its arrays disagree (the model's own check reports that)."""
    arrays = list(x.values()) if isinstance(x, dict) else list(x) \
        if isinstance(x, list | tuple) and x and all(hasattr(v, "shape") for v in x) else [x]
    sizes = {int(np.shape(a)[0]) if np.ndim(a) else 0 for a in arrays}
    size = sizes.pop() if len(sizes) == 1 else 0
    return size if size > 0 else None


def with_batch_size(inputs, batch_size: int | None):
    """New Inputs like ``inputs`` (one, a list or a dict), each with batch axis ``batch_size``."""
    def one(t: KerasTensor) -> KerasTensor:
        return Input(tuple(t.shape[1:]), batch_size=batch_size, dtype=t.dtype, name=t.name)

    if isinstance(inputs, dict):
        return {key: one(t) for key, t in inputs.items()}
    if isinstance(inputs, list | tuple):
        return [one(t) for t in inputs]
    return one(inputs)


def _batch_of(inputs) -> int | None:
    """The batch size the KerasTensors ``inputs`` (one, a list or a dict) declare."""
    first = next(iter(inputs.values())) if isinstance(inputs, dict) else \
        inputs[0] if isinstance(inputs, list | tuple) else inputs
    return first.shape[0] if isinstance(first, KerasTensor) and first.shape else None


def _input_like(value, name: str, where: str, batch_size: int | None = None) -> KerasTensor:
    array = np.asarray(value)
    if array.ndim < 2:  # Keras' rank fix: (N,) samples are (N, 1)
        array = array.reshape(-1, 1)
    kind = array.dtype.kind
    if kind in "iu":
        dtype = "int64" if array.dtype.itemsize == 8 else "int32"
    elif kind in "USO":
        dtype = "string"
    elif kind in "fb":
        dtype = config.floatx()
    else:
        raise TypeError(f"{where}: expected numeric or string data, received dtype {array.dtype}")
    return Input(tuple(array.shape[1:]), batch_size=batch_size, dtype=dtype, name=name)


def inputs_for_shape(input_shape, where: str):
    """KerasTensors for ``build(input_shape)``: a shape (with or without the batch axis ``None``),
    a list of shapes, or a dict of them; floats, as Keras builds."""
    def one(shape, name):
        shape = tuple(shape)
        if shape and shape[0] is None:
            shape = shape[1:]
        # None after the batch axis: a length that varies from batch to batch ((None, None, 8))
        if not shape or not all(d is None or (isinstance(d, int | np.integer) and not isinstance(d, bool)
                                              and d > 0) for d in shape):
            raise ValueError(f"{where}: build expected input_shape to be a tuple of positive "
                             f"integers or None (Keras' (None, ...) form or one sample's), received "
                             f"{input_shape!r}")
        return Input(tuple(None if d is None else int(d) for d in shape), name=name)

    if isinstance(input_shape, dict):
        return {key: one(shape, key) for key, shape in input_shape.items()}
    if isinstance(input_shape, list | tuple) and input_shape and isinstance(input_shape[0], list | tuple):
        return [one(shape, f"input_layer_{k}" if k else "input_layer") for k, shape in enumerate(input_shape)]
    if isinstance(input_shape, list | tuple):
        return one(input_shape, "input_layer")
    raise ValueError(f"{where}: build expected input_shape to be a tuple of positive integers, "
                     f"received {input_shape!r}")


def trace(owner, inputs, rng: np.random.Generator, where: str,
          modes: tuple = (False, True)) -> dict[bool, Functional]:
    """Run ``owner.call`` on the KerasTensors ``inputs``: ``{training: graph}`` for each
    ``training`` value of ``modes`` (one graph for both when ``call`` takes no ``training``).
    Layers built during the trace draw their initial weights from ``rng``. Inputs of a known batch
    size (a trace for data: an eager call, a batch of ``fit``) make it known inside the call
    (``inputs.shape[0]``, ``ops.shape(x)[0]``; arrays made with it are batches:
    ``input_layer.layer_constant``)."""
    takes_training = call_takes(owner, "training")
    graphs: dict[bool, Functional] = {}
    for training in modes if takes_training else (False,):
        kwargs = {"training": training} if takes_training else {}
        if call_takes(owner, "mask"):
            kwargs["mask"] = None  # data given to a model carries no padding mask
        previous, previous_batch = _GLOBAL["rng"], _GLOBAL["batch"]
        _GLOBAL["rng"] = rng
        _GLOBAL["batch"] = _batch_of(inputs)
        _GLOBAL["tracing"] += 1
        owner._graph_losses = []  # what a subclassed model's self.add_loss(...) records (Subclassed.add_loss)
        try:
            outputs = owner.call(inputs, **kwargs)
        except NotImplementedError:
            raise
        except (TypeError, AttributeError) as err:
            batch = _batch_of(inputs)
            known = (f"the batch size is {batch} there, the size of the data it runs on" if batch is not None
                     else "the batch size is unknown there (inputs.shape[0] and ops.shape(x)[0] are None, "
                     "as in Keras' functional construction: ops.zeros((None, n)) fails in Keras too); "
                     "called on arrays, call() is traced for their batch size")
            raise type(err)(
                f"{where}: call() could not be traced. scratchnet runs call() on symbolic "
                "tensors (KerasTensors, no values) to record its layers; there it can call layers, "
                "add or multiply tensors and use sn.ops, but not compute with NumPy on a tensor or "
                f"read its values (.numpy()); {known}. The error was: {err}") from err
        finally:
            _GLOBAL["tracing"] -= 1
            _GLOBAL["rng"], _GLOBAL["batch"] = previous, previous_batch
        _check_outputs(outputs, where)
        graph = Functional(inputs, outputs, seed=0, name=f"{owner.name}_call")
        graph._returned = type(outputs) if isinstance(outputs, list | tuple) else None  # (tuple or list)
        if owner._graph_losses:
            graph.add_loss_nodes(owner._graph_losses)
        owner._graph_losses = []
        _settle_input_dtypes(graph)
        graphs[training] = graph
    if not takes_training:
        graphs[True] = graphs[False]
    return graphs


def _check_outputs(outputs, where: str) -> None:
    items = list(outputs.values()) if isinstance(outputs, dict) else \
        list(outputs) if isinstance(outputs, list | tuple) else [outputs]
    if not items or not all(isinstance(t, KerasTensor) for t in items):
        raise TypeError(f"{where}: call() must return the output of its layers (a tensor, or a "
                        f"list or dict of them), received {outputs!r}")
    for t in items:
        if isinstance(t, BatchlessTensor):
            raise ValueError(f"{where}: call() returned {t!r}, which has no batch axis (an op's result "
                             "for the whole batch); scratchnet's models return one row per sample")


def _settle_input_dtypes(graph: Functional) -> None:
    """Integer data read only by float layers (a Dense first): the input is float, as Keras'
    layers cast their inputs. An input an Embedding (or other id reader) reads stays integer."""
    for tensor in graph.inputs:
        if tensor.dtype in ("float32", "float64", "string"):
            continue
        readers = [node.layer for node in graph._nodes if tensor in node.inputs]
        if readers and all(getattr(layer, "input_dtype", None) is None for layer in readers):
            tensor.dtype = config.floatx()
            tensor.node.layer.dtype = None


def check_weights_tracked(graphs: dict, tracked: list[Layer], where: str) -> None:
    """Refuse a weighted layer that the graph uses but no attribute holds (made in ``call``)."""
    known = {id(layer) for layer in tracked}
    for graph in graphs.values():
        for layer in graph.layers:
            if layer.weights and id(layer) not in known:
                raise ValueError(f'{where}: layer "{layer.name}" ({type(layer).__name__}) has '
                                 "weights but is not an attribute of the model: it was created inside "
                                 "call(), so each trace would make a new one. Create it in __init__ "
                                 "(self.dense = Dense(...)) and use it in call()")


# ---------------------------------------------------------------------- composite layers
def build_composite(layer: Layer, input_shape, rng: np.random.Generator) -> tuple:
    """``build`` of a layer whose ``call`` is made of layers: trace ``call`` on an Input of
    ``input_shape`` (the dtype of the tensor it was first called on, else floatx); its sub-layers
    get weights named ``"<layer>/<sub-layer>/<weight>"``. Returns the output shape."""
    where = f'layer "{layer.name}" ({type(layer).__name__})'
    batch = getattr(layer, "_trace_batch", None)  # the data's batch size, for an eager call
    inputs = _composite_inputs(layer, input_shape, batch)
    sublayers = tracked_layers(layer)
    if any(sub is layer for sub in sublayers):
        raise ValueError(f"{where}: a layer cannot hold itself")
    for sub in sublayers:  # (its penalty would not reach model.losses: refused, not dropped)
        if getattr(sub, "activity_regularizer", None) is not None:
            raise ValueError(f'{where}: its sub-layer "{sub.name}" has an activity_regularizer, which '
                             "is not implemented inside a layer made of layers; put it on the outer "
                             "layer instead")
    _unique_names(sublayers)
    layer._sublayers = sublayers
    graphs = trace(layer, inputs, rng, where)
    check_weights_tracked(graphs, sublayers, where)
    for sub in sublayers:
        for param in sub.weights:
            param.name = f"{layer.name}/{param.name}"
    layer._call_graphs = graphs
    layer._batch_graphs = {batch: graphs}
    first = graphs[False].inputs[0]
    layer.input_dtype = None if first.dtype in ("float32", "float64") else first.dtype
    return _output_shapes(layer, graphs[False])


def _composite_inputs(layer: Layer, input_shape, batch: int | None):
    """The Inputs a layer made of layers traces its call on: ``(batch,) + input_shape`` (one, or
    a list for a list of shapes), in the dtype of the tensor it was first called on."""
    dtype = getattr(layer, "_trace_dtype", None)
    several = isinstance(input_shape, list) and input_shape and isinstance(input_shape[0], tuple | list)
    if several:
        return [Input(tuple(s), batch_size=batch, dtype=dtype, name=f"{layer.name}_input_{k}")
                for k, s in enumerate(input_shape)]
    return Input(tuple(input_shape), batch_size=batch, dtype=dtype, name=f"{layer.name}_input")


def composite_graphs(layer: Layer, batch: int, eager: bool = False) -> dict[bool, Functional]:
    """The traced graphs a layer made of layers runs a batch of ``batch`` samples with, made
    active (``_call_graphs``): its trace for that batch size; else, unless ``eager``, the one for
    any batch size (built on an ``Input``, the batch unknown, as in a functional model); else a
    new trace of ``call`` for that batch size, so ``inputs.shape[0]`` is ``batch`` there as in
    Keras' eager call. The same layers (weights) serve every trace; the last
    :data:`MAX_BATCH_TRACES` batch sizes are kept."""
    cache = layer.__dict__.setdefault("_batch_graphs", {None: layer._call_graphs})
    key = _trace_key(cache, batch, eager)
    if key not in cache:
        where = f'layer "{layer.name}" ({type(layer).__name__})'
        inputs = _composite_inputs(layer, layer.input_shape, batch)
        cache[key] = trace(layer, inputs, np.random.default_rng(0), where)
        check_weights_tracked(cache[key], layer._sublayers, where)
        _drop_oldest_traces(cache, key)
    layer._call_graphs = cache[key]
    return cache[key]


def _trace_key(cache: dict, batch: int, eager: bool):
    """The key of ``cache`` (traces by batch size, None: any batch size) that runs a batch of
    ``batch`` samples: that size's own trace; else, unless ``eager``, the one for any batch size;
    else ``batch`` (a trace still to make). Layers made of layers and subclassed models alike."""
    return batch if batch in cache or eager or None not in cache else None


def _drop_oldest_traces(cache: dict, keep) -> None:
    """Keep at most :data:`MAX_BATCH_TRACES` entries of ``cache``, dropping the oldest batch sizes
    (never the trace for any batch size, nor ``keep``)."""
    sized = [k for k in cache if k is not None and k != keep]
    while len(cache) > MAX_BATCH_TRACES and sized:
        del cache[sized.pop(0)]


def _output_shapes(layer: Layer, graph: Functional):
    """The output shape of a layer made of layers, from its traced graph; for a ``call`` that
    returns a tuple or list of tensors (the subclassing guide's VAE ``Encoder``) a list of them,
    one per output (``Layer.extra_output_shapes``), the structure kept in ``_call_structure``."""
    out = graph.outputs
    layer._call_structure = graph._returned if len(out) > 1 else None
    if graph._output_keys is not None:  # a dict: its values by sorted key, as Keras flattens it
        layer._call_structure = DictOutputs(graph._output_keys)
    return [tuple(t.shape[1:]) for t in out] if len(out) > 1 else tuple(out[0].shape[1:])


def _all_layers(owner, seen: set | None = None) -> list[Layer]:
    """Every layer under ``owner``: its tracked layers and theirs, depth first, each once (a
    Conv2D and the MaxPooling2D it ran fused refer to each other)."""
    seen = {id(owner)} if seen is None else seen
    found = []
    for layer in tracked_layers(owner):
        if id(layer) not in seen:
            seen.add(id(layer))
            found += [layer, *_all_layers(layer, seen)]
    return found


def relaxed_shape(given, expected):
    """``None`` on each axis where two shapes (or lists of shapes) differ: what TensorFlow's
    ``reduce_retracing`` traces Keras' step for when a second shape comes."""
    if isinstance(expected, list):
        return [relaxed_shape(tuple(g), tuple(e)) for g, e in zip(given, expected, strict=True)]
    if len(given) != len(expected):
        raise ValueError(f"expected inputs of rank {len(expected) + 1}, received rank {len(given) + 1}")
    return tuple(e if g == e else None for g, e in zip(given, expected, strict=True))


def relax_layer(layer: Layer, given) -> None:
    """A built layer met with other shapes while a model retraces for a new input shape: rebuilt
    for both (``None`` where they differ) with the SAME weights, as Keras keeps its layers and
    variables when its step is retraced. A layer made of layers retraces its own ``call`` (its
    sub-layers relax in turn); another layer builds again and gets its old weights back. A weight
    whose shape would change (Flatten then Dense on images of new sizes) is refused."""
    where = f'layer "{layer.name}" ({type(layer).__name__})'
    shape = relaxed_shape(given, layer.input_shape)
    if layer._made_of_layers():
        several = isinstance(shape, list)
        dtype = getattr(layer, "_trace_dtype", None)
        inputs = [Input(s, dtype=dtype, name=f"{layer.name}_input_{k}") for k, s in enumerate(shape)] \
            if several else Input(shape, dtype=dtype, name=f"{layer.name}_input")
        layer._call_graphs = trace(layer, inputs, np.random.default_rng(0), where)
        layer._batch_graphs = {None: layer._call_graphs}  # (traces for other batch sizes: stale)
        layer.input_shape = shape
        layer.output_shape = layer._first_output_shape(_output_shapes(layer, layer._call_graphs[False]))
        return
    kept = {**layer.params, **layer.non_trainable_params}
    layer.built, layer.params, layer.non_trainable_params = False, {}, {}
    layer.ensure_built(shape, np.random.default_rng(0))  # new weights, swapped for the old below
    for weights in (layer.params, layer.non_trainable_params):
        for name, new in weights.items():
            old = kept[name]
            if old.value.shape != new.value.shape:
                raise ValueError(f"{where}: inputs of shape {(None, *shape)} would need weight "
                                 f"{name!r} of shape {new.value.shape}, but it has shape "
                                 f"{old.value.shape}; a model whose weights depend on the input's "
                                 "size cannot take another size")
            weights[name] = old
            for attr, value in list(vars(layer).items()):
                if value is new:
                    setattr(layer, attr, old)


def forward_composite(layer: Layer, x, training: bool, mask=None):
    """Run the traced graph of ``training``'s mode for the batch's size (:func:`composite_graphs`);
    it keeps what its backward pass needs. ``mask``: the padding mask of ``x``, which a subclassed
    model's view (:class:`ModelAsLayer`) hands to the layers of its ``call`` that read its input,
    as Keras' inner layers read it from the tensor (``x._keras_mask``); the mask of the output is
    kept for :meth:`ModelAsLayer.compute_mask`. (Other layers made of layers do not take one
    yet: docs/subclassing.md, section 4.)"""
    first = x[0] if isinstance(x, list | tuple) else x
    graph = composite_graphs(layer, len(first))[bool(training)]
    layer._active_graph = graph
    xs = list(x) if isinstance(x, list | tuple) else [x]
    layer._input_shapes = [(a.shape, a.dtype) for a in xs]
    for node in graph._nodes:  # the layer's dL/dx is wanted: every node passes its gradient on
        graph._needs_input_grad[node] = True
    masks = [mask] if mask is not None and isinstance(layer, ModelAsLayer) and len(xs) == 1 else None
    y = graph.forward(xs, training=bool(training), for_backward=layer.for_backward, input_masks=masks)
    layer._output_masks = graph._output_masks
    return y[0] if graph._output_keys is not None and len(y) == 1 else y  # (a dict of one: one array)


def backward_composite(layer: Layer, dy):
    """dL/d(input) through the traced graph; fills the sub-layers' gradients."""
    graph = getattr(layer, "_active_graph", None)
    if graph is None:
        raise RuntimeError(f'layer "{layer.name}": backward called before forward')
    if isinstance(dy, list | tuple):  # several outputs: one gradient each (None: unused)
        dxs = graph.backward(list(dy), [False] * len(dy))
    else:
        dxs = graph.backward(dy)
    dxs = [np.zeros(shape, dtype if np.dtype(dtype).kind == "f" else config.floatx()) if d is None else d
           for d, (shape, dtype) in zip(dxs, layer._input_shapes, strict=True)]
    return dxs if len(dxs) > 1 else dxs[0]


# ---------------------------------------------------------------------- subclassed models
class Subclassed(Functional):
    """The machinery behind ``class MyModel(sn.Model)`` with layers made in ``__init__`` and a
    ``call(inputs, training=None)``: a user's direct subclass of ``Model`` gets this class as its
    base (``MyModel.__mro__`` shows it). ``call`` is traced into a graph per ``training`` value
    (see the module docstring), and the graph of the mode being run is the functional model that
    ``fit``, ``evaluate``, ``predict`` and ``train_step`` use. ``model.layers`` are the tracked
    layers (attributes), in Keras' order.
    """

    def __init__(self, *args, name: str | None = None, trainable: bool = True, dtype=None,
                 seed: int | None = None, **kwargs):
        cls = type(self).__name__
        if args:
            raise TypeError(f"{cls}: a subclassed model takes keyword arguments only (name=..., "
                            f"trainable=...); received positional arguments {args!r}")
        if dtype is not None and dtype not in (config.floatx(), None):
            raise ValueError(f"{cls}: scratchnet does not implement dtype={dtype!r} (Keras' Model "
                             f"argument); only dtype=None or {config.floatx()!r} is accepted")
        kwargs.pop("autocast", None)
        if kwargs:
            raise ValueError(f"Unrecognized keyword arguments passed to {cls}: {kwargs}")
        if seed is None:
            seed = int(global_rng().integers(2**31))  # sn.utils.set_random_seed makes it repeatable
        Model.__init__(self, layers=None, seed=seed, name=name or _snake_case(cls))
        if self.distribute_strategy is not None:
            raise ValueError(f'{cls} "{self.name}": subclassed models do not run under a '
                             "distribution strategy yet; build it outside `strategy.scope()`")
        self._call_graphs: dict[bool, Functional] = {}
        # {batch size (None: any): (graphs, the Inputs traced)}; the active one is _call_graphs
        self._batch_traces: dict = {}
        self._traced_batch: int | None = None
        self._eager = False  # True during model(x) on arrays
        for attr in _GRAPH_ATTRS:
            setattr(self, attr, None)
        self.inputs, self.outputs, self._nodes = [], [], []
        self._caches = {}
        self._compile_args: dict | None = None
        self.output_losses, self.loss_weights, self.output_loss_trackers = [], [], []
        self.output_metric_names, self.output_metrics, self._last_output_losses = [], [], []
        if not trainable:
            self.trainable = False

    def call(self, inputs, training=None):
        raise NotImplementedError(f'{type(self).__name__} "{self.name}": a subclassed model must '
                                  "define call(self, inputs, training=None)")

    # ------------------------------------------------------------------ structure
    @property
    def layers(self) -> list[Layer]:
        """The layers the model's attributes hold, in Keras' order (see the module docstring)."""
        return tracked_layers(self)

    @layers.setter
    def layers(self, value) -> None:
        if value:
            raise AttributeError(f'model "{self.name}": the layers of a subclassed model are its '
                                 "attributes; assign them as self.<name> = layer in __init__")

    def add(self, layer, spliced: bool = False) -> None:
        raise AttributeError(f'model "{self.name}": add() belongs to Sequential; a subclassed '
                             "model's layers are its attributes")

    @property
    def built(self) -> bool:
        return bool(self._call_graphs)

    def build(self, input_shape=None) -> None:
        """Create the weights for inputs of ``input_shape`` (Keras' ``(None, ...)`` form or one
        sample's shape; a list or dict of them for several inputs) by tracing ``call``."""
        if self._call_graphs:
            return
        self._trace(inputs_for_shape(input_shape, f'model "{self.name}"'))

    def _trace(self, inputs, training: bool = False) -> None:
        """Trace ``call`` in ``training``'s mode. The inference graph comes first (the model is
        then built); the training graph at the first training step, as Keras traces its train
        step then, so a layer used only under ``if training:`` gets its weights then too."""
        where = f'model "{self.name}" ({type(self).__name__})'
        tracked = self.layers
        _unique_names(tracked)
        graphs = trace(self, inputs, self.rng, where, modes=(training,))
        check_weights_tracked(graphs, self.layers, where)
        self._call_graphs.update(graphs)
        self._trace_inputs = inputs
        self._traced_batch = _batch_of(inputs)
        self._batch_traces[self._traced_batch] = (self._call_graphs, inputs)
        if training:
            return
        self._activate(False)
        shapes = [tuple(t.shape[1:]) for t in self.inputs]
        self._sample_input_shape = shapes[0] if len(shapes) == 1 else shapes
        out_shapes = [tuple(t.shape[1:]) for t in self.outputs]
        self._sample_output_shape = out_shapes[0] if len(out_shapes) == 1 else out_shapes
        if self._compile_args is not None:  # compile() came first, as it usually does
            args, self._compile_args = self._compile_args, None
            Functional.compile(self, **args)

    def _activate(self, training: bool) -> None:
        graph = self._call_graphs[bool(training)]
        for attr in _GRAPH_ATTRS:
            setattr(self, attr, getattr(graph, attr))

    def _use_batch(self, batch: int) -> None:
        """Make active the traced graphs for batches of ``batch`` samples: the trace for that
        size; else (except in an eager ``model(x)``) the one for any batch size, from ``build``;
        else a new trace of ``call`` for that size (Inputs ``(batch, ...)``), so ``x.shape[0]``
        and ``ops.shape(x)[0]`` are ``batch`` there, as in Keras' eager call (Keras' ``fit``
        traces its step for an unknown batch size and computes ``ops.shape(x)[0]`` as it runs,
        which a trace for each batch size stands in for: the last, smaller batch of an epoch
        gets its own). The same layers and weights serve every trace; the last
        :data:`MAX_BATCH_TRACES` batch sizes are kept."""
        cache = self._batch_traces
        key = _trace_key(cache, batch, self._eager)
        if key == self._traced_batch and self._call_graphs:
            return
        if key in cache:
            self._call_graphs, self._trace_inputs = cache[key]
            self._traced_batch = key
            self._activate(False)
            return
        active = (self._call_graphs, self._trace_inputs, self._traced_batch)
        self._call_graphs = {}
        try:
            self._trace(with_batch_size(self._trace_inputs, batch))
        except (TypeError, ValueError):  # the model stays as it was, with its other traces
            self._call_graphs, self._trace_inputs, self._traced_batch = active
            self._activate(False)
            raise
        _drop_oldest_traces(cache, batch)

    def __call__(self, x, training: bool | None = None):
        """``model(x)``: on arrays, run eagerly as Keras does, so ``call`` is traced for x's
        batch size (:meth:`_use_batch`), in inference mode unless ``training=True``; on
        KerasTensors (a tensor of a functional model), one node of the model's layer view
        (:meth:`as_layer`), as Keras records one node of the model: ``training`` None follows
        the outer model's mode, a value written in the call holds in every mode."""
        from scratchnet.layers.input_layer import is_symbolic

        if is_symbolic(x):
            return self.as_layer()(x, training=training)
        self._eager = True
        try:
            return Functional.__call__(self, x, training=bool(training))
        finally:
            self._eager = False

    def _check_x(self, x, where: str):
        if not self._call_graphs:
            if x is None:
                raise ValueError(f"{where}: expected input data x, received None")
            self._trace(symbolic_like(x, where, data_batch_size(x)))  # traced for the data's size
        try:
            return Functional._check_x(self, x, where)
        except ValueError as err:
            if "is incompatible with the model" not in str(err):
                raise
            try:
                self._retrace_for(x, where)
            except ValueError as retrace_err:
                raise ValueError(f"{err}; retracing call() for it failed: {retrace_err}") from err
            return Functional._check_x(self, x, where)

    def _retrace_for(self, x, where: str) -> None:
        """Keras retraces a model's step for inputs of a new shape, with the same layers and
        weights (TensorFlow relaxes the shape: None on each axis that changed, so a third size
        needs no third trace). So does this: ``call`` traced again on inputs with None where the
        new data's shape differs from the traced one, every layer rebuilt for the relaxed shape
        with its weights kept (:func:`relax_layer`)."""
        new = symbolic_like(x, where)
        old = self._trace_inputs
        if isinstance(old, dict) != isinstance(new, dict) or (isinstance(old, dict) and set(old) != set(new)):
            raise ValueError("expected the inputs the model was traced for, by the same names")
        new = [new[key] for key in old] if isinstance(old, dict) else new if isinstance(new, list) else [new]
        old_list = list(old.values()) if isinstance(old, dict) else old if isinstance(old, list) else [old]
        if len(new) != len(old_list):
            raise ValueError(f"expected {len(old_list)} inputs, received {len(new)}")
        shapes = [relaxed_shape(tuple(n.shape[1:]), tuple(o.shape[1:])) for n, o in zip(new, old_list,
                                                                                       strict=True)]
        relaxed = [Input(s, dtype=o.dtype, name=o.name if hasattr(o, "name") else None)
                   for s, o in zip(shapes, old_list, strict=True)]
        if isinstance(old, dict):
            relaxed = dict(zip(old, relaxed, strict=True))
        elif not isinstance(old, list):
            relaxed = relaxed[0]
        modes = sorted(self._call_graphs)  # the graphs traced so far, inference first
        saved = [(layer, dict(vars(layer))) for layer in [self, *_all_layers(self)]]
        self._call_graphs, self._batch_traces = {}, {}  # (traces for the old shapes: stale)
        _GLOBAL["relax"] += 1
        try:
            for training in modes:
                if training not in self._call_graphs:  # (one graph serves both without training)
                    self._trace(relaxed, training=training)
        except (ValueError, TypeError):
            for layer, state in saved:  # the model as it was: its old shapes, graphs and weights
                layer.__dict__.clear()
                layer.__dict__.update(state)
            raise
        finally:
            _GLOBAL["relax"] -= 1

    def _batch_size(self):
        """None: a subclassed model declares no batch size (its traces for the batch sizes of the
        data, :meth:`_use_batch`, are how it runs them), so ``input_shape`` reads ``(None, ...)``."""
        return None

    def _require_built(self, where: str) -> None:
        if not self._call_graphs:
            raise ValueError(f'{where}: model "{self.name}" is not built yet; call build(input_shape) '
                             "or call it on data first (a subclassed model learns its input shape "
                             "from the first batch)")

    def as_layer(self) -> ModelAsLayer:
        """The model as one layer of an outer model (an element of a ``Sequential``, a node of a
        functional graph): a :class:`ModelAsLayer` on the same layers (the same weights), made
        once."""
        view = self.__dict__.get("_layer_view")
        if view is None:
            view = self._layer_view = ModelAsLayer(self)
        return view

    # ------------------------------------------------------------------ the passes
    def forward(self, x, training: bool = False, for_backward: bool = True):
        """The traced graph of ``training``'s mode for the batch's size (:meth:`_use_batch`),
        forward (:meth:`Functional.forward`)."""
        first = x[0] if isinstance(x, list | tuple) else x
        if len(first):
            self._use_batch(len(first))
        if bool(training) not in self._call_graphs:
            self._trace(self._trace_inputs, training=True)
        self._activate(bool(training))
        return Functional.forward(self, x, training=training, for_backward=for_backward)

    # ------------------------------------------------------------------ add_loss
    def add_loss(self, loss) -> None:
        """Keras' ``self.add_loss(term)`` in the model's own ``call`` (the subclassing guide's VAE
        adds its KL term so): ``term`` is computed from tensors of the traced call, a scalar
        (``-0.5 * ops.mean(...)``) or a tensor of any shape (a per-sample term), or a list (tuple,
        dict) of them, each a term of its own, as Keras' ``Layer.add_loss`` flattens them. The
        trace records a layer that computes each term at every forward pass, run by the gradient
        tape (:class:`GraphLoss`); the term joins ``model.losses`` as it is (the model's own first,
        as Keras' ``Layer.losses``), and the training loss and its gradients summed over its cells
        (Keras' ``Trainer._aggregate_additional_loss``: ``ops.sum``)."""
        where = f'model "{self.name}" ({type(self).__name__})'
        if self.__dict__.get("_layer_view") is not None and self._layer_view._calling:
            raise ValueError(f"{where}: add_loss in call() of a model placed in another model (an "
                             "element of a Sequential model, a tensor of a functional model) is not "
                             "implemented; add the term in the outer model, or train this model on "
                             "its own")
        if getattr(self, "_graph_losses", None) is None or not _GLOBAL["tracing"]:
            raise ValueError(f"{where}: add_loss is supported inside the model's call(); elsewhere "
                             "add the term in a layer's call, or use a loss in compile()")
        terms = _flat_terms(loss)
        for term in terms:
            if not isinstance(term, KerasTensor):  # (keras/src/layers/layer.py, Layer.add_loss)
                raise ValueError(f"{where}: `add_loss()` can only be called from inside `build()` or "
                                 f"`call()`, on a tensor input. Received invalid value: {term!r}")
        from scratchnet.ops import _unique

        for term in terms:
            if isinstance(term, BatchlessTensor):  # computed from the batch: again at each pass
                made = GraphLoss(term.apply, name=_unique("add_loss"))
                self._graph_losses.append(made(list(term.bases) if len(term.bases) > 1 else term.bases[0]))
            else:  # a batched tensor of the graph (a per-sample term): the node takes it as it is
                made = GraphLoss(_first, name=_unique("add_loss"))
                self._graph_losses.append(made(term))

    def _graph_loss_terms(self) -> list:
        return [term for node in (getattr(self, "_loss_nodes", None) or ())
                for term in node.layer.added_losses]

    @property
    def losses(self) -> list:
        """Keras' ``model.losses``: the model's own ``add_loss`` terms of the last call, then its
        layers' (:attr:`Model.losses`); traced inside a ``compute_loss`` override's training step."""
        if getattr(self, "_losses_override", None) is not None:
            return list(self._losses_override)
        return self._graph_loss_terms() + Model.losses.fget(self)

    def activity_penalty(self) -> float:
        return Functional.activity_penalty(self) + sum(float(np.sum(t)) for t in self._graph_loss_terms())

    # ------------------------------------------------------------------ compile
    def compute_loss(self, *args, **kwargs):
        """In a class that overrides Keras' ``compute_loss(x, y, y_pred, sample_weight)``, this is
        what its ``super().compute_loss(...)`` reaches: Keras' default, the compiled loss (if any)
        plus ``model.losses`` (:func:`scratchnet.custom_loss.default_compute_loss`). Otherwise
        scratchnet's own ``compute_loss(y, y_pred, sample_weight)`` (:meth:`Functional.compute_loss`)."""
        if custom_loss.overrides_compute_loss(self):
            return custom_loss.default_compute_loss(self, *args, **kwargs)
        return Functional.compute_loss(self, *args, **kwargs)

    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
                weighted_metrics=None) -> None:
        """As :meth:`Functional.compile`. Before the model is built (the usual order: its outputs
        are known only once ``call`` is traced), the optimizer and loss are checked now and the
        rest is done when the first batch builds the model."""
        args = {"optimizer": optimizer, "loss": loss, "loss_weights": loss_weights,
                "metrics": metrics, "weighted_metrics": weighted_metrics}
        if loss is None and custom_loss.overrides_compute_loss(self):
            args["loss"] = loss = losses_mod.ComputeLossOverride()  # compute_loss is the loss
        if loss is None and not (self._call_graphs and self.output_losses):  # (else: kept, as Keras)
            args["loss"] = loss = losses_mod.AddedLossesOnly()  # model.losses are the whole loss
        if self._call_graphs:
            Functional.compile(self, **args)
            return
        if metrics is None and weighted_metrics is None and self._compile_args is not None:
            # compiled before, still unbuilt: the metrics are kept, as Keras' compile keeps them
            args["metrics"] = self._compile_args["metrics"]
            args["weighted_metrics"] = self._compile_args["weighted_metrics"]
        self.optimizer = optimizers_mod.get(optimizer)
        if not isinstance(loss, dict | list | tuple):
            self.loss = losses_mod.get(loss)
        args["optimizer"] = self.optimizer
        self._compile_args = args

    @property
    def compiled(self) -> bool:
        return self.optimizer is not None and (self.loss is not None or self._compile_args is not None)

    # ------------------------------------------------------------------ reporting, saving
    def _summary_rows(self, layers) -> tuple[list[str], list[list[str]]]:
        """Keras' table for a subclassed model: layer, output shape, parameters."""
        rows = []
        for layer in layers:
            shape = "?" if layer.output_shape is None else str((None,) + tuple(layer.output_shape))
            extra = getattr(layer, "extra_output_shapes", list)() if layer.output_shape is not None else []
            if extra:  # a call returning several tensors: each shape, as a functional summary lists them
                shape = "[" + ", ".join(str((None, *s)) for s in [layer.output_shape, *extra]) + "]"
            rows.append([f"{layer.name} ({type(layer).__name__})", shape, f"{layer.count_params():,}"])
        return ["Layer (type)", "Output Shape", "Param #"], rows

    def get_config(self) -> dict:
        """Keras' base config of a subclassed model; its architecture is Python code."""
        return {"name": self.name, "trainable": self.trainable}

    def save(self, path) -> None:
        raise NotImplementedError(
            f'model.save: "{self.name}" is a subclassed model ({type(self).__name__}): its '
            "architecture is the Python code of the class, which no file here holds (Keras needs "
            "get_config() and a registered class to reload one). Save the weights instead, "
            "model.save_weights('model.weights.h5'), then make the model in code, build it and "
            "call model.load_weights(...)")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} layers={[layer.name for layer in self.layers]}>"


class ModelAsLayer(Layer):
    """A subclassed model as one layer of an outer model: ``Sequential([Input((8,)), MyModel(),
    Dense(2)])``, or ``MyModel()(x)`` on a tensor of a functional model (Keras accepts both: a
    ``keras.Model`` is a ``Layer``, one entry of the outer ``model.layers`` and one node of its
    graph, ``keras/src/models/sequential.py``). scratchnet's ``Model`` is not a ``Layer``, so
    the model takes part through this view of it (:meth:`Subclassed.as_layer`): a layer made
    of layers whose ``call`` is the model's ``call``, traced as any such layer is (a graph per
    ``training`` value and per batch size, :func:`build_composite`) on the model's own layers,
    so the weights are the model's, in its order.

    It shows the model where Keras shows it: its name, ``summary()``'s type (``mine (MyModel)``),
    ``trainable`` (the model's flag: ``model.trainable = False`` freezes it in the outer model),
    and in a ``.keras`` file the model's class, config and registered name, its weights grouped
    by attribute as Keras' ``saving_lib`` walks a subclassed model (``layers/my_model/d1/vars``).
    """

    def __init__(self, model: Subclassed):
        self.__dict__["nested_model"] = model  # (first: the name below is the model's)
        super().__init__(name=model.name)

    @property
    def name(self) -> str:
        """The model's name: one name, which the outer model may renumber (``my_model_1``)."""
        return self.nested_model.name

    @name.setter
    def name(self, value: str) -> None:
        self.nested_model.name = value

    def ensure_built(self, input_shape, rng: np.random.Generator | None = None):
        """Built as a layer made of layers (:func:`build_composite`); the model is built too, as
        Keras' is (``model.built``, its own ``predict`` and ``get_weights``): ``call`` traced once
        more on Inputs like this layer's, on the same layers (the same weights)."""
        shape = super().ensure_built(input_shape, rng)
        model = self.nested_model
        if not model._call_graphs:
            inputs = self._call_graphs[False].inputs
            model._trace(with_batch_size(inputs if len(inputs) > 1 else inputs[0], None))
        return shape

    _calling = False  # True while the model's call is traced for this view (Subclassed.add_loss)

    def call(self, inputs, training=False):
        model = self.nested_model
        kwargs = {"training": training} if call_takes(model, "training") else {}
        if call_takes(model, "mask"):
            kwargs["mask"] = None  # (as trace() calls a model's call)
        self._calling = True
        try:
            return model.call(inputs, **kwargs)
        finally:
            self._calling = False

    @property
    def keras_class(self) -> type:
        """The class Keras' files and ``summary()`` name: the model's."""
        return type(self.nested_model)

    @property
    def keras_name(self) -> str:
        return type(self.nested_model).__name__

    @property
    def trainable(self) -> bool:
        return self.nested_model.trainable

    @trainable.setter
    def trainable(self, value) -> None:
        self.nested_model.trainable = value

    @property
    def trainable_weights(self) -> list:
        """The model's trainable weights; none while the model is frozen (Keras' rule)."""
        return [p for sub in self._sublayers for p in sub.trainable_weights] if self.trainable else []

    @property
    def non_trainable_weights(self) -> list:
        if not self.trainable:
            return [p for sub in self._sublayers for p in sub.weights]
        return [p for sub in self._sublayers for p in sub.non_trainable_weights]

    def compute_mask(self, inputs, mask=None):
        """The padding mask of the output, as the forward pass just run computed it in the graph
        (an LSTM returning sequences passes its input's on; an Embedding(mask_zero=True) in the
        model makes one): Keras' outputs keep the mask their inner layers set. None before a
        forward pass and for several outputs."""
        masks = getattr(self, "_output_masks", None) or [None]
        return masks[0] if len(masks) == 1 else None

    def get_config(self) -> dict:
        return self.nested_model.get_config()

    def __repr__(self) -> str:
        return f"<ModelAsLayer of {type(self.nested_model).__name__} name={self.name!r}>"

    def keras_weight_groups(self) -> list[tuple[str, str, list]]:
        """Where Keras' ``saving_lib`` keeps the model's weights (``_walk_saveable``,
        ``_save_container_state``): the model's attributes in sorted order (private ones last),
        its ``layers`` property among them, a layer under the first attribute that holds it
        (``hidden/vars``); a list, tuple or dict names its layers by their snake-case class,
        made unique in order, a name taken even by a layer saved already (``layers/dense_1``: the
        second Dense of ``model.layers``, when ``layers`` sorts before the attribute holding it);
        a ``Sequential`` attribute as its own ``layers`` list."""
        from scratchnet.saving_keras import weight_groups

        groups: list[tuple[str, str, list]] = [("vars", self.name, [])]
        seen: set[int] = set()

        def visit(path: str, value) -> None:
            if isinstance(value, Layer):
                if id(value) not in seen:
                    seen.add(id(value))
                    groups.extend((f"{path}/{group}", f"{self.name}/{prefix}", params)
                                  for group, prefix, params in weight_groups(value))
            elif isinstance(value, Model):  # a Sequential: Keras walks its "layers" first
                if id(value) not in seen:
                    seen.add(id(value))
                    visit(f"{path}/layers", list(value.layers))
            elif isinstance(value, list | tuple | dict):
                used: dict[str, int] = {}
                for item in value.values() if isinstance(value, dict) else value:
                    if isinstance(item, Layer | Model | list | tuple | dict):
                        base = "container" if isinstance(item, list | tuple | dict) else \
                            _snake_case(type(item).__name__)
                        used[base] = used.get(base, -1) + 1
                        visit(f"{path}/{base}_{used[base]}" if used[base] else f"{path}/{base}", item)

        model = self.nested_model
        attributes = {key: value for key, value in vars(model).items() if key not in _NOT_TRACKED}
        attributes["layers"] = model.layers
        for attr in sorted(attributes, key=lambda a: f"~{a}" if a.startswith("_") else a):
            if attributes[attr] is not model:
                visit(attr, attributes[attr])
        return groups


class GraphLoss(Layer):
    """The layer behind a subclassed model's ``self.add_loss(term)`` in a traced ``call``: it
    takes the batched tensors the ``term`` is computed from (or the batched term itself),
    computes it again at each forward pass (``apply``, on the gradient tape) and adds it with
    ``add_loss``; it passes its first input on. Its node leads to no output of the graph: the
    graph runs it all the same (``Functional.add_loss_nodes``), and its backward pass seeds the
    term with ``dL/dterm = 1``."""

    def __init__(self, apply, **kwargs):
        super().__init__(**kwargs)
        self._apply = apply

    def call(self, inputs):
        values = list(inputs) if isinstance(inputs, list | tuple) else [inputs]
        self.add_loss(self._apply(values))
        return values[0]


def _flat_terms(loss) -> list:
    """``add_loss``'s argument as Keras' ``tree.flatten`` gives it: the terms of a list or tuple in
    order, a dict's by sorted key, nested ones flattened."""
    if isinstance(loss, dict):
        return [term for key in sorted(loss) for term in _flat_terms(loss[key])]
    if isinstance(loss, list | tuple):
        return [term for item in loss for term in _flat_terms(item)]
    return [loss]


def _first(values: list):
    """:class:`GraphLoss`'s ``apply`` for a batched term: the term itself."""
    return values[0]


def adopt(cls) -> None:
    """Make a user's direct subclass of ``Model`` a subclassed model (``Model.__init_subclass__``):
    its base ``Model`` becomes :class:`Subclassed`."""
    cls.__bases__ = tuple(Subclassed if base is Model else base for base in cls.__bases__)


__all__ = ["ModelAsLayer", "Subclassed", "adopt", "tracked_layers", "trace"]
