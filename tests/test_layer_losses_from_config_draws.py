"""Four Keras behaviours of layers written the Keras way (the subclassing guide's): a layer made
of layers lists its sub-layers' ``add_loss`` terms in ``layer.losses`` (and a model's loss
reports them), ``compile`` without a loss trains on those terms, ``Layer.from_config`` is
``cls(**config)``, and ``random.normal`` with the batch size unknown inside a traced ``call``
draws afresh for each batch. Parity with Keras: parity_tests/test_guide_subclassing_keras.py."""

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.layers.input_layer import RandomDrawLayer


class Penalty(sn.layers.Layer):
    def __init__(self, rate):
        super().__init__()
        self.rate = rate

    def call(self, inputs):
        self.add_loss(self.rate * sn.ops.sum(inputs))
        return inputs


class Twice(sn.layers.Layer):
    """Two penalties, the second inside a layer of its own: three levels."""

    def __init__(self):
        super().__init__()
        self.first = Penalty(1.0)
        self.inner = Outer(10.0)

    def call(self, inputs):
        return self.inner(self.first(inputs))


class Outer(sn.layers.Layer):
    def __init__(self, rate):
        super().__init__()
        self.penalty = Penalty(rate)

    def call(self, inputs):
        return self.penalty(inputs)


def test_losses_collect_the_sub_layers_terms_of_the_last_call():
    layer = Twice()
    assert layer.losses == []
    layer(np.ones((2, 3), "float32"))
    np.testing.assert_allclose([float(v) for v in layer.losses], [6.0, 60.0])
    layer(np.zeros((2, 3), "float32"))
    np.testing.assert_allclose([float(v) for v in layer.losses], [0.0, 0.0])  # reset at each call


def test_a_model_reports_the_sub_layers_terms_in_its_loss():
    inputs = sn.Input((2,))
    model = sn.Model(inputs, Outer(0.5)(inputs))
    model.compile(optimizer=sn.optimizers.SGD(0.0), loss="mse")
    x = np.ones((4, 2), "float32")
    history = model.fit(x, x, batch_size=4, epochs=1, verbose=0).history
    np.testing.assert_allclose(history["loss"], [0.5 * 8.0])  # MSE 0 + 0.5 * sum(x)
    model(x)
    np.testing.assert_allclose([float(v) for v in model.losses], [4.0])


def test_compile_without_a_loss_minimises_the_add_loss_terms():
    inputs = sn.Input((2,))
    model = sn.Model(inputs, Penalty(1.0)(sn.layers.Dense(1, kernel_initializer="ones")(inputs)))
    model.compile(optimizer=sn.optimizers.SGD(0.1))
    x = np.ones((4, 2), "float32")
    history = model.fit(x, np.zeros((4, 5)), batch_size=4, epochs=1, verbose=0).history  # y unread
    np.testing.assert_allclose(history["loss"], [8.0])  # sum of 4 outputs of 2
    np.testing.assert_allclose(model.get_weights()[1], [-0.4])  # d/db sum = 4, one SGD step
    two = sn.Model(inputs, [sn.layers.Dense(1)(inputs), sn.layers.Dense(1)(inputs)])
    two.compile(optimizer="sgd")  # several outputs, no loss: compiled (Keras), but nothing to minimise
    with pytest.raises(ValueError, match="No loss to compute"):
        two.fit(x, epochs=1, verbose=0)


def test_layer_from_config_calls_the_class_and_reads_a_dtype_policy():
    layer = sn.layers.Dense.from_config({"units": 3, "name": "d",
                                         "dtype": {"module": "keras", "class_name": "DTypePolicy",
                                                   "config": {"name": "float32"}, "registered_name": None}})
    assert layer.units == 3 and layer.name == "d"
    twin = Penalty.from_config({"rate": 2.0})
    assert twin.rate == 2.0
    with pytest.raises(TypeError, match="Error when deserializing class 'Penalty'"):
        Penalty.from_config({"rate": 2.0, "units": 1})
    with pytest.raises(TypeError, match="expected a dict"):
        Penalty.from_config([("rate", 2.0)])


def test_a_draw_for_an_unknown_batch_is_made_per_batch():
    inputs = sn.Input((3,))
    noise = sn.random.normal(shape=(None, 3), mean=1.0, stddev=0.5)
    assert isinstance(noise.node.layer, RandomDrawLayer) and tuple(noise.shape) == (None, 3)
    model = sn.Model(inputs, sn.layers.add([inputs, noise]))
    x = np.zeros((4000, 3), "float32")
    first, second = model.predict(x, verbose=0), model.predict(x[:5], verbose=0)
    assert first.shape == (4000, 3) and second.shape == (5, 3) and first.dtype == np.float32
    assert abs(first.mean() - 1.0) < 0.05 and abs(first.std() - 0.5) < 0.05
    assert not np.array_equal(model.predict(x[:5], verbose=0), second)
    for draw in (sn.random.uniform(shape=(None, 2)), sn.random.truncated_normal(shape=(None, 2))):
        assert tuple(draw.shape) == (None, 2)
    with pytest.raises((TypeError, ValueError)):
        sn.random.normal(shape=(3, None))  # only the batch axis may be unknown
