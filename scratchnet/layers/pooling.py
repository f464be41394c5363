"""MaxPooling2D, channels-last."""

from __future__ import annotations

import numpy as np

from scratchnet import kernels
from scratchnet.layers._args import int_tuple, output_size_and_pads, padding_mode
from scratchnet.layers.base import Layer


class MaxPooling2D(Layer):
    """Largest value of each ``pool_size`` window, moved by ``strides`` (default: ``pool_size``).

    Input ``(N, H, W, C)``; output ``(N, OH, OW, C)`` with the same size rules as Conv2D.
    ``padding="same"`` pads with ``-inf``, so padded cells never win: an all ``-5`` input pools
    to ``-5``.

    Backward (TensorFlow's CPU kernel): each window's ``dy`` goes wholly to its *first* maximum in
    row-major order (top-most, then left-most); overlapping windows add up.
    """

    def __init__(self, pool_size=(2, 2), strides=None, padding: str = "valid",
                 name: str | None = None):
        super().__init__(name=name)
        where = f"MaxPooling2D {self.name!r}"
        self.pool_size = int_tuple(pool_size, 2, "pool_size", where)
        self.strides = self.pool_size if strides is None else int_tuple(strides, 2, "strides", where)
        self.padding = padding_mode(padding, where)
        self.xpad_hw: tuple[int, int] | None = None
        self.argmax: np.ndarray | None = None

    def build(self, input_shape, rng):
        if len(input_shape) != 3:
            raise ValueError(
                f'Input 0 of layer "{self.name}" is incompatible with the layer: expected ndim=4 '
                f"(batch, height, width, channels), found ndim={len(input_shape) + 1}. "
                f"Full shape received: {(None,) + tuple(input_shape)}"
            )
        h, w, c = input_shape
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        oh, top, bottom = output_size_and_pads(h, ph, sh, 1, self.padding)
        ow, left, right = output_size_and_pads(w, pw, sw, 1, self.padding)
        if oh <= 0 or ow <= 0:
            raise ValueError(
                f'Layer "{self.name}": pool_size {self.pool_size} does not fit the input of '
                f"height and width {(h, w)} with padding='valid'; the output would be {(oh, ow)}"
            )
        self.pads = ((top, bottom), (left, right))
        self.out_hw = (oh, ow)
        return (oh, ow, c)

    def forward(self, x, training=False):
        (top, bottom), (left, right) = self.pads
        xpad = x  # "valid": nothing to pad, and no copy
        if top or bottom or left or right:
            xpad = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)),
                          constant_values=-np.inf)  # (N, Hp, Wp, C)
        self.xpad_hw = xpad.shape[1:3]
        y, self.argmax = kernels.maxpool2d_forward(xpad, self.pool_size, self.strides, self.out_hw)
        return y

    def backward(self, dy):
        dxpad = kernels.maxpool2d_backward(dy, self.argmax, self.pool_size, self.strides,
                                           self.xpad_hw)
        (top, _), (left, _) = self.pads
        h, w, _ = self.input_shape
        return dxpad[:, top:top + h, left:left + w, :]  # (N, H, W, C)

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size),
                "strides": list(self.strides), "padding": self.padding}
