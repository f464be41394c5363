"""to/from Keras mappings for scratchnet's Normalization, Discretization, Hashing, HashedCrossing.

Keras ships all four, with the same arguments. What each learnt crosses over as:

- Normalization: given ``mean``/``variance`` are config; adapted ones are weights (``mean``,
  ``variance``, ``count``, Keras' order), copied with ``set_weights(get_weights())``.
- Discretization: adapted ``bin_boundaries`` are config (Keras' ``from_config`` sets them on a
  layer made with ``num_bins``, as done here).
- Hashing and HashedCrossing learn nothing; salt and mask go across as config.
- FeatureSpace's ``float`` preprocessor (an ``Identity``) is ``keras.layers.Identity``, mapped in
  tfnet/convert.py beside the ``Identity`` layer.
"""

from __future__ import annotations

import keras

import scratchnet as sn
from tfnet.preprocessing import _refuse


def normalization_to_keras(layer: sn.layers.Normalization) -> keras.layers.Normalization:
    return keras.layers.Normalization(axis=layer.axis or None, mean=layer.input_mean,
                                      variance=layer.input_variance, invert=layer.invert,
                                      name=layer.name)


def normalization_from_keras(layer: keras.layers.Normalization) -> sn.layers.Normalization:
    return sn.layers.Normalization(axis=layer.axis or None, mean=layer.input_mean,
                                   variance=layer.input_variance, invert=layer.invert,
                                   name=layer.name)


def discretization_to_keras(layer: sn.layers.Discretization) -> keras.layers.Discretization:
    klayer = keras.layers.Discretization(
        bin_boundaries=None if layer.num_bins is not None else layer.bin_boundaries,
        num_bins=layer.num_bins, epsilon=layer.epsilon, output_mode=layer.output_mode,
        name=layer.name)
    if layer.num_bins is not None and layer.bin_boundaries is not None:
        klayer.bin_boundaries = list(layer.bin_boundaries)  # adapted: as Keras' from_config does
    return klayer


def discretization_from_keras(layer: keras.layers.Discretization) -> sn.layers.Discretization:
    _refuse(layer, sparse=layer.sparse)
    return sn.layers.Discretization.from_config({
        "bin_boundaries": layer.bin_boundaries, "num_bins": layer.num_bins,
        "epsilon": layer.epsilon, "output_mode": layer.output_mode, "name": layer.name})


def hashing_to_keras(layer: sn.layers.Hashing) -> keras.layers.Hashing:
    return keras.layers.Hashing(layer.num_bins, mask_value=layer.mask_value, salt=layer.salt,
                                output_mode=layer.output_mode, name=layer.name)


def hashing_from_keras(layer: keras.layers.Hashing) -> sn.layers.Hashing:
    _refuse(layer, sparse=layer.sparse)
    return sn.layers.Hashing(layer.num_bins, mask_value=layer.mask_value, salt=layer.salt,
                             output_mode=layer.output_mode, name=layer.name)


def hashed_crossing_to_keras(layer: sn.layers.HashedCrossing) -> keras.layers.HashedCrossing:
    return keras.layers.HashedCrossing(layer.num_bins, output_mode=layer.output_mode,
                                       name=layer.name)


def hashed_crossing_from_keras(layer: keras.layers.HashedCrossing) -> sn.layers.HashedCrossing:
    _refuse(layer, sparse=layer.sparse)
    return sn.layers.HashedCrossing(layer.num_bins, output_mode=layer.output_mode,
                                    name=layer.name)


def refresh_statistics(kmodel: keras.Model) -> None:
    """Make every Keras Normalization in ``kmodel`` use the weights just set.

    Keras' Normalization divides by tensors it derives from its ``mean``/``variance`` weights in
    ``finalize_state()`` (called by ``adapt``, ``build`` and ``.keras`` loading), not by the
    weights themselves: ``set_weights`` alone leaves it normalising with the old values.
    """
    for klayer in kmodel.layers:
        if isinstance(klayer, keras.layers.Normalization):
            klayer.finalize_state()


TO_KERAS = {
    sn.layers.Normalization: normalization_to_keras,
    sn.layers.Discretization: discretization_to_keras,
    sn.layers.Hashing: hashing_to_keras,
    sn.layers.HashedCrossing: hashed_crossing_to_keras,
}
FROM_KERAS = {
    keras.layers.Normalization: normalization_from_keras,
    keras.layers.Discretization: discretization_from_keras,
    keras.layers.Hashing: hashing_from_keras,
    keras.layers.HashedCrossing: hashed_crossing_from_keras,
}
