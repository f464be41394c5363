"""Keras' object registry and serialization (``keras.saving`` / ``keras.utils``):
``register_keras_serializable``, ``get_custom_objects``, ``custom_object_scope``,
``get_registered_name`` / ``get_registered_object``, ``serialize_keras_object`` /
``deserialize_keras_object``.

The registry is Keras' (``keras/src/saving/object_registration.py``): a class registered as
``@register_keras_serializable(package="MyLayers")`` is known as ``"MyLayers>ClassName"``; saving
writes that ``registered_name`` into the ``.keras`` file, and loading finds the class again
without ``custom_objects``. Lookup order, as Keras: the active ``custom_object_scope``, then the
registered objects, then the ``custom_objects`` argument. As in Keras, entering a scope replaces
the scope dict of an enclosing one (scopes do not merge).

``serialize_keras_object`` returns Keras' dict form (``{"module", "class_name", "config",
"registered_name"}``) for what scratchnet can write to a ``.keras`` file: layers, models,
initializers, losses, metrics, optimizers, activation and metric functions, NumPy arrays, and
registered objects with a ``get_config``; ``deserialize_keras_object`` reads those dicts back into
scratchnet objects.
"""

from __future__ import annotations

import inspect
import threading

import numpy as np

_GLOBAL_CUSTOM_OBJECTS: dict = {}
_GLOBAL_CUSTOM_NAMES: dict = {}
_SCOPE = threading.local()  # .objects: the active custom_object_scope's dict


def _scope_objects() -> dict:
    return getattr(_SCOPE, "objects", {})


class CustomObjectScope:
    """``with custom_object_scope({"MyLayer": MyLayer}):`` makes the names known to loading inside
    the block. Entering replaces the scope dict of any enclosing scope; leaving restores it."""

    def __init__(self, custom_objects: dict | None):
        if custom_objects is not None and not isinstance(custom_objects, dict):
            raise TypeError(f"CustomObjectScope: expected custom_objects to be a dict, received "
                            f"{custom_objects!r}")
        self.custom_objects = custom_objects or {}
        self.backup = None

    def __enter__(self):
        self.backup = dict(_scope_objects())
        _SCOPE.objects = dict(self.custom_objects)
        return self

    def __exit__(self, *args, **kwargs):
        _SCOPE.objects = dict(self.backup)


custom_object_scope = CustomObjectScope


def get_custom_objects() -> dict:
    """The global registry itself (a dict: adding to it registers, as in Keras)."""
    return _GLOBAL_CUSTOM_OBJECTS


def register_keras_serializable(package: str = "Custom", name: str | None = None):
    """Decorator: register a class (which needs ``get_config``) or a function as
    ``"package>name"`` (``name`` defaults to its ``__name__``)."""

    def decorator(arg):
        class_name = name if name is not None else arg.__name__
        registered_name = f"{package}>{class_name}"
        if inspect.isclass(arg) and not hasattr(arg, "get_config"):
            raise ValueError("Cannot register a class that does not have a get_config() method.")
        _GLOBAL_CUSTOM_OBJECTS[registered_name] = arg
        _GLOBAL_CUSTOM_NAMES[arg] = registered_name
        return arg

    return decorator


def get_registered_name(obj) -> str:
    """``"package>name"`` for a registered class or function, else its ``__name__``."""
    if obj in _GLOBAL_CUSTOM_NAMES:
        return _GLOBAL_CUSTOM_NAMES[obj]
    return obj.__name__


def get_registered_object(name: str, custom_objects: dict | None = None,
                          module_objects: dict | None = None):
    """The object known as ``name``: the active scope first, then the registry, then
    ``custom_objects``, then ``module_objects``; None if none has it."""
    scope = _scope_objects()
    if name in scope:
        return scope[name]
    if name in _GLOBAL_CUSTOM_OBJECTS:
        return _GLOBAL_CUSTOM_OBJECTS[name]
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    if module_objects and name in module_objects:
        return module_objects[name]
    return None


def builtin_or_user_spec(obj, config: dict, builtins: tuple | set, keras_module: str) -> dict:
    """Keras' serialized dict of ``obj``, an initializer, regularizer or constraint, whose
    ``config`` the caller gives (``serialize_keras_object`` in keras/src/saving/serialization_lib.py).
    One of scratchnet's own classes (in ``builtins``, and not registered again by the user) is
    Keras' built-in of that name: written under its public module ``keras_module`` with no
    registered name (``serialize_with_public_class``). Any other class is the user's: written under
    its own module, with its registered name (``"package>Name"``, or the class name if it was not
    registered)."""
    cls = type(obj)
    if cls in builtins and cls not in _GLOBAL_CUSTOM_NAMES:
        return {"module": keras_module, "class_name": cls.__name__, "config": config,
                "registered_name": None}
    return {"module": cls.__module__, "class_name": cls.__name__, "config": config,
            "registered_name": get_registered_name(cls)}


def _user_object_from_config(config, base: type, builtin_names, custom_objects: dict | None = None):
    """The object of a user's class that the serialized dict ``config`` describes: a subclass of
    ``base`` whose class name is not one of ``builtin_names``, found among the registered objects
    or in ``custom_objects`` (by its registered name, else its class name) and built with its
    ``from_config``. None when ``config`` names no such class (a built-in's form is for the
    caller's own ``get``)."""
    if not isinstance(config, dict) or config.get("class_name") in builtin_names:
        return None
    cls = get_registered_object(config.get("registered_name") or str(config.get("class_name")),
                                custom_objects)
    if isinstance(cls, type) and issubclass(cls, base):
        return cls.from_config(config.get("config") or {})
    return None


def registered_objects(custom_objects: dict | None = None) -> dict:
    """One dict for loading, in Keras' precedence: scope over registry over ``custom_objects``."""
    merged = dict(custom_objects or {})
    merged.update(_GLOBAL_CUSTOM_OBJECTS)
    merged.update(_scope_objects())
    return merged


# ---------------------------------------------------------------------------- serialization
def _function_spec(name: str) -> dict:
    """A function as Keras writes it: by name (a registered one by ``"package>name"``), under
    ``builtins``."""
    return {"module": "builtins", "class_name": "function", "config": name,
            "registered_name": "function"}


def serialize_keras_object(obj):
    """Keras' serialized form of ``obj`` (see the module docstring for what is covered)."""
    from scratchnet import activations, initializers, losses, metrics, optimizers, saving_keras
    from scratchnet.layers.base import Layer
    from scratchnet.metrics_functions import BY_NAME as METRIC_FUNCTIONS
    from scratchnet.model import Model

    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    if isinstance(obj, list | tuple):
        return [serialize_keras_object(x) for x in obj]
    if isinstance(obj, dict):
        return {key: serialize_keras_object(value) for key, value in obj.items()}
    if isinstance(obj, np.ndarray) and obj.ndim > 0:
        return {"class_name": "__numpy__", "config": {"value": obj.tolist(), "dtype": str(obj.dtype)}}
    if isinstance(obj, np.generic | np.ndarray):
        return obj.item()
    if isinstance(obj, Model):
        return saving_keras.model_config(obj)
    if isinstance(obj, Layer):
        return saving_keras._layer_config(obj)
    if isinstance(obj, initializers.Initializer):
        return saving_keras._initializer_to_keras(obj)
    if isinstance(obj, losses.Loss):
        return saving_keras._loss_spec(obj)
    if isinstance(obj, metrics.Metric):
        return saving_keras._metric_to_keras(obj)
    if isinstance(obj, optimizers.Optimizer):
        return saving_keras._optimizer_to_keras(obj)
    if obj in _GLOBAL_CUSTOM_NAMES or inspect.isclass(type(obj)) and type(obj) in _GLOBAL_CUSTOM_NAMES:
        return _registered_spec(obj)
    if isinstance(obj, activations.FunctionActivation):  # a user's function as an activation
        return obj.keras_config()
    if isinstance(obj, activations.Activation) or callable(obj) and obj in activations._BY_FUNCTION:
        return _function_spec(activations.serialize(obj))
    if callable(obj) and METRIC_FUNCTIONS.get(getattr(obj, "__name__", None)) is obj:
        return _function_spec(obj.__name__)
    if inspect.isfunction(obj) and obj.__name__ != "<lambda>":  # a plain function of the user's
        return _function_spec(obj.__name__)
    raise TypeError(f"serialize_keras_object: cannot serialize {obj!r} of type {type(obj).__name__}: "
                    "scratchnet serializes its layers, models, initializers, losses, metrics, "
                    "optimizers, activation and metric functions, NumPy arrays, and objects "
                    "registered with register_keras_serializable that have get_config()")


def _registered_spec(obj) -> dict:
    if inspect.isfunction(obj):
        # Keras writes every named function under its public class ``function``, the registered
        # name ("package>name") as the config (serialize_with_public_class and
        # _get_class_or_fn_config, keras/src/saving/serialization_lib.py)
        return _function_spec(get_registered_name(obj))
    config = obj.get_config()
    if not isinstance(config, dict):
        raise TypeError(f"The `get_config()` method of {obj} should return a dict. "
                        f"It returned: {config}")
    return {"module": type(obj).__module__, "class_name": type(obj).__name__,
            "config": serialize_keras_object(config),
            "registered_name": get_registered_name(type(obj))}


def deserialize_keras_object(config, custom_objects: dict | None = None, safe_mode: bool = True,
                             **kwargs):
    """The scratchnet object a Keras serialized dict describes (plain values pass through)."""
    from scratchnet import activations, initializers, saving_keras
    from scratchnet.metrics_functions import BY_NAME as METRIC_FUNCTIONS

    if config is None or isinstance(config, bool | int | float | str):
        return config
    if isinstance(config, list | tuple):
        return [deserialize_keras_object(c, custom_objects, safe_mode) for c in config]
    if not isinstance(config, dict):
        raise TypeError(f"deserialize_keras_object: could not parse config: {config!r:.200}")
    if "class_name" not in config or "config" not in config:
        return {key: deserialize_keras_object(value, custom_objects, safe_mode)
                for key, value in config.items()}
    class_name, inner = config["class_name"], config["config"]
    module = config.get("module") or ""
    where = "deserialize_keras_object"
    if class_name == "__numpy__":
        return np.array(inner["value"], dtype=inner["dtype"])
    registered = config.get("registered_name") or class_name
    if class_name == "function":
        fn = get_registered_object(inner, custom_objects) or get_registered_object(registered,
                                                                                  custom_objects)
        if fn is not None:
            return fn
        if inner in METRIC_FUNCTIONS and not module.startswith("keras.activations"):
            return METRIC_FUNCTIONS[inner]
        try:
            return activations.deserialize(inner)
        except ValueError:
            pass
        if isinstance(inner, str) and ">" not in inner:  # Keras <= 3.6 wrote "name" for "package>name"
            for name, fn in registered_objects(custom_objects).items():
                if name.endswith(f">{inner}"):
                    return fn
        # Keras' error (_retrieve_class_or_fn, keras/src/saving/serialization_lib.py)
        raise TypeError(f"Could not locate function {inner!r}. Make sure custom classes and functions "
                        "are decorated with `@keras.saving.register_keras_serializable()` (or passed in "
                        "custom_objects). If they are already decorated, make sure they are all "
                        "imported so that the decorator is run before trying to load them. Full "
                        f"object config: {config}")
    cls = get_registered_object(registered, custom_objects) or (
        get_registered_object(class_name, custom_objects) if registered == class_name else None)
    from scratchnet.layers.base import Layer

    if cls is not None and not (inspect.isclass(cls) and issubclass(cls, Layer)):
        if hasattr(cls, "from_config"):
            return cls.from_config(inner)
        return cls(**inner)
    if module == "keras" and class_name in ("Sequential", "Functional", "Model"):
        return saving_keras.model_from_config(config, where, custom_objects)
    if cls is not None or module.startswith("keras.layers"):
        return saving_keras._build_layer(config, where, registered_objects(custom_objects), {}, "")
    if module.startswith("keras.initializers"):
        return initializers.get(saving_keras._initializer_from_keras(config, where), where)
    if module.startswith("keras.optimizers"):
        return saving_keras._optimizer_from_keras(config, where)
    if module.startswith("keras.losses"):
        return saving_keras._loss_from_keras(config, where)
    if module.startswith("keras.metrics"):
        return saving_keras._metric_from_keras(config, where)
    raise ValueError(f"{where}: could not locate class {class_name!r} (module {module!r}, "
                     f"registered name {config.get('registered_name')!r}); make sure custom classes "
                     "are decorated with `@register_keras_serializable` or pass them in "
                     "custom_objects")
