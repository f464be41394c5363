"""Layers that wrap one other layer: ``Wrapper`` (Keras' base class), ``TimeDistributed`` and
``SpectralNormalization``.

``TimeDistributed(Dense(8))`` on ``(N, T, F)`` inputs gives ``(N, T, 8)``: the same Dense, the
same weights, at each of the ``T`` steps; ``TimeDistributed(Conv2D(...))`` runs a convolution on
each frame of ``(N, T, H, W, C)`` videos.

``SpectralNormalization(Dense(8))`` divides the Dense kernel by its largest singular value before
every training step (Miyato et al. 2018, "Spectral Normalization for GANs"), so the layer cannot
stretch any input by more than a factor 1: what keeps a GAN's discriminator from blowing up.
"""

from __future__ import annotations

import numpy as np

from scratchnet import initializers
from scratchnet.layers.base import Layer


class Wrapper(Layer):
    """``keras.layers.Wrapper(layer)``: the base of the layers that wrap one layer (``self.layer``).

    It keeps the wrapped layer and writes it into the config (``{"class_name", "config"}``, and a
    Keras layer spec of its own in a ``.keras`` file); each subclass says what it does with it.
    """

    def __init__(self, layer, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.layer = _inner_layer(layer, self.name, type(self).__name__)

    def keras_weight_groups(self):
        """The wrapped layer's weights: ``layer/vars`` in a .keras file, ``<wrapper>/<layer>`` in
        an .h5 file (Keras' paths)."""
        from scratchnet.saving_keras import weight_groups

        return [(f"layer/{group}", f"{self.name}/{prefix}", params)
                for group, prefix, params in weight_groups(self.layer)]

    def get_config(self):
        """Keras' ``Wrapper.get_config``: the wrapped layer as ``serialize_keras_object`` writes it
        (module, class name, config, and its build config once built)."""
        from scratchnet.saving_keras import _layer_config

        return {**super().get_config(), "layer": _layer_config(self.layer)}

    def _adopt_weights(self) -> None:
        """Make the built wrapped layer's weights this layer's (named ``<wrapper>/<layer>/kernel``,
        Keras' variable path, so two wrappers in one model keep distinct names)."""
        for name, param in list(self.layer.params.items()) + list(self.layer.non_trainable_params.items()):
            param.name = f"{self.name}/{param.name}"
            (self.params if param.trainable else self.non_trainable_params)[name] = param


class TimeDistributed(Wrapper):
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
        super().__init__(layer, name=name, **kwargs)
        _refuse_per_step_layers(self.layer, self.name)

    def build(self, input_shape, rng):
        if len(input_shape) < 2:
            raise ValueError(f'Input 0 of layer "{self.name}" (TimeDistributed) is incompatible with '
                             f"the layer: expected at least 3 dimensions (batch, time, ...), found "
                             f"shape {(None, *input_shape)}")
        steps, step_shape = input_shape[0], tuple(input_shape[1:])
        step_output = self.layer.ensure_built(step_shape, rng)
        self._adopt_weights()
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


def _inner_layer(layer, where: str, wrapper: str):
    """A layer to wrap; a saved ``{"class_name", "config"}`` (an .npz config) is made into one."""
    from scratchnet import layers

    if isinstance(layer, dict) and isinstance(getattr(layers, str(layer.get("class_name")), None), type):
        layer = getattr(layers, layer["class_name"]).from_config(layer.get("config", {}))
    if not isinstance(layer, Layer):
        raise ValueError(f'{wrapper} "{where}": expected a layer instance to wrap, received '
                         f"{layer!r}")
    return layer


def _refuse_per_step_layers(layer, where: str) -> None:
    """What TimeDistributed's one call on ``(N*T, ...)`` cannot do as Keras' call per step does."""
    from scratchnet import layers

    if isinstance(layer, layers.BatchNormalization):
        raise ValueError(f'TimeDistributed "{where}": BatchNormalization inside TimeDistributed is not '
                         "supported: Keras normalizes each step with its own batch statistics and "
                         "updates the moving averages once per step. Put BatchNormalization outside "
                         "(it normalizes the last axis of any rank)")
    if layer.activity_regularizer is not None:
        raise ValueError(f'TimeDistributed "{where}": an activity_regularizer on the wrapped layer '
                         f'"{layer.name}" is not implemented (Keras penalizes each call of it); put it '
                         "on the TimeDistributed layer or on an ActivityRegularization layer after it")


class SpectralNormalization(Wrapper):
    """``keras.layers.SpectralNormalization(layer, power_iterations=1)``: before each training
    step, divide the wrapped layer's ``kernel`` (or an Embedding's ``embeddings``) by ``sigma``, its
    largest singular value, estimated by power iteration.

    With ``W`` the kernel reshaped to ``(-1, units)`` and ``u`` a ``(1, units)`` vector kept between
    steps (the non-trainable weight ``vector_u``, drawn from TruncatedNormal(stddev=0.02))::

        repeat power_iterations times:
            v = l2_normalize(u @ W.T)        # (1, fan_in)
            u = l2_normalize(v @ W)          # (1, units)
        sigma = (v @ W) @ u.T                # ~ the largest singular value of W
        kernel <- kernel / sigma;  vector_u <- u

    As in Keras the division is an assignment, not part of the graph: the wrapped layer then runs
    (and back-propagates) as usual on the divided kernel, and the optimizer updates that kernel. So
    the kernel is divided once per training step, then moved by the optimizer; ``predict`` and
    ``evaluate`` use it as it is. A kernel that is all zeros is left alone (``sigma`` would be 0).
    ``l2_normalize(x) = x * min(1/sqrt(sum x^2), 1/epsilon)`` over the whole vector
    (``sn.ops.normalize(x, axis=None)``, Keras' ``ops.normalize``).

    Weights in Keras' order: ``kernel``, ``vector_u``, then the wrapped layer's others (``bias``);
    Keras tracks the kernel twice (as the wrapper's and as the wrapped layer's), so a ``.keras``
    file holds it in both places.
    """

    def __init__(self, layer, power_iterations: int = 1, name: str | None = None, **kwargs):
        super().__init__(layer, name=name, **kwargs)
        if isinstance(power_iterations, bool) or not isinstance(power_iterations, (int, np.integer)) \
                or power_iterations <= 0:
            raise ValueError("`power_iterations` should be greater than zero. Received: "
                             f"`power_iterations={power_iterations}`")
        self.power_iterations = int(power_iterations)

    def build(self, input_shape, rng):
        output_shape = self.layer.ensure_built(tuple(input_shape), rng)
        kernel = self.layer.params.get("kernel", self.layer.params.get("embeddings"))
        if kernel is None:
            raise ValueError(f"{type(self.layer).__name__} object has no attribute 'kernel' nor "
                             f"'embeddings' (SpectralNormalization \"{self.name}\" wraps layers with a "
                             "kernel, e.g. Dense, Conv2D, or an Embedding)")
        self._adopt_weights()
        self.kernel = kernel
        self.vector_u = self.add_weight("vector_u", (1, kernel.shape[-1]),
                                        initializers.TruncatedNormal(stddev=0.02), rng, trainable=False)
        return output_shape

    @property
    def weights(self):
        """Keras' order: the kernel and ``vector_u`` (the wrapper's own variables), then the wrapped
        layer's other weights."""
        if not hasattr(self, "kernel"):  # not built yet: no weights
            return []
        rest = [p for p in self.layer.weights if p is not self.kernel]
        return [self.kernel, self.vector_u, *rest]

    def keras_weight_groups(self):
        """``vars``: kernel and vector_u; ``layer/vars``: the wrapped layer's (the kernel again)."""
        return [("vars", self.name, [self.kernel, self.vector_u]), *super().keras_weight_groups()]

    def normalized_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """``(u, kernel / sigma)`` by ``power_iterations`` steps of power iteration (see above);
        each vector normalized over all its entries by ``ops.normalize(x, axis=None)``, as Keras."""
        from scratchnet import ops

        kernel = self.kernel.value
        w = kernel.reshape(-1, kernel.shape[-1])
        u = self.vector_u.value
        for _ in range(self.power_iterations):
            v = ops.normalize(u @ w.T, axis=None)
            u = ops.normalize(v @ w, axis=None)
        sigma = (v @ w) @ u.T  # (1, 1)
        return u, (kernel / sigma.reshape(())).astype(kernel.dtype)

    def forward(self, x, training=False):
        if training and np.any(self.kernel.value != 0):
            u, kernel = self.normalized_weights()
            self.vector_u.value[...] = u
            self.kernel.value[...] = kernel
        return self.layer.forward(x, training=training)

    def backward(self, dy):
        self.layer.compute_input_grad = self.compute_input_grad
        return self.layer.backward(dy)  # fills the kernel's and bias's grads

    def get_config(self):
        return {**super().get_config(), "power_iterations": self.power_iterations}
