"""Open-set threshold evaluation for the identity gallery on a labelled folder.

DIR holds images and ``identities.csv`` (``file,person``). Each image contributes the embedding of
its largest face. Every pair of images is a genuine pair (same person) or an impostor pair; for a
threshold t a genuine pair farther than t is a false reject and an impostor pair within t a false
accept. The suggested threshold is the largest one whose false-accept rate stays at or under the
target (default 0.1%), because naming the wrong person is worse than saying "unknown".
"""

from __future__ import annotations

import csv
import logging
import sys
from pathlib import Path

import numpy as np

from facelens.tools.errors import FacelensError, InputError

log = logging.getLogger(__name__)


def load_labels(folder: str | Path) -> list[tuple[Path, str]]:
    root = Path(folder)
    labels = root / "identities.csv"
    if not labels.is_file():
        raise InputError(f"{labels} is missing.", hint="Put an identities.csv with columns file,person in the folder.")
    with open(labels, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or not {"file", "person"} <= set(rows[0]):
        raise InputError(f"{labels} needs the columns file,person.")
    return [(root / r["file"], r["person"]) for r in rows]


def embed_largest(path: Path, detector: str | None = None) -> np.ndarray | None:
    from facelens.tools import faces
    from facelens.tools.identity import face_for_enrollment
    from facelens.tools.images import load_image

    img = load_image(path)
    detector = detector or faces.DEFAULT_DETECTOR
    dets = faces.detect_faces(img.rgb, detector)
    if len(dets) > 1:
        largest = max(range(len(dets)), key=lambda i: dets[i].box[2] * dets[i].box[3])
        order = sorted(range(len(dets)), key=lambda i: (dets[i].box[0] + dets[i].box[2] / 2.0, dets[i].box[1]))
        _, vec = face_for_enrollment(img, face=order.index(largest) + 1, detector=detector)
        return vec
    _, vec = face_for_enrollment(img, detector=detector)
    return vec


def evaluate(folder: str | Path, *, far_target: float = 0.001, detector: str | None = None) -> dict:
    """Genuine/impostor distance statistics and the suggested open-set threshold."""
    items = load_labels(folder)
    vecs, people, skipped = [], [], []
    for i, (path, person) in enumerate(items, 1):
        print(f"[{i}/{len(items)}] {path.name}", file=sys.stderr)
        try:
            vec = embed_largest(path, detector)
        except FacelensError as exc:
            skipped.append({"file": path.name, "reason": str(exc)})
            continue
        vecs.append(vec)
        people.append(person)
    if len(vecs) < 2:
        raise InputError("Fewer than two usable faces; nothing to evaluate.")
    V = np.vstack(vecs)
    D = np.sqrt(np.maximum(((V[:, None, :] - V[None, :, :]) ** 2).sum(-1), 0))
    iu = np.triu_indices(len(V), 1)
    same = np.asarray(people)[:, None] == np.asarray(people)[None, :]
    gen, imp = D[iu][same[iu]], D[iu][~same[iu]]
    from facelens.tools import embedders

    embedding = embedders.configured()[0]  # what face_for_enrollment computed (FACELENS_EMBEDDER)
    grid = np.round(np.arange(0.80, 1.401, 0.01) if embedding == "sface" else np.arange(0.30, 0.801, 0.01), 2)
    table = []
    for t in grid:
        far = float((imp <= t).mean()) if len(imp) else 0.0
        frr = float((gen > t).mean()) if len(gen) else 0.0
        table.append({"threshold": float(t), "far": round(far, 4), "frr": round(frr, 4)})
    ok = [r for r in table if r["far"] <= far_target]
    best = max(ok, key=lambda r: r["threshold"]) if ok else min(table, key=lambda r: r["far"])
    eer = min(table, key=lambda r: abs(r["far"] - r["frr"]))
    return {
        "embedding": embedding,
        "n_images": len(items),
        "n_faces": len(V),
        "n_people": len(set(people)),
        "genuine_pairs": int(len(gen)),
        "impostor_pairs": int(len(imp)),
        "genuine_distance": {"mean": round(float(gen.mean()), 4), "max": round(float(gen.max()), 4)}
        if len(gen)
        else None,
        "impostor_distance": {"mean": round(float(imp.mean()), 4), "min": round(float(imp.min()), 4)}
        if len(imp)
        else None,
        "far_target": far_target,
        "suggested_threshold": best,
        "equal_error": eer,
        "table": table,
        "skipped": skipped,
    }
