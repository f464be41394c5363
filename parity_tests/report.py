"""The drift report: ``python -m parity_tests.report`` writes ``docs/parity-report.md`` and
``docs/parity-drift.png``.

It trains ``digits_cnn`` in scratchnet and in Keras from the same weights on the same batches
(sklearn's digits, a fixed NumPy permutation per epoch, batch 32) for a few hundred steps, once with
Adam and once with SGD + momentum, and records after every step each side's batch loss and the
relative weight difference of every layer. It also measures the one-step budget (forward output,
loss and gradients from identical weights) with oneDNN off, as the tests run, and on, in a child
process, since oneDNN is chosen when TensorFlow is imported.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # before TensorFlow is imported
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import scratchnet as sn  # noqa: E402
import tfnet  # noqa: E402
from parity_tests.driver import (  # noqa: E402
    FORWARD_RTOL,
    GRAD_RTOL,
    TRAJECTORY_RTOL,
    make_twins,
    relative_error,
)

ROOT = Path(__file__).resolve().parent.parent
BATCH = 32
CHECKPOINTS = (1, 5, 10, 20, 50, 100, 200, 300)


def layer_errors(model: sn.Sequential, kweights: list[np.ndarray]) -> dict[str, float]:
    """``max|w_scratch - w_keras| / max|w_keras|`` over each layer's weights (kernel and bias)."""
    errors, i = {}, 0
    for layer in model.layers:
        if not layer.params:
            continue
        ws = [p.value for p in layer.params.values()]
        wk = kweights[i:i + len(ws)]
        i += len(ws)
        diff = max(float(np.max(np.abs(a - b))) for a, b in zip(ws, wk, strict=True))
        scale = max(float(np.max(np.abs(b))) for b in wk)
        errors[layer.name] = diff / scale
    return errors


def batches(x, y, steps: int, seed: int = 0):
    """``steps`` batches in a fixed order: a NumPy permutation per epoch, the same for both."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < steps:
        order = rng.permutation(len(x))
        out += [order[i:i + BATCH] for i in range(0, len(x), BATCH)]
    return [(x[idx], y[idx]) for idx in out[:steps]]


def train_both(optimizer, steps: int, data) -> dict:
    """Train the twins step by step; record losses and per-layer weight differences."""
    keras.utils.set_random_seed(0)
    twins = make_twins(sn.models.digits_cnn(seed=0), optimizer=optimizer, metrics=["accuracy"],
                       loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y, x_test, y_test = data
    loss_s, loss_k, drift, resync = [], [], [], {}
    for step, (xb, yb) in enumerate(batches(x, y, steps), start=1):
        if step in CHECKPOINTS:
            # From scratchnet's current weights, copied: do the formulas still agree here?
            _, grads_s = twins.scratch.loss_and_grads(xb, yb)
            _, grads_k = tfnet.loss_and_grads(tfnet.to_keras(twins.scratch), xb, yb)
            resync[step] = max(relative_error(a, b) for a, b in zip(grads_s, grads_k, strict=True))
        twins.scratch.reset_metrics()
        loss_s.append(twins.scratch.train_step(xb, yb)["loss"])
        loss_k.append(float(twins.keras.train_on_batch(xb, yb, return_dict=True)["loss"]))
        drift.append(layer_errors(twins.scratch, twins.keras.get_weights()))
    acc_s = twins.scratch.evaluate(x_test, y_test, verbose=0)[1]
    acc_k = twins.keras.evaluate(x_test, y_test, verbose=0)[1]
    return {"loss_scratch": loss_s, "loss_keras": loss_k, "drift": drift, "resync": resync,
            "test_accuracy": (acc_s, acc_k), "n_test": len(x_test)}


def one_step_budget() -> dict[str, float]:
    """From identical weights, one batch: relative error of the output, the loss, the gradients."""
    tf.config.experimental.enable_op_determinism()
    x, y = sn.datasets.load_digits("train")
    x, y = x[:BATCH], y[:BATCH]
    twins = make_twins(sn.models.digits_cnn(seed=0),
                       loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    loss_s, grads_s = twins.scratch.loss_and_grads(x, y)
    loss_k, grads_k = tfnet.loss_and_grads(twins.keras, x, y)
    return {
        "output": relative_error(twins.scratch.predict(x), twins.keras.predict(x, verbose=0)),
        "loss": relative_error(loss_s, loss_k),
        "gradients": max(relative_error(a, b) for a, b in zip(grads_s, grads_k, strict=True)),
    }


def one_step_budget_with_onednn() -> dict[str, float] | None:
    """The same measurement in a child process whose TensorFlow has oneDNN on."""
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS="1", PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-m", "parity_tests.report", "--budget-only"],
                            env=env, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])


def plot(runs: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(runs), figsize=(6 * len(runs), 8), squeeze=False)
    for col, (title, run) in enumerate(runs.items()):
        steps = np.arange(1, len(run["loss_scratch"]) + 1)
        ax = axes[0, col]
        ax.plot(steps, run["loss_keras"], label="Keras", color="tab:orange", lw=2.5, alpha=0.7)
        ax.plot(steps, run["loss_scratch"], label="scratchnet", color="tab:blue", lw=1)
        ax.set(title=f"{title}: batch loss per step", xlabel="step", ylabel="loss", yscale="log")
        ax.legend()
        ax = axes[1, col]
        for name in run["drift"][0]:
            ax.plot(steps, [max(d[name], 1e-9) for d in run["drift"]], label=name, lw=1)
        ax.axhline(TRAJECTORY_RTOL, color="k", ls="--", lw=1, label="1e-4 (20-step tolerance)")
        ax.set(title=f"{title}: relative weight difference per layer",
               xlabel="step", ylabel="max|w_sn - w_keras| / max|w_keras|", yscale="log")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def first_step_above(drift: list[dict[str, float]], threshold: float) -> int | None:
    for step, errors in enumerate(drift, start=1):
        if max(errors.values()) > threshold:
            return step
    return None


def max_loss_gap(run: dict) -> float:
    return max(abs(a - b) / abs(b) for a, b in zip(run["loss_scratch"], run["loss_keras"],
                                                    strict=True))


def acc_gap(run: dict) -> int:
    acc_s, acc_k = run["test_accuracy"]
    return round(abs(acc_s - acc_k) * run["n_test"])


def runs_n_test(runs: dict) -> int:
    return next(iter(runs.values()))["n_test"]


def write_markdown(runs: dict, budget: dict, budget_onednn: dict | None, steps: int,
                   seconds: float, path: Path) -> None:
    lines = [
        "# Parity drift report: scratchnet against Keras over a few hundred steps",
        "",
        "Generated by `python -m parity_tests.report` (do not edit by hand). "
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}, NumPy {np.__version__}, "
        f"scratchnet backend `{sn.get_backend()}`, {platform.machine()} CPU, float32, "
        f"`TF_ENABLE_ONEDNN_OPTS=0`, op determinism on, `jit_compile=False`; {seconds:.0f} s.",
        "",
        f"`digits_cnn` (conv 32 same + relu, max-pool, conv 64 same + relu, dense 64, dense 10) is "
        f"built once in scratchnet (seed 0) and copied into Keras with `tfnet.to_keras`. Both train "
        f"for {steps} steps on the same batches of {BATCH} (sklearn's digits, "
        "1,437 training images, a fixed NumPy permutation per epoch) with "
        "`SparseCategoricalCrossentropy(from_logits=True)`. After every step the report records "
        "each side's batch loss and, per layer, `max|w_scratchnet - w_keras| / max|w_keras|`.",
        "",
        "![loss per step and relative weight difference per layer](parity-drift.png)",
        "",
        "## The tolerance budget",
        "",
        "float32 carries 24 significant bits: one rounding is at most 2^-24 = 6e-8 relative. "
        "Neither side is wrong; they add the same numbers in different orders. NumPy's matmul "
        "(OpenBLAS) and TensorFlow's Eigen kernels block and vectorise a dot product differently, "
        "scratchnet sums a convolution tap by tap while Eigen contracts an im2col-like matrix, "
        "and a sum of n terms in another order differs by up to about n ulps of its largest "
        "term (far less on average). oneDNN, if left on, replaces TensorFlow's float32 kernels "
        "with its own blocked ones (another summation order again) and may fuse ops, so the tests "
        "switch it off before TensorFlow is imported; XLA (`jit_compile`) would fuse and reorder "
        "too, so `to_keras` compiles with `jit_compile=False`. On this model and CPU oneDNN changes the "
        "one-step numbers only slightly (last column); the tests switch it off anyway, so that "
        "what they measure does not depend on which kernels a CPU gets.",
        "",
        "| quantity, one batch from identical weights | tolerance in the tests | measured, oneDNN off |"
        " measured, oneDNN on |",
        "|---|---|---|---|",
    ]
    on = budget_onednn or {}
    for key, tol in (("output", FORWARD_RTOL), ("loss", FORWARD_RTOL), ("gradients", GRAD_RTOL)):
        measured_on = f"{on[key]:.1e}" if key in on else "not measured"
        lines.append(f"| {key} (max over tensors) | {tol:.0e} | {budget[key]:.1e} | {measured_on} |")
    lines += [
        "",
        "Gradients get the looser 1e-4 because each one is a sum over the batch and every output "
        "position of products of forward values: it inherits their error and adds its own "
        "summation-order error, and an element that is a near-cancelling sum has a large "
        "*relative* error while its absolute error stays tiny (the tests measure error relative "
        "to the largest element of the tensor for that reason). Optimizer trajectories of about "
        "20 steps are held to 1e-4 on the weights.",
        "",
        "## What happens over hundreds of steps",
        "",
        "The last column copies scratchnet's weights at that step into a fresh Keras model and "
        "compares the gradients of that step's batch: the formulas still agree to the one-step "
        "budget anywhere along the run.",
        "",
        "| optimizer | step | max layer weight difference | batch loss, scratchnet | "
        "batch loss, Keras | gradient difference from copied weights |",
        "|---|---|---|---|---|---|",
    ]
    for title, run in runs.items():
        for step in CHECKPOINTS:
            if step > steps:
                continue
            d = max(run["drift"][step - 1].values())
            lines.append(f"| {title} | {step} | {d:.1e} | {run['loss_scratch'][step - 1]:.5f} | "
                         f"{run['loss_keras'][step - 1]:.5f} | {run['resync'][step]:.1e} |")
    lines += ["", f"Test accuracy after training ({runs_n_test(runs)} held-out digits):", ""]
    for title, run in runs.items():
        acc_s, acc_k = run["test_accuracy"]
        lines.append(f"- {title}: scratchnet {acc_s:.4f}, Keras {acc_k:.4f} "
                     f"(difference {abs(acc_s - acc_k) * run['n_test']:.0f} of {run['n_test']} images)")
    lines += ["", "## Reading the figure", ""]
    for title, run in runs.items():
        jump = first_step_above(run["drift"], TRAJECTORY_RTOL)
        early = max(max(d.values()) for d in run["drift"][:20])
        lines.append(
            f"- **{title}**: largest weight difference over the first 20 steps {early:.1e}; "
            + (f"it first exceeds 1e-4 at step {jump}. " if jump else
               f"it never exceeds 1e-4 in {steps} steps. ")
            + f"Gradients from copied weights agree to {max(run['resync'].values()):.1e} at every "
            f"checkpoint; the largest relative batch-loss difference is {max_loss_gap(run):.1e}; "
            f"final test accuracies differ by {acc_gap(run)} of {run['n_test']} images.")
    lines += [
        "",
        "Why the runs part: each step adds a rounding-sized difference to the weights, and SGD "
        "passes it on scaled by the learning rate. Adam divides each gradient element by the root "
        "of its own running square, so an element that is a near-cancelling sum (say 6e-7 out of "
        "terms of 1e-3, carrying 0.2% rounding noise) still takes a step of about the learning "
        "rate, and the weights are ~1e-5 apart after one step. Either way, sooner or later a ReLU "
        "pre-activation or a max-pool window sits within that difference of its switching point "
        "(a pre-activation of 4e-7, on in Keras and off in scratchnet, was the first one found "
        "while writing the tests); one gradient element then differs by a whole term (the steps "
        "in the lower plots) and the two runs continue on nearby but separate paths of the same "
        "loss landscape. The gradient column shows that at every checkpoint the two frameworks, "
        "given the same weights, still compute the same numbers: the drift is float32 arithmetic "
        "meeting a discontinuous derivative, not a different formula.",
        "",
        "This is why the parity tests compare one step (forward, loss, gradients) from identical "
        "weights tightly, optimizer trajectories over ~20 steps at 1e-4, a 40-step SGD fit at "
        "rounding level, and a 40-step Adam fit by per-epoch loss at 1e-2 and by accuracy to one "
        "sample in a hundred.",
        "",
    ]
    path.write_text("\n".join(lines))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="training steps per run")
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="output folder")
    parser.add_argument("--budget-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.budget_only:
        print(json.dumps(one_step_budget()))
        return 0
    if os.environ.get("TF_ENABLE_ONEDNN_OPTS") != "0":
        print("parity_tests.report: run with TF_ENABLE_ONEDNN_OPTS=0", file=sys.stderr)
        return 2
    sn.set_backend("numpy")  # the reference kernels: the numbers a reader can step through
    start = time.perf_counter()
    x, y = sn.datasets.load_digits("train")
    x_test, y_test = sn.datasets.load_digits("test")
    data = (x, y, x_test, y_test)
    budget = one_step_budget()
    runs = {
        "Adam(1e-3)": train_both(sn.optimizers.Adam(1e-3), args.steps, data),
        "SGD(0.05, momentum=0.9)": train_both(sn.optimizers.SGD(0.05, momentum=0.9), args.steps,
                                              data),
    }
    budget_onednn = one_step_budget_with_onednn()
    args.out.mkdir(parents=True, exist_ok=True)
    plot(runs, args.out / "parity-drift.png")
    write_markdown(runs, budget, budget_onednn, args.steps, time.perf_counter() - start,
                   args.out / "parity-report.md")
    print(f"wrote {args.out / 'parity-report.md'} and {args.out / 'parity-drift.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
