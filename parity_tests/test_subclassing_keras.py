"""Subclassed models (``class M(keras.Model)`` with a ``call``) and layers made of layers
(keras.io's TransformerBlock and TokenAndPositionEmbedding) against Keras 3.15.

Each model is written once (parity_tests/_subclassed_models.py) and made with either library;
the Keras model's weights are copied into the scratchnet one by ``get_weights`` order, which the
tests first check is the same order (shapes and Keras' variable names). Then: outputs
(FORWARD_RTOL), the loss and every gradient against ``tf.GradientTape`` (GRAD_RTOL), optimizer
steps (TRAJECTORY_RTOL on every weight) and a short ``fit`` (per-epoch losses, GRAD_RTOL).
Dropout draws different masks in the two libraries, so gradients and steps are compared with
the dropout rates at 0 and the ``training`` branches kept; dropout itself is checked in
inference (it must do nothing) and, on scratchnet's side, in training (it must drop).
"""

import keras
import numpy as np
import pytest

import scratchnet as sn
import tfnet
from parity_tests._subclassed_models import classes
from parity_tests.driver import (
    FORWARD_RTOL,
    GRAD_RTOL,
    TRAJECTORY_RTOL,
    Twins,
    assert_close,
    check_loss_and_grads,
    check_trajectory,
)

# MultiHeadAttention's key/bias has a true gradient of 0 (the softmax does not see it): the
# attention tests' rule for it, rounding noise below GRAD_RTOL of the key kernel's gradient
from parity_tests.test_attention_keras import _check_loss_and_grads as check_attention_grads

K, S = classes(keras), classes(sn)


def _twins(name, x, *args, loss, optimizer="sgd", **kwargs) -> Twins:
    """The Keras model and the scratchnet one made by the same code, built on ``x``, Keras'
    weights copied across, both compiled with ``loss`` and a fresh ``optimizer``."""
    kmodel, smodel = K[name](*args, **kwargs), S[name](*args, **kwargs)
    for training in (False, True):  # both traced: a layer used only in training is built too
        kmodel(x, training=training)
        smodel(x, training=training)
    assert [w.shape for w in smodel.get_weights()] == [w.shape for w in kmodel.get_weights()]
    smodel.set_weights(kmodel.get_weights())
    kopt = keras.optimizers.get(optimizer) if isinstance(optimizer, str) else optimizer[0]
    sopt = sn.optimizers.get(optimizer) if isinstance(optimizer, str) else optimizer[1]
    kmodel.compile(optimizer=kopt, loss=loss, jit_compile=False)
    smodel.compile(optimizer=sopt, loss=loss)
    return Twins(smodel, kmodel)


def _data(shape, n=12, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n,) + shape).astype(np.float32), rng.integers(0, classes, n)


VOCAB = 80


def _ids(n=12, maxlen=6, seed=0):
    """Token ids, none repeated (docs/parity-notes.md: Keras' Adam squares each occurrence of a
    repeated id's gradient apart; scratchnet's Adam sees the true gradient)."""
    rng = np.random.default_rng(seed)
    return rng.permutation(VOCAB)[:n * maxlen].reshape(n, maxlen), rng.integers(0, 2, n)


def _keras_paths(model) -> list[str]:
    """Keras' variable paths without the model's own prefix, the per-session counters, and a
    nested Sequential's level (scratchnet lists its layers one by one, the same weights)."""
    import re

    prefix = f"{model.name}/"
    return [re.sub(r"_\d+(?=/|$)", "", v.path.removeprefix(prefix)).replace("sequential/", "")
            for v in model.weights]


def _scratch_paths(model) -> list[str]:
    import re

    return [re.sub(r"_\d+(?=/|$)", "", p.name) for p in model.weights]


def _check_attention_steps(twins, batches, steps):
    """The driver's check_trajectory with the attention tests' rule for key/bias: Adam turns its
    noise gradient into steps of its own, negligible on both sides against the key kernel."""
    for step in range(steps):
        x, y = batches[step % len(batches)]
        twins.scratch.reset_metrics()
        loss_s = twins.scratch.train_step(x, y)["loss"]
        loss_k = float(twins.keras.train_on_batch(x, y, return_dict=True)["loss"])
        assert_close(loss_s, loss_k, GRAD_RTOL, f"loss at step {step}")
        weights_k = dict(zip((p.name for p in twins.scratch.weights), twins.keras.get_weights(),
                             strict=True))
        for param in twins.scratch.weights:
            if param.name.endswith("key/bias"):
                scale = np.abs(weights_k[param.name.replace("key/bias", "key/kernel")]).max()
                assert np.abs(param.value).max() <= TRAJECTORY_RTOL * scale
                assert np.abs(weights_k[param.name]).max() <= TRAJECTORY_RTOL * scale
                continue
            assert_close(param.value, weights_k[param.name], TRAJECTORY_RTOL,
                         f'"{param.name}" after step {step + 1}')
    assert twins.scratch.optimizer.iterations == int(twins.keras.optimizer.iterations) == steps


def test_residual_model_forward_gradients_steps_and_fit_match_keras():
    x, y = _data((4,))
    twins = _twins("Residual", x, loss="sparse_categorical_crossentropy", optimizer="adam")
    assert _scratch_paths(twins.scratch) == _keras_paths(twins.keras)
    assert_close(twins.scratch(x), twins.keras(x).numpy(), FORWARD_RTOL, "residual output")
    assert_close(twins.scratch.predict(x, verbose=0), twins.keras.predict(x, verbose=0),
                 FORWARD_RTOL, "residual predict")
    check_loss_and_grads(twins, x, y)
    check_trajectory(twins, [(x[:6], y[:6]), (x[6:], y[6:])], steps=6)
    hs = twins.scratch.fit(x, y, epochs=3, batch_size=5, shuffle=False, verbose=0)
    hk = twins.keras.fit(x, y, epochs=3, batch_size=5, shuffle=False, verbose=0)
    assert_close(hs.history["loss"], hk.history["loss"], GRAD_RTOL, "fit losses")


def test_dropout_and_training_branch_match_keras():
    x, y = _data((5,))
    loss = "sparse_categorical_crossentropy"
    # With dropout on: inference matches, and the training-only layer exists on both sides only
    # once a training step has traced it.
    kmodel, smodel = K["WithDropout"](0.5), S["WithDropout"](0.5)
    kmodel(x)
    smodel(x)
    assert len(smodel.weights) == len(kmodel.weights) == 6
    kmodel(x, training=True)
    smodel(x, training=True)
    assert len(smodel.weights) == len(kmodel.weights) == 7  # + scale/kernel
    assert [w.shape for w in smodel.get_weights()] == [w.shape for w in kmodel.get_weights()]
    assert _scratch_paths(smodel) == _keras_paths(kmodel)
    smodel.set_weights(kmodel.get_weights())
    assert_close(smodel(x), kmodel(x).numpy(), FORWARD_RTOL, "inference output")
    # scratchnet's dropout drops in training: the training output differs from inference
    assert not np.allclose(smodel(x, training=True), smodel(x))
    # Rate 0: the training branch (x + scale(x)) and the explicit training=False Dropout remain
    twins = _twins("WithDropout", x, 0.0, loss=loss, optimizer="adam")
    assert_close(twins.scratch(x, training=True), twins.keras(x, training=True).numpy(),
                 FORWARD_RTOL, "training output")
    check_loss_and_grads(twins, x, y)
    check_trajectory(twins, [(x[:6], y[:6]), (x[6:], y[6:])], steps=5)


def test_explicit_training_false_dropout_never_drops_in_scratchnet():
    x, _ = _data((5,))
    model = S["WithDropout"](0.0, seed=3)
    model(x, training=True)
    node = [n for n in model._call_graphs[True]._nodes if n.layer is model.noise_free][0]
    assert node.training is False
    out_a, out_b = model(x, training=True), model(x, training=True)
    np.testing.assert_array_equal(out_a, out_b)  # rate 0 above, and the 0.5 one held off


def test_two_inputs_as_a_list_match_keras():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((8, 3)).astype(np.float32), rng.standard_normal((8, 2)).astype(np.float32)
    y = rng.standard_normal((8, 1)).astype(np.float32)
    twins = _twins("TwoInputs", [a, b], loss="mse")
    assert_close(twins.scratch([a, b]), twins.keras([a, b]).numpy(), FORWARD_RTOL, "output")
    check_loss_and_grads(twins, [a, b], y)
    check_trajectory(twins, [([a, b], y)], steps=4)


@pytest.mark.parametrize("rate", [0.1, 0.0])
def test_keras_io_text_classifier_with_composite_layers_matches_keras(rate):
    """keras.io's functional classifier: TokenAndPositionEmbedding (ops.shape, ops.arange, a layer
    on a constant, a sum) and TransformerBlock (MultiHeadAttention, a Sequential attribute,
    residual sums, LayerNormalization) as layers made of layers."""
    ids, y = _ids()
    kmodel, smodel = (K["text_classifier"](vocab_size=VOCAB, rate=rate),
                      S["text_classifier"](vocab_size=VOCAB, rate=rate))
    assert _scratch_paths(smodel) == _keras_paths(kmodel)
    smodel.set_weights(kmodel.get_weights())
    assert_close(smodel.predict(ids, verbose=0), kmodel.predict(ids, verbose=0), FORWARD_RTOL,
                 "classifier output")
    if rate:
        return  # dropout masks differ between the libraries: gradients are compared at rate 0
    kmodel.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy",
                   metrics=["accuracy"], jit_compile=False)
    smodel.compile(optimizer=sn.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy",
                   metrics=["accuracy"])
    twins = Twins(smodel, kmodel)
    check_attention_grads(twins, ids, y)
    _check_attention_steps(twins, [(ids[:6], y[:6]), (ids[6:], y[6:])], steps=6)
    hs = smodel.fit(ids, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    hk = kmodel.fit(ids, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    assert_close(hs.history["loss"], hk.history["loss"], GRAD_RTOL, "fit losses")


def test_subclassed_classifier_holding_composite_layers_matches_keras():
    ids, y = _ids(seed=2)
    twins = _twins("Classifier", ids, vocab_size=VOCAB, rate=0.0, loss="sparse_categorical_crossentropy",
                   optimizer=(keras.optimizers.Adam(1e-2), sn.optimizers.Adam(1e-2)))
    assert _scratch_paths(twins.scratch) == _keras_paths(twins.keras)
    assert_close(twins.scratch(ids), twins.keras(ids).numpy(), FORWARD_RTOL, "output")
    check_attention_grads(twins, ids, y)
    _check_attention_steps(twins, [(ids[:6], y[:6]), (ids[6:], y[6:])], steps=4)


def test_save_weights_written_by_scratchnet_round_trip_and_model_save_refused(tmp_path):
    x, y = _data((4,))
    twins = _twins("Residual", x, loss="sparse_categorical_crossentropy", optimizer="adam")
    twins.scratch.fit(x, y, epochs=1, batch_size=4, verbose=0)
    path = tmp_path / "res.weights.h5"
    twins.scratch.save_weights(path)
    other = S["Residual"]()
    other.build((None, 4))
    other.load_weights(path)
    for a, b in zip(other.get_weights(), twins.scratch.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(NotImplementedError, match="save_weights"):
        twins.scratch.save(tmp_path / "res.keras")
    with pytest.raises(TypeError, match="subclassed"):
        tfnet.to_keras(twins.scratch)
    with pytest.raises(TypeError, match="subclassed Keras model"):
        tfnet.from_keras(twins.keras)


def test_vit_patch_encoder_with_a_constant_batch_of_one_matches_keras():
    """keras.io's ViT PatchEncoder: the embedding of ``expand_dims(arange(n), 0)`` (a batch of one)
    broadcast over the batch; outputs, gradients (tf.GradientTape) and three SGD epochs."""

    def encoder(lib):
        class PatchEncoder(lib.layers.Layer):
            def __init__(self, num_patches, projection_dim):
                super().__init__()
                self.num_patches = num_patches
                self.projection = lib.layers.Dense(units=projection_dim)
                self.position_embedding = lib.layers.Embedding(input_dim=num_patches,
                                                               output_dim=projection_dim)

            def call(self, patch):
                positions = lib.ops.expand_dims(lib.ops.arange(0, self.num_patches, 1), axis=0)
                return self.projection(patch) + self.position_embedding(positions)

        inputs = lib.Input((4, 6))
        x = PatchEncoder(4, 3)(inputs)
        return lib.Model(inputs, lib.layers.Dense(2)(lib.layers.Flatten()(x)))

    kmodel, smodel = encoder(keras), encoder(sn)
    assert smodel.output_shape == kmodel.output_shape == (None, 2)
    smodel.set_weights(kmodel.get_weights())
    x, y = _data((4, 6), n=12, classes=2)
    assert_close(smodel.predict(x, verbose=0), np.asarray(kmodel(x)), FORWARD_RTOL, "forward")
    kmodel.compile(optimizer=keras.optimizers.SGD(0.1), loss=keras.losses.SparseCategoricalCrossentropy(
        from_logits=True))
    smodel.compile(optimizer=sn.optimizers.SGD(0.1), loss=sn.losses.SparseCategoricalCrossentropy(
        from_logits=True))
    kh = kmodel.fit(x, y, epochs=3, batch_size=4, shuffle=False, verbose=0).history["loss"]
    sh = smodel.fit(x, y, epochs=3, batch_size=4, shuffle=False, verbose=0).history["loss"]
    assert_close(sh, kh, GRAD_RTOL, "losses per epoch")
    for s, k in zip(smodel.get_weights(), kmodel.get_weights(), strict=True):
        assert_close(s, k, TRAJECTORY_RTOL, "weights after 9 SGD steps")


@pytest.mark.parametrize("reduce_batch", [False, True])
def test_an_op_with_no_batch_axis_in_the_result_matches_keras(reduce_batch):
    """keras.io's RecommenderNet: ``ops.tensordot(u, m, 2)`` of two (B, E) batches is one number
    for the whole batch, added to each pair's biases (``reduce_batch``: ``ops.sum(u * m,
    axis=0)`` too, a batchless op of a batchless op). Keras computes it on the whole batch;
    scratchnet computes it inside the layer of the op that adds it to the (B, 1) biases
    (scratchnet.layers.input_layer.BatchlessTensor). So each prediction depends on its batch:
    predict in batches of 5 and of 12 differ, and the two libraries agree on each."""
    rng = np.random.default_rng(3)
    ids = np.stack([rng.integers(0, 7, 12), rng.integers(0, 9, 12)], axis=1)
    y = rng.uniform(0, 1, 12).astype(np.float32)
    twins = _twins("Recommender", ids, reduce_batch=reduce_batch, loss="binary_crossentropy",
                   optimizer=(keras.optimizers.SGD(0.5), sn.optimizers.SGD(0.5)))
    assert _scratch_paths(twins.scratch) == _keras_paths(twins.keras)
    for batch_size in (5, 12):
        assert_close(twins.scratch.predict(ids, batch_size=batch_size, verbose=0),
                     twins.keras.predict(ids, batch_size=batch_size, verbose=0), FORWARD_RTOL,
                     f"predict in batches of {batch_size}")
    by_five = twins.scratch.predict(ids, batch_size=5, verbose=0)
    assert np.abs(by_five - twins.scratch.predict(ids, batch_size=12, verbose=0)).max() > 1e-3
    check_loss_and_grads(twins, ids, y)
    check_trajectory(twins, [(ids[:6], y[:6]), (ids[6:], y[6:])], steps=4)
    hs = twins.scratch.fit(ids, y, epochs=3, batch_size=5, shuffle=False, verbose=0)
    hk = twins.keras.fit(ids, y, epochs=3, batch_size=5, shuffle=False, verbose=0)
    assert_close(hs.history["loss"], hk.history["loss"], GRAD_RTOL, "fit losses")
