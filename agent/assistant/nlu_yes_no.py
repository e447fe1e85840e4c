"""Slots of yes/no questions for the offline understanding step (agent/assistant/understanding.py).

What a yes/no question asks beyond an emotion or a name: a number of people ("are there more than
3 people?", "is it a group photo?", "is there anyone in the photo?"), an age ("is anyone over 40?",
"is face 2 young?"), or whether anyone enrolled is there ("do you recognise anyone?").
"""

from __future__ import annotations

import re
from typing import Any

from facelens.agent.assistant.nlu_patterns import (
    COLOUR_ALTERNATION,
    NUMBER_WORDS,
    RE,
)

#: a question word anywhere: the question asks more than yes or no
WH_ANYWHERE_RE = re.compile(r"\b(?:who|whom|whose|what|which|where|when|why|how)\b")
#: "the blue shirt person", "the red top guy": a person named by clothing
COLOUR_REF_NP_RE = re.compile(
    rf"\bthe (?:{COLOUR_ALTERNATION})(?: \w+)? (?:person|one|guy|man|woman|lady|girl|boy|dude)\b"
)
#: how a count comparison is said -> the comparison it means
COUNT_OPS = {
    "over": "more than",
    "under": "fewer than",
    "less than": "fewer than",
    "no more than": "at most",
    "only": "exactly",
    "just": "exactly",
    None: "exactly",
}


def comparison_slots(t: str, slots: dict[str, Any]) -> None:
    """``count_cmp`` ("more than", 3) for "are there more than 3 people?"; ``age_over``/``age_under`` for "is anyone over 40?"."""
    if m := RE.count_cmp.search(t):
        slots["count_cmp"] = (COUNT_OPS.get(m.group(1), m.group(1)), NUMBER_WORDS.get(m.group(2)) or int(m.group(2)))
    elif (m := RE.age_cmp.search(t)) and (int(m.group(2)) >= 10 or m.group(3)):  # "over 5" alone is too unlike an age
        older = m.group(1) in ("over", "older than", "above", "past")
        slots["age_over" if older else "age_under"] = int(m.group(2))


def yes_no_slots(t: str, slots: dict[str, Any]) -> None:
    """What a yes/no question asks in words: old/young, anyone there at all, a group photo or a selfie, anyone known."""
    attribute = any(
        k in slots
        for k in ("emotion", "child", "gender", "colour", "age_over", "age_under", "count_cmp", "name", "superlative")
    )
    if not attribute and (m := RE.age_word.search(t)) and not re.search(r"\b(?:years?|how|what age)\b", t):
        if m.group(1):
            slots["age_over"] = 60
        else:
            slots["age_under"] = 20
        return
    if attribute or slots.get("faces"):
        return
    if (m := RE.group.search(t)) and not RE.person_cue.search(t):
        slots["count_cmp"] = ("more than", 1) if m.group(1) else ("exactly", 1)
    elif RE.empty.match(t):
        slots["count_cmp"] = ("exactly", 0)
    elif slots.get("quantifier") == "any" and RE.known.search(t) and not RE.transcript.search(t):
        slots["known"] = True  # "is there anyone you recognise?"
    elif RE.exists.match(t):
        slots["count_cmp"] = ("at least", 1)  # "is there anyone in the photo?", "can you see anyone?"


def yes_no_rule(t: str, s: dict[str, Any], cue: bool, anyq: bool) -> str | None:
    """The question family these slots decide on their own (None: they decide nothing)."""
    if "count_cmp" in s:
        return "count"  # "are there more than 3 people?": a count, answered yes or no
    if s.get("name_of_person"):
        return "identify"  # "is face 1 Zoe?"
    if RE.count.search(t) or "superlative" in s or WH_ANYWHERE_RE.search(t):
        return None  # "any idea how the woman in black is feeling" asks how, not whether
    if "age_over" in s or "age_under" in s:
        return "age" if (cue or s.get("name") or s.get("faces")) and not anyq else "anyone"  # about one person / anyone
    if s.get("known") and anyq and not cue:
        return "identify"  # "is there anyone you recognise?": who is who, after a yes or a no
    if s.get("name") or RE.person_cue.search(t) or RE.ref_np.search(t) or COLOUR_REF_NP_RE.search(t):
        return None  # about one person ("is the one in black scared at all"): never turned into "anyone"
    if s.get("yesno") and s.get("quantifier") == "all" and any(k in s for k in ("gender", "colour", "child")):
        return "anyone"  # "are they all women?", "is everyone wearing black?"
    if anyq and (
        s.get("gender")
        or (
            s.get("colour")
            and re.match(
                r"^(?:is|are|was|were) there\b|^any\b|^(?:does|do|is|are|has|have) "
                r"(?:anyone|anybody|someone|somebody)\b",
                t,
            )
        )
    ):
        return "anyone"  # "is there a woman in the photo?", "are there any men?", "is there a woman wearing red?"
    return None


def asks_name_of(t: str, name: str) -> bool:
    """ "is the one in green Emeka?", "would face 2 be Alice", "the person on the right is Chen, right?": is someone NAME?"""
    n = re.escape(name.lower())
    m = re.match(
        rf"^(?:is|was|isn't|would|could|might)\s+(.+?)\s+(?:be\s+|actually\s+|really\s+)?{n}\s*[?!.]*$", t
    ) or re.match(
        rf"^(.+?)\s+(?:is|must be|could be|might be)\s+{n}(?:,?\s*(?:right|correct|yes|no|isn't (?:it|she|he|they)|"
        rf"is(?:n't| not) (?:it|she|he|they)))?\s*[?!.]*$",
        t,
    )
    return bool(m) and bool(
        RE.person_cue.search(m.group(1))
        or RE.ref_np.search(m.group(1))
        or COLOUR_REF_NP_RE.search(m.group(1))
        or re.search(rf"\b(?:{COLOUR_ALTERNATION})\b", m.group(1))
        or re.fullmatch(r"[a-z][\w'-]+", m.group(1))
        and m.group(1) != "it"
    )
