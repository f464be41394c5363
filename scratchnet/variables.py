"""``keras.Variable``: a named array that can be assigned to, made on its own.

::

    v = sn.Variable(initializer=np.ones((2, 2)))          # the value given
    w = sn.Variable("glorot_uniform", shape=(3, 4), name="w")
    v.assign(v * 2)

A :class:`Variable` is a :class:`~scratchnet.layers.base.Parameter` (the array a layer owns, with
``value`` and ``grad``), so everything that reads a weight reads it: ``np.asarray(v)``,
``v.numpy()``, arithmetic, ``sn.ops``. A layer written the Keras way may also set one as an
attribute (``self.w = sn.Variable(...)`` in ``__init__`` or ``build``): as in Keras, the layer
then owns it as a weight (trainable or not, as made), named ``"<layer>/<name>"``.
"""

from __future__ import annotations

import numpy as np

from scratchnet import config
from scratchnet import initializers as inits
from scratchnet.layers.base import Parameter


class Variable(Parameter):
    """``keras.Variable(initializer, shape=None, dtype=None, trainable=True, name=None)``.

    ``initializer`` is the value itself (array-like; ``shape``, if given, must match it) or an
    initializer (name, object or callable ``(shape, dtype)``), which then needs ``shape``.
    Without ``dtype``, Keras' rule: an initializer makes floatx; a NumPy array keeps its dtype;
    a Python number or list becomes float32 or int32 (``Variable(3)`` is an int32 ``3``).
    Unnamed variables are ``variable``, ``variable_1``, ... in order of making (until
    ``clear_session``), as in Keras.
    ``autocast``, ``aggregation`` and ``synchronization`` are accepted for Keras' signature; they
    concern mixed precision and distribution strategies, which a variable here does not take
    part in.
    """

    def __init__(self, initializer, shape=None, dtype=None, trainable: bool = True,
                 autocast: bool = True, aggregation: str = "none", synchronization: str = "auto",
                 name: str | None = None):
        where = f"Variable{'' if name is None else f' {name!r}'}"
        if name is not None and (not isinstance(name, str) or "/" in name):
            raise ValueError(f"{where}: expected name to be a string without '/', received {name!r}")
        if shape is not None:
            shape = tuple(int(d) for d in shape) if np.ndim(shape) else (int(shape),)
        if isinstance(initializer, str | dict | inits.Initializer) or \
                (callable(initializer) and not isinstance(initializer, np.ndarray)):
            if shape is None:
                raise ValueError(f"{where}: when creating a Variable from an initializer, the `shape` "
                                 f"argument should be specified. Received: initializer={initializer!r} "
                                 "and shape=None")
            dtype = np.dtype(config.floatx() if dtype is None else getattr(dtype, "name", dtype))
            value = _initial_value(initializer, shape, dtype, where)
        else:
            value = _given_value(initializer, dtype, where)
            if shape is not None and tuple(value.shape) != shape:
                raise ValueError(f"{where}: initial value has shape {tuple(value.shape)}, which does "
                                 f"not match the shape argument {shape}")
            dtype = value.dtype
        super().__init__("/".join([*_SCOPES, name or _auto_name()]), np.require(value, requirements="C"),
                         trainable=bool(trainable))
        self.owner = None  # the layer that took it as a weight (adopt_variables)

    @property
    def path(self) -> str:
        """Keras' ``variable.path``: ``"<layer>/<name>"`` once a layer owns it, else its name
        under the :class:`name_scope` it was made in (``"outer/v"``). (``name`` is the path too,
        as for every scratchnet weight: ``"dense/kernel"``.)"""
        return self.name


_SCOPES: list[str] = []


class name_scope:  # noqa: N801 (Keras' name)
    """``with sn.name_scope("encoder"):`` a :class:`Variable` made inside is named
    ``"encoder/<name>"`` (Keras' ``variable.path``); scopes nest (``"outer/inner/v"``).
    Layers take their weights' names from the layer's own name, as before."""

    def __init__(self, name: str, **kwargs):
        if not isinstance(name, str) or not name:
            raise ValueError(f"name_scope: expected name to be a non-empty string, received {name!r}")
        unknown = set(kwargs) - {"caller", "deduplicate", "override_parent"}
        if unknown:
            raise TypeError(f"name_scope got unexpected keyword argument(s) {sorted(unknown)}")
        self.name = name

    def __enter__(self):
        _SCOPES.append(self.name)
        return self

    def __exit__(self, *exc):
        _SCOPES.pop()
        return False


class device:  # noqa: N801 (Keras' name)
    """``with sn.device("cpu:0"):`` Keras' device placement. scratchnet computes where its backend
    says (``sn.set_backend``): NumPy and Numba on the CPU, CuPy on the GPU. So a CPU device is
    accepted under the CPU backends and a GPU device (``"gpu:0"``, ``"cuda:0"``) under CuPy;
    any other pairing is an error rather than a silent placement on the other device."""

    def __init__(self, device_name: str):
        from scratchnet.kernels import get_backend

        kind = str(device_name).lower().removeprefix("/").removeprefix("device:").split(":")[0]
        backend = get_backend()
        on_gpu = backend == "cupy"
        if kind not in {"cpu", "gpu", "cuda"}:
            raise ValueError(f"device: expected a device name such as 'cpu:0' or 'gpu:0', received "
                             f"{device_name!r}")
        if (kind == "cpu") == on_gpu:
            raise ValueError(f"device: {device_name!r} is not where the {backend!r} backend computes "
                             f"({'the GPU' if on_gpu else 'the CPU'}); choose the backend with "
                             "sn.set_backend")
        self.device_name = device_name

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _auto_name() -> str:
    """Keras' names for unnamed variables, from its ``variable`` counter (``backend.get_uid``):
    ``variable``, ``variable_1``, ... in order of making, until ``clear_session``."""
    n = config.get_uid("variable")
    return "variable" if n == 1 else f"variable_{n - 1}"


def _given_value(initializer, dtype, where: str) -> np.ndarray:
    """The initial value given as data, in ``dtype``; without one, as Keras infers it: a NumPy
    array keeps its dtype, a Python number or list becomes float32 or int32 (TensorFlow's
    conversion)."""
    if dtype is not None:
        return np.array(initializer, dtype=np.dtype(getattr(dtype, "name", dtype)))
    value = np.array(_untraced(initializer))
    if value.dtype.kind not in "biuf":
        raise TypeError(f"{where}: expected a numeric initial value, received {initializer!r} "
                        f"(dtype {value.dtype})")
    if not isinstance(initializer, np.ndarray | np.generic | Parameter):
        value = value.astype({"f": np.float32, "i": np.int32, "u": np.int32}.get(value.dtype.kind,
                                                                                  value.dtype))
    return value


def _untraced(value):
    return value.value if isinstance(value, Parameter) else value


def _initial_value(initializer, shape: tuple, dtype: np.dtype, where: str) -> np.ndarray:
    if isinstance(initializer, str | dict) or isinstance(initializer, inits.Initializer):
        from scratchnet.layers.input_layer import global_rng

        init = inits.get(initializer, where=f"{where}: initializer")
        return np.asarray(init(shape, dtype.name, global_rng()), dtype=dtype)
    try:  # a plain callable, Keras' (shape, dtype) signature
        return np.asarray(initializer(shape, dtype=dtype.name), dtype=dtype)
    except TypeError:
        return np.asarray(initializer(shape), dtype=dtype)


def adopt_variables(layer) -> None:
    """Make every :class:`Variable` held by an attribute of ``layer`` (directly or in a list or
    tuple) one of its weights, as Keras' attribute tracking does: it joins ``params`` (trainable)
    or ``non_trainable_params`` under its own name (``variable``, ``variable_1``, ... when
    taken), and is renamed ``"<layer>/<name>"``. A Variable another layer already owns is left
    to it."""
    for value in list(vars(layer).values()):
        for item in value if isinstance(value, list | tuple) else [value]:
            if isinstance(item, Variable) and item.owner is None:
                taken = set(layer.params) | set(layer.non_trainable_params)
                base = short = item.name
                i = 0
                while short in taken:
                    i += 1
                    short = f"{base}_{i}"
                item.name = f"{layer.name}/{short}"
                item.owner = layer
                (layer.params if item.trainable else layer.non_trainable_params)[short] = item
