"""``keras.models.clone_model`` and ``model_from_json``: a model of the same architecture with
fresh weights.

``clone_model(model)`` rebuilds each layer from its config (Keras' default ``clone_function``:
``layer.__class__.from_config(layer.get_config())``), so the clone draws new weights from each
layer's initializers and shares nothing with the original; it is not compiled. A Sequential
clone is built for the original's input shape; a functional clone makes the same calls between
the cloned layers (a layer called twice stays one shared layer). ``clone_function(layer)`` may
return any layer instead (Keras' way to swap or freeze layers while cloning); ``input_tensors``
gives the clone new ``Input`` tensors.

``model_from_json(model.to_json())`` reads Keras' JSON (the ``config.json`` of a ``.keras``
file): the architecture, built and, if the JSON holds a compile config, compiled, as Keras'
``model_from_json`` does; the weights are fresh.
"""

from __future__ import annotations

import json

from scratchnet.layers.input_layer import InputLayer, KerasTensor, global_rng


def _default_clone(layer):
    """``layer.__class__.from_config(layer.get_config())``; a frozen layer stays frozen."""
    from scratchnet.model import Model

    if isinstance(layer, Model):
        return clone_model(layer)
    config = layer.get_config()
    cls = getattr(layer, "keras_class", None) or type(layer)  # (a subclassed model's view: its class)
    clone = cls.from_config(config) if hasattr(cls, "from_config") else cls(**config)
    clone.trainable = layer.trainable
    return clone.as_layer() if hasattr(layer, "nested_model") else clone  # (a view for a view)


def clone_model(model, input_tensors=None, clone_function=None, call_function=None,
                recursive: bool = False, **kwargs):
    """A new model with ``model``'s architecture and fresh weights (see the module docstring)."""
    from scratchnet.functional import Functional
    from scratchnet.model import Sequential

    if call_function is not None or kwargs:
        raise ValueError(f"clone_model: scratchnet does not take call_function or "
                         f"{sorted(kwargs)}; use clone_function to change layers")
    if clone_function is not None and not callable(clone_function):
        raise ValueError(f"clone_model: expected clone_function to be a function of a layer, "
                         f"received {clone_function!r}")
    clone_function = clone_function or _default_clone
    seed = int(global_rng().integers(2**31))  # sn.utils.set_random_seed makes clones repeatable
    if type(model) is Functional:  # Model(inputs, outputs); a subclass is Python code
        return _clone_functional(model, input_tensors, clone_function, seed)
    if type(model) is not Sequential:
        raise ValueError(f"clone_model: expected a Sequential or functional model, received "
                         f"{type(model).__name__}: a subclassed model's architecture is its Python "
                         "code, which cannot be cloned from a config (build a new instance instead)")
    # (Keras' model.layers: a functional model it holds is one entry, cloned whole)
    layers = [clone_function(layer) for layer in model._entries()]
    batch = model._batch_size() if model.built else None
    # the clone's Input keeps the model's Input name, as Keras' _clone_sequential_model does
    input_name = model._input_layer_name()
    if input_tensors is None and batch is not None:  # Input(batch_size=...): a stateful model's
        from scratchnet.layers.input_layer import Input

        first = Input(model.input_shape[1:], batch_size=batch, dtype=model._graph[0].dtype,
                      name=input_name)
        return Sequential([first, *layers], seed=seed, name=model.name)
    clone = Sequential(layers, seed=seed, name=model.name)
    clone._input_name = input_name if input_tensors is None else None
    shape = None
    if input_tensors is not None:
        tensors = input_tensors if isinstance(input_tensors, list | tuple) else [input_tensors]
        if len(tensors) != 1 or not isinstance(tensors[0], KerasTensor):
            raise ValueError("clone_model: a Sequential model takes one input tensor "
                             f"(sn.Input(shape)), received input_tensors={input_tensors!r}")
        shape = tensors[0].shape
    elif model.built:
        shape = (None, *model.input_shape[1:])  # (the batch axis: a declared batch size too)
    if shape is not None:
        clone.build(shape)
    return clone


def _clone_functional(model, input_tensors, clone_function, seed):
    from scratchnet import saving_functional

    cfg = saving_functional.npz_config(model)
    given = None
    if input_tensors is not None:
        given = input_tensors if isinstance(input_tensors, list | tuple) else [input_tensors]
        if len(given) != len(model.inputs) or not all(
                isinstance(t, KerasTensor) and isinstance(t.node.layer, InputLayer) for t in given):
            raise ValueError(f"clone_model: expected input_tensors to be {len(model.inputs)} "
                             f"tensor(s) made by sn.Input, received {input_tensors!r}")
    new_inputs = {}
    if given is not None:
        new_inputs = {id(t.node.layer): g.node.layer for t, g in zip(model.inputs, given, strict=True)}
    layers, calls, names = [], [], {}
    for layer, spec in zip(saving_functional.graph_entries(model), cfg["layers"], strict=True):
        if isinstance(layer, InputLayer):
            new = new_inputs.get(id(layer)) or InputLayer(layer.output.shape[1:], dtype=layer.dtype,
                                                           name=layer.name)
        else:
            new = clone_function(layer)
        names[layer.name] = new.name
        layers.append(new)
        calls.append(spec["calls"])

    def rename(ref):  # [layer name, node index, tensor index], renamed to the clone's layer
        return [names[ref[0]], *ref[1:]]

    calls = [[[[rename(r) for r in call[0]], *call[1:]] for call in layer_calls]
             for layer_calls in calls]
    inputs = [rename(r) for r in cfg["input_layers"]]
    if cfg.get("inputs_as_dict"):
        inputs = {ref[0]: ref for ref in inputs}
    elif len(inputs) == 1:
        inputs = inputs[0]
    outputs = model._packed_outputs([rename(r) for r in cfg["output_layers"]])  # (a dict stays one)
    return saving_functional.rebuild(layers, calls, inputs, outputs, model.name, seed,
                                     "clone_model")


def model_to_json(model, **kwargs) -> str:
    """Keras' ``model.to_json()``: the model's Keras config (architecture, and compile settings
    when compiled) as JSON text; ``kwargs`` go to ``json.dumps``."""
    from scratchnet import saving_keras

    model._require_built("to_json")
    return json.dumps(saving_keras.model_config(model), default=saving_keras._json_value, **kwargs)


def model_from_json(json_string: str, custom_objects: dict | None = None):
    """The model a ``to_json()`` string (scratchnet's or Keras') describes, with fresh weights."""
    from scratchnet import saving_keras

    try:
        config = json.loads(json_string)
    except (TypeError, json.JSONDecodeError) as err:
        raise ValueError(f"model_from_json: expected the JSON text of model.to_json(), received "
                         f"{json_string!r:.120} ({err})") from err
    seed = int(global_rng().integers(2**31))
    return saving_keras.model_from_config(config, "model_from_json", custom_objects, True, None, seed)
