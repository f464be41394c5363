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

Outside a graph, Keras hangs the mask on the tensor itself (``y._keras_mask``), and a layer called
on that tensor reads it. A layer called on an array does the same here: the output of
``Embedding(mask_zero=True)(ids)`` is an :class:`ArrayWithMask` (a NumPy array with a
``_keras_mask`` attribute), and ``LSTM(8)(that)`` skips the padded steps, as
``LSTM(8)(x, mask=m)`` does. A ``KerasTensor`` carries a symbolic ``_keras_mask`` (shape and
dtype only, for printing, :func:`symbolic_mask`); the graph computes the values as above.
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
        if mask is not None and takes_mask(layer):
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
    compute_mask = own_compute_mask(layer)
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


def own_compute_mask(layer):
    """``layer.compute_mask`` where the layer defines its own (its class, or an instance
    attribute: ``Lambda(mask=...)``), else None. ``Layer.compute_mask`` is Keras' default, the
    input's mask unchanged, which a layer hands on only if it ``supports_masking`` (Keras:
    ``supports_masking`` is True by default exactly when ``compute_mask`` is overridden)."""
    if "compute_mask" in getattr(layer, "__dict__", {}):
        return layer.compute_mask
    method = getattr(type(layer), "compute_mask", None)
    if method is None or method is Layer.compute_mask:
        return None
    return layer.compute_mask


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


def takes_mask(layer) -> bool:
    """Whether ``layer`` reads its input's mask (Keras looks for ``mask`` in ``call``): its own
    ``forward`` has a ``mask`` argument, or it is a Keras-style layer run by the tape
    (:mod:`scratchnet.tape_layers`) whose ``call(inputs, mask=None)`` has one (keras.io's
    TemporalSoftmax)."""
    if not getattr(layer, "_taped", False):
        return _forward_takes_mask(type(layer))
    from scratchnet.subclassing import call_takes

    return call_takes(layer, "mask")


@functools.cache
def _forward_takes_mask(layer_class: type) -> bool:
    """Whether ``layer_class.forward`` accepts ``mask=``."""
    return "mask" in inspect.signature(layer_class.forward).parameters


class ArrayWithMask(np.ndarray):
    """A layer's output array that carries its padding mask in ``_keras_mask``, as Keras' eager
    tensors do (``backend.set_keras_mask``). An array computed from it (``y + 1``, ``y[0]``) has
    ``_keras_mask`` None, as a new Keras tensor has none; ``np.asarray(y)`` is a plain array."""

    _keras_mask = None


def keras_mask_of(x) -> np.ndarray | None:
    """The mask an array carries (Keras' ``backend.get_keras_mask``): None for a plain array and
    for a list of arrays (Keras hands a layer the mask of its first argument only)."""
    mask = getattr(x, "_keras_mask", None)
    return None if mask is None else np.asarray(mask)


def with_mask(y, mask):
    """``y`` carrying ``mask`` as ``_keras_mask`` (a list of outputs takes a list of masks, one
    each); ``y`` itself where the mask is None or ``y`` is not a NumPy array."""
    if isinstance(y, list | tuple) and isinstance(mask, list | tuple):
        return type(y)(with_mask(item, m) for item, m in zip(y, mask, strict=True))
    if mask is None or isinstance(y, list | tuple) or not isinstance(y, np.ndarray):
        return y
    y = y.view(ArrayWithMask)
    y._keras_mask = np.asarray(mask)
    return y


def symbolic_mask(layer, x, output):
    """The ``_keras_mask`` of ``output``, the KerasTensor ``layer(x)`` gave: a KerasTensor of
    dtype bool, or None. The input's own mask when the layer passes masks through
    (``supports_masking``, no ``compute_mask``); else, for a layer with a ``compute_mask``, a
    tensor of the shape that method gives, found by calling it on a batch of one of zeros (so a
    layer that makes no mask, or ends it, gives None). Only for printing and inspection: a graph
    computes the mask's values as it runs (:func:`forward_with_mask`)."""
    if isinstance(x, list | tuple):
        return None
    mask = getattr(x, "_keras_mask", None)
    compute_mask = own_compute_mask(layer)
    if compute_mask is None:
        return mask if getattr(layer, "supports_masking", False) else None
    sample = np.zeros([1 if d is None else d for d in x.shape], dtype=x.dtype)
    sample_mask = None if mask is None else np.ones([1 if d is None else d for d in mask.shape], bool)
    try:
        made = compute_mask(sample, sample_mask)
    except (TypeError, ValueError, IndexError):  # a user's compute_mask that needs real values
        return None
    if isinstance(output, list | tuple):  # several outputs (TemporalSplit): a list of masks, one each
        if not isinstance(made, list | tuple) or len(made) != len(output):
            return None
        return [None if m is None else mask_tensor(layer, x, out.shape[:np.ndim(m)])
                for m, out in zip(made, output, strict=True)]
    if made is None or isinstance(made, list | tuple):
        return None
    if sample_mask is not None and made is sample_mask:  # passed through: the input's own
        return mask
    return mask_tensor(layer, x, output.shape[:np.ndim(made)])


def mask_tensor(layer, x, shape: tuple):
    """A symbolic mask of ``shape`` that ``layer`` makes from its input ``x``: a bool KerasTensor
    tagged with where it comes from, so ``lstm(h, mask=embedding.compute_mask(ids))`` in a traced
    ``call`` is known to be the mask ``h`` already carries (see ``_refuse_symbolic_mask``)."""
    from scratchnet.layers.input_layer import KerasTensor

    tensor = KerasTensor(tuple(shape), "bool", f"{layer.name}_mask")
    tensor._mask_of = (layer, x)
    return tensor


def same_mask(given, carried) -> bool:
    """Whether the symbolic mask ``given`` is ``carried`` (the one a tensor carries), or made by
    the same layer from the same input."""
    if given is carried:
        return True
    given_of, carried_of = getattr(given, "_mask_of", None), getattr(carried, "_mask_of", None)
    return given_of is not None and carried_of is not None and \
        all(a is b for a, b in zip(given_of, carried_of, strict=True))



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
