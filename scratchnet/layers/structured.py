"""Preprocessing layers for structured (tabular) data: Normalization, Discretization, Hashing,
HashedCrossing, with ``keras.layers``' arguments, defaults and numbers.

Normalization is affine, so it has a backward pass; the other three turn values into bin ids, which
have no gradient (``backward`` returns ``None``): they sit at a model's inputs, like StringLookup.
``adapt(data)`` learns what Keras' ``adapt`` learns, computed the same way (same batch merging for
Normalization, same quantile sketch for Discretization), so the numbers agree with Keras'.
Hashing uses Keras' own hashes (FarmHash Fingerprint64, or SipHash-2-4 with a salt), written out in
:mod:`scratchnet.layers.hash_functions`: the same strings land in the same bins as in Keras.
"""

from __future__ import annotations

import itertools
import math
import numbers

import numpy as np

from scratchnet import config, kernels
from scratchnet.layers._args import positive_int
from scratchnet.layers.base import Layer, Parameter, policy_name
from scratchnet.layers.hash_functions import MASK64, fingerprint64, fingerprint_cat64, siphash24

EPSILON = 1e-7  # keras.config.epsilon(): the smallest standard deviation Normalization divides by
_OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count")


# --- shared helpers --------------------------------------------------------------------------
def encode_bins(ids: np.ndarray, output_mode: str, depth: int, where: str) -> np.ndarray:
    """Keras' ``encode_categorical_inputs`` for bin ids in ``[0, depth)``.

    ``"int"``: the ids. ``"one_hot"``: ``eye(depth)[ids]``, a trailing axis of size 1 replaced by
    ``depth`` (``(N, 1) -> (N, depth)``, ``(N, T) -> (N, T, depth)``). ``"multi_hot"`` / ``"count"``:
    input ``(N, T)``, output ``(N, depth)`` with ``out[n, k] = [k in ids[n]]`` / ``#{t: ids[n, t] = k}``.
    Like scratchnet's CategoryEncoding, multi_hot/count refuse an ``(N,)`` input (Keras would count
    the whole batch as one sample): reshape it to ``(N, 1)``.
    """
    if output_mode == "int":
        return ids
    dtype = config.dtype()
    if output_mode == "one_hot":
        if ids.ndim > 1 and ids.shape[-1] == 1:
            ids = ids.reshape(ids.shape[:-1])  # (N, 1) -> (N,)
        return np.eye(depth, dtype=dtype)[ids]  # (..., depth)
    if ids.ndim != 2:
        raise ValueError(f'{where}: output_mode="{output_mode}" expects inputs of shape (N, T), '
                         f"T values per sample; received shape {ids.shape}"
                         + ("; reshape (N,) to (N, 1)" if ids.ndim == 1 else ""))
    counts = np.zeros((ids.shape[0], depth), dtype=dtype)  # (N, depth)
    np.add.at(counts, (np.arange(ids.shape[0])[:, None], ids), 1)
    return (counts > 0).astype(dtype) if output_mode == "multi_hot" else counts


def encoded_shape(input_shape: tuple, output_mode: str, depth: int, where: str) -> tuple:
    """Output shape (no batch axis) of :func:`encode_bins` for one sample of ``input_shape``."""
    shape = tuple(input_shape)
    if output_mode == "int":
        return shape
    if output_mode == "one_hot":
        return (shape[:-1] if shape and shape[-1] == 1 else shape) + (depth,)
    if len(shape) != 1:
        raise ValueError(f'{where}: output_mode="{output_mode}" expects inputs of shape (N, T), '
                         f"T values per sample; received shape {(None,) + shape}"
                         + ("; reshape (N,) to (N, 1)" if not shape else ""))
    return (depth,)


def _output_mode(value, where: str, allowed=_OUTPUT_MODES) -> str:
    if value not in allowed:
        raise ValueError(f"{where}: invalid value for argument output_mode. Expected one of "
                         f"{allowed}. Received: output_mode={value!r}")
    return value


def _refuse_sparse(sparse, where: str) -> None:
    if sparse:
        raise ValueError(f"{where}: sparse=True is not supported (scratchnet returns dense NumPy "
                         f"arrays; Keras supports it only on the TensorFlow backend); received "
                         f"sparse={sparse!r}")


def _batches(data, where: str):
    """Keras' ``adapt`` input rule: a NumPy array is one batch; any other iterable (a list, a
    generator, a PyDataset) yields batches, each an array or an ``(x, y)`` tuple whose ``x`` is
    used. Returns a list-like iterator of arrays, or raises naming ``where``."""
    if isinstance(data, np.ndarray) or kernels.is_device_array(data):
        return iter([kernels.to_numpy(data)])
    if isinstance(data, str | bytes) or not hasattr(data, "__iter__"):
        raise TypeError(f"{where}: adapt() expects a NumPy array or an iterable of batches "
                        f"(arrays), received {type(data).__name__}")
    return (batch[0] if isinstance(batch, tuple) else batch for batch in data)


def _as_floats(x, where: str) -> np.ndarray:
    """``x`` as floats, or a TypeError naming ``where`` (strings are not numbers here)."""
    x = kernels.to_numpy(x) if kernels.is_device_array(x) else np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"{where}: expected numeric (float or int) inputs, received an array of "
                        f"dtype {x.dtype}" + (" (strings)" if x.dtype.kind in "USO" else ""))
    return x


# --- Normalization ---------------------------------------------------------------------------
class Normalization(Layer):
    """Shift and scale features to mean 0 and variance 1, like ``keras.layers.Normalization``.

    Forward: ``y = (x - mean) / max(sqrt(variance), 1e-7)``; with ``invert=True`` the inverse,
    ``y = mean + x * max(sqrt(variance), 1e-7)``. ``mean`` and ``variance`` have one value per index
    of the kept ``axis`` (default ``-1``: one per feature) and broadcast over the other axes;
    ``axis=None`` keeps one scalar for everything.
    Backward: ``dx = dy / max(sqrt(variance), 1e-7)`` (``invert``: ``dy * ...``); the statistics are
    not trained.

    ``mean``/``variance`` given: used as they are (Keras: no weights). Otherwise ``adapt(data)``
    computes them and stores them as non-trainable weights ``mean``, ``variance`` and ``count``
    (always 0, kept for Keras' weight list), in Keras' ``get_weights()`` order:

    - a NumPy array: ``mean = np.mean(data, reduced axes)``, ``variance = np.var(...)`` (biased),
      in the array's own dtype, then stored as floatx;
    - an iterable of batches (list, generator, PyDataset): each batch in floatx, merged as Keras
      does: ``w = n_b / n``, ``m' = (1-w) m + w m_b``,
      ``v' = (1-w)(v + (m - m')^2) + w (v_b + (m_b - m')^2)``.

    Input shape: ``(N, ...)`` floats. Output shape: the same.
    One difference: Keras lets ``axis`` keep the batch axis (a ``(N,)`` input with the default
    ``axis=-1`` gets one mean per sample); scratchnet refuses it: pass ``axis=None`` or ``(N, 1)``.
    """

    @property
    def input_dtype(self) -> str:  # floats; forward casts (and refuses strings) itself
        return config.floatx()

    def __init__(self, axis=-1, mean=None, variance=None, invert: bool = False,
                 name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        where = f'Normalization "{self.name}"'
        if axis is None:
            axis = ()
        elif isinstance(axis, numbers.Integral) and not isinstance(axis, bool):
            axis = (int(axis),)
        elif isinstance(axis, tuple | list) and all(
                isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in axis):
            axis = tuple(int(a) for a in axis)
        else:
            raise ValueError(f"{where}: expected axis to be an integer, a tuple of integers or "
                             f"None, received {axis!r}")
        self.axis = axis
        if (mean is None) != (variance is None):
            raise ValueError(f"{where}: when setting values directly, both mean and variance must "
                             f"be set. Received: mean={mean} and variance={variance}")
        if mean is not None:
            for arg, value in (("mean", mean), ("variance", variance)):
                if np.asarray(value).dtype.kind not in "biuf":
                    raise TypeError(f"{where}: expected {arg} to be numbers, received {value!r}")
            if np.shape(mean) != np.shape(variance):
                raise ValueError(f"{where}: when setting values directly, mean and variance must "
                                 f"have the same shape. Received: mean shape {np.shape(mean)} and "
                                 f"variance shape {np.shape(variance)}")
            if np.ndim(mean) > len(self.axis):
                raise ValueError(f"{where}: the rank of mean must be less than or equal to the "
                                 f"number of axes ({len(self.axis)}). Received: mean shape "
                                 f"{np.shape(mean)} for axis {self.axis}")
        self.input_mean = mean
        self.input_variance = variance
        self.invert = bool(invert)
        self.given: tuple[np.ndarray, np.ndarray] | None = None  # mean=, variance= broadcast, once built

    @property
    def mean(self) -> np.ndarray | None:
        """Keras' ``layer.mean``: the mean in the shape that broadcasts over a batch (``None``
        before the layer is built)."""
        return self._stats()[0] if self.built else None

    @property
    def variance(self) -> np.ndarray | None:
        """Keras' ``layer.variance``, as :attr:`mean`."""
        return self._stats()[1] if self.built else None

    def build(self, input_shape, rng):
        where = f'Normalization "{self.name}"'
        full = (None,) + tuple(input_shape)  # Keras' axes count the batch axis
        ndim = len(full)
        if any(a < -ndim or a >= ndim for a in self.axis):
            raise ValueError(f"{where}: all axis values must be in the range [-ndim, ndim). "
                             f"Received inputs with ndim={ndim}, while axis={self.axis}")
        self.keep_axis = tuple(sorted(a % ndim for a in self.axis))
        if 0 in self.keep_axis:
            raise ValueError(f"{where}: axis={self.axis} keeps the batch axis of inputs of shape "
                             f"{full}, which has no fixed size; use axis=None (one mean and "
                             "variance) or give one sample a feature axis, e.g. shape (N, 1)")
        self.reduce_axis = tuple(d for d in range(ndim) if d not in self.keep_axis)
        self.broadcast_shape = tuple(full[d] if d in self.keep_axis else 1 for d in range(ndim))
        stats_shape = tuple(full[d] for d in self.keep_axis)
        if self.input_mean is None:
            self.add_weight("mean", stats_shape, "zeros", rng, trainable=False)
            self.add_weight("variance", stats_shape, "ones", rng, trainable=False)
            count = Parameter(f"{self.name}/count", np.zeros((), dtype=np.int64), trainable=False)
            self.non_trainable_params["count"] = count
        else:
            self.given = tuple(self._broadcast(v, where) for v in (self.input_mean,
                                                                   self.input_variance))
        return tuple(input_shape)

    def ensure_built(self, input_shape, rng=None):
        """With ``axis=None`` the one mean and variance fit inputs of any shape, as in Keras: a
        layer adapted on data of one shape takes the shape of the model it joins (the TensorFlow
        regression tutorial adapts on a 1-D column, then feeds ``(N, 1)`` batches)."""
        if self.built and self.axis == () and tuple(input_shape) != tuple(self.input_shape):
            self._take_shape(tuple(input_shape))
        return super().ensure_built(input_shape, rng)

    def check_input(self, x) -> None:
        if self.axis == () and self.built and tuple(x.shape[1:]) != tuple(self.input_shape):
            self._take_shape(tuple(x.shape[1:]))  # called by hand on another shape: as above
        super().check_input(x)

    def _take_shape(self, input_shape: tuple) -> None:
        self.input_shape = self.output_shape = input_shape
        ndim = len(input_shape) + 1
        self.keep_axis, self.reduce_axis = (), tuple(range(ndim))
        self.broadcast_shape = (1,) * ndim
        if self.given is not None:
            self.given = tuple(self._broadcast(v, f'Normalization "{self.name}"')
                               for v in (self.input_mean, self.input_variance))

    def _broadcast(self, value, where: str) -> np.ndarray:
        """A given mean/variance aligned right-to-left with the kept axes, then broadcast."""
        value = np.asarray(value, dtype=config.dtype())
        expanded = [1] * len(self.broadcast_shape)
        for i in range(1, value.ndim + 1):
            expanded[self.keep_axis[-i]] = value.shape[-i]
        try:
            return np.broadcast_to(value.reshape(expanded), self.broadcast_shape)
        except ValueError:
            raise ValueError(f"{where}: mean/variance of shape {value.shape} cannot be broadcast "
                             f"to the kept axes {self.keep_axis} of shape "
                             f"{self.broadcast_shape}") from None

    def adapt(self, data) -> None:
        """Compute ``mean`` and ``variance`` of ``data`` (see the class docstring for the rule)."""
        where = f'Normalization "{self.name}"'
        if self.input_mean is not None:
            raise ValueError(f"{where}: cannot adapt a layer that was given mean= and variance=")
        batches = _batches(data, where)
        first = next(batches, None)
        if first is None:
            raise ValueError(f"{where}: adapt() received an empty iterable (no batches); expected "
                             "at least one batch, e.g. layer.adapt(x) or layer.adapt([x1, x2])")
        if not hasattr(first, "shape"):
            raise TypeError(f"{where}: adapt() expects an iterable that yields arrays with a "
                            f"shape; received an element of type {type(first).__name__}")
        one_array = isinstance(data, np.ndarray) or kernels.is_device_array(data)
        first = _as_floats(first, where)
        if first.ndim == 0 or first.shape[0] == 0:
            raise ValueError(f"{where}: adapt() needs at least one sample; received data of "
                             f"shape {first.shape}")
        if not self.built:
            self.ensure_built(first.shape[1:])
            self.built_by_adapt = True  # a model may still take it (Keras: adapt, then add)
        one_value = self.axis == ()  # axis=None: one mean over every axis, whatever the shape

        def reduced(batch):  # the axes adapt averages over
            return tuple(range(batch.ndim)) if one_value else self.reduce_axis

        if one_array:
            if not one_value:
                self._check_adapt_shape(first.shape, where)
            total_mean = np.mean(first, axis=reduced(first))  # in the data's own dtype
            total_var = np.var(first, axis=reduced(first))
        else:
            dtype = config.dtype()
            total_mean = np.zeros(() if one_value else self.params_shape, dtype=dtype)
            total_var = np.zeros(() if one_value else self.params_shape, dtype=dtype)
            total_count = 0
            for batch in itertools.chain([first], batches):
                batch = _as_floats(batch, where).astype(dtype)
                if not one_value:
                    self._check_adapt_shape(batch.shape, where)
                batch_mean = np.mean(batch, axis=reduced(batch))
                batch_var = np.var(batch, axis=reduced(batch))
                batch_count = math.prod(batch.shape[d] for d in reduced(batch))
                total_count += batch_count
                batch_weight = float(batch_count) / total_count
                existing_weight = 1.0 - batch_weight
                new_mean = total_mean * existing_weight + batch_mean * batch_weight
                total_var = ((total_var + (total_mean - new_mean) ** 2) * existing_weight
                             + (batch_var + (batch_mean - new_mean) ** 2) * batch_weight)
                total_mean = new_mean
        stats = (np.asarray(total_mean, dtype=config.dtype()),
                 np.asarray(total_var, dtype=config.dtype()))
        self.non_trainable_params["mean"].value, self.non_trainable_params["variance"].value = stats

    @property
    def params_shape(self) -> tuple[int, ...]:
        return tuple(self.broadcast_shape[d] for d in self.keep_axis)

    def _check_adapt_shape(self, shape: tuple, where: str) -> None:
        full = (None,) + tuple(self.input_shape)
        if len(shape) != len(full) or any(shape[d] != full[d] for d in self.keep_axis):
            raise ValueError(f"{where}: the layer was built with input_shape={full}, but adapt() "
                             f"is being called with data of an incompatible shape {tuple(shape)}")

    def _stats(self) -> tuple[np.ndarray, np.ndarray]:
        if self.input_mean is not None:
            return self.given
        return (self.non_trainable_params["mean"].value.reshape(self.broadcast_shape),
                self.non_trainable_params["variance"].value.reshape(self.broadcast_shape))

    def forward(self, x, training=False):
        if kernels.is_device_array(x):  # GPU backend: compute where the batch lives
            x = x.astype(config.dtype(), copy=False)
            mean, variance = (kernels.to_backend(v) for v in self._stats())
        else:
            x = _as_floats(x, f'Normalization "{self.name}"').astype(config.dtype(), copy=False)
            mean, variance = (kernels.to_numpy(v) for v in self._stats())
        # np.sqrt/np.maximum dispatch to CuPy for device arrays (__array_ufunc__)
        self.scale = np.maximum(np.sqrt(variance), EPSILON).astype(x.dtype)  # broadcast shape
        if self.invert:
            return mean + x * self.scale
        return (x - mean) / self.scale

    def backward(self, dy):
        return dy * self.scale if self.invert else dy / self.scale

    def get_config(self):
        def plain(value):
            return None if value is None else np.asarray(value).tolist()

        return {**super().get_config(), "axis": self.axis if self.axis else None,
                "mean": plain(self.input_mean), "variance": plain(self.input_variance),
                "invert": self.invert}


# --- Discretization --------------------------------------------------------------------------
class Discretization(Layer):
    """Bucket floats into bins by boundaries, like ``keras.layers.Discretization``.

    ``bin_boundaries=[b0, b1, ..., bk]`` gives ``k + 2`` bins ``(-inf, b0), [b0, b1), ...,
    [bk, +inf)``: ``id = #{j : b_j <= x}`` (``np.digitize``; values and boundaries in float32, as
    TensorFlow's ``Bucketize`` compares them). ``output_mode`` ``"int"`` (default, int32 ids),
    ``"one_hot"``, ``"multi_hot"`` or ``"count"`` (see :func:`encode_bins`).

    ``num_bins`` instead: ``adapt(data)`` finds ``num_bins - 1`` boundaries at the quantiles of
    ``data``, with Keras' approximate-quantile sketch (precision ``epsilon``): each batch is sorted
    and every ``step``-th value kept with weight ``step`` (``step = max(n * epsilon, 1)``), merged
    with the running sketch and compressed back to ``1 / epsilon`` points by linear interpolation
    of the cumulative weights; the boundaries are the sketch compressed to ``num_bins`` points,
    last one dropped. With fewer distinct summary points than bins, fewer boundaries come out.
    A NumPy array is one batch; any other iterable yields batches (as in Keras).
    Input: floats of any shape ``(N, ...)``. No weights; no gradient.
    """

    def __init__(self, bin_boundaries=None, num_bins: int | None = None, epsilon: float = 0.01,
                 output_mode: str = "int", sparse: bool = False, dtype=None,
                 name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        where = f'Discretization "{self.name}"'
        _refuse_sparse(sparse, where)
        self.output_mode = _output_mode(output_mode, where)
        if policy_name(dtype) not in (None, config.floatx()):
            raise ValueError(f"{where}: scratchnet does not implement dtype={dtype!r}; only None "
                             f"(floatx, {config.floatx()!r}) is accepted")
        if num_bins is not None and (isinstance(num_bins, bool)
                                     or not isinstance(num_bins, numbers.Integral)
                                     or num_bins < 1):
            raise ValueError(f"{where}: expected num_bins to be a positive integer, received "
                             f"num_bins={num_bins!r}")
        if num_bins is not None and bin_boundaries is not None:
            raise ValueError(f"{where}: both num_bins and bin_boundaries should not be set. "
                             f"Received: num_bins={num_bins} and bin_boundaries={bin_boundaries}")
        if num_bins is None and bin_boundaries is None:
            raise ValueError(f"{where}: you need to set either num_bins or bin_boundaries")
        if not isinstance(epsilon, numbers.Real) or not 0 < epsilon <= 1:
            raise ValueError(f"{where}: expected epsilon in (0, 1], received {epsilon!r}")
        if bin_boundaries is not None:
            bounds = np.asarray(bin_boundaries, dtype=np.float64).reshape(-1)
            if bounds.size > 1 and np.any(np.diff(bounds) < 0):
                raise ValueError(f"{where}: expected bin_boundaries sorted in increasing order, "
                                 f"received {bin_boundaries!r}")
            bin_boundaries = [float(b) for b in bounds]
        self.bin_boundaries = bin_boundaries
        self.num_bins = None if num_bins is None else int(num_bins)
        self.epsilon = float(epsilon)
        self.summary = np.zeros((2, 0), dtype=np.float32)  # row 0: values, row 1: weights

    @property
    def input_dtype(self) -> str:  # floats; forward casts (and refuses strings) itself
        return config.floatx()

    @property
    def output_dtype(self) -> str:
        return "int32" if self.output_mode == "int" else config.floatx()

    @property
    def depth(self) -> int:
        """Number of bins: ``len(bin_boundaries) + 1``."""
        return (len(self.bin_boundaries) + 1 if self.bin_boundaries is not None
                else self.num_bins)

    def adapt(self, data, steps: int | None = None) -> None:
        """Learn ``num_bins - 1`` boundaries from the quantiles of ``data`` (see the class)."""
        where = f'Discretization "{self.name}"'
        if self.num_bins is None:
            raise ValueError(f"{where}: cannot adapt a Discretization layer that has been "
                             "initialized with bin_boundaries, use num_bins instead")
        self.summary = np.zeros((2, 0), dtype=np.float32)
        seen = 0
        for i, batch in enumerate(_batches(data, where)):
            if steps is not None and i >= steps:
                break
            values = _as_floats(batch, where).astype(np.float32)
            seen += values.size
            self.summary = merge_summaries(summarize(values, self.epsilon), self.summary,
                                           self.epsilon)
        if seen == 0:
            raise ValueError(f"{where}: adapt() found no values in data")
        self.bin_boundaries = get_bin_boundaries(self.summary, self.num_bins).tolist()

    def build(self, input_shape, rng):
        return encoded_shape(input_shape, self.output_mode, self.depth,
                             f'Discretization "{self.name}"')

    def forward(self, x, training=False):
        where = f'Discretization "{self.name}"'
        if self.bin_boundaries is None:
            raise ValueError(f"{where}: you need to either pass the bin_boundaries argument at "
                             "construction time or call adapt(dataset) before you can start "
                             "using the Discretization layer")
        x = _as_floats(x, where).astype(np.float32)
        bounds = np.asarray(self.bin_boundaries, dtype=np.float32)
        ids = np.digitize(x, bounds).astype(np.int32) if bounds.size else np.zeros(x.shape, np.int32)
        return encode_bins(ids, self.output_mode, self.depth, where)

    def backward(self, dy):
        return None  # bin ids have no gradient

    @classmethod
    def from_config(cls, config: dict) -> Discretization:
        """Keras' rule: an adapted layer's config holds both ``num_bins`` and ``bin_boundaries``,
        which ``__init__`` refuses together; build with ``num_bins``, then set the boundaries."""
        config = dict(config)
        if config.get("bin_boundaries") is not None and config.get("num_bins") is not None:
            bin_boundaries = config.pop("bin_boundaries")
            layer = cls(**config)
            layer.bin_boundaries = [float(b) for b in bin_boundaries]
            return layer
        return cls(**config)

    def get_config(self):
        """As Keras' own ``Discretization.get_config`` writes it: no ``trainable`` (Keras'
        ``__init__`` takes no other arguments), ``dtype`` a plain string."""
        return {"bin_boundaries": self.bin_boundaries, "num_bins": self.num_bins,
                "epsilon": self.epsilon, "output_mode": self.output_mode, "sparse": False,
                "name": self.name, "dtype": config.floatx()}


def summarize(values: np.ndarray, epsilon: float) -> np.ndarray:
    """Keras' quantile summary of one batch: sorted values, every ``step``-th kept (from index
    ``step - 1``) with weight ``step``, where ``step = max(n / (1 / epsilon), 1)``. Shape (2, k)."""
    values = np.sort(np.reshape(values, [-1]))
    num_buckets = 1.0 / epsilon
    step = max(values.size / num_buckets, 1)
    boundaries = values[int(step - 1)::int(step)]
    weights = np.ones_like(boundaries) * step
    return np.stack([boundaries, weights])


def merge_summaries(prev_summary: np.ndarray, next_summary: np.ndarray,
                    epsilon: float) -> np.ndarray:
    """Concatenate two summaries, sort by value (``np.argsort``'s default, as Keras), compress."""
    merged = np.concatenate((prev_summary, next_summary), axis=1)
    merged = np.take(merged, np.argsort(merged[0]), axis=1)
    return compress_summary(merged, epsilon)


def get_bin_boundaries(summary: np.ndarray, num_bins: int) -> np.ndarray:
    """The summary compressed to ``num_bins`` points; the last point (the maximum) dropped."""
    return compress_summary(summary, 1.0 / num_bins)[0, :-1]


def compress_summary(summary: np.ndarray, epsilon: float) -> np.ndarray:
    """Shrink a summary to ``1 / epsilon`` points: at cumulative-weight fractions
    ``epsilon, 2 epsilon, ..., 1`` interpolate the value and the cumulative weight (``np.interp``);
    new weights are the differences. A summary already that small is returned as it is."""
    if summary.shape[1] * epsilon < 1:
        return summary
    percents = epsilon + np.arange(0.0, 1.0, epsilon)
    cum_weights = summary[1].cumsum()
    cum_weight_percents = cum_weights / cum_weights[-1]
    new_bins = np.interp(percents, cum_weight_percents, summary[0])
    cum_weights = np.interp(percents, cum_weight_percents, cum_weights)
    new_weights = cum_weights - np.concatenate((np.array([0]), cum_weights[:-1]))
    return np.stack((new_bins, new_weights)).astype("float32")


# --- Hashing ---------------------------------------------------------------------------------
def _as_strings(x, where: str) -> tuple[np.ndarray, np.ndarray]:
    """The values TensorFlow hashes: UTF-8 bytes of strings; ints as decimal text; floats first
    truncated to int64. Returns (object array of bytes, original array)."""
    x = np.asarray(x)
    if x.dtype.kind == "f":
        return np.char.encode(x.astype(np.int64).astype(str), "utf-8").astype(object), x
    if x.dtype.kind in "iub":
        if x.dtype.kind == "b":
            raise TypeError(f"{where}: expected strings or integers, received booleans")
        return np.char.encode(x.astype(np.int64).astype(str), "utf-8").astype(object), x
    if x.dtype.kind == "U":
        return np.char.encode(x, "utf-8").astype(object), x
    if x.dtype.kind == "S":
        return x.astype(object), x
    if x.dtype.kind == "O":
        flat = []
        for item in x.reshape(-1):
            if isinstance(item, bytes):
                flat.append(item)
            elif isinstance(item, str):
                flat.append(item.encode("utf-8"))
            else:
                raise TypeError(f"{where}: expected strings or integers, received {item!r}")
        return np.array(flat, dtype=object).reshape(x.shape), x
    raise TypeError(f"{where}: expected strings or integers, received an array of dtype {x.dtype}")


class Hashing(Layer):
    """Hash strings or integers into ``num_bins`` bins, like ``keras.layers.Hashing``.

    ``bin = fingerprint64(utf8(value)) % num_bins`` (FarmHash, what ``tf.strings.to_hash_bucket_fast``
    computes); with ``salt``, ``bin = siphash24((salt0, salt1), utf8(value)) % num_bins``
    (``to_hash_bucket_strong``; an int salt ``s`` means ``(s, s)``). Integers are hashed as their
    decimal text (``7`` -> ``b"7"``), floats truncated to int64 first. With ``mask_value``, values
    equal to it go to bin 0 and the others to ``1 + hash % (num_bins - 1)``.
    ``output_mode``: ``"int"`` (int64 ids, the input's shape), ``"one_hot"``, ``"multi_hot"`` or
    ``"count"`` (see :func:`encode_bins`). Keras requires TensorFlow for this layer; scratchnet
    computes the same hashes in Python (:mod:`scratchnet.layers.hash_functions`). No weights.
    """

    input_dtype = "string"  # strings or integers: never cast to floats

    def __init__(self, num_bins: int, mask_value=None, salt=None, output_mode: str = "int",
                 sparse: bool = False, name: str | None = None, **kwargs):
        dtype = policy_name(kwargs.pop("dtype", None))
        super().__init__(name=name, **kwargs)
        where = f'Hashing "{self.name}"'
        if policy_name(dtype) not in (None, "int64", config.floatx()):
            raise ValueError(f"{where}: scratchnet does not implement dtype={dtype!r}")
        if (num_bins is None or isinstance(num_bins, bool)
                or not isinstance(num_bins, numbers.Integral) or num_bins <= 0):
            raise ValueError(f"{where}: the num_bins for Hashing cannot be None or non-positive "
                             f"values. Received: num_bins={num_bins!r}")
        self.num_bins = int(num_bins)
        self.output_mode = _output_mode(output_mode, where)
        _refuse_sparse(sparse, where)
        self.mask_value = mask_value
        if salt is None:
            self.salt = None
        elif isinstance(salt, tuple | list) and len(salt) == 2 and all(
                isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in salt):
            self.salt = [int(s) for s in salt]
        elif isinstance(salt, numbers.Integral) and not isinstance(salt, bool):
            self.salt = [int(salt), int(salt)]
        else:
            raise ValueError(f"{where}: the salt argument for Hashing can only be a tuple of size "
                             f"2 integers, or a single integer. Received: salt={salt!r}")
        self.strong_hash = self.salt is not None

    @property
    def output_dtype(self) -> str:
        return "int64" if self.output_mode == "int" else config.floatx()

    def build(self, input_shape, rng):
        return encoded_shape(input_shape, self.output_mode, self.num_bins,
                             f'Hashing "{self.name}"')

    def hash_value(self, data: bytes) -> int:
        """The 64-bit hash of one value's bytes: SipHash-2-4 with a salt, else FarmHash."""
        return siphash24(tuple(self.salt), data) if self.strong_hash else fingerprint64(data)

    def forward(self, x, training=False):
        where = f'Hashing "{self.name}"'
        data, original = _as_strings(x, where)
        bins = self.num_bins
        mask = None
        if self.mask_value is not None and bins > 1:
            bins -= 1  # bin 0 is the mask's
            mask = original == self.mask_value
        distinct, inverse = np.unique(data.reshape(-1), return_inverse=True)  # hash each once
        hashed = np.array([self.hash_value(v) % bins for v in distinct.tolist()], dtype=np.int64)
        ids = hashed[inverse].reshape(data.shape)
        if mask is not None:
            ids = np.where(mask, 0, ids + 1)
        return encode_bins(ids, self.output_mode, self.num_bins, where)

    def backward(self, dy):
        return None  # bin ids have no gradient

    def get_config(self):
        """Keras' Hashing has the dtype policy of its output (int64 for ids)."""
        return {**super().get_config(),
                "dtype": {"module": "keras", "class_name": "DTypePolicy",
                          "config": {"name": self.output_dtype}, "registered_name": None},
                "num_bins": self.num_bins, "salt": self.salt,
                "mask_value": self.mask_value, "output_mode": self.output_mode, "sparse": False}


# --- HashedCrossing --------------------------------------------------------------------------
CROSS_HASH_KEY = 0xDECAFCAFFE  # tf.sparse.cross_hashed's default hash_key


class HashedCrossing(Layer):
    """Cross two or more categorical features by hashing the combination, like
    ``keras.layers.HashedCrossing`` (``tf.sparse.cross_hashed`` underneath).

    For one sample with values ``v_1 .. v_k`` (one per input, in order):
    ``h = CROSS_HASH_KEY``; ``h = fingerprint_cat64(h, f(v_i))`` for each ``i``;
    ``bin = h % num_bins``, where ``f(v) = fingerprint64(utf8(v))`` for a string and ``f(v) = v``
    (as an unsigned 64-bit integer) for an integer. ``output_mode`` ``"int"`` (int64 ids) or
    ``"one_hot"``. Call it on a list: ``HashedCrossing(8)([a, b])``; every input has shape
    ``(N,)`` or ``(N, 1)``, the same for all, integer or string dtype. No weights.
    """

    input_dtype = "string"

    def __init__(self, num_bins: int, output_mode: str = "int", sparse: bool = False,
                 name: str | None = None, dtype=None, **kwargs):
        super().__init__(name=name, **kwargs)
        where = f'HashedCrossing "{self.name}"'
        self.num_bins = positive_int(num_bins, "num_bins", where)
        self.output_mode = _output_mode(output_mode, where, ("int", "one_hot"))
        _refuse_sparse(sparse, where)
        if policy_name(dtype) not in (None, "int64", config.floatx()):
            raise ValueError(f"{where}: scratchnet does not implement dtype={dtype!r}")

    @property
    def output_dtype(self) -> str:
        return "int64" if self.output_mode == "int" else config.floatx()

    def _check_shapes(self, shapes: list[tuple]) -> None:
        where = f'HashedCrossing "{self.name}"'
        if len(shapes) < 2:
            raise ValueError(f"{where}: should be called on at least two inputs, received "
                             f"{len(shapes)}")
        first = tuple(shapes[0])
        if len(first) > 2 or (len(first) == 2 and first[-1] != 1):
            raise ValueError(f"{where}: all inputs should have shape (batch_size,) or "
                             f"(batch_size, 1); received shape {first}")
        if not all(tuple(s) == first for s in shapes[1:]):
            raise ValueError(f"{where}: all inputs should have equal shape; received shapes "
                             f"{[tuple(s) for s in shapes]}")

    def build(self, input_shape, rng):
        if not isinstance(input_shape, list | tuple) or not all(
                isinstance(s, list | tuple) for s in input_shape):
            raise ValueError(f'HashedCrossing "{self.name}": expected as input a list of at '
                             f"least two tensors, received input shape {input_shape!r}")
        shapes = [(None,) + tuple(s) for s in input_shape]
        self._check_shapes(shapes)
        if self.output_mode == "int":
            return tuple(input_shape[0])
        return (self.num_bins,)

    def ensure_built(self, input_shape, rng=None):
        """Build for a list of input shapes (one per crossed feature, no batch axis)."""
        if not self.built:
            shapes = [tuple(int(d) for d in s) for s in input_shape]
            self.output_shape = tuple(self.build(shapes, rng))
            self.input_shape = shapes
            self.built = True
        return self.output_shape

    def __call__(self, inputs, training: bool = False) -> np.ndarray:
        from scratchnet.layers.input_layer import call_symbolic, is_symbolic

        if is_symbolic(inputs):
            return call_symbolic(self, inputs)
        if not isinstance(inputs, list | tuple):
            raise ValueError(f'HashedCrossing "{self.name}": should be called on a list or tuple '
                             f"of inputs; received {type(inputs).__name__}")
        arrays = [kernels.to_numpy(x) if kernels.is_device_array(x) else np.asarray(x)
                  for x in inputs]
        self._check_shapes([a.shape for a in arrays])
        if not self.built:
            self.ensure_built([a.shape[1:] for a in arrays])
        return self.forward(arrays, training=training)

    def feature_hash(self, column: np.ndarray, where: str) -> np.ndarray:
        """``f(v)`` for each value of one input column: object array of Python ints."""
        if column.dtype.kind in "iu":
            return np.array([int(v) & MASK64 for v in column.tolist()], dtype=object)
        data, _ = _as_strings(column, where)
        if column.dtype.kind == "f":
            raise TypeError(f"{where}: all inputs should have an integer or string dtype; "
                            f"received {column.dtype}")
        distinct, inverse = np.unique(data, return_inverse=True)
        hashed = np.array([fingerprint64(v) for v in distinct.tolist()], dtype=object)
        return hashed[inverse]

    def forward(self, x, training=False):
        where = f'HashedCrossing "{self.name}"'
        arrays = [np.asarray(a) for a in x]
        self._check_shapes([a.shape for a in arrays])
        shape = arrays[0].shape
        columns = [self.feature_hash(a.reshape(-1), where) for a in arrays]  # each (N,)
        ids = np.empty(len(columns[0]), dtype=np.int64)
        for n in range(len(ids)):
            h = CROSS_HASH_KEY
            for column in columns:
                h = fingerprint_cat64(h, column[n])
            ids[n] = h % self.num_bins
        ids = ids.reshape(shape)  # (N,) or (N, 1), as the inputs
        return encode_bins(ids, self.output_mode, self.num_bins, where)

    def backward(self, dy):
        return [None] * len(self.input_shape)  # bin ids have no gradient, for any input

    def get_config(self):
        """As Keras' own ``HashedCrossing.get_config`` writes it: no ``trainable``, ``dtype`` the
        output's."""
        return {"num_bins": self.num_bins, "output_mode": self.output_mode, "sparse": False,
                "name": self.name, "dtype": self.output_dtype}
