"""Scene analysis: everything facelens knows about the people in one photo.

image -> safe decode -> detection -> landmarks -> per face, batched: embedding, emotion, age and
gender, position and clothing colour -> identity lookup -> :class:`SceneAnalysis`.

The expensive part is cached by image content hash (and detector) under FACELENS_HOME/cache, so a
follow-up question about the same photo costs no new inference. Identity is never cached: it is
looked up again each time, so enrolling or removing a person takes effect at once.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from facelens.tools import appearance, config, faces
from facelens.tools.errors import FacelensError
from facelens.tools.images import LoadedImage, load_image
from facelens.tools.schema import FaceAnalysis, ImageInfo, SceneAnalysis

log = logging.getLogger(__name__)

#: bump when the cached content changes meaning (new models, new fields)
CACHE_VERSION = "2"  # 2: the fused detector finds large faces (issue 12)


def _cache_paths(sha: str, detector: str) -> tuple[Path, Path]:
    key = f"{sha}-{detector}-v{CACHE_VERSION}{_model_tag()}"
    folder = config.subdir("cache")
    return folder / f"{key}.json", folder / f"{key}.npy"


def _model_tag() -> str:
    # cached results must be recomputed when the attribute models change
    try:
        from facelens.tools import attributes, emotion

        return f"-e{emotion.model_version()}-a{attributes.model_version()}"
    except (ImportError, AttributeError, FacelensError):
        return ""


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _estimate_attributes(rgb: np.ndarray, found: list[faces.Face], vecs: np.ndarray, timings: dict[str, float]) -> list[dict]:
    """Emotion, age and gender per face, batched. Empty fields where a model is not installed."""
    extra: list[dict] = [{} for _ in found]
    if not found:
        return extra
    try:
        from facelens.tools import emotion
    except ImportError:
        emotion = None  # type: ignore[assignment]
    if emotion is not None and emotion.available():
        t = time.perf_counter()
        for d, est in zip(extra, emotion.classify(rgb, [f.landmarks for f in found])):
            d["emotion"] = est
        timings["emotion"] = (time.perf_counter() - t) * 1000
    try:
        from facelens.tools import attributes
    except ImportError:
        attributes = None  # type: ignore[assignment]
    if attributes is not None and attributes.available() and len(vecs):
        t = time.perf_counter()
        for d, (age, group, gender) in zip(extra, attributes.predict(vecs)):
            d.update(age=age, age_group=group, gender=gender)
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
        gallery: a ``facelens.tools.identity.Gallery`` (default: the one under FACELENS_HOME).

    Returns:
        SceneAnalysis with faces numbered 1..N from left to right.
    """
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    img = load_image(source)
    timings["decode"] = (time.perf_counter() - t0) * 1000
    json_path, vec_path = _cache_paths(img.sha256, detector)
    scene: SceneAnalysis | None = None
    vecs: np.ndarray | None = None
    if use_cache and json_path.exists() and vec_path.exists():
        try:
            scene = SceneAnalysis.model_validate_json(json_path.read_bytes())
            vecs = np.load(vec_path)
            scene = scene.model_copy(update={"cached": True, "image": _image_info(img)})
        except (ValueError, OSError) as exc:  # a damaged cache entry is just recomputed
            log.warning("ignoring damaged cache entry %s: %s", json_path.name, exc)
            scene = None
    if scene is None:
        scene, vecs = _compute(img, detector, timings)
        if use_cache:
            import io

            buf = io.BytesIO()
            np.save(buf, vecs)
            _atomic_write(vec_path, buf.getvalue())
            _atomic_write(json_path, scene.model_dump_json().encode())
    assert vecs is not None
    if identify and scene.faces:
        t = time.perf_counter()
        from facelens.tools import identity

        matches = identity.lookup(vecs, gallery=gallery)  # type: ignore[arg-type]
        scene = scene.model_copy(
            update={"faces": [f.model_copy(update={"identity": m}) for f, m in zip(scene.faces, matches)]}
        )
        timings["identity"] = (time.perf_counter() - t) * 1000
    timings["total"] = (time.perf_counter() - t0) * 1000
    return scene.model_copy(update={"timings_ms": {k: round(v, 2) for k, v in timings.items()}})


def _image_info(img: LoadedImage) -> ImageInfo:
    return ImageInfo(
        source=img.source, sha256=img.sha256, width=img.width, height=img.height,
        format=img.format, exif_rotated=img.exif_rotated,
    )


def _compute(img: LoadedImage, detector: str, timings: dict[str, float]) -> tuple[SceneAnalysis, np.ndarray]:
    rgb = img.rgb
    t = time.perf_counter()
    dets = faces.detect_faces(rgb, detector)
    dets.sort(key=lambda d: (d.box[0] + d.box[2] / 2.0, d.box[1]))
    timings["detect"] = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    found, shapes = faces.with_landmarks(rgb, dets)
    timings["landmarks"] = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    vecs = faces.embed(rgb, shapes)
    timings["embed"] = (time.perf_counter() - t) * 1000
    extra = _estimate_attributes(rgb, found, vecs, timings)
    t = time.perf_counter()
    pos = appearance.positions([f.box for f in found], img.width, img.height)
    out = []
    for i, (f, p, e) in enumerate(zip(found, pos, extra)):
        colour, median = appearance.clothing_colour(rgb, f.box)
        out.append(
            FaceAnalysis(
                id=i + 1, box=f.box, score=round(f.score, 4), detector=f.detector,
                landmarks=list(f.landmarks), position=p,
                appearance={"clothing_colour": colour, "clothing_rgb": median},
                **e,
            )
        )
    timings["appearance"] = (time.perf_counter() - t) * 1000
    return SceneAnalysis(image=_image_info(img), faces=out, detector=faces.detector_in_use(detector)), vecs


def clear_cache() -> int:
    """Delete every cached analysis (they hold face embeddings). Returns the number of files removed."""
    n = 0
    for p in config.subdir("cache").glob("*"):
        if p.is_file():
            p.unlink()
            n += 1
    return n


def face_embeddings(source: str | Path | bytes | LoadedImage, detector: str = faces.DEFAULT_DETECTOR) -> np.ndarray:
    """The N x 128 embeddings of the faces of :func:`analyze_image` (same order), from the cache."""
    img = load_image(source)
    _, vec_path = _cache_paths(img.sha256, detector)
    if not vec_path.exists():
        analyze_image(img, detector=detector, identify=False)
    return np.load(vec_path)


def dumps(scene: SceneAnalysis) -> str:
    """Pretty JSON of a scene (the ``analyze --json`` output)."""
    return json.dumps(scene.model_dump(mode="json"), indent=2)
