"""``sn.applications``: the architectures of ``keras.applications``, built from scratchnet layers.

Each family is a module as in Keras (``sn.applications.inception_v3.InceptionV3``, its
``preprocess_input`` and ``decode_predictions``); the model functions are also here directly
(``sn.applications.InceptionV3``). The models have Keras' layer names, layer order and weight
shapes, so a weights file Keras wrote loads into them. scratchnet never downloads: build with
``weights=None`` and load a file you have (see docs/applications.md).
"""

from scratchnet.applications import imagenet_utils, inception_v3
from scratchnet.applications.inception_v3 import InceptionV3

__all__ = ["imagenet_utils", "inception_v3", "InceptionV3"]
