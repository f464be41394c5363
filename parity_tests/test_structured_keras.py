"""Normalization, Discretization, Hashing, HashedCrossing and FeatureSpace against Keras 3.15:
the same data in, the same adapt results (mean/variance, bin boundaries, vocabularies) and the same
outputs. Bin ids, hashes and one-hot arrays must be identical; float statistics agree to float32
rounding (TensorFlow and NumPy sum in different orders), stated per test."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import scratchnet as sn

STAT_RTOL = 1e-6  # adapt's mean/variance: float32 sums in a different order
FLOAT_RTOL = 1e-6  # encoded floats (issue 14: "ints exact, floats 1e-6")


def strings(rng, n, size):
    letters = np.array(list("abcdefghijklmnopqrstuvwxyzé "))
    return np.array(["".join(rng.choice(letters, size=k)) for k in rng.integers(0, size, size=n)])


# --- Normalization -----------------------------------------------------------------------------
@pytest.mark.parametrize("axis", [-1, None, (1, 2)])
def test_normalization_adapt_and_outputs_equal_keras(axis):
    x = np.random.default_rng(0).normal(2.0, 3.0, size=(200, 3, 2)).astype("float32")
    k, s = keras.layers.Normalization(axis=axis), sn.layers.Normalization(axis=axis)
    k.adapt(x)
    s.adapt(x)
    for kw, sw in zip(k.get_weights(), [w.value for w in s.weights], strict=True):
        assert kw.shape == sw.shape and kw.dtype == sw.dtype
        np.testing.assert_allclose(sw, kw, rtol=STAT_RTOL)
    np.testing.assert_allclose(s(x), k(x).numpy(), rtol=FLOAT_RTOL, atol=1e-6)


def test_normalization_batched_adapt_and_invert_equal_keras():
    x = np.random.default_rng(1).lognormal(size=(333, 4)).astype("float32")
    batches = [x[i:i + 32] for i in range(0, len(x), 32)]
    k, s = keras.layers.Normalization(invert=True), sn.layers.Normalization(invert=True)
    k.adapt(batches)
    s.adapt(batches)
    np.testing.assert_allclose(s.weights[0].value, k.get_weights()[0], rtol=STAT_RTOL)
    np.testing.assert_allclose(s.weights[1].value, k.get_weights()[1], rtol=STAT_RTOL)
    np.testing.assert_allclose(s(x), k(x).numpy(), rtol=FLOAT_RTOL)
    given = dict(mean=[1.0, 2.0, 3.0, 4.0], variance=[0.5, 2.0, 0.0, 9.0])  # a zero variance
    np.testing.assert_allclose(sn.layers.Normalization(**given)(x),
                               keras.layers.Normalization(**given)(x).numpy(), rtol=FLOAT_RTOL)


# --- Discretization ----------------------------------------------------------------------------
@pytest.mark.parametrize("num_bins", [2, 5, 32, 200])
@pytest.mark.parametrize("batched", [False, True])
def test_discretization_adapted_boundaries_equal_keras(num_bins, batched):
    x = np.random.default_rng(num_bins).lognormal(size=(3000, 1)).astype("float32")
    x[::7] = 1.0  # many ties
    data = [x[i:i + 64] for i in range(0, len(x), 64)] if batched else x
    k = keras.layers.Discretization(num_bins=num_bins)
    s = sn.layers.Discretization(num_bins=num_bins)
    k.adapt(data)
    s.adapt(data)
    assert s.bin_boundaries == k.bin_boundaries
    np.testing.assert_array_equal(s(x), k(x).numpy())


@pytest.mark.parametrize("mode", ["int", "one_hot", "multi_hot", "count"])
def test_discretization_output_modes_equal_keras(mode):
    x = np.random.default_rng(5).normal(size=(20, 3)).astype("float32")
    bounds = [-1.0, -0.25, 0.0, 0.5, 1.5]
    k = keras.layers.Discretization(bin_boundaries=bounds, output_mode=mode)(x).numpy()
    s = sn.layers.Discretization(bin_boundaries=bounds, output_mode=mode)(x)
    assert s.dtype == k.dtype and s.shape == k.shape
    np.testing.assert_array_equal(s, k)


# --- Hashing and HashedCrossing ----------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [{}, {"salt": 1337}, {"salt": (7, 2**40 + 3)},
                                    {"mask_value": ""}, {"num_bins": 2, "mask_value": "a"}])
def test_hashing_strings_equal_keras(kwargs):
    kwargs = {"num_bins": 97, **kwargs}
    x = strings(np.random.default_rng(6), 400, 90)[:, None]  # lengths 0..89: every FarmHash path
    k = keras.layers.Hashing(**kwargs)(x).numpy()
    s = sn.layers.Hashing(**kwargs)(x)
    assert s.dtype == k.dtype
    np.testing.assert_array_equal(s, k)


@pytest.mark.parametrize("mode", ["int", "one_hot", "multi_hot", "count"])
def test_hashing_integers_and_modes_equal_keras(mode):
    rng = np.random.default_rng(7)
    ints = rng.integers(-10**12, 10**12, size=(50, 2))
    floats = rng.normal(0, 100, size=(50, 2)).astype("float32")
    for x in (ints, floats, ints.astype("int32") // 1000):
        k = keras.layers.Hashing(13, output_mode=mode)(x).numpy()
        s = sn.layers.Hashing(13, output_mode=mode)(x)
        assert s.dtype == k.dtype and s.shape == k.shape
        np.testing.assert_array_equal(s, k)


@pytest.mark.parametrize("mode", ["int", "one_hot"])
def test_hashed_crossing_equals_keras(mode):
    rng = np.random.default_rng(8)
    a = strings(rng, 300, 20)[:, None]
    b = rng.integers(-1000, 1000, size=(300, 1))
    c = rng.integers(0, 5, size=(300, 1)).astype("int32")
    for inputs in ([a, b], [b, a], [a, b, c], [b.ravel(), c.ravel()]):
        k = keras.layers.HashedCrossing(31, output_mode=mode)(inputs).numpy()
        s = sn.layers.HashedCrossing(31, output_mode=mode)(inputs)
        assert s.dtype == k.dtype and s.shape == k.shape
        np.testing.assert_array_equal(s, k)


# --- FeatureSpace ------------------------------------------------------------------------------
def table(n=700, seed=9):
    rng = np.random.default_rng(seed)
    return {"age": rng.integers(18, 80, size=n).astype("float32"),
            "price": rng.lognormal(3.0, 1.0, size=n).astype("float32"),
            "score": rng.uniform(size=n).astype("float32"),
            "rating": rng.normal(size=n).astype("float32"),
            "category": rng.choice(["books", "music", "games", "toys", "garden"], size=n),
            "device": rng.choice(["mobile", "desktop", "tablet"], size=n, p=[0.6, 0.3, 0.1]),
            "user": rng.integers(0, 50, size=n),
            "city": strings(rng, n, 6),
            "zip": rng.integers(10000, 99999, size=n)}


def features(F):
    return {"age": "float_normalized", "price": F.float_discretized(num_bins=10),
            "score": F.float_rescaled(scale=10.0, offset=-5.0), "rating": "float",
            "category": "string_categorical", "device": F.string_categorical(max_tokens=3),
            "user": F.integer_categorical(max_tokens=20), "city": "string_hashed",
            "zip": F.integer_hashed(64)}


@pytest.mark.parametrize("output_mode", ["concat", "dict"])
def test_feature_space_encodes_a_table_as_keras(output_mode):
    data = table()
    crosses = [("category", "device"), ("user", "device")]
    kfs = keras.utils.FeatureSpace(features(keras.utils.FeatureSpace), output_mode=output_mode,
                                   crosses=crosses, crossing_dim=16, hashing_dim=24)
    sfs = sn.utils.FeatureSpace(features(sn.utils.FeatureSpace), output_mode=output_mode,
                                crosses=crosses, crossing_dim=16, hashing_dim=24)
    kfs.adapt(tf.data.Dataset.from_tensor_slices(data))
    sfs.adapt(data)
    assert sfs.preprocessors["price"].bin_boundaries == kfs.preprocessors["price"].bin_boundaries
    for name in ("category", "device", "user"):
        assert (sfs.preprocessors[name].get_vocabulary()
                == [v.decode() if isinstance(v, bytes) else v
                    for v in kfs.preprocessors[name].get_vocabulary()])
    np.testing.assert_allclose(sfs.preprocessors["age"].weights[1].value,
                               kfs.preprocessors["age"].get_weights()[1], rtol=STAT_RTOL)
    k, s = kfs(data), sfs(data)
    if output_mode == "concat":
        k, s = {"all": k}, {"all": s}
    assert sorted(s) == sorted(k)
    for name in k:
        kv = np.asarray(k[name])
        assert s[name].shape == kv.shape and s[name].dtype == kv.dtype, name
        if kv.dtype.kind in "iu":
            np.testing.assert_array_equal(s[name], kv, err_msg=name)
        else:
            np.testing.assert_allclose(s[name], kv, rtol=FLOAT_RTOL, atol=1e-6, err_msg=name)
            one_hot_part = kv.copy()
            one_hot_part[~np.isin(kv, (0.0, 1.0))] = 0  # exact where Keras is 0/1
            np.testing.assert_array_equal(np.where(np.isin(kv, (0.0, 1.0)), s[name], 0),
                                          one_hot_part, err_msg=name)


def test_feature_space_int_outputs_and_batched_adapt_equal_keras():
    data = table(300, seed=10)
    F, K = sn.utils.FeatureSpace, keras.utils.FeatureSpace

    def spec(M):
        return {"category": M.string_categorical(output_mode="int"),
                "user": M.integer_categorical(output_mode="int"),
                "price": M.float_discretized(num_bins=6, output_mode="int"),
                "age": "float_normalized"}

    crosses_k = [K.cross(("category", "user"), 50, output_mode="int")]
    crosses_s = [F.cross(("category", "user"), 50, output_mode="int")]
    kfs = K(spec(K), output_mode="dict", crosses=crosses_k)
    sfs = F(spec(F), output_mode="dict", crosses=crosses_s)
    columns = {name: data[name] for name in ("category", "user", "price", "age")}
    kfs.adapt(tf.data.Dataset.from_tensor_slices(columns).batch(50))
    sfs.adapt([{k: v[i:i + 50] for k, v in columns.items()} for i in range(0, 300, 50)])
    k, s = kfs(columns), sfs(columns)
    for name in k:
        kv = np.asarray(k[name])
        assert s[name].dtype == kv.dtype, name
        if kv.dtype.kind in "iu":
            np.testing.assert_array_equal(s[name], kv, err_msg=name)
        else:
            np.testing.assert_allclose(s[name], kv, rtol=FLOAT_RTOL, atol=1e-6, err_msg=name)


# --- num_oov_indices (found by examples/keras_io/structured_data_classification.py) -------------
@pytest.mark.parametrize("num_oov_indices", [0, 1, 2, 5])
@pytest.mark.parametrize("kind", ["StringLookup", "IntegerLookup"])
def test_lookup_num_oov_indices_equal_keras(kind, num_oov_indices):
    rng = np.random.default_rng(num_oov_indices)
    if kind == "StringLookup":
        known = strings(rng, 200, 3)
        unknown = np.array(["zzzz", "qqqqq", "é é", "[UNK]", "yyyyyy", "x!"])
    else:
        known = rng.integers(0, 30, 200)
        unknown = np.array([-1, -7, 31, 1000, 12345, -123456])
    k = getattr(keras.layers, kind)(num_oov_indices=num_oov_indices, max_tokens=20)
    s = getattr(sn.layers, kind)(num_oov_indices=num_oov_indices, max_tokens=20)
    k.adapt(known)
    s.adapt(known)
    vocabulary = [v.decode() if isinstance(v, bytes) else v for v in k.get_vocabulary()]
    assert s.get_vocabulary() == vocabulary and s.vocabulary_size() == k.vocabulary_size()
    kept = np.array(s.get_vocabulary(include_special_tokens=False))
    x = kept.reshape(-1, 1) if num_oov_indices == 0 else np.concatenate([kept, unknown]).reshape(-1, 1)
    np.testing.assert_array_equal(s(x), np.asarray(k(x)))
    if num_oov_indices == 0:
        with pytest.raises(Exception, match="num_oov_indices=0"):
            k(unknown.reshape(-1, 1))
        with pytest.raises(ValueError, match="num_oov_indices=0"):
            s(unknown.reshape(-1, 1))


def test_feature_space_without_oov_indices_encodes_as_keras():
    data = table(200, seed=3)
    columns = {"category": data["category"], "user": data["user"]}

    def spec(M):
        return {"category": M.string_categorical(num_oov_indices=0),
                "user": M.integer_categorical(num_oov_indices=0)}

    kfs = keras.utils.FeatureSpace(spec(keras.utils.FeatureSpace), output_mode="concat",
                                   crosses=[("category", "user")], crossing_dim=8)
    sfs = sn.utils.FeatureSpace(spec(sn.utils.FeatureSpace), output_mode="concat",
                                crosses=[("category", "user")], crossing_dim=8)
    kfs.adapt(columns)
    sfs.adapt(columns)
    np.testing.assert_array_equal(sfs(columns), np.asarray(kfs(columns)))


# --- conversion and the .keras format ----------------------------------------------------------
def test_adapted_normalization_converts_both_ways_and_through_keras_files(tmp_path):
    import tfnet

    x = np.random.default_rng(11).normal(3.0, 2.0, size=(64, 3)).astype("float32")
    norm = sn.layers.Normalization()
    norm.adapt(x)  # built by adapt; a Sequential still takes it, as in Keras
    model = sn.Sequential([sn.layers.Input((3,)), norm, sn.layers.Dense(2)], seed=0)
    assert [w.shape for w in model.get_weights()] == [(3,), (3,), (), (3, 2), (2,)]
    expected = model.predict(x, verbose=0)
    # A Dense output is a sum of float32 products: an element that nearly cancels (-0.027 among
    # values up to ~1.4) carries the rounding of its larger terms, so it is compared at FLOAT_RTOL
    # of the outputs' scale, as parity_tests/driver.assert_close does (measured on an AMD EPYC's
    # OpenBLAS: 3e-8 apart there, 1.1e-6 of that element itself)
    atol = FLOAT_RTOL * float(np.abs(expected).max())
    kmodel = tfnet.to_keras(model)  # set_weights + finalize_state: Keras uses the copied stats
    np.testing.assert_allclose(kmodel.predict(x, verbose=0), expected, rtol=FLOAT_RTOL, atol=atol)
    np.testing.assert_array_equal(tfnet.from_keras(kmodel).predict(x, verbose=0), expected)
    model.save(tmp_path / "sn.keras")
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "sn.keras").predict(x, verbose=0),
                               expected, rtol=FLOAT_RTOL, atol=atol)
    kmodel.save(tmp_path / "k.keras")
    np.testing.assert_array_equal(sn.load_model(tmp_path / "k.keras").predict(x, verbose=0),
                                  expected)


@pytest.mark.parametrize("make", [
    lambda: sn.layers.Discretization(bin_boundaries=[-1.0, 0.0, 2.5], output_mode="one_hot"),
    lambda: sn.layers.Hashing(11, salt=(3, 5), output_mode="count"),
    lambda: sn.layers.Hashing(11, mask_value="a"),
])
def test_preprocessing_layers_convert_and_save_as_keras(make, tmp_path):
    import tfnet

    layer = make()
    if isinstance(layer, sn.layers.Discretization):
        x = np.random.default_rng(12).normal(size=(10, 3)).astype("float32")
        kx, spec = x, sn.layers.Input((3,))
    else:
        x = strings(np.random.default_rng(12), 20, 5).reshape(10, 2)
        kx, spec = tf.constant(x), sn.layers.Input((2,), dtype="string")
    model = sn.Sequential([spec, layer], seed=0)
    expected = model.predict(x, verbose=0)
    kmodel = tfnet.to_keras(model)
    np.testing.assert_array_equal(kmodel.predict(kx, verbose=0), expected)
    np.testing.assert_array_equal(tfnet.from_keras(kmodel).predict(x, verbose=0), expected)
    model.save(tmp_path / "sn.keras")
    np.testing.assert_array_equal(keras.models.load_model(tmp_path / "sn.keras").predict(
        kx, verbose=0), expected)
    kmodel.save(tmp_path / "k.keras")
    np.testing.assert_array_equal(sn.load_model(tmp_path / "k.keras").predict(x, verbose=0),
                                  expected)


def test_adapted_discretization_keeps_its_boundaries_through_conversion(tmp_path):
    import tfnet

    x = np.random.default_rng(13).lognormal(size=(500, 2)).astype("float32")
    layer = sn.layers.Discretization(num_bins=6)
    layer.adapt(x)
    model = sn.Sequential([sn.layers.Input((2,)), layer], seed=0)
    kmodel = tfnet.to_keras(model)
    assert kmodel.layers[0].bin_boundaries == layer.bin_boundaries
    kmodel.save(tmp_path / "k.keras")  # Keras writes num_bins and bin_boundaries both
    assert sn.load_model(tmp_path / "k.keras").layers[0].bin_boundaries == layer.bin_boundaries
    np.testing.assert_array_equal(tfnet.from_keras(kmodel).predict(x, verbose=0),
                                  model.predict(x, verbose=0))


def test_feature_space_functional_model_converts_to_keras_and_back():
    import tfnet

    data = table(200, seed=14)
    spec = {"age": "float_normalized", "price": sn.utils.FeatureSpace.float_discretized(num_bins=5),
            "score": "float",
            "category": "string_categorical", "device": "string_categorical", "user":
            "integer_categorical", "city": "string_hashed"}
    fs = sn.utils.FeatureSpace(spec, crosses=[("category", "device")], crossing_dim=8)
    fs.adapt(data)
    sn.utils.set_random_seed(0)
    outputs = sn.layers.Dense(2, name="logits")(fs.get_encoded_features())
    model = sn.Model(fs.get_inputs(), outputs)
    rows = {name: data[name][:, None] for name in spec}
    expected = model.predict(rows, verbose=0)
    kmodel = tfnet.to_keras(model)  # Normalization, Discretization, lookups, Hashing,
    krows = {name: tf.constant(value) for name, value in rows.items()}  # HashedCrossing, ...
    np.testing.assert_allclose(kmodel.predict(krows, verbose=0), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(tfnet.from_keras(kmodel).predict(rows, verbose=0), expected)


def test_normalization_of_one_column_as_the_regression_tutorial():
    """TensorFlow's basic-regression tutorial: ``Normalization(input_shape=[1,], axis=None)``
    adapted on a 1-D column, then a Sequential on ``(N, 1)`` batches; and ``layer.mean`` /
    ``layer.variance`` after adapt, against Keras."""
    rng = np.random.default_rng(0)
    column = rng.normal(100.0, 30.0, size=50).astype("float32")
    models = []
    for mod in (keras, sn):
        norm = mod.layers.Normalization(input_shape=[1], axis=None)
        norm.adapt(column)
        models.append((norm, mod.Sequential([norm, mod.layers.Dense(1)])))
    (knorm, kmodel), (snorm, smodel) = models
    smodel.set_weights(kmodel.get_weights())
    np.testing.assert_allclose(np.ravel(snorm.mean), np.ravel(knorm.mean), rtol=STAT_RTOL)
    np.testing.assert_allclose(np.ravel(snorm.variance), np.ravel(knorm.variance), rtol=STAT_RTOL)
    batch = column[:5, None]
    np.testing.assert_allclose(smodel.predict(batch, verbose=0), kmodel.predict(batch, verbose=0),
                               rtol=FLOAT_RTOL, atol=1e-6)
    features = rng.normal(size=(20, 3)).astype("float32")  # one mean per feature: same attributes
    k, s = keras.layers.Normalization(), sn.layers.Normalization()
    k.adapt(features)
    s.adapt(features)
    np.testing.assert_allclose(np.ravel(s.mean), np.ravel(k.mean), rtol=STAT_RTOL)
    np.testing.assert_allclose(np.ravel(s.variance), np.ravel(k.variance), rtol=STAT_RTOL)
