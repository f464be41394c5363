"""Models called on tensors of another model (nested models) against Keras 3.15.

Keras keeps a nested model as ONE entry of ``model.layers``, at the depth of its call; scratchnet
replays the nested model's layer calls into the outer graph and lists its layers there, in the
nested model's own order (``docs/functional.md``, "A functional model called on a tensor"). So
``layers``, ``weights`` and ``get_weights`` come out in Keras' order with each nested model
expanded in place, and ``set_weights(keras_model.get_weights())`` puts every array where Keras has
it, even beside a branch whose weights have the same shapes. Keras' ``.keras`` files of such
models load in scratchnet, and scratchnet's (flat) files of them load in Keras."""

import keras
import numpy as np
import pytest

import scratchnet as sn
import tfnet
from parity_tests.driver import FORWARD_RTOL, assert_close


def nested_model(M, kind: str):
    """An outer functional model whose nested model runs beside a branch (``c``) with weights of
    the same shapes as the nested ones, in ``M`` (``keras`` or ``sn``). ``kind``: the nested
    model is a Sequential, a functional model, a functional model holding a Sequential beside a
    branch of its own (nested twice), or a functional model called twice (shared)."""
    L = M.layers
    if kind == "sequential":
        inner = M.Sequential([L.Dense(3, name="a"), L.Dense(3, name="b")], name="inner")
    elif kind in ("functional", "shared"):
        i = M.Input((3,))
        inner = M.Model(i, L.Dense(3, name="b")(L.Dense(3, name="a")(i)), name="inner")
    else:  # nested twice
        seq = M.Sequential([L.Dense(3, name="s1"), L.Dense(3, name="s2")], name="seq")
        i = M.Input((3,))
        inner = M.Model(i, L.Add(name="inner_join")([L.Dense(3, name="m")(i), seq(i)]), name="inner")
    x = M.Input((3,))
    if kind == "shared":
        y = inner(L.Dense(3, name="d")(inner(x)))
    else:
        y = inner(x)
    return M.Model(x, L.Add(name="join")([L.Dense(3, name="c")(x), y]), name="outer")


def keras_layers_expanded(kmodel) -> list:
    """Keras' ``model.layers`` with each nested model replaced by its layers (its own ``Input``
    left out: it is not part of the outer graph), a layer met twice kept at its first place."""
    flat = []
    for entry in kmodel.layers:
        if isinstance(entry, keras.Model):
            flat += [la for la in keras_layers_expanded(entry) if not isinstance(la, keras.layers.InputLayer)]
        else:
            flat.append(entry)
    return list(dict.fromkeys(flat))


def weight_names(weights) -> list[str]:
    """``layer/weight`` of each weight (Keras' paths hold the nested model's name too)."""
    return ["/".join(w.path.split("/")[-2:]) if hasattr(w, "path") else w.name for w in weights]


# Keras' order, nested models expanded: the branch c first (same depth as the nested model, met
# first), where sorting each layer by its own depth gives a, c, b; called twice, the nested model
# takes its deepest call's place
EXPECTED_ORDER = {"sequential": ["c", "a", "b", "join"], "functional": ["c", "a", "b", "join"],
                  "nested_twice": ["c", "m", "s1", "s2", "inner_join", "join"],
                  "shared": ["a", "b", "d", "c", "join"]}


@pytest.mark.parametrize("kind", ["sequential", "functional", "nested_twice", "shared"])
def test_layers_and_weights_of_a_nested_model_beside_a_branch_come_in_keras_order(kind):
    model, kmodel = nested_model(sn, kind), nested_model(keras, kind)
    kflat = keras_layers_expanded(kmodel)
    assert [la.name for la in model.layers[1:]] == [la.name for la in kflat[1:]]
    assert [type(la).__name__ for la in model.layers] == [type(la).__name__ for la in kflat]
    assert weight_names(model.weights) == weight_names(kmodel.weights)
    assert [la.name for la in model.layers[1:]] == EXPECTED_ORDER[kind]  # (what Keras' order is)

    rng = np.random.default_rng(7)
    kmodel.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in kmodel.get_weights()])
    model.set_weights(kmodel.get_weights())
    for got, want in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    x = rng.normal(size=(5, 3)).astype(np.float32)
    assert_close(model.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL,
                 f"forward through the nested model ({kind})")
    summary = model.summary(print_fn=None)
    where = [summary.index(f"{la.name} (") for la in model.layers]
    assert where == sorted(where)  # the summary's rows in the same order


def keras_nested_file(tmp_path, kind: str = "nested_twice"):
    """Keras builds the nested model, fits it one epoch (Adam) and saves it as ``.keras``."""
    keras.utils.set_random_seed(3)
    kmodel = nested_model(keras, kind)
    kmodel.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    rng = np.random.default_rng(11)
    x, y = rng.normal(size=(16, 3)).astype(np.float32), rng.normal(size=(16, 3)).astype(np.float32)
    kmodel.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    path = tmp_path / "keras_nested.keras"
    kmodel.save(path)
    return kmodel, path, x, y


@pytest.mark.parametrize("kind", ["functional", "nested_twice", "shared"])
def test_a_keras_file_holding_a_nested_functional_model_loads(kind, tmp_path):
    """Keras' ``.keras`` file keeps the nested functional model as one ``"Functional"`` entry,
    its weights under ``layers/functional/layers/...``: scratchnet loads it, the nested model's
    calls replayed, with Keras' predictions, weights (in Keras' order) and optimizer state."""
    kmodel, path, x, y = keras_nested_file(tmp_path, kind)
    model = sn.load_model(path)
    for got, want in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    assert weight_names(model.weights) == weight_names(kmodel.weights)
    assert_close(model.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL,
                 "forward of the loaded nested model")
    assert model.optimizer.calls == int(kmodel.optimizer.iterations.numpy()) == 2
    assert_close(model.evaluate(x, y, verbose=0), kmodel.evaluate(x, y, verbose=0), FORWARD_RTOL,
                 "the loaded model's loss")


def test_scratchnets_file_of_a_nested_model_loads_in_keras_and_scratchnet(tmp_path):
    """scratchnet writes a nested model's layer calls flat, in the order Keras gives the flat
    graph (the weights are written where Keras, loading it, looks for them): Keras and scratchnet
    both load the file with the model's predictions, and the same weights in the same order."""
    kmodel, path, x, _ = keras_nested_file(tmp_path)
    model = sn.load_model(path)  # (a nested model of Keras' file)
    built = nested_model(sn, "functional")
    assert [la.name for la in built.layers[1:]] == ["c", "a", "b", "join"]  # the file's: a, c, b
    built.set_weights([np.random.default_rng(5).normal(size=w.shape).astype(np.float32)
                       for w in built.get_weights()])
    for source in (model, built):
        out = tmp_path / f"{source.name}_{id(source)}.keras"
        source.save(out)
        kloaded, loaded = keras.models.load_model(out), sn.load_model(out)
        want = source.predict(x, verbose=0)
        assert_close(kloaded.predict(x, verbose=0), want, FORWARD_RTOL, "Keras loading scratchnet's file")
        assert_close(loaded.predict(x, verbose=0), want, FORWARD_RTOL, "scratchnet loading its file")
        assert weight_names(loaded.weights) == weight_names(kloaded.weights)
        for got, expected in zip(loaded.get_weights(), kloaded.get_weights(), strict=True):
            np.testing.assert_array_equal(got, expected)
        weights = tmp_path / "w.weights.h5"  # a weights file goes back into the same model
        source.save_weights(weights)
        before = source.get_weights()
        source.set_weights([w * 0 for w in before])
        source.load_weights(weights)
        for got, expected in zip(source.get_weights(), before, strict=True):
            np.testing.assert_array_equal(got, expected)


def test_a_model_starting_at_a_layers_tensor_keeps_the_nested_models_place():
    """``Model(inputs=tensor a layer made, ...)`` records the graph again from a new ``Input``
    (Keras' ``clone_graph_nodes``); the nested model's replayed calls stay one nested call there
    too, so the clone lists its layers where Keras lists the nested model."""
    def build(M):
        L = M.layers
        i = M.Input((3,))
        inner = M.Model(i, L.Dense(3, name="b")(L.Dense(3, name="a")(i)), name="inner")
        start = L.Dense(3, name="pre")(M.Input((4,)))
        return M.Model(start, L.Add(name="join")([L.Dense(3, name="c")(start), inner(start)]))

    model, kmodel = build(sn), build(keras)
    kflat = keras_layers_expanded(kmodel)
    assert [la.name for la in model.layers[1:]] == [la.name for la in kflat[1:]] == ["c", "a", "b", "join"]
    rng = np.random.default_rng(2)
    kmodel.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in kmodel.get_weights()])
    model.set_weights(kmodel.get_weights())
    x = rng.normal(size=(4, 3)).astype(np.float32)
    assert_close(model.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL,
                 "forward of the cloned graph")


@pytest.mark.parametrize("kind", ["sequential", "nested_twice", "shared"])
def test_keras_weights_and_h5_files_of_a_nested_model_load_into_scratchnet(kind, tmp_path):
    """Keras' ``.weights.h5`` of a nested model (its weights under the nested model's group)
    loads into the same model built in scratchnet; Keras' legacy ``.h5`` of it loads too."""
    kmodel = nested_model(keras, kind)
    rng = np.random.default_rng(4)
    kmodel.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in kmodel.get_weights()])
    kmodel.save_weights(tmp_path / "k.weights.h5")
    model = nested_model(sn, kind)
    model.load_weights(tmp_path / "k.weights.h5")
    for got, want in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    kmodel.save(tmp_path / "k.h5")  # (Keras logs that the format is legacy)
    x = rng.normal(size=(4, 3)).astype(np.float32)
    assert_close(sn.load_model(tmp_path / "k.h5").predict(x, verbose=0), kmodel.predict(x, verbose=0),
                 FORWARD_RTOL, "scratchnet's model of Keras' .h5 file")


@pytest.mark.parametrize("kind", ["functional", "nested_twice", "shared"])
def test_scratchnets_weights_file_of_a_nested_model_loads_into_keras_twin(kind, tmp_path):
    """``save_weights`` writes a nested model's weights under its own group, as Keras does, so the
    same model built in Keras reads scratchnet's ``.weights.h5`` (and scratchnet reads it back)."""
    model = nested_model(sn, kind)
    rng = np.random.default_rng(6)
    model.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in model.get_weights()])
    model.save_weights(tmp_path / "s.weights.h5")
    kmodel = nested_model(keras, kind)
    kmodel.load_weights(tmp_path / "s.weights.h5")
    again = nested_model(sn, kind)
    again.load_weights(tmp_path / "s.weights.h5")
    for got, want, mine in zip(kmodel.get_weights(), model.get_weights(), again.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(mine, want)


@pytest.mark.parametrize("kind", ["sequential", "nested_twice", "shared"])
def test_from_keras_converts_a_model_holding_a_nested_model(kind):
    """``tfnet.from_keras`` converts the nested model too and calls it on its tensors: the same
    layers, weights in Keras' order, and predictions."""
    kmodel = nested_model(keras, kind)
    model = tfnet.from_keras(kmodel)
    assert [la.name for la in model.layers[1:]] == EXPECTED_ORDER[kind]
    for got, want in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    x = np.random.default_rng(8).normal(size=(4, 3)).astype(np.float32)
    assert_close(model.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL,
                 "from_keras of a nested model")
