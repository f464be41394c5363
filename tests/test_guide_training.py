"""The fixes keras.io's "Training & evaluation with the built-in methods" guide called for, in
scratchnet alone (parity_tests/test_guide_training_keras.py runs the guide's programs against
Keras): Keras-style metrics with variables, ``class_weight`` on a functional model, a layer called
on two tensors, BinaryCrossentropy's gradient with respect to its targets, the per-output loss
logs, and TensorBoard's Keras arguments."""

import numpy as np
import pytest

import scratchnet as sn
from tests.gradcheck import numeric_grad, rel_error

RNG = np.random.default_rng(3)


# ------------------------------------------------------------------ Keras-style metrics
class Hits(sn.metrics.Metric):
    """Counts the samples whose argmax is the label (update_state/result/reset_state)."""

    def __init__(self, name="hits", **kwargs):
        super().__init__(name=name, **kwargs)
        self.hits = self.add_variable(shape=(), initializer="zeros", name="hits")

    def update_state(self, y_true, y_pred, sample_weight=None):
        right = sn.ops.cast(sn.ops.argmax(y_pred, axis=1) == sn.ops.cast(y_true, "int64"), "float32")
        self.hits.assign_add(sn.ops.sum(right))

    def result(self):
        return self.hits

    def reset_state(self):
        self.hits.assign(0.0)


def test_add_variable_makes_named_non_trainable_state():
    metric = Hits(dtype="float32")
    (variable,) = metric.variables
    assert variable.path == "hits/hits"
    assert not variable.trainable and variable.shape == () and variable.dtype == np.float32
    assert metric.add_weight(shape=(2,), initializer="ones", name="extra").shape == (2,)
    assert len(metric.variables) == 2


def test_call_updates_and_returns_the_result():
    metric = Hits()
    y_pred = np.eye(3, dtype="float32")
    assert float(np.asarray(metric(np.array([0, 1, 0]), y_pred))) == 2.0
    assert float(np.asarray(metric(np.array([0, 0, 2]), y_pred))) == 4.0  # accumulates
    metric.reset_state()
    assert float(np.asarray(metric.result())) == 0.0


def test_default_reset_state_zeros_every_variable():
    class Total(sn.metrics.Metric):
        def __init__(self):
            super().__init__(name="total")
            self.total_seen = self.add_variable(shape=(2,), initializer="ones", name="t")

        def update_state(self, values):
            self.total_seen.assign_add(values)

        def result(self):
            return sn.ops.sum(self.total_seen)

    metric = Total()
    metric.update_state(np.array([1.0, 2.0], "float32"))
    assert float(metric.result()) == 5.0
    metric.reset_state()
    np.testing.assert_array_equal(metric.variables[0].numpy(), [0.0, 0.0])


def test_add_variable_before_init_is_refused():
    class Early(sn.metrics.Metric):
        def __init__(self):
            self.v = self.add_variable(shape=(), initializer="zeros")

    with pytest.raises(RuntimeError, match="super"):
        Early()


def test_fit_calls_update_state_and_reset_state_and_logs_floats():
    model = sn.Sequential([sn.layers.Input((4,)), sn.layers.Dense(3)], seed=0)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=[Hits()])
    x = RNG.random((10, 4)).astype("float32")
    y = RNG.integers(0, 3, 10)
    history = model.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False).history
    assert all(type(v) is float for v in history["hits"])
    assert all(0 <= v <= 10 and v == int(v) for v in history["hits"])
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    right = int((model.predict(x, verbose=0).argmax(axis=1) == y).sum())
    assert logs["hits"] == right  # evaluate restarted the count: this batch set only


# ------------------------------------------------------------------ class_weight, functional
def small_functional():
    inputs = sn.Input((5,))
    outputs = sn.layers.Dense(3, activation="softmax")(sn.layers.Dense(4)(inputs))
    return sn.Model(inputs, outputs)


def test_class_weight_on_a_functional_model_equals_its_sample_weights():
    x = RNG.random((12, 5)).astype("float32")
    y = RNG.integers(0, 3, 12).astype("float32")
    class_weight = {0: 0.5, 1: 2.0, 2: 1.0}
    runs = []
    for kwargs in ({"class_weight": class_weight},
                   {"sample_weight": np.array([class_weight[int(c)] for c in y])}):
        sn.utils.set_random_seed(1)
        model = small_functional()
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        runs.append(model.fit(x, y, batch_size=5, epochs=2, verbose=0, shuffle=False, **kwargs)
                    .history["loss"])
    assert runs[0] == runs[1]


def test_class_weight_refuses_nested_targets():
    model = small_functional()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x = RNG.random((6, 5)).astype("float32")
    with pytest.raises(ValueError, match="single output"):
        model.fit(x, [np.zeros(6)], class_weight={0: 1.0}, verbose=0)


# ------------------------------------------------------------------ a layer on two tensors
class Product(sn.layers.Layer):
    def call(self, a, b):
        return a * b


def test_layer_called_on_two_tensors_spreads_them_into_call():
    a_in, b_in = sn.Input((3,)), sn.Input((3,))
    model = sn.Model([a_in, b_in], Product()(a_in, b_in))
    a, b = RNG.random((2, 3)).astype("float32"), RNG.random((2, 3)).astype("float32")
    np.testing.assert_allclose(model.predict([a, b], verbose=0), a * b, rtol=1e-6)
    layer = Product()
    np.testing.assert_allclose(layer(a, b), a * b, rtol=1e-6)  # eager call too


def test_layer_on_two_tensors_passes_each_its_gradient():
    a_in, b_in = sn.Input((3,)), sn.Input((3,))
    hidden = sn.layers.Dense(3, use_bias=False)
    model = sn.Model([a_in, b_in], Product()(hidden(a_in), b_in))
    model.compile(optimizer="sgd", loss="mse")
    a, b = RNG.random((4, 3)).astype("float32"), RNG.random((4, 3)).astype("float32")
    y = RNG.random((4, 3)).astype("float32")
    _, grads = model.loss_and_grads([a, b], y)
    h = a @ hidden.kernel.numpy()
    dy = 2 * (h * b - y) / y.size  # d mean((h b - y)^2) / d(h b)
    np.testing.assert_allclose(grads[0], a.T @ (dy * b), rtol=1e-5)


def test_a_training_flag_is_still_a_flag():
    class Scale(sn.layers.Layer):
        def call(self, x, training=None):
            return x * (2.0 if training else 1.0)

    x = np.ones((1, 2), "float32")
    np.testing.assert_array_equal(Scale()(x, True), 2 * x)


# ------------------------------------------------------------------ BCE with traced targets
@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_binary_crossentropy_gradient_wrt_targets(from_logits, smoothing):
    sn.config.set_floatx("float64")
    try:
        loss = sn.losses.BinaryCrossentropy(from_logits=from_logits, label_smoothing=smoothing)
        y = RNG.random((3, 4))
        p = RNG.normal(size=(3, 4)) if from_logits else RNG.uniform(0.05, 0.95, (3, 4))
        expected = numeric_grad(lambda: float(loss(y, p)), y)
        assert rel_error(loss.backward_true(y, p), expected) < 1e-6
    finally:
        sn.config.set_floatx("float32")


# ------------------------------------------------------------------ per-output loss logs
def test_per_output_losses_are_plain_means_over_batches():
    inputs = sn.Input((3,))
    model = sn.Model(inputs, [sn.layers.Dense(1, name="a")(inputs), sn.layers.Dense(2, name="b")(inputs)])
    model.compile(optimizer="sgd", loss=["mse", "mse"])
    x = RNG.random((10, 3)).astype("float32")
    ya, yb = RNG.random((10, 1)).astype("float32"), RNG.random((10, 2)).astype("float32")
    logs = model.evaluate(x, [ya, yb], batch_size=4, verbose=0, return_dict=True)  # 4, 4, 2
    pa, pb = model.predict(x, verbose=0)
    parts = [slice(0, 4), slice(4, 8), slice(8, 10)]
    b_losses = [np.mean((pb[s] - yb[s]) ** 2) for s in parts]
    assert logs["b_loss"] == pytest.approx(np.mean(b_losses), rel=1e-6)
    totals = [np.mean((pa[s] - ya[s]) ** 2) + b for s, b in zip(parts, b_losses, strict=True)]
    assert logs["loss"] == pytest.approx(np.average(totals, weights=[4, 4, 2]), rel=1e-6)


# ------------------------------------------------------------------ TensorBoard's arguments
def test_tensorboard_takes_keras_arguments(tmp_path):
    sn.callbacks.TensorBoard(log_dir=tmp_path, histogram_freq=0, write_graph=False,
                             embeddings_freq=0, embeddings_metadata=None, profile_batch=0,
                             update_freq="epoch")
    for arg, value in (("embeddings_freq", 1), ("write_images", True), ("profile_batch", 2),
                       ("write_steps_per_second", True)):
        with pytest.raises(NotImplementedError, match=arg):
            sn.callbacks.TensorBoard(log_dir=tmp_path, **{arg: value})


def test_no_loss_model_fits_on_batches_of_inputs_alone():
    """compile() with no loss: a generator of ``(x,)`` batches and an ``(x,)`` PyDataset train on
    the added losses alone, as arrays do; the logged loss is the regularization penalty."""
    rng = np.random.default_rng(3)
    x = rng.random((8, 3)).astype("float32")

    def model():
        m = sn.Sequential([sn.Input((3,)), sn.layers.Dense(2, kernel_regularizer=sn.regularizers.L2(0.5))])
        m.compile(optimizer=sn.optimizers.SGD(0.1))
        return m

    by_arrays, by_generator = model(), model()
    start = by_arrays.get_weights()
    by_generator.set_weights(start)
    # the first step's loss is the penalty of the starting kernel, 0.5 * sum(w ** 2)
    first = by_arrays.train_on_batch(x[:4])
    np.testing.assert_allclose(first, 0.5 * np.sum(start[0].astype("float64") ** 2), rtol=1e-6)
    by_arrays.set_weights(start)
    expected = by_arrays.fit(x, batch_size=4, shuffle=False, verbose=0).history["loss"]
    got = by_generator.fit(((x[i:i + 4],) for i in (0, 4)), steps_per_epoch=2, shuffle=False,
                             verbose=0).history["loss"]
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert not np.allclose(by_arrays.get_weights()[0], start[0])  # the penalty moved the kernel
    for a, b in zip(by_arrays.get_weights(), by_generator.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)
