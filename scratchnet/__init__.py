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
    distribute,
    initializers,
    kernels,
    layers,
    losses,
    metrics,
    models,
    ops,
    optimizers,
    preprocessing,
    profiler,
    random,
    regularizers,
    utils,
)
from scratchnet.kernels import get_backend, set_backend
from scratchnet.layers.input_layer import Input
from scratchnet.model import Model, Sequential
from scratchnet.saving import load_model

__version__ = "0.1.0"

__all__ = [
    "Sequential", "Model", "Input", "load_model", "set_backend", "get_backend", "activations",
    "addons", "applications", "backend", "callbacks", "config", "constraints", "datasets", "distribute",
    "initializers", "kernels", "layers", "losses", "metrics", "models", "ops", "optimizers", "preprocessing",
    "profiler", "random", "regularizers", "utils",
]
