"""Referring expressions -> face numbers.

"the woman in the red jacket", "second from the right", "far left", "the middle one", "face 3",
"Alice", "the happy one", "the largest face", "the person next to her": each is parsed into cues,
and the cues narrow the faces of a :class:`SceneAnalysis` down to face numbers. Attribute cues
(name, clothing colour, gender, emotion) filter first; position cues (far left, second from right,
middle, largest) then pick among what is left, so "the second woman from the left" works.
A cue that needs a model that is not installed is skipped with a note instead of guessing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from facelens.agent.assistant import conditions
from facelens.agent.assistant.answers import ORDINALS
from facelens.agent.assistant.lexicon import Patterns
from facelens.tools.names import mentioned
from facelens.tools.schema import FaceAnalysis, SceneAnalysis

COLOUR_WORDS = {
    "black": "black",
    "white": "white",
    "grey": "grey",
    "gray": "grey",
    "silver": "grey",
    "red": "red",
    "maroon": "red",
    "crimson": "red",
    "orange": "orange",
    "yellow": "yellow",
    "gold": "yellow",
    "green": "green",
    "olive": "green",
    "blue": "blue",
    "navy": "blue",
    "teal": "blue",
    "purple": "purple",
    "violet": "purple",
    "pink": "pink",
    "brown": "brown",
    "beige": "brown",
}
GARMENTS = r"(?:shirt|t-shirt|tshirt|jacket|top|dress|sweater|jumper|clothes|clothing|hoodie|coat|blouse|outfit|suit|uniform|one|person|man|woman|guy|lady)"
#: the colour words as a regex alternation, longest first (so "light blue" wins over "blue")
COLOUR_ALTERNATION = "|".join(sorted(COLOUR_WORDS, key=len, reverse=True))
EMOTION_CUES = {
    "happy": r"happy|smiling|cheerful|joyful",
    "sad": r"sad|unhappy|crying",
    "angry": r"angry|mad|annoyed|frowning|upset",
    "surprise": r"surprised|shocked|astonished",
    "fear": r"scared|afraid|frightened|fearful",
    "disgust": r"disgusted",
    "neutral": r"neutral|calm|expressionless|serious",
}
EMOTION_REF_RE = {
    label: re.compile(
        rf"\b(?:the\s+)?(?:{words})\s+(?:one|person|people|face|man|woman|guy|lady|girl|boy)\b|\b(?:who|that)\s+(?:looks?|is|are|seems?)\s+(?:{words})\b"
    )
    for label, words in EMOTION_CUES.items()
}
SUPERLATIVES = {
    "happy": r"happiest|most happy|most cheerful|biggest smile|smiling the most|smiles the most",
    "sad": r"saddest|most sad|unhappiest|most unhappy",
    "angry": r"angriest|most angry|most annoyed|most upset",
    "surprise": r"most surprised|most shocked",
    "fear": r"most scared|most afraid|most frightened|most fearful",
    "disgust": r"most disgusted",
    "neutral": r"most neutral|calmest|most serious",
    "oldest": r"oldest|eldest",
    "youngest": r"youngest",
}
SUPERLATIVE_RE = {k: re.compile(rf"\b(?:{v})\b") for k, v in SUPERLATIVES.items()}
_ORD = {w: i + 1 for i, w in enumerate(ORDINALS)} | {"1st": 1, "2nd": 2, "3rd": 3, "4th": 4, "5th": 5, "6th": 6}
#: the cues of a referring expression by name (`RE.left`, `RE.face_no`), matched on the lower-cased question
RE = Patterns(
    {
        "colour": rf"\b(?:in|wearing|wears|with|dressed in)\s+(?:a |an |the )?(?:\w+ )?({COLOUR_ALTERNATION})\b|\b({COLOUR_ALTERNATION})\s+{GARMENTS}\b",
        "female": r"\b(woman|women|lady|ladies|girl|girls|female|she)\b",
        "male": r"\b(man|men|guy|guys|boy|boys|male|gentleman|he)\b",
        "from_side": rf"\b({'|'.join(_ORD)})\s+(?:\w+\s+){{0,2}}(?:from|from the)\s+(?:the\s+)?(left|right)\b",
        # "the guy second from the right": the noun comes before the ordinal, so the position is counted among everyone
        # (the person second from the right, a guy), not among the guys as in "the second guy from the right"
        "noun_then_ordinal": (
            rf"\b(?:woman|lady|girl|man|guy|boy|gentleman|dude|bloke|kid|child|person|one)\s+(?:who is\s+|that is\s+)?"
            rf"(?:{'|'.join(_ORD)})\s+from\b"
        ),
        "face_no": r"(?:\bfaces?|\bperson|\bpeople|\bnumber(?:ed)?|#)\s*(?:number(?:ed)?\s*|no\.?\s*|#\s*)?(\d{1,3})\b",
        "left": (
            r"\b(?:far[- ]left|left[- ]?most|(?:on|at|to) the (?:far |very )?left|left side|left one|the left|"
            r"(?:furthest|farthest|most) (?:to the )?left|left(?:-hand)? end|on left|at left)\b"
        ),
        "right": (
            r"\b(?:far[- ]right|right[- ]?most|(?:on|at|to) the (?:far |very )?right|right side|right one|the right|"
            r"(?:furthest|farthest|most) (?:to the )?right|right(?:-hand)? end|on right|at right)\b"
        ),
        "middle": r"\b(?:middle|cent(?:er|re)|central)\b",
        "first_last": r"\b(first|last)\s+(?:one|person|face|man|woman)\b",
        "largest": r"\b(?:largest|biggest|closest|nearest|in front|front)\b",
        "smallest": r"\b(?:smallest|farthest|furthest|in the back)\b",
        "next_to": (
            r"\b(?:next to|beside|besides|near|neighbou?r of|(?:to the )?left of|(?:to the )?right of)\s+(?:her|him|them|that person|this person|that one)\b"
            r"|\b(?:on|to) (?:her|his|their) (?:left|right)\b"
        ),
        "next_to_desc": r"\b(next to|beside|(?:to the )?left of|(?:to the )?right of)\s+(the .+|face\s*\d+|person\s*\d+|\w+)$",
        "ref_gender": (
            r"\b(?:the|that|this|\w+(?:most|est))\s+(?:(?!(?:a|an|or|is|from|and)\b)\w+\s+){0,2}?(woman|women|lady|ladies|girl|girls|man|men|guy|guys|boy|boys|gentleman|dude|bloke)\b"
            r"|^\s*(?:women|woman|ladies|lady|girls?|men|man|guys?|boys?)\b"
        ),
        "pronoun": r"\b(?:she|her|he|him|his|they|them|that person|this person|the same person|that one|this one)\b",
        # an age-group word without a gender noun ("the kid", "the grown-up", "the old one")
        "band_noun": r"(?:the|that|this)\s+(?:\w+\s+)?(?:kid|child|baby|toddler|teen|teenager|grown-?up|adult|old one|elderly one|little one)\b",
        # words that show several people are meant ("the women", "the kids")
        "plural": r"\b(?:women|ladies|girls|men|guys|boys|kids|children|people|adults|grown-?ups|teenagers|teens|them|they|both|all)\b",
    }
)


@dataclass(frozen=True)
class Reference:
    face_ids: tuple[int, ...]  # the faces picked, in image order (empty: nobody matches)
    cues: tuple[str, ...]  # the cues used, e.g. ("clothing red", "gender female")
    notes: tuple[str, ...]  # cues that could not be used, and why
    ambiguous: bool = False  # one person was described ("the little girl") and several fit: the answer says so
    alternative: tuple[
        int, ...
    ] = ()  # who the words fit near the position named, when the face there does not ("the woman in the middle")


#: a gender noun that means a young person when there is one ("the girl"); the others mean a grown-up
YOUNG_NOUNS = {"girl", "girls", "boy", "boys"}


def _who_words(gender: str | None, band_word: str | None) -> str:
    """How a cue of who someone is reads: "female", "child", "female child"."""
    return " ".join(w for w in (gender, band_word) if w)


def _person_words(gender: str | None, band_word: str | None) -> str:
    """ "woman", "girl", "elderly man", "child" for a gender and an age-group word."""
    young = band_word in ("young", "child", "minor")
    noun = {"female": "girl" if young else "woman", "male": "boy" if young else "man"}.get(
        gender or "", "child" if young else "person"
    )
    return {"teen": "teenage ", "elderly": "elderly "}.get(band_word or "", "") + noun


def _a(who: str) -> str:
    return ("an " if who[:1] in "aeiou" else "a ") + who


def _fits(f: FaceAnalysis, gender: str | None, bands: tuple[str, ...]) -> bool:
    return conditions.matches(f, conditions.Conditions(gender=gender, bands=bands))


def _seen(f: FaceAnalysis) -> str:
    """How the models see one face, for a note: "looks female, about 34"."""
    bits = []
    if f.gender is not None:
        bits.append(f"looks {f.gender.label}")
    if f.age is not None:
        bits.append(f"about {f.age:.0f}")
    return ", ".join(bits) or "no age/gender estimate"


def _position_mismatch(
    picked: tuple[str, list[int]],
    cand: list[FaceAnalysis],
    gender: str | None,
    bands: tuple[str, ...],
    band_word: str | None,
    faces: list[FaceAnalysis],
) -> list[str | int]:
    """A note when the face at the position named is not who the words say, naming who else fits ("the woman in the middle")."""
    by_id = {f.id: f for f in faces}
    if any(_fits(by_id[i], gender, bands) for i in picked[1]) or any(
        (gender and by_id[i].gender is None) or (bands and by_id[i].age is None) for i in picked[1]
    ):
        return []
    who = _person_words(gender, band_word)
    others = [f for f in cand if _fits(f, gender, bands)]
    note = f"the age/gender model does not see the {picked[0]} person as {_a(who)}"
    if others:
        centre = sum(by_id[i].id for i in picked[1]) / len(picked[1])
        near = min(others, key=lambda f: abs(f.id - centre))
        return [note, near.id]
    return [note]


def resolve(
    text: str,
    scene: SceneAnalysis,
    *,
    focus: tuple[int, ...] = (),
    known_names: set[str] | frozenset[str] = frozenset(),
) -> Reference | None:
    """Resolve a referring expression in ``text`` to face numbers of ``scene``.

    Args:
        text: a question or description ("what is the woman in red feeling?").
        scene: the analysed image.
        focus: the faces the conversation was last about (for "she", "next to her").
        known_names: enrolled names (so "is Alice ..." can say Alice is not here).

    Returns:
        A Reference, or None when the text holds no referring expression at all.
    """
    q = " " + text.lower().replace("’", "'") + " "
    faces = list(scene.faces)
    n = len(faces)
    cand = [f.id for f in faces]
    cues: list[str] = []
    notes: list[str] = []
    by_id = {f.id: f for f in faces}

    # 1. explicit face numbers win over everything else
    nums = [int(m) for m in RE.face_no.findall(q)]
    if nums:
        bad = [k for k in nums if k not in by_id]
        notes += [f"there is no face {k} (the image has {n} face(s))" for k in bad]
        return Reference(
            tuple(k for k in dict.fromkeys(nums) if k in by_id), tuple(f"face {k}" for k in nums), tuple(notes)
        )

    # 2. follow-ups: "next to her", "she"
    m = RE.next_to.search(q)
    anchor = focus if m else ()
    if not m:  # "next to the person in red": resolve the anchor description first
        m = RE.next_to_desc.search(q.strip(" ?.!"))
        if m:
            inner = resolve(m.group(2), scene, focus=focus, known_names=known_names)
            anchor = inner.face_ids if inner is not None else ()
    if m and anchor:
        word = m.group(0)
        # left/right are the viewer's (image) sides, the way faces are numbered
        if "left" in word:
            ids = [min(anchor) - 1]
        elif "right" in word:
            ids = [max(anchor) + 1]
        else:
            ids = [min(anchor) - 1, max(anchor) + 1]
        ids = [i for i in ids if i in by_id]
        gm = RE.ref_gender.search(q[: m.start() + 1] if m.start() > 0 else q)
        if len(ids) > 1 and gm is not None:  # "the woman next to her": the neighbour who is a woman, when one is
            g = "female" if RE.female.fullmatch(gm.group(1)) else "male"
            ids = [i for i in ids if by_id[i].gender is not None and by_id[i].gender.label == g] or ids
        if not ids:
            notes.append(
                f"nobody is {'next to' if 'next' in word or 'beside' in word else 'on that side of'} face {', '.join(map(str, anchor))}"
            )
        return Reference(tuple(ids), (f"beside face {','.join(map(str, anchor))}",), tuple(notes))

    # 3. attribute filters
    names = {f.identity.name for f in faces if f.identity is not None and f.identity.known} | set(known_names)
    for name in mentioned(names, q):
        cues.append(f"name {name}")
        cand = [i for i in cand if by_id[i].identity is not None and by_id[i].identity.name == name]
        if not cand:
            notes.append(f"{name} is not recognised in this picture")
            return Reference((), tuple(cues), tuple(notes))
    for m in RE.colour.finditer(q):
        colour = COLOUR_WORDS[m.group(1) or m.group(2)]
        cues.append(f"clothing {colour}")
        main = [i for i in cand if by_id[i].appearance.clothing_colour == colour]
        # the main colour first; else anyone wearing it in part ("the woman in pink": a pink top under a jacket)
        cand = main or [i for i in cand if conditions.wears(by_id[i], colour)]
    for label, rx in EMOTION_REF_RE.items():
        if rx.search(q):
            if any(by_id[i].emotion is None for i in cand):
                notes.append("emotion model not installed, so the emotion in the description could not be used")
                cues.append(f"emotion {label} (unavailable)")
                cand = []
            else:
                cues.append(f"emotion {label}")
                cand = [i for i in cand if by_id[i].emotion.label == label]
    # a gender word refers only as a noun of the description ("the second woman from the left"),
    # not as what is asked ("is the second person from the left male or female?")
    gm = RE.ref_gender.search(q)
    gender = None if gm is None else "female" if RE.female.fullmatch(gm.group(1)) else "male"
    alternative: tuple[int, ...] = ()
    # "the rightmost guy" is the rightmost person, whatever the gender model says: an absolute position
    # is what people point with, and the word "guy" or "lady" is not a filter to second-guess it
    absolute = (
        bool(RE.left.search(q) or RE.right.search(q) or RE.middle.search(q) or RE.first_last.search(q))
        and not RE.from_side.search(q)
        or bool(RE.noun_then_ordinal.search(q))
    )
    bands, band_word = conditions.band_of(q) if gm is not None or RE.band_noun.search(q) else ((), None)
    if (gender or bands) and absolute:
        picked = _pick_position(q, [by_id[i] for i in cand])
        if picked is not None and picked[1]:
            implied = bands or (
                () if gm is None else ("child", "teen") if gm.group(1) in YOUNG_NOUNS else ("adult", "elderly")
            )
            word = band_word or (None if gm is None else "young" if gm.group(1) in YOUNG_NOUNS else "adult")
            mismatch = _position_mismatch(picked, [by_id[i] for i in cand], gender, implied, word, faces)
            notes += [m for m in mismatch if isinstance(m, str)]
            alternative = tuple(m for m in mismatch if isinstance(m, int))
        gender, bands = None, ()
    if (gender and any(by_id[i].gender is None for i in cand)) or (bands and any(by_id[i].age is None for i in cand)):
        if not cues:  # "the woman" / "the kid" with no age/gender model: cannot tell who
            notes.append("apparent age and gender are not estimated (age/gender model not installed)")
            return Reference((), (f"{_who_words(gender, band_word)} (unavailable)",), tuple(notes))
        gender, bands = None, ()
    if gender or bands:
        who = _who_words(gender, band_word)
        kept = [i for i in cand if _fits(by_id[i], gender, bands)]
        if kept:
            cand = kept
            cues.append(f"{who}")
            if (
                len(cand) > 1 and gm is not None and not bands
            ):  # "the girl": a young one when there is one; "the woman": a grown-up
                young = gm.group(1) in YOUNG_NOUNS
                pref = [i for i in cand if by_id[i].age is not None and (by_id[i].age < conditions.ADULT_FROM) == young]
                ordinal = RE.from_side.search(q)
                if pref and not (
                    ordinal and _ORD[ordinal.group(1)] > len(pref)
                ):  # "the second man": among all the men when
                    cand = pref  # only one looks grown-up
        elif len(cand) == 1 and cues:  # the one in red, whom the model sees otherwise: still the one in red
            notes.append(
                f"the age/gender model does not see the matching person as {_a(_person_words(gender, band_word))}"
            )
        elif cues:  # "the guy in the white shirt" where everyone in white looks female: nobody fits, said plainly
            seen = "; ".join(f"Face {i}: {_seen(by_id[i])}" for i in cand) or f"no one here fits {', '.join(cues)}"
            notes.append(f"nobody matches all of it: {seen}")
            return Reference((), tuple(cues) + (who,), tuple(notes))
        else:
            notes.append(f"nobody here looks like {_a(_person_words(gender, band_word))} to the age/gender model")
            return Reference((), (who,), tuple(notes))

    # 4. pronouns refer back to the conversation's focus
    if not cues and focus and RE.pronoun.search(q):
        cand = [i for i in focus if i in by_id]
        cues.append(f"earlier: face {', '.join(map(str, cand))}")

    # 5. position and size pick among the remaining faces
    picked = _pick_position(q, [by_id[i] for i in cand])
    if picked is not None:
        what, ids = picked
        cues.append(what)
        cand = ids
    if not cues:
        return None
    ambiguous = (
        len(cand) > 1 and picked is None and not RE.plural.search(q) and not any(c.startswith("earlier") for c in cues)
    )
    return Reference(
        tuple(sorted(cand)),
        tuple(cues),
        tuple(dict.fromkeys(notes)),
        ambiguous=ambiguous,
        alternative=alternative if tuple(cand) != alternative else (),
    )


def _pick_position(q: str, faces: list[FaceAnalysis]) -> tuple[str, list[int]] | None:
    """Apply the first position or size cue in ``q`` to ``faces`` (already filtered), if any."""
    if not faces:
        return None
    faces = sorted(faces, key=lambda f: f.id)
    k = len(faces)
    m = RE.from_side.search(q)
    if m:
        i = _ORD[m.group(1)]
        side = m.group(2)
        if i > k:
            return f"{m.group(1)} from {side}", []
        return f"{m.group(1)} from {side}", [faces[i - 1].id if side == "left" else faces[k - i].id]
    for key, pick in _size_superlatives():
        if SUPERLATIVE_RE[key].search(q):
            return pick(faces)
    if RE.left.search(q) and not RE.right.search(q):
        return "far left", [faces[0].id]
    if RE.right.search(q) and not RE.left.search(q):
        return "far right", [faces[-1].id]
    if RE.middle.search(q):
        if k % 2:
            return "middle", [faces[k // 2].id]
        return "middle", [faces[k // 2 - 1].id, faces[k // 2].id]
    m = RE.first_last.search(q)
    if m:
        return m.group(1), [faces[0].id if m.group(1) == "first" else faces[-1].id]
    if RE.largest.search(q):
        return "largest face", [min(faces, key=lambda f: f.position.size_rank).id]
    if RE.smallest.search(q):
        return "smallest face", [max(faces, key=lambda f: f.position.size_rank).id]
    return None


def _size_superlatives():
    """Superlative cues usable inside a description ("the happiest person", "the oldest one")."""

    def by_emotion(label: str):
        def pick(faces: list[FaceAnalysis]) -> tuple[str, list[int]]:
            if any(f.emotion is None for f in faces):
                return f"most {label} (emotion model not installed)", []
            return f"most {label}", [max(faces, key=lambda f: f.emotion.scores.get(label, 0.0)).id]

        return pick

    def by_age(oldest: bool):
        def pick(faces: list[FaceAnalysis]) -> tuple[str, list[int]]:
            word = "oldest" if oldest else "youngest"
            if any(f.age is None for f in faces):
                return f"{word} (age model not installed)", []
            return word, [(max if oldest else min)(faces, key=lambda f: f.age).id]

        return pick

    out = [(label, by_emotion(label)) for label in ("happy", "sad", "angry", "surprise", "fear", "disgust", "neutral")]
    return out + [("oldest", by_age(True)), ("youngest", by_age(False))]
