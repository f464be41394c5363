"""The word-id processing Keras' IMDB and Reuters loaders share (``keras/src/datasets/imdb.py``).

Each review or newswire is a list of word ids, ``1`` for the most frequent word. Keras shifts every
id by ``index_from`` (leaving room for padding 0, ``start_char`` and ``oov_char``), puts
``start_char`` in front, drops sequences of ``maxlen`` ids or more, and replaces ids outside
``[skip_top, num_words)`` by ``oov_char`` (or drops them when ``oov_char`` is None).
"""

from __future__ import annotations

import json

import numpy as np

from scratchnet.datasets.keras_cache import ORIGIN, cached_file, check_fname


def shift(xs, start_char, index_from) -> list:
    """``[start_char] + [w + index_from for w in x]`` for each sequence."""
    if start_char is not None:
        return [[start_char] + [w + index_from for w in x] for x in xs]
    if index_from:
        return [[w + index_from for w in x] for x in xs]
    return [list(x) for x in xs]


def remove_long_seq(maxlen: int, seqs, labels):
    """Keep the sequences strictly shorter than ``maxlen`` (Keras' ``remove_long_seq``)."""
    kept = [(x, y) for x, y in zip(seqs, labels, strict=False) if len(x) < maxlen]
    return [x for x, _ in kept], [y for _, y in kept]


def cap_vocabulary(xs, num_words, skip_top: int, oov_char) -> list:
    """Ids outside ``[skip_top, num_words)`` become ``oov_char`` (dropped when it is None);
    ``num_words`` None or 0 means the largest id present."""
    if not num_words:
        num_words = max(max(x) for x in xs)
    if oov_char is not None:
        return [[w if skip_top <= w < num_words else oov_char for w in x] for x in xs]
    return [[w for w in x if skip_top <= w < num_words] for x in xs]


def shuffle(rng: np.random.RandomState, *arrays):
    """The same ``rng.shuffle`` permutation of ``arange(len)`` applied to each array."""
    indices = np.arange(len(arrays[0]))
    rng.shuffle(indices)
    return [a[indices] for a in arrays]


def word_index(path: str, default: str, loader: str) -> dict:
    """The ``{word: id}`` JSON file Keras caches (``imdb_word_index.json``, ...)."""
    fname = check_fname(path, loader)
    with open(cached_file(fname, ORIGIN + default, loader)) as f:
        return json.load(f)
