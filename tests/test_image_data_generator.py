"""``sn.preprocessing.image.ImageDataGenerator`` without TensorFlow: hand-checked transforms on tiny
images, labels in every class_mode, a seeded run that repeats, training a model from it as the
course's rock-paper-scissors notebook does, and the errors for what is not built or wrong.
parity_tests/test_image_data_generator_keras.py compares it with Keras' generator batch for batch."""

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.preprocessing.image import ImageDataGenerator
from tests.image_folders import write_classes

L = sn.layers


def _square(n=4):
    return np.arange(n * n, dtype=np.float32).reshape(n, n, 1)


def test_identity_flips_and_quarter_turns():
    gen = ImageDataGenerator()
    x = _square()
    assert gen.apply_transform(x, {}) is x  # nothing drawn: the image as it is
    np.testing.assert_array_equal(gen.apply_transform(x, {"flip_horizontal": True}), x[:, ::-1])
    np.testing.assert_array_equal(gen.apply_transform(x, {"flip_vertical": True}), x[::-1])
    turned = gen.apply_transform(x, {"theta": 90})  # a quarter turn counter-clockwise, about the centre
    np.testing.assert_allclose(turned[..., 0], np.rot90(x[..., 0], k=1), atol=1e-5)
    np.testing.assert_allclose(gen.apply_transform(x, {"theta": 180})[..., 0], x[::-1, ::-1, 0], atol=1e-5)


def test_a_whole_pixel_shift_and_the_fill_modes():
    x = _square()
    shifted = ImageDataGenerator(fill_mode="constant", cval=-1).apply_transform(x, {"tx": 1})
    # Keras' matrix acts on (column, row): tx moves the image along its columns (module docstring)
    np.testing.assert_array_equal(shifted[:, :3, 0], x[:, 1:, 0])
    np.testing.assert_array_equal(shifted[:, 3, 0], [-1] * 4)
    nearest = ImageDataGenerator(fill_mode="nearest").apply_transform(x, {"tx": 1})
    np.testing.assert_array_equal(nearest[:, 3, 0], x[:, 3, 0])


def test_rescale_and_samplewise_standardization():
    x = np.full((2, 2, 1), 255.0, np.float32)
    np.testing.assert_allclose(ImageDataGenerator(rescale=1 / 255).standardize(x.copy()), 1.0)
    y = np.array([[[1.0], [3.0]]], np.float32)
    out = ImageDataGenerator(samplewise_std_normalization=True).standardize(y.copy())
    np.testing.assert_allclose(out.ravel(), [-1, 1], rtol=1e-5)


@pytest.mark.parametrize("class_mode, expected", [
    ("categorical", [[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]), ("sparse", [0, 0, 1, 2]),
    ("binary", None), ("input", None), (None, None)])
def test_labels_in_every_class_mode(tmp_path, class_mode, expected):
    write_classes(tmp_path, {"paper": 2, "rock": 1, "scissors": 1})
    if class_mode == "binary":
        (tmp_path / "scissors" / "img_00.png").unlink()
        (tmp_path / "scissors").rmdir()
    it = ImageDataGenerator(rescale=1 / 255).flow_from_directory(
        tmp_path, target_size=(6, 5), class_mode=class_mode, batch_size=4, shuffle=False)
    batch = it[0]
    assert batch[0].shape[1:] == (6, 5, 3) and batch[0].dtype == np.float32
    assert 0 <= batch[0].min() and batch[0].max() <= 1
    if expected is not None:
        np.testing.assert_array_equal(batch[1], expected)
    elif class_mode == "binary":
        np.testing.assert_array_equal(batch[1], [0, 0, 1])
    elif class_mode == "input":
        np.testing.assert_array_equal(batch[1], batch[0])
    else:
        assert len(batch) == 1


def test_a_seeded_run_repeats_and_the_course_model_trains_from_it(tmp_path):
    write_classes(tmp_path / "train", {"paper": 4, "rock": 4, "scissors": 4}, sizes=((20, 24),))
    course = dict(rescale=1 / 255, rotation_range=40, width_shift_range=0.2, height_shift_range=0.2,
                  shear_range=0.2, zoom_range=0.2, horizontal_flip=True, fill_mode="nearest")

    def batches():
        it = ImageDataGenerator(**course).flow_from_directory(tmp_path / "train", target_size=(16, 16),
                                                              batch_size=5, seed=7)
        return [it[i] for i in range(len(it))]

    first, second = batches(), batches()
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(first[0][0][0], ImageDataGenerator(rescale=1 / 255).flow_from_directory(
        tmp_path / "train", target_size=(16, 16), batch_size=5, seed=7)[0][0][0])  # it augments
    model = sn.Sequential([L.Input((16, 16, 3)), L.Conv2D(4, 3, activation="relu"), L.MaxPooling2D(),
                           L.Flatten(), L.Dense(3, activation="softmax")], seed=0)
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    train = ImageDataGenerator(**course).flow_from_directory(tmp_path / "train", target_size=(16, 16),
                                                             batch_size=4, seed=1)
    history = model.fit(train, epochs=2, steps_per_epoch=3, verbose=0,
                        validation_data=ImageDataGenerator(rescale=1 / 255).flow_from_directory(
                            tmp_path / "train", target_size=(16, 16), batch_size=6))
    assert len(history.history["loss"]) == 2 and np.all(np.isfinite(history.history["val_loss"]))


def test_flow_on_arrays_with_a_validation_split():
    x, y = np.random.default_rng(0).random((10, 5, 5, 1)), np.arange(10)
    gen = ImageDataGenerator(validation_split=0.3)
    train, val = gen.flow(x, y, batch_size=4, shuffle=False, subset="training"), \
        gen.flow(x, y, batch_size=4, shuffle=False, subset="validation")
    np.testing.assert_array_equal(np.concatenate([train[i][1] for i in range(len(train))]), np.arange(3, 10))
    np.testing.assert_array_equal(val[0][1], [0, 1, 2])


@pytest.mark.parametrize("make, expected", [
    (lambda: ImageDataGenerator(featurewise_center=True), r"featurewise_center=True .* not built"),
    (lambda: ImageDataGenerator(zca_whitening=True), r"zca_whitening=True .* not built"),
    (lambda: ImageDataGenerator(brightness_range=(0.5, 1.5)), r"brightness_range .* RandomBrightness"),
    (lambda: ImageDataGenerator(fill_mode="mirror"), r"expected fill_mode to be one of .*'mirror'"),
    (lambda: ImageDataGenerator(zoom_range=(1, 2, 3)), r"expected zoom_range .*\(1, 2, 3\)"),
    (lambda: ImageDataGenerator(rotation_range=-5), r"expected rotation_range to be a number >= 0"),
    (lambda: ImageDataGenerator(validation_split=1.5), r"validation_split strictly between 0 and 1"),
    (lambda: ImageDataGenerator(data_format="channels_first"), r"expected data_format 'channels_last'"),
    (lambda: ImageDataGenerator().flow(np.zeros((2, 3, 3)), batch_size=1), r"expected x of 4 axes"),
    (lambda: ImageDataGenerator().flow(np.zeros((2, 3, 3, 1)), [1]), r"same length, received 2 and 1"),
    (lambda: ImageDataGenerator().flow(np.zeros((2, 3, 3, 1)), batch_size=0), r"batch_size to be a positive"),
    (lambda: ImageDataGenerator().flow(np.zeros((2, 3, 3, 1)), subset="training"),
     r"needs .*validation_split"),
])
def test_bad_input_says_what_and_why(make, expected):
    with pytest.raises(ValueError, match=expected):
        make()


def test_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no folder at"):
        ImageDataGenerator().flow_from_directory(tmp_path / "missing")
    with pytest.raises(ValueError, match=r"expected class_mode to be one of"):
        ImageDataGenerator().flow_from_directory(tmp_path, class_mode="multi")
    with pytest.raises(ValueError, match="save_to_dir is not built"):
        ImageDataGenerator().flow_from_directory(tmp_path, save_to_dir=str(tmp_path))
