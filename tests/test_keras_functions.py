"""Keras' function forms without Keras: metric functions and compile(metrics=[fn]), the
initializer aliases and new initializers, the newer activations' backward passes (finite
differences in float64). Against Keras: parity_tests/test_keras_functions_keras.py."""

import numpy as np
import pytest

import scratchnet as sn
from tests.gradcheck import REL_TOL, numeric_grad, rel_error

ELEMENTWISE = ["celu", "hard_tanh", "log_sigmoid", "squareplus", "sparse_plus", "sparse_sigmoid",
               "soft_shrink", "hard_shrink", "tanh_shrink"]


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_activation_backward_matches_finite_differences(name, float64):
    rng = np.random.default_rng(0)
    z = rng.uniform(-3, 3, size=(4, 6))
    z = z[np.all(np.abs(np.abs(z[..., None]) - np.array([0.0, 0.5, 1.0])) > 1e-3, axis=-1)]  # no kinks
    act = sn.activations.get(name)
    w = rng.standard_normal(z.shape)
    analytic = act.backward(z, act.forward(z), w)
    numeric = numeric_grad(lambda: float(np.sum(w * act.forward(z))), z)
    assert rel_error(analytic, numeric) < REL_TOL


def test_activation_golden_values():
    x = np.array([-2.0, -1.0, -0.25, 0.0, 0.25, 1.0, 2.0], "f4")
    np.testing.assert_allclose(sn.activations.hard_tanh(x), [-1, -1, -0.25, 0, 0.25, 1, 1])
    np.testing.assert_allclose(sn.activations.sparse_plus(x), [0, 0, 0.140625, 0.25, 0.390625, 1, 2])
    np.testing.assert_allclose(sn.activations.soft_shrink(x), [-1.5, -0.5, 0, 0, 0, 0.5, 1.5])
    np.testing.assert_allclose(sn.activations.hard_shrink(x), [-2, -1, 0, 0, 0, 1, 2])
    np.testing.assert_allclose(sn.activations.squareplus(np.array([0.0])), [1.0])  # sqrt(4) / 2
    np.testing.assert_allclose(sn.activations.threshold(x, 0.0, 9.0), [9, 9, 9, 9, 0.25, 1, 2])
    np.testing.assert_allclose(sn.activations.glu(np.array([[1.0, 0.0]])), [[0.5]])
    celu = sn.activations.get("celu")
    assert celu.backward(np.zeros(1), celu.forward(np.zeros(1)), np.ones(1))[0] == 2.0  # TF's tie


def test_new_activations_in_a_layer_and_their_names():
    model = sn.Sequential([sn.layers.Input((3,)), sn.layers.Dense(2, activation=sn.activations.celu)],
                          seed=0)
    assert model.layers[0].get_config()["activation"] == "celu"
    assert model.predict(np.ones((1, 3)), verbose=0).shape == (1, 2)
    assert sn.activations.serialize(sn.activations.get("tanh_shrink")) == "tanh_shrink"
    assert sn.activations.deserialize("swish") is sn.activations.silu
    with pytest.raises(ValueError, match="activations.serialize: 5 is not one of"):
        sn.activations.serialize(5)


def test_metric_function_values():
    y = np.array([0, 2, 1])
    p = np.array([[0.9, 0.1, 0.0], [0.2, 0.3, 0.5], [0.5, 0.2, 0.3]], "f4")
    np.testing.assert_array_equal(sn.metrics.sparse_categorical_accuracy(y, p), [1, 1, 0])
    np.testing.assert_array_equal(sn.metrics.categorical_accuracy(np.eye(3)[y], p), [1, 1, 0])
    np.testing.assert_array_equal(sn.metrics.sparse_top_k_categorical_accuracy(y, p, k=2), [1, 1, 0])
    np.testing.assert_array_equal(sn.metrics.top_k_categorical_accuracy(np.eye(3)[y], p, k=2),
                                  [1, 1, 0])
    np.testing.assert_array_equal(sn.metrics.binary_accuracy([[1], [0]], [[0.7], [0.5]]), [[1], [1]])
    assert sn.metrics.binary_accuracy([1.0], [0.7]).dtype == np.float32


def test_compile_with_own_function_metric():
    def mean_pred(y_true, y_pred):
        return np.mean(y_pred, axis=-1)

    model = sn.Sequential([sn.layers.Input((3,)), sn.layers.Dense(1, activation="sigmoid")], seed=0)
    model.compile("sgd", "binary_crossentropy", metrics=[mean_pred, sn.metrics.binary_accuracy])
    x = np.random.default_rng(0).standard_normal((6, 3)).astype("f4")
    logs = model.evaluate(x, np.ones((6, 1)), verbose=0, return_dict=True)
    assert set(logs) == {"loss", "mean_pred", "binary_accuracy"}
    np.testing.assert_allclose(logs["mean_pred"], model.predict(x, verbose=0).mean(), rtol=1e-6)
    with pytest.raises(TypeError, match="MeanMetricWrapper: expected fn to be a function"):
        sn.metrics.MeanMetricWrapper(3)
    with pytest.raises(ValueError, match="unknown metric"):
        model.compile("sgd", "mse", metrics=[sn.metrics.Mean])  # a class, not a function


def test_initializer_aliases_and_new_initializers():
    rng = np.random.default_rng(0)
    assert sn.initializers.glorot_uniform is sn.initializers.GlorotUniform
    assert sn.initializers.OrthogonalInitializer is sn.initializers.Orthogonal
    assert sn.initializers.IdentityInitializer is sn.initializers.Identity
    assert isinstance(sn.initializers.get(sn.initializers.he_normal), sn.initializers.HeNormal)
    assert isinstance(sn.initializers.get("lecun_uniform"), sn.initializers.LecunUniform)
    np.testing.assert_array_equal(sn.initializers.identity(3.0)((2, 3), "float32", rng),
                                  3 * np.eye(2, 3))
    w = sn.initializers.LecunUniform()((50, 10), "float64", rng)
    assert np.abs(w).max() <= np.sqrt(3 / 50)
    assert sn.initializers.GlorotUniform(seed=7)((2, 2), "float32", rng).shape == (2, 2)
    with pytest.raises(ValueError, match="Identity matrix initializer can only be used for 2D"):
        sn.initializers.Identity()((3,), "float32", rng)
    # Keras 3.15's fan axes: fan_in = 20 (axis 0), fan_out = 4 (axis 2), so l = sqrt(6 / 24) = 0.5
    w = sn.initializers.GlorotUniform(input_axes=[0], output_axes=[2])((20, 30, 4), "float64", rng)
    assert 0.45 < np.abs(w).max() <= 0.5
    with pytest.raises(ValueError, match="input_axes.*'0'"):
        sn.initializers.GlorotUniform(input_axes="0")
