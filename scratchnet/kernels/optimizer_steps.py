"""Optimizer steps, NumPy reference: Adam's update of one parameter, in place.

The optimizer (:class:`scratchnet.optimizers.Adam`) works out the step size and the constants for
this update; this is the part that touches every element, so a fast backend can do it in one pass
over memory instead of the eight array operations (and their temporary arrays) below. Formulas as
Keras 3's ``keras/src/optimizers/adam.py``, one a line, in the parameter's dtype.
"""

from __future__ import annotations

import numpy as np


def adam_update(w, grad, m, v, v_hat, alpha, one_minus_beta_1, one_minus_beta_2, epsilon) -> None:
    """One Adam step on ``w`` (any shape), with its moments ``m`` and ``v`` (same shape), in place:

    ``m <- m + (g - m) * (1 - beta_1)``
    ``v <- v + (g**2 - v) * (1 - beta_2)``
    ``v_hat <- max(v_hat, v)``, and ``v_hat`` replaces ``v`` below   (amsgrad; else ``v_hat`` is None)
    ``w <- w - (m * alpha) / (sqrt(v) + epsilon)``

    ``alpha`` (the bias-corrected step size), ``one_minus_beta_1``, ``one_minus_beta_2`` and
    ``epsilon`` are scalars of ``w``'s dtype.
    """
    m += (grad - m) * one_minus_beta_1
    v += (np.square(grad) - v) * one_minus_beta_2
    if v_hat is not None:
        np.maximum(v_hat, v, out=v_hat)
        v = v_hat
    w -= (m * alpha) / (np.sqrt(v) + epsilon)
