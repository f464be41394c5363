"""SpectralNormalization without Keras: the backward pass against float64 finite differences
(tests/gradcheck.py, REL_TOL 1e-6), the power iteration against NumPy's SVD, what training and
inference calls change, Keras' weight order, config and file round trips, the Wrapper base, and
the errors. Keras parity: parity_tests/test_spectral_normalization_keras.py."""

import numpy as np
import pytest

import scratchnet as sn
from tests.gradcheck import check_layer

L = sn.layers


@pytest.mark.parametrize("inner, shape", [
    (lambda: L.Dense(4, activation="tanh"), (5,)),
    (lambda: L.Conv2D(3, 2, activation="tanh"), (4, 4, 2)),
])
def test_backward_matches_finite_differences(inner, shape, float64):
    rng = np.random.default_rng(0)
    layer = L.SpectralNormalization(inner(), power_iterations=2)
    x = rng.standard_normal((2, *shape))
    layer.ensure_built(shape, rng)
    for p in layer.weights:  # the zeros bias would hide a bias bug
        p.value[...] = rng.standard_normal(p.value.shape)
    layer.forward(x, training=True)  # divide the kernel once; then check the gradients there
    check_layer(layer, x, rng)
    assert set(layer.params) == {"kernel", "bias"}  # vector_u has no gradient


def test_many_power_iterations_find_the_largest_singular_value(float64):
    rng = np.random.default_rng(0)
    layer = L.SpectralNormalization(L.Dense(6), power_iterations=200)
    layer.ensure_built((9,), rng)
    layer.kernel.value[...] = rng.standard_normal((9, 6))
    sigma = np.linalg.svd(layer.kernel.value, compute_uv=False)[0]
    u, kernel = layer.normalized_weights()
    np.testing.assert_allclose(kernel, layer.kernel.value / sigma, rtol=1e-10)
    right = np.linalg.svd(layer.kernel.value)[2][0]  # the top right-singular vector, up to sign
    np.testing.assert_allclose(np.abs(u[0]), np.abs(right), rtol=1e-8)


def test_only_training_calls_change_the_weights():
    rng = np.random.default_rng(0)
    layer = L.SpectralNormalization(L.Dense(3))
    x = rng.standard_normal((4, 5)).astype(np.float32)
    layer.ensure_built((5,), rng)
    before = [w.copy() for w in layer.get_weights()]
    layer.forward(x)
    for w, b in zip(layer.get_weights(), before, strict=True):
        np.testing.assert_array_equal(w, b)
    layer.forward(x, training=True)
    kernel, vector_u, bias = layer.get_weights()
    assert not np.array_equal(kernel, before[0]) and not np.array_equal(vector_u, before[1])
    np.testing.assert_array_equal(bias, before[2])
    layer.kernel.value[...] = 0  # an all-zero kernel is left alone (its sigma is 0)
    layer.forward(x, training=True)
    assert not np.any(layer.kernel.value) and np.all(np.isfinite(layer.vector_u.value))


def test_weights_in_keras_order_and_counted_once():
    model = sn.Sequential([L.Input((5,)), L.SpectralNormalization(L.Dense(3), name="sn")])
    assert [p.name for p in model.weights] == ["sn/dense/kernel", "sn/vector_u", "sn/dense/bias"]
    assert [p.name for p in model.trainable_weights] == ["sn/dense/kernel", "sn/dense/bias"]
    assert model.count_params() == 5 * 3 + 3 + 3
    layer = model.layers[0]
    assert isinstance(layer, L.Wrapper) and isinstance(L.TimeDistributed(L.Dense(2)), L.Wrapper)
    assert "spectral_normalization" in L.SpectralNormalization(L.Dense(2)).name


def test_fit_trains_and_keeps_the_spectral_norm_near_one():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 8)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    model = sn.Sequential([L.Input((8,)), L.SpectralNormalization(L.Dense(16, activation="relu")),
                           L.Dense(2)], seed=0)
    model.compile(optimizer=sn.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=15, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    sigma = np.linalg.svd(model.layers[0].kernel.value, compute_uv=False)[0]
    assert abs(sigma - 1) < 0.1  # divided every step, moved a little by each SGD step after it


def test_config_and_files_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 5)).astype(np.float32)
    model = sn.Sequential([L.Input((5,)), L.SpectralNormalization(L.Dense(3), power_iterations=3)],
                          seed=0)
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, x[:, :3], epochs=1, verbose=0)
    config = model.layers[0].get_config()
    assert config["power_iterations"] == 3 and config["layer"]["class_name"] == "Dense"
    # the wrapped layer rebuilt is not built yet: no build_config (as Keras' serialize_keras_object)
    unbuilt = {**config, "layer": {k: v for k, v in config["layer"].items() if k != "build_config"}}
    assert L.SpectralNormalization(**config).get_config() == unbuilt
    for suffix in (".keras", ".npz"):
        model.save(tmp_path / f"m{suffix}")
        back = sn.load_model(tmp_path / f"m{suffix}")
        for w, b in zip(model.get_weights(), back.get_weights(), strict=True):
            np.testing.assert_array_equal(w, b)
        np.testing.assert_array_equal(back.predict(x, verbose=0), model.predict(x, verbose=0))


def test_summary_counts_the_wrapper():
    model = sn.Sequential([L.Input((5,)), L.SpectralNormalization(L.Dense(3))])
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "SpectralNormalization" in text and "Non-trainable params: 3" in text


@pytest.mark.parametrize("make, pattern", [
    (lambda: L.SpectralNormalization(L.Dense(2), power_iterations=0), "power_iterations"),
    (lambda: L.SpectralNormalization(L.Dense(2), power_iterations=-1), "power_iterations"),
    (lambda: L.SpectralNormalization(L.Dense(2), power_iterations=1.5), "power_iterations"),
    (lambda: L.SpectralNormalization("dense"), "expected a layer instance"),
])
def test_bad_arguments_name_themselves(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()


def test_a_layer_without_a_kernel_is_refused():
    with pytest.raises(ValueError, match="Flatten object has no attribute 'kernel' nor 'embeddings'"):
        sn.Sequential([L.Input((4, 2)), L.SpectralNormalization(L.Flatten())])
