"""Named models: the networks the docs, demos and benchmarks use, built with scratchnet.

Also Keras' ``keras.models`` names, so ``keras.models.Sequential``, ``keras.models.Model``,
``keras.models.load_model``, ``save_model``, ``clone_model`` and ``model_from_json`` run with the
import changed.
"""

from __future__ import annotations

from scratchnet import layers
from scratchnet.cloning import clone_model, model_from_json
from scratchnet.model import Model, Sequential
from scratchnet.saving import load_model, save_model

__all__ = ["Model", "Sequential", "load_model", "save_model", "clone_model", "model_from_json",
           "digits_cnn", "digits_mlp", "small_cnn", "rps_cnn",
           "talk_cnn"]


def digits_cnn(input_shape=(8, 8, 1), num_classes: int = 10, seed: int | None = 0) -> Sequential:
    """A small convnet for the 8x8 digits: conv 3x3 -> max-pool -> dense -> logits."""
    return Sequential([
        layers.Input(input_shape),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, padding="same", activation="relu"),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(num_classes),
    ], seed=seed, name="digits_cnn")


def digits_mlp(input_shape=(8, 8, 1), num_classes: int = 10, seed: int | None = 0) -> Sequential:
    """A dense-only baseline for the digits."""
    return Sequential([
        layers.Input(input_shape),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(num_classes),
    ], seed=seed, name="digits_mlp")


def small_cnn(input_shape=(32, 32, 3), num_classes: int = 3, seed: int | None = 0) -> Sequential:
    """The benchmark's small convnet: conv 16 -> pool -> conv 32 -> pool -> dense 64 -> logits."""
    return Sequential([
        layers.Input(input_shape),
        layers.Conv2D(16, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(32, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(num_classes),
    ], seed=seed, name="small_cnn")


def rps_cnn(input_shape=(64, 64, 3), num_classes: int = 3, seed: int | None = 0,
            filters=(16, 32, 64), dense_units: int = 128, dropout: float = 0.25) -> Sequential:
    """The rock-paper-scissors convnet: the talk's shape (conv 3x3 + max-pool blocks, flatten,
    dropout, dense, softmax), one block per entry of ``filters``. Each block shrinks the image
    to about half (``(n - 2) // 2``), so three blocks need at least 24x24 pixels. The dropout rate is
    0.25 rather than the talk's 0.5: on the built-in 32x32 images it learns faster and ends higher
    within the main job's 20 epochs (``talk_cnn`` keeps 0.5).

    Its last layer is a softmax, as in the talk: compiled with a cross-entropy on probabilities,
    the loss reads the logits, exactly as Keras does (see ``scratchnet.losses``).
    """
    blocks = []
    for f in filters:
        blocks += [layers.Conv2D(f, 3, activation="relu"), layers.MaxPooling2D(2)]
    return Sequential([
        layers.Input(input_shape),
        *blocks,
        layers.Flatten(),
        layers.Dropout(dropout),
        layers.Dense(dense_units, activation="relu"),
        layers.Dense(num_classes, activation="softmax"),
    ], seed=seed, name="rps_cnn")


def talk_cnn(input_shape=(150, 150, 3), num_classes: int = 3, seed: int | None = 0) -> Sequential:
    """The talk's convnet at 150x150: four blocks of 64, 64, 128, 128 filters and Dense 512."""
    return rps_cnn(input_shape, num_classes, seed, filters=(64, 64, 128, 128), dense_units=512,
                   dropout=0.5)
