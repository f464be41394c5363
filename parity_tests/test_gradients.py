"""The loss and every gradient agree with tf.GradientTape: loss to 1e-5, gradients to 1e-4,
including the traps of PARITY.md."""

import keras
import numpy as np
import pytest

import scratchnet as sn
import tfnet
from parity_tests.driver import assert_parity, check_loss_and_grads, make_twins, random_biases

L = sn.layers
SCCE = sn.losses.SparseCategoricalCrossentropy
CCE = sn.losses.CategoricalCrossentropy


def data(n=8, shape=(6, 6, 2), classes=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, *shape)).astype(np.float32), rng.integers(0, classes, n)


def conv_net(last_activation=None, classes=4, shape=(6, 6, 2), seed=0):
    return random_biases(sn.Sequential([
        L.Input(shape),
        L.Conv2D(3, 3, padding="same", activation="relu"),
        L.MaxPooling2D(2),
        L.Flatten(),
        L.Dense(classes, activation=last_activation),
    ], seed=seed))


@pytest.mark.parametrize("from_logits", [True, False])
def test_sparse_and_one_hot_labels_give_the_same_loss_and_grads(from_logits):
    x, y = data()
    last = None if from_logits else "softmax"
    sparse = assert_parity(conv_net(last), x, y, loss=SCCE(from_logits=from_logits))
    onehot = np.eye(4, dtype=np.float32)[y]
    dense = assert_parity(conv_net(last), x, onehot, loss=CCE(from_logits=from_logits))
    loss_s, grads_s = sparse.scratch.loss_and_grads(x, y)
    loss_d, grads_d = dense.scratch.loss_and_grads(x, onehot)
    assert loss_s == pytest.approx(loss_d, rel=1e-6)
    for gs, gd in zip(grads_s, grads_d, strict=True):
        np.testing.assert_allclose(gs, gd, rtol=1e-5, atol=1e-7)


def test_sparse_labels_as_a_column():
    x, y = data()
    assert_parity(conv_net(), x, y[:, None], loss=SCCE(from_logits=True))


@pytest.mark.parametrize("last", ["dense_softmax", "softmax_layer", "activation_softmax"])
@pytest.mark.parametrize("loss", [SCCE(), CCE()], ids=["sparse", "categorical"])
def test_the_trap_softmax_last_with_a_probabilities_loss_reads_the_logits(last, loss):
    """Logits [40, -40], label 1: Keras' loss is 80.0 (logits path), not -log(1e-7) = 16.118."""
    if last == "dense_softmax":
        layers = [L.Dense(2, activation="softmax", use_bias=False)]
    else:
        layers = [L.Dense(2, use_bias=False),
                  L.Softmax() if last == "softmax_layer" else L.Activation("softmax")]
    model = sn.Sequential([L.Input((2,)), *layers], seed=0)
    model.set_weights([np.eye(2, dtype=np.float32)])
    x = np.array([[40.0, -40.0], [1.0, 2.0]], dtype=np.float32)
    y = np.array([1, 0]) if isinstance(loss, SCCE) else np.array([[0.0, 1.0], [1.0, 0.0]], "f4")
    twins = assert_parity(model, x, y, loss=loss)
    loss_one, grads = twins.scratch.loss_and_grads(x[:1], y[:1])
    assert loss_one == pytest.approx(80.0, rel=1e-6)
    assert tfnet.loss_and_grads(twins.keras, x[:1], y[:1])[0] == pytest.approx(80.0, rel=1e-6)
    # gradient softmax - onehot = [1, -1] on the logits: not clipped to zero
    np.testing.assert_allclose(grads[0], [[40.0, -40.0], [-40.0, 40.0]], rtol=1e-6)


@pytest.mark.parametrize("loss", [SCCE(), CCE()], ids=["sparse", "categorical"])
def test_a_final_sigmoid_also_hands_its_logits_to_the_crossentropy(loss):
    """Keras tags sigmoid outputs with their logits too (``_keras_logits``), so a cross-entropy
    on probabilities computes softmax cross-entropy on the sigmoid's input: 60 and 7.0009 here,
    not the clipped -log(1e-7). scratchnet follows (Sequential.output_loss)."""
    model = sn.Sequential([L.Input((3,)), L.Dense(3, activation="sigmoid", use_bias=False)], seed=0)
    model.set_weights([np.diag([30.0, 1.0, -30.0]).astype(np.float32)])
    x = np.array([[1.0, 0.5, 1.0], [0.2, -1.0, 0.3]], dtype=np.float32)  # saturates unit 0 and 2
    y = np.array([2, 1]) if isinstance(loss, SCCE) else np.eye(3, dtype="f4")[[2, 1]]
    twins = assert_parity(model, x, y, loss=loss)
    assert twins.scratch.loss_and_grads(x, y)[0] == pytest.approx((60 + 7.000911) / 2, rel=1e-6)


@pytest.mark.parametrize("loss", [SCCE(), CCE()], ids=["sparse", "categorical"])
def test_untagged_probabilities_are_clipped_like_keras(loss):
    """A ReLU output carries no logits: Keras normalises (CCE only) and clips at 1e-7, and the
    gradient is zero where the clip was active (here: the exact zeros)."""
    model = sn.Sequential([L.Input((3,)), L.Dense(3, activation="relu", use_bias=False)], seed=0)
    model.set_weights([np.array([[1.0, 0.2, -1.0], [0.5, 0.1, 0.3], [-2.0, 0.4, 1.0]], "f4")])
    x = np.array([[1.0, 0.5, 0.2], [0.2, 1.0, 0.9], [0.3, 0.3, 0.3]], dtype=np.float32)
    y = np.array([2, 1, 0]) if isinstance(loss, SCCE) else np.eye(3, dtype="f4")[[2, 1, 0]]
    twins = assert_parity(model, x, y, loss=loss)
    assert np.any(twins.scratch(x) == 0), "the case must clip"


def test_mean_squared_error():
    x, _ = data()
    target = np.random.default_rng(1).normal(size=(8, 5)).astype(np.float32)
    assert_parity(conv_net(classes=5), x, target, loss=sn.losses.MeanSquaredError())


def test_mean_squared_error_on_conv_output_alone():
    x, _ = data()
    model = random_biases(sn.Sequential([L.Input((6, 6, 2)), L.Conv2D(3, 2, strides=3)], seed=0))
    target = np.random.default_rng(1).normal(size=(8, 2, 2, 3)).astype(np.float32)
    assert_parity(model, x, target, loss=sn.losses.MeanSquaredError())


CONV_GRAD_CASES = {
    "odd_same_padding": dict(filters=3, kernel_size=4, strides=2, padding="same"),
    "odd_same_rectangular": dict(filters=2, kernel_size=(2, 3), strides=(3, 2), padding="same"),
    "strides_larger_than_kernel": dict(filters=3, kernel_size=2, strides=3),
    "dilation": dict(filters=3, kernel_size=3, dilation_rate=2, padding="same"),
    "valid_relu": dict(filters=4, kernel_size=3, activation="relu"),
}


@pytest.mark.parametrize("case", sorted(CONV_GRAD_CASES))
def test_conv2d_gradients_through_a_stack(case):
    """A conv before the one under test, so its input gradient (dL/dx) is checked too."""
    x, y = data(shape=(9, 8, 2))
    model = random_biases(sn.Sequential([
        L.Input((9, 8, 2)), L.Conv2D(2, 1, activation="tanh"), L.Conv2D(**CONV_GRAD_CASES[case]),
        L.Flatten(), L.Dense(4)], seed=0))
    assert_parity(model, x, y, loss=SCCE(from_logits=True))


POOL_GRAD_CASES = {
    "default": dict(),
    "same_odd": dict(pool_size=2, padding="same"),
    "overlapping": dict(pool_size=3, strides=1),
    "overlapping_same": dict(pool_size=3, strides=2, padding="same"),
    "strides_larger_than_pool": dict(pool_size=2, strides=3),
}


@pytest.mark.parametrize("case", sorted(POOL_GRAD_CASES))
def test_max_pool_ties_with_integer_images_and_kernels(case):
    """Integer images through integer kernels give integer feature maps full of equal maxima:
    each window's gradient must go to the same (first) maximum as in TensorFlow's kernel."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 3, size=(4, 7, 7, 1)).astype(np.float32)
    y = rng.integers(0, 3, size=4)
    model = sn.Sequential([
        L.Input((7, 7, 1)), L.Conv2D(2, 2, padding="same", activation="relu"),
        L.MaxPooling2D(**POOL_GRAD_CASES[case]), L.Flatten(), L.Dense(3)], seed=0)
    weights = model.get_weights()
    weights[0] = rng.integers(-1, 2, size=weights[0].shape).astype(np.float32)
    weights[1] = np.array([1.0, 0.0], np.float32)
    model.set_weights(weights)
    twins = assert_parity(model, x, y, loss=SCCE(from_logits=True))
    feature_maps = twins.scratch.layers[0](x)
    assert feature_maps.size > len(np.unique(feature_maps)) * 10, "the case must have ties"


def test_gradients_of_a_partial_last_batch_are_averaged_over_its_own_size():
    x, y = data(n=13)
    twins = make_twins(conv_net(), loss=SCCE(from_logits=True))
    for start in (0, 5, 10):  # batches of 5, 5 and the partial 3
        check_loss_and_grads(twins, x[start:start + 5], y[start:start + 5])


def test_named_models_loss_and_grads(digits):
    x, y = digits
    for model in (sn.models.digits_cnn(), sn.models.digits_mlp()):
        assert_parity(random_biases(model), x[:32], y[:32], loss=SCCE(from_logits=True))


def test_rps_cnn_softmax_last_with_probabilities_loss_and_no_dropout():
    """The talk's model shape (softmax output, SCCE on probabilities) with dropout off, so the
    training-mode forward pass is deterministic on both sides."""
    model = sn.models.rps_cnn((24, 24, 3), filters=(4, 8), dense_units=16, dropout=0.0)
    x = np.random.default_rng(0).random((6, 24, 24, 3), dtype=np.float32)
    assert_parity(random_biases(model), x, np.arange(6) % 3, loss=SCCE())


def test_loss_and_grads_keras_side_matches_hand_computation():
    """tfnet.loss_and_grads itself, against a value worked by hand: Dense(1) on MSE."""
    kmodel = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    kmodel.set_weights([np.array([[1.0], [2.0]], "f4"), np.array([0.5], "f4")])
    kmodel.compile(loss="mse")
    x, y = np.array([[1.0, 1.0], [0.0, 1.0]], "f4"), np.array([[3.0], [3.0]], "f4")
    loss, grads = tfnet.loss_and_grads(kmodel, x, y)  # errors e = [0.5, -0.5]
    assert loss == pytest.approx(0.25)
    np.testing.assert_allclose(grads[0], [[0.5], [0.0]])  # mean(2 e x)
    np.testing.assert_allclose(grads[1], [0.0])
