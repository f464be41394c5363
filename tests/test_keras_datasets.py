"""``sn.datasets.mnist`` and the other Keras loaders without Keras: which files they read, the
errors when a file is missing, and that a pickle naming anything but NumPy is refused. Values
against Keras' own loaders: parity_tests/test_datasets_keras.py."""

import pickle

import numpy as np
import pytest

import scratchnet as sn
from tests import keras_dataset_files as files

LOADERS = ["mnist", "fashion_mnist", "cifar10", "cifar100", "imdb", "reuters", "boston_housing",
           "california_housing"]


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("name", LOADERS)
def test_missing_file_names_file_folder_and_url(home, name):
    with pytest.raises(FileNotFoundError) as err:
        getattr(sn.datasets, name).load_data()
    message = str(err.value)
    assert f"{name}.load_data: no file '{home}/datasets/" in message
    assert "never downloads" in message and "https://" in message
    assert "KERAS_HOME" in message


def test_default_home_is_dot_keras(monkeypatch, tmp_path):
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=rf"'{tmp_path}/.keras/datasets/mnist.npz'"):
        sn.datasets.mnist.load_data()
    files.write_mnist(tmp_path / ".keras")
    assert sn.datasets.mnist.load_data()[0][0].shape == (7, 28, 28)


def test_mnist_values_and_types(home):
    written = files.write_mnist(home, n_train=5, n_test=2)
    (x, y), (xt, yt) = sn.datasets.mnist.load_data()
    for ours, key in ((x, "x_train"), (y, "y_train"), (xt, "x_test"), (yt, "y_test")):
        np.testing.assert_array_equal(ours, written[key])
        assert ours.dtype == np.uint8


@pytest.mark.parametrize("layout", [None, "cifar-10-batches-py-target", ""])
def test_cifar10_archive_keras3_folder_and_keras2_folder(home, layout):
    """Batches of any size (Keras itself needs 10,000 each), from the archive or either folder."""
    files.write_cifar10(home, batch_size=3, n_test=2, extracted=layout)
    (x, y), (xt, yt) = sn.datasets.cifar10.load_data()
    assert x.shape == (15, 32, 32, 3) and y.shape == (15, 1) and xt.shape == (2, 32, 32, 3)
    assert x.dtype == y.dtype == xt.dtype == yt.dtype == np.uint8
    assert not (home / "datasets" / "cifar-10-batches-py-target").exists() or layout is not None


def test_cifar_pixels_are_channels_first_rows_transposed(home):
    files.write_cifar100(home, n_train=2, n_test=1, extracted="cifar-100-python-target")
    raw = pickle.loads((home / "datasets/cifar-100-python-target/cifar-100-python/train").read_bytes())
    (x, y), _ = sn.datasets.cifar100.load_data("coarse")
    # data row = 1024 red values (32 rows of 32), then green, then blue
    np.testing.assert_array_equal(x[1, 3, 5], raw[b"data"][1, [3 * 32 + 5, 1024 + 3 * 32 + 5,
                                                              2048 + 3 * 32 + 5]])
    assert y[:, 0].tolist() == raw[b"coarse_labels"]


def test_incomplete_extracted_folder_is_named(home):
    files.write_cifar100(home, extracted="cifar-100-python-target")
    (home / "datasets/cifar-100-python-target/cifar-100-python/test").unlink()
    with pytest.raises(FileNotFoundError, match=r"cifar100.load_data: .* has no batch file 'test'"):
        sn.datasets.cifar100.load_data()


def test_pickle_naming_other_code_is_refused(home):
    files.write_cifar100(home, extracted="cifar-100-python-target")
    path = home / "datasets/cifar-100-python-target/cifar-100-python/train"
    path.write_bytes(pickle.dumps({b"data": print}))  # names builtins.print
    with pytest.raises(pickle.UnpicklingError, match=r"Refusing to deserialize `builtins.print`"):
        sn.datasets.cifar100.load_data()


def test_imdb_processing_by_hand(home):
    """One review, seed fixed: ids shifted by index_from behind start_char; num_words caps them."""
    written = files.write_imdb(home, n_train=1, n_test=1)
    (x, y), _ = sn.datasets.imdb.load_data(num_words=10, start_char=1, oov_char=2, index_from=3)
    expected = [1] + [w + 3 if w + 3 < 10 else 2 for w in written["x_train"][0]]
    assert x.dtype == object and list(x[0]) == expected
    assert y.tolist() == written["y_train"].tolist()
    assert sn.datasets.imdb.get_word_index()["word5"] == 5


def test_reuters_split_and_labels(home):
    files.write_reuters(home, n=10)
    (x, y), (xt, yt) = sn.datasets.reuters.load_data(test_split=0.3)
    assert (len(x), len(xt)) == (7, 3) and y.dtype == np.int64
    names = sn.datasets.reuters.get_label_names()
    assert len(names) == 46 and names[3] == "earn"


def test_housing_split_sizes(home):
    files.write_housing(home, "boston_housing.npz", 10, 13)
    (x, y), (xt, yt) = sn.datasets.boston_housing.load_data(test_split=0.2)
    assert x.shape == (8, 13) and xt.shape == (2, 13) and y.shape == (8,)
    files.write_housing(home, "california_housing.npz", 700, 8)
    (x, _), (xt, _) = sn.datasets.california_housing.load_data(version="small", test_split=0.5)
    assert len(x) == len(xt) == 300
