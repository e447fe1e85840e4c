"""What the assistant returns, and how it names faces in words.

``Answer`` is the JSON of ``facelens ask --json``: exactly ``answer``, ``backend``, ``faces``,
``tool_calls`` and ``llm_calls``. ``FaceSummary`` is the per-person record in ``faces`` (never an
embedding). The phrase helpers give every backend the same wording: "Face 2 (second from left, red
clothing)" and "looks happy, 91%".
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from facelens.tools.align import turned_aside
from facelens.tools.schema import EMOTION_ADJECTIVES, FaceAnalysis, Result, SceneAnalysis

ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")

#: backend names as they appear in answers
BACKEND_LABELS = {
    "offline": "the offline planner (no LLM)",
    "openai": "an OpenAI-compatible LLM",
    "local": "a local LLM",
}


class ToolCall(Result):
    name: str  # the tool's name, as the LLM sees it
    args: dict[str, Any]  # its arguments
    ms: float  # wall time of the call


class FaceSummary(Result):
    id: int  # face number, 1 = leftmost
    position: str  # "far left", "second from right", "middle", ...
    box: tuple[int, int, int, int]  # x, y, w, h in image pixels
    clothing: str | None = None  # clothing colour name under the face
    name: str | None = None  # enrolled name, "unknown", or None when the gallery is empty
    emotion: str | None = None  # apparent emotion label, None when the emotion model is not installed
    emotion_confidence: float | None = None  # probability of that label
    age: float | None = None  # apparent age in years
    age_group: str | None = None
    gender: str | None = None  # apparent gender as the model sees it
    image: str | None = None  # which image (when a conversation holds several)


class Answer(Result):
    answer: str  # the answer text
    backend: str  # "offline", "openai" or "local" (plus the model where there is one)
    faces: list[FaceSummary] = Field(default_factory=list)  # the people the answer is about
    tool_calls: list[ToolCall] = Field(default_factory=list)  # every tool call, in order
    llm_calls: int = 0  # chat-model calls made for this answer

    def text(self) -> str:
        """The answer followed by a line naming the backend that made it (the CLI's plain output)."""
        return f"{self.answer}\n[answered by {backend_label(self.backend)}]"


def backend_label(backend: str) -> str:
    kind, _, model = backend.partition(":")
    label = BACKEND_LABELS.get(kind, kind)
    return f"{label}, {model}" if model else label


def ordinal(n: int) -> str:
    return ORDINALS[n - 1] if 1 <= n <= len(ORDINALS) else f"{n}th"


def position_phrase(face: FaceAnalysis) -> str:
    """Where a face is, in the words people use to refer to it."""
    i, n = face.position.index, face.position.of
    if n == 1:
        return "the only face"
    if i == 1:
        return "far left"
    if i == n:
        return "far right"
    if n % 2 == 1 and i == (n + 1) // 2:
        return "middle"
    if i <= n / 2:
        return f"{ordinal(i)} from left"
    return f"{ordinal(n - i + 1)} from right"


def face_label(face: FaceAnalysis) -> str:
    """``Face 2 (second from left, red clothing)``: how every answer cites a person."""
    bits = [position_phrase(face)]
    if face.appearance.clothing_colour:
        bits.append(f"{face.appearance.clothing_colour} clothing")
    if face.identity is not None and face.identity.known:
        bits.insert(0, face.identity.name)
    return f"Face {face.id} ({', '.join(bits)})"


def emotion_phrase(face: FaceAnalysis) -> str | None:
    """``looks happy, 91%``, or None when there is no emotion estimate."""
    if face.emotion is None:
        return None
    word = EMOTION_ADJECTIVES.get(face.emotion.label, face.emotion.label)
    return f"looks {word}, {face.emotion.confidence:.0%}"


def summarize_face(face: FaceAnalysis, image: str | None = None) -> FaceSummary:
    """The per-person JSON record of a face (no embedding, no landmarks)."""
    return FaceSummary(
        id=face.id,
        position=position_phrase(face),
        box=face.box,
        clothing=face.appearance.clothing_colour,
        name=face.identity.name if face.identity is not None else None,
        emotion=face.emotion.label if face.emotion is not None else None,
        emotion_confidence=round(face.emotion.confidence, 3) if face.emotion is not None else None,
        age=round(face.age, 1) if face.age is not None else None,
        age_group=face.age_group,
        gender=face.gender.label if face.gender is not None else None,
        image=image,
    )


# --- one face's facts in words: shared by the LLM's scene lines and facts and the UI's face card ---

#: what is said of a face's emotion when the emotion model is missing
EMOTION_NOT_ESTIMATED = "not estimated (emotion model not installed)"


def identity_status(f: FaceAnalysis) -> str:
    """What the gallery says of a face: "not checked (gallery empty)", "NAME (distance 0.31)" or "unknown (not in the gallery)"."""
    if f.identity is None:
        return "not checked (gallery empty)"
    if f.identity.known:
        return f"{f.identity.name} (distance {f.identity.distance:.2f})"
    return "unknown (not in the gallery)"


def clothing_status(f: FaceAnalysis) -> str:
    """The clothing colour under a face, or "not visible"."""
    return f.appearance.clothing_colour or "not visible"


def apparent_attributes(f: FaceAnalysis, percent: bool = False) -> list[str]:
    """The apparent age and gender: "apparent age 31 (20-39)", "apparent gender female (0.90)" (``percent``: "(90%)"); none without the model.
    A face turned to the side (:func:`facelens.tools.align.turned_aside`) adds that these are rough guesses."""
    bits = []
    if f.age is not None:
        bits.append(f"apparent age {f.age:.0f} ({f.age_group})")
    if f.gender is not None:
        bits.append(
            f"apparent gender {f.gender.label} ({f.gender.score:.0%})"
            if percent
            else f"apparent gender {f.gender.label} ({f.gender.score:.2f})"
        )
    if bits and turned_aside(f.landmarks, f.box[2]):
        bits.append("face turned to the side, so these are rough guesses")
    return bits


def scene_lines(scene: SceneAnalysis) -> list[str]:
    """One line of plain facts per face: what an LLM is given instead of pixels or embeddings."""
    lines = []
    for f in scene.faces:
        parts = [
            f"Face {f.id}: {position_phrase(f)} ({f.position.horizontal}, {f.position.vertical}), size rank {f.position.size_rank}"
        ]
        parts.append(f"clothing {clothing_status(f)}")
        parts.append(f"identity {identity_status(f)}")
        if f.emotion is None:
            parts.append(f"emotion {EMOTION_NOT_ESTIMATED}")
        else:
            top = sorted(f.emotion.scores.items(), key=lambda kv: -kv[1])[:3]
            parts.append("emotion " + ", ".join(f"{k} {v:.2f}" for k, v in top))
        parts.extend(apparent_attributes(f))
        lines.append("; ".join(parts))
    return lines
