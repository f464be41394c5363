"""``to_keras`` and ``from_keras``: the same network, the same weights, in the other framework.

Layers, losses and optimizers map through small registries. Each entry pairs a scratchnet class
with a Keras class and two functions that build one from the other's configuration, so a module
that adds a layer (an embedding, a lookup, an addon) registers its own mapping::

    from tfnet.convert import register_layer

    register_layer(
        sn.layers.Embedding, keras.layers.Embedding,
        to_keras=lambda layer, **kw: keras.layers.Embedding(layer.input_dim, layer.output_dim, **kw),
        from_keras=lambda klayer, **kw: sn.layers.Embedding(klayer.input_dim, klayer.output_dim, **kw),
    )

``to_keras(layer, **kw)`` receives ``name`` (and ``dtype`` when the model is not float32) in
``kw`` and should pass them to the Keras constructor; ``from_keras(klayer, **kw)`` receives
``name``. Weights are not the builders' business: both models are built first, then
``set_weights(get_weights())`` copies every array unchanged, since scratchnet keeps Keras'
layouts (Dense kernel ``(in, units)``, Conv2D kernel ``(kh, kw, in, filters)``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
from keras.src.ops import nn as keras_nn_ops

import scratchnet as sn
from scratchnet import activations as sn_activations
from scratchnet import initializers as sn_inits
from scratchnet.layers.base import float_dtype
from scratchnet.layers.reshaping import DepthToSpace, SpaceToDepth
from scratchnet.utils.feature_space import Identity as FeatureSpaceIdentity


@dataclass(frozen=True)
class Mapping:
    """One scratchnet class and its Keras counterpart, with a builder in each direction."""

    scratch_cls: type
    keras_cls: type
    to_keras: Callable
    from_keras: Callable | None


_LAYERS: dict[type, Mapping] = {}  # keyed by the scratchnet class
_KERAS_LAYERS: dict[type, Mapping] = {}  # keyed by the Keras class
_LOSSES: dict[type, Mapping] = {}
_KERAS_LOSSES: dict[type, Mapping] = {}
_OPTIMIZERS: dict[type, Mapping] = {}
_KERAS_OPTIMIZERS: dict[type, Mapping] = {}


def register_layer(scratch_cls: type, keras_cls: type, to_keras: Callable,
                   from_keras: Callable | None = None) -> None:
    """Teach :func:`to_keras` (and, with ``from_keras``, :func:`from_keras`) a layer class.

    ``to_keras(layer, **kw) -> keras.layers.Layer``; ``from_keras(klayer, **kw) -> sn layer``.
    Classes match exactly (a subclass may compute something else, so it needs its own entry).
    Registering a class again replaces its mapping.
    """
    _register(_LAYERS, _KERAS_LAYERS, scratch_cls, keras_cls, to_keras, from_keras)


def register_loss(scratch_cls: type, keras_cls: type, to_keras: Callable,
                  from_keras: Callable | None = None) -> None:
    """Like :func:`register_layer` for a loss: ``to_keras(loss)``, ``from_keras(kloss)``."""
    _register(_LOSSES, _KERAS_LOSSES, scratch_cls, keras_cls, to_keras, from_keras)


def register_optimizer(scratch_cls: type, keras_cls: type, to_keras: Callable,
                       from_keras: Callable | None = None) -> None:
    """Like :func:`register_layer` for an optimizer: ``to_keras(opt)``, ``from_keras(kopt)``."""
    _register(_OPTIMIZERS, _KERAS_OPTIMIZERS, scratch_cls, keras_cls, to_keras, from_keras)


def _register(forward: dict, backward: dict, scratch_cls, keras_cls, to_keras, from_keras):
    if not isinstance(scratch_cls, type) or not isinstance(keras_cls, type):
        raise TypeError(f"register: expected two classes, received {scratch_cls!r} and {keras_cls!r}")
    if not callable(to_keras) or (from_keras is not None and not callable(from_keras)):
        raise TypeError("register: expected to_keras (and from_keras, if given) to be callables")
    mapping = Mapping(scratch_cls, keras_cls, to_keras, from_keras)
    forward[scratch_cls] = mapping
    if from_keras is not None:
        backward[keras_cls] = mapping


# ----------------------------------------------------------------------------- the model
def to_keras(model: sn.Sequential) -> keras.Sequential:
    """The equivalent ``keras.Sequential``: same layers, same weights (copied exactly).

    If ``model`` is compiled, the Keras model is compiled with the equivalent loss, a fresh
    optimizer with the same hyper-parameters, the same metrics and ``jit_compile=False`` (XLA
    would change the float32 rounding). A functional ``sn.Model(inputs, outputs)`` gives a
    ``keras.Model(inputs, outputs)`` of the same graph (:mod:`tfnet.functional`).
    """
    from scratchnet.subclassing import Subclassed

    if isinstance(model, Subclassed):
        raise TypeError(f'to_keras: "{model.name}" is a subclassed model ({type(model).__name__}); '
                        "its Keras twin is the same class written with keras (Keras needs the Python "
                        "class), which no converter can write. Make the Keras model from that code "
                        "and copy the weights: kmodel.set_weights(model.get_weights()), the same "
                        "order as Keras'")
    if isinstance(model, sn.Model) and not isinstance(model, sn.Sequential):
        from tfnet.functional import functional_to_keras

        return functional_to_keras(model)
    if not isinstance(model, sn.Sequential):
        raise TypeError(f"to_keras: expected a scratchnet.Sequential, received {type(model).__name__}")
    if not model.built:
        raise ValueError(f'to_keras: model "{model.name}" is not built yet; start it with '
                         "sn.layers.Input(shape) or call model.build(input_shape) first")
    weights = model.get_weights()
    dtype = float_dtype(model.weights)  # its first float weight's (not a quantized int8 kernel)
    common = {} if dtype == np.float32 else {"dtype": str(dtype)}
    # Lookup and Embedding layers read strings or integer ids, not floats.
    input_dtype = model.layers[0].input_dtype or str(dtype)
    graph = getattr(model, "_graph", None)
    input_name = graph[0].node.layer.name if graph and graph[0].node is not None else None
    klayers = [keras.Input(model.input_shape[1:], dtype=input_dtype, batch_size=model._batch_size(),
                           name=input_name)]  # (the twins' configs name the same Input)
    for entry in model._entries():  # (Keras' model.layers: a functional model held is one entry)
        klayers.append(_nested_to_keras(entry) if isinstance(entry, sn.Model)
                       else layer_to_keras(entry, **common, **_quantized_to_keras(entry)))
    kmodel = keras.Sequential(klayers, name=model.name)
    kmodel.set_weights(weights)
    from tfnet.structured import refresh_statistics

    refresh_statistics(kmodel)  # Keras' Normalization reads set weights only after this
    if model.compiled:
        kmodel.compile(optimizer=optimizer_to_keras(model.optimizer),
                       loss=loss_to_keras(model.loss),
                       metrics=[_metric_to_keras(m) for m in model.metric_names],
                       weighted_metrics=[_metric_to_keras(m) for m in model.weighted_metric_names]
                       or None,
                       jit_compile=False)
    return kmodel


def from_keras(kmodel: keras.Model, seed: int | None = None) -> sn.Sequential:
    """The equivalent ``scratchnet.Sequential`` of a built ``keras.Sequential``, weights copied.

    Raises ``ValueError`` naming the first Keras layer (or loss, optimizer, activation) that has
    no scratchnet equivalent. A compiled Keras model gives a compiled scratchnet model with a
    fresh optimizer. A Keras functional model gives an ``sn.Model(inputs, outputs)``.
    """
    from tfnet.functional import functional_from_keras, is_keras_functional

    if is_keras_functional(kmodel):
        return functional_from_keras(kmodel, seed=seed)
    if not isinstance(kmodel, keras.Sequential):
        if isinstance(kmodel, keras.Model):  # neither Sequential nor functional: subclassed
            raise TypeError(f'from_keras: "{kmodel.name}" is a subclassed Keras model '
                            f"({type(kmodel).__name__}); its scratchnet twin is the same class "
                            "written with scratchnet (subclassed models are Python code). Make it "
                            "from that code, build it, and copy the weights: "
                            "model.set_weights(kmodel.get_weights())")
        raise TypeError("from_keras: expected a keras.Sequential, received "
                        f"{type(kmodel).__name__}")
    if not kmodel.built or not kmodel.inputs:
        raise ValueError(f'from_keras: Keras model "{kmodel.name}" is not built; give it a '
                         "keras.Input(shape) first")
    input_shape = tuple(kmodel.inputs[0].shape[1:])
    input_name = getattr(getattr(kmodel.inputs[0], "_keras_history", None), "operation", None)
    slayers = [sn.layers.Input(input_shape, batch_size=kmodel.inputs[0].shape[0],
                               name=getattr(input_name, "name", None))]
    # (a functional model the Keras model holds, keras.applications' base: a functional twin)
    slayers += [functional_from_keras(klayer) if is_keras_functional(klayer) else layer_from_keras(klayer)
                for klayer in kmodel.layers]
    model = sn.Sequential(slayers, seed=seed, name=kmodel.name)
    model.set_weights(kmodel.get_weights())
    if kmodel.compiled:
        compile_config = kmodel.get_compile_config() or {}
        metrics = compile_config.get("metrics") or []
        weighted = compile_config.get("weighted_metrics") or []
        model.compile(optimizer=optimizer_from_keras(kmodel.optimizer),
                      loss=loss_from_keras(kmodel.loss),
                      metrics=[_metric_from_keras(m) for m in metrics],
                      weighted_metrics=[_metric_from_keras(m) for m in weighted])
    return model


def _nested_to_keras(model) -> keras.Model:
    """The Keras twin of a functional model a Sequential model holds, frozen as it is: the
    model's own flag (a frozen Keras model has no trainable weights of its own), then each
    layer's (a layer thawed after its model was frozen trains in the outer model, in both)."""
    from tfnet.functional import functional_to_keras

    kmodel = functional_to_keras(model)
    kmodel.trainable = model.trainable
    frozen = {layer.name: layer.trainable for layer in model.layers}
    for klayer in kmodel.layers:
        klayer.trainable = frozen.get(klayer.name, klayer.trainable)
    return kmodel


# ----------------------------------------------------------------------------- one object
def layer_to_keras(layer, **kw) -> keras.layers.Layer:
    """The Keras layer equivalent to one scratchnet layer (weights not copied)."""
    mapping = _LAYERS.get(type(layer))
    if mapping is None:
        raise ValueError(
            f'to_keras: layer "{layer.name}" of type {type(layer).__name__} has no Keras mapping; '
            f"known types: {sorted(c.__name__ for c in _LAYERS)}. Add one with "
            "tfnet.convert.register_layer"
        )
    klayer = mapping.to_keras(layer, name=layer.name, **kw)
    klayer.trainable = layer.trainable  # a frozen layer stays frozen
    if getattr(layer, "activity_regularizer", None) is not None:  # any layer may have one in Keras
        klayer.activity_regularizer = regularizer_to_keras(layer.activity_regularizer)
    return klayer


def _quantized_to_keras(layer) -> dict:
    """A quantized layer's Keras arguments: its policy (``"int8_from_float32"``, so the Keras layer
    builds int8 weights; a DTypePolicyMap as a Keras map) and its quantization config; none for a
    float layer."""
    if getattr(layer, "quantization_mode", None) is None:
        return {}
    policy = layer.dtype_policy
    if isinstance(policy, sn.dtype_policies.DTypePolicyMap):
        kw = {"dtype": keras.dtype_policies.DTypePolicyMap(
            policy.default_policy.name, {key: keras.dtype_policies.get(policy[key].name) for key in policy})}
    else:
        kw = {"dtype": policy.name}
    if getattr(layer, "quantization_config", None) is not None:
        kw["quantization_config"] = keras.quantizers.deserialize(
            sn.quantizers.serialize(layer.quantization_config))
    return kw


def _quantized_from_keras(klayer, layer) -> None:
    """Make ``layer`` (not built yet) quantized as ``klayer`` is: its config, then its policy."""
    if getattr(klayer, "quantization_mode", None) is None:
        return
    from keras.src.saving import serialization_lib

    config = serialization_lib.serialize_keras_object(klayer.quantization_config)
    layer.quantization_config = sn.quantizers.deserialize(config)
    policy = klayer.dtype_policy
    if isinstance(policy, keras.dtype_policies.DTypePolicyMap):  # the whole map: read at build
        # (each entry by its config: Keras' map names its policies None once its get_config has run)
        layer.dtype_policy = sn.dtype_policies.DTypePolicyMap(policy.default_policy.name, {
            key: sn.dtype_policies.deserialize(serialization_lib.serialize_keras_object(policy[key]))
            for key in policy})
    else:
        layer.dtype_policy = policy.name


def layer_from_keras(klayer):
    """The scratchnet layer equivalent to one Keras layer (weights not copied)."""
    mapping = _KERAS_LAYERS.get(type(klayer))
    if mapping is None:
        raise ValueError(
            f'from_keras: Keras layer "{klayer.name}" of type {type(klayer).__name__} has no '
            f"scratchnet equivalent; supported Keras layers: "
            f"{sorted(c.__name__ for c in _KERAS_LAYERS)}. Add one with "
            "tfnet.convert.register_layer"
        )
    layer = mapping.from_keras(klayer, name=klayer.name)
    _quantized_from_keras(klayer, layer)
    layer.trainable = bool(klayer.trainable)
    # (MultiHeadAttention keeps its own as _activity_regularizer, for its output projection's call:
    # the same tensor, the same penalty)
    kregularizer = getattr(klayer, "activity_regularizer", None) or \
        getattr(klayer, "_activity_regularizer", None)
    if kregularizer is not None:
        layer.activity_regularizer = regularizer_from_keras(kregularizer, f'layer "{klayer.name}"')
    return layer


def loss_to_keras(loss) -> keras.losses.Loss:
    mapping = _LOSSES.get(type(loss))
    if mapping is None:
        raise ValueError(f"to_keras: loss {type(loss).__name__} has no Keras mapping; known: "
                         f"{sorted(c.__name__ for c in _LOSSES)}")
    return mapping.to_keras(loss)


def loss_from_keras(kloss):
    """A Keras loss object, name (``"mse"``) or loss function, as a scratchnet loss."""
    if isinstance(kloss, str) or (callable(kloss) and not isinstance(kloss, keras.losses.Loss)):
        name = kloss if isinstance(kloss, str) else getattr(kloss, "__name__", repr(kloss))
        try:
            return sn.losses.get(name)
        except ValueError:
            raise ValueError(f"from_keras: loss {name!r} has no scratchnet equivalent") from None
    mapping = _KERAS_LOSSES.get(type(kloss))
    if mapping is None:
        raise ValueError(f"from_keras: Keras loss {type(kloss).__name__} has no scratchnet "
                         f"equivalent; supported: {sorted(c.__name__ for c in _KERAS_LOSSES)}")
    config = kloss.get_config()
    if config.get("reduction") != "sum_over_batch_size":
        raise ValueError(f"from_keras: Keras loss {type(kloss).__name__} uses reduction="
                         f"{config.get('reduction')!r}; scratchnet supports 'sum_over_batch_size'")
    return mapping.from_keras(kloss)


def optimizer_to_keras(opt) -> keras.optimizers.Optimizer:
    mapping = _OPTIMIZERS.get(type(opt))
    if mapping is None:
        raise ValueError(f"to_keras: optimizer {type(opt).__name__} has no Keras mapping; known: "
                         f"{sorted(c.__name__ for c in _OPTIMIZERS)}")
    lr = opt.learning_rate_schedule
    if lr is not None and not isinstance(lr, sn.optimizers.schedules.LearningRateSchedule):
        raise ValueError(f"to_keras: optimizer {type(opt).__name__} has a callable learning_rate, "
                         "which cannot be converted; use a float or a "
                         "scratchnet.optimizers.schedules schedule")
    return mapping.to_keras(opt)


def optimizer_from_keras(kopt):
    mapping = _KERAS_OPTIMIZERS.get(type(kopt))
    if mapping is None:
        raise ValueError(f"from_keras: Keras optimizer {type(kopt).__name__} has no scratchnet "
                         f"equivalent; supported: {sorted(c.__name__ for c in _KERAS_OPTIMIZERS)}")
    config = kopt.get_config()
    unsupported = {}
    lr = config.get("learning_rate")
    # (a dict: a schedule, which sn.optimizers.deserialize checks; wrappers have no rate)
    if "learning_rate" in config and not isinstance(lr, float | dict):
        unsupported["learning_rate"] = lr
    if unsupported:
        raise ValueError(f"from_keras: Keras optimizer {type(kopt).__name__} uses settings "
                         f"scratchnet does not have: {unsupported}")
    return mapping.from_keras(kopt)


# ----------------------------------------------------------------------------- pieces
def _activation_to_keras(layer) -> str:
    return layer.activation.name  # scratchnet's activation names are Keras' names


def _activation_from_keras(klayer) -> str:
    name = keras.activations.serialize(klayer.activation)
    name = name if isinstance(name, str) else str(name.get("config", name))
    try:
        return sn_activations.get(name).name
    except ValueError:
        raise ValueError(f'from_keras: Keras layer "{klayer.name}" uses activation {name!r}, '
                         "which scratchnet does not have") from None


def _init_to_keras(init) -> keras.initializers.Initializer:
    """Keras' twin of a scratchnet initializer, through the serialized form both write."""
    return keras.initializers.deserialize(sn_inits.serialize(sn_inits.get(init)))


def _init_from_keras(kinit, where: str):
    """A Keras initializer as a scratchnet layer keeps it: its name when its config is the
    default one, else its serialized form (what ``load_model`` makes of a ``.keras`` file's)."""
    from scratchnet.saving_keras import _initializer_from_keras

    return _initializer_from_keras(keras.initializers.serialize(kinit), f"from_keras: {where}")


def _require(klayer, **expected) -> None:
    """Refuse Keras options scratchnet cannot represent (regularizers, channels_first, ...)."""
    config = klayer.get_config()
    for key, value in expected.items():
        if key in config and config[key] != value:
            raise ValueError(f'from_keras: Keras layer "{klayer.name}" sets {key}={config[key]!r}; '
                             f"scratchnet supports only {key}={value!r}")


def constraints_to_keras(layer, *args: str) -> dict:
    """The constraint arguments ``args`` of a scratchnet layer as Keras' (MaxNorm, MinMaxNorm,
    NonNeg, UnitNorm share their names and configs); a constraint of one's own raises."""
    out = {}
    for arg in args:
        constraint = getattr(layer, arg)
        if constraint is not None and type(constraint) not in (
                sn.constraints.MaxNorm, sn.constraints.MinMaxNorm, sn.constraints.NonNeg,
                sn.constraints.UnitNorm):
            raise ValueError(f'to_keras: layer "{layer.name}" has {arg}={constraint!r}, which has no '
                             "Keras equivalent; supported: MaxNorm, MinMaxNorm, NonNeg, UnitNorm")
        out[arg] = None if constraint is None else keras.constraints.deserialize(
            sn.constraints.serialize(constraint))
    return out


def constraints_from_keras(klayer, *args: str) -> dict:
    """The constraint arguments ``args`` of a Keras layer (read from its config) as scratchnet's;
    one scratchnet does not have raises, naming the layer and the argument."""
    config = klayer.get_config()
    out = {}
    for arg in args:
        spec = config.get(arg)
        if spec is not None and spec.get("class_name") not in ("MaxNorm", "MinMaxNorm", "NonNeg",
                                                                "UnitNorm"):
            raise ValueError(f'from_keras: layer "{klayer.name}" uses {arg} '
                             f"{spec.get('class_name')!r}, which scratchnet does not have; "
                             "supported: MaxNorm, MinMaxNorm, NonNeg, UnitNorm")
        out[arg] = sn.constraints.get(spec, f'layer "{klayer.name}": {arg}')
    return out


def regularizer_to_keras(regularizer) -> keras.regularizers.Regularizer | None:
    """A scratchnet regularizer as Keras' (L1, L2, L1L2 share their names and configs)."""
    if regularizer is None:
        return None
    spec = sn.regularizers.serialize(regularizer)
    if not hasattr(keras.regularizers, spec["class_name"]):
        raise ValueError(f"to_keras: regularizer {spec['class_name']} has no Keras equivalent; "
                         "supported: L1, L2, L1L2, OrthogonalRegularizer")
    return keras.regularizers.deserialize(spec)


def regularizer_from_keras(kregularizer, where: str):
    """A Keras regularizer as scratchnet's; one scratchnet does not have raises, naming it."""
    if kregularizer is None:
        return None
    name = type(kregularizer).__name__
    if type(kregularizer) not in (keras.regularizers.L1, keras.regularizers.L2, keras.regularizers.L1L2,
                                  keras.regularizers.OrthogonalRegularizer):
        raise ValueError(f"from_keras: {where} uses regularizer {name}, which scratchnet does not "
                         "have; supported: L1, L2, L1L2, OrthogonalRegularizer")
    return sn.regularizers.get({"class_name": name, "config": kregularizer.get_config()}, where)


def _kernel_and_bias_regularizers_to_keras(layer) -> dict:
    """The regularizers and constraints of a layer's kernel and bias, as Keras'."""
    return {"kernel_regularizer": regularizer_to_keras(layer.kernel_regularizer),
            "bias_regularizer": regularizer_to_keras(layer.bias_regularizer),
            **constraints_to_keras(layer, "kernel_constraint", "bias_constraint")}


def _kernel_and_bias_regularizers_from_keras(klayer) -> dict:
    """The regularizers and constraints of a Keras layer's kernel and bias, as scratchnet's."""
    where = f'layer "{klayer.name}"'
    return {"kernel_regularizer": regularizer_from_keras(klayer.kernel_regularizer, where),
            "bias_regularizer": regularizer_from_keras(klayer.bias_regularizer, where),
            **constraints_from_keras(klayer, "kernel_constraint", "bias_constraint")}


def _dense_to_keras(layer, **kw):
    return keras.layers.Dense(
        layer.units, activation=_activation_to_keras(layer), use_bias=layer.use_bias,
        kernel_initializer=_init_to_keras(layer.kernel_initializer),
        bias_initializer=_init_to_keras(layer.bias_initializer),
        **_kernel_and_bias_regularizers_to_keras(layer), **kw)


def _dense_from_keras(klayer, **kw):
    _require(klayer, lora_rank=None)  # (a quantized layer: layer_from_keras)
    return sn.layers.Dense(
        klayer.units, activation=_activation_from_keras(klayer), use_bias=klayer.use_bias,
        kernel_initializer=_init_from_keras(klayer.kernel_initializer, f'layer "{klayer.name}"'),
        bias_initializer=_init_from_keras(klayer.bias_initializer, f'layer "{klayer.name}"'),
        **_kernel_and_bias_regularizers_from_keras(klayer), **kw)


def _conv2d_to_keras(layer, **kw):
    return keras.layers.Conv2D(
        layer.filters, layer.kernel_size, strides=layer.strides, padding=layer.padding,
        dilation_rate=layer.dilation_rate, groups=layer.groups, activation=_activation_to_keras(layer),
        use_bias=layer.use_bias, kernel_initializer=_init_to_keras(layer.kernel_initializer),
        bias_initializer=_init_to_keras(layer.bias_initializer),
        **_kernel_and_bias_regularizers_to_keras(layer), **kw)


def _conv2d_from_keras(klayer, **kw):
    _require(klayer, data_format="channels_last", lora_rank=None)
    return sn.layers.Conv2D(
        klayer.filters, tuple(klayer.kernel_size), strides=tuple(klayer.strides),
        padding=klayer.padding, dilation_rate=tuple(klayer.dilation_rate), groups=klayer.groups,
        activation=_activation_from_keras(klayer), use_bias=klayer.use_bias,
        kernel_initializer=_init_from_keras(klayer.kernel_initializer, f'layer "{klayer.name}"'),
        bias_initializer=_init_from_keras(klayer.bias_initializer, f'layer "{klayer.name}"'),
        **_kernel_and_bias_regularizers_from_keras(klayer), **kw)


def _maxpool_to_keras(layer, **kw):
    return keras.layers.MaxPooling2D(layer.pool_size, strides=layer.strides,
                                     padding=layer.padding, **kw)


def _maxpool_from_keras(klayer, **kw):
    _require(klayer, data_format="channels_last")
    return sn.layers.MaxPooling2D(tuple(klayer.pool_size), strides=tuple(klayer.strides),
                                  padding=klayer.padding, **kw)


def _flatten_from_keras(klayer, **kw):
    _require(klayer, data_format="channels_last")
    return sn.layers.Flatten(**kw)


def _softmax_from_keras(klayer, **kw):
    axis = klayer.axis if isinstance(klayer.axis, int) else tuple(klayer.axis)
    if axis not in (-1, (-1,)):
        raise ValueError(f'from_keras: Keras layer "{klayer.name}" takes softmax over axis={axis}; '
                         "scratchnet supports only the last axis (-1)")
    return sn.layers.Softmax(**kw)


def _dropout_from_keras(klayer, **kw):
    return sn.layers.Dropout(klayer.rate, noise_shape=klayer.noise_shape, seed=klayer.seed, **kw)


def _input_to_keras(layer, **kw):
    return keras.layers.InputLayer(shape=layer.shape, dtype=layer.dtype or kw.get("dtype"),
                                   batch_size=getattr(layer, "batch_size", None), name=kw["name"])


def _input_from_keras(klayer, **kw):
    return sn.layers.InputLayer(tuple(klayer.batch_shape[1:]), dtype=klayer.dtype,
                                batch_size=klayer.batch_shape[0], **kw)


register_layer(sn.layers.Dense, keras.layers.Dense, _dense_to_keras, _dense_from_keras)
register_layer(sn.layers.Conv2D, keras.layers.Conv2D, _conv2d_to_keras, _conv2d_from_keras)
register_layer(sn.layers.MaxPooling2D, keras.layers.MaxPooling2D, _maxpool_to_keras,
               _maxpool_from_keras)
register_layer(sn.layers.Flatten, keras.layers.Flatten,
               lambda layer, **kw: keras.layers.Flatten(**kw), _flatten_from_keras)
register_layer(sn.layers.Activation, keras.layers.Activation,
               lambda layer, **kw: keras.layers.Activation(_activation_to_keras(layer), **kw),
               lambda klayer, **kw: sn.layers.Activation(_activation_from_keras(klayer), **kw))
register_layer(sn.layers.Softmax, keras.layers.Softmax,
               lambda layer, **kw: keras.layers.Softmax(axis=-1, **kw), _softmax_from_keras)
register_layer(sn.layers.Dropout, keras.layers.Dropout,
               lambda layer, **kw: keras.layers.Dropout(layer.rate, noise_shape=layer.get_config().get(
                   "noise_shape"), seed=layer.seed, **kw),
               _dropout_from_keras)
register_layer(sn.layers.InputLayer, keras.layers.InputLayer, _input_to_keras, _input_from_keras)
register_layer(sn.layers.LeakyReLU, keras.layers.LeakyReLU,
               lambda layer, **kw: keras.layers.LeakyReLU(negative_slope=layer.negative_slope, **kw),
               lambda klayer, **kw: sn.layers.LeakyReLU(negative_slope=klayer.negative_slope, **kw))
register_layer(sn.layers.ReLU, keras.layers.ReLU,
               lambda layer, **kw: keras.layers.ReLU(max_value=layer.max_value,
                                                     negative_slope=layer.negative_slope,
                                                     threshold=layer.threshold, **kw),
               lambda klayer, **kw: sn.layers.ReLU(max_value=klayer.max_value,
                                                   negative_slope=klayer.negative_slope,
                                                   threshold=klayer.threshold, **kw))
register_layer(sn.layers.Reshape, keras.layers.Reshape,
               lambda layer, **kw: keras.layers.Reshape(layer.target_shape, **kw),
               lambda klayer, **kw: sn.layers.Reshape(tuple(klayer.target_shape), **kw))


# Lambda: the same Python function on both sides. It then has to work on both kinds of input:
# operators (x * 100.0, x ** 2, x[:, 0]) do; a NumPy function (np.tanh) does not run on Keras'
# graph tensors, and a keras.ops one does not run on scratchnet's arrays.
def _lambda_to_keras(layer, **kw):
    # A NumPy function (np.tanh, sn.ops.sigmoid) on an eager TensorFlow tensor turns it into an
    # array: the values come out right and TensorFlow's gradient through them is silently 0. Run
    # the function once on a symbolic KerasTensor, which refuses to become an array, to find out.
    probe = keras.KerasTensor((None, *layer.input_shape), dtype=sn.config.floatx())
    try:
        traced = layer.function(probe, **layer.arguments)
    except (ValueError, TypeError) as err:
        traced = err
    if not isinstance(traced, keras.KerasTensor):
        raise ValueError(f'to_keras: Lambda "{layer.name}" computes with NumPy functions (np.tanh, '
                         "sn.ops, ...), which Keras can neither run in its graph nor differentiate; "
                         "only a function written with operators (x * 100.0, x[:, 0], x ** 2) converts. "
                         f"({type(traced).__name__}: {str(traced)[:120]})")
    given = layer._output_shape_arg
    return keras.layers.Lambda(layer.function, output_shape=given if callable(given) else layer.output_shape,
                               mask=layer.mask, arguments=dict(layer.arguments), **kw)


def _lambda_from_keras(klayer, **kw):
    return sn.layers.Lambda(klayer.function, output_shape=klayer._output_shape, mask=klayer.mask,
                            arguments=dict(klayer.arguments), **kw)


register_layer(sn.layers.Lambda, keras.layers.Lambda, _lambda_to_keras, _lambda_from_keras)


# Recurrent layers and cells: the same arguments by the same names; the weights (kernel,
# recurrent_kernel, bias; Bidirectional: the forward layer's, then the backward one's; a stack of
# cells: each cell's) in the same order and shapes. A layer and its cell share the cell's arguments.
def _cell_args_to_keras(layer) -> dict:
    """The cell arguments of a scratchnet recurrent layer or cell, as Keras' keywords."""
    args = dict(units=layer.units, activation=layer.activation.name, use_bias=layer.use_bias,
                kernel_initializer=_init_to_keras(layer.kernel_initializer),
                recurrent_initializer=_init_to_keras(layer.recurrent_initializer),
                bias_initializer=_init_to_keras(layer.bias_initializer),
                kernel_regularizer=regularizer_to_keras(layer.kernel_regularizer),
                recurrent_regularizer=regularizer_to_keras(layer.recurrent_regularizer),
                bias_regularizer=regularizer_to_keras(layer.bias_regularizer),
                **constraints_to_keras(layer, "kernel_constraint", "recurrent_constraint",
                                       "bias_constraint"),
                dropout=layer.dropout, recurrent_dropout=layer.recurrent_dropout, seed=layer.seed)
    if layer.GATES > 1:
        args["recurrent_activation"] = layer.recurrent_activation.name
    if isinstance(layer, sn.layers.LSTM | sn.layers.LSTMCell):
        args["unit_forget_bias"] = layer.unit_forget_bias
    if isinstance(layer, sn.layers.GRU | sn.layers.GRUCell):
        args["reset_after"] = layer.reset_after
    return args


def _sequence_args(layer) -> dict:
    """What a recurrent layer (or RNN) adds to its cell: how it runs over the sequence."""
    return dict(return_sequences=layer.return_sequences, return_state=layer.return_state,
                go_backwards=layer.go_backwards, stateful=layer.stateful, unroll=layer.unroll,
                zero_output_for_mask=layer.zero_output_for_mask)


def _rnn_to_keras(layer, **kw):
    return getattr(keras.layers, type(layer).__name__)(**_cell_args_to_keras(layer), **_sequence_args(layer),
                                                       **kw)


def _cell_args_from_keras(kcell, where: str) -> dict:
    """The arguments of a Keras cell (a recurrent layer's ``.cell``) as scratchnet's keywords."""
    args = dict(activation=_activation_from_keras(kcell), use_bias=kcell.use_bias,
                kernel_initializer=_init_from_keras(kcell.kernel_initializer, where),
                recurrent_initializer=_init_from_keras(kcell.recurrent_initializer, where),
                bias_initializer=_init_from_keras(kcell.bias_initializer, where),
                kernel_regularizer=regularizer_from_keras(kcell.kernel_regularizer, where),
                recurrent_regularizer=regularizer_from_keras(kcell.recurrent_regularizer, where),
                bias_regularizer=regularizer_from_keras(kcell.bias_regularizer, where),
                **constraints_from_keras(kcell, "kernel_constraint", "recurrent_constraint",
                                         "bias_constraint"),
                dropout=kcell.dropout, recurrent_dropout=kcell.recurrent_dropout, seed=kcell.seed)
    if not isinstance(kcell, keras.layers.SimpleRNNCell):
        args["recurrent_activation"] = sn_activations.get(
            keras.activations.serialize(kcell.recurrent_activation)).name
    if isinstance(kcell, keras.layers.LSTMCell):
        args["unit_forget_bias"] = kcell.unit_forget_bias
    if isinstance(kcell, keras.layers.GRUCell):
        args["reset_after"] = kcell.reset_after
    return args


def _rnn_from_keras(klayer, **kw):
    args = _cell_args_from_keras(klayer.cell, f'layer "{klayer.name}"')
    return getattr(sn.layers, type(klayer).__name__)(
        klayer.units, **args, return_sequences=klayer.return_sequences, return_state=klayer.return_state,
        go_backwards=klayer.go_backwards, stateful=klayer.stateful, unroll=klayer.unroll,
        zero_output_for_mask=klayer.zero_output_for_mask, **kw)


for _name in ("SimpleRNN", "LSTM", "GRU"):
    register_layer(getattr(sn.layers, _name), getattr(keras.layers, _name), _rnn_to_keras, _rnn_from_keras)


def _cell_to_keras(cell, **kw):
    """A scratchnet cell (SimpleRNNCell, LSTMCell, GRUCell, StackedRNNCells) as Keras'; a cell of
    one's own has no automatic twin (its Keras class is another class)."""
    if isinstance(cell, sn.layers.StackedRNNCells):
        return keras.layers.StackedRNNCells([_cell_to_keras(c, name=c.name) for c in cell.cells], **kw)
    if type(cell).__name__ not in sn.layers.rnn_cells.BUILTIN_CELLS:
        raise ValueError(f'to_keras: the cell "{cell.name}" ({type(cell).__name__}) is a cell of your '
                         "own; write its Keras twin and build the Keras RNN with it")
    return getattr(keras.layers, type(cell).__name__)(**_cell_args_to_keras(cell), **kw)


def _cell_from_keras(kcell, **kw):
    if isinstance(kcell, keras.layers.StackedRNNCells):
        return sn.layers.StackedRNNCells([_cell_from_keras(c, name=c.name) for c in kcell.cells], **kw)
    if type(kcell).__name__ not in sn.layers.rnn_cells.BUILTIN_CELLS:
        raise ValueError(f'from_keras: the cell "{kcell.name}" ({type(kcell).__name__}) is a cell of '
                         "its own; write its scratchnet twin and build the RNN with it")
    return getattr(sn.layers, type(kcell).__name__)(
        kcell.units, **_cell_args_from_keras(kcell, f'cell "{kcell.name}"'), **kw)


def _cell_rnn_to_keras(layer, **kw):
    return keras.layers.RNN(_cell_to_keras(layer.cell, name=layer.cell.name), **_sequence_args(layer), **kw)


def _cell_rnn_from_keras(klayer, **kw):
    return sn.layers.RNN(_cell_from_keras(klayer.cell, name=klayer.cell.name),
                         **{k: getattr(klayer, k) for k in ("return_sequences", "return_state",
                                                            "go_backwards", "stateful", "unroll",
                                                            "zero_output_for_mask")}, **kw)


register_layer(sn.layers.RNN, keras.layers.RNN, _cell_rnn_to_keras, _cell_rnn_from_keras)


# ConvLSTM1D/2D/3D: an LSTM cell's arguments and the convolution's window, the weights (kernel
# (KH, KW, C, 4F), recurrent_kernel (KH, KW, F, 4F), bias (4F,)) in the same order and layouts.
def _conv_lstm_to_keras(layer, **kw):
    cell = layer.cell
    args = _cell_args_to_keras(cell)
    args["filters"] = args.pop("units")
    return getattr(keras.layers, type(layer).__name__)(
        **args, kernel_size=cell.kernel_size, strides=cell.strides, padding=cell.padding,
        dilation_rate=cell.dilation_rate, return_sequences=layer.return_sequences,
        return_state=layer.return_state, go_backwards=layer.go_backwards, stateful=layer.stateful, **kw)


def _conv_lstm_from_keras(klayer, **kw):
    _require(klayer, data_format="channels_last")
    kcell = klayer.cell
    return getattr(sn.layers, type(klayer).__name__)(
        kcell.filters, kcell.kernel_size, strides=kcell.strides, padding=kcell.padding,
        dilation_rate=kcell.dilation_rate, **_cell_args_from_keras(kcell, f'layer "{klayer.name}"'),
        return_sequences=klayer.return_sequences, return_state=klayer.return_state,
        go_backwards=klayer.go_backwards, stateful=klayer.stateful, **kw)


for _name in ("ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"):
    register_layer(getattr(sn.layers, _name), getattr(keras.layers, _name), _conv_lstm_to_keras,
                   _conv_lstm_from_keras)


def _bidirectional_to_keras(layer, **kw):
    forward, backward = layer.forward_layer, layer.backward_layer
    return keras.layers.Bidirectional(_rnn_to_keras(forward, name=forward.name),
                                      merge_mode=layer.merge_mode,
                                      backward_layer=_rnn_to_keras(backward, name=backward.name), **kw)


def _bidirectional_from_keras(klayer, **kw):
    forward, backward = klayer.forward_layer, klayer.backward_layer
    return sn.layers.Bidirectional(_rnn_from_keras(forward, name=forward.name), merge_mode=klayer.merge_mode,
                                   backward_layer=_rnn_from_keras(backward, name=backward.name), **kw)


register_layer(sn.layers.Bidirectional, keras.layers.Bidirectional, _bidirectional_to_keras,
               _bidirectional_from_keras)


# Issue 13's pooling, Conv1D and image-preprocessing layers (same arguments on both sides).
def _conv1d_to_keras(layer, **kw):
    return keras.layers.Conv1D(
        layer.filters, layer.kernel_size, strides=layer.strides, padding=layer.padding,
        dilation_rate=layer.dilation_rate, activation=_activation_to_keras(layer),
        use_bias=layer.use_bias, kernel_initializer=_init_to_keras(layer.kernel_initializer),
        bias_initializer=_init_to_keras(layer.bias_initializer),
        **_kernel_and_bias_regularizers_to_keras(layer), **kw)


def _conv1d_from_keras(klayer, **kw):
    _require(klayer, data_format="channels_last", groups=1, lora_rank=None)
    return sn.layers.Conv1D(
        klayer.filters, tuple(klayer.kernel_size), strides=tuple(klayer.strides),
        padding=klayer.padding, dilation_rate=tuple(klayer.dilation_rate),
        activation=_activation_from_keras(klayer), use_bias=klayer.use_bias,
        kernel_initializer=_init_from_keras(klayer.kernel_initializer, f'layer "{klayer.name}"'),
        bias_initializer=_init_from_keras(klayer.bias_initializer, f'layer "{klayer.name}"'),
        **_kernel_and_bias_regularizers_from_keras(klayer), **kw)


def _register_pooling(scratch_cls, keras_cls) -> None:
    def to_keras(layer, **kw):
        return keras_cls(layer.pool_size, strides=layer.strides, padding=layer.padding, **kw)

    def from_keras(klayer, **kw):
        _require(klayer, data_format="channels_last")
        return scratch_cls(tuple(klayer.pool_size), strides=tuple(klayer.strides),
                           padding=klayer.padding, **kw)

    register_layer(scratch_cls, keras_cls, to_keras, from_keras)


def _register_global_pooling(scratch_cls, keras_cls) -> None:
    def from_keras(klayer, **kw):
        if scratch_cls.rank >= 2:
            _require(klayer, data_format="channels_last")
        return scratch_cls(data_format=klayer.data_format, keepdims=klayer.keepdims, **kw)

    register_layer(scratch_cls, keras_cls,
                   lambda layer, **kw: keras_cls(data_format=layer.data_format,
                                                 keepdims=layer.keepdims, **kw), from_keras)


def _resizing_to_keras(layer, **kw):
    return keras.layers.Resizing(
        layer.height, layer.width, interpolation=layer.interpolation,
        crop_to_aspect_ratio=layer.crop_to_aspect_ratio,
        pad_to_aspect_ratio=layer.pad_to_aspect_ratio, fill_value=layer.fill_value, **kw)


def _resizing_from_keras(klayer, **kw):
    _require(klayer, data_format="channels_last", antialias=False, fill_mode="constant")
    return sn.layers.Resizing(
        klayer.height, klayer.width, interpolation=klayer.interpolation,
        crop_to_aspect_ratio=klayer.crop_to_aspect_ratio,
        pad_to_aspect_ratio=klayer.pad_to_aspect_ratio, fill_value=klayer.fill_value, **kw)


register_layer(sn.layers.Conv1D, keras.layers.Conv1D, _conv1d_to_keras, _conv1d_from_keras)
_register_pooling(sn.layers.MaxPooling1D, keras.layers.MaxPooling1D)
_register_pooling(sn.layers.AveragePooling1D, keras.layers.AveragePooling1D)
_register_pooling(sn.layers.AveragePooling2D, keras.layers.AveragePooling2D)
_register_global_pooling(sn.layers.GlobalAveragePooling1D, keras.layers.GlobalAveragePooling1D)
_register_global_pooling(sn.layers.GlobalAveragePooling2D, keras.layers.GlobalAveragePooling2D)
_register_global_pooling(sn.layers.GlobalMaxPooling1D, keras.layers.GlobalMaxPooling1D)
_register_global_pooling(sn.layers.GlobalMaxPooling2D, keras.layers.GlobalMaxPooling2D)
# scale and offset travel as they are: a Python float (or list) and a NumPy value round
# differently on their way to float64 (image_preprocessing.keras_constant), in both libraries
register_layer(sn.layers.Rescaling, keras.layers.Rescaling,
               lambda layer, **kw: keras.layers.Rescaling(layer.scale, offset=layer.offset, **kw),
               lambda klayer, **kw: sn.layers.Rescaling(klayer.scale, offset=klayer.offset, **kw))
register_layer(sn.layers.Resizing, keras.layers.Resizing, _resizing_to_keras, _resizing_from_keras)


# BatchNormalization: the moving statistics travel with get_weights()/set_weights() (Keras' order
# gamma, beta, moving_mean, moving_variance), like any other weight.
_BN_INITS = ("beta_initializer", "gamma_initializer", "moving_mean_initializer",
             "moving_variance_initializer")


def _batchnorm_to_keras(layer, **kw):
    inits = {arg: _init_to_keras(getattr(layer, arg)) for arg in _BN_INITS}
    return keras.layers.BatchNormalization(
        axis=layer.axis, momentum=layer.momentum, epsilon=layer.epsilon, center=layer.center,
        scale=layer.scale, **inits, **constraints_to_keras(layer, "beta_constraint", "gamma_constraint"),
        **kw)


def _batchnorm_from_keras(klayer, **kw):
    _require(klayer, beta_regularizer=None, gamma_regularizer=None, renorm=False, synchronized=False)
    inits = {arg: _init_from_keras(getattr(klayer, arg), f'layer "{klayer.name}"')
             for arg in _BN_INITS}
    return sn.layers.BatchNormalization(
        axis=klayer.axis, momentum=klayer.momentum, epsilon=klayer.epsilon, center=klayer.center,
        scale=klayer.scale, **inits, **constraints_from_keras(klayer, "beta_constraint", "gamma_constraint"),
        **kw)


register_layer(sn.layers.BatchNormalization, keras.layers.BatchNormalization, _batchnorm_to_keras,
               _batchnorm_from_keras)


# Issue 13's augmentation layers: their get_config() holds Keras' own argument names and values.
def _register_augmentation(scratch_cls, keras_cls) -> None:
    def to_keras(layer, **kw):
        config = {k: v for k, v in layer.get_config().items() if k != "name"}
        return keras_cls(**config, **kw)

    def from_keras(klayer, **kw):
        _require(klayer, data_format="channels_last")
        config = {k: v for k, v in klayer.get_config().items()
                  if k not in ("name", "trainable", "dtype")}
        return scratch_cls(**config, **kw)

    register_layer(scratch_cls, keras_cls, to_keras, from_keras)


for _name in ("RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast",
              "RandomBrightness", "RandomCrop",
              # the colour, mixing and warping layers (scratchnet/layers/augmentation_*.py)
              "RandomGrayscale", "RandomHue", "RandomSaturation", "RandomColorDegeneration",
              "RandomColorJitter", "RandomInvert", "Solarization", "AutoContrast",
              "RandomPosterization", "RandomSharpness", "RandomShear", "RandomErasing",
              "RandomGaussianBlur", "MixUp", "CutMix", "Equalization", "RandomPerspective",
              "RandAugment", "AugMix", "ContrastLimitedAdaptiveHistogramEqualization",
              "RandomElasticTransform"):
    _register_augmentation(getattr(sn.layers, _name), getattr(keras.layers, _name))


def _max_num_boxes_from_keras(klayer, **kw):
    """Keras' get_config leaves fill_value out: it is read from the layer."""
    _require(klayer, data_format="channels_last")
    config = {k: v for k, v in klayer.get_config().items() if k not in ("name", "trainable", "dtype")}
    return sn.layers.MaxNumBoundingBoxes(**config, fill_value=klayer.fill_value, **kw)


# the boxes of an object-detection dict, cut or padded (images pass unchanged)
register_layer(sn.layers.MaxNumBoundingBoxes, keras.layers.MaxNumBoundingBoxes,
               lambda layer, **kw: keras.layers.MaxNumBoundingBoxes(
                   **{k: v for k, v in layer.get_config().items() if k != "name"}, **kw),
               _max_num_boxes_from_keras)



# Layers whose get_config() holds Keras' own argument names and values, and no weights or
# initializers: the config goes across as it is.
def _register_by_config(scratch_cls, keras_cls) -> None:
    def to_keras(layer, **kw):
        config = {k: v for k, v in layer.get_config().items() if k not in ("name", "trainable")}
        return keras_cls(**config, **kw)

    def from_keras(klayer, **kw):
        config = {k: v for k, v in klayer.get_config().items()
                  if k not in ("name", "trainable", "dtype")}
        return scratch_cls(**config, **kw)

    register_layer(scratch_cls, keras_cls, to_keras, from_keras)


for _name in ("ELU", "Identity", "Masking", "Maximum", "Minimum", "SpatialDropout1D",
              "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "UpSampling1D", "UpSampling2D",
              "ZeroPadding1D", "ZeroPadding2D", "Cropping1D", "Cropping2D", "RepeatVector", "Permute",
              "UnitNormalization", "AlphaDropout", "CenterCrop", "ActivityRegularization",
              "RMSNormalization", "AdaptiveAveragePooling1D", "AdaptiveAveragePooling2D",
              "AdaptiveAveragePooling3D", "AdaptiveMaxPooling1D", "AdaptiveMaxPooling2D",
              "AdaptiveMaxPooling3D", "MelSpectrogram", "STFTSpectrogram"):
    _register_by_config(getattr(sn.layers, _name), getattr(keras.layers, _name))


# ops.depth_to_space / space_to_depth in a functional graph: Keras records the op (an Operation)
for _scratch_op, _keras_op in ((DepthToSpace, keras_nn_ops.DepthToSpace),
                               (SpaceToDepth, keras_nn_ops.SpaceToDepth)):
    register_layer(_scratch_op, _keras_op,
                   lambda layer, _op=_keras_op, **kw: _op(layer.block_size, name=layer.name),
                   lambda kop, _op=_scratch_op, **kw: _op(kop.block_size, name=kop.name))


def _prelu_to_keras(layer, **kw):
    return keras.layers.PReLU(alpha_initializer=_init_to_keras(layer.alpha_initializer),
                              alpha_regularizer=regularizer_to_keras(layer.alpha_regularizer),
                              **constraints_to_keras(layer, "alpha_constraint"),
                              shared_axes=layer.shared_axes, **kw)


def _prelu_from_keras(klayer, **kw):
    where = f'layer "{klayer.name}"'
    return sn.layers.PReLU(alpha_initializer=_init_from_keras(klayer.alpha_initializer, where),
                           alpha_regularizer=regularizer_from_keras(klayer.alpha_regularizer, where),
                           **constraints_from_keras(klayer, "alpha_constraint"),
                           shared_axes=klayer.shared_axes, **kw)


def _layernorm_to_keras(layer, **kw):
    return keras.layers.LayerNormalization(
        axis=layer.axis, epsilon=layer.epsilon, center=layer.center, scale=layer.scale,
        beta_initializer=_init_to_keras(layer.beta_initializer),
        gamma_initializer=_init_to_keras(layer.gamma_initializer),
        beta_regularizer=regularizer_to_keras(layer.beta_regularizer),
        gamma_regularizer=regularizer_to_keras(layer.gamma_regularizer),
        **constraints_to_keras(layer, "beta_constraint", "gamma_constraint"), **kw)


def _layernorm_from_keras(klayer, **kw):
    _require(klayer, rms_scaling=False)
    where = f'layer "{klayer.name}"'
    return sn.layers.LayerNormalization(
        axis=klayer.axis, epsilon=klayer.epsilon, center=klayer.center, scale=klayer.scale,
        beta_initializer=_init_from_keras(klayer.beta_initializer, where),
        gamma_initializer=_init_from_keras(klayer.gamma_initializer, where),
        beta_regularizer=regularizer_from_keras(klayer.beta_regularizer, where),
        gamma_regularizer=regularizer_from_keras(klayer.gamma_regularizer, where),
        **constraints_from_keras(klayer, "beta_constraint", "gamma_constraint"), **kw)


def _conv_transpose_to_keras(layer, **kw):
    """Conv1D/2D/3DTranspose share their arguments: the Keras class of the layer's own name."""
    return getattr(keras.layers, type(layer).__name__)(
        layer.filters, layer.kernel_size, strides=layer.strides, padding=layer.padding,
        output_padding=layer.output_padding, dilation_rate=layer.dilation_rate,
        activation=_activation_to_keras(layer), use_bias=layer.use_bias,
        kernel_initializer=_init_to_keras(layer.kernel_initializer),
        bias_initializer=_init_to_keras(layer.bias_initializer),
        **_kernel_and_bias_regularizers_to_keras(layer), **kw)


def _conv_transpose_from_keras(klayer, **kw):
    _require(klayer, data_format="channels_last")
    where = f'layer "{klayer.name}"'
    return getattr(sn.layers, type(klayer).__name__)(
        klayer.filters, tuple(klayer.kernel_size), strides=tuple(klayer.strides),
        padding=klayer.padding, output_padding=klayer.output_padding,
        dilation_rate=tuple(klayer.dilation_rate), activation=_activation_from_keras(klayer),
        use_bias=klayer.use_bias, kernel_initializer=_init_from_keras(klayer.kernel_initializer, where),
        bias_initializer=_init_from_keras(klayer.bias_initializer, where),
        **_kernel_and_bias_regularizers_from_keras(klayer), **kw)


for _name in ("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"):
    register_layer(getattr(sn.layers, _name), getattr(keras.layers, _name), _conv_transpose_to_keras,
                   _conv_transpose_from_keras)


def _groupnorm_to_keras(layer, **kw):
    return keras.layers.GroupNormalization(
        groups=layer.groups, axis=layer.axis, epsilon=layer.epsilon, center=layer.center,
        scale=layer.scale, beta_initializer=_init_to_keras(layer.beta_initializer),
        gamma_initializer=_init_to_keras(layer.gamma_initializer),
        beta_regularizer=regularizer_to_keras(layer.beta_regularizer),
        gamma_regularizer=regularizer_to_keras(layer.gamma_regularizer),
        **constraints_to_keras(layer, "beta_constraint", "gamma_constraint"), **kw)


def _groupnorm_from_keras(klayer, **kw):
    where = f'layer "{klayer.name}"'
    return sn.layers.GroupNormalization(
        groups=klayer.groups, axis=klayer.axis, epsilon=klayer.epsilon, center=klayer.center,
        scale=klayer.scale, beta_initializer=_init_from_keras(klayer.beta_initializer, where),
        gamma_initializer=_init_from_keras(klayer.gamma_initializer, where),
        beta_regularizer=regularizer_from_keras(klayer.beta_regularizer, where),
        gamma_regularizer=regularizer_from_keras(klayer.gamma_regularizer, where),
        **constraints_from_keras(klayer, "beta_constraint", "gamma_constraint"), **kw)


register_layer(sn.layers.GroupNormalization, keras.layers.GroupNormalization, _groupnorm_to_keras,
               _groupnorm_from_keras)
register_layer(sn.layers.PReLU, keras.layers.PReLU, _prelu_to_keras, _prelu_from_keras)
# FeatureSpace's float preprocessor is an Identity too (one that casts to float32): to Keras' Identity;
# a Keras Identity comes back as the plain layer.
register_layer(FeatureSpaceIdentity, keras.layers.Identity, lambda layer, **kw: keras.layers.Identity(**kw))
register_layer(sn.layers.LayerNormalization, keras.layers.LayerNormalization, _layernorm_to_keras,
               _layernorm_from_keras)


def _einsum_dense_to_keras(layer, **kw):
    return keras.layers.EinsumDense(
        layer.equation, layer.partial_output_shape, activation=_activation_to_keras(layer),
        bias_axes=layer.bias_axes, kernel_initializer=_init_to_keras(layer.kernel_initializer),
        bias_initializer=_init_to_keras(layer.bias_initializer),
        **_kernel_and_bias_regularizers_to_keras(layer), **kw)


def _einsum_dense_from_keras(klayer, **kw):
    _require(klayer, lora_rank=None)  # (a quantized layer: layer_from_keras)
    return sn.layers.EinsumDense(
        klayer.equation, klayer.partial_output_shape, activation=_activation_from_keras(klayer),
        bias_axes=klayer.bias_axes,
        kernel_initializer=_init_from_keras(klayer.kernel_initializer, f'layer "{klayer.name}"'),
        bias_initializer=_init_from_keras(klayer.bias_initializer, f'layer "{klayer.name}"'),
        **_kernel_and_bias_regularizers_from_keras(klayer), **kw)


register_layer(sn.layers.EinsumDense, keras.layers.EinsumDense, _einsum_dense_to_keras,
               _einsum_dense_from_keras)

# ----------------------------------------------------------------------------- losses
def _sparse_xent_from_keras(kloss):
    if kloss.ignore_class is not None:
        raise ValueError("from_keras: SparseCategoricalCrossentropy(ignore_class="
                         f"{kloss.ignore_class}) has no scratchnet equivalent")
    return sn.losses.SparseCategoricalCrossentropy(from_logits=kloss.from_logits)


def _smoothed_xent_from_keras(scratch_cls):
    """BinaryCrossentropy and CategoricalCrossentropy: from_logits and label_smoothing; axis=-1."""
    def from_keras(kloss):
        config = kloss.get_config()
        if config["axis"] != -1:
            raise ValueError(f"from_keras: {type(kloss).__name__} supports axis=-1, received "
                             f"axis={config['axis']}")
        return scratch_cls(from_logits=config["from_logits"],
                           label_smoothing=config["label_smoothing"])
    return from_keras


def _smoothed_xent_to_keras(keras_cls):
    return lambda loss: keras_cls(from_logits=loss.from_logits, label_smoothing=loss.label_smoothing)


register_loss(sn.losses.SparseCategoricalCrossentropy, keras.losses.SparseCategoricalCrossentropy,
              lambda loss: keras.losses.SparseCategoricalCrossentropy(from_logits=loss.from_logits),
              _sparse_xent_from_keras)
register_loss(sn.losses.CategoricalCrossentropy, keras.losses.CategoricalCrossentropy,
              _smoothed_xent_to_keras(keras.losses.CategoricalCrossentropy),
              _smoothed_xent_from_keras(sn.losses.CategoricalCrossentropy))
register_loss(sn.losses.BinaryCrossentropy, keras.losses.BinaryCrossentropy,
              _smoothed_xent_to_keras(keras.losses.BinaryCrossentropy),
              _smoothed_xent_from_keras(sn.losses.BinaryCrossentropy))
register_loss(sn.losses.MeanSquaredError, keras.losses.MeanSquaredError,
              lambda loss: keras.losses.MeanSquaredError(),
              lambda kloss: sn.losses.MeanSquaredError())
register_loss(sn.losses.MeanAbsoluteError, keras.losses.MeanAbsoluteError,
              lambda loss: keras.losses.MeanAbsoluteError(),
              lambda kloss: sn.losses.MeanAbsoluteError())
# Keras' Huber.get_config() leaves delta out (3.15.1); the wrapped function's kwargs keep it.
register_loss(sn.losses.Huber, keras.losses.Huber,
              lambda loss: keras.losses.Huber(delta=loss.delta),
              lambda kloss: sn.losses.Huber(delta=float(kloss._fn_kwargs["delta"])))
# Losses without arguments of their own (Keras' configs hold only name and reduction).
for _cls in (sn.losses.KLDivergence, sn.losses.Poisson, sn.losses.MeanSquaredLogarithmicError,
             sn.losses.MeanAbsolutePercentageError, sn.losses.LogCosh, sn.losses.Hinge,
             sn.losses.SquaredHinge, sn.losses.CategoricalHinge):
    register_loss(_cls, getattr(keras.losses, _cls.__name__),
                  lambda loss: getattr(keras.losses, type(loss).__name__)(),
                  lambda kloss: getattr(sn.losses, type(kloss).__name__)())
# Keras' CosineSimilarity.get_config() leaves axis out (3.15.1), as Huber's delta.
register_loss(sn.losses.CosineSimilarity, keras.losses.CosineSimilarity,
              lambda loss: keras.losses.CosineSimilarity(axis=loss.axis),
              lambda kloss: sn.losses.CosineSimilarity(axis=kloss._fn_kwargs["axis"]))


def _focal_from_keras(kloss):
    config = {k: v for k, v in kloss.get_config().items() if k not in ("name", "reduction", "dtype")}
    return getattr(sn.losses, type(kloss).__name__)(**config)


for _cls in (sn.losses.BinaryFocalCrossentropy, sn.losses.CategoricalFocalCrossentropy):
    register_loss(_cls, getattr(keras.losses, _cls.__name__),
                  lambda loss: getattr(keras.losses, type(loss).__name__)(**{
                      k: v for k, v in loss.get_config().items() if k != "name"}),
                  _focal_from_keras)


# ----------------------------------------------------------------------------- optimizers
# scratchnet's optimizers and schedules have Keras' class names and write Keras' serialized form
# (``sn.optimizers.serialize``), so one pair of functions maps every one of them: Keras rebuilds
# the optimizer (and its schedule) from scratchnet's config, and the other way round.
def _optimizer_via_config_to_keras(opt):
    # (the class's from_config, not keras.optimizers.deserialize: Keras 3.15.1's deserialize
    # returns the string "Lamb" for a Lamb, which is missing from its table of known names)
    spec = sn.optimizers.serialize(opt)
    return getattr(keras.optimizers, spec["class_name"]).from_config(spec["config"])


def _optimizer_via_config_from_keras(kopt):
    return sn.optimizers.deserialize(keras.optimizers.serialize(kopt))


def schedule_to_keras(schedule) -> keras.optimizers.schedules.LearningRateSchedule:
    """The Keras twin of a ``scratchnet.optimizers.schedules`` schedule."""
    return keras.optimizers.schedules.deserialize(sn.optimizers.schedules.serialize(schedule))


def schedule_from_keras(kschedule):
    """The scratchnet twin of a built-in Keras learning-rate schedule."""
    return sn.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(kschedule))


for _cls in (sn.optimizers.SGD, sn.optimizers.Adam, sn.optimizers.AdamW, sn.optimizers.RMSprop,
             sn.optimizers.Adagrad, sn.optimizers.Nadam, sn.optimizers.Adamax,
             sn.optimizers.Adadelta, sn.optimizers.Lion, sn.optimizers.Lamb, sn.optimizers.Ftrl,
             sn.optimizers.Adafactor, sn.optimizers.Muon, sn.optimizers.ScheduleFreeAdamW,
             sn.optimizers.LossScaleOptimizer, sn.optimizers.MultiOptimizer):
    register_optimizer(_cls, getattr(keras.optimizers, _cls.__name__),
                       _optimizer_via_config_to_keras, _optimizer_via_config_from_keras)


# ----------------------------------------------------------------------------- metrics
# Metric names ("accuracy", "mae", "precision", ...) mean the same metric in both frameworks and
# pass through unchanged; metric objects map class to class (the names are Keras' own).
_METRIC_CLASSES = {cls.__name__: cls for cls in sn.metrics.CLASSES}


def _metric_to_keras(metric):
    if isinstance(metric, str):
        try:
            sn.metrics.validate(metric)
        except ValueError:
            raise ValueError(f"to_keras: metric {metric!r} has no Keras mapping; known: "
                             f"{sorted(sn.metrics.NAMES)} and 'accuracy'") from None
        return metric
    if sn.metrics._is_function(metric):  # sn.metrics.binary_accuracy -> keras.metrics.binary_accuracy
        from scratchnet.metrics_functions import BY_NAME

        if BY_NAME.get(metric.__name__) is not metric:
            raise ValueError(f"to_keras: metric function {metric.__name__!r} has no Keras mapping; "
                             f"known: {sorted(BY_NAME)}")
        return getattr(keras.metrics, metric.__name__)
    if type(metric).__name__ not in _METRIC_CLASSES:
        raise ValueError(f"to_keras: metric {type(metric).__name__} has no Keras mapping; known: "
                         f"{sorted(_METRIC_CLASSES)}")
    return getattr(keras.metrics, type(metric).__name__)(**metric.get_config())


def _metric_from_keras(metric):
    """A metric name (kept as is), a Keras metric object, or one serialized as a dict."""
    if isinstance(metric, str):
        try:
            sn.metrics.validate(metric)
        except ValueError:
            raise ValueError(f"from_keras: metric {metric!r} has no scratchnet equivalent; "
                             f"supported: {sorted(sn.metrics.NAMES)} and 'accuracy'") from None
        return metric
    if isinstance(metric, dict) and metric.get("class_name") == "function":  # Keras' function form
        from scratchnet import saving_keras

        return saving_keras._metric_from_keras(metric, "from_keras")
    if callable(metric) and not isinstance(metric, keras.metrics.Metric):  # keras.metrics.fn
        from scratchnet.metrics_functions import BY_NAME

        if getattr(metric, "__name__", None) not in BY_NAME:
            raise ValueError(f"from_keras: metric function {metric!r} has no scratchnet equivalent; "
                             f"supported: {sorted(BY_NAME)}")
        return BY_NAME[metric.__name__]
    if isinstance(metric, dict):  # a serialized metric object
        class_name, config = metric.get("class_name"), dict(metric.get("config") or {})
    else:
        class_name, config = type(metric).__name__, metric.get_config()
    cls = _METRIC_CLASSES.get(class_name)
    if cls is None:
        raise ValueError(f"from_keras: metric {class_name} has no scratchnet equivalent; "
                         f"supported: {sorted(_METRIC_CLASSES)}")
    if not getattr(cls, "keeps_dtype", False):  # IoU counts in its dtype (int64 by default)
        config.pop("dtype", None)
    return cls(**config)


# ----------------------------------------------------------------------------- extensions
def _register_extensions() -> None:
    """The preprocessing layers, Embedding, TextVectorization and the PoincareNormalize addon
    (their mapping functions live in ``tfnet.preprocessing``, ``tfnet.text``, ``tfnet.addons``)."""
    from tfnet import addons, preprocessing, structured, text

    for module in (preprocessing, addons, text, structured):
        pairs = zip(module.TO_KERAS.items(), module.FROM_KERAS.items(), strict=True)
        for (scratch_cls, to_fn), (keras_cls, from_fn) in pairs:
            if scratch_cls.__name__ != keras_cls.__name__:
                raise RuntimeError(f"tfnet: {module.__name__} pairs {scratch_cls.__name__} with "
                                   f"{keras_cls.__name__}; keep TO_KERAS and FROM_KERAS in one order")
            register_layer(scratch_cls, keras_cls, _named(to_fn), _named(from_fn))


def _named(fn: Callable) -> Callable:
    """These mapping functions keep the layer's own name and dtype; ignore the converter's."""
    return lambda layer, **_: fn(layer)


_register_extensions()


# TimeDistributed: the wrapped layer crosses over by its own mapping; its weights are the wrapper's.
register_layer(sn.layers.TimeDistributed, keras.layers.TimeDistributed,
               lambda layer, **kw: keras.layers.TimeDistributed(
                   layer_to_keras(layer.layer), **kw),
               lambda klayer, **kw: sn.layers.TimeDistributed(layer_from_keras(klayer.layer), **kw))


# SpectralNormalization: the wrapped layer crosses over by its own mapping; weights in Keras' order
# (kernel, vector_u, bias) on both sides.
register_layer(sn.layers.SpectralNormalization, keras.layers.SpectralNormalization,
               lambda layer, **kw: keras.layers.SpectralNormalization(
                   layer_to_keras(layer.layer), power_iterations=layer.power_iterations, **kw),
               lambda klayer, **kw: sn.layers.SpectralNormalization(
                   layer_from_keras(klayer.layer), power_iterations=klayer.power_iterations, **kw))


# Pipeline: each of its layers crosses over by its own mapping (they have no weights).
register_layer(sn.layers.Pipeline, keras.layers.Pipeline,
               lambda layer, name=None, **_: keras.layers.Pipeline(
                   [layer_to_keras(sub) for sub in layer.layers], name=name),
               lambda klayer, name=None, **_: sn.layers.Pipeline(
                   [layer_from_keras(sub) for sub in klayer.layers], name=name))


# DepthwiseConv1D/2D and SeparableConv1D/2D: Keras' arguments and weights on both sides.
def _depthwise_args_to_keras(layer) -> dict:
    args = dict(strides=layer.strides, padding=layer.padding, depth_multiplier=layer.depth_multiplier,
                dilation_rate=layer.dilation_rate, activation=_activation_to_keras(layer),
                use_bias=layer.use_bias,
                depthwise_initializer=_init_to_keras(layer.depthwise_initializer),
                bias_initializer=_init_to_keras(layer.bias_initializer),
                depthwise_regularizer=regularizer_to_keras(layer.depthwise_regularizer),
                bias_regularizer=regularizer_to_keras(layer.bias_regularizer),
                **constraints_to_keras(layer, "depthwise_constraint", "bias_constraint"))
    if hasattr(layer, "filters"):  # a separable convolution
        args.update(pointwise_initializer=_init_to_keras(layer.pointwise_initializer),
                    pointwise_regularizer=regularizer_to_keras(layer.pointwise_regularizer),
                    **constraints_to_keras(layer, "pointwise_constraint"))
    return args


def _depthwise_args_from_keras(klayer) -> dict:
    _require(klayer, data_format="channels_last")
    where = f'layer "{klayer.name}"'
    args = dict(strides=tuple(klayer.strides), padding=klayer.padding,
                depth_multiplier=klayer.depth_multiplier, dilation_rate=tuple(klayer.dilation_rate),
                activation=_activation_from_keras(klayer), use_bias=klayer.use_bias,
                depthwise_initializer=_init_from_keras(klayer.depthwise_initializer, where),
                bias_initializer=_init_from_keras(klayer.bias_initializer, where),
                depthwise_regularizer=regularizer_from_keras(klayer.depthwise_regularizer, where),
                bias_regularizer=regularizer_from_keras(klayer.bias_regularizer, where),
                **constraints_from_keras(klayer, "depthwise_constraint", "bias_constraint"))
    if hasattr(klayer, "filters"):
        args.update(pointwise_initializer=_init_from_keras(klayer.pointwise_initializer, where),
                    pointwise_regularizer=regularizer_from_keras(klayer.pointwise_regularizer, where),
                    **constraints_from_keras(klayer, "pointwise_constraint"))
    return args


for _name in ("DepthwiseConv2D", "DepthwiseConv1D"):
    register_layer(getattr(sn.layers, _name), getattr(keras.layers, _name),
                   lambda layer, **kw: getattr(keras.layers, type(layer).__name__)(
                       layer.kernel_size, **_depthwise_args_to_keras(layer), **kw),
                   lambda klayer, **kw: getattr(sn.layers, type(klayer).__name__)(
                       tuple(klayer.kernel_size), **_depthwise_args_from_keras(klayer), **kw))
for _name in ("SeparableConv2D", "SeparableConv1D"):
    register_layer(getattr(sn.layers, _name), getattr(keras.layers, _name),
                   lambda layer, **kw: getattr(keras.layers, type(layer).__name__)(
                       layer.filters, layer.kernel_size, **_depthwise_args_to_keras(layer), **kw),
                   lambda klayer, **kw: getattr(sn.layers, type(klayer).__name__)(
                       klayer.filters, tuple(klayer.kernel_size), **_depthwise_args_from_keras(klayer),
                       **kw))


# MultiHeadAttention: Keras' arguments; the weights (query, key, value, attention_output kernels
# and biases) in the same order and layouts on both sides.
def _mha_to_keras(layer, **kw):
    return keras.layers.MultiHeadAttention(
        layer.num_heads, layer.key_dim, value_dim=layer.value_dim, dropout=layer.dropout,
        use_bias=layer.use_bias, output_shape=layer.output_shape_arg, attention_axes=None,
        use_gate=layer.use_gate, sliding_window=layer.sliding_window,
        kernel_initializer=_init_to_keras(layer.kernel_initializer),
        bias_initializer=_init_to_keras(layer.bias_initializer),
        kernel_regularizer=regularizer_to_keras(layer.kernel_regularizer),
        bias_regularizer=regularizer_to_keras(layer.bias_regularizer),
        **constraints_to_keras(layer, "kernel_constraint", "bias_constraint"), seed=layer.seed, **kw)


def _mha_from_keras(klayer, **kw):
    config = klayer.get_config()
    where = f'layer "{klayer.name}"'
    return sn.layers.MultiHeadAttention(
        config["num_heads"], config["key_dim"], value_dim=config["value_dim"],
        dropout=config["dropout"], use_bias=config["use_bias"], output_shape=config["output_shape"],
        attention_axes=config["attention_axes"], use_gate=config["use_gate"],
        sliding_window=config["sliding_window"],
        kernel_initializer=_init_from_keras(klayer._kernel_initializer, where),
        bias_initializer=_init_from_keras(klayer._bias_initializer, where),
        kernel_regularizer=regularizer_from_keras(klayer._kernel_regularizer, where),
        bias_regularizer=regularizer_from_keras(klayer._bias_regularizer, where),
        **constraints_from_keras(klayer, "kernel_constraint", "bias_constraint"),
        seed=config["seed"], **kw)


register_layer(sn.layers.MultiHeadAttention, keras.layers.MultiHeadAttention, _mha_to_keras,
               _mha_from_keras)


# GroupedQueryAttention: the same, with Keras' head_dim/num_query_heads/num_key_value_heads.
def _gqa_to_keras(layer, **kw):
    return keras.layers.GroupQueryAttention(
        layer.head_dim, layer.num_query_heads, layer.num_key_value_heads, dropout=layer.dropout,
        use_bias=layer.use_bias, use_gate=layer.use_gate, sliding_window=layer.sliding_window,
        kernel_initializer=_init_to_keras(layer.kernel_initializer),
        bias_initializer=_init_to_keras(layer.bias_initializer),
        kernel_regularizer=regularizer_to_keras(layer.kernel_regularizer),
        bias_regularizer=regularizer_to_keras(layer.bias_regularizer),
        **constraints_to_keras(layer, "kernel_constraint", "bias_constraint"), seed=layer.seed, **kw)


def _gqa_from_keras(klayer, **kw):
    where = f'layer "{klayer.name}"'
    return sn.layers.GroupQueryAttention(
        klayer.head_dim, klayer.num_query_heads, klayer.num_key_value_heads, dropout=klayer.dropout,
        use_bias=klayer.use_bias, use_gate=klayer.use_gate, sliding_window=klayer.sliding_window,
        kernel_initializer=_init_from_keras(klayer.kernel_initializer, where),
        bias_initializer=_init_from_keras(klayer.bias_initializer, where),
        kernel_regularizer=regularizer_from_keras(klayer.kernel_regularizer, where),
        bias_regularizer=regularizer_from_keras(klayer.bias_regularizer, where),
        **constraints_from_keras(klayer, "kernel_constraint", "bias_constraint"), seed=klayer.seed, **kw)


register_layer(sn.layers.GroupQueryAttention, keras.layers.GroupQueryAttention, _gqa_to_keras,
               _gqa_from_keras)


# Attention and AdditiveAttention: their get_config() holds Keras' own arguments (use_scale,
# score_mode, dropout, seed); the weights (scale, concat_score_weight) in the same order and shapes.
_register_by_config(sn.layers.Attention, keras.layers.Attention)
_register_by_config(sn.layers.AdditiveAttention, keras.layers.AdditiveAttention)


# The 3-D (volume, video) layers: Conv3D and Conv3DTranspose by their arguments, the poolings as
# their 1-D/2-D siblings, the rest by config.
def _conv3d_to_keras(layer, **kw):
    return keras.layers.Conv3D(
        layer.filters, layer.kernel_size, strides=layer.strides, padding=layer.padding,
        dilation_rate=layer.dilation_rate, groups=layer.groups, activation=_activation_to_keras(layer),
        use_bias=layer.use_bias, kernel_initializer=_init_to_keras(layer.kernel_initializer),
        bias_initializer=_init_to_keras(layer.bias_initializer),
        **_kernel_and_bias_regularizers_to_keras(layer), **kw)


def _conv3d_from_keras(klayer, **kw):
    _require(klayer, data_format="channels_last")
    where = f'layer "{klayer.name}"'
    return sn.layers.Conv3D(
        klayer.filters, tuple(klayer.kernel_size), strides=tuple(klayer.strides),
        padding=klayer.padding, dilation_rate=tuple(klayer.dilation_rate), groups=klayer.groups,
        activation=_activation_from_keras(klayer), use_bias=klayer.use_bias,
        kernel_initializer=_init_from_keras(klayer.kernel_initializer, where),
        bias_initializer=_init_from_keras(klayer.bias_initializer, where),
        **_kernel_and_bias_regularizers_from_keras(klayer), **kw)


register_layer(sn.layers.Conv3D, keras.layers.Conv3D, _conv3d_to_keras, _conv3d_from_keras)
_register_pooling(sn.layers.MaxPooling3D, keras.layers.MaxPooling3D)
_register_pooling(sn.layers.AveragePooling3D, keras.layers.AveragePooling3D)
_register_global_pooling(sn.layers.GlobalAveragePooling3D, keras.layers.GlobalAveragePooling3D)
_register_global_pooling(sn.layers.GlobalMaxPooling3D, keras.layers.GlobalMaxPooling3D)
for _name in ("UpSampling3D", "ZeroPadding3D", "Cropping3D", "SpatialDropout3D"):
    _register_by_config(getattr(sn.layers, _name), getattr(keras.layers, _name))


# Dice, Tversky, the generalised cross-entropy and Circle: Keras' configs hold every argument.
def _loss_via_config_from_keras(kloss):
    config = {k: v for k, v in kloss.get_config().items() if k not in ("name", "reduction", "dtype")}
    if "axis" in config and isinstance(config["axis"], list):
        config["axis"] = tuple(config["axis"])
    return getattr(sn.losses, type(kloss).__name__)(**config)


for _cls in (sn.losses.Dice, sn.losses.Tversky, sn.losses.CategoricalGeneralizedCrossEntropy,
             sn.losses.Circle):
    register_loss(_cls, getattr(keras.losses, _cls.__name__),
                  lambda loss: getattr(keras.losses, type(loss).__name__)(**{
                      k: v for k, v in loss.get_config().items() if k != "name"}),
                  _loss_via_config_from_keras)
register_loss(sn.losses.CTC, keras.losses.CTC, lambda loss: keras.losses.CTC(),
              lambda kloss: sn.losses.CTC())
