"""Keras' MirroredStrategy on R logical CPUs training a small convnet with BatchNormalization, in a
fresh process (devices must be configured before TensorFlow starts). Reads a JSON job on stdin,
prints a JSON result on stdout.

Job: {"num_replicas", "weights", "x", "y", "batch_size", "epochs", "predict_batch_size"}.
Result: {"weights" (get_weights: replica 0's moving statistics), "replica_stats" (per BN layer,
per replica: [moving_mean, moving_variance]), "loss", "predictions", "evaluate"}.
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
    x = np.asarray(job["x"], np.float32)
    y = np.asarray(job["y"], np.int64)
    with strategy.scope():
        model = keras.Sequential([
            keras.Input(x.shape[1:]),
            keras.layers.Conv2D(3, 3, use_bias=False),
            keras.layers.BatchNormalization(momentum=0.8),
            keras.layers.Activation("relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(3, activation="softmax"),
        ])
        model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                      loss="sparse_categorical_crossentropy", jit_compile=False)
    model.set_weights([np.asarray(w, np.float32) for w in job["weights"]])
    history = model.fit(x, y, batch_size=job["batch_size"], epochs=job["epochs"], shuffle=False,
                        verbose=0)
    bn = model.layers[1]
    replica_stats = [[[v.numpy().tolist() for v in (mean, var)]
                      for mean, var in zip(bn.moving_mean.value.values,
                                           bn.moving_variance.value.values, strict=True)]]
    out = {
        "weights": [w.tolist() for w in model.get_weights()],
        "replica_stats": replica_stats,
        "loss": history.history["loss"],
        "predictions": model.predict(x, batch_size=job["predict_batch_size"], verbose=0).tolist(),
        "evaluate": float(model.evaluate(x, y, batch_size=job["predict_batch_size"], verbose=0)),
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
