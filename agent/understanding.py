"""Offline language understanding for the planner: question -> intent + slots, no LLM.

Two steps, each doing what it is good at:

1. **Exact rules** normalise the text (casual spellings like "ppl", "r", "pic"; typos corrected
   towards the domain's words) and extract the slots: the person (position, ordinal, clothing
   colour, name, face number, pronoun, via :mod:`facelens.agent.referring`), emotions in everyday
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
import hashlib
import logging
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import yaml

from facelens.agent.lexicon import (
    CASUAL, CHILD_WORDS, DOMAIN_WORDS, EMOTION_PHRASES, FEMALE_WORDS, MALE_WORDS, SUPERLATIVE_PHRASES, phrase_regex,
)
from facelens.agent.referring import COLOUR_WORDS

log = logging.getLogger(__name__)

MAX_CHARS = 1000  # longer questions are refused with a clear reply
THRESHOLD = 0.50  # nearest-exemplar similarity below which the planner asks instead of answering
CANON_EMOTION = {"happy": "happy", "sad": "sad", "angry": "angry", "surprise": "surprised", "fear": "scared",
                 "disgust": "disgusted", "neutral": "calm"}
CANON_SUPERLATIVE = {"happy": "happiest", "sad": "saddest", "angry": "angriest", "surprise": "most surprised",
                     "fear": "most scared", "disgust": "most disgusted", "neutral": "calmest", "oldest": "oldest",
                     "youngest": "youngest"}
_EMO_RE = {label: re.compile(phrase_regex(p)) for label, p in EMOTION_PHRASES.items()}
_ALL_EMO = phrase_regex([p for ps in EMOTION_PHRASES.values() for p in ps])
_SUP_RE = {k: re.compile(phrase_regex(p) + "|" + rf"\b(?:the\s+)?(?:most|least)\s+(?:{phrase_regex(EMOTION_PHRASES[k])[5:-3]})\b"
                         if k in EMOTION_PHRASES else phrase_regex(p)) for k, p in SUPERLATIVE_PHRASES.items()}
_COLOUR = "|".join(sorted(COLOUR_WORDS, key=len, reverse=True))
GARMENT = r"(?:shirts?|t-?shirts?|tops?|jackets?|dress(?:es)?|sweaters?|jumpers?|clothes|clothing|hoodies?|coats?|blouses?|outfits?|suits?|on)"
COLOUR_CTX_RE = re.compile(rf"\b(?:in|wearing|wears|wear|dressed in|with|has|have|got|has on|have on)\s+(?:a |an |the |some )?(?:\w+ )?({_COLOUR})\b"
                           rf"|\b({_COLOUR})\s+{GARMENT}\b")
BARE_COLOUR_RE = re.compile(rf"\b({_COLOUR})\b")
BLUE_MOOD_RE = re.compile(r"\b(?:look(?:s|ing)?|feel(?:s|ing)?|seem(?:s|ing)?|someone|somebody|anyone|anybody|is|are|a bit)\s+blue\b(?!\s+" + GARMENT + ")")
CHILD_RE = re.compile(rf"\b(?:{CHILD_WORDS})\b")
FEMALE_RE = re.compile(rf"\b(?:{FEMALE_WORDS})\b")
MALE_RE = re.compile(rf"\b(?:{MALE_WORDS})\b")
PRONOUN_RE = re.compile(r"\b(?:she|her|he|him|his|they|them|their|that person|this person|that one|this one)\b")
AUX_RE = re.compile(r"^(?:is|are|was|were|does|do|did|can|could|would|will|has|have|any|anybody|anyone|someone|somebody|"
                    r"isn't|aren't|doesn't|don't|wasn't|didn't|tell me if|tell me whether)\b")
TAG_RE = re.compile(r"(?:,?\s*(?:right|correct|yes or no|or not|isn't it|aren't they|don't they|doesn't she|doesn't he))\s*\??$")
WH_RE = re.compile(r"\b(?:who|what|which|where|how|when|why|whose|tell|describe|list|show|give|name|count|identify|point)\b")
ALTERNATIVE_RE = re.compile(r"\b(?!yes\b)\w+ or (?:a |an )?(?!not\b|no\b)\w+\b")
JSON_RE = re.compile(r"\bjson\b")
SAME_RE = re.compile(r"\b(?:same|alike|twins?|compare|vs\.?|versus|identical|match(?:es)?|resembles?|look like each other|one and the same|one person|also)\b|=")
FACE_NUM_RE = re.compile(r"(?:\bfaces?|\bperson|\bpeople|\bnumber|#)\s*(?:number\s*|#\s*)?(\d{1,3})\b|\band\s+(\d{1,3})\b")
TRANSCRIPT_RE = re.compile(
    r"\b(?:transcript|transcribe|audio|recording|recorded|mention(?:ed|s)?|said|say|saying|says|spoken|spoke|speech|"
    r"talk(?:ed|s|ing)? about|words? (?:were|was)|words spoken)\b")
RACE_RE = re.compile(
    r"\b(race|races|racial|ethnic|ethnicity|ethnicities|ethnically|skin colou?r|skin tone|caucasian|asian|african|black people|"
    r"white people|hispanic|latino|latina|arab|indian|nationality|nationalities|what country .* from)\b"
    r"|\bwhere (?:is|are|was|were|do|does|did)\b.* (?:from|come from|originally from)(?: originally)?\s*\??$")
COUNT_RE = re.compile(r"\bhow many\b|\bcount\b|\bnumber of\b|\bheadcount\b|\btotal (?:people|number)\b|\b(?:people|person) count\b|^total people")
GENDER_Q_RE = re.compile(r"\b(?:gender|sex)\b|\b(?:male|man|guy|boy) or (?:a )?(?:female|woman|girl|lady)\b|\b(?:female|woman|girl|lady) or (?:a )?(?:male|man|guy|boy)\b"
                         r"|^(?:is|does|tell me if)\b.*\b(?:a )?(?:female|male|woman|man|girl|boy|lady|guy)\s*\??$")
AGE_Q_RE = re.compile(r"\bhow old\b|\bage\b|\bwhat age\b|\byears old\b|\bhow young\b")
CLOTHING_Q_RE = re.compile(r"\b(?:wearing|wear|wears|dressed in|clothes|clothing|got on|have on|has on|outfit)\s*\??$|\bwhat colou?r\b|\bcolou?r of\b"
                           r"|\bwhat (?:is|are|does) \S+(?: \S+){0,5} (?:wearing|wear|dressed in)\s+(?:today|now|here)?\s*\??$")
WHERE_Q_RE = re.compile(r"^where\b|\bwhich side\b|\blocate\b|\bposition of\b|\bwhere (?:is|are|in)\b")
EMOTION_Q_RE = re.compile(r"\b(?:emotion|emotions|emotionally|mood|feel|feels|feeling|feelings|expression|doing|vibes?|come across|comes across|seem|seems)\b")
PRESENCE_Q_RE = re.compile(r"\b(?:here|there|present|in (?:the|this|that) (?:picture|photo|image|shot|pic)|in it|anywhere|one of (?:them|these|those|the)|"
                           r"among|appear|appears|show up|sign of|make it|see|spot|find|around|visible|in this one)\b")
PERSON_CUE_RE = re.compile(r"\b(?:left|right|middle|centre|leftmost|rightmost|far|second|third|fourth|fifth|first|last|front|back|closest|"
                           r"nearest|biggest|largest|smallest|she|he|her|him|his|that person|this person|that one|this one)\b|\bthe \w+ one\b"
                           r"|(?:\bfaces?|\bperson|\bnumber|#)\s*\d")
REF_NOUN_RE = re.compile(r"\b(?:the|that|this)\s+((?:\w+\s+){0,2})(?:guy|man|woman|lady|girl|boy|dude|gentleman|bloke)\b")
POSITION_WORDS_RE = re.compile(r"\b(?:(?:the )?(?:far|very) (?:left|right)|left[- ]?most|right[- ]?most|(?:furthest|farthest|most) (?:to the )?(?:left|right)|"
                               r"(?:first|second|third|fourth|fifth|last)(?: \w+){0,2} (?:from|counting from) (?:the )?(?:left|right)|"
                               r"(?:on|at|to) the (?:left|right|end)|left|right|middle|centre|central)\b")
COLOUR_REF_RE = re.compile(rf"\b(?:in|wearing|dressed in|with|who has|who is in)\s+(?:a |an |the )?(?:{_COLOUR})(?:\s+{GARMENT})?\b|\b(?:{_COLOUR})\s+{GARMENT}\b")
REF_NP_RE = re.compile(r"\b(?:the|that|this)\s+(?:[\w-]+\s+){0,2}?(?:person|one|guy|man|woman|lady|girl|boy|dude|face|bloke|gentleman)\b"
                       r"(?:\s+(?:in|on|at|from|counting from)(?:\s+the)?(?:\s+(?:end|side))?\b)?")
WHO_ALL_RE = re.compile(r"\b(?:here|there|in (?:the|this|that|it)|photo|picture|image|pic|shot|these|they|them|people|anyone|anybody|everyone|"
                        r"everybody|recogni[sz]e|know|identify|names?|who is who)\b")
#: how a compound question splits: "who looks happiest and how old is she?"
SPLIT_RE = re.compile(r"\?+\s+(?=\S)|;\s*|,?\s+-?\s*\band\s+(?=(?:then\s+)?(?:who|what|how|which|where|is|are|does|do|can|tell|give|what's|their|her|his)\b)"
                      r"|,\s+(?=(?:and\s+)?(?:who|what|how|which|where|tell)\b)")
#: name-shaped words in a presence question ("is zoe here", "any sign of Marcus")
NAME_PATTERNS = [re.compile(p) for p in (
    r"^(?:is|was)\s+(\w[\w'.-]*)\s+(?:in|on|here|there|present|visible|anywhere|one of|among|with|at)\b",
    r"^(?:is|was)\s+(\w[\w'.-]*)\s*\??$",
    r"\b(?:see|spot|find|recogni[sz]e|locate|notice)\s+(\w[\w'.-]*)",
    r"^(\w[\w'.-]*)\s+(?:here|there|in the|in this|present|around|anywhere|in pic|in picture)\b",
    r"^(\w[\w'.-]*)\s*\??$",
    r"\bsign of\s+(\w[\w'.-]*)", r"^(?:does|did)\s+(\w[\w'.-]*)\s+(?:appear|show up|feature|make it)",
)]
NOT_NAMES = {"she", "he", "it", "this", "that", "there", "anyone", "someone", "everyone", "anybody", "somebody", "the", "a", "an",
             "they", "person", "face", "nobody", "her", "him", "any", "me", "them", "people", "everybody", "who", "what", "here",
             "you", "us", "one", "picture", "photo", "image", "somebody", "kids", "children", "a", "is", "are"}


@dataclass(frozen=True)
class Understanding:
    """What the planner understood of one question (or of each part of a compound question)."""

    text: str  # the normalised question
    intent: str  # count, superlative, anyone, who_looks, presence, identify, emotion, age, gender, clothing, where,
    #              describe, json, compare, transcript, race, beyond, compound, unsure; or a problem: empty, too_long, language
    confidence: float  # similarity of the nearest exemplar (1.0 for an exact rule)
    slots: dict[str, Any] = field(default_factory=dict)
    parts: tuple["Understanding", ...] = ()  # the parts of a compound question
    alternatives: tuple[tuple[str, float], ...] = ()  # the next intents and their scores
    encoder: str = "minilm"

    @property
    def yes_no(self) -> bool:
        return bool(self.slots.get("yesno"))


# --- normalisation -----------------------------------------------------------------------------

_EMOJI = {"happy": "😀😃😄😁😊🙂☺😆😍🥰😂🤣", "sad": "😢😭☹🙁😞😔😿", "angry": "😠😡🤬😤", "surprise": "😮😲😯😱",
          "fear": "😨😰", "disgust": "🤢🤮"}


def clean(question: str) -> tuple[str, str | None]:
    """Whitespace, quotes and emoji tidied; returns (text, problem) where problem is empty/too_long/language."""
    q = unicodedata.normalize("NFC", str(question or "")).replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    q = " ".join(q.split())
    if not q:
        return "", "empty"
    if len(q) > MAX_CHARS:
        return q[:MAX_CHARS], "too_long"
    for label, chars in _EMOJI.items():
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


ENGLISH = frozenset("""a an the is are was were be do does did can could would will shall should may might must have has had
i you he she it we they me him her us them my your his its our their this that these those who whom whose what which where
when why how and or but not no yes of in on at to for from with by about as into over under here there any some all every
each many much more most less least one two three there's what's who's how's let tell give show describe count look looks
see find people person face faces photo picture image pic please thanks hello hi hey ok okay""".split())


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
    for tok in re.findall(r"[\w'#./-]+|[?!,;:]", q):
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
    return text


def split_parts(text: str) -> list[str]:
    """The parts of a compound question ("who is happiest and how old is she" -> two parts)."""
    parts = [p.strip(" ,.?!-") for p in SPLIT_RE.split(text)]
    return [p for p in parts if p and re.search(r"[a-z]", p)]


# --- slots ---------------------------------------------------------------------------------------

def extract_slots(t: str, names: set[str] | frozenset[str] = frozenset()) -> dict[str, Any]:
    """Slots of a normalised (lower-case) question, without the person (see :func:`resolve_person`)."""
    slots: dict[str, Any] = {}
    rest = t
    for key, rx in _SUP_RE.items():
        m = rx.search(rest)
        if m:
            slots["superlative"] = key
            rest = rest[:m.start()] + " " + rest[m.end():]
            break
    colour = None
    m = COLOUR_CTX_RE.search(rest)
    if m:
        colour = COLOUR_WORDS[m.group(1) or m.group(2)]
    elif (b := BARE_COLOUR_RE.search(rest)) and not (b.group(1) == "blue" and BLUE_MOOD_RE.search(rest)):
        colour = COLOUR_WORDS[b.group(1)]
    if colour:
        slots["colour"] = colour
    mood_rest = BARE_COLOUR_RE.sub(" ", rest) if colour or not BLUE_MOOD_RE.search(rest) else rest
    mood_rest = re.sub(r"\bdown\s+(?=the|from|to|there|here)\b", " ", mood_rest)
    found = []
    for m in re.finditer(_ALL_EMO, mood_rest):
        label = next(lb for lb, rx in _EMO_RE.items() if rx.fullmatch(m.group(0)))
        found.append(label)
    if found:
        slots["emotion"] = found[0]
        if len(set(found)) > 1:
            slots["emotions"] = tuple(dict.fromkeys(found))
    if CHILD_RE.search(t):
        slots["child"] = True
    no_pron = re.sub(r"\b(?:she|he)\b", " ", t)
    if FEMALE_RE.search(no_pron) and not MALE_RE.search(no_pron):
        slots["gender"] = "female"
    elif MALE_RE.search(no_pron) and not FEMALE_RE.search(no_pron):
        slots["gender"] = "male"
    for name in sorted(names, key=len, reverse=True):
        if re.search(rf"\b{re.escape(name.lower())}\b", t):
            slots["name"] = name
            break
    nums = [int(a or b) for a, b in FACE_NUM_RE.findall(t)]
    if nums:
        slots["faces"] = tuple(dict.fromkeys(nums))
    if PRONOUN_RE.search(t):
        slots["pronoun"] = True
    if re.search(r"\b(?:anyone|anybody|someone|somebody|any|at least one|is there|are there|one of them|some of them|any of)\b", t):
        slots["quantifier"] = "any"
    elif re.search(r"\b(?:everyone|everybody|all of them|all)\b", t):
        slots["quantifier"] = "all"
    alt = ALTERNATIVE_RE.search(t) and " or not" not in t
    if (AUX_RE.match(t) or TAG_RE.search(t)) and not alt and not re.match(r"^(?:can|could|would|will) (?:you|u) (?:tell|count|describe|identify|name|give|list|show)\b", t):
        slots["yesno"] = True
    elif not WH_RE.search(t) and not alt and t.endswith("?") and ("emotion" in slots or "name" in slots):
        slots["yesno"] = True  # "the one in red happy?", "Alice here?"
    return slots


def presence_name(original: str, t: str, names: set[str] | frozenset[str]) -> str | None:
    """The name asked about in a presence question, enrolled or not (None when there is none)."""
    for name in sorted(names, key=len, reverse=True):
        if re.search(rf"\b{re.escape(name.lower())}\b", t):
            return name
    for rx in NAME_PATTERNS:
        m = rx.search(t.strip(" ?.!"))
        if m and m.group(1) not in NOT_NAMES and not re.fullmatch(_ALL_EMO + "|" + _COLOUR, m.group(1)):
            word = m.group(1)
            caps = re.search(rf"\b({re.escape(word)})\b", original, re.I)
            return caps.group(1) if caps and caps.group(1)[:1].isupper() else word.capitalize()
    return None


def canonical(t: str, slots: dict[str, Any]) -> str:
    """The question with slot words replaced by canonical ones (what the classifier sees)."""
    out = t
    if "superlative" in slots:
        out = _SUP_RE[slots["superlative"]].sub(CANON_SUPERLATIVE[slots["superlative"]], out)
    for label, rx in _EMO_RE.items():
        if label == "sad" and "colour" in slots:
            out = re.sub(phrase_regex([p for p in EMOTION_PHRASES["sad"] if p != "blue"]), "sad", out)
            continue
        out = rx.sub(CANON_EMOTION[label], out)
    if slots.get("name"):
        out = re.sub(rf"\b{re.escape(slots['name'].lower())}\b", "alice", out)
    elif slots.get("candidate_name"):
        out = re.sub(rf"\b{re.escape(slots['candidate_name'].lower())}\b", "alice", out)
    # the person referred to does not change what is asked: mask it the same way as in the exemplars
    out = re.sub(r"(?:\bfaces?|\bperson|\bnumber|#)\s*(?:number\s*|#\s*)?\d{1,3}\b", " the person ", out)
    if "colour" in slots:
        out = COLOUR_REF_RE.sub(" ", out)
    out = REF_NP_RE.sub("the person", " ".join(out.split()))
    out = POSITION_WORDS_RE.sub(" ", out)
    out = re.sub(r"\b(?:the|of|about)\s*(?=$|\?|please\b|pls\b|look\b|wearing\b|feeling\b|standing\b)", lambda m: " the person " if m.group(0).strip() == "the" else m.group(0).rstrip() + " the person ", out)
    return " ".join(out.split())


# --- intent classification --------------------------------------------------------------------

@lru_cache(maxsize=1)
def exemplars() -> tuple[tuple[str, ...], tuple[str, ...]]:
    data = yaml.safe_load(resources.files("facelens.prompts").joinpath("nlu_exemplars.yaml").read_text(encoding="utf-8"))
    texts, labels = [], []
    for intent, phrases in data["intents"].items():
        for p in phrases:
            t = str(p).lower()
            texts.append(canonical(t, extract_slots(t, frozenset({"alice"}))))
            labels.append(intent)
    return tuple(texts), tuple(labels)


def _ngram_embed(texts: list[str]) -> np.ndarray:
    """Hashed character 3-gram bags, L2-normalised: the fallback when MiniLM is not installed."""
    out = np.zeros((len(texts), 4096), dtype=np.float32)
    for i, t in enumerate(texts):
        s = f"  {t}  "
        for j in range(len(s) - 2):
            out[i, int(hashlib.md5(s[j:j + 3].encode()).hexdigest()[:6], 16) % 4096] += 1.0
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


@lru_cache(maxsize=1)
def encoder() -> str:
    from facelens.tools import sentence_embed

    if os.environ.get("FACELENS_NLU_ENCODER") == "ngram" or not sentence_embed.available():
        return "ngram"
    return "minilm"


def embed(texts: list[str]) -> np.ndarray:
    if encoder() == "ngram":
        return _ngram_embed(texts)
    from facelens.tools import sentence_embed

    return sentence_embed.embed(texts)


@lru_cache(maxsize=2)
def exemplar_matrix(kind: str) -> np.ndarray:
    """Embeddings of the exemplars, cached under FACELENS_HOME/models (written atomically)."""
    texts, _ = exemplars()
    key = hashlib.sha256(("\n".join(texts) + kind).encode()).hexdigest()[:16]
    path = None
    try:
        from facelens.tools.config import subdir

        path = subdir("models") / f"nlu-exemplars-{kind}-{key}.npy"
        if path.is_file():
            mat = np.load(path)
            if mat.shape[0] == len(texts):
                return mat
    except Exception as exc:  # an unreadable cache is recomputed  # noqa: BLE001
        log.debug("exemplar cache unavailable: %s", exc)
    mat = embed(list(texts))
    if path is not None:
        try:
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npy.tmp")
            with os.fdopen(fd, "wb") as fh:
                np.save(fh, mat)
            os.replace(tmp, path)  # atomic: never a half-written cache
        except OSError as exc:
            log.debug("could not cache exemplar embeddings: %s", exc)
    return mat


def classify(text: str) -> list[tuple[str, float]]:
    """Intents ranked by the similarity of their nearest exemplar (mean of the best two)."""
    kind = encoder()
    mat = exemplar_matrix(kind)
    _, labels = exemplars()
    sims = mat @ embed([text])[0]
    best: dict[str, list[float]] = {}
    for lab, s in zip(labels, sims):
        best.setdefault(lab, []).append(float(s))
    scores = {lab: float(np.mean(sorted(v, reverse=True)[:2])) for lab, v in best.items()}
    return sorted(scores.items(), key=lambda kv: kv[1], reverse=True)


# --- putting it together ------------------------------------------------------------------------

PERSON_INTENTS = ("emotion", "age", "gender", "clothing", "where", "describe", "identify")


def understand(question: str, names: set[str] | frozenset[str] = frozenset()) -> Understanding:
    """Intent and slots of ``question`` (``names``: the enrolled names, matched exactly)."""
    q, problem = clean(question)
    if problem:
        return Understanding(q, problem, 1.0, encoder=encoder())
    t = normalise(q, names)
    if foreign(q.lower()):
        return Understanding(q, "language", 1.0, encoder=encoder())
    parts = split_parts(t)
    if len(parts) > 1:
        subs = tuple(_one(p, q, names) for p in parts)
        known = [s for s in subs if s.intent not in ("unsure", "beyond")]
        if len(known) < len(subs) and len({s.intent for s in known}) == 1:
            # "what's up with her, how does she feel": one real question, asked with a filler
            whole = _one(t.strip(" ,"), q, names)
            if whole.intent not in ("unsure", "beyond"):
                return whole
            return Understanding(t, known[0].intent, known[0].confidence, dict(known[0].slots) | extract_slots(t, names), encoder=encoder())
        if len({s.intent for s in subs}) > 1:
            merged: dict[str, Any] = {}
            for sub in reversed(subs):  # the first part's slots win
                merged.update(sub.slots)
            return Understanding(t, "compound", min(s.confidence for s in subs), merged, subs, encoder=encoder())
    return _one(t.strip(" ,"), q, names)


def _one(t: str, original: str, names: set[str] | frozenset[str]) -> Understanding:
    slots = extract_slots(t, names)
    enc = encoder()
    if RACE_RE.search(t):
        return Understanding(t, "race", 1.0, slots, encoder=enc)
    if JSON_RE.search(t):
        return Understanding(t, "json", 1.0, slots, encoder=enc)
    if len(slots.get("faces", ())) >= 2 and SAME_RE.search(t):
        return Understanding(t, "compare", 1.0, slots, encoder=enc)
    if "name" not in slots:
        cand = presence_name(original, t, names)
        if cand and (cand[:1].isupper() and re.search(rf"\b{re.escape(cand)}\b", original) or cand.lower() not in _vocab()):
            slots["candidate_name"] = cand
    if PERSON_CUE_RE.search(t) or slots.get("name") or ("colour" in slots and not COUNT_RE.search(t)):
        slots["person_cue"] = True
    ranked = classify(canonical(t, slots))
    intent, conf = ranked[0]
    ruled = _rules(t, slots, ranked)
    if ruled:
        if ruled == "presence":
            slots["name"] = slots.get("name") or slots.get("candidate_name")
        clean_slots = {k: v for k, v in slots.items() if k != "candidate_name"}
        return Understanding(t, ruled, 1.0, clean_slots, alternatives=tuple((a, round(s_, 4)) for a, s_ in ranked[:4]), encoder=enc)
    intent = _reconcile(ranked, slots, t, original, names)
    if intent == "presence":
        name = presence_name(original, t, names)
        if name:
            slots["name"] = name
    if conf < THRESHOLD and intent == ranked[0][0] and intent not in ("beyond",):
        intent = "unsure" if intent != "transcript" or not TRANSCRIPT_RE.search(t) else intent
    slots.pop("candidate_name", None)
    return Understanding(t, intent, round(conf, 4), slots, alternatives=tuple((a, round(s, 4)) for a, s in ranked[:4]), encoder=enc)


def _rules(t: str, s: dict[str, Any], ranked: list[tuple[str, float]] | None = None) -> str | None:
    """Exact rules: cues that decide the question family on their own."""
    cue = s.get("person_cue")
    anyq = s.get("quantifier") == "any" or re.match(r"^any\b", t)
    if COUNT_RE.search(t) and not (ranked and ranked[0][0] == "beyond" and ranked[0][1] > dict(ranked).get("count", 0) + 0.05):
        return "count"  # unless it is clearly about something else ("how many legs does a spider have")
    if "superlative" in s and not AGE_Q_RE.search(t.replace("oldest", "")) and not WHERE_Q_RE.search(t):
        return "superlative"
    name = s.get("name") or s.get("candidate_name")
    if name and re.fullmatch(rf"{re.escape(name.lower())}\s*\??", t):
        return "presence"  # just a name: "Alice?"
    if name and PRESENCE_Q_RE.search(t) and not (s.get("emotion") or AGE_Q_RE.search(t) or WHERE_Q_RE.search(t)
                                                  or CLOTHING_Q_RE.search(t) or GENDER_Q_RE.search(t)):
        return "presence"
    if s.get("yesno") and s.get("emotion") and "emotions" not in s:
        if s.get("quantifier") == "all" and not cue:
            return "anyone"  # "does everyone look happy?"
        return "anyone" if anyq and not (cue and not re.search(r"\b(?:anyone|anybody|someone|somebody)\b", t)) else "emotion"
    if s.get("child") and (anyq or s.get("yesno")):
        return "anyone"
    if GENDER_Q_RE.search(t) and (cue or s.get("name")):
        return "gender"
    if AGE_Q_RE.search(t):
        return "age"
    if CLOTHING_Q_RE.search(t) and not (re.match(r"^(?:who|which)\b", t) and "colour" in s):
        return "clothing"
    if WHERE_Q_RE.search(t):
        return "where"
    if re.match(r"^(?:who|which)\b", t) and s.get("emotion") and not cue:
        return "who_looks"
    if EMOTION_Q_RE.search(t) and (cue or s.get("name")) and not re.match(r"^(?:who|which)\b", t):
        return "emotion"
    if re.match(r"^(?:who is|who are|whos|who)\b", t) and cue and not s.get("emotion"):
        return "identify"
    return None


def _reconcile(ranked: list[tuple[str, float]], slots: dict[str, Any], t: str, original: str, names: set[str] | frozenset[str]) -> str:
    """The best-ranked intent whose needs the slots meet, with exact rules applied."""
    attribute = any(k in slots for k in ("emotion", "child", "gender", "colour"))
    wh_start = re.match(r"^(?:who|which|whom)\b", t)
    for intent, _score in ranked:
        if intent == "transcript" and not TRANSCRIPT_RE.search(t):
            continue
        if intent == "superlative" and "superlative" not in slots:
            continue
        if intent in ("anyone", "who_looks") and not attribute:
            continue
        if intent == "presence" and (not presence_name(original, t, names) or not (slots.get("yesno") or PRESENCE_Q_RE.search(t))):
            continue
        if intent == "race":
            continue  # race is only ever an exact rule
        if intent == "identify" and not (slots.get("person_cue") or WHO_ALL_RE.search(t)):
            continue  # "who painted the mona lisa" is not about this photo
        if intent == "compare" and not (SAME_RE.search(t) or re.search(r"\blook(?:s)? like\b", t)):
            continue
        if "superlative" in slots and intent in ("who_looks", "anyone", "identify", "emotion", "describe", "count"):
            return "superlative"
        if intent in ("anyone", "who_looks"):
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
