"""Knowledge distillation: Keras 3's ``keras.distillation`` (``Distiller`` and its losses).

A frozen *teacher* model teaches a trainable *student*. Each training step, for a batch ``x, y``::

    y_pred   = student(x, training=True)                      # (N, C)
    L_s      = student_loss(y, y_pred)                         # the compiled loss, a mean
    L_d      = sum_j w_j * D_j(teacher features, student features)
    loss     = a * L_s + (1 - a) * L_d                          # a = student_loss_weight

and only the student's weights move. ``D_j`` are :class:`DistillationLoss` objects:

- :class:`LogitsDistillation` (temperature ``T``): ``mean(l(t / T, s / T))`` on the final
  outputs; with a ``KLDivergence`` *object* as ``l`` both are softmaxed first and the result is
  multiplied by ``T**2`` (Hinton et al.). A loss given as a name (the default ``"kl_divergence"``)
  is Keras' loss *function*, which reads ``t / T`` and ``s / T`` as they are: no softmax, no
  ``T**2`` (``keras/src/distillation/distillation_loss.py`` tests ``isinstance(loss,
  KLDivergence)``, and ``keras.losses.get("kl_divergence")`` is a function).
- :class:`FeatureDistillation`: ``mean(l(t, s))`` on the outputs of the layers named
  ``teacher_layer_name`` / ``student_layer_name`` (the final outputs when ``None``).

When a ``FeatureDistillation`` names student layers, Keras runs the student a second time per
step, as a feature extractor in training mode (also in ``evaluate``), and the losses with a
``teacher_layer_name`` read that pass; the others read ``y_pred``. scratchnet does the same
(:meth:`Distiller._step`): with Dropout the second pass draws its own mask, and
BatchNormalization updates its moving statistics twice.

The backward pass: every loss gives its gradient with respect to the student tensor it read; the
gradients (times ``a`` or ``(1 - a) * w_j``) seed a functional model over the student's layers
whose outputs are the student's outputs and the named layers' outputs, and its backward pass (a
tensor read by a loss *and* by later layers sums both, :meth:`Functional.backward`) fills the
student's ``Parameter.grad``; with two passes, each is sent back in turn and the gradients add.
"""

from __future__ import annotations

import datetime
import io
import json
import zipfile
from pathlib import Path

import h5py
import numpy as np

from scratchnet import losses as losses_mod
from scratchnet import metrics as metrics_mod
from scratchnet.activations import softmax
from scratchnet.layers.base import ActivatedLayer
from scratchnet.model import Model, Sequential, _as_array
from scratchnet.remat import rematerialize

# --------------------------------------------------------------------------- loss structures
# Keras maps losses over nested structures (keras.tree); scratchnet's models give one output or a
# flat list of them, so a structure here is one item or a list/tuple of items.


def _is_list(value) -> bool:
    return isinstance(value, list | tuple)


def _map(fn, *structures):
    """``fn`` on each item of same-shaped structures (one item, or lists of equal length)."""
    if _is_list(structures[0]):
        return [fn(*items) for items in zip(*structures, strict=True)]
    return fn(*structures)


def _flatten(structure) -> list:
    return list(structure) if _is_list(structure) else [structure]


def _structure_text(structure) -> str:
    return f"list of {len(structure)}" if _is_list(structure) else "single tensor"


def _assert_same_structure(a, b, what: str) -> None:
    """Keras' ``tree.assert_same_structure`` for the structures used here."""
    if _is_list(a) != _is_list(b) or (_is_list(a) and len(a) != len(b)):
        raise ValueError(f"The two structures don't have the same nested structure ({what}). "
                         f"First structure: {_structure_text(a)}, second structure: "
                         f"{_structure_text(b)}.")


def _convert_loss(item):
    """A loss name, function or object as the scratchnet ``Loss`` that computes it (Keras'
    ``_convert_loss_to_function``); ``None`` stays ``None``."""
    if item is None:
        return None
    if isinstance(item, str):
        try:
            return losses_mod.get(item)
        except ValueError:
            raise ValueError(f"Could not interpret loss identifier: {item}") from None
    try:
        return losses_mod.get(item)
    except ValueError:
        raise ValueError(f"Could not interpret loss identifier: {item!r}") from None


def _loss_config(given, loss):
    """Keras' serialized loss: a name or function as ``{"class_name": "function", ...}``, a
    loss object by its class and config."""
    if loss is None:
        return None
    if isinstance(given, losses_mod.Loss):
        from scratchnet.saving_keras import _loss_spec

        return _loss_spec(loss)
    return {"module": "builtins", "class_name": "function", "config": loss.function_name,
            "registered_name": "function"}


def _loss_from_config(spec):
    """The loss a :func:`_loss_config` entry (or a plain name) describes."""
    if spec is None or isinstance(spec, str):
        return spec
    if _is_list(spec):
        return [_loss_from_config(s) for s in spec]
    if spec.get("class_name") == "function":
        return spec["config"]  # the name: resolves to the function form again
    from scratchnet.saving_keras import _loss_from_keras

    return _loss_from_keras(spec, "distillation loss")


def _check_same_shape(teacher, student, where: str) -> None:
    if np.shape(teacher) != np.shape(student):
        raise ValueError(f"{where}: teacher and student outputs must have the same shape for this "
                         f"loss; received teacher shape {np.shape(teacher)} and student shape "
                         f"{np.shape(student)}")


def _mean_loss_and_grad(loss_fn, teacher, student):
    """``mean(loss_fn(teacher, student))`` and its gradient with respect to ``student``."""
    teacher = np.asarray(teacher).astype(student.dtype, copy=False)
    value = np.mean(loss_fn.forward(teacher, student))
    return value, loss_fn.backward(teacher, student)


# --------------------------------------------------------------------------- the losses
class DistillationLoss:
    """Base class of the distillation losses (``keras.distillation.DistillationLoss``).

    Subclass and override ``compute_loss(teacher_outputs, student_outputs)``, returning a scalar.
    Its gradient with respect to the student's outputs comes from the gradient tape
    (:mod:`scratchnet.autodiff`): write it with NumPy or ``sn.ops`` on the arrays it receives.
    The built-in losses give their gradients themselves (:meth:`value_and_grads`).
    """

    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        raise NotImplementedError("Subclasses must implement compute_loss")

    def validate_outputs(self, teacher_outputs, student_outputs) -> None:
        """Refuse teacher and student outputs of different structures."""
        _assert_same_structure(teacher_outputs, student_outputs, "teacher and student outputs")

    def validate_model_compatibility(self, teacher, student) -> None:
        """Refuse models this loss cannot compare (nothing to check in the base class)."""

    def value_and_grads(self, teacher_outputs, student_outputs):
        """The loss and ``dloss/d(student outputs)`` (same structure): the tape over
        ``compute_loss``."""
        from scratchnet.autodiff import Tape, Traced

        tape = Tape(f"{type(self).__name__}.compute_loss")
        watched = _map(tape.watch, student_outputs)
        value = self.compute_loss(teacher_outputs, watched)
        shape = np.shape(value.value if isinstance(value, Traced) else value)
        if shape != ():
            raise ValueError(f"Distillation loss {type(self).__name__} returned a non-scalar loss "
                             f"with shape {shape}. The compute_loss method must return a scalar "
                             "tensor.")
        flat = _flatten(watched)
        dtype = flat[0].value.dtype
        grads = tape.gradients([(value, np.ones((), dtype))], flat)
        value = value.value if isinstance(value, Traced) else value
        return float(value), grads if _is_list(student_outputs) else grads[0]


class _LossesOnOutputs(DistillationLoss):
    """What the two built-in losses share: a loss, or a list of them (``None`` skips an output)."""

    def _set_loss(self, loss, all_none_message: str) -> None:
        self._given_loss = loss
        self.loss = _map(_convert_loss, loss)
        if all(item is None for item in _flatten(self.loss)):
            raise ValueError(all_none_message)

    def _loss_configs(self):
        return _map(_loss_config, self._given_loss, self.loss)

    def value_and_grads(self, teacher_outputs, student_outputs):
        """The sum over the outputs of :meth:`_one_output`, and each output's gradient."""
        pairs = _map(self._one_output, self.loss, self._given_loss, teacher_outputs, student_outputs)
        flat = pairs if _is_list(student_outputs) else [pairs]
        dtype = _flatten(student_outputs)[0].dtype  # float32 sums as Keras' ops.sum; float64 exactly
        value = float(np.sum(np.stack([np.asarray(v, dtype) for v, _ in flat])))
        grads = [g for _, g in flat]
        return value, grads if _is_list(student_outputs) else grads[0]


class LogitsDistillation(_LossesOnOutputs):
    """Distillation from the final outputs, softened by a temperature ``T``.

    Per output, with ``t``, ``s`` the teacher's and student's outputs ``(N, C)``::

        loss = mean(l(t / T, s / T))                             l given as a name or function
        loss = T**2 * mean(KL(softmax(t / T), softmax(s / T)))   l a KLDivergence object

    Gradient: ``dloss/ds = l'(t / T, s / T) / T``; through the softmax,
    ``dp = p * (g - sum(g * p))`` with ``p = softmax(s / T)``.

    Args:
        temperature: a positive number (default 3.0).
        loss: a loss name, function or object, or a list of them (one per output, ``None``
            skipping one); default ``"kl_divergence"``.
    """

    def __init__(self, temperature=3.0, loss="kl_divergence"):
        self.temperature = temperature
        self._set_loss(loss, "At least one loss must be non-`None`.")
        if isinstance(temperature, bool) or not isinstance(temperature, int | float):
            raise ValueError(f"temperature must be a number, got {type(temperature)}")
        if temperature <= 0.0:
            raise ValueError("temperature must be positive.")

    def _one_output(self, loss_fn, given, teacher, student):
        if loss_fn is None:
            return 0.0, np.zeros_like(student)
        _check_same_shape(teacher, student, "LogitsDistillation")
        T = student.dtype.type(self.temperature)
        t, s = np.asarray(teacher, student.dtype) / T, student / T
        if isinstance(given, losses_mod.KLDivergence):  # Keras: probabilities, then T**2
            p_t, p_s = softmax(t), softmax(s)
            value, g = _mean_loss_and_grad(loss_fn, p_t, p_s)
            ds = p_s * (g - np.sum(g * p_s, axis=-1, keepdims=True))  # back through the softmax
            return value * T**2, ds * T**2 / T
        value, ds = _mean_loss_and_grad(loss_fn, t, s)
        return value, ds / T

    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        """The loss value (see the class docstring)."""
        return self.value_and_grads(teacher_outputs, student_outputs)[0]

    def get_config(self) -> dict:
        return {"temperature": self.temperature, "loss": self._loss_configs()}

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        config["loss"] = _loss_from_config(config.get("loss", "kl_divergence"))
        return cls(**config)


class FeatureDistillation(_LossesOnOutputs):
    """Distillation from intermediate layers: ``mean(l(t, s))`` of the teacher layer's and the
    student layer's outputs (the final outputs where a name is ``None``); ``dloss/ds = l'(t, s)``.

    Layers are picked by name, so a named layer needs a functional or Sequential model (a
    subclassed model has no symbolic outputs of its layers).

    Args:
        loss: a loss name, function or object, or a list of them (default ``"mse"``).
        teacher_layer_name: the teacher layer whose output is read, or ``None``.
        student_layer_name: the student layer whose output is read, or ``None``.
    """

    def __init__(self, loss="mse", teacher_layer_name=None, student_layer_name=None):
        self.teacher_layer_name = teacher_layer_name
        self.student_layer_name = student_layer_name
        self._set_loss(loss, "The `loss` argument in `FeatureDistillation` must contain at least "
                             "one non-`None` value.")

    def validate_model_compatibility(self, teacher, student) -> None:
        """Named layers need functional or Sequential models, and must exist (Keras' wording)."""
        if self.teacher_layer_name is not None or self.student_layer_name is not None:
            subclassed = [role for role, model in (("teacher", teacher), ("student", student))
                          if _is_subclassed(model)]
            if subclassed:
                raise ValueError(
                    "FeatureDistillation with specific layer names requires Functional or "
                    f"Sequential models. The {' and '.join(subclassed)} model(s) appear to be "
                    "subclassed (no symbolic inputs/outputs). Either use Functional/Sequential "
                    "models, or use FeatureDistillation without layer names (to distill final "
                    "outputs only), or use LogitsDistillation instead.")
        if self.teacher_layer_name is not None:
            try:
                teacher.get_layer(name=self.teacher_layer_name)
            except ValueError as err:
                raise ValueError(f"In teacher model: {err}") from None
        if self.student_layer_name is not None:
            try:
                student.get_layer(name=self.student_layer_name)
            except ValueError as err:
                raise ValueError(f"In student model: {err}") from None

    def validate_outputs(self, teacher_outputs, student_outputs) -> None:
        super().validate_outputs(teacher_outputs, student_outputs)
        try:
            _assert_same_structure(self.loss, teacher_outputs, "loss and outputs")
        except ValueError as err:
            raise ValueError(f"Loss structure mismatch. Loss structure: {_structure_text(self.loss)}, "
                             f"Output structure: {_structure_text(teacher_outputs)}. Error: {err}") from None

    def _one_output(self, loss_fn, given, teacher, student):
        if loss_fn is None:
            return 0.0, np.zeros_like(student)
        _check_same_shape(teacher, student, "FeatureDistillation")
        return _mean_loss_and_grad(loss_fn, teacher, student)

    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        """The loss value (see the class docstring)."""
        return self.value_and_grads(teacher_outputs, student_outputs)[0]

    def get_config(self) -> dict:
        return {"loss": self._loss_configs(), "teacher_layer_name": self.teacher_layer_name,
                "student_layer_name": self.student_layer_name}

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        config["loss"] = _loss_from_config(config.get("loss", "mse"))
        return cls(**config)


_LOSS_CLASSES = {"LogitsDistillation": LogitsDistillation, "FeatureDistillation": FeatureDistillation}


def _is_subclassed(model) -> bool:
    from scratchnet.subclassing import Subclassed

    return isinstance(model, Subclassed)


def _symbolic(model, which: str):
    """``model.inputs`` / ``model.outputs`` (a list of KerasTensors), or None when the model has
    none yet (a subclassed model, a Sequential without an input shape)."""
    if _is_subclassed(model):
        return None
    try:
        tensors = getattr(model, which)
    except AttributeError:
        return None
    return list(tensors) if tensors else None


# --------------------------------------------------------------------------- the model
class Distiller(Model):
    """A model that trains ``student`` to match a frozen ``teacher`` (``keras.distillation.Distiller``).

    ``loss = student_loss_weight * L_s + (1 - student_loss_weight) * sum_j w_j * D_j`` (module
    docstring). ``compile(optimizer, loss, metrics)`` takes the student's loss; ``fit``,
    ``evaluate`` and ``predict`` work as for any model (``predict`` and ``distiller(x)`` are the
    student's). Logs: ``loss`` (batch-size-weighted mean of the total, as every model's), the
    metrics, then ``student_loss``, ``distillation_loss`` and ``total_loss`` (means over batches).

    Args:
        teacher: a trained model; frozen here (``teacher.trainable = False``).
        student: the model to train.
        distillation_losses: one :class:`DistillationLoss` or a list of them.
        distillation_loss_weights: one weight per loss (default 1.0 each).
        student_loss_weight: ``a`` in ``[0, 1]`` (default 0.5).
        name: default ``"distiller"``.
    """

    def __init__(self, teacher, student, distillation_losses, distillation_loss_weights=None,
                 student_loss_weight=0.5, name="distiller", **kwargs):
        seed = kwargs.pop("seed", None)
        kwargs.pop("trainable", None)  # (Keras' base-config keys, written by get_config)
        kwargs.pop("dtype", None)
        if kwargs:
            raise ValueError(f"Unrecognized keyword arguments passed to Distiller: {kwargs}")
        super().__init__(layers=None, seed=seed, name=name)
        self._validate_models(teacher, student)
        self.teacher = teacher
        self.student = student
        if isinstance(student_loss_weight, bool) or not isinstance(student_loss_weight, int | float):
            raise ValueError(f"student_loss_weight must be a number, got {type(student_loss_weight)}")
        if student_loss_weight < 0.0 or student_loss_weight > 1.0:
            raise ValueError(f"student_loss_weight must be between 0.0 and 1.0, got {student_loss_weight}")
        self.student_loss_weight = student_loss_weight
        if distillation_losses is None:
            raise ValueError("'distillation_losses' cannot be `None`. Provide a distillation loss "
                             "(e.g., LogitsDistillation or FeatureDistillation) or a list of "
                             "distillation losses.")
        if not _is_list(distillation_losses):
            self.distillation_losses = [distillation_losses]
            self.distillation_loss_weights = [1.0]
        else:
            self.distillation_losses = list(distillation_losses)
            if distillation_loss_weights is None:
                self.distillation_loss_weights = [1.0] * len(distillation_losses)
            elif len(distillation_loss_weights) != len(distillation_losses):
                raise ValueError(f"Number of distillation_loss_weights ({len(distillation_loss_weights)}) "
                                 f"must match number of distillation_losses ({len(distillation_losses)})")
            else:
                self.distillation_loss_weights = list(distillation_loss_weights)
        for loss in self.distillation_losses:
            if not isinstance(loss, DistillationLoss):
                raise TypeError("Distiller: expected distillation_losses to be DistillationLoss "
                                f"objects (LogitsDistillation, FeatureDistillation, ...), received "
                                f"{loss!r} of type {type(loss).__name__}")
            loss.validate_model_compatibility(teacher, student)
        self.teacher.trainable = False
        self.student_loss_tracker = metrics_mod.Mean(name="student_loss")
        self.distillation_loss_tracker = metrics_mod.Mean(name="distillation_loss")
        self.total_loss_tracker = metrics_mod.Mean(name="total_loss")
        self._student_loss = None
        self._graphs = None  # (teacher graph, student graph), made once the models are built

    # ------------------------------------------------------------------ checks (Keras' wording)
    def _validate_models(self, teacher, student) -> None:
        if not isinstance(teacher, Model):
            raise ValueError(f"Teacher must be a keras.Model, got {type(teacher)}")
        if not isinstance(student, Model):
            raise ValueError(f"Student must be a keras.Model, got {type(student)}")
        for which in ("inputs", "outputs"):
            t, s = _symbolic(teacher, which), _symbolic(student, which)
            if t is None or s is None:
                continue
            context = which[:-1]
            if len(t) != len(s):
                raise ValueError(f"Teacher and student {context} structures differ: the teacher has "
                                 f"{len(t)} {which}, the student {len(s)}.")
            for ti, si in zip(t, s, strict=True):
                self._assert_shapes_are_compatible(tuple(ti.shape), tuple(si.shape), context)
            for ti, si in zip(t, s, strict=True):
                if str(ti.dtype) != str(si.dtype):
                    raise ValueError(f"Teacher and student {context} dtypes must match. "
                                     f"Teacher: {ti.dtype}, Student: {si.dtype}.")

    @staticmethod
    def _assert_shapes_are_compatible(shape1, shape2, context: str) -> None:
        if len(shape1) != len(shape2):
            raise ValueError(f"Teacher and student {context} shapes have different dimensions. "
                             f"Teacher: {shape1}, Student: {shape2}.")
        for d1, d2 in zip(shape1, shape2, strict=True):
            if d1 is not None and d2 is not None and d1 != d2:
                raise ValueError(f"Teacher and student {context} shapes are incompatible. "
                                 f"Teacher: {shape1}, Student: {shape2}. All dimensions must match.")

    # ------------------------------------------------------------------ structure
    @property
    def layers(self):
        """The teacher's layers, then the student's (``weights`` follow this order, as Keras')."""
        teacher, student = getattr(self, "teacher", None), getattr(self, "student", None)
        return ([] if teacher is None else list(teacher.layers)) + \
            ([] if student is None else list(student.layers))

    @layers.setter
    def layers(self, value) -> None:
        if value:
            raise AttributeError("Distiller: its layers are the teacher's and the student's")

    @property
    def params(self):
        """The student's trainable weights: all the optimizer moves."""
        return self.student.params if self.trainable else []

    trainable_weights = params

    @property
    def built(self) -> bool:
        return self.student.built and self.teacher.built

    def build(self, input_shape=None) -> None:
        for model in (self.teacher, self.student):
            if not model.built:
                model.build(input_shape)

    def _require_built(self, where: str) -> None:
        if not self.built:
            raise ValueError(f'{where}: model "{self.name}" is not built yet; call it on data or '
                             "build(input_shape) first")

    def _layer_names(self, attr: str) -> list[str]:
        names = []
        for loss in self.distillation_losses:
            name = getattr(loss, attr, None)
            if name and name not in names:
                names.append(name)
        return names

    def _feature_graph(self, model, layer_names: list[str]):
        """The graph a model runs here: ``model`` itself (a subclassed one), or a functional model
        over its layers whose outputs are its outputs, then the named layers' outputs (Keras'
        ``<name>_multi_feature_extractor``); the same layers, so the same weights."""
        from scratchnet.functional import Functional

        if _is_subclassed(model):
            return model, len(model.outputs), {}
        outputs = list(model.outputs)
        final = outputs if len(outputs) > 1 else outputs[:1]
        if isinstance(model, Sequential):
            final = [model.layers[-1].output]
        features = [model.get_layer(name=name).output for name in layer_names]
        graph = Functional(list(model.inputs), final + features,
                           name=f"{model.name}_multi_feature_extractor", seed=0)
        return graph, len(final), {name: len(final) + k for k, name in enumerate(layer_names)}

    def _ensure_graphs(self):
        if self._graphs is None:
            self._graphs = (self._feature_graph(self.teacher, self._layer_names("teacher_layer_name")),
                            self._feature_graph(self.student, self._layer_names("student_layer_name")))
        return self._graphs

    # ------------------------------------------------------------------ compile
    def compile(self, optimizer="adam", loss=None, metrics=None, **kwargs) -> None:
        """``optimizer`` trains the student; ``loss`` is the student's own loss (a name, function
        or object, or a list for several outputs); ``metrics`` a list, computed on the student's
        predictions."""
        if loss is None:
            raise ValueError("'loss' cannot be `None`.")
        if metrics is not None and not _is_list(metrics):
            raise ValueError(f"metrics must be a list or tuple, got {type(metrics)}")
        self._student_loss = _map(_convert_loss, loss)
        first = _flatten(self._student_loss)[0]
        super().compile(optimizer=optimizer, loss=first, metrics=metrics, **kwargs)

    def _resolve_metrics(self) -> None:
        if not self.built or len(self.metrics) == len(self.metric_names):
            return
        shape = self.student._sample_output_shape
        if self.metric_names and isinstance(shape, list):
            raise ValueError("Distiller: metrics on a student with several outputs are not "
                             "implemented; compile without metrics")
        self.metrics = [metrics_mod.get(m, self.loss.function_name, shape[-1]) for m in self.metric_names]

    # ------------------------------------------------------------------ data
    def _check_x(self, x, where: str):
        if not self.student.built:
            self.student._check_x(x, where)  # builds it from the data
        if not self.teacher.built:
            self.teacher._check_x(x, where)
        student_graph = self._ensure_graphs()[1][0]
        return student_graph._check_x(x, where)

    def _check_data(self, x, y, where: str, sample_weight=None) -> tuple:
        x = self._check_x(x, where)
        self._require_compiled(where)
        self._resolve_metrics()
        n = len(x[0])
        if y is not None:
            ys = [_as_array(v, "y", where) for v in _flatten(y)]
            if any(len(v) != n for v in ys):
                raise ValueError(f"{where}: data cardinality is ambiguous: x sizes: {n}, y sizes: "
                                 f"{[len(v) for v in ys]}; make sure all arrays contain the same "
                                 "number of samples")
            y = ys if _is_list(y) else ys[0]
        if sample_weight is not None:
            sample_weight = self._check_sample_weight(sample_weight, n, where,
                                                      output_shape=(1,))
        return x, y, sample_weight

    def _check_batch(self, x, y, sample_weight, where: str) -> tuple:
        if y is None and where == "predict":
            return self._check_x(x, where), None, None
        return self._check_data(x, y, where, sample_weight)

    # ------------------------------------------------------------------ the step
    def _student_loss_and_grads(self, y, outputs: list, graph, n_out: int):
        """``L_s`` and its gradient per student output; a final softmax or sigmoid meeting a
        cross-entropy gives the gradient of its logits (Keras' ``_keras_logits`` rule)."""
        losses = _flatten(self._student_loss)
        ys = _flatten(y)
        if len(losses) == 1 and n_out > 1:
            losses = losses * n_out
        if len(losses) != n_out or len(ys) != n_out:
            raise ValueError(f"Distiller: the student has {n_out} outputs; expected one loss and one "
                             f"target per output, received {len(losses)} losses and {len(ys)} targets")
        total, grads, via_logits = 0.0, [], []
        for k, (loss_fn, y_k) in enumerate(zip(losses, ys, strict=True)):
            if loss_fn is None:
                grads.append(None)
                via_logits.append(False)
                continue
            layer = graph.outputs[k].node.layer
            output, reads_logits = outputs[k], False
            if isinstance(layer, ActivatedLayer) and layer.activation.name in ("softmax", "sigmoid"):
                twin = loss_fn.logits_twin(layer.activation.name)
                if twin is not None:
                    rematerialize(layer)  # (a layer made in a RematScope dropped its logits)
                    loss_fn, output, reads_logits = twin, layer.preactivation, True
            y_k, _ = loss_fn.check(y_k, output)
            value, d = np.mean(loss_fn.forward(y_k, output)), loss_fn.backward(y_k, output)
            total += value
            grads.append(d)
            via_logits.append(reads_logits)
        return total, grads, via_logits

    def _distillation_terms(self, teacher_features: dict, student_features: dict, from_extractor: bool):
        """``sum_j w_j * D_j`` over the losses that read ``student_features``, and its gradient per
        student feature key. Keras' ``Distiller.compute_loss`` gives a loss with a
        ``teacher_layer_name`` the student extractor's features (``from_extractor``), and every
        other loss the student's own output ``y_pred``."""
        total = 0.0
        grads: dict = {}
        for loss, weight in zip(self.distillation_losses, self.distillation_loss_weights, strict=True):
            teacher_layer = getattr(loss, "teacher_layer_name", None)
            if (teacher_layer is not None) != from_extractor:
                continue
            t_key = teacher_layer or "final_output"
            s_key = (getattr(loss, "student_layer_name", None) or "final_output") if from_extractor \
                else "final_output"
            teacher, student = teacher_features[t_key], student_features[s_key]
            loss.validate_outputs(teacher, student)
            value, d = loss.value_and_grads(teacher, student)
            total += weight * value
            d = _map(lambda g, w=weight: None if g is None else g * g.dtype.type(w), d)
            grads[s_key] = d if s_key not in grads else _map(_add, grads[s_key], d)
        return total, grads

    def _features(self, graph_info, x, training: bool, for_backward: bool) -> tuple[dict, list]:
        graph, n_out, slots = graph_info
        outputs = graph.forward(x, training=training, for_backward=for_backward)
        outputs = _flatten(outputs)
        final = outputs[:n_out] if n_out > 1 else outputs[0]
        features = {"final_output": final}
        features.update({name: outputs[k] for name, k in slots.items()})
        return features, outputs

    def _seed(self, seeds: list, grads: dict, scale: float) -> None:
        """Add ``scale`` times each feature's gradient to the seed of the graph output it is."""
        n_out, slots = self._ensure_graphs()[1][1:]
        for key, d in grads.items():
            ks = list(range(n_out)) if key == "final_output" else [slots[key]]
            for k, g in zip(ks, _flatten(d), strict=True):
                if g is not None:
                    seeds[k] = _add(seeds[k], g * g.dtype.type(scale))

    def _step(self, x, y, training: bool):
        """Keras' ``train_step``/``test_step`` with ``Distiller.compute_loss``: the forward passes,
        the three losses and, in training, the gradients in ``Parameter.grad``.

        The student runs once as itself (``y_pred = student(x, training=training)``), which the
        student loss and the losses on final outputs read. When a distillation loss names student
        layers (and ``student_loss_weight < 1``), Keras runs the student a second time, as its
        ``<student>_multi_feature_extractor``, **in training mode even in ``evaluate``**
        (``_extract_all_student_features``), and the losses with a ``teacher_layer_name`` read
        that pass: Dropout draws a second mask, BatchNormalization updates its moving statistics
        a second time, and the gradient is the sum over both passes. scratchnet does the same;
        each pass is sent back before the next overwrites the layers' caches."""
        teacher_info, student_info = self._ensure_graphs()
        student_graph, n_out, slots = student_info
        a = self.student_loss_weight
        # 1. The student: the student loss and the distillation losses on its final outputs.
        student_features, outputs = self._features(student_info, x, training, for_backward=training)
        seeds = [None] * len(outputs)
        logit_seeds = [None] * len(outputs)
        student_loss = 0.0
        if a > 0.0 and y is not None:
            student_loss, grads, via_logits = self._student_loss_and_grads(y, outputs, student_graph, n_out)
            for k, (g, logits) in enumerate(zip(grads, via_logits, strict=True)):
                if g is not None:
                    (logit_seeds if logits else seeds)[k] = g * g.dtype.type(a)
        distillation_loss = 0.0
        extractor_pass = a < 1.0 and bool(slots)
        if a < 1.0:
            teacher_features, _ = self._features(teacher_info, x, False, for_backward=False)
            distillation_loss, dgrads = self._distillation_terms(teacher_features, student_features,
                                                                 from_extractor=False)
            self._seed(seeds, dgrads, 1.0 - a)
        if training:
            self._backward(seeds, logit_seeds, outputs)
        if extractor_pass:
            # 2. Keras' student feature extractor: a second pass, in training mode.
            first_grads = [p.grad for p in self.params] if training else []
            features, outputs = self._features(student_info, x, True, for_backward=training)
            value, dgrads = self._distillation_terms(teacher_features, features, from_extractor=True)
            distillation_loss += value
            if training:
                seeds = [None] * len(outputs)
                self._seed(seeds, dgrads, 1.0 - a)
                self._backward(seeds, [None] * len(outputs), outputs)
                for param, first in zip(self.params, first_grads, strict=True):
                    param.grad = param.grad + first
        total = a * student_loss + (1.0 - a) * distillation_loss
        y_pred = _flatten(student_features["final_output"])
        return (student_loss, distillation_loss, total), y_pred

    def _backward(self, seeds: list, logit_seeds: list, outputs: list) -> None:
        """Backward through the student's graph: each output gets dL/d(output), or dL/d(logits)
        (zeros where no loss read it); fills the student's ``Parameter.grad``. Keras'
        ``Distiller.compute_loss`` leaves ``model.losses`` out of the loss, so the student's
        activity penalties and ``add_loss`` terms add no gradient either: they are seeded with 0
        (``custom_loss.seeding_added_losses``), as its weight penalties are left out."""
        from scratchnet.custom_loss import seeding_added_losses

        student_graph = self._ensure_graphs()[1][0]
        doutputs, through_logits = [], []
        for tensor, dy, dz, value in zip(student_graph.outputs, seeds, logit_seeds, outputs, strict=True):
            if dz is None:
                doutputs.append(np.zeros_like(value) if dy is None else dy)
                through_logits.append(False)
                continue
            layer = tensor.node.layer  # both: dz + activation'(z) dy, as _node_backward joins them
            rematerialize(layer)
            if dy is not None:
                dz = dz + layer.activation.backward(layer.preactivation, layer.activated, dy)
            doutputs.append(dz)
            through_logits.append(True)
        with seeding_added_losses(student_graph, 0.0):
            student_graph.backward(doutputs, through_logits)

    def train_step(self, x, y, sample_weight=None) -> dict:
        """One step: 1. forward passes (student in training mode, teacher in inference mode), the
        losses and their gradients, backward through the student (:meth:`_step`), 2. the
        optimizer moves the student's weights."""
        x, y, sample_weight = self._check_data(x, y, "train_step", sample_weight)
        # 1. Forward, losses, backward.
        values, y_pred = self._step(x, y, training=True)
        # 2. Update.
        self.optimizer.apply(self.params)
        return self._record(values, y, y_pred, len(x[0]))

    def test_step(self, x, y, sample_weight=None) -> dict:
        """The three losses with the student in inference mode (its feature extractor, when a
        loss names student layers, in training mode, as Keras'), and the metrics."""
        x, y, sample_weight = self._check_data(x, y, "test_step", sample_weight)
        values, y_pred = self._step(x, y, training=False)
        return self._record(values, y, y_pred, len(x[0]))

    def _record(self, values, y, y_pred, n: int) -> dict:
        student_loss, distillation_loss, total = values
        self.loss_tracker.update_value(total, n)
        self.student_loss_tracker.update_value(student_loss, 1)
        self.distillation_loss_tracker.update_value(distillation_loss, 1)
        self.total_loss_tracker.update_value(total, 1)
        if y is not None:
            for metric in self.metrics:
                metric.update_state(y, y_pred[0] if len(y_pred) == 1 else y_pred)
        return self._logs()

    def _logs(self) -> dict:
        logs = {"loss": self.loss_tracker.result()}
        self._add_metric_logs(logs)
        for tracker in (self.student_loss_tracker, self.distillation_loss_tracker, self.total_loss_tracker):
            logs[tracker.name] = tracker.result()
        return logs

    def reset_metrics(self) -> None:
        super().reset_metrics()
        for tracker in (self.student_loss_tracker, self.distillation_loss_tracker, self.total_loss_tracker):
            tracker.reset()

    # ------------------------------------------------------------------ inference
    def __call__(self, x, training: bool = False):
        """The student's outputs (Keras' ``Distiller.call``)."""
        return self.student(x, training=training)

    def _forward_inference(self, x):
        student_graph, n_out, _ = self._ensure_graphs()[1]
        outputs = _flatten(student_graph.forward(x, training=False, for_backward=False))
        return outputs[:n_out] if n_out > 1 else outputs[0]

    def _predict_piece_rows(self, longest: int = 1) -> int:
        return self.student._predict_piece_rows(longest)

    def _to_numpy_outputs(self, y_pred):
        return self.student._to_numpy_outputs(y_pred)

    def _concatenate_batches(self, outputs: list):
        return self.student._concatenate_batches(outputs)

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict:
        """Keras' config: the teacher and student serialized, the losses and weights."""
        from scratchnet.saving_keras import _dtype_policy, model_config

        def model_spec(model):
            spec = dict(model_config(model))
            spec.pop("compile_config", None)
            return spec

        return {
            "name": self.name, "trainable": self.trainable, "dtype": _dtype_policy(),
            "teacher": model_spec(self.teacher), "student": model_spec(self.student),
            "distillation_losses": [{"module": "keras.distillation", "class_name": type(loss).__name__,
                                     "config": loss.get_config(), "registered_name": None}
                                    for loss in self.distillation_losses],
            "distillation_loss_weights": self.distillation_loss_weights,
            "student_loss_weight": self.student_loss_weight,
        }

    @classmethod
    def from_config(cls, config: dict):
        from scratchnet.saving_keras import model_from_config

        config = dict(config)
        config["teacher"] = model_from_config(config["teacher"], "Distiller.from_config (teacher)",
                                              compile=False)
        config["student"] = model_from_config(config["student"], "Distiller.from_config (student)",
                                              compile=False)
        losses = []
        for spec in config["distillation_losses"]:
            loss_cls = _LOSS_CLASSES.get(spec.get("class_name"))
            if loss_cls is None:
                raise ValueError("Distiller.from_config: unknown distillation loss "
                                 f"{spec.get('class_name')!r}; expected one of {sorted(_LOSS_CLASSES)}")
            losses.append(loss_cls.from_config(spec.get("config", {})))
        config["distillation_losses"] = losses
        return cls(**config)

    # ------------------------------------------------------------------ files
    def _keras_paths(self) -> list[tuple[str, Model]]:
        """Where Keras keeps the teacher's and the student's weights in the Distiller's file:
        ``layers/sequential``, ``layers/sequential_1`` (``layers/functional`` for a functional
        model), each holding its model's own ``layers/...`` tree."""
        from scratchnet.saving_keras import keras_class_name, layer_paths

        models = [self.teacher, self.student]
        for model in models:
            if _is_subclassed(model):
                raise NotImplementedError(
                    f'Distiller "{self.name}": the {"teacher" if model is self.teacher else "student"} '
                    f'"{model.name}" is a subclassed model, whose architecture is Python code that no '
                    "file holds; save the weights of the models themselves instead")
        return list(zip(layer_paths([keras_class_name(model) for model in models]), models, strict=True))

    def _weights_file_bytes(self) -> bytes:
        """Keras' weights file of a Distiller: the teacher's and the student's trees, nested under
        their paths, then the optimizer's variables (the student's slots)."""
        from scratchnet.saving_keras import _optimizer_variables, _weights_file_bytes

        self._require_built("save")
        buffer = io.BytesIO()
        with h5py.File(buffer, "w") as f:
            f.create_group("vars").attrs["name"] = self.name
            for path, model in self._keras_paths():
                with h5py.File(io.BytesIO(_weights_file_bytes(model)), "r") as own:
                    f.create_group(f"{path}/vars").attrs["name"] = model.name
                    own.copy(own["layers"], f[path], name="layers")
            if self.compiled:
                group = f.create_group("optimizer/vars")
                group.attrs["name"] = self.optimizer.name
                for i, value in enumerate(_optimizer_variables(self)):
                    group[str(i)] = value
        return buffer.getvalue()

    def _keras_file_config(self) -> dict:
        """``config.json``: Keras' Distiller entry. Keras compiles the Distiller's parent with
        ``loss=None`` (the student's loss stays in the object), so its ``compile_config`` says
        ``"loss": None`` and a loaded Distiller must be compiled again; this one says the same."""
        from scratchnet.saving_keras import _metric_to_keras, _optimizer_to_keras

        config = {"module": "keras.distillation", "class_name": "Distiller", "config": self.get_config(),
                  "registered_name": None,
                  "build_config": {"input_shape": list(self.student.input_shape)}}
        if self.compiled:
            config["compile_config"] = {
                "optimizer": _optimizer_to_keras(self.optimizer), "loss": None, "loss_weights": None,
                "metrics": [m if isinstance(m, str) else _metric_to_keras(m) for m in self.metric_names]
                or None,
                "weighted_metrics": None, "run_eagerly": False, "steps_per_execution": 1,
                "jit_compile": False}
        return config

    def save(self, path, overwrite: bool = True) -> None:
        """Write Keras' ``.keras`` file of the Distiller (``keras.models.load_model`` reads it, as
        ``sn.load_model`` reads Keras'): its config (the teacher, the student, the losses) and the
        weights of both; not compiled when loaded, as in Keras."""
        from scratchnet.saving import _atomic_write
        from scratchnet.saving_keras import (
            CONFIG_FILE,
            KERAS_VERSION,
            METADATA_FILE,
            WEIGHTS_FILE,
            _json_value,
        )

        if not str(path).endswith(".keras"):
            raise ValueError(f'Distiller "{self.name}": save writes Keras\' .keras format only; '
                             f"expected a path ending in .keras, received filepath={str(path)!r}")
        if not overwrite and Path(path).exists():
            raise FileExistsError(f"save: {str(path)!r} exists and overwrite=False")
        weights = self._weights_file_bytes()
        metadata = {"keras_version": KERAS_VERSION,
                    "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr(METADATA_FILE, json.dumps(metadata))
            archive.writestr(CONFIG_FILE, json.dumps(self._keras_file_config(), default=_json_value))
            archive.writestr(WEIGHTS_FILE, weights)
        _atomic_write(Path(path), buffer.getvalue())

    def save_weights(self, path, overwrite: bool = True) -> None:
        """The weights file Keras' ``Distiller.save_weights`` writes (``.weights.h5``)."""
        from scratchnet.saving import _atomic_write

        if not str(path).endswith(".weights.h5"):
            raise ValueError(f"The filename must end in `.weights.h5`. Received: filepath={path}")
        if not overwrite and Path(path).exists():
            raise FileExistsError(f"save_weights: {str(path)!r} exists and overwrite=False")
        _atomic_write(Path(path), self._weights_file_bytes())

    def load_weights(self, path, skip_mismatch: bool = False, **kwargs) -> None:
        """Read a Distiller's weights (a ``.weights.h5`` or ``.keras`` file, Keras' or scratchnet's)."""
        from scratchnet.saving_keras import WEIGHTS_FILE, _open_h5

        where = f"load_weights: {str(path)!r}"
        if kwargs:
            raise ValueError(f"{where}: unexpected arguments {sorted(kwargs)}")
        data = str(path)
        if data.endswith(".keras"):
            with zipfile.ZipFile(path) as archive:
                data = archive.read(WEIGHTS_FILE)
        with _open_h5(data, where) as f:
            self._read_weights(f, where, skip_mismatch)

    def _read_weights(self, f, where: str, skip_mismatch: bool = False) -> None:
        from scratchnet.saving_keras import _read_layer_weights, _set_weights

        self._require_built("load_weights")
        read = []
        for path, model in self._keras_paths():
            if path not in f:
                raise ValueError(f"{where} has no weights for the Distiller's "
                                 f"{'teacher' if model is self.teacher else 'student'} at {path}")
            read.append((model, _read_layer_weights(f[path], model, where, skip_mismatch)))
        for model, weights in read:  # (all read and checked first: nothing half-loaded)
            _set_weights(model, weights, where)


def load_distiller(archive, where: str):
    """The Distiller of a ``.keras`` file (``sn.load_model`` sends its ``class_name`` here)."""
    from scratchnet.saving_keras import _open_h5

    distiller = Distiller.from_config(archive.config.get("config") or {})
    with _open_h5(archive.weights, where) as f:
        distiller._read_weights(f, where)
    return distiller


def _add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return a + b


__all__ = ["DistillationLoss", "Distiller", "FeatureDistillation", "LogitsDistillation"]
