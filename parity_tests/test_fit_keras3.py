"""Keras 3.15's ``fit`` conventions, against Keras' own ``fit`` from the same weights.

The course's hello world (1-D ``xs``/``ys`` for ``Dense(1, input_shape=[1])``), sample and class
weights, validation data carrying sample weights, a Python generator with ``steps_per_epoch``,
``validation_steps`` and ``validation_freq``, a finite generator over several epochs, and a
``PyDataset``: histories (every key, every epoch) and final weights agree.

Tolerances (driver.py): per-epoch losses ``GRAD_RTOL`` and final weights ``TRAJECTORY_RTOL``,
as ``test_fit.py`` holds plain SGD; accuracies are ratios of (weighted) counts and agree to
``FORWARD_RTOL``. Everything runs with ``shuffle=False`` (Keras' permutation comes from TF's RNG).
"""

import itertools
import math
import warnings

import keras
import numpy as np
import pytest

import scratchnet as sn
from parity_tests.driver import FORWARD_RTOL, GRAD_RTOL, TRAJECTORY_RTOL, assert_close, make_twins

N, FEATURES, CLASSES = 50, 4, 3


def _data(seed=0, n=N):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, FEATURES)).astype(np.float32)
    y = rng.integers(0, CLASSES, n)
    return x, y


def _classifier_twins(weighted_metrics=None):
    """A small softmax classifier and its Keras twin; with ``weighted_metrics`` both are
    (re)compiled with them (``to_keras`` passes ``metrics`` only)."""
    model = sn.Sequential([sn.layers.Input((FEATURES,)), sn.layers.Dense(8, activation="relu"),
                           sn.layers.Dense(CLASSES, activation="softmax")], seed=3)
    twins = make_twins(model, loss="sparse_categorical_crossentropy",
                       optimizer=sn.optimizers.SGD(0.1), metrics=["accuracy"])
    if weighted_metrics:
        model.compile(optimizer=sn.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"], weighted_metrics=weighted_metrics)
        twins.keras.compile(optimizer=keras.optimizers.SGD(0.1),
                            loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                            weighted_metrics=weighted_metrics, jit_compile=False)
    return twins


def _assert_histories_agree(history_s, history_k, epochs_seen=None):
    assert sorted(history_s) == sorted(history_k), (sorted(history_s), sorted(history_k))
    for key, values_k in history_k.items():
        values_s = history_s[key]
        assert len(values_s) == len(values_k), (key, len(values_s), len(values_k))
        rtol = FORWARD_RTOL if "accuracy" in key else GRAD_RTOL
        assert_close(values_s, values_k, rtol, f"history[{key!r}] per epoch")


def _assert_weights_agree(twins):
    for param, wk in zip(twins.scratch.params, twins.keras.get_weights(), strict=True):
        assert_close(param.value, wk, TRAJECTORY_RTOL, f'"{param.name}" after the fit')


def test_hello_world_course_model_learns_y_equals_2x_minus_1_like_keras():
    xs = np.array([-1.0, 0.0, 1.0, 2.0, 3.0, 4.0], dtype=float)  # 1-D, as in the course
    ys = np.array([-3.0, -1.0, 1.0, 3.0, 5.0, 7.0], dtype=float)
    with pytest.warns(UserWarning, match="input_shape"):  # Keras warns the same way
        model = sn.Sequential([sn.layers.Dense(units=1, input_shape=[1])], seed=0)
    assert model.built and model.input_shape == (None, 1)
    model.compile(optimizer="sgd", loss="mean_squared_error")
    with pytest.warns(UserWarning, match="input_shape"):
        kmodel = keras.Sequential([keras.layers.Dense(units=1, input_shape=[1])])
    kmodel.compile(optimizer="sgd", loss="mean_squared_error", jit_compile=False)
    kmodel.set_weights(model.get_weights())

    history_s = model.fit(xs, ys, epochs=500, verbose=0, shuffle=False).history
    history_k = kmodel.fit(xs, ys, epochs=500, verbose=0, shuffle=False).history
    assert len(history_s["loss"]) == 500
    # Each epoch's loss relative to that epoch's Keras loss (they fall by 6 orders of magnitude).
    for epoch in (0, 1, 10, 100, 499):
        assert_close(history_s["loss"][epoch], history_k["loss"][epoch], GRAD_RTOL,
                     f"loss of epoch {epoch}")
    for ws, wk in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        assert_close(ws, wk, TRAJECTORY_RTOL, "weights after 500 epochs")
    pred_s = model.predict(np.array([10.0]))
    pred_k = kmodel.predict(np.array([10.0]), verbose=0)
    assert pred_s.shape == pred_k.shape == (1, 1)
    assert_close(pred_s, pred_k, TRAJECTORY_RTOL, "predict(10)")
    assert abs(pred_s[0, 0] - 19.0) < 0.05  # close to 2*10 - 1, not exactly (the course's point)


def test_fit_with_sample_weight_and_weighted_validation_data():
    x, y = _data()
    xv, yv = _data(seed=1, n=20)
    rng = np.random.default_rng(5)
    w, wv = rng.uniform(0.1, 3.0, len(x)), rng.uniform(0.1, 3.0, len(xv))
    twins = _classifier_twins(weighted_metrics=["accuracy"])
    kwargs = dict(epochs=3, batch_size=16, shuffle=False, verbose=0, sample_weight=w,
                  validation_data=(xv, yv, wv))
    history_s = twins.scratch.fit(x, y, **kwargs).history
    history_k = twins.keras.fit(x, y, **kwargs).history
    # "accuracy" ignores the weights (Keras' metrics=), "weighted_accuracy" uses them.
    assert "weighted_accuracy" in history_k and "val_weighted_accuracy" in history_k
    _assert_histories_agree(history_s, history_k)
    _assert_weights_agree(twins)
    # As dicts: Keras 3.15's list form repeats "accuracy" for a same-named weighted metric
    # ([loss, acc, acc, weighted_acc]); scratchnet returns [loss, acc, weighted_acc].
    result_s = twins.scratch.evaluate(xv, yv, sample_weight=wv, verbose=0, return_dict=True)
    result_k = twins.keras.evaluate(xv, yv, sample_weight=wv, verbose=0, return_dict=True)
    assert sorted(result_s) == sorted(result_k)
    for key in result_k:
        assert_close(result_s[key], result_k[key], GRAD_RTOL, f"evaluate(sample_weight=...)[{key!r}]")


def test_fit_with_class_weight():
    x, y = _data()
    twins = _classifier_twins(weighted_metrics=["accuracy"])
    kwargs = dict(epochs=3, batch_size=16, shuffle=False, verbose=0,
                  class_weight={0: 1.0, 1: 2.5, 2: 0.5}, validation_data=_data(seed=1, n=20))
    history_s = twins.scratch.fit(x, y, **kwargs).history
    history_k = twins.keras.fit(x, y, **kwargs).history
    _assert_histories_agree(history_s, history_k)
    _assert_weights_agree(twins)


def _cycle(batches):
    """An endless generator over ``batches``, in order."""
    yield from itertools.cycle(batches)


def test_fit_generator_with_steps_validation_steps_and_validation_freq():
    x, y = _data()
    xv, yv = _data(seed=1, n=40)
    train = [(x[i:i + 8], y[i:i + 8]) for i in range(0, 40, 8)]  # 5 batches of 8
    val = [(xv[i:i + 10], yv[i:i + 10]) for i in range(0, 40, 10)]
    twins = _classifier_twins()
    histories = []
    for model in (twins.scratch, twins.keras):
        # validation_steps=2: Keras re-reads the generator's two peeked batches every time,
        # so both frameworks see the same validation batches (see data_adapters.py).
        history = model.fit(_cycle(train), epochs=5, steps_per_epoch=3, verbose=0,
                            shuffle=False, validation_data=_cycle(val), validation_steps=2,
                            validation_freq=[2, 5])
        histories.append(history)
    history_s, history_k = histories
    assert len(history_s.history["loss"]) == 5
    assert len(history_s.history["val_loss"]) == 2  # epochs 2 and 5 only
    _assert_histories_agree(history_s.history, history_k.history)
    _assert_weights_agree(twins)


def test_fit_finite_generator_over_several_epochs_matches_keras_warning_and_losses():
    x, y = _data()
    batches = [(x[i:i + 10], y[i:i + 10]) for i in range(0, N, 10)]  # 5 batches, then it ends
    twins = _classifier_twins()
    histories = []
    for model in (twins.scratch, twins.keras):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            histories.append(model.fit(iter(batches) if model is twins.scratch
                                       else (b for b in batches), epochs=3, verbose=0).history)
        ran_out = [w for w in caught if "ran out of data" in str(w.message)]
        assert len(ran_out) == 3, [str(w.message) for w in caught]  # once per epoch, in both
    _assert_histories_agree(*histories)
    _assert_weights_agree(twins)


def _pydataset_class(base):
    class Batches(base):
        def __init__(self, x, y, batch_size, **kwargs):
            super().__init__(**kwargs)
            self.x, self.y, self.batch_size = x, y, batch_size
            self.epochs_ended = 0

        def __len__(self):
            return math.ceil(len(self.x) / self.batch_size)

        def __getitem__(self, i):
            s = slice(i * self.batch_size, (i + 1) * self.batch_size)
            return self.x[s], self.y[s]

        def on_epoch_end(self):
            self.epochs_ended += 1

    return Batches


def test_fit_pydataset_and_pydataset_validation():
    x, y = _data()
    xv, yv = _data(seed=1, n=20)
    twins = _classifier_twins()
    datasets = {}
    histories = []
    for model, base in ((twins.scratch, sn.utils.PyDataset), (twins.keras, keras.utils.PyDataset)):
        cls = _pydataset_class(base)
        train, val = cls(x, y, 16, workers=1), cls(xv, yv, 8, max_queue_size=4)  # 4 and 3 batches
        histories.append(model.fit(train, epochs=3, verbose=0, shuffle=False,
                                   validation_data=val).history)
        datasets[model is twins.scratch] = (train.epochs_ended, val.epochs_ended)
    _assert_histories_agree(*histories)
    _assert_weights_agree(twins)
    assert datasets[True] == datasets[False], datasets  # on_epoch_end calls, as Keras makes them


def _hook_recorder(base):
    class Recorder(base):
        def __init__(self):
            super().__init__()
            self.events = []
            self.params_seen = []

        def set_params(self, params):
            super().set_params(params)
            self.params_seen.append({k: params[k] for k in ("epochs", "steps", "verbose")})

    hooks = ["on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
             "on_train_batch_begin", "on_train_batch_end", "on_test_begin", "on_test_end",
             "on_test_batch_begin", "on_test_batch_end", "on_predict_begin", "on_predict_end",
             "on_predict_batch_begin", "on_predict_batch_end"]

    def make_hook(hook):
        takes_step = "epoch" in hook or "batch" in hook

        def record(self, *args, logs=None):
            if not takes_step:
                args = (None,) + args
            step = args[0]
            logs = args[1] if len(args) > 1 else logs
            keys = sorted(logs) if isinstance(logs, dict) and hook != "on_predict_batch_end" else None
            self.events.append((hook, step, keys))
        return record

    for hook in hooks:
        setattr(Recorder, hook, make_hook(hook))
    return Recorder


def test_callback_hooks_steps_and_logs_match_keras():
    x, y = _data(n=10)
    twins = _classifier_twins()
    events = []
    for model, base in ((twins.scratch, sn.callbacks.Callback), (twins.keras, keras.callbacks.Callback)):
        recorder = _hook_recorder(base)()
        model.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False, callbacks=[recorder],
                  validation_data=(x[:6], y[:6]), validation_freq=2)
        model.evaluate(x, y, batch_size=8, verbose=0, callbacks=[recorder])
        model.predict(x, batch_size=6, verbose=0, callbacks=[recorder])
        with warnings.catch_warnings():  # "ran out of data", in both
            warnings.simplefilter("ignore", UserWarning)
            # A finite generator: Keras announces one more batch per epoch (the step that finds
            # it empty) and knows no step count (steps=None).
            batches = [(x[i:i + 4], y[i:i + 4]) for i in range(0, 10, 4)]
            model.fit((b for b in batches), epochs=2, verbose=0, callbacks=[recorder])
        events.append((recorder.events, recorder.params_seen))
    (events_s, params_s), (events_k, params_k) = events
    assert [e[:2] for e in events_s] == [e[:2] for e in events_k]  # hook order and step numbers
    assert [e[2] for e in events_s] == [e[2] for e in events_k]  # the keys of every logs dict
    assert params_s == params_k
