"""Measure FER-2013's face framing so that facelens's aligned crops look like the training images.

FER-2013 faces were registered roughly (face fills most of the 48 x 48 frame, forehead to chin). The
emotion model runs on ``facelens.tools.faces.align_face(rgb, landmarks5, size=48, zoom=Z)``; this
script finds the zoom Z for which the 5 canonical landmark positions land where FER's landmarks are
on average, and FER's mean landmark positions themselves (tools/emotion.py warps faces onto those,
which also fixes the vertical offset a zoom alone leaves): it finds the landmarks of the FER validation faces (upscaled 4x, dlib HOG + 68-point
predictor), and fits the zoom (about the template centre) by least squares.

    nice -n 10 python training/fer_framing.py --data ../shared/data/fer2013 --out /work/runs/emotion/framing.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from facelens.tools import faces

UP = 4  # FER faces are 48 px: upscale so HOG (80 px window) and the landmark predictor work


def fer_landmarks(paths: list[Path]) -> tuple[np.ndarray, list[int]]:
    """5-point landmarks (in 48 px coordinates) of every FER image where HOG finds exactly one face,
    and the indices of those images in ``paths``."""
    import cv2

    out, kept = [], []
    for i, p in enumerate(paths):
        g = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
        if g is None:
            continue
        big = cv2.resize(g, (48 * UP, 48 * UP), interpolation=cv2.INTER_CUBIC)
        rgb = np.ascontiguousarray(np.repeat(big[:, :, None], 3, axis=2))
        dets = faces.detect_faces(rgb, "hog", upsample=0)
        if len(dets) != 1:
            continue
        found, _ = faces.with_landmarks(rgb, dets)
        out.append(np.asarray(found[0].landmarks, dtype=np.float64) / UP)
        kept.append(i)
    return np.stack(out), kept


def fit_zoom(lms: np.ndarray, size: int = 48) -> dict:
    """Least-squares zoom about the template centre, plus the residual mean offset, in pixels."""
    base = (faces.TEMPLATE_112 - 56.0) * (size / 112.0)  # template relative to the crop centre, zoom 1
    centre = size / 2.0
    rel = lms.mean(0) - centre
    zoom = float((base * rel).sum() / (base * base).sum())
    resid = rel - zoom * base
    per_image = [float((b * (l - centre)).sum() / (b * b).sum()) for b, l in ((base, x) for x in lms)]
    return {
        "zoom": zoom,
        "zoom_p10_p90": [float(np.percentile(per_image, 10)), float(np.percentile(per_image, 90))],
        "mean_offset_px": resid.mean(0).round(2).tolist(),
        "fer_mean_landmarks": lms.mean(0).round(2).tolist(),
        "n_faces": int(len(lms)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data/fer2013"))
    ap.add_argument("--split", default="val")
    ap.add_argument("--limit", type=int, default=0, help="random subset of this many images (0 = all)")
    ap.add_argument("--out", type=Path, default=Path("/work/runs/emotion/framing.json"))
    args = ap.parse_args()
    paths = sorted((args.data / args.split).glob("*/*"))
    rng = np.random.default_rng(0)
    if args.limit:
        paths = [paths[i] for i in sorted(rng.choice(len(paths), min(args.limit, len(paths)), replace=False))]
    lms, kept = fer_landmarks(paths)
    res = fit_zoom(lms)
    # per-image landmarks: export_emotion.py re-crops these FER faces through facelens's alignment
    np.savez(
        args.out.with_suffix(".npz"),
        landmarks=lms,
        files=np.array([str(paths[i].relative_to(args.data)) for i in kept]),
    )
    res["n_images"] = len(paths)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
