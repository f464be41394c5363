"""CTC against Keras 3.15.1 (TensorFlow backend): keras.ops.ctc_loss values (FORWARD_RTOL) and
gradients by TensorFlow's tape (GRAD_RTOL) for several blank indices and lengths; keras.losses.CTC
and ctc through check_loss and ten SGD steps of a small sequence model (TRAJECTORY_RTOL);
keras.ops.ctc_decode, greedy and beam search, in Keras' return format; configs and .keras files
both ways. Finite differences and errors: tests/test_ctc.py."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import scratchnet as sn
import tfnet
from parity_tests.driver import (
    FORWARD_RTOL,
    GRAD_RTOL,
    assert_close,
    check_loss,
    check_trajectory,
    make_twins,
)

RNG = 3


def _data(rng, n=3, steps=6, classes=4):
    logits = (rng.normal(size=(n, steps, classes)) * 2).astype("f4")
    target = np.array([[1, 2, 0], [3, 3, 0], [2, 1, 3]])[:n]
    return logits, target


@pytest.mark.parametrize("mask_index", [0, 2, -1])
def test_ops_ctc_loss_values_and_gradients(mask_index):
    rng = np.random.default_rng(RNG)
    logits, target = _data(rng)
    blank = mask_index % logits.shape[-1]
    target = np.where(target == blank, (blank + 1) % 4, target)
    if blank == 0:
        target = np.where(target == 0, 1, target)
    target_length, output_length = np.array([2, 2, 3]), np.array([6, 5, 4])
    upstream = rng.random(3).astype("f4")
    variable = tf.Variable(logits)
    with tf.GradientTape() as tape:
        theirs = keras.ops.ctc_loss(target, variable, target_length, output_length, mask_index=mask_index)
        total = tf.reduce_sum(theirs * upstream)
    ours = sn.ops.ctc_loss(target, logits, target_length, output_length, mask_index=mask_index)
    assert ours.dtype == np.float32 and ours.shape == (3,)
    assert_close(ours, theirs.numpy(), FORWARD_RTOL, "ctc_loss")
    grad = sn.ctc.ctc_loss_gradient(target, logits, target_length, output_length, mask_index, upstream)
    assert_close(grad, tape.gradient(total, variable).numpy(), GRAD_RTOL, "ctc_loss gradient")
    assert sn.ops.nn.ctc_loss is sn.ops.ctc_loss


def test_ctc_loss_class_and_function():
    rng = np.random.default_rng(RNG)
    logits, target = _data(rng)
    check_loss(sn.losses.CTC(), target, logits, sample_weight=rng.random(3).astype("f4"))
    assert_close(sn.losses.ctc(target, logits), keras.losses.ctc(target, logits).numpy(),
                 FORWARD_RTOL, "keras.losses.ctc")


def _model():
    return sn.Sequential([sn.layers.Input((6, 3)), sn.layers.Dense(5, activation="tanh"),
                          sn.layers.Dense(4)], seed=0)


def test_ten_sgd_steps_with_ctc():
    rng = np.random.default_rng(RNG)
    x = rng.normal(size=(8, 6, 3)).astype("f4")
    y = np.array([[1, 2, 0], [3, 0, 0], [2, 2, 1], [1, 0, 0], [3, 1, 0], [2, 3, 1], [1, 1, 0], [2, 0, 0]])
    twins = make_twins(_model(), loss=sn.losses.CTC(), optimizer=sn.optimizers.SGD(0.1))
    assert isinstance(twins.keras.loss, keras.losses.CTC)
    check_trajectory(twins, [(x[:4], y[:4]), (x[4:], y[4:])], 10)


def test_keras_files_both_ways(tmp_path):
    rng = np.random.default_rng(RNG)
    x = rng.normal(size=(4, 6, 3)).astype("f4")
    y = np.array([[1, 2, 0], [3, 0, 0], [2, 2, 1], [1, 0, 0]])
    model = _model()
    model.compile(optimizer="adam", loss="ctc")
    model.fit(x, y, epochs=2, batch_size=2, verbose=0, shuffle=False)
    model.save(tmp_path / "m.keras")
    kmodel = keras.models.load_model(tmp_path / "m.keras")
    assert_close(model.evaluate(x, y, verbose=0), kmodel.evaluate(x, y, verbose=0), FORWARD_RTOL,
                 "loss after loading in Keras")
    kmodel.compile(optimizer="adam", loss=keras.losses.CTC())
    kmodel.save(tmp_path / "k.keras")
    loaded = sn.load_model(tmp_path / "k.keras")
    assert isinstance(loaded.loss, sn.losses.CTC)
    assert tfnet.convert.loss_from_keras(keras.losses.CTC()).get_config() == {}


@pytest.mark.parametrize("merge_repeated", [True, False])
@pytest.mark.parametrize("mask_index", [0, 3])
def test_greedy_decode(merge_repeated, mask_index):
    rng = np.random.default_rng(RNG)
    logits = rng.normal(size=(4, 7, 4)).astype("f4")
    logits[0, 1:4, 2] += 5.0  # a run of one class: merged or not
    lengths = np.array([7, 5, 0, 6], dtype="int32")
    theirs = keras.ops.ctc_decode(logits, lengths, strategy="greedy", merge_repeated=merge_repeated,
                                  mask_index=mask_index)
    ours = sn.ops.ctc_decode(logits, lengths, strategy="greedy", merge_repeated=merge_repeated,
                             mask_index=mask_index)
    assert ours[0].dtype == np.int32 and ours[0].shape == tuple(theirs[0].shape) == (1, 4, 7)
    np.testing.assert_array_equal(ours[0], theirs[0].numpy())
    assert ours[1].shape == (4, 1)
    assert_close(ours[1], theirs[1].numpy(), FORWARD_RTOL, "greedy scores")


@pytest.mark.parametrize("mask_index, top_paths", [(0, 1), (0, 3), (1, 2), (2, 4)])
def test_beam_search_decode(mask_index, top_paths):
    """Small enough (3 classes, 5 frames) that no prefix is pruned with beam_width 50: both searches
    are then exact, and agree on the sequences and their log probabilities."""
    rng = np.random.default_rng(RNG)
    logits = (rng.normal(size=(3, 5, 3)) * 1.5).astype("f4")
    lengths = np.array([5, 4, 3], dtype="int32")
    theirs = keras.ops.ctc_decode(logits, lengths, strategy="beam_search", beam_width=50,
                                  top_paths=top_paths, mask_index=mask_index)
    ours = sn.ops.ctc_decode(logits, lengths, strategy="beam_search", beam_width=50,
                             top_paths=top_paths, mask_index=mask_index)
    assert ours[0].shape == tuple(theirs[0].shape) == (top_paths, 3, 5)
    np.testing.assert_array_equal(ours[0], theirs[0].numpy())
    assert_close(ours[1], theirs[1].numpy(), FORWARD_RTOL, "beam scores")
