"""scratchnet.mixed_precision and scratchnet.dtype_policies without Keras: the global policy is
config.floatx(), float32 and float64 run, the mixed policies are refused with the reason.
Keras parity: parity_tests/test_mixed_precision_keras.py."""

import numpy as np
import pytest

import scratchnet as sn

MP = sn.mixed_precision


def test_the_global_policy_is_floatx():
    assert MP.global_policy() == MP.dtype_policy() == sn.config.dtype_policy() == MP.Policy("float32")
    try:
        MP.set_global_policy(MP.DTypePolicy("float64"))
        assert sn.config.floatx() == "float64" and MP.global_policy().name == "float64"
        assert MP.DTypePolicy().name == "float64"  # no name: the global policy's
        model = sn.Sequential([sn.layers.Input((3,)), sn.layers.Dense(2, dtype="float64")], seed=0)
        assert model.params[0].value.dtype == np.float64
    finally:
        sn.config.set_dtype_policy("float32")
    assert sn.config.floatx() == "float32"


def test_a_layer_takes_a_policy_of_floatx():
    layer = sn.layers.Dense(2, dtype=sn.dtype_policies.DTypePolicy("float32"))
    model = sn.Sequential([sn.layers.Input((3,)), layer], seed=0)
    assert model.predict(np.ones((1, 3), np.float32), verbose=0).dtype == np.float32


def test_config_round_trip():
    policy = MP.Policy("mixed_float16")
    assert (policy.compute_dtype, policy.variable_dtype) == ("float16", "float32")
    spec = sn.dtype_policies.serialize(policy)
    assert spec == {"module": "keras", "class_name": "DTypePolicy",
                    "config": {"name": "mixed_float16"}, "registered_name": None}
    assert sn.dtype_policies.deserialize(spec) == policy == sn.dtype_policies.get(spec)
    assert sn.dtype_policies.get("float64") == sn.dtype_policies.FloatDTypePolicy("float64")
    assert MP.LossScaleOptimizer is sn.optimizers.LossScaleOptimizer


@pytest.mark.parametrize("make, exc, fragments", [
    (lambda: MP.set_global_policy("mixed_float16"), ValueError,
     ["set_dtype_policy", "'mixed_float16'", "mixed precision", "['float32', 'float64']"]),
    (lambda: MP.set_global_policy("float16"), ValueError, ["'float16'", "['float32', 'float64']"]),
    (lambda: sn.layers.Dense(2, dtype="mixed_bfloat16"), ValueError, ["Dense", "'mixed_bfloat16'"]),
    (lambda: sn.layers.Dense(2, dtype=MP.Policy("bfloat16")), ValueError, ["Dense", "'bfloat16'"]),
    (lambda: MP.set_global_policy(3), ValueError, ["policy=3"]),
    (lambda: MP.Policy("int8"), ValueError, ["Cannot convert 'int8'"]),
    (lambda: MP.Policy(16), TypeError, ["'name' must be a string"]),
    (lambda: sn.dtype_policies.deserialize({"class_name": "QuantizedDTypePolicy"}), ValueError,
     ["DTypePolicy", "QuantizedDTypePolicy"]),
])
def test_bad_input_gets_a_clear_error(make, exc, fragments):
    with pytest.raises(exc) as info:
        make()
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))
    assert sn.config.floatx() == "float32"
