"""``image_dataset_from_directory``: batches of images and labels from class folders, as Keras 3.15.

Given ``main/class_a/*.png`` and ``main/class_b/*.png``, it yields ``(images, labels)`` batches with
labels 0 for ``class_a`` and 1 for ``class_b``. What it does, step by step (Keras'
``keras/src/utils/image_dataset_utils.py`` and ``dataset_utils.py``, followed here):

1. **Index** (:func:`index_directory`): the class names are the sub-folders of ``directory`` in
   sorted order (hidden ones skipped), or ``class_names`` in the order given. Each class folder is
   walked recursively, folders in sorted path order and files sorted by name inside each; a file
   counts if its name ends in ``.bmp``, ``.gif``, ``.jpeg``, ``.jpg`` or ``.png`` (any case).
2. **Shuffle the file list once** (``shuffle=True``): ``np.random.RandomState(seed).shuffle`` on
   the list, the same permutation for the labels. With ``seed=None`` a seed is drawn from
   NumPy's global generator, as Keras does.
3. **Split** (``validation_split=v``): ``k = int(v * N)`` files; the validation subset is the
   last ``k`` of the (shuffled) list, training the rest.
4. **Per epoch** (``shuffle=True``, training data): Keras' ``tf.data`` pipeline reorders the
   files again in a shuffle buffer of ``8 * batch_size`` elements (:func:`shuffle_buffer_order`).
   TensorFlow's random numbers cannot be reproduced in NumPy, so this order is scratchnet's own;
   steps 1 to 3 give exactly Keras' ``file_paths``.
5. **Read and resize** each image when its batch is asked for (:func:`load_image`): decoded with
   Pillow to ``color_mode``'s 1, 3 or 4 channels, then resized to ``image_size`` with the same
   math as ``tf.image.resize`` (:class:`scratchnet.layers.Resizing`). Pixels stay in 0..255,
   float32.

Labels: ``"int"`` -> int32 ``(B,)``; ``"categorical"`` -> float32 one-hot ``(B, K)``; ``"binary"``
-> float32 ``(B, 1)``; ``None`` -> images only.
"""

from __future__ import annotations

import numbers
import os
import warnings

import numpy as np

from scratchnet.utils.dataset_ops import BatchesInPasses

WHERE = "image_dataset_from_directory"
ALLOWLIST_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
KERAS_INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5", "gaussian",
                        "mitchellcubic")
INTERPOLATIONS = ("bilinear", "nearest")  # the ones scratchnet implements
COLOR_MODES = {"grayscale": 1, "rgb": 3, "rgba": 4}
LABEL_MODES = ("int", "categorical", "binary", None)
# libpng's RGB -> gray weights as TensorFlow's PNG decoder sets them (0.299, 0.587 and the rest,
# in 1/32768 units, rounded down): gray = (9797 R + 19234 G + 3737 B) >> 15.
PNG_GRAY_WEIGHTS = (9797, 19234, 3737)


def image_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None,
                                 color_mode="rgb", batch_size=32, image_size=(256, 256),
                                 shuffle=True, seed=None, validation_split=None, subset=None,
                                 interpolation="bilinear", follow_links=False,
                                 crop_to_aspect_ratio=False, pad_to_aspect_ratio=False,
                                 data_format=None, format="tf", verbose=True, *,
                                 skip_bad_images: bool = False):
    """Image batches from a folder of class sub-folders, as ``keras.utils.image_dataset_from_directory``.

    Args (Keras' names and defaults):
        directory: the folder. With ``labels="inferred"`` it holds one sub-folder per class.
        labels: ``"inferred"`` (from the sub-folders), ``None`` (no labels) or a list/tuple of
            integer labels, one per image file in sorted path order (as ``os.walk`` finds them).
        label_mode: ``"int"``, ``"categorical"``, ``"binary"`` (exactly two classes) or ``None``.
        class_names: with inferred labels, the sub-folders to use, in this order.
        color_mode: ``"grayscale"``, ``"rgb"`` or ``"rgba"``: 1, 3 or 4 channels.
        batch_size: images per batch (default 32); ``None`` yields single samples.
        image_size: ``(height, width)`` every image is resized to (default ``(256, 256)``).
        shuffle: shuffle the file list once with ``seed``, and again in a buffer each epoch;
            ``False`` keeps the sorted order.
        seed: the seed for both shuffles (required with ``shuffle`` and ``validation_split``).
        validation_split: fraction of files for validation, taken from the end of the list.
        subset: ``"training"``, ``"validation"`` or ``"both"`` (a tuple ``(train, validation)``).
        interpolation: ``"bilinear"`` or ``"nearest"`` (Keras' other names are refused as not
            implemented here).
        follow_links: also walk into sub-folders that are symbolic links.
        crop_to_aspect_ratio: cut the largest centred window of the target's aspect ratio first.
        pad_to_aspect_ratio: resize to fit inside the target keeping the aspect ratio, then pad
            with zeros (``tf.image.resize_with_pad``).
        data_format: ``None`` or ``"channels_last"`` (scratchnet is channels-last).
        format: ``"tf"`` or ``"grain"``: accepted for Keras programs; both give the same
            :class:`ImageDataset` of NumPy batches.
        verbose: print how many files and classes were found.
        skip_bad_images: scratchnet only (Keras has no such option). ``False`` (Keras' behaviour):
            an unreadable file raises a ``ValueError`` naming it when its batch is read. ``True``:
            every file is decoded once up front and unreadable ones are left out with a warning
            naming them, before the shuffle and split.

    Returns:
        An :class:`ImageDataset` (``model.fit`` takes it), with ``class_names`` and ``file_paths``;
        for ``subset="both"`` a list ``[training, validation]``.
    """
    labels = _check_labels(labels, class_names)
    if label_mode not in LABEL_MODES:
        raise ValueError(f'{WHERE}: `label_mode` argument must be one of "int", "categorical", '
                         f'"binary", or None. Received: label_mode={label_mode!r}')
    if labels is None or label_mode is None:
        labels, label_mode = None, None
    if color_mode not in COLOR_MODES:
        raise ValueError(f'{WHERE}: `color_mode` must be one of {{"rgb", "rgba", "grayscale"}}. '
                         f"Received: color_mode={color_mode!r}")
    num_channels = COLOR_MODES[color_mode]
    image_size = _check_image_size(image_size)
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(
            batch_size, numbers.Integral) or batch_size <= 0):
        raise ValueError(f"{WHERE}: expected batch_size to be a positive integer or None, "
                         f"received {batch_size!r}")
    interpolation = _check_interpolation(interpolation)
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError(f"{WHERE}: only one of `pad_to_aspect_ratio`, `crop_to_aspect_ratio` can "
                         "be set to `True`.")
    if data_format not in (None, "channels_last"):
        raise ValueError(f"{WHERE}: expected data_format to be 'channels_last' (or None), received "
                         f"{data_format!r}; scratchnet keeps images channels-last (NHWC)")
    if format not in ("tf", "grain"):
        raise ValueError(f'{WHERE}: `format` should be either "tf" or "grain". '
                         f"Received: format={format!r}")
    _check_validation_split(validation_split, subset, shuffle, seed)
    if not os.path.isdir(directory):
        raise ValueError(f"{WHERE}: expected `directory` to be a folder of images, received "
                         f"{os.fspath(directory)!r}, which is not a directory")

    if seed is None:
        seed = np.random.randint(1e6)  # Keras draws it from NumPy's global generator too
    inferred = isinstance(labels, str)
    file_paths, labels, class_names = index_directory(directory, labels, class_names, follow_links,
                                                      verbose=verbose)
    if inferred and not class_names:
        raise ValueError(_no_classes_message(directory))
    if skip_bad_images:
        file_paths, labels = _drop_unreadable(file_paths, labels, num_channels)
    if shuffle:
        file_paths, labels = shuffle_file_list(file_paths, labels, seed)
    if label_mode == "binary" and len(class_names) != 2:
        raise ValueError(f'{WHERE}: when passing `label_mode="binary"`, there must be exactly 2 '
                         f"class_names. Received: class_names={class_names}")

    def dataset(paths, subset_labels, subset_shuffle):
        return ImageDataset(paths, subset_labels, label_mode, class_names, image_size, num_channels,
                            interpolation, crop_to_aspect_ratio, pad_to_aspect_ratio, batch_size,
                            subset_shuffle, seed)

    if subset == "both":
        train_paths, train_labels = training_or_validation_split(file_paths, labels,
                                                                 validation_split, "training")
        val_paths, val_labels = training_or_validation_split(file_paths, labels, validation_split,
                                                             "validation")
        for name, paths in (("training", train_paths), ("validation", val_paths)):
            if not paths:
                raise ValueError(f"{WHERE}: no {name} images found in directory "
                                 f"{os.fspath(directory)!r} (validation_split={validation_split} "
                                 f"of {len(file_paths)} files). Allowed formats: {ALLOWLIST_FORMATS}")
        # Keras shuffles the training half each epoch, never the validation half of "both".
        return [dataset(train_paths, train_labels, shuffle), dataset(val_paths, val_labels, False)]
    paths, subset_labels = training_or_validation_split(file_paths, labels, validation_split, subset)
    if not paths:
        raise ValueError(f"{WHERE}: no images found in directory {os.fspath(directory)!r}. "
                         f"Allowed formats: {ALLOWLIST_FORMATS}")
    return dataset(paths, subset_labels, shuffle)


class FileDataset(BatchesInPasses):
    """Batches of files and their labels, read when a batch is asked for: what
    :func:`image_dataset_from_directory` and :func:`scratchnet.utils.text_dataset_from_directory`
    return, scratchnet's twin of the ``tf.data.Dataset`` Keras returns. ``ds[i]`` is batch ``i``,
    ``(samples, labels)`` or samples alone; the order, the per-pass shuffle and ``len`` are
    :class:`~scratchnet.utils.dataset_ops.BatchesInPasses`'. A subclass says how one file is read
    (:meth:`load`) and how samples make a batch (:meth:`collate`).

    Attributes: ``class_names`` (list of str, or ``None`` without labels), ``file_paths`` (the
    files in Keras' order, after the one-off shuffle and the split), ``labels`` (int per file, or
    ``None``). ``take``, ``skip``, ``map``, ``cache``, ``prefetch``, ``as_numpy_iterator`` and
    ``cardinality`` work as on a ``tf.data.Dataset`` (:mod:`scratchnet.utils.dataset_ops`).
    """

    def __init__(self, file_paths, labels, label_mode, class_names, batch_size, shuffle, seed):
        self.file_paths = list(file_paths)
        self.labels = None if labels is None else np.asarray(labels, dtype=np.int64)
        self.label_mode = label_mode
        self.class_names = None if class_names is None else list(class_names)
        super().__init__(len(self.file_paths), batch_size, shuffle, seed)

    def load(self, k: int):
        """File ``k`` of :attr:`file_paths`, read into one sample."""
        raise NotImplementedError

    def collate(self, samples: list):
        """One batch made of ``samples``."""
        raise NotImplementedError

    def __getitem__(self, index: int):
        picked = [int(k) for k in self.batch_items(index)]
        if self.batch_size is None:  # one sample and its label
            samples = self.load(picked[0])
        else:
            samples = self.collate([self.load(k) for k in picked])
        if self.label_mode is None:
            return samples
        encoded = encode_labels(self.labels[picked], self.label_mode, len(self.class_names))
        return samples, (encoded if self.batch_size is not None else encoded[0])


class ImageDataset(FileDataset):
    """The batches of :func:`image_dataset_from_directory` (see :class:`FileDataset`): images
    ``(B, height, width, C)`` float32 in 0..255, decoded and resized when their batch is read."""

    def __init__(self, file_paths, labels, label_mode, class_names, image_size, num_channels,
                 interpolation, crop_to_aspect_ratio, pad_to_aspect_ratio, batch_size, shuffle,
                 seed):
        self.image_size = image_size
        self.num_channels = num_channels
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)
        self.pad_to_aspect_ratio = bool(pad_to_aspect_ratio)
        self._resizers = {}  # one Resizing layer per source image shape
        super().__init__(file_paths, labels, label_mode, class_names, batch_size, shuffle, seed)

    def load(self, k: int) -> np.ndarray:
        """File ``k`` of :attr:`file_paths`, decoded and resized: float32 ``(height, width, C)``."""
        return load_image(self.file_paths[k], self.image_size, self.num_channels, self.interpolation,
                          self.crop_to_aspect_ratio, self.pad_to_aspect_ratio, self._resizers)

    def collate(self, samples: list) -> np.ndarray:
        return np.stack(samples)  # (B, height, width, C)

    def __repr__(self) -> str:
        return (f"<ImageDataset: {len(self.file_paths)} files, {len(self)} batches of "
                f"{self.batch_size}, image_size={self.image_size}, channels={self.num_channels}, "
                f"class_names={self.class_names}>")


# ---------------------------------------------------------------------------------- indexing
def index_directory(directory, labels, class_names=None, follow_links=False, verbose=True,
                    formats: tuple = ALLOWLIST_FORMATS, where: str = WHERE):
    """Keras' file index: ``(file_paths, labels, class_names)`` in sorted order (no shuffle yet).

    ``labels="inferred"``: one class per sub-folder (sorted, hidden ones skipped), or the given
    ``class_names`` in their order (each must be a sub-folder). Otherwise the whole folder is
    walked as one, and ``class_names`` are the sorted distinct labels as strings (``None``
    without labels). Paths are ``os.path.join(directory, class folder, relative path)``. Files
    count when their names end in one of ``formats`` (images here; ``(".txt",)`` for text);
    ``where`` names the calling function in errors.
    """
    directory = os.fspath(directory)
    if labels == "inferred":
        subdirs = [name for name in sorted(os.listdir(directory))
                   if os.path.isdir(os.path.join(directory, name)) and not name.startswith(".")]
        if class_names is not None:
            if not set(class_names).issubset(subdirs):
                raise ValueError(f"{where}: the `class_names` passed did not match the names of the "
                                 f"subdirectories of the target directory. Expected: {subdirs} (or "
                                 f"a subset of it), but received: class_names={class_names}")
            subdirs = list(class_names)  # the order given
    else:
        if class_names is not None:
            raise ValueError(f"{where}: when `labels=None` (no labels), argument `class_names` "
                             "cannot be specified.")
        subdirs = [""]  # the whole folder, as one
    file_paths, file_labels = [], []
    for index, subdir in enumerate(subdirs):
        for relative in _walk_images(os.path.join(directory, subdir), follow_links, formats):
            file_paths.append(os.path.join(directory, subdir, relative) if subdir
                              else os.path.join(directory, relative))
            file_labels.append(index)
    if labels == "inferred":
        labels, class_names = np.array(file_labels, dtype=np.int32), subdirs
    elif labels is None:
        class_names = None
    else:
        if len(labels) != len(file_paths):
            raise ValueError(f"{where}: expected the lengths of `labels` to match the number of "
                             f"files in the target directory. len(labels) is {len(labels)} while "
                             f"we found {len(file_paths)} files in directory {directory}.")
        labels = np.array(labels, dtype=np.int32)
        class_names = [str(label) for label in sorted(set(labels.tolist()))]
    if verbose:
        found = f"Found {len(file_paths)} files"
        print(found + "." if labels is None
              else f"{found} belonging to {len(class_names)} classes.")
    return file_paths, labels, class_names


def _walk_images(folder: str, follow_links: bool, formats: tuple = ALLOWLIST_FORMATS):
    """Image file paths under ``folder``, relative to it: folders in sorted path order, files
    sorted by name inside each, extensions from ``formats`` (default :data:`ALLOWLIST_FORMATS`)
    in any case. (Keras' ImageDataGenerator walks the same way, with its own list.)"""
    for root, _, files in sorted(os.walk(folder, followlinks=follow_links), key=lambda w: w[0]):
        for name in sorted(files):
            if name.lower().endswith(formats):
                yield os.path.relpath(os.path.join(root, name), folder)


def shuffle_file_list(file_paths: list, labels, seed: int):
    """Keras' one-off shuffle: ``np.random.RandomState(seed).shuffle`` on the list of paths, and
    the same permutation on the labels (a fresh ``RandomState(seed)`` draws the same one)."""
    order = np.arange(len(file_paths))
    np.random.RandomState(seed).shuffle(order)
    file_paths = [file_paths[k] for k in order]
    return file_paths, (None if labels is None else labels[order])


def training_or_validation_split(file_paths: list, labels, validation_split, subset):
    """Keras' split: ``k = int(validation_split * N)``; validation is the last ``k`` files,
    training the others. Keras slices ``[:-k]`` and ``[-k:]``, so when ``k`` is 0 training is
    empty and validation is everything; kept as is."""
    if not validation_split:
        return file_paths, labels
    k = int(validation_split * len(file_paths))
    if subset == "training":
        print(f"Using {len(file_paths) - k} files for training.")
        keep = slice(None, -k)
    else:
        print(f"Using {k} files for validation.")
        keep = slice(-k, None)
    return file_paths[keep], (None if labels is None else labels[keep])


def encode_labels(labels: np.ndarray, label_mode: str, num_classes: int) -> np.ndarray:
    """``"int"``: int32 ``(B,)``; ``"binary"``: float32 ``(B, 1)``; ``"categorical"``: float32
    one-hot ``(B, K)``, an all-zero row for a label outside ``0..K-1`` (as ``tf.one_hot``)."""
    if label_mode == "int":
        return labels.astype(np.int32)
    if label_mode == "binary":
        return labels.astype(np.float32)[:, None]
    one_hot = (labels[:, None] == np.arange(num_classes)[None, :])  # (B, K)
    return one_hot.astype(np.float32)


# ---------------------------------------------------------------------------------- images
def read_image(path: str, num_channels: int) -> np.ndarray:
    """Decode one image file to uint8 ``(H, W, num_channels)`` as TensorFlow's decoders do.

    RGB drops an alpha channel (no blending) and repeats a gray one; RGBA adds alpha 255; palette
    images are expanded; a GIF gives its first frame. Grayscale from colour uses libpng's weights
    (:data:`PNG_GRAY_WEIGHTS`, rounded down) as TensorFlow's PNG decoder; a JPEG is decoded straight
    to its luma channel, as libjpeg does for TensorFlow. (TensorFlow decodes JPEGs with libjpeg's
    fast integer DCT and Pillow with the accurate one: JPEG pixels may differ by a few levels.)
    """
    from PIL import Image

    try:
        with Image.open(path) as img:
            if num_channels == 1 and img.format == "JPEG" and img.mode != "L":
                img.draft("L", img.size)  # the decoder's own luma channel (no RGB round trip)
            img.load()
            return _to_channels(img, num_channels)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise ValueError(f"{WHERE}: could not read the image file {path!r} ({type(err).__name__}: "
                         f"{err}). Remove or replace it, or pass skip_bad_images=True to leave "
                         "unreadable files out") from err


def _to_channels(img, num_channels: int) -> np.ndarray:
    from PIL import Image

    if img.mode.startswith("I"):  # 16-bit gray: its high byte, as TensorFlow's 8-bit decode
        high = np.asarray(img).astype(np.int64) >> 8  # (H, W)
        img = Image.fromarray(np.clip(high, 0, 255).astype(np.uint8), "L")
    if num_channels == 1:
        if img.mode in ("L", "1", "LA", "La"):
            return np.asarray(img.convert("L"))[..., None]  # (H, W, 1)
        rgb = np.asarray(img.convert("RGB")).astype(np.uint32)  # (H, W, 3)
        wr, wg, wb = PNG_GRAY_WEIGHTS
        gray = (wr * rgb[..., 0] + wg * rgb[..., 1] + wb * rgb[..., 2]) >> 15
        return gray.astype(np.uint8)[..., None]  # (H, W, 1)
    return np.asarray(img.convert("RGB" if num_channels == 3 else "RGBA"))  # (H, W, C)


def load_image(path: str, image_size: tuple[int, int], num_channels: int,
               interpolation: str = "bilinear", crop_to_aspect_ratio: bool = False,
               pad_to_aspect_ratio: bool = False, resizers: dict | None = None) -> np.ndarray:
    """Read ``path`` and resize it to ``image_size``: float32 ``(height, width, C)`` in 0..255.

    Plain: ``tf.image.resize`` (:class:`scratchnet.layers.Resizing`'s math, computed in float64 and
    rounded to float32). ``crop_to_aspect_ratio``: Keras' ``smart_resize``, the centred crop then
    the resize (Resizing's own crop). ``pad_to_aspect_ratio``: ``tf.image.resize_with_pad``
    (:func:`resize_with_pad`), which resizes first and pads with zeros after.
    """
    image = read_image(path, num_channels).astype(np.float64)  # (H, W, C)
    if pad_to_aspect_ratio:
        return resize_with_pad(image, image_size, interpolation, resizers)
    return _resize(image, image_size, interpolation, crop_to_aspect_ratio, resizers)


def _resize(image, size, interpolation, crop_to_aspect_ratio=False, resizers=None) -> np.ndarray:
    from scratchnet.layers.image_preprocessing import Resizing

    resizers = {} if resizers is None else resizers
    key = (image.shape, tuple(size), interpolation, crop_to_aspect_ratio)
    if key not in resizers:
        layer = Resizing(size[0], size[1], interpolation=interpolation,
                         crop_to_aspect_ratio=crop_to_aspect_ratio)
        layer.build(image.shape, None)
        resizers[key] = layer
    return resizers[key].forward(image[None])[0].astype(np.float32)  # (height, width, C)


def resize_with_pad(image: np.ndarray, size, interpolation: str = "bilinear",
                    resizers: dict | None = None) -> np.ndarray:
    """``tf.image.resize_with_pad``: scale to fit inside ``size`` keeping the aspect ratio, then
    pad with zeros, the odd row or column going after. In float32, as TensorFlow:

    ``ratio = max(W / width, H / height)``; resized ``(floor(H / ratio), floor(W / ratio))``;
    padding before ``max(0, floor((height - H / ratio) / 2))`` rows (columns alike).
    """
    h, w = np.float32(image.shape[0]), np.float32(image.shape[1])
    th, tw = np.float32(size[0]), np.float32(size[1])
    ratio = max(w / tw, h / th)
    rh, rw = h / ratio, w / ratio
    top = max(0, int(np.floor((th - rh) / np.float32(2))))
    left = max(0, int(np.floor((tw - rw) / np.float32(2))))
    resized = _resize(image, (int(np.floor(rh)), int(np.floor(rw))), interpolation,
                      resizers=resizers)
    out = np.zeros((size[0], size[1], image.shape[2]), dtype=np.float32)  # (height, width, C)
    out[top:top + resized.shape[0], left:left + resized.shape[1]] = resized
    return out


# ---------------------------------------------------------------------------------- checks
def _check_labels(labels, class_names, where: str = WHERE):
    if isinstance(labels, str) and labels == "inferred" or labels is None:
        return labels
    if not isinstance(labels, list | tuple):
        raise ValueError(f"{where}: `labels` argument should be a list/tuple of integer labels, of "
                         "the same size as the number of image files in the target directory. If "
                         "you wish to infer the labels from the subdirectory names in the target "
                         'directory, pass `labels="inferred"`. If you wish to get a dataset that '
                         "only contains images (no labels), pass `labels=None`. "
                         f"Received: labels={labels!r}")
    if class_names:
        raise ValueError(f'{where}: you can only pass `class_names` if `labels="inferred"`. '
                         f"Received: labels={labels}, and class_names={class_names}")
    for label in labels:
        if isinstance(label, bool) or not isinstance(label, numbers.Integral):
            raise ValueError(f"{where}: expected `labels` to hold integers, received {label!r} "
                             f"in labels={list(labels)[:10]}...")
    return list(labels)


def _check_image_size(image_size) -> tuple[int, int]:
    if isinstance(image_size, numbers.Integral) and not isinstance(image_size, bool):
        image_size = (image_size, image_size)
    if not isinstance(image_size, list | tuple) or len(image_size) != 2 or any(
            isinstance(v, bool) or not isinstance(v, numbers.Integral) or v <= 0
            for v in image_size):
        raise ValueError(f"{WHERE}: invalid `image_size` value. Expected a tuple of 2 positive "
                         f"integers (height, width). Received: image_size={image_size!r}")
    return int(image_size[0]), int(image_size[1])


def _check_interpolation(interpolation) -> str:
    if not isinstance(interpolation, str) or interpolation.lower() not in KERAS_INTERPOLATIONS:
        raise ValueError(f"{WHERE}: argument `interpolation` should be one of "
                         f"{KERAS_INTERPOLATIONS}. Received: interpolation={interpolation!r}")
    if interpolation.lower() not in INTERPOLATIONS:
        raise ValueError(f"{WHERE}: interpolation {interpolation!r} is not implemented in "
                         f"scratchnet; use one of {INTERPOLATIONS}")
    return interpolation.lower()


def _check_validation_split(validation_split, subset, shuffle, seed, where: str = WHERE) -> None:
    """Keras' ``check_validation_split_arg``, in its order and wording."""
    if validation_split and not 0 < validation_split < 1:
        raise ValueError(f"{where}: `validation_split` must be between 0 and 1, "
                         f"received: {validation_split}")
    if (validation_split or subset) and not (validation_split and subset):
        raise ValueError(f"{where}: if `subset` is set, `validation_split` must be set, and "
                         f"inversely. Received: validation_split={validation_split}, subset={subset!r}")
    if subset not in ("training", "validation", "both", None):
        raise ValueError(f'{where}: `subset` must be either "training", "validation" or "both", '
                         f"received: {subset!r}")
    if validation_split and shuffle and seed is None:
        raise ValueError(f"{where}: if using `validation_split` and shuffling the data, you must "
                         "provide a `seed` argument, to make sure that there is no overlap between "
                         "the training and validation subset.")


def _no_classes_message(directory) -> str:
    directory = os.fspath(directory)
    loose = [n for n in sorted(os.listdir(directory)) if n.lower().endswith(ALLOWLIST_FORMATS)]
    message = (f"{WHERE}: with labels='inferred', expected `directory` to hold one sub-folder per "
               f"class, but {directory!r} has no sub-folders")
    if loose:
        message += (f"; it holds {len(loose)} image files directly (e.g. {loose[0]!r}): move them "
                    "into class folders, or pass labels=None for images without labels")
    return message + f". Allowed formats: {ALLOWLIST_FORMATS}"


def _drop_unreadable(file_paths, labels, num_channels):
    keep = []
    for k, path in enumerate(file_paths):
        try:
            read_image(path, num_channels)
            keep.append(k)
        except ValueError as err:
            warnings.warn(f"{WHERE}: skipping {err.__cause__!r} in {path!r}", UserWarning,
                          stacklevel=3)
    file_paths = [file_paths[k] for k in keep]
    return file_paths, (None if labels is None else labels[np.array(keep, dtype=np.int64)])
