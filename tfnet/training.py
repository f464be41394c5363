"""One training step of a compiled Keras model, written with ``tf.GradientTape``.

Read it beside ``scratchnet.Sequential.train_step``: the same four phases in the same order.
Where scratchnet calls ``backward`` on every layer, the tape records the forward pass and
differentiates it.
"""

from __future__ import annotations

import keras
import tensorflow as tf


def train_step(kmodel: keras.Model, x, y) -> dict[str, float]:
    """One step of training on one batch; returns the running loss and metrics of the epoch.

    Call ``kmodel.reset_metrics()`` at the start of an epoch, as ``fit`` does.
    """
    with tf.GradientTape() as tape:
        # 1. Forward pass in training mode (dropout active): the model's prediction.
        y_pred = kmodel(x, training=True)
        # 2. Loss: the compiled loss (and the running loss tracker), exactly as fit computes it.
        loss = kmodel.compute_loss(x=x, y=y, y_pred=y_pred, training=True)
    # 3. Backward pass: the tape differentiates everything it recorded.
    grads = tape.gradient(loss, kmodel.trainable_variables)
    # 4. Update: the optimizer moves every variable against its gradient.
    kmodel.optimizer.apply_gradients(zip(grads, kmodel.trainable_variables, strict=True))
    # The epoch's running loss (weighted by batch size) and metrics, as Keras' own train_step keeps.
    loss_tracker = next(m for m in kmodel.metrics if m.name == "loss")
    loss_tracker.update_state(loss, sample_weight=tf.shape(y_pred)[0])
    logs = kmodel.compute_metrics(x, y, y_pred)
    return {name: float(value) for name, value in logs.items()}
