"""``sn.layers.Lambda`` against ``keras.layers.Lambda`` (Keras 3.15): the same functions give the
same outputs and the same gradients, where the tape's rules meet a choice (ties of ``maximum`` and
``minimum``, ``clip`` at its bounds, ``abs`` at 0) included; the course's time-series model
(``Lambda`` to add a channel axis, ``Lambda(lambda x: x * 100.0)`` at the end) trains as Keras'
does; ``tfnet`` converts a Lambda both ways.

A function written with operators only runs on both sides unchanged; one with NumPy functions
has its Keras twin written with ``keras.ops`` (NumPy functions do not run on Keras' graph tensors).
Tolerances (driver.py): outputs FORWARD_RTOL, gradients GRAD_RTOL, weights after training
TRAJECTORY_RTOL, per-epoch losses GRAD_RTOL.
"""

import keras
import numpy as np
import pytest
from keras import ops

import scratchnet as sn
import tfnet
from parity_tests.driver import FORWARD_RTOL, GRAD_RTOL, TRAJECTORY_RTOL, assert_close

L = sn.layers


def _operators(x):
    return x * 3.0 + x ** 2 - 1.0 / (2.0 + x * x) + abs(x) - x[:, :1] / 4.0


def _twin_models(function):
    model = sn.Sequential([L.Input((4,)), L.Dense(5), L.Lambda(function), L.Dense(2)], seed=2)
    model.compile(optimizer="sgd", loss="mse")
    return model, tfnet.to_keras(model)


def _data(n=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 4)).astype(np.float32), rng.standard_normal((n, 2)).astype(np.float32)


def test_an_operator_function_converts_to_keras_and_gives_keras_numbers():
    model, kmodel = _twin_models(_operators)
    assert isinstance(kmodel.layers[1], keras.layers.Lambda)
    x, y = _data()
    assert_close(model.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL, "predict")
    loss, grads = model.loss_and_grads(x, y)
    kloss, kgrads = tfnet.loss_and_grads(kmodel, x, y)
    assert_close(loss, kloss, FORWARD_RTOL, "loss")
    for g, kg in zip(grads, kgrads, strict=True):
        assert_close(g, kg, GRAD_RTOL, "gradient")
    back = tfnet.from_keras(kmodel)
    assert isinstance(back.layers[1], L.Lambda) and back.layers[1].function is _operators
    assert_close(back.predict(x, verbose=0), model.predict(x, verbose=0), FORWARD_RTOL, "round trip")


# name -> (scratchnet function, its Keras twin); the inputs below hold exact ties and bounds
TIES = {
    "maximum": (lambda x: np.maximum(x, 0.0) + np.maximum(0.5, x),
                lambda x: ops.maximum(x, 0.0) + ops.maximum(0.5, x)),
    "minimum": (lambda x: np.minimum(x, 0.0) + np.minimum(0.5, x),
                lambda x: ops.minimum(x, 0.0) + ops.minimum(0.5, x)),
    "clip at its bounds": (lambda x: np.clip(x, -1.0, 0.5), lambda x: ops.clip(x, -1.0, 0.5)),
    "abs at 0": (lambda x: abs(x) * 2.0, lambda x: ops.abs(x) * 2.0),
    "where": (lambda x: np.where(x > 0, x * x, -x), lambda x: ops.where(x > 0, x * x, -x)),
    "numpy functions": (lambda x: np.tanh(np.expand_dims(x, -1)).sum(axis=-1)
                        + np.exp(x) * np.sqrt(x * x + 1.0),
                        lambda x: ops.sum(ops.tanh(ops.expand_dims(x, -1)), axis=-1)
                        + ops.exp(x) * ops.sqrt(x * x + 1.0)),
}


@pytest.mark.parametrize("name", list(TIES))
def test_gradients_at_ties_and_bounds_follow_keras(name):
    ours, theirs = TIES[name]
    x = np.array([[-1.0, 0.0, 0.5, 2.0], [0.0, -2.0, 0.5, -1.0], [0.25, 0.0, 1.0, -0.5]], np.float32)
    dy = np.random.default_rng(1).standard_normal(x.shape).astype(np.float32)
    layer = L.Lambda(ours)
    layer.ensure_built((4,))
    y = layer.forward(x)
    dx = layer.backward(dy)
    klayer = keras.layers.Lambda(theirs)
    import tensorflow as tf

    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        ky = klayer(xt)
    kdx = tape.gradient(ky, xt, output_gradients=tf.constant(dy))
    assert_close(y, ky.numpy(), FORWARD_RTOL, f"{name}: output")
    assert_close(dx, kdx.numpy(), GRAD_RTOL, f"{name}: gradient")


def _windows(n=64, window=20, seed=0):
    """The course's windowed series: ``window`` values in, the next one out (a noisy seasonal trend)."""
    t = np.arange(n + window, dtype=np.float32)
    series = 10 + 0.05 * t + 5 * np.sin(t / 4) + np.random.default_rng(seed).normal(0, 1, t.shape)
    x = np.stack([series[i:i + window] for i in range(n)]).astype(np.float32)
    return x, series[window:window + n].astype(np.float32)


def test_the_course_time_series_model_trains_as_keras_does():
    with pytest.warns(UserWarning, match="input_shape"):
        model = sn.Sequential([
            L.Lambda(lambda x: np.expand_dims(x, axis=-1), input_shape=[20]),
            L.Conv1D(8, 3, activation="relu"), L.Flatten(), L.Dense(8, activation="relu"), L.Dense(1),
            L.Lambda(lambda x: x * 100.0),
        ], seed=4)
    with pytest.warns(UserWarning, match="input_shape"):
        kmodel = keras.Sequential([
            keras.layers.Lambda(lambda x: ops.expand_dims(x, axis=-1), input_shape=[20]),
            keras.layers.Conv1D(8, 3, activation="relu"), keras.layers.Flatten(),
            keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1),
            keras.layers.Lambda(lambda x: x * 100.0),
        ])
    assert model.output_shape == kmodel.output_shape == (None, 1)
    kmodel.set_weights(model.get_weights())
    model.compile(optimizer=sn.optimizers.SGD(1e-6, momentum=0.9), loss=sn.losses.Huber(), metrics=["mae"])
    kmodel.compile(optimizer=keras.optimizers.SGD(1e-6, momentum=0.9), loss=keras.losses.Huber(),
                   metrics=["mae"], jit_compile=False)
    x, y = _windows()
    history = model.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0).history
    khistory = kmodel.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0).history
    for key in ("loss", "mae"):
        assert_close(np.array(history[key]), np.array(khistory[key]), GRAD_RTOL, key)
    assert history["loss"][-1] < history["loss"][0]  # it learns, on both sides
    for w, kw in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        assert_close(w, kw, TRAJECTORY_RTOL, "weights after 3 epochs")
