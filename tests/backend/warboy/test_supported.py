"""The supported-operator table: every condition on both sides of its boundary, the target
description's numbers, and the generated docs page."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from furiosa.backend.warboy.supported import check_operator, render_markdown
from furiosa.backend.warboy.target import WARBOY, WARBOY_2PE, UnknownTargetError, get_target
from furiosa.ir.core import Operation, Value
from furiosa.ir.dialects.onnx import elementwise as ew
from furiosa.ir.dialects.onnx import nn, reduce, tensor
from furiosa.ir.dialects.onnx.base import Constant
from furiosa.ir.module import Function
from furiosa.ir.types import tensor as ttype

DOCS = Path(__file__).parents[3] / "docs" / "supported-operators.md"


def value(shape: tuple[int, ...], m: Function | None = None) -> Value:
    return (m or Function()).add_input("x", ttype(shape, "f32"))


def const(m: Function, arr: np.ndarray) -> Value:
    return m.add(Constant.of(arr)).result


def verdict(op: Operation):
    return check_operator(op, WARBOY)


@pytest.mark.parametrize(("group", "ok"), [(128, True), (129, False)])
def test_conv_group(group: int, ok: bool) -> None:
    m = Function()
    x = value((1, 2 * group, 8, 8), m)  # two input channels per group: grouped, not depthwise
    w = const(m, np.zeros((group, 2, 3, 3), np.float32))
    v = verdict(nn.Conv.build(x, w, group=group))
    assert v.supported is ok
    if not ok:
        assert v.reason == "Conv with group 129 > 128 cannot be accelerated"
        assert "128" in v.fix


def test_depthwise_conv_is_not_limited_by_group() -> None:
    m = Function()
    x = value((1, 1024, 8, 8), m)
    w = const(m, np.zeros((1024, 1, 3, 3), np.float32))
    assert verdict(nn.Conv.build(x, w, group=1024)).supported


@pytest.mark.parametrize(("dilation", "ok"), [(12, True), (13, False)])
def test_conv_dilation(dilation: int, ok: bool) -> None:
    m = Function()
    x = value((1, 3, 64, 64), m)
    w = const(m, np.zeros((4, 3, 3, 3), np.float32))
    v = verdict(nn.Conv.build(x, w, dilations=[dilation, dilation]))
    assert v.supported is ok
    if not ok:
        assert v.reason == "Conv with dilation 13 > 12 cannot be accelerated"


@pytest.mark.parametrize(("batch", "ok"), [(2, True), (3, False)])
def test_softmax_batch(batch: int, ok: bool) -> None:
    v = verdict(reduce.Softmax.build(value((batch, 10))))
    assert v.supported is ok
    if not ok:
        assert v.reason == "Softmax with batch 3 > 2 cannot be accelerated" and v.fix == "reduce the batch to 2"


@pytest.mark.parametrize(("batch", "p", "reason"), [
    (2, 2, None),
    (3, 2, "LpNormalization with batch 3 > 2 cannot be accelerated"),
    (1, 1, "LpNormalization with p = 1 cannot be accelerated; only p = 2"),
])
def test_lp_normalization(batch: int, p: int, reason: str | None) -> None:
    v = verdict(reduce.LpNormalization.build(value((batch, 8)), p=p))
    assert v.supported is (reason is None)
    assert v.reason == (reason or "")


@pytest.mark.parametrize(("axis", "role"), [(0, "batch"), (1, None), (2, None), (3, "width"), (-1, "width")])
def test_concat_axis(axis: int, role: str | None) -> None:
    m = Function()
    a = value((1, 4, 8, 8), m)
    v = verdict(tensor.Concat.build(a, a, axis=axis))
    assert v.supported is (role is None)
    if role:
        assert v.reason.startswith(f"Concat on the {role} axis (axis {axis % 4}) cannot be accelerated")


@pytest.mark.parametrize(("axis", "ok"), [(0, False), (1, True), (2, True), (3, False)])
def test_slice_axis(axis: int, ok: bool) -> None:
    m = Function()
    x = value((2, 4, 8, 8), m)
    i64 = lambda v: const(m, np.array(v, np.int64))  # noqa: E731
    op = tensor.Slice.build(x, i64([0]), i64([1]), i64([axis]))
    assert verdict(op).supported is ok


def test_slice_that_cuts_nothing_on_width_is_fine() -> None:
    m = Function()
    x = value((1, 4, 8, 8), m)
    i64 = lambda v: const(m, np.array(v, np.int64))  # noqa: E731
    op = tensor.Slice.build(x, i64([0, 0]), i64([2, 8]), i64([1, 3]))
    assert verdict(op).supported


@pytest.mark.parametrize(("pads", "ok"), [
    ([0, 1, 1, 1, 0, 1, 1, 1], True), ([1, 0, 0, 0, 0, 0, 0, 0], False),
])
def test_pad_axes(pads: list[int], ok: bool) -> None:
    m = Function()
    x = value((1, 4, 8, 8), m)
    v = verdict(tensor.Pad.build(x, const(m, np.array(pads, np.int64))))
    assert v.supported is ok
    if not ok:
        assert v.reason.startswith("Pad on the batch axis")


@pytest.mark.parametrize(("mode", "ok"), [("DCR", True), ("CRD", True)])
def test_depth_to_space_modes(mode: str, ok: bool) -> None:
    assert verdict(tensor.DepthToSpace.build(value((1, 8, 4, 4)), blocksize=2, mode=mode)).supported is ok


def test_space_to_depth() -> None:
    assert verdict(tensor.SpaceToDepth.build(value((1, 2, 4, 4)), blocksize=2)).supported


@pytest.mark.parametrize(("mode", "ok"), [("nearest", True), ("linear", True), ("cubic", False)])
def test_resize_modes(mode: str, ok: bool) -> None:
    m = Function()
    x = value((1, 3, 8, 8), m)
    scales = const(m, np.array([1, 1, 2, 2], np.float32))
    v = verdict(tensor.Resize.build(x, None, scales, mode=mode))
    assert v.supported is ok
    if not ok:
        assert v.reason == "Resize in cubic mode cannot be accelerated; only linear and nearest"


def batchnorm_after(m: Function, x: Value) -> Operation:
    c = [const(m, np.ones(4, np.float32)) for _ in range(4)]
    return reduce.BatchNormalization.build(x, *c)


def test_batchnorm_after_conv_only() -> None:
    m = Function()
    x = value((1, 3, 8, 8), m)
    conv = m.add(nn.Conv.build(x, const(m, np.zeros((4, 3, 1, 1), np.float32))))
    bn = m.add(batchnorm_after(m, conv.result))
    assert verdict(bn).supported
    relu = m.add(ew.Relu.build(conv.result))
    bn2 = batchnorm_after(m, relu.result)
    v = verdict(bn2)
    assert not v.supported and v.reason == "BatchNormalization not directly after a Conv cannot be accelerated"


def test_unknown_operator_reason() -> None:
    v = verdict(reduce.LogSoftmax.build(value((1, 10))))
    assert not v.supported and v.reason == "'LogSoftmax' cannot be accelerated yet"


def test_docs_page_is_current() -> None:
    assert DOCS.read_text() == render_markdown(), (
        "docs/supported-operators.md is stale: run "
        "python -m furiosa.backend.warboy.supported > docs/supported-operators.md")


# ---------------------------------------------------------------- the target description


def test_derived_figures_match_the_spec() -> None:
    assert WARBOY.macs_per_cycle == 8192 and WARBOY_2PE.macs_per_cycle == 16384
    assert WARBOY.sram_bytes == 16 * 2**20 and WARBOY_2PE.sram_bytes == 32 * 2**20
    assert round(WARBOY.peak_ops_per_second / 1e12, 1) == 32.8
    assert round(WARBOY_2PE.peak_ops_per_second / 1e12, 1) == 65.5
    assert WARBOY.device == "warboy(1)*1" and WARBOY_2PE.device == "warboy(2)*1"


def test_hash_is_stable_and_distinguishes_targets() -> None:
    from furiosa.backend.warboy.target import TargetSpec

    assert WARBOY.hash() == TargetSpec(name="warboy", pes=1, device="warboy(1)*1").hash()
    assert WARBOY.hash() != WARBOY_2PE.hash()
    assert len(WARBOY.hash()) == 64


def test_target_lookup() -> None:
    assert get_target("warboy-2pe") is WARBOY_2PE
    with pytest.raises(UnknownTargetError, match="unknown target NPU 'tpu' \\(known: warboy, warboy-2pe\\)"):
        get_target("tpu")


def test_target_docs_page_is_current() -> None:
    from furiosa.backend.warboy.target import render_markdown as render_target

    page = Path(__file__).parents[3] / "docs" / "target.md"
    assert page.read_text() == render_target(), (
        "docs/target.md is stale: run python -m furiosa.backend.warboy.target > docs/target.md")


def test_every_parameter_names_its_source() -> None:
    import attrs

    from furiosa.backend.warboy.target import TargetSpec

    for f in attrs.fields(TargetSpec):
        assert f.metadata.get("doc") and f.metadata.get("source"), f.name
