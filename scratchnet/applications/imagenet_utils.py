"""What every model of ``sn.applications`` shares, as ``keras.applications.imagenet_utils`` has it.

- :func:`preprocess_input`: the three ways the published ImageNet weights expect pixels in
  ``[0, 255]`` to be scaled (``mode``): ``"caffe"`` (RGB -> BGR, minus the ImageNet mean pixel),
  ``"tf"`` (``x / 127.5 - 1``, into ``[-1, 1]``) and ``"torch"`` (``x / 255``, minus the mean,
  over the standard deviation, per channel). The arithmetic is Keras' step for step, in place
  on a float array as Keras' NumPy path does it, so the numbers agree to the last bit.
- :func:`decode_predictions`: the ImageNet class names of the top scores. Keras downloads the
  class index once into ``~/.keras/models/``; scratchnet never downloads, and reads that file
  only if it is already there.
- :func:`obtain_input_shape`: Keras' rules for ``input_shape`` (minimum size, three channels with
  ImageNet weights, a fixed size when the classifier top is kept).
- :func:`correct_pad`: the zero padding before a stride-2 convolution that puts the odd row on
  the top/left, as TensorFlow-trained weights expect.
"""

from __future__ import annotations

import json
import warnings

import numpy as np

from scratchnet import activations, backend, config

CLASS_INDEX = None
CLASS_INDEX_PATH = "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json"

# The ImageNet mean pixel (in BGR order, for "caffe") and the per-channel mean and standard
# deviation of pixels scaled to [0, 1] (in RGB order, for "torch").
CAFFE_MEAN = (103.939, 116.779, 123.68)
TORCH_MEAN = (0.485, 0.456, 0.406)
TORCH_STD = (0.229, 0.224, 0.225)


def preprocess_input(x, data_format: str | None = None, mode: str = "caffe"):
    """Scale a batch of images with values in ``[0, 255]`` as the ImageNet weights expect.

    ``x`` is ``(H, W, 3)`` or ``(N, H, W, 3)`` (channels first with ``data_format=
    "channels_first"``). An integer array is first cast to ``floatx`` (float32); a float array is
    changed IN PLACE (Keras' behaviour: pass ``np.copy(x)`` to keep the original).

    - ``"tf"``: ``x / 127.5 - 1`` (into ``[-1, 1]``).
    - ``"torch"``: ``(x / 255 - mean_c) / std_c`` per RGB channel ``c``.
    - ``"caffe"``: channels reversed (RGB -> BGR), then ``x_c - mean_c`` with the BGR mean pixel.
    """
    if mode not in {"caffe", "tf", "torch"}:
        raise ValueError(f"Expected mode to be one of `caffe`, `tf` or `torch`. Received: mode={mode}")
    if data_format is None:
        data_format = backend.image_data_format()
    elif data_format not in {"channels_first", "channels_last"}:
        raise ValueError("Expected data_format to be one of `channels_first` or `channels_last`. "
                         f"Received: data_format={data_format}")
    if not isinstance(x, np.ndarray):
        x = np.array(x)  # a list or a scalar: a new array (nothing of the caller's to write over)
    if not issubclass(x.dtype.type, np.floating):
        x = x.astype(config.floatx(), copy=False)
    if mode == "tf":
        x /= 127.5
        x -= 1.0
        return x
    if mode == "torch":
        x /= 255.0
        mean, std = TORCH_MEAN, TORCH_STD
    else:
        # RGB -> BGR: a reversed view, so the subtraction below still writes into x
        if data_format == "channels_first":
            x = x[::-1, ...] if x.ndim == 3 else x[:, ::-1, ...]
        else:
            x = x[..., ::-1]
        mean, std = CAFFE_MEAN, None
    for c in range(3):  # one channel at a time, as Keras subtracts (and divides)
        channel = _channel(x, c, data_format)
        channel -= mean[c]
        if std is not None:
            channel /= std[c]
    return x


def _channel(x: np.ndarray, c: int, data_format: str) -> np.ndarray:
    """A view of channel ``c`` of ``x`` (writing into it writes into ``x``)."""
    if data_format == "channels_last":
        return x[..., c]
    return x[c] if x.ndim == 3 else x[:, c]


def decode_predictions(preds, top: int = 5) -> list:
    """The ``top`` ImageNet classes of each row of ``preds`` ``(samples, 1000)``, as lists of
    ``(class_name, class_description, score)`` tuples, best first.

    Keras downloads ``imagenet_class_index.json`` into ``~/.keras/models/`` on first use.
    scratchnet never downloads: it reads that file where Keras keeps it (``KERAS_HOME``) and
    raises ``FileNotFoundError`` saying where to put it when it is missing.
    """
    global CLASS_INDEX

    shape = np.shape(preds)
    if len(shape) != 2 or shape[1] != 1000:
        raise ValueError("`decode_predictions` expects a batch of predictions (i.e. a 2D array of shape "
                         f"(samples, 1000)). Received array with shape: {tuple(shape)}")
    if CLASS_INDEX is None:
        from scratchnet.utils import get_file

        try:
            path = get_file("imagenet_class_index.json", CLASS_INDEX_PATH, cache_subdir="models")
        except FileNotFoundError as error:
            raise FileNotFoundError(
                "decode_predictions needs the ImageNet class index, which Keras downloads and "
                f"scratchnet never does. Put the file from {CLASS_INDEX_PATH} where Keras caches it. "
                f"({error})") from None
        with open(path) as f:
            CLASS_INDEX = json.load(f)
    results = []
    for pred in np.asarray(preds):
        top_indices = pred.argsort()[-top:][::-1]
        result = [tuple(CLASS_INDEX[str(i)]) + (pred[i],) for i in top_indices]
        result.sort(key=lambda entry: entry[2], reverse=True)
        results.append(result)
    return results


def obtain_input_shape(input_shape, default_size: int, min_size: int, data_format: str,
                       require_flatten: bool, weights=None):
    """The model's sample shape from the user's ``input_shape``, by Keras' rules.

    ``None`` gives ``(default_size, default_size, 3)`` when the classifier top is kept
    (``require_flatten``: its Dense layer needs a fixed size) and ``(None, None, 3)`` otherwise.
    A given shape must have three entries, each side at least ``min_size``, and three channels
    when ImageNet weights are asked for. Other channel counts only warn, as in Keras.
    """
    channels_first = data_format == "channels_first"
    if weights != "imagenet" and input_shape and len(input_shape) == 3:
        channels = input_shape[0] if channels_first else input_shape[-1]
        if channels not in {1, 3}:
            warnings.warn("This model usually expects 1 or 3 input channels. However, it was passed an "
                          f"input_shape with {channels} input channels.", stacklevel=3)
        default_shape = ((channels, default_size, default_size) if channels_first
                         else (default_size, default_size, channels))
    else:
        default_shape = (3, default_size, default_size) if channels_first else (default_size, default_size, 3)
    if weights == "imagenet" and require_flatten:
        if input_shape is not None and input_shape != default_shape:
            raise ValueError("When setting `include_top=True` and loading `imagenet` weights, `input_shape` "
                             f"should be {default_shape}.  Received: input_shape={input_shape}")
        return default_shape
    if input_shape:
        if len(input_shape) != 3:
            raise ValueError("`input_shape` must be a tuple of three integers.")
        channels = input_shape[0] if channels_first else input_shape[-1]
        rows, cols = input_shape[1:] if channels_first else input_shape[:2]
        if channels != 3 and weights == "imagenet":
            raise ValueError(f"The input must have 3 channels; Received `input_shape={input_shape}`")
        if (rows is not None and rows < min_size) or (cols is not None and cols < min_size):
            raise ValueError(f"Input size must be at least {min_size}x{min_size}; Received: "
                             f"input_shape={input_shape}")
    elif require_flatten:
        input_shape = default_shape
    else:
        input_shape = (3, None, None) if channels_first else (None, None, 3)
    if require_flatten and None in input_shape:
        raise ValueError("If `include_top` is True, you should specify a static `input_shape`. "
                         f"Received: input_shape={input_shape}")
    return input_shape


def correct_pad(inputs, kernel_size) -> tuple:
    """``((top, bottom), (left, right))`` zero padding before a stride-2 ``kernel_size``
    convolution with ``padding="valid"``: ``k // 2`` on each side, one less on the top (left)
    when the height (width) is even. The result equals TensorFlow's ``"same"`` padding, which puts
    the odd cell at the bottom/right, mirrored: the published weights were trained this way."""
    size = inputs.shape[1:3]
    if isinstance(kernel_size, int):
        kernel_size = (kernel_size, kernel_size)
    adjust = (1, 1) if size[0] is None else (1 - size[0] % 2, 1 - size[1] % 2)
    correct = (kernel_size[0] // 2, kernel_size[1] // 2)
    return ((correct[0] - adjust[0], correct[0]), (correct[1] - adjust[1], correct[1]))


def validate_activation(classifier_activation, weights) -> None:
    """With pretrained weights the classifier's activation must be ``None`` or ``"softmax"``."""
    if weights is None:
        return
    activation = activations.get(classifier_activation, where="classifier_activation")
    if activation.name not in {"softmax", "linear"}:
        raise ValueError("Only `None` and `softmax` activations are allowed for the `classifier_activation` "
                         "argument when using pretrained weights, with `include_top=True`; Received: "
                         f"classifier_activation={classifier_activation}")
