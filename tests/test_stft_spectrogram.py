"""STFTSpectrogram without Keras: a pure tone lights its frequency bin; the kernels are the DFT
(numpy.fft.rfft of each windowed frame); every mode's backward pass against float64 finite
differences, input and both kernels, for both layouts and paddings; config; errors. Keras' numbers:
parity_tests/test_stft_spectrogram_keras.py."""

import numpy as np
import pytest

import scratchnet as sn
from tests.gradcheck import check_layer

STFT = sn.layers.STFTSpectrogram
MODES = ["log", "magnitude", "psd", "real", "imag", "angle", "stft"]


def test_a_pure_tone_lights_its_bin():
    rate, tone = 8000, 1000.0  # bin 1000 / (8000 / 256) = 32 of a 256-point FFT
    t = np.arange(4000) / rate
    x = np.sin(2 * np.pi * tone * t).astype(np.float32)[None, :, None]
    spec = STFT(mode="magnitude", frame_length=256)(x)[0]  # (frames, 129)
    assert spec.shape == (30, 129)
    assert set(np.argmax(spec, axis=1)) == {32}


def test_the_kernels_are_the_windowed_dft():
    x = np.random.default_rng(0).normal(size=(1, 64, 1))
    layer = STFT(mode="stft", frame_length=64, fft_length=128, window="hann", scaling=None)
    out = layer(x.astype(np.float32))[0, 0]  # one frame: [Re (65), Im (65)]
    import scipy.signal

    window = scipy.signal.get_window("hann", 64, False)
    expected = np.fft.rfft(x[0, :, 0] * window, n=128)
    np.testing.assert_allclose(out[:65], expected.real, atol=1e-4)
    np.testing.assert_allclose(out[65:], expected.imag, atol=1e-4)
    psd = STFT(mode="psd", frame_length=64, fft_length=128, window="hann", scaling=None)(x.astype(np.float32))
    power = np.abs(expected) ** 2
    power[1:-1] *= 2  # the negative frequencies folded in
    np.testing.assert_allclose(psd[0, 0], power, rtol=1e-4, atol=1e-4 * power.max())


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("data_format, padding, expand_dims", [
    ("channels_last", "valid", False), ("channels_last", "same", True),
    ("channels_first", "same", False), ("channels_first", "valid", True)])
def test_backward_matches_finite_differences(mode, data_format, padding, expand_dims, float64):
    rng = np.random.default_rng(1)
    shape = (2, 19) if data_format == "channels_first" else (19, 2)
    layer = STFT(mode=mode, frame_length=6, frame_step=4, fft_length=8, padding=padding,
                 expand_dims=expand_dims, data_format=data_format)
    layer.ensure_built(shape, rng)
    # random kernels: the DFT's imaginary kernel is 0 at 0 Hz and at Nyquist, where Im = 0 puts
    # "angle" on atan2's branch cut (a jump of 2 pi that no finite difference can cross)
    layer.set_weights([rng.normal(size=w.shape) for w in layer.get_weights()])
    check_layer(layer, rng.normal(size=(2, *shape)), rng)


def test_weights_shapes_and_config():
    layer = STFT(mode="real", frame_length=100, window="hamming", periodic=True, name="spec")
    out = layer(np.zeros((2, 1000, 3), np.float32))
    assert out.shape == (2, 19, 3 * 65) and layer.output_shape == (19, 195)
    assert [p.name for p in layer.weights] == ["spec/real_kernel"]  # no imag_kernel for "real"
    assert layer.real_kernel.shape == (100, 1, 65)
    assert STFT(mode="angle").weights == []  # no kernels before it is built
    config = layer.get_config()
    policy = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
              "registered_name": None}  # Keras' Layer.get_config entries: trainable, dtype
    assert config == {"name": "spec", "trainable": True, "dtype": policy, "mode": "real",
                      "frame_length": 100, "frame_step": None,
                      "fft_length": None, "window": "hamming", "periodic": True, "scaling": "density",
                      "padding": "valid", "data_format": "channels_last", "expand_dims": False}
    assert STFT(**config).get_config() == config
    again = sn.layers.deserialize(sn.layers.serialize(layer))
    assert again.get_config() == config


@pytest.mark.parametrize("kwargs, match", [
    (dict(mode="power"), "Output mode is invalid"), (dict(scaling="l2"), "Scaling is invalid"),
    (dict(padding="causal"), "Padding is invalid"), (dict(frame_step=300), "frame_step"),
    (dict(frame_step=0), "frame_step"), (dict(fft_length=128), "fft_length` should be not less"),
    (dict(window="no_such_window"), "window"), (dict(frame_length=0), "frame_length"),
    (dict(frame_length=2.5), "frame_length"), (dict(data_format="NCW"), "data_format"),
    (dict(frame_length=1), "needs an explicit frame_step")])
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        STFT(**kwargs)


def test_bad_inputs_raise():
    with pytest.warns(UserWarning, match="power of two"):
        STFT(fft_length=300)
    with pytest.raises(TypeError, match="Expected `float16`, `float32` or `float64`"):
        STFT(frame_length=8)(np.zeros((1, 20, 1), np.int32))
    with pytest.raises(ValueError, match="expected ndim=3"):
        STFT(frame_length=8)(np.zeros((1, 20), np.float32))
    with pytest.raises(ValueError, match="shorter than one frame"):
        STFT(frame_length=8)(np.zeros((1, 5, 1), np.float32))
    with pytest.raises(ValueError, match="side should be"):
        sn.initializers.STFT("both")
    with pytest.raises(ValueError, match="shape of `window`"):
        sn.initializers.STFT(window=[1.0, 2.0])((4, 1, 3), "float32")
