"""RMSprop, Adagrad, AdamW, Nadam and the learning-rate schedules: steps against the formulas
written out by hand in float64, a few values worked out on paper, Keras' names and defaults,
bad input, and saving an optimizer that has a schedule."""

import math

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.layers.base import Parameter
from scratchnet.optimizers import schedules
from scratchnet.optimizers.schedules import (
    CosineDecay,
    CosineDecayRestarts,
    ExponentialDecay,
    InverseTimeDecay,
    PiecewiseConstantDecay,
    PolynomialDecay,
)

O = sn.optimizers
GRADS = [[0.5, -1.0], [0.25, 2.0], [-0.75, 0.1], [0.0, -0.3]]


def _run(opt, grads=GRADS, w0=(1.0, -2.0), name="layer/kernel"):
    p = Parameter(name, np.array(w0, dtype=np.float32))
    trace = []
    for g in grads:
        p.grad = np.array(g, dtype=np.float32)
        opt.apply([p])
        trace.append(p.value.copy())
    return trace


# ----------------------------------------------------------------------------- the formulas
@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("centered", [False, True])
def test_rmsprop_matches_the_formulas(momentum, centered):
    lr, rho, eps = 0.01, 0.8, 1e-3
    w, v, a, m = np.array([1.0, -2.0]), np.zeros(2), np.zeros(2), np.zeros(2)
    for g in map(np.array, GRADS):
        v = rho * v + (1 - rho) * g**2
        a = rho * a + (1 - rho) * g
        denominator = v - a**2 + eps if centered else v + eps
        increment = lr * g / np.sqrt(denominator)
        m = momentum * m + increment
        w = w - (m if momentum else increment)
    opt = O.RMSprop(lr, rho=rho, momentum=momentum, epsilon=eps, centered=centered)
    np.testing.assert_allclose(_run(opt)[-1], w, rtol=1e-6)
    slots = {"velocity"} | ({"momentum"} if momentum else set())
    slots |= {"average_gradient"} if centered else set()
    assert set(opt.state) == {f"layer/kernel/{s}" for s in slots}


def test_rmsprop_epsilon_is_inside_the_square_root():
    """One step from v = 0 with g = 1, rho = 0.9, epsilon = 1: v = 0.1, and Keras divides by
    sqrt(0.1 + 1) = 1.0488..., not by sqrt(0.1) + 1 = 1.3162..."""
    trace = _run(O.RMSprop(1.0, epsilon=1.0), [[1.0]], [0.0])
    np.testing.assert_allclose(trace[0], [-1 / math.sqrt(1.1)], rtol=1e-6)  # -0.95346...


def test_adagrad_matches_the_formulas_and_a_value_on_paper():
    lr, acc0, eps = 0.1, 0.1, 1e-7
    w, acc = np.array([1.0, -2.0]), np.full(2, acc0)
    for g in map(np.array, GRADS):
        acc = acc + g**2
        w = w - lr * g / np.sqrt(acc + eps)
    trace = _run(O.Adagrad(lr))
    np.testing.assert_allclose(trace[-1], w, rtol=1e-6)
    # first step on paper: accumulator 0.1 + 0.25 = 0.35; 1 - 0.1 * 0.5 / sqrt(0.35) = 0.915484...
    np.testing.assert_allclose(trace[0][0], 1 - 0.05 / math.sqrt(0.35 + 1e-7), rtol=1e-6)


def test_adagrad_initial_accumulator_value():
    opt = O.Adagrad(1.0, initial_accumulator_value=3.0, epsilon=1e-7)
    trace = _run(opt, [[1.0]], [0.0])  # accumulator 3 + 1 = 4: step 1 / 2
    np.testing.assert_allclose(trace[0], [-0.5], rtol=1e-6)
    np.testing.assert_allclose(opt.state["layer/kernel/accumulator"], [4.0])
    # epsilon inside the square root: 1 / sqrt(1 + 1), not 1 / (sqrt(1) + 1)
    trace = _run(O.Adagrad(1.0, initial_accumulator_value=0.0, epsilon=1.0), [[1.0]], [0.0])
    np.testing.assert_allclose(trace[0], [-1 / math.sqrt(2)], rtol=1e-6)


def _adam_reference(w, grads, lr, b1=0.9, b2=0.999, eps=1e-7, wd=0.0):
    m, v = np.zeros_like(w), np.zeros_like(w)
    for t, g in enumerate(map(np.array, grads), start=1):
        w = w - w * wd * lr  # decoupled weight decay, before the Adam step
        alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        w = w - m * alpha / (np.sqrt(v) + eps)
    return w


def test_adamw_is_adam_after_decoupled_weight_decay():
    w0 = np.array([1.0, -2.0])
    got = _run(O.AdamW(0.01, weight_decay=0.5))[-1]
    np.testing.assert_allclose(got, _adam_reference(w0, GRADS, 0.01, wd=0.5), rtol=1e-6)
    # the default decay is 0.004, and Adam with the same weight_decay computes the same thing
    assert O.AdamW().weight_decay == 0.004
    np.testing.assert_array_equal(_run(O.AdamW(0.01))[-1],
                                  _run(O.Adam(0.01, weight_decay=0.004))[-1])
    # the decay really acts: a zero gradient still shrinks the weight by lr * wd
    np.testing.assert_allclose(_run(O.AdamW(0.1, weight_decay=0.5), [[0.0]], [2.0])[0], [1.9],
                               rtol=1e-6)


def test_nadam_matches_the_formulas():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-7
    w, m, v, u_product = np.array([1.0, -2.0]), np.zeros(2), np.zeros(2), 1.0
    for t, g in enumerate(map(np.array, GRADS), start=1):
        u_t = b1 * (1 - 0.5 * 0.96**t)
        u_next = b1 * (1 - 0.5 * 0.96 ** (t + 1))
        u_product = u_product * u_t
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        m_hat = u_next * m / (1 - u_product * u_next) + (1 - u_t) * g / (1 - u_product)
        v_hat = v / (1 - b2**t)
        w = w - m_hat * lr / (np.sqrt(v_hat) + eps)
    opt = O.Nadam(lr)
    np.testing.assert_allclose(_run(opt)[-1], w, rtol=1e-6)
    np.testing.assert_allclose(opt.state["u_product"], u_product, rtol=1e-6)
    assert set(opt.state) == {"u_product", "layer/kernel/m", "layer/kernel/v"}


def test_nadam_advances_u_product_once_per_step_for_all_parameters():
    opt = O.Nadam(0.01)
    p1, p2 = Parameter("a/kernel", np.ones(2, np.float32)), Parameter("a/bias", np.ones(1, np.float32))
    p1.grad, p2.grad = np.ones(2, np.float32), np.ones(1, np.float32)
    opt.apply([p1, p2])
    np.testing.assert_allclose(opt.state["u_product"], 0.9 * (1 - 0.5 * 0.96), rtol=1e-6)


# ----------------------------------------------------------------------------- schedules
@pytest.mark.parametrize("schedule, step, expected", [
    (ExponentialDecay(0.1, 10, 0.5), 0, 0.1),
    (ExponentialDecay(0.1, 10, 0.5), 5, 0.1 * 0.5**0.5),
    (ExponentialDecay(0.1, 10, 0.5), 20, 0.025),
    (ExponentialDecay(0.1, 10, 0.5, staircase=True), 9, 0.1),
    (ExponentialDecay(0.1, 10, 0.5, staircase=True), 15, 0.05),
    (CosineDecay(1.0, 10), 0, 1.0),
    (CosineDecay(1.0, 10), 5, 0.5),
    (CosineDecay(1.0, 10), 10, 0.0),
    (CosineDecay(1.0, 10), 100, 0.0),  # held at the end
    (CosineDecay(1.0, 10, alpha=0.2), 5, 0.8 * 0.5 + 0.2),
    (CosineDecay(1.0, 10, alpha=0.2), 50, 0.2),
    (CosineDecay(0.0, 10, warmup_target=1.0, warmup_steps=4), 0, 0.0),
    (CosineDecay(0.0, 10, warmup_target=1.0, warmup_steps=4), 2, 0.5),
    (CosineDecay(0.0, 10, warmup_target=1.0, warmup_steps=4), 4, 1.0),
    (CosineDecay(0.0, 10, warmup_target=1.0, warmup_steps=4), 9, 0.5),
    (CosineDecay(0.0, 10, warmup_target=1.0, warmup_steps=4), 99, 0.0),
    (CosineDecay(0.5, 10, warmup_target=1.0), 0, 1.0),  # a target and no warmup steps: decay from it
    (PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1]), 10, 1.0),
    (PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1]), 11, 0.5),
    (PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1]), 20, 0.5),
    (PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1]), 21, 0.1),
    (InverseTimeDecay(1.0, 10, 0.5), 20, 1.0 / (1 + 0.5 * 2)),
    (InverseTimeDecay(1.0, 10, 0.5, staircase=True), 19, 1.0 / 1.5),
    (PolynomialDecay(1.0, 10, end_learning_rate=0.0), 5, 0.5),
    (PolynomialDecay(1.0, 10, end_learning_rate=0.2, power=2.0), 5, 0.8 * 0.25 + 0.2),
    (PolynomialDecay(1.0, 10, end_learning_rate=0.2), 50, 0.2),  # held at the end
    (PolynomialDecay(1.0, 10, end_learning_rate=0.0, cycle=True), 15, 0.25),  # period 20: p = 0.75
    (PolynomialDecay(1.0, 10, end_learning_rate=0.0, cycle=True), 0, 1.0),
    (CosineDecayRestarts(1.0, 10), 5, 0.5),
    (CosineDecayRestarts(1.0, 10), 10, 1.0),  # the first restart; the next period lasts 20 steps
    (CosineDecayRestarts(1.0, 10), 20, 0.5),
    (CosineDecayRestarts(1.0, 10, t_mul=1.0, m_mul=0.5), 10, 0.5),  # restarts at half the height
])
def test_schedule_values_on_paper(schedule, step, expected):
    value = schedule(step)
    assert isinstance(value, np.float32)  # Keras computes schedules in float32
    assert float(value) == pytest.approx(expected, rel=1e-6, abs=1e-7)


def test_optimizer_calls_its_schedule_with_the_zero_based_step():
    opt = O.SGD(PiecewiseConstantDecay([0, 1], [1.0, 0.5, 0.25]))
    trace = _run(opt, [[1.0]] * 3, [0.0])
    np.testing.assert_allclose([t[0] for t in trace], [-1.0, -1.5, -1.75])
    assert opt.iterations == 3 and opt.current_learning_rate() == 0.25


def test_weight_decay_uses_the_scheduled_rate():
    opt = O.SGD(PiecewiseConstantDecay([0], [0.1, 0.2]), weight_decay=0.5)
    trace = _run(opt, [[0.0], [0.0]], [1.0])
    np.testing.assert_allclose([t[0] for t in trace], [0.95, 0.95 * 0.9], rtol=1e-6)


def test_learning_rate_can_be_set_unless_it_is_a_schedule():
    opt = O.RMSprop(0.1)
    opt.learning_rate = 0.02  # what LearningRateScheduler / ReduceLROnPlateau do
    assert opt.learning_rate == opt.current_learning_rate() == 0.02
    with pytest.raises(ValueError, match="learning_rate"):
        opt.learning_rate = -1.0
    opt = O.Adam(ExponentialDecay(0.1, 10, 0.5))
    with pytest.raises(TypeError, match="not settable"):
        opt.learning_rate = 0.01
    opt.learning_rate = CosineDecay(0.1, 10)  # a schedule may replace a schedule, as in Keras
    assert isinstance(opt.learning_rate_schedule, CosineDecay)
    # Reading it gives the rate in use, as Keras' optimizer.learning_rate does under a schedule
    opt.iterations = 5
    assert opt.learning_rate == pytest.approx(0.05, rel=1e-6) and float(opt.learning_rate) > 0
    assert O.SGD(0.3).learning_rate_schedule is None


def test_exclude_from_weight_decay_by_keras_variable_name():
    opt = O.AdamW(0.1, weight_decay=0.5)
    opt.exclude_from_weight_decay(var_names=["bias"])
    kernel, bias = Parameter("dense/kernel", np.ones(1, np.float32)), Parameter(
        "dense/bias", np.ones(1, np.float32))
    kernel.grad, bias.grad = np.zeros(1, np.float32), np.zeros(1, np.float32)
    opt.apply([kernel, bias])
    assert kernel.value[0] == pytest.approx(0.95) and bias.value[0] == 1.0
    opt = O.SGD(0.1, weight_decay=0.5)
    opt.exclude_from_weight_decay(var_names=["dense"])  # Keras matches the variable's own name
    opt.apply([kernel])
    assert kernel.value[0] == pytest.approx(0.95 * 0.95)


# ----------------------------------------------------------------------------- Keras' names
KERAS_DEFAULTS = {
    "sgd": (O.SGD, {"name": "sgd", "learning_rate": 0.01, "momentum": 0.0, "nesterov": False}),
    "adam": (O.Adam, {"name": "adam", "learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999,
                      "epsilon": 1e-7, "amsgrad": False}),
    "adamw": (O.AdamW, {"name": "adam_w", "learning_rate": 0.001, "weight_decay": 0.004,
                        "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "amsgrad": False}),
    "rmsprop": (O.RMSprop, {"name": "rm_sprop", "learning_rate": 0.001, "rho": 0.9,
                            "momentum": 0.0, "epsilon": 1e-7, "centered": False}),
    "adagrad": (O.Adagrad, {"name": "adagrad", "learning_rate": 0.001,
                            "initial_accumulator_value": 0.1, "epsilon": 1e-7}),
    "nadam": (O.Nadam, {"name": "nadam", "learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999,
                        "epsilon": 1e-7}),
}


@pytest.mark.parametrize("name", sorted(KERAS_DEFAULTS))
def test_string_names_resolve_as_keras_with_keras_defaults(name):
    cls, defaults = KERAS_DEFAULTS[name]
    for spelling in (name, name.upper(), cls.__name__):
        opt = O.get(spelling)
        assert type(opt) is cls
    config = opt.get_config()
    assert {k: config[k] for k in defaults} == defaults
    common = {"weight_decay": defaults.get("weight_decay"), "clipnorm": None,
              "global_clipnorm": None, "clipvalue": None}
    assert {k: config[k] for k in common} == common


def test_compile_default_optimizer_is_rmsprop():
    model = sn.Sequential([sn.layers.Input((3,)), sn.layers.Dense(2)], seed=0)
    model.compile(loss="mse")
    assert type(model.optimizer) is O.RMSprop and model.optimizer.learning_rate == 0.001
    model.train_step(np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32))
    assert model.optimizer.iterations == 1


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError) as info:
        O.get("radam")  # an optimizer neither Keras 3.15 nor scratchnet has
    for name in ("'radam'", "ftrl", "adafactor", "adagrad", "adam", "adamw", "nadam", "rmsprop", "sgd",
                 "adamax", "lion"):
        assert name in str(info.value)


def test_serialize_writes_keras_form_and_get_reads_it():
    opt = O.Nadam(CosineDecay(0.01, 100, alpha=0.1), clipnorm=1.0, name="my_nadam")
    spec = O.serialize(opt)
    assert spec["module"] == "keras.optimizers" and spec["class_name"] == "Nadam"
    assert spec["config"]["learning_rate"] == {
        "module": "keras.optimizers.schedules", "class_name": "CosineDecay", "registered_name": None,
        "config": {"initial_learning_rate": 0.01, "decay_steps": 100, "alpha": 0.1,
                   "name": "CosineDecay", "warmup_target": None, "warmup_steps": 0}}
    back = O.get(spec)
    assert type(back) is O.Nadam and back.get_config() == opt.get_config()
    assert back.name == "my_nadam" and isinstance(back.learning_rate_schedule, CosineDecay)
    # Keras' own settings at their defaults are read as scratchnet's defaults
    spec["config"].update(use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                          loss_scale_factor=None, gradient_accumulation_steps=None)
    assert O.deserialize(spec).get_config() == opt.get_config()
    spec["config"]["use_ema"] = True  # (the moving averages: tests/test_ema.py)
    assert O.deserialize(spec).use_ema
    spec["config"]["gradient_accumulation_steps"] = 4  # (tests/test_optimizers_extra.py)
    assert O.deserialize(spec).gradient_accumulation_steps == 4
    # the older .npz form
    old = O.deserialize({"name": "adam", "config": {"learning_rate": 0.01, "weight_decay": None,
                                                    "clipnorm": None, "clipvalue": None,
                                                    "global_clipnorm": None, "beta_1": 0.8,
                                                    "beta_2": 0.99, "epsilon": 1e-7,
                                                    "amsgrad": False}})
    assert type(old) is O.Adam and old.beta_1 == 0.8


@pytest.mark.parametrize("schedule", [ExponentialDecay(0.1, 7, 0.5, staircase=True),
                                      CosineDecay(0.0, 30, 0.1, warmup_target=0.01, warmup_steps=5),
                                      PiecewiseConstantDecay([3, 8], [0.1, 0.05, 0.01])])
def test_schedules_round_trip(schedule):
    back = schedules.deserialize(schedules.serialize(schedule))
    assert type(back) is type(schedule) and back.get_config() == schedule.get_config()
    assert [back(s) for s in range(40)] == [schedule(s) for s in range(40)]


@pytest.mark.parametrize("opt", [
    lambda: O.AdamW(CosineDecay(0.0, 20, alpha=0.1, warmup_target=0.01, warmup_steps=3)),
    lambda: O.Nadam(ExponentialDecay(0.01, 2, 0.8, staircase=True), weight_decay=0.01),
    lambda: O.RMSprop(PiecewiseConstantDecay([2], [0.01, 0.001]), momentum=0.5, centered=True),
    lambda: O.Adagrad(0.05, initial_accumulator_value=0.3, clipvalue=0.5),
])
def test_save_and_load_keep_the_optimizer_its_schedule_and_its_state(opt, tmp_path):
    x = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    y = np.random.default_rng(1).normal(size=(8, 2)).astype(np.float32)
    model = sn.Sequential([sn.layers.Input((3,)), sn.layers.Dense(2)], seed=0)
    model.compile(optimizer=opt(), loss="mse")
    for _ in range(3):
        model.train_step(x, y)
    model.save(tmp_path / "m.npz")
    loaded = sn.load_model(tmp_path / "m.npz")
    before, after = model.optimizer, loaded.optimizer
    assert type(after) is type(before) and after.get_config() == before.get_config()
    assert type(after.learning_rate) is type(before.learning_rate)
    assert after.iterations == 3 and after.state.keys() == before.state.keys()
    # the next step (at step 3 of the schedule, from the same state) lands on the same weights
    model.train_step(x, y)
    loaded.train_step(x, y)
    for w, w_loaded in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(w, w_loaded)


def test_an_arbitrary_callable_learning_rate_trains_but_cannot_be_saved():
    opt = O.SGD(lambda step: 0.1)
    _run(opt, [[1.0]], [0.0])
    with pytest.raises(ValueError, match="callable learning_rate cannot be saved"):
        O.serialize(opt)


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("make, exc, fragments", [
    (lambda: O.RMSprop(rho=1.5), ValueError, ["RMSprop", "rho", "1.5"]),
    (lambda: O.RMSprop(momentum=-0.1), ValueError, ["RMSprop", "momentum", "-0.1"]),
    (lambda: O.RMSprop(epsilon=0), ValueError, ["RMSprop", "epsilon", "0"]),
    (lambda: O.Adagrad(initial_accumulator_value=-1.0), ValueError,
     ["Adagrad", "initial_accumulator_value", "-1.0"]),
    (lambda: O.Nadam(beta_1=1.0), ValueError, ["Nadam", "beta_1", "[0, 1)"]),
    (lambda: O.AdamW(beta_2=2), ValueError, ["AdamW", "beta_2", "2"]),
    (lambda: O.AdamW(weight_decay=None), ValueError, ["AdamW", "weight_decay", "None"]),
    (lambda: O.Nadam(weight_decay=-0.1), ValueError, ["Nadam", "weight_decay", "-0.1"]),
    (lambda: O.RMSprop("fast"), ValueError, ["RMSprop", "learning_rate", "'fast'"]),
    (lambda: O.Adagrad(clipnorm=1.0, global_clipnorm=1.0), ValueError,
     ["Adagrad", "clipnorm", "global_clipnorm"]),
    (lambda: O.Nadam(name=3), TypeError, ["Nadam", "name", "3"]),
    (lambda: O.RMSprop(rhoo=0.9), TypeError, ["rhoo"]),
    (lambda: ExponentialDecay(0.1, 0, 0.5), ValueError, ["ExponentialDecay", "decay_steps", "0"]),
    (lambda: ExponentialDecay("0.1", 10, 0.5), ValueError,
     ["ExponentialDecay", "initial_learning_rate", "'0.1'"]),
    (lambda: CosineDecay(0.1, -5), ValueError, ["CosineDecay", "decay_steps", "-5"]),
    (lambda: CosineDecay(0.1, 5, warmup_steps=-1), ValueError, ["CosineDecay", "warmup_steps", "-1"]),
    (lambda: PiecewiseConstantDecay([1, 2], [0.1, 0.2]), ValueError,
     ["PiecewiseConstantDecay", "boundaries", "values", "length 2"]),
    (lambda: PiecewiseConstantDecay([5, 2], [0.1, 0.2, 0.3]), ValueError,
     ["PiecewiseConstantDecay", "increasing", "[5, 2]"]),
    (lambda: PiecewiseConstantDecay([5], [0.1, None]), ValueError, ["values", "None"]),
    (lambda: schedules.deserialize({"class_name": "OneCycleDecay", "config": {}}), ValueError,
     ["OneCycleDecay", "CosineDecay", "ExponentialDecay", "PiecewiseConstantDecay"]),
    (lambda: O.deserialize({"class_name": "RAdam", "config": {}}), ValueError,
     ["RAdam", "Nadam", "RMSprop", "Ftrl"]),
    (lambda: O.deserialize("adam"), ValueError, ["class_name", "'adam'"]),
    (lambda: schedules.LearningRateSchedule()(0), NotImplementedError, ["__call__"]),
    (lambda: schedules.serialize(lambda step: 0.1), TypeError, ["LearningRateSchedule", "function"]),
])
def test_bad_input_gets_a_clear_error(make, exc, fragments):
    with pytest.raises(exc) as info:
        make()
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))
