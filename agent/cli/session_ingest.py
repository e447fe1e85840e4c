"""``facelens session ingest FILE... [--ray [ADDRESS]] [--workers N] [--json]``: one or many recordings.

One file prints what it always printed (a line, or the session's JSON); several print a line per file
and a summary, and exit 1 when any failed. Files already stored (same content) are skipped.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from facelens.agent.cli import Command, print_json
from facelens.agent.cli.options import add_json_flag


class _Lines:
    """Progress as lines on stderr (pipes, logs): one file's line every 10% (long files only), as
    before; with several files, a line when each starts and a step every 25%."""

    def __init__(self, many: bool) -> None:
        self.many = many
        self.next: dict[int, float] = {}
        self.names: dict[int, str] = {}
        self.t0 = time.perf_counter()

    def started(self, index: int, file: str, duration: float) -> None:
        self.names[index] = file
        if self.many:
            print(f"ingest: {file}: started ({duration:.0f} s of recording)", file=sys.stderr, flush=True)
            self.next[index] = 0.25
        elif duration >= 30:
            self.next[index] = 0.1

    def progress(self, index: int, fraction: float, message: str) -> None:
        step = 0.25 if self.many else 0.1
        if index not in self.next or not (fraction >= self.next[index] or message == "transcribing"):
            return
        who = f"{self.names[index]}: " if self.many else ""
        print(
            f"ingest: {who}{fraction:4.0%} {message} ({time.perf_counter() - self.t0:.0f} s)",
            file=sys.stderr,
            flush=True,
        )
        self.next[index] = fraction + step if message != "transcribing" else 2.0

    def finished(self, index: int, result) -> None:  # type: ignore[no-untyped-def]
        self.next.pop(index, None)


class _Bars:
    """A progress bar per file on a terminal (tqdm), each closed with its outcome."""

    def __init__(self, total: int) -> None:
        from tqdm import tqdm

        self.tqdm, self.total = tqdm, total
        self.bars: dict[int, object] = {}
        self.free = list(range(total))

    def started(self, index: int, file: str, duration: float) -> None:
        slot = self.free.pop(0) if self.free else len(self.bars)
        self.bars[index] = self.tqdm(
            total=100,
            desc=file[-40:],
            position=slot,
            leave=False,
            file=sys.stderr,
            dynamic_ncols=True,
            bar_format="{desc} {percentage:3.0f}%|{bar}| {postfix}",
        )
        self.bars[index].slot = slot  # type: ignore[attr-defined]

    def progress(self, index: int, fraction: float, message: str) -> None:
        bar = self.bars.get(index)
        if bar is not None:
            bar.n = int(min(1.0, max(0.0, fraction)) * 100)  # type: ignore[attr-defined]
            bar.set_postfix_str(message, refresh=True)  # type: ignore[attr-defined]

    def finished(self, index: int, result) -> None:  # type: ignore[no-untyped-def]
        bar = self.bars.pop(index, None)
        if bar is not None:
            self.free.append(bar.slot)  # type: ignore[attr-defined]
            bar.close()  # type: ignore[attr-defined]
        self.tqdm.write(f"ingest: {result.file}: {_outcome(result)}", file=sys.stderr)


def _terminal_width() -> int:
    """The width of the terminal stderr draws on; 0 on a pipe, a file or a terminal of no size."""
    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns if sys.stderr.isatty() else 0
    except (OSError, ValueError):
        return 0


def _outcome(r) -> str:  # type: ignore[no-untyped-def]
    if r.status == "ingested":
        return f"session {r.session_id} ({r.duration:.1f} s in {r.seconds:.1f} s)"
    if r.status == "skipped":
        return f"skipped: already stored as session {r.session_id}" if r.session_id else "skipped"
    return f"FAILED: {r.error}"


def _line(rec) -> str:  # type: ignore[no-untyped-def]
    return (
        f"session {rec.session_id}: {rec.duration:.1f} s, {len(rec.transcript)} utterances, {len(rec.people)} face tracks, "
        f"ingested in {rec.ingest_seconds:.1f} s"
    )


def cmd_ingest(args: argparse.Namespace) -> int:
    """analyse video or audio files and store them as sessions (several at once with --ray)"""
    from facelens.agent.sessions import batch as session_batch
    from facelens.agent.sessions import store
    from facelens.tools.errors import InputError

    files = list(args.file)
    if args.ray and args.ray not in ("auto", "local") and "://" not in args.ray and Path(args.ray).is_file():
        files.insert(0, args.ray)  # "--ray a.mp4 b.mp4": argparse took the first file for the address
        args.ray = ""
    if args.workers is not None and args.ray is None:
        raise InputError(
            "--workers sets how many Ray workers run at once; it needs --ray.",
            hint="e.g. facelens session ingest *.mp4 --ray --workers 2",
        )
    many = len(files) > 1
    events = _Bars(len(files)) if _terminal_width() > 0 else _Lines(many)
    use_ray = args.ray is not None
    result = session_batch.ingest_many(
        files,
        fps=args.fps,
        replace=args.replace,
        session_id=args.id,
        ray=use_ray,
        address=args.ray or None,
        workers=args.workers,
        events=events,
    )
    if not many:
        r = result.files[0]
        if r.status == "failed":  # as before: the one error, exit 2 (JSON errors keep their shape)
            if args.json:
                print_json({"error": r.kind or "error", "message": r.error, "hint": r.hint})
            print(f"facelens: {r.error}" + (f" {r.hint}" if r.hint else ""), file=sys.stderr)
            return 2
        rec = r.record if r.status == "ingested" else store.load(r.session_id)  # type: ignore[arg-type]
        if args.json:
            if r.status == "skipped":  # the stored session's JSON, as if just ingested; the note on stderr
                print(
                    f"facelens: {r.file} is already stored as session {r.session_id}; skipped. {r.hint or ''}".rstrip(),
                    file=sys.stderr,
                )
            print_json(rec.to_output())
            return 0
        if r.status == "skipped":
            print(f"session {rec.session_id}: already ingested from this file (skipped; --replace ingests it again)")
            return 0
        print(_line(rec))
        if rec.has_video and rec.emotion_model is None:
            print("note: facial emotion not recorded (the emotion model is not installed)")
        return 0
    if args.json:
        print_json(result.to_output())
    else:
        for r in result.files:
            print(
                _line(r.record)
                if r.status == "ingested"
                else f"{r.file}: {_outcome(r)}" + (f" {r.hint}" if r.status == "failed" and r.hint else "")
            )
        how = f"ray, {result.workers} worker(s)" if result.engine == "ray" else "one after another"
        print(
            f"{len(result.files)} files: {result.count('ingested')} ingested, {result.count('skipped')} skipped, {result.count('failed')} failed "
            f"in {result.wall_seconds:.1f} s ({how}); {result.recording_seconds:.0f} s of recording, {result.rate:.2f} recording-s per s"
        )
    return 1 if result.count("failed") else 0


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "file", metavar="FILE", nargs="+", help="recordings; files already stored (same content) are skipped"
    )
    p.add_argument("--id", default=None, help="session id, for a single FILE (default: from the file name)")
    p.add_argument("--fps", type=float, default=2.0, help="video frames sampled per second (default 2)")
    p.add_argument(
        "--replace",
        action="store_true",
        help="ingest again files already stored (into the same session), or overwrite --id",
    )
    p.add_argument(
        "--ray",
        nargs="?",
        const="",
        default=None,
        metavar="ADDRESS",
        help="analyse each recording as a Ray task: a local Ray without ADDRESS, or a cluster (auto, ray://HOST:10001)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="with --ray: recordings analysed at once (default: the cluster's CPUs)",
    )
    add_json_flag(
        p,
        help='one FILE: {"session_id", "duration", "transcript", "timeline", "people"}; several: {"files": [...], "ingested", "skipped", "failed", ...}',
    )


#: ``facelens session ingest``, the first command of the ``session`` group (facelens.agent.cli.session)
INGEST_COMMAND = Command.of(cmd_ingest, _arguments)
