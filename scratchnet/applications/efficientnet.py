"""EfficientNet B0 .. B7 (Tan and Le, "EfficientNet: Rethinking Model Scaling for Convolutional
Neural Networks", 2019), layer for layer as ``keras.applications.efficientnet`` builds them.

B0 is a stack of MBConv blocks (MobileNetV2's inverted residual: 1x1 expand, depthwise kxk,
1x1 project) with a *squeeze-and-excitation* step in each: the block's feature maps are averaged
to one vector, squeezed through a small 1x1 convolution and expanded back through a sigmoid, and
each channel is multiplied by its weight. Activations are swish. B1 .. B7 scale B0 by a width
coefficient (channels, rounded to multiples of 8 by ``round_filters``), a depth coefficient
(block repeats, rounded up) and a larger default image size. Blocks that keep their shape add
their input back, after *stochastic depth*: in training each image's residual branch is dropped
whole with a rate that grows linearly through the network to ``drop_connect_rate``
(``Dropout(noise_shape=(None, 1, 1, 1))``).

Preprocessing is inside the model (``Rescaling(1/255)`` and a ``Normalization`` layer): it takes
pixels in ``[0, 255]`` and :func:`preprocess_input` passes them through.
"""

from __future__ import annotations

import copy
import math

from scratchnet import initializers
from scratchnet.applications import _builder, imagenet_utils

# (kernel_size, repeats, filters_in, filters_out, expand_ratio, strides) of B0's seven stages;
# every block has id_skip=True and se_ratio=0.25
DEFAULT_BLOCKS_ARGS = [
    {"kernel_size": k, "repeats": r, "filters_in": fi, "filters_out": fo, "expand_ratio": e,
     "id_skip": True, "strides": s, "se_ratio": 0.25}
    for k, r, fi, fo, e, s in ((3, 1, 32, 16, 1, 1), (3, 2, 16, 24, 6, 2), (5, 2, 24, 40, 6, 2),
                               (3, 3, 40, 80, 6, 2), (5, 3, 80, 112, 6, 1), (5, 4, 112, 192, 6, 2),
                               (3, 1, 192, 320, 6, 1))
]


def _conv_init():
    """He-style normal draws scaled by the OUTPUT fan, truncated at two standard deviations."""
    return initializers.VarianceScaling(scale=2.0, mode="fan_out", distribution="truncated_normal")


def _dense_init():
    return initializers.VarianceScaling(scale=1.0 / 3.0, mode="fan_out", distribution="uniform")


def EfficientNet(width_coefficient: float, depth_coefficient: float, default_size: int,  # noqa: N802
                 dropout_rate: float = 0.2, drop_connect_rate: float = 0.2, depth_divisor: int = 8,
                 activation="swish", blocks_args="default", name: str = "efficientnet",
                 include_top: bool = True, weights="imagenet", input_tensor=None, input_shape=None,
                 pooling=None, classes: int = 1000, classifier_activation="softmax",
                 weights_name: str | None = None):
    """The EfficientNet frame (``keras.applications.efficientnet.EfficientNet``)."""
    if blocks_args == "default":
        blocks_args = DEFAULT_BLOCKS_ARGS
    if not (weights in {"imagenet", None} or _builder.is_file(weights)):
        raise ValueError("The `weights` argument should be either `None` (random initialization), `imagenet` "
                         "(pre-training on ImageNet), or the path to the weights file to be loaded.")
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError('If using `weights="imagenet"` with `include_top` as true, `classes` should be 1000')
    input_shape = imagenet_utils.obtain_input_shape(input_shape, default_size=default_size, min_size=32,
                                                    data_format="channels_last",
                                                    require_flatten=include_top, weights=weights)
    for args in blocks_args:
        if args["repeats"] <= 0:
            raise ValueError(f"The number of repeats in `EfficientNet` must be > 0. Received: "
                             f"repeats={args['repeats']}")
    if include_top:
        imagenet_utils.validate_activation(classifier_activation, weights)
    # (Keras adds a third layer, Rescaling(1/sqrt(std)), only for the ImageNet weights: refused here)
    _builder.refuse_imagenet(weights, name)
    layers = _builder.AutoNamedLayers()
    img_input = _builder.image_input(input_tensor, input_shape)

    def round_filters(filters, divisor=depth_divisor):
        """``filters * width_coefficient`` to the nearest multiple of ``divisor``, never 10% less."""
        filters *= width_coefficient
        new_filters = max(divisor, int(filters + divisor / 2) // divisor * divisor)
        if new_filters < 0.9 * filters:
            new_filters += divisor
        return int(new_filters)

    def round_repeats(repeats):
        return int(math.ceil(depth_coefficient * repeats))

    def block(inputs, drop_rate, name, filters_in, filters_out, kernel_size, strides, expand_ratio, se_ratio,
              id_skip):
        filters = filters_in * expand_ratio
        x = inputs
        if expand_ratio != 1:
            x = layers.Conv2D(filters, 1, padding="same", use_bias=False, kernel_initializer=_conv_init(),
                              name=f"{name}expand_conv")(x)
            x = layers.BatchNormalization(axis=3, name=f"{name}expand_bn")(x)
            x = layers.Activation(activation, name=f"{name}expand_activation")(x)
        if strides == 2:
            x = layers.ZeroPadding2D(padding=imagenet_utils.correct_pad(x, kernel_size),
                                     name=f"{name}dwconv_pad")(x)
        x = layers.DepthwiseConv2D(kernel_size, strides=strides, padding="same" if strides == 1 else "valid",
                                   use_bias=False, depthwise_initializer=_conv_init(),
                                   name=f"{name}dwconv")(x)
        x = layers.BatchNormalization(axis=3, name=f"{name}bn")(x)
        x = layers.Activation(activation, name=f"{name}activation")(x)
        if 0 < se_ratio <= 1:  # squeeze and excitation: one weight in (0, 1) per channel
            filters_se = max(1, int(filters_in * se_ratio))
            se = layers.GlobalAveragePooling2D(name=f"{name}se_squeeze")(x)  # (N, filters)
            se = layers.Reshape((1, 1, filters), name=f"{name}se_reshape")(se)  # (N, 1, 1, filters)
            se = layers.Conv2D(filters_se, 1, padding="same", activation=activation,
                               kernel_initializer=_conv_init(), name=f"{name}se_reduce")(se)
            se = layers.Conv2D(filters, 1, padding="same", activation="sigmoid",
                               kernel_initializer=_conv_init(), name=f"{name}se_expand")(se)
            x = layers.Multiply(name=f"{name}se_excite")([x, se])
        x = layers.Conv2D(filters_out, 1, padding="same", use_bias=False, kernel_initializer=_conv_init(),
                          name=f"{name}project_conv")(x)
        x = layers.BatchNormalization(axis=3, name=f"{name}project_bn")(x)
        if id_skip and strides == 1 and filters_in == filters_out:
            if drop_rate > 0:  # stochastic depth: drop the whole branch of an image
                x = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}drop")(x)
            x = layers.Add(name=f"{name}add")([x, inputs])
        return x

    x = layers.Rescaling(1.0 / 255.0)(img_input)
    x = layers.Normalization(axis=3)(x)
    x = layers.ZeroPadding2D(padding=imagenet_utils.correct_pad(x, 3), name="stem_conv_pad")(x)
    x = layers.Conv2D(round_filters(32), 3, strides=2, padding="valid", use_bias=False,
                      kernel_initializer=_conv_init(), name="stem_conv")(x)
    x = layers.BatchNormalization(axis=3, name="stem_bn")(x)
    x = layers.Activation(activation, name="stem_activation")(x)

    blocks_args = copy.deepcopy(blocks_args)
    b = 0
    total = float(sum(round_repeats(args["repeats"]) for args in blocks_args))
    for i, args in enumerate(blocks_args):
        args["filters_in"] = round_filters(args["filters_in"])
        args["filters_out"] = round_filters(args["filters_out"])
        for j in range(round_repeats(args.pop("repeats"))):
            if j > 0:  # only a stage's first block changes width and stride
                args["strides"] = 1
                args["filters_in"] = args["filters_out"]
            x = block(x, drop_connect_rate * b / total, name=f"block{i + 1}{chr(j + 97)}_", **args)
            b += 1

    x = layers.Conv2D(round_filters(1280), 1, padding="same", use_bias=False, kernel_initializer=_conv_init(),
                      name="top_conv")(x)
    x = layers.BatchNormalization(axis=3, name="top_bn")(x)
    x = layers.Activation(activation, name="top_activation")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout_rate > 0:
            x = layers.Dropout(dropout_rate, name="top_dropout")(x)
        x = layers.Dense(classes, activation=classifier_activation, kernel_initializer=_dense_init(),
                         name="predictions")(x)
    else:
        x = _builder.pooled(layers, x, pooling, avg_name="avg_pool", max_name="max_pool")
    return _builder.finish(img_input, input_tensor, x, name, weights)


def _variant(width, depth, size, dropout, default_name):
    def build(include_top: bool = True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
              classes: int = 1000, classifier_activation="softmax", name: str = default_name):
        return EfficientNet(width, depth, size, dropout, name=name, include_top=include_top, weights=weights,
                            input_tensor=input_tensor, input_shape=input_shape, pooling=pooling,
                            classes=classes, classifier_activation=classifier_activation,
                            weights_name=default_name[-2:])

    build.__name__ = build.__qualname__ = f"EfficientNet{default_name[-2:].upper()}"
    build.__doc__ = (f"{build.__name__}: width x{width}, depth x{depth}, default size {size}x{size}, "
                     f"top dropout {dropout}. Takes pixels in [0, 255] (preprocessing is inside).")
    return build


# (width coefficient, depth coefficient, default image size, top dropout rate), from the paper
EfficientNetB0 = _variant(1.0, 1.0, 224, 0.2, "efficientnetb0")
EfficientNetB1 = _variant(1.0, 1.1, 240, 0.2, "efficientnetb1")
EfficientNetB2 = _variant(1.1, 1.2, 260, 0.3, "efficientnetb2")
EfficientNetB3 = _variant(1.2, 1.4, 300, 0.3, "efficientnetb3")
EfficientNetB4 = _variant(1.4, 1.8, 380, 0.4, "efficientnetb4")
EfficientNetB5 = _variant(1.6, 2.2, 456, 0.4, "efficientnetb5")
EfficientNetB6 = _variant(1.8, 2.6, 528, 0.5, "efficientnetb6")
EfficientNetB7 = _variant(2.0, 3.1, 600, 0.5, "efficientnetb7")


def preprocess_input(x, data_format=None):
    """A pass-through, as in Keras: EfficientNet's preprocessing is part of the model."""
    return x


def decode_predictions(preds, top: int = 5):
    """The top ImageNet classes of each prediction (see ``imagenet_utils.decode_predictions``)."""
    return imagenet_utils.decode_predictions(preds, top=top)
