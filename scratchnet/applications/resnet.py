"""ResNet50/101/152 (He et al., "Deep Residual Learning for Image Recognition", 2015) and the
shared builder of the V2 models (``resnet_v2.py``), layer for layer as ``keras.applications.resnet``.

A residual block adds its input (the *shortcut*) to what its convolutions compute, so each
block learns a correction to the identity. ResNet V1's "bottleneck" block is 1x1 (narrow) ->
3x3 -> 1x1 (4x wide) convolutions, each followed by BatchNormalization, with a ReLU after the
addition; the first block of each stage has a 1x1 convolution on the shortcut to change its
width (and stride). V2 (``residual_block_v2``) moves BatchNormalization and ReLU before each
convolution ("pre-activation") and adds with no activation after.
"""

from __future__ import annotations

from scratchnet.applications import _builder, imagenet_utils

_EPS = 1.001e-5  # Keras' BatchNormalization epsilon throughout ResNet


def ResNet(stack_fn, preact: bool, use_bias: bool, include_top: bool = True, weights="imagenet",  # noqa: N802
           input_tensor=None, input_shape=None, pooling=None, classes: int = 1000,
           classifier_activation="softmax", name: str = "resnet", weights_name: str | None = None):
    """The ResNet frame: a 7x7 stride-2 convolution, a 3x3 stride-2 max pool, the stages built by
    ``stack_fn(layers, x)``, then the top. ``preact`` (V2) puts the stem's BatchNormalization
    and ReLU after the stages instead ("post_bn")."""
    _builder.check_weights(weights, include_top, classes)
    input_shape = imagenet_utils.obtain_input_shape(input_shape, default_size=224, min_size=32,
                                                    data_format="channels_last",
                                                    require_flatten=include_top, weights=weights)
    if include_top:
        imagenet_utils.validate_activation(classifier_activation, weights)
    _builder.refuse_imagenet(weights, weights_name or name)
    layers = _builder.AutoNamedLayers()
    img_input = _builder.image_input(input_tensor, input_shape)

    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(img_input)
    x = layers.Conv2D(64, 7, strides=2, use_bias=use_bias, name="conv1_conv")(x)
    if not preact:
        x = layers.BatchNormalization(axis=3, epsilon=_EPS, name="conv1_bn")(x)
        x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    x = stack_fn(layers, x)
    if preact:
        x = layers.BatchNormalization(axis=3, epsilon=_EPS, name="post_bn")(x)
        x = layers.Activation("relu", name="post_relu")(x)

    if include_top:
        x = _builder.classifier(layers, x, classes, classifier_activation, weights, pool_name="avg_pool")
    else:
        x = _builder.pooled(layers, x, pooling, avg_name="avg_pool", max_name="max_pool")
    return _builder.finish(img_input, input_tensor, x, name, weights)


def residual_block_v1(layers, x, filters: int, kernel_size: int = 3, stride: int = 1,
                      conv_shortcut: bool = True, name: str | None = None):
    """``relu(shortcut + BN(conv1x1(relu(BN(conv3x3(relu(BN(conv1x1(x)))))))))``, 4*filters wide."""
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(x)
        shortcut = layers.BatchNormalization(axis=3, epsilon=_EPS, name=f"{name}_0_bn")(shortcut)
    else:
        shortcut = x
    x = layers.Conv2D(filters, 1, strides=stride, name=f"{name}_1_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=_EPS, name=f"{name}_1_bn")(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = layers.Conv2D(filters, kernel_size, padding="same", name=f"{name}_2_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=_EPS, name=f"{name}_2_bn")(x)
    x = layers.Activation("relu", name=f"{name}_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=_EPS, name=f"{name}_3_bn")(x)
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def stack_residual_blocks_v1(layers, x, filters: int, blocks: int, stride1: int = 2, name: str | None = None):
    """A V1 stage: a block with a convolution shortcut (and stride ``stride1``), then identity blocks."""
    x = residual_block_v1(layers, x, filters, stride=stride1, name=f"{name}_block1")
    for i in range(2, blocks + 1):
        x = residual_block_v1(layers, x, filters, conv_shortcut=False, name=f"{name}_block{i}")
    return x


def residual_block_v2(layers, x, filters: int, kernel_size: int = 3, stride: int = 1,
                      conv_shortcut: bool = False, name: str | None = None):
    """Pre-activation block: ``p = relu(BN(x))``, then ``shortcut + conv1x1(relu(BN(conv3x3(
    relu(BN(conv1x1(p)))))))``. The stride is on the 3x3 convolution; an identity shortcut that
    must shrink too is a 1x1 max pool with that stride (it picks every ``stride``-th pixel)."""
    preact = layers.BatchNormalization(axis=3, epsilon=_EPS, name=f"{name}_preact_bn")(x)
    preact = layers.Activation("relu", name=f"{name}_preact_relu")(preact)
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(preact)
    else:
        shortcut = layers.MaxPooling2D(1, strides=stride)(x) if stride > 1 else x
    x = layers.Conv2D(filters, 1, strides=1, use_bias=False, name=f"{name}_1_conv")(preact)
    x = layers.BatchNormalization(axis=3, epsilon=_EPS, name=f"{name}_1_bn")(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name=f"{name}_2_pad")(x)
    x = layers.Conv2D(filters, kernel_size, strides=stride, use_bias=False, name=f"{name}_2_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=_EPS, name=f"{name}_2_bn")(x)
    x = layers.Activation("relu", name=f"{name}_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    return layers.Add(name=f"{name}_out")([shortcut, x])


def stack_residual_blocks_v2(layers, x, filters: int, blocks: int, stride1: int = 2, name: str | None = None):
    """A V2 stage: the first block has the convolution shortcut, the LAST one the stride."""
    x = residual_block_v2(layers, x, filters, conv_shortcut=True, name=f"{name}_block1")
    for i in range(2, blocks):
        x = residual_block_v2(layers, x, filters, name=f"{name}_block{i}")
    return residual_block_v2(layers, x, filters, stride=stride1, name=f"{name}_block{blocks}")


def _v1_stages(blocks_per_stage):
    """stack_fn for ResNet V1 with ``blocks_per_stage`` blocks in conv2 .. conv5."""
    def stack_fn(layers, x):
        stages = zip((64, 128, 256, 512), blocks_per_stage, strict=True)
        for stage, (filters, blocks) in enumerate(stages, start=2):
            x = stack_residual_blocks_v1(layers, x, filters, blocks, stride1=1 if stage == 2 else 2,
                                         name=f"conv{stage}")
        return x
    return stack_fn


def ResNet50(include_top: bool = True, weights="imagenet", input_tensor=None, input_shape=None,  # noqa: N802
             pooling=None, classes: int = 1000, classifier_activation="softmax", name: str = "resnet50"):
    """ResNet50 (3, 4, 6, 3 blocks); inputs scaled by :func:`preprocess_input` ("caffe")."""
    return ResNet(_v1_stages((3, 4, 6, 3)), False, True, include_top, weights, input_tensor, input_shape,
                  pooling, classes, classifier_activation, name, weights_name="resnet50")


def ResNet101(include_top: bool = True, weights="imagenet", input_tensor=None, input_shape=None,  # noqa: N802
              pooling=None, classes: int = 1000, classifier_activation="softmax", name: str = "resnet101"):
    """ResNet101 (3, 4, 23, 3 blocks); inputs scaled by :func:`preprocess_input` ("caffe")."""
    return ResNet(_v1_stages((3, 4, 23, 3)), False, True, include_top, weights, input_tensor, input_shape,
                  pooling, classes, classifier_activation, name, weights_name="resnet101")


def ResNet152(include_top: bool = True, weights="imagenet", input_tensor=None, input_shape=None,  # noqa: N802
              pooling=None, classes: int = 1000, classifier_activation="softmax", name: str = "resnet152"):
    """ResNet152 (3, 8, 36, 3 blocks); inputs scaled by :func:`preprocess_input` ("caffe")."""
    return ResNet(_v1_stages((3, 8, 36, 3)), False, True, include_top, weights, input_tensor, input_shape,
                  pooling, classes, classifier_activation, name, weights_name="resnet152")


def preprocess_input(x, data_format=None):
    """RGB -> BGR, then the ImageNet mean pixel subtracted, no scaling (mode "caffe")."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


def decode_predictions(preds, top: int = 5):
    """The top ImageNet classes of each prediction (see ``imagenet_utils.decode_predictions``)."""
    return imagenet_utils.decode_predictions(preds, top=top)
