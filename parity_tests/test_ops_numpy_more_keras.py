"""The rest of ``keras.ops.numpy`` in ``sn.ops`` (quantiles, NaN-skipping reductions, histograms,
bitwise and elementwise functions, complex parts, shape functions) against Keras 3 on the
TensorFlow backend: values and dtypes (FORWARD_RTOL; integers exactly), gradients through the
tape against ``tf.GradientTape`` (GRAD_RTOL), and Keras' argument names."""

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

import scratchnet as sn
from parity_tests.driver import FORWARD_RTOL, GRAD_RTOL, assert_close
from scratchnet.autodiff import Tape

RNG = np.random.default_rng(7)
X = RNG.normal(size=(3, 4)).astype(np.float32)
Y = RNG.normal(size=(3, 4)).astype(np.float32)
T = RNG.normal(size=(2, 3, 5)).astype(np.float32)
V = RNG.normal(size=(7,)).astype(np.float32)
W = RNG.normal(size=(3,)).astype(np.float32)
N = X.copy()
N[0, 1], N[2, 2], N[2, 0] = np.nan, np.nan, np.nan
ALL_NAN_ROW = N.copy()
ALL_NAN_ROW[1] = np.nan
I = np.array([[5, 3, 12], [7, 0, 9]], np.int32)
J = np.array([[3, 6, 4], [2, 5, 3]], np.int32)
COUNTS = np.array([0, 1, 1, 3, 2, 1, 7], np.int32)
C = (X[:, :2] + 1j * Y[:, :2]).astype(np.complex64)
V3 = RNG.normal(size=(4, 3)).astype(np.float32)

CASES = {
    # quantiles
    "median": lambda o: o.median(X),
    "median_axis": lambda o: o.median(X, axis=1),
    "median_keepdims": lambda o: o.median(T, axis=(0, 2), keepdims=True),
    "median_int": lambda o: o.median(I, axis=0),
    "median_nan": lambda o: o.median(N, axis=1),
    "quantile": lambda o: o.quantile(X, 0.3, axis=0),
    "quantile_vector_q": lambda o: o.quantile(T, np.array([0.1, 0.5, 1.0], np.float32), axis=-1),
    "quantile_lower": lambda o: o.quantile(X, 0.3, axis=1, method="lower"),
    "quantile_higher": lambda o: o.quantile(X, 0.3, axis=1, method="higher"),
    "quantile_nearest": lambda o: o.quantile(X, 0.4, method="nearest"),
    "quantile_midpoint": lambda o: o.quantile(X, 0.3, axis=1, method="midpoint"),
    "quantile_keepdims_q": lambda o: o.quantile(X, np.array([0.25, 0.75], np.float32), axis=1, keepdims=True),
    "percentile": lambda o: o.percentile(X, 35.0, axis=1),
    "percentile_vector": lambda o: o.percentile(V, np.array([0.0, 50.0, 90.0], np.float32)),
    # NaN-skipping
    "nansum": lambda o: o.nansum(N, axis=1),
    "nansum_all": lambda o: o.nansum(N),
    "nanprod": lambda o: o.nanprod(N, axis=0),
    "nanmean": lambda o: o.nanmean(N, axis=1),
    "nanmean_int": lambda o: o.nanmean(I),
    "nanvar": lambda o: o.nanvar(N, axis=0, keepdims=True),
    "nanstd": lambda o: o.nanstd(N),
    "nanmax": lambda o: o.nanmax(N, axis=1),
    "nanmax_all_nan": lambda o: o.nanmax(ALL_NAN_ROW, axis=1),
    "nanmin": lambda o: o.nanmin(N, axis=0),
    "nanmax_int": lambda o: o.nanmax(I, axis=1),
    "nanargmax": lambda o: o.nanargmax(N, axis=1),
    "nanargmax_all_nan": lambda o: o.nanargmax(ALL_NAN_ROW, axis=1),
    "nanargmin": lambda o: o.nanargmin(N, axis=0),
    "nanargmin_flat": lambda o: o.nanargmin(N),
    "nancumsum": lambda o: o.nancumsum(N, axis=1),
    "nancumprod": lambda o: o.nancumprod(N, axis=0),
    "nanmedian": lambda o: o.nanmedian(N, axis=1),
    "nanmedian_all": lambda o: o.nanmedian(N),
    "nanquantile": lambda o: o.nanquantile(N, 0.3, axis=0),
    "nanpercentile": lambda o: o.nanpercentile(N, 70.0, axis=1),
    # statistics
    "ptp": lambda o: o.ptp(X, axis=1),
    "ptp_int": lambda o: o.ptp(I),
    "histogram_counts": lambda o: o.histogram(V, bins=4)[0],
    "histogram_edges": lambda o: o.histogram(V, bins=4)[1],
    "histogram_range": lambda o: o.histogram(V, bins=3, range=(-1.0, 1.0))[0],
    "bincount": lambda o: o.bincount(COUNTS),
    "bincount_minlength": lambda o: o.bincount(COUNTS, minlength=10),
    "bincount_weights": lambda o: o.bincount(COUNTS, weights=V),
    "bincount_2d": lambda o: o.bincount(I % 4),
    "corrcoef": lambda o: o.corrcoef(X),
    "correlate_valid": lambda o: o.correlate(V, W),
    "correlate_same": lambda o: o.correlate(V, W, mode="same"),
    "correlate_full": lambda o: o.correlate(V, W, mode="full"),
    "correlate_short_first": lambda o: o.correlate(W, V, mode="same"),
    "correlate_short_full": lambda o: o.correlate(W, V, mode="full"),
    "correlate_even_same": lambda o: o.correlate(W[:2], V[:6], mode="same"),
    "correlate_even_same_long_first": lambda o: o.correlate(V[:6], W[:2], mode="same"),
    "trapezoid": lambda o: o.trapezoid(X),
    "trapezoid_dx": lambda o: o.trapezoid(X, dx=0.5, axis=0),
    "trapezoid_x": lambda o: o.trapezoid(X, x=np.array([0.0, 0.5, 2.0, 3.0], np.float32)),
    # bitwise and integers
    "bitwise_and": lambda o: o.bitwise_and(I, J),
    "bitwise_or": lambda o: o.bitwise_or(I, J),
    "bitwise_xor": lambda o: o.bitwise_xor(I, J),
    "bitwise_invert": lambda o: o.bitwise_invert(I),
    "bitwise_not": lambda o: o.bitwise_not(I),
    "bitwise_left_shift": lambda o: o.bitwise_left_shift(I, J),
    "bitwise_right_shift": lambda o: o.bitwise_right_shift(I, np.array(1, np.int32)),
    "left_shift": lambda o: o.left_shift(I, J),
    "right_shift": lambda o: o.right_shift(I, J),
    "gcd": lambda o: o.gcd(I, J),
    "lcm": lambda o: o.lcm(I, J),
    # elementwise
    "fmod": lambda o: o.fmod(X * 5, Y),
    "fmod_int": lambda o: o.fmod(I - 6, J),
    "fmax": lambda o: o.fmax(N, Y),
    "fmin": lambda o: o.fmin(Y, N),
    "fabs": lambda o: o.fabs(X),
    "fabs_int": lambda o: o.fabs(I - 6),
    "heaviside": lambda o: o.heaviside(np.array([-1.0, 0.0, 2.0], np.float32), np.float32(0.5)),
    "heaviside_int": lambda o: o.heaviside(I - 5, J),
    "i0": lambda o: o.i0(X),
    "sinc": lambda o: o.sinc(np.concatenate([X.ravel(), [0.0]]).astype(np.float32)),
    "signbit": lambda o: o.signbit(np.array([-1.0, -0.0, 0.0, 2.0, -np.inf], np.float32)),
    "ldexp": lambda o: o.ldexp(X, J[:, :1].repeat(4, axis=1)[:2].reshape(2, 4)[:1]),
    "nextafter": lambda o: o.nextafter(X, Y),
    "isin": lambda o: o.isin(I, np.array([0, 5, 9], np.int32)),
    "isin_invert": lambda o: o.isin(I, np.array([0, 5, 9], np.int32), invert=True),
    "isreal": lambda o: o.isreal(X),
    "isreal_complex": lambda o: o.isreal(np.array([1 + 0j, 1 + 1j], np.complex64)),
    "real": lambda o: o.real(C),
    "imag": lambda o: o.imag(C),
    "conj": lambda o: o.conj(C),
    "conjugate_real": lambda o: o.conjugate(X),
    "angle": lambda o: o.angle(C),
    "angle_real": lambda o: o.angle(X),
    "polar": lambda o: o.polar(np.abs(X), Y),
    "view_as_complex": lambda o: o.view_as_complex(T[:, :, :2]),
    "view_as_real": lambda o: o.view_as_real(C),
    "view": lambda o: o.view(X, "int32"),
    # shapes
    "array_split": lambda o: o.array_split(V, 3)[0],
    "array_split_last": lambda o: o.array_split(V, 3)[2],
    "array_split_axis": lambda o: o.array_split(X, 3, axis=1)[1],
    "hsplit": lambda o: o.hsplit(X, 2)[1],
    "vsplit": lambda o: o.vsplit(X, 3)[2],
    "dsplit": lambda o: o.dsplit(T, [1, 3])[1],
    "dstack": lambda o: o.dstack([X, Y]),
    "dstack_1d": lambda o: o.dstack([V, V]),
    "diagflat": lambda o: o.diagflat(X[:2, :2]),
    "diagflat_k": lambda o: o.diagflat(W, k=-1),
    "kron": lambda o: o.kron(X[:2, :2], Y[:2, :3]),
    "kron_1d": lambda o: o.kron(W, V[:2]),
    "cross": lambda o: o.cross(V3, V3[::-1]),
    "cross_2d": lambda o: o.cross(V3[:, :2], V3[::-1, :2]),
    "cross_axis": lambda o: o.cross(V3.T, V3.T[:, ::-1], axis=0),
    "vander": lambda o: o.vander(W),
    "vander_n": lambda o: o.vander(W, N=4, increasing=True),
    "vdot": lambda o: o.vdot(X, Y),
    "unique": lambda o: o.unique(np.array([3, 1, 3, 2, 1], np.int32)),
    "unique_counts": lambda o: o.unique(np.array([3, 1, 3, 2, 1], np.int32), return_counts=True)[1],
    "unique_inverse": lambda o: o.unique(np.array([3, 1, 3, 2, 1], np.int32), return_inverse=True)[1],
    # 1-D only: Keras 3.15's TensorFlow argpartition builds its mask wrongly for more axes
    "argpartition": lambda o: o.argpartition(np.array([5, 1, 4, 2, 3, 0, 9], np.int32), 2),
    "argpartition_ties": lambda o: o.argpartition(np.array([3, 1, 3, 1, 2], np.int32), 3),
    "unravel_index": lambda o: o.unravel_index(np.array([0, 5, 11], np.int32), (3, 4))[1],
    "geomspace": lambda o: o.geomspace(1.0, 1000.0, num=4),
    "geomspace_negative": lambda o: o.geomspace(-2.0, -32.0, num=5, endpoint=False),
    "logspace": lambda o: o.logspace(0.0, 2.0, num=5),
    "logspace_base": lambda o: o.logspace(0.0, 3.0, num=4, base=2, endpoint=False),
    "rearrange": lambda o: o.rearrange(T, "b h w -> b (h w)"),
    "rearrange_transpose": lambda o: o.rearrange(T, "b h w -> w b h"),
    "rearrange_split": lambda o: o.rearrange(T[:, :2, :4], "b h (w c) -> b c h w", c=2),
}


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


GRADIENTS = {
    "median": lambda o, x: o.median(x, axis=1),
    "quantile": lambda o, x: o.quantile(x, np.array([0.2, 0.9], np.float32), axis=0),
    "percentile_all": lambda o, x: o.percentile(x, 40.0),
    "nanmean": lambda o, x: o.nanmean(o.where(x > 1.0, np.nan, x), axis=1),
    "nansum": lambda o, x: o.nansum(o.where(x > 1.0, np.nan, x), axis=0),
    "nanvar": lambda o, x: o.nanvar(o.where(x > 1.0, np.nan, x), axis=1),
    "nanmax": lambda o, x: o.nanmax(x, axis=0),
    "nancumsum": lambda o, x: o.nancumsum(x, axis=1),
    "ptp": lambda o, x: o.ptp(x, axis=1),
    "corrcoef": lambda o, x: o.corrcoef(x),
    "correlate": lambda o, x: o.correlate(o.ravel(x), W, mode="full"),
    "trapezoid": lambda o, x: o.trapezoid(x, axis=0),
    "fmod": lambda o, x: o.fmod(x * 3.0, np.float32(0.7)),
    "fmax": lambda o, x: o.fmax(x, Y),
    "fabs": lambda o, x: o.fabs(x),
    "sinc": lambda o, x: o.sinc(x),
    "kron": lambda o, x: o.kron(x, Y[:2, :2]),
    "cross": lambda o, x: o.cross(x[:, :3], V3[:3]),
    "vander": lambda o, x: o.vander(x[0], N=3),
    "vdot": lambda o, x: o.vdot(x, Y),
    "dstack": lambda o, x: o.dstack([x, x * 2.0]),
    "diagflat": lambda o, x: o.diagflat(x[0]),
    "array_split": lambda o, x: o.array_split(x, 3, axis=1)[2],
    "rearrange": lambda o, x: o.rearrange(x, "a (b c) -> c a b", c=2),
    "i0": lambda o, x: o.i0(x),
    "real": lambda o, x: o.real(x) * 2.0,
    "heaviside_x2": lambda o, x: o.heaviside(np.where(Y > 0.5, 0.0, Y).astype(np.float32), x),
}


@pytest.mark.parametrize("name", sorted(GRADIENTS))
def test_gradients_through_the_tape_equal_tensorflow(name):
    function = GRADIENTS[name]
    out = keras.ops.convert_to_numpy(function(keras.ops, X))
    w = RNG.normal(size=out.shape).astype(np.float32)
    tape = Tape("test")
    traced = tape.watch(X)
    ours = tape.gradient(function(sn.ops, traced), traced, w)
    v = tf.constant(X)
    with tf.GradientTape() as g:
        g.watch(v)
        y = function(keras.ops, v)
    theirs = g.gradient(y, v, output_gradients=tf.constant(w)).numpy()
    assert ours.dtype == np.float32 and ours.shape == X.shape
    assert_close(ours, theirs, GRAD_RTOL, name)


@pytest.mark.parametrize("name", sn.ops._NUMPY_MORE.split() + ["polar", "rearrange", "view_as_complex",
                                                                "view_as_real"])
def test_argument_names_and_defaults_are_keras(name):
    def params(f):
        return [(p.name, p.default) for p in inspect.signature(f).parameters.values()]
    assert params(getattr(sn.ops, name)) == params(getattr(keras.ops, name))


@pytest.mark.parametrize("call", [
    lambda o: o.correlate(V, W, mode="wide"),
    lambda o: o.unravel_index(np.array([1]), (None, 3)),
    lambda o: o.histogram(X),
    lambda o: o.view_as_complex(X),
    lambda o: o.vander(X),
])
def test_bad_arguments_raise_value_error_as_keras(call):
    with pytest.raises(ValueError):
        call(keras.ops)
    with pytest.raises(ValueError):
        call(sn.ops)
