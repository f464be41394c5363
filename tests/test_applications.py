"""``sn.applications`` without Keras: the architectures' sizes, argument errors, weights files,
``preprocess_input``'s arithmetic, ``decode_predictions`` offline, and the course's transfer
learning program end to end. (parity_tests/test_applications_keras.py compares with Keras.)"""

import json

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.applications import imagenet_utils
from scratchnet.applications.inception_resnet_v2 import CustomScaleLayer
from tests.gradcheck import numeric_grad, rel_error

# Keras 3.15.1's numbers for include_top=False and input_shape=None: (len(model.layers),
# model.count_params(), len(model.trainable_weights)), read once from keras.applications.
KERAS_SIZES = {
    "InceptionV3": (311, 21802784, 188),
    "InceptionResNetV2": (780, 54336736, 488),
    "MobileNetV2": (154, 2257984, 156),
    "VGG16": (19, 14714688, 26),
    "VGG19": (22, 20024384, 32),
    "ResNet50": (175, 23587712, 212),
    "ResNet101": (345, 42658176, 416),
    "ResNet152": (515, 58370944, 620),
    "ResNet50V2": (190, 23564800, 172),
    "ResNet101V2": (377, 42626560, 342),
    "ResNet152V2": (564, 58331648, 512),
    "MobileNet": (86, 3228864, 81),
    "DenseNet121": (427, 7037504, 362),
    "DenseNet169": (595, 12642880, 506),
    "DenseNet201": (707, 18321984, 602),
    "Xception": (132, 20861480, 154),
    "EfficientNetB0": (237, 4049571, 211),
    "EfficientNetB1": (339, 6575239, 299),
    "EfficientNetB2": (339, 7768569, 299),
    "EfficientNetB3": (384, 10783535, 338),
    "EfficientNetB4": (474, 17673823, 416),
    "EfficientNetB5": (576, 28513527, 504),
    "EfficientNetB6": (666, 40960143, 582),
    "EfficientNetB7": (813, 64097687, 709),
    "EfficientNetV2B0": (270, 5919312, 241),
    "EfficientNetV2B1": (334, 6931124, 295),
    "EfficientNetV2B2": (349, 8769374, 308),
    "EfficientNetV2B3": (409, 12930622, 360),
    "EfficientNetV2S": (513, 20331360, 450),
    "EfficientNetV2M": (740, 53150388, 647),
    "EfficientNetV2L": (1028, 117746848, 895),
    "NASNetMobile": (769, 4269716, 740),  # (Keras gives it a 224x224 input without the top)
    "NASNetLarge": (1012, 84887922, 1009),
    "MobileNetV3Small": (157, 939120, 138),
    "MobileNetV3Large": (187, 2996352, 170),
    # (ConvNeXt's stem and three downsampling Sequentials are one layer each, as in Keras)
    "ConvNeXtTiny": (133, 27820128, 180),
    "ConvNeXtSmall": (259, 49454688, 342),
    "ConvNeXtBase": (259, 87566464, 342),
    "ConvNeXtLarge": (259, 196230336, 342),
    "ConvNeXtXLarge": (259, 348147968, 342),
}


@pytest.mark.parametrize("family", sorted(KERAS_SIZES))
def test_layer_and_parameter_counts_are_keras(family):
    model = getattr(sn.applications, family)(weights=None, include_top=False)
    assert (len(model.layers), model.count_params(), len(model.trainable_weights)) == KERAS_SIZES[family]
    if family == "NASNetMobile":
        assert model.input.shape == (None, 224, 224, 3) and model.output.shape == (None, 7, 7, 1056)
    else:
        assert model.output.shape[1:3] == (None, None)  # any image size without the top


def test_the_classifier_tops_and_default_names_are_keras():
    # Keras 3.15.1: InceptionV3() has 313 layers, 23,851,784 parameters; MobileNetV2() 156 and
    # 3,538,984 and is named after alpha and rows; MobileNet(alpha=0.5) at 160x160 91 and 1,342,536
    model = sn.applications.InceptionV3(weights=None)
    assert (len(model.layers), model.count_params(), model.name) == (313, 23851784, "inception_v3")
    assert model.input.shape == (None, 299, 299, 3) and model.output.shape == (None, 1000)
    assert [layer.name for layer in model.layers[-3:]] == ["mixed10", "avg_pool", "predictions"]
    assert [layer.name for layer in model.layers[1:4]] == ["conv2d", "batch_normalization", "activation"]
    model = sn.applications.mobilenet_v2.MobileNetV2(weights=None)
    assert (len(model.layers), model.count_params(), model.name) == (156, 3538984, "mobilenetv2_1.00_224")
    model = sn.applications.mobilenet.MobileNet(weights=None, alpha=0.5, input_shape=(160, 160, 3))
    assert (len(model.layers), model.count_params(), model.name) == (91, 1342536, "mobilenet_0.50_160")
    model = sn.applications.efficientnet.EfficientNetB0(weights=None)  # Keras: 240, 5,330,571
    assert (len(model.layers), model.count_params(), model.name) == (240, 5330571, "efficientnetb0")
    assert model.layers[-2].name == "top_dropout" and model.input.shape == (None, 224, 224, 3)
    x = np.arange(6.0).reshape(1, 1, 2, 3)
    assert sn.applications.efficientnet.preprocess_input(x) is x  # a pass-through, as Keras'


def test_module_layout_is_keras():
    apps = sn.applications
    assert apps.InceptionV3 is apps.inception_v3.InceptionV3
    assert apps.resnet50.ResNet50 is apps.resnet.ResNet50 is apps.ResNet50
    assert apps.resnet_v2.ResNet152V2 is apps.ResNet152V2
    assert apps.densenet.DenseNet169 is apps.DenseNet169
    for module, mode in [(apps.inception_v3, "tf"), (apps.mobilenet_v2, "tf"), (apps.mobilenet, "tf"),
                         (apps.xception, "tf"), (apps.resnet_v2, "tf"), (apps.vgg16, "caffe"),
                         (apps.vgg19, "caffe"), (apps.resnet, "caffe"), (apps.resnet50, "caffe"),
                         (apps.densenet, "torch")]:
        x = np.array([[[[0.0, 127.5, 255.0]]]])
        np.testing.assert_array_equal(module.preprocess_input(x.copy()),
                                      imagenet_utils.preprocess_input(x.copy(), mode=mode))
        assert module.decode_predictions.__module__ == module.__name__ or module in (apps.resnet50,
                                                                                     apps.vgg19)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"weights": "no/such/file.h5"}, r"The `weights` argument should be either `None`.*Received: "
                                     r"weights=no/such/file.h5"),
    ({"weights": "imagenet", "classes": 10}, r"`classes` should be 1000. Received classes=10"),
    ({"input_shape": (74, 75, 3), "include_top": False}, r"Input size must be at least 75x75; Received: "
                                                         r"input_shape=\(74, 75, 3\)"),
    ({"input_shape": (75, 75), "include_top": False}, "`input_shape` must be a tuple of three integers"),
    ({"input_shape": (80, 80, 1), "weights": "imagenet", "include_top": False},
     r"The input must have 3 channels; Received `input_shape=\(80, 80, 1\)`"),
    ({"input_shape": (150, 150, 3), "weights": "imagenet"},
     r"`input_shape` should be \(299, 299, 3\).  Received: input_shape=\(150, 150, 3\)"),
    ({"input_shape": (None, None, 3), "weights": None},
     "If `include_top` is True, you should specify a static `input_shape`"),
    ({"weights": "imagenet", "include_top": False},
     r'InceptionV3: weights="imagenet" asks for a download, and scratchnet never downloads. Build the '
     r"model with `weights=None` and then call `model.load_weights\(path\)`"),
    ({"weights": None, "input_tensor": np.zeros((1, 75, 75, 3)), "include_top": False},
     "input_tensor: expected a symbolic tensor"),
])
def test_inception_v3_argument_errors_are_keras(kwargs, message):
    with pytest.raises(ValueError, match=message):
        sn.applications.InceptionV3(**kwargs)


def test_family_specific_argument_errors(tmp_path):
    apps = sn.applications
    with pytest.raises(ValueError, match=r"alpha must be one of `0.35`.*Received `alpha=0.6`"):
        apps.MobileNetV2(alpha=0.6, include_top=False)
    with pytest.raises(ValueError, match="depth multiplier must be 1.  Received depth_multiplier=2"):
        apps.MobileNet(depth_multiplier=2, include_top=False)
    with pytest.raises(ValueError, match=r"Input size must be at least 71x71"):
        apps.Xception(weights=None, input_shape=(70, 70, 3), include_top=False)
    with pytest.raises(ValueError, match=r"Input size must be at least 32x32"):
        apps.ResNet50(weights=None, input_shape=(31, 32, 3), include_top=False)
    with pytest.raises(ValueError, match='MobileNet: expected dropout to be a rate in'):
        apps.MobileNet(weights=None, dropout=1.5, input_shape=(32, 32, 3))
    with pytest.raises(ValueError, match=r"input_tensor.shape\[2\] must equal input_shape\[1\]"):
        apps.MobileNetV2(weights=None, input_tensor=sn.Input((64, 64, 3)), input_shape=(32, 32, 3))
    path = tmp_path / "w.weights.h5"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="Only `None` and `softmax` activations are allowed"):
        apps.VGG16(weights=str(path), classifier_activation="relu", input_shape=(32, 32, 3))
    with pytest.warns(UserWarning, match="usually expects 1 or 3 input channels"):
        apps.VGG16(weights=None, include_top=False, input_shape=(32, 32, 4))


def test_weights_path_and_input_tensor(tmp_path):
    sn.utils.set_random_seed(0)
    model = sn.applications.MobileNetV2(alpha=0.35, input_shape=(32, 32, 3), classes=4, weights=None)
    path = str(tmp_path / "mnv2.weights.h5")
    model.save_weights(path)
    inputs = sn.Input((32, 32, 3), name="pixels")
    scaled = sn.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    again = sn.applications.MobileNetV2(alpha=0.35, input_tensor=scaled, classes=4, weights=path)
    assert again.inputs[0] is inputs and again.layers[0].name == "pixels"
    assert again.name == "mobilenetv2_0.35_224"  # Keras names it after the default size here
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x / 127.5 - 1, verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_preprocess_input_modes_by_hand():
    x = np.array([[[10.0, 127.5, 255.0]]], dtype=np.float32)  # one RGB pixel, (1, 1, 3)
    np.testing.assert_array_equal(imagenet_utils.preprocess_input(x.copy(), mode="tf"),
                                  np.float32([[[10 / 127.5 - 1, 0.0, 1.0]]]))
    caffe = imagenet_utils.preprocess_input(x.copy(), mode="caffe")  # BGR, mean pixel subtracted
    f32 = np.float32
    np.testing.assert_array_equal(caffe, [[[f32(255) - f32(103.939), f32(127.5) - f32(116.779),
                                            f32(10) - f32(123.68)]]])
    torch = imagenet_utils.preprocess_input(x.copy(), mode="torch")
    expected = (np.float32([10, 127.5, 255]) / np.float32(255) - np.float32([0.485, 0.456, 0.406])) \
        / np.float32([0.229, 0.224, 0.225])
    np.testing.assert_allclose(torch[0, 0], expected, rtol=1e-7)
    first = imagenet_utils.preprocess_input(x.transpose(2, 0, 1).copy(), data_format="channels_first",
                                            mode="caffe")
    np.testing.assert_array_equal(first.transpose(1, 2, 0), caffe)


def test_preprocess_input_writes_over_float_arrays_as_keras():
    x = np.full((2, 4, 4, 3), 255.0, dtype=np.float32)
    out = sn.applications.inception_v3.preprocess_input(x)
    assert out is x and np.all(x == 1.0)  # Keras' NumPy path works in place
    ints = np.full((1, 2, 2, 3), 255, dtype=np.uint8)
    out = sn.applications.resnet50.preprocess_input(ints)
    assert out.dtype == np.float32 and ints[0, 0, 0, 0] == 255  # integers: a new float32 array
    np.testing.assert_array_equal(out[0, 0, 0], np.float32(255) - np.float32([103.939, 116.779, 123.68]))
    wide = np.full((1, 1, 1, 3), 255.0)  # float64 stays float64
    assert sn.applications.densenet.preprocess_input(wide).dtype == np.float64
    with pytest.raises(ValueError, match="Expected mode to be one of `caffe`, `tf` or `torch`. Received: "
                                         "mode=keras"):
        imagenet_utils.preprocess_input(x, mode="keras")
    with pytest.raises(ValueError, match="Expected data_format to be one of `channels_first` or "
                                         "`channels_last`. Received: data_format=nhwc"):
        imagenet_utils.preprocess_input(x, data_format="nhwc")


def test_decode_predictions_offline(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=r"expects a batch of predictions \(i.e. a 2D array of shape "
                                         r"\(samples, 1000\)\). Received array with shape: \(2, 10\)"):
        sn.applications.vgg16.decode_predictions(np.zeros((2, 10)))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(imagenet_utils, "CLASS_INDEX", None)
    preds = np.zeros((2, 1000), dtype=np.float32)
    preds[0, [3, 7]] = [0.9, 0.1]
    preds[1, 999] = 1.0
    with pytest.raises(FileNotFoundError, match="scratchnet never does"):
        sn.applications.inception_v3.decode_predictions(preds)
    (tmp_path / "models").mkdir()
    index = {str(i): [f"n{i:08d}", f"class_{i}"] for i in range(1000)}
    (tmp_path / "models" / "imagenet_class_index.json").write_text(json.dumps(index))
    top = sn.applications.inception_v3.decode_predictions(preds, top=2)
    assert [entry[:2] for entry in top[0]] == [("n00000003", "class_3"), ("n00000007", "class_7")]
    assert top[0][0][2] == np.float32(0.9) and top[1][0][:2] == ("n00000999", "class_999")


def test_summary_lists_the_mixed_blocks():
    model = sn.applications.InceptionV3(weights=None, include_top=False, input_shape=(75, 75, 3))
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "mixed7 (Concatenate)" in text and "(None, 3, 3, 768)" in text
    assert "Total params: 21,802,784" in text


def test_transfer_learning_program_of_the_course(tmp_path):
    """The Coursera program: a weights file the learner has, a frozen base cut at mixed7, a new
    head; one epoch trains the head and leaves the base as it was."""
    sn.utils.set_random_seed(0)
    local_weights_file = str(tmp_path / "inception_v3_notop.weights.h5")
    sn.applications.InceptionV3(input_shape=(75, 75, 3), include_top=False, weights=None).save_weights(
        local_weights_file)

    from scratchnet.applications.inception_v3 import InceptionV3
    layers = sn.layers
    pre_trained_model = InceptionV3(input_shape=(75, 75, 3), include_top=False, weights=None)
    pre_trained_model.load_weights(local_weights_file)
    for layer in pre_trained_model.layers:
        layer.trainable = False
    last_output = pre_trained_model.get_layer("mixed7").output
    x = layers.Flatten()(last_output)
    x = layers.Dense(16, activation="relu")(x)
    x = layers.Dropout(0.2)(x)
    x = layers.Dense(1, activation="sigmoid")(x)
    model = sn.Model(pre_trained_model.input, x)
    model.compile(optimizer=sn.optimizers.RMSprop(learning_rate=0.0001), loss="binary_crossentropy",
                  metrics=["accuracy"])
    assert model.count_params() - sum(int(np.prod(w.shape)) for w in model.trainable_weights) > 8_000_000

    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (4, 75, 75, 3)).astype("float32")
    labels = np.array([0, 1, 0, 1], dtype="float32")
    frozen = [w.copy() for w in pre_trained_model.get_weights()]
    head = [np.asarray(w).copy() for w in model.trainable_weights]
    history = model.fit(sn.applications.inception_v3.preprocess_input(images), labels, epochs=1,
                        batch_size=2, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    for before, after in zip(frozen, pre_trained_model.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)  # moving statistics too: frozen BN is inference
    assert all(not np.array_equal(before, np.asarray(w)) for before, w in zip(head, model.trainable_weights,
                                                                              strict=True))


def test_keras_file_round_trip(tmp_path):
    sn.utils.set_random_seed(0)
    model = sn.applications.MobileNet(alpha=0.25, input_shape=(32, 32, 3), classes=3, weights=None)
    path = str(tmp_path / "mobilenet.keras")
    model.save(path)
    loaded = sn.load_model(path)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    x = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_custom_scale_layer_forward_gradients_and_config(float64, rng):
    """InceptionResNetV2's residual step ``x + scale * up``: values, finite differences, config."""
    layer = CustomScaleLayer(0.17)
    x, up = rng.normal(size=(2, 3, 3, 4)), rng.normal(size=(2, 3, 3, 4))
    np.testing.assert_allclose(layer([x, up]), x + 0.17 * up, rtol=1e-15)
    w = rng.normal(size=(2, 3, 3, 4))

    def loss():
        return float(np.sum(w * layer.forward([x, up])))

    loss()
    dx, dup = layer.backward(w)
    assert rel_error(dx, numeric_grad(loss, x)) < 1e-6
    assert rel_error(dup, numeric_grad(loss, up)) < 1e-6
    assert layer.get_config() == {"name": "custom_scale_layer", **_layer_entries(), "scale": 0.17}
    assert CustomScaleLayer(**layer.get_config()).scale == 0.17
    with pytest.raises(ValueError, match='CustomScaleLayer "s": expected scale to be a number, received '
                                         "'big'"):
        CustomScaleLayer("big", name="s")
    with pytest.raises(ValueError, match="expected exactly 2 inputs"):
        CustomScaleLayer(0.1)([x, up, x])


def test_dropout_noise_shape_drops_whole_images(rng):
    """EfficientNet's stochastic depth: ``Dropout(rate, noise_shape=(None, 1, 1, 1))`` keeps or
    drops each image whole, scaling the kept ones by 1/(1 - rate); backward uses the same mask."""
    layer = sn.layers.Dropout(0.5, noise_shape=(None, 1, 1, 1), seed=3)
    x = rng.normal(size=(64, 2, 3, 4)).astype("float32")
    layer.ensure_built(x.shape[1:])
    y = layer.forward(x, training=True)
    kept = np.all(y == x * np.float32(2.0), axis=(1, 2, 3))
    dropped = np.all(y == 0, axis=(1, 2, 3))
    assert np.all(kept | dropped) and 10 < kept.sum() < 54
    dy = np.ones_like(x)
    np.testing.assert_array_equal(layer.backward(dy), dy * np.where(kept[:, None, None, None], 2.0, 0.0))
    np.testing.assert_array_equal(layer.forward(x, training=False), x)
    config = layer.get_config()
    assert list(config["noise_shape"]) == [None, 1, 1, 1]
    assert sn.layers.Dropout(0.1).get_config()["noise_shape"] is None  # (Keras writes it, None)
    assert sn.layers.Dropout(**config).get_config() == config
    with pytest.raises(ValueError, match="expected noise_shape to be None or a tuple of positive ints"):
        sn.layers.Dropout(0.1, noise_shape=(None, 0))
    with pytest.raises(ValueError, match=r"noise_shape \(None, 1\) must have one entry per axis"):
        sn.layers.Dropout(0.1, noise_shape=(None, 1)).ensure_built((2, 3, 4))


def test_efficientnet_v2_preprocessing_follows_the_model_name():
    """Keras picks EfficientNetV2's preprocessing by the model's name: "...-b*" models rescale to
    [0, 1] and normalise, the others map pixels to [-1, 1) with x / 128 - 1. (Keras also looks
    the block table up by name, so a renamed model fails there with a KeyError; scratchnet looks
    it up by variant.)"""
    apps = sn.applications.efficientnet_v2
    b0 = apps.EfficientNetV2B0(weights=None, include_top=False, input_shape=(32, 32, 3))
    assert [type(layer).__name__ for layer in b0.layers[1:3]] == ["Rescaling", "Normalization"]
    small = apps.EfficientNetV2S(weights=None, include_top=False, input_shape=(32, 32, 3))
    assert type(small.layers[1]).__name__ == "Rescaling" and small.layers[1].offset == -1
    renamed = apps.EfficientNetV2B0(weights=None, include_top=False, input_shape=(32, 32, 3), name="mine")
    assert type(renamed.layers[2]).__name__ != "Normalization" and renamed.count_params() == b0.count_params()
    x = np.arange(6.0)
    assert apps.preprocess_input(x) is x


@pytest.mark.parametrize("family", sorted(KERAS_SIZES))
def test_imagenet_weights_are_refused_before_building(family):
    """Keras' default ``weights="imagenet"`` would download; every builder says so at once."""
    with pytest.raises(ValueError, match=r'weights="imagenet" asks for a download, and scratchnet never '
                                         r"downloads.*`weights=None`.*`model.load_weights\(path\)`"):
        getattr(sn.applications, family)(include_top=False)


def test_mobilenet_v3_and_convnext_tops_names_and_modules():
    # Keras 3.15.1: MobileNetV3Small() 164 layers, 2,554,968 parameters, any image size (the head
    # pools before its 1x1 convolutions); MobileNetV3Large() 194 and 5,507,432; ConvNeXtTiny()
    # 135 entries (139 layers here) and 28,589,128 at 224x224
    apps = sn.applications
    model = apps.mobilenet_v3.MobileNetV3Small(weights=None)
    assert (len(model.layers), model.count_params(), model.name) == (164, 2554968, "MobileNetV3Small")
    assert model.input.shape == (None, None, None, 3) and model.output.shape == (None, 1000)
    assert [layer.name for layer in model.layers[-6:]] == ["conv_2", "activation_18", "dropout", "logits",
                                                           "flatten", "predictions"]
    ops = [op for op in model.operations if op not in model.layers]  # the hard sigmoids' x + 3, x * 1/6
    assert [type(op).__name__ for op in ops] == ["Add", "Multiply"] * 9
    model = apps.MobileNetV3Large(weights=None)
    assert (len(model.layers), model.count_params(), model.name) == (194, 5507432, "MobileNetV3Large")
    model = apps.convnext.ConvNeXtTiny(weights=None)
    assert (len(model.layers), model.count_params(), model.name) == (135, 28589128, "convnext_tiny")
    assert model.input.shape == (None, 224, 224, 3) and model.output.shape == (None, 1000)
    assert [la.name for la in model.layers if type(la).__name__ == "Sequential"] == [
        "convnext_tiny_stem", "convnext_tiny_downsampling_block_0", "convnext_tiny_downsampling_block_1",
        "convnext_tiny_downsampling_block_2"]
    assert [la.name for la in model.get_layer("convnext_tiny_downsampling_block_0").layers] == [
        "convnext_tiny_downsampling_layernorm_0", "convnext_tiny_downsampling_conv_0"]
    ops = [op for op in model.operations if op not in model.layers]
    assert [op.name for op in ops] == ["add"] + [f"add_{i}" for i in range(1, 18)]  # one residual a block
    assert apps.ConvNeXtXLarge is apps.convnext.ConvNeXtXLarge and apps.MobileNetV3Small is \
        apps.mobilenet_v3.MobileNetV3Small
    x = np.arange(6.0)
    for module in (apps.mobilenet_v3, apps.convnext):  # pass-throughs, as Keras': inside the model
        assert module.preprocess_input(x) is x
        assert module.decode_predictions.__module__ == module.__name__


def test_mobilenet_v3_and_convnext_argument_errors(tmp_path):
    apps = sn.applications
    with pytest.raises(ValueError, match=r"at least 32x32; Received `input_shape=\(31, 64, 3\)`"):
        apps.MobileNetV3Small(weights=None, input_shape=(31, 64, 3))
    with pytest.raises(ValueError, match="alpha can be one of `0.75`, `1.0` for non minimalistic"):
        apps.MobileNetV3Large(alpha=0.5)
    with pytest.raises(ValueError, match="alpha can be one of .* or `1.0` for minimalistic only"):
        apps.MobileNetV3Large(alpha=0.75, minimalistic=True)
    with pytest.raises(ValueError, match=r"input_shape\[1\] must equal input_tensor.shape\[2\]"):
        apps.MobileNetV3Small(weights=None, input_tensor=sn.Input((64, 64, 3)), input_shape=(32, 32, 3))
    with pytest.raises(ValueError, match=r"`classes` should be 1000.  Received classes=10"):
        apps.MobileNetV3Small(classes=10)
    with pytest.raises(ValueError, match=r"`classes` should be 1000. Received classes=10"):
        apps.ConvNeXtTiny(classes=10)
    with pytest.raises(ValueError, match=r"Input size must be at least 32x32"):
        apps.ConvNeXtTiny(weights=None, include_top=False, input_shape=(16, 16, 3))
    with pytest.raises(ValueError, match="The `weights` argument should be either `None`"):
        apps.ConvNeXtBase(weights="no/such/file.h5")
    with pytest.raises(ValueError, match='convnext_small: weights="imagenet" asks for a download'):
        apps.ConvNeXtSmall(include_top=False)


def test_mobilenet_v3_variants_and_input_tensor():
    """minimalistic: no squeeze-and-excitation, ReLU everywhere, 3x3 kernels; include_preprocessing
    False: no Rescaling; an input tensor's model keeps the tensor's source input."""
    model = sn.applications.MobileNetV3Small(weights=None, minimalistic=True, include_top=False,
                                             include_preprocessing=False, input_shape=(32, 32, 3))
    kinds = {type(layer).__name__ for layer in model.layers}
    assert "Rescaling" not in kinds and "Activation" not in kinds and "Multiply" not in kinds
    depthwise = [layer for layer in model.layers if type(layer).__name__ == "DepthwiseConv2D"]
    assert {layer.kernel_size for layer in depthwise} == {(3, 3)}
    inputs = sn.Input((48, 48, 3), name="pixels")
    model = sn.applications.MobileNetV3Large(weights=None, input_tensor=inputs, include_top=False,
                                             pooling="max")
    assert model.inputs[0] is inputs and model.output.shape == (None, 960)
    assert model.layers[-1].name == "max_pool"


def test_convnext_weights_file_round_trip_and_frozen_summary(tmp_path):
    """scratchnet's own weights file for ConvNeXt (its Sequentials nested, as Keras writes them)
    loads back; the summary lists the Sequentials as one row each and the residual add
    operations, with the totals."""
    sn.utils.set_random_seed(0)
    kwargs = {"include_top": False, "pooling": "avg", "input_shape": (32, 32, 3)}
    model = sn.applications.ConvNeXtTiny(weights=None, **kwargs)
    path = str(tmp_path / "convnext.weights.h5")
    model.save_weights(path)
    again = sn.applications.ConvNeXtTiny(weights=path, **kwargs)
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
    text = model.summary(print_fn=None)
    assert "convnext_tiny_stage_0_block_0_layer_scale (LayerScale)" in text and "add_17 (Add)" in text
    assert "convnext_tiny_stem (Sequential)" in text and "convnext_tiny_stem_conv" not in text
    assert "Total params: 27,820,128" in text


def test_layer_scale_forward_gradients_and_config(float64, rng):
    """ConvNeXt's LayerScale ``y = x * gamma``: values, finite differences, config, errors."""
    from scratchnet.applications.convnext import LayerScale

    layer = LayerScale(1e-6, 4)
    x = rng.normal(size=(2, 3, 3, 4))
    layer.ensure_built(x.shape[1:], rng)
    np.testing.assert_array_equal(layer.gamma.value, np.full(4, 1e-6))
    layer.gamma.value = rng.normal(size=4)
    np.testing.assert_allclose(layer(x), x * layer.gamma.value, rtol=1e-15)
    w = rng.normal(size=x.shape)

    def loss():
        return float(np.sum(w * layer.forward(x)))

    loss()
    dx = layer.backward(w)
    assert rel_error(dx, numeric_grad(loss, x)) < 1e-6
    analytic = layer.gamma.grad.copy()
    assert rel_error(analytic, numeric_grad(loss, layer.gamma.value)) < 1e-6
    assert layer.get_config() == {"name": "layer_scale", **_layer_entries(), "init_values": 1e-6,
                                  "projection_dim": 4}
    assert LayerScale(**layer.get_config()).projection_dim == 4
    with pytest.raises(ValueError, match='LayerScale "s": expected projection_dim to be a positive int'):
        LayerScale(1e-6, 0, name="s")
    with pytest.raises(ValueError, match='LayerScale "s": expected init_values to be a number'):
        LayerScale("small", 4, name="s")
    with pytest.raises(ValueError, match=r"expected inputs with projection_dim=4 channels"):
        LayerScale(1e-6, 4, name="s").ensure_built((3, 3, 5))


def test_stochastic_depth_drops_whole_images(rng):
    """ConvNeXt's StochasticDepth: in training each image's branch is kept (scaled by 1/p) or
    dropped whole, p = 1 - rate; backward uses the same mask; inference passes through."""
    from scratchnet.applications.convnext import StochasticDepth

    layer = StochasticDepth(0.25)
    x = rng.normal(size=(400, 2, 3, 4)).astype("float32")
    layer.ensure_built(x.shape[1:], rng)
    y = layer.forward(x, training=True)
    kept = np.all(np.isclose(y, x / np.float32(0.75), rtol=1e-6), axis=(1, 2, 3))
    dropped = np.all(y == 0, axis=(1, 2, 3))
    assert np.all(kept | dropped) and 0.65 < kept.mean() < 0.85
    dy = np.ones_like(x)
    np.testing.assert_allclose(layer.backward(dy), np.where(kept[:, None, None, None], 1 / 0.75, 0.0) * dy,
                               rtol=1e-6)
    np.testing.assert_array_equal(layer.forward(x, training=False), x)
    assert layer.get_config() == {"name": "stochastic_depth", **_layer_entries(), "drop_path_rate": 0.25}
    with pytest.raises(ValueError, match=r'StochasticDepth "s": expected drop_path_rate to be a float in '
                                         r"\[0, 1\), received 1.5"):
        StochasticDepth(1.5, name="s")


def _layer_entries() -> dict:
    """What Keras' Layer.get_config adds to a layer's own entries: trainable and the serialized
    dtype policy (floatx, which some of these tests set to float64)."""
    return {"trainable": True, "dtype": {"module": "keras", "class_name": "DTypePolicy",
                                         "config": {"name": sn.config.floatx()}, "registered_name": None}}
