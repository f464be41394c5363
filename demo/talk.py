"""The talk's recipe (``python -m demo --recipe talk``): rock, paper, scissors from PNG class folders.

As in the talk's notebook, translated to Keras 3: the images are read from ``train/`` and ``test/``
class folders by ``image_dataset_from_directory`` (150x150 by default, one-hot labels), and the
model rescales them to [0, 1], augments them (flips, rotations, zooms, shifts: active only in
training), and runs four conv + max-pool blocks (64, 64, 128, 128 filters), Flatten,
Dropout(0.5), Dense(512, relu) and Dense(3, softmax), compiled with ``"rmsprop"`` and
``"categorical_crossentropy"``. The test folder is the validation data, so the last validation
column is the final test accuracy.

scratchnet trains its model; Keras trains the twin made by ``tfnet.to_keras`` (the same initial
weights), each reading the folders with its own ``image_dataset_from_directory``: the same files
in the same order (the seeded shuffle), while the per-epoch shuffle buffer, the augmentation
draws and the dropout masks come from each framework's own random numbers.

The folders are the built-in hands written by ``sn.datasets.save_rps_directory`` (cached), or
your own with ``--data-dir`` (``train/`` and ``test/``, each with one folder per class).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import scratchnet as sn
from demo.__main__ import epoch_table, start_run

SOURCE_IMAGE_SIZE = 150  # the built-in PNGs' size (the talk's input); the reader resizes them


def talk_model(image_size: int, seed: int) -> sn.Sequential:
    """The talk's model with Keras 3's augmentation layers in front (the talk's
    ImageDataGenerator: rotation 40 degrees, shifts 0.2, zoom 0.2, horizontal flips)."""
    L = sn.layers
    blocks = []
    for filters in (64, 64, 128, 128):
        blocks += [L.Conv2D(filters, 3, activation="relu"), L.MaxPooling2D(2)]
    return sn.Sequential([
        L.Input((image_size, image_size, 3)),
        L.Rescaling(1 / 255),
        L.RandomFlip("horizontal"),
        L.RandomRotation(40 / 360),  # a fraction of a full turn: +-40 degrees
        L.RandomZoom(0.2),
        L.RandomTranslation(0.2, 0.2),
        *blocks,
        L.Flatten(),
        L.Dropout(0.5),
        L.Dense(512, activation="relu"),
        L.Dense(3, activation="softmax"),
    ], seed=seed, name="talk_cnn")


def folders(args: argparse.Namespace) -> tuple[Path, Path]:
    """``(train_dir, test_dir)``: ``--data-dir``'s, or the built-in hands written once."""
    if args.data_dir is not None:
        train_dir, test_dir = args.data_dir / "train", args.data_dir / "test"
        for d in (train_dir, test_dir):
            if not d.is_dir():
                raise SystemExit(f"--data-dir: expected {d} to be a folder of class folders")
        return train_dir, test_dir
    n_train = f"-n{args.num_train}" if args.num_train else ""
    n_test = f"-t{args.num_test}" if args.num_test else ""
    root = sn.datasets.rps.cache_dir() / f"rps-folders-{SOURCE_IMAGE_SIZE}px-seed{args.seed}{n_train}{n_test}"
    t0 = time.perf_counter()
    dirs = sn.datasets.save_rps_directory(root, image_size=SOURCE_IMAGE_SIZE, seed=args.seed,
                                          num_train=args.num_train, num_test=args.num_test)
    print(f"folders: {root} ({time.perf_counter() - t0:.1f}s)")
    return dirs


def read_folders(image_dataset_from_directory, train_dir, test_dir, args):
    """The talk's two datasets, read the same way by either framework's function."""
    common = {"image_size": (args.image_size, args.image_size), "label_mode": "categorical",
              "batch_size": args.batch_size, "seed": args.seed}
    train = image_dataset_from_directory(str(train_dir), shuffle=True, **common)
    test = image_dataset_from_directory(str(test_dir), shuffle=False, **common)
    return train, test


def labels_and_predictions(model, test, keras_side: bool = False):
    """Class ids of the test set, true and predicted, batch by batch (no shuffle: fixed order)."""
    y_true, y_pred = [], []
    for x, y in test:
        probs = model.predict(np.asarray(x), verbose=0) if keras_side else model.predict(x)
        y_true.append(np.asarray(y).argmax(axis=1))
        y_pred.append(probs.argmax(axis=1))
    return np.concatenate(y_true), np.concatenate(y_pred)


def run_talk(args: argparse.Namespace) -> int:
    started = start_run(args, "talk")
    if started is None:
        return 2
    out, keras = started
    run_scratch = args.impl in ("both", "scratch")
    run_keras = keras is not None

    # 1. The folders, read by image_dataset_from_directory.
    train_dir, test_dir = folders(args)
    train, test = read_folders(sn.utils.image_dataset_from_directory, train_dir, test_dir, args)
    print(f"classes {train.class_names}: {len(train.file_paths)} training and "
          f"{len(test.file_paths)} test images, resized to {args.image_size}x{args.image_size}")

    # 2. One model, one set of initial weights; Keras' twin comes from tfnet.to_keras.
    smodel = talk_model(args.image_size, args.seed)
    optimizer = "rmsprop" if args.learning_rate is None else sn.optimizers.RMSprop(args.learning_rate)
    smodel.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
    smodel.summary()

    histories: dict[str, dict[str, list[float]]] = {}
    results: dict[str, dict[str, float]] = {}
    seconds: dict[str, float] = {}
    predictions: dict[str, np.ndarray] = {}
    y_true = None
    kmodel = None
    if run_keras:
        import tfnet

        keras.utils.set_random_seed(args.seed)  # augmentation draws, dropout, shuffle buffer
        kmodel = tfnet.to_keras(smodel)  # before training: the same initial weights

    # 3. scratchnet.
    if run_scratch:
        print(f"\n== scratchnet (backend {sn.get_backend()}) ==", flush=True)
        t0 = time.perf_counter()
        histories["scratchnet"] = smodel.fit(train, epochs=args.epochs, validation_data=test,
                                             verbose=1).history
        seconds["scratchnet"] = time.perf_counter() - t0
        loss, acc = smodel.evaluate(test, verbose=0)
        results["scratchnet"] = {"test_loss": float(loss), "test_accuracy": float(acc)}
        y_true, predictions["scratchnet"] = labels_and_predictions(smodel, test)
        smodel.save(out / "talk_cnn_scratchnet.npz")

    # 4. Keras, from the same initial weights, reading the folders with Keras' own function.
    if run_keras:
        print(f"\n== Keras {keras.__version__} (TensorFlow backend), same initial weights ==",
              flush=True)
        ktrain, ktest = read_folders(keras.utils.image_dataset_from_directory, train_dir, test_dir,
                                     args)
        if ktrain.file_paths != train.file_paths or ktest.file_paths != test.file_paths:
            raise RuntimeError("Keras and scratchnet read the folders in different orders")
        t0 = time.perf_counter()
        history = kmodel.fit(ktrain, epochs=args.epochs, validation_data=ktest, verbose=1).history
        seconds["keras"] = time.perf_counter() - t0
        histories["keras"] = {k: [float(v) for v in vs] for k, vs in history.items()}
        loss, acc = kmodel.evaluate(ktest, verbose=0)
        results["keras"] = {"test_loss": float(loss), "test_accuracy": float(acc)}
        y_true, predictions["keras"] = labels_and_predictions(kmodel, ktest, keras_side=True)

    # 5. The table and the figures.
    print("\n" + epoch_table(histories))
    lines = [f"{name + ':':12s} test accuracy {r['test_accuracy']:.2%}  (test loss "
             f"{r['test_loss']:.4f}, {seconds[name]:.0f}s)" for name, r in results.items()]
    if len(results) == 2:
        gap = 100 * (results["keras"]["test_accuracy"] - results["scratchnet"]["test_accuracy"])
        lines.append(f"Keras - scratchnet: {gap:+.2f} points")
    print("\n".join(lines), flush=True)
    (out / "table.txt").write_text(epoch_table(histories) + "\n\n" + "\n".join(lines) + "\n")

    from demo import figures

    figures.curves(histories, out / "curves.png")
    figures.confusion_matrices({name: figures.confusion_matrix(y_true, p, k=len(test.class_names))
                                for name, p in predictions.items()}, out / "confusion_matrix.png")
    summary = {"recipe": "talk",
               "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
               "class_names": test.class_names, "backend": sn.get_backend(), "results": results,
               "seconds": seconds, "histories": histories}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"\nwrote {out}/: " + ", ".join(sorted(p.name for p in out.iterdir())))
    return 0
