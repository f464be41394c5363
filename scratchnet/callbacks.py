"""Callbacks: code that ``fit`` calls at the start and end of training, epochs and batches.

The hooks and their ``logs`` dicts are Keras' (``on_epoch_end(epoch, logs)`` with ``logs =
{"loss": ..., "accuracy": ..., "val_loss": ..., ...}``). ``fit`` always adds a :class:`History`,
and a :class:`ProgbarLogger` when ``verbose`` asks for output. :class:`TensorBoard` writes event
files that TensorBoard reads (it needs the ``tensorboard`` package, imported only when used).

Keras' decision-making callbacks, with Keras 3.15's arguments, defaults, rules and messages:
:class:`EarlyStopping`, :class:`ModelCheckpoint`, :class:`ReduceLROnPlateau` (the three watch
one logged quantity; :class:`MonitorCallback` holds their shared improvement rule),
:class:`LearningRateScheduler`, :class:`CSVLogger`, :class:`LambdaCallback`,
:class:`BackupAndRestore`, which lets an interrupted ``fit`` resume bit for bit, and
:class:`SwapEMAWeights`, which evaluates with the optimizer's moving averages (``use_ema=True``),
and :class:`RemoteMonitor`, which posts each epoch's logs to a web server.
:class:`CallbackList` calls several callbacks as one; ``fit`` uses it, and so can a loop
written by hand.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import shutil
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np

from scratchnet import config


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
    def on_batch_begin(self, batch: int, logs=None): ...  # Keras' older names for the two below
    def on_batch_end(self, batch: int, logs=None): ...

    def on_train_batch_begin(self, batch: int, logs=None):
        self.on_batch_begin(batch, logs=logs)  # as in Keras: overriding on_batch_begin works too

    def on_train_batch_end(self, batch: int, logs=None):
        self.on_batch_end(batch, logs=logs)

    def on_test_begin(self, logs=None): ...
    def on_test_end(self, logs=None): ...
    def on_test_batch_begin(self, batch: int, logs=None): ...
    def on_test_batch_end(self, batch: int, logs=None): ...
    def on_predict_begin(self, logs=None): ...
    def on_predict_end(self, logs=None): ...
    def on_predict_batch_begin(self, batch: int, logs=None): ...
    def on_predict_batch_end(self, batch: int, logs=None): ...


class CallbackList(Callback):
    """Several callbacks called as one (``keras.callbacks.CallbackList``): each hook calls that
    hook of every callback, in order. ``fit``, ``evaluate`` and ``predict`` use one; a training
    loop written by hand can too::

        callbacks = CallbackList([EarlyStopping()], add_history=True, model=model, epochs=3)
        callbacks.on_train_begin()
        ...

    ``add_history`` appends a :class:`History` and ``add_progbar`` a :class:`ProgbarLogger` when
    the list holds none; ``model`` and ``**params`` (``epochs``, ``steps``, ``verbose``) go to
    every callback. As in Keras, each hook hands its callbacks a fresh dict of the logs: keys
    sorted, nested dicts flattened, each value made a Python float where ``float()`` takes it
    (a per-class array stays as it is). Keras may run batch-end hooks on a thread; here every
    hook runs in order, on the caller's thread.
    """

    def __init__(self, callbacks=None, add_history: bool = False, add_progbar: bool = False,
                 model=None, **params):
        super().__init__()
        if isinstance(callbacks, Callback):
            callbacks = [callbacks]
        self.callbacks = list(_flat_callbacks(callbacks or []))
        bad = [c for c in self.callbacks if not isinstance(c, Callback)]
        if bad:
            raise TypeError("CallbackList: expected scratchnet.callbacks.Callback instances, "
                            f"received {bad[0]!r} (type {type(bad[0]).__name__})")
        self._history = next((c for c in self.callbacks if isinstance(c, History)), None)
        self._progbar = next((c for c in self.callbacks if isinstance(c, ProgbarLogger)), None)
        if self._history is None and add_history:
            self._history = History()
            self.callbacks.append(self._history)
        if self._progbar is None and add_progbar:
            self._progbar = ProgbarLogger(params.get("verbose", 1))
            self.callbacks.append(self._progbar)
        self.set_model(model)
        self.set_params(params)

    def append(self, callback: Callback) -> None:
        self.callbacks.append(callback)

    def __iter__(self):
        return iter(self.callbacks)

    def __len__(self) -> int:
        return len(self.callbacks)

    def set_params(self, params: dict) -> None:
        self.params = params
        if params:
            for callback in self.callbacks:
                callback.set_params(params)

    def set_model(self, model) -> None:
        if not model:
            return
        super().set_model(model)
        if self._history is not None:
            model.history = self._history
        for callback in self.callbacks:
            callback.set_model(model)

    def _each(self, hook: str, *args, logs=None) -> None:
        logs = pythonify_logs(logs)
        for callback in self.callbacks:
            getattr(callback, hook)(*args, logs)

    def on_train_begin(self, logs=None): self._each("on_train_begin", logs=logs)
    def on_train_end(self, logs=None): self._each("on_train_end", logs=logs)
    def on_epoch_begin(self, epoch, logs=None): self._each("on_epoch_begin", epoch, logs=logs)
    def on_epoch_end(self, epoch, logs=None): self._each("on_epoch_end", epoch, logs=logs)
    def on_batch_begin(self, batch, logs=None): self._each("on_batch_begin", batch, logs=logs)
    def on_batch_end(self, batch, logs=None): self._each("on_batch_end", batch, logs=logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._each("on_train_batch_begin", batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self._each("on_train_batch_end", batch, logs=logs)

    def on_test_begin(self, logs=None): self._each("on_test_begin", logs=logs)
    def on_test_end(self, logs=None): self._each("on_test_end", logs=logs)
    def on_test_batch_begin(self, batch, logs=None): self._each("on_test_batch_begin", batch, logs=logs)
    def on_test_batch_end(self, batch, logs=None): self._each("on_test_batch_end", batch, logs=logs)
    def on_predict_begin(self, logs=None): self._each("on_predict_begin", logs=logs)
    def on_predict_end(self, logs=None): self._each("on_predict_end", logs=logs)

    def on_predict_batch_begin(self, batch, logs=None):
        self._each("on_predict_batch_begin", batch, logs=logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._each("on_predict_batch_end", batch, logs=logs)


def _flat_callbacks(callbacks):
    """The callbacks of a possibly nested list (Keras flattens it with ``tree.flatten``)."""
    for c in callbacks:
        if isinstance(c, list | tuple):
            yield from _flat_callbacks(c)
        else:
            yield c


def pythonify_logs(logs) -> dict:
    """Keras' log dict as callbacks receive it: a new dict, keys sorted, nested dicts flattened
    into it, each scalar a Python float where ``float(value)`` works (an array, such as F1Score's
    per-class result or ``predict``'s batch ``outputs``, stays an array)."""
    result = {}
    for key, value in sorted((logs or {}).items()):
        if isinstance(value, dict):
            result.update(pythonify_logs(value))
            continue
        # Keras' float() would also turn a 1-element array into a float; a scalar only here
        if isinstance(value, numbers.Number | np.generic) or \
                (isinstance(value, np.ndarray) and value.ndim == 0):
            try:
                value = float(value)
            except (TypeError, ValueError):
                pass
        result[key] = value
    return result


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
        if self.verbose == 1 and config.is_interactive_logging_enabled():
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
        elif self.verbose and not config.is_interactive_logging_enabled():
            # sn.config.disable_interactive_logging(): to Python's logging, as Keras to absl's
            import logging

            logging.getLogger("scratchnet").info(
                f"Epoch {epoch + 1}/{self.params.get('epochs')} - {format_logs(logs)}")
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

    Keras' other arguments are accepted with their defaults, so keras.io's calls run unchanged:
    ``write_graph`` (Keras writes a TensorFlow graph, which a NumPy model does not have; ignored),
    and ``write_images=False``, ``write_steps_per_second=False``, ``profile_batch=0``,
    ``embeddings_freq=0``, ``embeddings_metadata=None``, whose other values are not implemented
    (``NotImplementedError``).
    """

    def __init__(self, log_dir="logs", histogram_freq: int = 0, write_graph: bool = True,
                 write_images: bool = False, write_steps_per_second: bool = False,
                 update_freq="epoch", profile_batch=0, embeddings_freq: int = 0,
                 embeddings_metadata=None):
        super().__init__()
        unsupported = {"write_images": (write_images, False),
                       "write_steps_per_second": (write_steps_per_second, False),
                       "profile_batch": (profile_batch, 0), "embeddings_freq": (embeddings_freq, 0),
                       "embeddings_metadata": (embeddings_metadata, None)}
        for arg, (value, default) in unsupported.items():
            if value is not default and value != default:
                raise NotImplementedError(f"TensorBoard: {arg}={value!r} is not implemented in "
                                          f"scratchnet; expected the default {arg}={default!r}")
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
        if not writes_files(self.model):  # a worker other than worker 0 (MultiWorkerMirroredStrategy)
            return
        self.train_writer = SummaryWriter(os.path.join(self.log_dir, "train"))

    def on_train_batch_begin(self, batch, logs=None):
        self.global_batch += 1

    def on_train_batch_end(self, batch, logs=None):
        if self.update_freq == "epoch" or self.global_batch % self.update_freq \
                or self.train_writer is None:
            return
        for name, value in (logs or {}).items():
            self.train_writer.scalar(f"batch_{name}", value, self.global_batch)

    def on_epoch_end(self, epoch, logs=None):
        if self.train_writer is None:  # this worker writes no files
            return
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
            for param in self.model.weights:  # every layer weight, moving statistics too, as Keras
                # Keras' tag: the weight's path, model name first
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
    """``"loss: 0.1234 - f1_score: [0.5000 0.2500]"``: a per-class result (``F1Score()``,
    ``R2Score(class_aggregation=None)``) prints as its values."""
    def value(v) -> str:
        if np.ndim(v):
            return np.array2string(np.asarray(v), precision=4, floatmode="fixed")
        return f"{v:.4f}"
    return " - ".join(f"{k}: {value(v)}" for k, v in (logs or {}).items())


# ---------------------------------------------------------------------- watching a quantity
# Keras' ``_direction`` of each metric class it ships (keras/src/metrics): "up" means a higher
# value is better. In ``mode="auto"`` a callback looks up the compiled metric it monitors here
# (by class name; a metric object may also carry its own ``_direction``).
_METRIC_DIRECTION = {
    **dict.fromkeys([
        "Accuracy", "BinaryAccuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy",
        "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy", "Precision", "Recall",
        "SensitivityAtSpecificity", "SpecificityAtSensitivity", "PrecisionAtRecall",
        "RecallAtPrecision", "AUC", "PearsonCorrelation", "ConcordanceCorrelation", "FBetaScore",
        "F1Score", "IoU", "BinaryIoU", "MeanIoU", "OneHotIoU", "OneHotMeanIoU",
        "CosineSimilarity", "R2Score"], "up"),
    **dict.fromkeys([
        "Hinge", "SquaredHinge", "CategoricalHinge", "BinaryCrossentropy",
        "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "KLDivergence", "Poisson",
        "MeanSquaredError", "MeanAbsoluteError", "MeanAbsolutePercentageError",
        "MeanSquaredLogarithmicError", "RootMeanSquaredError", "LogCoshError"], "down"),
}


class MonitorCallback(Callback):
    """Base of the callbacks that watch one logged quantity (``monitor``) for improvement.

    Direction: ``mode="min"`` (lower is better), ``"max"``, or ``"auto"``: ``loss``/``val_loss``
    are minimised, any other name takes the direction of the compiled metric of that name
    (accuracy up, mean squared error down, ...); a name with no known direction is a
    ``ValueError`` when the first epoch ends, as in Keras. An unknown ``mode`` warns and falls
    back to ``"auto"``.

    Improvement (Keras' rule, ``d = |min_delta|``)::

        min: current + d < reference        max: current - d > reference

    with the first value always an improvement. Like Keras, the comparison is made on backend
    tensors: a Python float becomes a float32 (``floatx``) scalar first, so two values that are
    equal in float32 are not an improvement of one over the other.
    """

    def __init__(self, monitor="val_loss", mode="auto", baseline=None, min_delta=0):
        super().__init__()
        where = type(self).__name__
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(f"{where}: expected monitor to be the name of a logged quantity "
                             f"(e.g. 'val_loss'), received {monitor!r}")
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"{where} mode '{mode}' is unknown, fallback to auto mode.",
                          stacklevel=3)
            mode = "auto"
        self.monitor = monitor
        self.mode = mode
        self.best = None if baseline is None else _real(baseline, "baseline", where)
        self.min_delta = abs(_real(min_delta, "min_delta", where))
        self.monitor_op = None  # np.less or np.greater, chosen when the first epoch ends
        self._warned_missing = False

    def _set_monitor_op(self) -> None:
        if self.mode == "min":
            self.monitor_op = np.less
        elif self.mode == "max":
            self.monitor_op = np.greater
        else:
            name = self.monitor.removeprefix("val_")
            if name == "loss":
                self.monitor_op = np.less
            for metric in getattr(self.model, "metrics", None) or []:
                if getattr(metric, "name", None) != name:
                    continue
                direction = getattr(metric, "_direction", None) or \
                    _METRIC_DIRECTION.get(type(metric).__name__)
                if direction is not None:
                    self.monitor_op = np.greater if direction == "up" else np.less
            if self.monitor_op is None:
                raise ValueError(
                    f"{type(self).__name__} callback received monitor={self.monitor}, but "
                    "scratchnet (like Keras) cannot tell whether that metric should be maximized "
                    "or minimized. Pass mode='max' to monitor the highest value, or mode='min' "
                    "for the lowest.")
        if self.monitor_op is np.less:
            self.min_delta = -self.min_delta  # Keras keeps the sign in min_delta itself

    def _is_improvement(self, monitor_value, reference_value) -> bool:
        if reference_value is None:
            return True
        shifted = monitor_value - self.min_delta
        return bool(self.monitor_op(_as_tensor_scalar(shifted), _as_tensor_scalar(reference_value)))

    def _warn_missing(self, message: str) -> None:
        """Keras warns every epoch and Python's default filter shows it once; warn once per run."""
        if not self._warned_missing:
            self._warned_missing = True
            warnings.warn(message, stacklevel=3)


class EarlyStopping(MonitorCallback):
    """Stop training when ``monitor`` has stopped improving, as ``keras.callbacks.EarlyStopping``.

    At each epoch end from ``start_from_epoch`` on (epochs without the quantity are skipped):
    ``wait += 1``; an improvement on ``best`` (see :class:`MonitorCallback`) makes it the new
    ``best`` and, if it also improves on ``baseline`` (when given), resets ``wait = 0``.
    Otherwise, once ``wait >= patience`` (and ``epoch > 0``), ``stopped_epoch = epoch`` and
    ``model.stop_training = True``. With ``restore_best_weights`` the weights of the best epoch
    (or of the first monitored epoch, if none improved) are put back when training ends, whether
    it stopped early or ran all its epochs (Keras 3).
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__(monitor, mode, min_delta=min_delta)
        self.patience = _non_negative_int(patience, "patience", "EarlyStopping")
        self.verbose = _non_negative_int(verbose, "verbose", "EarlyStopping")
        self.baseline = None if baseline is None else _real(baseline, "baseline", "EarlyStopping")
        self.restore_best_weights = _bool(restore_best_weights, "restore_best_weights",
                                          "EarlyStopping")
        self.start_from_epoch = _non_negative_int(start_from_epoch, "start_from_epoch",
                                                  "EarlyStopping")
        self.wait = 0
        self.stopped_epoch = 0
        self.best_weights = None
        self.best_epoch = 0

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0
        self._warned_missing = False

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()  # until something improves, this epoch
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping", flush=True)
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print("Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.", flush=True)
            self.model.set_weights(self.best_weights)

    def get_monitor_value(self, logs):
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            self._warn_missing(f"Early stopping conditioned on metric `{self.monitor}` which is "
                               f"not available. Available metrics are: {','.join(logs)}")
        return value


class ModelCheckpoint(MonitorCallback):
    """Save the model (``model.save``) or its weights (``model.save_weights``) as training goes,
    as ``keras.callbacks.ModelCheckpoint``.

    ``filepath`` may hold ``str.format`` fields filled from the epoch logs and ``epoch`` (1-based,
    as Keras numbers it): ``"ckpt-{epoch:02d}-{val_loss:.2f}.keras"`` writes
    ``ckpt-03-0.41.keras`` after the third epoch; with an integer ``save_freq`` (save every that
    many batches) ``{batch}`` is the 1-based batch too. It must end in ``.keras`` (or ``.h5``,
    Keras' legacy HDF5, or ``.npz``, scratchnet's own format), or in ``.weights.h5`` with
    ``save_weights_only=True``. With
    ``save_best_only`` a file is written only when ``monitor`` improves on the best so far
    (``initial_value_threshold`` is the first value to beat); when ``monitor`` is missing it
    warns and saves anyway.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch",
                 initial_value_threshold=None):
        where = "ModelCheckpoint"
        if initial_value_threshold is not None:
            _real(initial_value_threshold, "initial_value_threshold", where)
        super().__init__(monitor, mode, initial_value_threshold)
        if not isinstance(filepath, str | os.PathLike):
            raise TypeError(f"{where}: expected filepath to be a path, received {filepath!r}")
        self.filepath = os.fspath(filepath)
        self.verbose = _non_negative_int(verbose, "verbose", where)
        self.save_best_only = _bool(save_best_only, "save_best_only", where)
        self.save_weights_only = _bool(save_weights_only, "save_weights_only", where)
        self.save_freq = _save_freq(save_freq, where)
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = None
        self._current_epoch = 0
        if self.save_weights_only:
            if not self.filepath.endswith(".weights.h5"):
                raise ValueError(f"{where}: with save_weights_only=True the filepath must end in "
                                 f"'.weights.h5' (Keras' weights format), received "
                                 f"filepath={self.filepath!r}")
        elif self.filepath.endswith(".weights.h5") or not self.filepath.endswith((".keras", ".h5", ".npz")):
            raise ValueError(f"{where}: the filepath must end in '.keras' (Keras' model format), "
                             f"'.h5' (Keras' legacy HDF5) or '.npz' (scratchnet's own); '.weights.h5' "
                             f"needs save_weights_only=True; received filepath={self.filepath!r}")

    def on_train_begin(self, logs=None):
        self._warned_missing = False

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._should_save_on_batch(batch):
            self._save_model(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        if self.save_freq == "epoch":
            self._save_model(epoch, None, logs)

    def _should_save_on_batch(self, batch: int) -> bool:
        """Count batches across epochs; True every ``save_freq`` of them."""
        if self.save_freq == "epoch":
            return False
        if self._last_batch_seen is None or batch <= self._last_batch_seen:
            added = batch + 1  # a new epoch began
        else:
            added = batch - self._last_batch_seen
        self._batches_seen_since_last_saving += added
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            return True
        return False

    def _should_save_model(self, epoch, logs, filepath) -> bool:
        if not self.save_best_only:
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: saving model to {filepath}", flush=True)
            return True
        current = logs.get(self.monitor)
        if current is None:
            self._warn_missing(f"Can save best model only with {self.monitor} available.")
            return True
        if np.ndim(current) > 0:
            warnings.warn("Can save best model only when `monitor` is a scalar value. Received: "
                          f"{current}. Falling back to `save_best_only=False`.", stacklevel=3)
            return True
        best = "None" if self.best is None else f"{self.best:.5f}"
        if self.monitor_op is None:
            self._set_monitor_op()  # saving by batch before any epoch ended
        if self._is_improvement(current, self.best):
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to "
                      f"{current:.5f}, saving model to {filepath}", flush=True)
            self.best = current
            return True
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best}", flush=True)
        return False

    def _save_model(self, epoch, batch, logs) -> None:
        logs = logs or {}
        filepath = self._get_file_path(epoch, batch, logs)
        if not self._should_save_model(epoch, logs, filepath) or not writes_files(self.model):
            return
        if os.path.isdir(filepath):
            raise OSError("ModelCheckpoint: please specify a non-directory filepath; the filepath "
                          f"used is an existing directory: {filepath}")
        folder = os.path.dirname(filepath)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(filepath)
        else:
            self.model.save(filepath)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: finished saving model to {filepath}", flush=True)

    def _get_file_path(self, epoch, batch, logs) -> str:
        """``filepath`` with ``{epoch}`` = epoch + 1, ``{batch}`` = batch + 1 and the logs filled in."""
        fields = dict(logs)
        if batch is not None and "batch" not in logs:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**{**fields, "epoch": epoch + 1})
        except KeyError as err:
            raise KeyError(f'ModelCheckpoint: failed to format this callback filepath: '
                           f'"{self.filepath}". Reason: {err}') from err


# ---------------------------------------------------------------------- the learning rate
class LearningRateScheduler(Callback):
    """Set the learning rate at the start of each epoch from ``schedule``, as Keras does.

    ``new_lr = schedule(epoch, lr)`` with the 0-based epoch and the current rate as Keras reads
    it (the float32 value of its learning-rate variable); a ``schedule(epoch)`` of one argument
    is called when the two-argument call raises ``TypeError``. The result must be a float
    (``float``, ``np.float32`` or ``np.float64``; an ``int`` is refused, as in Keras). The epoch
    logs get ``learning_rate``. An optimizer built with a learning-rate schedule refuses a new
    rate (``TypeError``), as Keras' does.
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise ValueError(f"LearningRateScheduler: expected schedule to be a function "
                             f"schedule(epoch, lr) -> float, received {schedule!r}")
        self.schedule = schedule
        self.verbose = _non_negative_int(verbose, "verbose", "LearningRateScheduler")

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = _optimizer_of(self.model, "LearningRateScheduler")
        lr = current_learning_rate(optimizer)
        try:
            lr = self.schedule(epoch, lr)
        except TypeError:  # a schedule(epoch) of one argument (Keras' older API)
            lr = self.schedule(epoch)
        if not isinstance(lr, float | np.float32 | np.float64):
            raise ValueError("LearningRateScheduler: the output of the `schedule` function "
                             f"should be a float. Got: {lr!r}")
        set_learning_rate(optimizer, lr)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}.",
                  flush=True)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        logs["learning_rate"] = current_learning_rate(self.model.optimizer)


class ReduceLROnPlateau(MonitorCallback):
    """Multiply the learning rate by ``factor`` when ``monitor`` has stopped improving, as Keras.

    At each epoch end with the quantity logged: in cooldown, ``cooldown_counter -= 1`` and
    ``wait = 0``; then an improvement (see :class:`MonitorCallback`, ``min_delta`` default 1e-4)
    sets ``best`` and ``wait = 0``; otherwise, out of cooldown, ``wait += 1`` and once
    ``wait >= patience``, if ``lr > float32(min_lr)``::

        new_lr = max(lr * factor, min_lr)

    then ``cooldown_counter = cooldown`` and ``wait = 0``. ``lr`` is read as Keras reads its
    float32 learning-rate variable. The epoch logs get ``learning_rate`` (before the reduction).
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0):
        super().__init__(monitor, mode, min_delta=min_delta)
        where = "ReduceLROnPlateau"
        factor = _real(factor, "factor", where)
        if factor >= 1.0:
            raise ValueError(f"{where} does not support a factor >= 1.0. Received factor={factor}")
        if factor < 0:
            raise ValueError(f"{where}: expected factor in [0, 1), received factor={factor}")
        self.factor = factor
        self.min_lr = _real(min_lr, "min_lr", where)
        if self.min_lr < 0:
            raise ValueError(f"{where}: expected min_lr >= 0, received min_lr={min_lr!r}")
        self.patience = _non_negative_int(patience, "patience", where)
        self.verbose = _non_negative_int(verbose, "verbose", where)
        self.cooldown = _non_negative_int(cooldown, "cooldown", where)
        self.cooldown_counter = 0
        self.wait = 0

    def on_train_begin(self, logs=None):
        self.best = None
        self.cooldown_counter = 0
        self.wait = 0
        self._warned_missing = False

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        logs = logs or {}
        optimizer = _optimizer_of(self.model, "ReduceLROnPlateau")
        logs["learning_rate"] = current_learning_rate(optimizer)
        current = logs.get(self.monitor)
        if current is None:
            self._warn_missing("Learning rate reduction is conditioned on metric "
                               f"`{self.monitor}` which is not available. Available metrics "
                               f"are: {','.join(logs)}.")
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience and self._reduce_lr(optimizer, epoch):
                self.cooldown_counter = self.cooldown
                self.wait = 0

    def _reduce_lr(self, optimizer, epoch) -> bool:
        old_lr = current_learning_rate(optimizer)
        if not old_lr > np.float32(self.min_lr):  # Keras compares with a float32 min_lr
            return False
        new_lr = max(old_lr * self.factor, self.min_lr)
        set_learning_rate(optimizer, new_lr)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.",
                  flush=True)
        return True


def current_learning_rate(optimizer) -> float:
    """The optimizer's learning rate as Keras reads it: its value in ``floatx`` (a float32
    variable in Keras), as a Python float. A schedule is evaluated at ``iterations``."""
    return float(np.asarray(optimizer.current_learning_rate(), dtype=config.dtype()))


def set_learning_rate(optimizer, value) -> None:
    """Give the optimizer a new constant learning rate; refused when it follows a schedule."""
    if optimizer.learning_rate_schedule is not None:
        raise TypeError("This optimizer was created with a learning-rate schedule as its "
                        "`learning_rate` argument, hence its learning rate is not settable. If you "
                        "need the learning rate to be settable, create the optimizer with a float "
                        "`learning_rate`.")
    optimizer.learning_rate = float(value)


# ---------------------------------------------------------------------- logging, lambdas
class RemoteMonitor(Callback):
    """Posts each epoch's logs to a web server (``keras.callbacks.RemoteMonitor``): an HTTP POST
    to ``root + path`` whose body is ``{"epoch": epoch, **logs}`` in JSON, either as the form
    field ``field`` (``application/x-www-form-urlencoded``, the default) or, with
    ``send_as_json=True``, as the whole body (``application/json``). ``headers`` are added to the
    request. A server that cannot be reached gives a warning, and training goes on.

    Keras sends it with the ``requests`` package; this uses Python's own ``urllib`` and sends the
    same bytes (no extra dependency).
    """

    def __init__(self, root: str = "http://localhost:9000", path: str = "/publish/epoch/end/",
                 field: str = "data", headers: dict | None = None, send_as_json: bool = False):
        super().__init__()
        self.root = root
        self.path = path
        self.field = field
        self.headers = headers
        self.send_as_json = send_as_json

    def on_epoch_end(self, epoch, logs=None):
        import urllib.error
        import urllib.parse
        import urllib.request

        send = {"epoch": epoch}
        for key, value in (logs or {}).items():
            send[key] = value.item() if isinstance(value, np.ndarray | np.generic) else value
        headers = dict(self.headers or {})
        try:
            if self.send_as_json:
                body = json.dumps(send, allow_nan=False).encode()  # requests refuses NaN too
                headers.setdefault("Content-Type", "application/json")
            else:
                body = urllib.parse.urlencode({self.field: json.dumps(send)}).encode()
                headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
            request = urllib.request.Request(self.root + self.path, data=body, headers=headers,
                                             method="POST")
            with urllib.request.urlopen(request, timeout=10):
                pass
        except urllib.error.HTTPError:
            pass  # the server answered (say 404); as with requests, its status is not checked
        except (urllib.error.URLError, OSError, ValueError):
            warnings.warn(f"Could not reach RemoteMonitor root server at {self.root}", stacklevel=2)


class CSVLogger(Callback):
    """Write one CSV row per epoch, laid out as ``keras.callbacks.CSVLogger`` lays it out.

    Columns: ``epoch`` (0-based), then the first epoch's log keys sorted; when none of them is a
    ``val_`` key, ``val_<key>`` columns for each follow (filled with ``NA`` when missing). Rows
    end in ``\\r\\n`` (the ``csv`` module's excel dialect). ``append=True`` adds to an existing
    file and writes the header only if that file is empty.
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        if not isinstance(filename, str | os.PathLike):
            raise TypeError(f"CSVLogger: expected filename to be a path, received {filename!r}")
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(f"CSVLogger: expected separator to be a one-character string, "
                             f"received {separator!r}")
        self.sep = separator
        self.filename = os.fspath(filename)
        self.append = _bool(append, "append", "CSVLogger")
        self.writer = None
        self.keys = None
        self.append_header = True
        self.csv_file = None

    def on_train_begin(self, logs=None):
        if not writes_files(self.model):  # a worker other than worker 0 (MultiWorkerMirroredStrategy)
            return
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename) as f:
                    self.append_header = not f.readline()
            mode = "a"
        else:
            mode = "w"
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = open(self.filename, mode)  # noqa: SIM115 (open across the whole run)
        self.writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        import collections.abc
        import csv

        logs = logs or {}
        if self.csv_file is None:  # this worker writes no files
            return
        if self.keys is None:
            self.keys = sorted(logs)
            if self.keys and not any(k.startswith("val_") for k in self.keys):
                self.keys += [f"val_{k}" for k in self.keys]
        if self.writer is None:
            dialect = type("Dialect", (csv.excel,), {"delimiter": self.sep})
            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch"] + self.keys,
                                         dialect=dialect)
            if self.append_header:
                self.writer.writeheader()

        def cell(value):
            if isinstance(value, str):
                return value
            if isinstance(value, collections.abc.Iterable) and np.ndim(value) > 0:
                return f'"[{", ".join(map(str, value))}]"'
            return value

        row = {"epoch": epoch, **{k: cell(logs.get(k, "NA")) for k in self.keys}}
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


class LambdaCallback(Callback):
    """A callback made of plain functions, as ``keras.callbacks.LambdaCallback``.

    ``on_epoch_begin(epoch, logs)``, ``on_epoch_end(epoch, logs)``, ``on_train_begin(logs)``,
    ``on_train_end(logs)``, ``on_train_batch_begin(batch, logs)``,
    ``on_train_batch_end(batch, logs)``; other keyword arguments become attributes (so Keras'
    older ``on_batch_begin=`` and ``on_batch_end=`` work: the base class calls them).
    """

    _HOOKS = ("on_epoch_begin", "on_epoch_end", "on_train_begin", "on_train_end",
              "on_train_batch_begin", "on_train_batch_end")

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None, on_train_batch_begin=None, on_train_batch_end=None,
                 **kwargs):
        super().__init__()
        self.__dict__.update(kwargs)
        given = dict(zip(self._HOOKS, (on_epoch_begin, on_epoch_end, on_train_begin, on_train_end,
                                       on_train_batch_begin, on_train_batch_end), strict=True))
        for hook, fn in given.items():
            if fn is None:
                continue
            if not callable(fn):
                raise ValueError(f"LambdaCallback: expected {hook} to be a function, "
                                 f"received {fn!r}")
            setattr(self, hook, _with_logs(fn, takes_index=hook not in ("on_train_begin",
                                                                        "on_train_end")))


def _with_logs(fn, takes_index: bool):
    """``fn`` always called with ``logs`` (``None`` when the caller gives none), as Keras'
    callback list calls every hook."""
    if takes_index:
        return lambda index, logs=None: fn(index, logs)
    return lambda logs=None: fn(logs)


# ---------------------------------------------------------------------- moving averages
class SwapEMAWeights(Callback):
    """``keras.callbacks.SwapEMAWeights(swap_on_epoch=False)``: with an optimizer built with
    ``use_ema=True``, validation (and ``evaluate``/``predict`` given this callback) runs on the
    weights' moving averages: the model's weights and the optimizer's ``average`` slots change
    places at ``on_test_begin`` and back at ``on_test_end``. ``swap_on_epoch=True`` also keeps
    the averages in the model from each epoch's end to the next epoch's start (what a
    ``ModelCheckpoint`` then saves); at the last epoch's end it copies the model's weights into the
    averages so that ``fit``'s final ``finalize_variable_values`` leaves the averages in place.

    Keras' two quirks are kept, so the numbers agree: it swaps by additions
    (``a = a + b; b = a - b; a = a - b``, which rounds in float32, so a swap there and back may
    move a weight by an ulp), and its ``on_predict_end`` does not swap back (the model keeps the
    averages after a ``predict`` given this callback).
    """

    def __init__(self, swap_on_epoch: bool = False):
        super().__init__()
        self.swap_on_epoch = bool(swap_on_epoch)
        self._ema_weights_in_model = False

    def _pairs(self):
        optimizer = self.model.optimizer
        if not getattr(optimizer, "use_ema", False):
            raise ValueError("SwapEMAWeights must be used when `use_ema=True` is set on the "
                             f"optimizer. Received: use_ema={getattr(optimizer, 'use_ema', None)}")
        return [(param.value, optimizer.slot(param, "average")) for param in self.model.params]

    def _swap_variables(self) -> None:
        for weight, average in self._pairs():  # Keras' (TensorFlow's) swap by additions
            weight += average
            average[...] = weight - average
            weight -= average

    def _finalize_ema_values(self) -> None:
        for weight, average in self._pairs():
            average[...] = weight

    def on_epoch_begin(self, epoch, logs=None):
        if self.swap_on_epoch and self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = False

    def on_epoch_end(self, epoch, logs=None):
        if self.swap_on_epoch and not self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = True
            if epoch == self.params["epochs"] - 1:
                self._finalize_ema_values()

    def on_test_begin(self, logs=None):
        if not self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = True

    def on_test_end(self, logs=None):
        if self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = False

    def on_predict_begin(self, logs=None):
        if not self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = True

    def on_predict_end(self, logs=None):
        if not self._ema_weights_in_model:  # (Keras 3.15.1's condition: never true here)
            self._swap_variables()
            self._ema_weights_in_model = False


# ---------------------------------------------------------------------- backup and restore
class BackupAndRestore(Callback):
    """Resume a ``fit`` that was interrupted, from the end of its last completed epoch, as
    ``keras.callbacks.BackupAndRestore``.

    At each epoch end (or every ``save_freq`` batches) it writes to ``backup_dir``:

    - ``latest.npz``: the weights and the optimizer's ``iterations`` and state (scratchnet's
      ``.npz`` model format, written by :func:`scratchnet.saving.save_model`);
    - ``training_metadata.json``: ``epoch`` (the next one to run) and ``batch``, as Keras writes
      them, plus what scratchnet needs for a bit-identical resume: the learning rate and the
      states of the model's random generators (``model.rng``, ``model.shuffle_rng``, and each
      layer's, e.g. Dropout's).

    When training starts it loads them back, if present, and sets ``model._initial_epoch`` so
    ``fit`` starts at that epoch. A run killed mid-epoch and run again with the same ``fit``
    arguments ends with the same weights, bit for bit, as one never interrupted. When training
    ends the folder is deleted (``delete_checkpoint=True``). ``double_checkpoint=True`` keeps the
    previous backup as ``*.bkp`` and falls back to it when the latest cannot be read.
    With an integer ``save_freq`` the epoch restarts from its beginning, on mid-epoch weights,
    as in Keras. Since the backup is a ``.npz`` model file, the optimizer must be savable: a
    float or a ``scratchnet.optimizers.schedules`` learning rate, not a bare Python function.
    """

    WEIGHTS = "latest.npz"
    METADATA = "training_metadata.json"

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False,
                 delete_checkpoint=True):
        super().__init__()
        where = "BackupAndRestore"
        if not backup_dir:
            raise ValueError(f"{where}: empty `backup_dir` argument passed")
        if not isinstance(backup_dir, str | os.PathLike):
            raise TypeError(f"{where}: expected backup_dir to be a path, received {backup_dir!r}")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = _save_freq(save_freq, where)
        self.double_checkpoint = _bool(double_checkpoint, "double_checkpoint", where)
        self.delete_checkpoint = _bool(delete_checkpoint, "delete_checkpoint", where)
        self._weights_path = os.path.join(self.backup_dir, self.WEIGHTS)
        self._training_metadata_path = os.path.join(self.backup_dir, self.METADATA)
        self._prev_weights_path = self._weights_path + ".bkp"
        self._prev_training_metadata_path = self._training_metadata_path + ".bkp"
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = 0
        self._current_epoch = 0

    def on_train_begin(self, logs=None):
        try:
            self._load_model()
        except (OSError, ValueError):
            if not os.path.exists(self._prev_weights_path):
                raise
            shutil.copyfile(self._prev_weights_path, self._weights_path)
            if os.path.exists(self._prev_training_metadata_path):
                shutil.copyfile(self._prev_training_metadata_path, self._training_metadata_path)
            elif os.path.exists(self._training_metadata_path):
                os.remove(self._training_metadata_path)
            self._load_model()

    def _load_model(self) -> None:
        model = self.model
        if not model.built:
            raise ValueError(f"BackupAndRestore: the model must be built before fit() is called; "
                             f"model {model.name!r} is unbuilt. Build it by calling it on a batch "
                             "of data, or start it with sn.layers.Input(shape).")
        if os.path.exists(self._weights_path):
            _restore_training_state(model, self._weights_path)
        if os.path.exists(self._training_metadata_path):
            with open(self._training_metadata_path) as f:
                metadata = json.load(f)
            for key, state in metadata.get("rng", {}).items():
                generator = _random_generators(model).get(key)
                if generator is not None:
                    generator.bit_generator.state = state
            if metadata.get("learning_rate") is not None and model.optimizer is not None \
                    and model.optimizer.learning_rate_schedule is None:
                model.optimizer.learning_rate = metadata["learning_rate"]
            model._initial_epoch = metadata["epoch"]

    def on_epoch_end(self, epoch, logs=None):
        self._current_epoch = epoch + 1
        self._last_batch_seen = 0
        if self.save_freq == "epoch":
            self._save_model()

    def on_train_batch_end(self, batch, logs=None):
        if self._should_save_on_batch(batch):
            self._save_model()

    def _should_save_on_batch(self, batch: int) -> bool:
        if self.save_freq == "epoch":
            return False
        added = batch + 1 if batch <= self._last_batch_seen else batch - self._last_batch_seen
        self._batches_seen_since_last_saving += added
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            return True
        return False

    def _save_model(self) -> None:
        from scratchnet.saving import _atomic_write, save_model

        if not writes_files(self.model):  # every worker reads the backup, worker 0 writes it
            return
        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint:
            for path, prev in ((self._weights_path, self._prev_weights_path),
                               (self._training_metadata_path, self._prev_training_metadata_path)):
                if os.path.exists(path):
                    shutil.copyfile(path, prev)
        optimizer = self.model.optimizer
        metadata = {
            "epoch": self._current_epoch,
            "batch": self._last_batch_seen,
            "learning_rate": None if optimizer is None or optimizer.learning_rate_schedule is not None
            else optimizer.current_learning_rate(),
            "rng": {key: g.bit_generator.state for key, g in _random_generators(self.model).items()},
        }
        save_model(self.model, self._weights_path)
        _atomic_write(Path(self._training_metadata_path), json.dumps(metadata).encode())

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and os.path.exists(self.backup_dir) and writes_files(self.model):
            shutil.rmtree(self.backup_dir)


def writes_files(model) -> bool:
    """Whether callbacks write files for ``model``: under a ``MultiWorkerMirroredStrategy`` only
    worker 0 does (unless the strategy has ``save_on_all_workers=True``); otherwise always."""
    return getattr(getattr(model, "distribute_strategy", None), "should_checkpoint", True)


def _random_generators(model) -> dict[str, np.random.Generator]:
    """Every NumPy Generator training draws from, by a stable key: the model's (weights/dropout
    seeds, batch order) and each layer's (``"<layer name>/<attribute>"``, e.g. Dropout's)."""
    found = {"model/rng": model.rng, "model/shuffle_rng": model.shuffle_rng}
    for layer in model.layers:
        for attr, value in sorted(vars(layer).items()):
            if isinstance(value, np.random.Generator):
                found[f"{layer.name}/{attr}"] = value
    return found


def _restore_training_state(model, path: str) -> None:
    """Load into ``model`` the weights and optimizer state of a scratchnet ``.npz`` model file
    (the arrays :func:`scratchnet.saving.save_model` writes: ``weight_<i>``,
    ``optimizer_iterations``, ``optimizer/<parameter>/<slot>``)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {key: f[key] for key in f.files}
    except (zipfile.BadZipFile, EOFError, KeyError) as err:
        raise ValueError(f"BackupAndRestore: {path!r} is not a readable backup: {err}") from err
    n_weights = len(model.get_weights())  # non-trainable ones (moving statistics) included
    if any(f"weight_{i}" not in arrays for i in range(n_weights)):
        raise ValueError(f"BackupAndRestore: {path!r} holds no weights for {n_weights} arrays")
    model.set_weights([arrays[f"weight_{i}"] for i in range(n_weights)])
    if model.optimizer is not None and "optimizer_iterations" in arrays:
        model.optimizer.iterations = int(arrays["optimizer_iterations"])
        from scratchnet.saving import restore_loss_scale

        restore_loss_scale(model.optimizer, arrays)
        prefix = "optimizer/"
        model.optimizer.state = {key[len(prefix):]: value.copy() for key, value in arrays.items()
                                 if key.startswith(prefix)}


# ---------------------------------------------------------------------- argument checks
def _optimizer_of(model, where: str):
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not hasattr(optimizer, "learning_rate"):
        raise ValueError(f'{where}: optimizer must have a "learning_rate" attribute; the model '
                         "is not compiled with one")
    return optimizer


def _as_tensor_scalar(value):
    """A value as a Keras op sees it: Python numbers become ``floatx`` scalars (float32), NumPy
    values keep their dtype."""
    if isinstance(value, np.generic | np.ndarray):
        return value
    return np.asarray(value, dtype=config.dtype())


def _real(value, arg: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{where}: expected {arg} to be a finite number, received {value!r}")
    return value


def _non_negative_int(value, arg: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{where}: expected {arg} to be an integer >= 0, received {value!r}")
    return int(value)


def _bool(value, arg: str, where: str) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"{where}: expected {arg} to be True or False, received {value!r}")
    return bool(value)


def _save_freq(value, where: str):
    if value == "epoch":
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{where}: unrecognized save_freq={value!r}; expected 'epoch' or a "
                         "positive integer (a number of batches)")
    return int(value)
