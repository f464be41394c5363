"""``sn.ops.image`` against ``keras.ops.image`` on the TensorFlow backend: values and dtypes
(FORWARD_RTOL), gradients of the differentiable ones through the tape against
``tf.GradientTape`` (GRAD_RTOL), argument names, and errors."""

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

import scratchnet as sn
from parity_tests.driver import FORWARD_RTOL, GRAD_RTOL, assert_close
from scratchnet.autodiff import Tape

RNG = np.random.default_rng(29)
IMG = RNG.uniform(size=(2, 6, 7, 3)).astype(np.float32)
ONE = IMG[0]
BIG = RNG.uniform(size=(2, 14, 13, 2)).astype(np.float32)
VOL = RNG.uniform(size=(1, 4, 4, 6, 2)).astype(np.float32)
ROTATE = np.array([0.9, -0.3, 1.0, 0.3, 0.9, -0.5, 0.0, 0.0], np.float32)
PERSPECTIVE = np.array([0.9, 0.1, 0.4, -0.1, 1.1, 0.2, 0.01, -0.02], np.float32)
START = np.array([[0, 0], [6, 0], [0, 5], [6, 5]], np.float32)
END = np.array([[1, 0], [6, 1], [0, 4], [5, 5]], np.float32)
GRID = RNG.uniform(-1.5, 7.5, size=(2, 4, 5)).astype(np.float32)

I = sn.ops.image


CASES = {
    "rgb_to_grayscale": lambda o: o.image.rgb_to_grayscale(IMG),
    "rgb_to_grayscale_single": lambda o: o.image.rgb_to_grayscale(ONE),
    "rgb_to_hsv": lambda o: o.image.rgb_to_hsv(IMG),
    "hsv_to_rgb": lambda o: o.image.hsv_to_rgb(IMG),
    "resize_bilinear": lambda o: o.image.resize(IMG, (9, 4)),
    "resize_nearest": lambda o: o.image.resize(IMG, (4, 11), interpolation="nearest"),
    "resize_single": lambda o: o.image.resize(ONE, (3, 3)),
    "resize_crop": lambda o: o.image.resize(IMG, (4, 4), crop_to_aspect_ratio=True),
    "resize_pad": lambda o: o.image.resize(IMG, (4, 8), pad_to_aspect_ratio=True, fill_value=0.5),
    "affine_transform": lambda o: o.image.affine_transform(IMG, ROTATE),
    "affine_transform_nearest_reflect": lambda o: o.image.affine_transform(
        IMG, np.stack([ROTATE, PERSPECTIVE]), interpolation="nearest", fill_mode="reflect"),
    "affine_transform_wrap": lambda o: o.image.affine_transform(IMG, PERSPECTIVE, fill_mode="wrap"),
    "affine_transform_fill": lambda o: o.image.affine_transform(ONE, ROTATE, fill_value=0.25),
    "perspective_transform": lambda o: o.image.perspective_transform(IMG, START, END),
    "perspective_transform_nearest": lambda o: o.image.perspective_transform(ONE, START, END,
                                                                             interpolation="nearest"),
    "crop_images": lambda o: o.image.crop_images(IMG, top_cropping=1, left_cropping=2, target_height=3,
                                                 target_width=4),
    "crop_images_bottom": lambda o: o.image.crop_images(ONE, bottom_cropping=2, right_cropping=1,
                                                        target_height=3, target_width=5),
    "pad_images": lambda o: o.image.pad_images(IMG, top_padding=1, left_padding=2, target_height=9,
                                               target_width=10),
    "pad_images_bottom": lambda o: o.image.pad_images(ONE, bottom_padding=2, right_padding=0, target_height=8,
                                                      target_width=7),
    "extract_patches": lambda o: o.image.extract_patches(IMG, 2),
    "extract_patches_strided": lambda o: o.image.extract_patches(IMG, (2, 3), strides=(1, 2), padding="same"),
    "extract_patches_dilated": lambda o: o.image.extract_patches(ONE, 2, strides=1, dilation_rate=2),
    "extract_patches_3d": lambda o: o.image.extract_patches_3d(VOL, 2),
    "extract_patches_3d_strided": lambda o: o.image.extract_patches_3d(VOL, (2, 2, 3), strides=(1, 2, 1)),
    "gaussian_blur": lambda o: o.image.gaussian_blur(IMG),
    "gaussian_blur_sizes": lambda o: o.image.gaussian_blur(BIG, kernel_size=(5, 3), sigma=(1.5, 0.7)),
    "gaussian_blur_single": lambda o: o.image.gaussian_blur(ONE, kernel_size=(3, 5), sigma=(2.0, 1.0)),
    "sobel_edges": lambda o: o.image.sobel_edges(IMG),
    "ssim": lambda o: o.image.ssim(BIG, BIG * 0.8 + 0.1, filter_size=5),
    "ssim_single": lambda o: o.image.ssim(BIG[0], BIG[1], max_val=2.0, filter_size=7, filter_sigma=1.0),
    "map_coordinates_linear": lambda o: o.image.map_coordinates(IMG[0, :, :, 0], GRID, 1),
    "map_coordinates_nearest": lambda o: o.image.map_coordinates(IMG[0, :, :, 0], GRID, 0),
    "map_coordinates_nearest_mode": lambda o: o.image.map_coordinates(IMG[0, :, :, 0], GRID, 1,
                                                                      fill_mode="nearest"),
    "map_coordinates_wrap": lambda o: o.image.map_coordinates(IMG[0, :, :, 0], GRID, 1, fill_mode="wrap"),
    # within the range where Keras 3.15's "mirror" indexes inside the array (past it, Keras' gather
    # fails; tests/test_ops_image.py checks ours against scipy there)
    "map_coordinates_mirror": lambda o: o.image.map_coordinates(IMG[0, :, :, 0], np.clip(GRID, -3.0, 4.9), 1,
                                                                fill_mode="mirror"),
    "map_coordinates_reflect": lambda o: o.image.map_coordinates(IMG[0, :, :, 0], GRID, 0,
                                                                 fill_mode="reflect"),
    "scale_and_translate_linear": lambda o: o.image.scale_and_translate(
        IMG, (2, 9, 4, 3), np.array([1.5, 0.6], np.float32), np.array([0.3, -0.2], np.float32), (1, 2),
        "bilinear"),
    "scale_and_translate_cubic": lambda o: o.image.scale_and_translate(
        BIG, (2, 5, 13, 2), np.array([0.4], np.float32), np.array([0.5], np.float32), (1,), "bicubic"),
    "scale_and_translate_lanczos": lambda o: o.image.scale_and_translate(
        BIG, (2, 14, 20, 2), np.array([1.6], np.float32), np.array([-0.7], np.float32), (-2,), "lanczos3",
        antialias=False),
    # not integer images: Keras 3.15 fails on them (tf.clip_by_value of a float and an int)
    "map_coordinates_fill": lambda o: o.image.map_coordinates(IMG[0, :, :, 0], GRID, 1, fill_value=-1.0),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_values_and_dtypes_equal_keras_ops_image(case):
    ours = np.asarray(CASES[case](sn.ops))
    theirs = keras.ops.convert_to_numpy(CASES[case](keras.ops))
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype, (ours.shape, theirs.shape,
                                                                         ours.dtype, theirs.dtype)
    assert_close(ours, theirs, FORWARD_RTOL, case)


GRADIENTS = {  # functions of x = IMG
    "rgb_to_grayscale": lambda o, x: o.image.rgb_to_grayscale(x),
    "resize": lambda o, x: o.image.resize(x, (9, 4)),
    "resize_nearest": lambda o, x: o.image.resize(x, (3, 11), interpolation="nearest"),
    "crop_images": lambda o, x: o.image.crop_images(x, top_cropping=1, left_cropping=2, target_height=3,
                                                    target_width=4),
    "pad_images": lambda o, x: o.image.pad_images(x, top_padding=1, left_padding=2, target_height=9,
                                                  target_width=10),
    "extract_patches": lambda o, x: o.image.extract_patches(x, 2, strides=1),
    "gaussian_blur": lambda o, x: o.image.gaussian_blur(x),
    "sobel_edges": lambda o, x: o.image.sobel_edges(x),
    "ssim": lambda o, x: o.image.ssim(x, IMG * 0.5, filter_size=3),
    "map_coordinates": lambda o, x: o.image.map_coordinates(x[0, :, :, 0], GRID, 1),
    "scale_and_translate": lambda o, x: o.image.scale_and_translate(
        x, (2, 4, 9, 3), np.array([0.7, 1.3], np.float32), np.array([0.1, 0.4], np.float32), (1, 2), "cubic"),
}


@pytest.mark.parametrize("name", sorted(GRADIENTS))
def test_gradients_through_the_tape_equal_tensorflow(name):
    function = GRADIENTS[name]
    out = keras.ops.convert_to_numpy(function(keras.ops, tf.constant(IMG)))
    w = RNG.normal(size=out.shape).astype(np.float32)
    tape = Tape("test")
    traced = tape.watch(IMG)
    ours = tape.gradient(function(sn.ops, traced), traced, w)
    v = tf.constant(IMG)
    with tf.GradientTape() as g:
        g.watch(v)
        y = function(keras.ops, v)
    theirs = g.gradient(y, v, output_gradients=tf.constant(w)).numpy()
    assert ours.dtype == np.float32 and ours.shape == IMG.shape
    assert_close(ours, theirs, GRAD_RTOL, name)


@pytest.mark.parametrize("name", I.__all__ if hasattr(I, "__all__") else sorted(
    n for n in vars(I) if not n.startswith("_")))
def test_argument_names_and_defaults_are_keras(name):
    def params(f):
        return [(p.name, p.default) for p in inspect.signature(f).parameters.values()]
    assert params(getattr(sn.ops.image, name)) == params(getattr(keras.ops.image, name))


def test_the_namespace_holds_keras_names():
    ours = {n for n in vars(sn.ops.image) if not n.startswith("_")}
    assert ours == {n for n in dir(keras.ops.image) if not n.startswith("_")}


@pytest.mark.parametrize("interpolation, fill_mode", [("bilinear", "reflect"), ("nearest", "constant"),
                                                      ("bilinear", "wrap")])
def test_elastic_transform_is_keras_steps_on_scratchnets_random_field(interpolation, fill_mode):
    """The random field differs (NumPy's draws, not TensorFlow's); given scratchnet's field, Keras'
    own steps (the same field for both axes, map_coordinates) give scratchnet's image."""
    from scratchnet.ops_image import _elastic_field

    images, alpha, sigma = BIG[:1], np.float32(3.0), 1.5
    ours = sn.ops.image.elastic_transform(images, alpha=alpha, sigma=sigma, interpolation=interpolation,
                                          fill_mode=fill_mode, seed=4)
    d = _elastic_field(1, 14, 13, sigma, 4, np.float32)[0]
    cols, rows = np.meshgrid(np.arange(13, dtype=np.float32), np.arange(14, dtype=np.float32))
    coords = np.stack([rows + alpha * d, cols + alpha * d])
    theirs = np.stack([keras.ops.convert_to_numpy(keras.ops.image.map_coordinates(
        images[0, :, :, k], coords, ["nearest", "bilinear"].index(interpolation), fill_mode=fill_mode))
        for k in range(2)], axis=-1)
    assert_close(ours[0], theirs, FORWARD_RTOL, "elastic_transform")
    no_shift = keras.ops.image.elastic_transform(images, alpha=0.0, sigma=sigma, seed=4)
    assert_close(sn.ops.image.elastic_transform(images, alpha=0.0, sigma=sigma, seed=4),
                 keras.ops.convert_to_numpy(no_shift), FORWARD_RTOL, "alpha = 0")


@pytest.mark.parametrize("call, error", [
    (lambda o: o.image.crop_images(IMG, top_cropping=1, bottom_cropping=1, target_height=2, left_cropping=0,
                                   target_width=2), ValueError),
    (lambda o: o.image.pad_images(IMG, top_padding=-1, bottom_padding=1, left_padding=0, right_padding=0),
     ValueError),
    (lambda o: o.image.rgb_to_grayscale(IMG[0, 0]), ValueError),
    (lambda o: o.image.map_coordinates(IMG, GRID, 1), ValueError),
    (lambda o: o.image.map_coordinates(IMG[0, :, :, 0], GRID, 3), NotImplementedError),
    (lambda o: o.image.extract_patches(IMG, (1, 2, 3, 4)), ValueError),
])
def test_errors_as_keras(call, error):
    with pytest.raises(error):
        call(keras.ops)
    with pytest.raises(error):
        call(sn.ops)


SYMBOLIC = {  # f(ops, x) for x of shape (batch, 6, 7, 3)
    "resize": lambda o, x: o.image.resize(x, (4, 9)),
    "rgb_to_grayscale": lambda o, x: o.image.rgb_to_grayscale(x),
    "extract_patches": lambda o, x: o.image.extract_patches(x, 2),
    "gaussian_blur": lambda o, x: o.image.gaussian_blur(x),
    "crop_images": lambda o, x: o.image.crop_images(x, top_cropping=1, left_cropping=1, target_height=4,
                                                    target_width=4),
    "affine_transform": lambda o, x: o.image.affine_transform(x, ROTATE),
}


@pytest.mark.parametrize("name", sorted(SYMBOLIC))
def test_image_ops_on_keras_tensors_give_keras_shapes_and_values_in_a_model(name):
    function = SYMBOLIC[name]
    ours, theirs = function(sn.ops, sn.Input((6, 7, 3))), function(keras.ops, keras.Input((6, 7, 3)))
    assert tuple(ours.shape) == tuple(theirs.shape) and ours.dtype == theirs.dtype
    inputs = sn.Input((6, 7, 3))
    model = sn.Model(inputs, function(sn.ops, inputs))
    assert_close(np.asarray(model.predict(IMG, verbose=0)),
                 keras.ops.convert_to_numpy(function(keras.ops, tf.constant(IMG))), FORWARD_RTOL, name)
