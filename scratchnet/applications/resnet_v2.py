"""ResNet50V2/101V2/152V2 (He et al., "Identity Mappings in Deep Residual Networks", 2016), layer
for layer as ``keras.applications.resnet_v2``: pre-activation blocks (``resnet.residual_block_v2``)
in ``resnet.ResNet``'s frame. Unlike V1, each stage's stride is in its LAST block."""

from __future__ import annotations

from scratchnet.applications import imagenet_utils
from scratchnet.applications.resnet import ResNet, stack_residual_blocks_v2


def _v2_stages(blocks_per_stage):
    """stack_fn for ResNet V2 with ``blocks_per_stage`` blocks in conv2 .. conv5 (conv5: stride 1)."""
    def stack_fn(layers, x):
        stages = zip((64, 128, 256, 512), blocks_per_stage, strict=True)
        for stage, (filters, blocks) in enumerate(stages, start=2):
            x = stack_residual_blocks_v2(layers, x, filters, blocks, stride1=1 if stage == 5 else 2,
                                         name=f"conv{stage}")
        return x
    return stack_fn


def ResNet50V2(include_top: bool = True, weights="imagenet", input_tensor=None, input_shape=None,  # noqa: N802
               pooling=None, classes: int = 1000, classifier_activation="softmax", name: str = "resnet50v2"):
    """ResNet50V2 (3, 4, 6, 3 blocks); inputs scaled by :func:`preprocess_input` ("tf")."""
    return ResNet(_v2_stages((3, 4, 6, 3)), True, True, include_top, weights, input_tensor, input_shape,
                  pooling, classes, classifier_activation, name, weights_name="resnet50v2")


def ResNet101V2(include_top: bool = True, weights="imagenet", input_tensor=None, input_shape=None,  # noqa: N802
                pooling=None, classes: int = 1000, classifier_activation="softmax",
                name: str = "resnet101v2"):
    """ResNet101V2 (3, 4, 23, 3 blocks); inputs scaled by :func:`preprocess_input` ("tf")."""
    return ResNet(_v2_stages((3, 4, 23, 3)), True, True, include_top, weights, input_tensor, input_shape,
                  pooling, classes, classifier_activation, name, weights_name="resnet101v2")


def ResNet152V2(include_top: bool = True, weights="imagenet", input_tensor=None, input_shape=None,  # noqa: N802
                pooling=None, classes: int = 1000, classifier_activation="softmax",
                name: str = "resnet152v2"):
    """ResNet152V2 (3, 8, 36, 3 blocks); inputs scaled by :func:`preprocess_input` ("tf")."""
    return ResNet(_v2_stages((3, 8, 36, 3)), True, True, include_top, weights, input_tensor, input_shape,
                  pooling, classes, classifier_activation, name, weights_name="resnet152v2")


def preprocess_input(x, data_format=None):
    """Pixels in ``[0, 255]`` into ``[-1, 1]``: ``x / 127.5 - 1`` (mode "tf")."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds, top: int = 5):
    """The top ImageNet classes of each prediction (see ``imagenet_utils.decode_predictions``)."""
    return imagenet_utils.decode_predictions(preds, top=top)
