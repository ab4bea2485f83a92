"""ResNet-18/34/50/101/152 as defined by torchvision (v1.5: the stride sits on the 3x3 conv of a
bottleneck, which is the variant MLPerf uses), and the ResNet-34 trunk of MLPerf's SSD-ResNet34.
"""

from __future__ import annotations

import onnx

from .graph import GraphBuilder, Tensor
from .inputs import calibration_images

# name -> (block type, blocks per stage)
DEPTHS: dict[int, tuple[str, tuple[int, int, int, int]]] = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
WIDTHS = (64, 128, 256, 512)

# The last BN of a residual branch gets a smaller scale, as in trained ResNets, so the
# residual stream grows slowly with depth.
_LAST_GAMMA = (0.1, 0.3)


def basic_block(g: GraphBuilder, x: Tensor, width: int, stride: int) -> Tensor:
    y = g.conv_bn_act(x, width, 3, stride, conv="conv1", bn="bn1", act_name="relu1")
    y = g.conv_bn_act(y, width, 3, 1, act=None, gamma=_LAST_GAMMA, conv="conv2", bn="bn2")
    return _residual(g, x, y, width, stride)


def bottleneck(g: GraphBuilder, x: Tensor, width: int, stride: int) -> Tensor:
    y = g.conv_bn_act(x, width, 1, 1, conv="conv1", bn="bn1", act_name="relu1")
    y = g.conv_bn_act(y, width, 3, stride, conv="conv2", bn="bn2", act_name="relu2")
    y = g.conv_bn_act(y, width * 4, 1, 1, act=None, gamma=_LAST_GAMMA, conv="conv3", bn="bn3")
    return _residual(g, x, y, width * 4, stride)


def _residual(g: GraphBuilder, x: Tensor, y: Tensor, out_ch: int, stride: int) -> Tensor:
    if stride != 1 or x.channels != out_ch:
        with g.scope("downsample"):
            x = g.conv_bn_act(x, out_ch, 1, stride, act=None, conv="0", bn="1")
    return g.act(g.add(y, x), "relu", name="relu")


def stem(g: GraphBuilder, image: Tensor) -> Tensor:
    x = g.conv_bn_act(image, 64, 7, 2, 3, conv="conv1", bn="bn1", act_name="relu")
    return g.maxpool(x, 3, 2, 1)


def stage(
    g: GraphBuilder, x: Tensor, index: int, kind: str, blocks: int, width: int, stride: int
) -> Tensor:
    block = bottleneck if kind == "bottleneck" else basic_block
    for i in range(blocks):
        with g.scope(f"layer{index}.{i}"):
            x = block(g, x, width, stride if i == 0 else 1)
    return x


def build_resnet(name: str, depth: int, seed: int = 0, num_classes: int = 1000) -> onnx.ModelProto:
    g = GraphBuilder(name, seed)
    kind, blocks = DEPTHS[depth]
    calib = calibration_images(name, seed, 16, (160, 160), "imagenet")
    x = stem(g, g.input("input", (1, 3, 224, 224), calib=calib))
    for i, (n, width) in enumerate(zip(blocks, WIDTHS, strict=True)):
        x = stage(g, x, i + 1, kind, n, width, 1 if i == 0 else 2)
    x = g.flatten(g.global_avg_pool(x))
    g.output(g.gemm(x, num_classes, classifier=True, name="fc"), "logits")
    return g.build(f"ResNet-{depth} (torchvision layout, v1.5 strides), seeded random weights")
