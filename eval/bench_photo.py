"""Speed benchmarks of the photo analysis and the identity search (``facelens bench analyze``,
``facelens bench identity``): measurements as data; the CLI only prints them."""

from __future__ import annotations

import sys
import time

import numpy as np


def _stats(values: list[float]) -> dict[str, float]:
    a = np.asarray(values, dtype=np.float64)
    return {"median": round(float(np.median(a)), 3), "p95": round(float(np.percentile(a, 95)), 3), "n": int(len(a))}


def face_recognition_baseline(rgb: np.ndarray) -> int:
    """What ``face_recognition.face_encodings(rgb)`` does with its defaults, on the same dlib models:
    HOG with one upsample, the 5-point landmarks ("small"), the ResNet descriptor with one jitter, in
    dlib. Returns the number of faces (the work is what is timed)."""
    from facelens.tools import models

    rects = models.hog_detector()(rgb, 1)
    sp, enc = models.shape_predictor(5), models.face_encoder()
    for r in rects:
        enc.compute_face_descriptor(rgb, sp(rgb, r), 1)
    return len(rects)


def bench_analyze(image: str, repeat: int = 10, detector: str | None = None, baseline: bool = True) -> dict:
    """Warm per-stage latency of the full photo analysis (no cache), and, interleaved in the same run,
    face_recognition's detect + encode of the same photo (:func:`face_recognition_baseline`)."""
    from facelens.tools import faces
    from facelens.tools.config import embedder
    from facelens.tools.images import load_image
    from facelens.tools.scene import analyze_image

    det = detector or faces.DEFAULT_DETECTOR
    first = analyze_image(image, detector=det, use_cache=False)  # warm-up: loads every model
    rgb = load_image(image).rgb
    base_faces = face_recognition_baseline(rgb) if baseline else 0
    stages: dict[str, list[float]] = {}
    base: list[float] = []
    for i in range(repeat):
        scene = analyze_image(image, detector=det, use_cache=False)
        for k, v in scene.timings_ms.items():
            stages.setdefault(k, []).append(v)
        if baseline:
            t = time.perf_counter()
            face_recognition_baseline(rgb)
            base.append((time.perf_counter() - t) * 1000)
        print(
            f"[{i + 1}/{repeat}] {scene.timings_ms.get('total', 0):.0f} ms"
            + (f", face_recognition {base[-1]:.0f} ms" if base else ""),
            file=sys.stderr,
        )
    n_faces = len(first.faces)
    out = {
        "image": image,
        "width": first.image.width,
        "height": first.image.height,
        "faces": n_faces,
        "detector": first.detector,
        "embedder": embedder(),
        "repeat": repeat,
        "stages_ms": {k: _stats(v) for k, v in stages.items()},
    }
    per_face = [
        sum(scene_stage) for scene_stage in zip(*(stages.get(k, [0.0] * repeat) for k in ("emotion", "age_gender")))
    ]
    if n_faces and any(per_face):
        out["emotion_age_gender_ms_per_face"] = _stats([v / n_faces for v in per_face])
    if base:
        total = out["stages_ms"]["total"]["median"]
        out["face_recognition_ms"] = {
            **_stats(base),
            "faces": base_faces,
            "what": "dlib HOG upsample 1 + 5-point landmarks + ResNet descriptor, 1 jitter (face_recognition's defaults)",
        }
        out["ratio_to_face_recognition"] = round(total / out["face_recognition_ms"]["median"], 3)
    return out


def bench_identity(size: int, queries: int = 1000, noise: float = 0.03, seed: int = 0, store: str = "faiss") -> dict:
    """Gallery search at scale on synthetic unit vectors, against a numpy brute-force baseline.

    Queries are enrolled vectors plus Gaussian noise (sigma ``noise`` per dimension, about 0.34 in
    norm, like a new photo of an enrolled person), re-normalised. With ``store="milvus"`` the same
    vectors and queries are also measured on Milvus (result under "milvus").
    """
    import faiss

    from facelens.tools.identity import build_index, search_index

    rng = np.random.default_rng(seed)
    print(f"generating {size:,} unit vectors", file=sys.stderr)
    gallery = rng.standard_normal((size, 128), dtype=np.float32)
    gallery /= np.linalg.norm(gallery, axis=1, keepdims=True)
    src = rng.integers(0, size, queries)
    q = gallery[src] + rng.standard_normal((queries, 128), dtype=np.float32) * noise
    q /= np.linalg.norm(q, axis=1, keepdims=True)

    t = time.perf_counter()
    index = build_index(gallery)
    build_s = time.perf_counter() - t
    print(f"built {type(index).__name__} in {build_s:.1f} s", file=sys.stderr)

    exact = faiss.IndexFlatL2(128)
    exact.add(gallery)
    _, truth = exact.search(q, 1)

    lat, found = [], []
    search_index(index, q[:1], 1)  # warm
    for i in range(queries):
        t = time.perf_counter()
        _, idx = search_index(index, q[i : i + 1], 1)
        lat.append((time.perf_counter() - t) * 1000)
        found.append(idx[0, 0])
    recall = float(np.mean(np.asarray(found) == truth[:, 0]))

    norms = (gallery * gallery).sum(1)
    n_brute = min(queries, 50)
    brute = []
    for i in range(n_brute):
        t = time.perf_counter()
        int(np.argmin(norms - 2.0 * (gallery @ q[i])))
        brute.append((time.perf_counter() - t) * 1000)
    index_bytes = int(faiss.serialize_index(index).size)
    p50 = float(np.median(lat))
    extra = {}
    if store == "milvus":
        from facelens.eval.bench_identity_store import bench_milvus

        extra["milvus"] = bench_milvus(gallery, q, truth[:, 0])
    return {
        "size": size,
        "index": type(index).__name__,
        "nprobe": getattr(index, "nprobe", None),
        "build_s": round(build_s, 2),
        "query_ms": {"p50": round(p50, 4), "p95": round(float(np.percentile(lat, 95)), 4)},
        "recall_at_1": round(recall, 4),
        "bytes_per_identity": round(index_bytes / size, 1),
        "brute_force_ms": {"p50": round(float(np.median(brute)), 3), "n": n_brute},
        "speedup_vs_brute_force": round(float(np.median(brute)) / p50, 1) if p50 > 0 else None,
        "queries": queries,
        "query_noise_sigma": noise,
        **extra,
    }
