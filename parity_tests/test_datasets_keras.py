"""``sn.datasets.<name>.load_data()`` against ``keras.datasets.<name>.load_data()`` on the same
files: tiny files in Keras' cache formats (tests/keras_dataset_files.py) in a temporary
``KERAS_HOME``. Keras is pointed at that folder (its ``keras_home()`` reads ``_KERAS_DIR``), its
hash check is made to accept the tiny files (``validate_file``: a real file's hash would match) and
its download is replaced by an error, so neither side touches the network. Every array must be
equal: same values, shapes and dtypes (object arrays of lists compared list by list).
"""

import keras
import numpy as np
import pytest
from keras.src.backend import config as keras_config
from keras.src.utils import file_utils

import scratchnet as sn
from tests import keras_dataset_files as files


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A temporary Keras home for both libraries; Keras never downloads."""
    def no_download(origin, *args, **kwargs):
        raise AssertionError(f"Keras tried to download {origin}")

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(tmp_path))
    monkeypatch.setattr(file_utils, "validate_file", lambda *args, **kwargs: True)
    monkeypatch.setattr(file_utils, "urlretrieve", no_download)
    return tmp_path


def assert_same(ours, theirs):
    """Nested tuples of arrays: equal values, shapes and dtypes; object arrays element-wise."""
    assert type(ours) is type(theirs)
    if isinstance(ours, tuple):
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs, strict=True):
            assert_same(a, b)
        return
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    if ours.dtype == object:
        assert [list(map(type, x)) for x in ours.ravel()] == [list(map(type, x)) for x in theirs.ravel()]
        assert [list(x) for x in ours.ravel()] == [list(x) for x in theirs.ravel()]
    else:
        np.testing.assert_array_equal(ours, theirs)


def test_mnist(home):
    written = files.write_mnist(home)
    ours = sn.datasets.mnist.load_data()
    assert_same(ours, keras.datasets.mnist.load_data())
    np.testing.assert_array_equal(ours[0][0], written["x_train"])
    files.write_mnist(home, fname="other.npz", seed=9)
    assert_same(sn.datasets.mnist.load_data(path="other.npz"),
                keras.datasets.mnist.load_data(path="other.npz"))


def test_fashion_mnist(home):
    written = files.write_fashion_mnist(home)
    ours = sn.datasets.fashion_mnist.load_data()
    assert_same(ours, keras.datasets.fashion_mnist.load_data())
    assert ours[0][0].shape == (6, 28, 28) and ours[1][1].dtype == np.uint8
    np.testing.assert_array_equal(ours[1][0], written["t10k-images-idx3-ubyte.gz"])


def test_cifar10_from_keras_archive(home):
    """Keras needs 10,000 images in each of the five training batches (it fills a (50000, 3, 32,
    32) array), so this archive is full size: 60,000 random images."""
    files.write_cifar10(home)
    ours = sn.datasets.cifar10.load_data()
    theirs = keras.datasets.cifar10.load_data()  # extracts the archive into the temporary home
    assert_same(ours, theirs)
    assert ours[0][0].shape == (50000, 32, 32, 3) and ours[0][1].shape == (50000, 1)
    assert ours[0][1].dtype == np.uint8
    assert_same(sn.datasets.cifar10.load_data(), theirs)  # now from Keras' extracted folder


@pytest.mark.parametrize("label_mode", ["fine", "coarse"])
def test_cifar100(home, label_mode):
    files.write_cifar100(home)
    ours = sn.datasets.cifar100.load_data(label_mode)
    assert_same(ours, keras.datasets.cifar100.load_data(label_mode))
    assert ours[0][0].shape == (9, 32, 32, 3) and ours[0][1].shape == (9, 1)
    assert ours[0][1].max() < (100 if label_mode == "fine" else 20)


IMDB_CASES = [
    {},
    {"num_words": 20},
    {"num_words": 20, "skip_top": 5, "seed": 7},
    {"maxlen": 10},
    {"num_words": 25, "oov_char": None},
    {"start_char": None, "index_from": 0},
    {"start_char": None, "index_from": 2, "skip_top": 3},
]


@pytest.mark.parametrize("kwargs", IMDB_CASES)
def test_imdb(home, kwargs):
    files.write_imdb(home)
    assert_same(sn.datasets.imdb.load_data(**kwargs), keras.datasets.imdb.load_data(**kwargs))


def test_imdb_word_index_and_maxlen_error(home):
    files.write_imdb(home)
    assert sn.datasets.imdb.get_word_index() == keras.datasets.imdb.get_word_index()
    with pytest.raises(ValueError, match="no sequence was kept"):
        keras.datasets.imdb.load_data(maxlen=2)
    with pytest.raises(ValueError, match=r"imdb.load_data: after filtering for sequences shorter "
                                         r"than maxlen=2, no sequence was kept"):
        sn.datasets.imdb.load_data(maxlen=2)


@pytest.mark.parametrize("kwargs", IMDB_CASES + [{"test_split": 0.5, "seed": 3}, {"test_split": 0.0}])
def test_reuters(home, kwargs):
    files.write_reuters(home)
    assert_same(sn.datasets.reuters.load_data(**kwargs), keras.datasets.reuters.load_data(**kwargs))


def test_reuters_word_index_and_labels(home):
    files.write_reuters(home)
    assert sn.datasets.reuters.get_word_index() == keras.datasets.reuters.get_word_index()
    assert sn.datasets.reuters.get_label_names() == keras.datasets.reuters.get_label_names()


@pytest.mark.parametrize("kwargs", [{}, {"test_split": 0.3, "seed": 1}, {"test_split": 0.0}])
def test_boston_housing(home, kwargs):
    files.write_housing(home, "boston_housing.npz", 23, 13)
    assert_same(sn.datasets.boston_housing.load_data(**kwargs),
                keras.datasets.boston_housing.load_data(**kwargs))


@pytest.mark.parametrize("kwargs", [{}, {"version": "small"}, {"test_split": 0.25, "seed": 5},
                                    {"version": "small", "test_split": 0.1}])
def test_california_housing(home, kwargs):
    files.write_housing(home, "california_housing.npz", 650, 8)
    assert_same(sn.datasets.california_housing.load_data(**kwargs),
                keras.datasets.california_housing.load_data(**kwargs))


@pytest.mark.parametrize("loader", ["boston_housing", "california_housing"])
@pytest.mark.parametrize("test_split", [1.0, -0.1])
def test_bad_test_split_refused_as_keras(home, loader, test_split):
    with pytest.raises(ValueError, match="It must be between 0 and 1"):
        getattr(keras.datasets, loader).load_data(test_split=test_split)
    with pytest.raises(ValueError, match=rf"{loader}.load_data: invalid `test_split` argument: "
                                         rf"{test_split}"):
        getattr(sn.datasets, loader).load_data(test_split=test_split)


def test_bad_arguments_refused_as_keras(home):
    with pytest.raises(ValueError, match="label_mode"):
        keras.datasets.cifar100.load_data("medium")
    with pytest.raises(ValueError, match=r'cifar100.load_data: `label_mode` must be one of `"fine"`, '
                                         r'`"coarse"`. Received: label_mode=medium'):
        sn.datasets.cifar100.load_data("medium")
    files.write_housing(home, "california_housing.npz", 30, 8)
    with pytest.raises(ValueError, match="version"):
        keras.datasets.california_housing.load_data(version="tiny")
    with pytest.raises(ValueError, match=r"must be one of 'small', 'large'. Received: version=tiny"):
        sn.datasets.california_housing.load_data(version="tiny")
    with pytest.raises(ValueError, match="Paths are no longer accepted"):
        keras.datasets.mnist.load_data(path=str(home / "mnist.npz"))
    with pytest.raises(ValueError, match=r"mnist.load_data: paths are no longer accepted"):
        sn.datasets.mnist.load_data(path=str(home / "mnist.npz"))


def _tar_gz(path, members: dict) -> None:
    import io
    import tarfile

    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize("kwargs, archive", [
    ({"fname": "flower_photos", "untar": True}, "flower_photos_archive"),
    ({"fname": "flowers.tgz", "extract": True}, "flowers.tgz"),
    ({"fname": None, "extract": True}, "photos.tar.gz_archive"),
])
def test_get_file_finds_and_extracts_as_keras(home, kwargs, archive):
    origin = "https://example.invalid/data/photos.tar.gz"
    (home / "datasets").mkdir(exist_ok=True)
    _tar_gz(home / "datasets" / archive, {"top/a.txt": b"A", "top/sub/b.txt": b"BB"})
    ours = sn.utils.get_file(origin=origin, **kwargs)
    listing = sorted(str(p.relative_to(ours)) for p in __import__("pathlib").Path(ours).rglob("*"))
    theirs = keras.utils.get_file(origin=origin, **kwargs)
    assert ours == theirs
    assert listing == sorted(str(p.relative_to(theirs))
                             for p in __import__("pathlib").Path(theirs).rglob("*"))
    assert listing == ["top", "top/a.txt", "top/sub", "top/sub/b.txt"]


def test_get_file_plain_file_and_missing(home):
    (home / "datasets").mkdir(exist_ok=True)
    (home / "datasets" / "table.csv").write_text("a,b\n")
    origin = "https://example.invalid/table.csv"
    assert sn.utils.get_file(origin=origin) == keras.utils.get_file(origin=origin)
    assert sn.utils.get_file("table.csv", origin, cache_subdir="datasets") == str(
        home / "datasets" / "table.csv")
    with pytest.raises(FileNotFoundError, match=r"get_file: no file at '.*other.csv'; scratchnet "
                                                r"never downloads. Download https://x.invalid/o"):
        sn.utils.get_file("other.csv", "https://x.invalid/o")
    with pytest.raises(ValueError, match="Paths are no longer accepted"):
        keras.utils.get_file("a/b.csv", origin)
    with pytest.raises(ValueError, match="Paths are no longer accepted"):
        sn.utils.get_file("a/b.csv", origin)
