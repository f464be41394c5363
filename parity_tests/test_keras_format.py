"""The ``.keras`` and ``.weights.h5`` files scratchnet writes are Keras' own, and it reads Keras'.

Each direction is checked on models that together use every scratchnet layer:

- scratchnet -> ``model.save("m.keras")`` -> ``keras.models.load_model``: the same predictions
  (1e-6 relative: the same float32 weights through two implementations of small models), Keras
  comes back compiled with the equivalent optimizer, loss and metrics, and one more training step
  in each framework gives the same weights (so the optimizer variables went across in Keras'
  layout and order);
- Keras -> ``kmodel.save("m.keras")`` -> ``sn.load_model``: weights bit for bit, the same
  predictions, the same compile settings, the same next step;
- ``.weights.h5`` both ways, into a twin that had other weights.

Keras is told to treat its own warnings as errors while loading, so a file it only half reads
("Skipping variable loading for optimizer ...") fails the test.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest

import scratchnet as sn
import tfnet
from parity_tests.driver import TRAJECTORY_RTOL, assert_close

L = sn.layers
SAVE_RTOL = 1e-6  # predictions of the same float32 weights; the models are small


def _keras_load(path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return keras.models.load_model(path)


def _keras_input(x):
    """Keras takes strings as a tf.string tensor, not a NumPy ``str_`` array."""
    if isinstance(x, list):  # a model of several inputs
        return [_keras_input(item) for item in x]
    if x.dtype.kind == "U":
        import tensorflow as tf

        return tf.constant(x)
    return x


def _predict_keras(kmodel, x):
    return np.asarray(kmodel(_keras_input(x), training=False))


# ----------------------------------------------------------------------------- the models
def _image_model():
    model = sn.Sequential([
        L.Input((6, 6, 2)), L.Conv2D(3, 2, padding="same", activation="relu"), L.MaxPooling2D(2),
        L.Flatten(), L.Dropout(0.25, seed=7), L.Dense(4), L.Activation("tanh"), L.Dense(3),
        L.Softmax()], seed=1, name="images")
    model.compile(optimizer=sn.optimizers.Adam(amsgrad=True),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).random((10, 6, 6, 2)).astype(np.float32)
    y = np.arange(10) % 3
    return model, x, y


def _text_model():
    lookup = L.StringLookup()
    lookup.adapt(np.array(["to", "be", "or", "not", "to", "be"]))
    model = sn.Sequential([L.Input((2,), dtype="string"), lookup, L.Embedding(5, 3), L.Flatten(),
                           L.Dense(2, activation="softmax")], seed=2, name="text")
    model.compile(optimizer=sn.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
                  loss=sn.losses.CategoricalCrossentropy(), metrics=["categorical_accuracy"])
    x = np.array([["to", "be"], ["or", "not"], ["be", "xyz"], ["not", "to"]])
    y = np.eye(2, dtype=np.float32)[[0, 1, 1, 0]]
    return model, x, y


def _ids_model():
    model = sn.Sequential([L.Input((3,), dtype="int64"), L.IntegerLookup(vocabulary=[5, 7, 9]),
                           L.CategoryEncoding(4, output_mode="count"), L.Dense(2)],
                          seed=3, name="ids")
    model.compile(optimizer=sn.optimizers.RMSprop(momentum=0.5, centered=True), loss="mse")
    x = np.array([[5, 7, 7], [9, 1, 5], [7, 7, 7], [2, 3, 9]])
    y = np.random.default_rng(1).random((4, 2)).astype(np.float32)
    return model, x, y


def _sequence_model():
    model = sn.Sequential([
        L.Input((10, 3)), L.Conv1D(4, 3, activation="relu"), L.MaxPooling1D(2),
        L.AveragePooling1D(2), L.GlobalAveragePooling1D(), L.Dense(2, activation="sigmoid")],
        seed=4, name="sequences")
    model.compile(optimizer=sn.optimizers.Adagrad(0.05), loss="binary_crossentropy")
    x = np.random.default_rng(2).random((6, 10, 3)).astype(np.float32)
    y = (np.arange(12).reshape(6, 2) % 3 == 0).astype(np.float32)
    return model, x, y


def _recurrent_model():
    model = sn.Sequential([
        L.Input((6, 3)), L.Bidirectional(L.LSTM(3, return_sequences=True)),
        L.GRU(2, return_sequences=True, go_backwards=True), L.LSTM(2, return_sequences=True),
        L.SimpleRNN(2), L.Dense(1)],
        seed=4, name="recurrent")
    model.compile(optimizer=sn.optimizers.RMSprop(0.01), loss="mse")
    x = np.random.default_rng(3).standard_normal((6, 6, 3)).astype(np.float32)
    return model, x, np.random.default_rng(4).random((6, 1)).astype(np.float32)


def _rnn_cells_model():
    """Keras' cell API: RNN(LSTMCell), RNN of a stack of cells (its cells' weights under
    cell/cells/<cell>/vars), and Bidirectional(merge_mode=None) joined by a Subtract."""
    inputs = sn.Input((6, 3))
    x = L.RNN(L.LSTMCell(3), return_sequences=True)(inputs)
    x = L.RNN(L.StackedRNNCells([L.SimpleRNNCell(3), L.GRUCell(2)]), return_sequences=True)(x)
    forward, backward = L.Bidirectional(L.GRU(2), merge_mode=None)(x)
    model = sn.Model(inputs, L.Dense(1)(L.Subtract()([forward, backward])), name="rnn_cells")
    sn.utils.set_random_seed(37)
    model.compile(optimizer=sn.optimizers.Adam(0.01), loss="mse")
    x = np.random.default_rng(38).standard_normal((6, 6, 3)).astype(np.float32)
    return model, x, np.random.default_rng(39).random((6, 1)).astype(np.float32)


def _conv_lstm_model():
    """ConvLSTM2D returning frames, reshaped into rows for a ConvLSTM1D (weights under cell/vars)."""
    model = sn.Sequential([
        L.Input((3, 5, 4, 2)), L.ConvLSTM2D(2, 3, padding="same", return_sequences=True),
        L.Reshape((3, 20, 2)), L.ConvLSTM1D(2, 3, strides=2), L.Flatten(), L.Dense(1)],
        seed=40, name="conv_lstm")
    model.compile(optimizer=sn.optimizers.Adam(0.01), loss="mse")
    x = np.random.default_rng(41).standard_normal((6, 3, 5, 4, 2)).astype(np.float32)
    return model, x, np.random.default_rng(42).random((6, 1)).astype(np.float32)


def _conv_lstm3d_model():
    """ConvLSTM3D on short clips of small volumes (weights under cell/vars)."""
    model = sn.Sequential([L.Input((2, 3, 3, 2, 1)), L.ConvLSTM3D(2, 2, padding="same"), L.Flatten(),
                           L.Dense(1)], seed=43, name="conv_lstm3d")
    model.compile(optimizer=sn.optimizers.Adam(0.01), loss="mse")
    x = np.random.default_rng(44).standard_normal((4, 2, 3, 3, 2, 1)).astype(np.float32)
    return model, x, np.random.default_rng(45).random((4, 1)).astype(np.float32)


def _sequence_max_model():
    model = sn.Sequential([L.Input((8, 2)), L.AveragePooling1D(2), L.Conv1D(3, 2, padding="same"),
                           L.GlobalMaxPooling1D(), L.Dense(2)], seed=8, name="sequence_max")
    model.compile(optimizer=sn.optimizers.SGD(0.05), loss=sn.losses.MeanAbsoluteError())
    x = np.random.default_rng(6).random((6, 8, 2)).astype(np.float32)
    y = np.random.default_rng(7).random((6, 2)).astype(np.float32)
    return model, x, y


def _pixels_model():
    model = sn.Sequential([
        L.Input((8, 8, 2)), L.Rescaling(1 / 255.0), L.Resizing(6, 6), L.AveragePooling2D(2),
        L.Conv2D(3, 2), L.GlobalMaxPooling2D(), L.Dense(3), L.Softmax()], seed=5, name="pixels")
    model.compile(optimizer=sn.optimizers.Nadam(0.01), loss="sparse_categorical_crossentropy")
    x = (np.random.default_rng(3).random((6, 8, 8, 2)) * 255).astype(np.float32)
    y = np.arange(6) % 3
    return model, x, y


def _global_pool_model():
    model = sn.Sequential([L.Input((5, 5, 2)), L.Conv2D(2, 3, padding="same"),
                           L.GlobalAveragePooling2D(), L.Dense(2)], seed=6, name="gap")
    model.compile(optimizer=sn.optimizers.AdamW(0.01), loss="mse")
    x = np.random.default_rng(4).random((5, 5, 5, 2)).astype(np.float32)
    y = np.random.default_rng(5).random((5, 2)).astype(np.float32)
    return model, x, y


def _batchnorm_model():
    """BatchNormalization's moving statistics are weights too (Keras' vars 2 and 3 of the layer).
    The layers before each BN have no bias: its gradient is zero, so it would only carry noise."""
    model = sn.Sequential([
        L.Input((5, 5, 2)), L.Conv2D(3, 2, use_bias=False), L.BatchNormalization(momentum=0.9),
        L.Activation("relu"), L.Flatten(), L.Dense(4, use_bias=False),
        L.BatchNormalization(center=False, epsilon=0.01), L.Dense(3, activation="softmax")],
        seed=10, name="batchnorm")
    model.compile(optimizer=sn.optimizers.SGD(0.05, momentum=0.9),
                  loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(9).normal(0.5, 1.0, (8, 5, 5, 2)).astype(np.float32)
    y = np.arange(8) % 3
    return model, x, y


def _reviews_model():
    """TextVectorization (its vocabulary, bigrams included, in the config) -> Embedding(mask_zero)
    -> masked GlobalAveragePooling1D."""
    texts, labels = sn.datasets.load_reviews(num_samples=12)
    vectorize = L.TextVectorization(max_tokens=40, output_sequence_length=8, ngrams=2)
    vectorize.adapt(texts)
    model = sn.Sequential([L.Input((1,), dtype="string"), vectorize,
                           L.Embedding(40, 3, mask_zero=True), L.GlobalAveragePooling1D(),
                           L.Dense(2)], seed=14, name="reviews")
    model.compile(optimizer=sn.optimizers.SGD(0.1, momentum=0.9),
                  loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model, texts[:, None], labels


def _numbers_model():
    """An adapted Normalization (weights mean, variance, count) -> Discretization counts."""
    x = np.random.default_rng(15).normal(2.0, 3.0, size=(8, 3)).astype(np.float32)
    norm = L.Normalization()
    norm.adapt(x)
    model = sn.Sequential([L.Input((3,)), norm,
                           L.Discretization(bin_boundaries=[-0.5, 0.0, 0.5], output_mode="count"),
                           L.Dense(2)], seed=16, name="numbers")
    model.compile(optimizer=sn.optimizers.SGD(0.1), loss="mse")
    return model, x, np.random.default_rng(17).random((8, 2)).astype(np.float32)


def _hashed_model():
    """Hashing (FarmHash and salted SipHash) and HashedCrossing of two hashed ids, one-hot."""
    sn.utils.set_random_seed(18)
    words = sn.Input((1,), dtype="string", name="words")
    crossed = L.HashedCrossing(6, output_mode="one_hot")([L.Hashing(7)(words),
                                                          L.Hashing(5, salt=(3, 9))(words)])
    joined = L.Concatenate()([crossed, L.Hashing(4, output_mode="one_hot", mask_value="to")(words)])
    model = sn.Model(words, L.Dense(2, name="out")(joined), name="hashed")
    model.compile(optimizer=sn.optimizers.Adam(0.01), loss="mse")
    x = np.array([["to"], ["be"], ["or"], ["not"], ["to"], ["be"]])
    return model, x, np.random.default_rng(19).random((6, 2)).astype(np.float32)


def _merging_model():
    """A functional graph (Keras' "Functional" config with inbound nodes): every merging layer,
    a fork, and a layer shared by two branches."""
    sn.utils.set_random_seed(11)
    inputs = sn.Input((4,), name="features")
    shared = L.Dense(3, activation="tanh", name="shared")
    a, b = shared(inputs), shared(L.Dense(4, name="mix")(inputs))
    merged = L.Concatenate()([L.Add()([a, b]), L.Subtract()([a, b]), L.Multiply()([a, b]),
                              L.Average()([a, b]), L.Dot(axes=1, normalize=True)([a, b]),
                              L.Maximum()([a, b]), L.Minimum()([a, b])])
    model = sn.Model(inputs, L.Dense(2, name="out")(merged), name="merging")
    model.compile(optimizer=sn.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    x = np.random.default_rng(12).normal(size=(6, 4)).astype(np.float32)
    y = np.random.default_rng(13).normal(size=(6, 2)).astype(np.float32)
    return model, x, y


def _augmentation_model():
    """The augmentation layers are identity at inference, so predictions compare; their config
    (factors, fill modes, seeds) is what the file carries. RandomCrop keeps the whole 6x6 image
    here: at inference Keras 3.15.1 returns its input unchanged where scratchnet crops the centre
    (RandomCrop's docstring), the same thing only when the crop is the whole image."""
    model = sn.Sequential([
        L.Input((6, 6, 3)), L.RandomFlip("horizontal", seed=1), L.RandomRotation(0.1, seed=2),
        L.RandomZoom((-0.2, 0.1), fill_mode="constant", seed=3),
        L.RandomTranslation(0.1, (-0.2, 0.2), fill_mode="nearest", seed=4),
        L.RandomContrast(0.2, seed=5), L.RandomBrightness((-0.1, 0.2), value_range=(0, 1), seed=6),
        L.RandomCrop(6, 6, seed=7), L.Conv2D(2, 3), L.Flatten(), L.Dense(3, activation="softmax")],
        seed=11, name="augmentation")
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(10).random((6, 6, 6, 3)).astype(np.float32)
    y = np.arange(6) % 3
    return model, x, y


def _augmentation_more_model():
    """The colour, mixing and warping augmentation layers (scratchnet/layers/augmentation_*.py):
    inactive at inference but AutoContrast and CLAHE, which both frameworks apply there alike. Equalization
    is left out: Keras 3.15.1 cannot load a file that holds one (parity_tests/
    test_augmentation_more_keras.py::test_keras_model_skips_equalization)."""
    model = sn.Sequential([
        L.Input((6, 6, 3)), L.RandomGrayscale(0.2), L.RandomHue(0.1, value_range=(0, 1), seed=1),
        L.RandomSaturation((0.4, 0.6), value_range=(0, 1), seed=2),
        L.RandomColorDegeneration(0.2, value_range=(0, 1), seed=3),
        L.RandomColorJitter(value_range=(0, 1), brightness_factor=0.1, hue_factor=0.1, seed=4),
        L.RandomInvert(0.1, value_range=(0, 1), seed=5), L.Solarization(0.1, (0.5, 0.9), value_range=(0, 1)),
        L.AutoContrast((0, 1)), L.RandomPosterization((5, 8), value_range=(0, 1), seed=6),
        L.RandomSharpness(0.5, value_range=(0, 1), seed=7), L.RandomShear((0.0, 0.1), 0.0, seed=8),
        L.RandomErasing(0.3, value_range=(0, 1), seed=9), L.RandomGaussianBlur(0.3, sigma=0.5, seed=10),
        L.MixUp(seed=11), L.CutMix(0.5, seed=12), L.RandomPerspective(0.2, scale=0.1, seed=13),
        L.RandAugment((0, 1), num_ops=1, factor=0.1, seed=14), L.AugMix((0, 1), chain_depth=1, seed=15),
        L.Pipeline([L.RandomInvert(0.5, value_range=(0, 1), seed=16), L.RandomGrayscale(0.1)]),
        L.RandomElasticTransform(0.5, 0.5, value_range=(0, 1), seed=17),
        L.ContrastLimitedAdaptiveHistogramEqualization((0, 1), tile_grid_size=(2, 2)),  # at inference too
        L.MaxNumBoundingBoxes(4, bounding_box_format="xyxy"),  # images alone: the identity
        L.Conv2D(2, 3), L.Flatten(), L.Dense(3, activation="softmax")], seed=11, name="augmentation_more")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(14).random((6, 6, 6, 3)).astype(np.float32)
    y = np.arange(6) % 3
    return model, x, y


def _shapes_model():
    """Reshape (a -1 included) around a Conv1D, LeakyReLU with both slopes, and a ReLU with all
    three of its arguments."""
    model = sn.Sequential([L.Input((12,)), L.Dense(12), L.LeakyReLU(), L.Reshape((4, 3)),
                           L.Conv1D(2, 2), L.Reshape((-1,)), L.LeakyReLU(negative_slope=0.1),
                           L.ReLU(max_value=2.0, negative_slope=0.2, threshold=0.1),
                           L.Dense(3)], seed=21, name="shapes")
    model.compile(optimizer=sn.optimizers.Adam(0.01),
                  loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(22).normal(size=(6, 12)).astype(np.float32)
    return model, x, np.arange(6) % 3



def _decoder_model():
    """An autoencoder's decoder: Conv2DTranspose, upsampling (nearest and bilinear), padding,
    cropping, PReLU with shared axes, LayerNormalization over two axes, ELU, Identity, Permute."""
    model = sn.Sequential([
        L.Input((6,)), L.Dense(2 * 3 * 4), L.PReLU(), L.Reshape((2, 3, 4)), L.UpSampling2D(),
        L.ZeroPadding2D(((1, 0), (1, 2))), L.Conv2D(3, 3, activation="elu"),
        L.Conv2DTranspose(3, 3, strides=2, padding="same", output_padding=1),
        L.UpSampling2D((1, 2), interpolation="bilinear"), L.Cropping2D((0, 1)),
        L.PReLU(alpha_initializer="ones", shared_axes=[1, 2]), L.LayerNormalization(axis=[1, 2]),
        L.ELU(alpha=0.5), L.Identity(), L.Permute((2, 1, 3)), L.Flatten(), L.Dense(3)],
        seed=23, name="decoder")
    model.compile(optimizer=sn.optimizers.Adam(0.01),
                  loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(24).normal(size=(6, 6)).astype(np.float32)
    return model, x, np.arange(6) % 3


def _masked_sequence_model():
    """Masking in front of an LSTM (padded steps of -1), then an encoder-decoder's RepeatVector,
    1D padding, cropping and upsampling."""
    model = sn.Sequential([
        L.Input((5, 2)), L.Masking(mask_value=-1.0), L.LSTM(3), L.RepeatVector(4),
        L.ZeroPadding1D((1, 2)), L.Cropping1D((2, 0)), L.UpSampling1D(2), L.Flatten(), L.Dense(2)],
        seed=25, name="masked_sequence")
    model.compile(optimizer="rmsprop", loss="mse")
    rng = np.random.default_rng(26)
    x = rng.normal(size=(6, 5, 2)).astype(np.float32)
    x[1, 3:] = x[4, 1:] = -1.0
    return model, x, rng.normal(size=(6, 2)).astype(np.float32)


def _noise_model():
    """The layers that draw noise in training (identity at inference): configs and seeds travel."""
    model = sn.Sequential([
        L.Input((5, 5, 2)), L.GaussianNoise(0.2, seed=1), L.Conv2D(3, 2),
        L.SpatialDropout2D(0.3, seed=2), L.GaussianDropout(0.1, seed=3), L.Reshape((-1, 3)),
        L.SpatialDropout1D(0.2, seed=4), L.Flatten(), L.Dense(3)], seed=27, name="noise")
    model.compile(optimizer="sgd", loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(28).random((6, 5, 5, 2)).astype(np.float32)
    return model, x, np.arange(6) % 3


def _video_model():
    """TimeDistributed around a convolution, a pooling and a Flatten, then a GRU over the frames;
    Keras keeps the wrapped layer's weights under ``layer/vars`` (.keras), ``time_distributed/conv2d``
    (.h5)."""
    model = sn.Sequential([
        L.Input((3, 5, 5, 1)), L.TimeDistributed(L.Conv2D(2, 2, activation="relu")),
        L.TimeDistributed(L.MaxPooling2D(2)), L.TimeDistributed(L.Flatten()), L.GRU(3), L.Dense(2)],
        seed=29, name="video")
    model.compile(optimizer="adam", loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(30).random((6, 3, 5, 5, 1)).astype(np.float32)
    return model, x, np.arange(6) % 2


def _spectral_model():
    """SpectralNormalization around a Conv2D and a Dense: Keras saves the kernel twice (as the
    wrapper's variable and as the wrapped layer's), with ``vector_u`` between them."""
    model = sn.Sequential([
        L.Input((5, 5, 2)), L.SpectralNormalization(L.Conv2D(3, 2, activation="relu")), L.Flatten(),
        L.SpectralNormalization(L.Dense(2), power_iterations=2)], seed=39, name="spectral")
    model.compile(optimizer="adam", loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(40).normal(size=(6, 5, 5, 2)).astype(np.float32)
    return model, x, np.arange(6) % 2


def _audio_model():
    """MelSpectrogram in front of a small convnet over the (mel bins, frames) image."""
    model = sn.Sequential([
        L.Input((1200,)), L.MelSpectrogram(fft_length=128, sequence_stride=64, num_mel_bins=16,
                                           sampling_rate=8000),
        L.Reshape((16, 19, 1)), L.Conv2D(2, 3, activation="relu"), L.GlobalAveragePooling2D(),
        L.Dense(2)], seed=41, name="audio")
    model.compile(optimizer="adam", loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(42).normal(size=(6, 1200)).astype(np.float32)
    return model, x, np.arange(6) % 2


def _stft_model():
    """STFTSpectrogram (trainable kernels, stereo in, an image of (frames, bins, channels) out) in
    front of a small convnet: the two kernels go into the files and move with the step after."""
    model = sn.Sequential([
        L.Input((300, 2)), L.STFTSpectrogram(mode="log", frame_length=32, frame_step=16, window="hamming",
                                             expand_dims=True),
        L.Conv2D(2, 3, activation="relu"), L.GlobalAveragePooling2D(), L.Dense(2)], seed=43, name="stft")
    model.compile(optimizer="adam", loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(44).normal(size=(6, 300, 2)).astype(np.float32)
    return model, x, np.arange(6) % 2


def _tied_language_model():
    """ReversibleEmbedding called twice (ids -> vectors, then hidden -> logits with the same
    table, soft-capped): Keras records the second call's reverse=True on its node. Adam: the tied
    table's gradient is dense (parity-notes)."""
    sn.utils.set_random_seed(45)
    ids = sn.Input((5,), dtype="int32")
    embedding = L.ReversibleEmbedding(11, 4, logit_soft_cap=5.0)
    hidden = L.Dense(4, activation="tanh")(embedding(ids))
    model = sn.Model(ids, embedding(hidden, reverse=True), name="tied_lm", seed=45)
    model.compile(optimizer="adam", loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(46)
    return model, rng.integers(0, 11, (6, 5)), rng.integers(0, 11, (6, 5))


def _volume_model():
    """The 3-D layers: Conv3D (groups, dilation, a regularizer), the poolings, the reshaping
    layers and Conv3DTranspose on (depth, height, width, channels) volumes."""
    model = sn.Sequential([
        L.Input((4, 6, 6, 2)), L.Conv3D(4, 3, padding="same", groups=2, activation="relu",
                                        kernel_regularizer=sn.regularizers.L2(2 ** -6)),
        L.MaxPooling3D(2, padding="same"), L.ZeroPadding3D(((1, 0), (1, 1), (0, 1))),
        L.Cropping3D(((0, 1), (1, 0), (0, 0))), L.UpSampling3D((2, 1, 1)),
        L.Conv3D(4, 2, dilation_rate=(1, 2, 1), activation="tanh"), L.AveragePooling3D((1, 2, 2)),
        L.Conv3DTranspose(3, 2, strides=(1, 2, 2), output_padding=(0, 1, 0)),
        L.GlobalMaxPooling3D(keepdims=True), L.Reshape((1, 1, 3, 1)), L.GlobalAveragePooling3D(),
        L.Dense(3)], seed=43, name="volumes")
    model.compile(optimizer=sn.optimizers.Adam(0.01),
                  loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(44).normal(size=(6, 4, 6, 6, 2)).astype(np.float32)
    return model, x, np.arange(6) % 3


def _volume_noise_model():
    """SpatialDropout3D (random in training: no steps compared) between two Conv3Ds."""
    model = sn.Sequential([
        L.Input((3, 4, 4, 1)), L.Conv3D(2, 2, activation="relu"), L.SpatialDropout3D(0.3, seed=4),
        L.Conv3D(2, 2), L.Flatten(), L.Dense(2)], seed=45, name="volume_noise")
    model.compile(optimizer="sgd", loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(46).normal(size=(6, 3, 4, 4, 1)).astype(np.float32)
    return model, x, np.arange(6) % 2


def _mobile_model():
    """MobileNet's separable block: DepthwiseConv2D (depth_multiplier 2, its weights "kernel" and
    "bias") and SeparableConv2D ("depthwise_kernel", "pointwise_kernel", "bias"), then the 1-D twins."""
    model = sn.Sequential([
        L.Input((6, 6, 2)), L.DepthwiseConv2D(3, padding="same", depth_multiplier=2, activation="relu"),
        L.SeparableConv2D(3, 3, strides=2, padding="same", depth_multiplier=2), L.Reshape((9, 3)),
        L.DepthwiseConv1D(2, dilation_rate=2, use_bias=False), L.SeparableConv1D(2, 3, activation="tanh"),
        L.Flatten(), L.Dense(3)], seed=31, name="mobile")
    model.compile(optimizer=sn.optimizers.Adam(0.01),
                  loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(32).random((6, 6, 6, 2)).astype(np.float32)
    return model, x, np.arange(6) % 3

def _attention_model():
    """A transformer block (functional): self-attention ``mha(x, x)``, then a second
    MultiHeadAttention with a keyword key, use_causal_mask, value_dim, output_shape and a gate, then a
    GroupQueryAttention with a sliding window. Keras keeps
    each one's weights in query_dense/vars, key_dense/vars, value_dense/vars and output_dense/vars
    under its path. No biases: the key bias has a zero true gradient (the softmax does not see
    it), so its value after a step is rounding noise in either framework and the next-step checks
    here could not compare it; parity_tests/test_attention_keras.py carries biases through files."""
    sn.utils.set_random_seed(31)
    ids = sn.Input((6,), dtype="int32", name="tokens")
    x = L.Embedding(40, 8)(ids)
    h = L.LayerNormalization()(L.Add()([x, L.MultiHeadAttention(2, 4, use_bias=False)(x, x)]))
    h = L.MultiHeadAttention(2, 3, value_dim=2, output_shape=5, use_bias=False, use_gate=True)(
        h, x, key=h, use_causal_mask=True)
    h = L.GroupQueryAttention(2, 4, 2, use_bias=False, sliding_window=3)(h, h)  # _query_dense/vars, ...
    model = sn.Model(ids, L.Dense(3)(L.GlobalAveragePooling1D()(h)), name="attention", seed=31)
    model.compile(optimizer=sn.optimizers.Adam(0.01),
                  loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(32).permutation(40)[:36].reshape(6, 6)  # no id twice (parity-notes)
    return model, x, np.arange(6) % 3


def _luong_bahdanau_model():
    """keras.io's Attention docstring model (query and value ids through a shared Embedding and
    Conv1D, attention, pooled and concatenated), with an AdditiveAttention beside the Attention
    and a causal mask (a keyword Keras records on the node). SGD: no Adam on repeated ids."""
    sn.utils.set_random_seed(41)
    query_ids, value_ids = sn.Input((5,), dtype="int32", name="query"), sn.Input((5,), dtype="int32")
    embedding, conv = L.Embedding(20, 6), L.Conv1D(4, 3, padding="same")
    q, v = conv(embedding(query_ids)), conv(embedding(value_ids))
    luong = L.Attention(use_scale=True, score_mode="concat")([q, v], use_causal_mask=True)
    bahdanau = L.AdditiveAttention()([q, v, v])
    pooled = [L.GlobalAveragePooling1D()(t) for t in (q, luong, bahdanau)]
    model = sn.Model([query_ids, value_ids], L.Dense(3)(L.Concatenate()(pooled)), name="luong", seed=41)
    model.compile(optimizer=sn.optimizers.SGD(0.1, momentum=0.9),
                  loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(42)
    return model, [rng.integers(0, 20, (6, 5)), rng.integers(0, 20, (6, 5))], np.arange(6) % 3


def _small_layers_model():
    """GroupNormalization, UnitNormalization, CenterCrop, Conv1DTranspose, ActivityRegularization,
    RMSNormalization, EinsumDense and activity_regularizer= on a Conv2D, a Dense and the Conv1DTranspose: the
    penalties go into the files and into the step after loading. (Factors that float32 holds
    exactly: Keras keeps a regularizer's factor as a float32 tensor, so its files hold
    0.009999999776482582 for 0.01.)"""
    model = sn.Sequential([
        L.Input((7, 6, 4)), L.GroupNormalization(-1, center=False), L.CenterCrop(5, 4),
        L.GroupNormalization(2, epsilon=1e-4),
        L.Conv2D(2, 2, activation="tanh", activity_regularizer=sn.regularizers.L2(2 ** -6)),
        L.UnitNormalization(axis=[1, 2]), L.Reshape((12, 2)),
        L.Conv1DTranspose(2, 3, strides=2, padding="same",
                          activity_regularizer=sn.regularizers.L1(2 ** -7)),
        L.ActivityRegularization(l1=0.001, l2=0.01), L.RMSNormalization(),
        L.EinsumDense("abc,cd->abd", (24, 3), activation="relu", bias_axes="d"), L.Flatten(),
        L.Dense(3, activity_regularizer=sn.regularizers.L1L2(2 ** -7, 2 ** -6))],
        seed=33, name="small_layers")
    model.compile(optimizer=sn.optimizers.Adam(0.01),
                  loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(34).normal(size=(6, 7, 6, 4)).astype(np.float32)
    return model, x, np.arange(6) % 3


def _selu_model():
    """A self-normalizing network: SELU layers with AlphaDropout (its noise_shape and seed travel;
    Keras 3.15.1 cannot write it to a legacy .h5 file: its layer holds a module)."""
    model = sn.Sequential([
        L.Input((6, 4)), L.Dense(5, activation="selu"),
        L.AlphaDropout(0.1, noise_shape=(None, 1, 5), seed=5), L.Flatten(), L.Dense(4, activation="selu"),
        L.AlphaDropout(0.2), L.Dense(2)], seed=35, name="selu")
    model.compile(optimizer="sgd", loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(36).normal(size=(6, 6, 4)).astype(np.float32)
    return model, x, np.arange(6) % 2


def _adaptive_model():
    """The six adaptive poolings, each to sizes above and below its input's (windows that overlap
    and repeat), with a Dense between so there are weights to train."""
    model = sn.Sequential([
        L.Input((6, 5, 4, 2)), L.AdaptiveMaxPooling3D((4, 3, 6)), L.Dense(3, activation="tanh"),
        L.AdaptiveAveragePooling3D(2), L.Reshape((4, 2, 3)), L.AdaptiveAveragePooling2D((3, 5)),
        L.AdaptiveMaxPooling2D(2), L.Reshape((4, 3)), L.AdaptiveMaxPooling1D(3),
        L.AdaptiveAveragePooling1D(5), L.Flatten(), L.Dense(2)], seed=37, name="adaptive")
    model.compile(optimizer="adam", loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(38).normal(size=(6, 6, 5, 4, 2)).astype(np.float32)
    return model, x, np.arange(6) % 2


MODELS = [_spectral_model, _audio_model, _image_model, _text_model, _ids_model, _sequence_model,
          _recurrent_model,
          _rnn_cells_model,
          _conv_lstm_model, _conv_lstm3d_model, _sequence_max_model,
          _pixels_model, _global_pool_model, _batchnorm_model, _reviews_model,
          _numbers_model, _hashed_model, _merging_model, _augmentation_model, _augmentation_more_model,
          _shapes_model,
          _decoder_model, _masked_sequence_model, _noise_model, _video_model, _mobile_model,
          _attention_model, _luong_bahdanau_model, _small_layers_model, _selu_model, _adaptive_model,
          _volume_model, _volume_noise_model, _stft_model, _tied_language_model]
# Layers that draw random numbers in training: two frameworks cannot take the same step with them.
RANDOM_IN_TRAINING = (L.Dropout, L.RandomFlip, L.RandomRotation, L.RandomZoom, L.RandomTranslation,
                      L.RandomContrast, L.RandomBrightness, L.RandomCrop, L.GaussianNoise,
                      L.GaussianDropout, L.AlphaDropout,  # (SpatialDropout1D/2D/3D are Dropouts)
                      L.RandomGrayscale, L.RandomHue, L.RandomSaturation, L.RandomColorDegeneration,
                      L.RandomColorJitter, L.RandomInvert, L.Solarization, L.RandomPosterization,
                      L.RandomSharpness, L.RandomShear, L.RandomErasing, L.RandomGaussianBlur,
                      L.MixUp, L.CutMix, L.RandomPerspective, L.RandAugment, L.AugMix, L.Pipeline)


def test_the_models_use_every_scratchnet_layer():
    used = {type(layer).__name__ for make in MODELS for layer in make()[0].layers} | {"Input"}
    cells = [getattr(layer, "cell", None) for make in MODELS for layer in make()[0].layers]
    used |= {type(c).__name__ for c in cells if c is not None}  # RNN's cells, and a stack's
    used |= {type(c).__name__ for s in cells if isinstance(s, L.StackedRNNCells) for c in s.cells}
    used |= {"InputLayer"}  # what Input(shape) makes; every model starts with one
    public = {getattr(L, name).__name__ for name in L.__all__  # (MaxPool2D: MaxPooling2D)
              if name not in ("Layer", "ActivatedLayer", "Parameter", "Wrapper", "InputSpec")  # not layers
              and isinstance(getattr(L, name), type)}  # not the function forms (layers.add, ...)
    public -= {"Lambda"}  # Python code, never written to a file: tests/test_lambda.py checks the refusal
    # Keras 3.15.1 cannot load its own Equalization from a file (a symbolic cycle):
    # test_augmentation_more_keras.py::test_keras_model_skips_equalization checks ours both ways
    public -= {"Equalization"}
    assert public <= used, f"no .keras parity model uses {sorted(public - used)}"


# ----------------------------------------------------------------------------- scratchnet -> Keras
def _continue_one_step(model, kmodel, x, y):
    """One more training step in both frameworks from the saved state: the same weights."""
    model.reset_metrics()
    model.train_step(x, y)
    kmodel.train_on_batch(_keras_input(x), y)
    for param, wk in zip(model.weights, kmodel.get_weights(), strict=True):  # moving stats too
        assert_close(param.value, wk, TRAJECTORY_RTOL, f'"{param.name}" after the step after loading')
    assert model.optimizer.iterations == int(kmodel.optimizer.iterations)


@pytest.mark.parametrize("make", MODELS, ids=lambda f: f.__name__.strip("_"))
def test_scratchnet_file_opens_in_keras(make, tmp_path):
    model, x, y = make()
    if not any(isinstance(layer, RANDOM_IN_TRAINING) for layer in model.layers):
        model.fit(x, y, epochs=2, batch_size=4, verbose=0, shuffle=False)
    model.save(tmp_path / "m.keras")
    kmodel = _keras_load(tmp_path / "m.keras")

    assert kmodel.name == model.name
    assert [layer.name for layer in kmodel.layers] == [layer.name for layer in model.layers]
    for wk, ws in zip(kmodel.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(wk, ws)
    assert_close(model.predict(x), _predict_keras(kmodel, x), SAVE_RTOL, "predictions")

    opt, kopt = model.optimizer, kmodel.optimizer
    assert type(kopt).__name__ == type(opt).__name__
    kconfig = kopt.get_config()
    for key, value in opt.get_config().items():
        if key not in ("name", "learning_rate"):
            assert kconfig[key] == value, key
    assert np.float32(kconfig["learning_rate"]) == np.float32(opt.learning_rate)
    assert int(kopt.iterations) == opt.iterations
    assert type(kmodel.loss).__name__ == tfnet.convert.loss_to_keras(model.loss).__class__.__name__
    if not any(isinstance(layer, RANDOM_IN_TRAINING) for layer in model.layers):
        _continue_one_step(model, kmodel, x, y)


def test_never_trained_model_gives_keras_a_fresh_optimizer(tmp_path):
    model, x, y = _ids_model()
    model.save(tmp_path / "m.keras")
    kmodel = _keras_load(tmp_path / "m.keras")
    assert int(kmodel.optimizer.iterations) == 0
    _continue_one_step(model, kmodel, x, y)


def test_learning_rate_schedule_goes_across(tmp_path):
    model, x, y = _global_pool_model()
    schedule = sn.optimizers.schedules.ExponentialDecay(0.05, decay_steps=2, decay_rate=0.5)
    model.compile(optimizer=sn.optimizers.Adam(schedule), loss="mse")
    model.fit(x, y, epochs=3, batch_size=5, verbose=0)
    model.save(tmp_path / "m.keras")
    kmodel = _keras_load(tmp_path / "m.keras")
    klr = kmodel.optimizer.get_config()["learning_rate"]
    assert klr["class_name"] == "ExponentialDecay"
    assert klr["config"]["decay_steps"] == 2 and klr["config"]["decay_rate"] == 0.5
    _continue_one_step(model, kmodel, x, y)


# ----------------------------------------------------------------------------- Keras -> scratchnet
def _keras_models():
    """Models built in Keras itself (adapted lookups keep their vocabulary in assets/)."""
    k = keras.layers
    rng = np.random.default_rng(7)
    images = keras.Sequential([
        keras.Input((6, 6, 2)), k.Conv2D(3, 2, padding="same", activation="relu"),
        k.MaxPooling2D(), k.Flatten(), k.Dropout(0.25, seed=3), k.Dense(4), k.Activation("tanh"),
        k.Dense(3), k.Softmax()], name="k_images")
    images.compile(optimizer=keras.optimizers.Adam(amsgrad=True),
                   loss="sparse_categorical_crossentropy", metrics=["accuracy"], jit_compile=False)
    x_img, y_img = rng.random((8, 6, 6, 2)).astype(np.float32), np.arange(8) % 3

    words = k.StringLookup()
    words.adapt(np.array(["to", "be", "or", "not", "to", "be"]))
    text = keras.Sequential([keras.Input((2,), dtype="string"), words, k.Embedding(5, 3),
                             k.Flatten(), k.Dense(2, activation="softmax")], name="k_text")
    text.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                 loss=keras.losses.CategoricalCrossentropy(), metrics=["categorical_accuracy"],
                 jit_compile=False)
    x_txt = np.array([["to", "be"], ["or", "not"], ["be", "xyz"], ["not", "to"]])
    y_txt = np.eye(2, dtype=np.float32)[[0, 1, 1, 0]]

    codes = k.IntegerLookup()
    codes.adapt(np.array([5, 7, 7, 9, 9, 9]))
    ids = keras.Sequential([keras.Input((3,), dtype="int64"), codes,
                            k.CategoryEncoding(4, output_mode="multi_hot"), k.Dense(2)],
                           name="k_ids")
    ids.compile(optimizer=keras.optimizers.RMSprop(momentum=0.5, centered=True), loss="mse",
                jit_compile=False)
    x_ids, y_ids = np.array([[5, 7, 7], [9, 1, 5], [7, 7, 7], [2, 3, 9]]), rng.random((4, 2))

    return [(images, x_img, y_img), (text, x_txt, y_txt), (ids, x_ids, y_ids.astype(np.float32))]


def test_keras_files_open_in_scratchnet(tmp_path):
    for kmodel, x, y in _keras_models():
        if kmodel.name != "k_images":  # dropout masks differ between frameworks: no steps there
            kmodel.fit(_keras_input(x), y, epochs=2, batch_size=2, verbose=0, shuffle=False)
        path = tmp_path / f"{kmodel.name}.keras"
        kmodel.save(path)
        model = sn.load_model(path)

        assert model.name == kmodel.name
        assert [layer.name for layer in model.layers] == [layer.name for layer in kmodel.layers]
        for ws, wk in zip(model.get_weights(), kmodel.get_weights(), strict=True):
            np.testing.assert_array_equal(ws, wk)
        assert_close(model.predict(x), _predict_keras(kmodel, x), SAVE_RTOL,
                     f"predictions of {kmodel.name}")
        assert type(model.optimizer).__name__ == type(kmodel.optimizer).__name__
        assert model.optimizer.iterations == int(kmodel.optimizer.iterations)
        if kmodel.name != "k_images":
            _continue_one_step(model, kmodel, x, y)


# Keras' legacy HDF5 full-model format (model.save("m.h5")): the Sequential models above here (the
# functional ones in .h5 files: parity_tests/test_legacy_h5_keras.py); and Keras cannot write its
# augmentation layers to one (see test_keras_cannot_write_augmentation_layers_to_h5).
H5_MODELS = [make for make in MODELS if make not in (_hashed_model, _merging_model,
                                                     _attention_model, _luong_bahdanau_model,
                                                     _rnn_cells_model)]  # functional: see above
TWIN_FILES = [(make, ".keras") for make in MODELS] + \
    [(make, ".h5") for make in H5_MODELS if make not in (_augmentation_model, _augmentation_more_model,
                                                          _selu_model)]


@pytest.mark.parametrize("make, suffix", TWIN_FILES, ids=lambda v: v if isinstance(v, str)
                         else v.__name__.strip("_"))
def test_keras_twin_files_open_in_scratchnet(make, suffix, tmp_path):
    """Every layer, loss and optimizer as Keras itself writes them (the twin from to_keras), in a
    .keras file and in a legacy .h5 file: layers, weights, compile settings and the optimizer's
    state (the next step equals the next step of the Keras model that wrote it)."""
    model, x, y = make()
    kmodel = tfnet.to_keras(model)
    trains = not any(isinstance(layer, RANDOM_IN_TRAINING) for layer in model.layers)
    if trains:
        kmodel.fit(_keras_input(x), y, epochs=2, batch_size=4, verbose=0, shuffle=False)
    kmodel.save(tmp_path / f"k{suffix}")
    loaded = sn.load_model(tmp_path / f"k{suffix}")
    for ws, wk in zip(loaded.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_array_equal(ws, wk)
    assert_close(loaded.predict(x), _predict_keras(kmodel, x), SAVE_RTOL, "predictions")
    assert loaded.get_config()["layers"] == model.get_config()["layers"]
    assert type(loaded.optimizer) is type(model.optimizer)
    assert type(loaded.loss) is type(model.loss)
    if trains:
        assert loaded.optimizer.iterations == int(kmodel.optimizer.iterations) > 0
        _continue_one_step(loaded, kmodel, x, y)


def test_keras_adapted_vocabularies_come_across(tmp_path):
    _, (text, _, _), (ids, _, _) = _keras_models()
    for kmodel in (text, ids):
        kmodel.save(tmp_path / "m.keras")
        model = sn.load_model(tmp_path / "m.keras")
        assert model.layers[0].get_vocabulary() == kmodel.layers[0].get_vocabulary()


# ----------------------------------------------------------------------------- .weights.h5
@pytest.mark.parametrize("make", MODELS, ids=lambda f: f.__name__.strip("_"))
def test_weights_h5_both_ways(make, tmp_path):
    model, x, y = make()
    kmodel = tfnet.to_keras(model)
    if not any(isinstance(layer, RANDOM_IN_TRAINING) for layer in model.layers):
        model.fit(x, y, epochs=1, batch_size=4, verbose=0, shuffle=False)
    originals = model.get_weights()

    model.save_weights(tmp_path / "sn.weights.h5")
    kmodel.set_weights([np.zeros_like(w) for w in originals])
    kmodel.optimizer.build(kmodel.trainable_variables)  # so Keras reads the optimizer variables
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kmodel.load_weights(tmp_path / "sn.weights.h5")
    for wk, ws in zip(kmodel.get_weights(), originals, strict=True):
        np.testing.assert_array_equal(wk, ws)
    assert int(kmodel.optimizer.iterations) == model.optimizer.iterations

    kmodel.set_weights([w + 1 for w in originals])
    tfnet.structured.refresh_statistics(kmodel)  # Keras' Normalization: set_weights needs this
    kmodel.save_weights(tmp_path / "k.weights.h5")
    model.load_weights(tmp_path / "k.weights.h5")
    for ws, w in zip(model.get_weights(), originals, strict=True):
        np.testing.assert_array_equal(ws, w + 1)
    assert_close(model.predict(x), _predict_keras(kmodel, x), SAVE_RTOL, "predictions")


# ----------------------------------------------------------------------------- compile settings
def _metrics_model():
    model = sn.Sequential([L.Input((4,)), L.Dense(3, activation="relu"),
                           L.Dense(1, activation="sigmoid")], seed=9, name="metrics")
    model.compile(optimizer=sn.optimizers.SGD(0.1),
                  loss=sn.losses.BinaryCrossentropy(label_smoothing=0.1),
                  metrics=["accuracy", sn.metrics.Precision(thresholds=0.4),
                           sn.metrics.BinaryAccuracy(threshold=0.6)],
                  weighted_metrics=["accuracy", sn.metrics.MeanAbsoluteError()])
    rng = np.random.default_rng(8)
    x = rng.random((16, 4)).astype(np.float32)
    y = (rng.random((16, 1)) > 0.5).astype(np.float32)
    w = rng.random(16).astype(np.float32)
    return model, x, y, w


def test_metrics_and_weighted_metrics_go_across_both_ways(tmp_path):
    """Keras evaluates the loaded model with the same loss and metrics, sample weights included."""
    model, x, y, w = _metrics_model()
    model.save(tmp_path / "m.keras")
    kmodel = _keras_load(tmp_path / "m.keras")
    expected = model.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)
    got = kmodel.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert_close(value, got[key], 1e-5, f"evaluate()[{key!r}] after loading in Keras")

    kmodel.save(tmp_path / "k.keras")
    loaded = sn.load_model(tmp_path / "k.keras")
    again = loaded.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)
    for key, value in expected.items():
        assert_close(again[key], value, 1e-6, f"evaluate()[{key!r}] after the round trip")


def test_keras_model_built_without_an_input_layer(tmp_path):
    kmodel = keras.Sequential([keras.layers.Dense(3, activation="relu"), keras.layers.Dense(2)])
    kmodel.build((None, 4))
    kmodel.save(tmp_path / "k.keras")
    model = sn.load_model(tmp_path / "k.keras")
    assert model.input_shape == (None, 4) and not model.compiled
    x = np.random.default_rng(9).random((5, 4)).astype(np.float32)
    assert_close(model.predict(x), _predict_keras(kmodel, x), SAVE_RTOL, "predictions")


# ----------------------------------------------------------------------------- legacy .h5 files
# (Keras' own .h5 files: test_keras_twin_files_open_in_scratchnet above.)
@pytest.mark.parametrize("make", H5_MODELS, ids=lambda f: f.__name__.strip("_"))
def test_scratchnet_h5_file_opens_in_keras(make, tmp_path):
    model, x, y = make()
    trains = not any(isinstance(layer, RANDOM_IN_TRAINING) for layer in model.layers)
    if trains:
        model.fit(x, y, epochs=2, batch_size=4, verbose=0, shuffle=False)
    with pytest.warns(UserWarning, match="legacy HDF5"):
        model.save(tmp_path / "m.h5")
    kmodel = keras.models.load_model(tmp_path / "m.h5")
    assert [layer.name for layer in kmodel.layers] == [layer.name for layer in model.layers]
    for wk, ws in zip(kmodel.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(wk, ws)
    assert_close(model.predict(x), _predict_keras(kmodel, x), SAVE_RTOL, "predictions")
    assert type(kmodel.optimizer).__name__ == type(model.optimizer).__name__
    assert int(kmodel.optimizer.iterations) == model.optimizer.iterations
    assert np.float32(kmodel.optimizer.learning_rate) == np.float32(model.optimizer.learning_rate)
    # Keras 3.15.1 reads back only the optimizer's iterations and learning rate from a legacy .h5
    # file, its own included, and cannot train the model it loaded ("Unknown variable ... This
    # optimizer can only be called for the variables it was originally built with"), so there is
    # no step after loading to compare. The file holds the whole state, in the order of Keras'
    # optimizer variables (test_keras_h5_files_open_in_scratchnet reads Keras' own files in
    # that order and steps on from them as Keras does).
    if trains:
        import h5py

        from scratchnet import saving_keras

        with h5py.File(tmp_path / "m.h5") as f:
            group = f["optimizer_weights"]
            saved = [np.asarray(group[name][()]) for name in group.attrs["weight_names"]]
        ours = saving_keras._optimizer_variables(model)
        assert len(saved) == len(ours) >= 2  # plain SGD has no slots
        for got, want in zip(saved, ours, strict=True):
            np.testing.assert_array_equal(got, want)


def test_keras_cannot_write_augmentation_layers_to_h5(tmp_path):
    """Keras 3.15.1's legacy HDF5 writer fails on its own augmentation layers (their config holds
    a module): there is no Keras .h5 of such a model to read. scratchnet writes one (above)."""
    model, _, _ = _augmentation_model()
    with pytest.raises(TypeError, match="cannot pickle 'module' object"):
        tfnet.to_keras(model).save(tmp_path / "k.h5")
