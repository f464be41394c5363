"""Inception V3 (Szegedy et al., "Rethinking the Inception Architecture for Computer Vision",
2015), layer for layer as ``keras.applications.inception_v3`` builds it.

The network is a stem of plain convolutions, then "mixed" blocks: each runs a few branches side
by side on the same input (a 1x1 convolution; 1x1 then 5x5; 1x1 then two 3x3; an average pool
then 1x1; in the later blocks 7x7 and 3x3 convolutions factored into 1x7 then 7x1 and 1x3 / 3x1)
and concatenates their channels. Every convolution is ``conv2d_bn``: Conv2D without bias,
BatchNormalization without scale (gamma) and a ReLU. The blocks' outputs are the layers
"mixed0" ... "mixed10", the usual cut points for transfer learning (``get_layer("mixed7")``).
"""

from __future__ import annotations

from scratchnet.applications import _builder, imagenet_utils


def InceptionV3(include_top: bool = True, weights="imagenet", input_tensor=None, input_shape=None,  # noqa: N802
                pooling=None, classes: int = 1000, classifier_activation="softmax",
                name: str = "inception_v3"):
    """Inception V3 as a functional model; inputs of at least 75x75 scaled by
    :func:`preprocess_input` (into ``[-1, 1]``). Default size 299x299; 23.9M parameters with the
    1000-class top. ``weights``: ``None`` (Keras' random initialisation) or a weights file's path;
    ``"imagenet"`` would download and is refused."""
    _builder.check_weights(weights, include_top, classes)
    input_shape = imagenet_utils.obtain_input_shape(input_shape, default_size=299, min_size=75,
                                                    data_format="channels_last",
                                                    require_flatten=include_top, weights=weights)
    if include_top:
        imagenet_utils.validate_activation(classifier_activation, weights)
    _builder.refuse_imagenet(weights, "InceptionV3")
    layers = _builder.AutoNamedLayers()
    img_input = _builder.image_input(input_tensor, input_shape)

    def conv2d_bn(x, filters, rows, cols, padding="same", strides=(1, 1)):
        x = layers.Conv2D(filters, (rows, cols), strides=strides, padding=padding, use_bias=False)(x)
        x = layers.BatchNormalization(axis=3, scale=False)(x)
        return layers.Activation("relu")(x)

    def avg_pool_3x3(x):
        return layers.AveragePooling2D((3, 3), strides=(1, 1), padding="same")(x)

    # stem: 299 -> 149 -> 147 -> 147 -> 73 -> 73 -> 71 -> 35
    x = conv2d_bn(img_input, 32, 3, 3, strides=(2, 2), padding="valid")
    x = conv2d_bn(x, 32, 3, 3, padding="valid")
    x = conv2d_bn(x, 64, 3, 3)
    x = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
    x = conv2d_bn(x, 80, 1, 1, padding="valid")
    x = conv2d_bn(x, 192, 3, 3, padding="valid")
    x = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)

    # mixed0, 1, 2: 35 x 35 x 256, 288, 288
    for i, pool_filters in enumerate((32, 64, 64)):
        branch1x1 = conv2d_bn(x, 64, 1, 1)
        branch5x5 = conv2d_bn(x, 48, 1, 1)
        branch5x5 = conv2d_bn(branch5x5, 64, 5, 5)
        branch3x3dbl = conv2d_bn(x, 64, 1, 1)
        branch3x3dbl = conv2d_bn(branch3x3dbl, 96, 3, 3)
        branch3x3dbl = conv2d_bn(branch3x3dbl, 96, 3, 3)
        branch_pool = conv2d_bn(avg_pool_3x3(x), pool_filters, 1, 1)
        x = layers.Concatenate(axis=3, name=f"mixed{i}")([branch1x1, branch5x5, branch3x3dbl, branch_pool])

    # mixed3: 17 x 17 x 768 (the grid halves)
    branch3x3 = conv2d_bn(x, 384, 3, 3, strides=(2, 2), padding="valid")
    branch3x3dbl = conv2d_bn(x, 64, 1, 1)
    branch3x3dbl = conv2d_bn(branch3x3dbl, 96, 3, 3)
    branch3x3dbl = conv2d_bn(branch3x3dbl, 96, 3, 3, strides=(2, 2), padding="valid")
    branch_pool = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
    x = layers.Concatenate(axis=3, name="mixed3")([branch3x3, branch3x3dbl, branch_pool])

    # mixed4 .. mixed7: 17 x 17 x 768, 7x7 convolutions factored into 1x7 and 7x1
    for i, width in enumerate((128, 160, 160, 192)):
        branch1x1 = conv2d_bn(x, 192, 1, 1)
        branch7x7 = conv2d_bn(x, width, 1, 1)
        branch7x7 = conv2d_bn(branch7x7, width, 1, 7)
        branch7x7 = conv2d_bn(branch7x7, 192, 7, 1)
        branch7x7dbl = conv2d_bn(x, width, 1, 1)
        branch7x7dbl = conv2d_bn(branch7x7dbl, width, 7, 1)
        branch7x7dbl = conv2d_bn(branch7x7dbl, width, 1, 7)
        branch7x7dbl = conv2d_bn(branch7x7dbl, width, 7, 1)
        branch7x7dbl = conv2d_bn(branch7x7dbl, 192, 1, 7)
        branch_pool = conv2d_bn(avg_pool_3x3(x), 192, 1, 1)
        branches = [branch1x1, branch7x7, branch7x7dbl, branch_pool]
        x = layers.Concatenate(axis=3, name=f"mixed{4 + i}")(branches)

    # mixed8: 8 x 8 x 1280 (the grid halves again)
    branch3x3 = conv2d_bn(x, 192, 1, 1)
    branch3x3 = conv2d_bn(branch3x3, 320, 3, 3, strides=(2, 2), padding="valid")
    branch7x7x3 = conv2d_bn(x, 192, 1, 1)
    branch7x7x3 = conv2d_bn(branch7x7x3, 192, 1, 7)
    branch7x7x3 = conv2d_bn(branch7x7x3, 192, 7, 1)
    branch7x7x3 = conv2d_bn(branch7x7x3, 192, 3, 3, strides=(2, 2), padding="valid")
    branch_pool = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
    x = layers.Concatenate(axis=3, name="mixed8")([branch3x3, branch7x7x3, branch_pool])

    # mixed9, mixed10: 8 x 8 x 2048, 3x3 convolutions split into parallel 1x3 and 3x1
    for i in range(2):
        branch1x1 = conv2d_bn(x, 320, 1, 1)
        branch3x3 = conv2d_bn(x, 384, 1, 1)
        branch3x3_1 = conv2d_bn(branch3x3, 384, 1, 3)
        branch3x3_2 = conv2d_bn(branch3x3, 384, 3, 1)
        branch3x3 = layers.Concatenate(axis=3, name=f"mixed9_{i}")([branch3x3_1, branch3x3_2])
        branch3x3dbl = conv2d_bn(x, 448, 1, 1)
        branch3x3dbl = conv2d_bn(branch3x3dbl, 384, 3, 3)
        branch3x3dbl_1 = conv2d_bn(branch3x3dbl, 384, 1, 3)
        branch3x3dbl_2 = conv2d_bn(branch3x3dbl, 384, 3, 1)
        branch3x3dbl = layers.Concatenate(axis=3)([branch3x3dbl_1, branch3x3dbl_2])
        branch_pool = conv2d_bn(avg_pool_3x3(x), 192, 1, 1)
        branches = [branch1x1, branch3x3, branch3x3dbl, branch_pool]
        x = layers.Concatenate(axis=3, name=f"mixed{9 + i}")(branches)

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
