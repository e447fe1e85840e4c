"""CPU time of the default face detector per photo, and every detection it made, on the WIDER photos.

    OMP_NUM_THREADS=1 nice -n 5 python bench/detection_speed.py [--limit 40] [--dump before.npz]
    python bench/detection_speed.py --compare before.npz after.npz
    OMP_NUM_THREADS=1 nice -n 5 python bench/detection_speed.py --vs /path/to/before-checkout [--limit 40]

Runs ``faces.detect_faces`` (the default detector) over ``--limit`` evenly spaced photos of the shared
WIDER sample (all of them without ``--limit``; the same sample as ``facelens eval detection --limit``;
``--photos`` picks another kind: portraits, tight crops, collages, web photos, tiny greyscale crops),
after one warm-up call that loads the model, and prints the process CPU seconds and wall seconds per
photo of the detector call alone (decoding excluded), ``--repeat`` times over the photos. ``--dump``
writes every detection (box, score, five landmarks) per photo to an ``.npz`` file; ``--compare`` says
whether two such files hold exactly the same detections (what a speed change must keep). ``--vs DIR``
times RetinaFace from another checkout's ``tools/retinaface.py`` and ``tools/large_faces.py`` (the code
before a change) against this one in the same process, photo by photo in alternating order (so the
machine's drifting speed falls on both alike), with the network run alone beside them, and checks that
both give the same detections.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "wider"
#: the other kinds of photo the default detector sees (eval suite domains), for ``--photos``: folder
#: under the shared data and file pattern, or "collages" (the held-out generated collages)
KINDS = {
    "portraits": ("faces/portraits", "*.jpg"),
    "tight-crops": ("utkface/val", "*.jpg"),
    "web-photos": ("faces/detection", "*.jpg"),
    "identity": ("faces/identity", "*.jpg"),
    "tiny-grey": ("fer2013/val", "*/*.jpg"),
}


def photo_set(kind: str, data: Path, limit: int | None) -> dict[str, np.ndarray]:
    """``--limit`` evenly spaced photos of one kind (``wider``: the annotated WIDER photos in ``data``)."""
    from facelens.eval.detection import load_annotations
    from facelens.tools.images import load_image

    if kind == "collages":
        from facelens.eval.domains import collage_set

        return {f"collage_{k:03d}": c.rgb for k, c in enumerate(collage_set(data.parent, limit or 200))}
    if kind == "wider":
        paths = [data / n for n in sorted(load_annotations(data))]
    else:
        folder, pattern = KINDS[kind]
        paths = sorted((data.parent / folder).glob(pattern))
    if limit and 0 < limit < len(paths):  # as eval.detection.evaluate samples them
        paths = [paths[int(i * len(paths) / limit)] for i in range(limit)]
    return {str(p.relative_to(data.parent)): load_image(p).rgb for p in paths}


def rows(dets) -> np.ndarray:  # type: ignore[no-untyped-def]
    """N x 15 float64: tight box, score, then the five landmarks (NaN where a detector has none)."""
    out = np.full((len(dets), 15), np.nan)
    for i, d in enumerate(dets):
        out[i, :4] = d.box
        out[i, 4] = d.score
        if d.landmarks:
            out[i, 5:] = np.asarray(d.landmarks, float).reshape(-1)[:10]
    return out


def measure(photos: dict[str, np.ndarray], repeat: int, detector: str | None) -> tuple[dict, dict[str, np.ndarray]]:
    from facelens.tools import faces

    detector = detector or faces.DEFAULT_DETECTOR
    names = list(photos)
    faces.detect_faces(photos[names[0]], detector)  # warm-up: the model loads here
    cpu, wall, found = [], [], {}
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        for n, rgb in photos.items():
            found[n] = rows(faces.detect_faces(rgb, detector))
        cpu.append((time.process_time() - c0) / len(names))
        wall.append((time.perf_counter() - t0) / len(names))
    report = {
        "detector": faces.detector_in_use(detector),
        "photos": len(names),
        "threads": os.environ.get("OMP_NUM_THREADS", "(unset)"),
        "cpu_s_per_photo": [round(c, 4) for c in cpu],
        "wall_s_per_photo": [round(w, 4) for w in wall],
        "cpu_s_per_photo_median": round(float(np.median(cpu)), 4),
        "faces": int(sum(len(r) for r in found.values())),
    }
    return report, found


def _module(name: str, path: Path):  # type: ignore[no-untyped-def]
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"Cannot load {path}: pass --vs the root of a facelens checkout.")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def versus(before_root: Path, photos: dict[str, np.ndarray], repeat: int) -> dict:
    """CPU s per photo of ``before_root``'s RetinaFace detector and this one's, alternated photo by photo."""
    import sys

    import facelens.tools as package
    from facelens.tools import faces, large_faces, retinaface

    old_large = _module("before_large_faces", before_root / "tools" / "large_faces.py")
    old_retina = _module("before_retinaface", before_root / "tools" / "retinaface.py")

    def before(rgb: np.ndarray) -> list:
        # the old detector imports large_faces inside its collage step: it gets the old one while it runs
        package.large_faces = sys.modules["facelens.tools.large_faces"] = old_large
        try:
            return old_retina.detect_retinaface(rgb)
        finally:
            package.large_faces = sys.modules["facelens.tools.large_faces"] = large_faces

    def network(rgb: np.ndarray) -> float:
        x = retinaface.network_input(faces.working_scale(rgb, retinaface.MAX_SIDE)[0])
        c0 = time.process_time()
        retinaface.session().run(None, {"input": x})
        return time.process_time() - c0

    first = next(iter(photos.values()))
    before(first), retinaface.detect_retinaface(first)  # warm-up: both load the model here
    runs = {"before": [], "after": [], "network_alone": []}
    differ: set[str] = set()
    for r in range(repeat):
        cpu = dict.fromkeys(runs, 0.0)
        for i, (name, rgb) in enumerate(photos.items()):
            pair = [("before", before), ("after", retinaface.detect_retinaface)]
            out = {}
            for key, fn in pair if (i + r) % 2 == 0 else pair[::-1]:
                c0 = time.process_time()
                out[key] = rows(fn(rgb))
                cpu[key] += time.process_time() - c0
            cpu["network_alone"] += network(rgb)
            if not np.array_equal(out["before"], out["after"], equal_nan=True):
                differ.add(name)
        for key in runs:
            runs[key].append(round(cpu[key] / len(photos), 4))
    return {
        "photos": len(photos),
        **{f"{k}_cpu_s_per_photo": v for k, v in runs.items()},
        "after_over_before": [round(a / b, 3) for a, b in zip(runs["after"], runs["before"])],
        "identical": not differ,
        "differ": sorted(differ),
    }


def compare(a: Path, b: Path) -> dict:
    """Same photos, same number of detections, and every value equal (NaN equal to NaN)."""
    x, y = np.load(a), np.load(b)
    differ = [n for n in sorted(set(x.files) | set(y.files)) if n not in x.files or n not in y.files]
    differ += [
        n
        for n in sorted(set(x.files) & set(y.files))
        if x[n].shape != y[n].shape or not np.array_equal(x[n], y[n], equal_nan=True)
    ]
    both = sorted(set(x.files) & set(y.files))
    return {"photos": len(both), "identical": not differ, "differ": differ}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--limit", type=int, default=None, help="evenly spaced photos (all when left out)")
    ap.add_argument("--repeat", type=int, default=1, help="passes over the photos (each timed)")
    ap.add_argument("--photos", default="wider", choices=["wider", "collages", *KINDS], help="which photos")
    ap.add_argument("--detector", default=None, help="the default detector when left out")
    ap.add_argument("--dump", type=Path, default=None, help="write every detection to this .npz file")
    ap.add_argument("--vs", type=Path, default=None, help="another checkout's root: A/B in one process")
    ap.add_argument("--compare", type=Path, nargs=2, metavar=("A", "B"), help="are two dumps identical?")
    args = ap.parse_args()
    if args.compare:
        print(json.dumps(compare(*args.compare)))
        return
    if not args.data.is_dir():
        raise SystemExit(f"No WIDER photos at {args.data}: pass --data DIR (see ../shared/data/README).")
    if args.vs:
        print(json.dumps(versus(args.vs, photo_set(args.photos, args.data, args.limit), args.repeat)))
        return
    report, found = measure(photo_set(args.photos, args.data, args.limit), args.repeat, args.detector)
    report["photo_set"] = args.photos
    if args.dump:
        np.savez(args.dump, **found)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
