"""Keras' ``keras.utils`` names that training needs: :class:`PyDataset` (alias ``Sequence``) and
:func:`image_dataset_from_directory`."""

from scratchnet.utils.image_dataset import ImageDataset, image_dataset_from_directory
from scratchnet.utils.py_dataset import PyDataset, Sequence

__all__ = ["PyDataset", "Sequence", "image_dataset_from_directory", "ImageDataset"]
