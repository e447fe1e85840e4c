"""Large faces: portraits, tight crops, collage tiles and faces cut by the image border.

The tiled BlazeFace passes of the ``fused`` detector (:mod:`facelens.tools.detector_fusion`) look for
faces of 20-150 px in group photos; a face that fills most of the frame never fits BlazeFace's input
there (its box would run off the tile), and a sliding-window detector like dlib's HOG misses a face that
touches the border. This stage finds them the way enrolment used to, for everyone:

1. the photo is cut into square windows of its short side (one window for a square photo, overlapping
   windows along the long side of a wide collage), and each window, downscaled to at most
   :data:`WORK_SIDE` px and **padded with a black border** of :data:`PAD` x its side, goes through
   BlazeFace short range, so a frame-filling or border-cut face sits inside the input with a margin;
2. dlib HOG runs once over the whole photo, downscaled and padded the same way, for large frontal faces
   (its box is the reference for the tight convention, and it agrees with BlazeFace on real faces);
3. candidates are merged by box voting and kept
   when HOG found the same face (BlazeFace >= :data:`BLAZE_AGREE` or HOG >= :data:`HOG_KEEP`), or
   when BlazeFace finds it again on square crops centred on it at 2 and 1.5 times its side (both
   >= :data:`RECHECK_BOTH`, one >= :data:`RECHECK_KEEP`), black where the crop runs off the photo;
   or HOG alone is confident (>= HOG_KEEP). Only faces at least :data:`MIN_SIDE` of the photo's short
   side are kept here: smaller ones are the tiled passes' job.

4. a collage on a plain background is cut into its panels (:func:`panels`), tiles laid edge to edge at
   the :func:`seams` between them; a panel where no face was found gets a close-up look
   (:func:`close_up`): a face larger than its tile, cut by the tile's edges, found when several
   BlazeFace passes over the panel framed in black borders of several widths and offsets agree.

The thresholds were set on the WIDER sample, half of the ``faces/portraits`` people (the even-numbered
ones) and generated collages with even seeds; everything else is held out (see ``bench/detection.md``).
"""

from __future__ import annotations

import math

import numpy as np

from facelens.tools import blazeface as bf
from facelens.tools import faces, models

SUB_WINDOW = 0.6  # side of the finer windows, as a fraction of the short side
PAD = 0.25  # black border around each window, as a fraction of its side
WORK_SIDE = 384  # windows are searched on a copy at most this many px wide (BlazeFace's input is 128)
HOG_FACE = 90  # px a face of HOG_MIN_SIDE is scaled to for HOG (its window is 80 px)
HOG_MIN_SIDE = 0.35  # HOG looks for faces of at least this fraction of the short side (smaller: BlazeFace)
MIN_SIDE = 0.2  # a large face's side is at least this fraction of the photo's short side
RECHECK_KEEP = 0.65  # best BlazeFace score on the re-check crops (x2 and x1.5 the face), without HOG's agreement
RECHECK_BOTH = 0.5  # ... and both re-checks must find the face
BLAZE_AGREE = 0.5  # BlazeFace score kept when HOG found the same face
HOG_KEEP = 0.5  # HOG score kept without BlazeFace's agreement
PART_SIDE = 2.0  # a box inside a higher-scoring one at least this many times its side is a part of it ...
PART_INSIDE = 0.9  # ... when this much of it lies inside (a face behind a larger one overlaps it less)
#: HOG score s -> probability 1 / (1 + exp(-(a * s + b))), shared with detector_fusion.HOG_CALIBRATION
HOG_CALIBRATION = (3.83, 1.75)


def _along(length: int, side: int, step: float) -> list[int]:
    if length <= side:
        return [0]
    n = math.ceil((length - side) / (side * step)) + 1
    return [int(round(k * (length - side) / (n - 1))) for k in range(n)]


def square_windows(width: int, height: int) -> list[tuple[int, int, int, int]]:
    """Where to look for large faces, as ``(x0, y0, x1, y1)``: the whole photo, squares of its short
    side along the long side, and overlapping squares of :data:`SUB_WINDOW` x the short side (a face of
    a 2 x 2 collage is too small in the whole photo and cut by the half-photo tiles)."""
    out = [(0, 0, width, height)]
    s = min(width, height)
    if max(width, height) > 1.2 * s:
        out += [(x, y, x + s, y + s) for y in _along(height, s, 0.5) for x in _along(width, s, 0.5)]
    if max(width, height) > 1.6 * s:  # a strip: the squares above see every tile
        return out
    sub = int(SUB_WINDOW * s)
    out += [(x, y, x + sub, y + sub) for y in _along(height, sub, 1.0) for x in _along(width, sub, 1.0)]
    return out


def _pad(rgb: np.ndarray, side: int, border: float = PAD) -> tuple[np.ndarray, float, int]:
    """Downscale to at most ``side`` px and add a black border of ``border`` x the longer side;
    returns the copy, scale and border width."""
    import cv2

    h, w = rgb.shape[:2]
    scale = min(1.0, side / float(max(h, w)))
    work = (
        rgb
        if scale >= 1.0
        else cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    )
    m = max(8, int(border * max(work.shape[:2])))
    return cv2.copyMakeBorder(work, m, m, m, m, cv2.BORDER_CONSTANT, value=(0, 0, 0)), scale, m


def blaze_candidates(rgb: np.ndarray) -> np.ndarray:
    """BlazeFace short range on every padded square window; N x 5 native boxes in image pixels."""
    h, w = rgb.shape[:2]
    found = []
    for x0, y0, x1, y1 in square_windows(w, h):
        padded, scale, m = _pad(np.ascontiguousarray(rgb[y0:y1, x0:x1]), WORK_SIDE)
        d = bf.raw_detections(padded, "short")
        if not len(d):
            continue
        d[:, 0] = (d[:, 0] - m) / scale + x0
        d[:, 1] = (d[:, 1] - m) / scale + y0
        d[:, 2:4] /= scale
        found.append(d)
    return np.concatenate(found) if found else np.zeros((0, 5))


def hog_candidates(rgb: np.ndarray, threshold: float = 0.0) -> list[faces.Detection]:
    """dlib HOG over the whole photo, padded, at the scale where a face of :data:`HOG_MIN_SIDE` x the
    short side fills HOG's 80 px window (tight boxes in image pixels)."""
    h, w = rgb.shape[:2]
    scale = min(1.0, HOG_FACE / (HOG_MIN_SIDE * min(h, w)))
    padded, scale, m = _pad(rgb, int(max(h, w) * scale))
    rects, scores, _ = models.hog_detector().run(padded, 0, threshold)
    out = []
    for r, s in zip(rects, scores):
        x0, y0 = (r.left() - m) / scale, (r.top() - m) / scale
        x1, y1 = (r.right() + 1 - m) / scale, (r.bottom() + 1 - m) / scale
        x0, y0, x1, y1 = max(0, round(x0)), max(0, round(y0)), min(w, round(x1)), min(h, round(y1))
        if x1 - x0 > 1 and y1 - y0 > 1:
            out.append(faces.Detection((x0, y0, x1 - x0, y1 - y0), float(s), "hog"))
    return out


def recheck(rgb: np.ndarray, box: faces.Box, context: float = 2.0) -> float:
    """BlazeFace short range on a square crop of ``context`` x the box side centred on it, black where
    the crop runs off the photo (so a face cut by the border keeps its margin); best agreeing score."""
    import cv2

    h, w = rgb.shape[:2]
    x, y, bw, bh = box
    side = int(context * max(bw, bh))
    x0, y0 = int(x + bw / 2 - side / 2), int(y + bh / 2 - side / 2)
    cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(w, x0 + side), min(h, y0 + side)
    if cx1 - cx0 < 8 or cy1 - cy0 < 8:
        return 0.0
    crop = cv2.copyMakeBorder(
        np.ascontiguousarray(rgb[cy0:cy1, cx0:cx1]),
        cy0 - y0,
        y0 + side - cy1,
        cx0 - x0,
        x0 + side - cx1,
        cv2.BORDER_CONSTANT,
        value=(0, 0, 0),
    )
    scale = min(1.0, 256 / side)
    if scale < 1.0:
        crop = cv2.resize(crop, (int(side * scale), int(side * scale)), interpolation=cv2.INTER_AREA)
    d = bf.raw_detections(crop, "short")
    if not len(d):
        return 0.0
    d[:, :4] /= scale
    d[:, 0] += x0
    d[:, 1] += y0
    tight = np.array([bf.to_tight_box(r, w + 10**6, h + 10**6) for r in d], float)  # no clipping at this point
    agree = bf.iou(tight, np.array([box], float))[:, 0] > 0.4
    return float(d[agree, 4].max()) if agree.any() else 0.0


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def detect_large(rgb: np.ndarray, *, use_blazeface: bool = True) -> list[faces.Detection]:
    """Large faces (side >= :data:`MIN_SIDE` x the short side) as tight boxes scored 0-1.

    Args:
        rgb: H x W x 3 uint8 image.
        use_blazeface: False when mediapipe is missing: HOG alone (still padded, so tight crops work).
    """
    h, w = rgb.shape[:2]
    min_side = MIN_SIDE * min(h, w)
    hog = [d for d in hog_candidates(rgb) if max(d.box[2], d.box[3]) >= min_side]
    hog_boxes = np.array([d.box for d in hog], dtype=np.float64).reshape(-1, 4)
    hog_scores = np.array([d.score for d in hog])
    a, b = HOG_CALIBRATION
    out: list[tuple[faces.Box, float]] = []
    used = np.zeros(len(hog), dtype=bool)
    if use_blazeface:
        rows = bf.merge(blaze_candidates(rgb))
        for row in rows:
            box = bf.to_tight_box(row, w, h)
            if max(box[2], box[3]) < min_side:
                continue
            score = float(row[4])
            agree = bf.iou(np.array([box], float), hog_boxes)[0] > 0.3 if len(hog) else np.zeros(0, bool)
            hog_best = float(hog_scores[agree].max()) if agree.any() else None
            used |= agree
            if hog_best is not None and (hog_best >= HOG_KEEP or score >= BLAZE_AGREE):
                out.append((box, max(score, _sigmoid(a * hog_best + b))))
                continue
            wide, close = recheck(rgb, box, 2.0), recheck(rgb, box, 1.5)
            if max(wide, close) >= RECHECK_KEEP and min(wide, close) >= RECHECK_BOTH:
                out.append((box, max(score, wide, close)))
    for d, u in zip(hog, used):
        if not u and d.score >= (HOG_KEEP if use_blazeface else 0.0):
            out.append((d.box, _sigmoid(a * d.score + b)))
    return [faces.Detection(box, round(p, 4), "fused" if use_blazeface else "hog") for box, p in out]


def drop_parts(dets: list[faces.Detection], inside: float = PART_INSIDE) -> list[faces.Detection]:
    """Without the parts of a face: a box lying (> ``inside`` of it) in a box that scored higher and is at
    least :data:`PART_SIDE` x its side (an eye of a close-up that a fine tile took for a face; a face in
    the background that a foreground face's box overlaps is only partly inside it and stays)."""
    boxes = np.array([d.box for d in dets], float).reshape(-1, 4)
    side, score = boxes[:, 2:].max(axis=1), np.array([d.score for d in dets])
    holder = (
        (bf.inside(boxes, boxes) > inside)
        & (score[None, :] > score[:, None])
        & (side[None, :] >= PART_SIDE * side[:, None])
    )
    return [d for d, part in zip(dets, holder.any(axis=1)) if not part]


def combine(large: list[faces.Detection], small: list[faces.Detection], inside: float = 0.6) -> list[faces.Detection]:
    """Merge large faces with the tiled passes' faces: one box per face, parts of a face dropped.

    First the tiled faces lose their own parts (:func:`drop_parts`), so two eyes of one face never
    make its large box look like a box over a crowd.

    A large face that holds two or more of the small faces (other than the tiled box of the same face,
    IoU > 0.5) is a false alarm over a crowd and goes.
    Then, best score first, a box overlapping a kept one at IoU > 0.3 is the same face and goes; last, a
    small face lying mostly inside a kept large one is a part of it (a tile that saw an eye and a
    nostril of a close-up) and goes. A tiled box that outscored a large face's box stands for that
    large face here, so the parts inside it go too.
    """
    small = drop_parts(small)
    small_boxes = np.array([d.box for d in small], float).reshape(-1, 4)

    def holds_others(d: faces.Detection) -> bool:  # two or more tiled faces inside it, its own box aside
        box = np.array([d.box], float)
        return ((bf.inside(small_boxes, box)[:, 0] > inside) & (bf.iou(small_boxes, box)[:, 0] <= 0.5)).sum() >= 2

    large = [d for d in large if not len(small) or not holds_others(d)]
    kept: list[faces.Detection] = []
    is_large: list[bool] = []  # a large face, or the tiled box that stands for one (it outscored it)
    for d in sorted(large + small, key=lambda d: -d.score):
        ov = bf.iou(np.array([d.box], float), np.array([k.box for k in kept], float).reshape(-1, 4))[0]
        if (ov > 0.3).any():
            if d in large:
                is_large[int(ov.argmax())] = True
            continue
        kept.append(d)
        is_large.append(d in large)
    big = np.array([d.box for d, b in zip(kept, is_large) if b], float).reshape(-1, 4)
    return [
        d
        for d, b in zip(kept, is_large)
        if b or not len(big) or not (bf.inside(np.array([d.box], float), big)[0] > inside).any()
    ]


# --- collages: panels on a plain background, and close-ups cut by a panel's edges ---------------

PLAIN_RANGE = 12  # a line of plain background: each channel varies along it by at most this many levels
MIN_PANEL = 64  # px: content narrower than this between plain lines is not a panel (a rule, a caption)
SEAM_STEP = 8.0  # a seam between two tiles laid edge to edge: the median change across it (levels) ...
SEAM_RATIO = 3.0  # ... is at least this many times the change across the lines on either side ...
SEAM_NEAR = 8  # ... up to this many lines away (a photo enlarged up to 8x by repeating lines has none)
#: (BlazeFace model, black border as a fraction of the panel side, share of the vertical border moved
#: from below the panel to above it) of the close-up look at an empty panel: the face of a close-up
#: is often cut more at one edge (forehead or chin outside the tile), so its centre is off the panel's
CLOSE_PASSES: tuple[tuple[str, float, float], ...] = tuple(
    ("full", pad, shift) for pad in (0.75, 1.0, 1.5, 2.0) for shift in (0.0, 0.3, -0.3)
)
CLOSE_SCORE = 0.6  # a pass's box counts when it scores at least this ...
CLOSE_MIN_SIDE = 0.5  # ... and is at least this fraction of the panel's short side
CLOSE_AGREE = 3  # passes that must find the same face


def _plain_lines(region: np.ndarray, axis: int) -> np.ndarray:
    """Which rows (``axis`` 0) or columns (1) vary by at most PLAIN_RANGE in every channel."""
    lines = region[:, ::3] if axis == 0 else region[::3].transpose(1, 0, 2)  # every 3rd pixel along a line
    # a cheap first look: a plain line is plain in green too (a contiguous copy of the green pixels read,
    # reduced along its rows or down its columns: 0.4 ms instead of 0.7 reducing the strided view)
    green = np.ascontiguousarray(region[:, ::3, 1] if axis == 0 else region[::3, :, 1])
    plain = (green.max(axis=1 - axis).astype(np.int16) - green.min(axis=1 - axis)) <= PLAIN_RANGE
    if plain.any():  # then red and blue, each on its own (numpy reduces a 2-channel axis slowly: 3x the time)
        rows = lines[plain]
        red, blue = rows[:, :, 0], rows[:, :, 2]
        spread = np.maximum(
            red.max(axis=1).astype(np.int16) - red.min(axis=1), blue.max(axis=1).astype(np.int16) - blue.min(axis=1)
        )
        plain[plain] = spread <= PLAIN_RANGE
    return plain


def _content_runs(region: np.ndarray, axis: int) -> list[tuple[int, int]]:
    """Runs of lines (rows for ``axis`` 0, columns for 1) that are not plain background, >= MIN_PANEL long."""
    plain = _plain_lines(region, axis)
    edges = np.flatnonzero(np.diff(np.concatenate(([True], plain, [True])).astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(edges[0::2], edges[1::2]) if b - a >= MIN_PANEL]


def seams(region: np.ndarray, axis: int) -> list[int]:
    """Where two pictures laid edge to edge meet (no gap between them): the lines (rows for ``axis`` 0,
    columns for 1) ``k`` such that the median change between lines ``k - 1`` and ``k`` (green channel,
    every 4th pixel along them) is at least
    :data:`SEAM_STEP` levels and :data:`SEAM_RATIO` x every change between lines up to :data:`SEAM_NEAR`
    steps away (so a photo enlarged by repeating lines, whose steps alternate, has no seams).

    Inside one photo the change from line to line varies smoothly (even a sharp edge is spread over a few
    lines, and it rarely runs right across the picture); a tile pasted against another jumps at one line.
    Only cuts leaving :data:`MIN_PANEL` px on both sides count.
    """
    import cv2

    # every 4th pixel along a line, green, as a contiguous copy; lines along ``axis`` of ``green``
    green = np.ascontiguousarray(region[:, ::4, 1] if axis == 0 else region[::4, :, 1])
    lines = green.shape[axis]
    if lines < 2 * MIN_PANEL:
        return []
    if axis == 0:  # uint8 |line k - line k - 1|, exact; one row per pair of lines
        change = cv2.absdiff(green[1:], green[:-1])
    else:  # the same for columns, read column by column (a transposed copy costs 3 x as much)
        change = cv2.absdiff(green[:, 1:], green[:, :-1]).T
    step = _median_steps(change)
    cut = np.flatnonzero(_stands_out(step)) + 1
    return [int(k) for k in cut if MIN_PANEL <= k <= lines - MIN_PANEL]


_NEIGHBOURS = np.array([d for d in range(-SEAM_NEAR, SEAM_NEAR + 1) if d])  # offsets of the lines near one


def _stands_out(step: np.ndarray) -> np.ndarray:
    """Which steps are >= :data:`SEAM_STEP` and :data:`SEAM_RATIO` x every step up to :data:`SEAM_NEAR` away
    (the neighbours are looked at only for the few steps >= SEAM_STEP)."""
    out = step >= SEAM_STEP
    k = np.flatnonzero(out)
    if len(k):
        padded = np.concatenate((np.zeros(SEAM_NEAR), step, np.zeros(SEAM_NEAR)))
        near = padded[k[:, None] + SEAM_NEAR + _NEIGHBOURS].max(axis=1)
        out[k] = step[k] >= SEAM_RATIO * np.maximum(near, 1.0)
    return out


def _median_steps(change: np.ndarray) -> np.ndarray:
    """``step[k - 1]``: the median of row ``k - 1`` of ``change`` (the change from line k - 1 to line k along
    the line: a median, so an edge that crosses only part of a photo, however sharp, is no seam), exact
    wherever :func:`seams` looks at it and 0 elsewhere.

    A seam's step is at least :data:`SEAM_STEP`, so at least half of its line's changes are >= SEAM_STEP (a
    cheap count picks the candidates); the median (the costly part: about 4 ms of a 1024 px photo's 6 ms
    when taken on every line) is taken on the candidates; a candidate still standing out against the
    candidates near it (:func:`_stands_out` with 0 for the other lines, whose steps are >= 0) then gets
    the medians of its :data:`SEAM_NEAR` neighbours on each side, which decide. Every other line is no seam
    (its median is below SEAM_STEP, or a line near it has a step too large), and it is no neighbour of a
    line that could be one: :func:`seams` finds the same cuts as with every median (and a photo rarely
    has a candidate left after the first two looks).
    """
    n = change.shape[1]
    # the median is >= SEAM_STEP only when the upper middle value is, i.e. n - n // 2 values are
    candidate = np.flatnonzero(np.count_nonzero(change >= SEAM_STEP, axis=1) >= n - n // 2)
    step = np.zeros(len(change))
    if not len(candidate):
        return step
    step[candidate] = np.median(change[candidate].astype(np.int16), axis=1)
    seam = np.flatnonzero(_stands_out(step))
    if len(seam):
        near = np.clip((seam[:, None] + np.arange(-SEAM_NEAR, SEAM_NEAR + 1)).ravel(), 0, len(change) - 1)
        near = np.setdiff1d(near, candidate)  # the candidates' medians are there already
        if len(near):
            step[near] = np.median(change[near].astype(np.int16), axis=1)
    return step


def _split(a: int, b: int, cuts: list[int]) -> list[tuple[int, int]]:
    """``[a, b)`` cut at ``cuts`` (offsets from ``a``), pieces shorter than MIN_PANEL merged into the last."""
    out, start = [], a
    for k in cuts:
        if a + k - start >= MIN_PANEL:
            out.append((start, a + k))
            start = a + k
    if out and b - start < MIN_PANEL:
        out[-1] = (out[-1][0], b)
    else:
        out.append((start, b))
    return out


def panels(rgb: np.ndarray) -> list[tuple[int, int, int, int]]:
    """The panels of a collage, as ``(x0, y0, x1, y1)``: regions of content that plain background lines
    (margins and gaps) running right across the photo cut apart, cut again inside each (an XY cut); a
    region with no plain line across it is cut at its :func:`seams` (tiles laid edge to edge).

    Returns no panel unless the photo falls into two or more (an ordinary photo has no such lines).
    """
    h, w = rgb.shape[:2]
    todo, out = [(0, 0, w, h)], []
    while todo:
        x0, y0, x1, y1 = todo.pop()
        region = rgb[y0:y1, x0:x1]
        ys, xs = _content_runs(region, 0), _content_runs(region, 1)
        if len(ys) > 1:
            todo += [(x0, y0 + a, x1, y0 + b) for a, b in ys]
        elif len(xs) > 1:
            todo += [(x0 + a, y0, x0 + b, y1) for a, b in xs]
        elif ys and xs:
            (ya, yb), (xa, xb) = ys[0], xs[0]
            content = region[ya:yb, xa:xb]
            if cut := seams(content, 0):
                todo += [(x0 + xa, y0 + a, x0 + xb, y0 + b) for a, b in _split(ya, yb, cut)]
            elif cut := seams(content, 1):
                todo += [(x0 + a, y0 + ya, x0 + b, y0 + yb) for a, b in _split(xa, xb, cut)]
            else:
                out.append((x0 + xa, y0 + ya, x0 + xb, y0 + yb))
    return sorted(out, key=lambda p: (p[1], p[0])) if len(out) > 1 else []


def close_up(rgb: np.ndarray, panel: tuple[int, int, int, int]) -> faces.Detection | None:
    """A face larger than its panel (a close-up cut by the panel's edges, eyes or chin outside it).

    BlazeFace looks at the panel padded with black borders of several widths (:data:`CLOSE_PASSES`),
    so the cut face appears at sizes its models know; a face is kept when :data:`CLOSE_AGREE` passes
    find the same large box. Its box is clipped to the panel.
    """
    x0, y0, x1, y1 = panel
    crop = np.ascontiguousarray(rgb[y0:y1, x0:x1])
    side = min(x1 - x0, y1 - y0)
    found = []
    for model, pad, shift in CLOSE_PASSES:
        work, scale, m = _pad(crop, int(WORK_SIDE / (1 + 2 * pad)), border=pad)
        top = int(round(m * (1 + shift)))
        if top != m:  # the same black frame, more of it above the panel (shift > 0) or below
            work = np.ascontiguousarray(np.roll(work, top - m, axis=0))
        d = bf.raw_detections(work, model)
        d = d[(d[:, 4] >= CLOSE_SCORE) & (d[:, 2] / scale >= CLOSE_MIN_SIDE * side)]
        if len(d):
            d = d[[int(d[:, 4].argmax())]]  # one vote per pass
            d[:, :2] = (d[:, :2] - (m, top)) / scale + (x0, y0)
            d[:, 2:4] /= scale
            found.append(d)
    if len(found) < CLOSE_AGREE:
        return None
    best = max(bf.merge(np.concatenate(found)), key=lambda r: r[5])
    if best[5] < CLOSE_AGREE:
        return None
    bx, by, bw, bh = bf.to_tight_box(best, x1, y1)
    bx, by, bw, bh = max(bx, x0), max(by, y0), min(x1, bx + bw) - max(bx, x0), min(y1, by + bh) - max(by, y0)
    if bw < 2 or bh < 2:
        return None
    return faces.Detection((bx, by, bw, bh), round(float(best[4]), 4), "fused")


def empty_panel_faces(rgb: np.ndarray, found: list[faces.Detection]) -> list[faces.Detection]:
    """Close-up faces in the collage panels where no face was ``found`` (no box centred in them)."""
    out = []
    for p in panels(rgb):
        x0, y0, x1, y1 = p
        if any(x0 <= d.box[0] + d.box[2] / 2 < x1 and y0 <= d.box[1] + d.box[3] / 2 < y1 for d in found):
            continue
        d = close_up(rgb, p)
        if d is not None:
            out.append(d)
    return out
