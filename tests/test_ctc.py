"""CTC without Keras: the alpha-beta gradient against central differences in float64, golden
values by enumerating every path, decoding by hand, the loss class, and the errors. Keras parity:
parity_tests/test_ctc_keras.py."""

import itertools

import numpy as np
import pytest

import scratchnet as sn
from scratchnet import ctc
from tests.gradcheck import REL_TOL, numeric_grad, rel_error


def _brute_force(logits, label, blank):
    """-log of the sum over every path of T classes that reads as ``label``."""
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    total = 0.0
    for path in itertools.product(range(logits.shape[-1]), repeat=len(logits)):
        merged = [c for i, c in enumerate(path) if i == 0 or c != path[i - 1]]
        if [c for c in merged if c != blank] == list(label):
            total += np.prod([p[t, c] for t, c in enumerate(path)])
    return -np.log(total)


@pytest.mark.parametrize("label, blank", [([1, 2], 0), ([1, 1], 0), ([2], 0), ([], 0), ([0, 2, 0], 1)])
def test_values_against_every_path(label, blank):
    logits = np.random.default_rng(0).normal(size=(1, 4, 3))
    target = np.array([label + [blank + 1 if blank != 2 else 0] * (3 - len(label))])
    ours = ctc.ctc_loss(target, logits, [len(label)], [4], mask_index=blank)
    np.testing.assert_allclose(ours, [_brute_force(logits[0], label, blank)], rtol=1e-12)


@pytest.mark.parametrize("mask_index", [0, 2])
def test_gradient_finite_differences(mask_index):
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(3, 5, 4))
    target = np.array([[1, 3, 1], [3, 3, 1], [1, 0, 0]]) if mask_index == 2 else \
        np.array([[1, 2, 3], [3, 3, 1], [2, 0, 0]])
    lengths, frames, upstream = np.array([3, 2, 1]), np.array([5, 4, 5]), rng.random(3)
    analytic = ctc.ctc_loss_gradient(target, logits, lengths, frames, mask_index, upstream)
    numeric = numeric_grad(lambda: float(np.sum(upstream * ctc.ctc_loss(
        target, logits, lengths, frames, mask_index))), logits)
    assert rel_error(analytic, numeric) < REL_TOL
    assert np.all(analytic[1, 4:] == 0)  # frames past output_length


def test_loss_class_gradient_finite_differences_and_fit():
    rng = np.random.default_rng(2)
    loss = sn.losses.CTC()
    y, p = loss.check(np.array([[1, 2], [2, 0]]), rng.normal(size=(2, 4, 3)))
    numeric = numeric_grad(lambda: float(np.mean(loss.forward(y, p))), p)
    assert rel_error(loss.backward(y, p), numeric) < REL_TOL
    assert loss.get_config() == {} and type(sn.losses.get("CTC")) is sn.losses.CTC
    assert sn.losses.deserialize(sn.losses.serialize(loss)).get_config() == {}
    model = sn.Sequential([sn.layers.Input((5, 2)), sn.layers.Dense(3)], seed=0)
    model.compile(optimizer=sn.optimizers.Adam(0.05), loss="ctc")
    x = rng.normal(size=(6, 5, 2)).astype("f4")
    targets = np.array([[1, 2], [2, 0], [1, 1], [2, 1], [1, 0], [2, 2]])
    history = model.fit(x, targets, epochs=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_greedy_and_beam_decoding_by_hand():
    # frames: a a - b b (blank 0, classes 1 = a, 2 = b)
    logits = np.log(np.array([[[0.1, 0.8, 0.1], [0.1, 0.8, 0.1], [0.8, 0.1, 0.1],
                               [0.1, 0.1, 0.8], [0.1, 0.1, 0.8]]], "f4"))
    decoded, scores = ctc.ctc_decode(logits, np.array([5]))
    np.testing.assert_array_equal(decoded, [[[1, 2, -1, -1, -1]]])
    np.testing.assert_allclose(scores, [[-5 * np.log(0.8)]], rtol=1e-6)
    decoded, _ = ctc.ctc_decode(logits, np.array([5]), merge_repeated=False)
    np.testing.assert_array_equal(decoded, [[[1, 1, 2, 2, -1]]])
    decoded, scores = ctc.ctc_decode(logits, np.array([5]), strategy="beam_search", top_paths=2)
    assert decoded.shape == (2, 1, 5) and decoded[0, 0, :2].tolist() == [1, 2]
    assert scores[0, 0] > scores[0, 1]
    np.testing.assert_allclose(scores[0, 0], -ctc.ctc_loss([[1, 2]], logits, [2], [5])[0], rtol=1e-5)


@pytest.mark.parametrize("call, match", [
    (lambda: ctc.ctc_loss([[1, 2]], np.zeros((1, 4)), [2], [4]), "output .logits. of shape"),
    (lambda: ctc.ctc_loss([1, 2], np.zeros((1, 4, 3)), [2], [4]), "expected target of shape"),
    (lambda: ctc.ctc_loss([[1, 3]], np.zeros((1, 4, 3)), [2], [4]), "has label 3, outside"),
    (lambda: ctc.ctc_loss([[1, 0]], np.zeros((1, 4, 3)), [2], [4]), "has label 0, outside .* blank 0"),
    (lambda: ctc.ctc_loss([[1, 2]], np.zeros((1, 4, 3)), [3], [4]), r"target_length in \[0, 2\]"),
    (lambda: ctc.ctc_loss([[1, 2]], np.zeros((1, 4, 3)), [2], [5]), r"output_length in \[0, 4\]"),
    (lambda: ctc.ctc_loss([[1, 2]], np.zeros((1, 4, 3)), [2, 1], [4]), "target_length to hold 1"),
    (lambda: ctc.ctc_loss([[1, 1]], np.zeros((1, 2, 3)), [2], [2]), "needs at least 3 frames"),
    (lambda: ctc.ctc_loss([[1.5, 2]], np.zeros((1, 4, 3)), [2], [4]), "integer labels"),
    (lambda: ctc.ctc_loss([[np.nan, 2]], np.zeros((1, 4, 3)), [2], [4]), "integer labels"),
    (lambda: ctc.ctc_loss([[1, 2]], np.zeros((1, 4, 3)), [2], [4], mask_index=3), "mask_index"),
    (lambda: ctc.ctc_decode(np.zeros((1, 4, 3)), [4], strategy="best"), "Invalid strategy best"),
    (lambda: ctc.ctc_decode(np.zeros((1, 4, 3)), [5]), "sequence_lengths"),
    (lambda: ctc.ctc_decode(np.zeros((1, 4, 3)), [4], strategy="beam_search", beam_width=2,
                            top_paths=3), "top_paths .3. must be at most beam_width"),
    (lambda: ctc.ctc_decode(np.zeros((1, 4, 3)), [4], strategy="beam_search", mask_index=-1),
     "beam search takes mask_index >= 0.*pass 2"),
    (lambda: sn.losses.CTC()(np.zeros((2,)), np.zeros((2, 3, 3))), r"y_true.shape=\(2,\)"),
    (lambda: sn.losses.CTC()(np.zeros((2, 2)), np.zeros((2, 3))), r"y_pred.shape=\(2, 3\)"),
    (lambda: sn.losses.CTC()(np.array([[1, 5]]), np.zeros((1, 3, 3))), "has label 5"),
])
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
