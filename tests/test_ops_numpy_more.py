"""The rest of ``keras.ops.numpy`` in ``sn.ops`` without Keras: tape gradients against float64
finite differences (tests/gradcheck.py, REL_TOL 1e-6), values against NumPy's definitions, and
the errors."""

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.autodiff import Tape
from tests.gradcheck import REL_TOL, numeric_grad, rel_error

O = sn.ops
R = np.random.default_rng(11)
C = R.normal(size=(3, 4))
NAN_AT = R.uniform(size=(3, 4)) > 0.7

# f(x) for x of shape (3, 4), float64, smooth at a random x
FUNCTIONS = {
    "median": lambda x: O.median(x, axis=1),
    "quantile": lambda x: O.quantile(x, np.array([0.2, 0.9]), axis=0),
    "percentile": lambda x: O.percentile(x, 40.0),
    "nanquantile": lambda x: O.nanquantile(O.where(NAN_AT, np.nan, x), 0.3, axis=1),
    "nanmean": lambda x: O.nanmean(O.where(NAN_AT, np.nan, x), axis=1),
    "nanvar": lambda x: O.nanvar(O.where(NAN_AT, np.nan, x), axis=0),
    "nanstd": lambda x: O.nanstd(O.where(NAN_AT, np.nan, x)),
    "nanprod": lambda x: O.nanprod(O.where(NAN_AT, np.nan, x), axis=1),
    "nanmin": lambda x: O.nanmin(x, axis=1),
    "nancumprod": lambda x: O.nancumprod(x, axis=0),
    "ptp": lambda x: O.ptp(x, axis=0),
    "corrcoef": lambda x: O.corrcoef(x),
    "correlate": lambda x: O.correlate(O.ravel(x), C[0], mode="same"),
    "trapezoid": lambda x: O.trapezoid(x, x=np.array([0.0, 0.3, 1.0, 2.5])),
    "fmin": lambda x: O.fmin(x, C),
    "sinc": lambda x: O.sinc(x),
    "ldexp": lambda x: O.ldexp(x, np.array([1, 2, 3, 0])),
    "kron": lambda x: O.kron(x[:2], C[:2, :2]),
    "cross": lambda x: O.cross(x[:, :3], C[:, 1:]),
    "vdot": lambda x: O.vdot(x, C),
    "vander": lambda x: O.vander(x[1], increasing=True),
    "dstack": lambda x: O.dstack([x, C]),
    "hsplit": lambda x: O.hsplit(x, 2)[1],
    "rearrange": lambda x: O.rearrange(x, "a (b c) -> (c a) b", b=2),
    "i0": lambda x: O.i0(x),
    "real": lambda x: O.real(x) * x,
    "heaviside": lambda x: O.heaviside(np.where(C > 0, 0.0, C), x),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_tape_gradient_matches_finite_differences(name, float64):
    function = FUNCTIONS[name]
    x = R.standard_normal((3, 4))
    w = np.random.default_rng(1).standard_normal(np.shape(function(x)))
    tape = Tape("test")
    traced = tape.watch(x)
    analytic = tape.gradient(function(traced), traced, w)
    numeric = numeric_grad(lambda: float(np.sum(w * np.asarray(function(x)))), x)
    assert np.any(numeric != 0)
    assert rel_error(analytic, numeric) < REL_TOL, rel_error(analytic, numeric)


def test_values_are_numpys_definitions(float64):
    x = R.standard_normal((4, 5))
    for q in (0.0, 0.3, 0.5, 1.0):
        np.testing.assert_allclose(O.quantile(x, q, axis=1), np.quantile(x, q, axis=1))
        for method in ("lower", "higher", "nearest", "midpoint"):
            np.testing.assert_allclose(O.quantile(x, q, method=method), np.quantile(x, q, method=method))
    nans = np.where(R.uniform(size=x.shape) > 0.7, np.nan, x)
    np.testing.assert_allclose(O.nanmedian(nans, axis=1), np.nanmedian(nans, axis=1))
    np.testing.assert_allclose(O.nanvar(nans, axis=0), np.nanvar(nans, axis=0))
    np.testing.assert_allclose(O.corrcoef(x), np.corrcoef(x))
    np.testing.assert_allclose(O.kron(x[:2, :3], x[2:, 1:]), np.kron(x[:2, :3], x[2:, 1:]))
    np.testing.assert_allclose(O.cross(x[:, :3], x[:, 2:]), np.cross(x[:, :3], x[:, 2:]))
    np.testing.assert_allclose(O.trapezoid(x, dx=0.5), np.trapezoid(x, dx=0.5))
    for mode in ("valid", "full"):
        np.testing.assert_allclose(O.correlate(x[0], x[1, :3], mode=mode), np.correlate(x[0], x[1, :3], mode))
    assert [p.shape[0] for p in O.array_split(np.arange(7), 3)] == [3, 2, 2]
    np.testing.assert_array_equal(O.rearrange(np.arange(24).reshape(2, 3, 4), "a b c -> c (a b)"),
                                  np.arange(24).reshape(2, 3, 4).transpose(2, 0, 1).reshape(4, 6))
    np.testing.assert_array_equal(O.unique(np.array([3, 1, 3]), size=4, fill_value=-1), [1, 3, -1, -1])


@pytest.mark.parametrize("call, error, message", [
    (lambda: O.quantile(C, 0.5, method="middle"), ValueError, "method"),
    (lambda: O.bitwise_and(C, C), TypeError, "integer or boolean"),
    (lambda: O.bincount(np.array([1, 2]), sparse=True), ValueError, "sparse=True"),
    (lambda: O.array_split(C, 0), ValueError, "indices_or_sections"),
    (lambda: O.dsplit(C, 2), ValueError, "at least 3 dimensions"),
    (lambda: O.cross(C, C), ValueError, "2 or 3 components"),
    (lambda: O.rearrange(C, "a b c -> a"), ValueError, "does not match"),
    (lambda: O.rearrange(C, "a b"), ValueError, "->"),
])
def test_bad_arguments_are_named(call, error, message):
    with pytest.raises(error, match=message):
        call()
