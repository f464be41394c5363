"""MobileNet (V1; Howard et al., "MobileNets: Efficient Convolutional Neural Networks for Mobile
Vision Applications", 2017), layer for layer as ``keras.applications.mobilenet`` builds it.

After one ordinary 3x3 convolution, every block is a *depthwise separable* convolution: a 3x3
depthwise convolution (each channel filtered on its own, ``depth_multiplier`` filters per
channel) then a 1x1 "pointwise" convolution that mixes the channels, each followed by
BatchNormalization and ``ReLU(6.0)``. A stride-2 block pads one row and column at the bottom and
right first (``conv_pad_<id>``). ``alpha`` scales every width. The classifier top is a 1x1
convolution on the pooled features (``conv_preds``), not a Dense layer.
"""

from __future__ import annotations

import numbers

from scratchnet.applications import _builder, imagenet_utils

# (pointwise filters, strides) of blocks 1 .. 13
_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1),
           (512, 1), (512, 1), (1024, 2), (1024, 1))
_SIZES = (128, 160, 192, 224)  # the input sizes ImageNet weights were published for


def MobileNet(input_shape=None, alpha: float = 1.0, depth_multiplier: int = 1, dropout: float = 1e-3,  # noqa: N802
              include_top: bool = True, weights="imagenet", input_tensor=None, pooling=None,
              classes: int = 1000, classifier_activation="softmax", name: str | None = None):
    """MobileNet as a functional model; inputs of at least 32x32 scaled by :func:`preprocess_input`
    (into ``[-1, 1]``). 4.3M parameters at ``alpha=1`` with the 1000-class top. The default name
    is ``mobilenet_<alpha>_<rows>``."""
    _builder.check_weights(weights, include_top, classes)
    if input_shape is None:
        default_size = 224
    else:
        rows, cols = input_shape[:2]
        default_size = rows if rows == cols and rows in _SIZES else 224
    input_shape = imagenet_utils.obtain_input_shape(input_shape, default_size=default_size, min_size=32,
                                                    data_format="channels_last",
                                                    require_flatten=include_top, weights=weights)
    rows = input_shape[0]
    if weights == "imagenet":
        if depth_multiplier != 1:
            raise ValueError("If imagenet weights are being loaded, depth multiplier must be 1.  "
                             f"Received depth_multiplier={depth_multiplier}")
        if alpha not in [0.25, 0.50, 0.75, 1.0]:
            raise ValueError("If imagenet weights are being loaded, alpha can be one of`0.25`, `0.50`, "
                             f"`0.75` or `1.0` only.  Received alpha={alpha}")
    if not isinstance(dropout, numbers.Real) or not 0 <= dropout < 1:
        raise ValueError(f"MobileNet: expected dropout to be a rate in [0, 1), received {dropout!r}")
    if include_top:
        imagenet_utils.validate_activation(classifier_activation, weights)
    _builder.refuse_imagenet(weights, "MobileNet")
    layers = _builder.AutoNamedLayers()
    img_input = _builder.image_input(input_tensor, input_shape)

    x = layers.Conv2D(int(32 * alpha), (3, 3), padding="same", use_bias=False, strides=(2, 2),
                      name="conv1")(img_input)
    x = layers.BatchNormalization(axis=-1, name="conv1_bn")(x)
    x = layers.ReLU(6.0, name="conv1_relu")(x)
    for block_id, (filters, stride) in enumerate(_BLOCKS, start=1):
        if stride == 2:
            x = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{block_id}")(x)
        x = layers.DepthwiseConv2D((3, 3), padding="same" if stride == 1 else "valid",
                                   depth_multiplier=depth_multiplier, strides=(stride, stride),
                                   use_bias=False, name=f"conv_dw_{block_id}")(x)
        x = layers.BatchNormalization(axis=-1, name=f"conv_dw_{block_id}_bn")(x)
        x = layers.ReLU(6.0, name=f"conv_dw_{block_id}_relu")(x)
        x = layers.Conv2D(int(filters * alpha), (1, 1), padding="same", use_bias=False, strides=(1, 1),
                          name=f"conv_pw_{block_id}")(x)
        x = layers.BatchNormalization(axis=-1, name=f"conv_pw_{block_id}_bn")(x)
        x = layers.ReLU(6.0, name=f"conv_pw_{block_id}_relu")(x)

    if include_top:
        # (N, 1, 1, C) -> 1x1 convolution = a Dense layer on the pooled features -> (N, classes)
        x = layers.GlobalAveragePooling2D(keepdims=True)(x)
        x = layers.Dropout(dropout, name="dropout")(x)
        x = layers.Conv2D(classes, (1, 1), padding="same", name="conv_preds")(x)
        x = layers.Reshape((classes,), name="reshape_2")(x)
        x = layers.Activation(classifier_activation, name="predictions")(x)
    else:
        x = _builder.pooled(layers, x, pooling)
    if name is None:
        name = f"mobilenet_{alpha:0.2f}_{rows}"
    return _builder.finish(img_input, input_tensor, x, name, weights)


def preprocess_input(x, data_format=None):
    """Pixels in ``[0, 255]`` into ``[-1, 1]``: ``x / 127.5 - 1`` (mode "tf")."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds, top: int = 5):
    """The top ImageNet classes of each prediction (see ``imagenet_utils.decode_predictions``)."""
    return imagenet_utils.decode_predictions(preds, top=top)
