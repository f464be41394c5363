"""Keras 3's other optimizers (RMSprop, Adagrad, AdamW, Nadam), their options, and the
learning-rate schedules, against Keras.

Trajectories: 50 steps from the same weights on the same batches (the model and batches of
``test_optimizers.py``, the driver's ``check_trajectory``); after every step every weight agrees
with Keras' ``train_on_batch`` to ``TRAJECTORY_RTOL`` (1e-4). Schedules: the value at many steps
equals Keras' to float32 precision (``SCHEDULE_RTOL``: a few float32 ulps, since NumPy's and
TensorFlow's float32 ``cos`` and ``pow`` may round the last bit differently).
"""

import keras
import numpy as np
import pytest

import scratchnet as sn
import tfnet
from parity_tests.driver import Twins, check_trajectory, make_twins
from parity_tests.test_optimizers import batches, small_convnet
from scratchnet.optimizers.schedules import (
    CosineDecay,
    CosineDecayRestarts,
    ExponentialDecay,
    InverseTimeDecay,
    PiecewiseConstantDecay,
    PolynomialDecay,
)
from tfnet.convert import schedule_from_keras, schedule_to_keras

O = sn.optimizers
SCCE = sn.losses.SparseCategoricalCrossentropy
STEPS = 50
SCHEDULE_RTOL = 5e-7  # float32 round-off is 6e-8 relative: this is a few ulps (see below for atol)

OPTIMIZERS = {
    # each algorithm, and each of its own options
    "rmsprop": lambda: O.RMSprop(0.002),
    "rmsprop_momentum": lambda: O.RMSprop(0.001, momentum=0.9),
    "rmsprop_centered": lambda: O.RMSprop(0.001, rho=0.8, centered=True),
    "rmsprop_centered_momentum": lambda: O.RMSprop(0.001, momentum=0.5, centered=True, epsilon=1e-4),
    "adagrad": lambda: O.Adagrad(0.05),
    "adagrad_accumulator_epsilon": lambda: O.Adagrad(0.05, initial_accumulator_value=0.5, epsilon=1e-3),
    "adamw": lambda: O.AdamW(0.005),
    "adamw_decay_amsgrad": lambda: O.AdamW(0.005, weight_decay=0.2, beta_1=0.8, amsgrad=True),
    "nadam": lambda: O.Nadam(0.005),
    "nadam_betas_epsilon": lambda: O.Nadam(0.005, beta_1=0.8, beta_2=0.99, epsilon=1e-4),
    # the options every optimizer has
    "rmsprop_clipnorm": lambda: O.RMSprop(0.002, clipnorm=0.5),
    "rmsprop_weight_decay": lambda: O.RMSprop(0.002, weight_decay=0.1),
    "adagrad_clipvalue": lambda: O.Adagrad(0.05, clipvalue=0.05),
    "adagrad_weight_decay": lambda: O.Adagrad(0.05, weight_decay=0.05),
    "adamw_global_clipnorm": lambda: O.AdamW(0.005, global_clipnorm=0.5),
    "nadam_clipnorm": lambda: O.Nadam(0.005, clipnorm=0.2),
    "nadam_global_clipnorm": lambda: O.Nadam(0.005, global_clipnorm=0.5),
    "nadam_weight_decay": lambda: O.Nadam(0.005, weight_decay=0.1),
    "sgd_nesterov_global_clipnorm": lambda: O.SGD(0.05, momentum=0.9, nesterov=True, global_clipnorm=1.0),
    # schedules, on optimizers where they meet weight decay, momentum and bias correction
    "sgd_exponential_staircase": lambda: O.SGD(
        ExponentialDecay(0.1, decay_steps=7, decay_rate=0.5, staircase=True), momentum=0.9),
    "adam_exponential": lambda: O.Adam(ExponentialDecay(0.01, decay_steps=10, decay_rate=0.7)),
    "adamw_cosine_warmup": lambda: O.AdamW(
        CosineDecay(0.0, decay_steps=30, alpha=0.1, warmup_target=0.01, warmup_steps=10),
        weight_decay=0.1),
    "rmsprop_piecewise": lambda: O.RMSprop(PiecewiseConstantDecay([10, 25], [0.003, 0.001, 0.0003])),
    "nadam_cosine": lambda: O.Nadam(CosineDecay(0.005, decay_steps=40)),
    "adagrad_cosine_alpha": lambda: O.Adagrad(CosineDecay(0.1, decay_steps=20, alpha=0.2)),
    "sgd_polynomial": lambda: O.SGD(PolynomialDecay(0.1, decay_steps=20, power=2.0), momentum=0.5),
    "adam_cosine_restarts": lambda: O.Adam(CosineDecayRestarts(0.01, first_decay_steps=6)),
    "rmsprop_inverse_time": lambda: O.RMSprop(InverseTimeDecay(0.003, decay_steps=5, decay_rate=1.0)),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_trajectory(name, digits):
    opt = OPTIMIZERS[name]()
    twins = make_twins(small_convnet(), loss=SCCE(from_logits=True), optimizer=opt)
    assert type(twins.keras.optimizer).__name__ == type(opt).__name__
    start = twins.scratch.get_weights()
    check_trajectory(twins, batches(digits), STEPS)
    # The weights really moved: the comparison is not of two copies of the start.
    moved = max(float(np.max(np.abs(w - w0)))
                for w, w0 in zip(twins.scratch.get_weights(), start, strict=True))
    assert moved > 1e-3


def test_compile_default_rmsprop_trains_like_keras_default(digits):
    """``compile(loss=...)`` with no optimizer is RMSprop() with Keras' defaults, on both sides."""
    model = small_convnet()
    model.compile(loss=SCCE(from_logits=True))
    kmodel = tfnet.to_keras(model)
    kmodel.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                   jit_compile=False)  # Keras' own default optimizer, "rmsprop"
    assert type(model.optimizer) is O.RMSprop and type(kmodel.optimizer) is keras.optimizers.RMSprop
    check_trajectory(Twins(model, kmodel), batches(digits), STEPS)


SCHEDULES = {
    "exponential": lambda: ExponentialDecay(0.1, decay_steps=7, decay_rate=0.5),
    "exponential_staircase": lambda: ExponentialDecay(0.1, decay_steps=7, decay_rate=0.5,
                                                      staircase=True),
    "exponential_growth": lambda: ExponentialDecay(1e-3, decay_steps=10**5, decay_rate=1.7),
    "cosine": lambda: CosineDecay(0.1, decay_steps=100),
    "cosine_alpha": lambda: CosineDecay(0.02, decay_steps=37, alpha=0.25),
    "cosine_warmup": lambda: CosineDecay(0.0, decay_steps=80, alpha=0.1, warmup_target=0.05,
                                         warmup_steps=20),
    "cosine_warmup_from_nonzero": lambda: CosineDecay(0.01, decay_steps=50, warmup_target=0.002,
                                                      warmup_steps=13),
    "cosine_target_no_warmup_steps": lambda: CosineDecay(0.01, decay_steps=50, warmup_target=0.03),
    "piecewise": lambda: PiecewiseConstantDecay([10, 25, 40], [0.1, 0.05, 0.01, 0.001]),
    "piecewise_one_boundary": lambda: PiecewiseConstantDecay([0], [0.5, 0.25]),
    "inverse_time": lambda: InverseTimeDecay(0.1, decay_steps=7, decay_rate=0.5),
    "inverse_time_staircase": lambda: InverseTimeDecay(0.1, decay_steps=7, decay_rate=0.5,
                                                       staircase=True),
    "polynomial": lambda: PolynomialDecay(0.1, decay_steps=60),
    "polynomial_power_end": lambda: PolynomialDecay(0.05, decay_steps=45, end_learning_rate=0.005,
                                                    power=2.5),
    "polynomial_cycle": lambda: PolynomialDecay(0.1, decay_steps=30, end_learning_rate=0.01,
                                                power=0.5, cycle=True),
    "cosine_restarts": lambda: CosineDecayRestarts(0.1, first_decay_steps=10),
    "cosine_restarts_equal_periods": lambda: CosineDecayRestarts(0.1, first_decay_steps=12,
                                                                 t_mul=1.0, m_mul=0.8, alpha=0.1),
    "cosine_restarts_m_mul": lambda: CosineDecayRestarts(0.02, first_decay_steps=7, t_mul=1.5,
                                                         m_mul=0.5, alpha=0.05),
}
STEPS_TO_CHECK = list(range(0, 151)) + [199, 200, 201, 1000, 10**5, 10**6]


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedule_values_equal_keras(name):
    schedule = SCHEDULES[name]()
    kschedule = schedule_to_keras(schedule)
    assert type(kschedule).__name__ == type(schedule).__name__
    assert kschedule.get_config() == schedule.get_config()
    ours = np.array([schedule(step) for step in STEPS_TO_CHECK])
    theirs = np.array([float(kschedule(step)) for step in STEPS_TO_CHECK])
    assert ours.dtype == np.float32
    # atol: a few ulps of the largest rate. Near the bottom of a cosine, 1 + cos(x) cancels, and a
    # last-bit difference in cos is then more than a few ulps of the small result; and TensorFlow
    # flushes float32 subnormals (0.1 * 0.5**1000 steps) to 0 where NumPy keeps them.
    np.testing.assert_allclose(ours, theirs, rtol=SCHEDULE_RTOL,
                               atol=SCHEDULE_RTOL * float(np.max(np.abs(theirs))))
    assert len(set(theirs.tolist())) > 1  # the schedule really changes over these steps
    back = schedule_from_keras(kschedule)
    assert type(back) is type(schedule) and back.get_config() == schedule.get_config()


@pytest.mark.parametrize("name", ["adamw_cosine_warmup", "rmsprop_piecewise", "nadam",
                                  "rmsprop_centered_momentum", "adagrad_accumulator_epsilon"])
def test_optimizer_and_schedule_map_both_ways(name):
    opt = OPTIMIZERS[name]()
    model = sn.Sequential([sn.layers.Input((3,)), sn.layers.Dense(2)], seed=0)
    model.compile(optimizer=opt, loss="mse")
    kopt = tfnet.to_keras(model).optimizer
    back = tfnet.convert.optimizer_from_keras(kopt)
    assert type(back) is type(opt)
    for config in (kopt.get_config(), back.get_config()):
        for key, value in opt.get_config().items():
            # Keras keeps a float learning_rate in a float32 variable
            expected = pytest.approx(value, rel=1e-7) if isinstance(value, float) else value
            assert config[key] == expected, key


def test_learning_rate_over_a_schedule_is_refused_like_keras():
    schedule = ExponentialDecay(0.1, 10, 0.5)
    kopt = keras.optimizers.SGD(schedule_to_keras(schedule))
    with pytest.raises(TypeError, match="not settable"):
        kopt.learning_rate = 0.01
    opt = O.SGD(schedule)
    with pytest.raises(TypeError, match="not settable"):
        opt.learning_rate = 0.01
    # a float learning rate can be set, on both sides, and the next step uses it
    kopt, opt = keras.optimizers.RMSprop(0.1), O.RMSprop(0.1)
    kopt.learning_rate = opt.learning_rate = 0.02
    assert opt.current_learning_rate() == pytest.approx(float(kopt.learning_rate), rel=1e-7)


def test_reading_learning_rate_under_a_schedule_gives_the_rate_in_use_as_keras():
    """``float(model.optimizer.learning_rate)`` (what a learner's callback prints) under a
    schedule: the rate the next update uses, as Keras 3.15 returns it."""
    model = sn.Sequential([sn.layers.Input((3,)), sn.layers.Dense(2)], seed=0)
    model.compile(optimizer=O.SGD(CosineDecay(0.1, decay_steps=10)), loss="mse")
    kmodel = tfnet.to_keras(model)
    x, y = np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32)
    for _ in range(4):
        model.train_on_batch(x, y)
        kmodel.train_on_batch(x, y)
        assert float(model.optimizer.learning_rate) == pytest.approx(
            float(kmodel.optimizer.learning_rate), rel=SCHEDULE_RTOL)
    assert float(model.optimizer.learning_rate) < 0.1  # it moved along the schedule
