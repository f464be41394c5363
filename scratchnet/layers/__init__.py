"""Layers with Keras' names, arguments, defaults and weight layouts."""

from scratchnet.layers.attention import MultiHeadAttention
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
    Equalization,
    RandomGaussianBlur,
    RandomPerspective,
    RandomShear,
)
from scratchnet.layers.augmentation_policies import AugMix, RandAugment
from scratchnet.layers.base import ActivatedLayer, Layer, Parameter
from scratchnet.layers.conv import Conv1D, Conv1DTranspose, Conv2D, Conv2DTranspose
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
from scratchnet.layers.embedding import Embedding
from scratchnet.layers.global_pooling import (
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
)
from scratchnet.layers.image_preprocessing import CenterCrop, Rescaling, Resizing
from scratchnet.layers.input_layer import InputLayer
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
    UnitNormalization,
)
from scratchnet.layers.pipeline import Pipeline
from scratchnet.layers.pooling import AveragePooling1D, AveragePooling2D, MaxPooling1D, MaxPooling2D
from scratchnet.layers.preprocessing import CategoryEncoding, IntegerLookup, StringLookup
from scratchnet.layers.recurrent import GRU, LSTM, Bidirectional, SimpleRNN
from scratchnet.layers.regularization import (
    ActivityRegularization,
    AlphaDropout,
    GaussianDropout,
    GaussianNoise,
    SpatialDropout1D,
    SpatialDropout2D,
)
from scratchnet.layers.reshaping import (
    Cropping1D,
    Cropping2D,
    Permute,
    RepeatVector,
    UpSampling1D,
    UpSampling2D,
    ZeroPadding1D,
    ZeroPadding2D,
)
from scratchnet.layers.simple_attention import AdditiveAttention, Attention
from scratchnet.layers.structured import Discretization, HashedCrossing, Hashing, Normalization
from scratchnet.layers.text import TextVectorization
from scratchnet.layers.wrappers import TimeDistributed

__all__ = [
    "Layer", "ActivatedLayer", "Parameter", "Input", "Dense", "Flatten", "Activation", "Softmax",
    "Dropout", "Conv2D", "MaxPooling2D", "LeakyReLU", "ReLU", "Reshape", "Lambda",
    "Embedding", "StringLookup", "IntegerLookup", "CategoryEncoding",
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
    "Equalization", "RandomPerspective", "RandAugment", "AugMix", "Pipeline",
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
    "TimeDistributed",
    "DepthwiseConv2D", "SeparableConv2D", "DepthwiseConv1D", "SeparableConv1D",
    "MultiHeadAttention", "Attention", "AdditiveAttention",
    "UnitNormalization", "GroupNormalization", "AlphaDropout", "CenterCrop", "Conv1DTranspose",
    "ActivityRegularization",
]

# Keras' aliases: the same class under a second name (keras.layers.MaxPool2D is MaxPooling2D).
MaxPool1D, MaxPool2D = MaxPooling1D, MaxPooling2D
AvgPool1D, AvgPool2D = AveragePooling1D, AveragePooling2D
GlobalAvgPool1D, GlobalAvgPool2D = GlobalAveragePooling1D, GlobalAveragePooling2D
GlobalMaxPool1D, GlobalMaxPool2D = GlobalMaxPooling1D, GlobalMaxPooling2D
