"""Saving and loading functional models: Keras 3's ``"Functional"`` config, and the graph rebuilt.

A functional model's config lists its layers (Keras' ``model.layers`` order), each with its
``inbound_nodes``: one entry per call of the layer, naming the tensors it was called on as
``[layer name, node index, tensor index]`` (``node index`` k: the k-th call of that layer; ``tensor
index`` i: its i-th output, 0 but for a layer with several, ``LSTM(return_state=True)``'s
``[output, h, c]``).
``input_layers``/``output_layers`` name the model's inputs and outputs the same way. Loading creates
every layer, then replays the calls, each as soon as the tensors it reads exist (a shared layer's
second call may need layers listed after it), and hands the tensors to ``Model(inputs, outputs)``.

``.keras`` files use Keras' own entries (``{"args": [...], "kwargs": {}}`` with ``__keras_tensor__``
items), so Keras loads what scratchnet writes and the other way round; scratchnet's ``.npz``
stores the same graph in a short form (``[[ref, ...], as_list]`` per call).
"""

from __future__ import annotations

import inspect

from scratchnet import tree
from scratchnet.layers.input_layer import InputLayer, KerasTensor, keyword_tensors
from scratchnet.layers.rnn_cells import with_cell_built

TENSOR = "__keras_tensor__"  # a keyword argument that is a tensor of the graph


# ================================================================================ writing
def node_indices(model) -> dict:
    """``{node: k}``: the k-th call of its layer within this model (graph order)."""
    counts: dict = {}
    index = {}
    for node in model._nodes:
        index[node] = counts.get(node.layer, 0)
        counts[node.layer] = index[node] + 1
    return index


def _ref(tensor, index: dict) -> list:
    return [tensor.node.layer.name, index[tensor.node], tensor.index]


def keras_config(model, layer_config, compile_config) -> dict:
    """``config.json`` of a functional model, as ``keras.Model(inputs, outputs)`` writes it.
    ``layer_config(layer)`` and ``compile_config(model)`` are saving_keras' writers."""
    index = node_indices(model)
    layers = []
    for layer in file_operations(model):
        nodes = [n for n in model._nodes if n.layer is layer]
        if getattr(layer, "is_operation", False):  # ops.add(x, 3.0): Keras' entry for an operation
            layers.append(_keras_operation(layer, nodes, index))
            continue
        if isinstance(layer, InputLayer):
            spec = {"module": "keras.layers", "class_name": "InputLayer", "config": layer.get_config(),
                    "registered_name": None}
            inbound = []
        else:
            spec = layer_config(layer)
            inbound = [_keras_inbound(node, index) for node in nodes]
        spec["name"] = layer.name
        spec["inbound_nodes"] = inbound
        layers.append(spec)
    inputs = [_ref(t, index) for t in model.inputs]
    if isinstance(model._inputs_struct, dict):
        inputs = dict(zip(model.input_names, inputs, strict=True))
    elif not isinstance(model._inputs_struct, list | tuple):
        inputs = inputs[0]
    outputs = model._packed_outputs([_ref(t, index) for t in model.outputs])  # Keras' map_tensors
    config = {
        "module": "keras.src.models.functional", "class_name": "Functional",
        "config": {"name": model.name, "trainable": model.trainable, "layers": layers,
                   "input_layers": inputs,
                   "output_layers": outputs},
        "registered_name": "Functional",
        "build_config": {"input_shape": None},
    }
    if model.compiled:
        config["compile_config"] = compile_config(model)
    return config


def graph_entries(model) -> list:
    """What a functional model's config lists: its layers and, in graph order among them, its
    operations (``model.operations``; :mod:`scratchnet.layers.operations`)."""
    return list(getattr(model, "operations", model.layers))


def file_operations(model) -> list:
    """:func:`graph_entries` in the order of a Keras file (``.keras``, ``.weights.h5``, ``.h5``):
    scratchnet writes a nested model's layer calls flat, and Keras, loading the flat graph, orders
    its layers by their own depths, not where the nested model stood (a branch beside it:
    ``a, c, b`` against ``c, a, b``); the weights are written in the order Keras reads them."""
    flat = getattr(model, "_flat_operations", None)
    return list(flat) if flat is not None else graph_entries(model)


def file_layers(model) -> list:
    """``model.layers`` in a Keras file's order (:func:`file_operations`)."""
    if getattr(model, "_flat_operations", None) is None:
        return list(model.layers)
    return [op for op in model._flat_operations if not getattr(op, "is_operation", False)]


def _keras_operation(op, nodes, index: dict) -> dict:
    """Keras' entry for an operation node: its module and class, only its name as config, and
    the call's operands (two tensors, or a tensor and the number) as positional arguments."""
    inbound = []
    for node in nodes:
        args = [_keras_tensor(t, index) for t in node.inputs]
        inbound.append({"args": args if op.constant is None else [*args, op.constant], "kwargs": {}})
    name = type(op).__name__
    return {"module": op.keras_module, "class_name": name, "config": {"name": op.name},
            "registered_name": name, "name": op.name, "inbound_nodes": inbound}


def keras_operation(spec: dict, where: str) -> tuple:
    """``(operation, calls)`` from Keras' entry for an ``ops.add`` / ``ops.multiply`` node:
    ``x + 3.0`` (a tensor and a number) or ``x + y`` (two tensors)."""
    from scratchnet.layers import operations

    cls = {"Add": operations.Add, "Multiply": operations.Multiply}.get(spec.get("class_name"))
    if cls is None:
        raise ValueError(f"{where}: the graph holds the operation {spec.get('module')}."
                         f"{spec.get('class_name')}, which scratchnet does not have (it reads the "
                         "operations Add and Multiply)")
    name = (spec.get("config") or {}).get("name", spec.get("name"))
    constants, calls = set(), []
    for node in spec.get("inbound_nodes") or []:
        args = node.get("args") if isinstance(node, dict) else None
        if not isinstance(args, list) or len(args) != 2 or node.get("kwargs"):
            raise ValueError(f'{where}: operation "{name}" has a call scratchnet does not read (two '
                             f"operands expected): {node!r:.200}")
        refs = [_history(a, spec, where) for a in args if _is_tensor_spec(a)]
        numbers_ = [a for a in args if not _is_tensor_spec(a)]
        if not refs or not _is_tensor_spec(args[0]) or any(
                isinstance(v, bool) or not isinstance(v, int | float) for v in numbers_):
            raise ValueError(f'{where}: operation "{name}" has operands scratchnet does not read (a '
                             f"tensor, then a tensor or a number expected): {args!r:.200}")
        constants.update(numbers_)
        calls.append((refs, len(refs) == 2))
    if len(constants) > 1 or (constants and any(as_list for _, as_list in calls)):
        raise ValueError(f'{where}: operation "{name}" is called with different operands in each call')
    return cls(constant=constants.pop() if constants else None, name=name), calls


def _keras_tensor(t, index: dict) -> dict:
    return {"class_name": "__keras_tensor__",
            "config": {"shape": list(t.shape), "dtype": t.dtype, "keras_history": _ref(t, index)}}


def _keras_inbound(node, index: dict) -> dict:
    """One inbound node: ``{"args": [...], "kwargs": {...}}`` as Keras records the call."""
    if not node.several_args:
        tensors = [_keras_tensor(t, index) for t in node.inputs]
        # (a list call's keyword values, Attention()([q, v], use_causal_mask=True), as given)
        return {"args": [tensors if node.inputs_as_list else tensors[0]], "kwargs": dict(node.kwargs)}
    n_kw = sum(len(keyword_tensors(v)) for v in node.kwargs.values())
    args = [_keras_tensor(t, index) for t in node.inputs[:len(node.inputs) - n_kw]]

    def value(v):  # a tensor, a list of them (initial_state), or a plain value
        if isinstance(v, KerasTensor):
            return _keras_tensor(v, index)
        if keyword_tensors(v):
            return [value(item) for item in v]
        return v

    kwargs = {k: value(v) for k, v in node.kwargs.items()}
    return {"args": args, "kwargs": kwargs}


def _npz_call(node, index: dict) -> list:
    """``[refs, as_list]``, and for a layer called on several tensors the keyword arguments, a
    tensor among them written as TENSOR (its ref is in ``refs``, after the positional ones, in
    the order of the keywords' names)."""
    call = [[_ref(t, index) for t in node.inputs], node.inputs_as_list]
    if node.several_args:
        call.append({k: TENSOR if isinstance(v, KerasTensor)
                     else [TENSOR] * len(v) if keyword_tensors(v) else v
                     for k, v in node.kwargs.items()})
    elif node.kwargs:  # a list call's plain keyword values: Attention()([q, v], use_causal_mask=True)
        call.append(dict(node.kwargs))
    return call


def _n_tensor_markers(value) -> int:
    """How many tensors a saved keyword stands for: TENSOR is one, a list of TENSORs several."""
    if value == TENSOR:
        return 1
    if isinstance(value, list) and value and all(v == TENSOR for v in value):
        return len(value)
    return 0


def npz_config(model) -> dict:
    """The same graph in scratchnet's own config: each layer's ``get_config()`` and its calls."""
    index = node_indices(model)
    layers = []
    for layer in graph_entries(model):
        nodes = [n for n in model._nodes if n.layer is layer]
        calls = [] if isinstance(layer, InputLayer) else [_npz_call(node, index) for node in nodes]
        layers.append({"class_name": type(layer).__name__, "config": layer.get_config(),
                       "calls": calls, **({"operation": True} if getattr(layer, "is_operation", False)
                                          else {})})
    return {"class_name": "Functional", "name": model.name, "seed": model.seed, "layers": layers,
            "input_layers": [_ref(t, index) for t in model.inputs],
            "output_layers": [_ref(t, index) for t in model.outputs],
            "inputs_as_dict": isinstance(model._inputs_struct, dict),
            "outputs_as_list": model._outputs_is_list,
            **({"output_keys": model._output_keys} if model._output_keys is not None else {})}


# ================================================================================ reading
def rebuild(layers: list, calls: list, input_refs, output_refs, name: str, seed, where: str):
    """``Model(inputs, outputs)`` from built-but-unconnected ``layers`` and their ``calls``
    (per layer: a list of ``(refs, as_list)``, or ``(refs, as_list, kwargs)`` for a layer called
    on several tensors, see :func:`_npz_call`). ``input_refs``/``output_refs``: a ref, a list of
    refs or (inputs) a dict of them, kept as the model's structure."""
    from scratchnet.functional import Functional

    tensors = {}  # (layer name, node index, tensor index) -> KerasTensor
    pending = []
    for layer, layer_calls in zip(layers, calls, strict=True):
        if isinstance(layer, InputLayer):
            tensors[(layer.name, 0, 0)] = layer.output
        for k, call in enumerate(layer_calls):
            pending.append((layer, k, call[0], call[1], call[2] if len(call) > 2 else None))
    while pending:
        ready = [item for item in pending if all(_key(ref) in tensors for ref in item[2])]
        if not ready:
            missing = sorted({_key(ref) for _, _, refs, _, _ in pending for ref in refs
                              if _key(ref) not in tensors})
            raise ValueError(f"{where}: the saved graph refers to tensors no layer call makes: "
                             f"{missing[:5]} (a cycle, or a corrupt config)")
        for item in ready:
            layer, k, refs, as_list, kwargs = item
            args = [tensors[_key(ref)] for ref in refs]
            if kwargs is None:
                result = layer(args if as_list else args[0])
            elif as_list:  # Attention()([q, v], use_causal_mask=True): plain keyword values
                if not getattr(layer, "takes_list_masks", False):
                    raise ValueError(f'{where}: layer "{layer.name}" is called with keyword '
                                     f"arguments {sorted(kwargs)}, which scratchnet does not pass")
                result = layer(args, **kwargs)
            else:  # MultiHeadAttention(query, value, key=...), LSTM(x, initial_state=[h, c])
                n_kw = sum(_n_tensor_markers(v) for v in kwargs.values())
                taken = inspect.signature(type(layer).__call__).parameters
                open_ended = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in taken.values())
                if not open_ended and any(name not in taken for name in kwargs):
                    raise ValueError(f'{where}: layer "{layer.name}" is called with keyword '
                                     f"arguments {sorted(kwargs)}, which scratchnet does not pass")
                given = iter(args[len(args) - n_kw:])  # the keywords' tensors, in name order
                named = {}
                for name in sorted(kwargs):
                    count = _n_tensor_markers(kwargs[name])
                    if count:
                        items = [next(given) for _ in range(count)]
                        named[name] = items[0] if kwargs[name] == TENSOR else items
                kwargs = {name: named.get(name, v) for name, v in kwargs.items()}
                result = layer(*args[:len(args) - n_kw], **kwargs)
            # several for LSTM(return_state=True); a layer returning a dict: by sorted key (Keras)
            for i, tensor in enumerate(tree.flatten(result)):
                tensors[(layer.name, k, i)] = tensor
            pending.remove(item)

    def lookup(ref):
        if not isinstance(ref, list | tuple) or len(ref) != 3:
            raise ValueError(f"{where}: the model's inputs/outputs should be given as "
                             f"[layer name, node index, tensor index], received {ref!r:.120}")
        key = _key(ref)
        if key not in tensors:
            raise ValueError(f"{where}: the model's inputs/outputs name a tensor {ref!r} that the "
                             "saved graph does not make")
        return tensors[key]

    def structure(refs):
        if not refs:
            raise ValueError(f"{where}: the Functional config names no input_layers or "
                             f"output_layers (received {refs!r})")
        if isinstance(refs, dict):
            return {k: lookup(v) for k, v in refs.items()}
        if refs and isinstance(refs[0], list | tuple):
            return [lookup(r) for r in refs]
        return lookup(refs)

    model = Functional(structure(input_refs), structure(output_refs), name=name, seed=seed)
    by_name = {layer.name: layer for layer in layers if not getattr(layer, "is_operation", False)}
    if set(by_name) == {layer.name for layer in model.layers}:
        model.layers = [layer for layer in layers if layer.name in by_name]  # the saved (weights) order
    return model


def _operation_class(spec: dict):
    from scratchnet.layers import operations

    return {"Add": operations.Add, "Multiply": operations.Multiply}.get(spec["class_name"])


def _key(ref) -> tuple:
    """A saved ``[layer name, node index, tensor index]`` as the key of the tensor it names."""
    return (ref[0], ref[1], ref[2] if len(ref) > 2 else 0)


def keras_calls(spec: dict, where: str) -> list:
    """A Keras layer entry's ``inbound_nodes`` as ``[(refs, as_list), ...]``."""
    calls = []
    for node in spec.get("inbound_nodes") or []:
        if not isinstance(node, dict) or not isinstance(node.get("args"), list):
            raise ValueError(f'{where}: layer "{spec.get("name")}" has an inbound node scratchnet '
                             f"does not read (one positional tensor argument or list of tensors "
                             f"expected): {node!r:.200}")
        # Keras records two keyword arguments that change nothing when the graph runs again:
        # ``mask: None`` (no explicit mask) and ``training`` (the model's own call passes its
        # ``training`` to every layer over it, as Keras' Functional does). Others are refused,
        # but for a layer called on several tensors (MultiHeadAttention(query, value, key=...)).
        kwargs = {k: v for k, v in (node.get("kwargs") or {}).items()
                  if k != "training" and not (k == "mask" and v is None)}
        # (one tensor with plain keyword values, ReversibleEmbedding(h, reverse=True), goes the
        # same way: the layer's own __call__ must take the keywords, checked when it is called)
        plain_keywords = bool(kwargs) and not isinstance(node["args"][0], list)
        if len(node["args"]) != 1 or plain_keywords or any(_is_tensor_spec(v) for v in kwargs.values()):
            calls.append(_several_args_call(node["args"], kwargs, spec, where))
            continue
        arg = node["args"][0]
        as_list = isinstance(arg, list)
        items = arg if as_list else [arg]
        refs = []
        for item in items:
            history = (item.get("config") or {}).get("keras_history") if isinstance(item, dict) \
                else None
            if not isinstance(history, list | tuple) or len(history) != 3:
                raise ValueError(f'{where}: layer "{spec.get("name")}" reads {item!r:.120}, not a '
                                 "tensor of the graph")
            refs.append(list(history))
        calls.append((refs, as_list, kwargs) if kwargs else (refs, as_list))
    return calls


def _is_tensor_spec(item) -> bool:
    """A tensor of the graph in a saved call, or a list of them (``initial_state``)."""
    if isinstance(item, list) and item:
        return all(_is_tensor_spec(v) for v in item)
    return isinstance(item, dict) and item.get("class_name") == "__keras_tensor__"


def _history(item, spec: dict, where: str) -> list:
    history = (item.get("config") or {}).get("keras_history") if isinstance(item, dict) else None
    if not isinstance(history, list | tuple) or len(history) != 3:
        raise ValueError(f'{where}: layer "{spec.get("name")}" reads {item!r:.120}, not a '
                         "tensor of the graph")
    return list(history)


def _several_args_call(args: list, kwargs: dict, spec: dict, where: str) -> tuple:
    """``(refs, False, kwargs)`` of a call on several tensors: the positional tensors' refs, then
    those of the tensor keywords in name order (written TENSOR in ``kwargs``)."""
    refs = [_history(item, spec, where) for item in args]
    for k in sorted(kwargs):
        if _is_tensor_spec(kwargs[k]):
            items = kwargs[k] if isinstance(kwargs[k], list) else [kwargs[k]]
            refs += [_history(item, spec, where) for item in items]
    named = {}
    for key, value in kwargs.items():
        if _is_tensor_spec(value):
            named[key] = [TENSOR] * len(value) if isinstance(value, list) else TENSOR
        elif isinstance(value, bool | int | float | str) or value is None:
            named[key] = value
        else:
            raise ValueError(f'{where}: layer "{spec.get("name")}" is called with {key}='
                             f"{value!r:.120}, which scratchnet does not read")
    return refs, False, named


def compile_functional(model, config: dict, where: str, loss_from, metric_from) -> None:
    """``model.compile`` from a compile config with per-output losses, weights and metrics."""
    def losses(spec):
        if spec is None:  # compiled without a loss (Model.compile)
            return None
        if isinstance(spec, dict) and "class_name" not in spec:
            return {k: None if v is None else loss_from(v, where) for k, v in spec.items()}
        if isinstance(spec, list):
            return [None if v is None else loss_from(v, where) for v in spec]
        return loss_from(spec, where)

    def metrics(spec):
        if spec is None:
            return None
        if isinstance(spec, dict) and "class_name" not in spec:
            return {k: metrics(v) for k, v in spec.items()}
        if isinstance(spec, list):
            return [metrics(v) if isinstance(v, list) else metric_from(v, where) for v in spec]
        return metric_from(spec, where)

    from scratchnet.saving_keras import _optimizer_from_keras

    model.compile(optimizer=_optimizer_from_keras(config.get("optimizer", "rmsprop"), where),
                  loss=losses(config.get("loss")), loss_weights=config.get("loss_weights"),
                  metrics=metrics(config.get("metrics")),
                  weighted_metrics=metrics(config.get("weighted_metrics")))


def keras_compile_config(model, base: dict, loss_spec, metric_spec) -> dict:
    """Keras' compile config for several outputs: ``loss`` and ``metrics`` as lists in output
    order, ``loss_weights`` as given. ``base`` is the one-output config (optimizer, flags)."""
    config = dict(base)
    from scratchnet.losses import AddedLossesOnly

    if model.multi_output and not isinstance(model.loss, AddedLossesOnly):  # (no loss: None)
        config["loss"] = [None if loss is None else loss_spec(loss) for loss in model.output_losses]
        config["loss_weights"] = list(model.loss_weights)
        names = model.output_metric_names
        config["metrics"] = [[m if isinstance(m, str) else metric_spec(m) for m in ms]
                             for ms in names] if any(names) else None
        if model._output_keys is not None:  # a dict of outputs: keyed as the user gave them
            keys = model._target_names
            config["loss"] = dict(zip(keys, config["loss"], strict=True))
            config["loss_weights"] = dict(zip(keys, config["loss_weights"], strict=True))
            if config["metrics"] is not None:
                config["metrics"] = dict(zip(keys, config["metrics"], strict=True))
    return config


def load_keras_archive(archive, where: str, custom_objects, compile: bool, seed):
    """A scratchnet functional model from a ``.keras`` archive holding a ``Functional`` config."""
    from scratchnet import saving_keras as sk

    model = functional_from_config(archive.config, where, sk._with_registered(custom_objects),
                                   compile, seed, archive.assets)
    with sk._open_h5(archive.weights, f"{where} ({sk.WEIGHTS_FILE})") as f:
        weights = sk._read_layer_weights(f, model, where)
        stores = sk.own_variable_stores(f, model, where)
        optimizer_state = sk._read_optimizer_state(f, model, where) if model.compiled else None
    sk._set_weights(model, weights, where)
    sk.run_load_hooks(model, stores, archive.assets)
    if optimizer_state is not None:
        sk._set_optimizer_state(model, optimizer_state)
    return model


def functional_from_config(config: dict, where: str, custom_objects, compile: bool, seed,
                           assets: dict):
    """A scratchnet functional model from Keras' ``Functional`` config, fresh weights."""
    from scratchnet import saving_keras as sk

    inner = config.get("config")
    if not isinstance(inner, dict) or not isinstance(inner.get("layers"), list):
        raise ValueError(f"{where}: the Functional config has no list of layers")
    specs = inner["layers"]
    paths = sk.layer_paths([s.get("class_name", "?") for s in specs])
    layers, calls = [], []
    for spec, path in zip(specs, paths, strict=True):
        if not isinstance(spec, dict) or not isinstance(spec.get("class_name"), str):
            raise ValueError(f"{where}: config.json has a malformed layer entry: {spec!r:.200}")
        if spec["class_name"] == "InputLayer":
            cfg = spec.get("config") or {}
            batch_shape = cfg.get("batch_shape") or [None, *cfg.get("shape", [])]
            dtype = cfg.get("dtype")
            dtype = dtype.get("config", {}).get("name") if isinstance(dtype, dict) else dtype
            from scratchnet import config as sn_config

            batch = batch_shape[0] if isinstance(batch_shape[0], int) else None  # stateful RNNs' batch
            layers.append(InputLayer(tuple(batch_shape[1:]), batch_size=batch,
                                     dtype=None if dtype == sn_config.floatx() else dtype,
                                     name=cfg.get("name", spec.get("name"))))
            calls.append([])
            continue
        if spec.get("module") == "keras.src.ops.numpy":  # an operation (x + 3.0), not a layer
            op, op_calls = keras_operation(spec, where)
            layers.append(op)
            calls.append(op_calls)
            continue
        layers.append(sk.build_entry(spec, where, custom_objects, assets, path))
        calls.append(keras_calls(spec, where))
    model = rebuild(layers, calls, inner.get("input_layers"), inner.get("output_layers"),
                    inner.get("name", "functional"), seed, where)
    if inner.get("trainable") is False:  # Keras' Functional(..., trainable=False): every layer frozen
        model.trainable = False
    # scratchnet lists a nested Sequential's layers one by one; Keras' files keep its weights
    # together (layers/sequential/layers/... in .keras, one group in .h5)
    sk.record_units(model, layers)
    compile_config = config.get("compile_config") if compile else None
    if compile_config:
        try:
            compile_functional(model, compile_config, where, sk._loss_from_keras,
                               sk._metric_from_keras)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where} (compile_config): {err}") from err
    return model


def load_npz_config(cfg: dict, arrays: dict, known: dict, where: str):
    """A functional model from scratchnet's ``.npz`` config (weights set by the caller)."""
    layers, calls = [], []
    for spec in cfg["layers"]:
        if spec["class_name"] == "InputLayer":
            c = spec["config"]
            # (InputLayer.get_config's batch_shape, or the shape and batch_size older files hold;
            # the float type written out means floatx, as Input() with no dtype)
            from scratchnet import config as sn_config

            dtype = None if c.get("dtype") == sn_config.floatx() else c.get("dtype")
            layers.append(InputLayer(**{**c, "dtype": dtype}))
            calls.append([])
            continue
        cls = _operation_class(spec) if spec.get("operation") else known.get(spec["class_name"])
        if cls is None:
            raise ValueError(f"{where} uses layer class {spec['class_name']!r}, which is not a "
                             "scratchnet layer; pass it in custom_objects={'Name': Class}")
        try:
            layers.append(cls(**with_cell_built(spec["config"], known)))
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where} has an invalid config for layer {spec['class_name']!r}: "
                             f"{err}") from err
        calls.append([tuple(call) for call in spec["calls"]])
    inputs = cfg["input_layers"]
    if cfg.get("inputs_as_dict"):
        inputs = {ref[0]: ref for ref in inputs}
    elif len(inputs) == 1:
        inputs = inputs[0]
    outputs = cfg["output_layers"] if cfg.get("outputs_as_list") else cfg["output_layers"][0]
    if cfg.get("output_keys") is not None:  # a dict of outputs: the refs in sorted-key order
        outputs = tree.pack_sequence_as(dict.fromkeys(cfg["output_keys"]), outputs)
    return rebuild(layers, calls, inputs, outputs, cfg.get("name", "functional"), cfg.get("seed"),
                   where)
