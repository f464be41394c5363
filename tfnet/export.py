"""Ship a model: a TensorFlow SavedModel (for TF Serving, ``tf.saved_model.load``) or a TFLite
flat buffer (for phones and microcontrollers), from a scratchnet or a Keras model.

A scratchnet model is first turned into its Keras twin with the same weights; Keras then writes
the artifact (``model.export(dir)``: a SavedModel whose endpoint ``serve`` and signature
``serving_default`` take a batch of inputs). TFLite is converted from that SavedModel.

    tfnet.export_saved_model(model, "export/digits/1")    # the layout TF Serving expects
    tfnet.export_tflite(model, "digits.tflite")
    tfnet.tflite_predict("digits.tflite", x)             # runs ai-edge-litert's Interpreter
"""

from __future__ import annotations

import os
import tempfile

import keras
import numpy as np
import tensorflow as tf

from tfnet.convert import to_keras


def as_keras(model) -> keras.Model:
    """``model`` itself if it is a Keras model; the Keras twin of a scratchnet model."""
    if isinstance(model, keras.Model):
        return model
    import scratchnet as sn

    if isinstance(model, sn.Model):  # Sequential, or a functional Model(inputs, outputs)
        if not model.built:
            raise ValueError(f'export: scratchnet model "{model.name}" is not built; give it an '
                             "sn.layers.Input(shape) or call it on data first")
        return to_keras(model)
    raise TypeError(f"export: expected a scratchnet.Sequential or Model, or a keras.Model, received "
                    f"{type(model).__name__}")


def export_saved_model(model, directory) -> str:
    """Write ``model`` (scratchnet or Keras) as a TensorFlow SavedModel in ``directory``.

    The SavedModel has the endpoint ``serve`` and the signature ``serving_default``, both taking
    a float32 batch ``(None, *input_shape)``. Returns the directory.
    """
    directory = os.fspath(directory)
    as_keras(model).export(directory, format="tf_saved_model", verbose=False)
    return directory


def export_tflite(model, path) -> str:
    """Write ``model`` (scratchnet or Keras) as a TFLite flat buffer at ``path``.

    Goes through a SavedModel (``tf.lite.TFLiteConverter.from_saved_model``), with the
    converter's defaults: float32 weights, no quantisation, so predictions equal the model's.
    Returns the path.
    """
    path = os.fspath(path)
    with tempfile.TemporaryDirectory(prefix="tfnet-export-") as tmp:
        saved = export_saved_model(model, os.path.join(tmp, "saved_model"))
        flatbuffer = tf.lite.TFLiteConverter.from_saved_model(saved).convert()
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    with open(path, "wb") as f:
        f.write(flatbuffer)
    return path


def saved_model_predict(directory, x) -> np.ndarray:
    """Outputs of the SavedModel in ``directory`` for the batch ``x`` (endpoint ``serve``)."""
    loaded = tf.saved_model.load(os.fspath(directory))
    return np.asarray(loaded.serve(tf.constant(np.asarray(x, np.float32))))


def tflite_predict(path, x) -> np.ndarray:
    """Outputs of the TFLite model at ``path`` for the batch ``x``, with ai-edge-litert.

    The converted model's input has batch size 1; for another batch size the input is resized
    (``resize_tensor_input``) and the tensors re-allocated (``allocate_tensors``) first.
    """
    from ai_edge_litert.interpreter import Interpreter

    x = np.asarray(x, np.float32)
    interpreter = Interpreter(model_path=os.fspath(path))
    (inp,) = interpreter.get_input_details()
    (out,) = interpreter.get_output_details()
    if tuple(inp["shape"]) != x.shape:
        interpreter.resize_tensor_input(inp["index"], list(x.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(inp["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(out["index"]).copy()
