"""TimeDistributed (scratchnet/layers/wrappers.py) and arithmetic on KerasTensors
(scratchnet/layers/input_layer.py): gradients against float64 finite differences
(tests/gradcheck.py, REL_TOL 1e-6), the layers arithmetic records, files, and the errors.
Keras parity: parity_tests/test_wrappers_and_arithmetic_keras.py."""

import numpy as np
import pytest

import scratchnet as sn
from tests.gradcheck import check_layer

L = sn.layers



@pytest.mark.parametrize("make, shape", [
    (lambda: L.Dense(3, activation="tanh"), (4, 5)),
    (lambda: L.Conv2D(2, 2, padding="same"), (3, 4, 4, 2)),
    (lambda: L.LayerNormalization(), (3, 4)),
])
def test_time_distributed_matches_finite_differences(make, shape, float64):
    rng = np.random.default_rng(0)
    layer = L.TimeDistributed(make())
    x = rng.standard_normal((2, *shape))
    layer.ensure_built(x.shape[1:], rng)
    for p in layer.weights:
        p.value[...] = rng.standard_normal(p.value.shape)
    check_layer(layer, x, rng)


def test_time_distributed_is_the_layer_at_every_step():
    rng = np.random.default_rng(1)
    dense = L.Dense(3)
    wrapped = L.TimeDistributed(dense)
    x = rng.standard_normal((2, 4, 5)).astype(np.float32)
    y = wrapped(x)
    for t in range(4):
        np.testing.assert_array_equal(y[:, t], dense(x[:, t]))
    assert wrapped.weights == dense.weights  # the same Parameter objects: one set of weights
    assert [p.name for p in wrapped.weights] == ["time_distributed/dense/kernel",
                                                 "time_distributed/dense/bias"]


def test_two_wrapped_layers_of_one_name_train_apart():
    """The optimizer keys its slots by weight name: the wrapper's name keeps them apart."""
    model = sn.Sequential([L.Input((3, 4)), L.TimeDistributed(L.Dense(4)), L.TimeDistributed(L.Dense(4)),
                           L.Flatten(), L.Dense(2)], seed=0)
    assert len({p.name for p in model.weights}) == len(model.weights)
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(2).normal(size=(8, 3, 4)).astype(np.float32)
    before = [w.copy() for w in model.get_weights()]
    model.fit(x, np.zeros((8, 2), np.float32), epochs=1, verbose=0)
    assert all(not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))


def test_time_distributed_saves_and_loads(tmp_path):
    model = sn.Sequential([L.Input((3, 4)), L.TimeDistributed(L.Dense(2)), L.Flatten(), L.Dense(1)],
                          seed=0)
    x = np.random.default_rng(3).normal(size=(2, 3, 4)).astype(np.float32)
    for suffix in (".npz", ".keras", ".h5"):
        if suffix == ".h5":
            with pytest.warns(UserWarning, match="legacy HDF5"):
                model.save(tmp_path / f"m{suffix}")
        else:
            model.save(tmp_path / f"m{suffix}")
        loaded = sn.load_model(tmp_path / f"m{suffix}")
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_time_distributed_passes_a_padding_mask_on():
    model = sn.Sequential([L.Input((5,), dtype="int32"), L.Embedding(10, 4, mask_zero=True),
                           L.TimeDistributed(L.Dense(3)), L.GlobalAveragePooling1D()], seed=0)
    ids = np.array([[1, 2, 0, 0, 0]])
    full = sn.Sequential([L.Input((2,), dtype="int32"), L.Embedding(10, 4), L.TimeDistributed(L.Dense(3)),
                          L.GlobalAveragePooling1D()], seed=0)
    full.set_weights(model.get_weights())
    np.testing.assert_allclose(model.predict(ids, verbose=0), full.predict(ids[:, :2], verbose=0),
                               rtol=1e-6)


def test_time_distributed_errors():
    with pytest.raises(ValueError, match="expected a layer instance"):
        L.TimeDistributed("dense")
    with pytest.raises(ValueError, match="BatchNormalization inside TimeDistributed"):
        L.TimeDistributed(L.BatchNormalization())
    with pytest.raises(ValueError, match="at least 3 dimensions"):
        sn.Sequential([L.Input((4,)), L.TimeDistributed(L.Dense(2))])


# ------------------------------------------------------------------- arithmetic on KerasTensors
def test_arithmetic_records_layers_with_exact_formulas():
    inputs = sn.Input((3,))
    a = L.Dense(3, name="a")(inputs)
    outputs = [a + inputs, inputs - a, a * inputs, a + 2.5, 2.5 + a, a - 2.5, 2.5 - a, a * 3.0,
               3.0 * a, -a, a / 4.0]
    model = sn.Model(inputs, outputs)
    x = np.random.default_rng(4).normal(size=(5, 3)).astype(np.float32)
    av = sn.Model(inputs, a)(x)
    expected = [av + x, x - av, av * x, av + np.float32(2.5), av + np.float32(2.5),
                av - np.float32(2.5), np.float32(2.5) - av, av * np.float32(3), av * np.float32(3),
                -av, av / np.float32(4)]
    for got, want in zip(model(x), expected, strict=True):
        np.testing.assert_array_equal(got, want)  # bit for bit: x*1 + c is x + c, x*c + 0 is x*c
    zeros = sn.Model(inputs, [a + 0.0, a * 0])(x)  # a zero is a number like any other but in a / 0
    np.testing.assert_array_equal(zeros[0], av)
    np.testing.assert_array_equal(zeros[1], np.zeros_like(av))
    kinds = [type(layer).__name__ for layer in model.layers[2:]]
    assert kinds == ["Add", "Subtract", "Multiply"] + ["Rescaling"] * 8


def test_arithmetic_trains_through_the_recorded_layers():
    inputs = sn.Input((2,))
    out = L.Dense(1)(inputs) * 10.0 - 1.0
    model = sn.Model(inputs, out)
    model.compile(optimizer=sn.optimizers.SGD(0.001), loss="mse")
    x = np.random.default_rng(5).normal(size=(32, 2)).astype(np.float32)
    y = x @ np.array([[2.0], [-1.0]], np.float32)
    losses = model.fit(x, y, epochs=30, verbose=0).history["loss"]
    assert losses[-1] < 0.1 * losses[0]


@pytest.mark.parametrize("expression, error, pattern", [
    (lambda a, b: a / b, TypeError, "dividing one KerasTensor by another"),
    (lambda a, b: a + "one", TypeError, "arithmetic with 'one'"),
    (lambda a, b: a * float("nan"), TypeError, "finite Python number"),
    (lambda a, b: a * np.ones(3), TypeError, "finite Python number"),
    (lambda a, b: a / 0, ZeroDivisionError, "/ 0"),
])
def test_arithmetic_errors(expression, error, pattern):
    a, b = sn.Input((3,)), sn.Input((3,))
    with pytest.raises(error, match=pattern):
        expression(a, b)
