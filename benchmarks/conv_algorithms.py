"""``python -m benchmarks.conv_algorithms``: im2col + GEMM against Winograd F(2x2, 3x3), Winograd
F(4x4, 3x3) (``winograd4``) and the direct loops, Numba kernels.

Times each 3x3 stride-1 convolution of the benchmark models (small_cnn, rps_cnn at 64x64, talk_cnn
at 150x150) at one batch size: the forward pass (``*conv2d_bias_relu``, Conv2D's usual call, which
returns ``max(z + bias, 0)`` only), the kernel gradient and the input gradient, each with every
algorithm asked for. The algorithms
are interleaved (their order rotates each repeat) so all see the same machine load; the report
is the median over the repeats, with the min-max spread, and the ratio im2col / algorithm (> 1:
faster than im2col), and the same for the process' CPU time (steadier on a shared machine). The
first call of each kernel (compiling or loading Numba's cache) is not timed.

    python -m benchmarks.conv_algorithms                    # batch 32, 7 repeats, all four
    python -m benchmarks.conv_algorithms --batch 256 --repeats 5 --models talk_cnn --layers conv1 \
        --algorithms im2col direct
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from datetime import UTC, datetime

import numpy as np

# (name, input height/width, channels in, filters) of every Conv2D of the models, "valid", 3x3
SHAPES = {
    "small_cnn": [("conv1", 32, 3, 16), ("conv2", 15, 16, 32)],
    "rps_cnn": [("conv1", 64, 3, 16), ("conv2", 31, 16, 32), ("conv3", 14, 32, 64)],
    "talk_cnn": [("conv1", 150, 3, 64), ("conv2", 74, 64, 64), ("conv3", 36, 64, 128),
                 ("conv4", 17, 128, 128)],
}
PHASES = ("forward", "grad_kernel", "grad_input")
ALGORITHMS = ("im2col", "winograd", "winograd4", "direct")


def _calls(nb, algorithm: str, xpad, kernel, bias, dy):
    """The three kernel calls of one algorithm, as argument-less functions."""
    one, out_hw, hw = (1, 1), dy.shape[1:3], xpad.shape[1:3]
    prefix = "" if algorithm == "im2col" else algorithm + "_"
    fwd = getattr(nb, prefix + "conv2d_bias_relu")
    gk = getattr(nb, prefix + "conv2d_backward_kernel")
    gi = getattr(nb, prefix + "conv2d_backward_input")
    return {
        "forward": lambda: fwd(xpad, kernel, bias, one, one, out_hw),
        "grad_kernel": lambda: gk(xpad, dy, (3, 3), one, one),
        "grad_input": lambda: gi(dy, kernel, one, one, hw),
    }


def _time(fn, min_seconds: float) -> tuple[float, float]:
    """Seconds per call, wall clock and CPU time of the process (all its threads): the mean over as
    many calls as fill ``min_seconds`` (at least one). On a busy machine the CPU time is the
    steadier of the two: time spent waiting for a core is not counted."""
    calls, start, cpu_start = 0, time.perf_counter(), time.process_time()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return elapsed / calls, (time.process_time() - cpu_start) / calls


def measure(batch: int, repeats: int, models, min_seconds: float, seed: int = 0,
            algorithms=ALGORITHMS, layers=None) -> list[dict]:
    from scratchnet.kernels import numba_kernels as nb

    rng = np.random.default_rng(seed)
    rows = []
    for model in models:
        for name, hw, c, f in SHAPES[model]:
            if layers and name not in layers:
                continue
            xpad = rng.standard_normal((batch, hw, hw, c)).astype(np.float32)
            kernel = (rng.standard_normal((3, 3, c, f)) * np.sqrt(2 / (9 * (c + f)))).astype(np.float32)
            bias = np.zeros(f, np.float32)
            dy = rng.standard_normal((batch, hw - 2, hw - 2, f)).astype(np.float32)
            calls = {alg: _calls(nb, alg, xpad, kernel, bias, dy) for alg in algorithms}
            for alg in calls:  # warm-up: compile or load from Numba's cache
                for fn in calls[alg].values():
                    fn()
            seconds = {(alg, ph): [] for alg in calls for ph in PHASES}
            cpu = {(alg, ph): [] for alg in calls for ph in PHASES}
            for r in range(repeats):
                order = algorithms[r % len(algorithms):] + algorithms[:r % len(algorithms)]
                for phase in PHASES:
                    for alg in order:
                        wall, used = _time(calls[alg][phase], min_seconds)
                        seconds[alg, phase].append(wall)
                        cpu[alg, phase].append(used)
            for phase in PHASES:
                row = {"model": model, "layer": name, "shape": f"{hw}x{hw}x{c}->{f}", "phase": phase}
                for alg in calls:
                    s = np.array(seconds[alg, phase]) * 1e3
                    row[alg] = (float(np.median(s)), float(s.min()), float(s.max()))
                    row[alg + "_cpu"] = float(np.median(cpu[alg, phase])) * 1e3
                for alg in algorithms:
                    row[alg + "_ratio"] = row[algorithms[0]][0] / row[alg][0]
                    row[alg + "_cpu_ratio"] = row[algorithms[0] + "_cpu"] / row[alg + "_cpu"]
                rows.append(row)
                print(_format_row(row, algorithms), flush=True)
    return rows


def _format_row(row: dict, algorithms) -> str:
    def cell(t):
        return f"{t[0]:.2f} [{t[1]:.2f}-{t[2]:.2f}]"
    times = " | ".join(cell(row[alg]) for alg in algorithms)
    ratios = " | ".join(f"{row[alg + '_ratio']:.2f}" for alg in algorithms[1:])
    cpus = " | ".join(f"{row[alg + '_cpu']:.2f}" for alg in algorithms)
    cpu_ratios = " | ".join(f"{row[alg + '_cpu_ratio']:.2f}" for alg in algorithms[1:])
    return (f"| {row['model']} | {row['layer']} | {row['shape']} | {row['phase']} | {times} | {ratios} | "
            f"{cpus} | {cpu_ratios} |")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.conv_algorithms", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--models", nargs="+", choices=list(SHAPES), default=list(SHAPES))
    parser.add_argument("--layers", nargs="+", help="only these layers (e.g. conv1)")
    parser.add_argument("--algorithms", nargs="+", choices=ALGORITHMS, default=list(ALGORITHMS),
                        help="the first is the baseline of the ratios")
    parser.add_argument("--min-seconds", type=float, default=0.2,
                        help="each timing repeats the call until this much time has passed")
    args = parser.parse_args(argv)
    import numba

    from scratchnet.kernels import numba_kernels  # noqa: F401  (first: it picks Numba's threading layer)

    machine = platform.processor() or platform.machine()
    print(f"date {datetime.now(UTC):%Y-%m-%d %H:%M UTC}; {machine}, "
          f"{os.cpu_count()} logical cores; numba {numba.__version__}, {numba.get_num_threads()} threads; "
          f"load average before {os.getloadavg()}")
    algorithms = tuple(args.algorithms)
    base, others = algorithms[0], algorithms[1:]
    print(f"batch {args.batch}, float32, ms per call: median [min-max] over {args.repeats} interleaved "
          f"repeats; ratio = {base} / algorithm (> 1: faster than {base}); cpu: median CPU ms per call, "
          f"all threads")
    print("| model | layer | input -> filters | phase | "
          + " | ".join(f"{alg} ms" for alg in algorithms) + " | "
          + " | ".join(f"{base}/{alg}" for alg in others) + " | "
          + " | ".join(f"{alg} cpu" for alg in algorithms) + " | "
          + " | ".join(f"cpu {base}/{alg}" for alg in others) + " |")
    print("|---" * (4 + 2 * len(algorithms) + 2 * len(others)) + "|")
    measure(args.batch, args.repeats, args.models, args.min_seconds, algorithms=algorithms,
            layers=args.layers)
    print(f"load average after {os.getloadavg()}; threading layer {numba.threading_layer()}")


if __name__ == "__main__":
    main()
