"""RandomElasticTransform against Keras 3.15: what can be compared when the draws cannot (Keras'
generator is not reproduced): the warp's strength and smoothness from a distortion (Keras'
get_elastic_transform_params), identity at inference and with factor or scale 0 in both, the
config, the argument errors, and to_keras/from_keras. The warp itself is sn.ops.image's
elastic_transform, compared with Keras given the same field in parity_tests/test_ops_image_keras.py;
tests/test_random_elastic_transform.py checks the layer runs it."""

import keras
import numpy as np
import pytest

import scratchnet as sn
import tfnet

RET = sn.layers.RandomElasticTransform


@pytest.mark.parametrize("h, w, s", [(16, 16, 1.0), (20, 12, 0.37), (7, 30, 0.0)])
def test_warp_parameters_match_keras(h, w, s):
    ours = RET.elastic_params(h, w, s)
    theirs = keras.layers.RandomElasticTransform().get_elastic_transform_params(h, w, s)
    np.testing.assert_allclose(ours, [float(v) for v in theirs], rtol=1e-12)


def test_identity_at_inference_and_without_strength_as_keras():
    x = np.random.default_rng(0).uniform(0, 300, (2, 12, 12, 3)).astype(np.float32)  # beyond 255
    for kwargs in ({}, {"factor": 0.0}, {"scale": 0.0}):
        training = bool(kwargs)
        np.testing.assert_array_equal(RET(seed=1, **kwargs)(x, training=training), x)
        np.testing.assert_array_equal(
            np.asarray(keras.layers.RandomElasticTransform(seed=1, **kwargs)(x, training=training)), x)


def test_config_errors_and_conversion_match_keras():
    kwargs = dict(factor=(0.2, 0.8), scale=0.5, interpolation="nearest", fill_mode="constant",
                  fill_value=3.0, value_range=(0, 1), seed=4)
    layer, klayer = RET(**kwargs), keras.layers.RandomElasticTransform(**kwargs)
    kconfig = klayer.get_config()
    for key, value in layer.get_config().items():
        if key not in ("name", "data_format"):
            assert value == kconfig[key] and type(value) is type(kconfig[key]), key  # tuples too
    back = tfnet.convert.layer_from_keras(tfnet.convert.layer_to_keras(layer))
    assert back.get_config() == layer.get_config()
    for bad, error in ((dict(interpolation="bicubic"), NotImplementedError),
                       (dict(fill_mode="edge"), NotImplementedError), (dict(factor=1.5), ValueError),
                       (dict(scale=-0.5), ValueError)):
        with pytest.raises(error):
            keras.layers.RandomElasticTransform(**bad)
        with pytest.raises(error):
            RET(**bad)
