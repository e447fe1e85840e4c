"""``facelens bench ...``: speed and memory benchmarks (commands, not timed unit tests).

Other modules add benchmarks by exposing ``register_bench(bench_subparsers)`` and being listed in
``BENCH_MODULES``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import time

import numpy as np

from facelens.agent.cli import print_json
from facelens.agent.cli.photo import add_detector_option

log = logging.getLogger(__name__)

BENCH_MODULES: list[str] = ["bench_media", "bench_speech", "bench_serve"]


def _stats(values: list[float]) -> dict[str, float]:
    a = np.asarray(values, dtype=np.float64)
    return {"median": round(float(np.median(a)), 3), "p95": round(float(np.percentile(a, 95)), 3), "n": int(len(a))}


def bench_analyze(image: str, repeat: int = 10, detector: str | None = None) -> dict:
    """Warm per-stage latency of the full photo analysis (no cache)."""
    from facelens.tools import faces
    from facelens.tools.config import embedder
    from facelens.tools.scene import analyze_image

    det = detector or faces.DEFAULT_DETECTOR
    first = analyze_image(image, detector=det, use_cache=False)  # warm-up: loads every model
    stages: dict[str, list[float]] = {}
    for i in range(repeat):
        scene = analyze_image(image, detector=det, use_cache=False)
        for k, v in scene.timings_ms.items():
            stages.setdefault(k, []).append(v)
        print(f"[{i + 1}/{repeat}] {scene.timings_ms.get('total', 0):.0f} ms", file=sys.stderr)
    n_faces = len(first.faces)
    out = {
        "image": image,
        "width": first.image.width,
        "height": first.image.height,
        "faces": n_faces,
        "detector": det,
        "embedder": embedder(),
        "repeat": repeat,
        "stages_ms": {k: _stats(v) for k, v in stages.items()},
    }
    per_face = [sum(scene_stage) for scene_stage in zip(*(stages.get(k, [0.0] * repeat) for k in ("emotion", "age_gender")))]
    if n_faces and any(per_face):
        out["emotion_age_gender_ms_per_face"] = _stats([v / n_faces for v in per_face])
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
        from facelens.agent.cli.bench_identity_store import bench_milvus

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


def cmd_analyze(args: argparse.Namespace) -> int:
    if args.embedder:
        os.environ["FACELENS_EMBEDDER"] = args.embedder
    res = bench_analyze(args.image, args.repeat, args.detector)
    if args.json:
        print_json(res)
    else:
        print(f"{res['image']} ({res['width']}x{res['height']}, {res['faces']} faces, {res['detector']}, embedder {res['embedder']}), warm, n={args.repeat}")
        for k, v in res["stages_ms"].items():
            print(f"  {k:12s} median {v['median']:8.1f} ms   p95 {v['p95']:8.1f} ms")
    return 0


def cmd_identity(args: argparse.Namespace) -> int:
    res = bench_identity(args.size, args.queries, store=args.store)
    if args.json:
        print_json(res)
    else:
        print(
            f"{res['size']:,} identities, {res['index']}: p50 {res['query_ms']['p50']:.3f} ms, p95 {res['query_ms']['p95']:.3f} ms, "
            f"recall@1 {res['recall_at_1']:.3f}, {res['bytes_per_identity']:.0f} B/identity, "
            f"brute force {res['brute_force_ms']['p50']:.1f} ms ({res['speedup_vs_brute_force']}x)"
        )
        if "milvus" in res:
            m = res["milvus"]
            print(f"{res['size']:,} identities, {m['store']} ({m['index']}): p50 {m['query_ms']['p50']:.3f} ms, p95 {m['query_ms']['p95']:.3f} ms, "
                  f"recall@1 {m['recall_at_1']:.3f}, insert {m['insert_s']:.1f} s")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    b = sub.add_parser("bench", help="speed benchmarks")
    bsub = b.add_subparsers(dest="bench_command", metavar="WHAT")
    b.set_defaults(handler=lambda a: b.print_help() or 0)

    p = bsub.add_parser("analyze", help="per-stage latency of the photo analysis (warm)")
    p.add_argument("image")
    p.add_argument("--repeat", type=int, default=10)
    p.add_argument(
        "--embedder", choices=["onnx", "dlib"], default=None,
        help="runtime of the face embedding network (default: the configured one, onnx)",
    )  # fmt: skip
    p.add_argument("--json", action="store_true")
    add_detector_option(p)
    p.set_defaults(handler=cmd_analyze)

    p = bsub.add_parser("identity", help="gallery search latency and recall at scale (synthetic vectors)")
    p.add_argument("--size", type=int, default=1_000_000)
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--store", choices=["faiss", "milvus"], default="faiss",
                   help="milvus: measure Milvus too (a temporary Milvus Lite file, or FACELENS_MILVUS_URI's server), beside FAISS")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_identity)

    for name in BENCH_MODULES:
        try:
            mod = importlib.import_module(f"facelens.agent.cli.{name}")
        except ImportError as exc:
            log.debug("bench module %s unavailable: %s", name, exc)
            continue
        mod.register_bench(bsub)
