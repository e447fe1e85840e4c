"""Checks of the paraphrase evaluation (eval/questions.py): is a reply right for the generated scene?"""

from __future__ import annotations

import re

from facelens.tools.schema import FaceAnalysis


def starts(text: str, *prefixes: str) -> bool:
    """Does ``text`` begin with one of ``prefixes`` (whole words, leading spaces allowed)?"""
    return bool(re.match(r"\s*(?:" + "|".join(prefixes) + r")\b", text))


def best_face(faces: list[FaceAnalysis], key: str) -> int:
    if key in ("oldest", "youngest"):
        return (max if key == "oldest" else min)(faces, key=lambda f: f.age).id
    return max(faces, key=lambda f: f.emotion.scores[key]).id


def ids_check(ids: tuple[int, ...]):
    return lambda r: tuple(r.faces) == tuple(ids)


def count_check(n: int, hits: tuple[int, ...] | None):
    """The reply gives the right count. (Fixed: "None of ..." is right only when nobody matches.)"""
    if hits is None:
        return lambda r: re.search(rf"\b{n} (?:people|person)\b", r.text) is not None
    if not hits:
        return lambda r: starts(r.text, "None", "No one", "Nobody", "No", "0 of")
    return lambda r: starts(r.text, f"{len(hits)} of") and tuple(r.faces) == hits


def count_yes_no(question: str, n: int):
    """Yes/no about the number of people: "are there more than 3 people?", "is it just one person?"."""
    m = re.search(
        r"\b(more than|over|fewer than|less than|at least|exactly|only|just)?\s*(\d+|one)\s+(?:people|person|ppl)\b",
        question,
    )
    k = 1 if m.group(2) == "one" else int(m.group(2))
    op = m.group(1) or "exactly"
    truth = {"more than": n > k, "over": n > k, "fewer than": n < k, "less than": n < k, "at least": n >= k}.get(
        op, n == k
    )

    def check(r) -> bool:
        return starts(r.text, "Yes" if truth else "No") and re.search(rf"\b{n} (?:people|person)\b", r.text) is not None

    return check


def yes_no_check(hits: tuple[int, ...], about: tuple[int, ...] | None = None):
    def check(r) -> bool:
        if hits:
            return starts(r.text, "Yes") and tuple(r.faces) == tuple(hits)
        return starts(r.text, "No") and (about is None or tuple(r.faces) in ((), tuple(about)))

    check.yes_no = True  # type: ignore[attr-defined]
    return check
