"""CIFAR's pickled batches, shared by :mod:`cifar10` and :mod:`cifar100`.

Keras 3 downloads ``cifar-10-python.tar.gz`` as ``datasets/cifar-10-batches-py-target_archive``
and extracts it into ``datasets/cifar-10-batches-py-target/cifar-10-batches-py/`` (CIFAR-100
likewise with ``cifar-100-python``); Keras 2 left the batches in ``datasets/cifar-10-batches-py/``.
scratchnet reads the batches from the first of these folders that exists, else straight out of the
archive (nothing is extracted or written).
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np

from scratchnet.datasets.keras_cache import RestrictedUnpickler, datasets_dir, missing


def load_batch(data: bytes, label_key: str = "labels"):
    """One pickled batch: ``data (N, 3, 32, 32)`` uint8 (channels first, as stored) and its labels
    (a list), read as Keras' ``load_batch`` does."""
    import io

    d = RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    d = {k.decode("utf8"): v for k, v in d.items()}
    data = d["data"]
    labels = d[label_key]
    data = data.reshape(data.shape[0], 3, 32, 32)  # (N, 3072) -> (N, C, H, W)
    return data, labels


class BatchFiles:
    """Reads ``<folder>/<name>`` batch files from the extracted folder or from the archive."""

    def __init__(self, target: str, folder: str, archive_names: tuple[str, ...], origin: str,
                 loader: str):
        base = datasets_dir()
        self.folder = next((p for p in (base / target / folder, base / folder) if p.is_dir()), None)
        self.archive = None
        if self.folder is None:
            self.archive = next((base / a for a in archive_names if (base / a).is_file()), None)
        if self.folder is None and self.archive is None:
            raise missing(loader, base / f"{target}_archive", origin,
                          f" (or extract it: {str(base / target / folder)!r})")
        self.inner, self.loader = folder, loader

    def read(self, name: str) -> bytes:
        if self.folder is not None:
            path = Path(self.folder) / name
            if not path.is_file():
                raise FileNotFoundError(f"{self.loader}: {str(self.folder)!r} has no batch file "
                                        f"{name!r}; the extracted folder is incomplete")
            return path.read_bytes()
        with tarfile.open(self.archive) as tar:
            try:
                member = tar.extractfile(f"{self.inner}/{name}")
            except KeyError:
                member = None
            if member is None:
                raise FileNotFoundError(f"{self.loader}: the archive {str(self.archive)!r} has no "
                                        f"{self.inner}/{name}")
            return member.read()


def channels_last(x: np.ndarray) -> np.ndarray:
    """``(N, 3, 32, 32)`` -> ``(N, 32, 32, 3)``: Keras transposes for ``channels_last``."""
    return x.transpose(0, 2, 3, 1)
