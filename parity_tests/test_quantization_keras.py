"""Post-training int8 quantization against Keras 3.15.1: the same float weights quantized on both
sides (``model.quantize("int8")``), then compared.

- ``keras.quantizers``' functions on the same arrays: integers equal, floats equal bit for bit
  (they are the same float32 operations in the same order);
- Dense, EinsumDense, Embedding: the int8 kernels and their scales equal exactly, the outputs of a
  quantized layer fed the same inputs equal exactly (the integer product is exact, the rest is one
  float32 division and one addition on both sides);
- a quantized layer fed by a float layer: FORWARD_RTOL. Its inputs then differ by float32 rounding
  (the float layer's dot products summed in another order), and an input whose ``x * scale``
  falls within that rounding of a ``.5`` would round to the neighbouring int8 on one side, which
  moves that row's outputs by about ``1/127`` of their size. Measured on these models (and on
  4096 rows of a 64-unit Dense): no such flip; :func:`test_stacked_forward_and_no_rounding_flip`
  asserts it for its data, so a failure there says which it is;
- gradients after quantization (Keras' custom gradient: none for the int8 kernel, the input's
  through the dequantized kernel, the bias as before) at GRAD_RTOL, and Adam steps at
  TRAJECTORY_RTOL: Keras trains a quantized layer's bias;
- ``.keras`` files both ways, configs, dtype policies, and the errors in Keras' words.
"""

from __future__ import annotations

import warnings

import keras
import ml_dtypes
import numpy as np
import pytest

import scratchnet as sn
import tfnet
from parity_tests.driver import FORWARD_RTOL, GRAD_RTOL, TRAJECTORY_RTOL, assert_close

L = sn.layers
Q = sn.quantizers
KQ = keras.quantizers
SCCE = sn.losses.SparseCategoricalCrossentropy


def _random_weights(model, seed: int = 0):
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype(w.dtype) for w in model.get_weights()])
    return model


def _twins(model):
    """A scratchnet model and its Keras twin (same float weights), both quantized to int8."""
    kmodel = tfnet.to_keras(model)
    with warnings.catch_warnings():  # (Keras warns about InputLayer, which it tries to quantize)
        warnings.simplefilter("ignore")
        kmodel.quantize("int8")
    model.quantize("int8")
    return model, kmodel


def _assert_same_weights(model, kmodel):
    ours, theirs = model.get_weights(), kmodel.get_weights()
    assert [w.dtype for w in ours] == [np.dtype(w.dtype) for w in theirs]
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a, b)


# --- keras.quantizers' functions ------------------------------------------------------------------
@pytest.mark.parametrize("axis", [-1, 0, (0, 2)])
def test_abs_max_quantize_equals_keras(axis):
    x = np.random.default_rng(0).normal(size=(4, 5, 6)).astype(np.float32) * 3
    x[0, 0, 0] = 0.5 / (127 / (np.max(np.abs(x[0, 0])) + 1e-7))  # a tie lands near .5
    for to_numpy in (False, True):
        q, scale = Q.abs_max_quantize(x, axis, to_numpy=to_numpy)
        kq, kscale = KQ.abs_max_quantize(x, axis, to_numpy=to_numpy)
        np.testing.assert_array_equal(q, np.asarray(kq))
        np.testing.assert_array_equal(scale, np.asarray(kscale))
        assert q.dtype == np.int8 and scale.dtype == np.float32
    q, scale = Q.AbsMaxQuantizer(axis=axis, value_range=(-8, 7))(x)
    kq, kscale = KQ.AbsMaxQuantizer(axis=axis, value_range=(-8, 7))(x)
    np.testing.assert_array_equal(q, np.asarray(kq))
    np.testing.assert_array_equal(scale, np.asarray(kscale))


def test_grouped_quantize_with_zero_point_equals_keras():
    x = np.random.default_rng(1).normal(size=(10, 3)).astype(np.float32)
    ours = Q.abs_max_quantize_grouped_with_zero_point(x, block_size=4)
    theirs = KQ.abs_max_quantize_grouped_with_zero_point(x, block_size=4, to_numpy=True)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a, np.asarray(b))
        assert a.dtype == np.asarray(b).dtype


@pytest.mark.parametrize("num_bits, narrow_range", [(8, False), (8, True), (4, False)])
def test_fake_quant_equals_tensorflow(num_bits, narrow_range):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(6, 3)).astype(np.float32) * 2
    ours = Q.fake_quant_with_min_max_vars(x, -1.7, 2.3, num_bits=num_bits, narrow_range=narrow_range)
    theirs = KQ.fake_quant_with_min_max_vars(x, -1.7, 2.3, num_bits=num_bits, narrow_range=narrow_range)
    np.testing.assert_array_equal(ours, np.asarray(theirs))
    lows, highs = np.array([-1.0, -0.3, 0.2], np.float32), np.array([1.0, 2.5, 3.1], np.float32)
    ours = Q.fake_quant_with_min_max_vars(x, lows, highs, num_bits=num_bits, narrow_range=narrow_range,
                                          axis=-1)
    theirs = KQ.fake_quant_with_min_max_vars(x, lows, highs, num_bits=num_bits,
                                             narrow_range=narrow_range, axis=-1)
    np.testing.assert_array_equal(ours, np.asarray(theirs))


def test_float8_helpers_equal_keras():
    rng = np.random.default_rng(3)
    amax = np.array([0.0, 3.0, np.inf, 0.25], np.float32)
    scale = np.array([0.5, 0.5, 2.0, 1.0], np.float32)
    for margin in (0, 1):
        np.testing.assert_array_equal(Q.compute_float8_scale(amax, scale, 448.0, margin),
                                      np.asarray(KQ.compute_float8_scale(amax, scale, 448.0, margin)))
    history = rng.uniform(size=(5,)).astype(np.float32)
    x = rng.normal(size=(4, 4)).astype(np.float32)
    np.testing.assert_array_equal(Q.compute_float8_amax_history(x, history),
                                  np.asarray(KQ.compute_float8_amax_history(x, history)))
    for qtype in ("float8_e4m3fn", "float8_e5m2"):
        xs = (x * 300).astype(np.float32)
        np.testing.assert_array_equal(
            Q.quantize_and_dequantize(xs, np.float32(0.7), qtype, "float32"),
            np.asarray(KQ.quantize_and_dequantize(xs, np.float32(0.7), qtype, "float32")))
    assert float(ml_dtypes.finfo("float8_e4m3fn").max) == 448.0


@pytest.mark.parametrize("shape, axis", [((3, 2), 0), ((2, 3), 1), ((5, 4, 3), -1), ((4, 5), 0)])
def test_pack_and_unpack_int4_equal_keras(shape, axis):
    values = np.random.default_rng(4).integers(-8, 8, size=shape).astype(np.int8)
    packed, packed_shape, n = Q.pack_int4(values, axis=axis)
    kpacked, kshape, kn = KQ.pack_int4(values, axis=axis)
    np.testing.assert_array_equal(packed, np.asarray(kpacked))
    assert (packed_shape, n) == (tuple(kshape), kn)
    np.testing.assert_array_equal(Q.unpack_int4(packed, n, axis=axis), values)
    np.testing.assert_array_equal(Q.unpack_int4(packed, n, axis=axis),
                                  np.asarray(KQ.unpack_int4(kpacked, kn, axis=axis)))


def test_quantizer_configs_serialize_as_keras():
    from keras.src.saving import serialization_lib

    for ours, theirs in ((Q.AbsMaxQuantizer(axis=0), KQ.AbsMaxQuantizer(axis=0)),
                         (Q.Int8QuantizationConfig(), KQ.Int8QuantizationConfig()),
                         (Q.Int4QuantizationConfig(block_size=-1), KQ.Int4QuantizationConfig(block_size=-1))):
        expected = serialization_lib.serialize_keras_object(theirs)
        got = Q.serialize(ours)
        assert got["class_name"] == expected["class_name"] and got["module"] == expected["module"]
        assert Q.serialize(Q.deserialize(expected)) == got
    assert Q.get("AbsMaxQuantizer").get_config() == KQ.get("AbsMaxQuantizer").get_config()


# --- Dense ------------------------------------------------------------------------------------------
def test_dense_int8_weights_and_output_equal_keras_exactly():
    model = _random_weights(sn.Sequential([L.Input((7,)), L.Dense(5, activation="relu")], seed=0))
    model, kmodel = _twins(model)
    _assert_same_weights(model, kmodel)
    assert [p.name.split("/")[-1] for p in model.weights] == [w.name for w in kmodel.weights]
    assert [p.name.split("/")[-1] for p in model.trainable_weights] == \
        [w.name for w in kmodel.trainable_weights] == ["bias"]
    x = np.random.default_rng(5).normal(size=(32, 7)).astype(np.float32)
    np.testing.assert_array_equal(model.predict(x, verbose=0), kmodel.predict(x, verbose=0))
    layer, klayer = model.layers[0], kmodel.layers[0]
    assert layer.dtype_policy.name == klayer.dtype_policy.name == "int8_from_float32"
    assert repr(layer.dtype_policy) == repr(klayer.dtype_policy)
    assert layer.quantization_mode == klayer.quantization_mode == "int8"
    assert model.count_params() == kmodel.count_params()


def _stacked(final_units=3):
    """A float Dense feeding two quantized ones (``filters`` leaves "pre" alone on both sides)."""
    model = _random_weights(sn.Sequential([
        L.Input((6,)), L.Dense(5, activation="tanh", name="pre"),
        L.Dense(4, activation="relu", name="q1"), L.Dense(final_units, name="q2")], seed=0))
    model.compile(optimizer=sn.optimizers.Adam(0.01), loss=SCCE(from_logits=True))
    kmodel = tfnet.to_keras(model)
    model.quantize("int8", filters="q")
    kmodel.quantize("int8", filters="q")
    return model, kmodel


def test_stacked_forward_and_no_rounding_flip():
    model, kmodel = _stacked()
    _assert_same_weights(model, kmodel)
    x = np.random.default_rng(6).normal(size=(64, 6)).astype(np.float32)
    # the quantized layer's inputs: equal to float32 rounding, and no int8 rounds differently
    ours = model.layers[0](x)
    theirs = np.asarray(kmodel.layers[0](x))
    assert_close(ours, theirs, FORWARD_RTOL, "float layer")
    np.testing.assert_array_equal(Q.abs_max_quantize(ours, -1)[0], Q.abs_max_quantize(theirs, -1)[0])
    assert_close(model.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL, "output")


def test_gradients_after_quantization_equal_keras():
    """Every weight's gradient: the int8 kernels and scales get none (zeros on both sides), the
    biases theirs, and the float layer before them its own through Keras' custom gradient."""
    model, kmodel = _stacked()
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(16, 6)).astype(np.float32), rng.integers(0, 3, 16)
    loss, grads = model.loss_and_grads(x, y)
    kloss, kgrads = tfnet.loss_and_grads(kmodel, x, y)
    assert_close(loss, kloss, FORWARD_RTOL, "loss")
    for param, g, kg in zip(model.weights, grads, kgrads, strict=True):
        assert_close(g, kg, GRAD_RTOL, param.name)
    names = [p.name for p in model.weights]
    assert not np.any(grads[names.index("q1/kernel")]) and np.any(grads[names.index("pre/kernel")])


def test_fit_steps_after_quantization_equal_keras():
    model, kmodel = _stacked()
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(24, 6)).astype(np.float32), rng.integers(0, 3, 24)
    before = model.get_weights()
    for step in range(4):
        batch = slice(8 * (step % 3), 8 * (step % 3) + 8)
        model.train_on_batch(x[batch], y[batch])
        kmodel.train_on_batch(x[batch], y[batch])
        for param, w, kw in zip(model.weights, model.get_weights(), kmodel.get_weights(), strict=True):
            assert_close(w, kw, TRAJECTORY_RTOL, f"{param.name} after step {step + 1}")
    after = dict(zip([p.name for p in model.weights], model.get_weights(), strict=True))
    names = [p.name for p in model.weights]
    assert not np.array_equal(after["q1/bias"], before[names.index("q1/bias")])  # biases train
    np.testing.assert_array_equal(after["q1/kernel"], before[names.index("q1/kernel")])


# --- EinsumDense and Embedding ----------------------------------------------------------------------
EINSUM_CASES = {  # equation, output_shape, bias_axes, input shape (no batch)
    "dense": ("ab,bc->ac", 4, "c", (6,)),
    "per_step": ("abc,cd->abd", (5, 4), "d", (5, 3)),
    "heads": ("abc,cde->abde", (5, 2, 3), "de", (5, 3)),
    "summed_input_axis": ("abc,cd->ad", (4,), "d", (5, 3)),
    "contract_two_axes": ("abcd,cde->abe", (4, 3), None, (4, 2, 3)),
    "kernel_shares_an_axis": ("abc,bcd->abd", (5, 2), "bd", (5, 3)),
}


@pytest.mark.parametrize("case", sorted(EINSUM_CASES))
def test_einsum_dense_int8_equals_keras(case):
    equation, output_shape, bias_axes, shape = EINSUM_CASES[case]
    model = _random_weights(sn.Sequential(
        [L.Input(shape), L.EinsumDense(equation, output_shape, bias_axes=bias_axes)], seed=0))
    model, kmodel = _twins(model)
    _assert_same_weights(model, kmodel)
    x = np.random.default_rng(9).normal(size=(4, *shape)).astype(np.float32)
    np.testing.assert_array_equal(model.predict(x, verbose=0), kmodel.predict(x, verbose=0))


@pytest.mark.parametrize("case", ["per_step", "heads", "contract_two_axes", "kernel_shares_an_axis"])
def test_einsum_dense_int8_gradients_and_steps_equal_keras(case):
    """A float Dense before the quantized EinsumDense: its gradient passes through Keras' custom
    gradient (the dequantized kernel). ("summed_input_axis" is left out: Keras' custom gradient
    equation "ad,cd->abc" names a letter neither operand has, and its tape raises ValueError.)"""
    equation, output_shape, bias_axes, shape = EINSUM_CASES[case]
    model = _random_weights(sn.Sequential([
        L.Input(shape), L.Dense(shape[-1], activation="tanh", name="pre"),
        L.EinsumDense(equation, output_shape, bias_axes=bias_axes, activation="relu", name="q"),
        L.Flatten(), L.Dense(3, name="head")], seed=0))
    model.compile(optimizer=sn.optimizers.Adam(0.01), loss=SCCE(from_logits=True))
    kmodel = tfnet.to_keras(model)
    model.quantize("int8", filters="^q$")
    kmodel.quantize("int8", filters="^q$")
    rng = np.random.default_rng(10)
    x, y = rng.normal(size=(8, *shape)).astype(np.float32), rng.integers(0, 3, 8)
    _, grads = model.loss_and_grads(x, y)
    _, kgrads = tfnet.loss_and_grads(kmodel, x, y)
    for param, g, kg in zip(model.weights, grads, kgrads, strict=True):
        assert_close(g, kg, GRAD_RTOL, param.name)
    for _ in range(3):
        model.train_on_batch(x, y)
        kmodel.train_on_batch(x, y)
    for param, w, kw in zip(model.weights, model.get_weights(), kmodel.get_weights(), strict=True):
        assert_close(w, kw, TRAJECTORY_RTOL, param.name)


def test_embedding_int8_equals_keras():
    model = _random_weights(sn.Sequential([L.Input((5,), dtype="int32"), L.Embedding(10, 6)], seed=0))
    model, kmodel = _twins(model)
    _assert_same_weights(model, kmodel)
    assert model.trainable_weights == [] and kmodel.trainable_weights == []
    ids = np.random.default_rng(11).integers(0, 10, (8, 5))
    np.testing.assert_array_equal(model.predict(ids, verbose=0), kmodel.predict(ids, verbose=0))


# --- files, configs, policies, errors ---------------------------------------------------------------
def _mixed_model():
    return _random_weights(sn.Sequential([
        L.Input((5,), dtype="int32"), L.Embedding(10, 6),
        L.EinsumDense("abc,cd->abd", (5, 4), bias_axes="d", activation="relu"),
        L.Flatten(), L.Dense(3)], seed=0))


def test_keras_file_both_ways(tmp_path):
    model, kmodel = _twins(_mixed_model())
    ids = np.random.default_rng(12).integers(0, 10, (8, 5))
    model.save(tmp_path / "sn.keras")
    kmodel.save(tmp_path / "k.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from_sn = keras.models.load_model(tmp_path / "sn.keras")
    from_keras = sn.load_model(tmp_path / "k.keras")
    _assert_same_weights(from_keras, from_sn)
    _assert_same_weights(model, from_sn)
    assert [la.dtype_policy.name for la in from_keras.layers] == \
        [la.dtype_policy.name for la in from_sn.layers] == \
        ["int8_from_float32", "int8_from_float32", "float32", "int8_from_float32"]
    expected = kmodel.predict(ids, verbose=0)
    np.testing.assert_array_equal(from_keras.predict(ids, verbose=0), expected)
    np.testing.assert_array_equal(from_sn.predict(ids, verbose=0), expected)
    with pytest.raises(ValueError, match="already quantized"):  # it loads quantized, as in Keras
        from_keras.quantize("int8")


def test_quantized_configs_equal_keras():
    model, kmodel = _twins(_mixed_model())
    for layer, klayer in zip(model.layers, kmodel.layers, strict=True):
        config, kconfig = layer.get_config(), klayer.get_config()
        if layer.quantization_mode is None:
            continue
        from keras.src.saving import serialization_lib

        assert config["dtype"] == serialization_lib.serialize_keras_object(klayer.dtype_policy)
        assert config["quantization_config"]["class_name"] == \
            kconfig["quantization_config"]["class_name"] == "Int8QuantizationConfig"
        twin = type(layer).from_config(config) if hasattr(type(layer), "from_config") \
            else type(layer)(**config)
        assert twin.quantization_mode == "int8" and twin.get_config() == config


@pytest.mark.parametrize("name", ["float32", "int8_from_float32", "int4_from_float32",
                                  "int4/-1_from_float32", "int4/128_from_float32",
                                  "float8_from_float32", "gptq/4/128_from_float32",
                                  "awq/4/-1_from_float32", "int8_from_mixed_bfloat16"])
def test_dtype_policies_equal_keras(name):
    from keras.src.saving import serialization_lib

    ours, theirs = sn.dtype_policies.get(name), keras.dtype_policies.get(name)
    assert type(ours).__name__ == type(theirs).__name__
    assert (ours.name, ours.compute_dtype, ours.variable_dtype, ours.quantization_mode) == \
        (theirs.name, theirs.compute_dtype, theirs.variable_dtype, theirs.quantization_mode)
    assert repr(ours) == repr(theirs)
    expected = serialization_lib.serialize_keras_object(theirs)
    assert sn.dtype_policies.serialize(ours) == expected
    assert sn.dtype_policies.deserialize(expected) == ours


def _message(make) -> tuple[type, str]:
    try:
        make()
    except (ValueError, NotImplementedError, TypeError) as err:
        return type(err), str(err)
    raise AssertionError("no error")


def _built(lib, layer, shape):
    layer(np.zeros(shape, np.float32))
    return layer


def test_errors_in_keras_words():
    """The same error type and message, word for word, from both libraries."""
    unbuilt = {lib: lib.layers.Dense(2, name="d") for lib in (sn, keras)}
    built = {lib: _built(lib, lib.layers.Dense(2, name="d"), (1, 3)) for lib in (sn, keras)}
    twice = {lib: _built(lib, lib.layers.Dense(2, name="twice"), (1, 3)) for lib in (sn, keras)}
    conv = {lib: _built(lib, lib.layers.Conv2D(2, 3, name="c"), (1, 5, 5, 1)) for lib in (sn, keras)}
    for lib in (sn, keras):
        twice[lib].quantize("int8")
    cases = {
        "not built": lambda lib: unbuilt[lib].quantize("int8"),
        "unknown mode": lambda lib: built[lib].quantize("int3"),
        "no mode, no config": lambda lib: built[lib].quantize(),
        "contradiction": lambda lib: built[lib].quantize(
            "int8", config=lib.quantizers.Int4QuantizationConfig()),
        "twice": lambda lib: twice[lib].quantize("int8"),
        "unsupported layer": lambda lib: conv[lib].quantize("int8"),
        "policy name": lambda lib: lib.dtype_policies.get("int8_float32"),
        "quantizer range": lambda lib: lib.quantizers.AbsMaxQuantizer(value_range=(-200, 127)),
    }
    for what, make in cases.items():
        ours, theirs = _message(lambda make=make: make(sn)), _message(lambda make=make: make(keras))
        assert ours == theirs, what


def test_model_quantize_warns_for_unsupported_layers_as_keras():
    model = sn.Sequential([L.Input((4, 4, 1)), L.Conv2D(2, 3), L.Flatten(), L.Dense(2)], seed=0)
    kmodel = tfnet.to_keras(model)
    with pytest.warns(UserWarning) as ours:
        model.quantize("int8")
    with pytest.warns(UserWarning) as theirs:
        kmodel.quantize("int8")
    ours = {str(w.message) for w in ours}
    theirs = {str(w.message) for w in theirs}
    assert "Layer Conv2D does not have a `quantize` method implemented." in ours & theirs
    assert ours <= theirs  # (Keras also warns for its InputLayer)
    assert [la.quantization_mode for la in model.layers] == [None, None, "int8"]


def test_tfnet_converts_quantized_models_both_ways():
    model = _random_weights(sn.Sequential([
        L.Input((4,)), L.Dense(3, use_bias=False, name="d"), L.Dense(2, name="out")], seed=0))
    model.quantize("int8", filters="^d$")
    kmodel = tfnet.to_keras(model)
    assert [la.dtype_policy.name for la in kmodel.layers] == ["int8_from_float32", "float32"]
    _assert_same_weights(model, kmodel)
    x = np.random.default_rng(13).normal(size=(6, 4)).astype(np.float32)
    # (the float Dense after the quantized one sums in another order: FORWARD_RTOL)
    expected = kmodel.predict(x, verbose=0)
    assert_close(model.predict(x, verbose=0), expected, FORWARD_RTOL, "output")
    back = tfnet.from_keras(kmodel)
    assert [la.quantization_mode for la in back.layers] == ["int8", None]
    _assert_same_weights(back, kmodel)
    np.testing.assert_array_equal(back.predict(x, verbose=0), model.predict(x, verbose=0))
    inputs = sn.Input((4,))  # a functional model too
    functional = sn.Model(inputs, L.Dense(2)(L.Dense(3, use_bias=False)(inputs)))
    functional.quantize("int8")
    kfunctional = tfnet.to_keras(functional)
    _assert_same_weights(functional, kfunctional)
    np.testing.assert_array_equal(functional.predict(x, verbose=0), kfunctional.predict(x, verbose=0))
    back = tfnet.from_keras(kfunctional)
    assert [la.quantization_mode for la in back.layers] == [None, "int8", "int8"]
    _assert_same_weights(back, kfunctional)


# --- int4 (Dense) -------------------------------------------------------------------------------------
@pytest.mark.parametrize("block_size", ["default", -1, 4])
def test_dense_int4_equals_keras(block_size, tmp_path):
    """Keras 3.15.1's default int4 is 128 input rows a group with zero points (kernel_zero, g_idx);
    -1 is one scale per unit. Packed kernels, scales and zero points equal exactly; outputs and
    gradients (the dequantized kernel ``(q - zero[g]) * scale[g]``, a float matmul on both sides)
    at FORWARD_RTOL and GRAD_RTOL; the .keras file both ways."""
    model = _random_weights(sn.Sequential([
        L.Input((10,)), L.Dense(5, activation="tanh", name="pre"), L.Dense(7, name="q")], seed=0))
    model.compile(optimizer=sn.optimizers.Adam(0.01), loss=SCCE(from_logits=True))
    kmodel = tfnet.to_keras(model)
    config = None if block_size == "default" else Q.Int4QuantizationConfig(block_size=block_size)
    kconfig = None if block_size == "default" else KQ.Int4QuantizationConfig(block_size=block_size)
    model.quantize("int4", filters="^q$", config=config)
    kmodel.quantize("int4", filters="^q$", config=kconfig)
    _assert_same_weights(model, kmodel)
    assert model.layers[1].dtype_policy.name == kmodel.layers[1].dtype_policy.name
    rng = np.random.default_rng(14)
    x, y = rng.normal(size=(16, 10)).astype(np.float32), rng.integers(0, 7, 16)
    assert_close(model.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL, "output")
    _, grads = model.loss_and_grads(x, y)
    _, kgrads = tfnet.loss_and_grads(kmodel, x, y)
    for param, g, kg in zip(model.weights, grads, kgrads, strict=True):
        assert_close(g, kg, GRAD_RTOL, param.name)
    model.save(tmp_path / "sn.keras")
    kmodel.save(tmp_path / "k.keras")
    _assert_same_weights(sn.load_model(tmp_path / "k.keras"), keras.models.load_model(tmp_path / "sn.keras"))


def test_trained_then_quantized_then_trained_and_saved(tmp_path):
    """Quantizing after training leaves Keras' optimizer with slots for the float kernel it no
    longer trains; the steps agree, and each side loads the other's file (Keras' skips the stale
    optimizer state with its warning, and scratchnet with the same words)."""
    model = _random_weights(sn.Sequential([L.Input((4,)), L.Dense(3)], seed=0))
    model.compile(optimizer=sn.optimizers.Adam(0.01), loss="mse")
    kmodel = tfnet.to_keras(model)
    rng = np.random.default_rng(15)
    x, y = rng.normal(size=(8, 4)).astype(np.float32), rng.normal(size=(8, 3)).astype(np.float32)
    for quantize in (False, True):
        if quantize:
            model.quantize("int8")
            kmodel.quantize("int8")
        model.train_on_batch(x, y)
        kmodel.train_on_batch(x, y)
        for param, w, kw in zip(model.weights, model.get_weights(), kmodel.get_weights(), strict=True):
            assert_close(w, kw, TRAJECTORY_RTOL, param.name)
    kmodel.save(tmp_path / "k.keras")
    model.save(tmp_path / "sn.keras")
    with pytest.warns(UserWarning, match="Skipping variable loading for optimizer 'adam'"):
        loaded = sn.load_model(tmp_path / "k.keras")
    _assert_same_weights(loaded, kmodel)
    with pytest.warns(UserWarning, match="Skipping variable loading for optimizer 'adam'"):
        keras.models.load_model(tmp_path / "k.keras")
    _assert_same_weights(model, keras.models.load_model(tmp_path / "sn.keras"))


# --- int4 (EinsumDense, Embedding) ------------------------------------------------------------------
INT4_BLOCKS = ["default", -1, 2]


def _int4_configs(block_size):
    if block_size == "default":
        return None, None
    return Q.Int4QuantizationConfig(block_size=block_size), KQ.Int4QuantizationConfig(block_size=block_size)


@pytest.mark.parametrize("block_size", INT4_BLOCKS)
@pytest.mark.parametrize("case", ["dense", "per_step", "heads", "summed_input_axis", "contract_two_axes",
                                  "kernel_shares_an_axis"])
def test_einsum_dense_int4_weights_and_output_equal_keras(case, block_size):
    """The kernel reshaped to (rows summed, other columns) as Keras reshapes it (a plain reshape:
    "kernel_shares_an_axis"'s (b, c, d) kernel becomes (c, b*d) without moving axes), quantized,
    packed: the packed kernel, scales, zero points and g_idx equal exactly; the outputs (the
    dequantized kernel, then a float einsum on both sides) at FORWARD_RTOL."""
    equation, output_shape, bias_axes, shape = EINSUM_CASES[case]
    model = _random_weights(sn.Sequential(
        [L.Input(shape), L.EinsumDense(equation, output_shape, bias_axes=bias_axes, name="q")], seed=0))
    kmodel = tfnet.to_keras(model)
    config, kconfig = _int4_configs(block_size)
    model.quantize("int4", config=config)
    with warnings.catch_warnings():  # (Keras warns about InputLayer, which it tries to quantize)
        warnings.simplefilter("ignore")
        kmodel.quantize("int4", config=kconfig)
    _assert_same_weights(model, kmodel)
    assert [p.name.split("/")[-1] for p in model.weights] == [w.name for w in kmodel.weights]
    assert model.layers[0].dtype_policy.name == kmodel.layers[0].dtype_policy.name
    x = np.random.default_rng(16).normal(size=(4, *shape)).astype(np.float32)
    assert_close(model.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL, "output")


@pytest.mark.parametrize("block_size", INT4_BLOCKS)
@pytest.mark.parametrize("case", ["per_step", "heads", "contract_two_axes", "kernel_shares_an_axis"])
def test_einsum_dense_int4_gradients_steps_and_file_equal_keras(case, block_size, tmp_path):
    """Keras' straight-through custom gradient (none for the packed kernel; the input's through
    the dequantized kernel) at GRAD_RTOL, three Adam steps (the biases train) at TRAJECTORY_RTOL,
    and the .keras file both ways. ("summed_input_axis": Keras' gradient raises, as for int8.)"""
    equation, output_shape, bias_axes, shape = EINSUM_CASES[case]
    model = _random_weights(sn.Sequential([
        L.Input(shape), L.Dense(shape[-1], activation="tanh", name="pre"),
        L.EinsumDense(equation, output_shape, bias_axes=bias_axes, activation="relu", name="q"),
        L.Flatten(), L.Dense(3, name="head")], seed=0))
    model.compile(optimizer=sn.optimizers.Adam(0.01), loss=SCCE(from_logits=True))
    kmodel = tfnet.to_keras(model)
    config, kconfig = _int4_configs(block_size)
    model.quantize("int4", filters="^q$", config=config)
    kmodel.quantize("int4", filters="^q$", config=kconfig)
    rng = np.random.default_rng(17)
    x, y = rng.normal(size=(8, *shape)).astype(np.float32), rng.integers(0, 3, 8)
    _, grads = model.loss_and_grads(x, y)
    _, kgrads = tfnet.loss_and_grads(kmodel, x, y)
    for param, g, kg in zip(model.weights, grads, kgrads, strict=True):
        assert_close(g, kg, GRAD_RTOL, param.name)
    names = [p.name for p in model.weights]
    assert np.any(grads[names.index("pre/kernel")])  # the gradient reaches the layer before
    before = model.get_weights()
    for _ in range(3):
        model.train_on_batch(x, y)
        kmodel.train_on_batch(x, y)
    for param, w, kw in zip(model.weights, model.get_weights(), kmodel.get_weights(), strict=True):
        assert_close(w, kw, TRAJECTORY_RTOL, param.name)
    np.testing.assert_array_equal(model.get_weights()[names.index("q/kernel")],
                                  before[names.index("q/kernel")])
    model.save(tmp_path / "sn.keras")
    kmodel.save(tmp_path / "k.keras")
    from_keras, from_sn = sn.load_model(tmp_path / "k.keras"), keras.models.load_model(tmp_path / "sn.keras")
    _assert_same_weights(from_keras, kmodel)
    _assert_same_weights(model, from_sn)
    assert from_keras.layers[1].dtype_policy.name == from_sn.layers[1].dtype_policy.name
    assert_close(from_keras.predict(x, verbose=0), from_sn.predict(x, verbose=0), FORWARD_RTOL, "loaded")


def test_einsum_dense_int4_with_an_inputs_quantizer_equals_keras():
    """Per-column int4 with an activation quantizer: ``einsum(q_x, kernel) / scale_x``, Keras'
    ``_int4_call`` (the input's abs-max over the summed axes, laid out against the output)."""
    equation, output_shape, bias_axes, shape = EINSUM_CASES["heads"]
    model = _random_weights(sn.Sequential(
        [L.Input(shape), L.EinsumDense(equation, output_shape, bias_axes=bias_axes)], seed=0))
    kmodel = tfnet.to_keras(model)
    model.quantize(config=Q.Int4QuantizationConfig(block_size=-1, activation_quantizer=Q.AbsMaxQuantizer()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kmodel.quantize(config=KQ.Int4QuantizationConfig(block_size=-1,
                                                          activation_quantizer=KQ.AbsMaxQuantizer()))
    _assert_same_weights(model, kmodel)
    assert model.layers[0].inputs_quantizer is not None and kmodel.layers[0].inputs_quantizer is not None
    x = np.random.default_rng(18).normal(size=(4, *shape)).astype(np.float32)
    assert_close(model.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL, "output")


@pytest.mark.parametrize("block_size", INT4_BLOCKS)
def test_embedding_int4_equals_keras(block_size, tmp_path):
    """The table packed along output_dim; per row over [-8, 7], or per group of columns with zero
    points (Keras quantizes the transposed table): weights equal exactly, lookups at FORWARD_RTOL
    (a dequantization on both sides), the .keras file both ways; nothing left to train."""
    model = _random_weights(sn.Sequential([L.Input((5,), dtype="int32"), L.Embedding(10, 7)], seed=0))
    kmodel = tfnet.to_keras(model)
    config, kconfig = _int4_configs(block_size)
    model.quantize("int4", config=config)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kmodel.quantize("int4", config=kconfig)
    _assert_same_weights(model, kmodel)
    assert [p.name.split("/")[-1] for p in model.weights] == [w.name for w in kmodel.weights]
    assert model.layers[0].dtype_policy.name == kmodel.layers[0].dtype_policy.name
    assert model.trainable_weights == [] and kmodel.trainable_weights == []
    ids = np.random.default_rng(19).integers(0, 10, (8, 5))
    expected = kmodel.predict(ids, verbose=0)
    assert_close(model.predict(ids, verbose=0), expected, FORWARD_RTOL, "lookup")
    model.save(tmp_path / "sn.keras")
    kmodel.save(tmp_path / "k.keras")
    from_keras, from_sn = sn.load_model(tmp_path / "k.keras"), keras.models.load_model(tmp_path / "sn.keras")
    _assert_same_weights(from_keras, kmodel)
    _assert_same_weights(model, from_sn)
    assert_close(from_keras.predict(ids, verbose=0), expected, FORWARD_RTOL, "loaded")
    assert_close(from_sn.predict(ids, verbose=0), expected, FORWARD_RTOL, "loaded by Keras")


# --- ReversibleEmbedding (int8, int4; tied and untied) ----------------------------------------------
REVERSIBLE_CONFIGS = {  # mode, scratchnet config, Keras config
    "int8": ("int8", None, None),
    "int4_default": ("int4", None, None),  # block_size 128: one group of the 6 hidden values
    "int4_per_column": ("int4", Q.Int4QuantizationConfig(block_size=-1),
                        KQ.Int4QuantizationConfig(block_size=-1)),
    "int4_groups_of_2": ("int4", Q.Int4QuantizationConfig(block_size=2),
                         KQ.Int4QuantizationConfig(block_size=2)),
}


def _reversible_twins(tie_weights, quantization):
    """ids -> ReversibleEmbedding -> Dense("mid") -> the same ReversibleEmbedding, reverse=True
    (soft-capped logits); the embedding quantized on both sides, "mid" left in float32."""
    ids = sn.Input((5,), dtype="int32")
    emb = L.ReversibleEmbedding(10, 6, tie_weights=tie_weights, logit_soft_cap=4.0, name="emb")
    hidden = L.Dense(6, activation="tanh", name="mid")(emb(ids))
    model = _random_weights(sn.Model(ids, emb(hidden, reverse=True)))
    model.compile(optimizer=sn.optimizers.Adam(0.01), loss=SCCE(from_logits=True))
    kmodel = tfnet.to_keras(model)
    mode, config, kconfig = REVERSIBLE_CONFIGS[quantization]
    model.quantize(mode, filters="^emb$", config=config)
    kmodel.quantize(mode, filters="^emb$", config=kconfig)
    return model, kmodel


@pytest.mark.parametrize("quantization", sorted(REVERSIBLE_CONFIGS))
@pytest.mark.parametrize("tie_weights", [True, False])
def test_reversible_embedding_quantized_equals_keras(tie_weights, quantization, tmp_path):
    """Both directions of the (tied or untied) weights: the quantized table, reverse_embeddings,
    scales and zero points equal exactly; the logits at FORWARD_RTOL (int8 quantizes the hidden
    vectors, which come from a float Dense: the test checks no int8 of them rounds differently);
    the gradient of "mid" through the reverse call (Keras' autodiff: int8's reaches only each
    row's largest |h|, through its scale) at GRAD_RTOL; three Adam steps; the .keras file both ways."""
    model, kmodel = _reversible_twins(tie_weights, quantization)
    _assert_same_weights(model, kmodel)
    layer, klayer = model.get_layer("emb"), kmodel.get_layer("emb")
    assert layer.dtype_policy.name == klayer.dtype_policy.name
    assert [p.name.split("/")[-1] for p in layer.weights] == [w.name for w in klayer.weights]
    rng = np.random.default_rng(20)
    ids, y = rng.integers(0, 10, (8, 5)), rng.integers(0, 10, (8, 5))
    h = model.get_layer("mid")(layer(ids))
    kh = np.asarray(kmodel.get_layer("mid")(klayer(ids)))
    np.testing.assert_array_equal(Q.abs_max_quantize(h, -1)[0], Q.abs_max_quantize(kh, -1)[0])
    assert_close(model.predict(ids, verbose=0), kmodel.predict(ids, verbose=0), FORWARD_RTOL, "logits")
    _, grads = model.loss_and_grads(ids, y)
    _, kgrads = tfnet.loss_and_grads(kmodel, ids, y)
    for param, g, kg in zip(model.weights, grads, kgrads, strict=True):
        assert_close(g, kg, GRAD_RTOL, param.name)
    names = [p.name for p in model.weights]
    assert np.any(grads[names.index("mid/kernel")])
    for _ in range(3):
        model.train_on_batch(ids, y)
        kmodel.train_on_batch(ids, y)
    for param, w, kw in zip(model.weights, model.get_weights(), kmodel.get_weights(), strict=True):
        assert_close(w, kw, TRAJECTORY_RTOL, param.name)
    model.save(tmp_path / "sn.keras")
    kmodel.save(tmp_path / "k.keras")
    from_keras, from_sn = sn.load_model(tmp_path / "k.keras"), keras.models.load_model(tmp_path / "sn.keras")
    _assert_same_weights(from_keras, kmodel)
    _assert_same_weights(model, from_sn)
    expected = kmodel.predict(ids, verbose=0)
    assert_close(from_keras.predict(ids, verbose=0), expected, FORWARD_RTOL, "loaded")
    assert_close(from_sn.predict(ids, verbose=0), expected, FORWARD_RTOL, "loaded by Keras")


# --- DTypePolicyMap ----------------------------------------------------------------------------------
MAP_KEYS = ["encoder/layer_0/dense", "encoder/attention/query", "decoder", "decoder/attention", "other"]


def _policy_map(lib, default):
    policy_map = lib.dtype_policies.DTypePolicyMap(default_policy=default)
    policy_map["encoder/layer_0/dense"] = "int8_from_float32"
    policy_map["encoder/.*"] = "float64"
    policy_map["decoder"] = "int4/-1_from_float32"
    return policy_map


@pytest.mark.parametrize("default", [None, "float32"])
def test_dtype_policy_map_equals_keras(default):
    """Lookups (exact key, one regex matching the whole path, the default), the map's own policy
    properties, its config (Keras': with no default, the policies' names written as None) both
    ways, and its errors word for word."""
    from keras.src.saving import serialization_lib

    ours, theirs = _policy_map(sn, default), _policy_map(keras, default)
    assert [ours[k].name for k in MAP_KEYS] == [theirs[k].name for k in MAP_KEYS]
    assert (ours.name, ours.compute_dtype, ours.variable_dtype, ours.quantization_mode, list(ours)) == \
        (theirs.name, theirs.compute_dtype, theirs.variable_dtype, theirs.quantization_mode, list(theirs))
    assert repr(ours).split(" default_policy=")[1] == repr(theirs).split(" default_policy=")[1]
    for what, make in {
        "two regexes": lambda m: m.__setitem__("encoder/attention/.*", "float32") or m["encoder/attention/q"],
        "twice": lambda m: m.__setitem__("decoder", "float32"),
        "bad value": lambda m: m.__setitem__("x", 3),
        "map default": lambda m: type(m)(default_policy=m),
        "not a dict": lambda m: type(m)(policy_map=[("a", "float32")]),
    }.items():
        assert _message(lambda make=make: make(_policy_map(sn, default))) == \
            _message(lambda make=make: make(_policy_map(keras, default))), what
    expected = serialization_lib.serialize_keras_object(theirs)  # (Keras' changes theirs: last)
    assert sn.dtype_policies.serialize(ours) == expected
    back = sn.dtype_policies.deserialize(expected)
    kback = keras.dtype_policies.deserialize(sn.dtype_policies.serialize(ours))
    names = [ours[k].name for k in MAP_KEYS]
    if default is None:  # no default: entries written nameless, read as the global float32 ...
        names[1] = "float32"  # (was float64)
    assert [back[k].name for k in MAP_KEYS] == names
    # (... by Keras too, but its int4 policy names itself after the missing source: parity-notes)
    assert [kback[k].name for k in MAP_KEYS] == \
        [n.replace("_from_float32", "_from_None") if n.startswith("int4") and default is None else n
         for n in names]


def _map_models(lib, policy_map):
    return lib.Sequential([lib.Input((4,)), lib.layers.Dense(3, name="q", dtype=policy_map),
                           lib.layers.Dense(2, name="keep", dtype=policy_map)], name="seq")


def test_layers_built_with_a_dtype_policy_map_equal_keras(tmp_path):
    """layer.path (a Sequential's layers under its name, a functional model's by their own), the
    quantized layer a map entry makes (its weights' names, shapes and dtypes), configs, scratchnet's
    .keras file read by Keras (Keras 3.15.1 cannot save such a model), and tfnet both ways."""
    maps = {}
    for lib in (sn, keras):
        maps[lib] = lib.dtype_policies.DTypePolicyMap()
        maps[lib]["(seq/)?q"] = "int8_from_float32"  # (a loaded model: Keras builds "q" outside "seq")
    model, kmodel = _map_models(sn, maps[sn]), _map_models(keras, maps[keras])
    assert [la.path for la in model.layers] == [la.path for la in kmodel.layers] == ["seq/q", "seq/keep"]
    assert [la.quantization_mode for la in model.layers] == [la.quantization_mode for la in kmodel.layers]
    assert [(p.name.split("/")[-1], p.value.shape, p.value.dtype) for p in model.weights] == \
        [(w.name, tuple(w.shape), np.dtype(w.dtype)) for w in kmodel.weights]
    assert type(model.layers[0].dtype_policy).__name__ == type(kmodel.layers[0].dtype_policy).__name__
    from keras.src.saving import serialization_lib

    assert model.layers[0].get_config()["dtype"] == \
        serialization_lib.serialize_keras_object(kmodel.layers[0].dtype_policy)
    inputs, kinputs = sn.Input((4,)), keras.Input((4,))
    dense, kdense = L.Dense(2, name="f"), keras.layers.Dense(2, name="f")
    sn.Model(inputs, dense(inputs))
    keras.Model(kinputs, kdense(kinputs))
    assert dense.path == kdense.path == "f"
    _random_weights(model)
    model.layers[0].kernel.value[...] = np.arange(-6, 6).reshape(4, 3)  # int8 values
    model.layers[0].kernel_scale.value[...] = [0.5, 2.0, 4.0]
    kmodel.set_weights(model.get_weights())
    x = np.random.default_rng(21).normal(size=(6, 4)).astype(np.float32)
    assert_close(model.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL, "output")
    model.save(tmp_path / "sn.keras")
    from_sn, from_ours = keras.models.load_model(tmp_path / "sn.keras"), sn.load_model(tmp_path / "sn.keras")
    for loaded, lib in ((from_sn, keras), (from_ours, sn)):
        assert isinstance(loaded.layers[0].dtype_policy, lib.dtype_policies.DTypePolicyMap)
        assert [la.quantization_mode for la in loaded.layers] == ["int8", None]
        _assert_same_weights(model, loaded)
    with pytest.raises(ValueError, match="Invalid dtype: object"):  # (Keras 3.15.1: docs/parity-notes.md)
        kmodel.save(tmp_path / "k.keras")
    converted, back = tfnet.to_keras(model), tfnet.from_keras(kmodel)
    for twin, lib in ((converted, keras), (back, sn)):
        assert isinstance(twin.layers[0].dtype_policy, lib.dtype_policies.DTypePolicyMap)
        assert [la.quantization_mode for la in twin.layers] == ["int8", None]
        _assert_same_weights(model, twin)
