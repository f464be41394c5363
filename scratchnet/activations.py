"""Element-wise activations: the value and the gradient each one sends back.

Each activation is a small object with ``forward(z) -> a`` and ``backward(z, a, da) -> dz``,
where ``z`` is the input, ``a`` the output and ``da = dL/da``. Formulas as in Keras:

- ``relu(z) = max(z, 0)``; gradient ``da * (z > 0)`` (zero at exactly 0).
- ``sigmoid(z) = 1 / (1 + exp(-z))``; gradient ``da * a * (1 - a)``.
- ``tanh(z)``; gradient ``da * (1 - a**2)``.
- ``softmax(z) = exp(z - max z) / sum exp(z - max z)`` on the last axis;
  gradient ``a * (da - sum(da * a))``.
- ``linear(z) = z``; gradient ``da``.

And the rest of ``keras.activations``, with Keras' defaults (TensorFlow's kernels for the ones it
hands to ``tf.nn``), each gradient written from its own formula:

- ``elu(z) = z`` if ``z > 0`` else ``exp(z) - 1``; gradient ``da`` or ``da * (a + 1)``.
- ``selu(z) = scale * elu_alpha(z)``, ``alpha = 1.67326324``, ``scale = 1.05070098``; gradient
  ``da * (a + scale * alpha)`` where ``a < 0``, else ``da * scale`` (so ``scale`` at exactly 0).
- ``softplus(z) = log(1 + exp(z))`` (as ``logaddexp(0, z)``, never overflowing); gradient
  ``da * sigmoid(z)``.
- ``softsign(z) = z / (1 + |z|)``; gradient ``da / (1 + |z|)**2``.
- ``silu(z) = z * sigmoid(z)`` (Keras also calls it ``swish``); gradient
  ``da * s * (1 + z * (1 - s))``, ``s = sigmoid(z)``.
- ``gelu(z) = z * (1 + erf(z / sqrt(2))) / 2`` (Keras' default, ``approximate=False``); gradient
  ``da * ((1 + erf(z / sqrt(2))) / 2 + z * exp(-z**2 / 2) / sqrt(2 pi))``.
- ``leaky_relu(z) = z`` if ``z > 0`` else ``0.2 z`` (Keras' ``negative_slope``); gradient ``da``
  or ``0.2 da``.
- ``relu6(z) = min(max(z, 0), 6)``; gradient ``da`` where ``0 < z < 6``.
- ``hard_sigmoid(z) = clip(z / 6 + 1/2, 0, 1)``; gradient ``da / 6`` where ``-3 < z < 3``.
- ``hard_silu(z) = z * hard_sigmoid(z)`` (``hard_swish``); gradient
  ``da * (hard_sigmoid(z) + z / 6 * (-3 < z < 3))``.
- ``exponential(z) = exp(z)``; gradient ``da * a``.
- ``mish(z) = z * tanh(softplus(z))``; gradient ``da * (t + z * (1 - t**2) * sigmoid(z))``,
  ``t = tanh(softplus(z))``.
- ``log_softmax(z) = z - logsumexp(z)`` on the last axis; gradient ``da - softmax(z) * sum(da)``.
"""

from __future__ import annotations

import numpy as np

from scratchnet import kernels


class Activation:
    """Base class; ``name`` is what ``get(name)`` and ``Dense(activation=name)`` accept."""

    name = "base"

    def forward(self, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, z: np.ndarray, a: np.ndarray, da: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, x):
        """The activation applied to ``x``, as Keras' ``activations.get("softmax")`` returns a
        function (keras.io's custom ``MyDense`` keeps ``self.activation`` and calls it in
        ``call``): an array gives an array (ints as float32); a traced tensor (a custom layer's
        ``call`` on the gradient tape) is traced through ``forward``; a KerasTensor becomes an
        ``Activation`` layer's output."""
        from scratchnet.autodiff import Traced

        if isinstance(x, Traced):
            return self.forward(x)
        from scratchnet.layers.input_layer import is_symbolic

        if is_symbolic(x):
            from scratchnet.layers.core import Activation as ActivationLayer

            return ActivationLayer(self)(x)
        x = x if kernels.is_device_array(x) else np.asarray(x)
        return self.forward(x if x.dtype.kind == "f" else x.astype(np.float32))

    def __repr__(self) -> str:
        return self.name


class Linear(Activation):
    name = "linear"

    def forward(self, z):
        return z

    def backward(self, z, a, da):
        return da


class ReLU(Activation):
    name = "relu"

    def forward(self, z):
        return np.maximum(z, 0)

    def backward(self, z, a, da):
        return da * (z > 0)


class Sigmoid(Activation):
    name = "sigmoid"

    def forward(self, z):
        # Two branches so exp never overflows: exp(-z) for z >= 0, exp(z) for z < 0.
        e = np.exp(-np.abs(z))
        return np.where(z >= 0, 1 / (1 + e), e / (1 + e)).astype(z.dtype, copy=False)

    def backward(self, z, a, da):
        return da * a * (1 - a)


class Tanh(Activation):
    name = "tanh"

    def forward(self, z):
        return np.tanh(z)

    def backward(self, z, a, da):
        return da * (1 - a * a)


class Softmax(Activation):
    name = "softmax"

    def forward(self, z):
        return softmax(z)

    def backward(self, z, a, da):
        return a * (da - np.sum(da * a, axis=-1, keepdims=True))


def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """``exp(z - max z) / sum exp(z - max z)``: subtracting the max keeps ``exp`` finite."""
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """``z - logsumexp(z)``, computed stably."""
    shifted = z - np.max(z, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def _sigmoid(z):
    return Sigmoid().forward(z)


def _softplus(z):
    return np.logaddexp(z.dtype.type(0), z).astype(z.dtype, copy=False)


class ELU(Activation):
    name = "elu"

    def forward(self, z):
        return np.where(z > 0, z, np.expm1(np.minimum(z, 0))).astype(z.dtype, copy=False)

    def backward(self, z, a, da):
        return np.where(z > 0, da, da * (a + 1)).astype(da.dtype, copy=False)


class SELU(Activation):
    name = "selu"
    alpha = 1.6732632423543772848170429916717
    scale = 1.0507009873554804934193349852946

    def forward(self, z):
        f = z.dtype.type
        negative = f(self.scale * self.alpha) * np.expm1(np.minimum(z, 0))
        return np.where(z > 0, f(self.scale) * z, negative).astype(z.dtype, copy=False)

    def backward(self, z, a, da):
        # TensorFlow's SeluGrad branches on the output: at z = 0 exactly (a zero bias on a black
        # pixel) the slope is `scale`, the right-hand one
        f = da.dtype.type
        return np.where(a < 0, da * (a + f(self.scale * self.alpha)),
                        da * f(self.scale)).astype(da.dtype, copy=False)


class Softplus(Activation):
    name = "softplus"

    def forward(self, z):
        return _softplus(z)

    def backward(self, z, a, da):
        return da * _sigmoid(z)


class Softsign(Activation):
    name = "softsign"

    def forward(self, z):
        return z / (1 + np.abs(z))

    def backward(self, z, a, da):
        return da / (1 + np.abs(z)) ** 2


class SiLU(Activation):
    name = "silu"

    def forward(self, z):
        return z * _sigmoid(z)

    def backward(self, z, a, da):
        s = _sigmoid(z)
        return da * s * (1 + z * (1 - s))


class GELU(Activation):
    name = "gelu"

    def forward(self, z):
        f = z.dtype.type
        return f(0.5) * z * (1 + _erf(z / f(np.sqrt(2.0))))

    def backward(self, z, a, da):
        f = z.dtype.type
        cdf = f(0.5) * (1 + _erf(z / f(np.sqrt(2.0))))
        pdf = np.exp(f(-0.5) * z * z) / f(np.sqrt(2 * np.pi))
        return da * (cdf + z * pdf)


class LeakyReLU(Activation):
    name = "leaky_relu"
    negative_slope = 0.2  # keras.activations.leaky_relu's default

    def forward(self, z):
        return np.where(z > 0, z, z * z.dtype.type(self.negative_slope))

    def backward(self, z, a, da):
        return np.where(z > 0, da, da * da.dtype.type(self.negative_slope))


class ReLU6(Activation):
    name = "relu6"

    def forward(self, z):
        return np.minimum(np.maximum(z, 0), 6).astype(z.dtype, copy=False)

    def backward(self, z, a, da):
        return da * ((z > 0) & (z < 6))


class HardSigmoid(Activation):
    name = "hard_sigmoid"

    def forward(self, z):
        f = z.dtype.type
        return np.clip(z / f(6) + f(0.5), 0, 1).astype(z.dtype, copy=False)

    def backward(self, z, a, da):
        return da * ((z > -3) & (z < 3)) / da.dtype.type(6)


class HardSiLU(Activation):
    name = "hard_silu"

    def forward(self, z):
        return z * HardSigmoid().forward(z)

    def backward(self, z, a, da):
        f = z.dtype.type
        return da * (HardSigmoid().forward(z) + z / f(6) * ((z > -3) & (z < 3)))


class Exponential(Activation):
    name = "exponential"

    def forward(self, z):
        return np.exp(z)

    def backward(self, z, a, da):
        return da * a


class Mish(Activation):
    name = "mish"

    def forward(self, z):
        return z * np.tanh(_softplus(z))

    def backward(self, z, a, da):
        t = np.tanh(_softplus(z))
        return da * (t + z * (1 - t * t) * _sigmoid(z))


class LogSoftmax(Activation):
    name = "log_softmax"

    def forward(self, z):
        return log_softmax(z)

    def backward(self, z, a, da):
        return da - np.exp(a) * np.sum(da, axis=-1, keepdims=True)


def _erf(z):
    """The error function, element-wise, where ``z`` lives (SciPy's on the CPU, CuPy's on a GPU)."""
    if kernels.is_device_array(z):
        from cupyx.scipy.special import erf
    else:
        from scipy.special import erf
    return erf(z).astype(z.dtype, copy=False)


_REGISTRY: dict[str, type[Activation]] = {
    cls.name: cls for cls in (Linear, ReLU, Sigmoid, Tanh, Softmax, ELU, SELU, Softplus, Softsign,
                              SiLU, GELU, LeakyReLU, ReLU6, HardSigmoid, HardSiLU, Exponential,
                              Mish, LogSoftmax)
}
_ALIASES = {"swish": "silu", "hard_swish": "hard_silu"}  # Keras' other names for the same objects


# Keras' functions, ``keras.activations.relu(x)``, which a layer also takes as ``activation=``.
_BY_FUNCTION: dict = {softmax: Softmax, log_softmax: LogSoftmax}


def _function(cls: type[Activation]):
    def activation(x):
        x = x if kernels.is_device_array(x) else np.asarray(x)
        return cls().forward(x if x.dtype.kind == "f" else x.astype(np.float32))

    activation.__name__ = activation.__qualname__ = cls.name
    activation.__doc__ = (f"``keras.activations.{cls.name}(x)``: :class:`{cls.__name__}`'s forward "
                          f"pass on an array; ``activation=activations.{cls.name}`` picks it.")
    _BY_FUNCTION[activation] = cls
    return activation


linear, relu, sigmoid, tanh = (_function(c) for c in (Linear, ReLU, Sigmoid, Tanh))
elu, selu, softplus, softsign = (_function(c) for c in (ELU, SELU, Softplus, Softsign))
silu, gelu, leaky_relu, relu6 = (_function(c) for c in (SiLU, GELU, LeakyReLU, ReLU6))
hard_sigmoid, hard_silu, exponential, mish = (_function(c) for c in (HardSigmoid, HardSiLU,
                                                                      Exponential, Mish))
swish, hard_swish = silu, hard_silu

# Keras 3.15's newer activations live in a file of their own; they build on the classes above.
from scratchnet import activations_more  # noqa: E402
from scratchnet.activations_more import (  # noqa: E402, F401  (keras.activations names)
    celu,
    glu,
    hard_shrink,
    hard_tanh,
    log_sigmoid,
    soft_shrink,
    sparse_plus,
    sparse_sigmoid,
    sparsemax,
    squareplus,
    tanh_shrink,
    threshold,
)

_REGISTRY.update({cls.name: cls for cls in activations_more.CLASSES})
_BY_FUNCTION.update(activations_more.FUNCTIONS)


class FunctionActivation(Activation):
    """A function of the user's as the activation, as Keras takes any callable
    (``Dense(4, activation=my_fn)``, ``Activation(my_fn)``; keras.io's serialization guide):
    ``forward`` calls it on the pre-activation ``z``; ``backward`` calls it again on a traced copy
    of ``z`` and reads the gradient tape (:mod:`scratchnet.autodiff`) back from ``da``, so the
    function is written with ``sn.ops`` or NumPy arithmetic. In a config it is Keras'
    ``{"module": "builtins", "class_name": "function", "config": <its registered name>}``, which
    loading finds among the custom objects (``custom_objects``, ``custom_object_scope``,
    ``register_keras_serializable``)."""

    def __init__(self, fn):
        self.fn = fn
        self.name = getattr(fn, "__name__", type(fn).__name__)

    def forward(self, z):
        from scratchnet.autodiff import Traced

        out = self.fn(z)
        return out.value if isinstance(out, Traced) else np.asarray(out)

    def backward(self, z, a, da):
        from scratchnet.autodiff import Tape, Traced

        tape = Tape(f'activation "{self.name}"')
        traced = tape.watch(z)
        out = self.fn(traced)
        if not isinstance(out, Traced):  # a result that does not depend on z
            return np.zeros_like(z)
        return tape.gradients([(out, da)], [traced])[0]

    def keras_config(self) -> dict:
        from scratchnet.utils import serialization

        return {"module": "builtins", "class_name": "function",
                "config": serialization.get_registered_name(self.fn), "registered_name": "function"}


def config_entry(activation: Activation):
    """What a layer's ``get_config`` writes for its activation: the name of a built-in one, Keras'
    dict for a user's function (:class:`FunctionActivation`)."""
    return activation.keras_config() if isinstance(activation, FunctionActivation) else activation.name


def get(identifier: str | Activation | None, where: str = "activation") -> Activation:
    """Resolve ``None``, a name such as ``"relu"``, an :class:`Activation` instance, or a
    function: one of scratchnet's, or a user's (:class:`FunctionActivation`), also given by its
    registered name or Keras' ``{"class_name": "function", "config": name}``."""
    if identifier is None:
        return Linear()
    if isinstance(identifier, Activation):
        return identifier
    if isinstance(identifier, dict) and identifier.get("class_name") == "function":
        identifier = identifier.get("config")  # Keras' serialized function
    if callable(identifier) and identifier in _BY_FUNCTION:  # activation=activations.relu
        return _BY_FUNCTION[identifier]()
    if isinstance(identifier, str) and _ALIASES.get(identifier, identifier) in _REGISTRY:
        return _REGISTRY[_ALIASES.get(identifier, identifier)]()
    if isinstance(identifier, str):  # a user's function, registered or in a custom_object_scope
        from scratchnet.utils import serialization

        found = serialization.get_registered_object(identifier)
        if callable(found) and not isinstance(found, type):
            identifier = found
    name = identifier if isinstance(identifier, str) else getattr(identifier, "__name__", None)
    framework = (getattr(identifier, "__module__", None) or "").split(".")[0]
    if callable(identifier) and framework in ("keras", "tensorflow", "torch", "jax"):
        raise ValueError(f"{where}: {identifier!r} is a function of {framework}, which scratchnet's "
                         f"arrays do not run through; use scratchnet's activation {name!r} "
                         "(sn.activations) or a function written with sn.ops")
    if callable(identifier) and not isinstance(identifier, type) \
            and all(identifier is not fn for fn in activations_more.NOT_ELEMENTWISE.values()):
        return FunctionActivation(identifier)
    if name in activations_more.NOT_ELEMENTWISE and (
            isinstance(identifier, str) or identifier is activations_more.NOT_ELEMENTWISE[name]):
        raise ValueError(f"{where}: activation {name!r} is a function only here: "
                         + ("it halves the last axis" if name == "glu" else
                            "it needs threshold= and default_value=")
                         + f"; call scratchnet.activations.{name}(x, ...) on a tensor instead")
    raise ValueError(
        f"{where}: unknown activation {identifier!r}; expected one of "
        f"{sorted(set(_REGISTRY) | set(_ALIASES))}, one of the functions of the same names in "
        "scratchnet.activations, or a scratchnet.activations.Activation"
    )


def serialize(activation) -> str | dict:
    """Keras' ``activations.serialize``: a built-in activation by its name (``"relu"``), a
    user's function as Keras' dict (:meth:`FunctionActivation.keras_config`)."""
    if isinstance(activation, FunctionActivation):
        return activation.keras_config()
    if callable(activation) and not isinstance(activation, type | Activation) \
            and activation not in _BY_FUNCTION \
            and getattr(activation, "__name__", None) not in activations_more.NOT_ELEMENTWISE:
        return FunctionActivation(activation).keras_config()
    cls = _BY_FUNCTION.get(activation) if callable(activation) and not isinstance(
        activation, Activation) else None
    if isinstance(activation, Activation):
        cls = type(activation)
    if cls is None:
        if getattr(activation, "__name__", None) in activations_more.NOT_ELEMENTWISE:
            return activation.__name__
        raise ValueError(f"activations.serialize: {activation!r} is not one of scratchnet's "
                         f"activations {sorted(_REGISTRY)}")
    return cls.name


def deserialize(config, custom_objects: dict | None = None):
    """Keras' ``activations.deserialize``: the activation function a name (or Keras' serialized
    dict, ``{"class_name": "function", "config": "relu", ...}``) stands for."""
    if isinstance(config, dict):
        config = config.get("config")
    if custom_objects and config in custom_objects:
        return custom_objects[config]
    name = _ALIASES.get(config, config)
    for fn, cls in _BY_FUNCTION.items():
        if cls.name == name and getattr(fn, "__name__", None) == name:
            return fn
    if name in activations_more.NOT_ELEMENTWISE:
        return activations_more.NOT_ELEMENTWISE[name]
    raise ValueError(f"activations.deserialize: unknown activation {config!r}; expected one of "
                     f"{sorted(set(_REGISTRY) | set(_ALIASES) | set(activations_more.NOT_ELEMENTWISE))}")

