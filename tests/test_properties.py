"""Property-based: random valid configurations never crash; random invalid ones always raise
the documented error."""

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchnet as sn

L = sn.layers
FAST = settings(max_examples=40, deadline=None)


@st.composite
def conv_case(draw):
    k = draw(st.integers(1, 4))
    s = draw(st.integers(1, 3))
    d = 1 if s > 1 else draw(st.integers(1, 2))
    padding = draw(st.sampled_from(["valid", "same"]))
    e = (k - 1) * d + 1
    h = draw(st.integers(e if padding == "valid" else 1, 9))
    w = draw(st.integers(e if padding == "valid" else 1, 9))
    c = draw(st.integers(1, 3))
    n = draw(st.integers(1, 3))
    return dict(kernel_size=k, strides=s, dilation_rate=d, padding=padding), (n, h, w, c)


def _expected_out(n, k, s, d, padding):
    e = (k - 1) * d + 1
    return (n - e) // s + 1 if padding == "valid" else math.ceil(n / s)


@FAST
@given(conv_case(), st.integers(1, 4))
def test_valid_conv_configurations_run_forward_and_backward(case, filters):
    kwargs, shape = case
    model = sn.Sequential([L.Input(shape[1:]), L.Conv2D(filters, **kwargs), L.Flatten(), L.Dense(2)],
                          seed=0)
    model.compile(optimizer="sgd", loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(0).random(shape)
    out_h = _expected_out(shape[1], kwargs["kernel_size"], kwargs["strides"],
                          kwargs["dilation_rate"], kwargs["padding"])
    out_w = _expected_out(shape[2], kwargs["kernel_size"], kwargs["strides"],
                          kwargs["dilation_rate"], kwargs["padding"])
    assert model.layers[0].output_shape == (out_h, out_w, filters)
    loss, grads = model.loss_and_grads(x, np.zeros(shape[0], int))
    assert np.isfinite(loss) and all(np.all(np.isfinite(g)) for g in grads)


@FAST
@given(st.integers(1, 4), st.integers(1, 4), st.sampled_from(["valid", "same"]),
       st.integers(1, 8), st.integers(1, 8))
def test_valid_pool_configurations(pool, stride, padding, h, w):
    if padding == "valid" and (h < pool or w < pool):
        return
    layer = L.MaxPooling2D(pool, strides=stride, padding=padding)
    x = np.random.default_rng(1).integers(0, 3, size=(2, h, w, 2)).astype(np.float32)  # ties
    y = layer(x)
    assert y.shape == (2, _expected_out(h, pool, stride, 1, padding),
                       _expected_out(w, pool, stride, 1, padding), 2)
    dx = layer.backward(np.ones_like(y))
    assert dx.shape == x.shape and dx.sum() == y.size  # each window's gradient lands exactly once


@FAST
@given(st.lists(st.integers(1, 6), min_size=1, max_size=4),
       st.lists(st.integers(1, 6), min_size=1, max_size=4))
def test_wrong_input_shape_always_raises_the_documented_error(built_shape, given_shape):
    if built_shape == given_shape:
        return
    model = sn.Sequential([L.Input(tuple(built_shape)), L.Flatten(), L.Dense(2)], seed=0)
    # Keras' rank fix: one trailing axis of size 1 more, or one fewer where the model's last is 1.
    if given_shape == [*built_shape, 1] or (built_shape[-1] == 1 and given_shape == built_shape[:-1]):
        assert model.predict(np.zeros([2, *given_shape]), verbose=0).shape == (2, 2)
        return
    try:
        model.predict(np.zeros([2, *given_shape]))
    except ValueError as err:
        assert f"expected shape={(None, *built_shape)}" in str(err)
        assert f"found shape={(2, *given_shape)}" in str(err)
    else:
        raise AssertionError("no error for a wrong input shape")


@FAST
@given(st.one_of(st.integers(-5, 0), st.floats(allow_nan=True), st.text(max_size=3)))
def test_invalid_units_always_raise(units):
    try:
        L.Dense(units)
    except ValueError as err:
        assert "units" in str(err) and repr(units) in str(err)
    else:
        raise AssertionError(f"Dense({units!r}) was accepted")


@FAST
@given(st.integers(2, 5), st.lists(st.integers(-3, 8), min_size=1, max_size=6))
def test_labels_outside_range_always_raise(k, labels):
    loss = sn.losses.SparseCategoricalCrossentropy(from_logits=True)
    pred = np.zeros((len(labels), k))
    bad = [v for v in labels if not 0 <= v < k]
    try:
        loss(np.array(labels), pred)
    except ValueError as err:
        assert bad and f"label value of {bad[0]}" in str(err)
    else:
        assert not bad
