"""The GPU backend's plumbing, tested without a GPU.

The ``"cupy"`` backend keeps weights, optimizer state and activations in GPU memory and crosses
to the host only at the model's boundary. These tests swap in ``tests/fake_gpu.py``, a stand-in
array that refuses implicit conversion to NumPy exactly as ``cupy.ndarray`` does, and check that
training, evaluation, prediction, saving and backend switching then give *bitwise* the same numbers
as the NumPy backend (the stand-in computes with NumPy underneath, so any difference is a
plumbing bug, not rounding). The CuPy kernels themselves are checked on a GPU by
``benchmarks/gpu_check.py``.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

import scratchnet as sn
from scratchnet import kernels
from tests import fake_gpu


@pytest.fixture
def fake_gpu_backend(monkeypatch):
    fake_gpu.install(monkeypatch)


def _model(seed=0):
    # conv (same) -> pool -> conv (valid) -> pool (same, overlapping) -> flatten -> dropout ->
    # dense -> softmax: every layer kind, both paddings, and the logits path of the loss
    return sn.Sequential([
        sn.layers.Input((10, 10, 3)),
        sn.layers.Conv2D(4, 3, padding="same", activation="relu"),
        sn.layers.MaxPooling2D(2),
        sn.layers.Conv2D(6, 2, activation="relu"),
        sn.layers.MaxPooling2D(3, strides=2, padding="same"),
        sn.layers.Flatten(),
        sn.layers.Dropout(0.5),
        sn.layers.Dense(8, activation="relu"),
        sn.layers.Dense(3, activation="softmax"),
    ], seed=seed)


def _data(n=12, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 10, 10, 3), dtype=np.float32), rng.integers(0, 3, n)


def _compiled(seed=0):
    model = _model(seed)
    model.compile(optimizer=sn.optimizers.Adam(1e-2), metrics=["accuracy"],
                  loss=sn.losses.SparseCategoricalCrossentropy())
    return model


def test_cupy_backend_without_cupy_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # makes `import cupy` raise ImportError
    before = sn.get_backend()
    with pytest.raises(ValueError, match="backend 'cupy' needs CuPy"):
        sn.set_backend("cupy")
    assert sn.get_backend() == before


def test_helpers_leave_numpy_arrays_alone():
    a = np.arange(3.0)
    assert kernels.to_numpy(a) is a and kernels.to_backend(a) is a
    assert kernels.xp_of(a) is np and not kernels.is_device_array(a)


def test_loss_and_grads_on_the_device_equal_numpy(fake_gpu_backend):
    x, y = _data()
    model = _compiled()
    loss, grads = model.loss_and_grads(x, y)
    assert all(isinstance(p.value, fake_gpu.FakeGPUArray) for p in model.params)
    assert all(type(g) is np.ndarray for g in grads)

    sn.set_backend("numpy")
    reference = _compiled()
    ref_loss, ref_grads = reference.loss_and_grads(x, y)
    assert loss == ref_loss
    for g, r in zip(grads, ref_grads, strict=True):
        np.testing.assert_array_equal(g, r)


def test_training_keeps_weights_on_the_device_and_matches_numpy(fake_gpu_backend, tmp_path):
    x, y = _data()
    xv, yv = _data(6, seed=1)
    model = _compiled()
    model.train_step(x[:4], y[:4])
    values = [p.value for p in model.params]
    state = dict(model.optimizer.state)
    assert all(isinstance(v, fake_gpu.FakeGPUArray) for v in state.values())
    before = fake_gpu.uploads["count"]
    model.train_step(x[4:8], y[4:8])
    # the batch, its labels (for the loss value and for its gradient) and the dropout mask cross
    # to the device; the weights and the optimizer state never do: they are updated in place
    assert fake_gpu.uploads["count"] - before <= 4
    assert all(p.value is v for p, v in zip(model.params, values, strict=True))
    assert all(model.optimizer.state[k] is v for k, v in state.items())
    history = model.fit(x, y, batch_size=5, epochs=2, validation_data=(xv, yv), verbose=0)
    metrics = model.evaluate(xv, yv, verbose=0)
    predictions = model.predict(xv, batch_size=4)
    assert type(predictions) is np.ndarray and type(model(xv)) is np.ndarray
    weights = model.get_weights()
    assert all(type(w) is np.ndarray for w in weights)
    model.save(tmp_path / "m.npz")

    sn.set_backend("numpy")
    reference = _compiled()
    reference.train_step(x[:4], y[:4])
    reference.train_step(x[4:8], y[4:8])
    ref_history = reference.fit(x, y, batch_size=5, epochs=2, validation_data=(xv, yv), verbose=0)
    assert history.history == ref_history.history
    assert metrics == reference.evaluate(xv, yv, verbose=0)
    np.testing.assert_array_equal(predictions, reference.predict(xv, batch_size=4))
    for w, r in zip(weights, reference.get_weights(), strict=True):
        np.testing.assert_array_equal(w, r)

    loaded = sn.load_model(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.predict(xv), predictions)
    for key, value in loaded.optimizer.state.items():
        np.testing.assert_array_equal(value, reference.optimizer.state[key])


def test_switching_back_to_numpy_brings_weights_home(fake_gpu_backend):
    x, y = _data()
    model = _compiled()
    model.train_step(x, y)
    model.set_weights(model.get_weights())  # numpy in, onto the device
    assert all(isinstance(p.value, fake_gpu.FakeGPUArray) for p in model.params)
    on_device = model.predict(x)

    sn.set_backend("numpy")
    np.testing.assert_array_equal(model.predict(x), on_device)
    assert all(type(p.value) is np.ndarray for p in model.params)
    assert all(type(v) is np.ndarray for v in model.optimizer.state.values())
    model.train_step(x, y)  # and training goes on on the host


def test_a_layer_called_alone_runs_on_the_device(fake_gpu_backend):
    x, _ = _data(2)
    layer = sn.layers.Conv2D(5, 3, padding="same")
    out = layer(x)
    assert type(out) is np.ndarray and isinstance(layer.kernel.value, fake_gpu.FakeGPUArray)

    sn.set_backend("numpy")
    np.testing.assert_array_equal(out, layer(x))


def test_a_lambda_runs_its_numpy_function_on_the_host_and_matches_numpy(fake_gpu_backend):
    # sn.layers.Lambda: the function is NumPy code, so a device batch goes to the host and back
    def build():
        model = sn.Sequential([sn.layers.Input((4,)), sn.layers.Dense(3),
                               sn.layers.Lambda(lambda v: np.tanh(v) * 2.0 + v ** 2), sn.layers.Dense(1)],
                              seed=0)
        model.compile(optimizer="adam", loss="mse")
        return model
    rng = np.random.default_rng(0)
    x, y = rng.random((8, 4), dtype=np.float32), rng.random((8, 1), dtype=np.float32)
    device = build()
    device.fit(x, y, epochs=2, batch_size=4, verbose=0)
    assert isinstance(device.layers[0].kernel.value, fake_gpu.FakeGPUArray)
    sn.set_backend("numpy")
    host = build()
    host.fit(x, y, epochs=2, batch_size=4, verbose=0)
    for a, b in zip(device.get_weights(), host.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_recurrent_layers_say_they_have_no_gpu_kernels(fake_gpu_backend):
    model = sn.Sequential([sn.layers.Input((5, 2)), sn.layers.LSTM(3)], seed=0)
    with pytest.raises(ValueError, match=r'LSTM "lstm": recurrent layers run on the "numpy" and "numba" '
                                         r'backends; the "cupy" backend has no recurrent kernels yet'):
        model.predict(np.ones((2, 5, 2), np.float32), verbose=0)
