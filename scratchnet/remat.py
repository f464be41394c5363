"""Gradient checkpointing ("rematerialization"): Keras' ``keras.remat`` and ``keras.RematScope``.

A forward pass keeps what its backward pass will read: Dense its pre-activation ``z``, Dropout
its mask, a layer run by the gradient tape every intermediate value of its ``call``. Those
arrays are held from the moment they are made until the backward pass reaches the layer, so at
the end of the forward pass every layer's are held at once: that is the peak of a training
step's memory.

Rematerialization trades time for that memory. A rematerialized layer keeps only its *input*
during the forward pass (and the states of its random generators); when the backward pass
reaches it, it runs its forward pass again from that input, with the same random draws, and then
its backward pass as usual. The results and gradients are bit for bit those without it; each
rematerialized layer costs one more forward pass per training step.

::

    with sn.RematScope(mode="full"):         # the layers MADE here rematerialize
        hidden = sn.layers.Dense(512, activation="gelu")
    remat_block = sn.remat(block_function)   # a function on the gradient tape, checkpointed

Keras' modes (``keras/src/backend/common/remat.py``, ``Layer.rematerialized_call`` in
``keras/src/layers/layer.py`` and ``Operation.rematerialized_call`` in ``ops/operation.py``):
the mode is the one of the innermost ``RematScope`` open when the layer is *made*, and when the
layer runs it rematerializes under ``"full"``; under ``"larger_than"`` if its output has more than
``output_size_threshold`` values (per sample here, see :func:`_applies`); under
``"list_of_layers"`` if its name is in ``layer_names``. ``"activations"`` rematerializes only the
activation function of a layer that has one; in scratchnet an activation keeps its input ``z``
and output ``y``, both of which its backward reads and the layer keeps anyway (``y`` is the next
layer's input), so there is nothing to drop and the mode changes nothing (docs/parity-notes.md).
"""

from __future__ import annotations

import functools
import math
from collections import namedtuple
from dataclasses import dataclass

import numpy as np

from scratchnet.autodiff import Tape, Traced

_MODES = ("full", "activations", "larger_than", "list_of_layers", None)
_SCOPES: list[RematScope] = []  # the open scopes, innermost last


class RematScope:
    """``keras.RematScope(mode="full", output_size_threshold=1024, layer_names=None)``: the
    layers made inside rematerialize (see the module's docstring for the modes)."""

    def __init__(self, mode: str | None = "full", output_size_threshold: int = 1024, layer_names=None):
        if mode not in _MODES:
            raise ValueError(f"Invalid mode '{mode}'. Supported modes are: 'full', 'activations', "
                             "'larger_than', 'list_of_layers', or None.")
        self.mode = mode
        self.output_size_threshold = output_size_threshold
        self.layer_names = list(layer_names or [])

    def __enter__(self):
        _SCOPES.append(self)
        return self

    def __exit__(self, *exc):
        _SCOPES.remove(self)
        return False


RematMode = namedtuple("RematMode", ["mode", "output_size_threshold", "layer_names"])


def get_current_remat_mode() -> RematMode | None:
    """The innermost open :class:`RematScope`'s settings, or None outside any (Keras')."""
    if not _SCOPES:
        return None
    scope = _SCOPES[-1]
    return RematMode(scope.mode, scope.output_size_threshold, scope.layer_names)


# ---------------------------------------------------------------------- remat(f): on the tape
def remat(f):
    """``keras.remat(f)``: ``f`` checkpointed on the gradient tape (:mod:`scratchnet.autodiff`).

    Called on traced arrays (inside a ``Lambda``'s function or the ``call`` of a layer run by the
    tape), ``remat(f)(*args)`` computes ``f`` on the plain values, so none of ``f``'s
    intermediate values go on the tape: the tape gets one line, from the traced arguments to the
    result. When the backward pass reaches that line, ``f`` runs again on a tape of its own, from
    the arguments, with the random generators set back to where they were, and that tape gives
    the arguments' gradients. Called on plain arrays, it is ``f``.

    ``f`` must take the values it differentiates as positional arguments: a layer's weight read
    inside ``f`` (``self.kernel``) is passed as one (``remat(self.block)(x, self.kernel)``);
    ``f`` reading another traced value refuses with a ``TypeError``. Its result is one array.
    """
    from scratchnet.layers.base import Layer

    if isinstance(f, Layer):  # its weights' gradients would not reach the tape
        raise TypeError(f'remat: received the layer "{f.name}"; scratchnet rematerializes a layer when it '
                        "is made in a RematScope: with sn.RematScope(mode=\"list_of_layers\", "
                        f"layer_names=[{f.name!r}]) around making it (or mode=\"full\")")
    if not callable(f):
        raise TypeError(f"remat: expected a callable (a function), received {f!r} of type "
                        f"{type(f).__name__}")

    @functools.wraps(f)
    def rematerialized(*args, **kwargs):
        traced = [k for k, a in enumerate(args) if isinstance(a, Traced)]
        if not traced:
            return f(*args, **kwargs)
        tape = args[traced[0]].tape
        if any(args[k].tape is not tape for k in traced):
            raise ValueError(f"remat({_name(f)}): the traced arguments come from different tapes")
        plain = [a.value if isinstance(a, Traced) else a for a in args]
        states = random_states([f])
        out = f(*plain, **kwargs)  # nothing goes on the tape
        if isinstance(out, Traced):
            raise TypeError(f"remat({_name(f)}): the function read a traced value that is not one of its "
                            "arguments (a layer's weight, self.kernel?); pass it as an argument, "
                            f"remat(f)(x, self.kernel), so its gradient can be computed")
        out = None if isinstance(out, list | tuple | dict) else np.asarray(out)
        if out is None or out.dtype.kind != "f":
            raise TypeError(f"remat({_name(f)}): expected the function to return one float array, "
                            f"received {'a structure' if out is None else f'dtype {out.dtype}'}")
        gradients = _Recompute(f, plain, kwargs, traced, states, tape.where)
        return tape.record(out, [(args[k], functools.partial(gradients.of, i)) for i, k in enumerate(traced)])

    return rematerialized


class _Recompute:
    """The backward rule of a ``remat(f)`` line: ``f`` run again on a tape of its own (once per
    ``dy``: the outer tape asks each traced argument's gradient in turn)."""

    def __init__(self, f, args, kwargs, traced, states, where):
        self.f, self.args, self.kwargs, self.traced, self.states = f, args, kwargs, traced, states
        self.where = where
        self._dy = self._grads = None

    def of(self, i: int, dy):
        if self._dy is not dy:
            tape = Tape(f"{self.where}: remat({_name(self.f)})")
            watched = [tape.watch(a) if k in self.traced else a for k, a in enumerate(self.args)]
            now = random_states([self.f])
            set_random_states(self.states)  # the same draws as the forward pass
            try:
                out = self.f(*watched, **self.kwargs)
            finally:
                set_random_states(now)
            self._dy = dy
            self._grads = tape.gradients([(out, dy)], [watched[k] for k in self.traced])
        grad = self._grads[i]
        if i == len(self.traced) - 1:  # the last asked: nothing to keep
            self._dy = self._grads = None
        return grad


def _name(f) -> str:
    return getattr(f, "__name__", type(f).__name__)


# ---------------------------------------------------------------------- random generators
def random_states(owners) -> list:
    """``(generator, state)`` of every random generator a recomputation might draw from: the
    generators and ``sn.random.SeedGenerator`` s held by ``owners``' attributes (a layer's
    ``rng``; a bound method's object), scratchnet's global generator, and NumPy's legacy one."""
    from scratchnet.layers.input_layer import global_rng
    from scratchnet.random import SeedGenerator

    found = {id(global_rng()): global_rng()}
    for owner in owners:
        owner = getattr(owner, "__self__", owner)  # a bound method: its object's
        for value in getattr(owner, "__dict__", {}).values():
            if isinstance(value, np.random.Generator | SeedGenerator):
                found[id(value)] = value
    states = [(g, g.bit_generator.state if isinstance(g, np.random.Generator) else g.state.value.copy())
              for g in found.values()]
    return states + [(np.random, np.random.get_state())]


def set_random_states(states: list) -> None:
    for generator, state in states:
        if generator is np.random:
            np.random.set_state(state)
        elif isinstance(generator, np.random.Generator):
            generator.bit_generator.state = state
        else:
            generator.state.value[...] = state


# ---------------------------------------------------------------------- RematScope: layers
@dataclass
class _Saved:
    """What a rematerialized layer keeps between its forward and backward passes: the call to
    run again (it holds the layer's input), the random generators' states and the non-trainable
    weights' values before the call."""

    run: object
    random: list
    state: list


def _applies(layer) -> bool:
    """Whether ``layer``'s forward pass rematerializes, by the mode of the scope it was made in
    (Keras' ``rematerialized_call``). ``"larger_than"`` counts the output's values per sample,
    as Keras counts them on a symbolic output whose batch axis is unknown (``None`` counts 1)."""
    mode = getattr(layer, "_remat_mode", None)
    if mode is None or mode.mode is None:
        return False
    if mode.mode == "full":
        return True
    if mode.mode == "list_of_layers":
        return layer.name in mode.layer_names
    if mode.mode == "larger_than":
        shape = layer.output_shape
        shapes = shape if isinstance(shape, list) else [shape]
        size = sum(math.prod(d or 1 for d in s) for s in shapes if s is not None)
        return size > mode.output_size_threshold
    return False  # "activations": nothing to drop in scratchnet (the module's docstring)


def layer_tree(layer) -> list:
    """``layer`` and every layer it is made of, at any depth."""
    found = [layer]
    for sub in getattr(layer, "_sublayers", ()):
        found += layer_tree(sub)
    return found


def checkpointed_forward(layer, run, for_backward: bool = True):
    """``run()`` (the layer's forward pass on its input). When a backward pass follows
    (``for_backward``) and the layer rematerializes, every array the pass left on the layer (and
    on the layers it is made of) for the backward pass is dropped, and only ``run`` (which holds
    the input) is kept, with the random generators' states and the non-trainable weights'
    values, until :func:`rematerialize` runs it again."""
    if not for_backward or _NESTING["depth"] or not _applies(layer):
        return run()  # (inside a checkpointed layer, its layers keep as usual: it drops it all)
    if getattr(layer, "stateful", False):
        raise ValueError(f'layer "{layer.name}" ({type(layer).__name__}) is stateful: its forward pass '
                         "reads the states its last call left, so it cannot be run again for "
                         "rematerialization; make it outside the RematScope")
    layers = layer_tree(layer)
    before = [dict(vars(sub)) for sub in layers]
    random = random_states(layers)
    state = [(p, p.value.copy()) for sub in layers for p in sub.non_trainable_params.values()]
    y = _run_nested(run)
    for sub, old in zip(layers, before, strict=True):
        for name, value in list(vars(sub).items()):
            if (name not in old or old[name] is not value) and _holds_arrays(value):
                setattr(sub, name, None)  # made by this pass for the backward pass: dropped
    layer._remat_saved = _Saved(run, random, state)
    return y


def rematerialize(layer) -> None:
    """Run again the forward pass :func:`checkpointed_forward` checkpointed (if one waits), from
    its input, with the same random draws and non-trainable weights, so the layer holds what its
    backward pass reads. Generators and non-trainable weights are left as they were."""
    saved = vars(layer).pop("_remat_saved", None)
    if saved is None:
        return
    now_random = random_states(layer_tree(layer))
    now_state = [(p, p.value.copy()) for p, _ in saved.state]
    losses = list(getattr(layer, "activity_losses", []))  # (a taped call clears and adds its own)
    set_random_states(saved.random)
    for p, value in saved.state:
        p.value[...] = value
    try:
        _run_nested(saved.run)
    finally:
        set_random_states(now_random)
        for p, value in now_state:
            p.value[...] = value
        if hasattr(layer, "activity_losses"):
            layer.activity_losses[:] = losses


_NESTING = {"depth": 0}  # > 0 while a checkpointed layer runs (its own layers then just run)


def _run_nested(run):
    _NESTING["depth"] += 1
    try:
        return run()
    finally:
        _NESTING["depth"] -= 1


def _holds_arrays(value) -> bool:
    """An array, a tape, or a container of them: what a forward pass keeps for its backward."""
    if isinstance(value, np.ndarray | Traced | Tape):
        return True
    if isinstance(value, list | tuple):
        return any(_holds_arrays(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_arrays(v) for v in value.values())
    return hasattr(value, "__cuda_array_interface__")  # a CuPy array
