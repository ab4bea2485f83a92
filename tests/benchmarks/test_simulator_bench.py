"""The simulator benchmark's program: ResNet50 layer shapes tiled over slices, bit-exact with
onnxruntime on a few layers of each kind (3x3, strided, 1x1 projection, the 7x7 stem)."""

from __future__ import annotations

import pytest

from benchmarks.simulator import choose_tiling, make_data, measure, resnet50_convs
from furiosa.backend.warboy.target import TARGETS


def test_53_convolutions_of_resnet50() -> None:
    layers = resnet50_convs()
    assert len(layers) == 53
    assert 4.0e9 < sum(la.macs for la in layers) < 4.2e9  # ResNet50-v1.5: about 4.1 GMAC
    for t in TARGETS.values():
        for la in layers:
            tl = choose_tiling(la, t)
            assert tl.hs * tl.cs <= t.slices and tl.footprint <= t.sram_per_slice


@pytest.mark.parametrize("target", list(TARGETS.values()), ids=lambda t: t.name)
def test_tiled_layers_match_onnxruntime(target) -> None:  # type: ignore[no-untyped-def]
    layers = resnet50_convs()
    chosen = [la for la in layers if la.name in
              ("res2a_branch2b", "res3a_branch1", "res4a_branch2b", "res5c_branch2a")]
    result = measure(chosen, make_data(chosen, 1), target, repeat=1)
    assert result["outputs_mismatched"] == 0
    assert 0 < float(result["mac_utilisation"]) <= 1
