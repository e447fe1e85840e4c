"""The quality gate: one check per kind of input, each with its targets (``facelens eval suite``).

The suite is a small registry of :class:`Domain` s. A domain has a name, a function that measures it
on the shared data (``../shared/data``) and returns its metrics, the targets some of those metrics must
meet, and a ``quick`` mode (a fixed, smaller subset for CI). Add a domain with :func:`register`::

    register(Domain("text-emotion", "MELD utterances", run=my_fn, targets={"accuracy": 0.55},
                    needs=("meld/dev.csv",)))

``my_fn(data_root: Path, quick: bool) -> dict[str, float]``. A target is a minimum unless listed in
``maximum`` (for errors and times). The built-in domains live in :mod:`facelens.eval.domains` and the
``facelens.eval.domains_*`` modules, which import only :mod:`facelens.eval.registry`; a new
``domains_NAME.py`` module there is found and imported by :func:`domains`.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from facelens.eval import registry
from facelens.eval.registry import DEFAULT_DATA, Domain, RunFn, register  # noqa: F401 - the suite's API, defined beside the registry
from facelens.tools.errors import InputError, NotFoundError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DomainResult:
    """What one domain measured."""

    name: str
    metrics: dict[str, float]  # metric -> value
    targets: dict[str, float]  # metric -> target
    failed: tuple[str, ...]  # metrics that missed their target
    seconds: float  # wall time of the domain
    skipped: str = ""  # why the domain did not run (missing data), else ""
    maximum: frozenset[str] = frozenset()

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict:
        out: dict = dict(self.metrics)
        out["target"] = {m: (f"<= {t}" if m in self.maximum else t) for m, t in self.targets.items()}
        out["ok"] = self.ok
        out["seconds"] = round(self.seconds, 1)
        if self.skipped:
            out["skipped"] = self.skipped
        return out


@dataclass(frozen=True)
class SuiteResult:
    """Every domain's result; ``ok`` when no target was missed."""

    domains: tuple[DomainResult, ...]
    quick: bool
    data_root: str

    @property
    def ok(self) -> bool:
        return all(d.ok for d in self.domains)

    def to_dict(self) -> dict:
        return {d.name: d.to_dict() for d in self.domains}


@cache
def _import_domain_modules() -> None:
    """Import ``facelens.eval.domains`` and every ``facelens.eval.domains_*`` module (each registers its
    domains at import), in name order; ``domains`` places its photo companions (``domains_expressions``,
    ``domains_wild``) after its own photo domains by importing them itself."""
    import facelens.eval

    for info in sorted(pkgutil.iter_modules(facelens.eval.__path__), key=lambda m: m.name):
        if info.name == "domains" or info.name.startswith("domains_"):
            importlib.import_module(f"facelens.eval.{info.name}")


def domains() -> list[Domain]:
    """The registered domains, in registration order (the built-in domain modules imported first)."""
    _import_domain_modules()
    return registry.registered()


def _check(metrics: dict[str, float], targets: dict[str, float], maximum: frozenset[str]) -> tuple[str, ...]:
    failed = []
    for m, t in targets.items():
        v = metrics.get(m)
        if v is None or (v > t if m in maximum else v < t):
            failed.append(m)
    return tuple(failed)


def run_domain(domain: Domain, data_root: Path, quick: bool = False) -> DomainResult:
    """Measure one domain; a domain whose data is absent is skipped (not failed)."""
    targets = domain.quick_targets if quick and domain.quick_targets is not None else domain.targets
    missing = [p for p in domain.needs if not (data_root / p).exists()]
    if missing:
        return DomainResult(domain.name, {}, targets, (), 0.0, f"no {data_root / missing[0]}", domain.maximum)
    t0 = time.perf_counter()
    metrics = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in domain.run(data_root, quick).items()}
    return DomainResult(
        domain.name,
        metrics,
        targets,
        _check(metrics, targets, domain.maximum),
        time.perf_counter() - t0,
        "",
        domain.maximum,
    )


def run_suite(
    data_root: str | Path | None = None,
    *,
    quick: bool = False,
    only: list[str] | None = None,
    progress: Callable[[DomainResult], None] | None = None,
) -> SuiteResult:
    """Run every registered domain (or ``only`` those) on the data under ``data_root``.

    Raises:
        InputError: the data folder does not exist.
        NotFoundError: an unknown domain name in ``only``.
    """
    root = Path(data_root) if data_root else DEFAULT_DATA
    if not root.is_dir():
        raise InputError(
            f"No evaluation data at {root}.",
            hint="Pass --data DIR (the shared data folder with wider/, faces/, utkface/, fer2013/).",
        )
    known = domains()
    names = [d.name for d in known]
    for n in only or []:
        if n not in names:
            raise NotFoundError(f"Unknown suite domain '{n}'. Choose from: {', '.join(names)}.")
    results = []
    for d in known:
        if only and d.name not in only:
            continue
        log.info("eval suite: %s", d.name)
        res = run_domain(d, root, quick)
        results.append(res)
        if progress:
            progress(res)
    return SuiteResult(tuple(results), quick, str(root))
