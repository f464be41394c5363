"""sn.distribute.MultiWorkerMirroredStrategy: two MPI workers (``mpiexec -n 2``) train exactly as
one process does, refuse different models, never hang when a worker fails, resume from a backup.

Each test starts ``tests/multiworker_script.py`` under MPICH's ``mpiexec`` (the ``mpi`` extra) and
reads what every worker wrote. Tolerances are stated where they are used.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import scratchnet as sn
from tests import multiworker_script as script

pytest.importorskip("mpi4py")

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "multiworker_script.py"

MPIEXEC = Path(sys.executable).parent / "mpiexec"
LAUNCH_TIMEOUT = 180  # seconds for a whole mpiexec run; the runs take 3-10 s on an idle machine


def launch(tmp_path, mode, *mpiexec_flags, **job):
    """Run two workers on ``mode``; returns (process, elapsed seconds, {worker: result})."""
    out = tmp_path / mode
    out.mkdir(exist_ok=True)
    job_path = tmp_path / f"{mode}.json"
    job_path.write_text(json.dumps({"mode": mode, "out": str(out), **job}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_", "PMIX_"))}
    env.update(NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    # the workers import this checkout's scratchnet (the script's own folder is tests/, and the
    # installed package may be another checkout's)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE.parent), env.get("PYTHONPATH")]))
    start = time.monotonic()
    proc = subprocess.run([str(MPIEXEC), *mpiexec_flags, "-n", "2", sys.executable, str(SCRIPT),
                           str(job_path)], capture_output=True, text=True, env=env,
                          timeout=LAUNCH_TIMEOUT)
    elapsed = time.monotonic() - start
    results = {int(p.stem.split("-")[1]): json.loads(p.read_text()) for p in out.glob("worker-*.json")}
    return proc, elapsed, results


def single_process(case, strategy):
    """One case of multiworker_script.CASES trained in this process."""
    n, batch_size, epochs, optimizer, _, shuffle, weighted = case
    x, y = script.data(n)
    model = script.make_model(strategy, optimizer)
    history = model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=shuffle, verbose=0,
                        sample_weight=np.linspace(0.5, 1.5, n) if weighted else None)
    history.history["evaluate"] = model.evaluate(x, y, verbose=0)
    return model.get_weights(), history.history


class _NoStrategy:
    def scope(self):
        import contextlib
        return contextlib.nullcontext()


@pytest.mark.slow
def test_two_workers_train_as_one_process(tmp_path):
    proc, _, results = launch(tmp_path, "train")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(results) == [0, 1]
    assert results[0]["num_replicas_in_sync"] == 2
    # Both workers end with bit-identical weights and logs: same buffer, same update.
    assert results[0]["cases"] == results[1]["cases"]
    for case, ours in zip(script.CASES, results[0]["cases"], strict=True):
        per_worker = case[4]
        mirrored_w, mirrored_h = single_process(case, sn.distribute.MirroredStrategy(2 * per_worker))
        if per_worker == 1:
            # The same arithmetic as MirroredStrategy(2) in one process, the same order too:
            # g0/2 + g1/2 is one float32 addition either way, so the weights agree exactly.
            for w, ref in zip(ours["weights"], mirrored_w, strict=True):
                np.testing.assert_array_equal(np.asarray(w, np.float32), ref)
        else:
            # 4 replicas: ((g0 + g1) + (g2 + g3)) over MPI against ((g0 + g1) + g2) + g3 in one
            # process: float32 summation order only, a few ulps per step over 6 steps.
            for w, ref in zip(ours["weights"], mirrored_w, strict=True):
                np.testing.assert_allclose(np.asarray(w, np.float32), ref, rtol=1e-5, atol=1e-6)
        # The loss travels in the float32 buffer (the single process sums it in float64).
        np.testing.assert_allclose(ours["loss"], mirrored_h["loss"], rtol=1e-6)
        np.testing.assert_allclose(ours["accuracy"], mirrored_h["accuracy"], rtol=0, atol=0)
        # evaluate: every worker computes all of x itself, with the same weights
        np.testing.assert_allclose(ours["evaluate"], mirrored_h["evaluate"], rtol=1e-6)

        n, batch_size = case[0], case[1]
        splits_evenly = all(b % (2 * per_worker) == 0
                            for b in [batch_size] * (n // batch_size) + [n % batch_size] if b)
        if splits_evenly:
            # Equal slices: the global mean's gradient, as one device without a strategy computes
            # it, up to float32 summation order (one matmul over B vs two halves added): the
            # PARITY.md trajectory tolerance, tightened to what float32 shows over <= 9 steps.
            single_w, single_h = single_process(case, _NoStrategy())
            for w, ref in zip(ours["weights"], single_w, strict=True):
                np.testing.assert_allclose(np.asarray(w, np.float32), ref, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(ours["loss"], single_h["loss"], rtol=1e-6)


def test_each_worker_reads_only_its_rows(tmp_path):
    """Sharded reading: a PyDataset that loads only ``strategy.local_rows`` (1e6 elsewhere)
    trains exactly as the whole arrays do, so no worker reads another's rows."""
    proc, _, results = launch(tmp_path, "sharded")
    assert proc.returncode == 0, proc.stderr[-3000:]
    mirrored_w, mirrored_h = single_process(script.CASES[0], sn.distribute.MirroredStrategy(2))
    for worker in (0, 1):
        ours = results[worker]["cases"][0]
        for w, ref in zip(ours["weights"], mirrored_w, strict=True):
            np.testing.assert_array_equal(np.asarray(w, np.float32), ref)  # the same sums, as above
        np.testing.assert_allclose(ours["loss"], mirrored_h["loss"], rtol=1e-6)
        np.testing.assert_array_equal(ours["accuracy"], mirrored_h["accuracy"])


def test_local_rows_follow_the_split_rule():
    strategy = sn.distribute.MultiWorkerMirroredStrategy(replicas_per_worker=2)  # one worker here
    assert strategy.local_rows(5) == slice(0, 5)
    strategy.num_workers, strategy.worker_index = 3, 1  # as worker 1 of 3 would see it: R = 6
    assert strategy.local_rows(13) == slice(6, 12)  # slices of 3: 3, 3 | 3, 3 | 1, 0
    assert strategy.local_rows(5) == slice(2, 4)    # 1, 1 | 1, 1 | 1, 0


@pytest.mark.slow
def test_uneven_last_batch_is_not_single_device(tmp_path):
    """The comparison above can fail: with a 3 + 2 last batch the 1/R rule differs from one device."""
    case = script.CASES[2]
    mirrored_w, _ = single_process(case, sn.distribute.MirroredStrategy(2))
    single_w, _ = single_process(case, _NoStrategy())
    assert max(np.abs(a - b).max() for a, b in zip(mirrored_w, single_w, strict=True)) > 1e-4


@pytest.mark.parametrize("mode, message", [
    ("seed", "worker(s) [1] start from different initial weights than worker 0"),
    ("architecture", "worker(s) [1] built a different model than worker 0"),
    ("tiny_batch", "a global batch of 1 sample(s) leaves worker(s) [1] of 2 with no samples"),
])
def test_refuses_at_start(tmp_path, mode, message):
    proc, _, results = launch(tmp_path, mode)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for worker in (0, 1):  # every worker sees the same gathered checksums and refuses alike
        assert message in results[worker]["error"]


@pytest.mark.parametrize("mode", ["hang", "never_starts"])
def test_a_silent_worker_stops_the_job_with_a_clear_error(tmp_path, mode):
    timeout = 3
    proc, elapsed, results = launch(tmp_path, mode, timeout=timeout)
    assert proc.returncode != 0
    where = "Allreduce of training step 2" if mode == "hang" else "Allgather of the model checksums"
    assert (f"worker 0 of 2 waited {timeout} s (timeout_seconds) in the {where}"
            in proc.stderr + proc.stdout)
    assert not results  # nobody finished
    assert elapsed < timeout + 60  # start-up of two Pythons on a busy machine, then the timeout


def test_a_dead_worker_stops_the_job(tmp_path):
    """A worker killed by a signal: MPICH's mpiexec ends the whole job at once and names it.
    (A worker that hangs or never starts is the watchdog's case, above.)"""
    proc, elapsed, results = launch(tmp_path, "die", timeout=3)
    assert proc.returncode != 0
    assert not results
    assert elapsed < 60
    output = proc.stderr + proc.stdout
    assert "BAD TERMINATION" in output and "Killed (signal 9)" in output


def test_an_exception_in_one_worker_ends_the_job_at_once(tmp_path):
    proc, elapsed, results = launch(tmp_path, "raise", timeout=300)
    assert proc.returncode != 0 and not results
    output = proc.stderr + proc.stdout
    assert "RuntimeError: boom on worker 1" in output
    assert "worker 1 of 2 stopped on an uncaught RuntimeError; aborting all workers" in output
    assert elapsed < 120  # well before worker 0's watchdog (300 s) would have fired


@pytest.mark.slow
def test_backup_and_restore_resumes_after_a_dead_worker(tmp_path):
    uninterrupted, crashed = tmp_path / "a", tmp_path / "b"
    uninterrupted.mkdir()
    crashed.mkdir()
    proc, _, full = launch(uninterrupted, "backup")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert full[0]["epochs_run"] == [0, 1, 2, 3]

    proc, _, results = launch(crashed, "backup", crash_at_epoch=2)
    assert proc.returncode != 0 and not results
    metadata = json.loads((crashed / "backup" / "backup" / "training_metadata.json").read_text())
    assert metadata["epoch"] == 2  # epochs 0 and 1 completed before worker 1 died

    proc, _, resumed = launch(crashed, "backup")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert resumed[0]["epochs_run"] == [2, 3] and resumed[1]["epochs_run"] == [2, 3]
    # Weights, Adam's moments, the iteration count and the shuffling state all come back from
    # the backup, so the resumed job ends exactly where the uninterrupted one did.
    for worker in (0, 1):
        for w, ref in zip(resumed[worker]["weights"], full[0]["weights"], strict=True):
            np.testing.assert_array_equal(np.asarray(w), np.asarray(ref))


@pytest.mark.parametrize("everyone", [False, True])
def test_only_worker_0_writes_files(tmp_path, everyone):
    proc, _, results = launch(tmp_path, "files", save_on_all_workers=everyone)
    assert proc.returncode == 0, proc.stderr[-3000:]
    written = sorted(p.name for p in (tmp_path / "files").iterdir() if not p.name.startswith("worker-"))
    expected = ["ckpt-0.npz", "log-0.csv", "tb-0"]
    if everyone:  # told otherwise: every worker writes (to its own paths here)
        expected = ["ckpt-0.npz", "ckpt-1.npz", "log-0.csv", "log-1.csv", "tb-0", "tb-1"]
    assert written == expected


@pytest.mark.slow
def test_the_example_runs_on_two_workers(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_", "PMIX_"))}
    env.update(NUMBA_NUM_THREADS="1", PYTHONPATH=str(HERE.parent))
    proc = subprocess.run([str(MPIEXEC), "-n", "2", sys.executable,
                           str(HERE.parent / "examples" / "train_multiworker.py"), "--epochs", "1",
                           "--out", str(tmp_path / "run")], capture_output=True, text=True, env=env,
                          timeout=LAUNCH_TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2 worker(s), 2 replica(s): test loss" in proc.stdout
    assert proc.stdout.count("Epoch 1/1") == 1  # only worker 0 reports
    assert len((tmp_path / "run" / "log.csv").read_text().splitlines()) == 2  # header + epoch 0
    assert not (tmp_path / "run" / "backup").exists()  # deleted after a completed fit


def test_without_mpi_one_worker_says_so_once(tmp_path):
    code = ("import numpy as np, scratchnet as sn\n"
            "s = sn.distribute.MultiWorkerMirroredStrategy()\n"
            "t = sn.distribute.MultiWorkerMirroredStrategy(replicas_per_worker=2)\n"
            "print(s.num_workers, s.worker_index, s.num_replicas_in_sync, t.num_replicas_in_sync)\n"
            "with s.scope():\n"
            "    m = sn.Sequential([sn.layers.Input((3,)), sn.layers.Dense(2)], seed=0)\n"
            "m.compile(optimizer='sgd', loss='mse')\n"
            "print(m.fit(np.ones((4, 3)), np.zeros((4, 2)), batch_size=2, verbose=0).history['loss'])\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_", "PMIX_"))}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines()[0] == "1 0 1 2"
    assert proc.stderr.count("not started by an MPI launcher") == 1
    assert "mpiexec -n 2 python your_script.py" in proc.stderr


@pytest.mark.parametrize("kwargs, message", [
    ({"replicas_per_worker": 0}, "expected replicas_per_worker to be a positive integer, received 0"),
    ({"auto_shard_policy": "FILE"}, "expected auto_shard_policy to be one of ['AUTO', 'DATA'], "
                                    "received 'FILE'"),
    ({"timeout_seconds": -1}, "expected timeout_seconds to be a positive number or None, received -1"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError) as err:
        sn.distribute.MultiWorkerMirroredStrategy(**kwargs)
    assert message in str(err.value)


@pytest.mark.slow
def test_two_workers_apply_the_constraints_as_one_process(tmp_path):
    proc, _, results = launch(tmp_path, "constrained")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert results[0]["weights"] == results[1]["weights"]
    n, batch_size, epochs, optimizer, _, _, _ = script.CASES[1]
    x, y = script.data(n)
    model = script.make_model(sn.distribute.MirroredStrategy(2), optimizer, constrained=True)
    model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0)
    # one worker's replica each: the same arithmetic as MirroredStrategy(2), so the same weights
    for w, ref in zip(results[0]["weights"], model.get_weights(), strict=True):
        np.testing.assert_array_equal(np.asarray(w, dtype=np.float32), ref)
    kernel, bias = (np.asarray(w, dtype=np.float32) for w in results[0]["weights"][:2])
    assert np.all(np.sqrt((kernel ** 2).sum(axis=(0, 1, 2))) <= 0.4 + 1e-6) and np.all(bias >= 0)
