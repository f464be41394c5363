"""RandomNormal, TruncatedNormal and VarianceScaling (every mode and distribution), and Keras'
string names for every initializer.

TensorFlow's draws cannot be reproduced in NumPy, so what is promised (and tested here on large
samples) is the distribution: its limits exactly, its mean and spread statistically (200,000
draws: the sample standard deviation is within about 0.2% of the true one, so 1.5% is never
missed by chance); and the config, which round-trips through scratchnet's files."""

import math

import numpy as np
import pytest

import scratchnet as sn
from scratchnet import initializers as inits

L = sn.layers
N = 200_000
TRUNCATED_STD = 0.87962566103423978  # the stddev of N(0, 1) cut to [-2, 2]


def _draw(init, shape=(N,), dtype=np.float32):
    return init(shape, dtype, np.random.default_rng(0))


# ----------------------------------------------------------------------------- distributions
def test_random_normal_mean_and_stddev():
    values = _draw(inits.RandomNormal(mean=1.5, stddev=0.2))
    assert values.dtype == np.float32 and values.shape == (N,)
    assert values.mean() == pytest.approx(1.5, abs=0.002)
    assert values.std() == pytest.approx(0.2, rel=0.015)
    assert np.abs(values - 1.5).max() > 2 * 0.2  # not truncated


def test_truncated_normal_is_cut_at_two_stddev_around_the_mean():
    values = _draw(inits.TruncatedNormal(mean=-1.0, stddev=0.5), dtype=np.float64)
    assert values.min() >= -2.0 and values.max() <= 0.0  # -1 +- 2 * 0.5
    assert values.min() < -1.99 and values.max() > -0.01  # and it reaches the cut
    assert values.mean() == pytest.approx(-1.0, abs=0.003)
    assert values.std() == pytest.approx(0.5 * TRUNCATED_STD, rel=0.015)


def test_defaults_are_keras_defaults():
    assert inits.RandomNormal().get_config() == {"seed": None, "mean": 0.0, "stddev": 0.05}
    assert inits.TruncatedNormal().get_config() == {"seed": None, "mean": 0.0, "stddev": 0.05}
    assert inits.VarianceScaling().get_config() == {
        "seed": None, "scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal",
        "input_axes": None, "output_axes": None}
    assert inits.RandomUniform().get_config() == {"seed": None, "minval": -0.05, "maxval": 0.05}
    assert inits.Constant().get_config() == {"value": 0.0}


SHAPE = (3, 3, 40, 60)  # a conv kernel: fan_in = 9 * 40 = 360, fan_out = 9 * 60 = 540
FANS = {"fan_in": 360, "fan_out": 540, "fan_avg": 450}


@pytest.mark.parametrize("mode", sorted(FANS))
@pytest.mark.parametrize("scale", [1.0, 2.0, 0.3])
def test_variance_scaling_uniform(mode, scale):
    s = scale / FANS[mode]
    limit = math.sqrt(3 * s)
    values = _draw(inits.VarianceScaling(scale, mode, "uniform"), SHAPE, np.float64)
    assert values.shape == SHAPE
    assert np.abs(values).max() <= limit and np.abs(values).max() > 0.999 * limit
    assert values.std() == pytest.approx(math.sqrt(s), rel=0.015)


@pytest.mark.parametrize("mode", sorted(FANS))
@pytest.mark.parametrize("distribution", ["truncated_normal", "normal", "Truncated_Normal"])
def test_variance_scaling_truncated_normal_has_the_stddev_after_the_cut(mode, distribution):
    """stddev sqrt(scale / n) after truncation: drawn with sqrt(scale / n) / 0.8796, cut at 2 of
    those. "normal" means "truncated_normal" (Keras), and the name is read case-insensitively."""
    init = inits.VarianceScaling(2.0, mode, distribution)
    assert init.distribution == "truncated_normal"
    s = 2.0 / FANS[mode]
    values = _draw(init, SHAPE, np.float64)
    assert np.abs(values).max() <= 2 * math.sqrt(s) / TRUNCATED_STD
    assert values.std() == pytest.approx(math.sqrt(s), rel=0.015)


@pytest.mark.parametrize("mode", sorted(FANS))
def test_variance_scaling_untruncated_normal(mode):
    s = 0.5 / FANS[mode]
    values = _draw(inits.VarianceScaling(0.5, mode, "untruncated_normal"), SHAPE, np.float64)
    assert values.std() == pytest.approx(math.sqrt(s), rel=0.015)
    assert np.abs(values).max() > 3 * math.sqrt(s)  # tails beyond any cut


def test_variance_scaling_with_input_and_output_axes():
    """Keras 3.15: with both, fan_in and fan_out are the products of the named dimensions:
    shape (20, 30, 40), input_axes [0], output_axes [1, 2]: fan_in 20, fan_out 1200."""
    init = inits.VarianceScaling(1.0, "fan_out", "uniform", input_axes=[0], output_axes=[1, 2])
    values = _draw(init, (20, 30, 40), np.float64)
    assert np.abs(values).max() <= math.sqrt(3 / 1200)
    assert values.std() == pytest.approx(math.sqrt(1 / 1200), rel=0.02)
    assert inits.compute_fans((20, 30, 40), [0], [1, 2]) == (20, 1200)
    assert inits.compute_fans((20, 30, 40), [0], None) == (30 * 20, 40 * 20)  # one: the usual rule


def test_variance_scaling_divides_by_at_least_one():
    """Keras' max(1, fan): a shape with a zero fan draws with scale itself, not a division by 0."""
    values = _draw(inits.VarianceScaling(4.0, "fan_in", "uniform"), (0, 5))
    assert values.shape == (0, 5)
    values = _draw(inits.VarianceScaling(4.0, "fan_avg", "uniform"), ())  # fans 1 and 1
    assert abs(float(values)) <= math.sqrt(3 * 4.0)


def test_variance_scaling_matches_he_normal_and_glorot_uniform():
    """scale 2, fan_in, truncated normal is HeNormal; scale 1, fan_avg, uniform is GlorotUniform."""
    he = _draw(inits.HeNormal(), SHAPE, np.float64)
    vs = _draw(inits.VarianceScaling(2.0, "fan_in", "truncated_normal"), SHAPE, np.float64)
    assert vs.std() == pytest.approx(he.std(), rel=0.02)
    assert np.abs(vs).max() == pytest.approx(np.abs(he).max(), rel=0.01)
    glorot = _draw(inits.GlorotUniform(), SHAPE, np.float64)
    vs = _draw(inits.VarianceScaling(1.0, "fan_avg", "uniform"), SHAPE, np.float64)
    np.testing.assert_allclose(vs, glorot, rtol=1e-12)  # same rng, same limit (up to rounding)


# ----------------------------------------------------------------------------- names and configs
KERAS_NAMES = {
    inits.RandomNormal: ["random_normal", "RandomNormal", "normal"],
    inits.TruncatedNormal: ["truncated_normal", "TruncatedNormal"],
    inits.VarianceScaling: ["variance_scaling", "VarianceScaling"],
    inits.RandomUniform: ["random_uniform", "RandomUniform", "uniform"],
    inits.Constant: ["constant", "Constant"],
    inits.Zeros: ["zeros", "Zeros", "zero"],
    inits.Ones: ["ones", "Ones", "one"],
    inits.GlorotUniform: ["glorot_uniform", "GlorotUniform"],
    inits.HeNormal: ["he_normal", "HeNormal"],
    inits.LecunNormal: ["lecun_normal", "LecunNormal"],
    inits.LecunUniform: ["lecun_uniform", "LecunUniform"],
    inits.Identity: ["identity", "Identity"],
}


@pytest.mark.parametrize("cls", list(KERAS_NAMES), ids=lambda c: c.__name__)
def test_keras_string_names(cls):
    for name in KERAS_NAMES[cls]:
        assert type(inits.get(name)) is cls
        layer = L.Dense(3, kernel_initializer=name)
        model = sn.Sequential([L.Input((4,)), layer], seed=0)
        assert model.get_weights()[0].shape == (4, 3)
    for name in ("stft", "STFT", "STFTInitializer"):  # Keras' names for STFTSpectrogram's kernels
        assert type(inits.get(name)) is inits.STFT


# scratchnet's own form before it wrote Keras' (still read: older .npz files hold it)
CONFIGS = [
    {"name": "random_normal", "config": {"mean": 0.5, "stddev": 0.01}},
    {"name": "truncated_normal", "config": {"mean": 0.0, "stddev": 0.3}},
    {"name": "variance_scaling", "config": {"scale": 0.5, "mode": "fan_avg",
                                            "distribution": "untruncated_normal",
                                            "input_axes": None, "output_axes": None}},
    {"name": "variance_scaling", "config": {"scale": 3.0, "mode": "fan_out",
                                            "distribution": "uniform", "input_axes": [0],
                                            "output_axes": [1]}},
]


@pytest.mark.parametrize("spec", CONFIGS, ids=lambda s: s["name"])
@pytest.mark.parametrize("suffix", [".npz", ".keras"])
def test_initializer_configs_survive_save_and_load(spec, suffix, tmp_path):
    init = inits.deserialize(spec)
    config = {**spec["config"], "seed": None}
    assert inits.serialize(init) == {"module": "keras.initializers", "class_name": type(init).__name__,
                                     "config": config, "registered_name": None}
    model = sn.Sequential([L.Input((4,)), L.Dense(3, kernel_initializer=spec,
                                                  bias_initializer="truncated_normal")], seed=0)
    model.save(tmp_path / f"m{suffix}")
    loaded = sn.load_model(tmp_path / f"m{suffix}")
    assert inits.get(loaded.layers[0].get_config()["kernel_initializer"]).get_config() == config
    assert inits.get(loaded.layers[0].get_config()["bias_initializer"]).name == "truncated_normal"
    for w, w_loaded in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(w, w_loaded)


def test_keras_file_writes_keras_class_names_and_configs(tmp_path):
    import json
    import zipfile

    model = sn.Sequential([L.Input((4,)), L.Dense(3, kernel_initializer=CONFIGS[3],
                                                  bias_initializer="normal")], seed=0)
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        dense = json.loads(archive.read("config.json"))["config"]["layers"][1]["config"]
    assert dense["kernel_initializer"] == {
        "module": "keras.initializers", "class_name": "VarianceScaling", "registered_name": None,
        "config": {**CONFIGS[3]["config"], "seed": None}}
    assert dense["bias_initializer"]["class_name"] == "RandomNormal"
    assert dense["bias_initializer"]["config"] == {"mean": 0.0, "stddev": 0.05, "seed": None}


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("make, words", [
    (lambda: inits.VarianceScaling(scale=0.0), ["VarianceScaling", "scale", "positive", "0.0"]),
    (lambda: inits.VarianceScaling(scale=-1), ["VarianceScaling", "scale", "-1"]),
    (lambda: inits.VarianceScaling(mode="fan_sum"), ["VarianceScaling", "mode", "'fan_sum'",
                                                     "fan_avg"]),
    (lambda: inits.VarianceScaling(distribution="gamma"), ["VarianceScaling", "distribution",
                                                           "'gamma'", "untruncated_normal"]),
    (lambda: inits.VarianceScaling(input_axes="0"), ["VarianceScaling", "input_axes", "'0'"]),
    (lambda: inits.RandomNormal(stddev=-0.1), ["RandomNormal", "stddev", "-0.1"]),
    (lambda: inits.TruncatedNormal(mean=float("nan")), ["TruncatedNormal", "mean", "nan"]),
    (lambda: inits.TruncatedNormal(stddev="big"), ["TruncatedNormal", "stddev", "'big'"]),
    (lambda: L.Dense(2, kernel_initializer="truncated"), ["kernel_initializer", "'truncated'",
                                                          "truncated_normal"]),
])
def test_bad_input_gets_a_clear_error(make, words):
    with pytest.raises(ValueError) as info:
        make()
    for word in words:
        assert word in str(info.value), (word, str(info.value))
