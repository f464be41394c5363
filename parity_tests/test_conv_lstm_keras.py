"""ConvLSTM1D, ConvLSTM2D and ConvLSTM3D against Keras 3.15 on twins with the same weights: outputs and
states, and for ``L = sum_k w_k * out_k`` the gradients with respect to the frames, the initial
states and every weight (tf.GradientTape), for padding valid/same, strides, dilation,
``return_sequences``, ``go_backwards``; Adam steps and ``fit``; ``.keras`` and ``.h5`` files both
ways (weights under ``cell/vars``, named ``conv_lstm2d/conv_lstm_cell/kernel``); ``tfnet`` both
ways; shapes, parameter counts and configs.

Tolerances (driver.py): FORWARD_RTOL, GRAD_RTOL, TRAJECTORY_RTOL.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import scratchnet as sn
import tfnet
from parity_tests.driver import (
    FORWARD_RTOL,
    GRAD_RTOL,
    TRAJECTORY_RTOL,
    assert_close,
    check_loss_and_grads,
    check_round_trip,
    check_trajectory,
    make_twins,
)

L = sn.layers
STEPS, BATCH = 4, 3
SHAPES = {1: (STEPS, 7, 2), 2: (STEPS, 6, 5, 2), 3: (STEPS, 5, 5, 5, 1)}
CASES = [dict(), dict(padding="same"), dict(padding="same", strides=2), dict(dilation_rate=2),
         dict(return_sequences=True, go_backwards=True), dict(padding="same", return_sequences=True,
                                                               use_bias=False, unit_forget_bias=False)]


def _twins(rank, seed, **kwargs):
    layer = getattr(L, f"ConvLSTM{rank}D")(3, 3, **kwargs)
    layer.ensure_built(SHAPES[rank], np.random.default_rng(seed))
    rng = np.random.default_rng(seed + 1)
    for p in layer.weights:
        p.value[...] = rng.standard_normal(p.value.shape).astype(np.float32) * 0.3
    klayer = tfnet.convert.layer_to_keras(layer)
    klayer.build((None, *SHAPES[rank]))
    klayer.set_weights(layer.get_weights())
    assert [w.path for w in klayer.weights] == [p.name for p in layer.weights]
    return layer, klayer


def _compare(layer, klayer, x, states, seed):
    outs = layer.forward(x, initial_state=states or None)
    outs = outs if isinstance(outs, list) else [outs]
    rng = np.random.default_rng(seed)
    ws = [rng.standard_normal(o.shape).astype(np.float32) for o in outs]
    grads = layer.backward(ws if len(ws) > 1 else ws[0])
    grads = grads if isinstance(grads, list) else [grads]
    xt, st = tf.constant(x), [tf.constant(s) for s in states]
    with tf.GradientTape() as tape:
        tape.watch([xt, *st])
        kouts = klayer(xt, initial_state=st) if states else klayer(xt)
        kouts = list(kouts) if isinstance(kouts, list | tuple) else [kouts]
        loss = tf.add_n([tf.reduce_sum(w * o) for w, o in zip(ws, kouts, strict=True)])
    kgrads = tape.gradient(loss, [xt, *st, *klayer.weights])
    for k, (o, ko) in enumerate(zip(outs, kouts, strict=True)):
        assert_close(o, ko.numpy(), FORWARD_RTOL, f"output {k}")
    assert len(grads) == 1 + len(states)
    for g, kg in zip(grads, kgrads, strict=False):
        assert_close(g, kg.numpy(), GRAD_RTOL, "gradient of the frames or a state")
    for p, kg in zip(layer.weights, kgrads[1 + len(states):], strict=True):
        assert np.abs(p.grad).max() > 0
        assert_close(p.grad, kg.numpy(), GRAD_RTOL, f"gradient of {p.name}")


@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("rank", [1, 2, 3])
def test_conv_lstm_matches_keras_forward_and_gradients(rank, case):
    layer, klayer = _twins(rank, 10 * case + rank, **CASES[case])
    x = np.random.default_rng(case).standard_normal((BATCH, *SHAPES[rank])).astype(np.float32)
    _compare(layer, klayer, x, [], 100 + case)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_conv_lstm_states_in_and_out_match_keras(rank):
    layer, klayer = _twins(rank, 20, padding="same", return_state=True, return_sequences=True)
    rng = np.random.default_rng(21)
    x = rng.standard_normal((BATCH, *SHAPES[rank])).astype(np.float32)
    states = [rng.standard_normal((BATCH, *shape)).astype(np.float32) for shape in layer.state_shapes]
    _compare(layer, klayer, x, states, 22)


def _model(seed=30):
    sn.utils.set_random_seed(seed)
    return sn.Sequential([L.Input(SHAPES[2]), L.ConvLSTM2D(3, 3, padding="same", return_sequences=True),
                          L.ConvLSTM2D(2, (2, 3), strides=(1, 2)), L.Flatten(), L.Dense(2)], seed=seed)


def test_adam_steps_and_fit_match_keras():
    twins = make_twins(_model(), loss="mse", optimizer=sn.optimizers.Adam(0.01))
    rng = np.random.default_rng(31)
    x = rng.standard_normal((8, *SHAPES[2])).astype(np.float32)
    y = rng.standard_normal((8, 2)).astype(np.float32)
    check_loss_and_grads(twins, x, y)
    check_trajectory(twins, [(x[:4], y[:4]), (x[4:], y[4:])], steps=4)
    history = twins.scratch.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0).history
    khistory = twins.keras.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0).history
    assert_close(np.array(history["loss"]), np.array(khistory["loss"]), GRAD_RTOL, "history loss")
    for w, kw in zip(twins.scratch.get_weights(), twins.keras.get_weights(), strict=True):
        assert_close(w, kw, TRAJECTORY_RTOL, "weights after fit")


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_files_both_ways(tmp_path, suffix):
    model = _model(32)
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(33).standard_normal((4, *SHAPES[2])).astype(np.float32)
    model.fit(x, np.ones((4, 2), np.float32), epochs=1, verbose=0)
    model.save(tmp_path / f"ours{suffix}")
    kmodel = keras.models.load_model(tmp_path / f"ours{suffix}")
    assert_close(kmodel.predict(x, verbose=0), model.predict(x, verbose=0), FORWARD_RTOL, "Keras reads ours")
    kmodel.save(tmp_path / f"theirs{suffix}")
    again = sn.load_model(tmp_path / f"theirs{suffix}", compile=suffix == ".keras")
    assert [type(a) for a in again.layers] == [type(b) for b in model.layers]
    for w, kw in zip(again.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_array_equal(w, kw)
    assert_close(again.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL, "we read Keras'")


def test_conversion_summary_and_config_match_keras():
    model = sn.Sequential([L.Input(SHAPES[1]), L.ConvLSTM1D(4, 2, padding="same", return_sequences=True,
                                                             recurrent_activation="hard_sigmoid"),
                           L.ConvLSTM1D(2, 3, dilation_rate=2), L.Flatten(), L.Dense(1)], seed=34)
    kmodel = check_round_trip(model)
    for layer, klayer in zip(model.layers, kmodel.layers, strict=True):
        assert layer.count_params() == klayer.count_params()
        assert (None, *layer.output_shape) == tuple(klayer.output.shape)
    ours, theirs = model.layers[0].get_config(), kmodel.layers[0].get_config()
    assert set(ours) <= set(theirs)
    for key in ("filters", "kernel_size", "strides", "padding", "dilation_rate", "return_sequences",
                "recurrent_activation", "unit_forget_bias", "dropout", "seed", "go_backwards"):
        assert ours[key] == theirs[key], key


def test_conv_lstm3d_fits_saves_and_converts_as_keras(tmp_path):
    model = sn.Sequential([L.Input(SHAPES[3]), L.ConvLSTM3D(2, 2, padding="same", return_sequences=True),
                           L.ConvLSTM3D(2, (2, 2, 1), strides=2), L.Flatten(), L.Dense(1)], seed=40)
    twins = make_twins(model, loss="mse", optimizer=sn.optimizers.Adam(0.01))
    rng = np.random.default_rng(41)
    x = rng.standard_normal((6, *SHAPES[3])).astype(np.float32)
    y = rng.standard_normal((6, 1)).astype(np.float32)
    check_loss_and_grads(twins, x, y)
    history = twins.scratch.fit(x, y, epochs=2, batch_size=3, shuffle=False, verbose=0).history
    khistory = twins.keras.fit(x, y, epochs=2, batch_size=3, shuffle=False, verbose=0).history
    assert_close(np.array(history["loss"]), np.array(khistory["loss"]), GRAD_RTOL, "history loss")
    for w, kw in zip(twins.scratch.get_weights(), twins.keras.get_weights(), strict=True):
        assert_close(w, kw, TRAJECTORY_RTOL, "weights after fit")
    for layer, klayer in zip(model.layers, twins.keras.layers, strict=True):
        assert layer.count_params() == klayer.count_params()
        assert (None, *layer.output_shape) == tuple(klayer.output.shape)
    ours, theirs = model.layers[1].get_config(), twins.keras.layers[1].get_config()
    for key in ("filters", "kernel_size", "strides", "padding", "dilation_rate", "return_sequences"):
        assert ours[key] == theirs[key], key
    assert [p.name for p in model.layers[0].weights][0] == "conv_lstm3d/conv_lstm_cell/kernel"
    model.save(tmp_path / "ours.keras")
    kmodel = keras.models.load_model(tmp_path / "ours.keras")
    assert_close(kmodel.predict(x, verbose=0), model.predict(x, verbose=0), FORWARD_RTOL, "Keras reads ours")
    twins.keras.save(tmp_path / "theirs.keras")
    again = sn.load_model(tmp_path / "theirs.keras")
    assert [type(a) for a in again.layers] == [type(b) for b in model.layers]
    assert_close(again.predict(x, verbose=0), twins.keras.predict(x, verbose=0), FORWARD_RTOL,
                 "we read Keras'")
    back = tfnet.from_keras(twins.keras)
    for w, kw in zip(back.get_weights(), twins.keras.get_weights(), strict=True):
        np.testing.assert_array_equal(w, kw)
