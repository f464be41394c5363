"""Keras 3.15's colour augmentation layers: RandomGrayscale, RandomHue, RandomSaturation,
RandomColorDegeneration, RandomColorJitter, RandomInvert, Solarization, AutoContrast,
RandomPosterization, RandomSharpness.

Each splits as the layers of :mod:`scratchnet.layers.augmentation` do:
``get_random_transformation(images)`` draws one value per image from the layer's seeded Generator
into Keras' keys, ``transform_images(images, transformation)`` applies it. They are active in
training only and return the input unchanged at inference, except AutoContrast, which has nothing
random and, as in Keras, stretches the contrast in both modes.

Colours are Keras' (TensorFlow's) formulas: grey ``0.2989 r + 0.5870 g + 0.1140 b``, and
TensorFlow's RGB <-> HSV conversion (:func:`rgb_to_hsv`, :func:`hsv_to_rgb`). Data is
channels-last ``(N, H, W, C)``; the layers that convert colours need ``C == 3``.

Backward: the layers whose Keras transform has a TensorFlow gradient (grey, degeneration, invert,
solarization, sharpness, the brightness and contrast parts of a jitter) pass ``dy`` back through
the same formula. RandomHue, RandomSaturation, RandomPosterization and AutoContrast have no
backward: TensorFlow has no gradient for RGB <-> HSV or the cast to uint8 (Keras gives ``None``);
they belong in front of the first layer with weights, where no gradient is needed (a model never
asks for one there), and asking for one behind a trainable layer raises an error that says so.
"""

from __future__ import annotations

import numpy as np

from scratchnet import kernels
from scratchnet.layers import augmentation as aug
from scratchnet.layers.augmentation import _as_given, _base_factor, _is_number, _RandomImageLayer

GRAY_WEIGHTS = np.array([0.2989, 0.5870, 0.1140], dtype=np.float32)  # tf.image.rgb_to_grayscale
KERAS_EPSILON = np.float32(1e-7)  # keras.config.epsilon()


# ------------------------------------------------------------------ colour formulas (TensorFlow's)
def rgb_to_grayscale(images: np.ndarray) -> np.ndarray:
    """``(N, H, W, 3) -> (N, H, W, 1)``: ``0.2989 r + 0.5870 g + 0.1140 b``; one channel stays."""
    if images.shape[-1] == 1:
        return images
    return (images @ GRAY_WEIGHTS.astype(images.dtype))[..., None]


def rgb_to_hsv(images: np.ndarray) -> np.ndarray:
    """TensorFlow's ``rgb_to_hsv`` (its kernel, step by step), for any value scale::

        V = max(r, g, b),  range = V - min(r, g, b),  S = range / V (0 where V == 0)
        H = (g - b) / (6 range)          where r == V
            (b - r) / (6 range) + 2/6    where g == V (and r != V)
            (r - g) / (6 range) + 4/6    otherwise;   H = 0 where range == 0;  H += 1 where H < 0
    """
    r, g, b = images[..., 0], images[..., 1], images[..., 2]
    v = images.max(axis=-1)
    rng = v - images.min(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(v > 0, rng / v, 0).astype(images.dtype)
        norm = (1 / rng) * images.dtype.type(1 / 6)
        h = np.where(r == v, norm * (g - b),
                     np.where(g == v, norm * (b - r) + images.dtype.type(2 / 6),
                              norm * (r - g) + images.dtype.type(4 / 6)))
    h = np.where(rng > 0, h, 0)
    h = np.where(h < 0, h + 1, h).astype(images.dtype)
    return np.stack([h, s, v], axis=-1)


def hsv_to_rgb(images: np.ndarray) -> np.ndarray:
    """TensorFlow's ``hsv_to_rgb``: with ``d = 6 H``,
    ``r = ((1 - S) + S clip(|d - 3| - 1, 0, 1)) V``, ``g = (... clip(2 - |d - 2|, 0, 1)) V``,
    ``b = (... clip(2 - |d - 4|, 0, 1)) V``."""
    h, s, v = images[..., 0], images[..., 1], images[..., 2]
    d = h * h.dtype.type(6)
    dr = np.clip(np.abs(d - 3) - 1, 0, 1)
    dg = np.clip(2 - np.abs(d - 2), 0, 1)
    db = np.clip(2 - np.abs(d - 4), 0, 1)
    one_s = 1 - s
    return np.stack([(one_s + s * dr) * v, (one_s + s * dg) * v, (one_s + s * db) * v],
                    axis=-1).astype(images.dtype, copy=False)


def transform_value_range(images: np.ndarray, original, target) -> np.ndarray:
    """Keras' ``_transform_value_range``: ``(x - lo) / (hi - lo) · (hi' - lo') + lo'`` in the float type;
    the images as they are when the two ranges are equal."""
    if original[0] == target[0] and original[1] == target[1]:
        return images
    t = _float_dtype(images).type  # Keras' compute dtype: float32 (float64 under floatx float64)
    x = (images.astype(t) - t(original[0])) / (t(original[1]) - t(original[0]))
    return x * (t(target[1]) - t(target[0])) + t(target[0])


def _float_dtype(images: np.ndarray) -> np.dtype:
    return images.dtype if np.issubdtype(images.dtype, np.floating) else np.dtype(np.float32)


def _depthwise_3x3_same(images: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """A 3x3 depthwise convolution with zero 'same' padding, one kernel for every channel."""
    n, h, w, c = images.shape
    padded = np.zeros((n, h + 2, w + 2, c), dtype=images.dtype)
    padded[:, 1:-1, 1:-1, :] = images
    out = np.zeros_like(images)
    for i in range(3):
        for j in range(3):
            out += kernel[i, j] * padded[:, i:i + h, j:j + w, :]
    return out


def _no_gradient(layer, why: str):
    """None where the model needs no input gradient of the layer (it is in front of the first
    layer with weights); an error that says so anywhere else."""
    if not layer.compute_input_grad:
        return None
    raise NotImplementedError(
        f"{layer.where}: no gradient through this layer ({why}). Put it in front of the first "
        f"layer with weights, where no gradient is needed.")


# ------------------------------------------------------------------ argument checks
def _sorted_value_range(value_range, where: str) -> list:
    aug._check_value_range(value_range, where)
    return sorted(value_range)


def _check_channels(layer, input_shape, allowed=(3,)) -> None:
    if input_shape[-1] not in allowed:
        expected = " or ".join(str(c) for c in allowed)
        raise ValueError(f"{layer.where}: expected images with {expected} channels (RGB), "
                         f"received input shape {(None, *input_shape)}")


class _ColorLayer(_RandomImageLayer):
    """A colour layer: checks the channel count when built, and keeps ``seed`` in its config."""

    channels = (3,)

    def build(self, input_shape, rng):
        out = super().build(input_shape, rng)
        _check_channels(self, input_shape, self.channels)
        return out


# ------------------------------------------------------------------ the layers
class RandomGrayscale(_ColorLayer):
    """Turn each image grey with probability ``factor``, as ``keras.layers.RandomGrayscale``.

    One draw per image, ``apply = u < factor`` with ``u ~ U[0, 1)`` (Keras' transformation is
    that ``(N, 1, 1, 1)`` boolean array itself, not a dict). Where it applies, every channel
    becomes ``0.2989 r + 0.5870 g + 0.1140 b`` (the channel count stays); one-channel images stay
    as they are. ``factor`` in ``[0, 1]`` (default 0.5). Keras' config has no ``seed``.

    Backward: ``dx_c = w_c · Σ_c' dy_c'`` where it applied, ``dy`` elsewhere.
    """

    channels = (1, 3)

    def __init__(self, factor=0.5, data_format: str | None = None, seed: int | None = None,
                 name: str | None = None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, name=name, **kwargs)
        if not _is_number(factor) or not 0 <= factor <= 1:
            raise ValueError(f"{self.where}: expected factor to be a number in [0, 1], "
                             f"received {factor!r}")
        self.factor = factor

    def get_random_transformation(self, images, training=True):
        u = self.rng.random(len(images)).astype(np.float32)
        return (u < self.factor).reshape(-1, 1, 1, 1)  # (N, 1, 1, 1) bool

    def transform_images(self, images, transformation, training=True):
        self.transformation = transformation if training else None
        if self.transformation is None:
            return images
        apply = np.asarray(transformation, dtype=bool)
        return np.where(apply, rgb_to_grayscale(images), images)

    def backward_images(self, dy):
        if dy.shape[-1] == 1:
            return dy
        apply = np.asarray(self.transformation, dtype=bool)
        grey = dy.sum(axis=-1, keepdims=True) * GRAY_WEIGHTS.astype(dy.dtype)
        return np.where(apply, grey, dy)

    def get_config(self):
        config = {**super().get_config(), "factor": self.factor}
        del config["seed"]  # Keras' RandomGrayscale keeps no seed in its config
        return config


class RandomHue(_ColorLayer):
    """Turn each image's hue by a random amount, as ``keras.layers.RandomHue``.

    ``factor`` in ``[0, 1]``: a number ``f`` means ``(0, f)``, a pair is used as given (sorted).
    Each image draws a sign (``-1`` where ``u > 0.5``, ``u ~ U[0, 1)``) and ``g ~ U[lower, upper)``;
    Keras' transformation is ``{"factor": sign · g · 0.5}``, shape ``(N,)``, so the hue turns by
    at most half a circle. Then, with ``value_range`` (default ``(0, 255)``, as given)::

        x01 = (x - lo) / (hi - lo);  (H, S, V) = rgb_to_hsv(x01);  H = H + factor
        H = H - 1 where H > 1;  H = H + 1 where H < 0
        y = clip(hsv_to_rgb(H, S, V), 0, 1) · (hi - lo) + lo

    No backward (TensorFlow has no gradient for RGB <-> HSV).
    """

    def __init__(self, factor, value_range=(0, 255), data_format: str | None = None,
                 seed: int | None = None, name: str | None = None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, name=name, **kwargs)
        self.factor = _base_factor(factor, (0, 1), "factor", self.where)
        aug._check_value_range(value_range, self.where)
        self.value_range = _as_given(value_range)

    def get_random_transformation(self, images, training=True):
        n = len(images)
        u = self.rng.random(n).astype(np.float32)
        sign = np.where(u > 0.5, -1.0, 1.0).astype(np.float32)
        g = self.rng.uniform(self.factor[0], self.factor[1], n).astype(np.float32)
        return {"factor": sign * g * np.float32(0.5)}  # (N,)

    def transform_images(self, images, transformation, training=True):
        self.transformation = transformation if training else None
        if self.transformation is None:
            return images
        dtype = _float_dtype(images)
        x = transform_value_range(images.astype(dtype), self.value_range, (0, 1))
        delta = np.asarray(transformation["factor"]).astype(x.dtype)[:, None, None]
        hsv = rgb_to_hsv(x)
        h = hsv[..., 0] + delta
        h = np.where(h > 1, h - 1, h)
        h = np.where(h < 0, h + 1, h)
        rgb = np.clip(hsv_to_rgb(np.stack([h, hsv[..., 1], hsv[..., 2]], axis=-1)), 0, 1)
        return transform_value_range(rgb, (0, 1), self.value_range).astype(dtype, copy=False)

    def backward_images(self, dy):
        return _no_gradient(self, "TensorFlow has no gradient for RGB <-> HSV: Keras' is None")

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}


class RandomSaturation(_ColorLayer):
    """Scale each image's saturation, as ``keras.layers.RandomSaturation``.

    ``factor``: Keras keeps the base bounds ``[-1, 1]`` here, so a number ``f`` means
    ``(-|f|, |f|)`` (a negative draw turns the image grey) and a pair is used as given (sorted).
    Each image draws ``g ~ U[lower, upper)`` and Keras' transformation is
    ``{"factor": g / (1 - g + 1e-7)}``, shape ``(N,)`` (``g = 0.5`` keeps the image). Then, on the
    images as they are (no change of value range)::

        (H, S, V) = rgb_to_hsv(x);   S = clip(S · factor, value_range[0], value_range[1])
        y = hsv_to_rgb(H, S, V)

    As in Keras 3.15.1, ``S`` is clipped to ``value_range`` (sorted, default ``(0, 255)``), not to
    ``[0, 1]``, and the output is not clipped: with the default range a factor above 1 can take
    ``S`` above 1 and colours below 0. No backward (TensorFlow has no gradient for RGB <-> HSV).
    """

    def __init__(self, factor, value_range=(0, 255), data_format: str | None = None,
                 seed: int | None = None, name: str | None = None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, name=name, **kwargs)
        self.factor = _base_factor(factor, (-1, 1), "factor", self.where)
        self.value_range = _sorted_value_range(value_range, self.where)

    def get_random_transformation(self, images, training=True):
        g = self.rng.uniform(self.factor[0], self.factor[1], len(images)).astype(np.float32)
        return {"factor": g / (1 - g + KERAS_EPSILON)}  # (N,)

    def transform_images(self, images, transformation, training=True):
        self.transformation = transformation if training else None
        if self.transformation is None:
            return images
        f = np.asarray(transformation["factor"]).astype(images.dtype)[:, None, None]
        hsv = rgb_to_hsv(images)
        s = np.clip(hsv[..., 1] * f, self.value_range[0], self.value_range[1])
        return hsv_to_rgb(np.stack([hsv[..., 0], s, hsv[..., 2]], axis=-1))

    def backward_images(self, dy):
        return _no_gradient(self, "TensorFlow has no gradient for RGB <-> HSV: Keras' is None")

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}


class RandomColorDegeneration(_ColorLayer):
    """Blend each image towards its grey version, as ``keras.layers.RandomColorDegeneration``::

        y = clip(x + f · (grey(x) - x), value_range[0], value_range[1])

    with one ``f ~ U[lower, upper)`` per image (Keras' transformation ``{"factor": (N, 1, 1, 1)}``).
    ``factor``: Keras keeps the base bounds ``[-1, 1]``: a number ``f`` means ``(-|f|, |f|)`` (a
    negative draw moves away from grey, more colour), a pair is used as given (sorted).
    ``value_range`` sorted, default ``(0, 255)``.

    Backward, with ``g = dy · [lo <= z <= hi]``: ``dx_c = (1 - f) g_c + w_c · Σ_c' f g_c'``.
    """

    def __init__(self, factor, value_range=(0, 255), data_format: str | None = None,
                 seed: int | None = None, name: str | None = None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, name=name, **kwargs)
        self.factor = _base_factor(factor, (-1, 1), "factor", self.where)
        self.value_range = _sorted_value_range(value_range, self.where)
        self.passed: np.ndarray | None = None

    def get_random_transformation(self, images, training=True):
        f = self.rng.uniform(self.factor[0], self.factor[1], (len(images), 1, 1, 1))
        return {"factor": f.astype(np.float32)}

    def transform_images(self, images, transformation, training=True):
        self.transformation = transformation if training else None
        if self.transformation is None:
            return images
        f = np.asarray(transformation["factor"]).astype(images.dtype)
        z = images + f * (rgb_to_grayscale(images) - images)
        lo, hi = self.value_range
        self.passed = (z >= lo) & (z <= hi)
        return np.clip(z, lo, hi).astype(images.dtype, copy=False)

    def backward_images(self, dy):
        f = np.asarray(self.transformation["factor"]).astype(dy.dtype)
        g = dy * self.passed
        return (1 - f) * g + (f * g).sum(axis=-1, keepdims=True) * GRAY_WEIGHTS.astype(dy.dtype)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}


class RandomColorJitter(_ColorLayer):
    """Brightness, contrast, saturation and hue in that order, as ``keras.layers.RandomColorJitter``.

    Each ``*_factor`` that is not ``None`` adds that step: Keras' ``RandomBrightness``,
    ``RandomContrast``, ``RandomSaturation`` and ``RandomHue`` with the factor and this layer's
    ``value_range`` (default ``(0, 255)``), one draw per image each. The transformation is a dict
    of the steps' own draws: ``{"brightness": {"rgb_delta"}, "contrast": {"contrast_factor"},
    "saturation": {"factor"}, "hue": {"factor"}}`` (Keras' own layer draws them inside
    ``transform_images``; the steps are the same). Backward: through brightness and contrast; none
    with saturation or hue (see :class:`RandomHue`).
    """

    def __init__(self, value_range=(0, 255), brightness_factor=None, contrast_factor=None,
                 saturation_factor=None, hue_factor=None, seed: int | None = None,
                 data_format: str | None = None, name: str | None = None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, name=name, **kwargs)
        aug._check_value_range(value_range, self.where)
        self.value_range = _as_given(value_range)
        self.brightness_factor = _as_given(brightness_factor)
        self.contrast_factor = _as_given(contrast_factor)
        self.saturation_factor = _as_given(saturation_factor)
        self.hue_factor = _as_given(hue_factor)
        common = dict(value_range=value_range, seed=seed, name=f"{self.name}_")
        self.steps = {}
        if brightness_factor is not None:
            self.steps["brightness"] = aug.RandomBrightness(
                brightness_factor, **{**common, "name": common["name"] + "brightness"})
        if contrast_factor is not None:
            self.steps["contrast"] = aug.RandomContrast(
                contrast_factor, **{**common, "name": common["name"] + "contrast"})
        if saturation_factor is not None:
            self.steps["saturation"] = RandomSaturation(
                saturation_factor, **{**common, "name": common["name"] + "saturation"})
        if hue_factor is not None:
            self.steps["hue"] = RandomHue(hue_factor, **{**common, "name": common["name"] + "hue"})
        self.channels = (3,) if ("saturation" in self.steps or "hue" in self.steps) else (1, 3)

    def build(self, input_shape, rng):
        out = super().build(input_shape, rng)
        for step in self.steps.values():
            step.ensure_built(input_shape, self.rng)
            step.rng = self.rng  # one stream for every step, as Keras' single seed generator
        return out

    def get_random_transformation(self, images, training=True):
        return {key: step.get_random_transformation(images) for key, step in self.steps.items()}

    def transform_images(self, images, transformation, training=True):
        self.transformation = transformation if training else None
        if self.transformation is None:
            return images
        x = images
        for key, step in self.steps.items():
            x = step.transform_images(x, transformation[key])
        return x

    def backward_images(self, dy):
        if not self.compute_input_grad:
            return None
        for step in reversed(list(self.steps.values())):
            dy = step.backward_images(dy)
        return dy

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range,
                "brightness_factor": self.brightness_factor,
                "contrast_factor": self.contrast_factor,
                "saturation_factor": self.saturation_factor, "hue_factor": self.hue_factor}


class RandomInvert(_RandomImageLayer):
    """Invert each image with a random probability, as ``keras.layers.RandomInvert``.

    ``factor`` in ``[0, 1]`` (default 1.0): a number ``f`` means ``(0, f)``. Each image draws
    ``p ~ U[lower, upper)`` then ``t ~ U[0, 1)`` (all ``p`` first) and is inverted where ``t < p``
    (Keras' transformation ``{"apply_inversion": (N,) bool}``): ``y = value_range[1] - x``.
    ``value_range`` as given, default ``(0, 255)``; only its second value is used, and nothing is
    clipped. Backward: ``-dy`` where inverted, ``dy`` elsewhere.
    """

    def __init__(self, factor=1.0, value_range=(0, 255), seed: int | None = None,
                 data_format: str | None = None, name: str | None = None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, name=name, **kwargs)
        self.factor = _base_factor(factor, (0, 1), "factor", self.where)
        aug._check_value_range(value_range, self.where)
        self.value_range = _as_given(value_range)

    def get_random_transformation(self, images, training=True):
        n = len(images)
        p = self.rng.uniform(self.factor[0], self.factor[1], n).astype(np.float32)
        t = self.rng.random(n).astype(np.float32)
        return {"apply_inversion": t < p}

    def transform_images(self, images, transformation, training=True):
        self.transformation = transformation if training else None
        if self.transformation is None:
            return images
        apply = np.asarray(transformation["apply_inversion"], dtype=bool)[:, None, None, None]
        return np.where(apply, images.dtype.type(self.value_range[1]) - images, images)

    def backward_images(self, dy):
        apply = np.asarray(self.transformation["apply_inversion"], dtype=bool)[:, None, None, None]
        return np.where(apply, -dy, dy)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}


class Solarization(_RandomImageLayer):
    """Add to and then invert the bright pixels, as ``keras.layers.Solarization``.

    ``addition_factor`` and ``threshold_factor`` in ``[0, 1]`` (default 0.0): a number ``f`` means
    ``(0, f)``, a pair is used as given (sorted). Each image draws (Keras' transformation, both
    ``(N, 1, 1, 1)``) ``additions ~ U[a_lower, 255 a_upper)`` and then
    ``thresholds ~ U[t_lower, 255 t_upper)``: Keras scales only the upper bound by 255. Then, in
    the 0..255 scale (``value_range``, sorted, default ``(0, 255)``)::

        x255 = (x - lo) / (hi - lo) · 255;   r = clip(x255 + additions, 0, 255)
        r = r where r < thresholds, else 255 - r;   y = r / 255 · (hi - lo) + lo

    With the default threshold 0 every pixel is inverted. Backward: ``dy`` through the same steps
    (0 where the clip cut, negated where inverted).
    """

    def __init__(self, addition_factor=0.0, threshold_factor=0.0, value_range=(0, 255),
                 seed: int | None = None, data_format: str | None = None, name: str | None = None,
                 **kwargs):
        super().__init__(seed=seed, data_format=data_format, name=name, **kwargs)
        self.addition_factor = _unit_factor(addition_factor, "addition_factor", self.where)
        self.threshold_factor = _unit_factor(threshold_factor, "threshold_factor", self.where)
        self.value_range = _sorted_value_range(value_range, self.where)
        self.slope: np.ndarray | None = None

    def get_random_transformation(self, images, training=True):
        shape = (len(images), 1, 1, 1)
        (a_lo, a_hi), (t_lo, t_hi) = self.addition_factor, self.threshold_factor
        additions = self.rng.uniform(a_lo, a_hi * 255, shape).astype(np.float32)
        thresholds = self.rng.uniform(t_lo, t_hi * 255, shape).astype(np.float32)
        return {"additions": additions, "thresholds": thresholds}

    def transform_images(self, images, transformation, training=True):
        self.transformation = transformation if training else None
        if self.transformation is None:
            return images
        x = transform_value_range(images, self.value_range, (0, 255))
        r = x + np.asarray(transformation["additions"]).astype(x.dtype)
        inside = (r >= 0) & (r <= 255)
        r = np.clip(r, 0, 255)
        below = r < np.asarray(transformation["thresholds"]).astype(x.dtype)
        r = np.where(below, r, x.dtype.type(255) - r)
        self.slope = np.where(below, 1, -1) * inside  # dr/dx255
        return transform_value_range(r, (0, 255), self.value_range).astype(images.dtype, copy=False)

    def backward_images(self, dy):
        t = dy.dtype.type
        lo, hi = (t(v) for v in self.value_range)
        scale = t(255) / (hi - lo) * ((hi - lo) / t(255))  # 1 up to round-off
        return (dy * self.slope * scale).astype(dy.dtype, copy=False)

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range,
                "addition_factor": self.addition_factor,
                "threshold_factor": self.threshold_factor}


class AutoContrast(_RandomImageLayer):
    """Stretch each image's channels to the full value range, as ``keras.layers.AutoContrast``.

    Per image and channel, in the 0..255 scale (``value_range``, sorted, default ``(0, 255)``)::

        x255 = (x - lo) / (hi - lo) · 255;   low, high = min, max over (H, W) of x255
        y255 = clip(x255 · 255 / (high - low) - low · 255 / (high - low), 0, 255)
        y = y255 / 255 · (hi - lo) + lo,   and y = x where that is NaN (a flat channel)

    Nothing is random, and Keras applies it in training and at inference alike (its
    ``transform_images`` ignores ``training``); scratchnet does the same. No backward (not
    implemented: the derivative runs through each channel's min and max).
    """

    def __init__(self, value_range=(0, 255), data_format: str | None = None,
                 name: str | None = None, **kwargs):
        super().__init__(seed=None, data_format=data_format, name=name, **kwargs)
        self.value_range = _sorted_value_range(value_range, self.where)

    def forward(self, x, training=False):
        host = kernels.to_numpy(x)
        y = self.transform_images(host, None, training=training)
        return kernels.to_backend(y) if kernels.is_device_array(x) else y

    def get_random_transformation(self, images, training=True):
        return None

    def transform_images(self, images, transformation=None, training=True):
        self.transformation = None
        dtype = _float_dtype(images)
        x = transform_value_range(images, self.value_range, (0, 255)).astype(dtype)
        low = x.min(axis=(1, 2), keepdims=True)
        high = x.max(axis=(1, 2), keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = dtype.type(255) / (high - low)
            offset = -low * scale
            y = np.clip(x * scale + offset, 0, 255)
        y = transform_value_range(y, (0, 255), self.value_range)
        return np.where(np.isnan(y), images, y).astype(dtype)

    def backward(self, dy):
        return _no_gradient(self, "not implemented: it runs through each channel's min and max")

    def get_config(self):
        config = {**super().get_config(), "value_range": self.value_range}
        del config["seed"]  # Keras' AutoContrast takes no seed
        return config


class RandomPosterization(_RandomImageLayer):
    """Keep only the top bits of each colour value, as ``keras.layers.RandomPosterization``.

    ``factor``: bits to keep, in ``[1, 8]``; a number ``f`` means ``(1, f)``, a pair is used as
    given (sorted). Each image draws ``bits`` as an integer in ``[lower, upper)`` (the upper end
    is never drawn; a pair of equal values always gives that value), and Keras' transformation is
    ``{"shift_factor": 8 - bits}`` (uint8, ``(N,)``). Then, with ``value_range`` (sorted, default
    ``(0, 255)``)::

        q = uint8((x - lo) / (hi - lo) · 255)      (truncated)
        y = ((q >> s) << s) / 255 · (hi - lo) + lo

    No backward (TensorFlow has no gradient for the cast to uint8).
    """

    def __init__(self, factor, value_range=(0, 255), data_format: str | None = None,
                 seed: int | None = None, name: str | None = None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, name=name, **kwargs)
        self.factor = _base_factor(factor, (1, 8), "factor", self.where)
        self.value_range = _sorted_value_range(value_range, self.where)

    def get_random_transformation(self, images, training=True):
        lower, upper = (int(v) for v in self.factor)
        n = len(images)
        bits = (self.rng.integers(lower, upper, n) if lower != upper else np.full(n, lower))
        return {"shift_factor": (8 - bits).astype(np.uint8)}

    def transform_images(self, images, transformation, training=True):
        self.transformation = transformation if training else None
        if self.transformation is None:
            return images
        s = np.asarray(transformation["shift_factor"]).astype(np.uint8).reshape(-1, 1, 1, 1)
        dtype = _float_dtype(images)
        x = transform_value_range(images, self.value_range, (0, 255)).astype(dtype)
        q = x.astype(np.uint8)
        q = np.left_shift(np.right_shift(q, s), s)
        return transform_value_range(q.astype(dtype), (0, 255), self.value_range).astype(dtype)

    def backward_images(self, dy):
        return _no_gradient(self, "TensorFlow has no gradient for the cast to uint8: Keras' is None")

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}


SHARPNESS_KERNEL = np.array([[1, 1, 1], [1, 5, 1], [1, 1, 1]]) / 13  # Keras' a = 1/13, b = 5/13


class RandomSharpness(_RandomImageLayer):
    """Sharpen or blur each image, as ``keras.layers.RandomSharpness``::

        smooth = x convolved with [[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13 per channel
                 (3x3, zero padding: the border darkens)
        y = clip(x + (1 - 2f) · (smooth - x), value_range[0], value_range[1])

    with one ``f ~ U[lower, upper)`` per image (Keras' transformation ``{"factor": (N,)}``;
    ``f = 0.5`` keeps the image, 0 gives the smoothed one, 1 sharpens). ``factor`` in ``[0, 1]``:
    a number ``f`` means ``(0, f)``. ``value_range`` sorted, default ``(0, 255)``.

    Backward, with ``g = dy · [lo <= z <= hi]`` and ``s = 2f``: ``dx = s g + (1 - s) (g
    convolved with the same kernel)`` (the kernel is symmetric, so it is its own transpose).
    """

    def __init__(self, factor, value_range=(0, 255), data_format: str | None = None,
                 seed: int | None = None, name: str | None = None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, name=name, **kwargs)
        self.factor = _base_factor(factor, (0, 1), "factor", self.where)
        self.value_range = _sorted_value_range(value_range, self.where)
        self.passed: np.ndarray | None = None

    def get_random_transformation(self, images, training=True):
        f = self.rng.uniform(self.factor[0], self.factor[1], len(images))
        return {"factor": f.astype(np.float32)}

    def _sharpness(self, dtype):
        factor = np.asarray(self.transformation["factor"], dtype=np.float32) * np.float32(2)
        return factor.astype(dtype).reshape(-1, 1, 1, 1)

    def transform_images(self, images, transformation, training=True):
        self.transformation = transformation if training else None
        if self.transformation is None:
            return images
        s = self._sharpness(images.dtype)
        smooth = _depthwise_3x3_same(images, SHARPNESS_KERNEL.astype(images.dtype))
        z = images + (1 - s) * (smooth - images)
        lo, hi = self.value_range
        self.passed = (z >= lo) & (z <= hi)
        return np.clip(z, lo, hi).astype(images.dtype, copy=False)

    def backward_images(self, dy):
        s = self._sharpness(dy.dtype)
        g = dy * self.passed
        return s * g + (1 - s) * _depthwise_3x3_same(g, SHARPNESS_KERNEL.astype(dy.dtype))

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}


def _unit_factor(factor, arg: str, where: str) -> tuple:
    """Solarization's ``_set_factor``: a number ``f`` in ``[0, 1]`` becomes ``(0, f)``; a pair of
    numbers in ``[0, 1]`` is sorted."""
    error = ValueError(f"{where}: expected {arg} to be a number in [0, 1] or a pair of numbers "
                       f"in [0, 1], received {factor!r}")
    if isinstance(factor, tuple | list):
        if len(factor) != 2 or not all(_is_number(v) and 0 <= v <= 1 for v in factor):
            raise error
        return tuple(sorted(factor))
    if not _is_number(factor) or not 0 <= factor <= 1:
        raise error
    return (0, factor)
