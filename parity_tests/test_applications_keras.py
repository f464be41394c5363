"""``sn.applications`` against ``keras.applications`` (Keras 3.15.1).

For each family: Keras builds the model with ``weights=None`` at a small input size (Keras'
minimum: 75x75 for InceptionV3, 71x71 for Xception, 32x32 for the others), its BatchNormalization
layers get random gamma, beta and moving statistics (so inference-mode normalisation is really
exercised), and it writes a ``.weights.h5`` file. scratchnet builds the same architecture with
``weights=<that file>`` (its loader matches layers by class and order, as Keras' does). The two
must agree on every layer's name and output shape, the parameter count, and ``predict`` on two
random images (FORWARD_RTOL). Both libraries start from fresh layer-name counters
(``keras.backend.clear_session()``), so Keras' automatic names (``conv2d_17``) are compared too.

(VGG19 is VGG16's builder with more convolutions; tests/test_applications.py holds its sizes.)
Cases cover ``include_top=True`` (with a small ``classes``, and one ``classifier_activation=None``)
and ``include_top=False`` with ``pooling=None``, ``"avg"`` and ``"max"``. A fit step of
MobileNetV2 (alpha 0.35) checks training mode (batch statistics, moving-average updates) and
the gradients through depthwise convolutions, ReLU6 and the residual adds (GRAD_RTOL).
"""

import keras
import numpy as np
import pytest

import scratchnet as sn
import tfnet
from parity_tests.driver import FORWARD_RTOL, GRAD_RTOL, assert_close

CASES = [
    ("InceptionV3", (75, 75, 3), {"include_top": False}),
    ("MobileNetV2", (32, 32, 3), {"alpha": 0.35, "include_top": False, "pooling": "max"}),
    ("VGG16", (32, 32, 3), {"include_top": True, "classes": 7}),
    ("ResNet50", (32, 32, 3), {"include_top": False, "pooling": "avg"}),
    ("ResNet50V2", (32, 32, 3), {"include_top": True, "classes": 5, "classifier_activation": None}),
    ("MobileNet", (32, 32, 3), {"alpha": 0.25, "include_top": True, "classes": 6}),
    ("DenseNet121", (32, 32, 3), {"include_top": False, "pooling": "max"}),
    ("Xception", (71, 71, 3), {"include_top": True, "classes": 4}),
    ("InceptionResNetV2", (75, 75, 3), {"include_top": False, "pooling": "avg"}),
    ("EfficientNetB0", (32, 32, 3), {"include_top": True, "classes": 3}),
    ("EfficientNetV2B0", (32, 32, 3), {"include_top": False, "pooling": "max"}),
    ("MobileNetV3Small", (32, 32, 3), {"include_top": True, "classes": 5}),
    ("MobileNetV3Large", (32, 32, 3), {"alpha": 0.75, "include_top": False, "pooling": "avg"}),
    ("ConvNeXtTiny", (32, 32, 3), {"include_top": True, "classes": 3}),
]
# Keras' ConvNeXt starts each LayerScale at 1e-6 (a block is then nearly the identity, and the
# comparison would not see it): the files get random scales, as BatchNormalization's statistics.
RANDOM_RANGES = {"gamma": (0.5, 1.5), "beta": (-0.2, 0.2), "moving_mean": (-0.2, 0.2),
                 "moving_variance": (0.5, 1.5)}


def keras_model_with_file(family, shape, kwargs, path, seed=0):
    """Keras' model with random BatchNormalization weights and statistics, saved to ``path``."""
    keras.backend.clear_session()  # fresh name counters, as scratchnet's builders count
    kmodel = getattr(keras.applications, family)(weights=None, input_shape=shape, **kwargs)
    rng = np.random.default_rng(seed)
    for layer in keras_layers(kmodel):
        if isinstance(layer, keras.layers.BatchNormalization | keras.layers.LayerNormalization):
            for weight in layer.weights:  # (no gamma where scale=False)
                weight.assign(rng.uniform(*RANDOM_RANGES[weight.name], weight.shape).astype("float32"))
        elif type(layer).__name__ == "LayerScale":  # ConvNeXt's
            layer.weights[0].assign(rng.uniform(0.5, 1.5, layer.weights[0].shape).astype("float32"))
    kmodel.save_weights(path)
    return kmodel


def keras_layers(kmodel, operations: bool = False) -> list:
    """Keras' ``model.layers`` (or ``_operations``: the layers and the ops.add / ops.multiply
    nodes), each nested ``Sequential`` (ConvNeXt's stem and downsampling blocks) replaced by its
    layers, as a model scratchnet loads from Keras' file lists them."""
    flat = []
    for entry in kmodel._operations if operations else kmodel.layers:
        flat += entry.layers if isinstance(entry, keras.Sequential) else [entry]
    return flat


@pytest.mark.parametrize(("family", "shape", "kwargs"), CASES, ids=[case[0] for case in CASES])
def test_application_matches_keras(family, shape, kwargs, tmp_path):
    path = str(tmp_path / f"{family}.weights.h5")
    kmodel = keras_model_with_file(family, shape, kwargs, path)
    model = getattr(sn.applications, family)(weights=path, input_shape=shape, **kwargs)

    assert model.name == kmodel.name
    klayers = kmodel.layers  # (ConvNeXt's nested Sequentials are one entry each in both)
    names = [layer.name for layer in model.layers]
    knames = [layer.name for layer in klayers]
    assert names[1:] == knames[1:]  # (the input layer's name counts inputs across the session)
    assert [type(la).__name__ for la in model.layers] == [type(la).__name__ for la in klayers]
    assert ([tuple(layer.output.shape) for layer in model.layers]
            == [tuple(layer.output.shape) for layer in klayers])
    # the graph's operations too (MobileNetV3's x + 3.0, ConvNeXt's residual adds), which Keras
    # keeps out of model.layers; the summary lists them all, with Keras' total
    kops = kmodel.operations
    assert ([(op.name, type(op).__name__) for op in model.operations[1:]]
            == [(op.name, type(op).__name__) for op in kops[1:]])
    summary = model.summary(print_fn=None)
    assert all(f"{op.name} ({type(op).__name__})" in summary for op in kops[1:])
    assert f"Total params: {kmodel.count_params():,}" in summary
    assert model.count_params() == kmodel.count_params()
    assert len(model.trainable_weights) == len(kmodel.trainable_weights)
    assert [w.shape for w in model.get_weights()] == [tuple(w.shape) for w in kmodel.weights]

    x = np.random.default_rng(1).uniform(-1, 1, (2,) + shape).astype("float32")
    expected = kmodel.predict(x, verbose=0)
    assert np.all(np.isfinite(expected)) and np.std(expected) > 0
    assert_close(model.predict(x, verbose=0), expected, FORWARD_RTOL, family)
    if family == "InceptionV3":  # the course's cut: a model up to "mixed7" gives Keras' features
        kcut = keras.Model(kmodel.input, kmodel.get_layer("mixed7").output)
        cut = sn.Model(model.input, model.get_layer("mixed7").output)
        assert cut.output.shape == kcut.output.shape == (None, 3, 3, 768)
        assert_close(cut.predict(x, verbose=0), kcut.predict(x, verbose=0), FORWARD_RTOL, "mixed7")


@pytest.mark.slow
def test_nasnet_mobile_matches_keras(tmp_path):
    """NASNet-A Mobile (771 layers; Keras alone takes ~15 s to build it)."""
    test_application_matches_keras("NASNetMobile", (32, 32, 3), {"include_top": True, "classes": 3}, tmp_path)


@pytest.fixture
def float64_everywhere():
    """Both libraries in float64 for the training-mode checks: MobileNetV2 stacks 52
    BatchNormalization layers whose batch statistics (4 images) amplify float32 rounding to
    ~1e-3 in the gradients, more than GRAD_RTOL; in float64 the two agree to ~1e-12, so the test
    sees the math, not the rounding."""
    keras.config.set_floatx("float64")
    sn.config.set_floatx("float64")
    try:
        yield
    finally:
        keras.config.set_floatx("float32")


def test_mobilenet_v2_gradients_and_fit_steps_match_keras(tmp_path, float64_everywhere):
    """Every gradient in training mode (batch statistics), then two SGD steps (4 images, then
    the last 2 with their own statistics): losses, every weight and the moving statistics.
    Gradients through depthwise convolutions, ReLU6 and the residual adds."""
    path = str(tmp_path / "mnv2.weights.h5")
    kwargs = {"alpha": 0.35, "include_top": True, "classes": 3}
    kmodel = keras_model_with_file("MobileNetV2", (32, 32, 3), kwargs, path)
    model = sn.applications.MobileNetV2(input_shape=(32, 32, 3), weights=path, **kwargs)
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (6, 32, 32, 3))
    y = rng.integers(0, 3, 6)
    kmodel.compile(optimizer=keras.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy",
                   jit_compile=False)
    model.compile(optimizer=sn.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy")

    loss, grads = model.loss_and_grads(x[:4], y[:4])
    kloss, kgrads = tfnet.loss_and_grads(kmodel, x[:4], y[:4])
    assert_close(loss, kloss, FORWARD_RTOL, "loss")
    scale = max(float(np.max(np.abs(g))) for g in kgrads if g is not None)
    checked = 0
    for weight, grad, kgrad in zip(model.weights, grads, kgrads, strict=True):
        if kgrad is None:  # moving statistics
            continue
        kgrad = np.asarray(kgrad)
        if np.max(np.abs(kgrad)) < 1e-12 * scale:
            # a BatchNormalization beta whose every path leads into another training-mode
            # BatchNormalization: its gradient is zero in exact arithmetic, rounding noise here
            assert np.max(np.abs(grad)) < 1e-10 * scale, weight.name
            continue
        assert_close(grad, kgrad, GRAD_RTOL, weight.name)
        checked += 1
    assert checked > 100

    khistory = kmodel.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    history = model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    assert_close(history.history["loss"], khistory.history["loss"], GRAD_RTOL, "loss")
    for weight, kweight in zip(model.weights, kmodel.weights, strict=True):
        assert_close(np.asarray(weight), kweight.numpy(), GRAD_RTOL, weight.name)


def test_keras_files_travel_both_ways(tmp_path):
    """A whole model Keras saved (config and weights) loads in scratchnet and predicts the same,
    and the file scratchnet then writes loads in Keras."""
    path = str(tmp_path / "mobilenet.keras")
    kmodel = keras_model_with_file("MobileNet", (32, 32, 3), {"alpha": 0.25, "classes": 3},
                                   str(tmp_path / "unused.weights.h5"))
    kmodel.save(path)
    model = sn.load_model(path)
    assert [layer.name for layer in model.layers] == [layer.name for layer in kmodel.layers]
    x = np.random.default_rng(4).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    assert_close(model.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL, "loaded")
    model.save(str(tmp_path / "again.keras"))
    again = keras.saving.load_model(str(tmp_path / "again.keras"))
    assert [layer.name for layer in again.layers] == [layer.name for layer in kmodel.layers]
    assert_close(again.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL, "written")


def test_custom_scale_layer_files_travel_both_ways(tmp_path):
    """InceptionResNetV2's CustomScaleLayer lives in Keras' applications module, not in
    keras.layers: scratchnet writes that module into its files, so Keras finds the class, and
    reads Keras' files given ``custom_objects``, as Keras' own loader needs for unregistered layers."""
    from keras.src.applications.inception_resnet_v2 import CustomScaleLayer as KerasCustomScaleLayer

    from scratchnet.applications.inception_resnet_v2 import CustomScaleLayer

    inputs = keras.Input((4, 4, 2))
    kmodel = keras.Model(inputs, KerasCustomScaleLayer(0.17)([inputs, keras.layers.Conv2D(2, 1)(inputs)]))
    kmodel.save(str(tmp_path / "keras.keras"))
    model = sn.load_model(str(tmp_path / "keras.keras"),
                          custom_objects={"CustomScaleLayer": CustomScaleLayer})
    x = np.random.default_rng(5).normal(size=(2, 4, 4, 2)).astype("float32")
    assert_close(model.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL, "keras file")
    model.save(str(tmp_path / "scratchnet.keras"))
    again = keras.saving.load_model(str(tmp_path / "scratchnet.keras"))
    assert type(again.layers[-1]) is KerasCustomScaleLayer and again.layers[-1].scale == 0.17
    assert_close(again.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL, "scratchnet file")


def test_course_program_with_a_legacy_notop_weights_file(tmp_path):
    """The Coursera transfer-learning program as written, the import swapped: the pretrained file
    it loads (inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5) is a legacy Keras-2 HDF5
    weights file; here Keras writes one with its own legacy writer from a Keras InceptionV3 with
    random weights and BatchNormalization statistics. scratchnet's model cut at mixed7 then gives
    Keras' features, and the frozen base stays as it was through a fit of the new head."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    keras.utils.set_random_seed(3)
    kbase = keras.applications.InceptionV3(input_shape=(75, 75, 3), include_top=False, weights=None)
    rng = np.random.default_rng(4)
    kbase.set_weights([(rng.random(w.shape) + 0.5).astype(np.float32) if "variance" in w.path
                       else (w.numpy() + rng.normal(0, 0.05, w.shape)).astype(np.float32)
                       for w in kbase.weights])
    local_weights_file = str(tmp_path / "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5")
    with h5py.File(local_weights_file, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, kbase)

    from scratchnet.applications.inception_v3 import InceptionV3  # the course's import, swapped
    layers = sn.layers
    pre_trained_model = InceptionV3(input_shape=(75, 75, 3), include_top=False, weights=None)
    pre_trained_model.load_weights(local_weights_file)
    for layer in pre_trained_model.layers:
        layer.trainable = False
    last_layer = pre_trained_model.get_layer("mixed7")
    last_output = last_layer.output
    images = rng.uniform(0, 255, (2, 75, 75, 3)).astype("float32")
    x_in = sn.applications.inception_v3.preprocess_input(images.copy())
    features = sn.Model(pre_trained_model.input, last_output).predict(x_in, verbose=0)
    kfeatures = keras.Model(kbase.input, kbase.get_layer("mixed7").output).predict(
        keras.applications.inception_v3.preprocess_input(images.copy()), verbose=0)
    assert_close(features, kfeatures, FORWARD_RTOL, "mixed7 features from the legacy .h5 file")

    x = layers.Flatten()(last_output)
    x = layers.Dense(8, activation="relu")(x)
    x = layers.Dropout(0.2)(x)
    x = layers.Dense(1, activation="sigmoid")(x)
    model = sn.Model(pre_trained_model.input, x)
    model.compile(optimizer=sn.optimizers.RMSprop(learning_rate=0.0001), loss="binary_crossentropy",
                  metrics=["accuracy"])
    frozen = [w.copy() for w in pre_trained_model.get_weights()]
    history = model.fit(x_in, np.array([0.0, 1.0], np.float32), epochs=2, batch_size=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    for before, after in zip(frozen, pre_trained_model.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)


def test_convnext_small_matches_keras(tmp_path):
    """ConvNeXtSmall (27 blocks in its third stage; Keras compiles each grouped convolution with XLA
    on the CPU: ~11 s on an idle machine). The larger variants differ only in widths:
    tests/test_applications.py holds their sizes."""
    test_application_matches_keras("ConvNeXtSmall", (32, 32, 3), {"include_top": False, "pooling": "max"},
                                   tmp_path)


def _mini_convnext(library, **kwargs):
    """The ConvNeXt frame of both libraries, one block a stage and narrow: every kind of layer
    and operation of the family, small enough for float64 gradients."""
    module = keras.src.applications.convnext if library is keras else sn.applications.convnext
    return module.ConvNeXt(depths=[1, 1, 2, 1], projection_dims=[8, 16, 16, 24], name="convnext_mini",
                           input_shape=(32, 32, 3), weights=None, **kwargs)


def test_convnext_stochastic_depth_frame_matches_keras():
    """``ConvNeXt(drop_path_rate=0.3)``: the blocks after the first get StochasticDepth layers
    (rates 0.075, 0.15, 0.225, 0.3, named as Keras names them); in inference they pass through, so the
    predictions agree. (In training the draws are each library's own: see the unit tests.)"""
    keras.backend.clear_session()
    kmodel = _mini_convnext(keras, drop_path_rate=0.3, classes=3)
    model = _mini_convnext(sn, drop_path_rate=0.3, classes=3)
    assert ([(la.name, type(la).__name__) for la in model.layers[1:]]
            == [(la.name, type(la).__name__) for la in kmodel.layers[1:]])
    rates = [la.drop_path_rate for la in model.layers if type(la).__name__ == "StochasticDepth"]
    assert rates == [la.drop_path_rate for la in keras_layers(kmodel)
                     if type(la).__name__ == "StochasticDepth"]
    np.testing.assert_allclose(rates, np.linspace(0.0, 0.3, 5)[1:])
    model.set_weights([w.numpy() for w in kmodel.weights])
    x = np.random.default_rng(6).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    assert_close(model.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL, "stochastic depth")


def _summary_rows(text: str, keras_table: bool) -> list[tuple[str, str, str]]:
    """``(layer (class), output shape, param #)`` of each row of a summary's table."""
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in (line.split("│")[1:-1] if keras_table else line.split("  "))]
        cells = [c for c in cells if c]
        if len(cells) >= 3 and cells[0].endswith(")") and cells[1].startswith("(") and \
                cells[2].replace(",", "").isdigit():
            rows.append(tuple(cells[:3]))
    return rows


def test_convnext_layers_and_summary_rows_are_keras(monkeypatch):
    """ConvNeXtTiny's ``model.layers`` are Keras' (its stem and three downsampling Sequentials
    one entry each: names, classes, order, count), and so are the summary's rows (name and
    class, output shape, parameters), the operations' rows included."""
    keras.backend.clear_session()
    kwargs = {"weights": None, "input_shape": (32, 32, 3), "include_top": True, "classes": 3}
    kmodel = keras.applications.ConvNeXtTiny(**kwargs)
    model = sn.applications.ConvNeXtTiny(**kwargs)
    assert len(model.layers) == len(kmodel.layers) == 135
    assert ([(la.name, type(la).__name__) for la in model.layers[1:]]
            == [(la.name, type(la).__name__) for la in kmodel.layers[1:]])
    stem, kstem = model.get_layer("convnext_tiny_stem"), kmodel.get_layer("convnext_tiny_stem")
    assert [la.name for la in stem.layers] == [la.name for la in kstem.layers]
    lines = []
    monkeypatch.setenv("COLUMNS", "300")  # (rich cuts Keras' table at the terminal's width)
    kmodel.summary(line_length=300, print_fn=lambda line, **kw: lines.append(line))
    krows = _summary_rows("\n".join(lines), keras_table=True)
    rows = _summary_rows(model.summary(print_fn=None), keras_table=False)
    assert len(krows) == len(kmodel.operations) and rows[1:] == krows[1:]
    assert ("convnext_tiny_stem (Sequential)", "(None, 8, 8, 96)", "4,896") in rows


def test_convnext_gradients_and_fit_steps_match_keras(float64_everywhere):
    """Every gradient of a small ConvNeXt (grouped 7x7 convolutions, LayerNormalization, Dense on
    every pixel, exact GELU, LayerScale, the residual add operations, the head's
    LayerNormalization), then two Adam steps: losses and every weight."""
    keras.backend.clear_session()
    kmodel = _mini_convnext(keras, classes=3)
    model = _mini_convnext(sn, classes=3)
    rng = np.random.default_rng(7)
    weights = [rng.uniform(0.5, 1.5, w.shape) if "variable" in w.path or "gamma" in w.path
               else w.numpy() + rng.normal(0, 0.05, w.shape) for w in kmodel.weights]
    kmodel.set_weights(weights)
    model.set_weights(weights)
    x = rng.uniform(0, 255, (4, 32, 32, 3))
    y = rng.integers(0, 3, 4)
    kmodel.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                   jit_compile=False)
    model.compile(optimizer=sn.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    loss, grads = model.loss_and_grads(x, y)
    kloss, kgrads = tfnet.loss_and_grads(kmodel, x, y)
    assert_close(loss, kloss, FORWARD_RTOL, "loss")
    for weight, grad, kgrad in zip(model.weights, grads, kgrads, strict=True):
        assert_close(grad, np.asarray(kgrad), GRAD_RTOL, weight.name)
    khistory = kmodel.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0)
    history = model.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0)
    assert_close(history.history["loss"], khistory.history["loss"], GRAD_RTOL, "loss")
    for weight, kweight in zip(model.weights, kmodel.weights, strict=True):
        assert_close(np.asarray(weight), kweight.numpy(), GRAD_RTOL, weight.name)


def test_mobilenet_v3_gradients_and_fit_steps_match_keras(tmp_path, float64_everywhere):
    """MobileNetV3Small in training mode (batch statistics): every gradient, through hard swish,
    the squeeze-and-excitation's hard sigmoid operations and the 1x1 convolution head, then two
    SGD steps: losses, weights and moving statistics.

    With the Rescaling layer: in float64 both libraries multiply by its scale 1/127.5 rounded to
    float32 first (TensorFlow converts the Python float to a float32 tensor before casting it;
    scratchnet's ``keras_constant``). A 6e-8 difference there, through batch statistics of two
    images on 1x1 maps, would move the second step's weights by 1e-4."""
    path = str(tmp_path / "mnv3.weights.h5")
    kwargs = {"alpha": 0.75, "include_top": True, "classes": 3, "dropout_rate": 0.0}
    kmodel = keras_model_with_file("MobileNetV3Small", (32, 32, 3), kwargs, path)
    model = sn.applications.MobileNetV3Small(input_shape=(32, 32, 3), weights=path, **kwargs)
    rng = np.random.default_rng(8)
    x = rng.uniform(0, 255, (6, 32, 32, 3))
    y = rng.integers(0, 3, 6)
    kmodel.compile(optimizer=keras.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy",
                   jit_compile=False)
    model.compile(optimizer=sn.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy")
    loss, grads = model.loss_and_grads(x[:4], y[:4])
    kloss, kgrads = tfnet.loss_and_grads(kmodel, x[:4], y[:4])
    assert_close(loss, kloss, FORWARD_RTOL, "loss")
    scale = max(float(np.max(np.abs(g))) for g in kgrads if g is not None)
    checked = 0
    for weight, grad, kgrad in zip(model.weights, grads, kgrads, strict=True):
        if kgrad is None:  # moving statistics
            continue
        kgrad = np.asarray(kgrad)
        if np.max(np.abs(kgrad)) < 1e-12 * scale:  # a beta feeding only training-mode BN: zero
            assert np.max(np.abs(grad)) < 1e-10 * scale, weight.name
            continue
        assert_close(grad, kgrad, GRAD_RTOL, weight.name)
        checked += 1
    assert checked > 80
    khistory = kmodel.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    history = model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    assert_close(history.history["loss"], khistory.history["loss"], GRAD_RTOL, "loss")
    for weight, kweight in zip(model.weights, kmodel.weights, strict=True):
        assert_close(np.asarray(weight), kweight.numpy(), GRAD_RTOL, weight.name)


@pytest.mark.parametrize(("family", "kwargs", "custom"), [
    ("MobileNetV3Small", {"alpha": 0.75, "classes": 3}, False),
    ("ConvNeXtTiny", {"include_top": False, "pooling": "avg"}, True),
], ids=["MobileNetV3Small", "ConvNeXtTiny"])
def test_new_families_keras_files_travel_both_ways(family, kwargs, custom, tmp_path):
    """A .keras file Keras wrote (MobileNetV3's operations as ``keras.src.ops.numpy`` entries,
    ConvNeXt's nested Sequentials and LayerScale) loads in scratchnet with the same predictions;
    the file scratchnet writes loads in Keras and predicts the same."""
    from scratchnet.applications.convnext import LayerScale

    kmodel = keras_model_with_file(family, (32, 32, 3), kwargs, str(tmp_path / "unused.weights.h5"))
    path = str(tmp_path / "keras.keras")
    kmodel.save(path)
    model = sn.load_model(path, custom_objects={"LayerScale": LayerScale} if custom else None)
    assert ([(op.name, type(op).__name__) for op in model.operations[1:]]
            == [(op.name, type(op).__name__) for op in keras_layers(kmodel, operations=True)[1:]])
    x = np.random.default_rng(9).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    expected = kmodel.predict(x, verbose=0)
    assert_close(model.predict(x, verbose=0), expected, FORWARD_RTOL, "Keras' file in scratchnet")
    model.save(str(tmp_path / "scratchnet.keras"))
    again = keras.saving.load_model(str(tmp_path / "scratchnet.keras"))
    assert_close(again.predict(x, verbose=0), expected, FORWARD_RTOL, "scratchnet's file in Keras")


def test_convnext_built_here_saves_files_keras_reads(tmp_path):
    """A ConvNeXt scratchnet builds (its Sequentials one layer each) writes a ``.keras`` file that
    Keras loads with the same layers and predictions, and a ``.weights.h5`` file that Keras'
    own builder's model loads; scratchnet reads the ``.keras`` file back. (The small frame of
    ``_mini_convnext``: the same stem, downsampling Sequentials and blocks as ConvNeXtTiny.)"""
    from scratchnet.applications.convnext import LayerScale

    sn.utils.set_random_seed(3)
    model = _mini_convnext(sn, include_top=False, pooling="avg")
    rng = np.random.default_rng(11)
    # LayerScale starts at 1e-6 (each block nearly the identity): scales of about 1 instead
    model.set_weights([rng.uniform(0.5, 1.5, p.value.shape).astype("float32") if "layer_scale" in p.name
                       else p.value + rng.normal(0, 0.05, p.value.shape).astype("float32")
                       for p in model.weights])
    x = np.random.default_rng(12).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    expected = model.predict(x, verbose=0)
    model.save(str(tmp_path / "convnext.keras"))
    kmodel = keras.saving.load_model(str(tmp_path / "convnext.keras"))
    assert [(la.name, type(la).__name__) for la in kmodel.layers[1:]] == \
        [(la.name, type(la).__name__) for la in model.layers[1:]]
    assert_close(kmodel.predict(x, verbose=0), expected, FORWARD_RTOL, "scratchnet's .keras in Keras")
    again = sn.load_model(str(tmp_path / "convnext.keras"), custom_objects={"LayerScale": LayerScale})
    np.testing.assert_array_equal(again.predict(x, verbose=0), expected)
    model.save_weights(str(tmp_path / "convnext.weights.h5"))
    keras.backend.clear_session()
    kmodel = _mini_convnext(keras, include_top=False, pooling="avg")
    kmodel.load_weights(str(tmp_path / "convnext.weights.h5"))
    assert_close(kmodel.predict(x, verbose=0), expected, FORWARD_RTOL, "scratchnet's weights in Keras")


@pytest.mark.parametrize("family", ["MobileNetV3Small", "ConvNeXtTiny"])
def test_new_families_load_legacy_h5_weights(family, tmp_path):
    """The published files are legacy Keras-2 HDF5 weights files (weights_mobilenet_v3_small_224_
    1.0_float.h5, convnext_tiny_notop.h5): Keras' legacy writer makes one from a model with random
    weights, and scratchnet's model given it with ``weights=path`` predicts as Keras'. (ConvNeXt's
    stem and downsampling Sequentials are one group each in such a file.)"""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    kmodel = keras_model_with_file(family, (32, 32, 3), {"include_top": False},
                                   str(tmp_path / "unused.weights.h5"))
    path = str(tmp_path / f"{family}_notop.h5")
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, kmodel)
    model = getattr(sn.applications, family)(input_shape=(32, 32, 3), include_top=False, weights=path)
    x = np.random.default_rng(10).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    assert_close(model.predict(x, verbose=0), kmodel.predict(x, verbose=0), FORWARD_RTOL, "legacy .h5")
