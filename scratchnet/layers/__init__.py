"""Layers with Keras' names, arguments, defaults and weight layouts."""

from scratchnet.layers.base import ActivatedLayer, Layer, Parameter
from scratchnet.layers.conv import Conv2D
from scratchnet.layers.core import Activation, Dense, Dropout, Flatten, Input, Softmax
from scratchnet.layers.embedding import Embedding
from scratchnet.layers.pooling import MaxPooling2D
from scratchnet.layers.preprocessing import CategoryEncoding, IntegerLookup, StringLookup

__all__ = [
    "Layer", "ActivatedLayer", "Parameter", "Input", "Dense", "Flatten", "Activation", "Softmax",
    "Dropout", "Conv2D", "MaxPooling2D",
    "Embedding", "StringLookup", "IntegerLookup", "CategoryEncoding",
]
