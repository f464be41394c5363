"""Lamb, Ftrl and Adafactor in scratchnet alone: steps against the formulas written out by hand in
float64, Keras' names and defaults, saving the state (Adafactor's factored second moment
included), and bad input. Keras parity: parity_tests/test_optimizers_lamb_ftrl_adafactor_keras.py."""

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.layers.base import Parameter

O = sn.optimizers
GRADS = [[0.5, -1.0], [0.25, 2.0], [-0.75, 0.1], [0.0, -0.3], [1.5, 0.0]]


def _run(opt, grads=GRADS, w0=(1.0, -2.0), name="layer/kernel"):
    p = Parameter(name, np.array(w0, dtype=np.float32))
    for g in grads:
        p.grad = np.array(g, dtype=np.float32)
        opt.apply([p])
    return p.value.copy()


@pytest.mark.parametrize("lr, b1, b2, eps", [(0.01, 0.9, 0.999, 1e-7), (0.1, 0.5, 0.8, 1e-3)])
def test_lamb_matches_the_formulas(lr, b1, b2, eps):
    w, m, v = np.array([1.0, -2.0]), np.zeros(2), np.zeros(2)
    for t, g in enumerate(map(np.array, GRADS), start=1):
        m = m + (g - m) * (1 - b1)
        v = v + (g**2 - v) * (1 - b2)
        u = (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        w = w - np.linalg.norm(w) / np.linalg.norm(u) * lr * u
    opt = O.Lamb(lr, beta_1=b1, beta_2=b2, epsilon=eps)
    np.testing.assert_allclose(_run(opt), w, rtol=1e-5)
    assert set(opt.state) == {"layer/kernel/m", "layer/kernel/v"}


def test_lamb_steps_a_zero_weight_by_plain_adam():
    """||w|| = 0: the trust ratio is 1, so the first step from zeros is Adam's direction times lr."""
    w = _run(O.Lamb(0.1), [[2.0, -0.5]], [0.0, 0.0])
    np.testing.assert_allclose(w, [-0.1 * 2 / (2 + 1e-7), 0.1 * 0.5 / (0.5 + 1e-7)], rtol=1e-5)


@pytest.mark.parametrize("kwargs", [
    {},
    {"learning_rate_power": -0.3, "initial_accumulator_value": 0.5},
    {"l1_regularization_strength": 0.5, "l2_regularization_strength": 0.2},
    {"l2_shrinkage_regularization_strength": 0.1, "beta": 0.3},
])
def test_ftrl_matches_the_formulas(kwargs):
    lr = 0.1
    p = -kwargs.get("learning_rate_power", -0.5)
    l1 = kwargs.get("l1_regularization_strength", 0.0)
    l2 = kwargs.get("l2_regularization_strength", 0.0) + kwargs.get("beta", 0.0) / (2 * lr)
    shrink = kwargs.get("l2_shrinkage_regularization_strength", 0.0)
    w, n, z = np.array([1.0, -2.0]), np.full(2, kwargs.get("initial_accumulator_value", 0.1)), np.zeros(2)
    for g in map(np.array, GRADS):
        n_new = n + g**2
        z = z + g + 2 * shrink * w - (n_new**p - n**p) / lr * w
        w = (np.clip(z, -l1, l1) - z) / (n_new**p / lr + 2 * l2)
        n = n_new
    opt = O.Ftrl(lr, **kwargs)
    np.testing.assert_allclose(_run(opt), w, rtol=1e-5, atol=1e-7)
    # z is a difference of terms near 10 (its float32 rounding ~1e-6) that can come out near 0
    np.testing.assert_allclose(opt.state["layer/kernel/linear"], z, rtol=1e-5, atol=1e-6)


def test_ftrl_l1_keeps_weights_at_exactly_zero():
    """From zero weights z is the sum of the gradients, never above 1.5 here: under l1 = 10 each
    weight stays exactly 0; without l1 they move."""
    assert np.all(_run(O.Ftrl(0.1, l1_regularization_strength=10.0), GRADS, (0.0, 0.0)) == 0)
    assert np.all(_run(O.Ftrl(0.1), GRADS, (0.0, 0.0)) != 0)


def _adafactor_reference(w, grads, lr=0.01, decay=-0.8, eps1=1e-30, eps2=1e-3, clip=1.0,
                         relative=True):
    """Adafactor step by step in float64, for a weight of two or more axes (factored) or not."""
    w = np.array(w, dtype=np.float64)
    factored = w.ndim >= 2
    r = np.zeros(w.shape[:-1]) if factored else None
    c = np.zeros(w.shape[:-2] + w.shape[-1:]) if factored else None
    v = np.zeros(w.shape)
    for t, g in enumerate(grads, start=1):
        g = np.asarray(g, dtype=np.float64)
        step_lr = min(lr, 1 / np.sqrt(t)) if relative else lr
        alpha = max(eps2, np.sqrt(np.mean(w**2))) * min(step_lr, 1 / np.sqrt(t))
        big_g = g**2 + eps1
        beta = 1 - t**decay
        if factored:
            r = beta * r + (1 - beta) * big_g.mean(axis=-1)
            c = beta * c + (1 - beta) * big_g.mean(axis=-2)
            v = (r / r.mean(axis=-1, keepdims=True))[..., None] * c[..., None, :]
        else:
            v = beta * v + (1 - beta) * big_g
        u = g / np.sqrt(v)
        w = w - alpha * u / max(1.0, np.sqrt(np.mean(u**2)) / clip)
    return w


@pytest.mark.parametrize("kwargs", [{}, {"beta_2_decay": -0.5, "epsilon_2": 0.01, "clip_threshold": 0.5},
                                    {"relative_step": False}])
@pytest.mark.parametrize("shape", [(3,), (3, 4), (2, 3, 4)])
def test_adafactor_matches_the_formulas(shape, kwargs):
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=shape)
    grads = [rng.normal(size=shape) for _ in range(5)]
    p = Parameter("layer/kernel", w0.astype(np.float32))
    opt = O.Adafactor(2.0 if kwargs.get("relative_step") is False else 0.01, **kwargs)
    for g in grads:
        p.grad = g.astype(np.float32)
        opt.apply([p])
    lr = 2.0 if kwargs.get("relative_step") is False else 0.01
    expected = _adafactor_reference(w0, grads, lr=lr, decay=kwargs.get("beta_2_decay", -0.8),
                                    eps2=kwargs.get("epsilon_2", 1e-3),
                                    clip=kwargs.get("clip_threshold", 1.0),
                                    relative=kwargs.get("relative_step", True))
    np.testing.assert_allclose(p.value, expected, rtol=2e-5, atol=1e-6)
    keys = {"layer/kernel/v"} | ({"layer/kernel/r", "layer/kernel/c"} if len(shape) >= 2 else set())
    assert set(opt.state) == keys
    if len(shape) >= 2:  # the factors: one value per row and one per column
        assert opt.state["layer/kernel/r"].shape == shape[:-1]
        assert opt.state["layer/kernel/c"].shape == shape[:-2] + shape[-1:]


KERAS_DEFAULTS = {
    "lamb": (O.Lamb, {"name": "lamb", "learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999,
                      "epsilon": 1e-7}),
    "ftrl": (O.Ftrl, {"name": "ftrl", "learning_rate": 0.001, "learning_rate_power": -0.5,
                      "initial_accumulator_value": 0.1, "l1_regularization_strength": 0.0,
                      "l2_regularization_strength": 0.0, "l2_shrinkage_regularization_strength": 0.0,
                      "beta": 0.0}),
    "adafactor": (O.Adafactor, {"name": "adafactor", "learning_rate": 0.001, "beta_2_decay": -0.8,
                                "epsilon_1": 1e-30, "epsilon_2": 1e-3, "clip_threshold": 1.0,
                                "relative_step": True}),
}


@pytest.mark.parametrize("name", sorted(KERAS_DEFAULTS))
def test_string_names_resolve_with_keras_defaults(name):
    cls, defaults = KERAS_DEFAULTS[name]
    if name != "lamb":  # (Keras resolves no "lamb": parity_tests/..._keras.py)
        for spelling in (name, name.upper(), cls.__name__):
            assert type(O.get(spelling)) is cls
    assert cls().get_config() == {**defaults, "weight_decay": None, "clipnorm": None,
                                        "global_clipnorm": None, "clipvalue": None, "use_ema": False,
                                        "ema_momentum": 0.99,
                                        "ema_overwrite_frequency": None, "loss_scale_factor": None,
                                        "gradient_accumulation_steps": None}


@pytest.mark.parametrize("make", [
    lambda: O.Lamb(0.01, beta_1=0.8, clipnorm=1.0),
    lambda: O.Ftrl(0.05, l1_regularization_strength=0.01, initial_accumulator_value=0.2),
    lambda: O.Adafactor(0.05, clip_threshold=0.5),
    lambda: O.Adafactor(O.schedules.ExponentialDecay(0.05, 3, 0.5)),
])
@pytest.mark.parametrize("suffix", [".npz", ".keras"])
def test_save_and_load_keep_the_optimizer_and_its_state(make, suffix, tmp_path):
    x = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    y = np.random.default_rng(1).normal(size=(8, 2)).astype(np.float32)
    model = sn.Sequential([sn.layers.Input((3,)), sn.layers.Dense(2)], seed=0)
    model.compile(optimizer=make(), loss="mse")
    for _ in range(3):
        model.train_step(x, y)
    model.save(tmp_path / f"m{suffix}")
    loaded = sn.load_model(tmp_path / f"m{suffix}")
    assert type(loaded.optimizer) is type(model.optimizer) and loaded.optimizer.iterations == 3
    for key, value in model.optimizer.state.items():
        np.testing.assert_array_equal(loaded.optimizer.state[key], value)
    model.train_step(x, y)
    loaded.train_step(x, y)
    for w, w_loaded in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(w, w_loaded)


@pytest.mark.parametrize("make, exc, fragments", [
    (lambda: O.Lamb(beta_1=1.0), ValueError, ["Lamb", "beta_1"]),
    (lambda: O.Lamb(epsilon=0.0), ValueError, ["Lamb", "epsilon"]),
    (lambda: O.Ftrl(learning_rate_power=0.5), ValueError, ["Ftrl", "learning_rate_power", "0.5"]),
    (lambda: O.Ftrl(initial_accumulator_value=-1.0), ValueError, ["initial_accumulator_value"]),
    (lambda: O.Ftrl(l1_regularization_strength=-0.1), ValueError, ["l1_regularization_strength"]),
    (lambda: O.Ftrl(beta="0"), ValueError, ["Ftrl", "beta"]),
    (lambda: O.Adafactor(beta_2_decay=0.5), ValueError, ["Adafactor", "beta_2_decay", "0.5"]),
    (lambda: O.Adafactor(epsilon_2=-1.0), ValueError, ["Adafactor", "epsilon_2"]),
    (lambda: O.Adafactor(relative_step="yes"), TypeError, ["Adafactor", "relative_step"]),
])
def test_bad_input_gets_a_clear_error(make, exc, fragments):
    with pytest.raises(exc) as info:
        make()
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))
