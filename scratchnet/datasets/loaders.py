"""Loaders for real data you already have on disk (nothing is downloaded).

* :func:`load_rps_directory`: the public rock-paper-scissors layout, one folder per class
  (``rock/``, ``paper/``, ``scissors/``) of PNG files.
* :func:`load_idx`: MNIST-style IDX files (``train-images-idx3-ubyte``, optionally ``.gz``).
"""

from __future__ import annotations

import gzip
import math
import numbers
from pathlib import Path

import numpy as np

from scratchnet import config
from scratchnet.datasets.rps import CLASS_NAMES


def load_rps_directory(path, image_size: int = 150) -> tuple[np.ndarray, np.ndarray]:
    """Read ``path/rock/*.png``, ``path/paper/*.png`` and ``path/scissors/*.png``.

    Each image is converted to RGB (an alpha channel is dropped) and resized to ``image_size``
    x ``image_size`` with bilinear filtering (Pillow, which matplotlib depends on).

    Returns:
        ``x (N, image_size, image_size, 3)`` float in [0, 1] (``config.floatx()``) and ``y (N,)``
        int64 labels 0 rock, 1 paper, 2 scissors, as :func:`scratchnet.datasets.load_rps`; files
        are read class by class, each class in sorted file-name order.
    """
    from PIL import Image

    if isinstance(image_size, bool) or not isinstance(image_size, numbers.Integral) or image_size <= 0:
        raise ValueError(f"load_rps_directory: expected image_size to be a positive integer, "
                         f"received {image_size!r}")
    root = Path(path)
    if not root.is_dir():
        raise ValueError(f"load_rps_directory: expected a directory holding rock/, paper/ and "
                         f"scissors/, received {str(path)!r}, which is not a directory")
    missing = [name for name in CLASS_NAMES if not (root / name).is_dir()]
    if missing:
        raise ValueError(f"load_rps_directory: expected folders {list(CLASS_NAMES)} in {str(root)!r}, "
                         f"missing {missing}")
    images, labels = [], []
    for label, name in enumerate(CLASS_NAMES):
        files = sorted(p for p in (root / name).iterdir() if p.suffix.lower() == ".png")
        if not files:
            raise ValueError(f"load_rps_directory: folder {str(root / name)!r} holds no .png files")
        for file in files:
            try:
                with Image.open(file) as img:
                    rgb = img.convert("RGB").resize((image_size, image_size),
                                                    Image.Resampling.BILINEAR)
            except (OSError, SyntaxError, ValueError) as err:  # Pillow's errors for a bad file
                raise ValueError(f"load_rps_directory: {str(file)!r} is not a readable PNG image "
                                 f"(truncated or corrupt): {err}") from err
            images.append(np.asarray(rgb, dtype=np.float32) / 255.0)  # (H, W, 3)
            labels.append(label)
    x = np.stack(images).astype(config.floatx())  # (N, H, W, 3)
    return x, np.array(labels, dtype=np.int64)


# IDX type codes (the third byte of the magic number) -> big-endian NumPy dtypes.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def load_idx(path) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzip-compressed or not.

    Layout: two zero bytes, a type code, the number of dimensions ``d``, then ``d`` big-endian
    uint32 sizes, then the values in C order. MNIST images come back as ``(N, 28, 28)`` uint8 and
    labels as ``(N,)`` uint8: scale and add a channel axis yourself,
    ``x = load_idx(p)[..., None] / 255.0``.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"load_idx: expected an IDX file, received {str(path)!r}, which is not a file")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":  # gzip magic
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"load_idx: {str(path)!r} is not an IDX file: expected the magic bytes "
                         f"00 00 <type> <ndim> with type in {sorted(hex(k) for k in _IDX_DTYPES)}, "
                         f"received {raw[:4].hex(' ')}")
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"load_idx: {str(path)!r} ends inside its header ({ndim} dimensions)")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = math.prod(shape) * dtype.itemsize  # Python ints: no overflow for absurd sizes
    if len(raw) - header != expected:
        raise ValueError(f"load_idx: {str(path)!r} declares shape {shape} ({expected} bytes of "
                         f"{dtype.name}), but holds {len(raw) - header} bytes of data")
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))  # native byte order, a writable copy
