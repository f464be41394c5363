"""NASNet-A Mobile and Large (Zoph et al., "Learning Transferable Architectures for Scalable
Image Recognition", 2018), layer for layer as ``keras.applications.nasnet`` builds them.

The cells were found by architecture search: a *normal* cell keeps the grid and a *reduction*
cell halves it. Each reads the two previous cells' outputs (``ip``, the last one, and ``p``, the
one before), combines them in five pairs of branches (separable convolutions, average and max
pools, identities) that are added, and concatenates the sums. ``_adjust_block`` brings ``p`` to
``ip``'s grid and width first (after a reduction, by two half-width 1x1 convolutions on the grid
sampled at even and at odd offsets).
"""

from __future__ import annotations

from scratchnet.applications import _builder, imagenet_utils

_BN = {"momentum": 0.9997, "epsilon": 1e-3}


def NASNet(
    input_shape=None,
    penultimate_filters: int = 4032,
    num_blocks: int = 6,  # noqa: N802
    stem_block_filters: int = 96,
    skip_reduction: bool = True,
    filter_multiplier: int = 2,
    include_top: bool = True,
    weights="imagenet",
    input_tensor=None,
    pooling=None,
    classes: int = 1000,
    default_size: int | None = None,
    classifier_activation="softmax",
    name: str = "NASNet",
):
    """The NASNet-A frame (``keras.applications.nasnet.NASNet``)."""
    if not (weights in {"imagenet", None} or _builder.is_file(weights)):
        raise ValueError(
            "The `weights` argument should be either `None` (random initialization), `imagenet` "
            "(pre-training on ImageNet), or the path to the weights file to be loaded."
        )
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError(
            'If using `weights` as `"imagenet"` with `include_top` as true, `classes` should be 1000'
        )
    if isinstance(input_shape, tuple) and None in input_shape and weights == "imagenet":
        raise ValueError(
            "When specifying the input shape of a NASNet and loading `ImageNet` weights, the "
            f"input_shape argument must be static (no None entries). Got: `input_shape={input_shape}`."
        )
    if default_size is None:
        default_size = 331
    input_shape = imagenet_utils.obtain_input_shape(
        input_shape,
        default_size=default_size,
        min_size=32,
        data_format="channels_last",
        require_flatten=include_top,
        weights=weights,
    )
    if penultimate_filters % (24 * (filter_multiplier**2)) != 0:
        raise ValueError(
            "For NASNet-A models, the `penultimate_filters` must be a multiple of 24 * "
            f"(`filter_multiplier` ** 2). Current value: {penultimate_filters}"
        )
    if include_top:
        imagenet_utils.validate_activation(classifier_activation, weights)
    _builder.refuse_imagenet(weights, name)
    layers = _builder.AutoNamedLayers()
    img_input = _builder.image_input(input_tensor, input_shape)

    def bn(name=None):
        return layers.BatchNormalization(axis=-1, name=name, **_BN)

    def separable_conv_block(ip, filters, kernel_size=(3, 3), strides=(1, 1), block_id=None):
        """ReLU, SeparableConv, BN, ReLU, SeparableConv, BN (the first one strided)."""
        x = layers.Activation("relu")(ip)
        if strides == (2, 2):
            x = layers.ZeroPadding2D(
                padding=imagenet_utils.correct_pad(x, kernel_size), name=f"separable_conv_1_pad_{block_id}"
            )(x)
        x = layers.SeparableConv2D(
            filters,
            kernel_size,
            strides=strides,
            name=f"separable_conv_1_{block_id}",
            padding="valid" if strides == (2, 2) else "same",
            use_bias=False,
        )(x)
        x = bn(f"separable_conv_1_bn_{block_id}")(x)
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(
            filters, kernel_size, name=f"separable_conv_2_{block_id}", padding="same", use_bias=False
        )(x)
        return bn(f"separable_conv_2_bn_{block_id}")(x)

    def adjust_block(p, ip, filters, block_id=None):
        """``p`` brought to ``ip``'s grid size (after a reduction) or to ``filters`` channels."""
        if p is None:
            return ip
        if p.shape[-2] != ip.shape[-2]:
            p = layers.Activation("relu", name=f"adjust_relu_1_{block_id}")(p)
            p1 = layers.AveragePooling2D(
                (1, 1), strides=(2, 2), padding="valid", name=f"adjust_avg_pool_1_{block_id}"
            )(p)  # the even cells
            p1 = layers.Conv2D(
                filters // 2,
                (1, 1),
                padding="same",
                use_bias=False,
                name=f"adjust_conv_1_{block_id}",
                kernel_initializer="he_normal",
            )(p1)
            p2 = layers.ZeroPadding2D(padding=((0, 1), (0, 1)))(p)
            p2 = layers.Cropping2D(cropping=((1, 0), (1, 0)))(p2)  # shifted by one: the odd cells
            p2 = layers.AveragePooling2D(
                (1, 1), strides=(2, 2), padding="valid", name=f"adjust_avg_pool_2_{block_id}"
            )(p2)
            p2 = layers.Conv2D(
                filters // 2,
                (1, 1),
                padding="same",
                use_bias=False,
                name=f"adjust_conv_2_{block_id}",
                kernel_initializer="he_normal",
            )(p2)
            p = layers.Concatenate(axis=-1)([p1, p2])
            return bn(f"adjust_bn_{block_id}")(p)
        if p.shape[-1] != filters:
            p = layers.Activation("relu")(p)
            p = layers.Conv2D(
                filters,
                (1, 1),
                strides=(1, 1),
                padding="same",
                name=f"adjust_conv_projection_{block_id}",
                use_bias=False,
                kernel_initializer="he_normal",
            )(p)
            return bn(f"adjust_bn_{block_id}")(p)
        return p

    def squeeze(ip, kind, filters, block_id):
        """ReLU and a 1x1 convolution to ``filters`` channels: the cell's own input ``h``."""
        h = layers.Activation("relu")(ip)
        h = layers.Conv2D(
            filters,
            (1, 1),
            strides=(1, 1),
            padding="same",
            name=f"{kind}_conv_1_{block_id}",
            use_bias=False,
            kernel_initializer="he_normal",
        )(h)
        return bn(f"{kind}_bn_1_{block_id}")(h)

    def avg_pool_3x3(x, strides, padding, name):
        return layers.AveragePooling2D((3, 3), strides=strides, padding=padding, name=name)(x)

    def normal_a_cell(ip, p, filters, block_id=None):
        p = adjust_block(p, ip, filters, block_id)
        h = squeeze(ip, "normal", filters, block_id)
        x1_1 = separable_conv_block(h, filters, kernel_size=(5, 5), block_id=f"normal_left1_{block_id}")
        x1_2 = separable_conv_block(p, filters, block_id=f"normal_right1_{block_id}")
        x1 = layers.Add(name=f"normal_add_1_{block_id}")([x1_1, x1_2])
        x2_1 = separable_conv_block(p, filters, (5, 5), block_id=f"normal_left2_{block_id}")
        x2_2 = separable_conv_block(p, filters, (3, 3), block_id=f"normal_right2_{block_id}")
        x2 = layers.Add(name=f"normal_add_2_{block_id}")([x2_1, x2_2])
        x3 = avg_pool_3x3(h, (1, 1), "same", f"normal_left3_{block_id}")
        x3 = layers.Add(name=f"normal_add_3_{block_id}")([x3, p])
        x4_1 = avg_pool_3x3(p, (1, 1), "same", f"normal_left4_{block_id}")
        x4_2 = avg_pool_3x3(p, (1, 1), "same", f"normal_right4_{block_id}")
        x4 = layers.Add(name=f"normal_add_4_{block_id}")([x4_1, x4_2])
        x5 = separable_conv_block(h, filters, block_id=f"normal_left5_{block_id}")
        x5 = layers.Add(name=f"normal_add_5_{block_id}")([x5, h])
        x = layers.Concatenate(axis=-1, name=f"normal_concat_{block_id}")([p, x1, x2, x3, x4, x5])
        return x, ip

    def reduction_a_cell(ip, p, filters, block_id=None):
        p = adjust_block(p, ip, filters, block_id)
        h = squeeze(ip, "reduction", filters, block_id)
        h3 = layers.ZeroPadding2D(
            padding=imagenet_utils.correct_pad(h, 3), name=f"reduction_pad_1_{block_id}"
        )(h)
        x1_1 = separable_conv_block(
            h, filters, (5, 5), strides=(2, 2), block_id=f"reduction_left1_{block_id}"
        )
        x1_2 = separable_conv_block(
            p, filters, (7, 7), strides=(2, 2), block_id=f"reduction_right1_{block_id}"
        )
        x1 = layers.Add(name=f"reduction_add_1_{block_id}")([x1_1, x1_2])
        x2_1 = layers.MaxPooling2D(
            (3, 3), strides=(2, 2), padding="valid", name=f"reduction_left2_{block_id}"
        )(h3)
        x2_2 = separable_conv_block(
            p, filters, (7, 7), strides=(2, 2), block_id=f"reduction_right2_{block_id}"
        )
        x2 = layers.Add(name=f"reduction_add_2_{block_id}")([x2_1, x2_2])
        x3_1 = avg_pool_3x3(h3, (2, 2), "valid", f"reduction_left3_{block_id}")
        x3_2 = separable_conv_block(
            p, filters, (5, 5), strides=(2, 2), block_id=f"reduction_right3_{block_id}"
        )
        x3 = layers.Add(name=f"reduction_add3_{block_id}")([x3_1, x3_2])
        x4 = avg_pool_3x3(x1, (1, 1), "same", f"reduction_left4_{block_id}")
        x4 = layers.Add()([x2, x4])
        x5_1 = separable_conv_block(x1, filters, (3, 3), block_id=f"reduction_left4_{block_id}")
        x5_2 = layers.MaxPooling2D(
            (3, 3), strides=(2, 2), padding="valid", name=f"reduction_right5_{block_id}"
        )(h3)
        x5 = layers.Add(name=f"reduction_add4_{block_id}")([x5_1, x5_2])
        x = layers.Concatenate(axis=-1, name=f"reduction_concat_{block_id}")([x2, x3, x4, x5])
        return x, ip

    filters = penultimate_filters // 24
    x = layers.Conv2D(
        stem_block_filters,
        (3, 3),
        strides=(2, 2),
        padding="valid",
        use_bias=False,
        name="stem_conv1",
        kernel_initializer="he_normal",
    )(img_input)
    x = bn("stem_bn1")(x)
    p = None
    x, p = reduction_a_cell(x, p, filters // (filter_multiplier**2), block_id="stem_1")
    x, p = reduction_a_cell(x, p, filters // filter_multiplier, block_id="stem_2")
    for stage in range(3):  # three stages of normal cells, a reduction cell between two
        width = filters * filter_multiplier**stage
        if stage:
            x, p0 = reduction_a_cell(x, p, width, block_id=f"reduce_{stage * num_blocks}")
            p = p if skip_reduction else p0
        for i in range(num_blocks):
            block_id = f"{i}" if stage == 0 else f"{stage * num_blocks + i + 1}"
            x, p = normal_a_cell(x, p, width, block_id=block_id)
    x = layers.Activation("relu")(x)

    if include_top:
        x = layers.GlobalAveragePooling2D()(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = _builder.pooled(layers, x, pooling)
    return _builder.finish(img_input, input_tensor, x, name, weights)


def NASNetMobile(
    input_shape=None,
    include_top: bool = True,
    weights="imagenet",
    input_tensor=None,  # noqa: N802
    pooling=None,
    classes: int = 1000,
    classifier_activation="softmax",
    name: str = "nasnet_mobile",
):
    """NASNet-A Mobile (4 @ 1056, default 224x224; 5.3M parameters with the top); inputs scaled by
    :func:`preprocess_input` (into ``[-1, 1]``)."""
    if not include_top and input_shape is None:
        input_shape = (224, 224, 3)
    return NASNet(
        input_shape,
        penultimate_filters=1056,
        num_blocks=4,
        stem_block_filters=32,
        skip_reduction=False,
        filter_multiplier=2,
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        pooling=pooling,
        classes=classes,
        default_size=224,
        classifier_activation=classifier_activation,
        name=name,
    )


def NASNetLarge(
    input_shape=None,
    include_top: bool = True,
    weights="imagenet",
    input_tensor=None,  # noqa: N802
    pooling=None,
    classes: int = 1000,
    classifier_activation="softmax",
    name: str = "nasnet_large",
):
    """NASNet-A Large (6 @ 4032, default 331x331; 88.9M parameters with the top); inputs scaled
    by :func:`preprocess_input` (into ``[-1, 1]``)."""
    return NASNet(
        input_shape,
        penultimate_filters=4032,
        num_blocks=6,
        stem_block_filters=96,
        skip_reduction=True,
        filter_multiplier=2,
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        pooling=pooling,
        classes=classes,
        default_size=331,
        classifier_activation=classifier_activation,
        name=name,
    )


def preprocess_input(x, data_format=None):
    """Pixels in ``[0, 255]`` into ``[-1, 1]``: ``x / 127.5 - 1`` (mode "tf")."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds, top: int = 5):
    """The top ImageNet classes of each prediction (see ``imagenet_utils.decode_predictions``)."""
    return imagenet_utils.decode_predictions(preds, top=top)
