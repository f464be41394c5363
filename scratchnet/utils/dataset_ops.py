"""The ``tf.data.Dataset`` methods course programs call on the dataset of
:func:`~scratchnet.utils.image_dataset_from_directory`: ``take``, ``skip``, ``map``, ``cache``,
``prefetch``, ``as_numpy_iterator``, ``cardinality``.

Each returns a :class:`DatasetView`: a :class:`~scratchnet.utils.PyDataset` over some batches of
its source, so ``fit``, ``evaluate``, ``predict`` and ``for images, labels in ds.take(1)`` all
take it. Everything runs eagerly in the calling thread, batch by batch, as the rest of
scratchnet's data input does:

- ``take(n)`` / ``skip(n)``: the first ``n`` batches / all but them;
- ``map(fn)``: ``fn(*batch)`` on each batch as it is read (``fn(images, labels)``; a bare array
  batch is passed alone);
- ``cache()``: each batch is read once, on first use, and kept in memory; later passes give the
  same batches (tf.data's ``cache``: a shuffled source is frozen in its first order);
- ``prefetch(buffer_size)``: the same batches. There is no background thread to fill a buffer:
  reading stays in the training thread, where a debugger can step into it;
- ``as_numpy_iterator()``: one pass over the batches (they already are NumPy arrays);
- ``cardinality()``: the number of batches, a NumPy int64 (tf.data returns a tensor).
"""

from __future__ import annotations

import numbers

import numpy as np

from scratchnet.utils.py_dataset import PyDataset


class DatasetMethods:
    """The methods above, for any dataset with ``__len__``, ``__getitem__`` and ``on_epoch_end``."""

    def take(self, count: int) -> DatasetView:
        count = _count(count, "take")
        return DatasetView(self, range(min(count, len(self)) if count >= 0 else len(self)))

    def skip(self, count: int) -> DatasetView:
        count = _count(count, "skip")
        return DatasetView(self, range(min(count, len(self)) if count >= 0 else len(self),
                                       len(self)))

    def map(self, map_func) -> DatasetView:
        if not callable(map_func):
            raise TypeError(f"map: expected a function of the batch, received {map_func!r}")
        return DatasetView(self, range(len(self)), map_func=map_func)

    def cache(self, filename: str = "") -> DatasetView:
        if filename:
            raise ValueError("cache: scratchnet caches in memory only; call cache() without a "
                             f"filename (received filename={filename!r})")
        return DatasetView(self, range(len(self)), cached=True)

    def prefetch(self, buffer_size=None):
        return self  # no background reading here (see the module docstring)

    def as_numpy_iterator(self):
        return iter(self)

    def cardinality(self) -> np.int64:
        return np.int64(len(self))


class DatasetView(DatasetMethods, PyDataset):
    """Some batches of ``source`` (by index), each maybe passed through ``map_func``, maybe kept."""

    def __init__(self, source, indices, map_func=None, cached: bool = False):
        super().__init__()
        self.source = source
        self.indices = list(indices)
        self.map_func = map_func
        self.memory = {} if cached else None
        # the source's own order is kept by fit (image_dataset_from_directory's datasets)
        self.ignores_fit_shuffle = getattr(source, "ignores_fit_shuffle", False)
        self.class_names = getattr(source, "class_names", None)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int):
        if not -len(self) <= index < len(self):
            raise IndexError(f"batch index {index} out of range for {len(self)} batches")
        index %= len(self)
        if self.memory is not None and index in self.memory:
            return self.memory[index]
        batch = self.source[self.indices[index]]
        if self.map_func is not None:
            batch = self.map_func(*batch) if isinstance(batch, tuple) else self.map_func(batch)
        if self.memory is not None:
            self.memory[index] = batch
        return batch

    def __iter__(self):
        for index in range(len(self)):
            yield self[index]
        self.on_epoch_end()

    def on_epoch_end(self) -> None:
        self.source.on_epoch_end()  # a shuffling source draws its next order

    def __repr__(self) -> str:
        return f"<DatasetView: {len(self)} batches of {self.source!r}>"


def _count(count, method: str) -> int:
    if isinstance(count, bool) or not isinstance(count, numbers.Integral):
        raise TypeError(f"{method}: expected count to be an integer, received {count!r}")
    return int(count)
