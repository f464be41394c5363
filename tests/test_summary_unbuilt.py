"""``summary()`` of a Sequential model with no input shape yet: Keras lists its layers, unbuilt
("?" and "0 (unbuilt)", zero totals) instead of raising. Parity with Keras:
parity_tests/test_guide_sequential_model_keras.py."""

import numpy as np

import scratchnet as sn


def test_an_unbuilt_sequential_lists_its_layers_unbuilt():
    model = sn.Sequential([sn.layers.Dense(2, name="a"), sn.layers.Dense(3, name="b")])
    text = model.summary(print_fn=None)
    assert "a (Dense)     ?             0 (unbuilt)" in text
    assert text.endswith("Total params: 0\nTrainable params: 0\nNon-trainable params: 0")
    model(np.ones((1, 4), "float32"))  # built by a call on one sample: that batch size, as Keras
    text = model.summary(print_fn=None)
    assert "a (Dense)     (1, 2)        10" in text and "Total params: 19" in text


def test_a_functional_model_is_always_built():
    inputs = sn.Input((3,))
    model = sn.Model(inputs, sn.layers.Dense(2, name="d")(inputs))
    assert "d (Dense)" in model.summary(print_fn=None)
