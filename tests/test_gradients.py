"""Every layer, activation, loss and a whole model against float64 finite differences."""

import numpy as np
import pytest

import scratchnet as sn
from tests.gradcheck import REL_TOL, check_layer, numeric_grad, rel_error

L = sn.layers


@pytest.fixture(autouse=True)
def float64():
    sn.config.set_floatx("float64")


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("kwargs, shape", [
    (dict(filters=3, kernel_size=3), (2, 6, 7, 2)),
    (dict(filters=2, kernel_size=(2, 3), padding="same"), (2, 5, 6, 3)),
    (dict(filters=2, kernel_size=3, strides=2, padding="same"), (2, 7, 6, 2)),
    (dict(filters=2, kernel_size=2, strides=3), (1, 8, 7, 2)),  # stride larger than kernel
    (dict(filters=2, kernel_size=3, dilation_rate=2, padding="same"), (1, 7, 7, 2)),
    (dict(filters=4, kernel_size=1, use_bias=False), (2, 3, 3, 3)),
    (dict(filters=2, kernel_size=3, activation="tanh"), (2, 5, 5, 1)),
])
def test_conv2d(backend, kwargs, shape, rng):
    sn.set_backend(backend)
    check_layer(L.Conv2D(**kwargs), rng.standard_normal(shape), rng)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("kwargs, shape", [
    (dict(), (2, 6, 6, 3)),
    (dict(pool_size=3, strides=2), (2, 7, 7, 2)),  # overlapping windows
    (dict(pool_size=2, padding="same"), (1, 5, 7, 2)),  # odd SAME padding
    (dict(pool_size=(2, 3), strides=(1, 2), padding="same"), (2, 5, 5, 1)),
])
def test_maxpool(backend, kwargs, shape, rng):
    sn.set_backend(backend)
    check_layer(L.MaxPooling2D(**kwargs), rng.standard_normal(shape), rng)


@pytest.mark.parametrize("activation", ["linear", "relu", "sigmoid", "tanh", "softmax"])
def test_dense_with_each_activation(activation, rng):
    check_layer(L.Dense(4, activation=activation), rng.standard_normal((3, 5)), rng)


def test_dense_on_rank3_input(rng):
    check_layer(L.Dense(3), rng.standard_normal((2, 4, 5)), rng)


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "softmax"])
def test_activation_layers(activation, rng):
    check_layer(L.Activation(activation), rng.standard_normal((3, 6)), rng)


def test_flatten(rng):
    check_layer(L.Flatten(), rng.standard_normal((2, 3, 4, 2)), rng)


def test_dropout_in_training_uses_one_fixed_mask(rng):
    layer = L.Dropout(0.4, seed=3)
    x = rng.standard_normal((4, 10))
    layer.ensure_built(x.shape[1:], rng)
    layer.forward(x, training=True)
    mask = layer.scaled_mask.copy()
    assert set(np.unique(mask)) <= {0.0, 1 / 0.6}
    dy = rng.standard_normal(x.shape)
    np.testing.assert_array_equal(layer.backward(dy), dy * mask)
    np.testing.assert_array_equal(layer.forward(x, training=False), x)


LOSS_CASES = [
    (sn.losses.SparseCategoricalCrossentropy(from_logits=True), "sparse", False),
    (sn.losses.SparseCategoricalCrossentropy(from_logits=False), "sparse", True),
    (sn.losses.CategoricalCrossentropy(from_logits=True), "onehot", False),
    (sn.losses.CategoricalCrossentropy(from_logits=False), "onehot", True),
    (sn.losses.MeanSquaredError(), "dense", False),
]


@pytest.mark.parametrize("loss, labels, probabilities", LOSS_CASES,
                         ids=[f"{c[0].name}-{c[2]}" for c in LOSS_CASES])
def test_losses(loss, labels, probabilities, rng):
    n, k = 5, 4
    y_pred = rng.standard_normal((n, k))
    if probabilities:  # unnormalised positive values away from the clip bounds
        y_pred = rng.uniform(0.05, 0.9, size=(n, k))
    if labels == "sparse":
        y = rng.integers(0, k, size=n)
    elif labels == "onehot":
        y = np.eye(k)[rng.integers(0, k, size=n)]
    else:
        y = rng.standard_normal((n, k))
    y, _ = loss.check(y, y_pred)
    analytic = loss.backward(y, y_pred)
    numeric = numeric_grad(lambda: float(np.mean(loss.forward(y, y_pred))), y_pred)
    assert rel_error(analytic, numeric) < REL_TOL


def _tiny_convnet(last_activation=None):
    return sn.Sequential([
        L.Input((6, 6, 2)),
        L.Conv2D(3, 3, padding="same", activation="tanh"),
        L.MaxPooling2D(2),
        L.Conv2D(4, 2, activation="sigmoid"),
        L.Flatten(),
        L.Dense(5, activation="relu"),
        L.Dense(3, activation=last_activation),
    ], seed=0)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("last, loss", [
    (None, sn.losses.SparseCategoricalCrossentropy(from_logits=True)),
    ("softmax", sn.losses.SparseCategoricalCrossentropy()),  # reads the logits (Keras' rule)
    ("softmax", sn.losses.CategoricalCrossentropy()),
    (None, sn.losses.MeanSquaredError()),
])
def test_whole_model_loss_and_grads(backend, last, loss, rng):
    sn.set_backend(backend)
    model = _tiny_convnet(last)
    model.compile(optimizer="sgd", loss=loss)
    x = rng.standard_normal((4, 6, 6, 2))
    y = rng.integers(0, 3, size=4)
    if loss.name != "sparse_categorical_crossentropy":
        y = np.eye(3)[y] if loss.name == "categorical_crossentropy" else rng.standard_normal((4, 3))
    value, grads = model.loss_and_grads(x, y)
    for p, g in zip(model.params, grads, strict=True):
        numeric = numeric_grad(lambda: model.loss_and_grads(x, y)[0], p.value)
        assert rel_error(g, numeric) < REL_TOL, p.name
    assert value == pytest.approx(model.loss_and_grads(x, y)[0], rel=1e-12)
