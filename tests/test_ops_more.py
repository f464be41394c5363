"""More of ``keras.ops`` in ``sn.ops`` (scratchnet/ops.py) without Keras: every differentiable one's
tape gradient against float64 finite differences (tests/gradcheck.py, REL_TOL 1e-6), the ops on
KerasTensors in functional models (one tensor: a Lambda; several: an OpLayer; several results:
one layer each), their errors, and ``sn.random``'s seeding, shapes, dtypes and moments. Values
and gradients against Keras: parity_tests/test_ops_more_keras.py."""

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.autodiff import Tape
from scratchnet.layers.op_layer import OpLayer
from tests.gradcheck import REL_TOL, numeric_grad, rel_error

O = sn.ops
R = np.random.default_rng(3)
C = R.normal(size=(3, 4))  # a constant operand
P = np.abs(R.normal(size=(3, 4))) + 0.5
I = np.array([[1, 0, 3], [2, 2, 0]])
K = R.normal(size=(1, 5, 1, 4))
MASK = R.uniform(size=(1, 1, 3, 5)) > 0.3

# f(x) for x of shape (3, 4), float64; smooth at a random x
FUNCTIONS = {
    "max": lambda x: O.max(x, axis=1),
    "min": lambda x: O.min(x, axis=0, keepdims=True),
    "amax": lambda x: O.amax(x),
    "amin": lambda x: O.amin(x, axis=(0, 1)),
    "std": lambda x: O.std(x, axis=1),
    "var": lambda x: O.var(x),
    "logsumexp": lambda x: O.logsumexp(x * 3, axis=0),
    "cumsum": lambda x: O.cumsum(x, axis=1),
    "cumsum_flat": lambda x: O.cumsum(x),
    "cumprod": lambda x: O.cumprod(x, axis=0),
    "prod": lambda x: O.prod(x, axis=1),
    "prod_all": lambda x: O.prod(x),
    "take": lambda x: O.take(x, I, axis=1),
    "take_flat": lambda x: O.take(x, I),
    "take_along_axis": lambda x: O.take_along_axis(x, np.array([[0, 0, 3]]), axis=1),
    "top_k": lambda x: O.top_k(x, 2)[0],
    "sort": lambda x: O.sort(x, axis=0),
    "slice": lambda x: O.slice(x, (1, 1), (2, -1)),
    "get_item": lambda x: O.get_item(x, (slice(None), [1, 1])),
    "split": lambda x: O.split(x, [1], axis=1)[1] * 2.0,
    "unstack": lambda x: O.unstack(x, axis=0)[1] * O.unstack(x, axis=0)[2],
    "tile": lambda x: O.tile(x, (2, 1, 3)),
    "repeat": lambda x: O.repeat(x, 3, axis=1),
    "repeat_list": lambda x: O.repeat(x, [2, 0, 1], axis=0),
    "flip": lambda x: O.flip(x) * C,
    "roll": lambda x: O.roll(x, (1, -1), axis=(0, 1)) * C,
    "pad": lambda x: O.pad(x, ((1, 2), (0, 1)), constant_values=1.0),
    "pad_reflect": lambda x: O.pad(x, ((2, 1), (1, 2)), mode="reflect"),
    "pad_symmetric": lambda x: O.pad(x, ((2, 1), (1, 2)), mode="symmetric"),
    "moveaxis": lambda x: O.moveaxis(O.reshape(x, (3, 2, 2)), 0, -1),
    "tril_triu": lambda x: O.tril(x, k=1) * C + O.triu(x, -1),
    "diag": lambda x: O.diag(x, k=1),
    "diag_make": lambda x: O.diag(x[0], k=-1),
    "trace": lambda x: O.trace(x, offset=1),
    "select": lambda x: O.select([C > 0.5, C < -0.5], [x, x * x], default=C),
    "vstack_hstack_append": lambda x: O.vstack([x, C]) * 2 + O.hstack([C, x, x]).sum() + O.append(x, C).sum(),
    "rot90": lambda x: O.rot90(x) * O.rot90(C),
    "rot90_k2": lambda x: O.rot90(x, 2) * C,
    "rot90_k3": lambda x: O.rot90(x, 3) * O.rot90(C, 3),
    "einsum": lambda x: O.einsum("ij,kj->ik", x, x),
    "einsum_only_here": lambda x: O.einsum("ij,k->ik", x, C[0]),
    "einsum_ellipsis": lambda x: O.einsum("...j,kj->...k", x, C),
    "einsum_implicit": lambda x: O.einsum("ij,jk", x, C.T),
    "tensordot": lambda x: O.tensordot(x, C, axes=([1], [1])),
    "dot": lambda x: O.dot(x, C.T),
    "outer": lambda x: O.outer(x[0], x[1]),
    "inner": lambda x: O.inner(x, x),
    "norm": lambda x: O.norm(x, axis=1),
    "norm_all": lambda x: O.norm(x),
    "norm_1": lambda x: O.norm(x, ord=1, axis=0),
    "norm_inf": lambda x: O.norm(x, ord=np.inf, axis=(0, 1)),
    "norm_3": lambda x: O.norm(x, ord=3, axis=1),
    "normalize": lambda x: O.normalize(x),
    "normalize_1": lambda x: O.normalize(x, order=1, axis=0),
    "rsqrt": lambda x: O.rsqrt(x * x + 0.5),
    "mod": lambda x: O.mod(x * 5, P) + O.mod(C * 3, O.abs(x) + 0.5),
    "arctan2": lambda x: O.arctan2(x, C) * 2.0 + O.arctan2(C, x),
    "hyperbolic": lambda x: O.sinh(x) * O.cosh(x) + O.tan(x),
    "arcs": lambda x: O.arcsin(x * 0.3) + O.arccos(x * 0.3) * 2 + O.arctan(x),
    "erf": lambda x: O.erf(x),
    "logs": lambda x: O.log2(x * x + 1) + O.log10(x * x + 1) + O.exp2(x),
    "logaddexp": lambda x: O.logaddexp(x, C),
    "hypot": lambda x: O.hypot(x, C),
    "nan_to_num": lambda x: O.nan_to_num(x * 2),
    "divide_no_nan": lambda x: O.divide_no_nan(x, np.where(C > 0, C, 0)) + O.divide_no_nan(C, x),
    "gelu": lambda x: O.gelu(x * 2),
    "gelu_exact": lambda x: O.gelu(x * 2, approximate=False),
    "silu": lambda x: O.silu(x),
    "selu_elu": lambda x: O.selu(x * 2) + O.elu(x, alpha=0.7),
    "leaky_relu": lambda x: O.leaky_relu(x, 0.1),
    "relu6": lambda x: O.relu6(x * 8),
    "softplus_softsign": lambda x: O.softplus(x * 3) + O.softsign(x),
    "hard": lambda x: O.hard_sigmoid(x * 5) + O.hard_silu(x * 5),
    "log_softmax": lambda x: O.log_softmax(x * 3),
    "log_sigmoid": lambda x: O.log_sigmoid(x * 3),
    "moments": lambda x: O.moments(x, axes=[0])[0] * O.moments(x, axes=[0])[1],
    "batch_normalization": lambda x: O.batch_normalization(x, C[0], P[0], axis=-1, offset=C[1], scale=P[1]),
    "layer_normalization": lambda x: O.layer_normalization(x, gamma=P[0], beta=C[0]),
    "rms_normalization": lambda x: O.rms_normalization(x, scale=P[0]),
    "categorical_crossentropy": lambda x: (
        O.categorical_crossentropy(np.eye(4)[[0, 2, 3]], x, from_logits=True)
        + O.categorical_crossentropy(np.eye(4)[[0, 2, 3]], O.abs(x) + 0.1)
    ),
    "sparse_categorical_crossentropy": lambda x: (
        O.sparse_categorical_crossentropy([2, 0, 3], x, from_logits=True)
        + O.sparse_categorical_crossentropy([2, 0, 3], O.softmax(x))
    ),
    "binary_crossentropy": lambda x: (
        O.binary_crossentropy(P / 3, x, from_logits=True) + O.binary_crossentropy(P / 3, O.sigmoid(x))
    ),
    "dot_product_attention": lambda x: O.dot_product_attention(
        O.reshape(x, (1, 3, 1, 4)), K, K * 2, mask=MASK
    ),
    "dot_product_attention_causal": lambda x: O.dot_product_attention(
        O.reshape(x, (1, 3, 1, 4)), K[:, :3], K[:, :3], is_causal=True
    ),
}

FUNCTIONS.update(
    {
        "average": lambda x: O.average(x, axis=0, weights=P[:, 0]),
        "arc_hyperbolic": lambda x: O.arcsinh(x) + O.arccosh(x * x + 1.5) + O.arctanh(x * 0.3),
        "cbrt": lambda x: O.cbrt(x * x + 0.5),
        "deg_rad": lambda x: O.deg2rad(x) * O.rad2deg(x),
        "logaddexp2": lambda x: O.logaddexp2(x, C),
        "erfc": lambda x: O.erfc(x),
        "erfinv": lambda x: O.erfinv(x * 0.3),
        "flips_diff": lambda x: O.fliplr(x) * O.flipud(x) + O.diff(x, n=2).sum(),
        "celu_glu": lambda x: O.celu(x * 2, alpha=0.7) + O.tile(O.glu(x), (1, 2)),
        "hard_tanh": lambda x: O.hard_tanh(x * 2),
        "shrinks": lambda x: (
            O.hard_shrink(x) + O.soft_shrink(x, 0.3) * 2 + O.tanh_shrink(x) + O.squareplus(x, 2)
        ),
        "sparse": lambda x: O.sparse_plus(x * 2) + O.sparse_sigmoid(x * 2) * 3 + O.threshold(x, 0.2, -1.0),
        "scatter": lambda x: O.scatter(np.array([[0, 1], [2, 3], [0, 1]]), x[0, :3], (3, 4)) * C,
        "scatter_update": lambda x: O.scatter_update(x, np.array([[0, 1], [2, 3]]), x[1, :2] * 3.0) * C,
        "slice_update": lambda x: O.slice_update(x, (1, 1), x[:2, :2] * x[:2, :2]) * C,
        "segment_sum": lambda x: O.segment_sum(x * x, np.array([0, 2, 2]), num_segments=3),
    }
)

BATCHED = R.normal(size=(2, 4, 2))
FUNCTIONS["einsum_broadcast"] = lambda x: O.einsum("...ij,...jk->...ik", O.reshape(x, (1, 3, 4)), BATCHED)

KERNEL = R.normal(size=(2, 2, 1, 3))
FUNCTIONS.update(
    {
        "conv": lambda x: O.conv(O.reshape(x, (1, 3, 4, 1)), KERNEL, padding="same", strides=(1, 2)),
        "conv_kernel": lambda x: O.conv(
            O.reshape(C, (1, 3, 4, 1)), O.reshape(x[:, :2], (2, 3, 1, 1)), dilation_rate=(1, 1)
        ),
        "conv1d_dilated": lambda x: O.conv(O.reshape(x, (1, 12, 1)), KERNEL[0], dilation_rate=3),
        "depthwise_conv": lambda x: O.depthwise_conv(
            O.reshape(x, (1, 2, 3, 2)), O.reshape(KERNEL, (2, 2, 3, 1))[:, :, :2], padding="same"
        ),
        "max_pool": lambda x: O.max_pool(O.reshape(x, (1, 3, 4, 1)), 2, strides=1, padding="same"),
        "average_pool": lambda x: O.average_pool(O.reshape(x, (1, 3, 4, 1)), 2, strides=1, padding="same"),
    }
)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_tape_gradient_matches_finite_differences(name, float64):
    function = FUNCTIONS[name]
    x = np.random.default_rng(0).standard_normal((3, 4))
    w = np.random.default_rng(1).standard_normal(np.shape(function(x)))
    tape = Tape("test")
    traced = tape.watch(x)
    analytic = tape.gradient(function(traced), traced, w)
    numeric = numeric_grad(lambda: float(np.sum(w * np.asarray(function(x)))), x)
    assert np.any(numeric != 0)
    assert rel_error(analytic, numeric) < REL_TOL, rel_error(analytic, numeric)


def test_the_tape_and_plain_arrays_give_the_same_values():
    x = np.random.default_rng(0).standard_normal((3, 4))
    for name, function in FUNCTIONS.items():
        tape = Tape("test")
        np.testing.assert_array_equal(
            tape.watch(x) if False else np.asarray(function(x)), function(tape.watch(x)).value, err_msg=name
        )


def test_channels_first_is_channels_last_transposed():
    x = R.normal(size=(2, 5, 6, 3))
    first = np.moveaxis(x, -1, 1)
    for op in (
        lambda v, f: O.conv(v, KERNEL.repeat(3, axis=2), padding="same", data_format=f),
        lambda v, f: O.depthwise_conv(v, KERNEL[:, :, :, :2].repeat(3, axis=2), data_format=f),
        lambda v, f: O.max_pool(v, 2, data_format=f),
        lambda v, f: O.average_pool(v, 3, 2, "same", f),
    ):
        np.testing.assert_allclose(np.moveaxis(op(first, "channels_first"), 1, -1), op(x, None), rtol=1e-12)


def test_stop_gradient_makes_a_constant():
    tape = Tape("test")
    x = tape.watch(np.array([1.0, -2.0]))
    np.testing.assert_array_equal(tape.gradient(x * O.stop_gradient(x), x, np.ones(2)), [1.0, -2.0])


def test_max_gradient_is_split_among_ties_as_tensorflow():
    tape = Tape("test")
    x = tape.watch(np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]))
    np.testing.assert_allclose(tape.gradient(O.max(x, axis=1), x, np.ones(2)), [[0, 0.5, 0.5], [1 / 3] * 3])


def test_rot90_is_numpys_rotation_for_every_k():
    x = np.arange(24.0).reshape(2, 3, 4)
    for k in range(-1, 6):
        np.testing.assert_array_equal(O.rot90(x, k, axes=(1, 2)), np.rot90(x, k, axes=(1, 2)))


def test_dtypes_as_keras():
    i = np.array([[1, 2], [3, 4]], np.int32)
    assert O.argmax(i).dtype == O.argsort(i).dtype == O.top_k(i, 1)[1].dtype == np.int32
    assert O.var(i).dtype == O.std(i).dtype == O.norm(i).dtype == O.sinh(i).dtype == np.float32
    assert O.cumsum(i).dtype == O.max(i).dtype == np.int32 and O.count_nonzero(i).dtype == np.int32
    assert (
        O.one_hot(i, 5).dtype
        == O.full((2,), 3).dtype
        == O.eye(2).dtype
        == O.linspace(0, 1, 3).dtype
        == np.float32
    )
    assert O.cumsum(np.array([True, True])).dtype == np.int32
    assert O.gelu([1.0, 2.0]).dtype == np.float32  # a Python list becomes float32, as convert_to_tensor


# ----------------------------------------------------------------------------- on KerasTensors
def test_ops_on_one_keras_tensor_become_lambdas_that_compute_and_train():
    inputs = sn.Input((4, 6))
    h = sn.layers.Dense(6)(inputs)
    scores = O.einsum("btd,bsd->bts", h, h) / 3.0
    values, _ = O.top_k(O.log_softmax(scores), 2)
    pooled = O.concatenate(
        [O.max(h, axis=1), O.std(h, axis=1), O.logsumexp(values, axis=(1, 2))[:, None]], axis=-1
    )
    model = sn.Model(inputs, sn.layers.Dense(1)(O.gelu(pooled)))
    x = np.random.default_rng(0).normal(size=(5, 4, 6)).astype(np.float32)
    dense, head = model.layers[1], model.layers[-1]
    hx = x @ dense.kernel.value + dense.bias.value
    s = np.einsum("btd,bsd->bts", hx, hx) / 3.0
    s = s - s.max(-1, keepdims=True)
    ls = s - np.log(np.exp(s).sum(-1, keepdims=True))
    top = -np.sort(-ls, axis=-1)[..., :2]
    lse = np.log(np.exp(top).sum(axis=(1, 2)))
    feats = np.concatenate([hx.max(1), hx.std(1), lse[:, None]], -1)
    gelu = 0.5 * feats * (1 + np.tanh(np.sqrt(2 / np.pi) * (feats + 0.044715 * feats**3)))
    np.testing.assert_allclose(
        model.predict(x, verbose=0), gelu @ head.kernel.value + head.bias.value, rtol=2e-5, atol=2e-6
    )
    model.compile("adam", "mse")
    before = model.get_weights()[0].copy()
    model.fit(x, np.zeros((5, 1)), epochs=2, verbose=0)
    assert not np.allclose(before, model.get_weights()[0])


def test_ops_on_several_keras_tensors_become_an_op_layer_and_several_results_several_layers():
    q_in, k_in = sn.Input((3, 4)), sn.Input((5, 4))
    attended = O.dot_product_attention(O.expand_dims(q_in, 2), O.expand_dims(k_in, 2), O.expand_dims(k_in, 2))
    first, second = O.split(O.squeeze(attended, 2), 2, axis=-1)
    model = sn.Model([q_in, k_in], O.einsum("btd,btd->bt", first, second))
    assert any(isinstance(layer, OpLayer) for layer in model.layers)
    rng = np.random.default_rng(0)
    q, k = rng.normal(size=(2, 3, 4)).astype(np.float32), rng.normal(size=(2, 5, 4)).astype(np.float32)
    logits = np.einsum("btd,bsd->bts", q, k) / 2.0
    p = np.exp(logits - logits.max(-1, keepdims=True))
    a = (p / p.sum(-1, keepdims=True)) @ k
    np.testing.assert_allclose(
        model.predict([q, k], verbose=0), np.sum(a[..., :2] * a[..., 2:], -1), rtol=1e-5, atol=1e-6
    )


def test_op_layer_backward_matches_finite_differences(float64):
    layer = OpLayer(
        lambda xs: O.einsum("bi,bj->bij", xs[0], O.tanh(xs[1])) * O.max(xs[0], axis=-1)[:, None, None]
    )
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((2, 3)), rng.standard_normal((2, 4))]
    layer.ensure_built([(3,), (4,)])
    assert layer.output_shape == (3, 4)
    w = rng.standard_normal((2, 3, 4))
    layer.forward(xs)
    grads = layer.backward(w)
    for x, g in zip(xs, grads, strict=True):
        numeric = numeric_grad(lambda: float(np.sum(w * layer.forward(xs))), x)
        assert rel_error(g, numeric) < REL_TOL


def test_unstack_of_a_keras_tensor_needs_a_known_size():
    x = sn.Input((None, 3))
    assert len(O.unstack(x, axis=2)) == 3
    with pytest.raises(ValueError, match="give num"):
        O.unstack(x, axis=1)


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: O.split(np.zeros((2, 5)), 2, axis=1), "does not divide into 2"),
        (lambda: O.unstack(np.zeros((2, 5)), num=3, axis=1), "received num=3"),
        (lambda: O.norm(np.zeros((2, 2)), ord="bad", axis=(0, 1)), "received ord='bad'"),
        (lambda: O.norm(np.zeros((2, 2, 2)), axis=(0, 1, 2)), "received axis=\\(0, 1, 2\\)"),
        (lambda: O.normalize(np.zeros(3), order=0), "order=0"),
        (lambda: O.one_hot(np.zeros(3, int), 2, sparse=True), "sparse=True"),
        (lambda: O.multi_hot(np.zeros(3, int)), "num_classes"),
        (lambda: O.pad(np.zeros(3), 1, mode="reflect", constant_values=1), "constant_values"),
        (lambda: O.diag(np.zeros((2, 2, 2))), "1-D or 2-D"),
        (
            lambda: O.dot_product_attention(*[np.zeros((1, 2, 1, 3))] * 3, flash_attention=True),
            "flash_attention",
        ),
        (lambda: O.categorical_crossentropy(np.zeros((2, 3)), np.zeros((2, 4))), "same shape"),
        (lambda: sn.random.uniform((2,), dtype="int32"), "floating point `dtype`"),
        (lambda: sn.random.normal((2,), seed=1.5), "seed"),
        (lambda: sn.random.SeedGenerator(seed="a"), "must be an integer"),
        (lambda: sn.random.categorical(np.zeros(3), 2), "2-D"),
    ],
)
def test_bad_arguments_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ----------------------------------------------------------------------------- sn.random
def test_an_int_seed_repeats_a_seed_generator_advances_none_draws_fresh():
    r = sn.random
    np.testing.assert_array_equal(r.normal((3,), seed=7), r.normal((3,), seed=7))
    assert not np.array_equal(r.normal((3,), seed=7), r.normal((3,), seed=8))
    gen = r.SeedGenerator(42)
    first, second = r.uniform((4,), seed=gen), r.uniform((4,), seed=gen)
    assert not np.array_equal(first, second)
    again = r.SeedGenerator(42)
    np.testing.assert_array_equal(r.uniform((4,), seed=again), first)
    np.testing.assert_array_equal(r.uniform((4,), seed=again), second)
    assert not np.array_equal(r.normal((4,)), r.normal((4,)))
    sn.utils.set_random_seed(3)
    a = r.normal((4,))
    sn.utils.set_random_seed(3)
    np.testing.assert_array_equal(r.normal((4,)), a)
    assert gen.get_config() == {"seed": 42, "name": gen.name}


def test_shapes_and_dtypes_as_keras():
    r = sn.random
    assert r.normal((2, 3), seed=1).dtype == r.uniform(4, seed=1).dtype == np.float32
    assert r.normal((2,), dtype="float64", seed=1).dtype == np.float64
    assert r.randint((2, 3), 0, 5, seed=1).dtype == np.int32 and r.randint((2,), 0, 5, seed=1).shape == (2,)
    assert r.categorical(np.zeros((2, 3)), 5, seed=1).shape == (2, 5)
    assert r.categorical(np.zeros((2, 3)), 5, seed=1).dtype == np.int32
    assert r.binomial((3,), 5, 0.5, seed=1).dtype == r.gamma((3,), 2.0, seed=1).dtype == np.float32
    assert r.beta((3, 2), 2.0, 3.0, seed=1).shape == (3, 2)
    assert r.truncated_normal((4, 4), seed=1).dtype == np.float32


N = 200_000  # samples: a sample mean's standard error is sigma / sqrt(N) (0.0022 sigma); bounds: 5 of those


@pytest.mark.parametrize(
    "draw, mean, std",
    [
        (lambda: sn.random.normal((N,), mean=2.0, stddev=3.0, seed=0), 2.0, 3.0),
        (lambda: sn.random.uniform((N,), minval=-1.0, maxval=3.0, seed=0), 1.0, 4 / np.sqrt(12)),
        # a normal truncated at +-2 sigma: variance 1 - 4 phi(2) / (2 Phi(2) - 1) = 0.774
        (
            lambda: sn.random.truncated_normal((N,), mean=1.0, stddev=2.0, seed=0),
            1.0,
            2.0 * np.sqrt(0.7737413),
        ),
        (lambda: sn.random.randint((N,), 0, 10, seed=0), 4.5, np.sqrt((10**2 - 1) / 12)),
        (lambda: sn.random.gamma((N,), 3.0, seed=0), 3.0, np.sqrt(3.0)),
        (lambda: sn.random.beta((N,), 2.0, 3.0, seed=0), 0.4, np.sqrt(2 * 3 / (5**2 * 6))),
        (lambda: sn.random.binomial((N,), 10, 0.3, seed=0), 3.0, np.sqrt(10 * 0.3 * 0.7)),
    ],
)
def test_moments_of_each_distribution(draw, mean, std):
    x = np.asarray(draw(), dtype=np.float64)
    assert abs(x.mean() - mean) < 5 * std / np.sqrt(N)
    assert abs(x.std() - std) < 0.01 * std  # the sample std's error is ~std / sqrt(2N) = 0.0016 std


def test_truncated_normal_stays_within_two_standard_deviations():
    x = sn.random.truncated_normal((10_000,), mean=1.0, stddev=0.5, seed=0)
    assert x.min() >= 0.0 and x.max() <= 2.0


def test_categorical_follows_softmax_of_the_logits():
    logits = np.log(np.array([[0.2, 0.3, 0.5], [0.9, 0.05, 0.05]]))
    ids = sn.random.categorical(logits, 100_000, seed=0)
    freq = np.stack([np.bincount(row, minlength=3) / 100_000 for row in ids])
    np.testing.assert_allclose(freq, np.exp(logits), atol=0.01)  # 5 standard errors: 5 * sqrt(.25 / 1e5)


def test_dropout_keeps_a_fraction_and_scales_shuffle_permutes():
    x = np.ones((1000, 100), np.float32)
    y = sn.random.dropout(x, 0.25, seed=0)
    kept = y != 0
    assert abs(kept.mean() - 0.75) < 0.01 and np.allclose(y[kept], 1 / 0.75)
    assert y.dtype == np.float32
    y = sn.random.dropout(x, 0.5, noise_shape=(None, 1), seed=0)
    assert np.all((y == 0).all(axis=1) | (y != 0).all(axis=1))
    np.testing.assert_array_equal(sn.random.dropout(x, 0.0), x)
    z = np.arange(20).reshape(10, 2)
    s = sn.random.shuffle(z, seed=1)
    assert sorted(s[:, 0].tolist()) == z[:, 0].tolist() and np.all(s[:, 1] == s[:, 0] + 1)
    np.testing.assert_array_equal(sn.random.shuffle(z, seed=1), s)


def test_the_python_blocks_of_docs_ops_run():
    from tests.test_custom_layers import python_blocks

    blocks = python_blocks("docs/ops.md")
    assert blocks
    namespace = {}
    for block in blocks:
        exec(compile(block, "docs/ops.md", "exec"), namespace)
    assert namespace["model"].optimizer.iterations == 1


# ----------------------------------------------------------------------------- losses written with ops
def _mse(y_true, y_pred):
    return O.mean(O.square(y_true - y_pred), axis=-1)


def test_a_function_loss_is_wrapped_and_its_gradient_comes_from_the_tape(float64):
    loss = sn.losses.get(_mse)
    assert isinstance(loss, sn.losses.LossFunctionWrapper) and loss.name == "_mse"
    rng = np.random.default_rng(0)
    y, p = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    np.testing.assert_allclose(loss(y, p), np.mean((y - p) ** 2))
    numeric = numeric_grad(lambda: float(np.mean(loss.forward(y, p))), p)
    assert rel_error(loss.backward(y, p), numeric) < REL_TOL
    # Keras' same-rank rule: labels (N,) against predictions (N, 1)
    np.testing.assert_allclose(loss.forward(y[:, 0], p[:, :1]), (y[:, 0] - p[:, 0]) ** 2)


def test_a_loss_subclass_may_write_call_or_must_write_forward():
    class Hinge(sn.losses.Loss):
        def call(self, y_true, y_pred):
            return O.mean(O.relu(1.0 - y_true * y_pred), axis=-1)

    y, p = np.array([[1.0, -1.0]]), np.array([[0.5, 0.5]])
    np.testing.assert_allclose(Hinge()(y, p), (0.5 + 1.5) / 2)
    np.testing.assert_allclose(Hinge().backward(y, p), [[-0.5, 0.5]])

    class Nothing(sn.losses.Loss):
        pass

    with pytest.raises(NotImplementedError, match="Nothing must implement call"):
        Nothing().forward(y, p)


def test_a_model_compiled_with_a_function_loss_saves_and_says_how_to_load(tmp_path):
    model = sn.Sequential([sn.Input((3,)), sn.layers.Dense(2)])
    model.compile("sgd", loss=_mse)
    model.fit(np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32), verbose=0)
    model.save(tmp_path / "m.keras")
    with pytest.raises(ValueError, match="load the model with compile=False"):
        sn.load_model(tmp_path / "m.keras")
    again = sn.load_model(tmp_path / "m.keras", compile=False)
    np.testing.assert_array_equal(
        again.predict(np.ones((1, 3)), verbose=0), model.predict(np.ones((1, 3)), verbose=0)
    )


def test_random_dropout_of_a_keras_tensor_draws_at_each_call():
    inputs = sn.Input((50,))
    model = sn.Model(inputs, sn.random.dropout(inputs, 0.5, seed=sn.random.SeedGenerator(1)))
    x = np.ones((4, 50), np.float32)
    first, second = model.predict(x, verbose=0), model.predict(x, verbose=0)
    assert set(np.unique(first)) == {0.0, 2.0} and not np.array_equal(first, second)
