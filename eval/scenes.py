"""Public-domain sample faces and composed multi-person scenes with known ground truth.

Used by the example image, the tests and the benchmarks. Sources (both public domain):
- scikit-image's ``astronaut``: NASA portrait of Eileen Collins (smiling);
- matplotlib's ``grace_hopper.jpg``: US Navy portrait of Grace Hopper.
Scenes are composed by pasting head crops onto a plain background with a coloured "torso" under
each head, so positions, clothing colours and identities are known exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from facelens.tools.errors import DependencyError

#: RGB of the named colours the torsos are painted with
PAINT = {
    "red": (200, 30, 35),
    "blue": (30, 60, 190),
    "green": (30, 150, 60),
    "yellow": (235, 210, 40),
    "black": (20, 20, 22),
    "white": (245, 245, 245),
    "orange": (240, 130, 20),
    "purple": (120, 40, 150),
    "pink": (245, 150, 190),
    "grey": (128, 128, 128),
    "brown": (110, 70, 35),
}


@cache
def astronaut() -> np.ndarray:
    """NASA's portrait of Eileen Collins (512 x 512 RGB), via scikit-image (public domain)."""
    try:
        from skimage import data
    except ImportError as exc:
        raise DependencyError("scikit-image is needed for the sample faces.", hint="pip install scikit-image") from exc
    return np.ascontiguousarray(data.astronaut())


@cache
def grace_hopper() -> np.ndarray:
    """US Navy portrait of Grace Hopper (600 x 512 RGB), via matplotlib (public domain)."""
    import matplotlib.cbook as cbook
    from PIL import Image

    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    return np.ascontiguousarray(np.asarray(Image.open(path).convert("RGB")))


#: head regions (x0, y0, x1, y1) of the two portraits, a margin around the dlib face box
HEADS = {"astronaut": (140, 20, 305, 210), "hopper": (130, 60, 420, 390)}
PEOPLE = {"astronaut": astronaut, "hopper": grace_hopper}


def head(name: str, mirror: bool = False) -> np.ndarray:
    """A head-and-shoulders crop of a sample person ("astronaut" or "hopper")."""
    x0, y0, x1, y1 = HEADS[name]
    crop = PEOPLE[name]()[y0:y1, x0:x1]
    return np.ascontiguousarray(crop[:, ::-1] if mirror else crop)


@dataclass(frozen=True)
class Person:
    who: str  # "astronaut" or "hopper"
    shirt: str  # a key of PAINT
    mirror: bool = False


@dataclass(frozen=True)
class Placed:
    who: str
    shirt: str
    head_box: tuple[int, int, int, int]  # x, y, w, h of the pasted head crop


def compose(
    people: list[Person], width: int = 1280, height: int = 720, head_width: int = 150
) -> tuple[np.ndarray, list[Placed]]:
    """Paste people side by side, left to right, each with a torso of their shirt colour."""
    import cv2

    canvas = np.empty((height, width, 3), dtype=np.uint8)
    canvas[:] = np.linspace(200, 235, width, dtype=np.uint8)[None, :, None]  # soft grey gradient
    slot = width / max(1, len(people))
    placed = []
    for i, p in enumerate(people):
        crop = head(p.who, p.mirror)
        h = int(round(crop.shape[0] * head_width / crop.shape[1]))
        crop = cv2.resize(crop, (head_width, h), interpolation=cv2.INTER_AREA)
        x = int(i * slot + (slot - head_width) / 2)
        y = int(height * 0.12) + (i % 2) * 20
        torso_top = y + h - 5
        cv2.rectangle(canvas, (x - 20, torso_top), (x + head_width + 20, height - 1), PAINT[p.shirt], thickness=-1)
        canvas[y : y + h, x : x + head_width] = crop
        placed.append(Placed(p.who, p.shirt, (x, y, head_width, h)))
    return canvas, placed


def example_scene() -> tuple[np.ndarray, list[Placed]]:
    """The shipped example: four people, two portraits, mirrored, in four shirt colours."""
    return compose(
        [
            Person("hopper", "blue"),
            Person("astronaut", "red"),
            Person("hopper", "green", mirror=True),
            Person("astronaut", "yellow", mirror=True),
        ],
        width=1280,
        height=720,
        head_width=170,
    )


def six_people() -> tuple[np.ndarray, list[Placed]]:
    """A 1280 x 720 scene with six people (the analysis benchmark's photo)."""
    shirts = ["red", "blue", "green", "black", "white", "purple"]
    people = [Person("astronaut" if i % 2 else "hopper", s, mirror=i >= 3) for i, s in enumerate(shirts)]
    return compose(people, width=1280, height=720, head_width=150)


#: the family of the issue-24 examples, left to right: (gender, apparent age, expression, clothing, name or None)
FAMILY = (
    ("male", 42.0, "neutral", "blue", None),  # the father
    ("female", 39.0, "happy", "white", "Scarlett"),  # the mother, in the middle of five
    ("female", 7.0, "happy", "pink", None),  # the little girl, in front (the largest face)
    ("male", 15.0, "sad", "white", None),  # the teenage boy, also in white
    ("female", 68.0, "happy", "green", None),  # the grandmother
)


def synthetic_scene(people: tuple[tuple[str, float, str, str, str | None], ...] = FAMILY, largest: int | None = 3):
    """A :class:`SceneAnalysis` with known attributes per face (no image, no models): for the planner's tests.

    ``people``: (gender, apparent age, top expression, clothing colour, enrolled name or None), left to right;
    ``largest``: the face number that is nearest the camera (size rank 1)."""
    from facelens.tools.schema import AGE_GROUPS, EMOTIONS, IdentityMatch

    n = len(people)
    faces = []
    for i, (gender, age, label, colour, name) in enumerate(people):
        fid = i + 1
        group = next(
            (g for g in AGE_GROUPS if g.endswith("+") or int(g.split("-")[0]) <= age <= int(g.split("-")[1])),
            AGE_GROUPS[-1],
        )
        faces.append(
            synthetic_face(
                fid,
                n,
                horizontal="left" if fid <= n / 3 else "right" if fid > 2 * n / 3 else "center",
                size_rank=1 if fid == largest else fid + 1,
                identity=IdentityMatch(
                    name=name or "unknown",
                    distance=0.35 if name else 0.72,
                    known=bool(name),
                    nearest=name or "Scarlett",
                ),
                colour=colour,
                emotion=label,
                scores={e: (0.82 if e == label else 0.18 / (len(EMOTIONS) - 1)) for e in EMOTIONS},
                age=age,
                age_group=group,
                gender=gender,
                model="synthetic",
            )
        )
    return synthetic_analysis(faces, "1")


def synthetic_face(
    fid: int,
    of: int,
    *,
    horizontal: str,
    size_rank: int,
    identity,
    colour: str,
    emotion: str,
    scores: dict[str, float],
    age: float,
    age_group: str,
    gender: str,
    model: str,
):
    """One face of a generated scene (a :class:`FaceAnalysis`): face ``fid`` of ``of``, its 100 px box at
    x = 40 + 200 (fid - 1), y = 60, found by the "synthetic" detector; the rest as given."""
    from facelens.tools.schema import Appearance, EmotionEstimate, FaceAnalysis, GenderEstimate, Position

    return FaceAnalysis(
        id=fid,
        box=(40 + (fid - 1) * 200, 60, 100, 100),
        score=0.99,
        detector="synthetic",
        landmarks=[(0.0, 0.0)] * 5,
        position=Position(index=fid, of=of, horizontal=horizontal, vertical="middle", size_rank=size_rank),
        identity=identity,
        appearance=Appearance(clothing_colour=colour),
        emotion=EmotionEstimate(label=emotion, scores=scores, model=model),
        age=age,
        age_group=age_group,
        gender=GenderEstimate(label=gender, score=0.9),
    )


def synthetic_analysis(faces: list, digit: str):
    """A :class:`SceneAnalysis` of generated faces, left to right 200 px apart in a 300 px high JPEG; its
    sha256 is ``digit`` 64 times."""
    from facelens.tools.schema import ImageInfo, SceneAnalysis

    n = len(faces)
    return SceneAnalysis(
        image=ImageInfo(sha256=digit * 64, width=n * 200 + 80, height=300, format="JPEG"),
        faces=faces,
        detector="synthetic",
    )
