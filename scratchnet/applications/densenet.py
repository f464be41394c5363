"""DenseNet121/169/201 (Huang et al., "Densely Connected Convolutional Networks", 2017), layer for
layer as ``keras.applications.densenet`` builds them.

In a dense block every layer (``conv_block``: BN-ReLU-1x1 conv to 128 channels, BN-ReLU-3x3 conv
to 32, the "growth rate") reads the concatenation of ALL earlier feature maps of the block and
adds its 32 channels to it. Between blocks a transition (BN-ReLU-1x1 conv halving the channels,
2x2 average pool) shrinks the grid. The three models differ only in the number of layers per
block.
"""

from __future__ import annotations

from scratchnet.applications import _builder, imagenet_utils

_EPS = 1.001e-5


def DenseNet(blocks, include_top: bool = True, weights="imagenet", input_tensor=None,  # noqa: N802
             input_shape=None, pooling=None, classes: int = 1000, classifier_activation="softmax",
             name: str = "densenet"):
    """The DenseNet frame: ``blocks[i]`` conv blocks in dense block ``i`` (conv2 .. conv5)."""
    if not (weights in {"imagenet", None} or _builder.is_file(weights)):
        raise ValueError("The `weights` argument should be either `None` (random initialization), `imagenet` "
                         "(pre-training on ImageNet), or the path to the weights file to be loaded.")
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError('If using `weights` as `"imagenet"` with `include_top` as true, `classes` should be '
                         "1000")
    input_shape = imagenet_utils.obtain_input_shape(input_shape, default_size=224, min_size=32,
                                                    data_format="channels_last",
                                                    require_flatten=include_top, weights=weights)
    if include_top:
        imagenet_utils.validate_activation(classifier_activation, weights)
    _builder.refuse_imagenet(weights, name)
    layers = _builder.AutoNamedLayers()
    img_input = _builder.image_input(input_tensor, input_shape)

    def conv_block(x, growth_rate, name):
        x1 = layers.BatchNormalization(axis=3, epsilon=_EPS, name=f"{name}_0_bn")(x)
        x1 = layers.Activation("relu", name=f"{name}_0_relu")(x1)
        x1 = layers.Conv2D(4 * growth_rate, 1, use_bias=False, name=f"{name}_1_conv")(x1)
        x1 = layers.BatchNormalization(axis=3, epsilon=_EPS, name=f"{name}_1_bn")(x1)
        x1 = layers.Activation("relu", name=f"{name}_1_relu")(x1)
        x1 = layers.Conv2D(growth_rate, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(x1)
        return layers.Concatenate(axis=3, name=f"{name}_concat")([x, x1])

    def transition_block(x, reduction, name):
        x = layers.BatchNormalization(axis=3, epsilon=_EPS, name=f"{name}_bn")(x)
        x = layers.Activation("relu", name=f"{name}_relu")(x)
        x = layers.Conv2D(int(x.shape[3] * reduction), 1, use_bias=False, name=f"{name}_conv")(x)
        return layers.AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)

    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)))(img_input)
    x = layers.Conv2D(64, 7, strides=2, use_bias=False, name="conv1_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=_EPS, name="conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)))(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    for stage, n_blocks in enumerate(blocks, start=2):
        for i in range(n_blocks):
            x = conv_block(x, 32, name=f"conv{stage}_block{i + 1}")
        if stage < 5:
            x = transition_block(x, 0.5, name=f"pool{stage}")
    x = layers.BatchNormalization(axis=3, epsilon=_EPS, name="bn")(x)
    x = layers.Activation("relu", name="relu")(x)

    if include_top:
        x = _builder.classifier(layers, x, classes, classifier_activation, weights, pool_name="avg_pool")
    else:
        x = _builder.pooled(layers, x, pooling, avg_name="avg_pool", max_name="max_pool")
    return _builder.finish(img_input, input_tensor, x, name, weights)


def DenseNet121(include_top: bool = True, weights="imagenet", input_tensor=None, input_shape=None,  # noqa: N802
                pooling=None, classes: int = 1000, classifier_activation="softmax",
                name: str = "densenet121"):
    """DenseNet121 (6, 12, 24, 16 layers per block); inputs scaled by :func:`preprocess_input`."""
    return DenseNet([6, 12, 24, 16], include_top, weights, input_tensor, input_shape, pooling, classes,
                    classifier_activation, name=name)


def DenseNet169(include_top: bool = True, weights="imagenet", input_tensor=None, input_shape=None,  # noqa: N802
                pooling=None, classes: int = 1000, classifier_activation="softmax",
                name: str = "densenet169"):
    """DenseNet169 (6, 12, 32, 32 layers per block); inputs scaled by :func:`preprocess_input`."""
    return DenseNet([6, 12, 32, 32], include_top, weights, input_tensor, input_shape, pooling, classes,
                    classifier_activation, name=name)


def DenseNet201(include_top: bool = True, weights="imagenet", input_tensor=None, input_shape=None,  # noqa: N802
                pooling=None, classes: int = 1000, classifier_activation="softmax",
                name: str = "densenet201"):
    """DenseNet201 (6, 12, 48, 32 layers per block); inputs scaled by :func:`preprocess_input`."""
    return DenseNet([6, 12, 48, 32], include_top, weights, input_tensor, input_shape, pooling, classes,
                    classifier_activation, name=name)


def preprocess_input(x, data_format=None):
    """``(x / 255 - mean) / std`` per RGB channel with ImageNet's statistics (mode "torch")."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="torch")


def decode_predictions(preds, top: int = 5):
    """The top ImageNet classes of each prediction (see ``imagenet_utils.decode_predictions``)."""
    return imagenet_utils.decode_predictions(preds, top=top)
