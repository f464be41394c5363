"""to/from Keras mappings for scratchnet's Embedding, StringLookup, IntegerLookup, CategoryEncoding.

Keras ships all four layers, so no twin classes are needed, only the mapping of arguments.
``TO_KERAS`` maps a scratchnet class to a function ``layer -> keras layer`` and ``FROM_KERAS`` a
Keras class to ``keras layer -> scratchnet layer``. Each returns an unbuilt layer with the same name
and config; weights (only Embedding has some: ``embeddings``, same layout on both sides) are copied
afterwards with ``set_weights(get_weights())``. A lookup layer's vocabulary is config, not a weight,
on both sides. A Keras model whose first layer is one of these takes
``keras.Input(shape, dtype=first_layer.input_dtype)``.
"""

from __future__ import annotations

import keras

import scratchnet as sn


def embedding_to_keras(layer: sn.layers.Embedding) -> keras.layers.Embedding:
    # The initial weights are copied over afterwards; the initializer only matters for the name.
    init = layer.embeddings_initializer if isinstance(layer.embeddings_initializer, str) else "uniform"
    from tfnet.convert import constraints_to_keras, regularizer_to_keras

    return keras.layers.Embedding(layer.input_dim, layer.output_dim, embeddings_initializer=init,
                                  mask_zero=layer.mask_zero, name=layer.name,
                                  embeddings_regularizer=regularizer_to_keras(layer.embeddings_regularizer),
                                  **constraints_to_keras(layer, "embeddings_constraint"))


def embedding_from_keras(layer: keras.layers.Embedding) -> sn.layers.Embedding:
    from tfnet.convert import constraints_from_keras, regularizer_from_keras

    regularizer = regularizer_from_keras(layer.embeddings_regularizer, f'layer "{layer.name}"')
    return sn.layers.Embedding(layer.input_dim, layer.output_dim, mask_zero=layer.mask_zero,
                               embeddings_regularizer=regularizer, name=layer.name,
                               **constraints_from_keras(layer, "embeddings_constraint"))


def reversible_embedding_to_keras(layer: sn.layers.ReversibleEmbedding) -> keras.layers.ReversibleEmbedding:
    init = layer.embeddings_initializer if isinstance(layer.embeddings_initializer, str) else "uniform"
    from tfnet.convert import constraints_to_keras, regularizer_to_keras

    return keras.layers.ReversibleEmbedding(
        layer.input_dim, layer.output_dim, tie_weights=layer.tie_weights, embeddings_initializer=init,
        mask_zero=layer.mask_zero, reverse_dtype=layer.reverse_dtype,
        logit_soft_cap=layer.logit_soft_cap, name=layer.name,
        embeddings_regularizer=regularizer_to_keras(layer.embeddings_regularizer),
        **constraints_to_keras(layer, "embeddings_constraint"))


def reversible_embedding_from_keras(layer: keras.layers.ReversibleEmbedding) -> sn.layers.ReversibleEmbedding:
    from tfnet.convert import constraints_from_keras, regularizer_from_keras

    regularizer = regularizer_from_keras(layer.embeddings_regularizer, f'layer "{layer.name}"')
    return sn.layers.ReversibleEmbedding(
        layer.input_dim, layer.output_dim, tie_weights=layer.tie_weights, mask_zero=layer.mask_zero,
        reverse_dtype=layer.reverse_dtype, logit_soft_cap=layer.logit_soft_cap,
        embeddings_regularizer=regularizer, name=layer.name,
        **constraints_from_keras(layer, "embeddings_constraint"))


def string_lookup_to_keras(layer: sn.layers.StringLookup) -> keras.layers.StringLookup:
    return keras.layers.StringLookup(**_lookup_kwargs(layer))


def string_lookup_from_keras(layer: keras.layers.StringLookup) -> sn.layers.StringLookup:
    return sn.layers.StringLookup(**_lookup_args_from_keras(layer))


def integer_lookup_to_keras(layer: sn.layers.IntegerLookup) -> keras.layers.IntegerLookup:
    return keras.layers.IntegerLookup(**_lookup_kwargs(layer))


def integer_lookup_from_keras(layer: keras.layers.IntegerLookup) -> sn.layers.IntegerLookup:
    return sn.layers.IntegerLookup(**_lookup_args_from_keras(layer))


def category_encoding_to_keras(layer: sn.layers.CategoryEncoding) -> keras.layers.CategoryEncoding:
    return keras.layers.CategoryEncoding(layer.num_tokens, output_mode=layer.output_mode,
                                         name=layer.name)


def category_encoding_from_keras(layer: keras.layers.CategoryEncoding) -> sn.layers.CategoryEncoding:
    _refuse(layer, sparse=layer.sparse)
    return sn.layers.CategoryEncoding(layer.num_tokens, output_mode=layer.output_mode,
                                      name=layer.name)


def _lookup_kwargs(layer) -> dict:
    vocabulary = layer.get_vocabulary(include_special_tokens=False) or None
    return {"max_tokens": layer.max_tokens, "oov_token": layer.oov_token,
            "vocabulary": vocabulary, "output_mode": layer.output_mode, "name": layer.name}


def _lookup_args_from_keras(layer) -> dict:
    if layer.num_oov_indices != 1:
        raise ValueError(f'from_keras: {type(layer).__name__} "{layer.name}" has num_oov_indices='
                         f"{layer.num_oov_indices}; scratchnet supports exactly 1")
    _refuse(layer, mask_token=layer.mask_token, invert=layer.invert,
            pad_to_max_tokens=layer.pad_to_max_tokens, sparse=layer.sparse)
    if layer.output_mode != "int":
        raise ValueError(f'from_keras: {type(layer).__name__} "{layer.name}" has '
                         f'output_mode={layer.output_mode!r}; scratchnet supports "int" (chain a '
                         "CategoryEncoding for the other modes)")
    vocabulary = layer.get_vocabulary(include_special_tokens=False)
    if vocabulary and isinstance(layer, keras.layers.IntegerLookup):
        vocabulary = [int(v) for v in vocabulary]
    return {"max_tokens": layer.max_tokens, "oov_token": layer.oov_token,
            "vocabulary": vocabulary or None, "name": layer.name}


def _refuse(layer, **settings) -> None:
    """Raise if any of ``settings`` (Keras options scratchnet lacks) is set."""
    for arg, value in settings.items():
        if value not in (None, False):
            raise ValueError(f'from_keras: {type(layer).__name__} "{layer.name}" uses {arg}='
                             f"{value!r}, which scratchnet does not support")


TO_KERAS = {
    sn.layers.Embedding: embedding_to_keras,
    sn.layers.ReversibleEmbedding: reversible_embedding_to_keras,
    sn.layers.StringLookup: string_lookup_to_keras,
    sn.layers.IntegerLookup: integer_lookup_to_keras,
    sn.layers.CategoryEncoding: category_encoding_to_keras,
}
FROM_KERAS = {
    keras.layers.Embedding: embedding_from_keras,
    keras.layers.ReversibleEmbedding: reversible_embedding_from_keras,
    keras.layers.StringLookup: string_lookup_from_keras,
    keras.layers.IntegerLookup: integer_lookup_from_keras,
    keras.layers.CategoryEncoding: category_encoding_from_keras,
}
