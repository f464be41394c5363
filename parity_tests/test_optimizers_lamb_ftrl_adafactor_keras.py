"""Lamb, Ftrl and Adafactor against Keras 3.15.1: the weights after each of STEPS steps on a small
convnet against Keras' ``train_on_batch`` to TRAJECTORY_RTOL, with the options every optimizer has;
configs both ways and Keras' defaults; ``.keras`` files both ways with the optimizer's state in
Keras' variable layout (Adafactor's per-row and per-column factors, and the 0-d placeholders Keras
keeps for a bias), so the next step after loading agrees."""

import warnings

import keras
import numpy as np
import pytest

import scratchnet as sn
import tfnet
from parity_tests.driver import TRAJECTORY_RTOL, assert_close, check_trajectory, make_twins
from parity_tests.test_optimizers import batches, small_convnet

L = sn.layers
O = sn.optimizers
STEPS = 20

OPTIMIZERS = {
    "lamb": lambda: O.Lamb(0.01),
    "lamb_betas_epsilon": lambda: O.Lamb(0.01, beta_1=0.8, beta_2=0.95, epsilon=1e-4),
    "lamb_weight_decay": lambda: O.Lamb(0.01, weight_decay=0.1),
    "lamb_schedule": lambda: O.Lamb(O.schedules.ExponentialDecay(0.02, 5, 0.7)),
    "ftrl": lambda: O.Ftrl(0.05),
    "ftrl_l1_l2": lambda: O.Ftrl(0.05, l1_regularization_strength=0.001, l2_regularization_strength=0.01),
    "ftrl_power_shrinkage_beta": lambda: O.Ftrl(0.05, learning_rate_power=-0.3,
                                                l2_shrinkage_regularization_strength=0.01, beta=0.5,
                                                initial_accumulator_value=0.2),
    "ftrl_clipvalue": lambda: O.Ftrl(0.05, clipvalue=0.05),
    "adafactor": lambda: O.Adafactor(0.01),
    "adafactor_options": lambda: O.Adafactor(0.5, beta_2_decay=-0.5, epsilon_2=0.01,
                                             clip_threshold=0.5, relative_step=False),
    "adafactor_schedule": lambda: O.Adafactor(O.schedules.CosineDecay(0.05, decay_steps=15)),
    "adafactor_global_clipnorm": lambda: O.Adafactor(0.01, global_clipnorm=0.5),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_trajectory(name, digits):
    opt = OPTIMIZERS[name]()
    twins = make_twins(small_convnet(), loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True),
                       optimizer=opt)
    assert type(twins.keras.optimizer).__name__ == type(opt).__name__
    start = twins.scratch.get_weights()
    check_trajectory(twins, batches(digits), STEPS)
    moved = max(float(np.max(np.abs(w - w0)))
                for w, w0 in zip(twins.scratch.get_weights(), start, strict=True))
    assert moved > 1e-3  # the comparison is not of two copies of the start


@pytest.mark.parametrize("name", ["lamb_betas_epsilon", "ftrl_power_shrinkage_beta",
                                  "adafactor_options", "adafactor_schedule"])
def test_optimizer_maps_both_ways(name):
    opt = OPTIMIZERS[name]()
    model = sn.Sequential([L.Input((3,)), L.Dense(2)], seed=0)
    model.compile(optimizer=opt, loss="mse")
    kopt = tfnet.to_keras(model).optimizer
    back = tfnet.convert.optimizer_from_keras(kopt)
    assert type(kopt).__name__ == type(opt).__name__ and type(back) is type(opt)
    for config in (kopt.get_config(), back.get_config()):
        for key, value in opt.get_config().items():
            expected = pytest.approx(value, rel=1e-7) if isinstance(value, float) else value
            assert config[key] == expected, key


@pytest.mark.parametrize("name", ["Lamb", "Ftrl", "Adafactor"])
def test_keras_defaults_equal_scratchnet_defaults(name):
    kconfig = getattr(keras.optimizers, name)().get_config()
    for key, value in getattr(O, name)().get_config().items():
        assert kconfig[key] == (pytest.approx(value, rel=1e-7) if isinstance(value, float)
                                else value), key


def test_the_names_keras_resolves():
    """Keras 3.15.1 resolves "ftrl" and "adafactor" but not "lamb" (missing from its table of
    names); scratchnet says so rather than run a program Keras would refuse."""
    for name in ("ftrl", "adafactor"):
        assert type(O.get(name)).__name__ == type(keras.optimizers.get(name)).__name__
    with pytest.raises(ValueError, match="Could not interpret optimizer identifier"):
        keras.optimizers.get("lamb")
    with pytest.raises(ValueError, match="Keras does not resolve the optimizer name 'lamb'"):
        O.get("lamb")


def _file_model(optimizer):
    model = sn.Sequential([L.Input((4,)), L.Dense(5, activation="tanh"), L.Reshape((5, 1)),
                           L.Conv1D(2, 2), L.Flatten(), L.Dense(3)], seed=3, name="opt")
    model.compile(optimizer=optimizer, loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(5)
    return model, rng.standard_normal((8, 4)).astype("f4"), rng.integers(0, 3, 8)


FILE_CASES = {"lamb": lambda: O.Lamb(0.01, weight_decay=0.01), "ftrl": lambda: O.Ftrl(0.05),
              "adafactor": lambda: O.Adafactor(0.05),
              "adafactor_schedule": lambda: O.Adafactor(O.schedules.ExponentialDecay(0.05, 2, 0.5))}


def _next_step_agrees(model, kmodel, x, y):
    model.train_step(x, y)
    kmodel.train_on_batch(x, y)
    for param, wk in zip(model.weights, kmodel.get_weights(), strict=True):
        assert_close(param.value, wk, TRAJECTORY_RTOL, f'"{param.name}" after the step after loading')


@pytest.mark.parametrize("case", sorted(FILE_CASES))
def test_scratchnet_file_opens_in_keras(case, tmp_path):
    model, x, y = _file_model(FILE_CASES[case]())
    model.fit(x, y, epochs=3, batch_size=4, verbose=0, shuffle=False)
    model.save(tmp_path / "m.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Skipping variable loading for optimizer" fails the test
        kmodel = keras.models.load_model(tmp_path / "m.keras")
    kopt = kmodel.optimizer
    assert type(kopt).__name__ == type(model.optimizer).__name__ and int(kopt.iterations) == 6
    trained = kopt.variables[2 if model.optimizer.learning_rate_schedule is None else 1:]
    assert sum(np.any(np.asarray(v) != 0) for v in trained) >= len(model.weights)
    _next_step_agrees(model, kmodel, x, y)


@pytest.mark.parametrize("case", sorted(FILE_CASES))
def test_keras_file_opens_in_scratchnet(case, tmp_path):
    model, x, y = _file_model(FILE_CASES[case]())
    kmodel = tfnet.to_keras(model)
    kmodel.fit(x, y, epochs=3, batch_size=4, verbose=0, shuffle=False)
    kmodel.save(tmp_path / "k.keras")
    loaded = sn.load_model(tmp_path / "k.keras")
    for ws, wk in zip(loaded.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_array_equal(ws, wk)
    assert type(loaded.optimizer) is type(model.optimizer) and loaded.optimizer.iterations == 6
    if case.startswith("adafactor"):  # the factors came across with their own shapes
        assert loaded.optimizer.state["dense/kernel/r"].shape == (4,)
        assert loaded.optimizer.state["dense/kernel/c"].shape == (5,)
        assert loaded.optimizer.state["dense/bias/r"].shape == ()  # Keras' placeholder
    _next_step_agrees(loaded, kmodel, x, y)
