"""Moving averages of the weights (``use_ema=True``) and SwapEMAWeights in scratchnet alone: the
average's formula step by step, the first step's average equal to the weight, the overwrite
every ``ema_overwrite_frequency`` updates, fit's final swap to the averages, the callback's swap
there and back, saving the averages, and bad arguments. Keras parity: parity_tests/test_ema_keras.py."""

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.layers.base import Parameter

O = sn.optimizers


def _steps(opt, grads, w0=(1.0, -2.0)):
    p = Parameter("layer/kernel", np.array(w0, dtype=np.float32))
    weights, averages = [], []
    for g in grads:
        p.grad = np.array(g, dtype=np.float32)
        opt.apply([p])
        weights.append(p.value.copy())
        averages.append(opt.state["layer/kernel/average"].copy())
    return p, weights, averages


def test_average_follows_the_formula():
    grads = [[1.0, -1.0], [0.5, 0.5], [-2.0, 1.0]]
    _, weights, averages = _steps(O.SGD(0.1, use_ema=True, ema_momentum=0.9), grads)
    np.testing.assert_array_equal(averages[0], weights[0])  # m = 0 at the first update
    expected = averages[0]
    for w, a in zip(weights[1:], averages[1:], strict=True):
        expected = 0.9 * expected + 0.1 * w
        np.testing.assert_allclose(a, expected, rtol=1e-6)


def test_overwrite_every_k_updates():
    grads = [[1.0, 1.0]] * 6
    _, weights, averages = _steps(O.SGD(0.5, use_ema=True, ema_momentum=0.5,
                                        ema_overwrite_frequency=3), grads)
    for step, (w, a) in enumerate(zip(weights, averages, strict=True), start=1):
        if step % 3 == 0:
            np.testing.assert_array_equal(w, a)  # the weight became its average
        elif step > 1:
            assert not np.array_equal(w, a)


def test_fit_ends_on_the_averages_and_swap_goes_there_and_back():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 3)).astype(np.float32), rng.integers(0, 2, 32)
    model = sn.Sequential([sn.layers.Input((3,)), sn.layers.Dense(2)], seed=0)
    model.compile(optimizer=O.Adam(0.05, use_ema=True, ema_momentum=0.5),
                  loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    for p in model.params:
        np.testing.assert_array_equal(p.value, model.optimizer.state[f"{p.name}/average"])
    swap = sn.callbacks.SwapEMAWeights()
    swap.set_model(model)
    model.optimizer.state[f"{model.params[0].name}/average"][...] += 1.0  # make them differ
    before = [p.value.copy() for p in model.params]
    swap.on_test_begin()
    assert not np.array_equal(model.params[0].value, before[0])
    swap.on_test_end()
    for p, b in zip(model.params, before, strict=True):  # back, to within the swap's rounding
        np.testing.assert_allclose(p.value, b, rtol=0, atol=4 * np.spacing(np.float32(2)))


@pytest.mark.parametrize("suffix", [".npz", ".keras"])
def test_save_and_load_keep_the_averages(suffix, tmp_path):
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(16, 3)).astype(np.float32), rng.normal(size=(16, 2)).astype(np.float32)
    model = sn.Sequential([sn.layers.Input((3,)), sn.layers.Dense(2)], seed=0)
    model.compile(optimizer=O.RMSprop(0.01, use_ema=True, ema_overwrite_frequency=5), loss="mse")
    for _ in range(3):
        model.train_step(x, y)
    model.save(tmp_path / f"m{suffix}")
    loaded = sn.load_model(tmp_path / f"m{suffix}")
    assert loaded.optimizer.use_ema and loaded.optimizer.ema_overwrite_frequency == 5
    for key, value in model.optimizer.state.items():
        np.testing.assert_array_equal(loaded.optimizer.state[key], value)


@pytest.mark.parametrize("make, error, pattern", [
    (lambda: O.Adam(use_ema=True, ema_momentum=1.5), ValueError, "ema_momentum"),
    (lambda: O.Adam(use_ema=True, ema_overwrite_frequency=0), ValueError, "ema_overwrite_frequency"),
    (lambda: O.SGD(use_ema="yes"), TypeError, "use_ema"),
])
def test_bad_arguments_name_themselves(make, error, pattern):
    with pytest.raises(error, match=pattern):
        make()


def test_swap_without_use_ema_is_an_error():
    model = sn.Sequential([sn.layers.Input((3,)), sn.layers.Dense(2)], seed=0)
    model.compile(optimizer="adam", loss="mse")
    swap = sn.callbacks.SwapEMAWeights()
    swap.set_model(model)
    with pytest.raises(ValueError, match="use_ema=True"):
        swap.on_test_begin()
