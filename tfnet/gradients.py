"""``loss_and_grads``: the compiled loss of a Keras model and its gradients, by ``tf.GradientTape``.

The Keras side of ``scratchnet.Sequential.loss_and_grads``: same inputs, same outputs, so the two
can be compared array by array.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


def loss_and_grads(kmodel: keras.Model, x, y) -> tuple[float, list[np.ndarray]]:
    """The loss of ``(x, y)`` under ``kmodel``'s compiled loss, and its gradient with respect to
    every weight, in ``kmodel.get_weights()`` order. No update; training mode (dropout active).

    ::

        with tf.GradientTape() as tape:
            loss = loss_fn(y, kmodel(x, training=True))
        grads = tape.gradient(loss, kmodel.weights)

    The compiled loss sees the model's output tensor itself, so a final softmax hands it its
    logits, exactly as in ``fit`` (PARITY.md, "the trap"). A weight the loss does not depend on
    (or a non-trainable one) gets a zero gradient, as scratchnet reports it.
    """
    if getattr(kmodel, "loss", None) is None:
        raise RuntimeError("loss_and_grads: you must call compile() on the Keras model first")
    loss_fn = keras.losses.get(kmodel.loss)
    x = tf.convert_to_tensor(x, dtype=kmodel.inputs[0].dtype if kmodel.inputs else None)
    with tf.GradientTape() as tape:
        y_pred = kmodel(x, training=True)
        # A Loss object returns the batch mean already; a loss named by a string ("mse") is a
        # per-sample function, which compile reduces the same way (sum_over_batch_size).
        loss = tf.reduce_mean(loss_fn(y, y_pred))
    grads = tape.gradient(loss, kmodel.weights)
    grads = [np.zeros(w.shape, w.dtype) if g is None else np.asarray(g)
             for g, w in zip(grads, kmodel.weights, strict=True)]
    return float(loss), grads
