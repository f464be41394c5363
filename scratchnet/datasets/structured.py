"""A built-in structured (tabular) data set: do users click on items? No download, fully seeded.

Each row is one (user, item) impression with five columns, like a row of a CSV file:

    user_id        int     one of N_USERS users: the high-cardinality column
    age            float   the user's age (a property of the user)
    item_category  str     one of CATEGORIES
    device         str     one of DEVICES
    price          float   the item's price

and a label ``clicked`` (0 or 1). Every user has a hidden taste: one of four groups, each fond of
two categories (``TASTES``). The click probability is ``sigmoid(logit)`` with

    logit = +2.0 if item_category is liked by the user's taste group, else -1.5
            +0.8 if age >= 50 and item_category in (garden, kitchen, travel)
            -1.0 if price > 100
            +0.5 if device == "mobile" and item_category == "games"

so a model must learn who each user is (their taste is visible only through ``user_id``) and how
the other columns shift the odds. ``user_tastes()`` gives the hidden groups, for plots only.
"""

from __future__ import annotations

import numpy as np

from scratchnet import config

N_USERS = 400
N_ROWS = 24_000
TEST_FRACTION = 0.2
CATEGORIES = ("books", "music", "games", "toys", "sports", "travel", "garden", "kitchen")
DEVICES = ("mobile", "desktop", "tablet")
TASTES = (("books", "music"), ("games", "toys"), ("sports", "travel"), ("garden", "kitchen"))
TASTE_NAMES = tuple(" & ".join(pair) for pair in TASTES)
AGE_BINS = (30, 45, 60)
PRICE_BINS = (10, 25, 50, 100)


def user_tastes(seed: int = 0) -> np.ndarray:
    """The hidden taste group (index into ``TASTES``) of every user, shape ``(N_USERS,)``."""
    return _users(seed)[0]


def _users(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng([seed, 1])
    taste = rng.integers(len(TASTES), size=N_USERS)
    age = rng.integers(18, 75, size=N_USERS).astype(np.float64)
    favourite_device = rng.integers(len(DEVICES), size=N_USERS)
    return taste, age, favourite_device


def load_structured(split: str = "train", seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Columns ``{"user_id", "age", "item_category", "device", "price"}`` and labels ``(N,)`` int64.

    ``"train"`` is the first 80% of the ``N_ROWS`` rows, ``"test"`` the last 20% (same users, new
    impressions). The same ``seed`` always gives the same rows. Numeric columns are ``floatx``,
    categorical ones NumPy ``str_`` arrays, ``user_id`` int64.
    """
    if split not in ("train", "test"):
        raise ValueError(f"load_structured: expected split 'train' or 'test', received {split!r}")
    taste, age, favourite_device = _users(seed)
    rng = np.random.default_rng([seed, 2])
    user = rng.integers(N_USERS, size=N_ROWS)
    category = rng.integers(len(CATEGORIES), size=N_ROWS)
    device = np.where(rng.random(N_ROWS) < 0.7, favourite_device[user],
                      rng.integers(len(DEVICES), size=N_ROWS))
    price = np.round(np.exp(rng.uniform(np.log(2), np.log(200), size=N_ROWS)), 2)

    names = np.array(CATEGORIES)[category]
    liked = np.array([names[i] in TASTES[taste[u]] for i, u in enumerate(user)])
    logit = (np.where(liked, 2.0, -1.5)
             + 0.8 * ((age[user] >= 50) & np.isin(names, ("garden", "kitchen", "travel")))
             - 1.0 * (price > 100)
             + 0.5 * ((device == 0) & (names == "games")))
    clicked = (rng.random(N_ROWS) < 1 / (1 + np.exp(-logit))).astype(np.int64)

    columns = {
        "user_id": user.astype(np.int64),
        "age": age[user].astype(config.floatx()),
        "item_category": names,
        "device": np.array(DEVICES)[device],
        "price": price.astype(config.floatx()),
    }
    cut = int(N_ROWS * (1 - TEST_FRACTION))
    rows = slice(0, cut) if split == "train" else slice(cut, N_ROWS)
    return {name: values[rows] for name, values in columns.items()}, clicked[rows]


def structured_tokens(columns: dict[str, np.ndarray]) -> np.ndarray:
    """One string token per column, ``"column=value"``, shape ``(N, 5)``: what
    ``tf.feature_column``'s categorical and bucketized columns did, as text a StringLookup reads.

    Numeric columns are cut into buckets (``AGE_BINS``, ``PRICE_BINS``): ``"age=45-60"``,
    ``"price=100+"``. Prefixing the column name keeps equal values of different columns apart, so
    one vocabulary (and one embedding table) serves every column.
    """
    return np.stack([
        np.char.add("user_id=", columns["user_id"].astype(str)),
        _bucket_tokens("age", columns["age"], AGE_BINS),
        np.char.add("item_category=", columns["item_category"]),
        np.char.add("device=", columns["device"]),
        _bucket_tokens("price", columns["price"], PRICE_BINS),
    ], axis=1)  # (N, 5)


def _bucket_tokens(name: str, values: np.ndarray, bins: tuple[float, ...]) -> np.ndarray:
    edges = ("0",) + tuple(str(b) for b in bins)
    labels = [f"{name}={lo}-{hi}" for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    labels.append(f"{name}={bins[-1]}+")
    return np.array(labels)[np.digitize(values, bins)]
