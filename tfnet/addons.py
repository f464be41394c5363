"""Keras twins of ``scratchnet.addons``, and their to/from Keras layer mappings.

TensorFlow Addons had ``tfa.layers.PoincareNormalize``; it no longer imports with TensorFlow 2.21
(it reaches for ``keras.src.engine``), so the twin is a small subclassed ``keras.layers.Layer``
computing Addons' formula with ``keras.ops``, whose gradients TensorFlow derives.

``TO_KERAS`` maps a scratchnet class to a function ``layer -> keras layer`` and ``FROM_KERAS`` a
Keras class to ``keras layer -> scratchnet layer``; both return an unbuilt layer of the same name
and config (these layers have no weights to copy).
"""

from __future__ import annotations

import keras
from keras import ops

import scratchnet as sn


@keras.saving.register_keras_serializable(package="tfnet")
class PoincareNormalize(keras.layers.Layer):
    """``y = x * min((1 - epsilon) * rsqrt(sum_axis x^2), 1)``, as ``tfa.layers.PoincareNormalize``.

    Defaults ``axis=1``, ``epsilon=1e-5``; ``axis`` may be an int or a list of ints.
    """

    def __init__(self, axis=1, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis
        self.epsilon = epsilon

    def call(self, x):
        axis = tuple(self.axis) if isinstance(self.axis, list | tuple) else self.axis
        square_sum = ops.sum(ops.square(x), axis=axis, keepdims=True)
        x_inv_norm = ops.rsqrt(square_sum)
        x_inv_norm = ops.minimum((1.0 - self.epsilon) * x_inv_norm, 1.0)
        return ops.multiply(x, x_inv_norm)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon}


def poincare_normalize_to_keras(layer: sn.addons.PoincareNormalize) -> PoincareNormalize:
    axis = list(layer.axis) if isinstance(layer.axis, tuple) else layer.axis
    return PoincareNormalize(axis=axis, epsilon=layer.epsilon, name=layer.name)


def poincare_normalize_from_keras(layer: PoincareNormalize) -> sn.addons.PoincareNormalize:
    axis = tuple(layer.axis) if isinstance(layer.axis, list | tuple) else layer.axis
    return sn.addons.PoincareNormalize(axis=axis, epsilon=layer.epsilon, name=layer.name)


TO_KERAS = {sn.addons.PoincareNormalize: poincare_normalize_to_keras}
FROM_KERAS = {PoincareNormalize: poincare_normalize_from_keras}
