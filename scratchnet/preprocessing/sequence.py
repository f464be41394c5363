"""``keras.preprocessing.sequence``: the course's text notebooks import ``pad_sequences`` from here
(Keras 3 keeps it, the same function as ``keras.utils.pad_sequences``)."""

from scratchnet.utils.sequences import pad_sequences

__all__ = ["pad_sequences"]
