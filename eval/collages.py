"""Collages of portrait tiles on a plain background, with the number of faces known exactly.

Used by the eval suite's ``collages`` domain (tiles from ``faces/portraits``) and by the tests (tiles
of the public-domain sample portraits). A collage holds 2-5 tiles, each a crop of a head-and-shoulders
photo, tight or loose, laid out in a row, a column or a grid with gaps, in colour or in greyscale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Collage:
    """A generated collage and where its tiles are."""

    rgb: np.ndarray  # H x W x 3 uint8 (grey collages have three equal channels)
    tiles: tuple[tuple[int, int, int, int], ...]  # x, y, w, h of each tile, one face per tile
    grey: bool  # drawn in greyscale
    layout: str  # "row", "column" or "grid"


def _tile(portrait: np.ndarray, side: int, tight: float) -> np.ndarray:
    """A square crop of the portrait's centre (``tight`` = fraction of the short side kept), resized."""
    import cv2

    h, w = portrait.shape[:2]
    s = int(min(h, w) * tight)
    y0, x0 = (h - s) // 2, (w - s) // 2
    return cv2.resize(portrait[y0 : y0 + s, x0 : x0 + s], (side, side), interpolation=cv2.INTER_AREA)


def make_collage(portraits: list[np.ndarray], rng: np.random.Generator, *, grey: bool = False) -> Collage:
    """Lay 2-5 portraits out as tiles on one plain background.

    Args:
        portraits: RGB head-and-shoulders photos, one face each (their number = the tiles').
        rng: the random source (layout, tile size 150-260 px, tightness, gaps, background).
        grey: convert to greyscale.
    """
    import cv2

    n = len(portraits)
    if not 1 <= n <= 9:
        raise ValueError("a collage holds 1-9 portraits")
    layout = str(rng.choice(["row", "column", "grid"] if n >= 3 else ["row", "column"]))
    cols = n if layout == "row" else 1 if layout == "column" else int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    side = int(rng.integers(150, 261))
    gap = int(rng.integers(0, 41))
    margin = int(rng.integers(0, 41))
    bg = tuple(int(v) for v in (rng.integers(0, 256, 3) if rng.random() < 0.5 else [rng.integers(0, 256)] * 3))
    height, width = margin * 2 + rows * side + (rows - 1) * gap, margin * 2 + cols * side + (cols - 1) * gap
    canvas = np.empty((height, width, 3), dtype=np.uint8)
    canvas[:] = bg
    tiles = []
    for k, p in enumerate(portraits):
        r, c = divmod(k, cols)
        x, y = margin + c * (side + gap), margin + r * (side + gap)
        canvas[y : y + side, x : x + side] = _tile(p, side, float(rng.uniform(0.6, 1.0)))
        tiles.append((x, y, side, side))
    if grey:
        canvas = np.repeat(cv2.cvtColor(canvas, cv2.COLOR_RGB2GRAY)[:, :, None], 3, axis=2)
    return Collage(np.ascontiguousarray(canvas), tuple(tiles), grey, layout)
