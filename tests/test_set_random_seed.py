"""``sn.utils.set_random_seed(s)`` makes a whole run repeatable, as ``keras.utils.set_random_seed``
does: a Sequential model made without its own ``seed`` (initial weights, dropout, fit's batch
order), and Python's ``random`` and NumPy's global generator, which Keras seeds too."""

import random

import numpy as np
import pytest

import scratchnet as sn


def _run():
    model = sn.Sequential([sn.Input((4,)), sn.layers.Dense(8, activation="relu"),
                           sn.layers.Dropout(0.5), sn.layers.Dense(3)])
    model.compile("adam", loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    start = model.get_weights()
    x = np.random.default_rng(0).standard_normal((40, 4)).astype("float32")
    history = model.fit(x, np.arange(40) % 3, batch_size=8, epochs=2, shuffle=True, verbose=0)
    return start, history.history["loss"], model.get_weights()


def test_a_sequential_model_is_repeatable_after_set_random_seed():
    sn.utils.set_random_seed(3)
    start, losses, end = _run()
    sn.utils.set_random_seed(3)
    start2, losses2, end2 = _run()
    for a, b in zip(start + end, start2 + end2, strict=True):
        np.testing.assert_array_equal(a, b)
    assert losses == losses2
    sn.utils.set_random_seed(4)  # another seed, other initial weights
    assert not np.array_equal(_run()[0][0], start[0])


def test_set_random_seed_seeds_python_and_numpy_as_keras():
    sn.utils.set_random_seed(11)
    first = (random.random(), np.random.rand())
    sn.utils.set_random_seed(11)
    assert (random.random(), np.random.rand()) == first


def test_set_random_seed_refuses_a_non_integer():
    with pytest.raises(ValueError, match="expected seed to be an integer, received 1.5"):
        sn.utils.set_random_seed(1.5)
