"""Finite-difference gradient checks in float64, shared by the tests."""

from __future__ import annotations

import numpy as np

REL_TOL = 1e-6  # central differences in float64 with h = 1e-6: truncation ~h^2, rounding ~1e-10


def numeric_grad(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar ``f()`` with respect to the array ``x`` (changed in place)."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        plus = f()
        x[i] = old - h
        minus = f()
        x[i] = old
        grad[i] = (plus - minus) / (2 * h)
    return grad


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """``||a - b|| / max(||a||, ||b||)``: the relative error of a whole gradient tensor."""
    denom = max(np.linalg.norm(a), np.linalg.norm(b))
    return 0.0 if denom == 0 else float(np.linalg.norm(a - b) / denom)


def check_layer(layer, x: np.ndarray, rng: np.random.Generator, training: bool = False) -> None:
    """Compare ``layer.backward`` with finite differences of ``L = sum(w * layer(x))``."""
    layer.ensure_built(x.shape[1:], rng)
    y = layer.forward(x, training=training)
    w = rng.standard_normal(y.shape)

    def loss():
        return float(np.sum(w * layer.forward(x, training=training)))

    layer.forward(x, training=training)
    dx = layer.backward(w)
    analytic = {name: p.grad.copy() for name, p in layer.params.items()}
    numeric_dx = numeric_grad(loss, x)
    assert rel_error(dx, numeric_dx) < REL_TOL, (layer.name, "input", rel_error(dx, numeric_dx))
    for name, p in layer.params.items():
        numeric = numeric_grad(loss, p.value)
        err = rel_error(analytic[name], numeric)
        assert err < REL_TOL, (layer.name, name, err)
