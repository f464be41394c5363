"""TimeDistributed: one layer applied to every step of a sequence (Keras' ``layers/rnn/time_distributed``).

``TimeDistributed(Dense(8))`` on ``(N, T, F)`` inputs gives ``(N, T, 8)``: the same Dense, the
same weights, at each of the ``T`` steps; ``TimeDistributed(Conv2D(...))`` runs a convolution on
each frame of ``(N, T, H, W, C)`` videos.
"""

from __future__ import annotations

from scratchnet.layers.base import Layer


class TimeDistributed(Layer):
    """``keras.layers.TimeDistributed(layer)``: ``y[:, t] = layer(x[:, t])`` for every step ``t``.

    Keras calls the layer once per step. Here the steps are folded into the batch instead, one
    call on ``(N*T, ...)``::

        y = layer.forward(x.reshape(N*T, ...)).reshape(N, T, ...)
        dx = layer.backward(dy.reshape(N*T, ...)).reshape(N, T, ...)

    which is the same arithmetic for every layer whose output for a sample does not depend on the
    other samples of its batch (Dense, the convolutions, pooling, Flatten, activations; Dropout
    draws its masks either way). ``BatchNormalization`` inside is refused: Keras normalizes each
    step with that step's batch statistics and moves the moving averages once per step, which a
    single call cannot reproduce. The wrapped layer's weights are this layer's weights (named
    ``time_distributed/dense/kernel``, Keras' variable path); a padding mask passes through.
    """

    supports_masking = True

    def __init__(self, layer, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.layer = _inner_layer(layer, self.name)

    def build(self, input_shape, rng):
        if len(input_shape) < 2:
            raise ValueError(f'Input 0 of layer "{self.name}" (TimeDistributed) is incompatible with '
                             f"the layer: expected at least 3 dimensions (batch, time, ...), found "
                             f"shape {(None, *input_shape)}")
        steps, step_shape = input_shape[0], tuple(input_shape[1:])
        step_output = self.layer.ensure_built(step_shape, rng)
        for name, param in list(self.layer.params.items()) + list(self.layer.non_trainable_params.items()):
            param.name = f"{self.name}/{param.name}"  # unique in a model with two such wrappers
            (self.params if param.trainable else self.non_trainable_params)[name] = param
        return (steps, *step_output)

    def forward(self, x, training=False):
        n, t = x.shape[:2]
        y = self.layer.forward(x.reshape((n * t, *x.shape[2:])), training=training)  # (N*T, ...)
        return y.reshape((n, t, *y.shape[1:]))

    def backward(self, dy):
        n, t = dy.shape[:2]
        self.layer.compute_input_grad = self.compute_input_grad
        dx = self.layer.backward(dy.reshape((n * t, *dy.shape[2:])))  # fills the weights' grads
        return None if dx is None else dx.reshape((n, t, *dx.shape[1:]))

    def keras_weight_groups(self):
        """The wrapped layer's weights: ``layer/vars`` in a .keras file, ``time_distributed/dense``
        in an .h5 file (Keras' paths)."""
        from scratchnet.saving_keras import weight_groups

        return [(f"layer/{group}", f"{self.name}/{prefix}", params)
                for group, prefix, params in weight_groups(self.layer)]

    def keras_saved_config(self, config):
        """In a ``.keras`` file the wrapped layer is a Keras layer spec of its own."""
        from scratchnet.saving_keras import _layer_config

        return {**config, "layer": _layer_config(self.layer)}

    def get_config(self):
        return {**super().get_config(),
                "layer": {"class_name": type(self.layer).__name__, "config": self.layer.get_config()}}


def _inner_layer(layer, where: str):
    """A layer to wrap; a saved ``{"class_name", "config"}`` (an .npz config) is made into one."""
    from scratchnet import layers

    if isinstance(layer, dict) and isinstance(getattr(layers, str(layer.get("class_name")), None), type):
        layer = getattr(layers, layer["class_name"])(**layer.get("config", {}))
    if not isinstance(layer, Layer):
        raise ValueError(f'TimeDistributed "{where}": expected a layer instance to wrap, received '
                         f"{layer!r}")
    if isinstance(layer, layers.BatchNormalization):
        raise ValueError(f'TimeDistributed "{where}": BatchNormalization inside TimeDistributed is not '
                         "supported: Keras normalizes each step with its own batch statistics and "
                         "updates the moving averages once per step. Put BatchNormalization outside "
                         "(it normalizes the last axis of any rank)")
    if layer.activity_regularizer is not None:
        raise ValueError(f'TimeDistributed "{where}": an activity_regularizer on the wrapped layer '
                         f'"{layer.name}" is not implemented (Keras penalizes each call of it); put it '
                         "on the TimeDistributed layer or on an ActivityRegularization layer after it")
    return layer
