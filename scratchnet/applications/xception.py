"""Xception (Chollet, "Xception: Deep Learning with Depthwise Separable Convolutions", 2017),
layer for layer as ``keras.applications.xception`` builds it.

Inception's branches taken to the limit: every convolution after the first two is a
SeparableConv2D (a depthwise 3x3 per channel, then a 1x1 across channels). The "entry flow"
halves the grid three times, each block adding a strided 1x1 convolution of its input (the
residual) to its max-pooled output; the "middle flow" is eight identical residual blocks of three
separable convolutions at 728 channels; the "exit flow" halves once more and widens to 2048.
"""

from __future__ import annotations

from scratchnet.applications import _builder, imagenet_utils


def Xception(include_top: bool = True, weights="imagenet", input_tensor=None, input_shape=None,  # noqa: N802
             pooling=None, classes: int = 1000, classifier_activation="softmax", name: str = "xception"):
    """Xception as a functional model; inputs of at least 71x71 (default 299x299) scaled by
    :func:`preprocess_input` (into ``[-1, 1]``). 22.9M parameters with the 1000-class top."""
    if not (weights in {"imagenet", None} or _builder.is_file(weights)):
        raise ValueError("The `weights` argument should be either `None` (random initialization), 'imagenet' "
                         "(pre-training on ImageNet), or the path to the weights file to be loaded.")
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError("If using `weights='imagenet'` with `include_top=True`, `classes` should be 1000.  "
                         f"Received classes={classes}")
    input_shape = imagenet_utils.obtain_input_shape(input_shape, default_size=299, min_size=71,
                                                    data_format="channels_last",
                                                    require_flatten=include_top, weights=weights)
    if include_top:
        imagenet_utils.validate_activation(classifier_activation, weights)
    _builder.refuse_imagenet(weights, "Xception")
    layers = _builder.AutoNamedLayers()
    img_input = _builder.image_input(input_tensor, input_shape)

    def sepconv_bn(x, filters, name):
        x = layers.SeparableConv2D(filters, (3, 3), padding="same", use_bias=False, name=name)(x)
        return layers.BatchNormalization(axis=-1, name=f"{name}_bn")(x)

    def strided_residual(x, filters):
        residual = layers.Conv2D(filters, (1, 1), strides=(2, 2), padding="same", use_bias=False)(x)
        return layers.BatchNormalization(axis=-1)(residual)

    def max_pool(x, name):
        return layers.MaxPooling2D((3, 3), strides=(2, 2), padding="same", name=name)(x)

    # entry flow
    x = layers.Conv2D(32, (3, 3), strides=(2, 2), use_bias=False, name="block1_conv1")(img_input)
    x = layers.BatchNormalization(axis=-1, name="block1_conv1_bn")(x)
    x = layers.Activation("relu", name="block1_conv1_act")(x)
    x = layers.Conv2D(64, (3, 3), use_bias=False, name="block1_conv2")(x)
    x = layers.BatchNormalization(axis=-1, name="block1_conv2_bn")(x)
    x = layers.Activation("relu", name="block1_conv2_act")(x)

    residual = strided_residual(x, 128)
    x = sepconv_bn(x, 128, "block2_sepconv1")  # block 2 starts without a ReLU (x just had one)
    x = layers.Activation("relu", name="block2_sepconv2_act")(x)
    x = sepconv_bn(x, 128, "block2_sepconv2")
    x = layers.Add()([max_pool(x, "block2_pool"), residual])

    for block, filters in ((3, 256), (4, 728)):
        residual = strided_residual(x, filters)
        x = layers.Activation("relu", name=f"block{block}_sepconv1_act")(x)
        x = sepconv_bn(x, filters, f"block{block}_sepconv1")
        x = layers.Activation("relu", name=f"block{block}_sepconv2_act")(x)
        x = sepconv_bn(x, filters, f"block{block}_sepconv2")
        x = layers.Add()([max_pool(x, f"block{block}_pool"), residual])

    # middle flow: eight residual blocks of three ReLU-SeparableConv-BN at 728 channels
    for block in range(5, 13):
        residual = x
        for i in (1, 2, 3):
            x = layers.Activation("relu", name=f"block{block}_sepconv{i}_act")(x)
            x = sepconv_bn(x, 728, f"block{block}_sepconv{i}")
        x = layers.Add()([x, residual])

    # exit flow
    residual = strided_residual(x, 1024)
    x = layers.Activation("relu", name="block13_sepconv1_act")(x)
    x = sepconv_bn(x, 728, "block13_sepconv1")
    x = layers.Activation("relu", name="block13_sepconv2_act")(x)
    x = sepconv_bn(x, 1024, "block13_sepconv2")
    x = layers.Add()([max_pool(x, "block13_pool"), residual])
    x = sepconv_bn(x, 1536, "block14_sepconv1")
    x = layers.Activation("relu", name="block14_sepconv1_act")(x)
    x = sepconv_bn(x, 2048, "block14_sepconv2")
    x = layers.Activation("relu", name="block14_sepconv2_act")(x)

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
