"""Keras' legacy HDF5 full-model format, ``model.save("m.h5")``, written and read without Keras.

Keras 3 still writes it (with a warning that it is legacy) and reads it, and older course notebooks
save their models this way (``model.save("rps.h5")``). One HDF5 file
(``keras/src/legacy/saving/legacy_h5_format.py``)::

    attrs   backend, keras_version
            model_config     JSON {"class_name": "Sequential", "config": {... "layers": [...]}}:
                             the same layer configs as a .keras file's config.json
            training_config  JSON {"loss", "metrics", "weighted_metrics", "loss_weights",
                             "optimizer_config": {"class_name", "config"}, ...} (compiled models)
    model_weights/                        attrs layer_names: every layer, in order
        <layer name>/                     attrs weight_names: paths below this group
            <model>/<layer>/kernel, bias  the arrays, in get_weights() order
    (scratchnet adds an attribute ``scratchnet``, JSON {"seed": ...}, which Keras ignores)
    optimizer_weights/                    attrs weight_names: the optimizer's variables in order
        ...                               (iterations, learning rate, slots: as in a .keras file)

Keras matches the weights to the layers that have weights by their order, not by name; so does
scratchnet. Sequential models only: a functional model raises ``ValueError`` (save it as
``.keras``).
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import h5py
import numpy as np

from scratchnet import saving_keras


def save_model(model, path) -> None:
    """Write ``model`` to ``path`` (``.h5``) atomically, as Keras 3's ``model.save("m.h5")``."""
    from scratchnet import kernels
    from scratchnet.saving import _atomic_write

    model._require_built("save")
    where = f"save: {str(path)!r}"
    if hasattr(model, "_nodes"):
        raise ValueError(f"{where}: scratchnet writes legacy HDF5 files for Sequential models only; "
                         "save this functional model as .keras")
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
        group.attrs["layer_names"] = [layer.name.encode() for layer in model.layers]
        for layer in model.layers:
            names = [f"{model.name}/{prefix}/{p.name.split('/')[-1]}"  # Keras' variable paths
                     for _, prefix, params in saving_keras.weight_groups(layer) for p in params]
            layer_group = group.create_group(layer.name)
            layer_group.attrs["weight_names"] = [name.encode() for name in names]
            for name, param in zip(names, layer.weights, strict=True):  # trainable, then the rest
                layer_group[name] = kernels.to_numpy(param.value)
        if model.compiled:
            compile_config = config["compile_config"]
            optimizer = compile_config["optimizer"]
            f.attrs["training_config"] = _json({
                "loss": compile_config["loss"], "loss_weights": None,
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
    """Rebuild the ``keras.Sequential`` saved at ``path`` (a legacy ``.h5`` file, by Keras or by
    scratchnet): same layers, weights, compile settings and optimizer state. Everything is
    checked before the model is returned; what scratchnet cannot represent raises ``ValueError``
    naming the file and the reason."""
    from scratchnet.model import Sequential

    path = Path(path)
    where = f"load_model: {str(path)!r}"
    if not path.is_file():
        raise FileNotFoundError(f"load_model: no file at {str(path)!r}")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(f"{where} is not a readable HDF5 file (truncated or corrupt): {err}") from err
    with f:
        if "model_config" not in f.attrs:
            if "layers" in f or "vars" in f or "model_weights" in f or "layer_names" in f.attrs:
                raise ValueError(f"{where} holds weights only (no model_config): build the model and "
                                 "call model.load_weights with a .weights.h5 or .keras file")
            raise ValueError(f"{where} holds no Keras model (no model_config attribute)")
        try:
            config = json.loads(_text(f.attrs["model_config"]))
        except json.JSONDecodeError as err:
            raise ValueError(f"{where}: its model_config is not JSON: {err}") from err
        if isinstance(config, dict) and config.get("class_name") in ("Functional", "Model"):
            raise ValueError(f"{where} holds a Keras functional model; scratchnet reads legacy HDF5 "
                             "files of Sequential models (open it in Keras and save it as .keras)")
        if not isinstance(config, dict) or config.get("class_name") != "Sequential":
            kind = config.get("class_name") if isinstance(config, dict) else type(config).__name__
            raise ValueError(f"{where} holds a model of class {kind!r}; scratchnet reads legacy HDF5 "
                             "files of Sequential models")
        if not isinstance(config.get("config"), dict) or not isinstance(config["config"].get("layers"), list):
            raise ValueError(f"{where}: its model_config has no list of layers")
        specs, input_shape, name = saving_keras._sequential_spec(config, where)
        paths = saving_keras.layer_paths([spec["class_name"] for spec in specs])
        layers = [saving_keras._build_layer(spec, where, saving_keras._with_registered(custom_objects),
                                            {}, lpath)
                  for spec, lpath in zip(specs, paths, strict=True)]
        seed = None
        if "scratchnet" in f.attrs:  # written by scratchnet: the model's seed (as a .keras file's metadata)
            meta = json.loads(_text(f.attrs["scratchnet"]))
            seed = meta.get("seed") if isinstance(meta, dict) and isinstance(meta.get("seed"), int) else None
        model = Sequential(layers, seed=seed, name=name)
        if input_shape is None:
            raise ValueError(f"{where}: the model has no input shape to build it with (no InputLayer "
                             "or build_input_shape)")
        model.build((None, *input_shape))  # with the batch axis, as Keras builds
        training = f.attrs.get("training_config") if compile else None
        if training is not None:
            tc = json.loads(_text(training))
            saving_keras._compile_from_config(model, {
                "optimizer": tc.get("optimizer_config") or "rmsprop", "loss": tc.get("loss"),
                "metrics": tc.get("metrics"), "weighted_metrics": tc.get("weighted_metrics"),
                "loss_weights": tc.get("loss_weights")}, where)
        weights = _read_weights(f, model, where)
        state = None
        if model.compiled and isinstance(f.get("optimizer_weights"), h5py.Group):
            group = f["optimizer_weights"]
            arrays = [np.asarray(group[_text(n)][()]) for n in group.attrs.get("weight_names", [])]
            state = saving_keras.optimizer_state_from_arrays(arrays, model, where)
    saving_keras._set_weights(model, weights, where)
    if state is not None:
        saving_keras._set_optimizer_state(model, state)
    return model


def _read_weights(f: h5py.File, model, where: str) -> list[np.ndarray]:
    """The arrays of ``model_weights``, layer by layer in the file's order, matched to the model's
    layers that have weights by position (as Keras does), shapes checked."""
    group = f.get("model_weights")
    if not isinstance(group, h5py.Group):
        raise ValueError(f"{where} has no model_weights group")
    saved = []  # (layer name in the file, its arrays) for each layer that has weights
    for layer_name in group.attrs.get("layer_names", []):
        layer_group = group.get(_text(layer_name))
        if not isinstance(layer_group, h5py.Group):
            raise ValueError(f"{where}: model_weights has no group for layer {_text(layer_name)!r}")
        arrays = [np.asarray(layer_group[_text(n)][()]) for n in layer_group.attrs.get("weight_names", [])]
        if arrays:
            saved.append((_text(layer_name), arrays))
    layers = [layer for layer in model.layers if layer.weights]
    if len(saved) != len(layers):
        raise ValueError(f"{where} holds weights for {len(saved)} layers, the model has {len(layers)} "
                         "layers with weights")
    weights = []
    for (saved_name, arrays), layer in zip(saved, layers, strict=True):
        expected = [param.value.shape for param in layer.weights]
        if [a.shape for a in arrays] != expected:
            raise ValueError(f'{where}: layer "{saved_name}" holds arrays of shapes '
                             f'{[a.shape for a in arrays]}, layer "{layer.name}" expects {expected}')
        weights += arrays
    return weights


def _h5_metrics(metrics):
    """Keras writes a metric function into an ``.h5`` training config by its name."""
    if not metrics:
        return metrics
    return [m["config"] if isinstance(m, dict) and m.get("class_name") == "function" else m
            for m in metrics]
