"""Scene analysis: everything facelens knows about the people in one photo.

image -> safe decode -> detection -> landmarks -> per face, batched: embedding, emotion, age and
gender, position and clothing colour -> identity lookup -> :class:`SceneAnalysis`.

The expensive part is cached by image content hash (and detector) under FACELENS_HOME/cache, so a
follow-up question about the same photo costs no new inference: one sealed file per entry (the
scene JSON and the face embeddings together), written in one atomic step; a damaged entry is
recomputed, and temp files a killed process left are deleted when the cache is next written.
Identity is never cached: it is looked up again each time, so enrolling or removing a person takes
effect at once. The entry holds dlib's embeddings (age/gender, exemplars, ``compare_faces``) and, once a
gallery of SFace vectors has been searched, the faces' SFace embeddings too (tools/embedders.py); removing a person also deletes the cache entries holding their face
(:func:`forget_faces`).
"""

from __future__ import annotations

import io
import json
import logging
import time
from pathlib import Path

import numpy as np

from facelens.tools import appearance, atomic, config, faces
from facelens.tools.errors import FacelensError
from facelens.tools.images import LoadedImage, load_image
from facelens.tools.schema import FaceAnalysis, ImageInfo, SceneAnalysis

log = logging.getLogger(__name__)

#: bump when the cached content changes meaning (new models, new fields)
CACHE_VERSION = "2"  # 2: the fused detector finds large faces (issue 12)


def _cache_path(sha: str, detector: str) -> Path:
    key = f"{sha}-{detector}-v{CACHE_VERSION}{_model_tag()}"
    return config.subdir("cache") / f"{key}.npz"


def _model_tag() -> str:
    # cached results must be recomputed when the attribute models change
    try:
        from facelens.tools import attributes, blendshapes, emotion

        # the blendshapes' engine too: LiteRT's and MediaPipe's coefficients differ slightly
        return f"-e{emotion.model_version()}-{blendshapes.engine()}-a{attributes.model_version()}"
    except (ImportError, AttributeError, FacelensError):
        return ""


def _entry_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(atomic.read_sealed(path)), allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def _read_entry(path: Path) -> tuple[SceneAnalysis, np.ndarray]:
    data = _entry_arrays(path)
    return SceneAnalysis.model_validate_json(bytes(data["scene"])), np.asarray(data["vectors"], dtype=np.float32)


def _write_entry(path: Path, scene: SceneAnalysis, vecs: np.ndarray, **more: np.ndarray) -> None:
    buf = io.BytesIO()
    np.savez(
        buf,
        scene=np.frombuffer(scene.model_dump_json().encode(), dtype=np.uint8),
        vectors=np.asarray(vecs, dtype=np.float32),
        **{k: np.asarray(v, dtype=np.float32) for k, v in more.items()},
    )
    old = [p for p in path.parent.glob(".tmp-*") if time.time() - p.stat().st_mtime > 3600]  # older versions' temps
    atomic.remove_files(atomic.stale_temps(path.parent) + old)  # left by killed processes
    atomic.write_sealed(path, buf.getvalue())


def _emotion_points(f: faces.Face) -> tuple[tuple[float, float], ...]:
    """The 5 points the expression model is framed by: dlib's (from its 68, computed anyway for dlib's
    embedding), since its FER template was measured on those. With RetinaFace's own 5 points instead,
    399 expression photos gave 0.609 vs 0.617 accuracy and 0.90 agreement (issue 22): within noise, but
    not better, so the model keeps the points it was measured with until its template is re-measured."""
    if len(f.landmarks68) == 68:
        return tuple((float(x), float(y)) for x, y in faces.five_from_68(np.asarray(f.landmarks68, dtype=np.float64)))
    return f.landmarks


def _start_emotion(rgb: np.ndarray, found: list[faces.Face], timings: dict[str, float]):
    """Start reading every face's expression: the CNN now, the blendshapes in the background while the
    caller embeds the faces and reads age, gender and clothing. Returns the function that waits for and
    returns the estimates (its wait is added to ``timings["emotion"]``), or None without the model or faces."""
    if not found:
        return None
    try:
        from facelens.tools import emotion
    except ImportError:
        return None
    if not emotion.available():
        return None
    t = time.perf_counter()
    finish = emotion.classify_later(rgb, [_emotion_points(f) for f in found])
    timings["emotion"] = (time.perf_counter() - t) * 1000

    def result() -> list:
        t = time.perf_counter()
        out = finish()
        timings["emotion"] += (time.perf_counter() - t) * 1000
        return out

    return result


def _estimate_age_gender(
    rgb: np.ndarray, found: list[faces.Face], vecs: np.ndarray, timings: dict[str, float]
) -> list[dict]:
    """Age and gender per face, batched. Empty fields where a model is not installed."""
    extra: list[dict] = [{} for _ in found]
    if not found:
        return extra
    try:
        from facelens.tools import attributes
    except ImportError:
        attributes = None  # type: ignore[assignment]
    if attributes is not None and attributes.available() and len(vecs):
        t = time.perf_counter()
        for d, (age, group, gender) in zip(extra, attributes.predict_faces(rgb, [f.box for f in found], vecs)):
            d.update(age=age, age_group=group, gender=gender, life_stage=attributes.life_stage(age))
        timings["age_gender"] = (time.perf_counter() - t) * 1000
    return extra


def analyze_image(
    source: str | Path | bytes | LoadedImage,
    *,
    detector: str = faces.DEFAULT_DETECTOR,
    identify: bool = True,
    use_cache: bool = True,
    gallery: object | None = None,
) -> SceneAnalysis:
    """Analyse every face in a photo.

    Args:
        source: image path, bytes, or a LoadedImage.
        detector: detector name (see ``facelens.tools.faces.available_detectors()``).
        identify: look faces up in the identity gallery.
        use_cache: reuse results computed earlier for the same image bytes and detector.
        gallery: an identity store (``facelens.tools.identity_store``; default: the configured one).

    Returns:
        SceneAnalysis with faces numbered 1..N from left to right.
    """
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    img = load_image(source)
    timings["decode"] = (time.perf_counter() - t0) * 1000
    path = _cache_path(img.sha256, detector)
    scene: SceneAnalysis | None = None
    vecs: np.ndarray | None = None
    if use_cache and path.exists():
        try:
            scene, vecs = _read_entry(path)
            scene = scene.model_copy(update={"cached": True, "image": _image_info(img)})
        except Exception as exc:  # a damaged cache entry is just recomputed
            log.warning("ignoring damaged cache entry %s: %s", path.name, exc)
            scene = None
    if scene is None:
        scene, vecs = _compute(img, detector, timings)
        if use_cache:
            _write_entry(path, scene, vecs)
    assert vecs is not None
    if identify and scene.faces:
        t = time.perf_counter()
        from facelens.tools import embedders, identity
        from facelens.tools.identity_store import open_gallery

        store = gallery if gallery is not None else open_gallery()
        recorded = store.embedding  # None: an empty gallery, which names no one whatever the vectors
        if recorded is not None and embedders.for_gallery(recorded, store.describe()) == "sface":
            vecs = _sface_vectors(path, img, scene, vecs, use_cache)
            timings["identity_embed"] = (time.perf_counter() - t) * 1000
        matches = identity.lookup(vecs, gallery=store)  # type: ignore[arg-type]
        scene = scene.model_copy(
            update={"faces": [f.model_copy(update={"identity": m}) for f, m in zip(scene.faces, matches)]}
        )
        timings["identity"] = (time.perf_counter() - t) * 1000
    timings["total"] = (time.perf_counter() - t0) * 1000
    return scene.model_copy(update={"timings_ms": {k: round(v, 2) for k, v in timings.items()}})


def _sface_vectors(path: Path, img: LoadedImage, scene: SceneAnalysis, vecs: np.ndarray, use_cache: bool) -> np.ndarray:
    """The faces' SFace embeddings: from the cache entry, else computed and added to it."""
    from facelens.tools import sface

    try:
        found = np.asarray(_entry_arrays(path)["sface"], dtype=np.float32) if use_cache and path.exists() else None
    except Exception:  # absent or damaged: compute them
        found = None
    if found is not None and len(found) == len(scene.faces):
        return found
    out = sface.embed(img.rgb, scene.faces)
    if use_cache:
        try:
            _write_entry(path, scene.model_copy(update={"cached": False}), vecs, sface=out)
        except OSError as exc:  # the cache is an optimisation
            log.warning("could not cache SFace embeddings: %s", exc)
    return out


def _image_info(img: LoadedImage) -> ImageInfo:
    """The image's description: every :class:`ImageInfo` field is the loaded image's attribute of that name."""
    return ImageInfo(**{name: getattr(img, name) for name in ImageInfo.model_fields})


def _compute(img: LoadedImage, detector: str, timings: dict[str, float]) -> tuple[SceneAnalysis, np.ndarray]:
    rgb = img.rgb
    t = time.perf_counter()
    dets = faces.detect_faces(rgb, detector)
    dets.sort(key=lambda d: (d.box[0] + d.box[2] / 2.0, d.box[1]))
    timings["detect"] = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    found, shapes = faces.with_landmarks(rgb, dets)
    timings["landmarks"] = (time.perf_counter() - t) * 1000
    emotions = _start_emotion(rgb, found, timings)  # its blendshapes are read while the rest runs
    t = time.perf_counter()
    vecs = faces.embed(rgb, shapes)
    timings["embed"] = (time.perf_counter() - t) * 1000
    extra = _estimate_age_gender(rgb, found, vecs, timings)
    t = time.perf_counter()
    pos = appearance.positions([f.box for f in found], img.width, img.height)
    clothes = []
    gains = appearance.white_balance(rgb) if found else None  # one image, one white balance
    for i, f in enumerate(found):
        clothes.append(
            appearance.clothing(rgb, f.box, f.landmarks, [g.box for j, g in enumerate(found) if j != i], gains=gains)
        )
    timings["appearance"] = (time.perf_counter() - t) * 1000
    if emotions is not None:
        for d, est in zip(extra, emotions()):
            d["emotion"] = est
    for k in ("embed", "emotion", "age_gender", "appearance"):  # the stages in their order of old
        if k in timings:
            timings[k] = timings.pop(k)
    out = []
    for i, (f, p, e, cloth) in enumerate(zip(found, pos, extra, clothes)):
        out.append(
            FaceAnalysis(
                id=i + 1,
                box=f.box,
                score=round(f.score, 4),
                detector=f.detector,
                landmarks=list(f.landmarks),
                position=p,
                appearance={
                    "clothing_colour": cloth.colour,
                    "clothing_rgb": cloth.rgb,
                    "clothing_confidence": cloth.confidence,
                    "clothing_garment": cloth.garment,
                    "clothing_other_colour": cloth.other_colour,
                },
                **e,
            )
        )
    return SceneAnalysis(image=_image_info(img), faces=out, detector=faces.detector_in_use(detector)), vecs


def clear_cache() -> int:
    """Delete every cached analysis (they hold face embeddings). Returns the number of files removed."""
    n = 0
    for p in config.subdir("cache").glob("*"):
        if p.is_file():
            p.unlink()
            n += 1
    return n


def forget_faces(vectors: np.ndarray, threshold: float, embedding: str = "dlib") -> int:
    """Delete every cache entry holding a face within ``threshold`` (L2) of one of ``vectors``,
    and any temp or unreadable entry (it may hold them too). Returns the number of files removed.

    ``embedding``: what made ``vectors`` ("dlib" or "sface"); an entry with faces but no vectors of that
    embedding cannot be proved free of the person and is deleted too."""
    q = np.asarray(vectors, dtype=np.float32).reshape(-1, 128)
    doomed = atomic.stale_temps(config.subdir("cache"), max_age_s=0) + list(config.subdir("cache").glob(".tmp-*"))
    for p in config.subdir("cache").iterdir():
        if not p.is_file() or p in doomed:
            continue
        try:
            if p.suffix == ".npz":
                arrays = _entry_arrays(p)
                vecs = arrays["vectors"] if embedding == "dlib" else arrays["sface"] if "sface" in arrays else None
                if vecs is None:
                    vecs = np.zeros((0, 128), np.float32)
                    if len(arrays["vectors"]):
                        raise LookupError("no vectors of this embedding")
            elif p.suffix == ".npy":  # entries of older versions: embeddings beside a .json
                vecs = np.load(p, allow_pickle=False)
                if embedding != "dlib" and len(vecs):
                    raise LookupError("dlib vectors only")
            else:
                continue
            vecs = np.asarray(vecs, dtype=np.float32).reshape(-1, 128)
            hit = (
                bool(len(vecs) and len(q))
                and float(np.linalg.norm(vecs[:, None, :] - q[None, :, :], axis=2).min()) <= threshold
            )
        except Exception:  # unreadable: cannot prove it is free of the person
            hit = True
        if hit:
            doomed += [p] + ([p.with_suffix(".json")] if p.suffix == ".npy" else [])
    return atomic.remove_files(doomed)


def face_embeddings(source: str | Path | bytes | LoadedImage, detector: str = faces.DEFAULT_DETECTOR) -> np.ndarray:
    """The N x 128 embeddings of the faces of :func:`analyze_image` (same order), from the cache."""
    img = load_image(source)
    path = _cache_path(img.sha256, detector)
    try:
        return _read_entry(path)[1]
    except Exception:  # absent or damaged: compute it (and cache it) again
        pass
    analyze_image(img, detector=detector, identify=False)
    return _read_entry(path)[1]


def dumps(scene: SceneAnalysis) -> str:
    """Pretty JSON of a scene (the ``analyze --json`` output)."""
    return json.dumps(scene.model_dump(mode="json"), indent=2)
