"""MultiOptimizer and OptimizerMap, as Keras 3's ``keras/src/optimizers/multi_optimizer.py``."""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from typing import NamedTuple

import numpy as np

from scratchnet.optimizers.base import Optimizer
from scratchnet.optimizers.loss_scale_optimizer import LossScaleOptimizer


class VariableView(NamedTuple):
    """What a selector function is handed for a weight: Keras' ``variable.path`` (the model's
    name first in a Sequential model: ``"sequential/dense/kernel"``), its own ``name``
    (``"kernel"``), ``shape`` and ``dtype``, as a Keras variable offers them."""

    path: str
    name: str
    shape: tuple
    dtype: np.dtype


class OptimizerMap(MutableMapping):
    """Which optimizer updates which weight: patterns of Keras' variable paths to optimizers.

    ``optimizer_map[path]`` is the optimizer of the key equal to ``path``; else of the one key
    that matches all of it as a regular expression (``re.fullmatch``: ``"encoder/.*"``; two
    matching keys are an error); else ``default_optimizer``. A Sequential model's paths start
    with its name (``"sequential/dense_1/kernel"``), so ``".*dense_1/.*"`` is the pattern for one
    layer there.
    """

    def __init__(self, default_optimizer, optimizer_map: dict | None = None):
        if not isinstance(default_optimizer, Optimizer):
            raise TypeError(f"default_optimizer must be a scratchnet Optimizer instance. Received: "
                            f"{default_optimizer!r}")
        if optimizer_map is not None and not isinstance(optimizer_map, dict):
            raise TypeError(f"optimizer_map must be a dictionary. Received: {optimizer_map!r}")
        self._default_optimizer = default_optimizer
        self._optimizer_map: dict[str, Optimizer] = {}
        for key, optimizer in (optimizer_map or {}).items():
            self[key] = optimizer

    @property
    def default_optimizer(self) -> Optimizer:
        return self._default_optimizer

    def __getitem__(self, key: str) -> Optimizer:
        if key in self._optimizer_map:
            return self._optimizer_map[key]
        matching = [pattern for pattern in self._optimizer_map if re.fullmatch(pattern, key)]
        if len(matching) > 1:
            raise ValueError(f"Multiple optimizers assigned to variable {key}: patterns {matching}.")
        return self._optimizer_map[matching[0]] if matching else self._default_optimizer

    def __setitem__(self, key: str, optimizer: Optimizer) -> None:
        if key in self._optimizer_map:
            raise ValueError(f"'{key}' already exists in the OptimizerMap with value "
                             f"{self._optimizer_map[key]}. Please make sure to not use duplicated keys.")
        if not isinstance(key, str):
            raise ValueError(f"key must be a string. Received: {key!r}")
        if not isinstance(optimizer, Optimizer):
            raise ValueError(f"optimizer must be a scratchnet Optimizer instance. Received: {optimizer!r}")
        if isinstance(optimizer, LossScaleOptimizer):
            raise ValueError("optimizer cannot be LossScaleOptimizer.")
        if isinstance(optimizer, MultiOptimizer):
            raise ValueError("optimizer cannot be MultiOptimizer.")
        self._optimizer_map[key] = optimizer

    def __delitem__(self, key: str) -> None:
        del self._optimizer_map[key]

    def __len__(self) -> int:
        return len(self._optimizer_map)

    def __iter__(self):
        return iter(self._optimizer_map)

    def __call__(self, variable: VariableView) -> Optimizer:
        return self[variable.path]

    def get_config(self) -> dict:
        from scratchnet.optimizers import serialize

        return {"default_optimizer": serialize(self._default_optimizer),
                "optimizer_map": {key: serialize(opt) for key, opt in self._optimizer_map.items()}}

    @classmethod
    def from_config(cls, config: dict) -> OptimizerMap:
        from scratchnet.optimizers import deserialize

        return cls(deserialize(config["default_optimizer"]),
                   {key: deserialize(spec) for key, spec in (config.get("optimizer_map") or {}).items()})


class MultiOptimizer(Optimizer):
    """Different optimizers for different weights: ``optimizer_map`` (an :class:`OptimizerMap`, or
    a function of a :class:`VariableView` returning an optimizer) picks one per weight at the
    first update; then each ``apply`` hands every optimizer its own weights, in the order the
    optimizers were first picked (the map's optimizers first, its default last), and counts one
    more call. Each inner optimizer keeps its own rate, clipping, iterations and state.

    ``loss_scale_factor`` replaces the inner optimizers' own (``train_step`` scales the loss by
    it, each inner optimizer unscales its gradients). A MultiOptimizer has no learning rate of its
    own: reading or setting ``learning_rate`` is an error, as in Keras; use ``.optimizers``.
    """

    def __init__(self, optimizer_map, loss_scale_factor=None, name: str | None = None):
        if not callable(optimizer_map):
            raise TypeError("MultiOptimizer: expected optimizer_map to be an OptimizerMap or a "
                            f"function of a variable, received {optimizer_map!r}")
        self._optimizer_map = optimizer_map
        self._inner_optimizers: list[Optimizer] = []
        super().__init__(learning_rate=0.0, loss_scale_factor=loss_scale_factor, name=name)
        for opt in list(getattr(optimizer_map, "values", list)()) + [
                getattr(optimizer_map, "default_optimizer", None)]:
            if opt is not None and opt not in self._inner_optimizers:
                self._inner_optimizers.append(opt)
        self.loss_scale_factor = self.loss_scale_factor  # handed to the inner optimizers
        self._assigned: dict[int, int] | None = None  # id(param) -> index of its optimizer

    @property
    def optimizers(self) -> list[Optimizer]:
        return self._inner_optimizers

    @property
    def loss_scale_factor(self):
        return getattr(self, "_loss_scale_factor", None)

    @loss_scale_factor.setter
    def loss_scale_factor(self, value) -> None:
        self._loss_scale_factor = value
        for opt in getattr(self, "_inner_optimizers", []):
            opt.loss_scale_factor = value

    @property
    def learning_rate(self):
        raise AttributeError("Learning rate cannot be accessed on a MultiOptimizer. Access the "
                             "learning rate on the individual sub-optimizers instead.")

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        if hasattr(self, "_learning_rate"):
            raise AttributeError("Learning rate cannot be set on a MultiOptimizer. Set the learning "
                                 "rate on the individual sub-optimizers instead.")
        self._learning_rate = value  # (the base __init__'s 0.0: Keras' unused own rate)

    @property
    def learning_rate_schedule(self):
        return None

    @property
    def path_prefix(self) -> str:
        return getattr(self, "_path_prefix", "")

    @path_prefix.setter
    def path_prefix(self, value: str) -> None:
        self._path_prefix = value
        for opt in getattr(self, "_inner_optimizers", []):
            opt.path_prefix = value

    def optimizer_for(self, param) -> Optimizer:
        """The optimizer the map picks for ``param`` (by its Keras path)."""
        view = VariableView(self.variable_path(param), param.name.rsplit("/", 1)[-1],
                            tuple(param.value.shape), param.value.dtype)
        opt = self._optimizer_map(view)
        if not isinstance(opt, Optimizer):
            raise ValueError(f"Optimizer for variable {view.path} is not an Optimizer instance: "
                             f"{opt!r}")
        if isinstance(opt, LossScaleOptimizer):
            raise ValueError("LossScaleOptimizer cannot be used inside an MultiOptimizer.")
        if isinstance(opt, MultiOptimizer):
            raise ValueError("MultiOptimizer cannot be used inside an MultiOptimizer.")
        return opt

    def build(self, params) -> None:
        """Pick each parameter's optimizer (Keras does it once, at the first update)."""
        self._check_known(params)
        self._assigned = {}
        for param in params:
            opt = self.optimizer_for(param)
            if opt not in self._inner_optimizers:
                opt.loss_scale_factor = self.loss_scale_factor
                opt.path_prefix = self.path_prefix
                self._inner_optimizers.append(opt)
            self._assigned[id(param)] = self._inner_optimizers.index(opt)

    def params_of(self, params) -> list[list]:
        """``params`` split by optimizer, in the order of :attr:`optimizers`."""
        if self._assigned is None:
            self.build(params)
        groups: list[list] = [[] for _ in self._inner_optimizers]
        for param in params:
            groups[self._assigned[id(param)]].append(param)
        return groups

    def apply(self, params) -> None:
        self._check_known(params)
        for opt, group in zip(self._inner_optimizers, self.params_of(params), strict=True):
            if group:
                opt.apply(group)
        self.calls += 1

    def finalize_variable_values(self, params) -> None:
        if self._assigned is None:
            return
        for opt, group in zip(self._inner_optimizers, self.params_of(params), strict=True):
            if group:
                opt.finalize_variable_values(group)

    # Saving: each inner optimizer's state under "optimizers/<i>/", with its count of calls
    # ("optimizers/<i>/calls"), i its place in .optimizers.
    @property
    def state(self) -> dict:
        joined = {}
        for i, opt in enumerate(getattr(self, "_inner_optimizers", [])):
            joined.update({f"optimizers/{i}/{key}": value for key, value in opt.state.items()})
            joined[f"optimizers/{i}/calls"] = np.array(opt.calls)
        return joined

    @state.setter
    def state(self, value: dict) -> None:
        if not hasattr(self, "_assigned") or not value:
            return  # (the base __init__'s empty dict)
        parts: dict[int, dict] = {}
        for key, array in value.items():
            head, index, rest = (key.split("/", 2) + ["", ""])[:3]
            if head != "optimizers" or not index.isdigit() or not rest:
                raise ValueError(f"MultiOptimizer: saved state {key!r} is not under "
                                 "'optimizers/<i>/' (the i-th inner optimizer's)")
            parts.setdefault(int(index), {})[rest] = array
        if max(parts) >= len(self._inner_optimizers):
            raise ValueError(f"MultiOptimizer: saved state for optimizer {max(parts)}, but it has "
                             f"{len(self._inner_optimizers)}")
        for index, part in parts.items():
            opt = self._inner_optimizers[index]
            if "calls" in part:
                opt.calls = int(part.pop("calls"))
            opt.state = part

    def get_config(self) -> dict:
        if not isinstance(self._optimizer_map, OptimizerMap):
            raise ValueError("MultiOptimizer: an optimizer_map given as a function cannot be saved; "
                             "use an OptimizerMap")
        return {"optimizer_map": {"module": "keras.optimizers", "class_name": "OptimizerMap",
                                  "config": self._optimizer_map.get_config(), "registered_name": None},
                "loss_scale_factor": self.loss_scale_factor, "name": self.name}

    @classmethod
    def from_config(cls, config: dict) -> MultiOptimizer:
        config = dict(config)
        spec = config.pop("optimizer_map")
        if isinstance(spec, dict):
            spec = OptimizerMap.from_config(spec.get("config", spec))
        return cls(spec, **config)
