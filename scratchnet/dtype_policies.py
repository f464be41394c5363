"""Dtype policies, as Keras 3's ``keras.dtype_policies`` (and ``keras.mixed_precision``).

A policy names two dtypes: the one a layer computes in and the one its weights are stored in.
``"float32"`` and ``"float64"`` are both; ``"mixed_float16"`` is float16 compute over float32
weights (``"mixed_bfloat16"`` the same with bfloat16).

scratchnet has one float type for everything, :func:`scratchnet.config.floatx` (float32 or
float64): every layer's weights, its forward and backward passes and the optimizer's state. So
the global policy *is* that float type: :func:`dtype_policy` is ``DTypePolicy(floatx())`` and
:func:`set_dtype_policy` ``("float64")`` calls ``set_floatx("float64")`` (in Keras the policy and
``floatx`` are two settings; they agree unless a program sets them apart).

The mixed policies are refused with an error that says so, not half-run: real mixed precision
needs float16 forward and backward passes in every layer (and float32 for the numerically
delicate ones: softmax, normalizations, losses), a cast of each weight to float16 at every call,
and the :class:`~scratchnet.optimizers.LossScaleOptimizer` that ``compile`` would then wrap
around the optimizer. scratchnet's layers compute in one dtype only, and NumPy's float16 math
runs in software on the CPU, slower than float32, so none of mixed precision's speed would come
with it either. The loss scaling itself (``LossScaleOptimizer``, ``loss_scale_factor``) works.
"""

from __future__ import annotations

_SUPPORTED = ("float32", "float64")
_MIXED = {"mixed_float16": ("float16", "float32"), "mixed_bfloat16": ("bfloat16", "float32")}
_FLOATS = ("float16", "bfloat16", "float32", "float64")


class DTypePolicy:
    """A dtype policy: ``name``, ``compute_dtype``, ``variable_dtype`` (Keras' class).

    ``DTypePolicy()`` is the global policy's; ``DTypePolicy("mixed_float16")`` can be made and
    inspected (compute float16, variables float32) but not used: see the module docstring.
    """

    def __init__(self, name: str | None = None):
        if name is None:
            name = dtype_policy().name
        if not isinstance(name, str):
            raise TypeError(f"'name' must be a string, such as 'mixed_float16'. Received: "
                            f"name={name!r} (of type {type(name)})")
        if name in _MIXED:
            self._compute_dtype, self._variable_dtype = _MIXED[name]
        elif name in _FLOATS:
            self._compute_dtype = self._variable_dtype = name
        else:
            raise ValueError(f"Cannot convert '{name}' to a mixed precision DTypePolicy. Valid "
                             "policies include 'mixed_float16', 'mixed_bfloat16', and the name of "
                             "any float dtype such as 'float32'.")
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    @property
    def compute_dtype(self) -> str:
        """The dtype layers compute in (and output)."""
        return self._compute_dtype

    @property
    def variable_dtype(self) -> str:
        """The dtype layers keep their weights in."""
        return self._variable_dtype

    @property
    def quantization_mode(self) -> None:
        return None  # (Keras' quantized policies: scratchnet has none)

    def get_config(self) -> dict:
        return {"name": self._name}

    @classmethod
    def from_config(cls, config: dict) -> DTypePolicy:
        return cls(**config)

    def __repr__(self) -> str:
        return f'<DTypePolicy "{self._name}">'

    def __eq__(self, other) -> bool:
        return isinstance(other, DTypePolicy) and other.name == self._name

    def __hash__(self) -> int:
        return hash(self._name)


class FloatDTypePolicy(DTypePolicy):
    """Keras' older name for :class:`DTypePolicy` (kept by Keras 3 for old configs)."""


def check_usable(policy: DTypePolicy, where: str) -> str:
    """The float type ``policy`` stands for, or a clear error for one scratchnet cannot run."""
    if policy.name in _SUPPORTED:
        return policy.name
    why = ("float16/bfloat16 compute over float32 weights (mixed precision)" if policy.name in _MIXED
           else f"{policy.name} weights and compute")
    raise ValueError(
        f"{where}: dtype policy {policy.name!r} ({why}) is not supported; scratchnet computes every "
        f"layer in one float type, supported: {list(_SUPPORTED)}. (Mixed precision would need "
        "float16 forward and backward passes in every layer, which scratchnet does not have; "
        "loss scaling alone is scratchnet.optimizers.LossScaleOptimizer.)")


def _as_policy(policy, where: str) -> DTypePolicy:
    if isinstance(policy, DTypePolicy):
        return policy
    if isinstance(policy, str):
        return DTypePolicy(policy)
    if isinstance(getattr(policy, "name", None), str):  # another library's policy (Keras'): its name
        return DTypePolicy(policy.name)
    raise ValueError(f"{where}: Invalid `policy` argument. Expected the string name of a policy "
                     f"(such as 'float32') or a `DTypePolicy` instance. Received: policy={policy!r} "
                     f"(of type {type(policy)})")


def dtype_policy() -> DTypePolicy:
    """The global policy: ``DTypePolicy(floatx())``."""
    from scratchnet import config

    return DTypePolicy(config.floatx())


def set_dtype_policy(policy) -> None:
    """Set the global policy (a name or a :class:`DTypePolicy`): float32 or float64 sets
    :func:`scratchnet.config.set_floatx`; other policies are refused (module docstring)."""
    from scratchnet import config

    where = "set_dtype_policy"
    config.set_floatx(check_usable(_as_policy(policy, where), where))


def get(identifier) -> DTypePolicy:
    """A policy from a name, a config dict (as :func:`serialize` writes) or a policy."""
    if isinstance(identifier, dict):
        return deserialize(identifier)
    return _as_policy(identifier, "dtype_policies.get")


def serialize(policy: DTypePolicy) -> dict:
    """Keras' form: ``{"module": "keras", "class_name": "DTypePolicy", "config": {"name": ...},
    "registered_name": None}``."""
    if not isinstance(policy, DTypePolicy):
        raise TypeError(f"serialize: expected a DTypePolicy, received {policy!r}")
    return {"module": "keras", "class_name": "DTypePolicy", "config": policy.get_config(),
            "registered_name": None}


def deserialize(config: dict) -> DTypePolicy:
    """The policy :func:`serialize` (or Keras) wrote."""
    if not isinstance(config, dict) or config.get("class_name") not in ("DTypePolicy",
                                                                         "FloatDTypePolicy"):
        raise ValueError("dtype_policies.deserialize: expected a serialized DTypePolicy (class_name "
                         f"'DTypePolicy' or 'FloatDTypePolicy'), received {config!r}")
    return DTypePolicy.from_config(config.get("config") or {})


__all__ = ["DTypePolicy", "FloatDTypePolicy", "get", "serialize", "deserialize"]
