"""``Sequential``: a stack of layers, and what ``compile``, ``fit``, ``evaluate`` and ``predict`` do.

Read :meth:`Sequential.train_step` first: it is the whole of training, one batch at a time, in
four phases (forward, loss, backward, update). ``fit`` is a loop around it that adds batching,
shuffling, metrics and callbacks.
"""

from __future__ import annotations

import numbers

import numpy as np

from scratchnet import callbacks as cbks
from scratchnet import config, kernels
from scratchnet import distribute as distribute_mod
from scratchnet import losses as losses_mod
from scratchnet import metrics as metrics_mod
from scratchnet import optimizers as optimizers_mod
from scratchnet.layers.base import ActivatedLayer, Layer, Parameter
from scratchnet.layers.core import Input


class Sequential:
    """A linear stack of layers, like ``keras.Sequential``.

    ``seed`` makes the run repeatable: the same seed gives the same initial weights, dropout
    masks and shuffling order.
    """

    def __init__(self, layers=None, seed: int | None = None, name: str = "sequential"):
        self.name = name
        self.seed = seed
        weights_seed, shuffle_seed = np.random.SeedSequence(seed).spawn(2)
        self.rng = np.random.default_rng(weights_seed)  # initial weights, dropout seeds
        self.shuffle_rng = np.random.default_rng(shuffle_seed)  # batch order in fit
        self.layers: list[Layer] = []
        self.input_shape: tuple[int, ...] | None = None
        self.output_shape: tuple[int, ...] | None = None
        self.optimizer: optimizers_mod.Optimizer | None = None
        self.loss: losses_mod.Loss | None = None
        self.metric_names: list = []
        self.metrics: list[metrics_mod.Metric] = []
        self.loss_tracker = metrics_mod.Mean(name="loss")
        self.stop_training = False
        self.history: cbks.History | None = None
        # Built inside `with strategy.scope():`? Then training steps run data-parallel.
        self.distribute_strategy = distribute_mod.get_strategy()
        for layer in layers or []:
            self.add(layer)

    # ------------------------------------------------------------------ building
    def add(self, layer: Layer) -> None:
        """Append a layer; with a known input shape it is built (its weights created) at once."""
        if not isinstance(layer, Layer):
            raise TypeError(
                f"Sequential.add: expected an instance of scratchnet.layers.Layer, received "
                f"{layer!r} of type {type(layer).__name__}"
            )
        if isinstance(layer, Input):
            if self.layers or self.input_shape is not None:
                raise ValueError("Sequential.add: an Input can only be the first layer")
            self.input_shape = layer.shape
            self.output_shape = layer.shape
            return
        if layer.built:
            raise ValueError(f'Sequential.add: layer "{layer.name}" is already built '
                             "(it belongs to another model); create a new layer")
        self._give_unique_name(layer)
        self.layers.append(layer)
        if self.input_shape is not None:
            self.output_shape = layer.ensure_built(self.output_shape, self.rng)
            self._mark_first_trainable()

    def _give_unique_name(self, layer: Layer) -> None:
        taken = {existing.name for existing in self.layers}
        if layer.name not in taken:
            return
        base, i = layer.name, 1
        while f"{base}_{i}" in taken:
            i += 1
        layer.name = f"{base}_{i}"

    def build(self, input_shape) -> None:
        """Create every layer's weights for samples of ``input_shape`` (no batch axis)."""
        if self.input_shape is not None:
            return
        self.input_shape = tuple(int(d) for d in input_shape)
        shape = self.input_shape
        for layer in self.layers:
            shape = layer.ensure_built(shape, self.rng)
        self.output_shape = shape
        self._mark_first_trainable()

    @property
    def built(self) -> bool:
        return self.input_shape is not None and all(layer.built for layer in self.layers)

    def _mark_first_trainable(self) -> None:
        """Nobody needs dL/dx of the input images: the first layer with weights skips it."""
        first = self.first_trainable_index()
        for i, layer in enumerate(self.layers):
            layer.compute_input_grad = i > first

    def first_trainable_index(self) -> int:
        for i, layer in enumerate(self.layers):
            if layer.params:
                return i
        return len(self.layers)

    # ------------------------------------------------------------------ weights
    @property
    def params(self) -> list[Parameter]:
        """Every trainable Parameter, in ``get_weights()`` order (layer by layer, kernel first)."""
        return [p for layer in self.layers for p in layer.params.values()]

    trainable_weights = params

    def get_weights(self) -> list[np.ndarray]:
        """Copies of all weights, in the same order and shapes as Keras' ``get_weights()``."""
        self._require_built("get_weights")
        return [kernels.to_numpy(p.value).copy() for p in self.params]

    def set_weights(self, weights) -> None:
        """Replace all weights; shapes must match ``get_weights()`` exactly."""
        self._require_built("set_weights")
        params = self.params
        weights = list(weights)
        if len(weights) != len(params):
            raise ValueError(
                f"set_weights: expected a list of {len(params)} arrays for model "
                f'"{self.name}", received {len(weights)}'
            )
        new_values = []
        for param, w in zip(params, weights, strict=True):
            w = np.asarray(w)
            if w.shape != param.value.shape:
                raise ValueError(
                    f'set_weights: weight "{param.name}" expects shape {param.value.shape}, '
                    f"received shape {w.shape}"
                )
            if w.dtype.kind not in "iuf":
                raise TypeError(f'set_weights: weight "{param.name}" expects a float array, '
                                f"received dtype {w.dtype}")
            if not np.all(np.isfinite(w)):
                raise ValueError(f'set_weights: weight "{param.name}" contains NaN or infinity')
            new_values.append(w.astype(config.dtype()))
        for param, value in zip(params, new_values, strict=True):
            param.value[...] = kernels.xp_of(param.value).asarray(value)  # to the GPU if it is there

    def count_params(self) -> int:
        return sum(layer.count_params() for layer in self.layers)

    # ------------------------------------------------------------------ compile
    def compile(self, optimizer="rmsprop", loss=None, metrics=None) -> None:
        """Choose how to learn: the loss to minimise, the optimizer that updates the weights, and
        the metrics to report. Nothing is computed yet."""
        if loss is None:
            raise ValueError("compile: expected a loss (e.g. 'sparse_categorical_crossentropy' or "
                             "scratchnet.losses.SparseCategoricalCrossentropy()), received None")
        optimizer = optimizers_mod.get(optimizer)
        loss = losses_mod.get(loss)
        if metrics is None:
            metrics = []
        if isinstance(metrics, str | metrics_mod.Metric):
            metrics = [metrics]
        if not isinstance(metrics, list | tuple):
            raise TypeError(f"compile: expected metrics to be a list, received {metrics!r}")
        for metric in metrics:
            metrics_mod.validate(metric)
        self.optimizer, self.loss = optimizer, loss
        self.metric_names = list(metrics)
        self.metrics = []
        if self.built:
            self._resolve_metrics()

    def _resolve_metrics(self) -> None:
        if len(self.metrics) == len(self.metric_names):
            return
        units = self.output_shape[-1]
        self.metrics = [metrics_mod.get(m, self.loss.name, units) for m in self.metric_names]

    @property
    def compiled(self) -> bool:
        return self.optimizer is not None and self.loss is not None

    def output_loss(self) -> tuple[losses_mod.Loss, bool]:
        """The loss to apply and whether it reads the logits of a final softmax (Keras' rule).

        Keras' TensorFlow backend tags the output of ``softmax`` *and* ``sigmoid`` with its input
        (``_keras_logits``), and both cross-entropies take that input as softmax logits, so a
        sigmoid output meets the same rule (``keras/src/backend/tensorflow/nn.py``).
        """
        last = self.layers[-1] if self.layers else None
        if isinstance(last, ActivatedLayer) and last.activation.name in ("softmax", "sigmoid"):
            twin = self.loss.logits_twin()
            if twin is not None:
                return twin, True
        return self.loss, False

    def loss_input(self, y_pred: np.ndarray) -> tuple[losses_mod.Loss, np.ndarray, bool]:
        """The loss to apply, the tensor it reads (the final layer's logits under Keras' rule,
        else ``y_pred``), and whether that tensor is the logits."""
        loss_fn, reads_logits = self.output_loss()
        return loss_fn, (self.layers[-1].preactivation if reads_logits else y_pred), reads_logits

    # ------------------------------------------------------------------ the passes
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """Run ``x`` through every layer in order; each layer caches what its backward needs."""
        self._place_on_backend()
        x = kernels.to_backend(x)  # a batch goes to the GPU when the backend computes there
        for layer in self.layers:
            x = layer.forward(x, training=training)
        return x

    def _place_on_backend(self) -> None:
        """Keep weights and optimizer state where the backend computes: in GPU memory for "cupy",
        host memory otherwise. They move once, when the backend changes; after that this is a check."""
        for param in self.params:
            param.value = kernels.to_backend(param.value)
        if self.optimizer is not None:
            for key, value in self.optimizer.state.items():
                self.optimizer.state[key] = kernels.to_backend(value)

    def compute_loss(self, y: np.ndarray, y_pred: np.ndarray) -> tuple[float, np.ndarray, bool]:
        """The mean loss of a batch, its gradient with respect to the output, and whether that
        gradient is with respect to the logits of a final softmax rather than its output."""
        loss_fn, output, reads_logits = self.loss_input(y_pred)
        loss = float(np.mean(loss_fn.forward(y, output)))
        doutput = loss_fn.backward(y, output)
        return loss, doutput, reads_logits

    def backward(self, doutput: np.ndarray, through_logits: bool = False) -> None:
        """Send the loss gradient back through the layers in reverse; fills every ``.grad``."""
        first = self.first_trainable_index()
        last = self.layers[-1]
        if through_logits:
            dy = last.backward_preactivation(doutput)
        else:
            dy = last.backward(doutput)
        for layer in reversed(self.layers[first:-1]):
            dy = layer.backward(dy)

    def train_step(self, x, y) -> dict[str, float]:
        """One step of training on one batch; returns the running loss and metrics of the epoch."""
        x, y = self._check_data(x, y, "train_step")
        if self.distribute_strategy is not None:
            # 1-3 data-parallel: each replica does them on its slice; grads are combined.
            loss, y_pred = self.distribute_strategy.forward_backward(self, x, y)
            self.optimizer.apply(self.params)
            return self._update_metrics(loss, y, y_pred)
        # 1. Forward pass in training mode (dropout active): the model's prediction.
        y_pred = self.forward(x, training=True)
        # 2. Loss: how wrong the prediction is, and dL/d(output), where the backward pass starts.
        loss, doutput, through_logits = self.compute_loss(y, y_pred)
        # 3. Backward pass: every layer, last to first, fills its Parameter.grad.
        self.backward(doutput, through_logits)
        # 4. Update: the optimizer moves every parameter against its gradient.
        self.optimizer.apply(self.params)
        return self._update_metrics(loss, y, y_pred)

    def loss_and_grads(self, x, y) -> tuple[float, list[np.ndarray]]:
        """The loss of ``(x, y)`` and its gradients, aligned with ``get_weights()``; no update.

        Runs in training mode, like a ``tf.GradientTape`` around ``model(x, training=True)``.
        """
        x, y = self._check_data(x, y, "loss_and_grads")
        if self.distribute_strategy is not None:
            loss, _ = self.distribute_strategy.forward_backward(self, x, y)
            return loss, [p.grad.copy() for p in self.params]
        y_pred = self.forward(x, training=True)
        loss, doutput, through_logits = self.compute_loss(y, y_pred)
        self.backward(doutput, through_logits)
        return loss, [kernels.to_numpy(p.grad).copy() for p in self.params]

    def _update_metrics(self, loss: float, y, y_pred) -> dict[str, float]:
        self.loss_tracker.update_value(loss, len(y))
        for metric in self.metrics:
            metric.update(y, y_pred)
        return self._logs()

    def _logs(self) -> dict[str, float]:
        logs = {"loss": self.loss_tracker.result()}
        logs.update({m.name: m.result() for m in self.metrics})
        return logs

    def reset_metrics(self) -> None:
        self.loss_tracker.reset()
        for metric in self.metrics:
            metric.reset()

    # ------------------------------------------------------------------ fit / evaluate / predict
    def fit(self, x=None, y=None, batch_size: int | None = None, epochs: int = 1,
            verbose="auto", callbacks=None, validation_split: float = 0.0,
            validation_data=None, shuffle: bool = True, initial_epoch: int = 0) -> cbks.History:
        """Train for ``epochs`` passes over ``(x, y)`` in batches of ``batch_size`` (default 32).

        Each epoch: shuffle (if asked), run :meth:`train_step` on every batch (the partial last
        batch too, averaged over its own size), then evaluate ``validation_data``. The epoch's
        ``loss`` is the batch-size-weighted mean of its batch losses, as in Keras.
        """
        self._require_compiled("fit")
        batch_size = _batch_size(batch_size, "fit")
        epochs = _non_negative_int(epochs, "epochs", "fit")
        initial_epoch = _non_negative_int(initial_epoch, "initial_epoch", "fit")
        x, y = self._check_data(x, y, "fit")
        if not isinstance(validation_split, numbers.Real) or not 0 <= validation_split < 1:
            raise ValueError(f"fit: expected validation_split in [0, 1), "
                             f"received {validation_split!r}")
        if validation_split and validation_data is None:
            split = int(len(x) * (1 - validation_split))  # Keras takes the last samples
            if split == 0 or split == len(x):
                raise ValueError(f"fit: validation_split={validation_split} leaves an empty "
                                 f"training or validation set for {len(x)} samples")
            x, y, validation_data = x[:split], y[:split], (x[split:], y[split:])
        if validation_data is not None:
            if not isinstance(validation_data, tuple | list) or len(validation_data) != 2:
                raise ValueError("fit: expected validation_data to be a tuple (x_val, y_val), "
                                 f"received {type(validation_data).__name__}")
            validation_data = self._check_data(*validation_data, "fit (validation_data)")

        steps = -(-len(x) // batch_size)
        callback_list = list(callbacks or [])
        if not all(isinstance(c, cbks.Callback) for c in callback_list):
            raise TypeError("fit: expected callbacks to be scratchnet.callbacks.Callback "
                            f"instances, received {callback_list!r}")
        self.history = cbks.History()
        verbose = 1 if verbose == "auto" else int(verbose)
        callback_list = callback_list + [self.history]
        if verbose:
            callback_list.insert(0, cbks.ProgbarLogger(verbose))
        for c in callback_list:
            c.set_model(self)
            c.set_params({"epochs": epochs, "steps": steps, "verbose": verbose})

        self.stop_training = False
        for c in callback_list:
            c.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            self.reset_metrics()
            for c in callback_list:
                c.on_epoch_begin(epoch)
            order = self.shuffle_rng.permutation(len(x)) if shuffle else np.arange(len(x))
            logs: dict[str, float] = {}
            for step in range(steps):
                idx = order[step * batch_size:(step + 1) * batch_size]
                for c in callback_list:
                    c.on_train_batch_begin(step)
                logs = self.train_step(x[idx], y[idx])
                for c in callback_list:
                    c.on_train_batch_end(step, logs)
                if self.stop_training:
                    break
            logs = dict(logs)
            if validation_data is not None:
                val = self.evaluate(*validation_data, batch_size=batch_size, verbose=0,
                                    return_dict=True)
                logs.update({f"val_{k}": v for k, v in val.items()})
            for c in callback_list:
                c.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        for c in callback_list:
            c.on_train_end()
        return self.history

    def evaluate(self, x=None, y=None, batch_size: int | None = None, verbose="auto",
                 return_dict: bool = False):
        """Loss and metrics on ``(x, y)`` in inference mode: ``[loss, acc]`` (or just ``loss``
        with no metrics), as Keras returns them."""
        self._require_compiled("evaluate")
        batch_size = _batch_size(batch_size, "evaluate")
        x, y = self._check_data(x, y, "evaluate")
        self.reset_metrics()
        for start in range(0, len(x), batch_size):
            xb, yb = x[start:start + batch_size], y[start:start + batch_size]
            y_pred = self.forward(xb, training=False)
            loss_fn, output, _ = self.loss_input(y_pred)
            self._update_metrics(float(np.mean(loss_fn.forward(yb, output))), yb, y_pred)
        logs = self._logs()
        if verbose and verbose != "auto":
            print(cbks.format_logs(logs), flush=True)
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size: int | None = None, verbose=0) -> np.ndarray:
        """Outputs for ``x`` in inference mode, computed ``batch_size`` samples at a time."""
        batch_size = _batch_size(batch_size, "predict")
        x = self._check_x(x, "predict")
        outputs = [kernels.to_numpy(self.forward(x[i:i + batch_size], training=False))
                   for i in range(0, len(x), batch_size)]
        return np.concatenate(outputs, axis=0)

    def __call__(self, x, training: bool = False) -> np.ndarray:
        """The forward pass on one batch, in inference mode unless ``training=True``."""
        return kernels.to_numpy(self.forward(self._check_x(x, "call"), training=training))

    # ------------------------------------------------------------------ input checks
    def _check_x(self, x, where: str) -> np.ndarray:
        if x is None:
            raise ValueError(f"{where}: expected input data x, received None")
        x = _as_array(x, "x", where)
        if not self.layers:
            raise ValueError(f'{where}: model "{self.name}" has no layers; add some first')
        # A first layer that reads ids or strings (Embedding, StringLookup) gets x as given.
        reads_floats = self.layers[0].input_dtype is None
        if reads_floats and x.dtype.kind not in "iufb":
            raise TypeError(
                f"{where}: expected x to be a numeric array (float32), received dtype {x.dtype}"
            )
        if x.ndim == 0 or len(x) == 0:
            raise ValueError(f"{where}: expected at least one sample in x, received shape "
                             f"{x.shape}")
        if self.input_shape is None:
            self.build(x.shape[1:])
            self._resolve_metrics_if_compiled()
        if tuple(x.shape[1:]) != tuple(self.input_shape):
            raise ValueError(
                f'{where}: Input 0 of layer "{self.layers[0].name}" is incompatible with the '
                f"layer: expected shape={(None,) + tuple(self.input_shape)}, "
                f"found shape={tuple(x.shape)}"
            )
        if not reads_floats:
            return x
        x = x.astype(config.dtype(), copy=False)
        if not np.all(np.isfinite(x)):
            bad = np.argwhere(~np.isfinite(x))[0]
            raise ValueError(f"{where}: x contains NaN or infinity (first at index "
                             f"{tuple(int(i) for i in bad)})")
        return x

    def _check_data(self, x, y, where: str) -> tuple[np.ndarray, np.ndarray]:
        x = self._check_x(x, where)
        if y is None:
            raise ValueError(f"{where}: expected targets y, received None")
        y = kernels.to_numpy(_as_array(y, "y", where))  # labels stay on the host; the loss moves them
        if y.ndim == 0:
            raise ValueError(f"{where}: expected y with one entry per sample, received a scalar")
        if len(y) != len(x):
            raise ValueError(
                f"{where}: data cardinality is ambiguous: x sizes: {len(x)}, y sizes: {len(y)}; "
                "make sure all arrays contain the same number of samples"
            )
        self._require_compiled(where)
        self._resolve_metrics()
        template = np.broadcast_to(np.zeros((), config.dtype()), (len(x),) + self.output_shape)
        y, _ = self.loss.check(y, template)
        return x, y

    def _resolve_metrics_if_compiled(self) -> None:
        if self.compiled:
            self._resolve_metrics()

    def _require_compiled(self, where: str) -> None:
        if not self.compiled:
            raise RuntimeError(f"{where}: you must call compile() on the model before {where}()")

    def _require_built(self, where: str) -> None:
        if self.input_shape is None:
            raise ValueError(
                f'{where}: model "{self.name}" is not built yet; start it with '
                "sn.layers.Input(shape), call build(input_shape), or call it on data first"
            )

    # ------------------------------------------------------------------ reporting, saving
    def summary(self, print_fn=print) -> str:
        """A layer table with output shapes and Keras' parameter counts."""
        self._require_built("summary")
        rows = [(f"{layer.name} ({type(layer).__name__})", str((None,) + layer.output_shape),
                 f"{layer.count_params():,}") for layer in self.layers]
        widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
                  for i, h in enumerate(("Layer (type)", "Output Shape", "Param #"))]
        line = "  ".join(f"{{:<{w}}}" for w in widths)
        total = self.count_params()
        text = "\n".join([
            f'Model: "{self.name}"',
            line.format("Layer (type)", "Output Shape", "Param #"),
            "-" * (sum(widths) + 4),
            *(line.format(*r) for r in rows),
            "-" * (sum(widths) + 4),
            f"Total params: {total:,}",
            f"Trainable params: {total:,}",
            "Non-trainable params: 0",
        ])
        if print_fn is not None:
            print_fn(text)
        return text

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "seed": self.seed,
            "input_shape": None if self.input_shape is None else list(self.input_shape),
            "layers": [{"class_name": type(layer).__name__, "config": layer.get_config()}
                       for layer in self.layers],
        }

    def save(self, path) -> None:
        """Write architecture, weights, compile settings and optimizer state to one ``.npz``."""
        from scratchnet.saving import save_model

        save_model(self, path)

    def __repr__(self) -> str:
        return f"<Sequential name={self.name!r} layers={[layer.name for layer in self.layers]}>"


def _as_array(value, arg: str, where: str) -> np.ndarray:
    """``np.asarray`` with an error that names the argument when the data is ragged. A GPU array
    (CuPy) is kept where it is."""
    if kernels.is_device_array(value):
        return value
    try:
        return np.asarray(value)
    except ValueError as err:
        raise ValueError(f"{where}: expected {arg} to be a rectangular array (every sample the "
                         f"same shape), received a ragged sequence: {err}") from err


def _batch_size(value, where: str) -> int:
    if value is None:
        return 32
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{where}: expected batch_size to be a positive integer, "
                         f"received {value!r}")
    return int(value)


def _non_negative_int(value, arg: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{where}: expected {arg} to be an integer >= 0, received {value!r}")
    return int(value)
