"""SpectralNormalization against Keras 3.15: the power iteration's kernel and ``vector_u`` after
training calls (FORWARD_RTOL), the loss and every gradient (GRAD_RTOL) and Adam steps
(TRAJECTORY_RTOL) through Dense, Conv2D and Embedding wrapped in it, weights in Keras' order,
summary counts, config, and ``.keras`` files both ways. Finite differences and errors:
tests/test_spectral_normalization.py."""

import keras
import numpy as np
import pytest

import scratchnet as sn
import tfnet
from parity_tests.driver import FORWARD_RTOL, assert_close, assert_parity, random_data, random_weights

L = sn.layers
SCCE = sn.losses.SparseCategoricalCrossentropy


def _keras_twin(layer, power_iterations, shape):
    """A built Keras SpectralNormalization holding the scratchnet layer's weights."""
    inner = {"Dense": lambda: keras.layers.Dense(layer.layer.units),
             "Conv2D": lambda: keras.layers.Conv2D(layer.layer.filters, layer.layer.kernel_size)}
    klayer = keras.layers.SpectralNormalization(inner[type(layer.layer).__name__](),
                                                power_iterations=power_iterations)
    klayer.build((None, *shape))
    klayer.set_weights(layer.get_weights())
    return klayer


@pytest.mark.parametrize("power_iterations", [1, 3])
@pytest.mark.parametrize("inner, shape", [(lambda: L.Dense(5), (7,)), (lambda: L.Conv2D(4, 3), (6, 6, 2))])
def test_training_calls_normalize_the_kernel_as_keras(inner, shape, power_iterations):
    """Three training calls (each one more power iteration step and division), then inference."""
    layer = L.SpectralNormalization(inner(), power_iterations=power_iterations)
    layer.ensure_built(shape, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    layer.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in layer.get_weights()])
    klayer = _keras_twin(layer, power_iterations, shape)
    x, _ = random_data(shape, n=3)
    for step in range(3):
        assert_close(layer.forward(x, training=True), np.asarray(klayer(x, training=True)), FORWARD_RTOL,
                     f"training call {step}")
        for w, kw in zip(layer.get_weights(), klayer.get_weights(), strict=True):
            assert_close(w, kw, FORWARD_RTOL, f"weights after call {step}")
    assert_close(layer.forward(x), np.asarray(klayer(x)), FORWARD_RTOL, "inference")
    # what it is for: once u has converged, the kernel's largest singular value is 1
    for _ in range(30):
        layer.forward(x, training=True)
    w = layer.kernel.value.reshape(-1, layer.kernel.shape[-1])
    assert abs(np.linalg.svd(w, compute_uv=False)[0] - 1) < 1e-3


def test_dense_gradients_and_adam_steps():
    x, y = random_data((6,), n=8)
    model = random_weights(sn.Sequential([
        L.Input((6,)), L.SpectralNormalization(L.Dense(8, activation="tanh")),
        L.SpectralNormalization(L.Dense(4), power_iterations=2)], seed=0))
    assert_parity(model, x, y, loss=SCCE(from_logits=True), optimizer=sn.optimizers.Adam(0.01),
                  steps=6, batch_size=4)


def test_conv_and_embedding_gradients_and_sgd_steps():
    x, y = random_data((6, 6, 2), n=6)
    conv = random_weights(sn.Sequential([
        L.Input((6, 6, 2)), L.SpectralNormalization(L.Conv2D(3, 3, activation="relu")),
        L.Flatten(), L.Dense(4)], seed=0))
    assert_parity(conv, x, y, loss=SCCE(from_logits=True), optimizer=sn.optimizers.SGD(0.1),
                  steps=4, batch_size=3)
    ids = np.random.default_rng(0).integers(0, 9, (6, 5))
    emb = random_weights(sn.Sequential([
        L.Input((5,), dtype="int32"), L.SpectralNormalization(L.Embedding(9, 4)),
        L.GlobalAveragePooling1D(), L.Dense(4)], seed=0))
    assert_parity(emb, ids, y, loss=SCCE(from_logits=True), optimizer=sn.optimizers.SGD(0.1),
                  steps=4, batch_size=3)


def test_weights_summary_and_config_match_keras():
    model = sn.Sequential([L.Input((6,)), L.SpectralNormalization(L.Dense(3), power_iterations=2)])
    kmodel = tfnet.to_keras(model)
    def paths(weights):  # Keras' paths start with the model's name
        return [w.path.split("/", 1)[1] for w in weights]

    assert [p.name for p in model.weights] == paths(kmodel.weights) == [
        "spectral_normalization/dense/kernel", "spectral_normalization/vector_u",
        "spectral_normalization/dense/bias"]
    assert [p.name for p in model.trainable_weights] == paths(kmodel.trainable_weights)
    assert model.count_params() == kmodel.count_params() == 24
    assert len(model.non_trainable_weights) == len(kmodel.non_trainable_weights) == 1
    config, kconfig = model.layers[0].get_config(), kmodel.layers[0].get_config()
    assert config["power_iterations"] == kconfig["power_iterations"] == 2
    assert config["layer"]["class_name"] == kconfig["layer"]["class_name"] == "Dense"


def test_keras_files_both_ways(tmp_path):
    x, y = random_data((6,), n=8)
    model = random_weights(sn.Sequential([
        L.Input((6,)), L.SpectralNormalization(L.Dense(4))], seed=0))
    model.compile(optimizer="adam", loss=SCCE(from_logits=True))
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    model.save(tmp_path / "s.keras")
    kmodel = keras.saving.load_model(tmp_path / "s.keras")
    assert_close(np.asarray(kmodel.predict(x, verbose=0)), model.predict(x, verbose=0), FORWARD_RTOL,
                 "Keras reading scratchnet's file")
    for w, kw in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_array_equal(w, kw)
    kmodel.fit(x, y, epochs=1, batch_size=4, verbose=0)  # Keras moves the kernel and vector_u
    kmodel.save(tmp_path / "k.keras")
    back = sn.load_model(tmp_path / "k.keras")
    for w, kw in zip(back.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_array_equal(w, kw)
    assert_close(back.predict(x, verbose=0), np.asarray(kmodel.predict(x, verbose=0)), FORWARD_RTOL,
                 "scratchnet reading Keras' file")
