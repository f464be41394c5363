"""MultiHeadAttention and GroupedQueryAttention (``GroupQueryAttention``) without Keras: every
weight's and input's gradient against float64 finite differences (tests/gradcheck.py, REL_TOL 1e-6)
with and without masks, causal, value_dim != key_dim, output_shape, use_gate, sliding_window, shared
key/value heads, dropout in training; a hand-computed case; self-attention in a functional model (the
gradients of the two uses of x add up); saving; and the errors for bad input."""

import numpy as np
import pytest

import scratchnet as sn
from tests.gradcheck import REL_TOL, numeric_grad, rel_error

L = sn.layers



def _inputs(rng, n=2, t=4, s=3, dq=5, dv=6, dk=None):
    q = rng.standard_normal((n, t, dq))
    v = rng.standard_normal((n, s, dv))
    k = None if dk is None else rng.standard_normal((n, s, dk))
    return q, v, k


def _randomize(layer, rng):
    """Random biases too (the zeros initializer would hide a bias bug)."""
    layer.set_weights([rng.normal(0, 0.5, w.shape) for w in layer.get_weights()])


def _check(layer, q, v, k, rng, training=False, **call):
    """``layer.backward`` against finite differences of ``L = sum(w * y)`` for every weight and
    every input (query, value, key)."""
    shapes = [q.shape[1:], v.shape[1:], (k if k is not None else v).shape[1:]]
    layer.ensure_built(shapes, rng)
    _randomize(layer, rng)
    seed = 123

    def run():
        if layer.rng is not None:
            layer.rng = np.random.default_rng(seed)  # the same dropout mask at every evaluation
        return layer.forward([q, v], training=training, key=k, **call)

    y = run()
    w = rng.standard_normal(y.shape)

    def loss():
        return float(np.sum(w * run()))

    run()
    grads = layer.backward(w)
    analytic = {name: p.grad.copy() for name, p in layer.params.items()}
    named = [("query", q, grads[0]), ("value", v, grads[1])]
    if k is not None:  # after the mask's None when there is one (keywords in name order)
        named.append(("key", k, grads[-1]))
    for what, x, dx in named:
        err = rel_error(dx, numeric_grad(loss, x))
        assert err < REL_TOL, (what, err)
    for name, p in layer.params.items():
        numeric = numeric_grad(loss, p.value)
        if name == "key/bias":
            # bk adds q . bk to every score of a query row: softmax does not see a shift along
            # its axis, so the true gradient is 0 (both sides are rounding noise).
            assert np.abs(numeric).max() < 1e-8 and np.abs(analytic[name]).max() < 1e-12
            continue
        err = rel_error(analytic[name], numeric)
        assert err < REL_TOL, (name, err)
    return grads


CASES = {
    "plain": (dict(num_heads=2, key_dim=3), {}),
    "separate_key": (dict(num_heads=2, key_dim=3), {"dk": 7}),
    "value_dim_output_shape": (dict(num_heads=3, key_dim=2, value_dim=4, output_shape=5), {"dk": 4}),
    "no_bias": (dict(num_heads=1, key_dim=4, use_bias=False), {}),
    "gate": (dict(num_heads=2, key_dim=3, value_dim=2, use_gate=True), {"dk": 7}),
    "sliding_window": (dict(num_heads=2, key_dim=3, sliding_window=2), {}),
    "gqa": (dict(cls="GroupQueryAttention", head_dim=2, num_query_heads=4, num_key_value_heads=2),
            {"dv": 5, "dk": 3}),
    "gqa_gate_window": (dict(cls="GroupQueryAttention", head_dim=3, num_query_heads=3,
                             num_key_value_heads=1, use_gate=True, sliding_window=2), {"dv": 5}),
}


def _layer(args):
    args = dict(args)
    return getattr(L, args.pop("cls", "MultiHeadAttention"))(**args)


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("masking", ["none", "mask", "causal", "mask_and_causal", "scores"])
def test_gradients_match_finite_differences(case, masking, float64):
    rng = np.random.default_rng(0)
    args, dims = CASES[case]
    q, v, k = _inputs(rng, t=4, s=4, **dims)  # T == S so that the causal mask is square
    call = {}
    if masking in ("mask", "mask_and_causal", "scores"):
        mask = rng.random((2, 4, 4)) > 0.4
        mask[0, 2] = False  # a fully masked query row
        call["attention_mask"] = mask
    if masking in ("causal", "mask_and_causal"):
        call["use_causal_mask"] = True
    if masking == "scores":
        call["return_attention_scores"] = True
        layer = _layer(args)
        shapes = [q.shape[1:], v.shape[1:], (k if k is not None else v).shape[1:]]
        layer.ensure_built(shapes, rng)
        y, scores = layer.forward([q, v], key=k, **call)
        assert scores.shape == (2, layer.num_heads, 4, 4)
        np.testing.assert_array_equal(scores[0, :, 2], 0.0)  # the fully masked row: zeros
        call.pop("return_attention_scores")
        call["use_causal_mask"] = False
        _check_scores_path(layer, q, v, k, rng, call)
        return
    _check(_layer(args), q, v, k, rng, **call)


def _check_scores_path(layer, q, v, k, rng, call):
    """The path Keras takes with dropout > 0 (here in inference, so no mask is drawn)."""
    layer.dropout = 0.5
    _check(layer, q, v, k, rng, training=False, **call)


def test_dropout_in_training_matches_finite_differences(float64):
    rng = np.random.default_rng(1)
    q, v, k = _inputs(rng, dk=4)
    layer = L.MultiHeadAttention(2, 3, dropout=0.4, seed=5)
    mask = rng.random((2, 4, 3)) > 0.3
    _check(layer, q, v, k, rng, training=True, attention_mask=mask)
    assert layer.drop_mask is not None and (layer.drop_mask == 0).any()


def test_cross_attention_lengths_differ(float64):
    rng = np.random.default_rng(2)
    q, v, k = _inputs(rng, t=5, s=2, dk=3)
    _check(L.MultiHeadAttention(2, 2, value_dim=3), q, v, k, rng,
           attention_mask=rng.random((5, 2)) > 0.3)  # a (T, S) mask broadcasts over the batch


def test_self_attention_input_gradient_is_the_sum_of_its_uses(float64):
    """``mha(x, x)``: the gradient with respect to x is dquery + dvalue (value also serves as key)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 5))
    layer = L.MultiHeadAttention(2, 3)
    layer.ensure_built([(4, 5)] * 3, rng)
    _randomize(layer, rng)
    w = rng.standard_normal((2, 4, 5))
    layer.forward([x, x])
    dq, dv = layer.backward(w)
    numeric = numeric_grad(lambda: float(np.sum(w * layer.forward([x, x]))), x)
    assert rel_error(dq + dv, numeric) < REL_TOL


def test_hand_computed_single_head():
    """One head, identity projections, no bias: y = softmax(q k^T / sqrt(2)) v."""
    layer = L.MultiHeadAttention(1, 2, use_bias=False)
    q = np.array([[[1.0, 0.0], [0.0, 2.0]]], dtype=np.float32)
    v = np.array([[[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]]], dtype=np.float32)
    layer.ensure_built([(2, 2), (3, 2), (3, 2)], np.random.default_rng(0))
    layer.set_weights([np.eye(2).reshape(2, 1, 2)] * 3 + [np.eye(2).reshape(1, 2, 2)])
    y, scores = layer(q, v, return_attention_scores=True)
    logits = q[0] @ v[0].T / np.sqrt(2.0)
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    np.testing.assert_allclose(scores[0, 0], p, rtol=1e-6)
    np.testing.assert_allclose(y[0], p @ v[0], rtol=1e-6)
    square = L.MultiHeadAttention(1, 2, use_bias=False)
    square.ensure_built([(2, 2)] * 3, np.random.default_rng(0))
    square.set_weights(layer.get_weights())
    causal = square(q, v[:, :2], use_causal_mask=True)
    np.testing.assert_allclose(causal[0, 0], v[0, 0], rtol=1e-6)  # the first query sees key 0 only


def test_fully_masked_row_follows_keras_paths():
    """Keras' fused path (no dropout, no scores) leaves a fully masked row uniform; its Softmax
    path (scores returned, or dropout) zeroes it. The weights are seeded (the test's outcome must
    not depend on the tests run before it), and the mean is compared at 1e-5 of its largest
    element: a float32 average of three products rounds by ~1e-7 of that, which is more than 1e-5
    of an element that happens to lie near zero."""
    sn.utils.set_random_seed(4)
    rng = np.random.default_rng(4)
    q, v, _ = _inputs(rng)
    q, v = q.astype(np.float32), v.astype(np.float32)
    mask = np.ones((2, 4, 3), bool)
    mask[1, 0] = False
    layer = L.MultiHeadAttention(2, 3, use_bias=False, output_shape=6)
    y = layer(q, v, attention_mask=mask)
    layer.set_weights(layer.get_weights()[:-1] + [np.eye(6, dtype=np.float32).reshape(2, 3, 6)])
    vals = np.einsum("nsd,dhv->nshv", v, layer.params["value/kernel"].value)
    y = layer(q, v, attention_mask=mask)
    mean = vals[1].mean(axis=0).reshape(-1)
    np.testing.assert_allclose(y[1, 0], mean, rtol=1e-5, atol=1e-5 * np.abs(mean).max())
    y, scores = layer(q, v, attention_mask=mask, return_attention_scores=True)
    np.testing.assert_array_equal(y[1, 0], 0.0)
    np.testing.assert_array_equal(scores[1, :, 0], 0.0)


def _transformer_block(seed=0, dropout=0.0):
    sn.utils.set_random_seed(seed)
    ids = sn.Input((6,), dtype="int32", name="ids")
    x = L.Embedding(20, 8)(ids)
    attn = L.MultiHeadAttention(num_heads=2, key_dim=8, dropout=dropout)(x, x)
    attn = L.Dropout(dropout)(attn)
    out1 = L.LayerNormalization(epsilon=1e-6)(L.Add()([x, attn]))
    ffn = L.Dense(8)(L.Dense(16, activation="relu")(out1))
    out2 = L.LayerNormalization(epsilon=1e-6)(L.Add()([out1, L.Dropout(dropout)(ffn)]))
    pooled = L.GlobalAveragePooling1D()(out2)
    outputs = L.Dense(2, activation="softmax")(L.Dense(20, activation="relu")(pooled))
    return sn.Model(ids, outputs, name="transformer", seed=seed)


def test_transformer_block_trains():
    model = _transformer_block()
    model.compile(optimizer=sn.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(5)
    x = rng.integers(0, 20, (16, 6))
    y = (x[:, 0] > 9).astype(int)
    history = model.fit(x, y, epochs=15, batch_size=8, verbose=0, shuffle=False)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_functional_self_attention_gradients_add_up(float64):
    """In a graph, ``mha(x, x)`` reads x twice: dL/dx (through the layer before) adds both."""
    sn.utils.set_random_seed(6)
    inp = sn.Input((4, 3))
    x = L.Dense(5)(inp)
    y = L.MultiHeadAttention(2, 3)(x, x, use_causal_mask=True)
    model = sn.Model(inp, L.GlobalAveragePooling1D()(y))
    model.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(7)
    data, target = rng.standard_normal((3, 4, 3)), rng.standard_normal((3, 5))
    _, grads = model.loss_and_grads(data, target)
    for param, grad in zip(model.weights, grads, strict=True):
        numeric = numeric_grad(lambda: model.loss_and_grads(data, target)[0], param.value)
        if param.name.endswith("key/bias"):  # 0: a shift along the softmax axis (see _check)
            assert np.abs(numeric).max() < 1e-8 and np.abs(grad).max() < 1e-12
            continue
        assert rel_error(grad, numeric) < REL_TOL, param.name


def test_functional_key_and_mask_inputs(tmp_path):
    q_in, v_in, m_in = sn.Input((4, 5), name="q"), sn.Input((3, 6), name="v"), sn.Input((4, 3), name="m")
    k = L.Dense(7)(v_in)
    mha = L.MultiHeadAttention(2, 3, value_dim=2, output_shape=4)
    out = mha(query=q_in, value=v_in, key=k, attention_mask=m_in)
    model = sn.Model([q_in, v_in, m_in], out)
    rng = np.random.default_rng(8)
    q = rng.standard_normal((2, 4, 5)).astype(np.float32)
    v = rng.standard_normal((2, 3, 6)).astype(np.float32)
    m = (rng.random((2, 4, 3)) > 0.3).astype(np.float32)
    dense = next(layer for layer in model.layers if isinstance(layer, L.Dense))
    expected = mha(q, v, key=dense(v), attention_mask=m)
    np.testing.assert_allclose(model.predict([q, v, m], verbose=0), expected, rtol=1e-6)
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    for suffix in (".keras", ".npz"):
        model.save(tmp_path / f"m{suffix}")
        loaded = sn.load_model(tmp_path / f"m{suffix}")
        np.testing.assert_array_equal(loaded.predict([q, v, m], verbose=0),
                                      model.predict([q, v, m], verbose=0))
        assert loaded.get_config()["layers"] == model.get_config()["layers"]


def test_sequential_like_use_is_refused_clearly():
    with pytest.raises(TypeError):
        L.MultiHeadAttention(2, 3)(np.zeros((1, 2, 3)))  # value is required, as in Keras


def test_scores_are_refused_in_a_graph():
    x = sn.Input((4, 5))
    with pytest.raises(ValueError, match="return_attention_scores"):
        L.MultiHeadAttention(2, 3)(x, x, return_attention_scores=True)


@pytest.mark.parametrize("kwargs, match", [
    (dict(num_heads=0, key_dim=2), "num_heads"),
    (dict(num_heads=-1, key_dim=2), "num_heads"),
    (dict(num_heads=2, key_dim=0), "key_dim"),
    (dict(num_heads=2, key_dim=2, value_dim=0), "value_dim"),
    (dict(num_heads=2, key_dim=2, dropout=1.0), "dropout"),
    (dict(num_heads=2, key_dim=2, output_shape=(2, 3)), "output_shape"),
    (dict(num_heads=2, key_dim=2, attention_axes=(1, 2)), "attention_axes"),
    (dict(num_heads=2, key_dim=2, kernel_constraint="nope"), "kernel_constraint"),
    (dict(num_heads=2, key_dim=2, use_gate=1), "use_gate"),
    (dict(num_heads=2, key_dim=2, sliding_window=0), "sliding_window"),
    (dict(num_heads=2, key_dim=2, sliding_window=1.5), "sliding_window"),
    (dict(num_heads=2, key_dim=2, flash_attention=True), "flash_attention"),
    (dict(num_heads=2, key_dim=2, kernel_initializer="nope"), "kernel_initializer"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        L.MultiHeadAttention(**kwargs)


def test_bad_inputs():
    rng = np.random.default_rng(9)
    q, v = rng.standard_normal((2, 4, 5)), rng.standard_normal((2, 3, 6))
    mha = L.MultiHeadAttention(2, 3)
    with pytest.raises(ValueError, match="`value` and `key`"):
        mha(q, v, rng.standard_normal((2, 2, 6)))  # key and value lengths differ
    with pytest.raises(ValueError, match=r"\(batch, sequence, features\)"):
        L.MultiHeadAttention(2, 3)(q[0], v[0])
    mha(q, v)
    with pytest.raises(ValueError, match="incompatible"):
        mha(q[:, :, :4], v)  # other feature size than it was built for
    with pytest.raises(ValueError, match="batch size"):
        mha(q, v[:1])
    with pytest.raises(ValueError, match="attention_mask of shape"):
        mha(q, v, attention_mask=np.ones((2, 3, 4)))  # (S, T) instead of (T, S)
    with pytest.raises(ValueError, match="attention_mask of shape"):
        mha(q, v, attention_mask=np.ones((3,)))
    with pytest.raises(ValueError, match="query_mask"):
        mha(q, v, query_mask=np.ones((2, 4)))
    x = sn.Input((4, 5))
    with pytest.raises(ValueError, match="incompatible"):
        mha(x, x)  # built for value (3, 6)


def test_sliding_window_and_grouped_heads_by_hand():
    """The band mask (|i - j| < w, ANDed with causal) and the head sharing, computed by hand."""
    rng = np.random.default_rng(1)
    layer = L.MultiHeadAttention(1, 2, sliding_window=2)
    q = rng.standard_normal((1, 4, 3)).astype(np.float32)
    _, scores = layer(q, q, return_attention_scores=True, use_causal_mask=True)
    np.testing.assert_array_equal(scores[0, 0] > 0, np.array([[1, 0, 0, 0], [1, 1, 0, 0],
                                                              [0, 1, 1, 0], [0, 0, 1, 1]], bool))
    gqa = L.GroupQueryAttention(2, 4, 2)
    gqa(q, q)
    wq, bq, wk, bk, wv, bv, wo, bo = gqa.get_weights()
    assert wq.shape == (3, 4, 2) and wk.shape == wv.shape == (3, 2, 2) and wo.shape == (4, 2, 3)
    # the same as a MultiHeadAttention whose key/value heads are the shared ones, repeated
    mha = L.MultiHeadAttention(4, 2)
    mha(q, q)
    mha.set_weights([wq, bq, wk.repeat(2, axis=1), bk.repeat(2, axis=0), wv.repeat(2, axis=1),
                     bv.repeat(2, axis=0), wo, bo])
    np.testing.assert_allclose(gqa(q, q), mha(q, q), rtol=1e-6)
    assert gqa.count_params() == 3 * 8 + 8 + 2 * (3 * 4 + 4) + 8 * 3 + 3


@pytest.mark.parametrize("make, match", [
    (lambda: L.GroupQueryAttention(2, 3, 2), "`num_query_heads` must be divisible"),
    (lambda: L.GroupQueryAttention(0, 2, 2), "head_dim"),
    (lambda: L.GroupQueryAttention(2, 2, 0), "num_key_value_heads"),
    (lambda: L.GroupQueryAttention(2, 4, 2, dropout=-0.1), "dropout"),
])
def test_grouped_query_attention_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_grouped_query_attention_config_and_files(tmp_path):
    layer = L.GroupQueryAttention(2, 4, 2, use_gate=True, sliding_window=3, use_bias=False, seed=1)
    config = layer.get_config()
    assert {"head_dim", "num_query_heads", "num_key_value_heads", "use_gate", "sliding_window"} <= set(config)
    assert "num_heads" not in config and L.GroupQueryAttention(**config).get_config() == config
    x = sn.Input((5, 6))
    model = sn.Model(x, L.GlobalAveragePooling1D()(layer(x, x)), seed=0)
    data = np.random.default_rng(2).standard_normal((3, 5, 6)).astype(np.float32)
    for suffix in (".keras", ".npz"):
        model.save(tmp_path / f"m{suffix}")
        back = sn.load_model(tmp_path / f"m{suffix}")
        np.testing.assert_array_equal(back.predict(data, verbose=0), model.predict(data, verbose=0))
