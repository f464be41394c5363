"""Train the digits convnet on several workers (processes) at once, over MPI.

    pip install -e ".[mpi]"                                   # mpi4py + MPICH's mpiexec
    mpiexec -n 2 python examples/train_multiworker.py         # two workers on this machine
    python examples/train_multiworker.py                      # one worker (it says so)

Every worker runs this same file. Each holds the same arrays and the same model (seed 0), takes
its half of every global batch, and the gradients are summed with one Allreduce per step
(``scratchnet/distribute_mpi.py``, ``MultiWorkerMirroredStrategy.forward_backward``). Worker 0
prints the epoch logs and writes the CSV log and the backup; if the job dies, start it again with
the same command and it resumes after the last completed epoch (``BackupAndRestore``).
"""

from __future__ import annotations

import argparse
import os

import scratchnet as sn


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64, help="the global batch")
    parser.add_argument("--out", default="runs/multiworker")
    args = parser.parse_args(argv)

    strategy = sn.distribute.MultiWorkerMirroredStrategy()  # reads the MPI world: who am I?
    x, y = sn.datasets.load_digits("train")  # every worker loads the same arrays
    x_test, y_test = sn.datasets.load_digits("test")
    with strategy.scope():
        model = sn.models.digits_cnn(seed=0)  # the same seed on every worker (checked)
    model.compile(optimizer=sn.optimizers.Adam(1e-3),
                  loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    callbacks = [sn.callbacks.BackupAndRestore(os.path.join(args.out, "backup")),
                 sn.callbacks.CSVLogger(os.path.join(args.out, "log.csv"))]  # worker 0 writes
    os.makedirs(args.out, exist_ok=True)
    history = model.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, callbacks=callbacks,
                        validation_data=(x_test, y_test), verbose=2 if strategy.is_chief else 0)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)  # the same figures on every worker
    if strategy.is_chief:
        print(f"{strategy.num_workers} worker(s), {strategy.num_replicas_in_sync} replica(s): "
              f"test loss {loss:.4f}, accuracy {accuracy:.4f}")
    return {"history": history.history, "test": [loss, accuracy]}


if __name__ == "__main__":
    main()
