"""The quality suite's registry: :class:`Domain`, :func:`register`, and where the research data lives.

Domain modules (``facelens.eval.domains`` and every ``facelens.eval.domains_*`` module) import only
this module and call :func:`register` at import; :func:`facelens.eval.suite.domains` imports them and
runs what they registered. Nothing here imports a domain module, so no module imports back its importer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

#: where the research data lives relative to the repository root (a fresh clone has none)
DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

RunFn = Callable[[Path, bool], dict[str, float]]


@dataclass(frozen=True)
class Domain:
    """One kind of input the product must handle, and how it is checked."""

    name: str  # short key, e.g. "crowds"
    description: str  # what is measured, on which data (one line)
    run: RunFn  # (data_root, quick) -> {metric: value}
    targets: dict[str, float] = field(default_factory=dict)  # metric -> minimum (or maximum, see below)
    maximum: frozenset[str] = frozenset()  # metrics whose target is a maximum (errors, seconds)
    needs: tuple[str, ...] = ()  # paths under the data root the domain reads
    quick: str = ""  # what --quick measures instead (one line)
    quick_targets: dict[str, float] | None = None  # targets for the quick subset, when they differ


_DOMAINS: dict[str, Domain] = {}


def register(domain: Domain) -> None:
    """Add (or replace) a domain of the suite."""
    _DOMAINS[domain.name] = domain


def registered() -> list[Domain]:
    """The domains registered so far, in registration order (see :func:`facelens.eval.suite.domains`)."""
    return list(_DOMAINS.values())
