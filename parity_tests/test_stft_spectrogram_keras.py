"""STFTSpectrogram and the STFT initializer against Keras 3.15: kernels (FORWARD_RTOL) for every
window, scaling and periodic setting; every mode's output for both paddings, with and without
expand_dims; the loss and every gradient (kernels trained: GRAD_RTOL) and Adam steps
(TRAJECTORY_RTOL); counts, output shapes and summary rows; config; ``.keras`` files both ways.
Keras' TensorFlow backend runs no channels_first convolution on the CPU, so that layout is checked
against Keras' channels_last output transposed (the layouts are defined so). Finite differences and
errors: tests/test_stft_spectrogram.py."""

import keras
import numpy as np
import pytest

import scratchnet as sn
import tfnet
from parity_tests.driver import FORWARD_RTOL, assert_close, assert_parity, make_twins, random_data

L = sn.layers
MODES = ["log", "magnitude", "psd", "real", "imag", "angle", "stft"]


@pytest.mark.parametrize("side", ["real", "imag"])
@pytest.mark.parametrize("window, scaling, periodic", [
    ("hann", "density", False), ("hamming", "spectrum", True), ("blackman", None, False),
    (None, "density", False), ([0.5, 1.0, 2.0, 1.0, 0.5, 0.25, 0.1, 0.0], "spectrum", False)])
def test_stft_initializer_matches_keras(side, window, scaling, periodic):
    length = 8 if isinstance(window, list) else 200  # arguments up to 2 pi 200 * 128 / 256 rad
    shape = (length, 1, 129)
    ours = sn.initializers.STFT(side, window, scaling, periodic)(shape, "float32")
    theirs = np.asarray(keras.initializers.STFT(side, window, scaling, periodic)(shape, "float32"))
    assert ours.dtype == np.float32
    assert_close(ours, theirs, FORWARD_RTOL, f"STFT {side} kernel")
    assert sn.initializers.STFT(side, window, scaling, periodic).get_config() == \
        keras.initializers.STFT(side, window, scaling, periodic).get_config()
    for name in ("STFTInitializer", "stft", "STFT"):
        assert sn.initializers.get(name).get_config() == keras.initializers.get(name).get_config()


def _clips(shape=(2, 150, 3), seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("padding, expand_dims", [("valid", False), ("same", True), ("same", False)])
def test_every_mode_matches_keras(mode, padding, expand_dims):
    kw = dict(mode=mode, frame_length=32, frame_step=12, fft_length=64, padding=padding,
              expand_dims=expand_dims)
    x = _clips()
    ours = L.STFTSpectrogram(**kw)(x)
    theirs = np.asarray(keras.layers.STFTSpectrogram(**kw)(x))
    assert_close(ours, theirs, FORWARD_RTOL, f"STFTSpectrogram {kw}")
    first = L.STFTSpectrogram(**kw, data_format="channels_first")(np.ascontiguousarray(x.transpose(0, 2, 1)))
    assert_close(first, theirs.transpose(0, 3, 1, 2) if expand_dims else theirs.transpose(0, 2, 1),
                 FORWARD_RTOL, "channels_first against Keras' channels_last, transposed")


@pytest.mark.parametrize("kw", [dict(), dict(frame_length=100, window="hamming", periodic=True),
                                dict(frame_length=64, frame_step=64, window=None, scaling=None),
                                dict(frame_length=48, fft_length=128, scaling="spectrum",
                                     window="bartlett")], ids=str)
def test_defaults_and_windows_match_keras(kw):
    x = _clips((2, 600, 1), seed=1)
    ours = L.STFTSpectrogram(**kw)(x)
    theirs = np.asarray(keras.layers.STFTSpectrogram(**kw)(x))
    assert_close(ours, theirs, FORWARD_RTOL, f"STFTSpectrogram {kw}")


@pytest.mark.parametrize("mode", MODES)
def test_gradients_into_the_kernels_and_adam_steps(mode):
    x, y = random_data((60, 2), n=6, classes=3)
    model = sn.Sequential([L.Input((60, 2)),
                           L.STFTSpectrogram(mode=mode, frame_length=16, frame_step=8, padding="same"),
                           L.Flatten(), L.Dense(3)], seed=0)
    assert_parity(model, x, y, loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True),
                  optimizer=sn.optimizers.Adam(0.01), steps=5, batch_size=3)


def test_a_frozen_layer_keeps_its_kernels_as_keras():
    x, y = random_data((40, 1), n=4, classes=2)
    model = sn.Sequential([L.Input((40, 1)), L.STFTSpectrogram(frame_length=16, trainable=False),
                           L.Flatten(), L.Dense(2)], seed=0)
    twins = make_twins(model, loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True),
                       optimizer=sn.optimizers.SGD(0.1))
    assert len(model.trainable_weights) == len(twins.keras.trainable_weights) == 2
    before = model.layers[0].get_weights()
    twins.scratch.train_step(x, y)
    twins.keras.train_on_batch(x, y)
    after, kafter = model.layers[0].get_weights(), twins.keras.layers[0].get_weights()
    for w, ws, wk in zip(before, after, kafter, strict=True):
        np.testing.assert_array_equal(w, ws)
        np.testing.assert_array_equal(ws, wk)


def test_counts_shapes_summary_and_config_match_keras():
    model = sn.Sequential([L.Input((500, 2)), L.STFTSpectrogram(mode="stft", frame_length=40, frame_step=20,
                                                                 window="hamming", expand_dims=True)], seed=0)
    first = sn.Sequential([L.Input((3, 100)), L.STFTSpectrogram(mode="real", frame_length=4, name="real_part",
                                                                 data_format="channels_first")], seed=0)
    for m, shape in ((model, (None, 24, 66, 2)), (first, (None, 9, 49))):
        kmodel = tfnet.to_keras(m)
        layer, klayer = m.layers[0], kmodel.layers[0]
        assert layer.count_params() == klayer.count_params()
        assert [w.name.split("/")[-1] for w in layer.weights] == [w.name for w in klayer.weights]
        assert (None, *layer.output_shape) == tuple(klayer.output.shape) == shape
        ours, theirs = layer.get_config(), klayer.get_config()
        assert set(ours) <= set(theirs)
        for key in ours:
            assert ours[key] == theirs[key], key
        text = m.summary(print_fn=None)
        assert f"{layer.name} (STFTSpectrogram)" in text and str(shape) in text
        assert f"{layer.count_params():,}" in text


def test_keras_files_both_ways(tmp_path):
    x, y = random_data((80, 1), n=6, classes=3)
    model = sn.Sequential([L.Input((80, 1)), L.STFTSpectrogram(mode="log", frame_length=16, window="hamming"),
                           L.Flatten(), L.Dense(3)], seed=0)
    model.compile(optimizer="adam", loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=1, batch_size=3, verbose=0)
    model.save(tmp_path / "s.keras")
    kmodel = keras.saving.load_model(tmp_path / "s.keras")
    for w, kw in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_array_equal(w, kw)
    assert_close(model.predict(x, verbose=0), np.asarray(kmodel.predict(x, verbose=0)), FORWARD_RTOL,
                 "Keras reading scratchnet's file")
    kmodel.fit(x, y, epochs=1, batch_size=3, verbose=0)
    kmodel.save(tmp_path / "k.keras")
    back = sn.load_model(tmp_path / "k.keras")
    for w, kw in zip(back.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_array_equal(w, kw)
    assert_close(back.predict(x, verbose=0), np.asarray(kmodel.predict(x, verbose=0)), FORWARD_RTOL,
                 "scratchnet reading Keras' file")
