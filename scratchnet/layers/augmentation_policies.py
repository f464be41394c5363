"""Keras 3.15's augmentation policies RandAugment and AugMix: layers made of the other
augmentation layers (shear, translation, rotation, brightness, colour degeneration, contrast,
sharpness, posterization, solarization, AutoContrast, Equalization), one random choice of them
per batch.

Split as the other augmentation layers: ``get_random_transformation(images)`` draws the choice
and every chosen layer's own draw (Keras' nested dict), ``transform_images(images,
transformation)`` applies them; active in training only, the input unchanged at inference.
No backward (several of the layers have none; the policies belong in front of the first layer
with weights, where a model asks no gradient of them).
"""

from __future__ import annotations

import numbers

import numpy as np

from scratchnet.layers import augmentation as aug
from scratchnet.layers import augmentation_color as color
from scratchnet.layers import augmentation_more as more
from scratchnet.layers.augmentation import _as_given, _base_factor, _is_number, _RandomImageLayer

RAND_AUGMENT_OPS = ("random_shear", "random_translation", "random_rotation", "random_brightness",
                    "random_color_degeneration", "random_contrast", "random_sharpness",
                    "random_posterization", "solarization", "auto_contrast", "equalization")
AUG_MIX_OPS_ALL = ("random_shear", "random_translation", "random_rotation", "random_posterization",
                   "solarization", "auto_contrast", "equalization", "random_brightness",
                   "random_color_degeneration", "random_contrast", "random_sharpness")
AUG_MIX_OPS = AUG_MIX_OPS_ALL[:7]  # all_ops=False: no brightness, colour, contrast, sharpness


def _ops(layer, names, factor, value_range, interpolation, seed) -> dict:
    """Keras' sub-layers, each with the policy's ``factor`` pair as its factor (posterization:
    ``max(1, int(8 · factor[1]))`` bits)."""
    make = {
        "random_shear": lambda: more.RandomShear(factor, factor, interpolation=interpolation, seed=seed),
        "random_translation": lambda: aug.RandomTranslation(factor, factor, interpolation=interpolation,
                                                            seed=seed),
        "random_rotation": lambda: aug.RandomRotation(factor, interpolation=interpolation, seed=seed),
        "random_brightness": lambda: aug.RandomBrightness(factor, value_range=value_range, seed=seed),
        "random_color_degeneration": lambda: color.RandomColorDegeneration(
            factor, value_range=value_range, seed=seed),
        "random_contrast": lambda: aug.RandomContrast(factor, value_range=value_range, seed=seed),
        "random_sharpness": lambda: color.RandomSharpness(factor, value_range=value_range, seed=seed),
        "random_posterization": lambda: color.RandomPosterization(
            max(1, int(8 * factor[1])), value_range=value_range, seed=seed),
        "solarization": lambda: color.Solarization(factor, factor, value_range=value_range, seed=seed),
        "auto_contrast": lambda: color.AutoContrast(value_range=value_range),
        "equalization": lambda: more.Equalization(value_range=value_range),
    }
    ops = {}
    for name in names:
        op = make[name]()
        op.name = f"{layer.name}_{name}"
        op.where = f"{type(op).__name__} {op.name!r}"
        ops[name] = op
    return ops


class _Policy(_RandomImageLayer):
    """What RandAugment and AugMix share: the sub-layers, built with the policy's Generator."""

    def __init__(self, value_range, factor, interpolation, seed, data_format, name, **kwargs):
        super().__init__(seed=seed, data_format=data_format, name=name, **kwargs)
        aug._check_value_range(value_range, self.where)
        self.value_range = _as_given(value_range)
        self.factor = _base_factor(factor, (0, 1), "factor", self.where)
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(f"{self.where}: expected interpolation to be one of "
                             f"('nearest', 'bilinear'), received {interpolation!r}")
        self.interpolation = interpolation
        self.ops: dict = {}

    def build(self, input_shape, rng):
        out = super().build(input_shape, rng)
        for op in self.ops.values():
            op.ensure_built(input_shape, self.rng)
            op.rng = self.rng  # one stream for every draw
        return out

    def _apply(self, name, images, transformation):
        return self.ops[name].transform_images(images, transformation, training=True)

    def backward_images(self, dy):
        return color._no_gradient(self, "not implemented: several of its layers have none")


def _count(value, arg: str, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{where}: expected {arg} to be an integer >= {minimum}, received {value!r}")
    return int(value)


class RandAugment(_Policy):
    """``num_ops`` random augmentations per batch, as ``keras.layers.RandAugment``.

    The draw: ``num_ops`` indices into Keras' 11 layers (``"layer_idxes"``, integers in
    ``[0, 11)``, one choice for the whole batch, repeats allowed), then **every** layer's own draw
    (``"transforms"``, a dict by layer name, in Keras' order). Then, for each index in turn, the
    images go through that layer with its draw (a layer chosen twice applies the same draw twice,
    as in Keras). The layers, each given the policy's ``factor`` (``(0, f)`` from a number ``f``,
    default 0.5): ``RandomShear(factor, factor)``, ``RandomTranslation(factor, factor)``,
    ``RandomRotation(factor)`` (``(0, 0.5)``: up to half a turn, one way), ``RandomBrightness``,
    ``RandomColorDegeneration``, ``RandomContrast``, ``RandomSharpness``,
    ``RandomPosterization(max(1, int(8 · factor[1])))``, ``Solarization(factor, factor)``,
    ``AutoContrast``, ``Equalization``; the colour ones with ``value_range`` (default
    ``(0, 255)``), the warping ones with ``interpolation`` (default "bilinear") and their default
    "reflect" fill. No backward.
    """

    def __init__(self, value_range=(0, 255), num_ops: int = 2, factor=0.5,
                 interpolation: str = "bilinear", seed: int | None = None,
                 data_format: str | None = None, name: str | None = None, **kwargs):
        super().__init__(value_range, factor, interpolation, seed, data_format, name, **kwargs)
        self.num_ops = _count(num_ops, "num_ops", self.where, 0)
        self.ops = _ops(self, RAND_AUGMENT_OPS, self.factor, value_range, interpolation, seed)

    def get_random_transformation(self, images, training=True):
        idxes = self.rng.integers(0, len(RAND_AUGMENT_OPS), self.num_ops).astype(np.int32)
        transforms = {name: op.get_random_transformation(images) for name, op in self.ops.items()}
        return {"transforms": transforms, "layer_idxes": idxes}

    def transform_images(self, images, transformation, training=True):
        self.transformation = transformation if training else None
        if self.transformation is None:
            return images
        for index in np.asarray(transformation["layer_idxes"]).ravel():
            name = RAND_AUGMENT_OPS[int(index)]
            images = self._apply(name, images, transformation["transforms"][name])
        return images

    def transform_segmentation_masks(self, segmentation_masks, transformation, training=True):
        """The masks through the chosen layers' own mask transforms, in turn (the colour ones
        leave them)."""
        if not training or transformation is None:
            return segmentation_masks
        for index in np.asarray(transformation["layer_idxes"]).ravel():
            name = RAND_AUGMENT_OPS[int(index)]
            segmentation_masks = self.ops[name].transform_segmentation_masks(
                segmentation_masks, transformation["transforms"][name])
        return segmentation_masks

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True):
        """The boxes through the chosen layers' own box transforms in the order chosen, as the
        images, in the policy's ``bounding_box_format``. (Keras 3.15.1 moves boxes through the
        chosen layers in the order of its layer list, once each: the same where the picks are
        in that order and differ.)"""
        if not training or transformation is None:
            return bounding_boxes
        for index in np.asarray(transformation["layer_idxes"]).ravel():
            name = RAND_AUGMENT_OPS[int(index)]
            op = self.ops[name]
            op.bounding_box_format = self.bounding_box_format
            bounding_boxes = op.transform_bounding_boxes(dict(bounding_boxes),
                                                         transformation["transforms"][name])
        return bounding_boxes

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range, "num_ops": self.num_ops,
                "factor": self.factor, "interpolation": self.interpolation}


class AugMix(_Policy):
    """Mix several chains of random augmentations with the image, as ``keras.layers.AugMix``.

    The draw: chain weights ``w ~ Dirichlet(alpha, ..., alpha)`` (``num_chains`` of them, default
    3; Keras normalises ``num_chains`` Gamma(alpha) draws), a weight ``m ~ Beta(alpha, alpha)``
    (``alpha`` default 1.0), then per chain ``chain_depth`` (default 3) picks among the layers and
    "none" (skipped), each picked layer with its own draw. Keras' transformation
    ``{"chain_mixing_weights", "weight_sample", "chain_transforms": [[{"layer_name",
    "transformation"}, ...], ...]}``. Then::

        y = clip(m · x + (1 - m) · Σ_c w_c · chain_c(x), value_range[0], value_range[1])

    The layers are RandAugment's (``all_ops=True``, the default) or only the shear, translation,
    rotation, posterization, solarization, AutoContrast and Equalization (``all_ops=False``), each
    given ``factor`` (``(0, f)`` from a number ``f``, default 0.3). Keras picks the layers with
    Python's global ``random`` module, so its picks do not follow ``seed``; scratchnet picks them
    from the layer's seeded Generator. No backward.
    """

    def __init__(self, value_range=(0, 255), num_chains: int = 3, chain_depth: int = 3,
                 factor=0.3, alpha=1.0, all_ops: bool = True, interpolation: str = "bilinear",
                 seed: int | None = None, data_format: str | None = None,
                 name: str | None = None, **kwargs):
        super().__init__(value_range, factor, interpolation, seed, data_format, name, **kwargs)
        self.num_chains = _count(num_chains, "num_chains", self.where, 1)
        self.chain_depth = _count(chain_depth, "chain_depth", self.where, 0)
        if not _is_number(alpha) or alpha <= 0:
            raise ValueError(f"{self.where}: expected alpha to be a positive number, received {alpha!r}")
        if not isinstance(all_ops, bool):
            raise ValueError(f"{self.where}: expected all_ops to be True or False, received {all_ops!r}")
        self.alpha = alpha
        self.all_ops = all_ops
        self.op_names = AUG_MIX_OPS_ALL if all_ops else AUG_MIX_OPS
        self.ops = _ops(self, self.op_names, self.factor, value_range, interpolation, seed)

    def get_random_transformation(self, images, training=True):
        gamma = self.rng.gamma(self.alpha, size=self.num_chains).astype(np.float32)
        weights = gamma / gamma.sum()
        mix = np.float32(self.rng.beta(self.alpha, self.alpha))
        chains = []
        for _ in range(self.num_chains):
            chain = []
            for _ in range(self.chain_depth):
                pick = int(self.rng.integers(0, len(self.op_names) + 1))  # the last one: none
                if pick == len(self.op_names):
                    continue
                name = self.op_names[pick]
                chain.append({"layer_name": name,
                              "transformation": self.ops[name].get_random_transformation(images)})
            chains.append(chain)
        return {"chain_mixing_weights": weights, "weight_sample": mix, "chain_transforms": chains}

    def transform_images(self, images, transformation, training=True):
        self.transformation = transformation if training else None
        if self.transformation is None:
            return images
        dtype = images.dtype
        weights = np.asarray(transformation["chain_mixing_weights"]).astype(dtype)
        mix = dtype.type(np.asarray(transformation["weight_sample"]))
        mixed = np.zeros_like(images)
        for c, chain in enumerate(transformation["chain_transforms"]):
            x = images.copy()
            for step in chain:
                x = self._apply(step["layer_name"], x, step["transformation"])
            mixed = mixed + x * weights[c]
        y = mix * images + (1 - mix) * mixed
        return np.clip(y, self.value_range[0], self.value_range[1]).astype(dtype, copy=False)

    def transform_segmentation_masks(self, segmentation_masks, transformation, training=True):
        """Keras' masks for the draw: each chain's layers' mask transforms, mixed by the same
        weights as the images (not clipped). Boxes pass through unchanged, as in Keras."""
        if not training or transformation is None:
            return segmentation_masks
        masks = np.asarray(segmentation_masks, dtype=np.float32)
        weights = np.asarray(transformation["chain_mixing_weights"], dtype=np.float32)
        mix = np.float32(np.asarray(transformation["weight_sample"]))
        mixed = np.zeros_like(masks)
        for c, chain in enumerate(transformation["chain_transforms"]):
            m = masks.copy()
            for step in chain:
                m = self.ops[step["layer_name"]].transform_segmentation_masks(m, step["transformation"])
            mixed = mixed + m * weights[c]
        return mix * masks + (1 - mix) * mixed

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range,
                "num_chains": self.num_chains, "chain_depth": self.chain_depth,
                "factor": self.factor, "alpha": self.alpha, "all_ops": self.all_ops,
                "interpolation": self.interpolation}
