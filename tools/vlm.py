"""Describe one face with a vision-language model (VLM): expression, emotion, compound emotions, attributes.

::

    from facelens.tools.vlm import describe_face
    d = describe_face("group.jpg", face_id=2, shots=2)
    d.expression, d.emotion, d.confidence, d.attributes.glasses, d.backend

The crop for the face (head, shoulders and upper body) goes to the first backend that works, in
the order of :func:`facelens.tools.vlm_backends.candidates` (an allowed cloud model, then a local
VLM on a GPU), optionally after the k nearest few-shot exemplars. The reply must be the JSON the
prompt asks for; it is validated with pydantic, retried once with a corrective prompt, and reported
as ``status="malformed"`` if the retry fails too. The VLM's label is fused with the local emotion
classifier (long-tail correction, :mod:`facelens.tools.vlm_calibration`). With no VLM the result comes
from the classifier alone, and ``backend`` says so.
"""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from facelens.tools.errors import BackendError, ConfigError, InputError, ModelError
from facelens.tools.images import LoadedImage, load_image
from facelens.tools.schema import EMOTIONS, EmotionEstimate, Result, SceneAnalysis
from facelens.tools.vlm_backends import Turn, VLMBackend, candidates, person_crop, render, turn
from facelens.tools.vlm_calibration import FusedEmotion, fuse

log = logging.getLogger(__name__)

MAX_SHOTS = 8
MAX_TOKENS = 400


class VisibleAttributes(Result):
    glasses: bool | None = None  # None = not said / unknown
    beard: bool | None = None
    headwear: str | None = None  # e.g. "navy cap"; None when none is visible
    hair: str | None = None  # e.g. "short brown"
    clothing: str | None = None  # e.g. "orange flight suit"
    clothing_colour: str | None = None  # main colour of the clothing
    holding: list[str] = []  # objects held in the hands


class VLMAnswer(BaseModel):
    """The JSON a VLM must return for the describe prompt (extra keys are ignored)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    expression: str = Field(min_length=1, max_length=300)
    emotion: str
    confidence: float = Field(ge=0.0, le=1.0)
    compound_emotions: list[str] = []
    attributes: VisibleAttributes = Field(default_factory=VisibleAttributes)

    @field_validator("emotion")
    @classmethod
    def _known_emotion(cls, v: str) -> str:
        v = v.strip().lower()
        if v not in EMOTIONS:
            raise ValueError(f"'emotion' must be one of {', '.join(EMOTIONS)}, not '{v}'")
        return v

    @field_validator("attributes", mode="before")
    @classmethod
    def _lenient_attributes(cls, v: object) -> object:
        if isinstance(v, dict):  # models add keys of their own; keep the ones we know
            return {k: x for k, x in v.items() if k in VisibleAttributes.model_fields}
        return v


class FaceDescription(Result):
    face_id: int  # the face number in the analysis (1 = leftmost)
    backend: str  # what produced it: "openai:<model>", "local:<model>" or "classifier"
    status: Literal["ok", "malformed", "classifier_only", "no_model"]  # malformed = the VLM reply was unusable twice
    expression: str | None = None  # fine-grained expression, e.g. "slightly confused surprise"
    emotion: str | None = None  # final label over EMOTIONS (fused when both VLM and classifier ran)
    confidence: float | None = None  # probability of that label
    compound_emotions: list[str] = []
    attributes: VisibleAttributes = Field(default_factory=VisibleAttributes)
    vlm: VLMAnswer | None = None  # the VLM's own validated answer
    classifier: EmotionEstimate | None = None  # the local classifier's estimate, when installed
    fusion: FusedEmotion | None = None  # both, and how they were combined
    retried: bool = False  # True when the first reply was malformed
    raw_output: str | None = None  # the last unusable reply, when status is "malformed"
    exemplars: list[str] = []  # ids of the few-shot exemplars shown
    images_left_machine: bool = False  # True when the crop was sent to a server off this machine
    latency_ms: float = 0.0
    notes: list[str] = []  # why backends were skipped or failed


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)


def parse_answer(text: str) -> VLMAnswer:
    """Validate a VLM reply: the first JSON object in it (code fences allowed).

    Raises:
        ValueError: with a message suitable for the corrective prompt.
    """
    fenced = _FENCE.search(text)
    body = fenced.group(1) if fenced else text
    start = body.find("{")
    if start < 0:
        raise ValueError("the reply contains no JSON object")
    try:
        obj, _ = json.JSONDecoder().raw_decode(body[start:])
    except json.JSONDecodeError as exc:
        raise ValueError(f"the JSON is invalid ({exc.msg} at character {exc.pos})") from exc
    if not isinstance(obj, dict):
        raise ValueError("the JSON is not an object")
    try:
        return VLMAnswer.model_validate(obj)
    except ValidationError as exc:
        errs = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'reply'}: {e['msg']}" for e in exc.errors()[:4])
        raise ValueError(errs) from exc


def describe_turns(
    crop: np.ndarray, *, question: str | None = None, shots: list[tuple[np.ndarray, str]] = ()
) -> list[Turn]:
    """The conversation for one crop: system, few-shot (image, answer) pairs, then the query."""
    ask = render("describe", emotions=EMOTIONS, question=question)
    turns = [turn("system", render("system"))]
    for i, (img, answer) in enumerate(shots):
        intro = render("fewshot_intro", n=len(shots)) + "\n\n" if i == 0 else ""
        turns += [turn("user", intro + ask, img), turn("assistant", answer)]
    turns.append(turn("user", ask, crop))
    return turns


def ask_vlm(
    backend: VLMBackend, turns: list[Turn], max_tokens: int = MAX_TOKENS
) -> tuple[VLMAnswer | None, str, bool, float]:
    """Generate, validate, and retry once with a corrective prompt.

    Returns:
        (answer or None when malformed twice, last raw text, retried, total latency ms)
    """
    gen = backend.generate(turns, max_tokens=max_tokens, json_mode=True)
    latency = gen.latency_ms
    try:
        return parse_answer(gen.text), gen.text, False, latency
    except ValueError as first:
        log.info("%s: malformed reply (%s); retrying once", backend.name, first)
        retry = turns + [
            turn("assistant", gen.text or "(empty)"),
            turn("user", render("corrective", error=str(first), emotions=EMOTIONS)),
        ]
        gen2 = backend.generate(retry, max_tokens=max_tokens, json_mode=True)
        latency += gen2.latency_ms
        try:
            return parse_answer(gen2.text), gen2.text, True, latency
        except ValueError as second:
            log.info("%s: malformed reply after the corrective retry: %s", backend.name, second)
            return None, gen2.text, True, latency


def _few_shot(store, image: LoadedImage, face_index: int, shots: int, detector: str) -> list[tuple[object, float]]:
    from facelens.tools.scene import face_embeddings

    vec = face_embeddings(image, detector=detector)[face_index]
    return store.nearest(vec, shots)


def describe_face(
    image: str | Path | bytes | LoadedImage,
    face_id: int = 1,
    *,
    question: str | None = None,
    backend: str | VLMBackend | None = None,
    shots: int = 0,
    allow_cloud: bool | None = None,
    scene: SceneAnalysis | None = None,
    store: object | None = None,
    fuse_classifier: bool = True,
    max_tokens: int = MAX_TOKENS,
) -> FaceDescription:
    """Describe face ``face_id`` of an image.

    Args:
        image: path, bytes or LoadedImage.
        face_id: face number from the analysis (1 = leftmost).
        question: the user's question, passed to the VLM as context.
        backend: a backend object, "openai", "local", "none", or None/"auto" for the fallback order.
        shots: number of nearest few-shot exemplars to show first (0 = zero-shot).
        allow_cloud: may the crop be sent off this machine (None = FACELENS_ALLOW_CLOUD_IMAGES, default no).
        scene: the image's analysis, if already computed.
        store: an ExemplarStore (default: the one under FACELENS_HOME).
        fuse_classifier: fuse the VLM label with the local classifier (long-tail correction).
        max_tokens: longest reply generated.

    Raises:
        NotFoundError: no such face. With an explicitly chosen backend, its BackendError/ModelError/
        ConfigError; in auto mode those are noted and the next backend is tried.
    """
    from facelens.tools.scene import analyze_image

    if not 0 <= shots <= MAX_SHOTS:
        raise InputError(f"shots must be between 0 and {MAX_SHOTS}, not {shots}.")
    img = load_image(image)
    scene = scene or analyze_image(img, identify=False)
    face = scene.face(face_id)
    index = [f.id for f in scene.faces].index(face_id)
    classifier = face.emotion
    backends, explicit, notes = candidates(backend, allow_cloud=allow_cloud)
    t0 = time.perf_counter()
    sent = False  # conservative: any attempt to a non-local backend counts, even one that then failed
    for b in backends:
        sent = sent or not b.local
        try:
            exemplar_ids: list[str] = []
            pairs: list[tuple[np.ndarray, str]] = []
            if shots:
                from facelens.tools.exemplars import ExemplarStore

                st = store or ExemplarStore()
                for ex, _dist in _few_shot(st, img, index, shots, scene.detector):
                    pairs.append((st.image(ex), st.answer(ex)))
                    exemplar_ids.append(ex.id)
            turns = describe_turns(person_crop(img.rgb, face.box), question=question, shots=pairs)
            answer, raw, retried, latency = ask_vlm(b, turns, max_tokens)
        except (BackendError, ModelError, ConfigError) as exc:
            if explicit:
                raise
            notes.append(f"{b.name} failed: {exc}")
            log.warning("VLM %s failed, trying the next: %s", b.name, exc)
            continue
        common = dict(
            face_id=face_id,
            backend=b.name,
            classifier=classifier,
            retried=retried,
            exemplars=exemplar_ids,
            images_left_machine=sent,
            latency_ms=round(latency, 1),
            notes=notes,
        )
        if answer is None:
            notes.append(
                "the VLM reply was malformed twice"
                + ("; the emotion comes from the local classifier" if classifier else "")
            )
            return FaceDescription(
                status="malformed",
                raw_output=raw[:2000],
                emotion=classifier.label if classifier else None,
                confidence=classifier.confidence if classifier else None,
                attributes=_scene_attributes(face),
                **common,
            )
        fused = fuse(answer.emotion, answer.confidence, classifier) if fuse_classifier else None
        attrs = answer.attributes
        if attrs.clothing_colour is None and face.appearance.clothing_colour:
            attrs = attrs.model_copy(update={"clothing_colour": face.appearance.clothing_colour})
        return FaceDescription(
            status="ok",
            expression=answer.expression,
            emotion=fused.label if fused else answer.emotion,
            confidence=fused.confidence if fused else answer.confidence,
            compound_emotions=answer.compound_emotions,
            attributes=attrs,
            vlm=answer,
            fusion=fused,
            **common,
        )
    result = _classifier_only(face_id, face, classifier, notes, (time.perf_counter() - t0) * 1000)
    return result.model_copy(update={"images_left_machine": sent})


def _scene_attributes(face) -> VisibleAttributes:
    return VisibleAttributes(clothing_colour=face.appearance.clothing_colour)


def _classifier_only(
    face_id: int, face, classifier: EmotionEstimate | None, notes: list[str], latency: float
) -> FaceDescription:
    if classifier is None:
        notes = notes + ["no VLM is configured and the local emotion classifier is not installed"]
        return FaceDescription(
            face_id=face_id, backend="none", status="no_model", attributes=_scene_attributes(face), notes=notes
        )
    return FaceDescription(
        face_id=face_id,
        backend="classifier",
        status="classifier_only",
        expression=render("classifier_expression", label=classifier.label, confidence=classifier.confidence),
        emotion=classifier.label,
        confidence=classifier.confidence,
        attributes=_scene_attributes(face),
        classifier=classifier,
        latency_ms=round(latency, 1),
        notes=notes,
    )
