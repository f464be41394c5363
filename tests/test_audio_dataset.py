"""``audio_dataset_from_directory`` without Keras: clips read with ``wave`` and scaled as
``tf.audio.decode_wav`` (16-bit, and the 8/24/32-bit PCM scratchnet reads too), padding and cutting,
labels, shuffling and splits, the ``keras.preprocessing`` aliases, and clear errors for corrupt
files, mixed sampling rates or channel counts, a rate the files lack, empty folders and bad
arguments. Keras' numbers: parity_tests/test_audio_dataset_keras.py."""

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.utils.audio_dataset import read_wav
from tests.wav_folders import write_commands, write_wav

LOAD = sn.utils.audio_dataset_from_directory


def test_samples_are_scaled_as_decode_wav(tmp_path):
    ints = np.array([[-32768, 0], [-1, 1], [16384, 32767]])
    write_wav(tmp_path / "a.wav", ints, rate=16000)
    audio, rate = read_wav(tmp_path / "a.wav")
    assert rate == 16000 and audio.dtype == np.float32 and audio.shape == (3, 2)
    np.testing.assert_array_equal(audio, ints / 32768.0)
    write_wav(tmp_path / "b.wav", np.array([[0], [128], [255]]), width=1)
    np.testing.assert_array_equal(read_wav(tmp_path / "b.wav")[0][:, 0], [-1.0, 0.0, 127 / 128])
    write_wav(tmp_path / "c.wav", np.array([[-2**31], [2**30]]), width=4)
    np.testing.assert_array_equal(read_wav(tmp_path / "c.wav")[0][:, 0], [-1.0, 0.5])
    import wave

    with wave.open(str(tmp_path / "d.wav"), "wb") as f:  # 24-bit: -2^23, -1, 2^22
        f.setnchannels(1)
        f.setsampwidth(3)
        f.setframerate(8000)
        f.writeframes(bytes([0, 0, 0x80, 0xFF, 0xFF, 0xFF, 0, 0, 0x40]))
    np.testing.assert_array_equal(read_wav(tmp_path / "d.wav")[0][:, 0], [-1.0, -2.0**-23, 0.5])


def test_batches_pad_cut_and_label(tmp_path):
    root = write_commands(tmp_path, n_per_class=3)
    ds = LOAD(root, shuffle=False, batch_size=4, verbose=False)
    assert ds.class_names == ["no", "yes"] and ds.sampling_rate == 8000 and len(ds) == 2
    lengths = [len(read_wav(p)[0]) for p in ds.file_paths]
    x, y = ds[0]
    assert x.shape == (4, max(lengths[:4]), 1) and y.dtype == np.int32
    np.testing.assert_array_equal(y, [0, 0, 0, 1])
    for clip, path, n in zip(x, ds.file_paths, lengths, strict=False):
        np.testing.assert_array_equal(clip[:n], read_wav(path)[0])
        assert np.all(clip[n:] == 0)  # zero padding at the end
    cut = LOAD(root, shuffle=False, batch_size=None, output_sequence_length=40, label_mode="categorical",
               verbose=False)
    clip, label = cut[0]
    assert clip.shape == (40, 1) and label.tolist() == [1.0, 0.0]
    np.testing.assert_array_equal(clip, read_wav(cut.file_paths[0])[0][:40])
    long = LOAD(root, shuffle=False, labels=None, output_sequence_length=500, verbose=False)
    assert long[0].shape == (6, 500, 1) and np.all(long[0][:, 200:] == 0)


def test_shuffle_split_and_subsets(tmp_path):
    root = write_commands(tmp_path, n_per_class=10)
    train, val = LOAD(root, validation_split=0.2, subset="both", seed=7, verbose=False)
    assert len(train.file_paths) == 16 and len(val.file_paths) == 4
    assert not set(train.file_paths) & set(val.file_paths)
    again = LOAD(root, validation_split=0.2, subset="validation", seed=7, verbose=False)
    assert again.file_paths == val.file_paths
    ordered = LOAD(root, shuffle=False, verbose=False)
    assert ordered.labels.tolist() == [0] * 10 + [1] * 10
    assert all("/no/" in p for p in ordered.file_paths[:10])
    assert sorted(ordered.file_paths) == sorted(train.file_paths + val.file_paths)


def test_keras_preprocessing_aliases_are_the_utils_functions():
    for name in ("image_dataset_from_directory", "text_dataset_from_directory",
                 "timeseries_dataset_from_array"):
        assert getattr(sn.preprocessing, name) is getattr(sn.utils, name)
    assert "audio_dataset_from_directory" in sn.utils.__all__


def test_corrupt_files_raise_naming_them(tmp_path):
    root = write_commands(tmp_path, n_per_class=2)
    (root / "yes" / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    with pytest.raises(ValueError, match=r"could not read .*broken\.wav.* as an uncompressed PCM WAV"):
        LOAD(root, verbose=False)
    (root / "yes" / "broken.wav").unlink()
    good = root / "no" / "01_no.wav"
    data = good.read_bytes()
    good.write_bytes(data[:-10])  # the header announces more frames than the file holds
    ds = LOAD(root, shuffle=False, verbose=False)
    with pytest.raises(ValueError, match=r"01_no\.wav.* is cut short"):
        ds[0]


def test_mixed_rates_channels_and_missing_rate_raise(tmp_path):
    root = write_commands(tmp_path, n_per_class=2)
    write_wav(root / "yes" / "fast.wav", np.zeros((10, 1)), rate=16000)
    with pytest.raises(ValueError, match="different sampling rates.*fast.wav.* at 16000 Hz"):
        LOAD(root, verbose=False)
    with pytest.raises(ValueError, match="sampled at 16000 Hz, not at sampling_rate=8000"):
        LOAD(root, sampling_rate=8000, verbose=False)
    (root / "yes" / "fast.wav").unlink()
    assert LOAD(root, sampling_rate=8000, verbose=False).sampling_rate == 8000
    write_wav(root / "yes" / "stereo.wav", np.zeros((10, 2)))
    with pytest.raises(ValueError, match="different channel counts"):
        LOAD(root, verbose=False)


def test_empty_folders_raise(tmp_path):
    with pytest.raises(ValueError, match="has no sub-folders"):
        LOAD(tmp_path, verbose=False)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "x.txt").write_text("no audio here")
    with pytest.raises(ValueError, match=r"No audio files found in directory.*\('\.wav',\)"):
        LOAD(tmp_path, verbose=False)
    with pytest.raises(ValueError, match="not a directory"):
        LOAD(tmp_path / "missing", verbose=False)
    write_commands(tmp_path / "two", n_per_class=1)
    # int(0.2 * 2) = 0 validation files, and Keras' [:-0] leaves none for training
    with pytest.raises(ValueError, match="No training audio files"):
        LOAD(tmp_path / "two", validation_split=0.2, subset="both", seed=1, verbose=False)


@pytest.mark.parametrize("kwargs, match", [
    (dict(label_mode="sparse"), "label_mode"),
    (dict(ragged=True, output_sequence_length=10), "Cannot set both `ragged` and `output_sequence_length`"),
    (dict(ragged=True), "ragged=True"),
    (dict(sampling_rate=8000.0), "`sampling_rate` should have an integer value"),
    (dict(sampling_rate=0), "`sampling_rate` should be higher than 0"),
    (dict(batch_size=0), "batch_size"),
    (dict(output_sequence_length=-1), "output_sequence_length"),
    (dict(labels="folders"), "labels"),
    (dict(labels=[0, 1], class_names=["no"]), "class_names"),
    (dict(validation_split=0.2), "subset"),
    (dict(label_mode="binary", class_names=["no", "yes", "maybe"]), "class_names"),
])
def test_bad_arguments_raise(tmp_path, kwargs, match):
    root = write_commands(tmp_path, n_per_class=2)
    with pytest.raises(ValueError, match=match):
        LOAD(root, verbose=False, **kwargs)
