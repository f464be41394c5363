"""keras.io's guide "Writing your own callbacks", run in both libraries (``K`` is ``keras`` or
``scratchnet``; only the module differs).

The guide's ``CustomCallback`` prints, at every hook of ``fit``/``evaluate``/``predict``, the
hook and the keys of the ``logs`` it receives; here a recorder keeps ``(hook, index, sorted log
keys)`` for every call, and the two libraries' sequences must be identical, with the log values
compared at TRAJECTORY_RTOL (the same start weights, no shuffling). Then the guide's examples:
``LossAndErrorPrintingCallback`` (its printed text), ``EarlyStoppingAtMinLoss`` (``self.model``,
``get_weights``/``set_weights``, ``model.stop_training``) and ``CustomLearningRateScheduler``
(reading and setting ``model.optimizer.learning_rate``). Data: seeded NumPy arrays in place of
MNIST (12 features, integer targets regressed with MSE as the guide does).
"""

import keras
import numpy as np
import pytest

import scratchnet as sn
from parity_tests.driver import TRAJECTORY_RTOL, assert_close

RNG = np.random.default_rng(11)
X = RNG.random((40, 12)).astype("float32")
Y = RNG.integers(0, 10, 40)
X_TEST = RNG.random((20, 12)).astype("float32")
Y_TEST = RNG.integers(0, 10, 20)

HOOKS = ["on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_test_begin",
         "on_test_end", "on_predict_begin", "on_predict_end", "on_train_batch_begin",
         "on_train_batch_end", "on_test_batch_begin", "on_test_batch_end",
         "on_predict_batch_begin", "on_predict_batch_end"]


def get_model(K, learning_rate=0.1):
    """The guide's ``get_model``: one Dense unit, RMSprop, MSE, MAE as a metric; built on
    12 features so weights can be copied before the first fit."""
    model = K.Sequential()
    model.add(K.Input((12,)))
    model.add(K.layers.Dense(1))
    model.compile(optimizer=K.optimizers.RMSprop(learning_rate=learning_rate),
                  loss="mean_squared_error", metrics=["mean_absolute_error"])
    return model


def twins(**kwargs):
    k = get_model(keras, **kwargs)
    s = get_model(sn, **kwargs)
    s.set_weights(k.get_weights())
    return s, k


def recorder(K):
    """A callback that records every hook it receives (the guide's ``CustomCallback``)."""
    class Recorder(K.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.calls = []

    def hook(name):
        def method(self, *args, **kwargs):  # logs may come by position or by keyword
            index = [a for a in args if isinstance(a, int)]
            logs = kwargs.get("logs", next((a for a in args if not isinstance(a, int)), None))
            logs = {} if logs is None else dict(logs)
            self.calls.append((name, *index, sorted(logs), [logs[k] for k in sorted(logs)]))
        return method

    for name in HOOKS:
        setattr(Recorder, name, hook(name))
    return Recorder()


def compare_calls(calls_s, calls_k):
    assert [c[:-1] for c in calls_s] == [c[:-1] for c in calls_k]  # hooks, indices, log keys
    for call_s, call_k in zip(calls_s, calls_k, strict=True):
        if call_k[-1]:
            assert_close(np.asarray(call_s[-1], dtype=np.float64),
                         np.asarray(call_k[-1], dtype=np.float64), TRAJECTORY_RTOL,
                         f"logs of {call_k[:-2]}")


def test_every_hook_in_order_with_its_log_keys():
    s, k = twins()
    record = {}
    for m, K in ((s, sn), (k, keras)):
        fit_cb, eval_cb, predict_cb = recorder(K), recorder(K), recorder(K)
        m.fit(X, Y, batch_size=8, epochs=2, verbose=0, validation_split=0.5, shuffle=False,
              callbacks=[fit_cb])
        m.evaluate(X_TEST, Y_TEST, batch_size=8, verbose=0, callbacks=[eval_cb])
        m.predict(X_TEST, batch_size=8, verbose=0, callbacks=[predict_cb])
        record[K.__name__] = (fit_cb.calls, eval_cb.calls, predict_cb.calls)
    for calls_s, calls_k in zip(record["scratchnet"], record["keras"], strict=True):
        compare_calls(calls_s, calls_k)
    fit_calls = record["keras"][0]
    assert fit_calls[0][0] == "on_train_begin" and fit_calls[-1][0] == "on_train_end"
    assert ("on_test_begin", [], []) in [c[:1] + c[-2:] for c in fit_calls]  # validation inside fit


def test_logs_dict_printing_callback(capsys):
    def printing(K):
        class LossAndErrorPrintingCallback(K.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                print(f"Up to batch {batch}, the average loss is {logs['loss']:7.2f}.")

            def on_test_batch_end(self, batch, logs=None):
                print(f"Up to batch {batch}, the average loss is {logs['loss']:7.2f}.")

            def on_epoch_end(self, epoch, logs=None):
                print(f"The average loss for epoch {epoch} is {logs['loss']:7.2f} and mean "
                      f"absolute error is {logs['mean_absolute_error']:7.2f}.")
        return LossAndErrorPrintingCallback()

    s, k = twins()
    printed = {}
    for m, K in ((s, sn), (k, keras)):
        m.fit(X, Y, batch_size=16, epochs=2, verbose=0, shuffle=False, callbacks=[printing(K)])
        m.evaluate(X_TEST, Y_TEST, batch_size=16, verbose=0, callbacks=[printing(K)])
        printed[K.__name__] = capsys.readouterr().out
    assert printed["scratchnet"] == printed["keras"]
    assert printed["keras"].count("The average loss for epoch") == 2


def early_stopping_at_min_loss(K, patience=0):
    """The guide's ``EarlyStoppingAtMinLoss``."""
    class EarlyStoppingAtMinLoss(K.callbacks.Callback):
        def __init__(self, patience=0):
            super().__init__()
            self.patience = patience
            self.best_weights = None

        def on_train_begin(self, logs=None):
            self.wait = 0
            self.stopped_epoch = 0
            self.best = np.inf

        def on_epoch_end(self, epoch, logs=None):
            current = logs.get("loss")
            if np.less(current, self.best):
                self.best = current
                self.wait = 0
                self.best_weights = self.model.get_weights()
            else:
                self.wait += 1
                if self.wait >= self.patience:
                    self.stopped_epoch = epoch
                    self.model.stop_training = True
                    print("Restoring model weights from the end of the best epoch.")
                    self.model.set_weights(self.best_weights)

        def on_train_end(self, logs=None):
            if self.stopped_epoch > 0:
                print(f"Epoch {self.stopped_epoch + 1}: early stopping")
    return EarlyStoppingAtMinLoss(patience)


def test_early_stopping_at_min_loss(capsys):
    s, k = twins(learning_rate=0.5)  # large steps: the loss soon stops falling
    runs = {}
    for m, K in ((s, sn), (k, keras)):
        stopper = early_stopping_at_min_loss(K, patience=1)
        history = m.fit(X, Y, batch_size=8, epochs=30, verbose=0, shuffle=False,
                        callbacks=[stopper]).history
        runs[K.__name__] = (history, stopper.stopped_epoch, capsys.readouterr().out)
    (hist_s, stop_s, out_s), (hist_k, stop_k, out_k) = runs["scratchnet"], runs["keras"]
    assert stop_s == stop_k and 0 < stop_k < 29
    assert len(hist_s["loss"]) == len(hist_k["loss"]) == stop_k + 1
    assert_close(hist_s["loss"], hist_k["loss"], TRAJECTORY_RTOL, "losses")
    assert out_s == out_k
    assert f"Epoch {stop_k + 1}: early stopping" in out_k
    for ws, wk in zip(s.get_weights(), k.get_weights(), strict=True):  # the best epoch's weights
        assert_close(ws, wk, TRAJECTORY_RTOL, "restored weights")


def custom_learning_rate_scheduler(K, schedule):
    """The guide's ``CustomLearningRateScheduler``: reads ``model.optimizer.learning_rate`` and
    assigns a new value at each epoch's start."""
    class CustomLearningRateScheduler(K.callbacks.Callback):
        def __init__(self, schedule):
            super().__init__()
            self.schedule = schedule

        def on_epoch_begin(self, epoch, logs=None):
            if not hasattr(self.model.optimizer, "learning_rate"):
                raise ValueError('Optimizer must have a "learning_rate" attribute.')
            lr = self.model.optimizer.learning_rate
            scheduled_lr = self.schedule(epoch, lr)
            self.model.optimizer.learning_rate = scheduled_lr
            print(f"\nEpoch {epoch}: Learning rate is {float(np.array(scheduled_lr))}.")
    return CustomLearningRateScheduler(schedule)


LR_SCHEDULE = [(1, 0.05), (2, 0.01), (4, 0.005)]


def lr_schedule(epoch, lr):
    if epoch < LR_SCHEDULE[0][0] or epoch > LR_SCHEDULE[-1][0]:
        return lr
    for start, rate in LR_SCHEDULE:
        if epoch == start:
            return rate
    return lr


def test_custom_learning_rate_scheduler(capsys):
    s, k = twins()
    runs = {}
    for m, K in ((s, sn), (k, keras)):
        history = m.fit(X, Y, batch_size=8, epochs=5, verbose=0, shuffle=False,
                        callbacks=[custom_learning_rate_scheduler(K, lr_schedule)]).history
        runs[K.__name__] = (history, capsys.readouterr().out)
    assert runs["scratchnet"][1] == runs["keras"][1]
    # the rate read back from the optimizer is its float32 value, a new one the float given
    assert "Epoch 3: Learning rate is 0.009999999776482582." in runs["keras"][1]
    assert_close(runs["scratchnet"][0]["loss"], runs["keras"][0]["loss"], TRAJECTORY_RTOL, "losses")
    assert_close(s.optimizer.learning_rate, np.asarray(k.optimizer.learning_rate), 0, "final rate")


@pytest.mark.parametrize("method", ["evaluate", "predict"])
def test_stop_training_is_a_fit_flag(method):
    """``model.stop_training`` set in a test or predict hook changes nothing there (Keras reads
    it in fit's epoch loop only): every batch still runs."""
    s, k = twins()
    seen = {}
    for m, K in ((s, sn), (k, keras)):
        class Stopper(K.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.batches = 0

            def on_test_batch_end(self, batch, logs=None):
                self.batches += 1
                self.model.stop_training = True

            on_predict_batch_end = on_test_batch_end

        stopper = Stopper()
        if method == "evaluate":
            getattr(m, method)(X_TEST, Y_TEST, batch_size=8, verbose=0, callbacks=[stopper])
        else:
            getattr(m, method)(X_TEST, batch_size=8, verbose=0, callbacks=[stopper])
        seen[K.__name__] = stopper.batches
    assert seen["scratchnet"] == seen["keras"] == 3
