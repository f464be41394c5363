"""Layers with Keras' names, arguments, defaults and weight layouts."""

from scratchnet.layers.adaptive_pooling import (
    AdaptiveAveragePooling1D,
    AdaptiveAveragePooling2D,
    AdaptiveAveragePooling3D,
    AdaptiveMaxPooling1D,
    AdaptiveMaxPooling2D,
    AdaptiveMaxPooling3D,
)
from scratchnet.layers.attention import GroupedQueryAttention as GroupQueryAttention
from scratchnet.layers.attention import MultiHeadAttention
from scratchnet.layers.audio import MelSpectrogram, STFTSpectrogram
from scratchnet.layers.augmentation import (
    RandomBrightness,
    RandomContrast,
    RandomCrop,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
)
from scratchnet.layers.augmentation_color import (
    AutoContrast,
    RandomColorDegeneration,
    RandomColorJitter,
    RandomGrayscale,
    RandomHue,
    RandomInvert,
    RandomPosterization,
    RandomSaturation,
    RandomSharpness,
    Solarization,
)
from scratchnet.layers.augmentation_mix import CutMix, MixUp, RandomErasing
from scratchnet.layers.augmentation_more import (
    ContrastLimitedAdaptiveHistogramEqualization,
    Equalization,
    RandomElasticTransform,
    RandomGaussianBlur,
    RandomPerspective,
    RandomShear,
)
from scratchnet.layers.augmentation_policies import AugMix, RandAugment
from scratchnet.layers.base import ActivatedLayer, Layer, Parameter
from scratchnet.layers.bounding_boxes import MaxNumBoundingBoxes
from scratchnet.layers.conv import (
    Conv1D,
    Conv1DTranspose,
    Conv2D,
    Conv2DTranspose,
    Conv3D,
    Conv3DTranspose,
)
from scratchnet.layers.conv_lstm import ConvLSTM1D, ConvLSTM2D, ConvLSTM3D
from scratchnet.layers.core import (
    ELU,
    Activation,
    Dense,
    Dropout,
    Flatten,
    Identity,
    Input,
    LeakyReLU,
    PReLU,
    ReLU,
    Reshape,
    Softmax,
)
from scratchnet.layers.depthwise import (
    DepthwiseConv1D,
    DepthwiseConv2D,
    SeparableConv1D,
    SeparableConv2D,
)
from scratchnet.layers.einsum_dense import EinsumDense
from scratchnet.layers.embedding import Embedding, ReversibleEmbedding
from scratchnet.layers.global_pooling import (
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalAveragePooling3D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    GlobalMaxPooling3D,
)
from scratchnet.layers.image_preprocessing import CenterCrop, Rescaling, Resizing
from scratchnet.layers.input_layer import InputLayer
from scratchnet.layers.input_spec import InputSpec
from scratchnet.layers.lambda_layer import Lambda
from scratchnet.layers.masking import Masking
from scratchnet.layers.merging import (
    Add,
    Average,
    Concatenate,
    Dot,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    dot,
    maximum,
    minimum,
    multiply,
    subtract,
)
from scratchnet.layers.normalization import (
    BatchNormalization,
    GroupNormalization,
    LayerNormalization,
    RMSNormalization,
    UnitNormalization,
)
from scratchnet.layers.pipeline import Pipeline
from scratchnet.layers.pooling import (
    AveragePooling1D,
    AveragePooling2D,
    AveragePooling3D,
    MaxPooling1D,
    MaxPooling2D,
    MaxPooling3D,
)
from scratchnet.layers.preprocessing import CategoryEncoding, IntegerLookup, StringLookup
from scratchnet.layers.recurrent import GRU, LSTM, Bidirectional, SimpleRNN
from scratchnet.layers.regularization import (
    ActivityRegularization,
    AlphaDropout,
    GaussianDropout,
    GaussianNoise,
    SpatialDropout1D,
    SpatialDropout2D,
    SpatialDropout3D,
)
from scratchnet.layers.reshaping import (
    Cropping1D,
    Cropping2D,
    Cropping3D,
    Permute,
    RepeatVector,
    UpSampling1D,
    UpSampling2D,
    UpSampling3D,
    ZeroPadding1D,
    ZeroPadding2D,
    ZeroPadding3D,
)
from scratchnet.layers.rnn import RNN
from scratchnet.layers.rnn_cells import GRUCell, LSTMCell, SimpleRNNCell, StackedRNNCells
from scratchnet.layers.simple_attention import AdditiveAttention, Attention
from scratchnet.layers.structured import Discretization, HashedCrossing, Hashing, Normalization
from scratchnet.layers.text import TextVectorization
from scratchnet.layers.wrappers import SpectralNormalization, TimeDistributed, Wrapper

__all__ = [
    "Layer", "ActivatedLayer", "Parameter", "InputSpec", "Input", "Dense", "Flatten", "Activation", "Softmax",
    "Dropout", "Conv2D", "MaxPooling2D", "LeakyReLU", "ReLU", "Reshape", "Lambda",
    "Embedding", "ReversibleEmbedding", "StringLookup", "IntegerLookup", "CategoryEncoding",
    "Conv1D", "MaxPooling1D", "AveragePooling1D", "AveragePooling2D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
    "Rescaling", "Resizing",
    "InputLayer", "Add", "Subtract", "Multiply", "Average", "Concatenate", "Dot",
    "add", "subtract", "multiply", "average", "concatenate", "dot",
    "TextVectorization",
    "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast",
    "RandomBrightness", "RandomCrop",
    "RandomGrayscale", "RandomHue", "RandomSaturation", "RandomColorDegeneration",
    "RandomColorJitter", "RandomInvert", "Solarization", "AutoContrast", "RandomPosterization",
    "RandomSharpness", "RandomShear", "RandomErasing", "RandomGaussianBlur", "MixUp", "CutMix",
    "Equalization", "ContrastLimitedAdaptiveHistogramEqualization", "RandomElasticTransform",
    "RandomPerspective", "RandAugment",
    "AugMix", "Pipeline",
    "BatchNormalization",
    "Normalization", "Discretization", "Hashing", "HashedCrossing",
    "SimpleRNN", "LSTM", "GRU", "Bidirectional",
    "ELU", "PReLU", "Identity", "Maximum", "Minimum", "maximum", "minimum", "Masking",
    "LayerNormalization", "SpatialDropout1D", "SpatialDropout2D", "GaussianNoise", "GaussianDropout",
    "UpSampling1D", "UpSampling2D", "ZeroPadding1D", "ZeroPadding2D", "Cropping1D", "Cropping2D",
    "RepeatVector", "Permute", "Conv2DTranspose",
    # Keras' shorter names for the same classes
    "MaxPool1D", "MaxPool2D", "AvgPool1D", "AvgPool2D", "GlobalAvgPool1D", "GlobalAvgPool2D",
    "GlobalMaxPool1D", "GlobalMaxPool2D",
    "TimeDistributed", "Wrapper", "SpectralNormalization",
    "DepthwiseConv2D", "SeparableConv2D", "DepthwiseConv1D", "SeparableConv1D",
    "MultiHeadAttention", "Attention", "AdditiveAttention", "GroupQueryAttention",
    "UnitNormalization", "GroupNormalization", "AlphaDropout", "CenterCrop", "Conv1DTranspose",
    "ActivityRegularization",
    "Convolution1D", "Convolution2D", "Convolution1DTranspose", "Convolution2DTranspose",
    "SeparableConvolution1D", "SeparableConvolution2D",
    "RMSNormalization", "EinsumDense",
    "AdaptiveAveragePooling1D", "AdaptiveAveragePooling2D", "AdaptiveAveragePooling3D",
    "AdaptiveMaxPooling1D", "AdaptiveMaxPooling2D", "AdaptiveMaxPooling3D",
    # 3-D (volumes, videos)
    "Conv3D", "Conv3DTranspose", "MaxPooling3D", "AveragePooling3D", "GlobalAveragePooling3D",
    "GlobalMaxPooling3D", "UpSampling3D", "ZeroPadding3D", "Cropping3D", "SpatialDropout3D",
    "Convolution3D", "Convolution3DTranspose", "MaxPool3D", "AvgPool3D", "GlobalAvgPool3D",
    "GlobalMaxPool3D",
    "RNN", "SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells", "ConvLSTM1D", "ConvLSTM2D",
    "MelSpectrogram", "STFTSpectrogram",
    "serialize", "deserialize",
    "ConvLSTM3D",
    "MaxNumBoundingBoxes",
]

# Keras' aliases: the same class under a second name (keras.layers.MaxPool2D is MaxPooling2D).
MaxPool1D, MaxPool2D = MaxPooling1D, MaxPooling2D
AvgPool1D, AvgPool2D = AveragePooling1D, AveragePooling2D
GlobalAvgPool1D, GlobalAvgPool2D = GlobalAveragePooling1D, GlobalAveragePooling2D
GlobalMaxPool1D, GlobalMaxPool2D = GlobalMaxPooling1D, GlobalMaxPooling2D
Convolution1D, Convolution2D = Conv1D, Conv2D
Convolution1DTranspose, Convolution2DTranspose = Conv1DTranspose, Conv2DTranspose
SeparableConvolution1D, SeparableConvolution2D = SeparableConv1D, SeparableConv2D
MaxPool3D, AvgPool3D = MaxPooling3D, AveragePooling3D
GlobalAvgPool3D, GlobalMaxPool3D = GlobalAveragePooling3D, GlobalMaxPooling3D
Convolution3D, Convolution3DTranspose = Conv3D, Conv3DTranspose


def serialize(layer) -> dict:
    """``keras.layers.serialize(layer)``: the layer as Keras writes it into a ``.keras`` config,
    ``{"module", "class_name", "config", "registered_name"}`` (and ``build_config`` once built)."""
    from scratchnet.saving_keras import _layer_config

    return _layer_config(layer)


def deserialize(config: dict, custom_objects=None):
    """``keras.layers.deserialize(config)``: a new (unbuilt) layer from :func:`serialize`'s dict or
    Keras' own; ``custom_objects={"Name": Class}`` for your layers."""
    from scratchnet.saving_keras import _build_layer

    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError("keras.layers.deserialize: expected a dict with 'class_name' and 'config' (what "
                         f"keras.layers.serialize returns), received {config!r}")
    return _build_layer(config, "keras.layers.deserialize", custom_objects, {}, "")
