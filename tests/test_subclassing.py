"""Subclassed models (``class M(sn.Model)`` with a ``call``) and layers made of layers: tracing,
Keras' tracking order, the training loop, saving weights, and the errors (Keras parity is in
parity_tests/test_subclassing_keras.py)."""

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.subclassing import Subclassed
from tests.gradcheck import REL_TOL, numeric_grad, rel_error

L = sn.layers


class MLP(sn.Model):
    def __init__(self, units=8, classes=3, **kwargs):
        super().__init__(**kwargs)
        self.hidden = L.Dense(units, activation="relu")
        self.dropout = L.Dropout(0.5)
        self.out = L.Dense(classes)

    def call(self, inputs, training=False):
        return self.out(self.dropout(self.hidden(inputs), training=training))


class Block(L.Layer):
    """A layer made of layers: Dense -> Dense, added back to the input."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.layers_ = [L.Dense(units, activation="tanh"), L.Dense(units)]

    def call(self, x):
        h = x
        for layer in self.layers_:
            h = layer(h)
        return x + h


def _data(n=20, features=4, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, features)).astype(np.float32), rng.integers(0, classes, n)


def test_subclassed_model_fits_evaluates_predicts_and_reports():
    x, y = _data()
    model = MLP(name="mlp", seed=0)
    assert isinstance(model, Subclassed) and type(model) is MLP and not model.built
    model.compile(optimizer="adam", loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    start = model.evaluate(x, y, verbose=0)[0]  # builds the model from x
    assert model.built
    history = model.fit(x, y, epochs=12, batch_size=5, verbose=0)
    assert model.evaluate(x, y, verbose=0)[0] < start
    assert set(history.history) == {"loss", "accuracy"}
    loss, acc = model.evaluate(x, y, verbose=0)
    assert 0.0 <= acc <= 1.0 and loss > 0
    np.testing.assert_allclose(model.predict(x, verbose=0), model(x), rtol=1e-6)
    assert [layer.name for layer in model.layers] == ["dense", "dropout", "dense_1"]
    assert [p.name for p in model.weights] == ["dense/kernel", "dense/bias", "dense_1/kernel",
                                               "dense_1/bias"]
    assert model.count_params() == 4 * 8 + 8 + 8 * 3 + 3
    text = model.summary(print_fn=None)
    # after fit, Keras adds the optimizer's variables (2 + 2 x 67 for Adam) to the total
    assert 'Model: "mlp"' in text and "dense_1 (Dense)" in text and "Total params: 203" in text
    assert "Trainable params: 67" in text and "Optimizer params: 136" in text


def test_training_argument_runs_dropout_only_in_training():
    x, _ = _data()
    model = MLP(seed=1)
    model.build((None, 4))
    out = model(x)
    np.testing.assert_array_equal(out, model(x))  # inference: deterministic
    assert not np.allclose(model(x, training=True), out)  # training: dropout drops


def test_default_name_keras_kwargs_and_models_module():
    class TinyNet(sn.models.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = L.Dense(2)

        def call(self, x):  # no training argument: one graph for both modes
            return self.dense(x)

    model = TinyNet()
    assert model.name == "tiny_net"
    model.build((3,))
    assert model._call_graphs[True] is model._call_graphs[False]
    assert TinyNet(name="x", trainable=False).trainable is False
    with pytest.raises(ValueError, match="Unrecognized keyword arguments passed to TinyNet"):
        TinyNet(foo=1)


def test_build_compile_order_weights_round_trip_and_callbacks(tmp_path):
    x, y = _data()
    model = MLP(seed=2)
    model.build((None, 4))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    seen = []
    model.fit(x, y, epochs=2, verbose=0,
              callbacks=[sn.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: seen.append(e))])
    assert seen == [0, 1]
    path = tmp_path / "mlp.weights.h5"
    model.save_weights(path)
    other = MLP(seed=9)
    other.build((4,))
    assert not np.allclose(other.get_weights()[0], model.get_weights()[0])
    other.load_weights(path)
    for a, b in zip(other.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    other.set_weights([w * 0 for w in model.get_weights()])
    np.testing.assert_array_equal(other(x), np.zeros((len(x), 3), np.float32))
    with pytest.raises(NotImplementedError, match="save_weights"):
        model.save(tmp_path / "mlp.keras")


def test_dict_inputs_several_outputs_and_integer_data():
    class TwoHeads(sn.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.embed = L.Embedding(10, 3)
            self.flat = L.Flatten()
            self.dense = L.Dense(4)
            self.heads = {"cls": L.Dense(2, name="cls"), "reg": L.Dense(1, name="reg")}

        def call(self, inputs):
            h = L.Concatenate()([self.flat(self.embed(inputs["ids"])), self.dense(inputs["num"])])
            return [self.heads["cls"](h), self.heads["reg"](h)]

    rng = np.random.default_rng(0)
    data = {"ids": rng.integers(0, 10, (16, 5)), "num": rng.standard_normal((16, 2))}
    targets = [rng.integers(0, 2, 16), rng.standard_normal((16, 1)).astype(np.float32)]
    model = TwoHeads(seed=0)
    model.compile(optimizer="adam", loss=[sn.losses.SparseCategoricalCrossentropy(from_logits=True),
                                          "mse"])
    history = model.fit(data, targets, epochs=3, verbose=0)
    assert {"loss", "cls_loss", "reg_loss"} <= set(history.history)
    out = model.predict(data, verbose=0)
    assert [o.shape for o in out] == [(16, 2), (16, 1)]
    assert model.inputs[0].dtype == "int64"  # the Embedding reads ids: kept integer
    assert [p.name.split("/")[0] for p in model.weights] == ["embedding", "dense", "dense", "cls",
                                                              "cls", "reg", "reg"]


def test_integer_data_for_a_dense_model_is_read_as_floats():
    class Linear(sn.Model):
        def __init__(self):
            super().__init__()
            self.dense = L.Dense(1, kernel_initializer="ones")

        def call(self, x):
            return self.dense(x)

    model = Linear()
    np.testing.assert_allclose(model(np.array([[1, 2], [3, 4]])), [[3.0], [7.0]])


def test_untraceable_call_and_layers_made_in_call_are_refused_naming_the_model():
    class UsesNumPy(sn.Model):
        def __init__(self):
            super().__init__(name="numpy_net")
            self.dense = L.Dense(2)

        def call(self, x):
            return self.dense(np.tanh(x))

    class ReadsValues(sn.Model):
        def __init__(self):
            super().__init__(name="values_net")
            self.dense = L.Dense(2)

        def call(self, x):
            return self.dense(x.numpy())

    class MakesLayers(sn.Model):
        def call(self, x):
            return L.Dense(2)(x)

    x = np.ones((2, 3), np.float32)
    with pytest.raises(TypeError, match='model "numpy_net".*could not be traced'):
        UsesNumPy()(x)
    with pytest.raises(AttributeError, match='model "values_net".*numpy'):
        ReadsValues()(x)
    with pytest.raises(ValueError, match="created inside call"):
        MakesLayers()(x)
    with pytest.raises(TypeError, match="must return"):
        type("ReturnsNothing", (sn.Model,), {"call": lambda self, x: None})()(x)


def test_composite_layer_in_sequential_trains_with_named_weights_and_freezes():
    x, y = _data(features=5)
    block = Block(5, name="block")
    model = sn.Sequential([L.Input((5,)), block, L.Dense(3)], seed=0)
    assert [p.name for p in block.weights] == ["block/dense/kernel", "block/dense/bias",
                                               "block/dense_1/kernel", "block/dense_1/bias"]
    assert len(model.get_weights()) == 6 and model.count_params() == 2 * 30 + 18
    model.compile(optimizer="adam", loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(x, y, epochs=10, batch_size=5, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert all(not np.allclose(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    block.trainable = False
    assert all(not layer.trainable for layer in block.layers_) and len(model.trainable_weights) == 2
    frozen = [w.copy() for w in block.get_weights()]
    model.fit(x, y, epochs=1, verbose=0)
    for a, b in zip(frozen, block.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_composite_layer_in_functional_and_subclassed_models():
    x, _ = _data(features=5)
    inputs = sn.Input((5,))
    block = Block(5)
    fmodel = sn.Model(inputs, L.Dense(2)(block(inputs)))
    assert len(fmodel.weights) == 6

    class Holder(sn.Model):
        def __init__(self):
            super().__init__()
            self.block = Block(5)
            self.head = L.Dense(2)

        def call(self, x):
            return self.head(self.block(x))

    smodel = Holder()
    smodel(x)
    smodel.set_weights(fmodel.get_weights())
    np.testing.assert_allclose(smodel(x), fmodel(x), rtol=1e-6)
    with pytest.raises(ValueError, match="called more than once"):
        sn.Model(inputs, block(block(inputs)))


def test_composite_layer_gradients_against_finite_differences(float64):
    rng = np.random.default_rng(0)
    block = Block(3)
    x = rng.standard_normal((4, 3))
    block.ensure_built(x.shape[1:], rng)
    w = rng.standard_normal((4, 3))

    def loss():
        return float(np.sum(w * block.forward(x, training=True)))

    block.forward(x, training=True)
    dx = block.backward(w)
    analytic = [p.grad.copy() for p in block.trainable_weights]
    assert rel_error(dx, numeric_grad(loss, x)) < REL_TOL
    for param, grad in zip(block.trainable_weights, analytic, strict=True):
        assert rel_error(grad, numeric_grad(loss, param.value)) < REL_TOL, param.name


def test_layer_called_on_an_array_inside_call_joins_the_graph_as_a_constant():
    class AddPositions(L.Layer):
        def __init__(self):
            super().__init__()
            self.pos = L.Embedding(4, 2, embeddings_initializer="ones")

        def call(self, x):
            positions = self.pos(sn.ops.arange(0, sn.ops.shape(x)[1]))
            return x + positions + np.full((4, 2), 0.5, np.float32)

    layer = AddPositions()
    out = layer(np.zeros((3, 4, 2), np.float32))
    np.testing.assert_allclose(out, np.full((3, 4, 2), 1.5))
    layer.forward(np.zeros((3, 4, 2), np.float32), training=True)
    layer.backward(np.ones((3, 4, 2), np.float32))
    np.testing.assert_allclose(layer.pos.embeddings.grad, np.full((4, 2), 3.0))  # summed over batch


def test_hand_written_layers_are_not_made_of_layers():
    assert not L.Dense(2)._made_of_layers() and Block(2)._made_of_layers()
    with pytest.raises(NotImplementedError, match="must implement forward"):
        L.Layer().forward(np.zeros((1, 2)))


def test_the_docs_examples_run(capsys):
    from tests.test_custom_layers import python_blocks

    blocks = python_blocks("docs/subclassing.md")
    assert len(blocks) == 2
    namespace = {}
    for block in blocks:
        exec(compile(block, "docs/subclassing.md", "exec"), namespace)
    assert namespace["history"].history["accuracy"][-1] > 0.8
    assert [w.shape for w in namespace["model"].get_weights()] == [
        (4, 16), (16,), (16, 16), (16,), (16, 16), (16,), (16, 3), (3,)]
    assert "block/dense/kernel" in capsys.readouterr().out


def test_two_composite_layers_of_one_class_get_distinct_weight_names():
    inputs = sn.Input((4,))
    model = sn.Model(inputs, Block(4)(Block(4)(inputs)))
    names = [p.name for p in model.weights]
    assert len(set(names)) == len(names) == 8
    assert names[0] == "block/dense/kernel" and names[4] == "block_1/dense/kernel"
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32)
    model.fit(x, x, epochs=1, verbose=0)
    assert len(model.optimizer.state) >= 16  # m and v for each of the 8 weights, none shared


def test_ops_on_keras_tensors_inside_call_become_layers_with_gradients(float64):
    class Pooled(L.Layer):
        def __init__(self):
            super().__init__()
            self.dense = L.Dense(3, activation="tanh")

        def call(self, x):
            h = self.dense(x)  # (N, T, 3)
            mean = sn.ops.mean(h, axis=1)  # a Lambda
            total = sn.ops.sum(h, axis=1)
            return sn.ops.concatenate([sn.ops.add(mean, total), sn.ops.square(mean)], axis=-1)

    rng = np.random.default_rng(0)
    layer = Pooled()
    x = rng.standard_normal((4, 5, 2))
    layer.ensure_built(x.shape[1:], rng)
    assert layer.output_shape == (6,)
    h = np.tanh(x @ layer.dense.kernel.value + layer.dense.bias.value)
    m, s = h.mean(axis=1), h.sum(axis=1)
    np.testing.assert_allclose(layer.forward(x, training=True), np.concatenate([m + s, m * m], -1))
    w = rng.standard_normal((4, 6))

    def loss():
        return float(np.sum(w * layer.forward(x, training=True)))

    layer.forward(x, training=True)
    layer.backward(w)
    kernel_grad = layer.dense.kernel.grad.copy()
    assert rel_error(kernel_grad, numeric_grad(loss, layer.dense.kernel.value)) < REL_TOL
    # an op of several KerasTensors is one layer (scratchnet.layers.op_layer), its shapes checked
    assert sn.ops.matmul(sn.Input((2, 3)), sn.Input((3, 4))).shape == (None, 2, 4)
    with pytest.raises(ValueError, match="matmul.*cannot take inputs of shapes"):
        sn.ops.matmul(sn.Input((3,)), sn.Input((3,)))


def test_slicing_a_tensor_in_call_is_a_lambda_layer():
    class FirstColumn(sn.Model):
        def __init__(self):
            super().__init__()
            self.dense = L.Dense(3, kernel_initializer="ones")

        def call(self, x):
            return self.dense(x)[:, :1] * 2.0

    out = FirstColumn()(np.array([[1.0, 2.0]], np.float32))
    np.testing.assert_allclose(out, [[6.0]])


def test_an_activity_regularizer_inside_a_layer_made_of_layers_is_refused():
    """Its penalty would be missing from model.losses and the loss: refused by name, not dropped."""

    class Penalized(L.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.inner = L.Dense(3, activity_regularizer="l2", name="inner")

        def call(self, x):
            return self.inner(x)

    with pytest.raises(ValueError, match='layer "pen" .*sub-layer "inner" has an activity_regularizer'):
        sn.Sequential([L.Input((4,)), Penalized(name="pen")])
    # on the outer layer it is Keras' penalty on the layer's output, as for any layer
    model = sn.Sequential([L.Input((4,)), Block(4, activity_regularizer="l2", name="b")], seed=0)
    x = np.ones((2, 4), np.float32)
    y = model.predict(x, verbose=0)
    model(x)
    np.testing.assert_allclose(model.losses[0], 0.01 * np.sum(y ** 2) / 2, rtol=1e-6)


class _Reader(sn.Model):
    """Token ids of any length -> one logit: Embedding, GRU, Dense."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.embed = L.Embedding(20, 6, mask_zero=True)
        self.rnn = L.GRU(4)
        self.out = L.Dense(1)

    def call(self, x):
        return self.out(self.rnn(self.embed(x)))


def test_a_subclassed_model_built_with_none_takes_every_length():
    rng = np.random.default_rng(3)
    model = _Reader(name="reader")
    model.build((None, None))  # Keras' form: the batch axis, then a length left open
    model.compile(optimizer="adam", loss=sn.losses.BinaryCrossentropy(from_logits=True))
    for steps in (5, 8):  # fit on batches of two lengths
        model.fit(rng.integers(0, 20, (8, steps)), rng.integers(0, 2, 8), verbose=0)
    x = rng.integers(0, 20, (3, 11))
    x[1, -4:] = 0  # padding, masked
    fixed = _Reader(name="fixed")
    fixed.build((None, 11))
    fixed.set_weights(model.get_weights())
    np.testing.assert_array_equal(model.predict(x, verbose=0), fixed.predict(x, verbose=0))
    # traced at the first batch's shape, another length retraces call (as Keras retraces its step)
    np.testing.assert_array_equal(fixed.predict(x[:, :7], verbose=0), model.predict(x[:, :7], verbose=0))
    assert fixed.input_shape == (None, None)
    with pytest.raises(ValueError, match=r"tuple of positive integers or None.*\(None, 0\)"):
        _Reader().build((None, 0))


def test_a_constant_batch_of_one_inside_a_traced_call_broadcasts_over_the_batch():
    """keras.io's ViT PatchEncoder: ``ops.expand_dims(ops.arange(n), axis=0)`` is a batch of one
    position row; its embedding, added to the projected patches, broadcasts over the batch."""

    class PatchEncoder(sn.layers.Layer):
        def __init__(self, num_patches, projection_dim):
            super().__init__()
            self.num_patches = num_patches
            self.projection = sn.layers.Dense(units=projection_dim)
            self.position_embedding = sn.layers.Embedding(input_dim=num_patches, output_dim=projection_dim)

        def call(self, patch):
            positions = sn.ops.expand_dims(sn.ops.arange(start=0, stop=self.num_patches, step=1), axis=0)
            return self.projection(patch) + self.position_embedding(positions)

    inputs = sn.Input((4, 6))
    layer = PatchEncoder(4, 3)
    model = sn.Model(inputs, layer(inputs))
    assert model.output_shape == (None, 4, 3)
    x = np.random.default_rng(0).standard_normal((5, 4, 6)).astype(np.float32)
    dense, table = layer.projection, layer.position_embedding.embeddings.numpy()
    expected = x @ dense.kernel.numpy() + dense.bias.numpy() + table[None]
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)


class BatchDot(sn.Model):
    """keras.io's RecommenderNet in small: ``ops.tensordot(u, v, 2)`` of two (B, 3) batches is one
    number for the whole batch, added to each sample's (B, 1) output of a third layer."""

    def __init__(self):
        super().__init__()
        self.left = L.Dense(3, activation="tanh")
        self.right = L.Dense(3)
        self.bias = L.Dense(1)
        self.seen = []

    def call(self, x):
        u, v = self.left(x), self.right(x)
        dot = sn.ops.tensordot(u, v, 2)
        self.seen.append(dot)
        return sn.ops.nn.sigmoid(dot + self.bias(x))


def test_an_op_result_without_a_batch_axis_is_computed_in_the_op_that_uses_it(float64):
    from scratchnet.layers.input_layer import BatchlessTensor

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((5, 4)), rng.uniform(0, 1, (5, 1))
    model = BatchDot()
    out = model(x)
    dot = model.seen[0]
    assert isinstance(dot, BatchlessTensor) and dot.shape == () and "tensordot" in repr(dot)
    left, right, bias = ([p.value for p in layer.weights] for layer in (model.left, model.right, model.bias))
    u, v = np.tanh(x @ left[0] + left[1]), x @ right[0] + right[1]
    expected = 1 / (1 + np.exp(-(np.sum(u * v) + x @ bias[0] + bias[1])))
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    # no layer of its own: the tensordot runs inside the layer that adds the bias
    assert not any("tensordot" in layer.name for layer in model.layers)
    np.testing.assert_allclose(model.predict(x, batch_size=5, verbose=0), expected, rtol=1e-12)
    assert np.abs(model.predict(x, batch_size=2, verbose=0) - expected).max() > 1e-3  # batch-wide
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    _, grads = model.loss_and_grads(x, y)
    for param, grad in zip(model.weights, grads, strict=True):
        numeric = numeric_grad(lambda: float(model.loss_and_grads(x, y)[0]), param.value)
        assert rel_error(grad, numeric) < REL_TOL, param.name


def test_a_reduction_over_the_batch_is_batchless_and_a_layer_refuses_one():
    from scratchnet.layers.input_layer import BatchlessTensor

    inputs = sn.Input((3,))
    total = sn.ops.sum(inputs, axis=0)  # (3,): Lambda's probe on a batch of 2 zeros would take it for (2,)
    assert isinstance(total, BatchlessTensor) and total.shape == (3,)
    scaled = total * 2.0 - 1.0  # arithmetic with numbers keeps it batchless
    assert isinstance(scaled, BatchlessTensor) and scaled.shape == (3,)
    assert isinstance(sn.ops.mean(scaled), BatchlessTensor)
    assert isinstance(scaled[0], BatchlessTensor)
    assert sn.ops.reshape(inputs, (-1,)).shape == (None,)  # the batch folded into one axis
    with pytest.raises(ValueError, match=r'layer "dense.*cannot take <BatchlessTensor shape=\(3,\).*batch'):
        L.Dense(2, name="dense_batchless")(scaled)
    model = sn.Model(inputs, inputs - sn.ops.mean(inputs, axis=0))  # centred on the batch's mean
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(model.predict(x, verbose=0), x - x.mean(axis=0))

    class ReturnsTheSum(sn.Model):
        def call(self, x):
            return sn.ops.sum(x)

    with pytest.raises(ValueError, match="no batch axis"):
        ReturnsTheSum()(np.ones((2, 3)))
