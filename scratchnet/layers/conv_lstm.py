"""``keras.layers.ConvLSTM1D``, ``ConvLSTM2D`` and ``ConvLSTM3D``: an LSTM whose products are
convolutions.

Each step reads a frame ``x_t (N, H, W, C)`` (1-D: ``(N, L, C)``; 3-D: a volume ``(N, D, H, W, C)``)
and keeps two states of the output's shape ``(N, H', W', F)`` (3-D ``(N, D', H', W', F)``),
``F = filters``::

    z = conv(x_t, kernel, strides, padding, dilation) + bias + conv(h_prev, recurrent_kernel, "same")
    h, c = lstm_gates(z, c_prev)       # gates i, f, c, o along the channels, as LSTMCell's

``kernel`` is ``(KH, KW, C, 4F)`` (3-D ``(KD, KH, KW, C, 4F)``), ``recurrent_kernel``
``(KH, KW, F, 4F)``, ``bias`` ``(4F,)``
(the forget gate's quarter starting at 1 with ``unit_forget_bias``), as Keras' ``ConvLSTMCell``.
The gates are ``rnn_cells.lstm_gates``: the same function ``LSTMCell`` uses; the convolutions
are ``scratchnet.kernels``' Conv2D loops (a 1-D layer runs them on frames of height 1), and
for ``ConvLSTM3D`` Conv3D's (``scratchnet.kernels.volume``). Each layer is an ``RNN`` of that
cell (``scratchnet/layers/rnn.py``): masks, ``go_backwards``, ``return_sequences``,
``return_state``, ``initial_state`` and ``stateful`` come from there, and so does the
backward pass through time; each step's backward is the gradients of a convolution (its
kernel's and its input's: ``_conv_kernel_grad``, ``_conv_input_grad``) for each of the two
products.

Dropout: one mask for the frames and one for the state, kept over the steps; Keras draws one per
gate (random either way). ``stateful=True`` carries the states from batch to batch, as every
``RNN`` (``recurrent._Stateful``). ``data_format="channels_first"`` is refused.
"""

from __future__ import annotations

import numpy as np

from scratchnet import kernels
from scratchnet.kernels import volume
from scratchnet.layers._args import check_rank, output_size_and_pads, window_args
from scratchnet.layers.base import regularizer_config
from scratchnet.layers.rnn import RNN
from scratchnet.layers.rnn_cells import _Cell, lstm_gates, lstm_gates_backward


class ConvLSTMCell(_Cell):
    """Keras' ``ConvLSTMCell(rank, filters, kernel_size, ...)``: one step of ConvLSTM1D/2D/3D."""

    GATES = 4
    has_carry = True

    def __init__(self, rank: int, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, activation="tanh", recurrent_activation="sigmoid", unit_forget_bias=True,
                 name: str | None = None, **kwargs):
        super().__init__(filters, activation=activation, recurrent_activation=recurrent_activation,
                         name=name, **kwargs)
        where = f'ConvLSTM{rank}D cell "{self.name}"'
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{where}: data_format={data_format!r} is not supported by scratchnet "
                             "(channels last, NHWC, only)")
        self.rank = rank
        window_args(self, where, rank, kernel_size, strides, padding, dilation_rate)
        self.unit_forget_bias = bool(unit_forget_bias)

    @property
    def filters(self) -> int:
        return self.units

    # ------------------------------------------------------------------ shapes and weights
    def build(self, input_shape, rng):
        """``input_shape``: one frame, ``(H, W, C)`` (1-D: ``(L, C)``)."""
        *spatial, channels = input_shape
        if None in spatial or channels is None:
            raise ValueError(f'ConvLSTM{self.rank}D "{self.name}": needs the size of every frame axis; '
                             f"received frames of shape {(None, *input_shape)}")
        plans = [output_size_and_pads(n, k, s, d, self.padding) for n, k, s, d in
                 zip(spatial, self.kernel_size, self.strides, self.dilation_rate, strict=True)]
        self.out_spatial = tuple(p[0] for p in plans)
        if min(self.out_spatial) <= 0:
            raise ValueError(f'ConvLSTM{self.rank}D "{self.name}": the kernel {self.kernel_size} does not '
                             f"fit frames of shape {tuple(spatial)} with padding='valid'; the output "
                             f"would be {self.out_spatial}")
        self.pads = tuple(p[1:] for p in plans)
        self.rec_pads = tuple(output_size_and_pads(o, k, 1, 1, "same")[1:]
                              for o, k in zip(self.out_spatial, self.kernel_size, strict=True))
        self.build_weights(channels, rng, window=self.kernel_size)
        return (*self.out_spatial, self.filters)

    @property
    def state_shapes(self) -> list[tuple]:
        return [(*self.out_spatial, self.filters)] * 2

    @property
    def step_output_shape(self) -> tuple:
        return (*self.out_spatial, self.filters)

    # ------------------------------------------------------------------ convolutions in 2-D form
    def _2d(self, a):
        """A 1-D layer's ``(N, L, C)`` as a frame of height 1, ``(N, 1, L, C)``; 2-D as it is."""
        return a[:, None] if self.rank == 1 else a

    def _from_2d(self, a):
        return a[:, 0] if self.rank == 1 else a

    def _window(self, values) -> tuple:
        return (1, *values) if self.rank == 1 else tuple(values)

    def _conv(self, a, kernel, pads, strides, dilation):
        """``conv(a, kernel)`` with ``pads`` added first; returns ``(z, a padded)`` (1-D: in 2-D
        form; 3-D: ``scratchnet.kernels.volume``'s Conv3D loop)."""
        if self.rank == 3:
            apad = np.pad(a, ((0, 0), *pads, (0, 0)))  # (N, Dp, Hp, Wp, C)
            return volume.conv3d_forward(apad, kernel, strides, dilation, self.out_spatial), apad
        pads = ((0, 0), *pads) if self.rank == 1 else pads
        apad = np.pad(self._2d(a), ((0, 0), *pads, (0, 0)))  # (N, Hp, Wp, C), contiguous
        kernel = kernel[None] if self.rank == 1 else kernel
        out_hw = self._window(self.out_spatial)
        z = kernels.conv2d_forward(apad, kernel, self._window(strides), self._window(dilation), out_hw)
        return z, apad

    def _conv_kernel_grad(self, apad, dz, strides, dilation):
        """dL/d(kernel) of ``conv(apad, kernel)`` given dL/dz: ``(*kernel_size, C, 4F)``."""
        if self.rank == 3:
            return volume.conv3d_backward_kernel(apad, dz, self.kernel_size, strides, dilation)
        grad = kernels.conv2d_backward_kernel(apad, dz, self._window(self.kernel_size),
                                              self._window(strides), self._window(dilation))
        return grad[0] if self.rank == 1 else grad

    def _conv_input_grad(self, dz, kernel, strides, dilation, apad, pads, spatial):
        """dL/da of ``conv(pad(a), kernel)`` given dL/dz: the padded gradient, the pads cut off."""
        padded = apad.shape[1:-1]
        if self.rank == 3:
            dpad = volume.conv3d_backward_input(dz, kernel, strides, dilation, padded)  # (N, Dp, Hp, Wp, C)
        else:
            kernel = kernel[None] if self.rank == 1 else kernel
            dpad = kernels.conv2d_backward_input(dz, kernel, self._window(strides), self._window(dilation),
                                                 padded)  # (N, Hp, Wp, C)
            pads = ((0, 0), *pads) if self.rank == 1 else pads
            spatial = self._window(spatial)
        inner = tuple(slice(before, before + size) for (before, _), size in zip(pads, spatial, strict=True))
        return self._from_2d(dpad[(slice(None), *inner)])

    # ------------------------------------------------------------------ the step protocol
    def start_sequence(self, batch, features, dtype, training) -> None:
        self.training, self.x_keep, self.h_keep = training, None, None  # drawn at the first step

    def forward_step(self, x_t, states, training=False):
        h_prev, c_prev = states
        if self.training and self.dropout and self.x_keep is None:
            self.x_keep = self._dropout_mask(x_t.shape, self.dropout, True, x_t.dtype)
        if self.training and self.recurrent_dropout and self.h_keep is None:
            self.h_keep = self._dropout_mask(h_prev.shape, self.recurrent_dropout, True, h_prev.dtype)
        if self.x_keep is not None:
            x_t = x_t * self.x_keep
        h_in = h_prev if self.h_keep is None else h_prev * self.h_keep
        ones = (1,) * self.rank
        xz, xpad = self._conv(x_t, self.kernel.value, self.pads, self.strides, self.dilation_rate)
        hz, hpad = self._conv(h_in, self.recurrent_kernel.value, self.rec_pads, ones, ones)
        z = xz + hz  # (N, H', W', 4F)
        if self.use_bias:
            z = z + self.bias.value
        h, c, gates = lstm_gates(self, z, self._2d(c_prev))
        h, c = self._from_2d(h), self._from_2d(c)
        return h, [h, c], (x_t.shape[1:-1], xpad, hpad, gates)

    def backward_step(self, d_output, d_states, cache):
        spatial, xpad, hpad, gates = cache
        dh, dc = self._2d(d_output + d_states[0]), self._2d(d_states[1])
        dz, dc_prev = lstm_gates_backward(self, dh, dc, gates)  # (N, H', W', 4F); 3-D (N, D', H', W', 4F)
        ones = (1,) * self.rank
        self.kernel.grad += self._conv_kernel_grad(xpad, dz, self.strides, self.dilation_rate)
        self.recurrent_kernel.grad += self._conv_kernel_grad(hpad, dz, ones, ones)
        if self.use_bias:
            self.bias.grad += dz.reshape(-1, dz.shape[-1]).sum(axis=0)
        dx = self._conv_input_grad(dz, self.kernel.value, self.strides, self.dilation_rate, xpad, self.pads,
                                   spatial)
        dh_in = self._conv_input_grad(dz, self.recurrent_kernel.value, ones, ones, hpad, self.rec_pads,
                                      self.out_spatial)
        if self.x_keep is not None:
            dx = dx * self.x_keep
        if self.h_keep is not None:
            dh_in = dh_in * self.h_keep
        return dx, [dh_in, self._from_2d(dc_prev)]

    def get_config(self):
        config = super().get_config()
        filters = config.pop("units")
        return {**config, "filters": filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding, "data_format": "channels_last",
                "dilation_rate": self.dilation_rate, "unit_forget_bias": self.unit_forget_bias}


class _ConvLSTM(RNN):
    """What ConvLSTM1D/2D/3D share: Keras' arguments, a ConvLSTMCell in an RNN."""

    RANK = 2
    AXES = "(batch, time, rows, cols, channels)"
    supports_masking = True

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0, recurrent_dropout=0.0,
                 seed=None, return_sequences=False, return_state=False, go_backwards=False, stateful=False,
                 name: str | None = None, **kwargs):
        cell = ConvLSTMCell(
            self.RANK, filters, kernel_size, strides=strides, padding=padding, data_format=data_format,
            dilation_rate=dilation_rate, activation=activation, recurrent_activation=recurrent_activation,
            use_bias=use_bias, kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
            unit_forget_bias=unit_forget_bias, kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint, dropout=dropout, recurrent_dropout=recurrent_dropout, seed=seed,
            name="conv_lstm_cell")
        super().__init__(cell, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful, name=name, **kwargs)

    def build(self, input_shape, rng):
        check_rank(self.name, input_shape, self.AXES)
        self.step_cell.ensure_built(tuple(input_shape[1:]), rng)
        for name, param in self.step_cell.params.items():
            param.name = f"{self.name}/{param.name}"  # conv_lstm2d/conv_lstm_cell/kernel
            self.params[name] = param
        return self._output_shape(input_shape[0])

    def keras_saved_config(self, config):
        return config  # Keras' ConvLSTM config is flat (no "cell")

    def get_config(self):
        config = super().get_config()
        del config["cell"]
        cell = self.cell.get_config()
        del cell["name"]
        return {**config, **cell, **regularizer_config(self, "activity_regularizer")}


class ConvLSTM1D(_ConvLSTM):
    """``keras.layers.ConvLSTM1D(filters, kernel_size, strides=1, padding="valid", ...)``: input
    ``(N, T, L, C)``; output ``(N, L', F)``, or ``(N, T, L', F)`` with ``return_sequences``."""

    RANK = 1
    AXES = "(batch, time, steps, channels)"


class ConvLSTM2D(_ConvLSTM):
    """``keras.layers.ConvLSTM2D(filters, kernel_size, strides=1, padding="valid", ...)``: input
    ``(N, T, H, W, C)``; output ``(N, H', W', F)``, or ``(N, T, H', W', F)`` with
    ``return_sequences``."""


class ConvLSTM3D(_ConvLSTM):
    """``keras.layers.ConvLSTM3D(filters, kernel_size, strides=1, padding="valid", ...)``: input
    ``(N, T, D, H, W, C)``; output ``(N, D', H', W', F)``, or ``(N, T, D', H', W', F)`` with
    ``return_sequences``. Its convolutions are Conv3D's loops (``scratchnet.kernels.volume``)."""

    RANK = 3
    AXES = "(batch, time, depth, rows, cols, channels)"
