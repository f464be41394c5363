"""``keras.optimizers.legacy``: the Keras 2 optimizers, which Keras 3 no longer has.

Keras 3 keeps the names so that an old program stops with an explanation instead of an
``AttributeError``; scratchnet does the same, and points to the optimizer to use instead
(``sn.optimizers.Adam`` takes the same ``learning_rate``, ``beta_1``, ... arguments).
"""

from __future__ import annotations


class _LegacyOptimizer:
    def __init__(self, *args, **kwargs):
        name = type(self).__name__
        raise ImportError(f"`keras.optimizers.legacy` is not supported in Keras 3, nor in scratchnet, "
                          f"which mirrors it: use scratchnet.optimizers.{name} instead (Keras 3's "
                          f"keras.optimizers.{name}; its arguments are Keras 3's, e.g. learning_rate, "
                          "not lr)")


class Adagrad(_LegacyOptimizer): ...
class Adam(_LegacyOptimizer): ...
class Ftrl(_LegacyOptimizer): ...
class Optimizer(_LegacyOptimizer): ...
class RMSprop(_LegacyOptimizer): ...
class SGD(_LegacyOptimizer): ...


__all__ = ["Adagrad", "Adam", "Ftrl", "Optimizer", "RMSprop", "SGD"]
