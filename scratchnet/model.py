"""``Model`` and ``Sequential``: what ``compile``, ``fit``, ``evaluate`` and ``predict`` do.

Read :meth:`Model.train_step` first: it is the whole of training, one batch at a time, in
four phases (forward, loss, backward, update). ``fit`` is a loop around it that adds batching,
shuffling, metrics and callbacks.

``Model`` holds that one training loop. Its ``forward``/``backward`` run ``self.layers`` in order:
a ``Sequential`` is exactly that. ``Model(inputs, outputs)`` (Keras' functional API) returns a
:class:`scratchnet.functional.Functional`, which replaces only the passes (a walk over the layer
graph) and the input/target checks; ``fit`` and ``train_step`` are the same code.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from scratchnet import callbacks as cbks
from scratchnet import config, custom_loss, kernels
from scratchnet import data_adapters as adapters
from scratchnet import distribute as distribute_mod
from scratchnet import losses as losses_mod
from scratchnet import metrics as metrics_mod
from scratchnet import optimizers as optimizers_mod
from scratchnet.autodiff import Traced
from scratchnet.layers.base import (
    ActivatedLayer,
    Layer,
    Parameter,
    _snake_case,
    assign_weights,
    check_trainable,
    float_dtype,
    sample_dims,
    seed_generators,
    shape_matches,
)
from scratchnet.layers.input_layer import (
    Input,
    InputLayer,
    KerasTensor,
    call_symbolic,
    global_rng,
    is_symbolic,
)
from scratchnet.layers.masking import forward_with_mask, refuse_masked_output
from scratchnet.remat import rematerialize

# The calls that build an unbuilt Sequential model for the batch they get (its InputLayer keeps
# that batch size, as Keras' does: the first eager call builds it); fit and evaluate build it for
# any batch size (Keras traces their step for an unknown one). The `where` of Model._check_x.
_EAGER_BUILDS = ("call", "predict", "train_step", "test_step")


class Model:
    """The training loop shared by every model: compile, fit, evaluate, predict, train_step.

    ``Model(inputs, outputs, name=None)`` builds a functional model (as ``keras.Model`` does);
    ``Sequential(layers)`` is the linear stack. ``seed`` makes the run repeatable: the same seed
    gives the same initial weights, dropout masks and shuffling order.
    """

    def __init_subclass__(cls, **kwargs):
        """A user's ``class MyModel(Model)`` (layers in ``__init__``, a ``call``) is a subclassed
        model: its base becomes :class:`scratchnet.subclassing.Subclassed`, which traces ``call``
        into a graph of those layers. scratchnet's own models (Sequential, ...) are left as they are."""
        super().__init_subclass__(**kwargs)
        if Model in cls.__bases__ and not cls.__module__.startswith("scratchnet."):
            from scratchnet.subclassing import adopt

            adopt(cls)

    def __new__(cls, *args, **kwargs):
        if cls is Model and (args or "inputs" in kwargs or "outputs" in kwargs):
            from scratchnet.functional import Functional  # keras.Model(inputs, outputs)

            return super().__new__(Functional)
        return super().__new__(cls)

    def __init__(self, layers=None, seed: int | None = None, name: str = "sequential"):
        self.name = name
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
                                 or seed < 0):
            raise ValueError(f'{type(self).__name__} "{name}": expected seed to be None or an '
                             f"integer >= 0, received {seed!r}")
        self.seed = seed
        # seed None: drawn from the global generator, so a model made after
        # sn.utils.set_random_seed(s) is repeatable, as Keras' (fresh entropy until it is called)
        entropy = seed if seed is not None else int(global_rng().integers(2**31))
        weights_seed, shuffle_seed = np.random.SeedSequence(entropy).spawn(2)
        self.rng = np.random.default_rng(weights_seed)  # initial weights, dropout seeds
        self.shuffle_rng = np.random.default_rng(shuffle_seed)  # batch order in fit
        self.layers: list[Layer] = []
        self._sample_input_shape: tuple[int, ...] | None = None
        self._sample_output_shape: tuple[int, ...] | None = None
        # the batch size of the call that built the model (Keras' InputLayer batch_shape[0]), or
        # None: built for any batch size (build((None, ...)), fit, an Input without batch_size)
        self._built_batch_size: int | None = None
        # A Sequential model's graph, once it knows its input shape (as Keras builds one): the
        # Input's KerasTensor, then each layer's output. Only for model.input / layer.output:
        # the passes run self.layers on arrays.
        self._graph: list[KerasTensor] = []
        # Keras' model.layers where it differs from self.layers: a Sequential holding a functional
        # model (one entry here, its layers one by one in self.layers; _add_functional), else None
        self._keras_entries: list | None = None
        self._functional = None  # that Sequential's graph, once built (Sequential._as_functional)
        self.optimizer: optimizers_mod.Optimizer | None = None
        self.loss: losses_mod.Loss | None = None
        self.metric_names: list = []
        self.metrics: list[metrics_mod.Metric] = []
        self.weighted_metric_names: list = []
        self.weighted_metrics: list[metrics_mod.Metric] = []  # these see sample weights
        self.loss_tracker = metrics_mod.Mean(name="loss")
        self.stop_training = False
        self.stop_evaluating = False  # a callback may set these to end evaluate/predict early
        self.stop_predicting = False
        self._initial_epoch: int | None = None  # a callback (BackupAndRestore) may set it
        self.history: cbks.History | None = None
        # Built inside `with strategy.scope():`? Then training steps run data-parallel.
        self.distribute_strategy = distribute_mod.get_strategy()
        for layer in layers or []:
            self.add(layer)

    # ------------------------------------------------------------------ building
    def add(self, layer: Layer, spliced: bool = False) -> None:
        """Append a layer; with a known input shape it is built (its weights created) at once.

        A ``Sequential`` given as a layer (Keras' ``data_augmentation = Sequential([...])`` placed
        in a model) adds its layers here one by one (:meth:`_add_sequential`); a functional model
        (a ``keras.applications`` base) is one entry whose graph joins this one's
        (:meth:`_add_functional`); a subclassed model is one layer, its layer view
        (``subclassing.ModelAsLayer``)."""
        if isinstance(layer, KerasTensor) and isinstance(layer.node.layer, InputLayer):
            layer = layer.node.layer  # Sequential([Input(shape), ...])
        if isinstance(layer, Model) and hasattr(layer, "as_layer"):
            layer = layer.as_layer()  # a subclassed model: one layer (subclassing.ModelAsLayer)
            spliced = True  # (one in two models shares its layers, as a functional base does)
        if isinstance(layer, Sequential):
            self._add_sequential(layer)
            return
        if isinstance(layer, Model):  # a functional model (keras.applications' base, ...)
            self._add_functional(layer)
            return
        if not isinstance(layer, Layer):
            raise TypeError(
                f"Sequential.add: expected an instance of scratchnet.layers.Layer, received "
                f"{layer!r} of type {type(layer).__name__}"
            )
        declared = getattr(layer, "_input_shape_arg", None)
        if declared is not None and not self.layers and self._sample_input_shape is None:
            # Dense(1, input_shape=[1]) as the first layer: Keras' Input(shape) in disguise
            self._sample_input_shape = declared
            self._sample_output_shape = declared
        if isinstance(layer, InputLayer):
            if self.layers or self._sample_input_shape is not None:
                raise ValueError("Sequential.add: an Input can only be the first layer")
            self._sample_input_shape = layer.shape
            self._sample_output_shape = layer.shape
            self._graph = [layer.output]
            return
        if layer.built and not getattr(layer, "built_by_adapt", False) and not (
                spliced and tuple(layer.input_shape) == tuple(self._sample_output_shape or ())):
            raise ValueError(f'Sequential.add: layer "{layer.name}" is already built '
                             "(it belongs to another model); create a new layer")
        if getattr(layer, "return_state", False):
            raise ValueError(f'Sequential.add: layer "{layer.name}" has return_state=True and returns '
                             "several tensors (its output and its states), which a Sequential model "
                             "cannot pass on to a next layer or train on (Keras fails at the next "
                             "layer too); use the functional API: keras.Model(inputs, outputs)")
        if getattr(layer, "n_outputs", 1) > 1:  # Bidirectional(merge_mode=None)
            raise ValueError(f'Sequential.add: layer "{layer.name}" returns {layer.n_outputs} outputs '
                             "(merge_mode=None: the forward and backward outputs), which a Sequential "
                             "model cannot pass on to a next layer; use the functional API: "
                             "keras.Model(inputs, outputs)")
        self._give_unique_name(layer)
        if not layer.built:  # Keras builds a Sequential model's layers under its name (layer.path)
            layer._path_prefix = self._variable_path_prefix()
        self.layers.append(layer)
        if getattr(self, "_keras_entries", None) is not None:
            self._keras_entries.append(layer)
            self._functional = None
        if self._sample_input_shape is not None:
            self._sample_output_shape = layer.ensure_built(self._sample_output_shape, self.rng)
            self._mark_first_trainable()
            self._trace_graph()

    def _trace_graph(self) -> None:
        """Call the entries not yet in the graph on KerasTensors: each layer records its node, the
        Sequential model's ``layer.output`` (no arrays, nothing computed; the layers are built),
        and a nested functional model replays its layer calls (``functional.call_on_tensors``).
        ``self._graph``: the Input's tensor, then one output per entry of :meth:`_entries`."""
        if not self._graph:
            dtype = self.layers[0].input_dtype if self.layers else None
            # (the name a config gave its InputLayer: saving_keras.model_from_config, .npz files)
            self._graph = [Input(self._sample_input_shape, dtype=None if dtype is None else str(dtype),
                                 batch_size=getattr(self, "_built_batch_size", None),
                                 name=getattr(self, "_input_name", None))]
        for entry in self._entries()[len(self._graph) - 1:]:
            self._graph.append(entry(self._graph[-1]) if isinstance(entry, Model)
                               else call_symbolic(entry, self._graph[-1]))

    def _holds_functional(self) -> bool:
        """A Sequential model holding a functional model (:meth:`_add_functional`): its config
        and files nest that model as one entry, as Keras writes it."""
        return getattr(self, "_keras_entries", None) is not None and not hasattr(self, "_nodes")

    def _input_layer_name(self) -> str | None:
        """The name of the InputLayer this model's graph starts at (Keras writes it in configs
        and clones keep it); None before the graph has one."""
        return self._graph[0].node.layer.name if self._graph and self._graph[0].node is not None else None

    def _entries(self) -> list:
        """Keras' ``model.layers`` of a Sequential: its layers, and each nested functional model
        as ONE entry (``self.layers`` lists that model's layers one by one instead)."""
        entries = getattr(self, "_keras_entries", None)
        return self.layers if entries is None else entries

    def _add_functional(self, model) -> None:
        """A functional model as one element of the stack (``Sequential([Input(shape), base,
        GlobalAveragePooling2D(), Dense(3)])``, keras.io's transfer-learning guide). As a
        functional model called on a tensor does (``functional.call_on_tensors``), its layer calls
        are replayed into this model's graph and its layers listed one by one in ``self.layers``,
        in its own order (the same objects, so the same weights: Keras' ``weights`` and
        ``get_weights()`` order); ``_keras_entries`` keeps Keras' ``model.layers``, the nested model
        one entry, for ``.keras`` files (where Keras nests it) and :meth:`pop`. The passes then run
        that graph (:meth:`Sequential._as_functional`), like Keras' ``Sequential._functional``."""
        from scratchnet.functional import _unique_names

        if len(model.inputs) > 1:  # Keras fails when the model is called on the one tensor
            raise ValueError(f'Sequential.add: layer "{model.name}" expects {len(model.inputs)} named '
                             f"input(s) with keys {model.input_names}, but a Sequential model gives it 1 "
                             "input tensor; use the functional API: keras.Model(inputs, outputs)")
        if len(model.outputs) > 1:  # Keras fails at the next layer, which receives them all
            raise ValueError(f'Sequential.add: model "{model.name}" returns {len(model.outputs)} '
                             "outputs, but a layer in a Sequential model expects 1 input tensor (Keras "
                             "fails at the next layer); use the functional API: keras.Model(inputs, "
                             "outputs)")
        if self.distribute_strategy is not None:  # (as Model(inputs, outputs) refuses it)
            raise ValueError(f'Sequential.add: model "{model.name}" is a functional model, and functional '
                             "models do not run under a distribution strategy yet; build the model "
                             "outside `strategy.scope()`")
        if any(entry is model for entry in self._entries()):
            raise ValueError(f'Sequential.add: model "{model.name}" is already in model "{self.name}"')
        if any(entry.name == model.name for entry in self._entries()):
            raise ValueError("All layers added to a Sequential model should have unique names. "
                             f"Name '{model.name}' is already the name of a layer in this model. "
                             "Update the `name` argument to pass a unique name.")
        if self._sample_input_shape is None and not self.layers:
            self._sample_input_shape = self._sample_output_shape = model._sample_input_shape
        elif self._sample_input_shape is not None:
            self._check_entry_input(model, self._sample_output_shape)
        if self._keras_entries is None:
            self._keras_entries = list(self.layers)
        self._keras_entries.append(model)
        self.layers += _nested_layers(model)
        _unique_names(self.layers)
        self._functional = None
        if not hasattr(self, "_spliced_models"):
            self._spliced_models = []
        self._spliced_models.append(model)  # so that freezing this model freezes it too
        if self._sample_input_shape is not None:
            self._sample_output_shape = model._sample_output_shape
            self._mark_first_trainable()
            self._trace_graph()

    def _check_entry_input(self, model, shape) -> None:
        """Keras' check of a nested model's input against the tensor it is called on."""
        expected = tuple(model._sample_input_shape)
        if not shape_matches(tuple(shape or ()), expected):
            found = (None,) + tuple(shape or ())
            raise ValueError(f'Input 0 of layer "{model.name}" is incompatible with the layer: '
                             f"expected shape={(None,) + expected}, found shape={found}")

    def _add_sequential(self, model) -> None:
        """The layers of ``model`` join this one in order: the same layer objects, so the same
        weights, as Keras' nested model shares them. Keras keeps the nested model as one entry of
        ``model.layers``; here its layers are listed one by one (the same computation, the same
        weights in the same order; ``summary()`` and saved files show the flat list)."""
        if model is self:
            raise ValueError("Sequential.add: a model cannot be added to itself")
        if model._sample_input_shape is not None:
            if self._sample_input_shape is None and not self.layers:
                self._sample_input_shape = self._sample_output_shape = model._sample_input_shape
            elif tuple(self._sample_output_shape or ()) != tuple(model._sample_input_shape):
                raise ValueError(f'Sequential.add: model "{model.name}" takes inputs of shape '
                                 f"{(None,) + tuple(model._sample_input_shape)}, but the layers before it "
                                 f"give {(None,) + tuple(self._sample_output_shape or ())}")
        for layer in list(model._entries()):  # (a functional model it holds: one entry)
            self.add(layer, spliced=True)
        if not hasattr(self, "_spliced_models"):
            self._spliced_models = []
        self._spliced_models.append(model)  # so that freezing this model freezes it too

    def _give_unique_name(self, layer: Layer) -> None:
        taken = {existing.name for existing in self.layers}
        if layer.name not in taken:
            return
        default = _snake_case((getattr(layer, "keras_class", None) or type(layer)).__name__)
        if layer.name != default:  # a name the user chose: Keras refuses
            raise ValueError("All layers added to a Sequential model should have unique names. "
                             f"Name '{layer.name}' is already the name of a layer in this model. "
                             "Update the `name` argument to pass a unique name.")
        base, i = layer.name, 1  # a default name (dense): dense_1, dense_2, ... as Keras numbers them
        while f"{base}_{i}" in taken:
            i += 1
        layer.name = f"{base}_{i}"

    def build(self, input_shape) -> None:
        """Create every layer's weights for samples of ``input_shape`` (no batch axis; Keras'
        ``(None, ...)`` with the batch axis is read too)."""
        if self._sample_input_shape is not None:
            return
        if isinstance(input_shape, tuple | list) and input_shape and input_shape[0] is None:
            input_shape = input_shape[1:]  # Keras' form, (None, ...) with the batch axis
        self._build(sample_dims(input_shape, "input_shape", f'{type(self).__name__} "{self.name}": build'))

    def _build(self, sample_shape: tuple[int, ...], batch_size: int | None = None) -> None:
        """Build every layer for samples of ``sample_shape``; the graph's Input gets
        ``batch_size`` as its batch axis (None: any), which ``input_shape``, ``output_shape``,
        ``summary()`` and the config then show, as Keras' InputLayer ``batch_shape``."""
        self._sample_input_shape = sample_shape
        self._built_batch_size = batch_size
        shape = self._sample_input_shape
        for entry in self._entries():
            if isinstance(entry, Model):  # a nested functional model: built already
                self._check_entry_input(entry, shape)
                shape = entry._sample_output_shape
            else:
                shape = entry.ensure_built(shape, self.rng)
        self._sample_output_shape = shape
        self._mark_first_trainable()
        self._trace_graph()

    @property
    def built(self) -> bool:
        return self._sample_input_shape is not None and all(layer.built for layer in self.layers)

    # Keras' model.input_shape and model.output_shape carry the batch axis: (None, 150, 150, 3).
    # Inside, the model keeps one sample's shape (_sample_input_shape, _sample_output_shape), as
    # every layer's build(input_shape) and ensure_built see it.
    @property
    def input_shape(self):
        """``(None, ...)`` (or the declared batch size): the shape of the model's input batches, as
        ``keras.Model.input_shape`` (a list of them for several inputs). Raises ``AttributeError``
        until the model knows it, as Keras' Sequential does."""
        return _with_batch_axis(self._sample_input_shape, self, "input")

    @property
    def output_shape(self):
        """``(None, ...)`` (or the declared batch size): the shape of the model's output batches, as
        ``keras.Model.output_shape`` (a list of them for several outputs)."""
        return _with_batch_axis(self._sample_output_shape, self, "output")

    def _mark_first_trainable(self) -> None:
        """Nobody needs dL/dx of the input images: the first layer with weights skips it."""
        first = self.first_trainable_index()
        for i, layer in enumerate(self.layers):
            layer.compute_input_grad = i > first

    def first_trainable_index(self) -> int:
        for i, layer in enumerate(self.layers):
            if layer.trainable_weights and self.trainable:
                return i
        return len(self.layers)

    # ------------------------------------------------------------------ weights
    @property
    def compute_dtype(self) -> str:
        """The float type the model computes in: its weights' type, fixed when it was built (as a
        Keras layer's dtype is fixed when it is made), or floatx while it has no weights. A later
        ``set_floatx`` changes the models built after it, not this one."""
        weights = self.weights if self._sample_input_shape is not None else []
        # (a quantized layer's int8 kernel is not it)
        return str(float_dtype(weights)) if weights else config.dtype()

    @property
    def trainable(self) -> bool:
        """``model.trainable = False`` freezes the whole model, as in Keras: every layer's
        ``trainable`` is set too, and while the model itself is frozen it trains nothing, even a
        layer thawed afterwards (Keras' rule: a frozen container has no trainable weights)."""
        return getattr(self, "_trainable", True)

    @trainable.setter
    def trainable(self, value) -> None:
        self._trainable = check_trainable(value, f'model "{self.name}"')
        for layer in self.layers:
            layer.trainable = self._trainable
        for nested in getattr(self, "_spliced_models", ()):  # a Sequential added to this one: Keras
            nested.trainable = self._trainable  # sets a nested model's own flag too (recursively)

    @property
    def params(self) -> list[Parameter]:
        """Every trainable Parameter, layer by layer (kernel first): what the optimizer updates.
        A frozen layer's (``layer.trainable = False``) are not among them."""
        if not self.trainable:
            return []
        return [p for layer in self.layers for p in layer.trainable_weights]

    trainable_weights = params

    @property
    def variables(self) -> list[Parameter]:
        """Keras' ``model.variables``: :attr:`weights` with the state of each
        ``sn.random.SeedGenerator`` the model or its layers hold (a subclassed model's own first,
        then each layer's after its weights: ``Layer.variables``)."""
        seeds = [generator.state for generator in seed_generators(self)]
        return seeds + [v for layer in self.layers for v in layer.variables]

    @property
    def trainable_variables(self) -> list[Parameter]:
        """Keras' name for :attr:`trainable_weights` (``len(model.trainable_variables)`` in the
        transfer-learning lesson)."""
        return self.params

    @property
    def non_trainable_variables(self) -> list[Parameter]:
        """:attr:`non_trainable_weights` and the seed generators' states, in :attr:`variables`
        order, as Keras' (a frozen model's: all its variables)."""
        trainable = {id(p) for p in self.trainable_weights}
        return [v for v in self.variables if id(v) not in trainable]

    @property
    def weights(self) -> list[Parameter]:
        """Every Parameter in ``get_weights()`` order: layer by layer, each layer's trainable ones
        then its non-trainable ones (BatchNormalization: gamma, beta, moving_mean, moving_variance)."""
        return [p for layer in self.layers for p in layer.weights]

    @property
    def non_trainable_weights(self) -> list[Parameter]:
        if not self.trainable:
            return self.weights
        return [p for layer in self.layers for p in layer.non_trainable_weights]

    def get_weights(self) -> list[np.ndarray]:
        """Copies of all weights, in the same order and shapes as Keras' ``get_weights()``."""
        self._require_built("get_weights")
        return [kernels.to_numpy(p.value).copy() for p in self.weights]

    def set_weights(self, weights) -> None:
        """Replace all weights; shapes must match ``get_weights()`` exactly."""
        self._require_built("set_weights")
        assign_weights(self.weights, weights, f'model "{self.name}"')
        # Under a MirroredStrategy each replica keeps its own moving statistics; an assignment
        # from outside the replicas writes all of them, as Keras does.
        broadcast = getattr(self.distribute_strategy, "broadcast_non_trainable", None)
        if broadcast is not None:
            broadcast(self)

    def quantize(self, mode=None, config=None, filters=None, **kwargs) -> None:
        """Keras' ``model.quantize("int8")``: quantize every layer that can be (Dense, EinsumDense,
        Embedding: :mod:`scratchnet.quantizers`), layers nested in layers included. A layer that
        cannot is skipped with a warning (Keras' ``NotImplementedError`` text); an unbuilt layer,
        a layer quantized already or an unknown mode raise ``ValueError``. ``filters``: a regex on
        layer names, a list of them, or a callable ``layer -> bool``."""
        import re
        import warnings

        type_check = kwargs.pop("type_check", True)
        if kwargs:
            raise ValueError(f"Unrecognized keyword arguments passed to {type(self).__name__}: {kwargs}")
        if filters is not None and not (isinstance(filters, str | list | tuple) or callable(filters)):
            raise ValueError("The `filters` argument must be a regex string, a list of regex strings, "
                             f"or a callable. Received: {type(filters)}")

        def chosen(layer) -> bool:  # Keras' should_quantize_layer
            if filters is None:
                return True
            if isinstance(filters, str):
                return bool(re.search(filters, layer.name))
            if isinstance(filters, list | tuple):
                return any(re.search(pattern, layer.name) for pattern in filters)
            return bool(filters(layer))

        def leaves(layers):  # Keras' _flatten_layers: the layers inside a model or a layer of layers
            for layer in layers:
                inner = list(getattr(layer, "layers", None) or layer._sublayers)
                yield from leaves(inner) if inner else [layer]

        for layer in leaves(self.layers):
            if not chosen(layer):
                continue
            try:
                layer.quantize(mode, type_check=type_check, config=config)
            except NotImplementedError as err:
                warnings.warn(str(err), stacklevel=2)

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """The layer called ``name``, or at ``index`` in ``model.layers`` (one of the two, as
        ``keras.Model.get_layer``)."""
        if index is not None and name is not None:
            raise ValueError("Provide only a layer name or a layer index. Received: "
                             f"index={index}, name={name}.")
        if index is not None:
            if isinstance(index, bool) or not isinstance(index, numbers.Integral):
                raise TypeError(f"get_layer: expected index to be an integer, received {index!r}")
            if not -len(self.layers) <= index < len(self.layers):
                raise ValueError(f"Was asked to retrieve layer at index {index} but model only has "
                                 f"{len(self.layers)} layers.")
            return self.layers[index]
        if name is None:
            raise ValueError("Provide either a layer name or layer index at `get_layer`.")
        for layer in self.layers:
            if layer.name == name:
                return layer
        for entry in getattr(self, "_spliced_models", ()):  # a nested model, by its name as in Keras
            if entry.name == name:
                return entry
        raise ValueError(f"No such layer: {name}. Existing layers are: "
                         f"{[layer.name for layer in self.layers]}.")

    def count_params(self) -> int:
        """The number of weights (trainable or not), as ``model.summary()`` totals them."""
        self._require_built("count_params")
        return sum(layer.count_params() for layer in self.layers)

    # ------------------------------------------------------------------ compile
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
                weighted_metrics=None) -> None:
        """Choose how to learn: the loss to minimise, the optimizer that updates the weights, and
        the metrics to report. Nothing is computed yet.

        The arguments come in Keras' order (``loss_weights`` third). As in Keras, ``metrics``
        ignore ``sample_weight``/``class_weight``; ``weighted_metrics`` are the same kind of
        metrics computed with them (logged as ``"weighted_<name>"`` when the name is already
        taken by an unweighted metric). ``loss_weights`` weigh the losses of several outputs
        (``sn.Model``); a one-output model takes none.
        """
        if loss_weights is not None and not _is_unit_weight(loss_weights):
            raise ValueError(f"compile: model {self.name!r} has one output, whose loss is not "
                             f"weighted here; expected loss_weights=None (or 1.0), received "
                             f"{loss_weights!r}")
        # compiled before and given no metrics: Keras keeps the metrics it had (its compile makes
        # new CompileMetrics only `if metrics is not None or weighted_metrics is not None`)
        keep_metrics = metrics is None and weighted_metrics is None and self.compiled
        if loss is None and custom_loss.overrides_compute_loss(self):
            loss = losses_mod.ComputeLossOverride()  # the class's compute_loss is the loss
        if loss is None and self.loss is not None:  # compiled before: Keras keeps that loss
            loss = self.loss  # (keras/src/trainers/trainer.py, compile: `if loss is not None`)
        if loss is None:  # Keras' compile(optimizer): model.losses (add_loss) are the whole loss
            loss = losses_mod.AddedLossesOnly()
        optimizer = optimizers_mod.get(optimizer)
        loss = losses_mod.get(loss)
        if metrics is None:
            metrics = []
        if isinstance(metrics, str | metrics_mod.Metric):
            metrics = [metrics]
        if not isinstance(metrics, list | tuple):
            raise TypeError(f"compile: expected metrics to be a list, received {metrics!r}")
        for metric in metrics:
            metrics_mod.validate(metric)
        weighted_metrics = [] if weighted_metrics is None else weighted_metrics
        if isinstance(weighted_metrics, str | metrics_mod.Metric):
            weighted_metrics = [weighted_metrics]
        if not isinstance(weighted_metrics, list | tuple):
            raise TypeError("compile: expected weighted_metrics to be a list, received "
                            f"{weighted_metrics!r}")
        for metric in weighted_metrics:
            metrics_mod.validate(metric)
        self.optimizer, self.loss = optimizer, loss
        optimizer.path_prefix = self._variable_path_prefix()
        if keep_metrics:  # the same metric objects, as Keras' kept CompileMetrics
            return
        self.metric_names = list(metrics)
        self.weighted_metric_names = list(weighted_metrics)
        self.metrics = []
        self.weighted_metrics = []
        if self.built:
            self._resolve_metrics()

    def _resolve_metrics(self) -> None:
        units = self._sample_output_shape[-1]
        if len(self.metrics) != len(self.metric_names):
            self.metrics = [metrics_mod.get(m, self.loss.function_name, units) for m in self.metric_names]
        if len(self.weighted_metrics) != len(self.weighted_metric_names):
            self.weighted_metrics = [metrics_mod.get(m, self.loss.function_name, units)
                                     for m in self.weighted_metric_names]

    @property
    def metrics_names(self) -> list[str]:
        """The names of what ``evaluate`` returns, in its order (``["loss", "accuracy"]``), so
        ``zip(model.metrics_names, model.evaluate(x, y))`` pairs them, as Keras 2 did and the
        tutorials expect; ``[]`` before ``compile``. (Keras 3.15 lists ``["loss",
        "compile_metrics"]`` here: docs/parity-notes.md.)"""
        if not self.compiled:
            return []
        if self.built:
            self._resolve_metrics()
            return list(self._logs())
        return ["loss"] + [m if isinstance(m, str) else getattr(m, "name", None) or m.__name__
                           for m in [*self.metric_names, *self.weighted_metric_names]]

    @property
    def compiled(self) -> bool:
        return self.optimizer is not None and self.loss is not None

    def output_loss(self) -> tuple[losses_mod.Loss, bool]:
        """The loss to apply and whether it reads the logits of a final softmax (Keras' rule).

        Keras' TensorFlow backend tags the output of ``softmax`` *and* ``sigmoid`` with its input
        (``_keras_logits``), and both cross-entropies take that input as softmax logits, so a
        sigmoid output meets the same rule (``keras/src/backend/tensorflow/nn.py``).
        """
        last = self.layers[-1] if self.layers else None
        if isinstance(last, ActivatedLayer) and last.activation.name in ("softmax", "sigmoid"):
            twin = self.loss.logits_twin(last.activation.name)
            if twin is not None:
                return twin, True
        return self.loss, False

    def loss_input(self, y_pred: np.ndarray) -> tuple[losses_mod.Loss, np.ndarray, bool]:
        """The loss to apply, the tensor it reads (the final layer's logits under Keras' rule,
        else ``y_pred``), and whether that tensor is the logits."""
        if getattr(self, "output_mask", None) is not None:  # Keras would weight the loss by it
            refuse_masked_output(self)
        loss_fn, reads_logits = self.output_loss()
        if reads_logits:
            rematerialize(self.layers[-1])  # (a layer made in a RematScope dropped its logits)
        return loss_fn, (self.layers[-1].preactivation if reads_logits else y_pred), reads_logits

    # ------------------------------------------------------------------ the passes
    def forward(self, x: np.ndarray, training: bool = False, for_backward: bool = True) -> np.ndarray:
        """Run ``x`` through every layer in order; each layer caches what its backward needs.

        A ``Conv2D(activation="relu")`` followed by a ``MaxPooling2D`` runs as one call on the
        Numba backend (``Conv2D.forward_pooled``): the convolution's output is pooled chunk by
        chunk while in cache and never kept whole (the same numbers; the pooling layer then does
        nothing of its own, and :meth:`backward` skips it). ``for_backward=False`` (predict,
        evaluate): no backward pass follows, so the fused pairs keep no ``argmax``.
        """
        self._place_on_backend()
        x = kernels.to_backend(x)  # a batch goes to the GPU when the backend computes there
        mask = None  # Keras' padding mask: Embedding(mask_zero=True) starts one (layers/masking.py)
        layers = self.layers
        for layer in layers:
            layer.clear_activity()  # activity penalties are this pass's
        i = 0
        while i < len(layers):
            layer = layers[i]
            after = self._fused_pool(i)
            if mask is None and after is not None:
                x = layer.forward_pooled(x, after, training=training, for_backward=for_backward)
                i += 2
                continue
            x, mask = forward_with_mask(layer, x, mask, training=training, for_backward=for_backward)
            i += 1
        self.output_mask = mask  # None unless a mask reaches the output (loss_input refuses it)
        return x

    def _forward_inference(self, x):
        """The inference forward pass of ``evaluate`` and ``predict``. Under a MirroredStrategy
        each replica computes its slice of the batch, as Keras does: a replica's own moving
        statistics (BatchNormalization) normalize its slice."""
        if self.distribute_strategy is not None:
            return self.distribute_strategy.forward_inference(self, x)
        return self.forward(x, training=False, for_backward=False)

    def _place_on_backend(self) -> None:
        """Keep weights and optimizer state where the backend computes: in GPU memory for "cupy",
        host memory otherwise. They move once, when the backend changes; after that this is a check."""
        for param in self.weights:
            param.value = kernels.to_backend(param.value)
        if self.optimizer is not None:
            # (assigned as a whole: a MultiOptimizer's state is its optimizers' states joined)
            state = self.optimizer.state
            moved = {key: kernels.to_backend(value) for key, value in state.items()}
            if any(moved[key] is not value for key, value in state.items()):
                self.optimizer.state = moved

    def compute_loss(self, y: np.ndarray, y_pred: np.ndarray,
                     sample_weight: np.ndarray | None = None) -> tuple[float, np.ndarray, bool]:
        """The loss of a batch, its gradient with respect to the output, and whether that
        gradient is with respect to the logits of a final softmax rather than its output.

        Keras' reduction ``"sum_over_batch_size"`` of the per-sample losses ``l_i`` with sample
        weights ``w_i`` (all 1 without ``sample_weight``)::

            loss = sum_i w_i * l_i / n          (n = number of l_i, not sum_i w_i)
            dloss/dy_pred_i = w_i * d(mean_i l_i)/dy_pred_i

        The loss classes compute ``l`` and ``d mean(l)``; the weights are applied in
        :func:`weighted_loss_and_grad`.
        """
        if y is None:  # compiled without a loss, data without targets: model.losses alone
            return 0.0, kernels.xp_of(y_pred).zeros_like(y_pred), False
        loss_fn, output, reads_logits = self.loss_input(y_pred)
        loss, doutput = weighted_loss_and_grad(loss_fn, y, output, sample_weight)
        return loss, doutput, reads_logits

    def backward(self, doutput: np.ndarray, through_logits: bool = False, to_input: bool = False):
        """Send the loss gradient back through the layers in reverse; fills every ``.grad``.
        ``to_input``: through every layer, the first one too, and return ``dL/dx`` (a model called
        on a computed value inside a ``compute_loss`` override, whose layers
        ``custom_loss._passing_input_gradient`` told to pass ``dL/dx`` on before the forward pass)."""
        if to_input:
            first = 0
        else:
            self._mark_first_trainable()  # layers may have been frozen or thawed since the last step
            first = self.first_trainable_index()
        last = self.layers[-1]
        rematerialize(last)  # a layer made in a RematScope runs its forward pass again first
        if through_logits:
            dpenalty = last.activity_gradient(None)  # None without an activity_regularizer
            if dpenalty is not None:  # the penalty on the softmax's output, back to its logits
                doutput = doutput + last.activation.backward(last.preactivation, last.activated,
                                                             dpenalty)
            dy = last.backward_preactivation(doutput)
        else:
            dy = last.backward(last.activity_gradient(doutput))
        for layer in reversed(self.layers[first:-1]):
            if getattr(layer, "fused_into", None) is not None:
                continue  # a max-pooling whose Conv2D ran it (forward_pooled): its backward does it
            rematerialize(layer)
            # activity_regularizer=...: dR/dy / N joins dy (Layer.activity_gradient)
            dy = layer.backward(layer.activity_gradient(dy))
        return dy if to_input else None

    def train_step(self, x, y, sample_weight=None) -> dict[str, float]:
        """One step of training on one batch; returns the running loss and metrics of the epoch.

        ``sample_weight`` (one weight per sample) weights each sample's loss, as in Keras.
        """
        x, y, sample_weight = self._check_data(x, y, "train_step", sample_weight)
        if self.distribute_strategy is not None:
            # 1-3 data-parallel: each replica does them on its slice; grads are combined.
            self._refuse_activity_regularizers("a distribution strategy")
            loss, y_pred = self.distribute_strategy.forward_backward(self, x, y, sample_weight)
            loss += self.add_weight_penalties()
            self._scale_gradients()
            self.optimizer.apply(self.params)
            return self._update_metrics(loss, y, y_pred, sample_weight)
        # 1. Forward pass in training mode (dropout active): the model's prediction.
        y_pred = self.forward(x, training=True)
        if custom_loss.overrides_compute_loss(self):  # Keras' compute_loss(x, y, y_pred, ...)
            return self._custom_loss_train_step(x, y, y_pred, sample_weight)
        # 2. Loss: how wrong the prediction is, and dL/d(output), where the backward pass starts.
        loss, doutput, through_logits = self.compute_loss(y, y_pred, sample_weight)
        # 3. Backward pass: every layer, last to first, fills its Parameter.grad.
        self.backward(doutput, through_logits)
        # (Penalties: on outputs (activity_regularizer), whose gradients the backward pass added,
        # and on weights (kernel_regularizer), added to the loss and the grads here.)
        loss += self.activity_penalty() + self.add_weight_penalties()
        self._require_some_loss()
        # (Loss scaling: the gradients of scale * loss, which apply() divides by scale again.)
        self._scale_gradients()
        # 4. Update: the optimizer moves every parameter against its gradient.
        self.optimizer.apply(self.params)
        return self._update_metrics(loss, y, y_pred, sample_weight)

    def _custom_loss_train_step(self, x, y, y_pred, sample_weight) -> dict[str, float]:
        """``train_step`` of a class that overrides Keras' ``compute_loss`` (scratchnet/custom_loss.py):
        the override's loss and ``dL/dy_pred`` from the gradient tape, the backward pass, then the
        gradients of the other models it called on the data, and the update."""
        loss, doutput, model_grads, seed = custom_loss.loss_and_gradient(self, x, y, y_pred, sample_weight)
        self._backward_with(doutput, model_grads, seed)
        self._scale_gradients()
        self.optimizer.apply(self.params)
        return self._update_metrics(loss, y, y_pred, sample_weight)

    def _backward_with(self, doutput, model_grads: list, seed: float) -> None:
        """The backward pass from ``dL/dy_pred`` (a list for several outputs), its activity
        penalties and ``add_loss`` terms seeded with ``seed``, then the gradients a
        ``compute_loss`` override gave outside it: the weights of models it called on the data
        and its weight penalties (0 after the backward pass where outside the model's graph)."""
        with custom_loss.seeding_added_losses(self, seed):
            if isinstance(doutput, list):
                self.backward(doutput, [False] * len(doutput))
            else:
                self.backward(doutput)
        for param, grad in model_grads:
            param.grad = param.grad + grad

    def _variable_path_prefix(self) -> str:
        """What Keras' ``variable.path`` puts before a weight's name: nothing in a functional
        model (its layers are built outside the model); a Sequential model says otherwise."""
        return ""

    def _scale_gradients(self) -> None:
        """With a loss scale (``loss_scale_factor``, a LossScaleOptimizer): every gradient times
        the scale, i.e. the gradients of ``scale * loss``, data loss and penalties alike, as Keras
        differentiates ``optimizer.scale_loss(loss)``. The logged loss stays unscaled.

        (Keras scales the loss before its backward pass, so that float16 intermediate gradients do
        not round to 0. scratchnet's backward pass runs in float32 or float64, where they do not,
        so it scales the finished gradients: the same "times scale, then divided by scale" that
        reaches the optimizer, without threading the scale through every layer.)"""
        if getattr(self.optimizer, "loss_scale", None) is None:
            return
        for param in self.params:
            if param.grad is not None:
                param.grad = self.optimizer.scale_loss(param.grad)

    def test_step(self, x, y, sample_weight=None) -> dict[str, float]:
        """One batch of evaluation: forward in inference mode, then the (weighted) loss and the
        metrics; returns the running loss and metrics, as Keras' ``test_step``."""
        x, y, sample_weight = self._check_data(x, y, "test_step", sample_weight)
        if self.distribute_strategy is not None:  # (the replicas' penalties would not be summed)
            self._refuse_activity_regularizers("a distribution strategy")
        y_pred = self._forward_inference(x)
        if custom_loss.overrides_compute_loss(self):  # Keras' compute_loss(x, y, y_pred, ...)
            loss = custom_loss.loss_value(self, x, y, y_pred, sample_weight)
            return self._update_metrics(loss, y, y_pred, sample_weight)
        loss = self.evaluate_loss(y, y_pred, sample_weight) + self.weight_penalty()
        self._require_some_loss()
        return self._update_metrics(loss, y, y_pred, sample_weight)

    def evaluate_loss(self, y, y_pred, sample_weight=None) -> float:
        """The (weighted) loss of a batch, without its gradient (what ``test_step`` reports)."""
        if y is None:  # compiled without a loss, data without targets: model.losses alone
            return 0.0
        loss_fn, output, _ = self.loss_input(y_pred)
        return losses_mod.reduce_weighted(loss_fn.forward(y, output), sample_weight)

    def loss_and_grads(self, x, y, sample_weight=None) -> tuple[float, list[np.ndarray]]:
        """The loss of ``(x, y)`` and its gradients, aligned with ``get_weights()``; no update.

        Runs in training mode, like a ``tf.GradientTape`` around ``model(x, training=True)``.
        """
        x, y, sample_weight = self._check_data(x, y, "loss_and_grads", sample_weight)
        if self.distribute_strategy is not None:
            self._refuse_activity_regularizers("a distribution strategy")
            loss, _ = self.distribute_strategy.forward_backward(self, x, y, sample_weight)
        elif custom_loss.overrides_compute_loss(self):  # Keras' compute_loss(x, y, y_pred, ...)
            y_pred = self.forward(x, training=True)
            loss, doutput, model_grads, seed = custom_loss.loss_and_gradient(self, x, y, y_pred,
                                                                             sample_weight)
            self._backward_with(doutput, model_grads, seed)
            return loss, [kernels.to_numpy(p.grad).copy() if p.trainable
                          else np.zeros(p.value.shape, p.value.dtype) for p in self.weights]
        else:
            y_pred = self.forward(x, training=True)
            loss, doutput, through_logits = self.compute_loss(y, y_pred, sample_weight)
            self.backward(doutput, through_logits)
        loss += self.activity_penalty() + self.add_weight_penalties()
        # A non-trainable weight (a moving mean, a frozen layer's) gets zeros, as tf.GradientTape
        # reports it (it watches trainable variables only).
        trainable = {id(p) for p in self.params}
        return loss, [kernels.to_numpy(p.grad).copy() if id(p) in trainable
                      else np.zeros(p.value.shape, p.value.dtype)
                      for p in self.weights]

    @property
    def losses(self) -> list:
        """Keras' ``model.losses``, in Keras' order: the activity penalties of the last forward
        pass (``activity_regularizer=...``, ``ActivityRegularization``: ``R(y) / batch size`` per
        call, layer by layer), then the penalty of every trainable weight that has a regularizer
        (``Dense(..., kernel_regularizer=sn.regularizers.l2(0.01))``), layer by layer. Inside a
        ``compute_loss`` override's training step: the same terms, traced (scratchnet/custom_loss.py)."""
        if getattr(self, "_losses_override", None) is not None:
            return list(self._losses_override)
        activity = [penalty for layer in self.layers for penalty in layer.added_losses]
        weights = [penalty for layer in self.layers for penalty in layer.weight_losses]
        return activity + (weights if self.trainable else [])

    def _require_some_loss(self) -> None:
        """Compiled without a loss and with no ``add_loss`` term or regularizer either: Keras'
        error (keras/src/trainers/trainer.py, ``compute_loss``)."""
        if isinstance(self.loss, losses_mod.AddedLossesOnly) and not self.losses:
            raise ValueError(f'model "{self.name}": No loss to compute. Provide a `loss` argument in '
                             "`compile()` (it was compiled with loss=None, and no layer adds a "
                             "loss with add_loss or a regularizer)")

    def weight_penalty(self) -> float:
        """``sum(model.losses)``, each term summed over its cells (a per-sample ``add_loss`` term:
        Keras' ``_aggregate_additional_loss``): what Keras' ``compute_loss`` adds to the data loss, in ``fit``
        and in ``evaluate`` alike (:mod:`scratchnet.regularizers`); 0.0 without regularizers.
        (After a forward pass: the activity penalties are that pass's.)"""
        return sum(float(np.sum(kernels.to_numpy(penalty))) for penalty in self.losses)

    def activity_penalty(self) -> float:
        """The sum of the activity penalties of the last forward pass (their gradients joined the
        backward pass already: :meth:`Layer.activity_gradient`); 0.0 without activity regularizers."""
        return sum(float(np.sum(kernels.to_numpy(penalty))) for layer in self.layers
                   for penalty in layer.added_losses)

    def _refuse_activity_regularizers(self, what: str) -> None:
        for layer in self.layers:
            if getattr(layer, "activity_regularizer", None) is not None:
                raise ValueError(f'layer "{layer.name}": activity_regularizer under {what} is not '
                                 "implemented")

    def add_weight_penalties(self) -> float:
        """After a backward pass: add ``dR/dw`` of each regularized trainable weight to its
        ``grad``, and return the total penalty ``sum R(w)`` that joins the loss."""
        total = 0.0
        for param in self.params:
            if param.regularizer is not None:
                total += float(kernels.to_numpy(param.regularizer(param.value)))
                param.grad = param.grad + param.regularizer.gradient(param.value)
        return total

    def _update_metrics(self, loss: float, y, y_pred, sample_weight=None) -> dict[str, float]:
        """The loss is averaged over batches weighted by batch size (Keras' loss tracker); the
        ``metrics`` ignore sample weights and the ``weighted_metrics`` use them, as in Keras."""
        self.loss_tracker.update_value(loss, len(y_pred))
        if y is None:  # compiled without a loss, data without targets (no metrics: _check_data)
            return self._logs()
        for metric in self.metrics:
            metric.update_state(y, y_pred)
        for metric in self.weighted_metrics:
            if sample_weight is None:
                metric.update_state(y, y_pred)
            else:
                metric.update_state(y, y_pred, sample_weight=sample_weight)
        return self._logs()

    def _logs(self) -> dict[str, float]:
        return self._add_metric_logs({"loss": self.loss_tracker.result()})

    def _add_metric_logs(self, logs: dict[str, float]) -> dict[str, float]:
        """Each metric's result into ``logs`` under its name, avoiding the names already there:
        a second metric of one name logs as "name_1" (as Keras), a weighted metric whose name is
        taken as "weighted_name" (then "weighted_name_1", ...)."""
        for metric in self.metrics:
            logs[unique_log_name(metric.name, logs)] = _log_value(metric.result())
        for metric in self.weighted_metrics:
            name = metric.name if metric.name not in logs else \
                unique_log_name(f"weighted_{metric.name}", logs)  # Keras: weighted_f1_score_1
            logs[name] = _log_value(metric.result())
        return logs

    def reset_metrics(self) -> None:
        self.loss_tracker.reset()
        for metric in self.metrics + self.weighted_metrics:
            metric.reset_state()

    # ------------------------------------------------------------------ fit / evaluate / predict
    def fit(self, x=None, y=None, batch_size: int | None = None, epochs: int = 1,
            verbose="auto", callbacks=None, validation_split: float = 0.0,
            validation_data=None, shuffle: bool | str = True, class_weight: dict | None = None,
            sample_weight=None, initial_epoch: int = 0, steps_per_epoch: int | None = None,
            validation_steps: int | None = None, validation_batch_size: int | None = None,
            validation_freq=1) -> cbks.History:
        """Train for ``epochs`` passes over the data, with Keras' arguments and rules.

        ``x`` is an array (with targets ``y``), a Python generator of ``(x, y)`` or
        ``(x, y, sample_weight)`` batches, or a :class:`scratchnet.utils.PyDataset`
        (:mod:`scratchnet.data_adapters` explains each). Each epoch: run :meth:`train_step` on
        every batch (arrays: shuffled if asked, the partial last batch too, averaged over its own
        size), then evaluate ``validation_data`` if ``validation_freq`` says so (an int ``k``:
        every k-th epoch; a list: those 1-based epochs). The epoch's ``loss`` is the
        batch-size-weighted mean of its batch losses, as in Keras.

        ``sample_weight`` weights each sample's loss (and metrics); ``class_weight`` maps a class
        to a weight that every sample of that class gets. ``steps_per_epoch`` caps the batches
        per epoch, ``validation_steps`` those of each validation.
        """
        self._require_compiled("fit")
        batch_size = _optional_positive_int(batch_size, "batch_size", "fit")
        epochs = _non_negative_int(epochs, "epochs", "fit")
        initial_epoch = _non_negative_int(initial_epoch, "initial_epoch", "fit")
        steps_per_epoch = _optional_positive_int(steps_per_epoch, "steps_per_epoch", "fit")
        epochs, steps_per_epoch = config.capped(epochs, steps_per_epoch)  # sn.config.set_max_epochs ...
        validation_steps = _optional_positive_int(validation_steps, "validation_steps", "fit")
        validation_batch_size = _optional_positive_int(validation_batch_size,
                                                       "validation_batch_size", "fit")
        if not isinstance(shuffle, bool | np.bool_) and shuffle != "batch":
            raise ValueError(f"fit: expected shuffle to be True, False or 'batch', received {shuffle!r}")
        if not isinstance(validation_split, numbers.Real) or not 0 <= validation_split < 1:
            raise ValueError(f"fit: expected validation_split in [0, 1), "
                             f"received {validation_split!r}")
        if class_weight is not None and isinstance(y, list | tuple | dict):
            raise ValueError("fit: `class_weight` is only supported for Models with a single output; "
                             f"received targets y as a {type(y).__name__}")  # Keras' ArrayDataAdapter
        if validation_split and validation_data is None:
            if not adapters.is_array_data(x):
                raise ValueError("fit: argument `validation_split` is only supported for tensors or "
                                 f"NumPy arrays; found incompatible type in the input: {type(x)}")
            x, y, sample_weight = self._check_data(x, y, "fit", sample_weight)
            (x, y, sample_weight), validation_data = adapters.train_validation_split(
                (x, y, sample_weight), validation_split)
        validation = _unpack_validation_data(validation_data)
        train = self._epoch_iterator(x, y, sample_weight, batch_size, steps_per_epoch, shuffle,
                                     class_weight, "fit")
        train.reset()  # as Keras does before the first epoch (a PyDataset sees on_epoch_end)
        val_batches = None  # validation arrays are checked now; a generator is read when needed
        if validation is not None and adapters.is_array_data(validation[0]):
            val_batches = self._validation_batches(validation, validation_batch_size or batch_size,
                                                   validation_steps)

        self.history = cbks.History()
        callback_list = self._callback_list(callbacks, verbose, epochs, train.num_batches, "fit",
                                            history=self.history)
        self.stop_training = False
        self._initial_epoch = None  # a callback may set it in on_train_begin to resume training
        callback_list.on_train_begin()
        epoch_logs = None
        for epoch in range(self._initial_epoch or initial_epoch, epochs):
            self.reset_metrics()
            callback_list.on_epoch_begin(epoch)
            for step in train.steps():
                callback_list.on_train_batch_begin(step)
                batch = train.next_batch()
                if batch is None:  # a generator ran out of data (Keras warned): end the epoch
                    break
                logs = self.train_step(*batch)
                callback_list.on_train_batch_end(step, logs)
                if self.stop_training:
                    break
            epoch_logs = self._logs()
            if validation is not None and _should_validate(epoch, validation_freq):
                if val_batches is None:  # made once, then reset before every validation
                    val_batches = self._validation_batches(
                        validation, validation_batch_size or batch_size, validation_steps)
                val_logs = self._evaluate_batches(val_batches, callback_list)
                epoch_logs.update({f"val_{name}": value for name, value in val_logs.items()})
            callback_list.on_epoch_end(epoch, epoch_logs)
            if self.stop_training:
                break
        if epochs > 0:  # Keras: with use_ema, the weights become their moving averages
            self.optimizer.finalize_variable_values(self.params)
        callback_list.on_train_end(epoch_logs)
        return self.history

    def _validation_batches(self, validation: tuple, batch_size, steps) -> adapters.EpochIterator:
        return self._epoch_iterator(*validation, batch_size, steps, False, None,
                                    "fit (validation_data)")

    def evaluate(self, x=None, y=None, batch_size: int | None = None, verbose="auto",
                 sample_weight=None, steps: int | None = None, callbacks=None,
                 return_dict: bool = False):
        """Loss and metrics on the data in inference mode: ``[loss, acc]`` (or just ``loss``
        with no metrics), as Keras returns them. ``x`` may be arrays, a generator or a
        PyDataset, as in :meth:`fit`; ``steps`` caps the batches."""
        self._require_compiled("evaluate")
        batch_size = _optional_positive_int(batch_size, "batch_size", "evaluate")
        steps = _optional_positive_int(steps, "steps", "evaluate")
        steps = config.capped(1, steps)[1]  # sn.config.set_max_steps_per_epoch caps it, as Keras
        batches = self._epoch_iterator(x, y, sample_weight, batch_size, steps, False, None,
                                       "evaluate")
        callback_list = self._callback_list(callbacks, 0, 1, batches.num_batches, "evaluate")
        logs = self._evaluate_batches(batches, callback_list)
        if verbose and verbose != "auto":
            print(cbks.format_logs(logs), flush=True)
        return _as_returned(logs, return_dict)

    # ------------------------------------------------------------------ one batch, as Keras
    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One training step on this batch (``keras.Model.train_on_batch``): the metrics restart,
        :meth:`train_step` runs, and its loss and metrics come back as :meth:`evaluate` returns
        them (``loss``, or ``[loss, metric, ...]``; a dict with ``return_dict``)."""
        self._require_compiled("train_on_batch")
        if class_weight is not None:
            if sample_weight is not None:
                raise ValueError("train_on_batch: arguments `sample_weight` and `class_weight` "
                                 "cannot be specified at the same time. Received: "
                                 f"sample_weight={sample_weight}, class_weight={class_weight}")
            sample_weight = adapters.class_weight_to_sample_weights(y, class_weight)
        self.reset_metrics()
        return _as_returned(self.train_step(x, y, sample_weight), return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """Loss and metrics of one batch in inference mode (``keras.Model.test_on_batch``)."""
        self._require_compiled("test_on_batch")
        self.reset_metrics()
        return _as_returned(self.test_step(x, y, sample_weight), return_dict)

    def predict_on_batch(self, x):
        """The outputs for one batch, in inference mode (``keras.Model.predict_on_batch``)."""
        return self(x)

    def _evaluate_batches(self, batches: adapters.EpochIterator,
                          callback_list: cbks.CallbackList) -> dict:
        """One pass of :meth:`test_step` over ``batches``, with the test hooks (Keras' loop)."""
        batches.reset()
        self.stop_evaluating = False
        callback_list.on_test_begin()
        self.reset_metrics()
        for step in batches.steps():
            callback_list.on_test_batch_begin(step)
            batch = batches.next_batch()
            if batch is None:
                break
            logs = self.test_step(*batch)
            callback_list.on_test_batch_end(step, logs)
            if self.stop_evaluating:
                break
        logs = self._logs()
        callback_list.on_test_end(logs)
        return logs

    def predict(self, x, batch_size: int | None = None, verbose="auto", steps: int | None = None,
                callbacks=None) -> np.ndarray:
        """Outputs for ``x`` in inference mode, computed ``batch_size`` samples at a time.

        ``x`` may be an array, a generator of ``(x,)`` tuples or a PyDataset (targets in the
        batches are ignored). No progress bar is drawn.
        """
        batch_size = _optional_positive_int(batch_size, "batch_size", "predict")
        steps = _optional_positive_int(steps, "steps", "predict")
        steps = config.capped(1, steps)[1]  # sn.config.set_max_steps_per_epoch caps it, as Keras
        batches = self._epoch_iterator(x, None, None, batch_size, steps, False, None, "predict",
                                       needs_y=False)
        callback_list = self._callback_list(callbacks, 0, 1, batches.num_batches, "predict")
        self.stop_predicting = False
        callback_list.on_predict_begin()
        outputs = []
        for step in batches.steps():
            callback_list.on_predict_batch_begin(step)
            batch = batches.next_batch()
            if batch is None:
                break
            outputs.append(self._predict_batch(batch[0]))
            callback_list.on_predict_batch_end(step, {"outputs": outputs[-1]})
            if self.stop_predicting:
                break
        callback_list.on_predict_end()
        return self._concatenate_batches(outputs)

    def _predict_batch(self, x):
        """One ``predict`` batch's outputs, as NumPy. A batch whose largest layer output (of those
        the forward pass holds whole) would exceed ``PREDICT_PIECE_BYTES`` runs in pieces of rows
        (the results are the same rows; only the size of the matrix products changes). Why:
        measured on talk_cnn (150x150, 2 cores), ``predict(batch_size=256)`` spent most of its time
        faulting in 1.4 GB activations: 4.8-6.1 s whole, 1.8-1.9 s in pieces of 32
        (benchmarks/CONV_ALGORITHMS.md)."""
        longest = max((int(d) for a in (x if isinstance(x, list) else [x]) for d in np.shape(a)[1:]),
                      default=1)
        rows = self._predict_piece_rows(longest)
        if not isinstance(x, np.ndarray) or rows >= len(x):
            return self._to_numpy_outputs(self._forward_inference(x))
        return self._concatenate_batches([self._to_numpy_outputs(self._forward_inference(x[i:i + rows]))
                                          for i in range(0, len(x), rows)])

    # The largest layer output one predict piece may hold (see _predict_batch).
    PREDICT_PIECE_BYTES = 192 * 2**20

    def _predict_piece_rows(self, longest: int = 1) -> int:
        """How many samples fit the largest layer output in ``PREDICT_PIECE_BYTES`` (not counting
        the outputs a forward pass never holds whole: :meth:`_outputs_pooled_in_place`).
        ``longest``: the size counted for an axis of unknown length (``None``), the input's
        longest axis, which no sequence layer's output exceeds."""
        skipped = self._outputs_pooled_in_place()
        shapes = [layer.output_shape for layer in self.layers
                  if getattr(layer, "output_shape", None) is not None and layer not in skipped]
        per_sample = max((int(np.prod([longest if d is None else d for d in _flat_dims(shape)]))
                          for shape in shapes), default=1)
        return max(1, self.PREDICT_PIECE_BYTES // (per_sample * np.dtype(config.dtype()).itemsize))

    def _fused_pool(self, i: int):
        """The MaxPooling2D layer ``self.layers[i]`` runs in its own call (``forward_pooled``) on
        this backend, or None. Never the output layer (a loss reads it)."""
        layer, after = self.layers[i], self.layers[i + 1] if i + 1 < len(self.layers) - 1 else None
        if after is not None and getattr(layer, "can_fuse_pool", None) and layer.can_fuse_pool(after):
            return after
        return None

    def _outputs_pooled_in_place(self) -> set:
        """The layers whose output a forward pass on this backend never holds whole: a Conv2D
        that runs with the max-pooling after it (``Conv2D.forward_pooled``)."""
        return {layer for i, layer in enumerate(self.layers) if self._fused_pool(i) is not None}

    def _to_numpy_outputs(self, y_pred):
        return kernels.to_numpy(y_pred)

    def _concatenate_batches(self, outputs: list):
        """The batches' predictions joined along the batch axis."""
        return np.concatenate(outputs, axis=0)

    def _epoch_iterator(self, x, y, sample_weight, batch_size, steps, shuffle, class_weight,
                        where: str, needs_y: bool = True) -> adapters.EpochIterator:
        """The batches of ``x`` (arrays checked once here, whole; a generator's or PyDataset's
        batch by batch as they come). Builds an unbuilt model from the first batch."""
        if where == "predict" and isinstance(x, np.ndarray) and isinstance(self, Sequential) \
                and not self.built:
            # Keras' predict builds an unbuilt model on its first batch (Sequential: that batch's shape)
            first = batch_size or (math.ceil(len(x) / steps) if steps else 32)
            self._check_x(x[:first], where)
        if adapters.is_array_data(x):
            if needs_y:
                if class_weight is not None:  # per-sample weights, then checked as sample_weight
                    if sample_weight is not None:
                        raise ValueError(f"{where}: you cannot pass `class_weight` and "
                                         "`sample_weight` at the same time")
                    sample_weight = adapters.class_weight_to_sample_weights(
                        _single_target(y, where), class_weight)
                x, y, sample_weight = self._check_data(x, y, where, sample_weight)
            else:
                x = self._check_x(x, where)
        adapter = adapters.get_data_adapter(x, y, sample_weight, batch_size, steps, shuffle,
                                            class_weight, self.shuffle_rng, where)
        # (a model compiled without a loss takes batches of inputs alone: _check_batch checks them)
        batches = adapters.EpochIterator(adapter, steps, check=self._check_batch, where=where,
                                         needs_y=needs_y, y_optional=self._takes_no_targets_now())
        if not adapter.checked and not self.built:
            batches.first_batch()  # its check builds the model (Keras' symbolic build)
        return batches

    def _check_batch(self, x, y, sample_weight, where: str) -> tuple:
        if y is None and not self._takes_no_targets_now():
            return self._check_x(x, where), None, None
        return self._check_data(x, y, where, sample_weight)

    def _callback_list(self, callbacks, verbose, epochs: int, steps, where: str,
                       history: cbks.History | None = None) -> cbks.CallbackList:
        """The user's callbacks (then History and a progress bar in fit, as Keras orders them) in
        one :class:`~scratchnet.callbacks.CallbackList`, each given the model and
        ``{"epochs", "steps", "verbose"}``."""
        if isinstance(callbacks, cbks.Callback):
            callbacks = [callbacks]  # one callback, not in a list: Keras takes it too
        callback_list = list(callbacks or [])
        if not all(isinstance(c, cbks.Callback) for c in callback_list):
            raise TypeError(f"{where}: expected callbacks to be scratchnet.callbacks.Callback "
                            f"instances, received {callback_list!r}")
        if verbose != "auto" and not (isinstance(verbose, numbers.Integral) and verbose >= 0):
            raise ValueError(f"{where}: expected verbose to be 'auto', 0 (silent), 1 (progress "
                             f"bar) or 2 (one line per epoch), received {verbose!r}")
        verbose = 1 if verbose == "auto" else int(verbose)
        if history is not None:
            callback_list.append(history)
        return cbks.CallbackList(callback_list, add_progbar=history is not None and verbose > 0,
                                 model=self, epochs=epochs, steps=steps, verbose=verbose)

    # Keras' model.stateless_call(trainable_values, non_trainable_values, x, training=...)
    stateless_call = Layer.stateless_call

    def __call__(self, x, training: bool = False) -> np.ndarray:
        """The forward pass on one batch, in inference mode unless ``training=True``.

        On a symbolic tensor (``x = data_augmentation(inputs)`` in a functional model) a
        ``Sequential`` calls its layers in turn, and a functional model replays its layer calls
        from that tensor, so they join that graph, as Keras' nested model does (listed one by one
        in the outer model's ``layers``)."""
        if isinstance(x, Traced):  # the data, inside a compute_loss override (custom_loss.py)
            return custom_loss.call_model_on_tape(self, x, training)
        if is_symbolic(x):
            if not isinstance(self, Sequential):
                from scratchnet.functional import Functional, call_on_tensors

                if not isinstance(self, Functional):
                    raise ValueError(f'model "{self.name}" ({type(self).__name__}) cannot be called '
                                     "on symbolic tensors; build the outer model from its layers")
                return call_on_tensors(self, x)  # its layer calls replayed on x, weights shared
            from scratchnet.functional import _as_list, tag_nested_call

            given = x
            for entry in self._entries():  # (a nested functional model replays its calls)
                x = entry(x)
            tag_nested_call(self, _as_list(given), _as_list(x))  # (Keras' one node)
            return x
        return self._to_numpy_outputs(self.forward(self._check_x(x, "call"), training=training))

    # ------------------------------------------------------------------ input checks
    def _check_x(self, x, where: str) -> np.ndarray:
        if x is None:
            raise ValueError(f"{where}: expected input data x, received None")
        x = _as_array(x, "x", where)
        if not self.layers:
            raise ValueError(f'{where}: model "{self.name}" has no layers; add some first')
        # A first layer that reads ids or strings (Embedding, StringLookup) gets x as given.
        reads_floats = self.layers[0].input_dtype is None
        if reads_floats and x.dtype.kind not in "iufb":
            raise TypeError(
                f"{where}: expected x to be a numeric array (float32), received dtype {x.dtype}"
            )
        if x.ndim == 0 or len(x) == 0:
            raise ValueError(f"{where}: expected at least one sample in x, received shape "
                             f"{x.shape}")
        if self._sample_input_shape is None:
            # Keras builds a Sequential model on its first eager call for that call's batch shape
            # (its InputLayer's batch_shape: model(x), predict's first batch, train_on_batch);
            # fit and evaluate trace their step for an unknown batch size first
            # (keras/src/models/sequential.py build; keras/src/backend/tensorflow/trainer.py)
            self._build(sample_dims(x.shape[1:], "input_shape",
                                    f'{type(self).__name__} "{self.name}": build'),
                        batch_size=len(x) if where in _EAGER_BUILDS else None)
            self._resolve_metrics_if_compiled()
        given = x
        x = _adjust_input_rank(x, self._sample_input_shape)
        if not shape_matches(x.shape[1:], self._sample_input_shape):
            adjusted = "" if x is given else f" (after Keras' rank fix to {tuple(x.shape)})"
            raise ValueError(
                f'{where}: Input 0 of layer "{self.layers[0].name}" is incompatible with the '
                f"layer: expected shape={(None,) + tuple(self._sample_input_shape)}, "
                f"found shape={tuple(given.shape)}{adjusted}"
            )
        if not reads_floats:
            return x
        x = x.astype(self.compute_dtype, copy=False)
        if not np.all(np.isfinite(x)):
            bad = np.argwhere(~np.isfinite(x))[0]
            raise ValueError(f"{where}: x contains NaN or infinity (first at index "
                             f"{tuple(int(i) for i in bad)})")
        return x

    def _check_data(self, x, y, where: str, sample_weight=None) -> tuple:
        """``(x, y, sample_weight)`` checked and converted for the model's input and loss."""
        x = self._check_x(x, where)
        if y is None and self._takes_no_targets(where):
            return x, None, None
        if y is None:
            raise ValueError(f"{where}: expected targets y, received None")
        y = kernels.to_numpy(_as_array(y, "y", where))  # labels stay on the host; the loss moves them
        if y.ndim == 0:
            raise ValueError(f"{where}: expected y with one entry per sample, received a scalar")
        if len(y) != len(x):
            raise ValueError(
                f"{where}: data cardinality is ambiguous: x sizes: {len(x)}, y sizes: {len(y)}; "
                "make sure all arrays contain the same number of samples"
            )
        self._require_compiled(where)
        self._resolve_metrics()
        template = loss_template(len(x), self._sample_output_shape, y, self.compute_dtype)
        try:
            y, _ = self.loss.check(y, template)
        except (ValueError, TypeError) as err:  # say where the bad labels came from
            raise type(err)(f"{where}: {err}") from err
        if sample_weight is not None:
            sample_weight = self._check_sample_weight(sample_weight, len(x), where)
        return x, y, sample_weight

    def _takes_no_targets_now(self) -> bool:
        """Compiled without a loss (``losses.AddedLossesOnly``): data may come without targets."""
        return self.compiled and isinstance(self.loss, losses_mod.AddedLossesOnly)

    def _takes_no_targets(self, where: str) -> bool:
        """Whether data without targets is fine here: a model compiled without a loss (Keras'
        ``fit(x)`` on the ``add_loss`` terms alone), unless it has metrics, which need targets
        (Keras then fails inside TensorFlow; here the metrics are named)."""
        if not self._takes_no_targets_now():
            return False
        self._resolve_metrics()
        if self.metrics or self.weighted_metrics:
            names = [m.name for m in [*self.metrics, *self.weighted_metrics]]
            raise ValueError(f"{where}: model {self.name!r} was compiled without a loss but with "
                             f"metrics {names}, which need targets y; received y=None")
        return True

    def _check_sample_weight(self, sample_weight, n: int, where: str,
                             output_shape: tuple | None = None) -> np.ndarray:
        """One weight per sample: shape ``(N,)`` (or ``(N, 1)``), or one per loss value,
        ``(N,) + output_shape[:-1]``, as Keras matches weights to the per-sample losses."""
        w = kernels.to_numpy(_as_array(sample_weight, "sample_weight", where))
        if w.dtype.kind not in "iufb":
            raise TypeError(f"{where}: expected sample_weight to be numeric, received dtype {w.dtype}")
        output_shape = self._sample_output_shape if output_shape is None else output_shape
        # the per-sample losses' shape (an axis of unknown length, None: 1, broadcast later)
        values_shape = (n,) + tuple(1 if d is None else d for d in output_shape[:-1])
        if w.ndim == len(values_shape) + 1 and w.shape[-1] == 1:
            w = w[..., 0]  # (N, 1) -> (N,)
        if w.ndim >= 1 and len(w) != n:
            raise ValueError(f"{where}: data cardinality is ambiguous: x sizes: {n}, "
                             f"sample_weight sizes: {len(w)}; make sure all arrays contain the "
                             "same number of samples")
        if w.ndim < len(values_shape) and w.shape == values_shape[:w.ndim]:
            w = w.reshape(w.shape + (1,) * (len(values_shape) - w.ndim))
            w = np.broadcast_to(w, values_shape)
        if w.shape != values_shape:
            raise ValueError(f"{where}: expected sample_weight of shape {(n,)} (one weight per "
                             f"sample) or {values_shape}, received shape {w.shape}")
        if not np.all(np.isfinite(w)):
            raise ValueError(f"{where}: sample_weight contains NaN or infinity")
        return w.astype(self.compute_dtype)

    def _resolve_metrics_if_compiled(self) -> None:
        if self.compiled:
            self._resolve_metrics()

    def _require_compiled(self, where: str) -> None:
        if not self.compiled:
            raise ValueError(f"{where}: you must call `compile()` before using the model "
                             f"(before {where}())")

    def _require_built(self, where: str) -> None:
        if self._sample_input_shape is None:
            raise ValueError(
                f'{where}: model "{self.name}" is not built yet; start it with '
                "sn.layers.Input(shape), call build(input_shape), or call it on data first"
            )

    # ------------------------------------------------------------------ reporting, saving
    def _param_totals(self) -> list[str]:
        """The summary's last lines: all weights, the trainable ones, the rest (moving
        statistics, frozen layers), and once the optimizer has made its variables (its first
        update), theirs: Keras' ``summary_utils`` then adds them to the total and prints an
        "Optimizer params" line (iterations, learning rate and the slots: Adam's ``m`` and ``v``
        of each weight it was built for)."""
        if self._sample_input_shape is None:  # an unbuilt Sequential: no weights yet
            return ["Total params: 0", "Trainable params: 0", "Non-trainable params: 0"]
        weights = self.count_params()
        trainable = sum(int(p.value.size) for p in self.params)
        optimizer = getattr(self, "optimizer", None)
        built_for = getattr(optimizer, "_built_for", None)
        optimizer_count = None
        if built_for is not None:
            from scratchnet.saving_keras import _optimizer_values

            optimizer_count = sum(int(np.size(v)) for v in _optimizer_values(optimizer, built_for))
        lines = [f"Total params: {weights + (optimizer_count or 0):,}", f"Trainable params: {trainable:,}",
                 f"Non-trainable params: {weights - trainable:,}"]
        return lines + ([f"Optimizer params: {optimizer_count:,}"] if optimizer_count is not None else [])

    def summary(self, line_length=None, positions=None, print_fn=print, expand_nested=False,
                show_trainable=False, layer_range=None) -> str | None:
        """Print a layer table with output shapes and Keras' parameter counts; returns None, as
        Keras does. ``print_fn=None`` returns the text instead of printing it (scratchnet's way to
        keep it). ``show_trainable`` adds Keras' "Trainable" column (Y/N), ``layer_range=(first,
        last)`` (layer names) keeps the rows from ``first`` to ``last``. ``line_length`` and
        ``positions`` only shape Keras' columns and are accepted for its programs;
        ``expand_nested`` too, since a nested Sequential is already listed layer by layer.
        A Sequential not built yet lists its layers as Keras does, shape ``?`` and parameters
        ``0 (unbuilt)``."""
        if not (isinstance(self, Sequential) and self.layers and layer_range is None):
            self._require_built("summary")  # (an unbuilt Sequential lists its layers, unbuilt)
        layers = getattr(self, "operations", self.layers)  # a functional model lists its operations too
        if layer_range is not None:
            names = [layer.name for layer in layers]
            if not isinstance(layer_range, list | tuple) or len(layer_range) != 2 \
                    or any(name not in names for name in layer_range):
                raise ValueError(f"summary: expected layer_range to be two layer names of model "
                                 f'"{self.name}" (first and last), received {layer_range!r}; '
                                 f"its layers: {names}")
            first, last = names.index(layer_range[0]), names.index(layer_range[1])
            layers = layers[first:last + 1]
        headers, rows = self._summary_rows(layers)
        if show_trainable:
            headers = headers + ["Trainable"]
            rows = [row + ["Y" if layer.trainable and self.trainable else "N"]
                    for row, layer in zip(rows, layers, strict=True)]
        widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
                  for i, h in enumerate(headers)]
        line = "  ".join(f"{{:<{w}}}" for w in widths)
        rule = "-" * (sum(widths) + 2 * (len(widths) - 1))
        text = "\n".join([
            f'Model: "{self.name}"',
            line.format(*headers),
            rule,
            *(line.format(*r) for r in rows),
            rule,
            *self._param_totals(),
        ])
        if print_fn is None:
            return text
        print_fn(text)
        return None

    def _summary_rows(self, layers) -> tuple[list[str], list[list[str]]]:
        """The columns of :meth:`summary` and one row per layer; a layer not built yet (a
        Sequential model without an input shape) shows "?" and "0 (unbuilt)", as in Keras
        (keras/src/utils/summary_utils.py, ``print_layer``)."""
        batch = self._batch_size()
        return (["Layer (type)", "Output Shape", "Param #"],
                [[_layer_label(layer), str((batch,) + layer.output_shape),
                  f"{layer.count_params():,}"] if layer.built else
                 [_layer_label(layer), "?", "0 (unbuilt)"] for layer in layers])

    def _batch_size(self):
        """The batch size the model's input declares (``Input(batch_size=...)``, a stateful
        RNN's), or None: Keras shows it in ``input_shape``, ``output_shape`` and ``summary``."""
        graph = getattr(self, "_graph", None)
        if graph:
            return graph[0].shape[0]
        inputs = getattr(self, "inputs", None)
        first = inputs[0] if isinstance(inputs, list | tuple) and inputs else inputs
        return getattr(first, "shape", (None,))[0] if first is not None else None

    def get_config(self) -> dict:
        """Keras' model config: what ``keras.Sequential.get_config()`` (a functional model:
        ``keras.Model.get_config()``) returns for the same model, the ``"config"`` entry of a
        ``.keras`` file's ``config.json`` (:func:`scratchnet.saving_keras.model_config`).
        :meth:`from_config` rebuilds the model from it, and so does Keras'; scratchnet's earlier form
        of a Sequential config is :meth:`_npz_config` (docs/saved-models.md)."""
        from scratchnet import saving_keras

        return saving_keras.model_config(self, compile=False)["config"]

    def _npz_config(self) -> dict:
        """scratchnet's own config of a Sequential model, which its ``.npz`` files hold (and files
        written before ``get_config`` took Keras' form): the layers' ``get_config()`` in order,
        the seed and the input shape (scratchnet/saving.py)."""
        if self._keras_entries is not None:  # (its layers do not form a chain)
            raise ValueError(f'save: model "{self.name}" holds a functional model, which a .npz file '
                             "cannot describe; save it as .keras (Keras' format) or .h5")
        nested = [layer.name for layer in self.layers if hasattr(layer, "nested_model")]
        if nested:  # (subclassing.ModelAsLayer: its class is the user's, which a .npz config does not name)
            raise ValueError(f'save: model "{self.name}" holds the subclassed model "{nested[0]}", '
                             "which a .npz file cannot describe; save it as .keras (Keras' format, "
                             "with the class registered) or .h5")
        config = {
            "name": self.name,
            "seed": self.seed,
            "input_shape": None if self._sample_input_shape is None else list(self._sample_input_shape),
            "layers": [{"class_name": type(layer).__name__, "config": layer.get_config()}
                       for layer in self.layers],
        }
        if self._graph and self._graph[0].shape[0] is not None:
            config["batch_size"] = self._graph[0].shape[0]  # Input(batch_size=...): a stateful RNN's
        if self._input_layer_name() is not None:
            config["input_name"] = self._input_layer_name()  # (files before it: a new name)
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None):
        """Keras' ``Model.from_config``: the model ``config`` describes, with fresh weights.

        A functional config (Keras' ``get_config()`` of ``Model(inputs, outputs)``: ``name``,
        ``layers``, ``input_layers``, ``output_layers``) rebuilds the graph, each layer from its
        own config (a user's class found in ``custom_objects`` or the registered ones), unless
        ``cls`` is a subclass with an ``__init__`` of its own; anything else goes to
        ``cls(**config)``, as in Keras (keras/src/models/model.py, ``Model.from_config``)."""
        import inspect

        from scratchnet.functional import Functional

        if not isinstance(config, dict):
            raise TypeError(f"{cls.__name__}.from_config: expected a dict (model.get_config()), "
                            f"received {type(config).__name__}: {config!r:.120}")
        is_functional = all(key in config for key in ("name", "layers", "input_layers", "output_layers"))
        init = inspect.getfullargspec(cls.__init__)
        revivable = (cls in (Model, Functional) or cls.__init__ is Functional.__init__
                     or (init.varargs == "args" and init.varkw == "kwargs"))
        if is_functional and revivable:
            from scratchnet import saving_functional
            from scratchnet import saving_keras as sk

            return saving_functional.functional_from_config(
                {"class_name": "Functional", "config": config}, f"{cls.__name__}.from_config",
                sk._with_registered(custom_objects), False, None, {})
        try:
            return cls(**config)
        except TypeError as err:
            raise TypeError(f"{cls.__name__}.from_config: unable to revive the model from config "
                            f"{config!r:.200}: when overriding get_config(), return every argument "
                            f"of {cls.__name__}'s constructor ({err})") from err

    def save(self, path) -> None:
        """Write architecture, weights, compile settings and optimizer state to one file:
        ``.keras`` is Keras 3's native format (``keras.models.load_model`` opens it), ``.npz``
        scratchnet's own. The file is replaced atomically."""
        from scratchnet.saving import save_model

        save_model(self, path)

    def export(self, filepath, format: str = "tf_saved_model", verbose=None, input_signature=None,
               **kwargs) -> None:
        """Keras' ``model.export``: an inference artifact for serving, ``"tf_saved_model"`` (the
        default; ``tf.saved_model.load(path).serve(x)``), ``"litert"`` (a TFLite flat buffer),
        or Keras' other formats. These are TensorFlow (or ONNX, OpenVINO, PyTorch) files, which
        scratchnet cannot write on its own: the model goes to its Keras twin
        (``tfnet.to_keras``, the same weights) and Keras writes the artifact with the same
        arguments. So this, and only this, imports TensorFlow (the ``tf`` extra)."""
        formats = ("tf_saved_model", "onnx", "openvino", "litert", "torch")
        if format not in formats:
            raise ValueError(f"export: unrecognized format={format!r}; supported formats are "
                             f"{list(formats)}")
        try:
            from tfnet.export import as_keras
        except ImportError as err:
            raise ImportError(f"export: format={format!r} is written by Keras from the model's "
                              "Keras twin (tfnet), which needs TensorFlow and Keras: pip install "
                              f"'scratchnet[tf]' ({err})") from err
        as_keras(self).export(filepath, format=format, verbose=verbose,
                              input_signature=input_signature, **kwargs)

    def to_json(self, **kwargs) -> str:
        """Keras' JSON of the architecture (and compile settings): what ``config.json`` of a
        ``.keras`` file holds; ``sn.models.model_from_json`` (or Keras') reads it back."""
        from scratchnet.cloning import model_to_json

        return model_to_json(self, **kwargs)

    def save_weights(self, path, overwrite: bool = True) -> None:
        """Write the weights (and optimizer variables) to a Keras ``.weights.h5`` file."""
        from scratchnet.saving_keras import save_weights

        save_weights(self, path, overwrite=overwrite)

    def load_weights(self, path, skip_mismatch: bool = False, **kwargs) -> None:
        """Read weights from a ``.weights.h5`` file (or a ``.keras`` file), by layer class and
        order as Keras does; or from a legacy ``.h5`` file (Keras 2's ``save_weights("w.h5")``,
        pretrained files), by the order of the layers that have weights or, with
        ``by_name=True``, by layer name. All of them or none, unless ``skip_mismatch=True``:
        then weights that do not fit keep their values, with a warning, as in Keras."""
        from scratchnet.saving_keras import load_weights

        load_weights(self, path, skip_mismatch, **kwargs)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} layers={[layer.name for layer in self.layers]}>"


def _layer_label(layer) -> str:
    """``name (Class)``, a summary row's first column; a subclassed model placed in an outer model
    shows its own class (``mine (MyModel)``: its ``keras_class``, subclassing.ModelAsLayer)."""
    return f"{layer.name} ({(getattr(layer, 'keras_class', None) or type(layer)).__name__})"


class Sequential(Model):
    """A linear stack of layers, like ``keras.Sequential``: :class:`Model`'s passes run
    ``self.layers`` one after the other (``add`` appends one).

    ``seed`` makes the run repeatable: the same seed gives the same initial weights, dropout
    masks and shuffling order.
    """

    def _variable_path_prefix(self) -> str:
        """Keras builds a Sequential model's layers under its name: "sequential/dense/kernel"."""
        return f"{self.name}/"

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> Sequential:
        """Keras' ``Sequential.from_config``: the stack ``config`` describes, fresh weights, built
        when the config knows the input shape. Reads Keras' config (``layers``, an ``InputLayer``
        entry first, ``build_input_shape``) and scratchnet's own ``get_config()``
        (``input_shape``, ``seed``) (keras/src/models/sequential.py, ``from_config``)."""
        from scratchnet import saving_keras

        if not isinstance(config, dict) or "name" not in config or not isinstance(config.get("layers"), list):
            raise ValueError("A Sequential model configuration must be a dictionary containing the "
                             f"'name' and 'layers' keys. Received: config={config!r:.200}")
        inner = dict(config)
        if "input_shape" in inner:  # scratchnet's own get_config(): the input as an InputLayer entry
            shape = inner.pop("input_shape")
            if shape is not None:
                batch_shape = [inner.pop("batch_size", None), *shape]
                inner["layers"] = [{"class_name": "InputLayer", "config": {"batch_shape": batch_shape}},
                                   *inner["layers"]]
        return saving_keras.model_from_config({"class_name": "Sequential", "config": inner},
                                              f"{cls.__name__}.from_config", custom_objects,
                                              compile=False, seed=inner.get("seed"))

    def pop(self, rebuild: bool = True) -> Layer:
        """Remove the last layer and return it (``keras.Sequential.pop``); the model's output is
        then the layer before it. (``rebuild`` is Keras' argument; nothing here needs rebuilding.)"""
        if not self.layers:
            raise TypeError("There are no layers in the model.")
        if self._keras_entries is None:
            layer = self.layers.pop()
        else:  # the last entry of Keras' model.layers: a nested functional model whole
            layer = self._keras_entries.pop()
            count = len(_nested_layers(layer)) if isinstance(layer, Model) else 1
            del self.layers[len(self.layers) - count:]
            if isinstance(layer, Model):
                self._spliced_models.remove(layer)
            self._functional = None
        if self._sample_input_shape is not None:
            entries = self._entries()
            last = entries[-1] if entries else None
            self._sample_output_shape = (self._sample_input_shape if last is None else
                                         last._sample_output_shape if isinstance(last, Model)
                                         else last.output_shape)
            self._mark_first_trainable()
            del self._graph[len(entries) + 1:]  # model.output: the new last layer's
        return layer

    def _as_functional(self):
        """The graph of a Sequential model holding a functional model, as a functional model over
        the same layers (Keras' ``Sequential._functional``, keras/src/models/sequential.py
        ``build``): the passes run it, since the nested model's layers need not form a chain.
        Made again after ``add`` or ``pop``."""
        from scratchnet.functional import Functional

        if self._functional is None:
            self._require_built("forward")
            self._functional = Functional(self._graph[0], self._graph[-1], name=self.name, seed=0)
        return self._functional

    def forward(self, x, training: bool = False, for_backward: bool = True):
        """:meth:`Model.forward`; with a functional model among the entries, its graph runs
        (:meth:`_as_functional`: the nodes in order, forks and joins as in ``Model(inputs,
        outputs)``)."""
        if self._keras_entries is None:
            return super().forward(x, training, for_backward)
        self.output_mask = None
        return self._as_functional().forward([x], training, for_backward)

    def backward(self, doutput, through_logits: bool = False) -> None:
        """:meth:`Model.backward`, or the graph's (see :meth:`forward`): a frozen layer's weights
        get gradients too, which the optimizer never reads (``params`` leaves them out)."""
        if self._keras_entries is None:
            return super().backward(doutput, through_logits)
        self._as_functional().backward([doutput], [through_logits])
        return None

    def _outputs_pooled_in_place(self) -> set:
        if self._keras_entries is None:
            return super()._outputs_pooled_in_place()
        return self._as_functional()._outputs_pooled_in_place()

    # Keras' model.inputs / model.outputs (and model.input / model.output): the Input's KerasTensor
    # and the last layer's, for Model(inputs=model.inputs, outputs=...) over these layers and
    # weights. (Keras 3.15 raises for a Sequential's model.input and model.output until the model
    # itself is called on KerasTensors, and the lists are its way; the course's notebooks, written
    # for Keras 2, use model.input, which gives the Input's tensor here.)
    @property
    def input(self) -> KerasTensor:
        return self._graph_end(0, "input")

    @property
    def output(self) -> KerasTensor:
        return self._graph_end(-1, "output")

    @property
    def inputs(self) -> list[KerasTensor]:
        return [self._graph_end(0, "inputs")]

    @property
    def outputs(self) -> list[KerasTensor]:
        return [self._graph_end(-1, "outputs")]

    def _graph_end(self, index: int, what: str) -> KerasTensor:
        if not self._graph:
            raise AttributeError(f"Sequential model '{self.name}' has no defined {what} yet. Give "
                                 "it an Input(shape) first, or build it (model.build, or a first fit).")
        return self._graph[index]


def _nested_layers(model) -> list[Layer]:
    """The layers a functional model adds to a Sequential one: its own, but its ``Input`` (not
    part of the outer graph)."""
    return [layer for layer in model.layers if not isinstance(layer, InputLayer)]


def weighted_loss_and_grad(loss_fn: losses_mod.Loss, y, output,
                           sample_weight=None) -> tuple[float, np.ndarray]:
    """One output's loss ``sum_i w_i * l_i / n`` and its gradient ``w_i * d(mean_i l_i)/d output``
    (see :meth:`Model.compute_loss`)."""
    values = loss_fn.forward(y, output)  # one loss per sample: shape y_pred.shape[:-1]
    doutput = loss_fn.backward(y, output)  # d mean(values) / d output
    if sample_weight is None:
        return float(np.mean(values)), doutput
    if getattr(loss_fn, "couples_samples", False):  # Circle, Dice over the batch axis
        raise ValueError(f'loss "{loss_fn.name}": sample_weight is not supported with this loss, whose '
                         "values each depend on the whole batch (a weight per sample cannot scale "
                         "the gradient row by row); received a sample_weight")
    sample_weight = np.broadcast_to(sample_weight, values.shape)  # (N, 1) -> (N, T): any length
    loss = losses_mod.reduce_weighted(values, sample_weight)
    w = kernels.xp_of(doutput).asarray(sample_weight, dtype=doutput.dtype)
    w = w.reshape(tuple(values.shape) + (1,) * (doutput.ndim - values.ndim))  # (N, ..., 1)
    return loss, doutput * w


def loss_template(n: int, output_shape, y, dtype) -> np.ndarray:
    """A stand-in for the model's output (zeros, no memory) that a loss checks ``y`` against:
    ``(n,) + output_shape``, an axis of unknown length (``None``) taking ``y``'s size there."""
    y_shape = np.shape(y)
    sizes = [y_shape[axis] if d is None and axis < len(y_shape) else 1 if d is None else d
             for axis, d in enumerate(output_shape, start=1)]
    return np.broadcast_to(np.zeros((), dtype), (n, *sizes))


def _as_array(value, arg: str, where: str) -> np.ndarray:
    """``np.asarray`` with an error that names the argument when the data is ragged. A GPU array
    (CuPy) is kept where it is."""
    if kernels.is_device_array(value):
        return value
    try:
        return np.asarray(value)
    except ValueError as err:
        raise ValueError(f"{where}: expected {arg} to be a rectangular array (every sample the "
                         f"same shape), received a ragged sequence: {err}") from err


def _optional_positive_int(value, arg: str, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{where}: expected {arg} to be a positive integer, received {value!r}")
    return int(value)


def _is_unit_weight(loss_weights) -> bool:
    """``1.0``, ``[1.0]`` or ``{name: 1.0}``: the one weight that changes nothing."""
    if isinstance(loss_weights, dict):
        loss_weights = list(loss_weights.values())
    if isinstance(loss_weights, list | tuple) and len(loss_weights) == 1:
        loss_weights = loss_weights[0]
    return not isinstance(loss_weights, bool) and isinstance(loss_weights, numbers.Real) \
        and loss_weights == 1


def unique_log_name(name: str, logs: dict) -> str:
    """``name``, or ``name_1``, ``name_2``, ... if ``logs`` already has it (Keras' renaming of
    two compiled metrics with one name)."""
    candidate, k = name, 0
    while candidate in logs:
        k += 1
        candidate = f"{name}_{k}"
    return candidate


def _with_batch_axis(shape, model, which: str):
    """One sample's shape -> Keras' ``(None, ...)`` (the declared batch size instead of None for a
    model made with ``Input(batch_size=...)``, as Keras prints it); a list of shapes -> a list."""
    if shape is None:
        raise AttributeError(f'{type(model).__name__} model "{model.name}" has no defined {which} shape yet: '
                             "start it with sn.layers.Input(shape), call build(input_shape), or call it "
                             "on data first")
    batch = model._batch_size()
    if isinstance(shape, list):
        return [(batch,) + tuple(s) for s in shape]
    return (batch,) + tuple(shape)


def _flat_dims(shape) -> list:
    """A layer's output shape as one list of sizes (a layer with several outputs: the first)."""
    return list(shape[0]) if shape and isinstance(shape[0], tuple | list) else list(shape)


def _adjust_input_rank(x, input_shape: tuple[int, ...]):
    """Keras' rank fix for a model input of ``(None,) + input_shape``: x one axis short gets a
    last axis when that axis is 1 (``(N,)`` -> ``(N, 1)``, the course's ``xs`` for
    ``input_shape=[1]``); x with one axis too many drops a last axis of 1."""
    model_rank = len(input_shape) + 1
    if x.ndim == model_rank - 1 and input_shape[-1] == 1:
        return x[..., None]
    if x.ndim == model_rank + 1 and x.shape[-1] == 1:
        return x[..., 0]
    return x


def _unpack_validation_data(validation_data) -> tuple | None:
    """``(x_val, y_val)``, ``(x_val, y_val, sample_weight_val)``, a generator or a PyDataset."""
    if validation_data is None:
        return None
    if isinstance(validation_data, tuple | list):
        if len(validation_data) in (2, 3):
            return adapters.unpack_x_y_sample_weight(validation_data)
    elif not adapters.is_array_data(validation_data):
        return validation_data, None, None
    raise ValueError("fit: expected validation_data to be a tuple (x_val, y_val) or (x_val, y_val, "
                     "val_sample_weight), a generator or a PyDataset, received "
                     f"{adapters.describe(validation_data)}")


def _should_validate(epoch: int, validation_freq) -> bool:
    """Keras' ``validation_freq``: an int ``k`` validates after every k-th epoch; a list names the
    1-based epochs after which to validate."""
    epoch = epoch + 1
    if isinstance(validation_freq, int) and not isinstance(validation_freq, bool) \
            and validation_freq > 0:
        return epoch % validation_freq == 0
    if isinstance(validation_freq, list):
        return epoch in validation_freq
    raise ValueError("fit: expected `validation_freq` to be a list or a positive int; received "
                     f"validation_freq={validation_freq!r} of the type {type(validation_freq)}")


def _as_returned(logs: dict, return_dict: bool):
    """Keras' return value of evaluate and the ``*_on_batch`` calls: the logs dict, or its values
    in order (the loss alone when there are no metrics)."""
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


def _non_negative_int(value, arg: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{where}: expected {arg} to be an integer >= 0, received {value!r}")
    return int(value)


def _single_target(y, where: str):
    """The one target array that ``class_weight`` reads: ``y`` itself, or the only entry of a
    functional model's checked targets (a list with one array per output that has a loss)."""
    if isinstance(y, list | tuple):
        if len(y) != 1:
            raise ValueError(f"{where}: `class_weight` is only supported for Models with a single "
                             f"output; received {len(y)} target arrays")
        return y[0]
    return y


def _log_value(result):
    """A metric's ``result()`` as it goes into the logs: a variable (a Keras-style metric's
    ``return self.true_positives``) becomes its value, a float when it is a scalar, as Keras'
    ``pythonify_logs`` makes it; anything else is logged as it is."""
    if isinstance(result, Parameter):
        value = result.numpy()
        return float(value) if value.ndim == 0 else value
    return result
