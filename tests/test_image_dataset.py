"""sn.utils.image_dataset_from_directory on folders the tests write with Pillow: file order, labels
in every label_mode, class_names, colour modes, the validation split, batch shapes, the resize
math on hand-computed values, and bad input (each a ValueError naming what was wrong).
Keras parity is in parity_tests/test_image_dataset_keras.py."""

import os

import numpy as np
import pytest
from PIL import Image

import scratchnet as sn
from scratchnet.utils.dataset_ops import shuffle_buffer_order
from scratchnet.utils.image_dataset import (
    load_image,
    read_image,
    shuffle_file_list,
)
from tests.image_folders import mixed_folder, write_classes, write_image

idfd = sn.utils.image_dataset_from_directory


@pytest.fixture
def folder(tmp_path):
    write_classes(tmp_path, {"rock": 3, "paper": 4, "scissors": 2})
    return tmp_path


def rel(ds, root):
    return [os.path.relpath(p, root) for p in ds.file_paths]


# ---------------------------------------------------------------------------------- order, labels
def test_sorted_order_classes_and_int_labels(folder):
    ds = idfd(folder, shuffle=False, image_size=(8, 8), batch_size=4, verbose=False)
    assert ds.class_names == ["paper", "rock", "scissors"]  # alphanumeric, not as written
    assert rel(ds, folder) == ([f"paper/img_{i:02d}.png" for i in range(4)]
                               + [f"rock/img_{i:02d}.png" for i in range(3)]
                               + [f"scissors/img_{i:02d}.png" for i in range(2)])
    batches = list(ds)
    assert len(ds) == len(batches) == 3  # ceil(9 / 4), the last one partial
    assert [b[0].shape for b in batches] == [(4, 8, 8, 3), (4, 8, 8, 3), (1, 8, 8, 3)]
    labels = np.concatenate([b[1] for b in batches])
    assert labels.dtype == np.int32
    np.testing.assert_array_equal(labels, [0, 0, 0, 0, 1, 1, 1, 2, 2])


def test_images_are_the_files_pixels_as_float32(folder):
    ds = idfd(folder, shuffle=False, image_size=(9, 12), batch_size=2, verbose=False)
    x, _ = ds[0]
    assert x.dtype == np.float32
    first = np.asarray(Image.open(folder / "paper" / "img_00.png"))  # written 9x12 (H, W)
    np.testing.assert_array_equal(x[0], first.astype(np.float32))  # same size: unchanged


def test_label_modes(folder):
    kw = {"shuffle": False, "image_size": 4, "batch_size": 9, "verbose": False}
    _, y = idfd(folder, label_mode="categorical", **kw)[0]
    assert y.dtype == np.float32 and y.shape == (9, 3)
    np.testing.assert_array_equal(y.argmax(1), [0, 0, 0, 0, 1, 1, 1, 2, 2])
    np.testing.assert_array_equal(y.sum(1), 1)
    only_images = idfd(folder, label_mode=None, **kw)[0]
    assert isinstance(only_images, np.ndarray) and only_images.shape == (9, 4, 4, 3)
    assert idfd(folder, labels=None, **kw).class_names is None
    two = idfd(folder, label_mode="binary", class_names=["rock", "scissors"], **kw)
    _, y = two[0]
    assert two.class_names == ["rock", "scissors"]
    assert y.dtype == np.float32 and y.shape == (5, 1)
    np.testing.assert_array_equal(y[:, 0], [0, 0, 0, 1, 1])


def test_class_names_choose_and_order_the_folders(folder):
    ds = idfd(folder, class_names=["scissors", "paper"], shuffle=False, image_size=4,
              batch_size=None, verbose=False)
    assert ds.class_names == ["scissors", "paper"]
    assert [p.split(os.sep)[-2] for p in ds.file_paths] == ["scissors"] * 2 + ["paper"] * 4
    assert [int(ds[i][1]) for i in range(len(ds))] == [0, 0, 1, 1, 1, 1]
    assert ds[0][0].shape == (4, 4, 3)  # unbatched: one sample


def test_explicit_labels_follow_sorted_paths(folder):
    labels = [5, 1, 1, 0, 5, 1, 0, 0, 1]
    ds = idfd(folder, labels=labels, shuffle=False, image_size=4, batch_size=9, verbose=False)
    assert ds.class_names == ["0", "1", "5"]
    np.testing.assert_array_equal(ds[0][1], labels)
    assert labels == [5, 1, 1, 0, 5, 1, 0, 0, 1]  # the caller's list is left alone


def test_mixed_folder_walk(tmp_path):
    root = mixed_folder(tmp_path / "m")
    ds = idfd(root, shuffle=False, image_size=4, verbose=False)
    names = rel(ds, root)
    assert ds.class_names == ["birds", "cats", "dogs"]  # .hidden skipped
    assert "cats/nested/deep.png" in names and "dogs/UPPER.PNG" in names
    assert not any(n.endswith(".txt") for n in names)
    assert names.index("cats/img_04.png") < names.index("cats/nested/deep.png")  # folder after files


@pytest.mark.parametrize("color_mode, channels", [("grayscale", 1), ("rgb", 3), ("rgba", 4)])
def test_color_modes(tmp_path, color_mode, channels):
    write_classes(tmp_path, {"a": 2, "b": 1}, mode="RGBA")
    x, _ = idfd(tmp_path, color_mode=color_mode, shuffle=False, image_size=(5, 6),
                verbose=False)[0]
    assert x.shape == (3, 5, 6, channels) and x.dtype == np.float32
    assert 0 <= x.min() and x.max() <= 255


def test_grayscale_uses_libpngs_weights(tmp_path):
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 200, 30]]], dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "c.png")
    gray = read_image(str(tmp_path / "c.png"), 1)[0, :, 0]
    # (9797 R + 19234 G + 3737 B) >> 15, rounded down: 76.24 -> 76, 149.7 -> 149, 29.08 -> 29
    np.testing.assert_array_equal(gray, [76, 149, 29, (9797 * 10 + 19234 * 200 + 3737 * 30) >> 15])
    assert read_image(str(tmp_path / "c.png"), 4)[0, 0].tolist() == [255, 0, 0, 255]


# ---------------------------------------------------------------------------------- resize golden
def test_bilinear_resize_golden(tmp_path):
    Image.fromarray(np.array([[0, 100], [200, 40]], dtype=np.uint8)).save(tmp_path / "g.png")
    out = load_image(str(tmp_path / "g.png"), (4, 4), 1)[..., 0]
    # half-pixel centres: output 0..3 sit at source -0.25, 0.25, 0.75, 1.25 (clamped at the borders)
    row0 = [0, 25, 75, 100]  # between 0 and 100
    row3 = [200, 160, 80, 40]  # between 200 and 40
    expected = [row0, [50, 58.75, 76.25, 85], [150, 126.25, 78.75, 55], row3]
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-4)


def test_pad_to_aspect_ratio_golden(tmp_path):
    Image.fromarray(np.full((2, 4), 80, dtype=np.uint8)).save(tmp_path / "w.png")
    out = load_image(str(tmp_path / "w.png"), (4, 4), 1, pad_to_aspect_ratio=True)[..., 0]
    # resized to 2x4 (ratio 1), then one zero row above and one below
    np.testing.assert_array_equal(out, [[0] * 4, [80] * 4, [80] * 4, [0] * 4])


def test_crop_to_aspect_ratio_golden(tmp_path):
    Image.fromarray(np.arange(8, dtype=np.uint8).reshape(2, 4) * 10).save(tmp_path / "w.png")
    out = load_image(str(tmp_path / "w.png"), (2, 2), 1, crop_to_aspect_ratio=True)[..., 0]
    np.testing.assert_array_equal(out, [[10, 20], [50, 60]])  # the centred 2x2 window


# ---------------------------------------------------------------------------------- shuffle, split
def test_seeded_shuffle_is_randomstate_on_the_sorted_list(folder):
    plain = idfd(folder, shuffle=False, image_size=4, verbose=False)
    shuffled = idfd(folder, shuffle=True, seed=42, image_size=4, verbose=False)
    expected = list(plain.file_paths)
    np.random.RandomState(42).shuffle(expected)
    assert shuffled.file_paths == expected
    assert shuffled.file_paths == shuffle_file_list(plain.file_paths, plain.labels, 42)[0]
    labels_by_class = {p: plain.labels[i] for i, p in enumerate(plain.file_paths)}
    assert [labels_by_class[p] for p in shuffled.file_paths] == shuffled.labels.tolist()


def test_each_pass_reorders_the_files_and_keeps_them(folder):
    ds = idfd(folder, shuffle=True, seed=1, image_size=4, batch_size=2, verbose=False)
    passes = [np.concatenate([y for _, y in ds]) for _ in range(4)]
    orders = {tuple(p) for p in passes}
    assert len(orders) > 1
    for p in passes:
        np.testing.assert_array_equal(np.sort(p), np.sort(ds.labels))
    again = idfd(folder, shuffle=True, seed=1, image_size=4, batch_size=2, verbose=False)
    np.testing.assert_array_equal(np.concatenate([y for _, y in again]), passes[0])


def test_shuffle_buffer_order_is_a_local_permutation():
    rng = np.random.default_rng(0)
    order = shuffle_buffer_order(100, 8, rng)
    assert sorted(order.tolist()) == list(range(100))
    assert all(order[i] <= i + 7 for i in range(100))  # an element moves at most 7 places earlier
    np.testing.assert_array_equal(shuffle_buffer_order(5, 1, rng), np.arange(5))


@pytest.mark.parametrize("split", [0.2, 0.5, 0.75])
def test_validation_split_disjoint_and_complete(folder, split):
    kw = {"validation_split": split, "seed": 3, "image_size": 4, "verbose": False}
    train, val = idfd(folder, subset="both", **kw)
    everything = idfd(folder, shuffle=True, seed=3, image_size=4, verbose=False).file_paths
    assert not set(train.file_paths) & set(val.file_paths)
    assert train.file_paths + val.file_paths == everything
    assert len(val.file_paths) == int(split * 9)
    assert idfd(folder, subset="training", **kw).file_paths == train.file_paths
    assert idfd(folder, subset="validation", **kw).file_paths == val.file_paths
    assert not val.shuffles_each_pass and train.shuffles_each_pass


def test_fit_takes_it_and_keeps_its_order(folder):
    ds = idfd(folder, label_mode="categorical", shuffle=False, image_size=8, batch_size=1,
              verbose=False)
    seen = []

    class Record(sn.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(batch)

    model = sn.Sequential([sn.layers.Input((8, 8, 3)), sn.layers.Rescaling(1 / 255),
                           sn.layers.Flatten(), sn.layers.Dense(3, activation="softmax")], seed=0)
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    order = []
    original = type(ds).__getitem__

    def spy(self, i):
        order.append(i)
        return original(self, i)

    type(ds).__getitem__ = spy
    try:
        history = model.fit(ds, epochs=2, verbose=0, callbacks=[Record()])  # fit's shuffle=True
    finally:
        type(ds).__getitem__ = original
    assert len(history.history["loss"]) == 2
    assert order[-18:] == list(range(9)) * 2  # batches in the dataset's order, both epochs
    assert 0 <= model.evaluate(ds, verbose=0)[1] <= 1


# ---------------------------------------------------------------------------------- bad input
def test_empty_folder(tmp_path):
    (tmp_path / "a").mkdir()
    with pytest.raises(ValueError, match="no images found in directory"):
        idfd(tmp_path, verbose=False)


def test_folder_without_classes_says_so(tmp_path):
    write_image(tmp_path / "loose.png", (4, 4))
    with pytest.raises(ValueError, match=r"no sub-folders.*1 image files directly.*labels=None"):
        idfd(tmp_path, verbose=False)
    assert len(idfd(tmp_path, labels=None, image_size=4, verbose=False).file_paths) == 1


def test_missing_directory(tmp_path):
    with pytest.raises(ValueError, match="not a directory"):
        idfd(tmp_path / "nope")


def test_unreadable_file_is_named_when_read(folder):
    bad = folder / "rock" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    ds = idfd(folder, shuffle=False, image_size=4, batch_size=2, verbose=False)
    assert str(bad) in ds.file_paths
    with pytest.raises(ValueError, match=r"could not read the image file .*broken\.png.*skip_bad_images"):
        list(ds)
    with pytest.warns(UserWarning, match="broken.png"):
        skipped = idfd(folder, shuffle=False, image_size=4, verbose=False, skip_bad_images=True)
    assert str(bad) not in skipped.file_paths and len(skipped.file_paths) == 9
    assert len(list(skipped)) == 1


@pytest.mark.parametrize("kwargs, message", [
    ({"color_mode": "bgr"}, r"`color_mode` must be one of .*Received: color_mode='bgr'"),
    ({"image_size": (8,)}, r"invalid `image_size`.*Received: image_size=\(8,\)"),
    ({"image_size": (8, 0)}, r"invalid `image_size`.*\(8, 0\)"),
    ({"image_size": "big"}, r"invalid `image_size`.*'big'"),
    ({"label_mode": "sparse"}, r"`label_mode` argument must be one of.*'sparse'"),
    ({"label_mode": "binary"}, r"exactly 2 class_names.*\['paper', 'rock', 'scissors'\]"),
    ({"labels": "folders"}, r"`labels` argument should be a list/tuple"),
    ({"labels": np.zeros(9)}, r"`labels` argument should be a list/tuple"),
    ({"labels": [0, 1]}, r"len\(labels\) is 2 while we found 9 files"),
    ({"labels": [0] * 9, "class_names": ["a"]}, r"only pass `class_names` if `labels=\"inferred\"`"),
    ({"labels": None, "class_names": ["a"]}, r"`labels=None` \(no labels\), argument `class_names`"),
    ({"class_names": ["rock", "lizard"]}, r"did not match.*\['paper', 'rock', 'scissors'\]"),
    ({"interpolation": "cubic"}, r"`interpolation` should be one of.*'cubic'"),
    ({"interpolation": "bicubic"}, r"'bicubic' is not implemented in scratchnet"),
    ({"validation_split": 0.2}, r"if `subset` is set, `validation_split` must be set"),
    ({"validation_split": 1.5, "subset": "training"}, r"between 0 and 1, received: 1.5"),
    ({"validation_split": 0.2, "subset": "testing", "seed": 1}, r"`subset` must be either.*'testing'"),
    ({"validation_split": 0.2, "subset": "training"}, r"you must provide a `seed`"),
    ({"crop_to_aspect_ratio": True, "pad_to_aspect_ratio": True}, r"only one of `pad_to_aspect_ratio`"),
    ({"batch_size": 0}, r"batch_size to be a positive integer or None, received 0"),
    ({"data_format": "channels_first"}, r"channels_last"),
    ({"format": "torch"}, r"`format` should be either \"tf\" or \"grain\""),
])
def test_bad_arguments(folder, kwargs, message):
    with pytest.raises(ValueError, match=message):
        idfd(folder, verbose=False, **kwargs)


def test_validation_split_too_small_for_the_folder(folder):
    with pytest.raises(ValueError, match="no training images found"):  # int(0.1 * 9) == 0
        idfd(folder, validation_split=0.1, subset="both", seed=1, verbose=False)


def test_verbose_prints_keras_counts(folder, capsys):
    idfd(folder, image_size=4, validation_split=0.25, subset="training", seed=2)
    assert capsys.readouterr().out.splitlines() == ["Found 9 files belonging to 3 classes.",
                                                    "Using 7 files for training."]


# ---------------------------------------------------------------------------------- save_rps_directory
def test_save_rps_directory_writes_the_generated_hands(tmp_path):
    train_dir, test_dir = sn.datasets.save_rps_directory(tmp_path / "rps", image_size=20, seed=3,
                                                         num_train=7, num_test=4)
    assert (train_dir, test_dir) == (tmp_path / "rps" / "train", tmp_path / "rps" / "test")
    assert sorted(p.name for p in (train_dir / "rock").iterdir()) == \
        ["rock0000.png", "rock0003.png", "rock0006.png"]
    assert len(list((test_dir / "scissors").iterdir())) == 1
    ds = idfd(train_dir, shuffle=False, image_size=20, batch_size=None, verbose=False)
    assert ds.class_names == ["paper", "rock", "scissors"]
    x, y = sn.datasets.load_rps("train", image_size=20, seed=3, num_samples=7, cache=False)
    by_name = {os.path.basename(p): i for i, p in enumerate(ds.file_paths)}
    for i in range(7):
        name = f"{sn.datasets.RPS_CLASS_NAMES[y[i]]}{i:04d}.png"
        image, label = ds[by_name[name]]
        assert ds.class_names[label] == sn.datasets.RPS_CLASS_NAMES[y[i]]
        np.testing.assert_array_equal(image, np.round(x[i] * 255))


def test_save_rps_directory_reuses_and_rewrites(tmp_path):
    args = {"image_size": 16, "num_train": 3, "num_test": 3}
    train_dir, _ = sn.datasets.save_rps_directory(tmp_path, **args)
    first = train_dir / "rock" / "rock0000.png"
    stamp = first.stat().st_mtime_ns
    sn.datasets.save_rps_directory(tmp_path, **args)
    assert first.stat().st_mtime_ns == stamp  # same arguments: nothing written
    sn.datasets.save_rps_directory(tmp_path, **{**args, "num_train": 2})
    assert sorted(p.name for d in train_dir.iterdir() for p in d.iterdir()) == \
        ["paper0001.png", "rock0000.png"]  # the old third image is gone


def test_save_rps_directory_refuses_foreign_folders_and_bad_arguments(tmp_path):
    write_image(tmp_path / "train" / "cat" / "x.png", (4, 4))
    with pytest.raises(ValueError, match="not written by save_rps_directory.*overwrite=True"):
        sn.datasets.save_rps_directory(tmp_path, image_size=16, num_train=1, num_test=1)
    sn.datasets.save_rps_directory(tmp_path, image_size=16, num_train=1, num_test=1, overwrite=True)
    assert not (tmp_path / "train" / "cat").exists()
    for kwargs, message in (({"image_size": 300}, "image_size to be an integer from 16 to 150"),
                            ({"num_test": 0}, "num_test to be a positive integer"),
                            ({"seed": -1}, "seed to be an integer >= 0")):
        with pytest.raises(ValueError, match=message):
            sn.datasets.save_rps_directory(tmp_path / "other", **kwargs)


def test_tf_data_methods_course_programs_call(folder):
    """take / skip / map / cache / prefetch / as_numpy_iterator / cardinality, as on Keras'
    tf.data.Dataset: the same batches, lazily, and a view still trains in fit."""
    ds = sn.utils.image_dataset_from_directory(folder, image_size=(8, 8), batch_size=2,
                                               shuffle=False, verbose=False)
    n = len(ds)
    assert ds.cardinality() == n and len(ds.take(1)) == 1 and len(ds.skip(1)) == n - 1
    assert len(ds.take(-1)) == n and len(ds.take(10 * n)) == n  # -1: all, as tf.data
    images, labels = next(iter(ds.take(1)))  # the course's "for images, labels in ds.take(1)"
    np.testing.assert_array_equal(images, ds[0][0])
    np.testing.assert_array_equal(ds.skip(1)[0][0], ds[1][0])
    scaled = ds.map(lambda x, y: (x / 255.0, y))  # the function runs on each batch as it is read
    np.testing.assert_allclose(scaled[1][0], ds[1][0] / 255.0)
    np.testing.assert_array_equal(scaled[1][1], ds[1][1])
    assert ds.prefetch(4) is ds
    batches = list(ds.cache().as_numpy_iterator())
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(batches, list(ds), strict=True))
    shuffled = sn.utils.image_dataset_from_directory(folder, image_size=(8, 8), batch_size=2,
                                                     seed=3, verbose=False)
    passes = [np.concatenate([labels for _, labels in shuffled]) for _ in range(2)]
    assert not np.array_equal(*passes)  # the source reshuffles each pass...
    cached = shuffled.cache()
    passes = [np.concatenate([labels for _, labels in cached]) for _ in range(2)]
    np.testing.assert_array_equal(*passes)  # ...a cache keeps its first pass, as tf.data
    model = sn.Sequential([sn.layers.Input((8, 8, 3)), sn.layers.Flatten(),
                           sn.layers.Dense(len(ds.class_names))], seed=0)
    model.compile("adam", sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(scaled.cache().prefetch(1), epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    with pytest.raises(TypeError, match="map: expected a function"):
        ds.map(3)
    with pytest.raises(ValueError, match="caches in memory only"):
        ds.cache("file.tfcache")


def test_dataset_shuffle_as_the_flowers_lesson_chains_it(folder):
    """``train_ds.cache().shuffle(1000).prefetch(...)``: every batch once per pass, a new order
    each pass (tf.data's buffered order), or the same with reshuffle_each_iteration=False."""
    ds = sn.utils.image_dataset_from_directory(folder, image_size=(8, 8), batch_size=1,
                                               shuffle=False, verbose=False)
    shuffled = ds.cache().shuffle(1000, seed=1).prefetch(1)
    passes = [[float(images.sum()) for images, _ in shuffled] for _ in range(4)]
    originals = sorted(float(images.sum()) for images, _ in ds)
    assert all(sorted(p) == originals for p in passes)
    assert len({tuple(p) for p in passes}) > 1
    fixed = ds.shuffle(1000, seed=1, reshuffle_each_iteration=False)
    first, second = [np.concatenate([y for _, y in fixed]) for _ in range(2)]
    np.testing.assert_array_equal(first, second)
    unshuffled = ds.shuffle(1)  # a buffer of one keeps the order
    np.testing.assert_array_equal(np.concatenate([y for _, y in unshuffled]),
                                  np.concatenate([y for _, y in ds]))
    model = sn.Sequential([sn.layers.Input((8, 8, 3)), sn.layers.Flatten(),
                           sn.layers.Dense(len(ds.class_names))], seed=0)
    model.compile("adam", sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert len(model.fit(shuffled, epochs=2, verbose=0).history["loss"]) == 2
    for bad, message in ((0, "buffer_size to be a positive integer"), (2.5, "buffer_size"),
                         (True, "buffer_size")):
        with pytest.raises(ValueError, match=message):
            ds.shuffle(bad)
    with pytest.raises(ValueError, match="shuffle: expected seed to be None or a non-negative"):
        ds.shuffle(10, seed="a")
