"""tfnet: the TensorFlow/Keras side of scratchnet, and converters between the two.

Imports TensorFlow. scratchnet never imports tfnet.
"""
