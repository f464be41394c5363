"""Optimizers with ``use_ema=True`` and the SwapEMAWeights callback against Keras 3.15.1: the same
model, weights and ordered batches in both frameworks; the weights ``fit`` leaves (the moving
averages, through finalize_variable_values) and the moving averages themselves to
TRAJECTORY_RTOL, with ``ema_overwrite_frequency``; validation logs run on the averages with
SwapEMAWeights (with and without ``swap_on_epoch``) to the same tolerance; the optimizer's state in
.keras files both ways (the averages first, as Keras builds them), so the next step agrees."""

import keras
import numpy as np
import pytest

import scratchnet as sn
import tfnet
from parity_tests.driver import TRAJECTORY_RTOL, assert_close, make_twins

O = sn.optimizers


def _data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(48, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1).astype(np.int64)
    return x, y


def _twins(optimizer):
    model = sn.Sequential([sn.layers.Input((4,)), sn.layers.Dense(8, activation="relu"),
                           sn.layers.Dense(3, activation="softmax")], seed=1)
    return make_twins(model, loss="sparse_categorical_crossentropy", optimizer=optimizer)


def _keras_averages(kmodel):
    return [np.asarray(v) for v in kmodel.optimizer._model_variables_moving_average]


OPTIMIZERS = {
    "sgd_momentum": lambda: O.SGD(0.2, momentum=0.9, use_ema=True),
    "adam": lambda: O.Adam(0.01, use_ema=True, ema_momentum=0.9),
    "adam_overwrite_every_4": lambda: O.Adam(0.01, use_ema=True, ema_momentum=0.8,
                                             ema_overwrite_frequency=4),
    "rmsprop_momentum_1": lambda: O.RMSprop(0.01, use_ema=True, ema_momentum=1.0),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_fit_leaves_the_moving_averages_keras_leaves(name):
    x, y = _data()
    pair = _twins(OPTIMIZERS[name]())
    kwargs = dict(epochs=3, batch_size=8, shuffle=False, verbose=0)
    h_s = pair.scratch.fit(x, y, **kwargs).history
    h_k = pair.keras.fit(x, y, **kwargs).history
    np.testing.assert_allclose(h_s["loss"], h_k["loss"], rtol=TRAJECTORY_RTOL)
    for w_s, w_k in zip(pair.scratch.get_weights(), pair.keras.get_weights(), strict=True):
        assert_close(w_s, w_k, TRAJECTORY_RTOL, "weights after fit")
    averages = [pair.scratch.optimizer.state[f"{p.name}/average"] for p in pair.scratch.params]
    for a_s, a_k in zip(averages, _keras_averages(pair.keras), strict=True):
        assert_close(a_s, a_k, TRAJECTORY_RTOL, "moving average")
    for a_s, w_s in zip(averages, pair.scratch.get_weights(), strict=True):
        np.testing.assert_array_equal(a_s, w_s)  # the model holds the averages now


@pytest.mark.parametrize("swap_on_epoch", [False, True])
def test_swap_ema_weights_validates_on_the_averages_as_keras(swap_on_epoch):
    x, y = _data(1)
    pair = _twins(O.Adam(0.02, use_ema=True, ema_momentum=0.7))
    kwargs = dict(epochs=4, batch_size=8, shuffle=False, verbose=0, validation_data=(x[:16], y[:16]))
    h_s = pair.scratch.fit(x, y, callbacks=[sn.callbacks.SwapEMAWeights(swap_on_epoch)], **kwargs)
    h_k = pair.keras.fit(x, y, callbacks=[keras.callbacks.SwapEMAWeights(swap_on_epoch)], **kwargs)
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(h_s.history[key], h_k.history[key], rtol=TRAJECTORY_RTOL)
    for w_s, w_k in zip(pair.scratch.get_weights(), pair.keras.get_weights(), strict=True):
        assert_close(w_s, w_k, TRAJECTORY_RTOL, "weights after fit")
    # the validation really ran on the averages: it differs from the raw weights' loss
    raw = _twins(O.Adam(0.02, use_ema=True, ema_momentum=0.7)).scratch.fit(x, y, **kwargs)
    assert not np.allclose(raw.history["val_loss"], h_s.history["val_loss"], rtol=1e-3)


def test_swap_ema_weights_needs_use_ema_in_both():
    x, y = _data()
    pair = _twins(O.Adam(0.01))
    with pytest.raises(ValueError, match="use_ema=True"):
        pair.scratch.fit(x, y, epochs=1, verbose=0, validation_data=(x, y),
                         callbacks=[sn.callbacks.SwapEMAWeights()])
    with pytest.raises(ValueError, match="use_ema=True"):
        pair.keras.fit(x, y, epochs=1, verbose=0, validation_data=(x, y),
                       callbacks=[keras.callbacks.SwapEMAWeights()])


def test_config_maps_both_ways():
    opt = O.Adam(0.01, use_ema=True, ema_momentum=0.95, ema_overwrite_frequency=3)
    model = sn.Sequential([sn.layers.Input((3,)), sn.layers.Dense(2)], seed=0)
    model.compile(optimizer=opt, loss="mse")
    kopt = tfnet.to_keras(model).optimizer
    assert (kopt.use_ema, kopt.ema_momentum, kopt.ema_overwrite_frequency) == (True, 0.95, 3)
    back = tfnet.convert.optimizer_from_keras(kopt)
    config = back.get_config()
    assert np.float32(config.pop("learning_rate")) == np.float32(0.01)  # Keras keeps a float32
    assert config == {k: v for k, v in opt.get_config().items() if k != "learning_rate"}


@pytest.mark.parametrize("make", [lambda: O.Adam(0.01, use_ema=True, ema_momentum=0.9),
                                  lambda: O.SGD(0.1, momentum=0.5, use_ema=True)],
                         ids=["adam", "sgd_momentum"])
def test_keras_files_carry_the_averages_both_ways(make, tmp_path):
    x, y = _data(2)
    pair = _twins(make())
    pair.scratch.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    pair.scratch.save(tmp_path / "m.keras")
    kmodel = keras.models.load_model(tmp_path / "m.keras")
    for a_s, a_k in zip([pair.scratch.optimizer.state[f"{p.name}/average"] for p in pair.scratch.params],
                        _keras_averages(kmodel), strict=True):
        np.testing.assert_array_equal(a_s, a_k)
    pair.keras.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    pair.keras.save(tmp_path / "k.keras")
    loaded = sn.load_model(tmp_path / "k.keras")
    assert loaded.optimizer.use_ema and loaded.optimizer.iterations == 12
    for a_s, a_k in zip([loaded.optimizer.state[f"{p.name}/average"] for p in loaded.params],
                        _keras_averages(pair.keras), strict=True):
        np.testing.assert_array_equal(a_s, a_k)
    loaded.train_step(x[:8], y[:8])
    pair.keras.train_on_batch(x[:8], y[:8])
    for w_s, w_k in zip(loaded.get_weights(), pair.keras.get_weights(), strict=True):
        assert_close(w_s, w_k, TRAJECTORY_RTOL, "the step after loading")
