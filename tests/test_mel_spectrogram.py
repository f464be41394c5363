"""MelSpectrogram without Keras: a pure tone lights the mel bin whose filter covers its frequency;
the filters are triangles that sum to a partition between their edges; shapes, the dB floor,
config, the argument errors and the refused gradient. Keras parity:
parity_tests/test_mel_spectrogram_keras.py."""

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.layers.audio import hertz_to_mel, linear_to_mel_weight_matrix

MEL = sn.layers.MelSpectrogram


def test_a_pure_tone_lights_its_mel_bin():
    rate, tone = 8000, 1000.0
    t = np.arange(4000) / rate
    x = np.sin(2 * np.pi * tone * t)[None].astype(np.float32)
    layer = MEL(fft_length=512, sequence_stride=256, sampling_rate=rate, num_mel_bins=32, power_to_db=False)
    spec = layer(x)[0]  # (mel bins, frames)
    assert spec.shape == (32, 1 + 4000 // 256) == layer.output_shape
    edges = np.linspace(hertz_to_mel(20.0), hertz_to_mel(4000.0), 34)
    expected = int(np.argmin(np.abs(edges[1:-1] - hertz_to_mel(tone))))  # the filter centred nearest
    assert abs(int(np.argmax(spec[:, 8])) - expected) <= 1


def test_filters_are_triangles_that_overlap_to_one():
    weights = linear_to_mel_weight_matrix(10, 257, 16000, 300.0, 6000.0, dtype="float64")
    assert weights.shape == (257, 10) and np.all(weights[0] == 0) and weights.max() <= 1
    freqs = np.linspace(0, 8000, 257)
    mel = hertz_to_mel(freqs)
    edges = np.linspace(hertz_to_mel(300.0), hertz_to_mel(6000.0), 12)
    inside = (mel > edges[1]) & (mel < edges[-2])  # between the first and the last centre
    np.testing.assert_allclose(weights[inside].sum(axis=1), 1.0, rtol=1e-9)


def test_decibel_floor_and_float64():
    x = np.random.default_rng(0).normal(size=(2, 3000))
    layer = MEL(fft_length=256, sequence_stride=128, num_mel_bins=20, sampling_rate=8000, top_db=30.0)
    out = layer(x.astype(np.float32))
    assert out.dtype == np.float32 and out.max() - out.min() <= 30.0 + 1e-4
    out64 = layer.forward(x)
    assert out64.dtype == np.float64
    # float32 against float64 in decibels: a small bin carries the FFT's float32 rounding relative
    # to the whole clip's energy (Keras' own float32 output is up to 0.017 dB off on white noise)
    np.testing.assert_allclose(out, out64, atol=0.05)


def test_config_errors_and_gradient():
    layer = MEL(fft_length=256, sequence_stride=64, num_mel_bins=16, window="hamming", name="mel")
    config = layer.get_config()
    assert config["sequence_length"] == 256 and config["max_freq"] == 8000
    assert MEL(**config).get_config() == config
    for kwargs, match in [(dict(fft_length=128, sequence_length=256), "fft_length` must be greater"),
                          (dict(window="blackman"), "window"), (dict(num_mel_bins=0), "num_mel_bins"),
                          (dict(min_freq=9000.0), "min_freq")]:
        with pytest.raises(ValueError, match=match):
            MEL(**kwargs)
    with pytest.raises(ValueError, match=r"\(batch, samples\)"):
        MEL()(np.zeros((2, 10, 10), np.float32))
    layer(np.zeros((1, 1024), np.float32))
    layer.compute_input_grad = True
    with pytest.raises(NotImplementedError, match="no gradient"):
        layer.backward(np.zeros((1, 16, 17), np.float32))
