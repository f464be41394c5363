"""Where does the time go? Forward and backward time per layer, and each one's share.

Two ways to use it::

    prof = sn.profiler.Profiler()
    model.fit(x, y, epochs=1, callbacks=[prof])     # times the training steps only
    print(prof.table())

    with sn.profiler.Profiler(model) as prof:      # times whatever runs inside the block
        model.train_step(x, y)
    prof.plot("profile.png")                        # stacked bars: forward | backward per layer
    prof.write_tensorboard("logs/profile")          # text table + scalars in TensorBoard

How it measures: while attached, each layer's ``forward`` and ``backward`` (and
``backward_preactivation``, used when a softmax meets a cross-entropy) are wrapped in a timer
(``time.perf_counter``) on that layer object only; ``detach`` removes the wrappers. The
optimizer's ``apply`` is timed as its own row. The time nobody claimed (loss, slicing the batch,
callbacks) is reported as ``other``, so the shares add up to 100 % of the measured time.

Under a ``MirroredStrategy`` each replica's layers are timed too and the times add up over the
replicas (CPU time summed over threads), so a layer's row can exceed the wall time of a step.
"""

from __future__ import annotations

import threading
import time

from scratchnet.callbacks import Callback, SummaryWriter

_LAYER_METHODS = {"forward": "forward", "backward": "backward",
                  "backward_preactivation": "backward",
                  "forward_pooled": "forward"}  # Conv2D with the max-pooling after it, fused


class Profiler(Callback):
    """Per-layer timer; a ``fit`` callback or a context manager (``with Profiler(model):``)."""

    def __init__(self, model=None, log_dir=None):
        super().__init__()
        self.model = model
        self.log_dir = log_dir
        self.stats = _Stats()
        self.layer_names: list[str] = []
        self.wall_seconds = 0.0
        self.steps = 0
        self._attached = None
        self._batch_start = 0.0
        self._block_start = 0.0

    # ------------------------------------------------------------------ attach / detach
    def attach(self, model) -> None:
        """Wrap ``model``'s layers (and optimizer) in timers until :meth:`detach`."""
        self.detach()
        self.model = model
        self.layer_names = [layer.name for layer in model.layers]
        for layer in model.layers:
            clock = _LayerClock(layer.name, self.stats)
            for method, phase in _LAYER_METHODS.items():
                if hasattr(layer, method):
                    setattr(layer, method, _Timed(layer, method, phase, clock))
        if model.optimizer is not None:
            model.optimizer.apply = _TimedCall(model.optimizer.apply, "optimizer", self.stats)
        self._attached = model

    def detach(self) -> None:
        """Remove the timers; the numbers gathered so far stay."""
        model, self._attached = self._attached, None
        if model is None:
            return
        for layer in model.layers:
            for method in _LAYER_METHODS:
                if isinstance(vars(layer).get(method), _Timed):
                    delattr(layer, method)
        if model.optimizer is not None and isinstance(vars(model.optimizer).get("apply"), _TimedCall):
            del model.optimizer.apply

    def reset(self) -> None:
        self.stats = _Stats(recording=self.stats.recording)
        self.wall_seconds = 0.0
        self.steps = 0
        if self._attached is not None:
            self.attach(self._attached)

    # ------------------------------------------------------------------ context manager
    def __enter__(self):
        if self.model is None:
            raise ValueError("Profiler: as a context manager it needs the model, "
                             "e.g. `with Profiler(model) as prof:`")
        self.attach(self.model)
        self.stats.recording = True
        self._block_start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.wall_seconds += time.perf_counter() - self._block_start
        self.stats.recording = False
        self.detach()
        if self.log_dir is not None:
            self.write_tensorboard(self.log_dir)

    # ------------------------------------------------------------------ callback hooks
    def on_train_begin(self, logs=None):
        self.attach(self.model)
        self.stats.recording = False  # only inside training batches, not validation

    def on_train_batch_begin(self, batch, logs=None):
        self.stats.recording = True
        self._batch_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.wall_seconds += time.perf_counter() - self._batch_start
        self.steps += 1
        self.stats.recording = False

    def on_epoch_end(self, epoch, logs=None):
        if self.log_dir is not None:
            with SummaryWriter(self.log_dir) as writer:
                self._write_scalars(writer, epoch)

    def on_train_end(self, logs=None):
        self.detach()
        if self.log_dir is not None:
            with SummaryWriter(self.log_dir) as writer:
                writer.text("profile/table", self.table(markdown=True), step=0)

    # ------------------------------------------------------------------ reports
    def rows(self) -> list[dict]:
        """One dict per layer (in model order), then ``optimizer`` and ``other``: seconds spent
        in ``forward`` and ``backward``, their sum ``total`` and its ``share`` of all time; a
        convolution's row also has the ``algorithm`` it last ran (``"im2col"``, ``"winograd4"``, ...),
        and a Conv2D and the max-pooling it ran in one call (``Conv2D.forward_pooled``) have
        ``fused``: the other layer's name (the pooling's time is in the convolution's row)."""
        layers = getattr(self.model, "layers", [])
        algorithms = {layer.name: getattr(layer, "conv_algorithm", None) for layer in layers}
        fused = {}
        for layer in layers:
            pooled = getattr(layer, "pooled", None)
            if pooled is not None:
                fused[layer.name], fused[pooled[0].name] = pooled[0].name, layer.name
        rows = []
        for name in self.layer_names:
            fwd, bwd = self.stats.seconds(name, "forward"), self.stats.seconds(name, "backward")
            rows.append({"name": name, "forward": fwd, "backward": bwd, "total": fwd + bwd})
            if algorithms.get(name):
                rows[-1]["algorithm"] = algorithms[name]
            if name in fused:
                rows[-1]["fused"] = fused[name]
        opt = self.stats.seconds("optimizer", "total")
        rows.append({"name": "optimizer", "forward": 0.0, "backward": 0.0, "total": opt})
        claimed = sum(r["total"] for r in rows)
        other = max(0.0, self.wall_seconds - claimed)
        rows.append({"name": "other", "forward": 0.0, "backward": 0.0, "total": other})
        everything = sum(r["total"] for r in rows) or 1.0
        for r in rows:
            r["share"] = r["total"] / everything
        return rows

    def bottleneck(self) -> str:
        """The name of the layer that takes the most time (forward + backward)."""
        layer_rows = self.rows()[:len(self.layer_names)]
        return max(layer_rows, key=lambda r: r["total"])["name"]

    def table(self, markdown: bool = False) -> str:
        """The rows as text: milliseconds per step (or in total, outside ``fit``) and shares."""
        per = max(self.steps, 1)
        unit = "ms/step" if self.steps else "ms"
        head = ["layer", f"forward {unit}", f"backward {unit}", f"total {unit}", "share"]
        body = [[r["name"] + (f" [{r['algorithm']}]" if "algorithm" in r else "")
                 + (f" (fused with {r['fused']})" if "fused" in r else ""),
                 f"{1e3 * r['forward'] / per:.3f}", f"{1e3 * r['backward'] / per:.3f}",
                 f"{1e3 * r['total'] / per:.3f}", f"{100 * r['share']:.1f} %"] for r in self.rows()]
        if markdown:
            lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            lines += ["| " + " | ".join(row) + " |" for row in body]
            return "\n".join(lines)
        widths = [max(len(row[i]) for row in [head] + body) for i in range(len(head))]
        fmt = "  ".join(f"{{:<{widths[0]}}}" if i == 0 else f"{{:>{w}}}"
                        for i, w in enumerate(widths))
        lines = [fmt.format(*head), "-" * (sum(widths) + 2 * (len(head) - 1))]
        lines += [fmt.format(*row) for row in body]
        lines.append(f"bottleneck: {self.bottleneck()}")
        return "\n".join(lines)

    def plot(self, path=None):
        """Horizontal stacked bars (forward, backward, optimizer/other) per layer; returns the
        matplotlib Figure and saves it to ``path`` if given."""
        import matplotlib

        if path is not None:
            matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        rows = self.rows()
        per = max(self.steps, 1)
        names = [r["name"] for r in rows]
        fwd = [1e3 * r["forward"] / per for r in rows]
        bwd = [1e3 * r["backward"] / per for r in rows]
        rest = [1e3 * (r["total"] - r["forward"] - r["backward"]) / per for r in rows]
        fig, ax = plt.subplots(figsize=(7, 0.45 * len(rows) + 1.2))
        ax.barh(names, fwd, label="forward")
        ax.barh(names, bwd, left=fwd, label="backward")
        ax.barh(names, rest, left=[f + b for f, b in zip(fwd, bwd, strict=True)], label="optimizer / other")
        for i, r in enumerate(rows):
            ax.text(1e3 * r["total"] / per, i, f" {100 * r['share']:.1f} %", va="center")
        ax.invert_yaxis()
        ax.set_xlabel("ms per step" if self.steps else "ms")
        ax.set_title("time per layer")
        ax.legend(loc="lower right")
        fig.tight_layout()
        if path is not None:
            fig.savefig(path)
        return fig

    def write_tensorboard(self, log_dir, step: int = 0) -> None:
        """The table as TensorBoard text (``profile/table``) and, per layer, scalars
        ``profile/<layer>/forward_ms``, ``.../backward_ms`` and ``.../share``."""
        with SummaryWriter(log_dir) as writer:
            writer.text("profile/table", self.table(markdown=True), step=step)
            self._write_scalars(writer, step)

    def _write_scalars(self, writer, step: int) -> None:
        per = max(self.steps, 1)
        for r in self.rows():
            writer.scalar(f"profile/{r['name']}/forward_ms", 1e3 * r["forward"] / per, step)
            writer.scalar(f"profile/{r['name']}/backward_ms", 1e3 * r["backward"] / per, step)
            writer.scalar(f"profile/{r['name']}/share", r["share"], step)


class _Stats:
    """Seconds per (row, phase), shared by every timer of one profiler, replica threads too."""

    def __init__(self, recording: bool = True):
        self.recording = recording
        self.table: dict[tuple[str, str], float] = {}
        self.lock = threading.Lock()

    def add(self, name: str, phase: str, seconds: float) -> None:
        with self.lock:
            self.table[name, phase] = self.table.get((name, phase), 0.0) + seconds

    def seconds(self, name: str, phase: str) -> float:
        return self.table.get((name, phase), 0.0)

    def __deepcopy__(self, memo):
        return self  # a replica's layer copy reports to the same profiler


class _LayerClock:
    """One per layer object (a replica's copy gets its own): knows whether the layer is already
    inside a timed call, so ``backward`` -> ``backward_preactivation`` is not counted twice."""

    def __init__(self, name: str, stats: _Stats):
        self.name = name
        self.stats = stats
        self.busy = False


class _Timed:
    """Stands in for ``layer.<method>``: calls the class's method on the layer and times it.

    A callable object, not a closure, so that deep-copying a layer (as MirroredStrategy does
    for its replicas) re-points ``layer`` and ``clock`` at the copy's own.
    """

    def __init__(self, layer, method: str, phase: str, clock: _LayerClock):
        self.layer = layer
        self.method = method
        self.phase = phase
        self.clock = clock

    def __call__(self, *args, **kwargs):
        fn = getattr(type(self.layer), self.method)
        if self.clock.busy or not self.clock.stats.recording:
            return fn(self.layer, *args, **kwargs)
        self.clock.busy = True
        start = time.perf_counter()
        try:
            return fn(self.layer, *args, **kwargs)
        finally:
            self.clock.stats.add(self.clock.name, self.phase, time.perf_counter() - start)
            self.clock.busy = False


class _TimedCall:
    """Times calls of one bound method (the optimizer's ``apply``) as row ``name``."""

    def __init__(self, fn, name: str, stats: _Stats):
        self.fn = fn
        self.name = name
        self.stats = stats

    def __call__(self, *args, **kwargs):
        if not self.stats.recording:
            return self.fn(*args, **kwargs)
        start = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.stats.add(self.name, "total", time.perf_counter() - start)
