"""EfficientNetV2 B0 .. B3, S, M, L (Tan and Le, "EfficientNetV2: Smaller Models and Faster
Training", 2021), layer for layer as ``keras.applications.efficientnet_v2`` builds them.

EfficientNet's MBConv blocks (1x1 expand, depthwise 3x3, squeeze-and-excitation, 1x1 project;
see ``efficientnet.py``) in the later stages, and *Fused-MBConv* blocks in the early ones: the
1x1 expansion and the depthwise convolution fused into one ordinary 3x3 convolution, which runs
faster on accelerators where channels are few. Blocks that keep their shape add their input
back after stochastic depth (``Dropout(rate, noise_shape=(None, 1, 1, 1))``).

Preprocessing is inside the model: the B variants take pixels in ``[0, 255]`` to ``[0, 1]`` and
normalise them with ImageNet's mean and variance; S, M and L map them to ``[-1, 1)``
(``x / 128 - 1``). :func:`preprocess_input` passes pixels through.
"""

from __future__ import annotations

import copy
import math

from scratchnet.applications import _builder, imagenet_utils
from scratchnet.applications.efficientnet import _conv_init, _dense_init

# Each variant's stages: (kernel_size, num_repeat, input_filters, output_filters, expand_ratio,
# se_ratio, strides, conv_type) with conv_type 1 = Fused-MBConv, 0 = MBConv.
_B = ((3, 1, 32, 16, 1, 0, 1, 1), (3, 2, 16, 32, 4, 0, 2, 1), (3, 2, 32, 48, 4, 0, 2, 1),
      (3, 3, 48, 96, 4, 0.25, 2, 0), (3, 5, 96, 112, 6, 0.25, 1, 0), (3, 8, 112, 192, 6, 0.25, 2, 0))
_STAGES = {
    "b0": _B, "b1": _B, "b2": _B, "b3": _B,
    "-s": ((3, 2, 24, 24, 1, 0, 1, 1), (3, 4, 24, 48, 4, 0, 2, 1), (3, 4, 48, 64, 4, 0, 2, 1),
           (3, 6, 64, 128, 4, 0.25, 2, 0), (3, 9, 128, 160, 6, 0.25, 1, 0), (3, 15, 160, 256, 6, 0.25, 2, 0)),
    "-m": ((3, 3, 24, 24, 1, 0, 1, 1), (3, 5, 24, 48, 4, 0, 2, 1), (3, 5, 48, 80, 4, 0, 2, 1),
           (3, 7, 80, 160, 4, 0.25, 2, 0), (3, 14, 160, 176, 6, 0.25, 1, 0), (3, 18, 176, 304, 6, 0.25, 2, 0),
           (3, 5, 304, 512, 6, 0.25, 1, 0)),
    "-l": ((3, 4, 32, 32, 1, 0, 1, 1), (3, 7, 32, 64, 4, 0, 2, 1), (3, 7, 64, 96, 4, 0, 2, 1),
           (3, 10, 96, 192, 4, 0.25, 2, 0), (3, 19, 192, 224, 6, 0.25, 1, 0),
           (3, 25, 224, 384, 6, 0.25, 2, 0), (3, 7, 384, 640, 6, 0.25, 1, 0)),
}
_KEYS = ("kernel_size", "num_repeat", "input_filters", "output_filters", "expand_ratio", "se_ratio",
         "strides", "conv_type")


def _model_name(variant: str) -> str:
    """Keras' default model name of a variant: "b0" -> "efficientnetv2-b0", "-s" -> "efficientnetv2-s"."""
    return f"efficientnetv2-{variant.lstrip('-')}"


DEFAULT_BLOCKS_ARGS = {_model_name(variant): [dict(zip(_KEYS, stage, strict=True)) for stage in stages]
                       for variant, stages in _STAGES.items()}


def round_filters(filters, width_coefficient, min_depth, depth_divisor) -> int:
    """``filters * width_coefficient`` to the nearest multiple of ``depth_divisor`` (at least
    ``min_depth``); unlike EfficientNet V1, never bumped up after rounding down."""
    filters *= width_coefficient
    minimum_depth = min_depth or depth_divisor
    return int(max(minimum_depth, int(filters + depth_divisor / 2) // depth_divisor * depth_divisor))


def round_repeats(repeats, depth_coefficient) -> int:
    return int(math.ceil(depth_coefficient * repeats))


def EfficientNetV2(width_coefficient: float, depth_coefficient: float, default_size: int,  # noqa: N802
                   dropout_rate: float = 0.2, drop_connect_rate: float = 0.2, depth_divisor: int = 8,
                   min_depth: int = 8, bn_momentum: float = 0.9, activation="swish", blocks_args="default",
                   name: str = "efficientnetv2", include_top: bool = True, weights="imagenet",
                   input_tensor=None, input_shape=None, pooling=None, classes: int = 1000,
                   classifier_activation="softmax", include_preprocessing: bool = True,
                   weights_name: str | None = None):
    """The EfficientNetV2 frame (``keras.applications.efficientnet_v2.EfficientNetV2``)."""
    if blocks_args == "default":
        # Keras looks the table up by the model's name (a custom name fails there with a KeyError);
        # scratchnet by the variant, so a renamed model builds
        blocks_args = DEFAULT_BLOCKS_ARGS[name if name in DEFAULT_BLOCKS_ARGS else _model_name(weights_name)]
    if not (weights in {"imagenet", None} or _builder.is_file(weights)):
        raise ValueError("The `weights` argument should be either `None` (random initialization), `imagenet` "
                         "(pre-training on ImageNet), or the path to the weights file to be loaded."
                         f"Received: weights={weights}")
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError('If using `weights="imagenet"` with `include_top` as true, `classes` should be 1000')
    input_shape = imagenet_utils.obtain_input_shape(input_shape, default_size=default_size, min_size=32,
                                                    data_format="channels_last",
                                                    require_flatten=include_top, weights=weights)
    for args in blocks_args:
        if args["num_repeat"] <= 0:
            raise ValueError(f"The number of repeats in `EfficientNetV2` must be > 0. Received: "
                             f"num_repeat={args['num_repeat']}")
    if include_top:
        imagenet_utils.validate_activation(classifier_activation, weights)
    _builder.refuse_imagenet(weights, name)
    layers = _builder.AutoNamedLayers()
    img_input = _builder.image_input(input_tensor, input_shape)

    def rounded(filters):
        return round_filters(filters, width_coefficient, min_depth, depth_divisor)

    def bn(name):
        return layers.BatchNormalization(axis=3, momentum=bn_momentum, name=name)

    def squeeze_excite(x, input_filters, filters, se_ratio, name):
        filters_se = max(1, int(input_filters * se_ratio))
        se = layers.GlobalAveragePooling2D(name=f"{name}se_squeeze")(x)  # (N, filters)
        se = layers.Reshape((1, 1, filters), name=f"{name}se_reshape")(se)  # (N, 1, 1, filters)
        se = layers.Conv2D(filters_se, 1, padding="same", activation=activation,
                           kernel_initializer=_conv_init(), name=f"{name}se_reduce")(se)
        se = layers.Conv2D(filters, 1, padding="same", activation="sigmoid",
                           kernel_initializer=_conv_init(), name=f"{name}se_expand")(se)
        return layers.Multiply(name=f"{name}se_excite")([x, se])

    def residual(x, inputs, input_filters, output_filters, strides, drop_rate, name):
        if strides == 1 and input_filters == output_filters:
            if drop_rate:  # (Keras calls this rate "survival_probability"; it is the drop rate)
                x = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}drop")(x)
            x = layers.Add(name=f"{name}add")([x, inputs])
        return x

    def mbconv(inputs, input_filters, output_filters, expand_ratio, kernel_size, strides, se_ratio, drop_rate,
               name):
        filters = input_filters * expand_ratio
        x = inputs
        if expand_ratio != 1:
            x = layers.Conv2D(filters, kernel_size=1, strides=1, kernel_initializer=_conv_init(),
                              padding="same", use_bias=False, name=f"{name}expand_conv")(x)
            x = bn(f"{name}expand_bn")(x)
            x = layers.Activation(activation, name=f"{name}expand_activation")(x)
        x = layers.DepthwiseConv2D(kernel_size=kernel_size, strides=strides,
                                   depthwise_initializer=_conv_init(), padding="same", use_bias=False,
                                   name=f"{name}dwconv2")(x)
        x = bn(f"{name}bn")(x)
        x = layers.Activation(activation, name=f"{name}activation")(x)
        if 0 < se_ratio <= 1:
            x = squeeze_excite(x, input_filters, filters, se_ratio, name)
        x = layers.Conv2D(output_filters, kernel_size=1, strides=1, kernel_initializer=_conv_init(),
                          padding="same", use_bias=False, name=f"{name}project_conv")(x)
        x = bn(f"{name}project_bn")(x)
        return residual(x, inputs, input_filters, output_filters, strides, drop_rate, name)

    def fused_mbconv(inputs, input_filters, output_filters, expand_ratio, kernel_size, strides, se_ratio,
                     drop_rate, name):
        filters = input_filters * expand_ratio
        x = inputs
        if expand_ratio != 1:  # expansion and spatial filtering in one kxk convolution
            x = layers.Conv2D(filters, kernel_size=kernel_size, strides=strides,
                              kernel_initializer=_conv_init(), padding="same", use_bias=False,
                              name=f"{name}expand_conv")(x)
            x = bn(f"{name}expand_bn")(x)
            x = layers.Activation(activation=activation, name=f"{name}expand_activation")(x)
        if 0 < se_ratio <= 1:
            x = squeeze_excite(x, input_filters, filters, se_ratio, name)
        x = layers.Conv2D(output_filters, kernel_size=1 if expand_ratio != 1 else kernel_size,
                          strides=1 if expand_ratio != 1 else strides, kernel_initializer=_conv_init(),
                          padding="same", use_bias=False, name=f"{name}project_conv")(x)
        x = bn(f"{name}project_bn")(x)
        if expand_ratio == 1:
            x = layers.Activation(activation=activation, name=f"{name}project_activation")(x)
        return residual(x, inputs, input_filters, output_filters, strides, drop_rate, name)

    x = img_input
    if include_preprocessing:
        # Keras decides by the model's NAME ("...-b0" and friends) and the channel count
        if name.split("-")[-1].startswith("b") and input_shape[2] == 3:
            x = layers.Rescaling(scale=1.0 / 255)(x)
            x = layers.Normalization(mean=[0.485, 0.456, 0.406], variance=[0.229**2, 0.224**2, 0.225**2],
                                     axis=3)(x)
        else:
            x = layers.Rescaling(scale=1.0 / 128.0, offset=-1)(x)
    x = layers.Conv2D(rounded(blocks_args[0]["input_filters"]), kernel_size=3, strides=2,
                      kernel_initializer=_conv_init(), padding="same", use_bias=False, name="stem_conv")(x)
    x = bn("stem_bn")(x)
    x = layers.Activation(activation, name="stem_activation")(x)

    blocks_args = copy.deepcopy(blocks_args)
    b = 0
    total = float(sum(args["num_repeat"] for args in blocks_args))  # (before rounding, as Keras)
    for i, args in enumerate(blocks_args):
        args["input_filters"] = rounded(args["input_filters"])
        args["output_filters"] = rounded(args["output_filters"])
        block = {0: mbconv, 1: fused_mbconv}[args.pop("conv_type")]
        for j in range(round_repeats(args.pop("num_repeat"), depth_coefficient)):
            if j > 0:
                args["strides"] = 1
                args["input_filters"] = args["output_filters"]
            x = block(x, drop_rate=drop_connect_rate * b / total, name=f"block{i + 1}{chr(j + 97)}_", **args)
            b += 1

    x = layers.Conv2D(rounded(1280), kernel_size=1, strides=1, kernel_initializer=_conv_init(),
                      padding="same", use_bias=False, name="top_conv")(x)
    x = bn("top_bn")(x)
    x = layers.Activation(activation=activation, name="top_activation")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout_rate > 0:
            x = layers.Dropout(dropout_rate, name="top_dropout")(x)
        x = layers.Dense(classes, activation=classifier_activation, kernel_initializer=_dense_init(),
                         bias_initializer="zeros", name="predictions")(x)
    else:
        x = _builder.pooled(layers, x, pooling, avg_name="avg_pool", max_name="max_pool")
    return _builder.finish(img_input, input_tensor, x, name, weights)


def _variant(width, depth, size, variant):
    default_name = _model_name(variant)

    def build(include_top: bool = True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
              classes: int = 1000, classifier_activation="softmax", include_preprocessing: bool = True,
              name: str = default_name):
        return EfficientNetV2(width_coefficient=width, depth_coefficient=depth, default_size=size, name=name,
                              include_top=include_top, weights=weights, input_tensor=input_tensor,
                              input_shape=input_shape, pooling=pooling, classes=classes,
                              classifier_activation=classifier_activation,
                              include_preprocessing=include_preprocessing, weights_name=variant)

    build.__name__ = build.__qualname__ = f"EfficientNetV2{variant.lstrip('-').upper()}"
    build.__doc__ = (f"{build.__name__}: width x{width}, depth x{depth}, default size {size}x{size}. Takes "
                     "pixels in [0, 255] (preprocessing is inside the model).")
    return build


EfficientNetV2B0 = _variant(1.0, 1.0, 224, "b0")
EfficientNetV2B1 = _variant(1.0, 1.1, 240, "b1")
EfficientNetV2B2 = _variant(1.1, 1.2, 260, "b2")
EfficientNetV2B3 = _variant(1.2, 1.4, 300, "b3")
EfficientNetV2S = _variant(1.0, 1.0, 384, "-s")
EfficientNetV2M = _variant(1.0, 1.0, 480, "-m")
EfficientNetV2L = _variant(1.0, 1.0, 480, "-l")


def preprocess_input(x, data_format=None):
    """A pass-through, as in Keras: EfficientNetV2's preprocessing is part of the model."""
    return x


def decode_predictions(preds, top: int = 5):
    """The top ImageNet classes of each prediction (see ``imagenet_utils.decode_predictions``)."""
    return imagenet_utils.decode_predictions(preds, top=top)
