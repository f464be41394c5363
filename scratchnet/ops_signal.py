"""``keras.ops``' Fourier transforms, short-time Fourier transforms and window functions, for
:mod:`scratchnet.ops`.

Keras passes complex numbers as a pair ``(real, imag)`` of float arrays, in and out; so do these.
The transforms are NumPy's (``np.fft``, along the last axis or the last two), computed in float64
and returned in the input's float dtype. Each records its gradient on the tape, the adjoint of the
linear map it is (with ``g = d_real + i d_imag``, the gradient of the pair):

- ``fft``: ``n * ifft(g)``;  ``fft2``: ``h w * ifft2(g)``;  ``ifft2``: ``fft2(g) / (h w)``;
- ``rfft`` (real ``x``): ``Re(N * ifft(g padded to N))``;
- ``irfft``: ``w_k / N * fft(dy)_k``, ``w_k`` 2 for the bins counted twice, 1 for 0 and ``N/2``.

``stft`` and ``istft`` are built from these and from indexing, padding and products, so their
gradients follow.
"""

from __future__ import annotations

import numpy as np

from scratchnet import config
from scratchnet.autodiff import Traced


def _value(x):
    return x.value if isinstance(x, Traced) else np.asarray(x)


def _pair(x, what: str):
    """The ``(real, imag)`` pair Keras passes a complex array as, checked as Keras checks it."""
    if not isinstance(x, tuple | list) or len(x) != 2:
        raise ValueError(f"Input `x` should be a tuple of two tensors - real and imaginary.Received: x={x}")
    real, imag = x
    rv, iv = _value(real), _value(imag)
    if rv.shape != iv.shape:
        raise ValueError("Input `x` should be a tuple of two tensors - real and imaginary.Both the real and "
                         f"imaginary parts should have the same shape. Received: x[0].shape = {rv.shape}, "
                         f"x[1].shape = {iv.shape}")
    if rv.dtype.kind != "f" or iv.dtype.kind != "f":
        raise ValueError(f"At least one tensor in input `x` is not of type float.Received: x={x}. ({what})")
    return real, imag, rv + 1j * iv.astype(np.float64), rv.dtype


def _record_pair(out, dtype, inputs):
    """``(real, imag)`` of the complex ``out``; on the tape one packed array ``[real; imag]`` whose
    rule hands the complex cotangent ``g`` to each ``(input, rule(g))``."""
    packed = np.stack([out.real, out.imag]).astype(dtype)
    traced = [(x, rule) for x, rule in inputs if isinstance(x, Traced)]
    if not traced:
        return packed[0], packed[1]

    def adapt(rule):
        return lambda dp: rule(dp[0].astype(np.float64) + 1j * dp[1]).astype(dtype)
    recorded = traced[0][0].tape.record(packed, [(x, adapt(rule)) for x, rule in traced])
    return recorded[0], recorded[1]


def fft(x):
    """The discrete Fourier transform along the last axis: ``y_k = sum_n z_n e^{-2 pi i k n / N}``."""
    real, imag, z, dtype = _pair(x, "fft")
    n = z.shape[-1]
    return _record_pair(np.fft.fft(z), dtype, [(real, lambda g: (n * np.fft.ifft(g)).real),
                                               (imag, lambda g: (n * np.fft.ifft(g)).imag)])


def fft2(x):
    """The 2-D discrete Fourier transform over the last two axes."""
    real, imag, z, dtype = _pair(x, "fft2")
    hw = z.shape[-1] * z.shape[-2]
    return _record_pair(np.fft.fft2(z), dtype, [(real, lambda g: (hw * np.fft.ifft2(g)).real),
                                                (imag, lambda g: (hw * np.fft.ifft2(g)).imag)])


def ifft2(x):
    """The inverse 2-D transform, ``fft2(conj z) conj / (h w)``."""
    real, imag, z, dtype = _pair(x, "ifft2")
    hw = z.shape[-1] * z.shape[-2]
    return _record_pair(np.fft.ifft2(z), dtype, [(real, lambda g: (np.fft.fft2(g) / hw).real),
                                                 (imag, lambda g: (np.fft.fft2(g) / hw).imag)])


def rfft(x, fft_length=None):
    """The transform of a real signal, its ``N // 2 + 1`` non-negative frequencies (``x`` cut or
    zero-padded to ``N = fft_length``, the last axis' length when None), as ``(real, imag)``."""
    value = _value(x)
    value = value if value.dtype.kind == "f" else value.astype(config.floatx())
    n_in = value.shape[-1]
    n = n_in if fft_length is None else int(fft_length)

    def rule(g):
        full = np.zeros(g.shape[:-1] + (n,), complex)
        full[..., :g.shape[-1]] = g
        dx = (n * np.fft.ifft(full)).real
        if n >= n_in:
            return dx[..., :n_in]
        return np.concatenate([dx, np.zeros(dx.shape[:-1] + (n_in - n,))], axis=-1)
    return _record_pair(np.fft.rfft(value.astype(np.float64), n=n), value.dtype, [(x, rule)])


def irfft(x, fft_length=None):
    """The real signal of length ``N = fft_length`` (``2 (m - 1)`` for ``m`` frequencies when
    None) whose ``rfft`` is ``x``; the imaginary parts at 0 and ``N/2`` are ignored."""
    real, imag, z, dtype = _pair(x, "irfft")
    m = z.shape[-1]
    n = 2 * (m - 1) if fft_length is None else int(fft_length)
    out = np.fft.irfft(z, n=n).astype(dtype)
    bins = np.arange(m)
    weight = np.where((bins == 0) | ((n % 2 == 0) & (bins == n // 2)), 1.0, 2.0) / n
    weight = np.where(bins <= n // 2, weight, 0.0)  # bins past N/2 are not read

    def spectrum(dy):
        f = np.fft.fft(dy.astype(np.float64), axis=-1)
        full = np.zeros(dy.shape[:-1] + (m,), complex)
        k = min(m, f.shape[-1])
        full[..., :k] = f[..., :k]
        return full * weight
    pairs = [(real, lambda dy: spectrum(dy).real.astype(dtype)),
             (imag, lambda dy: spectrum(dy).imag.astype(dtype))]
    traced = [(v, r) for v, r in pairs if isinstance(v, Traced)]
    return traced[0][0].tape.record(out, traced) if traced else out


# ----------------------------------------------------------------------------- windows
def _length(x) -> int:
    return int(_value(x))


def hamming(x):
    """The symmetric Hamming window ``0.54 - 0.46 cos(2 pi n / (M - 1))``, float32."""
    m = _length(x)
    return np.hamming(m).astype(config.floatx())


def hanning(x):
    """The symmetric Hann window ``0.5 - 0.5 cos(2 pi n / (M - 1))``."""
    return np.hanning(_length(x)).astype(config.floatx())


def blackman(x):
    """``0.42 - 0.5 cos(2 pi n / (M - 1)) + 0.08 cos(4 pi n / (M - 1))`` (1 for M = 1)."""
    return np.blackman(_length(x)).astype(config.floatx())


def bartlett(x):
    """The triangle ``1 - |2n / (M - 1) - 1|``."""
    return np.bartlett(_length(x)).astype(config.floatx())


def kaiser(x, beta):
    """``I0(beta sqrt(1 - (2n / (M - 1) - 1)^2)) / I0(beta)``."""
    return np.kaiser(_length(x), beta).astype(config.floatx())


def _periodic(window: str, n: int, dtype) -> np.ndarray:
    """TensorFlow's periodic Hann or Hamming window (the symmetric one of ``n + 1``, last cut)."""
    a = 0.5 if window == "hann" else 0.54
    return (a - (1 - a) * np.cos(2 * np.pi * np.arange(n) / n)).astype(dtype)


# ----------------------------------------------------------------------------- framing and STFT
def extract_sequences(x, sequence_length, sequence_stride):
    """The frames of the last axis: ``out[..., i, j] = x[..., i * stride + j]``, as many whole frames
    as fit; shape ``(..., n_frames, sequence_length)``."""
    x = x if isinstance(x, Traced | np.ndarray) else np.asarray(x)
    n = x.shape[-1]
    frames = 0 if n < sequence_length else (n - sequence_length) // sequence_stride + 1
    index = np.arange(frames)[:, None] * sequence_stride + np.arange(sequence_length)[None, :]
    return x[..., index]


def _window_array(window, sequence_length, fft_length, dtype):
    if window is None:
        return None
    if isinstance(window, str):
        if window not in {"hann", "hamming"}:
            raise ValueError('If a string is passed to `window`, it must be one of `"hann"`, `"hamming"`. '
                             f"Received: window={window}")
        win = _periodic(window, sequence_length, dtype)
    else:
        win = np.asarray(_value(window), dtype=dtype)
    if win.ndim != 1 or win.shape[-1] != sequence_length:
        raise ValueError(f"The shape of `window` must be equal to [sequence_length].Received: window shape="
                         f"{win.shape}")
    left = (fft_length - sequence_length) // 2
    return np.pad(win, (left, fft_length - sequence_length - left))


def stft(x, sequence_length, sequence_stride, fft_length, window="hann", center=True):
    """The short-time Fourier transform: frames of ``fft_length`` every ``sequence_stride``
    samples (the signal reflect-padded by ``fft_length // 2`` each side if ``center``), each
    multiplied by the window (``sequence_length`` long, centred in the frame), then ``rfft``.
    Returns ``(real, imag)`` of shape ``(..., n_frames, fft_length // 2 + 1)``."""
    value = _value(x)
    if value.dtype not in (np.float32, np.float64):
        raise TypeError("Invalid input type. Expected `float32` or `float64`. Received: input type="
                        f"{value.dtype}")
    if fft_length < sequence_length:
        raise ValueError("`fft_length` must equal or larger than `sequence_length`. Received: "
                         f"sequence_length={sequence_length}, fft_length={fft_length}")
    win = _window_array(window, sequence_length, fft_length, value.dtype)
    x = x if isinstance(x, Traced) else value
    if center:
        x = np.pad(x, [(0, 0)] * (value.ndim - 1) + [(fft_length // 2, fft_length // 2)], mode="reflect")
    frames = extract_sequences(x, fft_length, sequence_stride)
    if win is not None:
        frames = frames * win
    return rfft(frames, fft_length)


def istft(x, sequence_length, sequence_stride, fft_length, length=None, window="hann", center=True):
    """The inverse of :func:`stft`: ``irfft`` of each frame, times the window divided by the sum
    of the squared windows that overlap there (TensorFlow's ``inverse_stft_window_fn``), the
    frames added where they overlap; then the ``center`` padding cut off (or ``length`` kept)."""
    real, _, z, dtype = _pair(x, "istft")
    frames = irfft(x, fft_length)  # (..., n_frames, fft_length)
    win = _window_array(window, sequence_length, fft_length, dtype)
    if win is not None:
        overlaps = -(-fft_length // sequence_stride)
        squares = np.pad(win * win, (0, overlaps * sequence_stride - fft_length))
        denominator = np.tile(np.sum(squares.reshape(overlaps, sequence_stride), axis=0), overlaps)
        frames = frames * (win / denominator[:fft_length]).astype(dtype)
    n_frames = z.shape[-2]
    total = sequence_stride * (n_frames - 1) + fft_length
    lead = [(0, 0)] * (z.ndim - 2)
    out = 0
    for i in range(n_frames):  # overlap-add: frame i lands at i * stride
        out = out + np.pad(frames[..., i, :], lead + [(i * sequence_stride, total - i * sequence_stride
                                                       - fft_length)])
    start = fft_length // 2 if center else 0
    if length is not None:
        end = start + length
    elif center:
        end = total - fft_length // 2
    else:
        end = total
    return out[..., start:end]
