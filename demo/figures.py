"""The main job's figures, drawn with matplotlib's Agg backend (files only, no window).

Every function takes plain arrays (or a scratchnet model) and writes one PNG.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

import scratchnet as sn  # noqa: E402

CLASS_NAMES = sn.datasets.RPS_CLASS_NAMES
COLOURS = {"scratchnet": "tab:blue", "keras": "tab:orange", "dense-only": "tab:gray"}


def curves(histories: dict[str, dict[str, list[float]]], path: Path) -> None:
    """Accuracy and loss per epoch, train (solid) and validation (dashed), each implementation."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, metric in zip(axes, ("accuracy", "loss"), strict=True):
        for name, history in histories.items():
            epochs = np.arange(1, len(history[metric]) + 1)
            colour = COLOURS.get(name)
            ax.plot(epochs, history[metric], "-o", ms=3, color=colour, label=f"{name} train")
            ax.plot(epochs, history[f"val_{metric}"], "--s", ms=3, color=colour,
                    label=f"{name} validation")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(metric)
        ax.set_title(metric)
        ax.grid(alpha=0.3)
    axes[0].set_ylim(0, 1.02)
    axes[0].legend(fontsize=8)
    fig.suptitle("rps_cnn: scratchnet and Keras from the same initial weights")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def confusion_matrices(matrices: dict[str, np.ndarray], path: Path) -> None:
    """One confusion matrix per implementation: rows true class, columns predicted."""
    fig, axes = plt.subplots(1, len(matrices), figsize=(4.4 * len(matrices), 4), squeeze=False)
    for ax, (name, cm) in zip(axes[0], matrices.items(), strict=True):
        ax.imshow(cm, cmap="Blues")
        for i in range(cm.shape[0]):
            for j in range(cm.shape[1]):
                ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                        color="white" if cm[i, j] > cm.max() / 2 else "black")
        ax.set_xticks(range(3), CLASS_NAMES)
        ax.set_yticks(range(3), CLASS_NAMES)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        accuracy = np.trace(cm) / max(cm.sum(), 1)
        ax.set_title(f"{name}: test accuracy {accuracy:.1%}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, k: int = 3) -> np.ndarray:
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def prediction_grid(x: np.ndarray, y: np.ndarray, probs: np.ndarray, path: Path, name: str,
                    rows: int = 4, cols: int = 8) -> None:
    """Test images with the predicted class and its probability; wrong ones in red."""
    n = min(rows * cols, len(x))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.6, rows * 1.75))
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        pred = int(np.argmax(probs[i]))
        ax.imshow(x[i])
        ok = pred == int(y[i])
        title = f"{CLASS_NAMES[pred]} {probs[i, pred]:.0%}"
        if not ok:
            title += f"\n(is {CLASS_NAMES[y[i]]})"
        ax.set_title(title, fontsize=8, color="black" if ok else "red")
    fig.suptitle(f"test images: {name}'s prediction and its probability (wrong ones in red)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def first_layer_filters(kernel: np.ndarray, path: Path) -> None:
    """The learned 3x3 RGB kernels of the first Conv2D, ``(3, 3, 3, F)``, each scaled to [0, 1]."""
    f = kernel.shape[-1]
    cols = min(f, 8)
    rows = -(-f // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.2, rows * 1.3), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= f:
            continue
        k = kernel[..., i]  # (3, 3, 3): height, width, RGB
        k = (k - k.min()) / max(k.max() - k.min(), 1e-12)
        ax.imshow(k, interpolation="nearest")
        ax.set_title(f"filter {i}", fontsize=7)
    fig.suptitle("learned first-layer filters (3x3, RGB)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def feature_maps(model: sn.Sequential, image: np.ndarray, path: Path, maps: int = 8) -> None:
    """One image, then the first ``maps`` channels after the first Conv2D (ReLU) and after the
    first MaxPooling2D: the network's first two steps made visible."""
    x = image[None]  # (1, H, W, 3)
    conv, pool = model.layers[0], model.layers[1]
    after_conv = conv.forward(x, training=False)  # (1, H-2, W-2, F)
    after_pool = pool.forward(after_conv, training=False)  # (1, (H-2)//2, (W-2)//2, F)
    maps = min(maps, after_conv.shape[-1])
    fig, axes = plt.subplots(2, maps + 1, figsize=((maps + 1) * 1.45, 3.9))
    for row, (name, out) in enumerate((("after conv", after_conv), ("after pool", after_pool))):
        axes[row, 0].imshow(image)
        axes[row, 0].set_title("input" if row == 0 else f"{image.shape[0]}px", fontsize=8)
        for c in range(maps):
            axes[row, c + 1].imshow(out[0, :, :, c], cmap="viridis")
            axes[row, c + 1].set_title(f"{name} {c}\n{out.shape[1]}x{out.shape[2]}", fontsize=7)
        for ax in axes[row]:
            ax.axis("off")
    fig.suptitle(f"feature maps of {conv.name} (ReLU) and {pool.name}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# The classic hand-set 3x3 filters: what a first layer might learn, written down by hand.
HAND_FILTERS = {
    "vertical edges (Sobel x)": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float32),
    "horizontal edges (Sobel y)": np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=np.float32),
    "outline (Laplacian)": np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], dtype=np.float32),
    "sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], dtype=np.float32),
}


def load_photo(size: int = 256) -> np.ndarray:
    """Grace Hopper's portrait, shipped with matplotlib: grayscale ``(size, size, 1)`` in [0, 1]."""
    from matplotlib import cbook
    from PIL import Image

    with cbook.get_sample_data("grace_hopper.jpg") as f, Image.open(f) as img:
        gray = img.convert("L").resize((size, size), Image.Resampling.BILINEAR)
        return (np.asarray(gray, dtype=np.float32) / 255.0)[..., None]  # (H, W, 1)


def hand_set_filters(path: Path, size: int = 256) -> dict[str, np.ndarray]:
    """Apply :data:`HAND_FILTERS` to a real photograph with a scratchnet Conv2D whose kernel is
    set by hand, then a MaxPooling2D: convolution and pooling with nothing learned."""
    photo = load_photo(size)
    names = list(HAND_FILTERS)
    kernel = np.stack([HAND_FILTERS[n] for n in names], axis=-1)[:, :, None, :]  # (3, 3, 1, F)
    conv = sn.layers.Conv2D(len(names), 3, padding="same", use_bias=False)
    pool = sn.layers.MaxPooling2D(2)
    conv.ensure_built(photo.shape, np.random.default_rng(0))
    conv.kernel.value[...] = kernel
    pool.ensure_built(conv.output_shape)
    filtered = conv.forward(photo[None], training=False)  # (1, H, W, F)
    pooled = pool.forward(np.abs(filtered), training=False)  # (1, H/2, W/2, F)
    fig, axes = plt.subplots(2, len(names) + 1, figsize=((len(names) + 1) * 2.6, 6.4))
    for row in range(2):
        axes[row, 0].imshow(photo[..., 0], cmap="gray")
        axes[row, 0].set_title(f"photo {size}x{size}" if row == 0 else "(matplotlib sample)", fontsize=9)
    for i, name in enumerate(names):
        out = filtered[0, :, :, i]
        shown = out if name == "sharpen" else np.abs(out)
        axes[0, i + 1].imshow(shown, cmap="gray", vmin=0, vmax=1 if name == "sharpen" else None)
        axes[0, i + 1].set_title(f"{name}\n{HAND_FILTERS[name].astype(int).tolist()}", fontsize=7)
        axes[1, i + 1].imshow(pooled[0, :, :, i], cmap="gray",
                              vmin=0, vmax=1 if name == "sharpen" else None)
        axes[1, i + 1].set_title(f"|{name.split(' (')[0]}| then 2x2 max-pool\n"
                                 f"{pooled.shape[1]}x{pooled.shape[2]}", fontsize=7)
    for ax in axes.flat:
        ax.axis("off")
    fig.suptitle("hand-set 3x3 filters on a real photograph (scratchnet Conv2D + MaxPooling2D)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return {"filtered": filtered, "pooled": pooled}
