"""Keras' ``input_shape=`` / ``input_dim=`` on any layer, and Keras' rank fix for 1-D inputs.

The course's hello world, ``Sequential([Dense(units=1, input_shape=[1])])`` trained on 1-D
``xs``/``ys``, must build at once and train; its Keras comparison is in
parity_tests/test_fit_keras3.py.
"""

import warnings

import numpy as np
import pytest

import scratchnet as sn

L = sn.layers

# Every layer class with the arguments it needs, an input shape it accepts, and the output shape.
LAYERS = {
    "Dense": (lambda **kw: L.Dense(2, **kw), (3,), (2,)),
    "Conv2D": (lambda **kw: L.Conv2D(2, 3, **kw), (5, 5, 1), (3, 3, 2)),
    "MaxPooling2D": (lambda **kw: L.MaxPooling2D(**kw), (4, 4, 1), (2, 2, 1)),
    "Flatten": (lambda **kw: L.Flatten(**kw), (2, 3), (6,)),
    "Activation": (lambda **kw: L.Activation("relu", **kw), (3,), (3,)),
    "Softmax": (lambda **kw: L.Softmax(**kw), (3,), (3,)),
    "Dropout": (lambda **kw: L.Dropout(0.5, **kw), (3,), (3,)),
    "Embedding": (lambda **kw: L.Embedding(10, 4, **kw), (3,), (3, 4)),
    "CategoryEncoding": (lambda **kw: L.CategoryEncoding(5, **kw), (2,), (5,)),
    "IntegerLookup": (lambda **kw: L.IntegerLookup(vocabulary=[3, 4], **kw), (2,), (2,)),
    "StringLookup": (lambda **kw: L.StringLookup(vocabulary=["a"], **kw), (2,), (2,)),
    "PoincareNormalize": (lambda **kw: sn.addons.PoincareNormalize(**kw), (3,), (3,)),
}


def _quiet(make, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return make(**kwargs)


@pytest.mark.parametrize("name", list(LAYERS))
def test_every_layer_accepts_input_shape_and_builds_the_model_at_once(name):
    make, shape, out = LAYERS[name]
    model = sn.Sequential([_quiet(make, input_shape=shape)])
    assert model.built
    assert model.input_shape == (None, *shape)  # Keras' form: the batch axis first
    assert model.output_shape == (None, *out)


@pytest.mark.parametrize("name", list(LAYERS))
def test_every_layer_refuses_an_unknown_keyword_as_keras_does(name):
    make, _, _ = LAYERS[name]
    with pytest.raises(ValueError, match=r"Unrecognized keyword arguments passed to \w+: "
                                         r"\{'input_size': 3\}"):
        make(input_size=3)


def test_input_shape_warns_as_keras_does():
    with pytest.warns(UserWarning, match="Do not pass an `input_shape`/`input_dim` argument"):
        L.Dense(1, input_shape=[1])


def test_input_dim_means_a_one_axis_input_shape():
    model = sn.Sequential([_quiet(L.Dense, units=4, input_dim=3), L.Dense(2)])
    assert model.input_shape == (None, 3)
    assert [w.shape for w in model.get_weights()] == [(3, 4), (4,), (4, 2), (2,)]


def test_input_shape_of_a_later_layer_is_ignored_as_in_keras():
    model = sn.Sequential([L.Dense(2), _quiet(L.Dense, units=1, input_shape=(5,))])
    assert not model.built
    model.build((3,))
    assert model.input_shape == (None, 3)


def test_keras_defaults_for_dtype_and_trainable_are_accepted():
    layer = L.Dense(2, dtype="float32", trainable=True)
    assert layer.units == 2


def test_hello_world_one_sgd_step_by_hand():
    """``y = w x + b`` with w = 2, b = 0.5 on x = [1, 2], y = [3, 4] (1-D, as the course passes
    them): predictions [2.5, 4.5], errors [-0.5, 0.5], MSE 0.25; dL/dw = mean(2 e x) = 0.5,
    dL/db = mean(2 e) = 0; SGD(0.01): w = 1.995, b = 0.5."""
    model = sn.Sequential([_quiet(L.Dense, units=1, input_shape=[1])])
    model.compile(optimizer="sgd", loss="mean_squared_error")
    model.set_weights([np.array([[2.0]]), np.array([0.5])])
    history = model.fit(np.array([1.0, 2.0]), np.array([3.0, 4.0]), epochs=1, verbose=0)
    assert history.history["loss"] == [pytest.approx(0.25, rel=1e-6)]
    kernel, bias = model.get_weights()
    assert kernel[0, 0] == pytest.approx(1.995, rel=1e-6)
    assert bias[0] == pytest.approx(0.5, rel=1e-6)


def test_hello_world_course_code_learns_about_19():
    xs = np.array([-1.0, 0.0, 1.0, 2.0, 3.0, 4.0], dtype=float)
    ys = np.array([-3.0, -1.0, 1.0, 3.0, 5.0, 7.0], dtype=float)
    model = sn.Sequential([_quiet(L.Dense, units=1, input_shape=[1])], seed=0)
    model.compile(optimizer="sgd", loss="mean_squared_error")
    model.fit(xs, ys, epochs=500, verbose=0)
    prediction = model.predict(np.array([10.0]))
    assert prediction.shape == (1, 1)
    assert 18.9 < prediction[0, 0] < 19.0  # close to 2*10 - 1, but not exactly


def test_rank_fix_adds_or_drops_a_last_axis_of_one_only():
    model = sn.Sequential([_quiet(L.Dense, units=1, input_shape=[1])], seed=0)
    x = np.array([1.0, 2.0, 3.0])
    expected = model.predict(x[:, None])
    np.testing.assert_array_equal(model.predict(x), expected)  # (3,) -> (3, 1)
    np.testing.assert_array_equal(model.predict(x[:, None, None]), expected)  # (3, 1, 1) -> (3, 1)
    wide = sn.Sequential([_quiet(L.Dense, units=1, input_shape=[2])])
    with pytest.raises(ValueError, match=r"expected shape=\(None, 2\), found shape=\(3,\)"):
        wide.predict(x)


def test_targets_of_shape_n_for_an_n_by_1_output_train_like_n_by_1():
    x = np.linspace(-1, 1, 8)
    y = 3 * x - 1
    histories = []
    for targets in (y, y[:, None]):
        model = sn.Sequential([_quiet(L.Dense, units=1, input_shape=[1])], seed=0)
        model.compile(optimizer="sgd", loss="mse")
        histories.append(model.fit(x, targets, epochs=3, verbose=0).history["loss"])
    assert histories[0] == histories[1]


def test_a_model_built_from_input_shape_saves_and_loads(tmp_path):
    model = sn.Sequential([_quiet(L.Dense, units=2, input_shape=(3,)), L.Dense(1)], seed=0)
    model.save(tmp_path / "m.npz")
    loaded = sn.load_model(tmp_path / "m.npz")
    x = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
