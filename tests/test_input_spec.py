"""keras.InputSpec without Keras: a custom layer's declared rank, axes, shape and dtype are checked
on every call (arrays and symbolic tensors, in Sequential and functional models), with Keras'
messages; the spec's own argument checks and config. Keras' messages side by side:
parity_tests/test_input_spec_keras.py."""

import numpy as np
import pytest

import scratchnet as sn

L = sn.layers


class _Scale(L.Layer):
    """A Keras-style custom layer (``call`` only) that declares its input."""

    def __init__(self, spec, **kwargs):
        super().__init__(**kwargs)
        self.input_spec = spec

    def call(self, x):
        return x * 2.0


def test_a_matching_input_passes_everywhere():
    spec = sn.InputSpec(ndim=3, axes={-1: 4})
    x = np.ones((2, 5, 4), np.float32)
    np.testing.assert_array_equal(_Scale(spec)(x), 2 * x)
    model = sn.Sequential([L.Input((5, 4)), _Scale(spec), L.Flatten(), L.Dense(2)], seed=0)
    assert model.predict(x, verbose=0).shape == (2, 2)
    inputs = sn.Input((None, 4))  # an unknown length fits any
    assert sn.Model(inputs, _Scale(spec)(inputs)).output_shape == (None, None, 4)


@pytest.mark.parametrize("spec, shape, match", [
    (sn.InputSpec(ndim=4), (2, 5, 4), "expected ndim=4, found ndim=3"),
    (sn.InputSpec(min_ndim=4), (2, 5, 4), "expected min_ndim=4, found ndim=3"),
    (sn.InputSpec(max_ndim=2), (2, 5, 4), "expected max_ndim=2, found ndim=3"),
    (sn.InputSpec(axes={-1: 3}), (2, 5, 4), r"expected axis -1 of input shape to have value 3"),
    (sn.InputSpec(shape=(None, 6, 4)), (2, 5, 4), r"expected shape=\(None, 6, 4\)"),
    (sn.InputSpec(dtype="float64"), (2, 5, 4), "expected dtype=float64, found dtype=float32"),
])
def test_a_broken_spec_names_the_layer_and_what_it_expected(spec, shape, match):
    layer = _Scale(spec, name="scale")
    with pytest.raises(ValueError, match="of layer 'scale' is incompatible with the layer: " + match):
        layer(np.ones(shape, np.float32))
    with pytest.raises(ValueError, match=match):  # symbolic: when the model is made
        sn.Sequential([L.Input(shape[1:]), _Scale(spec)])


def test_last_axis_squeeze_and_several_inputs():
    squeeze = sn.InputSpec(shape=(None, 5, 1), allow_last_axis_squeeze=True)
    _Scale(squeeze)(np.ones((2, 5), np.float32))  # (2, 5) fits (None, 5, 1)
    with pytest.raises(ValueError, match="expects 2 input"):
        _Scale([sn.InputSpec(ndim=2), sn.InputSpec(ndim=2)])(np.ones((2, 5), np.float32))


def test_spec_arguments_and_config():
    spec = sn.InputSpec(shape=(None, 3), dtype="float32", axes={"1": 3})
    assert spec.ndim == 2 and spec.axes == {1: 3}
    assert repr(spec) == "InputSpec(dtype=float32, shape=(None, 3), ndim=2, axes={1: 3})"
    again = sn.InputSpec.from_config(spec.get_config())
    assert again.get_config() == spec.get_config()
    with pytest.raises(TypeError, match="`axes` must be a dict with integer keys"):
        sn.InputSpec(axes={"last": 3})
    with pytest.raises(ValueError, match="Axis 3 is greater than the maximum allowed value: 1"):
        sn.InputSpec(ndim=2, axes={3: 1})
    assert sn.layers.InputSpec is sn.InputSpec
