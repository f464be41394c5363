"""``keras.ops``' linear algebra (``keras.ops.linalg``), for :mod:`scratchnet.ops`.

Each decomposition is NumPy's (LAPACK) on the last two axes, computed in float64 and returned in
the input's float dtype (integers give float32, as Keras). Where TensorFlow has a gradient, the
same rule is recorded on the tape (``_recorded``), written as the textbook formula:

- ``inv``: ``dA = -A^-T dY A^-T``;  ``det``: ``dA = dy * det(A) * A^-T``;  ``slogdet``/``logdet``:
  ``dA = dy * A^-T``;
- ``solve`` (``X = A^-1 B``): ``dB = A^-T dX``, ``dA = -dB X^T``;  ``solve_triangular`` the same,
  ``dA`` kept to ``A``'s triangle;
- ``cholesky`` (``A = L L^T``): ``dA = sym(L^-T Phi(L^T dL) L^-1)``, ``Phi`` the lower triangle
  with the diagonal halved (Murray 2016, TensorFlow's ``CholeskyGrad``);
- ``eigh`` (``A = V diag(w) V^T``): ``dA = V (diag(dw) + F o (V^T dV)) V^T``,
  ``F_ij = 1 / (w_j - w_i)``, read from ``A``'s lower triangle as TensorFlow does.

``eig``, ``svd``, ``qr``, ``lu_factor``, ``lstsq``, ``pinv`` and ``matrix_rank`` have no gradient
here: on a traced input they raise rather than return a constant.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from scratchnet import tree
from scratchnet.autodiff import Tape, Traced


def _float(x):
    """``x`` (traced or not) and its float dtype: integers become float32."""
    value = x.value if isinstance(x, Traced) else np.asarray(x)
    dtype = value.dtype if value.dtype.kind in "fc" else np.dtype("float32")
    return value, dtype


def _square(value, what: str):
    if value.ndim < 2 or value.shape[-1] != value.shape[-2]:
        raise ValueError(f"ops.{what}: expected a square matrix (or a batch of them) of shape "
                         f"(..., n, n), received shape {value.shape}")


def _no_gradient(what: str, *inputs):
    for x in inputs:
        if isinstance(x, Traced):
            raise TypeError(f"{x.tape.where}: ops.{what} has no gradient in scratchnet (TensorFlow's "
                            "is not reproduced); compute it outside the differentiated function")


def _recorded(value, *pairs):
    traced = [(x, rule) for x, rule in pairs if isinstance(x, Traced)]
    return traced[0][0].tape.record(value, traced) if traced else value


def _t(m):
    return np.swapaxes(m, -1, -2)


def inv(x):
    """``A^-1`` of each square matrix. Gradient ``-A^-T dY A^-T``."""
    a, dtype = _float(x)
    _square(a, "inv")
    out = np.linalg.inv(a.astype(np.float64))
    return _recorded(out.astype(dtype), (x, lambda dy: (-_t(out) @ dy @ _t(out)).astype(dtype)))


def det(x):
    """The determinant of each square matrix. Gradient ``dy * det(A) * A^-T``."""
    a, dtype = _float(x)
    _square(a, "det")
    a64 = a.astype(np.float64)
    out = np.linalg.det(a64)
    return _recorded(out.astype(dtype), (x, lambda dy: (np.asarray(dy)[..., None, None] * out[..., None, None]
                                                      * _t(np.linalg.inv(a64))).astype(dtype)))


def slogdet(x):
    """``(sign, log|det|)`` of each square matrix (no overflow for large determinants). Gradient of
    ``log|det|``: ``dy * A^-T``; the sign has none."""
    a, dtype = _float(x)
    _square(a, "slogdet")
    a64 = a.astype(np.float64)
    sign, logabs = np.linalg.slogdet(a64)
    rule = (x, lambda dy: (np.asarray(dy)[..., None, None] * _t(np.linalg.inv(a64))).astype(dtype))
    return sign.astype(dtype), _recorded(logabs.astype(dtype), rule)


def logdet(x):
    """``log(det(A))`` of a symmetric positive definite ``A``, as ``2 * sum(log(diag(L)))`` with
    ``L`` its Cholesky factor (TensorFlow's ``linalg.logdet``). Gradient ``dy * A^-1``."""
    a, dtype = _float(x)
    _square(a, "logdet")
    a64 = a.astype(np.float64)
    lower = np.linalg.cholesky(a64)
    out = 2.0 * np.sum(np.log(np.diagonal(lower, axis1=-2, axis2=-1)), axis=-1)
    return _recorded(out.astype(dtype), (x, lambda dy: (np.asarray(dy)[..., None, None]
                                                      * _t(np.linalg.inv(a64))).astype(dtype)))


def _as_matrix(b, a):
    """``b`` with a trailing axis of 1 when it is a vector (one fewer axis than ``a``), as Keras."""
    return (b[..., None], True) if b.ndim == a.ndim - 1 else (b, False)


def solve(a, b):
    """``X`` with ``A X = B`` (``B`` a vector or a matrix). Gradients ``dB = A^-T dX``,
    ``dA = -dB X^T``."""
    av, dtype = _float(a)
    bv, _ = _float(b)
    _square(av, "solve")
    b_matrix, vector = _as_matrix(bv.astype(np.float64), av)
    a64 = av.astype(np.float64)
    out = np.linalg.solve(a64, b_matrix)

    def grad_b(dy):
        dy = dy[..., None] if vector else dy
        g = np.linalg.solve(_t(a64), dy)
        return g[..., 0] if vector else g

    def grad_a(dy):
        dy = dy[..., None] if vector else dy
        return -np.linalg.solve(_t(a64), dy) @ _t(out)
    result = out[..., 0] if vector else out
    return _recorded(result.astype(dtype), (a, lambda dy: grad_a(dy).astype(dtype)),
                     (b, lambda dy: grad_b(dy).astype(dtype)))


def solve_triangular(a, b, lower=False):
    """``X`` with ``A X = B`` for a triangular ``A`` (only its lower or upper triangle is read).
    Gradients as :func:`solve`, ``dA`` kept to that triangle (TensorFlow's rule)."""
    av, dtype = _float(a)
    bv, _ = _float(b)
    _square(av, "solve_triangular")
    a64 = np.tril(av.astype(np.float64)) if lower else np.triu(av.astype(np.float64))
    b_matrix, vector = _as_matrix(bv.astype(np.float64), av)
    out = np.linalg.solve(a64, b_matrix)  # of the triangle only, so the same X as back substitution

    def grad_b(dy):
        dy = dy[..., None] if vector else dy
        return np.linalg.solve(_t(a64), dy)

    def grad_a(dy):
        g = -grad_b(dy) @ _t(out)
        return np.tril(g) if lower else np.triu(g)
    result = out[..., 0] if vector else out
    return _recorded(result.astype(dtype), (a, lambda dy: grad_a(dy).astype(dtype)),
                     (b, lambda dy: (lambda g: g[..., 0] if vector else g)(grad_b(dy)).astype(dtype)))


def cholesky(x, upper=False):
    """``L`` lower triangular with ``A = L L^T`` (``L^T`` if ``upper``) of a symmetric positive
    definite ``A`` (its lower triangle read). A matrix that is not positive definite raises, as
    Keras' ``check_numerics`` does."""
    a, dtype = _float(x)
    _square(a, "cholesky")
    try:
        factor = np.linalg.cholesky(np.tril(a.astype(np.float64)) + _t(np.tril(a.astype(np.float64), -1)))
    except np.linalg.LinAlgError as error:
        raise ValueError("ops.cholesky: the input is not symmetric positive definite (Cholesky: Tensor "
                         "had NaN values)") from error

    def rule(dy):
        dl = _t(dy) if upper else dy
        inverse = np.linalg.inv(factor)
        middle = _t(factor) @ dl
        middle = np.tril(middle) - 0.5 * np.eye(middle.shape[-1]) * middle  # Phi: lower, diagonal halved
        grad = _t(inverse) @ middle @ inverse
        return (0.5 * (grad + _t(grad))).astype(dtype)
    return _recorded((_t(factor) if upper else factor).astype(dtype), (x, rule))


def cholesky_inverse(x, upper=False):
    """``A^-1`` from the Cholesky factor of ``A``: ``(L L^T)^-1 = L^-T L^-1`` (``x`` is ``L``, or
    ``U = L^T`` if ``upper``)."""
    a, dtype = _float(x)
    _square(a, "cholesky_inverse")
    eye = np.broadcast_to(np.eye(a.shape[-1], dtype=dtype), a.shape)
    inverse = solve_triangular(x, eye, lower=not upper)
    from scratchnet.ops import matmul

    return matmul(inverse, _t(inverse)) if upper else matmul(_t(inverse), inverse)


def eigh(x):
    """``(w, V)`` of a symmetric ``A = V diag(w) V^T`` (its lower triangle read): eigenvalues
    ascending, eigenvectors in the columns of ``V`` (each one's sign as LAPACK leaves it). On a
    traced ``x``, ``w`` and ``V`` are two slices of one recorded array ``[w; V]`` of shape
    ``(..., n + 1, n)``, so the rule receives both cotangents at once."""
    a, dtype = _float(x)
    _square(a, "eigh")
    w, v = np.linalg.eigh(a.astype(np.float64), UPLO="L")
    if not isinstance(x, Traced):
        return w.astype(dtype), v.astype(dtype)
    n = w.shape[-1]
    gaps = w[..., None, :] - w[..., :, None]  # gaps[i, j] = w_j - w_i
    off = ~np.eye(n, dtype=bool)
    f = np.where(off, 1.0 / np.where(off, gaps, 1.0), 0.0)

    def rule(dpacked):
        dw, dv = dpacked[..., 0, :], dpacked[..., 1:, :]
        grad = v @ (dw[..., None] * np.eye(n) + f * (_t(v) @ dv)) @ _t(v)
        grad = np.tril(grad + _t(grad))
        return (grad - 0.5 * np.eye(n) * grad).astype(dtype)
    packed = x.tape.record(np.concatenate([w[..., None, :], v], axis=-2).astype(dtype), [(x, rule)])
    return packed[..., 0, :], packed[..., 1:, :]


def eig(x):
    """``(w, V)`` of a general square ``A`` (``A V = V diag(w)``), complex64 for float32 as
    TensorFlow's ``linalg.eig``. No gradient."""
    _no_gradient("eig", x)
    a, dtype = _float(x)
    _square(a, "eig")
    w, v = np.linalg.eig(a.astype(np.float64))
    complex_dtype = np.complex64 if dtype == np.float32 else np.complex128
    return w.astype(complex_dtype), v.astype(complex_dtype)


def svd(x, full_matrices=True, compute_uv=True):
    """``(U, s, Vh)`` with ``A = U diag(s) Vh``, singular values descending (``s`` alone if not
    ``compute_uv``). No gradient."""
    _no_gradient("svd", x)
    a, dtype = _float(x)
    if not compute_uv:
        return np.linalg.svd(a.astype(np.float64), compute_uv=False).astype(dtype)
    u, s, vh = np.linalg.svd(a.astype(np.float64), full_matrices=full_matrices)
    return u.astype(dtype), s.astype(dtype), vh.astype(dtype)


def qr(x, mode="reduced"):
    """``(Q, R)`` with ``A = Q R``, ``Q`` orthonormal columns, ``R`` upper triangular (Householder,
    as LAPACK and TensorFlow). No gradient."""
    if mode not in {"reduced", "complete"}:
        raise ValueError("`mode` argument value not supported. Expected one of {'reduced', 'complete'}. "
                         f"Received: mode={mode}")
    _no_gradient("qr", x)
    a, dtype = _float(x)
    q, r = np.linalg.qr(a.astype(np.float64), mode=mode)
    return q.astype(dtype), r.astype(dtype)


def lu_factor(x):
    """``(LU, p)``: ``L`` (unit diagonal, below) and ``U`` (on and above the diagonal) in one
    matrix with ``A[p] = L U`` (partial pivoting), ``p`` the int32 row order, as Keras on
    TensorFlow returns it. No gradient."""
    _no_gradient("lu_factor", x)
    a, dtype = _float(x)
    _square(a, "lu_factor")
    flat = a.reshape((-1,) + a.shape[-2:]).astype(np.float64)
    lus, perms = [], []
    for m in flat:
        lu, pivots = scipy.linalg.lu_factor(m)
        order = np.arange(m.shape[0])
        for i, p in enumerate(pivots):  # LAPACK's pivots: row i was swapped with row p
            order[[i, p]] = order[[p, i]]
        lus.append(lu)
        perms.append(order)
    return (np.stack(lus).reshape(a.shape).astype(dtype),
            np.stack(perms).reshape(a.shape[:-1]).astype(np.int32))


def pinv(x, rcond=None):
    """The pseudo-inverse ``V diag(1/s) U^T``, singular values below ``rcond * max(s)`` taken as
    0 (``rcond`` ``10 * max(m, n) * eps`` when None, TensorFlow's default). No gradient."""
    _no_gradient("pinv", x)
    a, dtype = _float(x)
    if rcond is None:
        rcond = 10.0 * max(a.shape[-2:]) * np.finfo(dtype).eps
    u, s, vh = np.linalg.svd(a.astype(np.float64), full_matrices=False)
    keep = s > rcond * np.max(s, axis=-1, keepdims=True)
    s_inv = np.where(keep, 1.0 / np.where(keep, s, 1.0), 0.0)
    return (_t(vh) @ (s_inv[..., None] * _t(u))).astype(dtype)


def lstsq(a, b, rcond=None):
    """``X`` minimising ``|A X - B|`` (``A`` 2-D, ``B`` 1-D or 2-D), from the SVD: singular values
    below ``rcond * s_max`` dropped (``rcond`` ``eps * max(m, n)`` when None, as Keras). No gradient."""
    _no_gradient("lstsq", a, b)
    av, dtype = _float(a)
    bv, _ = _float(b)
    if av.shape[0] != bv.shape[0]:
        raise ValueError("Leading dimensions of input arrays must match")
    if av.ndim != 2:
        raise TypeError(f"{av.ndim}-dimensional array given. Array must be two-dimensional")
    if bv.ndim not in (1, 2):
        raise TypeError(f"{bv.ndim}-dimensional array given. Array must be one or two-dimensional")
    m, n = av.shape
    eps = np.finfo(dtype).eps
    rcond = eps * max(n, m) if rcond is None else (eps if rcond < 0 else rcond)
    u, s, vh = np.linalg.svd(av.astype(np.float64), full_matrices=False)
    keep = s >= rcond * s[0]
    s_inv = np.where(keep, 1.0 / np.where(keep, s, 1.0), 0.0)
    b2 = bv.astype(np.float64).reshape(m, -1)
    out = vh.T @ (s_inv[:, None] * (u.T @ b2))
    return out.reshape((n,) + bv.shape[1:]).astype(dtype)


def matrix_rank(x, tol=None):
    """How many singular values exceed ``tol`` (``max(s) * max(m, n) * eps`` when None, as
    TensorFlow), int32."""
    _no_gradient("matrix_rank", x)
    a, dtype = _float(x)
    s = np.linalg.svd(a.astype(np.float64), compute_uv=False).astype(dtype)
    if tol is None:
        tol = np.max(s, axis=-1, keepdims=True) * max(a.shape[-2:]) * np.finfo(dtype).eps
    return np.sum(s > tol, axis=-1).astype(np.int32)


def jvp(fun, primals, tangents, has_aux=False):
    """``(fun(*primals), J v)``: the directional derivative of ``fun`` at ``primals`` along
    ``tangents`` (forward mode, ``jax.jvp``). Computed from the tape's reverse mode, one backward
    pass per output cell: ``(J v)_k = sum_i <d out_k / d primal_i, tangent_i>`` (fine for the
    small functions one inspects this way). With ``has_aux`` ``fun`` returns ``(out, aux)``."""
    if not callable(fun):
        raise TypeError(f"ops.jvp: expected fun to be callable, received {fun!r}")
    primal_flat, tangent_flat = tree.flatten(primals), tree.flatten(tangents)
    if len(primal_flat) != len(tangent_flat):
        raise ValueError(f"ops.jvp: primals and tangents must have the same structure; received "
                         f"{len(primal_flat)} primals and {len(tangent_flat)} tangents")
    tape = Tape("ops.jvp")
    watched = [tape.watch(np.asarray(p)) for p in primal_flat]
    result = fun(*tree.pack_sequence_as(primals, watched))
    out, aux = result if has_aux else (result, None)
    outputs = tree.flatten(out)
    values, tangents_out = [], []
    for o in outputs:
        value = o.value if isinstance(o, Traced) else np.asarray(o)
        jv = np.zeros(value.shape, value.dtype)
        for k in np.ndindex(value.shape):
            seed = np.zeros(value.shape, value.dtype)
            seed[k] = 1
            grads = tape.gradients([(o, seed)], watched)
            jv[k] = sum(np.sum(g * np.asarray(t, g.dtype)) for g, t in zip(grads, tangent_flat, strict=True))
        values.append(value)
        tangents_out.append(jv)
    packed = tree.pack_sequence_as(out, values), tree.pack_sequence_as(out, tangents_out)
    return packed + (aux,) if has_aux else packed
