"""More of ``keras.ops`` (reductions, indexing, shapes, math, nn) in ``sn.ops``, against Keras 3:
values and dtypes of each on arrays (FORWARD_RTOL; integers and booleans exactly), gradients
through scratchnet's tape against ``tf.GradientTape`` through ``keras.ops`` on the TensorFlow
backend (GRAD_RTOL), the ops on symbolic tensors in a functional model, and a custom layer and a
custom loss written with them that train with ``fit`` to Keras' weights."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import scratchnet as sn
import tfnet
from parity_tests.driver import FORWARD_RTOL, GRAD_RTOL, TRAJECTORY_RTOL, assert_close
from scratchnet.autodiff import Tape

RNG = np.random.default_rng(0)
X = RNG.normal(size=(3, 4)).astype(np.float32)
Y = RNG.normal(size=(3, 4)).astype(np.float32)
P = (np.abs(X) + 0.5).astype(np.float32)
U = (RNG.uniform(0.05, 0.95, size=(3, 4))).astype(np.float32)  # inside (-1, 1) and (0, 1)
T = RNG.normal(size=(2, 3, 4)).astype(np.float32)
I = np.array([[1, 0, 3], [2, 2, 0]], np.int32)
TIES = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0], [0.0, -1.0, 0.0, -1.0]], np.float32)
Q = RNG.normal(size=(2, 3, 2, 4)).astype(np.float32)  # (B, T, N, H)
K = RNG.normal(size=(2, 5, 2, 4)).astype(np.float32)  # (B, S, N, H)
V = RNG.normal(size=(2, 5, 2, 4)).astype(np.float32)
MASK = RNG.uniform(size=(2, 1, 3, 5)) > 0.3
LABELS = np.array([2, 0, 3], np.int32)
ONEHOT = np.eye(4, dtype=np.float32)[LABELS]
SPECIAL = np.array([np.nan, np.inf, -np.inf, 1.5], np.float32)

CASES = {
    # reductions
    "max": lambda o: o.max(X),
    "max_axis": lambda o: o.max(X, axis=1, keepdims=True),
    "min_axis0": lambda o: o.min(X, axis=0),
    "amax": lambda o: o.amax(T, axis=(0, 2)),
    "amin": lambda o: o.amin(X, axis=-1),
    "max_int": lambda o: o.max(I, axis=1),
    "argmax": lambda o: o.argmax(X, axis=1),
    "argmax_flat": lambda o: o.argmax(X),
    "argmax_ties": lambda o: o.argmax(TIES, axis=-1),
    "argmin": lambda o: o.argmin(X, axis=0),
    "argmin_keepdims": lambda o: o.argmin(X, axis=1, keepdims=True),
    "all": lambda o: o.all(X > -1, axis=1),
    "any": lambda o: o.any(X > 1),
    "std": lambda o: o.std(X, axis=0),
    "var": lambda o: o.var(X, axis=1, keepdims=True),
    "var_int": lambda o: o.var(I),
    "std_all": lambda o: o.std(T),
    "logsumexp": lambda o: o.logsumexp(X * 40, axis=1),
    "logsumexp_all": lambda o: o.logsumexp(X),
    "cumsum": lambda o: o.cumsum(X, axis=1),
    "cumsum_flat": lambda o: o.cumsum(X),
    "cumsum_int": lambda o: o.cumsum(I, axis=0),
    "cumprod": lambda o: o.cumprod(P, axis=0),
    "count_nonzero": lambda o: o.count_nonzero(I),
    "count_nonzero_axis": lambda o: o.count_nonzero(I, axis=1),
    # indexing
    "take": lambda o: o.take(X, I, axis=1),
    "take_flat": lambda o: o.take(X, I),
    "take_negative": lambda o: o.take(X, np.array([-1, 0]), axis=0),
    "take_along_axis": lambda o: o.take_along_axis(X, np.argsort(Y, axis=1)[:, :2], axis=1),
    "take_along_axis0": lambda o: o.take_along_axis(X, np.array([[2, 0, 1, 1]]), axis=0),
    "top_k_values": lambda o: o.top_k(X, 2)[0],
    "top_k_indices": lambda o: o.top_k(X, 3)[1],
    "top_k_ties": lambda o: o.top_k(TIES, 2)[1],
    "sort": lambda o: o.sort(X),
    "sort_axis0": lambda o: o.sort(X, 0),
    "argsort": lambda o: o.argsort(X),
    "argsort_axis0": lambda o: o.argsort(X, axis=0),
    "one_hot": lambda o: o.one_hot(I, 4),
    "one_hot_out_of_range": lambda o: o.one_hot(np.array([0, 5, -1]), 3),
    "one_hot_axis0": lambda o: o.one_hot(np.array([1, 0]), 3, axis=0),
    "one_hot_int": lambda o: o.one_hot(np.array([1, 0]), 3, dtype="int32"),
    "multi_hot": lambda o: o.multi_hot(I, 5),
    "multi_hot_1d": lambda o: o.multi_hot(np.array([1, 3, 1]), 4),
    "slice": lambda o: o.slice(T, (0, 1, 1), (2, 2, 3)),
    "get_item": lambda o: o.get_item(X, 1),
    # shape and building
    "split": lambda o: o.split(X, 2, axis=1)[1],
    "split_indices": lambda o: o.split(X, [1, 3], axis=1)[2],
    "unstack": lambda o: o.unstack(T, axis=1)[2],
    "tile": lambda o: o.tile(X, (2, 1)),
    "tile_more": lambda o: o.tile(X[0], (2, 2)),
    "repeat": lambda o: o.repeat(X, 2, axis=0),
    "repeat_flat": lambda o: o.repeat(X, 2),
    "repeat_list": lambda o: o.repeat(X, [1, 0, 2], axis=0),
    "flip": lambda o: o.flip(X, axis=1),
    "flip_all": lambda o: o.flip(T),
    "roll": lambda o: o.roll(X, 1, axis=1),
    "roll_flat": lambda o: o.roll(X, -5),
    "roll_axes": lambda o: o.roll(T, (1, 2), axis=(0, 2)),
    "pad": lambda o: o.pad(X, ((1, 0), (2, 1))),
    "pad_value": lambda o: o.pad(X, ((1, 1), (0, 0)), constant_values=2.0),
    "pad_reflect": lambda o: o.pad(X, ((1, 2), (2, 1)), mode="reflect"),
    "pad_symmetric": lambda o: o.pad(X, ((1, 2), (2, 1)), mode="symmetric"),
    "moveaxis": lambda o: o.moveaxis(T, 0, -1),
    "ravel": lambda o: o.ravel(T),
    "tril": lambda o: o.tril(X),
    "tril_k": lambda o: o.tril(T, k=-1),
    "triu": lambda o: o.triu(X, k=1),
    "eye": lambda o: o.eye(3),
    "eye_rect": lambda o: o.eye(3, 4, k=1),
    "identity": lambda o: o.identity(2),
    "linspace": lambda o: o.linspace(0.0, 1.0, 5),
    "linspace_open": lambda o: o.linspace(2, 3, 4, endpoint=False),
    "full": lambda o: o.full((2, 3), 7),
    "full_float": lambda o: o.full((2,), 1.5),
    "meshgrid": lambda o: o.meshgrid(X[0], X[1, :3])[0],
    "meshgrid_ij": lambda o: o.meshgrid(X[0], X[1, :3], indexing="ij")[1],
    "diag_matrix": lambda o: o.diag(X[0]),
    "diag_k": lambda o: o.diag(X[0], k=-1),
    "diag_of": lambda o: o.diag(X, k=1),
    "diagonal": lambda o: o.diagonal(T, offset=1, axis1=1, axis2=2),
    "select": lambda o: o.select([X > 0.5, X < -0.5], [X, Y], default=0.0),
    "vstack": lambda o: o.vstack([X, Y]),
    "vstack_1d": lambda o: o.vstack([X[0], Y[0]]),
    "hstack": lambda o: o.hstack([X, Y]),
    "hstack_1d": lambda o: o.hstack([X[0], Y[0]]),
    "append": lambda o: o.append(X, Y),
    "append_axis": lambda o: o.append(X, Y, axis=1),
    "rot90": lambda o: o.rot90(X),
    "rot90_k3": lambda o: o.rot90(T, k=3, axes=(1, 2)),
    "rot90_k2_square": lambda o: o.rot90(X[:, :3], k=2),
    # math
    "einsum": lambda o: o.einsum("ij,kj->ik", X, Y),
    "einsum_batch": lambda o: o.einsum("bij,bkj->bik", T, T),
    "einsum_ellipsis": lambda o: o.einsum("...j,j->...", T, X[0]),
    "einsum_sum": lambda o: o.einsum("ij->", X),
    "tensordot": lambda o: o.tensordot(T, X, axes=([2], [1])),
    "tensordot_int": lambda o: o.tensordot(X, Y.T, 1),
    "dot": lambda o: o.dot(X, Y.T),
    "dot_vector": lambda o: o.dot(X, Y[0]),
    "dot_nd": lambda o: o.dot(T, Y.T),
    "outer": lambda o: o.outer(X[0], Y[1]),
    "inner": lambda o: o.inner(X, Y),
    "norm": lambda o: o.norm(X),
    "norm_axis": lambda o: o.norm(X, axis=1),
    "norm_1": lambda o: o.norm(X, ord=1, axis=0),
    "norm_inf": lambda o: o.norm(X, ord=np.inf, axis=1, keepdims=True),
    "norm_3": lambda o: o.norm(X, ord=3, axis=1),
    "norm_fro": lambda o: o.norm(T, ord="fro", axis=(1, 2)),
    "norm_matrix_1": lambda o: o.norm(X, ord=1, axis=(0, 1)),
    "norm_matrix_inf": lambda o: o.norm(X, ord=np.inf, axis=(0, 1)),
    "norm_nuc": lambda o: o.norm(X, ord="nuc", axis=(0, 1)),
    "norm_int": lambda o: o.norm(I),
    "normalize": lambda o: o.normalize(X),
    "normalize_axis0": lambda o: o.normalize(X, axis=0),
    "normalize_order1": lambda o: o.normalize(X, order=1),
    "rsqrt": lambda o: o.rsqrt(P),
    "round": lambda o: o.round(X * 3),
    "round_decimals": lambda o: o.round(X, 2),
    "mod": lambda o: o.mod(X * 5, P),
    "mod_int": lambda o: o.mod(I, 2),
    "floor_divide": lambda o: o.floor_divide(X * 5, P),
    "arctan2": lambda o: o.arctan2(X, Y),
    "sinh": lambda o: o.sinh(X),
    "cosh": lambda o: o.cosh(X),
    "tan": lambda o: o.tan(X),
    "arcsin": lambda o: o.arcsin(U),
    "arccos": lambda o: o.arccos(U),
    "arctan": lambda o: o.arctan(X),
    "erf": lambda o: o.erf(X),
    "log2": lambda o: o.log2(P),
    "log10": lambda o: o.log10(P),
    "exp2": lambda o: o.exp2(X),
    "logaddexp": lambda o: o.logaddexp(X * 30, Y),
    "hypot": lambda o: o.hypot(X, Y),
    "sin_int": lambda o: o.sinh(I),
    "nan_to_num": lambda o: o.nan_to_num(SPECIAL),
    "nan_to_num_values": lambda o: o.nan_to_num(SPECIAL, nan=1.0, posinf=5.0, neginf=-5.0),
    "divide_no_nan": lambda o: o.divide_no_nan(X, np.where(Y > 0, Y, 0)),
    "isclose": lambda o: o.isclose(X, X + 1e-6),
    "trace": lambda o: o.trace(X),
    "trace_offset": lambda o: o.trace(T, offset=1, axis1=1, axis2=2),
    # nn
    "gelu": lambda o: o.gelu(X * 3),
    "gelu_exact": lambda o: o.gelu(X * 3, approximate=False),
    "silu": lambda o: o.silu(X * 3),
    "swish": lambda o: o.swish(X),
    "selu": lambda o: o.selu(X * 3),
    "elu": lambda o: o.elu(X * 3),
    "elu_alpha": lambda o: o.elu(X * 3, alpha=0.5),
    "leaky_relu": lambda o: o.leaky_relu(X),
    "leaky_relu_slope": lambda o: o.leaky_relu(X, negative_slope=0.1),
    "relu6": lambda o: o.relu6(X * 8),
    "softplus": lambda o: o.softplus(X * 30),
    "softsign": lambda o: o.softsign(X),
    "hard_sigmoid": lambda o: o.hard_sigmoid(X * 5),
    "hard_silu": lambda o: o.hard_silu(X * 5),
    "hard_swish": lambda o: o.hard_swish(X * 5),
    "log_softmax": lambda o: o.log_softmax(X * 20),
    "log_softmax_axis0": lambda o: o.log_softmax(X, axis=0),
    "log_sigmoid": lambda o: o.log_sigmoid(X * 30),
    "moments_mean": lambda o: o.moments(T, axes=[0, 1])[0],
    "moments_var": lambda o: o.moments(T, axes=[2], keepdims=True)[1],
    "batch_normalization": lambda o: o.batch_normalization(X, P[0], U[0], axis=-1, offset=Y[0], scale=P[1]),
    "batch_normalization_axis": lambda o: o.batch_normalization(T, P[0, :3], U[0, :3], axis=1),
    "layer_normalization": lambda o: o.layer_normalization(X, gamma=P[0], beta=Y[0]),
    "layer_normalization_axes": lambda o: o.layer_normalization(T, axis=(1, 2), epsilon=1e-3),
    "rms_normalization": lambda o: o.rms_normalization(X, scale=P[0]),
    "rms_normalization_plain": lambda o: o.rms_normalization(T, axis=1),
    "categorical_crossentropy": lambda o: o.categorical_crossentropy(ONEHOT, U),
    "categorical_crossentropy_logits": lambda o: o.categorical_crossentropy(ONEHOT, X * 5, from_logits=True),
    "sparse_categorical_crossentropy": lambda o: o.sparse_categorical_crossentropy(LABELS, U),
    "sparse_categorical_crossentropy_logits": lambda o: o.sparse_categorical_crossentropy(
        LABELS, X, from_logits=True
    ),
    "binary_crossentropy": lambda o: o.binary_crossentropy((Y > 0).astype(np.float32), U),
    "binary_crossentropy_logits": lambda o: o.binary_crossentropy(U, X * 10, from_logits=True),
    "dot_product_attention": lambda o: o.dot_product_attention(Q, K, V),
    "dot_product_attention_mask": lambda o: o.dot_product_attention(Q, K, V, mask=MASK, scale=0.3),
    "dot_product_attention_causal": lambda o: o.dot_product_attention(Q, K[:, :3], V[:, :3], is_causal=True),
    "dot_product_attention_bias": lambda o: o.dot_product_attention(Q, K, V, bias=MASK * 0.5),
}


SEGMENT_IDS = np.array([0, 0, 1, 2, 2, 2], np.int32)
CASES.update(
    {
        "stop_gradient": lambda o: o.stop_gradient(X),
        "average": lambda o: o.average(X, axis=1),
        "average_weights": lambda o: o.average(X, axis=0, weights=P[:, 0]),
        "average_all": lambda o: o.average(X, weights=P),
        "average_int": lambda o: o.average(I),
        "logical_xor": lambda o: o.logical_xor(X > 0, Y > 0),
        "trunc": lambda o: o.trunc(X * 3),
        "isposinf": lambda o: o.isposinf(SPECIAL),
        "isneginf": lambda o: o.isneginf(SPECIAL),
        "arcsinh": lambda o: o.arcsinh(X),
        "arccosh": lambda o: o.arccosh(P + 1),
        "arctanh": lambda o: o.arctanh(U),
        "cbrt": lambda o: o.cbrt(X),
        "deg2rad": lambda o: o.deg2rad(X * 90),
        "rad2deg": lambda o: o.rad2deg(X),
        "logaddexp2": lambda o: o.logaddexp2(X * 30, Y),
        "erfc": lambda o: o.erfc(X),
        "erfinv": lambda o: o.erfinv(U * 2 - 1),
        "empty_shape": lambda o: o.empty((2, 3)) * 0,
        "empty_like": lambda o: o.empty_like(I) * 0,
        "copy": lambda o: o.copy(X),
        "array": lambda o: o.array([[1.5, 2.0]]),
        "array_int": lambda o: o.array([1, 2]),
        "tri": lambda o: o.tri(3, 4, k=1),
        "fliplr": lambda o: o.fliplr(X),
        "flipud": lambda o: o.flipud(T),
        "diff": lambda o: o.diff(X),
        "diff_n2_axis0": lambda o: o.diff(T, n=2, axis=1),
        "nonzero": lambda o: o.nonzero(I)[1],
        "searchsorted": lambda o: o.searchsorted(np.array([0.0, 1.0, 2.0], np.float32), X[0]),
        "searchsorted_right": lambda o: o.searchsorted(
            np.array([0.0, 1.0, 1.0], np.float32), np.array([1.0, 0.5], np.float32), side="right"
        ),
        "digitize": lambda o: o.digitize(X, np.array([-1.0, 0.0, 1.0], np.float32)),
        "in_top_k": lambda o: o.in_top_k(LABELS, X, 2),
        "in_top_k_ties": lambda o: o.in_top_k(np.array([1, 3]), TIES[:2], 1),
        "cond": lambda o: o.cond(X[0, 0] > 0, lambda: X, lambda: Y),
        "celu": lambda o: o.celu(X * 3, alpha=0.5),
        "glu": lambda o: o.glu(X),
        "hard_tanh": lambda o: o.hard_tanh(X * 2),
        "hard_shrink": lambda o: o.hard_shrink(X),
        "soft_shrink": lambda o: o.soft_shrink(X, threshold=0.3),
        "tanh_shrink": lambda o: o.tanh_shrink(X),
        "squareplus": lambda o: o.squareplus(X, b=2),
        "sparse_plus": lambda o: o.sparse_plus(X * 2),
        "sparse_sigmoid": lambda o: o.sparse_sigmoid(X * 2),
        "threshold": lambda o: o.threshold(X, 0.2, -1.0),
        "scatter": lambda o: o.scatter(
            np.array([[0, 1], [2, 3], [0, 1]]), np.array([1.0, 2.0, 3.0], np.float32), (3, 4)
        ),
        "scatter_rows": lambda o: o.scatter(np.array([[2], [0]]), X[:2], (3, 4)),
        "scatter_update": lambda o: o.scatter_update(
            X, np.array([[0, 1], [2, 3]]), np.array([9.0, 8.0], np.float32)
        ),
        "scatter_update_add": lambda o: o.scatter_update(
            X, np.array([[0, 1], [0, 1]]), np.array([9.0, 8.0], np.float32), reduction="add"
        ),
        "slice_update": lambda o: o.slice_update(X, (1, 1), np.ones((2, 2), np.float32)),
        "segment_sum": lambda o: o.segment_sum(
            RNG.normal(size=(6, 2)).astype(np.float32) * 0 + np.arange(12, dtype=np.float32).reshape(6, 2),
            SEGMENT_IDS,
        ),
        "segment_sum_num": lambda o: o.segment_sum(
            np.arange(6, dtype=np.float32), SEGMENT_IDS, num_segments=4
        ),
    }
)

IMG = RNG.normal(size=(2, 7, 6, 3)).astype(np.float32)
SEQ = RNG.normal(size=(2, 9, 3)).astype(np.float32)
VOL = RNG.normal(size=(1, 5, 4, 6, 2)).astype(np.float32)
KER2 = RNG.normal(size=(3, 2, 3, 4)).astype(np.float32)
KER1 = RNG.normal(size=(3, 3, 2)).astype(np.float32)
DEP2 = RNG.normal(size=(3, 3, 3, 2)).astype(np.float32)
CASES.update(
    {
        "conv2d": lambda o: o.conv(IMG, KER2),
        "conv2d_same_strides": lambda o: o.conv(IMG, KER2, strides=2, padding="same"),
        "conv2d_dilated": lambda o: o.conv(IMG, KER2, dilation_rate=(2, 1), padding="same"),
        "conv1d": lambda o: o.conv(SEQ, KER1, strides=2),
        "conv1d_same": lambda o: o.conv(SEQ, KER1, padding="same"),
        "conv3d": lambda o: o.conv(
            VOL, RNG.normal(size=(2, 2, 3, 2, 3)).astype(np.float32) * 0 + 0.5, padding="same"
        ),
        "depthwise_conv": lambda o: o.depthwise_conv(IMG, DEP2),
        "depthwise_conv_same": lambda o: o.depthwise_conv(IMG, DEP2, strides=2, padding="same"),
        "depthwise_conv1d": lambda o: o.depthwise_conv(SEQ, KER1[:, :, :1], padding="same"),
        "max_pool": lambda o: o.max_pool(IMG, 2),
        "max_pool_same": lambda o: o.max_pool(IMG, 3, strides=2, padding="same"),
        "max_pool1d": lambda o: o.max_pool(SEQ, 2, strides=1),
        "average_pool": lambda o: o.average_pool(IMG, (2, 3)),
        "average_pool_same": lambda o: o.average_pool(IMG, 3, strides=2, padding="same"),
        "average_pool1d_same": lambda o: o.average_pool(SEQ, 4, strides=3, padding="same"),
        "average_pool_channels_first": lambda o: o.average_pool(
            np.moveaxis(IMG, -1, 1), 2, data_format="channels_first"
        ),
    }
)

CASES.update(
    {
        "sum_int": lambda o: o.sum(I, axis=1),
        "sum_bool": lambda o: o.sum(X > 0),
        "mean_int": lambda o: o.mean(I),
        "mean_int_axis": lambda o: o.mean(I, axis=0, keepdims=True),
        "prod_int": lambda o: o.prod(I + 1, axis=1),
        "mean_list": lambda o: o.mean([1.0, 2.5]),
    }
)


@pytest.mark.parametrize("case", sorted(CASES))
def test_values_and_dtypes_equal_keras_ops(case):
    ours = np.asarray(CASES[case](sn.ops))
    theirs = keras.ops.convert_to_numpy(CASES[case](keras.ops))
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype, (
        ours.shape,
        theirs.shape,
        ours.dtype,
        theirs.dtype,
    )
    if ours.dtype.kind == "f":
        assert_close(ours, theirs, FORWARD_RTOL, case)
    else:
        np.testing.assert_array_equal(ours, theirs)


# Differentiable functions of one float32 input x of shape (3, 4) (other arguments constants). Not
# slice_update: TensorFlow has no gradient for it (XlaDynamicUpdateSlice); tests/test_ops_more.py checks ours.
GRADIENTS = {
    "max": lambda o, x: o.max(x, axis=1),
    "max_ties": lambda o, x: o.max(x, axis=1),
    "min_ties": lambda o, x: o.min(x, axis=1),
    "amax_ties": lambda o, x: o.amax(x),
    "top_k_ties": lambda o, x: o.top_k(x, 3)[0],
    "sort_ties": lambda o, x: o.sort(x),
    "min": lambda o, x: o.min(x, axis=0, keepdims=True),
    "amax_all": lambda o, x: o.amax(x),
    "std": lambda o, x: o.std(x, axis=1),
    "var": lambda o, x: o.var(x),
    "logsumexp": lambda o, x: o.logsumexp(x * 3, axis=0),
    "cumsum": lambda o, x: o.cumsum(x, axis=1),
    "cumsum_flat": lambda o, x: o.cumsum(x),
    "cumprod": lambda o, x: o.cumprod(x, axis=1),
    "prod": lambda o, x: o.prod(x, axis=1),
    "take": lambda o, x: o.take(x, I, axis=1),
    "take_flat": lambda o, x: o.take(x, I),
    "take_along_axis": lambda o, x: o.take_along_axis(x, np.array([[0, 0, 3]] * 3), axis=1),
    "top_k": lambda o, x: o.top_k(x, 2)[0],
    "sort": lambda o, x: o.sort(x, axis=0),
    "slice": lambda o, x: o.slice(x, (1, 1), (2, 2)),
    "get_item": lambda o, x: o.get_item(x, (slice(None), 1)),
    "split": lambda o, x: o.split(x, 2, axis=1)[1] * 2.0 + o.split(x, 2, axis=1)[0],
    "unstack": lambda o, x: o.unstack(x, axis=0)[1] * o.unstack(x, axis=0)[2],
    "tile": lambda o, x: o.tile(x, (2, 3)),
    "repeat": lambda o, x: o.repeat(x, 3, axis=1),
    "repeat_list": lambda o, x: o.repeat(x, [2, 0, 1], axis=0),
    "flip": lambda o, x: o.flip(x, axis=0) * Y,
    "roll": lambda o, x: o.roll(x, 3, axis=1) * Y,
    "pad": lambda o, x: o.pad(x, ((1, 2), (0, 1)), constant_values=1.0),
    "pad_reflect": lambda o, x: o.pad(x, ((2, 1), (1, 2)), mode="reflect"),
    "pad_symmetric": lambda o, x: o.pad(x, ((2, 1), (1, 2)), mode="symmetric"),
    "moveaxis": lambda o, x: o.moveaxis(o.reshape(x, (3, 2, 2)), 0, -1),
    "ravel": lambda o, x: o.ravel(x) * Y.reshape(-1),
    "tril": lambda o, x: o.tril(x, k=1),
    "triu": lambda o, x: o.triu(x),
    "diag": lambda o, x: o.diag(x, k=1),
    "diag_make": lambda o, x: o.diag(x[0], k=-1),
    "trace": lambda o, x: o.trace(x, offset=1),
    "select": lambda o, x: o.select([X > 0.5, X < -0.5], [x, x * x], default=Y),
    "vstack": lambda o, x: o.vstack([x, Y]),
    "hstack": lambda o, x: o.hstack([Y, x]),
    "append": lambda o, x: o.append(x, Y),
    "rot90": lambda o, x: o.rot90(x) * o.rot90(Y),
    "einsum": lambda o, x: o.einsum("ij,kj->ik", x, x),
    "einsum_only_here": lambda o, x: o.einsum("ij,k->ik", x, Y[0]),
    "tensordot": lambda o, x: o.tensordot(x, Y, axes=([1], [1])),
    "dot": lambda o, x: o.dot(x, Y.T),
    "outer": lambda o, x: o.outer(x[0], x[1]),
    "inner": lambda o, x: o.inner(x, x),
    "norm": lambda o, x: o.norm(x, axis=1),
    "norm_fro": lambda o, x: o.norm(x),
    "norm_1": lambda o, x: o.norm(x, ord=1, axis=0),
    "norm_inf": lambda o, x: o.norm(x, ord=np.inf, axis=(0, 1)),
    "norm_3": lambda o, x: o.norm(x, ord=3, axis=1),
    "normalize": lambda o, x: o.normalize(x),
    "normalize_order1": lambda o, x: o.normalize(x, order=1, axis=0),
    "rsqrt": lambda o, x: o.rsqrt(x * x + 0.5),
    "mod": lambda o, x: o.mod(x * 5, P),
    "mod_divisor": lambda o, x: o.mod(Y * 3, o.abs(x) + 0.5),
    "arctan2": lambda o, x: o.arctan2(x, Y) + o.arctan2(Y, x),
    "sinh_cosh_tan": lambda o, x: o.sinh(x) * o.cosh(x) + o.tan(x),
    "arcs": lambda o, x: o.arcsin(x * 0.3) + o.arccos(x * 0.3) * 2 + o.arctan(x),
    "erf": lambda o, x: o.erf(x),
    "logs": lambda o, x: o.log2(x * x + 1) + o.log10(x * x + 1) + o.exp2(x),
    "logaddexp": lambda o, x: o.logaddexp(x, Y),
    "hypot": lambda o, x: o.hypot(x, Y),
    "nan_to_num": lambda o, x: o.nan_to_num(x * 2),
    "divide_no_nan": lambda o, x: o.divide_no_nan(x, np.where(Y > 0, Y, 0)) + o.divide_no_nan(Y, x),
    "gelu": lambda o, x: o.gelu(x * 2),
    "gelu_exact": lambda o, x: o.gelu(x * 2, approximate=False),
    "silu": lambda o, x: o.silu(x),
    "selu": lambda o, x: o.selu(x * 2),
    "elu": lambda o, x: o.elu(x * 2, alpha=0.7),
    "leaky_relu": lambda o, x: o.leaky_relu(x, 0.1),
    "relu6": lambda o, x: o.relu6(x * 8),
    "softplus": lambda o, x: o.softplus(x * 3),
    "softsign": lambda o, x: o.softsign(x),
    "hard_sigmoid": lambda o, x: o.hard_sigmoid(x * 5),
    "hard_silu": lambda o, x: o.hard_silu(x * 5),
    "log_softmax": lambda o, x: o.log_softmax(x * 3),
    "log_sigmoid": lambda o, x: o.log_sigmoid(x * 3),
    "moments": lambda o, x: o.moments(x, axes=[0])[0] * o.moments(x, axes=[0])[1],
    "batch_normalization": lambda o, x: o.batch_normalization(
        x, Y[0], P[0], axis=-1, offset=Y[1], scale=P[1]
    ),
    "layer_normalization": lambda o, x: o.layer_normalization(x, gamma=P[0], beta=Y[0]),
    "rms_normalization": lambda o, x: o.rms_normalization(x, scale=P[0]),
    "categorical_crossentropy": lambda o, x: o.categorical_crossentropy(ONEHOT, x, from_logits=True),
    "categorical_crossentropy_probs": lambda o, x: o.categorical_crossentropy(ONEHOT, o.abs(x) + 0.1),
    "sparse_categorical_crossentropy": lambda o, x: o.sparse_categorical_crossentropy(
        LABELS, x, from_logits=True
    ),
    "sparse_categorical_crossentropy_probs": lambda o, x: o.sparse_categorical_crossentropy(
        LABELS, o.softmax(x)
    ),
    "binary_crossentropy": lambda o, x: o.binary_crossentropy(U, x, from_logits=True),
    "binary_crossentropy_probs": lambda o, x: o.binary_crossentropy(U, o.sigmoid(x)),
    "dot_product_attention": lambda o, x: o.dot_product_attention(
        o.reshape(x, (1, 3, 1, 4)), K[:1, :, :1], V[:1, :, :1], mask=MASK[:1, :1], is_causal=False
    ),
}

GRADIENTS.update(
    {
        "stop_gradient": lambda o, x: x * o.stop_gradient(x),
        "average": lambda o, x: o.average(x, axis=0, weights=P[:, 0]),
        "average_all": lambda o, x: o.average(x * x, weights=P),
        "arc_hyperbolic": lambda o, x: o.arcsinh(x) + o.arccosh(x * x + 1.5) + o.arctanh(x * 0.3),
        "cbrt": lambda o, x: o.cbrt(x * x + 0.5),
        "deg_rad": lambda o, x: o.deg2rad(x) * o.rad2deg(x),
        "logaddexp2": lambda o, x: o.logaddexp2(x, Y),
        "erfc": lambda o, x: o.erfc(x),
        "erfinv": lambda o, x: o.erfinv(x * 0.3),
        "copy": lambda o, x: o.copy(x) * x,
        "flips": lambda o, x: o.fliplr(x) * o.flipud(x),
        "diff": lambda o, x: o.diff(x, n=2),
        "celu": lambda o, x: o.celu(x * 2, alpha=0.7),
        "glu": lambda o, x: o.glu(x),
        "hard_tanh": lambda o, x: o.hard_tanh(x * 2),
        "shrinks": lambda o, x: o.hard_shrink(x) + o.soft_shrink(x, 0.3) * 2 + o.tanh_shrink(x),
        "squareplus": lambda o, x: o.squareplus(x, 2),
        "sparse_plus_sigmoid": lambda o, x: o.sparse_plus(x * 2) + o.sparse_sigmoid(x * 2) * 3,
        "threshold": lambda o, x: o.threshold(x, 0.2, -1.0),
        "scatter": lambda o, x: o.scatter(np.array([[0, 1], [2, 3], [0, 1]]), x[0, :3], (3, 4)),
        "scatter_update": lambda o, x: o.scatter_update(x, np.array([[0, 1], [2, 3]]), x[1, :2] * 3.0),
        "scatter_update_add": lambda o, x: o.scatter_update(
            x, np.array([[0, 1], [0, 1]]), x[1, :2] * 3.0, reduction="add"
        ),
        "segment_sum": lambda o, x: o.segment_sum(x, np.array([0, 2, 2], np.int32), num_segments=3),
    }
)

GRADIENTS.update(
    {
        "conv": lambda o, x: o.conv(
            o.reshape(x, (1, 3, 4, 1)), KER2[:, :, :1], padding="same", strides=(1, 2)
        ),
        "conv_kernel": lambda o, x: o.conv(IMG[:1, :4, :5], o.reshape(x, (2, 2, 3, 1)), dilation_rate=2),
        "depthwise_conv": lambda o, x: o.depthwise_conv(
            o.reshape(x, (1, 2, 3, 2)), DEP2[:2, :2, :2], padding="same"
        ),
        "max_pool": lambda o, x: o.max_pool(o.reshape(x, (1, 3, 4, 1)), 2, strides=1, padding="same"),
        "average_pool": lambda o, x: o.average_pool(o.reshape(x, (1, 3, 4, 1)), 2, strides=1, padding="same"),
    }
)


def sn_gradient(function, x, w):
    tape = Tape("test")
    traced = tape.watch(x)
    out = function(sn.ops, traced)
    return tape.gradient(out, traced, w)


def tf_gradient(function, x, w):
    v = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(v)
        out = function(keras.ops, v)
    return tape.gradient(out, v, output_gradients=tf.constant(w)).numpy()


@pytest.mark.parametrize("name", sorted(GRADIENTS))
def test_gradients_through_the_tape_equal_tensorflow(name):
    function = GRADIENTS[name]
    x = TIES.copy() if name.endswith("_ties") else X.copy()  # ties: the gradient split as TF splits it
    out = np.asarray(keras.ops.convert_to_numpy(function(keras.ops, x)))
    w = RNG.normal(size=out.shape).astype(np.float32)
    ours = sn_gradient(function, x, w)
    theirs = tf_gradient(function, x, w)
    assert ours.dtype == np.float32 and ours.shape == x.shape
    assert_close(ours, theirs, GRAD_RTOL, name)


# ----------------------------------------------------------------------------- end to end
def ops_model(m):
    """A program written once (``m`` is ``keras`` or ``scratchnet``): a custom layer and a
    subclassed model whose ``call`` use many ops on symbolic tensors."""

    class GatedMix(m.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.proj = m.layers.Dense(units)
            self.gate = m.layers.Dense(units)

        def call(self, x):
            h = m.ops.gelu(self.proj(x))
            return m.ops.layer_normalization(h * m.ops.sigmoid(self.gate(x)), epsilon=1e-3)

    class OpsModel(m.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.mix = GatedMix(6)
            self.head = m.layers.Dense(3)

        def call(self, x):
            z = self.mix(x)  # (B, T, 6)
            top, _ = m.ops.top_k(m.ops.swapaxes(z, 1, 2), 2)  # the 2 largest over time, (B, 6, 2)
            pooled = m.ops.concatenate(
                [
                    m.ops.max(z, axis=1),
                    m.ops.logsumexp(z, axis=1),
                    m.ops.std(z, axis=1),
                    m.ops.sum(top, axis=-1),
                    m.ops.norm(z, axis=1),
                ],
                axis=-1,
            )
            scores = m.ops.einsum("btd,bsd->bts", z, z)
            attention = m.ops.mean(m.ops.log_softmax(scores, axis=-1), axis=(1, 2))
            return self.head(m.ops.silu(pooled)) + m.ops.expand_dims(attention, -1)

    return OpsModel()


def test_a_subclassed_model_made_of_ops_trains_with_fit_to_keras_weights():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 5, 4)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    kmodel, smodel = ops_model(keras), ops_model(sn)
    kmodel(x[:2])
    smodel(x[:2])
    smodel.set_weights(kmodel.get_weights())
    assert_close(smodel.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL, "predictions")
    smodel.compile(
        optimizer=sn.optimizers.Adam(0.01), loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    kmodel.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=False,
    )
    loss_s, grads_s = smodel.loss_and_grads(x, y)
    loss_k, grads_k = tfnet.loss_and_grads(kmodel, x, y)
    assert_close(loss_s, loss_k, FORWARD_RTOL, "loss")
    for gs, gk in zip(grads_s, grads_k, strict=True):
        assert_close(gs, gk, GRAD_RTOL, "gradient")
    hs = smodel.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    hk = kmodel.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    assert_close(hs.history["loss"], hk.history["loss"], GRAD_RTOL, "epoch losses")
    for ws, wk in zip(smodel.get_weights(), kmodel.get_weights(), strict=True):
        assert_close(ws, wk, TRAJECTORY_RTOL, "weights after fit")


def custom_losses(m):
    """keras.io-style custom losses written once with ``m.ops``: a function and a Loss subclass."""

    def focal_crossentropy(y_true, y_pred):
        p = m.ops.softmax(y_pred)
        ce = m.ops.categorical_crossentropy(y_true, y_pred, from_logits=True)
        return ce * m.ops.square(1.0 - m.ops.max(p * y_true, axis=-1)) + 0.1 * m.ops.mean(
            m.ops.abs(y_pred), axis=-1
        )

    class SmoothL1(m.losses.Loss):
        def call(self, y_true, y_pred):
            d = m.ops.abs(y_true - y_pred)
            return m.ops.mean(m.ops.where(d < 1.0, 0.5 * d * d, d - 0.5), axis=-1)

    return focal_crossentropy, SmoothL1()


def _dense_model(m, outputs):
    return m.Sequential([m.Input((5,)), m.layers.Dense(8, activation="tanh"), m.layers.Dense(outputs)])


@pytest.mark.parametrize("which", [0, 1])
def test_custom_losses_made_of_ops_train_with_fit_to_keras_weights(which):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(24, 5)).astype(np.float32)
    y = (
        np.eye(3, dtype=np.float32)[rng.integers(0, 3, 24)]
        if which == 0
        else rng.normal(size=(24, 3)).astype(np.float32) * 2
    )
    smodel, kmodel = _dense_model(sn, 3), _dense_model(keras, 3)
    kmodel.set_weights(smodel.get_weights())
    smodel.compile(optimizer=sn.optimizers.SGD(0.1), loss=custom_losses(sn)[which])
    kmodel.compile(optimizer=keras.optimizers.SGD(0.1), loss=custom_losses(keras)[which], jit_compile=False)
    loss_s, grads_s = smodel.loss_and_grads(x, y)
    loss_k, grads_k = tfnet.loss_and_grads(kmodel, x, y)
    assert_close(loss_s, loss_k, FORWARD_RTOL, "loss")
    for gs, gk in zip(grads_s, grads_k, strict=True):
        assert_close(gs, gk, GRAD_RTOL, "gradient")
    hs = smodel.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    hk = kmodel.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    assert_close(hs.history["loss"], hk.history["loss"], GRAD_RTOL, "epoch losses")
    for ws, wk in zip(smodel.get_weights(), kmodel.get_weights(), strict=True):
        assert_close(ws, wk, TRAJECTORY_RTOL, "weights after fit")


def _unwrapped(name):
    function = getattr(sn.ops, name)
    return getattr(function, "__wrapped__", function)


def _parameters(function):
    import inspect

    return [
        (p.name, p.default)
        for p in inspect.signature(getattr(function, "__wrapped__", function)).parameters.values()
    ]


NEW_NAMES = sorted(
    set(sn.ops.numpy.__dict__)
    | set(sn.ops.nn.__dict__)
    | {"logsumexp", "top_k", "erf", "rsqrt", "norm", "unstack"}
    - {"__name__", "__doc__", "__package__", "__loader__", "__spec__"}
)


@pytest.mark.parametrize(
    "name", [n for n in NEW_NAMES if not n.startswith("__") and not isinstance(_unwrapped(n), np.ufunc)]
)
def test_argument_names_and_defaults_are_keras(name):
    ours, theirs = _parameters(getattr(sn.ops, name)), _parameters(getattr(keras.ops, name))
    assert [n for n, _ in ours if n != "kwargs"] == [n for n, _ in theirs if n != "kwargs"]
    assert [d for n, d in ours if n != "kwargs"] == [d for n, d in theirs if n != "kwargs"]


def test_namespaces_hold_what_keras_namespaces_hold():
    for namespace in ("nn", "numpy", "linalg"):
        ours = {n for n in vars(getattr(sn.ops, namespace)) if not n.startswith("__")}
        theirs = set(dir(getattr(keras.ops, namespace)))
        assert ours <= theirs, ours - theirs
        assert ours == theirs & {n for n in dir(sn.ops) if not n.startswith("_")}


@pytest.mark.parametrize("name", sn.random.__all__)
def test_random_has_keras_random_names_arguments_and_dtypes(name):
    ours, theirs = getattr(sn.random, name), getattr(keras.random, name)
    if name == "SeedGenerator":
        ours, theirs = ours.__init__, theirs.__init__
    assert _parameters(ours) == _parameters(theirs)


@pytest.mark.parametrize(
    "draw",
    [
        lambda r: r.normal((2, 3), seed=1),
        lambda r: r.uniform((4,), minval=-1.0, maxval=2.0, seed=1),
        lambda r: r.truncated_normal((3,), seed=1),
        lambda r: r.randint((2, 2), 0, 5, seed=1),
        lambda r: r.categorical(np.zeros((2, 3), np.float32), 4, seed=1),
        lambda r: r.gamma((3,), 2.0, seed=1),
        lambda r: r.beta((3,), 2.0, 3.0, seed=1),
        lambda r: r.binomial((3,), 5, 0.5, seed=1),
        lambda r: r.dropout(np.ones((2, 3), np.float32), 0.5, seed=1),
        lambda r: r.shuffle(np.arange(6, dtype=np.int32), seed=1),
        lambda r: r.normal((2,), dtype="float64", seed=1),
    ],
)
def test_random_draws_have_keras_shapes_and_dtypes(draw):
    ours, theirs = np.asarray(draw(sn.random)), keras.ops.convert_to_numpy(draw(keras.random))
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
