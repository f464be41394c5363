"""Run Keras' MirroredStrategy on R logical CPUs in a fresh process (devices must be configured
before TensorFlow starts). Reads a JSON job on stdin, prints a JSON result on stdout.

Job: {"num_replicas", "cases": [{"weights", "x", "y", "batch_size", "epochs", "optimizer"}]}.
Result: {"num_replicas_in_sync", "cases": [{"weights", "loss", "accuracy"}]}.
"""

import json
import os
import sys

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import tfnet  # noqa: E402


def main():
    job = json.load(sys.stdin)
    strategy = tfnet.mirrored_strategy(job["num_replicas"])  # before any TF op
    import keras
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(0)
    out = {"num_replicas_in_sync": strategy.num_replicas_in_sync, "cases": []}
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
            if case["optimizer"] == "adam":
                opt = keras.optimizers.Adam(0.01)
            else:
                opt = keras.optimizers.SGD(0.5)
            model.compile(optimizer=opt, loss="sparse_categorical_crossentropy",
                          metrics=["accuracy"], jit_compile=False)
        model.set_weights([np.asarray(w, np.float32) for w in case["weights"]])
        history = model.fit(x, y, batch_size=case["batch_size"], epochs=case["epochs"],
                            shuffle=False, verbose=0)
        out["cases"].append({"weights": [w.tolist() for w in model.get_weights()],
                             "loss": history.history["loss"],
                             "accuracy": history.history["accuracy"]})
    # Devices are initialized now: asking for more replicas must fail clearly, the same is fine.
    try:
        tfnet.mirrored_strategy(job["num_replicas"] + 1)
        out["too_late_error"] = None
    except RuntimeError as err:
        out["too_late_error"] = str(err)
    out["again_in_sync"] = tfnet.mirrored_strategy(job["num_replicas"]).num_replicas_in_sync
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
