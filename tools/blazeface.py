"""MediaPipe BlazeFace detectors, tiled multi-scale search, and the fused default detector.

BlazeFace (short range: 128 px input, faces within ~2 m; full range: 192 px input, faces within
~5 m) ships inside the ``mediapipe==0.10.14`` wheel and runs offline through ``mediapipe.solutions``.
On a whole group photo its input is so small that most faces shrink to a few pixels, so the
``blazeface-tiled`` detector also runs it on overlapping 2 x 2 and 3 x 3 tiles and merges the passes by
box voting; the default ``fused`` detector adds short-range passes on finer tiles and re-checks every
doubtful candidate on a crop centred on it (a face seen at a comfortable scale scores high, a texture
that only looked like a face on a tile edge does not).
``fused`` lives in :mod:`facelens.tools.detector_fusion`.

Box convention: BlazeFace boxes are square, like dlib's HOG boxes; :func:`to_tight_box` maps them onto
dlib's tight box (fitted on WIDER FACE photos where both detectors found the same face; see
``bench/detection.md``), so landmarks, alignment and positions do not depend on which detector ran.

Every detector here is listed in :data:`facelens.tools.faces.DETECTORS`. Without
mediapipe they are still listed but raise a :class:`DependencyError` naming the extra to install;
``fused`` then falls back to HOG alone with a warning in the log.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Iterator
from functools import lru_cache

import numpy as np

from facelens.tools import faces
from facelens.tools.errors import DependencyError, ModelError, missing_dependency

log = logging.getLogger(__name__)
_lock = threading.Lock()

MODELS = {"short": 0, "full": 1}  # name -> mediapipe model_selection

#: BlazeFace box -> dlib tight box, as fractions of the BlazeFace side (centre shift, width, height):
#: medians over 581 faces that both BlazeFace (full range, 3 x 3 tiles) and dlib HOG found on the shared
#: WIDER photos (bench/detection.md). On faces of 20-150 px the two boxes nearly coincide.
TIGHT_FROM_BLAZE = (-0.01, 0.01, 0.99, 0.99)  # dx, dy, w, h


# --- mediapipe plumbing --------------------------------------------------------------------


def available() -> bool:
    """True when mediapipe (and so BlazeFace) can be imported."""
    global _load_failure_logged
    try:
        load_mediapipe()
    except DependencyError as exc:  # not installed: the plain "not available"
        log.debug("mediapipe is not available: %s", exc)
        return False
    except Exception as exc:  # noqa: BLE001 - an installed mediapipe whose import breaks (protobuf, native libs) is "not available" too, but said
        if not _load_failure_logged:
            log.warning(
                "mediapipe is installed but does not load (%s: %s); the BlazeFace detectors are not available",
                type(exc).__name__,
                exc,
                exc_info=True,
            )
            _load_failure_logged = True
        return False
    return True


_load_failure_logged = False  # a broken mediapipe is reported once per process, not on every detection


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Hide what mediapipe's C++ side writes straight to file descriptor 2 while it loads.

    Loading prints TFLite/absl start-up notes and, with protobuf 5+, a harmless AttributeError line
    from its bindings; none of it is for the user, and the CLI promises clean stderr.
    """
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # stderr is not a real file (captured): nothing to hide
        yield
        return
    # One thread at a time: two threads loading at once (the blendshape engines of a thread pool) would
    # each save the descriptor, and the second would save and then restore the first one's /dev/null.
    with _SILENCE_LOCK:
        sys.stderr.flush()
        saved = os.dup(fd)
        try:
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), fd)
                yield
        finally:
            os.dup2(saved, fd)
            os.close(saved)


_SILENCE_LOCK = threading.RLock()


@lru_cache(maxsize=1)
def load_mediapipe():
    """The ``mediapipe`` module, imported once with its start-up noise hidden and its protobuf reader patched.

    Raises:
        DependencyError: mediapipe is not installed.
    """
    try:
        with native_stderr_silenced():
            import mediapipe as mp
    except ImportError as exc:
        raise missing_dependency("mediapipe", "mediapipe", why="the BlazeFace face detectors") from exc
    _patch_protobuf()
    return mp


def _patch_protobuf() -> None:
    """Let mediapipe 0.10.14 read its results without protobuf's deprecated call.

    mediapipe turns result packets into Python messages with ``SymbolDatabase.GetPrototype``, which
    protobuf 4 deprecates (a warning on every detection) and protobuf 5 removed;
    ``message_factory.GetMessageClass`` (protobuf >= 4.21) does the same job. Only the one function
    that needs it is replaced.
    """
    from google.protobuf import message_factory, symbol_database

    if not hasattr(message_factory, "GetMessageClass"):  # an old protobuf: mediapipe's own code works
        return
    from mediapipe.python import packet_getter
    from mediapipe.python._framework_bindings import _packet_getter

    def get_proto_list(packet):  # mirrors mediapipe.python.packet_getter.get_proto_list
        if _packet_getter._get_proto_vector_size(packet) == 0:
            return []
        name = _packet_getter._get_proto_vector_element_type_name(packet)
        cls = message_factory.GetMessageClass(symbol_database.Default().pool.FindMessageTypeByName(name))
        out = []
        for blob in _packet_getter._get_serialized_proto_list(packet):
            msg = cls()
            msg.ParseFromString(blob)
            out.append(msg)
        return out

    packet_getter.get_proto_list = get_proto_list


#: graphs not in use, per model. A MediaPipe graph is not re-entrant and, once a run fails, answers
#: every later call with "Graph has errors"; so each call takes a graph of its own from here and puts
#: it back only when the run succeeded (a failed one is closed, the next call builds a new one). The
#: pool holds at most as many graphs as calls ever ran at once.
_idle: dict[str, list] = {}
_idle_lock = threading.Lock()
#: BlazeFace's input is 128 (short) or 192 (full) px; a crop with a side under this holds no face, and
#: MediaPipe's native code fails on a few pixels, so such crops are answered "no face" without a run
MIN_INPUT_SIDE = 8


def _solution(model: str):
    """A new, started BlazeFace graph for ``model``."""
    mp = load_mediapipe()
    log.info("loading BlazeFace %s-range", model)
    with native_stderr_silenced(), _lock:
        # a low floor: candidates are thresholded (and re-checked) by the callers
        sol = mp.solutions.face_detection.FaceDetection(model_selection=MODELS[model], min_detection_confidence=0.3)
        sol.process(np.zeros((64, 64, 3), dtype=np.uint8))  # start the graph now, while its logging is hidden
    return sol


@contextlib.contextmanager
def _graph(model: str) -> Iterator:
    """A graph used by this call alone; back in the pool after a good run, closed after a failed one."""
    with _idle_lock:
        idle = _idle.setdefault(model, [])
        sol = idle.pop() if idle else None
    if sol is None:
        sol = _solution(model)
    try:
        yield sol
    except BaseException:
        with contextlib.suppress(Exception):
            sol.close()
        raise
    with _idle_lock:
        _idle[model].append(sol)


def raw_detections(rgb: np.ndarray, model: str = "full") -> np.ndarray:
    """One BlazeFace pass over a whole image.

    Returns:
        N x 5 float array of native BlazeFace boxes ``x, y, w, h, score`` in image pixels.

    Raises:
        ModelError: the graph failed on this input (the failed graph is discarded, so later calls
            run on a new one).
    """
    if model not in MODELS:
        raise ModelError(f"Unknown BlazeFace model '{model}'. Choose one of: {', '.join(MODELS)}.")
    h, w = rgb.shape[:2]
    if min(h, w) < MIN_INPUT_SIDE:
        return np.zeros((0, 5), dtype=np.float64)
    with _graph(model) as sol:
        try:
            result = sol.process(np.ascontiguousarray(rgb))
        except RuntimeError as exc:  # MediaPipe reports every native failure as a RuntimeError
            raise ModelError(
                f"BlazeFace failed on a {w}x{h} image ({exc}).",
                hint="Try another detector (--detector hog), or report the image.",
            ) from exc
    rows = []
    for det in result.detections or []:
        b = det.location_data.relative_bounding_box
        rows.append((b.xmin * w, b.ymin * h, b.width * w, b.height * h, float(det.score[0])))
    return np.asarray(rows, dtype=np.float64).reshape(-1, 5)


# --- tiling, merging, re-checking ---------------------------------------------------------


def tiles(width: int, height: int, n: int, overlap: float = 0.25) -> list[tuple[int, int, int, int]]:
    """An n x n grid of overlapping tiles ``(x0, y0, x1, y1)`` covering the image."""
    if n <= 1:
        return [(0, 0, width, height)]
    tw, th = width / (n - (n - 1) * overlap), height / (n - (n - 1) * overlap)
    out = []
    for i in range(n):
        for j in range(n):
            x0, y0 = int(j * tw * (1 - overlap)), int(i * th * (1 - overlap))
            x1 = width if j == n - 1 else min(width, int(round(x0 + tw)))
            y1 = height if i == n - 1 else min(height, int(round(y0 + th)))
            out.append((x0, y0, x1, y1))
    return out


def tiled_candidates(rgb: np.ndarray, model: str, grid: int) -> np.ndarray:
    """BlazeFace over every tile of an n x n grid; N x 5 native boxes in image pixels.

    A box that touches an inner tile edge is a face cut in two; it is dropped because the
    overlapping neighbour tile sees the whole face.
    """
    h, w = rgb.shape[:2]
    found = []
    for x0, y0, x1, y1 in tiles(w, h, grid):
        dets = raw_detections(rgb[y0:y1, x0:x1], model)
        if not len(dets):
            continue
        inner = _touches_inner_edge(dets, x1 - x0, y1 - y0, x0 > 0, y0 > 0, x1 < w, y1 < h)
        dets = dets[~inner]
        dets[:, 0] += x0
        dets[:, 1] += y0
        found.append(dets)
    return np.concatenate(found) if found else np.zeros((0, 5))


def _touches_inner_edge(
    d: np.ndarray, tw: int, th: int, left: bool, top: bool, right: bool, bottom: bool
) -> np.ndarray:
    m = 0.02 * max(tw, th)
    cut = np.zeros(len(d), dtype=bool)
    if left:
        cut |= d[:, 0] < m
    if top:
        cut |= d[:, 1] < m
    if right:
        cut |= d[:, 0] + d[:, 2] > tw - m
    if bottom:
        cut |= d[:, 1] + d[:, 3] > th - m
    return cut


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of two N x 4 / M x 4 arrays of ``x, y, w, h`` boxes."""
    a, b = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
    ix = np.minimum(a[:, None, 0] + a[:, None, 2], b[None, :, 0] + b[None, :, 2]) - np.maximum(
        a[:, None, 0], b[None, :, 0]
    )
    iy = np.minimum(a[:, None, 1] + a[:, None, 3], b[None, :, 1] + b[None, :, 3]) - np.maximum(
        a[:, None, 1], b[None, :, 1]
    )
    inter = np.clip(ix, 0, None) * np.clip(iy, 0, None)
    area_a, area_b = a[:, 2] * a[:, 3], b[:, 2] * b[:, 3]
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def inside(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Fraction of each box of ``a`` that lies inside each box of ``b``."""
    ix = np.minimum(a[:, None, 0] + a[:, None, 2], b[None, :, 0] + b[None, :, 2]) - np.maximum(
        a[:, None, 0], b[None, :, 0]
    )
    iy = np.minimum(a[:, None, 1] + a[:, None, 3], b[None, :, 1] + b[None, :, 3]) - np.maximum(
        a[:, None, 1], b[None, :, 1]
    )
    return np.clip(ix, 0, None) * np.clip(iy, 0, None) / np.maximum(a[:, 2] * a[:, 3], 1e-9)[:, None]


def merge(dets: np.ndarray, iou_thr: float = 0.3, inside_thr: float = 0.7) -> np.ndarray:
    """Box voting: cluster overlapping boxes, average each cluster's boxes by score, keep the best score.

    A box mostly inside a higher-scoring one (a part of a face seen on a finer tile) joins its cluster.
    """
    if not len(dets):
        return dets
    order = np.argsort(-dets[:, 4])
    d = dets[order]
    used = np.zeros(len(d), dtype=bool)
    out = []
    ov, ins = iou(d[:, :4], d[:, :4]), inside(d[:, :4], d[:, :4])
    for i in range(len(d)):
        if used[i]:
            continue
        group = (~used) & ((ov[i] > iou_thr) | (ins[:, i] > inside_thr))
        group[i] = True
        used |= group
        wts = d[group, 4]
        box = (d[group, :4] * wts[:, None]).sum(0) / wts.sum()
        out.append((*box, d[i, 4], int(group.sum())))
    return np.asarray(out, dtype=np.float64).reshape(-1, 6)


def recheck(
    rgb: np.ndarray, box: np.ndarray, model: str = "short", context: float = 2.2, mirror: bool = False
) -> float:
    """Score of the best BlazeFace box on a square crop centred on ``box`` that agrees with it (0 if none).

    Args:
        rgb: the whole image.
        box: ``x, y, w, h`` of the candidate in image pixels.
        model: BlazeFace model to run on the crop.
        context: crop side as a multiple of the box side.
        mirror: run on the mirrored crop (a second, independent look).
    """
    h, w = rgb.shape[:2]
    x, y, bw, bh = (float(v) for v in box[:4])
    side = context * max(bw, bh)
    cx, cy = x + bw / 2, y + bh / 2
    x0, y0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    x1, y1 = int(min(w, cx + side / 2)), int(min(h, cy + side / 2))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return 0.0
    crop = rgb[y0:y1, x0:x1]
    dets = raw_detections(crop[:, ::-1] if mirror else crop, model)
    if not len(dets):
        return 0.0
    if mirror:
        dets[:, 0] = (x1 - x0) - dets[:, 0] - dets[:, 2]
    dets[:, 0] += x0
    dets[:, 1] += y0
    agree = iou(dets[:, :4], np.array([[x, y, bw, bh]]))[:, 0] > 0.4
    return float(dets[agree, 4].max()) if agree.any() else 0.0


# --- detectors ------------------------------------------------------------------------------


def to_tight_box(row: np.ndarray, width: int, height: int) -> faces.Box:
    """Map a native BlazeFace box (``x, y, w, h``, image pixels) onto dlib's tight face box."""
    x, y, bw, bh = (float(v) for v in row[:4])
    dx, dy, fw, fh = TIGHT_FROM_BLAZE
    # BlazeFace's box is square: the height, like the width, is scaled from its width
    return faces.box_around(x + bw / 2 + dx * bw, y + bh / 2 + dy * bw, fw * bw, fh * bw, width, height)


def _detections(rgb: np.ndarray, rows: np.ndarray, threshold: float, name: str) -> list[faces.Detection]:
    h, w = rgb.shape[:2]
    return [faces.Detection(to_tight_box(r, w, h), float(r[4]), name) for r in rows if r[4] >= threshold]


def detect_blazeface(
    rgb: np.ndarray, *, model: str = "full", threshold: float = 0.5, **_: object
) -> list[faces.Detection]:
    """One BlazeFace pass over the whole photo (``model``: "full" range or "short" range)."""
    work, scale = faces.working_scale(rgb, 1280)
    rows = raw_detections(work, model)
    rows[:, :4] /= scale
    return _detections(rgb, rows, threshold, "blazeface" if model == "full" else "blazeface-short")


def detect_blazeface_short(rgb: np.ndarray, *, threshold: float = 0.5, **_: object) -> list[faces.Detection]:
    """BlazeFace short range over the whole photo: for close-ups and selfies."""
    return detect_blazeface(rgb, model="short", threshold=threshold)


def detect_blazeface_tiled(rgb: np.ndarray, *, threshold: float = 0.5, **_: object) -> list[faces.Detection]:
    """BlazeFace full range on the whole photo and on 2 x 2 and 3 x 3 overlapping tiles, box-voted."""
    work, scale = faces.working_scale(rgb, 1280)  # big photos: tiles of a 1280 px copy
    rows = merge(np.concatenate([tiled_candidates(work, "full", grid) for grid in (1, 2, 3)]))
    if len(rows):
        rows[:, :4] /= scale
    return _detections(rgb, rows, threshold, "blazeface-tiled")
