"""Embedding: integer ids in, learned vectors out (``keras.layers.Embedding``)."""

from __future__ import annotations

import numpy as np

from scratchnet import constraints, kernels, quantizers, regularizers
from scratchnet.layers._args import positive_int
from scratchnet.layers.base import (
    Layer,
    constraint_config,
    float_dtype,
    quantization_config,
    regularizer_config,
)


class Embedding(Layer):
    """Look up one learned vector per integer id: ``y[n, t] = embeddings[ids[n, t]]``.

    Input shape: ``(N, ...)`` integer ids in ``[0, input_dim)`` (``(N, T)`` typically; floats are
    accepted only if every value is a whole number). Output shape: ``(N, ..., output_dim)``.
    ``embeddings`` is ``(input_dim, output_dim)``, initialised ``U(-0.05, 0.05)`` like Keras'
    ``"uniform"``. An id outside ``[0, input_dim)`` raises a ``ValueError`` naming the layer
    (TensorFlow raises ``InvalidArgumentError`` on CPU).

    Backward: only the rows that were looked up get a gradient,
    ``dL/dembeddings[v] = sum of dy[n, t] over every position with ids[n, t] == v``
    (``np.add.at``, so an id used twice adds up twice); rows not used stay 0. This is Keras'
    ``IndexedSlices`` gradient written densely. Ids have no gradient: ``backward`` returns ``None``,
    so an Embedding comes first in a model, or after layers without weights (StringLookup).

    ``mask_zero=True`` (Keras' argument) declares id 0 to be padding: the layer's output then
    carries the mask ``ids != 0`` (``compute_mask``), which a model hands on to the layers after
    it (``scratchnet.layers.masking``): ``GlobalAveragePooling1D`` averages over the real tokens
    only, so padding changes neither the output nor any gradient. Row 0 is still looked up and
    trained like any other; with ``mask_zero`` the vocabulary is ids 1 to ``input_dim - 1``.

    ``quantize("int8")`` (Keras' post-training quantization, :mod:`scratchnet.quantizers`): the
    table becomes int8 with one ``embeddings_scale`` per row (abs-max over ``output_dim``), both
    non-trainable, and a lookup dequantizes its rows:
    ``y[n, t] = q[ids[n, t]] / embeddings_scale[ids[n, t]]``. Nothing trains after that (Keras
    has no gradient for it either).
    """

    input_dtype = "int32"

    def __init__(self, input_dim: int, output_dim: int, embeddings_initializer="uniform",
                 mask_zero: bool = False, embeddings_regularizer=None, embeddings_constraint=None,
                 quantization_config=None, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.quantization_config = quantizers.config_argument(quantization_config,
                                                              f"Embedding {self.name!r}")
        self.input_dim = positive_int(input_dim, "input_dim", f"Embedding {self.name!r}")
        self.output_dim = positive_int(output_dim, "output_dim", f"Embedding {self.name!r}")
        self.embeddings_initializer = embeddings_initializer
        self.embeddings_regularizer = regularizers.get(
            embeddings_regularizer, f"Embedding {self.name!r}: embeddings_regularizer")
        self.embeddings_constraint = constraints.get(
            embeddings_constraint, f"Embedding {self.name!r}: embeddings_constraint")
        if not isinstance(mask_zero, bool | np.bool_):
            raise ValueError(f"Embedding {self.name!r}: expected mask_zero to be a bool, received "
                             f"{mask_zero!r}")
        self.mask_zero = bool(mask_zero)
        self.ids: np.ndarray | None = None

    @property
    def supports_masking(self) -> bool:
        return self.mask_zero

    def compute_mask(self, x, mask=None):
        """The padding mask of the output: ``ids != 0`` with ``mask_zero``, else None."""
        if not self.mask_zero:
            return None
        ids = x if hasattr(x, "shape") else np.asarray(x)  # a NumPy or CuPy array stays where it is
        return ids != 0  # (N, T) bool, True for real tokens

    def build(self, input_shape, rng):
        if self.quantization_mode is not None:  # made with dtype="int8_from_float32" (a saved one)
            self._int8_build()
            self._is_quantized = True
        else:
            self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                              self.embeddings_initializer, rng,
                                              regularizer=self.embeddings_regularizer,
                                              constraint=self.embeddings_constraint)
        return tuple(input_shape) + (self.output_dim,)

    def _int8_build(self, float_type=None) -> None:
        """Keras' ``_int8_build``: an int8 table of zeros and one scale per row (ones), both
        non-trainable (a load or :meth:`_quantize_weights` fills them)."""
        if self.quantization_mode not in (None, "int8"):
            raise self._unsupported_quantization(self.quantization_mode)
        shape = (self.input_dim, self.output_dim)
        self.embeddings = self._quantized_weight("embeddings", np.zeros(shape, np.int8))
        self.embeddings_scale = self._quantized_weight(
            "embeddings_scale", np.ones((self.input_dim,), float_type or float_dtype([])))

    def _quantize_weights(self, mode, config, type_check):
        """``quantize("int8")``: ``q, scale = abs_max_quantize(embeddings, axis=-1)`` (one scale
        per row), then the float table gives way to ``q`` and ``embeddings_scale``."""
        if type_check and type(self) is not Embedding:
            super()._quantize_weights(mode, config, type_check)
        if mode != "int8":
            raise self._unsupported_quantization(mode)
        self.quantization_config = config
        weight_quantizer = quantizers.QuantizationConfig.weight_quantizer_or_default(
            config, quantizers.AbsMaxQuantizer(axis=-1))
        table = kernels.to_numpy(self.embeddings.value)
        q, scale = weight_quantizer(table, to_numpy=True)
        del self.params["embeddings"]
        self._int8_build(table.dtype)
        self.embeddings.value[...] = q  # (input_dim, output_dim) int8
        self.embeddings_scale.value[...] = np.squeeze(scale, axis=-1)  # (input_dim,)
        self._set_quantized_policy(mode)

    def forward(self, x, training=False):
        ids = integer_ids(x, f'Embedding "{self.name}"')
        check_id_range(ids, self.input_dim, f'Embedding "{self.name}"', "input_dim")
        self.ids = ids
        if self.quantization_mode is not None:  # q[ids] / scale[ids], Keras' _int8_call
            scale = self.embeddings_scale.value
            return self.embeddings.value[ids].astype(scale.dtype) / scale[ids][..., None]
        return self.embeddings.value[ids]  # (N, ..., output_dim)

    def backward(self, dy):
        if self.quantization_mode is not None:  # int8 table and scales: nothing to train
            return None
        grad = np.zeros_like(self.embeddings.value)  # (input_dim, output_dim)
        flat_ids = self.ids.reshape(-1)  # (N*T,)
        flat_dy = dy.reshape(-1, self.output_dim)  # (N*T, output_dim)
        np.add.at(grad, flat_ids, flat_dy)  # repeated ids add up
        self.embeddings.grad = grad
        return None

    def get_config(self):
        init = self.embeddings_initializer
        if not isinstance(init, str):
            from scratchnet import initializers

            init = initializers.serialize(init)
        return {**super().get_config(), "input_dim": self.input_dim,
                "output_dim": self.output_dim, "embeddings_initializer": init,
                "mask_zero": self.mask_zero, **regularizer_config(self, "embeddings_regularizer"),
                **constraint_config(self, "embeddings_constraint"), **quantization_config(self)}


def integer_ids(x, where: str) -> np.ndarray:
    """``x`` as an int64 array of ids; whole-number floats are accepted, anything else raises."""
    x = np.asarray(x)
    if x.dtype.kind in "iu":
        return x.astype(np.int64, copy=False)
    if x.dtype.kind == "f":
        if not np.all(np.isfinite(x)) or np.any(x != np.round(x)):
            raise ValueError(f"{where}: expected integer ids, received floats that are not whole "
                             "numbers")
        return x.astype(np.int64)
    raise TypeError(f"{where}: expected integer ids, received an array of dtype {x.dtype}")


def check_id_range(ids: np.ndarray, size: int, where: str, arg: str) -> None:
    """Raise naming ``where`` if any id is outside ``[0, size)``."""
    bad = (ids < 0) | (ids >= size)
    if np.any(bad):
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{where}: expected ids in [0, {size - 1}] ({arg}={size}), received "
            f"{int(ids[first])} at index {first}"
        )
