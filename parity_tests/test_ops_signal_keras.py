"""``sn.ops``' Fourier transforms, STFT, window functions, framing and ``cdist`` against Keras 3 on
the TensorFlow backend: values and dtypes (FORWARD_RTOL), gradients through the tape against
``tf.GradientTape`` (GRAD_RTOL), Keras' argument names and errors."""

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

import scratchnet as sn
from parity_tests.driver import FORWARD_RTOL, GRAD_RTOL, assert_close
from scratchnet.autodiff import Tape

RNG = np.random.default_rng(13)
RE = RNG.normal(size=(2, 8)).astype(np.float32)
IM = RNG.normal(size=(2, 8)).astype(np.float32)
RE2 = RNG.normal(size=(2, 4, 6)).astype(np.float32)
IM2 = RNG.normal(size=(2, 4, 6)).astype(np.float32)
SIGNAL = RNG.normal(size=(2, 32)).astype(np.float32)
SPEC_RE = RNG.normal(size=(2, 5)).astype(np.float32)
SPEC_IM = RNG.normal(size=(2, 5)).astype(np.float32)
A = RNG.normal(size=(4, 3)).astype(np.float32)
B = RNG.normal(size=(5, 3)).astype(np.float32)


def _stft_pair(o, **kwargs):
    args = dict(sequence_length=8, sequence_stride=4, fft_length=8)
    args.update(kwargs)
    return o.stft(SIGNAL, **args)


CASES = {
    "fft_real": lambda o: o.fft((RE, IM))[0],
    "fft_imag": lambda o: o.fft((RE, IM))[1],
    "fft2_real": lambda o: o.fft2((RE2, IM2))[0],
    "fft2_imag": lambda o: o.fft2((RE2, IM2))[1],
    "ifft2_real": lambda o: o.ifft2((RE2, IM2))[0],
    "ifft2_imag": lambda o: o.ifft2((RE2, IM2))[1],
    "rfft_real": lambda o: o.rfft(RE)[0],
    "rfft_imag": lambda o: o.rfft(RE)[1],
    "rfft_padded": lambda o: o.rfft(RE, fft_length=10)[1],
    "rfft_cut": lambda o: o.rfft(RE, fft_length=6)[0],
    "irfft": lambda o: o.irfft((SPEC_RE, SPEC_IM)),
    "irfft_odd": lambda o: o.irfft((SPEC_RE, SPEC_IM), fft_length=9),
    "irfft_short": lambda o: o.irfft((SPEC_RE, SPEC_IM), fft_length=6),
    "stft_real": lambda o: _stft_pair(o)[0],
    "stft_imag": lambda o: _stft_pair(o)[1],
    "stft_hamming": lambda o: _stft_pair(o, window="hamming", fft_length=10)[0],
    "stft_no_window": lambda o: _stft_pair(o, window=None, center=False)[1],
    "stft_array_window": lambda o: _stft_pair(o, window=np.arange(6, dtype=np.float32), sequence_length=6)[0],
    "istft": lambda o: o.istft(_stft_pair(o), 8, 4, 8),
    "istft_length": lambda o: o.istft(_stft_pair(o, sequence_length=6, fft_length=8), 6, 4, 8, length=20),
    "istft_no_center": lambda o: o.istft(_stft_pair(o, center=False, window="hamming"), 8, 4, 8,
                                         window="hamming", center=False),
    "hamming": lambda o: o.hamming(7),
    "hanning": lambda o: o.hanning(6),
    "blackman": lambda o: o.blackman(9),
    "blackman_one": lambda o: o.blackman(1),
    "bartlett": lambda o: o.bartlett(8),
    "kaiser": lambda o: o.kaiser(7, 3.5),
    "extract_sequences": lambda o: o.extract_sequences(SIGNAL, 8, 3),
    "extract_sequences_1d": lambda o: o.extract_sequences(SIGNAL[0], 5, 5),
    "cdist": lambda o: o.cdist(A, B),
    "cdist_batch": lambda o: o.cdist(RE2[:, :3, :4], RE2[:, 1:, :4]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_values_and_dtypes_equal_keras_ops(case):
    ours = np.asarray(CASES[case](sn.ops))
    theirs = keras.ops.convert_to_numpy(CASES[case](keras.ops))
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype, (ours.shape, theirs.shape,
                                                                         ours.dtype, theirs.dtype)
    assert_close(ours, theirs, FORWARD_RTOL, case)


GRADIENTS = {  # functions of x of shape (2, 8)
    "fft_from_real": lambda o, x: o.fft((x, IM))[1],
    "fft_from_imag": lambda o, x: o.fft((RE, x * 2.0))[0] * o.fft((RE, x))[1],
    "fft2": lambda o, x: o.fft2((o.reshape(x, (2, 2, 4)), o.reshape(IM, (2, 2, 4))))[0],
    "ifft2": lambda o, x: o.ifft2((o.reshape(IM, (2, 4, 2)), o.reshape(x, (2, 4, 2))))[1],
    "rfft": lambda o, x: o.rfft(x)[1] + o.rfft(x)[0] * 0.5,
    "rfft_padded": lambda o, x: o.rfft(x, fft_length=11)[0],
    "irfft_real": lambda o, x: o.irfft((x[:, :5], SPEC_IM)),
    "irfft_imag": lambda o, x: o.irfft((SPEC_RE, x[:, 3:]), fft_length=9),
    "stft": lambda o, x: o.stft(x, 4, 2, 4)[0],
    "istft": lambda o, x: o.istft((o.reshape(x[:, :6], (2, 2, 3)), o.reshape(IM[:, :6], (2, 2, 3))),
                                  4, 2, 4, center=False),
    "extract_sequences": lambda o, x: o.extract_sequences(x, 3, 2),
    "cdist": lambda o, x: o.cdist(o.reshape(x, (4, 4)), RE2[0, :3, :4]),
}


@pytest.mark.parametrize("name", sorted(GRADIENTS))
def test_gradients_through_the_tape_equal_tensorflow(name):
    function = GRADIENTS[name]
    out = keras.ops.convert_to_numpy(function(keras.ops, RE))
    w = RNG.normal(size=out.shape).astype(np.float32)
    tape = Tape("test")
    traced = tape.watch(RE)
    ours = tape.gradient(function(sn.ops, traced), traced, w)
    v = tf.constant(RE)
    with tf.GradientTape() as g:
        g.watch(v)
        y = function(keras.ops, v)
    theirs = g.gradient(y, v, output_gradients=tf.constant(w)).numpy()
    assert ours.dtype == np.float32 and ours.shape == RE.shape
    assert_close(ours, theirs, GRAD_RTOL, name)


@pytest.mark.parametrize("name", ["fft", "fft2", "ifft2", "rfft", "irfft", "stft", "istft", "hamming",
                                  "hanning", "blackman", "bartlett", "kaiser", "extract_sequences", "cdist"])
def test_argument_names_and_defaults_are_keras(name):
    def params(f):
        return [(p.name, p.default) for p in inspect.signature(f).parameters.values()]
    assert params(getattr(sn.ops, name)) == params(getattr(keras.ops, name))


@pytest.mark.parametrize("call, error", [
    (lambda o: o.fft(RE), ValueError),
    (lambda o: o.fft((RE, IM[:, :4])), ValueError),
    (lambda o: o.stft(SIGNAL, 8, 4, 4), ValueError),
    (lambda o: o.stft(SIGNAL, 8, 4, 8, window="blackman"), ValueError),
    (lambda o: o.stft(SIGNAL, 8, 4, 8, window=np.ones(3, np.float32)), ValueError),
    (lambda o: o.stft(SIGNAL.astype(np.int32), 8, 4, 8), TypeError),
    (lambda o: o.cdist(A[0], B), ValueError),
    (lambda o: o.cdist(A, B[:, :2]), ValueError),
])
def test_errors_as_keras(call, error):
    with pytest.raises(error):
        call(keras.ops)
    with pytest.raises(error):
        call(sn.ops)
