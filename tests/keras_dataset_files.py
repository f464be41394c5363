"""Tiny data set files in the exact formats Keras' ``get_file`` caches, for the loader tests.

Each writer puts one data set into ``<home>/datasets/`` under Keras' file names: ``mnist.npz``,
the four gzip'd IDX files of ``fashion-mnist/``, CIFAR's pickled batches (in a ``tar.gz`` archive
under Keras 3's name, or extracted), ``imdb.npz`` and ``reuters.npz`` (object arrays of lists, as
the real files) with their word-index JSON, and the two housing ``.npz`` files.
"""

from __future__ import annotations

import gzip
import io
import json
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np


def _datasets(home) -> Path:
    folder = Path(home) / "datasets"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_mnist(home, n_train: int = 7, n_test: int = 3, seed: int = 0, fname: str = "mnist.npz"):
    rng = np.random.default_rng(seed)
    arrays = {"x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              "y_train": rng.integers(0, 10, n_train, dtype=np.uint8),
              "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
              "y_test": rng.integers(0, 10, n_test, dtype=np.uint8)}
    np.savez(_datasets(home) / fname, **arrays)
    return arrays


def _idx(data: np.ndarray) -> bytes:
    """IDX: 2 zero bytes, the type code 0x08 (uint8), the rank, then each size big-endian."""
    header = bytes([0, 0, 8, data.ndim]) + b"".join(struct.pack(">I", n) for n in data.shape)
    return header + data.tobytes()


def write_fashion_mnist(home, n_train: int = 6, n_test: int = 4, seed: int = 1):
    rng = np.random.default_rng(seed)
    folder = _datasets(home) / "fashion-mnist"
    folder.mkdir(exist_ok=True)
    arrays = {"train-labels-idx1-ubyte.gz": rng.integers(0, 10, n_train, dtype=np.uint8),
              "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, n_test, dtype=np.uint8),
              "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8)}
    for name, data in arrays.items():
        with gzip.open(folder / name, "wb") as f:
            f.write(_idx(data))
    return arrays


def _cifar_batch(rng, n: int, label_keys: dict) -> bytes:
    """A batch as CIFAR's Python pickles hold it: bytes keys, ``data (n, 3072)`` uint8 (channels
    first, flattened), labels as a list of ints."""
    batch = {b"batch_label": b"tiny", b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8)}
    for key, classes in label_keys.items():
        batch[key.encode()] = [int(v) for v in rng.integers(0, classes, n)]
    return pickle.dumps(batch, protocol=4)  # 4: bytes and arrays without extra globals


def _tar(path: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _write_members(home, members: dict[str, bytes], archive: str, extracted: str | None) -> None:
    base = _datasets(home)
    if extracted is None:
        _tar(base / archive, members)
        return
    for name, data in members.items():
        path = base / extracted / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def write_cifar10(home, batch_size: int = 10000, n_test: int = 10000, seed: int = 2,
                  extracted: str | None = None):
    """Keras 3's archive ``cifar-10-batches-py-target_archive`` (a tar.gz), or with
    ``extracted=`` the batch files under that folder (``"cifar-10-batches-py-target"``: Keras 3's
    extraction, ``""``: Keras 2's). Keras' own loader needs 10,000 images per training batch."""
    rng = np.random.default_rng(seed)
    members = {f"cifar-10-batches-py/data_batch_{i}": _cifar_batch(rng, batch_size, {"labels": 10})
               for i in range(1, 6)}
    members["cifar-10-batches-py/test_batch"] = _cifar_batch(rng, n_test, {"labels": 10})
    _write_members(home, members, "cifar-10-batches-py-target_archive", extracted)


def write_cifar100(home, n_train: int = 9, n_test: int = 4, seed: int = 3,
                   extracted: str | None = None):
    rng = np.random.default_rng(seed)
    keys = {"fine_labels": 100, "coarse_labels": 20}
    members = {"cifar-100-python/train": _cifar_batch(rng, n_train, keys),
               "cifar-100-python/test": _cifar_batch(rng, n_test, keys)}
    _write_members(home, members, "cifar-100-python-target_archive", extracted)


def _sequences(rng, n: int, vocab: int, max_len: int) -> np.ndarray:
    """An object array of Python lists of word ids (1..vocab-1), as imdb.npz holds."""
    seqs = np.empty(n, dtype=object)
    for i in range(n):
        seqs[i] = [int(w) for w in rng.integers(1, vocab, rng.integers(1, max_len + 1))]
    return seqs


def write_imdb(home, n_train: int = 12, n_test: int = 8, seed: int = 4):
    rng = np.random.default_rng(seed)
    arrays = {"x_train": _sequences(rng, n_train, 40, 15), "y_train": rng.integers(0, 2, n_train),
              "x_test": _sequences(rng, n_test, 40, 15), "y_test": rng.integers(0, 2, n_test)}
    np.savez(_datasets(home) / "imdb.npz", **arrays)
    words = {f"word{i}": i for i in range(1, 40)}
    (_datasets(home) / "imdb_word_index.json").write_text(json.dumps(words))
    return arrays


def write_reuters(home, n: int = 17, seed: int = 5):
    rng = np.random.default_rng(seed)
    arrays = {"x": _sequences(rng, n, 50, 12), "y": rng.integers(0, 46, n)}
    np.savez(_datasets(home) / "reuters.npz", **arrays)
    words = {f"w{i}": i for i in range(1, 50)}
    (_datasets(home) / "reuters_word_index.json").write_text(json.dumps(words))
    return arrays


def write_housing(home, fname: str, n: int, features: int, seed: int = 6):
    rng = np.random.default_rng(seed)
    arrays = {"x": rng.normal(size=(n, features)), "y": rng.uniform(5, 50, n)}
    if fname.startswith("california"):
        arrays["y"] = arrays["y"].astype(np.float32)
        arrays["x"] = arrays["x"].astype(np.float32)
    np.savez(_datasets(home) / fname, **arrays)
    return arrays
