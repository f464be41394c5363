"""Optimizer steps against the formulas written out by hand, step by step."""

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.layers.base import Parameter


def _run(opt, grads, w0):
    p = Parameter("layer/w", np.array(w0, dtype=np.float32))
    trace = []
    for g in grads:
        p.grad = np.array(g, dtype=np.float32)
        opt.apply([p])
        trace.append(p.value.copy())
    return trace


GRADS = [[0.5, -1.0], [0.25, 2.0], [-0.75, 0.1]]


def test_sgd_plain():
    trace = _run(sn.optimizers.SGD(0.1), GRADS, [1.0, 1.0])
    np.testing.assert_allclose(trace[0], [1 - 0.05, 1 + 0.1])
    np.testing.assert_allclose(trace[2], [1 - 0.1 * (0.5 + 0.25 - 0.75), 1 - 0.1 * (-1 + 2 + 0.1)],
                               rtol=1e-6)


def test_sgd_momentum_and_nesterov():
    lr, mu = 0.1, 0.9
    w, v = np.array([1.0, 1.0]), np.zeros(2)
    wn, vn = w.copy(), v.copy()
    for g in map(np.array, GRADS):
        v = mu * v - lr * g
        w = w + v
        vn = mu * vn - lr * g
        wn = wn + mu * vn - lr * g
    np.testing.assert_allclose(_run(sn.optimizers.SGD(lr, momentum=mu), GRADS, [1, 1])[-1], w,
                               rtol=1e-6)
    np.testing.assert_allclose(
        _run(sn.optimizers.SGD(lr, momentum=mu, nesterov=True), GRADS, [1, 1])[-1], wn, rtol=1e-6)


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_epsilon_hat(amsgrad):
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-7
    w, m, v, vhat = np.array([1.0, 1.0]), np.zeros(2), np.zeros(2), np.zeros(2)
    for t, g in enumerate(map(np.array, GRADS), start=1):
        alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        vhat = np.maximum(vhat, v)
        w = w - m * alpha / (np.sqrt(vhat if amsgrad else v) + eps)
    got = _run(sn.optimizers.Adam(lr, amsgrad=amsgrad), GRADS, [1, 1])[-1]
    np.testing.assert_allclose(got, w, rtol=1e-6)


def test_adam_first_step_moves_each_weight_by_about_lr():
    trace = _run(sn.optimizers.Adam(0.001), [[3.0, -0.5]], [0.0, 0.0])
    np.testing.assert_allclose(trace[0], [-0.001, 0.001], rtol=1e-3)


def test_iterations_count_and_schedule_sees_zero_based_step():
    seen = []
    opt = sn.optimizers.SGD(lambda step: seen.append(step) or 0.1)
    _run(opt, GRADS, [0.0, 0.0])
    assert seen == [0, 1, 2] and opt.iterations == 3


def test_clipnorm_clipvalue_global_clipnorm_and_weight_decay():
    g = [[3.0, 4.0]]  # norm 5
    np.testing.assert_allclose(_run(sn.optimizers.SGD(1.0, clipnorm=1.0), g, [0, 0])[0],
                               [-0.6, -0.8], rtol=1e-6)
    np.testing.assert_allclose(_run(sn.optimizers.SGD(1.0, clipvalue=3.5), g, [0, 0])[0],
                               [-3.0, -3.5], rtol=1e-6)
    np.testing.assert_allclose(_run(sn.optimizers.SGD(1.0, global_clipnorm=2.5), g, [0, 0])[0],
                               [-1.5, -2.0], rtol=1e-6)
    # weight decay first: w -= w * wd * lr, then the update
    np.testing.assert_allclose(_run(sn.optimizers.SGD(0.1, weight_decay=0.5), [[0.0, 1.0]],
                                    [2.0, 2.0])[0], [1.9, 1.8], rtol=1e-6)


def test_state_is_keyed_by_parameter_name():
    opt = sn.optimizers.Adam()
    _run(opt, GRADS[:1], [0.0, 0.0])
    assert sorted(opt.state) == ["layer/w/m", "layer/w/v"]
