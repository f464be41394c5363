"""FeatureSpace: one object that turns a table of named columns into model inputs, like
``keras.utils.FeatureSpace`` (the Keras 3 successor of ``tf.feature_column``).

Each column gets a *feature type*: a preprocessing layer plus how its output is encoded.

    type                  preprocessor                  input dtype   default encoding
    float                 identity (cast to float32)    float32       as is
    float_rescaled        Rescaling(scale, offset)      float32       as is
    float_normalized      Normalization(axis=-1)        float32       as is
    float_discretized     Discretization(num_bins)      float32       one-hot
    integer_categorical   IntegerLookup()               int32         one-hot
    string_categorical    StringLookup()                string        one-hot
    integer_hashed        Hashing(num_bins)             int32         one-hot
    string_hashed         Hashing(num_bins)             string        one-hot

Every column is read as ``(N, 1)``. ``adapt`` learns each adaptable preprocessor (lookups,
Normalization, Discretization) from the data. Calling the FeatureSpace on a dict of columns then
(1) preprocesses each column, (2) crosses: ``HashedCrossing(crossing_dim)`` of the *preprocessed*
columns named in each cross, (3) one-hot encodes every feature whose ``output_mode`` is
``"one_hot"`` (a ``CategoryEncoding(cardinality, "multi_hot")`` of the ``(N, 1)`` ids), and
(4) in ``output_mode="concat"`` joins features sorted by name, then crosses sorted by name, along
the last axis; ``"dict"`` returns them by name.

Difference from Keras: Keras' ``adapt`` takes a ``tf.data.Dataset`` (or a dict, which it turns into
one). scratchnet's takes a dict of NumPy arrays or lists (columns), or an iterable of such dicts
(batches). It feeds each layer's ``adapt`` the same batches Keras' pipeline would: 1-D columns in
batches of 32 rows, shaped ``(32, 1)``; each row of a 2-D column on its own, shaped ``(k, 1)``; each
dict of an iterable as one batch, 1-D columns shaped ``(B, 1)``. Normalization and Discretization
merge batches as Keras does, so the learnt numbers are Keras'.
"""

from __future__ import annotations

import numpy as np

from scratchnet import config
from scratchnet.layers import core
from scratchnet.layers.base import Layer
from scratchnet.layers.image_preprocessing import Rescaling
from scratchnet.layers.preprocessing import CategoryEncoding, IntegerLookup, StringLookup
from scratchnet.layers.structured import Discretization, HashedCrossing, Hashing, Normalization

ADAPT_BATCH_SIZE = 32  # Keras' FeatureSpace.adapt batches unbatched rows by 32
FEATURE_TYPES = ("float", "float_rescaled", "float_normalized", "float_discretized",
                 "integer_categorical", "string_categorical", "integer_hashed", "string_hashed")
_NAME_COUNTS: dict[str, int] = {}


def _auto_name(prefix: str) -> str:
    """Keras' ``auto_name``: ``float``, ``float_1``, ``float_2``, ..."""
    count = _NAME_COUNTS.get(prefix, 0)
    _NAME_COUNTS[prefix] = count + 1
    return prefix if count == 0 else f"{prefix}_{count}"


class Identity(core.Identity):
    """The ``float`` feature's preprocessor: ``y = x`` in float32 (Keras' ``TFDIdentity``)."""

    def forward(self, x, training=False):
        return np.asarray(x).astype(np.float32)


class Cross:
    """A feature cross: ``HashedCrossing(crossing_dim)`` of the named (preprocessed) features;
    its name is the feature names joined by ``"_X_"``."""

    def __init__(self, feature_names, crossing_dim: int, output_mode: str = "one_hot"):
        if output_mode not in ("int", "one_hot"):
            raise ValueError("Cross: invalid value for argument output_mode. Expected one of "
                             f"{{'int', 'one_hot'}}. Received: output_mode={output_mode!r}")
        self.feature_names = tuple(feature_names)
        self.crossing_dim = crossing_dim
        self.output_mode = output_mode

    @property
    def name(self) -> str:
        return "_X_".join(self.feature_names)

    def get_config(self) -> dict:
        return {"feature_names": self.feature_names, "crossing_dim": self.crossing_dim,
                "output_mode": self.output_mode}


class Feature:
    """One column's type: the input ``dtype``, its ``preprocessor`` layer and the ``output_mode``
    of its encoding (``"int"``, ``"one_hot"`` or ``"float"``)."""

    def __init__(self, dtype: str, preprocessor: Layer, output_mode: str):
        if output_mode not in ("int", "one_hot", "float"):
            raise ValueError("Feature: invalid value for argument output_mode. Expected one of "
                             f"{{'int', 'one_hot', 'float'}}. Received: output_mode={output_mode!r}")
        self.dtype = dtype
        self.preprocessor = preprocessor
        self.output_mode = output_mode

    def get_config(self) -> dict:
        return {"dtype": self.dtype, "preprocessor": type(self.preprocessor).__name__,
                "output_mode": self.output_mode}


class FeatureSpace:
    """Preprocess and encode a dict of named columns (see the module docstring).

    ``FeatureSpace(features, output_mode="concat", crosses=None, crossing_dim=32, hashing_dim=32,
    num_discretization_bins=32, name=None)``; ``features`` maps each column name to a type name
    (``"string_categorical"``, ...) or a :class:`Feature` from one of the class methods.
    ``feature_space.adapt(data)``, then ``feature_space(data)`` returns a ``(N, total)`` float32
    array (``"concat"``) or a dict of arrays (``"dict"``). ``get_inputs()`` and
    ``get_encoded_features()`` return the same as symbolic tensors, to build a ``Model``.
    """

    # --- feature types (Keras' class methods) -------------------------------------------------
    @classmethod
    def cross(cls, feature_names, crossing_dim: int, output_mode: str = "one_hot") -> Cross:
        return Cross(feature_names, crossing_dim, output_mode=output_mode)

    @classmethod
    def feature(cls, dtype: str, preprocessor: Layer, output_mode: str) -> Feature:
        return Feature(dtype, preprocessor, output_mode)

    @classmethod
    def float(cls, name: str | None = None) -> Feature:
        name = name or _auto_name("float")
        return Feature("float32", Identity(name=f"{name}_preprocessor"), "float")

    @classmethod
    def float_rescaled(cls, scale: float = 1.0, offset: float = 0.0,
                       name: str | None = None) -> Feature:
        name = name or _auto_name("float_rescaled")
        return Feature("float32", Rescaling(scale=scale, offset=offset,
                                            name=f"{name}_preprocessor"), "float")

    @classmethod
    def float_normalized(cls, name: str | None = None) -> Feature:
        name = name or _auto_name("float_normalized")
        return Feature("float32", Normalization(axis=-1, name=f"{name}_preprocessor"), "float")

    @classmethod
    def float_discretized(cls, num_bins: int, bin_boundaries=None, output_mode: str = "one_hot",
                          name: str | None = None) -> Feature:
        name = name or _auto_name("float_discretized")
        layer = Discretization(num_bins=num_bins, bin_boundaries=bin_boundaries,
                               name=f"{name}_preprocessor")
        return Feature("float32", layer, output_mode)

    @classmethod
    def integer_categorical(cls, max_tokens: int | None = None, num_oov_indices: int = 1,
                            output_mode: str = "one_hot", name: str | None = None) -> Feature:
        name = name or _auto_name("integer_categorical")
        layer = IntegerLookup(max_tokens=max_tokens, num_oov_indices=num_oov_indices,
                              name=f"{name}_preprocessor")
        return Feature("int32", layer, output_mode)

    @classmethod
    def string_categorical(cls, max_tokens: int | None = None, num_oov_indices: int = 1,
                           output_mode: str = "one_hot", name: str | None = None) -> Feature:
        name = name or _auto_name("string_categorical")
        layer = StringLookup(max_tokens=max_tokens, num_oov_indices=num_oov_indices,
                             name=f"{name}_preprocessor")
        return Feature("string", layer, output_mode)

    @classmethod
    def string_hashed(cls, num_bins: int, output_mode: str = "one_hot",
                      name: str | None = None) -> Feature:
        name = name or _auto_name("string_hashed")
        return Feature("string", Hashing(num_bins=num_bins, name=f"{name}_preprocessor"),
                       output_mode)

    @classmethod
    def integer_hashed(cls, num_bins: int, output_mode: str = "one_hot",
                       name: str | None = None) -> Feature:
        name = name or _auto_name("integer_hashed")
        return Feature("int32", Hashing(num_bins=num_bins, name=f"{name}_preprocessor"),
                       output_mode)

    # --- construction -------------------------------------------------------------------------
    def __init__(self, features: dict, output_mode: str = "concat", crosses=None,
                 crossing_dim: int = 32, hashing_dim: int = 32, num_discretization_bins: int = 32,
                 name: str | None = None):
        if not features:
            raise ValueError("FeatureSpace: the features argument cannot be None or empty")
        if not isinstance(features, dict):
            raise TypeError("FeatureSpace: expected features to be a dict of column name -> "
                            f"feature type, received {type(features).__name__}")
        self.name = name or _auto_name("feature_space")
        self.crossing_dim = crossing_dim
        self.hashing_dim = hashing_dim
        self.num_discretization_bins = num_discretization_bins
        self.features = {key: self._standardize_feature(key, value)
                         for key, value in features.items()}
        self.crosses: list[Cross] = []
        for cross in crosses or []:
            if not isinstance(cross, Cross):
                if not crossing_dim:
                    raise ValueError("FeatureSpace: when specifying crosses, the argument "
                                     "crossing_dim (dimensionality of the crossing space) should "
                                     "be specified as well")
                cross = Cross(cross, crossing_dim=crossing_dim)
            unknown = [key for key in cross.feature_names if key not in self.features]
            if unknown:
                raise ValueError("FeatureSpace: all features referenced in the crosses argument "
                                 f"should be present in the features dict. Received unknown "
                                 f"features {unknown} in cross {cross.feature_names}; features "
                                 f"are {sorted(self.features)}")
            self.crosses.append(cross)
        self.crosses_by_name = {cross.name: cross for cross in self.crosses}
        if output_mode not in ("dict", "concat"):
            raise ValueError("FeatureSpace: invalid value for argument output_mode. Expected one "
                             f"of {{'dict', 'concat'}}. Received: output_mode={output_mode!r}")
        self.output_mode = output_mode
        self.preprocessors = {key: f.preprocessor for key, f in self.features.items()}
        self.crossers = {cross.name: HashedCrossing(cross.crossing_dim, name=cross.name)
                         for cross in self.crosses}
        self.one_hot_encoders: dict[str, CategoryEncoding] = {}
        self.inputs = None  # symbolic, made by get_inputs()
        self.encoded_features = None
        self._is_adapted = False

    def _standardize_feature(self, name: str, feature) -> Feature:
        if isinstance(feature, Feature):
            return feature
        makers = {
            "float": lambda: self.float(name=name),
            "float_normalized": lambda: self.float_normalized(name=name),
            "float_rescaled": lambda: self.float_rescaled(name=name),
            "float_discretized": lambda: self.float_discretized(
                name=name, num_bins=self.num_discretization_bins),
            "integer_categorical": lambda: self.integer_categorical(name=name),
            "string_categorical": lambda: self.string_categorical(name=name),
            "integer_hashed": lambda: self.integer_hashed(self.hashing_dim, name=name),
            "string_hashed": lambda: self.string_hashed(self.hashing_dim, name=name),
        }
        if not isinstance(feature, str) or feature not in makers:
            raise ValueError(f"FeatureSpace: invalid feature type {feature!r} for feature "
                             f"{name!r}; expected one of {list(FEATURE_TYPES)} or a Feature")
        return makers[feature]()

    # --- adapt ----------------------------------------------------------------------------------
    def _adaptable(self) -> list[str]:
        """Features whose preprocessor learns from data (Keras' ``_list_adaptable_preprocessors``;
        a Normalization given mean/variance, a lookup given a vocabulary and a Discretization
        given bin_boundaries learn nothing)."""
        names = []
        for name, layer in self.preprocessors.items():
            if isinstance(layer, Normalization) and layer.input_mean is not None:
                continue
            if isinstance(layer, StringLookup | IntegerLookup) and layer.vocabulary_given:
                continue
            if isinstance(layer, Discretization) and layer.num_bins is None:
                continue
            if hasattr(layer, "adapt"):
                names.append(name)
        return names

    def adapt(self, data) -> None:
        """Adapt every adaptable preprocessor to its column of ``data``: a dict of arrays (the
        whole table) or an iterable of dicts (batches). See the module docstring for batching."""
        if isinstance(data, dict):
            columns = {key: np.asarray(value) for key, value in data.items()}
            self._check_keys(columns, "adapt")
            batches_of = {name: _table_batches(columns[name]) for name in self._adaptable()}
        elif hasattr(data, "__iter__") and not isinstance(data, str | bytes | np.ndarray):
            elements = list(data)
            if not elements or not all(isinstance(e, dict) for e in elements):
                raise ValueError("FeatureSpace.adapt: expected a dict of arrays or a non-empty "
                                 "iterable of dicts (batches); received an iterable of "
                                 f"{sorted({type(e).__name__ for e in elements}) or 'nothing'}")
            for element in elements:
                self._check_keys(element, "adapt")
            batches_of = {name: _element_batches([np.asarray(e[name]) for e in elements])
                          for name in self._adaptable()}
        else:
            raise ValueError("FeatureSpace.adapt() can only be called on a dict of arrays/lists "
                             "or an iterable of such dicts (batches). Received instead: "
                             f"{type(data).__name__}")
        for name, batches in batches_of.items():
            if not batches:
                raise ValueError(f"FeatureSpace.adapt: feature {name!r} has no rows to adapt on")
            layer = self.preprocessors[name]
            if isinstance(layer, Normalization | Discretization):
                layer.adapt(batches)  # batch by batch, merged as Keras merges them
            else:
                layer.adapt(np.concatenate(batches))  # a vocabulary: batching does not matter
        self._is_adapted = True

    def _check_keys(self, columns: dict, where: str) -> None:
        """Every feature must be there; extra columns (a label) are fine in adapt, as in Keras."""
        missing = sorted(set(self.features) - set(columns))
        extra = sorted(set(columns) - set(self.features)) if where != "adapt" else []
        if missing or extra:
            raise ValueError(f"FeatureSpace.{where}: the data's keys must be the features "
                             f"{sorted(self.features)}; missing {missing}, unexpected {extra}")

    def _check_if_adapted(self) -> None:
        if not self._is_adapted:
            if self._adaptable():
                raise ValueError("You need to call .adapt(data) on the FeatureSpace before you "
                                 "can start using it")
            self._is_adapted = True

    # --- encoding -------------------------------------------------------------------------------
    def __call__(self, data: dict):
        """Encode ``data`` (a dict of columns, each ``(N,)``, ``(N, 1)`` or a scalar)."""
        self._check_if_adapted()
        if not isinstance(data, dict):
            raise ValueError("A FeatureSpace can only be called with a dict. Received: data of "
                             f"type {type(data).__name__}")
        self._check_keys(data, "__call__")
        columns = {}
        rebatched = False
        for name, value in data.items():
            x = np.asarray(value)
            if x.ndim == 0:
                x = x.reshape(1, 1)
                rebatched = True
            elif x.ndim == 1:
                x = x[:, None]  # (N,) -> (N, 1)
            columns[name] = x
        merged = self._encode(columns)
        if rebatched:  # a single row given as scalars comes back without the batch axis
            if self.output_mode == "concat":
                return merged[0]
            return {key: value[0] if value.ndim == 2 and value.shape[0] == 1 else value
                    for key, value in merged.items()}
        return merged

    def _encode(self, columns: dict):
        """The four steps on arrays or on symbolic tensors alike (layers accept both)."""
        preprocessed = {name: self.preprocessors[name](columns[name]) for name in self.features}
        crossed = {cross.name: self.crossers[cross.name](
            [preprocessed[key] for key in cross.feature_names]) for cross in self.crosses}
        names = sorted(preprocessed) + sorted(crossed)
        values = {**preprocessed, **crossed}
        specs = {**self.features, **self.crosses_by_name}
        encoded = {}
        for name in names:
            feature = values[name]
            if specs[name].output_mode == "one_hot":
                feature = self._one_hot(name, feature)
            elif self.output_mode == "concat" and not _is_float(feature):
                raise ValueError(f"Cannot concatenate features because feature '{name}' has not "
                                 f"been encoded (it has dtype {_dtype_name(feature)}). Consider "
                                 "using output_mode='dict'.")
            encoded[name] = feature
        if self.output_mode == "dict":
            return encoded
        parts = [encoded[name] for name in names]
        if any(not isinstance(p, np.ndarray) for p in parts):  # symbolic: a Concatenate node
            from scratchnet.layers.merging import Concatenate

            if not hasattr(self, "concat"):
                self.concat = Concatenate(axis=-1, name=f"{self.name}_concatenate")
            return self.concat(parts)
        return np.concatenate([p.astype(config.dtype(), copy=False) for p in parts], axis=-1)

    def _one_hot(self, name: str, feature):
        layer = self.preprocessors.get(name) or self.crossers.get(name)
        if not _is_integer(feature, layer):
            raise ValueError(f"Feature '{name}' has output_mode='one_hot'. Thus its preprocessor "
                             "should return an integer dtype. Instead it returns a "
                             f"{_dtype_name(feature)} dtype.")
        if name not in self.one_hot_encoders:
            cardinality = _cardinality(layer, name)
            self.one_hot_encoders[name] = CategoryEncoding(
                num_tokens=cardinality, output_mode="multi_hot", name=f"{name}_one_hot")
        return self.one_hot_encoders[name](feature)

    # --- functional API -------------------------------------------------------------------------
    def get_inputs(self) -> dict:
        """A dict of symbolic inputs ``Input((1,), dtype=feature.dtype, name=name)``, one per
        feature, for ``Model(inputs, outputs)``."""
        self._check_if_adapted()
        if self.inputs is None:
            from scratchnet.layers.input_layer import Input

            self.inputs = {name: Input((1,), dtype=feature.dtype, name=name)
                           for name, feature in self.features.items()}
        return self.inputs

    def get_encoded_features(self):
        """The encoded features as symbolic tensors (one ``(None, total)`` tensor in ``"concat"``
        mode, a dict in ``"dict"`` mode), computed from :meth:`get_inputs`."""
        self._check_if_adapted()
        if self.encoded_features is None:
            self.encoded_features = self._encode(self.get_inputs())
        return self.encoded_features

    def get_config(self) -> dict:
        return {"features": {k: f.get_config() for k, f in self.features.items()},
                "output_mode": self.output_mode,
                "crosses": [c.get_config() for c in self.crosses],
                "crossing_dim": self.crossing_dim, "hashing_dim": self.hashing_dim,
                "num_discretization_bins": self.num_discretization_bins}


# --- helpers -------------------------------------------------------------------------------------
def _table_batches(column: np.ndarray) -> list[np.ndarray]:
    """The batches Keras' ``Dataset.from_tensor_slices(dict)`` pipeline feeds ``adapt``: rows of a
    1-D column 32 at a time as ``(b, 1)``; each row of a 2-D column alone as ``(k, 1)``; each row
    of a higher-rank column alone as it is."""
    if column.ndim == 0:
        raise ValueError("FeatureSpace.adapt: expected each column to hold one value per row, "
                         f"received a scalar {column!r}")
    if column.ndim == 1:
        return [column[i:i + ADAPT_BATCH_SIZE, None] for i in range(0, len(column),
                                                                    ADAPT_BATCH_SIZE)]
    if column.ndim == 2:
        return [row[:, None] for row in column]
    return list(column)


def _element_batches(elements: list[np.ndarray]) -> list[np.ndarray]:
    """Batches from an iterable of dicts: scalars are grouped by 32, a 1-D batch becomes
    ``(B, 1)``, anything else is used as it is (Keras' rule on a dataset's elements)."""
    if elements and elements[0].ndim == 0:
        return _table_batches(np.stack(elements))
    return [e[:, None] if e.ndim == 1 else e for e in elements]


def _is_float(x) -> bool:
    dtype = getattr(x, "dtype", None)
    return str(dtype).startswith("float")


def _dtype_name(x) -> str:
    return str(getattr(x, "dtype", type(x).__name__))


def _is_integer(x, layer) -> bool:
    if isinstance(x, np.ndarray):
        return x.dtype.kind in "iu"
    # symbolic: what the layer outputs
    if isinstance(layer, StringLookup | IntegerLookup):
        return layer.output_mode == "int"
    if isinstance(layer, Discretization | Hashing | HashedCrossing):
        return layer.output_mode == "int"
    return str(getattr(x, "dtype", "")).startswith("int")


def _cardinality(layer, name: str) -> int:
    """How many ids a preprocessor emits (Keras' ``_merge_features`` rule)."""
    if isinstance(layer, StringLookup | IntegerLookup):
        return layer.vocabulary_size()
    if isinstance(layer, CategoryEncoding):
        return layer.num_tokens
    if isinstance(layer, Discretization):
        return layer.num_bins if layer.num_bins is not None else layer.depth
    if isinstance(layer, Hashing | HashedCrossing):
        return layer.num_bins
    raise ValueError(f"Feature '{name}' has output_mode='one_hot'. However it isn't a standard "
                     "feature and the dimensionality of its output space is not known, thus it "
                     "cannot be one-hot encoded. Try using output_mode='int'.")


__all__ = ["FeatureSpace", "Feature", "Cross", "Identity"]
