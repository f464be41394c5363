"""The functional model the tests and the parity tests share (issue 14's "done when" model).

Two inputs, a layer shared by both, a fork whose branches rejoin, and two outputs::

    a (4,) ──► shared Dense(5, tanh) ──► h_a ─┬─► Dense(5, tanh) ──┐
                                               ├─► Dense(5, sigmoid)┴─► Add ──► Concatenate ─► class (softmax)
    b (3,) ──► Dense(4) ──► shared ──► h_b ───────────────────────────────────┘      │   ╲
                                                              h_a ─────────────────────┘    ╲► value Dense(1)
"""

from __future__ import annotations

import scratchnet as sn

L = sn.layers


def two_branch_model(seed: int = 0) -> sn.Model:
    sn.utils.set_random_seed(seed)
    a = sn.Input((4,), name="a")
    b = sn.Input((3,), name="b")
    shared = L.Dense(5, activation="tanh", name="shared")
    h_a = shared(a)
    h_b = shared(L.Dense(4, name="project_b")(b))  # the same layer, called a second time
    left = L.Dense(5, activation="tanh", name="left")(h_a)  # the fork: h_a feeds two branches...
    right = L.Dense(5, activation="sigmoid", name="right")(h_a)
    joined = L.Add(name="rejoin")([left, right, h_b])  # ...which rejoin here
    features = L.Concatenate(name="features")([joined, h_a])  # and h_a is read a third time
    label = L.Dense(3, activation="softmax", name="label")(features)
    value = L.Dense(1, name="value")(features)
    return sn.Model(inputs=[a, b], outputs=[label, value], name="two_branch")


def compile_two_branch(model: sn.Model, optimizer=None) -> sn.Model:
    model.compile(optimizer=optimizer if optimizer is not None else sn.optimizers.Adam(0.01),
                  loss=["sparse_categorical_crossentropy", "mse"], loss_weights=[1.0, 0.5])
    return model


def two_branch_data(n: int = 6, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = [rng.standard_normal((n, 4)), rng.standard_normal((n, 3))]
    y = [rng.integers(0, 3, n), rng.standard_normal((n, 1))]
    return x, y
