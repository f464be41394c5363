"""Loaders for data on disk, on small files the tests write: the public rock-paper-scissors
folder layout (PNG files) and MNIST-style IDX files."""

import gzip
import struct

import numpy as np
import pytest
from PIL import Image

import scratchnet as sn


def write_rps_folder(root, counts=(2, 3, 1), size=40, rgba=True):
    """rock/, paper/, scissors/ of PNGs; image k of class c is filled with value 10*c + k."""
    for c, name in enumerate(("rock", "paper", "scissors")):
        (root / name).mkdir(parents=True)
        for k in range(counts[c]):
            pixels = np.full((size, size, 4 if rgba else 3), 10 * c + k, dtype=np.uint8)
            if rgba:
                pixels[..., 3] = 255
            Image.fromarray(pixels).save(root / name / f"{name}{k:02d}.png")
    (root / "rock" / "notes.txt").write_text("not an image")


def test_rps_directory_layout(tmp_path):
    write_rps_folder(tmp_path)
    x, y = sn.datasets.load_rps_directory(tmp_path, image_size=16)
    assert x.shape == (6, 16, 16, 3) and x.dtype == np.float32
    assert y.tolist() == [0, 0, 1, 1, 1, 2]
    expected = np.array([0, 1, 10, 11, 12, 20]) / 255.0  # classes in order, files sorted
    np.testing.assert_allclose(x.mean(axis=(1, 2, 3)), expected, atol=1e-6)


def test_rps_directory_resizes_real_content(tmp_path):
    write_rps_folder(tmp_path, counts=(1, 1, 1), rgba=False)
    gradient = np.tile(np.linspace(0, 255, 60).astype(np.uint8)[None, :, None], (60, 1, 3))
    Image.fromarray(gradient).save(tmp_path / "paper" / "paper00.png")
    x, y = sn.datasets.load_rps_directory(tmp_path, image_size=30)
    row = x[1, 15, :, 0]  # the paper image, resized, still rises left to right
    assert np.all(np.diff(row) > 0) and row[0] < 0.05 and row[-1] > 0.95


def test_rps_directory_errors(tmp_path):
    with pytest.raises(ValueError, match="not a directory"):
        sn.datasets.load_rps_directory(tmp_path / "nowhere", 16)
    (tmp_path / "rock").mkdir()
    with pytest.raises(ValueError, match=r"missing \['paper', 'scissors'\]"):
        sn.datasets.load_rps_directory(tmp_path, 16)
    (tmp_path / "paper").mkdir()
    (tmp_path / "scissors").mkdir()
    with pytest.raises(ValueError, match="no .png files"):
        sn.datasets.load_rps_directory(tmp_path, 16)
    with pytest.raises(ValueError, match="image_size"):
        sn.datasets.load_rps_directory(tmp_path, 0)


def test_rps_directory_names_a_corrupt_png(tmp_path):
    write_rps_folder(tmp_path)
    png = sorted((tmp_path / "paper").glob("*.png"))[0]
    png.write_bytes(png.read_bytes()[:40])  # truncated mid-header
    with pytest.raises(ValueError, match=rf"{png.name}.*truncated or corrupt"):
        sn.datasets.load_rps_directory(tmp_path, 16)
    png.write_bytes(b"not a png at all")
    with pytest.raises(ValueError, match=rf"{png.name}.*not a readable PNG"):
        sn.datasets.load_rps_directory(tmp_path, 16)


def idx_bytes(array: np.ndarray, code: int) -> bytes:
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def test_idx_images_and_labels(tmp_path):
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    labels = np.array([7, 2], dtype=np.uint8)
    (tmp_path / "images-idx3-ubyte").write_bytes(idx_bytes(images, 0x08))
    (tmp_path / "labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels, 0x08)))
    got = sn.datasets.load_idx(tmp_path / "images-idx3-ubyte")
    assert got.dtype == np.uint8 and got.shape == (2, 28, 28)
    np.testing.assert_array_equal(got, images)
    np.testing.assert_array_equal(sn.datasets.load_idx(tmp_path / "labels-idx1-ubyte.gz"), labels)


@pytest.mark.parametrize("dtype, code", [(np.int16, 0x0B), (np.int32, 0x0C), (np.float32, 0x0D),
                                         (np.float64, 0x0E), (np.int8, 0x09)])
def test_idx_big_endian_types(tmp_path, dtype, code):
    values = np.array([[1, -2, 3], [300 if dtype != np.int8 else 100, 0, -7]], dtype=dtype)
    (tmp_path / "f.idx").write_bytes(idx_bytes(values, code))
    got = sn.datasets.load_idx(tmp_path / "f.idx")
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    np.testing.assert_array_equal(got, values)


def test_idx_errors(tmp_path):
    with pytest.raises(ValueError, match="not a file"):
        sn.datasets.load_idx(tmp_path / "missing")
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01")
    with pytest.raises(ValueError, match="not an IDX file"):
        sn.datasets.load_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(idx_bytes(np.zeros((2, 3), np.uint8), 0x08)[:-1])
    with pytest.raises(ValueError, match=r"declares shape \(2, 3\)"):
        sn.datasets.load_idx(tmp_path / "short")
    # sizes are unsigned 32-bit: a size of 2**31 is reported as it is, not as a negative number
    (tmp_path / "huge").write_bytes(bytes([0, 0, 0x08, 2]) + struct.pack(">2I", 2**31, 2**31) + b"x")
    with pytest.raises(ValueError, match=r"declares shape \(2147483648, 2147483648\) "
                                         r"\(4611686018427387904 bytes"):
        sn.datasets.load_idx(tmp_path / "huge")
