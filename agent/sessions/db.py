"""Where recorded sessions live: one SQLite file under FACELENS_HOME (the default), or a PostgreSQL
database that several machines or service replicas share (``FACELENS_SESSIONS_URL=postgresql://...``).

``session_store`` writes its SQL once, with ``?`` placeholders, against the small :class:`Connection`
interface here; each backend maps it onto its driver. Both hold the same tables (``sessions``,
``seconds``, ``claims``); only the float type differs (SQLite's REAL is 8 bytes, PostgreSQL's 4, so
PostgreSQL gets DOUBLE PRECISION). ``with con:`` is one transaction (commit, or rollback on an error);
``con.lock()`` at its start serialises it against every other writer of the same store (SQLite:
``BEGIN IMMEDIATE``; PostgreSQL: a transaction-scoped advisory lock), which the ingest claims rely on.

psycopg (v3) is imported only when a PostgreSQL URL is configured: ``pip install 'facelens[postgres]'``.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from facelens.tools import config
from facelens.tools.errors import ConfigError, GalleryError, missing_dependency

# the one advisory lock key of the session store (any 64-bit number unlikely to clash with others)
_LOCK_KEY = 0x6661_6365_6C65_6E73 & 0x7FFF_FFFF_FFFF_FFFF  # "facelens"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, source TEXT, created TEXT, duration {real},
    record TEXT NOT NULL, version INTEGER NOT NULL, content TEXT);
CREATE TABLE IF NOT EXISTS seconds (
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    track INTEGER, t {real}, label TEXT, confidence {real}, scores TEXT);
CREATE INDEX IF NOT EXISTS seconds_by_session ON seconds(session_id, track, t);
CREATE TABLE IF NOT EXISTS claims (
    key TEXT PRIMARY KEY, session_id TEXT NOT NULL, host TEXT, pid INTEGER, started {real});
"""
_CONTENT_INDEX = "CREATE INDEX IF NOT EXISTS sessions_by_content ON sessions(content)"


def url() -> str:
    """The configured store: FACELENS_SESSIONS_URL, else ``sessions_url`` in config.yaml, else ""."""
    return config.sessions_url()


def current(home: Path | None = None) -> SQLiteStore | PostgresStore:
    """The session store the configuration names (SQLite under FACELENS_HOME when none does); ``home``:
    a FACELENS_HOME of its own (an evaluation's throwaway one), whose SQLite file is the store whatever
    the configuration names, so that nothing reaches the user's sessions.

    Raises:
        ConfigError: the URL names no scheme in :data:`STORES` (``postgresql://...``, ``sqlite:///PATH``).
    """
    if home is not None:
        return SQLiteStore(Path(home) / "sessions.sqlite")
    raw = url()
    if not raw:
        return SQLiteStore(config.home() / "sessions.sqlite")
    factory = STORES.get(raw.split(":", 1)[0].lower() if ":" in raw else "")
    store = factory(raw) if factory is not None else None
    if store is None:
        raise ConfigError(
            f"FACELENS_SESSIONS_URL must name a PostgreSQL database or an SQLite file, not {_redact(raw)!r}.",
            hint="e.g. postgresql://user:password@host:5432/facelens or sqlite:///path/sessions.sqlite; unset it for the default file.",
        )
    return store


def _redact(raw: str) -> str:
    """A URL without its password, for messages."""
    head, sep, tail = raw.partition("@")
    if not sep or "://" not in head:
        return raw
    scheme, _, cred = head.partition("://")
    return f"{scheme}://{cred.split(':', 1)[0]}:***@{tail}" if ":" in cred else raw


class SQLiteConnection:
    """A sqlite3 connection behind the store's interface."""

    def __init__(self, raw: sqlite3.Connection) -> None:
        self.raw = raw

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.raw.execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.raw.executemany(sql, rows)

    def lock(self) -> None:
        if not self.raw.in_transaction:
            self.raw.execute("BEGIN IMMEDIATE")  # take the write lock now, not at the first write

    def compact(self) -> None:
        self.raw.execute("VACUUM")  # rewrite the file: no free page keeps deleted text

    def close(self) -> None:
        self.raw.close()

    def __enter__(self) -> SQLiteConnection:
        self.raw.__enter__()
        return self

    def __exit__(self, *exc: object) -> bool:
        return bool(self.raw.__exit__(*exc))


class SQLiteStore:
    """Sessions in one SQLite file (0600), ``secure_delete`` on: deleted rows are overwritten."""

    error = sqlite3.DatabaseError

    def __init__(self, path: Path) -> None:
        self.path = path

    def where(self) -> str:
        return f"the session database {self.path}"

    def exists(self) -> bool:
        return self.path.exists()

    def connect(self) -> SQLiteConnection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        raw = sqlite3.connect(self.path, timeout=10)
        try:
            if self.path.stat().st_mode & 0o077:  # transcripts and names: for this user only
                os.chmod(self.path, 0o600)
            raw.execute("PRAGMA foreign_keys = ON")
            raw.execute("PRAGMA secure_delete = ON")
            raw.executescript(_SCHEMA.format(real="REAL"))
            if "content" not in {r[1] for r in raw.execute("PRAGMA table_info(sessions)")}:
                raw.execute("ALTER TABLE sessions ADD COLUMN content TEXT")  # a file from before batch ingest
            raw.execute(_CONTENT_INDEX)
            raw.commit()
        except sqlite3.DatabaseError as exc:
            raw.close()
            raise self.damaged(exc) from exc
        return SQLiteConnection(raw)

    def damaged(self, exc: Exception) -> GalleryError:
        return GalleryError(
            f"The session database {self.path} is damaged ({exc}).",
            hint="Move it aside and ingest the sessions again (facelens doctor checks it).",
        )

    def is_damage(self, exc: Exception) -> bool:
        """Whether a driver error means a damaged file (not, e.g., a constraint or a lock timeout)."""
        return type(exc) is sqlite3.DatabaseError or "malformed" in str(exc)

    def repair_hint(self) -> str:
        """What to do when :meth:`integrity` finds a problem."""
        return f"move {self.path.name} aside and ingest again"

    def integrity(self) -> str | None:
        if not self.path.exists():
            return None
        try:
            raw = sqlite3.connect(self.path, timeout=10)
            try:
                rows = [r[0] for r in raw.execute("PRAGMA quick_check").fetchall()]
            finally:
                raw.close()
        except sqlite3.DatabaseError as exc:
            return str(exc)
        return None if rows == ["ok"] else "; ".join(rows[:3])


class PostgresConnection:
    """A psycopg connection behind the store's interface (``?`` placeholders become ``%s``)."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.raw.execute(sql.replace("?", "%s"), params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            with self.raw.cursor() as cur:
                cur.executemany(sql.replace("?", "%s"), rows)

    def lock(self) -> None:
        self.raw.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))  # released at commit/rollback

    def compact(self) -> None:
        # VACUUM FULL writes the table (and its TOAST data) into new files and drops the old ones,
        # so a cleared name is not left in a dead row; it cannot run inside a transaction
        self.raw.commit()
        self.raw.autocommit = True
        try:
            self.raw.execute("VACUUM FULL sessions")
        finally:
            self.raw.autocommit = False

    def close(self) -> None:
        self.raw.close()

    def __enter__(self) -> PostgresConnection:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> bool:
        if exc_type is None:
            self.raw.commit()
        else:
            try:
                self.raw.rollback()
            except Exception:  # the connection itself broke: nothing to roll back
                pass
        return False


_ready: set[str] = set()  # URLs whose tables this process has created or checked
_ready_lock = threading.Lock()


class PostgresStore:
    """Sessions in a PostgreSQL database, shared by every machine that sets the same URL."""

    def __init__(self, raw_url: str) -> None:
        self.url = raw_url
        self.psycopg = _psycopg()
        self.error = self.psycopg.Error

    def where(self) -> str:
        try:
            info = self.psycopg.conninfo.conninfo_to_dict(self.url)
        except self.psycopg.Error:
            return f"the PostgreSQL session store {_redact(self.url)}"
        host = str(info.get("host") or "localhost")
        port = f":{info['port']}" if info.get("port") else ""
        return f"the PostgreSQL session store {info.get('dbname') or info.get('user') or ''} on {host}{port}"

    def exists(self) -> bool:
        return True

    def _unreachable(self, exc: Exception) -> GalleryError:
        return GalleryError(
            f"Cannot use {self.where()}: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}.",
            hint="Check FACELENS_SESSIONS_URL (user, password, host, port, database) and that the server runs; "
            "unset it to keep sessions in the local SQLite file.",
        )

    def connect(self) -> PostgresConnection:
        try:
            raw = self.psycopg.connect(self.url, connect_timeout=10, application_name="facelens")
        except self.psycopg.ProgrammingError as exc:  # an unparsable URL
            raise ConfigError(
                f"FACELENS_SESSIONS_URL is not a valid PostgreSQL URL ({exc}).",
                hint="e.g. postgresql://user:password@host:5432/facelens",
            ) from exc
        except self.psycopg.Error as exc:
            raise self._unreachable(exc) from exc
        with _ready_lock:
            if self.url not in _ready:
                try:
                    self._create(raw)
                except self.psycopg.Error as exc:
                    raw.close()
                    raise self._unreachable(exc) from exc
                _ready.add(self.url)
        return PostgresConnection(raw)

    def _create(self, raw: Any) -> None:
        # several processes may start at once: the advisory lock makes CREATE ... IF NOT EXISTS safe
        raw.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        for stmt in _SCHEMA.format(real="DOUBLE PRECISION").split(";"):
            if stmt.strip():
                raw.execute(stmt)
        raw.execute("ALTER TABLE sessions ADD COLUMN IF NOT EXISTS content TEXT")
        raw.execute(_CONTENT_INDEX)
        raw.commit()

    def damaged(self, exc: Exception) -> GalleryError:
        return self._unreachable(exc)

    def is_damage(self, exc: Exception) -> bool:
        """Connection and server failures become one clear error; constraint errors stay bugs."""
        return isinstance(exc, (self.psycopg.OperationalError, self.psycopg.InterfaceError))

    def repair_hint(self) -> str:
        """What to do when :meth:`integrity` finds a problem."""
        return "check FACELENS_SESSIONS_URL and that the PostgreSQL server runs"

    def integrity(self) -> str | None:
        try:
            con = self.connect()
        except GalleryError as exc:
            return exc.message
        try:
            con.execute("SELECT count(*) FROM sessions").fetchone()
            con.execute("SELECT count(*) FROM seconds").fetchone()
        except self.psycopg.Error as exc:
            return str(exc).strip() or type(exc).__name__
        finally:
            con.close()
        return None


def _psycopg():  # type: ignore[no-untyped-def]
    try:
        import psycopg
        import psycopg.conninfo  # noqa: F401
    except ImportError as exc:
        raise missing_dependency("psycopg", "postgres", "sessions in PostgreSQL (FACELENS_SESSIONS_URL)") from exc
    return psycopg


def _sqlite_store(raw: str) -> SQLiteStore | None:
    """``sqlite:///PATH`` (three slashes, then a path); None for anything else."""
    if raw.lower().startswith("sqlite:///") and len(raw) > len("sqlite:///"):
        return SQLiteStore(Path(raw[len("sqlite://") :]).expanduser())
    return None


#: URL scheme -> the store it opens: a factory that takes the whole URL and returns the store, or None
#: when the URL is malformed for that scheme
STORES: dict[str, Callable[[str], SQLiteStore | PostgresStore | None]] = {
    "postgresql": PostgresStore,
    "postgres": PostgresStore,
    "sqlite": _sqlite_store,
}
