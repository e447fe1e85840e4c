"""Every condition of a photo question, and the faces that meet all of them.

"how many women are smiling?", "how many ppl look older than 60", "r all the kids smiling", "is the
little girl happy?": gender, age group (child / teen / adult / elderly), an age above or below N,
expression, clothing colour and what facelens cannot see at all (glasses, suits, hats) are read
from the question once, here, and the planner filters the people by all of them before it counts or
answers. The age-group thresholds live only here (:data:`CHILD_UNDER`, :data:`ADULT_FROM`,
:data:`ELDERLY_OVER`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from facelens.tools.schema import EMOTION_ADJECTIVES, FaceAnalysis

#: apparent age below which a face is a child ("kids", "the little girl")
CHILD_UNDER = 13
#: apparent age from which a face is an adult; 13 to 19 is a teenager
ADULT_FROM = 20
#: apparent age above which a face is elderly ("seniors", "older than 60")
ELDERLY_OVER = 60
BANDS = ("child", "teen", "adult", "elderly")

#: words that name an age group -> the bands they accept (first match wins, longest first)
BAND_WORDS: tuple[tuple[re.Pattern[str], tuple[str, ...], str], ...] = tuple(
    (re.compile(rx), bands, word)
    for rx, bands, word in (
        (
            r"\b(?:elderly|seniors?|pensioners?|old (?:people|folks?|persons?|man|men|woman|women|lady|ladies|guys?|gentlem[ae]n|ones?)|"
            r"older (?:people|folks?|man|men|woman|women|lady|ladies|guys?|ones?)|grand(?:ma|pa|mother|father|parent)s?|oap)\b",
            ("elderly",),
            "elderly",
        ),
        (r"\b(?:adults?|grown[- ]?ups?|grownups?)\b", ("adult", "elderly"), "adult"),
        (r"\b(?:teen(?:age|aged)?s?|teenagers?|adolescents?)\b", ("teen",), "teen"),
        (r"\b(?:minors?|under(?:age| 18| eighteen))\b", ("child", "teen"), "minor"),
        (
            r"\b(?:kids?|kiddos?|kiddies|children|child|little ones?|young ones|wee ones|little (?:girl|boy|kid|one)s?|small (?:girl|boy|child)s?|"
            r"young (?:girl|boy)s?|toddlers?|bab(?:y|ies)|infants?|tots|youngsters?|nippers)\b",
            ("child",),
            "child",
        ),
    )
)
#: what the photo analysis cannot see: said honestly instead of counting everyone
UNSEEN_RE = re.compile(
    r"\b(?P<a>(?:a|an|any|some)\s+)?(?P<w>(?:sun)?glasses|spectacles|specs|shades|eyeglasses|hats?|caps?|beanies?|helmets?|suits?|ties?|neckties?|bow ?ties?|"
    r"uniforms?|earrings?|necklaces?|jewell?e?ry|scar(?:f|ves)|beards?|moustaches?|mustaches?|tattoos?|(?:face )?masks?|make-?up|"
    r"lipstick|bald|blond(?:e|es)?|brunettes?|redheads?|piercings?|headphones|watch(?:es)?|backpacks?)\b"
)
#: the unseen word -> how the answer names it
UNSEEN_NAMES = {
    "sunglasses": "sunglasses",
    "shades": "sunglasses",
    "glasses": "glasses",
    "spectacles": "glasses",
    "specs": "glasses",
    "eyeglasses": "glasses",
    "make-up": "make-up",
    "makeup": "make-up",
}


@dataclass(frozen=True)
class Conditions:
    """What a question asks the people to be, all of it (empty: nothing)."""

    gender: str | None = None  # "female" / "male"
    bands: tuple[str, ...] = ()  # the age groups accepted ("child",), ("adult", "elderly")
    band_word: str | None = None  # how the question named them: child, teen, minor, adult, elderly
    age_over: int | None = None
    age_under: int | None = None
    emotion: str | None = None
    colour: str | None = None
    unseen: str | None = None  # a thing facelens cannot see ("glasses", "suits")

    @property
    def any(self) -> bool:
        return any(
            v for v in (self.gender, self.bands, self.age_over, self.age_under, self.emotion, self.colour, self.unseen)
        )

    @property
    def count(self) -> int:
        """How many conditions there are (a count with none is a head count)."""
        return sum(
            1
            for v in (
                self.gender,
                self.bands,
                self.age_over is not None or self.age_under is not None,
                self.emotion,
                self.colour,
                self.unseen,
            )
            if v
        )

    def without(self, *keys: str) -> Conditions:
        return Conditions(
            **{k: (None if k != "bands" else ()) if k in keys else getattr(self, k) for k in self.__dataclass_fields__}
        )


def age_band(face: FaceAnalysis) -> str | None:
    """child / teen / adult / elderly from the apparent age (None: no age estimate)."""
    if face.age is None:
        return None
    if face.age < CHILD_UNDER:
        return "child"
    if face.age < ADULT_FROM:
        return "teen"
    return "elderly" if face.age > ELDERLY_OVER else "adult"


def band_of(t: str) -> tuple[tuple[str, ...], str | None]:
    """The age groups a (normalised) question names: ("child",) for "the little girl", () for none."""
    for rx, bands, word in BAND_WORDS:
        if rx.search(t):
            return bands, word
    return (), None


def strip_bands(t: str) -> str:
    """The question without its age-group words ("which one is the little one" -> "which one is the ")."""
    for rx, _bands, _word in BAND_WORDS:
        t = rx.sub(" ", t)
    return t


def unseen_of(t: str, colour: str | None = None) -> str | None:
    """A thing facelens cannot see asked about ("glasses", "suits"); a coloured garment is clothing colour, which it sees."""
    m = UNSEEN_RE.search(t)
    if m is None:
        return None
    word = m.group("w")
    if colour and re.search(rf"\b{colour}\s+{re.escape(word)}\b", t):
        return None  # "the man in the blue suit": the colour is what is asked
    article = (m.group("a") or "").strip()
    return (f"{article} " if article in ("a", "an") else "") + UNSEEN_NAMES.get(word, word)


def unseen_verb(thing: str, singular: bool) -> str:
    """How "whether anyone ... a beard / glasses / bald" is said: has, wears, is."""
    word = thing.split()[-1]
    if re.fullmatch(r"bald|blond(?:e|es)?|brunettes?|redheads?", word):
        return "is" if singular else "are"
    if re.fullmatch(r"beards?|moustaches?|mustaches?|tattoos?|piercings?", word):
        return "has" if singular else "have"
    return "wears" if singular else "wear"


def parse(t: str, slots: dict[str, Any]) -> Conditions:
    """The conditions of normalised question ``t`` (its slots: gender, emotion, colour, age_over/under)."""
    bands, word = band_of(t)
    return Conditions(
        gender=slots.get("gender"),
        bands=bands,
        band_word=word,
        age_over=slots.get("age_over"),
        age_under=slots.get("age_under"),
        emotion=slots.get("emotion"),
        colour=slots.get("colour"),
        unseen=unseen_of(t, slots.get("colour")),
    )


def missing_models(faces: list[FaceAnalysis], c: Conditions) -> list[str]:
    """What the conditions need that was not estimated ("apparent gender", "age", "emotion")."""
    out = []
    if c.gender and any(f.gender is None for f in faces):
        out.append("apparent gender")
    if (c.bands or c.age_over is not None or c.age_under is not None) and any(f.age is None for f in faces):
        out.append("age")
    if c.emotion and any(f.emotion is None for f in faces):
        out.append("emotion")
    return out


def wears(f: FaceAnalysis, colour: str) -> bool:
    """Does face ``f`` wear ``colour``: its clothing's main colour, or a second colour that covers a substantial part of
    the torso (``clothing_other_colour``: at least a quarter; a pink top under a black jacket, red stripes on white)."""
    a = f.appearance
    return colour in (a.clothing_colour, a.clothing_other_colour)


def in_part(f: FaceAnalysis, colour: str | None) -> str:
    """ ", red in part" where ``colour`` is worn but is not the clothing's main colour (said beside the face's label,
    which names the main colour); "" otherwise."""
    return f", {colour} in part" if colour and wears(f, colour) and f.appearance.clothing_colour != colour else ""


def matches(f: FaceAnalysis, c: Conditions) -> bool:
    """Does face ``f`` meet every seen condition of ``c`` (the unseen one is never decided)?"""
    if c.gender and (f.gender is None or f.gender.label != c.gender):
        return False
    if c.bands and age_band(f) not in c.bands:
        return False
    if c.age_over is not None and (f.age is None or not f.age > c.age_over):
        return False
    if c.age_under is not None and (f.age is None or not f.age < c.age_under):
        return False
    if c.emotion and (f.emotion is None or f.emotion.label != c.emotion):
        return False
    return not (c.colour and not wears(f, c.colour))


def select(faces: list[FaceAnalysis], c: Conditions) -> list[FaceAnalysis]:
    return [f for f in faces if matches(f, c)]


BAND_PLURAL = {
    "child": "children",
    "teen": "teenagers",
    "minor": "minors",
    "adult": "adults",
    "elderly": "elderly people",
}
BAND_SINGULAR = {
    "child": "a child",
    "teen": "a teenager",
    "minor": "a minor",
    "adult": "an adult",
    "elderly": "elderly",
}
GENDER_PLURAL = {"female": "women", "male": "men"}
GENDER_BAND = {
    ("female", "child"): "girls",
    ("male", "child"): "boys",
    ("female", "teen"): "teenage girls",
    ("male", "teen"): "teenage boys",
    ("female", "elderly"): "elderly women",
    ("male", "elderly"): "elderly men",
    ("female", "minor"): "girls",
    ("male", "minor"): "boys",
}


SINGULAR = {
    "women": "woman",
    "men": "man",
    "children": "child",
    "adults": "adult",
    "teenagers": "teenager",
    "girls": "girl",
    "boys": "boy",
    "people": "person",
    "minors": "minor",
}


def singular(noun: str) -> str:
    """ "women over 40" -> "woman over 40", "elderly people" -> "elderly person"."""
    return " ".join(SINGULAR.get(w, w) for w in noun.split(" ", 2)[:2]) + (
        " " + noun.split(" ", 2)[2] if noun.count(" ") >= 2 else ""
    )


def group_noun(c: Conditions) -> str:
    """The people the seen conditions of who-they-are describe: "women", "children", "men over 40", "people"."""
    if c.gender and c.band_word:
        noun = GENDER_BAND.get((c.gender, c.band_word), GENDER_PLURAL[c.gender])
    elif c.gender:
        noun = GENDER_PLURAL[c.gender]
    elif c.band_word:
        noun = BAND_PLURAL[c.band_word]
    else:
        noun = "people"
    if c.age_over is not None:
        noun += f" over {c.age_over}"
    if c.age_under is not None:
        noun += f" under {c.age_under}"
    if c.colour:
        noun += f" in {c.colour}"
    return noun


def state_phrase(c: Conditions, plural: bool = True) -> str:
    """What the question asks of them beyond who they are: "look happy" (empty when nothing)."""
    if c.emotion:
        return ("look " if plural else "looks ") + EMOTION_ADJECTIVES[c.emotion]
    return ""


def models_note(c: Conditions) -> str:
    """Which model the condition words were judged by, said with a count ("to the age/gender model")."""
    by = []
    if c.gender or c.bands or c.age_over is not None or c.age_under is not None:
        by.append("the age/gender model")
    if c.emotion:
        by.append("the expression model")
    return " and ".join(by)
