"""scratchnet: neural networks from scratch in NumPy, mirroring Keras name for name.

Never imports TensorFlow; ``tfnet`` holds the Keras side.
"""

from scratchnet import (
    activations,
    addons,
    applications,
    backend,
    callbacks,
    config,
    constraints,
    datasets,
    distillation,
    distribute,
    dtype_policies,
    initializers,
    kernels,
    layers,
    losses,
    metrics,
    mixed_precision,
    models,
    ops,
    optimizers,
    preprocessing,
    profiler,
    quantizers,
    random,
    regularizers,
    tree,
    utils,
    visualization,
)
from scratchnet.dtype_policies import DTypePolicy, FloatDTypePolicy
from scratchnet.function import Function
from scratchnet.initializers import Initializer
from scratchnet.kernels import get_backend, set_backend
from scratchnet.layers.base import Layer
from scratchnet.layers.input_layer import Input, KerasTensor
from scratchnet.layers.input_spec import InputSpec
from scratchnet.losses import Loss
from scratchnet.metrics import Metric
from scratchnet.model import Model, Sequential
from scratchnet.operation import Operation
from scratchnet.optimizers import Optimizer
from scratchnet.quantizers import Quantizer
from scratchnet.regularizers import Regularizer
from scratchnet.remat import RematScope, remat
from scratchnet.saving import load_model
from scratchnet.scopes import StatelessScope, SymbolicScope
from scratchnet.variables import Variable, device, name_scope

__version__ = "0.1.0"


def version() -> str:
    """``keras.version()``'s place: scratchnet's own version (the Keras it mirrors is 3.15.1)."""
    return __version__


def __getattr__(name: str):
    """``sn.wrappers`` (the scikit-learn estimators) is imported on first use, so ``import
    scratchnet`` does not pay for importing scikit-learn."""
    if name == "wrappers":
        import importlib

        return importlib.import_module("scratchnet.wrappers")
    raise AttributeError(f"module 'scratchnet' has no attribute {name!r}")


__all__ = [
    "Sequential", "Model", "Input", "InputSpec", "Layer", "KerasTensor", "Loss", "Metric", "Optimizer",
    "Initializer", "Regularizer", "Variable", "name_scope", "device", "DTypePolicy", "FloatDTypePolicy",
    "Quantizer", "Operation", "Function", "StatelessScope", "SymbolicScope", "remat", "RematScope",
    "version", "load_model", "set_backend", "get_backend", "activations", "addons",
    "applications", "backend", "callbacks", "config", "constraints", "datasets", "distillation",
    "distribute", "dtype_policies", "initializers", "kernels", "layers", "losses", "metrics",
    "mixed_precision", "models", "ops", "optimizers", "preprocessing", "profiler", "quantizers", "random",
    "regularizers", "tree", "utils", "visualization", "wrappers",
]
