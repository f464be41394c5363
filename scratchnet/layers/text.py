"""TextVectorization: raw strings in, token indices (or bag-of-words vectors) out.

``keras.layers.TextVectorization`` in NumPy and plain Python. A batch of texts goes through five
steps, each a function of this module a learner can call on its own:

1. :func:`standardize_texts`  lower-case and strip punctuation (``"lower_and_strip_punctuation"``)
2. :func:`split_texts`        cut each text into words (``"whitespace"``)
3. :func:`make_ngrams`        add word n-grams (``ngrams=2``: "not good")
4. ``TextVectorization.lookup`` map each token to its index in the vocabulary
5. ``TextVectorization.forward`` pad/truncate the indices (``"int"``) or count them per text
   (``"multi_hot"``, ``"count"``, ``"tf_idf"``)

The vocabulary is learnt by ``adapt(texts)`` (most frequent first) or given as ``vocabulary=``.
In ``"int"`` mode index 0 is the padding (mask) token ``""`` and index 1 the out-of-vocabulary
token ``"[UNK]"``; in the other modes there is no padding index and ``"[UNK]"`` is index 0.
"""

from __future__ import annotations

import collections
import numbers
import os
import re

import numpy as np

from scratchnet import config
from scratchnet.layers.base import Layer
from scratchnet.layers.preprocessing import read_vocabulary_file

MASK_TOKEN = ""
OOV_TOKEN = "[UNK]"
# Keras strips exactly these ASCII characters (its regex ``[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']``,
# which is Python's ``string.punctuation``); Unicode punctuation such as "…" or "’" stays.
PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
_STRIP_PUNCTUATION = str.maketrans("", "", PUNCTUATION)
# ``tf.strings.lower`` lower-cases ASCII letters only: "ÉCOLE" becomes "École".
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
# ``tf.strings.split`` splits on ASCII whitespace only (not on "\xa0" or "\x1c" as str.split does).
_ASCII_WHITESPACE = re.compile(r"[ \t\n\v\f\r]+")

STANDARDIZE_MODES = ("lower_and_strip_punctuation", "lower", "strip_punctuation")
SPLIT_MODES = ("whitespace", "character")
OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")


# ----------------------------------------------------------------------------- the steps
def standardize_texts(texts: np.ndarray, standardize) -> np.ndarray:
    """Step 1: ``texts`` (a NumPy ``str_`` array, any shape) standardized, same shape.

    ``"lower"``: ASCII letters lower-cased; ``"strip_punctuation"``: every character of
    :data:`PUNCTUATION` removed; ``"lower_and_strip_punctuation"``: both, lower-casing first;
    ``None``: unchanged; a callable gets the array and returns one of the same shape.
    """
    if standardize is None:
        return texts
    if callable(standardize):
        return np.asarray(standardize(texts), dtype=str)
    out = []
    for text in texts.reshape(-1).tolist():
        if standardize in ("lower", "lower_and_strip_punctuation"):
            text = text.translate(_ASCII_LOWER)
        if standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
            text = text.translate(_STRIP_PUNCTUATION)
        out.append(text)
    return np.array(out, dtype=str).reshape(texts.shape)


def split_texts(texts: np.ndarray, split) -> list[list[str]]:
    """Step 2: each text of the 1-D ``texts`` as a list of tokens.

    ``"whitespace"``: runs of ASCII whitespace separate tokens, none empty (``"  a  b "`` ->
    ``["a", "b"]``); ``"character"``: one token per Unicode character; ``None``: the whole text is
    one token; a callable gets the 1-D array and returns one sequence of tokens per text.
    """
    if split is None:
        return [[text] for text in texts.tolist()]
    if split == "whitespace":
        return [[t for t in _ASCII_WHITESPACE.split(text) if t] for text in texts.tolist()]
    if split == "character":
        return [list(text) for text in texts.tolist()]
    rows = split(texts)
    return [[t.decode("utf-8") if isinstance(t, bytes) else str(t) for t in row] for row in rows]


def make_ngrams(tokens: list[str], widths: tuple[int, ...] | None) -> list[str]:
    """Step 3: the n-grams of one text, width by width in the order given, each left to right,
    joined by a space (``tf.strings.ngrams``). ``["not", "good"]`` with ``(1, 2)`` gives
    ``["not", "good", "not good"]``. A text shorter than a width has no n-gram of that width."""
    if widths is None:
        return tokens
    return [" ".join(tokens[i:i + n]) for n in widths for i in range(len(tokens) - n + 1)]


# ----------------------------------------------------------------------------- the layer
class TextVectorization(Layer):
    """Map a batch of texts to token indices or per-text token vectors, like Keras 3.15.

    Input: ``(N,)`` or ``(N, 1)`` strings (``str``, or ``bytes`` in ``encoding``). With
    ``split=None`` any shape (each string is one token).

    Output, for vocabulary size ``V`` (``vocabulary_size()``, ``max_tokens`` with
    ``pad_to_max_tokens=True``):

    - ``"int"``: ``(N, L)`` int64, each text's token indices, padded with 0 (the mask index) to
      ``L = output_sequence_length``, or to the longest text of the batch when that is None; longer
      texts keep their first ``L`` tokens.
    - ``"multi_hot"``: ``(N, V)``, ``out[n, v] = 1`` if token ``v`` occurs in text ``n``.
    - ``"count"``: ``(N, V)``, ``out[n, v] = tf[n, v]``, the number of times it occurs.
    - ``"tf_idf"``: ``(N, V)``, ``out[n, v] = tf[n, v] * idf[v]`` with, from ``adapt``,
      ``idf[v] = log(1 + D / (1 + df[v]))`` (``D`` texts, ``df[v]`` of them contain ``v``); the
      OOV index gets the mean of the other ``idf`` values.
    - ``"one_hot"``: ``split=None`` only, one token per text: ``(N, V)`` rows of the identity.

    ``adapt(texts)`` orders the vocabulary by count, most frequent first, ties broken by the
    token, descending (Python's string order: code points); the special tokens are never learnt.
    With ``max_tokens`` it keeps ``max_tokens - 2`` tokens in ``"int"`` mode (mask and OOV count),
    ``max_tokens - 1`` otherwise. The layer has no weights and no gradient.
    """

    input_dtype = "string"

    def __init__(self, max_tokens: int | None = None, standardize="lower_and_strip_punctuation",
                 split="whitespace", ngrams=None, output_mode: str = "int",
                 output_sequence_length: int | None = None, pad_to_max_tokens: bool = False,
                 vocabulary=None, idf_weights=None, sparse: bool = False, ragged: bool = False,
                 encoding: str = "utf-8", name: str | None = None, **kwargs):
        kwargs.pop("vocabulary_size", None)  # Keras' config carries it; it follows the vocabulary
        super().__init__(name=name, **kwargs)
        where = f"{type(self).__name__} {self.name!r}"
        if max_tokens is not None and (isinstance(max_tokens, bool)
                                       or not isinstance(max_tokens, numbers.Integral)
                                       or max_tokens <= 1):
            raise ValueError(f"{where}: if set, `max_tokens` must be an integer greater than 1. "
                             f"Received: max_tokens={max_tokens!r}")
        if not (standardize is None or callable(standardize) or standardize in STANDARDIZE_MODES):
            raise ValueError(f"{where}: expected standardize to be one of {STANDARDIZE_MODES}, None "
                             f"or a callable, received {standardize!r}")
        if not (split is None or callable(split) or split in SPLIT_MODES):
            raise ValueError(f"{where}: expected split to be one of {SPLIT_MODES}, None or a "
                             f"callable, received {split!r}")
        output_mode = {"binary": "multi_hot", "tf-idf": "tf_idf"}.get(output_mode, output_mode)
        if output_mode not in OUTPUT_MODES:
            raise ValueError(f"{where}: expected output_mode to be one of {OUTPUT_MODES}, received "
                             f"{output_mode!r}")
        if output_mode == "one_hot" and split is not None:
            raise ValueError(f"{where}: output_mode='one_hot' needs split=None (one token per "
                             f"text); received split={split!r}. Use 'multi_hot' or 'count' for "
                             "split texts")
        if isinstance(ngrams, bool) or not (
                ngrams is None or isinstance(ngrams, numbers.Integral)
                or (isinstance(ngrams, tuple | list)
                    and all(isinstance(n, numbers.Integral) and not isinstance(n, bool)
                            for n in ngrams))):
            raise ValueError(f"{where}: `ngrams` must be None, an integer, or a tuple of integers. "
                             f"Received: ngrams={ngrams!r}")
        if output_mode == "int" and output_sequence_length is not None and (
                isinstance(output_sequence_length, bool)
                or not isinstance(output_sequence_length, numbers.Integral)
                or output_sequence_length < 0):
            raise ValueError(f"{where}: `output_sequence_length` must be either None or an integer "
                             "when `output_mode` is 'int'. Received: "
                             f"output_sequence_length={output_sequence_length!r}")
        if output_mode != "int" and output_sequence_length is not None:
            raise ValueError(f"{where}: `output_sequence_length` must not be set if `output_mode` "
                             f"is not 'int'. Received output_sequence_length={output_sequence_length}")
        if pad_to_max_tokens and max_tokens is None:
            raise ValueError(f"{where}: if pad_to_max_tokens is True, must set `max_tokens`. "
                             f"Received: max_tokens={max_tokens}")
        if idf_weights is not None and output_mode != "tf_idf":
            raise ValueError(f"{where}: `idf_weights` should only be set if `output_mode` is "
                             f"'tf_idf'. Received: output_mode={output_mode!r}")
        if output_mode == "tf_idf" and vocabulary is not None and idf_weights is None:
            raise ValueError(f"{where}: when specifying the `vocabulary` argument, in TF-IDF output "
                             "mode, the `idf_weights` argument must also be provided.")
        for arg, value in (("sparse", sparse), ("ragged", ragged)):
            if value:
                raise ValueError(f"{where}: scratchnet does not implement {arg}=True (dense NumPy "
                                 f"outputs only); received {arg}={value!r}")
        self.max_tokens = None if max_tokens is None else int(max_tokens)
        self.standardize = standardize
        self.split = split
        self.ngrams = list(ngrams) if isinstance(ngrams, list) else ngrams  # as given, for config
        self.ngram_widths = (tuple(range(1, int(ngrams) + 1)) if isinstance(ngrams, numbers.Integral)
                             else None if ngrams is None else tuple(int(n) for n in ngrams))
        self.output_mode = output_mode
        self.output_sequence_length = (None if output_sequence_length is None
                                       else int(output_sequence_length))
        self.pad_to_max_tokens = bool(pad_to_max_tokens)
        self.encoding = encoding
        self.has_input_vocabulary = vocabulary is not None
        self.tokens: list[str] = []  # the learnt or given vocabulary, without special tokens
        self.index: dict[str, int] = {}  # token -> output index
        self.idf_weights: np.ndarray | None = None  # (V,) in "tf_idf" mode, special tokens first
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)

    # --- the special indices ---------------------------------------------------------------
    @property
    def oov_index(self) -> int:
        """Where unknown tokens go: 1 in "int" mode (after the mask index 0), else 0."""
        return 1 if self.output_mode == "int" else 0

    @property
    def token_start(self) -> int:
        """Index of the first real token: 2 in "int" mode ("", "[UNK]" first), else 1."""
        return self.oov_index + 1

    def special_tokens(self) -> list[str]:
        return [MASK_TOKEN, OOV_TOKEN] if self.output_mode == "int" else [OOV_TOKEN]

    # --- steps 1-3: texts to tokens ---------------------------------------------------------
    def as_strings(self, x) -> np.ndarray:
        """``x`` as a NumPy ``str_`` array, or a TypeError naming the layer."""
        where = f'TextVectorization "{self.name}"'
        # a list keeps its items' types (np.asarray would turn ["a", 3] into two strings)
        x = np.asarray(x, dtype=object) if isinstance(x, list | tuple) else np.asarray(x)
        if x.dtype.kind == "S":
            x = np.char.decode(x, self.encoding)
        elif x.dtype.kind == "O":
            items = [t.decode(self.encoding) if isinstance(t, bytes) else t for t in x.reshape(-1)]
            bad = [t for t in items if not isinstance(t, str)]
            if bad:
                raise TypeError(f"{where}: expected strings, received {bad[0]!r} of type "
                                f"{type(bad[0]).__name__}")
            x = np.array(items, dtype=str).reshape(x.shape)
        if x.dtype.kind != "U":
            raise TypeError(f"{where}: expected strings (texts), received an array of dtype "
                            f"{x.dtype}")
        return x

    def tokenize(self, x) -> list[list[str]]:
        """Steps 1-3 for a batch: one list of tokens (words and n-grams) per text."""
        texts = standardize_texts(self.as_strings(x), self.standardize)
        if texts.ndim == 0:
            raise ValueError(f'TextVectorization "{self.name}": expected a batch of texts, shape '
                             f"(N,) or (N, 1), received one string {str(texts)!r}; wrap it in a list")
        if self.split is None:  # every string is one token: (N, k) -> rows of k tokens
            if texts.ndim == 1:
                raise ValueError(
                    f'TextVectorization "{self.name}": with split=None and output_mode='
                    f"{self.output_mode!r}, expected texts of shape (N, k), received shape "
                    f"{texts.shape}; reshape (N,) to (N, 1) (Keras would count the whole batch as "
                    "one text)")
            rows = [row.tolist() for row in texts.reshape(len(texts), -1)]
        else:
            texts = self.squeeze_batch(texts)
            rows = split_texts(texts, self.split)
        return [make_ngrams(row, self.ngram_widths) for row in rows]

    def squeeze_batch(self, texts: np.ndarray) -> np.ndarray:
        """``(N,)`` or ``(N, 1)`` -> ``(N,)``; other shapes raise as Keras does."""
        if texts.ndim == 2 and texts.shape[-1] == 1:
            return texts[:, 0]
        if texts.ndim == 1:
            return texts
        raise ValueError(
            f'TextVectorization "{self.name}": when using `TextVectorization` to tokenize strings, '
            "the input rank must be 1 or the last shape dimension must be 1. Received: "
            f"inputs.shape={texts.shape} with rank={texts.ndim}")

    # --- the vocabulary ---------------------------------------------------------------------
    def adapt(self, data, batch_size=None, steps: int | None = None) -> None:
        """Learn the vocabulary (and, for "tf_idf", the idf weights) from ``data``: an array or
        list of texts, or an iterable of such batches (at most ``steps`` of them).

        Order: count descending, ties by token descending; at most ``max_tokens - token_start``
        tokens. Every text counts as one document for ``idf``.
        """
        where = f'TextVectorization "{self.name}"'
        if self.has_input_vocabulary:
            raise ValueError(f"{where}: cannot adapt layer '{self.name}' after setting a static "
                             "vocabulary via `vocabulary` argument or `set_vocabulary()` method.")
        if isinstance(data, list | tuple | np.ndarray | str | bytes):
            batches = [self.as_strings(data)]
        else:
            batches = (b for i, b in enumerate(data) if steps is None or i < steps)
        counts: collections.Counter = collections.Counter()  # token -> occurrences
        document_counts: collections.Counter = collections.Counter()  # token -> texts containing it
        num_documents = 0
        for batch in batches:
            batch = self.as_strings(batch)
            if batch.ndim == 0:
                batch = batch.reshape(1)
            if batch.ndim == 1:
                batch = batch[:, None]  # (N,) -> (N, 1): one text per row, as Keras' adapt
            for row in self.tokenize(batch):
                counts.update(row)
                document_counts.update(set(row))
                num_documents += 1
        for special in (MASK_TOKEN, OOV_TOKEN):
            counts.pop(special, None)
        if not counts:  # nothing to learn: Keras keeps the vocabulary it had (none at first)
            return
        # count descending, then token descending: sort on (count, token) and reverse
        ordered = sorted(counts, key=lambda token: (counts[token], token), reverse=True)
        if self.max_tokens is not None:
            ordered = ordered[:self.max_tokens - self.token_start]
        self._set_tokens(ordered)
        if self.output_mode == "tf_idf":
            df = np.array([document_counts[t] for t in ordered], dtype=np.float64)
            idf = np.log(1.0 + num_documents / (1.0 + df)).astype(np.float32)  # (V - 1,)
            oov = np.mean(idf, dtype=np.float32)  # the OOV index: the mean of the others
            self.idf_weights = self._pad_idf(np.concatenate([[oov], idf]).astype(np.float32))

    def set_vocabulary(self, vocabulary, idf_weights=None) -> None:
        """Use ``vocabulary`` (a list of tokens, the special tokens first, in Keras' order, or not
        at all; or the path of a text file with one token per line) and, in "tf_idf" mode, its
        ``idf_weights`` (same length as ``vocabulary``)."""
        where = f'TextVectorization "{self.name}"'
        if isinstance(vocabulary, str | os.PathLike):  # a file, one token per line, as in Keras
            vocabulary = read_vocabulary_file(vocabulary, where)
        if self.output_mode == "tf_idf" and idf_weights is None:
            raise ValueError(f"{where}: `idf_weights` must be set if output_mode is 'tf_idf'.")
        if self.output_mode != "tf_idf" and idf_weights is not None:
            raise ValueError(f"{where}: `idf_weights` should only be set if output_mode is "
                             f"'tf_idf'. Received: output_mode={self.output_mode}")
        vocabulary = [str(t) for t in self.as_strings(vocabulary).reshape(-1).tolist()]
        if not vocabulary:
            raise ValueError(f"{where}: cannot set an empty vocabulary. Received: vocabulary=[]")
        specials = self.special_tokens()
        found_specials = vocabulary[:len(specials)] == specials
        tokens = vocabulary[len(specials):] if found_specials else vocabulary
        repeated = [t for t, n in collections.Counter(tokens).items() if n > 1]
        if repeated:
            raise ValueError(f"{where}: the passed vocabulary has at least one repeated term. "
                             f"Please uniquify your dataset. The repeated terms are: {repeated}")
        if MASK_TOKEN in tokens:
            raise ValueError(f"{where}: found reserved mask token '' at unexpected location in "
                             f"`vocabulary` (index {vocabulary.index(MASK_TOKEN)}). Either remove "
                             "all mask and OOV tokens, or include them only at the start of the "
                             f"vocabulary in precisely this order: {specials}.")
        size = self.token_start + len(tokens)
        if self.max_tokens is not None and size > self.max_tokens:
            raise ValueError(f"{where}: attempted to set a vocabulary larger than the maximum vocab "
                             f"size. Received vocabulary size is {size}; `max_tokens` is "
                             f"{self.max_tokens}.")
        if idf_weights is not None:
            idf = np.asarray(idf_weights, dtype=np.float64)
            if idf.ndim != 1 or len(idf) != len(vocabulary):
                raise ValueError(f"{where}: `idf_weights` must be the same length as vocabulary. "
                                 f"len(idf_weights) is {idf.size}; len(vocabulary) is "
                                 f"{len(vocabulary)}")
            if not found_specials:  # the OOV index gets the mean weight
                idf = np.concatenate([[np.mean(idf)], idf])
            self.idf_weights = self._pad_idf(idf.astype(np.float32))
        self._set_tokens(tokens)
        self.has_input_vocabulary = True

    def _set_tokens(self, tokens: list[str]) -> None:
        self.tokens = list(tokens)
        self.index = {token: self.token_start + i for i, token in enumerate(self.tokens)}

    def _pad_idf(self, idf: np.ndarray) -> np.ndarray:
        """With ``pad_to_max_tokens``, zeros after the vocabulary up to ``max_tokens``."""
        if self.pad_to_max_tokens:
            idf = np.pad(idf, (0, self.max_tokens - len(idf)))
        return idf

    def get_vocabulary(self, include_special_tokens: bool = True) -> list[str]:
        """Tokens in index order: ``["", "[UNK]", ...]`` in "int" mode, ``["[UNK]", ...]``
        otherwise; without the special tokens if ``include_special_tokens`` is False."""
        return (self.special_tokens() if include_special_tokens else []) + list(self.tokens)

    def vocabulary_size(self) -> int:
        """The number of indices, special ones included."""
        return self.token_start + len(self.tokens)

    # --- step 4: tokens to indices ----------------------------------------------------------
    def lookup(self, tokens: list[str]) -> list[int]:
        """Each token's index: its place in the vocabulary, the OOV index if it has none; the mask
        token ``""`` is 0 in "int" mode and dropped (-1, counted nowhere) in the other modes."""
        mask_index = 0 if self.output_mode == "int" else -1
        return [mask_index if t == MASK_TOKEN else self.index.get(t, self.oov_index) for t in tokens]

    # --- the protocol -----------------------------------------------------------------------
    def build(self, input_shape, rng):
        shape = tuple(input_shape)
        if self.split is not None and not (shape == () or shape == (1,)):
            self.squeeze_batch(np.empty((0,) + shape, dtype=str))  # raises Keras' error
        if self.output_mode == "int":
            if self.split is None:
                return shape[:-1] + (self.output_sequence_length,) \
                    if self.output_sequence_length is not None and shape else shape
            return (self.output_sequence_length,)  # (None,): as long as the longest text
        return (self.depth(),)

    def check_input(self, x) -> None:
        """Texts to split may come as ``(N,)`` or ``(N, 1)`` whatever the layer was built for;
        ``forward`` checks the shape (Keras' message). Unsplit strings keep their built shape."""
        if self.split is None:
            super().check_input(x)

    def depth(self) -> int:
        """Length of the per-text vectors: ``max_tokens`` if padded to it, else the vocabulary."""
        return self.max_tokens if self.pad_to_max_tokens else self.vocabulary_size()

    def forward(self, x, training=False):
        if self.output_mode == "int" and not self.has_input_vocabulary and not self.tokens:
            # Keras fails here too ("Table not initialized"); every token would be out of vocabulary
            raise ValueError(f'TextVectorization "{self.name}": the layer has no vocabulary yet, '
                             "so every token would map to the out-of-vocabulary index 1. Call "
                             "`adapt` with some sample data, or pass a `vocabulary` argument.")
        if self.output_mode == "int" and self.split is None:
            texts = standardize_texts(self.as_strings(x), self.standardize)
            ids = np.array(self.lookup(texts.reshape(-1).tolist()), dtype=np.int64)
            return self.pad_or_truncate(ids.reshape(texts.shape))
        rows = [self.lookup(row) for row in self.tokenize(x)]
        if self.output_mode == "int":
            longest = max((len(r) for r in rows), default=0)
            out = np.zeros((len(rows), longest), dtype=np.int64)  # (N, longest), 0 = padding
            for n, row in enumerate(rows):
                out[n, :len(row)] = row
            return self.pad_or_truncate(out)
        if not self.pad_to_max_tokens and not self.has_input_vocabulary and not self.tokens:
            raise ValueError(f'TextVectorization "{self.name}": when using output_mode='
                             f"{self.output_mode!r} and pad_to_max_tokens=False, you must set the "
                             "layer's vocabulary before calling it. Either pass a `vocabulary` "
                             "argument to the layer, or call `adapt` with some sample data.")
        return self.encode(rows)

    def pad_or_truncate(self, ids: np.ndarray) -> np.ndarray:
        """Step 5 ("int"): the last axis cut or zero-padded to ``output_sequence_length``."""
        length = self.output_sequence_length
        if length is None:
            return ids
        ids = ids[..., :length]
        pad = [(0, 0)] * (ids.ndim - 1) + [(0, length - ids.shape[-1])]
        return np.pad(ids, pad)

    def encode(self, rows: list[list[int]]) -> np.ndarray:
        """Step 5 (the other modes): one vector of length ``depth()`` per text."""
        depth = self.depth()
        counts = np.zeros((len(rows), depth), dtype=config.dtype())  # (N, V)
        for n, row in enumerate(rows):
            for index in row:
                if 0 <= index < depth:  # the dropped mask token (-1) counts nowhere
                    counts[n, index] += 1
        if self.output_mode in ("multi_hot", "one_hot"):
            return (counts > 0).astype(config.dtype())
        if self.output_mode == "count":
            return counts
        if self.idf_weights is None:
            raise ValueError(f'TextVectorization "{self.name}": when `output_mode` is "tf_idf", '
                             "`idf_weights` must be provided (adapt the layer or pass them)")
        idf = np.zeros(depth, np.float32)
        idf[:min(depth, len(self.idf_weights))] = self.idf_weights[:depth]
        return (counts * idf.astype(config.dtype())).astype(config.dtype())  # tf * idf

    def backward(self, dy):
        return None  # texts have no gradient

    def keras_own_variables(self) -> dict:
        """What Keras' ``.keras`` weights file holds for this layer besides weights: in "tf_idf"
        mode the idf weights, under the layer and under its inner StringLookup, as Keras writes
        them (``saving_keras`` writes and reads these)."""
        if self.output_mode != "tf_idf" or self.idf_weights is None:
            return {}
        idf = np.asarray(self.idf_weights, dtype=np.float32)
        return {"vars": {"idf_weights": idf}, "_lookup_layer/vars": {"idf_weights": idf}}

    def get_config(self):
        """Keras' config. The vocabulary is written in full, special tokens first (and the idf
        weights with it), so ``TextVectorization(**config)`` and Keras rebuild the same layer."""
        vocabulary = self.get_vocabulary() if self.tokens or self.has_input_vocabulary else None
        idf = None
        if self.output_mode == "tf_idf" and self.idf_weights is not None and vocabulary is not None:
            idf = [float(w) for w in self.idf_weights[:len(vocabulary)]]
        return {**super().get_config(), "max_tokens": self.max_tokens,
                "standardize": self.standardize, "split": self.split, "ngrams": self.ngrams,
                "output_mode": self.output_mode,
                "output_sequence_length": self.output_sequence_length,
                "pad_to_max_tokens": self.pad_to_max_tokens, "sparse": False, "ragged": False,
                "vocabulary": vocabulary, "idf_weights": idf, "encoding": self.encoding,
                "vocabulary_size": self.vocabulary_size()}
