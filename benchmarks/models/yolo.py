"""YOLOv5s (v6.x layout, 640x640, 80 COCO classes) as ultralytics exports it to ONNX.

Conv = Conv-BN-SiLU (SiLU as Sigmoid * Mul), C3 blocks, SPPF with chained 5x5 MaxPools,
nearest Resize x2, Concat on channels, and the Detect head with its grid decoding
(Reshape / Transpose / Sigmoid / Split / Mul / Add / Pow / Concat) into [1, 25200, 85].
"""

from __future__ import annotations

import math

import numpy as np
import onnx

from .graph import GraphBuilder, Tensor
from .inputs import calibration_images

SIZE = 640
CALIB_SIZE = 320  # BN statistics do not depend on the input size; a quarter of the work
CLASSES = 80
YOLO_BN_EPS = 1e-3
DEPTH_MULTIPLE, WIDTH_MULTIPLE = 0.33, 0.50
STRIDES = (8, 16, 32)
ANCHORS = (
    ((10, 13), (16, 30), (33, 23)),
    ((30, 61), (62, 45), (59, 119)),
    ((116, 90), (156, 198), (373, 326)),
)


def _ch(c: int) -> int:
    return math.ceil(c * WIDTH_MULTIPLE / 8) * 8


def _n(n: int) -> int:
    return max(round(n * DEPTH_MULTIPLE), 1)


def conv(
    g: GraphBuilder, x: Tensor, c: int, k: int, s: int = 1, p: int | None = None, *, name: str
) -> Tensor:
    """ultralytics Conv: Conv2d(pad k//2 unless given) -> BatchNorm2d -> SiLU."""
    with g.scope(name):
        pad = "auto" if p is None else p
        return g.conv_bn_act(x, c, k, s, pad, act="silu", conv="conv", bn="bn", act_name="act")


def c3(g: GraphBuilder, x: Tensor, c: int, n: int, shortcut: bool, *, name: str) -> Tensor:
    hidden = c // 2
    with g.scope(name):
        a = conv(g, x, hidden, 1, name="cv1")
        b = conv(g, x, hidden, 1, name="cv2")
        for i in range(n):
            with g.scope(f"m.{i}"):
                y = conv(g, conv(g, a, hidden, 1, name="cv1"), hidden, 3, name="cv2")
                a = g.add(a, y) if shortcut else y
        return conv(g, g.concat([a, b], 1), c, 1, name="cv3")


def sppf(g: GraphBuilder, x: Tensor, c: int, *, name: str) -> Tensor:
    with g.scope(name):
        x = conv(g, x, x.channels // 2, 1, name="cv1")
        pools = [x]
        for _ in range(3):
            pools.append(g.maxpool(pools[-1], 5, 1, 2, name="m"))
        return conv(g, g.concat(pools, 1), c, 1, name="cv2")


def detect(g: GraphBuilder, features: list[Tensor]) -> Tensor:
    """Detect head in export mode: conv, reshape to (1, 3, 85, ny, nx), decode boxes."""
    no = CLASSES + 5
    outs = []
    with g.scope("model.24"):
        for i, (f, stride, anchors) in enumerate(zip(features, STRIDES, ANCHORS, strict=True)):
            ny, nx = f.shape[2:]
            # Trained-detector priors (ultralytics _initialize_biases): few objects per cell.
            prior = np.zeros(no)
            prior[4] = math.log(8 / (SIZE / stride) ** 2)
            prior[5:] = math.log(0.6 / (CLASSES - 0.99))
            y = g.conv(
                f, 3 * no, 1, gain=1.0, center=True, bias_init=np.tile(prior, 3), name=f"m.{i}"
            )
            y = g.transpose(g.reshape(y, (1, 3, no, ny, nx)), (0, 1, 3, 4, 2))
            xy, wh, conf = g.split(g.unary("Sigmoid", y), [2, 2, CLASSES + 1], axis=4)
            gy, gx = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
            grid = np.broadcast_to(np.stack([gx, gy], -1) - 0.5, (1, 3, ny, nx, 2))
            anchor_grid = np.broadcast_to(
                np.asarray(anchors, np.float32)[None, :, None, None, :], (1, 3, ny, nx, 2)
            )
            xy = g.mul(
                g.add(g.mul(xy, np.float32(2.0)), grid.astype(np.float32)), np.float32(stride)
            )
            wh = g.binary("Pow", g.mul(wh, np.float32(2.0)), np.float32(2.0))
            wh = g.mul(wh, np.ascontiguousarray(anchor_grid))
            y = g.concat([xy, wh, conf], 4)
            outs.append(g.reshape(y, (1, 3 * ny * nx, no)))
        return g.concat(outs, 1)


def build_yolov5s(name: str, seed: int = 0) -> onnx.ModelProto:
    g = GraphBuilder(name, seed, bn_eps=YOLO_BN_EPS)
    calib = calibration_images(name, seed, 2, (CALIB_SIZE, CALIB_SIZE), "unit")
    x = g.input("images", (1, 3, SIZE, SIZE), calib=calib)
    # Backbone (layer indices follow yolov5s.yaml)
    x = conv(g, x, _ch(64), 6, 2, 2, name="model.0")
    x = conv(g, x, _ch(128), 3, 2, name="model.1")
    x = c3(g, x, _ch(128), _n(3), True, name="model.2")
    x = conv(g, x, _ch(256), 3, 2, name="model.3")
    p3 = c3(g, x, _ch(256), _n(6), True, name="model.4")
    x = conv(g, p3, _ch(512), 3, 2, name="model.5")
    p4 = c3(g, x, _ch(512), _n(9), True, name="model.6")
    x = conv(g, p4, _ch(1024), 3, 2, name="model.7")
    x = c3(g, x, _ch(1024), _n(3), True, name="model.8")
    x = sppf(g, x, _ch(1024), name="model.9")
    # Head (PANet)
    h10 = conv(g, x, _ch(512), 1, name="model.10")
    x = g.concat([g.resize_nearest(h10, 2, name="model.11"), p4], 1, name="model.12")
    x = c3(g, x, _ch(512), _n(3), False, name="model.13")
    h14 = conv(g, x, _ch(256), 1, name="model.14")
    x = g.concat([g.resize_nearest(h14, 2, name="model.15"), p3], 1, name="model.16")
    out_p3 = c3(g, x, _ch(256), _n(3), False, name="model.17")
    x = g.concat([conv(g, out_p3, _ch(256), 3, 2, name="model.18"), h14], 1, name="model.19")
    out_p4 = c3(g, x, _ch(512), _n(3), False, name="model.20")
    x = g.concat([conv(g, out_p4, _ch(512), 3, 2, name="model.21"), h10], 1, name="model.22")
    out_p5 = c3(g, x, _ch(1024), _n(3), False, name="model.23")
    g.output(detect(g, [out_p3, out_p4, out_p5]), "output0")
    return g.build("YOLOv5s v6 640x640, seeded random weights")
