"""``keras.layers.MelSpectrogram``: raw audio in, a mel spectrogram (an image of sound) out.

What a speech or sound classifier usually sees instead of the waveform::

    1. frames: the signal (reflect-padded by fft_length // 2 at each end) cut into windows of
       sequence_length samples every sequence_stride samples, each multiplied by the window
       ("hann", "hamming" or none) and Fourier-transformed (sn.ops.stft): |STFT|^mag_exp,
       one row of fft_length // 2 + 1 frequency bins per frame
    2. mel scale: each row times a (bins, num_mel_bins) matrix of triangular filters, evenly
       spaced on the mel scale mel(f) = 1127 ln(1 + f / 700) between min_freq and max_freq
       (HTK's formula): low frequencies get narrow filters, high ones wide, as the ear hears
    3. with power_to_db: 10 log10(max(S, min_power)) - 10 log10(max(|ref_power|, min_power)),
       floored at top_db below the largest value (Keras takes that largest value over the WHOLE
       batch, not per clip: scratchnet does the same)

Output ``(batch, num_mel_bins, frames)``, frames ``= 1 + samples // sequence_stride``. A
preprocessing layer: no weights, and no gradient (put it first in a model).
"""

from __future__ import annotations

import numbers

import numpy as np

from scratchnet.layers.base import Layer

_MEL_BREAK_FREQUENCY_HERTZ = 700.0
_MEL_HIGH_FREQUENCY_Q = 1127.0


def hertz_to_mel(frequencies):
    """The mel scale of HTK (and TensorFlow): ``1127 ln(1 + f / 700)``."""
    return _MEL_HIGH_FREQUENCY_Q * np.log(1.0 + frequencies / _MEL_BREAK_FREQUENCY_HERTZ)


def _linspace(start, stop, num: int, dt):
    """``num`` evenly spaced values as TensorFlow's ``linspace`` computes them, in ``dt``: the
    interior ``start + i * (stop - start) / (num - 1)``, the two ends exact. (NumPy's
    ``linspace(dtype=float32)`` works in float64 and rounds once, a different last bit.)"""
    start, stop = dt(start), dt(stop)
    if num == 1:
        return np.array([start], dt)
    delta = (stop - start) / dt(num - 1)
    return np.concatenate([[start], start + np.arange(1, num - 1, dtype=dt) * delta, [stop]]).astype(dt)


def linear_to_mel_weight_matrix(num_mel_bins=20, num_spectrogram_bins=129, sampling_rate=8000,
                                lower_edge_hertz=125.0, upper_edge_hertz=3800.0, dtype="float32"):
    """The ``(num_spectrogram_bins, num_mel_bins)`` matrix of triangular filters: filter ``m``
    rises from 0 at mel edge ``m`` to 1 at edge ``m + 1`` and falls to 0 at edge ``m + 2`` (edges
    evenly spaced in mel between the two frequencies). The DC bin (0 Hz) gets no weight. In
    ``dtype`` throughout, as Keras computes it."""
    dt = np.dtype(dtype).type
    nyquist = dt(sampling_rate) / dt(2.0)
    frequencies = _linspace(0.0, nyquist, num_spectrogram_bins, dt)[1:]  # the DC bin left out
    bins_mel = hertz_to_mel(frequencies).astype(dt)[:, None]
    edges = _linspace(hertz_to_mel(dt(lower_edge_hertz)), hertz_to_mel(dt(upper_edge_hertz)),
                      num_mel_bins + 2, dt)
    lower, center, upper = edges[:-2][None, :], edges[1:-1][None, :], edges[2:][None, :]
    rising = (bins_mel - lower) / (center - lower)
    falling = (upper - bins_mel) / (upper - center)
    weights = np.maximum(dt(0.0), np.minimum(rising, falling))
    return np.pad(weights, [(1, 0), (0, 0)]).astype(dt)


def power_to_db(power: np.ndarray, min_power=1e-10, ref_power=1.0, top_db=80.0) -> np.ndarray:
    """``10 log10(max(S, min_power)) - 10 log10(max(|ref_power|, min_power))``, floored at ``top_db``
    below the largest value of the whole array (Keras' batch-wide floor), in ``power``'s dtype."""
    dt = power.dtype.type
    log_spec = dt(10.0) * np.log10(np.maximum(power, dt(min_power)))
    log_spec = log_spec - dt(10.0) * np.log10(np.maximum(abs(dt(ref_power)), dt(min_power)))
    return np.maximum(log_spec, np.max(log_spec) - dt(top_db))


class MelSpectrogram(Layer):
    """``keras.layers.MelSpectrogram(fft_length=2048, sequence_stride=512, sequence_length=None,
    window="hann", sampling_rate=16000, num_mel_bins=128, min_freq=20.0, max_freq=None,
    power_to_db=True, top_db=80.0, mag_exp=2.0, min_power=1e-10, ref_power=1.0)`` on audio of
    shape ``(batch, samples)``; see the module docstring for the three steps."""

    def __init__(self, fft_length=2048, sequence_stride=512, sequence_length=None, window="hann",
                 sampling_rate=16000, num_mel_bins=128, min_freq=20.0, max_freq=None,
                 power_to_db=True, top_db=80.0, mag_exp=2.0, min_power=1e-10, ref_power=1.0,
                 name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        where = f"MelSpectrogram {self.name!r}"
        for arg, value in (("fft_length", fft_length), ("sequence_stride", sequence_stride),
                           ("sampling_rate", sampling_rate), ("num_mel_bins", num_mel_bins)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{where}: expected {arg} to be a positive integer, received {value!r}")
        self.fft_length, self.sequence_stride = int(fft_length), int(sequence_stride)
        self.sequence_length = int(sequence_length or fft_length)
        if self.fft_length < self.sequence_length:
            raise ValueError("`fft_length` must be greater than or equal to   `sequence_length`. "
                             f"Received: `sequence_length`={self.sequence_length}, "
                             f"`fft_length`={self.fft_length}.")
        if window not in ("hann", "hamming", None):
            raise ValueError(f"{where}: expected window to be 'hann', 'hamming' or None, "
                             f"received {window!r}")
        self.window = window
        self.sampling_rate, self.num_mel_bins = int(sampling_rate), int(num_mel_bins)
        self.min_freq = min_freq
        self.max_freq = max_freq or int(sampling_rate / 2)
        if not 0 <= self.min_freq < self.max_freq:
            raise ValueError(f"{where}: expected 0 <= min_freq < max_freq, received "
                             f"min_freq={min_freq!r}, max_freq={self.max_freq!r}")
        self.power_to_db, self.top_db, self.mag_exp = bool(power_to_db), top_db, mag_exp
        self.min_power, self.ref_power = min_power, ref_power

    def build(self, input_shape, rng):
        if len(input_shape) != 1:
            raise ValueError(f'Layer "{self.name}" (MelSpectrogram): expected audio of shape (batch, '
                             f"samples), received shape {(None, *input_shape)}")
        samples = input_shape[0]
        return (self.num_mel_bins, None if samples is None else 1 + samples // self.sequence_stride)

    def forward(self, x, training=False):
        from scratchnet import ops

        dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.float32
        x = x.astype(dtype, copy=False)
        real, imag = ops.stft(x, self.sequence_length, self.sequence_stride, self.fft_length,
                              window=self.window, center=True)
        spectrum = np.power(np.sqrt(np.square(real) + np.square(imag)), dtype.type(self.mag_exp))
        weights = linear_to_mel_weight_matrix(self.num_mel_bins, spectrum.shape[-1], self.sampling_rate,
                                              self.min_freq, self.max_freq, dtype=dtype)
        mel = np.tensordot(spectrum, weights, axes=1)  # (batch, frames, mel bins)
        if self.power_to_db:
            mel = power_to_db(mel, self.min_power, self.ref_power, self.top_db)
        return np.swapaxes(mel, -1, -2).astype(dtype)

    def backward(self, dy):
        if not self.compute_input_grad:
            return None
        raise NotImplementedError(f'MelSpectrogram "{self.name}": no gradient through this preprocessing '
                                  "layer; put it first in the model, where no input gradient is needed")

    def get_config(self):
        return {**super().get_config(), "fft_length": self.fft_length,
                "sequence_stride": self.sequence_stride, "sequence_length": self.sequence_length,
                "window": self.window, "sampling_rate": self.sampling_rate,
                "num_mel_bins": self.num_mel_bins, "min_freq": self.min_freq, "max_freq": self.max_freq,
                "power_to_db": self.power_to_db, "top_db": self.top_db, "mag_exp": self.mag_exp,
                "min_power": self.min_power, "ref_power": self.ref_power}
