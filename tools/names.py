"""People's names: one tidying rule, one notion of "the same name", and characters refused.

A name is tidied once (Unicode NFC, whitespace runs collapsed to one space) and two names are the
same person when their tidied forms are equal without regard to case. Control, bidi-override,
zero-width and other invisible characters are refused: they make two names look alike, or make
text display in another order than it is stored.
"""

from __future__ import annotations

import unicodedata

from facelens.tools.errors import InputError, NotFoundError

#: names that mean something else in answers
RESERVED = {"unknown"}
MAX_CHARS = 100


def tidy(name: str) -> str:
    """The tidying rule: Unicode NFC, runs of whitespace to one space, trimmed."""
    return " ".join(unicodedata.normalize("NFC", str(name)).split())


def check_name(name: str) -> str:
    """Validate and tidy a person's name: Unicode NFC, whitespace runs collapsed to one space.

    Raises:
        InputError: empty, reserved, too long, or holding control, bidi-override or zero-width
            characters (they make two names look alike, or text display in another order).
    """
    clean = tidy(name)
    if not clean:
        raise InputError("A person's name cannot be empty.")
    if clean.casefold() in RESERVED:
        raise InputError(f"'{clean}' is reserved; choose another name.")
    hidden = sorted({f"U+{ord(c):04X}" for c in clean if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn")})
    if hidden:
        raise InputError(
            f"The name holds invisible or control characters ({', '.join(hidden)}).",
            hint="Type the name with visible characters only (no bidi overrides or zero-width characters).",
        )
    if len(clean) > MAX_CHARS:
        raise InputError(f"A name must be at most {MAX_CHARS} printable characters.")
    return clean


def name_key(name: str) -> str:
    """What makes two names the same person: the tidied name, case-folded."""
    return tidy(name).casefold()


def one_person(name: str, names: list[str]) -> str:
    """The one enrolled name that ``name`` means, among the enrolled spellings with its key.

    Raises:
        NotFoundError: nobody has that name. InputError: several spellings match and none exactly.
    """
    if not names:
        raise NotFoundError(f"No one called '{tidy(name)}' is in the gallery.", hint="See who is enrolled with: facelens gallery list")
    if len(names) > 1:
        exact = [n for n in names if n == tidy(name)]
        if len(exact) != 1:
            raise InputError(
                f"'{tidy(name)}' matches {len(names)} people: {', '.join(repr(n) for n in names)}.",
                hint="Remove one at a time by its exact name (see facelens gallery list).",
            )
        return exact[0]
    return names[0]
