"""Muon, as Keras 3's ``keras/src/optimizers/muon.py``."""

from __future__ import annotations

import numbers
import re

import numpy as np

from scratchnet import kernels
from scratchnet.optimizers.base import Optimizer, _fraction, _non_negative, _positive


class Muon(Optimizer):
    """Muon (Jordan et al., 2024; Liu et al., 2025): momentum SGD whose step for a matrix is
    orthogonalised, so that every direction of the matrix moves by about the same amount.

    For a 2-D weight (a Dense kernel) not excluded below, with ``mu = momentum``::

        m <- m + g + m * (mu - 1)                   (slot ``momentum``: m <- mu * m + g)
        u =  g + mu * m     (nesterov=True)   or   u = m
        O =  newton_schulz(u, ns_steps)            (close to U V^T of u's SVD, see below)
        w <- w - lr * O * sqrt(max(rows, cols)) * rms_rate     (without the last two factors
                                                                when rms_rate is None)

    ``newton_schulz(X)``: transpose X if it has more rows than columns, ``X <- X / (||X||_F +
    1e-7)``, then ``ns_steps`` times ``A = X X^T``, ``X <- a X + (b A + c A A) X`` with
    ``(a, b, c) = (muon_a, muon_b, muon_c)``, a quintic polynomial that pushes every singular
    value of X towards 1; transposed back at the end.

    Every other weight takes an AdamW step (Adam's formulas, :class:`Adam`, at the rate
    ``lr * adam_lr_ratio`` with ``adam_beta_1``, ``adam_beta_2``, ``epsilon``; slots ``momentum``
    and ``velocity``): one that is not 2-D (biases, conv kernels), with ``exclude_embeddings``
    one whose Keras path contains "embedding", and one whose path matches (``re.search``) a
    pattern of ``exclude_layers``. The path is Keras' ``variable.path``: the model's name, then
    the weight's (``"sequential/dense/kernel"``) in a Sequential model, the weight's alone in a
    functional one (:meth:`Optimizer.variable_path`).

    Weight decay, before the step at the unscaled ``lr``: ``adam_weight_decay`` for the AdamW
    weights, ``weight_decay`` for the Muon ones (either None: none).
    """

    def __init__(self, learning_rate=0.001, adam_beta_1: float = 0.9, adam_beta_2: float = 0.999,
                 adam_weight_decay=0.004, epsilon: float = 1e-7, weight_decay=0.004,
                 exclude_layers=None, exclude_embeddings: bool = True, muon_a: float = 3.4445,
                 muon_b: float = -4.7750, muon_c: float = 2.0315, adam_lr_ratio=1,
                 momentum: float = 0.95, ns_steps: int = 5, nesterov: bool = True,
                 rms_rate=0.2, **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, **kwargs)
        where = "Muon"
        self.adam_beta_1 = _fraction(adam_beta_1, "adam_beta_1", where, upper_open=True)
        self.adam_beta_2 = _fraction(adam_beta_2, "adam_beta_2", where, upper_open=True)
        self.adam_weight_decay = None if adam_weight_decay is None else _non_negative(
            adam_weight_decay, "adam_weight_decay", where)
        self.epsilon = _positive(epsilon, "epsilon", where)
        if exclude_layers is not None and (not isinstance(exclude_layers, list | tuple)
                                           or not all(isinstance(k, str) for k in exclude_layers)):
            raise ValueError(f"{where}: expected exclude_layers to be a list of strings (regular "
                             f"expressions), received {exclude_layers!r}")
        self.exclude_layers = list(exclude_layers or [])
        self.exclude_embeddings = bool(exclude_embeddings)
        for arg, value in (("muon_a", muon_a), ("muon_b", muon_b), ("muon_c", muon_c)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ValueError(f"{where}: expected {arg} to be a float, received {value!r}")
        self.muon_a, self.muon_b, self.muon_c = muon_a, muon_b, muon_c
        ratio = _non_negative(adam_lr_ratio, "adam_lr_ratio", where)
        self.adam_lr_ratio = int(ratio) if isinstance(adam_lr_ratio, numbers.Integral) else ratio
        self.momentum = _fraction(momentum, "momentum", where)
        if isinstance(ns_steps, bool) or not isinstance(ns_steps, numbers.Integral) or ns_steps < 0:
            raise ValueError(f"{where}: expected ns_steps to be an integer >= 0, received {ns_steps!r}")
        self.ns_steps = int(ns_steps)
        self.nesterov = bool(nesterov)
        self.rms_rate = None if rms_rate is None else _positive(rms_rate, "rms_rate", where)

    def uses_adamw(self, param) -> bool:
        """Keras' ``_should_use_adamw``: not 2-D, an embedding, or an excluded layer."""
        if param.value.ndim != 2:
            return True
        path = self.variable_path(param)
        if self.exclude_embeddings and "embedding" in path.lower():
            return True
        return any(re.search(keyword, path) for keyword in self.exclude_layers)

    def update_step(self, params, grads):
        # Keras decays even when weight_decay is None, if adam_weight_decay is set (and back)
        grads = self.clip(grads)
        lr = self.current_learning_rate()
        self.apply_weight_decay(params, lr)
        for param, grad in zip(params, grads, strict=True):
            self.update(param, grad, lr)

    def apply_weight_decay(self, params, lr):
        for param in params:
            decay = self.adam_weight_decay if self.uses_adamw(param) else self.weight_decay
            if decay is None or not self._use_weight_decay(param):
                continue
            f = param.value.dtype.type
            param.value -= param.value * f(decay) * f(lr)

    def update(self, param, grad, lr):
        w = param.value
        f = w.dtype.type  # compute in the parameter's precision
        m = self.slot(param, "m")
        if self.uses_adamw(param):
            v = self.slot(param, "v")
            t = f(self.iterations + 1)
            beta_1, beta_2 = f(self.adam_beta_1), f(self.adam_beta_2)
            alpha = f(f(lr) * f(self.adam_lr_ratio)) * np.sqrt(f(1) - np.power(beta_2, t)) / (
                f(1) - np.power(beta_1, t))
            kernels.adam_update(w, grad, m, v, None, alpha, f(1 - self.adam_beta_1),
                                f(1 - self.adam_beta_2), f(self.epsilon))
            return
        mu = f(self.momentum)
        m += grad + m * f(self.momentum - 1)
        u = grad + mu * m if self.nesterov else m
        step = f(lr) * self.newton_schulz(u)
        if self.rms_rate is not None:  # Moonlight's scaling: an update of Adam's typical size
            step = step * np.sqrt(f(max(w.shape))) * f(self.rms_rate)
        w -= step

    def newton_schulz(self, x: np.ndarray) -> np.ndarray:
        """``ns_steps`` quintic Newton-Schulz iterations: about ``U V^T`` for ``x = U S V^T``."""
        f = x.dtype.type
        a, b, c = f(self.muon_a), f(self.muon_b), f(self.muon_c)
        tall = x.shape[-2] > x.shape[-1]
        if tall:
            x = np.swapaxes(x, -1, -2)  # (cols, rows): X X^T is the smaller square
        x = x / (np.sqrt(np.sum(np.square(x), axis=(-2, -1), keepdims=True)) + f(1e-7))
        for _ in range(self.ns_steps):
            gram = x @ np.swapaxes(x, -1, -2)  # A = X X^T
            poly = b * gram + c * gram @ gram
            x = a * x + poly @ x
        return np.swapaxes(x, -1, -2) if tall else x

    def get_config(self):
        return {**super().get_config(), "adam_beta_1": self.adam_beta_1,
                "adam_beta_2": self.adam_beta_2, "epsilon": self.epsilon,
                "exclude_layers": self.exclude_layers, "muon_a": self.muon_a,
                "muon_b": self.muon_b, "muon_c": self.muon_c, "adam_lr_ratio": self.adam_lr_ratio,
                "momentum": self.momentum, "ns_steps": self.ns_steps, "nesterov": self.nesterov,
                "exclude_embeddings": self.exclude_embeddings,
                "adam_weight_decay": self.adam_weight_decay, "rms_rate": self.rms_rate}
