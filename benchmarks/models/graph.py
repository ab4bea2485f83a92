"""The graph builder shared by every architecture of the zoo.

``GraphBuilder`` emits ONNX opset-13 nodes through ``onnx.helper``.  Every tensor handle
carries its static shape and, for the convolutional part of a network, its value on a small
batch of seeded calibration images computed in float64 as the graph is assembled (see
``reference``).  That value is what makes seeded random weights behave: each
BatchNormalization takes the running statistics its input really has, as in a trained
network, so activations stay normalised however deep the network is, and prediction heads
can be centred on the features they actually receive.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from . import reference as ref

OPSET = 13
IR_VERSION = 8
PRODUCER_NAME = "furiosa-model-zoo"
PRODUCER_VERSION = "1.0"

# Share of a spatial kernel's energy in its smooth component, for kernels reading at most
# SMOOTH_MAX_CHANNELS channels (see GraphBuilder._kernel).
SMOOTH_ENERGY = 0.7
SMOOTH_MAX_CHANNELS = 3

FLOAT = TensorProto.FLOAT
INT64 = TensorProto.INT64

Padding = int | str | Sequence[int]


def seed_for(name: str, seed: int = 0) -> int:
    """The RNG seed of a model: a hash of its name, so models never share a stream."""
    digest = hashlib.sha256(f"{name}/{seed}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


@dataclass(frozen=True)
class Tensor:
    """A value in the graph under construction."""

    name: str
    shape: tuple[int, ...]
    dtype: int = FLOAT
    value: np.ndarray | None = None  # float64 calibration activations, batch-first

    @property
    def channels(self) -> int:
        return self.shape[1]


def conv_out(size: int, k: int, s: int, pad_begin: int, pad_end: int, dilation: int = 1) -> int:
    return (size + pad_begin + pad_end - dilation * (k - 1) - 1) // s + 1


def same_pads(size: int, k: int, s: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow 'SAME' padding: extra row/column goes at the end (bottom/right)."""
    out = -(-size // s)
    total = max((out - 1) * s + dilation * (k - 1) + 1 - size, 0)
    return total // 2, total - total // 2


class GraphBuilder:
    """Builds one ONNX model; every random draw comes from one generator seeded by name."""

    def __init__(self, name: str, seed: int = 0, *, bn_eps: float = 1e-5) -> None:
        self.name = name
        self.rng = np.random.default_rng(seed_for(name, seed))
        self.bn_eps = bn_eps
        self._nodes: list[onnx.NodeProto] = []
        self._inits: list[onnx.TensorProto] = []
        self._inputs: list[onnx.ValueInfoProto] = []
        self._outputs: list[onnx.ValueInfoProto] = []
        self._names: set[str] = set()
        self._scopes: list[str] = []
        self._consts: dict[tuple[int, tuple[int, ...], bytes], str] = {}

    # ----------------------------------------------------------------- naming
    @contextmanager
    def scope(self, name: str) -> Iterator[None]:
        """Prefix the names created inside with ``name.`` (PyTorch-style module paths)."""
        self._scopes.append(name)
        try:
            yield
        finally:
            self._scopes.pop()

    def unique(self, base: str, *, scoped: bool = True) -> str:
        name = ".".join([*self._scopes, base]) if scoped else base
        if name in self._names:
            i = 1
            while f"{name}_{i}" in self._names:
                i += 1
            name = f"{name}_{i}"
        self._names.add(name)
        return name

    # ------------------------------------------------------- graph interface
    def input(
        self,
        name: str,
        shape: Sequence[int],
        dtype: int = FLOAT,
        *,
        calib: np.ndarray | None = None,
    ) -> Tensor:
        """A graph input; ``calib`` is the calibration batch that flows through the builder."""
        self._names.add(name)
        self._inputs.append(helper.make_tensor_value_info(name, dtype, list(shape)))
        value = None if calib is None else np.asarray(calib, dtype=np.float64)
        return Tensor(name, tuple(shape), dtype, value)

    def output(self, t: Tensor, name: str | None = None) -> None:
        """Declare a graph output, renaming the tensor (call once the graph is complete)."""
        if name is not None and name != t.name:
            self._rename(t.name, name)
            t = Tensor(name, t.shape, t.dtype)
        dims: list[int | str] = [d if d >= 0 else f"{t.name}_dim{i}" for i, d in enumerate(t.shape)]
        self._outputs.append(helper.make_tensor_value_info(t.name, t.dtype, dims))

    def _rename(self, old: str, new: str) -> None:
        self._names.add(new)
        for node in self._nodes:
            for seq in (node.input, node.output):
                for i, v in enumerate(seq):
                    if v == old:
                        seq[i] = new

    def const(
        self, value: np.ndarray | float | int | Sequence[int], dtype: type | None = None
    ) -> str:
        """A non-trainable constant; identical constants are shared."""
        arr = np.asarray(value, dtype=dtype)
        if arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        key = (int(arr.dtype.num), arr.shape, arr.tobytes())
        if key not in self._consts:
            name = self.unique(f"const_{len(self._consts)}", scoped=False)
            self._inits.append(numpy_helper.from_array(np.require(arr, requirements="C"), name))
            self._consts[key] = name
        return self._consts[key]

    def _operand(self, v: Tensor | np.ndarray | float | int) -> tuple[str, tuple[int, ...]]:
        if isinstance(v, Tensor):
            return v.name, v.shape
        arr = np.asarray(v)
        if arr.dtype.kind == "f":
            arr = arr.astype(np.float32)
        return self.const(arr), arr.shape

    def node_name(self, base: str) -> str:
        """Reserve a node name; its parameters are then named ``<node>.weight`` etc."""
        return self.unique(base)

    def param(self, name: str, array: np.ndarray) -> str:
        """A trained parameter (weight, bias, BN statistics, embedding table), named exactly."""
        if name in self._names:
            raise ValueError(f"duplicate tensor name {name!r}")
        self._names.add(name)
        self._inits.append(numpy_helper.from_array(np.require(array, requirements="C"), name))
        return name

    def weight(self, base: str, array: np.ndarray) -> Tensor:
        """A trainable initializer named ``<scope>.<base>``, used directly as an operand."""
        name = self.unique(base)
        self._inits.append(numpy_helper.from_array(np.require(array, requirements="C"), name))
        return Tensor(name, tuple(array.shape))

    def op(
        self,
        op_type: str,
        inputs: Sequence[Tensor | str],
        shape: Sequence[int],
        *,
        name: str | None = None,
        node: str | None = None,
        dtype: int = FLOAT,
        value: np.ndarray | None = None,
        **attrs: object,
    ) -> Tensor:
        """Append a single-output node whose (static) output shape is ``shape``.

        ``name`` is a base made unique in the current scope; ``node`` an already reserved
        name.  The output tensor carries the node's name.
        """
        (out,) = self.op_multi(
            op_type, inputs, [shape], name=name, node=node, dtypes=[dtype], **attrs
        )
        return Tensor(out.name, out.shape, out.dtype, value)

    def op_multi(
        self,
        op_type: str,
        inputs: Sequence[Tensor | str],
        shapes: Sequence[Sequence[int]],
        *,
        name: str | None = None,
        node: str | None = None,
        dtypes: Sequence[int] | None = None,
        **attrs: object,
    ) -> list[Tensor]:
        node = node or self.unique(name or op_type.lower())
        if len(shapes) == 1:
            outs = [node]
        else:
            outs = [self.unique(f"{node}:{i}", scoped=False) for i in range(len(shapes))]
        in_names = [v.name if isinstance(v, Tensor) else v for v in inputs]
        kwargs = {k: v for k, v in attrs.items() if v is not None}
        self._nodes.append(helper.make_node(op_type, in_names, outs, name=node, **kwargs))
        dts = list(dtypes) if dtypes is not None else [FLOAT] * len(shapes)
        return [
            Tensor(o, tuple(int(d) for d in s), dt)
            for o, s, dt in zip(outs, shapes, dts, strict=True)
        ]

    def build(self, doc: str = "") -> onnx.ModelProto:
        graph = helper.make_graph(
            self._nodes, self.name, self._inputs, self._outputs, self._inits, doc_string=doc
        )
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            producer_name=PRODUCER_NAME,
            producer_version=PRODUCER_VERSION,
        )
        model.ir_version = IR_VERSION
        return model

    # ------------------------------------------------------- convolutions
    @staticmethod
    def _pads(
        padding: Padding, hw: tuple[int, int], k: tuple[int, int], stride: int, dilation: int
    ) -> tuple[int, int, int, int]:
        """ONNX pads (top, left, bottom, right) for a padding spec.

        "auto" is PyTorch's k//2 on every side, "same" TensorFlow's SAME (asymmetric when
        the total is odd, as in TF-trained models), "valid" none.
        """
        if padding == "auto":
            return (k[0] // 2 * dilation, k[1] // 2 * dilation) * 2
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            (t, b), (le, r) = (same_pads(hw[i], k[i], stride, dilation) for i in range(2))
            return (t, le, b, r)
        if isinstance(padding, int):
            return (padding,) * 4
        p = tuple(int(v) for v in padding)  # type: ignore[union-attr]
        if len(p) != 4:
            raise ValueError(f"padding must have 4 entries, got {p}")
        return p  # type: ignore[return-value]

    def _kernel(self, shape: tuple[int, int, int, int], gain: float) -> np.ndarray:
        """He-scaled random kernel (variance ``gain / fan_in`` per tap).

        Spatial kernels that see few input channels (depthwise, or the RGB stem) get a
        smooth component, as trained ones have: white-noise taps on a smooth input cancel
        most of the signal, and the network then amplifies rounding noise far more than
        a trained one does.  Kernels summing over many channels stay white (a smooth
        component there makes deep residual stacks heavy-tailed).
        """
        out_ch, cin, kh, kw = shape
        w = self.rng.standard_normal(shape)
        if kh * kw > 1 and cin <= SMOOTH_MAX_CHANNELS:
            prof = np.outer(np.hanning(kh + 2)[1:-1], np.hanning(kw + 2)[1:-1])
            prof *= math.sqrt(kh * kw / (prof * prof).sum())
            dc = self.rng.standard_normal((out_ch, cin, 1, 1)) * prof
            w = math.sqrt(1.0 - SMOOTH_ENERGY) * w + math.sqrt(SMOOTH_ENERGY) * dc
        return (w * math.sqrt(gain / (cin * kh * kw))).astype(np.float32)

    def conv(
        self,
        x: Tensor,
        out_ch: int,
        kernel: int | tuple[int, int],
        stride: int = 1,
        padding: Padding = "auto",
        *,
        group: int = 1,
        dilation: int = 1,
        bias: bool = False,
        gain: float = 2.0,
        bias_init: np.ndarray | None = None,
        center: bool = False,
        name: str = "conv",
    ) -> Tensor:
        """Conv with He-normal weights (variance ``gain / fan_in``).

        ``center`` subtracts the mean response to the calibration batch from the bias, as a
        trained head's bias roughly does, so outputs follow the input instead of a constant
        offset.
        """
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
        n, c, h, w = x.shape
        pads = self._pads(padding, (h, w), (kh, kw), stride, dilation)
        shape = (
            n,
            out_ch,
            conv_out(h, kh, stride, pads[0], pads[2], dilation),
            conv_out(w, kw, stride, pads[1], pads[3], dilation),
        )
        weight = self._kernel((out_ch, c // group, kh, kw), gain)
        b = np.zeros(out_ch) if bias_init is None else np.asarray(bias_init, dtype=np.float64)
        value = None
        if x.value is not None:
            # The calibration batch may be smaller than the model input: same-size pads
            # are recomputed for it.
            vpads = self._pads(padding, x.value.shape[2:], (kh, kw), stride, dilation)
            value = ref.conv2d(x.value, weight, stride, vpads, group, dilation)
            if center:
                b = b - ref.round_sig(value.mean(axis=(0, 2, 3)))
            value += b[None, :, None, None]
        elif center:
            raise ValueError("center=True needs a calibration value")
        node = self.node_name(name)
        inputs = [x.name, self.param(f"{node}.weight", weight)]
        if bias or center or bias_init is not None:
            inputs.append(self.param(f"{node}.bias", b.astype(np.float32)))
        attrs: dict[str, object] = {
            "kernel_shape": [kh, kw],
            "strides": [stride, stride],
            "pads": list(pads),
            "dilations": [dilation, dilation] if dilation != 1 else None,
            "group": group if group != 1 else None,
        }
        return self.op("Conv", inputs, shape, node=node, value=value, **attrs)

    def batchnorm(
        self, x: Tensor, *, gamma: tuple[float, float] = (0.6, 1.4), name: str = "bn"
    ) -> Tensor:
        """BatchNormalization whose running statistics are those of its calibration input.

        The learned scale is drawn from ``gamma`` and the shift in proportion to it, so a
        small-scale BN (the last one of a residual branch) does not pile offsets onto the
        residual stream.
        """
        if x.value is None:
            raise ValueError(f"{x.name}: BatchNormalization needs a calibration value")
        c = x.channels
        scale = self.rng.uniform(*gamma, size=c).astype(np.float32)
        shift = self.rng.normal(0.0, 0.1 * (gamma[0] + gamma[1]), size=c).astype(np.float32)
        mean, var = (a.astype(np.float32) for a in ref.batch_stats(x.value))
        node = self.node_name(name)
        inputs = [
            x.name,
            self.param(f"{node}.weight", scale),
            self.param(f"{node}.bias", shift),
            self.param(f"{node}.running_mean", mean),
            self.param(f"{node}.running_var", var),
        ]
        k = scale.astype(np.float64) / np.sqrt(var.astype(np.float64) + self.bn_eps)
        value = (x.value - mean[None, :, None, None]) * k[None, :, None, None]
        value += shift.astype(np.float64)[None, :, None, None]
        return self.op(
            "BatchNormalization", inputs, x.shape, node=node, value=value, epsilon=self.bn_eps
        )

    def act(self, x: Tensor, kind: str | None, *, name: str | None = None) -> Tensor:
        """Activation by name: relu, relu6 (Clip 0..6, as exporters emit it), silu, or None."""
        if kind is None:
            return x
        v = x.value
        if kind == "relu":
            value = None if v is None else np.maximum(v, 0.0)
            return self.op("Relu", [x], x.shape, name=name or "relu", value=value)
        if kind == "relu6":
            value = None if v is None else np.clip(v, 0.0, 6.0)
            lo, hi = self.const(np.float32(0.0)), self.const(np.float32(6.0))
            return self.op("Clip", [x, lo, hi], x.shape, name=name or "relu6", value=value)
        if kind == "silu":
            # SiLU as PyTorch exports it at opset 13: x * Sigmoid(x)
            value = None if v is None else v / (1.0 + np.exp(-v))
            s = self.op("Sigmoid", [x], x.shape, name=f"{name or 'act'}.sigmoid")
            return self.op("Mul", [x, s], x.shape, name=name or "act", value=value)
        raise ValueError(f"unknown activation {kind!r}")

    def conv_bn_act(
        self,
        x: Tensor,
        out_ch: int,
        kernel: int,
        stride: int = 1,
        padding: Padding = "auto",
        *,
        group: int = 1,
        act: str | None = "relu",
        gamma: tuple[float, float] = (0.6, 1.4),
        conv: str = "conv",
        bn: str = "bn",
        act_name: str | None = None,
    ) -> Tensor:
        """Conv (no bias) -> BatchNormalization -> activation: the unit of every CNN here."""
        y = self.conv(x, out_ch, kernel, stride, padding, group=group, name=conv)
        y = self.batchnorm(y, gamma=gamma, name=bn)
        return self.act(y, act, name=act_name)

    # ------------------------------------------------------------ pooling
    def maxpool(
        self, x: Tensor, kernel: int, stride: int, pad: int, *, name: str = "maxpool"
    ) -> Tensor:
        n, c, h, w = x.shape
        shape = (n, c, conv_out(h, kernel, stride, pad, pad), conv_out(w, kernel, stride, pad, pad))
        value = None if x.value is None else ref.maxpool2d(x.value, kernel, stride, pad)
        return self.op(
            "MaxPool",
            [x],
            shape,
            name=name,
            value=value,
            kernel_shape=[kernel, kernel],
            strides=[stride, stride],
            pads=[pad] * 4,
        )

    def global_avg_pool(self, x: Tensor, *, name: str = "avgpool") -> Tensor:
        n, c = x.shape[:2]
        value = None if x.value is None else x.value.mean(axis=(2, 3), keepdims=True)
        return self.op("GlobalAveragePool", [x], (n, c, 1, 1), name=name, value=value)

    def resize_nearest(self, x: Tensor, scale: int, *, name: str = "resize") -> Tensor:
        """Nearest upsampling as torch.nn.Upsample exports it at opset 13."""
        n, c, h, w = x.shape
        scales = self.const(np.asarray([1.0, 1.0, scale, scale], dtype=np.float32))
        value = None if x.value is None else ref.upsample_nearest(x.value, scale)
        return self.op(
            "Resize",
            [x, "", scales],
            (n, c, h * scale, w * scale),
            name=name,
            value=value,
            mode="nearest",
            coordinate_transformation_mode="asymmetric",
            nearest_mode="floor",
        )

    # ------------------------------------------------------- dense layers
    def gemm(
        self,
        x: Tensor,
        out_features: int,
        *,
        gain: float = 1.0,
        std: float | None = None,
        center: bool = False,
        classifier: bool = False,
        name: str = "fc",
    ) -> Tensor:
        """Gemm(x, W^T) + b as exported from a PyTorch Linear: W is [out, in].

        Weights have variance ``gain / fan_in`` unless ``std`` is given.  ``center``
        subtracts the calibration batch's mean response from the bias.  ``classifier``
        adds to W random combinations of the calibration batch's centred features: a
        trained head reads the directions its features vary in, while an isotropic
        random one mostly reads directions where only noise lives, which leaves its
        top-1 at the mercy of rounding.
        """
        n, k = x.shape
        weight = self.rng.standard_normal((out_features, k))
        weight *= math.sqrt(gain / k) if std is None else std
        bias = self.rng.normal(0.0, 0.01 if std is None else std, size=out_features)
        if (center or classifier) and x.value is None:
            raise ValueError("center / classifier need a calibration value")
        if classifier:
            feats = x.value - x.value.mean(axis=0)  # type: ignore[union-attr]
            feats /= np.sqrt((feats * feats).mean())
            mix = self.rng.standard_normal((out_features, feats.shape[0]))
            weight += math.sqrt(gain / feats.shape[0]) / math.sqrt(k) * (mix @ feats)
        weight = ref.round_sig(weight, 20).astype(np.float32)
        if center or classifier:
            response = x.value.mean(axis=0) @ weight.T.astype(np.float64)  # type: ignore[union-attr]
            bias = bias - ref.round_sig(response)
        node = self.node_name(name)
        inputs = [
            x.name,
            self.param(f"{node}.weight", weight),
            self.param(f"{node}.bias", bias.astype(np.float32)),
        ]
        return self.op("Gemm", inputs, (n, out_features), node=node, transB=1)

    def linear(
        self, x: Tensor, out_features: int, *, std: float = 0.02, name: str = "dense"
    ) -> Tensor:
        """MatMul + Add, the form transformer exporters emit: W is [in, out]."""
        k = x.shape[-1]
        node = self.node_name(name)
        weight = (self.rng.standard_normal((k, out_features)) * std).astype(np.float32)
        bias = (self.rng.standard_normal(out_features) * std).astype(np.float32)
        shape = (*x.shape[:-1], out_features)
        y = self.op("MatMul", [x, self.param(f"{node}.weight", weight)], shape, node=node)
        return self.op("Add", [y, self.param(f"{node}.bias", bias)], shape, name=f"{name}.bias_add")

    # ---------------------------------------------------------- elementwise
    def binary(
        self,
        op_type: str,
        a: Tensor | np.ndarray | float,
        b: Tensor | np.ndarray | float,
        *,
        name: str | None = None,
    ) -> Tensor:
        an, ash = self._operand(a)
        bn, bsh = self._operand(b)
        shape = tuple(np.broadcast_shapes(ash, bsh))
        value = None
        if isinstance(a, Tensor) and isinstance(b, Tensor) and a.value is not None:
            if b.value is not None and op_type in ("Add", "Mul"):
                value = a.value + b.value if op_type == "Add" else a.value * b.value
        return self.op(op_type, [an, bn], shape, name=name or op_type.lower(), value=value)

    def add(self, a: Tensor, b: Tensor | np.ndarray | float, *, name: str = "add") -> Tensor:
        return self.binary("Add", a, b, name=name)

    def mul(self, a: Tensor, b: Tensor | np.ndarray | float, *, name: str = "mul") -> Tensor:
        return self.binary("Mul", a, b, name=name)

    def unary(self, op_type: str, x: Tensor, *, name: str | None = None, **attrs: object) -> Tensor:
        return self.op(op_type, [x], x.shape, name=name or op_type.lower(), dtype=x.dtype, **attrs)

    # ------------------------------------------------------------- shapes
    def concat(self, xs: Sequence[Tensor], axis: int, *, name: str = "concat") -> Tensor:
        ax = axis % len(xs[0].shape)
        shape = list(xs[0].shape)
        shape[ax] = sum(x.shape[ax] for x in xs)
        value = None
        if ax == 1 and all(x.value is not None for x in xs):
            value = np.concatenate([x.value for x in xs], axis=1)  # type: ignore[misc]
        return self.op(
            "Concat", list(xs), shape, name=name, value=value, axis=axis, dtype=xs[0].dtype
        )

    def reshape(self, x: Tensor, shape: Sequence[int], *, name: str = "reshape") -> Tensor:
        target = [x.shape[i] if d == 0 else d for i, d in enumerate(shape)]
        if -1 in target:
            known = math.prod(d for d in target if d != -1)
            target[target.index(-1)] = math.prod(x.shape) // known
        if math.prod(target) != math.prod(x.shape):
            raise ValueError(f"cannot reshape {x.shape} to {tuple(shape)}")
        shape_const = self.const(np.asarray(shape, dtype=np.int64))
        return self.op("Reshape", [x, shape_const], target, name=name, dtype=x.dtype)

    def flatten(self, x: Tensor, *, name: str = "flatten") -> Tensor:
        value = None if x.value is None else x.value.reshape(x.value.shape[0], -1)
        shape = (x.shape[0], math.prod(x.shape[1:]))
        return self.op("Flatten", [x], shape, name=name, value=value, axis=1)

    def transpose(self, x: Tensor, perm: Sequence[int], *, name: str = "transpose") -> Tensor:
        shape = [x.shape[p] for p in perm]
        return self.op("Transpose", [x], shape, name=name, perm=list(perm), dtype=x.dtype)

    def split(
        self, x: Tensor, sizes: Sequence[int], axis: int, *, name: str = "split"
    ) -> list[Tensor]:
        ax = axis % len(x.shape)
        shapes = []
        for size in sizes:
            shape = list(x.shape)
            shape[ax] = size
            shapes.append(shape)
        split = self.const(np.asarray(sizes, dtype=np.int64))
        return self.op_multi("Split", [x, split], shapes, name=name, axis=axis)
