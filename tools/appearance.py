"""Appearance cues used to refer to people: where they are in the frame, what colour they wear."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from facelens.tools.schema import Position

#: colour names we report; chosen to match how people refer to clothing
COLOURS = ("black", "white", "grey", "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown")


def positions(boxes: Sequence[tuple[int, int, int, int]], width: int, height: int) -> list[Position]:
    """Position of each face; ``boxes`` must already be sorted left to right."""
    areas = [w * h for (_, _, w, h) in boxes]
    order = sorted(range(len(boxes)), key=lambda i: -areas[i])
    size_rank = {i: r + 1 for r, i in enumerate(order)}
    out = []
    for i, (x, y, w, h) in enumerate(boxes):
        cx, cy = (x + w / 2.0) / width, (y + h / 2.0) / height
        horizontal = "left" if cx < 1 / 3 else "right" if cx > 2 / 3 else "center"
        vertical = "top" if cy < 1 / 3 else "bottom" if cy > 2 / 3 else "middle"
        out.append(Position(index=i + 1, of=len(boxes), horizontal=horizontal, vertical=vertical, size_rank=size_rank[i]))
    return out


def clothing_region(box: tuple[int, int, int, int], width: int, height: int) -> tuple[int, int, int, int] | None:
    """The torso region under a face box (x0, y0, x1, y1), or None when it is out of frame."""
    x, y, w, h = box
    x0, x1 = int(x - 0.3 * w), int(x + w * 1.3)
    y0, y1 = int(y + h * 1.45), int(y + h * 2.6)
    x0, x1 = max(0, x0), min(width, x1)
    y0, y1 = max(0, y0), min(height, y1)
    # need a reasonable patch of torso to say anything
    if x1 - x0 < max(4, 0.5 * w) or y1 - y0 < max(4, 0.35 * h):
        return None
    return x0, y0, x1, y1


def name_colours(rgb_pixels: np.ndarray) -> np.ndarray:
    """Colour-name index (into COLOURS) for each pixel of an N x 3 uint8 array, by HSV rules."""
    import cv2

    hsv = cv2.cvtColor(rgb_pixels.reshape(-1, 1, 3).astype(np.uint8), cv2.COLOR_RGB2HSV_FULL).reshape(-1, 3)
    h = hsv[:, 0].astype(np.float32) * (360.0 / 256.0)
    s = hsv[:, 1].astype(np.float32) / 255.0
    v = hsv[:, 2].astype(np.float32) / 255.0
    idx = np.full(len(hsv), COLOURS.index("grey"), dtype=np.int64)
    chroma = s * v
    achromatic = (s < 0.22) | (chroma < 0.12)
    idx[achromatic & (v < 0.22)] = COLOURS.index("black")
    idx[achromatic & (v > 0.78)] = COLOURS.index("white")
    col = ~achromatic
    idx[col & (v < 0.16)] = COLOURS.index("black")
    col &= v >= 0.16
    hue_bins = [
        (0, 15, "red"), (15, 40, "orange"), (40, 68, "yellow"), (68, 165, "green"),
        (165, 255, "blue"), (255, 290, "purple"), (290, 335, "pink"), (335, 361, "red"),
    ]
    for lo, hi, name in hue_bins:
        idx[col & (h >= lo) & (h < hi)] = COLOURS.index(name)
    # dark or desaturated oranges/reds read as brown; light reds read as pink
    brownish = col & (h < 45) & ((v < 0.55) | (s < 0.5) & (v < 0.7))
    idx[brownish] = COLOURS.index("brown")
    pinkish = col & ((h < 15) | (h >= 335)) & (s < 0.45) & (v > 0.7)
    idx[pinkish] = COLOURS.index("pink")
    return idx


def clothing_colour(rgb: np.ndarray, box: tuple[int, int, int, int]) -> tuple[str | None, tuple[int, int, int] | None]:
    """Dominant colour name of the torso region under a face, and its median RGB."""
    region = clothing_region(box, rgb.shape[1], rgb.shape[0])
    if region is None:
        return None, None
    x0, y0, x1, y1 = region
    patch = rgb[y0:y1, x0:x1].reshape(-1, 3)
    if len(patch) > 4000:  # subsample: the majority vote does not need every pixel
        patch = patch[:: len(patch) // 4000 + 1]
    idx = name_colours(patch)
    counts = np.bincount(idx, minlength=len(COLOURS))
    best = int(counts.argmax())
    sel = patch[idx == best]
    median = tuple(int(v) for v in np.median(sel, axis=0)) if len(sel) else None
    return COLOURS[best], median  # type: ignore[return-value]
