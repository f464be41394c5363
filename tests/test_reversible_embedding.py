"""ReversibleEmbedding without Keras: a tiny language model's gradients (the tied matrix read by two
calls of one layer) against float64 finite differences, tied and untied, with a soft cap; the
layer alone (lookup, reverse, soft cap); padding masks; config; errors. Keras' numbers:
parity_tests/test_reversible_embedding_keras.py."""

import numpy as np
import pytest

import scratchnet as sn
from tests.gradcheck import REL_TOL, numeric_grad, rel_error

RE = sn.layers.ReversibleEmbedding
V, D, T = 7, 4, 3


def language_model(mask_zero=False, **kwargs):
    ids = sn.Input((T,), dtype="int32")
    embedding = RE(V, D, mask_zero=mask_zero, **kwargs)
    hidden = sn.layers.Dense(D, activation="tanh")(embedding(ids))
    return sn.Model(ids, embedding(hidden, reverse=True))


@pytest.mark.parametrize("kwargs", [dict(), dict(tie_weights=False), dict(logit_soft_cap=1.5),
                                    dict(tie_weights=False, logit_soft_cap=0.8)], ids=str)
def test_model_gradients_match_finite_differences(kwargs, float64):
    sn.utils.set_random_seed(0)
    model = language_model(**kwargs)
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0, 0.7, w.shape) for w in model.get_weights()])
    model.compile(optimizer="sgd", loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = rng.integers(0, V, (2, 4, T))
    _, grads = model.loss_and_grads(x, y)
    for param, grad in zip(model.weights, grads, strict=True):
        numeric = numeric_grad(lambda: float(model.loss_and_grads(x, y)[0]), param.value)
        assert rel_error(grad, numeric) < REL_TOL, (param.name, rel_error(grad, numeric))


def test_the_layer_alone_looks_up_and_projects_back():
    layer = RE(V, D, logit_soft_cap=2.0)
    ids = np.array([[1, 6, 0]])
    vectors = layer(ids)
    table = layer.embeddings.value
    np.testing.assert_array_equal(vectors, table[ids])
    h = np.random.default_rng(1).normal(size=(2, T, D)).astype(np.float32)
    logits = layer(h, reverse=True)
    np.testing.assert_allclose(logits, 2.0 * np.tanh(h @ table.T / 2.0), rtol=1e-6)
    assert logits.shape == (2, T, V) and layer.output_shape == (T, D)
    untied = RE(V, D, tie_weights=False, name="untied")
    untied(h, reverse=True)  # a reverse call first builds it too
    assert [p.name for p in untied.weights] == ["untied/embeddings", "untied/reverse_embeddings"]
    assert untied.reverse_embeddings.shape == (D, V)
    np.testing.assert_allclose(untied(h, reverse=True), h @ untied.reverse_embeddings.value, rtol=1e-6)
    assert RE(V, D, reverse_dtype="float64")(h, reverse=True).dtype == np.float64


def test_padding_mask_goes_on_and_a_reverse_call_drops_it():
    """With mask_zero the lookup's mask reaches the reverse call, which ignores it and outputs no
    mask (as Keras' does): the logits and the loss are those of the same model without a mask."""
    sn.utils.set_random_seed(2)
    masked, plain = language_model(mask_zero=True), language_model()
    plain.set_weights(masked.get_weights())
    x = np.array([[3, 2, 0], [1, 0, 0]])
    np.testing.assert_array_equal(masked.predict(x, verbose=0), plain.predict(x, verbose=0))
    for model in (masked, plain):
        model.compile(optimizer="sgd", loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    loss, grads = masked.loss_and_grads(x, x)
    plain_loss, plain_grads = plain.loss_and_grads(x, x)
    assert loss == plain_loss
    for g, pg in zip(grads, plain_grads, strict=True):
        np.testing.assert_array_equal(g, pg)


def test_config_round_trip_and_serialization():
    layer = RE(V, D, tie_weights=False, reverse_dtype="float32", logit_soft_cap=30.0, name="tok")
    config = layer.get_config()
    policy = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
              "registered_name": None}
    uniform = {"module": "keras.initializers", "class_name": "RandomUniform",
               "config": {"seed": None, "minval": -0.05, "maxval": 0.05}, "registered_name": None}
    assert config == {"name": "tok", "trainable": True, "dtype": policy, "input_dim": V, "output_dim": D,
                      "embeddings_initializer": uniform, "embeddings_regularizer": None,
                      "activity_regularizer": None, "mask_zero": False, "embeddings_constraint": None,
                      "quantization_config": None, "tie_weights": False, "reverse_dtype": "float32",
                      "logit_soft_cap": 30.0}
    assert RE(**config).get_config() == config
    assert sn.layers.deserialize(sn.layers.serialize(layer)).get_config() == config


def test_npz_files_keep_both_calls(tmp_path):
    sn.utils.set_random_seed(3)
    model = language_model(tie_weights=False)
    x = np.random.default_rng(3).integers(0, V, (2, T))
    model.save(tmp_path / "m.npz")
    back = sn.load_model(tmp_path / "m.npz")
    np.testing.assert_array_equal(back.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(tie_weights="yes"), ValueError, "tie_weights"),
    (dict(reverse_dtype="int8"), ValueError, "reverse_dtype"),
    (dict(logit_soft_cap=0.0), ValueError, "logit_soft_cap"),
    (dict(logit_soft_cap="big"), ValueError, "logit_soft_cap"),
    (dict(output_dim=0), ValueError, "output_dim")])
def test_bad_arguments_raise(kwargs, error, match):
    with pytest.raises(error, match=match):
        RE(**{"input_dim": V, "output_dim": D, **kwargs})


def test_bad_calls_raise():
    layer = RE(V, D)
    with pytest.raises(ValueError, match=r"hidden vectors of shape \(batch, \.\.\., 4\)"):
        layer(np.zeros((2, T, D + 1), np.float32), reverse=True)
    with pytest.raises(TypeError, match="expected reverse to be True or False"):
        layer(np.zeros((2, T), np.int32), reverse="yes")
    with pytest.raises(ValueError, match=r"expected ids in \[0, 6\]"):
        layer(np.array([[7, 0, 0]]))
    with pytest.raises(ValueError, match="reverse=True expects hidden vectors"):
        layer(sn.Input((T, 3)), reverse=True)  # in a graph too


def test_a_subclassed_language_model_ties_its_weights():
    """Keras' way of writing it (a Model subclass whose call uses the layer twice) traces into the
    same graph: one table, both calls' gradients."""
    class TinyLM(sn.Model):
        def __init__(self):
            super().__init__()
            self.embedding = RE(V, D)
            self.hidden = sn.layers.Dense(D, activation="tanh")

        def call(self, ids):
            return self.embedding(self.hidden(self.embedding(ids)), reverse=True)

    sn.utils.set_random_seed(4)
    model = TinyLM()
    x = np.random.default_rng(4).integers(0, V, (2, T))
    logits = model(x)
    assert logits.shape == (2, T, V)
    assert len(model.weights) == 3  # the table once, the Dense kernel and bias
    table = model.embedding.embeddings.value
    h = np.tanh(table[x] @ model.hidden.kernel.value + model.hidden.bias.value)
    np.testing.assert_allclose(logits, h @ table.T, rtol=1e-5, atol=1e-6)
    model.compile(optimizer="sgd", loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, x, epochs=3, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
