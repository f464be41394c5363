"""A scratchnet run (sn.callbacks.TensorBoard) and a Keras run (keras.callbacks.TensorBoard) sit
under one --logdir: same folders, same tags, same steps, and (same weights, same batches) the
same values."""

import os

import numpy as np
import pytest

import scratchnet as sn

pytest.importorskip("tensorflow")
pytest.importorskip("tensorboard")
import keras  # noqa: E402
from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer  # noqa: E402
from tensorboard.util import tensor_util  # noqa: E402

from tfnet.export import as_keras  # noqa: E402


def test_scratchnet_and_keras_runs_share_a_logdir(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(24, 5)).astype(np.float32), rng.integers(0, 3, 24)
    xv, yv = rng.normal(size=(10, 5)).astype(np.float32), rng.integers(0, 3, 10)
    model = sn.Sequential([sn.layers.Input((5,)), sn.layers.Dense(8, activation="relu"),
                           sn.layers.Dense(3, activation="softmax")], seed=0)
    kmodel = as_keras(model)  # same architecture and weights
    model.compile(optimizer=sn.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    kmodel.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy",
                   metrics=["accuracy"], jit_compile=False)
    fit_args = dict(batch_size=8, epochs=3, validation_data=(xv, yv), shuffle=False, verbose=0)
    model.fit(x, y, callbacks=[sn.callbacks.TensorBoard(tmp_path / "scratch", histogram_freq=1)],
              **fit_args)
    kmodel.fit(x, y, callbacks=[keras.callbacks.TensorBoard(str(tmp_path / "keras"),
                                                            histogram_freq=1)], **fit_args)

    # What `tensorboard --logdir tmp_path` sees: four runs.
    mux = EventMultiplexer(size_guidance={"tensors": 0}).AddRunsFromDirectory(str(tmp_path))
    mux.Reload()
    runs = sorted(mux.Runs())
    assert runs == [os.path.join(a, b) for a in ("keras", "scratch") for b in ("train", "validation")]
    for split in ("train", "validation"):
        ours = set(mux.GetAccumulator(os.path.join("scratch", split)).Tags()["tensors"])
        theirs = set(mux.GetAccumulator(os.path.join("keras", split)).Tags()["tensors"])
        assert ours == theirs - {"keras"}  # "keras" is Keras' model-graph panel
        for tag in sorted(t for t in ours if t.startswith("epoch_")):
            a = mux.Tensors(os.path.join("scratch", split), tag)
            b = mux.Tensors(os.path.join("keras", split), tag)
            assert [e.step for e in a] == [e.step for e in b] == [0, 1, 2]
            # 9 SGD steps in float32 on both sides: ~1e-5 relative on the logged loss
            np.testing.assert_allclose([tensor_util.make_ndarray(e.tensor_proto) for e in a],
                                       [tensor_util.make_ndarray(e.tensor_proto) for e in b],
                                       rtol=1e-5, err_msg=f"{split}/{tag}")
