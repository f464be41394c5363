"""Hand-computed values: each number below can be checked with pencil and paper."""

import numpy as np
import pytest

import scratchnet as sn

L = sn.layers


@pytest.fixture(params=["numpy", "numba"], autouse=True)
def backend(request):
    sn.set_backend(request.param)


def _built(layer, shape):
    layer.ensure_built(shape, np.random.default_rng(0))
    return layer


def test_conv2d_is_cross_correlation_without_flip():
    x = np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1)  # [[0,1,2],[3,4,5],[6,7,8]]
    conv = _built(L.Conv2D(1, 2), (3, 3, 1))
    conv.kernel.value[...] = np.array([[1, 2], [3, 4]], np.float32).reshape(2, 2, 1, 1)
    conv.bias.value[...] = 0.5
    y = conv.forward(x)[0, :, :, 0]
    # top-left: 0*1 + 1*2 + 3*3 + 4*4 = 27, plus bias
    np.testing.assert_array_equal(y, [[27.5, 37.5], [57.5, 67.5]])


def test_same_padding_puts_the_odd_cell_bottom_right():
    # 4x4 input, 2x2 kernel of ones, stride 1, SAME: pad 0 before, 1 after on each axis.
    conv = _built(L.Conv2D(1, 2, padding="same", use_bias=False), (4, 4, 1))
    conv.kernel.value[...] = 1
    x = np.zeros((1, 4, 4, 1), np.float32)
    x[0, 3, 3, 0] = 1  # only the bottom-right corner is set
    y = conv.forward(x)[0, :, :, 0]
    assert y.shape == (4, 4)
    assert y[3, 3] == 1 and y[2, 2] == 1  # bottom-right window sees it (padding is after)
    assert conv.pads == ((0, 1), (0, 1))


def test_maxpool_tie_sends_gradient_to_first_maximum_only():
    pool = _built(L.MaxPooling2D(2), (2, 2, 1))
    x = np.array([[3, 3], [3, 1]], np.float32).reshape(1, 2, 2, 1)
    assert pool.forward(x)[0, 0, 0, 0] == 3
    dx = pool.backward(np.ones((1, 1, 1, 1), np.float32))[0, :, :, 0]
    np.testing.assert_array_equal(dx, [[1, 0], [0, 0]])


def test_maxpool_overlapping_windows_add_up():
    pool = _built(L.MaxPooling2D(pool_size=2, strides=1), (3, 3, 1))
    x = np.zeros((1, 3, 3, 1), np.float32)
    x[0, 1, 1, 0] = 5  # the centre wins all four windows
    pool.forward(x)
    dx = pool.backward(np.ones((1, 2, 2, 1), np.float32))[0, :, :, 0]
    assert dx[1, 1] == 4 and dx.sum() == 4


def test_maxpool_same_padding_is_never_a_candidate():
    pool = _built(L.MaxPooling2D(2, padding="same"), (3, 3, 1))
    y = pool.forward(np.full((1, 3, 3, 1), -5, np.float32))
    np.testing.assert_array_equal(y, np.full((1, 2, 2, 1), -5))


def test_flatten_is_c_order_of_nhwc():
    x = np.arange(2 * 3 * 2, dtype=np.float32).reshape(1, 2, 3, 2)
    flat = _built(L.Flatten(), (2, 3, 2)).forward(x)
    h, w, c = 1, 2, 1
    assert flat[0, (h * 3 + w) * 2 + c] == x[0, h, w, c]


def test_relu_gradient_is_zero_at_exactly_zero():
    act = _built(L.Activation("relu"), (3,))
    act.forward(np.array([[-1.0, 0.0, 2.0]], np.float32))
    np.testing.assert_array_equal(act.backward(np.ones((1, 3), np.float32)), [[0, 0, 1]])


def test_softmax_last_layer_makes_the_loss_read_logits():
    """PARITY.md's trap: logits [40, -40], label 1 -> 80.0 in Keras, not -log(1e-7) = 16.118."""
    model = sn.Sequential([L.Input((2,)), L.Dense(2, activation="softmax", use_bias=False)])
    model.layers[0].kernel.value[...] = np.eye(2)
    model.compile(optimizer="sgd", loss=sn.losses.SparseCategoricalCrossentropy())
    loss, grads = model.loss_and_grads(np.array([[40.0, -40.0]]), np.array([1]))
    assert loss == pytest.approx(80.0, rel=1e-6)
    # dL/dz = softmax(z) - onehot = [1, -1]; dL/dW = x^T dz
    np.testing.assert_allclose(grads[0], [[40, -40], [-40, 40]], rtol=1e-6)


def test_probabilities_loss_clips_without_a_softmax_layer():
    loss = sn.losses.SparseCategoricalCrossentropy()
    # p = [1, 0] clipped to [1 - 1e-7, 1e-7]: -log(1e-7) + log(1) = 16.118
    assert loss(np.array([1]), np.array([[1.0, 0.0]])) == pytest.approx(16.118095, rel=1e-6)


def test_partial_last_batch_is_averaged_over_its_own_size():
    model = sn.Sequential([L.Input((1,)), L.Dense(1, use_bias=False, kernel_initializer="zeros")])
    model.compile(optimizer=sn.optimizers.SGD(learning_rate=0.0), loss="mse")
    y = np.array([[1.0], [1.0], [1.0], [3.0], [3.0]])  # batches of 2: losses 1, 5, 9
    history = model.fit(np.ones((5, 1)), y, batch_size=2, epochs=1, shuffle=False, verbose=0)
    # epoch loss = (2*1 + 2*5 + 1*9) / 5
    assert history.history["loss"][0] == pytest.approx(21 / 5)
