"""Layers that Keras does not ship, written by subclassing ``sn.layers.Layer``.

``PoincareNormalize`` is the worked example of the talk: TensorFlow Addons had it
(``tensorflow_addons/layers/poincare.py``), and TF Addons no longer imports with TensorFlow 2.21,
so its Keras twin is ``tfnet.addons.PoincareNormalize``.
"""

from __future__ import annotations

import numbers

import numpy as np

from scratchnet.layers.base import Layer


class PoincareNormalize(Layer):
    """Pull every vector back inside the Poincaré ball of radius ``1 - epsilon``.

    With the norm taken over ``axis`` (an int or a tuple of ints, counted like Keras with the batch
    as axis 0; default ``1``):

        ``scale = min((1 - epsilon) / ||x||, 1)``    (Addons writes ``(1 - eps) * rsqrt(sum x^2)``)
        ``y = x * scale``

    A vector already inside the ball (``||x|| < 1 - epsilon``) passes unchanged; a longer one is
    shrunk to length ``1 - epsilon``. Input and output shapes are equal. No weights.

    Backward, with ``r = 1 / ||x||``:
        inside the ball (``(1 - eps) * r > 1``): ``dx = dy``
        shrunk (``(1 - eps) * r <= 1``):        ``dx = scale * (dy - x * r^2 * sum_axis(x * dy))``
    At the boundary ``(1 - eps) * r == 1`` the shrinking branch is taken, as TensorFlow's
    ``minimum`` gradient does (it goes to the first argument on a tie). A zero vector stays zero
    with ``dx = dy``; TensorFlow gives NaN there (``rsqrt(0) = inf``).
    """

    def __init__(self, axis=1, epsilon: float = 1e-5, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        where = f"PoincareNormalize {self.name!r}"
        axes = axis if isinstance(axis, tuple | list) else (axis,)
        if not axes or any(isinstance(a, bool) or not isinstance(a, numbers.Integral) for a in axes):
            raise ValueError(f"{where}: expected axis to be an int or a tuple of ints, "
                             f"received {axis!r}")
        self.axis = int(axis) if isinstance(axis, numbers.Integral) else tuple(int(a) for a in axes)
        if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real) \
                or not 0 <= epsilon < 1:
            raise ValueError(f"{where}: expected epsilon to be a float in [0, 1), received "
                             f"{epsilon!r}")
        self.epsilon = float(epsilon)
        self.x: np.ndarray | None = None
        self.scale: np.ndarray | None = None
        self.inv_norm: np.ndarray | None = None

    def build(self, input_shape, rng):
        rank = len(input_shape) + 1  # with the batch axis
        axes = self.axis if isinstance(self.axis, tuple) else (self.axis,)
        if any(not -rank <= a < rank for a in axes):
            raise ValueError(f'PoincareNormalize "{self.name}": axis {self.axis} is out of range '
                             f"for inputs of rank {rank} (shape {(None,) + tuple(input_shape)})")
        self.axes = tuple(sorted({a % rank for a in axes}))
        return tuple(input_shape)

    def forward(self, x, training=False):
        square_sum = np.sum(np.square(x), axis=self.axes, keepdims=True)  # 1 along each axis
        with np.errstate(divide="ignore"):
            inv_norm = 1 / np.sqrt(square_sum)  # inf for a zero vector
        self.x, self.inv_norm = x, inv_norm
        self.scale = np.minimum((1 - self.epsilon) * inv_norm, 1).astype(x.dtype)
        return x * self.scale

    def backward(self, dy):
        x, scale = self.x, self.scale
        shrunk = (1 - self.epsilon) * self.inv_norm <= 1  # the min chose (1 - eps) / ||x||
        r2 = np.where(shrunk, np.square(np.where(shrunk, self.inv_norm, 0)), 0)  # 1/||x||^2 or 0
        x_dot_dy = np.sum(x * dy, axis=self.axes, keepdims=True)
        return (scale * (dy - x * (r2 * x_dot_dy))).astype(dy.dtype, copy=False)

    def get_config(self):
        axis = list(self.axis) if isinstance(self.axis, tuple) else self.axis
        return {**super().get_config(), "axis": axis, "epsilon": self.epsilon}
