"""tfnet: the TensorFlow/Keras side of scratchnet, and converters between the two.

Imports TensorFlow. scratchnet never imports tfnet.

- :func:`to_keras` / :func:`from_keras`: the same model, the same weights, in the other framework;
  :func:`register_layer` teaches them a new layer (``tfnet.convert``).
- :func:`loss_and_grads`: the compiled loss and its gradients by ``tf.GradientTape``.
- :func:`train_step`: one training step written with ``tf.GradientTape``, beside scratchnet's.
- ``tfnet.models``: the Keras twins of ``scratchnet.models``, written as plain Keras.
- :func:`mirrored_strategy`, :func:`export_saved_model`, :func:`export_tflite`: the talk's second half.
- :func:`multi_worker_strategy`, :func:`local_worker_addresses`: Keras' MultiWorkerMirroredStrategy
  for workers on this machine (TF_CONFIG on 127.0.0.1, free ports).
"""

from tfnet import addons, models
from tfnet.convert import from_keras, register_layer, register_loss, register_optimizer, to_keras
from tfnet.distribute import mirrored_strategy
from tfnet.export import export_saved_model, export_tflite
from tfnet.gradients import loss_and_grads
from tfnet.multi_worker import local_worker_addresses, multi_worker_strategy
from tfnet.training import train_step

__all__ = [
    "to_keras", "from_keras", "register_layer", "register_loss", "register_optimizer",
    "loss_and_grads", "train_step", "models", "addons", "mirrored_strategy", "export_saved_model",
    "export_tflite", "multi_worker_strategy", "local_worker_addresses",
]
