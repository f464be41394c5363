"""``keras.datasets.reuters``: 11,228 Reuters newswires as word ids, labelled with one of 46
topics, read from Keras' cache (``$KERAS_HOME/datasets/reuters.npz`` and
``reuters_word_index.json``).

As Keras: one shuffle of all newswires with ``np.random.RandomState(seed)``, the IMDB processing
(:mod:`scratchnet.datasets.word_ids`), then the first ``int(len * (1 - test_split))`` train and
the rest test.
"""

from __future__ import annotations

import numpy as np

from scratchnet.datasets import word_ids
from scratchnet.datasets.keras_cache import ORIGIN, cached_file, check_fname, load_npz

LABEL_NAMES = (
    "cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing", "money-supply",
    "coffee", "sugar", "trade", "reserves", "ship", "cotton", "carcass", "crude", "nat-gas", "cpi",
    "money-fx", "interest", "gnp", "meal-feed", "alum", "oilseed", "gold", "tin", "strategic-metal",
    "livestock", "retail", "ipi", "iron-steel", "rubber", "heat", "jobs", "lei", "bop", "zinc",
    "orange", "pet-chem", "dlr", "gas", "silver", "wpi", "hog", "lead",
)


def load_data(path: str = "reuters.npz", num_words: int | None = None, skip_top: int = 0,
              maxlen: int | None = None, test_split: float = 0.2, seed: int = 113,
              start_char: int | None = 1, oov_char: int | None = 2, index_from: int = 3):
    """``(x_train, y_train), (x_test, y_test)`` as Keras' ``reuters.load_data`` returns them."""
    fname = check_fname(path, "reuters.load_data")
    f = load_npz(cached_file(fname, f"{ORIGIN}reuters.npz", "reuters.load_data"))
    xs, labels = word_ids.shuffle(np.random.RandomState(seed), f["x"], f["y"])
    xs = word_ids.shift(xs, start_char, index_from)
    if maxlen:
        xs, labels = word_ids.remove_long_seq(maxlen, xs, labels)
    xs = word_ids.cap_vocabulary(xs, num_words, skip_top, oov_char)
    idx = int(len(xs) * (1 - test_split))
    x_train, y_train = np.array(xs[:idx], dtype="object"), np.array(labels[:idx])
    x_test, y_test = np.array(xs[idx:], dtype="object"), np.array(labels[idx:])
    return (x_train, y_train), (x_test, y_test)


def get_word_index(path: str = "reuters_word_index.json") -> dict:
    """``{word: id}`` for the newswires' ids (before the ``index_from`` shift)."""
    return word_ids.word_index(path, "reuters_word_index.json", "reuters.get_word_index")


def get_label_names() -> tuple[str, ...]:
    """The 46 topic names, label ``i`` at position ``i`` (Keras' tuple)."""
    return LABEL_NAMES
