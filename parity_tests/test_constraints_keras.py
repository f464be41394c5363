"""Weight constraints (``kernel_constraint=constraints.MaxNorm(2)``) against Keras 3.15: each
formula (epsilon in the denominator only), the string names ``keras.constraints.get`` accepts,
training steps with every optimizer (the constraint applied after each update), every layer that
takes a constraint, configs, the converters and ``.keras`` files both ways.

Tolerances: a constraint is a norm (a float32 sum: NumPy's pairwise order against Eigen's) and an
elementwise scale, held to FORWARD_RTOL; weights after training steps to TRAJECTORY_RTOL
(driver.py).
"""

import keras
import numpy as np
import pytest

import scratchnet as sn
import tfnet
from parity_tests.driver import FORWARD_RTOL, TRAJECTORY_RTOL, assert_close, check_trajectory, make_twins

C = sn.constraints

FORMULA_CASES = [
    ("max_norm", lambda: C.MaxNorm(0.8), lambda: keras.constraints.MaxNorm(0.8)),
    ("max_norm_axis1", lambda: C.MaxNorm(1.5, axis=1), lambda: keras.constraints.MaxNorm(1.5, axis=1)),
    ("max_norm_conv_axes", lambda: C.MaxNorm(1.0, axis=[0, 1, 2]),
     lambda: keras.constraints.MaxNorm(1.0, axis=[0, 1, 2])),
    ("min_max_norm", lambda: C.MinMaxNorm(0.5, 1.2), lambda: keras.constraints.MinMaxNorm(0.5, 1.2)),
    ("min_max_norm_rate", lambda: C.MinMaxNorm(0.9, 1.0, rate=0.3, axis=-1),
     lambda: keras.constraints.MinMaxNorm(0.9, 1.0, rate=0.3, axis=-1)),
    ("non_neg", lambda: C.NonNeg(), lambda: keras.constraints.NonNeg()),
    ("unit_norm", lambda: C.UnitNorm(), lambda: keras.constraints.UnitNorm()),
    ("unit_norm_axes", lambda: C.UnitNorm(axis=[0, 1, 2]),
     lambda: keras.constraints.UnitNorm(axis=[0, 1, 2])),
]


@pytest.mark.parametrize("name,scratch,kconstraint", FORMULA_CASES, ids=[c[0] for c in FORMULA_CASES])
def test_each_formula_as_keras(name, scratch, kconstraint):
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.6, size=(3, 2, 4, 5)).astype(np.float32)
    w[..., 0] = 0.0  # a zero slice: 0 / (eps + 0) stays 0
    w[..., 1] *= 1e-3  # a slice far inside the bounds still shrinks by norms / (eps + norms)
    c_s, c_k = scratch(), kconstraint()
    assert c_s.get_config() == c_k.get_config()
    out_s = c_s(w)
    out_k = np.asarray(c_k(w))
    assert out_s.dtype == np.float32 and out_s.shape == w.shape
    assert_close(out_s, out_k, FORWARD_RTOL, name)
    assert np.all(out_s[..., 0] == 0)


def test_float64_weights_stay_float64():
    w = np.random.default_rng(1).normal(size=(4, 3))
    out_k = np.asarray(keras.constraints.MaxNorm(0.5)(w))
    out_s = C.MaxNorm(0.5)(w)
    assert out_s.dtype == np.float64
    np.testing.assert_allclose(out_s, out_k, rtol=1e-12)


@pytest.mark.parametrize("name", ["constraint", "Constraint", "max_norm", "MaxNorm", "min_max_norm",
                                  "MinMaxNorm", "non_neg", "NonNeg", "unit_norm", "UnitNorm"])
def test_string_names_as_keras_get(name):
    c_s, c_k = C.get(name), keras.constraints.get(name)
    assert type(c_s).__name__ == type(c_k).__name__
    assert c_s.get_config() == c_k.get_config()


@pytest.mark.parametrize("name", ["maxnorm", "nonneg", "l2"])
def test_names_keras_refuses_are_refused(name):
    with pytest.raises(ValueError, match="constraint identifier"):
        keras.constraints.get(name)
    with pytest.raises(ValueError, match=f"Dense 'd': kernel_constraint: unknown constraint '{name}'"):
        sn.layers.Dense(2, kernel_constraint=name, name="d")


def test_serialized_form_is_keras():
    for c_s, c_k in ((C.MaxNorm(3, axis=[0, 1]), keras.constraints.MaxNorm(3, axis=[0, 1])),
                     (C.NonNeg(), keras.constraints.NonNeg())):
        assert C.serialize(c_s) == keras.constraints.serialize(c_k)
        back = keras.constraints.deserialize(C.serialize(c_s))
        assert type(back).__name__ == type(c_s).__name__ and back.get_config() == c_s.get_config()


# ---------------------------------------------------------------------------- training steps
OPTIMIZERS = [
    ("sgd", lambda: sn.optimizers.SGD(0.1)),
    ("sgd_momentum", lambda: sn.optimizers.SGD(0.05, momentum=0.9, nesterov=True)),
    ("adam", lambda: sn.optimizers.Adam(0.05)),
    ("adamw", lambda: sn.optimizers.AdamW(0.05, weight_decay=0.1)),
    ("rmsprop", lambda: sn.optimizers.RMSprop(0.01, momentum=0.5, centered=True)),
    ("adagrad", lambda: sn.optimizers.Adagrad(0.1)),
    ("nadam", lambda: sn.optimizers.Nadam(0.05)),
    ("adamax", lambda: sn.optimizers.Adamax(0.05)),
    ("adadelta", lambda: sn.optimizers.Adadelta(1.0)),
    ("lion", lambda: sn.optimizers.Lion(0.01)),
]


def dense_model():
    return sn.Sequential([
        sn.layers.Input((6,)),
        sn.layers.Dense(8, activation="tanh", kernel_constraint=C.MaxNorm(0.6),
                        bias_constraint=C.NonNeg()),
        sn.layers.Dense(5, kernel_constraint=C.UnitNorm(axis=1),
                        bias_constraint=C.MinMaxNorm(0.2, 0.5, rate=0.7)),
        sn.layers.Dense(3, kernel_constraint="non_neg"),
    ], seed=2)


def _batches(shape, n_batches=3, batch=8, classes=3, seed=0, ints=None):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_batches):
        x = (rng.integers(0, ints, size=(batch, *shape)) if ints
             else rng.normal(size=(batch, *shape)).astype(np.float32))
        out.append((x, rng.integers(0, classes, size=batch)))
    return out


@pytest.mark.parametrize("name,optimizer", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_every_optimizer_applies_the_constraints_after_its_update(name, optimizer):
    twins = make_twins(dense_model(), optimizer=optimizer(),
                       loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    check_trajectory(twins, _batches((6,)), steps=6)
    kernel = twins.scratch.layers[0].kernel.value
    assert np.all(np.linalg.norm(kernel, axis=0) <= 0.6 + 1e-6)  # the constraint is visible
    assert np.all(twins.scratch.layers[2].kernel.value >= 0)


def conv_model():
    return sn.Sequential([
        sn.layers.Input((7, 7, 2)),
        sn.layers.Conv2D(3, 3, kernel_constraint=C.MaxNorm(0.5, axis=[0, 1, 2]),
                         bias_constraint="non_neg"),
        # (PReLU before BatchNormalization: a bias right before it gets a zero gradient, whose
        # rounding noise Adam would blow up)
        sn.layers.PReLU(alpha_initializer=sn.initializers.Constant(0.1), alpha_constraint=C.NonNeg()),
        sn.layers.BatchNormalization(gamma_constraint=C.MinMaxNorm(0.5, 0.9, axis=0),
                                     beta_constraint=C.NonNeg()),
        sn.layers.DepthwiseConv2D(2, depthwise_constraint=C.UnitNorm(axis=[0, 1]),
                                  bias_constraint=C.MaxNorm(0.1)),
        sn.layers.SeparableConv2D(2, 2, depthwise_constraint=C.NonNeg(),
                                  pointwise_constraint=C.MaxNorm(0.7, axis=2),
                                  bias_constraint=C.NonNeg()),
        sn.layers.Conv2DTranspose(2, 2, kernel_constraint=C.UnitNorm(axis=[0, 1, 3])),
        sn.layers.Flatten(),
        sn.layers.LayerNormalization(gamma_constraint=C.MaxNorm(2.0), beta_constraint=C.NonNeg()),
        sn.layers.Dense(3),
    ], seed=4)


def test_conv_and_normalization_layers_train_as_keras():
    twins = make_twins(conv_model(), optimizer=sn.optimizers.Adam(0.02),
                       loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    check_trajectory(twins, _batches((7, 7, 2)), steps=5)


def upsampling_model():
    """Conv1DTranspose and GroupNormalization with their constraints."""
    return sn.Sequential([
        sn.layers.Input((6, 4)),
        sn.layers.Conv1DTranspose(4, 3, strides=2, kernel_constraint=C.MaxNorm(0.6, axis=[0, 2]),
                                  bias_constraint=C.NonNeg()),
        sn.layers.GroupNormalization(2, gamma_constraint=C.MinMaxNorm(0.5, 0.9, axis=0),
                                     beta_constraint=C.NonNeg()),
        sn.layers.Flatten(),
        sn.layers.Dense(3),
    ], seed=6)


def test_conv1d_transpose_and_group_normalization_train_as_keras():
    # SGD: the part of the transposed convolution's bias that is constant over a group has a zero
    # gradient after GroupNormalization, whose rounding noise Adam would blow up
    twins = make_twins(upsampling_model(), optimizer=sn.optimizers.SGD(0.1, momentum=0.9),
                       loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    check_trajectory(twins, _batches((6, 4)), steps=5)


def test_embedding_and_recurrent_layers_train_as_keras():
    model = sn.Sequential([
        sn.layers.Input((5,), dtype="int32"),
        sn.layers.Embedding(9, 4, embeddings_constraint=C.MaxNorm(0.3, axis=1)),
        sn.layers.LSTM(3, return_sequences=True, kernel_constraint=C.MaxNorm(0.4),
                       recurrent_constraint=C.UnitNorm(), bias_constraint=C.NonNeg()),
        sn.layers.GRU(3, return_sequences=True, kernel_constraint=C.NonNeg(),
                      recurrent_constraint=C.MinMaxNorm(0.2, 0.6, rate=0.5)),
        sn.layers.SimpleRNN(3, kernel_constraint=C.UnitNorm(), bias_constraint=C.MaxNorm(0.05)),
        sn.layers.Dense(3),
    ], seed=5)
    # plain SGD: Keras' sparse embedding update then equals the dense one (docs/embeddings.md)
    twins = make_twins(model, optimizer=sn.optimizers.SGD(0.5),
                       loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    check_trajectory(twins, _batches((5,), ints=9), steps=5)


def test_multi_head_attention_constraints_train_as_keras():
    inputs = sn.Input((4, 6))
    x = sn.layers.MultiHeadAttention(2, 3, kernel_constraint=C.MaxNorm(0.5, axis=0),
                                     bias_constraint=C.NonNeg())(inputs, inputs)
    x = sn.layers.GlobalAveragePooling1D()(x)
    model = sn.Model(inputs, sn.layers.Dense(3)(x))
    # The key bias's gradient is zero in exact arithmetic (softmax ignores a shift shared by a row):
    # SGD (Adam would blow its rounding noise up to full steps), and biases that start at 0.2, so
    # that noise is small beside them
    for param in model.layers[1].weights:
        if param.name.endswith("/bias"):
            param.value[...] = 0.2
    twins = make_twins(model, optimizer=sn.optimizers.SGD(0.2, momentum=0.9),
                       loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    check_trajectory(twins, _batches((4, 6)), steps=4)


def test_fit_with_constraints_as_keras():
    batches = _batches((6,), n_batches=4)
    x = np.concatenate([b[0] for b in batches])
    y = np.concatenate([b[1] for b in batches])
    twins = make_twins(dense_model(), optimizer=sn.optimizers.RMSprop(0.01),
                       loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    kwargs = dict(epochs=2, batch_size=10, shuffle=False, verbose=0)
    history_s = twins.scratch.fit(x, y, **kwargs).history
    history_k = twins.keras.fit(x, y, **kwargs).history
    assert_close(history_s["loss"], history_k["loss"], TRAJECTORY_RTOL, "loss per epoch")
    for param, wk in zip(twins.scratch.weights, twins.keras.get_weights(), strict=True):
        assert_close(param.value, wk, TRAJECTORY_RTOL, f'"{param.name}" after the fit')


# ---------------------------------------------------------------------------- configs and files
def _constraint_configs(layer) -> dict:
    return {k: v for k, v in layer.get_config().items() if k.endswith("_constraint")}


def test_configs_and_converters_carry_the_constraints_both_ways():
    for model in (dense_model(), conv_model(), upsampling_model()):
        kmodel = tfnet.to_keras(model)
        for layer, klayer in zip(model.layers, kmodel.layers, strict=True):
            expected = {k: v for k, v in _constraint_configs(klayer).items() if v is not None}
            assert {k: v for k, v in _constraint_configs(layer).items() if v is not None} == expected
        back = tfnet.from_keras(kmodel)
        for a, b in zip(model.layers, back.layers, strict=True):
            assert a.get_config() == b.get_config()
    custom = sn.Sequential([sn.layers.Input((3,)),
                            sn.layers.Dense(2, kernel_constraint=_MyClip(), name="mine")])
    with pytest.raises(ValueError, match='layer "mine" has kernel_constraint=_MyClip.*no Keras'):
        tfnet.to_keras(custom)


class _MyClip(C.Constraint):
    def __call__(self, w):
        return np.clip(w, -0.1, 0.1)


def test_keras_files_both_ways(tmp_path):
    batches = _batches((7, 7, 2))
    model = conv_model()
    model.compile(optimizer="adam", loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.save(tmp_path / "s.keras")
    kmodel = keras.models.load_model(tmp_path / "s.keras")
    for layer, klayer in zip(model.layers, kmodel.layers, strict=True):
        assert {k: v for k, v in _constraint_configs(klayer).items() if v is not None} == \
            {k: v for k, v in _constraint_configs(layer).items() if v is not None}
    assert type(kmodel.layers[0].kernel.constraint).__name__ == "MaxNorm"
    kmodel.save(tmp_path / "k.keras")
    again = sn.load_model(tmp_path / "k.keras")
    for a, b in zip(model.layers, again.layers, strict=True):
        assert a.get_config() == b.get_config()
    # the loaded pair trains alike: the constraints came along
    twins = make_twins(again, optimizer=sn.optimizers.SGD(0.1),
                       loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    check_trajectory(twins, batches, steps=3)
