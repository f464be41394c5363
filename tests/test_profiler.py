"""sn.profiler.Profiler: per-layer forward/backward time, shares, and its three outputs."""

import time

import numpy as np
import pytest

import scratchnet as sn


class Slow(sn.layers.Layer):
    """Identity whose forward sleeps 20 ms and backward 10 ms: a known bottleneck. It sleeps on
    the profiler's own clock, so under ``fake_clock`` its time is exact."""

    def forward(self, x, training=False):
        sn.profiler.time.sleep(0.02)
        return x

    def backward(self, dy):
        sn.profiler.time.sleep(0.01)
        return dy


class FakeTime:
    """A clock that moves only when read (1 us a reading, so every timed call is > 0) or when
    something sleeps on it: the profiler's figures become exact, whatever else the machine does."""

    TICK = 1e-6

    def __init__(self):
        self.now = 0.0

    def perf_counter(self):
        self.now += self.TICK
        return self.now

    def sleep(self, seconds):
        self.now += seconds


@pytest.fixture
def fake_clock(monkeypatch):
    clock = FakeTime()
    monkeypatch.setattr(sn.profiler, "time", clock)
    return clock


def model_with_slow_layer(strategy=None):
    layers = [sn.layers.Input((6,)), sn.layers.Dense(4, activation="relu"), Slow(),
              sn.layers.Dense(3, activation="softmax")]
    if strategy is None:
        model = sn.Sequential(layers, seed=0)
    else:
        with strategy.scope():
            model = sn.Sequential(layers, seed=0)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(8, 6)).astype("float32"), rng.integers(0, 3, 8)


def test_fit_callback_finds_the_bottleneck(data, fake_clock):
    x, y = data
    model = model_with_slow_layer()
    prof = sn.profiler.Profiler()
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, validation_data=(x, y), callbacks=[prof])
    rows = {r["name"]: r for r in prof.rows()}
    assert list(rows) == ["dense", "slow", "dense_1", "optimizer", "other"]
    assert prof.steps == 2
    # 2 steps: 40 ms forward, 20 ms backward (plus one clock tick a call). Validation forwards
    # (another 40 ms) are not counted: with them forward would read 80 ms.
    assert rows["slow"]["forward"] == pytest.approx(0.040, abs=1e-5)
    assert rows["slow"]["backward"] == pytest.approx(0.020, abs=1e-5)
    assert rows["dense_1"]["backward"] > 0  # timed through backward_preactivation (softmax + CE)
    assert rows["optimizer"]["total"] > 0
    assert sum(r["share"] for r in rows.values()) == pytest.approx(1.0)
    assert rows["slow"]["share"] > 0.5
    assert prof.bottleneck() == "slow"
    assert "bottleneck: slow" in prof.table()
    # detached after training: the layers run their own methods again
    assert all("forward" not in vars(layer) for layer in model.layers)


def test_nested_backward_is_counted_once(data):
    """Dense(softmax).backward calls backward_preactivation: one timed call, not two."""
    x, y = data
    model = model_with_slow_layer()
    with sn.profiler.Profiler(model) as prof:
        model.layers[-1].forward(np.ones((2, 4), np.float32), training=True)
        start = time.perf_counter()
        model.layers[-1].backward(np.ones((2, 3), np.float32))
        elapsed = time.perf_counter() - start
    assert 0 < prof.stats.seconds("dense_1", "backward") <= elapsed


def test_context_manager_table_plot_and_tensorboard(data, tmp_path):
    x, y = data
    model = model_with_slow_layer()
    with sn.profiler.Profiler(model) as prof:
        model.predict(x, batch_size=8)
    rows = {r["name"]: r for r in prof.rows()}
    assert rows["slow"]["forward"] >= 0.020 and rows["slow"]["backward"] == 0
    assert prof.table(markdown=True).splitlines()[0].startswith("| layer | forward ms")
    fig = prof.plot(tmp_path / "profile.png")
    assert (tmp_path / "profile.png").stat().st_size > 1000
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()][:3] == ["dense", "slow", "dense_1"]
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    prof.write_tensorboard(tmp_path / "tb")
    acc = EventAccumulator(str(tmp_path / "tb"), size_guidance={"tensors": 0})
    acc.Reload()
    tags = acc.Tags()["tensors"]
    assert "profile/table" in tags and "profile/slow/forward_ms" in tags
    share = acc.Tensors("profile/slow/share")[0].tensor_proto.float_val[0]
    assert share == pytest.approx(rows["slow"]["share"], rel=1e-6)


def test_profiler_under_mirrored_strategy_sums_replicas(data):
    x, y = data
    model = model_with_slow_layer(sn.distribute.MirroredStrategy(2))
    prof = sn.profiler.Profiler()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[prof])
    # one step, two replicas of 4 samples, each sleeping 20 ms forward: 40 ms summed
    assert prof.stats.seconds("slow", "forward") >= 0.040
    assert prof.bottleneck() == "slow"


def test_context_manager_needs_a_model():
    with pytest.raises(ValueError, match="needs the model"), sn.profiler.Profiler():
        pass
