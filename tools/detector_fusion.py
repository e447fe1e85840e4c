"""The ``fused`` face detector: tiled multi-scale BlazeFace, re-checked candidates, plus dlib HOG.

Why: on a whole group photo BlazeFace's 128/192 px input shrinks most faces to a few pixels, and dlib's
HOG only sees frontal faces of 80 px and more. So ``fused``

1. runs BlazeFace full range on the whole photo and on overlapping 2 x 2 and 3 x 3 tiles, and short
   range on 3 x 3 and 4 x 4 tiles (:data:`PASSES`), dropping boxes cut by an inner tile edge;
2. merges the passes by box voting (:func:`facelens.tools.blazeface.merge`);
3. keeps a candidate outright when BlazeFace is sure (score >= :data:`SURE`); every other candidate is
   re-checked on a crop centred on it (short range at two zooms and mirrored, and dlib HOG on the crop
   scaled so the face is ~100 px) and scored by a logistic regression over those cues
   (:data:`VERIFY_WEIGHTS`, fitted on the shared WIDER photos, 2-fold cross-validated figures in
   ``bench/detection.md``), kept when that probability is >= :data:`KEEP`;
4. optionally (``hog=True``) adds whole-photo HOG detections that no kept box overlaps, with HOG's
   score mapped onto the same probability scale (:data:`HOG_CALIBRATION`); off by default because it
   barely adds recall on group photos for a large time cost;
5. adds the large faces the tiled passes cannot see (a face filling the frame, cut by the border, a
   collage tile): :mod:`facelens.tools.large_faces` searches padded square windows with BlazeFace short
   range and the padded photo with HOG, and :func:`~facelens.tools.large_faces.combine` keeps one box
   per face and drops parts of a large face that a tile took for a face; in a collage, a panel where
   no face was found gets a close-up look (:func:`~facelens.tools.large_faces.empty_panel_faces`).

Scores of ``fused`` detections are those probabilities (BlazeFace's own score for sure faces), so they
compare across the two sources. Boxes are dlib-tight like every facelens detector.
Without mediapipe, ``fused`` logs a warning once and returns HOG's detections (whole photo, and padded
for large faces), labelled ``hog``: :func:`facelens.tools.faces.detector_in_use` says so too.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from facelens.tools import blazeface as bf
from facelens.tools import faces, large_faces, models

log = logging.getLogger(__name__)

#: (BlazeFace model, tile grid) passes whose candidates are merged
PASSES: tuple[tuple[str, int], ...] = (("full", 1), ("full", 2), ("full", 3), ("short", 3), ("short", 4))
SURE = 0.9  # BlazeFace score above which a candidate needs no re-check
KEEP = 0.5  # verified probability needed to keep a doubtful candidate
#: logistic regression over (score, passes agreeing, best full-range score, best short-range score,
#: re-check short range x2.2, mirrored re-check, re-check x1.6, HOG on the crop clipped to [-2, 2])
#: (964 doubtful candidates of the 300 shared WIDER photos; refit with bench/detection_fit.py)
VERIFY_WEIGHTS = (2.121, 0.559, 2.101, 0.034, 1.023, 1.692, 0.659, 0.568)
VERIFY_BIAS = -3.534
#: HOG score s -> probability 1 / (1 + exp(-(a * s + b)))
HOG_CALIBRATION = (3.83, 1.75)  # fitted on HOG (upsample 0) detections of the WIDER sample

_warned = False


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def hog_on_crop(rgb: np.ndarray, box: np.ndarray, context: float = 2.0, target: int = 100) -> float:
    """Best dlib HOG score on a crop around ``box`` scaled so the face is ``target`` px (-2 if none)."""
    import cv2

    h, w = rgb.shape[:2]
    x, y, bw, bh = box[:4]
    side = context * max(bw, bh)
    cx, cy = x + bw / 2, y + bh / 2
    x0, y0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    x1, y1 = int(min(w, cx + side / 2)), int(min(h, cy + side / 2))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return -2.0
    s = target / max(bw, bh)
    crop = cv2.resize(rgb[y0:y1, x0:x1], (max(1, int((x1 - x0) * s)), max(1, int((y1 - y0) * s))))
    rects, scores, _ = models.hog_detector().run(crop, 0, -1.0)
    best = -2.0
    for r, sc in zip(rects, scores):
        found = np.array([[r.left() / s + x0, r.top() / s + y0, r.width() / s, r.height() / s]])
        if bf.iou(found, np.asarray(box[:4])[None])[0, 0] > 0.2:
            best = max(best, float(sc))
    return best


def candidate_features(rgb: np.ndarray, cand: np.ndarray, per_pass: list[np.ndarray]) -> tuple[float, ...]:
    """The verifier's cues for one merged candidate (the order of :data:`VERIFY_WEIGHTS`)."""
    box = cand[:4]
    agree = [p[bf.iou(p[:, :4], box[None])[:, 0] > 0.3, 4] if len(p) else np.zeros(0) for p in per_pass]
    count = sum(1 for a in agree if len(a))
    best = {
        m: max([float(a.max()) for (mm, _), a in zip(PASSES, agree) if mm == m and len(a)] or [0.0]) for m in bf.MODELS
    }
    return (
        float(cand[4]),
        count,
        best["full"],
        best["short"],
        bf.recheck(rgb, box, "short", 2.2),
        bf.recheck(rgb, box, "short", 2.2, mirror=True),
        bf.recheck(rgb, box, "short", 1.6),
        float(np.clip(hog_on_crop(rgb, box), -2.0, 2.0)),
    )


def _verify(rgb: np.ndarray, cand: np.ndarray, per_pass: list[np.ndarray]) -> float:
    """Probability that a doubtful merged candidate is a face."""
    x = candidate_features(rgb, cand, per_pass)
    return _sigmoid(VERIFY_BIAS + sum(w * v for w, v in zip(VERIFY_WEIGHTS, x)))


def blazeface_fused(rgb: np.ndarray, keep: float = KEEP) -> np.ndarray:
    """Steps 1-3: verified BlazeFace faces as N x 5 native boxes ``x, y, w, h, probability``."""
    per_pass = [bf.tiled_candidates(rgb, model, grid) for model, grid in PASSES]
    merged = bf.merge(np.concatenate(per_pass)) if any(len(p) for p in per_pass) else np.zeros((0, 6))
    out = []
    for cand in merged:
        p = float(cand[4]) if cand[4] >= SURE else _verify(rgb, cand, per_pass)
        if p >= keep:
            out.append((*cand[:4], p))
    return np.asarray(out, dtype=np.float64).reshape(-1, 5)


def detect_fused(
    rgb: np.ndarray, *, threshold: float = KEEP, hog: bool = False, max_side: int = 1280, **hog_options: object
) -> list[faces.Detection]:
    """The default detector: tiled BlazeFace with re-checked candidates, plus dlib HOG.

    Args:
        rgb: H x W x 3 uint8 image.
        threshold: probability needed to keep a face (lower finds more, with more false alarms).
        max_side: photos larger than this are searched on a downscaled copy (boxes come back in
            original pixels).
        hog: also add whole-photo HOG faces that BlazeFace missed (off by default: on the WIDER sample it
            adds 0.003 easy recall for 0.1-0.6 s per photo; HOG still votes on every doubtful candidate).
        **hog_options: passed to :func:`facelens.tools.faces.detect_hog` (``upsample``, ``max_side``).
    """
    global _warned
    if not bf.available():
        if not _warned:
            log.warning(
                "mediapipe is not installed, so the 'fused' detector runs dlib HOG alone (lower recall). "
                "Install it with: pip install 'facelens[mediapipe]'"
            )
            _warned = True
        return large_faces.combine(
            large_faces.detect_large(rgb, use_blazeface=False), faces.detect_hog(rgb, max_side=max_side, **hog_options)
        )
    h, w = rgb.shape[:2]
    work, scale = faces.working_scale(rgb, max_side)  # big photos: tiles of a 1280 px copy
    rows = blazeface_fused(work, threshold)
    rows[:, :4] /= scale
    dets = [faces.Detection(bf.to_tight_box(row, w, h), float(row[4]), "fused") for row in rows]
    if hog:
        a, b = HOG_CALIBRATION
        have = np.array([d.box for d in dets], dtype=np.float64).reshape(-1, 4)
        for d in faces.detect_hog(rgb, max_side=max_side, **hog_options):
            p = _sigmoid(a * d.score + b)
            if p < threshold or (len(have) and bf.iou(np.array([d.box], float), have).max() > 0.2):
                continue
            dets.append(faces.Detection(d.box, p, "fused"))
    dets = large_faces.combine(large_faces.detect_large(rgb), dets)
    return dets + large_faces.empty_panel_faces(rgb, dets)


detect_fused.runs_as = lambda: "fused" if bf.available() else "hog"  # type: ignore[attr-defined]
