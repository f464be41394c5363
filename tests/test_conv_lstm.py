"""ConvLSTM1D, ConvLSTM2D and ConvLSTM3D (scratchnet/layers/conv_lstm.py): backpropagation through time of
the convolutions against float64 finite differences (tests/gradcheck.py, REL_TOL 1e-6) for each
padding, strides, dilation, masks and initial states; shapes; the errors a user meets."""

import numpy as np
import pytest

import scratchnet as sn
from tests.gradcheck import REL_TOL, check_layer, numeric_grad, rel_error

L = sn.layers


@pytest.fixture
def float64():
    sn.config.set_floatx("float64")
    yield
    sn.config.set_floatx("float32")


class _Masked(sn.layers.Layer):
    def __init__(self, inner, mask):
        super().__init__()
        self.inner, self.mask = inner, mask

    def build(self, input_shape, rng):
        shape = self.inner.ensure_built(input_shape, rng)
        self.params = dict(self.inner.params)
        return shape

    def forward(self, x, training=False):
        return self.inner.forward(x, training=training, mask=self.mask)

    def backward(self, dy):
        return self.inner.backward(dy)


def _random_weights(layer, rng):
    for p in layer.weights:
        p.value[...] = rng.standard_normal(p.value.shape) * 0.4


@pytest.mark.parametrize("kwargs", [dict(), dict(padding="same", strides=2), dict(dilation_rate=2),
                                    dict(padding="same", return_sequences=True, go_backwards=True)])
@pytest.mark.parametrize("rank", [1, 2])
def test_conv_lstm_matches_finite_differences(rank, kwargs, float64):
    rng = np.random.default_rng(0)
    shape = (3, 5) + ((5,) if rank == 2 else ()) + (2,)
    layer = getattr(L, f"ConvLSTM{rank}D")(2, 3, **kwargs)
    x = rng.standard_normal((2, *shape))
    layer.ensure_built(shape, rng)
    _random_weights(layer, rng)
    check_layer(layer, x, rng)


@pytest.mark.parametrize("kwargs", [dict(), dict(padding="same", strides=2), dict(dilation_rate=2),
                                    dict(padding="same", return_sequences=True, go_backwards=True)])
def test_conv_lstm3d_matches_finite_differences(kwargs, float64):
    rng = np.random.default_rng(5)
    shape = (2, 3, 3, 3, 1)  # (T, D, H, W, C): the volume kernels, kept small
    layer = L.ConvLSTM3D(2, 2, **kwargs)
    x = rng.standard_normal((2, *shape))
    layer.ensure_built(shape, rng)
    _random_weights(layer, rng)
    check_layer(layer, x, rng)


def test_conv_lstm3d_shapes_weights_config_and_summary():
    model = sn.Sequential([L.Input((3, 5, 4, 3, 2)), L.ConvLSTM3D(3, (2, 3, 1), strides=(2, 1, 1),
                                                                  padding="same")])
    layer = model.layers[0]
    assert layer.output_shape == (3, 4, 3, 3)
    assert [p.value.shape for p in layer.weights] == [(2, 3, 1, 2, 12), (2, 3, 1, 3, 12), (12,)]
    np.testing.assert_array_equal(layer.weights[2].value, np.r_[np.zeros(3), np.ones(3), np.zeros(6)])
    assert model.count_params() == 2 * 3 * 2 * 12 + 2 * 3 * 3 * 12 + 12
    assert "conv_lstm3d (ConvLSTM3D)" in model.summary(print_fn=None)
    again = L.ConvLSTM3D(**layer.get_config())
    assert again.get_config() == layer.get_config()
    with pytest.raises(ValueError, match=r"expected ndim=6 \(batch, time, depth, rows, cols, channels\)"):
        sn.Sequential([L.Input((3, 5, 4, 2)), L.ConvLSTM3D(2, 2)])


def test_conv_lstm3d_npz_round_trip(tmp_path):
    model = sn.Sequential([L.Input((2, 3, 3, 3, 1)), L.ConvLSTM3D(2, 2), L.Flatten(), L.Dense(1)], seed=6)
    x = np.random.default_rng(7).standard_normal((2, 2, 3, 3, 3, 1)).astype(np.float32)
    model.save(tmp_path / "m.npz")
    np.testing.assert_array_equal(sn.load_model(tmp_path / "m.npz").predict(x, verbose=0),
                                  model.predict(x, verbose=0))


def test_a_mask_keeps_the_states_and_its_gradient_is_right(float64):
    rng = np.random.default_rng(1)
    mask = np.array([[True, True, False], [False, True, True]])
    layer = _Masked(L.ConvLSTM2D(2, 2, padding="same", return_sequences=True), mask)
    x = rng.standard_normal((2, 3, 4, 3, 2))
    layer.ensure_built(x.shape[1:], rng)
    _random_weights(layer.inner, rng)
    check_layer(layer, x, rng)
    y = layer.forward(x)
    np.testing.assert_array_equal(y[0, 2], y[0, 1])  # a padded step repeats the output before it
    np.testing.assert_array_equal(y[1, 0], 0.0)


def test_gradients_reach_the_initial_states(float64):
    rng = np.random.default_rng(2)
    layer = L.ConvLSTM1D(2, 3, padding="same", return_state=True)
    x = rng.standard_normal((2, 3, 5, 2))
    layer.ensure_built(x.shape[1:], rng)
    _random_weights(layer, rng)
    states = [rng.standard_normal((2, 5, 2)) for _ in range(2)]
    ws = [rng.standard_normal((2, 5, 2)) for _ in range(3)]

    def loss():
        return float(sum(np.sum(w * o) for w, o in zip(ws, layer.forward(x, initial_state=states),
                                                          strict=True)))

    layer.forward(x, initial_state=states)
    dx, *dstates = layer.backward(ws)
    assert rel_error(dx, numeric_grad(loss, x)) < REL_TOL
    for s, ds in zip(states, dstates, strict=True):
        assert rel_error(ds, numeric_grad(loss, s)) < REL_TOL


def test_shapes_weights_and_the_forget_gate_bias():
    model = sn.Sequential([L.Input((4, 9, 8, 3)), L.ConvLSTM2D(5, (3, 2), strides=(2, 1), padding="same",
                                                                return_sequences=True)])
    layer = model.layers[0]
    assert layer.output_shape == (4, 5, 8, 5)
    assert [p.value.shape for p in layer.weights] == [(3, 2, 3, 20), (3, 2, 5, 20), (20,)]
    np.testing.assert_array_equal(layer.weights[2].value, np.r_[np.zeros(5), np.ones(5), np.zeros(10)])
    assert [p.name for p in layer.weights][0] == "conv_lstm2d/conv_lstm_cell/kernel"
    assert model.count_params() == 3 * 2 * 3 * 20 + 3 * 2 * 5 * 20 + 20
    again = L.ConvLSTM2D(**layer.get_config())
    assert again.get_config() == layer.get_config()


def test_dropout_changes_training_only():
    x = np.random.default_rng(3).standard_normal((2, 3, 6, 2)).astype(np.float32)
    layer = L.ConvLSTM1D(2, 3, dropout=0.5, recurrent_dropout=0.5, seed=1)
    layer.ensure_built(x.shape[1:], np.random.default_rng(0))
    np.testing.assert_array_equal(layer.forward(x), layer.forward(x))
    assert not np.allclose(layer.forward(x, training=True), layer.forward(x))


@pytest.mark.parametrize("make, message", [
    (lambda: L.ConvLSTM2D(0, 3), "expected units to be a positive integer, received 0"),
    (lambda: L.ConvLSTM2D(2, 3, padding="causal"), "expected padding to be one of"),
    (lambda: L.ConvLSTM2D(2, 3, data_format="channels_first"), "data_format='channels_first' is not"),
    (lambda: L.ConvLSTM2D(2, 3, strides=2, dilation_rate=2), "strides > 1 not supported in conjunction"),
    (lambda: sn.Sequential([L.Input((3, 4, 2)), L.ConvLSTM2D(2, 3)]), r"expected .*\(batch, time, rows"),
    (lambda: sn.Sequential([L.Input((3, 2, 2)), L.ConvLSTM1D(2, 3)]), "does not fit frames of shape"),
])
def test_bad_arguments_and_shapes_are_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()
