"""The ``tf.data.Dataset`` methods course programs call on the dataset of
:func:`~scratchnet.utils.image_dataset_from_directory`: ``take``, ``skip``, ``map``, ``cache``,
``shuffle``, ``prefetch``, ``as_numpy_iterator``, ``cardinality``.

Each returns a :class:`DatasetView`: a :class:`~scratchnet.utils.PyDataset` over some batches of
its source, so ``fit``, ``evaluate``, ``predict`` and ``for images, labels in ds.take(1)`` all
take it. Everything runs eagerly in the calling thread, batch by batch, as the rest of
scratchnet's data input does:

- ``take(n)`` / ``skip(n)``: the first ``n`` batches / all but them;
- ``map(fn)``: ``fn(*batch)`` on each batch as it is read (``fn(images, labels)``; a bare array
  batch is passed alone);
- ``cache()``: each batch is read once, on first use, and kept in memory; later passes give the
  same batches (tf.data's ``cache``: a shuffled source is frozen in its first order);
- ``shuffle(buffer_size, seed=None, reshuffle_each_iteration=True)``: the batches in tf.data's
  buffered order (keep ``buffer_size`` of them, hand out one at random, refill from the next), a
  new order each pass unless ``reshuffle_each_iteration=False``; NumPy draws it, so the order is
  not TensorFlow's;
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

    def shuffle(self, buffer_size, seed=None, reshuffle_each_iteration=True) -> ShuffledView:
        if isinstance(buffer_size, bool) or not isinstance(buffer_size, numbers.Integral) \
                or buffer_size < 1:
            raise ValueError(f"shuffle: expected buffer_size to be a positive integer, received "
                             f"{buffer_size!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
                                 or seed < 0):
            raise ValueError(f"shuffle: expected seed to be None or a non-negative integer, "
                             f"received {seed!r}")
        return ShuffledView(self, int(buffer_size), np.random.default_rng(seed),
                            bool(reshuffle_each_iteration))

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


class ShuffledView(DatasetView):
    """All batches of ``source`` in tf.data's buffered random order
    (:func:`shuffle_buffer_order`), drawn again after each pass."""

    def __init__(self, source, buffer_size: int, rng: np.random.Generator, reshuffle: bool):
        super().__init__(source, range(len(source)))
        self.buffer_size, self.rng, self.reshuffle = buffer_size, rng, reshuffle
        self.indices = shuffle_buffer_order(len(source), buffer_size, rng).tolist()

    def on_epoch_end(self) -> None:
        super().on_epoch_end()
        if self.reshuffle:
            self.indices = shuffle_buffer_order(len(self.source), self.buffer_size, self.rng).tolist()


class BatchesInPasses(DatasetMethods, PyDataset):
    """Batches of ``n_items`` items read on demand, as the datasets Keras' ``*_from_directory`` and
    ``timeseries_dataset_from_array`` functions return: ``len(ds)`` batches of ``batch_size``
    (``None``: one item at a time); with ``shuffle`` every pass (an epoch in ``fit``, or a ``for``
    loop run to its end) takes the items in a new order from a shuffle buffer of
    ``8 * batch_size`` (1024 unbatched), Keras' sizes, drawn by NumPy from ``seed`` and the pass
    number. A subclass says what batch ``index`` holds (``__getitem__``, with
    :meth:`batch_items`). ``fit``'s own ``shuffle=`` leaves the order alone, as with a
    ``tf.data.Dataset``."""

    ignores_fit_shuffle = True  # read by scratchnet.data_adapters: the order is this dataset's

    def __init__(self, n_items: int, batch_size, shuffle: bool, seed):
        super().__init__()
        self.n_items = n_items
        self.batch_size = batch_size
        self.shuffles_each_pass = bool(shuffle)  # not "shuffle": that is the tf.data method
        self.seed = seed
        self.buffer_size = 8 * batch_size if batch_size is not None else 1024
        self._passes = 0
        self.order = np.arange(n_items)
        self._next_pass()

    def __len__(self) -> int:
        if self.batch_size is None:
            return self.n_items
        return -(-self.n_items // self.batch_size)

    def batch_items(self, index: int) -> np.ndarray:
        """The items of batch ``index`` (negative counts from the end), in this pass's order."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"{type(self).__name__}: batch index {index} out of range for "
                             f"{len(self)} batches")
        index %= len(self)
        size = self.batch_size or 1
        return self.order[index * size:(index + 1) * size]

    def __iter__(self):
        for index in range(len(self)):
            yield self[index]
        self._next_pass()

    def on_epoch_end(self) -> None:
        self._next_pass()

    def _next_pass(self) -> None:
        """The order of the next pass: the items as they are, or a new buffer shuffle of them."""
        if self.shuffles_each_pass:
            rng = np.random.default_rng([self.seed, self._passes])
            self.order = shuffle_buffer_order(self.n_items, self.buffer_size, rng)
        self._passes += 1


def shuffle_buffer_order(n: int, buffer_size: int, rng: np.random.Generator) -> np.ndarray:
    """The order in which ``tf.data``'s ``shuffle(buffer_size)`` hands out ``n`` elements.

    Fill a buffer with the first ``buffer_size`` elements; then repeatedly hand out a random one
    from the buffer and put the next element from the input in its place (once the input is used
    up, the buffer shrinks). An element can only move ``buffer_size`` places earlier.
    """
    buffer = list(range(min(buffer_size, n)))
    next_in = len(buffer)
    order = []
    while buffer:
        j = int(rng.integers(len(buffer)))
        order.append(buffer[j])
        if next_in < n:
            buffer[j] = next_in
            next_in += 1
        else:
            buffer[j] = buffer[-1]
            buffer.pop()
    return np.array(order, dtype=np.int64)


def _count(count, method: str) -> int:
    if isinstance(count, bool) or not isinstance(count, numbers.Integral):
        raise TypeError(f"{method}: expected count to be an integer, received {count!r}")
    return int(count)
