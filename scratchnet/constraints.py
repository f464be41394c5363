"""Weight constraints with Keras' names: ``Dense(64, kernel_constraint=sn.constraints.MaxNorm(3))``.

A constraint is a projection: after every optimizer update the optimizer replaces each trainable
weight ``w`` that has one by ``constraint(w)`` (Keras 3.15's ``BaseOptimizer.apply``: "Apply
variable constraints after applying gradients"; :meth:`scratchnet.optimizers.Optimizer.apply`
here, the one update path of every optimizer, backend and distribution strategy). The gradient
is not touched, and the constraint is not applied when the weight is created.

The formulas (``keras/src/constraints/constraints.py``), with ``norms = sqrt(sum(w ** 2, axis,
keepdims=True))`` and ``eps = 1e-7`` (``keras.config.epsilon()``) added to the norm in the
DENOMINATOR only::

    MaxNorm(max_value=2, axis=0):   w * (clip(norms, 0, max_value) / (eps + norms))
    MinMaxNorm(min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        desired = rate * clip(norms, min_value, max_value) + (1 - rate) * norms
        w * (desired / (eps + norms))
    NonNeg():                       maximum(w, 0)
    UnitNorm(axis=0):               w / (eps + norms)

So a column already inside the bounds still shrinks by ``norms / (eps + norms)``, as in Keras.
For a Dense kernel ``(in, units)`` ``axis=0`` takes the norm of each unit's incoming weights; for
a Conv2D kernel ``(kh, kw, in, filters)`` Keras' docstring suggests ``axis=[0, 1, 2]``.

Keras' string names are the class names and their snake_case forms: ``"max_norm"``,
``"min_max_norm"``, ``"non_neg"``, ``"unit_norm"`` (``"MaxNorm"``, ... too). A constraint of
one's own subclasses :class:`Constraint` and defines ``__call__(w)`` (and ``get_config`` if it
has arguments), exactly as in Keras.
"""

from __future__ import annotations

import numbers

import numpy as np

from scratchnet import kernels

EPSILON = 1e-7  # keras.config.epsilon()


class Constraint:
    """Base class: ``__call__(w)`` returns the projected weight (by default ``w`` unchanged)."""

    def __call__(self, w):
        return w

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict) -> Constraint:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _axis(value, where: str):
    """Keras' ``axis``: an int or a list/tuple of ints (kept as given for the config)."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if isinstance(value, list | tuple):
        ok = bool(value) and all(isinstance(a, numbers.Integral) and not isinstance(a, bool)
                                 for a in value)
    if not ok:
        raise ValueError(f"{where}: expected axis to be an int or a list of ints, received {value!r}")
    return value


def _number(value, arg: str, where: str):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{where}: expected {arg} to be a number, received {value!r}")
    return value


def _norms(w, axis):
    """``sqrt(sum(w ** 2, axis, keepdims=True))``, the norm of each slice along ``axis``."""
    xp = kernels.xp_of(w)
    axis = tuple(axis) if isinstance(axis, list | tuple) else axis
    return xp.sqrt(xp.sum(xp.square(w), axis=axis, keepdims=True))


class MaxNorm(Constraint):
    """Each slice along ``axis`` gets a norm of at most ``max_value``:
    ``w * (clip(norms, 0, max_value) / (eps + norms))``."""

    def __init__(self, max_value=2, axis=0):
        self.max_value = _number(max_value, "max_value", "MaxNorm")
        self.axis = _axis(axis, "MaxNorm")

    def __call__(self, w):
        xp = kernels.xp_of(w)
        f = w.dtype.type
        norms = _norms(w, self.axis)
        desired = xp.clip(norms, f(0), f(self.max_value))
        return w * (desired / (f(EPSILON) + norms))

    def get_config(self) -> dict:
        return {"max_value": self.max_value, "axis": self.axis}


class MinMaxNorm(Constraint):
    """Each slice's norm moved towards ``[min_value, max_value]`` at ``rate`` (1.0: all the way):
    ``desired = rate * clip(norms, min_value, max_value) + (1 - rate) * norms``,
    ``w * (desired / (eps + norms))``."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value = _number(min_value, "min_value", "MinMaxNorm")
        self.max_value = _number(max_value, "max_value", "MinMaxNorm")
        self.rate = _number(rate, "rate", "MinMaxNorm")
        self.axis = _axis(axis, "MinMaxNorm")

    def __call__(self, w):
        xp = kernels.xp_of(w)
        f = w.dtype.type
        norms = _norms(w, self.axis)
        desired = (f(self.rate) * xp.clip(norms, f(self.min_value), f(self.max_value))
                   + f(1 - self.rate) * norms)
        return w * (desired / (f(EPSILON) + norms))

    def get_config(self) -> dict:
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate,
                "axis": self.axis}


class NonNeg(Constraint):
    """``maximum(w, 0)``: negative weights become 0."""

    def __call__(self, w):
        return kernels.xp_of(w).maximum(w, w.dtype.type(0))


class UnitNorm(Constraint):
    """Each slice along ``axis`` scaled to norm 1: ``w / (eps + norms)``."""

    def __init__(self, axis=0):
        self.axis = _axis(axis, "UnitNorm")

    def __call__(self, w):
        return w / (w.dtype.type(EPSILON) + _norms(w, self.axis))

    def get_config(self) -> dict:
        return {"axis": self.axis}


# Keras exports the classes under snake_case names too: ``constraints.max_norm(3)`` is ``MaxNorm(3)``.
max_norm, min_max_norm, non_neg, unit_norm = MaxNorm, MinMaxNorm, NonNeg, UnitNorm
_CLASSES = (Constraint, MaxNorm, MinMaxNorm, NonNeg, UnitNorm)
# Keras' ALL_OBJECTS_DICT: each class by its name and by its snake_case name ("constraint" too).
_REGISTRY = {**{c.__name__: c for c in _CLASSES},
             "constraint": Constraint, "max_norm": MaxNorm, "min_max_norm": MinMaxNorm,
             "non_neg": NonNeg, "unit_norm": UnitNorm}


def get(identifier, where: str = "constraint") -> Constraint | None:
    """``None``, a :class:`Constraint` (or any callable ``w -> w``, as Keras accepts), a name
    (``"max_norm"``), a Constraint class, or Keras' serialized form
    (``{"class_name": "MaxNorm", "config": {"max_value": 2, "axis": 0}, ...}``, what ``.keras``
    files hold)."""
    if identifier is None or isinstance(identifier, Constraint):
        return identifier
    if isinstance(identifier, str):
        if identifier in _REGISTRY:
            return _REGISTRY[identifier]()
        raise ValueError(f"{where}: unknown constraint {identifier!r}; expected None, one of "
                         f"{sorted(_REGISTRY)} or a sn.constraints.Constraint")
    if isinstance(identifier, dict):
        cls = _REGISTRY.get(identifier.get("class_name"))
        if cls is None:
            raise ValueError(f"{where}: unknown constraint {identifier!r:.200}; expected one of "
                             f"{sorted(_REGISTRY)} (a constraint of your own: pass the object)")
        try:
            return cls.from_config(identifier.get("config") or {})
        except TypeError as err:
            raise ValueError(f"{where}: unreadable constraint config {identifier!r:.200}: {err}") \
                from None
    if isinstance(identifier, type) and issubclass(identifier, Constraint):
        return identifier()
    if callable(identifier) and not isinstance(identifier, type):
        return identifier  # Keras accepts any callable w -> projected w
    raise ValueError(f"{where}: could not interpret constraint identifier {identifier!r:.200}; "
                     f"expected None, one of {sorted(_REGISTRY)} or a sn.constraints.Constraint")


def serialize(constraint) -> dict | None:
    """Keras' serialized form (the one ``.keras`` files hold), or None."""
    from scratchnet.utils import serialization

    if constraint is None:
        return None
    if not isinstance(constraint, Constraint):
        raise ValueError(f"cannot serialize constraint {constraint!r}: a plain function has no "
                         "config; subclass sn.constraints.Constraint to save it")
    return serialization.builtin_or_user_spec(constraint, constraint.get_config(), _CLASSES,
                                              "keras.constraints")


def deserialize(config, custom_objects: dict | None = None) -> Constraint | None:
    """``keras.constraints.deserialize``: what :func:`get` reads, and a constraint class of the
    user's, found among the registered objects or in ``custom_objects``."""
    from scratchnet.utils import serialization

    user_object = serialization._user_object_from_config(config, Constraint, _REGISTRY, custom_objects)
    return user_object if user_object is not None else get(config, "constraints.deserialize")


def apply(params) -> None:
    """Replace each weight that has a constraint by its projection, in place (the optimizer's
    last act in each update, as Keras' ``BaseOptimizer.apply``)."""
    for param in params:
        if param.constraint is not None:
            projected = param.constraint(param.value)
            if tuple(np.shape(projected)) != tuple(param.value.shape):
                raise ValueError(f'constraint {param.constraint!r} of weight "{param.name}" returned '
                                 f"shape {tuple(np.shape(projected))}, expected {param.value.shape}")
            param.value[...] = projected
