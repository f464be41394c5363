"""sn.distribute.MirroredStrategy: TF's split, TF's gradient combination, threads, equal to one
device for equal splits. (The comparison with Keras' MirroredStrategy is in parity_tests.)"""

import threading

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.distribute import replica_sizes


def make_model(strategy=None, optimizer="sgd", dropout=0.0):
    layers = [sn.layers.Input((6, 6, 1)), sn.layers.Conv2D(3, 3, activation="relu"),
              sn.layers.MaxPooling2D(), sn.layers.Flatten()]
    if dropout:
        layers.append(sn.layers.Dropout(dropout))
    layers.append(sn.layers.Dense(3, activation="softmax"))
    if strategy is None:
        model = sn.Sequential(layers, seed=1)
    else:
        with strategy.scope():
            model = sn.Sequential(layers, seed=1)
    opt = sn.optimizers.Adam(0.01) if optimizer == "adam" else sn.optimizers.SGD(0.5)
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(13, 6, 6, 1)).astype("float32"), rng.integers(0, 3, 13)


def single_device_grads(model, x, y):
    """d(mean loss)/dw of ``x, y`` on one device (a plain twin of ``model``)."""
    twin = make_model()
    twin.set_weights(model.get_weights())
    return twin.loss_and_grads(x, y)


def test_replica_sizes_follow_tensorflow():
    # Each replica takes ceil(B/R) in turn (checked against tf.distribute in parity_tests).
    assert replica_sizes(8, 2) == [4, 4]
    assert replica_sizes(5, 2) == [3, 2]
    assert replica_sizes(5, 4) == [2, 2, 1, 0]
    assert replica_sizes(4, 3) == [2, 2, 0]
    assert replica_sizes(1, 2) == [1, 0]
    assert replica_sizes(7, 1) == [7]


@pytest.mark.parametrize("num_replicas", [2, 4])
def test_equal_split_equals_single_device_training(data, num_replicas):
    x, y = data[0][:12], data[1][:12]
    single = make_model(optimizer="adam")
    mirrored = make_model(sn.distribute.MirroredStrategy(num_replicas), optimizer="adam")
    h1 = single.fit(x, y, batch_size=4, epochs=4, shuffle=False, verbose=0)
    h2 = mirrored.fit(x, y, batch_size=4, epochs=4, shuffle=False, verbose=0)
    # 12 Adam steps; float32 sums in another order: the ~1e-4 trajectory tolerance of PARITY.md
    for a, b in zip(single.get_weights(), mirrored.get_weights(), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(h2.history["loss"], h1.history["loss"], rtol=1e-5)
    assert h2.history["accuracy"] == h1.history["accuracy"]


def test_uneven_split_weights_each_replica_mean_equally(data):
    """Batch 5 on 2 replicas: grad = (mean-grad of 3 + mean-grad of 2) / 2, not the global mean."""
    x, y = data[0][:5], data[1][:5]
    model = make_model(sn.distribute.MirroredStrategy(2))
    loss, grads = model.loss_and_grads(x, y)
    _, g_first = single_device_grads(model, x[:3], y[:3])
    _, g_second = single_device_grads(model, x[3:], y[3:])
    global_loss, g_global = single_device_grads(model, x, y)
    for g, a, b, whole in zip(grads, g_first, g_second, g_global, strict=True):
        np.testing.assert_allclose(g, (a + b) / 2, rtol=1e-5, atol=1e-7)
        assert not np.allclose(g, whole, rtol=1e-3, atol=0)  # the difference is real
    # the reported loss is the plain mean over all 5 samples, as Keras logs it
    assert loss == pytest.approx(global_loss, rel=1e-6)


def test_empty_replica_still_counts(data):
    """Batch 5 on 4 replicas splits 2, 2, 1, 0; the empty replica adds nothing but the 1/4."""
    x, y = data[0][:5], data[1][:5]
    model = make_model(sn.distribute.MirroredStrategy(4))
    _, grads = model.loss_and_grads(x, y)
    parts = [single_device_grads(model, x[a:b], y[a:b])[1] for a, b in ((0, 2), (2, 4), (4, 5))]
    for i, g in enumerate(grads):
        np.testing.assert_allclose(g, sum(p[i] for p in parts) / 4, rtol=1e-5, atol=1e-7)


def test_partial_last_batch_in_fit(data):
    """13 samples, batch 6 on 2 replicas: steps of 3+3, 3+3, 1+0."""
    x, y = data
    mirrored = make_model(sn.distribute.MirroredStrategy(2))
    reference = make_model()
    mirrored.fit(x, y, batch_size=6, epochs=1, shuffle=False, verbose=0)
    opt = reference.optimizer
    for start in (0, 6, 12):
        xb, yb = x[start:start + 6], y[start:start + 6]
        sizes = replica_sizes(len(xb), 2)
        grads = [np.zeros_like(w) for w in reference.get_weights()]
        for r, n in enumerate(sizes):
            lo = sum(sizes[:r])
            if n:
                _, g = reference.loss_and_grads(xb[lo:lo + n], yb[lo:lo + n])
                grads = [acc + gi / 2 for acc, gi in zip(grads, g, strict=True)]
        for p, g in zip(reference.params, grads, strict=True):
            p.grad = g
        opt.apply(reference.params)
    for a, b in zip(reference.get_weights(), mirrored.get_weights(), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-7)


def test_replicas_run_in_threads_on_their_own_layers(data):
    x, y = data
    strategy = sn.distribute.MirroredStrategy(2)
    model = make_model(strategy)
    seen = []

    cls = type(model.layers[0])
    original, original_pooled = cls.forward, cls.forward_pooled  # (pooled: fused with the max-pool)

    def spy_forward(self, x, training=False):
        seen.append((threading.current_thread().name, id(self)))
        return original(self, x, training)

    def spy_forward_pooled(self, x, pool, **kwargs):
        seen.append((threading.current_thread().name, id(self)))
        return original_pooled(self, x, pool, **kwargs)

    cls.forward, cls.forward_pooled = spy_forward, spy_forward_pooled
    try:
        model.train_step(x[:8], y[:8])
    finally:
        cls.forward, cls.forward_pooled = original, original_pooled
    threads = {name for name, _ in seen}
    layer_ids = {i for _, i in seen}
    assert len(seen) == 2 and len(layer_ids) == 2 and id(model.layers[0]) not in layer_ids
    assert all(name.startswith("scratchnet-replica") for name in threads)
    strategy.close()


def test_replicas_follow_set_weights_and_updates(data):
    x, y = data
    model = make_model(sn.distribute.MirroredStrategy(2))
    model.train_step(x[:4], y[:4])  # replicas now exist
    new = [np.full_like(w, 0.01) for w in model.get_weights()]
    model.set_weights(new)
    loss, _ = model.loss_and_grads(x[:4], y[:4])
    assert loss == pytest.approx(single_device_grads(model, x[:4], y[:4])[0], rel=1e-6)


def test_dropout_is_repeatable_and_differs_per_replica(data):
    x, y = data[0][:12], data[1][:12]
    runs = []
    for _ in range(2):
        model = make_model(sn.distribute.MirroredStrategy(2), dropout=0.5)
        model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        runs.append(model.get_weights())
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a, b)
    model = make_model(sn.distribute.MirroredStrategy(2), dropout=0.5)
    replicas = model.distribute_strategy._replicas_of(model)
    masks = [r.layers[3].rng.random(5) for r in replicas]
    assert not np.array_equal(*masks)


def test_scope_sets_and_restores_the_current_strategy():
    outer, inner = sn.distribute.MirroredStrategy(2), sn.distribute.MirroredStrategy(3)
    assert sn.distribute.get_strategy() is None
    with outer.scope():
        with inner.scope():
            assert sn.distribute.get_strategy() is inner
        assert sn.distribute.get_strategy() is outer
        model = sn.Sequential([sn.layers.Dense(2)])
    assert sn.distribute.get_strategy() is None
    assert model.distribute_strategy is outer
    assert sn.Sequential([sn.layers.Dense(2)]).distribute_strategy is None
    assert outer.num_replicas_in_sync == 2


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_bad_num_replicas(bad):
    with pytest.raises(ValueError, match="num_replicas"):
        sn.distribute.MirroredStrategy(bad)


def test_a_dropped_model_frees_its_replicas(data):
    import gc

    x, y = data
    strategy = sn.distribute.MirroredStrategy(2)
    model = make_model(strategy)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert len(strategy._replicas) == 1
    del model
    gc.collect()
    assert len(strategy._replicas) == 0
