"""``serialize`` / ``deserialize`` / ``get`` of ``sn.initializers`` against Keras 3.15.1's.

Each built-in is serialized in both libraries, with its defaults and with arguments of its own,
and the two forms must be the same JSON text (``{"module", "class_name", "config",
"registered_name"}``, ``serialize_keras_object`` in keras/src/saving/serialization_lib.py);
each library then reads the other's form back to the same object."""

import json

import keras
import numpy as np
import pytest

import scratchnet as sn


def _json(spec) -> str:
    """The JSON text a file would hold: ints and floats, lists and key order as written."""
    return json.dumps(spec)


# (class name, positional arguments, keyword arguments): each built-in, its defaults first
INITIALIZERS = [
    ("Zeros", (), {}), ("Ones", (), {}),
    ("Constant", (), {}), ("Constant", (2,), {}), ("Constant", ([1.5, -2.0],), {}),
    ("Constant", (np.array([0.5, 1.0]),), {}),
    ("RandomUniform", (), {}), ("RandomUniform", (-1.0, 2.0), {"seed": 3}),
    ("RandomNormal", (), {}), ("RandomNormal", (0.5, 2.0), {"seed": 1}),
    ("TruncatedNormal", (), {}), ("TruncatedNormal", (-0.5, 0.25), {"seed": 4}),
    ("VarianceScaling", (), {}),
    ("VarianceScaling", (2.0, "fan_out", "uniform"), {"seed": 5, "input_axes": [0], "output_axes": [1]}),
    ("VarianceScaling", (0.5, "fan_avg", "untruncated_normal"), {}),
    ("GlorotUniform", (), {}), ("GlorotUniform", (7,), {}),
    ("GlorotNormal", (), {}), ("GlorotNormal", (), {"input_axes": [0, 1], "output_axes": [2]}),
    ("HeNormal", (), {}), ("HeNormal", (2,), {}), ("HeUniform", (), {}), ("HeUniform", (9,), {}),
    ("LecunNormal", (), {}), ("LecunNormal", (8,), {}), ("LecunUniform", (), {}),
    ("LecunUniform", (), {"seed": 6, "input_axes": [1], "output_axes": [0]}),
    ("Orthogonal", (), {}), ("Orthogonal", (2.0, 1), {}),
    ("Identity", (), {}), ("Identity", (3.0,), {}),
    ("STFT", (), {}), ("STFT", ("imag", "hamming", "spectrum", True), {}),
]
INIT_IDS = [f"{name}{i}" for i, (name, _, _) in enumerate(INITIALIZERS)]


def test_every_keras_initializer_is_swept():
    """The list above holds every initializer class Keras serializes."""
    from keras.src import initializers as keras_initializers

    keras_classes = {cls.__name__ for cls in keras_initializers.ALL_OBJECTS} - {"Initializer"}
    assert keras_classes == {name for name, _, _ in INITIALIZERS}


@pytest.mark.parametrize("name, args, kwargs", INITIALIZERS, ids=INIT_IDS)
def test_initializer_serializes_as_keras(name, args, kwargs):
    expected = keras.initializers.serialize(getattr(keras.initializers, name)(*args, **kwargs))
    ours = sn.initializers.serialize(getattr(sn.initializers, name)(*args, **kwargs))
    assert _json(ours) == _json(expected)
    assert expected["module"] == "keras.initializers" and expected["registered_name"] is None
    # each library reads the other's form back to the same initializer
    back = sn.initializers.deserialize(expected)
    assert type(back) is getattr(sn.initializers, name)
    assert _json(sn.initializers.serialize(back)) == _json(expected)
    assert _json(sn.initializers.serialize(sn.initializers.get(json.loads(_json(expected))))) == \
        _json(expected)
    theirs = keras.initializers.deserialize(json.loads(_json(ours)))
    assert _json(keras.initializers.serialize(theirs)) == _json(expected)


# every name keras.initializers.get resolves (its ALL_OBJECTS_DICT, less the base class and
# Constant, which Keras cannot build from a name: its from_config reads config["value"])
KERAS_NAMES = sorted(set(__import__("keras.src.initializers", fromlist=["ALL_OBJECTS_DICT"])
                         .ALL_OBJECTS_DICT) - {"Initializer", "initializer", "Constant", "constant"})


@pytest.mark.parametrize("identifier", KERAS_NAMES)
def test_get_resolves_every_keras_name_and_bare_dict(identifier):
    expected = keras.initializers.serialize(keras.initializers.get(identifier))
    assert _json(sn.initializers.serialize(sn.initializers.get(identifier))) == _json(expected)
    bare = {"class_name": identifier, "config": {}}  # the form get's docstring shows
    assert _json(sn.initializers.serialize(sn.initializers.get(dict(bare)))) == \
        _json(keras.initializers.serialize(keras.initializers.get(dict(bare))))
    assert _json(sn.initializers.serialize(sn.initializers.deserialize(identifier))) == \
        _json(keras.initializers.serialize(keras.initializers.deserialize(identifier)))


@pytest.mark.parametrize("identifier", ["constant", "Constant", {"class_name": "Constant", "config": {}}])
def test_constant_by_name_is_zero_where_keras_fails(identifier):
    """Keras' ``Constant.from_config`` reads ``config["value"]``, so a name (or an empty config)
    raises ``KeyError: 'value'`` there; scratchnet builds ``Constant()`` (value 0, its default)."""
    with pytest.raises(KeyError, match="value"):
        keras.initializers.get(identifier)
    assert sn.initializers.serialize(sn.initializers.get(identifier)) == \
        keras.initializers.serialize(keras.initializers.Constant())


def test_a_class_is_built_and_an_unknown_identifier_refused_as_keras():
    for lib in (keras, sn):
        assert type(lib.initializers.get(lib.initializers.HeUniform)).__name__ == "HeUniform"
        with pytest.raises(ValueError, match="nope"):
            lib.initializers.get("nope")
        with pytest.raises(ValueError, match="5"):
            lib.initializers.get(5)
    with pytest.raises(ValueError, match="unknown initializer 'Nope'"):
        sn.initializers.deserialize({"class_name": "Nope", "config": {}})
    with pytest.raises(ValueError, match="RandomNormal.*seed"):
        sn.initializers.RandomNormal(seed="one")


def _custom_initializer(lib):
    class Halves(lib.initializers.Initializer):
        """A user's initializer: every entry ``scale / 2``."""

        def __init__(self, scale=1.0):
            self.scale = scale

        def __call__(self, shape, dtype=None, rng=None):
            return np.full(shape, self.scale / 2, dtype=dtype or "float32")

        def get_config(self):
            return {"scale": self.scale}

    return Halves


def test_a_users_initializer_serializes_as_keras_and_reads_back_with_custom_objects():
    """Keras writes a class it does not export under its own module, with its class name as
    its registered name; reading it back needs ``custom_objects``."""
    k_cls, sn_cls = _custom_initializer(keras), _custom_initializer(sn)
    expected = keras.initializers.serialize(k_cls(3.0))
    assert _json(sn.initializers.serialize(sn_cls(3.0))) == _json(expected)
    assert expected["registered_name"] == "Halves" and expected["module"] == __name__
    back = sn.initializers.deserialize(expected, custom_objects={"Halves": sn_cls})
    assert type(back) is sn_cls and back.scale == 3.0
    with pytest.raises(ValueError, match="unknown initializer 'Halves'"):
        sn.initializers.deserialize(expected)
