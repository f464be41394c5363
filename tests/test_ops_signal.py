"""``sn.ops``' Fourier transforms and STFT without Keras: the recorded adjoints against float64
finite differences (tests/gradcheck.py, REL_TOL 1e-6), values against ``np.fft``, and ``istft``
undoing ``stft``."""

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.autodiff import Tape
from tests.gradcheck import REL_TOL, numeric_grad, rel_error

O = sn.ops
R = np.random.default_rng(17)
IM = R.normal(size=(2, 8))

FUNCTIONS = {  # f(x), x of shape (2, 8)
    "fft_real": lambda x: O.fft((x, IM))[0],
    "fft_imag": lambda x: O.fft((IM, x))[1],
    "fft2": lambda x: O.fft2((O.reshape(x, (2, 2, 4)), O.reshape(IM, (2, 2, 4))))[1],
    "ifft2": lambda x: O.ifft2((O.reshape(IM, (4, 4)), O.reshape(x, (4, 4))))[0],
    "rfft": lambda x: O.rfft(x)[1],
    "rfft_cut": lambda x: O.rfft(x, fft_length=6)[0],
    "rfft_padded": lambda x: O.rfft(x, fft_length=11)[1],
    "irfft": lambda x: O.irfft((x[:, :5], IM[:, :5])),
    "irfft_odd": lambda x: O.irfft((IM[:, :5], x[:, 3:]), fft_length=9),
    "stft": lambda x: O.stft(x, 4, 2, 6, window="hamming")[1],
    "istft": lambda x: O.istft((O.reshape(x[:, :6], (2, 2, 3)), O.reshape(IM[:, :6], (2, 2, 3))), 4, 2, 4),
    "cdist": lambda x: O.cdist(O.reshape(x, (4, 4)), IM.reshape(4, 4)),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_tape_gradient_matches_finite_differences(name, float64):
    function = FUNCTIONS[name]
    x = R.standard_normal((2, 8))
    w = np.random.default_rng(1).standard_normal(np.shape(function(x)))
    tape = Tape("test")
    traced = tape.watch(x)
    analytic = tape.gradient(function(traced), traced, w)
    numeric = numeric_grad(lambda: float(np.sum(w * np.asarray(function(x)))), x)
    assert np.any(numeric != 0)
    assert rel_error(analytic, numeric) < REL_TOL, rel_error(analytic, numeric)


def test_values_are_numpys_transforms_and_istft_inverts_stft(float64):
    x = R.standard_normal((3, 16))
    real, imag = O.fft((x, IM[:1].repeat(2, axis=1)[:, :16].repeat(3, axis=0)))
    np.testing.assert_allclose(real + 1j * imag, np.fft.fft(x + 1j * IM[:1].repeat(2, axis=1)[:, :16]))
    np.testing.assert_allclose(O.irfft(O.rfft(x)), x, atol=1e-12)
    spectrum = O.stft(x, 8, 2, 8)
    # exact away from the ends; at the ends TensorFlow's window sum (which istft matches) assumes
    # the full overlap of frames that are not there
    np.testing.assert_allclose(O.istft(spectrum, 8, 2, 8, length=16)[:, 4:-4], x[:, 4:-4], atol=1e-12)
    np.testing.assert_array_equal(O.extract_sequences(np.arange(7), 3, 2), [[0, 1, 2], [2, 3, 4], [4, 5, 6]])
    np.testing.assert_allclose(O.hanning(5), np.hanning(5))


@pytest.mark.parametrize("call, message", [
    (lambda: O.fft(np.ones(3)), "tuple of two tensors"),
    (lambda: O.fft((np.ones(3), np.ones(3, np.int32))), "not of type float"),
    (lambda: O.stft(np.ones(16), 8, 4, 4), "`fft_length` must equal or larger"),
    (lambda: O.stft(np.ones(16), 4, 2, 4, window="tukey"), "must be one of"),
    (lambda: O.istft((np.ones((2, 3)), np.ones((2, 3))), 4, 2, 4, window=np.ones(2)), "shape of `window`"),
])
def test_bad_arguments_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()
