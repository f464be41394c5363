"""Attention without projections: ``Attention`` (Luong's dot-product attention) and
``AdditiveAttention`` (Bahdanau's), as Keras 3.15's ``layers/attention/attention.py`` and
``additive_attention.py``, forward and backward written out in NumPy.

Both are called on a LIST, ``layer([query, value])`` or ``layer([query, value, key])`` (key
defaults to value), with ``mask=[query_mask, value_mask]`` (in a functional graph the masks come
from the inputs, e.g. ``Embedding(mask_zero=True)``), ``use_causal_mask``, ``training`` and
``return_attention_scores``. Shapes: query ``(N, Tq, d)``, value ``(N, Tv, dv)``, key
``(N, Tv, d)``; output ``(N, Tq, dv)``; scores and weights ``(N, Tq, Tv)``.
"""

from __future__ import annotations

import numbers

import numpy as np

from scratchnet import config, kernels
from scratchnet.layers.attention import softmax, softmax_backward
from scratchnet.layers.base import Layer

# Keras subtracts this from the scores of masked keys (float32: exp(-1e9 + ...) is exactly 0).
MASK_OFFSET = 1e9


class Attention(Layer):
    """``keras.layers.Attention``: dot-product attention (Luong-style).

    Forward, with ``q`` (N, Tq, d), ``k`` (N, Tv, d), ``v`` (N, Tv, dv)::

        score_mode="dot":     S = q @ k^T                    (N, Tq, Tv), then S * scale (use_scale)
        score_mode="concat":  S = c * sum_d tanh(scale * (q_i + k_j))   (scale only with use_scale)
        S = where(mask, S, S - 1e9)     mask: value_mask (N, 1, Tv) AND causal (j <= i), if given
        P = softmax(S) over the keys;   A = dropout(P) (training only)
        out = A @ v                     then where(query_mask, out, 0) per query step

    Weights (Keras' names, in this order): ``scale`` () initialized to 1 (``use_scale=True``),
    ``concat_score_weight`` () initialized to 1 (``score_mode="concat"``).

    Backward, from ``dout``: ``dout <- where(query_mask, dout, 0)``, ``dv = A^T @ dout``,
    ``dP = (dout @ v^T) * dropout_mask``, ``dS = P * (dP - sum_j dP * P)`` (the masked keys' P is 0,
    so they get 0); then for "dot" ``dscale = sum(dS * q @ k^T)``, ``dS <- dS * scale``,
    ``dq = dS @ k``, ``dk = dS^T @ q``; for "concat", with ``T = tanh(scale * (q_i + k_j))``,
    ``dc = sum(dS * sum_d T)``, ``dZ = c * dS * (1 - T^2)``, ``dscale = sum(dZ * (q_i + k_j))``,
    ``dq = scale * sum_j dZ``, ``dk = scale * sum_i dZ``. Without a key, ``dvalue = dv + dk``.
    ``backward`` returns ``[dquery, dvalue]`` (and ``dkey`` when a key was given).

    ``return_attention_scores=True`` also returns ``A`` (the weights after dropout, as Keras); in a
    functional graph the node then has two outputs, and ``backward([dout, dA])`` adds the
    scores' gradient to ``dA``. The output carries the query's mask.
    """

    score_modes = ("dot", "concat")
    # A functional graph hands this layer the masks of all its inputs (Keras' mask=[q, v]).
    takes_list_masks = True

    def __init__(self, use_scale: bool = False, score_mode: str = "dot", dropout: float = 0.0,
                 seed: int | None = None, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        where = f'{type(self).__name__} "{self.name}"'
        if not isinstance(use_scale, bool | np.bool_):
            raise ValueError(f"{where}: expected use_scale to be True or False, received {use_scale!r}")
        self.use_scale = bool(use_scale)
        if score_mode not in self.score_modes:
            raise ValueError("Invalid value for argument score_mode. Expected one of {'dot', "
                             f"'concat'}}. Received: score_mode={score_mode}")
        self.score_mode = score_mode
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0 <= dropout < 1:
            raise ValueError(f"{where}: expected dropout to be a float in [0, 1), received {dropout!r}")
        self.dropout = dropout
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise ValueError(f"{where}: expected seed to be an integer or None, received {seed!r}")
        self.seed = seed
        self.scale = self.concat_score_weight = None
        self.rng: np.random.Generator | None = None

    # ------------------------------------------------------------------ building
    def ensure_built(self, input_shape, rng=None):
        """``input_shape``: the list ``[query, value]`` or ``[query, value, key]`` of sample shapes."""
        if not self.built:
            _check_list(self, input_shape, "inputs")
        return super().ensure_built(input_shape, rng)  # (Layer's: a list of shapes kept as one)

    def build(self, input_shape, rng):
        query, value = self.check_shapes(input_shape)
        self.build_weights(query, rng)
        self.rng = self.random_generator(rng)  # the dropout mask on the attention weights
        return (query[0], value[-1])

    def check_shapes(self, input_shape) -> tuple:
        """Raise a clear error unless ``[query, value(, key)]`` fit together; return the query's
        and the value's shapes."""
        query, value = input_shape[0], input_shape[1]
        key = input_shape[2] if len(input_shape) > 2 else value
        for what, shape in (("query", query), ("value", value), ("key", key)):
            if len(shape) != 2:
                raise ValueError(f'{type(self).__name__} "{self.name}": expected {what} of shape '
                                 f"(batch, steps, features), received shape {(None, *shape)}")
        if None not in (key[0], value[0]) and key[0] != value[0]:
            raise ValueError(f'{type(self).__name__} "{self.name}": value and key must have the same '
                             f"number of steps, received value {(None, *value)} and key {(None, *key)}")
        if query[-1] != key[-1]:
            raise ValueError(f'{type(self).__name__} "{self.name}": query and key must have the same '
                             f"last dimension, received query {(None, *query)} and key {(None, *key)}")
        return query, value

    def build_weights(self, query_shape, rng) -> None:
        if self.use_scale:
            self.scale = self.add_weight("scale", (), "ones", rng)
        if self.score_mode == "concat":
            self.concat_score_weight = self.add_weight("concat_score_weight", (), "ones", rng)

    # ------------------------------------------------------------------ calling
    def __call__(self, inputs, mask=None, training: bool = False,
                 return_attention_scores: bool = False, use_causal_mask: bool = False):
        from scratchnet.layers.input_layer import call_symbolic, is_symbolic

        _check_list(self, inputs, "inputs")
        if mask is not None:
            _check_list(self, mask, "mask")
        for arg, flag in (("return_attention_scores", return_attention_scores),
                          ("use_causal_mask", use_causal_mask)):
            if not isinstance(flag, bool | np.bool_):
                raise ValueError(f'{type(self).__name__} "{self.name}": expected {arg} to be True or '
                                 f"False, received {flag!r}")
        if is_symbolic(inputs):
            if mask is not None:
                raise ValueError(
                    f'{type(self).__name__} "{self.name}": in a functional graph the masks come '
                    "from the inputs (Embedding(mask_zero=True), Masking); call the layer on "
                    "arrays to pass mask=[query_mask, value_mask] yourself")
            # with the scores, the node has two outputs: [output, scores (N, Tq, Tv)]
            self._scores_shape = (inputs[0].shape[1], inputs[1].shape[1]) \
                if return_attention_scores else None
            try:
                output = call_symbolic(self, list(inputs))
            finally:
                self._scores_shape = None
            node = (output[0] if return_attention_scores else output).node
            # the call's keywords, saved as Keras records them
            node.kwargs = {k: True for k, flag in (("return_attention_scores", return_attention_scores),
                                                   ("use_causal_mask", use_causal_mask)) if flag}
            return output
        dtype = self.weights[0].value.dtype if self.weights else config.dtype()
        arrays = [np.asarray(x).astype(dtype, copy=False) for x in inputs]
        for i, a in enumerate(arrays):
            if a.ndim != 3:
                raise ValueError(f'{type(self).__name__} "{self.name}": expected '
                                 f"{('query', 'value', 'key')[i]} of shape (batch, steps, features), "
                                 f"received shape {a.shape}")
        shapes = [tuple(a.shape[1:]) for a in arrays]
        if not self.built:
            self.ensure_built(shapes)
        else:  # as Keras, a built layer takes other lengths, and a key or none
            query, _ = self.check_shapes(shapes)
            if query[-1] != self.input_shape[0][-1]:
                raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: '
                                 f"expected query features {self.input_shape[0][-1]}, found shape "
                                 f"{arrays[0].shape}")
        if len({a.shape[0] for a in arrays}) > 1:
            raise ValueError(f'{type(self).__name__} "{self.name}": query, value and key must have '
                             f"the same batch size, received shapes {[a.shape for a in arrays]}")
        masks = None if mask is None else [None if m is None else np.asarray(m) for m in mask]
        for what, m, a in zip(("query_mask", "value_mask"), masks or [], arrays, strict=False):
            if m is not None and m.shape != a.shape[:2]:
                raise ValueError(f'{type(self).__name__} "{self.name}": expected {what} of shape '
                                 f"(batch, steps)={a.shape[:2]}, received shape {m.shape}")
        for param in self.weights:
            param.value = kernels.to_backend(param.value)
        result = self.forward([kernels.to_backend(a) for a in arrays], training=training, mask=masks,
                              use_causal_mask=bool(use_causal_mask),
                              return_attention_scores=bool(return_attention_scores))
        if return_attention_scores:
            return kernels.to_numpy(result[0]), kernels.to_numpy(result[1])
        return kernels.to_numpy(result)

    def extra_output_shapes(self) -> list[tuple]:
        """The scores' shape ``(Tq, Tv)`` while a graph call with ``return_attention_scores=True``
        is recorded (``input_layer._record_outputs``); otherwise no second output."""
        shape = getattr(self, "_scores_shape", None)
        return [shape] if shape is not None else []

    def compute_mask(self, inputs, mask=None):
        """The output's mask is the query's (Keras' ``compute_mask``)."""
        if mask is None or mask[0] is None:
            return None
        return mask[0]

    # ------------------------------------------------------------------ the passes
    def scores(self, q, k):
        """The attention scores ``(N, Tq, Tv)``; keeps what :meth:`scores_backward` needs."""
        xp = kernels.xp_of(q)
        if self.score_mode == "dot":
            self.raw = xp.matmul(q, xp.swapaxes(k, -2, -1))  # q @ k^T
            return self.raw * self.scale.value if self.use_scale else self.raw
        self.qk = q[:, :, None, :] + k[:, None, :, :]  # (N, Tq, Tv, d)
        self.t = xp.tanh(self.scale.value * self.qk if self.use_scale else self.qk)
        return self.concat_score_weight.value * self.t.sum(axis=-1)

    def scores_backward(self, d_scores, q, k):
        """``(dq, dk)`` from the gradient of the scores; fills the weights' gradients."""
        xp = kernels.xp_of(q)
        if self.score_mode == "dot":
            if self.use_scale:
                self.scale.grad = xp.asarray((d_scores * self.raw).sum(), dtype=q.dtype)
                d_scores = d_scores * self.scale.value
            return xp.matmul(d_scores, k), xp.matmul(xp.swapaxes(d_scores, -2, -1), q)
        c = self.concat_score_weight
        c.grad = xp.asarray((d_scores * self.t.sum(axis=-1)).sum(), dtype=q.dtype)
        dz = (c.value * d_scores)[..., None] * (1 - self.t * self.t)  # (N, Tq, Tv, d)
        if self.use_scale:
            self.scale.grad = xp.asarray((dz * self.qk).sum(), dtype=q.dtype)
            dz = dz * self.scale.value
        return dz.sum(axis=2), dz.sum(axis=1)

    def forward(self, inputs, training: bool = False, mask=None, use_causal_mask: bool = False,
                return_attention_scores: bool = False):
        """``inputs = [query, value]`` or ``[query, value, key]``; ``mask = [query_mask,
        value_mask]`` (each ``(N, T)`` bool or None). Returns the output (and the weights)."""
        q, v = inputs[0], inputs[1]
        k = inputs[2] if len(inputs) > 2 else v
        xp = kernels.xp_of(q)
        self.q, self.v, self.k, self.key_given = q, v, k, len(inputs) > 2
        q_mask = None if not mask or mask[0] is None else xp.asarray(mask[0]).astype(bool)
        v_mask = None if not mask or mask[1] is None else xp.asarray(mask[1]).astype(bool)
        scores = self.scores(q, k)
        keep = None if v_mask is None else v_mask[:, None, :]  # (N, 1, Tv)
        if use_causal_mask:
            tq, tv = scores.shape[-2:]
            causal = xp.asarray(np.tril(np.ones((tq, tv), dtype=bool)))[None]  # key j <= query i
            keep = causal if keep is None else keep & causal
        if keep is not None:
            scores = xp.where(keep, scores, scores - scores.dtype.type(MASK_OFFSET))
        self.probs = softmax(scores)  # (N, Tq, Tv)
        self.drop_mask = None
        attended = self.probs
        if training and self.dropout > 0:
            kept = xp.asarray(self.rng.random(attended.shape) >= self.dropout)
            self.drop_mask = kept * attended.dtype.type(1 / (1 - self.dropout))
            attended = attended * self.drop_mask
        self.attended = attended
        out = xp.matmul(attended, v)  # (N, Tq, dv)
        self.q_mask = None if q_mask is None else q_mask[:, :, None]
        if self.q_mask is not None:
            out = xp.where(self.q_mask, out, out.dtype.type(0))
        return (out, attended) if return_attention_scores else out

    def backward(self, dy):
        """``dy``: dL/d(output), or in a graph that reads the scores too ``[dy, dscores]`` (None
        for the one nothing reads); the scores' gradient joins that of ``A``."""
        d_scores_out = None
        if isinstance(dy, list | tuple):
            dy, d_scores_out = dy
            if dy is None:
                dy = kernels.xp_of(d_scores_out).zeros(
                    self.attended.shape[:2] + self.v.shape[-1:], d_scores_out.dtype)
        xp = kernels.xp_of(dy)
        if self.q_mask is not None:
            dy = xp.where(self.q_mask, dy, dy.dtype.type(0))
        dv = xp.matmul(xp.swapaxes(self.attended, -2, -1), dy)  # A^T @ dy
        dp = xp.matmul(dy, xp.swapaxes(self.v, -2, -1))  # dy @ v^T
        if d_scores_out is not None:  # the scores returned are A
            dp = dp + d_scores_out
        if self.drop_mask is not None:
            dp = dp * self.drop_mask
        dq, dk = self.scores_backward(softmax_backward(self.probs, dp), self.q, self.k)
        if not self.compute_input_grad:
            return [None] * (3 if self.key_given else 2)
        if not self.key_given:  # key is value: both uses add up
            return [dq, dv + dk]
        return [dq, dv, dk]

    # ------------------------------------------------------------------ saving
    def keras_build_config(self) -> dict:
        """Keras' ``build_config``: the list of the call's input shapes."""
        return {"input_shape": [[None, *s] for s in self.input_shape]}

    def get_config(self):
        return {**super().get_config(), "use_scale": self.use_scale, "score_mode": self.score_mode,
                "dropout": self.dropout, "seed": self.seed}


class AdditiveAttention(Attention):
    """``keras.layers.AdditiveAttention``: additive attention (Bahdanau-style).

    As :class:`Attention` but with the scores ``S = sum_d scale_d * tanh(q_i + k_j)_d``
    (``(N, Tq, Tv)``; without ``use_scale`` a plain sum). Weight: ``scale`` of shape ``(d,)``,
    glorot_uniform (``use_scale=True``, the default).

    Backward of the scores, with ``T = tanh(q_i + k_j)``: ``dscale = sum_{n,i,j} dS * T``,
    ``dZ = dS * scale * (1 - T^2)``, ``dq = sum_j dZ``, ``dk = sum_i dZ``.
    """

    def __init__(self, use_scale: bool = True, dropout: float = 0.0, seed: int | None = None,
                 name: str | None = None, **kwargs):
        super().__init__(use_scale=use_scale, dropout=dropout, seed=seed, name=name, **kwargs)

    def build_weights(self, query_shape, rng) -> None:
        if self.use_scale:
            self.scale = self.add_weight("scale", (query_shape[-1],), "glorot_uniform", rng)

    def scores(self, q, k):
        xp = kernels.xp_of(q)
        self.t = xp.tanh(q[:, :, None, :] + k[:, None, :, :])  # (N, Tq, Tv, d)
        return (self.scale.value * self.t if self.use_scale else self.t).sum(axis=-1)

    def scores_backward(self, d_scores, q, k):
        dt = d_scores[..., None]  # (N, Tq, Tv, 1)
        if self.use_scale:
            self.scale.grad = (dt * self.t).sum(axis=(0, 1, 2))
            dt = dt * self.scale.value
        dz = dt * (1 - self.t * self.t)
        return dz.sum(axis=2), dz.sum(axis=1)

    def get_config(self):
        config = super().get_config()
        del config["score_mode"]
        return config


def _check_list(layer, value, what: str) -> None:
    """Keras' ``_validate_inputs``: a list of 2 or 3 (inputs or masks)."""
    name = type(layer).__name__
    if what == "inputs" and not isinstance(value, list | tuple):
        raise ValueError(f"{name} layer must be called on a list of inputs, namely [query, value] "
                         f"or [query, value, key]. Received: inputs={value!r:.200}.")
    if what == "mask" and not isinstance(value, list | tuple):
        raise ValueError(f"{name} layer mask must be a list, namely [query_mask, value_mask]. "
                         f"Received: mask={value!r:.200}.")
    if not 2 <= len(value) <= 3:
        kind = "inputs list" if what == "inputs" else "mask list"
        raise ValueError(f"{name} layer accepts {kind} of length 2 or 3, namely [query, value] or "
                         f"[query, value, key]. Received length: {len(value)}.")
