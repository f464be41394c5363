"""The built-in rock-paper-scissors hands written as PNG class folders, the layout of the talk's
data, so that folder-based code (``image_dataset_from_directory``) runs on them unchanged::

    path/train/rock/rock0000.png ... path/train/paper/... path/train/scissors/...
    path/test/rock/...               path/test/paper/...  path/test/scissors/...

Sample ``i`` of a split is :func:`scratchnet.datasets.load_rps`'s sample ``i`` (the same seed),
saved as 8-bit RGB: ``round(255 * x)``. A small JSON file, ``path/.scratchnet-rps.json``, records
what was written; calling again with the same arguments finds it and writes nothing.
"""

from __future__ import annotations

import json
import numbers
import shutil
from pathlib import Path

import numpy as np

from scratchnet.datasets import rps

MARKER = ".scratchnet-rps.json"
SPLITS = ("train", "test")


def save_rps_directory(path, image_size: int = 150, seed: int = 0, num_train: int | None = None,
                       num_test: int | None = None, overwrite: bool = False) -> tuple[Path, Path]:
    """Write the generated hands as ``path/{train,test}/{rock,paper,scissors}/*.png``.

    Args:
        path: the folder to write (created if missing).
        image_size: height and width of the PNGs, 16 to 150 (default 150, the talk's input size;
            ``image_dataset_from_directory(image_size=...)`` resizes them as it reads).
        seed: as :func:`scratchnet.datasets.load_rps`.
        num_train, num_test: how many images per split (default 2,520 and 372, as the public set).
        overwrite: replace ``train/`` and ``test/`` folders that were not written by this
            function (or were written with other arguments). Without it such folders are refused.

    Returns:
        ``(train_dir, test_dir)``: the two folders, each holding ``paper/``, ``rock/`` and
        ``scissors/``. Note that ``image_dataset_from_directory`` numbers the classes in sorted
        order: 0 paper, 1 rock, 2 scissors (``load_rps`` uses 0 rock, 1 paper, 2 scissors).
    """
    where = "save_rps_directory"
    if isinstance(image_size, bool) or not isinstance(image_size, numbers.Integral) \
            or not rps.MIN_IMAGE_SIZE <= image_size <= rps.MAX_IMAGE_SIZE:
        raise ValueError(f"{where}: expected image_size to be an integer from {rps.MIN_IMAGE_SIZE} "
                         f"to {rps.MAX_IMAGE_SIZE}, received {image_size!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"{where}: expected seed to be an integer >= 0, received {seed!r}")
    counts = {}
    for split, n in (("train", num_train), ("test", num_test)):
        n = rps.SPLIT_SIZES[split] if n is None else n
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n <= 0:
            raise ValueError(f"{where}: expected num_{split} to be a positive integer, received {n!r}")
        counts[split] = int(n)
    root = Path(path)
    if root.exists() and not root.is_dir():
        raise ValueError(f"{where}: expected path to be a folder, received {str(root)!r}, a file")
    wanted = {"generator_version": rps.GENERATOR_VERSION, "image_size": int(image_size),
              "seed": int(seed), "num_train": counts["train"], "num_test": counts["test"]}
    split_dirs = (root / "train", root / "test")
    marker = root / MARKER
    written = _read_marker(marker)
    if written == wanted:
        return split_dirs
    occupied = [str(d) for d in split_dirs if d.exists() and any(d.iterdir())]
    if occupied and written is None and not overwrite:
        raise ValueError(f"{where}: {occupied} already exist and were not written by "
                         f"save_rps_directory; pass overwrite=True to replace them, or another path")
    marker.unlink(missing_ok=True)
    for d in split_dirs:
        if d.exists():
            shutil.rmtree(d)
    for split, split_dir in zip(SPLITS, split_dirs, strict=True):
        _write_split(split_dir, split, int(image_size), int(seed), counts[split])
    marker.write_text(json.dumps(wanted, indent=2) + "\n")  # last: a half-written folder has none
    return split_dirs


def _write_split(folder: Path, split: str, image_size: int, seed: int, n: int) -> None:
    from PIL import Image

    for name in rps.CLASS_NAMES:
        (folder / name).mkdir(parents=True, exist_ok=True)
    chunk = 256  # images drawn at a time: bounded memory at any size
    for first in range(0, n, chunk):
        x, y = rps.generate(split, image_size, seed, min(chunk, n - first), first=first)
        pixels = np.round(x * 255).astype(np.uint8)  # (B, S, S, 3)
        for offset, (image, label) in enumerate(zip(pixels, y, strict=True)):
            name = rps.CLASS_NAMES[label]
            Image.fromarray(image, "RGB").save(folder / name / f"{name}{first + offset:04d}.png")


def _read_marker(marker: Path) -> dict | None:
    try:
        return json.loads(marker.read_text())
    except (OSError, ValueError):
        return None
