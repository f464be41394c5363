"""tfnet.export_saved_model / export_tflite: the SavedModel and the TFLite model (run with
ai-edge-litert's Interpreter) predict what the scratchnet model predicts; Keras models too."""

import numpy as np
import pytest

import scratchnet as sn

tf = pytest.importorskip("tensorflow")
pytest.importorskip("ai_edge_litert")
import keras  # noqa: E402

import tfnet  # noqa: E402
from tfnet.export import as_keras, saved_model_predict, tflite_predict  # noqa: E402

# float32 forward through another implementation: PARITY.md's ~1e-5 relative; atol for values
# near 0 (softmax probabilities of ~1e-3 carry ~1e-10 absolute rounding).
RTOL, ATOL = 1e-5, 1e-6


def scratch_cnn():
    return sn.Sequential([
        sn.layers.Input((8, 8, 1)),
        sn.layers.Conv2D(4, 3, padding="same", activation="relu"),
        sn.layers.MaxPooling2D(),
        sn.layers.Conv2D(6, 3, strides=2, activation="tanh"),
        sn.layers.Flatten(),
        sn.layers.Dropout(0.5),
        sn.layers.Dense(8, activation="relu"),
        sn.layers.Dense(5),
        sn.layers.Softmax(),
    ], seed=0)


@pytest.fixture(scope="module")
def model_and_data():
    x = np.random.default_rng(0).random((7, 8, 8, 1)).astype(np.float32)
    return scratch_cnn(), x


@pytest.fixture(scope="module")
def exported(model_and_data, tmp_path_factory):
    model, _ = model_and_data
    root = tmp_path_factory.mktemp("export")
    saved = tfnet.export_saved_model(model, root / "saved" / "1")
    tflite = tfnet.export_tflite(model, root / "model.tflite")
    return saved, tflite


def test_saved_model_predicts_like_scratchnet(model_and_data, exported):
    model, x = model_and_data
    saved, _ = exported
    np.testing.assert_allclose(saved_model_predict(saved, x), model.predict(x), rtol=RTOL, atol=ATOL)
    loaded = tf.saved_model.load(saved)  # the standard signature TF Serving uses is there too
    out = loaded.signatures["serving_default"](tf.constant(x))
    np.testing.assert_allclose(next(iter(out.values())).numpy(), model.predict(x), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("batch", [1, 7])
def test_tflite_predicts_like_scratchnet(model_and_data, exported, batch):
    model, x = model_and_data
    _, path = exported
    np.testing.assert_allclose(tflite_predict(path, x[:batch]), model.predict(x[:batch]),
                               rtol=RTOL, atol=ATOL)


def test_keras_model_exports_too(tmp_path):
    rng = np.random.default_rng(1)
    kmodel = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, activation="relu"),
                               keras.layers.Dense(3, activation="softmax")])
    x = rng.normal(size=(5, 6)).astype(np.float32)
    expected = kmodel.predict(x, verbose=0)
    assert as_keras(kmodel) is kmodel
    saved = tfnet.export_saved_model(kmodel, tmp_path / "saved")
    np.testing.assert_allclose(saved_model_predict(saved, x), expected, rtol=RTOL, atol=ATOL)
    path = tfnet.export_tflite(kmodel, tmp_path / "sub" / "k.tflite")
    np.testing.assert_allclose(tflite_predict(path, x), expected, rtol=RTOL, atol=ATOL)


def test_keras_twin_has_the_same_weights(model_and_data):
    model, _ = model_and_data
    kmodel = as_keras(model)
    assert [w.shape for w in kmodel.get_weights()] == [w.shape for w in model.get_weights()]
    for a, b in zip(kmodel.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_unbuilt_and_foreign_models_are_refused():
    with pytest.raises(ValueError, match="not built"):
        tfnet.export_saved_model(sn.Sequential([sn.layers.Dense(2)]), "unused")
    with pytest.raises(TypeError, match="expected a scratchnet.Sequential or Model, or a keras.Model"):
        tfnet.export_tflite(object(), "unused.tflite")


def test_model_export_as_keras_programs_write_it(model_and_data, tmp_path):
    """``model.export(path)`` (Keras' method, the program's own line) writes the SavedModel, and
    ``format="litert"`` the TFLite file, predicting what the scratchnet model predicts."""
    model, x = model_and_data
    model.export(tmp_path / "served", verbose=False)
    np.testing.assert_allclose(saved_model_predict(tmp_path / "served", x), model.predict(x),
                               rtol=RTOL, atol=ATOL)
    model.export(tmp_path / "m.tflite", format="litert", verbose=False)
    np.testing.assert_allclose(tflite_predict(tmp_path / "m.tflite", x[:2]), model.predict(x[:2]),
                               rtol=RTOL, atol=ATOL)
    with pytest.raises(ValueError, match=r"export: unrecognized format='savedmodel'; supported formats "
                                         r"are \['tf_saved_model', 'onnx', 'openvino', 'litert', 'torch'\]"):
        model.export(tmp_path / "x", format="savedmodel")
