"""``sn.visualization`` against ``keras.visualization`` (Keras 3.15.1): the same names and
signatures; draw_segmentation_masks pixel for pixel; plot_image_gallery and
plot_segmentation_mask_gallery: the same grid, figure size, titles and the same pixels in every
panel, and the same PNG file. Keras' draw_bounding_boxes and plot_bounding_box_gallery need
OpenCV, which is not installed: where Keras cannot run, tests/test_visualization.py checks ours
on hand-computed pixels (docs/parity-notes.md)."""

import inspect
import os

import keras
import matplotlib
import numpy as np
import pytest

import scratchnet as sn

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import patches  # noqa: E402

KV = keras.visualization
SV = sn.visualization
RNG = np.random.default_rng(0)
IMAGES = RNG.uniform(0, 255, (4, 6, 7, 3)).astype(np.float32)
MASKS = RNG.integers(-1, 4, (4, 6, 7, 1))


def test_same_public_names_and_signatures_as_keras():
    names = sorted(n for n in dir(KV) if not n.startswith("_"))
    assert names == sorted(SV.__all__)
    for name in names:
        ours = inspect.signature(getattr(SV, name)).parameters
        theirs = inspect.signature(getattr(KV, name)).parameters
        assert [(p.name, p.default, p.kind) for p in ours.values()] == \
            [(p.name, p.default, p.kind) for p in theirs.values()], name


@pytest.mark.parametrize("kwargs", [
    {}, {"num_classes": 5}, {"blend": False}, {"alpha": 0.3, "ignore_index": 0},
    {"color_mapping": {0: (1, 2, 3), 1: (4, 5, 6), 2: (200, 100, 50)}},
    {"num_classes": 4, "ignore_index": 2, "alpha": 1.0},
])
def test_draw_segmentation_masks_pixel_for_pixel(kwargs):
    for images in (IMAGES, IMAGES.astype(np.uint8)):
        theirs = np.asarray(KV.draw_segmentation_masks(images, MASKS, **kwargs))
        ours = SV.draw_segmentation_masks(images, MASKS, **kwargs)
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        np.testing.assert_array_equal(ours, theirs)


def test_draw_segmentation_masks_errors_as_keras():
    for call in (lambda v: v.draw_segmentation_masks(IMAGES[0], MASKS[0]),
                 lambda v: v.draw_segmentation_masks(IMAGES, MASKS.astype(np.float32))):
        with pytest.raises((ValueError, TypeError)) as keras_error:
            call(KV)
        with pytest.raises(keras_error.type, match="draw_segmentation_masks"):
            call(SV)


def _gallery(module, function, *args, **kwargs):
    """Panels (pixels, title), figure size and legend texts of a gallery left open (show=False)."""
    getattr(module, function)(*args, show=False, **kwargs)
    fig = plt.gcf()
    panels = [(np.asarray(ax.images[0].get_array()), ax.get_title()) for ax in fig.axes]
    legends = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    size = tuple(fig.get_size_inches())
    plt.close(fig)
    return panels, size, legends


def _assert_same_gallery(ours, theirs):
    assert ours[1] == theirs[1] and ours[2] == theirs[2]
    assert len(ours[0]) == len(theirs[0])
    for (pixels, title), (kpixels, ktitle) in zip(ours[0], theirs[0], strict=True):
        assert title == ktitle
        assert pixels.dtype == kpixels.dtype == np.uint8
        np.testing.assert_array_equal(pixels, kpixels)


@pytest.mark.parametrize("n, kwargs", [
    (4, {}), (5, {}), (6, {"rows": 2, "cols": 3, "scale": 1.5}), (1, {}),
    (3, {"value_range": (0, 1), "y_true": [0, 1, 2], "y_pred": [1, 1, 0], "label_map": {0: "a", 1: "b"}}),
    (2, {"legend_handles": [patches.Patch(color="red", label="boxes")]}),
])
def test_plot_image_gallery_grid_titles_and_pixels(n, kwargs):
    images = np.concatenate([IMAGES, IMAGES[::-1]])[:n]
    if kwargs.get("value_range") == (0, 1):
        images = images / 255.0
    _assert_same_gallery(_gallery(SV, "plot_image_gallery", images, **kwargs),
                         _gallery(KV, "plot_image_gallery", images, **kwargs))


def test_plot_image_gallery_png_is_keras_png(tmp_path):
    open_before = plt.get_fignums()  # (other tests in this process may have left figures open)
    KV.plot_image_gallery(IMAGES, path=os.fspath(tmp_path / "keras.png"))
    SV.plot_image_gallery(IMAGES, path=os.fspath(tmp_path / "ours.png"))
    theirs, ours = mpimg.imread(tmp_path / "keras.png"), mpimg.imread(tmp_path / "ours.png")
    assert ours.shape == theirs.shape and ours.shape[0] > 0
    np.testing.assert_array_equal(ours, theirs)
    assert plt.get_fignums() == open_before  # saved and closed, as Keras does


@pytest.mark.parametrize("kwargs", [
    {"y_true": MASKS}, {"y_true": MASKS, "y_pred": MASKS[::-1], "alpha": 0.5},
    {"y_pred": MASKS, "blend": False, "ignore_index": 0},
])
def test_plot_segmentation_mask_gallery(kwargs):
    _assert_same_gallery(_gallery(SV, "plot_segmentation_mask_gallery", IMAGES, 4, **kwargs),
                         _gallery(KV, "plot_segmentation_mask_gallery", IMAGES, 4, **kwargs))


def test_gallery_errors_as_keras():
    for kwargs in ({"path": "x.png", "show": True}, {"y_true": [0, 1, 2, 3]}):
        with pytest.raises(ValueError):
            KV.plot_image_gallery(IMAGES, **kwargs)
        with pytest.raises(ValueError, match="plot_image_gallery"):
            SV.plot_image_gallery(IMAGES, **kwargs)
    with pytest.raises(ValueError):
        KV.plot_segmentation_mask_gallery(IMAGES[0], 3)
    with pytest.raises(ValueError, match="4D"):
        SV.plot_segmentation_mask_gallery(IMAGES[0], 3)


def test_box_drawing_matches_keras_where_keras_can_draw():
    """Keras draws boxes with OpenCV: without it Keras refuses (and ours is checked on golden
    pixels in tests/test_visualization.py); with it, a 1-pixel outline is the same pixels."""
    boxes = {"boxes": np.array([[[1, 1, 5, 4]], [[0, 2, 6, 5]]], dtype=np.float32),
             "labels": np.array([[0], [1]])}
    images = IMAGES[:2].astype(np.uint8)
    ours = SV.draw_bounding_boxes(images, boxes, "xyxy", line_thickness=1, color=(255, 0, 0))
    try:
        import cv2  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="cv2"):
            KV.draw_bounding_boxes(images, boxes, "xyxy")
        assert ours.dtype == np.uint8 and (ours[0, 1, 1:6] == (255, 0, 0)).all()
    else:
        theirs = KV.draw_bounding_boxes(images, boxes, "xyxy", line_thickness=1, color=(255, 0, 0))
        np.testing.assert_array_equal(ours, theirs)
