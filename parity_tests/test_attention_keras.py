"""MultiHeadAttention and GroupedQueryAttention against Keras 3.15: the layer's output and attention
scores (FORWARD_RTOL), the gradients of every weight and input (GRAD_RTOL) with and without masks,
causal, separate key, value_dim != key_dim, output_shape, no bias, use_gate, sliding_window, shared
key/value heads; both of Keras' paths (its fused dot_product_attention
and its Softmax path with dropout or returned scores); the transformer block of Keras' "Text
classification with Transformer" example as a functional model: forward, loss, gradients and 10
Adam steps (TRAJECTORY_RTOL); to_keras/from_keras round trips. Dropout draws differ between the
frameworks, so a layer with dropout is compared in inference only."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import scratchnet as sn
import tfnet
from parity_tests.driver import (
    FORWARD_RTOL,
    GRAD_RTOL,
    TRAJECTORY_RTOL,
    Twins,
    assert_close,
    check_forward,
)

L = sn.layers

CASES = {
    "plain": (dict(num_heads=2, key_dim=3), False),
    "separate_key": (dict(num_heads=2, key_dim=3), True),
    "value_dim_output_shape": (dict(num_heads=3, key_dim=2, value_dim=4, output_shape=5), True),
    "no_bias": (dict(num_heads=1, key_dim=4, use_bias=False), False),
    "gate": (dict(num_heads=2, key_dim=3, value_dim=4, use_gate=True), True),
    "sliding_window": (dict(num_heads=2, key_dim=3, sliding_window=2), False),
    # GroupedQueryAttention: query and value of the same size (Keras' rule)
    "gqa": (dict(cls="GroupQueryAttention", head_dim=3, num_query_heads=4, num_key_value_heads=2),
            True),
    "gqa_one_kv_head_gate_window": (dict(cls="GroupQueryAttention", head_dim=2, num_query_heads=3,
                                         num_key_value_heads=1, use_gate=True, sliding_window=3),
                                    False),
    "gqa_no_bias": (dict(cls="GroupQueryAttention", head_dim=2, num_query_heads=2,
                         num_key_value_heads=2, use_bias=False), False),
}
CALLS = {
    "no_mask": {},
    "mask": {"attention_mask": True},
    "causal": {"use_causal_mask": True},
    "mask_and_causal": {"attention_mask": True, "use_causal_mask": True},
    "scores_with_mask": {"attention_mask": True, "return_attention_scores": True},
}


def _data(with_key, seed=0, n=3, t=5, s=5, v_dim=4):
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(n, t, 6)).astype(np.float32)
    v = rng.normal(size=(n, s, v_dim)).astype(np.float32)
    k = rng.normal(size=(n, s, 7)).astype(np.float32) if with_key else None
    mask = rng.random((n, t, s)) > 0.35
    mask[0, 1] = False  # a row with every key masked
    return q, v, k, mask, rng


def _twins(args, q, v, k, rng):
    args = dict(args)
    layer = getattr(L, args.pop("cls", "MultiHeadAttention"))(**args)
    layer(q, v, k)  # built
    layer.set_weights([rng.normal(0, 0.4, w.shape).astype(np.float32) for w in layer.get_weights()])
    klayer = tfnet.convert.layer_to_keras(layer)
    klayer(q, v, k)
    klayer.set_weights(layer.get_weights())
    return layer, klayer


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("case", CASES)
def test_output_scores_and_gradients(case, call):
    args, with_key = CASES[case]
    q, v, k, mask, rng = _data(with_key, v_dim=6 if "cls" in args else 4)
    layer, klayer = _twins(args, q, v, k, rng)
    kwargs = {name: (mask if name == "attention_mask" else value)
              for name, value in CALLS[call].items()}
    scores_asked = kwargs.get("return_attention_scores", False)

    # Keras: outputs and the gradients of L = sum(w * y) by tf.GradientTape
    tq, tv = tf.constant(q), tf.constant(v)
    tk = None if k is None else tf.constant(k)
    with tf.GradientTape(persistent=True) as tape:
        for t in (tq, tv) + (() if tk is None else (tk,)):
            tape.watch(t)
        kout = klayer(tq, tv, tk, **kwargs)
        ky = kout[0] if scores_asked else kout
        w = tf.constant(rng.normal(size=ky.shape).astype(np.float32))
        kloss = tf.reduce_sum(w * ky)
    kgrads_w = tape.gradient(kloss, klayer.weights)
    kgrads_x = tape.gradient(kloss, [tq, tv] + ([] if tk is None else [tk]))

    out = layer(q, v, k, **kwargs)
    y = out[0] if scores_asked else out
    assert_close(y, np.asarray(ky), FORWARD_RTOL, "output")
    if scores_asked:
        assert_close(out[1], np.asarray(kout[1]), FORWARD_RTOL, "attention scores")
    layer.forward([q, v], key=k, **kwargs)
    dxs = [dx for dx in layer.backward(np.asarray(w)) if dx is not None]  # (the mask's None)
    names = ("query", "value", "key")[:len(kgrads_x)]
    for name, dx, kdx in zip(names, dxs, kgrads_x, strict=True):
        assert_close(dx, np.asarray(kdx), GRAD_RTOL, f"gradient of {name}")
    for param, kgrad in zip(layer.weights, kgrads_w, strict=True):
        expected = np.zeros(param.shape, np.float32) if kgrad is None else np.asarray(kgrad)
        if param.name.endswith("key/bias"):
            # The true gradient is 0 (a shift along the softmax axis): both sides are rounding
            # noise, compared against the scale of the key kernel's gradient.
            scale = np.abs(np.asarray(kgrads_w[2])).max()
            assert np.abs(param.grad).max() <= GRAD_RTOL * scale
            assert np.abs(expected).max() <= GRAD_RTOL * scale
            continue
        assert_close(param.grad, expected, GRAD_RTOL, f'gradient of "{param.name}"')


@pytest.mark.parametrize("scores", [False, True])
def test_dropout_layer_in_inference(scores):
    """dropout > 0 sends Keras down its Softmax path even in inference (where no mask is drawn)."""
    q, v, k, mask, rng = _data(True, seed=1)
    layer, klayer = _twins(dict(num_heads=2, key_dim=3, dropout=0.3), q, v, k, rng)
    out = layer(q, v, k, attention_mask=mask, return_attention_scores=scores)
    kout = klayer(q, v, k, attention_mask=mask, return_attention_scores=scores, training=False)
    for a, b in zip(out if scores else [out], kout if scores else [kout], strict=True):
        assert_close(a, np.asarray(b), FORWARD_RTOL, "output in inference")


def transformer_block(seed=0, vocab=100, maxlen=8, embed_dim=8, num_heads=2, ff_dim=16):
    """Keras' "Text classification with Transformer" example, its TransformerBlock flattened into
    the functional graph (no positional embedding; dropout rate 0 so that training steps
    compare)."""
    sn.utils.set_random_seed(seed)
    ids = sn.Input((maxlen,), dtype="int32", name="ids")
    x = L.Embedding(vocab, embed_dim)(ids)
    attn = L.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)(x, x)
    attn = L.Dropout(0.0)(attn)
    out1 = L.LayerNormalization(epsilon=1e-6)(L.Add()([x, attn]))
    ffn = L.Dense(embed_dim)(L.Dense(ff_dim, activation="relu")(out1))
    ffn = L.Dropout(0.0)(ffn)
    out2 = L.LayerNormalization(epsilon=1e-6)(L.Add()([out1, ffn]))
    h = L.GlobalAveragePooling1D()(out2)
    h = L.Dense(20, activation="relu")(h)
    outputs = L.Dense(2, activation="softmax")(h)
    return sn.Model(ids, outputs, name="transformer_block", seed=seed)


def _token_data(n, seed, vocab=100, maxlen=8):
    """No id twice in a batch: Keras' Adam squares each occurrence's slice of a repeated id's
    embedding gradient (docs/parity-notes.md), which scratchnet does not copy."""
    rng = np.random.default_rng(seed)
    x = rng.permutation(vocab)[:n * maxlen].reshape(n, maxlen).astype(np.int32)
    return x, (x[:, 0] % 2).astype(np.int64)


def _check_loss_and_grads(twins, x, y):
    """The driver's check_loss_and_grads, but for ``key/bias``: its true gradient is 0 (it shifts
    every score of a query row alike, which the softmax does not see), so both frameworks return
    rounding noise there; each must be below GRAD_RTOL of the key kernel's gradient."""
    loss_s, grads_s = twins.scratch.loss_and_grads(x, y)
    loss_k, grads_k = tfnet.loss_and_grads(twins.keras, x, y)
    assert_close(loss_s, loss_k, FORWARD_RTOL, "loss")
    by_name = dict(zip((p.name for p in twins.scratch.weights), grads_k, strict=True))
    for param, gs, gk in zip(twins.scratch.weights, grads_s, grads_k, strict=True):
        if param.name.endswith("key/bias"):
            scale = np.abs(by_name[param.name.replace("key/bias", "key/kernel")]).max()
            assert np.abs(gs).max() <= GRAD_RTOL * scale and np.abs(gk).max() <= GRAD_RTOL * scale
            continue
        assert_close(gs, gk, GRAD_RTOL, f'gradient of "{param.name}"')


def test_transformer_block_forward_gradients_and_adam_steps():
    model = transformer_block()
    model.compile(optimizer=sn.optimizers.Adam(learning_rate=0.01),
                  loss="sparse_categorical_crossentropy")
    twins = Twins(model, tfnet.to_keras(model))
    assert [layer.name for layer in model.layers] == [layer.name for layer in twins.keras.layers]
    for ws, wk in zip(model.get_weights(), twins.keras.get_weights(), strict=True):
        np.testing.assert_array_equal(ws, wk)
    x, y = _token_data(6, seed=1)
    check_forward(twins, x)
    _check_loss_and_grads(twins, x, y)
    batches = [_token_data(6, seed=s) for s in range(2, 5)]
    losses = []
    for step in range(10):  # the driver's check_trajectory, but for key/bias (see above)
        xb, yb = batches[step % len(batches)]
        twins.scratch.reset_metrics()
        loss_s = twins.scratch.train_step(xb, yb)["loss"]
        loss_k = float(twins.keras.train_on_batch(xb, yb, return_dict=True)["loss"])
        losses.append(loss_s)
        assert_close(loss_s, loss_k, GRAD_RTOL, f"loss at step {step}")
        weights_k = dict(zip((p.name for p in twins.scratch.weights), twins.keras.get_weights(),
                             strict=True))
        for param in twins.scratch.weights:
            if param.name.endswith("key/bias"):
                # Adam turns the noise gradient into steps of its own; the weight changes
                # nothing downstream and stays negligible on both sides.
                scale = np.abs(weights_k[param.name.replace("key/bias", "key/kernel")]).max()
                assert np.abs(param.value).max() <= TRAJECTORY_RTOL * scale
                assert np.abs(weights_k[param.name]).max() <= TRAJECTORY_RTOL * scale
                continue
            assert_close(param.value, weights_k[param.name], TRAJECTORY_RTOL,
                         f'"{param.name}" after step {step + 1}')
    assert twins.scratch.optimizer.iterations == int(twins.keras.optimizer.iterations) == 10
    assert losses[-1] < losses[0]


def test_from_keras_key_mask_and_causal_graph():
    """A Keras graph with every call form: positional query and value, keyword key,
    attention_mask from a model input, use_causal_mask; from_keras and back."""
    k = keras.layers
    q_in, v_in = keras.Input((5, 6), name="q"), keras.Input((5, 4), name="v")
    m_in = keras.Input((5, 5), name="m")
    key = k.Dense(3)(v_in)
    mha = k.MultiHeadAttention(2, 4, value_dim=3, output_shape=2, name="mha")
    out = mha(q_in, v_in, key=key, attention_mask=m_in, use_causal_mask=True)
    self_att = k.MultiHeadAttention(1, 2, name="self")(out, out)
    kmodel = keras.Model([q_in, v_in, m_in], self_att)
    rng = np.random.default_rng(3)
    kmodel.set_weights([rng.normal(0, 0.4, w.shape).astype(np.float32)
                        for w in kmodel.get_weights()])
    data = [rng.normal(size=(3, 5, 6)).astype(np.float32),
            rng.normal(size=(3, 5, 4)).astype(np.float32),
            (rng.random((3, 5, 5)) > 0.3).astype(np.float32)]
    model = tfnet.from_keras(kmodel)
    assert [layer.name for layer in model.layers] == [layer.name for layer in kmodel.layers]
    assert_close(model.predict(data, verbose=0), np.asarray(kmodel(data)), FORWARD_RTOL,
                 "from_keras predictions")
    again = tfnet.to_keras(model)
    for wa, wk in zip(again.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wk)
    assert_close(np.asarray(again(data)), np.asarray(kmodel(data)), FORWARD_RTOL,
                 "to_keras(from_keras) predictions")
    node = again.get_layer("mha")._inbound_nodes[0]
    assert node.arguments.kwargs.get("use_causal_mask") is True


def test_layer_round_trip_keeps_every_argument():
    layer = L.MultiHeadAttention(3, 2, value_dim=5, dropout=0.25, use_bias=False, output_shape=7,
                                 kernel_initializer="he_uniform", bias_initializer="ones",
                                 kernel_regularizer=sn.regularizers.L2(0.01), seed=4, name="att")
    klayer = tfnet.convert.layer_to_keras(layer)
    back = tfnet.convert.layer_from_keras(klayer)
    assert back.get_config() == layer.get_config()
    kconfig = klayer.get_config()
    assert (kconfig["num_heads"], kconfig["key_dim"], kconfig["value_dim"]) == (3, 2, 5)
    assert tuple(kconfig["output_shape"]) == (7,)


def test_keras_refuses_what_scratchnet_refuses():
    with pytest.raises(ValueError, match="num_heads"):
        keras.layers.MultiHeadAttention(0, 2)
    with pytest.raises(ValueError, match="num_heads"):
        L.MultiHeadAttention(0, 2)
    for make in (keras.layers.MultiHeadAttention, L.MultiHeadAttention):
        with pytest.raises(ValueError, match="sliding_window` must be `None` or a positive integer"):
            make(2, 2, sliding_window=0)
    for make in (keras.layers.GroupQueryAttention, L.GroupQueryAttention):
        with pytest.raises(ValueError, match="`num_query_heads` must be divisible by `num_key_value_heads`"):
            make(2, 3, 2)
        inputs = [keras.Input((3, 4)), keras.Input((3, 5))] if make is keras.layers.GroupQueryAttention \
            else [L.Input((3, 4)), L.Input((3, 5))]  # (Keras checks on symbolic inputs only)
        with pytest.raises(ValueError, match="The last dimension of `query_shape` and `value_shape`"):
            make(2, 2, 1)(*inputs)
    with pytest.raises(ValueError, match="The last dimension of `query_shape` and `value_shape`"):
        L.GroupQueryAttention(2, 2, 1)(np.zeros((1, 3, 4), np.float32), np.zeros((1, 3, 5), np.float32))


def test_grouped_query_attention_weights_config_and_names_match_keras():
    layer = L.GroupQueryAttention(3, 4, 2, use_gate=True, sliding_window=2, dropout=0.1, seed=5)
    klayer = tfnet.convert.layer_to_keras(layer)
    q = np.zeros((2, 5, 6), np.float32)
    layer(q, q)
    klayer(q, q)
    assert L.GroupQueryAttention is L.GroupQueryAttention and layer.name == "grouped_query_attention"
    assert [p.name for p in layer.weights] == [w.path for w in klayer.weights]
    assert [p.shape for p in layer.weights] == [tuple(w.shape) for w in klayer.weights]
    kconfig = klayer.get_config()
    for key, value in layer.get_config().items():
        if not key.endswith(("_initializer", "name")):
            assert value == kconfig[key], key
    back = tfnet.convert.layer_from_keras(klayer)
    assert back.get_config() == layer.get_config()


def test_grouped_query_attention_decoder_trains_as_keras():
    """A causal decoder block with shared key/value heads and a gate: the forward pass and 8 Adam
    steps against Keras (both from the same weights). As in the transformer test above: no id twice
    in a batch, and key/bias (true gradient 0) starts at 0 and must stay negligible."""
    inputs = L.Input((6,), dtype="int32")
    x = L.Embedding(60, 8)(inputs)
    att = L.GroupQueryAttention(2, 4, 2, use_gate=True)(x, x, use_causal_mask=True)
    x = L.LayerNormalization()(L.Add()([x, att]))
    model = sn.Model(inputs, L.Dense(20)(x), seed=0)
    rng = np.random.default_rng(6)
    model.set_weights([np.zeros_like(p.value) if p.name.endswith("key/bias")
                       else rng.normal(0, 0.3, p.shape).astype(np.float32) for p in model.weights])
    batches = []
    for _ in range(2):
        tokens = rng.permutation(60)[:28].reshape(4, 7)
        batches.append((tokens[:, :-1], tokens[:, 1:] % 20))
    kmodel = tfnet.to_keras(model)
    model.compile(optimizer=sn.optimizers.Adam(0.01),
                  loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    kmodel.compile(optimizer=keras.optimizers.Adam(0.01),
                   loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert_close(model.predict(batches[0][0], verbose=0), np.asarray(kmodel(batches[0][0])),
                 FORWARD_RTOL, "forward")
    for step in range(8):
        xb, yb = batches[step % 2]
        model.train_on_batch(xb, yb)
        kmodel.train_on_batch(xb, yb)
    weights_k = dict(zip((p.name for p in model.weights), kmodel.get_weights(), strict=True))
    for param in model.weights:
        if param.name.endswith("key/bias"):
            scale = np.abs(weights_k[param.name.replace("key/bias", "key/kernel")]).max()
            assert np.abs(param.value).max() <= TRAJECTORY_RTOL * scale
            assert np.abs(weights_k[param.name]).max() <= TRAJECTORY_RTOL * scale
            continue
        assert_close(param.value, weights_k[param.name], TRAJECTORY_RTOL,
                     f'"{param.name}" after 8 Adam steps')


def test_keras_files_with_biases_both_ways(tmp_path):
    """The biases' place in a .keras file (query_dense/vars/1, ...), both ways, with a mask input
    (tests/test_keras_format.py's attention model has no biases, see its docstring)."""
    model = transformer_block(seed=3)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(4)
    model.set_weights([w if w.ndim > 1 else rng.normal(0, 0.1, w.shape).astype(w.dtype)
                       for w in model.get_weights()])
    x, _ = _token_data(6, seed=5)
    model.save(tmp_path / "sn.keras")
    kmodel = keras.models.load_model(tmp_path / "sn.keras")
    for wk, ws in zip(kmodel.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(wk, ws)
    assert_close(model.predict(x, verbose=0), np.asarray(kmodel(x)), FORWARD_RTOL, "sn -> Keras")
    kmodel.save(tmp_path / "k.keras")
    back = sn.load_model(tmp_path / "k.keras")
    for wb, ws in zip(back.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(wb, ws)
    assert back.get_config()["layers"] == model.get_config()["layers"]


@pytest.mark.parametrize("make", [
    lambda: L.MultiHeadAttention(2, 3, use_gate=True, sliding_window=3, name="att"),
    lambda: L.GroupQueryAttention(3, 4, 2, use_gate=True, name="att"),
])
def test_gate_and_grouped_heads_in_keras_files_both_ways(make, tmp_path):
    """Where Keras keeps the gate (``_gate_dense/vars``) and GroupedQueryAttention's projections
    (``_query_dense/vars``, ...) in a .keras file, both ways."""
    inputs = L.Input((5, 6))
    model = sn.Model(inputs, L.Dense(2)(make()(inputs, inputs)), seed=0)
    rng = np.random.default_rng(7)
    model.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in model.get_weights()])
    x = rng.normal(size=(3, 5, 6)).astype(np.float32)
    model.save(tmp_path / "sn.keras")
    kmodel = keras.models.load_model(tmp_path / "sn.keras")
    for wk, ws in zip(kmodel.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(wk, ws)
    assert_close(model.predict(x, verbose=0), np.asarray(kmodel(x)), FORWARD_RTOL, "sn -> Keras")
    kmodel.save(tmp_path / "k.keras")
    back = sn.load_model(tmp_path / "k.keras")
    for wb, ws in zip(back.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(wb, ws)
    assert_close(back.predict(x, verbose=0), model.predict(x, verbose=0), FORWARD_RTOL, "Keras -> sn")
