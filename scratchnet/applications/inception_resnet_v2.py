"""Inception-ResNet V2 (Szegedy et al., "Inception-v4, Inception-ResNet and the Impact of Residual
Connections on Learning", 2016), layer for layer as ``keras.applications.inception_resnet_v2``.

Inception V3's stem and multi-branch blocks, made residual: each of the 40 blocks ("block35",
"block17", "block8", named after their grid size at 299x299) concatenates its branches, projects
them back to the input's width with a 1x1 convolution (with bias, no BatchNormalization) and
adds that, scaled down (0.17, 0.1, 0.2: large residuals destabilised training), to its input:
``x + scale * up``, the :class:`CustomScaleLayer`. Reduction blocks "mixed_6a" and "mixed_7a"
halve the grid in between.
"""

from __future__ import annotations

import numbers

from scratchnet.applications import _builder, imagenet_utils
from scratchnet.layers.merging import _Elementwise


class CustomScaleLayer(_Elementwise):
    """``y = x + scale * up`` for inputs ``[x, up]`` of one shape (Keras' layer of this name,
    defined in its inception_resnet_v2 module). Backward: ``dx = dy``, ``dup = scale * dy``."""

    min_inputs = 2
    keras_module = "keras.src.applications.inception_resnet_v2"  # where Keras' .keras files find it

    def __init__(self, scale: float, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        if isinstance(scale, bool) or not isinstance(scale, numbers.Real):
            raise ValueError(f'CustomScaleLayer "{self.name}": expected scale to be a number, '
                             f"received {scale!r}")
        self.scale = scale

    def build(self, input_shape, rng):
        if len(input_shape) != 2:
            raise ValueError(f'CustomScaleLayer "{self.name}": expected exactly 2 inputs [x, up], '
                             f"received {len(input_shape)}")
        return super().build(input_shape, rng)

    def forward(self, xs, training=False):
        x, up = xs
        return x + up * up.dtype.type(self.scale)  # the scale rounded to the data's type, as Keras

    def backward(self, dy):
        return [self._unbroadcast(dy, 0), self._unbroadcast(dy * dy.dtype.type(self.scale), 1)]

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


def InceptionResNetV2(include_top: bool = True, weights="imagenet", input_tensor=None,  # noqa: N802
                      input_shape=None, pooling=None, classes: int = 1000,
                      classifier_activation="softmax", name: str = "inception_resnet_v2"):
    """Inception-ResNet V2 as a functional model; inputs of at least 75x75 (default 299x299)
    scaled by :func:`preprocess_input` (into ``[-1, 1]``). 55.9M parameters with the top."""
    _builder.check_weights(weights, include_top, classes)
    input_shape = imagenet_utils.obtain_input_shape(input_shape, default_size=299, min_size=75,
                                                    data_format="channels_last",
                                                    require_flatten=include_top, weights=weights)
    if include_top:
        imagenet_utils.validate_activation(classifier_activation, weights)
    _builder.refuse_imagenet(weights, "InceptionResNetV2")
    layers = _builder.AutoNamedLayers(CustomScaleLayer)
    img_input = _builder.image_input(input_tensor, input_shape)

    def conv2d_bn(x, filters, kernel_size, strides=1, padding="same", activation="relu", use_bias=False,
                  name=None):
        x = layers.Conv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=use_bias,
                          name=name)(x)
        if not use_bias:
            bn_name = None if name is None else f"{name}_bn"
            x = layers.BatchNormalization(axis=3, scale=False, name=bn_name)(x)
        if activation is not None:
            x = layers.Activation(activation, name=None if name is None else f"{name}_ac")(x)
        return x

    def inception_resnet_block(x, scale, block_type, block_idx, activation="relu"):
        if block_type == "block35":
            branch_0 = conv2d_bn(x, 32, 1)
            branch_1 = conv2d_bn(conv2d_bn(x, 32, 1), 32, 3)
            branch_2 = conv2d_bn(conv2d_bn(conv2d_bn(x, 32, 1), 48, 3), 64, 3)
            branches = [branch_0, branch_1, branch_2]
        elif block_type == "block17":
            branch_0 = conv2d_bn(x, 192, 1)
            branch_1 = conv2d_bn(conv2d_bn(conv2d_bn(x, 128, 1), 160, [1, 7]), 192, [7, 1])
            branches = [branch_0, branch_1]
        else:  # "block8"
            branch_0 = conv2d_bn(x, 192, 1)
            branch_1 = conv2d_bn(conv2d_bn(conv2d_bn(x, 192, 1), 224, [1, 3]), 256, [3, 1])
            branches = [branch_0, branch_1]
        block_name = f"{block_type}_{block_idx}"
        mixed = layers.Concatenate(axis=3, name=f"{block_name}_mixed")(branches)
        up = conv2d_bn(mixed, x.shape[3], 1, activation=None, use_bias=True, name=f"{block_name}_conv")
        x = layers.CustomScaleLayer(scale)([x, up])
        if activation is not None:
            x = layers.Activation(activation, name=f"{block_name}_ac")(x)
        return x

    # stem: as Inception V3's
    x = conv2d_bn(img_input, 32, 3, strides=2, padding="valid")
    x = conv2d_bn(x, 32, 3, padding="valid")
    x = conv2d_bn(x, 64, 3)
    x = layers.MaxPooling2D(3, strides=2)(x)
    x = conv2d_bn(x, 80, 1, padding="valid")
    x = conv2d_bn(x, 192, 3, padding="valid")
    x = layers.MaxPooling2D(3, strides=2)(x)

    # mixed_5b: 35 x 35 x 320
    branch_0 = conv2d_bn(x, 96, 1)
    branch_1 = conv2d_bn(conv2d_bn(x, 48, 1), 64, 5)
    branch_2 = conv2d_bn(conv2d_bn(conv2d_bn(x, 64, 1), 96, 3), 96, 3)
    branch_pool = conv2d_bn(layers.AveragePooling2D(3, strides=1, padding="same")(x), 64, 1)
    x = layers.Concatenate(axis=3, name="mixed_5b")([branch_0, branch_1, branch_2, branch_pool])
    for block_idx in range(1, 11):
        x = inception_resnet_block(x, scale=0.17, block_type="block35", block_idx=block_idx)

    # mixed_6a: 17 x 17 x 1088
    branch_0 = conv2d_bn(x, 384, 3, strides=2, padding="valid")
    branch_1 = conv2d_bn(conv2d_bn(conv2d_bn(x, 256, 1), 256, 3), 384, 3, strides=2, padding="valid")
    branch_pool = layers.MaxPooling2D(3, strides=2, padding="valid")(x)
    x = layers.Concatenate(axis=3, name="mixed_6a")([branch_0, branch_1, branch_pool])
    for block_idx in range(1, 21):
        x = inception_resnet_block(x, scale=0.1, block_type="block17", block_idx=block_idx)

    # mixed_7a: 8 x 8 x 2080
    branch_0 = conv2d_bn(conv2d_bn(x, 256, 1), 384, 3, strides=2, padding="valid")
    branch_1 = conv2d_bn(conv2d_bn(x, 256, 1), 288, 3, strides=2, padding="valid")
    branch_2 = conv2d_bn(conv2d_bn(conv2d_bn(x, 256, 1), 288, 3), 320, 3, strides=2, padding="valid")
    branch_pool = layers.MaxPooling2D(3, strides=2, padding="valid")(x)
    x = layers.Concatenate(axis=3, name="mixed_7a")([branch_0, branch_1, branch_2, branch_pool])
    for block_idx in range(1, 10):
        x = inception_resnet_block(x, scale=0.2, block_type="block8", block_idx=block_idx)
    x = inception_resnet_block(x, scale=1.0, activation=None, block_type="block8", block_idx=10)
    x = conv2d_bn(x, 1536, 1, name="conv_7b")

    if include_top:
        x = _builder.classifier(layers, x, classes, classifier_activation, weights, pool_name="avg_pool")
    else:
        x = _builder.pooled(layers, x, pooling)
    return _builder.finish(img_input, input_tensor, x, name, weights)


def preprocess_input(x, data_format=None):
    """Pixels in ``[0, 255]`` into ``[-1, 1]``: ``x / 127.5 - 1`` (mode "tf")."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds, top: int = 5):
    """The top ImageNet classes of each prediction (see ``imagenet_utils.decode_predictions``)."""
    return imagenet_utils.decode_predictions(preds, top=top)
