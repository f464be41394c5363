"""``keras.mixed_precision``'s names: policies and the loss-scaling optimizer.

Policies: :mod:`scratchnet.dtype_policies` (float32 and float64 run; the mixed policies are
refused with the reason). ``LossScaleOptimizer``: :mod:`scratchnet.optimizers.loss_scale_optimizer`.
"""

from __future__ import annotations

from scratchnet.dtype_policies import DTypePolicy, dtype_policy, set_dtype_policy
from scratchnet.optimizers.loss_scale_optimizer import LossScaleOptimizer

Policy = DTypePolicy  # Keras' alias
global_policy = dtype_policy
set_global_policy = set_dtype_policy

__all__ = ["DTypePolicy", "Policy", "dtype_policy", "global_policy", "set_dtype_policy",
           "set_global_policy", "LossScaleOptimizer"]
