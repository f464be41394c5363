"""Embedding: integer ids in, learned vectors out (``keras.layers.Embedding``)."""

from __future__ import annotations

import numbers

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


_REVERSE_DTYPES = ("float16", "float32", "float64")


class ReversibleEmbedding(Embedding):
    """``keras.layers.ReversibleEmbedding(input_dim, output_dim, tie_weights=True,
    embeddings_initializer="uniform", embeddings_regularizer=None, embeddings_constraint=None,
    mask_zero=False, reverse_dtype=None, logit_soft_cap=None)``: an :class:`Embedding` that a
    language model also calls backwards, from hidden vectors to one logit per vocabulary entry::

        layer(ids)                  y = embeddings[ids]                 (N, T) -> (N, T, output_dim)
        layer(h, reverse=True)      z = h @ W                   (N, T, output_dim) -> (N, T, input_dim)
                                    W = embeddings^T (tie_weights) or reverse_embeddings
                                    with logit_soft_cap c: z <- c * tanh(z / c)

    ``reverse_embeddings`` ``(output_dim, input_dim)`` exists only with ``tie_weights=False``
    (initialized like ``embeddings``). ``reverse_dtype`` casts ``h`` and ``W`` before the product.

    One layer, two calls, one matrix: in a functional model the two calls are two nodes of the
    same layer, and the model keeps each node's cache and adds the weights' gradients of both
    (``Functional.backward``), so the tied matrix gets::

        dL/dembeddings = scatter-add of dL/dy over ids   +   (h^T dL/dz)^T

    ``backward`` follows the call that ran last (a functional model puts each node's cache back
    first): after a reverse call it sets ``grad`` of every weight (zeros for a weight that call does
    not read, so the model's sum over the calls stays right) and returns ``dL/dh = dL/dz W^T``.
    """

    # a functional graph passes the padding mask of h to a reverse call, which ignores it (Keras' too)
    sequence_mask_with_states = True

    def __init__(self, input_dim: int, output_dim: int, tie_weights: bool = True,
                 embeddings_initializer="uniform", embeddings_regularizer=None, embeddings_constraint=None,
                 mask_zero: bool = False, reverse_dtype=None, logit_soft_cap=None,
                 name: str | None = None, **kwargs):
        super().__init__(input_dim, output_dim, embeddings_initializer=embeddings_initializer,
                         mask_zero=mask_zero, embeddings_regularizer=embeddings_regularizer,
                         embeddings_constraint=embeddings_constraint, name=name, **kwargs)
        where = f"ReversibleEmbedding {self.name!r}"
        if not isinstance(tie_weights, bool | np.bool_):
            raise ValueError(f"{where}: expected tie_weights to be True or False, received {tie_weights!r}")
        if reverse_dtype is not None and str(reverse_dtype) not in _REVERSE_DTYPES:
            raise ValueError(f"{where}: expected reverse_dtype to be None or one of {_REVERSE_DTYPES}, "
                             f"received {reverse_dtype!r}")
        if logit_soft_cap is not None and (isinstance(logit_soft_cap, bool) or not isinstance(
                logit_soft_cap, numbers.Real) or not logit_soft_cap > 0):
            raise ValueError(f"{where}: expected logit_soft_cap to be None or a positive number, "
                             f"received {logit_soft_cap!r}")
        self.tie_weights = bool(tie_weights)
        self.reverse_dtype = None if reverse_dtype is None else str(reverse_dtype)
        self.logit_soft_cap = logit_soft_cap
        self.reversed_ = False  # whether the last forward pass was a reverse call

    def build(self, input_shape, rng):
        output_shape = super().build(input_shape, rng)
        if not self.tie_weights:
            self.reverse_embeddings = self.add_weight(
                "reverse_embeddings", (self.output_dim, self.input_dim), self.embeddings_initializer, rng)
        return output_shape

    # ------------------------------------------------------------------ calling
    def __call__(self, x, reverse: bool = False, training: bool | None = None):
        """``layer(ids)``, or ``layer(h, reverse=True)``: arrays give arrays, KerasTensors record a
        graph node (a reverse call's node keeps ``reverse=True``, as Keras' does)."""
        from scratchnet.layers import input_layer

        if not isinstance(reverse, bool | np.bool_):
            raise TypeError(f'ReversibleEmbedding "{self.name}": expected reverse to be True or False, '
                            f"received {reverse!r}")
        if not reverse:
            return super().__call__(x, training=training)
        if input_layer.is_symbolic(x):
            shape = self._reverse_shape(tuple(x.shape[1:]))
            if not self.built:
                input_layer._check_rng()
                self.ensure_built(shape[:-1], input_layer._GLOBAL["rng"])
            node = input_layer.Node(self, [x], kwargs={"reverse": True})
            dtype = self.reverse_dtype or input_layer._output_dtype(self, [x])
            return input_layer._record_outputs(self, node, shape[:-1] + (self.input_dim,), dtype)
        x = np.asarray(x)
        if x.dtype.kind not in "iuf":
            raise TypeError(f'ReversibleEmbedding "{self.name}": reverse=True expects float hidden '
                            f"vectors, received an array of dtype {x.dtype}")
        shape = self._reverse_shape(tuple(x.shape[1:]))
        if not self.built:
            self.ensure_built(shape[:-1])
        self.clear_activity()
        return self.record_activity(self.forward(x.astype(self.embeddings.value.dtype, copy=False),
                                                 reverse=True))

    def _reverse_shape(self, shape: tuple) -> tuple:
        if not shape or shape[-1] != self.output_dim:
            raise ValueError(f'ReversibleEmbedding "{self.name}": reverse=True expects hidden vectors '
                             f"of shape (batch, ..., {self.output_dim}) (output_dim), received shape "
                             f"{(None, *shape)}")
        return shape

    def compute_mask(self, x, mask=None):
        """As Embedding's (``ids != 0`` with ``mask_zero``); a reverse call's output has none."""
        return None if self.reversed_ else super().compute_mask(x, mask)

    # ------------------------------------------------------------------ forward and backward
    def forward(self, x, training=False, reverse: bool = False, mask=None):
        self.reversed_ = bool(reverse)
        if not reverse:
            return super().forward(x, training=training)
        kernel = self.embeddings.value.T if self.tie_weights else self.reverse_embeddings.value  # (D, V)
        if self.reverse_dtype is not None:
            x, kernel = x.astype(self.reverse_dtype), kernel.astype(self.reverse_dtype)
        self.hidden, self.kernel_used = x, kernel
        logits = x @ kernel  # (N, ..., V)
        if self.logit_soft_cap is not None:
            cap = logits.dtype.type(self.logit_soft_cap)
            self.capped = np.tanh(logits / cap)
            logits = self.capped * cap
        return logits

    def backward(self, dy):
        if not self.reversed_:
            dx = super().backward(dy)
            if not self.tie_weights:  # the lookup does not read reverse_embeddings
                self.reverse_embeddings.grad = np.zeros_like(self.reverse_embeddings.value)
            return dx
        if self.logit_soft_cap is not None:  # d(c tanh(z / c))/dz = 1 - tanh^2
            dy = dy * (1 - np.square(self.capped))
        flat_h = self.hidden.reshape(-1, self.output_dim)  # (N*T, D)
        dkernel = flat_h.T @ dy.reshape(-1, self.input_dim)  # (D, V)
        if self.tie_weights:
            self.embeddings.grad = dkernel.T.astype(self.embeddings.value.dtype)
        else:
            self.embeddings.grad = np.zeros_like(self.embeddings.value)
            self.reverse_embeddings.grad = dkernel.astype(self.reverse_embeddings.value.dtype)
        if not self.compute_input_grad:
            return None
        return (dy @ self.kernel_used.T).astype(self.embeddings.value.dtype)  # (N, ..., D)

    def get_config(self):
        return {**super().get_config(), "tie_weights": self.tie_weights,
                "reverse_dtype": self.reverse_dtype, "logit_soft_cap": self.logit_soft_cap}
