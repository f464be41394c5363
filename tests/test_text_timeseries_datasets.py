"""``text_dataset_from_directory``, ``timeseries_dataset_from_array`` and ``normalize``
(scratchnet/utils/text_dataset.py, numerical.py) on files and arrays the tests write: what a batch
holds, that fit reads them, and a clear error for each bad argument. Keras parity:
parity_tests/test_text_timeseries_datasets_keras.py."""

import numpy as np
import pytest

import scratchnet as sn

U = sn.utils


def write_classes(root, classes=("neg", "pos"), n=3):
    for c in classes:
        (root / c).mkdir(parents=True)
        for k in range(n):
            (root / c / f"{k}.txt").write_bytes(f"{c} text {k} é".encode())
    return root


def test_texts_are_bytes_cut_at_max_length(tmp_path):
    root = write_classes(tmp_path)
    ds = U.text_dataset_from_directory(root, shuffle=False, max_length=6, batch_size=4, verbose=False)
    texts, labels = ds[0]
    assert texts.dtype == object and texts.shape == (4,) and labels.dtype == np.int32
    assert texts.tolist() == [b"neg te", b"neg te", b"neg te", b"pos te"]
    assert labels.tolist() == [0, 0, 0, 1] and ds.class_names == ["neg", "pos"] and len(ds) == 2
    full = U.text_dataset_from_directory(root, shuffle=False, batch_size=None, verbose=False)
    assert full[0][0] == "neg text 0 é".encode()  # a whole file; é is two bytes
    with pytest.raises(IndexError, match="out of range"):
        ds[2]


def test_text_dataset_reshuffles_each_pass_with_its_seed(tmp_path):
    root = write_classes(tmp_path, n=10)
    ds = U.text_dataset_from_directory(root, seed=5, batch_size=20, verbose=False)
    first = [t for x, _ in ds for t in x]
    second = [t for x, _ in ds for t in x]
    assert sorted(first) == sorted(second) and first != second
    again = U.text_dataset_from_directory(root, seed=5, batch_size=20, verbose=False)
    assert [t for x, _ in again for t in x] == first


@pytest.mark.parametrize("kwargs, pattern", [
    (dict(label_mode="sparse"), "label_mode"),
    (dict(max_length=0), "max_length"),
    (dict(batch_size=0), "batch_size"),
    (dict(validation_split=0.2, subset="training"), "seed"),
    (dict(validation_split=1.5, subset="training", seed=1), "between 0 and 1"),
    (dict(labels="folders"), "labels"),
    (dict(class_names=["pos", "other"]), "class_names"),
    (dict(format="arrow"), "format"),
])
def test_text_dataset_errors(tmp_path, kwargs, pattern):
    root = write_classes(tmp_path)
    with pytest.raises(ValueError, match=pattern):
        U.text_dataset_from_directory(root, verbose=False, **kwargs)


def test_text_dataset_folder_errors(tmp_path):
    with pytest.raises(ValueError, match="not a directory"):
        U.text_dataset_from_directory(tmp_path / "missing", verbose=False)
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.txt").write_text("loose")
    with pytest.raises(ValueError, match="no sub-folders"):
        U.text_dataset_from_directory(tmp_path / "flat", verbose=False)
    root = write_classes(tmp_path / "three", classes=("a", "b", "c"))
    with pytest.raises(ValueError, match="exactly 2"):
        U.text_dataset_from_directory(root, label_mode="binary", verbose=False)
    (tmp_path / "empty" / "a").mkdir(parents=True)
    (tmp_path / "empty" / "a" / "x.csv").write_text("not text")
    with pytest.raises(ValueError, match="no text files"):
        U.text_dataset_from_directory(tmp_path / "empty", verbose=False)


def test_timeseries_windows_targets_and_dtypes():
    data = np.arange(20, dtype=np.int16).reshape(10, 2)
    ds = U.timeseries_dataset_from_array(data, np.arange(10.0), 3, sampling_rate=2, batch_size=2)
    x, y = ds[0]
    assert x.dtype == np.int16 and x.shape == (2, 3, 2) and y.dtype == np.float64
    np.testing.assert_array_equal(x[1], data[[1, 3, 5]])
    np.testing.assert_array_equal(y, [0.0, 1.0])
    assert len(ds) == 3  # 10 - 2*2 = 6 windows
    only = U.timeseries_dataset_from_array(data, None, 4, batch_size=None)
    np.testing.assert_array_equal(only[6], data[6:10])


def test_a_forecaster_fits_on_windows():
    """The time-series lesson's input pipeline: windows of the past, the next value as target."""
    t = np.arange(400, dtype=np.float32)
    series = np.sin(t / 10).astype(np.float32)
    windows = U.timeseries_dataset_from_array(series[:-10, None], series[10:], 10, batch_size=32,
                                              shuffle=True, seed=0)
    model = sn.Sequential([sn.layers.Input((10, 1)), sn.layers.Flatten(), sn.layers.Dense(1)], seed=0)
    model.compile(optimizer=sn.optimizers.Adam(0.01), loss="mse")
    losses = model.fit(windows, epochs=15, verbose=0).history["loss"]
    assert losses[-1] < 0.05 * losses[0]


@pytest.mark.parametrize("kwargs, pattern", [
    (dict(sequence_length=0), "sequence_length"),
    (dict(sequence_length=3, sampling_rate=12), "sampling_rate"),
    (dict(sequence_length=3, sequence_stride=12), "sequence_stride"),
    (dict(sequence_length=3, start_index=-1), "start_index"),
    (dict(sequence_length=3, start_index=5, end_index=4), "end_index"),
    (dict(sequence_length=11), "no window fits"),
    (dict(sequence_length=3, batch_size=0), "batch_size"),
])
def test_timeseries_errors(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        U.timeseries_dataset_from_array(np.arange(10.0), None, **kwargs)
    with pytest.raises(ValueError, match="at least one time step"):
        U.timeseries_dataset_from_array(np.zeros(0), None, 2)


def test_normalize():
    x = np.array([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_array_equal(U.normalize(x), [[0.6, 0.8], [0.0, 0.0]])
    np.testing.assert_allclose(U.normalize(x, axis=0, order=1), [[1.0, 1.0], [0.0, 0.0]])
    with pytest.raises(ValueError, match="axis"):
        U.normalize(x, axis=2)
    with pytest.raises(TypeError, match="numeric"):
        U.normalize(np.array(["a"]))
