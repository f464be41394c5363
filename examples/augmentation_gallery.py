"""The same hand through each augmentation layer: the pictures in docs/augmentation-and-normalization.md.

    python examples/augmentation_gallery.py            # writes docs/figures/augmentation*.png

Every picture comes from the layers themselves (``layer(x, training=True)``), so what you see
is what ``fit`` feeds the network. Matplotlib's Agg backend: files only, no window.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import scratchnet as sn  # noqa: E402

L = sn.layers
FIGURES = Path(__file__).resolve().parents[1] / "docs" / "figures"


def one_hand(image_size: int = 96, label: int = 1, seed: int = 0) -> np.ndarray:
    """The first training image of class ``label`` (1 = paper) as ``(1, S, S, 3)`` in [0, 1]."""
    x, y = sn.datasets.load_rps("train", image_size=image_size, seed=seed, num_samples=12,
                                cache=False)
    return x[np.flatnonzero(y == label)[:1]]


def gallery_layers(seed: int = 0) -> dict[str, sn.layers.Layer]:
    """One of each layer, with factors like the talk's notebook (images in [0, 1])."""
    return {
        'RandomFlip("horizontal")': L.RandomFlip("horizontal", seed=seed),
        "RandomRotation(0.2)": L.RandomRotation(0.2, seed=seed),
        "RandomZoom(0.3)": L.RandomZoom(0.3, seed=seed),
        "RandomTranslation(0.2, 0.2)": L.RandomTranslation(0.2, 0.2, seed=seed),
        "RandomContrast(0.8)": L.RandomContrast(0.8, value_range=(0, 1), seed=seed),
        "RandomBrightness(0.4)": L.RandomBrightness(0.4, value_range=(0, 1), seed=seed),
    }


def augmentation_gallery(path: Path, image_size: int = 64, draws: int = 5, seed: int = 0) -> None:
    """Rows: each layer, then all six in a row (a Sequential); columns: the original hand and
    ``draws`` training-mode draws of the same hand."""
    hand = one_hand(image_size)
    rows = dict(gallery_layers(seed))
    rows["all six, in order"] = sn.Sequential([L.Input(hand.shape[1:]),
                                               *gallery_layers(seed + 1).values()], seed=seed)
    fig, axes = plt.subplots(len(rows), draws + 1, figsize=(1.6 * (draws + 1), 1.7 * len(rows)))
    for r, (title, layer) in enumerate(rows.items()):
        axes[r, 0].imshow(hand[0], interpolation="nearest")
        axes[r, 0].set_ylabel(title, rotation=0, ha="right", va="center", fontsize=8)
        for c in range(1, draws + 1):
            axes[r, c].imshow(np.clip(layer(hand, training=True)[0], 0, 1), interpolation="nearest")
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_title("original", fontsize=8)
    for c in range(1, draws + 1):
        axes[0, c].set_title(f"draw {c}", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def more_layers(seed: int = 0) -> dict[str, sn.layers.Layer]:
    """The colour, mixing and warping layers (images in [0, 1]); MixUp and CutMix mix the hand
    with the other images of the batch."""
    vr = dict(value_range=(0, 1))
    return {
        "RandomGrayscale(0.5)": L.RandomGrayscale(0.5, seed=seed),
        "RandomHue(0.5)": L.RandomHue(0.5, **vr, seed=seed),
        "RandomSaturation((0.2, 0.8))": L.RandomSaturation((0.2, 0.8), **vr, seed=seed),
        "RandomColorDegeneration(0.8)": L.RandomColorDegeneration(0.8, **vr, seed=seed),
        "RandomColorJitter(...)": L.RandomColorJitter(**vr, brightness_factor=0.2, contrast_factor=0.5,
                                                      saturation_factor=(0.3, 0.7), hue_factor=0.2,
                                                      seed=seed),
        "RandomInvert(0.5)": L.RandomInvert(0.5, **vr, seed=seed),
        "Solarization(0.2, 0.8)": L.Solarization(0.2, 0.8, **vr, seed=seed),
        "AutoContrast()": L.AutoContrast(**vr),
        "RandomPosterization(3)": L.RandomPosterization(3, **vr, seed=seed),
        "RandomSharpness(1.0)": L.RandomSharpness(1.0, **vr, seed=seed),
        "RandomShear(0.3, 0.3)": L.RandomShear(0.3, 0.3, seed=seed),
        "RandomErasing()": L.RandomErasing(**vr, seed=seed),
        "RandomGaussianBlur(0.8,\nkernel_size=7)": L.RandomGaussianBlur(0.8, kernel_size=7, **vr,
                                                                        seed=seed),
        "MixUp()": L.MixUp(seed=seed),
        "CutMix()": L.CutMix(seed=seed),
        "Equalization()": L.Equalization(**vr),
        "RandomPerspective(scale=0.6)": L.RandomPerspective(scale=0.6, seed=seed),
        "RandAugment()": L.RandAugment(**vr, seed=seed),
        "AugMix()": L.AugMix(**vr, seed=seed),
    }


def more_gallery(path: Path, image_size: int = 64, draws: int = 4, seed: int = 0) -> None:
    """Rows: each of :func:`more_layers`; columns: the original hand and ``draws`` training-mode
    draws (a batch of the hand and two other images, so that MixUp and CutMix have partners)."""
    x, _ = sn.datasets.load_rps("train", image_size=image_size, seed=seed, num_samples=12, cache=False)
    batch = np.concatenate([one_hand(image_size), x[-2:]])  # the hand first
    rows = more_layers(seed)
    fig, axes = plt.subplots(len(rows), draws + 1, figsize=(1.6 * (draws + 1), 1.5 * len(rows)))
    for r, (title, layer) in enumerate(rows.items()):
        axes[r, 0].imshow(batch[0], interpolation="nearest")
        axes[r, 0].set_ylabel(title, rotation=0, ha="right", va="center", fontsize=8)
        for c in range(1, draws + 1):
            axes[r, c].imshow(np.clip(layer(batch, training=True)[0], 0, 1), interpolation="nearest")
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_title("original", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=55)
    plt.close(fig)


def fill_modes_figure(path: Path, image_size: int = 64) -> None:
    """The four fill modes (and both interpolations) on a fixed rotation, zoom-out and shift."""
    hand = one_hand(image_size)
    transforms = {
        "RandomRotation\n((0.1, 0.1))": lambda **kw: L.RandomRotation((0.1, 0.1), **kw),
        "RandomZoom\n((0.6, 0.6))": lambda **kw: L.RandomZoom((0.6, 0.6), **kw),
        "RandomTranslation\n((0.3, 0.3), (0.3, 0.3))":
            lambda **kw: L.RandomTranslation((0.3, 0.3), (0.3, 0.3), **kw),
    }
    columns = [(mode, "bilinear") for mode in ("reflect", "wrap", "constant", "nearest")]
    columns.append(("reflect", "nearest"))
    fig, axes = plt.subplots(len(transforms), len(columns),
                             figsize=(1.9 * len(columns), 1.9 * len(transforms)))
    for r, (title, make) in enumerate(transforms.items()):
        for c, (fill_mode, interpolation) in enumerate(columns):
            layer = make(fill_mode=fill_mode, interpolation=interpolation, fill_value=1.0)
            axes[r, c].imshow(np.clip(layer(hand, training=True)[0], 0, 1), interpolation="nearest")
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
            if r == 0:
                axes[r, c].set_title(f'fill_mode="{fill_mode}"\ninterpolation="{interpolation}"',
                                     fontsize=7)
        axes[r, 0].set_ylabel(title, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(out_dir: Path = FIGURES) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "augmentation.png", out_dir / "augmentation_fill_modes.png",
             out_dir / "augmentation_more.png"]
    augmentation_gallery(paths[0])
    fill_modes_figure(paths[1])
    more_gallery(paths[2])
    return paths


if __name__ == "__main__":
    for written in main(Path(sys.argv[1]) if len(sys.argv) > 1 else FIGURES):
        print(f"wrote {written}")
