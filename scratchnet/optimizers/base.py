"""What every optimizer does around its own update, as Keras 3's ``base_optimizer.py``.

An optimizer keeps its state in ``self.state``, a dict keyed by parameter name and slot
(``"dense/kernel/m"``), and ``iterations``, the number of updates applied so far (0 before the
first). ``apply(params)`` runs, in Keras' order:

1. gradient clipping: ``clipnorm`` (each tensor to that L2 norm), or ``global_clipnorm`` (all of
   them together), or ``clipvalue`` (each element into ``[-clipvalue, clipvalue]``);
2. weight decay, if ``weight_decay`` is set: ``w <- w - w * weight_decay * lr``, before the update
   and with the same ``lr`` (decoupled weight decay: AdamW is Adam with this on);
3. the algorithm's ``update(param, grad, lr)``, one formula a line, in the parameter's dtype;
   With ``gradient_accumulation_steps=k``, steps 1-3 run on every k-th call only, with the
   mean of the k gradients (kept meanwhile in the slot ``gradient_accumulator``); the other
   calls only add their gradient to it (see "Gradient accumulation" below);
4. with ``use_ema=True``, each weight's exponential moving average (slot ``average``):
   ``average <- m * average + (1 - m) * w`` with ``m = ema_momentum`` (``m = 0`` at the first
   update, so the average starts at the weight), and every ``ema_overwrite_frequency`` updates
   the weights are set to their averages;
5. constraints: each weight that has one (``kernel_constraint=...``) is replaced by its projection
   (:mod:`scratchnet.constraints`);
6. one more call counted.

Loss scaling (``loss_scale_factor=s``): ``train_step`` multiplies the loss by ``s`` before the
backward pass (:meth:`scale_loss`: in float16 a small gradient would otherwise round to 0) and
``apply`` divides every gradient by ``s`` before anything else, so the update is the unscaled one.

Gradient accumulation (``gradient_accumulation_steps=k``), Keras' exact rules: ``apply`` is
called once per batch, and ``calls`` counts those calls; ``iterations`` is ``calls // k``, the
number of real updates, which is the step ``t`` that Adam's bias correction reads; a
learning-rate *schedule* reads ``calls`` (Keras hands it the raw counter). At a call with
``(calls + 1) % k == 0`` the update runs with ``(g + accumulator) / k`` and the accumulators
return to 0; at the other calls ``accumulator += g`` and the weights do not move. The moving
averages (``use_ema``) and the constraints run at every call, as in Keras.

At the end of ``fit`` Keras calls ``finalize_variable_values``: with ``use_ema`` the trained
weights are replaced by their averages (the model keeps the smoothed weights).

``learning_rate`` is a float, or a schedule (a callable of the 0-based ``iterations``, such as
``scratchnet.optimizers.schedules.ExponentialDecay``); ``current_learning_rate()`` is the rate the
next update uses. As in Keras, a float can be assigned to ``learning_rate`` later (what
``LearningRateScheduler`` does), but not over a schedule.
"""

from __future__ import annotations

import numbers
import re

import numpy as np

from scratchnet import config, constraints
from scratchnet.layers.base import Parameter
from scratchnet.optimizers import schedules


class Optimizer:
    """The base class. A subclass defines ``update(param, grad, lr)`` and extends ``get_config()``.

    Args (every optimizer has them, with Keras' names and defaults):
        learning_rate: a float >= 0, or a schedule called with the 0-based ``iterations``.
        weight_decay: ``None``, or a float >= 0: ``w <- w - w * weight_decay * lr`` before each update.
        clipnorm: clip each gradient to this L2 norm: ``g * clipnorm / max(||g||, clipnorm)``.
        clipvalue: clip each gradient element into ``[-clipvalue, clipvalue]``.
        global_clipnorm: scale all gradients together so their joint L2 norm is at most this.
            At most one of ``clipnorm``, ``clipvalue`` and ``global_clipnorm``.
        loss_scale_factor: None, or the float ``s`` the loss is multiplied by before the
            backward pass and the gradients divided by in ``apply``.
        gradient_accumulation_steps: None, or an integer ``k >= 2``: update every ``k`` calls with
            the mean of their gradients.
        use_ema: keep an exponential moving average of the weights (step 4 above), which
            ``fit`` leaves in the model at its end.
        ema_momentum: the average's momentum, in [0, 1] (default 0.99).
        ema_overwrite_frequency: None, or every how many updates the weights become their averages.
        name: defaults to Keras' name for the class (snake case: ``"sgd"``, ``"rm_sprop"``).
    """

    def __init__(self, learning_rate=0.001, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema: bool = False, ema_momentum: float = 0.99,
                 ema_overwrite_frequency: int | None = None, loss_scale_factor=None,
                 gradient_accumulation_steps: int | None = None, name: str | None = None):
        where = type(self).__name__
        if gradient_accumulation_steps is not None and (
                isinstance(gradient_accumulation_steps, bool)
                or not isinstance(gradient_accumulation_steps, numbers.Integral)
                or gradient_accumulation_steps < 2):
            raise ValueError(f"{where}: `gradient_accumulation_steps` must be an integer >= 2. "
                             f"Received: gradient_accumulation_steps={gradient_accumulation_steps!r}")
        self.gradient_accumulation_steps = (None if gradient_accumulation_steps is None
                                            else int(gradient_accumulation_steps))
        self.loss_scale_factor = None if loss_scale_factor is None else _positive(
            loss_scale_factor, "loss_scale_factor", where)
        if not isinstance(use_ema, bool | np.bool_):
            raise TypeError(f"{where}: expected use_ema to be True or False, received {use_ema!r}")
        self.use_ema = bool(use_ema)
        if self.use_ema:  # (Keras checks these only when they are used)
            if isinstance(ema_momentum, bool) or not isinstance(ema_momentum, numbers.Real) \
                    or not 0 <= ema_momentum <= 1:
                raise ValueError(f"{where}: `ema_momentum` must be in the range [0, 1]. Received: "
                                 f"ema_momentum={ema_momentum!r}")
            if ema_overwrite_frequency is not None and (
                    isinstance(ema_overwrite_frequency, bool)
                    or not isinstance(ema_overwrite_frequency, numbers.Integral)
                    or ema_overwrite_frequency < 1):
                raise ValueError(f"{where}: `ema_overwrite_frequency` must be an integer >= 1 or "
                                 f"None. Received: ema_overwrite_frequency={ema_overwrite_frequency!r}")
        self.ema_momentum = float(ema_momentum)
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.learning_rate = learning_rate
        self.weight_decay = None if weight_decay is None else _non_negative(
            weight_decay, "weight_decay", where)
        if sum(v is not None for v in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(f"{where}: only one of clipnorm, clipvalue and global_clipnorm can "
                             f"be set, received clipnorm={clipnorm}, clipvalue={clipvalue}, "
                             f"global_clipnorm={global_clipnorm}")
        self.clipnorm = None if clipnorm is None else _positive(clipnorm, "clipnorm", where)
        self.clipvalue = None if clipvalue is None else _positive(clipvalue, "clipvalue", where)
        self.global_clipnorm = None if global_clipnorm is None else _positive(
            global_clipnorm, "global_clipnorm", where)
        if name is not None and not isinstance(name, str):
            raise TypeError(f"{where}: expected name to be a string, received {name!r}")
        self.name = name or _snake_case(where)
        self.calls = 0  # apply() calls so far: Keras' ``_iterations`` variable
        self.state: dict[str, np.ndarray] = {}
        self._built_for: list[Parameter] | None = None  # the parameters of the first update
        # Keras' variable.path is the weight's name after this (a Sequential model's "name/"):
        # what Muon's exclude_layers and an OptimizerMap's patterns match; Model.compile sets it.
        self.path_prefix = ""
        self._exclude_names: set[str] = set()
        self._exclude_pattern: re.Pattern | None = None

    # ------------------------------------------------------------------ counting
    @property
    def iterations(self) -> int:
        """Updates applied so far (0 before the first): ``calls // gradient_accumulation_steps``
        with accumulation, else ``calls``. Assigning sets ``calls`` (what Keras' files hold)."""
        if self.gradient_accumulation_steps:
            return self.calls // self.gradient_accumulation_steps
        return self.calls

    @iterations.setter
    def iterations(self, value: int) -> None:
        self.calls = int(value)

    # ------------------------------------------------------------------ learning rate
    @property
    def learning_rate(self):
        """The learning rate the next update uses, as Keras reads ``optimizer.learning_rate``: the
        rate, or under a schedule its value at ``iterations`` (the schedule itself is
        :attr:`learning_rate_schedule`), as a ``floatx`` scalar: Keras keeps it in a float32
        variable, so ``float(np.array(optimizer.learning_rate))`` prints 0.10000000149011612 for
        0.1 (keras.io's callback guide). Assigning a float sets it; a schedule replaces it."""
        return np.asarray(self.current_learning_rate(), dtype=config.floatx())[()]

    @property
    def learning_rate_schedule(self):
        """The schedule (or plain callable) the rate follows, or None for a constant rate."""
        return self._learning_rate if callable(self._learning_rate) else None

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        where = type(self).__name__
        if callable(value):
            self._learning_rate = value
            return
        if callable(getattr(self, "_learning_rate", None)):
            raise TypeError(f"{where}: this optimizer was created with a learning-rate schedule as "
                            "its `learning_rate`, hence its learning rate is not settable. If you "
                            "need the learning rate to be settable, create the optimizer with a "
                            f"float `learning_rate`. Received: learning_rate={value!r}")
        self._learning_rate = _non_negative(value, "learning_rate", where)

    def current_learning_rate(self) -> float:
        """The rate the next update uses: the float, or ``schedule(calls)`` (``calls`` is
        ``iterations`` but under gradient accumulation, where Keras gives the schedule its raw
        counter of calls)."""
        if callable(self._learning_rate):
            return float(self._learning_rate(self.calls))
        return self._learning_rate

    # ------------------------------------------------------------------ one step
    def apply(self, params: list[Parameter]) -> None:
        """Update every parameter in place from its ``grad`` (steps 1-6 of the module docstring)."""
        self._check_known(params)
        grads = [p.grad for p in params]
        if self.loss_scale is not None:  # undo scale_loss: the gradients of the true loss
            grads = [g / g.dtype.type(self.loss_scale) for g in grads]
        if not self.gradient_accumulation_steps:
            self.update_step(params, grads)
        elif (self.calls + 1) % self.gradient_accumulation_steps == 0:
            # the k-th call: the update with the mean gradient of the k calls, then start again
            k = self.gradient_accumulation_steps
            accumulators = [self.slot(p, "gradient_accumulator") for p in params]
            self.update_step(params, [(g + acc) / g.dtype.type(k)
                                      for g, acc in zip(grads, accumulators, strict=True)])
            for acc in accumulators:
                acc[...] = 0
        else:  # a call in between: only remember the gradient
            for param, g in zip(params, grads, strict=True):
                accumulator = self.slot(param, "gradient_accumulator")
                accumulator += g
        if self.use_ema:
            self.update_moving_averages(params)
            if self.ema_overwrite_frequency and (self.iterations + 1) % self.ema_overwrite_frequency == 0:
                self.finalize_variable_values(params)
        # Keras: "Apply variable constraints after applying gradients" (kernel_constraint=...).
        constraints.apply(params)
        self.calls += 1

    def update_step(self, params: list[Parameter], grads: list[np.ndarray]) -> None:
        """The update proper (steps 1-3): clip the gradients, decay the weights, then the
        algorithm's ``update`` for each parameter, all at the rate of this update."""
        grads = self.clip(grads)
        lr = self.current_learning_rate()
        if self.weight_decay is not None:
            self.apply_weight_decay(params, lr)
        for param, grad in zip(params, grads, strict=True):
            self.update(param, grad, lr)

    def apply_weight_decay(self, params: list[Parameter], lr: float) -> None:
        """``w <- w - w * weight_decay * lr`` for each parameter not excluded from it."""
        for param in params:
            if self._use_weight_decay(param):
                f = param.value.dtype.type
                param.value -= param.value * f(self.weight_decay) * f(lr)

    @property
    def loss_scale(self) -> float | None:
        """The factor ``train_step`` scales the loss by: ``loss_scale_factor`` (None: none)."""
        return self.loss_scale_factor

    def scale_loss(self, loss):
        """The loss (or a gradient) times ``loss_scale``; unchanged without one. ``train_step``
        scales the finished gradients (``Model._scale_gradients``): the gradient of ``s * loss``
        is ``s`` times the gradient of ``loss``."""
        if self.loss_scale is None:
            return loss
        with np.errstate(over="ignore"):  # inf is the signal a LossScaleOptimizer waits for
            return loss * np.asarray(loss).dtype.type(self.loss_scale)

    # ------------------------------------------------------------------ moving averages
    def update_moving_averages(self, params: list[Parameter]) -> None:
        """``average <- m * average + (1 - m) * w``, ``m = ema_momentum`` but 0 at the first
        update (the average starts at the weight); in the weight's dtype, as Keras."""
        for param in params:
            f = param.value.dtype.type
            momentum = f(self.ema_momentum) if self.iterations != 0 else f(0)
            average = self.slot(param, "average")
            average[...] = momentum * average + (f(1) - momentum) * param.value

    def finalize_variable_values(self, params: list[Parameter]) -> None:
        """Keras' end of ``fit``: with ``use_ema``, each weight becomes its moving average."""
        if not self.use_ema or self.calls == 0:  # (no call yet: no averages to take)
            return
        for param in params:
            key = f"{param.name}/average"
            if key not in self.state:
                raise ValueError(f"{type(self).__name__}: no moving average for {param.name!r}; was "
                                 "the optimizer used on this model's weights?")
            param.value[...] = self.state[key]

    def _check_known(self, params: list[Parameter]) -> None:
        """Keras' rule: an optimizer serves the parameters of its first update and no others. Its
        state is keyed by parameter name, so a second model's ``dense/kernel`` would otherwise
        carry on from the first model's moments and step count without a word."""
        if self._built_for is None:
            self._built_for = list(params)  # kept alive, so their ids stay theirs
        known = {id(p) for p in self._built_for}
        for param in params:
            if id(param) not in known:
                raise ValueError(
                    f"Unknown variable: {param.name!r} (shape {param.value.shape}). This optimizer "
                    f"({type(self).__name__}) can only be called for the variables it was "
                    "originally built with (in its first update). When working with a new set of "
                    "variables, you should recreate a new optimizer instance.")

    def clip(self, grads: list[np.ndarray]) -> list[np.ndarray]:
        if self.clipnorm is not None:
            return [_clip_by_norm(g, self.clipnorm) for g in grads]
        if self.global_clipnorm is not None:
            norm = np.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in grads))
            scale = self.global_clipnorm / max(norm, self.global_clipnorm)
            return [g * g.dtype.type(scale) for g in grads]
        if self.clipvalue is not None:
            return [np.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        return grads

    def update(self, param: Parameter, grad: np.ndarray, lr: float) -> None:
        raise NotImplementedError

    def slot(self, param: Parameter, slot: str, initial: float = 0.0) -> np.ndarray:
        """The state array ``slot`` for ``param``, created full of ``initial`` on first use."""
        key = f"{param.name}/{slot}"
        if key not in self.state:
            self.state[key] = np.full_like(param.value, initial)
        return self.state[key]

    def variable_path(self, param: Parameter) -> str:
        """Keras' ``variable.path`` of ``param``: ``"sequential/dense/kernel"`` for a Sequential
        model's weight (Keras builds its layers under the model's name), the weight's own name
        ``"dense/kernel"`` in a functional model or outside a model; a recurrent layer's weight
        under its cell's name, ``"lstm/lstm_cell/kernel"``, as Keras builds it."""
        name = param.name
        if param.keras_cell:
            layer, _, weight = name.rpartition("/")
            name = f"{layer}/{param.keras_cell}/{weight}"
        return f"{self.path_prefix}{name}"

    # ------------------------------------------------------------------ weight decay
    def exclude_from_weight_decay(self, var_list=None, var_names=None) -> None:
        """No weight decay for the parameters in ``var_list``, nor for any parameter whose own
        name (``"kernel"``, ``"bias"``: Keras' variable name, without the layer) contains one of
        the regular expressions ``var_names``. Keras' rule, e.g. ``var_names=["bias"]``."""
        self._exclude_names = {p.name for p in var_list or []}
        self._exclude_pattern = re.compile("|".join(set(var_names))) if var_names else None

    def _use_weight_decay(self, param: Parameter) -> bool:
        if param.name in self._exclude_names:
            return False
        own_name = param.name.rsplit("/", 1)[-1]
        return self._exclude_pattern is None or self._exclude_pattern.search(own_name) is None

    # ------------------------------------------------------------------ saving
    def get_config(self) -> dict:
        """Keras' argument names; a schedule is written as ``schedules.serialize`` writes it."""
        lr = self._learning_rate
        if isinstance(lr, schedules.LearningRateSchedule):
            lr = schedules.serialize(lr)
        elif callable(lr):
            raise ValueError(f"{type(self).__name__}: a callable learning_rate cannot be saved; use "
                             "a float or a scratchnet.optimizers.schedules schedule")
        # Keras' BaseOptimizer.get_config, key for key (keras/src/optimizers/base_optimizer.py)
        return {"name": self.name, "learning_rate": lr, "weight_decay": self.weight_decay,
                "clipnorm": self.clipnorm, "global_clipnorm": self.global_clipnorm,
                "clipvalue": self.clipvalue, "use_ema": self.use_ema,
                "ema_momentum": self.ema_momentum,
                "ema_overwrite_frequency": self.ema_overwrite_frequency,
                "loss_scale_factor": self.loss_scale_factor,
                "gradient_accumulation_steps": self.gradient_accumulation_steps}

    @classmethod
    def from_config(cls, config: dict) -> Optimizer:
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"])
        return cls(**config)


def _clip_by_norm(g: np.ndarray, clipnorm: float) -> np.ndarray:
    """``g * clipnorm / max(||g||, clipnorm)``: unchanged if the norm is within ``clipnorm``."""
    norm = float(np.sqrt(np.sum(np.square(g, dtype=np.float64))))
    return g * g.dtype.type(clipnorm / max(norm, clipnorm))


def _snake_case(name: str) -> str:
    """Keras' ``to_snake_case``: ``"SGD"`` -> ``"sgd"``, ``"RMSprop"`` -> ``"rm_sprop"``."""
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _positive(value, arg: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0 \
            or not np.isfinite(value):
        raise ValueError(f"{where}: expected {arg} to be a positive float, received {value!r}")
    return float(value)


def _non_negative(value, arg: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0 \
            or not np.isfinite(value):
        raise ValueError(f"{where}: expected {arg} to be a finite float >= 0, received {value!r}")
    return float(value)


def _fraction(value, arg: str, where: str, upper_open: bool = False) -> float:
    """A float in ``[0, 1]`` (``[0, 1)`` with ``upper_open``), as momentum and decay rates are."""
    bound = "[0, 1)" if upper_open else "[0, 1]"
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= 1 \
            or (upper_open and value == 1):
        raise ValueError(f"{where}: expected {arg} to be a float in {bound}, received {value!r}")
    return float(value)
