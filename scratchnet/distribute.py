"""Data-parallel training on one machine: ``MirroredStrategy``, as ``tf.distribute`` does it.

Use it as in Keras: build the model inside the strategy's scope, then train as usual::

    strategy = sn.distribute.MirroredStrategy(num_replicas=2)
    with strategy.scope():
        model = sn.Sequential([...])
    model.compile(...)
    model.fit(x, y, batch_size=64)     # every step: two replicas of 32 samples, in two threads

What one training step does with ``R`` replicas and a global batch of ``B`` samples:

1. Split: the batch is cut into ``R`` contiguous slices; each replica takes ``c = ceil(B/R)``
   samples in turn until the batch runs out (``B=5, R=2 -> 3, 2``; ``B=5, R=4 -> 2, 2, 1, 0``).
   This is what TensorFlow's distributed datasets do.
2. Each replica runs forward, loss and backward on its slice, in its own thread, on its own copy
   of the layers (own caches and gradients) that reads the model's one set of weights.
3. Combine: replica ``r`` minimises ``mean_r / R`` and the gradients are summed::

       grad = (1/R) * sum_r  d(mean_r)/dw

   For equal slices this is the gradient of the global mean, i.e. single-device training. For
   unequal slices it is not: a short slice weighs as much as a full one, and an empty replica
   still counts in the ``1/R``. Keras' ``MirroredStrategy`` does exactly the same.
4. The optimizer applies the combined gradient once. The loss reported is the global batch mean
   (the replicas' means weighted by their sizes), as Keras logs it.

Non-trainable weights (BatchNormalization's moving mean and variance) are per replica, as in
Keras 3.15 on TensorFlow: they are ``MirroredVariable``s with ``aggregation="none"``, and an
assignment inside a replica (the layer's moving-average update) writes only that replica's copy.
So each replica normalizes with its own slice's statistics and moves its own copy with them;
the copies drift apart. Replica 0's copy is the model's own: ``get_weights()``, ``save`` and
``model(x)`` read it. ``set_weights`` (an assignment from outside the replicas) writes every copy.
"""

from __future__ import annotations

import contextlib
import copy
import numbers
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor

import numpy as np

_current: MirroredStrategy | None = None  # the strategy whose scope() is open, if any


def get_strategy() -> MirroredStrategy | None:
    """The strategy whose ``scope()`` is active, or ``None`` (single device)."""
    return _current


def replica_sizes(batch_size: int, num_replicas: int) -> list[int]:
    """How many samples each replica gets: ``ceil(B/R)`` each, in order, until the batch runs out."""
    per_replica = -(-batch_size // num_replicas)  # ceil(B / R)
    return [min(per_replica, max(0, batch_size - r * per_replica)) for r in range(num_replicas)]


class MirroredStrategy:
    """Synchronous data parallelism over ``num_replicas`` threads on this machine.

    A model built inside :meth:`scope` remembers the strategy; its ``train_step`` and
    ``loss_and_grads`` then hand phases 1-3 (forward, loss, backward) to
    :meth:`forward_backward`, which runs one replica per thread and combines the gradients.
    """

    def __init__(self, num_replicas: int = 2):
        if isinstance(num_replicas, bool) or not isinstance(num_replicas, numbers.Integral) \
                or num_replicas < 1:
            raise ValueError(f"MirroredStrategy: expected num_replicas to be a positive integer, "
                             f"received {num_replicas!r}")
        self.num_replicas = int(num_replicas)
        self._executor: ThreadPoolExecutor | None = None
        # model -> (layer key, replicas); weak, so a dropped model frees its replicas
        self._replicas: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    @property
    def num_replicas_in_sync(self) -> int:
        """Keras' name for ``num_replicas``."""
        return self.num_replicas

    @contextlib.contextmanager
    def scope(self):
        """Models constructed inside this block train with this strategy."""
        global _current
        previous, _current = _current, self
        try:
            yield self
        finally:
            _current = previous

    # ------------------------------------------------------------------ one step
    def forward_backward(self, model, x: np.ndarray, y: np.ndarray,
                         sample_weight: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        """Phases 1-3 of a training step, data-parallel; fills every ``Parameter.grad`` of
        ``model`` with the combined gradient and returns ``(loss, y_pred)`` of the whole batch.
        Sample weights, if any, are sliced with the samples (each replica weights its own)."""
        replicas = self._replicas_of(model)
        sizes = replica_sizes(len(x), self.num_replicas)
        starts = np.cumsum([0] + sizes)
        jobs = [(replica, x[starts[r]:starts[r + 1]], y[starts[r]:starts[r + 1]],
                 None if sample_weight is None else sample_weight[starts[r]:starts[r + 1]])
                for r, replica in enumerate(replicas) if sizes[r] > 0]
        results = list(self._pool().map(_run_replica, jobs))  # [(loss_r, y_pred_r, grads_r)]

        # Combine: grad = sum_r grad_r * (1/R); empty replicas add zeros but still count in R.
        for i, param in enumerate(model.params):
            scale = param.value.dtype.type(1.0 / self.num_replicas)
            param.grad = sum(grads[i] * scale for _, _, grads in results)
        loss = sum(loss_r * len(y_pred_r) for loss_r, y_pred_r, _ in results) / len(x)
        y_pred = np.concatenate([y_pred_r for _, y_pred_r, _ in results], axis=0)
        return float(loss), y_pred

    def forward_inference(self, model, x: np.ndarray) -> np.ndarray:
        """The inference forward pass, data-parallel: each replica computes its slice (the same
        split as training) with its own non-trainable weights; the outputs are concatenated."""
        replicas = self._replicas_of(model)
        sizes = replica_sizes(len(x), self.num_replicas)
        starts = np.cumsum([0] + sizes)
        jobs = [(replica, x[starts[r]:starts[r + 1]])
                for r, replica in enumerate(replicas) if sizes[r] > 0]
        outputs = list(self._pool().map(_run_replica_inference, jobs))
        # A loss on a final softmax reads its logits (Keras' rule): gather them from the replicas.
        last = model.layers[-1] if model.layers else None
        if hasattr(last, "preactivation"):
            parts = [replica.layers[-1].preactivation for replica, _ in jobs]
            last.preactivation = None if any(p is None for p in parts) else \
                np.concatenate(parts, axis=0)
        return np.concatenate(outputs, axis=0)

    def _replicas_of(self, model) -> list:
        """One lightweight copy of ``model`` per replica: own layer objects (caches, grads),
        the model's weight arrays. Made once per model, re-pointed at the weights every step."""
        # Re-copy when the layers change, or when a tool (the profiler) wraps their methods.
        key = tuple((id(layer), id(vars(layer).get("forward"))) for layer in model.layers)
        with self._lock:
            cached = self._replicas.get(model)
            if cached is None or cached[0] != key:
                cached = (key, [_replica_model(model, r) for r in range(self.num_replicas)])
                self._replicas[model] = cached
        replicas = cached[1]
        for r, replica in enumerate(replicas):
            for layer, twin in zip(model.layers, replica.layers, strict=True):
                twin.compute_input_grad = layer.compute_input_grad
                twin.trainable = layer.trainable  # frozen since the copy was made?
                for name, param in layer.params.items():
                    twin.params[name].value = param.value  # the same array, not a copy
                if r == 0:  # replica 0's moving statistics are the model's own arrays
                    for name, param in layer.non_trainable_params.items():
                        twin.non_trainable_params[name].value = param.value
        return replicas

    def broadcast_non_trainable(self, model) -> None:
        """Copy the model's non-trainable weights (replica 0's) into every replica's own copy:
        what a Keras assignment from outside the replicas (``set_weights``, loading) does."""
        cached = self._replicas.get(model)
        if cached is None:
            return  # no replicas yet: they are copied from the model when first made
        for replica in cached[1][1:]:
            for layer, twin in zip(model.layers, replica.layers, strict=True):
                for name, param in layer.non_trainable_params.items():
                    twin.non_trainable_params[name].value[...] = param.value

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=self.num_replicas,
                                                thread_name_prefix="scratchnet-replica")
        return self._executor

    def close(self) -> None:
        """Stop the replica threads (they are also stopped when Python exits)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def __repr__(self) -> str:
        return f"<MirroredStrategy num_replicas={self.num_replicas}>"


def _replica_model(model, index: int):
    """A shallow copy of ``model`` whose layers are deep copies sharing the trainable arrays.

    Non-trainable arrays (moving statistics) are the model's own for replica 0 and copies for the
    others. Random generators inside layers (Dropout) get their own stream per replica, drawn from
    the original, so runs stay repeatable and replicas do not draw the same masks.
    """
    shared = model.params + (model.non_trainable_weights if index == 0 else [])
    memo = {id(p.value): p.value for p in shared}
    replica = copy.copy(model)
    replica.history = None  # no path back to the model (it would keep itself alive)
    replica.layers = copy.deepcopy(model.layers, memo)
    for layer, twin in zip(model.layers, replica.layers, strict=True):
        for attr, value in vars(layer).items():
            if isinstance(value, np.random.Generator):
                setattr(twin, attr, np.random.default_rng([index, int(value.integers(2**63))]))
    return replica


def _run_replica_inference(job) -> np.ndarray:
    """The inference forward pass of one replica on its slice (runs in a worker thread)."""
    replica, x = job
    return replica.forward(x, training=False, for_backward=False)


def _run_replica(job) -> tuple[float, np.ndarray, list[np.ndarray]]:
    """Forward, loss and backward of one replica on its slice (runs in a worker thread)."""
    replica, x, y, sample_weight = job
    y_pred = replica.forward(x, training=True)
    loss, doutput, through_logits = replica.compute_loss(y, y_pred, sample_weight)
    replica.backward(doutput, through_logits)
    return loss, y_pred, [p.grad for p in replica.params]


# Across processes (MPI): the same step with the replicas spread over workers. At the bottom: it
# builds on the names above. mpi4py itself is imported only when such a strategy is created.
from scratchnet.distribute_mpi import MultiWorkerMirroredStrategy  # noqa: E402, F401
