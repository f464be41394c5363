"""``audio_dataset_from_directory`` against Keras 3.15's, on small WAV folders the tests write:
the same clips (float32, 16-bit PCM scaled by 1/32768, cut or zero-padded), labels, classes and
order where Keras' order is NumPy's (no per-pass shuffle, or the validation half of
``subset="both"``), and the same clips and labels where a per-pass shuffle reorders them
(TensorFlow's shuffle buffer cannot be reproduced)."""

import keras
import numpy as np
import pytest

import scratchnet as sn
from tests.wav_folders import write_commands


def batches(ds):
    out = []
    for batch in ds:
        x, y = batch if isinstance(batch, tuple) else (batch, None)
        out.append((np.asarray(x), None if y is None else np.asarray(y)))
    return out


def assert_same_batches(ours, theirs):
    assert len(ours) == len(theirs)
    for (x, y), (kx, ky) in zip(ours, theirs, strict=True):
        assert x.dtype == kx.dtype == np.float32 and x.shape == kx.shape
        np.testing.assert_array_equal(x, kx)
        if ky is None:
            assert y is None
        else:
            assert y.dtype == ky.dtype and y.shape == ky.shape
            np.testing.assert_array_equal(y, ky)


@pytest.mark.parametrize("kwargs", [
    dict(shuffle=False),
    dict(shuffle=False, label_mode="categorical", batch_size=4),
    dict(shuffle=False, label_mode="binary", output_sequence_length=64, batch_size=3),
    dict(shuffle=False, labels=None, batch_size=3),
    dict(shuffle=False, class_names=["yes", "no"], output_sequence_length=200),
    dict(shuffle=False, batch_size=None, output_sequence_length=50),
    dict(shuffle=False, labels=[1, 0, 2, 2, 1, 0, 0, 1, 2, 1], label_mode="categorical", batch_size=4),
])
@pytest.mark.parametrize("channels", [1, 2])
def test_audio_batches_equal_keras(tmp_path, kwargs, channels):
    root = write_commands(tmp_path, channels=channels)
    ds = sn.utils.audio_dataset_from_directory(root, verbose=False, **kwargs)
    kds = keras.utils.audio_dataset_from_directory(root, verbose=False, **kwargs)
    ours = [(x, None) for x in ds] if kwargs.get("labels", "inferred") is None else batches(ds)
    theirs = [(x, None) for x in kds.as_numpy_iterator()] \
        if kwargs.get("labels", "inferred") is None else batches(kds.as_numpy_iterator())
    if kwargs.get("batch_size", 32) is None:  # single clips: compare them one by one
        ours = [(x[None], np.atleast_1d(y)) for x, y in ours]
        theirs = [(x[None], np.atleast_1d(y)) for x, y in theirs]
    assert_same_batches(ours, theirs)
    if kwargs.get("labels", "inferred") is not None:
        assert ds.class_names == kds.class_names


def test_shuffle_and_split_as_keras(tmp_path):
    """With a seed: the validation half of "both" comes in Keras' order exactly (no per-pass
    shuffle there); the training half holds the same clips with the same labels."""
    root = write_commands(tmp_path, n_per_class=9)
    args = dict(validation_split=0.3, subset="both", seed=42, batch_size=4, verbose=False,
                output_sequence_length=120)
    train, val = sn.utils.audio_dataset_from_directory(root, **args)
    ktrain, kval = keras.utils.audio_dataset_from_directory(root, **args)
    assert_same_batches(batches(val), batches(kval.as_numpy_iterator()))

    def clips(ds):
        return sorted((x.tobytes(), int(y)) for bx, by in batches(ds) for x, y in zip(bx, by, strict=True))

    assert clips(train) == clips(ktrain.as_numpy_iterator())
    assert train.class_names == ktrain.class_names == ["no", "yes"]


def test_a_model_fits_on_it(tmp_path):
    root = write_commands(tmp_path, n_per_class=4)
    ds = sn.utils.audio_dataset_from_directory(root, output_sequence_length=96, batch_size=4,
                                               seed=1, verbose=False)
    model = sn.Sequential([sn.layers.Input((96, 1)),
                           sn.layers.STFTSpectrogram(mode="log", frame_length=32, frame_step=16),
                           sn.layers.Flatten(), sn.layers.Dense(2)], seed=0)
    model.compile("adam", sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(ds, epochs=2, verbose=0).history
    assert len(history["loss"]) == 2 and np.all(np.isfinite(history["loss"]))


def test_keras_preprocessing_names_are_all_there():
    """Keras 3 keeps the dataset loaders under keras.preprocessing too, as the utils functions."""
    names = [n for n in dir(keras.preprocessing) if not n.startswith("_")]
    assert {"image_dataset_from_directory", "text_dataset_from_directory",
            "timeseries_dataset_from_array"} <= set(names)
    for name in names:
        assert hasattr(sn.preprocessing, name), name
        if hasattr(keras.utils, name):
            assert getattr(keras.preprocessing, name) is getattr(keras.utils, name)
            assert getattr(sn.preprocessing, name) is getattr(sn.utils, name)
