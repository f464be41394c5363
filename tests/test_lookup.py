"""StringLookup, IntegerLookup and CategoryEncoding: Keras' ordering and OOV rules, shapes, errors."""

import numpy as np
import pytest

import scratchnet as sn


def test_string_adapt_order_count_then_token_descending():
    layer = sn.layers.StringLookup()
    layer.adapt(["a", "b", "b", "c", "a", "d"])
    assert layer.get_vocabulary() == ["[UNK]", "b", "a", "d", "c"]
    assert layer.get_vocabulary(include_special_tokens=False) == ["b", "a", "d", "c"]
    assert layer.vocabulary_size() == 5
    out = layer(np.array([["a", "zz"], ["d", "[UNK]"]]))
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, [[2, 0], [3, 0]])


def test_string_adapt_drops_oov_token_and_respects_max_tokens():
    layer = sn.layers.StringLookup(max_tokens=3)
    layer.adapt(np.array([["x", "[UNK]", "[UNK]"], ["y", "y", "z"]]))
    assert layer.get_vocabulary() == ["[UNK]", "y", "z"]  # x and z tie at 1: z wins (descending)


def test_string_inputs_as_bytes_objects_and_lists():
    layer = sn.layers.StringLookup(vocabulary=["héllo", "b"])
    expected = [[1, 2, 0]]
    np.testing.assert_array_equal(layer(np.array([["héllo", "b", "c"]])), expected)
    np.testing.assert_array_equal(layer(np.array([["héllo".encode(), b"b", b"c"]])), expected)
    np.testing.assert_array_equal(layer(np.array([["héllo", b"b", "c"]], dtype=object)), expected)
    with pytest.raises(TypeError, match='StringLookup "string_lookup".*strings'):
        layer(np.array([[1, 2, 3]]))
    with pytest.raises(TypeError, match="strings, received 3"):
        layer(np.array([["a", 3, "b"]], dtype=object))


def test_vocabulary_argument_rules():
    given = sn.layers.StringLookup(vocabulary=["[UNK]", "p", "q"])  # OOV in front is accepted
    assert given.get_vocabulary() == ["[UNK]", "p", "q"]
    with pytest.raises(ValueError, match="repeated tokens \\['p'\\]"):
        sn.layers.StringLookup(vocabulary=["p", "q", "p"])
    with pytest.raises(ValueError, match="empty vocabulary"):
        sn.layers.StringLookup(vocabulary=[])
    with pytest.raises(ValueError, match="larger than max_tokens=2"):
        sn.layers.StringLookup(vocabulary=["p", "q"], max_tokens=2)
    with pytest.raises(ValueError, match="cannot adapt"):
        given.adapt(["p"])
    with pytest.raises(ValueError, match="no vocabulary yet"):
        sn.layers.StringLookup()(np.array([["p"]]))
    with pytest.raises(ValueError, match='output_mode="int"'):
        sn.layers.StringLookup(output_mode="one_hot")


def test_integer_lookup_oov_minus_one_and_ordering():
    layer = sn.layers.IntegerLookup()
    layer.adapt(np.array([5, 3, 3, 7, 5, 9, -1, -1, -1]))
    assert layer.get_vocabulary() == [-1, 5, 3, 9, 7]
    assert all(type(v) is int for v in layer.get_vocabulary())
    np.testing.assert_array_equal(layer(np.array([[5, 100], [-1, 7]])), [[1, 0], [0, 4]])
    with pytest.raises(TypeError, match="IntegerLookup.*integer"):
        layer(np.array([["5", "6"]]))
    with pytest.raises(ValueError, match="integer ids"):
        sn.layers.IntegerLookup(vocabulary=[1, 2.5])


def test_lookup_then_embedding_trains_on_strings_and_saves(tmp_path):
    rng = np.random.default_rng(0)
    words = np.array(["red", "green", "blue", "black"])
    x = words[rng.integers(0, 4, size=(120, 3))]
    y = np.isin(x[:, 0], ["red", "blue"]).astype(np.int64)
    lookup = sn.layers.StringLookup()
    lookup.adapt(x)
    model = sn.Sequential([sn.layers.Input((3,), dtype="string"), lookup, sn.layers.Embedding(5, 3),
                           sn.layers.Flatten(), sn.layers.Dense(2)], seed=0)
    model.compile(sn.optimizers.Adam(0.05), sn.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(x, y, epochs=20, batch_size=16, verbose=0)
    assert model.evaluate(x, y, verbose=0)[1] == 1.0
    unseen = np.array([["pink", "pink", "pink"]])
    assert model.predict(unseen).shape == (1, 2)  # OOV strings use row 0 of the table
    model.save(tmp_path / "m.npz")
    loaded = sn.load_model(tmp_path / "m.npz")
    assert loaded.layers[0].get_vocabulary() == lookup.get_vocabulary()
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert "string_lookup (StringLookup)" in model.summary(print_fn=None)


def _encoding(mode, sample_shape, num_tokens=4):
    layer = sn.layers.CategoryEncoding(num_tokens, output_mode=mode)
    layer.ensure_built(sample_shape)
    return layer


def test_category_encoding_one_hot_shapes():
    np.testing.assert_array_equal(_encoding("one_hot", ())(np.array([3, 0])),
                                  [[0, 0, 0, 1], [1, 0, 0, 0]])
    np.testing.assert_array_equal(_encoding("one_hot", (1,))(np.array([[3], [0]])),
                                  [[0, 0, 0, 1], [1, 0, 0, 0]])
    out = _encoding("one_hot", (2,))(np.array([[3, 1], [0, 0]]))
    assert out.shape == (2, 2, 4) and out.dtype == np.float32
    np.testing.assert_array_equal(out[0], [[0, 0, 0, 1], [0, 1, 0, 0]])


def test_category_encoding_multi_hot_and_count():
    ids = np.array([[0, 1, 1], [2, 3, 3]])
    np.testing.assert_array_equal(_encoding("multi_hot", (3,))(ids), [[1, 1, 0, 0], [0, 0, 1, 1]])
    np.testing.assert_array_equal(_encoding("count", (3,))(ids), [[1, 2, 0, 0], [0, 0, 1, 2]])
    assert sn.layers.CategoryEncoding(4).output_mode == "multi_hot"  # Keras' default


def test_category_encoding_errors():
    with pytest.raises(ValueError, match=r'CategoryEncoding "category_encoding".*\[0, 3\].*'
                                         r"received 4 at index \(0, 1\)"):
        _encoding("multi_hot", (2,))(np.array([[0, 4]]))
    with pytest.raises(ValueError, match=r"received -1"):
        _encoding("one_hot", ())(np.array([-1]))
    with pytest.raises(ValueError, match=r"reshape \(N,\) to \(N, 1\)"):
        _encoding("count", ())
    with pytest.raises(ValueError, match="expects inputs of shape \\(N, T\\)"):
        _encoding("multi_hot", (2, 2))
    with pytest.raises(ValueError, match="output_mode"):
        sn.layers.CategoryEncoding(4, output_mode="tf_idf")
    with pytest.raises(ValueError, match="num_tokens"):
        sn.layers.CategoryEncoding(0)


def test_lookup_category_encoding_dense_model():
    x = np.array([["a", "b"], ["c", "a"], ["b", "b"]])
    model = sn.Sequential([sn.layers.StringLookup(vocabulary=["a", "b", "c"]),
                           sn.layers.CategoryEncoding(4, output_mode="count"),
                           sn.layers.Dense(1, use_bias=False, kernel_initializer="ones")])
    np.testing.assert_array_equal(model.predict(x), [[2], [2], [2]])
    assert model.layers[1](model.layers[0](x)).tolist() == [[0, 1, 1, 0], [0, 1, 0, 1], [0, 0, 2, 0]]


def test_embeddings_doc_examples_run():
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "embeddings.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)
    assert len(blocks) == 5
    namespace = {}
    for block in blocks:
        exec(compile(block, "docs/embeddings.md", "exec"), namespace)
    assert namespace["model"].count_params() == 1260


# --- num_oov_indices (found by examples/keras_io/structured_data_classification.py) -----------
def test_no_oov_index_starts_the_vocabulary_at_zero_and_refuses_unknown_tokens():
    layer = sn.layers.StringLookup(num_oov_indices=0)
    layer.adapt(["a", "b", "b", "c", "a", "d"])
    assert layer.get_vocabulary() == ["b", "a", "d", "c"]
    assert layer.vocabulary_size() == 4
    np.testing.assert_array_equal(layer(np.array([["a", "c"], ["b", "d"]])), [[1, 3], [0, 2]])
    with pytest.raises(ValueError, match=r"num_oov_indices=0.*\['zz'\]"):
        layer(np.array([["a", "zz"], ["b", "b"]]))
    ints = sn.layers.IntegerLookup(num_oov_indices=0, vocabulary=[7, 3])
    np.testing.assert_array_equal(ints(np.array([3, 7, 7])), [1, 0, 0])
    with pytest.raises(ValueError, match="num_oov_indices=0"):
        ints(np.array([-1]))  # the OOV token itself has no index either


def test_several_oov_indices_hash_unknown_tokens_into_buckets():
    ints = sn.layers.IntegerLookup(num_oov_indices=3, vocabulary=[10, 20])
    assert ints.get_vocabulary() == [-1, -1, -1, 10, 20]
    assert ints.vocabulary_size() == 5
    np.testing.assert_array_equal(ints(np.array([10, 20, 4, -4, 6])), [3, 4, 1, 2, 0])  # floormod
    strings = sn.layers.StringLookup(num_oov_indices=2, vocabulary=["[UNK]", "[UNK]", "a"])
    assert strings.get_vocabulary() == ["[UNK]", "[UNK]", "a"]  # the given OOV entries dropped
    out = strings(np.array(["a", "x", "y", "x"]))
    assert out[0] == 2 and out[1] == out[3] and set(out[1:].tolist()) <= {0, 1}


def test_adapt_keeps_max_tokens_minus_the_oov_indices():
    layer = sn.layers.StringLookup(max_tokens=3, num_oov_indices=0)
    layer.adapt(["x", "y", "y", "z", "z", "z"])
    assert layer.get_vocabulary() == ["z", "y", "x"]
    layer = sn.layers.StringLookup(max_tokens=3, num_oov_indices=2)
    layer.adapt(["x", "y", "y", "z", "z", "z"])
    assert layer.get_vocabulary() == ["[UNK]", "[UNK]", "z"]
    with pytest.raises(ValueError, match="larger than max_tokens=3"):
        sn.layers.IntegerLookup(max_tokens=3, num_oov_indices=2, vocabulary=[1, 2])


@pytest.mark.parametrize("bad", [-1, 1.5, True, "1"])
def test_bad_num_oov_indices_is_refused(bad):
    with pytest.raises(ValueError, match=r"StringLookup .*num_oov_indices.*>= 0, received"):
        sn.layers.StringLookup(num_oov_indices=bad)


def test_num_oov_indices_survives_the_config_round_trip():
    layer = sn.layers.IntegerLookup(num_oov_indices=0, vocabulary=[5, 6])
    clone = sn.layers.IntegerLookup(**layer.get_config())
    assert clone.num_oov_indices == 0 and clone.get_vocabulary() == [5, 6]
    np.testing.assert_array_equal(clone(np.array([6, 5])), [1, 0])
