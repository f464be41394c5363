"""Embedding, StringLookup, IntegerLookup and CategoryEncoding agree with Keras 3.15.1.

Forward outputs and gradients are compared in float32 at 1e-6 (a row lookup and a sum of a few
rows round the same way), a 20-step Adam trajectory at 1e-4 relative (PARITY.md), lookup
vocabularies and indices exactly.
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # before TensorFlow is imported

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

import scratchnet as sn  # noqa: E402
import tfnet  # noqa: E402
from tfnet import preprocessing as tp  # noqa: E402


class _KerasOnly(keras.constraints.Constraint):
    """A constraint of the user's own, which scratchnet cannot know."""

    def __call__(self, w):
        return w



def _keras_layer(layer):
    """Map one scratchnet layer: this issue's layers through tfnet.preprocessing, plus the two
    core layers the models below use (the project's tfnet.convert does this for every layer)."""
    if type(layer) in tp.TO_KERAS:
        return tp.TO_KERAS[type(layer)](layer)
    if isinstance(layer, sn.layers.Flatten):
        return keras.layers.Flatten(name=layer.name)
    if isinstance(layer, sn.layers.Dense):
        return keras.layers.Dense(layer.units, activation=layer.activation.name,
                                  use_bias=layer.use_bias, name=layer.name)
    raise TypeError(f"no Keras mapping for {layer!r}")


def _to_keras(model: sn.Sequential) -> keras.Sequential:
    first = model.layers[0]
    kmodel = keras.Sequential([keras.Input(model.input_shape[1:], dtype=first.input_dtype or "float32")]
                              + [_keras_layer(layer) for layer in model.layers])
    kmodel.set_weights(model.get_weights())
    return kmodel


def test_embedding_forward_and_gradients_match_keras_with_repeated_ids():
    keras.utils.set_random_seed(0)
    model = sn.Sequential([sn.layers.Embedding(9, 4), sn.layers.Flatten(), sn.layers.Dense(3)],
                          seed=0)
    model.compile("sgd", sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    ids = np.array([[1, 1, 8], [8, 1, 0], [5, 5, 5], [2, 1, 0]])
    y = np.array([0, 2, 1, 2])
    model.build((3,))
    kmodel = _to_keras(model)
    np.testing.assert_allclose(model.predict(ids), kmodel.predict(ids, verbose=0), rtol=1e-6,
                               atol=1e-7)
    loss, grads = model.loss_and_grads(ids, y)
    kmodel.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    kloss, kgrads = tfnet.loss_and_grads(kmodel, ids, y)  # the table's IndexedSlices, densified
    np.testing.assert_allclose(loss, kloss, rtol=1e-6)
    assert len(grads) == len(kgrads) == 3
    for g, kg in zip(grads, kgrads, strict=True):
        np.testing.assert_allclose(g, kg, rtol=1e-5, atol=1e-7)
    assert np.all(kgrads[0][[3, 4, 6, 7]] == 0) and np.all(grads[0][[3, 4, 6, 7]] == 0)


def test_embedding_out_of_range_is_an_error_on_both_sides():
    layer = sn.layers.Embedding(4, 2)
    layer.ensure_built((2,))
    with pytest.raises(ValueError, match="received 4"):
        layer(np.array([[0, 4]]))
    with pytest.raises(tf.errors.InvalidArgumentError):
        keras.layers.Embedding(4, 2)(np.array([[0, 4]]))


def _tied_tokens(rng, n=400):
    words = np.array([f"w{i:02d}" for i in range(30)] + ["[UNK]", "Zebra", "éclair", "apple"])
    counts = rng.integers(0, 6, size=len(words))  # many ties
    return rng.permutation(np.repeat(words, counts))[:n]


@pytest.mark.parametrize("max_tokens", [None, 12])
def test_string_lookup_adapt_and_lookup_match_keras(max_tokens):
    rng = np.random.default_rng(max_tokens or 0)
    data = _tied_tokens(rng)
    ours = sn.layers.StringLookup(max_tokens=max_tokens)
    ours.adapt(data)
    theirs = keras.layers.StringLookup(max_tokens=max_tokens)
    theirs.adapt(data)
    assert ours.get_vocabulary() == [str(t) for t in theirs.get_vocabulary()]
    queries = np.concatenate([data, ["never-seen", "[UNK]", ""]]).reshape(-1, 1)
    np.testing.assert_array_equal(ours(queries), theirs(queries).numpy())


def test_string_lookup_golden_order_matches_keras():
    theirs = keras.layers.StringLookup()
    theirs.adapt(np.array(["a", "b", "b", "c", "a", "d"]))
    assert [str(t) for t in theirs.get_vocabulary()] == ["[UNK]", "b", "a", "d", "c"]


@pytest.mark.parametrize("max_tokens", [None, 6])
def test_integer_lookup_adapt_and_lookup_match_keras(max_tokens):
    rng = np.random.default_rng(3)
    data = rng.choice([-1, 0, 3, 7, 11, 12, 40, 1000, 2**40], size=300)
    ours = sn.layers.IntegerLookup(max_tokens=max_tokens)
    ours.adapt(data)
    theirs = keras.layers.IntegerLookup(max_tokens=max_tokens)
    theirs.adapt(data)
    assert ours.get_vocabulary() == [int(t) for t in theirs.get_vocabulary()]
    queries = np.concatenate([data, [5, -1, 2**41]]).reshape(-1, 3)
    np.testing.assert_array_equal(ours(queries), theirs(queries).numpy())


def test_lookup_with_given_vocabulary_matches_keras():
    vocab = ["[UNK]", "x", "y", "z"]
    ours = sn.layers.StringLookup(vocabulary=vocab)
    theirs = keras.layers.StringLookup(vocabulary=vocab)
    assert ours.get_vocabulary() == [str(t) for t in theirs.get_vocabulary()]
    queries = np.array([["z", "q"], ["x", "y"]])
    np.testing.assert_array_equal(ours(queries), theirs(queries).numpy())


@pytest.mark.parametrize(("mode", "ids"), [
    ("one_hot", np.array([3, 0, 2])),
    ("one_hot", np.array([[3], [0], [2]])),
    ("one_hot", np.array([[3, 1], [0, 0]])),
    ("multi_hot", np.array([[0, 1, 1], [2, 3, 3]])),
    ("multi_hot", np.array([[2], [0]])),
    ("count", np.array([[0, 1, 1], [2, 3, 3]])),
    ("count", np.array([[3, 3, 3, 3]])),
])
def test_category_encoding_matches_keras(mode, ids):
    ours = sn.layers.CategoryEncoding(4, output_mode=mode)
    theirs = keras.layers.CategoryEncoding(4, output_mode=mode)
    expected = theirs(ids).numpy()
    out = ours(ids)
    assert out.shape == expected.shape == theirs.compute_output_shape(ids.shape)
    assert out.dtype == expected.dtype
    np.testing.assert_array_equal(out, expected)


def _lookup_embedding_model(vocab, seed=0):
    return sn.Sequential([sn.layers.StringLookup(vocabulary=vocab), sn.layers.Embedding(len(vocab) + 1, 3),
                          sn.layers.Flatten(), sn.layers.Dense(8, activation="relu"),
                          sn.layers.Dense(2)], seed=seed)


def _twins(model, optimizer, koptimizer, input_shape):
    model.compile(optimizer, sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.build(input_shape)
    kmodel = _to_keras(model)
    kmodel.compile(koptimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                   jit_compile=False)
    return kmodel


def _assert_same_weights(model, kmodel, rtol=1e-4):
    for w, kw in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_allclose(w, kw, rtol=rtol, atol=1e-6)


def test_twenty_sgd_momentum_steps_on_strings_match_keras():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    vocab = ["red", "green", "blue", "black", "white"]
    x = np.array(vocab + ["pink"])[rng.integers(0, 6, size=(80, 2))]  # ids repeat in every batch
    y = np.isin(x[:, 0], ["red", "blue"]).astype(np.int64)
    model = _lookup_embedding_model(vocab)
    kmodel = _twins(model, sn.optimizers.SGD(0.1, momentum=0.9),
                    keras.optimizers.SGD(0.1, momentum=0.9), (2,))
    model.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0)  # 5 steps an epoch
    kmodel.fit(tf.constant(x), y, batch_size=16, epochs=4, shuffle=False, verbose=0)
    assert model.optimizer.iterations == int(kmodel.optimizer.iterations) == 20
    _assert_same_weights(model, kmodel)
    np.testing.assert_allclose(model.predict(x), kmodel.predict(tf.constant(x), verbose=0),
                               rtol=1e-4, atol=1e-5)


def test_twenty_adam_steps_match_keras_when_no_id_repeats_within_a_batch():
    keras.utils.set_random_seed(0)
    ids = np.random.default_rng(1).permutation(40).reshape(20, 2)  # every batch of 4: 8 distinct
    y = (ids[:, 0] % 3 == 0).astype(np.int64)
    model = sn.Sequential([sn.layers.Embedding(40, 3), sn.layers.Flatten(), sn.layers.Dense(2)], seed=0)
    kmodel = _twins(model, sn.optimizers.Adam(0.01), keras.optimizers.Adam(0.01), (2,))
    model.fit(ids, y, batch_size=4, epochs=4, shuffle=False, verbose=0)
    kmodel.fit(ids, y, batch_size=4, epochs=4, shuffle=False, verbose=0)
    assert int(kmodel.optimizer.iterations) == 20
    _assert_same_weights(model, kmodel)


def test_keras_adam_squares_each_occurrence_of_a_repeated_id():
    """A known difference, pinned. TensorFlow's Embedding gradient is an IndexedSlices with one
    slice per occurrence; Keras 3.15.1's Adam squares it slice by slice (``ops.square`` maps over
    the values) before densifying, so its second moment for a row used k times in a batch gets
    ``sum_k g_k^2`` instead of ``(sum_k g_k)^2``. scratchnet keeps the true gradient: its dense,
    summed rows (as ``tf.convert_to_tensor`` of the IndexedSlices gives). SGD, with or without
    momentum, is linear in the gradient and agrees exactly (test above)."""
    keras.utils.set_random_seed(0)
    ids = np.array([[1, 1], [1, 2], [3, 2]])  # id 1 three times, id 2 twice
    y = np.array([0, 1, 1])
    model = sn.Sequential([sn.layers.Embedding(4, 2), sn.layers.Flatten(), sn.layers.Dense(2)], seed=0)
    kmodel = _twins(model, sn.optimizers.Adam(0.01), keras.optimizers.Adam(0.01), (2,))
    table = model.get_weights()[0]
    with tf.GradientTape() as tape:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, kmodel(ids))
    slices = tape.gradient(loss, kmodel.trainable_variables)[0]
    g = tf.convert_to_tensor(slices).numpy()  # the summed gradient: what scratchnet uses
    squares = np.zeros_like(table)
    np.add.at(squares, slices.indices.numpy(), slices.values.numpy() ** 2)
    alpha = 0.01 * np.sqrt(1 - 0.999) / (1 - 0.9)  # first step: t = 1

    def adam_step(second_moment):
        return table - (0.1 * g) * alpha / (np.sqrt(0.001 * second_moment) + 1e-7)

    model.train_step(ids, y)
    kmodel.train_on_batch(ids, y)
    np.testing.assert_allclose(model.get_weights()[0], adam_step(g ** 2), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(kmodel.get_weights()[0], adam_step(squares), rtol=1e-5, atol=1e-7)
    assert np.abs(model.get_weights()[0][1] - kmodel.get_weights()[0][1]).max() > 1e-4
    np.testing.assert_allclose(model.get_weights()[0][[0, 3]], kmodel.get_weights()[0][[0, 3]],
                               rtol=1e-5, atol=1e-7)  # rows used once, or not at all, agree


def test_mappings_round_trip_every_layer():
    string = sn.layers.StringLookup(max_tokens=10, vocabulary=["a", "b"], name="words")
    integer = sn.layers.IntegerLookup(oov_token=0, vocabulary=[7, 3], name="codes")
    embedding = sn.layers.Embedding(12, 5, name="vectors")
    encoding = sn.layers.CategoryEncoding(6, output_mode="count", name="bag")
    for layer in (string, integer, embedding, encoding):
        klayer = tp.TO_KERAS[type(layer)](layer)
        assert klayer.name == layer.name
        back = tp.FROM_KERAS[type(klayer)](klayer)
        assert type(back) is type(layer)
        assert back.get_config() == layer.get_config()
    kstring = tp.string_lookup_to_keras(string)
    assert kstring.get_vocabulary() == ["[UNK]", "a", "b"] and kstring.max_tokens == 10
    assert tp.integer_lookup_to_keras(integer)(np.array([3, 9])).numpy().tolist() == [2, 0]


def test_from_keras_refuses_what_scratchnet_lacks():
    with pytest.raises(ValueError, match="embeddings_constraint"):
        tp.embedding_from_keras(keras.layers.Embedding(4, 2, embeddings_constraint=_KerasOnly()))
    assert tp.embedding_from_keras(keras.layers.Embedding(4, 2, mask_zero=True)).mask_zero  # kept
    with pytest.raises(ValueError, match="num_oov_indices=2"):
        tp.string_lookup_from_keras(keras.layers.StringLookup(num_oov_indices=2, vocabulary=["a"]))
    with pytest.raises(ValueError, match="mask_token"):
        tp.string_lookup_from_keras(keras.layers.StringLookup(mask_token="", vocabulary=["a"]))
    with pytest.raises(ValueError, match="output_mode='one_hot'"):
        tp.integer_lookup_from_keras(keras.layers.IntegerLookup(output_mode="one_hot",
                                                                 vocabulary=[1]))


def test_adapted_keras_lookup_maps_to_scratchnet_with_same_indices():
    data = np.array(["b", "a", "b", "c"])
    klayer = keras.layers.StringLookup(name="adapted")
    klayer.adapt(data)
    ours = tp.string_lookup_from_keras(klayer)
    queries = np.array([["a", "b", "c", "d"]])
    np.testing.assert_array_equal(ours(queries), klayer(queries).numpy())


@pytest.mark.slow
def test_embeddings_example_end_to_end(tmp_path):
    """examples/embeddings.py: both implementations, both models, and the plot (~45 s on 2 cores)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "embeddings.py"
    spec = importlib.util.spec_from_file_location("embeddings_example", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    png = tmp_path / "embeddings.png"
    results = example.main(["--out", str(png)])
    assert png.stat().st_size > 20_000
    # The Bayes accuracy of the data is 0.823 and the majority class 0.62 (see structured.py).
    for side in ("scratchnet", "keras"):
        assert results[f"{side}/embeddings"]["test_accuracy"] > 0.78
        assert results[f"{side}/one_hot"]["test_accuracy"] > 0.75
        assert results[f"{side}/taste_separation"] > 0.85  # users cluster by their hidden taste
    # Embedding 401x2, two Normalizations (mean, variance, count), Dense on 2 + 1 + 1 + 29
    # (FeatureSpace: category 9 + device 4 + cross 16), Dense 32 -> 2; one-hot: 401 wide instead.
    for name, params in (("embeddings", 401 * 2 + 2 * 3 + 33 * 32 + 32 + 32 * 2 + 2),
                         ("one_hot", 2 * 3 + 432 * 32 + 32 + 32 * 2 + 2)):
        assert results[f"scratchnet/{name}"]["params"] == results[f"keras/{name}"]["params"] == params
        assert results[f"keras/{name}"]["initial_logits_max_abs_diff"] < 1e-5  # same start
