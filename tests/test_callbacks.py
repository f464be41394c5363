"""The Keras-named callbacks, scratchnet alone: each decision on hand-made epoch histories, the
files they write, bad arguments; BackupAndRestore resuming an interrupted fit bit for bit.

Most tests drive a callback as ``fit`` does (set_model, on_train_begin, on_epoch_begin/end for
each epoch until ``model.stop_training``, on_train_end) with given epoch logs, so every
decision is checked on a known history. parity_tests/test_callbacks_keras.py feeds the same
histories to Keras' callbacks.
"""

import json
import os
import warnings

import numpy as np
import pytest

import scratchnet as sn

L = sn.layers
C = sn.callbacks


def small_model(seed=0, metrics=None, optimizer=None, dropout=0.0):
    layers = [L.Input((4,)), L.Dense(5, activation="relu")]
    if dropout:
        layers.append(L.Dropout(dropout))
    layers.append(L.Dense(3, activation="softmax"))
    model = sn.Sequential(layers, seed=seed)
    model.compile(optimizer=optimizer or sn.optimizers.SGD(0.1),
                  loss="sparse_categorical_crossentropy", metrics=metrics or [])
    return model


def mark_weights(model, value):
    """Fill every weight with ``value``: the weights then say which epoch they come from."""
    model.set_weights([np.full_like(w, value) for w in model.get_weights()])


def drive(callback, model, history, batches=0):
    """Run ``callback`` through ``history`` (one logs dict per epoch) as fit calls it; before
    each epoch end the weights are marked with the epoch number. Returns the epochs run."""
    callback.set_model(model)
    callback.set_params({"epochs": len(history), "steps": batches, "verbose": 0})
    model.stop_training = False
    callback.on_train_begin()
    ran = []
    for epoch, logs in enumerate(history):
        callback.on_epoch_begin(epoch)
        for batch in range(batches):
            callback.on_train_batch_begin(batch)
            callback.on_train_batch_end(batch, {"loss": float(batch)})
        mark_weights(model, epoch)
        callback.on_epoch_end(epoch, dict(logs))
        ran.append(epoch)
        if model.stop_training:
            break
    callback.on_train_end()
    return ran


def losses(*values, key="val_loss"):
    return [{"loss": 1.0, key: v} for v in values]


# ---------------------------------------------------------------------- EarlyStopping
def test_early_stopping_patience_zero_stops_at_first_non_improvement():
    es = C.EarlyStopping()
    assert drive(es, small_model(), losses(1.0, 0.9, 0.95, 0.8)) == [0, 1, 2]
    assert es.stopped_epoch == 2 and es.best == 0.9 and es.wait == 1


def test_early_stopping_counts_wait_from_the_best_epoch():
    es = C.EarlyStopping(patience=2)
    assert drive(es, small_model(), losses(1.0, 0.9, 0.91, 0.85, 0.86, 0.87, 0.1)) == \
        [0, 1, 2, 3, 4, 5]
    assert es.stopped_epoch == 5 and es.best == 0.85 and es.best_epoch == 3 and es.wait == 2


def test_patience_zero_with_a_baseline_missed_from_the_start():
    es = C.EarlyStopping(patience=0, baseline=0.5)  # epoch 0 misses the baseline: wait stays 1
    assert drive(es, small_model(), losses(1.0, 1.1)) == [0, 1]
    assert es.stopped_epoch == 1


def test_min_delta_sign_is_ignored_and_applies_against_the_direction():
    for min_delta in (0.05, -0.05):
        es = C.EarlyStopping(min_delta=min_delta, patience=0)
        # 0.97 is lower but not by 0.05: no improvement, stop at epoch 1.
        assert drive(es, small_model(), losses(1.0, 0.97, 0.5)) == [0, 1]
        es = C.EarlyStopping(min_delta=min_delta, patience=0)
        assert drive(es, small_model(), losses(1.0, 0.9, 0.8, 0.79)) == [0, 1, 2, 3]
        assert es.min_delta == -0.05  # Keras stores it negated for a minimised quantity
    es = C.EarlyStopping(monitor="val_accuracy", mode="max", min_delta=0.1, patience=0)
    assert drive(es, small_model(), losses(0.5, 0.65, 0.7, key="val_accuracy")) == [0, 1, 2]
    assert es.min_delta == 0.1 and es.best == 0.65


def test_comparison_is_made_in_float32_as_keras_ops_make_it():
    # 1 - 1e-9 is lower in float64 but equal in float32: not an improvement.
    es = C.EarlyStopping(patience=0)
    assert drive(es, small_model(), losses(1.0, 1.0 - 1e-9)) == [0, 1]
    es = C.EarlyStopping(patience=0)
    assert drive(es, small_model(), losses(1.0, 1.0 - 1e-6)) == [0, 1]
    assert es.stopped_epoch == 0 and es.best == 1.0 - 1e-6


@pytest.mark.parametrize("mode, history, ran", [
    ("min", [0.5, 0.6, 0.4], [0, 1]),
    ("max", [0.5, 0.6, 0.4], [0, 1, 2]),
    ("auto", [0.5, 0.6, 0.4], [0, 1, 2]),  # accuracy: Keras' metric direction is "up"
])
def test_mode_decides_the_direction(mode, history, ran):
    es = C.EarlyStopping(monitor="val_accuracy", mode=mode)
    assert drive(es, small_model(metrics=["accuracy"]), losses(*history, key="val_accuracy")) == ran


def test_auto_mode_minimises_loss_and_refuses_an_unknown_name():
    es = C.EarlyStopping(monitor="loss")
    drive(es, small_model(), [{"loss": 1.0}, {"loss": 0.5}])
    assert es.monitor_op is np.less
    es = C.EarlyStopping(monitor="val_sparse_categorical_accuracy")
    drive(es, small_model(metrics=["sparse_categorical_accuracy"]),
          losses(0.5, key="val_sparse_categorical_accuracy"))
    assert es.monitor_op is np.greater
    # A name no compiled metric carries: Keras cannot tell the direction.
    es = C.EarlyStopping(monitor="val_accuracy")
    with pytest.raises(ValueError, match=r"EarlyStopping callback received monitor=val_accuracy"):
        drive(es, small_model(), losses(0.5, key="val_accuracy"))


def test_unknown_mode_warns_and_falls_back_to_auto():
    with pytest.warns(UserWarning, match="EarlyStopping mode 'maximum' is unknown, fallback to auto"):
        es = C.EarlyStopping(mode="maximum")
    assert es.mode == "auto"
    with pytest.warns(UserWarning, match="ReduceLROnPlateau mode 'x' is unknown"):
        C.ReduceLROnPlateau(mode="x")
    with pytest.warns(UserWarning, match="ModelCheckpoint mode 'x' is unknown"):
        C.ModelCheckpoint("m.npz", mode="x")


def test_baseline_keeps_wait_counting_until_beaten():
    # Improvements that do not beat the baseline leave wait counting; the first
    # non-improvement once wait >= patience stops.
    es = C.EarlyStopping(patience=2, baseline=0.5)
    assert drive(es, small_model(), losses(1.0, 0.9, 0.95, 0.1)) == [0, 1, 2]
    assert es.stopped_epoch == 2 and es.wait == 3 and es.best == 0.9
    es = C.EarlyStopping(patience=2)
    assert drive(es, small_model(), losses(1.0, 0.9, 0.95, 0.1)) == [0, 1, 2, 3]
    es = C.EarlyStopping(patience=1, baseline=0.5)  # beaten at epoch 1: wait resets
    assert drive(es, small_model(), losses(1.0, 0.4, 0.3, 0.35)) == [0, 1, 2, 3]
    assert es.stopped_epoch == 3 and es.best == 0.3


def test_start_from_epoch_ignores_the_warm_up():
    es = C.EarlyStopping(patience=1, start_from_epoch=2)
    assert drive(es, small_model(), losses(5.0, 6.0, 7.0, 8.0, 9.0)) == [0, 1, 2, 3]
    assert es.stopped_epoch == 3 and es.best == 7.0
    es = C.EarlyStopping(patience=1)
    assert drive(es, small_model(), losses(5.0, 6.0, 7.0, 8.0, 9.0)) == [0, 1]


def test_restore_best_weights_when_stopped():
    model = small_model()
    es = C.EarlyStopping(patience=1, restore_best_weights=True)
    assert drive(es, model, losses(1.0, 0.5, 0.7, 0.6)) == [0, 1, 2]
    assert es.best_epoch == 1
    assert all(np.all(w == 1) for w in model.get_weights())


def test_restore_best_weights_at_the_end_of_training_too():
    model = small_model()
    es = C.EarlyStopping(patience=5, restore_best_weights=True)
    assert drive(es, model, losses(1.0, 0.5, 0.7, 0.6)) == [0, 1, 2, 3]
    assert es.stopped_epoch == 0
    assert all(np.all(w == 1) for w in model.get_weights())


def test_restore_best_weights_without_improvement_restores_the_first_monitored_epoch():
    model = small_model()
    es = C.EarlyStopping(patience=3, baseline=0.1, restore_best_weights=True, start_from_epoch=1)
    assert drive(es, model, losses(1.0, 2.0, 3.0, 4.0, 5.0)) == [0, 1, 2, 3]
    assert es.best_epoch == 1 and all(np.all(w == 1) for w in model.get_weights())


def test_without_restore_the_last_weights_stay():
    model = small_model()
    drive(C.EarlyStopping(patience=1), model, losses(1.0, 0.5, 0.7, 0.6))
    assert all(np.all(w == 2) for w in model.get_weights())


def test_missing_monitor_warns_once_listing_the_logged_keys():
    es = C.EarlyStopping(patience=0)
    with pytest.warns(UserWarning) as record:
        ran = drive(es, small_model(), [{"loss": 1.0, "accuracy": 0.5}] * 3)
    assert ran == [0, 1, 2] and es.stopped_epoch == 0
    messages = [str(w.message) for w in record]
    assert messages == ["Early stopping conditioned on metric `val_loss` which is not available. "
                        "Available metrics are: loss,accuracy"]


def test_early_stopping_is_reset_for_each_fit():
    model = small_model()
    es = C.EarlyStopping(patience=0)
    drive(es, model, losses(1.0, 2.0))
    assert es.stopped_epoch == 1
    assert drive(es, model, losses(3.0, 2.0, 1.0)) == [0, 1, 2]
    assert es.stopped_epoch == 0 and es.best == 1.0


def test_early_stopping_in_fit_stops_the_loop(rng):
    x = rng.random((16, 4)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    model = small_model(optimizer=sn.optimizers.SGD(0.0))  # a flat loss: no improvement
    es = C.EarlyStopping(monitor="loss", patience=2, min_delta=1e-3)
    history = model.fit(x, y, epochs=10, batch_size=8, shuffle=False, verbose=0, callbacks=[es])
    assert len(history.history["loss"]) == 3 and es.stopped_epoch == 2


@pytest.mark.parametrize("kwargs, match", [
    ({"patience": -1}, "EarlyStopping: expected patience to be an integer >= 0, received -1"),
    ({"patience": 1.5}, "patience"),
    ({"start_from_epoch": -2}, "start_from_epoch"),
    ({"min_delta": "big"}, "EarlyStopping: expected min_delta to be a finite number"),
    ({"baseline": float("nan")}, "baseline"),
    ({"restore_best_weights": "yes"}, "restore_best_weights"),
    ({"monitor": 3}, "EarlyStopping: expected monitor"),
    ({"verbose": -1}, "verbose"),
])
def test_early_stopping_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        C.EarlyStopping(**kwargs)


# ---------------------------------------------------------------------- ModelCheckpoint
def saved_marker(path):
    """The epoch number the weights saved at ``path`` were marked with."""
    weights = sn.load_model(path).get_weights()
    return float(weights[0].flat[0])


def test_checkpoint_names_files_from_epoch_plus_one_and_the_logs(tmp_path):
    pattern = str(tmp_path / "ckpt-{epoch:02d}-{val_loss:.2f}.npz")
    drive(C.ModelCheckpoint(pattern), small_model(), losses(0.5, 0.25, 1.0))
    assert sorted(os.listdir(tmp_path)) == ["ckpt-01-0.50.npz", "ckpt-02-0.25.npz",
                                            "ckpt-03-1.00.npz"]
    assert saved_marker(tmp_path / "ckpt-02-0.25.npz") == 1


def test_checkpoint_in_keras_formats(tmp_path):
    model = small_model()
    drive(C.ModelCheckpoint(tmp_path / "m{epoch}.keras"), model, losses(0.5, 0.4))
    drive(C.ModelCheckpoint(tmp_path / "w{epoch}.weights.h5", save_weights_only=True), model,
          losses(0.5, 0.4, 0.3))
    with pytest.warns(UserWarning, match="legacy HDF5"):  # Keras' legacy file, as Keras allows
        drive(C.ModelCheckpoint(tmp_path / "h{epoch}.h5"), model, losses(0.5))
    assert sorted(os.listdir(tmp_path)) == ["h1.h5", "m1.keras", "m2.keras", "w1.weights.h5",
                                            "w2.weights.h5", "w3.weights.h5"]
    assert saved_marker(tmp_path / "m2.keras") == 1
    assert saved_marker(tmp_path / "h1.h5") == 0  # the first epoch marks 0, as m2.keras marks 1
    model.load_weights(tmp_path / "w2.weights.h5")
    assert all(np.all(w == 1) for w in model.get_weights())


def test_checkpoint_creates_the_folder(tmp_path):
    path = tmp_path / "a" / "b" / "model.npz"
    drive(C.ModelCheckpoint(path), small_model(), losses(0.5))
    assert path.is_file()


def test_save_best_only_overwrites_with_each_improvement(tmp_path):
    path = tmp_path / "best.npz"
    mc = C.ModelCheckpoint(path, save_best_only=True)
    drive(mc, small_model(), losses(1.0, 0.5, 0.7, 0.6))
    assert saved_marker(path) == 1 and mc.best == 0.5


def test_save_best_only_writes_only_improving_epochs(tmp_path):
    pattern = str(tmp_path / "{epoch}.npz")
    drive(C.ModelCheckpoint(pattern, monitor="val_accuracy", mode="max", save_best_only=True),
          small_model(), losses(0.5, 0.4, 0.6, 0.6, 0.9, key="val_accuracy"))
    assert sorted(os.listdir(tmp_path)) == ["1.npz", "3.npz", "5.npz"]


def test_initial_value_threshold_is_the_first_value_to_beat(tmp_path):
    pattern = str(tmp_path / "{epoch}.npz")
    mc = C.ModelCheckpoint(pattern, save_best_only=True, initial_value_threshold=0.6)
    drive(mc, small_model(), losses(1.0, 0.7, 0.5, 0.55))
    assert os.listdir(tmp_path) == ["3.npz"]


def test_checkpoint_best_is_kept_across_fits_as_in_keras(tmp_path):
    pattern = str(tmp_path / "{epoch}-{val_loss}.npz")
    mc = C.ModelCheckpoint(pattern, save_best_only=True)
    drive(mc, small_model(), losses(0.5))
    drive(mc, small_model(), losses(0.7, 0.4))
    assert sorted(os.listdir(tmp_path)) == ["1-0.5.npz", "2-0.4.npz"]


def test_save_best_only_without_the_monitor_warns_and_saves(tmp_path):
    pattern = str(tmp_path / "{epoch}.npz")
    with pytest.warns(UserWarning, match="Can save best model only with val_loss available."):
        drive(C.ModelCheckpoint(pattern, save_best_only=True), small_model(), [{"loss": 1.0}] * 2)
    assert sorted(os.listdir(tmp_path)) == ["1.npz", "2.npz"]


def test_save_freq_in_batches_counts_across_epochs(tmp_path):
    pattern = str(tmp_path / "e{epoch}-b{batch}.npz")
    drive(C.ModelCheckpoint(pattern, save_freq=3), small_model(), losses(1.0, 1.0, 1.0),
          batches=2)
    # batches seen: e1b1 e1b2 | e2b1 e2b2 | e3b1 e3b2 -> every third: e2b1, e3b2
    assert sorted(os.listdir(tmp_path)) == ["e2-b1.npz", "e3-b2.npz"]


def test_checkpoint_unknown_field_is_a_key_error(tmp_path):
    mc = C.ModelCheckpoint(str(tmp_path / "{val_acc}.npz"))
    with pytest.raises(KeyError, match="Failed to format|failed to format"):
        drive(mc, small_model(), losses(0.5))


def test_checkpoint_to_an_existing_folder_is_refused(tmp_path):
    (tmp_path / "x.npz").mkdir()
    with pytest.raises(OSError, match="non-directory filepath"):
        drive(C.ModelCheckpoint(tmp_path / "x.npz"), small_model(), losses(0.5))


@pytest.mark.parametrize("kwargs, match", [
    ({"filepath": "model.hdf"}, r"must end in '\.keras'.*'\.h5'.*'\.npz'"),
    ({"filepath": "model.weights.h5"}, r"'\.weights\.h5' needs save_weights_only=True"),
    ({"filepath": "model.keras", "save_weights_only": True}, r"must end in '\.weights\.h5'"),
    ({"filepath": "model.npz", "save_weights_only": True}, r"'\.weights\.h5'"),
    ({"filepath": "model.keras", "save_freq": "batch"}, "unrecognized save_freq='batch'"),
    ({"filepath": "model.keras", "save_freq": 0}, "save_freq"),
    ({"filepath": "model.keras", "save_best_only": 1}, "save_best_only"),
    ({"filepath": "model.keras", "initial_value_threshold": "low"}, "initial_value_threshold"),
])
def test_checkpoint_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        C.ModelCheckpoint(**kwargs)


def test_checkpoint_accepts_keras_file_names():
    assert C.ModelCheckpoint("m-{epoch}.keras").filepath == "m-{epoch}.keras"
    assert C.ModelCheckpoint("w.weights.h5", save_weights_only=True).save_weights_only


# ---------------------------------------------------------------------- LearningRateScheduler
def test_scheduler_sets_the_rate_each_epoch_and_logs_it():
    model = small_model(optimizer=sn.optimizers.SGD(0.1))
    seen = []

    def schedule(epoch, lr):
        seen.append((epoch, lr))
        return lr * 0.5

    history = [{"loss": 1.0}] * 3
    cb = C.LearningRateScheduler(schedule)
    logs_seen = []
    cb.set_model(model)
    cb.on_train_begin()
    for epoch, logs in enumerate(history):
        cb.on_epoch_begin(epoch)
        logs = dict(logs)
        cb.on_epoch_end(epoch, logs)
        logs_seen.append(logs["learning_rate"])
    f32 = lambda v: float(np.float32(v))  # noqa: E731 (the rate as Keras' float32 variable holds it)
    assert seen == [(0, f32(0.1)), (1, f32(f32(0.1) * 0.5)), (2, f32(f32(f32(0.1) * 0.5) * 0.5))]
    assert logs_seen == [f32(0.05), f32(0.025), f32(0.0125)]
    assert model.optimizer.learning_rate == f32(f32(0.025) * 0.5)


def test_scheduler_of_the_epoch_alone():
    model = small_model()
    cb = C.LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1))
    drive(cb, model, [{"loss": 1.0}] * 4)
    assert model.optimizer.learning_rate == 0.1 / 4


def test_scheduler_in_fit_sets_the_rate_used_by_the_step(rng):
    x = rng.random((8, 4)).astype(np.float32)
    y = rng.integers(0, 3, 8)
    frozen = small_model()
    before = frozen.get_weights()
    cb = C.LearningRateScheduler(lambda epoch, lr: 0.0)
    frozen.fit(x, y, epochs=2, verbose=0, callbacks=[cb])
    for a, b in zip(before, frozen.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_scheduler_refuses_a_non_float():
    cb = C.LearningRateScheduler(lambda epoch, lr: 1)
    with pytest.raises(ValueError, match="should be a float. Got: 1"):
        drive(cb, small_model(), [{"loss": 1.0}])
    with pytest.raises(ValueError, match="LearningRateScheduler: expected schedule"):
        C.LearningRateScheduler(0.1)


def test_a_schedule_optimizer_refuses_a_new_rate():
    optimizer = sn.optimizers.SGD(lambda iterations: 0.1)
    cb = C.LearningRateScheduler(lambda epoch, lr: lr)
    with pytest.raises(TypeError, match="learning rate is not settable"):
        drive(cb, small_model(optimizer=optimizer), [{"loss": 1.0}])


# ---------------------------------------------------------------------- ReduceLROnPlateau
def lr_trace(callback, model, history):
    """The learning rate after each epoch end."""
    callback.set_model(model)
    callback.on_train_begin()
    trace = []
    for epoch, logs in enumerate(history):
        callback.on_epoch_begin(epoch)
        callback.on_epoch_end(epoch, dict(logs))
        trace.append(C.current_learning_rate(model.optimizer))
    return trace


def f32(v):
    return float(np.float32(v))


def test_reduce_lr_after_patience_epochs_without_improvement():
    model = small_model(optimizer=sn.optimizers.SGD(1.0))
    cb = C.ReduceLROnPlateau(factor=0.5, patience=2)
    trace = lr_trace(cb, model, losses(1.0, 1.0, 1.0, 0.5, 0.6, 0.7, 0.8, 0.9))
    assert trace == [1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.125]


def test_reduce_lr_cooldown_and_min_lr():
    model = small_model(optimizer=sn.optimizers.SGD(1.0))
    cb = C.ReduceLROnPlateau(factor=0.1, patience=1, cooldown=2, min_lr=0.005)
    trace = lr_trace(cb, model, losses(*[1.0] * 10))
    # Reduced at epoch 1; cooldown counts down at 2 and 3, and at 3 (counter now 0) wait counts
    # again: reduced at 3 (to 0.01) and 5 (to max(0.001, 0.005)); from 7 on lr == min_lr
    # in float32, so no more reductions.
    assert trace == [1.0, f32(0.1), f32(0.1), f32(f32(0.1) * 0.1), f32(f32(0.1) * 0.1),
                     f32(0.005), f32(0.005), f32(0.005), f32(0.005), f32(0.005)]
    assert cb.cooldown_counter == 0 and cb.wait == 3


def test_reduce_lr_min_delta_default_is_1e_4():
    model = small_model(optimizer=sn.optimizers.SGD(1.0))
    cb = C.ReduceLROnPlateau(factor=0.5, patience=1)
    assert lr_trace(cb, model, losses(1.0, 0.99995, 0.9)) == [1.0, 0.5, 0.5]
    assert cb.best == 0.9


def test_reduce_lr_logs_the_rate_and_warns_once_without_the_monitor():
    model = small_model(optimizer=sn.optimizers.SGD(0.1))
    cb = C.ReduceLROnPlateau(patience=0)
    cb.set_model(model)
    cb.on_train_begin()
    logs = {"loss": 1.0}
    with pytest.warns(UserWarning) as record:
        cb.on_epoch_end(0, logs)
        cb.on_epoch_end(1, dict(loss=1.0))
    assert [str(w.message) for w in record] == [
        "Learning rate reduction is conditioned on metric `val_loss` which is not available. "
        "Available metrics are: loss,learning_rate."]
    assert logs["learning_rate"] == f32(0.1) and model.optimizer.learning_rate == 0.1


@pytest.mark.parametrize("kwargs, match", [
    ({"factor": 1.0}, "ReduceLROnPlateau does not support a factor >= 1.0. Received factor=1.0"),
    ({"factor": -0.5}, "factor"),
    ({"patience": -1}, "patience"),
    ({"cooldown": 0.5}, "cooldown"),
    ({"min_lr": -1.0}, "min_lr"),
    ({"min_delta": None}, "min_delta"),
])
def test_reduce_lr_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        C.ReduceLROnPlateau(**kwargs)


# ---------------------------------------------------------------------- CSVLogger
def test_csv_logger_layout(tmp_path):
    path = tmp_path / "log.csv"
    drive(C.CSVLogger(path), small_model(), [{"loss": 0.5, "accuracy": 0.25}, {"loss": 0.125}])
    assert path.read_bytes() == (b"epoch,accuracy,loss,val_accuracy,val_loss\r\n"
                                 b"0,0.25,0.5,NA,NA\r\n"
                                 b"1,NA,0.125,NA,NA\r\n")


def test_csv_logger_with_validation_keys_and_a_separator(tmp_path):
    path = tmp_path / "log.tsv"
    history = [{"val_loss": 0.5, "loss": 1.0, "arr": np.array([1, 2])}]
    drive(C.CSVLogger(path, separator="\t"), small_model(), history)
    assert path.read_text() == 'epoch\tarr\tloss\tval_loss\n0\t"""[1, 2]"""\t1.0\t0.5\n'


def test_csv_logger_append_writes_the_header_once(tmp_path):
    path = tmp_path / "log.csv"
    drive(C.CSVLogger(path, append=True), small_model(), [{"loss": 1.0}])
    drive(C.CSVLogger(path, append=True), small_model(), [{"loss": 2.0}])
    assert path.read_text().splitlines() == ["epoch,loss,val_loss", "0,1.0,NA", "0,2.0,NA"]
    drive(C.CSVLogger(path), small_model(), [{"loss": 3.0}])
    assert path.read_text().splitlines() == ["epoch,loss,val_loss", "0,3.0,NA"]


def test_csv_logger_bad_arguments():
    with pytest.raises(ValueError, match="CSVLogger: expected separator"):
        C.CSVLogger("x.csv", separator=", ")
    with pytest.raises(TypeError, match="CSVLogger: expected filename"):
        C.CSVLogger(None)
    with pytest.raises(ValueError, match="append"):
        C.CSVLogger("x.csv", append="yes")


# ---------------------------------------------------------------------- LambdaCallback
def test_lambda_callback_calls_the_given_functions(rng):
    calls = []
    cb = C.LambdaCallback(on_train_begin=lambda logs: calls.append("train_begin"),
                          on_epoch_end=lambda epoch, logs: calls.append(("epoch_end", epoch)),
                          on_train_batch_end=lambda batch, logs: calls.append(("batch", batch)),
                          extra=42)
    assert cb.extra == 42
    x = rng.random((4, 4)).astype(np.float32)
    small_model().fit(x, np.array([0, 1, 2, 0]), epochs=2, batch_size=2, verbose=0,
                      callbacks=[cb])
    assert calls == ["train_begin", ("batch", 0), ("batch", 1), ("epoch_end", 0), ("batch", 0),
                     ("batch", 1), ("epoch_end", 1)]
    with pytest.raises(ValueError, match="LambdaCallback: expected on_epoch_end to be a function"):
        C.LambdaCallback(on_epoch_end=3)


def test_keras_older_batch_hook_names_are_called(rng):
    """Keras' ``on_batch_begin``/``on_batch_end`` (aliases of the ``on_train_batch_*`` hooks), both
    overridden in a subclass and given to LambdaCallback, are called once per training batch."""
    seen = []

    class Counter(C.Callback):
        def on_batch_begin(self, batch, logs=None):
            seen.append(("begin", batch))

        def on_batch_end(self, batch, logs=None):
            seen.append(("end", batch, sorted(logs)))

    lam = C.LambdaCallback(on_batch_end=lambda batch, logs: seen.append(("lambda", batch)))
    x = rng.random((4, 4)).astype(np.float32)
    small_model().fit(x, np.array([0, 1, 2, 0]), epochs=1, batch_size=2, verbose=0,
                      callbacks=[Counter(), lam])
    assert seen == [("begin", 0), ("end", 0, ["loss"]), ("lambda", 0),
                    ("begin", 1), ("end", 1, ["loss"]), ("lambda", 1)]


# ---------------------------------------------------------------------- BackupAndRestore
class Interrupt(C.Callback):
    """Raise in the middle of epoch ``epoch`` (after its first batch)."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch
        self.current = None

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.current == self.epoch and batch == 1:
            raise RuntimeError("interrupted")


def resumable_model(seed=3):
    return small_model(seed=seed, optimizer=sn.optimizers.Adam(0.01), dropout=0.3,
                       metrics=["accuracy"])


@pytest.fixture
def train_data(rng):
    x = rng.random((40, 4)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    return x, y


def fit(model, data, callbacks, epochs=5):
    x, y = data
    return model.fit(x, y, epochs=epochs, batch_size=8, validation_data=(x[:10], y[:10]),
                     verbose=0, callbacks=callbacks)


@pytest.mark.parametrize("same_model", [True, False])
def test_interrupted_fit_resumes_bit_identical(tmp_path, train_data, same_model):
    reference = resumable_model()
    fit(reference, train_data, [])

    model = resumable_model()
    backup = C.BackupAndRestore(tmp_path / "backup")
    with pytest.raises(RuntimeError, match="interrupted"):
        fit(model, train_data, [backup, Interrupt(epoch=3)])
    metadata = json.loads((tmp_path / "backup" / "training_metadata.json").read_text())
    assert metadata["epoch"] == 3 and metadata["batch"] == 0
    if not same_model:  # a new process: a fresh model and optimizer
        model = resumable_model()
    history = fit(model, train_data, [backup])
    assert history.epoch == [3, 4]
    for got, want in zip(model.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    assert model.optimizer.iterations == reference.optimizer.iterations == 25
    for key, value in reference.optimizer.state.items():
        np.testing.assert_array_equal(model.optimizer.state[key], value)
    assert not (tmp_path / "backup").exists()  # deleted at the end of a completed run


def test_without_restoring_the_generators_the_run_differs(tmp_path, train_data, monkeypatch):
    """The resume test above can fail: losing the generator states changes the result."""
    reference = resumable_model()
    fit(reference, train_data, [])
    monkeypatch.setattr(C, "_random_generators", lambda model: {})
    model = resumable_model()
    backup = C.BackupAndRestore(tmp_path / "backup")
    with pytest.raises(RuntimeError):
        fit(model, train_data, [backup, Interrupt(epoch=3)])
    resumed = resumable_model()
    fit(resumed, train_data, [backup])
    assert not all(np.array_equal(a, b) for a, b in
                   zip(resumed.get_weights(), reference.get_weights(), strict=True))


def test_backup_files_and_keeping_them(tmp_path, train_data):
    backup = C.BackupAndRestore(tmp_path / "b", delete_checkpoint=False)
    fit(resumable_model(), train_data, [backup], epochs=2)
    assert sorted(os.listdir(tmp_path / "b")) == ["latest.npz", "training_metadata.json"]
    metadata = json.loads((tmp_path / "b" / "training_metadata.json").read_text())
    assert metadata["epoch"] == 2
    assert set(metadata["rng"]) == {"model/rng", "model/shuffle_rng", "dropout/rng"}
    # A finished backup left in place: the next fit starts at its epoch (and runs none of 2).
    history = fit(resumable_model(), train_data, [backup], epochs=2)
    assert history.epoch == []


def test_on_train_begin_restores_state_and_sets_initial_epoch(tmp_path):
    model = resumable_model()
    backup = C.BackupAndRestore(tmp_path)
    backup.set_model(model)
    model._initial_epoch = None
    backup.on_train_begin()
    assert model._initial_epoch is None  # nothing to restore
    mark_weights(model, 7.0)
    model.optimizer.iterations = 12
    model.optimizer.state = {"dense/kernel/m": np.ones((4, 5), np.float32)}
    model.optimizer.learning_rate = 0.5
    backup.on_epoch_end(4)
    fresh = resumable_model()
    backup.set_model(fresh)
    backup.on_train_begin()
    assert fresh._initial_epoch == 5
    assert all(np.all(w == 7.0) for w in fresh.get_weights())
    assert fresh.optimizer.iterations == 12 and fresh.optimizer.learning_rate == 0.5
    np.testing.assert_array_equal(fresh.optimizer.state["dense/kernel/m"], np.ones((4, 5)))
    assert fresh.shuffle_rng.random() == model.shuffle_rng.random()


def test_double_checkpoint_falls_back_to_the_previous_backup(tmp_path):
    model = resumable_model()
    backup = C.BackupAndRestore(tmp_path, double_checkpoint=True)
    backup.set_model(model)
    mark_weights(model, 1.0)
    backup.on_epoch_end(0)
    mark_weights(model, 2.0)
    backup.on_epoch_end(1)
    assert sorted(os.listdir(tmp_path)) == ["latest.npz", "latest.npz.bkp",
                                            "training_metadata.json",
                                            "training_metadata.json.bkp"]
    (tmp_path / "latest.npz").write_bytes(b"corrupt")
    fresh = resumable_model()
    backup.set_model(fresh)
    backup.on_train_begin()
    assert fresh._initial_epoch == 1 and all(np.all(w == 1.0) for w in fresh.get_weights())


def test_backup_save_freq_in_batches(tmp_path):
    model = resumable_model()
    backup = C.BackupAndRestore(tmp_path, save_freq=2, delete_checkpoint=False)
    drive(backup, model, [{"loss": 1.0}] * 2, batches=3)
    # Saved after epoch 0 batch 1, epoch 1 batch 0, epoch 1 batch 2; the epoch named is the
    # one running (restarted from its beginning on resume, as Keras does).
    metadata = json.loads((tmp_path / "training_metadata.json").read_text())
    assert (metadata["epoch"], metadata["batch"]) == (1, 2)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"backup_dir": ""}, ValueError, "BackupAndRestore: empty `backup_dir`"),
    ({"backup_dir": None}, ValueError, "empty"),
    ({"backup_dir": "b", "save_freq": "batch"}, ValueError, "save_freq"),
    ({"backup_dir": "b", "delete_checkpoint": "no"}, ValueError, "delete_checkpoint"),
    ({"backup_dir": 3}, TypeError, "BackupAndRestore: expected backup_dir to be a path"),
])
def test_backup_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        C.BackupAndRestore(**kwargs)


def test_no_warnings_on_a_normal_run(train_data):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit(resumable_model(), train_data,
            [C.EarlyStopping(patience=1), C.ReduceLROnPlateau(patience=1)], epochs=2)
