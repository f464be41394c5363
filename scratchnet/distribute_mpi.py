"""Data-parallel training across processes: ``MultiWorkerMirroredStrategy`` over MPI.

The same step as :class:`scratchnet.distribute.MirroredStrategy`, with the replicas spread over
processes ("workers") that may sit on different machines. Launch one process per worker with
MPI's standard launcher (``pip install -e ".[mpi]"`` brings ``mpi4py`` and MPICH's ``mpiexec``)::

    mpiexec -n 2 python train.py

and write ``train.py`` as for one process::

    strategy = sn.distribute.MultiWorkerMirroredStrategy()
    with strategy.scope():
        model = sn.Sequential([...], seed=0)     # the same seed on every worker
    model.compile(...)
    model.fit(x, y, batch_size=64)             # 64 = the GLOBAL batch: 32 per worker

What one training step does with ``W`` workers of ``L`` replicas each (``R = W*L`` replicas in
all) and a global batch of ``B`` samples; every worker holds the same ``x`` and ``y``:

1. Split: the global batch is cut by ``MirroredStrategy``'s rule into ``R`` slices (``ceil(B/R)``
   each, in turn, until the batch runs out); worker ``w`` takes slices ``w*L ... w*L + L - 1``
   (:meth:`~MultiWorkerMirroredStrategy.local_rows`). This is TensorFlow's
   ``AutoShardPolicy.DATA``, which Keras sets for arrays: every worker sees the whole batch and
   keeps its part; a data source may load only that part.
2. Each worker runs forward, loss and backward on its slices (``L > 1``: one thread per slice),
   scaling replica ``r``'s gradient by ``1/R``.
3. Combine: ONE ``Allreduce`` (a sum over all workers) of one buffer that holds, in this fixed
   order, every gradient (``get_weights()`` order, flattened), the summed loss, and the rows of
   the predictions (each worker fills its own rows, the others are zeros, so the sum is the
   concatenation). After it every worker holds ``grad = (1/R) * sum_r grad(mean_r)``, the loss
   of the global batch and its predictions.
4. Every worker applies the same update to the same weights, so they stay identical.

At the first step of a model the workers compare checksums of the model (architecture,
optimizer, initial weights) and refuse to train if they differ, naming the workers; then worker
0's weights are broadcast. ``fit``'s logs, metrics and callbacks see the global batch's figures;
``evaluate`` and ``predict`` run on each worker's (whole, identical) arrays, so they are global
as well. Only worker 0 (the "chief") writes files from callbacks unless
``save_on_all_workers=True``.

Faults: every collective runs under a watchdog. A worker that waits longer than
``timeout_seconds`` for the others (one died, hung, or never started) prints what it waited for
and aborts the whole job (``MPI_Abort``), so nothing hangs. An uncaught exception in one worker
aborts the job at once (after its traceback). Without an MPI launcher (plain
``python train.py``) the strategy is one worker and says so once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import numbers
import os
import sys
import threading
import time
import weakref

import numpy as np

from scratchnet.distribute import MirroredStrategy, _run_replica, replica_sizes

# Environment variables that MPI launchers set in every process they start (MPICH's and Intel's
# hydra, Open MPI, PMIx, MVAPICH, Slurm's srun with PMI): their absence means plain `python`.
LAUNCHER_VARIABLES = ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK",
                      "MV2_COMM_WORLD_SIZE")
AUTO_SHARD_POLICIES = ("AUTO", "DATA")
WORKER_FAILURE_EXIT_CODE = 75  # what MPI_Abort passes on when the watchdog gives up

_said_single_worker = False  # the plain-python message is printed once per process
_excepthook_installed = False


class WorkerFailureError(RuntimeError):
    """Another worker failed: it raised, died or stopped answering."""


class MultiWorkerMirroredStrategy(MirroredStrategy):
    """Synchronous data parallelism over MPI processes, like ``tf.distribute.MultiWorkerMirroredStrategy``.

    Args:
        replicas_per_worker: replicas (threads, as in ``MirroredStrategy``) inside each worker;
            Keras' strategy uses every local device, scratchnet asks. Default 1.
        auto_shard_policy: ``"AUTO"`` or ``"DATA"`` (the same here): every worker is handed each
            global batch and computes its slice, as TensorFlow does for arrays. A data source may
            read only that slice (:meth:`local_rows`). ``FILE`` (TensorFlow gives each worker
            whole input files) needs a file-based pipeline and ``OFF`` makes every worker train
            on the same samples; neither is offered.
        timeout_seconds: how long a worker waits in a collective for the others before it
            aborts the job with a clear message. ``None`` waits forever (for stepping through
            one worker in a debugger). Default 120.
        save_on_all_workers: callbacks write files (checkpoints, TensorBoard, CSV, backups) on
            every worker, not only on worker 0; give each worker its own paths then.
    """

    def __init__(self, replicas_per_worker: int = 1, auto_shard_policy: str = "AUTO",
                 timeout_seconds: float | None = 120.0, save_on_all_workers: bool = False):
        super().__init__(num_replicas=_positive_int(replicas_per_worker, "replicas_per_worker"))
        if auto_shard_policy not in AUTO_SHARD_POLICIES:
            raise ValueError(f"MultiWorkerMirroredStrategy: expected auto_shard_policy to be one of "
                             f"{list(AUTO_SHARD_POLICIES)}, received {auto_shard_policy!r}")
        if timeout_seconds is not None and (isinstance(timeout_seconds, bool) or not isinstance(
                timeout_seconds, numbers.Real) or not timeout_seconds > 0):
            raise ValueError(f"MultiWorkerMirroredStrategy: expected timeout_seconds to be a positive "
                             f"number or None, received {timeout_seconds!r}")
        self.replicas_per_worker = self.num_replicas  # the local replicas (threads) of this worker
        self.auto_shard_policy = auto_shard_policy
        self.timeout_seconds = None if timeout_seconds is None else float(timeout_seconds)
        self.save_on_all_workers = bool(save_on_all_workers)
        self.mpi, self.comm = _world_communicator()
        self.worker_index = 0 if self.comm is None else self.comm.Get_rank()
        self.num_workers = 1 if self.comm is None else self.comm.Get_size()
        self.steps = 0  # training steps run so far (named in the watchdog's message)
        self._started: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._watchdog = None
        if self.comm is not None and self.timeout_seconds is not None:
            self._watchdog = _Watchdog(self.timeout_seconds, self._give_up)
        if self.num_workers > 1:
            _abort_on_uncaught_exception(self.comm, self.worker_index, self.num_workers)

    @property
    def num_replicas_in_sync(self) -> int:
        """All replicas of all workers: ``num_workers * replicas_per_worker`` (the ``R`` above)."""
        return self.num_workers * self.replicas_per_worker

    @property
    def is_chief(self) -> bool:
        """Worker 0, the one that writes files (TensorFlow's chief)."""
        return self.worker_index == 0

    @property
    def should_checkpoint(self) -> bool:
        """Whether callbacks of this worker write files (TensorFlow: ``extended.should_checkpoint``)."""
        return self.is_chief or self.save_on_all_workers

    should_save_summary = should_checkpoint  # TensorBoard and CSV logs follow the same rule

    def local_rows(self, batch_size: int) -> slice:
        """The rows of a global batch of ``batch_size`` samples that this worker computes.

        Every worker is handed the whole global batch but reads only these rows of ``x`` (its
        replicas' slices); the other rows may hold anything finite. So a data source (a
        ``PyDataset``) may load just these rows from disk, each worker its own part, and fill the
        rest with zeros: sharded reading under ``AutoShardPolicy.DATA``. ``y`` must be whole
        (the metrics of the global batch read it).
        """
        sizes = replica_sizes(_positive_int(batch_size, "batch_size"), self.num_replicas_in_sync)
        starts = np.cumsum([0] + sizes)
        first = self.worker_index * self.replicas_per_worker
        return slice(int(starts[first]), int(starts[first + self.replicas_per_worker]))

    # ------------------------------------------------------------------ one step
    def forward_backward(self, model, x: np.ndarray, y: np.ndarray,
                         sample_weight: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        """Phases 1-3 of a training step over all workers; fills every ``Parameter.grad`` of
        ``model`` with the combined gradient; returns the loss and predictions of the global batch."""
        self._start(model)
        # 1. Split: this worker's replicas take slices first, ..., first + L - 1 of the batch.
        R, L = self.num_replicas_in_sync, self.replicas_per_worker
        sizes = replica_sizes(len(x), R)
        self._check_every_worker_has_samples(sizes)
        starts = np.cumsum([0] + sizes)
        first = self.worker_index * L
        replicas = self._replicas_of(model)
        jobs = [(replica, x[starts[r]:starts[r + 1]], y[starts[r]:starts[r + 1]],
                 None if sample_weight is None else sample_weight[starts[r]:starts[r + 1]])
                for replica, r in zip(replicas, range(first, first + L), strict=True)
                if sizes[r] > 0]
        # 2. Forward, loss and backward of each local replica (threads when L > 1).
        results = self._run_local(jobs)  # [(loss_r, y_pred_r, grads_r)]

        # 3. Pack [gradients | summed loss | prediction rows] and sum the buffer over all workers.
        params = model.params
        dtype = params[0].value.dtype
        out_shape = tuple(results[0][1].shape[1:])
        buffer = np.zeros(sum(p.value.size for p in params) + 1 + len(x) * int(np.prod(out_shape)),
                          dtype=dtype)
        offset = 0
        for i, param in enumerate(params):
            scale = dtype.type(1.0 / R)
            buffer[offset:offset + param.value.size] = sum(grads[i] * scale
                                                           for _, _, grads in results).ravel()
            offset += param.value.size
        buffer[offset] = sum(loss_r * len(y_pred_r) for loss_r, y_pred_r, _ in results)
        rows = buffer[offset + 1:].reshape((len(x),) + out_shape)  # (B, ...): a view of the buffer
        rows[starts[first]:starts[first + L]] = np.concatenate([y_pred_r for _, y_pred_r, _ in results])

        self._allreduce(buffer)  # <- the one collective of the step: put a breakpoint here

        offset = 0
        for param in params:  # every worker now holds the same, combined gradient
            param.grad = buffer[offset:offset + param.value.size].reshape(param.value.shape).copy()
            offset += param.value.size
        self.steps += 1
        return float(buffer[offset]) / len(x), rows.copy()

    def forward_inference(self, model, x: np.ndarray) -> np.ndarray:
        """``evaluate`` and ``predict``: every worker holds the whole arrays and computes all the
        outputs itself, with no communication, so the figures are the global ones."""
        return model.forward(x, training=False, for_backward=False)

    def _allreduce(self, buffer: np.ndarray) -> None:
        """Sum ``buffer`` element-wise over all workers, in place (MPI's ``Allreduce`` with SUM)."""
        if self.comm is None:
            return  # one worker: the sum over workers is the buffer itself
        with self._deadline(f"Allreduce of training step {self.steps}"):
            self.comm.Allreduce(self.mpi.IN_PLACE, buffer, op=self.mpi.SUM)

    def _run_local(self, jobs) -> list:
        if len(jobs) == 1:
            return [_run_replica(jobs[0])]  # no thread for a single replica: easier to step into
        return list(self._pool().map(_run_replica, jobs))

    def _check_every_worker_has_samples(self, sizes: list[int]) -> None:
        """A worker with no sample in a global batch: TensorFlow's collectives then see mismatched
        shapes and fail. scratchnet refuses such a batch up front, on every worker alike."""
        L = self.replicas_per_worker
        per_worker = [sum(sizes[w * L:(w + 1) * L]) for w in range(self.num_workers)]
        empty = [w for w, n in enumerate(per_worker) if n == 0]
        if empty:
            raise ValueError(
                f"MultiWorkerMirroredStrategy: a global batch of {sum(sizes)} sample(s) leaves "
                f"worker(s) {empty} of {self.num_workers} with no samples (samples per worker "
                f"{per_worker}); TensorFlow's MultiWorkerMirroredStrategy fails on such a batch too. "
                f"Use a batch_size (and a last partial batch) of at least {self.num_workers}")

    # ------------------------------------------------------------------ the start of training
    def _start(self, model) -> None:
        """Once per model, before its first step: the same model on every worker, worker 0's weights."""
        if model in self._started:
            return
        if self.comm is not None:
            mine = np.frombuffer(_architecture_digest(model) + _weights_digest(model), np.uint8)
            everyone = np.empty((self.num_workers, mine.size), np.uint8)
            with self._deadline("Allgather of the model checksums at the start of training"):
                self.comm.Allgather(mine, everyone)
            _refuse_different_models(everyone)
            weights = np.concatenate([p.value.ravel() for p in _all_weights(model)])
            with self._deadline("Bcast of worker 0's initial weights"):
                self.comm.Bcast(weights, root=0)
            offset = 0
            for param in _all_weights(model):
                param.value[...] = weights[offset:offset + param.value.size].reshape(param.value.shape)
                offset += param.value.size
        self._started[model] = True

    # ------------------------------------------------------------------ faults
    @contextlib.contextmanager
    def _deadline(self, what: str):
        if self._watchdog is None:
            yield
        else:
            with self._watchdog.watch(what):
                yield

    def _give_up(self, what: str) -> None:
        """Called by the watchdog thread: say what we waited for, then end every worker."""
        print(f"\nMultiWorkerMirroredStrategy: worker {self.worker_index} of {self.num_workers} "
              f"waited {self.timeout_seconds:g} s (timeout_seconds) in the {what} and the other "
              "workers did not all arrive: a worker died, hung, or never started. Aborting all "
              f"workers (MPI_Abort, exit code {WORKER_FAILURE_EXIT_CODE}).", file=sys.stderr,
              flush=True)
        time.sleep(1.0)  # let mpiexec forward the message before it tears the job down
        threading.Timer(10.0, os._exit, args=(WORKER_FAILURE_EXIT_CODE,)).start()  # if Abort hangs
        self.comm.Abort(WORKER_FAILURE_EXIT_CODE)

    def __repr__(self) -> str:
        return (f"<MultiWorkerMirroredStrategy worker {self.worker_index} of {self.num_workers}, "
                f"replicas_per_worker={self.replicas_per_worker}>")


class _Watchdog:
    """A thread that calls ``give_up(what)`` if a watched block lasts longer than ``timeout``.

    A worker blocked inside MPI cannot raise an exception (the main thread is in C code), so the
    watchdog ends the job from outside.
    """

    def __init__(self, timeout: float, give_up):
        self.timeout = timeout
        self.give_up = give_up
        self._condition = threading.Condition()
        self._what: str | None = None
        self._deadline = 0.0
        threading.Thread(target=self._run, name="scratchnet-mpi-watchdog", daemon=True).start()

    @contextlib.contextmanager
    def watch(self, what: str):
        with self._condition:
            self._what, self._deadline = what, time.monotonic() + self.timeout
            self._condition.notify()
        try:
            yield
        finally:
            with self._condition:
                self._what = None
                self._condition.notify()

    def _run(self) -> None:
        with self._condition:
            while True:
                if self._what is None:
                    self._condition.wait()
                    continue
                left = self._deadline - time.monotonic()
                if left > 0:
                    self._condition.wait(left)
                    continue
                what = self._what
                break
        self.give_up(what)


def _abort_on_uncaught_exception(comm, worker: int, num_workers: int) -> None:
    """An exception that ends one worker's script ends the job at once (as ``python -m mpi4py``
    does): otherwise the others would wait for it until their watchdog gives up."""
    global _excepthook_installed
    if _excepthook_installed:
        return
    previous = sys.excepthook

    def abort_all(kind, value, traceback):
        previous(kind, value, traceback)  # the traceback first, as usual
        print(f"MultiWorkerMirroredStrategy: worker {worker} of {num_workers} stopped on an uncaught "
              f"{kind.__name__}; aborting all workers (MPI_Abort, exit code 1).", file=sys.stderr,
              flush=True)
        time.sleep(0.5)  # let mpiexec forward the messages
        comm.Abort(1)

    sys.excepthook = abort_all
    _excepthook_installed = True


def _world_communicator():
    """``(MPI, MPI.COMM_WORLD)`` when started by an MPI launcher, else ``(None, None)``."""
    global _said_single_worker
    launched = any(name in os.environ for name in LAUNCHER_VARIABLES)
    if not launched:
        if not _said_single_worker:
            print("MultiWorkerMirroredStrategy: not started by an MPI launcher (no "
                  f"{' / '.join(LAUNCHER_VARIABLES[:3])} in the environment), so this is a single "
                  "worker. Start several with: mpiexec -n 2 python your_script.py",
                  file=sys.stderr, flush=True)
            _said_single_worker = True
        return None, None
    try:
        from mpi4py import MPI  # imported here: scratchnet itself needs no MPI
    except ImportError as err:
        raise ImportError("MultiWorkerMirroredStrategy: started by an MPI launcher but mpi4py is not "
                          "installed; install the extra: pip install -e '.[mpi]'") from err
    return MPI, MPI.COMM_WORLD


def _architecture_digest(model) -> bytes:
    """SHA-256 of what must agree across workers besides the weights: each layer's class and
    configuration, the weights' names, shapes and dtypes, the loss and the optimizer."""
    layers = [[type(layer).__name__, _config_of(layer),
               [[name, list(p.value.shape), str(p.value.dtype)] for name, p in layer.params.items()]]
              for layer in model.layers]
    described = {"input_shape": list(model._sample_input_shape or ()), "layers": layers,
                 "loss": _config_of(model.loss), "optimizer": _config_of(model.optimizer)}
    return hashlib.sha256(json.dumps(described, sort_keys=True, default=repr).encode()).digest()


def _config_of(thing) -> list:
    """``[class name, get_config()]`` with anything unprintable replaced by its class name."""
    if thing is None:
        return [None]
    try:
        config = thing.get_config()
    except Exception:  # noqa: BLE001 (a callable learning rate, a custom layer): the class name is enough
        config = None
    return [type(thing).__name__, json.loads(json.dumps(config, sort_keys=True,
                                                        default=lambda v: type(v).__name__))]


def _all_weights(model) -> list:
    """Every weight in ``get_weights()`` order: trainable and non-trainable (moving statistics)."""
    return list(getattr(model, "weights", model.params))


def _weights_digest(model) -> bytes:
    digest = hashlib.sha256()
    for param in _all_weights(model):
        digest.update(np.ascontiguousarray(param.value).tobytes())
    return digest.digest()


def _refuse_different_models(everyone: np.ndarray) -> None:
    """``everyone[w]``: worker ``w``'s architecture digest then weights digest (32 bytes each)."""
    architecture, weights = everyone[:, :32], everyone[:, 32:]
    other_model = [w for w in range(len(everyone)) if not np.array_equal(architecture[w], architecture[0])]
    if other_model:
        raise ValueError(f"MultiWorkerMirroredStrategy: worker(s) {other_model} built a different model "
                         "than worker 0 (layer classes, configurations, weight shapes, loss or optimizer "
                         "differ); every worker must run the same model code")
    other_weights = [w for w in range(len(everyone)) if not np.array_equal(weights[w], weights[0])]
    if other_weights:
        raise ValueError(f"MultiWorkerMirroredStrategy: worker(s) {other_weights} start from different "
                         "initial weights than worker 0 (checksums differ); build the model with the "
                         "same seed on every worker, e.g. sn.Sequential([...], seed=0)")


def _positive_int(value, arg: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"MultiWorkerMirroredStrategy: expected {arg} to be a positive integer, "
                         f"received {value!r}")
    return int(value)
