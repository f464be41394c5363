"""The hot loops, and the one place that chooses which implementation runs them.

Every operation here exists as a NumPy reference (``kernels/*.py``, the code a learner reads and
steps into) and, where it pays, a Numba twin with the *same signature* (``kernels/numba_*.py``).
Layers call only the names exported below; :func:`set_backend` decides what they point to.

Stepping into a kernel with a debugger: ``sn.set_backend("numpy")``, or keep the Numba backend and
set ``NUMBA_DISABLE_JIT=1`` before Python starts, which runs the Numba twin as plain Python.
"""

from __future__ import annotations

import os
from types import ModuleType

from scratchnet.kernels import bias as _bias_numpy
from scratchnet.kernels import conv as _conv_numpy
from scratchnet.kernels import dense as _dense_numpy
from scratchnet.kernels import pooling as _pool_numpy

BACKENDS = ("numpy", "numba")
KERNEL_NAMES = (
    "conv2d_forward",
    "conv2d_backward_input",
    "conv2d_backward_kernel",
    "maxpool2d_forward",
    "maxpool2d_backward",
    "bias_grad",
    "conv2d_bias_relu_forward",
    "matmul",
)

_backend = "numpy"
_impl: dict[str, object] = {}


def _numpy_table() -> dict[str, object]:
    return {
        "conv2d_forward": _conv_numpy.conv2d_forward,
        "conv2d_backward_input": _conv_numpy.conv2d_backward_input,
        "conv2d_backward_kernel": _conv_numpy.conv2d_backward_kernel,
        "maxpool2d_forward": _pool_numpy.maxpool2d_forward,
        "maxpool2d_backward": _pool_numpy.maxpool2d_backward,
        "bias_grad": _bias_numpy.bias_grad,
        "conv2d_bias_relu_forward": _bias_numpy.conv2d_bias_relu_forward,
        "matmul": _dense_numpy.matmul,
    }


def _numba_module() -> ModuleType | None:
    """Import the Numba twins if Numba imports and they exist; ``None`` otherwise."""
    try:
        from scratchnet.kernels import numba_kernels
    except ImportError:
        return None
    return numba_kernels


def _numba_table() -> dict[str, object]:
    module = _numba_module()
    if module is None:
        raise ValueError(
            "set_backend: backend 'numba' is not available (numba failed to import); "
            "use set_backend('numpy')"
        )
    module.keep_freed_memory()  # reuse the same pages step after step (see its docstring)
    table = _numpy_table()
    for name in KERNEL_NAMES:
        if hasattr(module, name):
            table[name] = getattr(module, name)
    return table


def set_backend(name: str) -> None:
    """Choose the kernel implementation: ``"numpy"`` (readable reference) or ``"numba"``."""
    global _backend
    if not isinstance(name, str) or name not in BACKENDS:
        raise ValueError(f"set_backend: expected one of {BACKENDS}, received {name!r}")
    table = _numpy_table() if name == "numpy" else _numba_table()
    _impl.clear()
    _impl.update(table)
    _backend = name


def get_backend() -> str:
    """The name of the kernel implementation in use."""
    return _backend


def _default_backend() -> str:
    requested = os.environ.get("SCRATCHNET_BACKEND")
    if requested:
        return requested
    return "numba" if _numba_module() is not None else "numpy"


def conv2d_forward(xpad, kernel, strides, dilation, out_hw):
    return _impl["conv2d_forward"](xpad, kernel, strides, dilation, out_hw)


def conv2d_backward_input(dy, kernel, strides, dilation, padded_hw):
    return _impl["conv2d_backward_input"](dy, kernel, strides, dilation, padded_hw)


def conv2d_backward_kernel(xpad, dy, kernel_hw, strides, dilation):
    return _impl["conv2d_backward_kernel"](xpad, dy, kernel_hw, strides, dilation)


def maxpool2d_forward(xpad, pool_size, strides, out_hw):
    return _impl["maxpool2d_forward"](xpad, pool_size, strides, out_hw)


def maxpool2d_backward(dy, argmax, pool_size, strides, padded_hw):
    return _impl["maxpool2d_backward"](dy, argmax, pool_size, strides, padded_hw)


def bias_grad(dz):
    return _impl["bias_grad"](dz)


def conv2d_bias_relu_forward(xpad, kernel, bias, strides, dilation, out_hw):
    return _impl["conv2d_bias_relu_forward"](xpad, kernel, bias, strides, dilation, out_hw)



def matmul(a, b):
    return _impl["matmul"](a, b)


set_backend(_default_backend())
