"""Issue 13's augmentation layers on their own: hand-computed golden values on tiny images
(every fill mode), identity at inference, new draws every step, seeded repeatability, float64
finite differences for every backward, and the errors bad input gets."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.kernels import image_transform as it
from tests.gradcheck import check_layer

L = sn.layers


@pytest.fixture(autouse=True)
def float64():
    sn.config.set_floatx("float64")


def _built(layer, shape, seed=0):
    layer.ensure_built(shape, np.random.default_rng(seed))
    return layer


def _row(values):
    """A (1, 1, W, 1) image from a list."""
    return np.array(values, dtype=np.float64)[None, None, :, None]


def _image(rows):
    """A (1, H, W, 1) image from a list of lists."""
    return np.array(rows, dtype=np.float64)[None, :, :, None]


def _train(layer, x):
    return _built(layer, x.shape[1:]).forward(x, training=True)[0, ..., 0]


def _fixed(layer, transformation):
    """The layer with its random draw replaced by ``transformation`` (for finite differences)."""
    layer.get_random_transformation = lambda images, training=True: transformation
    return layer


# ------------------------------------------------------------------- golden values
@pytest.mark.parametrize("mode, expected", [
    ("horizontal", [[3, 2, 1], [6, 5, 4]]),
    ("vertical", [[4, 5, 6], [1, 2, 3]]),
    ("horizontal_and_vertical", [[6, 5, 4], [3, 2, 1]]),  # one draw flips both axes
])
def test_flip_golden(mode, expected):
    layer = _built(L.RandomFlip(mode), (2, 3, 1))
    x = _image([[1, 2, 3], [4, 5, 6]])
    y = layer.transform_images(x, {"flips": np.array([True]).reshape(1, 1, 1, 1)})
    np.testing.assert_array_equal(y[0, ..., 0], expected)
    np.testing.assert_array_equal(layer.transform_images(x, {"flips": np.zeros((1, 1, 1, 1), bool)}), x)


@pytest.mark.parametrize("turn, expected", [
    (0.25, [[3, 6, 9], [2, 5, 8], [1, 4, 7]]),  # +90 degrees: counter-clockwise
    (-0.25, [[7, 4, 1], [8, 5, 2], [9, 6, 3]]),
    (0.5, [[9, 8, 7], [6, 5, 4], [3, 2, 1]]),
])
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_rotation_by_quarter_turns_golden(turn, expected, interpolation):
    x = _image([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    y = _train(L.RandomRotation((turn, turn), interpolation=interpolation), x)
    np.testing.assert_allclose(y, expected, atol=1e-5)  # cos(pi/2) is -4e-8 in float32


@pytest.mark.parametrize("fill_mode, interpolation, expected", [
    # one pixel right: x_in = x - 1 = -1, 0, 1
    ("constant", "nearest", [0, 1, 2]),
    ("reflect", "nearest", [1, 1, 2]),   # -1 -> -(-1) - 1 = 0
    ("wrap", "nearest", [3, 1, 2]),      # -1 -> -1 + 3 = 2
    ("nearest", "nearest", [1, 1, 2]),   # clamped to 0
])
def test_translation_one_pixel_golden(fill_mode, interpolation, expected):
    layer = L.RandomTranslation((0, 0), (1 / 3, 1 / 3), fill_mode=fill_mode,
                                interpolation=interpolation)
    np.testing.assert_allclose(_train(layer, _row([1, 2, 3]))[0], expected)


@pytest.mark.parametrize("fill_mode, expected", [
    # half a pixel right: x_in = -0.5, 0.5, 1.5, 2.5
    ("constant", [0.5 * -1 + 0.5 * 10, 15, 25, 35]),  # the neighbour at -1 reads fill_value -1
    ("reflect", [10, 15, 25, 35]),  # -0.5 -> -0.5 -> clamped to 0
    ("wrap", [40, 15, 25, 35]),  # -0.5 -> 3.5 -> clamped to 3 (not a mix of 40 and 10)
    ("nearest", [10, 15, 25, 35]),
])
def test_translation_half_pixel_bilinear_golden(fill_mode, expected):
    layer = L.RandomTranslation((0, 0), (0.125, 0.125), fill_mode=fill_mode, fill_value=-1.0)
    np.testing.assert_allclose(_train(layer, _row([10, 20, 30, 40]))[0], expected, rtol=1e-6)


def test_wrap_is_not_periodic_for_long_shifts():
    """TensorFlow's wrap divides by L - 1: a shift of 3 on [0, 1, 2, 3] reads 3, 2, 3, 0
    (a periodic wrap would give 1, 2, 3, 0). Keras computes this, so scratchnet does."""
    layer = L.RandomTranslation((0, 0), (0.75, 0.75), fill_mode="wrap", interpolation="nearest")
    np.testing.assert_array_equal(_train(layer, _row([0, 1, 2, 3]))[0], [3, 2, 3, 0])


@pytest.mark.parametrize("factor, fill_mode, expected", [
    # zoom out by 2 (z = 1 + 1): x_in = 2x - 2 = -2, 0, 2, 4, 6
    (1.0, "constant", [0, 10, 30, 50, 0]),
    (1.0, "reflect", [20, 10, 30, 50, 40]),  # -2 -> 1, 6 -> 10 - 6 - 1 = 3
    (1.0, "nearest", [10, 10, 30, 50, 50]),
    # zoom in by 2 (z = 1 - 0.5): x_in = 0.5x + 1 = 1, 1.5, 2, 2.5, 3
    (-0.5, "constant", [20, 25, 30, 35, 40]),
])
def test_zoom_golden(factor, fill_mode, expected):
    layer = L.RandomZoom((0, 0), (factor, factor), fill_mode=fill_mode)
    np.testing.assert_allclose(_train(layer, _row([10, 20, 30, 40, 50]))[0], expected, rtol=1e-6)


def test_zoom_without_width_factor_keeps_the_aspect_ratio():
    x = np.arange(25, dtype=np.float64).reshape(1, 5, 5, 1)
    y = _train(L.RandomZoom((1.0, 1.0), fill_mode="constant"), x)
    np.testing.assert_array_equal(y[1:4, 1:4], [[0, 2, 4], [10, 12, 14], [20, 22, 24]])


def test_nearest_rounds_halves_away_from_zero():
    np.testing.assert_array_equal(it.round_half_away(np.array([-0.5, 0.5, 1.5, 2.5, 2.4999],
                                                               np.float32)), [-1, 1, 2, 3, 2])


def test_contrast_golden():
    x = np.array([0.0, 10.0, 20.0, 30.0]).reshape(1, 2, 2, 1)  # mean 15
    layer = _built(L.RandomContrast(0.5), (2, 2, 1))
    y = layer.transform_images(x, {"contrast_factor": np.full((1, 1, 1, 1), 2.0)})
    np.testing.assert_allclose(y.ravel(), [0, 5, 25, 45])  # -15 clipped to 0
    factor = L.RandomContrast(0.2).factor
    assert factor == (0, 0.2)  # Keras 3.15: a number g means [1, 1 + g), never less contrast


def test_brightness_golden():
    y = _train(L.RandomBrightness((0.1, 0.1)), _row([10, 250]))
    np.testing.assert_allclose(y[0], [10 + np.float32(0.1) * 255, 255], rtol=1e-6)
    y = _train(L.RandomBrightness((-1, -1), value_range=(0, 1)), _row([0.2, 0.9]))
    np.testing.assert_array_equal(y[0], [0, 0])  # -1 turns an image black


# ------------------------------------------------------------------- training only, draws, seeds
ALL_LAYERS = [
    lambda **kw: L.RandomFlip(**kw),
    lambda **kw: L.RandomRotation(0.2, **kw),
    lambda **kw: L.RandomZoom(0.3, 0.2, **kw),
    lambda **kw: L.RandomTranslation(0.2, 0.3, **kw),
    lambda **kw: L.RandomContrast(0.5, **kw),
    lambda **kw: L.RandomBrightness(0.3, **kw),
]
IDS = [type(make()).__name__ for make in ALL_LAYERS]


def _batch(n=8, shape=(6, 7, 2), seed=0):
    return np.random.default_rng(seed).uniform(0, 255, size=(n, *shape))


@pytest.mark.parametrize("make", ALL_LAYERS, ids=IDS)
def test_identity_at_inference(make):
    x = _batch()
    layer = _built(make(), x.shape[1:])
    assert layer.forward(x, training=False) is x
    assert layer.backward(x) is x
    model = sn.Sequential([L.Input(x.shape[1:]), make()], seed=0)
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)


@pytest.mark.parametrize("make", ALL_LAYERS, ids=IDS)
def test_draws_differ_per_step_and_per_image(make):
    x = np.repeat(_batch(n=1), 8, axis=0)  # eight copies of one image
    layer = _built(make(), x.shape[1:])
    first, second = layer.forward(x, training=True), layer.forward(x, training=True)
    assert not np.allclose(first, second)
    assert len({first[i].tobytes() for i in range(8)}) > 1


@pytest.mark.parametrize("make", ALL_LAYERS, ids=IDS)
def test_seeded_repeatability(make):
    x = _batch()
    a, b, c = (_built(make(seed=seed), x.shape[1:]) for seed in (5, 5, 6))
    steps_a = [a.forward(x, training=True) for _ in range(3)]
    steps_b = [b.forward(x, training=True) for _ in range(3)]
    np.testing.assert_array_equal(steps_a, steps_b)
    assert not np.allclose(steps_a[0], c.forward(x, training=True))
    # Seeded by the model's seed when the layer has none, as Dropout.
    m1, m2 = (sn.Sequential([L.Input(x.shape[1:]), make()], seed=3) for _ in range(2))
    np.testing.assert_array_equal(m1(x, training=True), m2(x, training=True))


def test_calling_a_layer_directly_augments_as_keras_does():
    x = _batch()
    layer = L.RandomRotation(0.3)
    assert not np.allclose(layer(x), x)
    np.testing.assert_array_equal(layer(x, training=False), x)


def test_fit_with_augmentation_in_front():
    x = _batch(n=12, shape=(8, 8, 3)) / 255
    y = np.arange(12) % 3
    model = sn.Sequential([
        L.Input((8, 8, 3)), L.RandomFlip("horizontal"), L.RandomRotation(0.1),
        L.RandomZoom(0.1), L.RandomTranslation(0.1, 0.1), L.RandomContrast(0.2, value_range=(0, 1)),
        L.RandomBrightness(0.1, value_range=(0, 1)),
        L.Conv2D(4, 3, activation="relu"), L.Flatten(), L.Dense(3),
    ], seed=0)
    model.compile("sgd", sn.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))


# ------------------------------------------------------------------- finite differences
GEOMETRIC = [
    (L.RandomRotation, dict(factor=(0.1, 0.1))),
    (L.RandomRotation, dict(factor=(-0.3, -0.3), fill_mode="constant", fill_value=2.0)),
    (L.RandomRotation, dict(factor=(0.45, 0.45), fill_mode="wrap")),
    (L.RandomZoom, dict(height_factor=(0.4, 0.4), width_factor=(-0.3, -0.3))),
    (L.RandomZoom, dict(height_factor=(0.7, 0.7), fill_mode="nearest")),
    (L.RandomZoom, dict(height_factor=(0.5, 0.5), fill_mode="constant", interpolation="nearest")),
    (L.RandomTranslation, dict(height_factor=(0.3, 0.3), width_factor=(-0.15, -0.15))),
    (L.RandomTranslation, dict(height_factor=(-0.6, -0.6), width_factor=(0.2, 0.2),
                               fill_mode="wrap", interpolation="nearest")),
    (L.RandomTranslation, dict(height_factor=(0.1, 0.1), width_factor=(0.55, 0.55),
                               fill_mode="constant", fill_value=-1.0)),
]


@pytest.mark.parametrize("cls, kwargs", GEOMETRIC, ids=lambda v: getattr(v, "__name__", None))
def test_geometric_backward_is_the_transpose(cls, kwargs, rng):
    check_layer(cls(**kwargs), rng.standard_normal((2, 6, 7, 2)), rng, training=True)


def test_geometric_backward_with_a_different_draw_per_image(rng):
    draw = {"translations": np.array([[1.5, -0.25], [-2.75, 3.0]], np.float32)}
    check_layer(_fixed(L.RandomTranslation(0.5, 0.5), draw), rng.standard_normal((2, 5, 6, 3)),
                rng, training=True)
    draw = {"angle": np.array([17.0, -133.0], np.float32)}
    check_layer(_fixed(L.RandomRotation(0.5), draw), rng.standard_normal((2, 5, 6, 3)),
                rng, training=True)


@pytest.mark.parametrize("mode", ["horizontal", "vertical", "horizontal_and_vertical"])
def test_flip_backward(mode, rng):
    draw = {"flips": np.array([True, False, True]).reshape(3, 1, 1, 1)}
    check_layer(_fixed(L.RandomFlip(mode), draw), rng.standard_normal((3, 4, 5, 2)), rng,
                training=True)


@pytest.mark.parametrize("value_range", [(-100, 100), (-0.5, 0.5)])  # without and with clipping
def test_contrast_backward(value_range, rng):
    draw = {"contrast_factor": np.array([0.3, 1.0, 2.5]).reshape(3, 1, 1, 1)}
    layer = _fixed(L.RandomContrast(0.5, value_range=value_range), draw)
    x = rng.standard_normal((3, 4, 5, 2))
    x = np.where(np.abs(x) < 0.3, x, np.sign(x) * (np.abs(x) + 0.5))  # no value near the clip
    check_layer(layer, x, rng, training=True)


@pytest.mark.parametrize("value_range", [(-100, 100), (-1, 1)])
def test_brightness_backward(value_range, rng):
    layer = L.RandomBrightness((0.1, 0.1), value_range=value_range)
    x = rng.uniform(-1.5, 1.5, size=(2, 4, 5, 2))
    x[np.abs(np.abs(x + 0.2) - 1) < 0.05] = 0.0  # no value near the clip
    check_layer(layer, x, rng, training=True)


def test_float32_in_float32_out(rng):
    sn.config.set_floatx("float32")
    x = rng.uniform(0, 255, size=(2, 6, 7, 3)).astype(np.float32)
    for make in ALL_LAYERS:
        layer = _built(make(), x.shape[1:])
        y = layer.forward(x, training=True)
        assert y.dtype == layer.backward(np.ones_like(y)).dtype == np.float32, type(layer).__name__


# ------------------------------------------------------------------- bad input
@pytest.mark.parametrize("make, expected", [
    (lambda: L.RandomRotation(1.5),
     r"RandomRotation 'random_rotation': expected factor to be a number in \[-1, 1\].*received 1.5"),
    (lambda: L.RandomRotation((2, 3)), r"expected factor .*received \(2, 3\)"),
    (lambda: L.RandomRotation("0.2"), r"expected factor .*received '0.2'"),
    (lambda: L.RandomRotation(0.2, fill_mode="mirror"),
     r"expected fill_mode to be one of \('reflect', 'wrap', 'constant', 'nearest'\), "
     r"received 'mirror'"),
    (lambda: L.RandomRotation(0.2, interpolation="bicubic"),
     r"expected interpolation to be one of \('nearest', 'bilinear'\), received 'bicubic'"),
    (lambda: L.RandomRotation(0.2, fill_value="black"), r"expected fill_value to be a number"),
    (lambda: L.RandomZoom(-1.0), r"RandomZoom 'random_zoom': expected height_factor to be a number "
                                 r"in \(-1, 1\].*received -1.0"),
    (lambda: L.RandomZoom(0.2, (0.1, 1.5)), r"expected width_factor .*received \(0.1, 1.5\)"),
    (lambda: L.RandomTranslation(0.1, -1.2), r"RandomTranslation 'random_translation': expected "
                                             r"width_factor to be a number in \[-1, 1\]"),
    (lambda: L.RandomTranslation((0.1, 0.2, 0.3), 0.1), r"expected height_factor"),
    (lambda: L.RandomContrast(-0.2), r"RandomContrast 'random_contrast': expected factor to be "
                                     r"a number in \[0, 1\]"),
    (lambda: L.RandomContrast(0.2, value_range=255), r"expected value_range to be a list or tuple "
                                                     r"of two numbers.*received 255"),
    (lambda: L.RandomBrightness(1.1), r"RandomBrightness 'random_brightness': expected factor"),
    (lambda: L.RandomBrightness(0.1, value_range=(0, 1, 2)), r"expected value_range"),
    (lambda: L.RandomFlip("diagonal"), r"RandomFlip 'random_flip': expected mode to be one of "
                                       r"\('horizontal', 'vertical', 'horizontal_and_vertical'\), "
                                       r"received 'diagonal'"),
    (lambda: L.RandomFlip(seed=1.5), r"expected seed to be an integer or None, received 1.5"),
    (lambda: L.RandomZoom(0.1, data_format="channels_first"),
     r"RandomZoom 'random_zoom': expected data_format to be 'channels_last'.*'channels_first'"),
])
def test_bad_arguments_name_the_layer_what_was_expected_and_received(make, expected):
    with pytest.raises(ValueError, match=expected):
        make()


@pytest.mark.parametrize("make", ALL_LAYERS, ids=IDS)
@pytest.mark.parametrize("shape", [(5, 5), (4, 5, 5, 3)], ids=str)
def test_wrong_rank_names_the_layer_expected_and_received(make, shape):
    layer = make()
    with pytest.raises(ValueError, match=rf'layer "{layer.name}".*expected ndim=4 .*found '
                                         rf"ndim={len(shape) + 1}"):
        layer.ensure_built(shape)


# ------------------------------------------------------------------- config and saving
@pytest.mark.parametrize("make", ALL_LAYERS, ids=IDS)
def test_get_config_makes_a_twin(make):
    layer = make(seed=7)
    twin = type(layer)(**layer.get_config())
    assert twin.get_config() == layer.get_config()
    assert type(layer).__name__ in L.__all__


def test_a_model_with_augmentation_saves_and_loads_npz(tmp_path):
    x = _batch(n=3, shape=(8, 8, 3)) / 255
    model = sn.Sequential([L.Input((8, 8, 3))] + [make(seed=i) for i, make in enumerate(ALL_LAYERS)]
                          + [L.Flatten(), L.Dense(4)], seed=0)
    model.save(tmp_path / "m.npz")
    loaded = sn.load_model(tmp_path / "m.npz")
    assert [layer.get_config() for layer in loaded.layers] == \
        [layer.get_config() for layer in model.layers]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    # Same seeds, same draws: training-mode outputs agree too.
    np.testing.assert_array_equal(loaded(x, training=True), model(x, training=True))


def test_the_docs_figures_script_draws_both_pictures(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "augmentation_gallery", Path(__file__).resolve().parents[1] / "examples" /
        "augmentation_gallery.py")
    gallery = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gallery)
    paths = gallery.main(tmp_path)
    assert [p.name for p in paths] == ["augmentation.png", "augmentation_fill_modes.png",
                                       "augmentation_more.png"]
    assert all(p.stat().st_size > 10_000 for p in paths)


def test_on_a_gpu_backend_the_batch_comes_back_to_the_device(monkeypatch):
    """With a GPU backend (tests/fake_gpu.py stands in for CuPy) the layers compute on the host
    and hand the next layer a device array; the loss and gradients equal the NumPy backend's."""
    from tests import fake_gpu

    x = _batch(n=4, shape=(6, 6, 2)) / 255
    y = np.arange(4) % 3

    def run():
        model = sn.Sequential([L.Input((6, 6, 2))] + [make(seed=i) for i, make in
                                                       enumerate(ALL_LAYERS)]
                              + [L.Flatten(), L.Dense(3)], seed=0)
        model.compile("sgd", sn.losses.SparseCategoricalCrossentropy(from_logits=True))
        return model.loss_and_grads(x, y)

    ref_loss, ref_grads = run()
    fake_gpu.install(monkeypatch)
    loss, grads = run()
    assert loss == ref_loss
    for g, r in zip(grads, ref_grads, strict=True):
        np.testing.assert_array_equal(g, r)


# ------------------------------------------------------------------- RandomCrop
def _arange(shape):
    return np.arange(np.prod(shape), dtype=np.float64).reshape(shape)


def test_random_crop_takes_one_place_per_batch_each_place_as_often():
    """Training, input larger on both sides: one (top, left) for the whole batch, each of the
    (H - height + 1) x (W - width + 1) places drawn (``int(u * (H - height + 1))``, u ~ U[0, 1))."""
    x = _arange((3, 6, 8, 1))
    layer = _built(L.RandomCrop(4, 5, seed=0), x.shape[1:])
    counts = np.zeros((3, 4))
    for _ in range(1200):
        y = layer.forward(x, training=True)
        top, left = layer.transformation
        np.testing.assert_array_equal(y, x[:, top:top + 4, left:left + 5])  # every image alike
        counts[top, left] += 1
    assert y.shape == (3, 4, 5, 1)
    assert counts.min() > 0.6 * 100 and counts.max() < 1.4 * 100  # 12 places, 100 draws each expected


def test_random_crop_of_an_input_not_larger_than_the_target_is_keras_centred_slice():
    """Not larger on both sides: Keras' centred place (no draw), its slice cut at the image's edge,
    resized to the target where it is not that size."""
    x = _arange((2, 4, 6, 1))
    layer = _built(L.RandomCrop(4, 4), x.shape[1:])
    assert layer.get_random_transformation(x) == (0, 1)  # rows = 4 = H; left = int((6 - 4) / 2)
    np.testing.assert_array_equal(layer.forward(x, training=True), x[:, :, 1:5])
    small = _arange((2, 2, 3, 1))
    layer = _built(L.RandomCrop(4, 4), small.shape[1:])
    assert layer.get_random_transformation(small) == (0, 0)
    np.testing.assert_allclose(layer.forward(small, training=True),
                               _built(L.Resizing(4, 4), small.shape[1:]).forward(small), rtol=1e-12)


@pytest.mark.parametrize("shape, target", [((6, 8, 2), (4, 4)), ((9, 5, 1), (3, 4)), ((3, 3, 1), (5, 4))])
def test_random_crop_at_inference_is_the_centred_window_of_the_aspect_ratio(shape, target):
    """predict and evaluate see the largest centred window of the target's aspect ratio, resized
    (Keras' documented inference; Keras 3.15.1 returns the input unchanged, see the parity test)."""
    x = _batch(n=3, shape=shape)
    layer = _built(L.RandomCrop(*target), shape)
    want = _built(L.Resizing(*target, crop_to_aspect_ratio=True), shape).forward(x)
    np.testing.assert_allclose(layer.forward(x, training=False), want, rtol=1e-12)
    np.testing.assert_allclose(layer(x, training=False), want, rtol=1e-12)
    model = sn.Sequential([L.Input(shape), L.RandomCrop(*target), L.Flatten(), L.Dense(2)], seed=0)
    assert model.predict(x, verbose=0).shape == (3, 2)


@pytest.mark.parametrize("shape, target, draw", [((5, 7, 2), (3, 4), (1, 2)), ((5, 7, 2), (3, 4), (2, 3)),
                                                 ((4, 6, 2), (4, 4), (0, 1)), ((2, 3, 2), (4, 5), (0, 0)),
                                                 ((6, 3, 2), (4, 4), (1, 0))])
def test_random_crop_backward(shape, target, draw, rng):
    """The cropped cells get dy (through the resize's transpose where it resized), the rest 0."""
    check_layer(_fixed(L.RandomCrop(*target), draw), rng.standard_normal((2, *shape)), rng, training=True)


def test_random_crop_seeds_config_saving_and_errors(tmp_path):
    x = _batch(n=2, shape=(7, 9, 1))
    a, b, c = (_built(L.RandomCrop(3, 4, seed=seed), x.shape[1:]) for seed in (5, 5, 6))
    runs = [[layer.forward(x, training=True) for _ in range(6)] for layer in (a, b, c)]
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not all(np.array_equal(p, q) for p, q in zip(runs[0], runs[2], strict=True))
    layer = L.RandomCrop(3, 4, seed=7)
    assert type(layer)(**layer.get_config()).get_config() == layer.get_config()
    assert "RandomCrop" in L.__all__
    model = sn.Sequential([L.Input((7, 9, 1)), L.RandomCrop(3, 4, seed=1), L.Flatten(), L.Dense(2)], seed=0)
    model.save(tmp_path / "m.npz")
    loaded = sn.load_model(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    np.testing.assert_array_equal(loaded(x, training=True), model(x, training=True))
    for make, expected in [(lambda: L.RandomCrop(0, 4), r"RandomCrop 'random_crop.*': expected height to be "
                                                        r"a positive integer, received 0"),
                           (lambda: L.RandomCrop(4, "4"), r"expected width to be a positive integer, "
                                                          r"received '4'"),
                           (lambda: L.RandomCrop(4, 4, seed=1.5), r"expected seed to be an integer")]:
        with pytest.raises(ValueError, match=expected):
            make()
    with pytest.raises(ValueError, match=r"expected ndim=4 .*found ndim=3"):
        L.RandomCrop(2, 2).ensure_built((5, 5))


def test_in_a_functional_model_augmentation_follows_the_models_mode():
    """Found by examples/keras_io/image_classification_from_scratch.py, whose augmentation layers
    sit at the model's start: predict gave a different answer at each call (and the checkpoint a
    different one again), because ``layer(inputs)`` recorded Keras' call default
    ``training=True`` as if written. As in Keras, the model's mode decides unless ``training=``
    is written in the call; on arrays the layer still augments by default."""
    x = np.arange(2 * 6 * 6 * 1, dtype=np.float32).reshape(2, 6, 6, 1)
    inputs = sn.Input((6, 6, 1))
    augmented = sn.layers.RandomRotation(0.2, seed=2)(sn.layers.RandomFlip("horizontal", seed=1)(inputs))
    model = sn.Model(inputs, sn.layers.Flatten()(augmented))
    for _ in range(3):
        np.testing.assert_array_equal(model.predict(x, verbose=0), x.reshape(2, -1))
        np.testing.assert_array_equal(model(x), x.reshape(2, -1))
    trained = model.forward([x], training=True)
    assert not np.allclose(np.asarray(trained[0] if isinstance(trained, list) else trained), x.reshape(2, -1))
    always = sn.Model(inputs, sn.layers.RandomFlip("vertical", seed=0)(inputs, training=True))
    outs = [always.predict(x, verbose=0) for _ in range(6)]
    assert any(not np.array_equal(o, x) for o in outs)  # written training=True holds in predict
    layer = sn.layers.RandomFlip("horizontal", seed=3)
    assert any(not np.array_equal(layer(x), x) for _ in range(6))  # eager call: augments
    pipeline = sn.layers.Pipeline([sn.layers.RandomFlip("horizontal", seed=4)])
    piped = sn.Model(inputs, pipeline(inputs))
    np.testing.assert_array_equal(piped.predict(x, verbose=0), x)
