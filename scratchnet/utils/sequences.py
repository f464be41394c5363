"""``pad_sequences``: lists of token ids of different lengths as one rectangular array.

A text model reads a batch as one array ``(N, T)``, so every sequence is cut or padded to the same
length ``T`` (``maxlen``, or the longest one's). Keras' rule, kept here value for value:

- ``truncating="pre"`` (default) keeps a long sequence's *last* ``maxlen`` entries, ``"post"`` its
  first ones;
- ``padding="pre"`` (default) puts the padding ``value`` (0) *before* a short sequence, ``"post"``
  after it (what ``Embedding(mask_zero=True)`` and the recurrent layers' masks expect either way);
- each entry may itself be an array (a sequence of vectors): all must have the first one's shape.

Where Keras would silently do something else, here is an error that says what was received: ids
that are not whole numbers for an integer ``dtype`` (Keras truncates 1.5 to 1), ``maxlen`` below 1,
no sequences at all, and a padding or truncating side that is neither "pre" nor "post".
"""

from __future__ import annotations

import numbers

import numpy as np


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0):
    """``keras.utils.pad_sequences``: an array ``(len(sequences), maxlen) + sample_shape``."""
    where = "pad_sequences"
    if isinstance(sequences, str | bytes) or not hasattr(sequences, "__len__"):
        raise ValueError(f"{where}: expected sequences to be a list of sequences, received {sequences!r:.80}")
    if len(sequences) == 0:
        raise ValueError(f"{where}: expected at least one sequence, received an empty list")
    for arg, side in (("padding", padding), ("truncating", truncating)):
        if side not in ("pre", "post"):
            raise ValueError(f'{where}: expected {arg} to be "pre" or "post", received {side!r}')
    if maxlen is not None and (isinstance(maxlen, bool) or not isinstance(maxlen, numbers.Integral)
                               or maxlen < 1):
        raise ValueError(f"{where}: expected maxlen to be None or a positive integer, received {maxlen!r}")
    dtype = np.dtype(dtype)
    if isinstance(value, str) and dtype.kind not in "OUS":
        raise ValueError(f"{where}: a string padding value ({value!r}) needs dtype=object or a string dtype, "
                         f"received dtype {dtype}")
    arrays = []
    for i, s in enumerate(sequences):
        if isinstance(s, str | bytes) or not hasattr(s, "__len__"):
            raise ValueError(f"{where}: sequence {i} is not a sequence: {s!r:.80}")
        a = np.asarray(s)
        if dtype.kind in "iu" and a.size and (a.dtype.kind not in "iub") and not np.all(np.mod(a, 1) == 0):
            raise ValueError(f"{where}: sequence {i} holds values that are not whole numbers "
                             f"({a.ravel()[np.mod(a.ravel(), 1) != 0][0]!r}) for dtype {dtype}")
        arrays.append(a)
    # every entry's shape: that of the first non-empty sequence's entries (ids: ())
    sample_shape = next((a.shape[1:] for a in arrays if len(a)), ())
    length = max(len(a) for a in arrays) if maxlen is None else int(maxlen)
    out = np.full((len(arrays), length) + sample_shape, value, dtype=dtype)
    for i, a in enumerate(arrays):
        if not len(a):
            continue  # an empty sequence is all padding
        kept = a[-length:] if truncating == "pre" else a[:length]
        if kept.shape[1:] != sample_shape:
            raise ValueError(f"{where}: the entries of sequence {i} have shape {kept.shape[1:]}, those of "
                             f"the first non-empty sequence {sample_shape}")
        if padding == "post":
            out[i, :len(kept)] = kept
        else:
            out[i, length - len(kept):] = kept
    return out
