"""Batch session ingest: several files in one command, one after another or as Ray tasks on a local Ray
with 2 CPUs (started once for the module; Ray tests skip with a message where Ray is not installed).

A junk file fails in the driver's probe, a truncated MKV fails inside a worker; the others still
land, a re-run skips what is stored, and Ctrl-C leaves no session and no claim behind."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from facelens.agent.cli import main
from facelens.agent.sessions import batch as session_batch
from facelens.agent.sessions import store
from facelens.eval import media as sample_media

LINES = {
    "a": ("astronaut", "Hello, thanks for calling today."),
    "b": ("hopper", "I am really angry about my order."),
    "c": ("astronaut", "Thank you, that is great news."),
}


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory) -> Path:
    """Three short recordings (about 2-3 s, one face, one spoken line), a junk file and a truncated MKV."""
    folder = tmp_path_factory.mktemp("batch")
    for name, (who, text) in LINES.items():
        audio = np.concatenate([sample_media.speak(text), np.zeros(4000, np.float32)])
        sample_media.make_video(
            folder / f"{name}.mp4",
            [sample_media.Shot(audio.size / 16000, who)],
            audio,
            size=(480, 360),
            fps=10,
            face_width=150,
        )
    (folder / "junk.mp4").write_bytes(b"not a video at all" * 50)
    whole = sample_media.make_video(
        folder / "whole.mkv",
        [sample_media.Shot(3.0, "hopper")],
        np.zeros(48000, np.float32),
        size=(320, 240),
        fps=10,
        face_width=100,
    )
    (folder / "cut.mkv").write_bytes(
        whole.read_bytes()[: whole.stat().st_size // 2]
    )  # its header is whole: it probes fine
    return folder


def _claims() -> int:
    con = store._connect()
    try:
        return con.execute("SELECT COUNT(*) FROM claims").fetchone()[0]
    finally:
        con.close()


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'facelens[ray]')")
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture(scope="module")
def ray_run(ray_local, media_dir, tmp_path_factory):
    """One CLI run on Ray for the module: a, junk, cut, b. Tests copy its database."""
    home = tmp_path_factory.mktemp("ray-home")
    old = os.environ.get("FACELENS_HOME")
    os.environ["FACELENS_HOME"] = str(home)
    try:
        import contextlib
        import io

        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rc = main(
                [
                    "session",
                    "ingest",
                    *(str(media_dir / f) for f in ("a.mp4", "junk.mp4", "cut.mkv", "b.mp4")),
                    "--ray",
                    "--json",
                ]
            )
        db = store.db_path()
    finally:
        os.environ["FACELENS_HOME"] = old or ""
    return rc, json.loads(out.getvalue()), db


def test_ray_batch_reports_failures_and_lands_the_rest(ray_run, media_dir):
    rc, out, db = ray_run
    assert rc == 1  # one or more failed
    assert [(Path(f["file"]).name, f["status"]) for f in out["files"]] == [
        ("a.mp4", "ingested"),
        ("junk.mp4", "failed"),
        ("cut.mkv", "failed"),
        ("b.mp4", "ingested"),
    ]
    junk, cut = out["files"][1], out["files"][2]
    assert "corrupt or truncated" in junk["error"] and junk["hint"]  # refused by the driver's probe
    assert (
        "holds no frames" in cut["error"] and "truncated" in cut["hint"] and cut["duration"] > 0
    )  # failed inside a worker, reported with its message
    assert (out["engine"], out["workers"], out["ingested"], out["failed"]) == ("ray", 2, 2, 2)
    assert out["recording_seconds"] > 3 and out["recording_seconds_per_second"] > 0
    shutil.copy(db, store.db_path())
    assert sorted(store.ids()) == ["a", "b"] and _claims() == 0
    a, b = store.load("a"), store.load("b")
    assert a.source == str(media_dir / "a.mp4") and "thanks" in " ".join(s.text for s in a.transcript).lower()
    assert "angry" in " ".join(s.text for s in b.transcript).lower() and len(b.people) == 1
    assert store.find_content(store.content_key(media_dir / "a.mp4")) == "a"


def test_ray_rerun_skips_stored_files_and_ships_bytes(ray_run, media_dir):
    shutil.copy(ray_run[2], store.db_path())
    seen: list[tuple[str, int, str]] = []

    class Events:
        def started(self, index, file, duration):
            seen.append(("started", index, Path(file).name))

        def progress(self, index, fraction, message):
            seen.append(("progress", index, message))

        def finished(self, index, result):
            seen.append(("finished", index, result.status))

    files = [media_dir / "a.mp4", media_dir / "b.mp4", media_dir / "c.mp4"]
    result = session_batch.ingest_many(files, ray=True, ship=True, workers=1, events=Events())
    assert [(f.status, f.session_id) for f in result.files] == [("skipped", "a"), ("skipped", "b"), ("ingested", "c")]
    assert result.workers == 1 and result.recording_seconds == pytest.approx(result.files[2].duration, abs=0.01)
    assert ("started", 2, "c.mp4") in seen and ("finished", 2, "ingested") in seen
    assert not any(e[0] == "started" and e[1] < 2 for e in seen)  # skipped files cost no worker
    assert any(e[0] == "progress" and e[1] == 2 for e in seen)  # progress came back from the worker
    c = store.load("c")
    assert c.source == str(media_dir / "c.mp4")  # not the worker's temporary copy
    assert "great" in " ".join(s.text for s in c.transcript).lower()


def test_ray_ctrl_c_leaves_no_half_session(ray_local, media_dir):
    class Interrupt:
        def started(self, index, file, duration):
            if index == 1:
                raise KeyboardInterrupt  # as if Ctrl-C arrived once both recordings were on the workers

        def progress(self, index, fraction, message):
            pass

        def finished(self, index, result):
            pass

    with pytest.raises(KeyboardInterrupt):
        session_batch.ingest_many([media_dir / "a.mp4", media_dir / "b.mp4"], ray=True, events=Interrupt())
    assert store.ids() == [] and _claims() == 0
    assert ray_local.is_initialized()  # a Ray this command did not start is left running


def test_sequential_batch(media_dir, capsys):
    files = [str(media_dir / f) for f in ("a.mp4", "junk.mp4", "b.mp4")]
    assert main(["session", "ingest", *files]) == 1
    out = capsys.readouterr()
    lines = out.out.strip().splitlines()
    assert lines[0].startswith("session a: ") and "FAILED" in lines[1] and lines[2].startswith("session b: ")
    assert lines[3].startswith("3 files: 2 ingested, 0 skipped, 1 failed") and "one after another" in lines[3]
    assert "recording-s per s" in lines[3] and "started" in out.err  # a line per file on a pipe
    assert sorted(store.ids()) == ["a", "b"] and _claims() == 0
    # run again: both skipped, nothing analysed; the one failure still fails
    assert main(["session", "ingest", *files, "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert [f["status"] for f in out["files"]] == ["skipped", "failed", "skipped"] and out["workers"] == 0
    # a single file already stored: the old one-file output, exit 0
    assert main(["session", "ingest", files[0]]) == 0
    assert "already ingested from this file" in capsys.readouterr().out
    assert main(["session", "ingest", files[0], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["session_id"] == "a"
    # the same content twice in one command is analysed once
    twin = media_dir / "a-copy.mp4"
    shutil.copy(media_dir / "c.mp4", twin)
    result = session_batch.ingest_many([media_dir / "c.mp4", twin])
    assert [f.status for f in result.files] == ["ingested", "skipped"] and result.files[1].session_id == "c"


CTRL_C = """
import signal, sys
# a terminal's Ctrl-C: a shell that starts jobs in the background (CI) leaves SIGINT ignored in children
signal.signal(signal.SIGINT, signal.default_int_handler)
from facelens.agent.cli import main
sys.exit(main(["session", "ingest", *sys.argv[1:]]))
"""


def test_ctrl_c_in_a_sequential_batch(media_dir, facelens_home):
    """A real SIGINT while the first file is being analysed: exit 130, no session, no claim."""
    files = [str(media_dir / "a.mp4"), str(media_dir / "b.mp4")]
    proc = subprocess.Popen(
        [sys.executable, "-c", CTRL_C, *files],
        env={**os.environ, "FACELENS_HOME": str(facelens_home)},
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = ""
    deadline = time.time() + 300
    # the first frame's progress line: the models are loaded and the file is being analysed (a Ctrl-C in
    # the middle of a cold process's native model loading is the libraries' business, not this test's)
    while "a.mp4:" not in line or "frames" not in line:
        line = proc.stderr.readline()
        assert line and time.time() < deadline, "the ingest ended or stalled before analysing a.mp4"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted" in err
    assert store.ids() == [] and _claims() == 0


def test_bad_requests(media_dir, monkeypatch, capsys):
    a, b = str(media_dir / "a.mp4"), str(media_dir / "b.mp4")
    assert main(["session", "ingest", a, b, "--id", "x"]) == 2
    assert "--id names one session" in capsys.readouterr().err
    assert main(["session", "ingest", a, "--workers", "2"]) == 2
    assert "needs --ray" in capsys.readouterr().err
    assert main(["session", "ingest", a, "--ray", "--workers", "0"]) == 2
    assert "at least 1" in capsys.readouterr().err
    assert main(["session", "ingest", str(media_dir / "missing.mp4"), "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["error"] == "bad_media"
    monkeypatch.setitem(sys.modules, "ray", None)
    assert main(["session", "ingest", a, b, "--ray"]) == 2
    assert "facelens[ray]" in capsys.readouterr().err
    assert store.ids() == [] and _claims() == 0


def test_unreachable_cluster_is_a_clear_error(media_dir, monkeypatch, capsys):
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'facelens[ray]')")

    def no_cluster(*args, **kwargs):
        raise ConnectionError("Could not find any running Ray instance.")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", no_cluster)
    assert main(["session", "ingest", str(media_dir / "a.mp4"), "--ray", "auto"]) == 2
    err = capsys.readouterr().err
    assert "Cannot connect to the Ray cluster at 'auto'" in err and "ray start --head" in err
    assert store.ids() == [] and _claims() == 0
