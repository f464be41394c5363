"""``sn.utils.bounding_boxes`` against ``keras.utils.bounding_boxes`` (Keras 3.15.1): the same
public names, every format pair on random boxes (batched, unbatched, in a dict), IoU tables for
every rank pairing with and without masking, CIoU, clipping, crop/pad, the affine move of boxes,
anchor deltas both ways, and the errors Keras raises for the same bad inputs.

Tolerance: FORWARD_RTOL relative to the largest Keras value (the converters follow Keras'
arithmetic order, so most cases agree exactly).
"""

import inspect

import keras
import numpy as np
import pytest

import scratchnet as sn
from parity_tests.driver import FORWARD_RTOL, assert_close

SB = sn.utils.bounding_boxes
KB = keras.utils.bounding_boxes
FORMATS = SB.SUPPORTED_FORMATS
H, W = 60, 80


def random_xyxy(shape, seed=0, low=-10.0, high=70.0):
    """Boxes ``shape + (4,)`` in xyxy with positive sides (some partly outside the image)."""
    rng = np.random.default_rng(seed)
    corner = rng.uniform(low, high, shape + (2,))
    sides = rng.uniform(1.0, 30.0, shape + (2,))
    return np.concatenate([corner, corner + sides], axis=-1).astype(np.float32)


def keras_np(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def test_same_public_names_and_signatures_as_keras():
    keras_names = sorted(n for n in dir(KB) if not n.startswith("_"))
    assert keras_names == sorted(SB.__all__)
    for name in keras_names:
        ours = inspect.signature(getattr(SB, name)).parameters
        theirs = inspect.signature(getattr(KB, name)).parameters
        assert [(p.name, p.default) for p in ours.values()] == \
            [(p.name, p.default) for p in theirs.values()], name


@pytest.mark.parametrize("source", FORMATS)
@pytest.mark.parametrize("target", FORMATS)
def test_convert_format_every_pair(source, target):
    boxes = keras_np(KB.convert_format(random_xyxy((3, 7)), "xyxy", source, height=H, width=W))
    for batch in (boxes, boxes[0]):  # batched (3, 7, 4) and one image (7, 4)
        ours = SB.convert_format(batch, source, target, height=H, width=W)
        theirs = keras_np(KB.convert_format(batch, source, target, height=H, width=W))
        assert ours.dtype == theirs.dtype == np.float32
        assert_close(ours, theirs, FORWARD_RTOL, f"{source} -> {target}")


def test_convert_format_dict_case_insensitive_dtype_and_integers():
    boxes = np.array([[10, 20, 30, 40], [50, 60, 70, 80]])
    labels = np.array([1, 2])
    ours = SB.convert_format({"boxes": boxes, "labels": labels}, "XYXY", "Rel_Center_XYWH",
                             height=200, width=300, dtype="float64")
    theirs = KB.convert_format({"boxes": boxes, "labels": labels}, "XYXY", "Rel_Center_XYWH",
                               height=200, width=300, dtype="float64")
    assert ours["boxes"].dtype == np.float64
    assert_close(ours["boxes"], keras_np(theirs["boxes"]), FORWARD_RTOL, "dict boxes")
    np.testing.assert_array_equal(ours["labels"], keras_np(theirs["labels"]))
    # the documented example of keras.utils.bounding_boxes.convert_format
    np.testing.assert_allclose(SB.convert_format(boxes, "xyxy", "xywh"),
                               [[10, 20, 20, 20], [50, 60, 20, 20]])


@pytest.mark.parametrize("shapes", [((6,), (4,)), ((2, 6), (4,)), ((6,), (2, 4)), ((2, 6), (2, 4))])
@pytest.mark.parametrize("fmt", ["xyxy", "yxyx", "xywh", "center_xywh", "center_yxhw", "rel_xyxy"])
def test_compute_iou_every_rank_pairing(shapes, fmt):
    image_shape = (H, W, 3) if fmt.startswith("rel") else None
    boxes1 = SB.convert_format(random_xyxy(shapes[0], seed=1, high=30), "xyxy", fmt, H, W)
    boxes2 = SB.convert_format(random_xyxy(shapes[1], seed=2, high=30), "xyxy", fmt, H, W)
    ours = SB.compute_iou(boxes1, boxes2, fmt, image_shape=image_shape)
    theirs = keras_np(KB.compute_iou(boxes1, boxes2, fmt, image_shape=image_shape))
    assert 0 < theirs.max() <= 1
    assert_close(ours, theirs, FORWARD_RTOL, f"iou {fmt} {shapes}")


@pytest.mark.parametrize("shapes", [((6,), (4,)), ((2, 6), (2, 4))])
def test_compute_iou_masking_of_padding_boxes(shapes):
    boxes1 = random_xyxy(shapes[0], seed=3, low=0, high=30)
    boxes2 = random_xyxy(shapes[1], seed=4, low=0, high=30)
    boxes1[..., 1, :] = -1  # padding boxes, as MaxNumBoundingBoxes writes them
    boxes2[..., 2, :] = -1
    for mask_val in (-1, 7):
        ours = SB.compute_iou(boxes1, boxes2, "xyxy", use_masking=True, mask_val=mask_val)
        theirs = keras_np(KB.compute_iou(boxes1, boxes2, "xyxy", use_masking=True, mask_val=mask_val))
        assert (theirs == mask_val).any()
        assert_close(ours, theirs, FORWARD_RTOL, "masked iou")


@pytest.mark.parametrize("fmt", ["xyxy", "yxyx", "xywh", "center_xywh", "center_yxhw"])
def test_compute_ciou(fmt):
    boxes1 = SB.convert_format(random_xyxy((2, 9), seed=5, high=20), "xyxy", fmt)
    boxes2 = SB.convert_format(random_xyxy((2, 9), seed=6, high=20), "xyxy", fmt)
    boxes2[0, 0] = boxes1[0, 0]  # the same box: ciou 1
    for a, b in ((boxes1, boxes2), (boxes1[0], boxes2[0]), (boxes1, boxes2[1])):
        ours = SB.compute_ciou(a, b, fmt)
        theirs = keras_np(KB.compute_ciou(a, b, fmt))
        assert_close(ours, theirs, FORWARD_RTOL, f"ciou {fmt}")
    np.testing.assert_allclose(SB.compute_ciou(boxes1, boxes2, fmt)[0, 0], 1.0, rtol=1e-6)


@pytest.mark.parametrize("fmt", ["xyxy", "rel_xyxy"])
def test_clip_to_image_size(fmt):
    boxes = random_xyxy((2, 8), seed=7, low=-30, high=90)
    boxes[0, 0] = [-20, -20, -5, 10]  # wholly outside: label -1
    labels = np.arange(16, dtype=np.int32).reshape(2, 8)
    if fmt == "rel_xyxy":
        boxes = SB.convert_format(boxes, "xyxy", "rel_xyxy", H, W)
    for data in ({"boxes": boxes, "labels": labels}, {"boxes": boxes[1], "labels": labels[1]},
                 {"boxes": boxes}):
        ours = SB.clip_to_image_size(dict(data), height=H, width=W, bounding_box_format=fmt)
        theirs = KB.clip_to_image_size(dict(data), height=H, width=W, bounding_box_format=fmt)
        assert sorted(ours) == sorted(theirs)
        assert_close(ours["boxes"], keras_np(theirs["boxes"]), FORWARD_RTOL, f"clip {fmt}")
        if "labels" in data:
            np.testing.assert_array_equal(ours["labels"], keras_np(theirs["labels"]))
    assert SB.clip_to_image_size({"boxes": boxes, "labels": labels}, H, W, fmt)["labels"][0, 0] == -1


def test_crop_and_pad():
    boxes = random_xyxy((3, 5), seed=8)
    for batch in (boxes, boxes[0]):
        assert_close(SB.crop(batch, 10, 20, 40, 30), keras_np(KB.crop(batch, 10, 20, 40, 30)),
                     FORWARD_RTOL, "crop")
        assert_close(SB.pad(batch, 7, 3, 100, 100), keras_np(KB.pad(batch, 7, 3, 100, 100)),
                     FORWARD_RTOL, "pad")
    # Keras' docstring example of crop
    np.testing.assert_allclose(SB.crop(np.array([[10, 20, 50, 60], [70, 80, 100, 120]]),
                                       top=10, left=20, height=40, width=30),
                               keras_np(KB.crop(np.array([[10, 20, 50, 60], [70, 80, 100, 120]]),
                                                top=10, left=20, height=40, width=30)))


@pytest.mark.parametrize("center", [(None, None), (0.3, 0.7)])
def test_affine_transform(center):
    rng = np.random.default_rng(9)
    boxes = random_xyxy((3, 6), seed=9, low=0, high=40)

    def draw(scale):
        return (rng.uniform(-1, 1, 3) * scale).astype(np.float32)

    angle, tx, ty, shear_x, shear_y = draw(45), draw(0.2), draw(0.2), draw(15), draw(15)
    scale = 1 + draw(0.3)
    args = (angle, tx, ty, scale, shear_x, shear_y, H, W)
    ours = SB.affine_transform(boxes, *args, center_x=center[0], center_y=center[1])
    theirs = keras_np(KB.affine_transform(boxes, *args, center_x=center[0], center_y=center[1]))
    assert_close(ours, theirs, FORWARD_RTOL, "affine")
    # one image (a scratchnet extension): the same as the first image of the batch
    one = SB.affine_transform(boxes[0], *(a[:1] for a in args[:6]), H, W,
                              center_x=center[0], center_y=center[1])
    assert_close(one, theirs[0], FORWARD_RTOL, "affine, one image")


@pytest.mark.parametrize("encoding", ["center_yxhw", "center_xywh"])
@pytest.mark.parametrize("variance", [None, [0.1, 0.1, 0.2, 0.2]])
def test_encode_and_decode_deltas(encoding, variance):
    anchors = random_xyxy((10,), seed=10, low=0, high=50)
    boxes = random_xyxy((2, 10), seed=11, low=0, high=50)
    for batch in (boxes, boxes[0]):
        ours = SB.encode_box_to_deltas(anchors, batch, "xyxy", "xyxy", encoding, variance)
        theirs = keras_np(KB.encode_box_to_deltas(anchors, batch, "xyxy", "xyxy", encoding, variance))
        assert_close(ours, theirs, FORWARD_RTOL, "encode")
        back = SB.decode_deltas_to_boxes(anchors, theirs, "xyxy", "xyxy", encoding, variance)
        kback = keras_np(KB.decode_deltas_to_boxes(anchors, theirs, "xyxy", "xyxy", encoding, variance))
        assert_close(back, kback, FORWARD_RTOL, "decode")
        assert_close(back, batch, FORWARD_RTOL, "decode(encode(boxes))")
    # relative formats with image_shape, and a dict of levels
    rel = SB.convert_format(anchors, "xyxy", "rel_xywh", H, W)
    deltas = SB.encode_box_to_deltas(rel, boxes, "rel_xywh", "xyxy", encoding, image_shape=(H, W, 3))
    kdeltas = keras_np(KB.encode_box_to_deltas(rel, boxes, "rel_xywh", "xyxy", encoding,
                                               image_shape=(H, W, 3)))
    assert_close(deltas, kdeltas, FORWARD_RTOL, "encode, relative anchors")
    ours = SB.decode_deltas_to_boxes({"P3": rel, "P4": rel[:4]}, {"P3": deltas, "P4": deltas[:, :4]},
                                     "rel_xywh", "rel_yxyx", encoding, image_shape=(H, W, 3))
    theirs = KB.decode_deltas_to_boxes({"P3": rel, "P4": rel[:4]}, {"P3": deltas, "P4": deltas[:, :4]},
                                       "rel_xywh", "rel_yxyx", encoding, image_shape=(H, W, 3))
    for level in ("P3", "P4"):
        assert_close(ours[level], keras_np(theirs[level]), FORWARD_RTOL, f"decode level {level}")


BAD_CALLS = [
    ("convert_format", dict(boxes=np.zeros((3, 5)), source="xyxy", target="xywh"), ValueError),
    ("convert_format", dict(boxes=np.zeros((3, 4)), source="xyzw", target="xywh"), ValueError),
    ("convert_format", dict(boxes=np.zeros((3, 4)), source="xyxy", target="rel_xyxy"), ValueError),
    ("clip_to_image_size", dict(bounding_boxes={"boxes": np.zeros((3, 4))}), ValueError),
    ("clip_to_image_size", dict(bounding_boxes={"boxes": np.zeros((3, 4))}, height=5, width=5,
                                bounding_box_format="xywh"), NotImplementedError),
    ("crop", dict(boxes=np.zeros((3, 4)), top=0, left=0, height=5, width=5,
                  bounding_box_format="yxyx"), NotImplementedError),
    ("pad", dict(boxes=np.zeros((3, 4)), top=0, left=0, bounding_box_format="xywh"),
     NotImplementedError),
    ("compute_iou", dict(boxes1=np.zeros((4,)), boxes2=np.zeros((3, 4)), bounding_box_format="xyxy"),
     ValueError),
    ("compute_iou", dict(boxes1=np.zeros((3, 4)), boxes2=np.zeros((3, 4)),
                         bounding_box_format="rel_xyxy"), ValueError),
    ("compute_ciou", dict(boxes1=np.zeros((3, 4)), boxes2=np.zeros((3, 4)),
                          bounding_box_format="rel_xyxy", image_shape=(5, 5, 3)), ValueError),
    ("encode_box_to_deltas", dict(anchors=np.zeros((3, 4)), boxes=np.zeros((3, 4)), anchor_format="xyxy",
                                  box_format="xyxy", variance=[1, 1, 1]), ValueError),
    ("encode_box_to_deltas", dict(anchors=np.zeros((3, 4)), boxes=np.zeros((3, 4)), anchor_format="xyxy",
                                  box_format="xyxy", encoding_format="xyxy"), ValueError),
    ("decode_deltas_to_boxes", dict(anchors=np.zeros((3, 4)), boxes_delta=np.zeros((3, 4)),
                                    anchor_format="xyxy", box_format="xyxy", encoded_format="xywh"),
     ValueError),
]


@pytest.mark.parametrize("name, kwargs, error", BAD_CALLS,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(BAD_CALLS)])
def test_errors_as_keras(name, kwargs, error):
    with pytest.raises(error):
        getattr(KB, name)(**kwargs)
    with pytest.raises(error, match=name):
        getattr(SB, name)(**kwargs)
