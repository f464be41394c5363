"""Recurrent layers: ``SimpleRNN``, ``LSTM``, ``GRU`` and the ``Bidirectional`` wrapper, as Keras'.

A recurrent layer reads a sequence ``x (N, T, C)`` one step at a time and carries a state from
step to step: ``h_t = cell(x_t, h_{t-1})``, starting from zeros. It returns the last state
``h_T (N, U)``, or every state ``(N, T, U)`` with ``return_sequences=True``.

The forward pass, in the order every Keras cell computes it (``U = units``, ``G`` gates)::

    xw = x @ kernel + bias                # (N, T, G*U): every step's input part, one matrix product
    for t in steps:                       # T steps, in order (reversed with go_backwards=True)
        h, c = cell_step(xw[:, t], h, c)  # the recurrent part: h @ recurrent_kernel, then the gates

Each step formula (``cell_step`` and ``cell_step_backward``) is defined once, in a mixin of
``scratchnet/layers/rnn_cells.py`` that the layer and its Keras cell both inherit (``_SimpleRNNStep``,
``_LSTMStep``, ``_GRUStep``), as are the arguments, weights, dropout masks and config
(``_RecurrentWeights``); ``RNN(LSTMCell(n))`` (``scratchnet/layers/rnn.py``) runs the same
function one step at a time.

The backward pass is "backpropagation through time": the same loop run from the last step to the
first, each step handing ``dL/dh_{t-1}`` (and the LSTM's ``dL/dc_{t-1}``) to the step before it,
each step's gradients of the kernels added up. The cells, with ``s`` the recurrent activation
(sigmoid) and ``g`` the activation (tanh), gates in Keras' order of the kernel's columns:

- SimpleRNN: ``h = g(xw + h_prev @ R)``.
- LSTM (gates i, f, c, o): ``z = xw + h_prev @ R``; ``i, f, o = s(z_i), s(z_f), s(z_o)``,
  ``c = f * c_prev + i * g(z_c)``, ``h = o * g(c)``. ``unit_forget_bias`` starts the forget
  gate's bias at 1.
- GRU (gates z, r, h; Keras 3's default ``reset_after=True``, the bias ``(2, 3U)``: input and
  recurrent): ``xw = x @ K + b_in``, ``hr = h_prev @ R + b_rec``; ``z = s(xw_z + hr_z)``,
  ``r = s(xw_r + hr_r)``, ``hh = g(xw_h + r * hr_h)``, ``h = z * h_prev + (1 - z) * hh``.

A padding mask (``Embedding(mask_zero=True)``) makes a padded step keep the state it had: ``h_t =
h_{t-1}`` there (and the LSTM's ``c``), and its output repeats the output before it: the state
carried, or zeros before the first real step even when ``initial_state`` is given (Keras'
``prev_output``); zeros under a ``Bidirectional`` returning sequences (``zero_output_for_mask``).
``dropout`` and ``recurrent_dropout`` drop inputs and recurrent states with one mask per batch, the
same at every step (as Keras' cells cache theirs); Keras 3 draws one mask per gate when
``recurrent_dropout`` is set, here one mask serves all gates (the same rate and scaling; random
either way).

States in and out (Keras' encoder-decoder, ``docs/text.md`` §5b): ``return_state=True`` makes the
layer return ``[output, h]`` (SimpleRNN, GRU) or ``[output, h, c]`` (LSTM), the states after the
last step (under a mask, after the last real step: padded steps keep the state); and
``layer(x, initial_state=[h0, c0])`` starts the loop from given states instead of zeros. Their
backward is the same loop: gradients arriving at the returned ``h`` and ``c`` join ``dL/dh_T``
and ``dL/dc_T`` before the last step, and what the loop leaves after the first step is
``dL/dh0`` (and ``dL/dc0``), returned beside ``dL/dx``::

    backward([dy, dh_T, dc_T]) -> [dx, dh0, dc0]   # return_state, called with initial_state
    backward(dy)               -> dx               # neither (as before)

``Bidirectional`` passes both on: with ``return_state=True`` it returns ``[output, forward
states..., backward states...]``, and its ``initial_state`` is such a list (first half forward).
With ``merge_mode=None`` it returns the two outputs unjoined: ``[y_forward, y_backward]``, then
the states.

The number of steps may differ from batch to batch (``Input((None, F))``): the weights depend on
the features only, and the loop runs for the steps each batch has.

``stateful=True`` (:class:`_Stateful`, for these layers, ``RNN`` and ConvLSTM): each batch starts
from the states the batch before it ended with (``layer.states``), until ``layer.reset_state()``;
the batch size is fixed by the graph's ``Input(batch_size=...)``. The carried states are data:
the backward pass stops at them (truncated backpropagation through time).

Not built (an error that says so): ``return_state`` in a ``Sequential`` model. ``unroll`` is
accepted and changes nothing (the loop is the same computation).
"""

from __future__ import annotations

import contextlib

import numpy as np

from scratchnet import kernels
from scratchnet.kernels.conv import blas_on_one_thread
from scratchnet.layers.base import Layer, regularizer_config
from scratchnet.layers.rnn_cells import _GRUStep, _LSTMStep, _RecurrentWeights, _SimpleRNNStep


def _call_with_states(layer, x, initial_state, training, units, kernel, mask=None):
    """``__call__`` of a recurrent layer, of ``RNN`` and of Bidirectional: KerasTensors record a
    graph node (with ``initial_state``, a node of several arguments, each state checked to be
    ``(None, units)``; ``units`` an int, or a list of one shape a state); arrays are checked, cast
    to the type of ``kernel()`` (the weights, once built) and run, states included. Without
    states or ``return_state`` it is every layer's call. ``mask``: the padding mask ``(N, T)``,
    else the one ``x`` carries (``x._keras_mask``), as in ``Layer.__call__``."""
    from scratchnet.layers.base import _refuse_symbolic_mask
    from scratchnet.layers.input_layer import call_symbolic, call_symbolic_args, is_symbolic
    from scratchnet.layers.masking import keras_mask_of

    states = layer._state_list(initial_state)
    if is_symbolic(x) or (states is not None and any(is_symbolic(s) for s in states)):
        _refuse_symbolic_mask(layer, x, mask)
        if states is None:
            return call_symbolic(layer, x)
        shapes = units if isinstance(units, list) else [(units,)] * len(states)
        for s, shape in zip(states, shapes, strict=True):
            if is_symbolic(s) and tuple(s.shape[1:]) != tuple(shape):
                raise ValueError(f'{type(layer).__name__} "{layer.name}": expected each initial '
                                 f"state of shape {(None, *shape)}, received {s.shape}")
        return call_symbolic_args(layer, [x], {"initial_state": states},
                                  lambda args, kwargs: tuple(args[0].shape[1:]))
    if states is None and not layer.return_state and getattr(layer, "n_outputs", 1) == 1:
        return Layer.__call__(layer, x, training=training, mask=mask)
    mask = keras_mask_of(x) if mask is None else np.asarray(mask)
    x = np.asarray(x)
    if not layer.built:
        layer.ensure_built(x.shape[1:])
    layer.check_input(x)
    x = x.astype(kernel().value.dtype, copy=False)
    if states is not None:
        states = [np.asarray(s).astype(x.dtype, copy=False) for s in states]
    return layer.forward(x, training=training, initial_state=states, mask=mask)


class _Stateful:
    """Keras' ``stateful=True``, shared by the recurrent layers, ``RNN`` and ``ConvLSTM*D``: the
    states after each batch become the next batch's initial states, in ``predict`` and ``fit``
    alike, until ``layer.reset_state()`` sets them back to zeros. Sample ``i`` of a batch continues
    sample ``i`` of the batch before it, so the batch size is fixed: the model's
    ``Input(batch_size=...)`` (or ``batch_shape``) declares it, and the layer refuses a graph
    without one and a batch of another size (Keras' two errors). The carried states are data,
    not weights: no gradient flows back into the batch before (truncated backpropagation
    through time), and saved files do not hold them (as Keras, which keeps them in untracked
    variables)."""

    def _init_stateful(self, stateful) -> None:
        self.stateful = bool(stateful)
        self.batch_size: int | None = None  # fixed by the graph's Input, or the first batch
        self.states: list[np.ndarray] | None = None  # each (batch_size, *state shape)

    @property
    def state_shapes(self) -> list[tuple]:
        return [(self.units,)] * self.n_states

    def meet_batch_size(self, batch: int | None) -> None:
        """The batch size this layer is called with in a graph (``input_layer._record_outputs``
        tells every layer that has this method) or on arrays: a stateful layer keeps the first
        and refuses any other."""
        if not self.stateful:
            return
        where = f'{type(self).__name__} "{self.name}"'
        if batch is None:
            raise ValueError(f"{where}: When using `stateful=True` in a RNN, the batch size must be "
                             "static. Found dynamic batch size: give the model's Input a batch size, "
                             "keras.Input(shape, batch_size=...) or keras.Input(batch_shape=(batch, ...))")
        if self.batch_size is None:
            self.batch_size = int(batch)
            self.reset_state()
        elif batch != self.batch_size:
            raise ValueError(f"{where}: If an RNN is stateful, the batch size of the input sequences "
                             "must be the same as the batch size of the initial state. \n"
                             f"- Expected batch size: {self.batch_size}\n- Received batch size: {batch}")

    def reset_state(self) -> None:
        """Keras' ``layer.reset_state()``: every carried state back to zeros."""
        if self.stateful and self.batch_size is not None:
            from scratchnet import config

            dtype = self.weights[0].value.dtype if self.built and self.weights else config.dtype()
            self.states = [np.zeros((self.batch_size, *shape), dtype=dtype) for shape in self.state_shapes]

    def reset_states(self) -> None:
        """Keras' older name for :meth:`reset_state`."""
        self.reset_state()

    def carried_states(self, batch: int, initial_state):
        """The states a forward pass starts from: ``initial_state`` when given, else (stateful)
        the states the last batch left, else None (zeros)."""
        if not self.stateful:
            return initial_state
        self.meet_batch_size(batch)
        return initial_state if initial_state is not None else self.states


class _Recurrent(_Stateful, _RecurrentWeights):
    """What the three recurrent layers share beyond the cells' arguments and weights
    (:class:`rnn_cells._RecurrentWeights`): the loop over time and its backward. The step formula
    (``cell_step``, ``cell_step_backward``) comes from the cell's mixin, e.g. ``_LSTMStep``."""

    supports_masking = True
    sequence_mask_with_states = True  # called with initial_state, it still reads x's padding mask

    def extra_output_shapes(self) -> list[tuple]:
        """The shapes of the outputs after the first in a graph: the states, ``(units,)`` each,
        with ``return_state=True`` (see ``input_layer._record_outputs``)."""
        return [(self.units,)] * self.n_states if self.return_state else []

    # ------------------------------------------------------------------ calling
    def __call__(self, x, initial_state=None, training: bool = False, mask=None):
        """``layer(x)``, or ``layer(x, initial_state=[h0, c0])``: arrays give arrays (a list
        ``[output, h, (c)]`` with ``return_state=True``); KerasTensors record a graph node.
        ``mask``: which steps are real (``(N, T)`` bool), else the one ``x`` carries."""
        return _call_with_states(self, x, initial_state, training, self.units, lambda: self.kernel,
                                 mask)

    def _state_list(self, initial_state) -> list | None:
        """``initial_state`` as a list of ``n_states`` entries (one array alone is a list of one)."""
        if initial_state is None:
            return None
        states = list(initial_state) if isinstance(initial_state, list | tuple) else [initial_state]
        if len(states) != self.n_states:
            names = "[h, c]" if self.has_carry else "[h]"
            raise ValueError(f'{type(self).__name__} "{self.name}": expected initial_state to be a list '
                             f"of {self.n_states} state(s) {names}, each of shape (batch, "
                             f"{self.units}), received {len(states)}")
        return states

    def __init__(self, units, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, zero_output_for_mask=False, **kwargs):
        super().__init__(units, **kwargs)  # the cell's arguments and their checks
        self._init_stateful(stateful)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.unroll = bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)

    # ------------------------------------------------------------------ weights
    def build(self, input_shape, rng):
        if len(input_shape) != 2:
            raise ValueError(f'{type(self).__name__} "{self.name}": expected inputs of shape (batch, steps, '
                             f"features), received {(None,) + tuple(input_shape)}")
        self.build_weights(input_shape[1], rng)
        for param in self.params.values():  # Keras' variable.path: "lstm/lstm_cell/kernel"
            param.keras_cell = self.KERAS_CELL
        steps = input_shape[0]
        return (steps, self.units) if self.return_sequences else (self.units,)

    # ------------------------------------------------------------------ forward: the loop
    # The step loop's products h @ R (N, U) @ (U, G*U) are small and run T times in a row. Up to
    # this many flops each, BLAS is held at one thread for the loop. Measured with
    # benchmarks/recurrent_blas_threads.py (LSTM(64) on (512, 40, 16), batch 32, so 1.0 Mflop a
    # step; 2-core AMD EPYC, 2026-12-05): idle, fit 3773 / 3760 samples/s (OpenBLAS' threads /
    # one thread) and predict 5334 / 6692; with other work on both cores (load average 7.5), fit
    # 113 / 924 and predict 158 / 1299: OpenBLAS' threads wait on cores that are busy, once per
    # product. One (32, 64) @ (64, 256) product: 11 / 15 us idle, 149 / 16 us under that load.
    # Larger steps (8.4 Mflop: 59 / 104 us idle) keep OpenBLAS' own choice. With this rule and two
    # busy Python processes beside it, fit went from 335 to 1082 samples/s (Keras: 1510).
    STEP_BLAS_ONE_THREAD_FLOPS = 2e6

    def step_blas(self, n: int):
        """The BLAS setting the step loop runs under: one thread for small steps (see above)."""
        if 2 * n * self.units * self.GATES * self.units <= self.STEP_BLAS_ONE_THREAD_FLOPS:
            return blas_on_one_thread()
        return contextlib.nullcontext()

    def forward(self, x, training=False, mask=None, initial_state=None):
        """``x (N, T, C)``; ``initial_state`` a list ``[h0 (N, U)]`` (LSTM: ``[h0, c0]``) or None
        (zeros). Returns the output, or ``[output, h, (c)]`` with ``return_state=True``."""
        if kernels.is_device_array(x):
            raise ValueError(f'{type(self).__name__} "{self.name}": recurrent layers run on the "numpy" and '
                             '"numba" backends; the "cupy" backend has no recurrent kernels yet')
        n, steps, _ = x.shape
        time = slice(None, None, -1) if self.go_backwards else slice(None)
        x = x[:, time]  # (N, T, C) in the order the steps run
        self.step_mask = None if mask is None else np.asarray(mask, dtype=bool)[:, time, None]  # (N, T, 1)
        self.start_sequence(n, x.shape[2], x.dtype, training)  # the dropout masks
        if self.x_keep is not None:
            x = x * self.x_keep[:, None, :]  # the same inputs dropped at every step
        self.x_steps = x
        xw = x @ self.kernel.value  # (N, T, G*U)
        if self.use_bias:
            xw = xw + self.input_bias()
        self.has_initial_state = initial_state is not None  # then backward returns d(initial_state)
        start = self.carried_states(n, initial_state)  # stateful: the last batch's states
        if start is None:
            h = np.zeros((n, self.units), dtype=xw.dtype)
            c = np.zeros_like(h) if self.has_carry else None
        else:
            states = self._state_list(start)
            for s in states:
                if tuple(np.shape(s)) != (n, self.units):
                    raise ValueError(f'{type(self).__name__} "{self.name}": expected each initial '
                                     f"state of shape {(n, self.units)} (batch, units), received "
                                     f"{tuple(np.shape(s))}")
            h = np.asarray(states[0], dtype=xw.dtype)
            c = np.asarray(states[1], dtype=xw.dtype) if self.has_carry else None
        self.caches, outputs = [], np.empty((n, steps, self.units), dtype=xw.dtype)
        self.h_ins = np.empty_like(outputs)  # each step's h_prev as h @ R reads it (dropped)
        out = np.zeros_like(h)  # the output before the first step (Keras' prev_output)
        with self.step_blas(n):  # see step_blas
            for t in range(steps):
                h_in = h if self.h_keep is None else h * self.h_keep
                self.h_ins[:, t] = h_in
                h_new, c_new, cache = self.cell_step(xw[:, t], h, h_in, c)
                if self.step_mask is None:
                    out = h_new
                else:  # a padded step keeps the state it had, and repeats the output before it
                    m = self.step_mask[:, t]
                    out = np.where(m, h_new, out)  # zeros before the first real step, even from h0
                    h_new = np.where(m, h_new, h)
                    c_new = np.where(m, c_new, c) if self.has_carry else None
                self.caches.append(cache)
                h, c = h_new, c_new
                outputs[:, t] = out
        if self.step_mask is not None and self.zero_output_for_mask:
            outputs = np.where(self.step_mask, outputs, 0)  # zeros, even where a state is NaN
        y = outputs if self.return_sequences else out
        states = [h, c] if self.has_carry else [h]  # the states after the last (real) step
        if self.stateful:
            self.states = states  # the next batch starts from them
        return [y, *states] if self.return_state else y

    # ------------------------------------------------------------------ backward: through time
    def backward(self, dy):
        """``dy``: dL/d(output), or with ``return_state=True`` the list ``[dy, dh_T, (dc_T)]``
        (None for an output nothing reads). Returns dL/dx, or ``[dx, dh0, (dc0)]`` when the
        forward pass was given ``initial_state``."""
        n, steps, _ = self.x_steps.shape
        dtype = self.x_steps.dtype
        dh = np.zeros((n, self.units), dtype=dtype)  # dL/dh_t arriving from step t + 1
        dc = np.zeros_like(dh) if self.has_carry else None
        if self.return_state:  # the returned states are h_T and c_T: their gradients start the loop
            dy, *dstates = dy
            if dstates[0] is not None:
                dh = dh + dstates[0]
            if self.has_carry and dstates[1] is not None:
                dc = dc + dstates[1]
        if dy is None:
            dy = np.zeros((n, steps, self.units) if self.return_sequences else (n, self.units), dtype)
        dout = np.zeros_like(dh)  # dL/d(output at step t), carried back across padded steps
        if self.return_sequences:
            zeroed = self.step_mask is not None and self.zero_output_for_mask
            douts = np.where(self.step_mask, dy, 0) if zeroed else dy
        else:
            dout = dout + dy  # the output is the last step's
        dxw = np.empty((n, steps, self.GATES * self.units), dtype=dy.dtype)  # dL/d(x @ K + b)
        drec = np.empty_like(dxw)  # dL/d(h_in @ R), per step
        with self.step_blas(n):  # see step_blas
            for t in reversed(range(steps)):
                if self.return_sequences:
                    dout = dout + douts[:, t]
                cache = self.caches[t]
                if self.step_mask is None:
                    dh, dout = dh + dout, np.zeros_like(dout)
                else:  # a padded step passed h (and c) through unchanged, and its output is the last
                    m = self.step_mask[:, t]
                    dh_kept, dh = np.where(m, 0, dh), np.where(m, dh + dout, 0)
                    dout = np.where(m, 0, dout)  # to the output before: zeros before any real step
                    if self.has_carry:
                        dc_kept, dc = np.where(m, 0, dc), np.where(m, dc, 0)
                dxw[:, t], drec[:, t], dh_prev_direct, dh_in, dc = self.cell_step_backward(dh, dc, cache)
                if self.h_keep is not None:
                    dh_in = dh_in * self.h_keep
                dh = dh_prev_direct + dh_in
                if self.step_mask is not None:
                    dh = dh + dh_kept
                    if self.has_carry:
                        dc = dc + dc_kept
        flat = (n * steps, -1)
        self.kernel.grad = self.x_steps.reshape(flat).T @ dxw.reshape(flat)  # (C, G*U)
        self.recurrent_kernel.grad = self.recurrent_kernel_grad(self.h_ins, drec, self.caches)  # (U, G*U)
        if self.use_bias:
            self.bias.grad = self.bias_grad(dxw, drec)
        dx = None
        if self.compute_input_grad:
            dx = dxw @ self.kernel.value.T  # (N, T, C)
            if self.x_keep is not None:
                dx = dx * self.x_keep[:, None, :]
            dx = dx[:, ::-1] if self.go_backwards else dx
        if not self.has_initial_state:
            return dx
        return [dx, dh, dc] if self.has_carry else [dx, dh]  # dL/dh0 (dL/dc0): what the loop left

    # ------------------------------------------------------------------ Keras' mask and config
    def compute_mask(self, x, mask):
        return mask if self.return_sequences else None

    def keras_weight_groups(self):
        """Keras keeps the weights in the layer's cell: ``cell/vars`` in a .keras file,
        ``lstm/lstm_cell/kernel`` in an .h5 file (see ``saving_keras.weight_groups``)."""
        from scratchnet.saving_keras import _snake_case  # Keras' rule: SimpleRNNCell -> simple_rnn_cell

        cell = _snake_case(f"{type(self).__name__}Cell")  # lstm_cell, gru_cell
        return [("cell/vars", f"{self.name}/{cell}", self.weights)]

    def get_config(self):
        config = {**super().get_config(), "return_sequences": self.return_sequences,
                  "return_state": self.return_state, "go_backwards": self.go_backwards,
                  "stateful": self.stateful, "unroll": self.unroll,
                  "zero_output_for_mask": self.zero_output_for_mask,
                  **regularizer_config(self, "activity_regularizer")}
        if isinstance(self, SimpleRNN):  # (Keras' SimpleRNN.get_config leaves its seed out)
            del config["seed"]
        return config


class SimpleRNN(_SimpleRNNStep, _Recurrent):
    """``keras.layers.SimpleRNN(units, activation="tanh", ...)``: ``h = g(x_t @ K + h_prev @ R + b)``."""

    KERAS_CELL = "simple_rnn_cell"


class LSTM(_LSTMStep, _Recurrent):
    """``keras.layers.LSTM(units, activation="tanh", recurrent_activation="sigmoid",
    unit_forget_bias=True, ...)``: gates i, f, c, o in the kernel's column blocks."""

    KERAS_CELL = "lstm_cell"


class GRU(_GRUStep, _Recurrent):
    """``keras.layers.GRU(units, activation="tanh", recurrent_activation="sigmoid",
    reset_after=True, ...)``: gates z, r, h; with ``reset_after=True`` the bias ``(2, 3U)`` holds
    the input bias and the recurrent one; ``reset_after=False`` (Keras 2's GRU) has one ``(3U,)``
    bias and resets the state before the recurrent product."""

    KERAS_CELL = "gru_cell"


class Bidirectional(Layer):
    """``keras.layers.Bidirectional(layer, merge_mode="concat")``: ``layer`` reads the sequence
    forwards, a copy of it (``go_backwards`` flipped, its own weights) backwards; their outputs
    are joined (``concat`` on the last axis, ``sum``, ``mul`` or ``ave``), or with
    ``merge_mode=None`` returned side by side: ``[y_forward, y_backward]`` (then the states, with
    ``return_state``), as Keras. Returning sequences, the backward copy's output is turned back
    into time order first, so step t of both lines up.
    Weights: the forward layer's, then the backward one's, as Keras lists them."""

    supports_masking = True
    MERGE_MODES = ("concat", "sum", "mul", "ave", None)

    def __init__(self, layer, merge_mode="concat", backward_layer=None, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        layer = _recurrent_layer(layer, self.name)
        backward_layer = None if backward_layer is None else _recurrent_layer(backward_layer, self.name)
        if backward_layer is not None and backward_layer.return_state != layer.return_state:
            raise ValueError(f'Bidirectional "{self.name}": the forward layer and backward_layer need '
                             f"the same return_state, received {layer.return_state} and "
                             f"{backward_layer.return_state}")
        for sub in (layer, backward_layer):
            if sub is not None and sub.activity_regularizer is not None:
                raise ValueError(f'Bidirectional "{self.name}": an activity_regularizer on the wrapped '
                                 f'layer "{sub.name}" is not implemented (Keras penalizes each '
                                 "direction's output); put it on the Bidirectional layer itself")
        if merge_mode not in self.MERGE_MODES:
            raise ValueError(f'Bidirectional "{self.name}": expected merge_mode to be one of '
                             f"{self.MERGE_MODES}, received {merge_mode!r}")
        # Keras makes both from the configuration of the layer given (new objects, new weights):
        # "forward_<name>" as given, "backward_<name>" reading the other way
        config = layer.get_config()
        base = config["name"].removeprefix("forward_")
        self.forward_layer = type(layer).from_config({**config, "name": f"forward_{base}"})
        if backward_layer is None:
            backward_layer = type(layer).from_config({**config, "name": f"backward_{base}",
                                                      "go_backwards": not layer.go_backwards})
        elif backward_layer.go_backwards == layer.go_backwards:
            raise ValueError(f'Bidirectional "{self.name}": the forward layer and backward_layer need '
                             f"different go_backwards values, received {layer.go_backwards} for both")
        self.backward_layer = backward_layer
        self.merge_mode = merge_mode
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self.stateful = layer.stateful
        for sub in (self.forward_layer, self.backward_layer):  # Keras zeroes padded steps' outputs
            sub.zero_output_for_mask = self.return_sequences

    # States in and out, as Keras' Bidirectional: ``return_state=True`` returns
    # ``[output, forward states..., backward states...]`` (LSTM: ``[y, h_f, c_f, h_b, c_b]``), and
    # ``initial_state`` is such a list too, its first half for the forward layer, its second half
    # for the backward one.
    sequence_mask_with_states = True  # called with initial_state, it still reads x's padding mask

    @property
    def n_states(self) -> int:
        """How many states the two layers have together (LSTM: 4; SimpleRNN, GRU: 2)."""
        return 2 * self.forward_layer.n_states

    @property
    def n_outputs(self) -> int:
        """The outputs before the states: 2 with ``merge_mode=None`` (forward, backward), else 1."""
        return 2 if self.merge_mode is None else 1

    def extra_output_shapes(self) -> list[tuple]:
        """The outputs after the first in a graph: the backward output (``merge_mode=None``),
        then with ``return_state=True`` every state, ``(units,)`` each."""
        extra = [self.forward_layer.output_shape] if self.merge_mode is None else []
        return extra + ([(self.forward_layer.units,)] * self.n_states if self.return_state else [])

    def __call__(self, x, initial_state=None, training: bool = False, mask=None):
        """``layer(x)`` or ``layer(x, initial_state=[...])``, on arrays or KerasTensors; ``mask``
        as the recurrent layers'."""
        return _call_with_states(self, x, initial_state, training, self.forward_layer.units,
                                 lambda: self.forward_layer.kernel, mask)

    # stateful=True, as Keras' Bidirectional: each of the two layers carries its own states
    def meet_batch_size(self, batch: int | None) -> None:
        self.forward_layer.meet_batch_size(batch)
        self.backward_layer.meet_batch_size(batch)

    def reset_state(self) -> None:
        if not self.stateful:
            raise AttributeError(f'Bidirectional "{self.name}": Layer must be stateful.')
        self.forward_layer.reset_state()
        self.backward_layer.reset_state()

    reset_states = reset_state

    @property
    def states(self):
        """The forward layer's carried states, then the backward layer's (None before a batch)."""
        if self.forward_layer.states and self.backward_layer.states:
            return tuple(self.forward_layer.states + self.backward_layer.states)
        return None

    def _state_list(self, initial_state) -> list | None:
        """``initial_state`` as a list of ``n_states`` arrays (forward layer's, then backward's)."""
        if initial_state is None:
            return None
        states = list(initial_state) if isinstance(initial_state, list | tuple) else [initial_state]
        if len(states) != self.n_states:
            names = "[h_f, c_f, h_b, c_b]" if self.forward_layer.has_carry else "[h_f, h_b]"
            raise ValueError(f'Bidirectional "{self.name}": expected initial_state to be a list of '
                             f"{self.n_states} states {names} (the forward layer's, then the "
                             f"backward layer's), each of shape (batch, {self.forward_layer.units}), "
                             f"received {len(states)}")
        return states

    def build(self, input_shape, rng):
        forward_shape = self.forward_layer.ensure_built(input_shape, rng)
        self.backward_layer.ensure_built(input_shape, rng)
        for key, sub in (("forward", self.forward_layer), ("backward", self.backward_layer)):
            for name, param in sub.params.items():
                # "bidirectional/forward_lstm/kernel", as Keras' variable paths: unique in a model
                # with two Bidirectional(LSTM) layers, whose inner layers share their names
                param.name = f"{self.name}/{param.name}"
                self.params[f"{key}_{name}"] = param
        if self.merge_mode == "concat":
            return forward_shape[:-1] + (2 * forward_shape[-1],)
        return forward_shape

    def forward(self, x, training=False, mask=None, initial_state=None):
        """``x (N, T, C)``; ``initial_state``: None, or the forward layer's states then the
        backward layer's. Returns the merged output, or with ``return_state=True``
        ``[output, forward states..., backward states...]``."""
        states = self._state_list(initial_state)
        half = self.n_states // 2
        forward_states, backward_states = (None, None) if states is None else (states[:half], states[half:])
        yf = self.forward_layer.forward(x, training=training, mask=mask, initial_state=forward_states)
        yb = self.backward_layer.forward(x, training=training, mask=mask, initial_state=backward_states)
        out_states = []
        if self.return_state:  # each layer returned [y, h, (c)]
            (yf, *states_f), (yb, *states_b) = yf, yb
            out_states = states_f + states_b
        if self.return_sequences:
            yb = yb[:, ::-1]  # back into time order
        self.outputs = (yf, yb)
        if self.merge_mode == "concat":
            y = np.concatenate([yf, yb], axis=-1)
        elif self.merge_mode == "sum":
            y = yf + yb
        elif self.merge_mode == "mul":
            y = yf * yb
        elif self.merge_mode == "ave":
            y = (yf + yb) / 2
        else:  # None: both, as a list
            return [yf, yb, *out_states]
        return [y, *out_states] if self.return_state else y

    def backward(self, dy):
        """``dy``: dL/d(output), or with ``return_state=True`` the list ``[dy, d states...]``
        (None for one nothing reads). Returns dL/dx, or ``[dx, d initial states...]`` when the
        forward pass was given ``initial_state``."""
        yf, yb = self.outputs
        half = self.n_states // 2
        dstates_f, dstates_b = [], []
        if self.merge_mode is None:  # [dyf, dyb, d states...]
            dyf, dyb, *dstates = dy
            dyf = np.zeros_like(yf) if dyf is None else dyf
            dyb = np.zeros_like(yb) if dyb is None else dyb
            dstates_f, dstates_b = dstates[:half], dstates[half:]
        elif self.return_state:
            dy, *dstates = dy
            dstates_f, dstates_b = dstates[:half], dstates[half:]
            if dy is None:
                shape = yf.shape[:-1] + (yf.shape[-1] * (2 if self.merge_mode == "concat" else 1),)
                dy = np.zeros(shape, dtype=yf.dtype)
        if self.merge_mode is None:
            pass  # each output's own gradient
        elif self.merge_mode == "concat":
            dyf, dyb = dy[..., :yf.shape[-1]], dy[..., yf.shape[-1]:]
        elif self.merge_mode == "sum":
            dyf = dyb = dy
        elif self.merge_mode == "mul":
            dyf, dyb = dy * yb, dy * yf
        else:
            dyf = dyb = dy / 2
        if self.return_sequences:
            dyb = dyb[:, ::-1]
        for sub in (self.forward_layer, self.backward_layer):
            sub.compute_input_grad = self.compute_input_grad
        dxf = self.forward_layer.backward([dyf, *dstates_f] if self.return_state else dyf)
        dxb = self.backward_layer.backward([dyb, *dstates_b] if self.return_state else dyb)
        if not self.forward_layer.has_initial_state:
            return None if dxf is None else dxf + dxb
        (dxf, *dinit_f), (dxb, *dinit_b) = dxf, dxb  # each [dx, dh0, (dc0)]
        return [None if dxf is None else dxf + dxb, *dinit_f, *dinit_b]

    def compute_mask(self, x, mask):
        return mask if self.return_sequences else None

    def keras_weight_groups(self):
        """Each of the two layers' groups, under ``forward_layer/``, ``backward_layer/`` (.keras) and
        this layer's name (.h5)."""
        sides = (("forward_layer", self.forward_layer), ("backward_layer", self.backward_layer))
        return [(f"{side}/{group}", f"{self.name}/{prefix}", params)
                for side, sub in sides for group, prefix, params in sub.keras_weight_groups()]

    def get_config(self):
        """Keras' ``Bidirectional.get_config``: each of the two layers as a Keras layer spec of its
        own (``serialize_keras_object``'s)."""
        from scratchnet.saving_keras import _layer_config

        return {**super().get_config(), "merge_mode": self.merge_mode,
                "layer": _layer_config(self.forward_layer),
                "backward_layer": _layer_config(self.backward_layer)}


def _recurrent_layer(layer, where: str):
    """A recurrent layer; a saved ``{"class_name", "config"}`` is made into one."""
    if isinstance(layer, _Recurrent):
        return layer
    if isinstance(layer, dict) and layer.get("class_name") in RECURRENT_LAYERS:
        return RECURRENT_LAYERS[layer["class_name"]].from_config(layer.get("config", {}))
    raise ValueError(f'Bidirectional "{where}": expected a recurrent layer (SimpleRNN, LSTM, GRU), '
                     f"received {layer!r}")


RECURRENT_LAYERS = {cls.__name__: cls for cls in (SimpleRNN, LSTM, GRU)}
