"""Normalization, Discretization, Hashing, HashedCrossing and FeatureSpace on their own: golden
values (from Keras' docstrings and from TensorFlow's hash ops, recorded), adapt results, invert,
finite differences for Normalization's backward, and bad input."""

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.layers.hash_functions import fingerprint64, fingerprint_cat64, siphash24
from tests.gradcheck import check_layer

STRINGS = ["", "a", "abcd", "hello world", "x" * 20, "y" * 40, "scratchnet " * 10]  # every length path
# tf.strings.to_hash_bucket_fast(STRINGS, 2**63 - 1) and _strong(..., key=[133, 7]), recorded.
FAST = [1936946117179621456, 3694432073954588132, 1897425971756105985, 6381520714923946011,
        8233088228747857348, 276292113409495006, 8401718348348431604]
STRONG = [7017924607280352077, 3279621250050176426, 5484571581591539572, 907771609271717676,
          7285356894759234222, 517079817241892163, 6954903490754988124]


# --- the hash functions ------------------------------------------------------------------------
def test_fingerprint64_and_siphash_equal_tensorflows_hash_buckets():
    assert [fingerprint64(s.encode()) % (2**63 - 1) for s in STRINGS] == FAST
    assert [siphash24((133, 7), s.encode()) % (2**63 - 1) for s in STRINGS] == STRONG
    assert fingerprint64(b"") == 0x9AE16A3B2F90404F  # FarmHash's k2 for empty input


def test_fingerprint_cat64_is_order_sensitive():
    a, b = fingerprint64(b"a"), fingerprint64(b"b")
    assert fingerprint_cat64(a, b) != fingerprint_cat64(b, a)
    assert 0 <= fingerprint_cat64(a, b) < 2**64


# --- Normalization -----------------------------------------------------------------------------
def test_normalization_keras_docstring_examples():
    layer = sn.layers.Normalization(axis=None)
    layer.adapt(np.array([1.0, 2.0, 3.0, 4.0, 5.0], dtype="float32")[:, None])
    np.testing.assert_allclose(layer(np.array([[1.0], [2.0], [3.0]])).ravel(),
                               [-1.4142135, -0.70710677, 0.0], rtol=1e-6)
    adapt_data = np.array([[0.0, 7.0, 4.0], [2.0, 9.0, 6.0], [0.0, 7.0, 4.0], [2.0, 9.0, 6.0]],
                          dtype="float32")
    layer = sn.layers.Normalization(axis=-1)
    layer.adapt(adapt_data)
    np.testing.assert_array_equal(layer(np.array([[0.0, 7.0, 4.0]])), [[-1.0, -1.0, -1.0]])
    layer = sn.layers.Normalization(mean=3.0, variance=2.0)
    np.testing.assert_allclose(layer(np.array([[1.0], [2.0], [3.0]])).ravel(),
                               [-1.4142135, -0.70710677, 0.0], rtol=1e-6)
    layer = sn.layers.Normalization(axis=-1, invert=True)
    layer.adapt(adapt_data)
    np.testing.assert_array_equal(layer(np.array([[1.0, 2.0, 3.0]])), [[2.0, 10.0, 8.0]])


def test_normalization_weights_are_keras_mean_variance_count():
    layer = sn.layers.Normalization()
    layer.adapt(np.array([[1.0, 10.0], [3.0, 30.0]]))
    assert [w.name for w in layer.weights] == ["normalization/mean", "normalization/variance",
                                               "normalization/count"]
    assert not layer.params  # nothing trainable
    np.testing.assert_array_equal(layer.weights[0].value, [2.0, 20.0])
    np.testing.assert_array_equal(layer.weights[1].value, [1.0, 100.0])
    assert layer.weights[2].value.dtype == np.int64 and layer.weights[2].value == 0
    assert sn.layers.Normalization(mean=1.0, variance=1.0).weights == []


def test_normalization_merges_batches_to_the_whole_datas_statistics():
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(101, 4)).astype("float32")
    whole, batched = sn.layers.Normalization(), sn.layers.Normalization()
    whole.adapt(x)
    batched.adapt([x[i:i + 32] for i in range(0, 101, 32)])
    np.testing.assert_allclose(batched.weights[0].value, x.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(batched.weights[1].value, x.var(axis=0), rtol=1e-5)
    np.testing.assert_allclose(batched.weights[0].value, whole.weights[0].value, rtol=1e-6)


def test_normalization_axes_and_invert_roundtrip():
    x = np.random.default_rng(1).normal(size=(6, 3, 2))
    layer = sn.layers.Normalization(axis=(1, 2))
    layer.adapt(x)
    assert layer.weights[0].value.shape == (3, 2)
    y = layer(x)
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=1e-5)
    inverse = sn.layers.Normalization(axis=(1, 2), mean=layer.weights[0].value,
                                      variance=layer.weights[1].value, invert=True)
    np.testing.assert_allclose(inverse(y), x, rtol=1e-5, atol=1e-5)
    constant = sn.layers.Normalization()
    constant.adapt(np.ones((4, 1)))
    np.testing.assert_array_equal(constant(np.array([[1.0], [2.0]])), [[0.0], [1e7]])  # floor 1e-7


@pytest.mark.parametrize("invert", [False, True])
def test_normalization_backward_matches_finite_differences(invert):
    sn.config.set_floatx("float64")
    try:
        rng = np.random.default_rng(2)
        layer = sn.layers.Normalization(mean=[1.0, -2.0, 0.5], variance=[4.0, 0.25, 9.0],
                                        invert=invert)
        check_layer(layer, rng.normal(size=(5, 3)), rng)
    finally:
        sn.config.set_floatx("float32")


def test_normalization_bad_input():
    with pytest.raises(ValueError, match="both mean and variance"):
        sn.layers.Normalization(mean=1.0)
    with pytest.raises(ValueError, match="same shape"):
        sn.layers.Normalization(mean=[1.0, 2.0], variance=[1.0])
    with pytest.raises(ValueError, match="rank of mean"):
        sn.layers.Normalization(axis=-1, mean=[[1.0]], variance=[[1.0]])
    with pytest.raises(ValueError, match="empty iterable"):
        sn.layers.Normalization().adapt([])
    with pytest.raises(ValueError, match="at least one sample"):
        sn.layers.Normalization().adapt(np.zeros((0, 3)))
    with pytest.raises(TypeError, match=r"Normalization.*strings"):
        sn.layers.Normalization().adapt(np.array([["a"], ["b"]]))
    layer = sn.layers.Normalization(mean=0.0, variance=1.0)
    with pytest.raises(TypeError, match=r"Normalization.*dtype <U1"):
        layer(np.array([["1"], ["2"]]))
    with pytest.raises(ValueError, match="cannot adapt"):
        layer.adapt(np.ones((2, 1)))
    with pytest.raises(ValueError, match="range"):
        sn.layers.Normalization(axis=3).adapt(np.ones((2, 2)))
    with pytest.raises(ValueError, match="batch axis"):
        sn.layers.Normalization().adapt(np.ones(4))  # (N,) with axis=-1: Keras keeps the batch
    with pytest.raises(TypeError, match="arrays with a shape"):
        sn.layers.Normalization().adapt([1.0, 2.0])  # a list is batches in Keras too
    adapted = sn.layers.Normalization()
    adapted.adapt(np.ones((3, 2)))
    with pytest.raises(ValueError, match="incompatible shape"):
        adapted.adapt(np.ones((3, 4)))


# --- Discretization ----------------------------------------------------------------------------
X = np.array([[-1.5, 1.0, 3.4, 0.5], [0.0, 3.0, 1.3, 0.0]])


def test_discretization_keras_docstring_examples():
    layer = sn.layers.Discretization(bin_boundaries=[0.0, 1.0, 2.0])
    out = layer(X)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, [[0, 2, 3, 1], [1, 3, 2, 1]])
    layer = sn.layers.Discretization(num_bins=4, epsilon=0.01)
    layer.adapt(X)
    assert layer.bin_boundaries == [0.0, 0.5, 1.2999999523162842]  # Keras' float32 boundaries
    np.testing.assert_array_equal(layer(X), [[0, 2, 3, 2], [1, 3, 3, 1]])


def test_discretization_quantiles_of_a_large_sample():
    x = np.random.default_rng(3).uniform(0, 100, size=(10_000, 1))
    layer = sn.layers.Discretization(num_bins=4)
    layer.adapt(x)
    np.testing.assert_allclose(layer.bin_boundaries, [25, 50, 75], atol=1.5)  # approx. quantiles
    counts = np.bincount(layer(x).ravel(), minlength=4)
    assert counts.min() > 2300


def test_discretization_output_modes():
    layer = sn.layers.Discretization(bin_boundaries=[0.0, 1.0, 2.0], output_mode="one_hot")
    np.testing.assert_array_equal(layer(np.array([[-1.0], [1.5]])), [[1, 0, 0, 0], [0, 0, 1, 0]])
    assert sn.layers.Discretization(bin_boundaries=[0.0], output_mode="one_hot")(X).shape == (2, 4, 2)
    multi = sn.layers.Discretization(bin_boundaries=[0.0, 1.0, 2.0], output_mode="multi_hot")
    np.testing.assert_array_equal(multi(X), [[1, 1, 1, 1], [0, 1, 1, 1]])
    count = sn.layers.Discretization(bin_boundaries=[0.0, 1.0, 2.0], output_mode="count")
    np.testing.assert_array_equal(count(X), [[1, 1, 1, 1], [0, 2, 1, 1]])


def test_discretization_bad_input():
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="num_bins"):
            sn.layers.Discretization(num_bins=bad)
    with pytest.raises(ValueError, match="should not be set"):
        sn.layers.Discretization(num_bins=3, bin_boundaries=[1.0])
    with pytest.raises(ValueError, match="either num_bins or bin_boundaries"):
        sn.layers.Discretization()
    with pytest.raises(ValueError, match="output_mode"):
        sn.layers.Discretization(num_bins=3, output_mode="tf_idf")
    with pytest.raises(ValueError, match="sorted"):
        sn.layers.Discretization(bin_boundaries=[2.0, 1.0])
    with pytest.raises(ValueError, match="use num_bins instead"):
        sn.layers.Discretization(bin_boundaries=[1.0]).adapt(X)
    with pytest.raises(ValueError, match="call adapt"):
        sn.layers.Discretization(num_bins=3)(X)
    with pytest.raises(ValueError, match="no values"):
        sn.layers.Discretization(num_bins=3).adapt(np.zeros((0, 1)))
    with pytest.raises(TypeError, match="Discretization.*strings"):
        sn.layers.Discretization(num_bins=3).adapt(np.array([["a"]]))
    with pytest.raises(ValueError, match=r"\(N, T\)"):
        sn.layers.Discretization(bin_boundaries=[1.0], output_mode="count")(np.ones(3))


# --- Hashing -----------------------------------------------------------------------------------
WORDS = np.array([["a"], ["b"], ["zz"], ["hello world"], [""]])


def test_hashing_bins_equal_keras():
    # keras.layers.Hashing(7, ...)(WORDS), recorded with Keras 3.15 / TensorFlow 2.21.
    assert sn.layers.Hashing(7)(WORDS).ravel().tolist() == [5, 2, 1, 0, 6]
    assert sn.layers.Hashing(7, salt=133)(WORDS).ravel().tolist() == [4, 5, 1, 0, 6]
    assert sn.layers.Hashing(7, salt=[1, 2])(WORDS).ravel().tolist() == [1, 1, 1, 3, 5]
    assert sn.layers.Hashing(7, mask_value="a")(WORDS).ravel().tolist() == [0, 5, 5, 4, 6]
    ints = np.array([[1], [-5], [12345678901], [0]])
    assert sn.layers.Hashing(7)(ints).ravel().tolist() == [5, 0, 3, 2]
    assert sn.layers.Hashing(7, mask_value=0)(ints).ravel().tolist() == [4, 1, 1, 0]
    floats = np.array([[1.7], [-5.2], [3.0]])  # truncated to int64 first, as Keras
    assert sn.layers.Hashing(7)(floats).ravel().tolist() == [5, 0, 2]
    assert sn.layers.Hashing(7)(WORDS).dtype == np.int64
    as_bytes = np.char.encode(WORDS, "utf-8")
    np.testing.assert_array_equal(sn.layers.Hashing(7)(as_bytes), sn.layers.Hashing(7)(WORDS))


def test_hashing_output_modes():
    one_hot = sn.layers.Hashing(7, output_mode="one_hot")(WORDS)
    assert one_hot.shape == (5, 7) and one_hot.dtype == np.float32
    np.testing.assert_array_equal(one_hot.argmax(axis=1), [5, 2, 1, 0, 6])
    pairs = np.array([["a", "a"], ["b", "zz"]])
    np.testing.assert_array_equal(sn.layers.Hashing(7, output_mode="count")(pairs)[0],
                                  [0, 0, 0, 0, 0, 2, 0])
    np.testing.assert_array_equal(sn.layers.Hashing(7, output_mode="multi_hot")(pairs)[1],
                                  [0, 1, 1, 0, 0, 0, 0])


def test_hashing_bad_input():
    for bad in (0, -2, None, 1.5):
        with pytest.raises(ValueError, match="num_bins"):
            sn.layers.Hashing(bad)
    with pytest.raises(ValueError, match="salt"):
        sn.layers.Hashing(3, salt="pepper")
    with pytest.raises(ValueError, match="output_mode"):
        sn.layers.Hashing(3, output_mode="binary")
    with pytest.raises(ValueError, match="sparse"):
        sn.layers.Hashing(3, output_mode="one_hot", sparse=True)
    with pytest.raises(TypeError, match="Hashing.*booleans"):
        sn.layers.Hashing(3)(np.array([[True]]))
    with pytest.raises(TypeError, match="Hashing.*received 1.5"):
        sn.layers.Hashing(3)(np.array([["a"], [1.5]], dtype=object))


# --- HashedCrossing ----------------------------------------------------------------------------
def test_hashed_crossing_equals_keras():
    a, b = np.array([["a"], ["b"], ["c"]]), np.array([[1], [2], [3]])
    layer = sn.layers.HashedCrossing(10)
    out = layer([a, b])  # keras.layers.HashedCrossing(10)([a, b]) -> [[5], [7], [4]]
    assert out.dtype == np.int64 and out.tolist() == [[5], [7], [4]]
    assert sn.layers.HashedCrossing(10)([a.ravel(), b.ravel()]).tolist() == [5, 7, 4]
    assert sn.layers.HashedCrossing(10)([b.astype("int32"), b]).ravel().tolist() == [1, 1, 5]
    one_hot = sn.layers.HashedCrossing(10, output_mode="one_hot")([a, b])
    assert one_hot.shape == (3, 10)
    np.testing.assert_array_equal(one_hot.argmax(axis=1), [5, 7, 4])


def test_hashed_crossing_bad_input():
    layer = sn.layers.HashedCrossing(4)
    a = np.array([["a"], ["b"]])
    with pytest.raises(ValueError, match="list or tuple"):
        layer(a)
    with pytest.raises(ValueError, match="at least two"):
        layer([a])
    with pytest.raises(ValueError, match="equal shape"):
        layer([a, np.array([[1], [2], [3]])])
    with pytest.raises(ValueError, match=r"\(batch_size, 1\)"):
        layer([np.ones((2, 3), int), np.ones((2, 3), int)])
    with pytest.raises(TypeError, match="integer or string"):
        layer([a, np.array([[1.5], [2.5]])])
    with pytest.raises(ValueError, match="output_mode"):
        sn.layers.HashedCrossing(4, output_mode="count")


# --- FeatureSpace ------------------------------------------------------------------------------
def table():
    return {"price": np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], dtype="float32"),
            "color": np.array(["red", "blue", "red", "green", "red", "blue"]),
            "size": np.array([1, 2, 2, 3, 1, 2]),
            "ratio": np.array([0.5, 1.5, 2.5, 0.5, 1.5, 2.5], dtype="float32")}


def test_feature_space_concat_layout_and_values():
    fs = sn.utils.FeatureSpace({"price": "float_normalized", "color": "string_categorical",
                                "size": "integer_categorical",
                                "ratio": sn.utils.FeatureSpace.float_rescaled(scale=2.0)},
                               crosses=[("color", "size")], crossing_dim=4)
    fs.adapt(table())
    out = fs(table())
    # sorted by name: color (4: [UNK], red, blue, green), price (1), ratio (1), size (4:
    # [UNK], 2, 1, 3), then the cross color_X_size (4).
    assert out.shape == (6, 14) and out.dtype == np.float32
    assert fs.preprocessors["color"].get_vocabulary() == ["[UNK]", "red", "blue", "green"]
    np.testing.assert_array_equal(out[:, 0:4], np.eye(4)[[1, 2, 1, 3, 1, 2]])
    price = table()["price"]
    np.testing.assert_allclose(out[:, 4], (price - price.mean()) / price.std(), rtol=1e-6)
    np.testing.assert_array_equal(out[:, 5], 2 * table()["ratio"])
    np.testing.assert_array_equal(out[:, 6:10], np.eye(4)[[2, 1, 1, 3, 2, 1]])
    cross = sn.layers.HashedCrossing(4)([np.array([[1], [2], [1], [3], [1], [2]]),
                                          np.array([[2], [1], [1], [3], [2], [1]])])
    np.testing.assert_array_equal(out[:, 10:], np.eye(4)[cross.ravel()])
    one_row = fs({"price": 3.0, "color": "red", "size": 2, "ratio": 2.5})
    assert one_row.shape == (14,)  # scalars in, one row out without the batch axis
    np.testing.assert_array_equal(one_row, out[2])


def test_feature_space_dict_mode_int_outputs_and_hashing():
    F = sn.utils.FeatureSpace
    fs = F({"color": F.string_categorical(output_mode="int"), "size": F.integer_hashed(8),
            "ratio": F.float_discretized(num_bins=3, output_mode="int")},
           output_mode="dict", crosses=[F.cross(("color", "size"), 16, output_mode="int")])
    rows = {k: v for k, v in table().items() if k != "price"}
    fs.adapt(table())  # an extra column is ignored by adapt, as in Keras
    out = fs(rows)
    assert sorted(out) == ["color", "color_X_size", "ratio", "size"]
    np.testing.assert_array_equal(out["color"].ravel(), [1, 2, 1, 3, 1, 2])
    np.testing.assert_array_equal(out["size"], sn.layers.Hashing(8, output_mode="one_hot")(
        table()["size"][:, None]))
    assert out["ratio"].dtype == np.int32 and out["color_X_size"].shape == (6, 1)


def test_feature_space_adapt_batches_like_keras():
    rows = table()
    batches = [{k: v[:4] for k, v in rows.items()}, {k: v[4:] for k, v in rows.items()}]
    fs_table = sn.utils.FeatureSpace({"price": "float_normalized", "color": "string_categorical",
                                      "size": "float", "ratio": "float_discretized"},
                                     num_discretization_bins=3)
    fs_batches = sn.utils.FeatureSpace({"price": "float_normalized", "color": "string_categorical",
                                        "size": "float", "ratio": "float_discretized"},
                                       num_discretization_bins=3)
    fs_table.adapt(rows)
    fs_batches.adapt(batches)
    np.testing.assert_allclose(fs_batches(rows), fs_table(rows), rtol=1e-6)


def test_feature_space_functional_model_equals_eager_call():
    fs = sn.utils.FeatureSpace({"price": "float_normalized", "color": "string_categorical",
                                "size": "integer_categorical", "ratio": "float"},
                               crosses=[("color", "size")])
    fs.adapt(table())
    inputs = fs.get_inputs()
    assert sorted(inputs) == ["color", "price", "ratio", "size"]
    assert inputs["color"].shape == (None, 1) and inputs["color"].dtype == "string"
    encoded = fs.get_encoded_features()
    assert encoded.shape == (None, fs(table()).shape[1])
    sn.utils.set_random_seed(0)
    dense = sn.layers.Dense(1)
    model = sn.Model(inputs, dense(encoded))
    expected = fs(table()) @ dense.params["kernel"].value + dense.params["bias"].value
    np.testing.assert_allclose(model.predict(table(), verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_feature_space_bad_input():
    F = sn.utils.FeatureSpace
    with pytest.raises(ValueError, match="cannot be None or empty"):
        F({})
    with pytest.raises(ValueError, match="invalid feature type 'categorical'"):
        F({"a": "categorical"})
    with pytest.raises(ValueError, match=r"unknown features \['b'\]"):
        F({"a": "float"}, crosses=[("a", "b")])
    with pytest.raises(ValueError, match="output_mode"):
        F({"a": "float"}, output_mode="list")
    with pytest.raises(ValueError, match="output_mode"):
        F.cross(("a", "b"), 4, output_mode="count")
    fs = F({"price": "float_normalized", "color": "string_categorical"})
    with pytest.raises(ValueError, match="adapt"):
        fs(table())
    with pytest.raises(ValueError, match=r"missing \['color'\]"):
        fs.adapt({"price": table()["price"]})
    with pytest.raises(ValueError, match="dict of arrays"):
        fs.adapt(np.ones((3, 2)))
    fs.adapt({"price": table()["price"], "color": table()["color"]})
    with pytest.raises(ValueError, match=r"unexpected \['size'\]"):
        fs({"price": table()["price"], "color": table()["color"], "size": table()["size"]})
    unencoded = F({"color": F.string_categorical(output_mode="int")})
    unencoded.adapt({"color": table()["color"]})
    with pytest.raises(ValueError, match="Cannot concatenate features because feature 'color'"):
        unencoded({"color": table()["color"]})


def test_the_docs_python_blocks_run():
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "structured-data.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)
    assert len(blocks) == 4
    namespace = {}
    for block in blocks:
        exec(compile(block, "docs/structured-data.md", "exec"), namespace)
    assert namespace["model"].count_params() == (5 + 1) + 3  # Dense(1) on 5; mean, variance, count


def test_normalization_on_a_gpu_backend_equals_numpy(monkeypatch):
    """tests/fake_gpu.py stands in for CuPy: the adapted statistics follow the batch to the
    device, and the loss and gradients of a model that starts with Normalization are NumPy's."""
    from tests import fake_gpu

    x = np.random.default_rng(4).normal(3.0, 2.0, size=(6, 3)).astype("float32")
    y = np.arange(6) % 2

    def run():
        norm = sn.layers.Normalization()
        norm.adapt(x)
        model = sn.Sequential([sn.layers.Input((3,)), norm, sn.layers.Dense(2)], seed=0)
        model.compile("sgd", sn.losses.SparseCategoricalCrossentropy(from_logits=True))
        return model.loss_and_grads(x, y)

    ref_loss, ref_grads = run()
    fake_gpu.install(monkeypatch)
    loss, grads = run()
    assert loss == ref_loss
    for g, r in zip(grads, ref_grads, strict=True):
        np.testing.assert_array_equal(g, r)
