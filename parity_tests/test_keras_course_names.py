"""Names the TensorFlow tutorials and the Keras course use, found missing by running their
programs with the import changed, each against Keras 3.15: a weight's values as an array, Keras'
``*_variables`` lists, ``summary``'s return and options, the confusion counts, cross-entropy and
``Accuracy`` metrics, the ``Constant`` initializer, the function forms of the merge layers and of
the losses.

Tolerances: metric values are float32 sums of at most a few dozen terms in another order, held to
FORWARD_RTOL (driver.py), and logs after training steps to GRAD_RTOL, as in test_fit.py; counts and
exact comparisons are exact.
"""

import keras
import numpy as np
import pytest

import scratchnet as sn
import tfnet
from parity_tests.driver import FORWARD_RTOL, GRAD_RTOL, assert_close


def bn_model():
    return sn.Sequential([sn.layers.Input((4,)), sn.layers.Dense(3, name="hidden"),
                          sn.layers.BatchNormalization(), sn.layers.Dense(1, activation="sigmoid")],
                         seed=0)


def test_weights_as_arrays_and_the_variable_lists_as_keras():
    model = bn_model()
    model.layers[0].trainable = False
    kmodel = tfnet.to_keras(model)
    kmodel.layers[0].trainable = False
    for name in ("variables", "trainable_variables", "non_trainable_variables"):
        assert len(getattr(model, name)) == len(getattr(kmodel, name)), name
    assert len(model.layers[1].trainable_variables) == len(kmodel.layers[1].trainable_variables) == 2
    assert len(model.layers[1].non_trainable_variables) == 2
    for param, variable in zip(model.weights, kmodel.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(param), np.asarray(variable))
        np.testing.assert_array_equal(param.numpy(), variable.numpy())
        assert param.dtype == variable.numpy().dtype
    kernel = model.layers[2].kernel
    kernel.assign(np.full((3, 1), 0.5))
    kmodel.layers[2].kernel.assign(np.full((3, 1), 0.5))
    np.testing.assert_array_equal(model.get_weights()[-2], kmodel.get_weights()[-2])
    with pytest.raises(ValueError, match=r'assign: weight "dense/kernel" expects shape \(3, 1\), '
                                         r"received shape \(1, 3\)"):
        kernel.assign(np.ones((1, 3)))


def test_summary_returns_none_and_takes_keras_options(capsys):
    model, kmodel = bn_model(), None
    kmodel = tfnet.to_keras(model)
    assert model.summary() is None and kmodel.summary() is None  # a REPL shows no second copy
    printed = capsys.readouterr().out
    assert printed.count("hidden (Dense)") == 2  # once from each
    lines = []
    assert model.summary(print_fn=lines.append, show_trainable=True,
                         layer_range=("hidden", "batch_normalization")) is None
    table = lines[0].splitlines()
    assert table[1].split() == ["Layer", "(type)", "Output", "Shape", "Param", "#", "Trainable"]
    assert [row.split()[0] for row in table[3:5]] == ["hidden", "batch_normalization"]
    assert table[3].split()[-1] == "Y" and "dense (Dense)" not in lines[0]
    assert "Total params: 31" in lines[0]  # the whole model's, as Keras: 15 + 12 + 4
    with pytest.raises(ValueError, match=r"summary: expected layer_range to be two layer names"):
        model.summary(layer_range=("hidden", "nope"))
    assert model.summary(print_fn=None).startswith('Model: "sequential"')  # the text, kept


@pytest.mark.parametrize("name", ["TruePositives", "FalsePositives", "TrueNegatives", "FalseNegatives"])
@pytest.mark.parametrize("thresholds", [None, 0.3, [0.2, 0.5, 0.8]])
def test_confusion_counts_as_keras(name, thresholds):
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, size=(20, 1)).astype(np.float32)
    p = rng.uniform(size=(20, 1)).astype(np.float32)
    w = rng.uniform(0, 2, size=20).astype(np.float32)
    ours, theirs = getattr(sn.metrics, name)(thresholds=thresholds), getattr(keras.metrics, name)(
        thresholds=thresholds)
    for metric in (ours, theirs):
        metric.update_state(y[:12], p[:12], sample_weight=w[:12])
        metric.update_state(y[12:], p[12:])
    assert_close(ours.result(), np.asarray(theirs.result()), FORWARD_RTOL, name)
    assert theirs.name.startswith(ours.name)  # Keras numbers the second one "true_positives_1"


CROSSENTROPY_CASES = [
    ("BinaryCrossentropy", {}, "binary"), ("BinaryCrossentropy", {"from_logits": True}, "binary"),
    ("BinaryCrossentropy", {"label_smoothing": 0.1}, "binary"),
    ("CategoricalCrossentropy", {}, "onehot"), ("CategoricalCrossentropy", {"from_logits": True}, "onehot"),
    ("CategoricalCrossentropy", {"label_smoothing": 0.2}, "onehot"),
    ("SparseCategoricalCrossentropy", {}, "sparse"),
    ("SparseCategoricalCrossentropy", {"from_logits": True}, "sparse"),
]


@pytest.mark.parametrize("name,kwargs,labels", CROSSENTROPY_CASES)
def test_crossentropy_metrics_as_keras(name, kwargs, labels):
    rng = np.random.default_rng(3)
    if labels == "binary":
        y = rng.integers(0, 2, size=(12, 1)).astype(np.float32)
        p = rng.uniform(0.01, 0.99, size=(12, 1)).astype(np.float32)
    else:
        ids = rng.integers(0, 4, size=12)
        y = ids if labels == "sparse" else np.eye(4, dtype=np.float32)[ids]
        p = rng.dirichlet(np.ones(4), size=12).astype(np.float32)
    if kwargs.get("from_logits"):
        p = rng.normal(size=p.shape).astype(np.float32)
    ours, theirs = getattr(sn.metrics, name)(**kwargs), getattr(keras.metrics, name)(**kwargs)
    w = rng.uniform(0, 2, size=12).astype(np.float32)
    for metric in (ours, theirs):
        metric.update_state(y[:5], p[:5])
        metric.update_state(y[5:], p[5:], sample_weight=w[5:])
    assert_close(ours.result(), float(theirs.result()), FORWARD_RTOL, f"{name}{kwargs}")


def test_accuracy_metric_as_keras():
    ours, theirs = sn.metrics.Accuracy(), keras.metrics.Accuracy()
    for metric in (ours, theirs):
        metric.update_state(np.array([[1], [2], [3], [4]]), np.array([[1], [2], [0], [4]]))
        metric.update_state(np.array([0, 1]), np.array([0, 0]))
    assert ours.result() == pytest.approx(float(theirs.result())) == pytest.approx(4 / 6)


def test_compiled_metrics_by_these_names_log_as_keras(digits):
    """The overfit/underfit lesson's ``metrics=[BinaryCrossentropy(from_logits=True, name=...),
    "accuracy"]`` and the imbalanced-data lesson's counts, through ``fit``."""
    x, y = digits[0][:96].reshape(96, -1), (digits[1][:96] % 2).astype(np.float32).reshape(-1, 1)
    model = sn.Sequential([sn.layers.Input((64,)), sn.layers.Dense(8, activation="relu"),
                           sn.layers.Dense(1)], seed=1)
    metrics = [sn.metrics.BinaryCrossentropy(from_logits=True, name="binary_crossentropy"),
               "accuracy", sn.metrics.TruePositives(name="tp"), sn.metrics.FalseNegatives(name="fn")]
    model.compile(optimizer=sn.optimizers.SGD(0.01),
                  loss=sn.losses.BinaryCrossentropy(from_logits=True), metrics=metrics)
    kmodel = tfnet.to_keras(model)
    kmodel.compile(optimizer=keras.optimizers.SGD(0.01),
                   loss=keras.losses.BinaryCrossentropy(from_logits=True),
                   metrics=[keras.metrics.BinaryCrossentropy(from_logits=True, name="binary_crossentropy"),
                            "accuracy", keras.metrics.TruePositives(name="tp"),
                            keras.metrics.FalseNegatives(name="fn")])
    kwargs = dict(epochs=2, batch_size=32, shuffle=False, verbose=0)
    history_s, history_k = model.fit(x, y, **kwargs).history, kmodel.fit(x, y, **kwargs).history
    assert sorted(history_s) == sorted(history_k)
    for key in history_s:
        assert_close(history_s[key], history_k[key], GRAD_RTOL, f"history[{key!r}]")  # as test_fit
    cases = [(3, "sparse_categorical_crossentropy", digits[1][:96] % 3,
              ["sparse_categorical_crossentropy", "accuracy"]),
             (1, "binary_crossentropy", y, ["binary_crossentropy", "true_positives", "false_negatives"])]
    for units, loss, labels, names in cases:
        activation = "softmax" if units > 1 else "sigmoid"
        named = sn.Sequential([sn.layers.Input((64,)), sn.layers.Dense(units, activation=activation)],
                              seed=1)
        named.compile("sgd", loss, metrics=names)
        knamed = tfnet.to_keras(named)
        knamed.compile("sgd", loss, metrics=names)
        logs_s = named.evaluate(x, labels, verbose=0, return_dict=True)
        logs_k = knamed.evaluate(x, labels, verbose=0, return_dict=True)
        assert sorted(logs_s) == sorted(logs_k)
        for key in logs_s:
            assert_close(logs_s[key], logs_k[key], FORWARD_RTOL, f"evaluate[{key!r}]")


@pytest.mark.parametrize("value", [0.25, np.log([30 / 270]), [0.1, -0.2, 0.3]])
def test_constant_initializer_as_keras_and_through_files(tmp_path, value):
    ours = sn.initializers.Constant(value)((3,), np.float32, np.random.default_rng(0))
    theirs = keras.initializers.Constant(value)((3,), dtype="float32")
    np.testing.assert_array_equal(ours, np.asarray(theirs))
    model = sn.Sequential([sn.layers.Input((4,)), sn.layers.Dense(
        3, bias_initializer=sn.initializers.Constant(value))], seed=0)
    kmodel = tfnet.to_keras(model)
    assert type(kmodel.layers[0].bias_initializer).__name__ == "Constant"
    assert tfnet.from_keras(kmodel).layers[0].bias_initializer == model.layers[0].get_config()[
        "bias_initializer"]
    model.save(tmp_path / "s.keras")
    keras.models.load_model(tmp_path / "s.keras")  # Keras reads scratchnet's Constant config
    kfile = keras.Sequential([keras.Input((4,)), keras.layers.Dense(
        3, bias_initializer=keras.initializers.Constant(value))])
    kfile.save(tmp_path / "k.keras")
    loaded = sn.load_model(tmp_path / "k.keras")
    assert loaded.layers[0].get_config()["bias_initializer"] == model.layers[0].get_config()[
        "bias_initializer"]
    with pytest.raises(ValueError, match=r"Constant: a value of shape \(3,\) does not broadcast to "
                                         r"the weight's shape \(2,\)"):
        sn.initializers.Constant([1.0, 2.0, 3.0])((2,), np.float32, None)


def test_merge_functions_as_keras():
    rng = np.random.default_rng(4)
    xa, xb = rng.normal(size=(5, 3)).astype(np.float32), rng.normal(size=(5, 3)).astype(np.float32)
    outputs = {}
    for lib in (sn, keras):
        a, b = lib.Input((3,)), lib.Input((3,))
        model = lib.Model([a, b], [lib.layers.concatenate([a, b]), lib.layers.add([a, b]),
                                   lib.layers.subtract([a, b]), lib.layers.multiply([a, b]),
                                   lib.layers.average([a, b]), lib.layers.dot([a, b], axes=1),
                                   lib.layers.dot([a, b], axes=1, normalize=True)])
        outputs[lib.__name__] = model.predict([xa, xb], verbose=0)
    for ours, theirs in zip(outputs["scratchnet"], outputs["keras"], strict=True):
        assert_close(ours, theirs, FORWARD_RTOL, "merge function output")


@pytest.mark.parametrize("name,kwargs,labels", [
    ("mean_squared_error", {}, "dense"), ("mean_absolute_error", {}, "dense"), ("huber", {}, "dense"),
    ("binary_crossentropy", {"from_logits": True}, "binary"),
    ("categorical_crossentropy", {}, "onehot"),
    ("sparse_categorical_crossentropy", {"from_logits": True}, "sparse"),
])
def test_loss_functions_give_keras_per_sample_losses(name, kwargs, labels):
    rng = np.random.default_rng(5)
    p = rng.dirichlet(np.ones(3), size=6).astype(np.float32)
    if labels == "dense":
        y = rng.normal(size=(6, 3)).astype(np.float32)
    elif labels == "binary":
        y = rng.integers(0, 2, size=(6, 3)).astype(np.float32)
    else:
        ids = rng.integers(0, 3, size=6)
        y = ids if labels == "sparse" else np.eye(3, dtype=np.float32)[ids]
    ours = getattr(sn.losses, name)(y, p, **kwargs)
    theirs = np.asarray(getattr(keras.losses, name)(y, p, **kwargs))
    assert ours.shape == theirs.shape == (6,)
    assert_close(ours, theirs, FORWARD_RTOL, name)
    model = sn.Sequential([sn.layers.Input((2,)), sn.layers.Dense(3)])
    model.compile("sgd", loss=getattr(sn.losses, name))
    assert model.loss.function_name == name


@pytest.fixture
def photos(tmp_path):
    """A colour PNG, a gray PNG, an RGBA PNG and a JPEG of odd sizes, written by Pillow."""
    from PIL import Image

    rng = np.random.default_rng(6)
    files = {}
    for name, mode, shape in (("rgb.png", "RGB", (37, 53, 3)), ("gray.png", "L", (40, 31)),
                              ("rgba.png", "RGBA", (29, 29, 4)), ("photo.jpg", "RGB", (48, 64, 3))):
        path = tmp_path / name
        Image.fromarray(rng.integers(0, 256, size=shape, dtype=np.uint8), mode).save(path)
        files[name] = path
    return files


@pytest.mark.parametrize("kwargs", [
    {}, {"color_mode": "grayscale"}, {"color_mode": "rgba"}, {"target_size": (20, 30)},
    {"target_size": (20, 30), "interpolation": "bilinear"},
    {"target_size": (33, 17), "interpolation": "bicubic", "keep_aspect_ratio": True},
    {"target_size": (16, 16), "interpolation": "lanczos", "color_mode": "grayscale"},
])
def test_load_img_and_img_to_array_give_keras_pixels(photos, kwargs):
    for path in photos.values():
        ours = sn.utils.img_to_array(sn.utils.load_img(path, **kwargs))
        theirs = keras.utils.img_to_array(keras.utils.load_img(path, **kwargs))
        assert ours.dtype == theirs.dtype == np.float32
        np.testing.assert_array_equal(ours, theirs, err_msg=f"{path.name} {kwargs}")


def test_load_img_refuses_bad_arguments_clearly(photos, tmp_path):
    with pytest.raises(ValueError, match=r"load_img: expected color_mode to be one of .*'bgr'"):
        sn.utils.load_img(photos["rgb.png"], color_mode="bgr")
    with pytest.raises(ValueError, match=r"load_img: expected interpolation to be one of"):
        sn.utils.load_img(photos["rgb.png"], target_size=(4, 4), interpolation="area")
    with pytest.raises(ValueError, match=r"load_img: expected target_size to be \(height, width\)"):
        sn.utils.load_img(photos["rgb.png"], target_size=(4,))
    with pytest.raises(FileNotFoundError, match="missing.png"):
        sn.utils.load_img(tmp_path / "missing.png")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    with pytest.raises(ValueError, match=r"load_img: could not read the image file .*broken\.png"):
        sn.utils.load_img(broken)
    sn.utils.clear_session()  # course notebooks call it; nothing to clear here


@pytest.mark.parametrize("kwargs", [
    {}, {"curve": "PR"}, {"num_thresholds": 7}, {"summation_method": "minoring"},
    {"curve": "PR", "summation_method": "majoring"}, {"thresholds": [0.2, 0.5, 0.9]},
    {"from_logits": True},
])
def test_auc_as_keras(kwargs):
    """The imbalanced-data lesson's ``AUC(name="auc")`` and ``AUC(name="prc", curve="PR")``:
    predictions exactly on a threshold (0, 0.5, 1) included; float32 sums of ~200 terms."""
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, size=(300, 1)).astype(np.float32)
    p = np.clip(0.3 * y + 0.7 * rng.uniform(size=(300, 1)), 0, 1).astype(np.float32)
    p[:5], p[5:8], p[8:10] = 0.5, 0.0, 1.0
    if kwargs.get("from_logits"):
        p = p * 6 - 3
    w = rng.uniform(0, 2, size=300).astype(np.float32)
    ours, theirs = sn.metrics.AUC(**kwargs), keras.metrics.AUC(**kwargs)
    for metric in (ours, theirs):
        metric.update_state(y[:100], p[:100])
        metric.update_state(y[100:], p[100:], sample_weight=w[100:])
    assert_close(ours.result(), float(theirs.result()), FORWARD_RTOL, f"AUC{kwargs}")
    assert 0.5 < ours.result() < 1.0  # better than chance, as built


def test_auc_in_compile_and_its_errors(digits):
    x, y = digits[0][:64].reshape(64, -1), (digits[1][:64] % 2).astype(np.float32).reshape(-1, 1)
    model = sn.Sequential([sn.layers.Input((64,)), sn.layers.Dense(1, activation="sigmoid")], seed=2)
    model.compile("sgd", "binary_crossentropy", metrics=["auc", sn.metrics.AUC(name="prc", curve="PR")])
    kmodel = tfnet.to_keras(model)
    kmodel.compile("sgd", "binary_crossentropy",
                   metrics=["auc", keras.metrics.AUC(name="prc", curve="PR")])
    logs_s = model.evaluate(x, y, verbose=0, return_dict=True)
    logs_k = kmodel.evaluate(x, y, verbose=0, return_dict=True)
    assert sorted(logs_s) == sorted(logs_k) == ["auc", "loss", "prc"]
    for key in logs_s:
        assert_close(logs_s[key], logs_k[key], FORWARD_RTOL, f"evaluate[{key!r}]")
    for kwargs, message in (({"curve": "PRGAIN"}, "curve to be 'ROC' or 'PR'"),
                            ({"num_thresholds": 1}, "num_thresholds` must be an integer > 1"),
                            ({"multi_label": True}, "multi_label, num_labels and label_weights"),
                            ({"thresholds": [1.5]}, r"threshold values must be in \[0, 1\]"),
                            ({"summation_method": "mid"}, "summation_method to be")):
        with pytest.raises(ValueError, match=message):
            sn.metrics.AUC(**kwargs)


def test_two_metrics_of_one_name_both_log_as_keras_names_them(digits):
    """``metrics=[BinaryCrossentropy(), "binary_crossentropy"]``: Keras logs the second as
    ``binary_crossentropy_1`` (scratchnet once kept only one of them)."""
    x, y = digits[0][:32].reshape(32, -1), (digits[1][:32] % 2).astype(np.float32).reshape(-1, 1)
    model = sn.Sequential([sn.layers.Input((64,)), sn.layers.Dense(1, activation="sigmoid")], seed=3)
    model.compile("sgd", "binary_crossentropy",
                  metrics=[sn.metrics.BinaryCrossentropy(), "binary_crossentropy"])
    kmodel = tfnet.to_keras(model)
    logs_s = model.evaluate(x, y, verbose=0, return_dict=True)
    logs_k = kmodel.evaluate(x, y, verbose=0, return_dict=True)
    assert sorted(logs_s) == sorted(logs_k) == ["binary_crossentropy", "binary_crossentropy_1", "loss"]
    assert model.metrics_names == ["loss", "binary_crossentropy", "binary_crossentropy_1"]
    for key in logs_s:
        assert_close(logs_s[key], logs_k[key], FORWARD_RTOL, f"evaluate[{key!r}]")
