"""Saving and loading a Sequential: which format a path means, and scratchnet's own ``.npz``.

``model.save(path)`` and :func:`load_model` choose the format from the extension: ``.keras`` is
Keras 3's native zip archive (:mod:`scratchnet.saving_keras`), ``.npz`` scratchnet's own format,
described here, ``.h5`` (or ``.hdf5``) Keras' legacy HDF5 file (:mod:`scratchnet.saving_h5`,
Sequential and functional models); anything else is refused, naming them.

The ``.npz`` file holds ``format_version``, ``config`` (the architecture and compile settings as JSON
text), ``weight_<i>`` arrays in ``get_weights()`` order, and the optimizer's ``iterations`` and
state arrays (``optimizer/<parameter name>/<slot>``). It is written to a temporary file in the
same folder and renamed over the target, so a crash mid-save leaves any previous file intact.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

FORMAT_VERSION = 1
EXTENSIONS = (".keras", ".npz", ".h5")


def save_model(model, path, overwrite: bool = True, **kwargs) -> None:
    """Write ``model`` to ``path``: Keras' format for ``.keras``, scratchnet's for ``.npz``
    (``keras.saving.save_model(model, filepath, overwrite=True)``; with ``overwrite=False`` an
    existing file is an error)."""
    if kwargs:
        raise ValueError(f"save_model: unexpected arguments {sorted(kwargs)}")
    if not overwrite and Path(path).exists():
        raise FileExistsError(f"save_model: {str(path)!r} exists and overwrite=False")
    suffix = Path(path).suffix
    _refuse_code(model)
    if suffix == ".keras":
        from scratchnet import saving_keras

        saving_keras.save_model(model, path)
    elif suffix == ".npz":
        _save_npz(model, path)
    elif suffix in (".h5", ".hdf5") and not str(path).endswith(".weights.h5"):
        from scratchnet import saving_h5

        saving_h5.save_model(model, path)
    else:
        raise ValueError(f"save: expected a path ending in one of {EXTENSIONS} (.keras: Keras 3's "
                         "native format, .npz: scratchnet's own, .h5: Keras' legacy HDF5), received "
                         f"filepath={str(path)!r}")


def _refuse_code(model) -> None:
    """A ``Lambda`` layer is Python code. Keras writes its bytecode into the file (and loads it
    back only with ``safe_mode=False``); scratchnet neither writes nor runs code from files."""
    from scratchnet.layers.lambda_layer import Lambda

    for layer in model.layers:
        if isinstance(layer, Lambda):
            raise ValueError(f'save: model "{model.name}" holds Lambda layer "{layer.name}" '
                             f"(function {layer.get_config()['function']}), Python code that scratchnet "
                             "does not write into model files. Save the weights instead "
                             "(model.save_weights(\"m.weights.h5\"), or ModelCheckpoint(..., "
                             "save_weights_only=True)) and rebuild the model in code")


def _save_npz(model, path) -> None:
    from scratchnet import kernels, losses, optimizers, saving_keras

    model._require_built("save")
    path = Path(path)
    cfg = None if hasattr(model, "_nodes") else model._npz_config()  # (scratchnet's own form)
    if hasattr(model, "_nodes"):  # Model(inputs, outputs): the graph (scratchnet/saving_functional.py)
        from scratchnet import saving_functional

        cfg = saving_functional.npz_config(model)
    if model.compiled and hasattr(model, "_nodes"):
        cfg["compile"] = {
            "loss": [None if loss is None else losses.serialize(loss) for loss in model.output_losses],
            "loss_weights": list(model.loss_weights),
            "optimizer": optimizers.serialize(model.optimizer),
            "metrics": [[m if isinstance(m, str) else saving_keras._metric_to_keras(m) for m in ms]
                        for ms in model.output_metric_names],
            "weighted_metrics": [m if isinstance(m, str) else saving_keras._metric_to_keras(m)
                                 for m in model.weighted_metric_names],
        }
    elif model.compiled:
        cfg["compile"] = {
            "loss": losses.serialize(model.loss),
            "optimizer": optimizers.serialize(model.optimizer),
            # metric objects as Keras' serialized dicts, so their arguments survive
            "metrics": [m if isinstance(m, str) else saving_keras._metric_to_keras(m)
                        for m in model.metric_names],
            "weighted_metrics": [m if isinstance(m, str) else saving_keras._metric_to_keras(m)
                                 for m in model.weighted_metric_names],
        }
    arrays: dict[str, np.ndarray] = {
        "format_version": np.array(FORMAT_VERSION),
        "config": np.array(json.dumps(cfg)),
    }
    for i, w in enumerate(model.get_weights()):
        arrays[f"weight_{i}"] = w
    if model.compiled:
        arrays["optimizer_iterations"] = np.array(model.optimizer.calls)
        if hasattr(model.optimizer, "dynamic_scale"):  # a LossScaleOptimizer's scale and count
            arrays["optimizer_loss_scale"] = np.array(
                [model.optimizer.dynamic_scale, model.optimizer.step_counter], dtype=np.float64)
        for key, value in model.optimizer.state.items():
            arrays[f"optimizer/{key}"] = kernels.to_numpy(value)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    _atomic_write(path, buffer.getvalue())


def _atomic_write(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path``, flush it to disk, then rename over ``path``.

    The file gets the permissions ``open(path, "wb")`` would give (``0o666`` less the umask:
    ``0o644`` usually); ``mkstemp`` alone makes it readable by its owner only."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"cannot write {str(path)!r}: the folder {str(folder)!r} does not "
                                "exist (create it first, e.g. os.makedirs)")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        umask = os.umask(0)
        os.umask(umask)  # read it back (there is no way to read it without setting it)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_model(path, custom_objects: dict | None = None, compile: bool = True,
               safe_mode: bool = True):
    """Rebuild the model saved at ``path``: same architecture, weights and optimizer state.

    ``.keras``: a Keras 3 archive (saved by Keras or by scratchnet); ``.npz``: scratchnet's own
    format; ``.h5``/``.hdf5``: Keras' legacy HDF5 file of a Sequential or functional model (saved
    by Keras 2 or 3, or by scratchnet). Any other extension is refused.
    ``safe_mode`` is Keras' argument: scratchnet never runs code from a file (no ``Lambda``
    layers, no pickles), so the file is read safely either way.
    """
    if not isinstance(safe_mode, bool):
        raise TypeError(f"load_model: expected safe_mode to be True or False, received {safe_mode!r}")
    suffix = Path(path).suffix
    if suffix == ".keras":
        from scratchnet import saving_keras

        return saving_keras.load_model(path, custom_objects=custom_objects, compile=compile)
    if str(path).endswith(".weights.h5"):
        raise ValueError(f"load_model: {str(path)!r}: a .weights.h5 file holds weights only: build "
                         "the model and call model.load_weights")
    if suffix in (".h5", ".hdf5"):
        from scratchnet import saving_h5

        return saving_h5.load_model(path, custom_objects=custom_objects, compile=compile)
    if suffix != ".npz":
        raise ValueError(f"load_model: expected a path ending in one of {EXTENSIONS} (.keras: Keras "
                         f"3's native format, .npz: scratchnet's own, .h5: Keras' legacy HDF5), "
                         f"received {str(path)!r}")
    return _load_npz(path, custom_objects, compile)


def _load_npz(path, custom_objects: dict | None, compile: bool):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"load_model: no file at {str(path)!r}")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {key: f[key] for key in f.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError) as err:
        raise ValueError(f"load_model: {str(path)!r} is not a readable scratchnet model file "
                         f"(truncated or corrupt): {err}") from err
    if "format_version" not in arrays or "config" not in arrays:
        raise ValueError(f"load_model: {str(path)!r} is not a scratchnet model file "
                         "(missing format_version or config)")
    try:
        version = int(arrays["format_version"])
    except (TypeError, ValueError) as err:
        raise ValueError(f"load_model: {str(path)!r} has an unreadable format_version") from err
    if version > FORMAT_VERSION:
        raise ValueError(f"load_model: {str(path)!r} has format version {version}, newer than "
                         f"this scratchnet reads ({FORMAT_VERSION}); upgrade scratchnet")
    try:
        cfg = json.loads(str(arrays["config"]))
        if not isinstance(cfg, dict) or not isinstance(cfg.get("layers"), list):
            raise json.JSONDecodeError("expected an object with a list of layers", "", 0)
    except json.JSONDecodeError as err:
        raise ValueError(f"load_model: {str(path)!r} has a corrupt config: {err}") from err
    try:
        return _model_from_npz(path, cfg, arrays, custom_objects, compile)
    except (KeyError, TypeError, IndexError, AttributeError) as err:
        # valid JSON of the wrong shape: a missing entry, a string where a dict belongs, ...
        raise ValueError(f"load_model: {str(path)!r} has a damaged config "
                         f"({type(err).__name__}: {err})") from err


def _model_from_npz(path: Path, cfg: dict, arrays: dict, custom_objects: dict | None, compile: bool):
    """The model that a ``.npz`` file's config and arrays describe."""
    from scratchnet import layers as layers_mod
    from scratchnet import losses, optimizers, saving_keras
    from scratchnet.layers.rnn_cells import with_cell_built
    from scratchnet.model import Sequential

    known = {name: getattr(layers_mod, name) for name in layers_mod.__all__}
    # an .npz config names each layer by its class (GroupQueryAttention's is GroupedQueryAttention)
    known.update({cls.__name__: cls for cls in list(known.values()) if isinstance(cls, type)})
    from scratchnet.utils import serialization

    known.update({cls.__name__: cls for cls in serialization.get_custom_objects().values()
                  if isinstance(cls, type)})  # register_keras_serializable, by class name here
    known.update(serialization.registered_objects(custom_objects))
    layers = []
    for spec in [] if cfg.get("class_name") == "Functional" else cfg["layers"]:
        cls = known.get(spec["class_name"])
        if cls is None:
            raise ValueError(f"load_model: {str(path)!r} uses layer class "
                             f"{spec['class_name']!r}, which is not a scratchnet layer; pass it "
                             "in custom_objects={'Name': Class}")
        try:
            layers.append(cls(**with_cell_built(spec["config"], known)))
        except (TypeError, ValueError) as err:
            raise ValueError(f"load_model: {str(path)!r} has an invalid config for layer "
                             f"{spec['class_name']!r}: {err}") from err
    if cfg.get("class_name") == "Functional":
        from scratchnet import saving_functional

        model = saving_functional.load_npz_config(cfg, arrays, known, f"load_model: {str(path)!r}")
    else:
        if cfg.get("batch_size") and cfg.get("input_shape") is not None:  # a stateful RNN's batch
            from scratchnet.layers.input_layer import Input

            layers = [Input(tuple(cfg["input_shape"]), batch_size=cfg["batch_size"],
                            name=cfg.get("input_name")), *layers]
        model = Sequential(layers, seed=cfg.get("seed"), name=cfg.get("name", "sequential"))
        model._input_name = cfg.get("input_name")  # (None in files written before it was kept)
    if cfg.get("input_shape") is not None:
        model.build((None, *cfg["input_shape"]))  # Keras' form, batch axis first: (None, None, 8)
    n_weights = len(model.get_weights())  # non-trainable ones (moving statistics) included
    weights = [arrays.get(f"weight_{i}") for i in range(n_weights)]
    if any(w is None for w in weights):
        raise ValueError(f"load_model: {str(path)!r} is missing weight arrays")
    try:
        model.set_weights(weights)
    except (TypeError, ValueError) as err:
        raise ValueError(f"load_model: {str(path)!r} {saving_keras._why_weights_refused(err)}: "
                         f"{err}") from err
    if compile and "compile" in cfg:
        c = cfg["compile"]
        what = f"load_model: {str(path)!r}"
        per_output = {}
        if isinstance(c["loss"], list):  # a functional model: one loss (and metrics) per output
            per_output = {"loss_weights": c["loss_weights"],
                          "metrics": [[saving_keras._metric_from_keras(m, what) for m in ms]
                                      for ms in c["metrics"]]}
        output_metrics = per_output.get("metrics")
        if output_metrics is not None and len(output_metrics) == 1:
            output_metrics = output_metrics[0]  # one output: its own list, as compile takes it

        def loss_from(spec):  # Keras' form, or scratchnet's earlier {"name", "config"}
            try:
                return losses.deserialize(spec)
            except ValueError as err:
                raise ValueError(f"{what} has a damaged config (compile loss: {err})") from err

        model.compile(optimizer=optimizers.deserialize(c["optimizer"]),
                      loss=None if c["loss"] is None or (per_output and all(v is None for v in c["loss"]))
                      else [None if v is None else loss_from(v) for v in c["loss"]] if per_output
                      else loss_from(c["loss"]),
                      metrics=output_metrics if per_output else
                      [saving_keras._metric_from_keras(m, what) for m in c["metrics"]],
                      weighted_metrics=[saving_keras._metric_from_keras(m, what)
                                        for m in c.get("weighted_metrics", [])],
                      **({"loss_weights": per_output["loss_weights"]} if per_output else {}))
        model.optimizer.iterations = int(arrays.get("optimizer_iterations", 0))
        restore_loss_scale(model.optimizer, arrays)
        prefix = "optimizer/"
        model.optimizer.state = {key[len(prefix):]: value.copy() for key, value in arrays.items()
                                 if key.startswith(prefix)}
    return model


def save_weights(model, filepath, overwrite: bool = True, **kwargs) -> None:
    """``keras.saving.save_weights(model, filepath)``: ``model.save_weights`` (``.weights.h5``)."""
    if kwargs:
        raise ValueError(f"save_weights: unexpected arguments {sorted(kwargs)}")
    model.save_weights(filepath, overwrite=overwrite)


def load_weights(model, filepath, skip_mismatch: bool = False, **kwargs) -> None:
    """``keras.saving.load_weights(model, filepath)``: ``model.load_weights`` (``.weights.h5``,
    ``.keras``, or a legacy ``.h5``; Keras' ``skip_mismatch`` and, for ``.h5``, ``by_name``)."""
    model.load_weights(filepath, skip_mismatch, **kwargs)


from scratchnet.file_editor import KerasFileEditor  # noqa: E402, F401  (keras.saving.KerasFileEditor)
from scratchnet.utils.serialization import (  # noqa: E402, F401  (keras.saving's names)
    CustomObjectScope,
    custom_object_scope,
    deserialize_keras_object,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_keras_serializable,
    serialize_keras_object,
)


def restore_loss_scale(optimizer, arrays: dict) -> None:
    """A LossScaleOptimizer's ``dynamic_scale`` and ``step_counter`` from a ``.npz`` file."""
    if "optimizer_loss_scale" in arrays and hasattr(optimizer, "dynamic_scale"):
        scale, counter = arrays["optimizer_loss_scale"]
        optimizer.dynamic_scale = np.float32(scale)
        optimizer.step_counter = int(counter)
