"""The steps every ``sn.applications`` builder takes around its own architecture, in Keras' order:
check ``weights`` and ``classes``, work out the input shape, make the ``Input``, (the family
builds its layers), add the classifier or the pooling top, make the ``Model``, load weights.

Layers get Keras' names. Keras names an unnamed layer from a per-session count of its class
(``conv2d``, ``conv2d_1``, ...); :class:`AutoNamedLayers` counts the same way, starting afresh for
each model, so a model's names are the ones Keras gives the first model of a fresh session
(after ``keras.backend.clear_session()``). Weights files do not depend on these names: Keras'
``.weights.h5`` files match layers by class and order.
"""

from __future__ import annotations

import os

from scratchnet import layers as sn_layers
from scratchnet.applications import imagenet_utils
from scratchnet.layers import operations
from scratchnet.layers.base import Layer, _snake_case
from scratchnet.layers.input_layer import KerasTensor


class AutoNamedLayers:
    """``layers.Conv2D(...)`` as in Keras' builders, with Keras' default name filled in when no
    ``name`` is given: the class name in snake case, then ``_1``, ``_2``, ... in creation order."""

    def __init__(self, *extra_classes):
        self._counts: dict[str, int] = {}
        self._extra = {cls.__name__: cls for cls in extra_classes}  # a family's own layer classes

    def __getattr__(self, class_name: str):
        cls = self._extra[class_name] if class_name in self._extra else getattr(sn_layers, class_name)

        def make(*args, name: str | None = None, **kwargs):
            return cls(*args, name=self.next_name(class_name) if name is None else name, **kwargs)

        return make

    def next_name(self, class_name: str) -> str:
        """Keras' automatic name for the next unnamed ``class_name``: ``add``, ``add_1``, ..."""
        base = _snake_case(class_name)
        count = self._counts.get(base, 0)
        self._counts[base] = count + 1
        return base if count == 0 else f"{base}_{count}"

    def add(self, x1, x2):
        """``x1 + x2`` written as tensor arithmetic in a Keras builder: an ``ops.add`` operation
        (not a layer), named from the count Keras' layers and operations of one name share."""
        return operations.add(x1, x2, name=self.next_name("Add"))

    def multiply(self, x1, x2):
        """``x1 * x2`` written as tensor arithmetic in a Keras builder: an ``ops.multiply``
        operation (not a layer)."""
        return operations.multiply(x1, x2, name=self.next_name("Multiply"))


def is_file(weights) -> bool:
    """Keras' ``file_utils.exists``: ``weights`` names a file or folder that exists."""
    return isinstance(weights, str | os.PathLike) and os.path.exists(weights)


def check_weights(weights, include_top: bool, classes: int) -> None:
    """Keras' first two checks: ``weights`` is None, "imagenet" or an existing file; the
    ImageNet classifier has 1000 classes."""
    if not (weights in {"imagenet", None} or is_file(weights)):
        raise ValueError("The `weights` argument should be either `None` (random initialization), `imagenet` "
                         "(pre-training on ImageNet), or the path to the weights file to be loaded; "
                         f"Received: weights={weights}")
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError('If using `weights="imagenet"` with `include_top=True`, `classes` should be 1000. '
                         f"Received classes={classes}")


def refuse_imagenet(weights, model_name: str) -> None:
    """Keras downloads the ImageNet weights here; scratchnet never downloads."""
    if weights == "imagenet":
        raise ValueError(
            f'{model_name}: weights="imagenet" asks for a download, and scratchnet never downloads. '
            "Build the model with `weights=None` and then call `model.load_weights(path)` with a weights "
            "file you have (a Keras `.weights.h5` file, or the published `.h5` file), or pass "
            "`weights=path`.")


def image_input(input_tensor, input_shape):
    """The model's image input: a new ``Input(input_shape)``, or the symbolic tensor given."""
    if input_tensor is None:
        return sn_layers.Input(shape=input_shape)
    if not isinstance(input_tensor, KerasTensor):
        raise ValueError("input_tensor: expected a symbolic tensor (the output of `sn.Input()` or of a layer "
                         f"called on one); received {type(input_tensor).__name__}")
    return input_tensor


def classifier(layers: AutoNamedLayers, x, classes: int, classifier_activation, weights, pool_name=None):
    """Keras' usual top: global average pooling, then ``Dense(classes)`` named "predictions"."""
    x = layers.GlobalAveragePooling2D(name=pool_name)(x)
    imagenet_utils.validate_activation(classifier_activation, weights)
    return layers.Dense(classes, activation=classifier_activation, name="predictions")(x)


def pooled(layers: AutoNamedLayers, x, pooling, avg_name=None, max_name=None):
    """Without the top: the last feature map, or its global average (``"avg"``) or max (``"max"``)."""
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name=avg_name)(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name=max_name)(x)
    return x


def finish(img_input, input_tensor, x, name: str, weights):
    """``Model(inputs, x)``, then the weights file if one was given."""
    from scratchnet.functional import Functional
    from scratchnet.utils import get_source_inputs

    inputs = img_input
    if input_tensor is not None:
        sources = get_source_inputs(input_tensor)
        inputs = sources[0] if len(sources) == 1 else sources
    model = Functional(inputs, x, name=name)
    if weights is not None:
        model.load_weights(weights)
    return model


class Sequential(Layer):
    """Keras' ``Sequential`` as ONE layer of a builder's functional model (ConvNeXt's stem and
    downsampling blocks: ``keras.Sequential([...], name=...)(x)`` in Keras' builder), so
    ``model.layers`` and ``model.summary()`` list it as one entry, ``name (Sequential)``, as
    Keras does. ``sn.Sequential`` called on a tensor adds its layers one by one instead.

    ``y = layers[-1](...layers[1](layers[0](x)))``: a layer made of layers
    (:mod:`scratchnet.subclassing`), whose traced graph runs forward and backward; input and
    output shapes are those of its first and last layer.

    Saved as Keras saves a nested Sequential: a ``Sequential`` config holding its layers'
    (:meth:`keras_saved_config`) and the weights under ``layers/<sequential>/layers/<layer>/vars``
    (:meth:`keras_weight_groups`). A model loaded from such a file, Keras' or scratchnet's,
    lists the layers one by one (``saving_keras.record_units``)."""

    keras_module = "keras"

    def __init__(self, layers: list, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        if not layers or not all(isinstance(layer, Layer) for layer in layers):
            raise ValueError(f'Sequential "{self.name}": expected a non-empty list of layers, received '
                             f"{layers!r}")
        self.layers = list(layers)

    def call(self, inputs, training=False):
        x = inputs
        for layer in self.layers:
            x = layer(x, training=training)
        return x

    def keras_saved_config(self, config: dict) -> dict:
        """Keras' ``Sequential.get_config()``: an ``InputLayer``, then each layer's spec."""
        from scratchnet.saving_keras import _layer_config

        batch_shape = [None, *self.input_shape]
        first = {"module": "keras.layers", "class_name": "InputLayer",
                 "config": {"batch_shape": batch_shape, "dtype": config["dtype"]["config"]["name"],
                            "sparse": False, "ragged": False, "name": f"{self.name}_input",
                            "optional": False},
                 "registered_name": None}
        return {"name": self.name, "trainable": self.trainable, "dtype": config["dtype"],
                "layers": [first, *(_layer_config(layer) for layer in self.layers)],
                "build_input_shape": batch_shape}

    def keras_weight_groups(self) -> list[tuple[str, str, list]]:
        """Each layer's weights under ``layers/<snake class>[_i]/`` of this one's group, as in
        Keras' weights file (``saving_keras.weight_groups``)."""
        from scratchnet.saving_keras import keras_class_name, layer_paths, weight_groups

        paths = layer_paths([keras_class_name(layer) for layer in self.layers])
        return [(f"{path}/{sub}", prefix, params)
                for path, layer in zip(paths, self.layers, strict=True)
                for sub, prefix, params in weight_groups(layer)]
