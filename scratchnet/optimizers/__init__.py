"""Optimizers and learning-rate schedules, one formula a line, as Keras 3 writes them.

One file per algorithm, named as in ``keras/src/optimizers/``: ``sgd.py`` (SGD), ``adam.py``
(Adam, AdamW), ``rmsprop.py``, ``adagrad.py``, ``nadam.py``, ``adamax.py``, ``adadelta.py``,
``lion.py``, ``lamb.py``, ``ftrl.py``, ``adafactor.py``, ``muon.py``,
``schedule_free_adamw.py``, and the wrappers ``loss_scale_optimizer.py`` (dynamic loss scaling)
and ``multi_optimizer.py`` (MultiOptimizer, OptimizerMap: an optimizer per weight); what they
share (clipping, weight decay, the learning rate, gradient accumulation, loss scaling, state per
parameter name) is in ``base.py``; ``schedules.py`` holds the
learning-rate schedules. Here: the names ``compile`` accepts, and saving.

String names resolve as Keras resolves them, case-insensitively by class name: ``"sgd"``,
``"adam"``, ``"adamw"``, ``"rmsprop"``, ``"adagrad"``, ``"nadam"``, ``"adamax"``, ``"adadelta"``,
``"lion"``, ``"ftrl"``, ``"adafactor"``, ``"muon"``, ``"schedulefreeadamw"`` (``compile``'s
default is ``"rmsprop"``); the wrappers have none, as they need their inner optimizers. ``serialize``
writes Keras' form,
``{"module": "keras.optimizers", "class_name": "Adam", "config": {...}, "registered_name": None}``,
a schedule nested the same way. ``Lamb`` has no string name: Keras 3.15.1 does not resolve
``"lamb"`` either (its table of names lacks it), so ``get("lamb")`` says to pass ``Lamb()``.
"""

from __future__ import annotations

from scratchnet.optimizers import legacy, schedules
from scratchnet.optimizers.adadelta import Adadelta
from scratchnet.optimizers.adafactor import Adafactor
from scratchnet.optimizers.adagrad import Adagrad
from scratchnet.optimizers.adam import Adam, AdamW
from scratchnet.optimizers.adamax import Adamax
from scratchnet.optimizers.base import Optimizer
from scratchnet.optimizers.ftrl import Ftrl
from scratchnet.optimizers.lamb import Lamb
from scratchnet.optimizers.lion import Lion
from scratchnet.optimizers.loss_scale_optimizer import LossScaleOptimizer
from scratchnet.optimizers.multi_optimizer import MultiOptimizer, OptimizerMap
from scratchnet.optimizers.muon import Muon
from scratchnet.optimizers.nadam import Nadam
from scratchnet.optimizers.rmsprop import RMSprop
from scratchnet.optimizers.schedule_free_adamw import ScheduleFreeAdamW
from scratchnet.optimizers.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Nadam", "Adamax", "Adadelta",
           "Lion", "Lamb", "Ftrl", "Adafactor", "Muon", "ScheduleFreeAdamW", "LossScaleOptimizer",
           "MultiOptimizer", "OptimizerMap", "schedules", "legacy", "get",
           "serialize", "deserialize"]

_REGISTRY: dict[str, type[Optimizer]] = {
    cls.__name__.lower(): cls
    for cls in (SGD, Adam, AdamW, RMSprop, Adagrad, Nadam, Adamax, Adadelta, Lion, Lamb, Ftrl,
                Adafactor, Muon, ScheduleFreeAdamW, LossScaleOptimizer, MultiOptimizer)}
# Wrappers: they need another optimizer, so no string names them (Keras fails on them as well).
_WRAPPERS = ("lossscaleoptimizer", "multioptimizer")

def get(identifier) -> Optimizer:
    """An optimizer from an instance (returned as is), a name, or a serialized dict."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str) and identifier.lower() == "lamb":
        # Keras 3.15.1 does not resolve this name (its table of optimizer names lacks Lamb), so a
        # program relying on it would not run in Keras
        raise ValueError("compile: Keras does not resolve the optimizer name 'lamb'; pass "
                         "scratchnet.optimizers.Lamb() (keras.optimizers.Lamb()) instead")
    if isinstance(identifier, str) and identifier.lower() in _WRAPPERS:
        raise ValueError(f"compile: the optimizer {identifier!r} wraps another one and has no "
                         "string name; pass e.g. scratchnet.optimizers.LossScaleOptimizer("
                         "scratchnet.optimizers.Adam()) or MultiOptimizer(OptimizerMap(...))")
    if isinstance(identifier, str) and identifier.lower() in _REGISTRY:
        return _REGISTRY[identifier.lower()]()
    raise ValueError(
        f"compile: unknown optimizer {identifier!r}; expected one of {sorted(_REGISTRY)} (any "
        "case), a serialized optimizer dict or a scratchnet.optimizers.Optimizer instance"
    )


def serialize(opt: Optimizer) -> dict:
    """Keras' serialized form of ``opt``, ready for JSON."""
    if type(opt).__name__.lower() not in _REGISTRY:
        raise ValueError(f"serialize: {type(opt).__name__} is not one of scratchnet's optimizers "
                         f"({sorted(cls.__name__ for cls in _REGISTRY.values())}); it cannot be saved")
    return {"module": "keras.optimizers", "class_name": type(opt).__name__,
            "config": opt.get_config(), "registered_name": None}


def deserialize(config: dict) -> Optimizer:
    """The optimizer :func:`serialize` (or Keras) wrote; also reads the older ``{"name": "adam",
    "config": {...}}`` of ``.npz`` files saved before the schedules existed."""
    if not isinstance(config, dict) or not ("class_name" in config or "name" in config):
        raise ValueError("deserialize: expected a dict with 'class_name' and 'config' (as "
                         f"optimizers.serialize writes), received {config!r}")
    class_name = str(config.get("class_name", config.get("name")))
    cls = _REGISTRY.get(class_name.lower())
    if cls is None:
        raise ValueError(f"deserialize: unknown optimizer {class_name!r}; expected one of "
                         f"{sorted(cls.__name__ for cls in _REGISTRY.values())}")
    return cls.from_config(dict(config.get("config", {})))
