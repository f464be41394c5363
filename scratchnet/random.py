"""``keras.random`` as ``sn.random``: random draws with Keras' names, arguments, dtypes, shapes and
seeding rules, drawn by NumPy's generator (``np.random.default_rng``).

The values differ from Keras': Keras draws with its backend's own generator (TensorFlow's
stateless Philox), which scratchnet does not copy. What matches is everything else:

- ``seed`` an int: the same draw at every call (``normal((2,), seed=1)`` twice gives one array);
- ``seed`` a :class:`SeedGenerator`: each call takes its next seed, so successive draws differ
  and the sequence repeats for a generator made with the same seed;
- ``seed=None``: a fresh draw each call, from a global generator that
  ``sn.utils.set_random_seed`` (``keras.utils.set_random_seed``) makes repeatable;
- dtypes: floats are ``floatx`` (float32) unless ``dtype``; ``randint`` and ``categorical`` int32.
"""

from __future__ import annotations

import numbers

import numpy as np

from scratchnet import config

__all__ = ["SeedGenerator", "beta", "binomial", "categorical", "dropout", "gamma", "normal", "randint",
           "shuffle", "truncated_normal", "uniform"]


class SeedGenerator:
    """``keras.random.SeedGenerator(seed=None, name=None)``: a state ``[seed, counter]``; each draw
    takes the state as its seed and adds 1 to the counter. ``seed=None`` starts from a random seed.

    ``state`` is a non-trainable int64 variable named ``seed_generator_state`` (a
    :class:`~scratchnet.layers.base.Parameter`; int64 as Keras' TensorFlow backend makes it): a
    layer holding the generator as an attribute lists it in ``variables`` and
    ``non_trainable_variables``, not in ``weights``, and neither saves it, as Keras
    (keras/src/random/seed_generator.py; keras/src/layers/layer.py ``variables``)."""

    _count = 0

    def __init__(self, seed=None, name=None, **kwargs):
        if kwargs:
            raise ValueError(f"Unrecognized keyword arguments: {kwargs}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise ValueError(f"Argument `seed` must be an integer. Received: seed={seed}")
        if name is None:
            SeedGenerator._count += 1
            count = SeedGenerator._count
            name = "seed_generator" if count == 1 else f"seed_generator_{count - 1}"
        self.name = name
        self._initial_seed = seed
        start = int(_global_rng().integers(1, 10**9)) if seed is None else int(seed)
        from scratchnet.layers.base import Parameter

        self.state = Parameter(f"{name}/seed_generator_state", np.array([start, 0], dtype=np.int64),
                               trainable=False)

    def next(self, ordered=True):
        """The seed of the next draw (the state before this call); the counter moves on by an
        ``assign``, as Keras': inside a ``StatelessScope`` (the trial call that gives a Keras-style
        layer its output shape) the state is left as it was."""
        seed = self.state.value.copy()
        self.state.assign(seed + np.array([0, 1]) if ordered else (seed + 1) * 5387 % 933199)
        return seed

    def get_config(self):
        return {"seed": self._initial_seed, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _global_rng() -> np.random.Generator:
    from scratchnet.layers.input_layer import global_rng

    return global_rng()


def _generator(seed) -> np.random.Generator:
    """The NumPy generator for one draw: from the int seed, the SeedGenerator's next state, or
    (seed=None) the global generator's next number."""
    if isinstance(seed, SeedGenerator):
        return np.random.default_rng(seed.next().tolist())
    if seed is None:
        return np.random.default_rng(int(_global_rng().integers(0, 2**63)))
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError("Argument `seed` must be either an integer or an instance of `SeedGenerator`. "
                         f"Received: seed={seed} (of type {type(seed)})")
    return np.random.default_rng([int(seed), 0])


def _float(dtype, what: str) -> np.dtype:
    dtype = np.dtype(config.floatx() if dtype is None else dtype)
    if dtype.kind != "f":
        raise ValueError(f"`keras.random.{what}` requires a floating point `dtype`. Received: dtype={dtype}")
    return dtype


def _batch_unknown(shape) -> bool:
    """A shape ``(None, d1, ...)``: ``(ops.shape(x)[0], ...)`` inside a traced ``call``, where the
    batch size is not known yet; or ``(n, d1, ...)`` in a call traced for batches of ``n`` (an
    eager call, a batch of ``fit``): a draw along the batch, made afresh at each forward pass as
    Keras draws at each call."""
    from scratchnet.layers.input_layer import traced_batch_size

    if not (isinstance(shape, list | tuple) and len(shape) > 0
            and all(isinstance(d, numbers.Integral) for d in shape[1:])):
        return False
    batch = traced_batch_size()
    return shape[0] is None or (batch is not None and isinstance(shape[0], numbers.Integral)
                                and int(shape[0]) == batch)


def _per_batch(draw, shape, dtype):
    """The symbolic tensor of a draw whose batch size the forward pass gives (a graph input
    drawn afresh for each batch: :class:`~scratchnet.layers.input_layer.RandomDrawLayer`)."""
    from scratchnet.layers.input_layer import RandomDrawLayer

    return RandomDrawLayer(draw, tuple(int(d) for d in shape[1:]), dtype).output


def _shape(shape) -> tuple:
    return (int(shape),) if isinstance(shape, numbers.Integral) else tuple(int(d) for d in shape)


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Draws from the normal distribution N(mean, stddev^2)."""
    dtype = _float(dtype, "normal")
    if _batch_unknown(shape):
        return _per_batch(lambda s: normal(s, mean, stddev, dtype, seed), shape, dtype)
    return (mean + stddev * _generator(seed).standard_normal(_shape(shape))).astype(dtype)


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """Draws uniformly from ``[minval, maxval)``; ``dtype`` must be a float (``randint`` for ints)."""
    dtype = _float(dtype, "uniform")
    if _batch_unknown(shape):
        return _per_batch(lambda s: uniform(s, minval, maxval, dtype, seed), shape, dtype)
    return _generator(seed).uniform(minval, maxval, _shape(shape)).astype(dtype)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """N(mean, stddev^2) with every draw beyond two standard deviations drawn again (as Keras)."""
    dtype = _float(dtype, "truncated_normal")
    if _batch_unknown(shape):
        return _per_batch(lambda s: truncated_normal(s, mean, stddev, dtype, seed), shape, dtype)
    rng, shape = _generator(seed), _shape(shape)
    z = rng.standard_normal(shape)
    outside = np.abs(z) > 2.0
    while np.any(outside):
        z[outside] = rng.standard_normal(int(np.sum(outside)))
        outside = np.abs(z) > 2.0
    return (mean + stddev * z).astype(dtype)


def randint(shape, minval, maxval, dtype="int32", seed=None):
    """Integers drawn uniformly from ``[minval, maxval)``."""
    return _generator(seed).integers(minval, maxval, _shape(shape)).astype(np.dtype(dtype))


def categorical(logits, num_samples, dtype="int32", seed=None):
    """For each row of ``logits`` (shape ``(batch, classes)``), ``num_samples`` class ids drawn with
    probabilities ``softmax(logits)``: shape ``(batch, num_samples)``."""
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2:
        raise ValueError("`logits` should be a 2-D tensor with shape [batch_size, num_classes]. "
                         f"Received: logits={logits.shape}")
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    rng = _generator(seed)
    # inverse of the cumulative distribution of each row at uniform draws
    u = rng.uniform(size=(logits.shape[0], num_samples))
    ids = np.array([np.searchsorted(np.cumsum(row), draws, side="right")
                    for row, draws in zip(p, u, strict=True)])
    return np.minimum(ids, logits.shape[1] - 1).astype(np.dtype(dtype))


def dropout(inputs, rate, noise_shape=None, seed=None):
    """Each element kept with probability ``1 - rate`` and scaled by ``1 / (1 - rate)``, else 0
    (``noise_shape``: the mask's shape, broadcast to the input's)."""
    x = inputs if hasattr(inputs, "dtype") else np.asarray(inputs, dtype=config.floatx())
    if rate == 1.0:
        return x * 0.0
    if rate == 0.0:
        return x
    shape = x.shape if noise_shape is None else tuple(
        n if d is None else d for d, n in zip(noise_shape, x.shape, strict=True))
    keep = _generator(seed).uniform(size=shape) >= rate
    return x * (keep / (1.0 - rate)).astype(x.dtype)


def shuffle(x, axis=0, seed=None):
    """``x`` with its slices along ``axis`` in a random order."""
    x = np.asarray(x)
    order = _generator(seed).permutation(x.shape[axis])
    return np.take(x, order, axis=axis)


def gamma(shape, alpha, dtype=None, seed=None):
    """Draws from the gamma distribution of shape ``alpha`` and scale 1 (mean and variance ``alpha``)."""
    dtype = _float(dtype, "gamma")
    return _generator(seed).gamma(alpha, 1.0, _shape(shape)).astype(dtype)


def binomial(shape, counts, probabilities, dtype=None, seed=None):
    """The number of successes in ``counts`` trials of probability ``probabilities``, as a float
    (floatx) unless ``dtype``."""
    dtype = np.dtype(config.floatx() if dtype is None else dtype)
    return _generator(seed).binomial(counts, probabilities, _shape(shape)).astype(dtype)


def beta(shape, alpha, beta, dtype=None, seed=None):
    """Draws from the beta distribution (mean ``alpha / (alpha + beta)``)."""
    dtype = _float(dtype, "beta")
    return _generator(seed).beta(alpha, beta, _shape(shape)).astype(dtype)


def _dropout_on_keras_tensors():
    """``dropout`` of a KerasTensor (in a traced ``call``) is a ``Lambda`` that draws its mask at
    each forward pass (a SeedGenerator advancing, an int seed repeating), as Keras' op runs at each
    call; the gradient passes where the mask kept."""
    from scratchnet.ops import _on_keras_tensors

    return _on_keras_tensors(dropout, "dropout")


dropout = _dropout_on_keras_tensors()  # noqa: F811 (the same function, on KerasTensors too)
