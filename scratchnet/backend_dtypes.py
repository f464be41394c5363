"""Keras' dtype rules (``keras/src/backend/common/dtypes.py`` and ``variables.py``), as the
TensorFlow backend applies them: ``standardize_dtype``, ``is_float_dtype``/``is_int_dtype`` and
``result_type``, the dtype an operation on several inputs computes in.

``result_type`` walks JAX's type-promotion lattice, which Keras copies: ``bool -> int ->
{uint8, int8}``, each integer to the next wider one and ``uint`` to the ``int`` of twice its
width, the widest integers to (weak) ``float``, then ``bfloat16``/``float16 -> float32 ->
float64``. The result is the least upper bound of the inputs. Python ``int`` and ``float`` are
"weak": they take the other input's type (``int32`` with ``float`` gives ``floatx``, not
float64), and when every input is weak the result gets ``floatx``'s precision. Unlike NumPy,
``int32`` with ``float16`` gives ``float16``, ``int64`` with ``uint64`` gives ``floatx``, and a
``uint64`` result is reported as ``uint32`` (Keras' 64-to-32-bit table, which the TensorFlow
backend keeps for uint64 only among the real types).
"""

from __future__ import annotations

import functools

BOOL_TYPES = ("bool",)
INT_TYPES = ("uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64")
FLOAT_TYPES = ("bfloat16", "float16", "float32", "float64")
WEAK_TYPES = ("int", "float")
COMPLEX_TYPES = ("complex64", "complex128")
FLOAT8_TYPES = ("float8_e4m3fn", "float8_e5m2")
ALLOWED_DTYPES = ("float16", "float32", "float64", "uint8", "uint16", "uint32", "uint64", "int8",
                  "int16", "int32", "int64", "bfloat16", "bool", "string", "float8_e4m3fn",
                  "float8_e5m2", "complex64", "complex128")
# Python's types, as the TensorFlow backend names them (int is int64 there).
PYTHON_DTYPES_MAP = {bool: "bool", int: "int64", float: "float32", str: "string", "int": "int64",
                     complex: "complex128"}


# Keras' last step, as the TensorFlow backend sets it: int64 and float64 stay, uint64 becomes
# uint32 and complex128 complex64 (so bool with uint64 gives uint32).
BIT64_TO_BIT32_DTYPE = {"int64": "int64", "uint64": "uint32", "float64": "float64",
                        "complex128": "complex64"}


def standardize_dtype(dtype) -> str:
    """The dtype's Keras name: ``None`` -> floatx, Python types mapped, NumPy dtypes by name;
    anything else is ``ValueError("Invalid dtype: ...")``."""
    from scratchnet import config

    if dtype is None:
        return config.floatx()
    dtype = PYTHON_DTYPES_MAP.get(dtype, dtype)
    if hasattr(dtype, "name"):
        dtype = dtype.name
    elif hasattr(dtype, "__name__"):
        dtype = dtype.__name__
    if dtype not in ALLOWED_DTYPES:
        raise ValueError(f"Invalid dtype: {dtype}")
    return dtype


def is_float_dtype(dtype) -> bool:
    dtype = standardize_dtype(dtype)
    return dtype.startswith("float") or dtype.startswith("bfloat")


def is_int_dtype(dtype) -> bool:
    dtype = standardize_dtype(dtype)
    return dtype.startswith("int") or dtype.startswith("uint")


def _lattice() -> dict[str, list[str]]:
    """Each type and the types directly above it."""
    (b1,) = BOOL_TYPES
    (u1, u2, u4, u8, i1, i2, i4, i8) = INT_TYPES
    bf, f2, f4, f8 = FLOAT_TYPES
    i_, f_ = WEAK_TYPES
    c64, c128 = COMPLEX_TYPES
    return {b1: [i_], u1: [i2, u2], u2: [i4, u4], u4: [i8, u8], u8: [f_], i_: [u1, i1, c64],
            i1: [i2], i2: [i4], i4: [i8], i8: [f_], f_: [bf, f2], bf: [f4], f2: [f4],
            f4: [f8, c64], f8: [c128], c64: [c128], c128: []}


def _upper_bounds() -> dict[str, set[str]]:
    """Every type and all the types at or above it (the transitive closure)."""
    lattice = _lattice()
    bounds = {node: {node} for node in lattice}
    for node in lattice:
        while True:
            above = set().union(*(lattice[b] for b in bounds[node]))
            if above <= bounds[node]:
                break
            bounds[node] |= above
    return bounds


UPPER_BOUNDS = _upper_bounds()


@functools.lru_cache(512)
def _least_upper_bound(*nodes: str) -> str:
    try:
        bounds = [UPPER_BOUNDS[n] for n in set(nodes)]
    except KeyError:
        dtype = next(n for n in nodes if n not in UPPER_BOUNDS)
        raise ValueError(f"dtype={dtype!r} is not a valid dtype for Keras type promotion.") from None
    common = set.intersection(*bounds)
    least = (common & set(nodes)) or {c for c in common if common <= UPPER_BOUNDS[c]}
    if len(least) != 1:
        raise ValueError(f"Input dtypes {tuple(nodes)} have no available implicit dtype promotion "
                         "path. Try explicitly casting inputs to the desired output type.")
    return least.pop()


def _weak_name(dtype: str, weak: bool) -> str:
    """A weak input stands for its kind: ``"int"``, ``"float"`` (bool stays bool)."""
    if not weak or dtype == "bool":
        return dtype
    for kind in ("float", "int", "complex"):
        if kind in dtype:
            return kind
    raise ValueError(f"Invalid value for argument `dtype`. Expected one of {ALLOWED_DTYPES}. "
                     f"Received: dtype={dtype}")


def _resolve_weak(dtype: str, precision: str) -> str:
    """A weak result at floatx's precision: ``"int"`` -> ``int32`` for float32, ..."""
    indicator = "f" if dtype == "bfloat16" else dtype[:1]
    if indicator == "b":
        return "bool"
    if indicator == "i":
        return f"int{precision}"
    if indicator == "u":
        return f"uint{precision}"
    return f"float{precision}"


def result_type(*dtypes) -> str:
    """The dtype Keras computes in for inputs of ``dtypes`` (see the module docstring); no
    argument gives floatx, ``None`` stands for floatx."""
    from scratchnet import config

    if len(dtypes) == 0:
        return config.floatx()
    for dtype in dtypes:
        if dtype in FLOAT8_TYPES:
            raise ValueError("There is no implicit conversions from float8 dtypes to others. "
                             f"You must cast it internally. Received: {dtypes}")
    args = [config.floatx() if d is None else d for d in dtypes]
    names = [standardize_dtype(a) for a in args]
    weak = [a is int or a is float for a in args]
    if len(names) == 1:
        out, out_weak = names[0], weak[0]
    elif len(set(names)) == 1 and not all(weak):
        out, out_weak = names[0], False
    elif all(weak):
        out, out_weak = _least_upper_bound(*set(names)), True
    else:
        out = _least_upper_bound(*{_weak_name(d, w) for d, w in zip(names, weak, strict=True)})
        out_weak = out in WEAK_TYPES
    if out_weak and out != "bool":
        out = _resolve_weak(out, config.floatx()[-2:])
    return BIT64_TO_BIT32_DTYPE.get(out, out)
