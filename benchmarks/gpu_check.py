"""GPU check for scratchnet's CuPy backend: parity with the NumPy backend, and throughput against
PyTorch on the same GPU. One script, meant to run in one call on a lent GPU machine.

    python3 benchmarks/gpu_check.py --out DIR             # on a machine with an NVIDIA GPU
    python3 benchmarks/gpu_check.py --out DIR --dry-run   # anywhere: NumPy on both sides, tiny
                                                          # sizes, PyTorch on the CPU if installed
    from benchmarks.gpu_check import run; run(out_dir)    # from the main benchmark command

Writes ``DIR/gpu_check.json`` (every number) and ``DIR/gpu_check.md`` (the tables), after each
section, so a run cut short still leaves what it measured. Sections:

1. environment and the two ceilings (device-to-device copy bandwidth, float32 / TF32 GEMM rate);
2. parity, strict float32: CuPy kernels vs the NumPy reference on conv cases (same/valid,
   strides, dilation), max-pool with ties and SAME padding, a whole ``loss_and_grads`` of
   ``rps_cnn`` (dropout on: the host Generator draws the same masks) and a 20-step Adam
   trajectory; ``rel = ||gpu - numpy|| / ||numpy||`` against 1e-5, with each side's error against a
   float64 NumPy reference beside it;
3. throughput (images/s, median of repeats after warm-up, host clock after a device
   synchronisation) of ``talk_cnn`` (150x150) and ``rps_cnn`` (64x64) at batch 256 and 32:
   scratchnet-CuPy vs the PyTorch twin (same layers, Adam, cross-entropy on logits), data already
   on the GPU and data fed from host NumPy arrays, training and inference;
4. where the GPU time goes: per-layer CUDA-event times of one training step, and the single
   kernels of the largest convolution;
5. the same checks with TF32 matrix products (``CUPY_TF32=1``, in a child process, because CuPy
   reads it once), and scratchnet-NumPy on this machine's CPU for scale.

Imports neither TensorFlow nor tfnet nor scikit-learn, and needs no network.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import scratchnet as sn  # noqa: E402
from scratchnet import kernels  # noqa: E402
from scratchnet.kernels import bias as bias_numpy  # noqa: E402
from scratchnet.kernels import conv as conv_numpy  # noqa: E402
from scratchnet.kernels import pooling as pool_numpy  # noqa: E402
from scratchnet.layers._args import output_size_and_pads  # noqa: E402

TOLERANCE = 1e-5  # relative, float32, strict (no TF32)


# ------------------------------------------------------------------------------------- context
class Context:
    """What differs between a real run (CuPy on a GPU) and a dry run (NumPy on the CPU)."""

    def __init__(self, dry_run: bool):
        self.dry_run = dry_run
        self.backend = "numpy" if dry_run else "cupy"
        sn.set_backend(self.backend)
        if dry_run:
            self.xp = np
            self.gpu_kernels = _NumpyKernels
        else:
            import cupy

            from scratchnet.kernels import cupy_kernels

            self.xp = cupy
            self.gpu_kernels = cupy_kernels
        self.tf32 = os.environ.get("CUPY_TF32", "0") not in ("", "0")

    def sync(self) -> None:
        if not self.dry_run:
            self.xp.cuda.Device().synchronize()

    def free(self) -> None:
        if not self.dry_run:
            self.xp.get_default_memory_pool().free_all_blocks()


class _NumpyKernels:
    conv2d_forward = staticmethod(conv_numpy.conv2d_forward)
    conv2d_backward_input = staticmethod(conv_numpy.conv2d_backward_input)
    conv2d_backward_kernel = staticmethod(conv_numpy.conv2d_backward_kernel)
    maxpool2d_forward = staticmethod(pool_numpy.maxpool2d_forward)
    maxpool2d_backward = staticmethod(pool_numpy.maxpool2d_backward)
    bias_grad = staticmethod(bias_numpy.bias_grad)
    im2col = staticmethod(conv_numpy.im2col)


def _median_time(fn, sync, warmup: int, repeats: int, inner: int = 1) -> dict:
    """Seconds per call of ``fn``: median (and spread) of ``repeats`` timings of ``inner`` calls."""
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        sync()
        times.append((time.perf_counter() - start) / inner)
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "repeats": repeats, "inner": inner}


def _rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    denominator = np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / denominator) if denominator else float(np.linalg.norm(a))


# ---------------------------------------------------------------------------------- section 1
def environment(ctx: Context) -> dict:
    info = {"python": platform.python_version(), "numpy": np.__version__,
            "host": platform.node(), "cpu_count": os.cpu_count(), "dry_run": ctx.dry_run,
            "backend": ctx.backend, "cupy_tf32": ctx.tf32,
            "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())}
    if not ctx.dry_run:
        cp = ctx.xp
        props = cp.cuda.runtime.getDeviceProperties(0)
        name = props["name"]
        info.update({"gpu": name.decode() if isinstance(name, bytes) else name,
                     "sm_count": props["multiProcessorCount"],
                     "gpu_memory_gib": props["totalGlobalMem"] / 2**30,
                     "cupy": cp.__version__,
                     "cuda_runtime": cp.cuda.runtime.runtimeGetVersion(),
                     "cuda_driver": cp.cuda.runtime.driverGetVersion()})
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version() if torch.cuda.is_available() else None
    except ImportError:
        info["torch"] = None
    return info


def ceilings(ctx: Context) -> dict:
    """The measured device-to-device copy bandwidth and the float32 GEMM rate (TF32 if CUPY_TF32)."""
    xp = ctx.xp
    n_copy = 2**20 if ctx.dry_run else 2**28  # float32 elements: 4 MiB or 1 GiB
    a = xp.random.random(n_copy, dtype=np.float32) if not ctx.dry_run else \
        np.random.default_rng(0).random(n_copy, dtype=np.float32)
    b = xp.empty_like(a)

    def copy():
        b[...] = a

    t_copy = _median_time(copy, ctx.sync, 2, 10)
    size = 512 if ctx.dry_run else 8192
    rng = np.random.default_rng(1)
    m1 = xp.asarray(rng.random((size, size), dtype=np.float32))
    m2 = xp.asarray(rng.random((size, size), dtype=np.float32))
    t_gemm = _median_time(lambda: m1 @ m2, ctx.sync, 2, 5)
    return {"copy_bytes": 2 * 4 * n_copy, "copy": t_copy,
            "copy_gb_per_s": 2 * 4 * n_copy / t_copy["median_s"] / 1e9,
            "gemm_size": size, "gemm": t_gemm,
            "gemm_tflop_per_s": 2 * size**3 / t_gemm["median_s"] / 1e12}


# ---------------------------------------------------------------------------------- section 2
CONV_CASES = [  # (N, H, W, C, F, (KH, KW), strides, dilation, padding)
    (2, 9, 11, 3, 5, (3, 3), (1, 1), (1, 1), "same"),
    (2, 9, 11, 4, 6, (3, 3), (1, 1), (1, 1), "valid"),
    (3, 10, 9, 2, 4, (3, 2), (2, 2), (1, 1), "same"),
    (2, 11, 11, 3, 4, (5, 5), (2, 3), (1, 1), "valid"),
    (2, 12, 12, 3, 4, (3, 3), (1, 1), (2, 2), "same"),
    (2, 12, 13, 2, 3, (2, 3), (1, 1), (3, 2), "valid"),
    (8, 40, 40, 64, 64, (3, 3), (1, 1), (1, 1), "valid"),  # talk_cnn-sized reductions (K=576)
]
POOL_CASES = [  # (N, H, W, C, (PH, PW), strides, padding); integer values 0..2: many ties
    (2, 8, 8, 3, (2, 2), (2, 2), "valid"),
    (2, 9, 7, 4, (2, 2), (2, 2), "same"),
    (3, 10, 11, 2, (3, 3), (2, 2), "same"),  # overlapping windows: gradients add up
    (2, 9, 9, 5, (3, 2), (1, 2), "valid"),
]


def _padded(x, kernel_hw, strides, dilation, padding, value=0.0):
    h, w = x.shape[1:3]
    oh, top, bottom = output_size_and_pads(h, kernel_hw[0], strides[0], dilation[0], padding)
    ow, left, right = output_size_and_pads(w, kernel_hw[1], strides[1], dilation[1], padding)
    xpad = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=value)
    return xpad, (oh, ow)


def _compare(rows, case, quantity, gpu, ref32, ref64=None, exact=False):
    gpu = kernels.to_numpy(gpu)
    row = {"case": case, "quantity": quantity, "rel_gpu_vs_numpy32": _rel(gpu, ref32)}
    if ref64 is not None:
        row["rel_numpy32_vs_f64"] = _rel(ref32, ref64)
        row["rel_gpu_vs_f64"] = _rel(gpu, ref64)
    if exact:
        row["exact"] = bool(np.array_equal(gpu, ref32))
        row["pass"] = row["exact"]
    else:
        row["pass"] = row["rel_gpu_vs_numpy32"] <= TOLERANCE
    rows.append(row)


def parity_kernels(ctx: Context) -> list[dict]:
    rows = []
    k, xp = ctx.gpu_kernels, ctx.xp
    rng = np.random.default_rng(2024)
    for n, h, w, c, f, khw, strides, dilation, padding in CONV_CASES:
        case = f"conv {n}x{h}x{w}x{c}->{f} k{khw} s{strides} d{dilation} {padding}"
        x = rng.standard_normal((n, h, w, c)).astype(np.float32)
        kern = rng.standard_normal(khw + (c, f)).astype(np.float32)
        xpad, out_hw = _padded(x, khw, strides, dilation, padding)
        dy = rng.standard_normal((n,) + out_hw + (f,)).astype(np.float32)
        x64, k64, dy64 = xpad.astype(np.float64), kern.astype(np.float64), dy.astype(np.float64)
        gx, gk, gdy = xp.asarray(xpad), xp.asarray(kern), xp.asarray(dy)
        _compare(rows, case, "forward", k.conv2d_forward(gx, gk, strides, dilation, out_hw),
                 conv_numpy.conv2d_forward(xpad, kern, strides, dilation, out_hw),
                 conv_numpy.conv2d_forward(x64, k64, strides, dilation, out_hw))
        _compare(rows, case, "backward_input",
                 k.conv2d_backward_input(gdy, gk, strides, dilation, xpad.shape[1:3]),
                 conv_numpy.conv2d_backward_input(dy, kern, strides, dilation, xpad.shape[1:3]),
                 conv_numpy.conv2d_backward_input(dy64, k64, strides, dilation, xpad.shape[1:3]))
        _compare(rows, case, "backward_kernel",
                 k.conv2d_backward_kernel(gx, gdy, khw, strides, dilation),
                 conv_numpy.conv2d_backward_kernel(xpad, dy, khw, strides, dilation),
                 conv_numpy.conv2d_backward_kernel(x64, dy64, khw, strides, dilation))
        _compare(rows, case, "bias_grad", k.bias_grad(gdy), bias_numpy.bias_grad(dy),
                 bias_numpy.bias_grad(dy64))
    # a bias gradient over many rows (the multi-block path of the CuPy kernel)
    dz = rng.standard_normal((64, 37, 41, 24)).astype(np.float32)
    _compare(rows, "bias 64x37x41x24", "bias_grad", k.bias_grad(xp.asarray(dz)),
             bias_numpy.bias_grad(dz), bias_numpy.bias_grad(dz.astype(np.float64)))
    for n, h, w, c, pool, strides, padding in POOL_CASES:
        case = f"maxpool {n}x{h}x{w}x{c} p{pool} s{strides} {padding} (ties)"
        x = rng.integers(0, 3, (n, h, w, c)).astype(np.float32)
        xpad, out_hw = _padded(x, pool, strides, (1, 1), padding, value=-np.inf)
        y_ref, arg_ref = pool_numpy.maxpool2d_forward(xpad, pool, strides, out_hw)
        y_gpu, arg_gpu = k.maxpool2d_forward(xp.asarray(xpad), pool, strides, out_hw)
        _compare(rows, case, "forward", y_gpu, y_ref, exact=True)
        _compare(rows, case, "argmax", arg_gpu, arg_ref, exact=True)
        dy = rng.standard_normal(y_ref.shape).astype(np.float32)
        _compare(rows, case, "backward",
                 k.maxpool2d_backward(xp.asarray(dy), arg_gpu, pool, strides, xpad.shape[1:3]),
                 pool_numpy.maxpool2d_backward(dy, arg_ref, pool, strides, xpad.shape[1:3]),
                 exact=True)
    return rows


def _rps_inputs(input_shape, batch, seed):
    rng = np.random.default_rng(seed)
    return rng.random((batch,) + input_shape, dtype=np.float32), rng.integers(0, 3, batch)


def _compiled_rps(input_shape, optimizer=None):
    model = sn.models.rps_cnn(input_shape, seed=0)
    model.compile(optimizer=optimizer or sn.optimizers.Adam(1e-3),
                  loss=sn.losses.SparseCategoricalCrossentropy())
    return model


def parity_models(ctx: Context, input_shape=(64, 64, 3), batch=16, steps=20) -> list[dict]:
    """loss_and_grads and a 20-step Adam trajectory of rps_cnn, GPU backend vs NumPy backend."""
    rows = []
    x, y = _rps_inputs(input_shape, batch, seed=7)
    batches = [_rps_inputs(input_shape, batch, seed=100 + i) for i in range(steps)]
    results = {}
    for backend in ("numpy", ctx.backend):
        sn.set_backend(backend)
        model = _compiled_rps(input_shape)
        loss, grads = model.loss_and_grads(x, y)
        model = _compiled_rps(input_shape)
        losses = [model.train_step(xb, yb)["loss"] for xb, yb in batches]
        results[backend] = (loss, grads, losses, model.get_weights())
    sn.set_backend(ctx.backend)
    (loss_r, grads_r, losses_r, w_r), (loss_g, grads_g, losses_g, w_g) = \
        results["numpy"], results[ctx.backend]
    names = [p.name for p in _compiled_rps(input_shape).params]
    case = f"rps_cnn {input_shape[0]}x{input_shape[1]} batch {batch}"
    _compare(rows, case + ": loss_and_grads", "loss", [loss_g], [loss_r])
    for name, g, r in zip(names, grads_g, grads_r, strict=True):
        _compare(rows, case + ": loss_and_grads", f"d {name}", g, r)
    _compare(rows, case + f": {steps} Adam steps", "running loss", losses_g, losses_r)
    for name, g, r in zip(names, w_g, w_r, strict=True):
        _compare(rows, case + f": {steps} Adam steps", name, g, r)
    return rows


# ---------------------------------------------------------------------------------- section 3
def model_specs(ctx: Context) -> list[dict]:
    if ctx.dry_run:
        return [{"name": "talk_cnn", "input": (48, 48, 3), "batches": (4, 2)},
                {"name": "rps_cnn", "input": (32, 32, 3), "batches": (4, 2)}]
    return [{"name": "talk_cnn", "input": (150, 150, 3), "batches": (256, 32)},
            {"name": "rps_cnn", "input": (64, 64, 3), "batches": (256, 32)}]


def _scratch_model(name, input_shape):
    model = getattr(sn.models, name)(input_shape, seed=0)
    model.compile(optimizer=sn.optimizers.Adam(1e-3),
                  loss=sn.losses.SparseCategoricalCrossentropy())
    return model


def _repeats(ctx, batch):
    if ctx.dry_run:
        return {"warmup": 1, "repeats": 2, "inner": 1}
    return {"warmup": 3, "repeats": 7, "inner": 3 if batch >= 128 else 10}


def step_cost(model, batch: int) -> dict:
    """FLOPs of one training step (matrix products only) and the fewest bytes it must move:
    each layer reads its input and writes its output once forward, reads input and dy and writes
    dx once backward; Adam reads w, g, m, v and writes w, m, v (float32)."""
    flops = 0
    elements = 0
    for layer in model.layers:
        n_in = batch * math.prod(layer.input_shape)
        n_out = batch * math.prod(layer.output_shape)
        products = 3 if layer.compute_input_grad else 2
        if isinstance(layer, sn.layers.Conv2D):
            kh, kw = layer.kernel_size
            m = batch * layer.out_hw[0] * layer.out_hw[1]
            flops += products * 2 * m * kh * kw * layer.input_shape[-1] * layer.filters
        elif isinstance(layer, sn.layers.Dense):
            flops += products * 2 * batch * layer.input_shape[-1] * layer.units
        elements += n_in + n_out  # forward
        elements += n_in + n_out + (n_in if layer.compute_input_grad else 0)  # backward
    elements += 7 * model.count_params()
    return {"flops": flops, "bytes": 4 * elements}


def bench_scratch(ctx: Context) -> list[dict]:
    rows = []
    xp = ctx.xp
    for spec in model_specs(ctx):
        for batch in spec["batches"]:
            model = _scratch_model(spec["name"], spec["input"])
            host = [_rps_inputs(spec["input"], batch, seed=s) for s in (1, 2)]
            device = [(xp.asarray(xb), yb) for xb, yb in host]
            r = _repeats(ctx, batch)
            cost = step_cost(model, batch)
            base = {"framework": f"scratchnet {ctx.backend}", "model": spec["name"],
                    "input": "x".join(map(str, spec["input"][:2])), "batch": batch,
                    "precision": "tf32" if ctx.tf32 else "float32", **cost}
            for data, pairs in (("device", device), ("host", host)):
                counter = iter(range(10**9))

                def train(model=model, pairs=pairs, counter=counter):
                    xb, yb = pairs[next(counter) % 2]
                    model.train_step(xb, yb)

                t = _median_time(train, ctx.sync, r["warmup"], r["repeats"], r["inner"])
                rows.append({**base, "mode": "train", "data": data, **t,
                             "images_per_s": batch / t["median_s"]})
            counter = iter(range(10**9))

            def infer(model=model, device=device, counter=counter):
                xb, _ = device[next(counter) % 2]
                model(xb)

            t = _median_time(infer, ctx.sync, r["warmup"], r["repeats"], r["inner"])
            rows.append({**base, "mode": "infer", "data": "device", **t,
                         "images_per_s": batch / t["median_s"]})
            print(f"  scratch {spec['name']} b{batch}: " + ", ".join(
                f"{row['mode']}/{row['data']} {row['images_per_s']:.0f} img/s"
                for row in rows[-3:]), flush=True)
            ctx.free()
    return rows


def _torch_twin(model, torch):
    """The PyTorch twin of a scratchnet Sequential: same layers, NCHW, logits out."""
    nn = torch.nn
    modules = []
    for layer in model.layers:
        if isinstance(layer, sn.layers.Conv2D):
            if layer.padding != "valid" or layer.strides != (1, 1):
                raise ValueError("twin: only valid, stride-1 convolutions are mapped")
            modules.append(nn.Conv2d(layer.input_shape[-1], layer.filters, layer.kernel_size))
        elif isinstance(layer, sn.layers.MaxPooling2D):
            modules.append(nn.MaxPool2d(layer.pool_size, layer.strides))
        elif isinstance(layer, sn.layers.Flatten):
            modules.append(nn.Flatten())
        elif isinstance(layer, sn.layers.Dropout):
            modules.append(nn.Dropout(layer.rate))
        elif isinstance(layer, sn.layers.Dense):
            modules.append(nn.Linear(layer.input_shape[-1], layer.units))
        else:
            raise ValueError(f"twin: no mapping for {layer!r}")
        activation = getattr(layer, "activation", None)
        if activation is not None and activation.name == "relu":
            modules.append(nn.ReLU())
        # a final softmax is left out: cross_entropy reads the logits, as scratchnet's loss does
    twin = nn.Sequential(*modules)
    count = sum(p.numel() for p in twin.parameters())
    if count != model.count_params():
        raise ValueError(f"twin: {count} parameters, scratchnet has {model.count_params()}")
    return twin


TORCH_SETTINGS = {
    # PyTorch's own defaults: cuDNN may use TF32 for convolutions, matmul stays float32
    "defaults (cudnn TF32 on)": {"cudnn_tf32": True, "matmul_tf32": False},
    "strict float32 (TF32 off)": {"cudnn_tf32": False, "matmul_tf32": False},
}


def _torch_tf32(torch, conv: bool, matmul: bool) -> None:
    """Allow or forbid TF32 in cuDNN convolutions and in matmuls (PyTorch >= 2.9 API, else the old)."""
    try:
        torch.backends.cudnn.conv.fp32_precision = "tf32" if conv else "ieee"
        torch.backends.cuda.matmul.fp32_precision = "tf32" if matmul else "ieee"
    except AttributeError:
        torch.backends.cudnn.allow_tf32 = conv
        torch.backends.cuda.matmul.allow_tf32 = matmul


def bench_torch(ctx: Context) -> list[dict]:
    try:
        import torch
    except ImportError:
        print("  PyTorch not installed: skipped", flush=True)
        return []
    rows = []
    if ctx.dry_run:
        dev = torch.device("cpu")

        def sync():
            return None
    else:
        dev = torch.device("cuda")
        sync = torch.cuda.synchronize
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels
    for setting, flags in TORCH_SETTINGS.items():
        if ctx.dry_run and setting != next(iter(TORCH_SETTINGS)):
            continue
        _torch_tf32(torch, flags["cudnn_tf32"], flags["matmul_tf32"])
        for spec in model_specs(ctx):
            for batch in spec["batches"]:
                sn.set_backend("numpy")  # only to build the layer shapes
                twin = _torch_twin(_scratch_model(spec["name"], spec["input"]), torch).to(dev)
                sn.set_backend(ctx.backend)
                optimizer = torch.optim.Adam(twin.parameters(), lr=1e-3, eps=1e-7)
                host = [_rps_inputs(spec["input"], batch, seed=s) for s in (1, 2)]
                device = [(torch.from_numpy(xb).to(dev).permute(0, 3, 1, 2).contiguous(),
                           torch.from_numpy(yb).to(dev)) for xb, yb in host]
                r = _repeats(ctx, batch)
                base = {"framework": f"PyTorch {torch.__version__}", "setting": setting,
                        "model": spec["name"], "input": "x".join(map(str, spec["input"][:2])),
                        "batch": batch}

                def step(x, y, twin=twin, optimizer=optimizer):
                    optimizer.zero_grad(set_to_none=True)
                    loss = torch.nn.functional.cross_entropy(twin(x), y)
                    loss.backward()
                    optimizer.step()
                    return loss.item()  # the loss reaches the host each step, as in scratchnet

                for data in ("device", "host"):
                    counter = iter(range(10**9))
                    twin.train()

                    def train(data=data, counter=counter, host=host, device=device, step=step):
                        i = next(counter) % 2
                        if data == "device":
                            x, y = device[i]
                        else:
                            xb, yb = host[i]
                            x = torch.from_numpy(xb).to(dev).permute(0, 3, 1, 2).contiguous()
                            y = torch.from_numpy(yb).to(dev)
                        step(x, y)

                    t = _median_time(train, sync, r["warmup"], r["repeats"], r["inner"])
                    rows.append({**base, "mode": "train", "data": data, **t,
                                 "images_per_s": batch / t["median_s"]})
                twin.eval()
                counter = iter(range(10**9))

                def infer(counter=counter, twin=twin, device=device):
                    with torch.inference_mode():
                        twin(device[next(counter) % 2][0]).cpu()

                t = _median_time(infer, sync, r["warmup"], r["repeats"], r["inner"])
                rows.append({**base, "mode": "infer", "data": "device", **t,
                             "images_per_s": batch / t["median_s"]})
                print(f"  torch [{setting}] {spec['name']} b{batch}: " + ", ".join(
                    f"{row['mode']}/{row['data']} {row['images_per_s']:.0f} img/s"
                    for row in rows[-3:]), flush=True)
                if not ctx.dry_run:
                    torch.cuda.empty_cache()
    return rows


def bench_cpu(ctx: Context) -> list[dict]:
    """scratchnet on this machine's CPU (NumPy backend; Numba too where its kernels exist)."""
    rows = []
    spec = model_specs(ctx)[0]
    batch = spec["batches"][-1]
    backends = ["numpy"]
    if kernels._numba_module() is not None and hasattr(kernels._numba_module(), "conv2d_forward"):
        backends.append("numba")
    for backend in backends:
        sn.set_backend(backend)
        model = _scratch_model(spec["name"], spec["input"])
        xb, yb = _rps_inputs(spec["input"], batch, seed=1)
        t = _median_time(lambda model=model, xb=xb, yb=yb: model.train_step(xb, yb),
                         lambda: None, 1, 3)
        rows.append({"framework": f"scratchnet {backend} (CPU, {os.cpu_count()} cores)",
                     "model": spec["name"], "input": "x".join(map(str, spec["input"][:2])),
                     "batch": batch, "mode": "train", "data": "host", **t,
                     "images_per_s": batch / t["median_s"]})
        print(f"  cpu {backend} {spec['name']} b{batch}: {rows[-1]['images_per_s']:.1f} img/s",
              flush=True)
    sn.set_backend(ctx.backend)
    return rows


# ---------------------------------------------------------------------------------- section 4
def breakdown(ctx: Context, repeats: int = 5) -> dict:
    """Per-layer times of one training step of talk_cnn at the largest batch (CUDA events)."""
    spec = model_specs(ctx)[0]
    batch = spec["batches"][0]
    model = _scratch_model(spec["name"], spec["input"])
    xb, yb = _rps_inputs(spec["input"], batch, seed=1)
    x_dev = ctx.xp.asarray(xb)
    if ctx.dry_run:
        def mark():
            return time.perf_counter()

        def elapsed(a, b):
            return b - a
    else:
        cp = ctx.xp

        def mark():
            event = cp.cuda.Event()
            event.record()
            return event

        def elapsed(a, b):
            return cp.cuda.get_elapsed_time(a, b) / 1e3

    runs = []
    for i in range(repeats + 2):
        marks = [("start", mark())]
        model._place_on_backend()
        x = kernels.to_backend(x_dev)
        for layer in model.layers:
            x = layer.forward(x, training=True)
            marks.append((f"forward {layer.name}", mark()))
        loss, dout, through_logits = model.compute_loss(yb, x)
        marks.append(("loss (incl. host sync)", mark()))
        first = model.first_trainable_index()
        last = model.layers[-1]
        dy = last.backward_preactivation(dout) if through_logits else last.backward(dout)
        marks.append((f"backward {last.name}", mark()))
        for layer in reversed(model.layers[first:-1]):
            dy = layer.backward(dy)
            marks.append((f"backward {layer.name}", mark()))
        model.optimizer.apply(model.params)
        marks.append(("adam update", mark()))
        ctx.sync()
        if i >= 2:
            runs.append([(name, elapsed(prev[1], cur))
                         for prev, (name, cur) in zip(marks, marks[1:], strict=False)])
    segments = [{"segment": name, "median_s": statistics.median(run[j][1] for run in runs)}
                for j, (name, _) in enumerate(runs[0])]
    total = sum(s["median_s"] for s in segments)
    return {"model": spec["name"], "batch": batch, "segments": segments, "total_s": total}


def kernel_times(ctx: Context) -> list[dict]:
    """The single operations of talk_cnn's second convolution block at the largest batch."""
    xp, k = ctx.xp, ctx.gpu_kernels
    spec = model_specs(ctx)[0]
    batch = spec["batches"][0]
    h = (spec["input"][0] - 2) // 2  # input of the second conv: 74 at 150x150
    c = f = 64
    rng = np.random.default_rng(3)
    x = xp.asarray(rng.standard_normal((batch, h, h, c), dtype=np.float32))
    kern = xp.asarray(rng.standard_normal((3, 3, c, f), dtype=np.float32))
    oh = h - 2
    dy = xp.asarray(rng.standard_normal((batch, oh, oh, f), dtype=np.float32))
    s1, d1 = (1, 1), (1, 1)
    m, kk = batch * oh * oh, 9 * c
    cols = k.im2col(x, (3, 3), s1, d1, (oh, oh)).reshape(m, kk)  # (N*OH*OW, KH*KW*C)
    k2 = kern.reshape(kk, f)
    y, argmax = k.maxpool2d_forward(dy, (2, 2), (2, 2), (oh // 2, oh // 2))
    gemm_flops = 2 * m * kk * f
    ops = [
        ("im2col (gather)", lambda: k.im2col(x, (3, 3), s1, d1, (oh, oh)), 0, 4 * (x.size + m * kk)),
        ("GEMM forward cols @ K", lambda: cols @ k2, gemm_flops, 4 * (m * kk + m * f)),
        ("conv2d_forward (im2col + GEMM)", lambda: k.conv2d_forward(x, kern, s1, d1, (oh, oh)),
         gemm_flops, 4 * (x.size + m * f)),
        ("GEMM dK = cols.T @ dy", lambda: cols.T @ dy.reshape(-1, f), gemm_flops,
         4 * (m * kk + m * f)),
        ("GEMM dcols = dy @ K.T", lambda: dy.reshape(-1, f) @ k2.T, gemm_flops,
         4 * (m * kk + m * f)),
        ("conv2d_backward_input (GEMM + col2im)",
         lambda: k.conv2d_backward_input(dy, kern, s1, d1, (h, h)), gemm_flops,
         4 * (m * f + x.size)),
        ("conv2d_backward_kernel (im2col + GEMM)",
         lambda: k.conv2d_backward_kernel(x, dy, (3, 3), s1, d1), gemm_flops,
         4 * (x.size + m * f)),
        ("bias_grad (two-pass kernel)", lambda: k.bias_grad(dy), 0, 4 * dy.size),
        ("dy.sum(axis=(0, 1, 2)) (generic reduction)", lambda: dy.sum(axis=(0, 1, 2)), 0,
         4 * dy.size),
        ("maxpool2d_forward 2x2", lambda: k.maxpool2d_forward(dy, (2, 2), (2, 2),
                                                              (oh // 2, oh // 2)),
         0, 4 * (dy.size + 2 * y.size)),
        ("maxpool2d_backward 2x2", lambda: k.maxpool2d_backward(y, argmax, (2, 2), (2, 2),
                                                                (oh, oh)),
         0, 4 * (2 * y.size + dy.size)),
        ("relu forward np.maximum(z, 0)", lambda: np.maximum(dy, 0), 0, 8 * dy.size),
        ("relu backward da * (z > 0)", lambda: dy * (dy > 0), 0, 9 * dy.size),
        ("bias add z + b", lambda: dy + kern[0, 0, 0], 0, 8 * dy.size),
        ("np.pad valid (a copy)", lambda: np.pad(dy, ((0, 0), (0, 0), (0, 0), (0, 0))), 0,
         8 * dy.size),
    ]
    rows = []
    for name, fn, flops, nbytes in ops:
        t = _median_time(fn, ctx.sync, 2, 5 if not ctx.dry_run else 1)
        rows.append({"op": name, **t, "tflop_per_s": flops / t["median_s"] / 1e12,
                     "gb_per_s": nbytes / t["median_s"] / 1e9})
    return rows


def numba_cuda_im2col(ctx: Context) -> dict:
    """The same im2col gather written with numba-cuda, timed against the CuPy RawKernel on the
    largest convolution: the evidence for picking CuPy (which also brings cuBLAS; numba-cuda has
    no matrix product of its own)."""
    if ctx.dry_run:
        return {"skipped": "dry run"}
    from numba import cuda

    @cuda.jit
    def im2col_numba(x, offsets, cols, oh, ow, step_n, step_i, step_j):
        k = cols.shape[1]
        r = cuda.blockIdx.x * cuda.blockDim.y + cuda.threadIdx.y
        while r < cols.shape[0]:
            j = r % ow
            i = (r // ow) % oh
            n = r // (ow * oh)
            base = n * step_n + i * step_i + j * step_j
            col = cuda.threadIdx.x
            while col < k:
                cols[r, col] = x[base + offsets[col]]
                col += cuda.blockDim.x
            r += cuda.gridDim.x * cuda.blockDim.y

    from scratchnet.kernels import cupy_kernels as ck

    xp = ctx.xp
    spec = model_specs(ctx)[0]
    batch, h, c = spec["batches"][0], (spec["input"][0] - 2) // 2, 64
    oh = h - 2
    x = xp.asarray(np.random.default_rng(4).standard_normal((batch, h, h, c), dtype=np.float32))
    reference = ck.im2col(x, (3, 3), (1, 1), (1, 1), (oh, oh))
    cols = xp.empty_like(reference)
    offsets = ck._tap_offsets((3, 3), (1, 1), h, c)
    blocks = ck._blocks(cols.shape[0])
    flat = x.reshape(-1)

    def run_numba():
        im2col_numba[blocks, ck._THREADS](flat, offsets, cols, oh, oh, h * h * c, h * c, c)

    t_numba = _median_time(run_numba, ctx.sync, 2, 5)
    t_cupy = _median_time(lambda: ck.im2col(x, (3, 3), (1, 1), (1, 1), (oh, oh)), ctx.sync, 2, 5)
    return {"shape": [int(d) for d in cols.shape], "equal": bool(xp.array_equal(cols, reference)),
            "numba_cuda": t_numba, "cupy_rawkernel": t_cupy,
            "numba_gb_per_s": 4 * (x.size + cols.size) / t_numba["median_s"] / 1e9,
            "cupy_gb_per_s": 4 * (x.size + cols.size) / t_cupy["median_s"] / 1e9}


# ---------------------------------------------------------------------------------- section 5
def tf32_child(out: Path, dry_run: bool, timeout: int = 240) -> dict:
    """Run the parity and scratchnet throughput sections again with CUPY_TF32=1, in a child."""
    env = dict(os.environ, CUPY_TF32="1")
    command = [sys.executable, str(Path(__file__).resolve()), "--child-tf32", "--out", str(out)]
    if dry_run:
        command.append("--dry-run")
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    path = out / "gpu_check_tf32.json"
    result = json.loads(path.read_text()) if path.exists() else {}
    result["returncode"] = done.returncode
    result["stderr_tail"] = done.stderr[-3000:]
    return result


def child_main(out: Path, dry_run: bool) -> None:
    ctx = Context(dry_run)
    result = {"environment": environment(ctx), "ceilings": ceilings(ctx)}
    result["parity_kernels"] = parity_kernels(ctx)
    result["parity_models"] = parity_models(ctx)
    specs = model_specs(ctx)
    rows = []
    for spec in specs:
        batch = spec["batches"][0]
        model = _scratch_model(spec["name"], spec["input"])
        xb, yb = _rps_inputs(spec["input"], batch, seed=1)
        x_dev = ctx.xp.asarray(xb)
        r = _repeats(ctx, batch)
        t = _median_time(lambda model=model, x_dev=x_dev, yb=yb: model.train_step(x_dev, yb),
                         ctx.sync, r["warmup"], r["repeats"], r["inner"])
        rows.append({"framework": f"scratchnet {ctx.backend}", "precision": "tf32",
                     "model": spec["name"], "input": "x".join(map(str, spec["input"][:2])),
                     "batch": batch, "mode": "train", "data": "device", **t,
                     "images_per_s": batch / t["median_s"]})
        ctx.free()
    result["throughput"] = rows
    (out / "gpu_check_tf32.json").write_text(json.dumps(result, indent=1, default=str))


# ---------------------------------------------------------------------------------- report
def _fmt(v, digits=3):
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


def markdown(results: dict) -> str:
    lines = ["# scratchnet GPU check", ""]
    env = results.get("environment", {})
    lines += [f"- {k}: {v}" for k, v in env.items()]
    c = results.get("ceilings")
    if c:
        lines += ["", "## Ceilings (measured)", "",
                  f"- device-to-device copy: {c['copy_gb_per_s']:.0f} GB/s (bytes read + written)",
                  f"- float32 GEMM {c['gemm_size']}^3 ({'TF32' if env.get('cupy_tf32') else 'strict'})"
                  f": {c['gemm_tflop_per_s']:.1f} TFLOP/s"]
        t = results.get("tf32", {}).get("ceilings")
        if t:
            lines.append(f"- float32 GEMM with CUPY_TF32=1: {t['gemm_tflop_per_s']:.1f} TFLOP/s")
    for key, title in (("parity_kernels", "Parity: kernels"), ("parity_models", "Parity: models")):
        rows = results.get(key)
        if not rows:
            continue
        tf32 = {(r["case"], r["quantity"]): r for r in results.get("tf32", {}).get(key, [])}
        lines += ["", f"## {title} (rel = ||a - b|| / ||b||; pass: rel(gpu, numpy32) <= "
                  f"{TOLERANCE:g}, or exact where marked)", "",
                  "| case | quantity | rel(gpu, numpy32) | rel(numpy32, f64) | rel(gpu, f64) | "
                  "rel(gpu TF32, numpy32) | pass |", "|---|---|---|---|---|---|---|"]
        for r in rows:
            t = tf32.get((r["case"], r["quantity"]), {})
            lines.append(f"| {r['case']} | {r['quantity']} | {_fmt(r['rel_gpu_vs_numpy32'])} | "
                         f"{_fmt(r.get('rel_numpy32_vs_f64', ''))} | "
                         f"{_fmt(r.get('rel_gpu_vs_f64', ''))} | "
                         f"{_fmt(t.get('rel_gpu_vs_numpy32', ''))} | "
                         f"{'exact' if r.get('exact') else r['pass']} |")
    rows = results.get("throughput", []) + results.get("tf32", {}).get("throughput", [])
    if rows:
        lines += ["", "## Throughput (images/s, median; ms per step)", "",
                  "| model | input | batch | mode | data | framework | setting | images/s | ms | "
                  "spread ms |", "|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            setting = r.get("setting", r.get("precision", ""))
            lines.append(f"| {r['model']} | {r['input']} | {r['batch']} | {r['mode']} | "
                         f"{r['data']} | {r['framework']} | {setting} | {r['images_per_s']:.0f} | "
                         f"{1e3 * r['median_s']:.2f} | {1e3 * r['min_s']:.2f}-"
                         f"{1e3 * r['max_s']:.2f} |")
    b = results.get("breakdown")
    if b:
        lines += ["", f"## One training step of {b['model']}, batch {b['batch']}: per-layer time", "",
                  "| segment | ms | share |", "|---|---|---|"]
        for s in b["segments"]:
            lines.append(f"| {s['segment']} | {1e3 * s['median_s']:.2f} | "
                         f"{100 * s['median_s'] / b['total_s']:.0f}% |")
        lines.append(f"| total | {1e3 * b['total_s']:.2f} | |")
    k = results.get("kernels")
    if k:
        lines += ["", "## Single operations (talk_cnn conv block 2, largest batch)", "",
                  "| op | ms | TFLOP/s | GB/s |", "|---|---|---|---|"]
        for r in k:
            lines.append(f"| {r['op']} | {1e3 * r['median_s']:.3f} | {r['tflop_per_s']:.1f} | "
                         f"{r['gb_per_s']:.0f} |")
    nc = results.get("numba_cuda")
    if nc and "numba_cuda" in nc:
        lines += ["", "## im2col of the largest convolution: numba-cuda vs CuPy RawKernel", "",
                  f"- cols {nc['shape']}, identical output: {nc['equal']}",
                  f"- numba-cuda: {1e3 * nc['numba_cuda']['median_s']:.3f} ms "
                  f"({nc['numba_gb_per_s']:.0f} GB/s)",
                  f"- CuPy RawKernel: {1e3 * nc['cupy_rawkernel']['median_s']:.3f} ms "
                  f"({nc['cupy_gb_per_s']:.0f} GB/s)"]
    if results.get("errors"):
        lines += ["", "## Errors", ""] + [f"- {e['section']}: {e['error']}"
                                          for e in results["errors"]]
    return "\n".join(lines) + "\n"


def _save(out: Path, results: dict) -> None:
    (out / "gpu_check.json").write_text(json.dumps(results, indent=1, default=str))
    (out / "gpu_check.md").write_text(markdown(results))


def run(out, dry_run: bool = False, sections=None) -> dict:
    """Run every section (or those named), saving after each; return all results."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ctx = Context(dry_run)
    results: dict = {"errors": []}
    plan = [
        ("environment", lambda: environment(ctx)),
        ("ceilings", lambda: ceilings(ctx)),
        ("parity_kernels", lambda: parity_kernels(ctx)),
        ("parity_models", lambda: parity_models(ctx)),
        ("throughput", lambda: bench_scratch(ctx)),
        ("torch", lambda: bench_torch(ctx)),
        ("breakdown", lambda: breakdown(ctx)),
        ("kernels", lambda: kernel_times(ctx)),
        ("numba_cuda", lambda: numba_cuda_im2col(ctx)),
        ("tf32", lambda: tf32_child(out, dry_run)),
        ("cpu", lambda: bench_cpu(ctx)),
    ]
    for name, fn in plan:
        if sections and name not in sections:
            continue
        start = time.perf_counter()
        print(f"[{name}]", flush=True)
        try:
            value = fn()
            if name in ("torch", "cpu"):
                results["throughput"] = results.get("throughput", []) + value
            else:
                results[name] = value
        except Exception as err:  # keep going: one broken section must not lose the others
            results["errors"].append({"section": name, "error": repr(err),
                                      "traceback": traceback.format_exc()})
            print(traceback.format_exc(), flush=True)
        ctx.free()  # give CuPy's cached blocks back between sections (PyTorch needs them)
        results.setdefault("section_seconds", {})[name] = time.perf_counter() - start
        _save(out, results)
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--dry-run", action="store_true",
                        help="NumPy on both sides, tiny sizes: check the script without a GPU")
    parser.add_argument("--sections", nargs="*", help="run only these sections")
    parser.add_argument("--child-tf32", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.child_tf32:
        child_main(args.out, args.dry_run)
        return 0
    results = run(args.out, args.dry_run, args.sections)
    print(markdown(results), flush=True)
    failed = [r for key in ("parity_kernels", "parity_models") for r in results.get(key, [])
              if not r["pass"]]
    return 1 if results["errors"] or failed else 0


if __name__ == "__main__":
    sys.exit(main())
