"""sn.distribute.MirroredStrategy == Keras' MirroredStrategy (tfnet.mirrored_strategy on logical
CPU devices), step for step, including uneven splits, empty replicas and partial last batches.

Keras runs in a subprocess: logical devices must be configured before TensorFlow initializes.
Keras 3.15's fit needs the FIRST batch to split evenly (its symbolic build reduces the first
per-replica batch with MEAN and fails on unequal shapes), so uneven splits appear here as partial
last batches, which is also where they happen in practice.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import scratchnet as sn

pytest.importorskip("tensorflow")

ROOT = Path(__file__).resolve().parents[1]

# (num_replicas, samples, batch_size, epochs, optimizer): the splits of each step
CASES = {
    2: [(11, 6, 2, "sgd"),    # steps 3+3, then the partial batch 5 = 3+2
        (9, 4, 2, "adam")],   # 2+2, 2+2, then the partial batch 1 = 1+0 (an empty replica)
    4: [(13, 8, 2, "sgd"),    # 2+2+2+2, then the partial batch 5 = 2+2+1+0
        (10, 4, 1, "adam")],  # 1+1+1+1, 1+1+1+1, then 2 = 1+1+0+0
}


def make_model(strategy, optimizer):
    with strategy.scope():
        model = sn.Sequential([
            sn.layers.Input((6, 6, 1)),
            sn.layers.Conv2D(3, 3, activation="relu"),
            sn.layers.MaxPooling2D(),
            sn.layers.Flatten(),
            sn.layers.Dense(3, activation="softmax"),
        ], seed=3)
    opt = sn.optimizers.Adam(0.01) if optimizer == "adam" else sn.optimizers.SGD(0.5)
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def run_keras(job):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               TF_ENABLE_ONEDNN_OPTS="0", TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, str(ROOT / "parity_tests" / "_keras_mirrored_run.py")],
                          input=json.dumps(job), capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


@pytest.mark.slow
@pytest.mark.parametrize("num_replicas", sorted(CASES))
def test_mirrored_training_matches_keras(num_replicas):
    rng = np.random.default_rng(num_replicas)
    ours, cases = [], []
    for n, batch_size, epochs, optimizer in CASES[num_replicas]:
        x = rng.normal(size=(n, 6, 6, 1)).astype(np.float32)
        y = rng.integers(0, 3, n)
        model = make_model(sn.distribute.MirroredStrategy(num_replicas), optimizer)
        cases.append({"weights": [w.tolist() for w in model.get_weights()], "x": x.tolist(),
                      "y": y.tolist(), "batch_size": batch_size, "epochs": epochs,
                      "optimizer": optimizer})
        history = model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0)
        ours.append((model, history))
    keras_out = run_keras({"num_replicas": num_replicas, "cases": cases})
    assert keras_out["num_replicas_in_sync"] == num_replicas
    assert "before any TensorFlow op runs" in keras_out["too_late_error"]
    assert keras_out["again_in_sync"] == num_replicas
    for (model, history), theirs in zip(ours, keras_out["cases"], strict=True):
        # up to 6 optimizer steps in float32: PARITY.md's trajectory tolerance (~1e-4 relative)
        for w, kw in zip(model.get_weights(), theirs["weights"], strict=True):
            np.testing.assert_allclose(w, np.asarray(kw, np.float32), rtol=1e-4, atol=1e-5)
        # Keras logs the unscaled loss: the mean over all samples of the epoch
        np.testing.assert_allclose(history.history["loss"], theirs["loss"], rtol=1e-5)
        np.testing.assert_allclose(history.history["accuracy"], theirs["accuracy"], rtol=1e-6)


@pytest.mark.slow
def test_uneven_split_differs_from_single_device():
    """The parity above is not vacuous: one device gives different weights for the same run."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(11, 6, 6, 1)).astype(np.float32)
    y = rng.integers(0, 3, 11)
    mirrored = make_model(sn.distribute.MirroredStrategy(2), "sgd")
    single = make_model(sn.distribute.MirroredStrategy(1), "sgd")
    for model in (mirrored, single):
        model.fit(x, y, batch_size=6, epochs=2, shuffle=False, verbose=0)
    diff = max(np.abs(a - b).max() for a, b in zip(mirrored.get_weights(), single.get_weights(),
                                                    strict=True))
    assert diff > 1e-3
