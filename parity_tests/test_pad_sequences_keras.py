"""``sn.utils.pad_sequences`` (and ``sn.preprocessing.sequence.pad_sequences``) against
``keras.utils.pad_sequences`` (Keras 3.15): the same array, value and dtype, for each side of
padding and truncating, a given or found ``maxlen``, empty sequences, sequences of vectors, string
tokens; and a clear error where Keras would silently truncate non-whole ids."""

import keras
import numpy as np
import pytest

import scratchnet as sn

RAGGED = [[1, 2, 3, 4], [5, 6], [], [7], [8, 9, 10, 11, 12, 13]]


@pytest.mark.parametrize("kwargs", [
    {}, {"maxlen": 3}, {"maxlen": 8}, {"padding": "post"}, {"truncating": "post", "maxlen": 3},
    {"padding": "post", "truncating": "post", "maxlen": 2, "value": -1},
    {"dtype": "float32", "value": 0.5}, {"dtype": "int64", "maxlen": 5},
], ids=str)
def test_the_same_array_as_keras(kwargs):
    ours, theirs = sn.utils.pad_sequences(RAGGED, **kwargs), keras.utils.pad_sequences(RAGGED, **kwargs)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(sn.preprocessing.sequence.pad_sequences(RAGGED, **kwargs), theirs)


def test_sequences_of_vectors_and_of_strings_as_keras():
    vectors = [np.ones((2, 3)), np.arange(12.0).reshape(4, 3), np.zeros((0, 3))]
    for kwargs in ({"dtype": "float32"}, {"dtype": "float32", "maxlen": 3, "padding": "post"}):
        np.testing.assert_array_equal(sn.utils.pad_sequences(vectors, **kwargs),
                                      keras.utils.pad_sequences(vectors, **kwargs))
    words = [["the", "cat"], ["a"]]
    ours = sn.utils.pad_sequences(words, dtype=object, value="<pad>")
    assert ours.tolist() == keras.utils.pad_sequences(words, dtype=object, value="<pad>").tolist()


@pytest.mark.parametrize("call, message", [
    (lambda: sn.utils.pad_sequences([[1.5, 2.0]]), r"sequence 0 holds values that are not whole numbers "
                                                   r"\(np.float64\(1.5\)\) for dtype int32"),
    (lambda: sn.utils.pad_sequences([]), "expected at least one sequence"),
    (lambda: sn.utils.pad_sequences([[1], 2]), "sequence 1 is not a sequence: 2"),
    (lambda: sn.utils.pad_sequences([[1]], maxlen=0), "expected maxlen to be None or a positive integer"),
    (lambda: sn.utils.pad_sequences([[1]], padding="both"), 'expected padding to be "pre" or "post"'),
    (lambda: sn.utils.pad_sequences([[1]], value="x"), "a string padding value .* needs dtype=object"),
    (lambda: sn.utils.pad_sequences([[[1, 2]], [[1, 2, 3]]]), r"the entries of sequence 1 have shape \(3,\)"),
])
def test_bad_input_is_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_keras_truncates_non_whole_ids_silently():
    # the difference above, pinned: Keras casts 1.5 to 1 without a word
    assert keras.utils.pad_sequences([[1.5, 2.0]]).tolist() == [[1, 2]]
