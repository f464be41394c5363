"""Small image folders written with Pillow for the image_dataset_from_directory tests (tests/ and
parity_tests/ both use them). Pixel values come from a seeded generator, so every file differs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_image(path: Path, size: tuple[int, int], mode: str = "RGB", seed: int = 0) -> Path:
    """A random image of ``size`` = (height, width) in Pillow ``mode`` ("RGB", "RGBA", "L",
    "LA", "P"), saved by extension (.png, .bmp, .gif, .jpg)."""
    rng = np.random.default_rng(seed)
    h, w = size
    channels = {"RGB": 3, "RGBA": 4, "L": 1, "LA": 2, "P": 3}[mode]
    pixels = rng.integers(0, 256, (h, w, channels), dtype=np.uint8)
    if mode in ("L",):
        img = Image.fromarray(pixels[..., 0], "L")
    elif mode == "P":  # 64 colours: an 8-bit palette (TensorFlow fills alpha wrongly below 8 bits)
        img = Image.fromarray(pixels, "RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT)
    else:
        img = Image.fromarray(pixels, mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


def write_classes(root: Path, counts: dict[str, int], mode: str = "RGB", ext: str = ".png",
                  sizes=((9, 12), (12, 9), (10, 10), (7, 15)), seed: int = 0) -> list[Path]:
    """``root/<class>/img_<i>.<ext>``, ``counts[class]`` files each, sizes cycling through
    ``sizes``; returns the paths written in sorted order."""
    paths = []
    for c, (name, n) in enumerate(sorted(counts.items())):
        for i in range(n):
            size = sizes[(i + c) % len(sizes)]
            paths.append(write_image(root / name / f"img_{i:02d}{ext}", size, mode,
                                     seed=seed + 100 * c + i))
    return paths


def mixed_folder(root: Path) -> Path:
    """Three classes of PNGs in several modes and sizes, a nested sub-folder, an upper-case
    extension, a BMP, a hidden folder and a text file (both to be ignored)."""
    write_classes(root, {"cats": 5, "dogs": 4, "birds": 3})
    write_image(root / "cats" / "nested" / "deep.png", (8, 8), "RGBA", seed=900)
    write_image(root / "dogs" / "UPPER.PNG", (6, 11), "L", seed=901)
    write_image(root / "dogs" / "paletted.png", (10, 7), "P", seed=902)
    write_image(root / "birds" / "alpha.png", (13, 9), "RGBA", seed=903)
    write_image(root / "birds" / "gray_alpha.png", (9, 9), "LA", seed=904)
    write_image(root / ".hidden" / "ignored.png", (5, 5), seed=905)
    (root / "cats" / "notes.txt").write_text("not an image")
    return root
