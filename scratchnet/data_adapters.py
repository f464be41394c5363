"""Where ``fit``, ``evaluate`` and ``predict`` get their batches, as Keras 3.15's data adapters.

``fit`` stays a short loop: it asks an :class:`EpochIterator` for each step and its batch
``(x, y, sample_weight)`` and calls ``train_step``. This module hides the three kinds of input Keras accepts:

- **arrays** ``x, y`` (and ``sample_weight``): cut into batches of ``batch_size`` (default 32,
  or ``ceil(N / steps)`` when only ``steps`` is given), shuffled each pass if asked, the partial
  last batch kept (:class:`ArrayAdapter`);
- a **Python generator** (or any iterator) of tuples ``(x,)``, ``(x, y)`` or
  ``(x, y, sample_weight)`` (:class:`GeneratorAdapter`);
- a :class:`scratchnet.utils.PyDataset` (:class:`PyDatasetAdapter`).

Keras' rules for steps, read from ``keras/src/trainers/epoch_iterator.py`` and followed here:

- With ``steps_per_epoch`` set, one iterator over the data lives **across epochs**: epoch 2
  continues where epoch 1 stopped, and a new pass starts only when the data is used up.
- Without it, every epoch is one full pass; for a generator that means "until it is empty".
- When the data runs out before ``steps_per_epoch`` batches, the epoch ends early with Keras'
  warning "Your input ran out of data; interrupting training...". A finite generator without
  ``steps_per_epoch`` gets the same warning at the end of every epoch, as in Keras.
- A generator's first two batches are read ahead (Keras peeks at them to learn their shapes) and
  every new pass over it yields them again before continuing with the generator. So a finite
  generator, once empty, gives each later epoch just those two batches, exactly as Keras does.
"""

from __future__ import annotations

import itertools
import math
import numbers
import warnings

import numpy as np

from scratchnet import kernels

NUM_PEEKED_BATCHES = 2  # Keras' NUM_BATCHES_FOR_TENSOR_SPEC

RAN_OUT_WARNING = ("Your input ran out of data; interrupting training. Make sure that your "
                   "dataset or generator can generate at least `steps_per_epoch * epochs` "
                   "batches.")


# ---------------------------------------------------------------------------------- batch tuples
def unpack_x_y_sample_weight(batch) -> tuple:
    """``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)`` -> ``(x, y, sample_weight)`` with ``None``
    for what is missing; anything that is not a tuple/list is ``x`` alone (Keras' helper)."""
    if isinstance(batch, list):
        batch = tuple(batch)
    if not isinstance(batch, tuple):
        return batch, None, None
    if len(batch) in (1, 2, 3):
        return tuple(batch) + (None,) * (3 - len(batch))
    raise ValueError("Data is expected to be in format `x`, `(x,)`, `(x, y)`, or "
                     f"`(x, y, sample_weight)`, found a tuple of {len(batch)}: {describe(batch)}")


def describe(value) -> str:
    """A short description of what was received: types and shapes, not the numbers."""
    if isinstance(value, tuple | list):
        inner = ", ".join(describe(v) for v in value)
        return f"{type(value).__name__} of {len(value)} ({inner})"
    if value is None:
        return "None"
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"array of shape {tuple(value.shape)} and dtype {value.dtype}"
    return f"{type(value).__name__} {str(value)[:60]}"


def class_weight_to_sample_weights(y, class_weight: dict) -> np.ndarray:
    """Per-sample weights from a ``{class: weight}`` dict, as Keras computes them.

    The class of a sample is its label: ``round(y)`` for ids ``(N,)`` or ``(N, 1)``, ``argmax``
    over the last axis for one-hot rows ``(N, K)``. Classes missing from the dict weigh 1.
    """
    if not isinstance(class_weight, dict):
        raise ValueError(f"fit: expected class_weight to be a dict {{class index: weight}}, "
                         f"received {class_weight!r}")
    y = np.asarray(kernels.to_numpy(y))
    if y.ndim > 1:
        y = np.argmax(y, axis=-1) if y.shape[-1] != 1 else np.squeeze(y, axis=-1)
    labels = np.round(y).astype(np.int32).reshape(len(y), -1)[:, 0]
    return np.array([class_weight.get(int(label), 1.0) for label in labels], dtype=np.float32)


def train_validation_split(arrays: tuple, validation_split: float) -> tuple[tuple, tuple]:
    """Keras' ``validation_split``: the **last** ``validation_split`` fraction of the samples
    (before any shuffling) becomes the validation data; ``None`` entries stay ``None``."""
    n = num_samples(arrays[0])
    split_at = int(math.floor(n * (1.0 - validation_split)))
    if split_at == 0 or split_at == n:
        raise ValueError(f"fit: training data contains {n} samples, which is not sufficient to "
                         f"split it into a validation and training set as specified by "
                         f"`validation_split={validation_split}`. Either provide more data, or a "
                         "different value for the `validation_split` argument.")
    train = tuple(take(a, slice(None, split_at)) for a in arrays)
    val = tuple(take(a, slice(split_at, None)) for a in arrays)
    return train, val


def take(data, index):
    """``data[index]`` for an array; for a functional model's list of arrays (one per input or
    output), each array's ``[index]``. ``None`` stays ``None``."""
    if data is None:
        return None
    if isinstance(data, list | tuple):
        return [take(a, index) for a in data]
    return data[index]


def num_samples(data) -> int:
    """The number of samples: ``len`` of the array, or of the first array of a list."""
    return num_samples(data[0]) if isinstance(data, list | tuple) else len(data)


def is_array_data(x) -> bool:
    """Arrays (NumPy, CuPy, nested lists of numbers) rather than a generator or PyDataset."""
    from scratchnet.utils import PyDataset

    if isinstance(x, PyDataset):
        return False
    if isinstance(x, np.ndarray | list | tuple | numbers.Number | str | bytes | dict) \
            or kernels.is_device_array(x):
        return True
    return not (hasattr(x, "__next__") or hasattr(x, "__iter__"))


# ---------------------------------------------------------------------------------- adapters
class ArrayAdapter:
    """Batches cut from arrays that were already checked: ``x[i:i+B]``, ``y[...]``, weights.

    ``shuffle=True`` draws a new order of all samples each pass; ``shuffle="batch"`` keeps the
    batches in order and shuffles inside each one (Keras' option for HDF5-like data).
    """

    def __init__(self, x, y=None, sample_weight=None, batch_size: int | None = None,
                 steps: int | None = None, shuffle: bool = False, rng=None):
        self.arrays = (x, y, sample_weight)
        self.num_samples = num_samples(x)
        if batch_size is None:
            batch_size = math.ceil(self.num_samples / steps) if steps else 32
        self.batch_size = batch_size
        self.num_batches = math.ceil(self.num_samples / batch_size)
        self.shuffle = shuffle
        self.rng = rng
        self.checked = True  # fit checked the whole arrays once, up front

    def passes(self):
        """One pass over the data: a generator of ``(x, y, sample_weight)`` batches."""
        n, size = self.num_samples, self.batch_size
        whole = self.shuffle and self.shuffle != "batch"
        order = self.rng.permutation(n) if whole else np.arange(n)
        for start in range(0, n, size):
            idx = order[start:start + size]
            if self.shuffle == "batch":  # Keras' shuffle="batch": only within each batch
                idx = idx[self.rng.permutation(len(idx))]
            elif not self.shuffle:  # in order: a view of the rows, no copy (predict, evaluate)
                idx = slice(start, start + size)
            yield tuple(take(a, idx) for a in self.arrays)

    def on_epoch_begin(self) -> None: ...
    def on_epoch_end(self) -> None: ...


class GeneratorAdapter:
    """A Python generator (or any iterator) of batch tuples; its length is unknown (``None``).

    Its first two batches are read at once (to check them, and to build the model from the
    first); each new pass yields them again, then continues the generator (Keras' behaviour).
    """

    num_batches = None
    checked = False

    def __init__(self, generator, where: str):
        self.generator = iter(generator)
        self.peeked = list(itertools.islice(self.generator, NUM_PEEKED_BATCHES))
        if not self.peeked:
            raise ValueError(f"{where}: when passing a Python generator, it must yield at least "
                             "one batch; received an empty generator")
        self.source = "the generator"

    def passes(self):
        return itertools.chain(self.peeked, self.generator)

    def first_batch(self):
        return self.peeked[0]

    def on_epoch_begin(self) -> None: ...
    def on_epoch_end(self) -> None: ...


class PyDatasetAdapter:
    """A :class:`scratchnet.utils.PyDataset`: batch ``i`` is ``dataset[i]``, for
    ``i < len(dataset)``; with ``shuffle`` the batch order is a new permutation each pass."""

    checked = False

    def __init__(self, dataset, shuffle: bool = False, rng=None, class_weight=None):
        self.dataset = dataset
        self.shuffle = shuffle
        self.rng = rng
        self.class_weight = class_weight
        self.source = f"the PyDataset {type(dataset).__name__}"
        self._within_epoch = False

    @property
    def num_batches(self) -> int | None:
        return self.dataset.num_batches

    def passes(self):
        n = self.num_batches
        if n is None:
            indices = itertools.count()
        else:
            indices = self.rng.permutation(n) if self.shuffle else range(n)
        for i in indices:
            self.last_index = int(i)  # to name a bad batch by its index
            yield self.dataset[self.last_index]

    def first_batch(self):
        self.last_index = 0
        return self.dataset[0]

    def on_epoch_begin(self) -> None:
        self._within_epoch = True
        self.dataset.on_epoch_begin()

    def on_epoch_end(self) -> None:
        self.dataset.on_epoch_end()
        self._within_epoch = False


def get_data_adapter(x, y=None, sample_weight=None, batch_size=None, steps=None, shuffle=False,
                     class_weight=None, rng=None, where: str = "fit"):
    """Pick the adapter for ``x`` (arrays must have been checked by the model already)."""
    from scratchnet.utils import PyDataset

    if is_array_data(x):
        return ArrayAdapter(x, y, sample_weight, batch_size, steps, shuffle, rng)
    kind = "PyDataset" if isinstance(x, PyDataset) else "generator"
    for arg, value, what in (("y", y, "the targets"),
                             ("sample_weight", sample_weight, "the sample weights")):
        if value is not None:
            raise ValueError(f"{where}: when providing `x` as a {kind}, `{arg}` should not be "
                             f"passed. Instead, {what} should be included as part of the {kind}.")
    if kind == "PyDataset":
        if x.num_batches == 0:
            raise ValueError(f"{where}: The PyDataset has length 0 ({type(x).__name__}.__len__() "
                             "returned 0): it must yield at least one batch")
        # A dataset that orders itself (image_dataset_from_directory's, the twin of a tf.data
        # Dataset) keeps its order: Keras' fit ignores shuffle= for a tf.data.Dataset.
        shuffle = shuffle and not getattr(x, "ignores_fit_shuffle", False)
        return PyDatasetAdapter(x, shuffle=shuffle, rng=rng, class_weight=class_weight)
    if class_weight is not None:
        raise ValueError(f"{where}: argument `class_weight` is not supported for Python generator "
                         f"inputs. Received: class_weight={class_weight}")
    if shuffle and where == "fit":
        warnings.warn("`shuffle=True` was passed, but will be ignored since the data `x` was "
                      "provided as a generator. The generator is expected to yield "
                      "already-shuffled data.", UserWarning, stacklevel=3)
    return GeneratorAdapter(x, where)


# ---------------------------------------------------------------------------------- epochs
class EpochIterator:
    """Hands out the steps of each epoch and their batches ``(x, y, sample_weight)``::

        for step in batches.steps():
            callbacks.on_train_batch_begin(step)
            batch = batches.next_batch()
            if batch is None:  # the data ran out
                break
            ...

    ``steps_per_epoch`` (or ``steps`` in evaluate/predict) caps the batches per epoch, as in
    Keras. ``check(x, y, sample_weight, where)`` validates a batch that did not come from
    already-checked arrays; ``where`` names the batch so a bad one is easy to find.
    """

    def __init__(self, adapter, steps_per_epoch: int | None = None, check=None,
                 where: str = "fit", needs_y: bool = True, y_optional: bool = False):
        self.adapter = adapter
        self.steps_per_epoch = steps_per_epoch
        self.check = check
        self.where = where
        self.needs_y = needs_y
        self.y_optional = y_optional  # a model compiled without a loss: (inputs,) batches too
        self._iterator = None  # the pass in progress (kept across epochs with steps_per_epoch)
        self._num_batches = adapter.num_batches
        self._steps_seen = 0
        self._drawn = 0  # batches drawn from the source so far (to name a bad one)

    @property
    def num_batches(self) -> int | None:
        """Batches per epoch: ``steps_per_epoch`` if given, else the data's, once known."""
        return self.steps_per_epoch or self._num_batches

    def reset(self) -> None:
        """Forget the pass in progress (Keras calls this before training and each evaluation)."""
        self._iterator = None
        self._num_batches = self.adapter.num_batches
        self._steps_seen = 0
        self.adapter.on_epoch_end()

    def first_batch(self):
        """The first batch, to build a model that has no input shape yet; consumes nothing."""
        return self._prepare(self.adapter.first_batch(), 0)

    def steps(self):
        """The step numbers of one epoch (0, 1, ...). Fetch each step's batch with
        :meth:`next_batch` *after* announcing the step, as Keras' loop does: when the data runs
        out, the step was announced (``on_*_batch_begin``) but has no batch."""
        self.adapter.on_epoch_begin()
        steps = self.steps_per_epoch or self._num_batches
        if steps is None:  # unknown length: until the data is used up
            self._iterator = iter(self.adapter.passes())
            for step in itertools.count():
                self._steps_seen = step + 1
                yield step
        else:
            if self._iterator is None or self.steps_per_epoch is None:
                self._iterator = iter(self.adapter.passes())
                self._steps_seen = 0
            for step in range(steps):
                if self._num_batches and self._steps_seen >= self._num_batches:
                    if self.steps_per_epoch:
                        _warn_ran_out()
                    break
                self._steps_seen += 1
                yield step
            if self._num_batches and self._steps_seen >= self._num_batches:
                self._iterator = iter(self.adapter.passes())  # the next epoch starts a new pass
                self._steps_seen = 0
        self.adapter.on_epoch_end()

    def next_batch(self):
        """The next ``(x, y, sample_weight)``, or ``None`` when the data ran out (then Keras'
        warning is given and the epoch must end: Keras' ``catch_stop_iteration``)."""
        try:
            raw = next(self._iterator)
        except StopIteration:
            if self._num_batches is None:
                self._num_batches = self._steps_seen  # Keras counts the failed step too
            _warn_ran_out()
            self._iterator = None
            self.adapter.on_epoch_end()
            return None
        self._drawn += 1
        return self._prepare(raw, getattr(self.adapter, "last_index", self._drawn - 1))

    def _prepare(self, raw, index: int):
        """Unpack and check one batch from a generator or PyDataset (arrays pass as they are)."""
        if self.adapter.checked:
            return raw
        where = f"{self.where}: batch {index} from {self.adapter.source}"
        if isinstance(self.adapter, GeneratorAdapter) and not isinstance(raw, tuple):
            raise ValueError(f"{where}: expected a tuple, either (inputs,) or (inputs, targets) "
                             f"or (inputs, targets, sample_weights); received {describe(raw)}")
        if isinstance(raw, np.ndarray):
            raw = (raw,)
        if not isinstance(raw, tuple | list) or len(raw) not in (1, 2, 3):
            raise ValueError(f"{where}: expected a tuple, either (inputs,) or (inputs, targets) "
                             f"or (inputs, targets, sample_weights); received {describe(raw)}")
        x, y, sample_weight = unpack_x_y_sample_weight(raw)
        class_weight = getattr(self.adapter, "class_weight", None)
        if class_weight is not None and y is not None:
            if sample_weight is not None:
                raise ValueError(f"{where}: you cannot specify `class_weight` and "
                                 "`sample_weight` at the same time")
            sample_weight = class_weight_to_sample_weights(y, class_weight)
        if self.needs_y and y is None and not self.y_optional:
            raise ValueError(f"{where}: expected targets y in the batch, received "
                             f"{describe(raw)}; yield (x, y) or (x, y, sample_weight)")
        if self.check is not None:
            return self.check(x, y if self.needs_y else None, sample_weight, where)
        return x, y, sample_weight


def _warn_ran_out() -> None:
    warnings.warn(RAN_OUT_WARNING, UserWarning, stacklevel=4)
