"""Seeded synthetic inputs: images with natural-image-like structure, and BERT token batches.

White noise would make every image look alike after global pooling; smooth multi-scale
fields with per-image colour and contrast give features (and so top-1 predictions) that
actually vary from input to input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .graph import seed_for

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406])
IMAGENET_STD = np.array([0.229, 0.224, 0.225])

# How each family expects pixels: torchvision-normalised, TF-style [-1, 1], or [0, 1].
PIXEL_RANGES = ("imagenet", "minus_one_one", "unit")

CLS, SEP, PAD = 101, 102, 0
FIRST_WORDPIECE = 1996  # ids below are special or unused in the BERT uncased vocabulary


@dataclass(frozen=True)
class InputSpec:
    name: str
    shape: tuple[int, ...]
    dtype: str  # numpy dtype name
    kind: str  # "image:<pixel range>" or "tokens" / "mask" / "segments"


def _smooth_field(rng: np.random.Generator, n: int, h: int, w: int) -> np.ndarray:
    """Sum of bilinearly upsampled noise octaves (roughly 1/f), standardised per image."""
    field = np.zeros((n, h, w))
    for cells in (2, 4, 8, 16, 32, 64):
        gh, gw = min(cells, h), min(cells, w)
        grid = rng.standard_normal((n, gh + 1, gw + 1))
        ys = np.linspace(0, gh, h, endpoint=False)
        xs = np.linspace(0, gw, w, endpoint=False)
        y0, x0 = ys.astype(int), xs.astype(int)
        fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
        g00 = grid[:, y0][:, :, x0]
        g01 = grid[:, y0][:, :, x0 + 1]
        g10 = grid[:, y0 + 1][:, :, x0]
        g11 = grid[:, y0 + 1][:, :, x0 + 1]
        top = g00 * (1 - fx) + g01 * fx
        bottom = g10 * (1 - fx) + g11 * fx
        field += (top * (1 - fy) + bottom * fy) / cells**0.5
    field -= field.mean(axis=(1, 2), keepdims=True)
    field /= field.std(axis=(1, 2), keepdims=True)
    return field


def images(
    rng: np.random.Generator, n: int, hw: tuple[int, int], pixel_range: str = "imagenet"
) -> np.ndarray:
    """``n`` NCHW float32 RGB images of size ``hw`` in the given pixel convention."""
    h, w = hw
    luma = _smooth_field(rng, n, h, w)
    chroma = _smooth_field(rng, 3 * n, h, w).reshape(n, 3, h, w)
    contrast = rng.uniform(0.12, 0.3, size=(n, 1, 1, 1))
    tint = rng.uniform(0.3, 0.7, size=(n, 3, 1, 1))
    pixels = tint + contrast * (0.85 * luma[:, None] + 0.5 * chroma)
    pixels += 0.02 * rng.standard_normal(pixels.shape)  # sensor noise
    pixels = np.clip(pixels, 0.0, 1.0)
    if pixel_range == "imagenet":
        pixels = (pixels - IMAGENET_MEAN[None, :, None, None]) / IMAGENET_STD[None, :, None, None]
    elif pixel_range == "minus_one_one":
        pixels = pixels * 2.0 - 1.0
    elif pixel_range != "unit":
        raise ValueError(f"unknown pixel range {pixel_range!r}")
    return pixels.astype(np.float32)


def token_batch(
    rng: np.random.Generator, n: int, seq: int, vocab: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` BERT sentence pairs: [CLS] a [SEP] b [SEP] [PAD]... -> ids, mask, segments."""
    ids = np.full((n, seq), PAD, dtype=np.int64)
    mask = np.zeros((n, seq), dtype=np.int64)
    segments = np.zeros((n, seq), dtype=np.int64)
    for i in range(n):
        length = int(rng.integers(seq // 2, seq + 1))
        first = int(rng.integers(2, length - 2))
        ids[i, :length] = rng.integers(FIRST_WORDPIECE, vocab, size=length)
        ids[i, 0] = CLS
        ids[i, first] = SEP
        ids[i, length - 1] = SEP
        mask[i, :length] = 1
        segments[i, first + 1 : length] = 1
    return ids, mask, segments


def sample(
    specs: list[InputSpec], n: int, seed: int | str = 0, *, vocab: int = 30522
) -> list[dict[str, np.ndarray]]:
    """``n`` seeded feeds for a model's inputs (batch 1 each), as onnxruntime takes them."""
    rng = np.random.default_rng(seed_for(str(seed), 1))
    feeds: list[dict[str, np.ndarray]] = [{} for _ in range(n)]
    token_specs = [s for s in specs if not s.kind.startswith("image")]
    for spec in specs:
        if spec.kind.startswith("image"):
            batch = images(rng, n, spec.shape[2:], spec.kind.split(":")[1])
            for i in range(n):
                feeds[i][spec.name] = batch[i : i + 1]
    if token_specs:
        seq = token_specs[0].shape[1]
        ids, mask, segments = token_batch(rng, n, seq, vocab)
        by_kind = {"tokens": ids, "mask": mask, "segments": segments}
        for spec in token_specs:
            for i in range(n):
                feeds[i][spec.name] = by_kind[spec.kind][i : i + 1]
    return feeds


def calibration_images(
    model: str, seed: int, n: int, hw: tuple[int, int], pixel_range: str
) -> np.ndarray:
    """The batch a builder pushes through the network to set BatchNorm statistics."""
    rng = np.random.default_rng(seed_for(f"{model}/calibration", seed))
    return images(rng, n, hw, pixel_range)
