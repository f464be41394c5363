"""sn.visualization on hand-computed pixels (Keras' box drawing needs OpenCV, which scratchnet does
not use; parity where Keras runs: parity_tests/test_visualization_keras.py), the galleries'
grids and PNG files, and bad inputs."""

import os

import matplotlib
import numpy as np
import pytest

import scratchnet as sn

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from scratchnet.visualization.draw import draw_rectangle, text_mask  # noqa: E402

SV = sn.visualization


def canvas(h=7, w=9):
    return np.zeros((h, w, 1), dtype=np.uint8)


def test_one_pixel_outline_includes_both_corners():
    image = draw_rectangle(canvas(), 1, 2, 5, 4, (9,), thickness=1)
    expected = np.zeros((7, 9), dtype=np.uint8)
    expected[2, 1:6] = expected[4, 1:6] = 9  # top and bottom rows, x 1..5
    expected[2:5, 1] = expected[2:5, 5] = 9  # left and right columns, y 2..4
    np.testing.assert_array_equal(image[..., 0], expected)


def test_thick_outline_is_centred_on_the_edges_and_filled_box():
    image = draw_rectangle(canvas(), 2, 1, 6, 5, (1,), thickness=2)  # one pixel either side
    expected = np.zeros((7, 9), dtype=np.uint8)
    expected[0:7, 1:8] = 1
    expected[3, 4] = 0  # the only pixel further than 1 from every edge
    np.testing.assert_array_equal(image[..., 0], expected)
    filled = draw_rectangle(canvas(), 6, 5, 2, 1, (1,), thickness=-1)  # corners in any order
    expected = np.zeros((7, 9), dtype=np.uint8)
    expected[1:6, 2:7] = 1
    np.testing.assert_array_equal(filled[..., 0], expected)


def test_boxes_outside_the_image_are_cut_off():
    image = draw_rectangle(canvas(), -3, -3, 2, 2, (5,), thickness=1)
    expected = np.zeros((7, 9), dtype=np.uint8)
    expected[2, 0:3] = expected[0:3, 2] = 5
    np.testing.assert_array_equal(image[..., 0], expected)


def test_draw_bounding_boxes_scales_converts_and_skips_padding():
    images = np.full((2, 8, 10, 3), 0.5, dtype=np.float32)  # max <= 1: scaled by 255
    boxes = {"boxes": np.array([[[1, 1, 4, 3], [0, 0, 9, 7]], [[2, 2, 2, 2], [0, 0, 1, 1]]]),
             "labels": np.array([[0, -1], [3, 4]])}
    out = SV.draw_bounding_boxes(images, boxes, "xywh", color=(10, 20, 30), line_thickness=1)
    assert out.dtype == np.uint8 and out.shape == images.shape
    expected = np.full((8, 10, 3), 127, dtype=np.uint8)  # int(0.5 * 255)
    draw_rectangle(expected, 1, 1, 5, 4, (10, 20, 30))  # xywh [1, 1, 4, 3] -> xyxy [1, 1, 5, 4]
    np.testing.assert_array_equal(out[0], expected)  # the -1 box is not drawn
    assert (out[1, 2, 2:5] == (10, 20, 30)).all() and (out[1, 0, 0:2] == (10, 20, 30)).all()
    assert images.max() == np.float32(0.5)  # the caller's images are left alone
    first = SV.draw_bounding_boxes(np.transpose(images, (0, 3, 1, 2)), boxes, "xywh",
                                   color=(10, 20, 30), line_thickness=1, data_format="channels_first")
    np.testing.assert_array_equal(np.transpose(first, (0, 2, 3, 1)), out)


def test_labels_are_written_above_the_box_or_inside_it():
    images = np.zeros((1, 80, 120, 3), dtype=np.uint8)
    boxes = {"boxes": np.array([[[10, 50, 100, 75], [5, 2, 60, 40]]]), "labels": np.array([[1, 2]]),
             "confidences": np.array([[0.9, 0.25]])}
    bare = SV.draw_bounding_boxes(images, boxes, "xyxy", color=(255, 255, 255), line_thickness=1)
    named = SV.draw_bounding_boxes(images, boxes, "xyxy", color=(255, 255, 255), line_thickness=1,
                                   class_mapping={1: "cat", 2: "dog"}, font_scale=0.5)
    text = (named != bare).any(axis=-1)[0]  # (H, W): the text's pixels
    # box 1 (top y 50, room above): baseline at y 42 ("|" dips a little below it);
    # box 2 (top y 2, no room above): baseline at y 2 + 2 * 6 + 1 + 3 = 18, inside the box
    rows = np.nonzero(text)[0]
    assert text[25:48, 10:110].any() and not text[48:].any()
    assert text[5:25, 8:60].any() and rows.min() >= 5
    mask, dx, dy = text_mask("cat | 0.90", font_scale=0.5)
    assert mask.any() and dy < 0 <= dx + 1  # above the baseline, starting at its left end
    assert 8 <= -dy <= 14  # capitals about 22 * 0.5 pixels high, as OpenCV's Hershey font


def test_galleries_grid_and_png(tmp_path):
    images = np.random.default_rng(0).uniform(0, 255, (6, 12, 10, 3)).astype(np.float32)
    SV.plot_image_gallery(images, rows=2, cols=3, path=os.fspath(tmp_path / "grid.png"))
    png = mpimg.imread(tmp_path / "grid.png")
    assert png.ndim == 3 and png.shape[1] > png.shape[0]  # 3 panels wide, 2 high
    boxes = {"boxes": np.tile(np.array([[[1, 1, 8, 9]]], np.float32), (6, 1, 1)),
             "labels": np.zeros((6, 1), int)}
    SV.plot_bounding_box_gallery(images, "xyxy", y_true=boxes, y_pred=boxes, legend=True,
                                 class_mapping={0: "a"}, show=False, rows=3, cols=2, font_scale=0.3)
    fig = plt.gcf()
    assert len(fig.axes) == 6 and tuple(fig.get_size_inches()) == (4.0, 6.0)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["Ground Truth", "Prediction"]
    drawn = SV.draw_bounding_boxes(images, boxes, "xyxy", color=(0, 188, 212), class_mapping={0: "a"},
                                   text_thickness=2, font_scale=0.3)
    drawn = SV.draw_bounding_boxes(drawn, boxes, "xyxy", color=(255, 235, 59), class_mapping={0: "a"},
                                   text_thickness=2, font_scale=0.3)
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), drawn[0])
    plt.close(fig)
    open_before = plt.get_fignums()  # (other tests in this process may have left figures open)
    SV.plot_segmentation_mask_gallery(images[:2], 3, y_true=np.ones((2, 12, 10, 1), int),
                                      path=os.fspath(tmp_path / "masks.png"))
    assert mpimg.imread(tmp_path / "masks.png").shape[0] > 0
    assert plt.get_fignums() == open_before  # the gallery closed the figure it saved


def test_segmentation_masks_without_channel_axis():
    images = np.zeros((1, 2, 2, 3), dtype=np.uint8)
    masks = np.array([[[0, 1], [2, -1]]])  # (1, 2, 2)
    out = SV.draw_segmentation_masks(images, masks, num_classes=3, alpha=0.5,
                                     color_mapping={0: (2, 4, 6), 1: (10, 20, 30), 2: (100, 0, 0)})
    np.testing.assert_array_equal(out[0], [[[1, 2, 3], [5, 10, 15]], [[50, 0, 0], [0, 0, 0]]])


@pytest.mark.parametrize("call, error, words", [
    (lambda: SV.draw_bounding_boxes(np.zeros((4, 4, 3)), {"boxes": [], "labels": []}, "xyxy"),
     ValueError, "4D"),
    (lambda: SV.draw_bounding_boxes(np.zeros((1, 4, 4, 3)), [[0, 0, 1, 1]], "xyxy"), TypeError, "dict"),
    (lambda: SV.draw_bounding_boxes(np.zeros((1, 4, 4, 3)), {"boxes": np.zeros((1, 1, 4))}, "xyxy"),
     ValueError, "'labels'"),
    (lambda: SV.draw_bounding_boxes(np.zeros((1, 4, 4, 3)), {"boxes": np.zeros((2, 1, 4)),
                                                             "labels": np.zeros((2, 1))}, "xyxy"),
     ValueError, "for 1 images"),
    (lambda: SV.draw_bounding_boxes(np.zeros((1, 4, 4, 3)), {"boxes": np.zeros((1, 1, 4)),
                                                             "labels": np.zeros((1, 1))}, "xyzw"),
     ValueError, "xyzw"),
    (lambda: SV.draw_bounding_boxes(np.zeros((1, 4, 4, 3)), {"boxes": np.zeros((1, 1, 4)),
                                                             "labels": np.zeros((1, 1))}, "xyxy",
                                    line_thickness=1.5), TypeError, "line_thickness"),
    (lambda: SV.draw_segmentation_masks(np.zeros((1, 4, 4, 3)), np.zeros((1, 3, 4, 1), int)),
     ValueError, "segmentation_masks.shape"),
    (lambda: SV.draw_segmentation_masks(np.zeros((1, 2, 2, 3)), np.ones((1, 2, 2, 1), int),
                                        num_classes=2, color_mapping={0: (1, 1, 1)}), ValueError, "missing"),
    (lambda: SV.plot_image_gallery(np.zeros((2, 4, 4, 3)), rows=2, cols=2, show=False), ValueError,
     "needs 4 images"),
    (lambda: SV.plot_image_gallery(np.zeros((2, 4, 4, 3)), data_format="nhwc"), ValueError, "data_format"),
    (lambda: SV.plot_bounding_box_gallery(np.zeros((2, 4, 4, 3)), "xyxy", legend=True,
                                          legend_handles=["x"], show=False), ValueError, "legend"),
])
def test_errors_name_argument_and_received(call, error, words):
    with pytest.raises(error, match=words):
        call()
    plt.close("all")
