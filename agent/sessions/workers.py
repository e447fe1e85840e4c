"""What a batch ingest's driver (:mod:`facelens.agent.sessions.batch`) and its Ray workers
(:mod:`facelens.agent.sessions.ray`) share: a failed analysis sent back as a value, how many workers to
start, and the settings a worker gets from the driver."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from facelens.tools.errors import FacelensError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Failure:
    """An analysis that raised (sent back by a worker instead of an exception, so it keeps its kind)."""

    kind: str
    message: str
    hint: str | None


def failure(exc: BaseException) -> Failure:
    """The :class:`Failure` of an analysis that raised ``exc`` (a facelens error keeps its kind and hint)."""
    if isinstance(exc, FacelensError):
        return Failure(exc.kind, exc.message, exc.hint)
    log.debug("analysis failed", exc_info=exc)
    return Failure(
        "unexpected", f"unexpected error: {type(exc).__name__}: {exc}", "Rerun with --debug (or -v) for details."
    )


def default_workers(cpus: float, files: int) -> int:
    """One worker per CPU of the cluster, at most one per file."""
    return max(1, min(int(cpus) or 1, files))


def forwarded_environment() -> dict[str, str]:
    """The settings a worker needs to analyse like the driver (FACELENS_*, not the store's URL:
    workers do not touch the store)."""
    return {k: v for k, v in os.environ.items() if k.startswith("FACELENS_") and k != "FACELENS_SESSIONS_URL"}
