"""``python -m benchmarks``: scratchnet (NumPy and Numba backends) against TensorFlow, on this machine.

Every measurement runs in a fresh subprocess (``benchmarks/worker.py``): one framework, one model,
one batch size. Frameworks are interleaved (their order rotates each repeat), every (framework,
model, batch) triple is repeated, and the report gives medians, ratios to TensorFlow with the
spread of the per-repeat ratios, and the issue's targets (met or not). Every model runs at batch
32 and 256, training (``train_step`` / ``train_on_batch``) and inference (``predict(x,
batch_size=B)`` on both sides). ``numpy-ml`` (the optional ``bench`` extra) joins as a peer at
batch 32 where it is installed. Writes ``RESULTS.md``, ``results.png`` and ``results.json`` (every
raw number) into ``--out`` (default: this folder); the multi-worker section of ``RESULTS.md``
(between its markers) is kept.

    python -m benchmarks                      # the full run: every model, batch 32 and 256, 5 repeats
    python -m benchmarks --quick              # a few steps, 1 repeat: checks the pipeline
    python -m benchmarks --models small_cnn rps_cnn --batch 32 --repeats 3
    python -m benchmarks --workers 1,2        # multi-worker training over MPI (benchmarks/multiworker.py)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks import report
from benchmarks.worker import MODELS, SCRATCH_BUILDERS

ROOT = Path(__file__).resolve().parent.parent
# (warm-up steps, timed steps) per (model, batch), full and --quick; talk_cnn is a few batches only.
# Enough timed steps that the fastest framework's training takes 0.4 s or more per run: with
# 0.08-0.23 s (the counts until 2026-12-03: small_cnn 50 / 8, rps_cnn 15 / 4 at batch 32 / 256) one
# hiccup of this shared VM moved a run's rate by a third (rps_cnn at 32, five runs each, in one
# sitting: scratch-numba 2489-3808 images/s with 15 steps, 3588-4115 with 60; TensorFlow 2346-2854
# and 2428-2931). Inference times as many batches (INFER_BATCHES to a predict call).
STEPS = {("mlp", 32): (5, 200), ("small_cnn", 32): (3, 200), ("rps_cnn", 32): (3, 60),
         ("talk_cnn", 32): (1, 3),
         ("mlp", 256): (3, 40), ("small_cnn", 256): (2, 40), ("rps_cnn", 256): (1, 12),
         ("talk_cnn", 256): (1, 2)}
QUICK_STEPS = {"mlp": (2, 30), "small_cnn": (2, 10), "rps_cnn": (2, 4), "talk_cnn": (1, 1)}
# Batches per predict call: predict(x, batch_size=B) on an array of that many batches, as a user
# predicts on a whole array (talk_cnn at 256: one batch a call, 256 images of 150x150).
INFER_BATCHES = {("talk_cnn", 256): 1}
# At most this many repeats for a (model, batch), where a full run would take too long (none now:
# the whole run takes about 20 minutes on 2 cores, talk_cnn at 256 about 2 of them per repeat).
MAX_REPEATS: dict = {}
# Profiled training steps (first repeat, scratch backends; default: as many as timed ones).
PROFILE_STEPS = {("talk_cnn", 256): 1}
# numpy-ml: its max-pooling loops in Python over every output pixel and channel (a training step of
# small_cnn at batch 32 takes about 5 s here, rps_cnn about 25 s, talk_cnn minutes), so it runs at
# batch 32 on the three smaller models, fewer steps and repeats: (warm-up, timed, repeats).
NUMPY_ML = {("mlp", 32): (2, 20, 5), ("small_cnn", 32): (1, 2, 3), ("rps_cnn", 32): (1, 1, 1)}


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--frameworks", nargs="+",
                        choices=["scratch-numpy", "scratch-numba", "tf-cpu", "tf-gpu", "numpy-ml"],
                        help="default: the three CPU ones, tf-gpu if TensorFlow sees a GPU, and "
                             "numpy-ml if it imports (pip install -e '.[bench]')")
    parser.add_argument("--repeats", type=int, default=None, help="default 5 (1 with --quick)")
    parser.add_argument("--batch", type=int, nargs="+", default=[32, 256],
                        help="batch sizes (default: 32 256)")
    parser.add_argument("--quick", action="store_true", help="few steps, one repeat")
    parser.add_argument("--tf-onednn", choices=["0", "1"], default="1",
                        help="TF_ENABLE_ONEDNN_OPTS for TensorFlow (1: TensorFlow's default on x86)")
    parser.add_argument("--no-profile", action="store_true",
                        help="skip the per-kernel profile of the scratch backends")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--workers", help="e.g. 1,2: instead of the framework comparison, train "
                        "small_cnn and rps_cnn on that many MPI workers (the mpi extra) and report "
                        "images/s and the Allreduce share of a step")
    parser.add_argument("--gpu", choices=["auto", "on", "off"], default="auto",
                        help="scratchnet's CuPy backend against PyTorch on the GPU "
                             "(benchmarks/gpu_check.py, written to OUT/gpu/); auto: when CuPy "
                             "sees an NVIDIA GPU")
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 1 if args.quick else 5
    return args


def worker_env(framework: str, tf_onednn: str) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if not framework.startswith("scratch"):
        # importing scratchnet (tfnet does, for the twin models) would set malloc's thresholds
        # (scratchnet/kernels/memory.py) in this process too: TensorFlow and numpy-ml run with
        # malloc as their own users have it
        env["SCRATCHNET_KEEP_FREED_MEMORY"] = "0"
    if framework == "numpy-ml":
        pass
    elif framework.startswith("scratch"):
        env["SCRATCHNET_BACKEND"] = framework.split("-")[1]
    else:
        env["TF_ENABLE_ONEDNN_OPTS"] = tf_onednn
        if framework == "tf-cpu":
            env["CUDA_VISIBLE_DEVICES"] = "-1"
    return env


def steps_for(framework: str, model: str, batch: int, quick: bool) -> tuple[int, int]:
    """(warm-up, timed) training steps of one run."""
    if framework == "numpy-ml":
        warmup, steps, _ = NUMPY_ML[(model, batch)]
        return (1, 1) if quick else (warmup, steps)
    if quick:
        return QUICK_STEPS[model]
    if (model, batch) in STEPS:
        return STEPS[(model, batch)]
    warmup, steps = STEPS[(model, 32)]  # another batch size: about as many images as at 32
    return warmup, max(2, steps * 32 // batch)


def repeats_for(framework: str, model: str, batch: int, repeats: int) -> int:
    if framework == "numpy-ml":
        return min(repeats, NUMPY_ML[(model, batch)][2]) if (model, batch) in NUMPY_ML else 0
    return min(repeats, MAX_REPEATS.get((model, batch), repeats))


def run_worker(framework: str, model: str, batch: int, args, profile_steps: int) -> dict:
    warmup, steps = steps_for(framework, model, batch, args.quick)
    infer_batches = INFER_BATCHES.get((model, batch), 4)
    calls = max(1, -(-steps // infer_batches))
    if framework == "numpy-ml":
        infer_batches, calls = 1, max(1, min(steps, 2))
    command = [sys.executable, "-m", "benchmarks.worker", "--framework", framework,
               "--model", model, "--batch", str(batch), "--warmup", str(warmup),
               "--steps", str(steps), "--infer-batches", str(infer_batches),
               "--infer-calls", str(calls), "--profile-steps", str(profile_steps)]
    out = subprocess.run(command, env=worker_env(framework, args.tf_onednn), cwd=ROOT,
                         capture_output=True, text=True, timeout=1800)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"{framework} on {model} failed (exit {out.returncode}):\n"
                       f"{out.stdout[-2000:]}\n{out.stderr[-4000:]}")


def tensorflow_sees_a_gpu() -> bool:
    code = "import tensorflow as tf; print(len(tf.config.list_physical_devices('GPU')))"
    out = subprocess.run([sys.executable, "-c", code], env=worker_env("tf-gpu", "1"),
                         capture_output=True, text=True, timeout=600)
    return out.returncode == 0 and out.stdout.strip().splitlines()[-1:] != ["0"] \
        and bool(out.stdout.strip())


def numpy_ml_imports() -> bool:
    """True if numpy-ml (the ``bench`` extra) imports in a child process."""
    code = "from benchmarks.worker import import_numpy_ml; import_numpy_ml()"
    out = subprocess.run([sys.executable, "-c", code], env=worker_env("numpy-ml", "1"), cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    return out.returncode == 0


def matmul_peak_gflops(size: int = 2048, repeats: int = 5) -> float:
    """The best GFLOP/s of NumPy's float32 matrix product on this machine (its BLAS, its threads)."""
    rng = np.random.default_rng(0)
    a = rng.random((size, size), dtype=np.float32)
    b = rng.random((size, size), dtype=np.float32)
    a @ b
    best = min(_seconds(lambda: a @ b) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def flops_per_image(model_name: str) -> dict:
    """Multiply-adds x 2 of the convolutions and dense layers, per image: forward, and a training
    step (forward + kernel gradient + input gradient, the last skipped for the first layer, which
    both scratchnet and TensorFlow skip). Pooling and activations are not counted."""
    import scratchnet as sn
    from scratchnet.layers.conv import Conv2D
    from scratchnet.layers.core import Dense

    shape, _ = MODELS[model_name]
    model = getattr(sn.models, SCRATCH_BUILDERS[model_name])(input_shape=shape, seed=0)
    forward = train = 0
    for layer in model.layers:
        if isinstance(layer, Conv2D):
            oh, ow, f = layer.output_shape
            kh, kw, c, _ = layer.kernel.shape
            flops = 2 * oh * ow * kh * kw * c * f
        elif isinstance(layer, Dense):
            flops = 2 * layer.kernel.value.size
        else:
            continue
        forward += flops
        train += 2 * flops + (flops if layer.compute_input_grad else 0)
    return {"forward": forward, "train": train}


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.workers:
        from benchmarks import multiworker

        command = "python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:])
        return multiworker.sweep(args, [int(w) for w in args.workers.split(",")], command.strip())
    frameworks = args.frameworks or (["scratch-numpy", "scratch-numba", "tf-cpu"]
                                     + (["tf-gpu"] if tensorflow_sees_a_gpu() else [])
                                     + (["numpy-ml"] if numpy_ml_imports() else []))
    command = "python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:])
    meta = report.machine_info(command.strip())
    meta["numpy_ml_imports"] = "numpy-ml" in frameworks or numpy_ml_imports()
    meta["matmul_peak_gflops"] = matmul_peak_gflops()
    meta["flops_per_image"] = {m: flops_per_image(m) for m in args.models}
    meta["settings"] = {
        "quick": args.quick, "repeats": args.repeats, "batches": args.batch,
        "steps": {f"{m}@{b}": steps_for("tf-cpu", m, b, args.quick)
                  for m in args.models for b in args.batch},
        "repeats_per_row": {f"{m}@{b}": repeats_for("tf-cpu", m, b, args.repeats)
                            for m in args.models for b in args.batch},
        "infer_batches_per_call": {f"{m}@{b}": INFER_BATCHES.get((m, b), 4)
                                   for m in args.models for b in args.batch},
        "numpy_ml": {f"{m}@{b}": list(v) for (m, b), v in NUMPY_ML.items()},
        "tf_onednn": args.tf_onednn, "frameworks": frameworks}
    started = time.perf_counter()
    results = []
    for repeat in range(args.repeats):
        for batch in args.batch:
            for model in args.models:
                shift = repeat % len(frameworks)
                for framework in frameworks[shift:] + frameworks[:shift]:  # rotate: interleave
                    if repeat >= repeats_for(framework, model, batch, args.repeats):
                        continue
                    profile = 0 if (args.no_profile or repeat or model == "mlp"
                                    or not framework.startswith("scratch")) \
                        else PROFILE_STEPS.get((model, batch),
                                               steps_for(framework, model, batch, args.quick)[1])
                    print(f"[benchmarks] {time.perf_counter() - started:6.0f} s  repeat "
                          f"{repeat + 1}/{args.repeats}: {framework} on {model} at batch {batch}",
                          flush=True)
                    try:
                        results.append(run_worker(framework, model, batch, args, profile))
                    except (RuntimeError, subprocess.TimeoutExpired) as error:  # e.g. out of memory
                        print(f"[benchmarks] FAILED: {error}", flush=True)
                        meta.setdefault("failures", []).append(
                            f"{framework} on {model} at batch {batch}, repeat {repeat + 1}: "
                            + str(error).splitlines()[0])
    meta["minutes"] = (time.perf_counter() - started) / 60
    meta["loadavg_after"] = os.getloadavg()
    meta["matmul_peak_gflops_after"] = matmul_peak_gflops()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({"meta": meta, "runs": results}, indent=1))
    summary = report.summarize(results, meta)
    write_results_md(args.out / "RESULTS.md", report.markdown(summary, meta))
    report.chart(summary, meta, args.out / "results.png")
    print(f"[benchmarks] wrote {args.out / 'RESULTS.md'} and {args.out / 'results.png'}")
    print(report.targets_text(summary))
    if args.gpu == "on" or (args.gpu == "auto" and cupy_sees_a_gpu()):
        from benchmarks import gpu_check

        gpu_check.run(args.out / "gpu")
        print(f"[benchmarks] wrote the GPU check to {args.out / 'gpu'}")
    return 0


def write_results_md(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, keeping the multi-worker section (between its markers) of the
    file already there, which ``python -m benchmarks --workers`` writes."""
    from benchmarks.multiworker import MARK_BEGIN, MARK_END

    if path.exists():
        old = path.read_text()
        begin, end = old.find(MARK_BEGIN), old.find(MARK_END)
        if 0 <= begin < end:
            text = text.rstrip("\n") + "\n\n" + old[begin:end + len(MARK_END)] + "\n"
    path.write_text(text)


def cupy_sees_a_gpu() -> bool:
    """True if CuPy is installed and finds an NVIDIA GPU (asked in a child process, so this one
    never initialises CUDA)."""
    code = "import cupy; print(cupy.cuda.runtime.getDeviceCount())"
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and out.stdout.strip().isdigit() and int(out.stdout) > 0


if __name__ == "__main__":
    sys.exit(main())
