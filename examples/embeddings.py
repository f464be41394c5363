"""Embeddings against a one-hot baseline on the built-in structured data, in scratchnet and Keras.

    python examples/embeddings.py [--epochs 8] [--dim 2] [--out embeddings.png] [--no-keras]

Each row of ``sn.datasets.load_structured`` (user, age, item category, device, price -> clicked)
becomes five string tokens (``"user_id=17"``, ``"age=30-45"``, ...). Both models start with the
same ``StringLookup``, then

    embeddings: Embedding(vocab, dim) -> Flatten -> Dense(32, relu) -> Dense(2)
    one-hot:    CategoryEncoding(vocab, "multi_hot") -> Dense(32, relu) -> Dense(2)

The one-hot model gives every user 32 weights of its own; the embedding model squeezes each user
into ``dim`` numbers, which is all a user's hidden taste needs. The learnt 2-D user vectors are
plotted coloured by that hidden taste: users of one taste end up together.
The Keras twins are plain Keras code, started from scratchnet's initial weights.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import scratchnet as sn
from scratchnet.datasets import structured

HIDDEN = 32


def scratchnet_models(vocab: list[str], dim: int, seed: int = 0) -> dict[str, sn.Sequential]:
    size = len(vocab) + 1  # + the OOV index 0
    embeddings = sn.Sequential([
        sn.layers.Input((5,), dtype="string"),
        sn.layers.StringLookup(vocabulary=vocab),
        sn.layers.Embedding(size, dim),
        sn.layers.Flatten(),
        sn.layers.Dense(HIDDEN, activation="relu"),
        sn.layers.Dense(2),
    ], seed=seed, name="embeddings")
    one_hot = sn.Sequential([
        sn.layers.Input((5,), dtype="string"),
        sn.layers.StringLookup(vocabulary=vocab),
        sn.layers.CategoryEncoding(size, output_mode="multi_hot"),
        sn.layers.Dense(HIDDEN, activation="relu"),
        sn.layers.Dense(2),
    ], seed=seed, name="one_hot")
    return {"embeddings": embeddings, "one_hot": one_hot}


def keras_models(vocab: list[str], dim: int) -> dict:
    import keras

    size = len(vocab) + 1
    embeddings = keras.Sequential([
        keras.Input((5,), dtype="string"),
        keras.layers.StringLookup(vocabulary=vocab),
        keras.layers.Embedding(size, dim),
        keras.layers.Flatten(),
        keras.layers.Dense(HIDDEN, activation="relu"),
        keras.layers.Dense(2),
    ], name="embeddings")
    one_hot = keras.Sequential([
        keras.Input((5,), dtype="string"),
        keras.layers.StringLookup(vocabulary=vocab),
        keras.layers.CategoryEncoding(size, output_mode="multi_hot"),
        keras.layers.Dense(HIDDEN, activation="relu"),
        keras.layers.Dense(2),
    ], name="one_hot")
    return {"embeddings": embeddings, "one_hot": one_hot}


def user_vectors(table: np.ndarray, vocab: list[str]) -> np.ndarray:
    """Rows of the embedding table for ``user_id=0 .. N_USERS-1`` (index = vocabulary position + 1)."""
    position = {token: i + 1 for i, token in enumerate(vocab)}
    return table[[position[f"user_id={u}"] for u in range(structured.N_USERS)]]


def taste_separation(vectors: np.ndarray, tastes: np.ndarray) -> float:
    """Fraction of users whose nearest taste centroid is their own taste (1.0: fully separated)."""
    centroids = np.stack([vectors[tastes == t].mean(axis=0) for t in range(len(structured.TASTES))])
    distances = np.linalg.norm(vectors[:, None, :] - centroids[None], axis=-1)  # (users, tastes)
    return float(np.mean(np.argmin(distances, axis=1) == tastes))


def plot(panels: dict[str, np.ndarray], tastes: np.ndarray, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 5), squeeze=False)
    for ax, (title, vectors) in zip(axes[0], panels.items(), strict=True):
        if vectors.shape[1] > 2:  # more than two dimensions: show the first two principal axes
            centred = vectors - vectors.mean(axis=0)
            vectors = centred @ np.linalg.svd(centred, full_matrices=False)[2][:2].T
            title += " (PCA)"
        for t, name in enumerate(structured.TASTE_NAMES):
            members = vectors[tastes == t]
            ax.scatter(members[:, 0], members[:, 1], s=12, alpha=0.75, label=f"likes {name}")
        ax.set_title(title)
        ax.set_xlabel("embedding dimension 1")
        ax.set_ylabel("embedding dimension 2")
        ax.legend(fontsize=8, loc="best")
    fig.suptitle(f"Learnt user embeddings ({structured.N_USERS} users), coloured by hidden taste")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--dim", type=int, default=2, help="embedding size")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--out", default="embeddings.png", help="where to write the plot")
    parser.add_argument("--no-keras", action="store_true", help="train only the scratchnet models")
    args = parser.parse_args(argv)

    columns, y = sn.datasets.load_structured("train")
    test_columns, y_test = sn.datasets.load_structured("test")
    x, x_test = sn.datasets.structured_tokens(columns), sn.datasets.structured_tokens(test_columns)
    lookup = sn.layers.StringLookup()
    lookup.adapt(x)
    vocab = lookup.get_vocabulary(include_special_tokens=False)
    print(f"{len(y)} training rows, {len(y_test)} test rows, vocabulary of {len(vocab)} tokens")

    results: dict = {}
    models = scratchnet_models(vocab, args.dim)
    initial = {name: model.get_weights() for name, model in models.items()}
    for name, model in models.items():
        model.compile(sn.optimizers.Adam(3e-3),
                      sn.losses.SparseCategoricalCrossentropy(from_logits=True), ["accuracy"])
        start = time.perf_counter()
        model.fit(x, y, epochs=args.epochs, batch_size=args.batch_size, verbose=0)
        seconds = time.perf_counter() - start
        accuracy = model.evaluate(x_test, y_test, verbose=0)[1]
        results[f"scratchnet/{name}"] = {"test_accuracy": accuracy, "params": model.count_params(),
                                         "seconds": seconds}
    tastes = structured.user_tastes()
    panels = {"scratchnet": user_vectors(models["embeddings"].get_weights()[0], vocab)}

    if not args.no_keras:
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
        import keras
        import tensorflow as tf

        klookup = keras.layers.StringLookup()
        klookup.adapt(tf.constant(x))
        assert klookup.get_vocabulary() == lookup.get_vocabulary(), "Keras orders tokens the same"
        keras.utils.set_random_seed(0)
        for name, kmodel in keras_models(vocab, args.dim).items():
            kmodel.set_weights(initial[name])  # the same start as the scratchnet twin
            kmodel.compile(keras.optimizers.Adam(3e-3),
                           keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                           metrics=["accuracy"], jit_compile=False)
            start = time.perf_counter()
            kmodel.fit(tf.constant(x), y, epochs=args.epochs, batch_size=args.batch_size, verbose=0)
            seconds = time.perf_counter() - start
            accuracy = kmodel.evaluate(tf.constant(x_test), y_test, verbose=0)[1]
            results[f"keras/{name}"] = {"test_accuracy": accuracy,
                                        "params": kmodel.count_params(), "seconds": seconds}
            if name == "embeddings":
                panels["keras"] = user_vectors(kmodel.get_weights()[0], vocab)

    print(f"{'model':<24}{'params':>8}{'test accuracy':>15}{'seconds':>9}")
    for name, r in results.items():
        print(f"{name:<24}{r['params']:>8,}{r['test_accuracy']:>15.3f}{r['seconds']:>9.1f}")
    for side, vectors in panels.items():
        results[f"{side}/taste_separation"] = taste_separation(vectors, tastes)
        print(f"{side}: nearest-taste-centroid agreement of user embeddings "
              f"{results[f'{side}/taste_separation']:.2f}")
    plot(panels, tastes, args.out)
    print(f"plot written to {args.out}")
    return results


if __name__ == "__main__":
    main()
