"""Keras 3's native ``.keras`` format and its ``.weights.h5`` files, written and read without Keras.

A ``.keras`` file is a zip archive with three members (``keras/src/saving/saving_lib.py``)::

    metadata.json      {"keras_version": "3.15.1", "date_saved": "...", "scratchnet": {"seed": ...}}
    config.json        the model as Keras serializes it:
                       {"module": "keras", "class_name": "Sequential",
                        "config": {"name", "trainable", "dtype", "layers": [InputLayer, ...],
                                   "build_input_shape"},
                        "build_config": {...}, "compile_config": {optimizer, loss, metrics, ...}}
    model.weights.h5   the arrays (HDF5), one group per object:
        vars                              attrs {"name": model name}, no datasets
        layers/<path>/vars/0, 1, ...      each layer's weights in get_weights() order (kernel, bias;
                                          BatchNormalization: gamma, beta, moving_mean, moving_variance)
        optimizer/vars/0                  iterations (int64 scalar)
        optimizer/vars/1                  learning_rate (scalar; absent with a schedule)
        optimizer/vars/2, ...             the slots, in the order the Keras optimizer creates them

``<path>`` is not the layer's name: it is the snake-case Keras class name, made unique in layer
order (``dense``, ``dense_1``, ``conv2d``, ``max_pooling2d``), so two models with the same layer
classes in the same order read each other's weights whatever their layer names. Every layer gets
a ``vars`` group (empty for layers without weights) whose ``name`` attribute is the layer's name.
An adapted Keras lookup layer keeps its vocabulary in ``assets/layers/<path>/vocabulary.txt``
(one token a line, the OOV token first); scratchnet writes the vocabulary into the layer's config
(``vocabulary=[...]``), which Keras reads just as well.

Optimizer slots, as Keras 3.15 builds them: a list of slot names given to one
``add_optimizer_variables`` call is interleaved per model variable (Adam: ``m(kernel), v(kernel),
m(bias), v(bias)``); separate calls follow each other (Adam's ``velocity_hat`` after all ``m`` and
``v``). A ``.weights.h5`` file has exactly the layout of ``model.weights.h5``.

Only ``h5py``, ``json`` and ``zipfile``: ``import scratchnet`` never imports TensorFlow or Keras.
"""

from __future__ import annotations

import datetime
import inspect
import io
import json
import warnings
import zipfile
from pathlib import Path

import h5py
import numpy as np

from scratchnet import dtype_policies
from scratchnet.layers.base import Layer, _snake_case  # _snake_case: Keras' naming.to_snake_case

KERAS_VERSION = "3.15.1"
CONFIG_FILE, METADATA_FILE, WEIGHTS_FILE = "config.json", "metadata.json", "model.weights.h5"
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# Keras' guard against zip "decompression bombs": a member over 4 GiB that expands more than 100x.
_BOMB_FLOOR_BYTES, _BOMB_MAX_EXPANSION = 1 << 32, 100

# Keras constructor arguments scratchnet does not have, and the one value each may take (the
# value that means "as scratchnet computes it"). ``_ANY``: accepted and ignored (derived values).
_ANY = object()
_KERAS_ONLY_LAYER_ARGS = {
    "data_format": "channels_last", "groups": 1,
    "kernel_regularizer": None, "bias_regularizer": None,
    "kernel_constraint": None, "bias_constraint": None, "embeddings_regularizer": None,
    "embeddings_constraint": None, "lora_rank": None, "lora_alpha": _ANY,
    "quantization_config": None, "noise_shape": None, "mask_zero": False, "axis": -1,
    "invert": False, "num_oov_indices": 1, "mask_token": None, "sparse": False,
    "pad_to_max_tokens": False, "idf_weights": None, "vocabulary_size": _ANY,
    "oov_method": "floormod", "salt": None, "encoding": "utf-8", "vocabulary_dtype": _ANY,
}
_KERAS_ONLY_LOSS_ARGS = {"name": _ANY, "dtype": _ANY, "reduction": "sum_over_batch_size",
                         "label_smoothing": 0.0, "axis": -1, "ignore_class": None}
_KERAS_ONLY_OPTIMIZER_ARGS = {"name": _ANY}

# Optimizer slots: Keras' slot names in creation order, grouped by add_optimizer_variables call
# (see the module docstring), and the scratchnet state key of each slot where it differs.
_SCRATCH_SLOT_NAMES = {
    "Adam": {"momentum": "m", "velocity": "v", "velocity_hat": "v_hat"},
    "AdamW": {"momentum": "m", "velocity": "v", "velocity_hat": "v_hat"},
    "Nadam": {"momentum": "m", "velocity": "v"},
    "Adamax": {"momentum": "m", "norm": "u"},
    "Lion": {"momentum": "m"},
    "Lamb": {"momentum": "m", "velocity": "v"},
    "Adafactor": {"velocity": "v"},
    "Muon": {"momentum": "m", "velocity": "v"},
}


def _slot_groups(keras_name: str, config: dict) -> list[tuple[str, ...]] | None:
    """Keras 3.15's optimizer slots, per ``build()`` (None for an optimizer not listed here)."""
    if keras_name == "SGD":
        return [("momentum",)] if config.get("momentum") else []
    if keras_name in ("Adam", "AdamW"):
        return [("momentum", "velocity")] + ([("velocity_hat",)] if config.get("amsgrad") else [])
    if keras_name == "RMSprop":
        groups = [("velocity",)]
        if config.get("momentum", 0) > 0:
            groups.append(("momentum",))
        if config.get("centered"):
            groups.append(("average_gradient",))
        return groups
    if keras_name == "Adagrad":
        return [("accumulator",)]
    if keras_name == "Nadam":
        return [("momentum", "velocity")]
    if keras_name == "Adamax":
        return [("momentum", "norm")]
    if keras_name == "Adadelta":
        return [("accumulated_grad", "accumulated_delta_var")]
    if keras_name == "Lion":
        return [("momentum",)]
    if keras_name == "Lamb":
        return [("momentum", "velocity")]
    if keras_name == "Ftrl":
        return [("accumulator", "linear")]
    if keras_name == "Adafactor":
        return [("r", "c", "velocity")]
    if keras_name == "ScheduleFreeAdamW":
        return [("momentum", "velocity")]
    if keras_name == "Muon":  # per weight: its momentum, and a velocity if AdamW steps it
        return [("momentum", "velocity?")]
    return None


def _slot_initial_value(keras_name: str, slot: str, config: dict) -> float:
    """A slot's value before the first update (Adagrad starts at initial_accumulator_value)."""
    if keras_name in ("Adagrad", "Ftrl") and slot == "accumulator":
        return float(config.get("initial_accumulator_value", 0.1))
    return 0.0


def _slot_shape(keras_name: str, slot: str, shape: tuple) -> tuple:
    """A slot's shape for a weight of ``shape``: the weight's, but for Adafactor's factors, ``r``
    (the last axis averaged away) and ``c`` (the next-to-last), which Keras keeps as 0-d
    placeholders for a weight of fewer than two axes."""
    if keras_name != "Adafactor" or slot not in ("r", "c"):
        return tuple(shape)
    if len(shape) < 2:
        return ()
    return tuple(shape[:-1]) if slot == "r" else tuple(shape[:-2]) + tuple(shape[-1:])


def _slot_layout(keras_name: str, config: dict, params, opt=None) -> list[tuple[str, tuple, float]] | None:
    """The Keras optimizer's slot variables in its order, as ``(scratchnet state key, shape,
    initial value)``: each group of slots interleaved per weight, the groups one after another
    (see the module docstring). None for an optimizer not listed in :func:`_slot_groups`. A slot
    written ``"name?"`` exists only for the weights ``opt`` says (Muon's AdamW velocities)."""
    groups = _slot_groups(keras_name, config)
    if groups is None:
        return None
    if config.get("gradient_accumulation_steps"):  # the base optimizer's, one per weight in turn
        groups = [("gradient_accumulator",)] + groups
    if config.get("use_ema"):  # the base optimizer's moving averages, built before all the rest
        groups = [("average",)] + groups
    names = _SCRATCH_SLOT_NAMES.get(keras_name, {})
    layout = []
    for group in groups:
        for param in params:
            for slot in group:
                if slot.endswith("?"):
                    slot = slot[:-1]
                    if not opt.uses_adamw(param):
                        continue
                layout.append((f"{param.name}/{names.get(slot, slot)}",
                               _slot_shape(keras_name, slot, param.value.shape),
                               _slot_initial_value(keras_name, slot, config)))
    return layout


# Scalars some Keras optimizers append after their slots: (scratchnet state key, initial value).
_TRAILING_SCALARS = {"Nadam": [("u_product", 1.0)]}


# ================================================================================ writing
def save_model(model, path) -> None:
    """Write ``model`` to ``path`` (``.keras``) atomically: a temporary file, then a rename."""
    from scratchnet.saving import _atomic_write

    model._require_built("save")
    config = model_config(model)
    metadata = {"keras_version": KERAS_VERSION,
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
                "scratchnet": {"seed": model.seed}}
    weights = _weights_file_bytes(model)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:  # stored, not deflated, as Keras writes it
        archive.writestr(METADATA_FILE, json.dumps(metadata))
        archive.writestr(CONFIG_FILE, json.dumps(config, default=_json_value))
        archive.writestr(WEIGHTS_FILE, weights)
        for name, data in layer_assets(model).items():  # layers with save_assets
            archive.writestr(name, data)
    _atomic_write(Path(path), buffer.getvalue())


def save_weights(model, path, overwrite: bool = True) -> None:
    """Write the weights (and optimizer variables) in Keras' ``.weights.h5`` layout."""
    from scratchnet.saving import _atomic_write

    path_str = str(path)
    if not path_str.endswith(".weights.h5"):
        raise ValueError("The filename must end in `.weights.h5`. "
                         f"Received: filepath={path_str}")
    if not model.built:
        raise ValueError("You are saving a model that has not yet been built. Try building the "
                         "model first by calling it on some data or by using `build()`.")
    if not overwrite and Path(path).exists():
        raise FileExistsError(f"save_weights: {path_str!r} exists and overwrite=False")
    _atomic_write(Path(path), _weights_file_bytes(model, nested=True))


def model_config(model, compile: bool = True) -> dict:
    """``config.json`` of ``model``: what ``keras.Sequential.get_config()`` and
    ``get_compile_config()`` would give for its Keras twin (a functional model: Keras'
    ``Functional`` config, :mod:`scratchnet.saving_functional`); ``compile=False`` leaves the
    compile config out (``model.get_config()`` is the ``"config"`` entry)."""
    from scratchnet import config as sn_config

    if hasattr(model, "_nodes"):  # Model(inputs, outputs)
        from scratchnet import saving_functional

        config = saving_functional.keras_config(
            model, _layer_config, lambda m: saving_functional.keras_compile_config(
                m, _compile_config(m), _loss_spec, _metric_to_keras))
        if not compile:
            config.pop("compile_config", None)
        return config

    if not model.built:  # Keras' config of a Sequential with no input shape yet: its layers
        return {"module": "keras", "class_name": "Sequential",
                "config": {"name": model.name, "trainable": model.trainable, "dtype": _dtype_policy(),
                           "layers": [_entry_config(entry) for entry in model._entries()]},
                "registered_name": None}

    # Keras' InputLayer batch_shape, a tuple: None, or the batch size the Input fixes
    # (Input(batch_size=...), a stateful RNN's; the batch of the first call that built the model)
    batch_shape = tuple(model.input_shape)
    first = model.layers[0] if model.layers else None
    # the Input's name (Keras writes it; a Sequential built without one: "input_layer")
    input_name = model._input_layer_name() or "input_layer"
    input_dtype = (first.input_dtype if first is not None else None) or sn_config.floatx()
    layers = [{"module": "keras.layers", "class_name": "InputLayer",
               "config": {"batch_shape": batch_shape, "dtype": input_dtype, "sparse": False,
                          "ragged": False, "name": input_name, "optional": False},
               "registered_name": None}]
    layers += [_entry_config(entry) for entry in model._entries()]
    config = {
        "module": "keras", "class_name": "Sequential",
        "config": {"name": model.name, "trainable": model.trainable, "dtype": _dtype_policy(),
                   "layers": layers, "build_input_shape": batch_shape},
        "registered_name": None,
        "build_config": {"input_shape": batch_shape},
    }
    if model.compiled and compile:
        config["compile_config"] = _compile_config(model)
    return config


def _entry_config(entry) -> dict:
    """One entry of a Sequential config: a layer's, or a nested functional model's whole
    ``Functional`` config, as Keras writes the model it holds as one layer."""
    from scratchnet.model import Model

    if not isinstance(entry, Model):
        return _layer_config(entry)
    from scratchnet import saving_functional

    spec = saving_functional.keras_config(entry, _layer_config, lambda m: {})
    spec.pop("compile_config", None)
    return spec


def _json_value(value):
    """NumPy numbers and arrays in a layer's config, as JSON numbers and lists."""
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    raise TypeError(f"save: a config value of type {type(value).__name__} cannot be written to "
                    f"{CONFIG_FILE}: {value!r:.100}")


def _dtype_policy() -> dict:
    from scratchnet import config as sn_config

    return {"module": "keras", "class_name": "DTypePolicy",
            "config": {"name": sn_config.floatx()}, "registered_name": None}


def keras_class_name(obj) -> str:
    """The Keras class an object stands for: its ``keras_name``, else its class name."""
    return getattr(obj, "keras_name", None) or type(obj).__name__


def _layer_config(layer) -> dict:
    """``layer`` as Keras' ``serialize_keras_object`` writes it: module, class name, its
    ``get_config()`` (Keras' own dict: name, trainable, dtype policy, serialized initializers,
    ...), registered name and, once built, its build config."""
    from scratchnet import initializers

    class_name = keras_class_name(layer)
    config = layer.get_config()
    if not type(layer).__module__.startswith("scratchnet"):  # a user's get_config may hold objects
        config = {key: _initializer_to_keras(value) if isinstance(value, initializers.Initializer)
                  else value for key, value in config.items()}
    if hasattr(layer, "keras_saved_config"):  # a layer whose Keras config has another form
        config = layer.keras_saved_config(config)
    spec = {"module": getattr(layer, "keras_module", "keras.layers"), "class_name": class_name,
            "config": config, "registered_name": None}
    from scratchnet.utils import serialization

    cls = getattr(layer, "keras_class", None) or type(layer)  # (a subclassed model's: its class)
    module = getattr(cls, "__module__", None) or "__main__"
    if cls in serialization._GLOBAL_CUSTOM_NAMES or not module.startswith("scratchnet"):
        # a user's class (registered with register_keras_serializable, or not): Keras writes its
        # module (None for __main__) and its registered name (the class name if unregistered)
        spec["module"] = None if module == "__main__" else module
        spec["registered_name"] = serialization.get_registered_name(cls)
    if hasattr(layer, "keras_build_config"):  # built from several shapes (MultiHeadAttention)
        spec["build_config"] = layer.keras_build_config()
    elif layer.weights:
        batch = layer.batch_size if getattr(layer, "stateful", False) else None  # a stateful RNN's
        spec["build_config"] = {"input_shape": [batch, *layer.input_shape]}
    return spec


def _initializer_to_keras(init) -> dict:
    """A scratchnet initializer (an object, a name or a serialized dict) as Keras serializes it."""
    from scratchnet import initializers

    return initializers.serialize(initializers.get(init))


# Keras loss arguments scratchnet takes only at their defaults, written as Keras' get_config does
_KERAS_LOSS_DEFAULTS = {"BinaryCrossentropy": {"axis": -1}, "CategoricalCrossentropy": {"axis": -1},
                        "SparseCategoricalCrossentropy": {"ignore_class": None}}


def _loss_spec(loss) -> dict:
    """A loss object as Keras serializes it (``keras.losses.serialize``); None for a model
    compiled without a loss."""
    from scratchnet import losses

    if isinstance(loss, losses.AddedLossesOnly):
        return None
    class_name = keras_class_name(loss)
    loss_config = {"name": loss.name, "reduction": "sum_over_batch_size", **loss.get_config(),
                   **_KERAS_LOSS_DEFAULTS.get(class_name, {})}
    return {"module": "keras.losses", "class_name": class_name, "config": loss_config,
            "registered_name": None}


def _compile_config(model) -> dict:
    metrics = [m if isinstance(m, str) else _metric_to_keras(m) for m in model.metric_names]
    weighted = [m if isinstance(m, str) else _metric_to_keras(m)
                for m in getattr(model, "weighted_metric_names", [])]
    return {
        "optimizer": _optimizer_to_keras(model.optimizer),
        "loss": _loss_spec(model.loss),
        "loss_weights": None,
        "metrics": metrics or None,
        "weighted_metrics": weighted or None,
        "run_eagerly": False,
        "steps_per_execution": 1,
        "jit_compile": False,  # XLA would round float32 differently from scratchnet
    }


def _metric_to_keras(metric) -> dict:
    from scratchnet import metrics

    if metrics._is_function(metric):  # Keras writes a function by its name
        return {"module": "builtins", "class_name": "function", "config": metric.__name__,
                "registered_name": "function"}
    config = {"name": metric.name, "dtype": "float32"}
    if hasattr(metric, "get_config"):
        config.update(metric.get_config())
    elif hasattr(metric, "threshold"):
        config["threshold"] = metric.threshold
    return {"module": "keras.metrics", "class_name": keras_class_name(metric), "config": config,
            "registered_name": None}


def _optimizer_to_keras(opt) -> dict:
    config = {"name": opt.name, **opt.get_config()}
    lr = config.get("learning_rate")
    if lr is not None and not isinstance(lr, int | float | dict):  # a schedule, not serialized yet
        config["learning_rate"] = {"module": "keras.optimizers.schedules",
                                   "class_name": keras_class_name(lr),
                                   "config": lr.get_config(), "registered_name": None}
    return {"module": "keras.optimizers", "class_name": keras_class_name(opt), "config": config,
            "registered_name": None}


def layer_paths(class_names: list[str]) -> list[str]:
    """Where each layer's variables live in the weights file: ``layers/<snake class>[_i]``, the
    snake case of Keras' Python class, which a config's class_name may not be (a class with a
    ``keras_name``: keras.layers.GroupQueryAttention is the class GroupedQueryAttention)."""
    classes = _supported_layer_classes()
    used: dict[str, int] = {}
    paths = []
    for class_name in class_names:
        cls = classes.get(class_name)
        base = _snake_case(cls.__name__ if cls is not None else class_name)
        if base in used:
            used[base] += 1
            paths.append(f"layers/{base}_{used[base]}")
        else:
            used[base] = 0
            paths.append(f"layers/{base}")
    return paths


def _weights_file_bytes(model, nested: bool = False) -> bytes:
    """The ``.weights.h5`` file of ``model``. A functional model holding nested models is written
    flat (the layers one by one, in the order Keras reads the flat graph of a ``.keras`` file),
    or, ``nested`` (``save_weights``), as Keras writes the same model: each nested model's weights
    under its group (``layers/functional/layers/dense``), so Keras' twin of the model reads them."""
    from scratchnet import kernels
    from scratchnet.model import Model
    from scratchnet.saving_functional import file_layers

    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f.create_group("vars").attrs["name"] = model.name
        held = isinstance(model, Model) and model._holds_functional()
        if held or (nested and hasattr(model, "_nodes") and _nested_models(model)):
            # (a Sequential holding a functional model: its config nests the model, so its file does)
            pairs = _entry_weight_paths(model) if held else _weight_paths(model)
            for path, _ in pairs:  # each nested model's own (empty) group of variables
                parts = path.split("/layers/")
                for k in range(1, len(parts)):
                    f.require_group(f"{'/layers/'.join(parts[:k])}/vars")
        else:
            layers = file_layers(model)  # (a nested model's layers: in the order Keras reads them)
            pairs = zip(layer_paths([keras_class_name(layer) for layer in layers]), layers, strict=True)
        for path, layer in pairs:
            f.require_group(f"{path}/vars").attrs["name"] = layer.name
            if overrides_hook(layer, "save_own_variables"):  # the layer fills its group itself
                store = {}
                layer.save_own_variables(store)
                for key, value in store.items():
                    f[f"{path}/vars"][str(key)] = np.asarray(value)
                continue
            for subpath, _, params in weight_groups(layer):
                group = f.require_group(f"{path}/{subpath}")
                for i, param in enumerate(params):  # trainable, then non-trainable
                    group[str(i)] = kernels.to_numpy(param.value)
            # Keras state kept under its own key (TextVectorization's "tf_idf" idf_weights)
            for subpath, arrays in getattr(layer, "keras_own_variables", dict)().items():
                sub = f.require_group(f"{path}/{subpath}")
                for key, value in arrays.items():
                    sub[key] = value
        if model.compiled:
            group = f.create_group("optimizer/vars")
            group.attrs["name"] = model.optimizer.name
            for i, value in enumerate(_optimizer_variables(model)):
                group[str(i)] = value
            # Keras saves wrapped optimizers a second time, each on its own
            for where, inner, params in _inner_optimizer_groups(model.optimizer, model.params):
                group = f.create_group(f"optimizer/{where}/vars")
                group.attrs["name"] = inner.name
                for i, value in enumerate(_optimizer_values(inner, params)):
                    group[str(i)] = value
    return buffer.getvalue()


def _optimizer_variables(model) -> list[np.ndarray]:
    """The Keras optimizer's variables: iterations, learning rate, slots, trailing scalars.

    Slots not created yet (no update so far) are written with their initial value, as a freshly
    built Keras optimizer holds them. A LossScaleOptimizer: its own four, then its inner
    optimizer's (Keras' ``variables`` order).
    """
    return _optimizer_values(model.optimizer, model.params)


def _inner_optimizer_groups(opt, params) -> list[tuple[str, object, list]]:
    """Where Keras' ``.keras`` file keeps the optimizers inside ``opt`` a second time:
    ``inner_optimizer`` (LossScaleOptimizer), ``optimizers/<snake class>[_i]`` (MultiOptimizer)."""
    if keras_class_name(opt) == "LossScaleOptimizer":
        return [("inner_optimizer", opt.inner_optimizer, params)]
    if keras_class_name(opt) == "MultiOptimizer":
        paths = layer_paths([keras_class_name(inner) for inner in opt.optimizers])
        return [(path.replace("layers/", "optimizers/", 1), inner, group)
                for path, inner, group in zip(paths, opt.optimizers, opt.params_of(params), strict=True)]
    return []


def _loss_scale_own_values(opt) -> list[np.ndarray]:
    """A LossScaleOptimizer's own variables, before its inner optimizer's: its iterations and
    learning rate (Keras creates both and never uses them: 0 and 0.0), ``step_counter`` and
    ``dynamic_scale``."""
    return [np.array(0, dtype=np.int64), np.array(0.0, dtype=np.float32),
            np.array(opt.step_counter, dtype=np.int64), np.array(opt.dynamic_scale, dtype=np.float32)]


def _optimizer_values(opt, params) -> list[np.ndarray]:
    from scratchnet import config as sn_config
    from scratchnet import kernels

    name = keras_class_name(opt)
    if name == "LossScaleOptimizer":
        return _loss_scale_own_values(opt) + _optimizer_values(opt.inner_optimizer, params)
    if name == "MultiOptimizer":  # its iterations and unused rate, then each optimizer's own
        values = [np.array(opt.calls, dtype=np.int64), np.array(0.0, dtype=np.float32)]
        for inner, group in zip(opt.optimizers, opt.params_of(params), strict=True):
            values += _optimizer_values(inner, group)
        return values
    config = opt.get_config()
    values = [np.array(opt.calls, dtype=np.int64)]  # Keras' raw counter
    if opt.learning_rate_schedule is None:
        values.append(np.array(opt.learning_rate, dtype=sn_config.floatx()))
    layout = _slot_layout(name, config, params, opt)
    if layout is None:
        return values  # Keras will warn that it skips the optimizer's variables
    for key, shape, initial in layout:
        value = opt.state.get(key)
        if value is None:
            value = np.full(shape, initial, dtype=sn_config.floatx())
        values.append(kernels.to_numpy(value))
    for key, initial in _TRAILING_SCALARS.get(name, []):
        value = opt.state.get(key, initial)
        values.append(np.array(kernels.to_numpy(value), dtype=sn_config.floatx()))
    return values


# ================================================================================ reading
class _Archive:
    """The members of a ``.keras`` file, read and checked before anything is built."""

    def __init__(self, path: Path, where: str):
        self.where = where
        data = path.read_bytes()
        if data.startswith(_HDF5_SIGNATURE):
            raise ValueError(f"{where} is an HDF5 file, not a .keras zip archive"
                             + _hdf5_hint(data))
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = set(archive.namelist())
                for info in archive.infolist():
                    if info.file_size > _BOMB_FLOOR_BYTES and \
                            info.file_size > _BOMB_MAX_EXPANSION * info.compress_size:
                        raise ValueError(f"{where}: archive member {info.filename!r} declares "
                                         f"{info.file_size} bytes but stores {info.compress_size}; "
                                         "refusing a potential decompression bomb")
                if CONFIG_FILE not in names:
                    hint = (" (it looks like scratchnet's .npz format: rename it to .npz)"
                            if "format_version.npy" in names else "")
                    raise ValueError(f"{where} has no {CONFIG_FILE}: not a Keras model archive"
                                     f"{hint}; members: {sorted(names)}")
                self.config_text = archive.read(CONFIG_FILE)
                self.weights = archive.read(WEIGHTS_FILE) if WEIGHTS_FILE in names else None
                self.has_npz_weights = "model.weights.npz" in names
                self.metadata = archive.read(METADATA_FILE) if METADATA_FILE in names else None
                self.assets = {n: archive.read(n) for n in names if n.startswith("assets/")}
                if WEIGHTS_FILE in names:  # a "tf_idf" TextVectorization's idf_weights live there
                    self.assets[WEIGHTS_FILE] = archive.read(WEIGHTS_FILE)
        except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile) as err:
            raise ValueError(f"{where} is not a readable .keras file (truncated or corrupt zip "
                             f"archive): {err}") from err
        try:
            self.config = json.loads(self.config_text)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{where} has a corrupt {CONFIG_FILE} (not valid JSON): {err}") from err
        try:
            self.metadata = json.loads(self.metadata) if self.metadata else {}
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{where} has a corrupt {METADATA_FILE} (not valid JSON): "
                             f"{err}") from err
        if self.weights is None:
            raise ValueError(
                f"{where} has no {WEIGHTS_FILE}"
                + (" (its weights are in model.weights.npz, which scratchnet does not read; "
                   "save it with Keras' default weights_format='h5')" if self.has_npz_weights else "")
            )


def _hdf5_hint(data: bytes) -> str:
    try:
        with h5py.File(io.BytesIO(data), "r") as f:
            if "model_config" in f.attrs or "model_weights" in f:
                return (": a legacy Keras HDF5 full-model file (model.save('m.h5')); give it the "
                        ".h5 extension and load that")
            if "layers" in f or "vars" in f:
                return ": a .weights.h5 file; read it with model.load_weights"
    except OSError:
        pass
    return ""


def _open_h5(data_or_path, where: str) -> h5py.File:
    try:
        source = io.BytesIO(data_or_path) if isinstance(data_or_path, bytes) else data_or_path
        return h5py.File(source, "r")
    except OSError as err:
        raise ValueError(f"{where}: the weights are not a readable HDF5 file (truncated or "
                         f"corrupt): {err}") from err


def load_model(path, custom_objects: dict | None = None, compile: bool = True):
    """Rebuild the ``keras.Sequential`` saved at ``path`` (a ``.keras`` file) as a scratchnet
    ``Sequential``: same layers, weights, compile settings and optimizer state.

    Everything is read and checked before the model is returned; a file scratchnet cannot
    represent exactly raises ``ValueError`` naming the file and the reason.
    """

    path = Path(path)
    where = f"load_model: {str(path)!r}"
    if not path.is_file():
        raise FileNotFoundError(f"load_model: no file at {str(path)!r}")
    archive = _Archive(path, where)
    scratch_meta = archive.metadata.get("scratchnet") if isinstance(archive.metadata, dict) else None
    seed = scratch_meta.get("seed") if isinstance(scratch_meta, dict) else None
    seed = seed if isinstance(seed, int) else None
    if isinstance(archive.config, dict) and archive.config.get("class_name") == "Functional":
        from scratchnet import saving_functional

        return saving_functional.load_keras_archive(archive, where, custom_objects, compile, seed)
    if isinstance(archive.config, dict) and archive.config.get("class_name") == "Distiller":
        from scratchnet.distillation import load_distiller

        return load_distiller(archive, where)
    model = model_from_config(archive.config, where, custom_objects, compile, archive.assets, seed)
    with _open_h5(archive.weights, f"{where} ({WEIGHTS_FILE})") as f:
        if not model.built and _holds_arrays(f.get("layers")):
            raise ValueError(f"{where} holds layer weights but no input shape to build the model "
                             "with (no InputLayer, build_input_shape or build_config)")
        weights = _read_layer_weights(f, model, where) if model.built else []
        stores = own_variable_stores(f, model, where) if model.built else []
        optimizer_state = _read_optimizer_state(f, model, where) if model.compiled else None
    if weights:
        _set_weights(model, weights, where)
    run_load_hooks(model, stores, archive.assets)
    if optimizer_state is not None:
        _set_optimizer_state(model, optimizer_state)
    return model


def model_from_config(config: dict, where: str, custom_objects=None, compile: bool = True,
                      assets: dict | None = None, seed: int | None = None):
    """The model a Keras model config describes (``config.json``, ``model.to_json()``), built and
    compiled as that config says, with fresh weights from its initializers."""
    from scratchnet.model import Sequential

    custom_objects = _with_registered(custom_objects)
    if isinstance(config, dict) and config.get("class_name") == "Functional":
        from scratchnet import saving_functional

        return saving_functional.functional_from_config(config, where, custom_objects, compile,
                                                        seed, assets or {})
    specs, input_shape, name = _sequential_spec(config, where)
    layers = [build_entry(spec, where, custom_objects, assets or {}, lpath)
              for spec, lpath in zip(specs, layer_paths([s["class_name"] for s in specs]),
                                     strict=True)]
    batch_size = _sequential_batch_size(config)
    input_name = _sequential_input_name(config)
    if batch_size is not None and input_shape is not None:  # a fixed batch (stateful RNNs)
        from scratchnet.layers.input_layer import Input

        layers = [Input(input_shape, batch_size=batch_size, name=input_name), *layers]
    model = Sequential(layers, seed=seed, name=name)
    model._input_name = input_name  # its InputLayer keeps the config's name, as in Keras
    if input_shape is not None and batch_size is None:
        model.build((None, *input_shape))  # with the batch axis, as Keras builds
    record_units(model, layers)
    compile_config = config.get("compile_config") if compile else None
    if compile_config:
        _compile_from_config(model, compile_config, where)
    return model


def build_entry(spec: dict, where: str, custom_objects, assets: dict, path: str):
    """The layer a spec of a Keras model's ``layers`` list describes; a ``Sequential`` that Keras
    holds as one layer (the tutorials' ``data_augmentation``) becomes a scratchnet ``Sequential``,
    which, placed in a model or called on a tensor, adds its layers one by one."""
    if isinstance(spec, dict) and spec.get("class_name") in ("Sequential", "Functional"):
        return model_from_config(spec, where, custom_objects, compile=False, assets=assets)
    return _build_layer(spec, where, custom_objects, assets, path)


def record_units(model, entries: list) -> None:
    """Remember which of ``model``'s layers came from one nested model (a ``Sequential`` or a
    functional model) of Keras' file (see :func:`keras_units`); nothing for a file without one."""
    from scratchnet.model import Model

    if any(isinstance(entry, Model) for entry in entries):
        model._keras_units = _units_of(entries)
        model._keras_unit_entries = list(entries)


def _units_of(entries: list) -> list[tuple[str, str, list]]:
    """:func:`keras_units` of Keras' ``model.layers`` (``entries``: layers, and nested models
    each one entry); the operations are left out (no weights)."""
    from scratchnet.model import Model

    return [(entry.name, "Functional" if hasattr(entry, "_nodes") else "Sequential", list(entry.layers))
            if isinstance(entry, Model) else (entry.name, keras_class_name(entry), [entry])
            for entry in entries if not getattr(entry, "is_operation", False)]


def _nested_models(model) -> dict:
    """``{name: nested model}`` of the entries of Keras' ``model.layers`` that are models (a
    model loaded from Keras' file: :func:`record_units`; built: ``Functional._keras_entries``)."""
    from scratchnet.model import Model

    entries = getattr(model, "_keras_unit_entries", None) or getattr(model, "_keras_entries", None) or []
    return {entry.name: entry for entry in entries if isinstance(entry, Model)}


def _with_registered(custom_objects) -> dict:
    """``custom_objects``, then the classes of ``custom_object_scope`` and
    ``register_keras_serializable`` (Keras' lookup order)."""
    from scratchnet.utils import serialization

    return serialization.registered_objects(custom_objects)


def load_weights(model, path, skip_mismatch: bool = False, **kwargs) -> None:
    """Read ``path`` into ``model``: a ``.weights.h5`` file or the weights of a ``.keras`` file
    (matched by layer class and order, all of them or none; ``skip_mismatch=True``: a layer's
    weights that do not fit are skipped, with one warning, as Keras does), or a legacy
    ``.h5``/``.hdf5`` file (:func:`scratchnet.saving_h5.load_weights`: by layer order or, with
    ``by_name=True``, by name; ``skip_mismatch=True`` leaves the weights whose shapes differ as
    they are, with a warning).

    The optimizer variables of a ``.weights.h5``/``.keras`` file are read when the model is
    compiled and the file holds a matching set (else they are skipped with a warning, as Keras
    does).
    """
    path_str = str(path)
    where = f"load_weights: {path_str!r}"
    by_name = kwargs.pop("by_name", None)  # Keras' legacy keyword arguments
    objects_to_skip = kwargs.pop("objects_to_skip", None)
    if kwargs:
        raise ValueError(f"Invalid keyword arguments: {kwargs}")
    if not isinstance(skip_mismatch, bool):
        raise TypeError(f"load_weights: expected skip_mismatch to be True or False, received "
                        f"{skip_mismatch!r}")
    if not model.built:
        raise ValueError("You are loading weights into a model that has not yet been built. Try "
                         "building the model first by calling it on some data or by using "
                         "`build()`.")
    legacy = path_str.endswith((".h5", ".hdf5")) and not path_str.endswith(".weights.h5")
    if by_name is not None and not legacy:
        raise ValueError("`by_name` only supports loading legacy '.h5' or '.hdf5' files. "
                         f"Received: {path}")
    if objects_to_skip is not None:
        raise ValueError("load_weights: scratchnet does not support `objects_to_skip`. "
                         f"Received: objects_to_skip={objects_to_skip!r}")
    if legacy:
        from scratchnet import saving_h5

        saving_h5.load_weights(model, path, by_name=bool(by_name), skip_mismatch=skip_mismatch)
        return
    if path_str.endswith(".keras"):
        if not Path(path).is_file():
            raise FileNotFoundError(f"load_weights: no file at {path_str!r}")
        source = _Archive(Path(path), where).weights
    elif path_str.endswith(".weights.h5"):
        if not Path(path).is_file():
            raise FileNotFoundError(f"load_weights: no file at {path_str!r}")
        source = Path(path).read_bytes()
    else:
        raise ValueError("File format not supported: expected a `.weights.h5`, `.keras` or legacy "
                         f"`.h5` file. Received: filepath={path_str}")
    with _open_h5(source, where) as f:
        if "model_config" in f.attrs or "model_weights" in f:
            raise ValueError(f"{where} is a legacy Keras HDF5 full-model file: load it with "
                             "sn.load_model (as .h5), not load_weights")
        weights = _read_layer_weights(f, model, where, skip_mismatch)
        stores = own_variable_stores(f, model, where)
        optimizer_state = None
        if model.compiled:
            try:
                optimizer_state = _read_optimizer_state(f, model, where)
            except ValueError as err:
                warnings.warn(f"{err}; the optimizer variables were skipped", stacklevel=3)
    _set_weights(model, weights, where)
    run_load_hooks(model, stores)
    if optimizer_state is not None:
        _set_optimizer_state(model, optimizer_state)


# --------------------------------------------------------------------------- config -> layers
def _sequential_batch_size(config) -> int | None:
    """The batch size a Sequential config's InputLayer fixes (``batch_shape[0]``), else None."""
    layers = (config.get("config") or {}).get("layers") or []
    first = layers[0] if layers and isinstance(layers[0], dict) else {}
    if first.get("class_name") != "InputLayer":
        return None
    batch = ((first.get("config") or {}).get("batch_shape") or [None])[0]
    return batch if isinstance(batch, int) and not isinstance(batch, bool) and batch > 0 else None


def _sequential_input_name(config) -> str | None:
    """The name of a Sequential config's InputLayer, else None (a new name is drawn)."""
    layers = (config.get("config") or {}).get("layers") if isinstance(config, dict) else None
    if layers and isinstance(layers[0], dict) and layers[0].get("class_name") == "InputLayer":
        name = (layers[0].get("config") or {}).get("name")
        return name if isinstance(name, str) and name else None
    return None


def _sequential_spec(config, where: str):
    """The layer specs, input shape and name of a serialized ``keras.Sequential``."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"{where}: {CONFIG_FILE} does not describe a Keras model (expected an "
                         f"object with class_name and config)")
    class_name = config["class_name"]
    inner = config.get("config")
    if class_name in ("Functional", "Model") or (isinstance(inner, dict)
                                                 and "input_layers" in inner):
        raise ValueError(f"{where} holds a Keras functional model ({class_name}); scratchnet "
                         "reads keras.Sequential models only (functional models are planned)")
    if class_name != "Sequential":
        raise ValueError(f"{where} holds a model of class {class_name!r}; scratchnet reads "
                         "keras.Sequential models only")
    if not isinstance(inner, dict) or not isinstance(inner.get("layers"), list):
        raise ValueError(f"{where}: the Sequential config in {CONFIG_FILE} has no list of layers")
    specs = list(inner["layers"])
    for spec in specs:
        if not isinstance(spec, dict) or not isinstance(spec.get("class_name"), str) \
                or not isinstance(spec.get("config", {}), dict):
            raise ValueError(f"{where}: {CONFIG_FILE} has a malformed layer entry: {spec!r:.200}")
    batch_shape = None
    if specs and specs[0]["class_name"] == "InputLayer":
        cfg = specs.pop(0)["config"]
        batch_shape = cfg.get("batch_shape") or ([None, *cfg["shape"]] if "shape" in cfg else None)
    if batch_shape is None:
        batch_shape = inner.get("build_input_shape") or \
            (config.get("build_config") or {}).get("input_shape")
    input_shape = None
    if batch_shape is not None:
        sample = list(batch_shape)[1:]
        if not sample or not all(d is None or (isinstance(d, int) and d > 0) for d in sample):
            raise ValueError(f"{where}: the model's input shape {tuple(batch_shape)} is not a list of "
                             "positive integers and nulls (an axis of varying length)")
        input_shape = tuple(sample)
    return specs, input_shape, inner.get("name", "sequential")


def _supported_layer_classes() -> dict:
    from scratchnet import layers as layers_mod

    classes = {}
    for attr in layers_mod.__all__:
        cls = getattr(layers_mod, attr)
        if isinstance(cls, type) and attr not in ("Layer", "ActivatedLayer", "Parameter", "Input",
                                                  "InputSpec", "Wrapper"):
            classes[getattr(cls, "keras_name", None) or cls.__name__] = cls
            classes.setdefault(cls.__name__, cls)  # (a legacy .h5 file names Keras' Python class)
    return classes


def _supported_op_classes() -> dict:
    """The ops a functional graph may record (Keras saves them under ``keras.src.ops.nn``)."""
    from scratchnet.layers.reshaping import DepthToSpace, SpaceToDepth

    return {"DepthToSpace": DepthToSpace, "SpaceToDepth": SpaceToDepth}


def _build_layer(spec: dict, where: str, custom_objects, assets: dict, path: str):
    class_name = spec["class_name"]
    config = dict(spec.get("config", {}))
    layer_name = config.get("name", "?")
    custom = custom_objects or {}
    registered = spec.get("registered_name")
    cls = custom.get(registered) or custom.get(class_name)
    if cls is None and registered in (None, class_name) and spec.get("module", "keras.layers") \
            in ("keras.layers", "keras"):
        cls = _supported_layer_classes().get(class_name)
    if cls is None and registered in (None, class_name) and spec.get("module") == "keras.src.ops.nn":
        cls = _supported_op_classes().get(class_name)  # an op on a KerasTensor: ops.depth_to_space
    if cls is None:
        raise ValueError(
            f'{where} uses layer class {class_name!r} (layer "{layer_name}"), which scratchnet '
            f"does not have; supported: {sorted(_supported_layer_classes())} (or pass "
            "custom_objects={'Name': Class})"
        )
    what = f'{where}: layer "{layer_name}" ({class_name})'
    dtype = config.pop("dtype", None)
    if dtype_policies.is_quantized(dtype):  # a quantized layer ("int8_from_float32"): built so
        config["dtype"] = dtype
    elif isinstance(dtype, dict) and dtype.get("class_name") == "DTypePolicyMap":  # read at build
        config["dtype"] = dtype
    else:
        _check_dtype(dtype, what)
    trainable = config.pop("trainable", True)  # a frozen layer stays frozen
    kwargs = _constructor_args(cls, config, _KERAS_ONLY_LAYER_ARGS, what)
    # Bidirectional's layers, RNN's cell: each a layer spec of its own
    for key in ("layer", "backward_layer", "cell"):
        if isinstance(kwargs.get(key), dict) and "class_name" in kwargs[key]:
            kwargs[key] = _build_layer(kwargs[key], where, custom_objects, assets, path)
    if isinstance(kwargs.get("cells"), list):  # StackedRNNCells' cells
        kwargs["cells"] = [_build_layer(c, where, custom_objects, assets, path)
                           if isinstance(c, dict) and "class_name" in c else c for c in kwargs["cells"]]
    if class_name == "Pipeline" and isinstance(kwargs.get("layers"), list):  # its layers' specs
        kwargs["layers"] = [_build_layer(spec, where, custom_objects, assets, path)
                            for spec in kwargs["layers"]]
    for key in [k for k in kwargs if k.endswith("_initializer")]:
        kwargs[key] = _initializer_from_keras(kwargs[key], f"{what}: {key}")
    if "vocabulary" in kwargs and kwargs["vocabulary"] is None:
        vocabulary = _vocabulary_from_assets(assets, path, class_name)
        if vocabulary is not None:
            kwargs["vocabulary"] = vocabulary
            if kwargs.get("output_mode") == "tf_idf" and kwargs.get("idf_weights") is None:
                kwargs["idf_weights"] = _idf_weights(assets, path, len(vocabulary), what)
    try:
        own_rule = getattr(cls, "from_config", None)  # (Layer.from_config is cls(**kwargs))
        if own_rule is not None and getattr(own_rule, "__func__", None) is not Layer.from_config.__func__:
            layer = own_rule(kwargs)  # a class's own rule (Discretization: both set)
        else:
            layer = cls(**kwargs)
        layer.trainable = trainable
    except (TypeError, ValueError) as err:
        raise ValueError(f"{what} has a config scratchnet cannot build: {err}") from err
    # a subclassed model (a user's registered class): one layer of the model, its layer view
    return layer.as_layer() if hasattr(layer, "as_layer") else layer


def _check_dtype(dtype, what: str) -> None:
    """Accept Keras' float32/float64 policies (weights are read into scratchnet's floatx)."""
    if isinstance(dtype, dict):
        dtype = (dtype.get("config") or {}).get("name")
    if dtype not in (None, "float32", "float64", "int32", "int64", "string"):
        raise ValueError(f"{what} uses dtype policy {dtype!r}; scratchnet supports float32 and "
                         "float64")


def _constructor_args(cls, config: dict, keras_only: dict, what: str) -> dict:
    """``config`` without the Keras-only arguments, each checked to hold its only supported value.

    An argument the scratchnet constructor names explicitly is always passed on.
    """
    try:
        accepted = {name for name, p in inspect.signature(cls).parameters.items()
                    if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    except (TypeError, ValueError):
        accepted = set()
    kwargs = {}
    for key, value in config.items():
        if key in accepted or key not in keras_only:
            kwargs[key] = value
            continue
        expected = keras_only[key]
        if expected is _ANY or value == expected or (isinstance(value, list) and value == [expected]):
            continue
        raise ValueError(f"{what} sets {key}={value!r}; scratchnet supports only "
                         f"{key}={expected!r}")
    return kwargs


def _initializer_from_keras(spec, what: str):
    """A Keras initializer (string or serialized object) as a layer's config keeps it: its name
    when its config is the default one, else its serialized form (checked by building it). A
    seed other than an integer (a ``SeedGenerator``'s config) is dropped: it only shapes initial
    values, which are loaded."""
    from scratchnet import initializers

    if isinstance(spec, str):
        return initializers.get(spec, where=what).name
    if not isinstance(spec, dict) or not isinstance(spec.get("class_name"), str):
        raise ValueError(f"{what}: unreadable initializer {spec!r:.200}")
    cls = getattr(initializers, spec["class_name"], None)
    if not (isinstance(cls, type) and issubclass(cls, initializers.Initializer)):
        raise ValueError(f"{what}: initializer {spec['class_name']!r} is not one scratchnet has")
    config = dict(spec.get("config") or {})
    if not isinstance(config.get("seed"), int | None):
        config.pop("seed")
    try:
        init = cls.from_config(config)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{what}: initializer {spec['class_name']} has a config scratchnet "
                         f"cannot build: {err}") from None
    if init.get_config() == cls().get_config():
        return cls.name
    return initializers.serialize(init)


def _idf_weights(assets: dict, path: str, size: int, what: str) -> list[float]:
    """An adapted Keras TextVectorization's idf weights (``output_mode="tf_idf"``): the weights
    file's ``<path>/vars/idf_weights``, one per vocabulary entry (padding to max_tokens cut)."""
    idf = None
    if assets.get(WEIGHTS_FILE) is not None:
        with _open_h5(assets[WEIGHTS_FILE], what) as f:
            item = f.get(f"{path}/vars/idf_weights")
            idf = np.asarray(item[()]) if isinstance(item, h5py.Dataset) else None
    if idf is None:
        raise ValueError(f"{what}: output_mode='tf_idf' but no idf_weights at "
                         f"{path}/vars/idf_weights in {WEIGHTS_FILE}")
    return idf[:size].tolist()


def _vocabulary_from_assets(assets: dict, path: str, class_name: str):
    """An adapted Keras lookup layer's vocabulary: ``assets/<path>/vocabulary.txt``."""
    data = assets.get(f"assets/{path}/vocabulary.txt")
    if data is None:
        return None
    tokens = data.decode("utf-8").split("\n")
    return [int(t) for t in tokens] if class_name == "IntegerLookup" else tokens


# --------------------------------------------------------------------------- compile config
def _compile_from_config(model, config: dict, where: str) -> None:
    what = f"{where} (compile_config)"
    if config.get("loss_weights"):
        raise ValueError(f"{what} sets loss_weights={config['loss_weights']!r}, which scratchnet "
                         "does not support (one output); load it with compile=False")
    try:
        optimizer = _optimizer_from_keras(config.get("optimizer", "rmsprop"), what)
        loss = config.get("loss")  # None: compiled without a loss (Model.compile)
        loss = None if loss is None else _loss_from_keras(loss, what)
        metrics = [_metric_from_keras(m, what) for m in _metric_list(config.get("metrics"))]
        weighted = [_metric_from_keras(m, what)
                    for m in _metric_list(config.get("weighted_metrics"))]
        extra = {"weighted_metrics": weighted} if weighted else {}
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics, **extra)
    except (TypeError, ValueError) as err:
        if str(err).startswith(where):
            raise
        raise ValueError(f"{what}: {err}") from err


def _metric_list(metrics) -> list:
    """Keras' metrics entry: None, one metric, or a list (a dict means several outputs)."""
    if metrics is None:
        return []
    if isinstance(metrics, dict):
        raise ValueError(f"metrics given per output ({metrics!r:.200}); scratchnet models have one "
                         "output")
    return list(metrics) if isinstance(metrics, list | tuple) else [metrics]


def _find_class(module, class_name: str, base: type):
    for attr in dir(module):
        cls = getattr(module, attr)
        if isinstance(cls, type) and issubclass(cls, base) and cls is not base \
                and (getattr(cls, "keras_name", None) or cls.__name__) == class_name:
            return cls
    return None


def _known_names(module, base: type) -> list[str]:
    return sorted({getattr(c, "keras_name", None) or c.__name__ for c in vars(module).values()
                   if isinstance(c, type) and issubclass(c, base) and c is not base
                   and not c.__name__.startswith("_")})


def _optimizer_from_keras(spec, what: str):
    from scratchnet import optimizers

    if isinstance(spec, str):
        return optimizers.get(spec)
    if not isinstance(spec, dict) or not isinstance(spec.get("class_name"), str):
        raise ValueError(f"unreadable optimizer {spec!r:.200}")
    cls = _find_class(optimizers, spec["class_name"], optimizers.Optimizer)
    if cls is None:
        raise ValueError(f"optimizer {spec['class_name']!r} is not one scratchnet has; "
                         f"supported: {_known_names(optimizers, optimizers.Optimizer)}")
    kwargs = _constructor_args(cls, dict(spec.get("config") or {}), _KERAS_ONLY_OPTIMIZER_ARGS,
                               f"optimizer {spec['class_name']}")
    if isinstance(kwargs.get("inner_optimizer"), dict):  # LossScaleOptimizer's
        kwargs["inner_optimizer"] = _optimizer_from_keras(kwargs["inner_optimizer"], what)
    if isinstance(kwargs.get("optimizer_map"), dict):  # MultiOptimizer's OptimizerMap
        spec = kwargs["optimizer_map"].get("config", {})
        kwargs["optimizer_map"] = optimizers.OptimizerMap(
            _optimizer_from_keras(spec.get("default_optimizer"), what),
            {key: _optimizer_from_keras(value, what)
             for key, value in (spec.get("optimizer_map") or {}).items()})
    if isinstance(kwargs.get("learning_rate"), dict):
        kwargs["learning_rate"] = _schedule_from_keras(kwargs["learning_rate"])
    return cls(**kwargs)


def _schedule_from_keras(spec: dict):
    from scratchnet import optimizers

    module = getattr(optimizers, "schedules", None)
    class_name = spec.get("class_name")
    cls = None
    if module is not None:
        cls = next((c for c in vars(module).values() if isinstance(c, type)
                    and (getattr(c, "keras_name", None) or c.__name__) == class_name), None)
    if cls is None:
        raise ValueError(f"learning-rate schedule {class_name!r} is not one scratchnet has")
    return cls(**(spec.get("config") or {}))


def _loss_from_keras(spec, what: str):
    from scratchnet import losses

    if spec is None:
        raise ValueError("no loss")
    if isinstance(spec, str):
        return losses.get(spec)
    if not isinstance(spec, dict) or not isinstance(spec.get("class_name"), str):
        raise ValueError(f"loss {spec!r:.200} is not a single loss; scratchnet models have one "
                         "output and one loss")
    cls = _find_class(losses, spec["class_name"], losses.Loss)
    if cls is None:
        raise ValueError(f"loss {spec['class_name']!r} is not one scratchnet has; supported: "
                         f"{_known_names(losses, losses.Loss)}")
    kwargs = _constructor_args(cls, dict(spec.get("config") or {}), _KERAS_ONLY_LOSS_ARGS,
                               f"loss {spec['class_name']}")
    return cls(**kwargs)


def _metric_from_keras(spec, what: str):
    from scratchnet import metrics

    if isinstance(spec, str):
        return spec
    if not isinstance(spec, dict) or not isinstance(spec.get("class_name"), str):
        raise ValueError(f"metric {spec!r:.200} is not a single metric")
    if spec["class_name"] == "function":  # a metric function, by name (Keras' form)
        from scratchnet.metrics_functions import BY_NAME

        if spec.get("config") not in BY_NAME:
            raise ValueError(f"metric function {spec.get('config')!r} is not one scratchnet has; "
                             f"supported: {sorted(BY_NAME)}")
        return BY_NAME[spec["config"]]
    cls = _find_class(metrics, spec["class_name"], metrics.Metric)
    if cls is None:
        raise ValueError(f"metric {spec['class_name']!r} is not one scratchnet has; supported: "
                         f"{_known_names(metrics, metrics.Metric)}")
    keeps_dtype = getattr(cls, "keeps_dtype", False)  # IoU counts in its dtype (int64 by default)
    config = {k: v for k, v in (spec.get("config") or {}).items() if k != "dtype" or keeps_dtype}
    return cls(**config)


# --------------------------------------------------------------------------- the weights file
def keras_units(model, flat: bool = False) -> list[tuple[str, str, list]]:
    """The entries of Keras' ``model.layers`` as ``(name, class name, scratchnet layers)``: one
    layer each, but a ``Sequential`` that a Keras functional model holds as one layer, whose
    layers scratchnet lists one by one (:func:`record_units` notes them when it loads such a
    file). ``flat``: one entry per entry of ``model.layers`` regardless (how scratchnet writes
    the model); a builder's ``Sequential`` layer (``applications._builder.Sequential``) is one
    entry holding its layers either way."""
    units = getattr(model, "_keras_units", None)
    if units is not None and not flat:
        return units
    if getattr(model, "_keras_entries", None) is not None and not flat:  # nested models it built
        return _units_of(model._keras_entries)
    from scratchnet.saving_functional import file_layers

    # (a builder's Sequential layer, applications._builder.Sequential, is one entry of model.layers)
    return [(layer.name, "Sequential", list(layer.layers)) if keras_class_name(layer) == "Sequential"
            else (layer.name, keras_class_name(layer), [layer]) for layer in file_layers(model)]


def _weight_paths(model, flat: bool = False) -> list[tuple[str, object]]:
    """``(path in a .weights.h5 file, layer)`` for every layer of ``model``, in the file's
    nesting: ``layers/dense``, and a nested Sequential's ``layers/sequential/layers/dense``
    (``flat``: as scratchnet writes the same model, its layers one by one)."""
    units = keras_units(model, flat)
    nested = {} if flat else _nested_models(model)
    pairs = []
    for path, (name, class_name, layers) in zip(layer_paths([u[1] for u in units]), units, strict=True):
        if name in nested:  # a nested model of Keras' file: its own paths under its group
            pairs += [(f"{path}/{sub}", layer) for sub, layer in _weight_paths(nested[name])]
        elif class_name == "Sequential":
            inner = layer_paths([keras_class_name(layer) for layer in layers])
            pairs += [(f"{path}/{sub}", layer) for sub, layer in zip(inner, layers, strict=True)]
        else:
            pairs.append((path, layers[0]))
    return pairs


def _entry_weight_paths(model) -> list[tuple[str, object]]:
    """:func:`_weight_paths` of a Sequential holding a functional model, as its config lists the
    entries (:meth:`Model._entries`): each layer at ``layers/<name>``, the functional model's
    under its own group (``layers/functional/layers/conv2d``), as Keras writes the same model."""
    from scratchnet.model import Model

    entries = model._entries()
    pairs = []
    for path, entry in zip(layer_paths([_units_of([e])[0][1] for e in entries]), entries, strict=True):
        if isinstance(entry, Model):
            pairs += [(f"{path}/{sub}", layer) for sub, layer in _weight_paths(entry)]
        else:
            pairs.append((path, entry))
    return pairs


def _read_layer_weights(f: h5py.File, model, where: str, skip_mismatch: bool = False) -> list[np.ndarray]:
    """Every layer's arrays from ``layers/<path>/vars``, checked against the model's shapes, in
    ``model.weights`` order.

    ``skip_mismatch`` (``load_weights``): as Keras, a group of weights (one Keras object: a layer,
    a recurrent cell) that does not fit is skipped, not refused, and one warning lists them all. The
    group's weights before the first misfit are loaded, as Keras assigns them one by one; a group
    with another number of weights loads none.
    """
    from scratchnet import kernels

    found = {}  # id(param) -> array
    failed = []  # (the object, the error) for each group skipped
    for path, layer in _file_weight_paths(f, model):
        if overrides_hook(layer, "load_own_variables"):
            continue  # its own load_own_variables reads its group (own_variable_stores)
        for subpath, _, expected in weight_groups(layer):  # trainable, then non-trainable (moving stats)
            try:
                found.update(_read_group(f, f"{path}/{subpath}", layer, expected, where))
            except _Misfit as err:
                if not skip_mismatch:
                    raise ValueError(str(err)) from None
                found.update(err.loaded)
                failed.append((f'layer "{layer.name}" ({path}/{subpath})', err))
    if failed:
        warnings.warn(f"{where}: A total of {len(failed)} objects could not be loaded. Example error "
                      f"message for object {failed[0][0]}:\n\n{failed[0][1]}\n\nList of objects that "
                      f"could not be loaded:\n{[name for name, _ in failed]}", stacklevel=4)
    return [found[id(param)] if id(param) in found else kernels.to_numpy(param.value).copy()
            for param in model.weights]


def _file_weight_paths(f: h5py.File, model) -> list[tuple[str, object]]:
    """:func:`_weight_paths` as the file ``f`` nests them (a file scratchnet wrote is flat)."""
    paths = _weight_paths(model)
    if any(path.count("/layers/") and path.split("/layers/")[0] not in f for path, _ in paths):
        paths = _weight_paths(model, flat=True)
    return paths


def overrides_hook(layer, name: str) -> bool:
    """Whether ``layer``'s class overrides Keras' saving hook ``name`` (``save_own_variables``,
    ``load_own_variables``) or defines ``save_assets``/``load_assets``, which Layer does not have."""
    from scratchnet.layers.base import Layer

    own = getattr(type(layer), name, None)
    return own is not None and own is not getattr(Layer, name, None)


def own_variable_stores(f: h5py.File, model, where: str) -> list[tuple[object, dict]]:
    """``(layer, store)`` for each layer that overrides ``load_own_variables``: its group of the
    file (``layers/<path>/vars``) read into a dict of arrays, for :func:`run_load_hooks` to hand
    over once the other weights are set (Keras' order: ``load_own_variables`` after the model is
    built and compiled)."""
    stores = []
    for path, layer in _file_weight_paths(f, model):
        if overrides_hook(layer, "load_own_variables"):
            group = f.get(f"{path}/vars")
            if not isinstance(group, h5py.Group):
                raise ValueError(f'{where} has no variables for layer "{layer.name}" at {path}/vars')
            stores.append((layer, {key: np.asarray(item[()]) for key, item in group.items()
                                   if isinstance(item, h5py.Dataset)}))
    return stores


def run_load_hooks(model, stores: list[tuple[object, dict]], assets: dict | None = None) -> None:
    """Keras' loading hooks, in its order: each ``load_own_variables(store)``, then each
    ``load_assets(folder)`` with the layer's files from the archive's ``assets/<path>/``."""
    for layer, store in stores:
        layer.load_own_variables(store)
    if not assets:
        return
    import tempfile

    for path, layer in _weight_paths(model, flat=True):
        if not overrides_hook(layer, "load_assets"):
            continue
        prefix = f"assets/{path}/"
        with tempfile.TemporaryDirectory() as folder:
            for name, data in assets.items():
                if name.startswith(prefix) and not name.endswith("/"):
                    target = Path(folder, name[len(prefix):])
                    if Path(folder) not in target.resolve().parents:  # a name with "..": refused
                        raise ValueError(f"archive member {name!r} points outside its folder")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(data)
            layer.load_assets(folder)


def layer_assets(model) -> dict[str, bytes]:
    """``{archive name: bytes}`` of the files each layer with ``save_assets`` writes into its
    folder, ``assets/<path>/`` (Keras' ``DiskIOStore``)."""
    import tempfile

    files = {}
    for path, layer in _weight_paths(model, flat=True):
        if not overrides_hook(layer, "save_assets"):
            continue
        with tempfile.TemporaryDirectory() as folder:
            layer.save_assets(folder)
            for item in sorted(Path(folder).rglob("*")):
                if item.is_file():
                    files[f"assets/{path}/{item.relative_to(folder).as_posix()}"] = item.read_bytes()
    return files


class _Misfit(ValueError):
    """A group of weights that does not fit; ``loaded``: the arrays read before the misfit."""

    def __init__(self, message: str, loaded: dict):
        super().__init__(message)
        self.loaded = loaded


def _read_group(f: h5py.File, where_vars: str, layer, expected: list, where: str) -> dict:
    """``{id(param): array}`` for one group of a layer's weights (``layers/dense/vars``)."""
    group = f.get(where_vars)
    if group is None and not expected:
        return {}
    if not isinstance(group, h5py.Group):
        raise _Misfit(f'{where} has no weights for layer "{layer.name}" ({type(layer).__name__}) at '
                      f"{where_vars}", {})
    # the weights are 0, 1, ...; a named entry is other Keras state (idf_weights, see _build_layer)
    keys = sorted((k for k in group.keys() if k.isdigit()), key=int)
    if len(keys) != len(expected):
        raise _Misfit(f'{where}: layer "{layer.name}" expected {len(expected)} variables, but received '
                      f"{len(keys)} variables at {where_vars}. Expected: "
                      f"{[p.name.split('/')[-1] for p in expected]}", {})
    loaded = {}
    for i, param in enumerate(expected):
        item = group.get(str(i))
        if not isinstance(item, h5py.Dataset):
            raise _Misfit(f"{where}: {where_vars}/{i} ({param.name}) is missing", loaded)
        value = np.asarray(item[()])
        if value.shape != param.value.shape:
            raise _Misfit(f"{where}: {where_vars}/{i} ({param.name}) has shape {value.shape}, the "
                          f"model expects {param.value.shape}", loaded)
        loaded[id(param)] = value
    return loaded


def weight_groups(layer) -> list[tuple[str, str, list]]:
    """Where Keras keeps a layer's weights: ``(group under the layer's path in a .keras file,
    prefix of their names in an .h5 file, the weights)``. Most layers: ``("vars", layer.name,
    layer.weights)``; a layer whose Keras twin keeps them in sub-layers (a recurrent layer's cell,
    Bidirectional's two layers) says where with ``keras_weight_groups()``."""
    own = getattr(layer, "keras_weight_groups", None)
    return own() if own is not None else [("vars", layer.name, layer.weights)]


def _holds_arrays(group) -> bool:
    found = []
    if isinstance(group, h5py.Group):
        group.visititems(lambda name, item: found.append(name)
                         if isinstance(item, h5py.Dataset) else None)
    return bool(found)


def _read_optimizer_state(f: h5py.File, model, where: str):
    """``(iterations, learning_rate or None, state dict)``, or None for a never-built Keras
    optimizer (it saved only iterations and learning rate, both at their start)."""
    group = f.get("optimizer/vars")
    if not isinstance(group, h5py.Group):
        return None
    arrays = [np.asarray(group[str(i)][()]) for i in range(len(group)) if str(i) in group]
    if len(arrays) != len(group):
        raise ValueError(f"{where}: optimizer/vars holds unexpected entries {sorted(group.keys())}")
    return optimizer_state_from_arrays(arrays, model, where)


def optimizer_state_from_arrays(arrays: list[np.ndarray], model, where: str):
    """``(iterations, learning_rate or None, state dict)`` from the Keras optimizer's variables in
    their order (iterations, learning rate, slots, trailing scalars), or None for a never-built
    optimizer. ``.keras`` and legacy ``.h5`` files hold the same list."""
    try:
        return _optimizer_state(model.optimizer, model.params, arrays, where)
    except _OptimizerCountMismatch as err:
        # A model quantized after Keras built its optimizer keeps the float kernels' slots in the
        # file; Keras skips such state with a warning, and so does scratchnet (for such models only)
        if not any(getattr(layer, "quantization_mode", None) for layer in model.layers):
            raise
        warnings.warn(f"Skipping variable loading for optimizer '{model.optimizer.name}', because it "
                      f"has {err.needed} variables whereas the saved optimizer has {err.saved} "
                      "variables. ", stacklevel=3)
        return None


class _OptimizerCountMismatch(ValueError):
    """A saved optimizer with another number of variables than the model's needs."""

    def __init__(self, message: str, saved: int, needed: int):
        super().__init__(message)
        self.saved, self.needed = saved, needed


def _optimizer_state(opt, params, arrays: list[np.ndarray], where: str):
    name = keras_class_name(opt)
    if name == "LossScaleOptimizer":  # its own four (see _loss_scale_own_values), then the inner's
        if len(arrays) <= 4:
            return None  # never built
        inner = _optimizer_state(opt.inner_optimizer, params, arrays[4:], where)
        if inner is None:
            return None
        return (*inner[:3], {"step_counter": int(arrays[2]), "dynamic_scale": float(arrays[3])})
    if name == "MultiOptimizer":  # its own two, then each optimizer's (see _optimizer_values)
        state, i = {}, 2
        for index, (inner, group) in enumerate(zip(opt.optimizers, opt.params_of(params), strict=True)):
            n = len(_optimizer_values(inner, group))
            part = _optimizer_state(inner, group, arrays[i:i + n], where)
            i += n
            if part is not None:  # (MultiOptimizer.state's keys)
                calls, lr, inner_state = part
                state.update({f"optimizers/{index}/{key}": value for key, value in inner_state.items()})
                state[f"optimizers/{index}/calls"] = np.array(calls)
                if lr is not None:
                    inner.learning_rate = lr
        if i != len(arrays):
            raise ValueError(f"{where}: optimizer MultiOptimizer has {len(arrays)} saved variables; "
                             f"the model needs {i}")
        return int(arrays[0]), None, state
    config = opt.get_config()
    has_lr = opt.learning_rate_schedule is None
    layout = _slot_layout(name, config, params, opt)
    head = 2 if has_lr else 1
    if len(arrays) <= head and (not arrays or int(arrays[0]) == 0):
        return None  # saved before the first update: the fresh optimizer is the same
    if layout is None:
        raise ValueError(f"{where}: scratchnet does not know how Keras lays out the variables of "
                         f"optimizer {name}")
    trailing = _TRAILING_SCALARS.get(name, [])
    if len(arrays) != head + len(layout) + len(trailing):
        needed = head + len(layout) + len(trailing)
        raise _OptimizerCountMismatch(f"{where}: optimizer {name} has {len(arrays)} saved variables; "
                                      f"the model needs {needed}", len(arrays), needed)
    iterations, lr = int(arrays[0]), (float(arrays[1]) if has_lr else None)
    state, i = {}, head
    for key, shape, _ in layout:
        value = arrays[i]
        if value.shape != shape:
            raise ValueError(f"{where}: optimizer/vars/{i} ({key}) has shape {value.shape}, "
                             f"expected {shape}")
        state[key] = value
        i += 1
    for key, _ in trailing:
        state[key] = arrays[i]
        i += 1
    return iterations, lr, state


def _set_weights(model, weights: list[np.ndarray], where: str) -> None:
    try:
        model.set_weights(weights)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where} {_why_weights_refused(err)}: {err}") from err


def _why_weights_refused(err: Exception) -> str:
    """The first half of a load error: a NaN is not a shape mismatch."""
    if "NaN or infinity" in str(err):
        return ("holds a weight with NaN or infinity (saved from a training that diverged?); "
                "scratchnet does not load it")
    return "holds weights that do not fit the model"



def _set_optimizer_state(model, optimizer_state) -> None:
    from scratchnet import config as sn_config

    iterations, lr, state, *own = optimizer_state
    opt = model.optimizer
    if own:  # a LossScaleOptimizer's scale and count
        opt.step_counter = own[0]["step_counter"]
        opt.dynamic_scale = np.float32(own[0]["dynamic_scale"])
    opt.iterations = iterations
    if lr is not None:
        opt.learning_rate = lr
    dtype = sn_config.dtype()
    opt.state = {key: value.astype(dtype) for key, value in state.items()}
