"""SSD detectors of MLPerf Inference Edge.

* SSD-MobileNet-v1 (300x300, COCO 90 classes + background): TF object-detection-API
  ``ssd_mobilenet_v1_coco`` — MobileNet-v1 trunk tapped at Conv2d_11 (19x19) and Conv2d_13
  (10x10), four extra 1x1/3x3-s2 feature layers, 1x1 box and class predictors, 1917 anchors.
  Optionally followed by the post-processing graph (sigmoid scores, box decoding against the
  anchors, TopK pre-selection, NonMaxSuppression, Gather) that runs on the host.
* SSD-ResNet34 (1200x1200, COCO 80 classes + background): the MLPerf reference model —
  ResNet-34 up to layer3 with layer3 kept at stride 8, five extra blocks with biased convs,
  3x3 stride-3 heads, 15130 anchors.
"""

from __future__ import annotations

import math

import numpy as np
import onnx

from .graph import FLOAT, INT64, GraphBuilder, Tensor
from .inputs import calibration_images
from .mobilenet import TF_BN_EPS, mobilenet_v1_trunk, unit
from .resnet import stage, stem

# --------------------------------------------------------------------- SSD-MobileNet-v1
SSD_MOBILENET_SIZE = 300
SSD_MOBILENET_CLASSES = 91  # 90 COCO categories + background
# Extra feature layers after Conv2d_13: (1x1 channels, 3x3 stride-2 channels)
SSD_MOBILENET_EXTRAS = ((256, 512), (128, 256), (128, 256), (64, 128))
# TF anchor generator: 3 boxes on the 19x19 layer (reduce_boxes_in_lowest_layer), 6 elsewhere.
SSD_MOBILENET_ANCHORS = (3, 6, 6, 6, 6, 6)
# Class logit bias of a trained detector: most anchors are background.
CLASS_PRIOR = 0.02
# Post-processing thresholds of the MLPerf SSD-MobileNet configuration.
PRE_NMS_TOP_K = 300
NMS_MAX_PER_CLASS = 100
NMS_IOU = 0.6
NMS_SCORE = 0.3
BOX_CODER_SCALES = (10.0, 10.0, 5.0, 5.0)  # y, x, h, w


def ssd_anchors(grids: list[int], min_scale: float = 0.2, max_scale: float = 0.95) -> np.ndarray:
    """TF ``multiple_grid_anchor_generator`` anchors as [N, 4] (ycenter, xcenter, h, w)."""
    n = len(grids)
    scales = [min_scale + (max_scale - min_scale) * i / (n - 1) for i in range(n)] + [1.0]
    boxes = []
    for i, size in enumerate(grids):
        if i == 0:
            shapes = [(0.1, 1.0), (scales[0], 2.0), (scales[0], 0.5)]
        else:
            shapes = [(scales[i], r) for r in (1.0, 2.0, 0.5, 3.0, 1.0 / 3.0)]
            shapes.append((math.sqrt(scales[i] * scales[i + 1]), 1.0))
        centers = (np.arange(size) + 0.5) / size
        cy, cx = np.meshgrid(centers, centers, indexing="ij")
        hw = np.array([(s / math.sqrt(r), s * math.sqrt(r)) for s, r in shapes])
        grid = np.stack([cy, cx], axis=-1)[:, :, None, :]  # H, W, 1, 2
        full = (size, size, len(shapes), 2)
        a = np.concatenate([np.broadcast_to(grid, full), np.broadcast_to(hw, full)], axis=-1)
        boxes.append(a.reshape(-1, 4))
    return np.concatenate(boxes).astype(np.float32)


def _head_outputs(
    g: GraphBuilder, features: list[Tensor], anchors: tuple[int, ...], classes: int
) -> tuple[Tensor, Tensor]:
    """1x1 box/class predictors, NCHW -> NHWC -> [1, H*W*A, k] per level, concatenated."""
    box_parts, class_parts = [], []
    prior = np.log(CLASS_PRIOR / (1.0 - CLASS_PRIOR))
    for i, (f, a) in enumerate(zip(features, anchors, strict=True)):
        with g.scope(f"BoxPredictor_{i}"):
            box = g.conv(f, a * 4, 1, bias=True, gain=1.0, center=True, name="BoxEncodingPredictor")
            bias = np.tile(np.r_[-prior, np.full(classes - 1, prior)], a)
            cls = g.conv(
                f, a * classes, 1, gain=1.0, center=True, bias_init=bias, name="ClassPredictor"
            )
            box = g.reshape(g.transpose(box, (0, 2, 3, 1)), (1, -1, 4))
            cls = g.reshape(g.transpose(cls, (0, 2, 3, 1)), (1, -1, classes))
        box_parts.append(box)
        class_parts.append(cls)
    return g.concat(box_parts, 1, name="concat_boxes"), g.concat(
        class_parts, 1, name="concat_classes"
    )


def _postprocess(g: GraphBuilder, boxes: Tensor, logits: Tensor, anchors: np.ndarray) -> None:
    """Decode boxes, score with sigmoid, pre-select with TopK, then per-class NMS."""
    n, classes = anchors.shape[0], logits.shape[2]
    sy, sx, sh, sw = BOX_CODER_SCALES
    with g.scope("postprocess"):
        scores = g.unary("Sigmoid", logits, name="scores")
        rel_yx, rel_hw = g.split(boxes, [2, 2], axis=2, name="split_encodings")
        anchor_yx, anchor_hw = anchors[None, :, :2], anchors[None, :, 2:]
        center = g.add(g.mul(rel_yx, anchor_hw / np.array([sy, sx])), anchor_yx, name="center")
        size = g.mul(
            g.unary("Exp", g.mul(rel_hw, 1.0 / np.array([[[sh, sw]]]))), anchor_hw, name="size"
        )
        half = g.mul(size, np.float32(0.5), name="half_size")
        corners = g.concat([g.binary("Sub", center, half), g.add(center, half)], 2, name="boxes")
        # Background is class 0; NMS runs on the 90 object classes.
        starts, ends, axes = (g.const(np.array([v], np.int64)) for v in (1, classes, 2))
        objects = g.op("Slice", [scores, starts, ends, axes], (1, n, classes - 1), name="objects")
        best = g.op("ReduceMax", [objects], (1, n), name="best_score", axes=[2], keepdims=0)
        k = g.const(np.array([PRE_NMS_TOP_K], np.int64))
        _, top = g.op_multi(
            "TopK", [best, k], [(1, PRE_NMS_TOP_K)] * 2, name="topk", dtypes=[FLOAT, INT64], axis=1
        )
        top = g.reshape(top, (PRE_NMS_TOP_K,), name="topk_indices")
        cand_boxes = g.op(
            "Gather", [corners, top], (1, PRE_NMS_TOP_K, 4), name="cand_boxes", axis=1
        )
        cand_scores = g.op(
            "Gather", [objects, top], (1, PRE_NMS_TOP_K, classes - 1), name="cand_scores", axis=1
        )
        cand_scores = g.transpose(cand_scores, (0, 2, 1), name="scores_by_class")
        nms_args = [
            g.const(np.array([NMS_MAX_PER_CLASS], np.int64)),
            g.const(np.array([NMS_IOU], np.float32)),
            g.const(np.array([NMS_SCORE], np.float32)),
        ]
        selected = g.op(
            "NonMaxSuppression",
            [cand_boxes, cand_scores, *nms_args],
            (-1, 3),
            name="nms",
            dtype=INT64,
        )
        cls_idx = g.op(
            "Gather",
            [selected, g.const(np.int64(1))],
            (-1,),
            name="class_index",
            dtype=INT64,
            axis=1,
        )
        box_idx = g.op(
            "Gather", [selected, g.const(np.int64(2))], (-1,), name="box_index", dtype=INT64, axis=1
        )
        det_boxes = g.op("Gather", [cand_boxes, box_idx], (1, -1, 4), name="det_boxes", axis=1)
        det_scores = g.op("GatherND", [cand_scores, selected], (-1,), name="det_scores")
        det_classes = g.op(
            "Add", [cls_idx, g.const(np.int64(1))], (-1,), name="det_classes", dtype=INT64
        )
    g.output(det_boxes, "detection_boxes")
    g.output(det_scores, "detection_scores")
    g.output(det_classes, "detection_classes")


def build_ssd_mobilenet_v1(
    name: str, seed: int = 0, *, postprocess: bool = False
) -> onnx.ModelProto:
    # Both variants share the network weights: seed from the base model's name.
    g = GraphBuilder("ssd_mobilenet_v1", seed, bn_eps=TF_BN_EPS)
    g.name = name
    size = SSD_MOBILENET_SIZE
    calib = calibration_images("ssd_mobilenet_v1", seed, 16, (size, size), "minus_one_one")
    image = g.input("image", (1, 3, size, size), calib=calib)
    with g.scope("FeatureExtractor.MobilenetV1"):
        taps = mobilenet_v1_trunk(g, image)
        features = [taps[10], taps[12]]
        x = taps[12]
        for i, (c1, c3) in enumerate(SSD_MOBILENET_EXTRAS, start=2):
            x = unit(g, x, c1, 1, 1, f"Conv2d_13_pointwise_1_Conv2d_{i}_1x1_{c1}")
            x = unit(g, x, c3, 3, 2, f"Conv2d_13_pointwise_2_Conv2d_{i}_3x3_s2_{c3}")
            features.append(x)
    boxes, logits = _head_outputs(g, features, SSD_MOBILENET_ANCHORS, SSD_MOBILENET_CLASSES)
    if postprocess:
        _postprocess(g, boxes, logits, ssd_anchors([f.shape[2] for f in features]))
        doc = "SSD-MobileNet-v1 300x300 with detection post-processing, seeded random weights"
    else:
        g.output(boxes, "box_encodings")
        g.output(logits, "class_logits")
        doc = "SSD-MobileNet-v1 300x300 (network up to the box/class heads), seeded random weights"
    return g.build(doc)


# ------------------------------------------------------------------------- SSD-ResNet34
SSD_RESNET34_SIZE = 1200
SSD_RESNET34_CLASSES = 81  # 80 COCO categories + background
# Extra blocks: (1x1 channels, 3x3 output channels, 3x3 stride, 3x3 padding)
SSD_RESNET34_EXTRAS = (
    (256, 512, 2, 1),
    (256, 512, 2, 1),
    (128, 256, 2, 1),
    (128, 256, 2, 0),
    (128, 256, 1, 0),
)
SSD_RESNET34_ANCHORS = (4, 6, 6, 6, 4, 4)
SSD_RESNET34_HEAD_STRIDE = 3
# Calibration images are smaller than the model input (BN statistics do not depend on size);
# 448 is the smallest size that survives the unpadded extra blocks.
SSD_RESNET34_CALIB_SIZE = 448


def build_ssd_resnet34(name: str, seed: int = 0) -> onnx.ModelProto:
    g = GraphBuilder(name, seed)
    size, calib_size = SSD_RESNET34_SIZE, SSD_RESNET34_CALIB_SIZE
    calib = calibration_images(name, seed, 2, (calib_size, calib_size), "imagenet")
    image = g.input("image", (1, 3, size, size), calib=calib)
    with g.scope("model"):
        x = stem(g, image)
        x = stage(g, x, 1, "basic", 3, 64, 1)
        x = stage(g, x, 2, "basic", 4, 128, 2)
        # MLPerf keeps conv4_x (layer3) at stride 8 for the 1200x1200 input.
        x = stage(g, x, 3, "basic", 6, 256, 1)
    features = [x]
    for i, (c1, c3, stride, pad) in enumerate(SSD_RESNET34_EXTRAS):
        with g.scope(f"additional_blocks.{i}"):
            x = g.act(g.conv(x, c1, 1, bias=True, name="0"), "relu", name="1")
            x = g.act(g.conv(x, c3, 3, stride, pad, bias=True, name="2"), "relu", name="3")
        features.append(x)
    locs, confs = [], []
    for i, (f, a) in enumerate(zip(features, SSD_RESNET34_ANCHORS, strict=True)):
        stride = SSD_RESNET34_HEAD_STRIDE
        loc = g.conv(f, a * 4, 3, stride, 1, gain=1.0, center=True, name=f"loc.{i}")
        conf = g.conv(
            f, a * SSD_RESNET34_CLASSES, 3, stride, 1, gain=1.0, center=True, name=f"conf.{i}"
        )
        locs.append(g.reshape(loc, (1, 4, -1)))
        confs.append(g.reshape(conf, (1, SSD_RESNET34_CLASSES, -1)))
    g.output(g.concat(locs, 2, name="concat_locs"), "locs")
    g.output(g.concat(confs, 2, name="concat_confs"), "confs")
    return g.build(
        "SSD-ResNet34 1200x1200 (MLPerf reference network up to the heads), seeded random weights"
    )
