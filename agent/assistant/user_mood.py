"""The user's own mood in what they type to the offline assistant: thanks, frustration, confusion.

"thanks, that is really helpful" gets a short "You're welcome"; "ugh this is so frustrating, you keep
getting the ages wrong!" a brief kind acknowledgement and what an apparent age is worth (with each
estimate); "I don't understand" a few example questions. Whatever else the message asks is then
answered as usual. Mood words about the photo ("is anyone frustrated?") are photo questions, not this.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from facelens.agent.assistant import wording
from facelens.agent.assistant.replies import PlannerReply

if TYPE_CHECKING:
    from facelens.tools.schema import SceneAnalysis


#: the user's own mood in what they type (not a question about the photo): thanks, frustration, confusion
THANKS_RE = re.compile(
    r"^(?:(?:ok|okay|great|cool|perfect|awesome|nice|brilliant|lovely|wonderful|excellent|good)\b[\s,!.]*)*"
    r"(?:thanks|thank you|thank u|thx|ty|cheers|many thanks|much appreciated|appreciate it)\b(?:[\s,!.]+(?:so much|a lot|very much|"
    r"again|mate|that(?: is|'s| was)?(?: really| very| super| so)? (?:helpful|useful|great|perfect|clear|good)|that helps|"
    r"(?:that|this) helped|it helped)\b)*[\s,!.]*"
    r"|^(?:that(?: is|'s| was)|this is|very|really|super)(?: really| very| super| so)? (?:helpful|useful|great|perfect|clear)[\s,!.]*"
    r"(?:thanks|thank you)?[\s,!.]*",
    re.I,
)
FRUSTRATED_RE = re.compile(
    r"\b(?:ugh+|argh+|grr+)\b|\b(?:this|that|it)(?: is|'s)? (?:so |really |very |super |getting )?(?:frustrating|annoying|useless|rubbish|"
    r"infuriating|ridiculous)\b|\bi(?: am|'m)(?: so| really| getting| very)? (?:frustrated|annoyed|fed up)\b|"
    r"\byou(?:'re| are)? (?:keep|always|still) (?:getting|giving|saying|making|being)\b|\byou (?:got|get) (?:it|that|this|them|those|the \w+) wrong\b|"
    r"\bwrong again\b|\b(?:that|this)(?: is|'s) (?:not right|wrong|not correct)\b",
    re.I,
)
CONFUSED_RE = re.compile(
    r"^(?:i don'?t understand|i do not understand|i'?m confused|i am confused|i don'?t get it|i do not get it|"
    r"what do you mean|huh|what\?+|that makes no sense|that doesn'?t make sense)\b[\s?!.]*$",
    re.I,
)


def user_mood(question: str) -> tuple[str, str] | None:
    """("thanks" | "frustrated" | "confused", what is left to answer) when the user says how they feel, else None."""
    q = " ".join(str(question or "").replace("’", "'").split())
    if m := THANKS_RE.match(q):
        return "thanks", q[m.end() :].strip(" ,.!-")
    if CONFUSED_RE.match(q):
        return "confused", ""
    if FRUSTRATED_RE.search(q):
        parts = [p.strip() for p in re.split(r"(?<=[.!?,;])\s+", q)]
        rest = " ".join(
            p
            for p in parts
            if not FRUSTRATED_RE.search(p)
            and (p.endswith("?") or re.match(r"(?i)(?:who|what|how|which|where|is|are|does|do|can)\b", p))
        )
        return "frustrated", rest
    return None


def mood_reply(
    kind: str,
    rest: str,
    question: str,
    scene: SceneAnalysis | None,
    image: str | None,
    ask: Callable[[str], PlannerReply],
) -> PlannerReply | None:
    """A brief, kind reply to the user's mood, then the rest of what they asked (``ask`` answers it in the same conversation)."""
    if kind == "thanks":
        ack = wording.USER_THANKS
    elif kind == "confused":
        ack = wording.USER_CONFUSED
    else:
        ack = wording.USER_FRUSTRATED
    if rest and re.search(r"[a-z]", rest, re.I):
        r = ask(rest)
        lead = "You're welcome." if kind == "thanks" else ack
        return replace(r, text=f"{lead} {r.text}", notes=r.notes + (f"user {kind}",))
    if kind != "frustrated":
        return PlannerReply(ack, (), "chat", image, (f"user {kind}",))
    faces: tuple[int, ...] = ()
    if re.search(r"\b(?:age|ages|old|older|younger|years)\b", question, re.I):
        more = wording.USER_FRUSTRATED_AGES
        if scene is not None and scene.faces and all(f.age is not None for f in scene.faces):
            more += " What I estimate: " + "; ".join(f"Face {f.id} about {f.age:.0f}" for f in scene.faces) + "."
            faces = tuple(f.id for f in scene.faces)
    else:
        more = wording.USER_FRUSTRATED_MORE
    return PlannerReply(f"{ack} {more}", faces, "chat", image, ("user frustrated",))
