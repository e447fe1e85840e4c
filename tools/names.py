"""People's names: one tidying rule, one notion of "the same name", and characters refused.

A name is tidied once (Unicode NFKC, whitespace runs collapsed to one space), so fullwidth and
other compatibility forms become the letters they stand for, and two names are the same person when
their tidied forms are equal without regard to case. Refused, because they make two names look
alike or text display in another order than it is stored:

- control, format (bidi overrides, zero-width), private-use and unassigned characters;
- default-ignorable code points that render as nothing (U+034F, U+3164 HANGUL FILLER, variation
  selectors such as U+FE0F, tag characters) and blank symbols such as U+2800 BRAILLE PATTERN BLANK;
- letters of several scripts in one name ("Аlice" with a Cyrillic А), except the scripts that are
  written together (Han with Hiragana, Katakana or Hangul);
- a new name that looks like an enrolled one (:func:`look_alike`: the same after mapping Cyrillic and
  Greek letters to the Latin letters they resemble), checked by every store before it enrols.
"""

from __future__ import annotations

import re
import unicodedata

from facelens.tools.errors import InputError, NotFoundError

#: names that mean something else in answers
RESERVED = {"unknown"}
MAX_CHARS = 100

#: Unicode's default-ignorable code points (DerivedCoreProperties.txt) and blanks that are not
#: whitespace: each renders as nothing, so a name holding one looks like a name without it
_IGNORABLE_RANGES = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x2800, 0x2800),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)
#: scripts written together in one name (Japanese mixes Han and kana; Korean Han and Hangul)
_SCRIPT_GROUP = {"CJK": "CJK", "HIRAGANA": "CJK", "KATAKANA": "CJK", "HANGUL": "CJK", "IDEOGRAPHIC": "CJK"}
#: Cyrillic and Greek letters that look like Latin ones (lower case; Unicode confusables.txt, the
#: letters of those scripts that render the same in common fonts)
_LOOKS_LATIN = str.maketrans(
    {
        "а": "a",
        "в": "b",
        "е": "e",
        "ё": "e",
        "к": "k",
        "м": "m",
        "н": "h",
        "о": "o",
        "р": "p",
        "с": "c",
        "т": "t",
        "у": "y",
        "х": "x",
        "ѕ": "s",
        "і": "i",
        "ї": "i",
        "ј": "j",
        "һ": "h",
        "ԁ": "d",
        "ԛ": "q",
        "ԝ": "w",
        "ӏ": "l",
        "ɡ": "g",
        "α": "a",
        "β": "b",
        "ε": "e",
        "η": "n",
        "ι": "i",
        "κ": "k",
        "ν": "v",
        "ο": "o",
        "ρ": "p",
        "τ": "t",
        "υ": "u",
        "χ": "x",
        "ϲ": "c",
        "ϳ": "j",
        "ζ": "z",
        "μ": "u",
    }
)


def _ignorable(c: str) -> bool:
    cp = ord(c)
    return any(lo <= cp <= hi for lo, hi in _IGNORABLE_RANGES)


def tidy(name: str) -> str:
    """The tidying rule: Unicode NFKC, runs of whitespace to one space, trimmed."""
    return " ".join(unicodedata.normalize("NFKC", str(name)).split())


def _script(c: str) -> str | None:
    """The script of a letter (the first word of its Unicode name), None for non-letters."""
    if not unicodedata.category(c).startswith("L"):
        return None
    word = unicodedata.name(c, "UNKNOWN").split(" ")[0]
    if word in ("MODIFIER", "UNKNOWN"):
        return None
    return _SCRIPT_GROUP.get(word, word)


def check_name(name: str) -> str:
    """Validate and tidy a person's name (see the module docstring for what is refused).

    Raises:
        InputError: empty, reserved, too long, holding invisible, control or blank characters, or
            letters of several scripts.
    """
    clean = tidy(name)
    if not clean:
        raise InputError("A person's name cannot be empty.")
    if clean.casefold() in RESERVED:
        raise InputError(f"'{clean}' is reserved; choose another name.")
    hidden = sorted(
        {f"U+{ord(c):04X}" for c in clean if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") or _ignorable(c)}
    )
    if hidden:
        raise InputError(
            f"The name holds invisible or control characters ({', '.join(hidden)}): blanks, fillers, variation selectors, zero-width or bidi characters.",
            hint="Type the name with visible characters only (no bidi overrides, zero-width characters, fillers or variation selectors).",
        )
    scripts = sorted({s for s in map(_script, clean) if s})
    if len(scripts) > 1:
        raise InputError(
            f"The name mixes letters of several scripts ({', '.join(s.title() for s in scripts)}), so it can look like another name.",
            hint="Type the name in one script (for example all Latin letters, or all Cyrillic).",
        )
    if len(clean) > MAX_CHARS:
        raise InputError(f"A name must be at most {MAX_CHARS} printable characters.")
    return clean


def name_key(name: str) -> str:
    """What makes two names the same person: the tidied name without invisible characters, case-folded
    (so names stored before they were refused still match the plain spelling)."""
    return "".join(c for c in tidy(name) if not _ignorable(c) and unicodedata.category(c) != "Cf").casefold()


def skeleton(name: str) -> str:
    """How a name looks: its key with Cyrillic and Greek look-alikes mapped to Latin letters."""
    return unicodedata.normalize("NFKC", name_key(name).translate(_LOOKS_LATIN))


def look_alike(name: str, enrolled: list[str] | set[str]) -> None:
    """Refuse a new name that is not an enrolled one but looks like one ("Аlісе" beside "Alice").

    Raises:
        InputError: naming the enrolled name it would be mistaken for.
    """
    key, shape = name_key(name), skeleton(name)
    for other in enrolled:
        if name_key(other) != key and skeleton(other) == shape:
            raise InputError(
                f"'{tidy(name)}' looks like '{other}', who is enrolled, but is spelled with other characters.",
                hint=f"Use '{other}' to add to that person, or a name that cannot be mistaken for it.",
            )


def one_person(name: str, names: list[str]) -> str:
    """The one enrolled name that ``name`` means, among the enrolled spellings with its key.

    Raises:
        NotFoundError: nobody has that name. InputError: several spellings match and none exactly.
    """
    if not names:
        raise NotFoundError(
            f"No one called '{tidy(name)}' is in the gallery.", hint="See who is enrolled with: facelens gallery list"
        )
    if len(names) > 1:
        exact = [n for n in names if n == tidy(name)]
        if len(exact) != 1:
            raise InputError(
                f"'{tidy(name)}' matches {len(names)} people: {', '.join(repr(n) for n in names)}.",
                hint="Remove one at a time by its exact name (see facelens gallery list).",
            )
        return exact[0]
    return names[0]


#: characters that make Markdown (CommonMark with GitHub's tables and strikethrough, Streamlit's
#: ``:color[...]`` directives and ``$math$``) act instead of show: links and images need ``[``,
#: HTML and autolinks ``<``, emphasis ``*`` and ``_``, code spans a backtick
_MD_SPECIAL = set("\\`*_[]|~$")
#: at the start of a line: headings, lists, quotes, thematic breaks
_MD_LINE_START = re.compile(r"^(\s*)(?:([#+=-])|(\d+)([.)]))")


def markdown_text(text: object, *, lines: bool = False) -> str:
    """``text`` shown as itself in Markdown (Streamlit, reports): what Markdown or HTML would act on
    is escaped, so a name like ``![x](http://host/p.png)`` or ``<img onerror=...>`` is displayed,
    never fetched or run. Newlines become spaces (a table cell), or with ``lines`` line breaks."""
    if lines:
        return "  \n".join(markdown_text(line) for line in str(text).splitlines())
    flat = " ".join(str(text).splitlines())
    out = []
    for c in flat:
        if c == "<":
            out.append("&lt;")
        elif c == ">":
            out.append("&gt;")
        elif c == "&":
            out.append("&amp;")
        elif c in _MD_SPECIAL:
            out.append("\\" + c)
        else:
            out.append(c)
    return _MD_LINE_START.sub(
        lambda m: m.group(1) + (f"\\{m.group(2)}" if m.group(2) else f"{m.group(3)}\\{m.group(4)}"), "".join(out)
    )


def mentioned(names, text: str) -> list[str]:
    """The names that occur in ``text`` (lower-case) as whole words: the longest first ("Anna" before "Ann"),
    then in the order the text mentions them. Never in a set's order, which changes with Python's hash seed
    ("would Emeka be Alice" asked about Emeka in one run and Alice in the next)."""
    found = []
    for name in set(names):
        m = re.search(rf"\b{re.escape(name.lower())}\b", text)
        if m:
            found.append((-len(name), m.start(), name))
    return [name for _, _, name in sorted(found)]
