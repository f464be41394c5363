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

Quantized policies (Keras' ``QuantizedDTypePolicy`` and its kin) name a quantization mode and the
float policy the layer was quantized from: ``"int8_from_float32"`` is what ``layer.quantize("int8")``
sets on a Dense, EinsumDense or Embedding (:mod:`scratchnet.quantizers`). Their compute and
variable dtypes are the source policy's; a layer made with one (``Dense(4, dtype=
"int8_from_float32")``, what a saved quantized model's config holds) builds its quantized weights
directly. scratchnet's layers run ``int8`` and ``int4``; the other modes' policies can be
made and read.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping

_SUPPORTED = ("float32", "float64")
_MIXED = {"mixed_float16": ("float16", "float32"), "mixed_bfloat16": ("bfloat16", "float32")}
_FLOATS = ("float16", "bfloat16", "float32", "float64")
QUANTIZATION_MODES = ("int8", "float8", "int4", "gptq", "awq")  # Keras' order


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
    def quantization_mode(self) -> str | None:
        """None for a float policy; the mode (``"int8"``, ...) for a quantized one."""
        return getattr(self, "_quantization_mode", None)

    def get_config(self) -> dict:
        return {"name": self._name}

    @classmethod
    def from_config(cls, config: dict) -> DTypePolicy:
        return cls(**config)

    def __repr__(self) -> str:
        name = "DTypePolicy" if type(self) is FloatDTypePolicy else type(self).__name__  # (Keras')
        return f'<{name} "{self._name}">'

    def __eq__(self, other) -> bool:
        return isinstance(other, DTypePolicy) and other.name == self._name and \
            other.quantization_mode == self.quantization_mode

    def __hash__(self) -> int:
        return hash(self._name)


class FloatDTypePolicy(DTypePolicy):
    """Keras' older name for :class:`DTypePolicy` (kept by Keras 3 for old configs)."""


class QuantizedDTypePolicy(DTypePolicy):
    """A quantized layer's policy: ``QuantizedDTypePolicy("int8", "float32")`` is named
    ``"int8_from_float32"``; compute and variable dtypes are the source policy's (float32), the
    quantized weights are int8 (:mod:`scratchnet.quantizers`). ``source_name`` defaults to the
    global policy's name."""

    keras_module = "keras.dtype_policies"

    def __init__(self, mode: str, source_name: str | None = None):
        if source_name is None:
            source_name = dtype_policy().name
        source = DTypePolicy(source_name)
        self._compute_dtype, self._variable_dtype = source.compute_dtype, source.variable_dtype
        if mode not in QUANTIZATION_MODES:
            raise ValueError("Invalid quantization mode. "
                             f"Expected one of {QUANTIZATION_MODES}. Received: mode={mode}")
        if self._compute_dtype == "float16" and mode == "int8":
            raise ValueError(f"Quantization mode='{mode}' doesn't work well with "
                             "compute_dtype='float16'.")
        self._name = f"{mode}_from_{source_name}"
        self._source_name = source_name
        self._quantization_mode = mode

    @property
    def source_name(self) -> str:
        """The float policy the layer was quantized from (``"float32"``)."""
        return self._source_name

    def get_config(self) -> dict:
        return {"mode": self._quantization_mode, "source_name": self._source_name}


class QuantizedFloat8DTypePolicy(QuantizedDTypePolicy):
    """``"float8_from_<source>"``, with the length of the amax history float8 scaling keeps."""

    default_amax_history_length = 1024

    def __init__(self, mode: str, source_name: str | None = None, amax_history_length: int = 1024):
        super().__init__(mode=mode, source_name=source_name)
        if not isinstance(amax_history_length, int):
            raise TypeError("`amax_history_length` must be an integer. "
                            f"Received: amax_history_length={amax_history_length}")
        self._amax_history_length = amax_history_length

    @property
    def amax_history_length(self) -> int:
        return self._amax_history_length

    def __eq__(self, other) -> bool:
        return super().__eq__(other) and self._amax_history_length == other._amax_history_length

    __hash__ = DTypePolicy.__hash__

    def get_config(self) -> dict:
        return {**super().get_config(), "amax_history_length": self._amax_history_length}


class Int4DTypePolicy(QuantizedDTypePolicy):
    """``"int4/<block_size>_from_<source>"``: int4 with ``block_size`` rows per scale group
    (-1: one scale per output unit)."""

    def __init__(self, mode: str, source_name: str | None = None):
        parts = mode.split("/")
        expected = "'int4/<block_size>'"
        if len(parts) != 2 or parts[0] != "int4":
            raise ValueError(f"Invalid mode for Int4DTypePolicy. Expected format {expected}, but "
                             f"got '{mode}'.")
        try:
            block_size = int(parts[1])
        except ValueError:
            raise ValueError("Invalid mode for Int4DTypePolicy. <block_size> must be an integer. "
                             f"Expected format {expected}, but got '{mode}'.") from None
        if block_size < -1 or block_size == 0:
            raise ValueError("Invalid block_size in mode. Supported values are -1 (per-channel) or a "
                             f"positive integer (sub-channel), but got {block_size} from '{mode}'.")
        super().__init__(mode="int4", source_name=source_name)
        self._name = f"{mode}_from_{self._source_name}"
        self.mode = "int4"
        self.block_size = block_size

    def __eq__(self, other) -> bool:
        return super().__eq__(other) and self.block_size == getattr(other, "block_size", None)

    __hash__ = DTypePolicy.__hash__

    def get_config(self) -> dict:
        return {**super().get_config(), "mode": f"int4/{self.block_size}"}


class _CalibratedDTypePolicy(QuantizedDTypePolicy):
    """``"<algo>/<weight_bits>/<group_size>_from_<source>"`` (GPTQ, AWQ): readable, not runnable."""

    _algo = ""

    def __init__(self, mode: str, source_name: str | None = None):
        parts = mode.split("/")
        expected = f"'{self._algo}/<weight_bits>/<group_size>'"
        if len(parts) != 3 or parts[0] != self._algo:
            raise ValueError(f"Invalid mode for {type(self).__name__}. Expected format {expected}, "
                             f"but got '{mode}'.")
        try:
            weight_bits, group_size = int(parts[1]), int(parts[2])
        except ValueError:
            raise ValueError(f"Invalid mode for {type(self).__name__}. Both weight_bits and "
                             f"group_size must be integers. Expected format {expected}, but got "
                             f"'{mode}'.") from None
        super().__init__(mode=self._algo, source_name=source_name)
        self._name = f"{mode}_from_{self._source_name}"
        self.mode = self._algo
        self.weight_bits, self.group_size = weight_bits, group_size

    def get_config(self) -> dict:
        return {**super().get_config(), "mode": f"{self._algo}/{self.weight_bits}/{self.group_size}"}


class GPTQDTypePolicy(_CalibratedDTypePolicy):
    """Keras' GPTQ policy (``"gptq/4/128_from_float32"``); scratchnet cannot run GPTQ layers."""

    _algo = "gptq"


class AWQDTypePolicy(_CalibratedDTypePolicy):
    """Keras' AWQ policy (``"awq/4/128_from_float32"``); scratchnet cannot run AWQ layers."""

    _algo = "awq"


class DTypePolicyMap(DTypePolicy, MutableMapping):
    """Keras' ``DTypePolicyMap(default_policy=None, policy_map=None)``: a dict from layer paths
    (``layer.path``, ``"sequential/dense"``) to policies, itself a policy (its default's dtypes).

    Give one map to several layers as their ``dtype=``: each looks its own path up when it is
    built, and ``quantize`` writes the layer's new policy (``"int8_from_float32"``) back into the
    map under that path, so the map ends up recording which layers are quantized and how::

        policy_map = DTypePolicyMap()
        policy_map["sequential/q"] = "int8_from_float32"     # a layer made with the map builds int8
        policy_map["encoder/.*"] = "int4/-1_from_float32"    # a key may be a regular expression

    Lookup (``policy_map[path]``, Keras' rules): the key equal to ``path``; else the one key that
    matches all of ``path`` as a regular expression (``re.fullmatch``: ``"decoder"`` does not
    match ``"decoder/attention"``); two matching keys raise ``ValueError``; no match gives
    ``default_policy`` (the global policy when None). Setting a key twice raises ``ValueError``;
    delete it first.
    """

    keras_module = "keras.dtype_policies"

    def __init__(self, default_policy=None, policy_map: dict | None = None):
        if isinstance(default_policy, DTypePolicyMap):
            raise ValueError("`default_policy` cannot be a `DTypePolicyMap`.")
        if policy_map is not None and not isinstance(policy_map, dict):
            raise TypeError("If specified, `policy_map` must be a dict. "
                            f"Received: policy_map={policy_map} of type {type(policy_map)}")
        self._default_policy_arg = default_policy
        self._default_policy = get(default_policy)
        self._policy_map: dict[str, DTypePolicy] = {}
        for key, policy in (policy_map or {}).items():
            self[key] = policy

    @property
    def name(self) -> str:
        return f"map_{self.default_policy.name}"

    @property
    def default_policy(self) -> DTypePolicy:
        """The policy of a path no key matches (the global policy when given None)."""
        return get(self._default_policy_arg)

    @property
    def compute_dtype(self) -> str:
        return self.default_policy.compute_dtype

    @property
    def variable_dtype(self) -> str:
        return self.default_policy.variable_dtype

    @property
    def quantization_mode(self) -> str | None:
        return self.default_policy.quantization_mode

    def __getitem__(self, key: str) -> DTypePolicy:
        if key in self._policy_map:  # 1. the exact path
            return self._policy_map[key]
        matching = [pattern for pattern in self._policy_map if re.fullmatch(pattern, key)]  # 2. regexes
        if len(matching) > 1:
            raise ValueError(f"Path '{key}' matches multiple dtype policy specification keys: "
                             f"{matching}. Please make sure each path only matches at most one dtype "
                             "policy specification key in the DTypePolicyMap.")
        if matching:
            return self._policy_map[matching[0]]
        return self.default_policy  # 3. none

    def __setitem__(self, key: str, policy) -> None:
        if key in self._policy_map:
            raise ValueError(f"{key} already exist in the DTypePolicyMap with value "
                             f"{self._policy_map[key]}. Please make sure to not use duplicated keys.")
        try:
            policy = get(policy)
        except Exception:
            raise ValueError("Cannot interpret the assigned value by `keras.dtype_policies.get`. "
                             f"Received: {policy} of type {type(policy)}") from None
        self._policy_map[key] = policy

    def __delitem__(self, key: str) -> None:
        self._policy_map.pop(key)

    def __contains__(self, key) -> bool:
        return key in self._policy_map

    def __len__(self) -> int:
        return len(self._policy_map)

    def __iter__(self):
        return iter(self._policy_map)

    def __eq__(self, other) -> bool:
        return isinstance(other, DTypePolicyMap) and self.default_policy == other.default_policy \
            and self._policy_map == other._policy_map

    __hash__ = None  # (a mutable mapping)

    def get_config(self) -> dict:
        """Keras' config: ``default_policy`` as given, each policy serialized. With no default
        policy, the policies' names are written as None (Keras' way of deferring to the global
        policy at load time: ``{"name": None}``, ``{"mode": "int8", "source_name": None}``);
        Keras does it by setting them to None on the map's own policies, scratchnet in the
        config only."""
        policy_map = {}
        for key, policy in self._policy_map.items():
            spec = serialize(policy)
            if self._default_policy_arg is None:
                spec["config"] = {**spec["config"], "source_name" if policy.quantization_mode
                                  else "name": None}
            policy_map[key] = spec
        default = self._default_policy_arg
        return {"default_policy": serialize(default) if isinstance(default, DTypePolicy) else default,
                "policy_map": policy_map}

    @classmethod
    def from_config(cls, config: dict) -> DTypePolicyMap:
        policy_map = {key: get(spec) for key, spec in (config.get("policy_map") or {}).items()}
        return cls(default_policy=config.get("default_policy"), policy_map=policy_map)

    def __repr__(self) -> str:
        mapping = [(key, policy.name) for key, policy in self._policy_map.items()]
        return (f"<DTypePolicyMap at {hex(id(self))} default_policy={self._default_policy.name}, "
                f"mapping={mapping}>")


def quantized_policy_from_name(policy: str) -> QuantizedDTypePolicy:
    """Keras' ``_get_quantized_dtype_policy_by_str``: ``"int8_from_float32"`` and its kin."""
    if not isinstance(policy, str):
        raise TypeError(f"`policy` must be a string. Received: policy={policy}")
    if not policy.startswith(QUANTIZATION_MODES):
        raise ValueError("`policy` is incompatible with the current supported quantization.")
    split = policy.split("_from_")
    if len(split) != 2:
        raise ValueError("Cannot convert `policy` into a valid pair (`mode`, `source_name`) to "
                         f"instantiate `QuantizedDTypePolicy`. Received: policy={policy}")
    mode, source_name = split
    if policy.startswith("int4") and "/" in mode:
        return Int4DTypePolicy(mode, source_name)
    if policy.startswith("gptq"):
        return GPTQDTypePolicy(mode, source_name)
    if policy.startswith("awq"):
        return AWQDTypePolicy(mode, source_name)
    if policy.startswith("float8"):
        return QuantizedFloat8DTypePolicy(mode, source_name)
    return QuantizedDTypePolicy(mode, source_name)


def is_quantized(policy) -> bool:
    """A quantized policy, its name (``"int8_from_float32"``) or its serialized form."""
    if isinstance(policy, DTypePolicy):
        return policy.quantization_mode is not None
    if isinstance(policy, str):
        return policy.startswith(QUANTIZATION_MODES)
    return isinstance(policy, dict) and policy.get("class_name") in _QUANTIZED_CLASSES


def check_usable(policy: DTypePolicy, where: str) -> str:
    """The float type ``policy`` stands for, or a clear error for one scratchnet cannot run."""
    if policy.name in _SUPPORTED:
        return policy.name
    if policy.quantization_mode is not None and policy.compute_dtype == policy.variable_dtype \
            and policy.compute_dtype in _SUPPORTED:  # int8_from_float32: computes in float32
        return policy.compute_dtype
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
        return quantized_policy_from_name(policy) if policy.startswith(QUANTIZATION_MODES) \
            else DTypePolicy(policy)
    if isinstance(getattr(policy, "name", None), str):  # another library's policy (Keras'): its name
        return _as_policy(policy.name, where)
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
    policy = _as_policy(policy, where)
    if policy.quantization_mode is not None:
        raise ValueError(f"{where}: a global quantized policy ({policy.name!r}) is not supported; "
                         "scratchnet's global policy is its float type. Quantize built layers with "
                         "model.quantize('int8') or layer.quantize('int8') instead.")
    config.set_floatx(check_usable(policy, where))


def get(identifier) -> DTypePolicy:
    """A policy from a name, a config dict (as :func:`serialize` writes) or a policy; None gives
    the global policy (Keras')."""
    if identifier is None:
        return dtype_policy()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    return _as_policy(identifier, "dtype_policies.get")


def serialize(policy: DTypePolicy) -> dict:
    """Keras' form: ``{"module": "keras", "class_name": "DTypePolicy", "config": {"name": ...},
    "registered_name": None}`` (a quantized policy: module ``"keras.dtype_policies"``, its class
    name and ``{"mode", "source_name"}``)."""
    if not isinstance(policy, DTypePolicy):
        raise TypeError(f"serialize: expected a DTypePolicy, received {policy!r}")
    return {"module": getattr(policy, "keras_module", "keras"), "class_name": type(policy).__name__,
            "config": policy.get_config(), "registered_name": None}


def deserialize(config: dict) -> DTypePolicy:
    """The policy :func:`serialize` (or Keras) wrote."""
    classes = {cls.__name__: cls for cls in (DTypePolicy, FloatDTypePolicy, DTypePolicyMap,
                                             *_QUANTIZED_CLASSES.values())}
    if not isinstance(config, dict) or config.get("class_name") not in classes:
        raise ValueError("dtype_policies.deserialize: expected a serialized dtype policy (class_name "
                         f"one of {sorted(classes)}), received {config!r}")
    cls = classes[config["class_name"]]
    try:
        return (DTypePolicy if cls is FloatDTypePolicy else cls).from_config(config.get("config") or {})
    except TypeError as err:  # a config without the class's arguments ({"mode", "source_name"})
        raise ValueError(f"dtype_policies.deserialize: cannot make a {cls.__name__} from "
                         f"{config!r}: {err}") from None


_QUANTIZED_CLASSES = {cls.__name__: cls for cls in (QuantizedDTypePolicy, QuantizedFloat8DTypePolicy,
                                                    Int4DTypePolicy, GPTQDTypePolicy, AWQDTypePolicy)}

__all__ = ["DTypePolicy", "FloatDTypePolicy", "QuantizedDTypePolicy", "QuantizedFloat8DTypePolicy",
           "Int4DTypePolicy", "GPTQDTypePolicy", "AWQDTypePolicy", "DTypePolicyMap", "get", "serialize",
           "deserialize"]
