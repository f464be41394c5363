"""``keras.layers.RNN(cell)``: any cell run over a sequence, one step at a time.

::

    states = initial_state or zeros          # one (N, size) array a state of the cell
    for t in steps:                          # reversed with go_backwards=True
        output, states = cell(x[:, t], states)

It returns the last output ``(N, output_size)``, or every step's ``(N, T, output_size)`` with
``return_sequences=True``, and with ``return_state=True`` the states after the last step too:
``[output, *states]``. ``cell`` is a ``SimpleRNNCell``, ``LSTMCell``, ``GRUCell``
(:mod:`scratchnet.layers.rnn_cells`, where each step formula lives), a list of cells (made into
``StackedRNNCells``), or a user's cell: a layer with ``state_size`` and ``call(inputs, states)``,
whose backward pass the gradient tape works out step by step. ``ConvLSTM1D/2D``
(``scratchnet/layers/conv_lstm.py``) are RNNs of a convolutional cell, whose states are frames.

``RNN(LSTMCell(n))`` computes what ``LSTM(n)`` computes, with the same step function; ``LSTM``
runs the input products of every step as one matrix product first, so the two agree to float
rounding (1e-6), not bit for bit. The weights are the cell's, named as Keras names them:
``rnn/lstm_cell/kernel``, ``rnn/stacked_rnn_cells/lstm_cell/kernel``.

The backward pass ("backpropagation through time") runs the loop from the last step to the
first: each step's ``cell.backward_step`` takes dL/d(its output) and dL/d(its new states) and
gives dL/d(its input) and dL/d(the states before), which the step before receives; each cell adds
its weight gradients up over the steps.

Masks, as Keras' ``backend.rnn`` and the built-in layers (``scratchnet/layers/recurrent.py``): a
padded step keeps the states it had, and its output repeats the output before it (zeros before
the first real step), or is zero with ``zero_output_for_mask=True``. ``stateful=True`` starts each
batch from the states the batch before left (``recurrent._Stateful``); ``unroll`` is accepted and
changes nothing.
"""

from __future__ import annotations

import numpy as np

from scratchnet import kernels
from scratchnet.layers.base import Layer
from scratchnet.layers.recurrent import _call_with_states, _Stateful
from scratchnet.layers.rnn_cells import StackedRNNCells, cell_from_config, step_cell


class _Floatx:
    """What ``_call_with_states`` reads the input type from, for a cell without weights."""

    @property
    def value(self):
        from scratchnet import config

        return np.zeros(0, dtype=config.dtype())


class RNN(_Stateful, Layer):
    """``keras.layers.RNN(cell, return_sequences=False, return_state=False, go_backwards=False,
    stateful=False, unroll=False, zero_output_for_mask=False)``.

    Input shape ``(N, T, C)``; output ``(N, output_size)``, ``(N, T, output_size)`` with
    ``return_sequences``; with ``return_state`` a list ``[output, *states]``, each ``(N, size)``."""

    supports_masking = True
    sequence_mask_with_states = True  # called with initial_state, it still reads x's padding mask

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, zero_output_for_mask=False, name: str | None = None,
                 **kwargs):
        custom_objects = kwargs.pop("custom_objects", None)
        super().__init__(name=name, **kwargs)
        where = f'RNN "{self.name}"'
        if isinstance(cell, list | tuple):
            cell = StackedRNNCells(list(cell))
        cell = cell_from_config(cell, where, custom_objects)
        if isinstance(cell, StackedRNNCells) and return_state:
            raise ValueError(f"{where}: return_state=True with a stack of cells (Keras returns each "
                             "cell's states nested) is not supported by scratchnet; return the states "
                             "of one cell, or stack RNN layers")
        self.cell = cell
        self.step_cell = step_cell(cell, where)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.unroll = bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self._init_stateful(stateful)

    # ------------------------------------------------------------------ sizes and states
    @property
    def state_sizes(self) -> list[int]:
        return self.step_cell.state_sizes

    @property
    def n_states(self) -> int:
        return len(self.state_sizes)

    @property
    def output_size(self) -> int:
        return self.step_cell.output_size

    @property
    def state_shapes(self) -> list[tuple]:
        """Each state's shape without the batch axis: ``(size,)``; a ConvLSTM's ``(H, W, F)``."""
        shapes = getattr(self.step_cell, "state_shapes", None)
        return list(shapes) if shapes is not None else [(size,) for size in self.state_sizes]

    @property
    def step_output_shape(self) -> tuple:
        """One step's output without the batch axis: ``(output_size,)``; a ConvLSTM's ``(H, W, F)``."""
        return getattr(self.step_cell, "step_output_shape", None) or (self.output_size,)

    def extra_output_shapes(self) -> list[tuple]:
        """With ``return_state=True``: every state after the output (its shape each)."""
        return self.state_shapes if self.return_state else []

    def __call__(self, x, initial_state=None, training: bool = False, mask=None):
        """``layer(x)``, or ``layer(x, initial_state=[...])``: arrays give arrays (a list
        ``[output, *states]`` with ``return_state=True``); KerasTensors record a graph node.
        ``mask``: which steps are real (``(N, T)`` bool), else the one ``x`` carries."""
        return _call_with_states(self, x, initial_state, training, self.state_shapes,
                                 lambda: self.weights[0] if self.weights else _Floatx(), mask)

    def _state_list(self, initial_state) -> list | None:
        """``initial_state`` as a flat list of ``n_states`` entries (one array alone is a list of one)."""
        if initial_state is None:
            return None
        if isinstance(self.cell, StackedRNNCells):
            raise ValueError(f'RNN "{self.name}": initial_state with a stack of cells (Keras takes '
                             "them nested, one list a cell) is not supported by scratchnet; stack RNN "
                             "layers to give each its states")
        states = list(initial_state) if isinstance(initial_state, list | tuple) else [initial_state]
        if len(states) != self.n_states:
            raise ValueError(f'RNN "{self.name}": expected initial_state to be a list of {self.n_states} '
                             f"state(s), of shapes {[(None, *s) for s in self.state_shapes]}, received "
                             f"{len(states)}")
        return states

    # ------------------------------------------------------------------ weights
    def build(self, input_shape, rng):
        if len(input_shape) != 2:
            raise ValueError(f'RNN "{self.name}": expected inputs of shape (batch, steps, features), '
                             f"received {(None,) + tuple(input_shape)}")
        self.step_cell.ensure_built((input_shape[1],), rng)
        for name, param in self.step_cell.params.items():
            param.name = f"{self.name}/{param.name}"  # rnn/lstm_cell/kernel, as Keras' paths
            self.params[name] = param
        return self._output_shape(input_shape[0])

    def _output_shape(self, steps) -> tuple:
        return (steps, *self.step_output_shape) if self.return_sequences else self.step_output_shape

    # ------------------------------------------------------------------ forward: the loop
    def forward(self, x, training=False, mask=None, initial_state=None):
        """``x (N, T, C)``; ``initial_state`` a list of the cell's states or None (zeros).
        Returns the output, or ``[output, *states]`` with ``return_state=True``."""
        if kernels.is_device_array(x):
            raise ValueError(f'RNN "{self.name}": recurrent layers run on the "numpy" and "numba" '
                             'backends; the "cupy" backend has no recurrent kernels yet')
        n, steps, *features = x.shape
        time = slice(None, None, -1) if self.go_backwards else slice(None)
        x = x[:, time]  # (N, T, C) in the order the steps run
        out_shape = self.step_output_shape
        self.step_mask = None if mask is None else \
            np.asarray(mask, dtype=bool)[:, time].reshape(n, steps, *[1] * len(out_shape))  # (N, T, 1..)
        self.has_initial_state = initial_state is not None  # then backward returns d(initial_state)
        start = self.carried_states(n, initial_state)  # stateful: the last batch's states
        if start is None:
            states = [np.zeros((n, *shape), dtype=x.dtype) for shape in self.state_shapes]
        else:
            states = self._state_list(start) if initial_state is not None else list(start)
            for s, shape in zip(states, self.state_shapes, strict=True):
                if tuple(np.shape(s)) != (n, *shape):
                    raise ValueError(f'{type(self).__name__} "{self.name}": expected each initial state '
                                     f"of shape {(n, *shape)} (batch, state size), received "
                                     f"{tuple(np.shape(s))}")
            states = [np.asarray(s, dtype=x.dtype) for s in states]
        cell = self.step_cell
        cell.start_sequence(n, features[-1], x.dtype, training)
        self.caches, self.batch_shape = [], x.shape
        outputs = np.empty((n, steps, *out_shape), dtype=x.dtype)
        out = np.zeros((n, *out_shape), dtype=x.dtype)  # the output before the first step
        for t in range(steps):
            new_out, new_states, cache = cell.forward_step(x[:, t], states, training)
            if self.step_mask is None:
                out, states = new_out, new_states
            else:  # a padded step keeps the states it had, and repeats the output before it
                m = self.step_mask[:, t]
                out = np.where(m, new_out, out)
                states = [np.where(m, new, old) for new, old in zip(new_states, states, strict=True)]
            self.caches.append(cache)
            outputs[:, t] = out
        if self.step_mask is not None and self.zero_output_for_mask:
            outputs = np.where(self.step_mask, outputs, 0)
        y = outputs if self.return_sequences else out
        if self.stateful:
            self.states = states  # the next batch starts from them
        return [y, *states] if self.return_state else y

    # ------------------------------------------------------------------ backward: through time
    def backward(self, dy):
        """``dy``: dL/d(output), or with ``return_state=True`` ``[dy, *d states]`` (None for one
        nothing reads). Returns dL/dx, or ``[dx, *d initial states]`` when the forward pass was
        given ``initial_state``."""
        n, steps = self.batch_shape[:2]
        out_shape = self.step_output_shape
        d_states = [None] * self.n_states
        if self.return_state:
            dy, *d_states = dy
        zeros = [np.zeros((n, *shape), dtype=self._dtype()) for shape in self.state_shapes]
        d_states = [z if d is None else d + z for d, z in zip(d_states, zeros, strict=True)]
        if dy is None:
            dy = np.zeros((n, *self._output_shape(steps)), dtype=self._dtype())
        dout = np.zeros((n, *out_shape), dtype=dy.dtype)  # dL/d(output at step t)
        if self.return_sequences:
            zeroed = self.step_mask is not None and self.zero_output_for_mask
            douts = np.where(self.step_mask, dy, 0) if zeroed else dy
        else:
            dout = dout + dy  # the output is the last step's
        self.step_cell.zero_grads()
        dx = np.zeros(self.batch_shape, dtype=dy.dtype)
        for t in reversed(range(steps)):
            if self.return_sequences:
                dout = dout + douts[:, t]
            if self.step_mask is None:
                d_step_out, dout = dout, np.zeros_like(dout)
                dx[:, t], d_states = self.step_cell.backward_step(d_step_out, d_states, self.caches[t])
            else:  # a padded step passed its states through, and its output was the one before
                m = self.step_mask[:, t]
                kept = [np.where(m, 0, d) for d in d_states]
                d_step_out, dout = np.where(m, dout, 0), np.where(m, 0, dout)
                dx[:, t], d_prev = self.step_cell.backward_step(
                    d_step_out, [np.where(m, d, 0) for d in d_states], self.caches[t])
                d_states = [d + k for d, k in zip(d_prev, kept, strict=True)]
        dx = dx[:, ::-1] if self.go_backwards else dx
        if not self.has_initial_state:
            return dx if self.compute_input_grad else None
        return [dx if self.compute_input_grad else None, *d_states]

    def _dtype(self):
        from scratchnet import config

        return self.weights[0].value.dtype if self.weights else config.dtype()

    # ------------------------------------------------------------------ Keras' mask and config
    def compute_mask(self, x, mask):
        return mask if self.return_sequences else None

    def keras_weight_groups(self):
        """Keras keeps the weights in the cell: ``cell/vars`` in a .keras file (a stack's under
        ``cell/cells/<cell>/vars``), ``rnn/lstm_cell/kernel`` in an .h5 file."""
        if isinstance(self.cell, StackedRNNCells):
            return [(f"cell/{group}", prefix, params)
                    for group, prefix, params in self.cell.keras_weight_groups(self.name)]
        return [("cell/vars", f"{self.name}/{self.cell.name}", self.weights)]

    def keras_saved_config(self, config):
        """In a ``.keras`` file the cell is a Keras layer spec of its own."""
        from scratchnet.saving_keras import _layer_config

        spec = _layer_config(self.cell)
        if not type(self.cell).__module__.startswith("scratchnet."):
            # a user's cell: Keras finds it by this name in its custom_objects (not in keras.layers)
            spec = {**spec, "module": None, "registered_name": type(self.cell).__name__}
        return {**config, "cell": spec}

    def get_config(self):
        """Keras' ``RNN.get_config``: the cell as a Keras layer spec of its own."""
        from scratchnet.saving_keras import _layer_config

        return {**super().get_config(), "return_sequences": self.return_sequences,
                "return_state": self.return_state, "go_backwards": self.go_backwards,
                "stateful": self.stateful, "unroll": self.unroll,
                "zero_output_for_mask": self.zero_output_for_mask,
                "cell": _layer_config(self.cell)}
