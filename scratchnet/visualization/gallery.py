"""``keras.visualization``'s galleries with matplotlib: :func:`plot_image_gallery`, and the boxes
and masks drawn on images first (:func:`plot_bounding_box_gallery`,
:func:`plot_segmentation_mask_gallery`). As in Keras they return nothing: the figure is saved to
``path`` (and closed), shown, or (``show=False``) left open as ``plt.gcf()``."""

from __future__ import annotations

import functools
import math

import numpy as np

from scratchnet.layers.augmentation_color import transform_value_range
from scratchnet.visualization.draw import (
    _check_data_format,
    _check_images,
    draw_bounding_boxes,
    draw_segmentation_masks,
)


def plot_image_gallery(images, y_true=None, y_pred=None, label_map=None, rows=None, cols=None,
                       value_range=(0, 255), scale=2, path=None, show=None, transparent=True, dpi=60,
                       legend_handles=None, data_format=None):
    """A grid of images, as ``keras.visualization.plot_image_gallery``.

    ``rows`` defaults to ``ceil(sqrt(batch))`` and ``cols`` to ``batch // rows`` (Keras' rule:
    5 images make a 3 x 1 grid); the first ``rows · cols`` images are shown, mapped from
    ``value_range`` to ``[0, 255]`` and cast to ``uint8``, each ``scale`` inches square, without
    axes. ``y_true``/``y_pred`` (class indices) title each image through ``label_map``.

    Args:
        images: ``(batch, height, width, channels)`` (``channels_first``: channels second).
        y_true, y_pred, label_map: optional labels and ``{index: name}`` (needed with labels).
        rows, cols: the grid. value_range: the images' range (default ``(0, 255)``).
        scale: inches per image. path: save the figure there (PNG etc.) and close it.
        show: ``plt.show()`` (default: when ``path`` is None); not together with ``path``.
        transparent, dpi: for saving. legend_handles: matplotlib patches for a legend.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
    """
    import matplotlib.pyplot as plt

    where = "plot_image_gallery()"
    if path is not None and show:
        raise ValueError(f"{where} expects either `path` to be set, or `show` to be true; "
                         f"received path={path!r}, show={show!r}")
    if (y_true is not None or y_pred is not None) and label_map is None:
        raise ValueError(f"{where}: if `y_true` or `y_pred` are provided, a `label_map` must also "
                         "be provided")
    show = show if show is not None else (path is None)
    data_format = _check_data_format(data_format, where)
    images = _check_images(images, where)
    batch_size = images.shape[0]
    rows = rows or int(math.ceil(math.sqrt(batch_size)))
    cols = cols or int(math.ceil(batch_size // rows))
    if rows * cols == 0 or rows * cols > batch_size:
        raise ValueError(f"{where}: a {rows} x {cols} grid needs {rows * cols} images (at least 1); "
                         f"received {batch_size}")
    images = images[:rows * cols]
    if data_format == "channels_first":
        images = np.transpose(images, (0, 2, 3, 1))  # (N, H, W, C)

    fig, axes = plt.subplots(nrows=rows, ncols=cols, figsize=(cols * scale, rows * scale),
                             frameon=False, layout="tight", squeeze=True, sharex="row", sharey="col")
    fig.subplots_adjust(wspace=0, hspace=0)
    axes = np.asarray(axes).reshape(rows, cols)  # (rows, cols) whatever squeeze made of it
    if legend_handles is not None:
        fig.legend(handles=legend_handles, loc="lower center")

    images = transform_value_range(images.astype(np.float32), value_range, (0, 255))
    y_true = None if y_true is None else np.asarray(y_true)
    y_pred = None if y_pred is None else np.asarray(y_pred)
    for row in range(rows):
        for col in range(cols):
            index = row * cols + col
            axis = axes[row, col]
            axis.imshow(images[index].astype("uint8"))
            axis.margins(x=0, y=0)
            axis.axis("off")
            title_parts = []
            if y_true is not None and index < len(y_true):
                title_parts.append(f"Label: {label_map.get(y_true[index], 'Unknown')}")
            if y_pred is not None and index < len(y_pred):
                title_parts.append(f"Pred: {label_map.get(y_pred[index], 'Unknown')}")
            if title_parts:
                axis.set_title("  ".join(title_parts), fontsize=8)

    if path is not None:
        plt.savefig(fname=path, pad_inches=0, bbox_inches="tight", transparent=transparent, dpi=dpi)
        plt.close()
    elif show:
        plt.show()
        plt.close()


def plot_bounding_box_gallery(images, bounding_box_format, y_true=None, y_pred=None,
                              value_range=(0, 255), true_color=(0, 188, 212),
                              pred_color=(255, 235, 59), line_thickness=2, font_scale=1.0,
                              text_thickness=None, class_mapping=None, ground_truth_mapping=None,
                              prediction_mapping=None, legend=False, legend_handles=None, rows=None,
                              cols=None, data_format=None, **kwargs):
    """Images with their true and predicted boxes, as ``keras.visualization.plot_bounding_box_gallery``:
    ``y_true`` drawn in ``true_color``, then ``y_pred`` in ``pred_color``
    (:func:`~scratchnet.visualization.draw_bounding_boxes`), then :func:`plot_image_gallery`.

    ``class_mapping`` names classes for both unless ``ground_truth_mapping`` /
    ``prediction_mapping`` are given; ``legend=True`` adds "Ground Truth" and "Prediction"
    patches (or pass your own ``legend_handles``, not both). Other keyword arguments go to
    :func:`plot_image_gallery` (``path``, ``show``, ``scale``, ...).
    """
    from matplotlib import patches

    where = "plot_bounding_box_gallery()"
    prediction_mapping = prediction_mapping or class_mapping
    ground_truth_mapping = ground_truth_mapping or class_mapping
    data_format = _check_data_format(data_format, where)
    images = _check_images(images, where)
    if data_format == "channels_first":
        images = np.transpose(images, (0, 2, 3, 1))  # (N, H, W, C)
    plotted_images = images
    draw_fn = functools.partial(draw_bounding_boxes, bounding_box_format=bounding_box_format,
                                line_thickness=line_thickness, text_thickness=text_thickness,
                                font_scale=font_scale)
    if y_true is not None:
        plotted_images = draw_fn(plotted_images, y_true, color=true_color,
                                 class_mapping=ground_truth_mapping)
    if y_pred is not None:
        plotted_images = draw_fn(plotted_images, y_pred, color=pred_color,
                                 class_mapping=prediction_mapping)
    if legend:
        if legend_handles:
            raise ValueError(f"{where}: only pass `legend` OR `legend_handles`")
        legend_handles = [
            patches.Patch(color=np.array(true_color) / 255.0, label="Ground Truth"),
            patches.Patch(color=np.array(pred_color) / 255.0, label="Prediction"),
        ]
    return plot_image_gallery(plotted_images, value_range=value_range, legend_handles=legend_handles,
                              rows=rows, cols=cols, **kwargs)


def plot_segmentation_mask_gallery(images, num_classes, value_range=(0, 255), y_true=None,
                                   y_pred=None, color_mapping=None, blend=True, alpha=0.8,
                                   ignore_index=-1, data_format=None, **kwargs):
    """Each image beside its true and predicted masks, as
    ``keras.visualization.plot_segmentation_mask_gallery``: one row per image, columns image,
    ``y_true`` drawn on it, ``y_pred`` drawn on it
    (:func:`~scratchnet.visualization.draw_segmentation_masks`, the masks cast to int32).
    Other keyword arguments go to :func:`plot_image_gallery`."""
    where = "plot_segmentation_mask_gallery()"
    data_format = _check_data_format(data_format, where)
    images = _check_images(images, where)
    if data_format == "channels_first":
        images = np.transpose(images, (0, 2, 3, 1))  # (N, H, W, C)
    batch_size = images.shape[0]
    rows = batch_size
    cols = 1 + (y_true is not None) + (y_pred is not None)
    draw_masks_fn = functools.partial(draw_segmentation_masks, num_classes=num_classes,
                                      color_mapping=color_mapping, alpha=alpha,
                                      ignore_index=ignore_index, blend=blend)
    drawn = []
    for masks in (y_true, y_pred):
        if masks is not None:
            masks = np.asarray(masks)
            if data_format == "channels_first" and masks.ndim == 4:
                masks = np.transpose(masks, (0, 2, 3, 1))  # (N, H, W, 1)
            drawn.append(draw_masks_fn(images, masks.astype("int32")))
    gallery = []
    for i in range(batch_size):
        gallery.append(images[i])
        gallery.extend(d[i] for d in drawn)
    gallery_images = np.stack(gallery, axis=0)
    return plot_image_gallery(gallery_images, value_range=value_range, rows=rows, cols=cols, **kwargs)
