"""How answers, reports and the UI write a time in a session: ``m:ss`` and ``m:ss–m:ss``."""

from __future__ import annotations


def mmss(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 60}:{s % 60:02d}"


def span(start: float, end: float) -> str:
    """ "0:05–0:09", or just "0:05" when both ends round to the same second."""
    a, b = mmss(start), mmss(end)
    return a if a == b else f"{a}–{b}"
