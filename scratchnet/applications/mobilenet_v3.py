"""MobileNet V3 Small and Large (Howard et al., "Searching for MobileNetV3", 2019), layer for layer
as ``keras.applications.mobilenet_v3`` builds them.

MobileNetV2's inverted residual blocks (1x1 expand, depthwise kxk, 1x1 linear project, the input
added back when the shape is kept), with three changes found by architecture search:

- *hard swish* ``x * relu6(x + 3) / 6`` replaces ReLU6 in the later blocks (plain ``ReLU`` in
  the early ones): swish's shape at the cost of a clip;
- a *squeeze-and-excitation* step in some blocks: the feature maps averaged to one vector per
  image (``GlobalAveragePooling2D(keepdims=True)``), a 1x1 convolution down to a quarter, ReLU, a
  1x1 convolution back, and a *hard sigmoid* ``relu6(x + 3) / 6`` gives each channel a weight;
- a lighter head: the pooled features go through a 1x1 convolution ("conv_2") and the classifier
  is a 1x1 convolution ("logits") flattened, so any image size of at least 32x32 works.

Keras writes the hard sigmoid as tensor arithmetic, ``ReLU(6.0)(x + 3.0) * (1.0 / 6.0)``: the
``+`` and ``*`` are ``ops.add`` / ``ops.multiply`` *operations* of the graph, not layers
(:mod:`scratchnet.layers.operations`), so ``model.layers`` is Keras' list. ``minimalistic=True``
drops squeeze-and-excitation, hard swish and the 5x5 kernels. ``alpha`` scales every width
(rounded to a multiple of 8 by :func:`_depth`).

Preprocessing is inside the model (``Rescaling(1/127.5, offset=-1)``, pixels in ``[0, 255]`` to
``[-1, 1]``) unless ``include_preprocessing=False``; :func:`preprocess_input` passes through.
"""

from __future__ import annotations

from scratchnet.applications import _builder, imagenet_utils
from scratchnet.layers.input_layer import KerasTensor

# (expansion, filters, kernel ("k": the model's 5, or 3 if minimalistic), stride, squeeze-and-
# excitation, activation ("relu" or "act": hard swish, or ReLU if minimalistic)) of each block
_SMALL = ((1, 16, 3, 2, True, "relu"), (72.0 / 16, 24, 3, 2, False, "relu"),
          (88.0 / 24, 24, 3, 1, False, "relu"), (4, 40, "k", 2, True, "act"), (6, 40, "k", 1, True, "act"),
          (6, 40, "k", 1, True, "act"), (3, 48, "k", 1, True, "act"), (3, 48, "k", 1, True, "act"),
          (6, 96, "k", 2, True, "act"), (6, 96, "k", 1, True, "act"), (6, 96, "k", 1, True, "act"))
_LARGE = ((1, 16, 3, 1, False, "relu"), (4, 24, 3, 2, False, "relu"), (3, 24, 3, 1, False, "relu"),
          (3, 40, "k", 2, True, "relu"), (3, 40, "k", 1, True, "relu"), (3, 40, "k", 1, True, "relu"),
          (6, 80, 3, 2, False, "act"), (2.5, 80, 3, 1, False, "act"), (2.3, 80, 3, 1, False, "act"),
          (2.3, 80, 3, 1, False, "act"), (6, 112, 3, 1, True, "act"), (6, 112, 3, 1, True, "act"),
          (6, 160, "k", 2, True, "act"), (6, 160, "k", 1, True, "act"), (6, 160, "k", 1, True, "act"))


def MobileNetV3(blocks, last_point_ch: int, input_shape=None, alpha: float = 1.0,  # noqa: N802
                model_type: str = "large", minimalistic: bool = False, include_top: bool = True,
                weights="imagenet", input_tensor=None, classes: int = 1000, pooling=None,
                dropout_rate: float = 0.2, classifier_activation="softmax",
                include_preprocessing: bool = True, name: str | None = None):
    """The MobileNetV3 frame (``keras.applications.mobilenet_v3.MobileNetV3``): ``blocks`` as in
    ``_SMALL``, ``last_point_ch`` the width of "conv_2"."""
    if not (weights in {"imagenet", None} or _builder.is_file(weights)):
        raise ValueError("The `weights` argument should be either `None` (random initialization), `imagenet` "
                         "(pre-training on ImageNet), or the path to the weights file to be loaded.  "
                         f"Received weights={weights}")
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError('If using `weights="imagenet"` with `include_top` as true, `classes` should be '
                         f"1000.  Received classes={classes}")
    if input_tensor is not None and not isinstance(input_tensor, KerasTensor):
        raise ValueError(f"input_tensor is not a Keras tensor; Received `input_tensor={input_tensor}`")
    if input_shape is not None and input_tensor is not None and input_tensor.shape[2] != input_shape[1]:
        raise ValueError("input_shape[1] must equal input_tensor.shape[2].  Received "
                         f"input_shape={input_shape}, input_tensor.shape={input_tensor.shape}")
    if input_shape is None and input_tensor is not None:
        rows, cols = input_tensor.shape[1:3]
        input_shape = (cols, rows, 3)  # (sic: Keras' order)
    if input_shape is None:
        input_shape = (None, None, 3)  # any size: the head pools before its 1x1 convolutions
    rows, cols = input_shape[:2]
    if rows and cols and (rows < 32 or cols < 32):
        raise ValueError(f"Input size must be at least 32x32; Received `input_shape={input_shape}`")
    published = [1.0] if minimalistic else [0.75, 1.0]  # the alphas ImageNet weights exist for
    if weights == "imagenet" and alpha not in published:
        raise ValueError("If imagenet weights are being loaded, alpha can be one of `0.75`, `1.0` for non "
                         "minimalistic or `1.0` for minimalistic only.")
    if include_top:
        imagenet_utils.validate_activation(classifier_activation, weights)
    _builder.refuse_imagenet(weights, "MobileNetV3Small" if model_type == "small" else "MobileNetV3Large")
    layers = _builder.AutoNamedLayers()
    img_input = _builder.image_input(input_tensor, input_shape)

    def relu(x):
        return layers.ReLU()(x)

    def hard_swish(x):
        return layers.Activation("hard_swish")(x)

    def hard_sigmoid(x):
        """``relu6(x + 3) / 6``, written as Keras writes it: two operations around a ReLU layer."""
        return layers.multiply(layers.ReLU(6.0)(layers.add(x, 3.0)), 1.0 / 6.0)

    def bn(name):
        return layers.BatchNormalization(axis=-1, epsilon=1e-3, momentum=0.999, name=name)

    kernel, activation, se_ratio = (3, relu, None) if minimalistic else (5, hard_swish, 0.25)

    def se_block(inputs, filters, prefix):
        """Squeeze and excitation: one weight in [0, 1] per channel, from the pooled maps."""
        x = layers.GlobalAveragePooling2D(keepdims=True, name=f"{prefix}squeeze_excite_avg_pool")(inputs)
        x = layers.Conv2D(_depth(filters * se_ratio), kernel_size=1, padding="same",
                          name=f"{prefix}squeeze_excite_conv")(x)  # (N, 1, 1, filters / 4)
        x = layers.ReLU(name=f"{prefix}squeeze_excite_relu")(x)
        x = layers.Conv2D(filters, kernel_size=1, padding="same", name=f"{prefix}squeeze_excite_conv_1")(x)
        x = hard_sigmoid(x)  # (N, 1, 1, filters)
        return layers.Multiply(name=f"{prefix}squeeze_excite_mul")([inputs, x])

    def inverted_res_block(x, expansion, filters, kernel_size, stride, use_se, block_activation, block_id):
        shortcut = x
        prefix = "expanded_conv_"
        infilters = x.shape[-1]
        if block_id:  # block 0 has no expansion and the bare prefix
            prefix = f"expanded_conv_{block_id}_"
            x = layers.Conv2D(_depth(infilters * expansion), kernel_size=1, padding="same", use_bias=False,
                              name=f"{prefix}expand")(x)
            x = bn(f"{prefix}expand_bn")(x)
            x = block_activation(x)
        if stride == 2:
            x = layers.ZeroPadding2D(padding=imagenet_utils.correct_pad(x, kernel_size),
                                     name=f"{prefix}depthwise_pad")(x)
        x = layers.DepthwiseConv2D(kernel_size, strides=stride, padding="same" if stride == 1 else "valid",
                                   use_bias=False, name=f"{prefix}depthwise")(x)
        x = bn(f"{prefix}depthwise_bn")(x)
        x = block_activation(x)
        if use_se and se_ratio:
            x = se_block(x, _depth(infilters * expansion), prefix)
        x = layers.Conv2D(filters, kernel_size=1, padding="same", use_bias=False, name=f"{prefix}project")(x)
        x = bn(f"{prefix}project_bn")(x)  # linear bottleneck: no activation
        if stride == 1 and infilters == filters:
            x = layers.Add(name=f"{prefix}add")([shortcut, x])
        return x

    x = img_input
    if include_preprocessing:
        x = layers.Rescaling(scale=1.0 / 127.5, offset=-1.0)(x)
    x = layers.Conv2D(16, kernel_size=3, strides=(2, 2), padding="same", use_bias=False, name="conv")(x)
    x = bn("conv_bn")(x)
    x = activation(x)
    for block_id, (expansion, filters, size, stride, use_se, act) in enumerate(blocks):
        x = inverted_res_block(x, expansion, _depth(filters * alpha), kernel if size == "k" else size, stride,
                               use_se, activation if act == "act" else relu, block_id)

    last_conv_ch = _depth(x.shape[-1] * 6)
    if alpha > 1.0:  # wider than the paper: the head widens too
        last_point_ch = _depth(last_point_ch * alpha)
    x = layers.Conv2D(last_conv_ch, kernel_size=1, padding="same", use_bias=False, name="conv_1")(x)
    x = bn("conv_1_bn")(x)
    x = activation(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(keepdims=True)(x)  # (N, 1, 1, last_conv_ch)
        x = layers.Conv2D(last_point_ch, kernel_size=1, padding="same", use_bias=True, name="conv_2")(x)
        x = activation(x)
        if dropout_rate > 0:
            x = layers.Dropout(dropout_rate)(x)
        x = layers.Conv2D(classes, kernel_size=1, padding="same", name="logits")(x)  # (N, 1, 1, classes)
        x = layers.Flatten()(x)  # (N, classes)
        x = layers.Activation(activation=classifier_activation, name="predictions")(x)
    else:
        x = _builder.pooled(layers, x, pooling, avg_name="avg_pool", max_name="max_pool")
    return _builder.finish(img_input, input_tensor, x, name, weights)


def _variant(blocks, last_point_ch: int, model_type: str, default_name: str):
    def build(input_shape=None, alpha: float = 1.0, minimalistic: bool = False, include_top: bool = True,
              weights="imagenet", input_tensor=None, classes: int = 1000, pooling=None,
              dropout_rate: float = 0.2, classifier_activation="softmax", include_preprocessing: bool = True,
              name: str = default_name):
        return MobileNetV3(blocks, last_point_ch, input_shape, alpha, model_type, minimalistic, include_top,
                           weights, input_tensor, classes, pooling, dropout_rate, classifier_activation,
                           include_preprocessing, name=name)

    build.__name__ = build.__qualname__ = default_name
    build.__doc__ = (f"{default_name} as a functional model: {len(blocks)} inverted residual blocks, any "
                     "image size of at least 32x32 (224x224 by default for the published weights). Takes "
                     "pixels in [0, 255] (preprocessing is inside unless include_preprocessing=False, "
                     "then [-1, 1]).")
    return build


MobileNetV3Small = _variant(_SMALL, 1024, "small", "MobileNetV3Small")
MobileNetV3Large = _variant(_LARGE, 1280, "large", "MobileNetV3Large")


def _depth(v, divisor: int = 8, min_value: int | None = None) -> int:
    """``v`` rounded to the nearest multiple of ``divisor`` (at least ``min_value``), one step
    up when rounding lost more than 10%."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def preprocess_input(x, data_format=None):
    """A pass-through, as in Keras: MobileNetV3's preprocessing is part of the model."""
    return x


def decode_predictions(preds, top: int = 5):
    """The top ImageNet classes of each prediction (see ``imagenet_utils.decode_predictions``)."""
    return imagenet_utils.decode_predictions(preds, top=top)
