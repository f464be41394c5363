"""``text_dataset_from_directory`` and ``timeseries_dataset_from_array``, as Keras 3.15.

**Text from class folders.** Given ``main/neg/*.txt`` and ``main/pos/*.txt`` (the IMDB reviews'
layout), it yields ``(texts, labels)`` batches, labels 0 for ``neg`` and 1 for ``pos``. The steps
are ``image_dataset_from_directory``'s (:mod:`scratchnet.utils.image_dataset`), with ``.txt`` files:
index the class folders in sorted order, shuffle the file list once with
``np.random.RandomState(seed)``, take the last ``int(validation_split * N)`` files for validation,
and reshuffle the training files in a buffer of ``8 * batch_size`` each pass (that per-pass order
is scratchnet's own: TensorFlow's random numbers cannot be reproduced). A text is the file's raw
bytes, cut to its first ``max_length`` bytes (``tf.strings.substr``'s default unit), in a NumPy
object array of ``bytes``: what ``.numpy()`` gives for Keras' ``tf.string`` batches, and what
``TextVectorization`` reads (decoding UTF-8).

**Windows over a series.** ``timeseries_dataset_from_array(data, targets, sequence_length)`` yields
batches of windows ``data[s], data[s + r], ..., data[s + (L - 1) r]`` (``r = sampling_rate``,
``L = sequence_length``) for start positions ``s = 0, stride, 2 stride, ...``, each paired with
``targets[s]``, both counted from ``start_index``: Keras' ``_timeseries_dataset_tf``, element for
element. With ``shuffle=True`` the start positions are shuffled once with
``np.random.RandomState(seed)`` as Keras does, then again per pass in a buffer (scratchnet's own
order, as above).
"""

from __future__ import annotations

import numbers
import os

import numpy as np

from scratchnet.utils.dataset_ops import BatchesInPasses
from scratchnet.utils.image_dataset import (
    LABEL_MODES,
    FileDataset,
    _check_labels,
    _check_validation_split,
    index_directory,
    shuffle_file_list,
    training_or_validation_split,
)

WHERE = "text_dataset_from_directory"
TEXT_FORMATS = (".txt",)


def text_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None,
                                batch_size=32, max_length=None, shuffle=True, seed=None,
                                validation_split=None, subset=None, follow_links=False, format="tf",
                                verbose=True):
    """Text batches from a folder of class sub-folders of ``.txt`` files, as
    ``keras.utils.text_dataset_from_directory`` (Keras' arguments and defaults).

    Args:
        directory: the folder. With ``labels="inferred"`` it holds one sub-folder per class.
        labels: ``"inferred"``, ``None`` (texts only) or a list of integer labels, one per
            ``.txt`` file in sorted path order.
        label_mode: ``"int"``, ``"categorical"``, ``"binary"`` (exactly two classes) or ``None``.
        class_names: with inferred labels, the sub-folders to use, in this order.
        batch_size: texts per batch (default 32); ``None`` yields single texts.
        max_length: keep at most this many bytes of each text (``None``: all of it).
        shuffle, seed, validation_split, subset, follow_links, verbose: as
            ``image_dataset_from_directory``.
        format: ``"tf"`` or ``"grain"``, accepted for Keras programs; both give a
            :class:`TextDataset`.

    Returns:
        A :class:`TextDataset` (``model.fit`` and ``TextVectorization.adapt`` take it), with
        ``class_names`` and ``file_paths``; for ``subset="both"`` a list ``[training, validation]``.
    """
    labels = _check_labels(labels, class_names, WHERE)
    if label_mode not in LABEL_MODES:
        raise ValueError(f'{WHERE}: `label_mode` argument must be one of "int", "categorical", '
                         f'"binary", or None. Received: label_mode={label_mode!r}')
    if format not in ("tf", "grain"):
        raise ValueError(f'{WHERE}: `format` should be either "tf" or "grain". Received: '
                         f"format={format!r}")
    if labels is None or label_mode is None:
        labels, label_mode = None, None
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(
            batch_size, numbers.Integral) or batch_size <= 0):
        raise ValueError(f"{WHERE}: expected batch_size to be a positive integer or None, "
                         f"received {batch_size!r}")
    if max_length is not None and (isinstance(max_length, bool) or not isinstance(
            max_length, numbers.Integral) or max_length <= 0):
        raise ValueError(f"{WHERE}: expected max_length to be a positive integer or None, "
                         f"received {max_length!r}")
    _check_validation_split(validation_split, subset, shuffle, seed, WHERE)
    if not os.path.isdir(directory):
        raise ValueError(f"{WHERE}: expected `directory` to be a folder of text files, received "
                         f"{os.fspath(directory)!r}, which is not a directory")

    if seed is None:
        seed = np.random.randint(1e6)  # Keras draws it from NumPy's global generator too
    inferred = isinstance(labels, str)
    file_paths, labels, class_names = index_directory(directory, labels, class_names, follow_links,
                                                      verbose, TEXT_FORMATS, WHERE)
    if inferred and not class_names:
        raise ValueError(f"{WHERE}: with labels='inferred', expected `directory` to hold one "
                         f"sub-folder per class, but {os.fspath(directory)!r} has no sub-folders")
    if shuffle:
        file_paths, labels = shuffle_file_list(file_paths, labels, seed)
    if label_mode == "binary" and len(class_names) != 2:
        raise ValueError(f'{WHERE}: when passing `label_mode="binary"`, there must be exactly 2 '
                         f"class_names. Received: class_names={class_names}")

    def dataset(paths, subset_labels, subset_shuffle):
        return TextDataset(paths, subset_labels, label_mode, class_names, max_length, batch_size,
                           subset_shuffle, seed)

    if subset == "both":
        halves = [training_or_validation_split(file_paths, labels, validation_split, name)
                  for name in ("training", "validation")]
        for name, (paths, _) in zip(("training", "validation"), halves, strict=True):
            if not paths:
                raise ValueError(f"{WHERE}: no {name} text files found in directory "
                                 f"{os.fspath(directory)!r}. Allowed format: .txt")
        # Keras shuffles the training half each epoch, never the validation half of "both".
        return [dataset(*halves[0], shuffle), dataset(*halves[1], False)]
    paths, subset_labels = training_or_validation_split(file_paths, labels, validation_split, subset)
    if not paths:
        raise ValueError(f"{WHERE}: no text files found in directory {os.fspath(directory)!r}. "
                         "Allowed format: .txt")
    return dataset(paths, subset_labels, shuffle)


class TextDataset(FileDataset):
    """The batches of :func:`text_dataset_from_directory` (see
    :class:`scratchnet.utils.image_dataset.FileDataset`): texts as a ``(B,)`` object array of
    ``bytes``, each a file's first ``max_length`` bytes, read when their batch is asked for."""

    def __init__(self, file_paths, labels, label_mode, class_names, max_length, batch_size, shuffle,
                 seed):
        self.max_length = max_length
        super().__init__(file_paths, labels, label_mode, class_names, batch_size, shuffle, seed)

    def load(self, k: int) -> bytes:
        path = self.file_paths[k]
        try:
            with open(path, "rb") as f:
                text = f.read()
        except OSError as err:
            raise ValueError(f"{WHERE}: could not read the text file {path!r} ({err})") from err
        return text if self.max_length is None else text[:self.max_length]

    def collate(self, samples: list) -> np.ndarray:
        batch = np.empty(len(samples), dtype=object)  # (B,) of bytes, as tf.string's .numpy()
        batch[:] = samples
        return batch

    def __repr__(self) -> str:
        return (f"<TextDataset: {len(self.file_paths)} files, {len(self)} batches of "
                f"{self.batch_size}, max_length={self.max_length}, class_names={self.class_names}>")


# ---------------------------------------------------------------------------------- time series
def timeseries_dataset_from_array(data, targets, sequence_length, sequence_stride=1, sampling_rate=1,
                                  batch_size=128, shuffle=False, seed=None, start_index=None,
                                  end_index=None, format="tf"):
    """Sliding windows over a series, as ``keras.utils.timeseries_dataset_from_array``.

    Window ``i`` starts at ``s_i = i * sequence_stride`` (counted from ``start_index``) and holds
    ``data[s_i + k * sampling_rate]`` for ``k < sequence_length``; its target is ``targets[s_i]``
    (``targets=None``: windows only). There are
    ``n = end_index - start_index - (sequence_length - 1) * sampling_rate`` start positions at
    most (and no more than ``len(targets)``). Returns a :class:`TimeseriesDataset` of
    ``(windows (B, sequence_length, ...), targets (B, ...))`` batches, dtypes kept.
    """
    where = "timeseries_dataset_from_array"
    data = np.asarray(data)
    if data.ndim < 1 or len(data) == 0:
        raise ValueError(f"{where}: expected `data` to be an array with at least one time step, "
                         f"received shape {data.shape}")
    if targets is not None:
        targets = np.asarray(targets)
    for arg, value in (("sequence_length", sequence_length), ("sequence_stride", sequence_stride),
                       ("sampling_rate", sampling_rate)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
            raise ValueError(f"{where}: `{arg}` must be higher than 0. Received: {arg}={value!r}")
    if sampling_rate >= len(data):
        raise ValueError(f"{where}: `sampling_rate` must be lower than the length of the data. "
                         f"Received: sampling_rate={sampling_rate}, for data of length {len(data)}")
    if sequence_stride >= len(data):
        raise ValueError(f"{where}: `sequence_stride` must be lower than the length of the data. "
                         f"Received: sequence_stride={sequence_stride}, for data of length "
                         f"{len(data)}")
    if start_index and not 0 <= start_index < len(data):
        raise ValueError(f"{where}: `start_index` must be 0 or greater and lower than the length of "
                         f"the data. Received: start_index={start_index}, for data of length "
                         f"{len(data)}")
    if end_index:
        if start_index and end_index <= start_index:
            raise ValueError(f"{where}: `end_index` must be higher than `start_index`. Received: "
                             f"start_index={start_index}, and end_index={end_index}")
        if not 0 < end_index < len(data):
            raise ValueError(f"{where}: `end_index` must be higher than 0 and lower than the length "
                             f"of the data. Received: end_index={end_index}, for data of length "
                             f"{len(data)}")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(
            batch_size, numbers.Integral) or batch_size <= 0):
        raise ValueError(f"{where}: expected batch_size to be a positive integer or None, "
                         f"received {batch_size!r}")
    if format not in ("tf", "grain"):
        raise ValueError(f'{where}: `format` should be either "tf" or "grain". Received: '
                         f"format={format!r}")
    start_index = start_index or 0
    end_index = end_index or len(data)
    num_seqs = end_index - start_index - (sequence_length - 1) * sampling_rate
    if targets is not None:
        num_seqs = min(num_seqs, len(targets))
    if num_seqs <= 0:  # (Keras returns an empty dataset here; fit would then see no data)
        raise ValueError(f"{where}: no window fits: {end_index - start_index} steps from start_index="
                         f"{start_index} to end_index={end_index} are fewer than a window's "
                         f"(sequence_length - 1) * sampling_rate + 1 = "
                         f"{(sequence_length - 1) * sampling_rate + 1}")
    starts = np.arange(0, num_seqs, sequence_stride)
    if shuffle:
        if seed is None:
            seed = np.random.randint(1e6)
        np.random.RandomState(seed).shuffle(starts)  # Keras' one-off shuffle, exactly
    return TimeseriesDataset(data[start_index:end_index],
                             None if targets is None else targets[start_index:end_index], starts,
                             sequence_length, sampling_rate, batch_size, shuffle, seed)


class TimeseriesDataset(BatchesInPasses):
    """The batches of :func:`timeseries_dataset_from_array`: ``len(ds)`` batches, ``ds[i]`` is
    ``(windows, targets)`` (windows alone without targets), cut from the arrays when asked for.
    ``starts`` holds each window's first index, in the order the windows come (before a per-pass
    shuffle: :class:`~scratchnet.utils.dataset_ops.BatchesInPasses`)."""

    def __init__(self, data, targets, starts, sequence_length, sampling_rate, batch_size, shuffle,
                 seed):
        self.data, self.targets, self.starts = data, targets, starts
        self.offsets = np.arange(sequence_length) * sampling_rate  # k * r within a window
        super().__init__(len(starts), batch_size, shuffle, seed)

    def __getitem__(self, index: int):
        starts = self.starts[self.batch_items(index)]  # (B,)
        windows = self.data[starts[:, None] + self.offsets[None, :]]  # (B, L, ...)
        if self.batch_size is None:
            windows, starts = windows[0], starts[0]
        return windows if self.targets is None else (windows, self.targets[starts])

    def __repr__(self) -> str:
        return (f"<TimeseriesDataset: {len(self.starts)} windows of {len(self.offsets)} steps, "
                f"{len(self)} batches of {self.batch_size}>")
