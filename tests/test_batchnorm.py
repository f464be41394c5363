"""BatchNormalization on its own: float64 finite differences, golden values, training against
inference, the moving statistics, the non-trainable weights through saving, callbacks and
MirroredStrategy, and bad input."""

import numpy as np
import pytest

import scratchnet as sn
from tests.gradcheck import REL_TOL, check_layer, numeric_grad, rel_error

L = sn.layers


def bn_model(seed=0, optimizer="sgd", **bn_kwargs):
    model = sn.Sequential([L.Input((4, 4, 2)), L.Conv2D(3, 3), L.BatchNormalization(**bn_kwargs),
                           L.Flatten(), L.Dense(2)], seed=seed)
    model.compile(optimizer=optimizer, loss="mse")
    return model


def data(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(1.0, 2.0, (n, 4, 4, 2)).astype(np.float32),
            rng.normal(size=(n, 2)).astype(np.float32))


# ------------------------------------------------------------------ finite differences (float64)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("kwargs, shape", [
    (dict(), (5, 3)),                                  # (N, C)
    (dict(), (3, 4, 5, 2)),                            # (N, H, W, C)
    (dict(axis=1), (3, 4, 2, 3)),                      # channels on axis 1 (4 of them)
    (dict(axis=-2), (4, 3, 2)),                        # rank 3, channel axis in the middle
    (dict(center=False), (4, 3)),
    (dict(scale=False), (2, 3, 3, 2)),
    (dict(epsilon=0.5, momentum=0.5), (3, 2, 2, 3)),
])
def test_backward_matches_finite_differences(kwargs, shape, training, rng):
    sn.config.set_floatx("float64")
    layer = L.BatchNormalization(**kwargs)
    layer.ensure_built(shape[1:], rng)
    for p in layer.weights:  # away from the initial ones and zeros, so every term is exercised
        p.value[...] = rng.uniform(0.5, 1.5, p.shape)
    check_layer(layer, rng.normal(0.5, 2.0, shape), rng, training=training)


def test_training_gradient_flows_through_mean_and_variance(rng):
    """The full backward differs from treating mean and variance as constants: the finite
    differences agree with the full one only."""
    sn.config.set_floatx("float64")
    layer = L.BatchNormalization()
    x = rng.normal(size=(4, 3))
    layer.ensure_built(x.shape[1:], rng)
    w = rng.standard_normal(x.shape)
    layer.forward(x, training=True)
    dx = layer.backward(w)
    numeric = numeric_grad(lambda: float(np.sum(w * layer.forward(x, training=True))), x)
    assert rel_error(dx, numeric) < REL_TOL
    constant_stats = w * layer.gamma.value / np.sqrt(x.var(axis=0) + layer.epsilon)
    assert rel_error(constant_stats, numeric) > 0.1


def test_whole_model_with_batchnorm_matches_finite_differences(rng):
    sn.config.set_floatx("float64")
    model = sn.Sequential([L.Input((5, 5, 2)), L.Conv2D(3, 3, activation="relu"),
                           L.BatchNormalization(), L.Flatten(), L.Dense(3)], seed=1)
    model.compile(optimizer="sgd", loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = rng.normal(size=(4, 5, 5, 2)), np.array([0, 2, 1, 2])
    _, grads = model.loss_and_grads(x, y)
    for param, grad in zip(model.weights, grads, strict=True):
        if not param.trainable:
            assert np.all(grad == 0)  # as tf.GradientTape reports a non-trainable weight
            continue
        numeric = numeric_grad(lambda: model.loss_and_grads(x, y)[0], param.value)
        assert rel_error(grad, numeric) < REL_TOL, param.name


# ------------------------------------------------------------------ golden values
def test_golden_training_output_and_moving_statistics():
    sn.config.set_floatx("float64")
    layer = L.BatchNormalization()
    x = np.array([[1.0, 2.0], [3.0, 6.0]])  # mean [2, 4], biased variance [1, 4]
    y = layer(x, training=True)
    expected = np.array([[-1 / np.sqrt(1.001), -2 / np.sqrt(4.001)],
                         [1 / np.sqrt(1.001), 2 / np.sqrt(4.001)]])
    np.testing.assert_allclose(y, expected, rtol=1e-12)
    # moving = moving * 0.99 + batch * 0.01, from zeros and ones
    np.testing.assert_allclose(layer.moving_mean.value, [0.02, 0.04], rtol=1e-12)
    np.testing.assert_allclose(layer.moving_variance.value, [1.0, 1.03], rtol=1e-12)


def test_golden_input_gradient_of_a_two_sample_batch():
    """With two samples x_hat = -+1/sqrt(1 + eps) whatever x is, so dL/dx vanishes except for
    what epsilon lets through: dx = [0.5, -0.5] * eps / ((1 + eps) * sqrt(1 + eps))."""
    sn.config.set_floatx("float64")
    layer = L.BatchNormalization()
    layer.ensure_built((1,), np.random.default_rng(0))
    layer.forward(np.array([[0.0], [2.0]]), training=True)  # mean 1, variance 1
    dx = layer.backward(np.array([[1.0], [0.0]]))
    eps = 1e-3
    np.testing.assert_allclose(dx[:, 0], np.array([0.5, -0.5]) * eps / ((1 + eps) * np.sqrt(1 + eps)),
                               rtol=1e-9)
    np.testing.assert_allclose(layer.gamma.grad, [-1 / np.sqrt(1 + eps)], rtol=1e-12)
    np.testing.assert_allclose(layer.beta.grad, [1.0], rtol=1e-12)


def test_golden_inference_output():
    sn.config.set_floatx("float64")
    layer = L.BatchNormalization(epsilon=0.25)
    layer.ensure_built((2,), np.random.default_rng(0))
    layer.gamma.value[...] = [2.0, 3.0]
    layer.beta.value[...] = [0.5, -1.0]
    layer.moving_mean.value[...] = [1.0, -1.0]
    layer.moving_variance.value[...] = [0.75, 3.75]  # + epsilon: 1 and 4
    y = layer(np.array([[2.0, 1.0], [0.0, -1.0]]))
    np.testing.assert_allclose(y, [[2.5, 2.0], [-1.5, -1.0]], rtol=1e-12)


# ------------------------------------------------------------------ training vs inference
def test_training_normalizes_per_channel_and_inference_uses_moving_statistics(rng):
    x = rng.normal(3.0, 2.0, (8, 5, 5, 3)).astype(np.float32)
    layer = L.BatchNormalization()
    y_train = layer(x, training=True)
    np.testing.assert_allclose(y_train.mean(axis=(0, 1, 2)), 0, atol=1e-5)
    var = x.var(axis=(0, 1, 2))
    np.testing.assert_allclose(y_train.var(axis=(0, 1, 2)), var / (var + 1e-3), rtol=1e-4)
    stats = [p.value.copy() for p in layer.non_trainable_weights]
    y_infer = layer(x)  # inference: moving statistics, which it does not change
    expected = (x - stats[0]) / np.sqrt(stats[1] + np.float32(1e-3))
    np.testing.assert_allclose(y_infer, expected, rtol=1e-6)
    for p, before in zip(layer.non_trainable_weights, stats, strict=True):
        np.testing.assert_array_equal(p.value, before)
    assert not np.allclose(y_train, y_infer, atol=0.1)


def test_moving_statistics_follow_keras_update_in_float32(rng):
    """k steps on one batch: moving = batch * (1 - momentum**k) + initial * momentum**k; each step
    computed as Keras does, ``moving * momentum + batch * (1 - momentum)`` with ``1 - momentum``
    rounded from a double."""
    x = rng.normal(2.0, 3.0, (16, 3)).astype(np.float32)
    layer = L.BatchNormalization(momentum=0.9)
    mean = x.mean(axis=0)
    var = ((x - mean) ** 2).mean(axis=0)
    expect_mean, expect_var = np.zeros(3, np.float32), np.ones(3, np.float32)
    for _ in range(5):
        layer(x, training=True)
        expect_mean = expect_mean * np.float32(0.9) + mean * np.float32(1.0 - 0.9)
        expect_var = expect_var * np.float32(0.9) + var * np.float32(1.0 - 0.9)
    # bit for bit: np.float32(1) - np.float32(0.9) = 0.100000024 would not do
    np.testing.assert_array_equal(layer.moving_mean.value, expect_mean)
    np.testing.assert_array_equal(layer.moving_variance.value, expect_var)
    np.testing.assert_allclose(layer.moving_mean.value, mean * (1 - 0.9 ** 5), rtol=1e-5)
    assert layer.moving_mean.value.dtype == np.float32


@pytest.mark.parametrize("momentum, expected_mean", [(0.0, "batch"), (1.0, "initial")])
def test_momentum_extremes(momentum, expected_mean, rng):
    x = rng.normal(size=(6, 2)).astype(np.float32)
    layer = L.BatchNormalization(momentum=momentum)
    layer(x, training=True)
    want = x.mean(axis=0) if expected_mean == "batch" else np.zeros(2)
    np.testing.assert_allclose(layer.moving_mean.value, want, rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------------ the non-trainable weights
def test_weights_order_counts_and_summary():
    model = bn_model()
    names = [p.name.split("/")[1] for p in model.weights]
    assert names == ["kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance",
                     "kernel", "bias"]
    assert [p.name for p in model.params] == [p.name for p in model.weights if p.trainable]
    assert len(model.get_weights()) == 8 and len(model.params) == 6
    assert model.count_params() == 57 + 12 + 26  # Keras counts the moving statistics too
    text = model.summary(print_fn=None)
    assert "Total params: 95" in text and "Trainable params: 89" in text
    assert "Non-trainable params: 6" in text


@pytest.mark.parametrize("center, scale, names", [
    (True, True, ["gamma", "beta", "moving_mean", "moving_variance"]),
    (False, True, ["gamma", "moving_mean", "moving_variance"]),
    (True, False, ["beta", "moving_mean", "moving_variance"]),
    (False, False, ["moving_mean", "moving_variance"]),
])
def test_absent_weights_are_skipped(center, scale, names):
    layer = L.BatchNormalization(center=center, scale=scale)
    layer.ensure_built((3,))
    assert [p.name.split("/")[1] for p in layer.weights] == names
    assert all(not p.trainable for p in layer.non_trainable_weights)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", sn.optimizers.SGD(0.1, momentum=0.9)])
def test_optimizer_never_updates_moving_statistics(optimizer):
    """After fit, the moving statistics are exactly what the forward passes made of them."""
    model = bn_model(optimizer=optimizer)
    x, y = data()
    bn = model.layers[1]
    expected = [p.value.copy() for p in bn.non_trainable_weights]
    for _ in range(3):
        conv = model.layers[0].forward(x)  # the batch the BN layer will see in this step
        mean, var = conv.mean(axis=(0, 1, 2)), conv.var(axis=(0, 1, 2))
        expected = [expected[0] * np.float32(0.99) + mean * np.float32(1 - 0.99),
                    expected[1] * np.float32(0.99) + var * np.float32(1 - 0.99)]
        model.train_step(x, y)
    np.testing.assert_allclose(bn.moving_mean.value, expected[0], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(bn.moving_variance.value, expected[1], rtol=1e-5)
    assert not any("moving" in key for key in model.optimizer.state)


def test_set_weights_writes_moving_statistics():
    model = bn_model()
    weights = model.get_weights()
    weights[4] = np.array([1.0, 2.0, 3.0], np.float32)
    weights[5] = np.array([4.0, 5.0, 6.0], np.float32)
    model.set_weights(weights)
    np.testing.assert_array_equal(model.layers[1].moving_variance.value, [4, 5, 6])
    with pytest.raises(ValueError, match="expected a list of 8 arrays"):
        model.set_weights(weights[:6])


def test_npz_and_keras_files_round_trip_moving_statistics(tmp_path):
    model = bn_model(optimizer="adam", momentum=0.8, epsilon=0.01)
    x, y = data()
    model.fit(x, y, epochs=2, batch_size=3, verbose=0)
    for name in ("m.npz", "m.keras"):
        model.save(tmp_path / name)
        loaded = sn.load_model(tmp_path / name)
        bn = loaded.layers[1]
        assert (bn.momentum, bn.epsilon) == (0.8, 0.01)
        for a, b in zip(loaded.get_weights(), model.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    model.save_weights(tmp_path / "w.weights.h5")
    fresh = bn_model(seed=5, optimizer="adam", momentum=0.8, epsilon=0.01)
    fresh.load_weights(tmp_path / "w.weights.h5")
    np.testing.assert_array_equal(fresh.get_weights()[5], model.get_weights()[5])


def test_keras_config_of_the_layer():
    from scratchnet import saving_keras

    model = bn_model(center=False)
    spec = saving_keras.model_config(model)["config"]["layers"][2]
    assert spec["class_name"] == "BatchNormalization"
    config = spec["config"]
    assert config["axis"] == -1 and config["momentum"] == 0.99 and config["epsilon"] == 0.001
    assert config["center"] is False and config["synchronized"] is False
    assert config["moving_variance_initializer"]["class_name"] == "Ones"
    assert spec["build_config"] == {"input_shape": [None, 2, 2, 3]}


def test_get_config_makes_a_twin():
    layer = L.BatchNormalization(axis=1, momentum=0.9, epsilon=0.01, center=False,
                                 gamma_initializer="glorot_uniform", name="bn")
    twin = L.BatchNormalization(**layer.get_config())
    assert twin.get_config() == layer.get_config()
    assert layer.get_config()["gamma_initializer"]["class_name"] == "GlorotUniform"  # serialized


def test_backup_and_restore_and_checkpoint_keep_moving_statistics(tmp_path):
    x, y = data()

    class Interrupt(sn.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise RuntimeError("interrupted")

    reference = bn_model()
    reference.fit(x, y, epochs=4, batch_size=3, shuffle=False, verbose=0)

    model = bn_model()
    backup = sn.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    with pytest.raises(RuntimeError, match="interrupted"):
        model.fit(x, y, epochs=4, batch_size=3, shuffle=False, verbose=0,
                  callbacks=[backup, Interrupt()])
    resumed = bn_model()
    resumed.fit(x, y, epochs=4, batch_size=3, shuffle=False, verbose=0,
                callbacks=[sn.callbacks.BackupAndRestore(str(tmp_path / "backup"))])
    for a, b in zip(resumed.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)

    checkpoint = sn.callbacks.ModelCheckpoint(str(tmp_path / "best.keras"))
    model = bn_model()
    model.fit(x, y, epochs=1, verbose=0, callbacks=[checkpoint])
    loaded = sn.load_model(tmp_path / "best.keras")
    np.testing.assert_array_equal(loaded.get_weights()[4], model.get_weights()[4])
    assert np.any(loaded.get_weights()[4] != 0)  # really the trained statistics


def test_tensorboard_histograms_include_moving_statistics(tmp_path):
    """Keras' TensorBoard logs every weight of every layer, the non-trainable ones too."""
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    model = bn_model()
    x, y = data()
    model.fit(x, y, epochs=1, verbose=0, callbacks=[sn.callbacks.TensorBoard(tmp_path,
                                                                             histogram_freq=1)])
    acc = EventAccumulator(str(tmp_path / "train"), size_guidance={"tensors": 0})
    acc.Reload()
    tags = [t for t in acc.Tags()["tensors"] if t.endswith("/histogram")]
    assert tags == [f"sequential/{p.name}/histogram" for p in model.weights]


def test_on_the_gpu_backend_weights_stay_there_and_numbers_equal_numpy(monkeypatch):
    """tests/fake_gpu.py stands in for CuPy (it refuses implicit conversion to NumPy as CuPy
    does): training keeps the moving statistics on the device, bitwise equal to NumPy."""
    from tests import fake_gpu

    x, y = data()
    sn.set_backend("numpy")  # the fake device computes with the NumPy kernels
    reference = bn_model(optimizer="adam")
    reference.fit(x, y, batch_size=3, epochs=2, shuffle=False, verbose=0)

    fake_gpu.install(monkeypatch)
    model = bn_model(optimizer="adam")
    model.fit(x, y, batch_size=3, epochs=2, shuffle=False, verbose=0)
    assert all(isinstance(p.value, fake_gpu.FakeGPUArray) for p in model.weights)
    for w, r in zip(model.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_array_equal(w, r)
    np.testing.assert_array_equal(model.predict(x, verbose=0), reference.predict(x, verbose=0))


# ------------------------------------------------------------------ MirroredStrategy
def test_mirrored_replicas_keep_their_own_moving_statistics():
    """Keras 3.15 on TensorFlow: each replica normalizes its slice with the slice's statistics,
    moves its own copy of the moving statistics (aggregation "none"), and get_weights reads
    replica 0's copy; the gradient is (1/R) sum_r grad_r, each from its own slice's statistics."""
    x, y = data(n=8)
    strategy = sn.distribute.MirroredStrategy(2)
    with strategy.scope():
        model = bn_model(momentum=0.5)
    start = model.get_weights()
    _, grads = model.loss_and_grads(x, y)

    halves = []
    for part in (slice(0, 4), slice(4, 8)):
        single = bn_model(momentum=0.5)
        single.set_weights(start)
        _, g = single.loss_and_grads(x[part], y[part])
        halves.append((single, g))
    for i, grad in enumerate(grads):
        np.testing.assert_allclose(grad, (halves[0][1][i] + halves[1][1][i]) / 2, rtol=1e-5,
                                   atol=1e-7)
    # replica 0 (the model's own copy) moved with the first half only
    np.testing.assert_allclose(model.get_weights()[4], halves[0][0].get_weights()[4], rtol=1e-6)
    replica1 = strategy._replicas_of(model)[1]
    np.testing.assert_allclose(replica1.layers[1].moving_mean.value, halves[1][0].get_weights()[4],
                               rtol=1e-6)
    assert not np.allclose(model.get_weights()[4], halves[1][0].get_weights()[4])

    # evaluate/predict: each replica normalizes its slice with its own copy; model(x) uses
    # replica 0's (the model's own) for every sample, as Keras' direct call does
    predictions = model.predict(x, batch_size=8, verbose=0)
    np.testing.assert_allclose(predictions[:4], halves[0][0].predict(x[:4], verbose=0), rtol=1e-5)
    np.testing.assert_allclose(predictions[4:], halves[1][0].predict(x[4:], verbose=0), rtol=1e-5)
    np.testing.assert_allclose(model(x)[4:], halves[0][0](x[4:]), rtol=1e-5)
    loss = model.evaluate(x, y, batch_size=8, verbose=0)
    np.testing.assert_allclose(loss, np.mean((predictions - y) ** 2), rtol=1e-5)

    # an assignment from outside the replicas writes every copy
    weights = model.get_weights()
    weights[4] = np.full(3, 7.0, np.float32)
    model.set_weights(weights)
    np.testing.assert_array_equal(replica1.layers[1].moving_mean.value, [7, 7, 7])
    strategy.close()


def test_mirrored_evaluate_reads_the_replicas_logits():
    """evaluate under a strategy runs the replicas; a final softmax's loss must read their
    logits, not a stale single-device forward's."""
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(10, 4)).astype(np.float32), rng.integers(0, 3, 10)

    def make():
        model = sn.Sequential([L.Input((4,)), L.BatchNormalization(),
                               L.Dense(3, activation="softmax")], seed=2)
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        return model

    single = make()
    strategy = sn.distribute.MirroredStrategy(2)
    with strategy.scope():
        mirrored = make()
    mirrored.predict(x[:4] * 100, verbose=0)  # leaves other logits behind in single-device code
    mirrored(x[:4] * 100)
    np.testing.assert_allclose(mirrored.evaluate(x, y, batch_size=5, verbose=0),
                               single.evaluate(x, y, batch_size=5, verbose=0), rtol=1e-6)
    strategy.close()


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("kwargs, match", [
    (dict(axis=1.5), r"expected axis to be an integer.*received 1\.5"),
    (dict(axis="channels"), r"expected axis to be an integer"),
    (dict(momentum=1.5), r"expected momentum to be a float in \[0, 1\], received 1\.5"),
    (dict(momentum=-0.1), r"momentum.*received -0\.1"),
    (dict(momentum="0.9"), r"momentum.*received '0\.9'"),
    (dict(epsilon=0), r"expected epsilon to be a positive float, received 0"),
    (dict(epsilon=-1e-3), r"epsilon.*received -0\.001"),
    (dict(epsilon=float("inf")), r"epsilon.*received inf"),
    (dict(center=1), r"expected center to be True or False, received 1"),
    (dict(scale="yes"), r"expected scale to be True or False"),
    (dict(gamma_initializer="nope"), r"gamma_initializer: unknown initializer 'nope'; expected "
                                     r"one of \[.*'ones'"),
    (dict(renorm=True), r"does not implement renorm=True"),
    (dict(synchronized=True), r"does not implement synchronized=True"),
    (dict(beta_regularizer="l2"), r"does not implement beta_regularizer='l2'"),
    (dict(fused=True), r"Unrecognized keyword arguments passed to BatchNormalization"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        L.BatchNormalization(**kwargs)


@pytest.mark.parametrize("axis, shape", [(0, (4, 3)), (2, (4, 3)), (-3, (4, 3)), (4, (2, 3, 3, 2)),
                                         (-5, (2, 3, 3, 2))])
def test_axis_out_of_bounds(axis, shape):
    with pytest.raises(ValueError, match=rf"axis {axis} is out of bounds for input shape "
                                         rf"\(None, {shape[1]}"):
        L.BatchNormalization(axis=axis)(np.zeros(shape, np.float32))


def test_bad_shapes():
    with pytest.raises(ValueError, match=r"expects inputs of rank >= 2.*received shape \(None,\)"):
        L.BatchNormalization()(np.zeros(5, np.float32))
    layer = L.BatchNormalization()
    layer(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match=r'"batch_normalization" is incompatible.*expected '
                                         r"shape=\(None, 3\), found shape=\(2, 4\)"):
        layer(np.zeros((2, 4), np.float32))
