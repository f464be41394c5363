"""LossScaleOptimizer, as Keras 3's ``keras/src/optimizers/loss_scale_optimizer.py``."""

from __future__ import annotations

import numbers

import numpy as np

from scratchnet.optimizers.base import Optimizer, _positive

# Base-optimizer arguments Keras' LossScaleOptimizer accepts only at their defaults (old configs
# wrote them): each belongs on the inner optimizer.
_BASE_DEFAULTS = {"weight_decay": None, "clipnorm": None, "global_clipnorm": None, "clipvalue": None,
                  "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
                  "loss_scale_factor": None, "gradient_accumulation_steps": None}


class LossScaleOptimizer(Optimizer):
    """Dynamic loss scaling around another optimizer (what ``mixed_float16`` training needs).

    ``train_step`` multiplies the loss by ``scale`` (:meth:`scale_loss`) so that small float16
    gradients do not round to 0; then, at each ``apply``:

    * every gradient finite: the inner optimizer applies ``g / scale``; after
      ``dynamic_growth_steps`` such steps in a row the scale doubles (``scale <- 2 * scale``,
      and the count restarts);
    * any gradient ``inf`` or ``nan`` (the scale was too large): the step is skipped (no
      update, the inner ``iterations`` do not advance) and ``scale <- scale / 2``.

    ``scale`` starts at ``initial_scale`` (2**15) and is a float32, ``dynamic_scale``; the count
    is ``step_counter``. ``iterations``, ``learning_rate`` and ``state`` are the inner
    optimizer's, as in Keras.
    """

    def __init__(self, inner_optimizer, initial_scale=2.0**15, dynamic_growth_steps: int = 2000,
                 name: str | None = None, **kwargs):
        where = "LossScaleOptimizer"
        if not kwargs.pop("dynamic", True):
            raise ValueError(f"{where} no longer supports `dynamic=False`. Instead, simply set "
                             "`loss_scale_factor` directly on the `inner_optimizer`.")
        for arg, default in _BASE_DEFAULTS.items():
            if arg in kwargs and kwargs.pop(arg) != default:
                raise ValueError(f"{where} does not support `{arg}`. Instead, set `{arg}` on the "
                                 "`inner_optimizer`.")
        if kwargs:
            raise ValueError(f"{where} does not support arguments: `{'`, `'.join(kwargs)}`.")
        if not isinstance(inner_optimizer, Optimizer) or isinstance(inner_optimizer, LossScaleOptimizer):
            raise TypeError(f"{where}: expected inner_optimizer to be a scratchnet optimizer (not a "
                            f"LossScaleOptimizer), received {inner_optimizer!r}")
        super().__init__(learning_rate=0.0, name=name)  # (Keras' own, unused, rate and counter)
        self.inner_optimizer = inner_optimizer
        self.initial_scale = _positive(initial_scale, "initial_scale", where)
        if isinstance(dynamic_growth_steps, bool) or not isinstance(dynamic_growth_steps, numbers.Integral) \
                or dynamic_growth_steps < 1:
            raise ValueError(f"{where}: expected dynamic_growth_steps to be an integer >= 1, received "
                             f"{dynamic_growth_steps!r}")
        self.dynamic_growth_steps = int(dynamic_growth_steps)
        self.dynamic_scale = np.float32(self.initial_scale)
        self.step_counter = 0
        # (Keras: "otherwise gradients will be scaled twice")
        inner_optimizer.loss_scale_factor = None

    # the inner optimizer's counters, rate and state, as Keras exposes them
    @property
    def calls(self) -> int:
        return self.inner_optimizer.calls if hasattr(self, "inner_optimizer") else 0

    @calls.setter
    def calls(self, value: int) -> None:
        if hasattr(self, "inner_optimizer"):  # (the base __init__'s 0 is Keras' unused own counter)
            self.inner_optimizer.calls = int(value)

    @property
    def iterations(self) -> int:
        return self.inner_optimizer.iterations

    @iterations.setter
    def iterations(self, value: int) -> None:
        self.inner_optimizer.iterations = value

    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        if hasattr(self, "inner_optimizer"):  # (the base __init__'s 0.0 is Keras' unused own rate)
            self.inner_optimizer.learning_rate = value

    @property
    def learning_rate_schedule(self):
        return self.inner_optimizer.learning_rate_schedule

    def current_learning_rate(self) -> float:
        return self.inner_optimizer.current_learning_rate()

    @property
    def state(self) -> dict:
        return self.inner_optimizer.state

    @state.setter
    def state(self, value: dict) -> None:
        if hasattr(self, "inner_optimizer"):  # (not the base __init__'s empty dict)
            self.inner_optimizer.state = value

    @property
    def path_prefix(self) -> str:
        return self.inner_optimizer.path_prefix if hasattr(self, "inner_optimizer") else ""

    @path_prefix.setter
    def path_prefix(self, value: str) -> None:
        if hasattr(self, "inner_optimizer"):
            self.inner_optimizer.path_prefix = value

    @property
    def loss_scale(self) -> np.float32:
        """What ``train_step`` multiplies the loss by: the current ``dynamic_scale``."""
        return self.dynamic_scale

    def apply(self, params) -> None:
        """One step of the inner optimizer on the unscaled gradients, or none, and the new scale."""
        if not all(np.all(np.isfinite(p.grad)) for p in params):
            self.step_counter = 0  # skip the step; the scale was too large
            self.dynamic_scale = self.dynamic_scale * np.float32(0.5)
            return
        for param in params:
            param.grad = param.grad / param.grad.dtype.type(self.dynamic_scale)
        self.inner_optimizer.apply(params)
        if self.step_counter == self.dynamic_growth_steps - 1:  # so many good steps: try larger
            self.step_counter = 0
            self.dynamic_scale = self.dynamic_scale * np.float32(2)
        else:
            self.step_counter += 1

    def finalize_variable_values(self, params) -> None:
        self.inner_optimizer.finalize_variable_values(params)

    def get_config(self) -> dict:
        from scratchnet.optimizers import serialize

        return {"name": self.name, "inner_optimizer": serialize(self.inner_optimizer),
                "initial_scale": self.initial_scale,
                "dynamic_growth_steps": self.dynamic_growth_steps}

    @classmethod
    def from_config(cls, config: dict) -> LossScaleOptimizer:
        from scratchnet.optimizers import deserialize

        config = dict(config)
        inner = config.pop("inner_optimizer")
        return cls(deserialize(inner) if isinstance(inner, dict) else inner, **config)
