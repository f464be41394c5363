"""Property-based sweeps: Conv2D and MaxPooling2D against TensorFlow's own ops over input sizes,
kernel sizes, strides, dilations and padding, forward and backward, on every scratchnet backend.

TensorFlow is called directly (``tf.nn.convolution``, ``tf.nn.max_pool2d``, which Keras' layers run),
so an example costs milliseconds rather than a Keras model build. Half the examples use small
integers, which make max-pool ties common and conv sums exact.
"""

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import assume, given
from hypothesis import strategies as st

import scratchnet as sn
from parity_tests.driver import FORWARD_RTOL, GRAD_RTOL, SWEEP_SETTINGS, assert_close


def available_backends() -> list[str]:
    """``numpy`` always; ``numba`` where it imports (its twins must match TensorFlow too)."""
    current, backends = sn.get_backend(), []
    for name in sn.kernels.BACKENDS:
        try:
            sn.set_backend(name)
        except ValueError:
            continue
        backends.append(name)
    sn.set_backend(current)
    return backends


BACKENDS = available_backends()


@st.composite
def geometry(draw, dilation: bool):
    """Input size, window size, strides, dilation and padding that give a non-empty output."""
    padding = draw(st.sampled_from(["valid", "same"]))
    h, w = draw(st.integers(1, 10)), draw(st.integers(1, 10))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dh = dw = 1
    if dilation and sh == sw == 1:  # Keras and TF refuse strides > 1 with dilation > 1
        dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    if padding == "valid":
        assume((kh - 1) * dh + 1 <= h and (kw - 1) * dw + 1 <= w)
    return dict(h=h, w=w, kernel=(kh, kw), strides=(sh, sw), dilation=(dh, dw), padding=padding)


def values(rng, shape, integers: bool) -> np.ndarray:
    if integers:
        return rng.integers(-2, 3, size=shape).astype(np.float32)
    return rng.normal(size=shape).astype(np.float32)


@pytest.mark.parametrize("backend", BACKENDS)
@SWEEP_SETTINGS
@given(g=geometry(dilation=True), n=st.integers(1, 3), channels=st.integers(1, 3),
       filters=st.integers(1, 3), integers=st.booleans(), seed=st.integers(0, 2**16))
def test_conv2d_matches_tf_nn_convolution(backend, g, n, channels, filters, integers, seed):
    sn.set_backend(backend)
    rng = np.random.default_rng(seed)
    layer = sn.layers.Conv2D(filters, g["kernel"], strides=g["strides"], padding=g["padding"],
                             dilation_rate=g["dilation"])
    layer.ensure_built((g["h"], g["w"], channels), rng)
    layer.kernel.value[...] = values(rng, layer.kernel.shape, integers)
    layer.bias.value[...] = values(rng, layer.bias.shape, integers)
    x = values(rng, (n, g["h"], g["w"], channels), integers)

    y = layer.forward(x)  # (N, OH, OW, F)
    dy = values(rng, y.shape, integers)
    dx = layer.backward(dy)

    xt, kt, bt = tf.constant(x), tf.constant(layer.kernel.value), tf.constant(layer.bias.value)
    with tf.GradientTape() as tape:
        tape.watch([xt, kt, bt])
        yt = tf.nn.convolution(xt, kt, strides=g["strides"], padding=g["padding"].upper(),
                          dilations=g["dilation"]) + bt
    dxt, dkt, dbt = tape.gradient(yt, [xt, kt, bt], output_gradients=tf.constant(dy))
    where = f"Conv2D {g}, n={n}, c={channels}, f={filters}, backend={backend}"
    assert_close(y, yt, FORWARD_RTOL, f"{where}: output")
    assert_close(dx, dxt, GRAD_RTOL, f"{where}: dL/dx")
    assert_close(layer.kernel.grad, dkt, GRAD_RTOL, f"{where}: dL/dkernel")
    assert_close(layer.bias.grad, dbt, GRAD_RTOL, f"{where}: dL/dbias")


@pytest.mark.parametrize("backend", BACKENDS)
@SWEEP_SETTINGS
@given(g=geometry(dilation=False), n=st.integers(1, 3), channels=st.integers(1, 3),
       integers=st.booleans(), seed=st.integers(0, 2**16))
def test_max_pooling2d_matches_tf_nn_max_pool2d(backend, g, n, channels, integers, seed):
    """Integer inputs are full of ties: the gradient must go to TF's choice, the first maximum."""
    sn.set_backend(backend)
    rng = np.random.default_rng(seed)
    layer = sn.layers.MaxPooling2D(g["kernel"], strides=g["strides"], padding=g["padding"])
    layer.ensure_built((g["h"], g["w"], channels), rng)
    x = values(rng, (n, g["h"], g["w"], channels), integers)

    y = layer.forward(x)
    dy = values(rng, y.shape, integers=False)
    dx = layer.backward(dy)

    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        yt = tf.nn.max_pool2d(xt, ksize=g["kernel"], strides=g["strides"],
                              padding=g["padding"].upper())
    dxt = tape.gradient(yt, xt, output_gradients=tf.constant(dy))
    where = f"MaxPooling2D {g}, n={n}, c={channels}, backend={backend}"
    assert_close(y, yt, FORWARD_RTOL, f"{where}: output")
    assert_close(dx, dxt, GRAD_RTOL, f"{where}: dL/dx")
