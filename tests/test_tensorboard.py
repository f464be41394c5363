"""sn.callbacks.TensorBoard writes event files TensorBoard reads, with Keras' layout and tags."""

import os
import subprocess
import sys

import numpy as np
import pytest

import scratchnet as sn

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.util import tensor_util  # noqa: E402


def read_run(path):
    """{tag: [(step, value)]} of every tensor summary in one run folder."""
    acc = EventAccumulator(str(path), size_guidance={"tensors": 0})
    acc.Reload()
    return {tag: [(e.step, tensor_util.make_ndarray(e.tensor_proto)) for e in acc.Tensors(tag)]
            for tag in acc.Tags()["tensors"]}


def small_model():
    model = sn.Sequential([sn.layers.Input((4,)), sn.layers.Dense(5, activation="relu"),
                           sn.layers.Dense(3)], seed=0)
    model.compile(optimizer=sn.optimizers.SGD(0.05),
                  loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(20, 4)).astype("float32"), rng.integers(0, 3, 20)


def test_epoch_scalars_equal_history(tmp_path, data):
    x, y = data
    model = small_model()
    history = model.fit(x, y, batch_size=8, epochs=3, validation_data=(x[:6], y[:6]), verbose=0,
                        callbacks=[sn.callbacks.TensorBoard(tmp_path)])
    assert sorted(os.listdir(tmp_path)) == ["train", "validation"]
    train, val = read_run(tmp_path / "train"), read_run(tmp_path / "validation")
    for name in ("loss", "accuracy"):
        steps, values = zip(*train[f"epoch_{name}"], strict=True)
        assert steps == (0, 1, 2)  # step = epoch, 0-based, as Keras
        np.testing.assert_allclose(values, history.history[name], rtol=1e-6)  # float32 storage
        steps, values = zip(*val[f"epoch_{name}"], strict=True)
        assert steps == (0, 1, 2)
        np.testing.assert_allclose(values, history.history[f"val_{name}"], rtol=1e-6)
        # Keras also logs validation against optimizer iterations (3 batches per epoch)
        assert [s for s, _ in val[f"evaluation_{name}_vs_iterations"]] == [3, 6, 9]
    assert [float(v) for _, v in train["epoch_learning_rate"]] == pytest.approx([0.05] * 3)
    assert not any(tag.startswith("batch_") for tag in train)  # update_freq="epoch"


def test_batch_scalars_and_histograms(tmp_path, data):
    x, y = data
    model = small_model()
    seen = []
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False, callbacks=[
        sn.callbacks.TensorBoard(tmp_path, histogram_freq=1, update_freq=2),
        _Logger(seen)])
    train = read_run(tmp_path / "train")
    assert not (tmp_path / "validation").exists()  # no validation data, no folder
    # 6 global batches (1-based), every 2nd one logged, values = running logs of that batch
    assert [s for s, _ in train["batch_loss"]] == [2, 4, 6]
    np.testing.assert_allclose([v for _, v in train["batch_loss"]],
                               [seen[1], seen[3], seen[5]], rtol=1e-6)
    kernel = train["sequential/dense/kernel/histogram"]
    assert [s for s, _ in kernel] == [0, 1]
    buckets = kernel[-1][1]  # (buckets, 3): left edge, right edge, count
    assert buckets.shape[1] == 3 and buckets[:, 2].sum() == 4 * 5
    np.testing.assert_allclose(buckets[0, 0], model.layers[0].kernel.value.min(), rtol=1e-6)
    np.testing.assert_allclose(buckets[-1, 1], model.layers[0].kernel.value.max(), rtol=1e-6)


class _Logger(sn.callbacks.Callback):
    def __init__(self, seen):
        super().__init__()
        self.seen = seen

    def on_train_batch_end(self, batch, logs=None):
        self.seen.append(logs["loss"])


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="update_freq"):
        sn.callbacks.TensorBoard("logs", update_freq="sometimes")
    with pytest.raises(ValueError, match="histogram_freq"):
        sn.callbacks.TensorBoard("logs", histogram_freq=-1)


def test_callback_needs_tensorboard_not_tensorflow(tmp_path):
    code = ("import sys, numpy as np, scratchnet as sn\n"
            "assert 'tensorboard' not in sys.modules\n"
            "m = sn.Sequential([sn.layers.Input((2,)), sn.layers.Dense(2)], seed=0)\n"
            "m.compile('sgd', sn.losses.SparseCategoricalCrossentropy(from_logits=True))\n"
            f"m.fit(np.ones((4, 2)), np.zeros(4, int), verbose=0, "
            f"callbacks=[sn.callbacks.TensorBoard({str(tmp_path)!r})])\n"
            "print('tensorboard' in sys.modules, 'tensorflow' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]
