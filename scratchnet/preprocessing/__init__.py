"""Keras' ``keras.preprocessing`` names that course notebooks import: ``image`` (``ImageDataGenerator``,
``load_img``, ``img_to_array``)."""

from scratchnet.preprocessing import image

__all__ = ["image"]
