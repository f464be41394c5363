"""TimeDistributed, and arithmetic on KerasTensors in functional models (``res = x + inputs``,
``outputs * 100``), against Keras 3.15: outputs to FORWARD_RTOL, the loss and every gradient to
GRAD_RTOL, training steps to TRAJECTORY_RTOL, and the same program written once for both
libraries (``build(keras)`` and ``build(sn)``), as a user would with the import changed."""

import keras
import numpy as np
import pytest

import scratchnet as sn
import tfnet
from parity_tests.driver import (
    FORWARD_RTOL,
    GRAD_RTOL,
    TRAJECTORY_RTOL,
    assert_close,
    assert_parity,
    layer_model,
    random_data,
    random_weights,
)

L = sn.layers
SCCE = sn.losses.SparseCategoricalCrossentropy




# ------------------------------------------------------------------- TimeDistributed
CASES = {  # (wrapped layer, input shape without the batch)
    "dense": (lambda: L.Dense(3, activation="tanh"), (5, 4)),
    "dense_on_frames": (lambda: L.Dense(2), (3, 4, 5)),
    "conv2d_on_video": (lambda: L.Conv2D(3, 2, padding="same", activation="relu"), (3, 5, 4, 2)),
    "maxpool_on_video": (lambda: L.MaxPooling2D(2), (3, 4, 4, 2)),
    "flatten": (lambda: L.Flatten(), (3, 2, 4)),
    "conv1d": (lambda: L.Conv1D(2, 3), (4, 6, 2)),
    "dropout_inference": (lambda: L.Dropout(0.5), (4, 3)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_time_distributed_forward(case):
    make, shape = CASES[case]
    x, _ = random_data(shape)
    assert_parity(random_weights(layer_model(L.TimeDistributed(make()), shape)), x)


@pytest.mark.parametrize("case", sorted(c for c in CASES if c != "dropout_inference"))
def test_time_distributed_gradients_through_a_stack(case):
    make, shape = CASES[case]
    x, y = random_data(shape, classes=3)
    model = random_weights(sn.Sequential([L.Input(shape), L.TimeDistributed(make()),
                                     L.TimeDistributed(L.Dense(2, activation="tanh")), L.Flatten(),
                                     L.Dense(3)], seed=0))
    assert_parity(model, x, y, loss=SCCE(from_logits=True))


def test_a_video_classifier_trains_as_keras():
    """Frames through a shared convnet, then an LSTM over the frames: 10 Adam steps."""
    model = random_weights(sn.Sequential([
        L.Input((4, 6, 6, 1)), L.TimeDistributed(L.Conv2D(3, 3, activation="relu")),
        L.TimeDistributed(L.MaxPooling2D(2)), L.TimeDistributed(L.Flatten()), L.LSTM(4), L.Dense(3)],
        seed=0), seed=1)
    x, y = random_data((4, 6, 6, 1), n=16, classes=3)
    assert_parity(model, x, y, loss=SCCE(from_logits=True), optimizer=sn.optimizers.Adam(0.01),
                  steps=10, batch_size=8)


def test_time_distributed_round_trip():
    model = random_weights(sn.Sequential([
        L.Input((3, 5, 4, 2)), L.TimeDistributed(L.Conv2D(2, 3, padding="same", use_bias=False)),
        L.TimeDistributed(L.GlobalAveragePooling2D()), L.TimeDistributed(L.Dense(2)), L.Flatten(),
        L.Dense(2)], seed=0))
    kmodel = tfnet.to_keras(model)
    assert [type(k.layer).__name__ for k in kmodel.layers[:3]] == ["Conv2D", "GlobalAveragePooling2D",
                                                                  "Dense"]
    back = tfnet.from_keras(kmodel)
    for original, copy in zip(model.layers, back.layers, strict=True):
        assert copy.get_config() == original.get_config()
    for ws, wb in zip(model.get_weights(), back.get_weights(), strict=True):
        assert np.array_equal(ws, wb)
    x, _ = random_data((3, 5, 4, 2))
    assert_close(back.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL, "predictions")


# ------------------------------------------------------------------- arithmetic on KerasTensors
def build(m):
    """One program for both libraries: ``m`` is ``keras`` or ``scratchnet``. A residual block
    (``x + inputs``), a scaled output (``* 100``), ``c - x``, ``x - c``, ``-x`` and ``x / 3``:
    Keras runs its ops, scratchnet records Add and Rescaling layers."""
    inputs = m.Input((6, 4))
    x = m.layers.Conv1D(4, 3, padding="same", activation="relu")(inputs)
    res = x + inputs
    gated = m.layers.Dense(4, activation="sigmoid")(res) * res
    x = m.layers.LayerNormalization()(gated - inputs)
    x = m.layers.GlobalAveragePooling1D()(x)
    out = m.layers.Dense(2)(x) * 100.0
    out = 1.0 - (-out / 3.0 + 0.5) - 2.0
    return m.Model(inputs, out)


def test_a_program_with_tensor_arithmetic_gives_keras_numbers():
    sn.utils.set_random_seed(0)
    smodel = random_weights(build(sn), seed=3)
    kmodel = build(keras)
    kmodel.set_weights(smodel.get_weights())
    x, _ = random_data((6, 4), n=8)
    y = np.random.default_rng(1).normal(size=(8, 2)).astype(np.float32)
    # x / 3 is x * (1/3) here, a true division in Keras: at most one rounding apart
    assert_close(smodel.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL, "predictions")
    smodel.compile(optimizer=sn.optimizers.SGD(1e-4), loss="mse")
    kmodel.compile(optimizer=keras.optimizers.SGD(1e-4), loss="mse")
    loss_s, grads_s = smodel.loss_and_grads(x, y)
    loss_k, grads_k = tfnet.loss_and_grads(kmodel, x, y)
    assert_close(loss_s, loss_k, FORWARD_RTOL, "loss")
    for gs, gk, w in zip(grads_s, grads_k, smodel.weights, strict=True):
        assert_close(gs, gk, GRAD_RTOL, f'gradient of "{w.name}"')
    history_s = smodel.fit(x, y, epochs=3, batch_size=4, shuffle=False, verbose=0).history
    history_k = kmodel.fit(x, y, epochs=3, batch_size=4, shuffle=False, verbose=0).history
    assert_close(history_s["loss"], history_k["loss"], GRAD_RTOL, "loss per epoch")
    for ws, wk in zip(smodel.get_weights(), kmodel.get_weights(), strict=True):
        assert_close(ws, wk, TRAJECTORY_RTOL, "weights after fit")


def test_tensor_arithmetic_records_layers_that_save_and_convert(tmp_path):
    sn.utils.set_random_seed(0)
    model = random_weights(build(sn), seed=3)
    names = [type(layer).__name__ for layer in model.layers]
    assert names.count("Add") == 1 and names.count("Multiply") == 1 and names.count("Subtract") == 1
    assert names.count("Rescaling") == 6  # * 100, -out, / 3, + 0.5, 1 - (...), - 2
    model.compile(optimizer="adam", loss="mse")
    model.save(tmp_path / "m.keras")
    kmodel = keras.models.load_model(tmp_path / "m.keras")
    x, _ = random_data((6, 4))
    assert_close(model.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL, "predictions")
