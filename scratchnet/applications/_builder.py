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
from scratchnet.layers.base import _snake_case
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


def finish(img_input, input_tensor, x, name: str, weights, nested=None):
    """``Model(inputs, x)``, then the weights file if one was given.

    ``nested``: ``(name, layers)`` of each ``Sequential`` the builder called on a tensor, which
    Keras keeps as one entry of ``model.layers`` (and one group of its weights files) and
    scratchnet lists layer by layer; the model remembers Keras' entries (``_keras_units``, see
    ``saving_keras.keras_units``) so Keras' files load."""
    from scratchnet.functional import Functional
    from scratchnet.utils import get_source_inputs

    inputs = img_input
    if input_tensor is not None:
        sources = get_source_inputs(input_tensor)
        inputs = sources[0] if len(sources) == 1 else sources
    model = Functional(inputs, x, name=name)
    if nested:
        first = {id(group[0]): (seq_name, group) for seq_name, group in nested}
        inside = {id(layer) for _, group in nested for layer in group}
        units = []
        for layer in model.layers:
            if id(layer) in first:
                seq_name, group = first[id(layer)]
                units.append((seq_name, "Sequential", list(group)))
            elif id(layer) not in inside:
                # (saving_keras.keras_class_name's rule: that module needs h5py, building does not)
                class_name = getattr(layer, "keras_name", None) or type(layer).__name__
                units.append((layer.name, class_name, [layer]))
        model._keras_units = units
    if weights is not None:
        model.load_weights(weights)
    return model
