"""More of ``keras.ops.nn`` in ``sn.ops`` (conv_transpose, separable_conv, adaptive pooling, psnr,
fold/unfold) against Keras 3 on the TensorFlow backend: values (FORWARD_RTOL), gradients through the
tape against ``tf.GradientTape`` (GRAD_RTOL), argument names, errors."""

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

import scratchnet as sn
from parity_tests.driver import FORWARD_RTOL, GRAD_RTOL, assert_close
from scratchnet.autodiff import Tape

RNG = np.random.default_rng(19)
IMG = RNG.normal(size=(2, 5, 6, 3)).astype(np.float32)
SEQ = RNG.normal(size=(2, 7, 3)).astype(np.float32)
VOL = RNG.normal(size=(1, 4, 5, 3, 2)).astype(np.float32)
K2T = RNG.normal(size=(3, 2, 4, 3)).astype(np.float32)  # (kh, kw, out, in)
K1T = RNG.normal(size=(3, 2, 3)).astype(np.float32)
DW2 = RNG.normal(size=(2, 2, 3, 2)).astype(np.float32)
PW2 = RNG.normal(size=(1, 1, 6, 4)).astype(np.float32)
DW1 = RNG.normal(size=(3, 3, 1)).astype(np.float32)
PW1 = RNG.normal(size=(1, 3, 2)).astype(np.float32)
NCHW = RNG.normal(size=(2, 3, 5, 6)).astype(np.float32)
COLS = RNG.normal(size=(2, 3 * 4, 20)).astype(np.float32)

CASES = {
    "conv_transpose_2d": lambda o: o.conv_transpose(IMG, K2T, strides=2),
    "conv_transpose_2d_same": lambda o: o.conv_transpose(IMG, K2T, strides=(2, 1), padding="same"),
    "conv_transpose_2d_output_padding": lambda o: o.conv_transpose(IMG, K2T, strides=3, output_padding=1),
    # not dilation_rate > 1: TensorFlow's CPU kernel refuses it (tests/test_ops_nn_more.py checks ours)
    "conv_transpose_1d": lambda o: o.conv_transpose(SEQ, K1T, strides=2, padding="same"),
    "separable_conv_2d": lambda o: o.separable_conv(IMG, DW2, PW2, strides=2, padding="same"),
    "separable_conv_1d": lambda o: o.separable_conv(SEQ, DW1, PW1),
    "psnr": lambda o: o.psnr(IMG, IMG * 0.9, 2.0),
    "adaptive_average_pool_2d": lambda o: o.adaptive_average_pool(o.convert_to_tensor(IMG), (3, 4)),
    "adaptive_max_pool_2d": lambda o: o.adaptive_max_pool(o.convert_to_tensor(IMG), 4),
    "adaptive_average_pool_1d": lambda o: o.adaptive_average_pool(o.convert_to_tensor(SEQ), 3),
    "adaptive_max_pool_1d_up": lambda o: o.adaptive_max_pool(o.convert_to_tensor(SEQ), 9),
    "adaptive_average_pool_3d": lambda o: o.adaptive_average_pool(o.convert_to_tensor(VOL), (2, 3, 2)),
    "adaptive_max_pool_3d": lambda o: o.adaptive_max_pool(o.convert_to_tensor(VOL), (3, 2, 2)),
    "unfold": lambda o: o.unfold(NCHW, 2),
    "unfold_all": lambda o: o.unfold(NCHW, (2, 3), dilation=(1, 2), padding=1, stride=(2, 1)),
    "fold": lambda o: o.fold(COLS, (5, 6), 2),
    "fold_all": lambda o: o.fold(RNG_COLS, (5, 6), (2, 3), dilation=(1, 2), padding=1, stride=(2, 1)),
}
RNG_COLS = RNG.normal(size=(2, 3 * 6, 12)).astype(np.float32)


@pytest.mark.parametrize("case", sorted(CASES))
def test_values_and_dtypes_equal_keras_ops(case):
    ours = np.asarray(CASES[case](sn.ops))
    theirs = keras.ops.convert_to_numpy(CASES[case](keras.ops))
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype, (ours.shape, theirs.shape,
                                                                         ours.dtype, theirs.dtype)
    assert_close(ours, theirs, FORWARD_RTOL, case)


GRADIENTS = {  # functions of x = IMG (2, 5, 6, 3)
    "conv_transpose": lambda o, x: o.conv_transpose(x, K2T, strides=2, padding="same"),
    "conv_transpose_kernel": lambda o, x: o.conv_transpose(IMG, o.reshape(x[0, :3, :2, :], (3, 2, 1, 3)),
                                                           strides=(1, 2)),
    "separable_conv": lambda o, x: o.separable_conv(x, DW2, PW2, padding="same"),
    "psnr": lambda o, x: o.psnr(x, IMG * 0.5, 1.0),
    "adaptive_average_pool": lambda o, x: o.adaptive_average_pool(x, (3, 4)),
    "adaptive_max_pool": lambda o, x: o.adaptive_max_pool(x, (2, 4)),
    "unfold": lambda o, x: o.unfold(o.moveaxis(x, -1, 1), 2, stride=2, padding=1),
    "fold": lambda o, x: o.fold(o.reshape(x, (2, 18, 5)), (3, 7), 3),
    "fold_strided": lambda o, x: o.fold(o.reshape(x, (2, 18, 5)), (1, 11), 3, stride=(1, 2), padding=(1, 0)),
}


@pytest.mark.parametrize("name", sorted(GRADIENTS))
def test_gradients_through_the_tape_equal_tensorflow(name):
    function = GRADIENTS[name]
    out = keras.ops.convert_to_numpy(function(keras.ops, tf.constant(IMG)))
    w = RNG.normal(size=out.shape).astype(np.float32)
    tape = Tape("test")
    traced = tape.watch(IMG)
    ours = tape.gradient(function(sn.ops, traced), traced, w)
    v = tf.constant(IMG)
    with tf.GradientTape() as g:
        g.watch(v)
        y = function(keras.ops, v)
    theirs = g.gradient(y, v, output_gradients=tf.constant(w)).numpy()
    assert ours.dtype == np.float32 and ours.shape == IMG.shape
    assert_close(ours, theirs, GRAD_RTOL, name)


@pytest.mark.parametrize("name", ["conv_transpose", "separable_conv", "psnr", "adaptive_average_pool",
                                  "adaptive_max_pool", "fold", "unfold"])
def test_argument_names_and_defaults_are_keras(name):
    def params(f):
        return [(p.name, p.default) for p in inspect.signature(f).parameters.values()]
    ours, theirs = params(getattr(sn.ops, name)), params(getattr(keras.ops, name))
    if name == "unfold":  # Keras names the first argument `input` in the backend, `x` here
        ours, theirs = ours[1:], theirs[1:]
    assert ours == theirs


@pytest.mark.parametrize("call", [
    lambda o: o.psnr(IMG, IMG[:1], 1.0),
    lambda o: o.separable_conv(VOL, DW2, PW2),
])
def test_errors_as_keras(call):
    with pytest.raises(ValueError):
        call(keras.ops)
    with pytest.raises(ValueError):
        call(sn.ops)
