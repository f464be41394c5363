"""Layers with Keras' names, arguments, defaults and weight layouts."""

from scratchnet.layers.augmentation import (
    RandomBrightness,
    RandomContrast,
    RandomCrop,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
)
from scratchnet.layers.base import ActivatedLayer, Layer, Parameter
from scratchnet.layers.conv import Conv1D, Conv2D
from scratchnet.layers.core import (
    Activation,
    Dense,
    Dropout,
    Flatten,
    Input,
    LeakyReLU,
    ReLU,
    Reshape,
    Softmax,
)
from scratchnet.layers.embedding import Embedding
from scratchnet.layers.global_pooling import (
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
)
from scratchnet.layers.image_preprocessing import Rescaling, Resizing
from scratchnet.layers.input_layer import InputLayer
from scratchnet.layers.lambda_layer import Lambda
from scratchnet.layers.merging import (
    Add,
    Average,
    Concatenate,
    Dot,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    dot,
    multiply,
    subtract,
)
from scratchnet.layers.normalization import BatchNormalization
from scratchnet.layers.pooling import AveragePooling1D, AveragePooling2D, MaxPooling1D, MaxPooling2D
from scratchnet.layers.preprocessing import CategoryEncoding, IntegerLookup, StringLookup
from scratchnet.layers.recurrent import GRU, LSTM, Bidirectional, SimpleRNN
from scratchnet.layers.structured import Discretization, HashedCrossing, Hashing, Normalization
from scratchnet.layers.text import TextVectorization

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
    "BatchNormalization",
    "Normalization", "Discretization", "Hashing", "HashedCrossing",
    "SimpleRNN", "LSTM", "GRU", "Bidirectional",
]
