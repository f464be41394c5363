"""The Keras twins of ``scratchnet.models``, written as plain Keras, as in the talk.

Read each beside its scratchnet twin: same layers, same arguments, same weight shapes, so
``kmodel.set_weights(smodel.get_weights())`` copies one into the other.
"""

from __future__ import annotations

import keras
from keras import layers


def digits_cnn(input_shape=(8, 8, 1), num_classes: int = 10) -> keras.Sequential:
    return keras.Sequential([
        keras.Input(input_shape),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, padding="same", activation="relu"),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(num_classes),
    ], name="digits_cnn")


def digits_mlp(input_shape=(8, 8, 1), num_classes: int = 10) -> keras.Sequential:
    return keras.Sequential([
        keras.Input(input_shape),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(num_classes),
    ], name="digits_mlp")


def small_cnn(input_shape=(32, 32, 3), num_classes: int = 3) -> keras.Sequential:
    return keras.Sequential([
        keras.Input(input_shape),
        layers.Conv2D(16, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(32, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(num_classes),
    ], name="small_cnn")


def rps_cnn(input_shape=(64, 64, 3), num_classes: int = 3, filters=(16, 32, 64),
            dense_units: int = 128, dropout: float = 0.25) -> keras.Sequential:
    blocks = []
    for f in filters:
        blocks += [layers.Conv2D(f, 3, activation="relu"), layers.MaxPooling2D(2)]
    return keras.Sequential([
        keras.Input(input_shape),
        *blocks,
        layers.Flatten(),
        layers.Dropout(dropout),
        layers.Dense(dense_units, activation="relu"),
        layers.Dense(num_classes, activation="softmax"),
    ], name="rps_cnn")


def talk_cnn(input_shape=(150, 150, 3), num_classes: int = 3) -> keras.Sequential:
    return rps_cnn(input_shape, num_classes, filters=(64, 64, 128, 128), dense_units=512,
                   dropout=0.5)
