"""Attention (Luong) and AdditiveAttention (Bahdanau) against Keras 3.15: outputs, attention
scores, every gradient (inputs and weights, against TensorFlow's tape) over score modes, scales,
masks, causal masks and keys; weights, configs and default names; masks arriving through a
functional graph (Embedding(mask_zero=True)); keras.io's docstring model trained step by step;
tfnet both ways and .keras files both ways.

Tolerances: driver.py's FORWARD_RTOL for outputs and scores, GRAD_RTOL for gradients,
TRAJECTORY_RTOL for weights after training steps.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import scratchnet as sn
from parity_tests.driver import (
    FORWARD_RTOL,
    GRAD_RTOL,
    assert_close,
    check_forward,
    check_round_trip,
    check_trajectory,
    make_twins,
)

L = sn.layers
QM = np.array([[1, 1, 0], [1, 1, 1]], bool)  # query mask (N=2, Tq=3)
VM = np.array([[1, 1, 1, 0, 0], [1, 0, 1, 1, 1]], bool)  # value mask (N=2, Tv=5)

LAYERS = [
    ("dot", dict(), "Attention"),
    ("dot_scale", dict(use_scale=True), "Attention"),
    ("concat", dict(score_mode="concat"), "Attention"),
    ("concat_scale", dict(use_scale=True, score_mode="concat"), "Attention"),
    ("additive", dict(), "AdditiveAttention"),
    ("additive_no_scale", dict(use_scale=False), "AdditiveAttention"),
]
CALLS = [
    ("plain", dict()),
    ("masks", dict(mask=[QM, VM])),
    ("value_mask", dict(mask=[None, VM])),
    ("causal", dict(use_causal_mask=True)),
    ("masks_causal", dict(mask=[QM, VM], use_causal_mask=True)),
    # query step 0 of sample 1 sees only a padded key: every score of its row is s - 1e9, which
    # float32 rounds to one value (uniform weights), and the gradient still flows through it
    ("fully_masked_row", dict(mask=[None, np.array([[1, 1, 1, 0, 0], [0, 1, 1, 1, 1]], bool)],
                              use_causal_mask=True)),
]


def _inputs(with_key: bool, seed: int = 0):
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(2, 3, 4)).astype(np.float32)
    v = rng.normal(size=(2, 5, 6 if with_key else 4)).astype(np.float32)
    k = rng.normal(size=(2, 5, 4)).astype(np.float32)
    return [q, v, k] if with_key else [q, v]


def _twin_layers(kind, kwargs, inputs):
    """A scratchnet layer and its Keras twin, with the same (non-default) weights."""
    layer = getattr(L, kind)(**kwargs)
    klayer = getattr(keras.layers, kind)(**kwargs)
    klayer([tf.constant(x) for x in inputs])  # builds
    rng = np.random.default_rng(5)
    for w in klayer.weights:  # away from Keras' initial 1s: the scale's gradient then shows
        w.assign(rng.uniform(0.5, 1.5, size=w.shape).astype(np.float32))
    layer(inputs)
    layer.set_weights([w.numpy() for w in klayer.weights])
    return layer, klayer


@pytest.mark.parametrize("with_key", [False, True], ids=["qv", "qvk"])
@pytest.mark.parametrize("call_name,call", CALLS, ids=[c[0] for c in CALLS])
@pytest.mark.parametrize("name,kwargs,kind", LAYERS, ids=[c[0] for c in LAYERS])
def test_outputs_scores_and_gradients_as_keras(name, kwargs, kind, call_name, call, with_key):
    inputs = _inputs(with_key)
    layer, klayer = _twin_layers(kind, kwargs, inputs)
    out, scores = layer(inputs, return_attention_scores=True, **call)
    tensors = [tf.constant(x) for x in inputs]
    dy = np.random.default_rng(9).normal(size=out.shape).astype(np.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(tensors)
        kout, kscores = klayer(tensors, return_attention_scores=True, **call)
        loss = tf.reduce_sum(kout * dy)
    assert_close(out, kout.numpy(), FORWARD_RTOL, f"{name} {call_name} output")
    assert_close(scores, kscores.numpy(), FORWARD_RTOL, f"{name} {call_name} scores")
    # the backward pass, from this call's cache
    layer.forward([np.asarray(x) for x in inputs], training=True, **call)
    grads = layer.backward(dy)
    kgrads = tape.gradient(loss, tensors + list(klayer.trainable_weights))
    for what, g, kg in zip(["query", "value", "key"][:len(inputs)], grads, kgrads, strict=False):
        assert_close(g, kg.numpy(), GRAD_RTOL, f"{name} {call_name} d{what}")
    for param, kg in zip(layer.weights, kgrads[len(inputs):], strict=True):
        assert_close(param.grad, kg.numpy(), GRAD_RTOL, f"{name} {call_name} d{param.name}")


@pytest.mark.parametrize("name,kwargs,kind", LAYERS, ids=[c[0] for c in LAYERS])
def test_weights_config_names_and_output_mask_as_keras(name, kwargs, kind):
    inputs = _inputs(False)
    layer = getattr(L, kind)(**kwargs)
    klayer = getattr(keras.layers, kind)(**kwargs)
    layer(inputs)
    klayer(inputs)
    assert layer.name == klayer.name.rstrip("_0123456789")
    assert [w.name for w in layer.weights] == [f"{layer.name}/{w.name}" for w in klayer.weights]
    assert [w.shape for w in layer.weights] == [tuple(w.shape) for w in klayer.weights]
    if kind == "Attention":  # ones; AdditiveAttention's scale: glorot_uniform, limit sqrt(3 / d)
        assert all(np.all(w.value == 1) for w in layer.weights)
    elif layer.weights:
        assert np.all(np.abs(layer.weights[0].value) <= np.sqrt(3 / 4))
    kconfig = {k: v for k, v in klayer.get_config().items() if k != "name"}
    assert {k: v for k, v in layer.get_config().items() if k != "name"} == kconfig
    kmask = klayer.compute_mask(inputs, [tf.constant(QM), tf.constant(VM)])
    np.testing.assert_array_equal(layer.compute_mask(inputs, [QM, VM]), kmask.numpy())
    assert layer.compute_mask(inputs, None) is None and klayer.compute_mask(inputs, None) is None


def test_errors_follow_keras():
    q, v = _inputs(False)
    for call, match in ((lambda a: a(q), "must be called on a list of inputs"),
                        (lambda a: a([q]), "accepts inputs list of length 2 or 3"),
                        (lambda a: a([q, v], mask=VM), "mask must be a list")):
        with pytest.raises(ValueError, match=match):
            call(keras.layers.Attention())
        with pytest.raises(ValueError, match=match):
            call(L.Attention())
    with pytest.raises(ValueError, match="score_mode"):
        keras.layers.Attention(score_mode="add")
    with pytest.raises(ValueError, match=r"Expected one of \{'dot', 'concat'\}. Received: score_mode=add"):
        L.Attention(score_mode="add")
    with pytest.raises(ValueError, match='Attention "a": query and key must have the same last'):
        L.Attention(name="a")([q, v, np.zeros((2, 5, 3), np.float32)])


# ---------------------------------------------------------------------------- in models
def docstring_model(attention, seq=6, vocab=30, causal=False):
    """keras.io's Attention docstring example: query and value token ids through one shared
    Embedding and one shared Conv1D, attention, both pooled, concatenated (and a Dense head)."""
    sn.utils.set_random_seed(3)
    query_input = sn.Input((seq,), dtype="int32", name="query")
    value_input = sn.Input((seq,), dtype="int32", name="value")
    token_embedding = L.Embedding(input_dim=vocab, output_dim=8)
    query_embeddings = token_embedding(query_input)
    value_embeddings = token_embedding(value_input)
    cnn_layer = L.Conv1D(filters=5, kernel_size=4, padding="same")
    query_seq_encoding = cnn_layer(query_embeddings)
    value_seq_encoding = cnn_layer(value_embeddings)
    query_value_attention_seq = attention([query_seq_encoding, value_seq_encoding],
                                          use_causal_mask=causal)
    query_encoding = L.GlobalAveragePooling1D()(query_seq_encoding)
    query_value_attention = L.GlobalAveragePooling1D()(query_value_attention_seq)
    input_layer = L.Concatenate()([query_encoding, query_value_attention])
    outputs = L.Dense(3)(input_layer)
    return sn.Model([query_input, value_input], outputs, seed=3)


def _token_batches(n_batches=3, batch=4, seq=6, vocab=30, seed=0, pad=False):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_batches):
        q, v = (rng.integers(1, vocab, size=(batch, seq)) for _ in range(2))
        if pad:  # trailing padding (id 0) of a different length per sample
            for i in range(batch):
                q[i, seq - i:] = 0
                v[i, seq - (i + 1) % 3:] = 0
        out.append(([q, v], rng.integers(0, 3, size=batch)))
    return out


ATTENTIONS = [
    ("luong", lambda: L.Attention(), False),
    ("luong_scaled_causal", lambda: L.Attention(use_scale=True), True),
    ("concat", lambda: L.Attention(use_scale=True, score_mode="concat"), False),
    ("bahdanau", lambda: L.AdditiveAttention(), False),
]


@pytest.mark.parametrize("name,attention,causal", ATTENTIONS, ids=[a[0] for a in ATTENTIONS])
def test_keras_io_docstring_model_trains_as_keras(name, attention, causal):
    model = docstring_model(attention(), causal=causal)
    # SGD with momentum: linear in the gradient, so Keras' sparse Embedding update (repeated ids)
    # gives the same numbers (docs/parity-notes.md)
    twins = make_twins(model, optimizer=sn.optimizers.SGD(0.1, momentum=0.9),
                       loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    batches = _token_batches()
    check_forward(twins, batches[0][0])
    check_trajectory(twins, batches, steps=6)


def masked_model(attention):
    """Masks through the graph: Embedding(mask_zero=True) hands [query_mask, value_mask] to the
    attention, whose output carries the query's mask into GlobalAveragePooling1D."""
    sn.utils.set_random_seed(4)
    query_input = sn.Input((6,), dtype="int32", name="query")
    value_input = sn.Input((6,), dtype="int32", name="value")
    embedding = L.Embedding(30, 4, mask_zero=True)
    q, v = embedding(query_input), embedding(value_input)
    seq = attention([q, v])
    return sn.Model([query_input, value_input], L.Dense(3)(L.GlobalAveragePooling1D()(seq)), seed=4)


@pytest.mark.parametrize("name,attention,causal", ATTENTIONS, ids=[a[0] for a in ATTENTIONS])
def test_masks_from_the_graph_as_keras(name, attention, causal):
    twins = make_twins(masked_model(attention()), optimizer=sn.optimizers.SGD(0.2, momentum=0.5),
                       loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    batches = _token_batches(pad=True)
    check_forward(twins, batches[0][0])
    # the padding matters: the same ids without the masks give other outputs
    unmasked = make_twins(masked_model(attention()))
    for layer in unmasked.scratch.layers:
        if isinstance(layer, L.Embedding):
            layer.mask_zero = False
    assert not np.allclose(unmasked.scratch.predict(batches[0][0], verbose=0),
                           twins.scratch.predict(batches[0][0], verbose=0), rtol=1e-3)
    check_trajectory(twins, batches, steps=4)


@pytest.mark.parametrize("name,attention,causal", ATTENTIONS, ids=[a[0] for a in ATTENTIONS])
def test_tfnet_and_keras_files_both_ways(name, attention, causal, tmp_path):
    model = docstring_model(attention(), causal=causal)
    model.compile(optimizer=sn.optimizers.SGD(0.1), loss=sn.losses.SparseCategoricalCrossentropy(
        from_logits=True))
    batches = _token_batches(n_batches=2)
    model.fit(batches[0][0], batches[0][1], epochs=1, verbose=0)  # weights away from their start
    x = batches[1][0]
    kmodel = check_round_trip(model, x)
    kattention = next(k for k in kmodel.layers if "attention" in k.name)
    assert type(kattention).__name__ == type(attention()).__name__
    model.save(tmp_path / "s.keras")
    kloaded = keras.models.load_model(tmp_path / "s.keras")
    assert_close(model.predict(x, verbose=0), kloaded.predict(x, verbose=0), FORWARD_RTOL,
                 "Keras' predictions from scratchnet's file")
    causal_kwargs = [n.arguments.kwargs for layer in kloaded.layers if "attention" in layer.name
                     for n in layer._inbound_nodes]
    assert causal_kwargs == [{"use_causal_mask": True} if causal else {}]
    kloaded.save(tmp_path / "k.keras")
    again = sn.load_model(tmp_path / "k.keras")
    assert_close(again.predict(x, verbose=0), kloaded.predict(x, verbose=0), FORWARD_RTOL,
                 "scratchnet's predictions from Keras' file")
    for a, b in zip(model.get_weights(), again.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    model.save(tmp_path / "s.npz")
    back = sn.load_model(tmp_path / "s.npz")
    np.testing.assert_array_equal(back.predict(x, verbose=0), model.predict(x, verbose=0))


def scores_model(attention):
    """The attention weights as a second output of the node, read by the head: the loss's gradient
    reaches the layer through both its outputs."""
    sn.utils.set_random_seed(6)
    q_in, v_in = sn.Input((3, 4), name="q"), sn.Input((5, 4), name="v")
    seq, scores = attention([q_in, v_in], return_attention_scores=True)
    head = L.Concatenate()([L.GlobalAveragePooling1D()(seq), L.Flatten()(scores)])
    return sn.Model([q_in, v_in], L.Dense(3, activation="tanh")(head), seed=6)


@pytest.mark.parametrize("name,attention,causal", ATTENTIONS, ids=[a[0] for a in ATTENTIONS])
def test_scores_as_a_graph_output_train_and_save_as_keras(name, attention, causal, tmp_path):
    twins = make_twins(scores_model(attention()), optimizer=sn.optimizers.Adam(0.05),
                       loss=sn.losses.MeanSquaredError())
    rng = np.random.default_rng(2)
    batches = [([rng.normal(size=(4, 3, 4)).astype(np.float32),
                 rng.normal(size=(4, 5, 4)).astype(np.float32)],
                rng.normal(size=(4, 3)).astype(np.float32)) for _ in range(2)]
    check_forward(twins, batches[0][0])
    check_trajectory(twins, batches, steps=4)
    model, x = twins.scratch, batches[0][0]
    model.save(tmp_path / "s.keras")
    kloaded = keras.models.load_model(tmp_path / "s.keras")
    assert_close(model.predict(x, verbose=0), kloaded.predict(x, verbose=0), FORWARD_RTOL,
                 "Keras' predictions from scratchnet's file")
    kloaded.save(tmp_path / "k.keras")
    again = sn.load_model(tmp_path / "k.keras")
    assert len(again.layers[2]._inbound_nodes[0].outputs) == 2
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
    back = check_round_trip(model, x)
    assert len(back.layers[2]._inbound_nodes[0].output_tensors) == 2
