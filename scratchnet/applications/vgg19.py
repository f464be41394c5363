"""VGG19, layer for layer as ``keras.applications.vgg19`` builds it: VGG16 (``vgg16.py``) with
four convolutions instead of three in blocks 3, 4 and 5."""

from __future__ import annotations

from scratchnet.applications.vgg16 import build_vgg, decode_predictions, preprocess_input


def VGG19(include_top: bool = True, weights="imagenet", input_tensor=None, input_shape=None,  # noqa: N802
          pooling=None, classes: int = 1000, classifier_activation="softmax", name: str = "vgg19"):
    """VGG19 as a functional model; inputs of at least 32x32 (default 224x224) scaled by
    :func:`preprocess_input` (BGR, mean pixel subtracted). 144M parameters with the top."""
    return build_vgg((2, 2, 4, 4, 4), "VGG19", include_top, weights, input_tensor, input_shape, pooling,
                     classes, classifier_activation, name)


__all__ = ["VGG19", "preprocess_input", "decode_predictions"]
