"""Keras' ``StatelessScope`` and ``SymbolicScope``: context managers that change what reading and
assigning a variable, or a ``call``, does while they are open.

::

    mapping = [(v, np.zeros(v.shape)) for v in model.weights]
    with sn.StatelessScope(state_mapping=mapping) as scope:
        y = model(x)                                  # computed with the zero weights
        counter.assign_add(1.0)                       # recorded by the scope, not applied
    scope.get_current_value(counter)                  # the would-be new value
    # model.weights and counter are as they were

(``keras/src/backend/common/stateless_scope.py`` and ``symbolic_scope.py``.) Keras' variables
read their value through the open scope; a scratchnet weight is a plain array (``param.value``),
which every layer reads directly, so the scope *shows* its values instead: entering it puts
each mapped value (a copy) in its variable's ``value``, ``variable.assign`` inside puts the new
value there too and records it, and leaving gives every variable its own array back. Reading a
variable inside the scope therefore gives what Keras' ``variable.value`` gives there: the
scope's current value, else the variable's own.

One difference: Keras routes every change of a variable through ``assign``; scratchnet's
BatchNormalization and optimizers update their arrays in place. Such an update inside the scope
changes a mapped variable's scope value (as Keras' would), but changes an *unmapped* variable
itself: map every variable a call may update (``Layer.stateless_call`` maps them all).
"""

from __future__ import annotations

import numpy as np

from scratchnet import kernels
from scratchnet.layers.base import Parameter

_STATE: dict = {"stateless": None, "symbolic": None}


class StatelessScope:
    """``keras.StatelessScope(state_mapping=None, collect_losses=False, initialize_variables=True)``.

    ``state_mapping``: pairs ``(variable, value)``; inside the scope the variable reads ``value``
    (converted to the variable's dtype; its shape must match). ``variable.assign(...)`` inside
    the scope changes no variable: the scope records the value, and :meth:`get_current_value`
    returns it (or the mapped value, or None for a variable neither mapped nor assigned).
    ``collect_losses=True``: ``layer.add_loss`` terms of calls inside are collected in
    ``scope.losses``. ``initialize_variables`` is Keras' lazy initialization of variables made
    inside the scope; a scratchnet variable has its value from the start, so it changes nothing.
    """

    def __init__(self, state_mapping=None, collect_losses: bool = False, initialize_variables: bool = True):
        self.collect_losses = collect_losses
        self.initialize_variables = initialize_variables
        self.losses: list = []
        self.state_mapping: dict[int, np.ndarray] = {}  # id(variable) -> its value in the scope
        self._variables: dict[int, Parameter] = {}
        self._held: dict[int, tuple] = {}  # id(variable) -> (variable, its own array) while open
        self._open = False
        for pair in state_mapping or []:
            k, v = pair
            if not isinstance(k, Parameter):
                raise ValueError("Invalid reference variable in StatelessScope: all keys in argument "
                                 f"`mapping` must be Variable instances. Received instead: {k!r}")
            value = _as_value_of(k, v.value if isinstance(v, Parameter) else v)  # (a copy)
            if value.shape != k.shape:
                raise ValueError("Invalid variable value in StatelessScope: all values in argument "
                                 "`mapping` must be tensors with a shape that matches the corresponding "
                                 f"variable shape. For variable {k.name!r} of shape {k.shape}, received "
                                 f"invalid value with shape {value.shape}.")
            self.state_mapping[id(k)] = value
            self._variables[id(k)] = k

    def __enter__(self):
        self._outer = _STATE["stateless"]
        _STATE["stateless"] = self
        self._open = True
        for key, value in self.state_mapping.items():
            self._show(self._variables[key], value)
        return self

    def __exit__(self, *exc):
        for variable, own in self._held.values():
            variable.value = own
        self._held = {}
        self._open = False
        _STATE["stateless"] = self._outer
        return False

    def _show(self, variable: Parameter, value: np.ndarray) -> None:
        """``value`` as what ``variable`` reads until the scope closes."""
        self._held.setdefault(id(variable), (variable, variable.value))
        variable.value = value

    def add_loss(self, loss) -> None:
        self.losses.append(loss)

    def add_update(self, update) -> None:
        """``(variable, value)``: what ``variable.assign(value)`` does inside the scope."""
        variable, value = update
        value = _as_value_of(variable, value)
        self.state_mapping[id(variable)] = value
        self._variables[id(variable)] = variable
        if self._open:
            self._show(variable, value)

    def get_current_value(self, variable):
        """The variable's value in this scope (mapped or assigned), or None."""
        return self.state_mapping.get(id(variable))


class SymbolicScope:
    """``keras.SymbolicScope()``: marks the symbolic stage (Keras opens one, with a
    :class:`StatelessScope`, while it infers a call's output shape; scratchnet does too, for
    the trial call that gives a layer written the Keras way its output shape). Code that must
    behave differently then asks :func:`in_symbolic_scope`."""

    def __enter__(self):
        self._outer = _STATE["symbolic"]
        _STATE["symbolic"] = self
        return self

    def __exit__(self, *exc):
        _STATE["symbolic"] = self._outer
        return False


def _as_value_of(variable: Parameter, value):
    """A copy of ``value`` in the variable's dtype, where its array lives (the GPU's memory
    under the CuPy backend)."""
    return kernels.xp_of(variable.value).array(kernels.to_numpy(value), dtype=variable.dtype)


def in_stateless_scope() -> bool:
    return _STATE["stateless"] is not None


def get_stateless_scope() -> StatelessScope | None:
    return _STATE["stateless"]


def in_symbolic_scope() -> bool:
    return _STATE["symbolic"] is not None


def get_symbolic_scope() -> SymbolicScope | None:
    return _STATE["symbolic"]
