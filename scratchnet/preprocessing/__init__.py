"""Keras' ``keras.preprocessing`` names that course notebooks import: ``image`` (``ImageDataGenerator``,
``load_img``, ``img_to_array``) and ``sequence`` (``pad_sequences``)."""

from scratchnet.preprocessing import image, sequence

__all__ = ["image", "sequence"]
