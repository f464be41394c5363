"""Keras' recurrent cells: ``SimpleRNNCell``, ``LSTMCell``, ``GRUCell`` and ``StackedRNNCells``.

A cell is one time step of a recurrent layer: ``output, new_states = cell(x_t, states)``, with
``x_t (N, C)`` and each state ``(N, U)``. ``keras.layers.RNN(cell)`` (``scratchnet/layers/rnn.py``)
runs it over a sequence; ``LSTM(n)`` is ``RNN(LSTMCell(n))`` with the loop written out for speed
(``scratchnet/layers/recurrent.py``), and both call the SAME step formula, defined here once per
cell, with ``U = units``, ``s`` the recurrent activation (sigmoid) and ``g`` the activation (tanh)::

    SimpleRNNCell   h = g(x @ K + b + h_prev @ R)                               states [h]
    LSTMCell        z = x @ K + b + h_prev @ R       (gates i, f, c, o)          states [h, c]
                    c = s(z_f) * c_prev + s(z_i) * g(z_c);  h = s(z_o) * g(c)
    GRUCell         xw = x @ K + b_in;  hr = h_prev @ R + b_rec   (gates z, r, h)   states [h]
                    z = s(xw_z + hr_z); r = s(xw_r + hr_r); hh = g(xw_h + r * hr_h)
                    h = z * h_prev + (1 - z) * hh
                    reset_after=False: no b_rec; hh = g(xw_h + (r * h_prev) @ R_h)

Each cell writes its step in two parts, which both loops share:

- ``cell_step(xw_t, h_prev, h_in, c_prev) -> (h, c, cache)``: the recurrent part, given the input
  part ``xw_t = x_t @ K + b`` (the layers compute it for every step in one product) and ``h_in``,
  ``h_prev`` after recurrent dropout;
- ``cell_step_backward(dh, dc, cache) -> (dL/dxw, dL/d(h_in @ R), dL/dh_prev not through h_in,
  dL/dh_in, dL/dc_prev)``.

Around them, the step protocol ``RNN`` runs (every cell, a user's cell included, offers it):
``forward_step(x_t, states, training) -> (output, new_states, cache)`` and ``backward_step(d_output,
d_new_states, cache) -> (dx_t, d_states)``, which adds the step's weight gradients to each
``param.grad`` (``zero_grads`` first, once a sequence).

Dropout as Keras' cells: one mask for the inputs and one for the recurrent state, drawn at the
first step of a sequence in training and kept for every step (``start_sequence``); scaled by
``1 / (1 - rate)``.
"""

from __future__ import annotations

import numbers

import numpy as np

from scratchnet import activations, regularizers
from scratchnet.layers.base import (
    Layer,
    constraint_config,
    initializer_config,
    regularizer_config,
    weight_args,
)


class _RecurrentWeights(Layer):
    """What every recurrent cell and layer shares, written once: Keras' arguments and their
    checks, the weights ``kernel (C, G*U)``, ``recurrent_kernel (U, G*U)`` and ``bias`` (``G``
    gates in the kernel's column blocks), the dropout masks a sequence keeps, and the config.
    The cells below and the layers of ``scratchnet/layers/recurrent.py`` build on it; the gate
    formulas come from the ``_SimpleRNNStep``, ``_LSTMStep`` and ``_GRUStep`` mixins, so that
    ``LSTMCell`` and ``LSTM`` run the same function."""

    GATES = 1
    has_carry = False  # LSTM: a second state, c

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None,
                 name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        where = f'{type(self).__name__} "{self.name}"'
        if isinstance(units, bool) or not isinstance(units, numbers.Integral) or units < 1:
            raise ValueError(f"{where}: expected units to be a positive integer, received {units!r}")
        for arg, rate in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 <= rate < 1:
                raise ValueError(f"{where}: expected {arg} to be a float in [0, 1), received {rate!r}")
        self.units = int(units)
        self.activation = activations.get(activation, where=f"{where}: activation")
        self.recurrent_activation = activations.get(recurrent_activation,
                                                    where=f"{where}: recurrent_activation")
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.recurrent_initializer = recurrent_initializer
        self.bias_initializer = bias_initializer
        self.kernel_regularizer = regularizers.get(kernel_regularizer, f"{where}: kernel_regularizer")
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer,
                                                      f"{where}: recurrent_regularizer")
        self.bias_regularizer = regularizers.get(bias_regularizer, f"{where}: bias_regularizer")
        weight_args(self, where, kernel_constraint=kernel_constraint,
                    recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint)
        self.dropout, self.recurrent_dropout = float(dropout), float(recurrent_dropout)
        self.seed = seed
        self.rng: np.random.Generator | None = None
        self.x_keep = self.h_keep = None

    @property
    def n_states(self) -> int:
        return 2 if self.has_carry else 1

    # ------------------------------------------------------------------ weights
    def build_weights(self, features: int, rng, window: tuple = ()) -> None:
        """``kernel (*window, features, G*U)``, ``recurrent_kernel (*window, U, G*U)`` (``window``:
        a ConvLSTM's kernel size, empty for the dense cells) and ``bias``; an LSTM's forget-gate
        quarter of the bias starts at 1 with ``unit_forget_bias``."""
        width = self.GATES * self.units
        self.kernel = self.add_weight("kernel", (*window, features, width), self.kernel_initializer, rng,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (*window, self.units, width),
                                                self.recurrent_initializer, rng,
                                                regularizer=self.recurrent_regularizer,
                                                constraint=self.recurrent_constraint)
        self.bias = self.add_weight("bias", self.bias_shape(), self.bias_initializer, rng,
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint) if self.use_bias else None
        if self.use_bias and self.has_carry and self.unit_forget_bias:
            u = self.units
            self.bias.value[..., u:2 * u] = 1  # the forget gate starts open: remember by default
        self.rng = self.random_generator(rng)

    def bias_shape(self) -> tuple:
        return (self.GATES * self.units,)

    def input_bias(self):
        """The bias added to ``x @ kernel`` (GRU keeps a second one for the recurrent part)."""
        return self.bias.value

    def bias_grad(self, dxw, drec):
        """dL/d(bias) from dL/d(x @ K + b) (any leading axes: steps, batch)."""
        return dxw.reshape(-1, dxw.shape[-1]).sum(axis=0)

    def recurrent_kernel_grad(self, h_in, drec, caches):
        """dL/dR from what ``R`` multiplied and dL/d(the product), summed over every row and step:
        ``h_in (..., U)`` and ``drec (..., G*U)`` with the same leading axes; ``caches``: the
        steps' caches in the same order (``GRU(reset_after=False)`` reads its ``r * h`` there)."""
        return h_in.reshape(-1, h_in.shape[-1]).T @ drec.reshape(-1, drec.shape[-1])  # (U, G*U)

    # ------------------------------------------------------------------ dropout
    def start_sequence(self, batch: int, features: int, dtype, training: bool) -> None:
        """A new sequence: draw the dropout masks its steps share (none in inference)."""
        self.x_keep = self._dropout_mask((batch, features), self.dropout, training, dtype)
        self.h_keep = self._dropout_mask((batch, self.units), self.recurrent_dropout, training, dtype)

    def _dropout_mask(self, shape, rate, training, dtype):
        """Keep (1 / (1 - rate)) or drop (0) each entry: one mask, kept for every step."""
        if not training or rate == 0:
            return None
        if self.rng is None:
            self.rng = np.random.default_rng(self.seed)
        keep = self.rng.random(shape) >= rate
        return keep * np.dtype(dtype).type(1 / (1 - rate))

    # ------------------------------------------------------------------ config
    def get_config(self):
        config = {**super().get_config(), "units": self.units, "activation": self.activation.name,
                  "use_bias": self.use_bias,
                  "kernel_initializer": initializer_config(self.kernel_initializer),
                  "recurrent_initializer": initializer_config(self.recurrent_initializer),
                  "bias_initializer": initializer_config(self.bias_initializer),
                  **regularizer_config(self, "kernel_regularizer", "recurrent_regularizer",
                                       "bias_regularizer"),
                  **constraint_config(self, "kernel_constraint", "recurrent_constraint",
                                      "bias_constraint"),
                  "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout, "seed": self.seed}
        if self.GATES > 1:
            config["recurrent_activation"] = self.recurrent_activation.name
        return config


class _Cell(_RecurrentWeights):
    """What the three cells share beyond :class:`_RecurrentWeights`: Keras' sizes, the step
    protocol and ``cell(x_t, states)``."""

    # ------------------------------------------------------------------ Keras' sizes
    @property
    def state_size(self):
        """Keras' ``state_size``: ``units`` (SimpleRNNCell, GRUCell) or ``[units, units]`` (LSTMCell)."""
        return [self.units, self.units] if self.has_carry else self.units

    @property
    def output_size(self) -> int:
        return self.units

    @property
    def state_sizes(self) -> list[int]:
        """The states as a flat list of sizes (what ``RNN`` loops over)."""
        return [self.units] * (2 if self.has_carry else 1)

    def get_initial_state(self, batch_size=None) -> list[np.ndarray]:
        """Keras' zeros, one ``(batch_size, units)`` array a state."""
        from scratchnet import config

        return [np.zeros((batch_size, size), dtype=config.dtype()) for size in self.state_sizes]

    def build(self, input_shape, rng):
        """``input_shape``: ``(features,)`` (Keras' ``(batch, features)`` works too: the last axis)."""
        self.build_weights(input_shape[-1], rng)
        return (self.units,)

    # ------------------------------------------------------------------ the step protocol
    def zero_grads(self) -> None:
        for param in self.params.values():
            param.grad = np.zeros_like(param.value)

    def forward_step(self, x_t, states, training=False):
        """``x_t (N, C)``, ``states`` a list ``[h]`` (LSTM ``[h, c]``): ``(h, new states, cache)``."""
        if self.x_keep is not None:
            x_t = x_t * self.x_keep
        xw = x_t @ self.kernel.value  # (N, G*U)
        if self.use_bias:
            xw = xw + self.input_bias()
        h_prev = states[0]
        c_prev = states[1] if self.has_carry else None
        h_in = h_prev if self.h_keep is None else h_prev * self.h_keep
        h, c, cache = self.cell_step(xw, h_prev, h_in, c_prev)
        return h, ([h, c] if self.has_carry else [h]), (x_t, h_in, cache)

    def backward_step(self, d_output, d_states, cache):
        """dL/d(output) and dL/d(each new state) in; dL/dx_t and dL/d(each state before) out.
        Adds this step's share to ``kernel.grad``, ``recurrent_kernel.grad``, ``bias.grad``."""
        x_t, h_in, inner = cache
        dh = d_output + d_states[0]  # the output is h: both reach it
        dc = d_states[1] if self.has_carry else None
        dxw, drec, dh_direct, dh_in, dc_prev = self.cell_step_backward(dh, dc, inner)
        self.kernel.grad += x_t.T @ dxw  # (C, G*U)
        self.recurrent_kernel.grad += self.recurrent_kernel_grad(h_in, drec, [inner])  # (U, G*U)
        if self.use_bias:
            self.bias.grad += self.bias_grad(dxw, drec)
        if self.h_keep is not None:
            dh_in = dh_in * self.h_keep
        dx = dxw @ self.kernel.value.T  # (N, C)
        if self.x_keep is not None:
            dx = dx * self.x_keep
        dh_prev = dh_direct + dh_in
        return dx, ([dh_prev, dc_prev] if self.has_carry else [dh_prev])

    # ------------------------------------------------------------------ cell(x_t, states)
    def __call__(self, inputs, states=None, training: bool = False):
        """``cell(x_t, states)`` on arrays, as Keras': ``(output, new_states)``; LSTMCell's new
        states are ``[h, c]``; the others' are ``[h]`` when ``states`` is a list, else ``h``."""
        from scratchnet import config
        from scratchnet.layers.input_layer import is_symbolic

        where = f'{type(self).__name__} "{self.name}"'
        if is_symbolic(inputs):
            raise ValueError(f"{where}: a cell runs one step on arrays; to run it over a sequence "
                             "in a model, wrap it: keras.layers.RNN(cell)")
        x = np.asarray(inputs)
        if x.ndim != 2:
            raise ValueError(f"{where}: expected inputs of shape (batch, features), received {x.shape}")
        if not self.built:
            self.ensure_built(x.shape[1:])
        if x.shape[1] != self.kernel.value.shape[0]:
            raise ValueError(f"{where}: expected inputs of shape (batch, {self.kernel.value.shape[0]}), "
                             f"received {x.shape}")
        x = x.astype(self.kernel.value.dtype if self.built else config.dtype(), copy=False)
        was_list = isinstance(states, list | tuple)
        state_list = self.get_initial_state(len(x)) if states is None else \
            (list(states) if was_list else [states])
        if len(state_list) != len(self.state_sizes):
            raise ValueError(f"{where}: expected {len(self.state_sizes)} state(s), received "
                             f"{len(state_list)}")
        state_list = [np.asarray(s, dtype=x.dtype) for s in state_list]
        for s in state_list:
            if s.shape != (len(x), self.units):
                raise ValueError(f"{where}: expected each state of shape {(len(x), self.units)} "
                                 f"(batch, units), received {s.shape}")
        self.start_sequence(len(x), x.shape[1], x.dtype, training)
        output, new_states, _ = self.forward_step(x, state_list, training)
        if not self.has_carry and not was_list and states is not None:
            new_states = new_states[0]
        return output, new_states


# ---------------------------------------------------------------------------- the step formulas
# One mixin a kind of cell: its gates, its bias layout and its step formula with the step's
# backward. ``SimpleRNNCell(_SimpleRNNStep, _Cell)`` runs it one step at a time, and
# ``SimpleRNN(_SimpleRNNStep, _Recurrent)`` (scratchnet/layers/recurrent.py) runs the same
# methods inside its loop over time.
class _SimpleRNNStep:
    """``h = g(xw_t + h_in @ R)``: one gate, state ``[h]``."""

    def __init__(self, units, activation="tanh", **kwargs):
        super().__init__(units, activation=activation, **kwargs)

    def cell_step(self, xw_t, h_prev, h_in, c_prev):
        z = xw_t + h_in @ self.recurrent_kernel.value
        h = self.activation.forward(z)
        return h, None, (z, h)

    def cell_step_backward(self, dh, dc, cache):
        z, h = cache
        dz = self.activation.backward(z, h, dh)
        # dL/dxw, dL/d(h_in @ R), dL/dh_prev other than through h_in (none), dL/dh_in, dL/dc_prev
        return dz, dz, 0, dz @ self.recurrent_kernel.value.T, None

    def get_config(self):
        config = super().get_config()
        config.pop("recurrent_activation", None)
        return config


class _LSTMStep:
    """Gates i, f, c, o in the kernel's column blocks; states ``[h, c]``. ``unit_forget_bias``
    starts the forget gate's bias at 1 (``_RecurrentWeights.build_weights``)."""

    GATES = 4
    has_carry = True

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", unit_forget_bias=True,
                 **kwargs):
        kwargs.pop("implementation", None)  # Keras' choice of loop (1 or 2): the same numbers
        super().__init__(units, activation=activation, recurrent_activation=recurrent_activation, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    def cell_step(self, xw_t, h_prev, h_in, c_prev):
        z = xw_t + h_in @ self.recurrent_kernel.value  # (N, 4U)
        return lstm_gates(self, z, c_prev)

    def cell_step_backward(self, dh, dc, cache):
        dz, dc_prev = lstm_gates_backward(self, dh, dc, cache)
        return dz, dz, 0, dz @ self.recurrent_kernel.value.T, dc_prev

    def get_config(self):
        config = super().get_config()
        keys = list(config)  # Keras' order: unit_forget_bias after use_bias
        config["unit_forget_bias"] = self.unit_forget_bias
        at = keys.index("use_bias") + 1
        return {k: config[k] for k in keys[:at] + ["unit_forget_bias"] + keys[at:]}


def lstm_gates(cell, z, c_prev):
    """The LSTM's gates from ``z = x-part + h-part`` (gates i, f, c, o in blocks of ``cell.units``
    along the last axis: ``(N, 4U)``, or ``(N, H, W, 4F)`` for ConvLSTM): ``(h, c, cache)``."""
    u = cell.units
    s, g = cell.recurrent_activation, cell.activation
    i, f, o = s.forward(z[..., :u]), s.forward(z[..., u:2 * u]), s.forward(z[..., 3 * u:])
    candidate = g.forward(z[..., 2 * u:3 * u])
    c = f * c_prev + i * candidate
    gc = g.forward(c)
    return o * gc, c, (z, i, f, candidate, o, c_prev, c, gc)


def lstm_gates_backward(cell, dh, dc, cache):
    """dL/dz and dL/dc_prev from dL/dh and dL/dc (what reaches c from the next step)."""
    u = cell.units
    z, i, f, candidate, o, c_prev, c, gc = cache
    s, g = cell.recurrent_activation, cell.activation
    dc = dc + g.backward(c, gc, dh * o)  # c reaches the loss through h = o * g(c) and c_next
    dz = np.empty_like(z)
    dz[..., :u] = s.backward(z[..., :u], i, dc * candidate)
    dz[..., u:2 * u] = s.backward(z[..., u:2 * u], f, dc * c_prev)
    dz[..., 2 * u:3 * u] = g.backward(z[..., 2 * u:3 * u], candidate, dc * i)
    dz[..., 3 * u:] = s.backward(z[..., 3 * u:], o, dh * gc)
    return dz, dc * f


class _GRUStep:
    """Gates z (update), r (reset), h (candidate). Two forms, as Keras':

    - ``reset_after=True`` (Keras 3's default, cuDNN's): the bias ``(2, 3U)`` holds an input bias
      and a recurrent one, and the reset gate multiplies the recurrent product:
      ``hh = g(xw_h + r * (h_in @ R_h + b_rec_h))``;
    - ``reset_after=False`` (Keras 2's default, the original GRU): one bias ``(3U,)``, and the reset
      gate multiplies the state before the product: ``hh = g(xw_h + (r * h_in) @ R_h)``.

    Both: ``z = s(xw_z + h_in @ R_z (+ b_rec_z))``, ``r = s(xw_r + h_in @ R_r (+ b_rec_r))``,
    ``h = z * h_prev + (1 - z) * hh``."""

    GATES = 3

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", reset_after=True,
                 **kwargs):
        kwargs.pop("implementation", None)
        super().__init__(units, activation=activation, recurrent_activation=recurrent_activation, **kwargs)
        self.reset_after = bool(reset_after)

    def bias_shape(self):
        return (2, self.GATES * self.units) if self.reset_after else (self.GATES * self.units,)

    def input_bias(self):
        return self.bias.value[0] if self.reset_after else self.bias.value

    def bias_grad(self, dxw, drec):
        width = dxw.shape[-1]
        if not self.reset_after:
            return dxw.reshape(-1, width).sum(axis=0)
        return np.stack([dxw.reshape(-1, width).sum(axis=0), drec.reshape(-1, width).sum(axis=0)])

    def cell_step(self, xw_t, h_prev, h_in, c_prev):
        if not self.reset_after:
            return self._reset_before_step(xw_t, h_prev, h_in)
        u = self.units
        hr = h_in @ self.recurrent_kernel.value  # (N, 3U)
        if self.use_bias:
            hr = hr + self.bias.value[1]
        s, g = self.recurrent_activation, self.activation
        pre_z, pre_r = xw_t[:, :u] + hr[:, :u], xw_t[:, u:2 * u] + hr[:, u:2 * u]
        z, r = s.forward(pre_z), s.forward(pre_r)
        pre_h = xw_t[:, 2 * u:] + r * hr[:, 2 * u:]
        hh = g.forward(pre_h)
        return z * h_prev + (1 - z) * hh, None, (h_prev, hr, pre_z, z, pre_r, r, pre_h, hh)

    def cell_step_backward(self, dh, dc, cache):
        if not self.reset_after:
            return self._reset_before_backward(dh, cache)
        u = self.units
        h_prev, hr, pre_z, z, pre_r, r, pre_h, hh = cache
        s, g = self.recurrent_activation, self.activation
        dpre_h = g.backward(pre_h, hh, dh * (1 - z))
        dpre_z = s.backward(pre_z, z, dh * (h_prev - hh))
        dpre_r = s.backward(pre_r, r, dpre_h * hr[:, 2 * u:])
        dxw = np.concatenate([dpre_z, dpre_r, dpre_h], axis=1)
        dhr = np.concatenate([dpre_z, dpre_r, dpre_h * r], axis=1)
        return dxw, dhr, dh * z, dhr @ self.recurrent_kernel.value.T, None

    # ------------------------------------------------------------------ reset_after=False
    def _reset_before_step(self, xw_t, h_prev, h_in):
        u, rk = self.units, self.recurrent_kernel.value
        s, g = self.recurrent_activation, self.activation
        hzr = h_in @ rk[:, :2 * u]  # (N, 2U): the update and reset gates' recurrent part
        pre_z, pre_r = xw_t[:, :u] + hzr[:, :u], xw_t[:, u:2 * u] + hzr[:, u:]
        z, r = s.forward(pre_z), s.forward(pre_r)
        rh = r * h_in  # the reset gate before the product
        pre_h = xw_t[:, 2 * u:] + rh @ rk[:, 2 * u:]
        hh = g.forward(pre_h)
        return z * h_prev + (1 - z) * hh, None, (h_prev, h_in, pre_z, z, pre_r, r, pre_h, hh, rh)

    def _reset_before_backward(self, dh, cache):
        u, rk = self.units, self.recurrent_kernel.value
        h_prev, h_in, pre_z, z, pre_r, r, pre_h, hh, rh = cache
        s, g = self.recurrent_activation, self.activation
        dpre_h = g.backward(pre_h, hh, dh * (1 - z))
        dpre_z = s.backward(pre_z, z, dh * (h_prev - hh))
        drh = dpre_h @ rk[:, 2 * u:].T  # dL/d(r * h_in)
        dpre_r = s.backward(pre_r, r, drh * h_in)
        dzr = np.concatenate([dpre_z, dpre_r], axis=1)
        dxw = np.concatenate([dzr, dpre_h], axis=1)
        dh_in = dzr @ rk[:, :2 * u].T + drh * r
        # dxw doubles as dL/d(recurrent products): R_z, R_r read h_in, R_h reads r * h_in
        return dxw, dxw, dh * z, dh_in, None

    def recurrent_kernel_grad(self, h_in, drec, caches):
        if self.reset_after:
            return super().recurrent_kernel_grad(h_in, drec, caches)
        u = self.units
        rh = np.stack([cache[-1] for cache in caches], axis=1)  # (N, steps, U), as h_in's rows
        flat_h, flat_rh = h_in.reshape(-1, u), rh.reshape(-1, u)
        drec = drec.reshape(-1, drec.shape[-1])
        return np.concatenate([flat_h.T @ drec[:, :2 * u], flat_rh.T @ drec[:, 2 * u:]], axis=1)  # (U, 3U)

    def get_config(self):
        return {**super().get_config(), "reset_after": self.reset_after}


class SimpleRNNCell(_SimpleRNNStep, _Cell):
    """``keras.layers.SimpleRNNCell(units, activation="tanh", ...)``: ``h = g(x @ K + b + h_prev @ R)``."""


class LSTMCell(_LSTMStep, _Cell):
    """``keras.layers.LSTMCell(units, activation="tanh", recurrent_activation="sigmoid",
    unit_forget_bias=True, ...)``: gates i, f, c, o in the kernel's column blocks; states [h, c].
    ``unit_forget_bias`` starts the forget gate's bias at 1."""


class GRUCell(_GRUStep, _Cell):
    """``keras.layers.GRUCell(units, activation="tanh", recurrent_activation="sigmoid",
    reset_after=True, ...)``: gates z, r, h; with ``reset_after=True`` the bias ``(2, 3U)`` holds
    the input bias and the recurrent one, with ``reset_after=False`` it is ``(3U,)``."""


BUILTIN_CELLS = {cls.__name__: cls for cls in (SimpleRNNCell, LSTMCell, GRUCell)}


# ---------------------------------------------------------------------------- a user's cell
class TapeCell:
    """A user's cell (a ``Layer`` subclass with ``state_size`` and ``call(inputs, states)``, as
    the ``MinimalRNNCell`` of Keras' RNN docstring), given the step protocol by the gradient tape
    (:mod:`scratchnet.autodiff`): each step runs ``call`` on traced arrays (the input, the states
    and the cell's weights), and its backward reads that step's tape backwards. ``call`` may use
    NumPy and ``sn.ops`` on its arguments and weights (``ops.matmul(inputs, self.kernel)``).

    The cell itself keeps its weights (``cell.params``), its name and its config; this object
    only runs it. Keras' ``state_size`` may be an int or a list of ints; ``output_size``, when
    the cell has none, is the first state's size (Keras' rule)."""

    def __init__(self, cell: Layer, where: str):
        sizes = cell.state_size if isinstance(cell.state_size, list | tuple) else [cell.state_size]
        for size in sizes:
            if isinstance(size, bool) or not isinstance(size, numbers.Integral):
                raise ValueError(f'{where}: the cell "{cell.name}" ({type(cell).__name__}) has '
                                 f"state_size={cell.state_size!r}; scratchnet's RNN takes an int or "
                                 "a list of ints (one size a state, each state (batch, size))")
        self.cell = cell
        self.state_sizes = [int(s) for s in sizes]
        self.states_as_list = isinstance(cell.state_size, list | tuple)
        self.output_size = int(getattr(cell, "output_size", None) or self.state_sizes[0])
        self.where = f'{where}: cell "{cell.name}" ({type(cell).__name__})'

    params = property(lambda self: self.cell.params)

    def ensure_built(self, input_shape, rng):
        self.cell.ensure_built(tuple(input_shape), rng)
        return (self.output_size,)

    def start_sequence(self, batch, features, dtype, training) -> None:
        pass  # a user's cell draws its own dropout, if any

    def zero_grads(self) -> None:
        for param in self.cell.params.values():
            param.grad = np.zeros_like(param.value)

    def forward_step(self, x_t, states, training=False):
        """Runs ``cell.call(x_t, states)`` on traced arrays; the weights are traced too, put in
        the cell's attributes for the call and given back after it."""
        from scratchnet.autodiff import Tape
        from scratchnet.subclassing import call_takes

        tape = Tape(self.where)
        x = tape.watch(x_t)
        traced_states = [tape.watch(s) for s in states]
        held = {name: value for name, value in vars(self.cell).items()
                if any(value is p for p in self.cell.params.values())}  # attribute -> Parameter
        traced_weights = {name: tape.watch(param.value) for name, param in held.items()}
        kwargs = {"training": training} if call_takes(self.cell, "training") else {}
        try:
            vars(self.cell).update(traced_weights)
            output, new_states = self.cell.call(x, traced_states, **kwargs)  # Keras: a list
        finally:
            vars(self.cell).update(held)
        new_states = list(new_states) if isinstance(new_states, list | tuple) else [new_states]
        if len(new_states) != len(states):
            raise ValueError(f"{self.where}: call returned {len(new_states)} new state(s), its "
                             f"state_size declares {len(states)}")
        cache = (tape, x, traced_states, held, traced_weights, output, new_states)
        return _plain(output), [_plain(s) for s in new_states], cache

    def backward_step(self, d_output, d_states, cache):
        tape, x, traced_states, held, traced_weights, output, new_states = cache
        names = list(held)
        seeds = [(output, d_output)] + list(zip(new_states, d_states, strict=True))
        grads = tape.gradients(seeds, [x, *traced_states, *(traced_weights[n] for n in names)])
        dx, d_prev = grads[0], grads[1:1 + len(traced_states)]
        for name, g in zip(names, grads[1 + len(traced_states):], strict=True):
            held[name].grad += g
        return dx, d_prev


def _plain(value):
    from scratchnet.autodiff import Traced

    return value.value if isinstance(value, Traced) else np.asarray(value)


def step_cell(cell, where: str):
    """``cell`` with the step protocol: a scratchnet cell (or StackedRNNCells) as it is, a
    user's cell run by the tape (:class:`TapeCell`)."""
    if hasattr(cell, "forward_step"):
        return cell
    if not isinstance(cell, Layer) or not hasattr(cell, "call") or not hasattr(cell, "state_size"):
        raise ValueError(f"{where}: expected a cell (a layer with state_size and call(inputs, "
                         f"states)) or a list of cells, received {cell!r}")
    return TapeCell(cell, where)


def cell_from_config(spec, where: str, custom_objects: dict | None = None):
    """A cell; a saved ``{"class_name", "config"}`` is made into one (a user's cell from
    ``custom_objects``, by class name or Keras' registered name ``"Custom>Name"``)."""
    if isinstance(spec, Layer):
        return spec
    if isinstance(spec, dict) and "class_name" in spec:
        name = spec["class_name"]
        known = {**BUILTIN_CELLS, "StackedRNNCells": StackedRNNCells, **(custom_objects or {})}
        registered = spec.get("registered_name") or ""
        cls = known.get(name) or (custom_objects or {}).get(registered)
        if cls is None:
            raise ValueError(f"{where}: cell class {name!r} is not known to scratchnet; known: "
                             f"{sorted(known)} (pass custom_objects={{'{name}': Class}})")
        config = dict(spec.get("config", {}))
        for key in ("dtype", "trainable"):
            config.pop(key, None)
        if cls is StackedRNNCells:
            config["cells"] = [cell_from_config(c, where, custom_objects) for c in config["cells"]]
        for key in [k for k in config if k.endswith("_initializer")]:
            from scratchnet.saving_keras import _initializer_from_keras

            config[key] = _initializer_from_keras(config[key], f"{where}: {key}")
        return cls.from_config(config) if hasattr(cls, "from_config") else cls(**config)
    return spec


class StackedRNNCells(Layer):
    """``keras.layers.StackedRNNCells(cells)``: the cells one after another within each step,
    each reading the output of the one before (``RNN([cell_1, cell_2])`` makes one). Its states
    are every cell's, in order; its output the last cell's. Weights: each cell's, in order, named
    ``rnn/stacked_rnn_cells/<cell>/kernel`` as Keras names them."""

    def __init__(self, cells, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        where = f'StackedRNNCells "{self.name}"'
        if not isinstance(cells, list | tuple) or not cells:
            raise ValueError(f"{where}: expected a non-empty list of cells, received {cells!r}")
        self.cells = [cell_from_config(c, where) for c in cells]
        used: dict[str, int] = {}
        for cell in self.cells:  # unique weight names: lstm_cell, lstm_cell_1 (as Keras' counter)
            if cell.name in used and not cell.built:
                used[cell.name] += 1
                cell.name = f"{cell.name}_{used[cell.name]}"
            used.setdefault(cell.name, 0)
        self.step_cells = [step_cell(c, where) for c in self.cells]

    @property
    def state_size(self) -> list:
        return [cell.state_size for cell in self.cells]

    @property
    def state_sizes(self) -> list[int]:
        return [size for cell in self.step_cells for size in cell.state_sizes]

    @property
    def output_size(self) -> int:
        return self.step_cells[-1].output_size

    def build(self, input_shape, rng):
        shape = tuple(input_shape)
        for key, cell in zip(_unique_keys(self.cells), self.step_cells, strict=True):
            shape = (cell.ensure_built(shape, rng)[-1],)
            for name, param in cell.params.items():
                param.name = f"{self.name}/{param.name}"  # stacked_rnn_cells/lstm_cell/kernel
                self.params[f"{key}/{name}"] = param
        return (self.output_size,)

    def start_sequence(self, batch, features, dtype, training) -> None:
        for cell in self.step_cells:
            cell.start_sequence(batch, features, dtype, training)
            features = cell.output_size

    def zero_grads(self) -> None:
        for cell in self.step_cells:
            cell.zero_grads()

    def _split(self, states) -> list[list]:
        """The flat list of states, one list a cell."""
        out, at = [], 0
        for cell in self.step_cells:
            out.append(list(states[at:at + len(cell.state_sizes)]))
            at += len(cell.state_sizes)
        return out

    def forward_step(self, x_t, states, training=False):
        new_states, caches = [], []
        for cell, cell_states in zip(self.step_cells, self._split(states), strict=True):
            x_t, cell_new, cache = cell.forward_step(x_t, cell_states, training)
            new_states += cell_new
            caches.append(cache)
        return x_t, new_states, caches

    def backward_step(self, d_output, d_states, cache):
        d_prev_all = []
        for cell, cell_d, cell_cache in reversed(list(zip(self.step_cells, self._split(d_states), cache,
                                                          strict=True))):
            d_output, d_prev = cell.backward_step(d_output, cell_d, cell_cache)
            d_prev_all = list(d_prev) + d_prev_all
        return d_output, d_prev_all

    def keras_weight_groups(self, prefix: str):
        """Each cell's weights under ``cells/<snake name>/vars`` (Keras' unique names by class)."""
        return [(f"cells/{key}/vars", f"{prefix}/{self.name}/{cell.name}", cell.weights)
                for key, cell in zip(_unique_keys(self.cells), self.cells, strict=True)]

    def get_config(self):
        from scratchnet.saving_keras import _layer_config

        return {**super().get_config(), "cells": [_layer_config(c) for c in self.cells]}


def _unique_keys(cells) -> list[str]:
    """Keras' names for a list's items in a .keras file: the class in snake case, ``_1``, ``_2``
    after the first of a class (``saving_lib._get_unique_name``)."""
    from scratchnet.saving_keras import _snake_case

    used: dict[str, int] = {}
    keys = []
    for cell in cells:
        name = _snake_case(type(cell).__name__)
        if name in used:
            used[name] += 1
            keys.append(f"{name}_{used[name]}")
        else:
            used[name] = 0
            keys.append(name)
    return keys


def with_cell_built(config: dict, known: dict) -> dict:
    """A saved ``RNN`` config (``.npz``) with its cell made from the ``known`` classes, a user's
    cell among them (``load_model(..., custom_objects={"MyCell": MyCell})``); any other config
    as it is."""
    cell = config.get("cell")
    if not isinstance(cell, dict) or "class_name" not in cell:
        return config
    return {**config, "cell": cell_from_config(cell, f'RNN "{config.get("name")}"', known)}
