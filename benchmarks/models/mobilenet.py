"""MobileNet-v1 and MobileNet-v2 (width 1.0, 224x224), as trained in TensorFlow: SAME padding
(asymmetric on stride-2 layers), BatchNorm epsilon 1e-3, ReLU6 exported as Clip(0, 6).
The v1 trunk is shared with SSD-MobileNet-v1.
"""

from __future__ import annotations

import onnx

from .graph import GraphBuilder, Tensor
from .inputs import calibration_images

TF_BN_EPS = 1e-3

# MobileNet-v1 separable layers 1..13: (pointwise channels, depthwise stride)
V1_LAYERS = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)  # fmt: skip

# MobileNet-v2 inverted residual stages: (expansion t, channels c, repeats n, stride s)
V2_STAGES = (
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
    (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
)  # fmt: skip


def unit(
    g: GraphBuilder,
    x: Tensor,
    out_ch: int,
    k: int,
    stride: int,
    name: str,
    *,
    depthwise: bool = False,
    act: str | None = "relu6",
    gamma: tuple[float, float] = (0.6, 1.4),
) -> Tensor:
    """Conv-BN-ReLU6 named after the TF-slim layer (``<name>``, ``<name>.BatchNorm``)."""
    return g.conv_bn_act(
        x,
        out_ch,
        k,
        stride,
        "same",
        group=x.channels if depthwise else 1,
        act=act,
        gamma=gamma,
        conv=name,
        bn=f"{name}.BatchNorm",
        act_name=f"{name}.Relu6" if act else None,
    )


def mobilenet_v1_trunk(g: GraphBuilder, image: Tensor) -> list[Tensor]:
    """Conv2d_0 and the 13 separable layers; returns every pointwise output."""
    x = unit(g, image, 32, 3, 2, "Conv2d_0")
    taps = []
    for i, (ch, stride) in enumerate(V1_LAYERS, start=1):
        x = unit(g, x, x.channels, 3, stride, f"Conv2d_{i}_depthwise", depthwise=True)
        x = unit(g, x, ch, 1, 1, f"Conv2d_{i}_pointwise")
        taps.append(x)
    return taps


def inverted_residual(g: GraphBuilder, x: Tensor, t: int, out_ch: int, stride: int) -> Tensor:
    y = x
    if t != 1:
        y = unit(g, y, x.channels * t, 1, 1, "expand")
    y = unit(g, y, y.channels, 3, stride, "depthwise", depthwise=True)
    # The linear bottleneck of a residual block gets a smaller BN scale, as in trained
    # networks, so the residual stream stays in range.
    residual = stride == 1 and x.channels == out_ch
    y = unit(g, y, out_ch, 1, 1, "project", act=None, gamma=(0.2, 0.6) if residual else (0.6, 1.4))
    return g.add(y, x, name="add") if residual else y


def _classifier(g: GraphBuilder, x: Tensor, num_classes: int) -> None:
    x = g.flatten(g.global_avg_pool(x, name="Logits.AvgPool"), name="Logits.Flatten")
    g.output(g.gemm(x, num_classes, classifier=True, name="Logits.fc"), "logits")


def _image_input(g: GraphBuilder, name: str, seed: int, size: int) -> Tensor:
    calib = calibration_images(name, seed, 16, (160, 160), "imagenet")
    return g.input("input", (1, 3, size, size), calib=calib)


def build_mobilenet_v1(name: str, seed: int = 0, num_classes: int = 1000) -> onnx.ModelProto:
    g = GraphBuilder(name, seed, bn_eps=TF_BN_EPS)
    with g.scope("MobilenetV1"):
        x = mobilenet_v1_trunk(g, _image_input(g, name, seed, 224))[-1]
        _classifier(g, x, num_classes)
    return g.build("MobileNet-v1 1.0/224, seeded random weights")


def build_mobilenet_v2(name: str, seed: int = 0, num_classes: int = 1000) -> onnx.ModelProto:
    g = GraphBuilder(name, seed, bn_eps=TF_BN_EPS)
    with g.scope("MobilenetV2"):
        x = unit(g, _image_input(g, name, seed, 224), 32, 3, 2, "Conv")
        block = 0
        for t, c, n, s in V2_STAGES:
            for i in range(n):
                with g.scope(f"expanded_conv_{block}" if block else "expanded_conv"):
                    x = inverted_residual(g, x, t, c, s if i == 0 else 1)
                block += 1
        x = unit(g, x, 1280, 1, 1, "Conv_1")
        _classifier(g, x, num_classes)
    return g.build("MobileNet-v2 1.0/224, seeded random weights")
