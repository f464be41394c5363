"""Image preprocessing layers that run in training and at inference: Rescaling, Resizing and
CenterCrop.

All three are part of the model (Keras 3 runs them in ``fit``, ``evaluate`` and ``predict`` alike), and
all are differentiable in Keras: a gradient flows back through them to any layer before them.
"""

from __future__ import annotations

import numbers

import numpy as np

from scratchnet.layers._args import channels_last, check_rank, positive_int
from scratchnet.layers.augmentation_data import ImageDataParts, call_on_dict, check_bounding_box_format
from scratchnet.layers.base import Layer

# Keras 3.15's interpolation names (keras/src/backend/tensorflow/image.py), and the ones
# scratchnet implements.
KERAS_INTERPOLATIONS = ("bilinear", "nearest", "lanczos3", "lanczos5", "bicubic", "area")
INTERPOLATIONS = ("bilinear", "nearest")


class Rescaling(Layer):
    """``y = x * scale + offset``, as ``keras.layers.Rescaling``: ``[0, 255]`` pixels to ``[0, 1]``
    with ``scale=1/255``, to ``[-1, 1]`` with ``scale=1/127.5, offset=-1``.

    ``scale`` and ``offset`` are numbers or arrays that broadcast against one sample (a per-channel
    ``(C,)`` scale, say); they are cast to the input's float dtype first, as Keras does, and by
    the same route (:func:`keras_constant`): a Python float, or a list of them, is rounded to
    float32 on the way, so in float64 ``Rescaling(1 / 127.5)`` multiplies by
    ``float32(1 / 127.5)``; a NumPy value keeps its own precision.
    Input and output ``(N, ...)``, the same shape. Backward: ``dL/dx = dy * scale``.
    """

    def __init__(self, scale, offset=0.0, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        where = f"Rescaling {self.name!r}"
        self.scale = _number_or_array(scale, "scale", where)
        self.offset = _number_or_array(offset, "offset", where)

    def build(self, input_shape, rng):
        sample = tuple(input_shape)  # a None (images of any size): checked again batch by batch
        self._check_broadcast(tuple(1 if d is None else d for d in sample), sample)
        return sample

    def _check_broadcast(self, sizes: tuple, sample: tuple) -> None:
        try:
            shape = np.broadcast_shapes(sizes, np.shape(self.scale), np.shape(self.offset))
        except ValueError:
            shape = None
        if shape is None or any(d is not None and d != n for d, n in zip(sample, shape, strict=True)):
            raise ValueError(
                f'Layer "{self.name}": scale of shape {np.shape(self.scale)} and offset of shape '
                f"{np.shape(self.offset)} must broadcast to one sample's shape {sample}"
            )

    def forward(self, x, training=False):
        if None in self.input_shape:
            self._check_broadcast(x.shape[1:], x.shape[1:])
        self.cast_scale = keras_constant(self.scale).astype(x.dtype)  # Keras casts scale first
        return x * self.cast_scale + keras_constant(self.offset).astype(x.dtype)

    def backward(self, dy):
        return dy * self.cast_scale

    def get_config(self):
        return {**super().get_config(), "scale": _plain(self.scale), "offset": _plain(self.offset)}


class Resizing(ImageDataParts, Layer):
    """Resize images to ``(height, width)``, as ``keras.layers.Resizing`` (TensorFlow's
    ``tf.image.resize``, ``antialias=False``, with half-pixel centres).

    Input ``(N, H, W, C)``; output ``(N, height, width, C)``. Output row ``i`` sits at source
    row ``r = (i + 0.5) * H / height - 0.5`` (columns alike; TensorFlow computes these in float32):

    - ``"bilinear"``: ``y = (1 - t) * x[r0] + t * x[r1]`` with ``r0 = max(floor(r), 0)``,
      ``r1 = min(ceil(r), H - 1)``, ``t = r - floor(r)``, first along rows then along columns.
    - ``"nearest"``: row ``min(floor((i + 0.5) * H / height), H - 1)``.

    Both are linear, so resizing is two matrix products, ``y[n] = A_h @ x[n] @ A_w^T`` per
    channel, with ``A_h (height, H)`` holding each output row's weights (one 1 per row for
    "nearest"). Backward: ``dL/dx[n] = A_h^T @ dy[n] @ A_w`` (what TensorFlow's resize gradients
    compute).

    ``crop_to_aspect_ratio=True`` first cuts the largest centred window of the target's aspect
    ratio; ``pad_to_aspect_ratio=True`` first pads the short side with ``fill_value`` (Keras pads
    ``(P - side) // 2`` on each side, so an odd ``P - side`` loses one row). Their gradients
    go back to the cropped cells, and never to the padding.

    Called on a dict (:mod:`scratchnet.layers.augmentation_data`): segmentation masks are resized
    the same way with "nearest", boxes (``bounding_box_format``) scaled, cropped or padded with
    the image and clipped to ``(height, width)``.
    """

    def __init__(self, height: int, width: int, interpolation: str = "bilinear",
                 crop_to_aspect_ratio: bool = False, pad_to_aspect_ratio: bool = False,
                 fill_mode: str = "constant", fill_value: float = 0.0, antialias: bool = False,
                 data_format: str | None = None, name: str | None = None,
                 bounding_box_format: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        where = f"Resizing {self.name!r}"
        self.bounding_box_format = check_bounding_box_format(bounding_box_format, where)
        self.height = positive_int(height, "height", where)
        self.width = positive_int(width, "width", where)
        if interpolation not in KERAS_INTERPOLATIONS:
            raise ValueError(f"{where}: expected interpolation to be one of {KERAS_INTERPOLATIONS}, "
                             f"received {interpolation!r}")
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"{where}: interpolation {interpolation!r} is not implemented in "
                             f"scratchnet; use one of {INTERPOLATIONS}")
        self.interpolation = interpolation
        if crop_to_aspect_ratio and pad_to_aspect_ratio:
            raise ValueError(f"{where}: only one of pad_to_aspect_ratio and crop_to_aspect_ratio "
                             "can be True")
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)
        self.pad_to_aspect_ratio = bool(pad_to_aspect_ratio)
        if fill_mode != "constant":
            raise ValueError(f"{where}: expected fill_mode to be 'constant' (the only one Keras "
                             f"supports), received {fill_mode!r}")
        self.fill_mode = fill_mode
        self.fill_value = float(fill_value)
        if antialias:
            raise ValueError(f"{where}: antialias=True is not implemented in scratchnet; "
                             "use antialias=False (Keras' default)")
        self.antialias = False
        self.data_format = channels_last(data_format, where)

    def __call__(self, x, training: bool | None = None):
        if isinstance(x, dict):
            return call_on_dict(self, x, training=bool(training))
        return super().__call__(x, training=training)

    def build(self, input_shape, rng):
        check_rank(self.name, input_shape, "(batch, height, width, channels)")
        h, w, c = input_shape  # None: images of any size, planned batch by batch
        self.in_hw = None
        if h is not None and w is not None:
            self._plan(h, w)
        return (self.height, self.width, c)

    def get_random_transformation(self, images, training=True):
        """Keras' transformation: the input's ``(height, width)``."""
        return tuple(int(d) for d in np.shape(images)[1:3])

    def data_transformation(self, images, training):
        return self.get_random_transformation(images), True

    def transform_segmentation_masks(self, segmentation_masks, transformation=None, training=True):
        """The images' crop or padding, resized with "nearest" (Keras' choice for masks)."""
        masks = np.asarray(segmentation_masks)
        h, w = masks.shape[1:3]
        top, left, rows, cols = _crop_window(h, w, self.height, self.width) \
            if self.crop_to_aspect_ratio else (0, 0, h, w)
        fr, fc = _fill_sizes(h, w, self.height, self.width) if self.pad_to_aspect_ratio else (0, 0)
        x = masks[:, top:top + rows, left:left + cols, :].astype(np.float32)
        if fr or fc:
            x = np.pad(x, ((0, 0), (fr, fr), (fc, fc), (0, 0)), constant_values=self.fill_value)
        a_h = _nearest_matrix(rows + 2 * fr, self.height)  # (height, rows)
        a_w = _nearest_matrix(cols + 2 * fc, self.width)  # (width, cols)
        return resize_by_matrices(x, a_h, a_w).astype(masks.dtype)

    def transform_bounding_boxes(self, bounding_boxes, transformation=None, training=True):
        """Scaled (and cropped or padded) with the image, Keras' arithmetic
        (:func:`~scratchnet.layers.augmentation_boxes.resize_boxes`); ``transformation`` is the
        input's ``(height, width)``."""
        from scratchnet.layers.augmentation_boxes import resize_boxes

        mode = "pad" if self.pad_to_aspect_ratio else "crop" if self.crop_to_aspect_ratio else "stretch"
        h, w = transformation if transformation is not None else self.box_image_size(None)
        return resize_boxes(bounding_boxes, mode, (self.height, self.width), self.bounding_box_format,
                            int(h), int(w))

    def _plan(self, h: int, w: int) -> None:
        """The window, padding and matrices for ``(h, w)`` images (again for each new size)."""
        self.in_hw = (int(h), int(w))
        # The window that gets resized, in input coordinates (crop), or the padding around it.
        self.window = (0, 0, h, w)  # (top, left, rows, columns)
        self.fill = (0, 0)  # rows above and below, columns left and right (pad_to_aspect_ratio)
        if self.crop_to_aspect_ratio:
            self.window = _crop_window(h, w, self.height, self.width)
        elif self.pad_to_aspect_ratio:
            self.fill = _fill_sizes(h, w, self.height, self.width)
        rows = self.window[2] + 2 * self.fill[0]
        cols = self.window[3] + 2 * self.fill[1]
        matrix = _bilinear_matrix if self.interpolation == "bilinear" else _nearest_matrix
        self.a_h = matrix(rows, self.height)  # (height, rows)
        self.a_w = matrix(cols, self.width)  # (width, cols)

    def forward(self, x, training=False):
        if x.shape[1:3] != self.in_hw:  # another size (built with None there)
            self._plan(*x.shape[1:3])
        top, left, rows, cols = self.window
        x = x[:, top:top + rows, left:left + cols, :]  # (N, rows, cols, C): the crop, if any
        fr, fc = self.fill
        if fr or fc:
            x = np.pad(x, ((0, 0), (fr, fr), (fc, fc), (0, 0)), constant_values=self.fill_value)
        return resize_by_matrices(x, self.a_h, self.a_w)

    def backward(self, dy):
        n = dy.shape[0]
        dx = resize_by_matrices_backward(dy, self.a_h, self.a_w)  # (N, rows, cols, C)
        fr, fc = self.fill
        dx = dx[:, fr:dx.shape[1] - fr, fc:dx.shape[2] - fc, :]  # the padding gets nothing
        top, left, rows, cols = self.window
        if (rows, cols) == self.in_hw:
            return dx  # (N, H, W, C)
        dfull = np.zeros((n, *self.in_hw, dy.shape[-1]), dtype=dy.dtype)
        dfull[:, top:top + rows, left:left + cols, :] = dx  # cropped-away cells get nothing
        return dfull

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width,
                "interpolation": self.interpolation,
                "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
                "pad_to_aspect_ratio": self.pad_to_aspect_ratio, "fill_mode": self.fill_mode,
                "fill_value": self.fill_value, "antialias": self.antialias,
                "data_format": self.data_format, **self.box_config()}


class CenterCrop(ImageDataParts, Layer):
    """``keras.layers.CenterCrop(height, width)``: the centred ``height x width`` window of each
    image. Input ``(N, H, W, C)`` (or one image ``(H, W, C)`` called directly, as Keras allows);
    output ``(N, height, width, C)``::

        y = x[:, top:top + height, left:left + width, :],   top = (H - height) // 2, left alike

    An image smaller than the target on either side is not cropped but resized, as Keras does
    (``keras.utils.smart_resize``): the largest centred window of the target's aspect ratio
    (``rows = max(min(H, int(W * height / width)), 1)``, in double, columns alike, start
    ``int((H - rows) / 2)``), then bilinear resizing to ``(height, width)``, Resizing's
    arithmetic. Backward: the crop's cells get ``dy`` and the rest 0; after a resize, Resizing's
    ``A_h^T @ dy @ A_w`` in the window. Runs in training and at inference; no weights.

    Called on a dict (:mod:`scratchnet.layers.augmentation_data`): segmentation masks are cut
    (and resized) as the images, boxes (``bounding_box_format``) moved into the window and
    clipped to it.
    """

    def __init__(self, height: int, width: int, data_format: str | None = None,
                 name: str | None = None, bounding_box_format: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        where = f"CenterCrop {self.name!r}"
        self.bounding_box_format = check_bounding_box_format(bounding_box_format, where)
        self.height = positive_int(height, "height", where)
        self.width = positive_int(width, "width", where)
        self.data_format = channels_last(data_format, where)
        self.a_h = self.a_w = None  # Resizing's matrices, when the image is smaller than the target

    def __call__(self, x, training: bool = False):
        from scratchnet.layers.input_layer import is_symbolic

        if isinstance(x, dict):
            return call_on_dict(self, x, training=bool(training))
        if not is_symbolic(x) and np.ndim(x) == 3:  # one image (H, W, C), as keras' layer takes it
            return super().__call__(np.asarray(x)[None], training=training)[0]
        return super().__call__(x, training=training)

    def build(self, input_shape, rng):
        check_rank(self.name, input_shape, "(batch, height, width, channels)")
        h, w, c = input_shape  # None: images of any size, planned batch by batch
        self.in_hw = None
        if h is not None and w is not None:
            self._plan(h, w)
        return (self.height, self.width, c)

    def _plan(self, h: int, w: int) -> None:
        """The window (and matrices, if resized) for ``(h, w)`` images (again for each new size)."""
        self.in_hw = (int(h), int(w))
        self.a_h = self.a_w = None
        if h >= self.height and w >= self.width:
            self.window = ((h - self.height) // 2, (w - self.width) // 2, self.height, self.width)
        else:  # smart_resize: crop to the aspect ratio, then resize
            rows = max(min(h, int(float(w * self.height) / self.width)), 1)
            cols = max(min(w, int(float(h * self.width) / self.height)), 1)
            self.window = (int(float(h - rows) / 2), int(float(w - cols) / 2), rows, cols)
            self.a_h = _bilinear_matrix(rows, self.height)  # (height, rows)
            self.a_w = _bilinear_matrix(cols, self.width)  # (width, cols)

    def forward(self, x, training=False):
        if x.shape[1:3] != self.in_hw:  # another size (built with None there)
            self._plan(*x.shape[1:3])
        top, left, rows, cols = self.window
        x = x[:, top:top + rows, left:left + cols, :]  # (N, rows, cols, C)
        return x if self.a_h is None else resize_by_matrices(x, self.a_h, self.a_w)

    def get_random_transformation(self, images, training=True):
        """Keras' transformation: ``{"input_shape": images.shape}``."""
        return {"input_shape": tuple(np.shape(images))}

    def data_transformation(self, images, training):
        return self.get_random_transformation(images), True

    def transform_segmentation_masks(self, segmentation_masks, transformation=None, training=True):
        """The images' window (Keras: ``transform_images`` on the masks, so a resize is bilinear)."""
        masks = np.asarray(segmentation_masks)
        return self.forward(masks.astype(np.float32))

    def transform_bounding_boxes(self, bounding_boxes, transformation=None, training=True):
        """Into the centred window, scaled where it was resized, clipped to it
        (:func:`~scratchnet.layers.augmentation_boxes.crop_boxes`)."""
        from scratchnet.layers.augmentation_boxes import crop_boxes

        h, w = self.box_image_size(transformation)
        if (h, w) != self.in_hw:
            self._plan(h, w)
        return crop_boxes(bounding_boxes, self.window, (self.height, self.width),
                          self.bounding_box_format, h, w)

    def backward(self, dy):
        if self.a_h is not None:
            dy = resize_by_matrices_backward(dy, self.a_h, self.a_w)  # (N, rows, cols, C)
        top, left, rows, cols = self.window
        dx = np.zeros((dy.shape[0], *self.in_hw, dy.shape[-1]), dtype=dy.dtype)
        dx[:, top:top + rows, left:left + cols, :] = dy  # the cells cut away get nothing
        return dx

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width,
                "data_format": self.data_format, **self.box_config()}


def resize_by_matrices(x, a_h, a_w):
    """``y[n] = A_h @ x[n] @ A_w^T`` per channel: ``(N, rows, cols, C)`` -> ``(N, height, width, C)``
    with ``A_h (height, rows)`` and ``A_w (width, cols)`` (Resizing's matrices), rows first."""
    n, rows, cols, c = x.shape
    a_h, a_w = a_h.astype(x.dtype), a_w.astype(x.dtype)
    t = (a_h @ x.reshape(n, rows, -1)).reshape(n, a_h.shape[0], cols, c)  # rows
    return a_w @ t  # (N, height, width, C): columns (A_w @ each (cols, C) slice)


def resize_by_matrices_backward(dy, a_h, a_w):
    """The transpose of :func:`resize_by_matrices`: ``dL/dx[n] = A_h^T @ dy[n] @ A_w``,
    ``(N, height, width, C)`` -> ``(N, rows, cols, C)``."""
    n, height, _, c = dy.shape
    a_h, a_w = a_h.astype(dy.dtype), a_w.astype(dy.dtype)
    dt = a_w.T @ dy  # (N, height, cols, C)
    return (a_h.T @ dt.reshape(n, height, -1)).reshape(n, a_h.shape[1], a_w.shape[1], c)


def _source_coordinates(in_size: int, out_size: int, shift: float) -> np.ndarray:
    """``(i + 0.5) * in/out - shift`` for each output index ``i``, in float32 as TensorFlow."""
    scale = np.float32(in_size) / np.float32(out_size)
    return (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(shift)


def _bilinear_matrix(in_size: int, out_size: int) -> np.ndarray:
    """``(out_size, in_size)``: row ``i`` has ``1 - t`` at ``r0`` and ``t`` at ``r1`` (see Resizing)."""
    r = _source_coordinates(in_size, out_size, 0.5)
    lower = np.maximum(np.floor(r).astype(np.int64), 0)
    upper = np.minimum(np.ceil(r).astype(np.int64), in_size - 1)
    t = (r - np.floor(r)).astype(np.float64)
    a = np.zeros((out_size, in_size))
    rows = np.arange(out_size)
    np.add.at(a, (rows, lower), 1 - t)  # add.at: lower == upper at the borders, weights 1 in all
    np.add.at(a, (rows, upper), t)
    return a


def _nearest_matrix(in_size: int, out_size: int) -> np.ndarray:
    """``(out_size, in_size)``: a single 1 per row, at ``min(floor((i + 0.5) * in/out), in - 1)``."""
    source = np.floor(_source_coordinates(in_size, out_size, 0.0)).astype(np.int64)
    source = np.clip(source, 0, in_size - 1)
    a = np.zeros((out_size, in_size))
    a[np.arange(out_size), source] = 1.0
    return a


def _crop_window(h: int, w: int, height: int, width: int) -> tuple[int, int, int, int]:
    """Keras' centred crop of the target aspect ratio: ``(top, left, rows, columns)``.

    ``rows = int(w * height / width)`` clipped to ``[1, h]`` (columns alike), start
    ``int((h - rows) / 2)``; the divisions in float32, as Keras' TensorFlow backend.
    """
    rows = min(max(int(np.float32(w * height) / np.float32(width)), 1), h)
    cols = min(max(int(np.float32(h * width) / np.float32(height)), 1), w)
    top = int(np.float32(h - rows) / np.float32(2))
    left = int(np.float32(w - cols) / np.float32(2))
    return top, left, rows, cols


def _fill_sizes(h: int, w: int, height: int, width: int) -> tuple[int, int]:
    """Keras' padding to the target aspect ratio: rows (and columns) added on *each* side.

    ``P = max(h, int(w * height / width))`` and ``(P - h) // 2`` rows on each side (columns alike).
    """
    rows = max(h, int(np.float32(w * height) / np.float32(width)))
    cols = max(w, int(np.float32(h * width) / np.float32(height)))
    return int(np.float32(rows - h) / np.float32(2)), int(np.float32(cols - w) / np.float32(2))


def _number_or_array(value, arg: str, where: str):
    if isinstance(value, bool) or not (isinstance(value, numbers.Real) or
                                       _is_real_array(value)):
        raise ValueError(f"{where}: expected {arg} to be a number or an array of numbers, "
                         f"received {value!r}")
    if isinstance(value, np.ndarray | np.generic):
        return value  # its dtype decides the rounding (keras_constant), as in Keras
    if isinstance(value, numbers.Real):
        return float(value)
    return np.asarray(value).tolist()  # a (nested) list of Python numbers, as given


def keras_constant(value) -> np.ndarray:
    """``value`` (a number, a list or a NumPy array) as the array Keras starts from when it
    casts it to the layer's dtype.

    Keras' ``Rescaling.call`` (keras/src/layers/preprocessing/rescaling.py) runs
    ``backend.cast(self.scale, dtype)``, TensorFlow's ``tf.cast``; for a value that is not yet a
    tensor, ``tf.cast`` first calls ``ops.convert_to_tensor(value)`` with no dtype
    (tensorflow/python/ops/math_ops.py), which makes Python floats (a number or a list) a
    **float32** tensor and keeps a NumPy array's own dtype. The cast to float64 comes after, so
    the float32 rounding stays: ``float64(float32(1 / 127.5))`` differs from ``1 / 127.5`` by
    6e-8 relative. Python ints stay integers (exact in any float dtype the cast gives)."""
    if isinstance(value, np.ndarray | np.generic):
        return np.asarray(value)
    array = np.asarray(value)
    return array.astype(np.float32) if array.dtype.kind == "f" else array


def _is_real_array(value) -> bool:
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        return False
    return array.dtype.kind in "iuf" and array.size > 0


def _plain(value):
    """A number or an array as JSON-friendly config: a float, or a (nested) list of numbers (a
    NumPy scalar becomes a Python number, as Keras' ``serialize_keras_object`` makes it)."""
    return value.tolist() if isinstance(value, np.ndarray | np.generic) else value
