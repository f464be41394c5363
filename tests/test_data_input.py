"""What ``fit``/``evaluate``/``predict`` read and in which order (Keras 3.15's rules, see
scratchnet/data_adapters.py), sample and class weights, and the callback hooks around them.
The same runs against Keras are in parity_tests/test_fit_keras3.py."""

import warnings

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.data_adapters import class_weight_to_sample_weights

L = sn.layers


def _model(strategy=None, **compile_kwargs):
    def build():
        return sn.Sequential([L.Input((2,)), L.Dense(3, activation="softmax")], seed=0)

    if strategy is None:
        model = build()
    else:
        with strategy.scope():
            model = build()
    model.compile(optimizer=sn.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy",
                  **compile_kwargs)
    return model


def _batch(i, n=2):
    """Batch number ``i``: x filled with ``i`` so a recorder can tell which batch ran."""
    return np.full((n, 2), float(i), np.float32), np.array([i % 3] * n)


def _record_batches(model):
    """Wrap ``model.train_step`` to record the id (x[0, 0]) and size of every batch trained."""
    seen = []
    train_step = model.train_step

    def recording(x, y, sample_weight=None):
        seen.append((int(np.asarray(x)[0, 0]), len(x)))
        return train_step(x, y, sample_weight)

    model.train_step = recording
    return seen


def _count(n):
    for i in range(n):
        yield _batch(i)


def _endless():
    i = 0
    while True:
        yield _batch(i)
        i += 1


class Batches(sn.utils.PyDataset):
    def __init__(self, n=3, **kwargs):
        super().__init__(**kwargs)
        self.n = n
        self.calls = []

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return _batch(i)

    def on_epoch_begin(self):
        self.calls.append("begin")

    def on_epoch_end(self):
        self.calls.append("end")


# ------------------------------------------------------------------------------ steps and order
def test_generator_with_steps_per_epoch_continues_across_epochs():
    model = _model()
    seen = _record_batches(model)
    model.fit(_endless(), epochs=3, steps_per_epoch=2, verbose=0)
    assert [i for i, _ in seen] == [0, 1, 2, 3, 4, 5]


def test_arrays_with_steps_per_epoch_continue_then_run_out_as_keras():
    # 10 samples in batches of 2 = 5 batches; 2 steps per epoch: epoch 3 gets batch 4 alone and
    # Keras' warning; epoch 4 starts a new pass.
    x = np.repeat(np.arange(5, dtype=np.float32), 2)[:, None].repeat(2, axis=1)
    y = np.zeros(10, int)
    model = _model()
    seen = _record_batches(model)
    with pytest.warns(UserWarning, match="Your input ran out of data"):
        model.fit(x, y, batch_size=2, epochs=4, steps_per_epoch=2, shuffle=False, verbose=0)
    assert [i for i, _ in seen] == [0, 1, 2, 3, 4, 0, 1]


def test_steps_alone_sets_the_batch_size_to_ceil_n_over_steps():
    x, y = np.zeros((10, 2), np.float32), np.zeros(10, int)
    model = _model()
    seen = _record_batches(model)
    model.fit(x, y, steps_per_epoch=3, shuffle=False, verbose=0)
    assert [n for _, n in seen] == [4, 4, 2]


def test_shuffle_batch_shuffles_only_inside_each_batch():
    x = np.repeat(np.arange(6, dtype=np.float32), 2).reshape(6, 2)
    model = _model()
    seen = []
    train_step = model.train_step
    model.train_step = lambda xb, yb, wb=None: seen.append(list(xb[:, 0])) or train_step(xb, yb, wb)
    model.fit(x, np.zeros(6, int), batch_size=3, epochs=4, shuffle="batch", verbose=0)
    assert [sorted(b) for b in seen] == [[0, 1, 2], [3, 4, 5]] * 4
    assert any(b not in ([0, 1, 2], [3, 4, 5]) for b in seen)  # and it does shuffle


def test_batches_in_order_are_views_of_the_data_and_leave_it_unchanged():
    """Without shuffling (predict, evaluate, fit(shuffle=False)) a batch is a view of its rows,
    not a copy (256 images of 64x64x3 cost 0.75 ms to copy); the passes never write into it."""
    x = np.random.default_rng(0).random((10, 2)).astype(np.float32)
    y = np.arange(10) % 2
    before = x.copy()
    model = _model()
    seen = []
    train_step = model.train_step
    model.train_step = lambda xb, yb, wb=None: seen.append(xb) or train_step(xb, yb, wb)
    model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    assert [len(b) for b in seen] == [4, 4, 2] * 2 and all(np.shares_memory(b, x) for b in seen)
    seen.clear()
    model.fit(x, y, batch_size=4, shuffle=True, verbose=0)
    assert not any(np.shares_memory(b, x) for b in seen)  # a shuffled batch is gathered
    model.predict(x, batch_size=4, verbose=0)
    model.evaluate(x, y, batch_size=4, verbose=0)
    np.testing.assert_array_equal(x, before)


def test_finite_generator_ends_each_epoch_with_the_warning_and_replays_its_peeked_batches():
    model = _model()
    seen = _record_batches(model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(_count(5), epochs=3, verbose=0)
    assert [i for i, _ in seen] == [0, 1, 2, 3, 4, 0, 1, 0, 1]
    assert sum("ran out of data" in str(w.message) for w in caught) == 3
    assert len(history.history["loss"]) == 3


def test_pydataset_order_hooks_and_shuffle():
    data = Batches(3, workers=4, use_multiprocessing=False, max_queue_size=2)
    assert (data.workers, data.use_multiprocessing, data.max_queue_size) == (4, False, 2)
    model = _model()
    seen = _record_batches(model)
    model.fit(data, epochs=2, shuffle=False, verbose=0)
    assert [i for i, _ in seen] == [0, 1, 2, 0, 1, 2]
    # Keras resets its iterator before training: one on_epoch_end first.
    assert data.calls == ["end", "begin", "end", "begin", "end"]
    seen.clear()
    model.fit(Batches(5), epochs=2, shuffle=True, verbose=0)
    first, second = [i for i, _ in seen[:5]], [i for i, _ in seen[5:]]
    assert sorted(first) == sorted(second) == [0, 1, 2, 3, 4]
    assert first != second or first != [0, 1, 2, 3, 4]


def test_evaluate_and_predict_read_generators_and_pydatasets():
    model = _model()
    x = np.concatenate([_batch(i)[0] for i in range(3)])
    y = np.concatenate([_batch(i)[1] for i in range(3)])
    expected = model.evaluate(x, y, batch_size=2, verbose=0)
    assert model.evaluate(Batches(3), verbose=0) == pytest.approx(expected, rel=1e-6)
    with pytest.warns(UserWarning, match="ran out of data"):
        assert model.evaluate(_count(3), verbose=0) == pytest.approx(expected, rel=1e-6)
    assert model.evaluate(_endless(), steps=3, verbose=0) == pytest.approx(expected, rel=1e-6)
    np.testing.assert_array_equal(model.predict(Batches(3)), model.predict(x))
    np.testing.assert_array_equal(model.predict(((_batch(i)[0],) for i in range(3)), steps=3),
                                  model.predict(x))


def test_validation_freq_and_validation_steps():
    model = _model()
    x, y = _batch(0, n=8)
    counts = Recorder()
    history = model.fit(x, y, epochs=4, verbose=0, batch_size=4, callbacks=[counts],
                        validation_data=_endless(), validation_steps=3, validation_freq=2)
    assert len(history.history["val_loss"]) == 2
    assert [("val_loss" in logs) for logs in counts.epoch_logs] == [False, True, False, True]
    assert counts.events.count("on_test_batch_end") == 6  # 3 batches, twice
    model.fit(x, y, epochs=3, verbose=0, callbacks=[counts := Recorder()],
              validation_data=(x, y), validation_freq=[1, 3])
    assert [("val_loss" in logs) for logs in counts.epoch_logs] == [True, False, True]


def test_validation_split_takes_the_last_samples_with_their_weights():
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    y = np.arange(10) % 3
    w = np.linspace(0.5, 2.0, 10)
    a, b = _model(), _model()
    ha = a.fit(x, y, sample_weight=w, validation_split=0.3, shuffle=False, verbose=0)
    hb = b.fit(x[:7], y[:7], sample_weight=w[:7], validation_data=(x[7:], y[7:], w[7:]),
               shuffle=False, verbose=0)
    assert ha.history == hb.history


# ------------------------------------------------------------------------------ weights
def test_sample_weight_loss_is_sum_of_weighted_losses_over_n():
    model = _model()
    x, y = np.random.default_rng(0).normal(size=(4, 2)).astype(np.float32), np.array([0, 1, 2, 1])
    w = np.array([1.0, 0.0, 2.0, 0.5])
    per_sample = np.array([model.loss_and_grads(x[i:i + 1], y[i:i + 1])[0] for i in range(4)])
    loss, _ = model.loss_and_grads(x, y, sample_weight=w)
    assert loss == pytest.approx(np.sum(w * per_sample) / 4, rel=1e-6)  # / N, not / sum(w)


def test_integer_sample_weights_equal_repeating_samples_up_to_the_divisor():
    """With w = (2, 1, 3): sum(w l)/3 = (6/3) * mean over the repeated batch, and so is the
    gradient."""
    model = _model()
    x, y = np.random.default_rng(1).normal(size=(3, 2)).astype(np.float32), np.array([0, 2, 1])
    w = np.array([2, 1, 3])
    loss_w, grads_w = model.loss_and_grads(x, y, sample_weight=w)
    loss_r, grads_r = model.loss_and_grads(np.repeat(x, w, axis=0), np.repeat(y, w))
    assert loss_w == pytest.approx(2 * loss_r, rel=1e-6)
    for gw, gr in zip(grads_w, grads_r, strict=True):
        np.testing.assert_allclose(gw, 2 * gr, rtol=1e-5, atol=1e-7)


def test_sample_weight_of_shape_n_by_1_is_the_same_as_n():
    model = _model()
    x, y = _batch(1, n=4)
    w = np.array([1.0, 2.0, 3.0, 4.0])
    assert model.loss_and_grads(x, y, w)[0] == model.loss_and_grads(x, y, w[:, None])[0]


def test_class_weight_to_sample_weights_reads_ids_one_hot_and_columns():
    cw = {0: 0.5, 2: 3.0}
    expected = [0.5, 1.0, 3.0, 0.5]  # class 1 is missing: weight 1
    np.testing.assert_array_equal(class_weight_to_sample_weights(np.array([0, 1, 2, 0]), cw),
                                  expected)
    np.testing.assert_array_equal(class_weight_to_sample_weights(np.eye(3)[[0, 1, 2, 0]], cw),
                                  expected)
    np.testing.assert_array_equal(
        class_weight_to_sample_weights(np.array([[0.0], [1.0], [2.0], [0.2]]), cw), expected)


def test_class_weight_in_fit_equals_the_sample_weights_it_maps_to():
    x, y = np.random.default_rng(2).normal(size=(9, 2)).astype(np.float32), np.arange(9) % 3
    cw = {0: 2.0, 1: 0.5, 2: 1.0}
    a, b = _model(), _model()
    ha = a.fit(x, y, class_weight=cw, batch_size=4, shuffle=False, epochs=2, verbose=0)
    hb = b.fit(x, y, sample_weight=np.array([cw[c] for c in y]), batch_size=4, shuffle=False,
               epochs=2, verbose=0)
    assert ha.history == hb.history


def test_metrics_ignore_weights_and_weighted_metrics_use_them():
    model = _model(metrics=["accuracy"], weighted_metrics=["accuracy"])
    x, y = _batch(0, n=4)  # the model predicts one class for all four identical rows
    pred = model.predict(x).argmax(axis=-1)
    y = np.array([pred[0], pred[0], (pred[0] + 1) % 3, (pred[0] + 1) % 3])
    logs = model.evaluate(x, y, sample_weight=np.array([3.0, 1.0, 0.0, 0.0]), verbose=0,
                          return_dict=True)
    assert logs["accuracy"] == pytest.approx(0.5)
    assert logs["weighted_accuracy"] == pytest.approx(1.0)


def test_pydataset_batches_may_carry_sample_weights_and_get_class_weights():
    class Weighted(sn.utils.PyDataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            x, y = _batch(i)
            return x, y, np.array([2.0, 0.0])

    model = _model()
    loss = model.evaluate(Weighted(), verbose=0)
    x0, y0 = _batch(0)
    x1, y1 = _batch(1)
    expected = model.evaluate(np.concatenate([x0, x1]), np.concatenate([y0, y1]),
                              sample_weight=np.array([2.0, 0.0, 2.0, 0.0]), batch_size=2, verbose=0)
    assert loss == pytest.approx(expected, rel=1e-6)
    a, b = _model(), _model()
    ha = a.fit(Batches(3), class_weight={0: 2.0}, shuffle=False, verbose=0)
    xs = np.concatenate([_batch(i)[0] for i in range(3)])
    ys = np.concatenate([_batch(i)[1] for i in range(3)])
    hb = b.fit(xs, ys, class_weight={0: 2.0}, batch_size=2, shuffle=False, verbose=0)
    assert ha.history == hb.history


def test_mirrored_train_step_with_sample_weight_equals_one_device_on_equal_splits():
    x, y = np.random.default_rng(3).normal(size=(8, 2)).astype(np.float32), np.arange(8) % 3
    w = np.linspace(0.1, 2.0, 8)
    single = _model()
    mirrored = _model(sn.distribute.MirroredStrategy(2))
    loss_s, grads_s = single.loss_and_grads(x, y, sample_weight=w)
    loss_m, grads_m = mirrored.loss_and_grads(x, y, sample_weight=w)
    assert loss_m == pytest.approx(loss_s, rel=1e-6)
    for gs, gm in zip(grads_s, grads_m, strict=True):
        np.testing.assert_allclose(gm, gs, rtol=1e-5, atol=1e-7)


# ------------------------------------------------------------------------------ callbacks
class Recorder(sn.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.events, self.epoch_logs, self.params_seen = [], [], []

    def set_params(self, params):
        super().set_params(params)
        self.params_seen.append(dict(params))

    def __getattribute__(self, name):
        attr = super().__getattribute__(name)
        if name.startswith("on_") and callable(attr):
            def record(*args, **kwargs):
                self.events.append(name)
                if name == "on_epoch_end":
                    self.epoch_logs.append(dict(args[1] if len(args) > 1 else kwargs["logs"]))
                return attr(*args, **kwargs)
            return record
        return attr


def test_fit_calls_the_keras_hooks_in_keras_order():
    model = _model()
    x, y = _batch(0, n=4)
    recorder = Recorder()
    model.fit(x, y, batch_size=2, epochs=1, verbose=0, validation_data=(x, y), callbacks=[recorder])
    # The list Keras 3.15 records with this Recorder (checked): its base class's
    # on_train_batch_begin/end call the older on_batch_begin/end, which the Recorder sees too.
    assert recorder.events == [
        "on_train_begin", "on_epoch_begin",
        "on_train_batch_begin", "on_batch_begin", "on_train_batch_end", "on_batch_end",
        "on_train_batch_begin", "on_batch_begin", "on_train_batch_end", "on_batch_end",
        "on_test_begin", "on_test_batch_begin", "on_test_batch_end",
        "on_test_batch_begin", "on_test_batch_end", "on_test_end",
        "on_epoch_end", "on_train_end"]
    assert recorder.params_seen == [{"epochs": 1, "steps": 2, "verbose": 0}]
    assert "learning_rate" not in recorder.epoch_logs[0]  # Keras 3.15's fit does not add it


def test_a_finite_generator_announces_the_step_that_finds_it_empty_as_keras():
    model = _model()
    recorder = Recorder()
    with pytest.warns(UserWarning, match="ran out of data"):
        model.fit(_count(2), epochs=1, verbose=0, callbacks=[recorder])
    assert recorder.events.count("on_train_batch_begin") == 3
    assert recorder.events.count("on_train_batch_end") == 2
    assert recorder.params_seen == [{"epochs": 1, "steps": None, "verbose": 0}]


def test_evaluate_and_predict_take_callbacks():
    model = _model()
    x, y = _batch(0, n=3)
    recorder = Recorder()
    model.evaluate(x, y, batch_size=2, verbose=0, callbacks=[recorder])
    model.predict(x, batch_size=2, callbacks=[recorder])
    assert recorder.events == [
        "on_test_begin", "on_test_batch_begin", "on_test_batch_end", "on_test_batch_begin",
        "on_test_batch_end", "on_test_end",
        "on_predict_begin", "on_predict_batch_begin", "on_predict_batch_end",
        "on_predict_batch_begin", "on_predict_batch_end", "on_predict_end"]


def test_a_callback_can_resume_training_from_an_epoch():
    class Resume(sn.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.model._initial_epoch = 2

    model = _model()
    x, y = _batch(0, n=4)
    history = model.fit(x, y, epochs=5, verbose=0, callbacks=[Resume()])
    assert history.epoch == [2, 3, 4]
    assert model.fit(x, y, epochs=2, verbose=0).epoch == [0, 1]  # not carried to the next fit


def test_a_callback_can_stop_evaluate_and_predict_early():
    class StopAfterOne(sn.callbacks.Callback):
        def on_test_batch_end(self, batch, logs=None):
            self.model.stop_evaluating = True

        def on_predict_batch_end(self, batch, logs=None):
            self.model.stop_predicting = True

    model = _model()
    x, y = _batch(0, n=6)
    assert model.predict(x, batch_size=2, callbacks=[StopAfterOne()]).shape == (2, 3)
    first = model.evaluate(x[:2], y[:2], verbose=0)
    assert model.evaluate(x, y, batch_size=2, verbose=0, callbacks=[StopAfterOne()]) == first
