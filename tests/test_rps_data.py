"""The procedural rock-paper-scissors data: shapes, ranges, balance, determinism, disjoint splits,
caching, argument checks; and (slow) that it needs convolutions: a dense-only network scores at
least 10 points below the small convnet, which reaches 97%."""

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.datasets import rps


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SCRATCHNET_CACHE_DIR", str(tmp_path / "cache"))


def test_default_sizes_shapes_ranges_and_balance():
    x, y = sn.datasets.load_rps("test", image_size=24)
    assert x.shape == (372, 24, 24, 3)
    assert x.dtype == np.float32 and y.dtype == np.int64
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert np.bincount(y).tolist() == [124, 124, 124]
    assert rps.SPLIT_SIZES == {"train": 2520, "test": 372}
    # Not blank: every image has colour variation (a hand on a background).
    assert np.all(x.reshape(len(x), -1).std(axis=1) > 0.03)


def test_same_seed_same_images_other_seed_other_images():
    a, ya = sn.datasets.load_rps("train", image_size=20, seed=3, num_samples=12, cache=False)
    b, yb = sn.datasets.load_rps("train", image_size=20, seed=3, num_samples=12, cache=False)
    c, _ = sn.datasets.load_rps("train", image_size=20, seed=4, num_samples=12, cache=False)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ya, yb)
    assert not np.any(np.all(a == c, axis=(1, 2, 3)))


def test_a_smaller_set_is_a_prefix_of_the_larger():
    small, ys = sn.datasets.load_rps("train", image_size=20, num_samples=6, cache=False)
    large, yl = sn.datasets.load_rps("train", image_size=20, num_samples=30, cache=False)
    np.testing.assert_array_equal(small, large[:6])
    np.testing.assert_array_equal(ys, yl[:6])


def test_no_image_in_both_splits_and_no_duplicates():
    train, _ = sn.datasets.load_rps("train", image_size=16)
    test, _ = sn.datasets.load_rps("test", image_size=16)
    train_keys = {img.tobytes() for img in train}
    test_keys = {img.tobytes() for img in test}
    assert len(train_keys) == len(train) and len(test_keys) == len(test)
    assert not train_keys & test_keys
    # Not even near-duplicates: the closest train image to each test image is far away.
    flat_train, flat_test = train.reshape(len(train), -1), test[:50].reshape(50, -1)
    d2 = (flat_test ** 2).sum(1)[:, None] + (flat_train ** 2).sum(1)[None] - 2 * flat_test @ flat_train.T
    assert np.sqrt(np.maximum(d2.min(), 0) / flat_train.shape[1]) > 0.05


@pytest.mark.parametrize("size", [16, 57, 150])
def test_any_size_from_16_to_150(size):
    x, y = sn.datasets.load_rps("train", image_size=size, num_samples=3, cache=False)
    assert x.shape == (3, size, size, 3)
    assert y.tolist() == [0, 1, 2]


def test_rendering_does_not_depend_on_resolution():
    big, _ = sn.datasets.load_rps("test", image_size=128, num_samples=6, cache=False)
    small, _ = sn.datasets.load_rps("test", image_size=32, num_samples=6, cache=False)
    pooled = big.reshape(6, 32, 4, 32, 4, 3).mean(axis=(2, 4))  # average 4x4 blocks
    assert np.mean(np.abs(pooled - small)) < 0.03


def test_cache_round_trip_and_version_key(tmp_path):
    x1, y1 = sn.datasets.load_rps("test", image_size=20, num_samples=9)
    files = list((tmp_path / "cache").glob("*.npz"))
    assert len(files) == 1 and f"v{rps.GENERATOR_VERSION}" in files[0].name
    x2, y2 = sn.datasets.load_rps("test", image_size=20, num_samples=9)  # read from the cache
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    files[0].write_bytes(b"damaged")  # a damaged file is redrawn, not trusted
    x3, _ = sn.datasets.load_rps("test", image_size=20, num_samples=9)
    np.testing.assert_array_equal(x1, x3)


def test_follows_floatx():
    sn.config.set_floatx("float64")
    x, _ = sn.datasets.load_rps("test", image_size=16, num_samples=3)
    assert x.dtype == np.float64


@pytest.mark.parametrize("kwargs, match", [
    ({"split": "validation"}, "split 'train' or 'test'"),
    ({"image_size": 151}, "image_size .* 16 to 150, received 151"),
    ({"image_size": 8}, "received 8"),
    ({"image_size": 32.0}, "received 32.0"),
    ({"seed": -1}, "seed"),
    ({"num_samples": 0}, "num_samples"),
])
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sn.datasets.load_rps(**kwargs)


@pytest.mark.slow
def test_convnet_reaches_97_percent_and_dense_only_is_10_points_lower():
    """Exactly the main job's defaults: 32x32 images, 20 epochs, batch 16, Adam from 1e-3 on a
    half-cosine schedule, one BLAS thread (about a minute on 2 cores)."""
    from demo.__main__ import EpochLearningRate, blas_threads, cosine_learning_rate, dense_only_model

    size, epochs = 32, 20
    x, y = sn.datasets.load_rps("train", image_size=size)
    xt, yt = sn.datasets.load_rps("test", image_size=size)
    accuracies = {}
    models = {"cnn": sn.models.rps_cnn((size, size, 3), seed=0),
              "dense": dense_only_model((size, size, 3), seed=0)}
    with blas_threads(1):
        for name, model in models.items():
            model.compile(optimizer=sn.optimizers.Adam(1e-3),
                          loss=sn.losses.SparseCategoricalCrossentropy(), metrics=["accuracy"])
            accuracies[f"{name} untrained"] = model.evaluate(xt, yt, verbose=0)[1]
            schedule = EpochLearningRate(lambda epoch: cosine_learning_rate(epoch, epochs, 1e-3))
            model.fit(x, y, epochs=epochs, batch_size=16, verbose=0, callbacks=[schedule])
            accuracies[name] = model.evaluate(xt, yt, verbose=0)[1]
    assert abs(accuracies["cnn untrained"] - 1 / 3) < 0.05, accuracies  # from chance
    assert accuracies["cnn"] >= 0.97, accuracies
    assert accuracies["cnn"] - accuracies["dense"] >= 0.10, accuracies
