"""Keras' ``keras.preprocessing`` names that course notebooks import: ``image`` (``ImageDataGenerator``,
``load_img``, ``img_to_array``) and ``sequence`` (``pad_sequences``), and the three dataset loaders
Keras 3 keeps here too, the very functions of ``scratchnet.utils`` (as ``keras.preprocessing``'s
are ``keras.utils``')."""

from scratchnet.preprocessing import image, sequence
from scratchnet.utils.image_dataset import image_dataset_from_directory
from scratchnet.utils.text_dataset import text_dataset_from_directory, timeseries_dataset_from_array

__all__ = ["image", "sequence", "image_dataset_from_directory", "text_dataset_from_directory",
           "timeseries_dataset_from_array"]
