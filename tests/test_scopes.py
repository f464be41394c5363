"""``sn.StatelessScope``, ``sn.SymbolicScope`` and ``Layer.stateless_call`` (scratchnet/scopes.py):
inside a stateless scope variables read their mapped values and ``assign`` changes no variable;
leaving it gives every variable its own values back."""

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.scopes import get_stateless_scope, in_stateless_scope, in_symbolic_scope

L = sn.layers


def test_a_mapped_variable_reads_its_mapped_value_and_assign_goes_to_the_scope():
    v = sn.Variable(np.arange(4, dtype=np.float32).reshape(2, 2))
    w = sn.Variable(np.ones(3, np.float32))
    original = v.numpy()
    with sn.StatelessScope(state_mapping=[(v, np.full((2, 2), 7.0))]) as scope:
        assert in_stateless_scope() and get_stateless_scope() is scope
        assert np.array_equal(np.asarray(v), np.full((2, 2), 7.0, np.float32))
        assert v.numpy().dtype == np.float32  # converted to the variable's dtype
        assert scope.get_current_value(w) is None  # neither mapped nor assigned
        v.assign(np.zeros((2, 2)))
        w.assign_add(np.ones(3))
        assert np.array_equal(v.numpy(), np.zeros((2, 2)))  # reads the scope's value
        assert np.array_equal(w.numpy(), np.full(3, 2.0))
    assert not in_stateless_scope()
    assert np.array_equal(v.numpy(), original) and np.array_equal(w.numpy(), np.ones(3))
    assert np.array_equal(scope.get_current_value(v), np.zeros((2, 2)))
    assert np.array_equal(scope.get_current_value(w), np.full(3, 2.0))


def test_the_mapped_value_is_a_copy_the_scope_owns():
    v = sn.Variable(np.zeros(3, np.float32))
    given = np.ones(3, np.float32)
    with sn.StatelessScope([(v, given)]):
        v.value[...] = 5.0  # an in-place update (BatchNormalization's way) changes the scope's
    assert np.array_equal(given, np.ones(3)) and np.array_equal(v.numpy(), np.zeros(3))


def test_nested_scopes_each_record_their_own_assignments():
    v = sn.Variable(np.zeros(2, np.float32))
    with sn.StatelessScope([(v, np.ones(2))]) as outer:
        with sn.StatelessScope() as inner:
            assert np.array_equal(v.numpy(), np.ones(2))  # the outer mapping shows through
            v.assign(np.full(2, 3.0))
            assert np.array_equal(v.numpy(), np.full(2, 3.0))
        assert get_stateless_scope() is outer
        assert np.array_equal(v.numpy(), np.ones(2))
        assert np.array_equal(inner.get_current_value(v), np.full(2, 3.0))
        assert np.array_equal(outer.get_current_value(v), np.ones(2))
    assert np.array_equal(v.numpy(), np.zeros(2))


def test_a_layer_computes_with_the_mapped_weights():
    layer = L.Dense(3)
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    layer(x)
    kernel, bias = np.full((5, 3), 0.5, np.float32), np.arange(3, dtype=np.float32)
    before = layer.get_weights()
    with sn.StatelessScope([(layer.kernel, kernel), (layer.bias, bias)]):
        y = layer(x)
    np.testing.assert_allclose(y, x @ kernel + bias, rtol=1e-6)
    for a, b in zip(before, layer.get_weights(), strict=True):
        assert np.array_equal(a, b)


def test_state_mapping_is_checked():
    v = sn.Variable(np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match="must be Variable instances"):
        sn.StatelessScope([(np.zeros(2), np.zeros(2))])
    with pytest.raises(ValueError, match=r"shape \(2, 2\).*shape \(3,\)"):
        sn.StatelessScope([(v, np.zeros(3))])
    with sn.StatelessScope(), pytest.raises(ValueError, match="must match"):
        v.assign(np.zeros(3))


def test_stateless_call_of_batch_normalization_returns_the_new_moving_statistics():
    x = np.random.default_rng(1).standard_normal((16, 3)).astype(np.float32) * 2 + 1
    layer, twin = L.BatchNormalization(), L.BatchNormalization()
    layer(x)
    twin(x)
    before = layer.get_weights()
    trainable = [np.full(3, 2.0, np.float32), np.full(3, -1.0, np.float32)]  # gamma, beta
    y, state = layer.stateless_call(trainable, [v.numpy() for v in layer.non_trainable_variables], x,
                                    training=True)
    for a, b in zip(before, layer.get_weights(), strict=True):
        assert np.array_equal(a, b)  # no weight of the layer moved
    twin.set_weights([trainable[0], trainable[1], *before[2:]])
    expected = twin(x, training=True)  # the same call, with its side effects
    np.testing.assert_array_equal(y, expected)
    for new, moved in zip(state, [twin.moving_mean, twin.moving_variance], strict=True):
        np.testing.assert_array_equal(new, moved.numpy())


def test_stateless_call_of_a_model():
    model = sn.Sequential([L.Input((4,)), L.Dense(3), L.Dense(2)], seed=0)
    x = np.ones((2, 4), np.float32)
    zeros = [np.zeros_like(w) for w in model.trainable_weights]
    y, state = model.stateless_call(zeros, [], x)
    assert np.array_equal(y, np.zeros((2, 2))) and state == []
    assert np.abs(model.predict(x, verbose=0)).sum() > 0


def test_stateless_call_checks_the_layer_and_the_lists():
    with pytest.raises(ValueError, match="must be built"):
        L.Dense(2).stateless_call([], [], np.ones((1, 2)))
    layer = L.Dense(2)
    layer(np.ones((1, 3), np.float32))
    with pytest.raises(ValueError, match="Received list with length 1, but expected 2"):
        layer.stateless_call([np.ones((3, 2))], [], np.ones((1, 3)))
    with pytest.raises(ValueError, match="`non_trainable_variables`"):
        layer.stateless_call([np.ones((3, 2)), np.ones(2)], [np.ones(2)], np.ones((1, 3)))


class Penalized(sn.Layer):
    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")

    def call(self, x):
        self.add_loss(sn.ops.sum(x * self.w))
        return x * self.w


def test_stateless_call_returns_the_losses_of_the_call():
    layer = Penalized()
    x = np.array([[1.0, 2.0]], np.float32)
    layer(x)
    y, _, losses = layer.stateless_call([np.full(2, 3.0, np.float32)], [], x, return_losses=True)
    np.testing.assert_array_equal(y, [[3.0, 6.0]])
    assert [float(loss) for loss in losses] == [9.0]


def test_symbolic_scope_is_what_in_symbolic_scope_reports():
    assert not in_symbolic_scope()
    with sn.SymbolicScope():
        assert in_symbolic_scope()
        with sn.SymbolicScope():
            assert in_symbolic_scope()
        assert in_symbolic_scope()
    assert not in_symbolic_scope()


class CountsCalls(sn.Layer):
    """Keras' pattern: a counter assigned in call, and a branch for the symbolic stage."""

    def build(self, input_shape):
        self.calls = self.add_weight(shape=(), initializer="zeros", trainable=False)
        self.scale = self.add_weight(shape=(), initializer="ones")

    def call(self, x):
        self.calls.assign_add(1.0)
        if in_symbolic_scope():
            return x * 0.0
        return x * self.scale


def test_the_trial_call_that_finds_the_output_shape_is_symbolic_and_stateless():
    layer = CountsCalls()
    y = layer(np.ones((2, 3), np.float32))  # built by a trial call first, then called
    assert np.array_equal(y, np.ones((2, 3)))
    assert float(layer.calls.numpy()) == 1.0  # the trial call's assign did not count
