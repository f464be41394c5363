"""keras.InputSpec: scratchnet's checks raise where Keras 3.15's do, with the same message, for
each rule (rank, min/max rank, axes, shape, dtype, last-axis squeeze), on arrays; and the spec's
repr and config are Keras'. Without Keras: tests/test_input_spec.py."""

import json

import keras
import numpy as np
import pytest

import scratchnet as sn


class _KerasScale(keras.layers.Layer):
    def __init__(self, spec, **kwargs):
        super().__init__(**kwargs)
        self.input_spec = spec

    def call(self, x):
        return x * 2.0


class _Scale(sn.layers.Layer):
    def __init__(self, spec, **kwargs):
        super().__init__(**kwargs)
        self.input_spec = spec

    def call(self, x):
        return x * 2.0


SPECS = [
    dict(ndim=4), dict(min_ndim=4), dict(max_ndim=2), dict(axes={-1: 3}), dict(axes={1: 5}),
    dict(shape=(None, 6, 4)), dict(shape=(None, 5, 4)), dict(dtype="float64"),
    dict(shape=(None, 5, 4, 1), allow_last_axis_squeeze=True), dict(ndim=3, axes={2: 4}),
]


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_same_verdict_and_message_as_keras(spec):
    x = np.ones((2, 5, 4), np.float32)
    outcomes = []
    for layer in (_KerasScale(keras.InputSpec(**spec), name="scale"),
                  _Scale(sn.InputSpec(**spec), name="scale")):
        try:
            outcomes.append(("ok", np.asarray(layer(x)).tolist()))
        except ValueError as err:
            outcomes.append(("error", str(err)))
    assert outcomes[0] == outcomes[1]


def test_repr_and_config_match_keras():
    args = dict(shape=(None, 3), dtype="float32", axes={1: 3})
    assert repr(sn.InputSpec(**args)) == repr(keras.InputSpec(**args))
    assert sn.InputSpec(**args).get_config() == keras.InputSpec(**args).get_config()


@pytest.mark.parametrize("make", [
    lambda m: m.layers.Dense(3, activation="relu", name="d"),
    lambda m: m.layers.Conv2D(4, 3, padding="same", name="c"),
    lambda m: m.layers.LSTM(5, return_sequences=True, name="l"),
])
def test_layers_serialize_and_deserialize_as_keras(make):
    """keras.layers.serialize/deserialize: the same dict as Keras' for a new layer, and each side
    rebuilds the other's."""
    ours = sn.layers.serialize(make(sn))
    assert ours == keras.layers.serialize(make(keras))  # the whole dict, tuples included
    theirs = json.loads(json.dumps(keras.layers.serialize(make(keras))))  # (lists, as in a file)
    back = keras.layers.deserialize(ours)
    assert type(back).__name__ == theirs["class_name"] and back.name == theirs["config"]["name"]
    again = sn.layers.deserialize(theirs)
    assert type(again).__name__ == theirs["class_name"]
    assert again.get_config() == make(sn).get_config()
    with pytest.raises(ValueError, match="expected a dict with 'class_name'"):
        sn.layers.deserialize("Dense")
