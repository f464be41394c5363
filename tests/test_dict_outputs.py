"""Dict outputs, as Keras 3 takes them: ``Model(x, {"a": a, "b": b})``, a subclassed model whose
``call`` returns a dict, and a layer whose ``call`` returns one (``out["a"]`` then feeds the next
layers). Calls and ``predict`` return dicts by the same keys; ``y``, ``loss``, ``loss_weights`` and
``metrics`` are keyed by them, and the logs are named ``<key>_loss``, ``<key>_<metric>``.
Parity with Keras: ``parity_tests/test_dict_outputs_keras.py``."""

from __future__ import annotations

import numpy as np
import pytest

import scratchnet as sn

L = sn.layers


def two_heads(seed: int = 0) -> sn.Model:
    """Dense trunk, two heads returned as ``{"zeta": (N, 2), "alpha": (N, 1)}`` (keys not sorted)."""
    sn.utils.set_random_seed(seed)
    inputs = sn.Input((3,), name="x")
    h = L.Dense(4, activation="relu", name="trunk")(inputs)
    return sn.Model(inputs, {"zeta": L.Dense(2, name="dense_b")(h), "alpha": L.Dense(1, name="dense_a")(h)})


def data(n: int = 8, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype("float32")
    return x, {"zeta": rng.normal(size=(n, 2)).astype("float32"),
               "alpha": rng.normal(size=(n, 1)).astype("float32")}


def test_call_and_predict_return_dicts_in_the_dicts_order():
    model = two_heads()
    x, _ = data()
    out = model(x)
    assert list(out) == ["zeta", "alpha"] and out["zeta"].shape == (8, 2) and out["alpha"].shape == (8, 1)
    pred = model.predict(x, batch_size=3, verbose=0)  # three batches joined per key
    assert list(pred) == ["zeta", "alpha"]
    for key in out:
        np.testing.assert_allclose(pred[key], out[key], rtol=1e-6)
    # inside, the outputs are in sorted-key order, as Keras flattens a dict
    assert model.output_names == ["dense_a", "dense_b"]
    assert list(model.output) == ["zeta", "alpha"] and model.output["alpha"] is model.outputs[0]


def test_per_key_losses_weights_and_metrics_give_keras_log_names():
    model = two_heads()
    x, y = data()
    model.compile("sgd", loss={"zeta": "mse", "alpha": "mae"}, loss_weights={"alpha": 2.0, "zeta": 0.5},
                  metrics={"alpha": ["mae"], "zeta": ["mse", "mae"]})
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "alpha_loss", "zeta_loss", "alpha_mae", "zeta_mse", "zeta_mae"}
    pred = model.predict(x, verbose=0)
    mse = float(np.mean((pred["zeta"] - y["zeta"]) ** 2))
    mae = float(np.mean(np.abs(pred["alpha"] - y["alpha"])))
    np.testing.assert_allclose(logs["zeta_loss"], mse, rtol=1e-5)
    np.testing.assert_allclose(logs["alpha_loss"], mae, rtol=1e-5)
    np.testing.assert_allclose(logs["loss"], 0.5 * mse + 2.0 * mae, rtol=1e-5)
    history = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    assert set(history) == set(logs) and len(history["loss"]) == 2


def test_one_loss_for_every_output_and_targets_as_a_list_in_sorted_key_order():
    model = two_heads()
    x, y = data()
    model.compile("sgd", loss="mse", metrics={"alpha": "mae"})
    by_dict = model.evaluate(x, y, verbose=0, return_dict=True)
    by_list = model.evaluate(x, [y["alpha"], y["zeta"]], verbose=0, return_dict=True)  # alpha, zeta
    assert set(by_dict) == {"loss", "alpha_loss", "zeta_loss", "alpha_mae"}
    for key in by_dict:
        np.testing.assert_allclose(by_list[key], by_dict[key], rtol=1e-6)


def test_a_key_left_out_of_the_loss_gives_that_output_no_loss():
    model = two_heads()
    x, y = data()
    model.compile("sgd", loss={"zeta": "mse"})
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert list(logs) == ["loss"]  # one loss: not logged per output (Keras)
    np.testing.assert_allclose(logs["loss"], np.mean((model.predict(x, verbose=0)["zeta"] - y["zeta"]) ** 2),
                               rtol=1e-5)
    assert model.evaluate(x, {"zeta": y["zeta"]}, verbose=0) == pytest.approx(logs["loss"])


def test_bad_keys_are_named():
    model = two_heads()
    x, y = data()
    with pytest.raises(KeyError, match=r"\('beta',\).*\['alpha', 'zeta'\]"):
        model.compile("sgd", loss={"zeta": "mse", "beta": "mae"})
    with pytest.raises(ValueError, match=r"unknown output name\(s\) \['beta'\] in `metrics`"):
        model.compile("sgd", loss="mse", metrics={"beta": ["mae"]})
    model.compile("sgd", loss={"zeta": "mse", "alpha": "mae"})
    with pytest.raises(ValueError, match=r'missing data for output "alpha".*keys \[\'zeta\'\]'):
        model.fit(x, {"zeta": y["zeta"]}, verbose=0)
    with pytest.raises(ValueError, match=r"unknown output key\(s\) \['c'\]"):
        model.fit(x, {**y, "c": y["alpha"]}, verbose=0)
    with pytest.raises(ValueError, match="keys of a dict of `outputs` must be strings"):
        sn.Model(model.inputs[0], {0: model.outputs[0]})


def test_summary_lists_the_heads_in_sorted_key_order():
    lines = []
    two_heads().summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert text.index("dense_a (Dense)") < text.index("dense_b (Dense)")  # "alpha" < "zeta"
    assert "Total params: 31" in text  # 16 + 5 + 10


def test_get_config_from_config_round_trip():
    model = two_heads()
    x, _ = data()
    config = model.get_config()
    assert config["output_layers"] == {"zeta": ["dense_b", 0, 0], "alpha": ["dense_a", 0, 0]}
    copy = sn.Model.from_config(config)
    copy.set_weights(model.get_weights())
    assert list(copy(x)) == ["zeta", "alpha"]
    np.testing.assert_array_equal(copy(x)["zeta"], model(x)["zeta"])


@pytest.mark.parametrize("suffix", [".keras", ".npz"])
def test_save_and_load_keep_the_dict_and_its_compile_keys(tmp_path, suffix):
    model = two_heads()
    x, y = data()
    model.compile("sgd", loss={"zeta": "mse", "alpha": "mae"}, loss_weights={"zeta": 1.0, "alpha": 3.0},
                  metrics={"zeta": ["mae"]})
    model.fit(x, y, epochs=1, verbose=0)
    path = str(tmp_path / f"m{suffix}")
    model.save(path)
    loaded = sn.models.load_model(path)
    assert list(loaded.predict(x, verbose=0)) == ["zeta", "alpha"]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0)["alpha"], model.predict(x, verbose=0)["alpha"])
    if suffix == ".keras":  # (the .npz file holds no compile config)
        assert loaded.loss_weights == [3.0, 1.0]  # alpha, zeta
        assert set(loaded.evaluate(x, y, verbose=0, return_dict=True)) == {
            "loss", "alpha_loss", "zeta_loss", "zeta_mae"}


class _Subclassed(sn.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.trunk = L.Dense(4, activation="tanh")
        self.q = L.Dense(2)
        self.p = L.Dense(1)

    def call(self, inputs):
        h = self.trunk(inputs)
        return {"q": self.q(h), "p": self.p(h)}


def test_a_subclassed_model_returning_a_dict():
    sn.utils.set_random_seed(0)
    model = _Subclassed()
    x, y = data()
    y = {"q": y["zeta"], "p": y["alpha"]}
    assert list(model(x)) == ["q", "p"]
    model.compile("sgd", loss={"p": "mse", "q": "mae"}, metrics={"q": ["mse"]})
    history = model.fit(x, y, epochs=2, verbose=0).history
    assert set(history) == {"loss", "p_loss", "q_loss", "q_mse"}
    assert history["loss"][1] < history["loss"][0]
    assert list(model.predict(x, verbose=0)) == ["q", "p"]


class _Split(L.Layer):
    """No weights, run by the tape: a dict of the first column and the rest."""

    def call(self, x):
        return {"rest": x[:, 1:], "first": x[:, :1]}


class _Scale(L.Layer):
    """A weight of its own (run by the tape): the scaled input and its row sums."""

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")

    def call(self, x):
        return {"scaled": x * self.w, "summed": sn.ops.sum(x * self.w, axis=-1, keepdims=True)}


class _Heads(L.Layer):
    """Made of layers (traced into a graph)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.wide = L.Dense(2)
        self.narrow = L.Dense(1)

    def call(self, x):
        return {"wide": self.wide(x), "narrow": self.narrow(x)}


@pytest.mark.parametrize("cls", [_Split, _Scale, _Heads])
def test_a_layer_returning_a_dict_eagerly_and_on_tensors(cls):
    x, _ = data()
    out = cls()(x)
    assert isinstance(out, dict) and len(out) == 2
    layer = cls()
    symbolic = layer(sn.Input((3,)))
    assert list(symbolic) == list(out)  # the keys in call's order
    assert layer.output == symbolic  # Keras' layer.output: the dict of the first call
    for key, tensor in symbolic.items():
        assert tuple(tensor.shape) == (None, *out[key].shape[1:])


def test_layer_dict_outputs_feed_later_layers_and_train():
    """``out["key"]`` of a dict-returning layer feeds the next layers; every weight behind a loss
    learns, the tape's weight and the traced heads' alike; the graph saves and loads."""
    sn.utils.set_random_seed(1)
    inputs = sn.Input((3,))
    split = _Split(name="split")(inputs)
    scaled = _Scale(name="scale")(inputs)
    heads = _Heads(name="heads")(inputs)
    joined = L.Concatenate()([split["rest"], scaled["summed"], heads["wide"]])
    model = sn.Model(inputs, {"out": L.Dense(2, name="out")(joined), "narrow": heads["narrow"]})
    x, y = data()
    y = {"out": y["zeta"], "narrow": y["alpha"]}
    before = [w.copy() for w in model.get_weights()]
    model.compile("sgd", loss="mse")
    history = model.fit(x, y, epochs=3, verbose=0).history
    assert set(history) == {"loss", "out_loss", "narrow_loss"}
    assert history["loss"][-1] < history["loss"][0]
    assert all(not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    config = model.get_config()
    tensor_index = {layer["name"]: layer["inbound_nodes"] for layer in config["layers"]}
    # Concatenate reads split's output 1 ("rest": "first" < "rest"), scale's 1 ("summed")
    refs = [a["config"]["keras_history"] for a in tensor_index["concatenate"][0]["args"][0]]
    assert refs == [["split", 0, 1], ["scale", 0, 1], ["heads", 0, 1]]
    copy = sn.Model.from_config(config, custom_objects={"_Split": _Split, "_Scale": _Scale, "_Heads": _Heads})
    copy.set_weights(model.get_weights())
    for key, value in model(x).items():
        np.testing.assert_allclose(copy(x)[key], value, rtol=1e-6)


def test_a_dict_of_one_output():
    sn.utils.set_random_seed(0)
    inputs = sn.Input((3,))
    model = sn.Model(inputs, {"only": L.Dense(1)(inputs)})
    x, y = data()
    assert list(model(x)) == ["only"]
    model.compile("sgd", loss={"only": "mse"}, metrics={"only": ["mae"]})
    assert list(model.fit(x, {"only": y["alpha"]}, verbose=0).history) == ["loss", "mae"]

    class One(L.Layer):
        def call(self, x):
            return {"double": x * 2.0}

    out = One()(inputs)
    assert list(out) == ["double"]
    np.testing.assert_allclose(One()(x)["double"], 2 * x)


def test_sample_weight_and_validation_data_keyed_by_the_dict():
    model = two_heads()
    x, y = data()
    model.compile("sgd", loss="mse")
    weights = {"zeta": np.linspace(0.0, 1.0, 8), "alpha": np.ones(8)}
    logs = model.evaluate(x, y, sample_weight=weights, verbose=0, return_dict=True)
    pred = model.predict(x, verbose=0)
    per_sample = np.mean((pred["zeta"] - y["zeta"]) ** 2, axis=-1)
    np.testing.assert_allclose(logs["zeta_loss"], np.mean(weights["zeta"] * per_sample), rtol=1e-5)
    history = model.fit(x, y, validation_data=(x, y), epochs=1, verbose=0).history
    assert {"val_loss", "val_alpha_loss", "val_zeta_loss"} <= set(history)


def test_clone_model_keeps_the_dict():
    model = two_heads()
    x, _ = data()
    clone = sn.models.clone_model(model)
    clone.set_weights(model.get_weights())
    out, cloned = model(x), clone(x)
    assert list(cloned) == ["zeta", "alpha"]
    for key in out:
        np.testing.assert_array_equal(cloned[key], out[key])
