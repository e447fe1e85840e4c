"""Appearance cues used to refer to people: where they are in the frame, what colour they wear.

Clothing colour (:func:`clothing`): the garment is looked for where a torso is, not under the face
box as a fixed rectangle. The face's landmarks give its size and its "down" direction; a patch of the
chest below the chin and neck (scaled by the face, turned with the head, clipped to the image) is
sampled, and from it are dropped the pixels that belong to another face, that look like this face's
skin (its colour, or its hue at another lightness: necklines, bare arms in other light) or, at the
sides, like its hair (sampled above the face and beside the jaw, matched by hue over a wide range of
lightness: lit and shadowed strands). Where other heads hide most of the chest the patch widens to the
shoulders; where the chest runs out of frame it moves up to the collar. Colours are corrected by half
a grey-world white balance and a dim photo's exposure is lifted; what is left is grouped into colours
in CIELAB and each group is named by its nearest prototype colour (CIE94 distance), so pink is not
red, navy is blue, beige/brown are not orange, and white, grey and black are told apart by lightness
and chroma. The result says how sure it is; ``garment`` is "top" only when a clear, mostly one-colour
region of clothing was seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from facelens.tools.errors import InputError
from facelens.tools.schema import ClothingEstimate, Position

#: colour names we report; chosen to match how people refer to clothing
COLOURS = ("black", "white", "grey", "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown")

#: prototype sRGB colours of each name (several shades each, as hex triplets); a colour gets the name of its nearest
#: prototype
PROTOTYPES: dict[str, tuple[str, ...]] = {
    "black": ("#0c0c0c", "#1e1e20", "#282624", "#37373a"),
    # white in the shade of a daylit scene takes a blue cast (L ~75-80, b* ~ -20): the last white is that shade
    "white": ("#fafafa", "#e6e6e1", "#d7d7dc", "#f0eadc", "#b4c3e6"),
    "grey": ("#808080", "#a5a5a5", "#646468", "#bebec0"),
    "red": ("#c8141e", "#a0141e", "#e62d2d", "#780f19", "#b42832"),
    "orange": ("#ff8c00", "#f06e28", "#ff7f50", "#e6823c", "#ffa53c", "#c3782d"),
    "yellow": ("#fadc1e", "#f0e678", "#fff050", "#dcc83c", "#e6e196", "#b4a528"),
    "green": ("#1e8c32", "#64b450", "#1e5028", "#00806e", "#6e7832", "#96c878", "#146e5a"),
    "blue": ("#1e3ca0", "#141e50", "#6496dc", "#3c64b4", "#0078be", "#96bee6", "#232d6e", "#465a78"),
    "purple": ("#783296", "#501e64", "#b48cd2", "#6e285a", "#9650aa", "#3c193c"),
    "pink": ("#faaabe", "#e65a96", "#ffc0cb", "#dc3278", "#f08ca0", "#c86e8c"),
    "brown": ("#78461e", "#5a3c28", "#a06e46", "#462d1e", "#8c643c", "#af875f"),
}

#: below this confidence a clothing colour is more often wrong than right on labelled real photos
#: (bench/clothing_colour.py): an answer names it with a hedge, never as a fact
SURE_FROM = 0.4
#: from this confidence the region was clearly one garment: it is called a "top"
GARMENT_FROM = 0.45

#: the torso patch in face units: d = eye-to-mouth distance, along the face's down / right axes
_NECK, _DEPTH, _HALF_WIDTH = 1.8, 2.4, 2.0  # top of the patch below the mouth, its height, half its width (all x d)
_GRID = (28, 36)  # samples (down, across)
_NEAR_SIZE = 0.6  # a neighbour's face at least this size of ours is about as near as us (their torso may hide ours)


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
        out.append(
            Position(index=i + 1, of=len(boxes), horizontal=horizontal, vertical=vertical, size_rank=size_rank[i])
        )
    return out


# --- colour names ---------------------------------------------------------------------------------


def to_lab(rgb_pixels: np.ndarray, gains: np.ndarray | None = None) -> np.ndarray:
    """CIELAB (L 0-100, a, b) of an N x 3 sRGB array (0-255, D65), after per-channel ``gains`` if given."""
    import cv2

    px = np.asarray(rgb_pixels, dtype=np.float32).reshape(-1, 1, 3)
    if gains is not None:
        px = np.clip(px * gains.astype(np.float32), 0, 255)
    px = px / 255.0
    return cv2.cvtColor(px, cv2.COLOR_RGB2LAB).reshape(-1, 3)


@lru_cache(maxsize=1)
def _prototypes() -> tuple[np.ndarray, np.ndarray]:
    names, rgb = zip(*[(COLOURS.index(n), tuple(bytes.fromhex(c[1:]))) for n in COLOURS for c in PROTOTYPES[n]])
    return to_lab(np.array(rgb, np.uint8)), np.array(names)


def _cie94(lab: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """CIE94 colour difference (graphic arts weights) of N colours to M references: N x M."""
    dl = lab[:, None, 0] - ref[None, :, 0]
    c1 = np.hypot(ref[:, 1], ref[:, 2])[None, :]
    c2 = np.hypot(lab[:, 1], lab[:, 2])[:, None]
    dc = c2 - c1
    da = lab[:, None, 1] - ref[None, :, 1]
    db = lab[:, None, 2] - ref[None, :, 2]
    dh2 = np.maximum(da**2 + db**2 - dc**2, 0.0)
    return np.sqrt(dl**2 + (dc / (1 + 0.045 * c1)) ** 2 + dh2 / (1 + 0.015 * c1) ** 2)


def name_lab(lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Colour-name index (into COLOURS) of each CIELAB colour and its CIE94 distance to the prototype."""
    ref, names = _prototypes()
    d = _cie94(np.asarray(lab, np.float32).reshape(-1, 3), ref)
    j = d.argmin(1)
    return names[j], d[np.arange(len(j)), j]


def name_colours(rgb_pixels: np.ndarray) -> np.ndarray:
    """Colour-name index (into COLOURS) for each pixel of an N x 3 uint8 array."""
    return name_lab(to_lab(rgb_pixels))[0]


# --- the torso ------------------------------------------------------------------------------------


def _face_axes(
    box: tuple[int, int, int, int], landmarks: Sequence[Sequence[float]] | None
) -> tuple[np.ndarray, np.ndarray, float]:
    """Mouth centre, unit "down" vector of the face and eye-to-mouth distance d (pixels)."""
    x, y, w, h = box
    eyes, mouth = np.array([x + w / 2, y + 0.38 * h]), np.array([x + w / 2, y + 0.78 * h])
    if landmarks is not None and len(landmarks) == 5:
        p = np.asarray(landmarks, dtype=np.float64)
        eyes, mouth = p[:2].mean(0), p[3:].mean(0)
    v = mouth - eyes
    d = float(np.hypot(*v))
    if d < 0.25 * h or d > 0.7 * h:  # implausible landmarks (profile, occlusion): take the box's geometry
        v, d = np.array([0.0, 0.4 * h]), 0.4 * h
    # the torso stays upright when the head tilts: mostly image-down, turned a little with the face; a face turned
    # past ~60 degrees (someone lying down, a head upside down) has the body along the face's own down direction
    upright = 2.0 * float(np.clip((v[1] / d - 0.3) / 0.2, 0.0, 1.0))
    down = v / d + np.array([0.0, upright])
    down /= np.hypot(*down)
    return mouth, down, max(d, 1.0)


def torso_grid(
    box: tuple[int, int, int, int],
    landmarks: Sequence[Sequence[float]] | None = None,
    half_width: float = _HALF_WIDTH,
    neck: float = _NECK,
) -> tuple[np.ndarray, np.ndarray]:
    """Image coordinates (x, y) of the torso sample grid under a face, each an array of shape _GRID.

    ``half_width`` and ``neck`` (in eye-to-mouth distances) widen the patch to the shoulders or raise it
    towards the collar, where the chest itself is hidden or out of frame."""
    mouth, down, d = _face_axes(box, landmarks)
    right = np.array([-down[1], down[0]])
    s = (neck + _DEPTH * (np.arange(_GRID[0]) + 0.5) / _GRID[0]) * d
    t = (np.arange(_GRID[1]) + 0.5) / _GRID[1] * 2 - 1
    t = t * half_width * d
    pts = mouth[None, None, :] + s[:, None, None] * down + t[None, :, None] * right
    return pts[..., 0], pts[..., 1]


def clothing_region(
    box: tuple[int, int, int, int], width: int, height: int, landmarks: Sequence[Sequence[float]] | None = None
) -> tuple[int, int, int, int] | None:
    """Bounding box (x0, y0, x1, y1) of the torso patch under a face, clipped; None when mostly out of frame."""
    gx, gy = torso_grid(box, landmarks)
    inside = (gx >= 0) & (gx < width) & (gy >= 0) & (gy < height)
    if inside.mean() < 0.35:
        return None
    x0, x1 = int(max(0, gx[inside].min())), int(min(width, gx[inside].max() + 1))
    y0, y1 = int(max(0, gy[inside].min())), int(min(height, gy[inside].max() + 1))
    return x0, y0, x1, y1


def _sample(rgb: np.ndarray, gx: np.ndarray, gy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixels at the grid points (lightly smoothed: the mean of a small neighbourhood) and the inside mask."""
    import cv2

    hgt, wid = rgb.shape[:2]
    inside = (gx >= 0) & (gx < wid - 1) & (gy >= 0) & (gy < hgt - 1)
    step = max(1.0, float(np.hypot(gx[0, 1] - gx[0, 0], gy[0, 1] - gy[0, 0])))
    k = int(min(7, max(1, step // 2)) // 2 * 2 + 1)  # odd box filter about half the grid step
    xs, ys = np.clip(gx, 0, wid - 1).astype(int), np.clip(gy, 0, hgt - 1).astype(int)
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    patch = rgb[max(0, y0 - k) : y1 + k, max(0, x0 - k) : x1 + k]
    if k > 1 and patch.size:
        patch = cv2.blur(patch, (k, k))
    px = patch[ys - max(0, y0 - k), xs - max(0, x0 - k)]
    return px.reshape(-1, 3), inside.reshape(-1)


def white_balance(rgb: np.ndarray) -> np.ndarray:
    """Per-channel gains that take half of a colour cast away (grey world, clipped to 0.8-1.25), and lift a dim exposure.

    A white shirt under warm indoor light reads beige, under shade or a blue sky bluish; half the
    grey-world correction removes most of such casts without turning a photo of a green lawn purple.
    (Measuring the cast on near-neutral pixels only was tried: better on a photo full of yellow shirts,
    worse on the labelled WIDER check, bench/clothing_colour.py.) A dim photo's white shirt reads grey:
    the photo's bright end (98th percentile) is lifted towards white, by at most 1.3.
    """
    step = max(1, int(np.sqrt(rgb.shape[0] * rgb.shape[1] / 20000)))
    px = rgb[::step, ::step].reshape(-1, 3).astype(np.float64)
    gains = np.clip(((px.mean(0) + 1.0).mean() / (px.mean(0) + 1.0)) ** 0.5, 0.8, 1.25)
    top = float(np.percentile((px * gains).max(1), 98)) + 1.0
    return gains * float(np.clip(235.0 / top, 1.0, 1.3))


def _skin_lab(
    rgb: np.ndarray, box: tuple[int, int, int, int], landmarks: Sequence[Sequence[float]] | None, gains: np.ndarray
) -> np.ndarray | None:
    """Median CIELAB of the face's own skin (cheeks and nose: between the eyes and the mouth)."""
    x, y, w, h = box
    if landmarks is not None and len(landmarks) == 5:
        p = np.asarray(landmarks, dtype=np.float64)
        cx, y0, y1 = p[:, 0].mean(), p[:2, 1].mean(), p[3:, 1].mean()
        half = 0.5 * abs(p[1, 0] - p[0, 0])
    else:
        cx, y0, y1, half = x + w / 2, y + 0.45 * h, y + 0.7 * h, 0.25 * w
    xs = slice(int(max(0, cx - half)), int(min(rgb.shape[1], cx + half + 1)))
    ys = slice(int(max(0, y0 + 0.1 * (y1 - y0))), int(min(rgb.shape[0], y1 - 0.2 * (y1 - y0) + 1)))
    px = rgb[ys, xs].reshape(-1, 3)
    if len(px) < 4:
        return None
    return np.median(to_lab(px[:: max(1, len(px) // 400)], gains), axis=0)


def _uniform_median(rgb: np.ndarray, ys: slice, xs: slice, gains: np.ndarray) -> np.ndarray | None:
    """Median CIELAB of an image region, None when it is too small or not one hue (a busy background).
    Only the hue (a, b) must be uniform: hair has highlights and shadows, its lightness varies."""
    px = rgb[ys, xs].reshape(-1, 3)
    if len(px) < 8:
        return None
    lab = to_lab(px[:: max(1, len(px) // 300)], gains)
    med = np.median(lab, axis=0)
    return None if np.median(np.linalg.norm(lab[:, 1:] - med[1:], axis=1)) > 8 else med


def _hair_lab(
    rgb: np.ndarray, box: tuple[int, int, int, int], gains: np.ndarray, skin: np.ndarray | None
) -> list[np.ndarray]:
    """Median CIELAB of the hair: just above the face box (hair, or a hat) and beside it at the jaw, where
    long hair falls. Beside the jaw counts as hair where it has the hue of the top, or where both sides
    have one hue (hair framing the face); never where it is the face's own skin (a box reaching the
    hairline samples forehead above it; dark brown hair shares skin's hue, so lightness tells them apart)."""

    def skin_like(c: np.ndarray) -> bool:
        return skin is not None and _hue_distance(c, skin) < 6 and abs(float(c[0] - skin[0])) < 15

    x, y, w, h = box
    wid = rgb.shape[1]
    top = _uniform_median(
        rgb,
        slice(int(max(0, y - 0.22 * h)), int(max(0, y - 0.02 * h))),
        slice(int(max(0, x + 0.2 * w)), int(min(wid, x + 0.8 * w))),
        gains,
    )
    top = None if top is None or skin_like(top) else top
    ys = slice(int(max(0, y + 0.55 * h)), int(max(0, y + 1.0 * h)))
    sides = []
    for xs in (
        slice(int(max(0, x - 0.18 * w)), int(max(0, x - 0.02 * w))),
        slice(int(min(wid, x + 1.02 * w)), int(min(wid, x + 1.18 * w))),
    ):
        side = _uniform_median(rgb, ys, xs, gains)
        if side is not None and not skin_like(side):
            sides.append(side)
    both = len(sides) == 2 and _hue_distance(sides[0], sides[1]) < 12
    return ([top] if top is not None else []) + [
        c for c in sides if both or (top is not None and _hue_distance(c, top) < 12)
    ]


def _hue_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Distance of two CIELAB colours in the (a, b) plane only: the same hue and chroma at any lightness."""
    return float(np.linalg.norm(a[1:] - b[1:]))


def _cluster(lab: np.ndarray, weights: np.ndarray, k: int = 4) -> list[tuple[float, np.ndarray]]:
    """Weighted share and median CIELAB of each k-means group of colours, largest first."""
    import cv2

    k = min(k, len(lab))
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 12, 1.0)
    cv2.setRNGSeed(0)
    _, lab_idx, _ = cv2.kmeans(lab.astype(np.float32), k, None, crit, 2, cv2.KMEANS_PP_CENTERS)
    lab_idx = lab_idx.ravel()
    total = float(weights.sum())
    out = [
        (float(weights[lab_idx == j].sum()) / total, np.median(lab[lab_idx == j], axis=0))
        for j in range(k)
        if (lab_idx == j).any()
    ]
    return sorted(out, key=lambda c: -c[0])


def _torso_pixels(
    rgb: np.ndarray,
    box: tuple[int, int, int, int],
    landmarks: Sequence[Sequence[float]] | None,
    others: Sequence[tuple[int, int, int, int]],
    skin: np.ndarray | None,
    hair: list[np.ndarray],
    gains: np.ndarray,
    half_width: float,
    neck: float,
) -> tuple[float, int, np.ndarray, np.ndarray, np.ndarray]:
    """Sample one torso patch: (share inside the image, samples left after other people, mask of the samples
    that are clothing, their CIELAB, mask of the patch's sides)."""
    gx, gy = torso_grid(box, landmarks, half_width, neck)
    px, keep = _sample(rgb, gx, gy)
    visible = float(keep.mean())
    fx, fy = gx.reshape(-1), gy.reshape(-1)
    cx, w = box[0] + box[2] / 2.0, float(box[2])
    for ox, oy, ow, oh in others:
        # another person's head (box grown upwards for hair and hats) is not this person's clothes
        keep &= ~((fx >= ox - 0.25 * ow) & (fx <= ox + 1.25 * ow) & (fy >= oy - 0.5 * oh) & (fy <= oy + 1.2 * oh))
        # nor is their torso: below their chin and nearer their centre line than ours (in face widths), when they are
        # not much further away (a much smaller face is behind: our body hides theirs)
        if ow >= _NEAR_SIZE * w:
            keep &= ~((fy > oy + oh) & (np.abs(fx - (ox + ow / 2.0)) / ow < np.abs(fx - cx) / w))
    lab = to_lab(px, gains)
    cols = np.tile((np.arange(_GRID[1]) + 0.5) / _GRID[1] * 2 - 1, _GRID[0])
    side = np.abs(cols) > 0.45
    n_kept = int(keep.sum())
    if skin is not None:  # the face's skin, and bare skin lit otherwise (a neckline, arms): the same hue, any lightness
        same_hue = (np.linalg.norm(lab[:, 1:] - skin[1:], axis=1) < 6.0) & (np.abs(lab[:, 0] - skin[0]) < 30.0)
        keep &= ~((np.linalg.norm(lab - skin, axis=1) < 11.0) | same_hue)
    if (
        hair
    ):  # long hair over the shoulders: only at the sides (beyond the face's width), where the garment is least sure;
        # matched by hue with a wide lightness range (hair has highlights and shadows)
        near = np.any(
            [(np.linalg.norm(lab[:, 1:] - c[1:], axis=1) < 8.0) & (np.abs(lab[:, 0] - c[0]) < 20.0) for c in hair],
            axis=0,
        )
        keep &= ~(side & near)
    return visible, n_kept, keep, lab, side


def clothing(
    rgb: np.ndarray,
    box: tuple[int, int, int, int],
    landmarks: Sequence[Sequence[float]] | None = None,
    others: Sequence[tuple[int, int, int, int]] = (),
    gains: np.ndarray | None = None,
) -> ClothingEstimate:
    """The colour of the clothing on the torso under one face.

    Args:
        rgb: the H x W x 3 uint8 image.
        box: the face box (x, y, w, h).
        landmarks: the face's 5 points (eyes, nose, mouth corners); without them the box's geometry is used.
        others: the other faces' boxes in the image: their heads are never read as this person's clothes.
        gains: :func:`white_balance` of ``rgb`` when the caller reads several faces of one image (it is a
            property of the whole image; computed here when not given).

    Returns:
        A :class:`ClothingEstimate`; ``colour`` is None when the torso is out of frame or hidden.

    Raises:
        InputError: ``rgb`` is not an H x W x 3 uint8 image.
    """
    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise InputError(
            f"Expected an H x W x 3 uint8 RGB image, got {getattr(rgb, 'dtype', type(rgb).__name__)} {np.shape(rgb)}."
        )
    x, y, w, h = box
    if w < 4 or h < 4 or min(rgb.shape[:2]) < 2:
        return ClothingEstimate(visible=0.0)
    gains = white_balance(rgb) if gains is None else np.asarray(gains, dtype=np.float64)
    skin = _skin_lab(rgb, box, landmarks, gains)
    hair = _hair_lab(rgb, box, gains, skin)
    # the chest first; where others hide it, the shoulders too; where it runs out of frame, the collar
    visible, n_kept, keep, lab, side = _torso_pixels(rgb, box, landmarks, others, skin, hair, gains, _HALF_WIDTH, _NECK)
    if visible < 0.35 or keep.sum() < 0.15 * keep.size:
        wide = _torso_pixels(rgb, box, landmarks, others, skin, hair, gains, 1.6 * _HALF_WIDTH, 0.7 * _NECK)
        if wide[2].sum() > keep.sum():
            visible, n_kept, keep, lab, side = wide
    if visible < 0.35:
        return ClothingEstimate(visible=round(visible, 3))
    kept = float(keep.sum()) / max(1, n_kept)
    if keep.sum() < 0.15 * keep.size:
        return ClothingEstimate(visible=round(visible, 3), clothing_share=round(kept, 3))
    weight = np.ones(
        int(keep.sum())
    )  # every kept sample counts the same (halving the sides, for hair, lost more than it won)
    groups = _cluster(lab[keep], weight)
    names, dist = name_lab(np.array([g[1] for g in groups]))
    share = np.zeros(len(COLOURS))
    for (s, _), n in zip(groups, names):
        share[n] += s
    best = int(share.argmax())
    centre = next(g[1] for g, n in zip(groups, names) if n == best)
    second = np.argsort(-share)[1]
    # confidence: how much of the region is that one colour, how much of it is clothing at all, how close the name fits
    fit = float(np.clip(1.2 - dist[list(names).index(best)] / 40.0, 0.3, 1.0))
    conf = float(share[best]) * min(1.0, kept / 0.6) * min(1.0, visible / 0.7) * fit
    import cv2

    median_rgb = cv2.cvtColor(centre.reshape(1, 1, 3).astype(np.float32), cv2.COLOR_LAB2RGB).reshape(3)
    return ClothingEstimate(
        colour=COLOURS[best],
        rgb=tuple(int(round(v)) for v in np.clip(median_rgb * 255, 0, 255)),  # type: ignore[arg-type]
        confidence=round(conf, 3),
        other_colour=COLOURS[second] if share[second] >= 0.25 else None,
        garment="top" if conf >= GARMENT_FROM else None,
        visible=round(visible, 3),
        clothing_share=round(kept, 3),
    )


def clothing_colour(
    rgb: np.ndarray,
    box: tuple[int, int, int, int],
    landmarks: Sequence[Sequence[float]] | None = None,
    others: Sequence[tuple[int, int, int, int]] = (),
) -> tuple[str | None, tuple[int, int, int] | None]:
    """Dominant clothing colour name under a face and its RGB (see :func:`clothing`)."""
    est = clothing(rgb, box, landmarks, others)
    return est.colour, est.rgb
