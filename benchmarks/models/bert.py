"""BERT encoders (BERT-base: 12 layers, hidden 768, 12 heads; BERT-tiny: 2 layers, hidden 128,
2 heads) at sequence length 128, in the form the Hugging Face exporter produces at opset 13:
Gather embeddings, LayerNorm as ReduceMean / Sub / Pow / Sqrt / Div / Mul / Add, attention as
MatMul / Softmax / Transpose, GELU via Erf, and the Tanh pooler.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import onnx

from .graph import FLOAT, INT64, GraphBuilder, Tensor

SEQ = 128
VOCAB = 30522
MAX_POSITIONS = 512
TYPE_VOCAB = 2
LN_EPS = 1e-12
INIT_STD = 0.02  # BERT's initializer_range
# Query/key projections are drawn wider than the rest (per-unit variance QK_VAR) so attention
# is peaked, as in trained BERT, rather than uniform.
QK_VAR = 1.5


@dataclass(frozen=True)
class BertConfig:
    layers: int
    hidden: int
    heads: int
    intermediate: int


BERT_BASE = BertConfig(12, 768, 12, 3072)
BERT_TINY = BertConfig(2, 128, 2, 512)


def layer_norm(g: GraphBuilder, x: Tensor, name: str) -> Tensor:
    """LayerNormalization decomposed as exported at opset 13 (the fused op is opset 17)."""
    h = x.shape[-1]
    with g.scope(name):
        mean = g.op("ReduceMean", [x], (*x.shape[:-1], 1), name="mean", axes=[-1])
        centered = g.binary("Sub", x, mean, name="sub")
        var = g.op(
            "ReduceMean",
            [g.binary("Pow", centered, np.float32(2.0), name="pow")],
            (*x.shape[:-1], 1),
            name="var",
            axes=[-1],
        )
        std = g.unary("Sqrt", g.add(var, np.float32(LN_EPS), name="add_eps"), name="sqrt")
        normed = g.binary("Div", centered, std, name="div")
        gamma = (1.0 + g.rng.standard_normal(h) * INIT_STD).astype(np.float32)
        beta = (g.rng.standard_normal(h) * INIT_STD).astype(np.float32)
        y = g.mul(normed, g.weight("weight", gamma), name="mul_gamma")
        return g.add(y, g.weight("bias", beta), name="add_beta")


def _heads(g: GraphBuilder, x: Tensor, cfg: BertConfig, perm: tuple[int, ...], name: str) -> Tensor:
    d = cfg.hidden // cfg.heads
    return g.transpose(
        g.reshape(x, (1, SEQ, cfg.heads, d), name=f"{name}.reshape"), perm, name=f"{name}.transpose"
    )


def attention(g: GraphBuilder, h: Tensor, mask_bias: Tensor, cfg: BertConfig) -> Tensor:
    d = cfg.hidden // cfg.heads
    qk_std = math.sqrt(QK_VAR / cfg.hidden)
    with g.scope("attention.self"):
        q = _heads(g, g.linear(h, cfg.hidden, std=qk_std, name="query"), cfg, (0, 2, 1, 3), "q")
        k = _heads(g, g.linear(h, cfg.hidden, std=qk_std, name="key"), cfg, (0, 2, 3, 1), "k")
        v = _heads(g, g.linear(h, cfg.hidden, std=INIT_STD, name="value"), cfg, (0, 2, 1, 3), "v")
        scores = g.op("MatMul", [q, k], (1, cfg.heads, SEQ, SEQ), name="scores")
        scores = g.binary("Div", scores, np.float32(math.sqrt(d)), name="scale")
        scores = g.add(scores, mask_bias, name="mask")
        probs = g.unary("Softmax", scores, name="softmax", axis=-1)
        ctx = g.op("MatMul", [probs, v], (1, cfg.heads, SEQ, d), name="context")
        ctx = g.reshape(
            g.transpose(ctx, (0, 2, 1, 3), name="context.transpose"), (1, SEQ, cfg.hidden)
        )
    with g.scope("attention.output"):
        out = g.add(g.linear(ctx, cfg.hidden, std=INIT_STD, name="dense"), h, name="residual")
        return layer_norm(g, out, "LayerNorm")


def feed_forward(g: GraphBuilder, h: Tensor, cfg: BertConfig) -> Tensor:
    with g.scope("intermediate"):
        x = g.linear(h, cfg.intermediate, std=INIT_STD, name="dense")
        # GELU(x) = x * 0.5 * (1 + erf(x / sqrt(2)))
        erf = g.unary(
            "Erf", g.binary("Div", x, np.float32(math.sqrt(2.0)), name="gelu.div"), name="gelu.erf"
        )
        x = g.mul(
            g.mul(x, g.add(erf, np.float32(1.0), name="gelu.add")), np.float32(0.5), name="gelu"
        )
    with g.scope("output"):
        out = g.add(g.linear(x, cfg.hidden, std=INIT_STD, name="dense"), h, name="residual")
        return layer_norm(g, out, "LayerNorm")


def embeddings(g: GraphBuilder, ids: Tensor, segments: Tensor, cfg: BertConfig) -> Tensor:
    with g.scope("embeddings"):
        tables = {
            "word_embeddings": VOCAB,
            "position_embeddings": MAX_POSITIONS,
            "token_type_embeddings": TYPE_VOCAB,
        }
        positions = Tensor(g.const(np.arange(SEQ, dtype=np.int64)[None]), (1, SEQ), INT64)
        parts = []
        for (table, rows), index in zip(tables.items(), (ids, positions, segments), strict=True):
            weight = (g.rng.standard_normal((rows, cfg.hidden)) * INIT_STD).astype(np.float32)
            w = g.weight(f"{table}.weight", weight)
            parts.append(g.op("Gather", [w, index], (1, SEQ, cfg.hidden), name=table, axis=0))
        x = g.add(g.add(parts[0], parts[1], name="add_position"), parts[2], name="add_token_type")
        return layer_norm(g, x, "LayerNorm")


def build_bert(name: str, cfg: BertConfig, seed: int = 0) -> onnx.ModelProto:
    g = GraphBuilder(name, seed)
    ids = g.input("input_ids", (1, SEQ), INT64)
    mask = g.input("attention_mask", (1, SEQ), INT64)
    segments = g.input("token_type_ids", (1, SEQ), INT64)
    with g.scope("extended_attention_mask"):
        m = g.op(
            "Unsqueeze",
            [mask, g.const(np.array([1, 2], np.int64))],
            (1, 1, 1, SEQ),
            name="unsqueeze",
            dtype=INT64,
        )
        m = g.op("Cast", [m], m.shape, name="cast", to=FLOAT)
        mask_bias = g.mul(
            g.binary("Sub", np.float32(1.0), m, name="invert"), np.float32(-10000.0), name="bias"
        )
    h = embeddings(g, ids, segments, cfg)
    for i in range(cfg.layers):
        with g.scope(f"encoder.layer.{i}"):
            h = feed_forward(g, attention(g, h, mask_bias, cfg), cfg)
    with g.scope("pooler"):
        first = g.op(
            "Gather", [h, g.const(np.int64(0))], (1, cfg.hidden), name="first_token", axis=1
        )
        pooled = g.unary("Tanh", g.gemm(first, cfg.hidden, std=INIT_STD, name="dense"), name="tanh")
    g.output(h, "last_hidden_state")
    g.output(pooled, "pooler_output")
    return g.build(
        f"BERT {cfg.layers}L/{cfg.hidden}H/{cfg.heads}A, sequence {SEQ}, seeded random weights"
    )
