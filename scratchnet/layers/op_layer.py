"""The layer an ``sn.ops`` function of several KerasTensors becomes in a traced ``call()``
(``sn.ops.einsum("btd,bsd->bts", q, k)``, ``sn.ops.take_along_axis(x, idx, axis=1)``...): Keras
records such a call as one operation of the graph; scratchnet records this layer.

Forward: the function on the arrays, each watched by a gradient tape (:mod:`scratchnet.autodiff`);
backward: the tape played back once per input, so each input gets its own ``dL/dx``. No weights,
and, as a ``Lambda``, nothing a file could hold (a model holding one is rebuilt in code).
"""

from __future__ import annotations

import numpy as np

from scratchnet.autodiff import Tape, Traced
from scratchnet.layers.merging import Merge


class OpLayer(Merge):
    """``function(list of arrays) -> array`` on several inputs, with its gradient from the tape."""

    def __init__(self, function, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.function = function
        self._tape: Tape | None = None

    def build(self, input_shape, rng):
        # as Lambda: the function runs once on batches of two zero samples; only the shape is read
        probes = [np.zeros((2,) + tuple(d or 1 for d in s), dtype=np.float32) for s in input_shape]
        try:
            with np.errstate(all="ignore"):
                y = np.asarray(self.function(probes))
        except (ValueError, IndexError, TypeError) as error:
            raise ValueError(f'layer "{self.name}": the operation cannot take inputs of shapes '
                             f"{[(None,) + tuple(s) for s in input_shape]}: {error}") from error
        if y.ndim == 0 or y.shape[0] != 2:
            raise ValueError(f'layer "{self.name}": the operation must keep the batch axis first: on '
                             f"batches of shapes {[p.shape for p in probes]} it returned shape {y.shape}")
        return tuple(y.shape[1:])

    def forward(self, xs, training=False):
        if not (self.for_backward and self.compute_input_grad):
            self._tape = None
            return np.asarray(self.function(list(xs)))
        self._tape = Tape(f'layer "{self.name}"')
        self._watched = [self._tape.watch(x) for x in xs]
        self._output = self.function(self._watched)
        return self._output.value if isinstance(self._output, Traced) else np.asarray(self._output)

    def backward(self, dy):
        if self._tape is None:
            raise RuntimeError(f'layer "{self.name}": backward called without a recorded forward pass')
        return [self._tape.gradient(self._output, w, dy) for w in self._watched]

    def get_config(self):
        from scratchnet.layers.lambda_layer import _describe

        return {**super().get_config(), "function": _describe(self.function)}
