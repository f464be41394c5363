"""``sn.ops``' control flow, custom gradients, segment reductions and linear algebra against
``keras.ops`` on the TensorFlow backend: values and dtypes on arrays (FORWARD_RTOL; integers
exactly), gradients through scratchnet's tape against ``tf.GradientTape`` (GRAD_RTOL), Keras'
argument names, and errors where Keras raises."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import scratchnet as sn
from parity_tests.driver import FORWARD_RTOL, GRAD_RTOL, assert_close
from scratchnet.autodiff import Tape

RNG = np.random.default_rng(3)
X = RNG.normal(size=(3, 4)).astype(np.float32)
XS = RNG.normal(size=(5, 3)).astype(np.float32)
M = (RNG.normal(size=(3, 3)) + 3 * np.eye(3)).astype(np.float32)  # well conditioned
MB = (RNG.normal(size=(2, 3, 3)) + 3 * np.eye(3)).astype(np.float32)
SPD = (M @ M.T + np.eye(3)).astype(np.float32)
B = RNG.normal(size=(3, 2)).astype(np.float32)
BV = RNG.normal(size=(3,)).astype(np.float32)
TALL = RNG.normal(size=(5, 3)).astype(np.float32)
LOWER = np.tril(M).astype(np.float32)
IDS = np.array([0, 2, 0, 1, 2], np.int32)
IDS_GAP = np.array([0, 0, 3, 3, 1], np.int32)  # segment 2 is empty


def _scan_sum(o):
    return o.scan(lambda c, x: (c + x, c * x), np.zeros(3, np.float32), XS)


CASES = {
    # control flow
    "scan_carry": lambda o: _scan_sum(o)[0],
    "scan_ys": lambda o: _scan_sum(o)[1],
    "scan_reverse": lambda o: o.scan(lambda c, x: (c + x, c), np.zeros(3, np.float32), XS, reverse=True)[1],
    "scan_length": lambda o: o.scan(lambda c, x: (c * 2.0, c), np.float32(1.0), length=4)[1],
    "scan_dict": lambda o: o.scan(lambda c, x: ({"a": c["a"] + x["u"], "b": c["b"] * 2.0},
                                                 {"a": x["u"] - c["a"], "b": c["b"]}),
                                  {"a": np.zeros(3, np.float32), "b": np.ones(2, np.float32)},
                                  {"u": XS})[1]["a"],
    "map": lambda o: o.map(lambda x: x * x + 1.0, XS),
    "map_tuple": lambda o: o.map(lambda t: t[0] - t[1], (XS, XS * 2.0)),
    "vectorized_map": lambda o: o.vectorized_map(lambda x: o.sum(x * x), XS),
    "fori_loop": lambda o: o.fori_loop(0, 4, lambda i, v: v * 2.0 + o.cast(i, "float32"), X),
    "while_loop": lambda o: o.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, v * 1.5), (0, X))[1],
    "while_loop_single": lambda o: o.while_loop(lambda v: o.sum(v) < 100.0, lambda v: v + 1.0,
                                                np.ones(3, np.float32)),
    "while_loop_maximum": lambda o: o.while_loop(lambda v: True, lambda v: v * 2.0, np.float32(1.0),
                                                 maximum_iterations=5),
    "switch": lambda o: o.switch(1, [lambda x: x + 1.0, lambda x: x * 3.0], X),
    "switch_clipped": lambda o: o.switch(7, [lambda x: x + 1.0, lambda x: x * 3.0], X),
    "switch_negative": lambda o: o.switch(-2, [lambda x: x + 1.0, lambda x: x * 3.0], X),
    "associative_scan": lambda o: o.associative_scan(o.add, XS),
    "associative_scan_reverse": lambda o: o.associative_scan(o.multiply, XS, reverse=True),
    "associative_scan_axis1": lambda o: o.associative_scan(o.maximum, X, axis=1),
    "saturate_cast_uint8": lambda o: o.saturate_cast(np.array([-1.0, 256.0, 3.7, 255.5], np.float32),
                                                     "uint8"),
    "saturate_cast_int8": lambda o: o.saturate_cast(np.array([-300, 5, 200], np.int32), "int8"),
    "saturate_cast_float16": lambda o: o.saturate_cast(np.array([1e6, -1e6, 2.5], np.float32),
                                                       "float16"),
    "segment_max": lambda o: o.segment_max(XS, IDS),
    "segment_min": lambda o: o.segment_min(XS, IDS),
    "segment_prod": lambda o: o.segment_prod(XS, IDS),
    "segment_max_empty": lambda o: o.segment_max(XS, IDS_GAP),
    "segment_min_empty": lambda o: o.segment_min(XS, IDS_GAP, num_segments=5),
    "segment_prod_empty": lambda o: o.segment_prod(XS, IDS_GAP),
    "segment_max_int": lambda o: o.segment_max(np.array([3, 1, 4, 1, 5], np.int32), IDS),
    "segment_max_sorted": lambda o: o.segment_max(XS, np.array([0, 0, 1, 1, 2]), sorted=True),
    # linear algebra
    "inv": lambda o: o.inv(M),
    "inv_batch": lambda o: o.inv(MB),
    "det": lambda o: o.det(M),
    "det_batch": lambda o: o.det(MB),
    "slogdet_sign": lambda o: o.slogdet(-M)[0],
    "slogdet_log": lambda o: o.slogdet(MB)[1],
    "logdet": lambda o: o.logdet(SPD),
    "solve": lambda o: o.solve(M, B),
    "solve_vector": lambda o: o.solve(M, BV),
    "solve_triangular_lower": lambda o: o.solve_triangular(M, B, lower=True),
    "solve_triangular_upper": lambda o: o.solve_triangular(M, BV),
    "cholesky": lambda o: o.cholesky(SPD),
    "cholesky_upper": lambda o: o.cholesky(SPD, upper=True),
    "cholesky_inverse": lambda o: o.cholesky_inverse(np.linalg.cholesky(SPD).astype(np.float32)),
    "cholesky_inverse_upper": lambda o: o.cholesky_inverse(np.linalg.cholesky(SPD).T.astype(np.float32),
                                                           upper=True),
    "eigh_values": lambda o: o.eigh(SPD)[0],
    "eigh_vectors_abs": lambda o: o.abs(o.eigh(SPD)[1]),
    "eig_values_sorted": lambda o: np.sort(np.real(o.convert_to_numpy(o.eig(SPD)[0]))),
    "svd_s": lambda o: o.svd(TALL, compute_uv=False),
    "svd_u_abs": lambda o: o.abs(o.svd(TALL, full_matrices=False)[0]),
    "svd_vh_abs": lambda o: o.abs(o.svd(TALL)[2]),
    "svd_full_u_shape": lambda o: o.svd(TALL)[0].shape[1] * np.ones(1, np.int32),
    "qr_r_abs": lambda o: o.abs(o.qr(TALL)[1]),
    "qr_q_abs": lambda o: o.abs(o.qr(TALL, mode="complete")[0]),
    "lu_factor_lu": lambda o: o.lu_factor(M)[0],
    "lu_factor_p": lambda o: o.lu_factor(M)[1],
    "lu_factor_p_pivoting": lambda o: o.lu_factor(M[::-1] * np.array([[1], [3], [0.1]], np.float32))[1],
    "pinv": lambda o: o.pinv(TALL),
    "lstsq": lambda o: o.lstsq(TALL, RNG_B5),
    "lstsq_vector": lambda o: o.lstsq(TALL, RNG_B5[:, 0]),
    "matrix_rank": lambda o: o.matrix_rank(TALL),
    "matrix_rank_deficient": lambda o: o.matrix_rank(np.outer(BV, BV).astype(np.float32)),
}
RNG_B5 = RNG.normal(size=(5, 2)).astype(np.float32)


@pytest.mark.parametrize("case", sorted(CASES))
def test_values_and_dtypes_equal_keras_ops(case):
    ours = np.asarray(CASES[case](sn.ops))
    theirs = keras.ops.convert_to_numpy(CASES[case](keras.ops))
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype, (ours.shape, theirs.shape,
                                                                         ours.dtype, theirs.dtype)
    if ours.dtype.kind == "c":  # both parts (the driver compares real arrays)
        assert_close(ours.real, theirs.real, FORWARD_RTOL, case + " real part")
        assert_close(ours.imag, theirs.imag, FORWARD_RTOL, case + " imaginary part")
    elif ours.dtype.kind == "f":
        assert_close(ours, theirs, FORWARD_RTOL, case)
    else:
        np.testing.assert_array_equal(ours, theirs)


# Differentiable functions of one float32 input x (other arguments constants).
GRADIENTS = {
    "scan": (XS, lambda o, x: o.scan(lambda c, v: (c * v + 1.0, o.sin(c)), np.ones(3, np.float32), x)[1]),
    "map": (XS, lambda o, x: o.map(lambda v: o.exp(v) * v, x)),
    "fori_loop": (X, lambda o, x: o.fori_loop(0, 3, lambda i, v: o.tanh(v) * x, x)),
    "while_loop": (X, lambda o, x: o.while_loop(lambda i, v: i < 2, lambda i, v: (i + 1, v * x), (0, x))[1]),
    "associative_scan": (XS, lambda o, x: o.associative_scan(o.multiply, x)),
    "segment_max": (XS, lambda o, x: o.segment_max(x, IDS)),
    "segment_min": (XS, lambda o, x: o.segment_min(x, IDS, num_segments=3)),
    "segment_prod": (XS, lambda o, x: o.segment_prod(x, IDS)),
    "inv": (M, lambda o, x: o.inv(x)),
    "det": (M, lambda o, x: o.det(x)),
    "slogdet": (M, lambda o, x: o.slogdet(x)[1]),
    "logdet": (SPD, lambda o, x: o.logdet(x)),
    "solve_a": (M, lambda o, x: o.solve(x, B)),
    "solve_b": (B, lambda o, x: o.solve(M, x)),
    "solve_triangular_a": (M, lambda o, x: o.solve_triangular(x, B, lower=True)),
    "solve_triangular_b": (BV, lambda o, x: o.solve_triangular(M, x)),
    "cholesky": (SPD, lambda o, x: o.cholesky(x)),
    "cholesky_inverse": (LOWER, lambda o, x: o.cholesky_inverse(x)),
    "eigh_values": (SPD, lambda o, x: o.eigh(x)[0]),
    "eigh_vectors_squared": (SPD, lambda o, x: o.square(o.eigh(x)[1])),  # the eigenvectors' signs cancel
}


def sn_gradient(function, x, w):
    tape = Tape("test")
    traced = tape.watch(x)
    return tape.gradient(function(sn.ops, traced), traced, w)


def tf_gradient(function, x, w):
    v = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(v)
        out = function(keras.ops, v)
    return tape.gradient(out, v, output_gradients=tf.constant(w)).numpy()


@pytest.mark.parametrize("name", sorted(GRADIENTS))
def test_gradients_through_the_tape_equal_tensorflow(name):
    x, function = GRADIENTS[name]
    out = keras.ops.convert_to_numpy(function(keras.ops, x))
    w = RNG.normal(size=out.shape).astype(np.float32)
    ours, theirs = sn_gradient(function, x, w), tf_gradient(function, x, w)
    assert ours.dtype == np.float32 and ours.shape == x.shape
    assert_close(ours, theirs, GRAD_RTOL, name)


def test_custom_gradient_uses_the_given_rule_as_tensorflow_does():
    def make(o):
        @o.custom_gradient
        def log1pexp(x):
            e = o.exp(x)

            def grad(*args, upstream=None):
                if upstream is None:
                    (upstream,) = args
                return o.multiply(upstream, 1.0 - 1.0 / o.add(1, e))
            return o.log(1 + e), grad
        return log1pexp
    ours_f, theirs_f = make(sn.ops), make(keras.ops)
    x = np.array([0.0, 3.0, 10.0], np.float32)
    assert_close(np.asarray(ours_f(x)), keras.ops.convert_to_numpy(theirs_f(x)), FORWARD_RTOL, "value")
    x = np.array([0.0, 3.0, 100.0], np.float32)
    w = np.ones(3, np.float32)
    ours = sn_gradient(lambda o, v: ours_f(v) * 2.0, x, w)
    theirs = tf_gradient(lambda o, v: theirs_f(v) * 2.0, x, w)
    assert np.all(np.isfinite(ours))  # the plain rule would give NaN at x = 100
    assert_close(ours, theirs, GRAD_RTOL, "custom gradient")


def test_jvp_equals_keras_forward_mode():
    def f(a, b):
        return keras.ops.sin(a) * b, a * a

    def g(a, b):
        return sn.ops.sin(a) * b, a * a
    primals, tangents = (X, X * 2.0), (np.ones_like(X), X)
    ours = sn.ops.jvp(g, primals, tangents)
    theirs = keras.ops.jvp(f, tuple(map(tf.constant, primals)), tuple(map(tf.constant, tangents)))
    for o, t in zip(sn.tree.flatten(ours), sn.tree.flatten(theirs), strict=True):
        assert_close(np.asarray(o), keras.ops.convert_to_numpy(t), FORWARD_RTOL, "jvp")
    out, tangent, aux = sn.ops.jvp(lambda a: (a * a, "aux"), (X,), (X,), has_aux=True)
    assert aux == "aux"
    assert_close(tangent, 2 * X * X, FORWARD_RTOL, "jvp with aux")


def test_vectorize_is_numpys_as_on_keras_numpy_backend():
    # Keras 3.15's TensorFlow backend raises "Not supported with `vectorize()`" for every call;
    # its NumPy backend is np.vectorize, which is what sn.ops.vectorize computes.
    with pytest.raises(ValueError, match="Not supported"):
        keras.ops.vectorize(lambda a: a * 2.0)(X)
    np.testing.assert_array_equal(sn.ops.vectorize(lambda a: a * 2.0 + 1.0)(X), X * 2.0 + 1.0)
    rows = sn.ops.vectorize(lambda a: np.sum(a * a), signature="(d)->()")(X)
    assert_close(rows, np.sum(X * X, axis=1), FORWARD_RTOL, "vectorize with a signature")


def test_is_tensor():
    assert sn.ops.is_tensor(X) and keras.ops.is_tensor(keras.ops.convert_to_tensor(X))
    assert not sn.ops.is_tensor([1.0]) and not keras.ops.is_tensor([1.0])
    assert sn.ops.is_tensor(sn.Input((3,)))


@pytest.mark.parametrize("call, error", [
    (lambda o: o.scan(lambda c, x: (c, x), 0.0), ValueError),
    (lambda o: o.scan(lambda c, x: (c, x), 0.0, XS, unroll=0), ValueError),
    (lambda o: o.scan("f", 0.0, XS), TypeError),
    (lambda o: o.qr(M, mode="full"), ValueError),
    (lambda o: o.segment_max(XS, IDS, num_segments=3, sorted=True), ValueError),
    (lambda o: o.lstsq(TALL, B), ValueError),
    (lambda o: o.lstsq(MB, MB), TypeError),
])
def test_errors_as_keras(call, error):
    with pytest.raises(error):
        call(keras.ops)
    with pytest.raises(error):
        call(sn.ops)


def test_linalg_errors_name_the_op_and_the_shape():
    with pytest.raises(ValueError, match=r"ops.inv: expected a square matrix.*\(3, 4\)"):
        sn.ops.inv(X)
    with pytest.raises(ValueError, match="ops.cholesky: the input is not symmetric positive definite"):
        sn.ops.cholesky(-SPD)
    tape = Tape("Lambda 'f'")
    with pytest.raises(TypeError, match="ops.svd has no gradient"):
        sn.ops.svd(tape.watch(TALL))


@pytest.mark.parametrize("name", ["scan", "map", "fori_loop", "while_loop", "switch", "associative_scan",
                                  "vectorized_map", "custom_gradient", "saturate_cast", "segment_max",
                                  "segment_min", "segment_prod", "is_tensor", "jvp", "cholesky",
                                  "cholesky_inverse", "det", "eig", "eigh", "inv", "lstsq", "lu_factor",
                                  "matrix_rank", "pinv", "qr", "solve", "solve_triangular", "svd",
                                  "slogdet", "logdet", "vectorize"])
def test_argument_names_and_defaults_are_keras(name):
    import inspect

    def params(f):
        return [(p.name, p.default, p.kind) for p in inspect.signature(f).parameters.values()]
    assert params(getattr(sn.ops, name)) == params(getattr(keras.ops, name))


def test_linalg_namespace_holds_keras_names():
    assert {"inv", "det", "svd", "qr", "solve", "cholesky", "jvp", "norm"} <= set(vars(sn.ops.linalg))


# f(ops, x) for x of shape (batch, 3, 3). Not solve or adaptive pooling: Keras 3.15's symbolic shapes
# for them are wrong ((3,) for a batch of solves); their values are checked above.
SYMBOLIC = {
    "inv": lambda o, x: o.inv(x),
    "det": lambda o, x: o.det(x),
    "slogdet": lambda o, x: o.slogdet(x)[1],
    "eigh": lambda o, x: o.eigh(x)[0],
    "median": lambda o, x: o.median(x, axis=-1),
    "nanmean": lambda o, x: o.nanmean(x, axis=1),
    "quantile": lambda o, x: o.quantile(x, 0.25, axis=-1),
    "rfft": lambda o, x: o.rfft(x)[0],
    "fft": lambda o, x: o.fft((x, x))[1],
    "cdist": lambda o, x: o.cdist(x, x),
    "conv_transpose": lambda o, x: o.conv_transpose(o.expand_dims(x, -1), np.ones((2, 2, 2, 1), np.float32),
                                                    strides=2),
    "array_split": lambda o, x: o.array_split(x, 2, axis=2)[1],
}


@pytest.mark.parametrize("name", sorted(SYMBOLIC))
def test_ops_on_keras_tensors_give_keras_shapes_and_values_in_a_model(name):
    function = SYMBOLIC[name]
    ours = function(sn.ops, sn.Input((3, 3)))
    theirs = function(keras.ops, keras.Input((3, 3)))
    assert tuple(ours.shape) == tuple(theirs.shape), (ours.shape, theirs.shape)
    assert ours.dtype == theirs.dtype
    inputs = sn.Input((3, 3))
    model = sn.Model(inputs, function(sn.ops, inputs))
    assert_close(np.asarray(model.predict(MB, verbose=0)),
                 keras.ops.convert_to_numpy(function(keras.ops, tf.constant(MB))), FORWARD_RTOL, name)
