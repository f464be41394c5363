"""ConvNeXt Tiny, Small, Base, Large and XLarge (Liu et al., "A ConvNet for the 2020s", 2022),
layer for layer as ``keras.applications.convnext`` builds them.

A ResNet modernised step by step towards a vision transformer. A "patchify" stem (a 4x4
convolution with stride 4, then LayerNormalization) and three downsampling layers
(LayerNormalization, then a 2x2 convolution with stride 2) open four stages of ConvNeXt blocks.
Each block is::

    y = x + drop_path(gamma * Dense_2(gelu(Dense_1(LayerNorm(Conv7x7_depthwise(x))))))

a 7x7 convolution of each channel on its own (``Conv2D(groups=channels)``), LayerNormalization
over the channels, an inverted bottleneck of two Dense layers (4x wider in between, applied to
every pixel: a 1x1 convolution) with exact GELU, a learnt per-channel scale (:class:`LayerScale`,
``gamma`` starting at 1e-6 so each block starts close to the identity) and, in training, the
branch of each image dropped whole with a probability that grows linearly through the network
(:class:`StochasticDepth`; the published variants use rate 0, an identity ``Activation``).

As in Keras: the input is normalised inside the model (a ``Normalization`` layer with ImageNet's
mean and variance of pixels in ``[0, 255]``), so :func:`preprocess_input` passes through; the
residual ``inputs + layer(x)`` is an ``ops.add`` operation, not a layer
(:mod:`scratchnet.layers.operations`); the stem and the downsampling layers are ``Sequential``
models, each one entry of ``model.layers`` (:class:`scratchnet.applications._builder.Sequential`,
a layer made of the two layers), so the layers, the summary and the weights files are Keras'.
"""

from __future__ import annotations

import numbers

import numpy as np

from scratchnet import initializers, kernels
from scratchnet.applications import _builder, imagenet_utils
from scratchnet.layers.base import Layer

MODEL_CONFIGS = {
    "tiny": {"depths": [3, 3, 9, 3], "projection_dims": [96, 192, 384, 768], "default_size": 224},
    "small": {"depths": [3, 3, 27, 3], "projection_dims": [96, 192, 384, 768], "default_size": 224},
    "base": {"depths": [3, 3, 27, 3], "projection_dims": [128, 256, 512, 1024], "default_size": 224},
    "large": {"depths": [3, 3, 27, 3], "projection_dims": [192, 384, 768, 1536], "default_size": 224},
    "xlarge": {"depths": [3, 3, 27, 3], "projection_dims": [256, 512, 1024, 2048], "default_size": 224},
}
# ImageNet's per-channel mean and variance of pixels in [0, 255] (RGB), the prestem's Normalization
_MEAN = [0.485 * 255, 0.456 * 255, 0.406 * 255]
_VARIANCE = [(0.229 * 255) ** 2, (0.224 * 255) ** 2, (0.225 * 255) ** 2]


class StochasticDepth(Layer):
    """Drop a residual branch for whole images in training (Keras' layer of this name, in its
    convnext module; timm's ``DropPath``). With ``p = 1 - drop_path_rate`` and one draw
    ``u ~ U[0, 1)`` per image::

        y = x / p * floor(p + u)        (each image kept, scaled by 1/p, with probability p)

    At inference ``y = x``. Backward: ``dx = dy / p * floor(p + u)``, the same mask. Input and
    output shapes are equal, ``(N, ...)``. The draws come from the layer's own seeded generator
    (drawn from the model's seed), as scratchnet's Dropout: Keras' own random numbers differ."""

    keras_module = "keras.src.applications.convnext"  # where Keras' .keras files find it

    def __init__(self, drop_path_rate: float, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        if isinstance(drop_path_rate, bool) or not isinstance(drop_path_rate, numbers.Real) \
                or not 0 <= drop_path_rate < 1:
            raise ValueError(f'StochasticDepth "{self.name}": expected drop_path_rate to be a float in '
                             f"[0, 1), received {drop_path_rate!r}")
        self.drop_path_rate = drop_path_rate
        self.rng: np.random.Generator | None = None
        self.scaled_mask: np.ndarray | None = None

    def build(self, input_shape, rng):
        self.rng = self.random_generator(rng)
        return tuple(input_shape)

    def forward(self, x, training=False):
        if not training:
            self.scaled_mask = None
            return x
        keep_prob = x.dtype.type(1 - self.drop_path_rate)
        shape = (x.shape[0],) + (1,) * (x.ndim - 1)  # one draw per image
        kept = np.floor(keep_prob + self.rng.random(shape).astype(x.dtype))  # 1 with probability p
        kept = kernels.xp_of(x).asarray(kept)  # drawn on the host, as Dropout's: the same on any backend
        self.scaled_mask = kept / keep_prob  # (N, 1, ..., 1): 1/p or 0
        return x / keep_prob * kept

    def backward(self, dy):
        return dy if self.scaled_mask is None else dy * self.scaled_mask

    def get_config(self):
        return {**super().get_config(), "drop_path_rate": self.drop_path_rate}


class LayerScale(Layer):
    """``y = x * gamma``, a learnt scale per channel (Touvron et al., "Going deeper with Image
    Transformers", 2021; Keras' layer of this name, in its convnext module). ``gamma``
    ``(projection_dim,)`` starts at ``init_values`` (1e-6 in ConvNeXt: each residual branch starts
    nearly silent). Input and output ``(N, ..., projection_dim)``.

    Backward: ``dx = dy * gamma``, ``dgamma = sum over all axes but the last of dy * x``."""

    keras_module = "keras.src.applications.convnext"

    def __init__(self, init_values: float, projection_dim: int, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        if isinstance(init_values, bool) or not isinstance(init_values, numbers.Real):
            raise ValueError(f'LayerScale "{self.name}": expected init_values to be a number, '
                             f"received {init_values!r}")
        if isinstance(projection_dim, bool) or not isinstance(projection_dim, numbers.Integral) \
                or projection_dim <= 0:
            raise ValueError(f'LayerScale "{self.name}": expected projection_dim to be a positive int, '
                             f"received {projection_dim!r}")
        self.init_values = init_values
        self.projection_dim = int(projection_dim)

    def build(self, input_shape, rng):
        if input_shape[-1] != self.projection_dim:
            raise ValueError(f'LayerScale "{self.name}": expected inputs with projection_dim='
                             f"{self.projection_dim} channels (last axis), received shape "
                             f"{(None, *input_shape)}")
        # (Keras' add_weight without a name: "variable")
        self.gamma = self.add_weight("variable", (self.projection_dim,),
                                     initializers.Constant(self.init_values), rng)
        return tuple(input_shape)

    def forward(self, x, training=False):
        self.x = x  # (N, ..., projection_dim)
        return x * self.gamma.value

    def backward(self, dy):
        self.gamma.grad = (dy * self.x).reshape(-1, self.projection_dim).sum(axis=0)  # (projection_dim,)
        return dy * self.gamma.value

    def get_config(self):
        return {**super().get_config(), "init_values": self.init_values,
                "projection_dim": self.projection_dim}


def ConvNeXt(depths, projection_dims, drop_path_rate: float = 0.0,  # noqa: N802
             layer_scale_init_value: float | None = 1e-6, default_size: int = 224, name: str = "convnext",
             include_preprocessing: bool = True, include_top: bool = True, weights=None,
             input_tensor=None, input_shape=None, pooling=None, classes: int = 1000,
             classifier_activation="softmax", weights_name: str | None = None):
    """The ConvNeXt frame (``keras.applications.convnext.ConvNeXt``): ``depths`` blocks in each
    of the four stages, ``projection_dims`` their widths; ``drop_path_rate`` the stochastic depth
    of the last block (0 in the first, linear in between); ``layer_scale_init_value`` None: no
    LayerScale."""
    if not (weights in {"imagenet", None} or _builder.is_file(weights)):
        raise ValueError("The `weights` argument should be either `None` (random initialization), `imagenet` "
                         "(pre-training on ImageNet), or the path to the weights file to be loaded.")
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError('If using `weights="imagenet"` with `include_top=True`, `classes` should be 1000. '
                         f"Received classes={classes}")
    input_shape = imagenet_utils.obtain_input_shape(input_shape, default_size=default_size, min_size=32,
                                                    data_format="channels_last",
                                                    require_flatten=include_top, weights=weights)
    if include_top:
        imagenet_utils.validate_activation(classifier_activation, weights)
    _builder.refuse_imagenet(weights, name)
    Sequential = _builder.Sequential  # Keras' keras.Sequential, one layer of the model  # noqa: N806

    layers = _builder.AutoNamedLayers(StochasticDepth, LayerScale)
    img_input = _builder.image_input(input_tensor, input_shape)

    x = img_input
    if include_preprocessing and input_shape[2] == 3:  # ImageNet's statistics are for RGB
        x = layers.Normalization(mean=_MEAN, variance=_VARIANCE, name=f"{name}_prestem_normalization")(x)

    stem = Sequential([layers.Conv2D(projection_dims[0], kernel_size=4, strides=4, name=f"{name}_stem_conv"),
                       layers.LayerNormalization(epsilon=1e-6, name=f"{name}_stem_layernorm")],
                      name=f"{name}_stem")
    downsample_layers = [stem] + [
        Sequential([layers.LayerNormalization(epsilon=1e-6, name=f"{name}_downsampling_layernorm_{i}"),
                    layers.Conv2D(projection_dims[i + 1], kernel_size=2, strides=2,
                                  name=f"{name}_downsampling_conv_{i}")],
                   name=f"{name}_downsampling_block_{i}")
        for i in range(3)]

    def block(inputs, projection_dim, rate, prefix):
        x = layers.Conv2D(filters=projection_dim, kernel_size=7, padding="same", groups=projection_dim,
                          name=f"{prefix}_depthwise_conv")(inputs)
        x = layers.LayerNormalization(epsilon=1e-6, name=f"{prefix}_layernorm")(x)
        x = layers.Dense(4 * projection_dim, name=f"{prefix}_pointwise_conv_1")(x)  # (N, H, W, 4 * dim)
        x = layers.Activation("gelu", name=f"{prefix}_gelu")(x)
        x = layers.Dense(projection_dim, name=f"{prefix}_pointwise_conv_2")(x)  # (N, H, W, dim)
        if layer_scale_init_value is not None:
            x = layers.LayerScale(layer_scale_init_value, projection_dim, name=f"{prefix}_layer_scale")(x)
        if rate:
            x = layers.StochasticDepth(rate, name=f"{prefix}_stochastic_depth")(x)
        else:
            x = layers.Activation("linear", name=f"{prefix}_identity")(x)
        return layers.add(inputs, x)  # Keras' `inputs + layer(x)`: an operation, not a layer

    # stochastic depth: 0 for the first block, drop_path_rate for the last, linear in between
    depth_drop_rates = [float(r) for r in np.linspace(0.0, drop_path_rate, sum(depths))]
    cur = 0
    for i in range(4):
        x = downsample_layers[i](x)  # (one layer of the graph, made of two)
        for j in range(depths[i]):
            x = block(x, projection_dims[i], depth_drop_rates[cur + j], f"{name}_stage_{i}_block_{j}")
        cur += depths[i]

    if include_top:
        x = layers.GlobalAveragePooling2D(name=f"{name}_head_gap")(x)
        x = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_head_layernorm")(x)
        x = layers.Dense(classes, activation=classifier_activation, name=f"{name}_head_dense")(x)
    else:
        x = _builder.pooled(layers, x, pooling)
        x = layers.LayerNormalization(epsilon=1e-6)(x)
    return _builder.finish(img_input, input_tensor, x, name, weights)


def _variant(size: str, default_name: str):
    settings = MODEL_CONFIGS[size]

    def build(include_top: bool = True, include_preprocessing: bool = True, weights="imagenet",
              input_tensor=None, input_shape=None, pooling=None, classes: int = 1000,
              classifier_activation="softmax", name: str = default_name):
        return ConvNeXt(settings["depths"], settings["projection_dims"], drop_path_rate=0.0,
                        layer_scale_init_value=1e-6, default_size=settings["default_size"], name=name,
                        include_preprocessing=include_preprocessing, include_top=include_top, weights=weights,
                        input_tensor=input_tensor, input_shape=input_shape, pooling=pooling, classes=classes,
                        classifier_activation=classifier_activation, weights_name=default_name)

    build.__name__ = build.__qualname__ = f"ConvNeXt{size.capitalize() if size != 'xlarge' else 'XLarge'}"
    build.__doc__ = (f"{build.__name__}: depths {settings['depths']}, widths {settings['projection_dims']}, "
                     f"default size {settings['default_size']}x{settings['default_size']}. Takes pixels in "
                     "[0, 255] (the ImageNet normalisation is inside).")
    return build


ConvNeXtTiny = _variant("tiny", "convnext_tiny")
ConvNeXtSmall = _variant("small", "convnext_small")
ConvNeXtBase = _variant("base", "convnext_base")
ConvNeXtLarge = _variant("large", "convnext_large")
ConvNeXtXLarge = _variant("xlarge", "convnext_xlarge")


def preprocess_input(x, data_format=None):
    """A pass-through, as in Keras: ConvNeXt's preprocessing is part of the model."""
    return x


def decode_predictions(preds, top: int = 5):
    """The top ImageNet classes of each prediction (see ``imagenet_utils.decode_predictions``)."""
    return imagenet_utils.decode_predictions(preds, top=top)
