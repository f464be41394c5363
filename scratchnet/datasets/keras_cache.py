"""Where Keras keeps the files its ``keras.datasets`` loaders download, and reading them safely.

Keras' ``get_file`` downloads each data set once into ``$KERAS_HOME/datasets/`` (``KERAS_HOME``
defaults to ``~/.keras``, or ``/tmp/.keras`` when the home folder is not writable) and reads it
from there afterwards. scratchnet's loaders (:mod:`scratchnet.datasets.mnist`, ...) read the same
files under the same names and never download: a missing file is a ``FileNotFoundError`` that
says where to put it and where Keras fetches it from. Keras checks a downloaded file's hash and
downloads again when it differs; scratchnet reads the file that is there.

Two files need care: ``.npz`` files whose arrays hold Python lists (IMDB, Reuters) and CIFAR's
batches are Python pickles. Like Keras (``keras/src/datasets/npz_utils.py``), they are read with
an unpickler that builds NumPy arrays and nothing else, so a file cannot run code.
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np

ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"

# The only globals a data set pickle may name: NumPy's array reconstruction (Keras' list).
_ALLOWED_PICKLE_GLOBALS = frozenset({
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
})


def keras_home() -> Path:
    """Keras' home folder: ``$KERAS_HOME``, else ``~/.keras`` (``/tmp/.keras`` when the home
    folder is not writable), read at each call so a changed ``KERAS_HOME`` takes effect."""
    if os.environ.get("KERAS_HOME"):
        return Path(os.environ["KERAS_HOME"]).expanduser()
    home = os.path.expanduser("~")
    return Path(home if os.access(home, os.W_OK) else "/tmp") / ".keras"


def datasets_dir(cache_subdir: str = "datasets") -> Path:
    """The folder ``get_file`` stores data sets in: ``keras_home()/datasets`` (Keras falls back to
    ``/tmp/.keras`` when that home is not writable)."""
    home = keras_home()
    if home.exists() and not os.access(home, os.W_OK):
        home = Path("/tmp/.keras")
    return home / cache_subdir


def check_fname(fname, loader: str) -> str:
    """Keras' rule for ``path=``: a file name inside the cache folder, never a path."""
    fname = os.fspath(fname)
    if os.sep in fname:
        raise ValueError(f"{loader}: paths are no longer accepted as the `path` argument (Keras 3's "
                         "get_file takes a file name inside its cache folder, "
                         f"{str(datasets_dir())!r}); received path={fname!r}")
    return fname


def missing(loader: str, path: Path, origin: str, hint: str = "") -> FileNotFoundError:
    """The error for a data set file that is not in Keras' cache."""
    return FileNotFoundError(
        f"{loader}: no file {str(path)!r}; scratchnet reads Keras' dataset cache (the folder "
        f"{str(path.parent)!r}, from KERAS_HOME={os.environ.get('KERAS_HOME')!r}) and never downloads. "
        f"Download {origin} and save it as {str(path)!r}{hint}, or run the same load_data once with "
        "Keras (it caches the file there), or set KERAS_HOME to the folder whose datasets/ holds it")


def cached_file(fname: str, origin: str, loader: str, cache_subdir: str = "datasets") -> Path:
    """``datasets_dir(cache_subdir)/fname`` if it is there, else a ``FileNotFoundError``."""
    path = datasets_dir(cache_subdir) / fname
    if not path.is_file():
        raise missing(loader, path, origin)
    return path


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles NumPy arrays, numbers, strings, lists and dicts; refuses any other global."""

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED_PICKLE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"Refusing to deserialize `{module}.{name}` while loading a "
                                     "Keras dataset. The file may be corrupted or malicious.")


def _read_npy(buffer: io.BytesIO) -> np.ndarray:
    """One ``.npy`` member: plain arrays directly, object arrays through the restricted unpickler."""
    try:
        return np.lib.format.read_array(buffer, allow_pickle=False)
    except ValueError:  # an object array: its payload is a pickle
        buffer.seek(0)
        version = np.lib.format.read_magic(buffer)
        if version[0] == 1:
            np.lib.format.read_array_header_1_0(buffer)
        elif version[0] in (2, 3):
            np.lib.format.read_array_header_2_0(buffer)
        else:
            raise ValueError(f"Unsupported `.npy` file version: {version}.") from None
        return RestrictedUnpickler(buffer).load()


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file, object arrays (lists of word ids) included."""
    arrays = {}
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            if member.endswith(".npy"):
                with archive.open(member) as raw:
                    arrays[member[:-len(".npy")]] = _read_npy(io.BytesIO(raw.read()))
    return arrays


def shuffled_split(x: np.ndarray, y: np.ndarray, test_split: float, seed: int):
    """Keras' regression-set split (Boston, California): shuffle with ``RandomState(seed)``, then
    the first ``int(len(x) * (1 - test_split))`` rows train and the rest test."""
    rng = np.random.RandomState(seed)
    indices = np.arange(len(x))
    rng.shuffle(indices)
    x = x[indices]
    y = y[indices]
    cut = int(len(x) * (1 - test_split))
    return (np.array(x[:cut]), np.array(y[:cut])), (np.array(x[cut:]), np.array(y[cut:]))


def check_test_split(test_split, loader: str) -> None:
    if not 0 <= test_split < 1:
        raise ValueError(f"{loader}: invalid `test_split` argument: {test_split}. It must be between "
                         "0 and 1 (exclusive of 1).")
