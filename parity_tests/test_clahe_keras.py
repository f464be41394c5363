"""ContrastLimitedAdaptiveHistogramEqualization against Keras 3.15: outputs on uint8-valued and
[0, 1] images, sizes that divide the tile grid and sizes that do not (mirror padding), clip
limits (0 turns clipping off), one and three channels; applied in training and in inference as
Keras does; config and to_keras/from_keras. Without Keras: tests/test_clahe.py."""

import keras
import numpy as np
import pytest

import scratchnet as sn
import tfnet
from parity_tests.driver import assert_close

CLAHE = sn.layers.ContrastLimitedAdaptiveHistogramEqualization
# float32 interpolation of values in 0..255: 1e-5 relative of the output's scale
RTOL = 1e-5


@pytest.mark.parametrize("shape, kwargs", [
    ((2, 16, 16, 3), {}),
    ((1, 13, 10, 1), dict(tile_grid_size=(3, 4))),
    ((2, 9, 12, 3), dict(clip_limit=0.0, tile_grid_size=(2, 2))),
    ((1, 20, 7, 2), dict(clip_limit=1.5, tile_grid_size=(4, 3))),
])
def test_outputs_match_keras(shape, kwargs):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, shape).astype(np.float32)
    images[0, : shape[1] // 2] = np.clip(images[0, : shape[1] // 2] // 8 + 100, 0, 255)  # a flat region
    ours = CLAHE(**kwargs)(images)
    theirs = np.asarray(keras.layers.ContrastLimitedAdaptiveHistogramEqualization(**kwargs)(images))
    assert_close(ours, theirs, RTOL, "CLAHE 0..255")


def test_value_range_and_inference_match_keras():
    rng = np.random.default_rng(1)
    images = rng.random((2, 12, 12, 3)).astype(np.float32)
    kwargs = dict(value_range=(0.0, 1.0), tile_grid_size=(3, 3))
    theirs = keras.layers.ContrastLimitedAdaptiveHistogramEqualization(**kwargs)
    assert_close(CLAHE(**kwargs)(images), np.asarray(theirs(images)), RTOL, "CLAHE 0..1")
    model = sn.Sequential([sn.layers.Input((12, 12, 3)), CLAHE(**kwargs)])
    kmodel = tfnet.to_keras(model)
    assert_close(model.predict(images, verbose=0), np.asarray(kmodel.predict(images, verbose=0)), RTOL,
                 "CLAHE in predict")
    assert not np.allclose(model.predict(images, verbose=0), images)  # applied at inference too


def test_config_matches_keras():
    layer = CLAHE(value_range=(0, 1), clip_limit=2.0, tile_grid_size=(4, 2))
    kconfig = keras.layers.ContrastLimitedAdaptiveHistogramEqualization(
        value_range=(0, 1), clip_limit=2.0, tile_grid_size=(4, 2)).get_config()
    for key, value in layer.get_config().items():
        if key != "name":
            assert value == kconfig[key] and type(value) is type(kconfig[key]), key  # tuples too
    back = tfnet.convert.layer_from_keras(tfnet.convert.layer_to_keras(layer))
    assert back.get_config() == layer.get_config()
