"""DTypePolicyMap (scratchnet.dtype_policies): lookup by layer path (exact key, then one regular
expression matching the whole path, then the default), its errors, its config, and layers made
with one as their dtype (the entry for layer.path chooses float or quantized weights at build;
quantize records the new policy under the path). Keras parity:
parity_tests/test_quantization_keras.py."""

import numpy as np
import pytest

import scratchnet as sn

L = sn.layers
P = sn.dtype_policies


def _map(**kwargs):
    policy_map = P.DTypePolicyMap(**kwargs)
    policy_map["encoder/layer_0/dense"] = "int8_from_float32"
    policy_map["encoder/.*"] = P.DTypePolicy("float64")
    policy_map["decoder"] = "int4/-1_from_float32"
    return policy_map


def test_lookup_exact_then_regex_then_default():
    policy_map = _map(default_policy="float32")
    assert policy_map["encoder/layer_0/dense"].name == "int8_from_float32"  # exact (also matches .*)
    assert policy_map["encoder/attention/query"].name == "float64"  # the one regex matching it all
    assert policy_map["decoder"].name == "int4/-1_from_float32"
    assert policy_map["decoder/attention"].name == "float32"  # no implicit prefix: the default
    assert policy_map.name == "map_float32" and policy_map.compute_dtype == "float32"
    assert policy_map.quantization_mode is None
    assert len(policy_map) == 3 and list(policy_map) == ["encoder/layer_0/dense", "encoder/.*", "decoder"]
    assert "decoder" in policy_map and "decoder/attention" not in policy_map
    del policy_map["decoder"]
    assert policy_map["decoder"].name == "float32" and len(policy_map) == 2
    assert P.DTypePolicyMap().default_policy == P.dtype_policy()  # None: the global policy


@pytest.mark.parametrize("make, exc, fragments", [
    (lambda m: m.__setitem__("encoder/attention/.*", "float32") or m["encoder/attention/query"],
     ValueError, ["'encoder/attention/query' matches multiple", "'encoder/.*'", "'encoder/attention/.*'"]),
    (lambda m: m.__setitem__("decoder", "float32"), ValueError, ["decoder already exist"]),
    (lambda m: m.__setitem__("x", 3), ValueError, ["Cannot interpret", "3"]),
    (lambda m: P.DTypePolicyMap(default_policy=m), ValueError, ["cannot be a `DTypePolicyMap`"]),
    (lambda m: P.DTypePolicyMap(policy_map=[("a", "float32")]), TypeError, ["must be a dict"]),
])
def test_errors(make, exc, fragments):
    with pytest.raises(exc) as err:
        make(_map())
    for fragment in fragments:
        assert fragment in str(err.value), (fragment, str(err.value))


@pytest.mark.parametrize("default", [None, "float32"])
def test_config_round_trip(default):
    policy_map = _map(default_policy=default)
    config = policy_map.get_config()
    assert config["default_policy"] == default
    spec = config["policy_map"]["encoder/layer_0/dense"]
    assert spec["class_name"] == "QuantizedDTypePolicy"
    # no default: the names are left to the global policy at load (Keras' config)
    assert spec["config"] == {"mode": "int8", "source_name": None if default is None else "float32"}
    assert policy_map["encoder/layer_0/dense"].name == "int8_from_float32"  # (the map itself unchanged)
    back = P.deserialize(P.serialize(policy_map))
    assert isinstance(back, P.DTypePolicyMap) and list(back) == list(policy_map)
    # (no default: the float64 entry was written as {"name": None}, the global float32 at load)
    names = ["int8_from_float32", "float32" if default is None else "float64", "int4/-1_from_float32"]
    assert [back[k].name for k in back] == names
    assert back == policy_map if default == "float32" else back != policy_map
    assert P.get(P.serialize(policy_map)) == back


def _model(policy_map, name="seq"):
    return sn.Sequential([L.Input((4,)), L.Dense(3, name="keep", dtype=policy_map),
                          L.Dense(2, name="q", dtype=policy_map)], seed=0, name=name)


def test_layers_read_their_path_when_built():
    policy_map = P.DTypePolicyMap()
    policy_map["seq/q"] = "int8_from_float32"
    model = _model(policy_map)
    keep, q = model.layers
    assert (keep.path, q.path) == ("seq/keep", "seq/q")
    assert keep.dtype_policy is policy_map and q.dtype_policy is policy_map
    assert (keep.quantization_mode, q.quantization_mode) == (None, "int8")
    assert q.kernel.value.dtype == np.int8 and keep.kernel.value.dtype == np.float32
    inputs = sn.Input((4,))  # a functional model's layers are built outside it: path = name
    dense = L.Dense(2, name="f")
    sn.Model(inputs, dense(inputs))
    assert dense.path == "f" and L.Dense(2).path is None  # (None until built)
    twin = L.Dense(**q.get_config())
    assert isinstance(twin.dtype_policy, P.DTypePolicyMap) and twin.dtype_policy == policy_map


def test_quantize_records_the_new_policy_under_the_path():
    policy_map = P.DTypePolicyMap()
    model = _model(policy_map)
    model.quantize("int8", filters="^q$")
    assert [(k, policy_map[k].name) for k in policy_map] == [("seq/q", "int8_from_float32")]
    assert model.layers[1].quantization_mode == "int8" and model.layers[0].quantization_mode is None
    model.layers[0].quantize("int4", config=sn.quantizers.Int4QuantizationConfig(block_size=-1))
    assert policy_map["seq/keep"].name == "int4/-1_from_float32"


def test_keras_file_keeps_the_map(tmp_path):
    policy_map = P.DTypePolicyMap()
    model = _model(policy_map)
    model.quantize("int8", filters="^q$")
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    model.save(tmp_path / "m.keras")
    loaded = sn.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.layers[1].dtype_policy, P.DTypePolicyMap)
    assert [la.quantization_mode for la in loaded.layers] == [None, "int8"]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_layer_errors():
    policy_map = P.DTypePolicyMap()
    policy_map["seq/c"] = "int8_from_float32"
    with pytest.raises(ValueError, match="'int8_from_float32'.*Conv2D cannot be quantized"):
        sn.Sequential([L.Input((5, 5, 1)), L.Conv2D(2, 3, name="c", dtype=policy_map)], name="seq")
    built = L.Dense(2)
    built(np.ones((1, 3), np.float32))
    with pytest.raises(ValueError, match="is built: a DTypePolicyMap is read when a layer is built"):
        built.dtype_policy = P.DTypePolicyMap()
    with pytest.raises(ValueError, match="mixed_float16"):
        L.Dense(2, dtype=P.DTypePolicyMap(default_policy="mixed_float16"))
