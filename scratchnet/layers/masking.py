"""Keras' masking: which steps of a padded batch of sequences are real.

A mask is a boolean array ``(N, T)``: True where step ``t`` of sample ``n`` is a real token,
False where it is padding. ``Embedding(mask_zero=True)`` makes one from its ids (``ids != 0``), and
a model carries it from layer to layer with :func:`forward_with_mask`, which is all of the
mechanism (Keras does the same in ``Layer.__call__``):

- a layer whose ``forward`` has a ``mask`` argument receives the mask of its input
  (``GlobalAveragePooling1D`` then averages over the real steps only);
- the mask of its output is ``layer.compute_mask(x, mask)`` when the layer defines one
  (Embedding makes a mask, GlobalAveragePooling1D ends it with None); otherwise the input's mask
  passes through unchanged if ``layer.supports_masking`` (step-wise layers: Dense, Dropout,
  Activation), and is dropped, with Keras' warning, by any other layer (Conv1D, Flatten,
  GlobalMaxPooling1D: Keras 3.15's max pooling does *not* skip padded steps).

Layers cache what they need for ``backward`` (the pooling layer keeps its mask), so the backward
pass needs no mask of its own. A functional graph calls :func:`forward_with_mask` once per node,
keeping each tensor's mask beside its value and handing a node the mask of its first input.
"""

from __future__ import annotations

import functools
import inspect
import numbers
import warnings

import numpy as np

from scratchnet.layers.base import Layer
from scratchnet.remat import checkpointed_forward


def forward_with_mask(layer, x, mask: np.ndarray | None, training: bool = False,
                      for_backward: bool = True):
    """``layer.forward`` on ``x`` whose mask is ``mask`` (None: no padding); returns
    ``(y, mask of y)``. ``for_backward=False``: no backward pass follows (``Layer.for_backward``
    is False during the call)."""
    if not for_backward:
        layer.for_backward = False

    def run():
        if mask is not None and _forward_takes_mask(type(layer)):
            return layer.forward(x, training=training, mask=mask)
        return layer.forward(x, training=training)

    try:
        # a layer made in a RematScope keeps only x for its backward pass (scratchnet/remat.py)
        y = checkpointed_forward(layer, run, for_backward)
    finally:
        if not for_backward:
            del layer.for_backward  # back to the class's True
    layer.record_activity(y)  # activity_regularizer=...: the penalty on y (Layer.record_activity)
    return y, output_mask(layer, x, mask)


def output_mask(layer, x, mask: np.ndarray | None) -> np.ndarray | None:
    """The mask of ``layer``'s output, given its input ``x`` and the input's ``mask``."""
    compute_mask = getattr(layer, "compute_mask", None)
    if compute_mask is not None:
        return compute_mask(x, mask)
    if mask is None or getattr(layer, "supports_masking", False):
        return mask
    if not getattr(layer, "_warned_mask_dropped", False):  # Keras warns too; once per layer here
        layer._warned_mask_dropped = True
        warnings.warn(f"Layer '{layer.name}' (of type {type(layer).__name__}) was passed an input "
                      "with a mask attached to it. However, this layer does not support masking "
                      "and will therefore destroy the mask information. Downstream layers will "
                      "not see the mask.", UserWarning, stacklevel=3)
    return None


def refuse_masked_output(model) -> None:
    """A model whose *output* carries a mask (``Embedding(mask_zero=True)`` followed only by
    step-wise layers: one prediction per token) gets its loss and metrics weighted by that mask in
    Keras (``keras/src/losses/loss.py``, ``apply_mask``: padded steps weigh 0, the others
    ``total / valid``). scratchnet does not weight losses by masks: rather than compute another
    number than Keras, it refuses."""
    raise ValueError(
        f'model "{model.name}": its output carries a padding mask (an Embedding(mask_zero=True) '
        "reaches the output through step-wise layers only), and Keras would weight the loss and "
        "metrics by it; scratchnet does not apply masks to losses. End the model with a pooling "
        "layer (GlobalAveragePooling1D), or use mask_zero=False and sample_weight")


@functools.cache
def _forward_takes_mask(layer_class: type) -> bool:
    """Whether ``layer_class.forward`` accepts ``mask=`` (Keras looks for ``mask`` in ``call``)."""
    return "mask" in inspect.signature(layer_class.forward).parameters



class Masking(Layer):
    """``keras.layers.Masking(mask_value=0.0)``: mark the steps of ``(N, T, F)`` sequences whose
    features all equal ``mask_value`` as padding. The output is ``x`` with those steps set to 0 and
    carries the mask ``(N, T)`` (True where any feature differs from ``mask_value``), which the
    recurrent layers and GlobalAveragePooling1D then honour, as ``Embedding(mask_zero=True)``'s.
    Backward: ``dy`` on the real steps, 0 on the padded ones."""

    supports_masking = True

    def __init__(self, mask_value: float = 0.0, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        if isinstance(mask_value, bool) or not isinstance(mask_value, numbers.Real):
            raise ValueError(f'Masking "{self.name}": expected mask_value to be a number, received '
                             f"mask_value={mask_value!r}")
        self.mask_value = float(mask_value)
        self.keep = None

    def build(self, input_shape, rng):
        if len(input_shape) < 2:
            raise ValueError(f'Input 0 of layer "{self.name}" (Masking) is incompatible with the '
                             f"layer: expected (batch, steps, features), found shape "
                             f"{(None, *input_shape)}")
        return tuple(input_shape)

    def compute_mask(self, x, mask=None):
        return np.any(x != x.dtype.type(self.mask_value), axis=-1)  # (N, T)

    def forward(self, x, training=False):
        self.keep = np.any(x != x.dtype.type(self.mask_value), axis=-1, keepdims=True)
        return np.where(self.keep, x, x.dtype.type(0))

    def backward(self, dy):
        return np.where(self.keep, dy, dy.dtype.type(0))

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}
