"""Dict outputs against Keras 3.15: a functional model with ``outputs={"zeta": ..., "alpha": ...}``,
a subclassed model whose ``call`` returns a dict, and a layer returning a dict whose items feed the
next layers (``out["summed"]``).

The same programs in both libraries from the same start weights: the eager call and ``predict``
(dicts by the same keys, in the same order), ``fit`` with per-key losses, ``loss_weights`` and
metrics (every logged value, by Keras' names ``alpha_loss``, ``zeta_mae``, ..., and every weight
after the steps), and ``.keras`` files written by one library and read by the other, compile
config included. Keras keys everything by the dict's keys (``CompileLoss._build_nested``,
``keras/src/trainers/compile_utils.py``) and flattens a dict by sorted key
(``Functional.outputs``, the ``tensor index`` of a saved graph).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import scratchnet as sn
from parity_tests.driver import FORWARD_RTOL, TRAJECTORY_RTOL, assert_close, same_start


def two_heads(lib):
    """A trunk and two heads, returned as a dict whose keys are not in sorted order."""
    inputs = lib.Input((3,), name="x")
    h = lib.layers.Dense(4, activation="tanh", name="trunk")(inputs)
    zeta = lib.layers.Dense(2, name="dense_b")(h)
    alpha = lib.layers.Dense(1, activation="sigmoid", name="dense_a")(h)
    return lib.Model(inputs, {"zeta": zeta, "alpha": alpha})


def data(n: int = 8, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype("float32")
    return x, {"zeta": rng.normal(size=(n, 2)).astype("float32"),
               "alpha": rng.integers(0, 2, (n, 1)).astype("float32")}


def twins(build):
    model, kmodel = build(sn), build(keras)
    same_start(model, kmodel)
    return model, kmodel


def assert_dicts_close(out, kout, rtol: float, what: str) -> None:
    assert isinstance(out, dict) and list(out) == list(kout), (what, list(out), list(kout))
    for key in kout:
        assert_close(out[key], np.asarray(kout[key]), rtol, f"{what}[{key!r}]")


def assert_histories_close(history: dict, khistory: dict, rtol: float) -> None:
    assert set(history) == set(khistory), (sorted(history), sorted(khistory))
    for key in khistory:
        assert_close(history[key], khistory[key], rtol, f"history {key!r}")


def test_functional_two_heads_call_and_predict_equal_keras():
    model, kmodel = twins(two_heads)
    assert model.output_names == kmodel.output_names == ["dense_a", "dense_b"]  # sorted-key order
    assert [la.name for la in model.layers] == [la.name for la in kmodel.layers]  # (and summary rows)
    assert list(model.output) == list(kmodel.output) == ["zeta", "alpha"]
    assert [w.name for w in model.weights] == [f"{w.path}" for w in kmodel.weights]
    x, _ = data()
    assert_dicts_close(model(x), kmodel(x), FORWARD_RTOL, "call")
    assert_dicts_close(model.predict(x, batch_size=3, verbose=0), kmodel.predict(x, batch_size=3, verbose=0),
                       FORWARD_RTOL, "predict")


def test_functional_two_heads_fit_with_per_key_losses_weights_and_metrics_equal_keras():
    model, kmodel = twins(two_heads)
    x, y = data()
    for m, lib in ((model, sn), (kmodel, keras)):
        m.compile(lib.optimizers.Adam(0.05),
                  loss={"zeta": "mse", "alpha": "binary_crossentropy"},
                  loss_weights={"alpha": 2.0, "zeta": 0.5},
                  metrics={"alpha": ["binary_accuracy", "mae"], "zeta": ["mae"]})
    fit = {"batch_size": 4, "epochs": 3, "shuffle": False, "verbose": 0}
    history = model.fit(x, y, **fit).history
    khistory = kmodel.fit(x, y, **fit).history
    assert set(khistory) == {"loss", "alpha_loss", "zeta_loss", "alpha_binary_accuracy", "alpha_mae",
                             "zeta_mae"}
    assert_histories_close(history, khistory, TRAJECTORY_RTOL)
    for w, kw in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        assert_close(w, kw, TRAJECTORY_RTOL, "weights after fit")
    x_test, y_test = data(seed=1)
    logs = model.evaluate(x_test, y_test, verbose=0, return_dict=True)
    klogs = kmodel.evaluate(x_test, y_test, verbose=0, return_dict=True)
    assert_histories_close(logs, klogs, FORWARD_RTOL)


def test_one_loss_for_every_output_and_a_partial_loss_dict_equal_keras():
    """``loss="mse"`` for both outputs (logs per key), then ``loss={"zeta": ...}`` alone: the other
    output has no loss, and with one loss left none is logged per output."""
    x, y = data()
    y = {"zeta": y["zeta"], "alpha": y["alpha"] - 0.5}
    for loss, expected in (("mse", {"loss", "alpha_loss", "zeta_loss"}), ({"zeta": "mse"}, {"loss"})):
        model, kmodel = twins(two_heads)
        model.compile(sn.optimizers.SGD(0.1), loss=loss)
        kmodel.compile(keras.optimizers.SGD(0.1), loss=loss)
        history = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
        khistory = kmodel.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
        assert set(khistory) == expected
        assert_histories_close(history, khistory, TRAJECTORY_RTOL)
        for w, kw in zip(model.get_weights(), kmodel.get_weights(), strict=True):
            assert_close(w, kw, TRAJECTORY_RTOL, f"weights after fit, loss={loss!r}")


def test_bad_keys_raise_the_error_types_keras_raises():
    x, y = data()
    model, kmodel = twins(two_heads)
    with pytest.raises(KeyError, match=r"\('beta',\)"):
        model.compile("sgd", loss={"zeta": "mse", "beta": "mse"})
    kmodel.compile("sgd", loss={"zeta": "mse", "beta": "mse"})
    with pytest.raises(KeyError, match=r"\('beta',\)"):  # (Keras checks when the loss is built)
        kmodel.fit(x, y, verbose=0)
    model.compile("sgd", loss={"zeta": "mse", "alpha": "mse"})
    kmodel.compile("sgd", loss={"zeta": "mse", "alpha": "mse"})
    with pytest.raises(ValueError, match="alpha"):
        model.fit(x, {"zeta": y["zeta"]}, verbose=0)
    with pytest.raises(ValueError, match="alpha"):
        kmodel.fit(x, {"zeta": y["zeta"]}, verbose=0)


def subclassed(lib):
    class TwoHeads(lib.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.trunk = lib.layers.Dense(4, activation="tanh")
            self.q = lib.layers.Dense(2)
            self.p = lib.layers.Dense(1)

        def call(self, inputs):
            h = self.trunk(inputs)
            return {"q": self.q(h), "p": self.p(h)}

    return TwoHeads()


def test_subclassed_model_returning_a_dict_equal_keras():
    x, y = data()
    y = {"q": y["zeta"], "p": y["alpha"]}
    model, kmodel = subclassed(sn), subclassed(keras)
    model(x[:2]), kmodel(x[:2])  # built
    same_start(model, kmodel)
    assert_dicts_close(model(x), kmodel(x), FORWARD_RTOL, "call")
    for m, lib in ((model, sn), (kmodel, keras)):
        m.compile(lib.optimizers.SGD(0.1), loss={"p": "mse", "q": "mae"}, loss_weights={"p": 1.5, "q": 1.0},
                  metrics={"q": ["mse"]})
    history = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    khistory = kmodel.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    assert set(khistory) == {"loss", "p_loss", "q_loss", "q_mse"}
    assert_histories_close(history, khistory, TRAJECTORY_RTOL)
    for w, kw in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        assert_close(w, kw, TRAJECTORY_RTOL, "weights after fit")
    assert_dicts_close(model.predict(x, verbose=0), kmodel.predict(x, verbose=0), TRAJECTORY_RTOL, "predict")


def scale_layer(lib):
    """A Keras-style layer with a weight of its own returning a dict (run by scratchnet's tape)."""
    class Scale(lib.layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="w")

        def call(self, x):
            scaled = x * self.w
            return {"scaled": scaled, "summed": lib.ops.sum(scaled, axis=-1, keepdims=True)}

    return Scale


def layer_dict_model(lib):
    inputs = lib.Input((3,), name="x")
    parts = scale_layer(lib)(name="scale")(inputs)
    joined = lib.layers.Concatenate(name="join")([parts["summed"], inputs])
    out = lib.layers.Dense(2, name="head")(joined)
    return lib.Model(inputs, {"out": out, "scaled": parts["scaled"]})


def test_a_layer_returning_a_dict_in_a_functional_model_equal_keras():
    model, kmodel = twins(layer_dict_model)
    x, y = data()
    y = {"out": y["zeta"], "scaled": y["zeta"][:, :1] + x}
    assert_dicts_close(model(x), kmodel(x), FORWARD_RTOL, "call")
    for m, lib in ((model, sn), (kmodel, keras)):
        m.compile(lib.optimizers.SGD(0.05), loss={"out": "mse", "scaled": "mae"})
    history = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    khistory = kmodel.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    assert_histories_close(history, khistory, TRAJECTORY_RTOL)
    for w, kw in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        assert_close(w, kw, TRAJECTORY_RTOL, "weights after fit")
    config, kconfig = model.get_config(), kmodel.get_config()
    assert config["output_layers"] == kconfig["output_layers"] == {"out": ["head", 0, 0],
                                                                  "scaled": ["scale", 0, 0]}
    join, kjoin = ([a["config"]["keras_history"] for a in c["layers"][2]["inbound_nodes"][0]["args"][0]]
                   for c in (config, kconfig))
    assert join == kjoin == [["scale", 0, 1], ["x", 0, 0]]  # "summed": output 1 by sorted key


@pytest.mark.parametrize("writer", ["scratchnet", "keras"])
def test_keras_files_read_across_libraries(tmp_path, writer):
    """A compiled two-head model saved by one library, loaded by the other: the dict of
    predictions, and the compile config (per-key losses, weights, metrics) in evaluate's logs."""
    model, kmodel = twins(two_heads)
    for m, lib in ((model, sn), (kmodel, keras)):
        m.compile(lib.optimizers.SGD(0.1), loss={"zeta": "mse", "alpha": "binary_crossentropy"},
                  loss_weights={"zeta": 1.0, "alpha": 3.0}, metrics={"zeta": ["mae"]})
    x, y = data()
    path = str(tmp_path / "two_heads.keras")
    if writer == "scratchnet":  # scratchnet's model against Keras' reading of its file
        model.save(path)
        ours, theirs = model, keras.saving.load_model(path)
    else:  # scratchnet's reading of Keras' file against Keras' model
        kmodel.save(path)
        ours, theirs = sn.models.load_model(path), kmodel
    assert_dicts_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), FORWARD_RTOL, "predict")
    logs = ours.evaluate(x, y, verbose=0, return_dict=True)
    klogs = theirs.evaluate(x, y, verbose=0, return_dict=True)
    assert set(klogs) == {"loss", "alpha_loss", "zeta_loss", "zeta_mae"}
    assert_histories_close(logs, klogs, FORWARD_RTOL)


def test_tfnet_converts_dict_outputs_both_ways():
    """``tfnet.to_keras`` gives Keras the dict (and the loss keyed by it), ``from_keras`` gives it
    back; the weights are copied bit for bit and the predictions agree."""
    import tfnet

    model = two_heads(sn)
    model.compile(sn.optimizers.SGD(0.1), loss={"zeta": "mse", "alpha": "binary_crossentropy"},
                  loss_weights={"zeta": 1.0, "alpha": 2.0}, metrics={"alpha": ["mae"]})
    kmodel = tfnet.to_keras(model)
    assert isinstance(kmodel.output, dict) and list(kmodel.output) == ["zeta", "alpha"]
    back = tfnet.from_keras(kmodel)
    assert back._target_names == ["alpha", "zeta"] and back.loss_weights == [2.0, 1.0]
    for w, kw, bw in zip(model.get_weights(), kmodel.get_weights(), back.get_weights(), strict=True):
        assert np.array_equal(w, kw) and np.array_equal(w, bw)
    x, y = data()
    assert_dicts_close(back.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL, "predict")
    logs = back.evaluate(x, y, verbose=0, return_dict=True)
    klogs = kmodel.evaluate(x, y, verbose=0, return_dict=True)
    assert set(klogs) == {"loss", "alpha_loss", "zeta_loss", "alpha_mae"}
    assert_histories_close(logs, klogs, FORWARD_RTOL)
