"""One worker of parity_tests/test_multiworker_keras.py: the same job on scratchnet or on Keras.

    mpiexec -n 2 python _multiworker_run.py JOB scratchnet          (scratchnet, over MPI)
    python _multiworker_run.py JOB keras INDEX ADDRESSES            (Keras, one process per worker)

JOB is a JSON file ``{"out", "cases": [{"weights", "x", "y", "batch_size", "epochs", "optimizer"}]}``;
each worker writes ``out/<framework>-<index>.json``: per case the final weights and the epoch losses.

Keras 3.15's ``fit`` does not run under ``MultiWorkerMirroredStrategy`` (keras-team/keras#20585:
its symbolic build and its log reduction call ``strategy.reduce(..., axis=0)`` on values the
collective cannot reduce), so the Keras side is TensorFlow's documented custom training loop for
that strategy: the same Keras model, loss and optimizer, the dataset distributed by the strategy
(``AutoShardPolicy.DATA``, as Keras' array adapter sets), ``strategy.run`` of a
``tf.GradientTape`` step. Inside ``strategy.run`` the Keras loss scales itself by
``1/num_replicas_in_sync`` and ``apply_gradients`` sums the replicas' gradients, as ``fit`` does.
"""

import json
import os
import sys

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def run_scratchnet(job):
    import scratchnet as sn

    strategy = sn.distribute.MultiWorkerMirroredStrategy(timeout_seconds=120)
    results = []
    for case in job["cases"]:
        with strategy.scope():
            model = sn.Sequential([
                sn.layers.Input(tuple(np.shape(case["x"])[1:])),
                sn.layers.Conv2D(3, 3, activation="relu"),
                sn.layers.MaxPooling2D(),
                sn.layers.Flatten(),
                sn.layers.Dense(3, activation="softmax"),
            ], seed=0)
        model.set_weights([np.asarray(w, np.float32) for w in case["weights"]])
        opt = sn.optimizers.Adam(0.01) if case["optimizer"] == "adam" else sn.optimizers.SGD(0.5)
        model.compile(optimizer=opt, loss="sparse_categorical_crossentropy")
        history = model.fit(np.asarray(case["x"], np.float32), np.asarray(case["y"]),
                            batch_size=case["batch_size"], epochs=case["epochs"], shuffle=False,
                            verbose=0)
        results.append({"weights": [w.tolist() for w in model.get_weights()],
                        "loss": history.history["loss"]})
    return strategy.worker_index, results


def run_keras(job, index, addresses):
    import tfnet

    strategy = tfnet.multi_worker_strategy(index, addresses, timeout_seconds=120)  # first TF op
    import keras
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(0)
    replicas = strategy.num_replicas_in_sync
    results = []
    for case in job["cases"]:
        x = np.asarray(case["x"], np.float32)
        y = np.asarray(case["y"], np.int64)
        with strategy.scope():
            model = keras.Sequential([
                keras.Input(x.shape[1:]),
                keras.layers.Conv2D(3, 3, activation="relu"),
                keras.layers.MaxPooling2D(),
                keras.layers.Flatten(),
                keras.layers.Dense(3, activation="softmax"),
            ])
            opt = keras.optimizers.Adam(0.01) if case["optimizer"] == "adam" else keras.optimizers.SGD(0.5)
            opt.build(model.trainable_variables)
            loss_fn = keras.losses.SparseCategoricalCrossentropy()
        model.set_weights([np.asarray(w, np.float32) for w in case["weights"]])
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(case["batch_size"])
        batches = strategy.experimental_distribute_dataset(dataset.with_options(options))

        @tf.function
        def train_step(xb, yb, model=model, opt=opt, loss_fn=loss_fn):
            def replica_step(xb, yb):
                with tf.GradientTape() as tape:
                    loss = loss_fn(yb, model(xb, training=True))  # mean over the slice / replicas
                grads = tape.gradient(loss, model.trainable_variables)
                # summed over the replicas inside apply_gradients
                opt.apply_gradients(zip(grads, model.trainable_variables, strict=True))
                n = tf.cast(tf.shape(xb)[0], tf.float32)
                return loss * replicas * n, n  # the slice's summed loss, for Keras' loss tracker

            loss_sum, n = strategy.run(replica_step, args=(xb, yb))
            return strategy.reduce("SUM", loss_sum, axis=None), strategy.reduce("SUM", n, axis=None)

        losses = []
        for _ in range(case["epochs"]):
            total = count = 0.0
            for xb, yb in batches:
                loss_sum, n = train_step(xb, yb)
                total, count = total + float(loss_sum), count + float(n)
            losses.append(total / count)  # the batch-size-weighted mean that fit logs
        results.append({"weights": [w.tolist() for w in model.get_weights()], "loss": losses})
    return index, results


def main():
    job_path, framework = sys.argv[1], sys.argv[2]
    with open(job_path) as f:
        job = json.load(f)
    if framework == "keras":
        index, results = run_keras(job, int(sys.argv[3]), sys.argv[4].split(","))
    else:
        index, results = run_scratchnet(job)
    with open(os.path.join(job["out"], f"{framework}-{index}.json"), "w") as f:
        json.dump({"cases": results}, f)


if __name__ == "__main__":
    main()
