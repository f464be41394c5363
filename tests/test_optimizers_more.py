"""Adamax, Adadelta and Lion in scratchnet alone: steps against the formulas written out by hand in
float64, first steps worked on paper, Keras' names and defaults, the options every optimizer has,
saving the state, and bad input."""

import math

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.layers.base import Parameter

O = sn.optimizers
GRADS = [[0.5, -1.0], [0.25, 2.0], [-0.75, 0.1], [0.0, -0.3], [1.5, 0.0]]


def _run(opt, grads=GRADS, w0=(1.0, -2.0), name="layer/kernel"):
    p = Parameter(name, np.array(w0, dtype=np.float32))
    trace = []
    for g in grads:
        p.grad = np.array(g, dtype=np.float32)
        opt.apply([p])
        trace.append(p.value.copy())
    return trace


# ----------------------------------------------------------------------------- the formulas
@pytest.mark.parametrize("lr, b1, b2, eps", [(0.01, 0.9, 0.999, 1e-7), (0.1, 0.5, 0.8, 1e-3)])
def test_adamax_matches_the_formulas(lr, b1, b2, eps):
    w, m, u = np.array([1.0, -2.0]), np.zeros(2), np.zeros(2)
    for t, g in enumerate(map(np.array, GRADS), start=1):
        m = m + (g - m) * (1 - b1)
        u = np.maximum(b2 * u, np.abs(g))
        w = w - lr * m / ((1 - b1**t) * (u + eps))
    opt = O.Adamax(lr, beta_1=b1, beta_2=b2, epsilon=eps)
    np.testing.assert_allclose(_run(opt)[-1], w, rtol=1e-6)
    assert set(opt.state) == {"layer/kernel/m", "layer/kernel/u"}
    np.testing.assert_allclose(opt.state["layer/kernel/u"], u, rtol=1e-6)


def test_adamax_first_step_is_lr_times_the_sign():
    """t = 1: m = 0.1 g, u = |g|, so the step is lr * 0.1 g / (0.1 (|g| + eps)) ~ lr * sign(g)."""
    trace = _run(O.Adamax(0.5), [[2.0, -0.001]], [0.0, 0.0])
    np.testing.assert_allclose(trace[0], [-0.5 * 2 / (2 + 1e-7), 0.5 * 1e-3 / (1e-3 + 1e-7)],
                               rtol=1e-6)


@pytest.mark.parametrize("lr, rho, eps", [(1.0, 0.95, 1e-7), (0.5, 0.6, 1e-2)])
def test_adadelta_matches_the_formulas(lr, rho, eps):
    w, eg2, edx2 = np.array([1.0, -2.0]), np.zeros(2), np.zeros(2)
    for g in map(np.array, GRADS):
        eg2 = rho * eg2 + (1 - rho) * g**2
        delta = -np.sqrt(edx2 + eps) * g / np.sqrt(eg2 + eps)
        edx2 = rho * edx2 + (1 - rho) * delta**2
        w = w + lr * delta
    opt = O.Adadelta(lr, rho=rho, epsilon=eps)
    np.testing.assert_allclose(_run(opt)[-1], w, rtol=1e-6)
    assert set(opt.state) == {"layer/kernel/accumulated_grad", "layer/kernel/accumulated_delta_var"}
    np.testing.assert_allclose(opt.state["layer/kernel/accumulated_delta_var"], edx2, rtol=1e-5)


def test_adadelta_first_step_on_paper():
    """g = 1: E[g^2] = 0.05, delta = -sqrt(1e-7) / sqrt(0.05 + 1e-7) = -0.0014142...: Keras'
    default learning rate 0.001 then moves the weight by only 1.4e-6."""
    trace = _run(O.Adadelta(1.0), [[1.0]], [0.0])
    np.testing.assert_allclose(trace[0], [-math.sqrt(1e-7) / math.sqrt(0.05 + 1e-7)], rtol=1e-6)
    assert O.Adadelta().learning_rate == 0.001


@pytest.mark.parametrize("lr, b1, b2", [(0.01, 0.9, 0.99), (0.1, 0.5, 0.3), (0.1, 1.0, 0.0)])
def test_lion_matches_the_formulas(lr, b1, b2):
    w, m = np.array([1.0, -2.0]), np.zeros(2)
    for g in map(np.array, GRADS):
        w = w - lr * np.sign(b1 * m + (1 - b1) * g)
        m = b2 * m + (1 - b2) * g
    opt = O.Lion(lr, beta_1=b1, beta_2=b2)
    np.testing.assert_allclose(_run(opt)[-1], w, rtol=1e-6)
    assert set(opt.state) == {"layer/kernel/m"}
    np.testing.assert_allclose(opt.state["layer/kernel/m"], m, rtol=1e-6, atol=1e-7)


def test_lion_steps_are_exactly_lr_per_coordinate_and_zero_where_the_sign_is_zero():
    trace = _run(O.Lion(0.25), [[3.0, 0.0, -1e-6]], [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(trace[0], [-0.25, 0.0, 0.25])


def test_lion_rounds_one_minus_beta_in_float32_as_keras():
    """Keras casts beta_2 to float32 before 1 - beta_2: float32(1) - float32(0.99), which is
    0.00999999 (not float32(0.01)); after one step from m = 0, m = g * that, exactly."""
    opt = O.Lion(0.1)
    _run(opt, [[1.0, 3.0]], [0.0, 0.0])
    one_minus = np.float32(1) - np.float32(0.99)
    assert one_minus != np.float32(0.01)
    np.testing.assert_array_equal(opt.state["layer/kernel/m"],
                                  np.array([1.0, 3.0], np.float32) * one_minus)


@pytest.mark.parametrize("make", [lambda: O.Adamax(0.1, weight_decay=0.5),
                                  lambda: O.Adadelta(0.1, weight_decay=0.5),
                                  lambda: O.Lion(0.1, weight_decay=0.5)])
def test_weight_decay_acts_before_the_update(make):
    """With a zero gradient the update itself is zero (Adamax: m = 0; Adadelta: delta = 0; Lion:
    sign(0) = 0), so only the decay w <- w - w * wd * lr moves the weight."""
    trace = _run(make(), [[0.0], [0.0]], [2.0])
    np.testing.assert_allclose([t[0] for t in trace], [1.9, 1.9 * 0.95], rtol=1e-6)


def test_clipnorm_reaches_lion_and_adamax():
    """Lion's step is the sign, clipped or not; Adamax's first step is lr * g / (|g| + eps) whose
    eps term shows the clipping: g = [3, 4] clipped to norm 1 is [0.6, 0.8]."""
    clipped = _run(O.Adamax(1.0, epsilon=0.1, clipnorm=1.0), [[3.0, 4.0]], [0.0, 0.0])[0]
    np.testing.assert_allclose(clipped, [-0.6 / 0.7, -0.8 / 0.9], rtol=1e-6)


# ----------------------------------------------------------------------------- Keras' names
KERAS_DEFAULTS = {
    "adamax": (O.Adamax, {"name": "adamax", "learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999,
                          "epsilon": 1e-7}),
    "adadelta": (O.Adadelta, {"name": "adadelta", "learning_rate": 0.001, "rho": 0.95,
                              "epsilon": 1e-7}),
    "lion": (O.Lion, {"name": "lion", "learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.99}),
}


@pytest.mark.parametrize("name", sorted(KERAS_DEFAULTS))
def test_string_names_resolve_as_keras_with_keras_defaults(name):
    cls, defaults = KERAS_DEFAULTS[name]
    for spelling in (name, name.upper(), cls.__name__):
        assert type(O.get(spelling)) is cls
    config = O.get(name).get_config()
    assert config == {**defaults, "weight_decay": None, "clipnorm": None, "global_clipnorm": None,
                      "clipvalue": None, "use_ema": False, "ema_momentum": 0.99,
                      "ema_overwrite_frequency": None, "loss_scale_factor": None,
                      "gradient_accumulation_steps": None}
    model = sn.Sequential([sn.layers.Input((3,)), sn.layers.Dense(2)], seed=0)
    model.compile(optimizer=name, loss="mse")
    assert type(model.optimizer) is cls


@pytest.mark.parametrize("make", [
    lambda: O.Adamax(0.01, beta_1=0.8, beta_2=0.95, epsilon=1e-4, clipvalue=0.5, name="ax"),
    lambda: O.Adadelta(1.0, rho=0.9, epsilon=1e-6, weight_decay=0.01),
    lambda: O.Lion(O.schedules.ExponentialDecay(0.01, 3, 0.5), beta_1=0.8, beta_2=0.95,
                   global_clipnorm=1.0),
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
    before, after = model.optimizer, loaded.optimizer
    config, expected = after.get_config(), before.get_config()
    if suffix == ".keras":  # as for every optimizer in a .keras file: the name is not read
        # back, and a float rate comes back from Keras' float32 variable
        del config["name"], expected["name"]
        if isinstance(expected["learning_rate"], float):
            assert np.float32(config.pop("learning_rate")) == np.float32(
                expected.pop("learning_rate"))
    assert type(after) is type(before) and config == expected
    assert after.iterations == 3 and after.state.keys() == before.state.keys()
    for key in before.state:
        np.testing.assert_array_equal(after.state[key], before.state[key])
    model.train_step(x, y)
    loaded.train_step(x, y)
    for w, w_loaded in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(w, w_loaded)


def test_serialize_writes_keras_form():
    spec = O.serialize(O.Lion(0.002, beta_2=0.9))
    assert spec["module"] == "keras.optimizers" and spec["class_name"] == "Lion"
    assert spec["config"]["beta_2"] == 0.9 and spec["config"]["name"] == "lion"
    back = O.deserialize(spec)
    assert type(back) is O.Lion and back.get_config() == O.Lion(0.002, beta_2=0.9).get_config()


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("make, exc, fragments", [
    (lambda: O.Lion(beta_1=0.0), ValueError, ["Lion", "beta_1", "(0, 1]", "SignSGD", "0.0"]),
    (lambda: O.Lion(beta_1=1.5), ValueError, ["Lion", "beta_1", "1.5"]),
    (lambda: O.Lion(beta_2=-0.1), ValueError, ["Lion", "beta_2", "-0.1"]),
    (lambda: O.Lion(epsilon=1e-7), TypeError, ["epsilon"]),  # Keras' Lion has no epsilon either
    (lambda: O.Adamax(beta_1=1.0), ValueError, ["Adamax", "beta_1", "[0, 1)"]),
    (lambda: O.Adamax(beta_2=1.2), ValueError, ["Adamax", "beta_2", "1.2"]),
    (lambda: O.Adamax(epsilon=0.0), ValueError, ["Adamax", "epsilon", "0.0"]),
    (lambda: O.Adadelta(rho=1.5), ValueError, ["Adadelta", "rho", "1.5"]),
    (lambda: O.Adadelta(epsilon=-1.0), ValueError, ["Adadelta", "epsilon", "-1.0"]),
    (lambda: O.Adadelta(-0.1), ValueError, ["Adadelta", "learning_rate", "-0.1"]),
    (lambda: O.Adamax(clipnorm=1.0, clipvalue=1.0), ValueError, ["Adamax", "clipnorm", "clipvalue"]),
    (lambda: O.Lion(weight_decay=-1.0), ValueError, ["Lion", "weight_decay", "-1.0"]),
])
def test_bad_input_gets_a_clear_error(make, exc, fragments):
    with pytest.raises(exc) as info:
        make()
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))
