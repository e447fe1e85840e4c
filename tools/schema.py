"""Typed, JSON-serialisable results shared by the tools, the agent and the UI.

Every result is a frozen pydantic model: ``.model_dump()`` gives plain JSON-ready Python values and
``Model.model_validate(data)`` reads them back (the analysis cache relies on the round trip).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
#: how each emotion label reads after "looks" in answers (appearance, never a claim about feelings)
EMOTION_ADJECTIVES: dict[str, str] = {
    "angry": "angry",
    "disgust": "disgusted",
    "fear": "afraid",
    "happy": "happy",
    "neutral": "neutral",
    "sad": "sad",
    "surprise": "surprised",
}
AGE_GROUPS: tuple[str, ...] = ("0-9", "10-19", "20-39", "40-59", "60+")


class Result(BaseModel):
    """Base of every facelens result: frozen and JSON-serialisable."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def to_json(self, **kwargs: object) -> str:
        return self.model_dump_json(**kwargs)  # type: ignore[arg-type]


class ImageInfo(Result):
    source: str | None = None  # file path, or None for uploaded bytes
    sha256: str  # content hash of the file bytes (cache key)
    width: int
    height: int
    format: str  # JPEG, PNG, WEBP, BMP, TIFF
    exif_rotated: bool = False  # True when the EXIF orientation was applied


class Position(Result):
    index: int  # 1 = leftmost face, counting left to right
    of: int  # number of faces in the image
    horizontal: Literal["left", "center", "right"]  # thirds of the image width
    vertical: Literal["top", "middle", "bottom"]  # thirds of the image height
    size_rank: int  # 1 = largest face (usually the closest person)


class IdentityMatch(Result):
    name: str  # enrolled name, or "unknown" when the nearest is beyond the threshold
    distance: float  # L2 distance to the nearest enrolled embedding (dlib: same person < ~0.5)
    known: bool  # False for "unknown": the face is not forced onto the nearest name
    nearest: str | None = None  # the nearest enrolled name, even when unknown (for review)


class ClothingEstimate(Result):
    colour: str | None = None  # colour name of the clothing on the torso under the face; None: out of frame or hidden
    rgb: tuple[int, int, int] | None = None  # the median colour of that part of the clothing
    confidence: float = (
        0.0  # 0-1: share of the torso in that colour x how much of it was clothing x how well the name fits
    )
    other_colour: str | None = None  # a second colour covering >= 25% (stripes, a jacket over a shirt)
    garment: str | None = None  # "top" when a clear region of clothing was seen; None: say you are not sure
    visible: float = 0.0  # share of the torso region inside the image
    clothing_share: float = 0.0  # share of the visible torso that was not skin, hair or another face


class Appearance(Result):
    clothing_colour: str | None = None  # colour name of the region under the face, None if out of frame
    clothing_rgb: tuple[int, int, int] | None = None  # its median colour
    clothing_confidence: float | None = None  # 0-1 (ClothingEstimate.confidence); below ~0.45 say it is not sure
    clothing_garment: str | None = None  # "top" only when it could tell; None otherwise
    clothing_other_colour: str | None = None  # a second colour covering >= 25% of the torso
    description: str | None = None  # optional VLM description of visible attributes


class EmotionEstimate(Result):
    label: str  # the most probable of EMOTIONS; read it as "looks <label>", not an inner state
    scores: dict[str, float]  # calibrated probabilities over EMOTIONS, summing to 1
    model: str = ""  # which model produced it

    @property
    def confidence(self) -> float:
        return float(self.scores.get(self.label, 0.0))


class GenderEstimate(Result):
    label: Literal["female", "male"]  # apparent gender as the model sees it
    score: float  # probability of the label


class FaceAnalysis(Result):
    id: int  # face number used in answers: 1 = leftmost
    box: tuple[int, int, int, int]  # x, y, w, h in original image pixels
    score: float  # detector confidence
    detector: str
    landmarks: list[tuple[float, float]]  # 5 points: eye left, eye right, nose, mouth left, mouth right
    position: Position
    identity: IdentityMatch | None = None  # None when the gallery is empty
    appearance: Appearance = Field(default_factory=Appearance)
    emotion: EmotionEstimate | None = None  # None when the emotion model is not installed
    age: float | None = None  # apparent age in years
    age_group: str | None = None  # one of AGE_GROUPS, the bracket that contains ``age``
    life_stage: Literal["child", "teen", "adult", "elderly"] | None = (
        None  # by age: child < 13, teen 13-19, elderly 60+
    )
    gender: GenderEstimate | None = None


class SceneAnalysis(Result):
    image: ImageInfo
    faces: list[FaceAnalysis]
    detector: str
    timings_ms: dict[str, float] = Field(default_factory=dict)  # per stage, this call
    cached: bool = False  # True when the expensive stages came from the cache

    def face(self, face_id: int) -> FaceAnalysis:
        """The face with this number (1-based), or NotFoundError."""
        from facelens.tools.errors import NotFoundError

        for f in self.faces:
            if f.id == face_id:
                return f
        raise NotFoundError(
            f"There is no face {face_id} in this image; it has {len(self.faces)} face(s)"
            + (f" numbered 1-{len(self.faces)}." if self.faces else ".")
        )
