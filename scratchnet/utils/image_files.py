"""One image file at a time, as the tutorials predict on a single photo::

    img = sn.utils.load_img("rose.jpg", target_size=(180, 180))   # a PIL image
    x = sn.utils.img_to_array(img)[None]                           # float32 (1, 180, 180, 3)
    model.predict(x)

Keras' ``keras.utils.load_img`` and ``img_to_array`` (``keras/src/utils/image_utils.py``), with the
same library underneath (Pillow), so the pixels are Keras' to the bit: the file is opened, converted
to ``color_mode`` (``"rgb"``, ``"rgba"``, or ``"grayscale"``, which keeps 16- and 32-bit gray),
then, if ``target_size=(height, width)`` differs from its size, resized by Pillow with
``interpolation`` (Keras' default ``"nearest"``). ``keep_aspect_ratio=True`` first takes the
largest centred box of the target's aspect ratio, as Keras does.
"""

from __future__ import annotations

import io
import numbers
import pathlib

import numpy as np

from scratchnet import config

COLOR_MODES = {"grayscale": ("L", "I;16", "I"), "rgb": ("RGB",), "rgba": ("RGBA",)}
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "hamming", "box", "lanczos")


def load_img(path, color_mode: str = "rgb", target_size=None, interpolation: str = "nearest",
             keep_aspect_ratio: bool = False):
    """Open the image file ``path`` (a path or ``io.BytesIO``) as a PIL image (see the module)."""
    from PIL import Image

    if color_mode not in COLOR_MODES:
        raise ValueError(f"load_img: expected color_mode to be one of {sorted(COLOR_MODES)}, "
                         f"received {color_mode!r}")
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"load_img: expected interpolation to be one of {INTERPOLATIONS}, "
                         f"received {interpolation!r}")
    if target_size is not None and (
            not isinstance(target_size, tuple | list) or len(target_size) != 2
            or not all(isinstance(d, numbers.Integral) and not isinstance(d, bool) and d > 0
                       for d in target_size)):
        raise ValueError(f"load_img: expected target_size to be (height, width) in pixels, "
                         f"received {target_size!r}")
    if isinstance(path, io.BytesIO):
        data = path
    elif isinstance(path, str | bytes | pathlib.Path):
        with open(path, "rb") as f:  # a missing file raises FileNotFoundError naming it
            data = io.BytesIO(f.read())
    else:
        raise TypeError(f"load_img: expected path to be a path or io.BytesIO, received "
                        f"{type(path).__name__}")
    try:
        img = Image.open(data)
        img.load()
    except (OSError, SyntaxError, ValueError) as err:
        raise ValueError(f"load_img: could not read the image file {str(path)!r} "
                         f"({type(err).__name__}: {err})") from err
    modes = COLOR_MODES[color_mode]
    if img.mode not in modes:
        img = img.convert(modes[0])
    if target_size is None:
        return img
    size = (int(target_size[1]), int(target_size[0]))  # Pillow's (width, height)
    if img.size == size:
        return img
    resample = getattr(Image.Resampling, interpolation.upper())
    if not keep_aspect_ratio:
        return img.resize(size, resample)
    width, height = img.size
    crop_height = min(height, (width * size[1]) // size[0])
    crop_width = min(width, (height * size[0]) // size[1])
    top, left = (height - crop_height) // 2, (width - crop_width) // 2
    return img.resize(size, resample, box=(left, top, left + crop_width, top + crop_height))


def img_to_array(img, data_format=None, dtype=None) -> np.ndarray:
    """A PIL image (or array) as ``(height, width, channels)`` of ``dtype`` (default floatx);
    a gray image gets its channel axis."""
    if data_format not in (None, "channels_last"):
        raise ValueError(f"img_to_array: expected data_format 'channels_last' (or None), received "
                         f"{data_format!r}; scratchnet keeps images channels-last")
    x = np.asarray(img, dtype=config.floatx() if dtype is None else dtype)
    if x.ndim == 2:
        return x.reshape(x.shape[0], x.shape[1], 1)
    if x.ndim != 3:
        raise ValueError(f"img_to_array: expected an image of 2 or 3 axes, received shape {x.shape}")
    return x
