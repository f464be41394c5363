"""``ImageDataGenerator``, as ``keras.preprocessing.image.ImageDataGenerator`` (Keras 3.15's legacy
module, which the course's rock-paper-scissors notebook uses)::

    train_gen = ImageDataGenerator(rescale=1 / 255, rotation_range=40, width_shift_range=0.2,
                                   height_shift_range=0.2, shear_range=0.2, zoom_range=0.2,
                                   horizontal_flip=True, fill_mode="nearest")
    batches = train_gen.flow_from_directory("rps/", target_size=(150, 150), class_mode="categorical")
    model.fit(batches, epochs=25, steps_per_epoch=20)

Each image gets its own random transformation, drawn as Keras draws it, from NumPy's global random
generator (``np.random``; a ``seed`` reseeds it with ``seed + batches seen`` before each batch, as
Keras does, so a seeded run gives Keras' batches, number for number):

    theta ~ U(-rotation_range, rotation_range) degrees
    tx ~ U(-h, h) * H (height_shift_range h < 1), ty ~ U(-w, w) * W (width_shift_range w < 1)
    shear ~ U(-shear_range, shear_range) degrees
    zx, zy ~ U(zoom_range[0], zoom_range[1])       (a number z means [1 - z, 1 + z])
    flip_horizontal = u < 0.5 (with horizontal_flip), flip_vertical likewise

and is applied (``apply_transform``) as one affine map of each output pixel back to the input,
``T = C R S_shift Sh Z C^-1`` (rotation, shift, shear, zoom, about the image's centre ``C``),
sampled with ``scipy.ndimage.affine_transform`` (order ``interpolation_order``, ``fill_mode``
and ``cval`` outside the image), then the flips. ``standardize`` follows:
``preprocessing_function``, then ``x * rescale``, then the sample-wise centring and scaling.

``flow_from_directory`` reads one subfolder per class (sorted names; files sorted, as Keras),
resizes with ``load_img(target_size, interpolation)`` and labels by ``class_mode``;
``flow(x, y)`` batches arrays. Both are :class:`scratchnet.utils.PyDataset` iterators:
``len()`` batches, ``it[i]``, ``next(it)``, ``on_epoch_end`` reshuffles, so ``model.fit`` takes them.
Channels-last only. Not built (a ``ValueError`` says so): the feature-wise statistics and ZCA
whitening (``fit``), ``brightness_range``, ``channel_shift_range``, ``flow_from_dataframe``,
``save_to_dir``.
"""

from __future__ import annotations

import numbers
import os

import numpy as np

from scratchnet import config
from scratchnet.utils.image_dataset import _walk_images
from scratchnet.utils.image_files import img_to_array, load_img
from scratchnet.utils.py_dataset import PyDataset

FILL_MODES = ("constant", "nearest", "reflect", "wrap")
CLASS_MODES = ("categorical", "binary", "sparse", "input", None)
IMAGE_FORMATS = ("png", "jpg", "jpeg", "bmp", "ppm", "tif", "tiff")  # Keras' list (no dots, as Keras matches)

__all__ = ["ImageDataGenerator", "DirectoryIterator", "NumpyArrayIterator", "load_img", "img_to_array",
           "apply_affine_transform"]


def _range(value, arg: str, where: str = "ImageDataGenerator") -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value < 0:
        raise ValueError(f"{where}: expected {arg} to be a number >= 0, received {value!r}")
    return float(value)


def _shift_range(value, arg: str):
    """A shift range as Keras takes it: a number >= 0 (float: a range, whole number: pixels) or a
    list of pixel offsets."""
    if isinstance(value, list | tuple | np.ndarray):
        if len(value) == 0 or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value):
            raise ValueError(f"ImageDataGenerator: expected {arg} to be a number or a list of numbers, "
                             f"received {value!r}")
        return list(value)
    _range(value, arg)
    return value


class ImageDataGenerator:
    """Random augmentation and scaling of image batches (see the module docstring)."""

    def __init__(self, featurewise_center=False, samplewise_center=False,
                 featurewise_std_normalization=False, samplewise_std_normalization=False,
                 zca_whitening=False, zca_epsilon=1e-6, rotation_range=0, width_shift_range=0.0,
                 height_shift_range=0.0, brightness_range=None, shear_range=0.0, zoom_range=0.0,
                 channel_shift_range=0.0, fill_mode="nearest", cval=0.0, horizontal_flip=False,
                 vertical_flip=False, rescale=None, preprocessing_function=None, data_format=None,
                 validation_split=0.0, interpolation_order=1, dtype=None):
        where = "ImageDataGenerator"
        for arg, value in (("featurewise_center", featurewise_center),
                           ("featurewise_std_normalization", featurewise_std_normalization),
                           ("zca_whitening", zca_whitening)):
            if value:
                raise ValueError(f"{where}: {arg}=True (statistics from ImageDataGenerator.fit) is not "
                                 "built in scratchnet; use a Normalization layer adapted to the data")
        if brightness_range is not None or channel_shift_range:
            raise ValueError(f"{where}: brightness_range and channel_shift_range are not built in "
                             "scratchnet; use the RandomBrightness layer")
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{where}: expected data_format 'channels_last' (or None), received "
                             f"{data_format!r}")
        if fill_mode not in FILL_MODES:
            raise ValueError(f"{where}: expected fill_mode to be one of {FILL_MODES}, received {fill_mode!r}")
        if validation_split and not 0 < validation_split < 1:
            raise ValueError(f"{where}: expected validation_split strictly between 0 and 1, received "
                             f"{validation_split!r}")
        if isinstance(zoom_range, numbers.Real) and not isinstance(zoom_range, bool):
            self.zoom_range = [1 - zoom_range, 1 + zoom_range]
        elif isinstance(zoom_range, tuple | list) and len(zoom_range) == 2 and all(
                isinstance(v, numbers.Real) and not isinstance(v, bool) for v in zoom_range):
            self.zoom_range = [zoom_range[0], zoom_range[1]]
        else:
            raise ValueError(f"{where}: expected zoom_range to be a number or a pair of numbers, "
                             f"received {zoom_range!r}")
        if preprocessing_function is not None and not callable(preprocessing_function):
            raise ValueError(f"{where}: expected preprocessing_function to be callable, received "
                             f"{preprocessing_function!r}")
        self.rotation_range = _range(rotation_range, "rotation_range")
        self.width_shift_range = _shift_range(width_shift_range, "width_shift_range")
        self.height_shift_range = _shift_range(height_shift_range, "height_shift_range")
        self.shear_range = _range(shear_range, "shear_range")
        self.samplewise_center = bool(samplewise_center or samplewise_std_normalization)
        self.samplewise_std_normalization = bool(samplewise_std_normalization)
        self.fill_mode, self.cval = fill_mode, float(cval)
        self.horizontal_flip, self.vertical_flip = bool(horizontal_flip), bool(vertical_flip)
        self.rescale = rescale
        self.preprocessing_function = preprocessing_function
        self.validation_split = float(validation_split or 0.0)
        self.interpolation_order = int(interpolation_order)
        self.dtype = dtype or config.floatx()
        self.data_format = "channels_last"

    # ------------------------------------------------------------------ one image
    def get_random_transform(self, img_shape, seed=None) -> dict:
        """One image's draw, in Keras' order from ``np.random`` (``seed``: reseed it first)."""
        if seed is not None:
            np.random.seed(seed)
        theta = np.random.uniform(-self.rotation_range, self.rotation_range) if self.rotation_range else 0
        tx = _shift(self.height_shift_range, img_shape[0])
        ty = _shift(self.width_shift_range, img_shape[1])
        shear = np.random.uniform(-self.shear_range, self.shear_range) if self.shear_range else 0
        if self.zoom_range[0] == 1 and self.zoom_range[1] == 1:
            zx, zy = 1, 1
        else:
            zx, zy = np.random.uniform(self.zoom_range[0], self.zoom_range[1], 2)
        flip_horizontal = (np.random.random() < 0.5) * self.horizontal_flip
        flip_vertical = (np.random.random() < 0.5) * self.vertical_flip
        return {"theta": theta, "tx": tx, "ty": ty, "shear": shear, "zx": zx, "zy": zy,
                "flip_horizontal": flip_horizontal, "flip_vertical": flip_vertical,
                "channel_shift_intensity": None, "brightness": None}

    def apply_transform(self, x, transform_parameters: dict) -> np.ndarray:
        """``x (H, W, C)`` through one draw: the affine map, then the flips."""
        p = transform_parameters
        x = apply_affine_transform(x, p.get("theta", 0), p.get("tx", 0), p.get("ty", 0), p.get("shear", 0),
                                   p.get("zx", 1), p.get("zy", 1), fill_mode=self.fill_mode,
                                   cval=self.cval, order=self.interpolation_order)
        if p.get("flip_horizontal", False):
            x = x[:, ::-1, :]
        if p.get("flip_vertical", False):
            x = x[::-1, :, :]
        return x

    def random_transform(self, x, seed=None) -> np.ndarray:
        return self.apply_transform(x, self.get_random_transform(x.shape, seed))

    def standardize(self, x) -> np.ndarray:
        """``preprocessing_function``, ``x * rescale``, then sample-wise centring and scaling (in
        place where it can, as Keras)."""
        if self.preprocessing_function:
            x = self.preprocessing_function(x)
        if self.rescale:
            x *= self.rescale
        if self.samplewise_center:
            x -= np.mean(x, keepdims=True)
        if self.samplewise_std_normalization:
            x /= np.std(x, keepdims=True) + 1e-6
        return x

    # ------------------------------------------------------------------ batches
    def flow(self, x, y=None, batch_size=32, shuffle=True, sample_weight=None, seed=None, subset=None,
             **kwargs):
        _no_saving(kwargs)
        return NumpyArrayIterator(x, y, self, batch_size=batch_size, shuffle=shuffle,
                                  sample_weight=sample_weight, seed=seed, subset=subset)

    def flow_from_directory(self, directory, target_size=(256, 256), color_mode="rgb", classes=None,
                            class_mode="categorical", batch_size=32, shuffle=True, seed=None,
                            follow_links=False, subset=None, interpolation="nearest",
                            keep_aspect_ratio=False, **kwargs):
        _no_saving(kwargs)
        return DirectoryIterator(directory, self, target_size=target_size, color_mode=color_mode,
                                 classes=classes, class_mode=class_mode, batch_size=batch_size,
                                 shuffle=shuffle, seed=seed, follow_links=follow_links, subset=subset,
                                 interpolation=interpolation, keep_aspect_ratio=keep_aspect_ratio)

    def _split(self, subset, where: str):
        """The ``(start, stop)`` fraction of each class (or of the array) a subset takes."""
        if subset is None:
            return None
        if subset not in ("training", "validation"):
            raise ValueError(f"{where}: expected subset to be 'training', 'validation' or None, "
                             f"received {subset!r}")
        if not self.validation_split:
            raise ValueError(f"{where}: subset={subset!r} needs ImageDataGenerator(validation_split=...)")
        return (0.0, self.validation_split) if subset == "validation" else (self.validation_split, 1.0)


def _shift(shift_range, size: int) -> float:
    """Keras' shift draw: a whole number ``n`` or a list picks one of ``range(n)`` (or of the list)
    and a sign; a float ``f`` draws ``U(-f, f)``; below 1 it is a fraction of ``size`` pixels."""
    if not np.any(shift_range):
        return 0
    if isinstance(shift_range, numbers.Integral) or not isinstance(shift_range, numbers.Real):
        shift = np.random.choice(shift_range) * np.random.choice([-1, 1])
    else:
        shift = np.random.uniform(-shift_range, shift_range)
    return shift * size if np.max(shift_range) < 1 else shift


def _no_saving(kwargs):
    unknown = sorted(set(kwargs) - {"save_prefix", "save_format", "save_to_dir", "data_format", "dtype"})
    if unknown:
        raise TypeError(f"ImageDataGenerator: unexpected keyword arguments {unknown}")
    if kwargs.get("save_to_dir"):
        raise ValueError("ImageDataGenerator: save_to_dir is not built in scratchnet")


def apply_affine_transform(x, theta=0, tx=0, ty=0, shear=0, zx=1, zy=1, fill_mode="nearest", cval=0.0,
                           order=1) -> np.ndarray:
    """Keras' affine augmentation of one ``(H, W, C)`` image: the input is read at ``T @ (c, r, 1)``
    for output column ``c`` and row ``r``, ``T = C @ R @ S @ Sh @ Z @ C^-1``::

        R  = [[cos t, -sin t, 0], [sin t, cos t, 0], [0, 0, 1]]       t = theta in radians
        S  = [[1, 0, tx], [0, 1, ty], [0, 0, 1]]
        Sh = [[1, -sin s, 0], [0, cos s, 0], [0, 0, 1]]                 s = shear in radians
        Z  = [[zx, 0, 0], [0, zy, 0], [0, 0, 1]]
        C  = [[1, 0, H / 2 - 0.5], [0, 1, W / 2 - 0.5], [0, 0, 1]]

    Keras writes ``T`` for the coordinates ``(row, column)`` and then swaps its first two rows and
    columns (``apply_affine_transform`` with ``col_axis > row_axis``), so it acts on ``(column,
    row)``: ``tx``, drawn from ``height_shift_range * H``, moves the image along its columns, ``zx``
    scales the columns, and on an image that is not square the centre ``C`` is off by
    ``(H - W) / 2`` (Keras' numbers, kept). Sampled channel by channel by
    ``scipy.ndimage.affine_transform`` (spline ``order``, 1 is bilinear; ``fill_mode`` and ``cval``
    outside the image). The identity draw returns ``x``."""
    import scipy.ndimage

    t, s = np.deg2rad(theta), np.deg2rad(shear)
    matrices = []
    if theta != 0:
        matrices.append(np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]]))
    if tx != 0 or ty != 0:
        matrices.append(np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]]))
    if shear != 0:
        matrices.append(np.array([[1, -np.sin(s), 0], [0, np.cos(s), 0], [0, 0, 1]]))
    if zx != 1 or zy != 1:
        matrices.append(np.array([[zx, 0, 0], [0, zy, 0], [0, 0, 1]]))
    if not matrices:
        return x
    transform = matrices[0]
    for m in matrices[1:]:
        transform = transform @ m
    h, w = x.shape[0], x.shape[1]
    o1, o2 = float(h) / 2 - 0.5, float(w) / 2 - 0.5
    transform = np.array([[1, 0, o1], [0, 1, o2], [0, 0, 1]]) @ transform @ np.array(
        [[1, 0, -o1], [0, 1, -o2], [0, 0, 1]])
    swap = [1, 0, 2]
    transform = transform[swap][:, swap]  # (row, column) -> Keras' (column, row), see above
    channels = [scipy.ndimage.affine_transform(x[:, :, ch], transform[:2, :2], transform[:2, 2], order=order,
                                               mode=fill_mode, cval=cval) for ch in range(x.shape[2])]
    return np.stack(channels, axis=-1)


class _Iterator(PyDataset):
    """Batches by index with Keras' seeding: before each batch, ``np.random.seed(seed + batches
    seen)`` when a seed is given; the order is a new ``np.random.permutation`` at each epoch's
    start when shuffling."""

    def __init__(self, n: int, batch_size, shuffle: bool, seed):
        super().__init__()
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise ValueError(f"{type(self).__name__}: expected batch_size to be a positive integer, "
                             f"received {batch_size!r}")
        self.n, self.batch_size, self.shuffle, self.seed = n, int(batch_size), bool(shuffle), seed
        self.batch_index = 0
        self.total_batches_seen = 0
        self.index_array = None

    def _set_index_array(self):
        self.index_array = np.random.permutation(self.n) if self.shuffle else np.arange(self.n)

    def __len__(self):
        return (self.n + self.batch_size - 1) // self.batch_size

    def __getitem__(self, idx):
        if idx >= len(self):
            raise ValueError(f"Asked to retrieve element {idx}, but the Sequence has length {len(self)}")
        if self.seed is not None:
            np.random.seed(self.seed + self.total_batches_seen)
        self.total_batches_seen += 1
        if self.index_array is None:
            self._set_index_array()
        return self._batch(self.index_array[self.batch_size * idx:self.batch_size * (idx + 1)])

    def on_epoch_end(self):
        self._set_index_array()

    def __iter__(self):
        return self

    def __next__(self):
        """The next batch, endlessly (the epoch wraps around), as Keras' iterator."""
        if self.seed is not None:
            np.random.seed(self.seed + self.total_batches_seen)
        if self.batch_index == 0:
            self._set_index_array()
        start = (self.batch_index * self.batch_size) % self.n if self.n else 0
        self.batch_index = self.batch_index + 1 if self.n > start + self.batch_size else 0
        self.total_batches_seen += 1
        return self._batch(self.index_array[start:start + self.batch_size])

    def _transformed(self, x):
        gen = self.image_data_generator
        params = gen.get_random_transform(x.shape)
        return gen.standardize(gen.apply_transform(x, params))


class DirectoryIterator(_Iterator):
    """``flow_from_directory``'s batches: ``(x, y)`` with ``x (n, height, width, channels)``."""

    def __init__(self, directory, image_data_generator, target_size=(256, 256), color_mode="rgb",
                 classes=None, class_mode="categorical", batch_size=32, shuffle=True, seed=None,
                 follow_links=False, subset=None, interpolation="nearest", keep_aspect_ratio=False):
        where = "flow_from_directory"
        if class_mode not in CLASS_MODES:
            raise ValueError(f"{where}: expected class_mode to be one of {CLASS_MODES}, received "
                             f"{class_mode!r}")
        if not os.path.isdir(directory):
            raise FileNotFoundError(f"{where}: no folder at {str(directory)!r}")
        self.image_data_generator = image_data_generator
        self.directory, self.target_size = str(directory), tuple(target_size)
        self.color_mode, self.class_mode = color_mode, class_mode
        self.interpolation, self.keep_aspect_ratio = interpolation, keep_aspect_ratio
        self.dtype = image_data_generator.dtype
        split = image_data_generator._split(subset, where)
        if not classes:
            classes = [d for d in sorted(os.listdir(directory)) if os.path.isdir(os.path.join(directory, d))]
        self.class_indices = {name: i for i, name in enumerate(classes)}
        self.num_classes = len(classes)
        self.filenames, labels = [], []
        for name in classes:
            files = list(_walk_images(os.path.join(self.directory, name), follow_links, IMAGE_FORMATS))
            if split:
                files = files[int(split[0] * len(files)):int(split[1] * len(files))]
            self.filenames += [os.path.join(name, relative) for relative in files]
            labels += [self.class_indices[name]] * len(files)
        self.classes = np.array(labels, dtype=np.int32)
        self.samples = len(self.filenames)
        self.filepaths = [os.path.join(self.directory, f) for f in self.filenames]
        channels = {"rgb": 3, "rgba": 4, "grayscale": 1}.get(color_mode)
        if channels is None:
            raise ValueError(f"{where}: expected color_mode to be 'rgb', 'rgba' or 'grayscale', received "
                             f"{color_mode!r}")
        self.image_shape = self.target_size + (channels,)
        print(f"Found {self.samples} images belonging to {self.num_classes} classes.")
        super().__init__(self.samples, batch_size, shuffle, seed)

    @property
    def labels(self):
        return self.classes

    def _batch(self, index_array):
        x = np.zeros((len(index_array),) + self.image_shape, dtype=self.dtype)
        for i, j in enumerate(index_array):
            img = load_img(self.filepaths[j], color_mode=self.color_mode, target_size=self.target_size,
                           interpolation=self.interpolation, keep_aspect_ratio=self.keep_aspect_ratio)
            x[i] = self._transformed(img_to_array(img, dtype=self.dtype))
        if self.class_mode == "input":
            return x, x.copy()
        if self.class_mode in ("binary", "sparse"):
            return x, self.classes[index_array].astype(self.dtype)
        if self.class_mode == "categorical":
            y = np.zeros((len(x), self.num_classes), dtype=self.dtype)
            y[np.arange(len(x)), self.classes[index_array]] = 1.0
            return x, y
        return (x,)


class NumpyArrayIterator(_Iterator):
    """``flow``'s batches from arrays: ``x (N, H, W, C)`` and labels ``y`` (any shape, or None)."""

    def __init__(self, x, y, image_data_generator, batch_size=32, shuffle=True, sample_weight=None,
                 seed=None, subset=None):
        where = "flow"
        x = np.asarray(x, dtype=image_data_generator.dtype)
        if x.ndim != 4:
            raise ValueError(f"{where}: expected x of 4 axes (samples, height, width, channels), received "
                             f"shape {x.shape}")
        if y is not None and len(y) != len(x):
            raise ValueError(f"{where}: x and y must have the same length, received {len(x)} and {len(y)}")
        if sample_weight is not None and len(sample_weight) != len(x):
            raise ValueError(f"{where}: x and sample_weight must have the same length, received "
                             f"{len(x)} and {len(sample_weight)}")
        split = image_data_generator._split(subset, where)
        if split:
            keep = slice(int(split[0] * len(x)), int(split[1] * len(x)))
            x = x[keep]
            y = None if y is None else np.asarray(y)[keep]
            sample_weight = None if sample_weight is None else np.asarray(sample_weight)[keep]
        self.x, self.y = x, (None if y is None else np.asarray(y))
        self.sample_weight = None if sample_weight is None else np.asarray(sample_weight)
        self.image_data_generator = image_data_generator
        super().__init__(len(x), batch_size, shuffle, seed)

    def _batch(self, index_array):
        x = np.zeros((len(index_array),) + self.x.shape[1:], dtype=self.x.dtype)
        for i, j in enumerate(index_array):
            x[i] = self._transformed(self.x[j].copy())
        if self.y is None:
            return (x,)
        if self.sample_weight is None:
            return x, self.y[index_array]
        return x, self.y[index_array], self.sample_weight[index_array]
