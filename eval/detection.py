"""Face detection recall and precision on a folder of annotated photos (WIDER FACE style).

The folder holds the photos and a ``boxes.json``::

    {"photo.jpg": {"boxes": [[x, y, w, h], ...], "easy": [0, 2], "medium": [0, 1, 2], "hard": [0, 1, 2, 3]}}

Boxes are WIDER FACE head boxes (forehead to chin, ear to ear) in pixels; ``easy``/``medium``/``hard``
list indices into ``boxes`` (an entry without one of them counts all its boxes in that subset).

How it counts (the same for every detector):

- each detection, which facelens returns as a dlib-tight face box, is mapped to WIDER's head-box
  convention with the mapping of the detector that produced it (:data:`WIDER_FROM_TIGHT`);
- per photo, detections are taken best score first and each is matched to the unmatched annotated
  box (any box, all difficulties) it overlaps most, if IoU >= 0.4 (greedy, one-to-one);
- recall of a subset = matched boxes of that subset / boxes of that subset, over all photos;
- precision = matched detections / all detections, against ALL annotated boxes;
- seconds per image = mean wall-clock time of the detector call alone (decoding excluded).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from facelens.tools import faces
from facelens.tools.errors import ImageError, InputError, NotFoundError
from facelens.tools.images import load_image

log = logging.getLogger(__name__)

SUBSETS = ("easy", "medium", "hard")

#: tight box -> WIDER head box per detector, as (centre dx, centre dy, width, height) in units of
#: the tight box's width (dx, dy) and of its width/height (w, h). Medians of WIDER box / detector box
#: over faces matched at IoU > 0.3 on the shared WIDER photos (bench/detection.md). BlazeFace boxes are
#: mapped onto HOG's tight box by the detector itself (blazeface.TIGHT_FROM_BLAZE), and ``fused``
#: returns those, so they share HOG's mapping (the default for any detector not listed); ``cnn`` boxes
#: (MMOD shrunk by 0.9) have their own.
WIDER_FROM_TIGHT: dict[str, tuple[float, float, float, float]] = {
    "hog": (0.01, -0.064, 0.89, 1.17),  # 1,168 faces (HOG upsample 0 and 1, 300 photos)
    "cnn": (0.05, -0.03, 0.97, 1.28),  # 47 faces (30 photos): MMOD boxes sit a little lower and smaller
}
DEFAULT_MAPPING = "hog"


def _native_mappings() -> dict[str, tuple[float, float, float, float]]:
    """RetinaFace and YuNet were trained on WIDER boxes: their tight box maps back onto their own box
    (the inverse of ``TIGHT_FROM_RETINA`` / ``TIGHT_FROM_YUNET``), so WIDER sees the detector's box."""
    from facelens.tools import retinaface

    out = {}
    for name, (dx, dy, fw, fh) in (("retinaface", retinaface.TIGHT_FROM_RETINA), ("yunet", faces.TIGHT_FROM_YUNET)):
        out[name] = (-dx / fw, -dy / fw, 1.0 / fw, 1.0 / fh)
    return out


@dataclass(frozen=True)
class DetectionReport:
    """Recall, precision and speed of one detector on one annotated folder."""

    recall: dict[str, float]  # easy / medium / hard (and all) recall at the IoU threshold
    precision: float  # matched detections / all detections (against all annotated boxes)
    seconds_per_image: float  # mean wall-clock seconds of the detector call
    n_images: int  # photos evaluated
    detector: str  # detector name
    iou: float  # IoU needed for a match
    n_faces: dict[str, int] = field(default_factory=dict)  # annotated boxes per subset
    n_detections: int = 0  # all detections
    cpu_seconds_per_image: float = 0.0  # process CPU seconds per image (honest on a busy machine)
    matching: str = "greedy by score, one-to-one, IoU >= threshold, precision against all boxes; tight boxes mapped to WIDER head boxes per detector"

    def to_dict(self) -> dict:
        """Every field, in order."""
        return asdict(self)


def load_annotations(folder: str | Path) -> dict[str, dict]:
    """Read and check ``folder/boxes.json``; returns ``{file: {"boxes": N x 4 array, subset: indices}}``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder.", hint="Pass a folder that holds the photos and a boxes.json.")
    path = folder / "boxes.json"
    if not path.is_file():
        raise InputError(f"No boxes.json in {folder}.", hint='Add one: {"photo.jpg": {"boxes": [[x, y, w, h], ...]}}.')
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not valid JSON: {exc}.") from exc
    if not isinstance(raw, dict) or not raw:
        raise InputError(f"{path} must be a non-empty object mapping photo file names to their boxes.")
    out = {}
    for name, entry in raw.items():
        where = f"{path}, entry '{name}'"
        if not isinstance(entry, dict) or not isinstance(entry.get("boxes"), list):
            raise InputError(f"{where}: expected an object with a 'boxes' list.")
        try:
            boxes = np.asarray(entry["boxes"], dtype=np.float64).reshape(-1, 4)
        except (TypeError, ValueError) as exc:
            raise InputError(f"{where}: every box must be four numbers [x, y, w, h].") from exc
        if len(boxes) != len(entry["boxes"]) or (len(boxes) and (boxes[:, 2:] <= 0).any()):
            raise InputError(f"{where}: every box must be four numbers [x, y, w, h] with w, h > 0.")
        item = {"boxes": boxes}
        for subset in SUBSETS:
            idx = entry.get(subset, list(range(len(boxes))))
            if not isinstance(idx, list) or not all(isinstance(i, int) and 0 <= i < len(boxes) for i in idx):
                raise InputError(f"{where}: '{subset}' must list box indices between 0 and {len(boxes) - 1}.")
            item[subset] = sorted(set(idx))
        if not (folder / name).is_file():
            raise ImageError(
                f"{where}: the photo {folder / name} is missing.", hint="Fix the name or remove the entry."
            )
        out[name] = item
    return out


def to_wider(box: faces.Box, detector: str) -> np.ndarray:
    """Map a tight facelens box to WIDER's head box with that detector's mapping."""
    dx, dy, fw, fh = (
        WIDER_FROM_TIGHT.get(detector) or _native_mappings().get(detector) or WIDER_FROM_TIGHT[DEFAULT_MAPPING]
    )
    x, y, w, h = (float(v) for v in box)
    cx, cy = x + w / 2 + dx * w, y + h / 2 + dy * w
    return np.array([cx - fw * w / 2, cy - fh * h / 2, fw * w, fh * h])


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ix = np.minimum(a[:, None, 0] + a[:, None, 2], b[None, :, 0] + b[None, :, 2]) - np.maximum(
        a[:, None, 0], b[None, :, 0]
    )
    iy = np.minimum(a[:, None, 1] + a[:, None, 3], b[None, :, 1] + b[None, :, 3]) - np.maximum(
        a[:, None, 1], b[None, :, 1]
    )
    inter = np.clip(ix, 0, None) * np.clip(iy, 0, None)
    return inter / np.maximum(a[:, 2:].prod(1)[:, None] + b[:, 2:].prod(1)[None, :] - inter, 1e-9)


def match(pred: np.ndarray, scores: np.ndarray, truth: np.ndarray, iou: float = 0.4) -> set[int]:
    """Indices of ``truth`` boxes matched greedily (best score first, one-to-one) at IoU >= ``iou``."""
    matched: set[int] = set()
    if not len(pred) or not len(truth):
        return matched
    m = _iou(pred, truth)
    for i in np.argsort(-scores, kind="stable"):
        for j in np.argsort(-m[i], kind="stable"):
            if m[i, j] < iou:
                break
            if int(j) not in matched:
                matched.add(int(j))
                break
    return matched


def evaluate(
    folder: str | Path,
    detector: str = faces.DEFAULT_DETECTOR,
    *,
    iou: float = 0.4,
    limit: int | None = None,
    names: list[str] | None = None,
) -> DetectionReport:
    """Run ``detector`` over an annotated folder and measure recall, precision and time.

    Args:
        folder: folder with the photos and ``boxes.json``.
        detector: a name from :func:`facelens.tools.faces.available_detectors`.
        iou: overlap needed for a match.
        limit: evaluate only N photos, evenly spaced in name order (e.g. for the slow ``cnn``).
        names: evaluate only these photos of the folder (e.g. one half of a split).

    Raises:
        InputError: missing or malformed ``boxes.json``; ImageError: a listed photo is missing or
        unreadable; NotFoundError: unknown detector.
    """
    if detector not in faces.available_detectors():
        raise NotFoundError(f"Unknown detector '{detector}'. Choose one of: {', '.join(faces.available_detectors())}.")
    if not 0.0 < iou <= 1.0:
        raise InputError(f"--iou must be in (0, 1], got {iou}.")
    ann = load_annotations(folder)
    names = sorted(ann) if names is None else sorted(n for n in names if n in ann)
    if limit and 0 < limit < len(names):  # an evenly spaced sample, so every scene category is in it
        names = [names[int(i * len(names) / limit)] for i in range(limit)]
    hits = {s: 0 for s in (*SUBSETS, "all")}
    totals = {s: 0 for s in (*SUBSETS, "all")}
    n_det = tp = 0
    wall = cpu = 0.0
    for name in names:
        rgb = load_image(Path(folder) / name).rgb
        t0, c0 = time.perf_counter(), time.process_time()
        dets = faces.detect_faces(rgb, detector)
        wall += time.perf_counter() - t0
        cpu += time.process_time() - c0
        truth = ann[name]["boxes"]
        pred = np.array([to_wider(d.box, d.detector) for d in dets]).reshape(-1, 4)
        found = match(pred, np.array([d.score for d in dets]), truth, iou)
        n_det += len(dets)
        tp += len(found)
        for s in SUBSETS:
            hits[s] += sum(1 for i in ann[name][s] if i in found)
            totals[s] += len(ann[name][s])
        hits["all"] += len(found)
        totals["all"] += len(truth)
        log.info("%s: %d faces annotated, %d detected, %d matched", name, len(truth), len(dets), len(found))
    n = max(len(names), 1)
    return DetectionReport(
        recall={s: round(hits[s] / totals[s], 4) if totals[s] else 0.0 for s in hits},
        precision=round(tp / n_det, 4) if n_det else 0.0,  # no detections: nothing was right
        seconds_per_image=round(wall / n, 4),
        n_images=len(names),
        detector=detector,
        iou=iou,
        n_faces=totals,
        n_detections=n_det,
        cpu_seconds_per_image=round(cpu / n, 4),
    )


@dataclass(frozen=True)
class FalseFaceReport:
    """Detections on squares cut from annotated photos away from every annotated face."""

    squares: int  # face-free squares searched
    squares_with_face: int  # squares where the detector reported at least one face
    false_faces: int  # faces reported on all of them
    detector: str  # detector name
    sizes: tuple[int, int]  # side range of the squares, px

    @property
    def rate(self) -> float:
        """Share of face-free squares where a face was reported."""
        return self.squares_with_face / self.squares if self.squares else 0.0


def face_free_squares(
    folder: str | Path,
    per_photo: int = 2,
    sizes: tuple[int, int] = (150, 260),
    margin: int = 20,
    seed: int = 0,
    names: list[str] | None = None,
) -> list[np.ndarray]:
    """Squares of ``sizes`` px cut from the annotated photos with no annotated box within ``margin`` px
    (a random search, at most ``per_photo`` per photo; the same squares for the same seed)."""
    ann = load_annotations(folder)
    rng = np.random.default_rng(seed)
    out = []
    for name in sorted(ann) if names is None else sorted(names):
        rgb = load_image(Path(folder) / name).rgb
        h, w = rgb.shape[:2]
        boxes = ann[name]["boxes"]
        got = 0
        for _ in range(60):
            if got >= per_photo:
                break
            side = int(rng.integers(sizes[0], sizes[1] + 1))
            if side >= min(h, w):
                break
            x, y = int(rng.integers(0, w - side)), int(rng.integers(0, h - side))
            near = (
                (boxes[:, 0] < x + side + margin)
                & (boxes[:, 0] + boxes[:, 2] > x - margin)
                & (boxes[:, 1] < y + side + margin)
                & (boxes[:, 1] + boxes[:, 3] > y - margin)
            )
            if len(boxes) and near.any():
                continue
            out.append(np.ascontiguousarray(rgb[y : y + side, x : x + side]))
            got += 1
    return out


def false_faces(
    folder: str | Path, detector: str = faces.DEFAULT_DETECTOR, **square_options: object
) -> FalseFaceReport:
    """Run ``detector`` on the face-free squares of :func:`face_free_squares`: every face it finds is false.

    WIDER leaves some faces unlabelled (tiny, blurred, in crowds), so a few of these are real faces; the
    figure compares detectors, it is not an exact false-alarm rate."""
    squares = face_free_squares(folder, **square_options)  # type: ignore[arg-type]
    counts = [len(faces.detect_faces(sq, detector)) for sq in squares]
    sizes = square_options.get("sizes", (150, 260))
    return FalseFaceReport(
        len(squares), sum(c > 0 for c in counts), sum(counts), faces.detector_in_use(detector), tuple(sizes)
    )  # type: ignore[arg-type]
