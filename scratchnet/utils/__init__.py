"""Keras' ``keras.utils`` names that training needs: :class:`PyDataset` (alias ``Sequence``)."""

from scratchnet.utils.py_dataset import PyDataset, Sequence

__all__ = ["PyDataset", "Sequence"]
