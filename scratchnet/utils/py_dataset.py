"""``PyDataset``: a dataset written in Python, one batch per index, as ``keras.utils.PyDataset``."""

from __future__ import annotations

import numbers


class PyDataset:
    """Base class for a dataset that hands out whole batches by index.

    Subclass it and implement ``__len__`` (the number of **batches**, not samples) and
    ``__getitem__(i)`` (batch ``i``: a tuple ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``;
    a bare ``x`` array is read as ``(x,)``). Optionally implement ``on_epoch_begin`` and
    ``on_epoch_end`` (e.g. to reshuffle your files); ``fit`` calls them around every epoch.
    Call ``super().__init__(**kwargs)`` in your constructor, as in Keras::

        class Batches(sn.utils.PyDataset):
            def __init__(self, x, y, batch_size, **kwargs):
                super().__init__(**kwargs)
                self.x, self.y, self.batch_size = x, y, batch_size

            def __len__(self):
                return math.ceil(len(self.x) / self.batch_size)

            def __getitem__(self, i):
                s = slice(i * self.batch_size, (i + 1) * self.batch_size)
                return self.x[s], self.y[s]

        model.fit(Batches(x, y, 32), epochs=5)

    ``workers``, ``use_multiprocessing`` and ``max_queue_size`` are accepted and stored with
    Keras' defaults and checks, but scratchnet always reads batches **in the training thread, one
    after another**: no worker threads or processes, so stepping into ``__getitem__`` in a
    debugger just works. ``fit(shuffle=True)`` shuffles the order of batch indices each epoch,
    as Keras does.

    Like Keras (whose ``fit`` resets its data iterator before the first epoch), ``fit`` calls
    ``on_epoch_end`` once before training starts, then ``on_epoch_begin``/``on_epoch_end`` around
    every epoch that runs to its end.
    """

    def __init__(self, workers: int = 1, use_multiprocessing: bool = False,
                 max_queue_size: int = 10):
        for arg, value in (("workers", workers), ("max_queue_size", max_queue_size)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
                raise ValueError(f"{type(self).__name__}: expected {arg} to be an integer >= 0, "
                                 f"received {value!r}")
        self.workers = int(workers)
        self.use_multiprocessing = bool(use_multiprocessing)
        self.max_queue_size = int(max_queue_size)

    def __getitem__(self, index: int):
        """Batch number ``index``."""
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__(index)")

    @property
    def num_batches(self) -> int | None:
        """The number of batches (``len(self)``); ``None`` means an endless dataset."""
        if hasattr(self, "__len__"):
            return len(self)
        raise NotImplementedError(f"{type(self).__name__} must implement __len__ (the number of "
                                  "batches) or a num_batches property")

    def __iter__(self):
        n = self.num_batches
        i = 0
        while n is None or i < n:
            yield self[i]
            i += 1

    def on_epoch_begin(self) -> None:
        """Called at the start of every epoch."""

    def on_epoch_end(self) -> None:
        """Called at the end of every epoch."""


Sequence = PyDataset  # Keras' older name, kept as an alias there too
