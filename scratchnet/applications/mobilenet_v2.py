"""MobileNet V2 (Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", 2018),
layer for layer as ``keras.applications.mobilenet_v2`` builds it.

Each of the 17 blocks is an *inverted residual*: a 1x1 convolution widens the channels
(``expansion`` times, "expand"), a 3x3 depthwise convolution filters each channel on its own
("depthwise"), and a 1x1 convolution narrows them again ("project") with no activation after it
(the "linear bottleneck"). When the block keeps the shape, its input is added to its output.
Activations are ``ReLU(6.0)``. ``alpha`` scales every block's width (rounded to a multiple of 8
by :func:`_make_divisible`).
"""

from __future__ import annotations

from scratchnet.applications import _builder, imagenet_utils
from scratchnet.layers.input_layer import KerasTensor

# (filters, stride, expansion) of blocks 0 .. 16
_BLOCKS = ((16, 1, 1), (24, 2, 6), (24, 1, 6), (32, 2, 6), (32, 1, 6), (32, 1, 6), (64, 2, 6), (64, 1, 6),
           (64, 1, 6), (64, 1, 6), (96, 1, 6), (96, 1, 6), (96, 1, 6), (160, 2, 6), (160, 1, 6),
           (160, 1, 6), (320, 1, 6))
_SIZES = (96, 128, 160, 192, 224)  # the input sizes ImageNet weights were published for


def MobileNetV2(input_shape=None, alpha: float = 1.0, include_top: bool = True,  # noqa: N802
                weights="imagenet", input_tensor=None, pooling=None, classes: int = 1000,
                classifier_activation="softmax", name: str | None = None):
    """MobileNet V2 as a functional model; inputs of at least 32x32 scaled by
    :func:`preprocess_input` (into ``[-1, 1]``). ``alpha`` multiplies the widths (3.5M parameters
    at 1.0 with the 1000-class top). The default name is ``mobilenetv2_<alpha>_<rows>``."""
    _builder.check_weights(weights, include_top, classes)
    if input_tensor is not None and not isinstance(input_tensor, KerasTensor):
        raise ValueError(f"input_tensor is not a Keras tensor; Received `input_tensor={input_tensor}`")
    if input_shape is not None and input_tensor is not None and input_tensor.shape[2] != input_shape[1]:
        raise ValueError("input_tensor.shape[2] must equal input_shape[1]; Received "
                         f"`input_tensor.shape={input_tensor.shape}`, `input_shape={input_shape}`")
    # the default size: the given square size when it is one the weights were published for
    if input_shape is None and input_tensor is not None:
        rows, cols = input_tensor.shape[1:3]
    elif input_shape is not None:
        rows, cols = input_shape[:2]
    else:
        rows = cols = None
    default_size = rows if rows == cols and rows in _SIZES else 224
    input_shape = imagenet_utils.obtain_input_shape(input_shape, default_size=default_size, min_size=32,
                                                    data_format="channels_last",
                                                    require_flatten=include_top, weights=weights)
    rows = input_shape[0]
    if weights == "imagenet" and alpha not in [0.35, 0.50, 0.75, 1.0, 1.3, 1.4]:
        raise ValueError("If imagenet weights are being loaded, alpha must be one of `0.35`, `0.50`, `0.75`, "
                         f"`1.0`, `1.3` or `1.4` only; Received `alpha={alpha}`")
    if include_top:
        imagenet_utils.validate_activation(classifier_activation, weights)
    _builder.refuse_imagenet(weights, "MobileNetV2")
    layers = _builder.AutoNamedLayers()
    img_input = _builder.image_input(input_tensor, input_shape)

    def bn(name):
        return layers.BatchNormalization(axis=-1, epsilon=1e-3, momentum=0.999, name=name)

    def inverted_res_block(inputs, filters, stride, expansion, block_id):
        in_channels = inputs.shape[-1]
        pointwise_filters = _make_divisible(int(filters * alpha), 8)
        x = inputs
        prefix = f"block_{block_id}_"
        if block_id:  # block 0 has no expansion (expansion 1) and its own prefix
            x = layers.Conv2D(expansion * in_channels, kernel_size=1, padding="same", use_bias=False,
                              activation=None, name=f"{prefix}expand")(x)
            x = bn(f"{prefix}expand_BN")(x)
            x = layers.ReLU(6.0, name=f"{prefix}expand_relu")(x)
        else:
            prefix = "expanded_conv_"
        if stride == 2:
            x = layers.ZeroPadding2D(padding=imagenet_utils.correct_pad(x, 3), name=f"{prefix}pad")(x)
        x = layers.DepthwiseConv2D(kernel_size=3, strides=stride, activation=None, use_bias=False,
                                   padding="same" if stride == 1 else "valid", name=f"{prefix}depthwise")(x)
        x = bn(f"{prefix}depthwise_BN")(x)
        x = layers.ReLU(6.0, name=f"{prefix}depthwise_relu")(x)
        x = layers.Conv2D(pointwise_filters, kernel_size=1, padding="same", use_bias=False, activation=None,
                          name=f"{prefix}project")(x)
        x = bn(f"{prefix}project_BN")(x)  # linear bottleneck: no activation
        if in_channels == pointwise_filters and stride == 1:
            return layers.Add(name=f"{prefix}add")([inputs, x])
        return x

    x = layers.Conv2D(_make_divisible(32 * alpha, 8), kernel_size=3, strides=(2, 2), padding="same",
                      use_bias=False, name="Conv1")(img_input)
    x = bn("bn_Conv1")(x)
    x = layers.ReLU(6.0, name="Conv1_relu")(x)
    for block_id, (filters, stride, expansion) in enumerate(_BLOCKS):
        x = inverted_res_block(x, filters, stride, expansion, block_id)
    # the last 1x1 convolution widens with alpha only above 1
    last_block_filters = _make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
    x = layers.Conv2D(last_block_filters, kernel_size=1, use_bias=False, name="Conv_1")(x)
    x = bn("Conv_1_bn")(x)
    x = layers.ReLU(6.0, name="out_relu")(x)

    if include_top:
        x = _builder.classifier(layers, x, classes, classifier_activation, weights)
    else:
        x = _builder.pooled(layers, x, pooling)
    if name is None:
        name = f"mobilenetv2_{alpha:0.2f}_{rows}"
    return _builder.finish(img_input, input_tensor, x, name, weights)


def _make_divisible(v, divisor: int, min_value: int | None = None) -> int:
    """``v`` rounded to the nearest multiple of ``divisor`` (at least ``min_value``), one step
    up when rounding lost more than 10%."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def preprocess_input(x, data_format=None):
    """Pixels in ``[0, 255]`` into ``[-1, 1]``: ``x / 127.5 - 1`` (mode "tf")."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds, top: int = 5):
    """The top ImageNet classes of each prediction (see ``imagenet_utils.decode_predictions``)."""
    return imagenet_utils.decode_predictions(preds, top=top)
