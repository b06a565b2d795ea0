"""Pixel-level helpers: did a canvas draw anything, and a small copy of a screenshot."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image


def drawn_fraction(png: bytes) -> float:
    """Share of pixels that differ from the image's commonest colour (0 for a blank canvas)."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    n_pixels = image.width * image.height
    if n_pixels == 0:
        return 0.0
    commonest = max(count for count, _ in image.getcolors(maxcolors=n_pixels))
    return 1.0 - commonest / n_pixels


def shrink_png(source: Path, target: Path, max_bytes: int = 400_000, width: int = 1000) -> int:
    """Write a palette PNG of ``source`` scaled to at most ``width`` px wide and under
    ``max_bytes`` (scaling down further while it is larger). Returns the size written."""
    image = Image.open(source).convert("RGB")
    scale = min(1.0, width / image.width)
    while True:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        small = image.resize(size, Image.LANCZOS).quantize(colors=256)
        buffer = io.BytesIO()
        small.save(buffer, format="PNG", optimize=True)
        if buffer.tell() <= max_bytes or scale < 0.1:
            break
        scale *= 0.8
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(buffer.getvalue())
    return buffer.tell()


def coloured_fraction(png: bytes, spread: int = 60) -> float:
    """Share of clearly coloured pixels (channels differing by more than ``spread``): the atoms
    and cell lines of a structure view, not the grey of a resize handle over a blank canvas."""
    import numpy as np

    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=int)
    if pixels.size == 0:
        return 0.0
    return float(np.mean(pixels.max(axis=2) - pixels.min(axis=2) > spread))
