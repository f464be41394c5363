"""TextVectorization (golden values for every step and mode), Embedding(mask_zero) masking through
GlobalAveragePooling1D (forward, finite differences in float64), and the built-in reviews."""

import re
import warnings

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.layers import text as text_mod
from tests.gradcheck import REL_TOL, numeric_grad, rel_error


@pytest.fixture
def float64():
    sn.config.set_floatx("float64")


def _adapted(texts, **kwargs):
    layer = sn.layers.TextVectorization(**kwargs)
    layer.adapt(texts)
    return layer


# ----------------------------------------------------------------------------- the steps
def test_standardize_lowers_ascii_only_and_strips_keras_punctuation():
    texts = np.array(["Hello, World! It's ÉTÉ…", "a-b_c (d) [e] {f} \\g/ ~h^ `i` \"j\" ‘k’"])
    out = text_mod.standardize_texts(texts, "lower_and_strip_punctuation")
    # tf.strings.lower leaves É alone; "…" and the curly quotes are not ASCII punctuation
    assert out.tolist() == ["hello world its ÉtÉ…", "abc d e f g h i j ‘k’"]
    assert text_mod.standardize_texts(texts[:1], "lower").tolist() == ["hello, world! it's ÉtÉ…"]
    assert text_mod.standardize_texts(texts[:1], "strip_punctuation").tolist() == ["Hello World Its ÉTÉ…"]
    assert text_mod.standardize_texts(texts[:1], None).tolist() == texts[:1].tolist()
    assert text_mod.PUNCTUATION == "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"  # = string.punctuation


def test_split_on_ascii_whitespace_only_and_ngrams_width_by_width():
    texts = np.array(["  a\tb\n\nc  ", "x\xa0y\x1cz", ""])
    assert text_mod.split_texts(texts, "whitespace") == [["a", "b", "c"], ["x\xa0y\x1cz"], []]
    assert text_mod.split_texts(np.array(["ab c"]), "character") == [["a", "b", " ", "c"]]
    assert text_mod.split_texts(np.array(["ab c"]), None) == [["ab c"]]
    words = ["not", "very", "good"]
    assert text_mod.make_ngrams(words, (1, 2)) == ["not", "very", "good", "not very", "very good"]
    assert text_mod.make_ngrams(words, (3, 1)) == ["not very good", "not", "very", "good"]
    assert text_mod.make_ngrams(["one"], (2,)) == []
    assert text_mod.make_ngrams(words, None) == words


def test_callables_standardize_and_split():
    layer = _adapted(np.array(["A;B", "b;c"]), standardize=lambda t: np.char.lower(t),
                     split=lambda t: [s.split(";") for s in t.tolist()])
    assert layer.get_vocabulary() == ["", "[UNK]", "b", "c", "a"]
    np.testing.assert_array_equal(layer(np.array(["C;a;z"])), [[3, 4, 1]])


# ----------------------------------------------------------------------------- vocabulary
def test_adapt_orders_by_count_then_token_descending():
    layer = _adapted(np.array(["b a", "b c", "a d", "e"]))
    # b 2, a 2, then c d e once each: ties go to the larger token first
    assert layer.get_vocabulary() == ["", "[UNK]", "b", "a", "e", "d", "c"]
    assert layer.get_vocabulary(include_special_tokens=False) == ["b", "a", "e", "d", "c"]
    assert layer.vocabulary_size() == 7
    capped = _adapted(np.array(["b a", "b c", "a d", "e"]), max_tokens=4)
    assert capped.get_vocabulary() == ["", "[UNK]", "b", "a"]  # max_tokens counts "" and [UNK]
    multi = _adapted(np.array(["b a", "b c", "a d", "e"]), max_tokens=4, output_mode="multi_hot")
    assert multi.get_vocabulary() == ["[UNK]", "b", "a", "e"]  # no mask token outside "int"


def test_vocabulary_argument_with_or_without_special_tokens():
    plain = sn.layers.TextVectorization(vocabulary=["earth", "wind", "and", "fire"])
    full = sn.layers.TextVectorization(vocabulary=["", "[UNK]", "earth", "wind", "and", "fire"])
    assert plain.get_vocabulary() == full.get_vocabulary() == ["", "[UNK]", "earth", "wind", "and",
                                                               "fire"]
    np.testing.assert_array_equal(plain(np.array(["Earth, wind and water"])), [[2, 3, 4, 1]])
    with pytest.raises(ValueError, match="cannot adapt layer"):
        plain.adapt(np.array(["x"]))


def test_int_output_pads_with_zero_and_truncates():
    layer = _adapted(np.array(["the cat sat", "the dog"]))  # the 2, then sat dog cat
    assert layer.get_vocabulary() == ["", "[UNK]", "the", "sat", "dog", "cat"]
    out = layer(np.array(["The cat sat on the mat.", "dog"]))
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, [[2, 5, 3, 1, 2, 1], [4, 0, 0, 0, 0, 0]])
    short = _adapted(np.array(["the cat sat", "the dog"]), output_sequence_length=3)
    np.testing.assert_array_equal(short(np.array(["the cat sat on", "dog"])),
                                  [[2, 5, 3], [4, 0, 0]])
    np.testing.assert_array_equal(short(np.array([["x"]])), [[1, 0, 0]])  # (N, 1) input too
    assert short(np.array(["", ""])).tolist() == [[0, 0, 0], [0, 0, 0]]


def test_adapt_reads_batches_from_an_iterable_up_to_steps():
    batches = [np.array(["a b"]), np.array(["b c"]), np.array(["c c c"])]
    layer = sn.layers.TextVectorization()
    layer.adapt(iter(batches), steps=2)  # the third batch is never read
    assert layer.get_vocabulary() == ["", "[UNK]", "b", "c", "a"]
    layer = sn.layers.TextVectorization()
    layer.adapt(b for b in batches)
    assert layer.get_vocabulary() == ["", "[UNK]", "c", "b", "a"]


def test_without_output_sequence_length_a_model_takes_any_length():
    texts = np.array(["a b c", "b", "c a"])
    vectorize = _adapted(texts)
    model = sn.Sequential([sn.layers.Input((1,), dtype="string"), vectorize,
                           sn.layers.Embedding(vectorize.vocabulary_size(), 2, mask_zero=True),
                           sn.layers.GlobalAveragePooling1D()], seed=0)
    assert vectorize.output_shape == (None,) and model.output_shape == (None, 2)
    table = model.get_weights()[0]
    short, long = model(np.array([["b"]])), model(np.array([["b"], ["b a c b"]]))
    np.testing.assert_allclose(short[0], table[vectorize.lookup(["b"])[0]], rtol=1e-6)
    np.testing.assert_allclose(long[0], short[0], rtol=1e-6)  # padded to 4 steps, same mean


def test_int_without_vocabulary_is_an_error_as_in_keras():
    # Keras 3.15 raises FailedPreconditionError "Table not initialized" here (checked); mapping
    # every token to the OOV index 1 without a word would be silently wrong.
    with pytest.raises(ValueError, match='TextVectorization "text_vectorization": the layer has no '
                                         'vocabulary yet.*adapt'):
        sn.layers.TextVectorization()(np.array(["a b"]))


def test_vocabulary_files_are_read_one_token_per_line(tmp_path):
    # Keras' vocabulary="path" (values checked against Keras 3.15: the same indices)
    (tmp_path / "words.txt").write_text("cat\ndog\nbird\n", encoding="utf-8")
    (tmp_path / "ids.txt").write_text("7\n3\n11\n", encoding="utf-8")
    text = sn.layers.TextVectorization(vocabulary=str(tmp_path / "words.txt"))
    assert text.get_vocabulary() == ["", "[UNK]", "cat", "dog", "bird"]
    np.testing.assert_array_equal(text(np.array(["bird cat cow"])), [[4, 2, 1]])
    words = sn.layers.StringLookup(vocabulary=tmp_path / "words.txt")
    np.testing.assert_array_equal(words(np.array(["dog", "cow", "bird"])), [2, 0, 3])
    ids = sn.layers.IntegerLookup(vocabulary=str(tmp_path / "ids.txt"))
    assert ids.get_vocabulary() == [-1, 7, 3, 11]
    np.testing.assert_array_equal(ids(np.array([3, 4, 11])), [2, 0, 3])
    with pytest.raises(ValueError, match=r'StringLookup "string_lookup": Vocabulary file .*nope'
                                         r'\.txt does not exist'):
        sn.layers.StringLookup(vocabulary=str(tmp_path / "nope.txt"))
    (tmp_path / "gap.txt").write_text("cat\n\ndog\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"gap\.txt' has an empty line \(line 2\)"):
        sn.layers.StringLookup(vocabulary=str(tmp_path / "gap.txt"))  # Keras refuses it too
    (tmp_path / "bad_ids.txt").write_text("7\nseven\n", encoding="utf-8")
    with pytest.raises(ValueError, match="one integer per line, found 'seven'"):
        sn.layers.IntegerLookup(vocabulary=str(tmp_path / "bad_ids.txt"))


def test_multi_hot_count_and_tf_idf_golden():
    texts = np.array(["a b a", "b c", "a"])
    counts = _adapted(texts, output_mode="count")
    assert counts.get_vocabulary() == ["[UNK]", "a", "b", "c"]  # a 3, b 2, c 1
    query = np.array(["a a z b", "c"])
    np.testing.assert_array_equal(counts(query), [[1, 2, 1, 0], [0, 0, 0, 1]])
    np.testing.assert_array_equal(_adapted(texts, output_mode="multi_hot")(query),
                                  [[1, 1, 1, 0], [0, 0, 0, 1]])
    tfidf = _adapted(texts, output_mode="tf_idf")
    # idf = log(1 + D / (1 + df)): D = 3 texts; a in 2 of them, b in 2, c in 1; OOV: their mean
    idf = np.log(1 + 3 / (1 + np.array([2.0, 2.0, 1.0])))
    idf = np.concatenate([[idf.mean()], idf])
    np.testing.assert_allclose(tfidf.idf_weights, idf, rtol=1e-6)
    np.testing.assert_allclose(tfidf(query), np.array([[1, 2, 1, 0], [0, 0, 0, 1]]) * idf,
                               rtol=1e-6)
    padded = _adapted(texts, output_mode="count", max_tokens=6, pad_to_max_tokens=True)
    assert padded(query).shape == (2, 6)
    given = sn.layers.TextVectorization(output_mode="tf_idf", vocabulary=["a", "b"],
                                        idf_weights=[1.0, 3.0])
    np.testing.assert_allclose(given(np.array(["a b b z"])), [[2.0, 1.0, 6.0]])  # OOV: mean 2


def test_ngrams_enter_the_vocabulary():
    layer = _adapted(np.array(["not good", "good"]), ngrams=2)
    assert layer.get_vocabulary() == ["", "[UNK]", "good", "not good", "not"]
    np.testing.assert_array_equal(layer(np.array(["not good"])), [[4, 2, 3]])


def test_get_config_rebuilds_the_same_layer():
    texts = np.array(["a b a", "b c", "a"])
    for kwargs in ({}, {"output_mode": "tf_idf", "ngrams": 2}, {"output_sequence_length": 4,
                                                                "max_tokens": 4}):
        layer = _adapted(texts, **kwargs)
        config = layer.get_config()
        assert config["vocabulary"][:2] == layer.get_vocabulary()[:2]
        twin = sn.layers.TextVectorization(**config)
        assert twin.get_vocabulary() == layer.get_vocabulary()
        query = np.array(["a b c d", "c a"])
        np.testing.assert_array_equal(twin(query), layer(query))


def test_text_vectorization_in_a_sequential_with_npz_saving(tmp_path):
    texts, labels = sn.datasets.load_reviews(num_samples=64)
    vectorize = _adapted(texts, output_sequence_length=12)
    model = sn.Sequential([sn.layers.Input((1,), dtype="string"), vectorize,
                           sn.layers.Embedding(vectorize.vocabulary_size(), 4, mask_zero=True),
                           sn.layers.GlobalAveragePooling1D(), sn.layers.Dense(1)], seed=0)
    model.compile("adam", "mse")
    model.fit(texts[:, None], labels, epochs=1, batch_size=16, verbose=0)
    model.save(tmp_path / "m.npz")
    loaded = sn.load_model(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.predict(texts[:8, None], verbose=0),
                                  model.predict(texts[:8, None], verbose=0))


# ----------------------------------------------------------------------------- bad input
def test_bad_input_errors_name_the_layer_and_what_was_expected():
    with pytest.raises(ValueError, match=re.escape("larger than the maximum vocab size. Received "
                                                   "vocabulary size is 5; `max_tokens` is 4")):
        sn.layers.TextVectorization(max_tokens=4, vocabulary=["a", "b", "c"])
    layer = _adapted(np.array(["a b"]))
    with pytest.raises(TypeError, match="TextVectorization .*expected strings .*float64"):
        layer(np.array([[1.5], [2.0]]))
    with pytest.raises(TypeError, match="expected strings, received 3 of type int"):
        layer.adapt(["a", 3])
    with pytest.raises(ValueError, match=re.escape("expected output_mode to be one of ('int', "
                                                   "'one_hot', 'multi_hot', 'count', 'tf_idf'), "
                                                   "received 'bag'")):
        sn.layers.TextVectorization(output_mode="bag")
    with pytest.raises(ValueError, match="expected standardize to be one of"):
        sn.layers.TextVectorization(standardize="upper")
    with pytest.raises(ValueError, match="`max_tokens` must be an integer greater than 1"):
        sn.layers.TextVectorization(max_tokens=1)
    with pytest.raises(ValueError, match="must not be set if `output_mode` is not 'int'"):
        sn.layers.TextVectorization(output_mode="count", output_sequence_length=3)
    with pytest.raises(ValueError, match="the input rank must be 1 or the last shape dimension"):
        layer(np.array([["a", "b"]]))
    with pytest.raises(ValueError, match="repeated term"):
        sn.layers.TextVectorization(vocabulary=["a", "b", "a"])
    with pytest.raises(ValueError, match="`idf_weights` argument must also be provided"):
        sn.layers.TextVectorization(output_mode="tf_idf", vocabulary=["a"])
    with pytest.raises(ValueError, match="you must set the layer's vocabulary"):
        sn.layers.TextVectorization(output_mode="count")(np.array(["a"]))


# ----------------------------------------------------------------------------- masking
def _masked_model(vocab=6, dim=3, seed=0, middle=()):
    return sn.Sequential([sn.layers.Input((5,), dtype="int32"),
                          sn.layers.Embedding(vocab, dim, mask_zero=True), *middle,
                          sn.layers.GlobalAveragePooling1D(), sn.layers.Dense(2)], seed=seed)


IDS = np.array([[3, 1, 0, 0, 0], [5, 5, 2, 4, 0], [1, 0, 0, 0, 0]])


def test_embedding_mask_zero_makes_the_mask_and_pooling_averages_real_tokens():
    layer = sn.layers.Embedding(6, 3, mask_zero=True)
    np.testing.assert_array_equal(layer.compute_mask(IDS), IDS != 0)
    assert sn.layers.Embedding(6, 3).compute_mask(IDS) is None
    model = _masked_model()
    table = model.layers[0].embeddings.value
    dense = model.layers[2]
    pooled = np.stack([table[row[row != 0]].mean(axis=0) for row in IDS])  # real tokens only
    np.testing.assert_allclose(model(IDS), pooled @ dense.kernel.value + dense.bias.value,
                               rtol=1e-6)
    # more padding changes nothing
    wider = sn.Sequential([sn.layers.Input((8,), dtype="int32"),
                           sn.layers.Embedding(6, 3, mask_zero=True),
                           sn.layers.GlobalAveragePooling1D(), sn.layers.Dense(2)], seed=0)
    wider.set_weights(model.get_weights())
    np.testing.assert_allclose(wider(np.pad(IDS, ((0, 0), (0, 3)))), model(IDS), rtol=1e-6)


def test_masked_pooling_golden_and_all_padding_is_nan():
    pool = sn.layers.GlobalAveragePooling1D()
    x = np.arange(12, dtype=np.float32).reshape(2, 3, 2)
    mask = np.array([[True, False, True], [False, False, False]])
    pool.ensure_built((3, 2), None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning for Keras' 0 / 0
        y = pool.forward(x, mask=mask)
        dx = pool.backward(np.ones((2, 2), np.float32))
    np.testing.assert_array_equal(y[0], [2.0, 3.0])  # rows 0 and 2: (0 + 4) / 2, (1 + 5) / 2
    assert np.isnan(y[1]).all()
    np.testing.assert_array_equal(dx, [[[0.5, 0.5], [0, 0], [0.5, 0.5]], np.zeros((3, 2))])


def test_masked_model_gradients_match_finite_differences(float64):
    for middle in ((), (sn.layers.Dense(4, activation="tanh"),)):  # Dense passes the mask on
        model = _masked_model(middle=middle)
        model.compile("sgd", sn.losses.SparseCategoricalCrossentropy(from_logits=True))
        y = np.array([0, 1, 1])
        loss, grads = model.loss_and_grads(IDS, y)
        assert np.all(grads[0][0] == 0)  # the padding row 0 is never used
        assert np.all(grads[0][1] != 0)
        for param, grad in zip(model.params, grads, strict=True):
            numeric = numeric_grad(lambda m=model, t=y: m.loss_and_grads(IDS, t)[0], param.value)
            assert rel_error(grad, numeric) < REL_TOL, param.name


def test_masked_pooling_layer_gradient_with_keepdims(float64, rng):
    pool = sn.layers.GlobalAveragePooling1D(keepdims=True)
    pool.ensure_built((4, 3), rng)
    x = rng.standard_normal((2, 4, 3))
    mask = np.array([[True, True, False, True], [False, True, False, False]])
    w = rng.standard_normal((2, 1, 3))
    pool.forward(x, mask=mask)
    dx = pool.backward(w)
    numeric = numeric_grad(lambda: float(np.sum(w * pool.forward(x, mask=mask))), x)
    assert rel_error(dx, numeric) < REL_TOL
    assert np.all(dx[~mask] == 0)


def test_layers_without_masking_drop_the_mask_with_keras_warning():
    model = sn.Sequential([sn.layers.Input((5,), dtype="int32"),
                           sn.layers.Embedding(6, 3, mask_zero=True),
                           sn.layers.GlobalMaxPooling1D(), sn.layers.Dense(1)], seed=0)
    with pytest.warns(UserWarning, match="global_max_pooling1d.*does not support masking"):
        y = model(IDS)
    table = model.layers[0].embeddings.value
    pooled = table[IDS].max(axis=1)  # padding included, as Keras 3.15 does
    dense = model.layers[2]
    np.testing.assert_allclose(y, pooled @ dense.kernel.value + dense.bias.value, rtol=1e-6)


# ----------------------------------------------------------------------------- reviews
def test_load_reviews_is_deterministic_and_follows_its_rule():
    texts, labels = sn.datasets.load_reviews("train", seed=3, num_samples=300)
    again, labels_again = sn.datasets.load_reviews("train", seed=3, num_samples=300)
    assert texts.dtype.kind == "U" and labels.dtype == np.int64 and texts.shape == labels.shape
    np.testing.assert_array_equal(texts, again)
    np.testing.assert_array_equal(labels, labels_again)
    prefix, _ = sn.datasets.load_reviews("train", seed=3, num_samples=10)
    np.testing.assert_array_equal(prefix, texts[:10])
    test_texts, _ = sn.datasets.load_reviews("test", seed=3, num_samples=300)
    assert not set(test_texts) >= set(texts[:50]) and len(set(test_texts) & set(texts)) < 30
    assert len(sn.datasets.load_reviews()[0]) == 4000
    assert 0.4 < labels.mean() < 0.6
    words = text_mod.standardize_texts(texts, "lower_and_strip_punctuation")
    for text, label in zip(words.tolist(), labels.tolist(), strict=True):
        tokens = text.split()
        where = next(i for i, t in enumerate(tokens)
                     if t in sn.datasets.reviews.POSITIVE + sn.datasets.reviews.NEGATIVE)
        negated = "not" in tokens[max(0, where - 2):where]
        assert label == int((tokens[where] in sn.datasets.reviews.POSITIVE) != negated), text
    nots = np.array([t.split().count("not") for t in words.tolist()])
    assert 0.4 < np.mean(nots == 1) < 0.6  # half the reviews: one "not", could be either
    with pytest.raises(ValueError, match="load_reviews: expected split 'train' or 'test'"):
        sn.datasets.load_reviews("valid")


def test_a_mask_reaching_the_loss_is_refused_not_ignored():
    model = sn.Sequential([sn.layers.Input((5,), dtype="int32"),
                           sn.layers.Embedding(6, 3, mask_zero=True), sn.layers.Dense(2)], seed=0)
    model.compile("sgd", sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert model.predict(IDS, verbose=0).shape == (3, 5, 2)  # predicting is fine
    with pytest.raises(ValueError, match="Keras would weight the loss and metrics by it"):
        model.fit(IDS, np.zeros((3, 5), np.int64), epochs=1, verbose=0)
