"""sn.constraints on their own: hand-computed values (epsilon in the denominator), when they are
applied (after each optimizer update, not at creation, the gradient untouched), the numba backend
and replicas, constraints of one's own, saving, and a clear error for every bad argument.
(Keras' numbers: parity_tests/test_constraints_keras.py.)"""

import numpy as np
import pytest

import scratchnet as sn

C = sn.constraints
EPS = np.float32(1e-7)


def test_max_norm_by_hand():
    w = np.array([[3.0, 0.1], [4.0, 0.0]], dtype=np.float32)  # column norms 5 and 0.1
    out = C.MaxNorm(2.0)(w)
    np.testing.assert_allclose(out[:, 0], w[:, 0] * (2.0 / (EPS + 5.0)), rtol=1e-7)
    # a column inside the bound shrinks by 0.1 / (1e-7 + 0.1), as in Keras: not exactly unchanged
    np.testing.assert_array_equal(out[:, 1], w[:, 1] * (np.float32(0.1) / (EPS + np.float32(0.1))))
    assert out[0, 1] != w[0, 1]


def test_min_max_norm_by_hand():
    w = np.array([[0.3], [0.4]], dtype=np.float32)  # norm 0.5
    out = C.MinMaxNorm(min_value=1.0, max_value=2.0, rate=0.5)(w)
    desired = 0.5 * 1.0 + 0.5 * 0.5
    np.testing.assert_allclose(out, w * (desired / (1e-7 + 0.5)), rtol=1e-6)


def test_unit_norm_non_neg_and_axes_by_hand():
    w = np.array([[3.0, -4.0], [0.0, 0.0]], dtype=np.float32)
    np.testing.assert_allclose(C.UnitNorm(axis=1)(w), [[0.6, -0.8], [0.0, 0.0]], rtol=1e-6)
    np.testing.assert_array_equal(C.NonNeg()(w), [[3.0, 0.0], [0.0, 0.0]])
    kernel = np.ones((2, 2, 3, 4), dtype=np.float32)  # a Conv2D kernel: one norm per filter
    out = C.UnitNorm(axis=[0, 1, 2])(kernel)
    np.testing.assert_allclose(np.sqrt((out ** 2).sum(axis=(0, 1, 2))), np.ones(4), rtol=1e-6)


def test_get_names_classes_and_configs():
    assert isinstance(C.get("max_norm"), C.MaxNorm) and isinstance(C.get("MinMaxNorm"), C.MinMaxNorm)
    assert isinstance(C.get(C.NonNeg), C.NonNeg) and C.get(None) is None
    assert C.max_norm is C.MaxNorm and C.unit_norm is C.UnitNorm
    spec = C.serialize(C.MinMaxNorm(0.1, 0.9, rate=0.5, axis=[0, 1]))
    assert spec == {"module": "keras.constraints", "class_name": "MinMaxNorm", "registered_name": None,
                    "config": {"min_value": 0.1, "max_value": 0.9, "rate": 0.5, "axis": [0, 1]}}
    assert C.get(spec).get_config() == spec["config"]


@pytest.mark.parametrize("make, match", [
    (lambda: sn.layers.Dense(2, kernel_constraint="maxnorm", name="d"),
     r"Dense 'd': kernel_constraint: unknown constraint 'maxnorm'.*'max_norm'"),
    (lambda: sn.layers.Conv2D(2, 3, bias_constraint=3, name="c"),
     r"Conv2D 'c': bias_constraint: could not interpret constraint identifier 3"),
    (lambda: sn.layers.Embedding(3, 2, embeddings_constraint={"class_name": "Clip"}),
     r"embeddings_constraint: unknown constraint"),
    (lambda: C.MaxNorm(max_value="2"), r"MaxNorm: expected max_value to be a number, received '2'"),
    (lambda: C.UnitNorm(axis=1.5), r"UnitNorm: expected axis to be an int or a list of ints"),
    (lambda: C.MinMaxNorm(rate=None), r"MinMaxNorm: expected rate to be a number"),
])
def test_bad_arguments_name_what_was_expected(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def make_model(strategy=None, seed=0, constraint=None):
    def build():
        return sn.Sequential([
            sn.layers.Input((6, 6, 2)),
            sn.layers.Conv2D(3, 3, activation="tanh",
                             kernel_constraint=C.MaxNorm(0.3, axis=[0, 1, 2]),
                             bias_constraint="non_neg"),
            sn.layers.Flatten(),
            sn.layers.Dense(3, kernel_constraint=constraint or C.UnitNorm()),
        ], seed=seed)

    if strategy is None:
        model = build()
    else:
        with strategy.scope():
            model = build()
    model.compile(optimizer=sn.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy")
    return model


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(8, 6, 6, 2)).astype(np.float32), rng.integers(0, 3, 8)


def _kernel_norms(model):
    return (np.sqrt((model.layers[0].kernel.value ** 2).sum(axis=(0, 1, 2))),
            np.linalg.norm(model.layers[2].kernel.value, axis=0))


def test_applied_after_each_update_not_at_creation_and_not_to_the_gradient(data):
    model = make_model()
    conv_norms, dense_norms = _kernel_norms(model)
    assert np.any(np.abs(dense_norms - 1) > 0.1) and np.any(conv_norms > 0.31)  # untouched so far
    before = [w.copy() for w in model.get_weights()]
    _, grads = model.loss_and_grads(*data)  # no update: the weights stay as they were
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    model.train_step(*data)
    # the step is the SGD update, then the projection of the updated weights
    expected = C.UnitNorm()(before[2] - np.float32(0.5) * grads[2])
    np.testing.assert_allclose(model.layers[2].kernel.value, expected, rtol=1e-6)
    conv_norms, dense_norms = _kernel_norms(model)
    assert np.all(conv_norms <= 0.3 + 1e-6)
    np.testing.assert_allclose(dense_norms, 1.0, rtol=1e-6)
    assert np.all(model.layers[0].bias.value >= 0)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_adam_under_each_backend_gives_the_same_constrained_weights(data, backend):
    if backend == "numba":
        pytest.importorskip("numba")
    sn.set_backend("numpy")
    reference = make_model()
    reference.compile(optimizer=sn.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy")
    reference.fit(*data, batch_size=4, epochs=2, shuffle=False, verbose=0)
    sn.set_backend(backend)
    model = make_model()
    model.compile(optimizer=sn.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy")
    model.fit(*data, batch_size=4, epochs=2, shuffle=False, verbose=0)
    # 4 Adam steps, float32 sums in another order: the 1e-4 trajectory tolerance of PARITY.md
    for a, b in zip(reference.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4 * np.abs(a).max())
    np.testing.assert_allclose(_kernel_norms(model)[1], 1.0, rtol=1e-6)


def test_replicas_apply_the_constraints_once_per_step(data):
    model = make_model(sn.distribute.MirroredStrategy(2))
    single = make_model()
    model.fit(*data, batch_size=8, epochs=3, shuffle=False, verbose=0)
    single.fit(*data, batch_size=8, epochs=3, shuffle=False, verbose=0)
    conv_norms, dense_norms = _kernel_norms(model)
    assert np.all(conv_norms <= 0.3 + 1e-6)
    np.testing.assert_allclose(dense_norms, 1.0, rtol=1e-6)
    for a, b in zip(single.get_weights(), model.get_weights(), strict=True):  # equal split of 8
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


class NonNegative(C.Constraint):
    """Keras' docstring example of a constraint of one's own."""

    def __call__(self, w):
        return w * (w >= 0).astype(w.dtype)


class Clip(C.Constraint):
    def __init__(self, limit=0.05):
        self.limit = limit

    def __call__(self, w):
        return np.clip(w, -self.limit, self.limit)

    def get_config(self):
        return {"limit": self.limit}


def test_a_constraint_of_ones_own_and_a_plain_function(data):
    model = make_model(constraint=Clip(0.01))
    model.train_step(*data)
    assert np.abs(model.layers[2].kernel.value).max() <= 0.01
    assert repr(Clip(0.01)) == "Clip(limit=0.01)"
    np.testing.assert_array_equal(NonNegative()(np.array([-1.0, 1.0])), [0.0, 1.0])
    plain = make_model(constraint=lambda w: w * 0)  # Keras accepts any callable too
    plain.train_step(*data)
    assert not plain.layers[2].kernel.value.any()
    bad = make_model(constraint=lambda w: w[:1])
    with pytest.raises(ValueError, match=r'weight "dense/kernel" returned shape \(1, 3\), expected'):
        bad.train_step(*data)


@pytest.mark.parametrize("suffix", [".keras", ".h5", ".npz"])
def test_saved_and_loaded_with_the_model(tmp_path, data, suffix):
    model = make_model(constraint=C.MinMaxNorm(0.2, 0.4, rate=0.5, axis=0))
    path = tmp_path / f"m{suffix}"
    model.save(path)
    loaded = sn.load_model(path)
    assert loaded.layers[0].get_config() == model.layers[0].get_config()
    assert loaded.layers[2].get_config()["kernel_constraint"]["config"] == {
        "min_value": 0.2, "max_value": 0.4, "rate": 0.5, "axis": 0}
    model.train_step(*data)
    loaded.train_step(*data)
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)
