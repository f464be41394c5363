"""Gradient accumulation, loss scaling, Muon, ScheduleFreeAdamW and LossScaleOptimizer in
scratchnet alone: steps against the formulas written out by hand in float64, saving the state,
and bad input. Keras parity: parity_tests/test_optimizers_extra_keras.py."""

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.layers.base import Parameter

O = sn.optimizers
GRADS = [[0.5, -1.0], [0.25, 2.0], [-0.75, 0.1], [0.0, -0.3], [1.5, 0.0], [0.2, 0.2]]


def _run(opt, grads=GRADS, w0=(1.0, -2.0), name="layer/kernel"):
    p = Parameter(name, np.array(w0, dtype=np.float32))
    for g in grads:
        p.grad = np.array(g, dtype=np.float32)
        opt.apply([p])
    return p.value.copy()


def test_accumulation_updates_every_k_calls_with_the_mean_gradient():
    """SGD with k = 3: the weight moves at calls 3 and 6 only, by lr times the mean gradient."""
    opt = O.SGD(0.1, gradient_accumulation_steps=3)
    p = Parameter("layer/kernel", np.array([1.0, -2.0], dtype=np.float32))
    seen = []
    for g in GRADS:
        p.grad = np.array(g, dtype=np.float32)
        opt.apply([p])
        seen.append((opt.calls, opt.iterations, p.value.copy()))
    w = np.array([1.0, -2.0])
    w1 = w - 0.1 * np.mean(GRADS[:3], axis=0)
    w2 = w1 - 0.1 * np.mean(GRADS[3:], axis=0)
    expected = [w, w, w1, w1, w1, w2]
    for (calls, iterations, value), i, want in zip(seen, range(6), expected, strict=True):
        assert calls == i + 1 and iterations == (i + 1) // 3
        np.testing.assert_allclose(value, want, rtol=1e-6)
    np.testing.assert_array_equal(opt.state["layer/kernel/gradient_accumulator"], 0)


def test_accumulation_gives_adam_the_update_count_and_a_schedule_the_calls():
    """Adam's t counts updates (1, 2), a schedule sees the raw calls (Keras' ``_iterations``)."""
    rates = []
    opt = O.Adam(lambda step: rates.append(int(step)) or 0.1, gradient_accumulation_steps=2)
    w = _run(opt, GRADS[:4])
    assert rates == [1, 3]
    b1, b2, m, v, ref = 0.9, 0.999, np.zeros(2), np.zeros(2), np.array([1.0, -2.0])
    for t, g in enumerate([np.mean(GRADS[0:2], axis=0), np.mean(GRADS[2:4], axis=0)], start=1):
        m = m + (g - m) * (1 - b1)
        v = v + (g**2 - v) * (1 - b2)
        ref = ref - m * 0.1 * np.sqrt(1 - b2**t) / (1 - b1**t) / (np.sqrt(v) + 1e-7)
    np.testing.assert_allclose(w, ref, rtol=1e-5)


def test_loss_scale_factor_divides_the_gradients():
    """The gradients reach the optimizer scaled (train_step's doing); apply divides them."""
    scaled = [[64 * g for g in pair] for pair in GRADS]
    np.testing.assert_allclose(_run(O.Adam(0.1, loss_scale_factor=64.0), scaled),
                               _run(O.Adam(0.1), GRADS), rtol=1e-6)


def test_train_step_with_a_loss_scale_gives_the_unscaled_training():
    x = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    y = np.random.default_rng(1).normal(size=(8, 2)).astype(np.float32)
    runs = []
    for opt in (O.SGD(0.1), O.SGD(0.1, loss_scale_factor=1024.0),
                O.LossScaleOptimizer(O.SGD(0.1), initial_scale=512.0)):
        model = sn.Sequential([sn.layers.Input((3,)), sn.layers.Dense(2)], seed=0)
        model.compile(optimizer=opt, loss="mse")
        logs = [model.train_step(x, y)["loss"] for _ in range(3)]
        runs.append((logs, model.get_weights()))
    for logs, weights in runs[1:]:
        np.testing.assert_allclose(logs, runs[0][0], rtol=1e-6)  # the logged loss is unscaled
        for w, w0 in zip(weights, runs[0][1], strict=True):
            np.testing.assert_allclose(w, w0, rtol=1e-6)


def test_muon_orthogonalises_and_steps_the_rest_with_adamw():
    """Newton-Schulz leaves the singular values of the step near 1 (within the quintic's band,
    about [0.7, 1.2]); a bias (1-D) takes the AdamW step."""
    rng = np.random.default_rng(0)
    g = rng.normal(size=(6, 4)).astype(np.float32)
    ns = O.Muon().newton_schulz(g)
    singular = np.linalg.svd(ns, compute_uv=False)
    assert np.all((singular > 0.6) & (singular < 1.3)), singular
    u, _, vt = np.linalg.svd(g.astype(np.float64), full_matrices=False)
    assert np.sum(ns * (u @ vt)) / np.linalg.norm(ns) / np.linalg.norm(u @ vt) > 0.95  # ~ U V^T
    opt = O.Muon(0.1, weight_decay=None, adam_weight_decay=None, rms_rate=None, nesterov=False)
    kernel = Parameter("dense/kernel", np.zeros((6, 4), np.float32), grad=g)
    bias = Parameter("dense/bias", np.zeros(4, np.float32), grad=g[0])
    opt.apply([kernel, bias])
    np.testing.assert_allclose(kernel.value, -0.1 * opt.newton_schulz(g), rtol=1e-6)  # m = g
    g0 = g[0].astype(np.float64)  # Adam's first step: m = 0.1 g, v = 0.001 g**2
    adam = -0.1 * np.sqrt(0.001) / 0.1 * (0.1 * g0) / (np.sqrt(0.001 * g0**2) + 1e-7)
    np.testing.assert_allclose(bias.value, adam, rtol=1e-5)
    assert set(opt.state) == {"dense/kernel/m", "dense/bias/m", "dense/bias/v"}


@pytest.mark.parametrize("path, kwargs, adamw", [
    ("sequential/dense/kernel", {}, False),
    ("sequential/embedding/embeddings", {}, True),
    ("sequential/embedding/embeddings", {"exclude_embeddings": False}, False),
    ("sequential/head/kernel", {"exclude_layers": ["he.d"]}, True),
])
def test_muon_chooses_adamw_by_keras_path(path, kwargs, adamw):
    opt = O.Muon(**kwargs)
    opt.path_prefix = "sequential/"
    param = Parameter(path.split("/", 1)[1], np.zeros((3, 2), np.float32))
    assert opt.variable_path(param) == path and opt.uses_adamw(param) is adamw


def test_schedule_free_adamw_matches_the_formulas():
    lr, b1, b2, eps, warmup = 0.1, 0.9, 0.99, 1e-6, 3
    y, z, v = np.array([1.0, -2.0]), np.zeros(2), np.zeros(2)
    for t, g in enumerate(map(np.array, GRADS), start=1):
        rate = lr * min(t / warmup, 1.0)
        v = v + (g**2 - v) * (1 - b2)
        z = z - rate * g / (np.sqrt(v / (1 - b2**t)) + eps)
        x = (y - (1 - b1) * z) / b1  # Keras' quirk: from the updated z
        x = (1 - 1 / t) * x + z / t
        y = (1 - b1) * z + b1 * x
    opt = O.ScheduleFreeAdamW(lr, beta_1=b1, beta_2=b2, epsilon=eps, warmup_steps=warmup)
    np.testing.assert_allclose(_run(opt), y, rtol=1e-5)


def test_loss_scale_optimizer_skips_and_halves_then_grows():
    opt = O.LossScaleOptimizer(O.SGD(1.0), initial_scale=8.0, dynamic_growth_steps=2)
    p = Parameter("layer/kernel", np.array([1.0, 1.0], dtype=np.float32))
    for g in ([8.0, 8.0], [np.inf, 0.0], [4.0, 4.0], [np.nan, 1.0], [2.0, 2.0], [2.0, 2.0]):
        p.grad = np.array(g, dtype=np.float32)
        opt.apply([p])
    # steps 1, 3, 5, 6 apply g / scale = 1 each (scales 8, 4, 2, 2); 2 and 4 halve the scale;
    # step 6 is the second finite one in a row: the scale doubles to 4
    np.testing.assert_array_equal(p.value, [-3.0, -3.0])
    assert opt.iterations == 4 and opt.dynamic_scale == 4.0 and opt.step_counter == 0


@pytest.mark.parametrize("make", [
    lambda: O.Adam(0.01, gradient_accumulation_steps=2, use_ema=True),
    lambda: O.Muon(0.01),
    lambda: O.ScheduleFreeAdamW(0.01, loss_scale_factor=8.0),
    lambda: O.LossScaleOptimizer(O.Nadam(0.01), initial_scale=4.0, dynamic_growth_steps=2),
    lambda: O.MultiOptimizer(O.OptimizerMap(O.SGD(0.1, momentum=0.5), {".*bias": O.Adam(0.01)})),
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
    opt, back = model.optimizer, loaded.optimizer
    assert type(back) is type(opt) and back.get_config().keys() == opt.get_config().keys()
    assert back.calls == opt.calls
    assert getattr(back, "dynamic_scale", None) == getattr(opt, "dynamic_scale", None)
    for key, value in opt.state.items():
        np.testing.assert_array_equal(back.state[key], value)
    model.train_step(x, y)
    loaded.train_step(x, y)
    for w, w_loaded in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(w, w_loaded)


def test_multi_optimizer_with_a_selector_function():
    """A function of the weight (Keras' variable: path, name, shape) picks the optimizer; each
    optimizer steps its own weights with its own iterations."""
    sgd, adam = O.SGD(0.5), O.Adam(0.1)
    seen = []

    def select(variable):
        seen.append((variable.path, variable.name, variable.shape))
        return adam if variable.name == "bias" else sgd

    model = sn.Sequential([sn.layers.Input((3,)), sn.layers.Dense(2)], seed=0, name="net")
    model.compile(optimizer=O.MultiOptimizer(select), loss="mse")
    x, y = np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32)
    kernel, bias = (p.value.copy() for p in model.params)
    model.train_step(x, y)
    assert seen == [("net/dense/kernel", "kernel", (3, 2)), ("net/dense/bias", "bias", (2,))]
    assert model.optimizer.optimizers == [sgd, adam] and sgd.iterations == adam.iterations == 1
    grad_kernel, grad_bias = (p.grad for p in model.params)
    np.testing.assert_allclose(model.params[0].value, kernel - 0.5 * grad_kernel, rtol=1e-6)
    np.testing.assert_allclose(model.params[1].value, bias - 0.1 * np.sign(grad_bias), rtol=1e-4)
    # (Adam's first step is lr * g / (|g| + epsilon / sqrt(1 - beta_2)): sign(g) to 1e-5 here)
    with pytest.raises(ValueError, match="function cannot be saved"):
        model.optimizer.get_config()


def test_string_names():
    assert type(O.get("muon")) is O.Muon and type(O.get("ScheduleFreeAdamW")) is O.ScheduleFreeAdamW
    with pytest.raises(ValueError, match="wraps another one"):
        O.get("LossScaleOptimizer")


@pytest.mark.parametrize("make, exc, fragments", [
    (lambda: O.Adam(gradient_accumulation_steps=1), ValueError,
     ["Adam", "gradient_accumulation_steps", ">= 2", "1"]),
    (lambda: O.SGD(gradient_accumulation_steps=2.5), ValueError, ["SGD", "gradient_accumulation_steps"]),
    (lambda: O.SGD(loss_scale_factor=0.0), ValueError, ["SGD", "loss_scale_factor"]),
    (lambda: O.Muon(exclude_layers="dense"), ValueError, ["Muon", "exclude_layers", "'dense'"]),
    (lambda: O.Muon(ns_steps=-1), ValueError, ["Muon", "ns_steps"]),
    (lambda: O.Muon(momentum=1.5), ValueError, ["Muon", "momentum"]),
    (lambda: O.ScheduleFreeAdamW(beta_1=0.0), ValueError, ["ScheduleFreeAdamW", "beta_1"]),
    (lambda: O.ScheduleFreeAdamW(warmup_steps=-2), ValueError, ["warmup_steps", "-2"]),
    (lambda: O.LossScaleOptimizer("adam"), TypeError, ["LossScaleOptimizer", "inner_optimizer"]),
    (lambda: O.LossScaleOptimizer(O.Adam(), dynamic=False), ValueError, ["dynamic=False"]),
    (lambda: O.LossScaleOptimizer(O.Adam(), use_ema=True), ValueError, ["`use_ema`"]),
    (lambda: O.LossScaleOptimizer(O.Adam(), foo=1), ValueError, ["`foo`"]),
    (lambda: O.LossScaleOptimizer(O.Adam(), dynamic_growth_steps=0), ValueError,
     ["dynamic_growth_steps", "0"]),
    (lambda: O.MultiOptimizer("adam"), TypeError, ["MultiOptimizer", "optimizer_map", "'adam'"]),
    (lambda: O.OptimizerMap("sgd"), TypeError, ["default_optimizer", "'sgd'"]),
    (lambda: O.OptimizerMap(O.SGD(), [O.Adam()]), TypeError, ["optimizer_map must be a dictionary"]),
    (lambda: O.OptimizerMap(O.SGD(), {"x": "adam"}), ValueError, ["optimizer must be", "'adam'"]),
])
def test_bad_input_gets_a_clear_error(make, exc, fragments):
    with pytest.raises(exc) as info:
        make()
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))


def test_compile_gives_the_optimizer_keras_variable_paths():
    """Keras builds a Sequential model's layers under the model's name ("seqx/d/kernel"), a
    functional model's outside it ("d/kernel"): the paths the optimizers' by-name rules (Muon's
    ``exclude_layers``, ``exclude_from_weight_decay``) match against."""
    seq = sn.Sequential([sn.layers.Input((3,)), sn.layers.Dense(2, name="d")], name="seqx")
    x = sn.Input((3,))
    functional = sn.Model(x, sn.layers.Dense(2, name="d")(x), name="fx")
    for model, path in ((seq, "seqx/d/kernel"), (functional, "d/kernel")):
        model.compile(optimizer=O.Muon(), loss="mse")
        kernel = model.layers[-1].params["kernel"]
        assert model.optimizer.variable_path(kernel) == path
