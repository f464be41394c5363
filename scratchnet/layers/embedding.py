"""Embedding: integer ids in, learned vectors out (``keras.layers.Embedding``)."""

from __future__ import annotations

import math
import numbers

import numpy as np

from scratchnet import constraints, kernels, quantizers, regularizers
from scratchnet.layers._args import positive_int
from scratchnet.layers.base import (
    Layer,
    constraint_config,
    float_dtype,
    initializer_config,
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
    ``y[n, t] = q[ids[n, t]] / embeddings_scale[ids[n, t]]``. ``quantize("int4")`` packs the
    table two values a byte along ``output_dim``: one scale per row over ``[-8, 7]``
    (``block_size`` None or -1), or (Keras' default, ``block_size=128``) a scale and a zero point
    per group of ``block_size`` columns of each row, ``y = (q - zero[id, g]) * scale[id, g]``.
    Nothing trains after either (Keras has no gradient for it either).
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
        from scratchnet.layers.input_layer import is_symbolic

        if is_symbolic(x):  # in a traced call(): the mask this layer's output carries
            from scratchnet.layers.masking import mask_tensor

            return mask_tensor(self, x, x.shape)
        ids = x if hasattr(x, "shape") else np.asarray(x)  # a NumPy or CuPy array stays where it is
        return ids != 0  # (N, T) bool, True for real tokens

    def build(self, input_shape, rng):
        if self.quantization_mode is not None:  # made with dtype="int8_from_float32" (a saved one)
            self._quantized_build(self.quantization_mode, self.quantization_config)
            self._is_quantized = True
        else:
            self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                              self.embeddings_initializer, rng,
                                              regularizer=self.embeddings_regularizer,
                                              constraint=self.embeddings_constraint)
        return tuple(input_shape) + (self.output_dim,)

    def _quantized_build(self, mode, config, float_type=None) -> None:
        """Keras' ``_int8_build`` / ``_int4_build``: the quantized table and its scales,
        non-trainable, as zeros and ones (a load or :meth:`_quantize_weights` fills them).

        int8: ``embeddings`` ``(input_dim, output_dim)`` int8 and one ``embeddings_scale`` per row.
        int4: ``embeddings`` packed two values a byte along ``output_dim``,
        ``(input_dim, ceil(output_dim / 2))``; ``embeddings_scale`` ``(input_dim,)`` with
        ``block_size`` None/-1, else ``(input_dim, groups)`` with ``embeddings_zero`` (int8) and
        ``g_idx`` (each output column's group)."""
        if mode not in ("int8", "int4"):
            raise self._unsupported_quantization(mode, ("int8", "int4"))
        float_type = float_type or float_dtype([])
        if mode == "int8":
            self.embeddings = self._quantized_weight(
                "embeddings", np.zeros((self.input_dim, self.output_dim), np.int8))
            self.embeddings_scale = self._quantized_weight(
                "embeddings_scale", np.ones((self.input_dim,), float_type))
            return
        self.block_size = quantizers.block_size_for_layer(self, config)
        if self.block_size == -1:
            self.block_size = None
        self.embeddings = self._quantized_weight(
            "embeddings", np.zeros((self.input_dim, (self.output_dim + 1) // 2), np.int8))
        if self.block_size is None:
            self.embeddings_scale = self._quantized_weight(
                "embeddings_scale", np.ones((self.input_dim,), float_type))
            return
        shape = (self.input_dim, math.ceil(self.output_dim / self.block_size))
        self.embeddings_scale = self._quantized_weight("embeddings_scale", np.ones(shape, float_type))
        self.embeddings_zero = self._quantized_weight("embeddings_zero", np.zeros(shape, np.int8))
        self.g_idx = self._quantized_weight(
            "g_idx", (np.arange(self.output_dim) // self.block_size).astype(np.float32))

    def _quantize_weights(self, mode, config, type_check):
        """``quantize("int8")``: ``q, scale = abs_max_quantize(embeddings, axis=-1)`` (one scale
        per row), then the float table gives way to ``q`` and ``embeddings_scale``. ``"int4"``
        (Keras' ``quantize``): the same over ``[-8, 7]`` (``block_size`` None or -1), or a scale
        and a zero point per group of ``block_size`` columns of each row (the grouped quantizer
        run on the transposed table), packed two values a byte along ``output_dim``."""
        if type_check and type(self) is not Embedding:
            super()._quantize_weights(mode, config, type_check)
        if mode not in ("int8", "int4"):
            raise self._unsupported_quantization(mode, ("int8", "int4"))
        self.quantization_config = config
        table = kernels.to_numpy(self.embeddings.value)
        q, scale, zero = quantize_table(table, mode, config)
        del self.params["embeddings"]
        self._quantized_build(mode, config, table.dtype)
        self.embeddings.value[...] = q
        self.embeddings_scale.value[...] = scale
        if zero is not None:
            self.embeddings_zero.value[...] = zero
        self._set_quantized_policy(mode, getattr(self, "block_size", None))

    def forward(self, x, training=False):
        ids = integer_ids(x, f'Embedding "{self.name}"')
        check_id_range(ids, self.input_dim, f'Embedding "{self.name}"', "input_dim")
        self.ids = ids
        if self.quantization_mode == "int8":  # q[ids] / scale[ids], Keras' _int8_call
            scale = self.embeddings_scale.value
            return self.embeddings.value[ids].astype(scale.dtype) / scale[ids][..., None]
        if self.quantization_mode == "int4":
            return self._int4_lookup(ids)
        return self.embeddings.value[ids]  # (N, ..., output_dim)

    def _int4_lookup(self, ids):
        """Keras' ``_int4_call``: the rows unpacked and looked up, then ``q / scale[ids]`` per row,
        or ``(q - zero[ids][g]) * scale[ids][g]`` with ``g`` each column's group."""
        scale = self.embeddings_scale.value
        xp = kernels.xp_of(scale)
        table = xp.asarray(quantizers.unpack_int4(kernels.to_numpy(self.embeddings.value),
                                                  self.output_dim, axis=-1))
        rows = table[ids].astype(scale.dtype)  # (N, ..., output_dim)
        if self.block_size is None:
            return rows / scale[ids][..., None]
        groups = self.g_idx.value.astype(np.int32)  # (output_dim,)
        zero = self.embeddings_zero.value[ids][..., groups].astype(scale.dtype)  # (N, ..., output_dim)
        return (rows - zero) * scale[ids][..., groups]

    def backward(self, dy):
        if self.quantization_mode is not None:  # int8/int4 table and scales: nothing to train
            return None
        grad = np.zeros_like(self.embeddings.value)  # (input_dim, output_dim)
        flat_ids = self.ids.reshape(-1)  # (N*T,)
        flat_dy = dy.reshape(-1, self.output_dim)  # (N*T, output_dim)
        np.add.at(grad, flat_ids, flat_dy)  # repeated ids add up
        self.embeddings.grad = grad
        return None

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                "embeddings_initializer": initializer_config(self.embeddings_initializer),
                **regularizer_config(self, "embeddings_regularizer", "activity_regularizer"),
                "mask_zero": self.mask_zero,
                **constraint_config(self, "embeddings_constraint"), **quantization_config(self)}


def quantize_table(table: np.ndarray, mode: str, config, axis: int = -1):
    """``(q, scale, zero)``: a 2-D table quantized as Keras' Embedding (``axis=-1``: one scale per
    row, the values of a row quantized together) or ReversibleEmbedding's untied
    ``reverse_embeddings`` (``axis=0``: one scale per column) quantize it.

    int8: ``abs_max_quantize`` over ``axis`` (the config's weight quantizer if it has one).
    int4, ``block_size`` None or -1: the same over ``[-8, 7]``. int4 per group:
    :func:`~scratchnet.quantizers.abs_max_quantize_grouped_with_zero_point` along ``axis`` (the
    table transposed first for ``axis=-1``, as Keras), scale and zero ``(input_dim, groups)``
    or ``(groups, input_dim)``. int4 values come back packed two a byte along ``axis``; ``zero``
    is None unless grouped."""
    zero = None
    block_size = getattr(config, "block_size", None) if mode == "int4" else None
    if block_size is None or block_size == -1:
        value_range = (-127, 127) if mode == "int8" else (-8, 7)
        weight_quantizer = quantizers.QuantizationConfig.weight_quantizer_or_default(
            config, quantizers.AbsMaxQuantizer(axis=axis, value_range=value_range))
        q, scale = weight_quantizer(table, to_numpy=True)
        scale = np.squeeze(scale, axis=axis)  # one per row (axis=-1) or column (axis=0)
    elif axis == 0:
        q, scale, zero = quantizers.abs_max_quantize_grouped_with_zero_point(table, block_size)
    else:  # the groups run along each row: quantize the transpose, then transpose back
        q, scale, zero = quantizers.abs_max_quantize_grouped_with_zero_point(table.T, block_size)
        q, scale, zero = q.T, scale.T, zero.T
    if mode == "int4":
        q = quantizers.pack_int4(q, axis=axis)[0]
    return q, scale, zero


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

    ``quantize("int8")`` / ``quantize("int4")`` (Keras'): the table as Embedding's (one scale per
    vocabulary entry), and untied, ``reverse_embeddings`` with one scale per vocabulary entry
    too. A reverse call then quantizes ``h`` per row (int8's default; int4's default config
    does not) and divides the integer product::

        z = (q_h @ W_q) / (scale_h * scale)     W_q = q^T (tied) or the quantized reverse_embeddings

    (int4 per group: ``z = (q_h @ W~) / scale_h`` with ``W~`` dequantized). Nothing trains after
    that; ``dL/dh`` is Keras' autodiff of this formula (:meth:`_quantized_input_grad`).
    """

    # a functional graph passes the padding mask of h to a reverse call, which ignores it (Keras' too)
    sequence_mask_with_states = True

    def __init__(self, input_dim: int, output_dim: int, tie_weights: bool = True,
                 embeddings_initializer="uniform", embeddings_regularizer=None, embeddings_constraint=None,
                 mask_zero: bool = False, reverse_dtype=None, logit_soft_cap=None,
                 quantization_config=None, name: str | None = None, **kwargs):
        super().__init__(input_dim, output_dim, embeddings_initializer=embeddings_initializer,
                         mask_zero=mask_zero, embeddings_regularizer=embeddings_regularizer,
                         embeddings_constraint=embeddings_constraint,
                         quantization_config=quantization_config, name=name, **kwargs)
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
        output_shape = super().build(input_shape, rng)  # (a quantized one: _quantized_build below)
        if not self.tie_weights and self.quantization_mode is None:
            self.reverse_embeddings = self.add_weight(
                "reverse_embeddings", (self.output_dim, self.input_dim), self.embeddings_initializer, rng)
        return output_shape

    # ------------------------------------------------------------------ quantization
    def _quantized_build(self, mode, config, float_type=None) -> None:
        """Keras' ``_int8_build`` / ``_int4_build``: Embedding's quantized table, the reverse
        call's inputs quantizer (``AbsMaxQuantizer(axis=-1)`` unless the config says otherwise;
        int4's default config has none), and untied, ``reverse_embeddings`` and its scales:
        int8 ``(output_dim, input_dim)`` with one scale per vocabulary entry; int4 packed along
        ``output_dim``, ``(ceil(output_dim / 2), input_dim)``, scale ``(input_dim,)`` or per group
        of ``block_size`` rows ``(groups, input_dim)`` with ``reverse_embeddings_zero`` (a float
        array in Keras, unlike ``embeddings_zero``)."""
        super()._quantized_build(mode, config, float_type)
        float_type = self.embeddings_scale.value.dtype
        self.inputs_quantizer = quantizers.QuantizationConfig.activation_quantizer_or_default(
            config, quantizers.AbsMaxQuantizer(axis=-1))
        if self.tie_weights:
            return
        rows = self.output_dim if mode == "int8" else (self.output_dim + 1) // 2
        self.reverse_embeddings = self._quantized_weight(
            "reverse_embeddings", np.zeros((rows, self.input_dim), np.int8))
        block_size = getattr(self, "block_size", None) if mode == "int4" else None
        shape = (self.input_dim,) if block_size is None else \
            (math.ceil(self.output_dim / block_size), self.input_dim)
        self.reverse_embeddings_scale = self._quantized_weight(
            "reverse_embeddings_scale", np.ones(shape, float_type))
        if block_size is not None:
            self.reverse_embeddings_zero = self._quantized_weight(
                "reverse_embeddings_zero", np.zeros(shape, float_type))

    def _quantize_weights(self, mode, config, type_check):
        """Keras' ``ReversibleEmbedding.quantize``: the table as Embedding's
        (:func:`quantize_table`, one scale per vocabulary entry, which the tied reverse call then
        uses per output column), and untied, ``reverse_embeddings`` ``(output_dim, input_dim)``
        with one scale per column (per group of ``block_size`` rows for int4's default)."""
        if type_check and type(self) is not ReversibleEmbedding:
            Layer._quantize_weights(self, mode, config, type_check)
        if mode not in ("int8", "int4"):
            raise self._unsupported_quantization(mode, ("int8", "int4"))
        self.quantization_config = config
        table = kernels.to_numpy(self.embeddings.value)
        tables = [("embeddings", quantize_table(table, mode, config, axis=-1))]
        if not self.tie_weights:
            reverse = kernels.to_numpy(self.reverse_embeddings.value)
            tables.append(("reverse_embeddings", quantize_table(reverse, mode, config, axis=0)))
            del self.params["reverse_embeddings"]
        del self.params["embeddings"]
        self._quantized_build(mode, config, table.dtype)
        for name, (q, scale, zero) in tables:
            getattr(self, name).value[...] = q
            getattr(self, f"{name}_scale").value[...] = scale
            if zero is not None:
                getattr(self, f"{name}_zero").value[...] = zero
        self._set_quantized_policy(mode, getattr(self, "block_size", None))

    def _quantized_reverse_kernel(self, dtype):
        """``(W, scale)`` of a quantized reverse call (Keras' ``_int8_call`` / ``_int4_call`` with
        ``reverse=True``): ``W`` ``(output_dim, input_dim)`` holds the integers (int8, or int4
        unpacked along ``output_dim``), ``scale`` ``(input_dim,)`` divides the product; per group
        (int4's default) ``W`` is dequantized, ``(q - zero[g]) * scale[g]`` with ``g`` each
        row's group, and ``scale`` is None. Tied, ``W`` is the table transposed and its scales
        the table's (one per vocabulary entry, so per output column here)."""
        if self.tie_weights:
            packed, scale = self.embeddings.value.T, self.embeddings_scale.value
            zero = getattr(self, "embeddings_zero", None)
            scale, zero = (scale, None) if zero is None else (scale.T, zero.value.T)  # (groups, V)
        else:
            packed, scale = self.reverse_embeddings.value, self.reverse_embeddings_scale.value
            zero = getattr(self, "reverse_embeddings_zero", None)
            zero = None if zero is None else zero.value
        if self.quantization_mode == "int8":
            return packed, scale
        xp = kernels.xp_of(packed)
        q = xp.asarray(quantizers.unpack_int4(kernels.to_numpy(packed), self.output_dim, axis=0))
        if zero is None:
            return q, scale
        groups = self.g_idx.value.astype(np.int32)  # (output_dim,): each row's group
        return ((q.astype(dtype) - zero[groups].astype(dtype)) * scale[groups]).astype(dtype), None

    def _quantized_logits(self, x):
        """``(x @ W) / (scale_x * scale)``: ``x`` quantized per row (``q_x, scale_x``) when the
        layer has an inputs quantizer (the product then in exact integers), else ``scale_x = 1``;
        per group, ``(x @ W~) / scale_x`` with the dequantized ``W~``."""
        kernel, scale = self._quantized_reverse_kernel(x.dtype)
        if self.inputs_quantizer is not None:
            q_x, scale_x = self.inputs_quantizer(x)  # (N, ..., D) int8, (N, ..., 1)
        else:
            q_x, scale_x = x, np.ones((1,), x.dtype)
        if scale is None:  # per group: a float product
            product = q_x.astype(x.dtype) @ kernel
            self.quantized_denominator = scale_x
        elif self.inputs_quantizer is not None:  # int8 x int8: exact integers, as Keras' int32 matmul
            product = (q_x.astype(np.int32) @ kernel.astype(np.int32)).astype(x.dtype)
            self.quantized_denominator = scale_x * scale
        else:
            product = x @ kernel.astype(x.dtype)
            self.quantized_denominator = scale_x * scale
        self.quantized_kernel = kernel  # (for backward)
        return product / self.quantized_denominator

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
        float_type = (self.embeddings_scale if self.quantization_mode else self.embeddings).value.dtype
        return self.record_activity(self.forward(x.astype(float_type, copy=False), reverse=True))

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
        if self.quantization_mode is not None:  # Keras' _int8_call / _int4_call, reverse=True
            self.hidden = x
            logits = self._quantized_logits(x)
        else:
            kernel = self.embeddings.value.T if self.tie_weights else self.reverse_embeddings.value  # (D, V)
            if self.reverse_dtype is not None:
                x, kernel = x.astype(self.reverse_dtype), kernel.astype(self.reverse_dtype)
            self.hidden, self.kernel_used = x, kernel
            logits = x @ kernel  # (N, ..., V)
        self.logits = logits
        if self.logit_soft_cap is not None:
            cap = logits.dtype.type(self.logit_soft_cap)
            self.capped = np.tanh(logits / cap)
            logits = self.capped * cap
        return logits

    def backward(self, dy):
        if not self.reversed_:
            dx = super().backward(dy)
            if not self.tie_weights and self.quantization_mode is None:  # the lookup does not read it
                self.reverse_embeddings.grad = np.zeros_like(self.reverse_embeddings.value)
            return dx
        if self.logit_soft_cap is not None:  # d(c tanh(z / c))/dz = 1 - tanh^2
            dy = dy * (1 - np.square(self.capped))
        if self.quantization_mode is not None:  # the quantized weights get no gradient
            return self._quantized_input_grad(dy) if self.compute_input_grad else None
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

    def _quantized_input_grad(self, dz):
        """``dL/dh`` of a quantized reverse call, as Keras' autodiff gives it (Keras defines no
        custom gradient there). Without an inputs quantizer, ``z = (h @ W) / scale``:
        ``dL/dh = (dz / scale) @ W^T``. With one (per row of ``h``), ``h`` reaches ``z`` only
        through ``q_h`` (whose rounding and int8 cast have no gradient) and
        ``scale_h = 127 / (max|h| + eps)``, so ``z = P / scale_h`` (times constants) and only each
        row's largest ``|h|`` gets a gradient::

            dL/dscale_h = -sum_v dz * z / scale_h
            dL/dmax|h|  = dL/dscale_h * (-scale_h^2 / 127)
            dL/dh       = dL/dmax|h| * sign(h) where |h| is its row's max (shared among ties)
        """
        h = self.hidden
        if self.inputs_quantizer is None:
            dh = (dz / self.quantized_denominator) @ self.quantized_kernel.T.astype(dz.dtype)
            return dh.astype(h.dtype)
        _, scale_h = self.inputs_quantizer(h)  # (N, ..., 1)
        if scale_h.shape[-1] != 1:
            raise ValueError(f'ReversibleEmbedding "{self.name}": the gradient of a reverse call needs '
                             "an inputs quantizer with one scale per row of h (axis=-1); received "
                             f"scales of shape {scale_h.shape} for h of shape {h.shape}")
        d_scale = -np.sum(dz * self.logits, axis=-1, keepdims=True) / scale_h  # (N, ..., 1)
        d_amax = d_scale * (-np.square(scale_h) / self.inputs_quantizer.value_range[1])
        magnitude = np.abs(h)
        hit = (magnitude == magnitude.max(axis=-1, keepdims=True)).astype(h.dtype)  # the row's max
        return (d_amax * np.sign(h) * hit / hit.sum(axis=-1, keepdims=True)).astype(h.dtype)

    def get_config(self):
        return {**super().get_config(), "tie_weights": self.tie_weights,
                "reverse_dtype": self.reverse_dtype, "logit_soft_cap": self.logit_soft_cap}
