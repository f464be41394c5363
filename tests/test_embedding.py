"""Embedding (forward E[ids], Keras init, gradients only for used rows) and the structured data."""

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.datasets import structured


def _built(layer, input_shape, seed=0):
    layer.ensure_built(input_shape, np.random.default_rng(seed))
    return layer


def test_forward_is_a_row_lookup_with_shapes():
    layer = _built(sn.layers.Embedding(5, 3), (4,))
    table = layer.embeddings.value
    ids = np.array([[0, 4, 4, 2], [1, 1, 3, 0]])
    out = layer(ids)
    assert out.shape == (2, 4, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out, table[ids])
    np.testing.assert_array_equal(out[0, 1], table[4])
    single = _built(sn.layers.Embedding(5, 3), ())
    assert single(np.array([3, 0])).shape == (2, 3)


def test_init_is_uniform_005_and_seeded():
    a = _built(sn.layers.Embedding(1000, 16), (2,), seed=7).embeddings.value
    b = _built(sn.layers.Embedding(1000, 16), (2,), seed=7).embeddings.value
    np.testing.assert_array_equal(a, b)
    assert a.shape == (1000, 16)
    assert -0.05 <= a.min() < -0.049 and 0.049 < a.max() <= 0.05
    assert abs(a.mean()) < 2e-3  # 16,000 draws: the std of the mean is 0.05/sqrt(3*16000)=2.3e-4


def test_gradient_only_for_used_rows_and_repeats_add_up():
    layer = _built(sn.layers.Embedding(6, 2), (3,))
    ids = np.array([[1, 1, 4], [4, 1, 0]])
    layer(ids)
    dy = np.arange(12, dtype=np.float32).reshape(2, 3, 2)
    assert layer.backward(dy) is None
    grad = layer.embeddings.grad
    np.testing.assert_array_equal(grad[1], dy[0, 0] + dy[0, 1] + dy[1, 1])
    np.testing.assert_array_equal(grad[4], dy[0, 2] + dy[1, 0])
    np.testing.assert_array_equal(grad[0], dy[1, 2])
    np.testing.assert_array_equal(grad[[2, 3, 5]], 0)


def test_finite_differences_through_a_model_in_float64():
    sn.config.set_floatx("float64")
    model = sn.Sequential([sn.layers.Embedding(7, 3), sn.layers.Flatten(), sn.layers.Dense(4)],
                          seed=3)
    model.compile("sgd", sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    ids = np.array([[1, 1, 5], [6, 1, 0], [5, 5, 5]])
    y = np.array([0, 3, 2])
    _, grads = model.loss_and_grads(ids, y)
    table = model.params[0]
    numeric = np.zeros_like(table.value)
    h = 1e-6
    for index in np.ndindex(table.value.shape):
        old = table.value[index]
        table.value[index] = old + h
        up = model.loss_and_grads(ids, y)[0]
        table.value[index] = old - h
        down = model.loss_and_grads(ids, y)[0]
        table.value[index] = old
        numeric[index] = (up - down) / (2 * h)
    np.testing.assert_allclose(grads[0], numeric, rtol=1e-6, atol=1e-9)
    assert np.all(grads[0][[2, 3, 4]] == 0) and np.any(grads[0][1] != 0)


@pytest.mark.parametrize("bad", [7, -1])
def test_out_of_range_ids_raise_naming_the_layer(bad):
    layer = _built(sn.layers.Embedding(7, 2, name="user_vectors"), (2,))
    with pytest.raises(ValueError, match=r'Embedding "user_vectors".*\[0, 6\].*input_dim=7.*'
                                         rf"received {bad} at index \(1, 0\)"):
        layer(np.array([[0, 1], [bad, 2]]))


def test_float_ids_must_be_whole_numbers():
    layer = _built(sn.layers.Embedding(5, 2), (2,))
    np.testing.assert_array_equal(layer(np.array([[1.0, 3.0]])), layer(np.array([[1, 3]])))
    with pytest.raises(ValueError, match="integer ids"):
        layer(np.array([[1.5, 3.0]]))
    with pytest.raises(TypeError, match="integer ids"):
        layer(np.array([["a", "b"]]))


def test_constructor_checks():
    with pytest.raises(ValueError, match="input_dim"):
        sn.layers.Embedding(0, 3)
    with pytest.raises(ValueError, match="output_dim"):
        sn.layers.Embedding(3, 2.5)


def test_model_learns_from_ids_and_round_trips_through_save(tmp_path):
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 20, size=(200, 2))
    y = (ids[:, 0] % 2 == 0).astype(np.int64)  # the label is a property of the first id
    model = sn.Sequential([sn.layers.Input((2,), dtype="int32"), sn.layers.Embedding(20, 4),
                           sn.layers.Flatten(), sn.layers.Dense(2)], seed=0)
    model.compile(sn.optimizers.Adam(0.05), sn.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    history = model.fit(ids, y, epochs=15, batch_size=32, verbose=0)
    assert history.history["accuracy"][-1] == 1.0
    assert [w.shape for w in model.get_weights()] == [(20, 4), (8, 2), (2,)]
    model.save(tmp_path / "m.npz")
    loaded = sn.load_model(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.predict(ids), model.predict(ids))
    assert model.count_params() == 20 * 4 + 8 * 2 + 2


def test_structured_data_is_deterministic_and_split():
    cols, y = sn.datasets.load_structured("train")
    cols2, y2 = sn.datasets.load_structured("train")
    test_cols, test_y = sn.datasets.load_structured("test")
    for name in cols:
        np.testing.assert_array_equal(cols[name], cols2[name])
    np.testing.assert_array_equal(y, y2)
    assert len(y) == 19_200 and len(test_y) == 4_800
    assert set(cols) == {"user_id", "age", "item_category", "device", "price"}
    assert cols["user_id"].dtype == np.int64 and cols["price"].dtype == np.float32
    assert set(np.unique(cols["item_category"])) == set(structured.CATEGORIES)
    assert 0 <= cols["user_id"].min() and cols["user_id"].max() < structured.N_USERS
    other, _ = sn.datasets.load_structured("train", seed=1)
    assert not np.array_equal(other["user_id"], cols["user_id"])
    with pytest.raises(ValueError, match="split"):
        sn.datasets.load_structured("validation")


def test_structured_label_depends_on_the_hidden_taste():
    cols, y = sn.datasets.load_structured("train")
    taste = structured.user_tastes()
    liked = np.array([c in structured.TASTES[taste[u]]
                      for c, u in zip(cols["item_category"], cols["user_id"], strict=True)])
    # P(click | liked) ~ sigmoid(2) = 0.88, P(click | not liked) ~ sigmoid(-1.5) = 0.18
    assert y[liked].mean() > 0.75 and y[~liked].mean() < 0.3
    expensive = cols["price"] > 100
    assert y[expensive & ~liked].mean() < y[~expensive & ~liked].mean()


def test_structured_tokens_prefix_columns_and_bucket_numbers():
    cols = {"user_id": np.array([3, 250]), "age": np.array([29.0, 60.0]),
            "item_category": np.array(["books", "toys"]), "device": np.array(["mobile", "tablet"]),
            "price": np.array([9.99, 100.5])}
    tokens = sn.datasets.structured_tokens(cols)
    assert tokens.tolist() == [
        ["user_id=3", "age=0-30", "item_category=books", "device=mobile", "price=0-10"],
        ["user_id=250", "age=60+", "item_category=toys", "device=tablet", "price=100+"],
    ]
