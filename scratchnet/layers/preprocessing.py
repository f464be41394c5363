"""Preprocessing layers for categorical data: StringLookup, IntegerLookup, CategoryEncoding.

They mirror ``keras.layers.StringLookup``, ``IntegerLookup`` and ``CategoryEncoding`` (what
``tf.feature_column`` did before Keras 3). They have no weights: a lookup layer's vocabulary is
part of its config, learnt by ``adapt(data)`` or given as ``vocabulary=``.
"""

from __future__ import annotations

import collections
import numbers
import os

import numpy as np

from scratchnet import config
from scratchnet.layers._args import positive_int
from scratchnet.layers.base import Layer
from scratchnet.layers.embedding import check_id_range, integer_ids
from scratchnet.layers.hash_functions import fingerprint64


class _IndexLookup(Layer):
    """Map tokens to integer indices: indices ``0 .. n - 1`` are the out-of-vocabulary (OOV)
    buckets (``n = num_oov_indices``, default 1), the vocabulary takes ``n, n + 1, ...`` in order.
    Output has the input's shape, dtype int64.

    With ``n = 1`` every unknown token maps to 0. With ``n = 0`` there is no OOV index, the
    vocabulary starts at 0 and an unknown token is an error (Keras' ``tf.Assert``). With ``n > 1``
    an unknown token goes to bucket ``token mod n`` (integers, Keras' default ``oov_method=
    "floormod"``) or ``fingerprint64(utf8(token)) mod n`` (strings: FarmHash, as
    ``tf.strings.to_hash_bucket_fast``).

    ``adapt(data)`` counts every token of ``data`` and orders the vocabulary as Keras does
    (``index_lookup.py``, ``finalize_state``): count descending, ties broken by the token itself,
    descending. The OOV token is never part of the learnt vocabulary. With ``max_tokens``, only the
    ``max_tokens - n`` most frequent tokens are kept (the OOV indices count).

    ``mask_token=None`` is the only setting supported; other output modes than ``"int"`` are
    not: chain a ``CategoryEncoding`` for one-hot vectors.
    """

    oov_default: str | int = ""
    output_dtype = "int64"  # what a symbolic call (functional API) reports, as Keras' lookups
    # Keras' lookup arguments scratchnet implements at one value only: each is accepted at that
    # value (any other raises) and written in get_config as Keras' IndexLookup.get_config does.
    ONLY_VALUES = {"invert": False, "mask_token": None, "sparse": False, "pad_to_max_tokens": False,
                   "idf_weights": None, "oov_method": "floormod", "salt": None}

    def __init__(self, max_tokens: int | None = None, num_oov_indices: int = 1, oov_token=None,
                 vocabulary=None, output_mode: str = "int", name: str | None = None, **kwargs):
        only_given = {arg: kwargs.pop(arg) for arg in self.ONLY_VALUES if arg in kwargs}
        kwargs.pop("vocabulary_size", None)  # Keras' size once frozen: derived from the vocabulary
        super().__init__(name=name, **kwargs)
        where = f"{type(self).__name__} {self.name!r}"
        for arg, value in only_given.items():
            if value != self.ONLY_VALUES[arg]:
                raise ValueError(f"{where}: scratchnet implements only {arg}="
                                 f"{self.ONLY_VALUES[arg]!r} (Keras' argument), received {arg}={value!r}")
        self.max_tokens = None if max_tokens is None else positive_int(max_tokens, "max_tokens",
                                                                       where)
        if self.max_tokens is not None and self.max_tokens < 2:
            raise ValueError(f"{where}: expected max_tokens >= 2 (as Keras: greater than 1), "
                             f"received {max_tokens!r}")
        if (isinstance(num_oov_indices, bool) or not isinstance(num_oov_indices, numbers.Integral)
                or num_oov_indices < 0):
            raise ValueError(f"{where}: expected num_oov_indices to be an integer >= 0, received "
                             f"{num_oov_indices!r}")
        self.num_oov_indices = int(num_oov_indices)
        if output_mode != "int":
            raise ValueError(f'{where}: expected output_mode="int" (chain a CategoryEncoding for '
                             f"one_hot, multi_hot or count), received {output_mode!r}")
        self.output_mode = output_mode
        self.oov_token = self.oov_default if oov_token is None else self.check_token(oov_token)
        self.vocabulary_given = vocabulary is not None
        self.tokens: list = []  # the vocabulary without the OOV token, index i + 1 each
        self.index: dict = {}
        if vocabulary is not None:
            self.set_vocabulary(vocabulary)

    # --- what differs between strings and integers ----------------------------------------
    def check_token(self, token):
        raise NotImplementedError

    def as_tokens(self, x) -> np.ndarray:
        """``x`` as an array of tokens of the right kind, or a TypeError naming the layer."""
        raise NotImplementedError

    def tokens_from_lines(self, lines: list[str], path) -> list:
        """The tokens of a vocabulary file's lines (strings here; IntegerLookup reads integers)."""
        return lines

    # --- vocabulary -----------------------------------------------------------------------
    def set_vocabulary(self, vocabulary) -> None:
        """Use ``vocabulary`` (a list, OOV token first or not at all, or the path of a text file
        with one token per line, as Keras reads it) instead of adapting."""
        where = f'{type(self).__name__} "{self.name}"'
        if isinstance(vocabulary, str | os.PathLike):
            vocabulary = self.tokens_from_lines(read_vocabulary_file(vocabulary, where), vocabulary)
        if np.size(vocabulary) == 0:
            raise ValueError(f"{where}: cannot set an empty vocabulary, received {vocabulary!r}")
        tokens = [self.check_token(t) for t in self.as_tokens(vocabulary).reshape(-1).tolist()]
        n = self.num_oov_indices
        if n and tokens[:n] == [self.oov_token] * n:
            tokens = tokens[n:]  # it already names the OOV indices, as get_vocabulary() returns it
        if not tokens:
            raise ValueError(f"{where}: the vocabulary holds only the OOV token {self.oov_token!r}")
        repeated = sorted((t for t, n in collections.Counter(tokens).items() if n > 1), key=str)
        if repeated:
            raise ValueError(f"{where}: the vocabulary has repeated tokens {repeated}; make "
                             "them unique")
        if self.max_tokens is not None and len(tokens) + n > self.max_tokens:
            raise ValueError(f"{where}: vocabulary of {len(tokens) + n} entries (with "
                             f"num_oov_indices={n}) is larger than max_tokens={self.max_tokens}")
        self.tokens = tokens
        self.index = {token: i + n for i, token in enumerate(tokens)}

    def adapt(self, data) -> None:
        """Learn the vocabulary from ``data`` (any shape): count descending, ties by token
        descending, without the OOV token, at most ``max_tokens - num_oov_indices`` tokens."""
        where = f'{type(self).__name__} "{self.name}"'
        if self.vocabulary_given:
            raise ValueError(f"{where}: cannot adapt a layer that was given vocabulary=")
        flat = self.as_tokens(data).reshape(-1)
        tokens, counts = np.unique(flat, return_counts=True)
        keep = tokens != self.oov_token
        tokens, counts = tokens[keep], counts[keep]
        if tokens.size == 0:
            raise ValueError(f"{where}: adapt found no tokens other than the OOV token in data")
        # lexsort sorts by its last key first: count ascending, then token ascending; reversed.
        order = np.lexsort((tokens, counts))[::-1]
        if self.max_tokens is not None:
            order = order[:self.max_tokens - self.num_oov_indices]
        self.tokens = tokens[order].tolist()
        self.index = {token: i + self.num_oov_indices for i, token in enumerate(self.tokens)}

    def get_vocabulary(self, include_special_tokens: bool = True) -> list:
        """The tokens in index order; the first ``num_oov_indices`` entries are the OOV token
        unless ``include_special_tokens`` is False."""
        special = [self.oov_token] * self.num_oov_indices if include_special_tokens else []
        return special + list(self.tokens)

    def vocabulary_size(self) -> int:
        """Number of indices the layer outputs: the vocabulary plus the OOV indices."""
        return len(self.tokens) + self.num_oov_indices

    def oov_buckets(self, tokens: np.ndarray) -> np.ndarray:
        """The OOV index of each unknown token when ``num_oov_indices > 1`` (per subclass)."""
        raise NotImplementedError

    # --- the protocol ---------------------------------------------------------------------
    def forward(self, x, training=False):
        if not self.tokens:
            raise ValueError(f'{type(self).__name__} "{self.name}": no vocabulary yet; call '
                             "adapt(data) or pass vocabulary=[...]")
        tokens = self.as_tokens(x)
        distinct, inverse = np.unique(tokens, return_inverse=True)  # each token looked up once
        ids = np.array([self.index.get(t, -1) for t in distinct.tolist()], dtype=np.int64)
        unknown = ids < 0
        if unknown.any():
            if self.num_oov_indices == 0:
                raise ValueError(f'{type(self).__name__} "{self.name}": when num_oov_indices=0 all '
                                 "inputs should be in the vocabulary; found OOV values "
                                 f"{distinct[unknown].tolist()[:10]}, consider setting "
                                 "num_oov_indices=1")
            ids[unknown] = 0 if self.num_oov_indices == 1 else self.oov_buckets(distinct[unknown])
        return ids[inverse].reshape(tokens.shape)

    def backward(self, dy):
        return None  # indices have no gradient

    def get_config(self):
        return {**super().get_config(), "max_tokens": self.max_tokens,
                "num_oov_indices": self.num_oov_indices, "oov_token": self.oov_token,
                "vocabulary": list(self.tokens) if self.tokens else None,
                "output_mode": self.output_mode, **self.ONLY_VALUES,
                # Keras' frozen size, recorded once the layer has a vocabulary (given or adapted)
                "vocabulary_size": self.vocabulary_size() if self.tokens else None}


def read_vocabulary_file(path, where: str) -> list[str]:
    """The lines of a vocabulary file (UTF-8, one token per line, as Keras' lookup layers and
    TextVectorization read ``vocabulary="path"``); a clear error when it is missing or unreadable."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"{where}: Vocabulary file {path} does not exist.")
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except UnicodeDecodeError as err:
        raise ValueError(f"{where}: vocabulary file {path!r} is not UTF-8 text ({err})") from None
    if "" in lines:  # Keras refuses it too ("empty line found")
        raise ValueError(f"{where}: vocabulary file {path!r} has an empty line (line "
                         f"{lines.index('') + 1}); one token per line, none empty")
    return lines


class StringLookup(_IndexLookup):
    """Map strings to integer indices, like ``keras.layers.StringLookup``.

    Index 0 is ``oov_token`` (``"[UNK]"``): every string not in the vocabulary maps there. After
    ``adapt(["a", "b", "b", "c", "a", "d"])`` the vocabulary is ``["[UNK]", "b", "a", "d", "c"]``.
    Input: any shape of ``str`` (a NumPy ``str_`` array, a list, or ``bytes`` in UTF-8).
    Output: the same shape, int64.
    """

    input_dtype = "string"
    oov_default = "[UNK]"
    ONLY_VALUES = {**_IndexLookup.ONLY_VALUES, "encoding": "utf-8"}

    def __init__(self, max_tokens: int | None = None, num_oov_indices: int = 1,
                 oov_token: str = "[UNK]", vocabulary=None, output_mode: str = "int",
                 name: str | None = None, **kwargs):
        super().__init__(max_tokens=max_tokens, num_oov_indices=num_oov_indices,
                         oov_token=oov_token, vocabulary=vocabulary, output_mode=output_mode,
                         name=name, **kwargs)

    def check_token(self, token):
        if not isinstance(token, str):
            raise TypeError(f'StringLookup "{self.name}": expected string tokens, received '
                            f"{token!r}")
        return token

    def as_tokens(self, x):
        x = np.asarray(x)
        if x.dtype.kind == "S":
            x = np.char.decode(x, "utf-8")
        elif x.dtype.kind == "O":
            items = [t.decode("utf-8") if isinstance(t, bytes) else t for t in x.reshape(-1)]
            if not all(isinstance(t, str) for t in items):
                bad = next(t for t in items if not isinstance(t, str))
                raise TypeError(f'StringLookup "{self.name}": expected strings, received {bad!r}')
            x = np.array(items, dtype=str).reshape(x.shape)
        if x.dtype.kind != "U":
            raise TypeError(f'StringLookup "{self.name}": expected strings, received an array of '
                            f"dtype {x.dtype}")
        return x

    def oov_buckets(self, tokens):
        """``fingerprint64(utf8(token)) mod num_oov_indices``: ``tf.strings.to_hash_bucket_fast``."""
        return np.array([fingerprint64(t.encode("utf-8")) % self.num_oov_indices
                         for t in tokens.tolist()], dtype=np.int64)


class IntegerLookup(_IndexLookup):
    """Map arbitrary integers (ids, years, codes) to indices 0, 1, 2, ... like
    ``keras.layers.IntegerLookup``.

    Index 0 is ``oov_token`` (``-1``): every integer not in the vocabulary maps there. Adapt order
    is count descending, ties by value descending (``[5, 3, 3, 7, 5, 9]`` gives
    ``[-1, 5, 3, 9, 7]``). Input: integers of any shape. Output: the same shape, int64.
    """

    input_dtype = "int64"
    oov_default = -1
    ONLY_VALUES = {**_IndexLookup.ONLY_VALUES, "vocabulary_dtype": "int64"}

    def __init__(self, max_tokens: int | None = None, num_oov_indices: int = 1,
                 oov_token: int = -1, vocabulary=None, output_mode: str = "int",
                 name: str | None = None, **kwargs):
        super().__init__(max_tokens=max_tokens, num_oov_indices=num_oov_indices,
                         oov_token=oov_token, vocabulary=vocabulary, output_mode=output_mode,
                         name=name, **kwargs)

    def tokens_from_lines(self, lines: list[str], path) -> list:
        try:
            return [int(line) for line in lines]
        except ValueError:
            bad = next(line for line in lines if not line.strip().lstrip("+-").isdigit())
            raise ValueError(f'IntegerLookup "{self.name}": vocabulary file {os.fspath(path)!r} '
                             f"should hold one integer per line, found {bad!r}") from None

    def check_token(self, token):
        if isinstance(token, bool) or not isinstance(token, numbers.Integral):
            raise TypeError(f'IntegerLookup "{self.name}": expected integer tokens, received '
                            f"{token!r}")
        return int(token)

    def as_tokens(self, x):
        return integer_ids(x, f'IntegerLookup "{self.name}"')

    def oov_buckets(self, tokens):
        """``token mod num_oov_indices`` (Keras' ``oov_method="floormod"``: never negative)."""
        return np.mod(tokens.astype(np.int64), self.num_oov_indices)


class CategoryEncoding(Layer):
    """Turn integer ids in ``[0, num_tokens)`` into one-hot, multi-hot or count vectors, like
    ``keras.layers.CategoryEncoding`` (default ``output_mode="multi_hot"``, as in Keras).

    ``"one_hot"``: each id becomes a row of ``eye(num_tokens)``. Input ``(N,)`` or ``(N, 1)`` gives
    ``(N, num_tokens)``; ``(N, T)`` with ``T > 1`` gives ``(N, T, num_tokens)``.
    ``"multi_hot"``: input ``(N, T)`` gives ``(N, num_tokens)``, ``out[n, k] = 1`` if ``k`` is
    among the ``T`` ids of sample ``n``.
    ``"count"``: like multi_hot, ``out[n, k]`` = how many of the ``T`` ids equal ``k``.
    Output dtype is ``floatx``. No weights; ids have no gradient.

    Two deliberate differences from Keras: an id outside ``[0, num_tokens)`` raises a
    ``ValueError`` (Keras silently gives a zero row or drops it), and multi_hot/count refuse an
    ``(N,)`` input (Keras would count the whole batch as one sample): reshape it to ``(N, 1)``.
    """

    input_dtype = "int32"

    def __init__(self, num_tokens: int, output_mode: str = "multi_hot", name: str | None = None,
                 **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_tokens = positive_int(num_tokens, "num_tokens", f"CategoryEncoding {self.name!r}")
        if output_mode not in ("one_hot", "multi_hot", "count"):
            raise ValueError(f"CategoryEncoding {self.name!r}: expected output_mode to be one of "
                             f"'one_hot', 'multi_hot', 'count', received {output_mode!r}")
        self.output_mode = output_mode

    def build(self, input_shape, rng):
        shape = tuple(input_shape)  # one sample, no batch axis
        if self.output_mode == "one_hot":
            if shape and shape[-1] == 1:
                shape = shape[:-1]  # (N, 1) is one id per sample, like (N,)
            return shape + (self.num_tokens,)
        if len(shape) != 1:
            raise ValueError(
                f'CategoryEncoding "{self.name}": output_mode="{self.output_mode}" expects inputs '
                f"of shape (N, T), T ids per sample; received shape {(None,) + shape}"
                + ("; reshape (N,) to (N, 1)" if not shape else "")
            )
        return (self.num_tokens,)

    def forward(self, x, training=False):
        where = f'CategoryEncoding "{self.name}"'
        ids = integer_ids(x, where)
        check_id_range(ids, self.num_tokens, where, "num_tokens")
        if self.output_mode == "one_hot":
            ids = ids.reshape((ids.shape[0],) + self.output_shape[:-1])  # drop a trailing 1
            return np.eye(self.num_tokens, dtype=config.dtype())[ids]  # (N, ..., num_tokens)
        counts = np.zeros((ids.shape[0], self.num_tokens), dtype=config.dtype())  # (N, K)
        rows = np.arange(ids.shape[0])[:, None]  # (N, 1), broadcast against ids (N, T)
        np.add.at(counts, (rows, ids), 1)
        if self.output_mode == "multi_hot":
            return (counts > 0).astype(config.dtype())
        return counts

    def backward(self, dy):
        return None  # ids have no gradient

    def get_config(self):
        return {**super().get_config(), "num_tokens": self.num_tokens,
                "output_mode": self.output_mode}
