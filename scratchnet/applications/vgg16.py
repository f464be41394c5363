"""VGG16 (Simonyan and Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
Recognition", 2014), layer for layer as ``keras.applications.vgg16`` builds it.

Five blocks of 3x3 "same" convolutions with ReLU (2, 2, 3, 3, 3 of them; 64, 128, 256, 512, 512
filters), each closed by a 2x2 max pool; the top is Flatten and two Dense(4096) layers. VGG19
(``vgg19.py``) is the same with 2, 2, 4, 4, 4 convolutions.
"""

from __future__ import annotations

from scratchnet.applications import _builder, imagenet_utils


def VGG16(include_top: bool = True, weights="imagenet", input_tensor=None, input_shape=None,  # noqa: N802
          pooling=None, classes: int = 1000, classifier_activation="softmax", name: str = "vgg16"):
    """VGG16 as a functional model; inputs of at least 32x32 (default 224x224) scaled by
    :func:`preprocess_input` (BGR, mean pixel subtracted). 138M parameters with the top."""
    return build_vgg((2, 2, 3, 3, 3), "VGG16", include_top, weights, input_tensor, input_shape, pooling,
                     classes, classifier_activation, name)


def build_vgg(convs_per_block, model_name, include_top, weights, input_tensor, input_shape, pooling,
              classes, classifier_activation, name):
    """The VGG family: ``convs_per_block[i]`` convolutions in block ``i + 1``."""
    _builder.check_weights(weights, include_top, classes)
    input_shape = imagenet_utils.obtain_input_shape(input_shape, default_size=224, min_size=32,
                                                    data_format="channels_last",
                                                    require_flatten=include_top, weights=weights)
    if include_top:
        imagenet_utils.validate_activation(classifier_activation, weights)
    _builder.refuse_imagenet(weights, model_name)
    layers = _builder.AutoNamedLayers()
    img_input = _builder.image_input(input_tensor, input_shape)
    x = img_input
    blocks = zip(convs_per_block, (64, 128, 256, 512, 512), strict=True)
    for block, (convs, filters) in enumerate(blocks, start=1):
        for i in range(1, convs + 1):
            x = layers.Conv2D(filters, (3, 3), activation="relu", padding="same",
                              name=f"block{block}_conv{i}")(x)
        x = layers.MaxPooling2D((2, 2), strides=(2, 2), name=f"block{block}_pool")(x)
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(4096, activation="relu", name="fc1")(x)
        x = layers.Dense(4096, activation="relu", name="fc2")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = _builder.pooled(layers, x, pooling)
    return _builder.finish(img_input, input_tensor, x, name, weights)


def preprocess_input(x, data_format=None):
    """RGB -> BGR, then the ImageNet mean pixel subtracted, no scaling (mode "caffe")."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


def decode_predictions(preds, top: int = 5):
    """The top ImageNet classes of each prediction (see ``imagenet_utils.decode_predictions``)."""
    return imagenet_utils.decode_predictions(preds, top=top)
