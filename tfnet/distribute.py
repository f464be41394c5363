"""``mirrored_strategy``: Keras' data-parallel training on the devices this machine has.

TensorFlow's ``tf.distribute.MirroredStrategy`` keeps one copy of the model per device
("replica"), cuts every global batch into one slice per replica, runs them side by side and
sums the gradients. On a machine without enough GPUs we split the one CPU into logical CPU
devices, which gives the same arithmetic (and is how the parity tests run it).

Logical devices can only be configured before TensorFlow initializes its devices (before the
first op runs), so call :func:`mirrored_strategy` early, or in a fresh process.
"""

from __future__ import annotations

import numbers

import tensorflow as tf


def mirrored_strategy(num_replicas: int = 2) -> tf.distribute.MirroredStrategy:
    """A ``tf.distribute.MirroredStrategy`` over ``num_replicas`` devices.

    Uses the first ``num_replicas`` GPUs when there are that many; otherwise splits the CPU into
    ``num_replicas`` logical devices. Use it as Keras documents::

        strategy = tfnet.mirrored_strategy(2)
        with strategy.scope():
            model = tfnet.models.digits_cnn()
            model.compile(...)
        model.fit(x, y, batch_size=64)   # each step: 32 samples per replica
    """
    if isinstance(num_replicas, bool) or not isinstance(num_replicas, numbers.Integral) \
            or num_replicas < 1:
        raise ValueError(f"mirrored_strategy: expected num_replicas to be a positive integer, "
                         f"received {num_replicas!r}")
    num_replicas = int(num_replicas)
    gpus = tf.config.list_physical_devices("GPU")
    if len(gpus) >= num_replicas:
        devices = [f"/gpu:{i}" for i in range(num_replicas)]
        return tf.distribute.MirroredStrategy(devices)
    _split_cpu(num_replicas)
    devices = [f"/cpu:{i}" for i in range(num_replicas)]
    # NCCL all-reduce is GPU-only; on CPUs the replicas' gradients are reduced on one device.
    return tf.distribute.MirroredStrategy(devices,
                                          cross_device_ops=tf.distribute.ReductionToOneDevice())


def _split_cpu(num_replicas: int) -> None:
    """Make the physical CPU appear as ``num_replicas`` logical CPU devices."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    wanted = [tf.config.LogicalDeviceConfiguration() for _ in range(num_replicas)]
    try:
        tf.config.set_logical_device_configuration(cpu, wanted)
    except RuntimeError as err:
        # Devices are already initialized: fine if there are enough logical CPUs already.
        have = len(tf.config.list_logical_devices("CPU"))
        if have >= num_replicas:
            return
        raise RuntimeError(
            f"mirrored_strategy: needs {num_replicas} logical CPU devices but TensorFlow has "
            f"already initialized {have}; call tfnet.mirrored_strategy({num_replicas}) before any "
            "TensorFlow op runs (e.g. first thing in a fresh process)"
        ) from err
