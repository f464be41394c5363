"""``keras.layers.MelSpectrogram``: raw audio in, a mel spectrogram (an image of sound) out; and
``keras.layers.STFTSpectrogram``, a spectrogram whose Fourier kernels train.

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

``keras.layers.STFTSpectrogram`` (below) is the other way in: the STFT as a strided convolution
whose kernels are weights that start as a windowed DFT and train with the model.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np

from scratchnet import config, kernels
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


_STFT_MODES = ("log", "magnitude", "psd", "real", "imag", "angle", "stft")


class STFTSpectrogram(Layer):
    """``keras.layers.STFTSpectrogram(mode="log", frame_length=256, frame_step=None,
    fft_length=None, window="hann", periodic=False, scaling="density", padding="valid",
    expand_dims=False, data_format=None)``: the short-time Fourier transform as a strided 1-D
    convolution whose kernels are trainable weights (Keras' trainable spectrogram front end).

    Each channel of each clip, alone: frames of ``frame_length`` samples every ``frame_step``
    (default ``frame_length // 2``; ``padding="same"`` zero-pads as a convolution does), each
    dotted with the two kernels ``real_kernel`` and ``imag_kernel`` of shape
    ``(frame_length, 1, F)``, ``F = fft_length // 2 + 1`` (``fft_length`` defaults to the next power
    of two), initialized by :class:`scratchnet.initializers.STFT` (a windowed DFT)::

        Re[t, f] = sum_k frame_t[k] * real_kernel[k, 0, f]      Im likewise with imag_kernel
        P = Re^2 + Im^2
        "real": Re    "imag": Im    "angle": atan2(Im, Re)    "stft": [Re, Im] (2F bins)
        "psd": P with the bins 1 .. F-2 doubled (the negative frequencies folded in)
        "magnitude": M = sqrt(max(P, eps))    "log": log(max(M, eps))      (eps = 1e-7)

    Input ``(batch, time, channels)`` (``data_format="channels_first"``: ``(batch, channels,
    time)``). Output ``(batch, frames, channels * F)`` with the bins of channel ``c`` at
    ``c * F + f`` (channels_first: ``(batch, channels * F, frames)``); with ``expand_dims``
    ``(batch, frames, F, channels)`` (channels_first: ``(batch, channels, frames, F)``).
    ``frames = (time - frame_length) // frame_step + 1`` ("valid") or ``ceil(time / frame_step)``
    ("same").

    Backward: the chain rule through the mode back to ``dRe`` and ``dIm``; then for each kernel
    ``dK[k, f] = sum_(clip, channel, t) frame_t[k] * dRe[t, f]`` and ``dx`` is every frame's
    ``dRe @ K^T`` added back at the samples it was cut from. Mode "real" has no ``imag_kernel`` and
    "imag" no ``real_kernel``, as in Keras.
    """

    def __init__(self, mode="log", frame_length=256, frame_step=None, fft_length=None, window="hann",
                 periodic=False, scaling="density", padding="valid", expand_dims=False, data_format=None,
                 name: str | None = None, **kwargs):
        from scratchnet import initializers

        super().__init__(name=name, **kwargs)
        where = f"STFTSpectrogram {self.name!r}"
        _positive(frame_length, "frame_length", where)
        if frame_step is not None:
            _positive(frame_step, "frame_step", where, allow_zero=True)
            if frame_step > frame_length or frame_step < 1:
                raise ValueError("`frame_step` should be a positive integer not greater than "
                                 f"`frame_length`. Received frame_step={frame_step}, "
                                 f"frame_length={frame_length}")
        if fft_length is not None:
            _positive(fft_length, "fft_length", where)
            if fft_length < frame_length:
                raise ValueError("`fft_length` should be not less than `frame_length`. "
                                 f"Received fft_length={fft_length}, frame_length={frame_length}")
            if fft_length & -fft_length != fft_length:
                warnings.warn(f"`fft_length` is recommended to be a power of two. Received "
                              f"fft_length={fft_length}", stacklevel=2)
        if mode not in _STFT_MODES:
            raise ValueError(f"Output mode is invalid, it must be one of {', '.join(_STFT_MODES)}. "
                             f"Received: mode={mode}")
        if scaling is not None and scaling not in ("density", "spectrum"):
            raise ValueError("Scaling is invalid, it must be `None`, 'density' or 'spectrum'. "
                             f"Received scaling={scaling}")
        if padding not in ("valid", "same"):
            raise ValueError(f"Padding is invalid, it should be 'valid', 'same'. Received: padding={padding}")
        if data_format not in (None, "channels_last", "channels_first"):
            raise ValueError(f"{where}: expected data_format to be 'channels_last' or "
                             f"'channels_first' (or None), received {data_format!r}")
        initializers.STFT("real", window, scaling, periodic)  # an unknown window name raises here
        self.mode = mode
        self.frame_length, self.frame_step, self.fft_length = int(frame_length), frame_step, fft_length
        self._frame_step = int(frame_step or self.frame_length // 2)
        if self._frame_step < 1:  # frame_length 1 and no frame_step: half a sample
            raise ValueError(f"{where}: frame_length={frame_length} needs an explicit frame_step "
                             "(the default, frame_length // 2, is 0)")
        self._fft_length = int(fft_length or 2 ** int(np.ceil(np.log2(self.frame_length))))
        self.window, self.periodic, self.scaling = window, periodic, scaling
        self.padding, self.expand_dims = padding, bool(expand_dims)
        self.data_format = data_format or "channels_last"

    # ------------------------------------------------------------------ shapes and weights
    def build(self, input_shape, rng):
        from scratchnet import initializers

        if len(input_shape) != 2:
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: expected '
                             f"ndim=3, found ndim={len(input_shape) + 1}. Full shape received: "
                             f"{(None, *input_shape)}")
        shape = (self.frame_length, 1, self._fft_length // 2 + 1)
        sides = {"real": ("real",), "imag": ("imag",)}.get(self.mode, ("real", "imag"))  # as Keras
        for side in sides:
            init = initializers.STFT(side, self.window, self.scaling, self.periodic)
            setattr(self, f"{side}_kernel", self.add_weight(f"{side}_kernel", shape, init, rng))
        if self.data_format == "channels_last":
            time, channels = input_shape
        else:
            channels, time = input_shape
        bins = (self._fft_length // 2 + 1) * (2 if self.mode == "stft" else 1)
        frames = None if time is None else self._frames(time)
        if self.data_format == "channels_last":
            return (frames, bins, channels) if self.expand_dims else (frames, channels * bins)
        return (channels, frames, bins) if self.expand_dims else (channels * bins, frames)

    def _frames(self, time: int) -> int:
        if self.padding == "valid":
            return (time - self.frame_length) // self._frame_step + 1
        return -(-time // self._frame_step)

    # ------------------------------------------------------------------ forward
    def __call__(self, x, training=None):
        from scratchnet.layers.input_layer import is_symbolic

        if not is_symbolic(x) and np.asarray(x).dtype.kind not in "f":
            raise TypeError("Invalid input type. Expected `float16`, `float32` or `float64`. "
                            f"Received: input type={np.asarray(x).dtype}")
        return super().__call__(x, training=training)

    def forward(self, x, training=False):
        if kernels.is_device_array(x):
            raise ValueError(f'STFTSpectrogram "{self.name}": runs on the "numpy" and "numba" backends; '
                             'the "cupy" backend has no framing kernel for it yet')
        signal = x if self.data_format == "channels_first" else np.swapaxes(x, 1, 2)  # (N, C, T)
        n, channels, time = signal.shape
        frames = self._frames(time)
        if frames < 1:
            raise ValueError(f'STFTSpectrogram "{self.name}": a signal of {time} samples is shorter than '
                             f"one frame of {self.frame_length} (padding='valid')")
        needed = (frames - 1) * self._frame_step + self.frame_length  # samples the frames cover
        pad = max(0, needed - time) if self.padding == "same" else 0
        padded = np.pad(signal.reshape(n * channels, time), [(0, 0), (pad // 2, pad - pad // 2)])
        windows = np.lib.stride_tricks.sliding_window_view(padded, self.frame_length, axis=1)
        self.framed = windows[:, ::self._frame_step][:, :frames]  # (N*C, frames, frame_length)
        self.signal_shape, self.pad = (n, channels, time), pad
        self.re = self.im = None
        if self.mode != "imag":
            self.re = self._spectrum(self.real_kernel.value, n, channels)  # (N, C, frames, F)
        if self.mode != "real":
            self.im = self._spectrum(self.imag_kernel.value, n, channels)
        return self._layout(self._by_mode())

    def _spectrum(self, kernel, n, channels):
        out = self.framed @ kernel[:, 0, :].astype(self.framed.dtype)  # (N*C, frames, F)
        return out.reshape(n, channels, *out.shape[1:])  # (N, C, frames, F)

    def _by_mode(self):
        if self.mode == "real":
            return self.re
        if self.mode == "imag":
            return self.im
        if self.mode == "angle":
            return np.arctan2(self.im, self.re)
        if self.mode == "stft":
            return np.concatenate([self.re, self.im], axis=-1)
        self.power = np.square(self.re) + np.square(self.im)
        eps = self.power.dtype.type(config.epsilon())
        if self.mode == "psd":
            return self.power * self._psd_scale()
        self.magnitude = np.sqrt(np.maximum(self.power, eps))
        if self.mode == "magnitude":
            return self.magnitude
        return np.log(np.maximum(self.magnitude, eps))

    def _psd_scale(self):
        """1 for the first and last bin, 2 for the others (Keras: ``P + pad(P[.., 1:-1, ..])``)."""
        bins = self.power.shape[-1]
        scale = np.ones(bins, self.power.dtype)
        scale[1:bins - 1] = 2
        return scale

    def _layout(self, spec):
        """``(N, C, frames, F)`` to the output layout (see the class docstring)."""
        n, channels, frames, bins = spec.shape
        if self.data_format == "channels_last":
            if self.expand_dims:
                return np.ascontiguousarray(spec.transpose(0, 2, 3, 1))  # (N, frames, F, C)
            return spec.transpose(0, 2, 1, 3).reshape(n, frames, channels * bins)  # (N, frames, C*F)
        if self.expand_dims:
            return spec  # (N, C, frames, F)
        return spec.transpose(0, 1, 3, 2).reshape(n, channels * bins, frames)  # (N, C*F, frames)

    def _unlayout(self, dy, bins):
        """The output layout back to ``(N, C, frames, F)``: :meth:`_layout` undone."""
        n, channels, _ = self.signal_shape
        if self.data_format == "channels_last":
            if self.expand_dims:
                return dy.transpose(0, 3, 1, 2)
            return dy.reshape(n, -1, channels, bins).transpose(0, 2, 1, 3)
        if self.expand_dims:
            return dy
        return dy.reshape(n, channels, bins, -1).transpose(0, 1, 3, 2)

    # ------------------------------------------------------------------ backward
    def backward(self, dy):
        bins = self._fft_length // 2 + 1
        dspec = self._unlayout(dy, 2 * bins if self.mode == "stft" else bins)  # (N, C, frames, F')
        d_re, d_im = self._mode_backward(dspec, bins)
        n, channels, time = self.signal_shape
        dframes = 0
        for side, d in (("real", d_re), ("imag", d_im)):
            if d is None:
                continue
            kernel = self.params[f"{side}_kernel"]
            d = d.reshape(n * channels, -1, bins)  # (N*C, frames, F)
            kernel.grad = np.einsum("btk,btf->kf", self.framed, d)[:, None, :].astype(kernel.value.dtype)
            dframes = dframes + d @ kernel.value[:, 0, :].T  # (N*C, frames, frame_length)
        if not self.compute_input_grad:
            return None
        dpadded = np.zeros((n * channels, time + self.pad), dframes.dtype)
        frames, step = dframes.shape[1], self._frame_step
        for k in range(self.frame_length):  # sample k of every frame goes back where it was cut
            dpadded[:, k:k + (frames - 1) * step + 1:step] += dframes[:, :, k]
        dx = dpadded[:, self.pad // 2:self.pad // 2 + time].reshape(n, channels, time)
        return dx if self.data_format == "channels_first" else np.swapaxes(dx, 1, 2)

    def _mode_backward(self, dspec, bins):
        """``(dRe, dIm)`` from the gradient of the mode's output (None for a side not computed)."""
        if self.mode == "real":
            return dspec, None
        if self.mode == "imag":
            return None, dspec
        if self.mode == "stft":
            return dspec[..., :bins], dspec[..., bins:]
        if self.mode == "angle":  # d atan2(i, r) = (r di - i dr) / (r^2 + i^2)
            norm = np.square(self.re) + np.square(self.im)
            return -dspec * self.im / norm, dspec * self.re / norm
        eps = self.re.dtype.type(config.epsilon())
        if self.mode == "psd":
            dpower = dspec * self._psd_scale()
        else:
            dmag = dspec
            if self.mode == "log":  # log(max(M, eps)): the gradient where M >= eps (TF's maximum)
                dmag = dspec / self.magnitude * (self.magnitude >= eps)
            dpower = dmag * 0.5 / self.magnitude * (self.power >= eps)
        return 2 * self.re * dpower, 2 * self.im * dpower

    def get_config(self):
        window = self.window.tolist() if isinstance(self.window, np.ndarray) else self.window
        return {**super().get_config(), "mode": self.mode, "frame_length": self.frame_length,
                "frame_step": self.frame_step, "fft_length": self.fft_length, "window": window,
                "periodic": self.periodic, "scaling": self.scaling, "padding": self.padding,
                "data_format": self.data_format, "expand_dims": self.expand_dims}


def _positive(value, arg: str, where: str, allow_zero: bool = False) -> None:
    """An integer argument (a bool or a float is refused, naming the argument)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or (value < 1 and not allow_zero):
        raise ValueError(f"{where}: expected {arg} to be a positive integer, received {value!r}")
