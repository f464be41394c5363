"""``audio_dataset_from_directory``: batches of WAV clips and labels from class folders, as Keras 3.15.

Given ``main/yes/*.wav`` and ``main/no/*.wav`` (the speech-commands layout), it yields
``(audio, labels)`` batches, labels 0 for ``no`` and 1 for ``yes`` (sorted folder names). The steps
are ``image_dataset_from_directory``'s (:mod:`scratchnet.utils.image_dataset`), with ``.wav`` files:
index the class folders in sorted order, shuffle the file list once with
``np.random.RandomState(seed)``, take the last ``int(validation_split * N)`` files for validation,
and reshuffle the training files in a buffer of ``8 * batch_size`` each pass (that per-pass order
is scratchnet's own: TensorFlow's random numbers cannot be reproduced).

**A clip** is read with Python's ``wave`` module (uncompressed PCM) and scaled to ``[-1, 1)`` as
``tf.audio.decode_wav`` does: a 16-bit sample ``s`` becomes ``s / 32768``, float32, shape
``(samples, channels)``. (TensorFlow decodes 16-bit PCM only; 8-bit (unsigned, ``(s - 128) / 128``),
24-bit and 32-bit PCM are read here too, ``s / 2^(bits - 1)``.) With ``output_sequence_length=L``
every clip is cut to its first ``L`` samples or padded with zeros to ``L``; without it the clips of
a batch are padded with zeros to the longest of them (Keras' ``padded_batch``).

Every file's header is read when the dataset is made, so a file that is not a PCM WAV, clips of
different sampling rates (or channel counts), or a ``sampling_rate`` the files do not have raise a
``ValueError`` naming the file at once, not in the middle of training. (Keras resamples to
``sampling_rate`` with ``tensorflow_io``; scratchnet has no resampler and refuses a rate the files
do not have.)

Labels: ``"int"`` -> int32 ``(B,)``; ``"categorical"`` -> float32 one-hot ``(B, K)``; ``"binary"``
-> float32 ``(B, 1)``; ``None`` -> clips only.
"""

from __future__ import annotations

import numbers
import os
import wave

import numpy as np

from scratchnet.utils.image_dataset import (
    LABEL_MODES,
    FileDataset,
    _check_labels,
    _check_validation_split,
    index_directory,
    shuffle_file_list,
    training_or_validation_split,
)

WHERE = "audio_dataset_from_directory"
ALLOWED_FORMATS = (".wav",)


def audio_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None,
                                 batch_size=32, sampling_rate=None, output_sequence_length=None,
                                 ragged=False, shuffle=True, seed=None, validation_split=None,
                                 subset=None, follow_links=False, verbose=True):
    """Audio batches from a folder of class sub-folders of ``.wav`` files, as
    ``keras.utils.audio_dataset_from_directory`` (Keras' arguments and defaults).

    Args:
        directory: the folder. With ``labels="inferred"`` it holds one sub-folder per class.
        labels: ``"inferred"``, ``None`` (clips only) or a list of integer labels, one per
            ``.wav`` file in sorted path order.
        label_mode: ``"int"``, ``"categorical"``, ``"binary"`` (exactly two classes) or ``None``.
        class_names: with inferred labels, the sub-folders to use, in this order.
        batch_size: clips per batch (default 32); ``None`` yields single clips.
        sampling_rate: the rate (samples per second) the clips must have; ``None`` takes theirs,
            which must then be one rate for all.
        output_sequence_length: cut or zero-pad every clip to this many samples; ``None`` pads
            each batch to its longest clip.
        ragged: must be ``False`` (Keras' ragged tensors have no NumPy twin here).
        shuffle, seed, validation_split, subset, follow_links, verbose: as
            ``image_dataset_from_directory``.

    Returns:
        An :class:`AudioDataset` (``model.fit`` takes it) of ``(audio (B, samples, channels)
        float32, labels)`` batches, with ``class_names``, ``file_paths`` and ``sampling_rate``;
        for ``subset="both"`` a list ``[training, validation]``.
    """
    labels = _check_labels(labels, class_names, WHERE)
    if label_mode not in LABEL_MODES:
        raise ValueError(f'{WHERE}: `label_mode` argument must be one of "int", "categorical", '
                         f'"binary", or None. Received: label_mode={label_mode!r}')
    if ragged and output_sequence_length is not None:
        raise ValueError(f"{WHERE}: Cannot set both `ragged` and `output_sequence_length`")
    if ragged:
        raise ValueError(f"{WHERE}: ragged=True (Keras' tf.RaggedTensor batches) is not supported by "
                         "scratchnet; use ragged=False (batches padded with zeros) or "
                         "output_sequence_length")
    if sampling_rate is not None:
        if isinstance(sampling_rate, bool) or not isinstance(sampling_rate, numbers.Integral):
            raise ValueError(f"{WHERE}: `sampling_rate` should have an integer value. Received: "
                             f"sampling_rate={sampling_rate!r}")
        if sampling_rate <= 0:
            raise ValueError(f"{WHERE}: `sampling_rate` should be higher than 0. Received: "
                             f"sampling_rate={sampling_rate}")
    for arg, value in (("batch_size", batch_size), ("output_sequence_length", output_sequence_length)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral)
                                  or value <= 0):
            raise ValueError(f"{WHERE}: expected {arg} to be a positive integer or None, "
                             f"received {value!r}")
    if labels is None or label_mode is None:
        labels, label_mode = None, None
    _check_validation_split(validation_split, subset, shuffle, seed, WHERE)
    if not os.path.isdir(directory):
        raise ValueError(f"{WHERE}: expected `directory` to be a folder of WAV files, received "
                         f"{os.fspath(directory)!r}, which is not a directory")

    if seed is None:
        seed = np.random.randint(1e6)  # Keras draws it from NumPy's global generator too
    inferred = isinstance(labels, str)
    file_paths, labels, class_names = index_directory(directory, labels, class_names, follow_links,
                                                      verbose, ALLOWED_FORMATS, WHERE)
    if inferred and not class_names:
        raise ValueError(f"{WHERE}: with labels='inferred', expected `directory` to hold one "
                         f"sub-folder per class, but {os.fspath(directory)!r} has no sub-folders")
    if not file_paths:
        raise ValueError(f"{WHERE}: No audio files found in directory {os.fspath(directory)!r}. "
                         f"Allowed format(s): {ALLOWED_FORMATS}")
    rate = _common_rate(file_paths, sampling_rate)
    if shuffle:
        file_paths, labels = shuffle_file_list(file_paths, labels, seed)
    if label_mode == "binary" and len(class_names) != 2:
        raise ValueError(f'{WHERE}: when passing `label_mode="binary"`, there must be exactly 2 '
                         f"class_names. Received: class_names={class_names}")

    def dataset(paths, subset_labels, subset_shuffle):
        return AudioDataset(paths, subset_labels, label_mode, class_names, rate, output_sequence_length,
                            batch_size, subset_shuffle, seed)

    if subset == "both":
        halves = [training_or_validation_split(file_paths, labels, validation_split, name)
                  for name in ("training", "validation")]
        for name, (paths, _) in zip(("training", "validation"), halves, strict=True):
            if not paths:
                raise ValueError(f"{WHERE}: No {name} audio files found in directory "
                                 f"{os.fspath(directory)!r}. Allowed format(s): {ALLOWED_FORMATS}")
        # Keras shuffles the training half each epoch, never the validation half of "both".
        return [dataset(*halves[0], shuffle), dataset(*halves[1], False)]
    paths, subset_labels = training_or_validation_split(file_paths, labels, validation_split, subset)
    if not paths:
        raise ValueError(f"{WHERE}: No audio files found in directory {os.fspath(directory)!r} for "
                         f"subset={subset!r}. Allowed format(s): {ALLOWED_FORMATS}")
    return dataset(paths, subset_labels, shuffle)


class AudioDataset(FileDataset):
    """The batches of :func:`audio_dataset_from_directory` (see
    :class:`scratchnet.utils.image_dataset.FileDataset`): clips as float32 ``(B, samples,
    channels)``, read when their batch is asked for. ``sampling_rate``: the clips' rate."""

    def __init__(self, file_paths, labels, label_mode, class_names, sampling_rate,
                 output_sequence_length, batch_size, shuffle, seed):
        self.sampling_rate = sampling_rate
        self.output_sequence_length = output_sequence_length
        super().__init__(file_paths, labels, label_mode, class_names, batch_size, shuffle, seed)

    def load(self, k: int) -> np.ndarray:
        audio, _ = read_wav(self.file_paths[k])
        length = self.output_sequence_length
        if length is not None:  # tf.audio.decode_wav(desired_samples=length): cut or zero-pad
            audio = np.pad(audio[:length], [(0, max(0, length - len(audio))), (0, 0)])
        return audio

    def collate(self, samples: list) -> np.ndarray:
        """Clips zero-padded at the end to the longest of the batch (Keras' ``padded_batch``)."""
        longest = max(len(s) for s in samples)
        return np.stack([np.pad(s, [(0, longest - len(s)), (0, 0)]) for s in samples])  # (B, T, C)

    def __repr__(self) -> str:
        return (f"<AudioDataset: {len(self.file_paths)} files at {self.sampling_rate} Hz, {len(self)} "
                f"batches of {self.batch_size}, class_names={self.class_names}>")


def read_wav(path) -> tuple[np.ndarray, int]:
    """``(audio (samples, channels) float32, sampling rate)`` of an uncompressed PCM WAV file, scaled
    as ``tf.audio.decode_wav``: ``s / 2^(bits - 1)`` (8-bit samples are unsigned: ``(s - 128) / 128``)."""
    channels, width, rate, frames = wav_header(path)
    with wave.open(os.fspath(path), "rb") as f:
        data = f.readframes(frames)
    if len(data) != frames * channels * width:
        raise ValueError(f"{WHERE}: the WAV file {os.fspath(path)!r} is cut short: its header "
                         f"announces {frames} frames, the file holds {len(data) // (channels * width)}")
    if width == 1:
        samples = (np.frombuffer(data, np.uint8).astype(np.float32) - 128) / 128
    elif width == 3:  # 24-bit little-endian: sign-extend each 3-byte sample to 32 bits
        raw = np.frombuffer(data, np.uint8).reshape(-1, 3).astype(np.int32)
        ints = raw[:, 0] | (raw[:, 1] << 8) | (raw[:, 2] << 16)
        ints = np.where(ints >= 1 << 23, ints - (1 << 24), ints)
        samples = ints.astype(np.float32) / np.float32(1 << 23)
    else:
        ints = np.frombuffer(data, "<i2" if width == 2 else "<i4")
        samples = ints.astype(np.float32) / np.float32(2.0 ** (8 * width - 1))
    return samples.reshape(frames, channels), rate  # (samples, channels)


def wav_header(path) -> tuple[int, int, int, int]:
    """``(channels, bytes per sample, sampling rate, frames)`` of a WAV file; a file ``wave`` cannot
    read (not RIFF/WAVE, compressed, truncated header) raises a ``ValueError`` naming it."""
    try:
        with wave.open(os.fspath(path), "rb") as f:
            return f.getnchannels(), f.getsampwidth(), f.getframerate(), f.getnframes()
    except (wave.Error, EOFError, OSError) as err:
        raise ValueError(f"{WHERE}: could not read {os.fspath(path)!r} as an uncompressed PCM WAV "
                         f"file ({err})") from err


def _common_rate(file_paths: list, sampling_rate) -> int:
    """The one sampling rate (and channel count) of all the files, read from their headers."""
    first = None
    for path in file_paths:
        channels, width, rate, _ = wav_header(path)
        if width not in (1, 2, 3, 4):
            raise ValueError(f"{WHERE}: {path!r} has {8 * width}-bit samples; expected 8, 16, 24 or "
                             "32-bit PCM")
        if sampling_rate is not None and rate != sampling_rate:
            raise ValueError(f"{WHERE}: {path!r} is sampled at {rate} Hz, not at sampling_rate="
                             f"{sampling_rate}; scratchnet does not resample (Keras does it with "
                             "tensorflow_io): convert the files, or pass sampling_rate=None")
        if first is None:
            first = (path, rate, channels)
        elif rate != first[1]:
            raise ValueError(f"{WHERE}: the files have different sampling rates: {first[0]!r} at "
                             f"{first[1]} Hz, {path!r} at {rate} Hz; a batch of clips needs one rate")
        elif channels != first[2]:
            raise ValueError(f"{WHERE}: the files have different channel counts: {first[0]!r} has "
                             f"{first[2]}, {path!r} has {channels}")
    return first[1]
