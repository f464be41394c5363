"""sn.utils.image_dataset_from_directory against keras.utils.image_dataset_from_directory on the
same folders (written with Pillow): the same file_paths and class_names, and, without the
per-epoch shuffle, the same batches. Pixels are compared in 0..255 float32 to an absolute
PIXEL_ATOL: Keras resizes in float32 and scratchnet in float64 rounded to float32, an ulp or two
of 255 (1.5e-5 each) apart.

With shuffle=True Keras also reorders the files every epoch in a tf.data shuffle buffer driven by
TensorFlow's RNG, which NumPy cannot reproduce: there the file list (RandomState(seed)'s shuffle)
and each epoch's multiset of (image, label) pairs are compared instead."""

import keras
import numpy as np
import pytest

import scratchnet as sn
from tests.image_folders import mixed_folder, write_classes, write_image

PIXEL_ATOL = 1e-4  # on values 0..255


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return mixed_folder(tmp_path_factory.mktemp("images") / "mixed")


def both(directory, **kwargs):
    kwargs = {"verbose": False, **kwargs}
    return (keras.utils.image_dataset_from_directory(str(directory), **kwargs),
            sn.utils.image_dataset_from_directory(str(directory), **kwargs))


def keras_batches(ds):
    return [tuple(np.asarray(t) for t in b) if isinstance(b, tuple) else (np.asarray(b),) for b in ds]


def sn_batches(ds):
    return [b if isinstance(b, tuple) else (b,) for b in ds]


def assert_same_batches(kds, sds):
    assert kds.file_paths == sds.file_paths
    assert kds.class_names == sds.class_names
    kb, sb = keras_batches(kds), sn_batches(sds)
    assert len(kb) == len(sb) == len(sds)
    for i, (k, s) in enumerate(zip(kb, sb, strict=True)):
        assert len(k) == len(s)
        assert s[0].dtype == np.float32
        assert k[0].shape == s[0].shape, f"batch {i}"
        np.testing.assert_allclose(s[0], k[0].astype(np.float32), rtol=0, atol=PIXEL_ATOL,
                                   err_msg=f"images of batch {i}")
        if len(k) == 2:
            assert s[1].dtype == k[1].dtype and s[1].shape == k[1].shape, f"labels of batch {i}"
            np.testing.assert_array_equal(s[1], k[1], err_msg=f"labels of batch {i}")


@pytest.mark.parametrize("kwargs", [
    {},
    {"label_mode": "categorical"},
    {"label_mode": None},
    {"labels": None},
    {"class_names": ["dogs", "cats"]},
    {"color_mode": "grayscale"},
    {"color_mode": "rgba"},
    {"interpolation": "nearest"},
    {"crop_to_aspect_ratio": True},
    {"pad_to_aspect_ratio": True},
    {"image_size": (5, 23), "batch_size": 3},
    {"image_size": 16, "batch_size": None},
], ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()) or "defaults")
def test_same_batches_without_shuffle(folder, kwargs):
    kwargs = {"image_size": (11, 8), "batch_size": 4, "shuffle": False, **kwargs}
    assert_same_batches(*both(folder, **kwargs))


def test_explicit_labels(folder):
    n = len(sn.utils.image_dataset_from_directory(str(folder), labels=None, shuffle=False,
                                                  verbose=False).file_paths)
    labels = [(3 * i) % 4 for i in range(n)]
    assert_same_batches(*both(folder, labels=list(labels), label_mode="categorical", shuffle=False,
                              image_size=(6, 6), batch_size=5))


def test_binary_labels(tmp_path):
    write_classes(tmp_path, {"no": 4, "yes": 5})
    assert_same_batches(*both(tmp_path, label_mode="binary", shuffle=False, image_size=(8, 8),
                              batch_size=4))


def test_bmp_and_gif_rgb(tmp_path):
    write_classes(tmp_path, {"a": 3, "b": 2}, ext=".bmp")
    write_image(tmp_path / "a" / "z.gif", (9, 7), "P", seed=5)
    assert_same_batches(*both(tmp_path, shuffle=False, image_size=(7, 9), batch_size=2))


def test_downscale_of_a_large_image(tmp_path):
    """Larger images shrunk a lot, as the demo does (150 -> 64): bilinear taps far apart."""
    write_classes(tmp_path, {"a": 2, "b": 2}, sizes=((150, 150), (120, 200)))
    assert_same_batches(*both(tmp_path, shuffle=False, image_size=(64, 64), batch_size=4))


@pytest.mark.parametrize("seed", [0, 7, 123456])
def test_seeded_shuffle_gives_keras_file_order_and_the_same_samples(folder, seed):
    kds, sds = both(folder, shuffle=True, seed=seed, image_size=(6, 6), batch_size=4)
    assert kds.file_paths == sds.file_paths  # RandomState(seed).shuffle, as Keras
    assert kds.class_names == sds.class_names

    def samples(batches):
        rows = [(x.tobytes(), int(y)) for xb, yb in batches for x, y in zip(xb, yb, strict=True)]
        return sorted(rows)

    k = samples(keras_batches(kds))
    s = samples(sn_batches(sds))
    assert [y for _, y in k] == [y for _, y in s]
    assert len(k) == len(s) == len(sds.file_paths)


def test_validation_split_subsets(folder):
    common = {"validation_split": 0.3, "seed": 11, "image_size": (6, 6), "batch_size": 3}
    k_train, k_val = keras.utils.image_dataset_from_directory(str(folder), subset="both",
                                                              verbose=False, **common)
    s_train, s_val = sn.utils.image_dataset_from_directory(str(folder), subset="both",
                                                           verbose=False, **common)
    assert k_train.file_paths == s_train.file_paths
    assert_same_batches(k_val, s_val)  # Keras never reshuffles the validation half of "both"
    for subset, s_ref in (("training", s_train), ("validation", s_val)):
        kds, sds = both(folder, subset=subset, **common)
        assert kds.file_paths == sds.file_paths == s_ref.file_paths
