"""BatchNormalization against Keras 3.15: the layer's output in training and inference mode
(FORWARD_RTOL), the loss and every gradient through the batch statistics (GRAD_RTOL), 20 training
steps of a small convnet (train_step against train_on_batch: every weight, the moving statistics
included, after every step, TRAJECTORY_RTOL), fit against fit, to_keras/from_keras, and
MirroredStrategy (each replica's own statistics). Same weights and batches on both sides
(parity_tests/driver.py)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import scratchnet as sn
import tfnet
from parity_tests.driver import (
    FORWARD_RTOL,
    GRAD_RTOL,
    TRAJECTORY_RTOL,
    assert_close,
    check_forward,
    check_loss_and_grads,
    check_trajectory,
    layer_model,
    make_twins,
)

L = sn.layers
SCCE = sn.losses.SparseCategoricalCrossentropy
ROOT = Path(__file__).resolve().parents[1]


def random_state(model, seed=0):
    """gamma, beta and the moving statistics away from their initial ones and zeros."""
    rng = np.random.default_rng(seed)
    weights = []
    for param, w in zip(model.weights, model.get_weights(), strict=True):
        name = param.name.split("/")[-1]
        if name in ("gamma", "moving_variance"):
            w = rng.uniform(0.5, 2.0, w.shape)
        elif name in ("beta", "moving_mean"):
            w = rng.normal(0, 0.5, w.shape)
        weights.append(w)
    model.set_weights(weights)
    return model


LAYERS = {
    "2d": (lambda: L.BatchNormalization(), (5,)),
    "4d": (lambda: L.BatchNormalization(), (4, 5, 3)),
    "4d_axis_1": (lambda: L.BatchNormalization(axis=1), (4, 5, 3)),
    "4d_axis_2": (lambda: L.BatchNormalization(axis=-2), (4, 5, 3)),
    "3d": (lambda: L.BatchNormalization(), (6, 2)),
    "no_center": (lambda: L.BatchNormalization(center=False), (3, 3, 4)),
    "no_scale": (lambda: L.BatchNormalization(scale=False), (3, 3, 4)),
    "neither": (lambda: L.BatchNormalization(center=False, scale=False), (4,)),
    "momentum_epsilon": (lambda: L.BatchNormalization(momentum=0.5, epsilon=0.1), (3, 3, 2)),
}


@pytest.mark.parametrize("training", [False, True], ids=["inference", "training"])
@pytest.mark.parametrize("case", sorted(LAYERS))
def test_layer_forward_and_moving_statistics(case, training):
    make, shape = LAYERS[case]
    model = random_state(layer_model(make(), shape))
    x = np.random.default_rng(1).normal(1.5, 2.0, (6, *shape)).astype(np.float32)
    twins = make_twins(model)
    check_forward(twins, x, training=training)
    # Both sides ran two forward passes: in training mode each moved the statistics once.
    for param, ws, wk in zip(model.weights, model.get_weights(), twins.keras.get_weights(),
                             strict=True):
        assert_close(ws, wk, FORWARD_RTOL, f'"{param.name}" after the forward passes')
    moved = not np.allclose(model.get_weights()[-2], random_state(layer_model(make(), shape))
                            .get_weights()[-2])
    assert moved == training


def conv_bn_model(seed=0):
    """A bias right before a BatchNormalization has a zero gradient (the batch mean removes it):
    its float32 noise cannot be compared, so the layers before each BN have none (Keras' advice)."""
    return sn.Sequential([
        L.Input((6, 6, 2)),
        L.Conv2D(4, 3, use_bias=False),
        L.BatchNormalization(momentum=0.9),
        L.Activation("relu"),
        L.MaxPooling2D(),
        L.Flatten(),
        L.Dense(5, use_bias=False),
        L.BatchNormalization(center=False, epsilon=0.01),
        L.Dense(3, activation="softmax"),
    ], seed=seed)


def conv_data(n=24, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(0.5, 1.5, (n, 6, 6, 2)).astype(np.float32), rng.integers(0, 3, n)


def test_loss_and_gradients_through_batch_statistics():
    model = random_state(conv_bn_model())
    x, y = conv_data(8)
    twins = make_twins(model, loss=SCCE())
    _, grads = check_loss_and_grads(twins, x, y)
    for param, grad in zip(model.weights, grads, strict=True):
        assert param.trainable or np.all(grad == 0)
    # the moving statistics moved once on both sides (tfnet.loss_and_grads runs training=True)
    for param, ws, wk in zip(model.weights, model.get_weights(), twins.keras.get_weights(),
                             strict=True):
        assert_close(ws, wk, FORWARD_RTOL, f'"{param.name}" after loss_and_grads')


@pytest.mark.parametrize("optimizer", [lambda: sn.optimizers.Adam(0.01),
                                       lambda: sn.optimizers.SGD(0.05, momentum=0.9)],
                         ids=["adam", "sgd_momentum"])
def test_twenty_training_steps_then_inference(optimizer):
    model = conv_bn_model()
    x, y = conv_data(24)
    twins = make_twins(model, loss=SCCE(), optimizer=optimizer())
    batches = [(x[i:i + 8], y[i:i + 8]) for i in range(0, 24, 8)]
    check_trajectory(twins, batches, steps=20)  # every weight after every step
    # the moving statistics after 20 steps, by name
    for layer, klayer in zip(model.layers, twins.keras.layers, strict=True):
        if isinstance(layer, L.BatchNormalization):
            assert_close(layer.moving_mean.value, klayer.moving_mean.numpy(), TRAJECTORY_RTOL,
                         f"{layer.name} moving_mean after 20 steps")
            assert_close(layer.moving_variance.value, klayer.moving_variance.numpy(),
                         TRAJECTORY_RTOL, f"{layer.name} moving_variance after 20 steps")
            assert not np.allclose(layer.moving_variance.value, 1.0)
    # inference with the moving statistics: predictions and evaluate
    assert_close(model.predict(x, verbose=0), twins.keras.predict(x, verbose=0), GRAD_RTOL,
                 "predictions after 20 steps")
    assert_close(model.evaluate(x, y, verbose=0), twins.keras.evaluate(x, y, verbose=0), GRAD_RTOL,
                 "evaluate after 20 steps")


def test_fit_against_fit():
    model = conv_bn_model(seed=3)
    x, y = conv_data(20, seed=2)
    twins = make_twins(model, loss=SCCE(), optimizer=sn.optimizers.SGD(0.1))
    history = model.fit(x, y, batch_size=6, epochs=3, shuffle=False, verbose=0)  # partial batch 2
    khistory = twins.keras.fit(x, y, batch_size=6, epochs=3, shuffle=False, verbose=0)
    assert_close(history.history["loss"], khistory.history["loss"], GRAD_RTOL, "epoch losses")
    for param, ws, wk in zip(model.weights, model.get_weights(), twins.keras.get_weights(),
                             strict=True):
        assert_close(ws, wk, TRAJECTORY_RTOL, f'"{param.name}" after fit')


def test_to_keras_and_from_keras_carry_arguments_and_statistics():
    model = random_state(sn.Sequential([
        L.Input((3, 3, 4)),
        L.BatchNormalization(axis=1, momentum=0.7, epsilon=0.05, center=False,
                             gamma_initializer="glorot_uniform", moving_variance_initializer="zeros"),
    ], seed=1))
    kmodel = tfnet.to_keras(model)
    klayer = kmodel.layers[0]
    assert (klayer.axis, klayer.momentum, klayer.epsilon, klayer.center, klayer.scale) == \
        (1, 0.7, 0.05, False, True)
    assert isinstance(klayer.gamma_initializer, keras.initializers.GlorotUniform)
    assert isinstance(klayer.moving_variance_initializer, keras.initializers.Zeros)
    assert [w.name for w in klayer.weights] == ["gamma", "moving_mean", "moving_variance"]
    for ws, wk in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_array_equal(ws, wk)

    back = tfnet.from_keras(kmodel)
    layer = back.layers[0]
    assert (layer.axis, layer.momentum, layer.epsilon, layer.center) == (1, 0.7, 0.05, False)
    assert layer.gamma_initializer == "glorot_uniform"
    for ws, wk in zip(back.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_array_equal(ws, wk)

    regularized = keras.Sequential([keras.Input((3,)),
                                    keras.layers.BatchNormalization(gamma_regularizer="l2")])
    with pytest.raises(ValueError, match=r"gamma_regularizer=.*scratchnet supports only "
                                         r"gamma_regularizer=None"):
        tfnet.from_keras(regularized)


@pytest.mark.slow
def test_mirrored_strategy_matches_keras():
    """Keras 3.15 on TensorFlow keeps one copy of the moving statistics per replica
    (MirroredVariable, aggregation "none"): each replica normalizes and moves its copy with its
    own slice's statistics, get_weights() reads replica 0's, predict/evaluate use each replica's
    own copy for its slice. scratchnet's MirroredStrategy must give the same numbers."""
    x, y = conv_data(14, seed=4)
    batch_size, epochs, predict_batch_size = 4, 2, 6  # steps 2+2 ... then 1+1; predict 3+3, 1+1
    strategy = sn.distribute.MirroredStrategy(2)
    with strategy.scope():
        model = sn.Sequential([L.Input((6, 6, 2)), L.Conv2D(3, 3, use_bias=False),
                               L.BatchNormalization(momentum=0.8),
                               L.Activation("relu"), L.Flatten(), L.Dense(3, activation="softmax")],
                              seed=5)
    model.compile(optimizer=sn.optimizers.SGD(0.1, momentum=0.9),
                  loss="sparse_categorical_crossentropy")
    job = {"num_replicas": 2, "weights": [w.tolist() for w in model.get_weights()],
           "x": x.tolist(), "y": y.tolist(), "batch_size": batch_size, "epochs": epochs,
           "predict_batch_size": predict_batch_size}
    history = model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0)

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               TF_ENABLE_ONEDNN_OPTS="0", TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, str(ROOT / "parity_tests" / "_keras_mirrored_bn_run.py")],
                          input=json.dumps(job), capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    keras_out = json.loads(proc.stdout)

    for param, ws, wk in zip(model.weights, model.get_weights(), keras_out["weights"], strict=True):
        assert_close(ws, np.asarray(wk, np.float32), TRAJECTORY_RTOL, f'"{param.name}" after fit')
    replicas = strategy._replicas_of(model)
    for r, (k_mean, k_var) in enumerate(keras_out["replica_stats"][0]):
        bn = replicas[r].layers[1]
        assert_close(bn.moving_mean.value, k_mean, TRAJECTORY_RTOL, f"replica {r} moving_mean")
        assert_close(bn.moving_variance.value, k_var, TRAJECTORY_RTOL,
                     f"replica {r} moving_variance")
    k_stats = keras_out["replica_stats"][0]
    assert not np.allclose(k_stats[0][0], k_stats[1][0])  # the copies really drifted apart
    assert_close(history.history["loss"], keras_out["loss"], GRAD_RTOL, "epoch losses")
    assert_close(model.predict(x, batch_size=predict_batch_size, verbose=0),
                 np.asarray(keras_out["predictions"]), GRAD_RTOL, "predictions")
    assert_close(model.evaluate(x, y, batch_size=predict_batch_size, verbose=0),
                 keras_out["evaluate"], GRAD_RTOL, "evaluate")
    strategy.close()
