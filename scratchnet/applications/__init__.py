"""``sn.applications``: the architectures of ``keras.applications``, built from scratchnet layers.

Each family is a module as in Keras (``sn.applications.inception_v3.InceptionV3``, its
``preprocess_input`` and ``decode_predictions``); the model functions are also here directly
(``sn.applications.InceptionV3``). The models have Keras' layer names, layer order and weight
shapes, so a weights file Keras wrote loads into them. scratchnet never downloads: build with
``weights=None`` and load a file you have (see docs/applications.md).
"""

from scratchnet.applications import (
    convnext,
    densenet,
    efficientnet,
    efficientnet_v2,
    imagenet_utils,
    inception_resnet_v2,
    inception_v3,
    mobilenet,
    mobilenet_v2,
    mobilenet_v3,
    nasnet,
    resnet,
    resnet50,
    resnet_v2,
    vgg16,
    vgg19,
    xception,
)
from scratchnet.applications.convnext import (
    ConvNeXtBase,
    ConvNeXtLarge,
    ConvNeXtSmall,
    ConvNeXtTiny,
    ConvNeXtXLarge,
)
from scratchnet.applications.densenet import DenseNet121, DenseNet169, DenseNet201
from scratchnet.applications.efficientnet import (
    EfficientNetB0,
    EfficientNetB1,
    EfficientNetB2,
    EfficientNetB3,
    EfficientNetB4,
    EfficientNetB5,
    EfficientNetB6,
    EfficientNetB7,
)
from scratchnet.applications.efficientnet_v2 import (
    EfficientNetV2B0,
    EfficientNetV2B1,
    EfficientNetV2B2,
    EfficientNetV2B3,
    EfficientNetV2L,
    EfficientNetV2M,
    EfficientNetV2S,
)
from scratchnet.applications.inception_resnet_v2 import InceptionResNetV2
from scratchnet.applications.inception_v3 import InceptionV3
from scratchnet.applications.mobilenet import MobileNet
from scratchnet.applications.mobilenet_v2 import MobileNetV2
from scratchnet.applications.mobilenet_v3 import MobileNetV3Large, MobileNetV3Small
from scratchnet.applications.nasnet import NASNetLarge, NASNetMobile
from scratchnet.applications.resnet import ResNet50, ResNet101, ResNet152
from scratchnet.applications.resnet_v2 import ResNet50V2, ResNet101V2, ResNet152V2
from scratchnet.applications.vgg16 import VGG16
from scratchnet.applications.vgg19 import VGG19
from scratchnet.applications.xception import Xception

__all__ = [
    "convnext", "densenet", "efficientnet", "efficientnet_v2", "imagenet_utils", "inception_resnet_v2",
    "inception_v3", "mobilenet", "mobilenet_v2", "mobilenet_v3", "nasnet", "resnet", "resnet50", "resnet_v2",
    "vgg16", "vgg19", "xception",
    "ConvNeXtBase", "ConvNeXtLarge", "ConvNeXtSmall", "ConvNeXtTiny", "ConvNeXtXLarge",
    "DenseNet121", "DenseNet169", "DenseNet201", "EfficientNetB0", "EfficientNetB1", "EfficientNetB2",
    "EfficientNetB3", "EfficientNetB4", "EfficientNetB5", "EfficientNetB6", "EfficientNetB7",
    "EfficientNetV2B0", "EfficientNetV2B1", "EfficientNetV2B2", "EfficientNetV2B3", "EfficientNetV2L",
    "EfficientNetV2M", "EfficientNetV2S", "InceptionResNetV2", "InceptionV3", "MobileNet", "MobileNetV2",
    "MobileNetV3Large", "MobileNetV3Small", "NASNetLarge", "NASNetMobile", "ResNet50", "ResNet101",
    "ResNet152", "ResNet50V2", "ResNet101V2", "ResNet152V2", "VGG16", "VGG19", "Xception",
]
