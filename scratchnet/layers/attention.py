"""MultiHeadAttention (Keras 3.15's ``layers/attention/multi_head_attention.py``) and
GroupedQueryAttention (``grouped_query_attention.py``), forward and backward written out as NumPy
einsums.

Letters in the einsums: ``n`` batch, ``t`` query positions, ``s`` key/value positions, ``d`` input
features, ``h`` heads, ``k`` key_dim, ``v`` value_dim, ``o`` output features.

The layer is called on several tensors, as in Keras: ``mha(query, value)``,
``mha(query, value, key)``, ``mha(query=q, value=v, attention_mask=m)``. Its ``forward`` takes
``[query, value]`` as a list and the rest by keyword; its ``backward`` returns one gradient per
tensor the call read, in the order a graph node lists them: query, value, then the keyword
tensors in name order, attention_mask (its gradient None) and key, each when given.
In a functional model, ``mha(x, x)`` reads ``x`` twice and the graph adds both gradients.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from scratchnet import config, kernels
from scratchnet import initializers as inits
from scratchnet.layers._args import positive_int
from scratchnet.layers.base import (
    Layer,
    constraint_config,
    initializer_config,
    regularizer_config,
    shape_matches,
    weight_args,
)
from scratchnet.layers.einsum_dense import EinsumFans

# Where a mask is False the scores are replaced by a large negative number before the softmax.
# Keras 3.15 has two: its Softmax layer's -1e9 (the path that keeps the attention scores: with
# dropout, or return_attention_scores=True), and dot_product_attention's -0.7 * 3.38953e38 (the
# fused path, taken otherwise). The two differ only in a row whose every key is masked: Softmax
# zeroes such a row after the softmax, dot_product_attention leaves it uniform (1/S each).
SOFTMAX_MASK_VALUE = -1e9
FUSED_MASK_VALUE = -0.7 * 3.38953e38


class MultiHeadAttention(Layer):
    """``keras.layers.MultiHeadAttention`` ("Attention is all you need") on inputs of shape
    ``(batch, sequence, features)``.

    Input shapes: query ``(N, T, dq)``, value ``(N, S, dv)``, key ``(N, S, dk)`` (default: value).
    Output shape: ``(N, T, o)`` with ``o = output_shape`` or ``dq``. Weights, in Keras' order and
    layouts: ``query/kernel (dq, h, k)``, ``query/bias (h, k)``, ``key/kernel (dk, h, k)``,
    ``key/bias``, ``value/kernel (dv, h, v)``, ``value/bias (h, v)``,
    ``attention_output/kernel (h, v, o)``, ``attention_output/bias (o,)`` (biases only with
    ``use_bias=True``).

    Forward, with ``c = 1/sqrt(key_dim)`` and Keras' order of operations::

        Q = einsum("ntd,dhk->nthk", query, Wq) + bq
        K = einsum("nsd,dhk->nshk", key, Wk) + bk
        V = einsum("nsd,dhv->nshv", value, Wv) + bv
        scores = einsum("nshk,nthk->nhts", K, Q * c)        # query scaled BEFORE the product
        scores = where(mask, scores, -1e9)                    # mask (N, T, S), True = attend
        P = softmax(scores, axis=-1)  then  P = where(mask, P, 0)
        A = dropout(P)                                        # training only
        C = einsum("nhts,nshv->nthv", A, V)
        y = einsum("nthv,hvo->nto", C, Wo) + bo

    Without dropout and without ``return_attention_scores`` Keras takes its fused
    ``dot_product_attention`` instead, and so does this layer: ``scores = einsum(K, Q) * c`` (the
    scale after the product), the masked value is ``-0.7 * 3.38953e38``, and P is not zeroed
    afterwards (a fully masked row stays uniform). ``use_causal_mask=True`` adds the mask
    ``j <= i`` (query i sees keys up to i), combined with ``attention_mask`` by AND.

    Backward, from ``dy``::

        dbo = sum_{n,t} dy          dWo = einsum("nthv,nto->hvo", C, dy)
        dC  = einsum("nto,hvo->nthv", dy, Wo)
        dA  = einsum("nthv,nshv->nhts", dC, V)          dV = einsum("nhts,nthv->nshv", A, dC)
        dP  = dA * dropout_mask  (then where(mask, dP, 0) on the scores path)
        dscores = P * (dP - sum_s(dP * P))  then  where(mask, dscores, 0)     (softmax backward)
        dQ  = c * einsum("nhts,nshk->nthk", dscores, K)  dK = c * einsum("nhts,nthk->nshk", dscores, Q)
        and through each projection z = einsum(x, W) + b:
        dW = einsum("ntd,nthk->dhk", x, dz)   db = sum_{n,t} dz   dx = einsum("nthk,dhk->ntd", dz, W)

    ``return_attention_scores=True`` also returns ``P`` (N, h, T, S), before dropout; the backward
    pass takes the gradient of the output only. ``kernel_regularizer``/``bias_regularizer`` and
    ``kernel_constraint``/``bias_constraint`` apply to each of the four kernels/biases.

    ``use_gate=True`` adds a fifth projection ``gate/kernel (dq, h, v)`` (and ``gate/bias``) and
    multiplies the attended values by its sigmoid before the output projection::

        G = sigmoid(einsum("ntd,dhv->nthv", query, Wg) + bg);   y = einsum(C * G, Wo) + bo
        backward: dG = dC' * C,  dC = dC' * G,  dzg = dG * G * (1 - G)   (dC' = dL/d(C * G))

    ``sliding_window=w`` lets query ``i`` see only the keys ``j`` with ``|i - j| < w`` (a band,
    ANDed with the other masks: with ``use_causal_mask`` the keys ``i - w < j <= i``).

    Not implemented (refused with an error): attention over other axes than the sequence axis
    (inputs of rank other than 3), ``output_shape`` of more than one dimension, flash attention,
    and Keras' implicit ``query_mask``/``value_mask``/``key_mask`` (pass ``attention_mask``).
    """

    def __init__(self, num_heads: int, key_dim: int, value_dim: int | None = None,
                 dropout: float = 0.0, use_bias: bool = True, output_shape=None,
                 attention_axes=None, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, use_gate: bool = False, sliding_window=None,
                 flash_attention=None, seed: int | None = None, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        where = f"{type(self).__name__} {self.name!r}"
        self.num_heads = positive_int(num_heads, "num_heads", where)
        self._kv_heads = self.num_heads  # GroupedQueryAttention: fewer key/value heads
        self.key_dim = positive_int(key_dim, "key_dim", where)
        self.value_dim = self.key_dim if value_dim is None else positive_int(value_dim, "value_dim",
                                                                             where)
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0 <= dropout < 1:
            raise ValueError(f"{where}: expected dropout to be a float in [0, 1), received {dropout!r}")
        self.dropout = float(dropout)
        if not isinstance(use_bias, bool | np.bool_):
            raise ValueError(f"{where}: expected use_bias to be True or False, received {use_bias!r}")
        self.use_bias = bool(use_bias)
        self.output_shape_arg = _output_shape(output_shape, where)
        self.attention_axes = _attention_axes(attention_axes, where)
        if not isinstance(use_gate, bool | np.bool_):
            raise ValueError(f"{where}: expected use_gate to be True or False, received {use_gate!r}")
        self.use_gate = bool(use_gate)
        if sliding_window is not None and (isinstance(sliding_window, bool)
                                           or not isinstance(sliding_window, numbers.Integral)
                                           or sliding_window <= 0):
            raise ValueError("`sliding_window` must be `None` or a positive integer. "
                             f"Received: sliding_window={sliding_window}")
        self.sliding_window = None if sliding_window is None else int(sliding_window)
        if flash_attention not in (None, False):
            raise ValueError(f"{where}: scratchnet does not implement flash_attention="
                             f"{flash_attention!r} (Keras' argument); leave it at its default")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise ValueError(f"{where}: expected seed to be an integer or None, received {seed!r}")
        self.seed = seed
        weight_args(self, where, kernel_initializer=kernel_initializer,
                    bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                    bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
                    bias_constraint=bias_constraint)
        self.rng: np.random.Generator | None = None

    # ------------------------------------------------------------------ building
    def ensure_built(self, input_shape, rng=None):
        """``input_shape``: the list ``[query, value, key]`` of sample shapes (no batch axis)."""
        if not self.built:
            if not isinstance(input_shape, list | tuple) or len(input_shape) != 3 \
                    or not all(isinstance(s, tuple | list) for s in input_shape):
                raise ValueError(f'{type(self).__name__} "{self.name}": expected the shapes of '
                                 f"[query, value, key], received {input_shape!r}")
            self.input_shape = [tuple(None if d is None else int(d) for d in s) for s in input_shape]
            rng = rng if rng is not None else np.random.default_rng()
            self.output_shape = tuple(self.build(self.input_shape, rng))
            self.built = True
        return self.output_shape

    def build(self, input_shape, rng):
        query_shape, value_shape, key_shape = input_shape
        for what, shape in (("query", query_shape), ("value", value_shape), ("key", key_shape)):
            if len(shape) != 2:
                raise ValueError(
                    f'{type(self).__name__} "{self.name}": expected {what} of shape (batch, sequence, '
                    f"features), received shape {(None, *shape)}; scratchnet attends over the "
                    "sequence axis of rank-3 inputs only (Keras' attention_axes=None)")
        if value_shape[:-1] != key_shape[:-1]:
            raise ValueError("All dimensions of `value` and `key`, except the last one, must be "
                             f"equal. Received: value_shape={(None, *value_shape)} and "
                             f"key_shape={(None, *key_shape)}")
        h, hkv, k, v = self.num_heads, self._kv_heads, self.key_dim, self.value_dim
        out = self.output_shape_arg[0] if self.output_shape_arg else query_shape[-1]
        # Keras' order: query, key, gate, value, output
        self._projection("query", (query_shape[-1], h, k), (h, k), 1, rng)
        self._projection("key", (key_shape[-1], hkv, k), (hkv, k), 1, rng)
        if self.use_gate:
            self._projection("gate", (query_shape[-1], h, v), (h, v), 1, rng)
        self._projection("value", (value_shape[-1], hkv, v), (hkv, v), 1, rng)
        self._projection("attention_output", (h, v, out), (out,), 2, rng)
        self.rng = self.random_generator(rng)  # the dropout mask on the attention probabilities
        return (query_shape[0], out)

    def _projection(self, name, kernel_shape, bias_shape, n_in, rng) -> None:
        """One of Keras' EinsumDense sub-layers: ``{name}/kernel`` and ``{name}/bias``."""
        # Keras' projections are EinsumDense layers: the first n_in kernel axes are the input's
        init = EinsumFans(inits.get(self.kernel_initializer), list(range(n_in)),
                          list(range(n_in, len(kernel_shape))))
        self.add_weight(f"{name}/kernel", kernel_shape, init, rng, regularizer=self.kernel_regularizer,
                        constraint=self.kernel_constraint)
        if self.use_bias:
            self.add_weight(f"{name}/bias", bias_shape, self.bias_initializer, rng,
                            regularizer=self.bias_regularizer, constraint=self.bias_constraint)

    def _bias(self, name):
        param = self.params.get(f"{name}/bias")
        return None if param is None else param.value

    # ------------------------------------------------------------------ calling
    def __call__(self, query, value, key=None, query_mask=None, value_mask=None, key_mask=None,
                 attention_mask=None, return_attention_scores: bool = False, training: bool = False,
                 use_causal_mask: bool = False):
        from scratchnet.layers.input_layer import call_symbolic_args, is_symbolic

        for arg, mask in (("query_mask", query_mask), ("value_mask", value_mask),
                          ("key_mask", key_mask)):
            if mask is not None:
                raise ValueError(f'{type(self).__name__} "{self.name}": scratchnet does not implement '
                                 f"{arg} (Keras' implicit padding masks); pass attention_mask of "
                                 "shape (batch, T, S) instead")
        for arg, flag in (("return_attention_scores", return_attention_scores),
                          ("use_causal_mask", use_causal_mask)):
            if not isinstance(flag, bool | np.bool_):
                raise ValueError(f'{type(self).__name__} "{self.name}": expected {arg} to be True or '
                                 f"False, received {flag!r}")
        kwargs = {"key": key, "attention_mask": attention_mask}
        kwargs = {name: t for name, t in kwargs.items() if t is not None}
        if is_symbolic(query) or is_symbolic(value):
            if return_attention_scores:
                raise ValueError(f'{type(self).__name__} "{self.name}": return_attention_scores=True '
                                 "is not supported in a functional graph yet (a scratchnet graph "
                                 "node has one output); call the layer on arrays to get the scores")
            if use_causal_mask:
                kwargs["use_causal_mask"] = True
            return call_symbolic_args(self, [query, value], kwargs, self._symbolic_shapes)
        arrays = [np.asarray(query), np.asarray(value)] + ([np.asarray(key)] if key is not None else [])
        dtype = self.weights[0].value.dtype if self.built else config.dtype()
        arrays = [a.astype(dtype, copy=False) for a in arrays]
        self._check_arrays(arrays)
        if attention_mask is not None:
            attention_mask = np.asarray(attention_mask)
        for param in self.weights:
            param.value = kernels.to_backend(param.value)
        xp_arrays = [kernels.to_backend(a) for a in arrays]
        result = self.forward(xp_arrays[:2], training=training,
                              key=xp_arrays[2] if key is not None else None,
                              attention_mask=attention_mask, use_causal_mask=bool(use_causal_mask),
                              return_attention_scores=bool(return_attention_scores))
        if return_attention_scores:
            return kernels.to_numpy(result[0]), kernels.to_numpy(result[1])
        return kernels.to_numpy(result)

    def _symbolic_shapes(self, args, kwargs) -> list:
        """The ``[query, value, key]`` sample shapes of a call on KerasTensors (for building)."""
        key = kwargs.get("key", args[1])
        return [tuple(t.shape[1:]) for t in (args[0], args[1], key)]

    def _check_arrays(self, arrays) -> None:
        """Build on the first call; then the shapes must be those it was built for."""
        for i, a in enumerate(arrays):
            if a.ndim != 3:
                what = ("query", "value", "key")[i]
                raise ValueError(f'{type(self).__name__} "{self.name}": expected {what} of shape '
                                 f"(batch, sequence, features), received shape {a.shape}")
        shapes = [tuple(a.shape[1:]) for a in arrays]
        shapes = shapes + [shapes[1]] if len(shapes) == 2 else shapes
        if not self.built:
            self.ensure_built(shapes)
        elif not all(shape_matches(s, e) for s, e in zip(shapes, self.input_shape, strict=True)):
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: '
                             f"expected shapes [query, value, key]="
                             f"{[(None, *s) for s in self.input_shape]}, found "
                             f"{[(None, *s) for s in shapes]}")
        if len({a.shape[0] for a in arrays}) > 1:
            raise ValueError(f'{type(self).__name__} "{self.name}": query, value and key must have the '
                             f"same batch size, received shapes {[a.shape for a in arrays]}")

    # ------------------------------------------------------------------ the passes
    def forward(self, inputs, training: bool = False, key=None, attention_mask=None,
                use_causal_mask: bool = False, return_attention_scores: bool = False):
        """``inputs = [query, value]``; ``key`` defaults to ``value``. Returns ``y`` (and the
        attention probabilities with ``return_attention_scores=True``)."""
        query, value = inputs
        xp = kernels.xp_of(query)
        self.query, self.value, self.key_given = query, value, key is not None
        self.key = value if key is None else key
        self.mask_given = attention_mask is not None
        wq, wk, wv = (self.params[f"{p}/kernel"].value for p in ("query", "key", "value"))
        c = query.dtype.type(1.0 / math.sqrt(self.key_dim))

        # The three projections (Keras' EinsumDense "abc,cde->abde"), one (N, len, h, size) each.
        q = _einsum("ntd,dhk->nthk", query, wq)
        k = _einsum("nsd,dhk->nshk", self.key, wk)
        v = _einsum("nsd,dhv->nshv", value, wv)
        if self.use_bias:
            q, k, v = q + self._bias("query"), k + self._bias("key"), v + self._bias("value")
        # GroupedQueryAttention: each key/value head serves num_heads / kv_heads query heads
        k, v = self._repeat_heads(k), self._repeat_heads(v)
        self.q, self.k, self.v = q, k, v

        mask = self._mask(attention_mask, use_causal_mask, query.shape[0], query.shape[1],
                          value.shape[1], xp)  # (N or 1, 1, T, S) bool, or None
        # Keras keeps the scores (Softmax layer) with dropout or when asked for them; otherwise
        # it takes the fused dot_product_attention (see the class docstring).
        self.scores_path = self.dropout > 0 or bool(return_attention_scores)
        if self.scores_path:
            scores = _einsum("nshk,nthk->nhts", k, q * c)  # (N, h, T, S)
            fill = SOFTMAX_MASK_VALUE
        else:
            scores = _einsum("nshk,nthk->nhts", k, q) * c
            fill = FUSED_MASK_VALUE
        if mask is not None:
            scores = xp.where(mask, scores, scores.dtype.type(fill))
        probs = softmax(scores)  # over the keys
        self.softmax, self.mask = probs, mask
        if mask is not None and self.scores_path:
            probs = xp.where(mask, probs, probs.dtype.type(0))  # a fully masked row gives 0s
        self.drop_mask = None
        attended = probs
        if training and self.dropout > 0:
            keep = xp.asarray(self.rng.random(probs.shape) >= self.dropout)
            self.drop_mask = keep * probs.dtype.type(1 / (1 - self.dropout))
            attended = probs * self.drop_mask
        self.attended = attended

        context = _einsum("nhts,nshv->nthv", attended, v)  # (N, T, h, v)
        if self.use_gate:  # G = sigmoid(query projected), multiplied in before the output
            z = _einsum("ntd,dhv->nthv", query, self.params["gate/kernel"].value)
            if self.use_bias:
                z = z + self._bias("gate")
            self.attended_values, self.gate = context, 1 / (1 + xp.exp(-z))
            context = context * self.gate
        self.context = context
        y = _einsum("nthv,hvo->nto", context, self.params["attention_output/kernel"].value)
        if self.use_bias:
            y = y + self._bias("attention_output")
        return (y, probs) if return_attention_scores else y

    def _mask(self, attention_mask, use_causal_mask, n, t, s, xp):
        """The boolean mask (True = attend) broadcast to the scores' rank, ``(., ., T, S)``."""
        mask = None
        if attention_mask is not None:
            m = kernels.to_numpy(attention_mask)
            given = m.shape
            while 2 <= m.ndim < 4:  # Keras inserts axes before (T, S): (N, T, S) -> (N, 1, T, S)
                m = np.expand_dims(m, axis=-3)
            target = (n, self.num_heads, t, s)
            if m.ndim != 4 or any(a not in (1, b) for a, b in zip(m.shape, target, strict=True)):
                raise ValueError(f'{type(self).__name__} "{self.name}": attention_mask of shape '
                                 f"{given} does not broadcast to the attention scores "
                                 f"(batch, heads, T, S)={target}; expected (batch, T, S)="
                                 f"{(n, t, s)}")
            mask = m != 0  # Keras casts the mask to bool
        if use_causal_mask:
            causal = np.tril(np.ones((t, s), dtype=bool))[None, None]  # key j <= query i
            mask = causal if mask is None else mask & causal
        if self.sliding_window is not None:  # |i - j| < w
            band = np.abs(np.arange(t)[:, None] - np.arange(s)[None, :]) < self.sliding_window
            mask = band[None, None] if mask is None else mask & band[None, None]
        return None if mask is None else xp.asarray(mask)

    def _repeat_heads(self, x):
        """``(N, S, kv_heads, size)`` -> ``(N, S, num_heads, size)``, each head repeated
        ``num_heads / kv_heads`` times in a row (Keras' ``ops.repeat(x, r, axis=2)``)."""
        r = self.num_heads // self._kv_heads
        return x if r == 1 else kernels.xp_of(x).repeat(x, r, axis=2)

    def _sum_repeated_heads(self, dx):
        """The backward of :meth:`_repeat_heads`: each key/value head gets the sum of its copies'
        gradients."""
        r = self.num_heads // self._kv_heads
        n, s, _, size = dx.shape
        return dx if r == 1 else dx.reshape(n, s, self._kv_heads, r, size).sum(axis=3)

    def backward(self, dy):
        xp = kernels.xp_of(dy)
        c = dy.dtype.type(1.0 / math.sqrt(self.key_dim))
        wo = self.params["attention_output/kernel"]
        wo.grad = _einsum("nthv,nto->hvo", self.context, dy)
        if self.use_bias:
            self.params["attention_output/bias"].grad = dy.sum(axis=(0, 1))
        d_context = _einsum("nto,hvo->nthv", dy, wo.value)
        d_query_gate = None
        if self.use_gate:  # through C * G, then G = sigmoid(z)
            dz = d_context * self.attended_values * self.gate * (1 - self.gate)
            self.params["gate/kernel"].grad = _einsum("ntd,nthv->dhv", self.query, dz)
            if self.use_bias:
                self.params["gate/bias"].grad = dz.sum(axis=(0, 1))
            if self.compute_input_grad:
                d_query_gate = _einsum("nthv,dhv->ntd", dz, self.params["gate/kernel"].value)
            d_context = d_context * self.gate
        d_attended = _einsum("nthv,nshv->nhts", d_context, self.v)
        dv = _einsum("nhts,nthv->nshv", self.attended, d_context)
        dp = d_attended if self.drop_mask is None else d_attended * self.drop_mask
        zero = dp.dtype.type(0)
        if self.mask is not None and self.scores_path:
            dp = xp.where(self.mask, dp, zero)  # through P = where(mask, P, 0)
        d_scores = softmax_backward(self.softmax, dp)
        if self.mask is not None:
            d_scores = xp.where(self.mask, d_scores, zero)  # masked scores were constants
        dq = _einsum("nhts,nshk->nthk", d_scores, self.k) * c
        dk = _einsum("nhts,nthk->nshk", d_scores, self.q) * c
        dk, dv = self._sum_repeated_heads(dk), self._sum_repeated_heads(dv)

        grads = {}
        for name, x, dz in (("query", self.query, dq), ("key", self.key, dk), ("value", self.value, dv)):
            kernel = self.params[f"{name}/kernel"]
            kernel.grad = _einsum("ntd,nthk->dhk", x, dz)
            if self.use_bias:
                self.params[f"{name}/bias"].grad = dz.sum(axis=(0, 1))
            if self.compute_input_grad:
                grads[name] = _einsum("nthk,dhk->ntd", dz, kernel.value)
        if not self.compute_input_grad:
            return [None] * (2 + self.key_given + self.mask_given)
        dquery, dvalue, dkey = grads["query"], grads["value"], grads["key"]
        if d_query_gate is not None:
            dquery = dquery + d_query_gate
        if not self.key_given:  # key is value: both uses add up
            dvalue = dvalue + dkey
        # keyword tensors in name order, as a graph node lists its inputs: attention_mask, key
        return [dquery, dvalue] + ([None] if self.mask_given else []) + ([dkey] if self.key_given else [])

    # ------------------------------------------------------------------ saving
    def keras_weight_groups(self):
        """Keras keeps the weights in four EinsumDense sub-layers: ``query_dense/vars``, ... in a
        .keras file (its Softmax and Dropout sub-layers have empty groups)."""
        groups = [("_softmax/vars", f"{self.name}/softmax", []),
                  ("_dropout_layer/vars", f"{self.name}/dropout", [])]
        subs = (("query_dense", "query"), ("key_dense", "key"), ("_gate_dense", "gate"),
                ("value_dense", "value"), ("output_dense", "attention_output"))
        for sub, keras_name in subs:
            if keras_name == "gate" and not self.use_gate:
                continue
            params = [p for key, p in self.params.items() if key.startswith(f"{keras_name}/")]
            path = sub if sub.startswith("_") else self._keras_prefix + sub
            groups.append((f"{path}/vars", f"{self.name}/{keras_name}", params))
        return groups

    # a .keras file's sub-layer paths: MultiHeadAttention's are query_dense, ..., (_gate_dense),
    # GroupedQueryAttention's _query_dense, ... (Keras strips no underscore there)
    _keras_prefix = ""

    def keras_build_config(self) -> dict:
        """Keras' ``build_config``: MultiHeadAttention builds from the three input shapes."""
        query, value, key = ([None, *s] for s in self.input_shape)
        shapes = {"query_shape": query, "value_shape": value}
        if key != value:
            shapes["key_shape"] = key
        return {"shapes_dict": shapes}

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
                "value_dim": self.value_dim, "dropout": self.dropout, "use_bias": self.use_bias,
                "output_shape": self.output_shape_arg,
                "attention_axes": self.attention_axes, "use_gate": self.use_gate,
                "sliding_window": self.sliding_window, "seed": self.seed,
                "kernel_initializer": initializer_config(self.kernel_initializer),
                "bias_initializer": initializer_config(self.bias_initializer),
                **regularizer_config(self, "kernel_regularizer", "bias_regularizer", "activity_regularizer"),
                **constraint_config(self, "kernel_constraint", "bias_constraint")}


class GroupedQueryAttention(MultiHeadAttention):
    """``keras.layers.GroupQueryAttention`` (the class Keras names ``GroupedQueryAttention``;
    Ainslie et al. 2023, the attention of Llama 2/3 and Mistral): ``num_query_heads`` query heads share
    ``num_key_value_heads`` key/value heads, each key/value head serving
    ``r = num_query_heads / num_key_value_heads`` query heads in a row. Fewer key/value heads
    means fewer weights and a smaller key/value cache, for the same number of attention patterns.

    It is :class:`MultiHeadAttention` with ``key_dim = value_dim = head_dim``, the key and value
    projections ``(d, num_key_value_heads, head_dim)``, and one step more after them::

        K = repeat(K, r, axis=heads);  V = repeat(V, r, axis=heads)     # (N, S, h_q, head_dim)

    (backward: each key/value head gets the sum of its ``r`` copies' gradients). The output
    projection maps back to the query's feature size, which must equal the value's (Keras' rule).
    Weights, in Keras' order: ``query/kernel (d, h_q, head_dim)``, ``key/kernel (d, h_kv,
    head_dim)``, (``gate/kernel``), ``value/kernel (d, h_kv, head_dim)``,
    ``attention_output/kernel (h_q, head_dim, d)``, each followed by its bias with ``use_bias``.
    ``use_gate``, ``sliding_window``, masks and dropout as in MultiHeadAttention.
    """

    _keras_prefix = "_"
    keras_name = "GroupQueryAttention"  # the class_name Keras writes into a .keras config

    def __init__(self, head_dim: int, num_query_heads: int, num_key_value_heads: int,
                 dropout: float = 0.0, use_bias: bool = True, sliding_window=None,
                 flash_attention=None, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, use_gate: bool = False, seed: int | None = None,
                 name: str | None = None, **kwargs):
        where = f"GroupedQueryAttention {name or 'grouped_query_attention'!r}"
        head_dim = positive_int(head_dim, "head_dim", where)
        num_key_value_heads = positive_int(num_key_value_heads, "num_key_value_heads", where)
        if positive_int(num_query_heads, "num_query_heads", where) % num_key_value_heads:
            raise ValueError("`num_query_heads` must be divisible by `num_key_value_heads`. Received: "
                             f"num_query_heads={num_query_heads}, "
                             f"num_key_value_heads={num_key_value_heads}")
        super().__init__(num_query_heads, head_dim, value_dim=head_dim, dropout=dropout,
                         use_bias=use_bias, kernel_initializer=kernel_initializer,
                         bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                         bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
                         bias_constraint=bias_constraint, use_gate=use_gate,
                         sliding_window=sliding_window, flash_attention=flash_attention, seed=seed,
                         name=name, **kwargs)
        self.head_dim, self.num_query_heads = self.key_dim, self.num_heads
        self.num_key_value_heads = self._kv_heads = num_key_value_heads

    def build(self, input_shape, rng):
        query_shape, value_shape, _ = input_shape
        if query_shape[-1] != value_shape[-1]:
            raise ValueError("The last dimension of `query_shape` and `value_shape` must be equal, "
                             f"but are {query_shape[-1]}, {value_shape[-1]}. Received: "
                             f"query_shape={(None, *query_shape)}, value_shape={(None, *value_shape)}")
        return super().build(input_shape, rng)

    def get_config(self):
        config = super().get_config()
        for key in ("num_heads", "key_dim", "value_dim", "output_shape", "attention_axes"):
            del config[key]
        return {**config, "head_dim": self.head_dim, "num_query_heads": self.num_query_heads,
                "num_key_value_heads": self.num_key_value_heads}


def softmax(scores):
    """``exp(s - max) / sum(exp(s - max))`` over the last axis (the keys)."""
    xp = kernels.xp_of(scores)
    e = xp.exp(scores - scores.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_backward(p, dp):
    """The gradient of the scores from that of ``p = softmax(scores)``:
    ``p * (dp - sum(dp * p))`` over the last axis."""
    return p * (dp - (dp * p).sum(axis=-1, keepdims=True))


def _einsum(equation: str, a, b):
    """``einsum`` of two operands on their backend (NumPy or CuPy), contracted with BLAS."""
    return kernels.xp_of(a).einsum(equation, a, b, optimize=True)


def _output_shape(value, where: str):
    """Keras' ``output_shape``: None, an int or a one-entry tuple/list (more axes not implemented)."""
    if value is None:
        return None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, tuple | list) or len(value) != 1:
        raise ValueError(f"{where}: expected output_shape to be None, an int or a tuple of one int "
                         f"(scratchnet does not implement outputs of more axes), received {value!r}")
    return (positive_int(value[0], "output_shape", where),)


def _attention_axes(value, where: str):
    """None, or an axis that names the sequence axis of rank-3 inputs (1 or -2, as Keras counts
    them on the projected ``(N, T, heads, size)``): kept as None, the same computation."""
    if value is None:
        return None
    axes = [value] if isinstance(value, numbers.Integral) and not isinstance(value, bool) else value
    if isinstance(axes, list | tuple) and len(axes) == 1 and axes[0] in (1, -2) \
            and not isinstance(axes[0], bool):
        return None
    raise ValueError(f"{where}: scratchnet implements attention over the sequence axis of "
                     f"(batch, sequence, features) inputs only (attention_axes=None, or [1]); "
                     f"received attention_axes={value!r}")

