"""Weight regularizers (``kernel_regularizer=regularizers.l2(0.001)``, the "overfit and underfit"
lesson) against Keras 3.15: the penalty and its gradient, the loss ``fit`` and ``evaluate``
report, ``model.losses``, the converters and ``.keras`` files.

Tolerances: a penalty is a float32 sum over a weight (NumPy's pairwise order against Eigen's), held
to FORWARD_RTOL; its gradient is elementwise (``l2 * (2 * w)``, ``l1 * sign(w)``), the same operations
in the same order as TensorFlow's, so held to 1e-7 (about one float32 rounding); losses and grads of
whole models to FORWARD_RTOL / GRAD_RTOL and weights after a fit to TRAJECTORY_RTOL (driver.py).
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import scratchnet as sn
import tfnet
from parity_tests.driver import FORWARD_RTOL, GRAD_RTOL, TRAJECTORY_RTOL, assert_close, make_twins

ELEMENTWISE_RTOL = 1e-7

CASES = [
    ("l1", lambda: sn.regularizers.L1(0.003), lambda: keras.regularizers.L1(0.003)),
    ("l2", lambda: sn.regularizers.L2(0.02), lambda: keras.regularizers.L2(0.02)),
    ("l1_l2", lambda: sn.regularizers.L1L2(l1=0.01, l2=0.05),
     lambda: keras.regularizers.L1L2(l1=0.01, l2=0.05)),
    ("l2_string", lambda: sn.regularizers.get("l2"), lambda: keras.regularizers.get("l2")),
    ("l1l2_string", lambda: sn.regularizers.get("l1l2"), lambda: keras.regularizers.get("l1l2")),
]


@pytest.mark.parametrize("name,scratch,kerasreg", CASES, ids=[c[0] for c in CASES])
def test_penalty_and_gradient_as_keras(name, scratch, kerasreg):
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.3, size=(5, 7)).astype(np.float32)
    w[0, :3] = 0.0  # |w| has slope 0 there in TensorFlow
    reg_s, reg_k = scratch(), kerasreg()
    assert reg_s.get_config() == pytest.approx(reg_k.get_config())
    variable = tf.Variable(w)
    with tf.GradientTape() as tape:
        penalty_k = reg_k(variable)
    grad_k = tape.gradient(penalty_k, variable)
    penalty_s = reg_s(w)
    assert penalty_s.dtype == np.float32
    assert_close(penalty_s, penalty_k.numpy(), FORWARD_RTOL, f"{name} penalty")
    grad_s = reg_s.gradient(w)
    if grad_k is None:  # "l1l2" from a string: both factors 0, Keras' penalty is a constant
        np.testing.assert_array_equal(grad_s, np.zeros_like(w))
        assert float(penalty_s) == 0.0
    else:
        assert_close(grad_s, grad_k.numpy(), ELEMENTWISE_RTOL, f"{name} gradient")


def test_the_docstring_name_l1_l2_is_refused_as_by_keras():
    with pytest.raises(ValueError, match="regularizer identifier: l1_l2"):
        keras.regularizers.get("l1_l2")
    with pytest.raises(ValueError, match=r"Dense 'd': kernel_regularizer: unknown regularizer "
                                         r"'l1_l2'.*'l1l2'"):
        sn.layers.Dense(2, kernel_regularizer="l1_l2", name="d")


def regularized_cnn():
    return sn.Sequential([
        sn.layers.Input((8, 8, 1)),
        sn.layers.Conv2D(4, 3, activation="relu", kernel_regularizer=sn.regularizers.l2(0.01),
                         bias_regularizer=sn.regularizers.l1(0.02)),
        sn.layers.MaxPooling2D(),
        sn.layers.Flatten(),
        sn.layers.Dense(16, activation="relu", kernel_regularizer=sn.regularizers.l1_l2(0.001, 0.01)),
        sn.layers.Dense(10, kernel_regularizer="l2"),
    ], seed=3)


def test_model_losses_and_one_batch_loss_and_grads_as_keras(digits):
    x, y = digits[0][:32], digits[1][:32]
    twins = make_twins(regularized_cnn(), loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    losses_s, losses_k = twins.scratch.losses, twins.keras.losses
    assert len(losses_s) == len(losses_k) == 4  # conv kernel and bias, two dense kernels
    for penalty_s, penalty_k in zip(losses_s, losses_k, strict=True):
        assert_close(penalty_s, penalty_k.numpy(), FORWARD_RTOL, "model.losses")
    logits = twins.scratch.predict(x, verbose=0)
    data_loss = sn.losses.SparseCategoricalCrossentropy(from_logits=True)(y, logits)
    loss_s, grads_s = twins.scratch.loss_and_grads(x, y)
    assert loss_s == pytest.approx(data_loss + twins.scratch.weight_penalty(), rel=1e-6)
    assert twins.scratch.weight_penalty() > 0.01 * data_loss  # the penalty is visible in the loss
    loss_k, grads_k = tfnet.loss_and_grads(twins.keras, x, y)
    assert_close(loss_s, loss_k, FORWARD_RTOL, "loss with penalties")
    for param, g_s, g_k in zip(twins.scratch.weights, grads_s, grads_k, strict=True):
        assert_close(g_s, g_k, GRAD_RTOL, f'gradient of "{param.name}" with its penalty')


def test_fit_and_evaluate_report_the_loss_with_penalties_as_keras(digits):
    x, y = digits[0][:200], digits[1][:200]
    xv, yv = digits[0][200:264], digits[1][200:264]
    twins = make_twins(regularized_cnn(), optimizer=sn.optimizers.SGD(0.05, momentum=0.9),
                       loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True),
                       metrics=["accuracy"])
    kwargs = dict(epochs=3, batch_size=32, shuffle=False, verbose=0, validation_data=(xv, yv))
    history_s = twins.scratch.fit(x, y, **kwargs).history
    history_k = twins.keras.fit(x, y, **kwargs).history
    for key in ("loss", "val_loss"):
        assert_close(history_s[key], history_k[key], GRAD_RTOL, f"history[{key!r}]")
    for param, wk in zip(twins.scratch.weights, twins.keras.get_weights(), strict=True):
        assert_close(param.value, wk, TRAJECTORY_RTOL, f'"{param.name}" after the fit')
    loss_s, loss_k = twins.scratch.evaluate(xv, yv, verbose=0)[0], twins.keras.evaluate(xv, yv, verbose=0)[0]
    assert_close(loss_s, loss_k, FORWARD_RTOL, "evaluate loss")
    data_only = twins.scratch.evaluate_loss(yv, twins.scratch.predict(xv, verbose=0))
    assert loss_s == pytest.approx(data_only + twins.scratch.weight_penalty(), rel=1e-6)


def test_an_embedding_penalty_trains_as_keras_with_adam():
    # With a penalty the embedding gradient is dense on both sides, so Adam sees the same numbers
    # (without one, Keras' sparse update differs on repeated ids: docs/embeddings.md).
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 12, size=(48, 6))
    y = (ids.sum(axis=1) % 2).astype(np.int64)
    model = sn.Sequential([sn.layers.Input((6,), dtype="int32"),
                           sn.layers.Embedding(12, 4, embeddings_regularizer=sn.regularizers.l2(0.05)),
                           sn.layers.GlobalAveragePooling1D(), sn.layers.Dense(2)], seed=0)
    twins = make_twins(model, optimizer=sn.optimizers.Adam(0.01),
                       loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    kwargs = dict(epochs=3, batch_size=16, shuffle=False, verbose=0)
    history_s = twins.scratch.fit(ids, y, **kwargs).history
    history_k = twins.keras.fit(ids, y, **kwargs).history
    assert_close(history_s["loss"], history_k["loss"], GRAD_RTOL, "loss per epoch")
    for param, wk in zip(twins.scratch.weights, twins.keras.get_weights(), strict=True):
        assert_close(param.value, wk, TRAJECTORY_RTOL, f'"{param.name}" after the fit')


def test_converters_carry_the_regularizers_both_ways():
    model = regularized_cnn()
    kmodel = tfnet.to_keras(model)
    conv, dense = kmodel.layers[0], kmodel.layers[3]
    assert isinstance(conv.kernel_regularizer, keras.regularizers.L2)
    assert conv.kernel_regularizer.get_config() == pytest.approx({"l2": 0.01})
    assert isinstance(conv.bias_regularizer, keras.regularizers.L1)
    assert isinstance(dense.kernel_regularizer, keras.regularizers.L1L2)
    back = tfnet.from_keras(kmodel)
    for a, b in zip(model.layers, back.layers, strict=True):
        for arg in ("kernel_regularizer", "bias_regularizer"):
            ra, rb = getattr(a, arg, None), getattr(b, arg, None)
            assert type(ra) is type(rb) and (ra is None or ra.get_config() == pytest.approx(rb.get_config()))
    orthogonal = keras.Sequential([keras.Input((4,)), keras.layers.Dense(
        3, kernel_regularizer=keras.regularizers.OrthogonalRegularizer(), name="ortho")])
    assert isinstance(tfnet.from_keras(orthogonal).layers[0].kernel_regularizer,
                      sn.regularizers.OrthogonalRegularizer)  # (test_orthogonal_regularizer_keras.py)


def test_keras_files_both_ways(tmp_path, digits):
    x = digits[0][:16]
    kmodel = keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(3, 3, kernel_regularizer=keras.regularizers.l2(0.001)),
        keras.layers.Flatten(),
        keras.layers.Dense(10, kernel_regularizer="l1", bias_regularizer=keras.regularizers.L1L2(0.1, 0.2)),
    ])
    kmodel.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    kmodel.save(tmp_path / "k.keras")
    model = sn.load_model(tmp_path / "k.keras")
    assert isinstance(model.layers[0].kernel_regularizer, sn.regularizers.L2)
    assert model.layers[2].bias_regularizer.get_config() == pytest.approx({"l1": 0.1, "l2": 0.2})
    for penalty_s, penalty_k in zip(model.losses, kmodel.losses, strict=True):
        assert_close(penalty_s, penalty_k.numpy(), FORWARD_RTOL, "model.losses after loading")
    assert_close(model.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL, "predict")
    model.save(tmp_path / "s.keras")
    again = keras.models.load_model(tmp_path / "s.keras")
    assert [type(r).__name__ for r in (again.layers[0].kernel_regularizer,
                                       again.layers[2].kernel_regularizer,
                                       again.layers[2].bias_regularizer)] == ["L2", "L1", "L1L2"]
    assert len(again.losses) == 3
    for penalty_s, penalty_k in zip(model.losses, again.losses, strict=True):
        assert_close(penalty_s, penalty_k.numpy(), FORWARD_RTOL, "model.losses in Keras")
