"""``layer.get_config()`` of every layer class Keras 3 and scratchnet both have, against Keras'.

Keras' serialization guide (``get_config`` / ``from_config``) and its ``.keras`` files hold these
dicts, so they must be Keras' own: the same keys (``trainable``, the serialized ``dtype`` policy,
every regularizer and constraint argument, even when ``None``), initializers, regularizers and
constraints serialized as ``keras.saving.serialize_keras_object`` writes them, and tuples where
Keras keeps tuples. Each class is made in both libraries (with defaults, or the required
arguments of :data:`REQUIRED`), plus a few non-default argument sets (:data:`NON_DEFAULT`); the
two configs, ``name`` left out, must be equal, value types included. Then each library rebuilds
the other's config (``from_config``) into a layer whose config is that config again.
"""

import inspect
import warnings

import keras
import pytest

import scratchnet as sn


def _identity(x):
    return x


# Classes that need arguments: how to make each, with ``M`` either ``keras`` or ``scratchnet``.
REQUIRED = {
    "Activation": lambda M: M.layers.Activation("relu"),
    "AdaptiveAveragePooling1D": lambda M: M.layers.AdaptiveAveragePooling1D(4),
    "AdaptiveAveragePooling2D": lambda M: M.layers.AdaptiveAveragePooling2D((4, 3)),
    "AdaptiveAveragePooling3D": lambda M: M.layers.AdaptiveAveragePooling3D(2),
    "AdaptiveMaxPooling1D": lambda M: M.layers.AdaptiveMaxPooling1D(4),
    "AdaptiveMaxPooling2D": lambda M: M.layers.AdaptiveMaxPooling2D((4, 3)),
    "AdaptiveMaxPooling3D": lambda M: M.layers.AdaptiveMaxPooling3D(2),
    "AlphaDropout": lambda M: M.layers.AlphaDropout(0.1),
    "AveragePooling1D": lambda M: M.layers.AveragePooling1D(2),
    "AveragePooling2D": lambda M: M.layers.AveragePooling2D(2),
    "AveragePooling3D": lambda M: M.layers.AveragePooling3D(2),
    "AvgPool1D": lambda M: M.layers.AvgPool1D(3, strides=1, padding="same"),
    "AvgPool2D": lambda M: M.layers.AvgPool2D((2, 3)),
    "AvgPool3D": lambda M: M.layers.AvgPool3D(2),
    "Bidirectional": lambda M: M.layers.Bidirectional(M.layers.LSTM(5, name="inner")),
    "CategoryEncoding": lambda M: M.layers.CategoryEncoding(num_tokens=4),
    "CenterCrop": lambda M: M.layers.CenterCrop(4, 5),
    "Conv1D": lambda M: M.layers.Conv1D(4, 3),
    "Conv1DTranspose": lambda M: M.layers.Conv1DTranspose(4, 3),
    "Conv2D": lambda M: M.layers.Conv2D(4, 3),
    "Conv2DTranspose": lambda M: M.layers.Conv2DTranspose(4, 3),
    "Conv3D": lambda M: M.layers.Conv3D(4, 3),
    "Conv3DTranspose": lambda M: M.layers.Conv3DTranspose(4, 3),
    "ConvLSTM1D": lambda M: M.layers.ConvLSTM1D(4, 3),
    "ConvLSTM2D": lambda M: M.layers.ConvLSTM2D(4, 3),
    "ConvLSTM3D": lambda M: M.layers.ConvLSTM3D(4, 3),
    "Convolution1D": lambda M: M.layers.Convolution1D(4, 3),
    "Convolution1DTranspose": lambda M: M.layers.Convolution1DTranspose(4, 3),
    "Convolution2D": lambda M: M.layers.Convolution2D(4, (3, 2)),
    "Convolution2DTranspose": lambda M: M.layers.Convolution2DTranspose(4, 3),
    "Convolution3D": lambda M: M.layers.Convolution3D(4, 3),
    "Convolution3DTranspose": lambda M: M.layers.Convolution3DTranspose(4, 3),
    "Dense": lambda M: M.layers.Dense(3),
    "DepthwiseConv1D": lambda M: M.layers.DepthwiseConv1D(3),
    "DepthwiseConv2D": lambda M: M.layers.DepthwiseConv2D(3),
    "Discretization": lambda M: M.layers.Discretization(bin_boundaries=[0.0, 1.0]),
    "Dot": lambda M: M.layers.Dot(axes=1),
    "Dropout": lambda M: M.layers.Dropout(0.5),
    "EinsumDense": lambda M: M.layers.EinsumDense("ab,bc->ac", 4),
    "Embedding": lambda M: M.layers.Embedding(10, 4),
    "GRU": lambda M: M.layers.GRU(5),
    "GRUCell": lambda M: M.layers.GRUCell(5),
    "GaussianDropout": lambda M: M.layers.GaussianDropout(0.1),
    "GaussianNoise": lambda M: M.layers.GaussianNoise(0.1),
    "GroupQueryAttention": lambda M: M.layers.GroupQueryAttention(4, 2, 1),
    "HashedCrossing": lambda M: M.layers.HashedCrossing(5),
    "Hashing": lambda M: M.layers.Hashing(5),
    "InputLayer": lambda M: M.layers.InputLayer(shape=(3,)),
    "LSTM": lambda M: M.layers.LSTM(5),
    "LSTMCell": lambda M: M.layers.LSTMCell(5),
    "Lambda": lambda M: M.layers.Lambda(M.activations.relu, output_shape=(3,)),
    "MaxNumBoundingBoxes": lambda M: M.layers.MaxNumBoundingBoxes(3),
    "MultiHeadAttention": lambda M: M.layers.MultiHeadAttention(2, 4),
    "Permute": lambda M: M.layers.Permute((2, 1)),
    "Pipeline": lambda M: M.layers.Pipeline([M.layers.Rescaling(0.5, name="half")]),
    "RNN": lambda M: M.layers.RNN(M.layers.SimpleRNNCell(5, name="cell")),
    "RandomBrightness": lambda M: M.layers.RandomBrightness(0.2),
    "RandomColorDegeneration": lambda M: M.layers.RandomColorDegeneration(0.2),
    "RandomContrast": lambda M: M.layers.RandomContrast(0.2),
    "RandomCrop": lambda M: M.layers.RandomCrop(4, 5, seed=7),  # (Keras draws a seed when None)
    "RandomHue": lambda M: M.layers.RandomHue(0.2),
    "RandomPosterization": lambda M: M.layers.RandomPosterization((1, 4)),
    "RandomRotation": lambda M: M.layers.RandomRotation(0.2),
    "RandomSaturation": lambda M: M.layers.RandomSaturation(0.2),
    "RandomSharpness": lambda M: M.layers.RandomSharpness(0.2),
    "RandomTranslation": lambda M: M.layers.RandomTranslation(0.1, 0.2),
    "RandomZoom": lambda M: M.layers.RandomZoom(0.1),
    "RepeatVector": lambda M: M.layers.RepeatVector(3),
    "Rescaling": lambda M: M.layers.Rescaling(0.5),
    "Reshape": lambda M: M.layers.Reshape((2, 3)),
    "Resizing": lambda M: M.layers.Resizing(4, 5),
    "ReversibleEmbedding": lambda M: M.layers.ReversibleEmbedding(10, 4),
    "SeparableConv1D": lambda M: M.layers.SeparableConv1D(4, 3),
    "SeparableConv2D": lambda M: M.layers.SeparableConv2D(4, 3),
    "SeparableConvolution1D": lambda M: M.layers.SeparableConvolution1D(4, 3),
    "SeparableConvolution2D": lambda M: M.layers.SeparableConvolution2D(4, 3),
    "SimpleRNN": lambda M: M.layers.SimpleRNN(5),
    "SimpleRNNCell": lambda M: M.layers.SimpleRNNCell(5),
    "SpatialDropout1D": lambda M: M.layers.SpatialDropout1D(0.2),
    "SpatialDropout2D": lambda M: M.layers.SpatialDropout2D(0.2),
    "SpatialDropout3D": lambda M: M.layers.SpatialDropout3D(0.2),
    "SpectralNormalization": lambda M: M.layers.SpectralNormalization(M.layers.Dense(3, name="inner")),
    "StackedRNNCells": lambda M: M.layers.StackedRNNCells([M.layers.SimpleRNNCell(4, name="c1"),
                                                           M.layers.GRUCell(3, name="c2")]),
    "TimeDistributed": lambda M: M.layers.TimeDistributed(M.layers.Dense(3, name="inner")),
    "Wrapper": lambda M: M.layers.Wrapper(M.layers.Dense(3, name="inner")),
}

# Non-default arguments: objects with a config as initializers, regularizers and constraints,
# activations, use_bias=False, data_format, ...
NON_DEFAULT = {
    "Dense_weight_objects": lambda M: M.layers.Dense(
        3, activation="relu", use_bias=False,
        kernel_initializer=M.initializers.RandomNormal(mean=0.5, stddev=0.1, seed=3),
        kernel_regularizer=M.regularizers.L1L2(l1=0.01, l2=0.02),
        kernel_constraint=M.constraints.MaxNorm(2.0),
        activity_regularizer=M.regularizers.L2(0.1)),
    "Dense_bias_objects": lambda M: M.layers.Dense(
        2, activation="softmax", bias_initializer=M.initializers.Constant(0.5),
        bias_regularizer="l2", bias_constraint=M.constraints.NonNeg()),
    "Conv2D_data_format": lambda M: M.layers.Conv2D(
        4, (3, 2), strides=(2, 1), padding="same", data_format="channels_last", dilation_rate=1,
        activation="tanh", kernel_initializer="he_normal", use_bias=False),
    "Conv1D_causal": lambda M: M.layers.Conv1D(4, 3, padding="causal", dilation_rate=2,
                                               kernel_regularizer=M.regularizers.L2(0.5)),
    "MaxPooling2D_data_format": lambda M: M.layers.MaxPooling2D((3, 2), strides=1, padding="same",
                                                                data_format="channels_last"),
    "Flatten_data_format": lambda M: M.layers.Flatten(data_format="channels_last"),
    "BatchNormalization_objects": lambda M: M.layers.BatchNormalization(
        momentum=0.9, epsilon=1e-3, center=False, gamma_initializer=M.initializers.Constant(2.0),
        gamma_constraint=M.constraints.UnitNorm(), beta_constraint=M.constraints.NonNeg()),
    "LayerNormalization_objects": lambda M: M.layers.LayerNormalization(
        epsilon=1e-5, beta_initializer=M.initializers.Constant(0.1),
        beta_regularizer=M.regularizers.L1(0.2)),
    "LSTM_objects": lambda M: M.layers.LSTM(
        4, activation="relu", return_sequences=True, dropout=0.1,
        recurrent_initializer=M.initializers.Orthogonal(gain=0.5, seed=1),
        recurrent_regularizer=M.regularizers.L2(0.01), unit_forget_bias=False),
    "Embedding_objects": lambda M: M.layers.Embedding(
        10, 4, embeddings_initializer=M.initializers.RandomUniform(-1.0, 1.0, seed=2),
        embeddings_regularizer=M.regularizers.L2(0.1), mask_zero=True),
    "PReLU_shared_axes": lambda M: M.layers.PReLU(alpha_initializer=M.initializers.Constant(0.25),
                                                  shared_axes=[1, 2]),
    "Dropout_frozen": lambda M: M.layers.Dropout(0.3, seed=4, trainable=False),
    "ZeroPadding2D_asymmetric": lambda M: M.layers.ZeroPadding2D(((1, 2), (3, 4))),
    "UpSampling2D_bilinear": lambda M: M.layers.UpSampling2D((2, 3), interpolation="bilinear"),
    "MaxNumBoundingBoxes_fill": lambda M: M.layers.MaxNumBoundingBoxes(3, fill_value=-1),
    "StringLookup_vocabulary": lambda M: M.layers.StringLookup(vocabulary=["a", "b"], num_oov_indices=2),
    "Lambda_named_function": lambda M: M.layers.Lambda(_identity, arguments={}),
    "IntegerLookup_vocabulary": lambda M: M.layers.IntegerLookup(vocabulary=[3, 5], max_tokens=8,
                                                                 invert=False, oov_token=0),
}


def _classes_in_both() -> list[str]:
    names = []
    for name in dir(keras.layers):
        theirs, ours = getattr(keras.layers, name), getattr(sn.layers, name, None)
        if inspect.isclass(theirs) and issubclass(theirs, keras.layers.Layer) and inspect.isclass(ours):
            names.append(name)
    return sorted(names)


CLASSES = _classes_in_both()
CASES = {**{name: REQUIRED.get(name, lambda M, name=name: getattr(M.layers, name)())
            for name in CLASSES}, **NON_DEFAULT}


def _pair(case: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CASES[case](keras), CASES[case](sn)


def _same(ours, theirs, where: str = "config") -> None:
    """Equal, with the same types all the way down (a tuple is not a list, 1 is not 1.0; Keras'
    ``TrackedList`` is a list)."""
    assert _kind(ours) is _kind(theirs), f"{where}: {ours!r} ({type(ours).__name__}) != " \
                                       f"{theirs!r} ({type(theirs).__name__})"
    if isinstance(theirs, dict):
        assert ours.keys() == theirs.keys(), (f"{where}: keys only in scratchnet "
                                              f"{sorted(ours.keys() - theirs.keys())}, only in Keras "
                                              f"{sorted(theirs.keys() - ours.keys())}")
        for key in theirs:
            _same(ours[key], theirs[key], f"{where}[{key!r}]")
    elif isinstance(theirs, list | tuple):
        assert len(ours) == len(theirs), f"{where}: {ours!r} != {theirs!r}"
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            _same(a, b, f"{where}[{i}]")
    else:
        assert ours == theirs, f"{where}: {ours!r} != {theirs!r}"


def _kind(value) -> type:
    return list if isinstance(value, list) else dict if isinstance(value, dict) else type(value)


def _copied(value):
    """A copy of a config's dicts, lists and tuples (a Keras ``TrackedList`` as a list), the rest
    as it is."""
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copied(v) for v in value]
    return tuple(_copied(v) for v in value) if isinstance(value, tuple) else value


def _without_name(config: dict) -> dict:
    return {k: v for k, v in config.items() if k != "name"}


def test_the_sweep_covers_every_shared_class():
    assert len(CLASSES) > 150  # every keras.layers class scratchnet has, aliases included
    assert set(REQUIRED) <= set(CLASSES)


@pytest.mark.parametrize("case", sorted(CASES))
def test_get_config_is_keras(case):
    theirs, ours = _pair(case)
    _same(_without_name(ours.get_config()), _without_name(theirs.get_config()))


# Keras cannot rebuild these from their configs either (an unregistered function, by name only).
NOT_REBUILT = {"Lambda_named_function"}


@pytest.mark.parametrize("case", sorted(set(CASES) - NOT_REBUILT))
def test_each_library_rebuilds_the_others_config(case):
    theirs, ours = _pair(case)
    keras_config, our_config = theirs.get_config(), ours.get_config()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # (a copy each: Keras' RNN.from_config pops the cell from the dict it is given)
        ours_from_keras = type(ours).from_config(_copied(keras_config))
        theirs_from_ours = type(theirs).from_config(_copied(our_config))
    _same(ours_from_keras.get_config(), keras_config)
    _same(theirs_from_ours.get_config(), our_config)
