"""MelSpectrogram against Keras 3.15: the mel filter matrix (FORWARD_RTOL); the linear mel power
(power_to_db=False) and the decibels within the float32 bounds stated below, for windows, lengths
and strides; output shapes as Keras' layer actually gives them; config and to_keras/from_keras.
Without Keras: tests/test_mel_spectrogram.py."""

import keras
import numpy as np
import pytest

import scratchnet as sn
import tfnet
from parity_tests.driver import FORWARD_RTOL, assert_close

MEL = sn.layers.MelSpectrogram
# Keras' MelSpectrogram runs in float32 only (its stft refuses float64 inside the layer). On these
# white-noise clips its float32 mel power is up to 1.5e-5 (of the largest value) from the exact
# (float64) result: measured, and asserted below. So the formula is checked by scratchnet's
# float64 result against Keras' float32 one within MEL_RTOL (twice that), and scratchnet's own
# float32 result must be as close to the exact one as Keras' is (within a factor 2). Decibels
# magnify a small bin's rounding (Keras' float32 dB is up to 0.017 dB from the exact value on
# these clips), so the dB step is checked on its own: Keras' float32 power through scratchnet's
# power_to_db against Keras' dB output, at FORWARD_RTOL.
MEL_RTOL = 3e-5


def _compare(kwargs, x):
    layer = MEL(**kwargs)
    ours32 = layer(x)
    ours64 = layer.forward(x.astype(np.float64))  # (layer(x) casts to floatx)
    assert ours64.dtype == np.float64
    theirs = np.asarray(keras.layers.MelSpectrogram(**kwargs)(x))
    assert_close(ours64, theirs, MEL_RTOL, "mel power (float64) against Keras (float32)")
    scale = np.abs(ours64).max()
    keras_error, our_error = np.abs(theirs - ours64).max() / scale, np.abs(ours32 - ours64).max() / scale
    assert our_error <= 2 * keras_error + 1e-7, (our_error, keras_error)
    assert ours32.dtype == np.float32 and ours32.shape[1:] == layer.output_shape
    return ours32


CASES = [
    dict(fft_length=256, sequence_stride=128, num_mel_bins=40, sampling_rate=8000),
    dict(fft_length=512, sequence_length=400, sequence_stride=160, window="hamming", mag_exp=1.0),
    dict(fft_length=256, sequence_stride=100, window=None, min_freq=100.0, max_freq=3000),
    dict(),  # Keras' defaults: 2048-point frames every 512 samples, 128 mel bins at 16 kHz
]


def _clips(n=2, samples=4000, seed=0):
    return np.random.default_rng(seed).normal(size=(n, samples)).astype(np.float32)


def test_mel_filter_matrix_matches_keras():
    """In float64: in float32 the filters' edges are logs near 2840 mel, whose last bit (2.4e-4
    mel) TensorFlow's and NumPy's float32 log round differently, which moves a weight by up to
    ~1e-5 across a 44-mel-wide filter; in float64 the two agree to rounding."""
    from scratchnet.layers.audio import linear_to_mel_weight_matrix

    for args in [(20, 129, 8000, 125.0, 3800.0), (64, 257, 16000, 20.0, 8000.0)]:
        theirs = keras.layers.MelSpectrogram().linear_to_mel_weight_matrix(*args, dtype="float64")
        ours = linear_to_mel_weight_matrix(*args, dtype="float64")
        assert ours.dtype == np.float64
        assert_close(ours, np.asarray(theirs), FORWARD_RTOL, "mel matrix")


@pytest.mark.parametrize("kwargs", CASES, ids=str)
def test_linear_mel_power_matches_keras(kwargs):
    _compare({**kwargs, "power_to_db": False}, _clips())


@pytest.mark.parametrize("kwargs", CASES + [dict(fft_length=256, sequence_stride=64, top_db=20.0,
                                                 ref_power=2.0)], ids=str)
def test_decibels_match_keras(kwargs):
    from scratchnet.layers.audio import power_to_db

    x = _clips(seed=1)
    power = np.asarray(keras.layers.MelSpectrogram(**{**kwargs, "power_to_db": False})(x))
    theirs = np.asarray(keras.layers.MelSpectrogram(**kwargs)(x))
    args = {k: kwargs[k] for k in ("min_power", "ref_power", "top_db") if k in kwargs}
    assert_close(power_to_db(power, **args), theirs, FORWARD_RTOL, "decibels of Keras' power")
    ours = MEL(**kwargs)(x)
    assert ours.max() - ours.min() <= kwargs.get("top_db", 80.0) + 1e-4  # the batch-wide floor
    assert np.isclose(ours.max(), theirs.max(), rtol=1e-4)


def test_config_and_conversion_match_keras():
    layer = MEL(fft_length=512, sequence_stride=128, num_mel_bins=32, window="hamming", top_db=60.0)
    kconfig = keras.layers.MelSpectrogram(fft_length=512, sequence_stride=128, num_mel_bins=32,
                                          window="hamming", top_db=60.0).get_config()
    for key, value in layer.get_config().items():
        if key != "name":
            assert value == kconfig[key], key
    back = tfnet.convert.layer_from_keras(tfnet.convert.layer_to_keras(layer))
    assert back.get_config() == layer.get_config()
