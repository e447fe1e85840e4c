"""Recorded sessions: one SQLite database under FACELENS_HOME (``sessions.sqlite``) by default, or a
PostgreSQL database shared by several machines (``FACELENS_SESSIONS_URL``; see ``session_db``).

Tables: ``sessions`` (one row each, the full record as JSON plus columns to sort by, and the content
hash of the file it was made from, so a batch run again skips it), ``seconds``
(per-second smoothed emotion scores per face track, for plots and questions), ``claims`` (ingests
in progress: a file's content hash and the session id it will get, so two ingests of one file at
once do not both do the work). No face embeddings are stored: tracks keep only an identity name
when the gallery knew the face. Each change is one transaction (SQLite's journal is
recovered at open; PostgreSQL rolls back what a dead client left); SQLite's ``secure_delete`` overwrites
deleted rows and PostgreSQL's ``VACUUM FULL`` rewrites the table after a name is cleared, so removing a
session, or a person's name from its tracks, leaves nothing of them in the store's live files.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import Field

from facelens.agent.sessions import db as session_db
from facelens.tools import config
from facelens.tools.errors import InputError, NotFoundError
from facelens.tools.schema import Result

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
SCHEMA_VERSION = 1


class SessionSegment(Result):
    start: float  # seconds from the start of the recording
    end: float
    text: str
    emotion: str = "neutral"  # what the words express (text-emotion lexicon)
    valence: float = 0.0  # of the words, -1..+1
    cues: list[str] = Field(default_factory=list)  # voice cues of this utterance (raised voice, fast, ...)


class TimelineEntry(Result):
    start: float  # seconds
    end: float
    emotion: str | None  # smoothed facial emotion label; None when no emotion model is installed
    confidence: float | None  # mean probability of the label over the interval
    track: int  # face track id (stable across the session: the same face keeps its id)


class TrackInfo(Result):
    track: int  # id used in the timeline
    name: str | None = None  # gallery identity, when enrolled and matched
    first_seen: float  # seconds
    last_seen: float
    seconds: float  # how long the face was visible (sampled frames x sampling interval)
    dominant_emotion: str | None = None  # most frequent smoothed label


class SessionRecord(Result):
    session_id: str
    source: str  # the ingested file's path
    created: str  # ISO time of ingest (UTC)
    duration: float  # seconds
    has_video: bool
    has_audio: bool
    fps: float  # frames sampled per second
    transcript: list[SessionSegment] = Field(default_factory=list)
    timeline: list[TimelineEntry] = Field(default_factory=list)
    people: list[TrackInfo] = Field(default_factory=list)
    emotion_model: str | None = None  # None: the facial-emotion model was not installed at ingest
    speech_model: str | None = None
    ingest_seconds: float = 0.0  # wall-clock time the ingest took

    @classmethod
    def of_video(
        cls, session_id: str, duration: float, fps: float, *, created: str | None = None, **fields: Any
    ) -> SessionRecord:
        """The session of a video with sound, ``SESSION_ID.mp4``, stored at ``created`` (default: now): a record
        made without an ingest (generated sessions of the evaluation, tests); ``fields`` are the other fields
        (``people``, ``timeline``, ``transcript``, ...)."""
        return cls(
            session_id=session_id,
            source=f"{session_id}.mp4",
            created=created or now(),
            duration=duration,
            has_video=True,
            has_audio=True,
            fps=fps,
            **fields,
        )

    def to_output(self) -> dict:
        """The CLI's --json shape: {"session_id", "duration", "transcript", "timeline", "people"}."""
        return {
            "session_id": self.session_id,
            "duration": self.duration,
            "transcript": [{"start": s.start, "end": s.end, "text": s.text} for s in self.transcript],
            "timeline": [t.model_dump() for t in self.timeline],
            "people": [p.model_dump() for p in self.people],
        }


class SecondScores(Result):
    track: int
    t: float  # start of the second
    label: str
    confidence: float
    scores: dict[str, float]


def db_path() -> Path:
    """The default SQLite file (used unless FACELENS_SESSIONS_URL names another store)."""
    return config.home() / "sessions.sqlite"


def backend(home: Path | None = None) -> session_db.SQLiteStore | session_db.PostgresStore:
    """The configured store: SQLite under FACELENS_HOME, or PostgreSQL (FACELENS_SESSIONS_URL); ``home``:
    the SQLite file under that home instead (:func:`facelens.agent.sessions.db.current`)."""
    return session_db.current(home)


def _connect() -> session_db.SQLiteConnection | session_db.PostgresConnection:
    return backend().connect()


def _exists(home: Path | None = None) -> bool:
    return backend(home).exists()


@contextmanager
def _db(home: Path | None = None) -> Iterator[session_db.SQLiteConnection | session_db.PostgresConnection]:
    """A connection, closed after use; a damaged file or a lost server is a GalleryError with a
    hint, not a crash. ``home``: see :func:`backend`."""
    where = backend(home)
    con = _connect() if home is None else where.connect()  # _connect: where the crash tests inject faults
    try:
        yield con
    except where.error as exc:  # type: ignore[misc]
        if not where.is_damage(exc):
            raise
        raise where.damaged(exc) from exc
    finally:
        try:
            con.close()
        except Exception:  # closing a broken connection must not hide the first error
            pass


def integrity() -> str | None:
    """None when the session store is sound (or absent), else what is wrong with it."""
    return backend().integrity()


def repair_hint() -> str:
    """What to do when :func:`integrity` finds a problem, for the configured store."""
    return backend().repair_hint()


#: the word for every stored session (``--session all``, the UI's scope): never a session's own id
RESERVED_ID = "all"


def check_id(session_id: str) -> str:
    if not _ID.match(session_id or ""):
        raise InputError(
            f"Invalid session id {session_id!r}.",
            hint="Use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit.",
        )
    return session_id


def now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def save(
    record: SessionRecord,
    seconds: list[SecondScores],
    replace: bool = False,
    claim_key: str | None = None,
    *,
    home: Path | None = None,
) -> None:
    """Store a session (and drop its ingest claim, in the same transaction). An existing id is an
    error unless ``replace``. ``claim_key`` (the file's :func:`content_key`) is kept with the session,
    so a batch ingest run again skips the file. ``home``: see :func:`backend`."""
    check_id(record.session_id)
    with _db(home) as con, con:
        con.lock()
        if claim_key:
            con.execute("DELETE FROM claims WHERE key = ?", ("sha:" + claim_key,))
        if con.execute("SELECT 1 FROM sessions WHERE id = ?", (record.session_id,)).fetchone():
            if not replace:
                raise InputError(
                    f"A session called '{record.session_id}' already exists.",
                    hint=f"Choose another --id, or remove it: facelens session remove {record.session_id}",
                )
            con.execute("DELETE FROM sessions WHERE id = ?", (record.session_id,))
        con.execute(
            "INSERT INTO sessions (id, source, created, duration, record, version, content) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                record.session_id,
                record.source,
                record.created,
                record.duration,
                record.model_dump_json(),
                SCHEMA_VERSION,
                claim_key,
            ),
        )
        con.executemany(
            "INSERT INTO seconds (session_id, track, t, label, confidence, scores) VALUES (?, ?, ?, ?, ?, ?)",
            [(record.session_id, s.track, s.t, s.label, s.confidence, json.dumps(s.scores)) for s in seconds],
        )


def ids(*, home: Path | None = None) -> list[str]:
    if not _exists(home):
        return []
    with _db(home) as con:
        rows = con.execute("SELECT created, id FROM sessions").fetchall()
    return [r[1] for r in sorted(rows)]  # sorted here: the two databases collate text differently


def load(session_id: str, *, home: Path | None = None) -> SessionRecord:
    """Read one session. Raises NotFoundError naming the stored ids."""
    with _db(home) as con:
        row = con.execute("SELECT record FROM sessions WHERE id = ?", (session_id,)).fetchone()
    if row is None:
        known = ids(home=home)
        hint = (
            f"Stored sessions: {', '.join(known[:20])}." if known else "No sessions yet: facelens session ingest FILE"
        )
        raise NotFoundError(f"No session called '{session_id}'.", hint=hint)
    return SessionRecord.model_validate_json(row[0])


def load_all(*, home: Path | None = None) -> list[SessionRecord]:
    if not _exists(home):
        return []
    with _db(home) as con:
        rows = con.execute("SELECT created, id, record FROM sessions").fetchall()
    return [SessionRecord.model_validate_json(r[2]) for r in sorted(rows)]


def seconds(session_id: str, *, home: Path | None = None) -> list[SecondScores]:
    load(session_id, home=home)  # NotFoundError for unknown ids
    with _db(home) as con:
        rows = con.execute(
            "SELECT track, t, label, confidence, scores FROM seconds WHERE session_id = ? ORDER BY track, t",
            (session_id,),
        ).fetchall()
    return [SecondScores(track=r[0], t=r[1], label=r[2], confidence=r[3], scores=json.loads(r[4])) for r in rows]


MAX_NAME_CHARS = 60


def name_track(session_id: str, track: int, name: str | None) -> SessionRecord:
    """Give a face track of a session a name or role ("customer", "agent", "Alice"); None clears it.

    Questions can then say "when did the customer look frustrated?". Returns the updated record.
    """
    rec = load(session_id)
    known = [p.track for p in rec.people]
    if track not in known:
        raise NotFoundError(
            f"Session '{session_id}' has no face track {track}.",
            hint=f"Its tracks: {', '.join(map(str, known))}."
            if known
            else "It has no face tracks (audio only, or no face was seen).",
        )
    if name is not None:
        from facelens.tools.names import check_name, look_alike

        try:  # NFKC; invisible, blank, mixed-script and look-alike names refused, as for people
            name = check_name(name)
            look_alike(name, [p.name for p in rec.people if p.name and p.track != track])
        except InputError as exc:
            raise InputError(f"'{name}' cannot name a track: {exc.message}", hint=exc.hint) from exc
        if not name or len(name) > MAX_NAME_CHARS or not re.fullmatch(r"[\w .'-]+", name):
            raise InputError(
                f"'{name}' cannot name a track.",
                hint=f"Use up to {MAX_NAME_CHARS} letters, digits, spaces, dots, hyphens or apostrophes, e.g. customer.",
            )
        taken = [p for p in rec.people if p.name and p.name.lower() == name.lower() and p.track != track]
        if taken:
            raise InputError(
                f"Track {taken[0].track} of session '{session_id}' is already called '{taken[0].name}'.",
                hint=f"Use another name, or clear that one first: facelens session name {session_id} {taken[0].track} --clear",
            )
    people = [p.model_copy(update={"name": name}) if p.track == track else p for p in rec.people]
    rec = rec.model_copy(update={"people": people})
    with _db() as con, con:
        con.execute("UPDATE sessions SET record = ? WHERE id = ?", (rec.model_dump_json(), session_id))
    return rec


def remove(session_id: str) -> None:
    """Delete a session and everything stored with it."""
    load(session_id)
    with _db() as con, con:
        con.execute("DELETE FROM sessions WHERE id = ?", (session_id,))


def forget_name(name: str) -> list[tuple[str, int]]:
    """Clear a person's name from every face track that carries it (compared tidied and case-folded).

    Returns the (session id, track) pairs that were cleared.
    """
    if not _exists():
        return []
    from facelens.tools.names import name_key

    key = name_key(name)
    cleared: list[tuple[str, int]] = []
    with _db() as con, con:
        for sid, raw in con.execute("SELECT id, record FROM sessions").fetchall():
            rec = SessionRecord.model_validate_json(raw)
            hits = [p.track for p in rec.people if p.name and name_key(p.name) == key]
            if not hits:
                continue
            people = [p.model_copy(update={"name": None}) if p.track in hits else p for p in rec.people]
            con.execute(
                "UPDATE sessions SET record = ? WHERE id = ?",
                (rec.model_copy(update={"people": people}).model_dump_json(), sid),
            )
            cleared += [(sid, t) for t in hits]
    if cleared:
        with _db() as con:
            con.compact()  # rewrite the storage: no old page keeps the name
    return cleared


# --- claims: an ingest says what it is working on before the work ---------------------------


def content_key(path: str | Path) -> str:
    """The SHA-256 of a file's bytes (read in 1 MB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class AlreadyStored(InputError):
    """A file's content is already stored as a session (a batch ingest skips it)."""

    kind = "already_stored"

    def __init__(self, session_id: str) -> None:
        super().__init__(f"Already ingested as session '{session_id}'.", hint="Use --replace to ingest it again.")
        self.session_id = session_id


def find_content(content: str) -> str | None:
    """The id of a stored session made from a file with this :func:`content_key`, if any (sessions
    stored before content keys were kept have none)."""
    if not _exists():
        return None
    with _db() as con:
        row = con.execute("SELECT id FROM sessions WHERE content = ? ORDER BY id LIMIT 1", (content,)).fetchone()
    return row[0] if row else None


def _alive(host: str | None, pid: int | None) -> bool:
    if host != socket.gethostname() or not pid:
        return True  # another machine's claim: cannot check, so respect it
    from facelens.tools.atomic import pid_alive

    return pid_alive(pid)


def _claimed_ids() -> set[str]:
    if not _exists():
        return set()
    with _db() as con:
        return {r[0] for r in con.execute("SELECT session_id FROM claims")}


def claim(
    content: str, session_id: str | None, source: str | Path, replace: bool = False, unless_stored: bool = False
) -> str:
    """Claim a file's content and its session id for one ingest, in one transaction; claims of
    processes that died (a killed ingest) are taken over. Returns the session id.

    Raises:
        AlreadyStored: ``unless_stored`` and a stored session holds this content (batch re-runs).
        InputError: the same file, or that session id, is being ingested now by another process, or
            the id is taken (unless ``replace``).
    """
    with _db() as con, con:
        con.lock()  # one claim at a time across processes (and machines, with PostgreSQL)
        for key, _sid, host, pid in con.execute("SELECT key, session_id, host, pid FROM claims").fetchall():
            if not _alive(host, pid):
                con.execute("DELETE FROM claims WHERE key = ?", (key,))
        row = con.execute("SELECT session_id, pid FROM claims WHERE key = ?", ("sha:" + content,)).fetchone()
        if row:
            raise InputError(
                f"This file is being ingested now as session '{row[0]}' (process {row[1]}).",
                hint="Wait for that ingest to finish: facelens session list",
            )
        if unless_stored:
            row = con.execute("SELECT id FROM sessions WHERE content = ? ORDER BY id LIMIT 1", (content,)).fetchone()
            if row:
                raise AlreadyStored(row[0])
        taken = {r[0] for r in con.execute("SELECT id FROM sessions")}
        claimed = {r[0] for r in con.execute("SELECT session_id FROM claims")}
        if session_id:
            check_id(session_id)
            if session_id == RESERVED_ID:
                raise InputError(
                    f"'{RESERVED_ID}' cannot name a session: it means every session (--session all).",
                    hint="Choose another --id.",
                )
            if session_id in claimed:
                raise InputError(
                    f"A session called '{session_id}' is being ingested now by another process.",
                    hint="Choose another --id.",
                )
            if session_id in taken and not replace:
                raise InputError(
                    f"A session called '{session_id}' already exists.",
                    hint=f"Choose another --id, or remove it: facelens session remove {session_id}",
                )
            sid = session_id
        else:
            stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(source).stem).strip("-.") or "session"
            stem = stem[:56] if stem[0].isalnum() else "s" + stem[:55]
            sid, n = stem, 2
            while sid in taken | claimed | {RESERVED_ID}:
                sid, n = f"{stem}-{n}", n + 1
        row = ("sha:" + content, sid, socket.gethostname(), os.getpid(), time.time())
        con.execute("INSERT INTO claims (key, session_id, host, pid, started) VALUES (?, ?, ?, ?, ?)", row)
    return sid


def release(content: str) -> None:
    """Drop an ingest's claim (also done by :func:`save` in the same transaction as the insert)."""
    if _exists():
        with _db() as con, con:
            con.execute("DELETE FROM claims WHERE key = ?", ("sha:" + content,))
