"""Keras' ``keras.utils`` names that training needs: :class:`PyDataset` (alias ``Sequence``) and
:func:`image_dataset_from_directory`."""

from scratchnet.layers.input_layer import set_random_seed
from scratchnet.utils.feature_space import FeatureSpace
from scratchnet.utils.image_dataset import ImageDataset, image_dataset_from_directory
from scratchnet.utils.model_visualization import plot_model
from scratchnet.utils.numerical import to_categorical
from scratchnet.utils.py_dataset import PyDataset, Sequence

__all__ = ["PyDataset", "Sequence", "image_dataset_from_directory", "ImageDataset", "set_random_seed",
           "FeatureSpace", "plot_model", "to_categorical"]
