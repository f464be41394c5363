"""``sn.preprocessing.image.ImageDataGenerator`` against Keras 3.15's own (``tf.keras.preprocessing.
image.ImageDataGenerator``, its legacy module): the course's rock-paper-scissors generator on PNG and
JPEG class folders the test writes, seeded, gives Keras' batches bit for bit (every index, the
reshuffle after an epoch, the endless ``next``, the validation_split subsets); so does ``flow`` on
arrays; every transform on square and non-square images in every fill mode; and the draws, whole
number and list shift ranges included. Both read NumPy's global random generator, so each side runs
its whole sequence before the other starts."""

import numpy as np
import pytest
import tensorflow as tf

from scratchnet.preprocessing.image import ImageDataGenerator
from tests.image_folders import write_classes

KerasGenerator = tf.keras.preprocessing.image.ImageDataGenerator
COURSE = dict(rescale=1 / 255, rotation_range=40, width_shift_range=0.2, height_shift_range=0.2,
              shear_range=0.2, zoom_range=0.2, horizontal_flip=True, fill_mode="nearest")


def _sequence(make, folder, subset, class_mode):
    it = make(**COURSE, validation_split=0.3).flow_from_directory(
        folder, target_size=(16, 18), class_mode=class_mode, batch_size=4, seed=3, subset=subset)
    batches = [it[i] for i in range(len(it))]
    it.on_epoch_end()
    batches.append(it[0])
    batches += [next(it) for _ in range(5)]
    return it, batches


@pytest.mark.parametrize("subset", [None, "training", "validation"])
@pytest.mark.parametrize("class_mode", ["categorical", "sparse"])
def test_flow_from_directory_gives_keras_batches(tmp_path, subset, class_mode):
    write_classes(tmp_path / "rps", {"paper": 5, "rock": 6, "scissors": 4}, sizes=((20, 24), (15, 15)))
    write_classes(tmp_path / "rps", {"rock/more": 2}, ext=".jpg", sizes=((22, 21),), seed=9)  # a sub-folder
    ours, our_batches = _sequence(ImageDataGenerator, tmp_path / "rps", subset, class_mode)
    theirs, their_batches = _sequence(KerasGenerator, tmp_path / "rps", subset, class_mode)
    assert ours.filenames == theirs.filenames and ours.class_indices == theirs.class_indices
    np.testing.assert_array_equal(ours.classes, theirs.classes)
    assert len(our_batches) == len(their_batches) and len(ours) == len(theirs)
    for mine, keras_batch in zip(our_batches, their_batches, strict=True):
        assert mine[0].dtype == keras_batch[0].dtype == np.float32
        np.testing.assert_array_equal(mine[0], keras_batch[0])
        np.testing.assert_array_equal(mine[1], keras_batch[1])


def test_flow_on_arrays_gives_keras_batches():
    rng = np.random.default_rng(0)
    x, y = rng.random((10, 12, 14, 3)).astype(np.float32) * 255, np.arange(10) % 3
    w = rng.random(10)

    def run(make):
        it = make(**COURSE, vertical_flip=True).flow(x, y, batch_size=4, seed=1, sample_weight=w)
        return [it[i] for i in range(len(it))] + [next(it) for _ in range(4)]

    for mine, keras_batch in zip(run(ImageDataGenerator), run(KerasGenerator), strict=True):
        for a, b in zip(mine, keras_batch, strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("fill_mode", ["nearest", "constant", "reflect", "wrap"])
@pytest.mark.parametrize("shape", [(12, 12, 3), (10, 14, 2)], ids=str)
@pytest.mark.parametrize("params", [dict(theta=30), dict(tx=2.5), dict(ty=-3.0), dict(shear=20),
                                    dict(zx=1.2, zy=0.8),
                                    dict(theta=10, tx=1, ty=2, shear=5, zx=0.9, zy=1.1,
                                         flip_horizontal=True, flip_vertical=True)], ids=str)
def test_apply_transform_is_keras(params, shape, fill_mode):
    x = np.random.default_rng(1).random(shape).astype(np.float32)
    ours = ImageDataGenerator(fill_mode=fill_mode, cval=0.5).apply_transform(x, params)
    theirs = KerasGenerator(fill_mode=fill_mode, cval=0.5).apply_transform(x, params)
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("kwargs", [COURSE, dict(width_shift_range=3, height_shift_range=[1, 2, 5]),
                                    dict(width_shift_range=0.5, zoom_range=(0.5, 2.0), vertical_flip=True),
                                    dict(rotation_range=90, shear_range=45)])
def test_the_draws_are_keras(kwargs):
    for seed in (0, 5, 123):
        assert ImageDataGenerator(**kwargs).get_random_transform((9, 11, 3), seed=seed) == \
            KerasGenerator(**kwargs).get_random_transform((9, 11, 3), seed=seed)
