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
override adds them.

scratchnet's backward pass starts from ``dL/dy_pred``, so the override runs on the gradient tape
(:mod:`scratchnet.autodiff`) with ``y_pred`` traced: losses (a ``Loss`` object called on a traced
prediction, :meth:`scratchnet.losses.Loss.__call__`), ``sn.ops`` and arithmetic record their
rules, and reading the tape backwards gives ``dL/dy_pred``, which the model's backward pass takes
from there. ``x`` is traced too, as the data: another model called on it inside the override (the
distiller's teacher) records a rule that runs *that* model's backward pass, so the loss's gradient
reaches its weights as well, as ``tf.GradientTape`` sends it in Keras. (Keras' example thereby
moves its teacher during distillation: the teacher's weights are among the distiller's trainable
weights, since ``self.teacher`` is tracked.) The data itself gets no gradient.
"""

from __future__ import annotations

import inspect

import numpy as np

from scratchnet.autodiff import Tape, Traced


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


def loss_and_gradient(model, x, y, y_pred, sample_weight) -> tuple[float, np.ndarray, list]:
    """For ``train_step``: the override's loss, ``dL/dy_pred``, and ``[(Parameter, gradient)]`` for
    the weights of other models it called on ``x`` (to add after the model's own backward pass,
    which leaves 0 in weights outside its graph)."""
    if isinstance(y_pred, list | tuple) and len(y_pred) != 1:
        _refuse(model, "a model of several outputs")
    if any(getattr(layer, "activity_regularizer", None) is not None or layer.weight_losses
           for layer in model.layers):
        _refuse(model, "a regularizer (Keras counts model.losses only where the override adds them)")
    x, y, sample_weight = _user_structures(model, x, y, sample_weight)
    single = y_pred[0] if isinstance(y_pred, list | tuple) else y_pred
    tape = Tape(f'model "{model.name}" ({type(model).__name__}).compute_loss')
    tape.data = [tape.watch(a) for a in (x if isinstance(x, list) else [x])]
    tape.model_grads = []  # filled by Model.__call__'s rule (models called on the data)
    traced_x = tape.data if isinstance(x, list) else tape.data[0]
    traced_pred = tape.watch(single)
    value = _call(model, traced_x, y, traced_pred, sample_weight, training=True)
    _check_scalar(model, value)
    if not isinstance(value, Traced):  # a loss that does not depend on the prediction
        return float(np.asarray(value).reshape(())), np.zeros_like(single), []
    loss = float(np.asarray(value.value).reshape(()))
    dpred = tape.gradient(value, traced_pred, np.ones(value.shape, value.dtype))
    return loss, dpred.astype(single.dtype, copy=False), tape.model_grads


def loss_value(model, x, y, y_pred, sample_weight) -> float:
    """For ``test_step``: the override's loss on the inference prediction (plain arrays)."""
    x, y, sample_weight = _user_structures(model, x, y, sample_weight)
    single = y_pred[0] if isinstance(y_pred, list | tuple) and len(y_pred) == 1 else y_pred
    value = _call(model, x, y, single, sample_weight, training=False)
    _check_scalar(model, value)
    return float(np.asarray(value).reshape(()))


def call_model_on_tape(model, x: Traced, training: bool) -> Traced:
    """``model(x)`` where ``x`` is the data traced by :func:`loss_and_gradient`: the forward pass,
    recorded with a rule that runs ``model``'s backward pass from the gradient of its output
    (filling its weights' gradients, kept on the tape for the step); the data gets 0."""
    tape = x.tape
    if not any(x is data for data in getattr(tape, "data", [])):
        raise NotImplementedError(
            f'{tape.where}: model "{model.name}" was called on a computed tensor; inside a '
            "compute_loss override scratchnet can differentiate a model called on the data x only")
    y = model.forward(model._check_x(x.value, "call"), training=training)
    if isinstance(y, list | tuple):
        raise NotImplementedError(f'{tape.where}: model "{model.name}" has several outputs; a model '
                                  "called inside compute_loss must have one")

    def rule(dy):
        model.backward(dy.astype(y.dtype, copy=False))
        tape.model_grads.extend((p, p.grad) for p in model.params)
        return np.zeros_like(x.value)

    return tape.record(y, [(x, rule)])


__all__ = ["overrides_compute_loss", "loss_and_gradient", "loss_value", "call_model_on_tape"]
