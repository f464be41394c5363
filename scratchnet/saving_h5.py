"""Keras' legacy HDF5 files: ``model.save("m.h5")`` and Keras 2's ``save_weights("w.h5")``,
written and read without Keras.

Keras 3 still writes full-model files (with a warning that they are legacy) and reads both kinds;
older course notebooks save their models this way (``model.save("rps.h5")``) and hand out
pretrained weights as legacy weights files (``inception_v3_weights_tf_dim_ordering_tf_kernels_
notop.h5``). One HDF5 file (``keras/src/legacy/saving/legacy_h5_format.py``)::

    attrs   backend, keras_version
            model_config     JSON {"class_name": "Sequential" or "Functional", "config": {...}}:
                             the same config as a .keras file's config.json
            training_config  JSON {"loss", "metrics", "weighted_metrics", "loss_weights",
                             "optimizer_config": {"class_name", "config"}, ...} (compiled models)
    model_weights/                        attrs layer_names: every layer, in order
        <layer name>/                     attrs weight_names: paths below this group
            <model>/<layer>/kernel, bias  the arrays: trainable ones, then non-trainable
        top_level_model_weights/          (empty: a model's own variables, outside its layers)
    (scratchnet adds an attribute ``scratchnet``, JSON {"seed": ...}, which Keras ignores)
    optimizer_weights/                    attrs weight_names: the optimizer's variables in order
        ...                               (iterations, learning rate, slots: as in a .keras file)

A weights file is ``model_weights`` alone, at the root (``layer_names`` on the root; Keras 2
named the arrays ``dense_1/kernel:0``). A list attribute too long for one HDF5 object header is
split into ``layer_names0``, ``layer_names1``, ...

Keras matches saved layers to the layers that have weights by their order, not by name (or by
name with ``load_weights(..., by_name=True)``); so does scratchnet. Each layer's arrays are in
Keras' legacy order, ``trainable_weights + non_trainable_weights`` (:func:`legacy_weights`);
Keras 3 converts nothing else (it dropped Keras 2's Keras-1 and CuDNN conversions).
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import h5py
import numpy as np

from scratchnet import saving_functional, saving_keras


def save_model(model, path) -> None:
    """Write ``model`` to ``path`` (``.h5``) atomically, as Keras 3's ``model.save("m.h5")``."""
    from scratchnet import kernels
    from scratchnet.model import Model
    from scratchnet.saving import _atomic_write

    model._require_built("save")
    where = f"save: {str(path)!r}"
    for layer in model.layers:
        if getattr(layer, "keras_own_variables", dict)():
            raise ValueError(f'{where}: layer "{layer.name}" keeps state the legacy HDF5 format has no '
                             "place for (TextVectorization's tf_idf weights); save the model as .keras")
    warnings.warn("saving as a legacy HDF5 file (.h5), as Keras 3 still does on request; the native "
                  "format is .keras (model.save('m.keras'))", UserWarning, stacklevel=4)
    config = saving_keras.model_config(model)
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f.attrs["backend"] = "tensorflow"
        f.attrs["keras_version"] = saving_keras.KERAS_VERSION
        f.attrs["model_config"] = _json({"class_name": config["class_name"], "config": config["config"]})
        f.attrs["scratchnet"] = _json({"seed": model.seed})  # Keras ignores attributes it does not know
        group = f.create_group("model_weights")
        group.attrs["backend"] = "tensorflow"
        group.attrs["keras_version"] = saving_keras.KERAS_VERSION
        layers = saving_functional.file_layers(model)  # (a nested model's layers: Keras' flat order)
        units = [(layer.name, [layer], f"{model.name}/") for layer in layers]
        if model._holds_functional():
            # a Sequential holding a functional model: its config nests the model, so does the
            # file, as Keras writes it (one group, the model's trainable weights then the others)
            units = [(entry.name, list(entry.layers), "") if isinstance(entry, Model)
                     else (entry.name, [entry], f"{model.name}/") for entry in model._entries()]
        group.attrs["layer_names"] = [name.encode() for name, _, _ in units]
        for name, members, owner in units:
            paths = {id(p): f"{owner}{prefix}/{p.name.split('/')[-1]}"  # Keras' variable paths
                     for layer in members
                     for _, prefix, params in saving_keras.weight_groups(layer) for p in params}
            params = legacy_weights(*members)
            layer_group = group.create_group(name)
            layer_group.attrs["weight_names"] = [paths[id(p)].encode() for p in params]
            for param in params:
                layer_group[paths[id(param)]] = kernels.to_numpy(param.value)
        group.create_group("top_level_model_weights").attrs["weight_names"] = []  # as Keras writes
        if model.compiled:
            compile_config = config["compile_config"]
            optimizer = compile_config["optimizer"]
            f.attrs["training_config"] = _json({
                "loss": compile_config["loss"], "loss_weights": compile_config.get("loss_weights"),
                "metrics": _h5_metrics(compile_config["metrics"]),
                "weighted_metrics": _h5_metrics(compile_config["weighted_metrics"]),
                "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False,
                "optimizer_config": {"class_name": optimizer["class_name"], "config": optimizer["config"]}})
            values = saving_keras._optimizer_variables(model)
            opt_name = model.optimizer.name
            names = [f"{opt_name}/{name}" for name in ("iteration", "learning_rate")[:len(values)]]
            names += [f"{opt_name}/variable_{i}" for i in range(len(names), len(values))]
            opt_group = f.create_group("optimizer_weights")
            opt_group.attrs["weight_names"] = [name.encode() for name in names]
            for name, value in zip(names, values, strict=True):
                opt_group[name] = value
    _atomic_write(Path(path), buffer.getvalue())


def _json(value) -> str:
    return json.dumps(value, default=saving_keras._json_value)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def load_model(path, custom_objects: dict | None = None, compile: bool = True):
    """Rebuild the model saved at ``path`` (a legacy ``.h5`` file, by Keras or by scratchnet): a
    ``Sequential`` or a functional model, with the same layers, weights, compile settings and
    optimizer state. Everything is checked before the model is returned; what scratchnet cannot
    represent raises ``ValueError`` naming the file and the reason."""
    path = Path(path)
    where = f"load_model: {str(path)!r}"
    if not path.is_file():
        raise FileNotFoundError(f"load_model: no file at {str(path)!r}")
    f = _open(path, where)
    with f:
        if "model_config" not in f.attrs:
            if "layers" in f or "vars" in f or "model_weights" in f or "layer_names" in f.attrs:
                raise ValueError(f"{where} holds weights only (no model_config): build the model and "
                                 "call model.load_weights with it")
            raise ValueError(f"{where} holds no Keras model (no model_config attribute)")
        try:
            config = json.loads(_text(f.attrs["model_config"]))
        except json.JSONDecodeError as err:
            raise ValueError(f"{where}: its model_config is not JSON: {err}") from err
        seed = None
        if "scratchnet" in f.attrs:  # written by scratchnet: the model's seed (as a .keras file's metadata)
            meta = json.loads(_text(f.attrs["scratchnet"]))
            seed = meta.get("seed") if isinstance(meta, dict) and isinstance(meta.get("seed"), int) else None
        kind = config.get("class_name") if isinstance(config, dict) else type(config).__name__
        if kind == "Functional":  # Keras' keras.Model(inputs, outputs), the .keras config's twin
            from scratchnet import saving_functional

            model = saving_functional.functional_from_config(
                config, where, saving_keras._with_registered(custom_objects), False, seed, {})
        elif kind == "Sequential":
            if not isinstance(config.get("config"), dict) or \
                    not isinstance(config["config"].get("layers"), list):
                raise ValueError(f"{where}: its model_config has no list of layers")
            model = saving_keras.model_from_config(config, where, custom_objects, compile=False,
                                                   seed=seed)
            if not model.built:
                raise ValueError(f"{where}: the model has no input shape to build it with (no "
                                 "InputLayer or build_input_shape)")
        else:
            raise ValueError(f"{where} holds a model of class {kind!r}; scratchnet reads legacy HDF5 "
                             "files of Sequential and functional models")
        training = f.attrs.get("training_config") if compile else None
        if training is not None:
            _compile(model, json.loads(_text(training)), where)
        group = f.get("model_weights")
        if not isinstance(group, h5py.Group):
            raise ValueError(f"{where} has no model_weights group")
        weights = _weights_by_order(_saved_layers(group, where), group, model, where, skip_mismatch=False)
        state = None
        if model.compiled and isinstance(f.get("optimizer_weights"), h5py.Group):
            opt_group = f["optimizer_weights"]
            arrays = [np.asarray(opt_group[name][()]) for name in _names(opt_group, "weight_names")]
            state = saving_keras.optimizer_state_from_arrays(arrays, model, where)
    _assign(model, weights, where)
    if state is not None:
        saving_keras._set_optimizer_state(model, state)
    return model


def _compile(model, tc: dict, where: str) -> None:
    """``model.compile`` from an ``.h5`` training config (Keras'
    ``compile_args_from_training_config``): the ``.keras`` compile config under other keys."""
    config = {"optimizer": tc.get("optimizer_config") or "rmsprop", "loss": tc.get("loss"),
              "metrics": tc.get("metrics"), "weighted_metrics": tc.get("weighted_metrics"),
              "loss_weights": tc.get("loss_weights")}
    if hasattr(model, "_nodes"):
        from scratchnet import saving_functional

        try:
            saving_functional.compile_functional(model, config, where, saving_keras._loss_from_keras,
                                                 saving_keras._metric_from_keras)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where} (training_config): {err}") from err
    else:
        saving_keras._compile_from_config(model, config, where)


# ================================================================================ weights
def legacy_weights(*layers) -> list:
    """A layer's weights in the order legacy ``.h5`` files keep them (Keras'
    ``_legacy_weights``): its trainable weights, then the non-trainable ones. For most layers this
    is ``layer.weights``; a frozen layer has only non-trainable ones, in the same order. Several
    layers (a Sequential that Keras holds as one layer of a functional model): all their
    trainable weights, then all their non-trainable ones."""
    return ([p for layer in layers for p in layer.trainable_weights]
            + [p for layer in layers for p in layer.non_trainable_weights])


def _open(path: Path, where: str) -> h5py.File:
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise ValueError(f"{where} is not a readable HDF5 file (truncated or corrupt): {err}") from err


def _names(group, name: str) -> list[str]:
    """The list attribute ``name`` of ``group``; Keras splits one too long for an HDF5 object
    header into ``name0``, ``name1``, ... (``save_attributes_to_hdf5_group``)."""
    if name in group.attrs:
        return [_text(n) for n in group.attrs[name]]
    names, chunk = [], 0
    while f"{name}{chunk}" in group.attrs:
        names += [_text(n) for n in group.attrs[f"{name}{chunk}"]]
        chunk += 1
    return names


def _saved_layers(group: h5py.Group, where: str) -> list[tuple[str, list[np.ndarray]]]:
    """``(layer name, its arrays)`` for every layer the file names (``layer_names``), in that
    order; the arrays in ``weight_names`` order (a weight name is a path under the layer's group:
    Keras 2 wrote ``dense_1/kernel:0``, Keras 3 writes ``dense_1/kernel``)."""
    saved = []
    for layer_name in _names(group, "layer_names"):
        layer_group = group.get(layer_name)
        if not isinstance(layer_group, h5py.Group):
            raise ValueError(f"{where}: the file names layer {layer_name!r} but holds no group for it")
        arrays = []
        for weight_name in _names(layer_group, "weight_names"):
            item = layer_group.get(weight_name)
            if not isinstance(item, h5py.Dataset):
                raise ValueError(f"{where}: layer {layer_name!r} names weight {weight_name!r} but "
                                 "holds no array for it")
            arrays.append(np.asarray(item[()]))
        saved.append((layer_name, arrays))
    return saved


def _top_level(group: h5py.Group, where: str) -> list[np.ndarray]:
    """The arrays of ``top_level_model_weights`` (a model's own variables, outside any layer:
    Keras 3 writes the group, empty for every model scratchnet has)."""
    top = group.get("top_level_model_weights")
    if not isinstance(top, h5py.Group):
        return []
    return [np.asarray(top[name][()]) for name in _names(top, "weight_names")]


def _checked(params: list, arrays: list[np.ndarray], what: str, skip_mismatch: bool, where: str) -> list:
    """``(param, array)`` for each weight whose shape fits; a misfit raises Keras' error, or with
    ``skip_mismatch`` is left as it is, with Keras' warning."""
    pairs = []
    for param, array in zip(params, arrays, strict=True):
        expected, received = tuple(param.value.shape), tuple(array.shape)
        if expected != received:
            if skip_mismatch:
                warnings.warn(f"Skipping loading weights for {what} due to mismatch in shape for "
                              f"weight {param.name}. Weight expects shape {expected}. Received saved "
                              f"weight with shape {received}", stacklevel=4)
                continue
            raise ValueError(f"{where}: Shape mismatch in {what} for weight {param.name}. Weight "
                             f"expects shape {expected}. Received saved weight with shape {received}")
        pairs.append((param, array))
    return pairs


def _units(model, saved) -> list:
    """The model's layers as Keras' file lists them (:func:`saving_keras.keras_units`: a nested
    Sequential as one), or one by one when the file names them so (scratchnet wrote it)."""
    units = saving_keras.keras_units(model)
    names = {name for name, _ in saved}
    if any(class_name in ("Sequential", "Functional") and name not in names for name, class_name, _ in units):
        return saving_keras.keras_units(model, flat=True)
    return units


def _weights_by_order(saved, group, model, where: str, skip_mismatch: bool) -> list:
    """Keras' topological rule (``load_weights_from_hdf5_group``): the k-th saved layer that has
    weights goes to the k-th layer of the model that has weights, whatever their names; the
    counts of layers, and of weights in each, must agree."""
    layers = [(name, members) for name, _, members in _units(model, saved)
              if legacy_weights(*members)]
    saved = [(name, arrays) for name, arrays in saved if arrays]
    if len(saved) != len(layers):
        hint = ""
        if not saved and ("layers" in group or "vars" in group):
            hint = (" (the file has Keras 3's .weights.h5 layout: give it a name ending in "
                    ".weights.h5)")
        raise ValueError(f"{where}: Layer count mismatch when loading weights from file. Model "
                         f"expected {len(layers)} layers, found {len(saved)} saved layers.{hint}")
    pairs = []
    for k, ((name, arrays), (layer_name, members)) in enumerate(zip(saved, layers, strict=True)):
        params = legacy_weights(*members)
        if len(arrays) != len(params):
            raise ValueError(f"{where}: Weight count mismatch for layer #{k} (named {layer_name} in "
                             f"the current model, {name} in the save file). Layer expects "
                             f"{len(params)} weight(s). Received {len(arrays)} saved weight(s)")
        pairs += _checked(params, arrays, f"layer #{k} (named {layer_name})", skip_mismatch, where)
    top = _top_level(group, where)
    if top:
        raise ValueError(f"{where}: Weight count mismatch for top-level weights when loading weights "
                         f"from file. Model expects 0 top-level weight(s). Received {len(top)} saved "
                         "top-level weight(s)")
    return pairs


def _weights_by_name(saved, group, model, where: str, skip_mismatch: bool) -> list:
    """Keras' ``by_name=True`` rule (``load_weights_from_hdf5_group_by_name``): each saved layer
    goes to the model's layers of the same name; layers with no saved twin keep their weights.
    A count or shape mismatch raises, or with ``skip_mismatch`` is skipped with a warning."""
    by_name: dict[str, list] = {}
    for layer_name, _, members in _units(model, saved):
        by_name.setdefault(layer_name, []).append(members)
    pairs = []
    for k, (name, arrays) in enumerate(saved):
        for members in by_name.get(name, []):
            params = legacy_weights(*members)
            if len(arrays) != len(params):
                counts = (f"Layer expects {len(params)} weight(s). Received {len(arrays)} saved "
                          "weight(s)")
                if skip_mismatch:
                    warnings.warn(f"Skipping loading of weights for layer #{k} (named {name}) "
                                  f"due to mismatch in number of weights. {counts}", stacklevel=3)
                    continue
                raise ValueError(f"{where}: Weight count mismatch for layer #{k} (named "
                                 f"{name}). {counts}")
            pairs += _checked(params, arrays, f"layer #{k} (named {name})", skip_mismatch, where)
    top = _top_level(group, where)
    if top:
        message = (f"Model expects 0 top-level weight(s). Received {len(top)} saved top-level "
                   "weight(s)")
        if not skip_mismatch:
            raise ValueError(f"{where}: Weight count mismatch for top-level weights of model. {message}")
        warnings.warn("Skipping loading top-level weights for model due to mismatch in number of "
                      f"weights. {message}", stacklevel=3)
    return pairs


def _assign(model, pairs: list, where: str) -> None:
    """Give each ``(param, array)`` its array, all checked first (``set_weights``: finite values,
    shapes), so a refused file leaves the model as it was."""
    position = {id(param): i for i, param in enumerate(model.weights)}
    values = model.get_weights()
    for param, array in pairs:
        values[position[id(param)]] = array
    saving_keras._set_weights(model, values, where)


def load_weights(model, path, by_name: bool = False, skip_mismatch: bool = False) -> None:
    """``model.load_weights("w.h5")``: a legacy HDF5 weights file (Keras 2's
    ``save_weights("w.h5")``, the pretrained files of Keras Applications) or the weights inside a
    legacy full-model ``.h5`` file, by layer order or, with ``by_name=True``, by layer name."""
    path_str = str(path)
    where = f"load_weights: {path_str!r}"
    if not Path(path).is_file():
        raise FileNotFoundError(f"load_weights: no file at {path_str!r}")
    with _open(Path(path), where) as f:
        group = f
        if not _names(f, "layer_names") and isinstance(f.get("model_weights"), h5py.Group):
            group = f["model_weights"]  # a full-model file: its weights (Keras' rule)
        saved = _saved_layers(group, where)
        read = _weights_by_name if by_name else _weights_by_order
        pairs = read(saved, group, model, where, skip_mismatch)
    _assign(model, pairs, where)


def _h5_metrics(metrics):
    """Keras writes a metric function into an ``.h5`` training config by its name (in a list per
    output for a model of several outputs)."""
    if not metrics:
        return metrics
    return [_h5_metrics(m) if isinstance(m, list)
            else m["config"] if isinstance(m, dict) and m.get("class_name") == "function" else m
            for m in metrics]
