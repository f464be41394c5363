"""Small ``keras.utils`` helpers course programs call, each as Keras 3.15 defines it:

- :func:`pack_x_y_sample_weight` / :func:`unpack_x_y_sample_weight`: ``(x, y, sample_weight)``
  tuples as ``fit`` and a ``train_step`` read them.
- :func:`split_dataset`: arrays (or a tuple/list of arrays of one length) split into a left and
  a right part. Keras shuffles with Python's ``random.seed(seed); random.shuffle(samples)`` and
  takes the first ``left_size`` and the last ``right_size`` samples (a fraction is
  ``round(fraction * n)``); scratchnet does the same with its own ``random.Random(seed)``, so the
  split is Keras' sample for sample. Keras wraps each part in ``tf.data.Dataset.from_tensor_slices``;
  scratchnet returns the arrays (an array, or a tuple of arrays), which ``fit`` takes directly.
- :func:`array_to_img` / :func:`save_img`: a ``(H, W, C)`` array as a Pillow image / file
  (``scale=True`` maps ``[min, max]`` to ``[0, 255]``).
- :func:`get_source_inputs`: the ``Input`` tensors a symbolic tensor was computed from.
- :class:`Progbar`: Keras' progress bar; its running averages (``_values``) follow Keras' rule.
- :func:`get_file`: the path Keras' ``get_file`` caches a download under, for a file already
  there (extracted as Keras extracts it); scratchnet never downloads.
"""

from __future__ import annotations

import math
import os
import random
import sys
import tarfile
import time
import urllib.parse
import warnings
import zipfile
from pathlib import Path

import numpy as np


def unpack_x_y_sample_weight(data):
    """``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)`` -> ``(x, y, sample_weight)``, with
    None for what is missing (a list counts as a tuple)."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return (data, None, None)
    if len(data) == 1:
        return (data[0], None, None)
    if len(data) == 2:
        return (data[0], data[1], None)
    if len(data) == 3:
        return (data[0], data[1], data[2])
    raise ValueError("Data is expected to be in format `x`, `(x,)`, `(x, y)`, "
                     f"or `(x, y, sample_weight)`, found: {data}")


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    """The tuple ``fit`` expects: ``x`` alone (``(x,)`` if ``x`` is a tuple or list),
    ``(x, y)`` or ``(x, y, sample_weight)``."""
    if y is None:
        return x if not isinstance(x, tuple | list) else (x,)
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)


# ---------------------------------------------------------------------------- split_dataset
def _samples(dataset) -> list:
    """The dataset as a list of samples: rows of an array, or tuples of rows."""
    if isinstance(dataset, np.ndarray):
        return list(dataset)
    if isinstance(dataset, tuple | list) and dataset:
        arrays = [np.asarray(a) for a in dataset]
        lengths = {len(a) for a in arrays}
        if len(lengths) != 1:
            raise ValueError("Received a list of NumPy arrays with different lengths. "
                             f"Lengths: {[len(a) for a in arrays]}")
        return list(zip(*arrays, strict=True))
    raise TypeError("The `dataset` argument must be either a NumPy array or a list/tuple of "
                    f"arrays (scratchnet has no tf.data). Received: dataset={dataset!r:.100} of "
                    f"type {type(dataset)}")


def _split_sizes(left_size, right_size, total_length: int) -> tuple[int, int]:
    """Keras' ``_rescale_dataset_split_sizes``: fractions in ``(0, 1)`` or counts in ``(0, n)``."""
    for arg, value in (("left_size", left_size), ("right_size", right_size)):
        if value is not None and type(value) not in (int, float):
            raise TypeError(f"Invalid `{arg}` Type. Expected: int or float or None, "
                            f"Received: type({arg})={type(value)}.")
    if left_size == 0 and right_size == 0:
        raise ValueError("Both `left_size` and `right_size` are zero. "
                         "At least one of the split sizes must be non-zero.")
    for arg, value in (("left_size", left_size), ("right_size", right_size)):
        if type(value) is int and (value <= 0 or value >= total_length) or \
                type(value) is float and (value <= 0 or value >= 1):
            raise ValueError(f"`{arg}` should be either a positive integer smaller than "
                             f"{total_length}, or a float within the range `[0, 1]`. Received: "
                             f"{arg}={value}")
    if type(left_size) is type(right_size) is float and left_size + right_size > 1:
        raise ValueError("The sum of `left_size` and `right_size` is greater than 1. It must be "
                         "less than or equal to 1.")
    left = round(left_size * total_length) if type(left_size) is float else left_size
    right = round(right_size * total_length) if type(right_size) is float else right_size
    if left is None:
        left = total_length - right
    elif right is None:
        right = total_length - left
    if left + right > total_length:
        raise ValueError(f"The sum of `left_size` and `right_size` should be smaller than the "
                         f"{total_length}. Received: left_size + right_size = {left + right}")
    for split, side in ((left, "left"), (right, "right")):
        if split == 0:
            raise ValueError(f"With `dataset` of length={total_length}, `left_size`={left} and "
                             f"`right_size`={right}. Resulting {side} side dataset split will be "
                             "empty. Adjust any of the aforementioned parameters")
    return int(left), int(right)


def _restore(samples: list, like):
    if isinstance(like, np.ndarray):
        return np.array(samples)
    return tuple(np.array(column) for column in zip(*samples, strict=True))


def split_dataset(dataset, left_size=None, right_size=None, shuffle: bool = False, seed=None,
                  preferred_backend=None):
    """``(left, right)``: the first ``left_size`` and the last ``right_size`` samples of
    ``dataset`` (after Keras' Python-``random`` shuffle when ``shuffle=True``); each part has the
    dataset's form (an array, or a tuple of arrays)."""
    if left_size is None and right_size is None:
        raise ValueError("At least one of the `left_size` or `right_size` must be specified. "
                         "Received: left_size=None and right_size=None")
    samples = _samples(dataset)
    if shuffle:
        if seed is None:
            seed = random.randint(0, int(1e6))
        random.Random(seed).shuffle(samples)  # Keras: random.seed(seed); random.shuffle(...)
    left, right = _split_sizes(left_size, right_size, len(samples))
    return _restore(samples[:left], dataset), _restore(samples[-right:], dataset)


# ---------------------------------------------------------------------------- images
def array_to_img(x, data_format=None, scale: bool = True, dtype=None):
    """A ``(H, W, C)`` array (``C`` = 1, 3 or 4) as a Pillow image (modes L/I, RGB, RGBA).

    ``scale=True``: ``x - min(x)``, divided by its max (if not 0), times 255, as Keras.
    """
    from PIL import Image

    from scratchnet import config

    if data_format not in (None, "channels_last"):
        raise ValueError(f"array_to_img: scratchnet images are channels_last; received "
                         f"data_format={data_format!r}")
    x = np.asarray(x, dtype=dtype or config.floatx())
    if x.ndim != 3:
        raise ValueError("Expected image array to have rank 3 (single image). "
                         f"Got array with shape: {x.shape}")
    if scale:
        x = x - np.min(x)
        x_max = np.max(x)
        if x_max != 0:
            x /= x_max
        x *= 255
    if x.shape[2] == 4:
        return Image.fromarray(x.astype("uint8"), "RGBA")
    if x.shape[2] == 3:
        return Image.fromarray(x.astype("uint8"), "RGB")
    if x.shape[2] == 1:
        if np.max(x) > 255:  # 32-bit signed integer grayscale: PIL mode "I"
            return Image.fromarray(x[:, :, 0].astype("int32"), "I")
        return Image.fromarray(x[:, :, 0].astype("uint8"), "L")
    raise ValueError(f"Unsupported channel number: {x.shape[2]}")


def save_img(path, x, data_format=None, file_format=None, scale: bool = True, **kwargs) -> None:
    """Write the array ``x`` as an image file; the format comes from the extension (``jpg`` is
    ``jpeg``); an RGBA image written as JPEG becomes RGB, with Keras' warning."""
    if file_format is None and isinstance(path, str | Path):
        file_format = Path(path).suffix[1:].lower()
    if file_format and file_format.lower() == "jpg":
        file_format = "jpeg"
    img = array_to_img(x, data_format=data_format, scale=scale)
    if img.mode == "RGBA" and file_format == "jpeg":
        warnings.warn("The JPEG format does not support RGBA images, converting to RGB.",
                      stacklevel=2)
        img = img.convert("RGB")
    img.save(path, format=file_format, **kwargs)


# ---------------------------------------------------------------------------- graphs
def get_source_inputs(tensor) -> list:
    """The ``Input`` tensors ``tensor`` was computed from, each once, in the order met (Keras'
    recursion); anything that is not a symbolic tensor comes back unchanged."""
    from scratchnet.layers.input_layer import InputLayer, KerasTensor

    if not isinstance(tensor, KerasTensor):
        return tensor
    node = tensor.node
    if node is None:
        return [tensor]
    if isinstance(node.layer, InputLayer):
        return [node.layer.output]
    sources = []
    for t in node.inputs:
        for x in get_source_inputs(t):
            if all(x is not s for s in sources):
                sources.append(x)
    return sources


# ---------------------------------------------------------------------------- Progbar
class Progbar:
    """Keras' progress bar: ``update(current, values)`` / ``add(n, values)``.

    The averages are Keras': a value given at step ``current`` counts ``current - seen`` times
    (at least once); a name in ``stateful_metrics`` shows its last value; at the final update
    (``current >= target``) each value shows as given. Printed: ``current/target``, a bar of
    ``width`` characters, seconds so far and ``name: value`` (4 decimals, or ``.4e`` below 1e-3)
    with ``verbose=1``; one line at the end with ``verbose=2``.
    """

    def __init__(self, target, width: int = 20, verbose: int = 1, interval: float = 0.05,
                 stateful_metrics=None, stateless_metrics=None, unit_name: str = "step"):
        if stateful_metrics is not None and stateless_metrics is not None:
            raise ValueError("Only one of `stateful_metrics` or `stateless_metrics` can be provided.")
        self.target, self.width, self.verbose = target, width, verbose
        self.interval, self.unit_name = interval, unit_name
        self.stateful_metrics = set(stateful_metrics) if stateful_metrics is not None else (
            set() if stateless_metrics is None else None)
        self.stateless_metrics = set(stateless_metrics) if stateless_metrics is not None else None
        self._seen_so_far = 0
        self._values: dict = {}
        self._values_order: list = []
        self._start = time.time()
        self._last_update = 0.0

    def update(self, current, values=None, finalize=None) -> None:
        if finalize is None:
            finalize = False if self.target is None else current >= self.target
        for k, v in values or []:
            if k not in self._values_order:
                self._values_order.append(k)
            stateless = (k not in self.stateful_metrics if self.stateful_metrics is not None
                         else k in self.stateless_metrics)
            if stateless and not finalize:
                value_base = max(current - self._seen_so_far, 1)
                if k not in self._values:
                    self._values[k] = [v * value_base, value_base]
                else:
                    self._values[k][0] += v * value_base
                    self._values[k][1] += value_base
            else:
                self._values[k] = [v, 1]
        self._seen_so_far = current
        now = time.time()
        if self.verbose == 1 and (finalize or now - self._last_update >= self.interval):
            sys.stdout.write("\r" + self._line(current) + ("\n" if finalize else ""))
            sys.stdout.flush()
        elif self.verbose == 2 and finalize and self.target:
            sys.stdout.write(self._line(current, bar=False) + "\n")
            sys.stdout.flush()
        self._last_update = now

    def add(self, n, values=None) -> None:
        self.update(self._seen_so_far + n, values)

    def _line(self, current, bar: bool = True) -> str:
        if self.target:
            digits = int(math.log10(self.target)) + 1
            text = f"{current:{digits}d}/{self.target}"
            if bar:
                done = int(self.width * current / self.target)
                text += " [" + "=" * done + "." * (self.width - done) + "]"
        else:
            text = f"{current:7d}/Unknown"
        text += f" - {time.time() - self._start:.0f}s"
        for k in self._values_order:
            total, count = self._values[k]
            avg = float(np.mean(total)) / max(1, count)
            text += f" - {k}: {avg:.4f}" if abs(avg) > 1e-3 else f" - {k}: {avg:.4e}"
        return text


# ---------------------------------------------------------------------------- get_file
def get_file(fname=None, origin=None, untar: bool = False, md5_hash=None, file_hash=None,
             cache_subdir: str = "datasets", hash_algorithm: str = "auto", extract: bool = False,
             archive_format="auto", cache_dir=None, force_download: bool = False) -> str:
    """Keras' ``get_file`` for a file already in the cache: the same path Keras returns.

    The file is ``<cache_dir or KERAS_HOME>/<cache_subdir>/<fname>`` (``fname`` defaults to the
    last part of ``origin``'s URL). With ``extract=True`` (or ``untar=True``) Keras keeps the
    archive as ``<fname>_archive`` (or as ``fname`` itself when it has an extension), extracts it
    into ``<fname>`` (or ``<name>_extracted``) and returns that folder; scratchnet extracts the
    cached archive the same way (tar or zip, no member outside the folder). Keras downloads a
    missing file (and again when ``file_hash`` differs); scratchnet raises ``FileNotFoundError``
    naming the path and ``origin`` instead, and does not check hashes.
    """
    from scratchnet.datasets.keras_cache import keras_home

    if origin is None:
        raise ValueError('Please specify the "origin" argument (URL of the file to download).')
    base = Path(cache_dir).expanduser() if cache_dir is not None else keras_home()
    if base.exists() and not os.access(base, os.W_OK):
        base = Path("/tmp/.keras")
    datadir = base / cache_subdir
    provided = fname
    fname = os.fspath(fname) if fname else ""
    if not fname:
        fname = os.path.basename(urllib.parse.urlsplit(origin).path)
        if not fname:
            raise ValueError(f"Can't parse the file name from the origin provided: '{origin}'."
                             "Please specify the `fname` argument.")
    elif os.sep in fname:
        raise ValueError("Paths are no longer accepted as the `fname` argument. To specify the "
                         f"file's parent directory, use the `cache_dir` argument. Received: fname={fname}")
    if (extract or untar) and provided and "." in fname:
        target = datadir / fname
        extraction_dir = datadir / f"{fname[:fname.find('.')]}_extracted"
    elif extract or untar:
        target, extraction_dir = datadir / f"{fname}_archive", datadir / fname
    else:
        target = datadir / fname
    if force_download or not target.is_file():
        why = "force_download=True asks for a download" if force_download else "no file"
        raise FileNotFoundError(f"get_file: {why} at {str(target)!r}; scratchnet never downloads. "
                                f"Download {origin} and save it as {str(target)!r} (or run the "
                                "same get_file once with Keras, which caches it there)")
    if extract or untar:
        _extract(target, extraction_dir, "tar" if untar else archive_format)
        return str(extraction_dir)
    return str(target)


def _extract(archive: Path, folder: Path, archive_format) -> None:
    """Extract a tar or zip archive into ``folder``; members that would land outside it are
    refused (Keras' rule)."""
    formats = ["tar", "zip"] if archive_format == "auto" else (
        [archive_format] if isinstance(archive_format, str) else list(archive_format or []))
    if "tar" in formats and tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tar:
            tar.extractall(folder, filter="data")  # refuses absolute paths, "..", odd links
        return
    if "zip" in formats and zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            root = folder.resolve()
            for name in zf.namelist():
                if not (root / name).resolve().is_relative_to(root):
                    raise ValueError(f"get_file: archive member {name!r} would be written outside "
                                     f"{str(folder)!r}")
            zf.extractall(folder)
        return
    warnings.warn("Could not extract archive.", stacklevel=3)
