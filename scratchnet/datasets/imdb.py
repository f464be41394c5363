"""``keras.datasets.imdb``: 50,000 movie reviews as word ids, labelled 1 positive / 0 negative,
read from Keras' cache (``$KERAS_HOME/datasets/imdb.npz`` and ``imdb_word_index.json``).

The processing is Keras' (:mod:`scratchnet.datasets.word_ids`): train and test are each shuffled
with ``np.random.RandomState(seed)`` (one generator, train first), ids shifted by ``index_from``
behind ``start_char``, long reviews dropped, the vocabulary capped. ``x`` comes back as a NumPy
object array of Python lists, ``y`` as the file's int64 labels.
"""

from __future__ import annotations

import numpy as np

from scratchnet.datasets import word_ids
from scratchnet.datasets.keras_cache import ORIGIN, cached_file, check_fname, load_npz


def load_data(path: str = "imdb.npz", num_words: int | None = None, skip_top: int = 0,
              maxlen: int | None = None, seed: int = 113, start_char: int | None = 1,
              oov_char: int | None = 2, index_from: int = 3, **kwargs):
    """``(x_train, y_train), (x_test, y_test)`` as Keras' ``imdb.load_data`` returns them (Keras
    takes and ignores other keyword arguments; so does scratchnet)."""
    fname = check_fname(path, "imdb.load_data")
    f = load_npz(cached_file(fname, f"{ORIGIN}imdb.npz", "imdb.load_data"))
    rng = np.random.RandomState(seed)
    x_train, labels_train = word_ids.shuffle(rng, f["x_train"], f["y_train"])
    x_test, labels_test = word_ids.shuffle(rng, f["x_test"], f["y_test"])
    x_train = word_ids.shift(x_train, start_char, index_from)
    x_test = word_ids.shift(x_test, start_char, index_from)
    if maxlen:
        x_train, labels_train = word_ids.remove_long_seq(maxlen, x_train, labels_train)
        x_test, labels_test = word_ids.remove_long_seq(maxlen, x_test, labels_test)
        if not x_train or not x_test:
            raise ValueError(f"imdb.load_data: after filtering for sequences shorter than "
                             f"maxlen={maxlen}, no sequence was kept. Increase maxlen.")
    xs = word_ids.cap_vocabulary(x_train + x_test, num_words, skip_top, oov_char)
    labels = np.concatenate([labels_train, labels_test])
    idx = len(x_train)
    x_train, y_train = np.array(xs[:idx], dtype="object"), labels[:idx]
    x_test, y_test = np.array(xs[idx:], dtype="object"), labels[idx:]
    return (x_train, y_train), (x_test, y_test)


def get_word_index(path: str = "imdb_word_index.json") -> dict:
    """``{word: id}`` for the reviews' ids (before the ``index_from`` shift)."""
    return word_ids.word_index(path, "imdb_word_index.json", "imdb.get_word_index")
