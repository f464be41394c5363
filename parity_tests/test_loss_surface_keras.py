"""The loss of a subclassed model beyond the compiled loss, in both libraries (``K`` is ``keras`` or
``scratchnet``), against Keras 3.15:

- a model class's own ``compute_loss(x, y, y_pred, sample_weight)`` on a model with weight
  regularizers: Keras' default ``compute_loss`` (``keras/src/trainers/trainer.py``) adds
  ``self.losses``, so an override that calls ``super().compute_loss(...)`` or sums
  ``self.losses`` counts the penalties and one that does neither leaves them out; and an override
  on a model of several outputs (``y_pred`` a list or a dict);
- ``self.add_loss(term)`` of a per-sample term or a list of terms: Keras' ``Layer.add_loss`` keeps
  each tensor as given and ``Trainer._aggregate_additional_loss`` sums it (``ops.sum``);
- ``activity_regularizer`` on a layer whose ``call`` returns several tensors: Keras'
  ``Layer.__call__`` penalizes each, ``R(y_i) / batch size``.

Each model starts from Keras' weights; ``model.losses`` after one forward pass compare at
FORWARD_RTOL, the ``fit`` losses per epoch at GRAD_RTOL, the weights after it at TRAJECTORY_RTOL,
and ``evaluate`` after it at GRAD_RTOL.
"""

import keras
import numpy as np
import pytest

import scratchnet as sn
from parity_tests.driver import FORWARD_RTOL, GRAD_RTOL, TRAJECTORY_RTOL, assert_close

RNG = np.random.default_rng(21)
X = RNG.standard_normal((12, 5)).astype("float32")
Y = RNG.standard_normal((12, 3)).astype("float32")
Y2 = RNG.standard_normal((12, 2)).astype("float32")


def _regularized(K, loss_of):
    """A model whose two Dense layers carry weight regularizers; ``loss_of(model, x, y, y_pred,
    sample_weight)`` is its ``compute_loss``."""
    class Regularized(K.Model):
        def __init__(self):
            super().__init__()
            self.hidden = K.layers.Dense(4, activation="tanh", kernel_regularizer=K.regularizers.L2(0.1))
            self.out = K.layers.Dense(3, kernel_regularizer=K.regularizers.L1(0.05),
                                      bias_regularizer=K.regularizers.L2(0.2))

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            return loss_of(self, K, x, y, y_pred, sample_weight)

        def call(self, x):
            return self.out(self.hidden(x))
    return Regularized()


def _ignores_losses(model, K, x, y, y_pred, sample_weight):
    return K.ops.mean(K.ops.square(y_pred - y))


def _sums_losses(model, K, x, y, y_pred, sample_weight):
    return K.ops.mean(K.ops.square(y_pred - y)) + 0.5 * K.ops.sum(model.losses)


def _calls_super(model, K, x, y, y_pred, sample_weight):
    loss = super(type(model), model).compute_loss(x, y, y_pred, sample_weight)
    return loss + 0.1 * K.ops.mean(K.ops.abs(y_pred))


def _twins(build):
    models = []
    for K in (keras, sn):
        model = build(K)
        model(X[:2])  # built, so that the weights can be copied
        models.append(model)
    kmodel, smodel = models
    smodel.set_weights(kmodel.get_weights())
    return smodel, kmodel


def _fit_and_compare(smodel, kmodel, x, y, what, epochs=3):
    kh = kmodel.fit(x, y, epochs=epochs, batch_size=5, shuffle=False, verbose=0).history
    sh = smodel.fit(x, y, epochs=epochs, batch_size=5, shuffle=False, verbose=0).history
    assert list(sh) == list(kh)
    for key in kh:
        assert_close(sh[key], kh[key], GRAD_RTOL, f"{what}: {key} per epoch")
    for s, k in zip(smodel.get_weights(), kmodel.get_weights(), strict=True):
        assert_close(s, k, TRAJECTORY_RTOL, f"{what}: weights after fit")
    assert_close(smodel.evaluate(x, y, verbose=0), kmodel.evaluate(x, y, verbose=0), GRAD_RTOL,
                 f"{what}: evaluate")
    return sh


# ----------------------------------------------------------------- 1. compute_loss overrides
@pytest.mark.parametrize("loss_of, compiled", [(_ignores_losses, None), (_sums_losses, None),
                                               (_calls_super, "mse")],
                         ids=["ignores model.losses", "sums model.losses", "calls super"])
def test_an_override_on_a_regularized_model_trains_as_in_keras(loss_of, compiled):
    smodel, kmodel = _twins(lambda K: _regularized(K, loss_of))
    for model, K in ((smodel, sn), (kmodel, keras)):
        model.compile(optimizer=K.optimizers.SGD(0.1), loss=compiled)
    _fit_and_compare(smodel, kmodel, X, Y, loss_of.__name__)


def _added_terms(K, factor):
    """An activity penalty, an ``add_loss`` term in ``call`` and a kernel penalty; the override
    counts ``model.losses`` ``factor`` times (0: leaves them out; Keras then gives the terms no
    gradient, scratchnet seeds them with 0)."""
    class Added(K.Model):
        def __init__(self):
            super().__init__()
            self.hidden = K.layers.Dense(4, activation="tanh", activity_regularizer=K.regularizers.L2(0.1),
                                         kernel_regularizer=K.regularizers.L1(0.02))
            self.out = K.layers.Dense(3)

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):
            loss = K.ops.mean(K.ops.square(y_pred - y))
            return loss + factor * K.ops.sum(self.losses) if factor else loss

        def call(self, x):
            h = self.hidden(x)
            self.add_loss(0.2 * K.ops.mean(K.ops.abs(h)))
            return self.out(h)
    return Added()


@pytest.mark.parametrize("factor", [0.0, 0.5, 2.0])
def test_an_override_weighing_add_loss_and_activity_terms_trains_as_in_keras(factor):
    smodel, kmodel = _twins(lambda K: _added_terms(K, factor))
    for model, K in ((smodel, sn), (kmodel, keras)):
        model.compile(optimizer=K.optimizers.SGD(0.1))
    _fit_and_compare(smodel, kmodel, X, Y, f"model.losses times {factor}")


def _with_critic(K, functional_critic):
    """A second model called inside the override on a computed value, the prediction: its
    gradient reaches the student through the critic's input; the critic is tracked, so its
    weights train too, as Keras' tape sends them their gradient."""
    class Critic(K.Model):
        def __init__(self, critic):
            super().__init__()
            self.critic = critic
            self.student = K.Sequential([K.Input((5,)), K.layers.Dense(4, activation="tanh"),
                                         K.layers.Dense(3)], name="student")

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):
            return K.ops.mean(K.ops.square(y_pred - y)) + 0.1 * K.ops.mean(K.ops.square(self.critic(y_pred)))

        def call(self, x):
            return self.student(x)

    if functional_critic:
        inputs = K.Input((3,))
        hidden = K.layers.Dense(4, activation="relu")(inputs)
        critic = K.Model(inputs, K.layers.Dense(2)(K.layers.Concatenate()([inputs, hidden])), name="critic")
    else:
        critic = K.Sequential([K.Input((3,)), K.layers.Dense(4, activation="tanh"), K.layers.Dense(2)],
                              name="critic")
    return Critic(critic)


@pytest.mark.parametrize("functional_critic", [False, True], ids=["sequential", "functional"])
def test_a_model_called_on_the_prediction_inside_the_override_trains_as_in_keras(functional_critic):
    smodel, kmodel = _twins(lambda K: _with_critic(K, functional_critic))
    for model, K in ((smodel, sn), (kmodel, keras)):
        model.compile(optimizer=K.optimizers.SGD(0.1))
    _fit_and_compare(smodel, kmodel, X, Y, "a critic on y_pred")


def _two_outputs(K, as_dict, calls_super):
    class TwoHeads(K.Model):
        def __init__(self):
            super().__init__()
            self.hidden = K.layers.Dense(4, activation="relu", kernel_regularizer=K.regularizers.L2(0.05))
            self.a = K.layers.Dense(3)
            self.b = K.layers.Dense(2)

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):
            first, second = (y_pred["a"], y_pred["b"]) if as_dict else y_pred
            if calls_super:  # the compiled losses, weighted, plus model.losses
                return super().compute_loss(x, y, y_pred, sample_weight) + 0.1 * K.ops.mean(second)
            return (K.ops.mean(K.ops.square(first - y[0])) + 0.5 * K.ops.mean(K.ops.abs(second - y[1]))
                    + K.ops.sum(self.losses))

        def call(self, x):
            h = self.hidden(x)
            return {"a": self.a(h), "b": self.b(h)} if as_dict else [self.a(h), self.b(h)]
    return TwoHeads()


@pytest.mark.parametrize("as_dict, calls_super", [(False, False), (True, False), (True, True)],
                         ids=["list", "dict", "dict, calls super"])
def test_an_override_on_a_model_of_two_outputs_trains_as_in_keras(as_dict, calls_super):
    smodel, kmodel = _twins(lambda K: _two_outputs(K, as_dict, calls_super))
    for model, K in ((smodel, sn), (kmodel, keras)):
        if calls_super:
            model.compile(optimizer=K.optimizers.Adam(0.01), loss=["mse", "mae"], loss_weights=[1.0, 0.5])
        else:
            model.compile(optimizer=K.optimizers.Adam(0.01))
    _fit_and_compare(smodel, kmodel, X, [Y, Y2], "two outputs")


# ----------------------------------------------------------------- 2. add_loss of any shape
def _add_loss_model(K, kind):
    class Penalized(K.Model):
        def __init__(self):
            super().__init__()
            self.hidden = K.layers.Dense(4, activation="tanh")
            self.out = K.layers.Dense(3)

        def call(self, x):
            h = self.hidden(x)
            if kind == "per sample":  # shape (batch,): Keras sums it
                self.add_loss(0.05 * K.ops.sum(K.ops.square(h), axis=-1))
            elif kind == "per cell":  # shape (batch, 4)
                self.add_loss(0.02 * K.ops.abs(h))
            else:  # a list of two scalars
                self.add_loss([0.1 * K.ops.mean(K.ops.square(h)), 0.01 * K.ops.sum(h)])
            return self.out(h)
    return Penalized()


@pytest.mark.parametrize("kind", ["per sample", "per cell", "list"])
def test_add_loss_of_a_non_scalar_term_in_call_trains_as_in_keras(kind):
    smodel, kmodel = _twins(lambda K: _add_loss_model(K, kind))
    for model, K in ((smodel, sn), (kmodel, keras)):
        model.compile(optimizer=K.optimizers.SGD(0.1), loss="mse")
    smodel(X)
    kmodel(X)
    assert [np.shape(t) for t in smodel.losses] == [tuple(t.shape) for t in kmodel.losses]
    for s, k in zip(smodel.losses, kmodel.losses, strict=True):
        assert_close(s, k, FORWARD_RTOL, f"add_loss {kind}: model.losses")
    _fit_and_compare(smodel, kmodel, X, Y, f"add_loss {kind}")


def _layer_add_loss(K):
    class PerSample(K.layers.Layer):
        """A Keras-style layer with a weight of its own adding a per-sample term."""

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")

        def call(self, x):
            y = x * self.w
            self.add_loss(0.05 * K.ops.sum(K.ops.square(y), axis=-1))
            return y

    inputs = K.Input((5,))
    h = PerSample()(K.layers.Dense(5)(inputs))
    return K.Model(inputs, K.layers.Dense(3)(h))


def test_add_loss_of_a_per_sample_term_in_a_layer_trains_as_in_keras():
    k = _layer_add_loss(keras)
    s = _layer_add_loss(sn)
    s.set_weights(k.get_weights())
    for model, K in ((s, sn), (k, keras)):
        model.compile(optimizer=K.optimizers.SGD(0.05), loss="mse")
    _fit_and_compare(s, k, X, Y, "a layer's per-sample add_loss")


# ----------------------------------------------------------------- 3. several outputs penalized
def _split(K):
    class Split(K.layers.Layer):
        """A weighted Keras-style layer returning two tensors."""

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], 5), initializer="glorot_uniform")

        def call(self, x):
            h = K.ops.matmul(x, self.w)
            return K.ops.tanh(h[:, :3]), h[:, 3:] * 2.0
    return Split


def _activity_model(K):
    inputs = K.Input((5,))
    a, b = _split(K)(activity_regularizer=K.regularizers.L1L2(l1=0.01, l2=0.05))(inputs)
    return K.Model(inputs, [K.layers.Dense(3, name="a")(a), K.layers.Dense(2, name="b")(b)])


def test_an_activity_regularizer_on_a_layer_of_two_outputs_penalizes_each_as_in_keras():
    k = _activity_model(keras)
    s = _activity_model(sn)
    s.set_weights(k.get_weights())
    k(X)
    s(X)
    assert len(s.losses) == len(k.losses) == 2
    for sv, kv in zip(s.losses, k.losses, strict=True):
        assert_close(sv, kv, FORWARD_RTOL, "model.losses: one penalty per output")
    for model, K in ((s, sn), (k, keras)):
        model.compile(optimizer=K.optimizers.SGD(0.1), loss=["mse", "mse"])
    _fit_and_compare(s, k, X, [Y, Y2], "activity_regularizer on two outputs")


def _lstm_model(K):
    """``LSTM(return_state=True)``: the sequence output and both states penalized; the cell state
    reaches no output, so its gradient is the penalty's alone."""
    inputs = K.Input((4, 3))
    seq, h, _ = K.layers.LSTM(5, return_sequences=True, return_state=True, name="lstm",
                              activity_regularizer=K.regularizers.L2(0.02))(inputs)
    pooled = K.layers.GlobalAveragePooling1D(name="pool")(seq)
    return K.Model(inputs, [K.layers.Dense(3, name="a")(pooled), K.layers.Dense(2, name="b")(h)])


def test_an_activity_regularizer_on_an_lstm_with_its_states_penalizes_each_as_in_keras():
    x = RNG.standard_normal((12, 4, 3)).astype("float32")
    k = _lstm_model(keras)
    s = _lstm_model(sn)
    s.set_weights(k.get_weights())
    k(x)
    s(x)
    assert len(s.losses) == len(k.losses) == 3
    for sv, kv in zip(s.losses, k.losses, strict=True):
        assert_close(sv, kv, FORWARD_RTOL, "model.losses: output, h and c penalized")
    for model, K in ((s, sn), (k, keras)):
        model.compile(optimizer=K.optimizers.SGD(0.1), loss=["mse", "mse"])
    _fit_and_compare(s, k, x, [Y, Y2], "activity_regularizer on an LSTM with return_state")
