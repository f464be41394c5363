"""Embeddings against a one-hot baseline on the built-in structured data, as functional models in
scratchnet and Keras.

    python examples/embeddings.py [--epochs 8] [--dim 2] [--out embeddings.png] [--no-keras]

``sn.datasets.load_structured`` gives named columns (user, age, item category, device, price ->
clicked). Each column enters the model through its own input, the way Keras 3 teaches structured
data (what ``tf.feature_column`` did before):

    user_id  (string) -> StringLookup -> Embedding(401, dim) -> Flatten     (one-hot: CategoryEncoding)
    age      (float)  -> Normalization
    price    (float)  -> Normalization
    item_category, device (strings) -> FeatureSpace: one-hot each + their hashed cross
    Concatenate -> Dense(32, relu) -> Dense(2)

The one-hot model gives every user 32 weights of its own; the embedding model squeezes each user
into ``dim`` numbers, which is all a user's hidden taste needs. The learnt 2-D user vectors are
plotted coloured by that hidden taste: users of one taste end up together.
The Keras twins are plain Keras code (``keras.utils.FeatureSpace`` and the same layers), adapted
on the same data and started from scratchnet's initial weights.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import scratchnet as sn
from scratchnet.datasets import structured

HIDDEN = 32
CROSSING_DIM = 16
CATEGORICALS = ("item_category", "device")
NUMERIC = ("age", "price")


def model_inputs(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One ``(N, 1)`` array per model input; the user id as text, as a StringLookup reads it."""
    inputs = {name: columns[name][:, None] for name in NUMERIC + CATEGORICALS}
    inputs["user_id"] = columns["user_id"].astype(str)[:, None]
    return inputs


def user_vocabulary() -> list[str]:
    return [str(u) for u in range(structured.N_USERS)]  # user u is index u + 1 (0 is OOV)


def scratchnet_model(kind: str, train: dict[str, np.ndarray], dim: int) -> sn.Model:
    """The functional model; ``kind`` is "embeddings" or "one_hot" (the user id's encoding)."""
    user = sn.Input((1,), dtype="string", name="user_id")
    ids = sn.layers.StringLookup(vocabulary=user_vocabulary(), name="user_lookup")(user)
    if kind == "embeddings":
        vector = sn.layers.Embedding(structured.N_USERS + 1, dim, name="user_embedding")(ids)
        user_features = sn.layers.Flatten(name="user_vector")(vector)  # (N, dim)
    else:
        user_features = sn.layers.CategoryEncoding(structured.N_USERS + 1, output_mode="one_hot",
                                                   name="user_one_hot")(ids)  # (N, 401)
    numeric_inputs, numeric_features = {}, []
    for name in NUMERIC:
        numeric_inputs[name] = sn.Input((1,), name=name)
        norm = sn.layers.Normalization(name=f"{name}_normalization")
        norm.adapt(train[name])  # mean and variance of the training column
        numeric_features.append(norm(numeric_inputs[name]))
    space = sn.utils.FeatureSpace({name: "string_categorical" for name in CATEGORICALS},
                                  crosses=[CATEGORICALS], crossing_dim=CROSSING_DIM)
    space.adapt({name: train[name][:, 0] for name in CATEGORICALS})
    joined = sn.layers.Concatenate(name="features")(
        [user_features, *numeric_features, space.get_encoded_features()])
    hidden = sn.layers.Dense(HIDDEN, activation="relu", name="hidden")(joined)
    logits = sn.layers.Dense(2, name="logits")(hidden)
    inputs = {"user_id": user, **numeric_inputs, **space.get_inputs()}
    return sn.Model(inputs, logits, name=kind)


def keras_model(kind: str, train: dict[str, np.ndarray], dim: int):
    """The same model as plain Keras code."""
    import keras
    import tensorflow as tf

    user = keras.Input((1,), dtype="string", name="user_id")
    ids = keras.layers.StringLookup(vocabulary=user_vocabulary(), name="user_lookup")(user)
    if kind == "embeddings":
        vector = keras.layers.Embedding(structured.N_USERS + 1, dim, name="user_embedding")(ids)
        user_features = keras.layers.Flatten(name="user_vector")(vector)
    else:
        user_features = keras.layers.CategoryEncoding(structured.N_USERS + 1, output_mode="one_hot",
                                                      name="user_one_hot")(ids)
    numeric_inputs, numeric_features = {}, []
    for name in NUMERIC:
        numeric_inputs[name] = keras.Input((1,), name=name)
        norm = keras.layers.Normalization(name=f"{name}_normalization")
        norm.adapt(train[name])
        numeric_features.append(norm(numeric_inputs[name]))
    space = keras.utils.FeatureSpace({name: "string_categorical" for name in CATEGORICALS},
                                     crosses=[CATEGORICALS], crossing_dim=CROSSING_DIM)
    space.adapt(tf.data.Dataset.from_tensor_slices({name: train[name][:, 0]
                                                    for name in CATEGORICALS}))
    joined = keras.layers.Concatenate(name="features")(
        [user_features, *numeric_features, space.get_encoded_features()])
    hidden = keras.layers.Dense(HIDDEN, activation="relu", name="hidden")(joined)
    logits = keras.layers.Dense(2, name="logits")(hidden)
    inputs = {"user_id": user, **numeric_inputs, **space.get_inputs()}
    return keras.Model(inputs, logits, name=kind)


def layer_named(model: sn.Model, name: str):
    return next(layer for layer in model.layers if layer.name == name)


def as_keras_inputs(inputs: dict[str, np.ndarray]) -> dict:
    import tensorflow as tf

    return {name: tf.constant(value) for name, value in inputs.items()}  # strings as tf.string


def taste_separation(vectors: np.ndarray, tastes: np.ndarray) -> float:
    """Fraction of users whose nearest taste centroid is their own taste (1.0: fully separated)."""
    centroids = np.stack([vectors[tastes == t].mean(axis=0) for t in range(len(structured.TASTES))])
    distances = np.linalg.norm(vectors[:, None, :] - centroids[None], axis=-1)  # (users, tastes)
    return float(np.mean(np.argmin(distances, axis=1) == tastes))


def user_vectors(table: np.ndarray) -> np.ndarray:
    """Rows of the embedding table for users 0 .. N_USERS-1 (row 0 is the OOV id)."""
    return table[1:structured.N_USERS + 1]


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
    x, x_test = model_inputs(columns), model_inputs(test_columns)
    print(f"{len(y)} training rows, {len(y_test)} test rows, columns {sorted(columns)}")

    results: dict = {}
    sn.utils.set_random_seed(0)
    models = {kind: scratchnet_model(kind, x, args.dim) for kind in ("embeddings", "one_hot")}
    initial = {kind: {layer.name: [p.value.copy() for p in layer.params.values()]
                      for layer in model.layers if layer.params} for kind, model in models.items()}
    probe = {key: value[:256] for key, value in x_test.items()}  # to check both sides start equal
    initial_logits = {kind: model.predict(probe, verbose=0) for kind, model in models.items()}
    for name, model in models.items():
        model.compile(sn.optimizers.Adam(3e-3),
                      sn.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        start = time.perf_counter()
        model.fit(x, y, epochs=args.epochs, batch_size=args.batch_size, verbose=0)
        seconds = time.perf_counter() - start
        accuracy = model.evaluate(x_test, y_test, verbose=0)[1]
        results[f"scratchnet/{name}"] = {"test_accuracy": accuracy, "params": model.count_params(),
                                         "seconds": seconds}
    tastes = structured.user_tastes()
    embedding = layer_named(models["embeddings"], "user_embedding").params["embeddings"].value
    panels = {"scratchnet": user_vectors(embedding)}

    if not args.no_keras:
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
        import keras

        keras.utils.set_random_seed(0)
        for name in models:
            kmodel = keras_model(name, x, args.dim)
            for layer_name, weights in initial[name].items():  # the same start as scratchnet's
                kmodel.get_layer(layer_name).set_weights(weights)
            start_gap = float(np.max(np.abs(kmodel.predict(as_keras_inputs(probe), verbose=0)
                                            - initial_logits[name])))
            kmodel.compile(keras.optimizers.Adam(3e-3),
                           keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                           metrics=["accuracy"], jit_compile=False)
            start = time.perf_counter()
            kmodel.fit(as_keras_inputs(x), y, epochs=args.epochs, batch_size=args.batch_size,
                       verbose=0)
            seconds = time.perf_counter() - start
            accuracy = kmodel.evaluate(as_keras_inputs(x_test), y_test, verbose=0)[1]
            results[f"keras/{name}"] = {"test_accuracy": accuracy,
                                        "params": kmodel.count_params(), "seconds": seconds,
                                        "initial_logits_max_abs_diff": start_gap}
            if name == "embeddings":
                panels["keras"] = user_vectors(kmodel.get_layer("user_embedding").get_weights()[0])

    print(f"{'model':<24}{'params':>8}{'test accuracy':>15}{'seconds':>9}")
    for name, r in results.items():
        print(f"{name:<24}{r['params']:>8,}{r['test_accuracy']:>15.3f}{r['seconds']:>9.1f}")
    for name in models:
        if f"keras/{name}" in results:
            print(f"{name}: untrained logits, scratchnet vs Keras, max |difference| "
                  f"{results[f'keras/{name}']['initial_logits_max_abs_diff']:.1e}")
    for side, vectors in panels.items():
        results[f"{side}/taste_separation"] = taste_separation(vectors, tastes)
        print(f"{side}: nearest-taste-centroid agreement of user embeddings "
              f"{results[f'{side}/taste_separation']:.2f}")
    plot(panels, tastes, args.out)
    print(f"plot written to {args.out}")
    return results


if __name__ == "__main__":
    main()
