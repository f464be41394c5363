"""``Conv2D(groups=G)`` without Keras: the output against a plain loop over groups, finite
differences of every gradient in float64, the kernel's shape, the config, and the argument errors.
(parity_tests/test_grouped_conv2d_keras.py compares with Keras.)"""

import numpy as np
import pytest

import scratchnet as sn
from tests.gradcheck import check_layer

L = sn.layers


def _grouped_by_hand(x, kernel, bias, groups, padding):
    """Each group's channels through an ordinary Conv2D with that group's filters, concatenated."""
    cg, fg = kernel.shape[2], kernel.shape[3] // groups
    outs = []
    for g in range(groups):
        conv = L.Conv2D(fg, kernel.shape[:2], padding=padding)
        conv.ensure_built(x.shape[1:3] + (cg,))
        conv.set_weights([kernel[..., g * fg:(g + 1) * fg], bias[g * fg:(g + 1) * fg]])
        outs.append(conv(x[..., g * cg:(g + 1) * cg]))
    return np.concatenate(outs, axis=-1)


@pytest.mark.parametrize(("groups", "filters", "padding"), [(2, 4, "valid"), (3, 6, "same"), (6, 12, "same")])
def test_each_group_reads_only_its_channels(groups, filters, padding, rng):
    layer = L.Conv2D(filters, 3, padding=padding, groups=groups)
    x = rng.normal(size=(2, 6, 7, 6)).astype("float32")
    layer.ensure_built(x.shape[1:])
    assert layer.kernel.shape == (3, 3, 6 // groups, filters)
    layer.set_weights([rng.normal(size=layer.kernel.shape).astype("float32"),
                       rng.normal(size=(filters,)).astype("float32")])
    expected = _grouped_by_hand(x, layer.kernel.value, layer.bias.value, groups, padding)
    np.testing.assert_allclose(layer(x), expected, rtol=1e-5, atol=1e-5)
    assert layer.conv_algorithm == "grouped"


@pytest.mark.parametrize("kwargs", [
    dict(filters=4, kernel_size=3, groups=2),
    dict(filters=6, kernel_size=7, padding="same", groups=6),  # ConvNeXt's depthwise 7x7
    dict(filters=6, kernel_size=2, strides=2, padding="same", groups=3, activation="tanh"),
    dict(filters=12, kernel_size=(2, 3), dilation_rate=2, groups=6, use_bias=False),
])
def test_gradients_match_finite_differences(kwargs, float64, rng):
    check_layer(L.Conv2D(**kwargs), rng.normal(size=(2, 6, 7, 6)), rng)


def test_config_round_trip_and_errors():
    layer = L.Conv2D(6, 3, groups=3, name="g")
    config = layer.get_config()
    assert config["groups"] == 3 and L.Conv2D(**config).groups == 3
    with pytest.raises(ValueError, match=r"Conv2D 'c': expected groups to be a positive integer, received 0"):
        L.Conv2D(4, 3, groups=0, name="c")
    with pytest.raises(ValueError, match=r"Conv2D 'c': the number of filters must be evenly divisible by the "
                                         r"number of groups; received groups=3, filters=4"):
        L.Conv2D(4, 3, groups=3, name="c")
    with pytest.raises(ValueError, match=r'Layer "c": the number of input channels must be evenly divisible '
                                         r"by the number of groups; received groups=2, but the input has 3 "
                                         r"channels \(full input shape \(None, 5, 5, 3\)\)"):
        L.Conv2D(4, 3, groups=2, name="c").ensure_built((5, 5, 3))


def test_grouped_layer_trains_in_a_model(rng):
    """fit through a grouped convolution: the loss falls and the kernel keeps its shape."""
    sn.utils.set_random_seed(0)
    model = sn.Sequential([L.Input((6, 6, 4)), L.Conv2D(8, 3, padding="same", groups=4, activation="relu"),
                           L.GlobalAveragePooling2D(), L.Dense(2)])
    model.compile(optimizer=sn.optimizers.Adam(0.05),
                  loss=sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = rng.normal(size=(16, 6, 6, 4)).astype("float32")
    y = (x[..., :2].mean(axis=(1, 2, 3)) > 0).astype("int64")
    history = model.fit(x, y, epochs=15, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.layers[0].kernel.shape == (3, 3, 1, 8)
