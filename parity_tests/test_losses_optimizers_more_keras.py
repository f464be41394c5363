"""Keras 3's other losses, optimizers and initializers: scratchnet against Keras 3.15.1.

Losses (KLDivergence, Poisson, MeanSquaredLogarithmicError, MeanAbsolutePercentageError, LogCosh,
CosineSimilarity, Hinge, SquaredHinge, CategoricalHinge): per-sample values (Keras'
``reduction=None``) and the reduced loss to ``FORWARD_RTOL``, the gradient of the reduced loss
with respect to the prediction (``tf.GradientTape`` on the Keras loss object) to ``GRAD_RTOL``, on
inputs that reach Keras' clips, epsilons and ties; the same through whole models and a few SGD
steps; every string name against ``keras.losses.get``.

Optimizers (Adamax, Adadelta, Lion, with and without the options every optimizer has): weights
after each of ``STEPS`` steps against Keras' ``train_on_batch`` to ``TRAJECTORY_RTOL``.

Conversion: each loss, optimizer and initializer to Keras and back with the same config, and
``.keras`` files both ways with the optimizer's state in Keras' variable layout (the next step
agrees). Initializers cannot draw TensorFlow's numbers, so their distributions are compared:
the same limits, and standard deviations within sampling error of each other.
"""

import json
import warnings
import zipfile

import keras
import numpy as np
import pytest

import scratchnet as sn
import tfnet
from parity_tests.driver import (
    FORWARD_RTOL,
    GRAD_RTOL,
    TRAJECTORY_RTOL,
    assert_close,
    check_loss,
    check_loss_and_grads,
    check_trajectory,
    make_twins,
)
from parity_tests.test_optimizers import batches, small_convnet

L = sn.layers
O = sn.optimizers
RNG_SEED = 11
STEPS = 20


# ----------------------------------------------------------------------------- losses, alone


def _with_edges(a, edges):
    flat = a.reshape(-1)
    flat[: min(len(edges), flat.size)] = np.asarray(edges, a.dtype)[: flat.size]
    return a


SHAPES = [(8, 3), (8, 1), (4, 2, 3)]
WEIGHTS = {(8, 3): np.linspace(0, 2, 8), (8, 1): np.linspace(0, 2, 8), (4, 2, 3): None}


@pytest.mark.parametrize("shape", SHAPES)
def test_kl_divergence_with_clipped_targets_and_predictions(shape):
    rng = np.random.default_rng(RNG_SEED)
    y = _with_edges(rng.uniform(0, 1, shape).astype("f4"), [0.0, 1.0, 1e-8, 0.3])
    p = _with_edges(rng.uniform(0, 1, shape).astype("f4"), [0.3, 0.0, 1.0, 1e-7, 1.5, 1e-9])
    check_loss(sn.losses.KLDivergence(), y, p, WEIGHTS[shape])


@pytest.mark.parametrize("shape", SHAPES)
def test_poisson(shape):
    rng = np.random.default_rng(RNG_SEED)
    y = rng.integers(0, 5, shape).astype("f4")
    p = _with_edges(rng.uniform(0.01, 4, shape).astype("f4"), [0.0, 1e-7, 3.0])
    check_loss(sn.losses.Poisson(), y, p, WEIGHTS[shape])


@pytest.mark.parametrize("shape", SHAPES)
def test_mean_squared_logarithmic_error_with_values_below_eps(shape):
    """Predictions at and below eps (the gradient stops below it, passes at it)."""
    rng = np.random.default_rng(RNG_SEED)
    y = _with_edges((rng.uniform(-1, 5, shape)).astype("f4"), [0.0, -2.0, 1.0])
    p = _with_edges((rng.uniform(-1, 5, shape)).astype("f4"), [1e-7, -3.0, 0.0, 2.0])
    check_loss(sn.losses.MeanSquaredLogarithmicError(), y, p, WEIGHTS[shape])


@pytest.mark.parametrize("shape", SHAPES)
def test_mean_absolute_percentage_error_with_zero_targets_and_exact_hits(shape):
    rng = np.random.default_rng(RNG_SEED)
    y = (rng.standard_normal(shape) * 3).astype("f4")
    p = (rng.standard_normal(shape) * 3).astype("f4")
    p.reshape(-1)[::5] = y.reshape(-1)[::5]  # |e| = 0: the gradient is 0 in both
    y.reshape(-1)[1] = 0.0  # divided by eps
    check_loss(sn.losses.MeanAbsolutePercentageError(), y, p, WEIGHTS[shape])


@pytest.mark.parametrize("shape", SHAPES)
def test_log_cosh_with_large_errors(shape):
    rng = np.random.default_rng(RNG_SEED)
    y = (rng.standard_normal(shape) * 2).astype("f4")
    p = _with_edges((rng.standard_normal(shape) * 2).astype("f4"), [60.0, -60.0, 0.0, 1e-3])
    check_loss(sn.losses.LogCosh(), y, p, WEIGHTS[shape])


@pytest.mark.parametrize("shape", [(8, 3), (4, 2, 3), (8, 5)])
def test_cosine_similarity_with_zero_and_tiny_vectors(shape):
    """A zero prediction, a prediction of norm below eps (Keras' clipped 1 / eps scale) and a
    zero target."""
    rng = np.random.default_rng(RNG_SEED)
    y = (rng.standard_normal(shape)).astype("f4")
    p = (rng.standard_normal(shape)).astype("f4")
    flat_y, flat_p = y.reshape(-1, shape[-1]), p.reshape(-1, shape[-1])
    flat_p[0] = 0.0
    flat_p[1] = flat_p[1] * 1e-9
    flat_y[2] = 0.0
    check_loss(sn.losses.CosineSimilarity(), y, p, None if len(shape) == 3 else np.arange(8.0))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("labels", ["binary", "pm1"])
@pytest.mark.parametrize("loss", [sn.losses.Hinge(), sn.losses.SquaredHinge()],
                         ids=lambda loss: loss.name)
def test_hinges_with_margins_of_exactly_zero(loss, labels, shape):
    """Predictions of exactly +-1 against their label: margin 0, where TensorFlow's maximum passes
    the gradient to the margin."""
    rng = np.random.default_rng(RNG_SEED)
    y01 = rng.integers(0, 2, shape).astype("f4")
    p = (rng.standard_normal(shape) * 1.5).astype("f4")
    p.reshape(-1)[::3] = (2 * y01 - 1).reshape(-1)[::3]
    y = y01 if labels == "binary" else 2 * y01 - 1
    check_loss(loss, y, p, WEIGHTS[shape])


@pytest.mark.parametrize("shape", [(8, 4), (4, 2, 3)])
def test_categorical_hinge_with_tied_maxima_and_zero_margins(shape):
    rng = np.random.default_rng(RNG_SEED)
    labels = rng.integers(0, shape[-1], shape[:-1])
    y = np.eye(shape[-1], dtype="f4")[labels]
    p = (rng.standard_normal(shape)).astype("f4")
    rows = p.reshape(-1, shape[-1])
    rows[0] = 0.5  # every class tied
    rows[1] = np.where(y.reshape(-1, shape[-1])[1] == 1, 0.3, 0.7)  # the wrong classes tied
    rows[2] = np.where(y.reshape(-1, shape[-1])[2] == 1, 1.5, 0.0)
    rows[2, (labels.reshape(-1)[2] + 1) % shape[-1]] = 0.5  # neg - pos + 1 = 0 exactly
    check_loss(sn.losses.CategoricalHinge(), y, p, None)


# ----------------------------------------------------------------------------- names
NAMES = ["kl_divergence", "KLDivergence", "kld", "KLD", "poisson", "Poisson",
         "mean_squared_logarithmic_error", "MeanSquaredLogarithmicError", "msle", "MSLE",
         "mean_absolute_percentage_error", "MeanAbsolutePercentageError", "mape", "MAPE",
         "log_cosh", "LogCosh", "cosine_similarity", "CosineSimilarity", "hinge", "Hinge",
         "squared_hinge", "SquaredHinge", "categorical_hinge", "CategoricalHinge"]


@pytest.mark.parametrize("name", NAMES)
def test_every_name_means_the_same_loss_in_keras(name):
    """keras.losses.get(name) (a function or a class) gives the same values as scratchnet's."""
    rng = np.random.default_rng(RNG_SEED)
    y = rng.uniform(0.05, 1, (6, 3)).astype("f4")
    p = rng.uniform(0.05, 1, (6, 3)).astype("f4")
    theirs = keras.losses.get(name)
    theirs = theirs if not isinstance(theirs, keras.losses.Loss) else type(theirs)(reduction=None)
    ours = sn.losses.get(name)
    assert_close(ours.forward(*ours.check(y, p)), np.asarray(theirs(y, p)), FORWARD_RTOL, name)


def test_scratchnet_knows_every_name_keras_gives_these_losses():
    """No Keras name for these nine losses is missing from scratchnet's registry."""
    from keras.src.losses import ALL_OBJECTS_DICT

    classes = {type(sn.losses.get(name)) for name in NAMES}
    ours = {cls.name for cls in classes} | {cls.__name__ for cls in classes}
    checked = 0
    for name, obj in ALL_OBJECTS_DICT.items():
        if getattr(obj, "__name__", None) in ours:  # a Keras function or class of these losses
            cls = type(sn.losses.get(name))
            assert obj.__name__ in (cls.name, cls.__name__), name
            checked += 1
    assert checked == len(NAMES)


@pytest.mark.parametrize("name", ["kl_divergence", "poisson", "msle", "mape", "log_cosh",
                                  "cosine_similarity", "hinge", "squared_hinge",
                                  "categorical_hinge"])
def test_losses_named_by_strings_in_both_frameworks(name):
    """Keras compiles the string into a LossFunctionWrapper; the model's loss and gradients agree."""
    rng = np.random.default_rng(RNG_SEED)
    x = rng.standard_normal((8, 4)).astype("f4")
    y = np.eye(3, dtype="f4")[rng.integers(0, 3, 8)]
    model = _model(3, "softmax")
    model.compile(optimizer="sgd", loss=name)
    kmodel = tfnet.to_keras(model)
    kmodel.compile(optimizer="sgd", loss=name)
    loss_s, grads_s = model.loss_and_grads(x, y)
    loss_k, grads_k = tfnet.loss_and_grads(kmodel, x, y)
    assert_close(loss_s, loss_k, FORWARD_RTOL, f"loss {name!r}")
    for g_s, g_k in zip(grads_s, grads_k, strict=True):
        assert_close(g_s, g_k, GRAD_RTOL, f"gradient under loss {name!r}")
    back = tfnet.from_keras(kmodel)
    assert type(back.loss) is type(model.loss)


# ----------------------------------------------------------------------------- losses in models
def _model(units, activation, seed=0):
    return sn.Sequential([L.Input((4,)), L.Dense(6, activation="tanh"),
                          L.Dense(units, activation=activation)], seed=seed)


def _targets(kind, rng, n=12):
    if kind == "prob":
        y = rng.uniform(0, 1, (n, 3))
        return (y / y.sum(axis=-1, keepdims=True)).astype("f4")
    return {"counts": rng.integers(0, 4, (n, 3)), "positive": rng.uniform(0, 3, (n, 3)),
            "real": rng.standard_normal((n, 3)), "binary": rng.integers(0, 2, (n, 3)),
            "onehot": np.eye(3)[rng.integers(0, 3, n)]}[kind].astype("f4")


@pytest.mark.parametrize("loss, activation, target", [
    (sn.losses.KLDivergence(), "softmax", "prob"),  # no logits rule: Keras reads probabilities
    (sn.losses.Poisson(), "softplus", "counts"),
    (sn.losses.MeanSquaredLogarithmicError(), "relu", "positive"),
    (sn.losses.MeanAbsolutePercentageError(), None, "real"),
    (sn.losses.LogCosh(), None, "real"),
    (sn.losses.CosineSimilarity(), "tanh", "real"),
    (sn.losses.Hinge(), "tanh", "binary"),
    (sn.losses.SquaredHinge(), None, "binary"),
    (sn.losses.CategoricalHinge(), "softmax", "onehot"),
], ids=lambda v: getattr(v, "name", str(v)))
def test_losses_through_a_model_and_a_few_steps(loss, activation, target):
    rng = np.random.default_rng(RNG_SEED)
    x = rng.standard_normal((12, 4)).astype("f4")
    y = _targets(target, rng)
    twins = make_twins(_model(3, activation), loss=loss, optimizer=O.SGD(0.1))
    check_loss_and_grads(twins, x, y)
    check_trajectory(twins, [(x[:6], y[:6]), (x[6:], y[6:])], steps=6)


# ----------------------------------------------------------------------------- optimizers
OPTIMIZERS = {
    "adamax": lambda: O.Adamax(0.005),
    "adamax_betas_epsilon": lambda: O.Adamax(0.01, beta_1=0.8, beta_2=0.95, epsilon=1e-3),
    "adamax_weight_decay": lambda: O.Adamax(0.005, weight_decay=0.1),
    "adamax_clipnorm": lambda: O.Adamax(0.005, clipnorm=0.3),
    "adamax_schedule": lambda: O.Adamax(O.schedules.ExponentialDecay(0.01, 5, 0.7)),
    "adadelta": lambda: O.Adadelta(1.0),
    "adadelta_rho_epsilon": lambda: O.Adadelta(0.5, rho=0.8, epsilon=1e-4),
    "adadelta_clipvalue": lambda: O.Adadelta(1.0, clipvalue=0.05),
    "adadelta_weight_decay": lambda: O.Adadelta(1.0, weight_decay=0.05),
    "lion": lambda: O.Lion(0.001),
    "lion_betas": lambda: O.Lion(0.002, beta_1=0.5, beta_2=0.9),
    "lion_weight_decay": lambda: O.Lion(0.001, weight_decay=0.5),
    "lion_global_clipnorm": lambda: O.Lion(0.001, global_clipnorm=0.5),
    "lion_cosine": lambda: O.Lion(O.schedules.CosineDecay(0.002, decay_steps=15)),
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


@pytest.mark.parametrize("name", ["adamax_betas_epsilon", "adadelta_rho_epsilon", "lion_betas",
                                  "lion_cosine", "adamax_weight_decay"])
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


@pytest.mark.parametrize("name", ["adamax", "adadelta", "lion"])
def test_keras_defaults_equal_scratchnet_defaults(name):
    kconfig = keras.optimizers.get(name).get_config()
    config = O.get(name).get_config()
    for key, value in config.items():
        assert kconfig[key] == (pytest.approx(value, rel=1e-7) if isinstance(value, float)
                                else value), key


def test_lion_refuses_the_beta_1_keras_refuses():
    with pytest.raises(ValueError, match="SignSGD"):
        keras.optimizers.Lion(beta_1=0.0)
    with pytest.raises(ValueError, match="SignSGD"):
        O.Lion(beta_1=0.0)


# ----------------------------------------------------------------------------- conversion
@pytest.mark.parametrize("loss", [sn.losses.KLDivergence(), sn.losses.Poisson(),
                                  sn.losses.MeanSquaredLogarithmicError(),
                                  sn.losses.MeanAbsolutePercentageError(), sn.losses.LogCosh(),
                                  sn.losses.CosineSimilarity(), sn.losses.Hinge(),
                                  sn.losses.SquaredHinge(), sn.losses.CategoricalHinge()],
                         ids=lambda loss: loss.name)
def test_loss_maps_both_ways(loss):
    kloss = tfnet.convert.loss_to_keras(loss)
    assert type(kloss).__name__ == type(loss).__name__ and kloss.name == loss.name
    back = tfnet.convert.loss_from_keras(kloss)
    assert type(back) is type(loss) and back.get_config() == loss.get_config()
    # a Keras loss built from scratchnet's saved config
    from scratchnet.saving_keras import _loss_spec

    rebuilt = keras.losses.deserialize(_loss_spec(loss))
    assert type(rebuilt).__name__ == type(loss).__name__


INITIALIZERS = [
    ("random_normal", keras.initializers.RandomNormal, {"mean": 0.2, "stddev": 0.3}),
    ("truncated_normal", keras.initializers.TruncatedNormal, {"mean": -0.1, "stddev": 0.2}),
    ("variance_scaling", keras.initializers.VarianceScaling,
     {"scale": 2.0, "mode": "fan_avg", "distribution": "uniform", "input_axes": None,
      "output_axes": None}),
    ("variance_scaling", keras.initializers.VarianceScaling,
     {"scale": 0.5, "mode": "fan_out", "distribution": "truncated_normal", "input_axes": None,
      "output_axes": None}),
    ("variance_scaling", keras.initializers.VarianceScaling,
     {"scale": 1.5, "mode": "fan_in", "distribution": "untruncated_normal", "input_axes": None,
      "output_axes": None}),
]
INIT_IDS = [f"{name}-{config.get('distribution', '')}" for name, _, config in INITIALIZERS]


@pytest.mark.parametrize("name, keras_cls, config", INITIALIZERS, ids=INIT_IDS)
def test_initializer_maps_both_ways(name, keras_cls, config):
    spec = {"name": name, "config": config}
    model = sn.Sequential([L.Input((4,)), L.Dense(3, kernel_initializer=spec,
                                                  bias_initializer="truncated_normal")], seed=0)
    kmodel = tfnet.to_keras(model)
    kinit = kmodel.layers[0].kernel_initializer
    assert type(kinit) is keras_cls
    kconfig = kinit.get_config()
    assert {k: kconfig[k] for k in config} == config
    assert type(kmodel.layers[0].bias_initializer) is keras.initializers.TruncatedNormal
    back = tfnet.from_keras(kmodel).layers[0].get_config()
    assert sn.initializers.get(back["kernel_initializer"]).get_config() == {**config, "seed": None}
    assert sn.initializers.get(back["bias_initializer"]).get_config() == \
        sn.initializers.TruncatedNormal().get_config()


@pytest.mark.parametrize("name, keras_cls, config", INITIALIZERS, ids=INIT_IDS)
def test_initializer_draws_the_distribution_keras_draws(name, keras_cls, config):
    """The same limits (the largest |value| of about 100,000 draws within 0.5% of each other, for
    the bounded ones), the same spread (standard deviations within 1.5%: the sampling error of
    each is 0.2%, of their difference 0.3%) and the same mean (within 0.02 stddev: 4 times the
    sampling error of the difference)."""
    shape = (3, 3, 100, 120) if name == "variance_scaling" else (100_000,)
    ours = sn.initializers.deserialize({"name": name, "config": config})(
        shape, np.float64, np.random.default_rng(0))
    theirs = np.asarray(keras_cls(**config, seed=1)(shape, dtype="float32"), dtype=np.float64)
    center = config.get("mean", 0.0)
    assert ours.std() == pytest.approx(theirs.std(), rel=0.015)
    assert ours.mean() == pytest.approx(theirs.mean(), abs=0.02 * theirs.std())
    if config.get("distribution") != "untruncated_normal" and name != "random_normal":
        assert np.abs(ours - center).max() == pytest.approx(np.abs(theirs - center).max(), rel=5e-3)


# ----------------------------------------------------------------------------- .keras files
def _keras_load(path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Skipping variable loading for optimizer" fails the test
        return keras.models.load_model(path)


def _file_model(optimizer, loss):
    model = sn.Sequential([L.Input((4,)), L.Dense(5, activation="tanh",
                                                  kernel_initializer="variance_scaling"),
                           L.Dense(3, activation="softmax",
                                   kernel_initializer={"name": "truncated_normal",
                                                       "config": {"mean": 0.0, "stddev": 0.5}})],
                          seed=3, name="more")
    model.compile(optimizer=optimizer, loss=loss)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((8, 4)).astype("f4")
    y = np.eye(3, dtype="f4")[rng.integers(0, 3, 8)]
    return model, x, y


FILE_CASES = [
    (lambda: O.Adamax(0.01, beta_1=0.8), lambda: sn.losses.KLDivergence()),
    (lambda: O.Adadelta(1.0, rho=0.9), lambda: sn.losses.CategoricalHinge()),
    (lambda: O.Lion(0.003, weight_decay=0.1), lambda: sn.losses.CosineSimilarity()),
    (lambda: O.Lion(O.schedules.ExponentialDecay(0.01, 2, 0.5)), lambda: sn.losses.LogCosh()),
]
FILE_IDS = ["adamax-kl", "adadelta-categorical_hinge", "lion-cosine", "lion_schedule-log_cosh"]


def _next_step_agrees(model, kmodel, x, y):
    model.train_step(x, y)
    kmodel.train_on_batch(x, y)
    for param, wk in zip(model.weights, kmodel.get_weights(), strict=True):
        assert_close(param.value, wk, TRAJECTORY_RTOL, f'"{param.name}" after the step after loading')
    assert model.optimizer.iterations == int(kmodel.optimizer.iterations)


@pytest.mark.parametrize("make_opt, make_loss", FILE_CASES, ids=FILE_IDS)
def test_scratchnet_file_opens_in_keras(make_opt, make_loss, tmp_path):
    model, x, y = _file_model(make_opt(), make_loss())
    model.fit(x, y, epochs=3, batch_size=4, verbose=0, shuffle=False)
    model.save(tmp_path / "m.keras")
    kmodel = _keras_load(tmp_path / "m.keras")
    for wk, ws in zip(kmodel.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(wk, ws)
    kopt = kmodel.optimizer
    assert type(kopt).__name__ == type(model.optimizer).__name__
    kconfig = kopt.get_config()
    for key, value in model.optimizer.get_config().items():
        if key not in ("name", "learning_rate"):
            assert kconfig[key] == value, key
    assert type(kmodel.loss).__name__ == type(model.loss).__name__
    assert type(kmodel.layers[0].kernel_initializer) is keras.initializers.VarianceScaling
    assert kmodel.layers[1].kernel_initializer.get_config()["stddev"] == 0.5
    # the optimizer's slots went across in Keras' layout: Keras' next step is scratchnet's
    for slot in kopt.variables[2 if model.optimizer.learning_rate_schedule is None else 1:]:
        assert np.any(np.asarray(slot) != 0), slot.path  # every slot holds trained state
    _next_step_agrees(model, kmodel, x, y)


@pytest.mark.parametrize("make_opt, make_loss", FILE_CASES, ids=FILE_IDS)
def test_keras_file_opens_in_scratchnet(make_opt, make_loss, tmp_path):
    model, x, y = _file_model(make_opt(), make_loss())
    kmodel = tfnet.to_keras(model)
    kmodel.fit(x, y, epochs=3, batch_size=4, verbose=0, shuffle=False)
    kmodel.save(tmp_path / "k.keras")
    with zipfile.ZipFile(tmp_path / "k.keras") as archive:  # Keras' own config names
        config = json.loads(archive.read("config.json"))
    assert config["compile_config"]["optimizer"]["class_name"] == type(model.optimizer).__name__
    loaded = sn.load_model(tmp_path / "k.keras")
    for ws, wk in zip(loaded.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_array_equal(ws, wk)
    assert type(loaded.optimizer) is type(model.optimizer)
    assert type(loaded.loss) is type(model.loss)
    assert loaded.layers[1].get_config()["kernel_initializer"] == \
        model.layers[1].get_config()["kernel_initializer"]
    assert loaded.optimizer.iterations == int(kmodel.optimizer.iterations) == 6
    _next_step_agrees(loaded, kmodel, x, y)
