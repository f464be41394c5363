"""``sn.ops.image`` without Keras: tape gradients against float64 finite differences
(tests/gradcheck.py, REL_TOL 1e-6), ``map_coordinates`` against scipy, round trips and errors."""

import numpy as np
import pytest
import scipy.ndimage

import scratchnet as sn
from scratchnet.autodiff import Tape
from tests.gradcheck import REL_TOL, numeric_grad, rel_error

I = sn.ops.image
R = np.random.default_rng(31)
OTHER = R.uniform(size=(1, 7, 6, 3))
GRID = R.uniform(-2.5, 8.5, size=(2, 3, 4))

FUNCTIONS = {  # f(x), x of shape (1, 7, 6, 3)
    "rgb_to_grayscale": lambda x: I.rgb_to_grayscale(x),
    "resize": lambda x: I.resize(x, (4, 9)),
    "crop_images": lambda x: I.crop_images(x, top_cropping=2, bottom_cropping=1, left_cropping=1,
                                           target_width=3),
    "pad_images": lambda x: I.pad_images(x, top_padding=1, bottom_padding=2, left_padding=0, right_padding=1),
    "extract_patches": lambda x: I.extract_patches(x, (2, 3), strides=(2, 1)),
    "gaussian_blur": lambda x: I.gaussian_blur(x, kernel_size=(5, 3), sigma=(1.2, 0.8)),
    "sobel_edges": lambda x: I.sobel_edges(x),
    "ssim": lambda x: I.ssim(x, OTHER, filter_size=3),
    "map_coordinates": lambda x: I.map_coordinates(x[0, :, :, 0], GRID, 1, fill_mode="mirror"),
    "affine_transform": lambda x: I.affine_transform(x, [0.9, -0.3, 1.0, 0.3, 0.9, -0.5, 0.01, 0.0],
                                                     fill_mode="reflect"),
    "perspective_transform": lambda x: I.perspective_transform(x, [[0, 0], [5, 0], [0, 6], [5, 6]],
                                                               [[1, 0], [5, 1], [0, 5], [4, 6]]),
    "scale_and_translate": lambda x: I.scale_and_translate(x, (1, 5, 9, 3), np.array([0.7, 1.4]),
                                                           np.array([0.2, -0.3]), (1, 2), "lanczos3"),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_tape_gradient_matches_finite_differences(name, float64):
    function = FUNCTIONS[name]
    x = R.uniform(size=(1, 7, 6, 3))
    w = np.random.default_rng(1).standard_normal(np.shape(function(x)))
    tape = Tape("test")
    traced = tape.watch(x)
    analytic = tape.gradient(function(traced), traced, w)
    numeric = numeric_grad(lambda: float(np.sum(w * np.asarray(function(x)))), x)
    assert np.any(numeric != 0)
    assert rel_error(analytic, numeric) < REL_TOL, rel_error(analytic, numeric)


@pytest.mark.parametrize("mode", ["constant", "nearest", "wrap", "mirror"])
@pytest.mark.parametrize("order", [0, 1])
def test_map_coordinates_is_scipys(mode, order, float64):
    x = R.standard_normal((7, 6))
    coords = R.uniform(-9.0, 15.0, size=(2, 40))
    if order == 0:  # away from halves, where rounding conventions differ
        coords = np.round(coords) + R.uniform(-0.4, 0.4, size=coords.shape)
    scipy_mode = {"wrap": "grid-wrap", "constant": "grid-constant"}.get(mode, mode)
    theirs = scipy.ndimage.map_coordinates(x, coords, order=order, mode=scipy_mode, cval=0.5)
    np.testing.assert_allclose(I.map_coordinates(x, coords, order, fill_mode=mode, fill_value=0.5), theirs,
                               rtol=1e-12, atol=1e-12)


def test_scale_and_translate_by_two_is_bilinear_resize_and_keeps_integers(float64):
    x = R.uniform(size=(1, 4, 5, 2))
    doubled = I.scale_and_translate(x, (1, 8, 10, 2), np.array([2.0, 2.0]), np.array([0.0, 0.0]), (1, 2),
                                    "linear")
    np.testing.assert_allclose(doubled, I.resize(x, (8, 10)), rtol=1e-12)
    pixels = (x * 255).astype(np.uint8)
    out = I.scale_and_translate(pixels, (1, 6, 5, 2), np.array([1.5]), np.array([0.0]), (1,), "cubic")
    assert out.dtype == np.uint8 and out.min() >= pixels.min() and out.max() <= pixels.max()


def test_ops_without_a_gradient_refuse_a_traced_input():
    tape = Tape("Lambda 'f'")
    for call in (lambda t: I.rgb_to_hsv(t), lambda t: I.hsv_to_rgb(t),
                 lambda t: I.resize(t, (3, 3), crop_to_aspect_ratio=True),
                 lambda t: sn.ops.nextafter(t, 1.0), lambda t: sn.ops.angle(t),
                 lambda t: sn.ops.vectorize(lambda v: v)(t)):
        with pytest.raises(TypeError, match="has no gradient"):
            call(tape.watch(OTHER))


def test_elastic_transform_repeats_with_a_seed_and_moves_pixels_smoothly():
    x = R.uniform(size=(2, 12, 10, 1)).astype(np.float32)
    first = I.elastic_transform(x, alpha=2.0, sigma=2.0, seed=3)
    np.testing.assert_array_equal(first, I.elastic_transform(x, alpha=2.0, sigma=2.0, seed=3))
    assert not np.array_equal(first, I.elastic_transform(x, alpha=2.0, sigma=2.0, seed=4))
    np.testing.assert_allclose(I.elastic_transform(x, alpha=0.0, seed=3), x, rtol=1e-6)
    with pytest.raises(ValueError, match="interpolation"):
        I.elastic_transform(x, interpolation="cubic")


def test_colour_round_trip_and_channels_first(float64):
    x = R.uniform(size=(2, 4, 5, 3))
    np.testing.assert_allclose(I.hsv_to_rgb(I.rgb_to_hsv(x)), x, rtol=1e-12)
    first = I.gaussian_blur(np.moveaxis(x, -1, 1), data_format="channels_first")
    np.testing.assert_allclose(np.moveaxis(first, 1, -1), I.gaussian_blur(x))
    assert I.extract_patches(x, 2).shape == (2, 2, 2, 12)


@pytest.mark.parametrize("call, error, message", [
    (lambda: I.map_coordinates(np.ones((3, 3)), GRID, 1, fill_mode="edge"), ValueError, "fill_mode"),
    (lambda: I.resize(OTHER, (2, 2), antialias=True), ValueError, "antialias"),
    (lambda: I.crop_images(OTHER, top_cropping=6, bottom_cropping=3, left_cropping=0, right_cropping=0),
     ValueError, "does not fit"),
    (lambda: I.pad_images(OTHER, top_padding=1, left_padding=1), ValueError, "exactly two"),
    (lambda: I.affine_transform(OTHER, np.zeros(8), fill_mode="edge"), ValueError, "fill_mode"),
    (lambda: I.scale_and_translate(OTHER, (1, 2, 2, 3), [1.0], [0.0], (1,), "box"), ValueError, "method"),
])
def test_bad_arguments_are_named(call, error, message):
    with pytest.raises(error, match=message):
        call()
