"""Cache the inputs of the expression fusion head: CNN log-probabilities and face blendshapes.

    nice -n 10 python training/expression_features.py expressions --splits tune,train --detector mesh --data ../shared/data --out /work/runs/expr
    nice -n 10 python training/expression_features.py expressions --splits heldout --detector mesh --data ../shared/data --out /work/runs/expr
    nice -n 10 python training/expression_features.py fer --split val --data ../shared/data --out /work/runs/expr
    nice -n 10 python training/expression_features.py fer --split train --every 14 --data ../shared/data --out /work/runs/expr

``expressions``: the photos of the chosen splits go through the product's path (largest face found on a
padded copy only when none is found on the photo itself, ``eval.models.photo_face``; its 5 landmarks;
``emotion.face_crops`` -> CNN; the aligned crop -> the face landmarker).
With ``--detector mesh`` (used for the shipped head: the shared 2-core machine was loaded ~12x) one
landmarker call on the whole photo gives the blendshapes and, from its mesh, the 5 points for the CNN,
instead of detector + dlib landmarks + landmarker on the aligned crop; the product's own path is
checked on the held-out split by the suite's ``expressions`` domain. ``fer``: each 48 px grey crop is taken as FER-framed (its landmarks are
FER-2013's mean landmark positions), exactly as ``emotion.classify_crops`` reads it.

Images are visited class by class in turn (and tune before train), so an interrupted run leaves a
balanced set.

Writes ``OUT/<name>.npz``: ``path``, ``label`` (index into EMOTIONS), ``person``, ``split``, ``cnn``
(N x 7 CNN log-probabilities, temperature-scaled, the graph's own flip average), ``bs`` (N x 52, NaN
where the landmarker found no face), ``face`` (a face was found), ``grey`` (the crop has no colour).
Written every 50 images; an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from facelens.eval.domains_expressions import items
from facelens.eval.models import EMOTION_ALIASES, IMAGE_SUFFIXES, _norm, photo_face
from facelens.tools import blendshapes, emotion, faces
from facelens.tools.blazeface import load_mediapipe
from facelens.tools.images import load_image
from facelens.tools.schema import EMOTIONS

NB = len(blendshapes.BLENDSHAPE_NAMES)


def _save(path: Path, rows: list[dict]) -> None:
    keys = rows[0].keys() if rows else []
    arrays = {k: np.array([r[k] for r in rows]) for k in keys}
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)


def _load(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    z = np.load(path, allow_pickle=False)
    keys = list(z.keys())
    return [{k: z[k][i] for k in keys} for i in range(len(z[keys[0]]))]


def _log(p: np.ndarray) -> np.ndarray:
    return np.log(np.clip(p, 1e-6, 1.0)).astype(np.float32)


def interleave(groups: list[list]) -> list:
    """Round-robin over groups: one item of each in turn."""
    out, k = [], 0
    while any(k < len(g) for g in groups):
        out += [g[k] for g in groups if k < len(g)]
        k += 1
    return out


# MediaPipe face-mesh points that match dlib's 5 (faces.five_from_68): the 6 contour points of each eye
# (image left, then image right), the nose tip, the outer mouth corners
_MESH_EYES = ([33, 160, 158, 133, 153, 144], [362, 385, 387, 263, 373, 380])
_MESH_NOSE, _MESH_MOUTH = 1, (61, 291)


def mesh_row(rgb: np.ndarray) -> dict:
    """One landmarker call on the whole photo: its blendshapes, and 5 points from its mesh for the CNN.

    About a third of the CPU of detector + landmarks + landmarker; used for the fitting splits on a
    busy machine (single-face headshots, where the landmarker's own detector finds the face).
    """
    import cv2

    scale = max(1.0, 192 / min(rgb.shape[:2]))
    img = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC) if scale > 1 else rgb
    mp = load_mediapipe()
    res = blendshapes._landmarker().detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(img)))
    row = {"grey": bool(np.ptp(rgb.astype(np.int16), axis=2).max() < 8)}
    if not res.face_landmarks or not res.face_blendshapes:
        row.update(face=False, cnn=np.zeros(7, np.float32), bs=np.full(NB, np.nan, np.float32))
        return row
    h, w = img.shape[:2]
    mesh = np.array([(p.x * w, p.y * h) for p in res.face_landmarks[0]])
    five = np.array(
        [
            mesh[_MESH_EYES[0]].mean(0),
            mesh[_MESH_EYES[1]].mean(0),
            mesh[_MESH_NOSE],
            mesh[_MESH_MOUTH[0]],
            mesh[_MESH_MOUTH[1]],
        ]
    )
    (crop,) = emotion.face_crops(img, [five])
    p = emotion.probabilities([crop])
    bs = np.array([c.score for c in res.face_blendshapes[0]], dtype=np.float32)
    row.update(face=True, cnn=_log(p[0]), bs=bs)
    return row


def photo_row(rgb: np.ndarray, detector: str) -> dict:
    if detector == "mesh":
        return mesh_row(rgb)
    read, face = photo_face(rgb, detector)
    row = {"face": face is not None, "grey": bool(np.ptp(rgb.astype(np.int16), axis=2).max() < 8)}
    if face is None:
        row.update(cnn=np.zeros(7, np.float32), bs=np.full(NB, np.nan, np.float32))
        return row
    (crop,) = emotion.face_crops(read, [face.landmarks])
    p = emotion.probabilities([crop])
    bs = blendshapes.scores(read, [face.landmarks])[0]
    row.update(cnn=_log(p[0]), bs=np.full(NB, np.nan, np.float32) if bs is None else bs)
    return row


def fer_row(grey: np.ndarray) -> dict:
    p = emotion.probabilities([grey])
    lm = emotion.fer_landmarks() * (grey.shape[1] / emotion.input_size())
    bs = blendshapes.crop_scores(grey, lm)
    return {"face": True, "grey": True, "cnn": _log(p[0]), "bs": np.full(NB, np.nan, np.float32) if bs is None else bs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source", choices=["expressions", "fer"])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--split", default="val", help="fer: train or val")
    ap.add_argument("--every", type=int, default=1, help="fer: every k-th image of each class")
    ap.add_argument("--splits", default="heldout", help="expressions: comma-separated splits (train, tune, heldout)")
    ap.add_argument(
        "--detector",
        default=faces.DEFAULT_DETECTOR,
        help="expressions: face detector, or 'mesh' (the landmarker alone, see mesh_row)",
    )
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.source == "expressions":
        folder = args.data / "expressions"
        todo = []
        for split in args.splits.split(","):
            rows = [(folder / f, EMOTIONS.index(lab), person, split) for f, lab, person in items(folder, split)]
            todo += interleave([[r for r in rows if r[1] == k] for k in range(len(EMOTIONS))])
        path = args.out / f"expressions_{args.splits.replace(',', '_')}.npz"
    else:
        folder = args.data / "fer2013" / args.split
        groups: list[list] = []
        for c in sorted(p for p in folder.iterdir() if p.is_dir()):
            files = sorted(p for p in c.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:: args.every]
            groups.append([(f, EMOTIONS.index(EMOTION_ALIASES[_norm(c.name)]), "", f"fer-{args.split}") for f in files])
        todo = interleave(groups)
        path = args.out / f"fer_{args.split}.npz"
    rows = _load(path)
    t0, start = time.time(), len(rows)
    for i, (f, y, person, split) in enumerate(todo[len(rows) :], len(rows)):
        img = load_image(f).rgb
        row = photo_row(img, args.detector) if args.source == "expressions" else fer_row(img[:, :, 0])
        row.update(path=str(f.relative_to(args.data)), label=y, person=person, split=split)
        rows.append(row)
        if (i + 1) % 50 == 0 or i + 1 == len(todo):
            _save(path, rows)
            rate = (time.time() - t0) / max(1, i + 1 - start)
            print(f"{path.name}: {i + 1}/{len(todo)} ({rate * 1000:.0f} ms each)", file=sys.stderr, flush=True)
    _save(path, rows)


if __name__ == "__main__":
    main()
