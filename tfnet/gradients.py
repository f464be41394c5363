"""``loss_and_grads``: the compiled loss of a Keras model and its gradients, by ``tf.GradientTape``.

The Keras side of ``scratchnet.Sequential.loss_and_grads``: same inputs, same outputs, so the two
can be compared array by array.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras.src.losses.losses import LossFunctionWrapper  # what compile wraps a loss function in


def loss_and_grads(kmodel: keras.Model, x, y, sample_weight=None) -> tuple[float, list[np.ndarray]]:
    """The loss of ``(x, y)`` under ``kmodel``'s compiled loss, and its gradient with respect to
    every weight, in ``kmodel.get_weights()`` order, as dense NumPy arrays. No update; training
    mode (dropout active).

    ::

        with tf.GradientTape() as tape:
            loss = loss_fn(y, kmodel(x, training=True), sample_weight) + sum(kmodel.losses)
        grads = tape.gradient(loss, kmodel.weights)

    The compiled loss sees the model's output tensor itself, so a final softmax or sigmoid hands
    it its logits, exactly as in ``fit`` (PARITY.md, "the trap"). A loss named by a string
    (``"mse"``) or given as a function is wrapped as ``compile`` wraps it
    (``LossFunctionWrapper``: labels squeezed or expanded to the output's rank,
    ``sum_over_batch_size``). ``sample_weight`` is reduced as Keras reduces it:
    ``sum(l * w) / size``.

    A weight the loss does not depend on (or a non-trainable one) gets a zero gradient, as
    scratchnet reports it. An ``IndexedSlices`` gradient (an ``Embedding`` table) is densified
    with ``tf.convert_to_tensor``: the rows of a repeated id are summed.
    """
    if getattr(kmodel, "loss", None) is None:
        raise RuntimeError("loss_and_grads: you must call compile() on the Keras model first")
    if not isinstance(kmodel, keras.Sequential):  # a functional model: inputs/outputs as lists
        from tfnet.functional import functional_loss_and_grads

        return functional_loss_and_grads(kmodel, x, y, sample_weight)
    loss_fn = keras.losses.get(kmodel.loss)
    if not isinstance(loss_fn, keras.losses.Loss):
        loss_fn = LossFunctionWrapper(loss_fn)
    x = tf.convert_to_tensor(x, dtype=kmodel.inputs[0].dtype if kmodel.inputs else None)
    with tf.GradientTape() as tape:
        y_pred = kmodel(x, training=True)
        loss = loss_fn(y, y_pred, sample_weight=sample_weight)
        if kmodel.losses:  # weight penalties (kernel_regularizer=...), as Keras' compute_loss adds
            loss = tf.add_n([loss, *kmodel.losses])
    grads = tape.gradient(loss, kmodel.weights)
    return float(loss), dense_gradients(kmodel, grads)


def dense_gradients(kmodel, grads) -> list[np.ndarray]:
    """``grads`` of ``kmodel.weights`` as NumPy arrays; zeros for a weight outside
    ``kmodel.trainable_weights`` (a frozen layer's: the tape still sees its variable)."""
    trainable = {id(w) for w in kmodel.trainable_weights}
    return [_dense(g if id(w) in trainable else None, w)
            for g, w in zip(grads, kmodel.weights, strict=True)]


def _dense(grad, weight) -> np.ndarray:
    """One gradient as a NumPy array of the weight's shape: None -> zeros, IndexedSlices summed."""
    if grad is None:
        return np.zeros(weight.shape, weight.dtype)
    if isinstance(grad, tf.IndexedSlices):
        grad = tf.convert_to_tensor(grad)  # scatter-adds the slices: repeated rows summed
    return np.asarray(grad)
