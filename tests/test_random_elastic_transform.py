"""RandomElasticTransform without Keras: the layer warps the images it draws with
sn.ops.image.elastic_transform at Keras' alpha and sigma, leaves the others, clips the batch to
value_range, repeats with a seed, and refuses a gradient. Keras parity:
parity_tests/test_random_elastic_transform_keras.py."""

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.ops_image import elastic_transform

RET = sn.layers.RandomElasticTransform


def test_the_drawn_images_get_the_warp_the_others_are_left():
    x = np.random.default_rng(0).uniform(0, 255, (6, 16, 12, 3)).astype(np.float32)
    layer = RET(factor=0.5, scale=(0.4, 0.6), seed=3)
    y = layer(x)
    t = layer.transformation
    assert 0 < t["apply"].sum() < 6 and 0.4 <= t["distortion"] <= 0.6
    alpha, sigma = RET.elastic_params(16, 12, t["distortion"])
    assert (alpha, sigma) == (16 * 0.1 * t["distortion"], 12 * 0.05 * t["distortion"])
    warped = np.clip(elastic_transform(x, alpha=alpha, sigma=sigma, seed=t["field_seed"]), 0, 255)
    np.testing.assert_array_equal(y[t["apply"]], warped[t["apply"]])
    np.testing.assert_array_equal(y[~t["apply"]], x[~t["apply"]])
    np.testing.assert_array_equal(RET(factor=0.5, scale=(0.4, 0.6), seed=3)(x), y)  # seeded


def test_the_batch_is_clipped_and_no_gradient_flows():
    x = np.random.default_rng(1).uniform(-0.5, 1.5, (2, 8, 8, 1)).astype(np.float32)
    layer = RET(factor=1.0, value_range=(0, 1), seed=0)
    y = layer(x)
    assert y.min() >= 0 and y.max() <= 1
    layer.compute_input_grad = True
    with pytest.raises(NotImplementedError, match="no gradient"):
        layer.backward(np.ones_like(y))
