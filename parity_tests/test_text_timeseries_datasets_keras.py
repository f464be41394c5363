"""``text_dataset_from_directory`` and ``timeseries_dataset_from_array`` against Keras 3.15's, on
small folders and arrays the tests write: the same texts (bytes, cut at ``max_length`` bytes),
labels, classes and order where Keras' order is NumPy's (no per-pass shuffle, or the validation
half of ``subset="both"``), and the same elements where a per-pass shuffle reorders them
(TensorFlow's shuffle buffer cannot be reproduced)."""

import keras
import numpy as np
import pytest

import scratchnet as sn


def write_reviews(root, n_per_class=7):
    """Class folders as IMDB's: neg/ and pos/, a nested folder, a non-.txt file, UTF-8 text."""
    rng = np.random.default_rng(0)
    words = ["good", "bad", "naïve", "film", "plot", "great", "awful", "über", "movie", "acting"]
    for label in ("neg", "pos"):
        folder = root / label
        (folder / "more").mkdir(parents=True)
        for k in range(n_per_class):
            text = " ".join(rng.choice(words, size=rng.integers(3, 12)))
            target = folder / "more" if k % 3 == 0 else folder
            (target / f"{k:02d}_{label}.txt").write_text(f"{label} {k}: {text}", encoding="utf-8")
        (folder / "notes.md").write_text("not a review")
    return root


def batches(ds):
    out = []
    for batch in ds:
        x, y = batch if isinstance(batch, tuple) else (batch, None)
        out.append((np.asarray(x).tolist(), None if y is None else np.asarray(y).tolist()))
    return out


@pytest.mark.parametrize("kwargs", [
    dict(shuffle=False),
    dict(shuffle=False, label_mode="categorical", batch_size=4),
    dict(shuffle=False, label_mode="binary", max_length=9, batch_size=5),
    dict(shuffle=False, labels=None, batch_size=3),
    dict(shuffle=False, class_names=["pos", "neg"]),
    dict(shuffle=False, batch_size=None, max_length=4),
])
def test_text_batches_equal_keras(tmp_path, kwargs):
    root = write_reviews(tmp_path)
    ds = sn.utils.text_dataset_from_directory(root, verbose=False, **kwargs)
    kds = keras.utils.text_dataset_from_directory(root, verbose=False, **kwargs)
    assert batches(ds) == batches(kds.as_numpy_iterator())
    if kwargs.get("labels", "inferred") is not None:
        assert ds.class_names == kds.class_names


def test_text_shuffle_and_split_as_keras(tmp_path):
    """With a seed: the validation half of "both" comes in Keras' order exactly (no per-pass
    shuffle there); the training half holds the same texts with the same labels."""
    root = write_reviews(tmp_path, n_per_class=9)
    args = dict(validation_split=0.3, subset="both", seed=42, batch_size=4, verbose=False)
    train, val = sn.utils.text_dataset_from_directory(root, **args)
    ktrain, kval = keras.utils.text_dataset_from_directory(root, **args)
    assert batches(val) == batches(kval.as_numpy_iterator())

    def pairs(ds):
        return sorted((t, label) for x, y in batches(ds) for t, label in zip(x, y, strict=True))

    assert pairs(train) == pairs(ktrain.as_numpy_iterator())
    assert len(train) == len(ktrain)


def test_text_dataset_feeds_text_vectorization_and_fit(tmp_path):
    """The Keras text-classification recipe: adapt on the texts alone, then fit on the batches."""
    root = write_reviews(tmp_path)
    ds = sn.utils.text_dataset_from_directory(root, batch_size=4, seed=1, verbose=False)
    vectorize = sn.layers.TextVectorization(max_tokens=30, output_sequence_length=8)
    vectorize.adapt(ds.map(lambda x, y: x))
    kvectorize = keras.layers.TextVectorization(max_tokens=30, output_sequence_length=8)
    kvectorize.adapt(keras.utils.text_dataset_from_directory(root, batch_size=4, seed=1,
                                                             verbose=False).map(lambda x, y: x))
    assert vectorize.get_vocabulary() == kvectorize.get_vocabulary()
    model = sn.Sequential([sn.layers.Input((1,), dtype="string"), vectorize,
                           sn.layers.Embedding(30, 4), sn.layers.GlobalAveragePooling1D(),
                           sn.layers.Dense(1, activation="sigmoid")], seed=0)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(ds, epochs=2, verbose=0).history
    assert len(history["loss"]) == 2 and np.isfinite(history["loss"]).all()


SERIES_CASES = [
    dict(sequence_length=5),
    dict(sequence_length=4, sequence_stride=3, batch_size=3),
    dict(sequence_length=3, sampling_rate=2, batch_size=5),
    dict(sequence_length=4, start_index=6, end_index=30, batch_size=4),
    dict(sequence_length=2, batch_size=None),
    dict(sequence_length=3, sequence_stride=2, sampling_rate=3, start_index=1, batch_size=7,
         targets=None),
]


@pytest.mark.parametrize("kwargs", SERIES_CASES)
def test_timeseries_windows_equal_keras(kwargs):
    kwargs = dict(kwargs)
    data = np.arange(40 * 2, dtype=np.float32).reshape(40, 2)
    targets = kwargs.pop("targets", np.arange(40) * 10)
    ds = sn.utils.timeseries_dataset_from_array(data, targets, **kwargs)
    kds = keras.utils.timeseries_dataset_from_array(data, targets, **kwargs)
    ours, theirs = batches(ds), batches(kds.as_numpy_iterator())
    assert ours == theirs
    assert len(ds) == len(ours)


def test_timeseries_shuffle_keeps_keras_windows():
    data = np.arange(50, dtype=np.float32)
    targets = np.arange(50) + 100
    args = dict(sequence_length=4, sequence_stride=2, batch_size=6, shuffle=True, seed=3)
    ds = sn.utils.timeseries_dataset_from_array(data, targets, **args)
    kds = keras.utils.timeseries_dataset_from_array(data, targets, **args)

    def windows(items):
        return sorted((tuple(w), t) for x, y in items for w, t in zip(x, y, strict=True))

    assert windows(batches(ds)) == windows(batches(kds.as_numpy_iterator()))
    # one-off shuffle: Keras' RandomState permutation of the start positions
    expected = np.arange(0, 47, 2)
    np.random.RandomState(3).shuffle(expected)
    np.testing.assert_array_equal(ds.starts, expected)


def test_normalize_equals_keras():
    x = np.random.default_rng(0).normal(size=(4, 5))
    x[1] = 0.0
    for axis, order in ((-1, 2), (1, 1), (-1, 3)):
        np.testing.assert_array_equal(sn.utils.normalize(x, axis, order),
                                      keras.utils.normalize(x, axis, order))
    # axis=0: Keras 3.15's `axis or -1` makes it -1 (here: broadcasting fails); scratchnet's is axis 0
    with pytest.raises(ValueError):
        keras.utils.normalize(x, 0, 2)
    np.testing.assert_allclose(sn.utils.normalize(x, 0, 2), x / np.linalg.norm(x, axis=0), rtol=1e-15)
