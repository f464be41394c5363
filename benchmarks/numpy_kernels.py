"""The NumPy reference kernels, before and after their speed work, on the benchmark models' shapes.

    python -m benchmarks.numpy_kernels                  # every kernel, batch 32 and 256 (talk: 32, 64)
    python -m benchmarks.numpy_kernels --models         # train_step and predict, old vs new kernels
    python -m benchmarks.numpy_kernels --only rps --repeats 7
    python -m benchmarks.numpy_kernels --threads 1 2 --chunk-mib 16 4   # conv.THREADS x CHUNK_BYTES

The *old* forms are kept here, and only here, as they were before (one im2col matrix for the
whole batch, then separate passes for the bias, the ReLU, its gradient and the bias sum; the
max-pool's ``argmax`` in five passes per window offset, its backward as zeros + ``np.where`` +
add). The *new* ones are the library's (``scratchnet.kernels``). Each measurement alternates old
and new in this one process, ``--repeats`` times, and prints the median wall-clock and CPU
milliseconds of each: the machine is shared, so one timing alone means little, and the CPU time
shows when a process waited for a core. ``--models`` swaps the backend table's entries
(``scratchnet.kernels._impl``) between the old and the new functions around each timed call,
so the same model object runs both. Since the kernels share their pieces among threads
(``conv.THREADS`` > 1), that in-process swap is unfair to the new ones: the old kernels' BLAS
products on two threads leave OpenBLAS' threads spinning, which slows the pieces that follow
(small@32 predict measured 0.31x that way): compare threads with ``--threads``, one process a
setting.

Measured 2026-12-03 on the 2-core AMD EPYC while two other agents kept its cores busy (load
average 1.6-3.3), 5 interleaved repeats. With OpenBLAS' two threads every BLAS call waits until
both threads have a core, and with one core taken that wait measured ~8 ms a call (128 products
of 1682x144 @ 144x32: 1100 ms with two threads, 18 ms with one); so the figures below were taken
with ``OPENBLAS_NUM_THREADS=1`` (the cache effects without that wait), and the model rows also
with two threads, twice (those swing with the other agents' load). Images per second, old -> new:

| model, batch | train, 1 BLAS thread | predict, 1 thread | train, 2 threads (two runs) | predict, 2 threads |
|---|---|---|---|---|
| small_cnn@32 | 3290 -> 4302 (1.31x) | 11486 -> 11574 (1.01x) | 1.08x, 1.14x | 1.00x, 0.96x |
| small_cnn@256 | 2361 -> 3753 (1.59x) | 9534 -> 10138 (1.06x) | 1.40x, 1.28x | 1.32x, 0.94x |
| rps_cnn@32 | 566 -> 668 (1.18x) | 1817 -> 1853 (1.02x) | 1.02x, 1.19x | 1.00x, 0.86x |
| rps_cnn@256 | 438 -> 602 (1.38x) | 1231 -> 1688 (1.37x) | 1.23x, 1.18x | 1.10x, 1.19x |
| talk_cnn@32 | 24 -> 30 (1.23x) | 65 -> 76 (1.16x) | 1.36x, **0.28x** (6 -> 2) | 1.11x, 1.06x |
| talk_cnn@64 | 17 -> 28 (1.68x) | 46 -> 51 (1.11x) | 1.36x, 0.96x | 1.35x, 1.23x |

The 0.28x: at load average 3.3 every BLAS call waited for a core, and the pieces make more calls
(talk_cnn's second layer: one image a piece, 32 products where there was one). With one BLAS
thread the pieces cost nothing; on a quiet machine a BLAS call's wait is microseconds (not
measured: there was no quiet machine this session). 64 MiB pieces would make a quarter of the
calls, at 9-10% of a training step with one thread (rps@256: 362 ms with 16 MiB, 395 with 64,
632 old; talk@32: 1079, 1187, 1448). See ``CHUNK_BYTES`` in ``scratchnet/kernels/conv.py``.

Per kernel (one BLAS thread; old -> new ms, the range over the models' layers at both batches):
``maxpool2d_backward`` 3.0-4.5x faster (``dy * won`` instead of ``np.where``, in pieces; talk@32
conv0 150 -> 42 ms), ``relu_backward_bias_grad`` 1.1-3.8x (pieces, and the bias sum over rows of
W*F values: rps@256 conv0 33 -> 12 ms), ``maxpool2d_forward`` 0.9-1.8x (talk@32 conv0 79 -> 45),
``maxpool2d_values`` 0.9-1.6x, ``conv2d_bias_relu`` 0.95-1.2x, ``conv2d_backward_input``
0.92-1.7x (col2im over runs of KW*C values: rps@256 conv1 118 -> 69 ms), ``conv2d_backward_kernel``
0.83-1.06x (the convolutions are BLAS-bound; their pieces mostly save memory: no im2col matrix
of the whole batch, which is 3 GB for talk_cnn's second layer at batch 256). 4 MiB im2col pieces
did better with one BLAS thread (against the whole-batch product 1.0-1.9x, rps@256 conv1 forward
73 -> 38 ms; a training step 4-15% faster than with 16 MiB pieces) but were 2-4x slower than the
whole-batch product with two threads on the busy machine (4x the BLAS calls of 16 MiB pieces,
each waiting for a core): 16 MiB is the compromise.

``--threads`` (2026-12-04 18:10 UTC, the 2-core Intel Xeon, commit a11abf5): each setting of
``conv.THREADS`` and ``conv.CHUNK_BYTES`` in a process of its own, the settings in turn, 3 times,
median of 4 timed calls; training / predict images per second:

| model, batch | 1 thread, 16 MiB | 1 thread, 4 MiB | 2 threads, 16 MiB | 2 threads, 4 MiB |
|---|---|---|---|---|
| small@32 | 3410 / 10719 | 3363 / 10479 | 3572 / 10943 | 3379 / 10605 |
| small@256 | 3316 / 9920 | 3401 / 11570 | 4927 / 14895 | 5333 / 17839 |
| rps@32 | 617 / 1855 | 633 / 2032 | 856 / 2862 | 886 / 3058 |
| rps@256 | 568 / 2115 | 620 / 2147 | 915 / 3420 | 996 / 3497 |

Two threads (``conv.each_piece``: this thread and a helper, one-thread BLAS in each) against one
thread with BLAS' own two, at 4 MiB: 1.4-1.8x on every row but small@32 (1.0x: its pieces are
mostly under ``conv.MIN_PIECE_BYTES`` and run on one thread anyway). talk_cnn, in an earlier run
(commit c9b3151, the helpers alone taking pieces): training / predict 29 / 113 -> 41 / 157 at
batch 32, 17 / 107 -> 42 / 150 at 64 (one thread and 16 MiB -> two threads and 4 MiB). 8 MiB
pieces (two threads, another run): within 5% of 4 MiB.
"""

from __future__ import annotations

import argparse
import functools
import time

import numpy as np

import scratchnet as sn
from scratchnet import kernels
from scratchnet.kernels import bias as bias_new
from scratchnet.kernels import conv as conv_new
from scratchnet.kernels import pooling as pool_new
from scratchnet.kernels.conv import _tap, im2col

# ----------------------------------------------------------------------------- the old forms


def old_conv2d_forward(xpad, kernel, strides, dilation, out_hw):
    kh, kw, c, f = kernel.shape
    n = xpad.shape[0]
    oh, ow = out_hw
    cols = im2col(xpad, (kh, kw), strides, dilation, out_hw)
    y = cols.reshape(n * oh * ow, kh * kw * c) @ kernel.reshape(kh * kw * c, f)
    return y.reshape(n, oh, ow, f)


def old_conv2d_backward_kernel(xpad, dy, kernel_hw, strides, dilation):
    n, oh, ow, f = dy.shape
    kh, kw = kernel_hw
    c = xpad.shape[3]
    cols = im2col(xpad, kernel_hw, strides, dilation, (oh, ow))
    dk = cols.reshape(n * oh * ow, kh * kw * c).T @ dy.reshape(n * oh * ow, f)
    return dk.reshape(kh, kw, c, f)


def old_conv2d_backward_input(dy, kernel, strides, dilation, padded_hw):
    n, oh, ow, f = dy.shape
    kh, kw, c, _ = kernel.shape
    (sh, sw), (dh, dw) = strides, dilation
    dcols = dy.reshape(n * oh * ow, f) @ kernel.reshape(kh * kw * c, f).T
    dcols = dcols.reshape(n, oh, ow, kh, kw, c)
    dxpad = np.zeros((n, padded_hw[0], padded_hw[1], c), dtype=dy.dtype)
    for a in range(kh):
        for b in range(kw):
            dxpad[:, _tap(a * dh, sh, oh), _tap(b * dw, sw, ow), :] += dcols[:, :, :, a, b, :]
    return dxpad


def old_conv2d_bias_relu(xpad, kernel, bias, strides, dilation, out_hw):
    z = old_conv2d_forward(xpad, kernel, strides, dilation, out_hw)
    z += bias
    return np.maximum(z, 0, out=z)


def old_conv2d_bias_relu_forward(xpad, kernel, bias, strides, dilation, out_hw):
    z = old_conv2d_forward(xpad, kernel, strides, dilation, out_hw)
    z += bias
    return z, np.maximum(z, 0)


def old_relu_backward_bias_grad(da, z):
    dz = da * (z > 0)
    return dz, dz.sum(axis=tuple(range(dz.ndim - 1)))


def _old_windows(xpad, pool_size, strides, out_hw):
    (ph, pw), (sh, sw), (oh, ow) = pool_size, strides, out_hw
    return [xpad[:, _tap(a, sh, oh), _tap(b, sw, ow), :] for a in range(ph) for b in range(pw)]


def old_maxpool2d_values(xpad, pool_size, strides, out_hw):
    windows = _old_windows(xpad, pool_size, strides, out_hw)
    y = np.full(windows[0].shape, -np.inf, dtype=xpad.dtype)
    for cells in windows:
        np.fmax(y, cells, out=y)
    return y


def old_maxpool2d_forward(xpad, pool_size, strides, out_hw):
    windows = _old_windows(xpad, pool_size, strides, out_hw)
    y = old_maxpool2d_values(xpad, pool_size, strides, out_hw)
    dtype = pool_new.argmax_dtype(pool_size)
    argmax = np.zeros(y.shape, dtype=dtype)
    found = y == -np.inf
    for k, cells in enumerate(windows):
        first = (cells == y) & ~found
        argmax += first * dtype.type(k)
        found |= first
    return y, argmax


def old_maxpool2d_backward(dy, argmax, pool_size, strides, padded_hw):
    (ph, pw), (sh, sw) = pool_size, strides
    n, oh, ow, c = dy.shape
    dxpad = np.zeros((n, padded_hw[0], padded_hw[1], c), dtype=dy.dtype)
    for a in range(ph):
        for b in range(pw):
            won = argmax == a * pw + b
            dxpad[:, _tap(a, sh, oh), _tap(b, sw, ow), :] += np.where(won, dy, 0)
    return dxpad


OLD = {
    "conv2d_forward": old_conv2d_forward,
    "conv2d_backward_kernel": old_conv2d_backward_kernel,
    "conv2d_backward_input": old_conv2d_backward_input,
    "conv2d_bias_relu": old_conv2d_bias_relu,
    "conv2d_bias_relu_forward": old_conv2d_bias_relu_forward,
    "relu_backward_bias_grad": old_relu_backward_bias_grad,
    "maxpool2d_forward": old_maxpool2d_forward,
    "maxpool2d_values": old_maxpool2d_values,
    "maxpool2d_backward": old_maxpool2d_backward,
}
NEW = {
    "conv2d_forward": conv_new.conv2d_forward,
    "conv2d_backward_kernel": conv_new.conv2d_backward_kernel,
    "conv2d_backward_input": conv_new.conv2d_backward_input,
    "conv2d_bias_relu": bias_new.conv2d_bias_relu,
    "conv2d_bias_relu_forward": bias_new.conv2d_bias_relu_forward,
    "relu_backward_bias_grad": bias_new.relu_backward_bias_grad,
    "maxpool2d_forward": pool_new.maxpool2d_forward,
    "maxpool2d_values": pool_new.maxpool2d_values,
    "maxpool2d_backward": pool_new.maxpool2d_backward,
}

# ------------------------------------------------------------------------------- the shapes

# model -> its convolutions as (input height = width, input channels, filters); 3x3 valid, each
# followed by a 2x2 max-pool.
CONVS = {
    "small": [(32, 3, 16), (15, 16, 32)],
    "rps": [(64, 3, 16), (31, 16, 32), (14, 32, 64)],
    "talk": [(150, 3, 64), (74, 64, 64), (36, 64, 128), (17, 128, 128)],
}
BATCHES = {"small": (32, 256), "rps": (32, 256), "talk": (32, 64)}  # talk at 64: 256's proxy
BUILDERS = {"small": "small_cnn", "rps": "rps_cnn", "talk": "talk_cnn"}
INPUTS = {"small": (32, 32, 3), "rps": (64, 64, 3), "talk": (150, 150, 3)}


def interleaved(calls: dict, repeats: int) -> dict:
    """``{name: (median wall ms, median CPU ms)}``, the calls run in turn ``repeats`` times."""
    wall = {name: [] for name in calls}
    cpu = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            w0, c0 = time.perf_counter(), time.process_time()
            call()
            wall[name].append(time.perf_counter() - w0)
            cpu[name].append(time.process_time() - c0)
    return {name: (1e3 * np.median(wall[name]), 1e3 * np.median(cpu[name])) for name in calls}


def _row(label: str, times: dict) -> str:
    (ow, oc), (nw, nc) = times["old"], times["new"]
    return f"| {label} | {ow:.1f} ({oc:.0f}) | {nw:.1f} ({nc:.0f}) | {ow / nw:.2f}x |"


def kernel_cases(model: str, n: int, rng):
    """``(label, old call, new call)`` for every kernel of one training step of ``model``."""
    s1, d1, pool = (1, 1), (1, 1), (2, 2)
    for layer, (h, c, f) in enumerate(CONVS[model]):
        x = rng.random((n, h, h, c), dtype=np.float32)
        k = (rng.standard_normal((3, 3, c, f)) * np.sqrt(2 / (9 * c))).astype(np.float32)
        b = (rng.standard_normal(f) * 0.1).astype(np.float32)
        out = (h - 2, h - 2)
        a = old_conv2d_bias_relu(x, k, b, s1, d1, out)
        dy = rng.standard_normal(a.shape).astype(np.float32)
        tag = f"{model}@{n} conv{layer} {h}x{h}x{c}->{f}"
        for name, args in [("conv2d_bias_relu", (x, k, b, s1, d1, out)),
                           ("conv2d_backward_kernel", (x, dy, (3, 3), s1, d1)),
                           ("conv2d_backward_input", (dy, k, s1, d1, (h, h))),
                           ("relu_backward_bias_grad", (dy, a))]:
            if name == "conv2d_backward_input" and layer == 0:
                continue  # the first layer computes no dL/dx
            yield f"{tag} {name}", (lambda f_=OLD[name], a_=args: f_(*a_)), \
                (lambda f_=NEW[name], a_=args: f_(*a_))
        po = (out[0] // 2, out[1] // 2)
        y, argmax = old_maxpool2d_forward(a, pool, pool, po)
        dp = rng.standard_normal(y.shape).astype(np.float32)
        for name, args in [("maxpool2d_forward", (a, pool, pool, po)),
                           ("maxpool2d_values", (a, pool, pool, po)),
                           ("maxpool2d_backward", (dp, argmax, pool, pool, out))]:
            yield f"{tag} {name}", (lambda f_=OLD[name], a_=args: f_(*a_)), \
                (lambda f_=NEW[name], a_=args: f_(*a_))


def run_kernels(models, repeats: int) -> None:
    rng = np.random.default_rng(0)
    print("| kernel, shape | old ms (CPU ms) | new ms (CPU ms) | speed-up |")
    print("|---|---|---|---|")
    for model in models:
        for n in BATCHES[model]:
            for label, old, new in kernel_cases(model, n, rng):
                print(_row(label, interleaved({"old": old, "new": new}, repeats)), flush=True)


def _swapped(table: dict, new_table: dict, call):
    """``call`` run with the backend table's kernels replaced by ``table``, then put back."""
    def run():
        kernels._impl.update(table)
        try:
            call()
        finally:
            kernels._impl.update(new_table)
    return run


def model_calls(model: str, n: int, rng) -> tuple:
    """``(train, predict)``: one training step and one ``predict`` of a new ``model`` (numpy
    backend) on a batch of ``n`` random images, as calls without arguments."""
    from scratchnet import models as builders

    net = getattr(builders, BUILDERS[model])(INPUTS[model])  # the builders seed their weights (0)
    net.compile(optimizer="adam", loss=sn.losses.SparseCategoricalCrossentropy())
    x = rng.random((n,) + INPUTS[model], dtype=np.float32)
    y = rng.integers(0, 3, n)
    return (functools.partial(net.train_step, x, y),
            functools.partial(net.predict, x, batch_size=n, verbose=0))


def run_models(models, repeats: int) -> None:
    sn.set_backend("numpy")
    new_table = {name: kernels._impl[name] for name in OLD}
    rng = np.random.default_rng(0)
    print("| model, batch | train old img/s (per CPU s) | train new img/s (per CPU s) | speed-up "
          "| predict old img/s (per CPU s) | predict new img/s (per CPU s) | speed-up |")
    print("|---|---|---|---|---|---|---|")
    for model in models:
        for n in BATCHES[model]:
            train, predict = model_calls(model, n, rng)
            train()  # warm-up
            t = interleaved({"old": _swapped(OLD, new_table, train),
                             "new": _swapped(new_table, new_table, train)}, repeats)
            p = interleaved({"old": _swapped(OLD, new_table, predict),
                             "new": _swapped(new_table, new_table, predict)}, repeats)
            (to, tc), (tn, tnc), (po, pc), (pn, pnc) = t["old"], t["new"], p["old"], p["new"]
            print(f"| {model}@{n} | {n / to * 1e3:.0f} ({n / tc * 1e3:.0f}) | {n / tn * 1e3:.0f} "
                  f"({n / tnc * 1e3:.0f}) | {to / tn:.2f}x | {n / po * 1e3:.0f} ({n / pc * 1e3:.0f}) "
                  f"| {n / pn * 1e3:.0f} ({n / pnc * 1e3:.0f}) | {po / pn:.2f}x |", flush=True)


def one_setting(model: str, n: int, threads: int, chunk_mib: float, steps: int) -> dict:
    """Median ms of ``steps`` training steps and predict calls of ``model`` at batch ``n``, with
    ``conv.THREADS = threads`` and ``conv.CHUNK_BYTES = chunk_mib`` MiB (this process only)."""
    sn.set_backend("numpy")
    conv_new.THREADS, conv_new.CHUNK_BYTES = threads, int(chunk_mib * 2**20)
    train, predict = model_calls(model, n, np.random.default_rng(0))
    calls = {"train": train, "predict": predict}
    for call in calls.values():
        call()  # warm-up
    return {name: ms for name, (ms, _) in interleaved(calls, steps).items()}


def run_threads(models, repeats: int, threads: list[int], chunk_mib: list[float], steps: int) -> None:
    """Each setting (threads x piece size) in a process of its own, the settings in turn,
    ``repeats`` times: OpenBLAS' threads, once started, keep spinning for a while after each
    product, so a setting with two-thread BLAS would slow the next one in the same process."""
    import json
    import subprocess
    import sys

    settings = [(t, c) for t in threads for c in chunk_mib]
    print("| model, batch | " + " | ".join(f"{t} thread{'s' * (t > 1)}, {c:g} MiB: train / predict img/s"
                                           for t, c in settings) + " |")
    print("|---|" + "---|" * len(settings))
    for model in models:
        for n in BATCHES[model]:
            runs = {s_: [] for s_ in settings}
            for _ in range(repeats):
                for t, c in settings:
                    out = subprocess.run([sys.executable, "-m", "benchmarks.numpy_kernels", "--one-setting",
                                          model, str(n), str(t), str(c), str(steps)],
                                         capture_output=True, text=True, check=True).stdout
                    runs[(t, c)].append(json.loads(out.strip().splitlines()[-1]))
            cells = []
            for s_ in settings:
                train = np.median([r["train"] for r in runs[s_]])
                predict = np.median([r["predict"] for r in runs[s_]])
                cells.append(f"{n / train * 1e3:.0f} / {n / predict * 1e3:.0f}")
            print(f"| {model}@{n} | " + " | ".join(cells) + " |", flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", action="store_true", help="time train_step and predict instead")
    parser.add_argument("--threads", type=int, nargs="*",
                        help="time train_step and predict for these conv.THREADS (e.g. 1 2), each "
                             "setting in its own process")
    parser.add_argument("--chunk-mib", type=float, nargs="+", default=[conv_new.CHUNK_BYTES / 2**20],
                        help="with --threads: conv.CHUNK_BYTES values to try, in MiB")
    parser.add_argument("--steps", type=int, default=5, help="with --threads: timed calls a process")
    parser.add_argument("--one-setting", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--only", nargs="*", choices=sorted(CONVS), default=sorted(CONVS),
                        help="which models' shapes (default: all)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    if args.one_setting:
        import json

        model, n, threads, chunk_mib, steps = args.one_setting
        print(json.dumps(one_setting(model, int(n), int(threads), float(chunk_mib), int(steps))))
        return
    models = [m for m in ("small", "rps", "talk") if m in args.only]
    if args.threads:
        run_threads(models, args.repeats, args.threads, args.chunk_mib, args.steps)
    elif args.models:
        run_models(models, args.repeats)
    else:
        run_kernels(models, args.repeats)


if __name__ == "__main__":
    main()
