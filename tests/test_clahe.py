"""ContrastLimitedAdaptiveHistogramEqualization without Keras: a one-tile image without clipping
is plain histogram equalization (checked by hand), outputs stay in value_range, the layer is
deterministic and applied at inference, no gradient flows through it, config and the argument
errors. Keras parity: parity_tests/test_clahe_keras.py."""

import numpy as np
import pytest

import scratchnet as sn

CLAHE = sn.layers.ContrastLimitedAdaptiveHistogramEqualization


def test_one_tile_without_clipping_is_histogram_equalization():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (1, 8, 8, 1)).astype(np.float32)
    out = CLAHE(clip_limit=0, tile_grid_size=(1, 1))(image)
    hist = np.bincount(image.astype(int).ravel(), minlength=256)
    cdf = np.cumsum(hist).astype(np.float64)
    lut = np.clip((cdf - cdf.min()) * 255 / (64 - cdf.min()), 0, 255)
    # one tile: every pixel reads the same mapping (its four neighbours are that tile repeated);
    # float32 blending of four equal values against the float64 table: 1e-3 of the 0..255 scale
    np.testing.assert_allclose(out[0, ..., 0], lut[image[0, ..., 0].astype(int)], rtol=1e-5, atol=1e-3)


def test_range_determinism_inference_and_no_gradient():
    rng = np.random.default_rng(1)
    images = rng.random((2, 10, 14, 3)).astype(np.float32)
    layer = CLAHE(value_range=(0, 1), tile_grid_size=(2, 3))
    out = layer(images)
    assert out.shape == images.shape and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1 + 1e-6
    np.testing.assert_array_equal(out, layer(images))
    np.testing.assert_array_equal(layer.forward(images, training=False), out)
    layer.compute_input_grad = True
    with pytest.raises(NotImplementedError, match="piecewise constant"):
        layer.backward(np.ones_like(out))
    model = sn.Sequential([sn.layers.Input((10, 14, 3)), CLAHE(value_range=(0, 1)), sn.layers.Flatten(),
                           sn.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(images, np.zeros((2, 2), np.float32), epochs=1, verbose=0)  # first layer: no gradient needed


def test_config_and_errors():
    layer = CLAHE(value_range=(0, 1), clip_limit=2, tile_grid_size=(4, 2), name="clahe")
    config = layer.get_config()
    assert config["clip_limit"] == 2.0 and config["tile_grid_size"] == (4, 2) and "seed" not in config
    assert CLAHE(**config).get_config() == config
    for kwargs, match in [(dict(tile_grid_size=(0, 2)), "tile_grid_size"),
                          (dict(tile_grid_size=8), "tile_grid_size"),
                          (dict(clip_limit="high"), "clip_limit"),
                          (dict(value_range=(1, 1)), "value_range")]:
        with pytest.raises(ValueError, match=match):
            CLAHE(**kwargs)
