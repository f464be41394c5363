"""The hot loops, and the one place that chooses which implementation runs them.

Every operation here exists as a NumPy reference (``kernels/*.py``, the code a learner reads and
steps into) and, where it pays, a Numba twin with the *same signature* (``kernels/numba_*.py``).
Layers call only the names exported below; :func:`set_backend` decides what they point to.

The ``"cupy"`` backend runs the same operations on an NVIDIA GPU (``kernels/cupy_kernels.py``); CuPy is
imported only when it is selected. Its arrays live on the GPU: the model moves its weights there and
each batch of inputs as it arrives; :func:`to_numpy`, :func:`to_backend` and :func:`xp_of` are the
few helpers the rest of scratchnet uses at those boundaries (they import nothing).

Convolutions have four algorithms (:data:`CONV_ALGORITHMS`): ``"im2col"`` (every receptive field
gathered into a matrix, one matrix product: :mod:`scratchnet.kernels.conv`) and, for 3x3 kernels
with stride 1, ``"winograd"`` (Winograd F(2x2, 3x3): :mod:`scratchnet.kernels.winograd`),
``"winograd4"`` (Winograd F(4x4, 3x3) tiles, forward and both gradients: fewer multiplications and
more rounding) and ``"direct"`` (a sum over the kernel's taps, no im2col matrix:
:mod:`scratchnet.kernels.direct`; its Numba twins are loops with the sizes compiled in). The NumPy
backend always runs im2col, so the readable reference gives the same bits run after run; the Numba
backend runs Winograd or the direct loops where they measured faster (:func:`conv2d_algorithm`, the
rule and its numbers). ``Conv2D.conv_algorithm`` and the profiler's table say which one each layer
ran; :func:`set_conv_algorithm` forces one.

Stepping into a kernel with a debugger: ``sn.set_backend("numpy")``, or keep the Numba backend and
set ``NUMBA_DISABLE_JIT=1`` before Python starts, which runs the Numba twin as plain Python. (The
NumPy kernels share their pieces of the batch among threads, :func:`scratchnet.kernels.conv.each_piece`;
under a debugger the pieces run in the debugged thread, with the same results.)
"""

from __future__ import annotations

import os
from types import ModuleType

import numpy as np

from scratchnet.kernels import bias as _bias_numpy
from scratchnet.kernels import conv as _conv_numpy
from scratchnet.kernels import dense as _dense_numpy
from scratchnet.kernels import direct as _direct_numpy
from scratchnet.kernels import memory
from scratchnet.kernels import optimizer_steps as _optimizer_numpy
from scratchnet.kernels import pooling as _pool_numpy
from scratchnet.kernels import winograd as _winograd_numpy

BACKENDS = ("numpy", "numba", "cupy")
KERNEL_NAMES = (
    "conv2d_forward",
    "conv2d_backward_input",
    "conv2d_backward_kernel",
    "maxpool2d_forward",
    "maxpool2d_backward",
    "maxpool2d_values",
    "relu_maxpool2d_backward_bias_grad",
    "bias_grad",
    "conv2d_bias_relu_forward",
    "matmul",
    "relu_backward_bias_grad",
    "winograd_conv2d_forward",
    "winograd_conv2d_bias_relu_forward",
    "winograd_conv2d_backward_kernel",
    "winograd_conv2d_backward_input",
    "conv2d_bias_relu",
    "winograd_conv2d_bias_relu",
    "direct_conv2d_forward",
    "direct_conv2d_bias_relu_forward",
    "direct_conv2d_backward_kernel",
    "direct_conv2d_backward_input",
    "direct_conv2d_bias_relu",
    "winograd_conv2d_bias_relu_maxpool2x2",
    "direct_conv2d_bias_relu_maxpool2x2",
    "direct_conv2d_backward_kernel_relu_maxpool2x2",
    "direct_conv2d_backward_relu_maxpool2x2",
    "adam_update",
    "winograd4_conv2d_forward",
    "winograd4_conv2d_bias_relu_forward",
    "winograd4_conv2d_bias_relu",
    "winograd4_conv2d_bias_relu_maxpool2x2",
    "winograd4_conv2d_backward_kernel",
    "winograd4_conv2d_backward_input",
)
CONV_ALGORITHMS = ("im2col", "winograd", "winograd4", "direct")

_backend = "numpy"
_impl: dict[str, object] = {}
_device: ModuleType | None = None  # the GPU array module of the backend in use (cupy), else None
_gpu_modules: list[ModuleType] = []  # every GPU array module selected so far, to recognise arrays


def _numpy_table() -> dict[str, object]:
    return {
        "conv2d_forward": _conv_numpy.conv2d_forward,
        "conv2d_backward_input": _conv_numpy.conv2d_backward_input,
        "conv2d_backward_kernel": _conv_numpy.conv2d_backward_kernel,
        "maxpool2d_forward": _pool_numpy.maxpool2d_forward,
        "maxpool2d_backward": _pool_numpy.maxpool2d_backward,
        "maxpool2d_values": _pool_numpy.maxpool2d_values,
        "relu_maxpool2d_backward_bias_grad": _pool_numpy.relu_maxpool2d_backward_bias_grad,
        "bias_grad": _bias_numpy.bias_grad,
        "conv2d_bias_relu_forward": _bias_numpy.conv2d_bias_relu_forward,
        "matmul": _dense_numpy.matmul,
        "relu_backward_bias_grad": _bias_numpy.relu_backward_bias_grad,
        "winograd_conv2d_forward": _winograd_numpy.winograd_conv2d_forward,
        "winograd_conv2d_bias_relu_forward": _winograd_numpy.winograd_conv2d_bias_relu_forward,
        "winograd_conv2d_backward_kernel": _winograd_numpy.winograd_conv2d_backward_kernel,
        "winograd_conv2d_backward_input": _winograd_numpy.winograd_conv2d_backward_input,
        "conv2d_bias_relu": _bias_numpy.conv2d_bias_relu,
        "winograd_conv2d_bias_relu": _winograd_numpy.winograd_conv2d_bias_relu,
        "direct_conv2d_forward": _direct_numpy.conv2d_forward,
        "direct_conv2d_bias_relu_forward": _direct_numpy.conv2d_bias_relu_forward,
        "direct_conv2d_backward_kernel": _direct_numpy.conv2d_backward_kernel,
        "direct_conv2d_backward_input": _direct_numpy.conv2d_backward_input,
        "direct_conv2d_bias_relu": _direct_numpy.conv2d_bias_relu,
        "winograd_conv2d_bias_relu_maxpool2x2": _winograd_numpy.winograd_conv2d_bias_relu_maxpool2x2,
        "direct_conv2d_bias_relu_maxpool2x2": _direct_numpy.conv2d_bias_relu_maxpool2x2,
        "direct_conv2d_backward_kernel_relu_maxpool2x2": _direct_numpy.conv2d_backward_kernel_relu_maxpool2x2,
        "direct_conv2d_backward_relu_maxpool2x2": _direct_numpy.conv2d_backward_relu_maxpool2x2,
        "adam_update": _optimizer_numpy.adam_update,
        **{name: getattr(_winograd_numpy, name) for name in KERNEL_NAMES if name.startswith("winograd4_")},
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
    table = _numpy_table()
    for name in KERNEL_NAMES:
        if hasattr(module, name):
            table[name] = getattr(module, name)
    return table


def _cupy_module() -> ModuleType:
    """Import CuPy and check that it sees a GPU; a ValueError that says what is missing if not."""
    try:
        import cupy
    except ImportError as err:
        raise ValueError(
            "set_backend: backend 'cupy' needs CuPy and an NVIDIA GPU; CuPy failed to import "
            f"({err}). Install it with: pip install 'scratchnet[gpu]' (or cupy-cuda13x for CUDA 13)"
        ) from err
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except RuntimeError as err:  # CUDARuntimeError: no driver, or no GPU
        raise ValueError(f"set_backend: backend 'cupy' found no usable NVIDIA GPU ({err})") from err
    if count < 1:
        raise ValueError("set_backend: backend 'cupy' found no NVIDIA GPU (CUDA sees 0 devices)")
    return cupy


def _cupy_table() -> dict[str, object]:
    from scratchnet.kernels import cupy_kernels

    # no Winograd kernels on the GPU: conv2d_algorithm chooses im2col there. The optimizer step's
    # NumPy reference runs on CuPy arrays as it is (its NumPy functions dispatch to CuPy's).
    table = {name: getattr(cupy_kernels, name) for name in KERNEL_NAMES if hasattr(cupy_kernels, name)}
    table.setdefault("adam_update", _optimizer_numpy.adam_update)
    return table


def set_backend(name: str) -> None:
    """Choose the kernel implementation: ``"numpy"`` (readable reference), ``"numba"``, or
    ``"cupy"`` (an NVIDIA GPU; weights and activations then live in GPU memory)."""
    global _backend, _device
    if not isinstance(name, str) or name not in BACKENDS:
        raise ValueError(f"set_backend: expected one of {BACKENDS}, received {name!r}")
    device = None
    if name in ("numpy", "numba"):
        table = _numpy_table() if name == "numpy" else _numba_table()
        memory.keep_freed_memory()  # malloc reuses the same pages step after step (kernels/memory.py)
    else:
        device = _cupy_module()
        table = _cupy_table()
        if device not in _gpu_modules:
            _gpu_modules.append(device)
    _impl.clear()
    _impl.update(table)
    _backend, _device = name, device


def get_backend() -> str:
    """The name of the kernel implementation in use."""
    return _backend


def is_device_array(a) -> bool:
    """True if ``a`` is an array in GPU memory (a ``cupy.ndarray``)."""
    return _gpu_module_of(a) is not None


def xp_of(a) -> ModuleType:
    """The array module that computes on ``a``: ``cupy`` for a GPU array, else ``numpy``."""
    return _gpu_module_of(a) or np


def to_numpy(a) -> np.ndarray:
    """``a`` as a NumPy array in host memory, copied from the GPU if it lives there."""
    return a.get() if is_device_array(a) else np.asarray(a)


def to_backend(a):
    """``a`` where the backend in use computes: in GPU memory for ``"cupy"`` (copied there if it is
    not there yet), else a NumPy array in host memory. Arrays already in place are returned as is."""
    return _device.asarray(a) if _device is not None else to_numpy(a)


def _gpu_module_of(a) -> ModuleType | None:
    for module in _gpu_modules:
        if isinstance(a, module.ndarray):
            return module
    return None


def _default_backend() -> str:
    requested = os.environ.get("SCRATCHNET_BACKEND")
    if requested:
        return requested
    return "numba" if _numba_module() is not None else "numpy"


# ------------------------------------------------------------------ convolution algorithms

_conv_algorithm = "auto"
# Numba backend: Winograd when the layer has at least this many input channels and filters. Measured
# with `python -m benchmarks.conv_algorithms` (2026-12-03, batch 32, float32, 2 cores shared with
# other processes, load average 3-4; median ms per call over 5 interleaved repeats, im2col /
# Winograd, for the forward pass, dL/dK and dL/dx):
#   talk_cnn 74x74x64 -> 64:    327 / 158, 266 / 188, 306 / 174   (Winograd 1.4-2.1x faster)
#   talk_cnn 36x36x64 -> 128:    90 / 61,  101 / 78,   91 / 62    (1.3-1.5x)
#   talk_cnn 17x17x128 -> 128:   36 / 28,   42 / 36,   36 / 31    (1.15-1.25x)
#   (with OpenBLAS' AVX-512 kernels, quiet, 06:38 UTC: 74x74x64 -> 64 2.51, 1.64, 1.81x; 36x36x64 ->
#   128 1.55, 1.41, 1.25x; 17x17x128 -> 128 0.96, 1.04, 0.71x, where im2col would now win by ~10%:
#   a rule on the layer's spatial size is left for later, the layer is 7% of a talk_cnn step)
#   rps_cnn 14x14x32 -> 64:     2.0 / 2.1, 2.3 / 2.6, 2.0 / 2.2   (0.89-0.97x: im2col kept)
#   16 channels (small_cnn, rps_cnn): Winograd 0.63-0.75x; 3 input channels (every first layer,
#   talk_cnn's included): 0.27-0.62x (its 16 products have an inner size of 3). im2col kept.
# Numba backend, the same layers: "winograd4", F(4x4, 3x3) tiles (36 products per 16 outputs instead
# of 16 per 4), first for the forward pass only. Measured 2026-12-04 on the
# 2-core Intel Xeon, batch 32, ms, F(2x2, 3x3) / F(4x4, 3x3), medians of 7 interleaved repeats:
#   `python -m benchmarks.conv_algorithms --models talk_cnn --algorithms winograd winograd4` (the
#   a-only forward): 74x74x64 -> 64 67.6 / 41.4, 36x36x64 -> 128 18.8 / 16.6, 17x17x128 -> 128
#   13.8 / 12.9 (1.63, 1.13, 1.08x; CPU time 1.76, 1.19, 1.20x; the two gradients, the same
#   functions under both names, came out 0.84-1.04x: the noise of that run);
#   Conv2D(relu) + MaxPooling2D in one call: 34.5 / 26.4, 18.3 / 16.0, 12.0 / 11.4;
#   talk_cnn's predict at batch 32: 93 -> 81 ms.
# Then its gradients too (the same script, that afternoon, 5 repeats, F(2x2) / F(4x4) ms, dL/dK and
# dL/dx): 74x74x64 -> 64 38.1 / 27.3, 39.8 / 23.1; 36x36x64 -> 128 19.8 / 15.3, 14.0 / 10.9;
# 17x17x128 -> 128 11.8 / 10.0, 10.3 / 7.8 (1.18-1.72x).
# Its float32 error is 1.7e-6-3.3e-6 of the largest output against the exact result, 5-7x the
# direct product's, 3-10x inside the parity tests' 1e-5; gradients 1.6e-6-2.7e-6 (dL/dx) and
# 2.7e-6-4.3e-6 (dL/dK), 25x inside their 1e-4 (kernels/winograd.py);
# set_conv_algorithm("winograd") keeps F(2x2, 3x3) everywhere.
# With F(4x4, 3x3) in all three passes, 32 channels are enough (until then the direct loops ran
# rps_cnn's 14x14x32 -> 64). The same script, batch 256, ms, direct / winograd4 (direct's dL/dx is
# the im2col twin): rps_cnn 14x14x32 -> 64 forward 5.19 / 4.02, dL/dK 5.56 / 3.65, dL/dx 6.56 /
# 3.68; at batch 32 0.96 / 0.85, 0.96 / 1.04, 0.89 / 0.94. Kernel by kernel (forward + dL/dK +
# dL/dx, batch 256): 14x14x32 -> 32 1.23x, 31x31x32 -> 32 1.11x, 29x29x32 -> 64 1.58x, 14x14x64 ->
# 32 1.55x; 16 channels stay below (small_cnn's 15x15x16 -> 32: 0.54-0.82x). rps_cnn's whole step
# (one process, 7 interleaved repeats): training 78.0 -> 69.7 ms and predict 91.9 -> 76.8 ms at
# batch 256, 11.39 -> 11.36 and 14.0 -> 13.2 ms at batch 32.
# Only on outputs of at least WINOGRAD_MIN_OUTPUT rows and columns: on small maps a layer has few
# tiles, and F(4x4, 3x3)'s chunks and transforms cost more than they save. The same kernels at
# batch 32, forward + dL/dK + dL/dx, direct / winograd4: 4x4x32 -> 64 (digits_cnn's second
# layer) 0.42x, 6x6 0.48x, 8x8 0.67x, 8x8x64 -> 64 0.73x, 12x12x32 -> 64 1.01x, 16x16 1.28x
# (at batch 256: 4x4 1.08x, 6x6 0.86x, 8x8x64 -> 64 1.63x).
# NumPy backend: im2col always. Its Winograd (kernels/winograd.py: the tile transforms are stacks of
# 4x4 matrix products, slow in NumPy) measured 3-7x slower than its im2col on talk_cnn's layers
# (2026-12-03, batch 32, one BLAS thread, ms forward / dL/dK / dL/dx, im2col vs Winograd):
#   74x74x64 -> 64: 151 / 907, 162 / 816, 155 / 1056;  17x17x128 -> 128: 24 / 79, 23 / 81, 28 / 82.
WINOGRAD_MIN_CHANNELS = 32
WINOGRAD_MIN_OUTPUT = 12
# Numba backend, below WINOGRAD_MIN_CHANNELS: the direct loops (numba_kernels.direct_*) when the layer
# has at most DIRECT_MAX_CHANNELS input channels (the first layer of an image model) or a filter
# count in DIRECT_FILTERS (the counts compiled into its loops). dL/dx, and passes the loops do not
# cover, run the im2col twins inside the same names. Measured with the same script on a quiet
# machine with OpenBLAS' own (AVX-512) kernels (2026-12-03 06:38 UTC, `env -u OPENBLAS_CORETYPE
# -u OPENBLAS_L2_SIZE python -m benchmarks.conv_algorithms --algorithms im2col direct winograd`;
# median ms per call over 5 interleaved repeats, im2col / direct, forward (Conv2D's a-only call)
# and dL/dK; batch 32, then 256):
#   small_cnn 32x32x3 -> 16:   0.34 / 0.33, 0.39 / 0.36;  2.72 / 2.80, 3.32 / 2.80
#   small_cnn 15x15x16 -> 32:  0.30 / 0.25, 0.41 / 0.26;  2.33 / 1.81, 2.64 / 1.30
#   rps_cnn 64x64x3 -> 16:     1.30 / 1.17, 1.60 / 1.13;  9.97 / 8.61, 11.0 / 11.3
#   rps_cnn 31x31x16 -> 32:    1.17 / 0.88, 1.41 / 0.71;  9.25 / 7.61, 11.5 / 5.22
#   rps_cnn 14x14x32 -> 64:    0.67 / 0.53, 0.79 / 0.64;  4.52 / 3.91, 5.73 / 4.30
#   talk_cnn 150x150x3 -> 64:  23.1 / 15.0, 22.0 / 9.02   (batch 32)
# i.e. forward 0.97-1.54x, dL/dK 0.98-2.44x. Their dL/dx (a forward pass of dy padded with zeros)
# measured 0.69-0.92x im2col here and is not used (1.15-1.45x only with OpenBLAS forced to AVX2,
# as this machine's environment does outside benchmarks). Other filter counts (48, 128, ...) keep
# im2col: not compiled in, not measured. Every row: benchmarks/CONV_ALGORITHMS.md.
# On CPUs without AVX-512 the direct loops first lost to im2col on 16-channel layers. Measured on a
# 2-core AMD EPYC (Zen 3, AVX2 only, OpenBLAS' Haswell kernels; 2026-12-05 15:32 UTC, `python -m
# benchmarks.conv_algorithms --models small_cnn rps_cnn --batch 32 --repeats 5 --algorithms im2col
# direct winograd4`), ms per call, im2col / direct, forward and dL/dK:
#   small_cnn 32x32x3 -> 16:   0.62 / 0.44, 0.75 / 0.79   (RGB layers: direct still 1.4-1.6x forward)
#   small_cnn 15x15x16 -> 32:  0.55 / 1.01, 0.69 / 0.91   (im2col 1.3-1.8x)
#   rps_cnn 64x64x3 -> 16:     2.44 / 1.51, 3.14 / 2.66
#   rps_cnn 31x31x16 -> 32:    4.91 / 7.32, 7.06 / 9.64   (im2col 1.4-1.5x)
# For a while predict ran im2col (commit be846bf), then Winograd (f1ef1ad), on those layers there.
# The cause was not the vector width: the loops' blocks of sums were sized for AVX-512's 32
# registers, and with AVX2's 16 the compiler kept part of them in memory (numba_kernels,
# FI_PX16 and RGB_PX16). With blocks that fit, the direct loops lead again, in both passes (same
# machine, 19:14 UTC, one thread, CPU time, the least of 5 runs, ms per call, im2col / direct /
# winograd4; Conv2D(relu) -> MaxPooling2D in one call, then a training step's forward + both
# gradients):
#   31x31x16 -> 32 (rps_cnn):    batch 32  4.80 / 2.85 / 3.64,  15.6 / 7.94 / 13.0
#                                batch 256 40.5 / 23.1 / 29.4,  125 / 64.0 / 107
#   15x15x16 -> 32 (small_cnn):  batch 32  0.99 / 0.56 / 1.00,  3.03 / 1.43 / 3.69
#                                batch 256 8.33 / 4.55 / 7.60,  26.9 / 12.5 / 27.3
#   62x62x16 -> 32:              batch 256 176 / 106 / 103,     535 / 303 / 357
# and whole models (`python benchmarks/direct_or_im2col.py --repeats 5`, 19:14 UTC, quiet
# machine): predict with the direct loops 1.27-1.62x im2col on those layers, training the same
# (0.99-1.07x; both rules ran the direct loops there). So one rule again, whatever the vector width.
DIRECT_MAX_CHANNELS = 4
DIRECT_FILTERS = (16, 32, 64)


def set_conv_algorithm(name: str) -> None:
    """Force a convolution algorithm: ``"auto"`` (the default: the backend's rule, see
    :func:`conv2d_algorithm`), ``"im2col"``, ``"winograd"``, ``"winograd4"`` or ``"direct"``
    (wherever they apply: 3x3 kernels, stride 1, dilation 1; im2col elsewhere). For tests and
    benchmarks; the environment variable ``SCRATCHNET_CONV_ALGORITHM`` sets it at import."""
    global _conv_algorithm
    valid = ("auto",) + CONV_ALGORITHMS
    if not isinstance(name, str) or name not in valid:
        raise ValueError(f"set_conv_algorithm: expected one of {valid}, received {name!r}")
    _conv_algorithm = name


def get_conv_algorithm() -> str:
    """What :func:`set_conv_algorithm` last set (``"auto"`` unless changed)."""
    return _conv_algorithm


def conv2d_algorithm(kernel_shape, strides, dilation, out_hw=None) -> str:
    """The algorithm the backend in use runs for a convolution with this ``(KH, KW, C, F)`` kernel:
    ``"winograd4"`` (Winograd with F(4x4, 3x3) tiles) on the Numba backend for
    3x3, stride 1, dilation 1 with at least ``WINOGRAD_MIN_CHANNELS`` input channels and filters
    and an ``out_hw`` output of at least ``WINOGRAD_MIN_OUTPUT`` rows and columns (not checked when
    ``out_hw`` is not given),
    ``"direct"`` there with at most ``DIRECT_MAX_CHANNELS`` input channels or a filter count in
    ``DIRECT_FILTERS`` (where each measured faster, see above), else ``"im2col"``; the NumPy backend always
    ``"im2col"``. :func:`set_conv_algorithm` overrides."""
    if not _winograd_numpy.supports(kernel_shape, strides, dilation) or _conv_algorithm == "im2col":
        return "im2col"
    if _conv_algorithm in ("winograd", "winograd4", "direct"):
        return _conv_algorithm if _conv_algorithm + "_conv2d_forward" in _impl else "im2col"
    if _backend != "numba":
        return "im2col"
    _, _, c, f = kernel_shape
    if min(c, f) >= WINOGRAD_MIN_CHANNELS and (out_hw is None or min(out_hw) >= WINOGRAD_MIN_OUTPUT):
        return "winograd4"
    if c <= DIRECT_MAX_CHANNELS:
        return "direct"
    if f in DIRECT_FILTERS:
        return "direct"
    return "im2col"


def _conv_kernel(name: str, algorithm: str):
    if algorithm == "im2col":
        return _impl[name]
    if algorithm in ("winograd", "winograd4", "direct"):
        return _impl[algorithm + "_" + name]
    raise ValueError(f"{name}: expected algorithm in {CONV_ALGORITHMS}, received {algorithm!r}")


def conv2d_forward(xpad, kernel, strides, dilation, out_hw, algorithm="im2col"):
    return _conv_kernel("conv2d_forward", algorithm)(xpad, kernel, strides, dilation, out_hw)


def conv2d_backward_input(dy, kernel, strides, dilation, padded_hw, algorithm="im2col"):
    return _conv_kernel("conv2d_backward_input", algorithm)(dy, kernel, strides, dilation, padded_hw)


def conv2d_backward_kernel(xpad, dy, kernel_hw, strides, dilation, algorithm="im2col"):
    return _conv_kernel("conv2d_backward_kernel", algorithm)(xpad, dy, kernel_hw, strides, dilation)


def maxpool2d_forward(xpad, pool_size, strides, out_hw):
    return _impl["maxpool2d_forward"](xpad, pool_size, strides, out_hw)


def maxpool2d_values(xpad, pool_size, strides, out_hw):
    """``y`` of :func:`maxpool2d_forward` without ``argmax`` (inference). The GPU backend has no
    such kernel: it runs ``maxpool2d_forward`` and drops ``argmax``."""
    if _device is None and "maxpool2d_values" in _impl:
        return _impl["maxpool2d_values"](xpad, pool_size, strides, out_hw)
    return _impl["maxpool2d_forward"](xpad, pool_size, strides, out_hw)[0]


def maxpool2d_backward(dy, argmax, pool_size, strides, padded_hw):
    return _impl["maxpool2d_backward"](dy, argmax, pool_size, strides, padded_hw)


def bias_grad(dz):
    return _impl["bias_grad"](dz)


def conv2d_bias_relu_forward(xpad, kernel, bias, strides, dilation, out_hw, algorithm="im2col"):
    return _conv_kernel("conv2d_bias_relu_forward", algorithm)(xpad, kernel, bias, strides, dilation,
                                                               out_hw)


def conv2d_bias_relu(xpad, kernel, bias, strides, dilation, out_hw, algorithm="im2col"):
    """Only ``a`` of :func:`conv2d_bias_relu_forward`, without storing ``z``. The GPU backend has
    no such kernel yet: it runs ``conv2d_bias_relu_forward`` and drops ``z``."""
    name = "conv2d_bias_relu" if algorithm == "im2col" else algorithm + "_conv2d_bias_relu"
    if _device is None and name in _impl:
        return _impl[name](xpad, kernel, bias, strides, dilation, out_hw)
    return conv2d_bias_relu_forward(xpad, kernel, bias, strides, dilation, out_hw, algorithm)[1]


def matmul(a, b):
    return _impl["matmul"](a, b)


# ------------------------------------------------ Conv2D(relu) -> MaxPooling2D, as one call

# The fused forward computes the convolution this many bytes of activation at a time (whole
# images, at least one per thread), pools that chunk while it is still in cache, and drops it.
CONV_POOL_CHUNK_BYTES = 8 * 2**20
_fuse_conv_pool = True


def set_conv_pool_fusion(enabled: bool) -> None:
    """Whether a model may run ``Conv2D(activation="relu")`` and the ``MaxPooling2D`` right after
    it as one call (:func:`conv2d_bias_relu_maxpool`, on the Numba backend only; on by default).
    For tests and benchmarks; ``SCRATCHNET_CONV_POOL_FUSION=0`` turns it off at import."""
    global _fuse_conv_pool
    if not isinstance(enabled, bool):
        raise TypeError(f"set_conv_pool_fusion: expected True or False, received {enabled!r}")
    _fuse_conv_pool = enabled


def fuses_conv_pool() -> bool:
    """True when models should fuse Conv2D(relu) -> MaxPooling2D: fusion is on and the backend is
    Numba. The NumPy backend runs every layer on its own, as a learner reads the model; the GPU
    backend has no fused kernels."""
    return _fuse_conv_pool and _backend == "numba"


def conv2d_bias_relu_maxpool(xpad, kernel, bias, strides, dilation, out_hw, pool_size,
                             pool_strides, pool_out_hw, algorithm="im2col", with_argmax=True):
    """``y = maxpool2d(max(conv2d(xpad, kernel) + bias, 0))`` (valid pooling), without the whole
    ``(N, OH, OW, F)`` activation ever existing::

        for each chunk of images (CONV_POOL_CHUNK_BYTES of activation):
            a = conv2d_bias_relu(xpad[chunk], ...)               # in cache
            y[chunk], argmax[chunk] = maxpool2d_forward(a, ...)  # read back while it is there

    On the Numba backend, 2x2 windows with stride 2 after a Winograd convolution, or after the
    direct loops with 16, 32 or 64 filters, are pooled inside the convolution's own loops
    (``winograd_conv2d_bias_relu_maxpool2x2``, ``direct_conv2d_bias_relu_maxpool2x2``): each
    window is pooled as its four outputs are computed, and no activation is stored at all.
    The same numbers as the two layers run one after the other, either way. Returns ``(y, argmax)``
    (``argmax`` None when ``with_argmax`` is False: inference keeps nothing for a backward pass).
    The backward pass needs only ``y`` and ``argmax``: :func:`relu_maxpool2d_backward_bias_grad`.
    """
    if _pools_in_kernel(algorithm, kernel.shape, strides, dilation, pool_size, pool_strides):
        return _impl[algorithm + "_conv2d_bias_relu_maxpool2x2"](
            xpad, kernel, bias, strides, dilation, out_hw, pool_out_hw, with_argmax)
    n, f = xpad.shape[0], kernel.shape[3]
    per_image = out_hw[0] * out_hw[1] * f * xpad.itemsize
    images = max(numba_threads(), CONV_POOL_CHUNK_BYTES // per_image)
    y = np.empty((n,) + tuple(pool_out_hw) + (f,), dtype=xpad.dtype)  # (N, PH, PW, F)
    argmax = np.empty(y.shape, dtype=_pool_numpy.argmax_dtype(pool_size)) if with_argmax else None
    for first in range(0, n, images):
        last = min(n, first + images)
        a = conv2d_bias_relu(xpad[first:last], kernel, bias, strides, dilation, out_hw, algorithm)
        if with_argmax:
            y[first:last], argmax[first:last] = maxpool2d_forward(a, pool_size, pool_strides,
                                                                  pool_out_hw)
        else:
            y[first:last] = maxpool2d_values(a, pool_size, pool_strides, pool_out_hw)
    return y, argmax


def _pools_in_kernel(algorithm, kernel_shape, strides, dilation, pool_size, pool_strides) -> bool:
    """Whether the Numba backend's convolution loops for ``algorithm`` also do this pooling."""
    if _backend != "numba" or tuple(pool_size) != (2, 2) or tuple(pool_strides) != (2, 2):
        return False
    if algorithm in ("winograd", "winograd4"):
        return True
    if algorithm == "direct":
        return _numba_module().direct_pools_in_kernel(kernel_shape, strides, dilation)
    return False


def relu_maxpool2d_backward_bias_grad(dy, y, argmax, pool_size, strides, conv_out_hw):
    """Backward of :func:`conv2d_bias_relu_maxpool`'s ReLU and pooling: ``(dz, dL/dbias)``
    (formula: :func:`scratchnet.kernels.pooling.relu_maxpool2d_backward_bias_grad`)."""
    return _impl["relu_maxpool2d_backward_bias_grad"](dy, y, argmax, pool_size, strides, conv_out_hw)


def conv2d_backward_kernel_relu_maxpool(xpad, dy, y, argmax, kernel_hw, strides, dilation, pool_size,
                                        pool_strides, conv_out_hw, algorithm="im2col"):
    """``(dL/dK, dL/dbias)`` after :func:`conv2d_bias_relu_maxpool` when no dL/dx is needed (a
    model's first layer)::

        dz, db = relu_maxpool2d_backward_bias_grad(dy, y, argmax, ...)   # (N, OH, OW, F)
        dK = conv2d_backward_kernel(xpad, dz, ...)

    On the Numba backend the direct loops' RGB layers (16 or 32 filters, 2x2 windows with stride 2)
    make each value of ``dz`` inside the kernel-gradient loops
    (``direct_conv2d_backward_kernel_relu_maxpool2x2``): the same numbers, without storing ``dz``."""
    if algorithm == "direct" and _backend == "numba" and tuple(pool_size) == (2, 2) \
            and tuple(pool_strides) == (2, 2):
        return _impl["direct_conv2d_backward_kernel_relu_maxpool2x2"](
            xpad, dy, y, argmax, kernel_hw, strides, dilation, conv_out_hw)
    dz, db = relu_maxpool2d_backward_bias_grad(dy, y, argmax, pool_size, pool_strides, conv_out_hw)
    return conv2d_backward_kernel(xpad, dz, kernel_hw, strides, dilation, algorithm=algorithm), db


def conv2d_backward_relu_maxpool(xpad, dy, y, argmax, kernel, strides, dilation, pool_size, pool_strides,
                                 conv_out_hw, algorithm="im2col"):
    """``(dL/dK, dL/dbias, dL/dxpad)`` after :func:`conv2d_bias_relu_maxpool` inside a model::

        dz, db = relu_maxpool2d_backward_bias_grad(dy, y, argmax, ...)   # (N, OH, OW, F)
        dK = conv2d_backward_kernel(xpad, dz, ...)
        dxpad = conv2d_backward_input(dz, kernel, ...)

    On the Numba backend the direct loops (2x2 windows with stride 2) take one call
    (``direct_conv2d_backward_relu_maxpool2x2``): with a multiple of 16 input channels both
    gradients summed over the windows' winning cells only, else ``dz`` written inside a border of
    zeros and ``dxpad`` computed as a forward pass over it (the formulas are in
    :func:`scratchnet.kernels.direct.conv2d_backward_relu_maxpool2x2` and
    ``conv2d_backward_relu_maxpool2x2_from_winners``)."""
    if algorithm == "direct" and _backend == "numba" and tuple(pool_size) == (2, 2) \
            and tuple(pool_strides) == (2, 2):
        return _impl["direct_conv2d_backward_relu_maxpool2x2"](xpad, dy, y, argmax, kernel, strides,
                                                                dilation, conv_out_hw)
    dz, db = relu_maxpool2d_backward_bias_grad(dy, y, argmax, pool_size, pool_strides, conv_out_hw)
    dk = conv2d_backward_kernel(xpad, dz, kernel.shape[:2], strides, dilation, algorithm=algorithm)
    return dk, db, conv2d_backward_input(dz, kernel, strides, dilation, xpad.shape[1:3], algorithm=algorithm)


def adam_update(w, grad, m, v, v_hat, alpha, one_minus_beta_1, one_minus_beta_2, epsilon):
    return _impl["adam_update"](w, grad, m, v, v_hat, alpha, one_minus_beta_1, one_minus_beta_2,
                                epsilon)


def numba_threads() -> int:
    """The number of threads Numba's parallel loops use (1 on other backends)."""
    if _backend != "numba":
        return 1
    import numba

    return numba.get_num_threads()


def relu_backward_bias_grad(da, z):
    return _impl["relu_backward_bias_grad"](da, z)


try:
    set_backend(_default_backend())
except ValueError as err:  # the message then names the variable that chose the backend
    if not os.environ.get("SCRATCHNET_BACKEND"):
        raise
    raise ValueError(f"environment variable SCRATCHNET_BACKEND={os.environ['SCRATCHNET_BACKEND']!r}: "
                     f"{err}") from None
set_conv_algorithm(os.environ.get("SCRATCHNET_CONV_ALGORITHM") or "auto")
set_conv_pool_fusion(os.environ.get("SCRATCHNET_CONV_POOL_FUSION", "1") != "0")
