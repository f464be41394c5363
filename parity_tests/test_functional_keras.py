"""Functional models against Keras 3.15: the two-input, shared-layer, forked, two-output model of
tests/functional_models.py and its Keras twin (tfnet.to_keras) agree on the layer and weight
order, every output (FORWARD_RTOL), the total loss and every gradient (GRAD_RTOL), a 20-step Adam
trajectory (TRAJECTORY_RTOL) and fit's history names and values; each merging layer's output and
input gradients match Keras'; from_keras rebuilds a Keras functional graph."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import scratchnet as sn
import tfnet
from parity_tests.driver import (
    FORWARD_RTOL,
    GRAD_RTOL,
    TRAJECTORY_RTOL,
    Twins,
    assert_close,
    check_forward,
    check_loss_and_grads,
    check_trajectory,
)
from tests.functional_models import compile_two_branch, two_branch_data, two_branch_model

L = sn.layers


def float32_data(n=6, seed=0):
    x, y = two_branch_data(n, seed)
    return [a.astype(np.float32) for a in x], [y[0], y[1].astype(np.float32)]


def twins(optimizer=None) -> Twins:
    model = compile_two_branch(two_branch_model(seed=0), optimizer=optimizer)
    return Twins(model, tfnet.to_keras(model))


def test_layer_and_weight_order_equal_keras():
    t = twins()
    assert [layer.name for layer in t.scratch.layers] == [layer.name for layer in t.keras.layers]
    assert t.scratch.output_names == list(t.keras.output_names)
    for ws, wk in zip(t.scratch.get_weights(), t.keras.get_weights(), strict=True):
        np.testing.assert_array_equal(ws, wk)


def test_forward_loss_and_gradients():
    t = twins()
    x, y = float32_data()
    check_forward(t, x)
    check_loss_and_grads(t, x, y)


def test_twenty_adam_steps():
    t = twins(optimizer=sn.optimizers.Adam(learning_rate=0.01))
    batches = [float32_data(n=8, seed=s) for s in range(3)]
    losses = check_trajectory(t, batches, steps=20, rtol=TRAJECTORY_RTOL)
    assert losses[-1][0] < losses[0][0]  # it learned something: the check compared moving weights


def test_fit_history_names_and_values_equal_keras():
    model = two_branch_model(seed=1)
    model.compile(optimizer=sn.optimizers.SGD(0.05),
                  loss={"label": "sparse_categorical_crossentropy", "value": "mse"},
                  loss_weights={"label": 1.0, "value": 0.5},
                  metrics={"label": ["accuracy"], "value": ["mae"]})
    kmodel = tfnet.to_keras(model)
    x, y = float32_data(n=12)
    hs = model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0).history
    hk = kmodel.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0).history
    assert sorted(hs) == sorted(hk)
    for key in hk:
        assert_close(hs[key], hk[key], GRAD_RTOL, f"history[{key!r}]")
    es = model.evaluate(x, y, verbose=0)
    ek = kmodel.evaluate(x, y, verbose=0)
    assert_close(es, ek, FORWARD_RTOL * 10, "evaluate() list")  # also the order of its entries


def test_dict_inputs_and_outputs():
    t = twins()
    x, y = float32_data()
    xd, yd = {"a": x[0], "b": x[1]}, {"label": y[0], "value": y[1]}
    loss_s, _ = t.scratch.loss_and_grads(xd, yd)
    loss_k, _ = tfnet.loss_and_grads(t.keras, xd, yd)
    assert_close(loss_s, loss_k, FORWARD_RTOL, "loss from dicts")


def test_from_keras_rebuilds_a_keras_graph():
    a = keras.Input((5,), name="a")
    b = keras.Input((5,), name="b")
    shared = keras.layers.Dense(4, activation="tanh", name="shared")
    sa, sb = shared(a), shared(b)
    merged = keras.layers.Concatenate(name="cat")([keras.layers.Subtract()([sa, sb]),
                                                    keras.layers.Multiply()([sa, sb])])
    dot = keras.layers.Dot(axes=1, normalize=True, name="cos")([sa, sb])
    out = keras.layers.Dense(1, activation="sigmoid", name="out")(
        keras.layers.Concatenate()([merged, dot]))
    kmodel = keras.Model({"a": a, "b": b}, out)
    kmodel.compile(optimizer="adam", loss="binary_crossentropy", jit_compile=False)
    model = tfnet.from_keras(kmodel)
    assert [layer.name for layer in model.layers] == [layer.name for layer in kmodel.layers]
    rng = np.random.default_rng(0)
    x = {"a": rng.normal(size=(6, 5)).astype(np.float32),
         "b": rng.normal(size=(6, 5)).astype(np.float32)}
    y = rng.integers(0, 2, (6, 1)).astype(np.float32)
    t = Twins(model, kmodel)
    assert_close(model(x), np.asarray(kmodel(x)), FORWARD_RTOL, "output")
    check_loss_and_grads(t, x, y)


MERGES = {
    "add": (lambda m: m.Add(), [(3, 4), (3, 4), (3, 4)]),
    "add_broadcast": (lambda m: m.Add(), [(3, 4), (3, 1)]),
    "subtract": (lambda m: m.Subtract(), [(3, 4), (3, 4)]),
    "multiply": (lambda m: m.Multiply(), [(3, 2, 4), (3, 2, 4)]),
    "average": (lambda m: m.Average(), [(3, 4), (3, 4), (3, 4)]),
    "concatenate": (lambda m: m.Concatenate(), [(3, 2), (3, 5)]),
    "concatenate_axis1": (lambda m: m.Concatenate(axis=1), [(3, 2, 4), (3, 1, 4)]),
    "dot": (lambda m: m.Dot(axes=1), [(3, 4), (3, 4)]),
    "dot_normalize": (lambda m: m.Dot(axes=1, normalize=True), [(3, 4), (3, 4)]),
    "dot_3d": (lambda m: m.Dot(axes=(1, 2)), [(3, 4, 2), (3, 5, 4)]),
    "dot_3d_normalize": (lambda m: m.Dot(axes=-1, normalize=True), [(3, 2, 4), (3, 5, 4)]),
}


@pytest.mark.parametrize("case", sorted(MERGES))
def test_merging_layer_forward_and_input_gradients(case):
    make, shapes = MERGES[case]
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=s).astype(np.float32) for s in shapes]
    layer, klayer = make(sn.layers), make(keras.layers)
    ys = layer(xs)
    xk = [tf.constant(x) for x in xs]
    with tf.GradientTape() as tape:
        tape.watch(xk)
        yk = klayer(xk)
        w = tf.constant(rng.normal(size=yk.shape).astype(np.float32))
        total = tf.reduce_sum(w * yk)
    assert_close(ys, np.asarray(yk), FORWARD_RTOL, f"{case} output")
    grads_k = tape.gradient(total, xk)
    layer.forward([x for x in xs])
    grads_s = layer.backward(np.asarray(w))
    for i, (gs, gk) in enumerate(zip(grads_s, grads_k, strict=True)):
        assert_close(gs, np.asarray(gk), GRAD_RTOL, f"{case} gradient of input {i}")


def test_merging_shape_errors_match_keras():
    for make, shapes in ((lambda m: m.Concatenate(), [(2, 3), (3, 4)]),
                         (lambda m: m.Add(), [(3,), (4,)]),
                         (lambda m: m.Dot(axes=1), [(3,), (4,)])):
        with pytest.raises(ValueError):
            make(keras.layers)([keras.Input(s) for s in shapes])
        with pytest.raises(ValueError):
            make(sn.layers)([sn.Input(s) for s in shapes])


def test_keras_file_both_ways(tmp_path):
    """scratchnet's .keras of a functional model opens in Keras (and Keras' in scratchnet) with the
    same outputs, compile settings and optimizer state: one more Adam step agrees."""
    t = twins(optimizer=sn.optimizers.Adam(learning_rate=0.01))
    x, y = float32_data()
    t.scratch.train_step(x, y)
    t.scratch.save(tmp_path / "scratch.keras")
    kmodel = keras.models.load_model(tmp_path / "scratch.keras")
    assert [layer.name for layer in kmodel.layers] == [layer.name for layer in t.scratch.layers]
    check_forward(Twins(t.scratch, kmodel), x)
    t.keras.train_on_batch(x, y)
    t.keras.save(tmp_path / "keras.keras")
    for loaded_s, loaded_k in ((t.scratch, kmodel), (sn.load_model(tmp_path / "keras.keras"),
                                                     t.keras)):
        loaded = Twins(loaded_s, loaded_k)
        check_trajectory(loaded, [float32_data(seed=5)], steps=1)


def test_a_functional_model_exports_as_a_saved_model(tmp_path):
    """tfnet.export_saved_model takes a functional scratchnet model (through its Keras twin)."""
    sn.utils.set_random_seed(4)
    inputs = sn.Input((4,), name="features")
    shared = L.Dense(3, activation="tanh", name="shared")
    a, b = shared(inputs), shared(L.Dense(4, name="mix")(inputs))
    model = sn.Model(inputs, L.Dense(2, name="out")(L.Concatenate()([a, b, L.Multiply()([a, b])])))
    x = np.random.default_rng(3).normal(size=(5, 4)).astype(np.float32)
    directory = tfnet.export_saved_model(model, tmp_path / "saved")
    assert_close(tfnet.export.saved_model_predict(directory, x), model.predict(x, verbose=0),
                 FORWARD_RTOL, "SavedModel output")


def test_keras_file_with_recorded_call_arguments_opens_in_scratchnet(tmp_path):
    """Keras writes ``{"mask": None}`` into the inbound node of a BatchNormalization and
    ``{"training": False}`` into a Dropout's (after a merging layer); neither changes the graph
    (the model's call passes its own ``training`` to every layer), so scratchnet reads the file
    and gives Keras' outputs, loss and gradients. A Dropout rate of 0 keeps training mode
    deterministic, so the batch statistics of BatchNormalization are compared too."""
    import json
    import zipfile

    keras.utils.set_random_seed(3)
    a, b = keras.Input((5,), name="a"), keras.Input((5,), name="b")
    # no biases before BatchNormalization: their exact gradient is 0 (the batch mean removes
    # them), which both sides only reach up to float32 noise
    da = keras.layers.Dense(4, use_bias=False, name="da")(a)
    mixed = keras.layers.Add()([da, keras.layers.Dense(4, use_bias=False, name="db")(b)])
    h = keras.layers.Dropout(0.0)(keras.layers.BatchNormalization()(mixed))
    kmodel = keras.Model([a, b], keras.layers.Dense(3, name="out")(h))
    kmodel.compile(optimizer=keras.optimizers.Adam(0.01),
                   loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    kmodel.save(tmp_path / "keras.keras")
    config = json.loads(zipfile.ZipFile(tmp_path / "keras.keras").read("config.json"))
    recorded = {layer["class_name"]: layer["inbound_nodes"][0]["kwargs"]
                for layer in config["config"]["layers"] if layer["inbound_nodes"]}
    assert recorded["BatchNormalization"] == {"mask": None}  # what the file holds (Keras 3.15)
    assert recorded["Dropout"] == {"training": False}
    smodel = sn.load_model(tmp_path / "keras.keras")
    rng = np.random.default_rng(0)
    x = [rng.normal(size=(8, 5)).astype(np.float32) for _ in range(2)]
    y = rng.integers(0, 3, 8)
    twins = Twins(smodel, kmodel)
    check_forward(twins, x)
    check_forward(twins, x, training=True)
    check_loss_and_grads(twins, x, y)


def test_the_courses_feature_map_model_of_a_sequential_equals_keras():
    """``Model(inputs=model.inputs, outputs=[layer.output for layer in model.layers[1:]])`` on a
    Sequential convnet and on its Keras twin: the same tensor shapes, and every feature map to
    FORWARD_RTOL (float32 forward passes through the same weights). (``model.inputs``: Keras 3.15
    raises for a Sequential's ``model.input``, which the course's Keras 2 code uses and
    scratchnet gives; both are checked on scratchnet's side.)"""
    model = sn.models.small_cnn(input_shape=(20, 20, 3), seed=4)  # conv, pool, conv, pool, dense
    kmodel = tfnet.to_keras(model)
    assert model.inputs == [model.input]
    vis = sn.Model(inputs=model.inputs, outputs=[layer.output for layer in model.layers[1:]])
    kvis = keras.Model(inputs=kmodel.inputs, outputs=[layer.output for layer in kmodel.layers[1:]])
    assert [t.shape for t in vis.outputs] == [tuple(t.shape) for t in kvis.outputs]
    x = np.random.default_rng(2).random((3, 20, 20, 3)).astype(np.float32)
    for i, (got, want) in enumerate(zip(vis.predict(x, verbose=0), kvis.predict(x, verbose=0), strict=True)):
        assert_close(got, want, FORWARD_RTOL, f"feature map {i + 1}")


def build_with_an_inner_input(M, L):
    """Keras' structured-data example's pattern: the model's input is a tensor made by layers
    (``feature_space.get_encoded_features()``), not an ``Input``; a second model from the real
    input to the same output shares the weights."""
    a = M.Input((5,), name="a")
    h = L.Dense(4, activation="tanh", name="encode")(a)
    mid = L.Dense(3, activation="relu", name="mid")(h)
    out = L.Dense(2, name="head")(L.Concatenate()([mid, h]))
    return a, h, out, M.Model(h, out), M.Model(a, out)


def test_a_model_whose_input_is_an_inner_tensor_equals_keras():
    """``Model(inner_tensor, outputs)``: Keras clones the graph from a new ``Input`` named
    ``<tensor>CLONE``; the inner model's layers, weights (shared with the whole model), forward
    pass and three Adam steps equal Keras'; the whole model sees the trained weights."""
    *_, inner, whole = build_with_an_inner_input(sn, sn.layers)
    *_, kinner, kwhole = build_with_an_inner_input(keras, keras.layers)
    kwhole.set_weights(whole.get_weights())
    assert [type(layer).__name__ for layer in inner.layers] == [
        type(layer).__name__ for layer in kinner.layers]
    assert inner.layers[0].name.endswith("CLONE") and kinner.layers[0].name.endswith("CLONE")
    assert inner.input_shape == tuple(kinner.inputs[0].shape) == (None, 4)
    assert len(inner.get_weights()) == len(kinner.get_weights()) == 4
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(16, 4)).astype(np.float32), rng.normal(size=(16, 2)).astype(np.float32)
    assert_close(inner.predict(x, verbose=0), kinner.predict(x, verbose=0), FORWARD_RTOL, "forward")
    inner.compile(optimizer=sn.optimizers.Adam(0.05), loss="mse")
    kinner.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    s_hist = inner.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history["loss"]
    k_hist = kinner.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history["loss"]
    assert_close(s_hist, k_hist, TRAJECTORY_RTOL, "training loss")
    for got, want in zip(whole.get_weights(), kwhole.get_weights(), strict=True):
        assert_close(got, want, TRAJECTORY_RTOL, "the whole model's weights after the inner model trained")


def test_a_functional_model_called_as_a_layer_equals_keras():
    """An inner functional model called on a tensor of an outer one (keras.io's text
    classification from scratch: the end-to-end model calls the trained model on the
    TextVectorization's output): forward equal to Keras' nested model, weights shared."""
    def build(M, L):
        inner_in = M.Input((4,))
        inner = M.Model(inner_in, L.Dense(2)(L.Dense(3, activation="relu")(inner_in)))
        outer_in = M.Input((5,))
        return inner, M.Model(outer_in, inner(L.Dense(4, activation="tanh")(outer_in)))

    inner, outer = build(sn, sn.layers)
    kinner, kouter = build(keras, keras.layers)
    kouter.set_weights(outer.get_weights())  # Keras' order: Dense(4), then the nested model's
    x = np.random.default_rng(5).normal(size=(7, 5)).astype(np.float32)
    assert_close(outer.predict(x, verbose=0), kouter.predict(x, verbose=0), FORWARD_RTOL, "nested forward")
    for got, want in zip(inner.get_weights(), kinner.get_weights(), strict=True):
        assert_close(got, want, FORWARD_RTOL, "the inner model's weights, shared")


@pytest.mark.parametrize("losses", [["sparse_categorical_crossentropy", None], [None, "mse"]])
def test_an_output_without_a_loss_matches_keras(losses):
    """keras.io's miniature GPT compiles ``outputs=[logits, x]`` with ``loss=[loss_fn, None]``:
    the second output gets no loss (its gradient from the loss is 0, though it also feeds the
    first), and ``fit(x, y)`` takes the targets of the output with a loss alone. The loss, every
    gradient, fit's history (only "loss": one output has a loss) and evaluate agree with Keras."""
    model = two_branch_model(seed=1)
    model.compile(optimizer=sn.optimizers.SGD(0.05), loss=losses)
    kmodel = tfnet.to_keras(model)
    x, y = float32_data(n=12)
    target = y[0] if losses[0] else y[1]
    assert model.loss_outputs == [0 if losses[0] else 1]
    check_loss_and_grads(Twins(model, kmodel), x, target)
    hs = model.fit(x, target, epochs=2, batch_size=4, shuffle=False, verbose=0).history
    hk = kmodel.fit(x, target, epochs=2, batch_size=4, shuffle=False, verbose=0).history
    assert sorted(hs) == sorted(hk) == ["loss"]
    assert_close(hs["loss"], hk["loss"], GRAD_RTOL, "fit losses")
    assert_close(model.evaluate(x, target, verbose=0), kmodel.evaluate(x, target, verbose=0),
                 FORWARD_RTOL * 10, "evaluate")
