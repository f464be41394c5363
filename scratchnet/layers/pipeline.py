"""``keras.layers.Pipeline``: a list of layers applied in order, as one layer.

Keras made it for preprocessing and augmentation chains (``Pipeline([RandomFlip(), RandomRotation(
0.1), RandomContrast(0.2)])``), usable inside a model or on a ``tf.data`` pipeline. Its call
passes ``training`` on to each layer and defaults to ``training=True``, as the augmentation
layers do. scratchnet's takes layers without weights (the augmentation and preprocessing layers
it is meant for): a layer with weights belongs in the model itself, where ``fit`` trains it.
"""

from __future__ import annotations

from scratchnet.layers.base import Layer


def _as_layer(layer, where: str) -> Layer:
    """A layer; a saved ``{"class_name", "config"}`` (an .npz config) is made into one."""
    from scratchnet import layers

    if isinstance(layer, dict) and isinstance(getattr(layers, str(layer.get("class_name")), None), type):
        layer = getattr(layers, layer["class_name"])(**layer.get("config", {}))
    if not isinstance(layer, Layer):
        raise ValueError(f"{where}: expected layers to be a list of layer instances, received an item "
                         f"{layer!r}")
    return layer


class Pipeline(Layer):
    """Apply ``layers`` one after the other, as ``keras.layers.Pipeline``::

        y = layers[-1](... layers[1](layers[0](x, training), training) ..., training)

    ``layer(x)`` runs with ``training=True`` (Keras' default for Pipeline), ``model.predict``
    with ``training=False``, so the augmentation layers inside switch off there. The layers each
    keep their own seed (or draw one from the model's seed, in order). Backward: the layers'
    backward in reverse order. Keras' config is ``{"layers": [...], "name": ...}`` (no
    ``trainable``, no ``dtype``).
    """

    def __init__(self, layers, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.where = f"Pipeline {self.name!r}"
        if not isinstance(layers, list | tuple):
            raise ValueError(f"{self.where}: expected layers to be a list of layers, received {layers!r}")
        self.pipeline_layers = [_as_layer(layer, self.where) for layer in layers]

    @property
    def layers(self) -> list[Layer]:
        return self.pipeline_layers

    def build(self, input_shape, rng):
        shape = tuple(input_shape)
        for layer in self.pipeline_layers:
            shape = layer.ensure_built(shape, rng)
            if layer.weights:
                raise ValueError(f"{self.where}: layer {layer.name!r} ({type(layer).__name__}) has "
                                 f"weights; scratchnet's Pipeline takes layers without weights (the "
                                 f"augmentation and preprocessing layers): put it in the model itself")
        return shape

    def __call__(self, x, training: bool | None = None):
        """Augments arrays by default, as Keras' ``call(training=True)``; in a model, the model's
        mode decides unless ``training=`` is written (``call_default_training``). A dict (Keras'
        ``{"images", "labels", "bounding_boxes", ...}``) goes through the layers one by one."""
        from scratchnet.layers.augmentation import call_default_training

        training = call_default_training(x, training)
        if isinstance(x, dict):
            for layer in self.pipeline_layers:
                x = layer(x, training=training)
            return x
        return super().__call__(x, training=training)

    def forward(self, x, training=False):
        for layer in self.pipeline_layers:
            x = layer.forward(x, training=training)
        return x

    def backward(self, dy):
        if not self.compute_input_grad:  # in front of the first layer with weights: none needed
            return None
        for layer in reversed(self.pipeline_layers):
            layer.compute_input_grad = True
            dy = layer.backward(dy)
        return dy

    def get_config(self):
        """Keras' ``Pipeline.get_config``: only ``layers`` (each a Keras layer spec of its own,
        ``serialize_keras_object``'s) and ``name``."""
        from scratchnet.saving_keras import _layer_config

        return {"layers": [_layer_config(layer) for layer in self.pipeline_layers], "name": self.name}

