"""The main job: rock, paper, scissors with scratchnet and with Keras, side by side.

    python -m demo                      # or: python3 tasks.py demo
    python -m demo --impl scratch --backend numpy --epochs 5
    python -m demo --recipe talk --image-size 64   # the talk's recipe, from PNG folders (demo/talk.py)

Steps: generate the built-in hand images (no download); build ``rps_cnn`` with scratchnet and
copy its initial weights into the plain-Keras twin ``tfnet.models.rps_cnn``; train both with Adam
on the same data, the learning rate set per epoch along a half cosine (progress bars); print a
per-epoch table and the final test accuracies; train a dense-only scratchnet baseline for
comparison; and write the figures to a run folder.

The test split serves as the validation data, as in the talk, so the last validation column is
the final test accuracy. Keras is optional: without TensorFlow, ``--impl both`` runs scratchnet
only and says so.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import time
from pathlib import Path

import scratchnet as sn

MIN_IMAGE_SIZE = 24  # rps_cnn's three conv + pool blocks need at least 24x24 pixels
TALK_EPOCHS = 15


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", choices=("rps", "talk"), default="rps",
                        help="rps (default): the built-in arrays, rps_cnn, Adam on a cosine; talk: "
                             "the talk's model, augmentation and rmsprop, read from PNG class "
                             "folders by image_dataset_from_directory (demo/talk.py)")
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"training epochs (default 20; talk: {TALK_EPOCHS})")
    parser.add_argument("--image-size", type=int, default=None,
                        help=f"image height and width, {MIN_IMAGE_SIZE} to {sn.datasets.rps.MAX_IMAGE_SIZE}"
                             " (default 32; talk: 46 to 300, default 150)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="talk: your own folders DIR/train and DIR/test, one sub-folder per class "
                             "(default: the built-in hands, written once as PNGs)")
    parser.add_argument("--backend", choices=sn.kernels.BACKENDS, default=None,
                        help=f"scratchnet kernels (default {sn.get_backend()}; numpy to step through)")
    parser.add_argument("--impl", choices=("both", "scratch", "keras"), default="both",
                        help="which implementations to train (default both)")
    parser.add_argument("--out", type=Path, default=None,
                        help="run folder (default runs/rps-<timestamp>)")
    parser.add_argument("--seed", type=int, default=0,
                        help="data, initial weights, shuffling and dropout (default 0)")
    parser.add_argument("--batch-size", type=int, default=None, help="default 16 (talk: 32)")
    parser.add_argument("--learning-rate", type=float, default=None,
                        help="Adam's learning rate at the first epoch, decaying along a half cosine "
                             "to near 0 at the last (default 0.001); talk: RMSprop's, constant "
                             "(default: the string 'rmsprop', learning rate 0.001)")
    parser.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=True,
                        help="also train a dense-only scratchnet model (default on)")
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="BLAS threads for scratchnet's matrix products (default 1; 0 = BLAS's own "
                             "default). Its products are small: extra threads mostly wait")
    parser.add_argument("--num-train", type=int, default=None, help="fewer training images (smoke runs)")
    parser.add_argument("--num-test", type=int, default=None, help="fewer test images (smoke runs)")
    args = parser.parse_args(argv)
    talk = args.recipe == "talk"
    if args.epochs is None:
        args.epochs = TALK_EPOCHS if talk else 20
    if args.batch_size is None:
        args.batch_size = 32 if talk else 16
    if args.learning_rate is None and not talk:
        args.learning_rate = 1e-3
    if args.image_size is None:
        args.image_size = 150 if talk else 32
    low, high = (46, 300) if talk else (MIN_IMAGE_SIZE, sn.datasets.rps.MAX_IMAGE_SIZE)
    if not low <= args.image_size <= high:
        parser.error(f"--image-size: expected {low} to {high}, received {args.image_size}")
    if args.data_dir is not None and not talk:
        parser.error("--data-dir: only with --recipe talk (the rps recipe uses the built-in arrays)")
    for flag in ("epochs", "batch_size", "num_train", "num_test"):
        value = getattr(args, flag)
        if value is not None and value <= 0:
            parser.error(f"--{flag.replace('_', '-')}: expected a positive integer, received {value}")
    if args.blas_threads < 0:
        parser.error(f"--blas-threads: expected an integer >= 0, received {args.blas_threads}")
    if args.seed < 0:
        parser.error(f"--seed: expected an integer >= 0, received {args.seed}")
    return args


def blas_threads(n: int):
    """Limit the BLAS library's threads while scratchnet runs (``0``: leave it alone).

    scratchnet's matrix products are small (a batch of 16 rows): a multi-threaded BLAS spends more
    time handing work between threads than computing, and on a busy 2-core machine measured 5 to
    10 times slower than one thread. Keras is unaffected (TensorFlow has its own thread pool).
    """
    if n == 0:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits  # installed with scikit-learn
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=n, user_api="blas")


def cosine_learning_rate(epoch: int, epochs: int, base: float) -> float:
    """The learning rate of ``epoch`` (0-based): ``base`` at the start, decaying along half a cosine
    to near 0 at the last epoch, so the last epochs polish rather than jump around."""
    return base * 0.5 * (1 + math.cos(math.pi * epoch / epochs))


class EpochLearningRate(sn.callbacks.Callback):
    """Set the optimizer's learning rate at the start of each epoch from ``schedule(epoch)``; the
    scratchnet twin of ``keras.callbacks.LearningRateScheduler``."""

    def __init__(self, schedule):
        super().__init__()
        self.schedule = schedule

    def on_epoch_begin(self, epoch, logs=None):
        self.model.optimizer.learning_rate = float(self.schedule(epoch))


def dense_only_model(input_shape, seed: int) -> sn.Sequential:
    """The baseline: the same data through dense layers only (no convolution, no pooling)."""
    return sn.Sequential([
        sn.layers.Input(input_shape),
        sn.layers.Flatten(),
        sn.layers.Dense(256, activation="relu"),
        sn.layers.Dense(128, activation="relu"),
        sn.layers.Dense(3, activation="softmax"),
    ], seed=seed, name="dense_only")


def compile_scratch(model: sn.Sequential, learning_rate: float) -> sn.Sequential:
    model.compile(optimizer=sn.optimizers.Adam(learning_rate),
                  loss=sn.losses.SparseCategoricalCrossentropy(),  # reads the softmax's logits
                  metrics=["accuracy"])
    return model


def epoch_table(histories: dict[str, dict[str, list[float]]]) -> str:
    """One row per epoch: loss and accuracy, train and validation, of each implementation."""
    keys = ("loss", "accuracy", "val_loss", "val_accuracy")
    short = {"loss": "loss", "accuracy": "acc", "val_loss": "val_loss", "val_accuracy": "val_acc"}
    names = list(histories)
    group = "  ".join(f"{k:>8}" for k in (short[k] for k in keys))
    header1 = "epoch  " + " | ".join(f"{n:^{len(group)}}" for n in names)
    header2 = "       " + " | ".join(group for _ in names)
    lines = [header1, header2, "-" * len(header2)]
    epochs = max(len(h["loss"]) for h in histories.values())
    for e in range(epochs):
        cells = []
        for n in names:
            h = histories[n]
            cells.append("  ".join(f"{h[k][e]:8.4f}" if e < len(h[k]) else f"{'':8}" for k in keys))
        lines.append(f"{e + 1:5d}  " + " | ".join(cells))
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    with blas_threads(args.blas_threads):
        if args.recipe == "talk":
            from demo.talk import run_talk

            return run_talk(args)
        return run(args)


def start_run(args: argparse.Namespace, prefix: str):
    """Set the backend, make the run folder ``runs/<prefix>-<time>`` (or ``--out``) and import
    Keras if ``--impl`` wants it: ``(out, keras)``, keras ``None`` when not wanted or not
    installed. ``None`` instead of the pair when ``--impl keras`` cannot run (message printed)."""
    if args.backend:
        sn.set_backend(args.backend)
    out = args.out or Path("runs") / time.strftime(f"{prefix}-%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    keras = None
    if args.impl in ("both", "keras"):
        from demo.keras_side import import_keras

        keras = import_keras()
        if keras is None:
            if args.impl == "keras":
                print("--impl keras needs TensorFlow and Keras: pip install 'scratchnet[tf]'",
                      file=sys.stderr)
                return None
            print("TensorFlow/Keras is not installed: running scratchnet only "
                  "(pip install 'scratchnet[tf]' for the side-by-side run).", flush=True)
    return out, keras


def run(args: argparse.Namespace) -> int:
    started = start_run(args, "rps")
    if started is None:
        return 2
    out, keras = started
    run_scratch = args.impl in ("both", "scratch")
    run_keras = keras is not None

    # 1. Data: built in, generated (and cached) on first use.
    size = args.image_size
    t0 = time.perf_counter()
    x_train, y_train = sn.datasets.load_rps("train", image_size=size, seed=args.seed,
                                            num_samples=args.num_train)
    x_test, y_test = sn.datasets.load_rps("test", image_size=size, seed=args.seed,
                                          num_samples=args.num_test)
    print(f"data: {len(x_train)} training and {len(x_test)} test images of {size}x{size}x3 "
          f"({time.perf_counter() - t0:.1f}s); classes {', '.join(sn.datasets.RPS_CLASS_NAMES)}")

    # 2. One set of initial weights for both implementations.
    smodel = compile_scratch(sn.models.rps_cnn((size, size, 3), seed=args.seed), args.learning_rate)
    smodel.summary()
    initial_weights = smodel.get_weights()
    untrained_loss, untrained_acc = smodel.evaluate(x_test, y_test, verbose=0)
    print(f"untrained: test loss {untrained_loss:.4f}, test accuracy {untrained_acc:.1%} "
          "(chance is 33%)")

    histories: dict[str, dict[str, list[float]]] = {}
    results: dict[str, dict[str, float]] = {}
    seconds: dict[str, float] = {}
    fit_args = dict(epochs=args.epochs, batch_size=args.batch_size,
                    validation_data=(x_test, y_test), verbose=1)

    def schedule(epoch: int) -> float:
        return cosine_learning_rate(epoch, args.epochs, args.learning_rate)

    # 3. scratchnet.
    if run_scratch:
        print(f"\n== scratchnet (backend {sn.get_backend()}) ==", flush=True)
        t0 = time.perf_counter()
        histories["scratchnet"] = smodel.fit(x_train, y_train, callbacks=[EpochLearningRate(schedule)],
                                             **fit_args).history
        seconds["scratchnet"] = time.perf_counter() - t0
        loss, acc = smodel.evaluate(x_test, y_test, verbose=0)
        results["scratchnet"] = {"test_loss": loss, "test_accuracy": acc}
        smodel.save(out / "rps_cnn_scratchnet.npz")

    # 4. Keras, from the same initial weights.
    kmodel = None
    if run_keras:
        from demo.keras_side import build_keras_twin

        print(f"\n== Keras {keras.__version__} (TensorFlow backend), same initial weights ==",
              flush=True)
        kmodel = build_keras_twin(keras, initial_weights, size, args.learning_rate, args.seed)
        t0 = time.perf_counter()
        lr_callback = keras.callbacks.LearningRateScheduler(lambda epoch, lr: schedule(epoch))
        history = kmodel.fit(x_train, y_train, callbacks=[lr_callback], **fit_args).history
        histories["keras"] = {k: [float(v) for v in vs] for k, vs in history.items()
                              if k != "learning_rate"}
        seconds["keras"] = time.perf_counter() - t0
        loss, acc = kmodel.evaluate(x_test, y_test, verbose=0)
        results["keras"] = {"test_loss": float(loss), "test_accuracy": float(acc)}

    # 5. A dense-only baseline: what convolution buys.
    if args.baseline:
        print("\n== dense-only baseline (scratchnet) ==", flush=True)
        dense = compile_scratch(dense_only_model((size, size, 3), args.seed), args.learning_rate)
        t0 = time.perf_counter()
        dense.fit(x_train, y_train, callbacks=[EpochLearningRate(schedule)],
                  **{**fit_args, "validation_data": None, "verbose": 0})
        seconds["dense-only"] = time.perf_counter() - t0
        loss, acc = dense.evaluate(x_test, y_test, verbose=0)
        results["dense-only"] = {"test_loss": loss, "test_accuracy": acc}

    # 6. The table, ending at the final test accuracies.
    print("\n" + epoch_table(histories))
    lines = [f"untrained rps_cnn: test accuracy {untrained_acc:.2%}"]
    for name, r in results.items():
        lines.append(f"{name + ':':12s} test accuracy {r['test_accuracy']:.2%}  "
                     f"(test loss {r['test_loss']:.4f}, {seconds[name]:.0f}s)")
    if "scratchnet" in results and "keras" in results:
        gap = 100 * (results["keras"]["test_accuracy"] - results["scratchnet"]["test_accuracy"])
        lines.append(f"Keras - scratchnet: {gap:+.2f} points")
    print("\n".join(lines), flush=True)
    (out / "table.txt").write_text(epoch_table(histories) + "\n\n" + "\n".join(lines) + "\n")

    # 7. Figures. The scratchnet model holds the trained weights shown (Keras' if only Keras ran).
    from demo import figures

    if not run_scratch:
        smodel.set_weights(kmodel.get_weights())
    probs = {"scratchnet" if run_scratch else "keras": smodel.predict(x_test)}
    if run_scratch and run_keras:
        probs["keras"] = kmodel.predict(x_test, verbose=0)
    figures.curves(histories, out / "curves.png")
    figures.confusion_matrices({name: figures.confusion_matrix(y_test, p.argmax(axis=1))
                                for name, p in probs.items()}, out / "confusion_matrix.png")
    first = next(iter(probs))
    figures.prediction_grid(x_test, y_test, probs[first], out / "predictions.png", first)
    figures.first_layer_filters(smodel.layers[0].kernel.value, out / "first_layer_filters.png")
    figures.feature_maps(smodel, x_test[1 % len(x_test)], out / "feature_maps.png")
    figures.hand_set_filters(out / "hand_set_filters.png")

    summary = {"args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
               "backend": sn.get_backend(), "untrained_test_accuracy": untrained_acc,
               "results": results, "seconds": seconds, "histories": histories}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"\nwrote {out}/: " + ", ".join(sorted(p.name for p in out.iterdir())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
