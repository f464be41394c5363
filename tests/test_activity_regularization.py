"""``activity_regularizer=`` on any layer and the ``ActivityRegularization`` layer: the penalty
``R(y) / batch size`` joins the loss (train_step, loss_and_grads, evaluate), is listed in
``layer.losses`` and ``model.losses`` (activity penalties first, then weight penalties, as Keras),
and its gradient reaches the weights through the layer's output, checked against float64 finite
differences of the whole loss in Sequential and functional models (a shared layer, a final
softmax whose logits the loss reads, a recurrent layer). Keras parity:
parity_tests/test_activity_regularization_keras.py."""

import numpy as np
import pytest

import scratchnet as sn
from tests.gradcheck import REL_TOL, numeric_grad, rel_error

L = sn.layers
R = sn.regularizers


def _check_model_grads(model, x, y):
    """Every gradient of ``loss_and_grads`` against finite differences of its loss."""
    rng = np.random.default_rng(0)
    model.set_weights([rng.standard_normal(w.shape) * 0.7 for w in model.get_weights()])
    loss, grads = model.loss_and_grads(x, y)
    for param, grad in zip(model.weights, grads, strict=True):
        numeric = numeric_grad(lambda: model.loss_and_grads(x, y)[0], param.value)
        assert rel_error(grad, numeric) < REL_TOL, (param.name, rel_error(grad, numeric))
    return loss


def test_layer_call_records_the_penalty_per_batch_size():
    x = np.array([[1.0, -2.0], [3.0, 0.0], [0.5, 0.5]], np.float32)
    layer = L.ActivityRegularization(l1=0.1, l2=0.01)
    y = layer(x)
    np.testing.assert_array_equal(y, x)
    (penalty,) = layer.losses
    expected = (0.1 * np.abs(x).sum() + 0.01 * (x ** 2).sum()) / 3
    assert penalty.dtype == np.float32 and float(penalty) == pytest.approx(expected, rel=1e-6)
    layer(x[:1])  # each call replaces the last one's penalty (Keras clears losses per call)
    assert float(layer.losses[0]) == pytest.approx(0.1 * 3 + 0.01 * 5, rel=1e-6)


def test_dense_lists_its_activity_penalty_before_its_weight_penalties():
    layer = L.Dense(2, activity_regularizer="l2", kernel_regularizer=R.L1(0.5),
                    kernel_initializer="ones")
    y = layer(np.ones((4, 3), np.float32))
    assert len(layer.losses) == 2
    assert float(layer.losses[0]) == pytest.approx(0.01 * (y ** 2).sum() / 4)
    assert float(layer.losses[1]) == pytest.approx(0.5 * 6)


def test_sequential_gradients_and_loss_match_finite_differences(float64):
    model = sn.Sequential([
        L.Input((5,)), L.Dense(4, activation="tanh", activity_regularizer=R.L2(0.3)),
        L.ActivityRegularization(l1=0.2, l2=0.1), L.Dense(4, activity_regularizer=R.L1L2(0.05, 0.1)),
        L.Dense(3, activation="softmax", activity_regularizer=R.L2(0.5))], seed=0)
    model.compile(optimizer="sgd", loss=sn.losses.SparseCategoricalCrossentropy())
    x, y = np.random.default_rng(1).standard_normal((6, 5)), np.arange(6) % 3
    loss = _check_model_grads(model, x, y)
    data_loss = model.evaluate_loss(y, model.forward(x, training=True))
    assert loss == pytest.approx(data_loss + sum(float(p) for p in model.losses), rel=1e-12)
    assert len(model.losses) == 4 and model.activity_penalty() > 0.05 * data_loss


def test_recurrent_conv_and_embedding_layers_take_it(float64):
    model = sn.Sequential([
        L.Input((6,), dtype="int32"), L.Embedding(7, 3, activity_regularizer=R.L2(0.2)),
        L.Conv1D(4, 2, activity_regularizer=R.L1(0.1)),
        L.LSTM(3, return_sequences=True, activity_regularizer=R.L2(0.3)),
        L.GRU(2, activity_regularizer=R.L1L2(0.1, 0.2)), L.Dense(2)], seed=0)
    model.compile(optimizer="sgd", loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = np.random.default_rng(2).integers(0, 7, (4, 6)), np.arange(4) % 2
    _check_model_grads(model, x, y)
    assert len(model.losses) == 4


def test_functional_graph_with_a_shared_layer(float64):
    """A layer called twice adds one penalty per call (each on its own output), as in Keras."""
    shared = L.Dense(3, activation="tanh", activity_regularizer=R.L2(0.4), name="shared")
    a, b = sn.Input((4,)), sn.Input((4,))
    merged = L.Add(activity_regularizer=R.L1(0.2))([shared(a), shared(b)])
    out = L.Dense(2, activity_regularizer=R.L2(0.1))(L.ActivityRegularization(0.3)(merged))
    model = sn.Model([a, b], out, seed=0)
    model.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(3)
    x, y = [rng.standard_normal((5, 4)), rng.standard_normal((5, 4))], rng.standard_normal((5, 2))
    _check_model_grads(model, x, y)
    assert len(model.losses) == 5  # shared twice, Add, ActivityRegularization, the last Dense
    assert len(shared.losses) == 2


def test_evaluate_and_fit_report_the_penalty_and_training_lowers_activity():
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((32, 5)).astype(np.float32), rng.standard_normal((32, 2)).astype(np.float32)
    model = sn.Sequential([L.Input((5,)), L.Dense(8, activation="relu", activity_regularizer=R.L1(0.05)),
                           L.Dense(2)], seed=0)
    model.compile(optimizer=sn.optimizers.Adam(0.01), loss="mse")
    evaluated = model.evaluate(x, y, verbose=0, batch_size=32)
    data_only = model.evaluate_loss(y, model.predict(x, verbose=0))
    assert evaluated == pytest.approx(data_only + model.activity_penalty(), rel=1e-6)
    assert model.activity_penalty() > 0
    before = model.activity_penalty()
    model.fit(x, y, epochs=30, batch_size=8, verbose=0)
    model.predict(x, verbose=0)
    assert model.activity_penalty() < before


def test_configs_carry_it_and_rebuild():
    layer = L.Conv2D(2, 3, activity_regularizer=R.L1L2(0.1, 0.2))
    config = layer.get_config()
    assert config["activity_regularizer"] == {"module": "keras.regularizers", "class_name": "L1L2",
                                              "config": {"l1": 0.1, "l2": 0.2}, "registered_name": None}
    assert L.Conv2D(**config).get_config() == config
    assert "activity_regularizer" not in L.Dense(2).get_config()  # Keras' rule: only when set
    again = L.ActivityRegularization(**L.ActivityRegularization(0.5).get_config())
    assert again.activity_regularizer.get_config() == {"l1": 0.5, "l2": 0.0}


@pytest.mark.parametrize("suffix", [".keras", ".h5", ".npz"])
def test_saved_models_keep_it(suffix, tmp_path):
    model = sn.Sequential([L.Input((4,)), L.Dense(3, activity_regularizer=R.L2(0.25)),
                           L.ActivityRegularization(l1=0.5), L.Dense(2)], seed=0)
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(5).standard_normal((3, 4)).astype(np.float32)
    model.save(tmp_path / f"m{suffix}")
    loaded = sn.load_model(tmp_path / f"m{suffix}")
    assert loaded.layers[0].activity_regularizer.get_config() == {"l2": 0.25}
    assert loaded.layers[1].l1 == 0.5
    model.predict(x, verbose=0)
    loaded.predict(x, verbose=0)
    np.testing.assert_allclose([float(p) for p in loaded.losses], [float(p) for p in model.losses])


def test_what_is_not_implemented_is_refused_clearly():
    with sn.distribute.MirroredStrategy(num_replicas=2).scope():
        model = sn.Sequential([L.Input((4,)), L.Dense(2, activity_regularizer="l2", name="d")], seed=0)
        model.compile(optimizer="sgd", loss="mse")
    for run in (model.fit, model.evaluate):
        with pytest.raises(ValueError, match=r'layer "d": activity_regularizer under a distribution '
                                             r"strategy"):
            run(np.zeros((4, 4), np.float32), np.zeros((4, 2), np.float32), verbose=0)
    with pytest.raises(ValueError, match=r'TimeDistributed "time_distributed": an activity_regularizer '
                                         r'on the wrapped layer "inner"'):
        L.TimeDistributed(L.Dense(2, activity_regularizer="l2", name="inner"))
    with pytest.raises(ValueError, match=r'Bidirectional "bidirectional": an activity_regularizer on the '
                                         r'wrapped layer "gru"'):
        L.Bidirectional(L.GRU(2, activity_regularizer="l2", name="gru"))
    wrapped = L.Bidirectional(L.GRU(2), activity_regularizer="l2")  # on the wrapper: its output
    sn.Sequential([L.Input((3, 2)), wrapped], seed=0).predict(np.ones((2, 3, 2), np.float32), verbose=0)
    assert len(wrapped.losses) == 1


def test_fused_conv_pool_is_skipped_for_a_regularized_conv():
    sn.set_backend("numba")
    conv = L.Conv2D(2, 3, activation="relu", activity_regularizer="l2")
    model = sn.Sequential([L.Input((8, 8, 1)), conv, L.MaxPooling2D(), L.Flatten(), L.Dense(2)], seed=0)
    model.predict(np.ones((2, 8, 8, 1), np.float32), verbose=0)
    assert model._fused_pool(0) is None and len(model.losses) == 1 and float(model.losses[0]) > 0
    conv.activity_regularizer = None  # (the same model without it: the pair runs as one call)
    assert model._fused_pool(0) is not None
