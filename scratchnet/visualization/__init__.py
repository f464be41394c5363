"""``keras.visualization``: boxes and masks drawn on images (NumPy, no OpenCV) and image galleries
(matplotlib). See docs/bounding-boxes.md."""

from scratchnet.visualization.draw import draw_bounding_boxes, draw_segmentation_masks
from scratchnet.visualization.gallery import (
    plot_bounding_box_gallery,
    plot_image_gallery,
    plot_segmentation_mask_gallery,
)

__all__ = ["draw_bounding_boxes", "draw_segmentation_masks", "plot_bounding_box_gallery",
           "plot_image_gallery", "plot_segmentation_mask_gallery"]
