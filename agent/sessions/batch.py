"""Ingest many recordings in one command: one after another, or as Ray tasks (a local Ray, or a
cluster at ``auto`` / ``ray://host:10001``).

The driver (this process) probes, hashes and claims every file first, so a re-run skips files already
stored and two drivers never analyse the same file. Workers only analyse: each is a Ray actor that
keeps its speech model, and the face and emotion models cached in its process, from one recording to
the next. The driver then names the face tracks from its own gallery (the gallery never leaves this
machine) and writes each session in one transaction. A file that fails is reported and its claim
released; the others still land. Ctrl-C stops the workers and releases the claims: a session is
written whole or not at all.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from facelens.agent.sessions import ingest as sessions
from facelens.agent.sessions import store
from facelens.agent.sessions.store import SessionRecord
from facelens.agent.sessions.workers import Failure, default_workers, failure, forwarded_environment  # noqa: F401 - the last two: also batch.*
from facelens.tools import faces, media
from facelens.tools.errors import FacelensError, InputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileResult:
    """What happened to one file of a batch."""

    file: str  # the path as given
    status: str  # "ingested", "skipped" (already stored, or the same content twice) or "failed"
    session_id: str | None = None  # the stored session (ingested or skipped)
    duration: float = 0.0  # seconds of recording (0 when the file could not be read)
    seconds: float = 0.0  # wall-clock seconds from the start of its analysis to its stored session
    error: str | None = None  # failed: what went wrong
    hint: str | None = None  # failed or skipped: what to do
    kind: str | None = None  # failed: the error's kind, as in the CLI's JSON errors ("bad_media", ...)
    record: SessionRecord | None = field(default=None, repr=False)  # ingested: the stored session

    def to_output(self) -> dict:
        """The file's row in the batch's JSON: every field but ``kind`` and ``record``."""
        return {name: getattr(self, name) for name in OUTPUT_FIELDS}


#: the fields of a :class:`FileResult` in the batch's JSON, in order
OUTPUT_FIELDS = ("file", "status", "session_id", "duration", "seconds", "error", "hint")


@dataclass(frozen=True)
class BatchResult:
    files: list[FileResult]
    engine: str  # "sequential" or "ray"
    workers: int  # recordings analysed at once
    wall_seconds: float  # the whole command, claims and stores included

    def count(self, status: str) -> int:
        return sum(f.status == status for f in self.files)

    @property
    def recording_seconds(self) -> float:
        """The length of the recordings ingested in this run."""
        return round(sum(f.duration for f in self.files if f.status == "ingested"), 2)

    @property
    def rate(self) -> float:
        """Recording-seconds ingested per wall-clock second."""
        return round(self.recording_seconds / max(self.wall_seconds, 1e-6), 3)

    def to_output(self) -> dict:
        return {
            "files": [f.to_output() for f in self.files],
            "ingested": self.count("ingested"),
            "skipped": self.count("skipped"),
            "failed": self.count("failed"),
            "engine": self.engine,
            "workers": self.workers,
            "wall_seconds": self.wall_seconds,
            "recording_seconds": self.recording_seconds,
            "recording_seconds_per_second": self.rate,
        }


class Events(Protocol):
    """What a progress display is told (indices are positions in the list of files)."""

    def started(self, index: int, file: str, duration: float) -> None: ...
    def progress(self, index: int, fraction: float, message: str) -> None: ...
    def finished(self, index: int, result: FileResult) -> None: ...


class _Quiet:
    def started(self, index: int, file: str, duration: float) -> None:
        pass

    def progress(self, index: int, fraction: float, message: str) -> None:
        pass

    def finished(self, index: int, result: FileResult) -> None:
        pass


@dataclass(frozen=True)
class _Job:
    index: int
    path: str
    content: str  # the file's SHA-256, claimed
    session_id: str
    duration: float


def ingest_many(
    files: Sequence[str | Path],
    *,
    fps: float = 2.0,
    detector: str = faces.DEFAULT_DETECTOR,
    replace: bool = False,
    session_id: str | None = None,
    ray: bool = False,
    address: str | None = None,
    workers: int | None = None,
    ship: bool | None = None,
    events: Events | None = None,
    transcriber=None,
) -> BatchResult:  # type: ignore[no-untyped-def]
    """Ingest recordings into the session store; one failing file does not stop the others.

    Args:
        files: video or audio files.
        replace: ingest files already stored again, into the sessions that hold them.
        session_id: the id for a single file (default: from the file name).
        ray: analyse on Ray; ``address`` None for a Ray started here, ``auto`` or ``ray://host:10001``.
        workers: recordings analysed at once on Ray (default: the cluster's CPUs, at most one per file).
        ship: send each file's bytes through Ray's object store (default: only to a cluster at an
            address, whose machines may not see this file system).
        events: told when each file starts, progresses and ends (a progress display).

    Raises:
        InputError: ``session_id`` with several files, or no files.
        DependencyError: ``ray`` without Ray installed.
        KeyboardInterrupt: after releasing every claim not yet stored.
    """
    if not files:
        raise InputError("No files to ingest.", hint="e.g. facelens session ingest call1.mp4 call2.mp4")
    if session_id and len(files) > 1:
        raise InputError(
            "--id names one session, but several files were given.", hint="Give one FILE with --id, or drop --id."
        )
    if workers is not None and workers < 1:
        raise InputError(f"--workers must be at least 1, not {workers}.")
    if ray:
        from facelens.agent.sessions.ray import require_ray

        require_ray()  # DependencyError now, before any file is claimed
    events = events or _Quiet()
    t0 = time.perf_counter()
    results: dict[int, FileResult] = {}
    jobs: list[_Job] = []
    pool = None
    used = 1
    embedding = sessions.identity_embedding()  # the driver's gallery decides how faces are tracked
    try:
        for i, f in enumerate(files):
            job = _prepare(i, str(f), session_id, replace, jobs)
            if isinstance(job, FileResult):
                results[i] = job
                events.finished(i, job)
            else:
                jobs.append(job)
        if ray and jobs:
            from facelens.agent.sessions.ray import RayPool

            pool = RayPool(
                address=address,
                workers=workers,
                files=len(jobs),
                fps=fps,
                detector=detector,
                ship=ship,
                embedding=embedding,
            )
            used, runs = pool.workers, pool.run(jobs, events)
        else:
            runs = _sequential(jobs, fps, detector, transcriber, events, embedding)
        for job, out, began in runs:
            results[job.index] = _store(job, out, began, replace)
            events.finished(job.index, results[job.index])
    finally:
        if pool is not None:
            pool.close()
        for job in jobs:  # Ctrl-C or a crash of the driver: no claim outlives this command
            if job.index not in results:
                store.release(job.content)
    ordered = [results[i] for i in sorted(results)]
    return BatchResult(ordered, "ray" if ray else "sequential", used if jobs else 0, round(time.perf_counter() - t0, 2))


def _prepare(index: int, path: str, session_id: str | None, replace: bool, jobs: list[_Job]) -> _Job | FileResult:
    """Probe, hash and claim one file (cheap: the container header and one read of the bytes)."""
    try:
        info = media.probe(path)
        content = store.content_key(path)
    except FacelensError as exc:
        return FileResult(path, "failed", error=exc.message, hint=exc.hint, kind=exc.kind)
    except OSError as exc:
        return FileResult(
            path,
            "failed",
            error=f"Cannot read {path}: {exc.strerror or exc}.",
            hint="Check the path and its permissions.",
            kind="bad_media",
        )
    twin = next((j for j in jobs if j.content == content), None)
    if twin is not None:
        return FileResult(
            path,
            "skipped",
            twin.session_id,
            info.duration,
            hint=f"The same content as {twin.path}, earlier in this command.",
        )
    try:
        if replace:
            sid = store.claim(content, session_id or store.find_content(content), path, replace=True)
        else:
            sid = store.claim(content, session_id, path, unless_stored=True)
    except store.AlreadyStored as exc:
        return FileResult(path, "skipped", exc.session_id, info.duration, hint=exc.hint)
    except FacelensError as exc:  # being ingested by another process, an id taken, a store error
        return FileResult(path, "failed", error=exc.message, hint=exc.hint, kind=exc.kind)
    return _Job(index, path, content, sid, info.duration)


def _sequential(
    jobs: list[_Job], fps: float, detector: str, transcriber, events: Events, embedding: str
) -> Iterator[tuple[_Job, object, float]]:  # type: ignore[no-untyped-def]
    from facelens.tools.speech import Transcriber

    transcriber = transcriber or Transcriber()  # one model for every file
    for job in jobs:
        began = time.perf_counter()
        events.started(job.index, job.path, job.duration)
        try:
            out: object = sessions.analyse(
                job.path,
                job.session_id,
                fps=fps,
                detector=detector,
                transcriber=transcriber,
                name_people=False,
                embedding=embedding,
                progress=lambda f, m, i=job.index: events.progress(i, f, m),
            )
        except Exception as exc:  # a failed file is reported; the others still run (Ctrl-C is not an Exception)
            out = failure(exc)
        yield job, out, began


def _store(job: _Job, out: object, began: float, replace: bool) -> FileResult:
    """Write an analysis as a session, on the driver; a failure releases the file's claim."""
    if isinstance(out, Failure):
        store.release(job.content)
        return FileResult(
            job.path,
            "failed",
            duration=job.duration,
            seconds=round(time.perf_counter() - began, 2),
            error=out.message,
            hint=out.hint,
            kind=out.kind,
        )
    done: sessions.Analysis = out  # type: ignore[assignment]
    rec = done.record.model_copy(
        update={
            "people": sessions.name_tracks(done.record.people, done.track_means, done.embedding),
            "source": job.path,
        }
    )
    try:
        store.save(rec, done.seconds, replace=replace, claim_key=job.content)
    except FacelensError as exc:
        store.release(job.content)
        return FileResult(job.path, "failed", duration=job.duration, error=exc.message, hint=exc.hint, kind=exc.kind)
    log.info(
        "ingested %s as %s (%.1f s of recording in %.1f s)", job.path, rec.session_id, rec.duration, rec.ingest_seconds
    )
    return FileResult(
        job.path, "ingested", rec.session_id, rec.duration, round(time.perf_counter() - began, 2), record=rec
    )
