"""Sessions: an ingest claims the file and its id before the work; export and plot paths that cannot
be written are clear errors (exit 2), not "unexpected error"."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from facelens.agent.cli import main
from facelens.agent.sessions import ingest as sessions
from facelens.agent.sessions import store
from facelens.agent.sessions.store import SessionRecord
from facelens.eval import media
from facelens.tools.errors import InputError


def _stored(sid: str = "call") -> None:
    store.save(
        SessionRecord(
            session_id=sid, source="call.mp4", created=store.now(), duration=2, has_video=False, has_audio=True, fps=2
        ),
        [],
    )


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_export_to_a_folder_or_a_missing_folder(tmp_path, capsys, fmt):
    _stored()
    assert main(["session", "export", "call", "--format", fmt, "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "is a folder" in err and f"session.{fmt}" in err and "unexpected" not in err
    assert main(["session", "export", "call", "--format", fmt, "-o", str(tmp_path / "nope" / "x.csv")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "mkdir -p" in err
    assert main(["session", "export", "call", "--format", fmt, "-o", str(tmp_path / f"x.{fmt}")]) == 0
    assert (tmp_path / f"x.{fmt}").stat().st_size > 0


def test_plot_to_a_missing_folder(tmp_path, capsys):
    _stored()
    assert main(["session", "plot", "call", "-o", str(tmp_path / "nope" / "x.png")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_file_being_ingested_is_claimed(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"same bytes")
    key = store.content_key(tmp_path / "a.wav")
    assert store.claim(key, None, tmp_path / "a.wav") == "a"
    with pytest.raises(InputError, match="being ingested now as session 'a'"):
        store.claim(key, None, tmp_path / "copy-of-a.wav")  # the same content under another name
    other = store.content_key(__file__)
    assert store.claim(other, None, tmp_path / "a.wav") == "a-2"  # an id being claimed is taken
    with pytest.raises(InputError, match="being ingested now by another process"):
        store.claim(store.content_key(sys.executable), "a", tmp_path / "b.wav")
    store.release(key)
    assert store.claim(key, None, tmp_path / "a.wav") == "a"


def test_all_is_never_a_sessions_id(tmp_path):
    """'all' means every session (--session all): a recording called all.mp4 is stored as 'all-2', and
    --id all is refused (the deleted store.new_id reserved it; the ingest path, claim, did not)."""
    (tmp_path / "all.mp4").write_bytes(b"a recording")
    assert store.claim(store.content_key(tmp_path / "all.mp4"), None, tmp_path / "all.mp4") == "all-2"
    with pytest.raises(InputError, match="means every session"):
        store.claim(store.content_key(__file__), "all", tmp_path / "b.wav")


def test_a_killed_ingests_claim_is_taken_over(tmp_path):
    """The claim of a process that died (SIGKILL mid-ingest) does not block the file for good."""
    key = store.content_key(__file__)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    with store._connect() as con:
        con.execute(
            "INSERT INTO claims (key, session_id, host, pid, started) VALUES (?, ?, ?, ?, ?)",
            ("sha:" + key, "x", __import__("socket").gethostname(), int(dead), time.time()),
        )
    con.close()
    assert store.claim(key, None, tmp_path / "x.mp4") == "x"
    assert store.ids() == []  # a claim is not a session: nothing half-stored


def test_second_ingest_of_the_same_file_stops_before_the_work(tmp_path, monkeypatch):
    audio = media.write_audio(tmp_path / "talk.wav", np.zeros(16000 * 2, np.float32))
    started, release = threading.Event(), threading.Event()

    class SlowTranscriber:  # holds the first ingest in the middle of its work
        backend, model = "test", "slow"

        def transcribe(self, audio):
            started.set()
            release.wait(30)
            return type("T", (), {"segments": [], "text": ""})()

    first: dict = {}
    t = threading.Thread(target=lambda: first.update(rec=sessions.ingest(audio, transcriber=SlowTranscriber())))
    t.start()
    assert started.wait(60)
    t0 = time.perf_counter()
    with pytest.raises(InputError, match="being ingested now"):
        sessions.ingest(audio, transcriber=SlowTranscriber())
    assert time.perf_counter() - t0 < 5  # refused at once, not after doing it all
    release.set()
    t.join(60)
    assert first["rec"].session_id == "talk" and store.ids() == ["talk"]
    assert sessions.ingest(audio, transcriber=SlowTranscriber()).session_id == "talk-2"  # done: a new ingest is fine
    with store._connect() as con:
        assert con.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0


def test_damaged_session_database_is_reported(facelens_home, capsys):
    _stored()
    db = store.db_path()
    db.write_bytes(db.read_bytes()[:100] + b"\x00" * 4000)
    assert store.integrity() is not None
    assert main(["session", "list"]) == 2
    assert "damaged" in capsys.readouterr().err
    assert main(["doctor", "--json"]) == 1
    capsys.readouterr()


KILL_IN_SAVE = """
import os, sys
from facelens.agent.sessions import store as session_store
from facelens.agent.sessions import ingest as sessions

real = session_store._connect


class Killer:  # a connection that dies right after the session row is written, before the commit
    def __init__(self, con):
        self.con = con

    def __getattr__(self, name):
        return getattr(self.con, name)

    def __enter__(self):
        self.con.__enter__()
        return self

    def __exit__(self, *exc):
        return self.con.__exit__(*exc)

    def execute(self, sql, *args):
        out = self.con.execute(sql, *args)
        if sql.startswith("INSERT INTO sessions"):
            os.kill(os.getpid(), 9)
        return out


class Quiet:
    backend, model = "test", "none"

    def transcribe(self, audio):
        return type("T", (), {"segments": [], "text": ""})()


session_store._connect = lambda: Killer(real())
sessions.ingest(sys.argv[1], transcriber=Quiet())
"""


def test_ingest_killed_mid_commit_leaves_no_half_session(tmp_path, facelens_home):
    audio = media.write_audio(tmp_path / "talk.wav", np.zeros(16000 * 2, np.float32))
    proc = subprocess.run(
        [sys.executable, "-c", KILL_IN_SAVE, str(audio)],
        env={**os.environ, "FACELENS_HOME": str(facelens_home)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert store.ids() == [] and store.integrity() is None  # SQLite rolled the half-done commit back

    class Quiet:
        backend, model = "test", "none"

        def transcribe(self, audio):
            return type("T", (), {"segments": [], "text": ""})()

    assert sessions.ingest(audio, transcriber=Quiet()).session_id == "talk"  # the dead ingest's claim is taken over
    assert not list(facelens_home.glob("sessions.sqlite-journal"))
