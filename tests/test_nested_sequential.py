"""A functional model as an element of a Sequential model (``Sequential([Input(shape), base,
GlobalAveragePooling2D(), Dense(3)])``): building, freezing, ``pop``, nesting, cloning, files and
the models Keras refuses there. Keras parity: parity_tests/test_nested_sequential_keras.py."""

import numpy as np
import pytest

import scratchnet as sn

L = sn.layers


def small_base(name: str = "base"):
    """A functional convnet whose layers do not form a chain (a residual fork)."""
    i = sn.Input((6, 6, 2))
    h = L.Conv2D(3, 3, padding="same", name="stem")(i)
    return sn.Model(i, L.Add(name="join")([h, L.Conv2D(3, 1, name="branch")(h)]), name=name)


def transfer(base=None):
    return sn.Sequential([sn.Input((6, 6, 2)), base or small_base(), L.GlobalAveragePooling2D(name="gap"),
                          L.Dense(2, name="head")], seed=0, name="transfer")


def data(n: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 6, 6, 2)).astype(np.float32), rng.normal(size=(n, 2)).astype(np.float32)


def by_hand(base, model, x):
    """The same model computed from its parts: the base's own predict, then the head."""
    features = base.predict(x, verbose=0).mean(axis=(1, 2))
    kernel, bias = model.get_layer("head").get_weights()
    return features @ kernel + bias


def test_the_nested_models_layers_are_listed_in_place_and_run_as_its_graph():
    base = small_base()
    model = transfer(base)
    assert [la.name for la in model.layers] == ["stem", "branch", "join", "gap", "head"]
    assert model.layers[:3] == base.layers[1:]  # the same objects: the same weights
    assert model.get_layer("base") is base
    x, _ = data()
    np.testing.assert_allclose(model.predict(x, verbose=0), by_hand(base, model, x), rtol=1e-5, atol=1e-6)
    assert model.output_shape == (None, 2)


def test_it_builds_later_when_no_input_shape_is_known():
    base = small_base()
    model = sn.Sequential([L.Rescaling(2.0, name="scale"), base, L.Flatten(name="flat")])
    assert not model.built
    x, _ = data()
    got = model.predict(x, verbose=0)  # the first call builds it
    assert model.built and got.shape == (4, 6 * 6 * 3)
    np.testing.assert_allclose(got, base.predict(2 * x, verbose=0).reshape(4, -1), rtol=1e-5, atol=1e-6)
    head = sn.Sequential([L.Rescaling(2.0, name="scale"), base, L.GlobalAveragePooling2D(), L.Dense(2)],
                         seed=0)
    head.compile(optimizer="sgd", loss="mse")
    history = head.fit(x, data()[1], epochs=2, verbose=0)  # the first batch of fit builds it
    assert head.built and history.history["loss"][1] < history.history["loss"][0]


def test_model_add_and_a_base_first_with_no_input_take_its_input_shape():
    model = sn.Sequential()
    model.add(small_base())
    assert model.input_shape == (None, 6, 6, 2)
    model.add(L.GlobalAveragePooling2D())
    assert model.output_shape == (None, 3)


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_frozen_base_keeps_its_weights_in_fit(when):
    base = small_base()
    if when == "before":
        base.trainable = False
    model = transfer(base)
    if when == "after":
        base.trainable = False
    assert [p.name for p in model.trainable_weights] == ["head/kernel", "head/bias"]
    assert len(model.non_trainable_weights) == 4
    model.compile(optimizer=sn.optimizers.Adam(0.05), loss="mse")
    start = model.get_weights()
    x, y = data(8)
    model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    after = model.get_weights()
    for got, before in zip(after[:4], start[:4], strict=True):
        np.testing.assert_array_equal(got, before)
    assert not np.array_equal(after[4], start[4])


def test_freezing_the_sequential_model_freezes_the_nested_one_and_a_thawed_layer_trains():
    base = small_base()
    model = transfer(base)
    model.trainable = False
    assert not base.trainable and model.trainable_weights == []
    model.trainable = True
    assert base.trainable and len(model.trainable_weights) == 6
    base.trainable = False
    base.get_layer("branch").trainable = True  # Keras: the layer's variables train in the outer model
    assert [p.name for p in model.trainable_weights] == ["branch/kernel", "branch/bias", "head/kernel",
                                                         "head/bias"]


def test_pop_removes_the_nested_model_whole_and_a_new_head_follows():
    base = small_base()
    model = sn.Sequential([sn.Input((6, 6, 2)), base, L.Flatten(name="flat")])
    assert model.pop().name == "flat"
    assert model.pop() is base
    assert model.layers == [] and model.output_shape == (None, 6, 6, 2)
    model.add(base)
    model.add(L.GlobalAveragePooling2D(name="gap"))
    x, _ = data()
    np.testing.assert_allclose(model.predict(x, verbose=0), base.predict(x, verbose=0).mean(axis=(1, 2)),
                               rtol=1e-5, atol=1e-6)


def test_a_sequential_holding_it_nests_in_a_sequential_and_in_a_functional_model():
    model = transfer()
    x, _ = data()
    want = model.predict(x, verbose=0)
    inner = sn.Sequential([small_base(), L.GlobalAveragePooling2D(name="gap")], name="features")
    outer = sn.Sequential([sn.Input((6, 6, 2)), inner, L.Dense(2, name="head")])
    outer.set_weights(model.get_weights())
    np.testing.assert_allclose(outer.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
    i = sn.Input((6, 6, 2))
    functional = sn.Model(i, model(i))
    assert [la.name for la in functional.layers[1:]] == [la.name for la in model.layers]
    np.testing.assert_allclose(functional.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)


def test_config_json_clone_and_files_round_trip(tmp_path):
    model = transfer()
    x, _ = data()
    want = model.predict(x, verbose=0)
    for rebuilt in (sn.Sequential.from_config(model.get_config()), sn.models.model_from_json(model.to_json()),
                    sn.models.clone_model(model)):
        assert [la.name for la in rebuilt.layers] == [la.name for la in model.layers]
        rebuilt.set_weights(model.get_weights())
        np.testing.assert_allclose(rebuilt.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
    assert model.get_config()["layers"][1]["class_name"] == "Functional"  # nested, as Keras writes it
    for name in ("m.keras", "m.h5"):
        if name.endswith(".h5"):
            with pytest.warns(UserWarning, match="legacy HDF5"):
                model.save(tmp_path / name)
        else:
            model.save(tmp_path / name)
        np.testing.assert_allclose(sn.load_model(tmp_path / name).predict(x, verbose=0), want,
                                   rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r'model "transfer" holds a functional model.*\.keras'):
        model.save(tmp_path / "m.npz")


def two_inputs():
    a, b = sn.Input((3,), name="a"), sn.Input((3,), name="b")
    return sn.Model([a, b], L.Add()([a, b]), name="pair")


def two_outputs():
    i = sn.Input((3,))
    return sn.Model(i, [L.Dense(2, name="p")(i), L.Dense(2, name="q")(i)], name="heads")


@pytest.mark.parametrize("make, error, match", [
    (two_inputs, ValueError, r'layer "pair" expects 2 named input\(s\) with keys \[\'a\', \'b\'\]'),
    (two_outputs, ValueError, r'model "heads" returns 2 outputs, but a layer in a Sequential model'),
])
def test_models_keras_cannot_run_in_a_sequential_model_are_refused(make, error, match):
    with pytest.raises(error, match=match):
        sn.Sequential([sn.Input((3,)), make(), L.Dense(1)])


def test_a_base_of_another_input_shape_a_second_add_and_a_name_taken_are_refused():
    with pytest.raises(ValueError, match=r'Input 0 of layer "base" is incompatible with the layer: '
                                         r"expected shape=\(None, 6, 6, 2\), found shape=\(None, 6, 6, 3\)"):
        sn.Sequential([sn.Input((6, 6, 3)), small_base()])
    with pytest.raises(ValueError, match=r"expected shape=\(None, 6, 6, 2\), found shape=\(None, 6, 6, 4\)"):
        sn.Sequential([L.Conv2D(4, 1), small_base()]).build((None, 6, 6, 2))
    base = small_base()
    model = sn.Sequential([base])
    with pytest.raises(ValueError, match='model "base" is already in model "sequential"'):
        model.add(base)
    with pytest.raises(ValueError, match="Name 'base' is already the name of a layer in this model"):
        model.add(small_base())


def test_one_base_in_two_models_is_shared_and_a_strategy_scope_is_refused():
    base = small_base()
    first, second = transfer(base), sn.Sequential([base, L.Flatten(name="flat")])
    x, _ = data()
    np.testing.assert_allclose(second.predict(x, verbose=0), base.predict(x, verbose=0).reshape(4, -1),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(first.predict(x, verbose=0), by_hand(base, first, x), rtol=1e-5, atol=1e-6)
    with sn.distribute.MirroredStrategy(num_replicas=2).scope():  # (the base made outside it)
        with pytest.raises(ValueError, match='model "base" is a functional model.*distribution strategy'):
            sn.Sequential([base, L.Flatten()])
