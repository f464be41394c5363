"""Images of any size (``Input((None, None, C))``) and 1-D signals of any length through the image
and 1-D layers left behind by the sequence work.

- A ``None`` axis stays ``None`` through shape inference (``output_shape``, the summary), a known
  one keeps its size, and the weights are built from the known channels.
- Every layer of a model built for unknown sizes computes, at two sizes, exactly what the same
  layers with the same weights built for that fixed size compute (bit for bit): the output, the
  loss and every gradient (``loss_and_grads``; a 1x1 convolution first, so its kernel gradient
  carries every layer's input gradient); augmentation and dropout layers in training mode with
  the same seed too.
- fit on batches of different image sizes (a generator), predict on a size never seen.
- Refused, naming the layer and the shape: a weight whose size depends on an unknown axis
  (Flatten then Dense), a batch the kernel or the cropping does not fit.
- .keras, .h5 and .npz files keep the None; the Numba backend plans each size afresh.
Keras' numbers are in parity_tests/test_any_image_size_keras.py.
"""

import json
import zipfile

import numpy as np
import pytest

import scratchnet as sn

L = sn.layers
C = 3
SIZES = ((9, 11), (12, 10))


def _cases():
    """``name -> (layers maker, sample shape with None)``."""
    for padding in ("valid", "same"):
        yield f"conv2d_{padding}", lambda p=padding: [
            L.Conv2D(4, 3, padding=p, activation="relu"), L.Conv2D(3, (2, 3), strides=2, padding=p),
            L.Conv2D(2, 2, dilation_rate=2, padding=p, activation="tanh")], (None, None, C)
        yield f"conv2d_maxpool_{padding}", lambda p=padding: [
            L.Conv2D(4, 3, padding="same", activation="relu"), L.MaxPooling2D(2, padding=p),
            L.Conv2D(4, 3, padding="same", activation="relu"), L.AveragePooling2D(2, strides=1, padding=p)], \
            (None, None, C)
        yield f"conv2d_transpose_{padding}", lambda p=padding: [
            L.Conv2DTranspose(3, 3, strides=2, padding=p, activation="relu"),
            L.Conv2DTranspose(2, 2, output_padding=1, strides=2, padding=p)], (None, None, C)
        yield f"depthwise_separable_{padding}", lambda p=padding: [
            L.DepthwiseConv2D(3, depth_multiplier=2, padding=p, activation="relu"),
            L.SeparableConv2D(4, 2, strides=2, padding=p),
            L.DepthwiseConv2D(2, dilation_rate=2, padding=p)], (None, None, C)
        yield f"conv1d_family_{padding}", lambda p=padding: [
            L.DepthwiseConv1D(3, depth_multiplier=2, padding=p),
            L.SeparableConv1D(4, 3, strides=2, padding=p),
            L.UpSampling1D(3), L.ZeroPadding1D((1, 2)), L.Cropping1D((2, 1))], (None, C)
    yield "global_pooling", lambda: [L.Conv2D(4, 3), L.GlobalMaxPooling2D(), L.Dense(2)], (None, None, C)
    yield "global_average", lambda: [L.GlobalAveragePooling2D(keepdims=True), L.Dense(2)], (None, None, C)
    yield "reshaping", lambda: [L.ZeroPadding2D(((1, 2), (0, 3))), L.UpSampling2D((2, 1)),
                                L.Cropping2D(((2, 1), (1, 1))),
                                L.UpSampling2D(2, interpolation="bilinear")], (None, None, C)
    yield "preprocessing", lambda: [L.Rescaling(1 / 255.0, offset=-0.5), L.Resizing(5, 4),
                                    L.Conv2D(2, 2)], (None, None, C)
    yield "resizing_crop_ratio", lambda: [L.Resizing(4, 6, crop_to_aspect_ratio=True), L.Conv2D(2, 2)], \
        (None, None, C)
    yield "resizing_pad_ratio", lambda: [
        L.Resizing(6, 4, pad_to_aspect_ratio=True, interpolation="nearest")], (None, None, C)
    yield "center_crop", lambda: [L.CenterCrop(6, 5), L.Conv2D(2, 3)], (None, None, C)
    yield "center_crop_resizes", lambda: [L.CenterCrop(8, 8), L.Conv2D(2, 3)], (None, None, C)
    yield "normalization", lambda: [L.BatchNormalization(), L.LayerNormalization(), L.GroupNormalization(3),
                                    L.Activation("gelu")], (None, None, C)
    yield "known_width", lambda: [L.Conv2D(4, 3, strides=2, padding="same"), L.MaxPooling2D(2),
                                  L.Conv2DTranspose(2, 3, strides=2)], (None, 9, C)


CASES = {name: (make, shape) for name, make, shape in _cases()}


def _first(shape):
    """A 1x1 convolution first: its kernel gradient carries every later layer's input gradient."""
    return L.Conv2D(C, 1) if len(shape) == 3 else L.Conv1D(C, 1)


def _x(shape, size, seed=0):
    spatial = size if len(shape) == 3 else size[:1]
    spatial = tuple(n if d is None else d for n, d in zip(spatial, shape[:-1], strict=False))
    return np.random.default_rng(seed).standard_normal((3, *spatial, shape[-1])).astype(np.float32)


def _loss_and_grads(model, x, seed=1):
    y = np.random.default_rng(seed).standard_normal(model.predict(x, verbose=0).shape).astype(np.float32)
    model.compile("sgd", "mse")
    return model.loss_and_grads(x, y)


@pytest.mark.parametrize("name", sorted(CASES))
def test_unknown_size_computes_what_a_fixed_size_does(name):
    make, shape = CASES[name]
    model = sn.Sequential([L.Input(shape), _first(shape), *make()], seed=0)
    assert model.input_shape == (None, *shape)
    assert model.output_shape[0] is None
    for size in SIZES:
        x = _x(shape, size)
        fixed = sn.Sequential([L.Input(x.shape[1:]), _first(shape), *make()], seed=1)
        fixed.set_weights(model.get_weights())
        np.testing.assert_array_equal(model.predict(x, verbose=0), fixed.predict(x, verbose=0))
        # a known axis keeps its size in the model of unknown sizes; None is what fixed computes
        assert all(d is None or d == f for d, f in zip(model.output_shape, fixed.output_shape, strict=True))
        loss, grads = _loss_and_grads(model, x)
        fixed_loss, fixed_grads = _loss_and_grads(fixed, x)
        assert loss == fixed_loss
        for g, fg in zip(grads, fixed_grads, strict=True):
            np.testing.assert_array_equal(g, fg)


@pytest.mark.parametrize("make", [
    lambda: [L.RandomFlip(seed=1), L.RandomRotation(0.2, seed=2), L.RandomZoom(0.2, seed=3),
             L.RandomTranslation(0.1, 0.2, seed=4), L.RandomContrast(0.3, seed=5),
             L.RandomBrightness(0.2, seed=6)],
    lambda: [L.RandomCrop(5, 4, seed=7), L.Conv2D(2, 2)],
    lambda: [L.Dropout(0.3, seed=8), L.SpatialDropout2D(0.3, seed=9)],
])
def test_augmentation_and_dropout_of_unknown_sizes_draws_what_a_fixed_size_does(make):
    for size in SIZES:
        x = _x((None, None, C), size)
        model = sn.Sequential([L.Input((None, None, C)), *make()], seed=0)
        fixed = sn.Sequential([L.Input(x.shape[1:]), *make()], seed=0)
        fixed.set_weights(model.get_weights())
        out = model(x, training=True)
        np.testing.assert_array_equal(out, fixed(x, training=True))
        assert not np.array_equal(out[..., :1], x[..., :1]) or out.shape != x.shape  # it did augment


def test_none_stays_none_in_shapes_and_the_summary():
    model = sn.Sequential([L.Input((None, None, 1)), L.Conv2D(8, 5, padding="same", activation="relu"),
                           L.MaxPooling2D(), L.Conv2D(4, 3), L.UpSampling2D(), L.GlobalAveragePooling2D(),
                           L.Dense(2)])
    assert [layer.output_shape for layer in model.layers] == [
        (None, None, 8), (None, None, 8), (None, None, 4), (None, None, 4), (4,), (2,)]
    half = sn.Sequential([L.Input((None, 12, 1)), L.Conv2D(2, 3, strides=2), L.Cropping2D(((0, 0), (1, 2)))])
    assert half.output_shape == (None, None, 5 - 3, 2)
    lines = []
    model.summary(print_fn=lines.append)
    assert any("(None, None, None, 8)" in line for line in lines), lines
    assert model.count_params() == 5 * 5 * 8 + 8 + 3 * 3 * 8 * 4 + 4 + 4 * 2 + 2


def test_a_functional_graph_of_unknown_sizes_merges_branches():
    inputs = sn.Input((None, None, 2))
    a = L.Conv2D(4, 3, padding="same")(inputs)
    b = L.DepthwiseConv2D(3, depth_multiplier=2, padding="same")(inputs)
    merged = L.Concatenate()([L.Add()([a, b]), L.Multiply()([a, b])])
    out = L.Conv2D(1, 1)(L.Activation("relu")(merged))
    model = sn.Model(inputs, out, seed=0)
    assert merged.shape == (None, None, None, 8) and model.output_shape == (None, None, None, 1)
    for size in SIZES:
        x = _x((None, None, 2), size)
        fixed_in = sn.Input(x.shape[1:])
        a = L.Conv2D(4, 3, padding="same")(fixed_in)
        b = L.DepthwiseConv2D(3, depth_multiplier=2, padding="same")(fixed_in)
        fixed = sn.Model(fixed_in, L.Conv2D(1, 1)(L.Activation("relu")(
            L.Concatenate()([L.Add()([a, b]), L.Multiply()([a, b])]))))
        fixed.set_weights(model.get_weights())
        np.testing.assert_array_equal(model.predict(x, verbose=0), fixed.predict(x, verbose=0))
        loss, grads = _loss_and_grads(model, x)
        fixed_loss, fixed_grads = _loss_and_grads(fixed, x)
        assert loss == fixed_loss
        for g, fg in zip(grads, fixed_grads, strict=True):
            np.testing.assert_array_equal(g, fg)


def _images():
    """Batches of 4 noisy images, each batch its own size; the target is the clean image."""
    rng = np.random.default_rng(0)
    for h, w in ((8, 8), (12, 6), (6, 10), (8, 8), (12, 6), (6, 10)):
        clean = np.sin(np.arange(h)[:, None] / 2.0 + np.arange(w)[None] / 3.0)[None, :, :, None]
        clean = np.repeat(clean, 4, axis=0).astype(np.float32)
        yield clean + 0.3 * rng.standard_normal(clean.shape).astype(np.float32), clean


def test_fit_on_batches_of_different_sizes_and_predict_a_new_one():
    model = sn.Sequential([L.Input((None, None, 1)), L.Conv2D(8, 3, padding="same", activation="relu"),
                           L.MaxPooling2D(), L.Conv2DTranspose(8, 2, strides=2, activation="relu"),
                           L.Conv2D(1, 3, padding="same")], seed=0)
    model.compile(sn.optimizers.Adam(0.01), "mse")
    history = model.fit(_images(), epochs=1, verbose=0)
    assert len(history.history["loss"]) == 1
    first = model.evaluate(*next(_images()), verbose=0)
    for _ in range(8):
        model.fit(_images(), epochs=1, verbose=0)
    assert model.evaluate(*next(_images()), verbose=0) < 0.7 * first
    assert model.predict(np.zeros((1, 22, 14, 1), np.float32), verbose=0).shape == (1, 22, 14, 1)
    model.fit(np.ones((4, 10, 10, 1), np.float32), np.ones((4, 10, 10, 1), np.float32), verbose=0)


@pytest.mark.parametrize("make, message", [
    (lambda: sn.Sequential([L.Input((None, None, 3)), L.Conv2D(2, 3), L.Flatten(), L.Dense(3)]),
     r'Layer "dense" \(Dense\): shapes used to initialize variables must be fully-defined \(no `None` '
     r"dimensions\); received shape=\(None, 3\) for weight 'kernel' \(for inputs of shape \(None, None\)\)"),
    (lambda: sn.Sequential([L.Input((8, 8, None)), L.Conv2D(2, 3)]),
     r'Layer "conv2d" \(Conv2D\).*shape=\(3, 3, None, 2\)'),
    (lambda: sn.Sequential([L.Input((None, None, None)), L.SeparableConv2D(2, 3)]),
     r'Layer "separable_conv2d" \(SeparableConv2D\).*shape=\(3, 3, None, 1\)'),
])
def test_a_weight_of_unknown_size_is_refused_at_construction(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_a_batch_that_does_not_fit_is_refused_when_it_comes():
    conv = sn.Sequential([L.Input((None, None, 2)), L.Conv2D(3, 5)])
    with pytest.raises(ValueError, match=r'Layer "conv2d": the kernel \(5, 5\).*height and width \(4, 7\)'):
        conv.predict(np.ones((2, 4, 7, 2)), verbose=0)
    with pytest.raises(ValueError,
                       match=r"expected shape=\(None, None, None, 2\), found shape=\(2, 6, 6, 3\)"):
        conv.predict(np.ones((2, 6, 6, 3)), verbose=0)
    crop = sn.Sequential([L.Input((None, None, 2)), L.Cropping2D(((2, 2), (0, 0)))])
    with pytest.raises(ValueError, match=r'Cropping2D "cropping2d": cropping=\(\(2, 2\), \(0, 0\)\) must '
                                         r"leave at least one row and one column, received input "
                                         r"shape \(None, 4, 5, 2\)"):
        crop.predict(np.ones((2, 4, 5, 2)), verbose=0)
    crop1d = sn.Sequential([L.Input((None, 2)), L.Cropping1D((2, 1))])
    with pytest.raises(ValueError, match=r"must leave at least one step, received input shape "
                                         r"\(None, 3, 2\)"):
        crop1d.predict(np.ones((2, 3, 2)), verbose=0)
    depthwise = sn.Sequential([L.Input((None, None, 2)), L.DepthwiseConv2D(4)])
    with pytest.raises(ValueError, match=r'Layer "depthwise_conv2d": the kernel \(4, 4\).*size \(3, 9\)'):
        depthwise.predict(np.ones((1, 3, 9, 2)), verbose=0)


@pytest.mark.parametrize("suffix", [".keras", ".h5", ".npz"])
def test_files_keep_the_unknown_size(suffix, tmp_path):
    model = sn.Sequential([L.Input((None, None, 1)), L.Conv2D(4, 3, padding="same", activation="relu"),
                           L.SeparableConv2D(2, 3), L.UpSampling2D()], seed=0)
    path = tmp_path / f"m{suffix}"
    model.save(path)
    if suffix == ".keras":
        config = json.loads(zipfile.ZipFile(path).read("config.json"))
        assert config["config"]["layers"][0]["config"]["batch_shape"] == [None, None, None, 1]
    loaded = sn.load_model(path)
    assert loaded.input_shape == (None, None, None, 1) and loaded.output_shape == (None, None, None, 2)
    for size in SIZES:
        x = _x((None, None, 1), size)
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_the_numba_backend_plans_each_size_afresh():
    pytest.importorskip("numba")
    make = CASES["conv2d_maxpool_valid"][0]
    previous = sn.get_backend()
    reference = {}
    model = sn.Sequential([L.Input((None, None, C)), *make()], seed=0)
    try:
        for backend in ("numpy", "numba"):
            sn.set_backend(backend)
            for size in (*SIZES, SIZES[0], (16, 16)):  # back to a size seen, then a bigger one
                x = _x((None, None, C), size)
                fixed = sn.Sequential([L.Input(x.shape[1:]), *make()], seed=1)
                fixed.set_weights(model.get_weights())
                out = model.predict(x, verbose=0)
                np.testing.assert_array_equal(out, fixed.predict(x, verbose=0))
                loss, grads = _loss_and_grads(model, x)
                if backend == "numpy":
                    reference[size] = (out, loss, grads)
                else:  # the Numba twins against the NumPy reference
                    np.testing.assert_allclose(out, reference[size][0], rtol=1e-5, atol=1e-6)
                    np.testing.assert_allclose(loss, reference[size][1], rtol=1e-5)
                    for g, ref in zip(grads, reference[size][2], strict=True):
                        np.testing.assert_allclose(g, ref, rtol=1e-4, atol=1e-6)
    finally:
        sn.set_backend(previous)


# ---------------------------------------------------------------- ops.depth_to_space / space_to_depth
def test_depth_to_space_moves_each_channel_to_its_pixel():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 2 * 9))
    y = sn.ops.depth_to_space(x, 3)
    assert y.shape == (2, 9, 12, 2)
    n, i, j, p, q, c = 1, 2, 3, 1, 2, 1  # y[n, i*b + p, j*b + q, c] = x[n, i, j, (p*b + q)*C + c]
    assert y[n, i * 3 + p, j * 3 + q, c] == x[n, i, j, (p * 3 + q) * 2 + c]
    np.testing.assert_array_equal(sn.ops.space_to_depth(y, 3), x)
    with pytest.raises(ValueError, match=r"number of channels \(4\) must be divisible by "
                                         r"block_size\*\*2 \(9\)"):
        sn.ops.depth_to_space(np.ones((1, 2, 2, 4)), 3)
    with pytest.raises(ValueError, match=r"`depth_to_space` requires a 4D input tensor"):
        sn.ops.depth_to_space(np.ones((2, 2, 4)), 2)
    with pytest.raises(ValueError, match=r"height 3 and width 4 must be multiples of block_size=2"):
        sn.ops.space_to_depth(np.ones((1, 3, 4, 1)), 2)
    with pytest.raises(ValueError, match=r"expected block_size to be a positive integer, received 0"):
        sn.ops.space_to_depth(np.ones((1, 2, 2, 4)), 0)


@pytest.mark.parametrize("op", ["depth_to_space", "space_to_depth"])
def test_the_shuffles_in_a_graph_keep_none_and_pass_finite_differences(op):
    from tests.gradcheck import REL_TOL, check_layer

    channels = 8 if op == "depth_to_space" else 2
    inputs = sn.Input((None, None, channels))
    out = getattr(sn.ops, op)(inputs, 2)
    assert out.shape == ((None, None, None, 2) if op == "depth_to_space" else (None, None, None, 8))
    model = sn.Model(inputs, out)
    layer = model.layers[-1]
    assert layer.name == op and REL_TOL == 1e-6
    rng = np.random.default_rng(1)
    for size in ((2, 4), (4, 2)):
        x = rng.standard_normal((2, *size, channels))  # float64: predict casts to float32
        expected = getattr(sn.ops, op)(x.astype(np.float32), 2)
        np.testing.assert_array_equal(model.predict(x, verbose=0), expected)
        check_layer(layer, x, rng)  # float64 central differences against backward


def test_the_profiler_times_a_model_of_unknown_sizes():
    model = sn.Sequential([L.Input((None, None, 1)), L.Conv2D(4, 3, padding="same", activation="relu"),
                           L.MaxPooling2D(), L.Conv2DTranspose(1, 2, strides=2)], seed=0)
    model.compile("adam", "mse")
    prof = sn.profiler.Profiler()
    model.fit(_images(), epochs=1, verbose=0, callbacks=[prof])
    rows = {r["name"]: r for r in prof.rows()}
    assert prof.steps == 6  # six batches of three sizes
    assert rows["conv2d"]["forward"] > 0 and rows["conv2d_transpose"]["backward"] > 0


# ---------------------------------------------------------------- subclassed models retrace
class _Upscaler(sn.Model):
    """A fully-convolutional subclassed model: its shape comes from the first batch."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv = L.Conv2D(4, 3, padding="same", activation="relu")
        self.norm = L.BatchNormalization()
        self.pool = L.MaxPooling2D()
        self.up = L.Conv2DTranspose(1, 2, strides=2)

    def call(self, x, training=False):
        return self.up(self.pool(self.norm(self.conv(x), training=training)))


def test_a_subclassed_model_retraces_for_a_new_image_size_with_the_same_weights():
    rng = np.random.default_rng(0)
    model = _Upscaler(seed=0)
    model.compile(sn.optimizers.Adam(0.01), "mse")
    x8 = rng.standard_normal((4, 8, 8, 1)).astype(np.float32)
    model.fit(x8, x8, epochs=1, verbose=0)
    assert model.input_shape == (None, 8, 8, 1)
    weights = [w.copy() for w in model.get_weights()]
    names = [p.name for p in model.weights]
    x12 = rng.standard_normal((2, 12, 6, 1)).astype(np.float32)
    out = model.predict(x12, verbose=0)  # a new size: call traced again, None where it changed
    assert out.shape == (2, 12, 6, 1)
    assert model.input_shape == (None, None, None, 1) and model.output_shape == (None, None, None, 1)
    for w, before in zip(model.get_weights(), weights, strict=True):
        assert w is not before and np.array_equal(w, before)  # the same weights, not new ones
    reference = sn.Sequential([L.Input((None, None, 1)), L.Conv2D(4, 3, padding="same", activation="relu"),
                               L.BatchNormalization(), L.MaxPooling2D(), L.Conv2DTranspose(1, 2, strides=2)])
    reference.set_weights(model.get_weights())
    for x in (x12, x8):
        np.testing.assert_array_equal(model.predict(x, verbose=0), reference.predict(x, verbose=0))
    loss_before = model.evaluate(x12, x12, verbose=0)
    model.fit(x12, x12, epochs=3, verbose=0)  # training at the new size: the training graph too
    model.fit(x8, x8, epochs=1, verbose=0)  # and back: no third trace needed
    assert model.evaluate(x12, x12, verbose=0) < loss_before
    assert [p.name for p in model.weights] == names


class _Flattener(sn.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv = L.Conv2D(2, 3)
        self.flat = L.Flatten()
        self.out = L.Dense(1)

    def call(self, x):
        return self.out(self.flat(self.conv(x)))


def test_a_retrace_whose_weights_would_change_size_is_refused():
    model = _Flattener()
    model.predict(np.ones((1, 6, 6, 1), np.float32), verbose=0)
    with pytest.raises(ValueError, match=r'expected shape=\(None, 6, 6, 1\), found shape=\(1, 8, 8, 1\); '
                                         r"retracing call\(\) for it failed: .*"):
        model.predict(np.ones((1, 8, 8, 1), np.float32), verbose=0)
    with pytest.raises(ValueError, match=r"found shape=\(1, 6, 6, 2\)"):  # another channel count
        model.predict(np.ones((1, 6, 6, 2), np.float32), verbose=0)
    np.testing.assert_equal(model.predict(np.ones((1, 6, 6, 1), np.float32), verbose=0).shape, (1, 1))


class _TwoSignals(sn.Model):
    """Two named inputs of one length: retraced by name when the length changes."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.left = L.Conv1D(3, 2, padding="same")
        self.right = L.DepthwiseConv1D(3, padding="same")
        self.mix = L.SeparableConv1D(3, 2)
        self.pool = L.GlobalAveragePooling1D()

    def call(self, inputs):
        return self.pool(self.mix(self.left(inputs["left"]) + self.right(inputs["right"])))


def test_a_subclassed_model_with_named_inputs_retraces_by_name():
    rng = np.random.default_rng(0)
    model = _TwoSignals(seed=0)
    short = {"right": rng.standard_normal((2, 5, 3)), "left": rng.standard_normal((2, 5, 3))}
    before = model.predict(short, verbose=0)
    long = {"left": rng.standard_normal((2, 9, 3)), "right": rng.standard_normal((2, 9, 3))}
    assert model.predict(long, verbose=0).shape == (2, 3)
    assert [t.shape for t in model.inputs] == [(None, None, 3), (None, None, 3)]
    np.testing.assert_array_equal(model.predict(short, verbose=0), before)  # same weights, same numbers
    with pytest.raises(ValueError, match=r'missing data for input "right"'):  # names, not a retrace
        model.predict({"left": long["left"], "other": long["right"]}, verbose=0)
