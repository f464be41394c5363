"""sn.regularizers on their own: the penalty's gradient against finite differences, which weights
count (trainable ones only), saving, replicas, and a clear error for every bad argument.
(Keras' numbers: parity_tests/test_regularizers_keras.py.)"""

import numpy as np
import pytest

import scratchnet as sn
from tests.gradcheck import REL_TOL, numeric_grad, rel_error

LEARNING_RATE = 0.01


def make_model(strategy=None, seed=0):
    def build():
        return sn.Sequential([
            sn.layers.Input((6, 6, 2)),
            sn.layers.Conv2D(3, 3, activation="tanh", kernel_regularizer=sn.regularizers.L2(0.05),
                             bias_regularizer=sn.regularizers.L1(0.1)),
            sn.layers.Flatten(),
            sn.layers.Dense(3, kernel_regularizer=sn.regularizers.L1L2(0.02, 0.03)),
        ], seed=seed)

    if strategy is None:
        model = build()
    else:
        with strategy.scope():
            model = build()
    model.compile(optimizer=sn.optimizers.SGD(LEARNING_RATE), loss="sparse_categorical_crossentropy")
    return model


@pytest.fixture
def data(rng):
    return rng.standard_normal((8, 6, 6, 2)), rng.integers(0, 3, size=8)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_loss_and_grads_with_penalties_against_finite_differences(backend, data, rng):
    sn.config.set_floatx("float64")
    sn.set_backend(backend)
    x, y = data
    model = make_model()
    model.layers[0].bias.value[:] = rng.normal(0, 0.5, size=3)  # |b| has no slope at exactly 0
    value, grads = model.loss_and_grads(x, y)
    for p, g in zip(model.params, grads, strict=True):
        numeric = numeric_grad(lambda: model.loss_and_grads(x, y)[0], p.value)
        assert rel_error(g, numeric) < REL_TOL, p.name
    unregularized = sum(float(np.asarray(r)) for r in model.losses)
    assert unregularized > 0 and value == pytest.approx(
        model.evaluate_loss(y, model.predict(x, verbose=0)) + unregularized, rel=1e-12)


def test_penalties_formulas_by_hand():
    w = np.array([[-2.0, 0.0], [0.5, 3.0]], dtype=np.float32)
    assert sn.regularizers.L1(0.1)(w) == pytest.approx(0.1 * 5.5)
    assert sn.regularizers.L2(0.1)(w) == pytest.approx(0.1 * 13.25)
    np.testing.assert_allclose(sn.regularizers.L1(0.1).gradient(w), 0.1 * np.array([[-1, 0], [1, 1]]))
    np.testing.assert_allclose(sn.regularizers.L2(0.1).gradient(w), 0.2 * w)
    both = sn.regularizers.L1L2(0.1, 0.1)
    assert both(w) == pytest.approx(0.1 * 5.5 + 0.1 * 13.25)
    assert both(w).dtype == np.float32 and both.gradient(w).dtype == np.float32
    # L1 keeps its factor in float32, as Keras' (a float32 tensor); L2 and L1L2 as given
    assert sn.regularizers.get("l2").l2 == 0.01 and sn.regularizers.get("L1").l1 == float(np.float32(0.01))
    assert sn.regularizers.get("l1l2").get_config() == {"l1": 0.0, "l2": 0.0}
    assert sn.regularizers.l2 is sn.regularizers.L2 and sn.regularizers.l1_l2 is sn.regularizers.L1L2


def test_fit_moves_weights_by_the_penalty_gradient_too(data):
    x, y = data
    model = make_model()
    plain = make_model()
    for layer in plain.layers:
        for arg in ("kernel_regularizer", "bias_regularizer"):
            if hasattr(layer, arg):
                setattr(layer, arg, None)
        for p in layer.params.values():
            p.regularizer = None
    before = model.get_weights()
    grads = plain.loss_and_grads(x, y)[1]
    penalty_grads = [0.0 if p.regularizer is None else p.regularizer.gradient(p.value)
                     for p in model.params]
    model.train_on_batch(x, y)
    for w0, w1, g, pg in zip(before, model.get_weights(), grads, penalty_grads, strict=True):
        np.testing.assert_allclose(w1, w0 - np.float32(LEARNING_RATE) * (g + pg), rtol=1e-5, atol=1e-7)


def test_only_trainable_weights_are_penalized_as_in_keras(data):
    x, y = data
    model = make_model()
    assert len(model.losses) == 3
    model.layers[0].trainable = False
    assert len(model.losses) == 1  # the Dense kernel's
    model.trainable = False
    assert model.losses == [] and model.weight_penalty() == 0.0


def test_mirrored_replicas_add_the_penalty_once(data):
    x, y = data
    single = make_model()
    mirrored = make_model(sn.distribute.MirroredStrategy(2))
    h1 = single.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    h2 = mirrored.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    # equal halves: the same sums in another order (the trajectory tolerance of PARITY.md)
    np.testing.assert_allclose(h2.history["loss"], h1.history["loss"], rtol=1e-5)
    for a, b in zip(single.get_weights(), mirrored.get_weights(), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("suffix", [".npz", ".keras"])
def test_saved_models_keep_their_regularizers(tmp_path, data, suffix):
    x, y = data
    model = make_model()
    model.save(tmp_path / f"m{suffix}")
    loaded = sn.load_model(tmp_path / f"m{suffix}")
    assert [type(layer.kernel_regularizer).__name__ for layer in (loaded.layers[0], loaded.layers[2])] \
        == ["L2", "L1L2"]
    assert loaded.layers[0].bias_regularizer.get_config() == {"l1": float(np.float32(0.1))}
    assert loaded.layers[2].bias_regularizer is None
    np.testing.assert_allclose(loaded.losses, model.losses, rtol=1e-7)
    assert loaded.evaluate(x, y, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-6)


def test_an_embedding_table_is_penalized():
    model = sn.Sequential([sn.layers.Input((3,), dtype="int32"),
                           sn.layers.Embedding(5, 2, embeddings_regularizer="l2")], seed=0)
    table = model.layers[0].embeddings.value
    assert model.losses[0] == pytest.approx(0.01 * float(np.sum(table.astype(np.float64) ** 2)), rel=1e-6)
    assert model.layers[0].get_config()["embeddings_regularizer"]["class_name"] == "L2"


class HalfSquare(sn.regularizers.Regularizer):
    """A learner's own penalty: 0.5 * sum(w^2), with its derivative."""

    def __call__(self, w):
        return w.dtype.type(0.5) * np.square(w).sum()

    def gradient(self, w):
        return w


def test_a_regularizer_subclass_with_its_gradient_trains(data):
    x, y = data
    model = sn.Sequential([sn.layers.Input((6, 6, 2)), sn.layers.Flatten(),
                           sn.layers.Dense(3, kernel_regularizer=HalfSquare())], seed=0)
    model.compile(optimizer=sn.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    kernel = model.layers[1].kernel.value
    assert model.losses[0] == pytest.approx(0.5 * float(np.sum(kernel.astype(np.float64) ** 2)), rel=1e-6)
    loss = model.fit(x, y, epochs=1, batch_size=8, verbose=0).history["loss"][0]
    assert np.isfinite(loss)


@pytest.mark.parametrize("value, message", [
    (lambda w: 0.01 * np.sum(w ** 2), r"Dense 'd': kernel_regularizer: .*'<lambda>'.*no automatic "
                                      r"differentiation.*gradient\(w\)"),
    ("l3", r"Dense 'd': kernel_regularizer: unknown regularizer 'l3'; expected None, one of "),
    ("l1_l2", r"unknown regularizer 'l1_l2'.*'l1l2'"),
    (0.01, r"Dense 'd': kernel_regularizer: unknown regularizer 0.01"),
    ({"class_name": "SpectralRegularizer", "config": {}}, "unknown regularizer"),
    ({"class_name": "L2", "config": {"l3": 1}}, r"unreadable regularizer config .*'l3'"),
])
def test_bad_regularizer_arguments_name_the_layer_and_argument(value, message):
    with pytest.raises(ValueError, match=message):
        sn.layers.Dense(2, kernel_regularizer=value, name="d")


@pytest.mark.parametrize("factor", [-0.1, float("nan"), float("inf"), "0.1", True])
def test_bad_factors_are_refused_as_by_keras(factor):
    with pytest.raises(ValueError, match=r"Invalid value for argument l2: expected a non-negative float"):
        sn.regularizers.L2(factor)
    with pytest.raises(ValueError, match=r"Invalid value for argument l1: expected a non-negative float"):
        sn.regularizers.L1L2(l1=factor)


def test_an_unknown_activity_regularizer_is_refused_clearly():
    # (activity_regularizer itself is tested in tests/test_activity_regularization.py)
    with pytest.raises(ValueError, match=r"Dense 'd': activity_regularizer: unknown regularizer 'l3'"):
        sn.layers.Dense(2, activity_regularizer="l3", name="d")


def test_conv1d_takes_them_too():
    layer = sn.layers.Conv1D(2, 3, kernel_regularizer="l2", bias_regularizer="l1")
    model = sn.Sequential([sn.layers.Input((7, 2)), layer], seed=0)
    assert len(model.losses) == 2 and float(model.losses[1]) == 0.0  # zero bias, zero L1 penalty
