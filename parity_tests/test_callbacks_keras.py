"""Callbacks against Keras': the same epoch logs fed by hand to scratchnet's callback (on a small
scratchnet model) and to Keras' (on its Keras twin), then every decision compared exactly:
the epochs run, ``stopped_epoch``, ``wait``, ``best``, the learning rates set, the files
written, the CSV text. Decisions are exact (no tolerance): both see identical inputs, and
scratchnet compares in float32 where Keras' ops do.

Histories come from a seeded generator and are rounded to a coarse grid so they hold ties,
plateaus and steps of exactly ``min_delta``; a few are built by hand around float32 ties.
Before each epoch end the weights of both models are set to the epoch number, so restored
weights say which epoch they come from.

One end-to-end ``fit`` per side with EarlyStopping closes the file.
"""

import math
import os

import keras
import numpy as np
import pytest

import scratchnet as sn
from parity_tests.driver import make_twins

C = sn.callbacks
EPOCHS = 14
SEEDS = range(8)


def twins(metrics=None, lr=0.1):
    model = sn.Sequential([sn.layers.Input((4,)), sn.layers.Dense(5, activation="relu"),
                           sn.layers.Dense(3, activation="softmax")], seed=0)
    pair = make_twins(model, loss="sparse_categorical_crossentropy",
                      optimizer=sn.optimizers.SGD(lr), metrics=metrics or [])
    if metrics:  # Keras builds its compiled metrics (whose directions "auto" reads) on first use
        x = np.zeros((2, 4), np.float32)
        pair.keras.evaluate(x, np.zeros(2, np.int64), verbose=0)
    return pair.scratch, pair.keras


def history(seed, key="val_loss", grid=0.05):
    """A noisy descent to a plateau, on a grid (ties), with a few spikes."""
    rng = np.random.default_rng(seed)
    values = 1.0 - np.minimum(np.arange(EPOCHS), rng.integers(3, EPOCHS)) * 0.05 \
        + rng.choice([0.0, 0.0, 0.05, -0.05, 0.2], EPOCHS)
    values = np.round(values / grid) * grid
    return [{"loss": 1.0, "accuracy": 0.5, key: float(v)} for v in values]


def run(callback, model, logs_per_epoch, trace=None):
    """Drive ``callback`` as Keras' fit does (its callback list passes ``{}`` to the begin hooks
    and the last epoch's logs to on_train_end); ``trace(callback, model)`` is recorded after
    each epoch."""
    callback.set_model(model)
    callback.set_params({"epochs": len(logs_per_epoch), "steps": 1, "verbose": 0})
    model.stop_training = False
    callback.on_train_begin({})
    ran, traced, seen_logs = [], [], []
    for epoch, logs in enumerate(logs_per_epoch):
        callback.on_epoch_begin(epoch, {})
        model.set_weights([np.full(w.shape, epoch, w.dtype) for w in model.get_weights()])
        logs = dict(logs)
        callback.on_epoch_end(epoch, logs)
        ran.append(epoch)
        seen_logs.append(logs)
        if trace is not None:
            traced.append(trace(callback, model))
        if model.stop_training:
            break
    callback.on_train_end(seen_logs[-1] if seen_logs else {})
    final = float(model.get_weights()[0].flat[0])
    return ran, traced, seen_logs, final


def both(make, logs_per_epoch, trace=None, metrics=None):
    scratch_model, keras_model = twins(metrics)
    s = run(make(C), scratch_model, logs_per_epoch, trace)
    k = run(make(keras.callbacks), keras_model, logs_per_epoch, trace)
    return s, k


def es_state(cb, model):
    return cb.wait, cb.best, cb.stopped_epoch, cb.best_epoch, bool(model.stop_training)


EARLY_STOPPING = [
    {},
    {"patience": 2},
    {"patience": 1, "min_delta": 0.05},
    {"patience": 1, "min_delta": -0.1},
    {"patience": 2, "baseline": 0.8},
    {"patience": 1, "start_from_epoch": 4},
    {"patience": 2, "restore_best_weights": True},
    {"patience": 20, "restore_best_weights": True},
    {"patience": 3, "baseline": 0.7, "restore_best_weights": True, "start_from_epoch": 2,
     "min_delta": 0.02},
    {"monitor": "val_accuracy", "mode": "max", "patience": 1},
    {"monitor": "val_accuracy", "patience": 2},
    {"monitor": "val_accuracy", "mode": "min", "patience": 1, "restore_best_weights": True},
]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kwargs", EARLY_STOPPING, ids=str)
def test_early_stopping_decides_as_keras(kwargs, seed):
    key = kwargs.get("monitor", "val_loss")
    logs = history(seed, key)
    s, k = both(lambda mod: mod.EarlyStopping(**kwargs), logs, es_state,
                metrics=["accuracy"] if key == "val_accuracy" else None)
    assert s[0] == k[0], "epochs run"
    assert s[1] == k[1], "(wait, best, stopped_epoch, best_epoch, stop_training) per epoch"
    assert s[3] == k[3], "the weights left at the end (restored or last)"


@pytest.mark.parametrize("values", [
    [1.0, 1.0 - 1e-9, 1.0 - 2e-9],  # equal in float32: no improvement
    [1.0, 1.0 - 1e-7, 0.9],  # one float32 ulp below
    [0.3, 0.3 - 0.1 + 0.1, 0.2],  # 0.30000000000000004 vs 0.3
])
def test_early_stopping_float32_ties_as_keras(values):
    logs = [{"val_loss": v} for v in values]
    s, k = both(lambda mod: mod.EarlyStopping(patience=0), logs, es_state)
    assert s[0] == k[0] and s[1] == k[1]


def test_missing_monitor_warns_and_runs_on_as_keras():
    logs = [{"loss": 1.0}] * 3
    with pytest.warns(UserWarning, match="`val_loss` which is not available. Available metrics "
                                         "are: loss"):
        s, k = both(lambda mod: mod.EarlyStopping(), logs, es_state)
    assert s[0] == k[0] == [0, 1, 2] and s[1] == k[1]


def test_unknown_direction_is_an_error_in_both():
    logs = [{"val_foo": 1.0}]
    for mod in (C, keras.callbacks):
        model = twins()[0 if mod is C else 1]
        with pytest.raises(ValueError, match="received monitor=val_foo"):
            run(mod.EarlyStopping(monitor="val_foo"), model, logs)


def lr_state(cb, model):
    rate = C.current_learning_rate(model.optimizer) if isinstance(model, sn.Sequential) \
        else float(model.optimizer.learning_rate)
    return rate, cb.wait, cb.cooldown_counter, cb.best


REDUCE_LR = [
    {"factor": 0.5, "patience": 2},
    {"factor": 0.1, "patience": 1, "cooldown": 2, "min_lr": 0.005},
    {"factor": 0.3, "patience": 0, "min_delta": 0.05},
    {"factor": 0.2, "patience": 3, "cooldown": 1, "min_lr": 1e-3, "min_delta": 0.0},
    {"monitor": "val_accuracy", "mode": "max", "factor": 0.5, "patience": 1, "cooldown": 1},
    {"monitor": "val_accuracy", "factor": 0.7, "patience": 1, "min_lr": 0.03},
]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kwargs", REDUCE_LR, ids=str)
def test_reduce_lr_on_plateau_sets_the_rates_keras_sets(kwargs, seed):
    key = kwargs.get("monitor", "val_loss")
    s, k = both(lambda mod: mod.ReduceLROnPlateau(**kwargs), history(seed, key), lr_state,
                metrics=["accuracy"] if key == "val_accuracy" else None)
    assert s[1] == k[1], "(learning rate, wait, cooldown_counter, best) after each epoch"
    assert [log["learning_rate"] for log in s[2]] == [log["learning_rate"] for log in k[2]]


SCHEDULES = {
    "halve": lambda epoch, lr: lr * 0.5,
    "epoch only": lambda epoch: 0.1 / (epoch + 1),
    "exp after 3": lambda epoch, lr: lr if epoch < 3 else lr * math.exp(-0.1),
    "float32": lambda epoch, lr: np.float32(lr * 0.9),
}


@pytest.mark.parametrize("name", SCHEDULES)
def test_learning_rate_scheduler_as_keras(name):
    seen = {"scratch": [], "keras": []}

    def trace(cb, model):
        return C.current_learning_rate(model.optimizer) if isinstance(model, sn.Sequential) \
            else float(model.optimizer.learning_rate)

    s, k = both(lambda mod: mod.LearningRateScheduler(SCHEDULES[name]), [{"loss": 1.0}] * 8,
                trace)
    seen["scratch"], seen["keras"] = s[1], k[1]
    assert seen["scratch"] == seen["keras"]
    assert [log["learning_rate"] for log in s[2]] == [log["learning_rate"] for log in k[2]]


def test_learning_rate_scheduler_refuses_an_int_as_keras():
    for mod in (C, keras.callbacks):
        model = twins()[0 if mod is C else 1]
        with pytest.raises(ValueError, match="should be a float. Got: 3"):
            run(mod.LearningRateScheduler(lambda epoch, lr: 3), model, [{"loss": 1.0}])


CHECKPOINT = [
    ("{epoch:02d}-{val_loss:.2f}", {}),
    ("best", {"save_best_only": True}),
    ("{epoch}", {"save_best_only": True}),
    ("{epoch}-{val_loss:.3f}", {"save_best_only": True, "initial_value_threshold": 0.8}),
    ("{epoch}", {"save_best_only": True, "monitor": "val_accuracy", "mode": "max"}),
    ("{epoch}", {"save_best_only": True, "monitor": "loss"}),
    ("w{epoch}", {"save_best_only": True, "save_weights_only": True}),
]


def saved_epoch(path, model):
    """The epoch mark of the weights saved at ``path`` (a model file, or weights into ``model``)."""
    if str(path).endswith(".weights.h5"):
        model.load_weights(path)
    elif isinstance(model, sn.Sequential):
        model = sn.load_model(path)
    else:
        model = keras.models.load_model(path)
    return float(model.get_weights()[0].flat[0])


@pytest.mark.parametrize("seed", SEEDS[:4])
@pytest.mark.parametrize("pattern, kwargs", CHECKPOINT, ids=str)
def test_model_checkpoint_writes_the_files_keras_writes(tmp_path, pattern, kwargs, seed):
    """The same file names, each holding the weights of the same epoch."""
    key = kwargs.get("monitor", "val_loss")
    logs = history(seed, key)
    for i, log in enumerate(logs):
        log["loss"] = logs[(i * 5) % len(logs)][key]
    ext = ".weights.h5" if kwargs.get("save_weights_only") else ".keras"
    scratch_model, keras_model = twins()
    run(C.ModelCheckpoint(str(tmp_path / "s" / f"{pattern}{ext}"), **kwargs), scratch_model, logs)
    run(keras.callbacks.ModelCheckpoint(str(tmp_path / "k" / f"{pattern}{ext}"), **kwargs),
        keras_model, logs)
    names = sorted(os.listdir(tmp_path / "s"))
    assert names == sorted(os.listdir(tmp_path / "k"))
    for name in names:
        assert saved_epoch(tmp_path / "s" / name, scratch_model) == \
            saved_epoch(tmp_path / "k" / name, keras_model)


CSV_LOGS = [
    [{"loss": 0.5, "accuracy": 0.25}, {"loss": 0.125, "accuracy": 1 / 3}],
    [{"val_loss": 0.5, "loss": 1.0, "arr": np.array([1.5, 2.0])}, {"loss": 0.1}],
    [{"b": 1.0, "a": 2.0, "val_b": 3.0}, {"b": 1e-8, "a": float("inf"), "val_b": float("nan")}],
]


@pytest.mark.parametrize("logs", CSV_LOGS, ids=["train only", "val and array", "unsorted"])
@pytest.mark.parametrize("separator", [",", ";"])
def test_csv_logger_writes_keras_text(tmp_path, logs, separator):
    scratch_model, keras_model = twins()
    run(C.CSVLogger(tmp_path / "s.csv", separator=separator), scratch_model, logs)
    run(keras.callbacks.CSVLogger(tmp_path / "k.csv", separator=separator), keras_model, logs)
    assert (tmp_path / "s.csv").read_bytes() == (tmp_path / "k.csv").read_bytes()
    run(C.CSVLogger(tmp_path / "s.csv", separator=separator, append=True), scratch_model, logs)
    run(keras.callbacks.CSVLogger(tmp_path / "k.csv", separator=separator, append=True),
        keras_model, logs)
    assert (tmp_path / "s.csv").read_bytes() == (tmp_path / "k.csv").read_bytes()


def test_lambda_callback_calls_as_keras():
    calls = {"s": [], "k": []}

    def make(mod):
        who = "s" if mod is C else "k"
        return mod.LambdaCallback(on_train_begin=lambda logs: calls[who].append(("begin", logs)),
                                  on_epoch_end=lambda e, logs: calls[who].append((e, logs)))
    both(make, [{"loss": 1.0}, {"loss": 0.5}])
    assert calls["s"] == calls["k"]


def test_backup_metadata_and_resume_epoch_as_keras(tmp_path):
    scratch_model, keras_model = twins()
    for name, mod, model in (("s", C, scratch_model), ("k", keras.callbacks, keras_model)):
        cb = mod.BackupAndRestore(str(tmp_path / name), delete_checkpoint=False)
        run(cb, model, [{"loss": 1.0}] * 3)
        model._initial_epoch = None
        fresh = mod.BackupAndRestore(str(tmp_path / name))
        fresh.set_model(model)
        fresh.on_train_begin()
        assert model._initial_epoch == 3
    import json
    meta_s = json.loads((tmp_path / "s" / "training_metadata.json").read_text())
    meta_k = json.loads((tmp_path / "k" / "training_metadata.json").read_text())
    assert {key: meta_s[key] for key in meta_k} == meta_k


def test_fit_with_early_stopping_stops_where_keras_stops(rng):
    """Both frameworks train from the same weights on the same ordered batches and stop on the
    same epoch (14 here), restoring the same best epoch. The case was chosen so that no epoch's
    decision is close: every ``val_loss + min_delta - best`` is at least 2e-3 of the loss scale,
    twenty times the trajectory tolerance, so float32 rounding cannot flip it."""
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1).astype(np.int64)
    scratch_model = sn.Sequential([sn.layers.Input((4,)), sn.layers.Dense(8, activation="relu"),
                                   sn.layers.Dense(3, activation="softmax")], seed=1)
    pair = make_twins(scratch_model, loss="sparse_categorical_crossentropy",
                      optimizer=sn.optimizers.SGD(0.5), metrics=["accuracy"])
    kwargs = dict(epochs=60, batch_size=16, shuffle=False, verbose=0,
                  validation_data=(x[:32], y[:32]))
    es_s = C.EarlyStopping(monitor="val_loss", patience=2, min_delta=0.02,
                           restore_best_weights=True)
    es_k = keras.callbacks.EarlyStopping(monitor="val_loss", patience=2, min_delta=0.02,
                                         restore_best_weights=True)
    h_s = pair.scratch.fit(x, y, callbacks=[es_s], **kwargs).history
    h_k = pair.keras.fit(x, y, callbacks=[es_k], **kwargs).history
    assert 0 < es_k.stopped_epoch < 59, "the case must stop early to test anything"
    assert es_s.stopped_epoch == es_k.stopped_epoch and es_s.best_epoch == es_k.best_epoch
    assert len(h_s["loss"]) == len(h_k["loss"])
    np.testing.assert_allclose(h_s["val_loss"], h_k["val_loss"], rtol=1e-4)
    for w_s, w_k in zip(pair.scratch.get_weights(), pair.keras.get_weights(), strict=True):
        np.testing.assert_allclose(w_s, w_k, rtol=1e-4, atol=1e-4 * float(np.max(np.abs(w_k))))


VERBOSE = {
    "EarlyStopping": lambda mod: mod.EarlyStopping(patience=1, verbose=1,
                                                   restore_best_weights=True),
    "ReduceLROnPlateau": lambda mod: mod.ReduceLROnPlateau(patience=1, factor=0.5, verbose=1),
    "LearningRateScheduler": lambda mod: mod.LearningRateScheduler(lambda e, lr: lr * 0.5,
                                                                   verbose=1),
    "ModelCheckpoint": lambda mod: mod.ModelCheckpoint("m-{epoch}.keras", save_best_only=True,
                                                       verbose=1),
}


@pytest.mark.parametrize("name", VERBOSE)
def test_verbose_messages_are_keras_messages(name, tmp_path, monkeypatch, capsys):
    printed = {}
    for side, mod in (("s", C), ("k", keras.callbacks)):
        (tmp_path / side).mkdir()
        monkeypatch.chdir(tmp_path / side)  # the same relative checkpoint path on both sides
        model = twins()[0 if side == "s" else 1]
        capsys.readouterr()
        run(VERBOSE[name](mod), model, history(3))
        printed[side] = capsys.readouterr().out
    assert printed["s"] == printed["k"] and printed["k"]


def recorder(module):
    """A callback of ``module`` that records every hook it receives, with its logs."""

    class Recorder(module.Callback):
        def __init__(self):
            super().__init__()
            self.calls = []

    hooks = ["on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
             "on_train_batch_begin", "on_train_batch_end", "on_test_begin", "on_test_end",
             "on_test_batch_begin", "on_test_batch_end", "on_predict_begin", "on_predict_end",
             "on_predict_batch_begin", "on_predict_batch_end"]
    for hook in hooks:
        def record(self, *args, _hook=hook, **kwargs):
            logs = kwargs.get("logs", args[-1] if args else None)
            step = args[0] if len(args) == 2 or (args and "logs" in kwargs) else None
            self.calls.append((_hook, step, {k: v for k, v in (logs or {}).items() if k != "outputs"}))
        setattr(Recorder, hook, record)
    return Recorder()


def test_callback_list_by_hand_as_keras():
    """A training loop written by hand around ``CallbackList`` (Keras' guide "Writing a training
    loop from scratch"): the same hooks reach the callbacks with the same logs (keys sorted,
    nested dicts flattened, NumPy scalars made Python floats), History is added and becomes
    ``model.history``, params reach every callback."""
    seen = {}
    for side, mod in (("s", C), ("k", keras.callbacks)):
        model = twins()[0 if side == "s" else 1]
        rec = recorder(mod)
        callbacks = mod.CallbackList([rec], add_history=True, model=model, epochs=2, steps=3,
                                     verbose=0)
        callbacks.on_train_begin()
        for epoch in range(2):
            callbacks.on_epoch_begin(epoch)
            for step in range(3):
                callbacks.on_train_batch_begin(step)
                callbacks.on_train_batch_end(step, {"loss": np.float32(1.5 - step),
                                                    "metrics": {"mae": np.float64(0.25)}})
            callbacks.on_epoch_end(epoch, {"val_loss": np.float32(0.5), "loss": 2.0})
        callbacks.on_train_end()
        assert model.history is callbacks.callbacks[-1]
        assert rec.params == {"epochs": 2, "steps": 3, "verbose": 0}
        seen[side] = (rec.calls, model.history.history, model.history.epoch,
                      [type(c).__name__ for c in callbacks.callbacks])
    assert seen["s"] == seen["k"]
    for _, _, logs in seen["s"][0]:
        assert all(type(v) is float for v in logs.values())
        assert list(logs) == sorted(logs)


def test_callbacks_see_the_hooks_and_logs_keras_sends_in_fit(rng):
    """In ``fit`` (with validation), ``evaluate`` and ``predict`` a callback receives the same hooks
    in the same order as in Keras, with logs of the same keys in the same (sorted) order, and
    values equal within the trajectory tolerance."""
    x = rng.normal(size=(20, 4)).astype(np.float32)
    y = rng.integers(0, 3, size=20)
    scratch_model, keras_model = twins(metrics=["accuracy"])
    seen = {}
    for side, model in (("s", scratch_model), ("k", keras_model)):
        rec = recorder(C if side == "s" else keras.callbacks)
        model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, callbacks=[rec],
                  validation_data=(x[:10], y[:10]))
        model.evaluate(x, y, batch_size=16, verbose=0, callbacks=[rec])
        model.predict(x, batch_size=16, verbose=0, callbacks=[rec])
        seen[side] = rec.calls
    assert [(h, s, list(logs)) for h, s, logs in seen["s"]] == \
        [(h, s, list(logs)) for h, s, logs in seen["k"]]
    for (_, _, logs_s), (_, _, logs_k) in zip(seen["s"], seen["k"], strict=True):
        np.testing.assert_allclose(list(logs_s.values()), list(logs_k.values()), rtol=1e-4)


def test_callback_list_refuses_what_is_not_a_callback():
    with pytest.raises(TypeError, match=r"CallbackList: expected scratchnet.callbacks.Callback .*"
                                        r"received 'early' \(type str\)"):
        C.CallbackList([C.History(), "early"])


@pytest.fixture
def http_server():
    """A local HTTP server on a free port that records every POST (path, headers, body)."""
    import http.server
    import threading

    received = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers["Content-Type"], self.headers.get("X-Run"),
                             body))
            self.send_response(404 if self.path.startswith("/missing") else 200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("kwargs", [{}, {"send_as_json": True}, {"field": "payload", "path": "/p/"},
                                    {"path": "/missing/"}])
def test_remote_monitor_posts_what_keras_posts(http_server, kwargs):
    """The same epoch logs (NumPy scalars among them) posted by both callbacks reach the server
    as the same path, content type, custom header and body bytes; a 404 answer is no error."""
    root, received = http_server
    logs = {"loss": np.float32(0.25), "accuracy": 0.75, "val_loss": np.float64(0.5)}
    bodies = {}
    for side, mod in (("s", C), ("k", keras.callbacks)):
        received.clear()
        monitor = mod.RemoteMonitor(root=root, headers={"X-Run": "demo"}, **kwargs)
        monitor.on_epoch_end(3, dict(logs))
        monitor.on_epoch_end(4, dict(logs))
        assert len(received) == 2
        bodies[side] = list(received)
    assert bodies["s"] == bodies["k"]


def test_remote_monitor_warns_when_no_server_answers():
    import socket

    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for mod in (C, keras.callbacks):
        with pytest.warns(UserWarning, match=f"Could not reach RemoteMonitor root server at "
                                             f"http://127.0.0.1:{port}"):
            mod.RemoteMonitor(root=f"http://127.0.0.1:{port}").on_epoch_end(0, {"loss": 1.0})
