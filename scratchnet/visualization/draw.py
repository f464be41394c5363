"""``keras.visualization.draw_bounding_boxes`` and ``draw_segmentation_masks`` in NumPy.

Keras draws boxes with OpenCV (``cv2.rectangle``, ``cv2.putText``); scratchnet does not depend
on OpenCV, so the box outlines are drawn here with array masks and the labels are rasterized
from matplotlib's text outlines (DejaVu Sans instead of OpenCV's Hershey font). A one-pixel
outline is what ``cv2.rectangle`` draws; thicker outlines have square corners where OpenCV's are
rounded, and the label glyphs differ (docs/parity-notes.md). ``draw_segmentation_masks`` is
Keras' own NumPy arithmetic and matches it pixel for pixel.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from scratchnet.utils.bounding_boxes.converters import convert_format

HERSHEY_CAP_HEIGHT = 30.0  # font size (px) whose capitals stand as high as OpenCV's at scale 1


def _check_data_format(data_format, where: str) -> str:
    data_format = data_format or "channels_last"
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"{where}: expected data_format 'channels_last' or 'channels_first', "
                         f"received {data_format!r}")
    return data_format


def _check_images(images, where: str) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"{where}: `images` must be a batched 4D array (batch, height, width, "
                         f"channels); received images.shape={images.shape}")
    return images


def _color_vector(color, channels: int, dtype) -> np.ndarray:
    """``color`` for an image of ``channels`` channels (missing channels 0, extra ones dropped,
    as OpenCV reads a colour tuple)."""
    values = np.zeros(channels, dtype=np.float64)
    given = np.asarray(color, dtype=np.float64).reshape(-1)[:channels]
    values[:len(given)] = given
    return values.astype(dtype)


def draw_rectangle(image: np.ndarray, x1: int, y1: int, x2: int, y2: int, color,
                   thickness: int = 1) -> np.ndarray:
    """Draw a rectangle outline on ``image`` ``(H, W, C)`` in place (``cv2.rectangle``'s job).

    The outline covers the pixels within ``thickness // 2`` of the edges of the box whose
    corners ``(x1, y1)`` and ``(x2, y2)`` are both included (``thickness=1``: the 1-pixel border
    OpenCV draws); a negative ``thickness`` fills the box, as in OpenCV. Parts outside the image
    are cut off. Returns ``image``.
    """
    x1, x2 = sorted((int(x1), int(x2)))
    y1, y2 = sorted((int(y1), int(y2)))
    height, width = image.shape[:2]
    rows = np.arange(height)[:, None]  # (H, 1)
    cols = np.arange(width)[None, :]  # (1, W)
    half = 0 if thickness < 0 else int(thickness) // 2
    outer = (rows >= y1 - half) & (rows <= y2 + half) & (cols >= x1 - half) & (cols <= x2 + half)
    if thickness < 0:
        mask = outer
    else:
        inner = (rows > y1 + half) & (rows < y2 - half) & (cols > x1 + half) & (cols < x2 - half)
        mask = outer & ~inner  # (H, W)
    image[mask] = _color_vector(color, image.shape[-1], image.dtype)
    return image


def text_mask(text: str, font_scale: float = 1.0, thickness: int = 1) -> tuple[np.ndarray, int, int]:
    """``text`` rasterized: a boolean mask ``(rows, cols)`` and the offsets ``(dx, dy)`` of its
    top-left pixel from the text's origin (left end of the baseline, y down, as OpenCV's
    ``org``). Capitals are about ``22 · font_scale`` pixels high (OpenCV's Hershey simplex);
    ``thickness`` above 2 widens the strokes by ``(thickness - 1) // 2`` pixels."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.path import Path
    from matplotlib.textpath import TextPath

    path = TextPath((0, 0), text, size=HERSHEY_CAP_HEIGHT * font_scale,
                    prop=FontProperties(family="DejaVu Sans"))
    box = path.get_extents()
    left, right = math.floor(box.x0), math.ceil(box.x1)
    bottom, top = math.floor(box.y0), math.ceil(box.y1)
    xs = np.arange(left, right) + 0.5  # pixel centres, left to right
    ys = np.arange(top, bottom, -1) - 0.5  # pixel centres, top row first (y up in the path)
    centres = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)  # (rows * cols, 2)
    inside = np.zeros(len(centres), dtype=bool)
    for polygon in path.to_polygons(closed_only=True):  # even-odd: a letter's holes stay open
        inside ^= Path(polygon).contains_points(centres)
    mask = inside.reshape(len(ys), len(xs))
    grow = max(int(thickness) - 1, 0) // 2
    if grow:
        padded = np.pad(mask, grow)
        mask = np.zeros_like(padded)
        for dy in range(-grow, grow + 1):
            for dx in range(-grow, grow + 1):
                mask |= np.roll(np.roll(padded, dy, axis=0), dx, axis=1)
        left, top = left - grow, top + grow
    return mask, left, -top


def draw_text(image: np.ndarray, text: str, org: tuple[int, int], color, font_scale: float = 1.0,
              thickness: int = 1) -> np.ndarray:
    """Write ``text`` on ``image`` ``(H, W, C)`` in place with its baseline starting at
    ``org = (x, y)`` (``cv2.putText``'s job, in matplotlib's DejaVu Sans). Returns ``image``."""
    mask, dx, dy = text_mask(text, font_scale, thickness)
    height, width = image.shape[:2]
    top, left = org[1] + dy, org[0] + dx
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + mask.shape[0], height), min(left + mask.shape[1], width)
    if r0 < r1 and c0 < c1:
        window = mask[r0 - top:r1 - top, c0 - left:c1 - left]
        image[r0:r1, c0:c1][window] = _color_vector(color, image.shape[-1], image.dtype)
    return image


def _find_text_location(x, y, font_scale, thickness):
    """Keras' label position: above the box if there is room, else inside its top-left corner."""
    font_height = int(font_scale * 12)
    target_y = y - 8
    if target_y - (2 * font_height) > 0:
        return x, y - 8
    line_offset = thickness
    static_offset = 3
    return x + static_offset, y + (2 * font_height) + line_offset + static_offset


def draw_bounding_boxes(images, bounding_boxes, bounding_box_format, class_mapping=None,
                        color=(128, 128, 128), line_thickness=2, text_thickness=1, font_scale=1.0,
                        data_format=None):
    """Draw boxes (and class names) on a batch of images, as ``keras.visualization.draw_bounding_boxes``.

    The images become ``uint8``: float images whose maximum is at most 1 are scaled by 255, other
    float images clipped to ``[0, 255]``. Each box, converted to ``"xyxy"`` and truncated to
    integers, is outlined in ``color`` (:func:`draw_rectangle`); boxes labelled ``-1`` (padding)
    are skipped. Where ``class_mapping`` names the label, the name (and ``" | 0.87"`` when
    ``bounding_boxes`` has ``"confidences"``) is written above the box, or inside it when the box
    touches the top of the image.

    Args:
        images: ``(batch, height, width, channels)`` (``channels_first``: ``(batch, channels,
            height, width)``).
        bounding_boxes: dict with ``"boxes"`` ``(batch, num_boxes, 4)``, ``"labels"``
            ``(batch, num_boxes)`` and optionally ``"confidences"`` ``(batch, num_boxes)``.
        bounding_box_format: the boxes' format (see ``sn.utils.bounding_boxes.convert_format``).
        class_mapping: ``{label: name}``; default none (no text).
        color: RGB of the boxes and text. line_thickness: the outline's width in pixels.
        text_thickness: the text's stroke (``None``: ``line_thickness``). font_scale: text size.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Returns:
        ``uint8`` images with the boxes drawn, in the layout of ``images``.
    """
    where = "draw_bounding_boxes()"
    class_mapping = class_mapping or {}
    text_thickness = text_thickness or line_thickness
    data_format = _check_data_format(data_format, where)
    images = _check_images(images, where)
    if not isinstance(bounding_boxes, dict):
        raise TypeError(f"{where}: `bounding_boxes` should be a dict; received "
                        f"{type(bounding_boxes).__name__}")
    if "boxes" not in bounding_boxes or "labels" not in bounding_boxes:
        raise ValueError(f"{where}: `bounding_boxes` should be a dict containing 'boxes' and "
                         f"'labels' keys; received keys {sorted(bounding_boxes)}")
    for argument, value in (("line_thickness", line_thickness), ("text_thickness", text_thickness)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{where}: expected {argument} to be an integer, received {value!r}")
    if data_format == "channels_first":
        images = np.transpose(images, (0, 2, 3, 1))  # (N, H, W, C)
    height, width = images.shape[1:3]
    boxes = np.asarray(convert_format(bounding_boxes, bounding_box_format, "xyxy", height,
                                      width)["boxes"])
    labels = np.asarray(bounding_boxes["labels"])
    if boxes.ndim != 3 or boxes.shape[0] != images.shape[0] or labels.shape != boxes.shape[:2]:
        raise ValueError(f"{where}: expected boxes (batch, num_boxes, 4) and labels (batch, "
                         f"num_boxes) for {images.shape[0]} images; received "
                         f"boxes.shape={boxes.shape}, labels.shape={labels.shape}")
    confidences = bounding_boxes.get("confidences")
    confidences = None if confidences is None else np.asarray(confidences)

    if images.dtype.kind == "f" and images.size > 0:
        images = np.clip(images, 0, 1) * 255 if images.max() <= 1.0 else np.clip(images, 0, 255)
    images = images.astype("uint8")  # a copy: the caller's images are left alone
    for i, image in enumerate(images):
        for box_i in range(boxes.shape[1]):
            x1, y1, x2, y2 = (int(v) for v in boxes[i, box_i].astype("int32"))
            label = int(labels[i, box_i])
            if label == -1:
                continue
            draw_rectangle(image, x1, y1, x2, y2, color, line_thickness)
            if label in class_mapping:
                text = class_mapping[label]
                if confidences is not None:
                    text = f"{text} | {confidences[i][box_i]:.2f}"
                org = _find_text_location(x1, y1, font_scale, text_thickness)
                draw_text(image, str(text), org, color, font_scale, text_thickness)
    if data_format == "channels_first":
        images = np.transpose(images, (0, 3, 1, 2))  # (N, C, H, W)
    return images


def _generate_color_palette(num_classes: int) -> list:
    """Keras' default colours: class ``i`` gets ``(i · [2^25 - 1, 2^15 - 1, 2^21 - 1]) mod 255``."""
    palette = np.array([2**25 - 1, 2**15 - 1, 2**21 - 1])
    return [((i * palette) % 255).tolist() for i in range(num_classes)]


def draw_segmentation_masks(images, segmentation_masks, num_classes=None, color_mapping=None,
                            alpha=0.8, blend=True, ignore_index=-1, data_format=None):
    """Colour each pixel by its class, as ``keras.visualization.draw_segmentation_masks``.

    Pixels of class ``k`` (``0 <= k < num_classes``) take colour ``color_mapping[k]`` (default
    :func:`_generate_color_palette`); with ``blend`` (default) the result is::

        out = image · (1 - alpha) + coloured · alpha     where mask != ignore_index
        out = image                                      where mask == ignore_index

    cast to ``uint8``; without ``blend`` the coloured images are returned as float32. As in
    Keras, ``num_classes=None`` means ``max(mask)``, so the largest class is left uncoloured.

    Args:
        images: ``(batch, height, width, channels)`` in ``[0, 255]``.
        segmentation_masks: integer ``(batch, height, width, 1)`` (or ``(batch, height, width)``).
        num_classes, color_mapping, alpha, blend, ignore_index: as above.
        data_format: ``"channels_last"`` (default) or ``"channels_first"`` (images and masks).

    Returns:
        ``(batch, height, width, channels)`` images (``uint8`` when blended).
    """
    where = "draw_segmentation_masks()"
    data_format = _check_data_format(data_format, where)
    images = _check_images(images, where)
    masks = np.asarray(segmentation_masks)
    if data_format == "channels_first":
        images = np.transpose(images, (0, 2, 3, 1))  # (N, H, W, C)
        masks = np.transpose(masks, (0, 2, 3, 1)) if masks.ndim == 4 else masks
    if not np.issubdtype(masks.dtype, np.integer):
        raise TypeError(f"{where}: `segmentation_masks` must be in integer dtype; received "
                        f"segmentation_masks.dtype={masks.dtype}")
    if masks.ndim == 3:
        masks = masks[..., None]  # (N, H, W, 1)
    if masks.ndim != 4 or masks.shape[-1] != 1 or masks.shape[:3] != images.shape[:3]:
        raise ValueError(f"{where}: expected `segmentation_masks` of shape {images.shape[:3] + (1,)} "
                         f"(batch, height, width, 1) for images.shape={images.shape}; received "
                         f"segmentation_masks.shape={np.shape(segmentation_masks)}")
    images = images.astype(np.float32)
    if num_classes is None:
        num_classes = int(masks.max())
    if color_mapping is None:
        colors = _generate_color_palette(num_classes)
    else:
        missing = [i for i in range(num_classes) if i not in color_mapping]
        if missing:
            raise ValueError(f"{where}: `color_mapping` must give a colour for every class 0 .. "
                             f"{num_classes - 1}; missing {missing}")
        colors = [color_mapping[i] for i in range(num_classes)]
    classes = masks[..., 0]  # (N, H, W)
    valid = classes != ignore_index
    coloured = images.copy()
    for k, color in enumerate(colors):  # one_hot: a class outside 0 .. num_classes-1 stays as is
        coloured[classes == k] = np.asarray(color, dtype=np.float32)
    if not blend:
        return coloured
    outputs = images * (1 - alpha) + coloured * alpha
    outputs = np.where(valid[..., None], outputs, images)
    return outputs.astype("uint8")
