"""``compile()`` with no loss, in both libraries (``K`` is ``keras`` or ``scratchnet``).

Keras' ``Trainer.compute_loss`` (``keras/src/trainers/trainer.py``) sums the compiled loss, when
there is one, and ``model.losses`` (the layers' ``add_loss`` terms and regularization penalties);
with no compiled loss the model trains on inputs alone, targets (if given) read by the metrics
only, and a step with no loss term at all raises ``ValueError("No loss to compute ...")``. Each
model starts from Keras' weights; losses and weights after a few steps compare at
TRAJECTORY_RTOL.
"""

import keras
import numpy as np
import pytest

import scratchnet as sn
from parity_tests.driver import TRAJECTORY_RTOL, assert_close

RNG = np.random.default_rng(11)
X = RNG.random((12, 5)).astype("float32")
Y = RNG.random((12, 3)).astype("float32")


def regularized_sequential(K):
    """A regularization-only model: its loss is the kernel's L2 penalty alone."""
    return K.Sequential([K.Input((5,)), K.layers.Dense(4, activation="tanh",
                                                       kernel_regularizer=K.regularizers.L2(0.1)),
                         K.layers.Dense(3, kernel_regularizer=K.regularizers.L1(0.05))])


def add_loss_layer(K):
    class MeanSquareLoss(K.layers.Layer):
        """Adds 0.5 * mean(x ** 2) of its input to the loss and passes the input on."""

        def call(self, inputs):
            self.add_loss(0.5 * K.ops.mean(K.ops.square(inputs)))
            return inputs
    return MeanSquareLoss


def functional_add_loss(K):
    inputs = K.Input((5,), name="x")
    hidden = K.layers.Dense(4, activation="relu", name="hidden")(inputs)
    hidden = add_loss_layer(K)(name="penalty")(hidden)
    return K.Model(inputs, [K.layers.Dense(3, name="a")(hidden), K.layers.Dense(2, name="b")(hidden)])


def subclassed_add_loss(K):
    class Small(K.Model):
        def __init__(self):
            super().__init__()
            self.dense = K.layers.Dense(4)
            self.penalty = add_loss_layer(K)()
            self.out = K.layers.Dense(3)

        def call(self, x):
            return self.out(self.penalty(self.dense(x)))
    model = Small()
    model(X[:2])  # built, so that the weights can be copied
    return model


BUILDERS = {"sequential, regularizers only": regularized_sequential,
            "functional, two outputs, add_loss": functional_add_loss,
            "subclassed, add_loss": subclassed_add_loss}


def twins(build):
    k = build(keras)
    s = build(sn)
    s.set_weights(k.get_weights())
    return s, k


@pytest.mark.parametrize("name", list(BUILDERS))
def test_fit_on_inputs_alone(name):
    s, k = twins(BUILDERS[name])
    for m, K in ((s, sn), (k, keras)):
        m.compile(optimizer=K.optimizers.SGD(0.1))
    hist = [m.fit(X, batch_size=4, epochs=2, shuffle=False, verbose=0).history for m in (s, k)]
    assert list(hist[0]) == list(hist[1]) == ["loss"]
    assert_close(hist[0]["loss"], hist[1]["loss"], TRAJECTORY_RTOL, "history['loss']")
    for ws, wk in zip(s.get_weights(), k.get_weights(), strict=True):
        assert_close(ws, wk, TRAJECTORY_RTOL, "weight after training")
    assert_close(s.evaluate(X, verbose=0), k.evaluate(X, verbose=0), TRAJECTORY_RTOL, "evaluate")
    assert_close(s.train_on_batch(X[:4]), k.train_on_batch(X[:4]), TRAJECTORY_RTOL, "train_on_batch")


def test_targets_go_to_the_metrics_only():
    """``fit(x, y)`` with no loss: the loss is the penalties alone, ``y`` feeds the metrics."""
    s, k = twins(regularized_sequential)
    for m, K in ((s, sn), (k, keras)):
        m.compile(optimizer=K.optimizers.SGD(0.1), metrics=["mae"])
    hist = [m.fit(X, Y, batch_size=4, epochs=2, shuffle=False, verbose=0).history for m in (s, k)]
    assert list(hist[0]) == list(hist[1]) == ["loss", "mae"]
    for key in hist[1]:
        assert_close(hist[0][key], hist[1][key], TRAJECTORY_RTOL, f"history[{key!r}]")
    logs = [m.evaluate(X, Y, verbose=0, return_dict=True) for m in (s, k)]
    for key in logs[1]:
        assert_close(logs[0][key], logs[1][key], TRAJECTORY_RTOL, f"evaluate[{key!r}]")


@pytest.mark.parametrize("K", [sn, keras], ids=["scratchnet", "keras"])
@pytest.mark.parametrize("with_y", [False, True])
def test_no_loss_term_at_all_is_refused(K, with_y):
    model = K.Sequential([K.Input((5,)), K.layers.Dense(3)])
    model.compile(optimizer="sgd")  # (compile itself takes it, as Keras does)
    with pytest.raises(ValueError, match="(?i)no loss to compute"):
        model.fit(X, Y if with_y else None, verbose=0)
    with pytest.raises(ValueError, match="(?i)no loss to compute"):
        model.evaluate(X, verbose=0)


@pytest.mark.parametrize("K", [sn, keras], ids=["scratchnet", "keras"])
def test_metrics_without_targets_are_refused(K):
    model = regularized_sequential(K)
    model.compile(optimizer="sgd", metrics=["mae"])
    with pytest.raises(ValueError):
        model.fit(X, verbose=0)


def test_saved_without_a_loss_loads_in_both(tmp_path):
    """Keras writes ``"loss": None`` in the compile config; each library loads the other's file
    compiled without a loss, and trains it on inputs alone."""
    s, k = twins(regularized_sequential)
    for m in (s, k):
        m.compile(optimizer="sgd")
    s.save(tmp_path / "s.keras")
    k.save(tmp_path / "k.keras")
    from_k = sn.models.load_model(tmp_path / "k.keras")
    from_s = keras.models.load_model(tmp_path / "s.keras")
    assert from_k.compiled and from_s.compiled
    hist = [m.fit(X, batch_size=4, shuffle=False, verbose=0).history["loss"] for m in (from_k, from_s)]
    assert_close(hist[0], hist[1], TRAJECTORY_RTOL, "loss of the loaded models")


def test_functional_saved_without_a_loss_round_trips(tmp_path):
    """A two-output functional model compiled without a loss: Keras' file loads in scratchnet,
    and scratchnet's own ``.keras`` and ``.npz`` files load back compiled the same way."""
    def build(K):  # (built-in layers only, so that each library reads the other's file)
        inputs = K.Input((5,), name="x")
        hidden = K.layers.Dense(4, activation="relu", name="hidden")(inputs)
        hidden = K.layers.ActivityRegularization(l2=0.1, name="penalty")(hidden)
        return K.Model(inputs, [K.layers.Dense(3, name="a", kernel_regularizer="l2")(hidden),
                                K.layers.Dense(2, name="b")(hidden)])

    s, k = twins(build)
    for m in (s, k):
        m.compile(optimizer="sgd")
    k.save(tmp_path / "k.keras")
    s.save(tmp_path / "s.keras")
    s.save(tmp_path / "s.npz")
    loaded = [sn.models.load_model(tmp_path / name) for name in ("k.keras", "s.keras", "s.npz")]
    expected = k.fit(X, batch_size=4, shuffle=False, verbose=0).history["loss"]
    for model in loaded:
        assert model.compiled
        loss = model.fit(X, batch_size=4, shuffle=False, verbose=0).history["loss"]
        assert_close(loss, expected, TRAJECTORY_RTOL, "loss of the loaded model")
