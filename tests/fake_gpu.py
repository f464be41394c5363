"""A stand-in for CuPy on machines without a GPU, to test *where* scratchnet keeps its arrays.

``FakeGPUArray`` wraps a NumPy array and behaves like ``cupy.ndarray`` at the host boundary:

- ``np.asarray(a)`` raises ``TypeError`` (CuPy: "Implicit conversion to a NumPy array is not
  allowed"); only ``a.get()`` copies to the host;
- mixing it with a NumPy array in arithmetic, indexing or assignment raises ``TypeError``;
- NumPy functions and ufuncs called on it dispatch through ``__array_function__`` and
  ``__array_ufunc__`` (as they do to CuPy), compute with NumPy on the wrapped data, and wrap the
  result again.

It computes nothing on a GPU and says nothing about the CuPy kernels (the device check script
``benchmarks/gpu_check.py`` tests those on a real GPU). What it proves on any machine: the model
moves weights and batches to "the device" once, keeps them there, and crosses back to the host
only where it means to (``get_weights``, ``predict``, metrics, saving).
"""

from __future__ import annotations

import types

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

from scratchnet.kernels import bias as bias_numpy
from scratchnet.kernels import conv as conv_numpy
from scratchnet.kernels import dense as dense_numpy
from scratchnet.kernels import optimizer_steps
from scratchnet.kernels import pooling as pool_numpy
from scratchnet.kernels.bias import bias_grad as bias_grad_numpy

uploads = {"count": 0}  # host -> device copies made by ``asarray``


class FakeGPUArray(NDArrayOperatorsMixin):
    def __init__(self, data):
        self._data = np.asarray(data)

    # --- the host boundary, as CuPy draws it ------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed (FakeGPUArray)")

    def get(self) -> np.ndarray:
        return self._data.copy()

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        args = [_unwrap(a) for a in inputs]
        if out is not None:
            kwargs["out"] = tuple(_unwrap(o) for o in out)
        result = getattr(ufunc, method)(*args, **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _wrap(result)

    def __array_function__(self, func, types, args, kwargs):
        return _wrap(func(*_unwrap(args), **_unwrap(kwargs)))

    # --- the ndarray surface scratchnet uses ------------------------------------------------
    shape = property(lambda self: self._data.shape)
    ndim = property(lambda self: self._data.ndim)
    dtype = property(lambda self: self._data.dtype)
    size = property(lambda self: self._data.size)
    T = property(lambda self: FakeGPUArray(self._data.T))

    def __len__(self):
        return len(self._data)

    def __getitem__(self, key):
        return FakeGPUArray(self._data[_unwrap(key)])

    def __setitem__(self, key, value):
        self._data[_unwrap(key)] = _unwrap(value)

    def __float__(self):
        return float(self._data)

    def __int__(self):
        return int(self._data)

    def __bool__(self):
        return bool(self._data)

    def reshape(self, *shape):
        return FakeGPUArray(self._data.reshape(*shape))

    def astype(self, dtype, copy=True):
        return FakeGPUArray(self._data.astype(dtype, copy=copy))

    def copy(self):
        return FakeGPUArray(self._data.copy())

    def sum(self, *args, **kwargs):
        return FakeGPUArray(self._data.sum(*args, **kwargs))

    def item(self):
        return self._data.item()

    def __repr__(self):
        return f"FakeGPUArray({self._data!r})"


def _unwrap(obj):
    if isinstance(obj, FakeGPUArray):
        return obj._data
    if isinstance(obj, np.ndarray):
        raise TypeError("FakeGPUArray: a NumPy array met a GPU array; move it with xp.asarray first")
    if isinstance(obj, tuple | list):
        return type(obj)(_unwrap(o) for o in obj)
    if isinstance(obj, dict):
        return {k: _unwrap(v) for k, v in obj.items()}
    return obj


def _wrap(obj):
    if isinstance(obj, np.ndarray):
        return FakeGPUArray(obj)
    if isinstance(obj, tuple | list):
        return type(obj)(_wrap(o) for o in obj)
    return obj


def asarray(a, dtype=None):
    if isinstance(a, FakeGPUArray):
        return a if dtype is None else a.astype(dtype, copy=False)
    uploads["count"] += 1
    return FakeGPUArray(np.array(a, dtype=dtype))


module = types.SimpleNamespace(
    __name__="fake_gpu_module",
    ndarray=FakeGPUArray,
    asarray=asarray,
    arange=lambda *a, **k: FakeGPUArray(np.arange(*a, **k)),
    eye=lambda *a, **k: FakeGPUArray(np.eye(*a, **k)),
)


def _kernel(reference):
    """The NumPy reference, refusing host arrays: kernels must only ever see device arrays."""
    def run(*args):
        for a in args:
            if isinstance(a, np.ndarray):
                raise TypeError(f"{reference.__name__}: received a host array on the GPU backend")
        return _wrap(reference(*_unwrap(args)))
    return run


kernel_table = {
    "conv2d_forward": _kernel(conv_numpy.conv2d_forward),
    "conv2d_backward_input": _kernel(conv_numpy.conv2d_backward_input),
    "conv2d_backward_kernel": _kernel(conv_numpy.conv2d_backward_kernel),
    "maxpool2d_forward": _kernel(pool_numpy.maxpool2d_forward),
    "maxpool2d_backward": _kernel(pool_numpy.maxpool2d_backward),
    "bias_grad": _kernel(bias_grad_numpy),
    "conv2d_bias_relu_forward": _kernel(bias_numpy.conv2d_bias_relu_forward),
    "matmul": _kernel(dense_numpy.matmul),
    "relu_backward_bias_grad": _kernel(bias_numpy.relu_backward_bias_grad),
    # as kernels._cupy_table: Adam's NumPy reference as it is, its NumPy calls dispatching to the
    # device arrays (so a host array among them would raise, as above)
    "adam_update": optimizer_steps.adam_update,
}


def install(monkeypatch) -> None:
    """Make scratchnet compute on this stand-in for CuPy for one test (undone by ``monkeypatch``):
    the "fake-gpu" backend, its array module and every kernel of ``kernel_table``."""
    from scratchnet import kernels

    monkeypatch.setattr(kernels, "_gpu_modules", [module])
    monkeypatch.setattr(kernels, "_device", module)
    monkeypatch.setattr(kernels, "_backend", "fake-gpu")
    for name, fn in kernel_table.items():
        monkeypatch.setitem(kernels._impl, name, fn)
