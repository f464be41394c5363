"""One scratchnet worker for tests/test_multiworker.py, started as ``mpiexec -n 2 python <this> JOB``.

``JOB`` is a JSON file: ``{"mode": ..., "out": directory, ...}``. Each worker writes what it saw to
``out/worker-<index>.json``; the test compares the workers with each other and with one process.

Modes:
- ``train``: the cases of ``multiworker_cases()`` (weights, logged losses and accuracies).
- ``hang``: worker 1 stops answering at the start of epoch 1 (the others must give up).
- ``die``: worker 1 is killed by SIGKILL at the start of epoch 1.
- ``never_starts``: worker 1 never reaches training (it sleeps before building its model).
- ``raise``: worker 1 raises an uncaught RuntimeError at the start of epoch 1.
- ``seed`` / ``architecture``: worker 1 builds the model with another seed / another layer size.
- ``tiny_batch``: a global batch of 1 sample on 2 workers.
- ``backup``: BackupAndRestore in ``out/backup``; with ``"crash_at_epoch": k`` worker 1 is killed
  after the first step of epoch k, once worker 0 has written the backup of epoch k - 1.
- ``sharded``: CASES[0] from a PyDataset that loads only this worker's rows of each batch
  (``strategy.local_rows``) and fills the others with 1e6: they must never be read.
- ``files``: CSVLogger and ModelCheckpoint with per-worker paths: who writes files.
- ``constrained``: CASES[1] (Adam) with a MaxNorm kernel and a NonNeg bias constraint.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import numpy as np

import scratchnet as sn


def make_model(strategy, optimizer="sgd", seed=3, units=3, constrained=False):
    """``constrained``: the convolution's kernel and bias with constraints (applied after each
    update, on every worker alike)."""
    constraints = dict(kernel_constraint=sn.constraints.MaxNorm(0.4, axis=[0, 1, 2]),
                       bias_constraint="non_neg") if constrained else {}
    with strategy.scope():
        model = sn.Sequential([
            sn.layers.Input((6, 6, 1)),
            sn.layers.Conv2D(3, 3, activation="relu", **constraints),
            sn.layers.MaxPooling2D(),
            sn.layers.Flatten(),
            sn.layers.Dense(units, activation="softmax"),
        ], seed=seed)
    opt = sn.optimizers.Adam(0.01) if optimizer == "adam" else sn.optimizers.SGD(0.5)
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def data(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 6, 6, 1)).astype(np.float32), rng.integers(0, 3, n)


# (samples, global batch, epochs, optimizer, replicas_per_worker, shuffle, sample weights):
# each case is trained with 2 workers here and compared with one process by the test.
CASES = [
    (24, 8, 3, "sgd", 1, False, False),   # 3 steps of 4 + 4 per epoch
    (22, 8, 2, "adam", 1, True, False),   # shuffled; last batch 6 = 3 + 3
    (21, 8, 2, "sgd", 1, False, True),    # sample weights; last batch 5 = 3 + 2 (uneven)
    (24, 8, 2, "adam", 2, False, False),  # 2 threads per worker: 4 replicas of 2 samples
]


def train_cases(strategies):
    results = []
    for n, batch_size, epochs, optimizer, per_worker, shuffle, weighted in CASES:
        x, y = data(n)
        sample_weight = np.linspace(0.5, 1.5, n) if weighted else None
        model = make_model(strategies[per_worker], optimizer)
        history = model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=shuffle, verbose=0,
                            sample_weight=sample_weight)
        results.append({"weights": [w.tolist() for w in model.get_weights()],
                        "loss": history.history["loss"], "accuracy": history.history["accuracy"],
                        "evaluate": model.evaluate(x, y, verbose=0)})
    return results


class AtEpochBegin(sn.callbacks.Callback):
    def __init__(self, epoch, action):
        super().__init__()
        self.epoch, self.action = epoch, action

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            self.action()


class KillAfterFirstStep(sn.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch, self.current = epoch, -1

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.current == self.epoch:
            os.kill(os.getpid(), signal.SIGKILL)


def main(job_path):
    with open(job_path) as f:
        job = json.load(f)
    mode, out = job["mode"], job["out"]
    strategy = sn.distribute.MultiWorkerMirroredStrategy(
        timeout_seconds=job.get("timeout", 60), save_on_all_workers=job.get("save_on_all_workers", False))
    me = strategy.worker_index
    result = {"worker": me, "num_workers": strategy.num_workers,
              "num_replicas_in_sync": strategy.num_replicas_in_sync}
    x, y = data(16)
    if mode == "train":
        strategies = {1: strategy, 2: sn.distribute.MultiWorkerMirroredStrategy(replicas_per_worker=2)}
        result["cases"] = train_cases(strategies)
    elif mode in ("hang", "die", "raise"):
        def stop():
            if me == 1:
                if mode == "hang":
                    time.sleep(600)
                if mode == "raise":
                    raise RuntimeError("boom on worker 1")
                os.kill(os.getpid(), signal.SIGKILL)
        model = make_model(strategy)
        result["started"] = time.time()
        model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[AtEpochBegin(1, stop)])
    elif mode == "never_starts":
        if me == 1:
            time.sleep(600)
        make_model(strategy).fit(x, y, batch_size=8, epochs=1, verbose=0)
    elif mode in ("seed", "architecture", "tiny_batch"):
        seed = 4 if mode == "seed" and me == 1 else 3
        units = 4 if mode == "architecture" and me == 1 else 3
        model = make_model(strategy, seed=seed, units=units)
        try:
            model.fit(x, y, batch_size=1 if mode == "tiny_batch" else 8, epochs=1, verbose=0)
            result["error"] = None
        except ValueError as err:
            result["error"] = str(err)
    elif mode == "backup":
        model = make_model(strategy, "adam")
        callbacks = [sn.callbacks.BackupAndRestore(os.path.join(out, "backup"))]
        if job.get("crash_at_epoch") is not None and me == 1:
            callbacks.append(KillAfterFirstStep(job["crash_at_epoch"]))
        history = model.fit(x, y, batch_size=4, epochs=4, shuffle=True, verbose=0, callbacks=callbacks)
        result["epochs_run"] = history.epoch
        result["weights"] = [w.tolist() for w in model.get_weights()]
    elif mode == "sharded":
        n, batch_size, epochs, optimizer, _, _, _ = CASES[0]
        x_all, y_all = data(n)

        class MyRowsOnly(sn.utils.PyDataset):
            def __len__(self):
                return -(-n // batch_size)

            def __getitem__(self, i):
                batch = slice(i * batch_size, min((i + 1) * batch_size, n))
                rows = strategy.local_rows(batch.stop - batch.start)
                xb = np.full((batch.stop - batch.start,) + x_all.shape[1:], 1e6, np.float32)
                xb[rows] = x_all[batch][rows]  # a real loader would read only these from disk
                return xb, y_all[batch]

        model = make_model(strategy, optimizer)
        history = model.fit(MyRowsOnly(), epochs=epochs, verbose=0, shuffle=False)
        result["cases"] = [{"weights": [w.tolist() for w in model.get_weights()],
                            "loss": history.history["loss"], "accuracy": history.history["accuracy"]}]
    elif mode == "constrained":
        n, batch_size, epochs, optimizer, _, _, _ = CASES[1]
        x_all, y_all = data(n)
        model = make_model(strategy, optimizer, constrained=True)
        model.fit(x_all, y_all, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0)
        result["weights"] = [w.tolist() for w in model.get_weights()]
    elif mode == "files":
        model = make_model(strategy)
        callbacks = [sn.callbacks.CSVLogger(os.path.join(out, f"log-{me}.csv")),
                     sn.callbacks.ModelCheckpoint(os.path.join(out, f"ckpt-{me}.npz"), monitor="loss"),
                     sn.callbacks.TensorBoard(os.path.join(out, f"tb-{me}"))]
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=callbacks)
    else:
        raise ValueError(f"unknown mode {mode!r}")
    with open(os.path.join(out, f"worker-{me}.json"), "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main(sys.argv[1])
