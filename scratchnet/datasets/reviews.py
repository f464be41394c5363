"""A built-in text data set: short movie reviews, positive (1) or negative (0). No download.

Every review has one opinion, ``<subject> <verb> [not] [intensifier] <adjective>`` ("the plot was
not very clever"), whose label is the adjective's polarity, flipped by a "not" right before it::

    label = polarity(adjective)            if the opinion has no "not"
            1 - polarity(adjective)        if it has ("not good" is negative, "not bad" positive)

Every review also carries a side remark, before or after the opinion, that has a "not" of its
own half the time, far from the adjective ("although i did not expect much" or "although i did
expect much": the same words otherwise). A bag-of-words model (``Embedding ->
GlobalAveragePooling1D``) sees which words occur, not where: it can tell that a review with two
"not"s is negated and one without is not, but it is left guessing on the half with one "not"
(75% accuracy at best). A model that sees word order (``Embedding -> Conv1D ->
GlobalMaxPooling1D``: a window over "not very clever") can reach 100%. Capitals and punctuation
vary, for ``TextVectorization`` to standardize.
"""

from __future__ import annotations

import numbers

import numpy as np

SPLIT_SIZES = {"train": 4000, "test": 1000}
SUBJECTS = ("the movie", "the film", "the plot", "the acting", "the soundtrack", "the story",
            "this show", "the cast", "the ending", "the dialogue", "the script", "the camera work")
VERBS = ("was", "is", "felt", "seemed", "looked")
INTENSIFIERS = ("really", "very", "so", "quite", "truly", "rather")
POSITIVE = ("good", "great", "excellent", "wonderful", "fun", "brilliant", "enjoyable", "moving",
            "clever", "beautiful")
NEGATIVE = ("bad", "boring", "awful", "terrible", "dull", "weak", "poor", "silly", "messy",
            "predictable")
OPENERS = ("", "honestly", "overall", "i think", "to be fair", "in my opinion", "well")
CONNECTORS = ("although", "even though", "though", "while", "as", "and")
# side remarks, each with a slot for an optional "not": (before the slot, after it)
REMARKS = (("i did", "expect much"), ("i had", "read the book"), ("it was", "my first time"),
           ("i was", "alone"), ("i could", "find a seat"), ("i had", "seen the trailer"),
           ("we did", "stay until the end"), ("my friend was", "there"))
_SPLIT_CODE = {"train": 0, "test": 1}


def load_reviews(split: str = "train", seed: int = 0,
                 num_samples: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Generated reviews: ``texts (N,)`` NumPy ``str_`` and ``labels (N,)`` int64 (1 positive).

    Args:
        split: ``"train"`` (4,000 reviews by default) or ``"test"`` (1,000); the two come from
            different random streams, like the other built-in loaders.
        seed: the same seed always gives the same reviews.
        num_samples: how many (default: the split's size); review ``i`` does not depend on it,
            so a smaller set is a prefix of a larger one.
    """
    if split not in SPLIT_SIZES:
        raise ValueError(f"load_reviews: expected split 'train' or 'test', received {split!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"load_reviews: expected seed to be an integer >= 0, received {seed!r}")
    if num_samples is None:
        num_samples = SPLIT_SIZES[split]
    if isinstance(num_samples, bool) or not isinstance(num_samples, numbers.Integral) \
            or num_samples <= 0:
        raise ValueError(f"load_reviews: expected num_samples to be a positive integer, received "
                         f"{num_samples!r}")
    texts, labels = [], []
    for i in range(int(num_samples)):
        text, label = make_review(np.random.default_rng([int(seed), _SPLIT_CODE[split], i]))
        texts.append(text)
        labels.append(label)
    return np.array(texts, dtype=str), np.array(labels, dtype=np.int64)


def make_review(rng: np.random.Generator) -> tuple[str, int]:
    """One review and its label, drawn from ``rng`` (see the module docstring for the rule)."""
    def pick(options):
        return options[rng.integers(len(options))]

    positive = bool(rng.integers(2))
    negated = bool(rng.integers(2))
    words = [pick(SUBJECTS), pick(VERBS)]
    if negated:
        words.append("not")
    if rng.random() < 0.5:
        words.append(pick(INTENSIFIERS))
    words.append(pick(POSITIVE if positive else NEGATIVE))
    opinion = " ".join(words)

    before, after = pick(REMARKS)
    remark = " ".join([pick(CONNECTORS), before] + (["not"] if rng.integers(2) else []) + [after])
    clauses = [remark + ",", opinion] if rng.random() < 0.5 else [opinion + ",", remark]
    opener = pick(OPENERS)
    if opener:
        clauses.insert(0, opener + ",")
    text = " ".join(clauses)
    text = text[0].upper() + text[1:] + pick((".", "!", "", "..."))
    return text, int(positive != negated)
