"""One multi-worker measurement, run under MPI by ``python -m benchmarks --workers 1,2``::

    mpiexec -n W python -m benchmarks.multiworker --model small_cnn --batch 32 --warmup 3 --steps 30

Every worker trains ``model`` with ``sn.distribute.MultiWorkerMirroredStrategy`` on ``batch``
samples per worker (a global batch of ``batch * W``: weak scaling, as one grows a cluster), and
times each step and, inside it, the ``Allreduce``. The Allreduce time includes waiting for the
slowest worker; a separate loop times the bare Allreduce of the same buffer after a barrier (the
transfer alone). Worker 0 prints one ``RESULT {json}`` line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.worker import MODELS, SCRATCH_BUILDERS, make_batches


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.multiworker")
    parser.add_argument("--model", required=True, choices=list(MODELS))
    parser.add_argument("--batch", type=int, default=32, help="samples per worker")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args(argv)

    import scratchnet as sn

    strategy = sn.distribute.MultiWorkerMirroredStrategy(timeout_seconds=600)
    workers = strategy.num_workers
    shape, softmax = MODELS[args.model]
    with strategy.scope():
        model = getattr(sn.models, SCRATCH_BUILDERS[args.model])(input_shape=shape, seed=0)
    model.compile(optimizer=sn.optimizers.Adam(learning_rate=1e-3),
                  loss=sn.losses.SparseCategoricalCrossentropy(from_logits=not softmax))
    batches = make_batches(args.model, args.batch * workers)  # the same global batches everywhere

    allreduce_seconds = []
    plain_allreduce = strategy._allreduce

    def timed_allreduce(buffer):
        start = time.perf_counter()
        plain_allreduce(buffer)
        allreduce_seconds.append(time.perf_counter() - start)
        timed_allreduce.bytes = buffer.nbytes

    strategy._allreduce = timed_allreduce
    step_seconds = []
    for i in range(args.warmup + args.steps):
        x, y = batches[i % len(batches)]
        if strategy.comm is not None:
            strategy.comm.Barrier()  # every step starts together: the step time is the slowest's
        start = time.perf_counter()
        model.train_step(x, y)
        step_seconds.append(time.perf_counter() - start)
    step_seconds, allreduce_seconds = step_seconds[args.warmup:], allreduce_seconds[args.warmup:]

    # The bare transfer: the same buffer, all workers already waiting at a barrier.
    buffer = np.zeros(timed_allreduce.bytes // 4, np.float32)
    bare = []
    for _ in range(max(10, args.steps)):
        if strategy.comm is not None:
            strategy.comm.Barrier()
        start = time.perf_counter()
        plain_allreduce(buffer)
        bare.append(time.perf_counter() - start)

    if strategy.is_chief:
        step, allreduce = float(np.median(step_seconds)), float(np.median(allreduce_seconds))
        print("RESULT " + json.dumps({
            "model": args.model, "workers": workers, "batch_per_worker": args.batch,
            "global_batch": args.batch * workers, "params": int(sum(p.value.size for p in model.params)),
            "allreduce_bytes": int(timed_allreduce.bytes), "step_ms": 1e3 * step,
            "allreduce_ms": 1e3 * allreduce, "allreduce_share": allreduce / step,
            "bare_allreduce_ms": 1e3 * float(np.median(bare)),
            "images_per_s": args.batch * workers / step,
            "backend": sn.get_backend(), "steps": args.steps}), flush=True)


# ------------------------------------------------------------------ the sweep (parent side)
MODELS_SWEPT = ("small_cnn", "rps_cnn")
STEPS = {"small_cnn": (3, 30), "rps_cnn": (2, 10)}  # (warm-up, timed) steps per run
QUICK_STEPS = {"small_cnn": (1, 5), "rps_cnn": (1, 3)}
MARK_BEGIN, MARK_END = "<!-- multiworker: begin -->", "<!-- multiworker: end -->"


def sweep(args, workers: list[int], command: str) -> int:
    """``python -m benchmarks --workers 1,2``: every model x worker count, ``args.repeats`` times,
    interleaved; writes ``OUT/multiworker.json`` and the multi-worker section of ``OUT/RESULTS.md``."""
    from benchmarks import report

    mpiexec = Path(sys.executable).parent / "mpiexec"
    models = [m for m in args.models if m in MODELS_SWEPT] or list(MODELS_SWEPT)
    meta = report.machine_info(command)
    cores = os.cpu_count() or 1
    batch = args.batch[0] if isinstance(args.batch, list) else args.batch  # per worker; --batch's first
    runs = []
    for repeat in range(args.repeats):
        for model in models:
            warmup, steps = (QUICK_STEPS if args.quick else STEPS)[model]
            order = workers if repeat % 2 == 0 else workers[::-1]  # interleave the worker counts
            for w in order:
                threads = str(max(1, cores // w))  # the cores shared out: no oversubscription
                env = dict(os.environ, NUMBA_NUM_THREADS=threads, OMP_NUM_THREADS=threads,
                           OPENBLAS_NUM_THREADS=threads, SCRATCHNET_NUMPY_THREADS=threads,
                           PYTHONPATH=str(Path(__file__).parents[1]))
                print(f"[benchmarks] repeat {repeat + 1}/{args.repeats}: {model} on {w} worker(s)",
                      flush=True)
                out = subprocess.run([str(mpiexec), "-n", str(w), sys.executable, "-m",
                                      "benchmarks.multiworker", "--model", model, "--batch",
                                      str(batch), "--warmup", str(warmup), "--steps", str(steps)],
                                     capture_output=True, text=True, env=env, timeout=1800)
                lines = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
                if out.returncode != 0 or not lines:
                    raise RuntimeError(f"{model} on {w} workers failed (exit {out.returncode}):\n"
                                       f"{out.stderr[-4000:]}")
                runs.append({**json.loads(lines[0][len("RESULT "):]), "threads_per_worker": int(threads)})
    meta["loadavg_after"] = os.getloadavg()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "multiworker.json").write_text(json.dumps({"meta": meta, "runs": runs}, indent=1))
    section = markdown(runs, meta)
    results = args.out / "RESULTS.md"
    text = results.read_text() if results.exists() else ""
    if MARK_BEGIN in text:
        text = text[:text.index(MARK_BEGIN)] + section + text[text.index(MARK_END) + len(MARK_END):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    results.write_text(text)
    print(section)
    return 0


def markdown(runs: list[dict], meta: dict) -> str:
    """The multi-worker section of RESULTS.md: medians over the repeats."""
    rows = {}
    for run in runs:
        rows.setdefault((run["model"], run["workers"]), []).append(run)
    load_before = ", ".join(f"{v:.1f}" for v in meta["loadavg_before"])
    load_after = ", ".join(f"{v:.1f}" for v in meta["loadavg_after"])
    lines = [MARK_BEGIN, "## Multi-worker training over MPI (`MultiWorkerMirroredStrategy`)", "",
             f"- Command: `{meta['command']}`; date {meta['date']}",
             f"- Machine: {meta['cpu']}, {meta['cores']} logical cores, {meta['memory_gib']} GiB; "
             f"{meta['platform']}; Python {meta['python']}",
             f"- Load average (1, 5, 15 min) before: {load_before}; after: {load_after}. "
             "The machine is shared and busy (other jobs run on the same cores): the figures are noisy.",
             f"- Weak scaling: each worker trains on {runs[0]['batch_per_worker']} samples per step "
             "(global batch = that x workers), "
             "Adam, Numba backend; the cores are shared out (threads per worker = cores / workers). "
             "Step time is the slowest worker's (a barrier starts each step). `Allreduce` includes "
             "waiting for the other worker; `bare` is the same buffer's Allreduce with both workers "
             "already waiting (the transfer alone, through shared memory).", "",
             "| model | workers | global batch | step (ms) | images/s | Allreduce (ms) | Allreduce share "
             "| bare Allreduce (ms) | buffer (KiB) | runs |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for (model, workers), reps in sorted(rows.items()):
        med = {k: statistics.median(r[k] for r in reps)
               for k in ("step_ms", "images_per_s", "allreduce_ms", "allreduce_share", "bare_allreduce_ms")}
        lines.append(f"| {model} | {workers} | {reps[0]['global_batch']} | {med['step_ms']:.1f} | "
                     f"{med['images_per_s']:.0f} | {med['allreduce_ms']:.2f} | "
                     f"{100 * med['allreduce_share']:.0f}% | {med['bare_allreduce_ms']:.2f} | "
                     f"{reps[0]['allreduce_bytes'] / 1024:.0f} | {len(reps)} |")
    lines += ["", scaling_model(runs), "", "The model is explained in `docs/distribution.md`.", MARK_END]
    return "\n".join(lines)


# Links of the scaling model: (name, bandwidth in bytes/s, latency per message in s).
LINKS = (("10 Gb/s", 10e9 / 8, 25e-6), ("100 Gb/s", 100e9 / 8, 5e-6))


def allreduce_seconds(nbytes: float, workers: int, bandwidth: float, latency: float) -> float:
    """Rabenseifner's all-reduce (reduce-scatter then all-gather, what MPICH uses for large
    buffers): each worker sends and receives ``2 (W-1)/W`` of the buffer, in ``2 log2 W`` rounds."""
    if workers == 1:
        return 0.0
    return 2 * (workers - 1) / workers * nbytes / bandwidth + 2 * np.log2(workers) * latency


def scaling_model(runs: list[dict]) -> str:
    """Step time = compute(b samples) + all-reduce(S bytes, W workers), no overlap (scratchnet
    sums after the whole backward pass); weak scaling, b samples per worker.

    The compute time per sample is measured: the 2-worker step minus its Allreduce (one core
    per worker). Checked on this machine first: compute + the bare Allreduce measured through
    shared memory predicts the 2-worker step; the rest is waiting for the slower worker."""
    table = ["| model | link | workers | all-reduce (ms) | step (ms) | images/s | efficiency |",
             "|---|---|---|---|---|---|---|"]
    checks = []
    by_model: dict = {}
    for run in runs:
        by_model.setdefault(run["model"], {}).setdefault(run["workers"], []).append(run)
    for model, by_workers in sorted(by_model.items()):
        if 2 not in by_workers:
            continue
        two = by_workers[2]
        b = two[0]["batch_per_worker"]
        compute = statistics.median(r["step_ms"] - r["allreduce_ms"] for r in two) / 1e3  # s per step
        nbytes = two[0]["allreduce_bytes"]
        bare = statistics.median(r["bare_allreduce_ms"] for r in two)
        measured = statistics.median(r["step_ms"] for r in two)
        checks.append(f"- {model}: compute {1e3 * compute / b:.3f} ms per sample ({1e3 * compute:.1f} ms "
                      f"per step of {b}), S = {nbytes / 1024:.0f} KiB. Check on this machine, 2 workers: "
                      f"compute + bare Allreduce = {1e3 * compute + bare:.1f} ms predicted, "
                      f"{measured:.1f} ms measured (the rest: waiting for the slower worker).")
        for name, bandwidth, latency in LINKS:
            for w in (8, 64, 512):
                t = allreduce_seconds(nbytes, w, bandwidth, latency)
                step = compute + t
                table.append(f"| {model} | {name} | {w} | {1e3 * t:.2f} | {1e3 * step:.1f} | "
                             f"{w * b / step:,.0f} | {compute / step:.0%} |")
    lines = ["### Scaling model (weak scaling; compute measured here, network assumed)", "",
             *checks, "", *table]
    lines += ["", "Links: 10 Gb/s with 25 us per message (TCP), 100 Gb/s with 5 us (RDMA); "
              "all-reduce = 2 (W-1)/W x S / bandwidth + 2 log2(W) x latency (Rabenseifner). "
              "Efficiency = compute / step: the share of a step spent computing."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
