"""A layer's or subclassed model's call traced for the batch size of the data it runs on
(scratchnet/subclassing.py: composite_graphs, Subclassed._use_batch)."""

import numpy as np
import pytest

import scratchnet as sn
from scratchnet import ops
from scratchnet.layers.input_layer import BatchConstantLayer
from scratchnet.subclassing import MAX_BATCH_TRACES


class Stateful(sn.layers.Layer):
    """h = tanh(x W1) + tanh(state W2) with a state of ones for the batch (``inputs.shape[0]``)."""

    def __init__(self, seen=None, **kwargs):
        super().__init__(**kwargs)
        self.seen = [] if seen is None else seen
        self.p1 = sn.layers.Dense(3, activation="tanh", name="p1")
        self.p2 = sn.layers.Dense(3, activation="tanh", name="p2")

    def call(self, inputs):
        self.seen.append(inputs.shape[0])
        return self.p1(inputs) + self.p2(ops.ones((inputs.shape[0], 3)))


def _expected(layer, x):
    """The layer's formula on arrays, from its sub-layers called eagerly."""
    return layer.p1(x) + layer.p2(np.ones((len(x), 3), "float32"))


def test_an_eager_call_sees_its_batch_size_and_keeps_a_bounded_trace_per_size():
    sn.utils.set_random_seed(0)
    layer = Stateful()
    rng = np.random.default_rng(0)
    sizes = list(range(1, MAX_BATCH_TRACES + 4))
    for n in sizes + [1]:
        x = rng.normal(size=(n, 2)).astype("float32")
        np.testing.assert_allclose(layer(x), _expected(layer, x), rtol=1e-6)
    assert layer.seen[:len(sizes)] == sizes  # an integer each time, not None
    assert len(layer._batch_graphs) <= MAX_BATCH_TRACES
    assert layer.seen[-1] == 1  # batch 1 was dropped from the traces kept: traced again


def test_a_later_weight_change_reaches_every_kept_trace():
    sn.utils.set_random_seed(1)
    layer = Stateful()
    x2, x3 = np.ones((2, 2), "float32"), np.ones((3, 2), "float32")
    layer(x2)
    layer(x3)
    layer.set_weights([w + 0.5 for w in layer.get_weights()])
    np.testing.assert_allclose(layer(x2), _expected(layer, x2), rtol=1e-6)
    np.testing.assert_allclose(layer(x3), _expected(layer, x3), rtol=1e-6)


def test_on_a_keras_tensor_the_batch_size_stays_unknown():
    seen = []
    layer = Stateful(seen, name="stateful")
    with pytest.raises(TypeError, match='layer "stateful".*batch size is unknown'):
        layer(sn.Input((2,)))
    assert seen == [None]


def test_a_layer_in_a_functional_model_runs_its_batch_free_trace():
    """A layer that needs no batch size, built on an Input: the trace for any batch size serves
    every batch; no other is made."""
    class Twice(sn.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = sn.layers.Dense(2, name="dense")

        def call(self, inputs):
            return self.dense(inputs) * 2.0

    inputs = sn.Input((3,))
    layer = Twice(name="twice")
    model = sn.Model(inputs, layer(inputs))
    x = np.random.default_rng(2).normal(size=(5, 3)).astype("float32")
    np.testing.assert_allclose(model.predict(x, batch_size=2, verbose=0), 2.0 * layer.dense(x), rtol=1e-6)
    assert list(layer._batch_graphs) == [None]


class ShapeModel(sn.Model):
    def __init__(self, static: bool, **kwargs):
        super().__init__(**kwargs)
        self.static = static
        self.seen = []
        self.hidden = sn.layers.Dense(4, activation="tanh", name="hidden")
        self.out = sn.layers.Dense(1, name="out")

    def call(self, x):
        batch = x.shape[0] if self.static else ops.shape(x)[0]
        self.seen.append(batch)
        return self.out(self.hidden(x) + ops.ones((batch, 4)))


@pytest.mark.parametrize("static", [True, False])
def test_fit_traces_each_batch_size_including_the_last_smaller_one(static):
    """``x.shape[0]`` in call: Keras' fit traces its step for an unknown batch size, where
    ``ops.ones((None, 4))`` fails; scratchnet traces each batch size and trains."""
    sn.utils.set_random_seed(3)
    model = ShapeModel(static)
    model.compile(sn.optimizers.SGD(0.05), "mse")
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(10, 3)).astype("float32"), rng.normal(size=(10, 1)).astype("float32")
    before = [w.copy() for w in model.get_weights()] if model.built else None
    history = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    assert before is None and np.all(np.isfinite(history["loss"]))
    assert {4, 2} <= set(model._batch_traces) and None not in model.seen
    assert history["loss"][1] < history["loss"][0]


def test_a_model_built_for_any_batch_size_runs_that_trace_in_fit():
    """``build((None, 3))`` traces with the batch unknown (Keras' build); fit then runs that
    trace for every batch, and an eager call traces for its own size."""
    class Plain(sn.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.seen = []
            self.dense = sn.layers.Dense(1, name="dense")

        def call(self, x):
            self.seen.append(x.shape[0])
            return self.dense(x)

    model = Plain()
    model.build((None, 3))
    model.compile("sgd", "mse")
    x = np.ones((6, 3), "float32")
    model.fit(x, np.ones((6, 1), "float32"), batch_size=4, epochs=1, verbose=0)
    assert model.seen == [None] and list(model._batch_traces) == [None]
    model(x[:2])
    assert model.seen == [None, 2]


def test_a_draw_along_the_batch_is_drawn_afresh_in_a_trace_for_a_batch_size():
    """``random.normal((ops.shape(z)[0], d))`` in a call traced for batches of 3: a draw at each
    call (keras.io's Sampling), not one fixed at trace time."""
    class Noisy(sn.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = sn.layers.Dense(2, name="dense")

        def call(self, x):
            z = self.dense(x)
            return z + sn.random.normal((ops.shape(z)[0], 2))

    model = Noisy()
    x = np.ones((3, 2), "float32")
    first, second = model(x), model(x)
    assert first.shape == (3, 2) and not np.allclose(first, second)


def test_rows_made_for_one_batch_size_refuse_another():
    constant = BatchConstantLayer(np.arange(6, dtype="float32").reshape(3, 2))
    np.testing.assert_array_equal(constant.batch(3), np.arange(6).reshape(3, 2))
    with pytest.raises(ValueError, match="batches of 3 samples.*a batch of 4"):
        constant.batch(4)


def test_an_op_on_a_tensor_and_an_array_made_for_the_batch_computes_sample_by_sample():
    """``ops.multiply(h, ops.ones((ops.shape(x)[0], 4)) * 2.0)`` in a trace for batches of 5:
    the array is a batch beside h (not one value broadcast against other batch sizes), in the
    model's call and through fit's smaller last batch."""
    class Scaled(sn.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = sn.layers.Dense(4, name="dense")

        def call(self, x):
            n = ops.shape(x)[0]
            h = self.dense(x)
            return ops.multiply(h, ops.ones((n, 4)) * 2.0) + ops.add(h, ops.zeros((n, 4)))

    model = Scaled()
    x = np.random.default_rng(4).normal(size=(5, 3)).astype("float32")
    np.testing.assert_allclose(model(x), 3.0 * model.dense(x), rtol=1e-6)
    model.compile("sgd", "mse")
    history = model.fit(x, np.zeros((5, 4), "float32"), batch_size=2, epochs=2, verbose=0).history
    assert history["loss"][1] < history["loss"][0]


def test_a_matrix_whose_size_equals_the_batch_stays_a_matrix():
    """``ops.matmul(h, m)`` with a (4, 4) array in a call traced for batches of 4: the array is
    a matrix, not a batch (only elementwise ops line an array up with the batch axis)."""
    matrix = np.arange(16, dtype="float32").reshape(4, 4) / 10.0

    class Mixed(sn.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = sn.layers.Dense(4, name="dense")

        def call(self, x):
            return ops.matmul(self.dense(x), matrix)

    model = Mixed()
    x = np.random.default_rng(6).normal(size=(4, 3)).astype("float32")
    np.testing.assert_allclose(model(x), model.dense(x) @ matrix, rtol=1e-5)
