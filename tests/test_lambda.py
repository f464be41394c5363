"""``sn.layers.Lambda`` and its gradient tape (scratchnet/autodiff.py): every recorded rule against
float64 finite differences (tests/gradcheck.py, REL_TOL 1e-6), and what a user meets around it:
inference runs any NumPy code, a first layer needs no tape, unknown operations and in-place
updates raise errors naming them, ``training``/``mask``/``arguments`` reach the function, and a
model holding one refuses to be saved (only its weights)."""

import numpy as np
import pytest

import scratchnet as sn
from tests.gradcheck import check_layer

L = sn.layers
W = np.random.default_rng(5).standard_normal((4, 3))  # a constant matrix for x @ W

# name -> (function, one sample's input shape). Inputs are standard normal + 0.3 (no value at a
# kink of abs, maximum, clip or where within the finite differences' step).
FUNCTIONS = {
    "add, multiply, power by a constant": (lambda x: x * 3.0 + x ** 2 - 1.5, (4,)),
    "divide either way": (lambda x: 1.0 / (2.0 + x * x) - x / 3.0, (4,)),
    "power, traced base and exponent": (lambda x: (x * x + 1.0) ** (x * 0.5), (4,)),
    "unary ufuncs": (lambda x: np.exp(x) + np.log(x * x + 1) + np.tanh(x) + np.sqrt(x * x + 1)
                     + np.sin(x) + np.cos(x) + np.log1p(x * x) + np.expm1(x) + abs(x) + -x + (+x)
                     + np.reciprocal(x * x + 1) + np.square(x), (4,)),
    "maximum and minimum": (lambda x: np.maximum(x, 0.1) + np.minimum(x, x * 0.5) + np.maximum(0.2, x),
                            (4,)),
    "matmul by a constant": (lambda x: x @ W, (4,)),
    "matmul of two traced": (lambda x: x @ np.swapaxes(x, -1, -2), (4, 3)),
    "indexing, a cell picked twice": (lambda x: x[:, ::2] * 2 + x[:, [0, 0, 1]].sum(axis=1, keepdims=True),
                                      (4,)),
    "expand_dims, squeeze, reshape": (
        lambda x: np.squeeze(np.expand_dims(x, -1) * 2.0, -1).reshape(len(x), -1), (2, 3)),
    "reductions kept": (lambda x: x.mean(axis=1, keepdims=True) * x + np.sum(x, axis=-1, keepdims=True)
                        + np.mean(x, axis=(1,), keepdims=True), (4,)),
    "reductions dropped, stack": (lambda x: np.stack([x.sum(axis=1), np.mean(x, 1), np.sum(x * x, axis=1)],
                                                     axis=1),
                                  (2, 3)),
    "concatenate": (lambda x: np.concatenate([x, x * x, np.ones_like(x)], axis=1), (3,)),
    "transpose three ways": (lambda x: np.transpose(x, (0, 2, 1)).reshape(len(x), -1)
                             + x.transpose(0, 2, 1).reshape(len(x), -1) + (x.T * 2).T.reshape(len(x), -1),
                             (2, 3)),
    "swapaxes": (lambda x: np.swapaxes(x, 1, 2) * 1.5, (2, 3)),
    "clip": (lambda x: np.clip(x, -0.5, 0.5) * 3 + np.clip(x, None, 0.0), (4,)),
    "where": (lambda x: np.where(x > 0, x * 2, x * x) + np.where(x < 0.5, 1.0, x), (4,)),
    "astype": (lambda x: x.astype(np.float64) * 2, (4,)),
    "broadcast traced": (lambda x: x[:, :1] * x + x[:1] * 0.5, (4,)),
    "a comparison is a constant": (lambda x: x * (x > 0) + np.sign(x) * x, (4,)),
}



@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_each_rule_of_the_tape_matches_finite_differences(name, float64):
    function, shape = FUNCTIONS[name]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3,) + shape) + 0.3
    check_layer(L.Lambda(function), x, rng)


def test_a_function_that_ignores_its_input_has_zero_gradient():
    layer = L.Lambda(lambda x: np.ones((len(x), 2), dtype=np.float32))
    layer.ensure_built((3,))
    layer.forward(np.ones((4, 3), np.float32))
    np.testing.assert_array_equal(layer.backward(np.ones((4, 2), np.float32)), np.zeros((4, 3)))


def _model(function, **kwargs):
    return sn.Sequential([L.Input((4,)), L.Dense(3), L.Lambda(function, **kwargs), L.Dense(1)], seed=0)


def _data(n=8):
    rng = np.random.default_rng(1)
    return rng.random((n, 4), dtype=np.float32), rng.random((n, 1), dtype=np.float32)


def test_the_course_pattern_trains_and_the_scale_reaches_the_gradient():
    # the time-series lessons end a model with Lambda(lambda x: x * 100.0)
    x, y = _data()
    plain = sn.Sequential([L.Input((4,)), L.Dense(3), L.Dense(1)], seed=0)
    scaled = sn.Sequential([L.Input((4,)), L.Dense(3), L.Dense(1), L.Lambda(lambda v: v * 100.0)], seed=0)
    scaled.set_weights(plain.get_weights())
    for model in (plain, scaled):
        model.compile("sgd", "mse")
    _, g_plain = plain.loss_and_grads(x, y / 100.0)
    _, g_scaled = scaled.loss_and_grads(x, y)
    # L_scaled = 100^2 * L_plain (targets scaled too): every gradient is 10^4 times the other
    for a, b in zip(g_scaled, g_plain, strict=True):
        np.testing.assert_allclose(a, 1e4 * b, rtol=1e-5)
    history = scaled.fit(x, y, epochs=2, verbose=0).history
    assert len(history["loss"]) == 2 and np.isfinite(history["loss"]).all()


def test_inference_runs_any_numpy_and_training_names_what_it_cannot_follow():
    model = _model(lambda v: np.sort(v, axis=1))
    model.compile("sgd", "mse")
    x, y = _data()
    assert model.predict(x, verbose=0).shape == (8, 1)
    model.evaluate(x, y, verbose=0)
    with pytest.raises(TypeError, match=r'Lambda "lambda": the function calls np.sort, which scratchnet '
                                        r"cannot differentiate; known: operators"):
        model.fit(x, y, epochs=1, verbose=0)


def test_a_first_layer_lambda_needs_no_tape():
    # nobody needs dL/dx of the input, so any NumPy code trains there (x / 255.0, np.sort, ...)
    model = sn.Sequential([L.Input((4,)), L.Lambda(lambda v: np.sort(v, axis=1) / 255.0), L.Dense(1)], seed=0)
    model.compile("sgd", "mse")
    x, y = _data()
    before = model.get_weights()
    model.fit(x, y, epochs=1, verbose=0)
    assert not np.array_equal(before[0], model.get_weights()[0])


@pytest.mark.parametrize("function, message", [
    (lambda v: np.asarray(v) * 2, "turned its traced input into a plain array"),
    (lambda v: float(v[0, 0]) * v, "turned its traced input into a plain array"),
    (lambda v: np.add.reduce(v, axis=1, keepdims=True) * v, r"np.add.reduce"),
    (lambda v: np.sinc(v), r"np.sinc, which scratchnet cannot differentiate"),
    (lambda v: np.diff(v, axis=1), r"np.diff, which scratchnet cannot differentiate"),
    (lambda v: np.sum(v, axis=1, keepdims=True, where=True) * v, r"np.sum with \['where'\]"),
    (lambda v: np.multiply(v, 2.0, where=v > 0), r"np.multiply with \['where'\]"),
])
def test_what_the_tape_cannot_follow_is_an_error_in_training(function, message):
    model = _model(function)
    model.compile("sgd", "mse")
    with pytest.raises(TypeError, match=message):
        model.fit(*_data(), epochs=1, verbose=0)


def test_an_in_place_update_makes_a_new_value_as_on_keras_tensors():
    """``v *= 2`` rebinds ``v`` to a new value (Keras' tensors are immutable): it trains as
    ``v = v * 2`` does, and in predict the previous layer's output is not written over."""
    def double(v):
        v *= 2
        return v

    def double_plainly(v):
        return v * 2

    x, y = _data()
    in_place, plain = _model(double), _model(double_plainly)
    for model in (in_place, plain):
        model.compile("sgd", "mse")
    history = in_place.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(history, plain.fit(x, y, epochs=2, batch_size=4, shuffle=False,
                                                  verbose=0).history["loss"], rtol=1e-6)
    inputs = sn.Input((4,))
    hidden = L.Dense(3)(inputs)
    skip = sn.Model(inputs, L.Add()([L.Lambda(double)(hidden), hidden]))
    dense = skip.layers[1]
    expected = 3 * (x @ dense.kernel.numpy() + dense.bias.numpy())
    np.testing.assert_allclose(skip.predict(x, verbose=0), expected, rtol=1e-5)


def test_an_out_argument_is_an_error_that_says_how_to_write_it():
    def double(v):
        np.multiply(v, 2, out=v)
        return v
    model = _model(double)
    model.compile("sgd", "mse")
    with pytest.raises(TypeError, match=r"in-place np.multiply.*not np.multiply\(x, 2, out=x\)"):
        model.fit(*_data(), epochs=1, verbose=0)


def test_training_mask_and_arguments_reach_the_function():
    seen = []

    def function(v, scale, training=None):
        seen.append(training)
        return v * scale
    model = _model(function, arguments={"scale": 3.0})
    model.compile("sgd", "mse")
    x, y = _data()
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    model.predict(x, verbose=0)
    assert seen[-2:] == [True, False]
    layer = L.Lambda(lambda v, mask=None: v if mask is None else v * mask[..., None])
    mask = np.array([[True, False]])
    y = layer.forward(np.ones((1, 2, 3), np.float32), mask=mask)
    np.testing.assert_array_equal(y[0, 1], 0.0)


def test_output_shape_given_as_a_shape_or_a_function_or_found():
    assert _model(lambda v: v * 2).layers[1].output_shape == (3,)
    found = sn.Sequential([L.Input((4,)), L.Lambda(lambda v: np.expand_dims(v, -1))])
    assert found.output_shape == (None, 4, 1)
    given = sn.Sequential([L.Input((4,)), L.Lambda(lambda v: v[:, :2], output_shape=(2,))])
    assert given.output_shape == (None, 2)
    by_function = sn.Sequential([L.Input((4,)),
                                 L.Lambda(lambda v: v[:, :2], output_shape=lambda s: (s[0], 2))])
    assert by_function.output_shape == (None, 2)
    with pytest.warns(UserWarning, match="input_shape"):  # Keras' course form, with its warning
        course = sn.Sequential([L.Lambda(lambda v: np.expand_dims(v, axis=-1), input_shape=[20])])
    assert course.output_shape == (None, 20, 1)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"function": 3}, TypeError, r'Lambda "lambda": expected function to be callable, received 3'),
    ({"function": abs, "arguments": [1]}, TypeError, r"expected arguments to be a dict"),
    ({"function": abs, "output_shape": (0,)}, ValueError, r"expected output_shape to be one sample's shape"),
])
def test_bad_arguments_are_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        L.Lambda(**kwargs)


def test_a_function_that_drops_the_batch_axis_is_an_error():
    with pytest.raises(ValueError, match=r'Lambda "lambda": the function must keep the batch axis first: '
                                         r"on a batch of shape \(2, 4\) it returned shape \(4,\)"):
        sn.Sequential([L.Input((4,)), L.Lambda(lambda v: v.sum(axis=0))])


@pytest.mark.parametrize("suffix", [".keras", ".npz", ".h5"])
def test_a_model_with_a_lambda_saves_its_weights_not_itself(tmp_path, suffix):
    model = _model(lambda v: v * 2)
    with pytest.raises(ValueError, match=r'holds Lambda layer "lambda" \(function '
                                         r"tests.test_lambda.*<lambda>\).*Save the weights instead"):
        model.save(tmp_path / f"m{suffix}")
    assert not (tmp_path / f"m{suffix}").exists()
    model.save_weights(tmp_path / "m.weights.h5")
    again = _model(lambda v: v * 2)
    again.load_weights(tmp_path / "m.weights.h5")
    x, _ = _data()
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
