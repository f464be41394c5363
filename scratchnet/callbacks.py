"""Callbacks: code that ``fit`` calls at the start and end of training, epochs and batches.

The hooks and their ``logs`` dicts are Keras' (``on_epoch_end(epoch, logs)`` with ``logs =
{"loss": ..., "accuracy": ..., "val_loss": ..., ...}``). ``fit`` always adds a :class:`History`,
and a :class:`ProgbarLogger` when ``verbose`` asks for output.
"""

from __future__ import annotations

import math
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


def format_logs(logs) -> str:
    return " - ".join(f"{k}: {v:.4f}" for k, v in (logs or {}).items())
