"""Attention and AdditiveAttention without Keras: every input's and weight's gradient against
float64 finite differences (score modes, scales, masks, causal masks, key or none, dropout),
hand-computed values, the mask they hand on, graph use, saving, and clear errors.
(Keras' numbers: parity_tests/test_attention_layers_keras.py.)"""

import numpy as np
import pytest

import scratchnet as sn
from tests.gradcheck import REL_TOL, numeric_grad, rel_error

L = sn.layers
QM = np.array([[1, 0, 1], [1, 1, 1]], bool)
VM = np.array([[1, 1, 0, 1], [1, 0, 1, 1]], bool)  # key 0 kept: no query step sees only padding

LAYERS = {
    "dot": lambda: L.Attention(),
    "dot_scale": lambda: L.Attention(use_scale=True),
    "concat": lambda: L.Attention(score_mode="concat"),
    "concat_scale": lambda: L.Attention(use_scale=True, score_mode="concat"),
    "additive": lambda: L.AdditiveAttention(),
    "additive_no_scale": lambda: L.AdditiveAttention(use_scale=False),
}
CALLS = {"plain": {}, "masks": {"mask": [QM, VM]}, "causal": {"use_causal_mask": True},
         "both": {"mask": [None, VM], "use_causal_mask": True}}


def _check(layer, inputs, rng, training=False, **call):
    layer(inputs, **call)  # builds
    for p in layer.weights:  # away from the initial 1s
        p.value[...] = rng.uniform(0.5, 1.5, size=p.value.shape)
    w = rng.standard_normal((inputs[0].shape[0], inputs[0].shape[1], inputs[1].shape[-1]))

    def loss():
        if training:
            layer.rng = np.random.default_rng(7)  # the same dropout mask at each evaluation
        return float(np.sum(w * layer.forward(inputs, training=training, **call)))

    loss()
    grads = layer.backward(w)
    analytic = {name: p.grad.copy() for name, p in layer.params.items()}
    for x, g in zip(inputs, grads, strict=True):
        err = rel_error(g, numeric_grad(loss, x))
        assert err < REL_TOL, ("input", err)
    for name, p in layer.params.items():
        err = rel_error(analytic[name], numeric_grad(loss, p.value))
        assert err < REL_TOL, (name, err)


@pytest.mark.parametrize("with_key", [False, True], ids=["qv", "qvk"])
@pytest.mark.parametrize("call", CALLS, ids=list(CALLS))
@pytest.mark.parametrize("kind", LAYERS, ids=list(LAYERS))
def test_gradients_match_finite_differences(kind, call, with_key, float64, rng):
    q, v, k = rng.standard_normal((2, 3, 5)), rng.standard_normal((2, 4, 5)), rng.standard_normal((2, 4, 5))
    _check(LAYERS[kind](), [q, v, k] if with_key else [q, v], rng, **CALLS[call])


@pytest.mark.parametrize("kind", ["dot_scale", "additive"])
def test_dropout_in_training_matches_finite_differences(kind, float64, rng):
    layer = L.Attention(use_scale=True, dropout=0.4) if kind == "dot_scale" else \
        L.AdditiveAttention(dropout=0.4)
    q, v = rng.standard_normal((2, 3, 5)), rng.standard_normal((2, 4, 5))
    _check(layer, [q, v], rng, training=True, mask=[QM, VM])
    out, scores = layer([q, v], training=True, return_attention_scores=True)
    assert np.any(scores == 0) and not np.allclose(scores.sum(-1), 1)  # Keras returns A after dropout
    _, scores = layer([q, v], return_attention_scores=True)
    np.testing.assert_allclose(scores.sum(-1), 1)  # no dropout outside training


@pytest.mark.parametrize("read_output", [True, False])
@pytest.mark.parametrize("kind", ["concat_scale", "additive"])
def test_the_scores_gradient_joins_as_a_second_output(kind, read_output, float64, rng):
    layer = LAYERS[kind]()
    q, v = rng.standard_normal((2, 3, 5)), rng.standard_normal((2, 4, 5))
    layer([q, v])
    w_out, w_scores = rng.standard_normal((2, 3, 5)), rng.standard_normal((2, 3, 4))
    call = {"mask": [QM, VM], "use_causal_mask": True, "return_attention_scores": True}

    def loss():
        out, scores = layer.forward([q, v], **call)
        return float(np.sum(w_scores * scores) + (np.sum(w_out * out) if read_output else 0.0))

    loss()
    grads = layer.backward([w_out if read_output else None, w_scores])
    analytic = {name: p.grad.copy() for name, p in layer.params.items()}
    for x, g in zip([q, v], grads, strict=True):
        assert rel_error(g, numeric_grad(loss, x)) < REL_TOL
    for name, p in layer.params.items():
        assert rel_error(analytic[name], numeric_grad(loss, p.value)) < REL_TOL, name


def test_dot_product_by_hand():
    q = np.array([[[1.0, 0.0]]], np.float32)  # (1, 1, 2)
    k = np.array([[[1.0, 0.0], [0.0, 1.0]]], np.float32)  # (1, 2, 2)
    v = np.array([[[10.0], [20.0]]], np.float32)
    out, scores = L.Attention()([q, v, k], return_attention_scores=True)
    p = np.exp(1) / (np.exp(1) + 1)  # softmax([1, 0])
    np.testing.assert_allclose(scores, [[[p, 1 - p]]], rtol=1e-6)
    np.testing.assert_allclose(out, [[[10 * p + 20 * (1 - p)]]], rtol=1e-6)
    out = L.Attention()([q, v, k], mask=[None, np.array([[False, True]])])
    np.testing.assert_allclose(out, [[[20.0]]])  # the masked key gets exactly 0 weight
    out = L.Attention()([q, v, k], mask=[np.array([[False]]), None])
    np.testing.assert_array_equal(out, [[[0.0]]])  # a masked query step outputs 0


def test_additive_by_hand():
    q = np.array([[[0.5, -0.5]]], np.float32)
    k = np.array([[[0.5, 0.5], [0.0, 0.0]]], np.float32)
    layer = L.AdditiveAttention()
    _, scores = layer([q, k], return_attention_scores=True)
    layer.set_weights([np.array([2.0, 1.0], np.float32)])
    _, scores = layer([q, k], return_attention_scores=True)
    s = [2 * np.tanh(1.0) + np.tanh(0.0), 2 * np.tanh(0.5) + np.tanh(-0.5)]
    np.testing.assert_allclose(scores[0, 0], np.exp(s) / np.exp(s).sum(), rtol=1e-6)


def test_the_output_carries_the_query_mask_through_a_graph():
    ids = sn.Input((4,), dtype="int32")
    emb = L.Embedding(10, 3, mask_zero=True)(ids)
    seq = L.Attention()([emb, emb])
    model = sn.Model(ids, L.GlobalAveragePooling1D()(seq))
    x = np.array([[1, 2, 0, 0], [3, 4, 5, 0]])
    pooled = model.predict(x, verbose=0)
    emb_values = model.layers[1].embeddings.value[x]
    out = L.Attention()([emb_values, emb_values], mask=[x != 0, x != 0])
    np.testing.assert_allclose(pooled, [out[0, :2].mean(0), out[1, :3].mean(0)], rtol=1e-6)


@pytest.mark.parametrize("suffix", [".keras", ".npz"])
def test_saved_and_loaded_in_a_graph(tmp_path, suffix):
    q_in, v_in = sn.Input((3, 4)), sn.Input((5, 4))
    a = L.Attention(use_scale=True, score_mode="concat", name="att")([q_in, v_in], use_causal_mask=True)
    b = L.AdditiveAttention()([q_in, v_in, v_in])
    model = sn.Model([q_in, v_in], L.Concatenate()([a, b]))
    model.layers[2].scale.value[...] = 0.7  # not the initial 1
    x = [np.random.default_rng(0).normal(size=(2, 3, 4)), np.random.default_rng(1).normal(size=(2, 5, 4))]
    model.save(tmp_path / f"m{suffix}")
    loaded = sn.load_model(tmp_path / f"m{suffix}")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [n.kwargs for n in loaded.get_layer("att")._inbound_nodes] == [{"use_causal_mask": True}]
    assert loaded.get_layer("att").get_config() == model.get_layer("att").get_config()


def test_scalar_weights_stay_scalars():
    # add_weight once stored a 0-d weight as shape (1,) (np.ascontiguousarray's ndim >= 1)
    layer = L.Attention(use_scale=True, score_mode="concat")
    layer([np.ones((1, 2, 3)), np.ones((1, 2, 3))])
    assert [p.value.shape for p in layer.weights] == [(), ()]


def test_a_built_layer_takes_other_lengths_and_a_key():
    layer = L.AdditiveAttention()
    layer([np.ones((1, 2, 3)), np.ones((1, 4, 3))])
    assert layer([np.ones((2, 5, 3)), np.ones((2, 1, 6)), np.ones((2, 1, 3))]).shape == (2, 5, 6)
    with pytest.raises(ValueError, match="expected query features 3"):
        layer([np.ones((1, 2, 4)), np.ones((1, 2, 4))])


@pytest.mark.parametrize("make, match", [
    (lambda: L.Attention(use_scale=1), "expected use_scale to be True or False, received 1"),
    (lambda: L.Attention(dropout=1.0), "expected dropout to be a float in"),
    (lambda: L.AdditiveAttention(seed="x"), "expected seed to be an integer or None"),
    (lambda: L.Attention()([np.ones((1, 2, 3)), np.ones((1, 4, 3)), np.ones((1, 5, 3))]),
     "value and key must have the same number of steps"),
    (lambda: L.Attention()([np.ones((2, 3)), np.ones((2, 3))]), r"expected query of shape \(batch, steps"),
    (lambda: L.Attention()([sn.Input((2, 3)), sn.Input((2, 3))], mask=[None, None]),
     "in a functional graph the masks come from the inputs"),
    (lambda: L.Attention()([np.ones((1, 2, 3))] * 2, mask=[None, np.ones((1, 3), bool)]),
     r"expected value_mask of shape \(batch, steps\)=\(1, 2\), received shape \(1, 3\)"),
    (lambda: L.Attention()([np.ones((1, 2, 3))] * 2, use_causal_mask="yes"),
     "expected use_causal_mask to be True or False"),
])
def test_bad_input_names_what_was_expected(make, match):
    with pytest.raises(ValueError, match=match):
        make()
