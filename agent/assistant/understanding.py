"""Offline language understanding for the planner: question -> intent + slots, no LLM.

Two steps, each doing what it is good at:

1. **Exact rules** normalise the text (casual spellings like "ppl", "r", "pic"; typos corrected
   towards the domain's words) and extract the slots: the person (position, ordinal, clothing
   colour, name, face number, pronoun, via :mod:`facelens.agent.assistant.referring`), emotions in everyday
   words ("grossed out", "mad", "all smiles"), superlatives, colours, gender, children, names,
   yes/no form, and the parts of a compound question.
2. **Intent classification** by nearest exemplars: the question (with its slot words replaced by
   canonical ones) is embedded with all-MiniLM-L6-v2 (:mod:`facelens.tools.sentence_embed`) and
   compared with the example phrasings of each intent in ``prompts/nlu_exemplars.yaml``. Without the
   model a character n-gram embedding is used (less robust, said in ``Understanding.encoder``).
   Exact rules then overrule the classifier where they are exact (JSON, two face numbers compared,
   race, a name from the gallery) and check that the intent has the slots it needs.

Below a confidence threshold the planner says what it understood and asks, instead of guessing.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from facelens.agent.assistant.intent_classifier import classify, encoder
from facelens.agent.assistant.lexicon import CASUAL, DOMAIN_WORDS, EMOTION_PHRASES, phrase_regex
from facelens.agent.assistant.nlu_patterns import (
    ANY_EMOTION,
    CANON_EMOTION,
    CANON_SUPERLATIVE,
    COLOUR_ALTERNATION,
    EMOJI,
    EMOTION_RES,
    ENGLISH,
    MAX_CHARS,
    NAME_PATTERNS,
    NOT_LOWER_NAMES,
    NOT_NAMES,
    RE,
    SUPERLATIVE_RES,
    THRESHOLD,
)
from facelens.agent.assistant.nlu_yes_no import asks_name_of, comparison_slots, yes_no_rule, yes_no_slots
from facelens.agent.assistant.referring import COLOUR_WORDS
from facelens.tools.names import mentioned


@dataclass(frozen=True)
class Understanding:
    """What the planner understood of one question (or of each part of a compound question)."""

    text: str  # the normalised question
    intent: str  # count, superlative, anyone, who_looks, presence, identify, emotion, age, gender, clothing, where,
    #              describe, json, compare, transcript, race, beyond, compound, unsure; or a problem: empty, too_long, language
    confidence: float  # similarity of the nearest exemplar (1.0 for an exact rule)
    slots: dict[str, Any] = field(default_factory=dict)
    parts: tuple[Understanding, ...] = ()  # the parts of a compound question
    alternatives: tuple[tuple[str, float], ...] = ()  # the next intents and their scores
    encoder: str = "minilm"

    @property
    def yes_no(self) -> bool:
        return bool(self.slots.get("yesno"))


# --- normalisation -----------------------------------------------------------------------------


def clean(question: str) -> tuple[str, str | None]:
    """Whitespace, quotes and emoji tidied; returns (text, problem) where problem is empty/too_long/language."""
    q = (
        unicodedata.normalize("NFC", str(question or ""))
        .replace("’", "'")
        .replace("‘", "'")
        .replace("“", '"')
        .replace("”", '"')
    )
    q = " ".join(q.split())
    if not q:
        return "", "empty"
    if len(q) > MAX_CHARS:
        return q[:MAX_CHARS], "too_long"
    for label, chars in EMOJI.items():
        word = " " + CANON_EMOTION[label] + " "
        for c in chars:
            q = q.replace(c, word)
    q = "".join(c if (c.isalnum() or c.isspace() or c in "?!.,;:'\"#-/&()=") else " " for c in q)
    q = " ".join(q.split())
    letters = [c for c in q if c.isalpha()]
    if not letters:
        return "", "empty"
    if sum(1 for c in letters if not c.isascii()) > 0.3 * len(letters):
        return q, "language"
    return q, None


def foreign(t: str) -> bool:
    """True when a normalised question of 3+ words has not one English word ("wie viele Leute sind auf dem Bild")."""
    words = re.findall(r"[a-z]+", t)
    return len(words) >= 3 and not any(w in ENGLISH or w in DOMAIN_WORDS or w in CASUAL for w in words)


@lru_cache(maxsize=1)
def _vocab() -> frozenset[str]:
    from facelens.tools import sentence_embed

    folder = sentence_embed.model_dir()
    words: set[str] = set()
    if folder is not None and (folder / "vocab.txt").is_file():
        words = {w for w in (folder / "vocab.txt").read_text(encoding="utf-8").split() if w.isalpha()}
    return frozenset(words | set(DOMAIN_WORDS))


def normalise(q: str, names: set[str] | frozenset[str] = frozenset()) -> str:
    """Lower-case, casual forms spelled out, typos corrected towards the domain's words; names kept."""
    keep = {n.lower() for n in names}
    out = []
    vocab = _vocab()
    for tok in re.findall(r"[\w'#./-]+|[?!,;:=&]", q):
        low = tok.lower().strip(".")
        if low in keep or (tok[:1].isupper() and out and low not in vocab):
            out.append(low)
            continue
        if low in CASUAL:
            out.append(CASUAL[low])
            continue
        if low.endswith("'s") and low[:-2] in CASUAL:
            out.append(CASUAL[low[:-2]] + "'s")
            continue
        if low.isalpha() and len(low) >= 4 and low not in vocab:
            close = difflib.get_close_matches(low, DOMAIN_WORDS, n=1, cutoff=0.8)
            low = close[0] if close else low
        out.append(low)
    text = " ".join(out)
    text = re.sub(r"\bno\.?\s+(?=\d)", "number ", text)
    text = re.sub(r"\s+([?!,;:])", r"\1", text)
    stripped = RE.filler.sub("", text)
    return stripped if re.search(r"[a-z]", stripped) else text


def split_parts(text: str) -> list[str]:
    """The parts of a compound question ("who is happiest and how old is she" -> two parts)."""
    parts = [p.strip(" ,.?!-") for p in RE.split.split(text)]
    return [p for p in parts if p and re.search(r"[a-z]", p)]


# --- slots ---------------------------------------------------------------------------------------


def extract_slots(t: str, names: set[str] | frozenset[str] = frozenset()) -> dict[str, Any]:
    """Slots of a normalised (lower-case) question, without the person (see :func:`resolve_person`)."""
    slots: dict[str, Any] = {}
    rest = t
    for key, rx in SUPERLATIVE_RES.items():
        m = rx.search(rest)
        if m:
            slots["superlative"] = key
            rest = rest[: m.start()] + " " + rest[m.end() :]
            break
    colour = None
    m = RE.colour_ctx.search(rest)
    if m:
        colour = COLOUR_WORDS[m.group(1) or m.group(2)]
    elif (b := RE.bare_colour.search(rest)) and not (b.group(1) == "blue" and RE.blue_mood.search(rest)):
        colour = COLOUR_WORDS[b.group(1)]
    if colour:
        slots["colour"] = colour
    mood_rest = RE.bare_colour.sub(" ", rest) if colour or not RE.blue_mood.search(rest) else rest
    mood_rest = re.sub(r"\bdown\s+(?=the|from|to|there|here)\b", " ", mood_rest)
    found = []
    for m in re.finditer(ANY_EMOTION, mood_rest):
        label = next(lb for lb, rx in EMOTION_RES.items() if rx.fullmatch(m.group(0)))
        found.append(label)
    if found:
        slots["emotion"] = found[0]
        if len(set(found)) > 1:
            slots["emotions"] = tuple(dict.fromkeys(found))
    if RE.child.search(t):
        slots["child"] = True
    no_pron = re.sub(r"\b(?:she|he)\b", " ", t)
    if RE.female.search(no_pron) and not RE.male.search(no_pron):
        slots["gender"] = "female"
    elif RE.male.search(no_pron) and not RE.female.search(no_pron):
        slots["gender"] = "male"
    for name in mentioned(names, t)[:1]:
        slots["name"] = name
    nums = [int(a or b) for a, b in RE.face_num.findall(t)]
    if nums:
        slots["faces"] = tuple(dict.fromkeys(nums))
    if RE.pronoun.search(t):
        slots["pronoun"] = True
    comparison_slots(t, slots)  # "are there more than 3 people?", "is anyone over 40?"
    if re.search(
        r"\b(?:anyone|anybody|someone|somebody|any|at least one|is there|are there|one of them|some of them|any of|^(?:are|were) (?:people|folks)|"
        r"nobody|no one|noone|none of (?:them|these|those|the|us)|(?:see|spot|notice|find) (?:a|an|some)|there (?:a|an|some))\b",
        t,
    ):
        slots["quantifier"] = "any"
    elif re.search(
        r"\b(?:everyone|everybody|all of them|all|each of them|each of these|each of those|every person|each person|every one of them|each one|"
        r"(?:every|each) (?:kid|child|woman|man|girl|boy|adult|grown-?up|lady|guy|teen|teenager)|"
        r"(?:each|every(?: single)? one|each and every one|all) of (?:the|these|those) \w+)\b",
        t,
    ):
        slots["quantifier"] = "all"
    alt = RE.alternative.search(t) and " or not" not in t
    if (
        (RE.aux.match(t) or RE.tag.search(t))
        and not alt
        and not re.match(
            r"^(?:can|could|would|will) (?:you|u) (?:tell(?! (?:me )?(?:if|whether)\b)|count|describe|identify|name|give|list|show)\b",
            t,
        )
    ):
        slots["yesno"] = True
    elif not RE.wh.search(t) and not alt and t.endswith("?") and ("emotion" in slots or "name" in slots):
        slots["yesno"] = True  # "the one in red happy?", "Alice here?"
    if slots.get("yesno") and not re.match(r"(?:who|what|which|where|how|when|why|whose)\b", t):
        yes_no_slots(t, slots)
    return slots


def presence_name(original: str, t: str, names: set[str] | frozenset[str]) -> str | None:
    """The name asked about in a presence question, enrolled or not (None when there is none)."""
    for name in mentioned(names, t)[:1]:
        return name
    for rx in NAME_PATTERNS:
        m = rx.search(t.strip(" ?.!"))
        if m and m.group(1) not in NOT_NAMES and not re.fullmatch(ANY_EMOTION + "|" + COLOUR_ALTERNATION, m.group(1)):
            word = m.group(1)
            caps = re.search(rf"\b({re.escape(word)})\b", original, re.I)
            return caps.group(1) if caps and caps.group(1)[:1].isupper() else word.capitalize()
    return None


def canonical(t: str, slots: dict[str, Any]) -> str:
    """The question with slot words replaced by canonical ones (what the classifier sees)."""
    out = t
    if "superlative" in slots:
        out = SUPERLATIVE_RES[slots["superlative"]].sub(CANON_SUPERLATIVE[slots["superlative"]], out)
    for label, rx in EMOTION_RES.items():
        if label == "sad" and "colour" in slots:
            out = re.sub(phrase_regex([p for p in EMOTION_PHRASES["sad"] if p != "blue"]), "sad", out)
            continue
        out = rx.sub(CANON_EMOTION[label], out)
    if slots.get("name"):
        out = re.sub(rf"\b{re.escape(slots['name'].lower())}\b", "alice", out)
    elif slots.get("candidate_name"):
        out = re.sub(rf"\b{re.escape(slots['candidate_name'].lower())}\b", "alice", out)
    # the person referred to does not change what is asked: mask it the same way as in the exemplars
    out = re.sub(
        r"(?:\b(?:the )?(?:faces?|person|number(?:ed)?)|#)\s*(?:number(?:ed)?\s*|#\s*)?\d{1,3}\b", " the person ", out
    )
    if "colour" in slots:
        out = RE.colour_ref.sub(" ", out)
    out = RE.ref_np.sub("the person", " ".join(out.split()))
    out = RE.position_words.sub(" ", out)
    out = re.sub(
        r"\b(?:the|of|about)\s*(?=$|\?|please\b|pls\b|look\b|wearing\b|feeling\b|standing\b)",
        lambda m: " the person " if m.group(0).strip() == "the" else m.group(0).rstrip() + " the person ",
        out,
    )
    return " ".join(out.split())


def exemplar_form(phrasing: str) -> str:
    """An example phrasing of ``prompts/nlu_exemplars.yaml`` in the form the classifier compares (handed to it)."""
    return canonical(phrasing, extract_slots(phrasing, frozenset({"alice"})))


#: a part that is a question of its own (has a verb or a question word); otherwise it only names someone
BARE_REF_RE = re.compile(
    r".*\b(?:is|are|was|were|am|does|do|did|can|could|would|will|has|have|look|looks|looking|seem|seems|"
    r"how|what|who|whom|which|where|why|when|tell|describe|show|give|count|find|name|list|identify|compare)\b.*"
)


# --- putting it together ------------------------------------------------------------------------

#: "the angry one" describes by the emotion asked about; it is no cue to one particular person
EMO_ONE_RE = re.compile(rf"\bthe\s+(?:{ANY_EMOTION})\s+(?:one|ones|person|people|face|faces)\b")
ABOUT_ME_RE = re.compile(r"\b(?:your|yourself|you like|are you|do you like|you feel)\b")
FAR = 0.30  # nearest-exemplar similarity below which a question with no slot is taken as out of scope
PERSON_INTENTS = ("emotion", "age", "gender", "clothing", "where", "describe", "identify")


def understand(question: str, names: set[str] | frozenset[str] = frozenset()) -> Understanding:
    """Intent and slots of ``question`` (``names``: the enrolled names, matched exactly)."""
    q, problem = clean(question)
    if problem:
        return Understanding(q, problem, 1.0, encoder=encoder())
    t = normalise(q, names)
    if foreign(q.lower()):
        return Understanding(q, "language", 1.0, encoder=encoder())
    tail = RE.who_tail.search(t)
    if tail and tail.start() > 0 and RE.aux.match(t):  # "is anyone sad, and who is it?": the yes/no answer names who
        first = _one(t[: tail.start()].strip(" ,"), q, names)
        if first.intent == "anyone":
            return first
    parts = split_parts(t)
    if len(parts) == 2 and BARE_REF_RE.fullmatch(parts[0]) is None and RE.pronoun.search(parts[1]):
        # "the one on the left, how are they feeling": the first part only names the person the second asks about
        return _one(t.strip(" ,"), q, names)
    if len(parts) > 1:
        subs = tuple(_one(p, q, names) for p in parts)
        known = [s for s in subs if s.intent not in ("unsure", "beyond")]
        if len(known) < len(subs) and len({s.intent for s in known}) == 1:
            # "what's up with her, how does she feel": one real question, asked with a filler
            whole = _one(t.strip(" ,"), q, names)
            if whole.intent not in ("unsure", "beyond"):
                return whole
            return Understanding(
                t,
                known[0].intent,
                known[0].confidence,
                dict(known[0].slots) | extract_slots(t, names),
                encoder=encoder(),
            )
        if len({s.intent for s in subs}) > 1:
            merged: dict[str, Any] = {}
            for sub in reversed(subs):  # the first part's slots win
                merged.update(sub.slots)
            return Understanding(t, "compound", min(s.confidence for s in subs), merged, subs, encoder=encoder())
    return _one(t.strip(" ,"), q, names)


def _one(t: str, original: str, names: set[str] | frozenset[str]) -> Understanding:
    slots = extract_slots(t, names)
    ref_emo = EMO_ONE_RE.search(t)
    if ref_emo and len(slots.get("emotions", ())) > 1 and not re.match(r"^(?:who|which|whom)\b", t):
        # "is the sad one scared?": sad picks the person, scared is asked
        ref_label = next(lb for lb, rx in EMOTION_RES.items() if rx.search(ref_emo.group(0)))
        rest = [e for e in slots["emotions"] if e != ref_label]
        if rest:
            slots["emotion"] = rest[0]
            slots.pop("emotions") if len(rest) == 1 else slots.update(emotions=tuple(rest))
    enc = encoder()
    if RE.race.search(t) or (RE.race_bw.search(t) and not RE.clothing_bw.search(t)):
        return Understanding(t, "race", 1.0, slots, encoder=enc)
    if RE.json.search(t):
        return Understanding(t, "json", 1.0, slots, encoder=enc)
    if len(slots.get("faces", ())) >= 2 and RE.same.search(t):
        return Understanding(t, "compare", 1.0, slots, encoder=enc)
    if "name" not in slots:
        cand = presence_name(original, t, names)
        if cand and (
            cand[:1].isupper()
            and re.search(rf"\b{re.escape(cand)}\b", original)
            or cand.lower() not in _vocab()
            or (
                RE.presence_q.search(t)
                and cand.lower() not in ENGLISH | NOT_NAMES | set(DOMAIN_WORDS) | set(CASUAL) | NOT_LOWER_NAMES
            )
        ):
            slots["candidate_name"] = (
                cand  # "is marcus in it": a name written in lower case, asked where names are asked
            )
    if (
        slots.get("name") and slots.get("yesno") and asks_name_of(t, slots["name"])
    ):  # "would the guy in green be Emeka?"
        slots["name_of_person"] = True
    elif "name" not in slots and slots.get("yesno") and (m := RE.name_of_person.match(t)):  # "is face 1 Zoe?"
        caps = re.search(rf"\b({re.escape(m.group(1))})\b", original, re.I)
        if (
            caps
            and caps.group(1)[:1].isupper()
            and m.group(1) not in NOT_NAMES | ENGLISH
            and not re.fullmatch(
                f"{ANY_EMOTION}|{COLOUR_ALTERNATION}|{RE.female.pattern}|{RE.male.pattern}", m.group(1)
            )
        ):
            slots.update(candidate_name=caps.group(1), name_of_person=True)
    cue_text = re.sub(r"\bin (?:this|that) one\b", " ", RE.tag.sub("", t))  # "in this one": the photo
    if re.match(r"^(?:who|which|whom)\b", t):  # "who's the furious one": asks who, by the emotion
        cue_text = EMO_ONE_RE.sub(" ", cue_text)
    if RE.person_cue.search(cue_text) or slots.get("name") or ("colour" in slots and not RE.count.search(t)):
        slots["person_cue"] = True
    ranked = classify(canonical(t, slots), exemplar_form)
    intent, conf = ranked[0]
    ruled = _rules(t, slots, ranked)
    if ruled:
        if ruled == "presence" or slots.get("name_of_person"):
            slots["name"] = slots.get("name") or slots.get("candidate_name")
        clean_slots = {k: v for k, v in slots.items() if k != "candidate_name"}
        return Understanding(
            t, ruled, 1.0, clean_slots, alternatives=tuple((a, round(s_, 4)) for a, s_ in ranked[:4]), encoder=enc
        )
    intent = _reconcile(ranked, slots, t, original, names)
    if intent == "presence":
        name = presence_name(original, t, names)
        if name:
            slots["name"] = name
    if (
        conf < FAR
        or ABOUT_ME_RE.search(t)
        and intent in ("clothing", "describe", "emotion", "age", "gender", "identify", "where")
    ) and not any(
        k in slots for k in ("person_cue", "emotion", "superlative", "colour", "name", "child", "faces", "gender")
    ):
        intent = (
            "beyond"  # like nothing this planner answers, and about no one in the photo ("who painted the mona lisa")
        )
    elif conf < THRESHOLD and intent == ranked[0][0] and intent not in ("beyond",):
        intent = "unsure" if intent != "transcript" or not RE.transcript.search(t) else intent
    slots.pop("candidate_name", None), slots.pop("name_of_person", None)
    return Understanding(
        t, intent, round(conf, 4), slots, alternatives=tuple((a, round(s, 4)) for a, s in ranked[:4]), encoder=enc
    )


def _rules(t: str, s: dict[str, Any], ranked: list[tuple[str, float]] | None = None) -> str | None:
    """Exact rules: cues that decide the question family on their own."""
    cue = s.get("person_cue")
    anyq = s.get("quantifier") == "any" or re.match(r"^any\b", t)
    if (ruled := yes_no_rule(t, s, bool(cue), bool(anyq))) is not None:
        return ruled
    if RE.count.search(t) and not (
        ranked and ranked[0][0] == "beyond" and ranked[0][1] > dict(ranked).get("count", 0) + 0.05
    ):
        return "count"  # unless it is clearly about something else ("how many legs does a spider have")
    if "superlative" in s and not RE.age_q.search(t.replace("oldest", "")) and not RE.where_q.search(t):
        return "superlative"
    name = s.get("name") or s.get("candidate_name")
    if name and re.fullmatch(rf"{re.escape(name.lower())}\s*[?!.]*", t):
        return "presence"  # just a name: "Alice?"
    if (
        name
        and RE.presence_q.search(t)
        and not (
            s.get("emotion")
            or RE.age_q.search(t)
            or RE.where_q.search(t)
            or RE.clothing_q.search(t)
            or RE.gender_q.search(t)
        )
    ):
        return "presence"
    if s.get("yesno") and s.get("emotion") and "emotions" not in s:
        if s.get("quantifier") == "all" and not cue:
            return "anyone"  # "does everyone look happy?"
        return (
            "anyone"
            if anyq and not (cue and not re.search(r"\b(?:anyone|anybody|someone|somebody|nobody|no one|noone)\b", t))
            else "emotion"
        )
    if s.get("child") and (anyq or s.get("yesno")):
        return "anyone"
    if RE.gender_q.search(t) and (cue or s.get("name")):
        return "gender"
    if RE.age_q.search(t):
        return "age"
    if RE.clothing_q.search(t) and not (re.match(r"^(?:who|which)\b", t) and "colour" in s):
        return "clothing"
    if RE.where_q.search(t):
        return "where"
    if re.match(r"^(?:who|which)\b", t) and s.get("emotion") and not cue:
        return "who_looks"
    if RE.emotion_q.search(t) and (cue or s.get("name")) and not re.match(r"^(?:who|which)\b", t):
        return "emotion"
    if re.match(r"^(?:who is|who are|whos|who)\b", t) and cue and not s.get("emotion"):
        return "identify"
    return None


def _reconcile(
    ranked: list[tuple[str, float]], slots: dict[str, Any], t: str, original: str, names: set[str] | frozenset[str]
) -> str:
    """The best-ranked intent whose needs the slots meet, with exact rules applied."""
    attribute = any(k in slots for k in ("emotion", "child", "gender", "colour"))
    wh_start = re.match(r"^(?:who|which|whom)\b", t)
    for intent, _score in ranked:
        if intent == "transcript" and not RE.transcript.search(t):
            continue
        if intent == "superlative" and "superlative" not in slots:
            continue
        if intent in ("anyone", "who_looks") and not attribute:
            continue
        if intent == "presence" and (
            not presence_name(original, t, names) or not (slots.get("yesno") or RE.presence_q.search(t))
        ):
            continue
        if intent == "race":
            continue  # race is only ever an exact rule
        if intent == "identify" and not (slots.get("person_cue") or RE.who_all.search(t)):
            continue  # "who painted the mona lisa" is not about this photo
        if intent == "compare" and not (RE.same.search(t) or re.search(r"\blook(?:s)? like\b", t)):
            continue
        if "superlative" in slots and intent in ("who_looks", "anyone", "identify", "emotion", "describe", "count"):
            return "superlative"
        if intent in ("anyone", "who_looks"):
            if not wh_start and slots.get("person_cue") and "emotion" in slots and not slots.get("quantifier"):
                return "emotion"  # "the rightmost one looks pretty calm": about that person, never about whoever looks calm
            if wh_start or not (slots.get("yesno") or slots.get("quantifier") == "any" or re.match(r"^any\b", t)):
                return "who_looks" if "emotion" in slots or wh_start else "count"
            return "anyone"
        if intent == "emotion" and slots.get("yesno") and slots.get("quantifier") == "any" and "emotion" in slots:
            return "anyone"
        if intent == "count":  # a count needs "how many" (an exact rule, above)
            if slots.get("quantifier") == "any" and attribute:
                return "anyone"
            continue
        return intent
    return ranked[0][0]
