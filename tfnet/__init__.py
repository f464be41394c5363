"""tfnet: the TensorFlow/Keras side of scratchnet, and converters between the two.

Imports TensorFlow. scratchnet never imports tfnet.
"""

from tfnet.distribute import mirrored_strategy  # noqa: F401
from tfnet.export import export_saved_model, export_tflite  # noqa: F401
