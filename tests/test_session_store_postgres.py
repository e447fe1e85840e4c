"""The session store's behaviour, the same on SQLite (default) and on a real PostgreSQL server that the
tests start themselves (FACELENS_SESSIONS_URL); PostgreSQL cases skip with a message where it cannot
start (not installed, no ``postgres`` user to run it as root, psycopg missing)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from facelens.agent.cli import main
from facelens.agent.sessions import db as session_db
from facelens.agent.sessions import ingest as sessions
from facelens.agent.sessions import store
from facelens.agent.sessions.store import SecondScores, SessionRecord, TrackInfo
from facelens.eval import media as sample_media
from facelens.tools.errors import ConfigError, DependencyError, GalleryError, InputError, NotFoundError


@pytest.fixture(scope="module")
def pg_server():
    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'facelens[postgres]')")
    from tests import pg_server as pgs

    server, why = pgs.start()
    if server is None:
        pytest.skip(f"no PostgreSQL server for the tests: {why}")
    import psycopg

    with psycopg.connect(server.url(), autocommit=True) as con:
        con.execute("CREATE DATABASE facelens")
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request, monkeypatch) -> str:
    """Each test runs on both stores; the PostgreSQL one starts empty."""
    if request.param == "postgresql":
        server = request.getfixturevalue("pg_server")
        monkeypatch.setenv("FACELENS_SESSIONS_URL", server.url("facelens"))
        con = store._connect()
        with con:
            con.execute("TRUNCATE sessions, seconds, claims")
        con.close()
    else:
        monkeypatch.delenv("FACELENS_SESSIONS_URL", raising=False)
    return request.param


def _record(
    sid: str, created: str = "2026-01-01T00:00:00+00:00", people: list[TrackInfo] | None = None
) -> SessionRecord:
    return SessionRecord(
        session_id=sid,
        source=f"{sid}.mp4",
        created=created,
        duration=12.345678901,
        has_video=True,
        has_audio=True,
        fps=2,
        people=people or [TrackInfo(track=1, first_seen=0.5, last_seen=9.25, seconds=8.5, dominant_emotion="happy")],
    )


def _seconds(n: int = 3) -> list[SecondScores]:
    return [
        SecondScores(
            track=1, t=float(i), label="happy", confidence=0.123456789, scores={"happy": 0.123456789, "sad": 0.1}
        )
        for i in range(n)
    ]


def test_save_load_list_and_seconds(backend):
    assert store.ids() == [] and store.load_all() == []
    store.save(_record("b-call", "2026-01-02T00:00:00+00:00"), _seconds())
    store.save(_record("a-call", "2026-01-03T00:00:00+00:00"), [])
    store.save(_record("c-call", "2026-01-02T00:00:00+00:00"), [])
    assert store.ids() == ["b-call", "c-call", "a-call"]  # by time of ingest, then id
    assert [r.session_id for r in store.load_all()] == store.ids()
    rec = store.load("b-call")
    assert rec == _record("b-call", "2026-01-02T00:00:00+00:00") and rec.duration == 12.345678901  # no float4 rounding
    got = store.seconds("b-call")
    assert got == _seconds() and got[0].confidence == 0.123456789
    with pytest.raises(NotFoundError, match="No session called 'nope'") as err:
        store.load("nope")
    assert "a-call" in (err.value.hint or "")
    with pytest.raises(NotFoundError):
        store.seconds("nope")


def test_save_replace_and_remove(backend):
    store.save(_record("call"), _seconds(3))
    with pytest.raises(InputError, match="already exists"):
        store.save(_record("call"), [])
    store.save(_record("call").model_copy(update={"duration": 1.0}), _seconds(1), replace=True)
    assert store.load("call").duration == 1.0 and len(store.seconds("call")) == 1
    store.remove("call")
    assert store.ids() == []
    con = store._connect()
    assert con.execute("SELECT COUNT(*) FROM seconds").fetchone()[0] == 0  # the seconds went with it
    con.close()
    with pytest.raises(NotFoundError):
        store.remove("call")
    with pytest.raises(InputError, match="Invalid session id"):
        store.save(_record("bad id!"), [])


def test_name_track_and_forget_name(backend):
    people = [
        TrackInfo(track=1, first_seen=0, last_seen=1, seconds=1),
        TrackInfo(track=2, first_seen=0, last_seen=1, seconds=1),
    ]
    store.save(_record("one", people=people), [])
    store.save(_record("two", people=people), [])
    assert store.name_track("one", 1, "Alice Smith").people[0].name == "Alice Smith"
    store.name_track("two", 2, "alice  smith")
    with pytest.raises(InputError, match="already called"):
        store.name_track("one", 2, "ALICE SMITH")
    with pytest.raises(NotFoundError, match="no face track 9"):
        store.name_track("one", 9, "x")
    assert store.name_track("one", 1, None).people[0].name is None
    store.name_track("one", 1, "Alice Smith")
    assert sorted(store.forget_name("Alice Smith")) == [("one", 1), ("two", 2)]
    assert all(p.name is None for r in store.load_all() for p in r.people)
    assert store.forget_name("Alice Smith") == []


def test_claims(backend, tmp_path):
    (tmp_path / "a.wav").write_bytes(b"same bytes")
    key = store.content_key(tmp_path / "a.wav")
    assert store.claim(key, None, tmp_path / "a.wav") == "a"
    with pytest.raises(InputError, match="being ingested now as session 'a'"):
        store.claim(key, None, tmp_path / "copy-of-a.wav")
    other = store.content_key(__file__)
    assert store.claim(other, None, tmp_path / "a.wav") == "a-2"
    with pytest.raises(InputError, match="being ingested now by another process"):
        store.claim(store.content_key(sys.executable), "a", tmp_path / "b.wav")
    store.release(key)
    assert store.claim(key, None, tmp_path / "a.wav") == "a"
    # a stored session keeps its content key: a batch re-run skips the file, a plain claim does not
    store.save(_record("a"), [], claim_key=key)
    assert store.find_content(key) == "a" and store.find_content(other) is None
    with pytest.raises(store.AlreadyStored) as err:
        store.claim(key, None, tmp_path / "a.wav", unless_stored=True)
    assert err.value.session_id == "a"
    assert store.claim(key, None, tmp_path / "a.wav") == "a-3"  # a-2 is still claimed


def test_dead_claims_are_taken_over(backend, tmp_path):
    key = store.content_key(__file__)
    dead = int(
        subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout
    )
    con = store._connect()
    with con:
        con.execute(
            "INSERT INTO claims (key, session_id, host, pid, started) VALUES (?, ?, ?, ?, ?)",
            ("sha:" + key, "x", __import__("socket").gethostname(), dead, time.time()),
        )
        con.execute(
            "INSERT INTO claims (key, session_id, host, pid, started) VALUES (?, ?, ?, ?, ?)",
            ("sha:other-machine", "y", "another-host", dead, time.time()),
        )
    con.close()
    assert store.claim(key, None, tmp_path / "x.mp4") == "x"
    assert store.claim("z" * 64, None, tmp_path / "y.mp4") == "y-2"  # another machine's claim is respected


def test_concurrent_claims_of_one_file_one_wins(backend, tmp_path):
    won, refused, errors = [], [], []

    def go(i: int) -> None:
        try:
            won.append(store.claim("c" * 64, None, tmp_path / "call.mp4"))
        except InputError:
            refused.append(i)
        except Exception as exc:  # a lock error would show up here
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and won == ["call"] and len(refused) == 5


def test_integrity_and_cli_on_the_store(backend, capsys):
    assert store.integrity() is None
    store.save(_record("call-1"), _seconds())
    assert main(["session", "list", "--json"]) == 0
    assert '"call-1"' in capsys.readouterr().out
    assert main(["session", "export", "call-1", "--format", "csv"]) == 0
    assert capsys.readouterr().out.strip()
    assert main(["session", "remove", "call-1"]) == 0
    assert store.ids() == []


def test_an_ingest_lands_in_the_configured_store(backend, tmp_path, facelens_home):
    audio = sample_media.write_audio(tmp_path / "talk.wav", np.zeros(16000 * 2, np.float32))

    class Quiet:
        backend, model = "test", "none"

        def transcribe(self, audio):
            return type("T", (), {"segments": [], "text": ""})()

    rec = sessions.ingest(audio, transcriber=Quiet())
    assert store.ids() == [rec.session_id] and store.find_content(store.content_key(audio)) == rec.session_id
    assert store.db_path().exists() == (backend == "sqlite")  # nothing written to the local file with PostgreSQL


def test_ingest_killed_mid_commit_leaves_no_half_session(backend, tmp_path, facelens_home):
    from tests.test_session_safety import KILL_IN_SAVE

    audio = sample_media.write_audio(tmp_path / "talk.wav", np.zeros(16000 * 2, np.float32))
    proc = subprocess.run(
        [sys.executable, "-c", KILL_IN_SAVE, str(audio)],
        env={**os.environ, "FACELENS_HOME": str(facelens_home)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert store.ids() == [] and store.integrity() is None


def test_unreachable_server_is_a_clear_error(monkeypatch, capsys):
    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'facelens[postgres]')")
    from tests.pg_server import _free_port

    monkeypatch.setenv("FACELENS_SESSIONS_URL", f"postgresql://someone:s3cret@127.0.0.1:{_free_port()}/facelens")
    with pytest.raises(GalleryError, match="Cannot use the PostgreSQL session store facelens on 127.0.0.1"):
        store.ids()
    assert main(["session", "list"]) == 2
    err = capsys.readouterr().err
    assert "FACELENS_SESSIONS_URL" in err and "s3cret" not in err and "Traceback" not in err
    assert "Cannot use" in store.integrity()
    assert main(["doctor", "--json"]) == 1
    assert "s3cret" not in capsys.readouterr().out


@pytest.mark.parametrize("url", ["mysql://db/x", "sqlite://relative.db", "nonsense"])
def test_unknown_store_urls_are_refused(monkeypatch, capsys, url):
    monkeypatch.setenv("FACELENS_SESSIONS_URL", url)
    with pytest.raises(ConfigError, match="must name a PostgreSQL database or an SQLite file"):
        store.ids()
    assert main(["session", "list"]) == 2
    assert "postgresql://" in capsys.readouterr().err


def test_a_store_is_chosen_by_its_scheme_in_the_registry(monkeypatch, tmp_path):
    """db.STORES maps a URL scheme to its store: a new scheme is one entry, and a store says its own repair hint."""
    assert {"postgresql", "postgres", "sqlite"} <= set(session_db.STORES)
    seen = []
    monkeypatch.setitem(
        session_db.STORES, "teststore", lambda raw: seen.append(raw) or session_db.SQLiteStore(tmp_path / "t.sqlite")
    )
    monkeypatch.setenv("FACELENS_SESSIONS_URL", "TestStore://anything")
    store.save(_record("call"), [])
    assert seen and seen[0] == "TestStore://anything" and (tmp_path / "t.sqlite").exists()
    assert store.repair_hint() == "move t.sqlite aside and ingest again"


def test_sqlite_url_and_password_redaction(monkeypatch, tmp_path):
    monkeypatch.setenv("FACELENS_SESSIONS_URL", f"sqlite:///{tmp_path}/team.sqlite")
    store.save(_record("call"), [])
    assert (tmp_path / "team.sqlite").exists() and not store.db_path().exists()
    assert session_db._redact("postgresql://bob:pw@h:5432/db") == "postgresql://bob:***@h:5432/db"


def test_psycopg_missing_names_the_extra(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "psycopg", None)
    monkeypatch.setenv("FACELENS_SESSIONS_URL", "postgresql://h/db")
    with pytest.raises(DependencyError, match="psycopg"):
        store.ids()
    assert main(["session", "list"]) == 2
    assert "facelens[postgres]" in capsys.readouterr().err
