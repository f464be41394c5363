"""Adaptive pooling (1-D, 2-D, 3-D; average and max): the windows' rule, the backward pass against
float64 finite differences (tests/gradcheck.py, REL_TOL 1e-6) for sizes below, equal to and above
the input's, and a clear error for each bad argument or input. Keras parity:
parity_tests/test_adaptive_pooling_keras.py."""

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.layers.adaptive_pooling import adaptive_windows
from tests.gradcheck import check_layer

L = sn.layers

CASES = {  # layer, input shape (no batch)
    "avg1d_shrink": (lambda: L.AdaptiveAveragePooling1D(3), (7, 2)),
    "max1d_shrink_overlapping": (lambda: L.AdaptiveMaxPooling1D(5), (7, 2)),
    "avg1d_grow": (lambda: L.AdaptiveAveragePooling1D(9), (4, 2)),
    "max1d_grow": (lambda: L.AdaptiveMaxPooling1D(6), (4, 1)),
    "avg2d": (lambda: L.AdaptiveAveragePooling2D((3, 4)), (7, 6, 2)),
    "max2d": (lambda: L.AdaptiveMaxPooling2D((4, 2)), (7, 5, 2)),
    "avg3d": (lambda: L.AdaptiveAveragePooling3D(2), (3, 5, 4, 1)),
    "max3d": (lambda: L.AdaptiveMaxPooling3D((2, 3, 4)), (3, 5, 4, 2)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_backward_matches_finite_differences(case, float64):
    make, shape = CASES[case]
    rng = np.random.default_rng(0)
    check_layer(make(), rng.standard_normal((2, *shape)), rng)


@pytest.mark.parametrize("length, n, expected", [
    (6, 3, [(0, 2), (2, 4), (4, 6)]),               # even: no overlap, pool_size = stride = 2
    (7, 3, [(0, 3), (2, 5), (4, 7)]),               # windows of ceil(7/3) = 3 that overlap
    (5, 3, [(0, 2), (1, 4), (3, 5)]),               # sizes 2, 3, 2
    (2, 3, [(0, 1), (0, 2), (1, 2)]),               # more cells than positions
    (4, 1, [(0, 4)]),                               # global pooling
])
def test_windows_follow_the_floor_and_ceiling_rule(length, n, expected):
    assert adaptive_windows(length, n) == expected


def test_values_are_window_means_and_maxima():
    x = np.arange(7, dtype=np.float32).reshape(1, 7, 1) ** 2  # 0 1 4 9 16 25 36
    avg = L.AdaptiveAveragePooling1D(3)(x)
    top = L.AdaptiveMaxPooling1D(3)(x)
    np.testing.assert_allclose(avg[0, :, 0], [(0 + 1 + 4) / 3, (4 + 9 + 16) / 3, (16 + 25 + 36) / 3])
    np.testing.assert_array_equal(top[0, :, 0], [4, 16, 36])
    image = np.arange(20, dtype=np.float32).reshape(1, 4, 5, 1)
    np.testing.assert_array_equal(L.AdaptiveMaxPooling2D(2)(image)[0, :, :, 0], [[7, 9], [17, 19]])


def test_an_image_of_any_size_pools_to_the_same_shape():
    for shape in ((9, 9, 3), (12, 7, 3), (2, 3, 3)):
        model = sn.Sequential([L.Input(shape), L.AdaptiveAveragePooling2D((4, 4))])
        assert model.output_shape == (None, 4, 4, 3)


def test_config_rebuilds_the_layer():
    layer = L.AdaptiveMaxPooling2D(3, name="pool")
    config = layer.get_config()
    policy = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
              "registered_name": None}
    assert config == {"name": "pool", "trainable": True, "dtype": policy, "output_size": (3, 3),
                      "data_format": "channels_last"}
    assert L.AdaptiveMaxPooling2D(**config).get_config() == config
    assert L.AdaptiveAveragePooling1D([4]).output_size == (4,)


@pytest.mark.parametrize("make, error, pattern", [
    (lambda: L.AdaptiveAveragePooling2D((3, 4, 5)), TypeError, "output_size"),
    (lambda: L.AdaptiveAveragePooling1D("4"), TypeError, "output_size"),
    (lambda: L.AdaptiveMaxPooling2D(0), ValueError, "output_size"),
    (lambda: L.AdaptiveMaxPooling3D((2, 2, -1)), ValueError, "output_size"),
    (lambda: L.AdaptiveMaxPooling1D(2, data_format="channels_first"), ValueError, "data_format"),
])
def test_bad_arguments_name_themselves(make, error, pattern):
    with pytest.raises(error, match=pattern):
        make()


@pytest.mark.parametrize("layer, shape, pattern", [
    (lambda: L.AdaptiveAveragePooling2D(2), (4, 4), "expected ndim=4"),
    (lambda: L.AdaptiveMaxPooling1D(2), (4, 4, 1), "expected ndim=3"),
    (lambda: L.AdaptiveMaxPooling3D(2), (4, 4, 1), "expected ndim=5"),
    (lambda: L.AdaptiveAveragePooling1D(2), (None, 4), "statically known"),
])
def test_wrong_inputs_name_the_layer(layer, shape, pattern):
    with pytest.raises(ValueError, match=pattern):
        sn.Sequential([L.Input(shape), layer()])
