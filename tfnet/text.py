"""to/from Keras mappings for scratchnet's TextVectorization (``keras.layers.TextVectorization``).

The two layers have the same arguments. The vocabulary (and, for ``"tf_idf"``, the idf weights)
goes across as ``vocabulary=`` / ``idf_weights=`` in full, special tokens first, which both
layers read back exactly (Keras keeps an adapted vocabulary in its lookup table, not as a
weight). A callable ``standardize`` or ``split`` cannot cross: scratchnet's receives NumPy string
arrays, Keras' (TensorFlow backend) ``tf.Tensor`` strings.
"""

from __future__ import annotations

import keras
import numpy as np

import scratchnet as sn

_SHARED_ARGS = ("max_tokens", "standardize", "split", "ngrams", "output_mode",
                "output_sequence_length", "pad_to_max_tokens", "encoding")


def text_vectorization_to_keras(layer: sn.layers.TextVectorization) -> keras.layers.TextVectorization:
    _refuse_callables(layer, "to_keras")
    kwargs = {arg: getattr(layer, arg) for arg in _SHARED_ARGS}
    kwargs["ngrams"] = tuple(layer.ngrams) if isinstance(layer.ngrams, list) else layer.ngrams
    if layer.tokens or layer.has_input_vocabulary:
        kwargs["vocabulary"] = layer.get_vocabulary()
        if layer.output_mode == "tf_idf":
            kwargs["idf_weights"] = np.asarray(layer.idf_weights[:layer.vocabulary_size()])
    return keras.layers.TextVectorization(**kwargs, name=layer.name)


def text_vectorization_from_keras(klayer: keras.layers.TextVectorization
                                  ) -> sn.layers.TextVectorization:
    config = klayer.get_config()
    for arg in ("sparse", "ragged"):
        if config.get(arg):
            raise ValueError(f'from_keras: TextVectorization "{klayer.name}" uses {arg}=True, which '
                             "scratchnet does not support")
    kwargs = {arg: config[arg] for arg in _SHARED_ARGS}
    if isinstance(kwargs["ngrams"], list):
        kwargs["ngrams"] = tuple(kwargs["ngrams"])
    layer = sn.layers.TextVectorization(**kwargs, name=klayer.name)
    _refuse_callables(layer, "from_keras")
    vocabulary = [str(t) for t in klayer.get_vocabulary()]
    if len(vocabulary) > layer.token_start:  # adapted or given: copy it, special tokens included
        idf = None
        if config["output_mode"] == "tf_idf":
            idf = np.asarray(klayer._lookup_layer.idf_weights_const)[:len(vocabulary)]
        layer.set_vocabulary(vocabulary, idf)
    return layer


def _refuse_callables(layer, where: str) -> None:
    for arg in ("standardize", "split"):
        if callable(getattr(layer, arg)):
            raise ValueError(f'{where}: TextVectorization "{layer.name}" has a callable {arg}, '
                             "which cannot be converted (scratchnet's gets NumPy strings, Keras' "
                             "tf.Tensor strings); build the other layer with its own callable")


TO_KERAS = {sn.layers.TextVectorization: text_vectorization_to_keras}
FROM_KERAS = {keras.layers.TextVectorization: text_vectorization_from_keras}
