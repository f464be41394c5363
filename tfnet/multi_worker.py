"""``multi_worker_strategy``: Keras' ``MultiWorkerMirroredStrategy`` for workers on this machine.

Across machines TensorFlow learns who is who from the environment variable ``TF_CONFIG``: the
list of every worker's ``host:port`` and this process's index in it. For local workers the hosts
are all ``127.0.0.1``; :func:`local_worker_addresses` picks ports that are free right now, the
launcher hands the same list to every worker, and each worker calls
:func:`multi_worker_strategy` with its own index first thing (before any other TensorFlow op)::

    # launcher
    addresses = tfnet.local_worker_addresses(2)       # ["127.0.0.1:41235", "127.0.0.1:39011"]
    # start worker i as a subprocess with addresses and i, then in worker i:
    strategy = tfnet.multi_worker_strategy(i, addresses)
    with strategy.scope():
        model = ...; model.compile(...)
    model.fit(x, y, batch_size=64)                   # 64 = the global batch over all workers

scratchnet's twin is ``sn.distribute.MultiWorkerMirroredStrategy`` under ``mpiexec``; the
mapping between the two is in ``docs/distribution.md``.
"""

from __future__ import annotations

import json
import numbers
import os
import socket

import tensorflow as tf


def local_worker_addresses(num_workers: int) -> list[str]:
    """``num_workers`` addresses ``127.0.0.1:<port>`` whose ports were free when asked.

    The ports are found by binding to port 0 (the operating system picks a free one) and
    closing again, so another program could take one in between; that is rare, and TensorFlow
    then fails to start the worker with a clear "address in use" error.
    """
    if isinstance(num_workers, bool) or not isinstance(num_workers, numbers.Integral) \
            or num_workers < 1:
        raise ValueError(f"local_worker_addresses: expected num_workers to be a positive integer, "
                         f"received {num_workers!r}")
    sockets = []
    try:
        for _ in range(int(num_workers)):  # all open at once, so the ports are distinct
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [f"127.0.0.1:{s.getsockname()[1]}" for s in sockets]
    finally:
        for s in sockets:
            s.close()


def tf_config(worker_index: int, worker_addresses: list[str]) -> dict:
    """The ``TF_CONFIG`` of worker ``worker_index`` in a cluster of ``worker_addresses``."""
    addresses = list(worker_addresses)
    if not addresses or not all(isinstance(a, str) and ":" in a for a in addresses):
        raise ValueError(f"tf_config: expected worker_addresses to be a non-empty list of "
                         f"'host:port' strings, received {worker_addresses!r}")
    if isinstance(worker_index, bool) or not isinstance(worker_index, numbers.Integral) \
            or not 0 <= worker_index < len(addresses):
        raise ValueError(f"tf_config: expected worker_index in [0, {len(addresses)}), "
                         f"received {worker_index!r}")
    return {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": int(worker_index)}}


def multi_worker_strategy(worker_index: int | None = None, worker_addresses: list[str] | None = None,
                          timeout_seconds: float | None = None
                          ) -> tf.distribute.MultiWorkerMirroredStrategy:
    """Keras' ``tf.distribute.MultiWorkerMirroredStrategy`` for worker ``worker_index``.

    With ``worker_index`` and ``worker_addresses`` it writes ``TF_CONFIG`` (see
    :func:`tf_config`) into this process's environment; with neither it uses the ``TF_CONFIG``
    already there. Call it before any other TensorFlow op: TensorFlow reads the cluster when it
    starts its collective runtime. ``timeout_seconds`` bounds every collective (TensorFlow's
    ``CommunicationOptions``; ``None`` waits forever, TensorFlow's default).
    """
    if (worker_index is None) != (worker_addresses is None):
        raise ValueError("multi_worker_strategy: give both worker_index and worker_addresses, or "
                         f"neither (to use TF_CONFIG); received worker_index={worker_index!r}, "
                         f"worker_addresses={worker_addresses!r}")
    if worker_index is not None:
        os.environ["TF_CONFIG"] = json.dumps(tf_config(worker_index, worker_addresses))
    elif "TF_CONFIG" not in os.environ:
        raise ValueError("multi_worker_strategy: no TF_CONFIG in the environment; pass "
                         "worker_index and worker_addresses (tfnet.local_worker_addresses(n))")
    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout_seconds)
    return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
