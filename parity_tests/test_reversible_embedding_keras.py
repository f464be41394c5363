"""ReversibleEmbedding against Keras 3.15 on a tiny language model (ids -> embedding -> Dense ->
the same embedding reversed -> logits): one layer called twice at two shapes, its matrix read by
both calls, so its gradient is the sum of the lookup's and the projection's. Outputs
(FORWARD_RTOL), the loss and every gradient (GRAD_RTOL), Adam steps (TRAJECTORY_RTOL), tied and
untied, with a logit soft cap; reverse_dtype; summary rows, config, to_keras/from_keras and
``.keras`` files both ways. Finite differences and errors: tests/test_reversible_embedding.py."""

import keras
import numpy as np
import pytest

import scratchnet as sn
import tfnet
from parity_tests.driver import FORWARD_RTOL, assert_close, assert_parity, random_weights

V, D, T = 13, 6, 5


def language_model(lib, **kwargs):
    ids = lib.Input((T,), dtype="int32")
    embedding = lib.layers.ReversibleEmbedding(V, D, **kwargs)
    hidden = lib.layers.Dense(D, activation="tanh")(embedding(ids))
    return lib.Model(ids, embedding(hidden, reverse=True))


def _data(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, V, (n, T)), rng.integers(0, V, (n, T))


@pytest.mark.parametrize("kwargs", [dict(), dict(tie_weights=False), dict(logit_soft_cap=2.0),
                                    dict(tie_weights=False, logit_soft_cap=1.5), dict(mask_zero=True)],
                         ids=str)
def test_tied_language_model_forward_gradients_and_adam_steps(kwargs):
    sn.utils.set_random_seed(0)
    model = random_weights(language_model(sn, **kwargs), scale=0.7)
    x, y = _data()
    # Tied, the table's gradient is dense (the projection's is a matmul), and Adam agrees step for
    # step. Untied, it is the lookup's alone, an IndexedSlices in Keras, whose Adam squares each
    # repeated id's slice on its own (docs/parity-notes.md, Embedding): SGD with momentum there.
    tied = kwargs.get("tie_weights", True)
    optimizer = sn.optimizers.Adam(0.02) if tied else sn.optimizers.SGD(0.5, momentum=0.9)
    twins = assert_parity(model, x, y, loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True),
                          optimizer=optimizer, steps=6, batch_size=3)
    names = [p.name for p in model.weights]
    assert names == [w.path.split("/", 1)[-1] if w.path.count("/") > 1 else w.path
                     for w in twins.keras.weights]


def test_the_tied_gradient_is_the_sum_of_both_calls():
    """Ids below 8 only: rows 8..12 get the projection's gradient alone, rows 0..7 both; the
    model's gradient is the sum of the two calls' gradients, as Keras'."""
    sn.utils.set_random_seed(1)
    model = random_weights(language_model(sn), scale=0.7)
    x, y = np.random.default_rng(1).integers(0, 8, (2, 6, T))
    model.compile(optimizer="sgd", loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    _, grads = model.loss_and_grads(x, y)
    _, kgrads = tfnet.loss_and_grads(tfnet.to_keras(model), x, y)
    assert_close(grads[0], kgrads[0], 1e-4, "tied embeddings gradient")
    assert np.all(np.abs(grads[0][8:]).sum(axis=1) > 0)  # the projection reaches every row
    # the lookup's part alone: ids' rows only, and the two parts add up to the whole
    layer = model.layers[1]
    layer.compute_input_grad = True
    hidden = model.layers[2].forward(layer.forward(x))
    logits = layer.forward(hidden, reverse=True)
    dlogits = model.loss.backward(y, logits)
    dhidden = layer.backward(dlogits)
    projection = layer.embeddings.grad.copy()
    layer.forward(x)
    layer.backward(model.layers[2].backward(dhidden))
    lookup = layer.embeddings.grad
    assert np.all(lookup[8:] == 0)
    assert_close(lookup + projection, kgrads[0], 1e-4, "lookup + projection")


def test_eager_calls_and_reverse_dtype_match_keras():
    layer = sn.layers.ReversibleEmbedding(V, D, reverse_dtype="float64", logit_soft_cap=3.0)
    klayer = keras.layers.ReversibleEmbedding(V, D, reverse_dtype="float64", logit_soft_cap=3.0)
    ids, _ = _data(n=3)
    ours = layer(ids)
    klayer(ids)
    klayer.set_weights(layer.get_weights())
    assert_close(ours, np.asarray(klayer(ids)), FORWARD_RTOL, "lookup")
    h = np.random.default_rng(2).normal(size=(3, T, D)).astype(np.float32)
    logits, klogits = layer(h, reverse=True), np.asarray(klayer(h, reverse=True))
    assert logits.dtype == klogits.dtype == np.float64
    assert_close(logits, klogits, FORWARD_RTOL, "reverse")
    assert np.abs(logits).max() < 3.0


def test_summary_config_and_conversion_match_keras():
    model = language_model(sn, tie_weights=False, logit_soft_cap=4.0)
    kmodel = tfnet.to_keras(model)
    assert model.count_params() == kmodel.count_params() == 2 * V * D + D * D + D
    rows = model.summary(print_fn=None)
    name = model.layers[1].name
    assert f"{name} (ReversibleEmbedding)" in rows  # Keras shows the last call's shape, its logits
    row = next(line for line in rows.splitlines() if line.startswith(name))
    assert f"(None, {T}, {V})" in row
    assert f"{model.layers[0].name}[0][0], {model.layers[2].name}[0][0]" in row  # called on both
    layer, klayer = model.layers[1], kmodel.layers[1]
    ours, theirs = layer.get_config(), klayer.get_config()
    for key in ("input_dim", "output_dim", "tie_weights", "reverse_dtype", "logit_soft_cap", "mask_zero"):
        assert ours[key] == theirs[key], key
    back = tfnet.from_keras(kmodel)
    for w, wb in zip(model.get_weights(), back.get_weights(), strict=True):
        np.testing.assert_array_equal(w, wb)
    x, _ = _data()
    assert_close(back.predict(x, verbose=0), np.asarray(kmodel.predict(x, verbose=0)), FORWARD_RTOL,
                 "converted back")


@pytest.mark.parametrize("tie_weights", [True, False])
def test_keras_files_both_ways(tmp_path, tie_weights):
    sn.utils.set_random_seed(3)
    model = language_model(sn, tie_weights=tie_weights)
    x, y = _data(seed=3)
    # (Adam for the tied matrix; untied, Keras' Adam squares repeated ids' slices: SGD there)
    optimizer = "adam" if tie_weights else sn.optimizers.SGD(0.1, momentum=0.9)
    model.compile(optimizer=optimizer, loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=1, batch_size=3, verbose=0)
    model.save(tmp_path / "s.keras")
    kmodel = keras.saving.load_model(tmp_path / "s.keras")
    for w, kw in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_array_equal(w, kw)
    assert_close(model.predict(x, verbose=0), np.asarray(kmodel.predict(x, verbose=0)), FORWARD_RTOL,
                 "Keras reading scratchnet's file")
    kmodel.fit(x, y, epochs=1, batch_size=3, verbose=0)
    kmodel.save(tmp_path / "k.keras")
    back = sn.load_model(tmp_path / "k.keras")
    for w, kw in zip(back.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_array_equal(w, kw)
    assert_close(back.predict(x, verbose=0), np.asarray(kmodel.predict(x, verbose=0)), FORWARD_RTOL,
                 "scratchnet reading Keras' file")
    # and training goes on from there alike (the optimizer's state came with the file)
    back.fit(x, y, epochs=1, batch_size=3, verbose=0, shuffle=False)
    kmodel.fit(x, y, epochs=1, batch_size=3, verbose=0, shuffle=False)
    for w, kw in zip(back.get_weights(), kmodel.get_weights(), strict=True):
        assert_close(w, kw, 1e-4, "weights after one more epoch")
