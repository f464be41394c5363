"""The functional API: sn.Input, sn.Model(inputs, outputs), merging layers, against float64 finite
differences, hand-computed values and bad input."""

import numpy as np
import pytest

import scratchnet as sn
from tests.functional_models import compile_two_branch, two_branch_data, two_branch_model
from tests.gradcheck import REL_TOL, numeric_grad, rel_error

L = sn.layers


@pytest.fixture(autouse=True)
def float64():
    sn.config.set_floatx("float64")


# ---------------------------------------------------------------------- symbolic tensors
def test_input_is_a_symbolic_tensor():
    t = sn.Input((3, 2), name="pixels")
    assert t.shape == (None, 3, 2) and t.dtype == "float64" and t.name == "pixels"
    out = L.Dense(4)(t)
    assert out.shape == (None, 3, 4)
    assert out.node.inputs == [t] and isinstance(out.node.layer, L.Dense)
    with pytest.raises(TypeError, match="symbolic"):
        np.asarray(t)


def test_input_still_starts_a_sequential():
    model = sn.Sequential([L.Input((3,)), L.Dense(2)], seed=0)
    assert model.input_shape == (None, 3) and model.predict(np.ones((2, 3)), verbose=0).shape == (2, 2)


# ---------------------------------------------------------------------- the whole model
def test_two_branch_model_structure():
    model = two_branch_model()
    names = [layer.name for layer in model.layers]
    assert set(names) == {"a", "b", "shared", "project_b", "left", "right", "rejoin", "features",
                          "label", "value"}
    assert names.count("shared") == 1  # a shared layer is one layer, with one set of weights
    assert model.output_names == ["label", "value"] and model.input_names == ["a", "b"]
    x, _ = two_branch_data()
    label, value = model.predict(x, verbose=0)
    assert label.shape == (6, 3) and value.shape == (6, 1)
    np.testing.assert_allclose(label.sum(axis=1), 1.0)


def test_forward_equals_the_layers_composed_by_hand():
    model = two_branch_model()
    x, _ = two_branch_data()
    lay = {layer.name: layer for layer in model.layers}

    def dense(name, v):
        layer = lay[name]
        return layer.activation.forward(v @ layer.kernel.value + layer.bias.value)

    h_a = dense("shared", x[0])
    h_b = dense("shared", dense("project_b", x[1]))
    features = np.concatenate([dense("left", h_a) + dense("right", h_a) + h_b, h_a], axis=1)
    label, value = model(x)
    np.testing.assert_allclose(label, dense("label", features), rtol=1e-12)
    np.testing.assert_allclose(value, dense("value", features), rtol=1e-12)


def test_two_branch_gradients_match_finite_differences():
    """Two inputs, a shared layer, a fork that rejoins, two outputs with loss weights: every
    weight's gradient (summed over the shared layer's two calls and the fork's branches)."""
    model = compile_two_branch(two_branch_model())
    x, y = two_branch_data()
    sw = np.linspace(0.5, 1.5, 6)
    for weights in (None, sw):
        loss, grads = model.loss_and_grads(x, y, sample_weight=weights)
        for param, grad in zip(model.params, grads, strict=True):
            numeric = numeric_grad(
                lambda w=weights: model.loss_and_grads(x, y, sample_weight=w)[0], param.value)
            assert rel_error(grad, numeric) < REL_TOL, (param.name, rel_error(grad, numeric))


def test_loss_is_the_weighted_sum_of_the_output_losses():
    model = compile_two_branch(two_branch_model())
    x, y = two_branch_data()
    label, value = model(x)
    ce = -np.mean(np.log(label[np.arange(6), y[0]]))
    mse = np.mean((value - y[1]) ** 2)
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["label_loss"], ce, rtol=1e-10)
    np.testing.assert_allclose(logs["value_loss"], mse, rtol=1e-10)
    np.testing.assert_allclose(logs["loss"], ce + 0.5 * mse, rtol=1e-10)
    assert list(logs) == ["loss", "label_loss", "value_loss"]


def test_a_tensor_read_twice_gets_the_sum_of_its_gradients():
    """y = Add()([x, x]) @ w: dL/dx through the fork is 2 w, not w."""
    a = sn.Input((1,))
    dense = L.Dense(1, use_bias=False, kernel_initializer="ones")
    out = dense(L.Add()([a, a]))
    model = sn.Model(a, out)
    model.compile("sgd", loss="mse")
    _, (grad,) = model.loss_and_grads(np.array([[1.0]]), np.array([[0.0]]))
    # L = (2x w)^2, dL/dw = 2 (2xw) 2x = 8 at x = w = 1
    np.testing.assert_allclose(grad, [[8.0]])


def test_shared_layer_gradient_is_summed_over_its_calls():
    a, b = sn.Input((1,), name="a"), sn.Input((1,), name="b")
    shared = L.Dense(1, use_bias=False, kernel_initializer="ones")
    model = sn.Model([a, b], L.Add()([shared(a), shared(b)]))
    model.compile("sgd", loss="mse")
    _, (grad,) = model.loss_and_grads([np.array([[1.0]]), np.array([[2.0]])], np.array([[0.0]]))
    # y = w a + w b = 3 at w = 1; L = y^2; dL/dw = 2 y (a + b) = 18
    np.testing.assert_allclose(grad, [[18.0]])


def test_fit_trains_and_names_the_history_as_keras():
    model = compile_two_branch(two_branch_model())
    model.compile(optimizer=sn.optimizers.Adam(0.01),
                  loss={"label": "sparse_categorical_crossentropy", "value": "mse"},
                  loss_weights={"label": 1.0, "value": 0.5},
                  metrics={"label": ["accuracy"], "value": ["mae"]})
    x, y = two_branch_data(n=32)
    history = model.fit({"a": x[0], "b": x[1]}, {"label": y[0], "value": y[1]}, epochs=30,
                        batch_size=8, verbose=0)
    assert set(history.history) == {"loss", "label_loss", "value_loss", "label_accuracy",
                                    "value_mae"}
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]


def test_fit_with_validation_split_and_sample_weight():
    model = compile_two_branch(two_branch_model())
    x, y = two_branch_data(n=10)
    history = model.fit(x, y, epochs=2, batch_size=4, validation_split=0.2,
                        sample_weight=np.ones(10), verbose=0)
    assert "val_label_loss" in history.history and len(history.history["val_loss"]) == 2


def test_single_input_output_model_logs_like_sequential():
    sn.utils.set_random_seed(3)
    inp = sn.Input((4,))
    out = L.Dense(3, activation="softmax")(L.Dense(5, activation="relu")(inp))
    model = sn.Model(inp, out)
    model.compile("adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).standard_normal((8, 4))
    history = model.fit(x, np.arange(8) % 3, epochs=1, verbose=0)
    assert set(history.history) == {"loss", "accuracy"}
    assert model.predict(x, verbose=0).shape == (8, 3)


def test_set_random_seed_makes_weights_repeatable():
    first = two_branch_model(seed=7).get_weights()
    second = two_branch_model(seed=7).get_weights()
    for w1, w2 in zip(first, second, strict=True):
        np.testing.assert_array_equal(w1, w2)


def test_get_set_weights_round_trip():
    model = two_branch_model()
    weights = [w + 1 for w in model.get_weights()]
    model.set_weights(weights)
    for w, v in zip(model.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(w, v)


def test_summary_lists_layers_and_connections():
    text = two_branch_model().summary(print_fn=None)
    assert "rejoin (Add)" in text and "left[0][0], right[0][0], shared[0][0]" in text
    assert f"Total params: {two_branch_model().count_params():,}" in text


# ---------------------------------------------------------------------- merging layers
MERGES = [
    (lambda: L.Add(), [(2, 3), (2, 3), (2, 3)]),
    (lambda: L.Add(), [(2, 3), (2, 1)]),  # broadcast
    (lambda: L.Subtract(), [(2, 3), (2, 3)]),
    (lambda: L.Multiply(), [(2, 3), (2, 3), (2, 3)]),
    (lambda: L.Average(), [(2, 4), (2, 4)]),
    (lambda: L.Concatenate(), [(2, 3), (2, 2)]),
    (lambda: L.Concatenate(axis=1), [(2, 1, 3), (2, 2, 3)]),
    (lambda: L.Dot(axes=1), [(2, 3), (2, 3)]),
    (lambda: L.Dot(axes=1, normalize=True), [(2, 3), (2, 3)]),
    (lambda: L.Dot(axes=(1, 2)), [(2, 3, 4), (2, 2, 3)]),
    (lambda: L.Dot(axes=-1, normalize=True), [(2, 2, 4), (2, 3, 4)]),
]


@pytest.mark.parametrize("make, shapes", MERGES)
def test_merging_layer_gradients(make, shapes, rng):
    layer = make()
    xs = [rng.standard_normal(s) for s in shapes]
    layer.ensure_built([s[1:] for s in shapes], rng)
    y = layer.forward(xs)
    w = rng.standard_normal(y.shape)

    def loss():
        return float(np.sum(w * layer.forward(xs)))

    layer.forward(xs)
    dxs = layer.backward(w)
    for x, dx in zip(xs, dxs, strict=True):
        numeric = numeric_grad(loss, x)
        assert dx.shape == x.shape and rel_error(dx, numeric) < REL_TOL, (layer.name,
                                                                           rel_error(dx, numeric))


def test_merging_values():
    a, b = np.array([[1.0, 2.0]]), np.array([[3.0, 5.0]])
    np.testing.assert_array_equal(L.Add()([a, b]), [[4, 7]])
    np.testing.assert_array_equal(L.Subtract()([a, b]), [[-2, -3]])
    np.testing.assert_array_equal(L.Multiply()([a, b]), [[3, 10]])
    np.testing.assert_array_equal(L.Average()([a, b]), [[2, 3.5]])
    np.testing.assert_array_equal(L.Concatenate()([a, b]), [[1, 2, 3, 5]])
    np.testing.assert_array_equal(L.Dot(axes=1)([a, b]), [[13]])
    np.testing.assert_allclose(L.Dot(axes=1, normalize=True)([a, b]),
                               [[13 / np.sqrt(5) / np.sqrt(34)]])


# ---------------------------------------------------------------------- bad input
def test_concatenate_axis_mismatch_names_the_shapes():
    with pytest.raises(ValueError, match=r"matching shapes except for the concatenation axis.*"
                                         r"\(None, 2, 3\).*\(None, 3, 4\)"):
        L.Concatenate()([sn.Input((2, 3)), sn.Input((3, 4))])


def test_incompatible_elementwise_shapes():
    with pytest.raises(ValueError, match=r"incompatible shapes.*\(None, 3\).*\(None, 4\)"):
        L.Add()([sn.Input((3,)), sn.Input((4,))])
    with pytest.raises(ValueError, match="exactly 2 inputs"):
        L.Subtract()([sn.Input((3,)), sn.Input((3,)), sn.Input((3,))])
    with pytest.raises(ValueError, match=r"axis values 3 .* != 4"):
        L.Dot(axes=1)([sn.Input((3,)), sn.Input((4,))])


def test_shared_layer_called_on_an_incompatible_shape_names_both():
    dense = L.Dense(2)
    dense(sn.Input((3,)))
    with pytest.raises(ValueError, match=r'"dense".*expected shape=\(None, 3\), found '
                                         r"shape=\(None, 5\)"):
        dense(sn.Input((5,)))


def test_outputs_that_do_not_depend_on_the_inputs():
    a, b = sn.Input((2,), name="a"), sn.Input((2,), name="b")
    out = L.Dense(1)(b)
    with pytest.raises(ValueError, match=r'Graph disconnected.*Input "b"'):
        sn.Model(a, out)


def test_a_cycle_is_refused():
    a = sn.Input((2,))
    d1 = L.Dense(2)(a)
    d2 = L.Dense(2)(d1)
    d1.node.inputs = [d2]  # rewire by hand: d1 <- d2 <- d1
    with pytest.raises(ValueError, match="cycle"):
        sn.Model(a, d2)


def test_model_arguments_must_be_symbolic():
    with pytest.raises(ValueError, match="KerasTensors"):
        sn.Model(np.zeros((2, 3)), sn.Input((3,)))


def test_missing_and_extra_input_keys_are_named():
    model = compile_two_branch(two_branch_model())
    x, y = two_branch_data()
    with pytest.raises(ValueError, match='missing data for input "b".*Expected the following '
                                         r"keys: \['a', 'b'\]"):
        model.fit({"a": x[0]}, y, verbose=0)
    with pytest.raises(ValueError, match=r"unknown input key\(s\) \['c'\]"):
        model.fit({"a": x[0], "b": x[1], "c": x[1]}, y, verbose=0)
    with pytest.raises(ValueError, match=r"2 inputs \['a', 'b'\].*received ndarray"):
        model.predict(x[0], verbose=0)
    with pytest.raises(ValueError, match=r'input "b" is incompatible.*expected shape=\(None, 3\), '
                                         r"found shape=\(6, 4\)"):
        model.predict([x[0], x[0]], verbose=0)


def test_compile_per_output_errors():
    model = two_branch_model()
    with pytest.raises(ValueError, match=r"one entry per output \(2: \['label', 'value'\]\)"):
        model.compile("sgd", loss=["mse"])
    with pytest.raises(ValueError, match=r"unknown output name\(s\) \['valu'\]"):
        model.compile("sgd", loss={"label": "mse", "valu": "mse"})


def test_duplicate_explicit_names_are_refused():
    a = sn.Input((2,))
    with pytest.raises(ValueError, match='"same" is used 2 times'):
        sn.Model(a, L.Dense(2, name="same")(L.Dense(2, name="same")(a)))


# ---------------------------------------------------------------------- saving
@pytest.mark.parametrize("ext", ["npz", "keras"])
def test_save_and_load_round_trip(ext, tmp_path):
    model = compile_two_branch(two_branch_model())
    model.compile(optimizer=sn.optimizers.Adam(0.01), loss=["sparse_categorical_crossentropy", "mse"],
                  loss_weights=[1.0, 0.5], metrics=[["accuracy"], ["mae"]])
    x, y = two_branch_data()
    model.fit(x, y, epochs=2, verbose=0)
    model.save(tmp_path / f"m.{ext}")
    loaded = sn.load_model(tmp_path / f"m.{ext}")
    assert isinstance(loaded, sn.Model) and not isinstance(loaded, sn.Sequential)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    assert loaded.output_names == ["label", "value"] and loaded.loss_weights == [1.0, 0.5]
    for a, b in zip(model(x), loaded(x), strict=True):
        np.testing.assert_array_equal(a, b)
    assert model.evaluate(x, y, verbose=0, return_dict=True) == \
        loaded.evaluate(x, y, verbose=0, return_dict=True)
    model.train_step(x, y)  # the optimizer state came back too: the next step is the same
    loaded.train_step(x, y)
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    shared = [layer for layer in loaded.layers if layer.name == "shared"][0]
    assert sum(node.layer is shared for node in loaded._nodes) == 2  # still one shared layer


def test_keras_config_names_the_graph(tmp_path):
    import json
    import zipfile

    model = two_branch_model()
    model.save(tmp_path / "m.keras")
    config = json.loads(zipfile.ZipFile(tmp_path / "m.keras").read("config.json"))
    assert config["class_name"] == "Functional"
    inner = config["config"]
    assert inner["input_layers"] == [["a", 0, 0], ["b", 0, 0]]
    assert inner["output_layers"] == [["label", 0, 0], ["value", 0, 0]]
    rejoin = [spec for spec in inner["layers"] if spec["name"] == "rejoin"][0]
    refs = [t["config"]["keras_history"] for t in rejoin["inbound_nodes"][0]["args"][0]]
    assert refs == [["left", 0, 0], ["right", 0, 0], ["shared", 1, 0]]  # shared's second call


def test_dict_inputs_survive_saving(tmp_path):
    sn.utils.set_random_seed(0)
    a, b = sn.Input((2,), name="a"), sn.Input((1,), name="b")
    model = sn.Model({"a": a, "b": b}, L.Dense(1)(L.Concatenate()([a, b])))
    x = {"a": np.ones((3, 2)), "b": np.zeros((3, 1))}
    for ext in ("npz", "keras"):
        model.save(tmp_path / f"d.{ext}")
        np.testing.assert_array_equal(sn.load_model(tmp_path / f"d.{ext}").predict(x, verbose=0),
                                      model.predict(x, verbose=0))


# ---------------------------------------------------------------------- docs/functional.md, plot_model
def test_the_fork_walkthrough_in_the_docs():
    """docs/functional.md's table: h's gradient is the sum 6 + (-4) of its two branches."""
    x = sn.Input((2,), name="x")
    h = L.Dense(1, use_bias=False, name="h")(x)
    left = L.Dense(1, use_bias=False, name="left")(h)
    right = L.Dense(1, use_bias=False, name="right")(h)
    model = sn.Model(x, L.Add(name="add")([left, right]))
    model.set_weights([np.array([[0.5], [0.25]]), np.array([[2.0]]), np.array([[-3.0]])])
    model.compile("sgd", loss="mse")
    loss, grads = model.loss_and_grads(np.array([[1.0, 2.0]]), np.array([[0.0]]))
    assert loss == 1.0
    assert [g.ravel().tolist() for g in grads] == [[2.0, 4.0], [-2.0], [-2.0]]
    assert [node.layer.name for node in model._nodes] == ["x", "h", "left", "right", "add"]


def test_plot_model_writes_a_png_of_the_graph(tmp_path):
    from scratchnet.utils.model_visualization import _graph, _label

    model = two_branch_model()
    sn.utils.plot_model(model, tmp_path / "m.png", show_shapes=True, show_layer_names=True)
    assert (tmp_path / "m.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    layers, edges = _graph(model)
    names = {(s.name, t.name) for s, t in edges}
    assert {("shared", "features"), ("shared", "rejoin"), ("project_b", "shared"),
            ("a", "shared")} <= names and len(names) == len(edges)
    rejoin = [layer for layer in layers if layer.name == "rejoin"][0]
    assert _label(rejoin, True, False, True, False, False) == (
        "rejoin (Add)\nInput shape: [(None, 5), (None, 5), (None, 5)]\nOutput shape: (None, 5)")
    sequential = sn.Sequential([L.Input((3,)), L.Dense(2)], seed=0)
    sn.utils.plot_model(sequential, tmp_path / "s.png", rankdir="LR")
    with pytest.raises(ValueError, match="rankdir"):
        sn.utils.plot_model(sequential, tmp_path / "s.png", rankdir="BT")


def test_summary_counts_moving_statistics_as_non_trainable():
    inputs = sn.Input((4,))
    hidden = sn.layers.BatchNormalization()(sn.layers.Dense(3)(inputs))
    model = sn.Model(inputs, sn.layers.Dense(1)(hidden))
    # Dense 4*3+3, BN gamma+beta 6 (trainable) and moving mean+variance 6, Dense 3+1
    assert model.summary(print_fn=None).splitlines()[-3:] == [
        "Total params: 31", "Trainable params: 25", "Non-trainable params: 6"]


# ------------------------------------------------ layer.output / model.input (Keras' graph names)
def _vis_model():
    return sn.Sequential([
        sn.Input((12, 12, 3)),
        L.Conv2D(4, 3, activation="relu"),
        L.MaxPooling2D(2),
        L.Flatten(),
        L.Dense(3, activation="softmax"),
    ], seed=0)


def test_a_sequential_models_layer_outputs_make_the_courses_visualization_model():
    """The course's "visualizing intermediate representations": ``Model(inputs=model.input,
    outputs=[layer.output for layer in model.layers[1:]])`` on a Sequential model gives each
    layer's output, the arrays of running the layers one by one, and shares their weights."""
    model = _vis_model()
    assert model.input is model.inputs[0] and model.input.shape == (None, 12, 12, 3)
    assert model.output is model.layers[-1].output and model.output.shape == (None, 3)
    assert model.layers[1].input is model.layers[0].output  # each layer reads the one before
    successive_outputs = [layer.output for layer in model.layers[1:]]
    assert [t.shape for t in successive_outputs] == [(None, 5, 5, 4), (None, 100), (None, 3)]
    visualization = sn.Model(inputs=model.input, outputs=successive_outputs)
    assert visualization.layers[1:] == model.layers  # the same layer objects: the same weights
    x = np.random.default_rng(0).random((2, 12, 12, 3))
    maps = visualization.predict(x, verbose=0)
    a, expected = x, []
    for layer in model.layers:
        a = layer(a)
        expected.append(a)
    for got, want in zip(maps, expected[1:], strict=True):
        np.testing.assert_array_equal(got, want)
    model.layers[0].kernel.value[...] += 1.0  # a change to the model's weights shows there
    np.testing.assert_array_equal(visualization.predict(x, verbose=0)[-1], model.predict(x, verbose=0))


def test_layer_output_and_model_input_before_and_after_a_sequential_is_built():
    """Without an Input nothing is called yet: Keras' AttributeErrors, the layer's and the
    Sequential model's; ``build`` (or ``input_shape=``) makes the graph; ``pop`` moves
    ``model.output``."""
    model = sn.Sequential([L.Dense(4, activation="relu"), L.Dense(2)])
    with pytest.raises(AttributeError, match="The layer dense has never been called and thus has "
                                             "no defined output"):
        _ = model.layers[0].output
    with pytest.raises(AttributeError, match="no defined input"):
        _ = model.layers[0].input
    assert not hasattr(model.layers[1], "output")
    for name in ("input", "output", "inputs", "outputs"):
        with pytest.raises(AttributeError, match=f"Sequential model 'sequential' has no defined {name} yet"):
            getattr(model, name)
    model.build((None, 3))
    assert model.input.shape == (None, 3) and model.output.shape == (None, 2)
    assert model.layers[0].output.shape == (None, 4) and model.layers[1].input is model.layers[0].output
    model.pop()
    assert model.output is model.layers[0].output
    declared = sn.Sequential([L.Dense(2, input_shape=(5,))])
    assert declared.input.shape == (None, 5) and declared.output.shape == (None, 2)
    added = sn.Sequential()
    added.add(sn.Input((7,)))
    added.add(L.Dense(3))
    assert added.output.shape == (None, 3) and added.layers[0].input is added.input


def test_transfer_learning_from_a_layers_output_trains_the_new_head_only():
    """The transfer-learning lesson: ``x = base.get_layer(name).output``, new layers on it, then
    ``Model(base.input, x)``: the base's layers (frozen here) are shared, not copied."""
    inputs = sn.Input((10, 10, 3))
    h = L.Conv2D(4, 3, activation="relu", name="c1")(inputs)
    h = L.MaxPooling2D(2, name="p1")(h)
    base = sn.Model(inputs, L.GlobalAveragePooling2D()(L.Conv2D(6, 3, name="c2")(h)))
    assert base.input is inputs and base.output.shape == (None, 6)
    base.trainable = False
    x = L.Flatten()(base.get_layer("p1").output)
    model = sn.Model(base.input, L.Dense(3, activation="softmax")(x))
    assert model.layers[1] is base.get_layer("c1")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    frozen = base.get_layer("c1").get_weights()
    head = model.layers[-1].get_weights()
    rng = np.random.default_rng(1)
    model.fit(rng.random((6, 10, 10, 3)), np.arange(6) % 3, epochs=2, verbose=0)
    for got, want in zip(base.get_layer("c1").get_weights(), frozen, strict=True):
        np.testing.assert_array_equal(got, want)
    assert not np.array_equal(model.layers[-1].get_weights()[0], head[0])


def test_a_model_from_an_inner_tensor_gets_a_cloned_input_and_shares_weights():
    """Keras' ``clone_graph_nodes`` (found by examples/keras_io/structured_data_classification.py,
    whose training model starts at ``feature_space.get_encoded_features()``): ``Model(h, out)``
    with ``h`` made by a layer gets a new Input named ``<name>CLONE`` of ``h``'s shape; its
    layers are the same objects as the whole model's, so training one trains the other."""
    a = sn.Input((5,), name="a")
    h = sn.layers.Dense(4, name="encode")(a)
    out = sn.layers.Dense(2, name="head")(sn.layers.Dense(3, name="mid")(h))
    inner = sn.Model(h, out)
    whole = sn.Model(a, out)
    assert [layer.name for layer in inner.layers] == ["encodeCLONE", "mid", "head"]
    assert inner.input_shape == (None, 4) and inner.output_shape == (None, 2)
    assert inner.layers[1] is whole.layers[2] and len(inner.get_weights()) == 4
    x = np.random.default_rng(0).normal(size=(6, 5)).astype(np.float32)
    hidden = whole.layers[1](x)
    np.testing.assert_allclose(inner.predict(hidden, verbose=0), whole.predict(x, verbose=0), rtol=1e-6)
    inner.compile(optimizer="sgd", loss="mse")
    before = whole.layers[2].get_weights()[0].copy()
    inner.fit(hidden, np.ones((6, 2), np.float32), epochs=1, verbose=0)
    assert not np.allclose(whole.layers[2].get_weights()[0], before)
    assert h.node.layer.output is h  # the original graph is untouched
    with pytest.raises(ValueError, match="Graph disconnected"):
        sn.Model(h, sn.layers.Concatenate()([out, a]))  # an output still needs the Input "a"


def test_a_functional_model_called_on_tensors_joins_the_outer_graph():
    """Found by examples/keras_io/text_classification_from_scratch.py, whose end-to-end model is
    ``Input(dtype="string")`` -> TextVectorization -> the trained model called as a layer. The
    model's layer calls are replayed from the given tensor; the layers (and weights) are shared,
    so the outer model predicts what the inner one does on the same values."""
    inner_in = sn.Input((4,))
    inner = sn.Model(inner_in, sn.layers.Dense(2, name="d2")(sn.layers.Dense(3, name="d3")(inner_in)))
    outer_in = sn.Input((5,))
    first = sn.layers.Dense(4, name="d4")
    outer = sn.Model(outer_in, inner(first(outer_in)))
    assert [layer.name for layer in outer.layers][1:] == ["d4", "d3", "d2"]
    assert outer.output_shape == (None, 2)
    x = np.random.default_rng(1).normal(size=(3, 5)).astype(np.float32)
    np.testing.assert_allclose(outer.predict(x, verbose=0), inner.predict(first(x), verbose=0), rtol=1e-6)
    with pytest.raises(ValueError, match="expected shape=\\(None, 4\\), found shape=\\(None, 5\\)"):
        inner(outer_in)
    with pytest.raises(ValueError, match="expects 1 input"):
        inner([first(outer_in), first(outer_in)])


def test_an_output_without_a_loss_takes_no_targets_and_no_gradient():
    """``loss=[None, "mse"]``: the loss is the value output's alone; y is its targets only; the
    label output (a softmax head of its own) gets no gradient, so its weights get none."""
    model = two_branch_model()
    model.compile("sgd", loss=[None, "mse"])
    x, y = two_branch_data()
    _, value = model(x)
    logs = model.evaluate(x, y[1], verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["loss"], np.mean((value - y[1]) ** 2), rtol=1e-10)
    assert list(logs) == ["loss"]  # one output has a loss: no per-output entries (Keras' rule)
    loss, grads = model.loss_and_grads(x, y[1])
    for param, grad in zip(model.params, grads, strict=True):
        if param.name.startswith("label/"):
            assert not grad.any(), param.name
        else:
            numeric = numeric_grad(lambda: model.loss_and_grads(x, y[1])[0], param.value)
            assert rel_error(grad, numeric) < REL_TOL, param.name
    # as in Keras, targets for every output are taken too, the ones without a loss unread
    for every in ([y[0], y[1]], [None, y[1]], {"label": y[0], "value": y[1]}):
        assert model.evaluate(x, every, verbose=0) == pytest.approx(logs["loss"], rel=1e-12)
    with pytest.raises(ValueError, match="at least one output.*received None for every output"):
        model.compile("sgd", loss=[None, None])
    # metrics on the output without a loss would never see targets: refused, not left empty
    with pytest.raises(NotImplementedError,
                       match="output 'label' has no loss \\(None\\) but metrics \\['accuracy'\\]"):
        model.compile("sgd", loss=[None, "mse"], metrics=[["accuracy"], ["mae"]])
    model.compile("sgd", loss=[None, "mse"], metrics={"value": ["mae"]})
    assert set(model.evaluate(x, y[1], verbose=0, return_dict=True)) == {"loss", "value_mae"}


@pytest.mark.parametrize("ext", ["npz", "keras"])
def test_a_model_with_an_output_without_a_loss_saves_and_loads_compiled(ext, tmp_path):
    model = two_branch_model()
    model.compile("sgd", loss=["sparse_categorical_crossentropy", None])
    x, y = two_branch_data()
    model.save(tmp_path / f"m.{ext}")
    loaded = sn.load_model(tmp_path / f"m.{ext}")
    assert loaded.output_losses[1] is None and loaded.loss_outputs == [0]
    assert loaded.evaluate(x, y[0], verbose=0) == pytest.approx(model.evaluate(x, y[0], verbose=0))


def _model_beside_a_branch():
    """``Add()([Dense c(x), inner(x)])``, ``inner`` a functional model of Dense a then b."""
    i = sn.Input((3,))
    inner = sn.Model(i, L.Dense(3, name="b")(L.Dense(3, name="a")(i)), name="inner")
    x = sn.Input((3,))
    y = inner(x)
    return inner, x, y, L.Dense(3, name="c")(x)


def test_a_nested_calls_layers_stand_at_its_place_and_in_its_own_order():
    """The replayed calls of ``inner(x)`` are one nested call: the outer model lists ``c, a, b``
    (Keras: ``c, inner``), not each layer at its own depth (``a, c, b``); its files use the flat
    graph's order, which Keras gives the flat graph it loads."""
    inner, x, y, c = _model_beside_a_branch()
    assert y.node.nested_call is not None and y.node.nested_call.model is inner
    model = sn.Model(x, L.Add(name="join")([c, y]))
    assert [la.name for la in model.layers[1:]] == ["c", "a", "b", "join"]
    assert [la.name for la in model._flat_operations[1:]] == ["a", "c", "b", "join"]
    assert model._keras_entries[1:] == [model.get_layer("c"), inner, model.get_layer("join")]
    assert [p.name for p in model.weights][:2] == ["c/kernel", "c/bias"]


def test_a_graph_that_reads_inside_a_nested_call_lists_its_layers_one_by_one():
    """A tensor made inside a nested call read outside it (a model output here), or a graph that
    starts inside it (``sn.Function``), is not a graph Keras can make: the call's layers are then
    ordered one by one, each layer once, and the graph computes the same."""
    inner, x, y, c = _model_beside_a_branch()
    a_out = inner.get_layer("a")._inbound_nodes[-1].output  # the replayed call's inner tensor
    model = sn.Model(x, [L.Add(name="join")([c, y]), a_out])
    assert [la.name for la in model.layers[1:]] == ["a", "c", "b", "join"]
    data = np.random.default_rng(0).normal(size=(2, 3)).astype(np.float32)
    out, hidden = model.predict(data, verbose=0)
    np.testing.assert_allclose(hidden, inner.get_layer("a")(data), rtol=1e-6)
    np.testing.assert_allclose(out, model.get_layer("c")(data) + inner.predict(data, verbose=0), rtol=1e-5)
    fn = sn.Function([x, a_out], L.Add(name="join2")([c, y]))
    assert sorted(op.name for op in fn.operations) == sorted([x.node.layer.name, "b", "c", "join2"])
