"""Learning-rate schedules: the rate as a function of the optimizer's 0-based ``iterations``.

Pass one as ``learning_rate=`` to any optimizer; before each update the optimizer calls
``schedule(iterations)`` (0 on the first update), as Keras 3 does
(``keras/src/optimizers/schedules/learning_rate_schedule.py``). Keras computes every schedule in
float32 whatever ``floatx`` is, so these do too: each returns a ``np.float32``.

A schedule saves as Keras writes it, ``{"module": "keras.optimizers.schedules", "class_name":
"ExponentialDecay", "config": {...}, "registered_name": None}``, with :func:`serialize` and
:func:`deserialize`; ``get_config()`` uses Keras' argument names.
"""

from __future__ import annotations

import numbers

import numpy as np

f32 = np.float32


class LearningRateSchedule:
    """Base class: a subclass defines ``__call__(step)`` and, to be saved, ``get_config()``."""

    def __call__(self, step):
        raise NotImplementedError(f"Learning rate schedule '{type(self).__name__}' must override "
                                  "`__call__(self, step)`.")

    def get_config(self) -> dict:
        raise NotImplementedError(f"Learning rate schedule '{type(self).__name__}' must override "
                                  "`get_config()` in order to be serializable.")

    @classmethod
    def from_config(cls, config: dict) -> LearningRateSchedule:
        return cls(**config)


class _RateDecay(LearningRateSchedule):
    """The arguments ExponentialDecay and InverseTimeDecay share, and ``p``, the steps done in
    units of ``decay_steps`` (``floor``-ed with ``staircase=True``: the rate then changes once
    every ``decay_steps`` steps instead of a little every step)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase: bool = False,
                 name: str | None = None):
        where = type(self).__name__
        self.initial_learning_rate = _number(initial_learning_rate, "initial_learning_rate", where)
        self.decay_steps = _positive_number(decay_steps, where)
        self.decay_rate = _number(decay_rate, "decay_rate", where)
        self.staircase = staircase
        self.name = name or where

    def steps_done(self, step) -> np.float32:
        p = f32(step) / f32(self.decay_steps)
        return np.floor(p) if self.staircase else p

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class ExponentialDecay(_RateDecay):
    """``lr(step) = initial_learning_rate * decay_rate ** p``, ``p = step / decay_steps``
    (``floor`` of it with ``staircase=True``). In float32, as Keras."""

    def __call__(self, step) -> np.float32:
        return f32(self.initial_learning_rate) * np.power(f32(self.decay_rate), self.steps_done(step))


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while ``step <= boundaries[0]``, ``values[i]`` while
    ``boundaries[i-1] < step <= boundaries[i]``, and ``values[-1]`` once ``step > boundaries[-1]``.
    ``values`` has one more entry than ``boundaries``, which must increase strictly.
    """

    def __init__(self, boundaries, values, name: str = "PiecewiseConstant"):
        where = type(self).__name__
        boundaries, values = list(boundaries), list(values)
        if len(boundaries) != len(values) - 1:
            raise ValueError(f"{where}: the length of boundaries should be 1 less than the length of "
                             f"values. Received: boundaries={boundaries} of length {len(boundaries)}, "
                             f"and values={values} of length {len(values)}.")
        for arg, numbers_ in (("boundaries", boundaries), ("values", values)):
            for value in numbers_:
                _number(value, f"every entry of {arg}", where)
        if any(b >= b_next for b, b_next in zip(boundaries[:-1], boundaries[1:], strict=True)):
            raise ValueError(f"{where}: expected strictly increasing boundaries, received {boundaries}")
        self.boundaries = boundaries
        self.values = values
        self.name = name

    def __call__(self, step) -> np.float32:
        for boundary, value in zip(self.boundaries, self.values[:-1], strict=True):
            if step <= boundary:
                return f32(value)
        return f32(self.values[-1])

    def get_config(self) -> dict:
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class CosineDecay(LearningRateSchedule):
    """Cosine decay (Loshchilov & Hutter, SGDR), after an optional linear warmup. In float32.

    Without ``warmup_target`` (the default), from ``lr0 = initial_learning_rate``:
        ``s = min(step, decay_steps)``
        ``cosine = 0.5 * (1 + cos(pi * s / decay_steps))``
        ``lr(step) = lr0 * ((1 - alpha) * cosine + alpha)``: from ``lr0`` down to ``alpha * lr0``.
    With ``warmup_target``, first ``warmup_steps`` steps of linear warmup, then the decay from
    ``warmup_target``:
        ``s = min(step, warmup_steps + decay_steps)``
        ``s < warmup_steps``: ``lr = (warmup_target - lr0) * s / warmup_steps + lr0``
        otherwise: the decay above at ``s - warmup_steps``, with ``warmup_target`` in place of ``lr0``.
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name: str = "CosineDecay",
                 warmup_target=None, warmup_steps=0):
        where = type(self).__name__
        self.initial_learning_rate = _number(initial_learning_rate, "initial_learning_rate", where)
        self.decay_steps = _positive_number(decay_steps, where)
        self.alpha = _number(alpha, "alpha", where)
        self.name = name
        self.warmup_steps = _number(warmup_steps, "warmup_steps", where)
        if self.warmup_steps < 0:
            raise ValueError(f"{where}: expected warmup_steps >= 0, received {warmup_steps!r}")
        self.warmup_target = None if warmup_target is None else _number(
            warmup_target, "warmup_target", where)

    def __call__(self, step) -> np.float32:
        step = f32(step)
        decay_steps = f32(self.decay_steps)
        if self.warmup_target is None:
            return self._decay(min(step, decay_steps), f32(self.initial_learning_rate))
        warmup_steps = f32(self.warmup_steps)
        step = min(step, decay_steps + warmup_steps)
        if step < warmup_steps:
            return self._warmup(step)
        return self._decay(step - warmup_steps, f32(self.warmup_target))

    def _decay(self, step: np.float32, decay_from: np.float32) -> np.float32:
        completed_fraction = step / f32(self.decay_steps)
        cosine_decayed = f32(0.5) * (f32(1) + np.cos(f32(np.pi) * completed_fraction))
        decayed = f32(1 - self.alpha) * cosine_decayed + f32(self.alpha)
        return decay_from * decayed

    def _warmup(self, step: np.float32) -> np.float32:
        completed_fraction = step / f32(self.warmup_steps)
        total_step_delta = f32(self.warmup_target) - f32(self.initial_learning_rate)
        return total_step_delta * completed_fraction + f32(self.initial_learning_rate)

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "name": self.name, "warmup_target": self.warmup_target,
                "warmup_steps": self.warmup_steps}


class InverseTimeDecay(_RateDecay):
    """``lr(step) = initial_learning_rate / (1 + decay_rate * p)``, ``p = step / decay_steps``
    (``floor`` of it with ``staircase=True``). In float32, as Keras."""

    def __call__(self, step) -> np.float32:
        p = self.steps_done(step)
        return f32(self.initial_learning_rate) / (f32(1) + f32(self.decay_rate) * p)


class PolynomialDecay(LearningRateSchedule):
    """From ``lr0 = initial_learning_rate`` down to ``end_learning_rate`` along a polynomial. In
    float32, as Keras:

        ``s = min(step, decay_steps)``, ``p = s / decay_steps``
        ``lr(step) = (lr0 - end_learning_rate) * (1 - p) ** power + end_learning_rate``

    With ``cycle=True`` the decay starts again: ``decay_steps`` becomes its first multiple at or
    above ``step`` (``decay_steps * ceil(step / decay_steps)``, and 1x at step 0), and ``s = step``.
    ``power=1`` is a straight line.
    """

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0,
                 cycle: bool = False, name: str = "PolynomialDecay"):
        where = type(self).__name__
        self.initial_learning_rate = _number(initial_learning_rate, "initial_learning_rate", where)
        self.decay_steps = _positive_number(decay_steps, where)
        self.end_learning_rate = _number(end_learning_rate, "end_learning_rate", where)
        self.power = _number(power, "power", where)
        self.cycle = cycle
        self.name = name

    def __call__(self, step) -> np.float32:
        step, decay_steps = f32(step), f32(self.decay_steps)
        if self.cycle:
            decay_steps = decay_steps * (f32(1) if step == 0 else np.ceil(step / decay_steps))
        else:
            step = min(step, decay_steps)
        p = step / decay_steps
        lr0, end = f32(self.initial_learning_rate), f32(self.end_learning_rate)
        return (lr0 - end) * np.power(f32(1) - p, f32(self.power)) + end

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "end_learning_rate": self.end_learning_rate, "power": self.power,
                "cycle": self.cycle, "name": self.name}


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR, Loshchilov & Hutter). In float32, as Keras.

    Period ``i`` (from 0) lasts ``first_decay_steps * t_mul ** i`` steps and starts at
    ``lr0 * m_mul ** i``; within it, with ``f`` the fraction of the period done,

        ``lr = lr0 * ((1 - alpha) * m_mul ** i * (1 + cos(pi * f)) / 2 + alpha)``

    Finding the period of ``step``: ``c = step / first_decay_steps``; with ``t_mul == 1`` every
    period is as long, ``i = floor(c)`` and ``f = c - i``; otherwise the periods form a geometric
    series, ``i = floor(log(1 - c (1 - t_mul)) / log(t_mul))``, ``f = (c - (1 - t_mul ** i) /
    (1 - t_mul)) / t_mul ** i``.
    """

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0,
                 name: str = "SGDRDecay"):
        where = type(self).__name__
        self.initial_learning_rate = _number(initial_learning_rate, "initial_learning_rate", where)
        _number(first_decay_steps, "first_decay_steps", where)
        if first_decay_steps <= 0:
            raise ValueError(f"{where}: argument `first_decay_steps` must be > 0. "
                             f"Received: first_decay_steps={first_decay_steps}")
        self.first_decay_steps = first_decay_steps
        self.t_mul = _number(t_mul, "t_mul", where)
        self.m_mul = _number(m_mul, "m_mul", where)
        self.alpha = _number(alpha, "alpha", where)
        self.name = name

    def __call__(self, step) -> np.float32:
        completed = f32(step) / f32(self.first_decay_steps)
        t_mul, m_mul, alpha = f32(self.t_mul), f32(self.m_mul), f32(self.alpha)
        if t_mul == f32(1):
            i_restart = np.floor(completed)
            completed = completed - i_restart
        else:
            i_restart = np.floor(np.log(f32(1) - completed * (f32(1) - t_mul)) / np.log(t_mul))
            sum_r = (f32(1) - np.power(t_mul, i_restart)) / (f32(1) - t_mul)
            completed = (completed - sum_r) / np.power(t_mul, i_restart)
        m_fac = np.power(m_mul, i_restart)
        cosine_decayed = f32(0.5) * m_fac * (f32(1) + np.cos(f32(np.pi) * completed))
        decayed = (f32(1) - alpha) * cosine_decayed + alpha
        return f32(self.initial_learning_rate) * decayed

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate,
                "first_decay_steps": self.first_decay_steps, "t_mul": self.t_mul,
                "m_mul": self.m_mul, "alpha": self.alpha, "name": self.name}


_REGISTRY: dict[str, type[LearningRateSchedule]] = {
    cls.__name__: cls for cls in (ExponentialDecay, PiecewiseConstantDecay, CosineDecay,
                                  InverseTimeDecay, PolynomialDecay, CosineDecayRestarts)}


def serialize(schedule: LearningRateSchedule) -> dict:
    """Keras' serialized form of ``schedule``, ready for JSON."""
    if not isinstance(schedule, LearningRateSchedule):
        raise TypeError("serialize: expected a scratchnet.optimizers.schedules.LearningRateSchedule, "
                        f"received {type(schedule).__name__}")
    return {"module": "keras.optimizers.schedules", "class_name": type(schedule).__name__,
            "config": schedule.get_config(), "registered_name": None}


def deserialize(config: dict) -> LearningRateSchedule:
    """The schedule :func:`serialize` (or Keras) wrote."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError("deserialize: expected a dict with 'class_name' and 'config' (as "
                         f"schedules.serialize writes), received {config!r}")
    cls = _REGISTRY.get(config["class_name"])
    if cls is None:
        raise ValueError(f"deserialize: unknown learning-rate schedule {config['class_name']!r}; "
                         f"expected one of {sorted(_REGISTRY)}")
    return cls.from_config(dict(config.get("config", {})))


def _number(value, arg: str, where: str):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{where}: expected {arg} to be a finite number, received {value!r}")
    return value


def _positive_number(decay_steps, where: str):
    _number(decay_steps, "decay_steps", where)
    if decay_steps <= 0:
        raise ValueError(f"{where}: argument `decay_steps` must be > 0. "
                         f"Received: decay_steps={decay_steps}")
    return decay_steps
