"""Sequential as a user drives it: compile, fit, evaluate, predict, weights, saving, settings."""

import re

import numpy as np
import pytest

import scratchnet as sn

L = sn.layers


def _model(seed=0, dropout=0.0):
    model = sn.Sequential([
        L.Input((6, 6, 1)),
        L.Conv2D(4, 3, activation="relu"),
        L.MaxPooling2D(2),
        L.Flatten(),
        L.Dropout(dropout),
        L.Dense(8, activation="relu"),
        L.Dense(3),
    ], seed=seed)
    model.compile(optimizer=sn.optimizers.Adam(0.01),
                  loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


@pytest.fixture
def data(rng):
    x = rng.random((37, 6, 6, 1)).astype(np.float32)
    y = rng.integers(0, 3, size=37)
    return x, y


def test_fit_returns_one_history_value_per_epoch(data):
    x, y = data
    h = _model().fit(x, y, epochs=3, batch_size=8, validation_data=(x[:10], y[:10]), verbose=0)
    assert set(h.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 3 for v in h.history.values())
    assert h.history["loss"][-1] < h.history["loss"][0]


def test_evaluate_returns_loss_and_accuracy_like_keras(data):
    x, y = data
    model = _model()
    loss, acc = model.evaluate(x, y, verbose=0)
    logits = model.predict(x)
    expected = sn.losses.SparseCategoricalCrossentropy(from_logits=True)(y, logits)
    assert loss == pytest.approx(expected, rel=1e-5)
    assert acc == pytest.approx(np.mean(np.argmax(logits, -1) == y))


def test_predict_any_batch_size_and_one_sample(data):
    x, _ = data
    model = _model()
    full = model.predict(x, batch_size=37)
    # BLAS blocks a batch of 5 differently from one of 37: float32 rounding, ~1e-7 relative
    np.testing.assert_allclose(model.predict(x, batch_size=5), full, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(model.predict(x[:1]), full[:1], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(model(x[:3]), full[:3], rtol=1e-5, atol=1e-7)


def test_same_seed_gives_bit_identical_training(data):
    x, y = data
    runs = []
    for _ in range(2):
        model = _model(seed=7, dropout=0.3)
        model.fit(x, y, epochs=2, batch_size=8, shuffle=True, verbose=0)
        runs.append(model.get_weights())
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a, b)
    other = _model(seed=8)
    assert not np.array_equal(other.get_weights()[0], runs[0][0])


def test_train_step_is_one_update_and_loss_and_grads_is_none(data):
    x, y = data
    model = _model()
    before = model.get_weights()
    _, grads = model.loss_and_grads(x[:8], y[:8])
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    logs = model.train_step(x[:8], y[:8])
    assert set(logs) == {"loss", "accuracy"} and model.optimizer.iterations == 1
    assert [g.shape for g in grads] == [w.shape for w in before]
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))


def test_summary_counts_match_keras_formula():
    model = _model()
    text = model.summary(print_fn=None)
    # conv: 3*3*1*4 + 4 = 40; dense: 16*8 + 8 = 136; dense_1: 8*3 + 3 = 27
    assert model.count_params() == 40 + 136 + 27
    assert "Total params: 203" in text


def test_get_and_set_weights_round_trip():
    a, b = _model(seed=1), _model(seed=2)
    b.set_weights(a.get_weights())
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert [w.shape for w in a.get_weights()] == [(3, 3, 1, 4), (4,), (16, 8), (8,), (8, 3), (3,)]


def test_save_and_load_predicts_and_trains_identically(tmp_path, data):
    x, y = data
    model = _model(seed=3)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    path = tmp_path / "m.npz"
    model.save(path)
    loaded = sn.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.optimizer.iterations == model.optimizer.iterations
    model.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    loaded.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_float64_mode_builds_float64_weights(data):
    sn.config.set_floatx("float64")
    x, y = data
    model = _model()
    assert all(w.dtype == np.float64 for w in model.get_weights())
    assert model.predict(x).dtype == np.float64


def test_a_built_model_keeps_its_float_type_when_floatx_changes(data):
    # Keras fixes a layer's dtype when it is made: set_floatx afterwards changes new models only
    x, y = data
    model = _model()
    sn.config.set_floatx("float64")
    model.fit(x, y, epochs=1, verbose=0)
    assert all(w.dtype == np.float32 for w in model.get_weights())
    assert model.predict(x).dtype == np.float32 and model.compute_dtype == "float32"
    model.set_weights([w.astype(np.float64) for w in model.get_weights()])  # cast to the model's type
    assert all(w.dtype == np.float32 for w in model.get_weights())
    assert _model().compute_dtype == "float64"  # a model built now uses the new floatx


def test_backend_switch():
    sn.set_backend("numpy")
    assert sn.get_backend() == "numpy"


def test_model_without_input_builds_on_first_data(data):
    x, y = data
    model = sn.Sequential([L.Flatten(), L.Dense(3)], seed=0)
    model.compile(optimizer="sgd", loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(x, y, epochs=1, verbose=0)
    assert model.input_shape == (None, 6, 6, 1) and model.count_params() == 36 * 3 + 3


def test_unique_layer_names_and_parameter_names():
    model = _model()
    names = [layer.name for layer in model.layers]
    assert len(set(names)) == len(names)
    assert [p.name for p in model.params][:2] == ["conv2d/kernel", "conv2d/bias"]


def test_progress_bar_verbose_1_prints(capsys, data):
    x, y = data
    _model().fit(x, y, epochs=1, batch_size=8, verbose=1)
    out = capsys.readouterr()
    assert "Epoch 1/1" in out.out + out.err


@pytest.mark.slow
def test_digits_convnet_reaches_96_percent_within_10_epochs():
    x, y = sn.datasets.load_digits("train")
    xt, yt = sn.datasets.load_digits("test")
    model = sn.models.digits_cnn(seed=0)
    model.compile(optimizer=sn.optimizers.Adam(3e-3),
                  loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(x, y, epochs=10, batch_size=32, verbose=0)
    _, acc = model.evaluate(xt, yt, verbose=0)
    assert acc >= 0.96


def test_digits_split_is_fixed_stratified_and_disjoint():
    x, y = sn.datasets.load_digits("train")
    xt, yt = sn.datasets.load_digits("test")
    assert x.shape[1:] == (8, 8, 1) and x.dtype == np.float32
    assert len(x) + len(xt) == 1797 and 0 <= x.min() and x.max() <= 1
    assert set(np.unique(yt)) == set(range(10))
    train_rows = {r.tobytes() for r in x}
    # sklearn's digits contain a few exact duplicate images; the split never reuses an index
    assert sum(r.tobytes() in train_rows for r in xt) < 5
    np.testing.assert_array_equal(sn.datasets.load_digits("test")[1], yt)


def test_compile_takes_keras_argument_order():
    """Keras' compile(optimizer, loss, loss_weights, metrics, ...): a metrics list passed third
    is a loss weight there, so a one-output model refuses it instead of misreading it."""
    model = sn.Sequential([sn.layers.Input((2,)), sn.layers.Dense(1)], seed=0)
    with pytest.raises(ValueError, match=r"expected loss_weights=None \(or 1.0\), received \['mae'\]"):
        model.compile("sgd", "mse", ["mae"])
    model.compile("sgd", "mse", 1.0, ["mae"])
    assert [m.name for m in model.metrics] == ["mae"]


def test_predict_runs_a_large_batch_in_pieces_with_the_same_rows():
    """A batch whose largest activation would pass PREDICT_PIECE_BYTES runs in pieces; the rows
    are the same (float32 rounding of the smaller matrix products aside)."""
    model = sn.Sequential([sn.layers.Input((6, 6, 2)), sn.layers.Conv2D(4, 3, activation="relu"),
                           sn.layers.Flatten(), sn.layers.Dense(3)], seed=0)
    x = np.random.default_rng(0).random((50, 6, 6, 2)).astype(np.float32)
    whole = model.predict(x, batch_size=50, verbose=0)
    model.PREDICT_PIECE_BYTES = 4 * 4 * 4 * 4 * 7  # Conv2D's (4, 4, 4) float32 output, 7 samples
    assert model._predict_piece_rows() == 7
    calls = []
    model.forward = lambda x, training=False, for_backward=True, _f=model.forward: \
        calls.append(len(x)) or _f(x, training, for_backward)
    pieces = model.predict(x, batch_size=50, verbose=0)
    assert calls == [7] * 7 + [1]
    np.testing.assert_allclose(pieces, whole, rtol=1e-6, atol=1e-7)


def test_metrics_names_pair_with_what_evaluate_returns():
    """Keras 2's meaning, which the tutorials' ``zip(model.metrics_names, results)`` relies on
    (Keras 3.15 lists ["loss", "compile_metrics"]: docs/parity-notes.md)."""
    model = sn.Sequential([sn.layers.Input((4,)), sn.layers.Dense(1, activation="sigmoid")], seed=0)
    assert model.metrics_names == []
    model.compile("sgd", "binary_crossentropy", metrics=["accuracy", sn.metrics.Precision(name="p")])
    assert model.metrics_names == ["loss", "accuracy", "p"]
    x = np.random.default_rng(0).uniform(size=(6, 4)).astype(np.float32)
    results = model.evaluate(x, (x[:, 0] > 0.5).astype(np.float32), verbose=0)
    assert len(results) == len(model.metrics_names) == 3
    unbuilt = sn.Sequential([sn.layers.Dense(2)])
    unbuilt.compile("sgd", "mse", metrics=["mae"])
    assert unbuilt.metrics_names == ["loss", "mae"]


def test_saving_into_a_missing_folder_names_the_path(tmp_path):
    model = sn.Sequential([sn.layers.Input((4,)), sn.layers.Dense(1)], seed=0)
    for path in (tmp_path / "nope" / "m.npz", tmp_path / "nope" / "m.keras",
                 tmp_path / "nope" / "cp-0000.weights.h5"):
        save = model.save_weights if path.name.endswith(".weights.h5") else model.save
        with pytest.raises(FileNotFoundError, match=rf"cannot write '{re.escape(str(path))}': the "
                                                    r"folder '.*nope' does not exist"):
            save(path)
    assert not (tmp_path / "nope").exists()
