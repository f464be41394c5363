"""Keras 3.15.1's remaining optimizer machinery against scratchnet: ``gradient_accumulation_steps``
and ``loss_scale_factor`` on the base optimizer, ``Muon``, ``ScheduleFreeAdamW``,
``LossScaleOptimizer``; 20-step trajectories against Keras' ``train_on_batch`` to
TRAJECTORY_RTOL, configs both ways, and ``.keras`` files both ways with the optimizer's state in
Keras' variable layout (the accumulators after the moving averages, before the slots)."""

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
    "adam_accumulate_3": lambda: O.Adam(0.01, gradient_accumulation_steps=3),
    "sgd_momentum_accumulate_schedule": lambda: O.SGD(
        O.schedules.ExponentialDecay(0.1, 3, 0.7), momentum=0.9, gradient_accumulation_steps=2),
    "adam_accumulate_ema": lambda: O.Adam(0.01, gradient_accumulation_steps=2, use_ema=True,
                                          ema_momentum=0.7, ema_overwrite_frequency=3),
    "nadam_accumulate": lambda: O.Nadam(0.01, gradient_accumulation_steps=2),
    "adamw_accumulate_clipnorm": lambda: O.AdamW(0.01, weight_decay=0.1, clipnorm=0.3,
                                                 gradient_accumulation_steps=2),
    "adam_loss_scale": lambda: O.Adam(0.01, loss_scale_factor=128.0),
    "muon_options": lambda: O.Muon(0.02, exclude_layers=["dense_1"], momentum=0.8, nesterov=False,
                                   ns_steps=3, rms_rate=None, adam_lr_ratio=0.5,
                                   adam_weight_decay=None, weight_decay=0.1, adam_beta_1=0.8),
    "muon_accumulate_schedule": lambda: O.Muon(O.schedules.ExponentialDecay(0.02, 3, 0.7),
                                               gradient_accumulation_steps=2),
    # (epsilon 1e-4, not the default 1e-8: the digits' blank border pixels give the conv
    # kernel's corner weights gradients near 0, which g / sqrt(v) turns into full-size steps of
    # rounding noise; the defaults run on an MLP in test_defaults_on_an_mlp)
    "schedule_free_adamw_options": lambda: O.ScheduleFreeAdamW(
        0.02, beta_1=0.8, beta_2=0.95, epsilon=1e-4, warmup_steps=5, weight_decay=0.05),
    "sgd_loss_scale_accumulate": lambda: O.SGD(0.1, loss_scale_factor=3.0,
                                               gradient_accumulation_steps=2),
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
    kopt = twins.keras.optimizer
    assert opt.calls == int(kopt._iterations.numpy())


@pytest.mark.parametrize("opt", [lambda: O.ScheduleFreeAdamW(), lambda: O.Muon()])
def test_defaults_on_an_mlp(opt):
    model = sn.Sequential([L.Input((6,)), L.Dense(8, activation="tanh"), L.Dense(3)], seed=1)
    twins = make_twins(model, loss="mse", optimizer=opt())
    rng = np.random.default_rng(2)
    data = [(rng.standard_normal((8, 6)).astype("f4"), rng.standard_normal((8, 3)).astype("f4"))
            for _ in range(3)]
    check_trajectory(twins, data, STEPS)


def test_accumulation_config_both_ways():
    opt = O.Adam(0.01, gradient_accumulation_steps=4, loss_scale_factor=64.0)
    model = sn.Sequential([L.Input((3,)), L.Dense(2)], seed=0)
    model.compile(optimizer=opt, loss="mse")
    kopt = tfnet.to_keras(model).optimizer
    assert kopt.gradient_accumulation_steps == 4 and kopt.loss_scale_factor == 64.0
    back = tfnet.convert.optimizer_from_keras(kopt)
    assert back.gradient_accumulation_steps == 4 and back.loss_scale_factor == 64.0


def _file_model(optimizer):
    model = sn.Sequential([L.Input((4,)), L.Dense(5, activation="tanh"), L.Dense(3)], seed=3,
                          name="opt")
    model.compile(optimizer=optimizer, loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(5)
    return model, rng.standard_normal((12, 4)).astype("f4"), rng.integers(0, 3, 12)


FILE_CASES = {
    "adam_accumulate": lambda: O.Adam(0.01, gradient_accumulation_steps=2),
    "adam_accumulate_ema": lambda: O.Adam(0.01, gradient_accumulation_steps=2, use_ema=True),
    "muon": lambda: O.Muon(0.01, exclude_layers=["dense_1"]),
    "schedule_free_adamw": lambda: O.ScheduleFreeAdamW(0.01, gradient_accumulation_steps=2),
}


def _next_steps_agree(model, kmodel, x, y):
    for _ in range(2):  # an accumulating call, then an updating one
        model.train_step(x, y)
        kmodel.train_on_batch(x, y)
    for param, wk in zip(model.weights, kmodel.get_weights(), strict=True):
        assert_close(param.value, wk, TRAJECTORY_RTOL, f'"{param.name}" after the steps after loading')


@pytest.mark.parametrize("case", sorted(FILE_CASES))
def test_scratchnet_file_opens_in_keras(case, tmp_path):
    model, x, y = _file_model(FILE_CASES[case]())
    model.fit(x, y, epochs=1, batch_size=4, verbose=0, shuffle=False)  # 3 calls: 1 update, 1 pending
    model.save(tmp_path / "m.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Skipping variable loading for optimizer" fails the test
        kmodel = keras.models.load_model(tmp_path / "m.keras")
    kopt = kmodel.optimizer
    assert type(kopt).__name__ == type(model.optimizer).__name__
    assert len(kopt.variables) == len(model.optimizer.state) + 2  # + iterations, learning rate
    if model.optimizer.gradient_accumulation_steps:
        assert int(kopt._iterations.numpy()) == 3 and int(kopt.iterations) == 1
        np.testing.assert_array_equal(  # the pending gradient came across
            kopt._accumulated_gradients[0].numpy(),
            model.optimizer.state["dense/kernel/gradient_accumulator"])
    _next_steps_agree(model, kmodel, x, y)


@pytest.mark.parametrize("case", sorted(FILE_CASES))
def test_keras_file_opens_in_scratchnet(case, tmp_path):
    model, x, y = _file_model(FILE_CASES[case]())
    kmodel = tfnet.to_keras(model)
    kmodel.fit(x, y, epochs=1, batch_size=4, verbose=0, shuffle=False)
    kmodel.save(tmp_path / "k.keras")
    loaded = sn.load_model(tmp_path / "k.keras")
    for ws, wk in zip(loaded.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_array_equal(ws, wk)
    opt = loaded.optimizer
    assert type(opt) is type(model.optimizer) and opt.calls == 3
    assert len(opt.state) == len(kmodel.optimizer.variables) - 2
    if opt.gradient_accumulation_steps:
        assert opt.gradient_accumulation_steps == 2 and opt.iterations == 1
        np.testing.assert_array_equal(opt.state["dense/kernel/gradient_accumulator"],
                                      kmodel.optimizer._accumulated_gradients[0].numpy())
    _next_steps_agree(loaded, kmodel, x, y)


# ---------------------------------------------------------------------- LossScaleOptimizer
def test_loss_scale_optimizer_trajectory_and_growth(digits):
    """The scale doubles every 3 finite steps (2**10 -> 2**16 over 20 steps), as in Keras."""
    opt = O.LossScaleOptimizer(O.Adam(0.01), initial_scale=2.0**10, dynamic_growth_steps=3)
    twins = make_twins(small_convnet(), loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True),
                       optimizer=opt)
    kopt = twins.keras.optimizer
    assert type(kopt).__name__ == "LossScaleOptimizer"
    check_trajectory(twins, batches(digits), STEPS)
    assert opt.dynamic_scale == float(kopt.dynamic_scale.numpy()) == 2.0**16
    assert opt.step_counter == int(kopt.step_counter.numpy()) == 2
    assert opt.iterations == int(kopt.iterations) == STEPS


def test_loss_scale_optimizer_skips_non_finite_steps():
    """Targets of 3e37 make the scaled gradients overflow to inf (in Keras' backward pass and in
    scratchnet's scaled gradients alike): both skip the step (weights and inner iterations
    unchanged) and halve the scale; the finite steps around them agree."""
    model = sn.Sequential([L.Input((4,)), L.Dense(3, activation="tanh"), L.Dense(2)], seed=4)
    opt = O.LossScaleOptimizer(O.SGD(0.1, momentum=0.5), initial_scale=256.0, dynamic_growth_steps=2)
    twins = make_twins(model, loss="mse", optimizer=opt)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 4)).astype("f4")
    y = rng.standard_normal((6, 2)).astype("f4")
    y_huge = np.full_like(y, 3e37)
    scales = []
    for step, target in enumerate([y, y_huge, y, y, y, y_huge, y]):
        before = twins.scratch.get_weights()
        twins.scratch.reset_metrics()
        with np.errstate(over="ignore"):  # the loss of the huge targets is inf
            twins.scratch.train_step(x, target)
        twins.keras.train_on_batch(x, target)
        for param, wk in zip(twins.scratch.weights, twins.keras.get_weights(), strict=True):
            assert_close(param.value, wk, TRAJECTORY_RTOL, f'"{param.name}" after step {step + 1}')
        if target is y_huge:
            for w, w0 in zip(twins.scratch.get_weights(), before, strict=True):
                np.testing.assert_array_equal(w, w0)
        scales.append(float(opt.dynamic_scale))
        assert scales[-1] == float(twins.keras.optimizer.dynamic_scale.numpy())
        assert opt.iterations == int(twins.keras.optimizer.iterations)
    assert scales == [256.0, 128.0, 128.0, 256.0, 256.0, 128.0, 128.0]
    assert opt.iterations == 5


def test_loss_scale_optimizer_config_and_names():
    opt = O.LossScaleOptimizer(O.Adam(0.02), initial_scale=64.0, dynamic_growth_steps=10)
    model = sn.Sequential([L.Input((3,)), L.Dense(2)], seed=0)
    model.compile(optimizer=opt, loss="mse")
    kopt = tfnet.to_keras(model).optimizer
    assert type(kopt.inner_optimizer).__name__ == "Adam" and kopt.initial_scale == 64.0
    back = tfnet.convert.optimizer_from_keras(kopt)
    assert type(back.inner_optimizer) is O.Adam and back.dynamic_growth_steps == 10
    assert back.learning_rate == pytest.approx(0.02)
    assert keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam()).get_config().keys() \
        == O.LossScaleOptimizer(O.Adam()).get_config().keys()
    with pytest.raises(ValueError, match="LossScaleOptimizer does not support `clipnorm`"):
        keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(), clipnorm=1.0)
    with pytest.raises(ValueError, match="LossScaleOptimizer does not support `clipnorm`"):
        O.LossScaleOptimizer(O.Adam(), clipnorm=1.0)


@pytest.mark.parametrize("direction", ["scratchnet_to_keras", "keras_to_scratchnet"])
def test_loss_scale_optimizer_file_round_trip(direction, tmp_path):
    model, x, y = _file_model(O.LossScaleOptimizer(O.Adam(0.01), initial_scale=4.0,
                                                   dynamic_growth_steps=2))
    if direction == "scratchnet_to_keras":
        model.fit(x, y, epochs=1, batch_size=4, verbose=0, shuffle=False)  # scale 4 -> 8 -> 8
        model.save(tmp_path / "m.keras")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            kmodel = keras.models.load_model(tmp_path / "m.keras")
        loaded_opt = kmodel.optimizer
        assert float(loaded_opt.dynamic_scale.numpy()) == 8.0
        assert int(loaded_opt.step_counter.numpy()) == 1 and int(loaded_opt.iterations) == 3
        _next_steps_agree(model, kmodel, x, y)
    else:
        kmodel = tfnet.to_keras(model)
        kmodel.fit(x, y, epochs=1, batch_size=4, verbose=0, shuffle=False)
        kmodel.save(tmp_path / "k.keras")
        loaded = sn.load_model(tmp_path / "k.keras")
        opt = loaded.optimizer
        assert type(opt) is O.LossScaleOptimizer and type(opt.inner_optimizer) is O.Adam
        assert opt.dynamic_scale == 8.0 and opt.step_counter == 1 and opt.iterations == 3
        assert set(opt.state) == {f"{p.name}/{s}" for p in loaded.params for s in ("m", "v")}
        _next_steps_agree(loaded, kmodel, x, y)



# ---------------------------------------------------------------------- MultiOptimizer
def _multi(loss_scale_factor=None):
    return O.MultiOptimizer(O.OptimizerMap(O.SGD(0.05, momentum=0.9),
                                           {".*dense_1/.*": O.Adam(0.01, clipnorm=0.5),
                                            ".*conv2d/kernel": O.Nadam(0.005)}),
                            loss_scale_factor=loss_scale_factor)


@pytest.mark.parametrize("loss_scale_factor", [None, 8.0])
def test_multi_optimizer_trajectory(loss_scale_factor, digits):
    opt = _multi(loss_scale_factor)
    twins = make_twins(small_convnet(), loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True),
                       optimizer=opt)
    kopt = twins.keras.optimizer
    assert type(kopt).__name__ == "MultiOptimizer"
    check_trajectory(twins, batches(digits), STEPS)
    names = [type(o).__name__ for o in opt.optimizers]
    assert names == [type(o).__name__ for o in kopt.optimizers] == ["Adam", "Nadam", "SGD"]
    for inner, kinner in zip(opt.optimizers, kopt.optimizers, strict=True):
        assert inner.iterations == int(kinner.iterations) == STEPS
        assert inner.loss_scale_factor == kinner.loss_scale_factor == loss_scale_factor
    assert set(opt.optimizers[1].state) == {"conv2d/kernel/m", "conv2d/kernel/v", "u_product"}
    with pytest.raises(AttributeError, match="Learning rate cannot be accessed on a MultiOptimizer"):
        _ = opt.learning_rate


def test_optimizer_map_lookup_as_keras():
    sgd, adam, rms = O.SGD(), O.Adam(), O.RMSprop()
    ours = O.OptimizerMap(rms)
    ours["encoder/layer_0/dense"] = adam
    ours["encoder/.*"] = sgd
    ours["decoder"] = adam
    theirs = keras.optimizers.OptimizerMap(keras.optimizers.RMSprop())
    theirs["encoder/layer_0/dense"] = keras.optimizers.Adam()
    theirs["encoder/.*"] = keras.optimizers.SGD()
    theirs["decoder"] = keras.optimizers.Adam()
    for key in ("decoder", "encoder/layer_0/dense", "encoder/layer_0/attention/query",
                "decoder/layer_0/dense"):
        assert type(ours[key]).__name__ == type(theirs[key]).__name__, key
    ours[".*dense"] = sgd
    with pytest.raises(ValueError, match="Multiple optimizers assigned to variable encoder/x/dense"):
        ours["encoder/x/dense"]
    for bad in (O.LossScaleOptimizer(O.SGD()), _multi()):
        with pytest.raises(ValueError, match="optimizer cannot be"):
            ours["z"] = bad
    with pytest.raises(ValueError, match="already exists"):
        ours["decoder"] = sgd


def test_multi_optimizer_config_both_ways():
    model = sn.Sequential([L.Input((3,)), L.Dense(2)], seed=0)
    model.compile(optimizer=_multi(4.0), loss="mse")
    kopt = tfnet.to_keras(model).optimizer
    assert kopt.loss_scale_factor == 4.0
    assert [type(o).__name__ for o in kopt.optimizers] == ["Adam", "Nadam", "SGD"]
    back = tfnet.convert.optimizer_from_keras(kopt)
    assert [type(o).__name__ for o in back.optimizers] == ["Adam", "Nadam", "SGD"]
    assert back.optimizers[0].clipnorm == 0.5 and back.loss_scale_factor == 4.0


@pytest.mark.parametrize("direction", ["scratchnet_to_keras", "keras_to_scratchnet"])
def test_multi_optimizer_file_round_trip(direction, tmp_path):
    opt = O.MultiOptimizer(O.OptimizerMap(O.SGD(0.05, momentum=0.9),
                                          {".*dense_1/.*": O.Adam(0.01), ".*nothing.*": O.Lion()}))
    model, x, y = _file_model(opt)
    if direction == "scratchnet_to_keras":
        model.fit(x, y, epochs=1, batch_size=4, verbose=0, shuffle=False)
        model.save(tmp_path / "m.keras")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            kmodel = keras.models.load_model(tmp_path / "m.keras")
        assert [int(o.iterations) for o in kmodel.optimizer.optimizers] == [3, 0, 3]
        _next_steps_agree(model, kmodel, x, y)
    else:
        kmodel = tfnet.to_keras(model)
        kmodel.fit(x, y, epochs=1, batch_size=4, verbose=0, shuffle=False)
        kmodel.save(tmp_path / "k.keras")
        loaded = sn.load_model(tmp_path / "k.keras")
        back = loaded.optimizer
        assert type(back) is O.MultiOptimizer and back.calls == 3
        assert {"optimizers/0/dense_1/kernel/m", "optimizers/2/dense/kernel/momentum",
                "optimizers/0/calls"} <= set(back.state)
        _next_steps_agree(loaded, kmodel, x, y)
        assert [o.iterations for o in back.optimizers] == [5, 0, 5]


def test_the_names_keras_resolves():
    for name in ("muon", "Muon", "schedulefreeadamw", "ScheduleFreeAdamW"):
        assert type(O.get(name)).__name__ == type(keras.optimizers.get(name)).__name__
    for name in ("lossscaleoptimizer", "multioptimizer"):  # they need their inner optimizers
        with pytest.raises((KeyError, TypeError)):  # Keras fails on the missing inner ones
            keras.optimizers.get(name)
        with pytest.raises(ValueError, match="wraps another one"):
            O.get(name)


def test_schedule_free_evaluate_sees_the_training_weights():
    """Keras 3.15.1 swaps nothing in for evaluation: evaluate and predict use y, as here."""
    model = sn.Sequential([L.Input((6,)), L.Dense(8, activation="tanh"), L.Dense(3)], seed=1)
    twins = make_twins(model, loss="mse", optimizer=O.ScheduleFreeAdamW(0.05))
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((16, 6)).astype("f4"), rng.standard_normal((16, 3)).astype("f4")
    twins.scratch.fit(x, y, epochs=3, batch_size=8, verbose=0, shuffle=False)
    twins.keras.fit(x, y, epochs=3, batch_size=8, verbose=0, shuffle=False)
    assert_close(twins.scratch.evaluate(x, y, verbose=0), twins.keras.evaluate(x, y, verbose=0),
                 TRAJECTORY_RTOL, "evaluate after fit")
    assert_close(twins.scratch.predict(x, verbose=0), twins.keras.predict(x, verbose=0),
                 TRAJECTORY_RTOL, "predict after fit")


def test_a_functional_model_paths_have_no_model_name():
    """Keras builds a functional model's layers outside the model's name scope: its paths are
    "out/kernel", so the key "out/.*" picks the output layer's weights, and Muon's
    exclude_layers=["^out/"] matches them."""
    sn.utils.set_random_seed(4)
    inputs = sn.Input((4,), name="features")
    outputs = L.Dense(2, name="out")(L.Dense(3, activation="tanh", name="hidden")(inputs))
    model = sn.Model(inputs, outputs)
    opt = O.MultiOptimizer(O.OptimizerMap(O.Muon(0.02, exclude_layers=["^hidden/"]),
                                          {"out/.*": O.Adam(0.01)}))
    twins = make_twins(model, loss="mse", optimizer=opt)
    rng = np.random.default_rng(1)
    data = [(rng.standard_normal((6, 4)).astype("f4"), rng.standard_normal((6, 2)).astype("f4"))]
    check_trajectory(twins, data, 5)
    adam, muon = opt.optimizers
    assert set(adam.state) == {"out/kernel/m", "out/kernel/v", "out/bias/m", "out/bias/v"}
    assert "hidden/kernel/v" in muon.state  # excluded by its path: the AdamW step


def test_every_weight_path_is_keras_variable_path():
    """``Optimizer.variable_path`` (what Muon's exclude_layers and an OptimizerMap's patterns match)
    equals Keras' ``variable.path`` for every weight of a model with recurrent layers (Keras nests
    their weights under the cell: "lstm/lstm_cell/kernel"), Bidirectional, RNN of cells, stacked
    cells, TimeDistributed, MultiHeadAttention, normalization, EinsumDense and ConvLSTM1D. Keras'
    layer counters are global, so the numeric suffixes ("_1") are compared without their numbers."""
    import re

    def build(lib):
        layers = lib.layers
        inp = lib.Input((6, 4))
        x = layers.LSTM(3, return_sequences=True)(inp)
        x = layers.GRU(3, return_sequences=True)(x)
        x = layers.SimpleRNN(3, return_sequences=True)(x)
        x = layers.Bidirectional(layers.LSTM(2, return_sequences=True))(x)
        x = layers.RNN(layers.GRUCell(2), return_sequences=True)(x)
        x = layers.RNN([layers.SimpleRNNCell(2), layers.LSTMCell(2)], return_sequences=True)(x)
        x = layers.TimeDistributed(layers.Dense(3))(x)
        x = layers.MultiHeadAttention(2, 2)(x, x)
        x = layers.BatchNormalization()(layers.LayerNormalization()(x))
        x = layers.EinsumDense("abc,cd->abd", output_shape=(6, 3), bias_axes="d")(x)
        x = layers.ConvLSTM1D(2, 2, return_sequences=True)(layers.Reshape((6, 3, 1))(x))
        return lib.Model(inp, layers.Dense(1)(layers.Flatten()(x)))

    model, kmodel = build(sn), build(keras)
    opt = O.SGD(0.1)
    model.compile(opt, "mse")
    paths = [opt.variable_path(p) for p in model.weights]
    kpaths = [v.path for v in kmodel.weights]
    assert len(paths) == len(kpaths) == 47
    for path, kpath in zip(paths, kpaths, strict=True):
        assert re.sub(r"_\d+", "", path) == re.sub(r"_\d+", "", kpath)
    assert "lstm/lstm_cell/kernel" in paths and "bidirectional/forward_lstm/lstm_cell/bias" in paths


def test_muon_excludes_a_recurrent_cell_by_its_keras_path():
    """Muon(exclude_layers=["gru_cell"]) on an LSTM + GRU model: the GRU's weights (Keras' paths
    "gru/gru_cell/...") take the AdamW step and the LSTM's the Muon step, in both libraries; the
    weights agree after 5 steps at TRAJECTORY_RTOL."""
    model = sn.Sequential([L.Input((5, 3)), L.LSTM(4, return_sequences=True), L.GRU(3), L.Dense(2)],
                          seed=3)
    opt = O.Muon(0.02, exclude_layers=["gru_cell"])
    twins = make_twins(model, loss="mse", optimizer=opt)
    rng = np.random.default_rng(5)
    data = [(rng.standard_normal((8, 5, 3)).astype("f4"), rng.standard_normal((8, 2)).astype("f4"))]
    check_trajectory(twins, data, 5)
    assert opt.uses_adamw(next(p for p in model.weights if p.name == "gru/kernel"))
    assert not opt.uses_adamw(next(p for p in model.weights if p.name == "lstm/kernel"))
