"""Clothing colour on real photos: accuracy against colours labelled by looking at each person.

``tests/data/clothing_wider_labels.csv`` names 154 people in 77 photos of ``../shared/data/wider`` (the last 48 rows,
21 photos, added later as more tune rows)
(file, the WIDER face box, the colours a person would say they wear, ``|``-separated, or ``skip`` when
no garment can be seen, and a split: ``tune`` rows may be looked at while changing the code,
``held-out`` rows only to report: their misses are never listed). The labels were written from the photos
before any run. Each face gets dlib's landmarks on its labelled box; the other labelled boxes of the photo are
its neighbours. ``accuracy_when_plain``: the colours an answer says without a hedge (confidence >=
``appearance.SURE_FROM``).

    python bench/clothing_colour.py [--data ../shared/data] [--old tools_appearance_before.py]

``--old`` scores another version of ``tools/appearance.py`` (``clothing_colour(rgb, box)``) the same way.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import time
from pathlib import Path

import numpy as np

LABELS = Path(__file__).resolve().parents[1] / "tests/data/clothing_wider_labels.csv"


def rows() -> list[dict]:
    with open(LABELS, newline="") as fh:
        return list(csv.DictReader(fh))


def run(data: Path, fn=None) -> dict:
    from facelens.tools import appearance, faces
    from facelens.tools.images import load_image

    table = rows()
    boxes: dict[str, list] = {}
    for r in table:
        boxes.setdefault(r["file"], []).append(tuple(int(r[k]) for k in "xywh"))
    out = {"tune": [], "held-out": []}
    unsure_skip, ms = [], []
    for r in table:
        rgb = load_image(data / "wider" / r["file"]).rgb
        box = tuple(int(r[k]) for k in "xywh")
        [face], _ = faces.with_landmarks(rgb, [faces.Detection(box, 1.0, "label")])
        t = time.perf_counter()
        if fn is None:
            est = appearance.clothing(rgb, box, face.landmarks, [b for b in boxes[r["file"]] if b != box])
            colour, sure, plain = est.colour, est.garment is not None, est.confidence >= appearance.SURE_FROM
        else:
            colour, sure, plain = fn(rgb, box)[0], True, True
        ms.append((time.perf_counter() - t) * 1000)
        if r["colours"] == "skip":
            unsure_skip.append(not sure or colour is None)
            continue
        out[r["split"]].append((colour in r["colours"].split("|"), sure, colour, r["colours"], r["file"], plain))
    res = {}
    for split, got in out.items():
        right = [g[0] for g in got]
        sure = [g[0] for g in got if g[1]]
        res[split] = {
            "accuracy": round(float(np.mean(right)), 3),
            "n": len(got),
            "accuracy_when_sure": round(float(np.mean(sure)), 3) if sure else None,
            "sure": len(sure),
            # said without a hedge in answers (confidence >= appearance.SURE_FROM)
            "accuracy_when_plain": round(float(np.mean([g[0] for g in got if g[5]])), 3)
            if any(g[5] for g in got)
            else None,
            "plain": sum(g[5] for g in got),
        }
        if split == "tune":  # the held-out rows' misses are never listed: nobody tunes on them
            res[split]["wrong"] = [f"{g[4]}: said {g[2]}, true {g[3]}" for g in got if not g[0]]
    res["no_garment_rows_marked_unsure"] = f"{sum(unsure_skip)}/{len(unsure_skip)}"
    res["ms_per_face"] = round(float(np.median(ms)), 2)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--old", type=Path, help="score this appearance.py's clothing_colour(rgb, box) instead")
    ap.add_argument("--brief", action="store_true", help="leave out the list of misses")
    args = ap.parse_args()
    fn = None
    if args.old:
        spec = importlib.util.spec_from_file_location("old_appearance", args.old)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)  # type: ignore[union-attr]
        fn = mod.clothing_colour
    res = run(args.data, fn)
    if args.brief:
        for v in res.values():
            if isinstance(v, dict):
                v.pop("wrong", None)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
