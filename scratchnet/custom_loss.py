"""A model class that overrides Keras' ``compute_loss(x, y, y_pred, sample_weight)``.

::

    class Distiller(sn.Model):                      # keras.io's knowledge distillation example
        def __init__(self, student, teacher):
            super().__init__()
            self.teacher = teacher
            self.student = student

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, allow_empty=False):
            teacher_pred = self.teacher(x, training=False)
            student_loss = self.student_loss_fn(y, y_pred)
            distillation_loss = self.distillation_loss_fn(
                ops.softmax(teacher_pred / self.temperature, axis=1),
                ops.softmax(y_pred / self.temperature, axis=1)) * self.temperature**2
            return self.alpha * student_loss + (1 - self.alpha) * distillation_loss

        def call(self, x):
            return self.student(x)

Keras' ``train_step`` runs ``y_pred = self(x, training=True)``, then ``loss = self.compute_loss(x, y,
y_pred, sample_weight)`` (``keras/src/trainers/trainer.py``: ``_compute_loss`` passes ``training``
only to an override that takes it), and differentiates ``loss`` with respect to every trainable
weight of the model; ``test_step`` calls the same ``compute_loss`` on the inference prediction.
Such a model may be compiled without a loss (``super().compile(optimizer=..., metrics=...)``);
its metrics still read ``y`` and ``y_pred``. An override replaces Keras' default
``compute_loss`` entirely, so the model's own penalties (``model.losses``) count only if the
override adds them (below).

scratchnet's backward pass starts from ``dL/dy_pred``, so the override runs on the gradient tape
(:mod:`scratchnet.autodiff`) with ``y_pred`` traced: losses (a ``Loss`` object called on a traced
prediction, :meth:`scratchnet.losses.Loss.__call__`), ``sn.ops`` and arithmetic record their
rules, and reading the tape backwards gives ``dL/dy_pred``, which the model's backward pass takes
from there. ``x`` is traced too, as the data: another model called on it inside the override (the
distiller's teacher) records a rule that runs *that* model's backward pass, so the loss's gradient
reaches its weights as well, as ``tf.GradientTape`` sends it in Keras. (Keras' example thereby
moves its teacher during distillation: the teacher's weights are among the distiller's trainable
weights, since ``self.teacher`` is tracked.) The data itself gets no gradient. A model called on a
computed value instead (a critic on ``y_pred``, a teacher on ``x * 2.0``) passes ``dL/dx`` on from
every layer, its first too, so the gradient reaches what that value came from. Each model is called
once per step, and not the model itself: its backward pass reads the caches of its one forward pass.

``model.losses`` (regularizers, ``add_loss`` terms) count as the override counts them, as in
Keras: inside it they are traced values of the step's forward pass, and
``super().compute_loss(x, y, y_pred, sample_weight)`` is Keras' default (:func:`default_compute_loss`:
the compiled loss, if any, plus ``model.losses``). The tape then gives ``dL/d(term)`` for each
term: a weight penalty ``R(w)`` adds that multiple of ``dR/dw`` to ``w``'s gradient (nothing when
the override ignores it). An activity penalty or an ``add_loss`` term has its gradient seeded by
the backward pass itself, inside its layer, with ``dL/d(term)`` (:attr:`Layer.loss_seed`: 0
where the override ignores the terms, 1 for ``super().compute_loss`` or ``ops.sum(self.losses)``):
one number for all of them, so an override weighing them unequally is refused. With several
outputs ``y_pred`` is a list (a dict by its keys, as ``call`` returned it) and the backward pass
starts from one ``dL/dy_pred`` per output.
"""

from __future__ import annotations

import contextlib
import inspect

import numpy as np

from scratchnet import kernels
from scratchnet.autodiff import Tape, Traced
from scratchnet.losses import ComputeLossOverride


def overrides_compute_loss(model) -> bool:
    """Whether ``model``'s class overrides ``compute_loss`` with Keras' signature (its first
    argument ``x``; scratchnet's own ``compute_loss(y, y_pred, sample_weight)`` is another)."""
    fn = type(model).compute_loss
    if getattr(fn, "__module__", "").startswith("scratchnet."):
        return False
    try:
        names = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return False
    return len(names) > 1 and names[1] == "x"


def _user_structures(model, x, y, sample_weight):
    """The data as Keras' ``train_step`` hands it to ``compute_loss``: one array for one input
    (output), a list for several (scratchnet's functional models keep lists internally)."""
    def one(value):
        if isinstance(value, list) and len(value) == 1:
            return value[0]
        return value
    return one(x), one(y), None if sample_weight is None else one(sample_weight)


def _refuse(model, what: str) -> None:
    raise NotImplementedError(f'model "{model.name}" ({type(model).__name__}) overrides '
                              f"compute_loss(x, y, y_pred, ...): {what} is not implemented with it")


def _call(model, x, y, y_pred, sample_weight, training: bool):
    """``compute_loss`` as Keras' ``_compute_loss`` calls it: ``training`` only if it takes it."""
    takes_training = "training" in inspect.signature(type(model).compute_loss).parameters
    kwargs = {"training": training} if takes_training else {}
    return model.compute_loss(x, y, y_pred, sample_weight, **kwargs)


def _check_scalar(model, value) -> None:
    shape = np.shape(value.value if isinstance(value, Traced) else value)
    if shape not in ((), (1,)):
        raise ValueError(f'model "{model.name}": compute_loss must return a scalar loss, received '
                         f"a value of shape {shape}")


def _structured(model, preds: list):
    """The predictions as the model's ``call`` returned them, as Keras hands ``y_pred`` over: one
    array for one output, a list for several, a dict by its keys for a dict of outputs."""
    return model._packed_outputs(preds) if len(preds) > 1 or getattr(model, "_output_keys", None) \
        else preds[0]


def _penalized_weights(model) -> list:
    """The weights whose penalties close ``model.losses`` (each trainable weight with a
    regularizer, layer by layer: :attr:`Layer.weight_losses`), in that order."""
    if not model.trainable:
        return []
    return [p for layer in model.layers for p in layer.trainable_weights if p.regularizer is not None]


def loss_and_gradient(model, x, y, y_pred, sample_weight) -> tuple[float, object, list, float]:
    """For ``train_step``: the override's loss, ``dL/dy_pred`` (a list for several outputs),
    ``[(Parameter, gradient)]`` for the weights of other models it called on ``x`` and for the
    regularized weights, to add after the model's own backward pass (which leaves 0 in weights
    outside its graph and adds no weight penalty), and the seed of the added terms (below).

    ``model.losses`` reads, inside the override, the penalties of this forward pass as traced
    values (Keras' ``_losses_override``), so the tape gives ``dL/d(term)`` for each: a weight
    penalty ``R(w)`` read ``c`` times adds ``c * dR/dw`` (0 where the override ignores it, as
    Keras leaves it out then). The activity penalties and ``add_loss`` terms have their gradient
    seeded by the backward pass itself, inside their layers (:attr:`Layer.loss_seed`, 1 by
    default): the override's ``dL/d(term)`` becomes that seed, which must be one number for every
    cell of every such term (0: ignored, 1: ``super().compute_loss`` or ``ops.sum(self.losses)``,
    ``c``: ``c * ops.sum(self.losses)``); an override that weighs them unequally is refused."""
    model._last_output_losses = []  # (filled if it calls super().compute_loss with a compiled loss)
    x, y, sample_weight = _user_structures(model, x, y, sample_weight)
    preds = list(y_pred) if isinstance(y_pred, list | tuple) else [y_pred]
    tape = Tape(f'model "{model.name}" ({type(model).__name__}).compute_loss')
    tape.data = [tape.watch(a) for a in (x if isinstance(x, list) else [x])]
    tape.model_grads = []  # filled by Model.__call__'s rule (models called on traced values)
    tape.owner, tape.called, tape.restore = model, [], []
    traced_x = tape.data if isinstance(x, list) else tape.data[0]
    traced_preds = [tape.watch(p) for p in preds]
    terms = [tape.watch(np.asarray(kernels.to_numpy(t))) for t in model.losses]
    model._losses_override = terms
    try:
        value = _call(model, traced_x, y, _structured(model, traced_preds), sample_weight, training=True)
        _check_scalar(model, value)
        if isinstance(value, Traced):
            grads = tape.gradients([(value, np.ones(value.shape, value.dtype))], [*traced_preds, *terms])
        else:  # a loss that depends on neither the prediction nor a penalty
            grads = [np.zeros_like(np.asarray(v.value)) for v in (*traced_preds, *terms)]
    finally:
        model._losses_override = None
        for undo in tape.restore:  # (models called on computed values: their usual passes back)
            undo()
    dpreds = [d.astype(p.dtype, copy=False) for d, p in zip(grads[:len(preds)], preds, strict=True)]
    weights = _penalized_weights(model)
    added, dweights = grads[len(preds):len(grads) - len(weights)], grads[len(grads) - len(weights):]
    seeds = {float(c) for d in added for c in np.unique(d)}
    if len(seeds) > 1:
        _refuse(model, "an override that weighs the add_loss and activity_regularizer terms of "
                f"model.losses unequally (dL/dterm takes the values {sorted(seeds)}; scratchnet's "
                "backward pass seeds them all with one number, as ops.sum(self.losses) times a "
                "factor does)")
    penalty_grads = [(p, c.astype(p.value.dtype).reshape(()) * p.regularizer.gradient(p.value))
                     for p, c in zip(weights, dweights, strict=True) if np.any(c != 0)]
    loss = float(np.asarray(value.value if isinstance(value, Traced) else value).reshape(()))
    doutput = dpreds if isinstance(y_pred, list | tuple) else dpreds[0]
    return loss, doutput, tape.model_grads + penalty_grads, seeds.pop() if seeds else 1.0


@contextlib.contextmanager
def seeding_added_losses(model, seed: float):
    """For the backward pass after :func:`loss_and_gradient`: every layer of ``model`` (those
    inside layers and the model's own ``add_loss`` layers too) seeds its activity penalties and
    ``add_loss`` terms with ``seed`` (:attr:`Layer.loss_seed`) instead of 1."""
    if seed == 1:
        yield
        return
    layers = [*model.layers, *(node.layer for node in (getattr(model, "_loss_nodes", None) or ()))]
    layers = list({id(layer): layer for top in layers
                   for layer in (top, *top._flatten_sublayers())}.values())
    for layer in layers:
        layer.loss_seed = seed
    try:
        yield
    finally:
        for layer in layers:
            del layer.loss_seed  # (back to the class's 1.0)


def loss_value(model, x, y, y_pred, sample_weight) -> float:
    """For ``test_step``: the override's loss on the inference prediction (plain arrays)."""
    model._last_output_losses = []  # (filled if it calls super().compute_loss with a compiled loss)
    x, y, sample_weight = _user_structures(model, x, y, sample_weight)
    preds = list(y_pred) if isinstance(y_pred, list | tuple) else [y_pred]
    value = _call(model, x, y, _structured(model, preds), sample_weight, training=False)
    _check_scalar(model, value)
    return float(np.asarray(value).reshape(()))


def default_compute_loss(model, x=None, y=None, y_pred=None, sample_weight=None, training=True):
    """Keras' own ``Trainer.compute_loss`` (``keras/src/trainers/trainer.py``), which an override
    reaches by ``super().compute_loss(x, y, y_pred, sample_weight)``: the compiled loss, if
    ``compile`` was given one, plus each term of ``model.losses`` summed
    (``_aggregate_additional_loss``: ``ops.sum``); ``ValueError`` when there is neither. On the
    traced values of a training step (:func:`loss_and_gradient`) the result is traced too."""
    del x, training  # (Keras' default does not read them either)
    losses = []
    if getattr(model, "output_losses", None) and not isinstance(model.loss, ComputeLossOverride):
        losses.append(_compiled_loss(model, y, y_pred, sample_weight))
    losses += [np.sum(term) for term in model.losses]
    if not losses:
        raise ValueError(f'model "{model.name}": No loss to compute. Provide a `loss` argument in '
                         "`compile()` (compute_loss found no compiled loss and no model.losses)")
    total = losses[0]
    for term in losses[1:]:
        total = total + term
    return total


def _compiled_loss(model, y, y_pred, sample_weight):
    """Keras' ``CompileLoss``: ``sum_k w_k * loss_k(y_k, y_pred_k, sample_weight_k)`` over the
    outputs that have a loss (one output: its loss alone)."""
    def as_list(value, n):
        if isinstance(value, dict):
            return [value[key] for key in sorted(value)]
        return list(value) if isinstance(value, list | tuple) and n > 1 else [value]

    n = len(model.outputs)
    preds = as_list(y_pred, n)
    outputs = model.loss_outputs
    targets = as_list(y, len(outputs))
    weights = [None] * n if sample_weight is None else as_list(sample_weight, n)
    total = None
    model._last_output_losses = []  # each output's loss, for its `<output>_loss` log
    for y_k, k in zip(targets, outputs, strict=True):
        term = model.output_losses[k](y_k, preds[k], weights[k])
        model._last_output_losses.append(float(np.asarray(term.value if isinstance(term, Traced) else term)))
        if model.loss_weights[k] != 1.0:
            term = term * np.asarray(model.loss_weights[k], preds[k].dtype)
        total = term if total is None else total + term
    return total


def call_model_on_tape(model, x: Traced, training: bool) -> Traced:
    """``model(x)`` where ``x`` is traced by :func:`loss_and_gradient`: the data, or a value
    computed on the tape (``self.critic(y_pred)``, ``self.teacher(x * 2.0)``). The forward pass,
    recorded with a rule that runs ``model``'s backward pass from the gradient of its output
    (filling its weights' gradients, kept on the tape for the step) and gives ``x`` its gradient,
    as ``tf.GradientTape`` does through a nested call: every layer passes ``dL/dx`` on then, the
    first one too (:func:`_passing_input_gradient`); the data itself gets 0. Each model may be
    called once per step (a second call would overwrite the caches the first one's backward pass
    reads), and not the model whose ``compute_loss`` this is (its own forward pass's caches)."""
    tape = x.tape
    if model is getattr(tape, "owner", None):
        raise NotImplementedError(f'{tape.where}: the model calls itself inside its compute_loss; '
                                  "scratchnet's backward pass reads the caches of the step's one "
                                  "forward pass, which a second call would overwrite")
    if any(model is called for called in tape.called):
        raise NotImplementedError(f'{tape.where}: model "{model.name}" is called twice inside '
                                  "compute_loss; scratchnet's backward pass reads the caches of one "
                                  "call, which the second would overwrite: call it once")
    tape.called.append(model)
    from_data = any(x is data for data in getattr(tape, "data", []))
    if not from_data:
        tape.restore.append(_passing_input_gradient(model))
    y = model.forward(model._check_x(x.value, "call"), training=training)
    if isinstance(y, list | tuple):
        raise NotImplementedError(f'{tape.where}: model "{model.name}" has several outputs; a model '
                                  "called inside compute_loss must have one")

    def rule(dy):
        dx = _backward_to_input(model, dy.astype(y.dtype, copy=False), wanted=not from_data)
        tape.model_grads.extend((p, p.grad) for p in model.params)
        return np.zeros_like(x.value) if dx is None else dx.astype(x.value.dtype, copy=False)

    return tape.record(y, [(x, rule)])


def _graph_of(model):
    """The functional graph a model's passes run, or None for a Sequential model of layers."""
    from scratchnet.functional import Functional

    if isinstance(model, Functional):
        return model
    return model._as_functional() if getattr(model, "_keras_entries", None) is not None else None


def _passing_input_gradient(model):
    """Before ``model``'s forward pass: make every layer pass ``dL/dx`` on, the first one too (a
    layer run by the tape decides at its forward pass to record). Returns what undoes it."""
    graph = _graph_of(model)
    if graph is None:
        for layer in model.layers:
            layer.compute_input_grad = True
        return model._mark_first_trainable
    wanted = dict(graph._needs_input_grad)
    for node in graph._nodes:
        graph._needs_input_grad[node] = True

    def undo():
        graph._needs_input_grad.clear()
        graph._needs_input_grad.update(wanted)
    return undo


def _backward_to_input(model, dy, wanted: bool):
    """``model``'s backward pass from ``dy``; with ``wanted``, ``dL/dx`` of its input (after
    :func:`_passing_input_gradient`), else None."""
    if not wanted:
        model.backward(dy)
        return None
    graph = _graph_of(model)
    if graph is not None:
        return graph.backward([dy], [False])[0]
    from scratchnet.model import Model

    return Model.backward(model, dy, to_input=True)  # (a Sequential of layers: Model's pass)


__all__ = ["overrides_compute_loss", "loss_and_gradient", "seeding_added_losses", "loss_value",
           "default_compute_loss", "call_model_on_tape"]
