"""Post-training int8 quantization (scratchnet.quantizers, layer.quantize, model.quantize): golden
values worked by hand, the trainable bias against float64 finite differences (tests/gradcheck.py),
the input gradient as Keras' custom gradient defines it (the dequantized kernel, not the
derivative of the rounding, which is zero almost everywhere), configs, and errors. Keras parity:
parity_tests/test_quantization_keras.py."""

import numpy as np
import pytest

import scratchnet as sn
from tests.gradcheck import REL_TOL, numeric_grad, rel_error

L = sn.layers
Q = sn.quantizers


def _dense(units=3, inputs=4, seed=0, **kwargs):
    layer = L.Dense(units, **kwargs)
    rng = np.random.default_rng(seed)
    layer.ensure_built((inputs,), rng)
    for p in layer.weights:
        p.value[...] = rng.standard_normal(p.value.shape)
    return layer


def _einsum():
    layer = L.EinsumDense("ab,bc->ac", 3)
    layer(np.ones((1, 4), np.float32))
    return layer


def test_abs_max_quantize_golden():
    # scale = 127 / (1 + 1e-7); 0.5 * scale = 63.49999 -> 63, 0.25 * scale = 31.74999 -> 32
    q, scale = Q.abs_max_quantize(np.array([[0.5, -1.0, 0.25]], np.float32), axis=-1)
    np.testing.assert_array_equal(q, [[63, -127, 32]])
    assert q.dtype == np.int8 and scale.shape == (1, 1) and scale.dtype == np.float32
    assert scale[0, 0] == np.float32(127) / np.float32(1 + 1e-7)
    # round half to even, as np.round and TensorFlow's round: 2.5 -> 2, 3.5 -> 4
    q, _ = Q.abs_max_quantize(np.array([2.5, 3.5, 127.0]), axis=0, epsilon=0.0)
    np.testing.assert_array_equal(q, [2, 4, 127])


def test_pack_int4_golden():
    values = np.array([[-3, 7], [2, -8], [1, 0]], np.int8)  # Keras' docstring example
    packed, shape, n = Q.pack_int4(values, axis=0)
    np.testing.assert_array_equal(packed, [[45, -121], [1, 0]])
    assert (shape, n) == ((2, 2), 3)
    np.testing.assert_array_equal(Q.unpack_int4(packed, n, axis=0), values)


def test_dense_quantize_makes_int8_kernel_and_scale():
    layer = _dense()
    kernel = layer.kernel.value.copy()
    x = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    float_out = layer(x)
    layer.quantize("int8")
    assert layer.kernel.value.dtype == np.int8 and layer.kernel_scale.value.shape == (3,)
    expected_scale = np.float32(127) / (np.abs(kernel).max(axis=0) + np.float32(1e-7))
    np.testing.assert_array_equal(layer.kernel_scale.value, expected_scale)
    np.testing.assert_array_equal(layer.kernel.value, np.round(kernel * expected_scale))
    assert [p.name for p in layer.weights] == ["dense/bias", "dense/kernel", "dense/kernel_scale"]
    assert layer.trainable_weights == [layer.bias]
    assert layer.dtype_policy.name == "int8_from_float32" and layer.quantization_mode == "int8"
    # within the quantization error: each of x and W is off by at most half a step of 1/127
    out = layer(x)
    assert np.max(np.abs(out - float_out)) < 0.05 * np.max(np.abs(float_out))
    # the formula, step by step
    q_x, scale_x = Q.abs_max_quantize(x, -1)
    integer = q_x.astype(np.int32) @ layer.kernel.value.astype(np.int32)
    np.testing.assert_array_equal(out, integer.astype(np.float32) / (layer.kernel_scale.value * scale_x)
                                  + layer.bias.value)


def test_quantized_dense_bias_gradient_matches_finite_differences(float64):
    layer = _dense(activation="tanh")
    layer.quantize("int8")
    assert layer.kernel_scale.value.dtype == np.float64
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 4))
    w = rng.standard_normal((3, 3))
    layer.forward(x)
    layer.backward(w)

    def loss():
        return float(np.sum(w * layer.forward(x)))

    assert rel_error(layer.bias.grad, numeric_grad(loss, layer.bias.value)) < REL_TOL


def test_quantized_dense_input_gradient_is_the_dequantized_kernel():
    layer = _dense()
    layer.quantize("int8")
    x = np.random.default_rng(3).standard_normal((2, 4)).astype(np.float32)
    dy = np.random.default_rng(4).standard_normal((2, 3)).astype(np.float32)
    layer.forward(x)
    dx = layer.backward(dy)
    dequantized = layer.kernel.value.astype(np.float32) / layer.kernel_scale.value
    np.testing.assert_allclose(dx, dy @ dequantized.T, rtol=1e-6)
    assert layer.kernel.grad is None


@pytest.mark.parametrize("block_size", [-1, 2])
def test_dense_int4(block_size):
    layer = _dense(units=3, inputs=5)
    kernel = layer.kernel.value.copy()
    layer.quantize(config=Q.Int4QuantizationConfig(block_size=block_size))
    assert layer.kernel.value.shape == (5, 2) and layer.kernel.value.dtype == np.int8  # packed
    assert layer.dtype_policy.name == f"int4/{block_size}_from_float32"
    q = Q.unpack_int4(layer.kernel.value, 3, axis=-1)
    assert q.min() >= -8 and q.max() <= 7
    if block_size == -1:  # one scale per unit over [-8, 7]: scale = 7 / (max|W| + 1e-7)
        scale = np.float32(7) / (np.abs(kernel).max(axis=0) + np.float32(1e-7))
        np.testing.assert_array_equal(layer.kernel_scale.value, scale)
        dequantized = q / scale
        assert np.max(np.abs(dequantized - kernel)) <= 0.5 / scale.min() + 1e-6  # half a step
    else:  # groups of 2 input rows: (q - zero[g]) * scale[g]
        assert layer.kernel_scale.value.shape == layer.kernel_zero.value.shape == (3, 3)
        np.testing.assert_array_equal(layer.g_idx.value, [0, 0, 1, 1, 2])
        g = layer.g_idx.value.astype(int)
        dequantized = (q - layer.kernel_zero.value[g]) * layer.kernel_scale.value[g]
        # (Keras' zero point is clipped to [-8, 7]: a group whose values all lie far from 0, as
        # rows 2-3 of column 0 here (0.90 and 1.37), comes back far off; parity pins it as Keras')
        assert layer.kernel_zero.value[1, 0] == -8
    x = np.random.default_rng(7).standard_normal((2, 5)).astype(np.float32)
    dy = np.ones((2, 3), np.float32)
    np.testing.assert_allclose(layer(x), x @ dequantized.astype(np.float32) + layer.bias.value,
                               rtol=1e-5, atol=1e-6)
    layer.forward(x)
    np.testing.assert_allclose(layer.backward(dy), dy @ dequantized.T, rtol=1e-5, atol=1e-6)
    assert [p.name.split("/")[-1] for p in layer.keras_weight_groups()[0][2]][:2] == ["kernel", "bias"]


def test_quantized_model_trains_only_the_bias():
    model = sn.Sequential([L.Input((4,)), L.Dense(3)], seed=0)
    model.compile(optimizer=sn.optimizers.SGD(0.1), loss="mse")
    model.quantize("int8")
    before = {p.name: p.numpy() for p in model.weights}
    rng = np.random.default_rng(5)
    model.fit(rng.standard_normal((8, 4)), rng.standard_normal((8, 3)), epochs=2, verbose=0)
    after = {p.name: p.numpy() for p in model.weights}
    assert not np.array_equal(before["dense/bias"], after["dense/bias"])
    np.testing.assert_array_equal(before["dense/kernel"], after["dense/kernel"])
    np.testing.assert_array_equal(before["dense/kernel_scale"], after["dense/kernel_scale"])
    assert model.count_params() == 4 * 3 + 3 + 3


def test_quantized_dense_without_bias_still_reads_floats():
    layer = _dense(use_bias=False)
    layer.quantize("int8")
    out = layer(np.ones((1, 4)))  # (its first weight is the int8 kernel: inputs must stay floats)
    assert out.dtype == np.float32 and np.all(np.isfinite(out))


def test_embedding_quantize():
    layer = L.Embedding(6, 4)
    rng = np.random.default_rng(6)
    layer.ensure_built((3,), rng)
    table = layer.embeddings.value.copy()
    layer.quantize("int8")
    scale = np.float32(127) / (np.abs(table).max(axis=-1) + np.float32(1e-7))
    np.testing.assert_array_equal(layer.embeddings_scale.value, scale)
    ids = np.array([[0, 5, 5]])
    out = layer(ids)
    np.testing.assert_array_equal(out, layer.embeddings.value[ids] / scale[ids][..., None])
    np.testing.assert_allclose(out, table[ids], atol=0.5 / scale.min())
    assert layer.trainable_weights == [] and layer.backward(np.ones_like(out)) is None


def test_einsum_dense_quantization_axes_golden():
    from scratchnet.layers.einsum_dense import quantization_axes

    layout = quantization_axes("abc,cde->abde")
    assert layout["input"] == {"reduced": [2], "transpose": [0, 1, 2], "expand": [3], "squeeze": []}
    assert layout["kernel"] == {"reduced": [0], "transpose": [0, 1, 2], "expand": [1], "squeeze": []}
    layer = L.EinsumDense("abc,cde->abde", (5, 2, 3), bias_axes="de")
    layer(np.zeros((1, 5, 4), np.float32))
    layer.quantize("int8")
    assert layer.kernel.value.shape == (4, 2, 3) and layer.kernel_scale.value.shape == (1, 1, 2, 3)


def test_config_round_trip_builds_quantized_weights():
    layer = _dense(activation="relu")
    layer.quantize("int8")
    config = layer.get_config()
    assert config["dtype"]["class_name"] == "QuantizedDTypePolicy"
    twin = L.Dense.from_config(config) if hasattr(L.Dense, "from_config") else L.Dense(**config)
    twin.ensure_built((4,), np.random.default_rng(0))
    assert [(p.name.split("/")[-1], p.value.dtype) for p in twin.weights] == \
        [("bias", np.float32), ("kernel", np.int8), ("kernel_scale", np.float32)]
    twin.set_weights(layer.get_weights())
    x = np.ones((2, 4), np.float32)
    np.testing.assert_array_equal(twin(x), layer(x))
    with pytest.raises(ValueError, match="already quantized"):
        twin.quantize("int8")


def test_setting_a_quantized_policy_quantizes_a_built_layer():
    layer = _dense()
    layer.dtype_policy = "int8_from_float32"
    assert layer.kernel.value.dtype == np.int8 and layer.dtype_policy.name == "int8_from_float32"


def test_policies_and_configs():
    policy = sn.dtype_policies.get("int8_from_float32")
    assert isinstance(policy, sn.dtype_policies.QuantizedDTypePolicy)
    assert (policy.compute_dtype, policy.variable_dtype, policy.source_name) == ("float32",) * 3
    assert sn.dtype_policies.deserialize(sn.dtype_policies.serialize(policy)) == policy
    assert sn.dtype_policies.get("int4/64_from_float32").block_size == 64
    config = Q.Int8QuantizationConfig(weight_quantizer=Q.AbsMaxQuantizer(axis=0))
    assert Q.deserialize(Q.serialize(config)).weight_quantizer.axis == (0,)
    assert sn.DTypePolicy is sn.dtype_policies.DTypePolicy and sn.Quantizer is Q.Quantizer


@pytest.mark.parametrize("make, exc, fragments", [
    (lambda: _einsum().quantize("float8"), NotImplementedError, ["EinsumDense", "'int8', 'int4'"]),
    (lambda: _dense().quantize("float8"), NotImplementedError, ["'float8'"]),
    (lambda: Q.GPTQConfig(), NotImplementedError, ["GPTQ", "calibration", "quantize('int8')"]),
    (lambda: Q.AWQConfig(dataset=None), NotImplementedError, ["AWQ", "calibration"]),
    (lambda: _dense().quantize("gptq"), ValueError, ["GPTQConfig"]),
    (lambda: L.Dense(2, quantization_config="int8"), ValueError, ["quantization_config", "'int8'"]),
    (lambda: L.Dense(2, dtype="int8_from_float16"), ValueError, ["float16"]),
    (lambda: L.Conv2D(2, 3, dtype="int8_from_float32"), ValueError,
     ["Conv2D", "'int8_from_float32'", "cannot be quantized"]),
    (lambda: sn.Sequential([L.Input((2,)), L.Dense(2)]).quantize("int8", filters=3), ValueError,
     ["filters"]),
    (lambda: sn.Sequential([L.Input((2,)), L.Dense(2)]).quantize("int8", bad=1), ValueError,
     ["Unrecognized keyword arguments", "bad"]),
    (lambda: Q.pack_int4(np.zeros(2, np.int32)), TypeError, ["int8", "int32"]),
    (lambda: sn.dtype_policies.get("int4/0_from_float32"), ValueError, ["block_size", "0"]),
    (lambda: sn.config.set_dtype_policy("int8_from_float32"), ValueError,
     ["set_dtype_policy", "'int8_from_float32'", "model.quantize('int8')"]),
])
def test_bad_input_gets_a_clear_error(make, exc, fragments):
    with pytest.raises(exc) as err:
        make()
    for fragment in fragments:
        assert fragment in str(err.value), (fragment, str(err.value))


def test_model_quantize_filters_and_nested_layers():
    model = sn.Sequential([L.Input((4,)), L.Dense(3, name="keep"), L.Dense(2, name="q_out")], seed=0)
    model.quantize("int8", filters=["^q_"])
    assert [la.quantization_mode for la in model.layers] == [None, "int8"]
    model.quantize("int8", filters=lambda layer: layer.name == "keep")
    assert [la.quantization_mode for la in model.layers] == ["int8", "int8"]


def _quantized_models():
    models = []
    for mode in ("int8", "int4"):
        # (EinsumDense is left out: the fake device has no einsum, for float layers either)
        model = sn.Sequential([L.Input((4,)), L.Dense(6, activation="tanh", name="pre"),
                               L.Dense(5, name="q"), L.Dense(3, name="q2")], seed=0)
        model.compile(optimizer="adam", loss="mse")
        model.quantize(mode, filters="^q")
        models.append(model)
    return models  # (Embedding neither: its ids are read on the host, float or quantized)


def test_on_the_gpu_backend_quantized_layers_stay_there_and_equal_numpy(monkeypatch):
    """tests/fake_gpu.py stands in for CuPy (it refuses implicit conversion to NumPy): quantized
    layers' int8 weights live on the device, and training gives NumPy's numbers bit for bit."""
    from tests import fake_gpu

    rng = np.random.default_rng(8)
    x, y = rng.standard_normal((6, 4)).astype(np.float32), rng.standard_normal((6, 3))
    sn.set_backend("numpy")
    references = _quantized_models()
    fake_gpu.install(monkeypatch)
    models = _quantized_models()
    for model, reference in zip(models, references, strict=True):
        for m in (model, reference):
            m.fit(x, y, batch_size=3, epochs=2, shuffle=False, verbose=0)
        assert all(isinstance(p.value, fake_gpu.FakeGPUArray) for p in model.weights)
        for w, r in zip(model.get_weights(), reference.get_weights(), strict=True):
            np.testing.assert_array_equal(w, r)
        np.testing.assert_array_equal(model.predict(x, verbose=0), reference.predict(x, verbose=0))


def _built_einsum(equation="abc,cde->abde", output_shape=(2, 2, 3), bias_axes="de", shape=(2, 4), seed=0):
    layer = L.EinsumDense(equation, output_shape, bias_axes=bias_axes)
    rng = np.random.default_rng(seed)
    layer.ensure_built(shape, rng)
    for p in layer.weights:
        p.value[...] = rng.standard_normal(p.value.shape)
    return layer


@pytest.mark.parametrize("block_size", [-1, 3])
def test_einsum_dense_int4(block_size):
    """The (4, 2, 3) kernel of "abc,cde->abde" sums c: rows 4, columns 6, packed to (4, 3)."""
    layer = _built_einsum()
    kernel = layer.kernel.value.copy()
    layer.quantize(config=Q.Int4QuantizationConfig(block_size=block_size))
    assert layer.kernel.value.shape == (4, 3) and layer.kernel.value.dtype == np.int8
    assert layer.dtype_policy.name == f"int4/{block_size}_from_float32"
    assert [p.name.split("/")[-1] for p in layer.weights] == \
        ["bias", "kernel", "kernel_scale"] + (["kernel_zero", "g_idx"] if block_size > 0 else [])
    q = Q.unpack_int4(layer.kernel.value, 6, axis=-1)  # (rows, columns)
    flat = kernel.reshape(4, 6)
    if block_size == -1:  # scale = 7 / (max|column| + 1e-7)
        scale = np.float32(7) / (np.abs(flat).max(axis=0) + np.float32(1e-7))
        np.testing.assert_array_equal(layer.kernel_scale.value, scale)
        dequantized = q / scale
        assert np.max(np.abs(dequantized - flat)) <= 0.5 / scale.min() + 1e-6  # half a step
    else:  # rows in groups of 3 (the last one padded): (q - zero[g]) * scale[g]
        assert layer.kernel_scale.value.shape == layer.kernel_zero.value.shape == (2, 6)
        np.testing.assert_array_equal(layer.g_idx.value, [0, 0, 0, 1])
        g = layer.g_idx.value.astype(int)
        dequantized = (q - layer.kernel_zero.value[g]) * layer.kernel_scale.value[g]
    dequantized = dequantized.astype(np.float32).reshape(kernel.shape)
    x = np.random.default_rng(7).standard_normal((3, 2, 4)).astype(np.float32)
    expected = np.einsum("abc,cde->abde", x, dequantized) + layer.bias.value
    np.testing.assert_allclose(layer(x), expected, rtol=1e-5, atol=1e-5)
    dy = np.random.default_rng(8).standard_normal(expected.shape).astype(np.float32)
    layer.forward(x)
    np.testing.assert_allclose(layer.backward(dy), np.einsum("abde,cde->abc", dy, dequantized),
                               rtol=1e-5, atol=1e-5)
    assert layer.trainable_weights == [layer.bias]  # (the packed kernel gets no gradient)
    names = [p.name.split("/")[-1] for p in layer.keras_weight_groups()[0][2]]
    assert names[:3] == ["kernel", "bias", "kernel_scale"]


def test_einsum_dense_int4_kernel_reshaped_as_keras():
    """A summed axis that is not the kernel's first ("abc,bcd->abd": (b, c, d), c summed) is
    reshaped to (c, b*d) without moving axes, as Keras': the values still round-trip."""
    layer = _built_einsum("abc,bcd->abd", (2, 5), "bd", (2, 3))
    kernel = layer.kernel.value.copy()
    layer.quantize(config=Q.Int4QuantizationConfig(block_size=-1))
    assert layer.kernel.value.shape == (3, 5)  # (rows 3, ceil(10 / 2))
    dequantized = layer._dequantized_kernel(np.float32)
    assert dequantized.shape == kernel.shape
    scale = layer.kernel_scale.value  # (10,)
    assert np.all(np.abs(dequantized - kernel).reshape(3, 10) <= 0.5 / scale + 1e-6)  # half a step


@pytest.mark.parametrize("block_size", [-1, 2])
def test_embedding_int4(block_size):
    layer = L.Embedding(6, 5)
    layer.ensure_built((3,), np.random.default_rng(6))
    table = layer.embeddings.value.copy()
    layer.quantize(config=Q.Int4QuantizationConfig(block_size=block_size))
    assert layer.embeddings.value.shape == (6, 3) and layer.embeddings.value.dtype == np.int8
    assert layer.dtype_policy.name == f"int4/{block_size}_from_float32"
    q = Q.unpack_int4(layer.embeddings.value, 5, axis=-1)
    ids = np.array([[0, 5, 5], [2, 1, 0]])
    if block_size == -1:  # one scale per row: 7 / (max|row| + 1e-7)
        scale = np.float32(7) / (np.abs(table).max(axis=-1) + np.float32(1e-7))
        np.testing.assert_array_equal(layer.embeddings_scale.value, scale)
        expected = q[ids] / scale[ids][..., None]
        np.testing.assert_allclose(layer(ids), table[ids], atol=0.5 / scale.min())
    else:  # columns in groups of 2: (q - zero[id, g]) * scale[id, g]
        assert layer.embeddings_scale.value.shape == layer.embeddings_zero.value.shape == (6, 3)
        np.testing.assert_array_equal(layer.g_idx.value, [0, 0, 1, 1, 2])
        g = layer.g_idx.value.astype(int)
        zero, scale = layer.embeddings_zero.value[:, g], layer.embeddings_scale.value[:, g]  # (6, 5)
        expected = ((q - zero) * scale)[ids]
    np.testing.assert_allclose(layer(ids), expected, rtol=1e-6)
    assert layer.trainable_weights == [] and layer.backward(np.ones((2, 3, 5), np.float32)) is None


@pytest.mark.parametrize("make", [
    lambda dtype: L.Embedding(6, 5, dtype=dtype),
    lambda dtype: L.EinsumDense("abc,cd->abd", (2, 3), bias_axes="d", dtype=dtype),
])
@pytest.mark.parametrize("dtype", ["int4/-1_from_float32", "int4/2_from_float32"])
def test_int4_config_round_trip_builds_packed_weights(make, dtype):
    layer = make(dtype)
    layer.ensure_built((2, 4) if isinstance(layer, L.EinsumDense) else (2,), np.random.default_rng(0))
    assert layer.quantization_mode == "int4" and layer.dtype_policy.name == dtype
    assert all(p.value.dtype == np.int8 for p in layer.weights if p.name.endswith(("kernel", "embeddings")))
    twin = type(layer).from_config(layer.get_config()) if hasattr(type(layer), "from_config") \
        else type(layer)(**layer.get_config())
    twin.ensure_built((2, 4) if isinstance(layer, L.EinsumDense) else (2,), np.random.default_rng(0))
    assert [(p.name, p.value.shape, p.value.dtype) for p in twin.weights] == \
        [(p.name, p.value.shape, p.value.dtype) for p in layer.weights]


@pytest.mark.parametrize("make", [lambda: _built_einsum(), lambda: L.Embedding(4, 3)])
def test_int4_errors(make):
    layer = make()
    if not layer.built:
        layer.ensure_built((2,), np.random.default_rng(0))
    with pytest.raises(NotImplementedError, match="'float8'.*'int8', 'int4'"):
        layer.quantize("float8")
    layer.quantize("int4")
    with pytest.raises(ValueError, match="already quantized with dtype_policy='int4/128_from_float32'"):
        layer.quantize("int4")


def _reversible(tie_weights=True, seed=0, **kwargs):
    layer = L.ReversibleEmbedding(7, 5, tie_weights=tie_weights, **kwargs)
    rng = np.random.default_rng(seed)
    layer.ensure_built((3,), rng)
    for p in layer.weights:
        p.value[...] = rng.standard_normal(p.value.shape)
    return layer


@pytest.mark.parametrize("tie_weights", [True, False])
def test_reversible_embedding_int8_both_directions(tie_weights):
    layer = _reversible(tie_weights)
    table = layer.embeddings.value.copy()
    reverse = None if tie_weights else layer.reverse_embeddings.value.copy()
    layer.quantize("int8")
    assert layer.dtype_policy.name == "int8_from_float32" and layer.trainable_weights == []
    names = ["embeddings", "embeddings_scale"] + ([] if tie_weights else
                                                  ["reverse_embeddings", "reverse_embeddings_scale"])
    assert [p.name.split("/")[-1] for p in layer.weights] == names
    q, scale = Q.abs_max_quantize(table, axis=-1)  # one scale per vocabulary entry
    np.testing.assert_array_equal(layer.embeddings.value, q)
    ids = np.array([[0, 6, 6]])
    np.testing.assert_array_equal(layer(ids), q[ids] / scale[ids])
    if tie_weights:  # the reverse call reads the table transposed, its scales per output column
        kernel, kernel_scale = q.T, scale[:, 0]
    else:  # reverse_embeddings (5, 7): one scale per column (vocabulary entry)
        kernel, kernel_scale = Q.abs_max_quantize(reverse, axis=0)
        kernel_scale = kernel_scale[0]
        np.testing.assert_array_equal(layer.reverse_embeddings.value, kernel)
        np.testing.assert_array_equal(layer.reverse_embeddings_scale.value, kernel_scale)
    h = np.random.default_rng(1).standard_normal((2, 3, 5)).astype(np.float32)
    q_h, scale_h = Q.abs_max_quantize(h, axis=-1)
    expected = (q_h.astype(np.int32) @ kernel.astype(np.int32)).astype(np.float32) / (scale_h * kernel_scale)
    np.testing.assert_array_equal(layer(h, reverse=True), expected)
    np.testing.assert_allclose(layer(h, reverse=True), h @ (table.T if tie_weights else reverse),
                               atol=0.25)  # (within the rounding of 5 products)


@pytest.mark.parametrize("tie_weights", [True, False])
@pytest.mark.parametrize("block_size", [-1, 2])
def test_reversible_embedding_int4_both_directions(tie_weights, block_size):
    layer = _reversible(tie_weights)
    table = layer.embeddings.value.copy()
    reverse = table.T if tie_weights else layer.reverse_embeddings.value.copy()
    layer.quantize(config=Q.Int4QuantizationConfig(block_size=block_size))
    assert layer.dtype_policy.name == f"int4/{block_size}_from_float32"
    assert layer.inputs_quantizer is None  # (int4's config quantizes weights only)
    assert layer.embeddings.value.shape == (7, 3)
    if not tie_weights:
        assert layer.reverse_embeddings.value.shape == (3, 7)  # packed along output_dim
        if block_size == 2:
            assert layer.reverse_embeddings_scale.value.shape == (3, 7)
            assert layer.reverse_embeddings_zero.value.dtype == np.float32  # (Keras': a float array)
    h = np.random.default_rng(1).standard_normal((2, 3, 5)).astype(np.float32)
    kernel, scale = layer._quantized_reverse_kernel(np.float32)
    assert kernel.shape == (5, 7)
    dequantized = kernel / scale if scale is not None else kernel
    if block_size == -1:  # within half a step of the float weights
        assert np.max(np.abs(dequantized - reverse)) <= 0.5 / scale.min() + 1e-6
    np.testing.assert_allclose(layer(h, reverse=True), h @ dequantized, rtol=1e-5, atol=1e-5)
    dz = np.random.default_rng(2).standard_normal((2, 3, 7)).astype(np.float32)
    layer(h, reverse=True)
    np.testing.assert_allclose(layer.backward(dz), dz @ dequantized.T, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", ["int8", "int4"])
def test_quantized_reverse_input_gradient_matches_finite_differences(float64, mode):
    """Keras' gradient of the reverse call is the derivative of its formula with the rounding held
    still: int8 quantizes h, so only each row's largest |h| moves the output (through scale_h);
    int4 (weights only) passes dz / scale back through the integer kernel. Central differences
    keep every rounding where it is (the test checks no h * scale lies near a .5), so they measure
    exactly that."""
    layer = _reversible(tie_weights=False, logit_soft_cap=3.0)
    layer.quantize(mode, config=Q.Int4QuantizationConfig(block_size=-1) if mode == "int4" else None)
    rng = np.random.default_rng(4)
    h = rng.standard_normal((2, 5))
    w = rng.standard_normal((2, 7))
    layer(h, reverse=True)
    dh = layer.backward(w)

    def loss():
        return float(np.sum(w * layer.forward(h, reverse=True)))

    if mode == "int8":  # no input within 1e-3 of a rounding boundary: the differences keep q_h
        scaled = h * Q.abs_max_quantize(h, axis=-1)[1]
        assert np.all(np.abs(np.abs(scaled - np.round(scaled)) - 0.5) > 1e-3)
    numeric = numeric_grad(loss, h)
    assert rel_error(dh, numeric) < REL_TOL
    if mode == "int8":
        assert np.count_nonzero(dh) == 2  # one per row: its largest |h|


def test_reversible_embedding_quantized_config_round_trip_and_errors():
    layer = L.ReversibleEmbedding(7, 5, tie_weights=False, dtype="int4/2_from_float32")
    layer.ensure_built((3,), np.random.default_rng(0))
    assert [p.name.split("/")[-1] for p in layer.weights] == [
        "embeddings", "embeddings_scale", "embeddings_zero", "g_idx", "reverse_embeddings",
        "reverse_embeddings_scale", "reverse_embeddings_zero"]
    twin = L.ReversibleEmbedding(**layer.get_config())
    twin.ensure_built((3,), np.random.default_rng(0))
    assert [(p.name, p.value.shape, p.value.dtype) for p in twin.weights] == \
        [(p.name, p.value.shape, p.value.dtype) for p in layer.weights]
    with pytest.raises(NotImplementedError, match="'float8'"):
        _reversible().quantize("float8")
    with pytest.raises(ValueError, match="already quantized"):
        layer.quantize("int8")
