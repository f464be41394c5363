"""Callbacks: code that ``fit`` calls at the start and end of training, epochs and batches.

The hooks and their ``logs`` dicts are Keras' (``on_epoch_end(epoch, logs)`` with ``logs =
{"loss": ..., "accuracy": ..., "val_loss": ..., ...}``). ``fit`` always adds a :class:`History`,
and a :class:`ProgbarLogger` when ``verbose`` asks for output. :class:`TensorBoard` writes event
files that TensorBoard reads (it needs the ``tensorboard`` package, imported only when used).
"""

from __future__ import annotations

import math
import numbers
import os
import sys

import numpy as np


class Callback:
    """Base class; override the hooks you need. ``self.model`` is set before training starts."""

    def __init__(self):
        self.model = None
        self.params: dict = {}

    def set_model(self, model) -> None:
        self.model = model

    def set_params(self, params: dict) -> None:
        self.params = params

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch: int, logs=None): ...
    def on_epoch_end(self, epoch: int, logs=None): ...
    def on_train_batch_begin(self, batch: int, logs=None): ...
    def on_train_batch_end(self, batch: int, logs=None): ...
    def on_test_begin(self, logs=None): ...
    def on_test_end(self, logs=None): ...
    def on_test_batch_begin(self, batch: int, logs=None): ...
    def on_test_batch_end(self, batch: int, logs=None): ...
    def on_predict_begin(self, logs=None): ...
    def on_predict_end(self, logs=None): ...
    def on_predict_batch_begin(self, batch: int, logs=None): ...
    def on_predict_batch_end(self, batch: int, logs=None): ...


class History(Callback):
    """Records ``logs`` at each epoch end: ``history.history["loss"]`` is one value per epoch."""

    def __init__(self):
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


class ProgbarLogger(Callback):
    """A tqdm progress bar per epoch (``verbose=1``) or one line per epoch (``verbose=2``)."""

    def __init__(self, verbose: int = 1, stream=None):
        super().__init__()
        self.verbose = verbose
        self.stream = stream or sys.stdout
        self.bar = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        if self.verbose == 1:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.params.get("steps"), file=self.stream, leave=True,
                            desc=f"Epoch {epoch + 1}/{self.params.get('epochs')}",
                            unit="step", dynamic_ncols=True, mininterval=0.5)

    def on_train_batch_end(self, batch, logs=None):
        if self.bar is not None:
            self.bar.set_postfix_str(format_logs(logs), refresh=False)
            self.bar.update(1)

    def on_epoch_end(self, epoch, logs=None):
        if self.bar is not None:
            self.bar.set_postfix_str(format_logs(logs), refresh=False)
            self.bar.close()
            self.bar = None
        elif self.verbose == 2:
            print(f"Epoch {epoch + 1}/{self.params.get('epochs')} - {format_logs(logs)}",
                  file=self.stream, flush=True)


class TerminateOnNaN(Callback):
    """Stop training at the first batch whose loss or any gradient is NaN or infinite.

    The message (also kept in ``self.message``) names the step and the first layer, input to
    output, whose gradient went non-finite.
    """

    def __init__(self):
        super().__init__()
        self.message: str | None = None

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        culprit = None
        for layer in self.model.layers:
            if any(p.grad is not None and not np.all(np.isfinite(p.grad))
                   for p in layer.params.values()):
                culprit = layer.name
                break
        if culprit is None and (loss is None or math.isfinite(loss)):
            return
        self.model.stop_training = True
        where = f'layer "{culprit}"' if culprit else "no layer (the loss alone)"
        self.message = (f"TerminateOnNaN: batch {batch} (optimizer step "
                        f"{self.model.optimizer.iterations}): loss {loss}; first non-finite "
                        f"gradient in {where}; training stopped")
        print(self.message, file=sys.stderr, flush=True)


class TensorBoard(Callback):
    """Write what ``fit`` reports to TensorBoard event files, as ``keras.callbacks.TensorBoard``.

    Layout and tags are Keras' so a scratchnet run and a Keras run sit side by side under one
    ``tensorboard --logdir``:

    - ``log_dir/train``: ``epoch_loss``, ``epoch_<metric>``, ``epoch_learning_rate`` at
      step = epoch (0-based); with ``update_freq="batch"`` (or an integer ``k``) also
      ``batch_loss``, ``batch_<metric>`` every ``k`` batches at step = global batch number
      (1-based); with ``histogram_freq=k`` a histogram ``<model>/<layer>/<weight>/histogram`` of every
      weight every ``k`` epochs.
    - ``log_dir/validation``: ``epoch_loss``, ``epoch_<metric>`` of the validation data at step =
      epoch, and ``evaluation_<name>_vs_iterations`` at step = optimizer iterations.

    Only the ``tensorboard`` package is needed (not TensorFlow); it is imported when training
    starts. View with ``tensorboard --logdir logs``.
    """

    def __init__(self, log_dir="logs", histogram_freq: int = 0, update_freq="epoch"):
        super().__init__()
        if not isinstance(log_dir, str | os.PathLike):
            raise TypeError(f"TensorBoard: expected log_dir to be a path, received {log_dir!r}")
        if isinstance(histogram_freq, bool) or not isinstance(histogram_freq, numbers.Integral) \
                or histogram_freq < 0:
            raise ValueError(f"TensorBoard: expected histogram_freq to be an integer >= 0, "
                             f"received {histogram_freq!r}")
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch" and (isinstance(update_freq, bool) or
                                       not isinstance(update_freq, numbers.Integral)
                                       or update_freq < 1):
            raise ValueError(f"TensorBoard: expected update_freq to be 'epoch', 'batch' or a "
                             f"positive integer, received {update_freq!r}")
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = int(histogram_freq)
        self.update_freq = update_freq
        self.train_writer: SummaryWriter | None = None
        self.val_writer: SummaryWriter | None = None
        self.global_batch = 0

    def on_train_begin(self, logs=None):
        self.global_batch = 0
        self.train_writer = SummaryWriter(os.path.join(self.log_dir, "train"))

    def on_train_batch_begin(self, batch, logs=None):
        self.global_batch += 1

    def on_train_batch_end(self, batch, logs=None):
        if self.update_freq == "epoch" or self.global_batch % self.update_freq:
            return
        for name, value in (logs or {}).items():
            self.train_writer.scalar(f"batch_{name}", value, self.global_batch)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        train_logs = {k: v for k, v in logs.items() if not k.startswith("val_")}
        val_logs = {k[len("val_"):]: v for k, v in logs.items() if k.startswith("val_")}
        if self.model.optimizer is not None:
            train_logs["learning_rate"] = self.model.optimizer.current_learning_rate()
        for name, value in train_logs.items():
            self.train_writer.scalar(f"epoch_{name}", value, epoch)
        if val_logs:
            if self.val_writer is None:
                self.val_writer = SummaryWriter(os.path.join(self.log_dir, "validation"))
            iterations = self.model.optimizer.iterations if self.model.optimizer else epoch
            for name, value in val_logs.items():
                self.val_writer.scalar(f"evaluation_{name}_vs_iterations", value, iterations)
                self.val_writer.scalar(f"epoch_{name}", value, epoch)
            self.val_writer.flush()
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            for param in self.model.params:  # Keras' tag: the weight's path, model name first
                tag = f"{self.model.name}/{param.name}/histogram"
                self.train_writer.histogram(tag, param.value, epoch)
        self.train_writer.flush()

    def on_train_end(self, logs=None):
        for writer in (self.train_writer, self.val_writer):
            if writer is not None:
                writer.close()
        self.train_writer = self.val_writer = None


class SummaryWriter:
    """One TensorBoard event file in ``logdir``: scalars, histograms and text, in the same (tensor)
    format as ``tf.summary``.

    Only the ``tensorboard`` package is used, and none of its parts that would load TensorFlow:
    an event file is a sequence of records (length, CRC, serialized ``Event`` proto, CRC), the
    first one announcing the format version ``brain.Event:2``.
    """

    _count = 0  # several writers in one second and process still get distinct file names

    def __init__(self, logdir):
        try:
            from tensorboard.summary.writer.record_writer import RecordWriter
        except ImportError as err:
            raise ImportError("scratchnet's TensorBoard logging needs the 'tensorboard' package: "
                              "pip install tensorboard") from err
        import socket
        import time

        os.makedirs(logdir, exist_ok=True)
        self.logdir = os.fspath(logdir)
        SummaryWriter._count += 1
        name = (f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}."
                f"{os.getpid()}.{SummaryWriter._count}.scratchnet")
        self.path = os.path.join(self.logdir, name)
        self._records = RecordWriter(open(self.path, "wb"))
        self._write_event(file_version="brain.Event:2", step=0)

    def _write_event(self, step: int, **fields) -> None:
        import time

        from tensorboard.compat.proto import event_pb2

        event = event_pb2.Event(wall_time=time.time(), step=int(step), **fields)
        self._records.write(event.SerializeToString())

    def _add(self, summary, step: int) -> None:
        self._write_event(step, summary=summary)

    def scalar(self, tag: str, value, step: int) -> None:
        from tensorboard.plugins.scalar.summary_v2 import scalar_pb

        self._add(scalar_pb(tag, np.float32(value)), step)

    def histogram(self, tag: str, values, step: int, buckets: int | None = None) -> None:
        from tensorboard.plugins.histogram.summary_v2 import histogram_pb

        self._add(histogram_pb(tag, np.asarray(values, dtype=np.float64), buckets), step)

    def text(self, tag: str, text: str, step: int) -> None:
        from tensorboard.plugins.text.summary_v2 import text_pb

        self._add(text_pb(tag, text), step)

    def flush(self) -> None:
        self._records.flush()

    def close(self) -> None:
        if not self._records.closed:
            self._records.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def format_logs(logs) -> str:
    return " - ".join(f"{k}: {v:.4f}" for k, v in (logs or {}).items())
