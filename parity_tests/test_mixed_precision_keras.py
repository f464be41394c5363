"""``keras.mixed_precision`` and ``keras.dtype_policies`` against scratchnet: the policies' dtypes,
names and configs; a float64 global policy trains as Keras' does; the mixed policies, which
scratchnet refuses (scratchnet/dtype_policies.py says why), are the ones Keras runs in float16."""

import keras
import numpy as np
import pytest

import scratchnet as sn
from parity_tests.driver import check_trajectory, make_twins

L = sn.layers
NAMES = ["float32", "float64", "float16", "bfloat16", "mixed_float16", "mixed_bfloat16"]


@pytest.mark.parametrize("name", NAMES)
def test_policies_match_keras(name):
    ours, theirs = sn.mixed_precision.Policy(name), keras.mixed_precision.Policy(name)
    assert (ours.name, ours.compute_dtype, ours.variable_dtype, ours.quantization_mode) == \
        (theirs.name, theirs.compute_dtype, theirs.variable_dtype, theirs.quantization_mode)
    assert repr(ours) == repr(theirs)
    assert sn.dtype_policies.serialize(ours) == keras.dtype_policies.serialize(theirs)
    assert sn.dtype_policies.deserialize(keras.dtype_policies.serialize(theirs)) == ours


def test_the_names_keras_has():
    for module, keras_module in ((sn.mixed_precision, keras.mixed_precision),
                                 (sn.dtype_policies, keras.dtype_policies)):
        for name in module.__all__:
            assert hasattr(keras_module, name), name
            ours, theirs = getattr(module, name), getattr(keras_module, name)
            if isinstance(ours, type):
                assert ours.__name__ == theirs.__name__, name
    assert keras.mixed_precision.global_policy().name == sn.mixed_precision.global_policy().name
    with pytest.raises(ValueError, match="Cannot convert 'float8' to a mixed precision"):
        keras.mixed_precision.Policy("float8")
    with pytest.raises(ValueError, match="Cannot convert 'float8' to a mixed precision"):
        sn.mixed_precision.Policy("float8")


def test_a_float64_global_policy_trains_as_keras():
    try:
        keras.config.set_dtype_policy("float64")
        sn.mixed_precision.set_global_policy("float64")
        assert sn.config.floatx() == "float64"
        model = sn.Sequential([L.Input((5,)), L.Dense(7, activation="tanh"), L.Dense(3)], seed=2)
        twins = make_twins(model, loss="mse", optimizer=sn.optimizers.Adam(0.01))
        assert twins.keras.layers[0].kernel.dtype == "float64"
        assert model.params[0].value.dtype == np.float64
        rng = np.random.default_rng(3)
        data = [(rng.standard_normal((8, 5)), rng.standard_normal((8, 3))) for _ in range(2)]
        # (at the usual tolerance: Keras' floatx stays float32, so its learning-rate variable holds
        # 0.01 rounded to float32, about 2e-9 off, and its logged loss is a float32 metric)
        check_trajectory(twins, data, 10)
    finally:
        keras.config.set_dtype_policy("float32")
        sn.mixed_precision.set_global_policy("float32")
    assert sn.config.floatx() == "float32"


def test_keras_runs_mixed_float16_in_float16_and_scratchnet_refuses_it():
    """What scratchnet would have to do: Keras keeps float32 kernels, computes in float16, and
    compile wraps the optimizer in a LossScaleOptimizer."""
    kmodel = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, dtype="mixed_float16")])
    kmodel.compile(optimizer="adam", loss="mse")
    assert kmodel.layers[0].kernel.dtype == "float32"
    assert kmodel(np.ones((1, 3), "f4")).dtype == "float16"
    with pytest.raises(ValueError, match="dtype policy 'mixed_float16'.*supported: \\['float32', "
                                         "'float64'\\]"):
        L.Dense(2, dtype="mixed_float16")
    with pytest.raises(ValueError, match="set_dtype_policy: dtype policy 'mixed_bfloat16'"):
        sn.mixed_precision.set_global_policy("mixed_bfloat16")
    assert sn.config.floatx() == "float32"  # unchanged by the refusal
