"""Two scratchnet workers (``mpiexec -n 2``, sn.distribute.MultiWorkerMirroredStrategy) == two
Keras workers (subprocesses, tf.distribute.MultiWorkerMirroredStrategy via
tfnet.multi_worker_strategy, TF_CONFIG on 127.0.0.1) == one scratchnet process with the same
global batch: final weights and logged losses, from the same weights on the same batches.

parity_tests/_multiworker_run.py runs one worker of either kind (and says why the Keras side is
TensorFlow's custom training loop rather than ``fit``).
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
pytest.importorskip("mpi4py")

ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "parity_tests" / "_multiworker_run.py"
MPIEXEC = Path(sys.executable).parent / "mpiexec"

# (samples, global batch, epochs, optimizer): the per-worker split of every step
CASES = [(24, 8, 3, "sgd"),    # 4 + 4, nine steps
         (20, 8, 2, "adam"),   # 4 + 4, 4 + 4, then the partial batch 4 = 2 + 2
         (21, 8, 2, "sgd")]    # 4 + 4, 4 + 4, then the partial batch 5 = 3 + 2 (uneven)


def make_model():
    return sn.Sequential([
        sn.layers.Input((6, 6, 1)),
        sn.layers.Conv2D(3, 3, activation="relu"),
        sn.layers.MaxPooling2D(),
        sn.layers.Flatten(),
        sn.layers.Dense(3, activation="softmax"),
    ], seed=5)


def worker_env():
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PMI_", "OMPI_", "PMIX_")) and k != "TF_CONFIG"}
    env.update(PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               TF_ENABLE_ONEDNN_OPTS="0", TF_CPP_MIN_LOG_LEVEL="2", NUMBA_NUM_THREADS="1",
               OMP_NUM_THREADS="1", TF_NUM_INTEROP_THREADS="1", TF_NUM_INTRAOP_THREADS="1")
    return env


def read(out, framework):
    return [json.loads((out / f"{framework}-{i}.json").read_text())["cases"] for i in range(2)]


@pytest.mark.slow
def test_two_workers_match_keras_and_one_process(tmp_path):
    import tfnet

    rng = np.random.default_rng(7)
    cases = []
    for n, batch_size, epochs, optimizer in CASES:
        x = rng.normal(size=(n, 6, 6, 1)).astype(np.float32)
        y = rng.integers(0, 3, n)
        cases.append({"weights": [w.tolist() for w in make_model().get_weights()], "x": x.tolist(),
                      "y": y.tolist(), "batch_size": batch_size, "epochs": epochs,
                      "optimizer": optimizer})
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"out": str(tmp_path), "cases": cases}))

    # Keras: two worker processes that find each other through TF_CONFIG on free local ports.
    addresses = ",".join(tfnet.local_worker_addresses(2))
    keras_workers = [subprocess.Popen([sys.executable, str(RUNNER), str(job), "keras", str(i), addresses],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                      env=worker_env()) for i in range(2)]
    # scratchnet: two MPI workers (running alongside, on the same 2 cores).
    ours = subprocess.run([str(MPIEXEC), "-n", "2", sys.executable, str(RUNNER), str(job), "scratchnet"],
                          capture_output=True, text=True, env=worker_env(), timeout=300)
    assert ours.returncode == 0, ours.stderr[-3000:]
    for worker in keras_workers:
        _, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err[-3000:]

    sn_0, sn_1 = read(tmp_path, "scratchnet")
    keras_0, keras_1 = read(tmp_path, "keras")
    assert sn_0 == sn_1  # every worker ends with the same weights (one Allreduce, the same update)
    for case, ours_case, theirs, theirs_1 in zip(cases, sn_0, keras_0, keras_1, strict=True):
        # Keras' workers hold mirrored variables: identical on both
        for w, w1 in zip(theirs["weights"], theirs_1["weights"], strict=True):
            np.testing.assert_array_equal(w, w1)
        # Against Keras: up to 9 optimizer steps in float32, PARITY.md's trajectory tolerance
        # (~1e-4 relative on weights; TF's conv/matmul kernels round differently from NumPy's).
        for w, kw in zip(ours_case["weights"], theirs["weights"], strict=True):
            np.testing.assert_allclose(np.asarray(w, np.float32), np.asarray(kw, np.float32),
                                       rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(ours_case["loss"], theirs["loss"], rtol=1e-5)

        # Against one scratchnet process with the same global batch. Equal halves: the global
        # mean's gradient, up to float32 summation order (one reduction over B samples against
        # two halves added), a few ulps per step. The uneven 3 + 2 batch follows the
        # (1/R)-sum rule, which one process reproduces with MirroredStrategy(2).
        splits = [case["batch_size"]] * (len(case["x"]) // case["batch_size"])
        splits += [len(case["x"]) % case["batch_size"]] if len(case["x"]) % case["batch_size"] else []
        strategy = None if all(b % 2 == 0 for b in splits) else sn.distribute.MirroredStrategy(2)
        if strategy is None:
            model = make_model()
        else:
            with strategy.scope():
                model = make_model()
        model.set_weights([np.asarray(w, np.float32) for w in case["weights"]])
        opt = sn.optimizers.Adam(0.01) if case["optimizer"] == "adam" else sn.optimizers.SGD(0.5)
        model.compile(optimizer=opt, loss="sparse_categorical_crossentropy")
        history = model.fit(np.asarray(case["x"], np.float32), np.asarray(case["y"]),
                            batch_size=case["batch_size"], epochs=case["epochs"], shuffle=False,
                            verbose=0)
        for w, ref in zip(ours_case["weights"], model.get_weights(), strict=True):
            np.testing.assert_allclose(np.asarray(w, np.float32), ref, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(ours_case["loss"], history.history["loss"], rtol=1e-6)


def test_tf_config_on_free_local_ports():
    import tfnet
    from tfnet.multi_worker import tf_config

    addresses = tfnet.local_worker_addresses(3)
    assert len(set(addresses)) == 3 and all(a.startswith("127.0.0.1:") for a in addresses)
    assert tf_config(1, addresses) == {"cluster": {"worker": addresses},
                                       "task": {"type": "worker", "index": 1}}
    with pytest.raises(ValueError, match=r"expected worker_index in \[0, 3\), received 3"):
        tf_config(3, addresses)
    with pytest.raises(ValueError, match="expected num_workers to be a positive integer, received 0"):
        tfnet.local_worker_addresses(0)
    with pytest.raises(ValueError, match="give both worker_index and worker_addresses, or neither"):
        tfnet.multi_worker_strategy(0)
