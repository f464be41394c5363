"""``sn.ops``' control flow, custom gradients, segment reductions and linear algebra, and
``sn.tree``, without Keras: each gradient rule against float64 finite differences
(tests/gradcheck.py, REL_TOL 1e-6), loops against the same steps written out, and the errors."""

import collections

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.autodiff import Tape
from tests.gradcheck import REL_TOL, numeric_grad, rel_error

O = sn.ops
R = np.random.default_rng(5)
M = R.normal(size=(3, 3)) + 3 * np.eye(3)
SPD = M @ M.T + np.eye(3)
B = R.normal(size=(3, 2))
IDS = np.array([0, 2, 0, 1, 2])


def _sym(x):  # a symmetric input, so a perturbation keeps SPD symmetric (both triangles move)
    return (x + np.swapaxes(x, -1, -2)) / 2


# (x, f): f(x) differentiable at x, float64
FUNCTIONS = {
    "inv": (M, lambda x: O.inv(x)),
    "det": (M, lambda x: O.det(x)),
    "slogdet": (-M, lambda x: O.slogdet(x)[1]),
    "logdet": (SPD, lambda x: O.logdet(_sym(x))),
    "solve_a": (M, lambda x: O.solve(x, B)),
    "solve_b": (B, lambda x: O.solve(M, x)),
    "solve_vector": (B[:, 0].copy(), lambda x: O.solve(M, x)),
    "solve_triangular_a": (np.tril(M), lambda x: O.solve_triangular(x, B, lower=True)),
    "solve_triangular_upper_b": (B, lambda x: O.solve_triangular(M, x)),
    "cholesky": (SPD, lambda x: O.cholesky(_sym(x))),
    "cholesky_upper": (SPD, lambda x: O.cholesky(_sym(x), upper=True)),
    "cholesky_inverse": (np.tril(M), lambda x: O.cholesky_inverse(x)),
    "eigh_values": (SPD, lambda x: O.eigh(_sym(x))[0]),
    "eigh_vectors_squared": (SPD, lambda x: O.square(O.eigh(_sym(x))[1])),
    "scan": (R.normal(size=(4, 3)), lambda x: O.scan(lambda c, v: (O.tanh(c * v), c + v), np.ones(3), x)[1]),
    "map": (R.normal(size=(4, 3)), lambda x: O.map(lambda v: O.sum(v * v), x)),
    "fori_loop": (M, lambda x: O.fori_loop(0, 3, lambda i, v: O.sin(v) @ x, x)),
    "while_loop": (M, lambda x: O.while_loop(lambda v: False, lambda v: v, x * 2.0)),
    "associative_scan": (R.normal(size=(4, 3)), lambda x: O.associative_scan(O.multiply, x, axis=0)),
    "segment_max": (R.normal(size=(5, 2)), lambda x: O.segment_max(x, IDS)),
    "segment_min": (R.normal(size=(5, 2)), lambda x: O.segment_min(x, IDS, num_segments=3)),
    "segment_prod": (R.normal(size=(5, 2)), lambda x: O.segment_prod(x, IDS)),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_tape_gradient_matches_finite_differences(name, float64):
    x0, function = FUNCTIONS[name]
    x = np.array(x0, dtype=np.float64)
    w = np.random.default_rng(1).standard_normal(np.shape(function(x)))
    tape = Tape("test")
    traced = tape.watch(x)
    analytic = tape.gradient(function(traced), traced, w)
    numeric = numeric_grad(lambda: float(np.sum(w * np.asarray(function(x)))), x)
    assert np.any(numeric != 0)
    assert rel_error(analytic, numeric) < REL_TOL, rel_error(analytic, numeric)


def test_custom_gradient_replaces_the_rule_and_jvp_is_the_directional_derivative(float64):
    @O.custom_gradient
    def clipped_identity(x):
        return x, lambda dy: np.clip(dy, -1.0, 1.0)
    tape = Tape("test")
    x = tape.watch(np.array([1.0, 2.0]))
    grad = tape.gradient(clipped_identity(x) * 5.0, x, np.ones(2))
    np.testing.assert_array_equal(grad, [1.0, 1.0])  # 5 clipped to 1, not the identity's 5
    a, v = R.normal(size=(2, 3)), R.normal(size=(2, 3))
    out, tangent = O.jvp(lambda t: O.sin(t) * t, (a,), (v,))
    np.testing.assert_allclose(out, np.sin(a) * a)
    np.testing.assert_allclose(tangent, (np.cos(a) * a + np.sin(a)) * v, rtol=1e-12)


def test_loops_are_the_steps_written_out():
    xs = R.normal(size=(4, 3))
    carry, ys = O.scan(lambda c, x: (c + x, c * 2), np.zeros(3), xs)
    np.testing.assert_allclose(carry, xs.sum(0))
    np.testing.assert_allclose(ys, 2 * np.concatenate([np.zeros((1, 3)), np.cumsum(xs, 0)[:-1]]))
    assert O.fori_loop(0, 5, lambda i, v: v + i, 0) == 10
    assert O.while_loop(lambda i, s: i < 4, lambda i, s: (i + 1, s + i), (0, 0)) == (4, 6)
    np.testing.assert_allclose(O.associative_scan(O.add, xs), np.cumsum(xs, 0))
    np.testing.assert_allclose(O.associative_scan(O.add, xs, reverse=True), np.cumsum(xs[::-1], 0)[::-1])
    assert O.switch(5, [lambda: 0, lambda: 1]) == 1


def test_segment_reductions_fill_empty_segments_as_tensorflow():
    data = np.array([[1.0], [2.0], [3.0]], np.float32)
    ids = np.array([0, 0, 2])
    np.testing.assert_array_equal(O.segment_max(data, ids)[:, 0], [2.0, np.finfo(np.float32).min, 3.0])
    np.testing.assert_array_equal(O.segment_min(data, ids)[:, 0], [1.0, np.finfo(np.float32).max, 3.0])
    np.testing.assert_array_equal(O.segment_prod(data, ids)[:, 0], [2.0, 1.0, 3.0])


def test_linalg_values_are_the_definitions():
    np.testing.assert_allclose(O.inv(M) @ M, np.eye(3), atol=1e-12)
    lower = O.cholesky(SPD)
    np.testing.assert_allclose(lower @ lower.T, SPD)
    lu, p = O.lu_factor(M)
    unit_lower, upper = np.tril(lu, -1) + np.eye(3), np.triu(lu)
    np.testing.assert_allclose(M[p], unit_lower @ upper)
    u, s, vh = O.svd(M)
    np.testing.assert_allclose(u @ np.diag(s) @ vh, M)
    q, r = O.qr(M)
    np.testing.assert_allclose(q @ r, M)
    np.testing.assert_allclose(O.pinv(M), np.linalg.inv(M), rtol=1e-10)
    assert O.matrix_rank(np.outer([1.0, 2.0], [3.0, 4.0])) == 1


@pytest.mark.parametrize("call, error, message", [
    (lambda: O.inv(np.ones((2, 3))), ValueError, r"ops.inv: expected a square matrix"),
    (lambda: O.det(np.ones(3)), ValueError, r"ops.det: expected a square matrix"),
    (lambda: O.cholesky(-np.eye(2)), ValueError, "not symmetric positive definite"),
    (lambda: O.qr(M, mode="r"), ValueError, "mode"),
    (lambda: O.scan(lambda c, x: (c, x), 0.0), ValueError, "length"),
    (lambda: O.map(3, M), TypeError, "ops.map: expected `f` to be a callable"),
    (lambda: O.while_loop(lambda a, b: True, lambda a, b: (a,), (1, 2)), ValueError, "body returned 1"),
    (lambda: O.segment_max(M, [0, 1]), ValueError, r"segment_ids of shape \(3,\)"),
    (lambda: O.jvp(lambda a: a, (M, M), (M,)), ValueError, "same structure"),
])
def test_bad_arguments_are_named(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_an_op_without_a_gradient_refuses_a_traced_input():
    tape = Tape("Lambda 'f'")
    for op in (O.svd, O.qr, O.pinv, O.eig, O.lu_factor, O.matrix_rank):
        with pytest.raises(TypeError, match="has no gradient"):
            op(tape.watch(M))


# ----------------------------------------------------------------------------- sn.tree
def test_tree_flattens_dicts_by_sorted_key_and_packs_back():
    s = {"b": [1, None], "a": (2, {"z": 3, "y": 4})}
    assert sn.tree.flatten(s) == [2, 4, 3, 1, None]
    assert sn.tree.pack_sequence_as(s, [9, 8, 7, 6, 5]) == {"b": [6, 5], "a": (9, {"z": 7, "y": 8})}
    assert list(sn.tree.pack_sequence_as(s, list(range(5)))) == ["b", "a"]  # the dict's own key order
    assert sn.tree.flatten_with_path({"b": [1], "a": 2}) == [(("a",), 2), (("b", 0), 1)]
    ordered = collections.OrderedDict([("b", 1), ("a", 2)])
    assert sn.tree.flatten(ordered) == [1, 2]
    point = collections.namedtuple("Point", "x y")
    assert sn.tree.pack_sequence_as(point(1, 2), [3, 4]) == point(3, 4)
    assert sn.tree.flatten(None) == [None] and not sn.tree.is_nested(None) and sn.tree.is_nested([])


def test_tree_maps_and_traverses():
    assert sn.tree.map_structure(lambda a, b: a + b, [1, (2,)], [10, (20,)]) == [11, (22,)]
    assert sn.tree.map_structure(lambda a: 0, [None, 1], none_is_leaf=False) == [None, 0]
    assert sn.tree.map_structure_up_to([None, None], len, [[1, 1], [2, 2, 2]]) == [2, 3]
    assert sn.tree.lists_to_tuples([1, [2, {"a": [3]}]]) == (1, (2, {"a": (3,)}))
    assert sn.tree.map_shape_structure(len, {"a": (2, 3), "b": [(1,), (None, 4)]}) == {"a": 2, "b": [1, 2]}
    assert sn.tree.traverse(lambda s: sn.tree.MAP_TO_NONE if s == [2] else None, [1, [2]]) == [1, None]
    seen = []
    sn.tree.traverse(seen.append, [(1, 2), [3]], top_down=False)
    assert seen == [1, 2, (1, 2), 3, [3], [(1, 2), [3]]]


def test_tree_structure_errors():
    with pytest.raises(ValueError, match="same structure"):
        sn.tree.assert_same_structure([1, 2], (1, 2))
    with pytest.raises(ValueError, match="paths differ"):
        sn.tree.assert_same_paths({"a": 1}, {"b": 1})
    sn.tree.assert_same_paths([0, 1], (2, 3))
    with pytest.raises(ValueError, match="has 2 leaves"):
        sn.tree.pack_sequence_as([1, 2], [1])
    with pytest.raises(TypeError, match="callable"):
        sn.tree.map_structure(None, [1])
