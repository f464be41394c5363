"""Keras' functional API: ``Model(inputs, outputs)`` over a graph of layer calls.

::

    a = sn.Input((3,), name="a")
    h = sn.layers.Dense(4, activation="relu")(a)        # a KerasTensor; the call is a Node
    out = sn.layers.Dense(1)(sn.layers.Concatenate()([a, h]))
    model = sn.Model(a, out)

:class:`Functional` keeps :class:`scratchnet.model.Model`'s training loop (``compile``, ``fit``,
``train_step``, ...) and replaces only what depends on the shape of the network:

- ``forward`` runs the nodes in topological order (every node after the nodes it reads);
- ``backward`` walks them in reverse and SUMS the gradients of a tensor that feeds several
  layers (a fork), and of the weights of a layer called several times (a shared layer);
- inputs, targets, losses and metrics come one per model input/output, as lists or dicts.

``docs/functional.md`` steps through one backward pass.
"""

from __future__ import annotations

import numbers
import re
from dataclasses import dataclass

import numpy as np

from scratchnet import custom_loss, kernels
from scratchnet import losses as losses_mod
from scratchnet import metrics as metrics_mod
from scratchnet.layers.base import ActivatedLayer, DictOutputs, Layer, _snake_case, shape_matches
from scratchnet.layers.conv import Conv2D
from scratchnet.layers.input_layer import (
    ConstantLayer,
    InputLayer,
    KerasTensor,
    Node,
    _map_tensors,
    global_rng,
    keyword_tensors,
)
from scratchnet.layers.masking import forward_with_mask
from scratchnet.layers.pooling import MaxPooling2D
from scratchnet.model import (
    Model,
    _adjust_input_rank,
    _as_array,
    _layer_label,
    loss_template,
    weighted_loss_and_grad,
)
from scratchnet.remat import checkpointed_forward, rematerialize


class Functional(Model):
    """A model defined by its input and output :class:`KerasTensor` s (``keras.Model(inputs,
    outputs)``). ``inputs``/``outputs``: one tensor, a list, or (inputs) a dict keyed by input
    name; data is then passed in the same form (an array, a list, or a dict of arrays)."""

    def __init__(self, inputs, outputs, name: str | None = None, seed: int | None = None):
        if seed is None:
            seed = int(global_rng().integers(2**31))  # sn.utils.set_random_seed makes fit repeatable
        super().__init__(layers=None, seed=seed, name=name or "functional")
        if self.distribute_strategy is not None:
            raise ValueError("Model(inputs, outputs): functional models do not run under a "
                             "distribution strategy yet; build it outside `strategy.scope()`")
        # A dict of outputs ({"price": p, "kind": k}): the model returns a dict by the same keys
        # (in the dict's order), and y, losses, loss_weights and metrics are keyed by them. Inside,
        # the outputs are the list of the dict's values in sorted-key order, as Keras flattens a
        # dict (keras.tree.flatten; DictOutputs, as a layer returning a dict; Functional.outputs and
        # output_names follow that order).
        self._output_keys = _output_dict_keys(outputs)
        if self._output_keys is not None:
            outputs = DictOutputs(self._output_keys).flatten(outputs)
        flat_inputs = _flatten_tensors(inputs, "inputs")
        flat_outputs = _flatten_tensors(outputs, "outputs")
        if not all(isinstance(t.node.layer, InputLayer) for t in flat_inputs):
            inputs, outputs = _clone_graph_from(inputs, flat_inputs, outputs, flat_outputs)
        self._inputs_struct = inputs
        self.inputs = _flatten_tensors(inputs, "inputs")
        self.outputs = _flatten_tensors(outputs, "outputs")
        self._outputs_is_list = isinstance(outputs, list | tuple)  # (a dict's too: a list inside)
        self.input_names = [t.node.layer.name for t in self.inputs]
        self._nodes = graph_nodes(self.inputs, self.outputs)
        # Keras' model.operations: every layer and operation of the graph; model.layers leaves
        # out the operations (the ops.add / ops.multiply nodes of scratchnet.layers.operations)
        entries = keras_operations(self.inputs, self.outputs, self._nodes)
        self._operations = _layers_of_operations(entries, self._nodes)
        _unique_names(self._operations)
        nested = any(isinstance(e, Model) for e in entries)
        # Keras' model.layers with each nested model one entry, where Keras' files nest them
        # (saving_keras.keras_units reads Keras' weights files with it)
        self._keras_entries = entries if nested else None
        # A nested model's layers sit where Keras lists the nested model; a file holds the graph
        # flat, so Keras, loading it, orders the layers as the flat graph: files use that order
        # (saving_functional.file_operations) where it differs (without a nested model, never)
        flat = _layers_in_keras_order(self.inputs, self.outputs, self._nodes, nested=False) \
            if nested else None
        self._flat_operations = None if flat is None or flat == self._operations else flat
        self.layers = [op for op in self._operations if not getattr(op, "is_operation", False)]
        self.input_names = [t.node.layer.name for t in self.inputs]
        self.output_names = [t.node.layer.name for t in self.outputs]
        self._shared = {layer for layer in self.layers
                        if sum(node.layer is layer for node in self._nodes) > 1}
        for layer in self._shared:
            if layer._sublayers:
                raise ValueError(f'layer "{layer.name}" ({type(layer).__name__}) is made of layers '
                                 "and is called more than once in one model, which scratchnet does "
                                 "not support yet (its sub-layers keep one call's arrays); make one "
                                 "instance per call")
        self._caches: dict[Node, dict] = {}  # a shared layer's forward cache, one per call
        self._loss_nodes: list[Node] = []  # nodes that add a loss and lead to no output (add_loss_nodes)
        # The first layers, and weightless ones in front of them (augmentation), need not
        # compute dL/dx: no layer before them has weights.
        self._needs_input_grad = _needs_input_grad(self._nodes)
        self._pool_after = _pool_after(self._nodes, self.outputs, self._shared)
        shapes = [tuple(t.shape[1:]) for t in self.inputs]
        self._sample_input_shape = shapes[0] if len(shapes) == 1 else shapes
        out_shapes = [tuple(t.shape[1:]) for t in self.outputs]
        self._sample_output_shape = out_shapes[0] if len(out_shapes) == 1 else out_shapes
        self.output_losses: list[losses_mod.Loss] = []
        self.loss_weights: list[float] = []
        self.output_loss_trackers: list[metrics_mod.Mean] = []
        self.output_metric_names: list[list] = []
        self.output_metrics: list[list[metrics_mod.Metric]] = []
        self._last_output_losses: list[float] = []

    # ------------------------------------------------------------------ structure
    @property
    def built(self) -> bool:
        return True  # every layer was built when it was called on its KerasTensors

    def build(self, input_shape=None) -> None:
        return None

    @property
    def operations(self) -> list[Layer]:
        """Keras' ``model.operations``: ``model.layers`` with the graph's operations among them
        (``x + 3.0`` in a Keras builder: :mod:`scratchnet.layers.operations`), in graph order."""
        return list(self._operations)

    @property
    def input(self):
        """Keras' ``model.input``: the Input KerasTensor(s), in the structure the model was given."""
        return self._inputs_struct

    @property
    def output(self):
        """Keras' ``model.output``: the output KerasTensor, or the list (dict) of them."""
        return self._packed_outputs(self.outputs)

    @property
    def _target_names(self) -> list[str]:
        """The names ``y``, ``loss``, ``loss_weights``, ``metrics`` and the logs are keyed by, in
        output order: the dict's keys for a dict of outputs (Keras' ``CompileLoss`` matches by
        the keys of ``y_pred``), else the output layers' names."""
        return sorted(self._output_keys) if self._output_keys is not None else self.output_names

    def _packed_outputs(self, flat: list):
        """``flat`` (one value per output, in output order) in the structure the model was given
        its outputs: a dict by its keys (in the dict's own order), a list, or the one value."""
        if self._output_keys is not None:
            return DictOutputs(self._output_keys)(flat)
        return list(flat) if self._outputs_is_list else flat[0]

    def add_loss_nodes(self, tensors: list[KerasTensor]) -> None:
        """Run also the nodes that make ``tensors``, which lead to no output: layers whose
        ``add_loss`` is all they give (a subclassed model's ``self.add_loss(...)`` in ``call``,
        :class:`scratchnet.subclassing.GraphLoss`). The forward pass runs them with the others and
        the backward pass runs them with no gradient from above, the term's own as the seed."""
        self._loss_nodes = [t.node for t in tensors]
        self._nodes = graph_nodes(self.inputs, [*self.outputs, *tensors])
        self._needs_input_grad = _needs_input_grad(self._nodes)
        self._pool_after = _pool_after(self._nodes, [*self.outputs, *tensors], self._shared)

    @property
    def multi_output(self) -> bool:
        return len(self.outputs) > 1

    def _outputs_pooled_in_place(self) -> set:
        return {node.layer for node, pool in self._pool_after.items()
                if node.layer.can_fuse_pool(pool.layer)}

    # ------------------------------------------------------------------ the passes
    def forward(self, x, training: bool = False, for_backward: bool = True, input_masks=None):
        """Run every node in topological order; ``x`` is the list of input arrays.
        (``for_backward`` is :meth:`Model.forward`'s: False, no backward pass follows, so layers
        keep nothing for one. ``input_masks``: a padding mask per input, or None: the masks a
        subclassed model's view hands its graph, ``subclassing.ModelAsLayer``, which reads the
        outputs' masks from ``_output_masks``.)

        A ``Conv2D(activation="relu")`` whose output only a ``MaxPooling2D`` reads runs with it
        as one call on the Numba backend (``Conv2D.forward_pooled``), as in a Sequential model:
        the pooling node then does nothing of its own, and :meth:`backward` hands its gradient
        straight to the convolution.

        ``values`` maps each KerasTensor to its array (``masks`` to its padding mask, see
        ``layers/masking.py``). A layer used by several nodes overwrites its cache at each call,
        so a copy of its cache is kept per node for the backward pass.
        """
        self._place_on_backend()
        values: dict[KerasTensor, np.ndarray] = {}
        masks: dict[KerasTensor, np.ndarray | None] = {}
        for tensor, array in zip(self.inputs, x, strict=True):
            values[tensor] = kernels.to_backend(array)
        if input_masks is not None:
            masks.update(zip(self.inputs, input_masks, strict=True))
        self._caches = {}
        for layer in self.layers:
            layer.clear_activity()  # activity penalties are this pass's (one per call)
        ran_by_conv = set()  # pooling nodes a Conv2D ran in its own call
        batch = len(x[0])
        for node in self._nodes:
            if isinstance(node.layer, ConstantLayer):  # an array a traced call() made
                values[node.output] = kernels.to_backend(node.layer.batch(batch))
                continue
            if isinstance(node.layer, InputLayer) or node in ran_by_conv:
                continue
            # layer(x, training=...) written in a traced call() holds whatever mode the model runs in
            training_now = training if node.training is None else node.training
            pool = self._pool_after.get(node)
            if pool is not None and masks.get(node.inputs[0]) is None \
                    and node.layer.can_fuse_pool(pool.layer):
                values[pool.output] = node.layer.forward_pooled(
                    values[node.inputs[0]], pool.layer, training=training_now, for_backward=for_backward)
                masks[pool.output] = None
                ran_by_conv.add(pool)
                continue
            run_node(node, values, masks, training_now, for_backward)
            if node.layer in self._shared:
                self._caches[node] = dict(vars(node.layer))  # this call's cached arrays
        outputs = [values[t] for t in self.outputs]
        self._output_masks = [masks.get(t) for t in self.outputs]
        return outputs if self._outputs_is_list else outputs[0]

    def backward(self, doutputs, through_logits=False) -> None:
        """Send the loss gradients back through the graph; fills every ``Parameter.grad``.

        ``doutputs[k]`` is dL/d(output k), or dL/d(its logits) where ``through_logits[k]``.
        Walking the nodes last to first, each node receives the SUM of the gradients sent to its
        output tensor by every layer that read it, so a fork adds its branches' gradients.
        """
        doutputs, through_logits = _as_list(doutputs), _as_list(through_logits)
        grads: dict[KerasTensor, np.ndarray] = {}  # dL/d tensor, summed over its uses
        logit_grads: dict[KerasTensor, np.ndarray] = {}  # dL/d(logits of tensor's layer)
        for tensor, d, via_logits in zip(self.outputs, doutputs, through_logits, strict=True):
            if d is not None:  # (None: an output of a layer's traced call that no loss reads)
                _accumulate(logit_grads if via_logits else grads, tensor, d)
        done: set[Layer] = set()  # layers whose Parameter.grad already holds one call's gradient
        for node in reversed(self._nodes):
            layer = node.layer
            if isinstance(layer, InputLayer) or not (any(t in grads or t in logit_grads
                                                         for t in node.all_outputs)
                                                     or (node in self._loss_nodes
                                                         and self._needs_input_grad[node])):
                continue  # an input, or a node no loss depends on (an add_loss term no weight feeds)
            if getattr(layer, "fused_into", None) is not None:
                # a max-pooling its Conv2D ran (forward_pooled): the Conv2D's backward does it
                _accumulate(grads, node.inputs[0], grads[node.output])
                continue
            if node in self._caches:
                vars(layer).update(self._caches[node])  # a shared layer: this call's cache back
            rematerialize(layer)  # a layer made in a RematScope runs its forward pass again first
            earlier = {name: p.grad for name, p in layer.params.items()} if layer in done else {}
            layer.compute_input_grad = self._needs_input_grad[node]
            if node.outputs:  # several outputs: one gradient each, None for one nothing reads
                # (with activity_regularizer=...: dR/dy_k / N joins each, Layer.activity_gradient)
                dxs = layer.backward(layer.activity_gradient([grads.get(t) for t in node.outputs]))
            else:
                dxs = _node_backward(layer, grads.get(node.output), logit_grads.get(node.output))
            for name, grad in earlier.items():  # a shared layer: its weights' gradients add up
                layer.params[name].grad = layer.params[name].grad + grad
            done.add(layer)
            # one gradient per input tensor: a list for a list or several tensors, but one tensor
            # called with plain keyword values (ReversibleEmbedding(h, reverse=True)) may return one
            alone = node.several_args and len(node.inputs) == 1 and not isinstance(dxs, list | tuple)
            dxs = dxs if (node.inputs_as_list or node.several_args) and not alone else [dxs]
            for tensor, dx in zip(node.inputs, dxs, strict=True):
                if dx is not None:
                    _accumulate(grads, tensor, dx)  # a tensor read twice: the gradients add
        for layer in self.layers:  # weights no loss depends on: gradient 0, as tf.GradientTape
            if layer not in done:
                for p in layer.weights:  # (a layer made of layers: its sub-layers' too)
                    if p.trainable:
                        p.grad = kernels.xp_of(p.value).zeros_like(p.value)
        # dL/d(each model input), None where no gradient reaches it (a layer made of layers
        # passes its input's on, scratchnet.subclassing)
        return [grads.get(t) for t in self.inputs]

    # ------------------------------------------------------------------ losses and metrics
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
                weighted_metrics=None) -> None:
        """As :meth:`Model.compile`, with Keras' per-output forms: ``loss`` one for all outputs, a
        list (in output order) or a dict keyed by output name; ``loss_weights`` likewise (the
        total loss is ``sum_k w_k * loss_k``); ``metrics`` a list for a single output, or a list
        of lists / a dict for several. A model built with a dict of outputs is keyed by the
        dict's keys (``loss={"price": "mse"}``), as Keras matches them to ``y_pred``'s keys; a
        key left out of ``loss`` gives that output no loss, an unknown one raises ``KeyError``.

        A None in the list or dict gives that output no loss, as in Keras (keras.io's miniature
        GPT: ``outputs=[logits, x]``, ``loss=[loss_fn, None]``): its gradient from the loss is
        0, and the targets are those of the other outputs only (``fit(x, y)`` with one array
        for one loss; Keras' ``CompileLoss`` "loss partially defined over y_pred"). As in
        Keras, each output's loss is logged apart only when more than one output has one."""
        n = len(self.outputs)
        # compiled before and given no metrics: Keras keeps the metrics it had (Model.compile)
        keep_metrics = metrics is None and weighted_metrics is None and self.compiled \
            and bool(self.output_losses)
        if loss is None and self.output_losses:  # compiled before: Keras keeps that loss, weighted
            loss, loss_weights = list(self.output_losses), list(self.loss_weights)
        if loss is None and not custom_loss.overrides_compute_loss(self):
            loss = losses_mod.AddedLossesOnly()  # Keras' compile(optimizer): model.losses alone
        losses = self._per_output(loss, "loss", allow_none=False)
        if all(v is None for v in losses):
            raise ValueError("compile: expected a loss for at least one output (e.g. "
                             "'sparse_categorical_crossentropy'), received None for every output "
                             f"{self._target_names}: loss={loss!r}")
        weights = [1.0] * n if loss_weights is None else self._per_output(loss_weights,
                                                                          "loss_weights")
        # (a dict leaving out an output without a loss: Keras pairs the weights with the losses)
        weights = [1.0 if w is None and v is None else w for w, v in zip(weights, losses, strict=True)]
        for w in weights:
            if isinstance(w, bool) or not isinstance(w, numbers.Real):
                raise ValueError(f"compile: expected loss_weights to be numbers, received "
                                 f"{loss_weights!r}")
        if metrics is None:
            metrics = [[] for _ in range(n)]
        elif n == 1 and not isinstance(metrics, dict):
            metrics = [metrics]
        else:
            metrics = self._per_output(metrics, "metrics", allow_single=False)
            metrics = [[] if m is None else m for m in metrics]
        metrics = [[m] if isinstance(m, str | metrics_mod.Metric) else list(m) for m in metrics]
        for name, loss_k, names in zip(self._target_names, losses, metrics, strict=True):
            if loss_k is None and names:  # its targets are never taken: the metrics would stay empty
                raise NotImplementedError(
                    f"compile: output {name!r} has no loss (None) but metrics {names!r}; scratchnet "
                    "takes targets only for the outputs with a loss, so these metrics could not be "
                    "updated. Give that output a loss, or drop its metrics")
        self.output_losses = []
        first = next(v for v in losses if v is not None)
        super().compile(optimizer=optimizer, loss=first, metrics=None if keep_metrics else metrics[0],
                        weighted_metrics=weighted_metrics)  # checks, optimizer; one output's state
        self.output_losses = [None if v is None else losses_mod.get(v) for v in losses]
        self.loss_weights = [float(w) for w in weights]
        # (compiled without a loss: Keras logs "loss" alone, no per-output losses)
        # (nor with a compute_loss override, whose one loss Keras logs)
        with_loss = [] if isinstance(self.loss, losses_mod.AddedLossesOnly | losses_mod.ComputeLossOverride) \
            else self.loss_outputs
        self.output_loss_trackers = [metrics_mod.Mean(name=f"{self._target_names[k]}_loss")
                                     for k in with_loss] if len(with_loss) > 1 else []
        if keep_metrics:  # the same metric objects, as Keras' kept CompileMetrics
            return
        for names in metrics:
            for metric in names:
                metrics_mod.validate(metric)
        self.output_metric_names = metrics
        self.output_metrics = []
        self._resolve_metrics()

    @property
    def loss_outputs(self) -> list[int]:
        """The outputs that have a loss (all, unless ``compile`` gave some None), in output
        order: the targets ``y`` are theirs, in this order."""
        if not self.output_losses:
            return list(range(len(self.outputs)))
        return [k for k, loss in enumerate(self.output_losses) if loss is not None]

    def _per_output(self, value, arg: str, allow_none: bool = True, allow_single: bool = True):
        """``value`` as a list in output order, from one value, a list or a dict by output name."""
        n, names = len(self.outputs), self._target_names
        if isinstance(value, dict):
            unknown = sorted(set(value) - set(names))
            if unknown and self._output_keys is not None and arg == "loss":
                # Keras' CompileLoss walks the loss dict's keys into y_pred (a dict): KeyError
                raise KeyError(f"The path: {(unknown[0],)} in the `loss` argument, can't be found in "
                               f"either the model's output (`y_pred`) or in the labels (`y_true`): "
                               f"the model's outputs are the keys {names}")
            if unknown:
                raise ValueError(f"compile: unknown output name(s) {unknown} in `{arg}`; the "
                                 f"model's outputs are {names}")
            if self._output_keys is not None and arg == "loss":
                return [value.get(k) for k in names]  # a key left out: that output has no loss (Keras)
            if not allow_none and set(value) != set(names):
                missing = [k for k in names if k not in value]
                raise ValueError(f"compile: `{arg}` has no entry for output(s) {missing}; expected "
                                 f"keys {names}")
            return [value.get(k) for k in names]
        if isinstance(value, list | tuple) and not (n == 1 and arg == "metrics"):
            if len(value) != n:
                raise ValueError(f"compile: expected `{arg}` to have one entry per output "
                                 f"({n}: {names}), received {len(value)}: {value!r}")
            return list(value)
        if not allow_single:
            raise ValueError(f"compile: for a model with {n} outputs, expected `{arg}` as a list of "
                             f"{n} lists or a dict keyed by output name {names}, received "
                             f"{value!r}")
        if value is None and not allow_none:
            raise ValueError("compile: expected a loss (e.g. 'sparse_categorical_crossentropy' or "
                             "scratchnet.losses.SparseCategoricalCrossentropy()), received None")
        return [value] * n

    def _resolve_metrics(self) -> None:
        if not self.output_losses:
            return  # inside Model.compile, before the per-output parts are set
        first = self.loss_outputs[0]
        if len(self.weighted_metrics) != len(self.weighted_metric_names):
            self.weighted_metrics = [metrics_mod.get(m, self.output_losses[first].function_name,
                                                     self.outputs[first].shape[-1])
                                     for m in self.weighted_metric_names]
        if len(self.output_metrics) != len(self.output_metric_names):
            self.output_metrics = []
            for k, names in enumerate(self.output_metric_names):
                units = self.outputs[k].shape[-1]
                loss_k = self.output_losses[k] or self.output_losses[first]
                resolved = [metrics_mod.get(m, loss_k.function_name, units) for m in names]
                if self.multi_output:
                    for m in resolved:  # Keras logs them as "<output name>_<metric>"
                        m.name = f"{self._target_names[k]}_{m.name}"
                self.output_metrics.append(resolved)
            self.metrics = [m for ms in self.output_metrics for m in ms]

    def output_loss(self, k: int = 0) -> tuple[losses_mod.Loss, bool]:
        """Output ``k``'s loss, and whether it reads the logits of a final softmax/sigmoid."""
        loss = self.output_losses[k] if self.output_losses else self.loss
        layer = self.outputs[k].node.layer
        if isinstance(layer, ActivatedLayer) and layer.activation.name in ("softmax", "sigmoid"):
            twin = loss.logits_twin(layer.activation.name)
            if twin is not None:
                return twin, True
        return loss, False

    def _loss_input(self, k: int, y_pred_k):
        loss_fn, reads_logits = self.output_loss(k)
        if not reads_logits:
            return loss_fn, y_pred_k, False
        node = self.outputs[k].node
        if node not in self._caches:
            rematerialize(node.layer)  # (a layer made in a RematScope dropped its logits)
        cache = self._caches.get(node, vars(node.layer))
        return loss_fn, cache["preactivation"], True

    def loss_input(self, y_pred):
        return self._loss_input(0, _as_list(y_pred)[0])

    def compute_loss(self, y, y_pred, sample_weight=None):
        """The total loss ``sum_k w_k * loss_k`` over the outputs that have a loss and its
        gradient for each output, ``w_k * dloss_k/d output_k`` (each ``loss_k`` as
        :meth:`Model.compute_loss`; 0 for an output without a loss). ``y`` holds the targets of
        :attr:`loss_outputs`, in that order."""
        preds = _as_list(y_pred)
        douts = [np.zeros_like(pred) for pred in preds]
        via_logits = [False] * len(preds)
        total = 0.0
        self._last_output_losses = []
        if y is None:  # compiled without a loss, data without targets: model.losses alone
            return total, douts, via_logits
        for y_k, k in zip(y, self.loss_outputs, strict=True):
            loss_fn, output, reads_logits = self._loss_input(k, preds[k])
            w_k = None if sample_weight is None else sample_weight[k]
            loss_k, d_k = weighted_loss_and_grad(loss_fn, y_k, output, w_k)
            self._last_output_losses.append(loss_k)
            total += self.loss_weights[k] * loss_k
            douts[k] = d_k * d_k.dtype.type(self.loss_weights[k])
            via_logits[k] = reads_logits
        return total, douts, via_logits

    def evaluate_loss(self, y, y_pred, sample_weight=None) -> float:
        return self.compute_loss(y, y_pred, sample_weight)[0]

    def _update_metrics(self, loss: float, y, y_pred, sample_weight=None) -> dict[str, float]:
        n = len(_as_list(y_pred)[0])
        self.loss_tracker.update_value(loss, n)
        if y is None:  # compiled without a loss, data without targets (no metrics: _check_data)
            return self._logs()
        # (a compute_loss override logs them only where it calls super().compute_loss, as Keras)
        if self.output_loss_trackers and self._last_output_losses:  # a plain mean over batches,
            # as Keras' default fit logs it:
            # CompileLoss.call weighs each by `tree.flatten(y_p)[0].shape[0]`, which is None in the
            # tf.function Keras traces (the batch axis is unknown), so the weight falls away
            for tracker, value in zip(self.output_loss_trackers, self._last_output_losses,
                                      strict=True):
                tracker.update_value(value, 1)
        preds = _as_list(y_pred)
        for y_k, k in zip(y, self.loss_outputs, strict=True):
            for metric in self.output_metrics[k]:
                metric.update_state(y_k, preds[k])
        first = self.loss_outputs[0]
        for metric in self.weighted_metrics:
            if sample_weight is None:
                metric.update_state(y[0], preds[first])
            else:
                metric.update_state(y[0], preds[first], sample_weight=sample_weight[first])
        return self._logs()

    def _logs(self) -> dict[str, float]:
        """Keras' order: the loss, each output's loss (output order), then the metrics."""
        logs = {"loss": self.loss_tracker.result()}
        if self.multi_output:
            # (a compute_loss override logs them only once it called super().compute_loss)
            override = custom_loss.overrides_compute_loss(self)
            logs.update({t.name: t.result() for t in self.output_loss_trackers
                         if t.count or not override})
        metric_logs = self._add_metric_logs({})  # apart from the losses: sorted below
        if self.multi_output:
            metric_logs = dict(sorted(metric_logs.items()))
        logs.update(metric_logs)
        return logs

    def reset_metrics(self) -> None:
        super().reset_metrics()
        for tracker in self.output_loss_trackers:
            tracker.reset()

    # ------------------------------------------------------------------ data checks
    def _check_x(self, x, where: str) -> list[np.ndarray]:
        """The inputs as a list of arrays in ``self.inputs`` order, each checked against its
        Input's shape (with Keras' rank fix) and cast to float unless the Input says otherwise."""
        if x is None:
            raise ValueError(f"{where}: expected input data x, received None")
        arrays = self._structure(x, self.inputs, self.input_names, "input", where)
        checked = []
        for tensor, name, value in zip(self.inputs, self.input_names, arrays, strict=True):
            array = _as_array(value, f'x["{name}"]', where)
            if array.ndim == 0 or len(array) == 0:
                raise ValueError(f'{where}: expected at least one sample for input "{name}", '
                                 f"received shape {array.shape}")
            given = array
            array = _adjust_input_rank(array, tuple(tensor.shape[1:]))
            if not shape_matches(array.shape[1:], tensor.shape[1:]):
                expected = (self._batch_size(), *tensor.shape[1:])  # (a subclassed model's: None)
                raise ValueError(f'{where}: input "{name}" is incompatible with the model: '
                                 f"expected shape={expected}, found shape={tuple(given.shape)}")
            if tensor.dtype in ("float32", "float64"):
                if array.dtype.kind not in "iufb":
                    raise TypeError(f'{where}: expected input "{name}" to be numeric, received '
                                    f"dtype {array.dtype}")
                array = array.astype(self.compute_dtype, copy=False)
                if not np.all(np.isfinite(kernels.to_numpy(array))):
                    raise ValueError(f'{where}: input "{name}" contains NaN or infinity')
            checked.append(array)
        sizes = {len(a) for a in checked}
        if len(sizes) > 1:
            raise ValueError(f"{where}: data cardinality is ambiguous: x sizes: "
                             f"{[len(a) for a in checked]}; make sure all arrays contain the same "
                             "number of samples")
        return checked

    def _check_data(self, x, y, where: str, sample_weight=None) -> tuple:
        """``(inputs, targets, sample_weights)`` as lists (one per input/output), checked."""
        x = self._check_x(x, where)
        if y is None and self._takes_no_targets(where):
            return x, None, None
        if y is None:
            raise ValueError(f"{where}: expected targets y, received None")
        self._require_compiled(where)
        self._resolve_metrics()
        with_loss = self.loss_outputs  # (an output without a loss takes no targets)
        if len(with_loss) < len(self.outputs):  # targets for every output: the unread ones dropped
            if isinstance(y, list | tuple) and len(y) == len(self.outputs) \
                    and all(v is None or hasattr(v, "shape") for v in y):
                y = [y[k] for k in with_loss]
            elif isinstance(y, dict) and set(y) == set(self._target_names):
                y = {self._target_names[k]: y[self._target_names[k]] for k in with_loss}
        targets = self._structure(y, [self.outputs[k] for k in with_loss],
                                  [self._target_names[k] for k in with_loss], "output", where)
        n = len(x[0])
        checked = []
        for k, value in zip(with_loss, targets, strict=True):
            y_k = kernels.to_numpy(_as_array(value, f'y["{self._target_names[k]}"]', where))
            if y_k.ndim == 0 or len(y_k) != n:
                raise ValueError(f"{where}: data cardinality is ambiguous: x sizes: {n}, y sizes "
                                 f'for output "{self._target_names[k]}": '
                                 f"{len(y_k) if y_k.ndim else 'a scalar'}; make sure all arrays "
                                 "contain the same number of samples")
            template = loss_template(n, self.outputs[k].shape[1:], y_k, self.compute_dtype)
            loss_fn = self.output_losses[k] if self.output_losses else self.loss
            try:
                y_k, _ = loss_fn.check(y_k, template)
            except (ValueError, TypeError) as err:
                raise type(err)(f'{where}: output "{self._target_names[k]}": {err}') from err
            checked.append(y_k)
        if sample_weight is not None:
            per_output = isinstance(sample_weight, dict) or (
                isinstance(sample_weight, list | tuple) and len(sample_weight) == len(self.outputs)
                and all(hasattr(w, "shape") for w in sample_weight))
            if per_output:
                weights = self._structure(sample_weight, self.outputs, self._target_names, "output",
                                          where)
            else:  # one array of weights for every output, as Keras applies it
                weights = [sample_weight] * len(self.outputs)
            sample_weight = [self._check_sample_weight(w, n, where, tuple(t.shape[1:]))
                             for w, t in zip(weights, self.outputs, strict=True)]
        return x, checked, sample_weight

    def _structure(self, data, tensors, names, kind: str, where: str) -> list:
        """``data`` as a list in ``tensors`` order: from a dict keyed by name, a list, or (one
        tensor) the array itself. Missing or unknown keys are named."""
        if isinstance(data, dict):
            missing = [k for k in names if k not in data]
            if missing:
                raise ValueError(f'{where}: missing data for {kind} "{missing[0]}". You passed a '
                                 f"data dictionary with keys {sorted(data)}. Expected the "
                                 f"following keys: {names}")
            extra = sorted(set(data) - set(names))
            if extra:
                raise ValueError(f"{where}: unknown {kind} key(s) {extra} in the data dictionary; "
                                 f"the model's {kind}s are {names}")
            return [data[k] for k in names]
        if len(tensors) == 1:
            if isinstance(data, list | tuple) and len(data) == 1 and hasattr(data[0], "shape"):
                return [data[0]]
            return [data]
        if not isinstance(data, list | tuple) or len(data) != len(tensors):
            got = f"a list of {len(data)}" if isinstance(data, list | tuple) else \
                f"{type(data).__name__} of shape {getattr(data, 'shape', '?')}"
            raise ValueError(f"{where}: the model has {len(tensors)} {kind}s {names}: expected a "
                             f"list of {len(tensors)} arrays or a dict keyed by those names, "
                             f"received {got}")
        return list(data)

    # ------------------------------------------------------------------ predictions
    def _to_numpy_outputs(self, y_pred):
        """What ``model(x)`` and ``predict`` return: NumPy arrays, in the model's output structure
        (a dict of outputs by its keys, as Keras' ``predict`` returns it)."""
        if isinstance(y_pred, list):
            return self._packed_outputs([kernels.to_numpy(p) for p in y_pred])
        return kernels.to_numpy(y_pred)

    def _concatenate_batches(self, outputs: list):
        if self._output_keys is not None:
            return {key: np.concatenate([batch[key] for batch in outputs], axis=0)
                    for key in self._output_keys}
        if self._outputs_is_list:
            return [np.concatenate(parts, axis=0) for parts in zip(*outputs, strict=True)]
        return np.concatenate(outputs, axis=0)

    # ------------------------------------------------------------------ reporting
    def _summary_rows(self, layers) -> tuple[list[str], list[list[str]]]:
        """Keras' functional summary: layer, output shape, parameters, and what feeds it."""
        rows = []
        batch = self._batch_size()
        for layer in layers:
            nodes = [n for n in self._nodes if n.layer is layer]
            shape = (batch,) + tuple(layer.shape if isinstance(layer, InputLayer) else layer.output_shape)
            if len(nodes) > 1 and not nodes[-1].outputs:  # a layer called twice: Keras shows its last call
                shape = tuple(nodes[-1].output.shape)
            if nodes and nodes[-1].outputs:  # several outputs (return_state): Keras lists each shape
                shape = "[" + ", ".join(str(tuple(t.shape)) for t in nodes[-1].outputs) + "]"
            sources = [f"{t.node.layer.name}[0][{t.index}]" for n in nodes for t in n.inputs]
            rows.append([_layer_label(layer), str(shape),
                         f"{layer.count_params():,}", ", ".join(sources) or "-"])
        return ["Layer (type)", "Output Shape", "Param #", "Connected to"], rows

    def get_config(self) -> dict:
        """Keras' ``Functional.get_config()``: the model's name, each layer's entry (its class,
        config and inbound nodes) and the input and output layers, as ``config.json`` of a
        ``.keras`` file holds them (:func:`scratchnet.saving_functional.keras_config`).
        ``Model.from_config`` (or Keras') rebuilds the graph from it, with fresh weights."""
        from scratchnet import saving_keras

        config = saving_keras.model_config(self)["config"]
        return {key: config[key] for key in ("name", "trainable", "layers", "input_layers", "output_layers")}


# ---------------------------------------------------------------------- graph helpers
def _pool_after(nodes, outputs, shared) -> dict:
    """``{Conv2D node: the MaxPooling2D node after it}`` for the pairs a forward pass may run as
    one call: the pooling node is the only reader of the convolution's output, neither output is
    a model output (a loss reads the layer itself), and neither layer is used twice. Whether the
    pair does run as one depends on the layers' settings and the backend
    (``Conv2D.can_fuse_pool``), checked at each forward pass."""
    readers: dict[KerasTensor, list] = {}
    for node in nodes:
        for tensor in node.inputs:
            readers.setdefault(tensor, []).append(node)
    pairs = {}
    for node in nodes:
        after = readers.get(node.output, [])
        if (type(node.layer) is Conv2D and len(after) == 1 and type(after[0].layer) is MaxPooling2D
                and not after[0].inputs_as_list and node.output not in outputs
                and after[0].output not in outputs and node.layer not in shared
                and after[0].layer not in shared):
            pairs[node] = after[0]
    return pairs


def run_node(node: Node, values: dict, masks: dict, training: bool, for_backward: bool = True) -> None:
    """Run one layer call of a graph: its layer's forward pass on the arrays ``values`` holds for
    its input tensors (and their padding masks, ``masks``); the result goes into ``values`` (its
    mask into ``masks``) under the node's output tensor(s)."""
    if node.inputs_as_list and getattr(node.layer, "takes_list_masks", False):
        result, mask = _forward_list_with_masks(node, values, masks, training)
    elif node.inputs_as_list:  # a merging layer: a list in, no mask out
        xs = [values[t] for t in node.inputs]
        # (a layer made in a RematScope keeps only its inputs: scratchnet/remat.py)
        result = checkpointed_forward(node.layer, lambda: node.layer.forward(xs, training=training),
                                      for_backward)
        mask = None
    elif node.several_args:  # layer(query, value, key=...), LSTM(x, initial_state=[h, c])
        result, mask = _forward_several_args(node, values, masks, training, for_backward)
    else:
        tensor = node.inputs[0]
        result, mask = forward_with_mask(node.layer, values[tensor], masks.get(tensor),
                                         training=training, for_backward=for_backward)
    if node.inputs_as_list or node.several_args:  # (forward_with_mask records its own)
        node.layer.record_activity(result)  # activity_regularizer=...: a penalty on result
    if node.outputs:  # several outputs: a list of masks, one each (TemporalSplit's compute_mask),
        # or one mask that goes with the first output only (return_state)
        out_masks = list(mask) if isinstance(mask, list | tuple) else \
            [mask] + [None] * (len(node.outputs) - 1)
        for out, value, out_mask in zip(node.outputs, result, out_masks, strict=True):
            values[out], masks[out] = value, out_mask
    else:
        values[node.output], masks[node.output] = result, mask


def _forward_list_with_masks(node: Node, values: dict, masks: dict, training: bool) -> tuple:
    """``(result, mask of the output)`` of a layer called on a list that reads its inputs' masks
    (Attention: Keras hands it ``mask=[query_mask, value_mask]``), with the call's keyword
    arguments (``use_causal_mask=True``)."""
    xs = [values[t] for t in node.inputs]
    in_masks = [masks.get(t) for t in node.inputs]
    in_masks = in_masks if any(m is not None for m in in_masks) else None
    result = node.layer.forward(xs, training=training, mask=in_masks, **node.kwargs)
    return result, node.layer.compute_mask(xs, in_masks)


def _forward_several_args(node: Node, values: dict, masks: dict, training: bool,
                          for_backward: bool = True) -> tuple:
    """``(result, mask of the output)`` of a layer called on several tensors. The positional
    arrays go to ``forward`` as one array or a list (MultiHeadAttention's ``[query, value]``), the
    keyword ones by name. A recurrent layer given ``initial_state`` reads the padding mask of its
    sequence (the first input); no other such layer takes a mask yet."""
    layer = node.layer
    takes_mask = getattr(layer, "sequence_mask_with_states", False)
    if any(masks.get(t) is not None for t in node.inputs[1 if takes_mask else 0:]):
        raise ValueError(f'layer "{layer.name}" ({type(layer).__name__}) reads an input with a '
                         "padding mask, which scratchnet does not pass to a layer called on "
                         "several tensors yet")
    args, kwargs = node.call_arguments(values)
    mask = masks.get(node.inputs[0]) if takes_mask else None
    if mask is not None:
        kwargs["mask"] = mask
    given = args[0] if len(args) == 1 else args
    # (a layer made in a RematScope keeps only its inputs: scratchnet/remat.py)
    result = checkpointed_forward(layer, lambda: layer.forward(given, training=training, **kwargs),
                                  for_backward)
    out_mask = layer.compute_mask(args[0], mask) if mask is not None else None
    return result, out_mask


def _needs_input_grad(nodes) -> dict:
    """For each node (in call order): whether a layer with weights feeds one of its inputs,
    directly or through other layers; only then does its dL/d(input) reach a weight."""
    weighted: set = set()  # the nodes with weights at or before them
    needs = {}
    for node in nodes:
        needs[node] = any(t.node in weighted for t in node.inputs)
        if needs[node] or node.layer.weights:
            weighted.add(node)
    return needs


def _node_backward(layer: Layer, dy, dlogits):
    """``layer.backward(dy)``; when a loss read the layer's logits, ``dlogits`` joins the
    gradient after the activation: ``dz = dlogits + activation'(z) * dy``. An activity penalty's
    gradient joins ``dy`` first (:meth:`Layer.activity_gradient`)."""
    dy = layer.activity_gradient(dy)  # activity_regularizer=...: dR/dy / N joins dy
    if dlogits is None:
        return layer.backward(dy)
    dz = dlogits
    if dy is not None:
        dz = dz + layer.activation.backward(layer.preactivation, layer.activated, dy)
    return layer.backward_preactivation(dz)


def _accumulate(grads: dict, tensor: KerasTensor, grad) -> None:
    grads[tensor] = grad if tensor not in grads else grads[tensor] + grad


def _as_list(value) -> list:
    return list(value) if isinstance(value, list | tuple) else [value]


def _output_dict_keys(outputs) -> list[str] | None:
    """The keys of a dict of outputs, in the dict's order (None for a tensor or a list). Each
    value must be one tensor: scratchnet takes a flat dict, not Keras' nested structures."""
    if not isinstance(outputs, dict):
        return None
    if not outputs:
        raise ValueError(f"Model: expected at least one tensor in `outputs`, received {outputs!r}")
    for key, t in outputs.items():
        if not isinstance(key, str):
            raise ValueError(f"Model: the keys of a dict of `outputs` must be strings (they name the "
                             f"outputs in y, losses and logs), received key {key!r}")
        if not isinstance(t, KerasTensor):
            raise ValueError(f"All `outputs` values must be KerasTensors (made by Input(...) and "
                             f"layer calls; scratchnet takes a flat dict). Received: "
                             f"outputs[{key!r}]={t!r} of type {type(t).__name__}")
    return list(outputs)


def _flatten_tensors(value, arg: str) -> list[KerasTensor]:
    if isinstance(value, dict):
        for key, t in value.items():
            if isinstance(t, KerasTensor) and key != t.name:
                raise ValueError(f"Model: when `{arg}` is a dict, each key must be its Input's "
                                 f"name; received key {key!r} for {t} (name it Input(..., "
                                 f"name={key!r}))")
        value = list(value.values())
    tensors = list(value) if isinstance(value, list | tuple) else [value]
    if not tensors:
        raise ValueError(f"Model: expected at least one tensor in `{arg}`, received {value!r}")
    for t in tensors:
        if not isinstance(t, KerasTensor):
            raise ValueError(f"All `{arg}` values must be KerasTensors (made by Input(...) and "
                             f"layer calls). Received: {arg}={value!r} including invalid value "
                             f"{t!r} of type {type(t).__name__}")
    return tensors


def _clone_graph_from(inputs, flat_inputs: list[KerasTensor], outputs, flat_outputs: list[KerasTensor]):
    """Keras' ``clone_graph_nodes``, for ``Model(inputs, outputs)`` whose inputs are not all
    ``Input(...)`` tensors (``Model(feature_space.get_encoded_features(), outputs)``): each such
    input gets a new ``Input`` of its shape and dtype, named ``<name>CLONE``, and every layer call
    between the inputs and the outputs is recorded again on the new tensors (a new :class:`Node`
    of the same layer, so the weights are shared with the graph it came from). Returns the new
    ``(inputs, outputs)`` in the structures given."""
    mapping: dict[KerasTensor, KerasTensor] = {}
    for t in flat_inputs:
        if isinstance(t.node.layer, InputLayer) or t in mapping:
            mapping[t] = t
            continue
        mapping[t] = InputLayer(batch_shape=t.shape, dtype=t.dtype, name=f"{t.name}CLONE").output
    new_outputs = replay_graph(mapping, flat_outputs)
    new_inputs = [mapping[t] for t in flat_inputs]
    return _restructure(inputs, new_inputs), _restructure(outputs, new_outputs)


def call_on_tensors(model: Functional, x):
    """``model(x)`` on KerasTensors: the model's layer calls recorded again from ``x`` (one
    tensor, or a list, one per model input) to its outputs, so its layers join the outer graph
    with their weights shared (as a nested ``Sequential`` does; Keras lists the nested model as
    one layer, scratchnet lists its layers). Returns the outputs in the model's structure."""
    given = list(x) if isinstance(x, list | tuple) else [x]
    if len(given) != len(model.inputs):
        raise ValueError(f'model "{model.name}" expects {len(model.inputs)} input(s), received '
                         f"{len(given)} tensor(s): {given}")
    for mine, theirs in zip(model.inputs, given, strict=True):
        if not shape_matches(tuple(theirs.shape[1:]), tuple(mine.shape[1:])):
            raise ValueError(f'Input of model "{model.name}" is incompatible with the model: '
                             f"expected shape={tuple(mine.shape)}, found shape={tuple(theirs.shape)}")
    new_outputs = replay_graph(dict(zip(model.inputs, given, strict=True)), model.outputs)
    tag_nested_call(model, given, new_outputs)
    return model._packed_outputs(new_outputs)


@dataclass(eq=False)
class NestedCall:
    """One call of a model on KerasTensors (``inner(x)`` in an outer functional model, a
    ``Sequential`` called on a tensor): its layer calls are replayed into the outer graph, each
    :class:`Node` pointing here (``node.nested_call``), so that the outer model can order its
    layers as Keras does, where the call is ONE node of the nested model."""

    model: Model
    inputs: list[KerasTensor]
    outputs: list[KerasTensor]


def tag_nested_call(model: Model, inputs: list[KerasTensor], outputs: list[KerasTensor]) -> None:
    """Mark every node between ``inputs`` and ``outputs`` (just recorded by ``model(inputs)``) as
    one call of ``model``; a node a call inside it recorded is re-marked (the outer call is the
    one node the outer model sees; the nested model's own order covers the rest)."""
    call = NestedCall(model, list(inputs), list(outputs))
    given = {id(t) for t in inputs}
    seen: set[Node] = set()
    stack = [t for t in outputs if id(t) not in given]
    while stack:
        node = stack.pop().node
        if node in seen or isinstance(node.layer, InputLayer):
            continue
        seen.add(node)
        node.nested_call = call
        stack += [t for t in node.inputs if id(t) not in given]


def replay_graph(mapping: dict, flat_outputs: list[KerasTensor]) -> list[KerasTensor]:
    """Record again every layer call between the tensors ``mapping`` names (original -> new) and
    ``flat_outputs``, on the new tensors: a new :class:`Node` of the same layer each. Returns the
    new tensors of ``flat_outputs``. An ``Input`` not in ``mapping`` is left as it is (the model
    built on the result then names it in its graph check)."""
    cloned_nodes: dict[Node, Node] = {}

    def clone(tensor: KerasTensor) -> KerasTensor:
        if tensor in mapping:
            return mapping[tensor]
        node = tensor.node
        if isinstance(node.layer, InputLayer):
            return tensor
        if node not in cloned_nodes:
            new_inputs = [clone(parent) for parent in node.inputs]
            new_kwargs = {key: _map_tensors(value, {t: clone(t) for t in keyword_tensors(value)})
                          for key, value in node.kwargs.items()}
            new = Node(node.layer, new_inputs, inputs_as_list=node.inputs_as_list, kwargs=new_kwargs,
                       training=node.training)
            batch = new_inputs[0].shape[0] if new_inputs else node.output.shape[0]
            new.output = KerasTensor((batch,) + tuple(node.output.shape[1:]), node.output.dtype,
                                     node.output.name, new)
            if node.outputs:
                new.outputs = [new.output] + [
                    KerasTensor((batch,) + tuple(t.shape[1:]), t.dtype, t.name, new, t.index)
                    for t in node.outputs[1:]]
            node.layer._inbound_nodes.append(new)
            cloned_nodes[node] = new
        return cloned_nodes[node].all_outputs[tensor.index]

    new_outputs = [clone(t) for t in flat_outputs]
    _replay_nested_calls(mapping, cloned_nodes)
    return new_outputs


def _replay_nested_calls(mapping: dict, cloned_nodes: dict) -> None:
    """The replayed nodes of a nested model's call belong to one replayed call, with its inputs
    and outputs replayed; a call whose inputs or outputs were not all replayed (the new graph
    starts inside it) leaves its nodes as plain layer calls."""
    def image(t: KerasTensor) -> KerasTensor | None:
        if t in mapping:
            return mapping[t]
        if t.node in cloned_nodes:
            return cloned_nodes[t.node].all_outputs[t.index]
        return None

    replayed: dict[NestedCall, NestedCall | None] = {}
    for old, new in cloned_nodes.items():
        call = old.nested_call
        if call is None:
            continue
        if call not in replayed:
            inputs, outputs = [image(t) for t in call.inputs], [image(t) for t in call.outputs]
            whole = None not in inputs and None not in outputs
            replayed[call] = NestedCall(call.model, inputs, outputs) if whole else None
        new.nested_call = replayed[call]


def _restructure(value, new_flat: list[KerasTensor]):
    """``new_flat`` in ``value``'s structure (a dict by the same keys, a list, or one tensor)."""
    if isinstance(value, dict):
        return dict(zip(value, new_flat, strict=True))
    if isinstance(value, list | tuple):
        return type(value)(new_flat)
    return new_flat[0]


def graph_nodes(given: list[KerasTensor], outputs: list[KerasTensor], owner: str = "model") -> list[Node]:
    """The nodes from the ``given`` tensors to the ``outputs``, each after the nodes it reads
    (Keras' depth-first ``_build_map`` and ``map_graph``, ``keras/src/ops/function.py``, which
    both ``keras.Function`` and a functional ``keras.Model`` are built on).

    The walk goes back from each output and stops at a given tensor that a layer made (not an
    ``Input``): a :class:`~scratchnet.function.Function` may start in the middle of a graph, and
    what made that tensor is outside it. A ``Model``'s given tensors are all ``Input`` s. Given
    ``Input`` s no output depends on still belong to the graph, first, in the order given (Keras).

    Refuses, with ``ValueError``: a cycle; an ``Input`` that is not given, which an output needs
    (``owner`` names whose inputs, in the message); and a node that reads a tensor neither given
    nor made by an earlier node (a sibling output of a layer whose other output is given:
    Keras' "Graph disconnected" check)."""
    given_ids = {id(t) for t in given}
    given_input_nodes = {t.node for t in given if isinstance(t.node.layer, InputLayer)}
    order: list[Node] = []
    finished: set[Node] = set()
    in_progress: set[Node] = set()

    def visit(tensor: KerasTensor) -> None:
        node = tensor.node
        if node in finished:
            return
        if id(tensor) in given_ids and not isinstance(node.layer, InputLayer):
            finished.add(node)  # the graph starts at this tensor; its node is outside it
            return
        if node in in_progress:
            raise ValueError(f"Tensor {tensor} from operation '{node.layer.name}' is part of a cycle.")
        if isinstance(node.layer, InputLayer) and node not in given_input_nodes \
                and not isinstance(node.layer, ConstantLayer):
            raise ValueError(f"Graph disconnected: cannot obtain value for tensor {tensor} (Input "
                             f'"{node.layer.name}"), which an output depends on, from the {owner} '
                             f"inputs {[t.name for t in given]}")
        in_progress.add(node)
        for parent in node.inputs:
            visit(parent)
        in_progress.remove(node)
        finished.add(node)
        order.append(node)

    for t in outputs:
        visit(t)
    unused = []
    for t in given:  # given Inputs no output depends on
        if isinstance(t.node.layer, InputLayer) and t.node not in finished:
            unused.append(t.node)
            finished.add(t.node)
    order[:0] = unused
    _check_computable(given, order)
    return order


def _check_computable(given: list[KerasTensor], nodes: list[Node]) -> None:
    """Every node reads tensors that are given or made by an earlier node (the check at the end
    of Keras' ``map_graph``), else ``ValueError: Graph disconnected``."""
    computable = {id(t) for t in given}
    done: list[str] = []
    for node in nodes:
        for t in node.inputs:
            if id(t) not in computable:
                raise ValueError(f"Graph disconnected: cannot find parent for tensor {t} at operation "
                                 f"'{node.layer.name}'. The following previous operations were accessed "
                                 f"without issue: {done}")
        done.append(node.layer.name)
        computable.update(id(t) for t in node.all_outputs)


def keras_operations(inputs: list[KerasTensor], outputs: list[KerasTensor], nodes: list[Node],
                     nested: bool = True) -> list:
    """Keras' ``model.operations`` of this graph (``map_graph``, ``keras/src/ops/function.py``):
    by depth from the outputs, deepest first (inputs), ties by the first visit of Keras'
    depth-first walk from the outputs (``_build_map``).

    A nested model's call (``node.nested_call``) is ONE node of Keras' graph, whose parents are
    the tensors the model was called on, and the nested model one operation. ``nested=False``:
    every layer call on its own (the order Keras gives the same graph written flat, as
    scratchnet's files hold it)."""
    given = {id(t) for t in inputs}
    known = given | {id(t) for node in nodes for t in node.all_outputs}
    calls = _whole_nested_calls(nodes, outputs, inputs) if nested else set()

    def unit(tensor: KerasTensor) -> tuple:
        """``(graph node, operation, parent tensors)``: the nested call, or the layer call."""
        call = tensor.node.nested_call
        if call in calls and any(t is tensor for t in call.outputs):
            return call, call.model, [t for t in call.inputs if id(t) in known]
        return tensor.node, tensor.node.layer, tensor.node.inputs

    index: dict = {}  # operation -> first visit (Keras' operation_indices)
    finished: set = set()
    order: list[tuple] = []  # graph nodes, each after those it reads (_build_map)

    def visit(tensor: KerasTensor) -> None:
        if id(tensor) not in known:
            return
        node, op, parents = unit(tensor)
        if node in finished:
            return
        if id(tensor) in given and not isinstance(op, InputLayer):
            finished.add(node)  # a Function starting here: its node is outside the graph
            return
        index.setdefault(op, len(index))
        for t in parents:
            visit(t)
        finished.add(node)
        order.append((node, op, parents))

    for t in outputs:
        visit(t)
    in_graph = {node for node, _, _ in order}
    node_depth: dict = {}
    op_depth: dict = {}
    for node, op, parents in reversed(order):
        depth = max(node_depth.setdefault(node, 0), op_depth.get(op, 0))  # a shared op: its deepest
        op_depth[op] = depth
        node_depth[node] = depth
        for t in parents:
            parent = unit(t)[0]
            if parent in in_graph:
                node_depth[parent] = max(depth + 1, node_depth.get(parent, 0))
    for t in inputs:  # unused inputs come first in Keras' walk too
        if isinstance(t.node.layer, InputLayer) and t.node.layer not in op_depth:
            op_depth[t.node.layer] = 0
            index[t.node.layer] = -1
    return sorted(op_depth, key=lambda op: (-op_depth[op], index[op]))


def _layers_in_keras_order(inputs: list[KerasTensor], outputs: list[KerasTensor], nodes: list[Node],
                           nested: bool = True) -> list[Layer]:
    """``model.layers`` as Keras orders them (and so ``get_weights``): :func:`keras_operations`,
    each nested model standing for its own layers (those this graph calls), in its own order
    (Keras' ``weights``: each entry of ``layers`` in turn, a nested model's weights its layers')."""
    return _layers_of_operations(keras_operations(inputs, outputs, nodes, nested), nodes)


def _layers_of_operations(ops: list, nodes: list[Node]) -> list[Layer]:
    """:func:`_layers_in_keras_order` of the operations ``ops`` (:func:`keras_operations`) of the
    graph of ``nodes``."""
    graph_layers = {node.layer for node in nodes}
    layers: list[Layer] = []
    seen: set[Layer] = set()
    for op in ops:
        members = [la for la in getattr(op, "operations", op.layers) if la in graph_layers] \
            if isinstance(op, Model) else [op]
        for layer in members:
            if layer not in seen:
                seen.add(layer)
                layers.append(layer)
    for node in nodes:  # (none left but in a graph the rules above do not foresee)
        if node.layer not in seen:
            seen.add(node.layer)
            layers.append(node.layer)
    return layers


def _whole_nested_calls(nodes: list[Node], outputs: list[KerasTensor], given: list[KerasTensor]) -> set:
    """The nested calls this graph holds whole: only their outputs are read outside them or are
    outputs of the graph, and no given tensor is made inside one (the graph would start there)."""
    calls = {node.nested_call for node in nodes if node.nested_call is not None}
    made_in = {id(t): node.nested_call for node in nodes for t in node.all_outputs}

    def read(t: KerasTensor, reader_call) -> None:
        call = made_in.get(id(t))
        if call is not None and call is not reader_call and not any(o is t for o in call.outputs):
            calls.discard(call)  # a tensor inside the call used outside it

    for node in nodes:
        for t in node.inputs:
            read(t, node.nested_call)
    for t in outputs:
        read(t, None)
    for t in given:
        calls.discard(t.node.nested_call)
    return calls


def _unique_names(layers: list[Layer]) -> None:
    """Keras needs unique layer names in a model. A layer with its default name (``dense``, or the
    ``dense_1`` that scratchnet's per-model numbering gave it, where Keras' names are unique in the
    whole session: a teacher and a student model held by one distiller), or the name an op gave
    its layer (``multiply`` beside a ``Multiply``'s), is renamed ``dense_1``, ``dense_2``, ... in
    layer order, the first free; other duplicates are refused."""
    taken: dict[str, int] = {}
    for layer in layers:
        taken[layer.name] = taken.get(layer.name, 0) + 1
    seen: set[str] = set()
    for layer in layers:
        if layer.name not in seen:
            seen.add(layer.name)
            continue
        if getattr(layer, "_auto_name", False):  # an op's layer: its name is its default
            base = layer.name
        else:
            base = _snake_case(type(layer).__name__)
            if not re.fullmatch(rf"{re.escape(base)}(_\d+)?", layer.name):
                raise ValueError(f'The name "{layer.name}" is used {taken[layer.name]} times in the '
                                 "model. All layer names should be unique.")
        i = 1
        while f"{base}_{i}" in seen or f"{base}_{i}" in taken:
            i += 1
        layer.name = f"{base}_{i}"
        for p in layer.weights:  # (a layer made of layers: its sub-layers' too)
            p.name = f"{layer.name}/{p.name.split('/', 1)[1]}"
        seen.add(layer.name)
