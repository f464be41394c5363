"""Turn the raw runs into medians, ratios and target checks; write RESULTS.md and the chart."""

from __future__ import annotations

import datetime
import os
import platform
import statistics

BASELINE = "tf-cpu"
SCRATCH = ("scratch-numpy", "scratch-numba")
PEERS = ("numpy-ml",)
FRAMEWORK_ORDER = ["scratch-numpy", "scratch-numba", "tf-cpu", "tf-gpu", "numpy-ml"]
# Issue 16's targets: (framework, least ratio to TensorFlow on the CPU), for training and inference
# at batch 32 and 256 on these models; and scratch-numba's peak memory <= TensorFlow's on every row.
TARGET_MODELS = ("small_cnn", "rps_cnn", "talk_cnn")
TARGET_BATCHES = (32, 256)
TARGETS = [("scratch-numba", 1.3), ("scratch-numpy", 0.3)]


def machine_info(command: str) -> dict:
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        with open("/proc/meminfo") as f:
            mem_gib = int(f.readline().split()[1]) / 2**20
    except OSError:
        mem_gib = float("nan")
    return {"command": command, "date": datetime.datetime.now().astimezone().isoformat(" ", "seconds"),
            "cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem_gib, 1),
            "platform": platform.platform(), "python": platform.python_version(),
            "loadavg_before": os.getloadavg(), "openblas": openblas_info()}


def openblas_info() -> dict:
    """Which kernels OpenBLAS runs here, and the two environment variables that can force them.

    OpenBLAS chooses its kernels when it loads, from the CPU, unless ``OPENBLAS_CORETYPE`` names
    them. Some machines set it (and ``OPENBLAS_L2_SIZE``) for safety with old OpenBLAS builds,
    e.g. to the AVX2 "Haswell" kernels on an AVX-512 CPU, which halves the speed of every matrix
    product (NumPy's and the Numba kernels'); the report says so beside the figures.
    """
    env = {name: os.environ.get(name) for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    try:
        import threadpoolctl

        kernels = sorted({i.get("architecture") or "?" for i in threadpoolctl.threadpool_info()
                          if i.get("internal_api") == "openblas"})
    except ImportError:
        kernels = []
    return {"env": env, "kernels": kernels}


def row_key(model: str, batch: int) -> str:
    return f"{model}@{batch}"


def summarize(runs: list[dict], meta: dict) -> dict:
    """Medians per (model, batch) row and framework; ratios to tf-cpu of the medians, with the
    min-max of the per-repeat ratios (repeat i of a framework against repeat i of TensorFlow: the
    runs were interleaved, so each pair saw the same machine load); the targets, met or not."""
    rows: dict[str, dict[str, list]] = {}
    for run in runs:
        key = row_key(run["model"], run["batch"])
        rows.setdefault(key, {}).setdefault(run["framework"], []).append(run)
    summary: dict = {"rows": {}, "ratios": {}, "targets": [], "info": {}, "conv_shares": {}}
    for key, by_framework in rows.items():
        model = key.split("@")[0]
        flops = meta["flops_per_image"][model]
        table = {}
        for framework in sorted(by_framework, key=FRAMEWORK_ORDER.index):
            reps = by_framework[framework]
            train = [r["train_images_per_s"] for r in reps]
            infer = [r["infer_images_per_s"] for r in reps]
            row = {
                "repeats": len(reps),
                "train": statistics.median(train), "train_min": min(train), "train_max": max(train),
                "infer": statistics.median(infer), "infer_min": min(infer), "infer_max": max(infer),
                "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in reps),
                "peak_rss_training_mb": statistics.median(r["peak_rss_training_mb"] for r in reps),
                "rss_before_training_mb": statistics.median(r["rss_before_training_mb"] for r in reps),
                "first_train_step_s": statistics.median(r["train_warmup_s"][0] for r in reps),
            }
            row["train_gflops"] = row["train"] * flops["train"] / 1e9
            row["infer_gflops"] = row["infer"] * flops["forward"] / 1e9
            for name in ("infer_on_batch", "infer_tf_function"):
                if f"{name}_images_per_s" in reps[0]:
                    row[name] = statistics.median(r[f"{name}_images_per_s"] for r in reps)
            profiled = [r for r in reps if "profile_ms" in r]
            if profiled:
                row["profile_ms"] = profiled[0]["profile_ms"]
                row["layer_profile"] = profiled[0].get("layer_profile", [])
            if reps[0].get("conv_algorithms"):
                row["conv_algorithms"] = reps[0]["conv_algorithms"]
            table[framework] = row
            summary["info"].setdefault(framework, reps[0]["info"])
            if row.get("layer_profile"):
                summary["conv_shares"].setdefault(key, {})[framework] = conv_shares(row["layer_profile"])
        summary["rows"][key] = table
        base = by_framework.get(BASELINE)
        if base:
            b = table[BASELINE]
            summary["ratios"][key] = {}
            for fw in table:
                if fw == BASELINE or fw == "tf-gpu":
                    continue
                reps = by_framework[fw]
                pairs = list(zip(reps, base, strict=False))
                r = table[fw]
                summary["ratios"][key][fw] = {
                    "train": r["train"] / b["train"],
                    "train_spread": _spread(p["train_images_per_s"] / q["train_images_per_s"]
                                            for p, q in pairs),
                    "infer": r["infer"] / b["infer_on_batch"],
                    "infer_spread": _spread(p["infer_images_per_s"] / q["infer_on_batch_images_per_s"]
                                            for p, q in pairs),
                    "infer_vs_predict": r["infer"] / b["infer"],
                    "infer_vs_tf_function": r["infer"] / b["infer_tf_function"],
                    "peak_memory": r["peak_rss_mb"] / b["peak_rss_mb"],
                    "peak_memory_spread": _spread(p["peak_rss_mb"] / q["peak_rss_mb"] for p, q in pairs),
                }
    for framework, least in TARGETS:
        for batch in TARGET_BATCHES:
            for model in TARGET_MODELS:
                for metric in ("train", "infer"):
                    r = summary["ratios"].get(row_key(model, batch), {}).get(framework)
                    if r is None:
                        continue
                    summary["targets"].append(_target(
                        f"{framework} / tf-cpu, {'training' if metric == 'train' else 'inference'}, "
                        f"{model}, batch {batch}", r[metric], r[f"{metric}_spread"], least=least))
    for key, ratios in summary["ratios"].items():
        if "scratch-numba" in ratios:
            r = ratios["scratch-numba"]
            summary["targets"].append(_target(
                f"scratch-numba peak memory / tf-cpu's, {key.replace('@', ', batch ')}",
                r["peak_memory"], r["peak_memory_spread"], most=1.0))
    return summary


def _x(ratio: float) -> str:
    """A ratio: two decimals, or two significant digits below 0.1 (numpy-ml's 0.0021)."""
    return f"{ratio:.2f}" if abs(ratio) >= 0.1 else f"{ratio:.2g}"


def _n(value: float) -> str:
    """Images/s: whole numbers from 100 up, one decimal below."""
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def _spread(values) -> tuple[float, float]:
    values = list(values)
    return (min(values), max(values)) if values else (float("nan"), float("nan"))


def _target(what: str, ratio: float, spread, least: float | None = None,
            most: float | None = None) -> dict:
    """One target: ``met`` on the median ratio; ``every_repeat`` if every repeat's ratio met it."""
    if least is not None:
        met, every = ratio >= least, spread[0] >= least
    else:
        met, every = ratio <= most, spread[1] <= most
    t = {"what": what, "ratio": ratio, "spread": list(spread), "met": met, "every_repeat": every}
    t.update({"least": least} if least is not None else {"most": most})
    return t


def conv_shares(layer_profile: list[dict]) -> dict:
    """Shares of a profiled training step: the convolutions by algorithm, pooling, dense layers,
    the optimizer and the rest (activations, loss, flatten, dropout, Python)."""
    shares: dict[str, float] = {}
    for r in layer_profile:
        if r.get("algorithm"):
            part = f"conv: {r['algorithm']}"
        elif "pool" in r["name"]:
            part = "max-pooling"
        elif r["name"].startswith("dense"):
            part = "dense"
        elif r["name"] == "optimizer":
            part = "optimizer"
        else:
            part = "everything else"
        shares[part] = shares.get(part, 0.0) + r["share"]
    return shares


def _verdict(t: dict) -> str:
    if t["met"] and t["every_repeat"]:
        return "met"
    if t["met"]:
        return "met (median; not in every repeat)"
    return "**not met**"


def targets_text(summary: dict) -> str:
    lines = []
    for t in summary["targets"]:
        bound = f">= {t['least']}" if "least" in t else f"<= {t['most']}"
        lines.append(f"{t['what']}: {_x(t['ratio'])} [{_x(t['spread'][0])}-{_x(t['spread'][1])}] "
                     f"(target {bound}) {_verdict(t).replace('*', '')}")
    return "\n".join(lines)


def _openblas_line(info: dict | None) -> str:
    if not info:
        return "- OpenBLAS kernels: not recorded"
    env = ", ".join(f"{k}={v}" if v is not None else f"{k} unset" for k, v in info["env"].items())
    return (f"- OpenBLAS kernels (NumPy's and SciPy's, the ones the Numba kernels call): "
            f"{', '.join(info['kernels']) or 'unknown'} ({env})")


def markdown(summary: dict, meta: dict) -> str:
    s = meta["settings"]
    steps = ", ".join(f"{k} {w}/{n}" for k, (w, n) in s["steps"].items())
    repeats = ", ".join(f"{k} {n}" for k, n in s["repeats_per_row"].items() if n != s["repeats"])
    out = ["# Benchmark results: scratchnet (NumPy, Numba) against TensorFlow", ""]
    out += [f"- Command: `{meta['command']}` (from the repository root); the whole run took "
            f"{meta.get('minutes', float('nan')):.0f} minutes",
            f"- Date: {meta['date']}",
            f"- Machine: {meta['cpu']}, {meta['cores']} logical cores, {meta['memory_gib']} GiB; "
            f"{meta['platform']}; Python {meta['python']}",
            f"- Load average (1, 5, 15 min) before: {_load(meta['loadavg_before'])}, after: "
            f"{_load(meta['loadavg_after'])}. The ratios come from interleaved runs (the frameworks' "
            "order rotates each repeat), so both sides of a ratio saw the same load.",
            _openblas_line(meta.get("openblas")),
            f"- NumPy float32 matmul peak (2048^3, all cores): {meta['matmul_peak_gflops']:.1f} GFLOP/s "
            f"before, {meta['matmul_peak_gflops_after']:.1f} after; the GFLOP/s columns below are a "
            "percentage of the first",
            f"- Batches {', '.join(str(b) for b in s['batches'])}; Adam(1e-3), sparse categorical "
            f"cross-entropy; {s['repeats']} repeat(s) per row"
            + (f" (fewer where noted: {repeats})" if repeats else "")
            + f"{' (quick mode)' if s['quick'] else ''}; (warm-up, timed) training steps per run: "
            + steps,
            "- Training: scratchnet `model.train_step(x, y)`; TensorFlow `model.train_on_batch(x, y)` "
            "after the default `model.compile` (`jit_compile='auto'`, which Keras resolves to no "
            "XLA on a CPU-only machine).",
            "- Inference: `model.predict(x, batch_size=B, verbose=0)` on both sides, as a user calls "
            "it, on an array of 4 batches (talk_cnn at batch 256: 1 batch, 256 images). The ratio "
            "\"infer / TF\", and the targets, compare it with TensorFlow's `predict_on_batch(x)` "
            "(one batch a call, as earlier versions of this file did): Keras' `predict` adds a "
            "per-call cost (its data pipeline, about 0.1 s here) that a 4-batch array does not "
            "amortise, so a ratio against it would flatter scratchnet on the small models. The "
            "ratios against TensorFlow's `predict` and against `tf.function(model)(x)` (no Keras "
            "overhead at all, a best case) are in brackets.",
            f"- TensorFlow: `TF_ENABLE_ONEDNN_OPTS={s['tf_onednn']}` "
            "(1 is TensorFlow's own default on x86).",
            "- Each run is a fresh process; peak memory is its `ru_maxrss` at the end (training and "
            "inference; the whole process: runtime, data and model included). Warm-up (Numba "
            "compiling or loading its cache, `tf.function` tracing) is timed apart from the steady "
            "state.",
            "- GFLOP/s count the multiply-adds of a direct convolution (and of the dense layers), "
            "whatever algorithm ran: Winograd does fewer multiplications for the same result, so "
            "its effective rate can pass what its matrix products run at.",
            ""]
    out += ["## Versions and threads", ""]
    for framework, info in summary["info"].items():
        shown = ", ".join(f"{k}={v}" for k, v in info.items())
        out.append(f"- {framework}: {shown}")
    out += ["", "## Targets (issue 16)", "",
            "Ratio of medians, with the lowest and highest per-repeat ratio in brackets. \"met\": "
            "the median meets the target and so does every repeat; \"met (median)\": the median "
            "does, some repeat did not.", "",
            "| target | measured [per-repeat range] | wanted | verdict |", "|---|---|---|---|"]
    for t in summary["targets"]:
        bound = f">= {t['least']}" if "least" in t else f"<= {t['most']}"
        out.append(f"| {t['what']} | {_x(t['ratio'])} [{_x(t['spread'][0])}-{_x(t['spread'][1])}] "
                   f"| {bound} | {_verdict(t)} |")
    met = sum(t["met"] for t in summary["targets"])
    out += ["", f"{met} of {len(summary['targets'])} targets met (on the median)."]
    if summary["conv_shares"]:
        parts = sorted({p for by_fw in summary["conv_shares"].values() for sh in by_fw.values()
                        for p in sh}, key=_part_order)
        out += ["", "## Where a training step goes, by convolution algorithm", "",
                "Share of one profiled training step (`sn.profiler.Profiler` around the layers, the "
                "same steps as the kernel tables below); each convolution counted under the "
                "algorithm it ran (`Conv2D.conv_algorithm`). On the Numba backend a max-pooling "
                "that follows a `Conv2D(activation=\"relu\")` runs inside the convolution's call "
                "(`Conv2D.forward_pooled`), so its time is counted with that convolution.", "",
                "| row | framework | " + " | ".join(parts) + " |", "|---|---|" + "---|" * len(parts)]
        for key, by_fw in summary["conv_shares"].items():
            for fw, sh in by_fw.items():
                out.append(f"| {key} | {fw} | "
                           + " | ".join(f"{100 * sh[p]:.0f}%" if p in sh else "" for p in parts) + " |")
    for key, table in summary["rows"].items():
        model, batch = key.split("@")
        flops = meta["flops_per_image"][model]
        peak = meta["matmul_peak_gflops"]
        out += ["", f"## {model}, batch {batch}", "",
                f"{flops['forward'] / 1e6:.2f} MFLOP per image forward, {flops['train'] / 1e6:.2f} "
                "per training step. Images/s: median [min-max] over the repeats; ratios: median "
                "[per-repeat range].", "",
                "| framework | runs | train img/s | infer img/s (predict) | train / TF | infer / TF "
                "predict_on_batch (vs TF predict, tf.function) | train GFLOP/s (% of peak) | "
                "infer GFLOP/s (% of peak) | peak MiB | first step s |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        ratios = summary["ratios"].get(key, {})
        for framework, row in table.items():
            r = ratios.get(framework)
            infer = f"{_n(row['infer'])} [{_n(row['infer_min'])}-{_n(row['infer_max'])}]"
            if "infer_on_batch" in row:
                infer += (f" (predict_on_batch: {_n(row['infer_on_batch'])}, tf.function: "
                          f"{_n(row['infer_tf_function'])})")
            train_ratio = (f"{_x(r['train'])} [{_x(r['train_spread'][0])}-{_x(r['train_spread'][1])}]"
                           if r else "")
            infer_ratio = (f"{_x(r['infer'])} [{_x(r['infer_spread'][0])}-{_x(r['infer_spread'][1])}] "
                           f"({_x(r['infer_vs_predict'])}, {_x(r['infer_vs_tf_function'])})" if r else "")
            out.append(
                f"| {framework} | {row['repeats']} | {_n(row['train'])} [{_n(row['train_min'])}-"
                f"{_n(row['train_max'])}] | {infer} | {train_ratio} | {infer_ratio} "
                f"| {row['train_gflops']:.1f} ({100 * row['train_gflops'] / peak:.0f}%) "
                f"| {row['infer_gflops']:.1f} ({100 * row['infer_gflops'] / peak:.0f}%) "
                f"| {row['peak_rss_mb']:.0f} (before training: {row['rss_before_training_mb']:.0f}) "
                f"| {row['first_train_step_s']:.2f} |")
        for framework, row in table.items():
            if row.get("conv_algorithms"):
                out += ["", f"Convolution algorithms, {framework}: "
                        + ", ".join(f"{n} {a}" for n, a in row["conv_algorithms"].items()) + "."]
        for framework, row in table.items():
            if row.get("layer_profile") and framework == "scratch-numba":
                out += ["", f"A {framework} training step per layer (ms per step, "
                        "`sn.profiler.Profiler`):", "",
                        "| layer | algorithm | forward ms | backward ms | share |", "|---|---|---|---|---|"]
                for lr in row["layer_profile"]:
                    out.append(f"| {lr['name']} | {_layer_algorithm(lr)} | {lr['forward_ms']:.2f} "
                               f"| {lr['backward_ms']:.2f} | {100 * lr['share']:.0f}% |")
            if "profile_ms" in row:
                out += ["", f"A {framework} training step per kernel (ms per step, a timer around "
                        "each kernel; `winograd_*` are the Winograd convolutions):", "",
                        "| kernel | ms | share |", "|---|---|---|"]
                total = row["profile_ms"]["total step"]
                for name, ms in row["profile_ms"].items():
                    if name != "total step":
                        out.append(f"| {name} | {ms:.2f} | {100 * ms / total:.0f}% |")
                out.append(f"| **total step** | {total:.2f} | |")
    out += ["", "## Notes", ""] + notes(summary, meta)
    out += ["", "![throughput chart](results.png)", ""]
    return "\n".join(out)


def _layer_algorithm(layer: dict) -> str:
    """A profiled layer's algorithm cell; a Conv2D and the max-pooling it ran in one call
    (``Conv2D.forward_pooled``) say so, the pooling's time being in the convolution's row."""
    algorithm = layer.get("algorithm") or ""
    fused = layer.get("fused")
    if fused and algorithm:
        return f"{algorithm}, with {fused}"
    return f"in {fused}" if fused else algorithm


def _part_order(part: str) -> tuple:
    order = ["conv: im2col", "conv: winograd", "max-pooling", "dense", "optimizer", "everything else"]
    return (order.index(part) if part in order else len(order), part)


def _bound(target: dict, summary: dict, meta: dict) -> str:
    """What the row's own figures say bounds it: each side's arithmetic rate as a share of the
    matrix-product peak, and where the scratch step goes (its largest kernels)."""
    framework, _, phase, model, batch = [part.strip() for part in
                                         target["what"].replace(" / ", ", ").split(",")]
    rows = summary["rows"].get(row_key(model, int(batch.split()[-1])), {})
    ours, tf = rows.get(framework), rows.get("tf-cpu")
    peak = meta.get("matmul_peak_gflops")
    if not ours or not tf or not peak:
        return ""
    if phase == "training":
        rates = ours["train_gflops"], tf["train_gflops"]
    else:  # the target compares with TensorFlow's predict_on_batch
        per_image = meta["flops_per_image"][model]["forward"] / 1e9
        rates = ours["infer_gflops"], tf.get("infer_on_batch", tf["infer"]) * per_image
    text = (f" {framework} computes at {100 * rates[0] / peak:.0f}% of the matmul peak, TensorFlow "
            f"at {100 * rates[1] / peak:.0f}%")
    profile = ours.get("profile_ms") if phase == "training" else None
    if profile:
        total = profile["total step"]
        top = sorted(((ms, name) for name, ms in profile.items() if name != "total step"),
                     reverse=True)[:3]
        text += "; its step: " + ", ".join(f"{name} {100 * ms / total:.0f}%" for ms, name in top)
    return text + "."


def notes(summary: dict, meta: dict) -> list[str]:
    lines = []
    missed = [t for t in summary["targets"] if not t["met"]]
    if not missed:
        lines.append("- Every target was met in this run (on the median).")
    for t in missed:
        if "least" in t:
            lines.append(f"- Not met: {t['what']} is {t['ratio']:.2f}, "
                         f"{100 * (1 - t['ratio'] / t['least']):.0f}% short of {t['least']}."
                         + _bound(t, summary, meta))
        else:
            lines.append(f"- Not met: {t['what']} is {t['ratio']:.2f}x TensorFlow's.")
    if "numpy-ml" in meta["settings"]["frameworks"]:
        lines.append(
            "- numpy-ml 0.1.2 (`pip install -e \".[bench]\"`, the newest on PyPI, from 2020) installs "
            "but does not import on Python 3.10 or newer as published: `ImportError: cannot import "
            "name 'Hashable' from 'collections'` (numpy_ml/utils/data_structures.py, line 3). The "
            "worker puts `collections.Hashable = collections.abc.Hashable` back before importing it, "
            "the one change needed; with it numpy-ml runs under this NumPy. It computes in float64 "
            "(its initialisers), has no model class (the step is written as its examples do: each "
            "layer's `forward`, the loss gradient, `backward` in reverse, `update`), no dropout in "
            "the stack, and its max-pooling loops in Python over every output pixel and channel, "
            "which is where its time goes; so it runs at batch 32 on the smaller models only, with "
            "fewer steps and repeats (settings in results.json). talk_cnn is not run: one training "
            "step at batch 32 would take minutes.")
    else:
        lines.append("- numpy-ml was not measured: it is not installed or does not import here "
                     "(`pip install -e \".[bench]\"`).")
    for failure in meta.get("failures", []):
        lines.append(f"- A run failed and is left out: {failure} (the output is in the console log).")
    lines.append("- Earlier runs of this file (other code, batch 32 only) are in its git history.")
    return lines


def chart(summary: dict, meta: dict, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(summary["rows"])
    frameworks = sorted({fw for t in summary["rows"].values() for fw in t}, key=FRAMEWORK_ORDER.index)
    fig, axes = plt.subplots(2, 1, figsize=(max(8, 1.4 * len(keys)), 8))
    width = 0.8 / len(frameworks)
    for ax, metric, title in zip(axes, ("train", "infer"),
                                 ("training", "inference (TensorFlow: predict_on_batch)"),
                                 strict=True):
        for k, fw in enumerate(frameworks):
            values = [_bar(summary["rows"][key].get(fw, {}), metric) for key in keys]
            bars = ax.bar([i + k * width for i in range(len(keys))], values, width, label=fw)
            for bar, key in zip(bars, keys, strict=True):
                ratio = summary["ratios"].get(key, {}).get(fw, {}).get(metric)
                if ratio is not None:
                    ax.annotate(_x(ratio), (bar.get_x() + bar.get_width() / 2,
                                                 bar.get_height()),
                                ha="center", va="bottom", fontsize=7)
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(keys))],
                      [k.replace("@", "\nbatch ") for k in keys], fontsize=8)
        ax.set_yscale("log")
        ax.set_ylabel("images / s (median)")
        ax.set_title(f"{title} (labels: ratio to tf-cpu)")
        ax.legend(fontsize=8)
    fig.suptitle(f"{meta['cpu']}, {meta['cores']} cores, {meta['date'][:10]}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _bar(row: dict, metric: str) -> float:
    """The bar of a chart: TensorFlow's inference is its ``predict_on_batch``, as in the ratios."""
    if metric == "infer" and "infer_on_batch" in row:
        return row["infer_on_batch"]
    return row.get(metric, 0)


def _load(values) -> str:
    return ", ".join(f"{v:.1f}" for v in values)
