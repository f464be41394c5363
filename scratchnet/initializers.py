"""Weight initializers with Keras' names, defaults and fan rules, drawn from a NumPy Generator.

Fans (``keras/src/initializers/random_initializers.py``): for a 2-D shape ``(in, out)``,
``fan_in = in`` and ``fan_out = out``; for a conv kernel ``(kh, kw, in, out)`` the receptive field
``rf = kh * kw`` multiplies both: ``fan_in = in * rf``, ``fan_out = out * rf``.
TensorFlow's random streams cannot be reproduced in NumPy: parity tests copy weights instead.
What each initializer promises is its distribution (its limits, mean and spread) and its config,
which round-trips to Keras.

Names resolve as ``keras.initializers.get`` resolves them: the snake case (``"glorot_uniform"``,
``"truncated_normal"``, ``"variance_scaling"``), the class name (``"TruncatedNormal"``) and Keras'
aliases ``"uniform"``, ``"normal"``, ``"zero"``, ``"one"``.

:func:`serialize` writes Keras' form, ``{"module": "keras.initializers", "class_name":
"GlorotUniform", "config": {...}, "registered_name": None}``, each config as Keras'
``get_config`` writes it (a random initializer's ``seed`` included, though scratchnet draws from
the model's generator and only keeps the seed to write it back). :func:`deserialize` and
:func:`get` read that form, a bare ``{"class_name", "config"}`` dict, a name, and the
``{"name": "glorot_uniform", "config": {...}}`` that scratchnet wrote before it wrote Keras' form
(layer configs in older ``.npz`` files).
"""

from __future__ import annotations

import math

import numpy as np


def compute_fans(shape: tuple[int, ...], input_axes=None, output_axes=None) -> tuple[int, int]:
    """``(fan_in, fan_out)``; with both ``input_axes`` and ``output_axes`` (Keras 3.15), the
    products of the dimensions they name."""
    if input_axes is not None and output_axes is not None:
        return (math.prod(shape[a] for a in input_axes), math.prod(shape[a] for a in output_axes))
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


class Initializer:
    name = "base"

    def __call__(self, shape, dtype, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict) -> Initializer:
        """The initializer ``get_config`` describes (Keras' ``Initializer.from_config``)."""
        return cls(**config)


def _check_seed(seed, where: str):
    """A random initializer's ``seed``: None or an integer (Keras' ``RandomInitializer`` also
    takes a ``keras.random.SeedGenerator``, which scratchnet has not). Kept only for the config:
    the draws come from the model's NumPy generator."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer)):
        raise ValueError(f"{where}: `seed` argument should be an integer or None. Received: seed={seed!r}")
    return None if seed is None else int(seed)


class Zeros(Initializer):
    name = "zeros"

    def __call__(self, shape, dtype, rng):
        return np.zeros(shape, dtype=dtype)


class Ones(Initializer):
    name = "ones"

    def __call__(self, shape, dtype, rng):
        return np.ones(shape, dtype=dtype)


class Constant(Initializer):
    """Every entry ``value``: a number, or an array that broadcasts to the weight's shape (the
    imbalanced-data lesson's ``Constant(np.log([pos / neg]))`` for an output bias), cast to the
    weight's dtype, as ``keras.initializers.Constant``."""

    name = "constant"

    def __init__(self, value=0.0):
        if isinstance(value, dict) and value.get("class_name") == "__numpy__":  # Keras' saved array
            inner = value.get("config") or {}
            value = np.asarray(inner.get("value"), dtype=inner.get("dtype"))
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"Constant: expected value to be a number or an array of numbers, "
                             f"received {value!r:.100}") from None
        if not np.all(np.isfinite(array)):
            raise ValueError(f"Constant: expected a finite value, received {value!r:.100}")
        self.value = array
        self._given = value  # what get_config writes, as Keras keeps its argument

    def __call__(self, shape, dtype, rng):
        try:
            return np.broadcast_to(self.value.astype(dtype), shape).copy()
        except ValueError:
            raise ValueError(f"Constant: a value of shape {self.value.shape} does not broadcast to "
                             f"the weight's shape {tuple(shape)}") from None

    def get_config(self):
        """``{"value": ...}`` as given (a NumPy array in Keras' ``__numpy__`` form), as Keras'
        ``Constant.get_config`` (keras/src/initializers/constant_initializers.py)."""
        from scratchnet.utils.serialization import serialize_keras_object

        return {"value": serialize_keras_object(self._given)}


class RandomUniform(Initializer):
    """``U(minval, maxval)``; Keras' defaults are ``-0.05, 0.05``; ``seed`` is kept for the config
    only, as :class:`RandomNormal`'s."""

    name = "uniform"

    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed=None):
        if not maxval > minval:
            raise ValueError(f"RandomUniform: expected maxval > minval, received {minval}, {maxval}")
        self.minval, self.maxval = float(minval), float(maxval)
        self.seed = _check_seed(seed, "RandomUniform")

    def __call__(self, shape, dtype, rng):
        return rng.uniform(self.minval, self.maxval, size=shape).astype(dtype)

    def get_config(self):
        return {"seed": self.seed, "minval": self.minval, "maxval": self.maxval}


class RandomNormal(Initializer):
    """``N(mean, stddev)``; Keras' defaults are ``0.0, 0.05``. ``seed`` is Keras' argument, kept
    only for the config (Keras writes it): the draws come from the model's NumPy generator."""

    name = "random_normal"

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed=None):
        self.mean, self.stddev = _mean_and_stddev(mean, stddev, type(self).__name__)
        self.seed = _check_seed(seed, type(self).__name__)

    def __call__(self, shape, dtype, rng):
        return rng.normal(self.mean, self.stddev, size=shape).astype(dtype)

    def get_config(self):
        return {"seed": self.seed, "mean": self.mean, "stddev": self.stddev}


class TruncatedNormal(Initializer):
    """``N(mean, stddev)`` with every draw farther than ``2 stddev`` from the mean drawn again, as
    TensorFlow's ``truncated_normal``: the values lie in ``[mean - 2 stddev, mean + 2 stddev]``
    and their standard deviation is ``0.8796 stddev`` (``stddev`` is the untruncated one's).
    Keras' defaults are ``0.0, 0.05``; ``seed`` is kept for the config only, as
    :class:`RandomNormal`'s."""

    name = "truncated_normal"

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed=None):
        self.mean, self.stddev = _mean_and_stddev(mean, stddev, type(self).__name__)
        self.seed = _check_seed(seed, type(self).__name__)

    def __call__(self, shape, dtype, rng):
        return _truncated(shape, self.mean, self.stddev, dtype, rng)

    def get_config(self):
        return {"seed": self.seed, "mean": self.mean, "stddev": self.stddev}


class VarianceScaling(Initializer):
    """Draws scaled to the weight's fans, Keras' general form of Glorot, He and LeCun.

    ``n`` is ``max(1, fan_in)`` (``mode="fan_in"``), ``max(1, fan_out)`` (``"fan_out"``) or
    ``max(1, (fan_in + fan_out) / 2)`` (``"fan_avg"``), with the fans of :func:`compute_fans`
    (or the products of the dimensions ``input_axes`` and ``output_axes`` name, when both are
    given), and ``s = scale / n``:

    - ``distribution="truncated_normal"`` (``"normal"`` means it too): a normal truncated at two
      standard deviations whose stddev after truncation is ``sqrt(s)``, i.e. ``sqrt(s) / .8796``
      before;
    - ``"untruncated_normal"``: ``N(0, sqrt(s))``;
    - ``"uniform"``: ``U(-l, l)`` with ``l = sqrt(3 s)``.

    ``seed`` is kept for the config only, as :class:`RandomNormal`'s.
    """

    name = "variance_scaling"

    def __init__(self, scale: float = 1.0, mode: str = "fan_in",
                 distribution: str = "truncated_normal", seed=None, input_axes=None,
                 output_axes=None):
        if isinstance(scale, bool) or not isinstance(scale, int | float) or not scale > 0 \
                or not math.isfinite(scale):
            raise ValueError(f"VarianceScaling: argument `scale` must be a positive float. "
                             f"Received: scale={scale!r}")
        if mode not in _MODES:
            raise ValueError(f"VarianceScaling: invalid `mode` argument {mode!r}; expected one of "
                             f"{sorted(_MODES)}")
        if not isinstance(distribution, str) or distribution.lower() not in _DISTRIBUTIONS:
            raise ValueError(f"VarianceScaling: invalid `distribution` argument {distribution!r}; "
                             f"expected one of {sorted(_DISTRIBUTIONS)} (or 'normal')")
        distribution = distribution.lower()
        self.scale = float(scale)
        self.mode = mode
        self.distribution = "truncated_normal" if distribution == "normal" else distribution
        self.input_axes = _axes(input_axes, "input_axes")
        self.output_axes = _axes(output_axes, "output_axes")
        self.seed = _check_seed(seed, type(self).__name__)

    def __call__(self, shape, dtype, rng):
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        n = {"fan_in": max(1.0, fan_in), "fan_out": max(1.0, fan_out),
             "fan_avg": max(1.0, (fan_in + fan_out) / 2.0)}[self.mode]
        scale = self.scale / n
        if self.distribution == "truncated_normal":
            return _truncated(shape, 0.0, math.sqrt(scale) / _TRUNCATED_STDDEV, dtype, rng)
        if self.distribution == "untruncated_normal":
            return rng.normal(0.0, math.sqrt(scale), size=shape).astype(dtype)
        limit = math.sqrt(3.0 * scale)
        return rng.uniform(-limit, limit, size=shape).astype(dtype)

    def get_config(self):
        return {"seed": self.seed, "scale": self.scale, "mode": self.mode,
                "distribution": self.distribution, "input_axes": self.input_axes,
                "output_axes": self.output_axes}


_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform", "normal")


def _mean_and_stddev(mean, stddev, where: str) -> tuple[float, float]:
    for arg, value in (("mean", mean), ("stddev", stddev)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"{where}: expected {arg} to be a finite number, received {value!r}")
    if stddev < 0:
        raise ValueError(f"{where}: expected stddev >= 0, received stddev={stddev!r}")
    return float(mean), float(stddev)


def _axes(axes, arg: str) -> list[int] | None:
    """Keras 3.15's ``input_axes``/``output_axes``: None, or a list of axis numbers."""
    if axes is None:
        return None
    if not isinstance(axes, list | tuple) or not all(
            isinstance(a, int) and not isinstance(a, bool) for a in axes):
        raise ValueError(f"VarianceScaling: expected {arg} to be None or a list of integers, "
                         f"received {axes!r}")
    return list(axes)


class _Seeded(Initializer):
    """Keras' fan-scaled classes take ``seed`` and Keras 3.15's ``input_axes``/``output_axes``
    (the fans are the products of the dimensions they name, when both are given, as
    :func:`compute_fans`); scratchnet draws from the model's NumPy generator, so a seed is
    accepted and kept for the config only, as :class:`RandomNormal`'s."""

    def __init__(self, seed=None, input_axes=None, output_axes=None):
        self.seed = _check_seed(seed, type(self).__name__)
        self.input_axes = _axes(input_axes, "input_axes")
        self.output_axes = _axes(output_axes, "output_axes")

    def fans(self, shape) -> tuple[int, int]:
        return compute_fans(shape, self.input_axes, self.output_axes)

    def get_config(self):
        """Keras' ``GlorotUniform.get_config`` (and its siblings'): seed and fan axes."""
        return {"seed": self.seed, "input_axes": self.input_axes, "output_axes": self.output_axes}


class GlorotUniform(_Seeded):
    """``U(-l, l)`` with ``l = sqrt(6 / (fan_in + fan_out))``."""

    name = "glorot_uniform"

    def __call__(self, shape, dtype, rng):
        fan_in, fan_out = self.fans(shape)
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, size=shape).astype(dtype)


class GlorotNormal(_Seeded):
    """Truncated normal (cut at 2 stddev) with ``stddev = sqrt(2 / (fan_in + fan_out)) / .8796``."""

    name = "glorot_normal"

    def __call__(self, shape, dtype, rng):
        fan_in, fan_out = self.fans(shape)
        return _truncated_normal(shape, math.sqrt(2.0 / (fan_in + fan_out)), dtype, rng)


class HeNormal(_Seeded):
    """Truncated normal (cut at 2 stddev) with ``stddev = sqrt(2 / fan_in) / .8796``."""

    name = "he_normal"

    def __call__(self, shape, dtype, rng):
        fan_in, _ = self.fans(shape)
        return _truncated_normal(shape, math.sqrt(2.0 / fan_in), dtype, rng)


class HeUniform(_Seeded):
    """``U(-l, l)`` with ``l = sqrt(6 / fan_in)``."""

    name = "he_uniform"

    def __call__(self, shape, dtype, rng):
        fan_in, _ = self.fans(shape)
        limit = math.sqrt(6.0 / fan_in)
        return rng.uniform(-limit, limit, size=shape).astype(dtype)


class Orthogonal(Initializer):
    """A matrix with orthonormal rows or columns (Keras' default ``recurrent_initializer``): the QR
    decomposition of a standard normal matrix, its ``Q`` with the signs of ``R``'s diagonal (so
    every orthogonal matrix is as likely), times ``gain``. A shape of more than two axes is
    flattened to ``(prod(shape[:-1]), shape[-1])`` first, as Keras does."""

    name = "orthogonal"

    def __init__(self, gain: float = 1.0, seed=None):
        self.gain = float(gain)
        self.seed = _check_seed(seed, "Orthogonal")

    def __call__(self, shape, dtype, rng):
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = rng.standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))  # make Q unique: R's diagonal positive
        if rows < cols:
            q = q.T
        return (self.gain * q[:rows, :cols]).reshape(shape).astype(dtype)

    def get_config(self) -> dict:
        return {"seed": self.seed, "gain": self.gain}


class LecunNormal(VarianceScaling):
    """``VarianceScaling(scale=1, mode="fan_in", distribution="truncated_normal")``: a normal cut at
    2 stddev with ``stddev = sqrt(1 / fan_in) / .8796`` (SELU networks' initializer)."""

    name = "lecun_normal"

    def __init__(self, seed=None, input_axes=None, output_axes=None):
        super().__init__(1.0, "fan_in", "truncated_normal", seed, input_axes, output_axes)

    def get_config(self):
        return {"seed": self.seed, "input_axes": self.input_axes, "output_axes": self.output_axes}


class LecunUniform(VarianceScaling):
    """``VarianceScaling(scale=1, mode="fan_in", distribution="uniform")``: ``U(-l, l)`` with
    ``l = sqrt(3 / fan_in)``."""

    name = "lecun_uniform"

    def __init__(self, seed=None, input_axes=None, output_axes=None):
        super().__init__(1.0, "fan_in", "uniform", seed, input_axes, output_axes)

    def get_config(self):
        return {"seed": self.seed, "input_axes": self.input_axes, "output_axes": self.output_axes}


class Identity(Initializer):
    """``gain * eye(rows, cols)`` for a 2-D shape (Keras refuses any other rank). As in Keras, the
    config is empty: ``gain`` is not saved (a Keras file of ``Identity(2.0)`` reads back gain 1)."""

    name = "identity"

    def __init__(self, gain: float = 1.0):
        self.gain = gain

    def __call__(self, shape, dtype, rng):
        if len(shape) != 2:
            raise ValueError("Identity matrix initializer can only be used for 2D matrices. "
                             f"Received: shape={tuple(shape)} of rank {len(shape)}.")
        return (self.gain * np.eye(*shape)).astype(dtype)


class STFT(Initializer):
    """The kernels of a short-time Fourier transform computed as a convolution
    (``keras.initializers.STFT``, also ``STFTInitializer`` and ``stft``), for ``STFTSpectrogram``.

    For a shape ``(T, 1, F)`` (``T`` the frame length, ``F = fft_length // 2 + 1`` bins)::

        arg[t, f]    = -2 * t * (f / (2 (F - 1))) * pi
        real[t, f]   = cos(arg[t, f]) * w[t] / s           (side="real")
        imag[t, f]   = sin(arg[t, f]) * w[t] / s           (side="imag")

    ``w`` the window (``scipy.signal.get_window(window, T, fftbins=periodic)``, an array of ``T``
    values, or None for none), ``s`` its scaling: ``sqrt(sum w^2)`` ("density"), ``sum |w|``
    ("spectrum") or 1 (None, or no window). Every step in ``dtype``, in Keras' order, so float32
    kernels carry Keras' rounding of the large arguments.
    """

    name = "stft"

    def __init__(self, side: str = "real", window="hann", scaling="density", periodic: bool = False):
        if side not in ("real", "imag"):
            raise ValueError(f"side should be 'real' or 'imag', not {side}")
        if isinstance(window, str):
            _scipy_window(window, 1, False)  # an unknown name raises here, as in Keras
        if scaling is not None and scaling not in ("density", "spectrum"):
            raise ValueError("Scaling is invalid, it must be `None`, 'density' or 'spectrum'. "
                             f"Received scaling={scaling}")
        self.side, self.window, self.scaling, self.periodic = side, window, scaling, periodic

    def __call__(self, shape, dtype=None, rng=None):
        from scratchnet import config

        dtype = dtype or config.floatx()  # (Keras' default; no random draw, so no rng needed)
        if len(shape) != 3:
            raise ValueError(f"STFT initializer: expected a shape (frame_length, 1, fft_bins), "
                             f"received shape={tuple(shape)}")
        frame_length, _, bins = shape
        dt = np.dtype(dtype).type
        win, scale = None, dt(1)
        if self.window is not None:
            win = self.window
            if isinstance(win, str):
                win = _scipy_window(win, frame_length, self.periodic)
            win = np.asarray(win, dtype=dt)
            if win.ndim != 1 or win.shape[-1] != frame_length:
                raise ValueError("The shape of `window` must be equal to [frame_length]."
                                 f"Received: window shape={win.shape}")
            win = win.reshape(frame_length, 1, 1)
            if self.scaling == "density":
                scale = np.sqrt(np.sum(np.square(win)))
            elif self.scaling == "spectrum":
                scale = np.sum(np.abs(win))
        freq = np.arange(bins, dtype=dt).reshape(1, 1, bins) / dt((bins - 1) * 2)  # (1, 1, F)
        time = np.arange(frame_length, dtype=dt).reshape(frame_length, 1, 1)  # (T, 1, 1)
        args = (dt(-2) * time) * freq * dt(np.pi)  # (T, 1, F)
        kernel = np.cos(args) if self.side == "real" else np.sin(args)
        if win is not None:
            kernel = kernel * win / scale
        return kernel.astype(dt)

    def get_config(self):
        window = self.window.tolist() if isinstance(self.window, np.ndarray) else self.window
        return {"side": self.side, "window": window, "periodic": self.periodic, "scaling": self.scaling}


def _scipy_window(name: str, length: int, periodic: bool) -> np.ndarray:
    """``scipy.signal.get_window(name, length, fftbins=periodic)`` (float64), Keras' source of
    window names ("hann", "hamming", "blackman", "bartlett", ...)."""
    import scipy.signal

    return scipy.signal.get_window(name, length, periodic)


# Keras' VarianceScaling divides by the stddev of a standard normal truncated to [-2, 2].
_TRUNCATED_STDDEV = 0.87962566103423978


def _truncated_normal(shape, target_stddev, dtype, rng):
    """A normal cut at 2 stddev whose stddev after the cut is ``target_stddev``."""
    return _truncated(shape, 0.0, target_stddev / _TRUNCATED_STDDEV, dtype, rng)


def _truncated(shape, mean, stddev, dtype, rng):
    """``N(mean, stddev)`` with draws beyond ``2 stddev`` from the mean drawn again."""
    values = rng.normal(mean, stddev, size=shape)
    outside = np.abs(values - mean) > 2 * stddev
    while np.any(outside):  # redraw the tails, as a truncated normal does
        values[outside] = rng.normal(mean, stddev, size=int(outside.sum()))
        outside = np.abs(values - mean) > 2 * stddev
    return values.astype(dtype)


_CLASSES = (Zeros, Ones, Constant, RandomUniform, RandomNormal, TruncatedNormal, VarianceScaling,
            GlorotUniform, GlorotNormal, HeNormal, HeUniform, Orthogonal, LecunNormal, LecunUniform,
            Identity, STFT)
# keras.initializers.get's names (case-sensitive): each class's name, its snake case, and aliases.
_REGISTRY: dict[str, type[Initializer]] = {cls.name: cls for cls in _CLASSES}
_REGISTRY.update({cls.__name__: cls for cls in _CLASSES})
_REGISTRY.update({"random_uniform": RandomUniform, "normal": RandomNormal, "zero": Zeros, "one": Ones,
                  "STFTInitializer": STFT, "IdentityInitializer": Identity,
                  "OrthogonalInitializer": Orthogonal})


# Keras' other names for the same classes: keras.initializers.glorot_uniform is GlorotUniform.
IdentityInitializer = Identity
STFTInitializer = stft = STFT
OrthogonalInitializer = Orthogonal
constant, ones, zeros, identity, orthogonal = Constant, Ones, Zeros, Identity, Orthogonal
random_normal, random_uniform, truncated_normal = RandomNormal, RandomUniform, TruncatedNormal
variance_scaling, lecun_normal, lecun_uniform = VarianceScaling, LecunNormal, LecunUniform
glorot_normal, glorot_uniform, he_normal, he_uniform = GlorotNormal, GlorotUniform, HeNormal, HeUniform


def get(identifier, where: str = "initializer") -> Initializer | None:
    """``keras.initializers.get``: an :class:`Initializer` (returned as is), an Initializer class
    (built with its defaults), a name (case-sensitive, as Keras' table), or a serialized dict in
    any form :func:`deserialize` reads; None gives None, as Keras' ``get`` does
    (keras/src/initializers/__init__.py). ``where`` names the argument in errors."""
    if identifier is None:
        return None
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Initializer):  # Keras builds a class
        return identifier()
    if isinstance(identifier, str) and identifier in _REGISTRY:
        return _REGISTRY[identifier]()
    if isinstance(identifier, dict):
        return deserialize(identifier, where=where)
    if isinstance(identifier, str):
        raise ValueError(f"{where}: unknown initializer {identifier!r}; expected one of {sorted(_REGISTRY)}")
    raise ValueError(f"{where}: could not interpret initializer identifier {identifier!r:.200}; "
                     f"expected an Initializer, one of {sorted(_REGISTRY)} or a serialized "
                     "initializer dict")


def serialize(initializer) -> dict | str | None:
    """``keras.initializers.serialize``: Keras' serialized form (``serialize_keras_object`` in
    keras/src/saving/serialization_lib.py). A built-in initializer is written under its public
    Keras module with no registered name; one of the user's under its own module and its
    registered name (``"package>Name"``, or the class name if it was not registered). A name
    (a string) or None is written as it is."""
    from scratchnet.utils import serialization

    if initializer is None or isinstance(initializer, str):
        return initializer
    if not isinstance(initializer, Initializer):
        raise ValueError(f"initializers.serialize: expected a scratchnet.initializers.Initializer, "
                         f"received {initializer!r:.200}")
    config = serialization.serialize_keras_object(initializer.get_config())
    return serialization.builtin_or_user_spec(initializer, config, _CLASSES, "keras.initializers")


def deserialize(config, custom_objects: dict | None = None, where: str = "initializers.deserialize"
                ) -> Initializer:
    """``keras.initializers.deserialize``: the initializer a serialized dict describes. Reads
    Keras' form (``{"module", "class_name", "config", "registered_name"}``), a bare
    ``{"class_name", "config"}``, a name, and scratchnet's earlier ``{"name", "config"}`` (which
    older ``.npz`` files hold). The class is found in Keras' table of names, then among the
    registered objects and ``custom_objects`` (``register_keras_serializable``)."""
    from scratchnet.utils import serialization

    if isinstance(config, str):
        config = {"class_name": config, "config": {}}
    if not isinstance(config, dict) or not isinstance(config.get("class_name", config.get("name")), str):
        raise ValueError(f"{where}: could not interpret initializer config {config!r:.200}; expected "
                         "a name or a dict with 'class_name' and 'config'")
    if "class_name" in config:
        class_name = config["class_name"]
        registered = config.get("registered_name") or class_name
        cls = _REGISTRY.get(class_name) if registered == class_name else None
        if cls is None:
            cls = serialization.get_registered_object(registered, custom_objects)
    else:  # scratchnet's form before it wrote Keras' (its "name" a key of _REGISTRY)
        class_name = config["name"]
        cls = _REGISTRY.get(class_name)
    if not (isinstance(cls, type) and issubclass(cls, Initializer)):
        raise ValueError(f"{where}: unknown initializer {class_name!r}; expected one of "
                         f"{sorted(_REGISTRY)} or a class registered with register_keras_serializable "
                         "(or passed in custom_objects)")
    try:
        return cls.from_config(dict(config.get("config") or {}))
    except TypeError as err:
        raise ValueError(f"{where}: initializer {class_name} cannot be built from config "
                         f"{config.get('config')!r:.200}: {err}") from None
