"""The offline planner: a deterministic question -> tool calls -> answer pipeline, no LLM.

It recognises the common question families (count, superlative, who-is, is-NAME-here, what-emotion
for a referred person, describe everyone / as JSON, compare two faces, transcript questions, and
conversational follow-ups), runs the same tools an LLM would call (recorded in the ToolBox), and
composes the answer from their results. Anything else gets a plain "I can't answer that offline"
with how to configure an LLM. Race or ethnicity is declined and the rest of the question answered.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from facelens.agent import compose, prompts
from facelens.agent.referring import COLOUR_WORDS, EMOTION_CUES, SUPERLATIVE_RE, resolve
from facelens.agent.tools import ToolBox
from facelens.tools.errors import FacelensError
from facelens.tools.schema import SceneAnalysis

RACE_RE = re.compile(
    r"\b(race|races|racial|ethnic|ethnicity|ethnicities|ethnically|skin colou?r|skin tone|caucasian|asian|african|"
    r"hispanic|latino|latina|arab|indian|nationality|what country .* from|where .* from)\b"
)
STRONG_TRANSCRIPT_RE = re.compile(r"\b(transcript|audio|recording|mention(?:ed|s)?|said|did \w+ say|was said|talk(?:ed)? about)\b")
TRANSCRIPT_RE = re.compile(r"\b(said|say|says|saying|transcript|mention(?:ed|s)?|talk(?:ed|s|ing)?|audio|speech|spoke|recording|words?)\b")
JSON_RE = re.compile(r"\bjson\b")
COUNT_RE = re.compile(r"\bhow many\b|\bcount\b|\bnumber of (?:people|faces|persons)\b")
COMPARE_RE = re.compile(
    r"\b(same person|same people|the same|look alike|lookalike|identical|twins?|compare|resemble|resembles)\b"
    r"|\bdoes?\b.*\blooks? like (?:the|face|person|him|her)\b"
)
CHILD_RE = re.compile(r"\b(children|child|kids?|minors?|bab(?:y|ies)|teenagers?|teens?)\b")
THERE_IS_RE = re.compile(r"^\s*(?:is there|are there)\s+(?:a|an|any|some)?\s*(\w+)")
IS_ONE_RE = re.compile(r"^(?:is|was|are)\s+(?:she|he|they|that person|this person|that one|this one|it)\s+(?:also\s+)?(?:the one|the person|the woman|the man|the guy|the lady|the girl|the boy|one)\b")
PRESENCE_RE = re.compile(
    r"^\s*(?:is|was)\s+(?P<a>[A-Za-z][\w'.-]*(?:\s+[A-Z][\w'.-]*)?)\s+(?:in|on|here|present|there|visible|anywhere)\b"
    r"|(?i:\b(?:is there|do you see|can you (?:see|find|spot))\s+(?:anyone|someone|somebody|anybody)?\s*(?:named|called)?)\s*(?P<b>[A-Z][\w'.-]*)"
)
NOT_NAMES = {"she", "he", "it", "this", "that", "there", "anyone", "someone", "everyone", "anybody", "somebody", "the", "a",
             "they", "person", "face", "nobody", "her", "him"}
WHO_RE = re.compile(r"^\s*(?:who|which person|which one|which face)(?:'s|\s+is|\s+are|\s+was)?\b")
IDENTIFY_ALL_RE = re.compile(r"\b(?:who(?:'s| is| are)\s+(?:in|on) (?:this|the) (?:picture|photo|image)|who are (?:they|these people)|recogni[sz]e|know (?:anyone|any of))\b")
EMOTION_Q_RE = re.compile(r"\b(feel|feels|feeling|emotion|emotions|mood|expression|express|look like|looks like|how does|how do|seem|seems|mood)\b")
EMOTION_WORD_RE = {label: re.compile(rf"\b(?:{words})\b") for label, words in EMOTION_CUES.items()}
AGE_Q_RE = re.compile(r"\bhow old\b|\bwhat age\b|\bage of\b|\b(?:their|his|her) age\b")
CLOTHING_Q_RE = re.compile(r"\bwhat (?:colou?r|is .* wearing|are .* wearing|does .* wear)\b|\bwearing what\b")
WHERE_RE = re.compile(r"^\s*where(?:'s| is| are)\b")
DESCRIBE_RE = re.compile(r"\b(describe|description|tell me about|what do you see|everyone|everybody|all the people|each person|each face|every face|summar(?:y|ise|ize)|who is there|overview)\b")
ANYONE_RE = re.compile(r"^\s*(?:is|are|does|do)\s+(?:anyone|anybody|someone|somebody|everyone|everybody|any of them|all of them|they all)\b")
WHO_LOOKS_RE = re.compile(r"^\s*(?:who|which (?:person|people|one|ones|faces?))\s+(?:looks?|is|are|seems?|appears?)\s+(?:\w+\s+)?(\w+)\s*\??$")
FOLLOW_RE = re.compile(r"^\s*(?:and|what about|how about|and what about|same for)\b")
#: "how many people are there and who looks saddest?": two questions, answered in turn
MULTI_RE = re.compile(r"\?\s+(?=\w)|,?\s+\band\s+(?=(?:who|what|how|which|where|is|are|does|do|can)\b)", re.I)
SPLIT_RE = re.compile(r"\?|;|\.\s|,\s*and\s|\band\b")


@dataclass
class PlanState:
    """What the planner remembers between turns of a conversation."""

    focus: tuple[int, ...] = ()  # faces the last answer was about
    intent: str | None = None  # the last question family, for "and the person next to her?"
    image: str | None = None


@dataclass(frozen=True)
class PlannerReply:
    text: str
    faces: tuple[int, ...]  # the faces the answer is about
    intent: str  # which question family answered it ("beyond" when none)
    image: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def answer(question: str, box: ToolBox, state: PlanState | None = None) -> PlannerReply:
    """Answer ``question`` about the ToolBox's current image (and audio) without an LLM.

    Updates ``state`` (focus and intent) so follow-up questions can refer back.
    """
    state = state if state is not None else PlanState()
    q = " ".join(question.strip().split())
    lowered = q.lower().replace("’", "'")
    prefix = ""
    if RACE_RE.search(lowered):
        prefix = prompts.render("planner", "race_decline")
        rest = [p for p in SPLIT_RE.split(q) if p and p.strip() and not RACE_RE.search(p.lower())]
        q = " ".join(p.strip() for p in rest)
        lowered = q.lower()
        if len(re.findall(r"\w+", lowered)) < 2:
            return PlannerReply(prefix + " " + prompts.render("planner", "race_only"), (), "race", state.image)
    parts = [p.strip() for p in MULTI_RE.split(q) if p and p.strip()]
    if len(parts) > 1 and box.images:
        replies = [_dispatch(p, p.lower(), box, state) for p in parts]
        faces = tuple(dict.fromkeys(i for r in replies for i in r.faces))
        reply = PlannerReply(" ".join(r.text for r in replies), replies[-1].faces or faces, replies[-1].intent, replies[-1].image)
    else:
        reply = _dispatch(q, lowered, box, state)
    if prefix:
        reply = PlannerReply(prefix + " " + reply.text, reply.faces, reply.intent, reply.image, reply.notes)
    if reply.faces:
        state.focus = reply.faces
    if reply.intent not in ("beyond", "race"):
        state.intent = reply.intent
    state.image = reply.image
    return reply


def _dispatch(q: str, lq: str, box: ToolBox, state: PlanState) -> PlannerReply:
    if STRONG_TRANSCRIPT_RE.search(lq) or (TRANSCRIPT_RE.search(lq) and (box.audio is not None or not box.images)):
        return compose.transcript(lq, box)
    if not box.images:
        if TRANSCRIPT_RE.search(lq):
            return PlannerReply(prompts.render("planner", "no_audio"), (), "transcript")
        return PlannerReply(prompts.render("planner", "beyond_scope"), (), "beyond")
    image = box.image_name()
    scene = box.analyze_scene()
    if not scene.faces:
        if TRANSCRIPT_RE.search(lq) and box.audio is not None:
            return compose.transcript(lq, box)
        return PlannerReply(prompts.render("planner", "no_faces", image=image, detector=scene.detector), (), "empty", image)
    focus = state.focus if state.image == image else ()
    if FOLLOW_RE.match(lq) and state.intent in ("emotion", "describe", "who", "age", "clothing", "where"):
        ref = box.find_people(lq, focus=focus)
        if ref.matched:
            return _per_person(state.intent, scene, ref.face_ids, ref.notes, lq, image)
    if JSON_RE.search(lq):
        ref = box.find_people(lq, focus=focus)
        ids = ref.face_ids if ref.matched and ref.face_ids else tuple(f.id for f in scene.faces)
        data = [compose.summary(scene.face(i), image).model_dump(mode="json") for i in ids]
        return PlannerReply(json.dumps(data, indent=2), ids, "json", image)
    if COMPARE_RE.search(lq) or IS_ONE_RE.match(lq):
        return _compare(lq, box, scene, focus, image)
    if CHILD_RE.search(lq) and (COUNT_RE.search(lq) or THERE_IS_RE.match(lq)):
        return compose.children(scene, image)
    there = THERE_IS_RE.match(lq)
    if COUNT_RE.search(lq) or (there and re.match(r"(?:wo)?m[ae]n|lady|ladies|girls?|boys?|guys?|people|persons?|faces?", there.group(1))):
        return compose.count(lq, scene, image)
    for key, rx in SUPERLATIVE_RE.items():
        if rx.search(lq) and (WHO_RE.match(lq) or lq.startswith(("which", "whose", "who"))):
            return compose.superlative(key, scene, image)
    presence = _presence_name(q, box)
    if presence:
        return compose.presence(presence, scene, box.known_names(), image)
    if IDENTIFY_ALL_RE.search(lq):
        return compose.identify_all(scene, image)
    m = WHO_LOOKS_RE.match(lq)
    if ANYONE_RE.match(lq) or m or there:
        for label, rx in EMOTION_WORD_RE.items():
            if rx.search(lq):
                return compose.who_looks(label, scene, image, everyone=bool(re.search(r"\b(everyone|everybody|all)\b", lq)))
    ref = box.find_people(lq, focus=focus)
    if WHO_RE.match(lq) and not ref.matched:
        for label, rx in EMOTION_WORD_RE.items():
            if rx.search(lq):
                return compose.who_looks(label, scene, image)
        if TRANSCRIPT_RE.search(lq) and box.audio is not None:
            return compose.transcript(lq, box)
        return compose.identify_all(scene, image)
    intent = _person_intent(lq)
    if ref.matched:
        if intent is None and WHO_RE.match(lq):
            intent = "who"
        return _per_person(intent or "describe", scene, ref.face_ids, ref.notes, lq, image)
    if DESCRIBE_RE.search(lq):
        return _per_person("describe", scene, tuple(f.id for f in scene.faces), (), lq, image)
    if TRANSCRIPT_RE.search(lq):
        return compose.transcript(lq, box)
    if intent is not None and len(scene.faces) == 1:
        return _per_person(intent, scene, (1,), (), lq, image)
    if intent is not None:
        return PlannerReply(compose.which_person(scene), (), "ask_referent", image)
    return PlannerReply(prompts.render("planner", "beyond_scope"), (), "beyond", image)


def _person_intent(lq: str) -> str | None:
    if AGE_Q_RE.search(lq):
        return "age"
    if CLOTHING_Q_RE.search(lq):
        return "clothing"
    if WHERE_RE.match(lq):
        return "where"
    if EMOTION_Q_RE.search(lq) or any(rx.search(lq) for rx in EMOTION_WORD_RE.values()):
        return "emotion"
    if WHO_RE.match(lq):
        return "who"
    if DESCRIBE_RE.search(lq):
        return "describe"
    return None


def _per_person(intent: str, scene: SceneAnalysis, ids: tuple[int, ...], notes: tuple[str, ...], lq: str, image: str) -> PlannerReply:
    if not ids:
        return PlannerReply(compose.nobody(lq, scene, notes), (), intent, image, notes)
    faces = [scene.face(i) for i in ids]
    asked = next((label for label, rx in EMOTION_WORD_RE.items() if rx.search(lq)), None)
    if intent == "emotion" and asked and re.match(r"^\s*(?:is|are|does|do|was)\b", lq):
        return PlannerReply(compose.emotion_yes_no(asked, faces), ids, intent, image, notes)
    text = compose.per_person(intent, faces)
    if notes:
        text += " (Note: " + "; ".join(notes) + ".)"
    return PlannerReply(text, ids, intent, image, notes)


def _presence_name(q: str, box: ToolBox) -> str | None:
    m = PRESENCE_RE.search(q)
    if not m:
        return None
    name = (m.group("a") or m.group("b") or "").strip()
    if not name or name.lower() in NOT_NAMES or name.lower().split()[0] in NOT_NAMES:
        return None
    known = {n.lower(): n for n in box.known_names()}
    if name.lower() in known:
        return known[name.lower()]
    # only capitalised words are taken for names the gallery does not know ("is Alice here?")
    return name if name[0].isupper() and name.lower() not in COLOUR_WORDS else None


def _compare(lq: str, box: ToolBox, scene: SceneAnalysis, focus: tuple[int, ...], image: str) -> PlannerReply:
    if IS_ONE_RE.match(lq):
        rest = IS_ONE_RE.sub("the one", lq, count=1)
        ref = box.find_people(rest)
        if not focus:
            return PlannerReply(compose.which_person(scene), (), "ask_referent", image)
        return PlannerReply(compose.is_same_referent(scene, focus, ref.face_ids if ref.matched else None), focus, "check", image)
    two = re.search(r"\b(?:two|2)\b.*\b(left|right)\b", lq)
    if two and len(scene.faces) >= 2:
        pair = (1, 2) if two.group(1) == "left" else (len(scene.faces) - 1, len(scene.faces))
        return _run_compare(box, scene, list(pair), image)
    ids: list[int] = [int(k) for k in re.findall(r"(?:\bfaces?|\bperson|#|\band|,)\s*(?:number\s*|#)?(\d{1,3})\b", lq)]
    if len(ids) < 2:
        ids = []
        for part in re.split(r"\b(?:and|as|with|versus|vs\.?|to|like)\b", lq):
            ref = resolve(part, scene, focus=focus, known_names=box.known_names())
            if ref is not None and len(ref.face_ids) == 1:
                ids.append(ref.face_ids[0])
        if len(ids) == 1 and focus and focus[0] != ids[0]:
            ids.insert(0, focus[0])
    if len(ids) < 2 and len(scene.faces) == 2:
        ids = [1, 2]
    ids = list(dict.fromkeys(ids))
    if len(ids) < 2:
        return PlannerReply(compose.which_person(scene, two=True), (), "compare", image)
    return _run_compare(box, scene, ids, image)


def _run_compare(box: ToolBox, scene: SceneAnalysis, ids: list[int], image: str) -> PlannerReply:
    try:
        result = box.compare_faces(ids[0], ids[1])
    except FacelensError as exc:
        return PlannerReply(f"I couldn't compare them: {exc}", (), "compare", image)
    return PlannerReply(compose.comparison(scene, result), (ids[0], ids[1]), "compare", image)

