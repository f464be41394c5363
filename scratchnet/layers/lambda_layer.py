"""``keras.layers.Lambda``: a function of the user's as a layer (``Lambda(lambda x: x * 100.0)``).

Forward: ``y = function(x, **arguments)``. Backward: the function is not something scratchnet
wrote, so its gradient is worked out from what it did: in training, the function runs on a
traced input that records each NumPy operation, and ``backward`` plays the record back
(:mod:`scratchnet.autodiff`, a gradient tape in its simplest form). Where no backward pass follows
(``predict``, ``evaluate``, or the first layer of a model, whose ``dL/dx`` nobody needs) the
function runs on the plain array, so any NumPy code works there.

As in Keras, ``function`` receives the batch (its first axis is the batch); it may take
``training`` and ``mask`` keyword arguments, which it then receives. The output shape is
``output_shape`` if given (one sample's shape, or a function of the batch shape ``(None, ...)``),
else found by calling the function on a batch of zeros.
"""

from __future__ import annotations

import inspect

import numpy as np

from scratchnet import kernels
from scratchnet.autodiff import Tape, Traced
from scratchnet.layers.base import Layer


class Lambda(Layer):
    """Wraps ``function`` as a layer, as ``keras.layers.Lambda(function, output_shape=None,
    mask=None, arguments=None)``. No weights. A model holding one cannot be saved to a file
    (Keras writes the function's Python bytecode; scratchnet never writes or runs code from files):
    save the weights (``model.save_weights``) and rebuild the model in code."""

    def __init__(self, function, output_shape=None, mask=None, arguments=None, name: str | None = None,
                 **kwargs):
        super().__init__(name=name, **kwargs)
        where = f'Lambda "{self.name}"'
        if isinstance(function, dict):  # get_config's serialized named function (Keras' config)
            from scratchnet.utils import serialization

            function = serialization.deserialize_keras_object(function)
        if not callable(function):
            raise TypeError(f"{where}: expected function to be callable, received {function!r}")
        if arguments is not None and not isinstance(arguments, dict):
            raise TypeError(f"{where}: expected arguments to be a dict of keyword arguments for the "
                            f"function, received {arguments!r}")
        if output_shape is not None and not callable(output_shape) and not (
                isinstance(output_shape, tuple | list)
                and all(d is None or (isinstance(d, int) and d > 0) for d in output_shape)):
            raise ValueError(f"{where}: expected output_shape to be one sample's shape (a tuple of "
                             "positive integers) or a function of the input shape, received "
                             f"{output_shape!r}")
        self.function = function
        self.arguments = dict(arguments or {})
        self._output_shape_arg = output_shape
        self.mask = mask
        self.supports_masking = mask is not None  # as Keras: a mask passes only if one is given
        if mask is not None:
            self.compute_mask = mask if callable(mask) else (lambda x, previous: mask)
        try:
            parameters = inspect.signature(function).parameters
        except (TypeError, ValueError):  # a builtin without a signature
            parameters = {}
        self._takes_training = "training" in parameters
        self._takes_mask = "mask" in parameters
        self._tape: Tape | None = None
        self._on_device = False  # the last forward's batch was a GPU array (run on the host)

    def _call_function(self, x, training, mask):
        kwargs = dict(self.arguments)
        if self._takes_training:
            kwargs["training"] = training
        if self._takes_mask:
            kwargs["mask"] = mask
        from scratchnet.layers.input_layer import on_arrays

        with on_arrays():  # (on its probes inside a traced call, too)
            return self.function(x, **kwargs)

    def build(self, input_shape, rng):
        given = self._output_shape_arg
        if callable(given):
            shape = tuple(given((None,) + tuple(input_shape)))
            return shape[1:]  # Keras' function gives the batch shape
        if given is not None:
            return tuple(given)
        # Keras infers the shape symbolically; here the function runs once on a batch of two zero
        # samples (errors such as log(0) silenced: only the shape is read).
        probe = np.zeros((2,) + tuple(d or 1 for d in input_shape), dtype=np.float32)
        with np.errstate(all="ignore"):
            y = np.asarray(self._call_function(probe, False, None))
        if y.ndim == 0 or y.shape[0] != 2:
            raise ValueError(f'Lambda "{self.name}": the function must keep the batch axis first: on a '
                             f"batch of shape {probe.shape} it returned shape {y.shape}")
        return tuple(y.shape[1:])

    def forward(self, x, training=False, mask=None):
        if kernels.is_device_array(x):  # a NumPy function: it runs on the host, the result goes back
            self._on_device = True
            return kernels.to_backend(self._forward(kernels.to_numpy(x), training, mask))
        self._on_device = False
        return self._forward(x, training, mask)

    def _forward(self, x, training, mask):
        if not (self.for_backward and self.compute_input_grad):
            from scratchnet.tape_layers import _own_copy

            self._tape = None  # no backward pass will need a record
            # (a copy: "x *= 2" in the function makes a new value, as on Keras' immutable tensors)
            return np.asarray(self._call_function(_own_copy(x), training, mask))
        self._tape = Tape(f'Lambda "{self.name}"')
        self._watched = self._tape.watch(x)
        self._output = self._call_function(self._watched, training, mask)
        if isinstance(self._output, Traced):
            return self._output.value
        return np.asarray(self._output)  # the result does not depend on x: its gradient is zero

    def backward(self, dy):
        if self._on_device:
            return kernels.to_backend(self._backward(kernels.to_numpy(dy)))
        return self._backward(dy)

    def _backward(self, dy):
        if self._tape is None:
            raise RuntimeError(f'Lambda "{self.name}": backward called without a recorded forward pass '
                               "(the last forward was an inference one, or this is the model's first "
                               "layer)")
        return self._tape.gradient(self._output, self._watched, dy)  # zeros if x did not lead to it

    def get_config(self):
        """Keras' ``Lambda.get_config``: a named function by its name, as Keras'
        ``serialize_keras_object`` writes it; a Python ``lambda`` (Keras writes its bytecode,
        which scratchnet never writes nor runs) only described, ``module.<lambda>``."""
        config = {**super().get_config(), "function": _function_config(self.function)}
        if self._output_shape_arg is not None:
            config["output_shape"] = (_function_config(self._output_shape_arg)
                                      if callable(self._output_shape_arg) else self._output_shape_arg)
        if self.mask is not None:
            config["mask"] = _function_config(self.mask) if callable(self.mask) else self.mask
        return {**config, "arguments": self.arguments}


def _function_config(function):
    """A function as Keras' ``Lambda._serialize_function_to_config`` writes it: a named one by
    name (``{"module": "builtins", "class_name": "function", "config": name, ...}``, or its
    registered name); a ``lambda`` as ``module.<lambda>``, a description only."""
    from scratchnet.utils import serialization

    if getattr(function, "__name__", "<lambda>") == "<lambda>":
        return _describe(function)
    try:
        return serialization.serialize_keras_object(function)
    except TypeError:  # a user's function, unregistered: Keras writes its name
        return serialization._function_spec(function.__name__)


def _describe(function) -> str:
    """``module.qualname`` of a function (``__main__.<lambda>`` for a lambda)."""
    return f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', repr(function))}"

