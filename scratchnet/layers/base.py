"""The one layer protocol every scratchnet layer follows, and users subclass.

A layer owns ``params``, a dict of :class:`Parameter` (value and gradient side by side), and three
methods: ``build(input_shape, rng) -> output_shape`` creates the parameters, ``forward(x, training)``
computes the output and caches what the backward pass needs, ``backward(dy) -> dx`` fills every
``Parameter.grad`` with ``dL/dvalue`` and returns ``dL/dx``. Shapes exclude the batch axis.

Some layers also keep state that training changes without a gradient (BatchNormalization's moving
mean and variance): Keras' non-trainable weights. They live in a second dict,
``non_trainable_params``, so ``params`` stays "what the optimizer updates"; ``layer.weights`` lists
both, trainable first, in Keras' ``layer.weights`` order.
"""

from __future__ import annotations

import collections
import functools
import inspect
import numbers
import re
import warnings
from dataclasses import dataclass, field

import numpy as np

from scratchnet import activations, config, constraints, kernels, regularizers
from scratchnet import initializers as inits
from scratchnet.remat import get_current_remat_mode


@dataclass(eq=False)
class Parameter:
    """An array a layer owns: what Keras calls a variable and the talk calls a "parameter".

    ``name`` is ``"layer_name/weight_name"`` (``"conv2d/kernel"``), ``value`` the array the forward
    pass uses and ``grad`` the gradient of the loss with respect to it after a backward pass.
    ``trainable=False`` marks state the forward pass updates itself (a moving average): it has no
    gradient and no optimizer touches it, but it is saved and copied like any weight.
    ``regularizer`` (a :class:`scratchnet.regularizers.Regularizer`, as on a Keras variable) adds
    its penalty to the loss while the weight is trainable (``Model.add_weight_penalties``).
    ``constraint`` (a :class:`scratchnet.constraints.Constraint`) projects the value after every
    optimizer update (``Optimizer.apply``), as Keras' ``variable.constraint``.
    """

    name: str
    value: np.ndarray
    grad: np.ndarray | None = field(default=None, repr=False)
    trainable: bool = True
    regularizer: object = field(default=None, repr=False)
    constraint: object = field(default=None, repr=False)
    # Keras nests a recurrent layer's weights under its cell ("lstm/lstm_cell/kernel"); scratchnet's
    # LSTM owns them itself ("lstm/kernel"). The cell's name, for Keras' variable.path only.
    keras_cell: str | None = field(default=None, repr=False)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.shape

    @property
    def dtype(self):
        return self.value.dtype

    # What a Keras variable offers a learner: its values as a NumPy array, and assignment.
    def numpy(self) -> np.ndarray:
        """A copy of the values as a NumPy array (``variable.numpy()`` in Keras)."""
        return kernels.to_numpy(self.value).copy()

    def __array__(self, dtype=None, copy=None):
        """``np.asarray(parameter)`` gives its values (not a 0-d object array)."""
        values = kernels.to_numpy(self.value)
        return values.astype(dtype) if dtype is not None else values.copy() if copy else values

    def assign(self, value) -> None:
        """Replace the values in place (``variable.assign(value)``); the shape must not change.
        Inside a ``StatelessScope`` the scope records the value and the variable is left as it
        is, as in Keras (:mod:`scratchnet.scopes`)."""
        from scratchnet.scopes import get_stateless_scope

        scope = get_stateless_scope()
        if scope is None:
            assign_weights([self], [_untraced(value)], f'weight "{self.name}"', call="assign")
            return
        value = kernels.to_numpy(_untraced(value))
        if value.shape != self.value.shape:
            raise ValueError("The shape of the target variable and the shape of the target value in "
                             f"`variable.assign(value)` must match. variable.shape={self.value.shape}, "
                             f"Received: value.shape={value.shape}. Target variable: {self.name!r}")
        scope.add_update((self, value))

    def assign_add(self, delta) -> None:
        """``variable.assign_add(delta)``: add to the values in place (a running total in a
        layer's ``call``, Keras' non-trainable weights)."""
        self.assign(self.value + _untraced(delta))

    def assign_sub(self, delta) -> None:
        """``variable.assign_sub(delta)``: subtract from the values in place."""
        self.assign(self.value - _untraced(delta))

    # Arithmetic reads the values, as with a Keras variable (``inputs + self.total``); the result
    # is an array (or a traced array on the gradient tape), not a Parameter.
    def __add__(self, other):
        return np.add(self.value, other)

    def __radd__(self, other):
        return np.add(other, self.value)

    def __sub__(self, other):
        return np.subtract(self.value, other)

    def __rsub__(self, other):
        return np.subtract(other, self.value)

    def __mul__(self, other):
        return np.multiply(self.value, other)

    def __rmul__(self, other):
        return np.multiply(other, self.value)

    def __truediv__(self, other):
        return np.divide(self.value, other)

    def __rtruediv__(self, other):
        return np.divide(other, self.value)

    def __matmul__(self, other):
        return np.matmul(self.value, other)

    def __rmatmul__(self, other):
        return np.matmul(other, self.value)

    def __neg__(self):
        return -self.value

    def __getitem__(self, index):
        return self.value[index]


_KERAS_FORM = object()  # build(input_shape) called without rng: Keras' form


def _accepts_keras_build(build):
    """``build`` (scratchnet's ``build(input_shape, rng)``, the shape without its batch axis,
    returning the output shape) made to take Keras' call too: ``layer.build((None, 4))`` (the
    transfer-learning guide's way to make a layer's weights), the shape *with* its batch axis,
    which builds the layer as its first call would (``ensure_built``) and returns None, as
    Keras' ``Layer.build`` does."""
    if getattr(build, "_takes_keras_form", False):
        return build

    @functools.wraps(build)
    def wrapper(self, input_shape, rng=_KERAS_FORM, *args, **kwargs):
        if rng is not _KERAS_FORM:
            return build(self, input_shape, rng, *args, **kwargs)
        if getattr(self, "_building", False):  # super().build(input_shape) in a Keras-form build:
            return None  # Keras' Layer.build only marks the layer built, which ensure_built does
        several = isinstance(input_shape, list) and all(isinstance(s, tuple | list) for s in input_shape)
        shapes = input_shape if several else [input_shape]
        if any(not isinstance(s, tuple | list) or not s for s in shapes):
            raise ValueError(f'Layer "{self.name}" ({type(self).__name__}): build expects the input '
                             "shape with its batch axis first, such as (None, 4), received "
                             f"{input_shape!r}")
        self.ensure_built([tuple(s[1:]) for s in shapes] if several else tuple(input_shape[1:]))
        return None

    wrapper._takes_keras_form = True
    return wrapper


def _marks_built(build):
    """A user's ``build(self, input_shape)`` (Keras' form) made to build the layer when called
    from outside, ``layer.build((None, 4))`` before any call: through ``ensure_built``, which runs
    it once and marks the layer built, as Keras' build wrapper does; so the first call does not
    run it a second time (and make its weights twice). Run by ``ensure_built`` (or again on a
    built layer), it is the user's code as written."""
    if getattr(build, "_takes_keras_form", False):
        return build

    @functools.wraps(build)
    def wrapper(self, input_shape, *args, **kwargs):
        if getattr(self, "_building", False) or getattr(self, "built", True) or args or kwargs \
                or not isinstance(input_shape, tuple | list) or not input_shape:
            return build(self, input_shape, *args, **kwargs)
        several = all(isinstance(s, tuple | list) for s in input_shape)
        self.ensure_built([tuple(s[1:]) for s in input_shape] if several else tuple(input_shape[1:]))
        return None

    wrapper._takes_keras_form = True
    return wrapper


def _untraced(value):
    """A plain array from a value computed on the gradient tape (an assignment is not part of
    the graph, in Keras either)."""
    from scratchnet.autodiff import Traced

    return value.value if isinstance(value, Traced) else value


class DictOutputs:
    """The output structure of a ``call`` that returned a dict of tensors (``{"mean": m,
    "scale": s}``). Inside scratchnet such a layer has a list of outputs: the dict's values in
    sorted-key order, as Keras flattens a dict (``keras.tree.flatten``), so output ``i`` of its
    graph node (the ``tensor index`` of a saved graph) is the ``i``-th key in sorted order.
    Calling this on that list gives the dict back, in the order ``call`` wrote its keys."""

    def __init__(self, keys):
        self.keys = list(keys)

    def flatten(self, value: dict) -> list:
        """The dict's values, by sorted key."""
        return [value[key] for key in sorted(self.keys)]

    def __call__(self, flat) -> dict:
        flat = list(flat) if isinstance(flat, list | tuple) else [flat]  # (a dict of one: one value)
        by_key = dict(zip(sorted(self.keys), flat, strict=True))
        return {key: by_key[key] for key in self.keys}


class Layer:
    """Base class. Subclass it and implement ``build``, ``forward`` and ``backward``.

    Calling a layer (``layer(x)``) builds it on first use and runs ``forward`` in inference mode.

    ``input_dtype`` says what the layer reads. ``None`` (the default) means floats: inputs are cast
    to ``config.floatx()`` before ``forward``. A layer that reads integer ids or strings (Embedding,
    StringLookup, ...) sets it to the Keras input dtype it expects (``"int32"``, ``"string"``, ...);
    then neither ``layer(x)`` nor a ``Sequential`` that starts with it casts ``x``, and the layer
    checks its input itself.
    """

    input_dtype: str | None = None
    # A layer made of layers (a ``call`` that calls other layers, no forward/backward of its own):
    # the layers its attributes hold, in Keras' order, once it is built (scratchnet.subclassing).
    _sublayers: tuple = ()
    # False only during a model's forward pass that no backward pass follows (predict, evaluate:
    # ``Model.forward(for_backward=False)``); a layer may then skip what only its backward reads
    # (MaxPooling2D's argmax). Outside such a call it is True, so ``layer.forward`` called by hand
    # keeps everything.
    for_backward: bool = True
    # dL/d(term) of each activity penalty and add_loss term of the layer: 1, as the loss counts
    # each once; a model's compute_loss override may count them otherwise (scratchnet/custom_loss.py
    # sets it for its backward pass)
    loss_seed: float = 1.0

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        build = cls.__dict__.get("build")  # scratchnet's build(input_shape, rng): Keras' call too
        if callable(build) and "rng" in inspect.signature(build).parameters:
            cls.build = _accepts_keras_build(build)
        elif callable(build) and not cls.__module__.startswith("scratchnet"):  # a user's Keras build
            cls.build = _marks_built(build)

    def __init__(self, name: str | None = None, **kwargs):
        if name is not None and (not isinstance(name, str) or not name or "/" in name):
            raise ValueError(
                f"{type(self).__name__}: expected name to be a non-empty string without '/', "
                f"received {name!r}"
            )
        self.name = name or _snake_case(type(self).__name__)
        if "dtype" in kwargs:  # get_config's serialized policy: read as its name, as Keras does
            kwargs["dtype"] = policy_name(kwargs["dtype"])
        self._trainable = check_trainable(kwargs.pop("trainable", True), f'layer "{self.name}"')
        # Keras' penalty on the layer's output (every Keras layer takes it): see record_activity.
        self.activity_regularizer = regularizers.get(kwargs.pop("activity_regularizer", None),
                                                     f"{type(self).__name__} {self.name!r}: "
                                                     "activity_regularizer")
        self.activity_output = None  # the output the last forward pass penalized (for backward)
        self.activity_losses: list = []  # [R(y) / batch size] of each call in the last forward pass
        # A quantized policy (``dtype="int8_from_float32"``, a saved quantized layer's config): the
        # layer builds its quantized weights directly (Dense, EinsumDense, Embedding).
        self._dtype_policy_map = _policy_map_kwarg(kwargs, f"{type(self).__name__} {self.name!r}")
        self._quantized_policy = _quantized_policy_kwarg(kwargs)
        if self._quantized_policy is not None and type(self)._quantize_weights is Layer._quantize_weights:
            raise ValueError(f"{type(self).__name__} {self.name!r}: dtype="
                             f"{self._quantized_policy.name!r} is a quantized policy, and "
                             f"{type(self).__name__} cannot be quantized (Dense, EinsumDense, "
                             "Embedding and ReversibleEmbedding can)")
        # Keras' input declaration on a layer: the first layer of a Sequential builds the model.
        self._input_shape_arg = _input_shape_kwarg(type(self).__name__, kwargs)
        self.params: dict[str, Parameter] = {}  # trainable: the optimizer updates these
        self.non_trainable_params: dict[str, Parameter] = {}  # updated by forward (moving stats)
        self.built = False
        self.input_shape: tuple[int, ...] | None = None
        self.output_shape: tuple[int, ...] | None = None
        # A model sets this to False on its first layer: nobody needs dL/d(input images).
        self.compute_input_grad = True
        # keras.RematScope: the mode of the innermost scope open when the layer is made, as
        # Keras' Operation.__init__ reads it (scratchnet/remat.py)
        self._remat_mode = get_current_remat_mode()
        # Each call on KerasTensors (a functional model's graph, or a Sequential model's once it
        # knows its input shape): what layer.input and layer.output return.
        self._inbound_nodes: list = []

    @property
    def trainable(self) -> bool:
        """False freezes the layer (``layer.trainable = False``, as in Keras' transfer-learning
        lessons): its weights leave ``model.trainable_weights``, so the optimizer no longer moves
        them, and a BatchNormalization then runs in inference mode, as Keras 3's does. Unlike
        Keras, which reads it when ``compile`` runs, the change counts from the next step."""
        return self._trainable

    @trainable.setter
    def trainable(self, value) -> None:
        self._trainable = check_trainable(value, f'layer "{self.name}"')
        for sub in self._sublayers:  # a layer made of layers freezes them all, as in Keras
            sub.trainable = self._trainable

    @property
    def trainable_weights(self) -> list[Parameter]:
        """The weights the optimizer moves: none while the layer is frozen."""
        own = list(self.params.values()) if self._trainable else []
        return own + [p for sub in self._sublayers for p in sub.trainable_weights]

    @property
    def non_trainable_weights(self) -> list[Parameter]:
        frozen = [] if self._trainable else list(self.params.values())
        own = frozen + list(self.non_trainable_params.values())
        return own + [p for sub in self._sublayers for p in sub.non_trainable_weights]

    # --- Keras' dtype policy and post-training quantization (scratchnet.quantizers) ------------
    _quantized_policy = None  # (a subclass may skip Layer.__init__)
    _dtype_policy_map = None  # dtype=DTypePolicyMap(...): the layer looks its path up when built
    _path = None
    _path_prefix = ""  # a Sequential model builds its layers under its name: "sequential/"

    @property
    def path(self) -> str | None:
        """Keras' ``layer.path``, where the layer was built: ``"<model>/<layer>"`` in a Sequential
        model, its name alone when built on its own or called in a functional model; None until
        built. A :class:`~scratchnet.dtype_policies.DTypePolicyMap` is keyed by it."""
        return self._path

    @property
    def dtype_policy(self):
        """The layer's :class:`~scratchnet.dtype_policies.DTypePolicy`: its float type
        (``"float32"``), or after ``quantize("int8")`` the ``"int8_from_float32"`` policy; a
        layer made with ``dtype=DTypePolicyMap(...)`` returns the map (``layer.dtype_policy[
        layer.path]`` is its own entry), as Keras'. Setting a quantized policy on a built layer
        quantizes it, as in Keras."""
        from scratchnet import dtype_policies

        if self._dtype_policy_map is not None:
            return self._dtype_policy_map
        return self._quantized_policy or dtype_policies.DTypePolicy(str(float_dtype(self.weights)))

    @dtype_policy.setter
    def dtype_policy(self, value) -> None:
        from scratchnet import dtype_policies

        policy = dtype_policies.get(value)
        where = f'layer "{self.name}"'
        if isinstance(policy, dtype_policies.DTypePolicyMap):
            if self.built:
                raise ValueError(f"{where} is built: a DTypePolicyMap is read when a layer is built "
                                 "(its entry for layer.path chooses the weights); give it as the "
                                 "layer's dtype= argument instead")
            dtype_policies.check_usable(policy.default_policy, where)
            self._dtype_policy_map = policy
            return
        if policy.quantization_mode is None:
            if self._quantized_policy is not None:
                raise ValueError(f"{where} is quantized ({self._quantized_policy.name}); a float policy "
                                 f"cannot undo that. Received: dtype_policy={policy.name!r}")
            if policy.name != str(float_dtype(self.weights)):
                raise ValueError(f"{where}: scratchnet fixes a layer's float type when it is made "
                                 f"({float_dtype(self.weights)}); received dtype_policy={policy.name!r}")
            if self._dtype_policy_map is not None and self.path:  # (Keras: the map's entry changes)
                if self.path in self._dtype_policy_map:
                    del self._dtype_policy_map[self.path]
                self._dtype_policy_map[self.path] = policy
            return
        if self.built and not getattr(self, "_is_quantized", False):
            self.quantize(policy.quantization_mode)
        else:
            dtype_policies.check_usable(policy, where)
            self._quantized_policy = policy

    @property
    def quantization_mode(self) -> str | None:
        """None, or the mode the layer is quantized in (``"int8"``)."""
        return None if self._quantized_policy is None else self._quantized_policy.quantization_mode

    def quantize(self, mode=None, type_check: bool = True, config=None) -> None:
        """Post-training quantization of a built layer's weights, Keras' ``layer.quantize``.

        ``mode`` (``"int8"``) or ``config`` (a :class:`~scratchnet.quantizers.QuantizationConfig`)
        chooses how; Keras' checks come first, in its words (not built, already quantized, an
        unknown mode), then the layer quantizes itself (:meth:`_quantize_weights`). Dense,
        EinsumDense and Embedding implement ``"int8"``; any other layer raises
        ``NotImplementedError``, which ``model.quantize`` turns into a warning."""
        from scratchnet import quantizers

        config = quantizers.validate_and_resolve_config(mode, config)
        mode = config.mode
        self._check_quantize_args(mode)
        self._quantize_weights(mode, config, type_check)

    def _check_quantize_args(self, mode: str) -> None:
        from scratchnet import dtype_policies

        if not self.built:
            raise ValueError("Cannot quantize a layer that isn't yet built. "
                             f"Layer '{self.name}' (of type '{type(self).__name__}') is not built yet.")
        if getattr(self, "_is_quantized", False):
            raise ValueError(f"Layer '{self.name}' is already quantized with "
                             f"dtype_policy='{self.dtype_policy.name}'. Received: mode={mode}")
        if mode not in dtype_policies.QUANTIZATION_MODES:
            raise ValueError("Invalid quantization mode. "
                             f"Expected one of {dtype_policies.QUANTIZATION_MODES}. Received: mode={mode}")

    def _quantize_weights(self, mode: str, config, type_check: bool) -> None:
        """Replace the float weights by quantized ones (a quantizable layer overrides this)."""
        raise NotImplementedError(f"Layer {type(self).__name__} does not have a `quantize` method "
                                  "implemented.")

    def _set_quantized_policy(self, mode: str, block_size: int | None = None) -> None:
        """After quantizing: the policy becomes ``"<mode>_from_<float policy>"`` (int4:
        ``"int4/<block_size or -1>_from_float32"``), as Keras'. A layer whose ``dtype`` is a
        :class:`~scratchnet.dtype_policies.DTypePolicyMap` also records it in the map under its
        path (Keras' ``dtype_policy`` setter), named after the map's default policy."""
        from scratchnet import dtype_policies

        policy_map = self._dtype_policy_map
        source = policy_map.default_policy.name if policy_map is not None else self.dtype_policy.name
        if mode == "int4":
            name = f"int4/{-1 if block_size is None else block_size}_from_{source}"
            self._quantized_policy = dtype_policies.get(name)
        elif self._quantized_policy is None:
            self._quantized_policy = dtype_policies.get(f"{mode}_from_{source}")
        if policy_map is not None and self.path:
            if self.path in policy_map:
                del policy_map[self.path]
            policy_map[self.path] = self._quantized_policy
        self._is_quantized = True

    def _read_policy_map(self) -> None:
        """At build, a layer made with ``dtype=DTypePolicyMap(...)`` takes its entry for
        ``self.path``: a quantized policy there builds quantized weights (Keras reads
        ``dtype_policy[path]`` in ``quantization_mode``, which ``build`` consults)."""
        from scratchnet import dtype_policies

        if self._dtype_policy_map is None or self._quantized_policy is not None:
            return
        policy = self._dtype_policy_map[self._path]
        where = f'layer "{self.name}" (path {self._path!r})'
        if dtype_policies.check_usable(policy, where) != str(config.dtype()):
            raise ValueError(f"{where}: its DTypePolicyMap gives it the policy {policy.name!r}, but "
                             f"scratchnet computes every layer in one float type, floatx "
                             f"({config.dtype()}); set it with scratchnet.config.set_floatx")
        if policy.quantization_mode is None:
            return
        if type(self)._quantize_weights is Layer._quantize_weights:
            raise ValueError(f"{where}: its DTypePolicyMap gives it the quantized policy "
                             f"{policy.name!r}, and {type(self).__name__} cannot be quantized (Dense, "
                             "EinsumDense, Embedding and ReversibleEmbedding can)")
        self._quantized_policy = policy

    def _quantized_weight(self, name: str, value: np.ndarray) -> Parameter:
        """A non-trainable weight holding ``value`` as it is (an int8 kernel, its scale): Keras'
        ``add_weight(..., dtype="int8", trainable=False)`` in ``_int8_build``."""
        param = Parameter(f"{self.name}/{name}", np.require(value, requirements="C"), trainable=False)
        self.non_trainable_params[name] = param
        return param

    def _unsupported_quantization(self, mode: str, supported=("int8",)) -> NotImplementedError:
        return NotImplementedError(
            f"Layer {type(self).__name__} '{self.name}': quantization mode {mode!r} is not implemented "
            f"in scratchnet for this layer (it runs {', '.join(map(repr, supported))}; Keras' float8, "
            "GPTQ and AWQ are not here)")

    # Keras' other name for the same list.
    trainable_variables = trainable_weights

    @property
    def variables(self) -> list[Parameter]:
        """Keras' ``layer.variables``: :attr:`weights` with the state of each
        ``sn.random.SeedGenerator`` the layer holds as an attribute, after the layer's own
        weights and before its sub-layers' (keras/src/layers/layer.py ``variables``)."""
        own = list(self.params.values()) + list(self.non_trainable_params.values())
        seeds = [generator.state for generator in seed_generators(self)]
        return own + seeds + [v for sub in self._sublayers for v in sub.variables]

    @property
    def non_trainable_variables(self) -> list[Parameter]:
        """Keras' ``layer.non_trainable_variables``: :attr:`non_trainable_weights` and the
        seed generators' states, in :attr:`variables` order (a frozen layer's: all of them)."""
        trainable = {id(p) for p in self.trainable_weights}
        return [v for v in self.variables if id(v) not in trainable]

    # --- the protocol -------------------------------------------------------------------------
    # A subclass either writes forward and backward itself, or (Keras' other way) only a ``call``
    # that calls layers it made in ``__init__``: ``build`` then traces that call into a graph of
    # those layers, and ``forward``/``backward`` run the graph (:mod:`scratchnet.subclassing`).
    def build(self, input_shape: tuple[int, ...], rng: np.random.Generator) -> tuple[int, ...]:
        """Create parameters for inputs of ``input_shape``; return the output shape. (Called as
        Keras calls it, ``layer.build((None, 4))``, the layer is built as by a first call.)"""
        if self._runs_call():
            from scratchnet.subclassing import tracked_layers
            from scratchnet.tape_layers import build_taped
            from scratchnet.variables import adopt_variables

            adopt_variables(self)  # self.w = sn.Variable(...) in __init__: a weight, as in Keras
            # weights made in __init__ (Keras' way), or a call of ops on no layer at all: the tape
            if self.params or self.non_trainable_params or not tracked_layers(self):
                return build_taped(self, input_shape)
        if self._made_of_layers():
            from scratchnet.subclassing import build_composite

            return build_composite(self, input_shape, rng)
        return tuple(input_shape)

    build = _accepts_keras_build(build)

    def forward(self, x: np.ndarray, training: bool = False, mask=None) -> np.ndarray:
        if self._taped:
            from scratchnet.tape_layers import forward_taped

            return forward_taped(self, x, training, mask)  # mask: for a call(inputs, mask=None)
        if self._made_of_layers():
            from scratchnet.subclassing import forward_composite

            return forward_composite(self, x, training, mask)
        raise NotImplementedError(f"{type(self).__name__} must implement forward(x, training), or a "
                                  "call(inputs) made of layers")

    def backward(self, dy: np.ndarray) -> np.ndarray:
        if self._taped:
            from scratchnet.tape_layers import backward_taped

            return backward_taped(self, dy)
        if self._made_of_layers():
            from scratchnet.subclassing import backward_composite

            return backward_composite(self, dy)
        raise NotImplementedError(f"{type(self).__name__} must implement backward(dy)")

    def compute_mask(self, inputs, previous_mask=None):
        """Keras' default ``Layer.compute_mask``: the input's padding mask, unchanged. A layer
        that makes, changes or ends a mask overrides it (Embedding, GlobalAveragePooling1D);
        a model hands the default's result on only for a layer that ``supports_masking``
        (``layers/masking.py``), as Keras does."""
        return previous_mask

    def _runs_call(self) -> bool:
        """A ``call`` and no ``forward`` of its own: a layer written the Keras way."""
        return callable(getattr(self, "call", None)) and type(self).forward is Layer.forward

    def _takes_two_tensors(self) -> bool:
        """A Keras-style ``call`` with two positional tensors (``call(self, targets, logits)``):
        ``layer(a, b)`` passes ``b`` as the second one, as Keras' ``Layer.__call__(*args)`` does;
        the layer then receives ``[a, b]`` and its ``call`` gets them spread (``call(a, b)``)."""
        if not self._runs_call():
            return False
        try:
            params = list(inspect.signature(self.call).parameters.values())
        except (TypeError, ValueError):
            return False
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        return len(positional) >= 2 and positional[1].name not in ("training", "mask")

    def _made_of_layers(self) -> bool:
        """A ``call`` and no ``forward`` of its own, and no weights of its own: Keras' layer made
        of layers (traced into a graph of them, :mod:`scratchnet.subclassing`)."""
        return self._runs_call() and not self._taped

    _remat_mode = None  # (a subclass may skip Layer.__init__)
    _building = False  # True while ensure_built runs the layer's build

    # A Keras-style layer with weights of its own (``add_weight`` in ``build`` or ``__init__``,
    # used in ``call``): run by the gradient tape (:mod:`scratchnet.tape_layers`).
    _taped = False

    def _keras_build(self) -> bool:
        """A user's ``build(self, input_shape)``, Keras' signature (scratchnet's layers take
        ``(input_shape, rng)``)."""
        build = type(self).build
        if build is Layer.build or (getattr(build, "__module__", None) or "").startswith("scratchnet"):
            return False
        try:
            return len(inspect.signature(build).parameters) == 2
        except (TypeError, ValueError):
            return False

    # --- helpers for subclasses ---------------------------------------------------------------
    def add_weight(
        self, name=None, shape=None, initializer=None, rng: np.random.Generator | None = None,
        trainable: bool = True, regularizer=None, constraint=None, dtype=None, **keras_args,
    ) -> Parameter:
        """Create a weight; ``trainable=False`` puts it in ``non_trainable_params`` (no gradient,
        never touched by the optimizer, saved with the others). ``regularizer``: a penalty on the
        weight that joins the loss (:mod:`scratchnet.regularizers`); ``constraint``: a projection
        applied after each optimizer update (:mod:`scratchnet.constraints`).

        Two spellings: scratchnet's layers write ``add_weight("kernel", shape, initializer, rng)``;
        a layer written for Keras writes ``add_weight(shape=..., initializer=..., name=...)`` (or
        ``add_weight((3, 4), "zeros")``), with Keras' defaults: ``name`` ``variable``,
        ``variable_1``, ..., ``initializer`` ``glorot_uniform``, the draw from the model's
        generator."""
        if name is not None and not isinstance(name, str):  # Keras' positional (shape, initializer)
            name, shape, initializer = None, name, shape if initializer is None else initializer
        name, shape, initializer, rng = self._keras_weight_args(name, shape, initializer, rng, dtype,
                                                                keras_args)
        if any(d is None for d in shape):  # Keras' rule: no variable of unknown size
            received = "" if self.input_shape is None else \
                f" (for inputs of shape {(None,) + tuple(self.input_shape)})"
            raise ValueError(f'Layer "{self.name}" ({type(self).__name__}): shapes used to initialize '
                             "variables must be fully-defined (no `None` dimensions); received "
                             f"shape={tuple(shape)} for weight {name!r}{received}")
        init = inits.get(initializer, where=f"{self.name}: {name}_initializer")
        # C order, whatever the initializer returned (Orthogonal's q.T is Fortran-ordered): an
        # LSTM step's h @ R took 16.7 us with R in Fortran order against 9.0 in C order
        # ((32, 64) @ (64, 256), float32, idle machine); a whole training step 1-4% less
        # (np.require, not np.ascontiguousarray, which turns a 0-d weight into shape (1,))
        value = np.require(init(tuple(shape), config.dtype(), rng), requirements="C")
        param = Parameter(f"{self.name}/{name}", value, trainable=bool(trainable),
                          regularizer=regularizers.get(regularizer, f"{self.name}: {name}_regularizer"),
                          constraint=constraints.get(constraint, f"{self.name}: {name}_constraint"))
        if param.trainable:
            self.params[name] = param
        else:
            self.non_trainable_params[name] = param
        return param

    def _keras_weight_args(self, name, shape, initializer, rng, dtype, keras_args):
        """Keras' ``add_weight`` defaults and checks (see :meth:`add_weight`)."""
        where = f'Layer "{self.name}" ({type(self).__name__}): add_weight'
        unknown = set(keras_args) - {"autocast", "aggregation", "overwrite_with_gradient"}
        if unknown:
            raise TypeError(f"{where} got unexpected keyword argument(s) {sorted(unknown)}")
        if keras_args.get("overwrite_with_gradient"):
            raise ValueError(f"{where}: overwrite_with_gradient=True (Keras' float8 bookkeeping) is not "
                             "supported by scratchnet")
        if dtype is not None and str(dtype) != config.floatx():
            raise ValueError(f"{where}: dtype={dtype!r}; scratchnet's weights are in floatx "
                             f"({config.floatx()!r})")
        if name is None:  # Keras' automatic names
            taken = set(self.params) | set(self.non_trainable_params)
            name, i = "variable", 0
            while name in taken:
                i += 1
                name = f"variable_{i}"
        shape = () if shape is None else tuple(shape)
        if initializer is None:
            initializer = "glorot_uniform"
        if rng is None:  # a layer written for Keras: the generator of the build in progress
            rng = getattr(self, "_build_rng", None)
            if rng is None:
                from scratchnet.layers.input_layer import global_rng

                rng = global_rng()
        return name, shape, initializer, rng

    def random_generator(self, rng: np.random.Generator) -> np.random.Generator:
        """The layer's own generator for what it draws in training (dropout masks, augmentation):
        seeded with the layer's ``seed`` if it has one, else with a seed drawn from ``rng`` (the
        model's), so a run repeats."""
        seed = getattr(self, "seed", None)
        return np.random.default_rng(seed if seed is not None else int(rng.integers(2**31)))

    def ensure_built(self, input_shape: tuple[int, ...], rng: np.random.Generator | None = None):
        if not self.built:
            if getattr(self, "input_spec", None):  # keras.InputSpec's shape rules, before building
                from scratchnet.layers.input_spec import assert_shape_compatibility

                assert_shape_compatibility(self.input_spec, input_shape, self.name)
            # None: a length that varies per batch (TextVectorization without output_sequence_length)
            several = isinstance(input_shape, list | tuple) and bool(input_shape) and all(
                isinstance(s, tuple | list) for s in input_shape)  # a layer called on a list
            self.input_shape = [tuple(None if d is None else int(d) for d in s) for s in input_shape] \
                if several else tuple(None if d is None else int(d) for d in input_shape)
            rng = rng if rng is not None else np.random.default_rng()
            self._path = self._path_prefix + self.name  # (Keras: the name scope it is built in)
            self._read_policy_map()
            self._building = True  # (a Keras-form super().build(input_shape) inside: nothing to do)
            try:
                if self._keras_build():  # Keras' build(input_shape): the batch axis first, no rng
                    from scratchnet.tape_layers import build_keras_style

                    shape = build_keras_style(self, self.input_shape, rng)
                    self.output_shape = self._first_output_shape(shape)
                else:
                    self.output_shape = self._first_output_shape(self.build(self.input_shape, rng))
            except TypeError as err:  # arithmetic on a None the layer cannot do without
                if several or None not in self.input_shape:
                    raise
                raise ValueError(f'Layer "{self.name}" ({type(self).__name__}) cannot be built for '
                                 f"inputs of shape {(None,) + self.input_shape}: scratchnet's "
                                 f"{type(self).__name__} needs the size of every axis that is None "
                                 f"there ({err})") from err
            finally:
                self._building = False
            self.built = True
        return self.output_shape

    def _first_output_shape(self, shape) -> tuple:
        """What ``build`` returned, as ``output_shape``: the shape, or for a Keras-style layer whose
        ``call`` returns several tensors (a list of shapes, :mod:`scratchnet.tape_layers` and
        :mod:`scratchnet.subclassing`) the first, the others kept for :meth:`extra_output_shapes`,
        as ``LSTM(return_state=True)`` keeps its states' shapes."""
        if isinstance(shape, list) and shape and isinstance(shape[0], tuple | list):
            self._extra_call_shapes = [tuple(s) for s in shape[1:]]
            return tuple(shape[0])
        self._extra_call_shapes = []
        return tuple(shape)

    def extra_output_shapes(self) -> list[tuple]:
        """The shapes of the outputs after the first, for a layer that gives several: here a
        Keras-style ``call`` returning a tuple or list of tensors (the subclassing guide's VAE
        ``Encoder``, ``(z_mean, z_log_var, z)``); each gets a KerasTensor of its own in a graph
        (``input_layer._record_outputs``). Empty for a layer with one output."""
        return list(getattr(self, "_extra_call_shapes", []))

    def _call_outputs(self, outputs):
        """The outputs of a Keras-style ``call`` that returned several tensors, in the structure
        it returned them in (a tuple, a list or a dict, ``_call_structure``); one output as it is."""
        structure = getattr(self, "_call_structure", None)
        if isinstance(structure, DictOutputs):  # a dict, whatever the number of its keys
            return structure(outputs)
        if structure is None or not isinstance(outputs, list | tuple):
            return outputs
        return structure(outputs)

    def check_input(self, x: np.ndarray) -> None:
        """Raise a clear error if ``x`` is not ``(batch,) + self.input_shape`` (a ``None`` in
        ``input_shape``, a length that varies from batch to batch, takes any size)."""
        expected = (None,) + tuple(self.input_shape)
        if not shape_matches(x.shape[1:], self.input_shape):
            raise ValueError(
                f'Input 0 of layer "{self.name}" is incompatible with the layer: '
                f"expected shape={expected}, found shape={tuple(x.shape)}"
            )

    def __call__(self, x, training: bool | None = None, mask=None) -> np.ndarray:
        """``layer(x)``: an array gives an array, a KerasTensor records a graph node.

        ``mask``: Keras' padding mask ``(N, T)`` of ``x`` (True for real steps), for a layer that
        reads one (a recurrent layer, GlobalAveragePooling1D, a ``call(inputs, mask=None)`` of
        your own); without it, the mask ``x`` carries (``x._keras_mask``, from
        ``Embedding(mask_zero=True)`` or ``Masking``). The output carries its own mask in turn
        (``layers/masking.py``), as Keras' ``Layer.__call__`` does."""
        from scratchnet.layers.input_layer import call_symbolic, is_symbolic, layer_constant, tracing
        from scratchnet.layers.input_spec import assert_input_compatibility
        from scratchnet.layers.masking import (
            keras_mask_of,
            output_mask,
            own_compute_mask,
            takes_mask,
            with_mask,
        )

        if training is not None and not isinstance(training, bool | np.bool_) \
                and self._takes_two_tensors():  # layer(targets, logits): Keras' call(*args)
            x, training = [x, training], None
            self._spread_inputs = True
        if not is_symbolic(x):  # keras.InputSpec: what a (custom) layer declared about its inputs
            assert_input_compatibility(getattr(self, "input_spec", None), x, self.name)
        if not is_symbolic(x) and tracing():  # an array made inside a traced call(): a constant
            x = [t if is_symbolic(t) else layer_constant(t) for t in x] if isinstance(x, list | tuple) \
                and any(is_symbolic(t) for t in x) else layer_constant(x)
        if is_symbolic(x):  # layer(Input(...)): record a graph node (scratchnet.functional)
            _refuse_symbolic_mask(self, x, mask)
            if not self.built and self._made_of_layers():
                self._trace_dtype = (x[0] if isinstance(x, list | tuple) else x).dtype
            return call_symbolic(self, x, training)
        mask = keras_mask_of(x) if mask is None else np.asarray(mask)  # (before asarray drops it)
        x = x if kernels.is_device_array(x) else np.asarray(x)
        batch = x.shape[0] if x.ndim else 0
        if not self.built:
            if self._made_of_layers():  # an eager call: its call traced for this batch's size
                self._trace_dtype = _data_dtype(x)
                self._trace_batch = batch or None
            try:
                self.ensure_built(x.shape[1:])
            finally:
                self.__dict__.pop("_trace_batch", None)
        if self._made_of_layers() and getattr(self, "_call_graphs", None) and batch:
            # (built by a trace for another batch size, or on an Input: one for this size)
            from scratchnet.subclassing import composite_graphs

            composite_graphs(self, batch, eager=True)
        self.check_input(x)
        for param in self.weights:  # weights live where the backend computes (GPU for cupy)
            param.value = kernels.to_backend(param.value)
        if self.input_dtype is None:  # the type its (float) weights were made in, else floatx
            x = x.astype(float_dtype(self.weights), copy=False)
        self.clear_activity()
        x = kernels.to_backend(x)
        if mask is not None and takes_mask(self):
            y = self.forward(x, training=bool(training), mask=mask)
        else:
            y = self.forward(x, training=bool(training))
        y = self.record_activity(y)
        # several outputs: each an array, in call's tuple, list or dict
        y = self._call_outputs(type(y)(kernels.to_numpy(v) for v in y) if isinstance(y, list | tuple)
                               else kernels.to_numpy(y))
        if mask is None and own_compute_mask(self) is None:
            return y
        out_mask = output_mask(self, x, mask)
        return with_mask(y, out_mask if out_mask is None or isinstance(out_mask, list | tuple)
                         else kernels.to_numpy(out_mask))

    def stateless_call(self, trainable_variables, non_trainable_variables, *args,
                       return_losses: bool = False, **kwargs):
        """Keras' ``layer.stateless_call``: ``self(*args, **kwargs)`` computed with the given
        weight values (one per ``trainable_variables``, then ``non_trainable_variables``, in
        order), inside a :class:`~scratchnet.scopes.StatelessScope`, so no weight of the layer
        changes. Returns ``(outputs, new non-trainable values)`` (BatchNormalization's moving
        statistics after a ``training=True`` call), and the call's ``losses`` last when
        ``return_losses``."""
        from scratchnet.scopes import StatelessScope

        if not self.built:
            raise ValueError(f"To call stateless_call, {type(self).__name__} must be built (i.e. its "
                             "variables must have been already created). You can build it by calling "
                             "it on some data.")
        for given, own, what in ((trainable_variables, self.trainable_variables, "trainable_variables"),
                                 (non_trainable_variables, self.non_trainable_variables,
                                  "non_trainable_variables")):
            if len(given) != len(own):
                raise ValueError(f"Argument `{what}` must be a list of tensors corresponding 1:1 to "
                                 f"{type(self).__name__}().{what}. Received list with length "
                                 f"{len(given)}, but expected {len(own)} variables.")
        mapping = list(zip(self.trainable_variables, trainable_variables, strict=True)) + \
            list(zip(self.non_trainable_variables, non_trainable_variables, strict=True))
        with StatelessScope(state_mapping=mapping, collect_losses=return_losses) as scope:
            outputs = self(*args, **kwargs)
            losses = self.losses if return_losses else None
        new_state = [scope.get_current_value(v) for v in self.non_trainable_variables]
        return (outputs, new_state, losses) if return_losses else (outputs, new_state)

    # --- Keras' activity_regularizer: a penalty on the output -----------------------------------
    def record_activity(self, y):
        """After a forward pass: Keras' penalty on the layer's output, kept in ``activity_losses``
        (what ``layer.losses`` and ``model.losses`` list, and what joins the loss)::

            activity loss = R(y) / N          (N = y.shape[0], the batch size; 0 if N == 0)

        as ``keras.layers.Layer.__call__`` adds it, divided by the batch size ("consistent
        regularization strength across batch sizes"; a 0-d output is not divided). A layer of
        several outputs (a list: ``return_state=True``, a ``call`` returning a tuple or a dict, by
        sorted key) gets one penalty per output, in order, as Keras penalizes each tensor of
        ``tree.flatten(outputs)``. Returns ``y`` unchanged. Without an ``activity_regularizer``
        it does nothing."""
        if getattr(self, "activity_regularizer", None) is None:  # (a subclass may skip __init__)
            return y
        self.activity_output = y
        for output in (y if isinstance(y, list | tuple) else [y]):
            penalty = self.activity_regularizer(output)
            n = output.shape[0] if output.ndim else 1
            # one per call since the model's forward pass began (a layer shared by two nodes: two)
            self.activity_losses.append(penalty / output.dtype.type(n) if n else output.dtype.type(0.0))
        return y

    def clear_activity(self) -> None:
        """Forget the activity penalties of earlier calls (a model's forward pass starts so, as
        Keras clears ``layer.losses`` at each outermost call), ``add_loss`` terms included, this
        layer's and those of the layers inside it (Keras' ``Layer._clear_losses``)."""
        if getattr(self, "activity_losses", None):
            self.activity_losses.clear()
        for sub in self._sublayers:
            sub.clear_activity()

    def _flatten_sublayers(self) -> list:
        """Every layer inside this one, each once, in Keras' order: a queue whose front takes each
        visited layer's own sub-layers (keras/src/layers/layer.py, ``_flatten_layers``)."""
        layers, seen = [], set()
        queue = collections.deque(self._sublayers)
        while queue:
            layer = queue.popleft()
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            layers.append(layer)
            queue.extendleft(getattr(layer, "_sublayers", ()))
        return layers

    @property
    def added_losses(self) -> list:
        """The activity penalties and ``add_loss`` terms of the last call: this layer's, then
        those of each layer inside it (the guide's ``OuterLayer`` holding an
        ``ActivityRegularizationLayer``), as Keras' ``Layer.losses`` collects them."""
        return [penalty for layer in (self, *self._flatten_sublayers())
                for penalty in getattr(layer, "activity_losses", [])]

    def add_loss(self, loss) -> None:
        """``keras.layers.Layer.add_loss(loss)`` inside ``call``: a term that joins the training
        loss for this forward pass, listed as it is in ``layer.losses`` and ``model.losses`` (a
        scalar, or a per-sample tensor, which the loss sums: Keras'
        ``Trainer._aggregate_additional_loss``); a list (tuple, dict) adds each term. In a layer
        run by the gradient tape (:mod:`scratchnet.tape_layers`) its gradient reaches the layer's
        input and weights too. A value that is not a number (None, a string) is refused, as Keras
        refuses a non-tensor. (A Python or NumPy number is taken, where Keras refuses it: on plain
        arrays scratchnet's ops and loss objects return such numbers, so a computed term is one.)"""
        from scratchnet.autodiff import Traced

        pending = getattr(self, "_pending_losses", None)
        if pending is None:
            raise ValueError(f'Layer "{self.name}" ({type(self).__name__}): add_loss is supported inside '
                             "the call() of a layer written the Keras way (build/call); elsewhere use "
                             "activity_regularizer=, a weight regularizer, or a loss in compile()")
        if isinstance(loss, list | tuple | dict):  # each term, as Keras' tree.flatten gives them
            for term in ([loss[key] for key in sorted(loss)] if isinstance(loss, dict) else loss):
                self.add_loss(term)
            return
        value = loss.value if isinstance(loss, Traced) else np.asarray(loss)
        if value.dtype.kind not in "biuf":  # (keras/src/layers/layer.py, Layer.add_loss)
            raise ValueError(f'Layer "{self.name}": `add_loss()` can only be called from inside `build()` '
                             f"or `call()`, on a tensor input. Received invalid value: {loss!r}")
        pending.append(loss)
        self.activity_losses.append(value)
        from scratchnet.scopes import get_stateless_scope

        scope = get_stateless_scope()
        if scope is not None and scope.collect_losses:  # keras.StatelessScope(collect_losses=True)
            scope.add_loss(value)

    def activity_gradient(self, dy):
        """Before a backward pass: ``dy + dR/dy / N``, the activity penalty's gradient added to
        the loss gradient that reaches the layer's output (``dy`` None: the penalty's alone); a
        layer of several outputs takes and returns a list, one gradient per output. Without an
        ``activity_regularizer``: ``dy``."""
        y = getattr(self, "activity_output", None)
        if y is None or self.activity_regularizer is None:
            return dy
        if isinstance(y, list | tuple):
            dys = [None] * len(y) if dy is None else dy
            return [self._activity_gradient_of(y_k, d) for y_k, d in zip(y, dys, strict=True)]
        return self._activity_gradient_of(y, dy)

    def _activity_gradient_of(self, y, dy):
        if self.loss_seed == 0:  # (a compute_loss override that leaves the penalty out)
            return dy
        n = y.dtype.type(max(y.shape[0], 1) if y.ndim else 1)
        grad = self.activity_regularizer.gradient(y) / n
        if self.loss_seed != 1:
            grad = grad * y.dtype.type(self.loss_seed)
        return grad if dy is None else dy + grad

    # --- Keras' layer.input / layer.output: the graph, not arrays ------------------------------
    @property
    def input(self):
        """The KerasTensor(s) this layer was first called on in a graph (Keras' ``layer.input``)."""
        node = self._first_node("input")
        return list(node.inputs) if node.inputs_as_list else node.inputs[0]

    @property
    def output(self):
        """The KerasTensor this layer made the first time it was called in a graph: Keras'
        ``layer.output``. A functional model's layers have one, and so have a Sequential model's
        once it knows its input shape, so the course's
        ``Model(inputs=model.input, outputs=[layer.output for layer in model.layers])`` builds a
        model of every layer's output, sharing the weights. (Arrays never live here: what a
        forward pass keeps for its backward pass has names of its own, such as ``activated``.)"""
        node = self._first_node("output")
        outputs = list(node.outputs) if node.outputs else node.output  # LSTM(return_state=True): a list
        if isinstance(getattr(self, "_call_structure", None), DictOutputs):
            return self._call_outputs(outputs)  # a call returning a dict: the dict, as in Keras
        return outputs

    @output.setter
    def output(self, value) -> None:
        raise AttributeError(
            f'layer "{self.name}": `output` is Keras\' layer.output, the KerasTensor of its first call '
            "in a graph, and cannot be assigned; keep what forward computes for backward under a name "
            "of your own (self.y, self.cache, ...)")

    def _first_node(self, what: str):
        nodes = getattr(self, "_inbound_nodes", [])  # (a subclass may skip Layer.__init__)
        if not nodes:
            raise AttributeError(f"The layer {self.name} has never been called and thus has no "
                                 f"defined {what}.")
        return nodes[0]

    @property
    def weights(self) -> list[Parameter]:
        """Every weight in Keras' ``layer.weights`` order: trainable ones, then non-trainable
        (then, for a layer made of layers, each sub-layer's, as Keras' ``Layer.weights``)."""
        own = list(self.params.values()) + list(self.non_trainable_params.values())
        return own + [p for sub in self._sublayers for p in sub.weights]

    def get_weights(self) -> list[np.ndarray]:
        """Copies of this layer's weights, in ``layer.weights`` order (``keras.layers.Layer``'s)."""
        return [kernels.to_numpy(p.value).copy() for p in self.weights]

    def set_weights(self, weights) -> None:
        """Replace this layer's weights; count and shapes must match :meth:`get_weights`."""
        if not self.built:
            raise ValueError(f'set_weights: layer "{self.name}" is not built yet (it has no weights '
                             "until a model or a first call gives it its input shape)")
        assign_weights(self.weights, weights, f'layer "{self.name}"')

    # Keras' saving hooks (keras/src/layers/layer.py). A subclass may override them to save state
    # of its own (keras.io's "Customizing saving" guide); scratchnet's .keras writer and reader
    # call an override with the layer's group of the weights file (``layers/<path>/vars``) as a
    # dict, and otherwise write and read the weights themselves, in the same layout.
    def save_own_variables(self, store: dict) -> None:
        """Put each weight, in ``layer.weights`` order, into ``store`` under ``"0"``, ``"1"``, ..."""
        for i, param in enumerate(self.weights):
            store[str(i)] = kernels.to_numpy(param.value).copy()

    def load_own_variables(self, store) -> None:
        """Assign ``store["0"]``, ``store["1"]``, ... to the weights, as Keras' default does; a
        different number of entries raises Keras' ``ValueError``."""
        weights = self.weights
        if len(store.keys()) != len(weights):
            raise ValueError(f"Layer '{self.name}' expected {len(weights)} variables, but received "
                             f"{len(store.keys())} variables during loading. Expected: "
                             f"{[p.name.split('/')[-1] for p in weights]}")
        assign_weights(weights, [np.asarray(store[str(i)]) for i in range(len(weights))],
                       f'layer "{self.name}"', call="load_own_variables")

    @property
    def losses(self) -> list:
        """Keras' ``layer.losses``: the activity penalty of the last call, if the layer has an
        ``activity_regularizer`` (:meth:`record_activity`), then the penalty ``R(w)`` of each
        trainable weight that has a regularizer (``kernel_regularizer=...``), as 0-d arrays; a
        layer made of layers lists theirs too (:attr:`added_losses`)."""
        return self.added_losses + self.weight_losses

    @property
    def weight_losses(self) -> list:
        """The penalty ``R(w)`` of each trainable weight that has a regularizer."""
        return [p.regularizer(p.value) for p in self.trainable_weights if p.regularizer is not None]

    def count_params(self) -> int:
        """All weights, trainable or not, as Keras counts them."""
        return int(sum(p.value.size for p in self.weights))

    @classmethod
    def from_config(cls, config: dict):
        """Keras' ``Layer.from_config``: ``cls(**config)``, the inverse of :meth:`get_config`; a
        serialized float ``dtype`` policy (Keras' config) is passed on by its name, as Keras does
        (keras/src/ops/operation.py, ``Operation.from_config``)."""
        if not isinstance(config, dict):
            raise TypeError(f"{cls.__name__}.from_config: expected a dict (layer.get_config()), "
                            f"received {type(config).__name__}: {config!r:.120}")
        if "dtype" in config:
            config = {**config, "dtype": policy_name(config["dtype"])}
        try:
            return cls(**config)
        except Exception as err:
            raise TypeError(f"Error when deserializing class '{cls.__name__}' using config={config}: "
                            f"{err}") from err

    def get_config(self) -> dict:
        """Constructor arguments, so ``type(layer)(**layer.get_config())`` makes a twin: Keras'
        ``Layer.get_config`` (keras/src/layers/layer.py): ``name``, ``trainable``, the serialized
        ``dtype`` policy, and ``activity_regularizer`` when one is set. The base ``Layer`` itself
        writes its other constructor arguments too (Keras' auto-config of ``Layer.__init__``)."""
        from scratchnet import dtype_policies

        config = {"name": self.name, "trainable": self._trainable,
                  "dtype": dtype_policies.serialize(self.dtype_policy)}
        if getattr(self, "activity_regularizer", None) is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        if type(self) is Layer:
            config = {**config, "activity_regularizer": config.get("activity_regularizer"),
                      "autocast": True}
        return config

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


class ActivatedLayer(Layer):
    """A layer whose output is ``activation(z)`` of a pre-activation ``z`` (Dense, Conv2D, ...).

    ``backward(dy)`` first undoes the activation, then calls ``backward_preactivation(dz)``. The
    model calls ``backward_preactivation`` directly when a softmax output meets a cross-entropy
    loss, as Keras does: the loss then reads ``preactivation`` (the logits).
    """

    def __init__(self, activation=None, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.activation = activations.get(activation, where=f"{self.name}: activation")
        self.preactivation: np.ndarray | None = None  # z, kept by forward for backward
        self.activated: np.ndarray | None = None  # activation(z), the array forward returned

    def activate(self, z: np.ndarray) -> np.ndarray:
        self.preactivation = z
        self.activated = self.activation.forward(z)
        return self.activated

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dz = self.activation.backward(self.preactivation, self.activated, dy)
        return self.backward_preactivation(dz)

    def backward_preactivation(self, dz: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {**super().get_config(), "activation": activations.config_entry(self.activation)}


# Keras' Layer arguments scratchnet has no use for, and the only value it accepts for each.
_KERAS_DEFAULTS = {"dtype": None, "autocast": True}


def assign_weights(params: list[Parameter], weights, owner: str, call: str = "set_weights") -> None:
    """``set_weights`` of a model or a layer (``owner``): check the arrays (count, shapes, real
    numbers, finite), then copy each into its Parameter, in place (to the GPU if it is there)."""
    if not isinstance(weights, list | tuple):
        raise TypeError(f"{call}: expected a list of {len(params)} arrays for {owner}, "
                        f"received {type(weights).__name__}")
    if len(weights) != len(params):
        raise ValueError(f"{call}: expected a list of {len(params)} arrays for {owner}, "
                         f"received {len(weights)}")
    new_values = []
    for param, w in zip(params, weights, strict=True):
        w = np.asarray(w)
        if w.shape != param.value.shape:
            raise ValueError(f'{call}: weight "{param.name}" expects shape '
                             f"{param.value.shape}, received shape {w.shape}")
        if w.dtype.kind not in "iuf":
            raise TypeError(f'{call}: weight "{param.name}" expects a float array, '
                            f"received dtype {w.dtype}")
        if not np.all(np.isfinite(w)):
            raise ValueError(f'{call}: weight "{param.name}" contains NaN or infinity')
        new_values.append(w.astype(param.value.dtype))  # the type it was built with
    for param, value in zip(params, new_values, strict=True):
        param.value[...] = kernels.xp_of(param.value).asarray(value)


def policy_name(dtype):
    """A layer's ``dtype`` argument with a serialized float policy (``get_config``'s
    ``{"class_name": "DTypePolicy", "config": {"name": "float32"}, ...}``) read as its name, as
    Keras' ``Operation.from_config`` does; any other value as it is. The name may be ``"int64"``:
    the policy of a layer that outputs ids (Hashing)."""
    if isinstance(dtype, dict) and dtype.get("class_name") in ("DTypePolicy", "FloatDTypePolicy"):
        return (dtype.get("config") or {}).get("name")
    return dtype


def float_dtype(weights) -> np.dtype:
    """The float type a layer computes in: its first float weight's (a quantized layer's int8
    kernel is not one), else floatx."""
    for param in weights:
        if param.value.dtype.kind == "f":
            return param.value.dtype
    return config.dtype()


def _policy_map_kwarg(kwargs: dict, where: str):
    """Pop a ``dtype`` that is a :class:`~scratchnet.dtype_policies.DTypePolicyMap` (or its
    serialized form) from a layer's kwargs; its default policy must be one scratchnet runs."""
    from scratchnet import dtype_policies

    dtype = kwargs.get("dtype")
    if isinstance(dtype, dict) and dtype.get("class_name") == "DTypePolicyMap":
        dtype = dtype_policies.deserialize(dtype)
    if not isinstance(dtype, dtype_policies.DTypePolicyMap):
        return None
    del kwargs["dtype"]
    dtype_policies.check_usable(dtype.default_policy, f"{where}: dtype")
    return dtype


def _quantized_policy_kwarg(kwargs: dict):
    """Pop a quantized ``dtype`` (policy, name or serialized form) from a layer's kwargs."""
    from scratchnet import dtype_policies

    dtype = kwargs.get("dtype")
    if dtype is None or not dtype_policies.is_quantized(dtype):
        return None
    policy = dtype_policies.get(kwargs.pop("dtype"))
    dtype_policies.check_usable(policy, "dtype")
    return policy


def shape_matches(actual, declared) -> bool:
    """``actual`` (an array's shape) fits ``declared`` (a layer's or an Input's, no batch axis):
    the same rank, and the same size on every axis but those declared ``None`` (Keras'
    ``Input((None, 8))``: sequences whose length varies from batch to batch)."""
    return len(actual) == len(declared) and all(
        d is None or int(a) == int(d) for a, d in zip(actual, declared, strict=True))


def seed_generators(layer) -> list:
    """The ``sn.random.SeedGenerator`` s ``layer`` holds as attributes (Keras' layer tracks
    them: ``self.seed_generator = keras.random.SeedGenerator(1337)``), in assignment order."""
    from scratchnet.random import SeedGenerator

    found = {id(value): value for value in vars(layer).values() if isinstance(value, SeedGenerator)}
    return list(found.values())


def sample_dims(shape, what: str, where: str) -> tuple:
    """A sample's shape (no batch axis) as Keras accepts it in ``Input(shape)``,
    ``input_shape=`` and ``build``: positive integers, with ``None`` for an axis whose size
    varies from batch to batch (a sequence's length)."""
    if not isinstance(shape, tuple | list) or not shape or not all(
            d is None or (isinstance(d, numbers.Integral) and not isinstance(d, bool) and d > 0)
            for d in shape):
        raise ValueError(f"{where}: expected {what} to be a non-empty tuple of positive integers "
                         f"or None (one sample, no batch axis), received {shape!r}")
    return tuple(None if d is None else int(d) for d in shape)


def regularizer_config(layer, *args: str) -> dict:
    """The regularizer arguments of ``layer`` as Keras' ``get_config`` writes them: each
    serialized (``regularizers.serialize``), ``None`` when unset."""
    return {arg: None if getattr(layer, arg) is None else regularizers.serialize(getattr(layer, arg))
            for arg in args}


def constraint_config(layer, *args: str) -> dict:
    """The constraint arguments of ``layer`` as Keras' ``get_config`` writes them: each
    serialized (``constraints.serialize``), ``None`` when unset."""
    return {arg: None if getattr(layer, arg) is None else constraints.serialize(getattr(layer, arg))
            for arg in args}


def initializer_config(init) -> dict:
    """An initializer argument (a name, an object or a serialized dict) as Keras' ``get_config``
    writes it: ``serialize_keras_object``'s ``{"module": "keras.initializers", "class_name": ...,
    "config": ..., "registered_name": None}`` (keras/src/saving/serialization_lib.py)."""
    return inits.serialize(inits.get(init))


def quantization_config(layer) -> dict:
    """A quantized layer's config entries, as Keras writes them: its ``dtype`` policy
    (``"int8_from_float32"``, serialized) and its ``quantization_config`` (``None`` when unset,
    as keras/src/layers/core/dense.py ``Dense.get_config`` writes it)."""
    config = {"quantization_config": None}
    if layer.quantization_mode is not None:
        from scratchnet import dtype_policies

        config["dtype"] = dtype_policies.serialize(layer.dtype_policy)
    if getattr(layer, "quantization_config", None) is not None:
        from scratchnet import quantizers

        config["quantization_config"] = quantizers.serialize(layer.quantization_config)
    return config


def weight_args(layer, where: str, **args) -> None:
    """Keras' ``*_initializer``, ``*_regularizer`` and ``*_constraint`` arguments, set on ``layer``
    under their own names: an initializer is checked (an unknown name raises, naming the argument)
    and kept as given, the form its config saves; a regularizer or a constraint is resolved to its
    object."""
    for arg, value in args.items():
        if arg.endswith("_initializer"):
            inits.get(value, where=f"{where}: {arg}")
            setattr(layer, arg, value)
        elif arg.endswith("_regularizer"):
            setattr(layer, arg, regularizers.get(value, f"{where}: {arg}"))
        elif arg.endswith("_constraint"):
            setattr(layer, arg, constraints.get(value, f"{where}: {arg}"))
        else:
            raise TypeError(f"weight_args: {arg} is neither an initializer, a regularizer nor a "
                            "constraint")


def check_trainable(value, what: str) -> bool:
    """A layer's or model's ``trainable``: True or False."""
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{what}: expected trainable to be True or False, received {value!r}")
    return bool(value)


def _input_shape_kwarg(layer: str, kwargs: dict) -> tuple[int, ...] | None:
    """Read Keras' ``input_shape=`` (or ``input_dim=n``, meaning ``(n,)``) from a layer's extra
    keyword arguments; refuse the rest as ``keras.layers.Layer.__init__`` does.

    Like Keras, a layer given an input shape warns that ``Input(shape)`` is the preferred way.
    """
    input_dim = kwargs.pop("input_dim", None)
    input_shape = (input_dim,) if input_dim is not None else kwargs.pop("input_shape", None)
    kwargs.pop("input_shape", None)
    if _is_policy(kwargs.get("dtype")):  # a DTypePolicy, or a mixed policy's name: what it runs in
        from scratchnet import dtype_policies

        kwargs["dtype"] = dtype_policies.check_usable(dtype_policies.get(kwargs["dtype"]), layer)
    for arg, default in _KERAS_DEFAULTS.items():
        if arg in kwargs and (kwargs[arg] == default or (arg == "dtype" and kwargs[arg] == config.dtype())):
            del kwargs[arg]
        elif arg in kwargs:
            raise ValueError(f"{layer}: scratchnet does not implement {arg}={kwargs[arg]!r} "
                             f"(Keras' Layer argument); only {arg}={default!r} is accepted")
    if kwargs:
        raise ValueError(f"Unrecognized keyword arguments passed to {layer}: {kwargs}")
    if input_shape is None:
        return None
    if isinstance(input_shape, int) and not isinstance(input_shape, bool):
        input_shape = (input_shape,)
    input_shape = sample_dims(input_shape, "input_shape", layer)
    warnings.warn("Do not pass an `input_shape`/`input_dim` argument to a layer. When using "
                  "Sequential models, prefer using an `Input(shape)` object as the first layer in "
                  "the model instead.", UserWarning, stacklevel=3)
    return input_shape


def _is_policy(dtype) -> bool:
    from scratchnet import dtype_policies

    return isinstance(dtype, dtype_policies.DTypePolicy) or (
        isinstance(dtype, str) and dtype.startswith("mixed_"))


def _data_dtype(x) -> str | None:
    """The KerasTensor dtype a layer made of layers traces with for data ``x``: ids stay ids."""
    if x.dtype.kind in "iu":
        return "int64" if x.dtype.itemsize == 8 else "int32"
    return "string" if x.dtype.kind in "USO" else None


def _snake_case(class_name: str) -> str:
    """Keras' ``naming.to_snake_case``, which gives a layer its default name: "MaxPooling2D" ->
    "max_pooling2d", "PReLU" -> "p_re_lu", "RMSprop" -> "rm_sprop". An underscore goes before a
    capital that starts a lower-case word (unless first) and between a lower-case letter and a
    capital; non-word characters are dropped."""
    name = re.sub(r"\W+", "", class_name)
    return re.sub(r"(?<=.)(?=[A-Z][a-z])|(?<=[a-z])(?=[A-Z])", "_", name).lower()


def _refuse_symbolic_mask(layer: Layer, x, mask) -> None:
    """``layer(t, mask=m)`` on a KerasTensor: a graph hands each layer the mask its input
    carries (``t._keras_mask``), so ``m`` may only be that one; any other cannot be followed."""
    from scratchnet.layers.masking import same_mask

    if mask is not None and not same_mask(mask, getattr(x, "_keras_mask", None)):
        raise ValueError(f'layer "{layer.name}" ({type(layer).__name__}): a mask= given in a functional '
                         "graph must be the mask its input carries (an Embedding(mask_zero=True) or "
                         "Masking before it); scratchnet graphs pass only those, received "
                         f"mask={mask!r}")
